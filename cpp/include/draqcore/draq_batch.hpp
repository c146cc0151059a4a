// DRAQ (paper Eq. 6) for one query against many candidates, all pairs in parallel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "draqcore/cost_matrix.hpp"
#include "draqcore/forward_sweep.hpp"

namespace draqcore {

/// @brief DRAQ = D(n, m) / random cost (Eq. 6).
///
/// When the random cost is 0 the matrix is all zeros along every path with positive probability;
/// the ratio is then defined as 1.0 if D is 0 too ("no better than random") and NaN otherwise.
double draq_ratio(double dtw_cost, double random_cost);

/// Result of draq_pair(): one entry of a batch.
struct DraqPairResult {
  double dtw_cost = 0.0, random_cost = 0.0, draq = 0.0;
  std::ptrdiff_t start_col = 0, end_col = 0;  ///< span (j0, j1) of the optimal path
};

/// @brief DTW cost, random cost and DRAQ of one cost matrix held in memory: the code every
/// entry point (draq, expected_random_cost, draq_batch) runs for one pair.
///
/// Ordinary mode: D(n, m) (Sakoe-Chiba `radius` < 0 for none) and the random cost of the whole
/// matrix, in one sweep. Subsequence mode (radius must be < 0): D = min_j D(n-1, j) with a free
/// start in row 0 (see dtw()) spanning columns [j0, j1], then the random cost of the (n, j1-j0+1)
/// matrix of those columns — exactly what the ordinary mode computes for cost + j0 with width
/// j1-j0+1 (the random paths run through the region the optimal path aligns).
/// Random cost: expected_random_cost() when `exact`, else the mean of k sampled paths of stream
/// (seed, stream), summed in path order as mean_random_path_cost().
/// `path`, when not null, receives the optimal path; `poll` (may be empty) is called every 256
/// sampled paths and may throw to abandon the pair. Memory as forward_sweep(), from `ws`.
/// `threads` > 1: unbanded sweeps run on that many threads (diagonal_sweep_parallel()) and the
/// sampled paths in parallel (random_path_costs(), k more doubles) — the same bits as 1.
/// `fill`, when not null, computes the cost matrix into `cost` (see TileFill): on several
/// threads tile by tile inside the first sweep, overlapped with it; otherwise whole, first.
DraqPairResult draq_pair(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                         bool subsequence, bool exact, std::ptrdiff_t k, std::uint64_t seed,
                         std::uint64_t stream, std::ptrdiff_t radius,
                         std::vector<std::int64_t>* path, SweepWorkspace& ws,
                         const std::function<void()>& poll = {}, int threads = 1,
                         const TileFill* fill = nullptr);

struct DraqBatchOptions {
  Metric metric = Metric::cosine;
  bool exact = true;            ///< expected_random_cost() if true, mean of k sampled paths if false
  std::ptrdiff_t k = 100;       ///< sampled paths per pair (exact == false)
  std::uint64_t seed = 0;
  std::ptrdiff_t radius = -1;   ///< Sakoe-Chiba radius for the DTW, < 0 for none
  bool return_paths = false;
  /// Subsequence DRAQ per pair (draq_pair()); needs radius < 0.
  bool subsequence = false;
  /// Contextualize (Eq. 2-3, contextualize()) the query and every candidate inside the kernel
  /// first: each thread writes a candidate's (m, 2d) features into a buffer of its own, used
  /// while they are in cache, instead of the caller materialising every candidate's copy. The
  /// same bits as passing contextualize()d arrays.
  bool contextualize = false;
  int threads = 0;              ///< <= 0: all cores
  /// Polled by the calling thread between pairs (at most every ~50 ms); returning true stops
  /// the batch, which then throws batch_cancelled. May be empty.
  std::function<bool()> should_stop;
};

struct DraqBatchResult {
  std::vector<double> dtw_cost, random_cost, draq;
  std::vector<std::int64_t> spans;  ///< 2 per candidate: (j0, j1) of the optimal path
  std::vector<std::vector<std::int64_t>> paths;  ///< 2 * L int64 per candidate when requested
};

/// Thrown by draq_batch when options.should_stop() returned true.
class batch_cancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "draq_batch cancelled"; }
};

/// @brief DTW cost, random cost and DRAQ of `query` against every candidate.
///
/// @param query    (n, d) row-major float32.
/// @param candidates  count pointers; candidate c is (offsets[c+1] - offsets[c], d) row-major
///                    float32 (separate arrays, or views into one packed array).
/// @param offsets     count + 1 increasing row offsets (offsets[0] = 0): candidate lengths as
///                    prefix sums; every candidate must have at least one row.
/// Finiteness of every row is checked before any pair runs (std::invalid_argument naming
/// "query" or "candidates[c]"). Pairs run under OpenMP with a dynamic schedule (their sizes
/// differ); each pair is computed on one thread by the same code whatever the thread count, and
/// sampled paths of candidate c use stream c, so results are bit-identical for any `threads`.
/// Memory: a pair's cost matrix is computed whole when it takes at most 32 MiB; larger pairs
/// stream it in blocks of rows through ForwardSweep (and, for sampled paths, a second pass in
/// reverse), so they need one block of rows plus the DTW traceback — 1 byte per cell inside
/// the band: O(n * band) with a band. A streamed subsequence pair computes its cost blocks
/// twice: once over all columns for the DTW, once over the spanned columns for the random cost.
/// Results are identical either way. Checked against memory_limit() before anything is
/// allocated.
void draq_batch(const float* query, std::ptrdiff_t n, std::ptrdiff_t d,
                const float* const* candidates,
                const std::int64_t* offsets, std::ptrdiff_t count, const DraqBatchOptions& options,
                DraqBatchResult& result);

}  // namespace draqcore
