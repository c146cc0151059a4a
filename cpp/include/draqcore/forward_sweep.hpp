// One forward pass over a cost matrix that computes the DTW recurrence (Eq. 5) and the exact
// expected cost of the paper's biased random path together: both read row i of the cost matrix
// once, while it is in cache, and their serial dependency chains overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "draqcore/buffer.hpp"

namespace draqcore {

/// Buffers reused across sweeps (draq_batch keeps one per thread), so that a batch allocates
/// only when a pair is larger than every pair before it on that thread.
struct SweepWorkspace {
  std::vector<double> d_rows, g_rows, best_prev, g_partial, p_left;
  std::vector<float> diag_cost;
  std::vector<std::ptrdiff_t> lo, hi, tb_offset;
  GrowBuffer<unsigned char> tb;  ///< traceback, 1 byte per cell: written before read, never filled
  std::vector<std::int64_t> s_rows, best_start;  ///< subsequence mode: start column of each cell
  std::vector<unsigned char> dir_scratch;  ///< directions of a sweep that keeps no path
  std::vector<double> edge_d, edge_g;      ///< tiled sweeps: the tiles' last rows and columns
  std::vector<std::int64_t> edge_s;
};

/// Fills rows [i0, i0 + rows) x columns [j0, j0 + cols) of the cost matrix a sweep reads: a
/// tiled sweep computes the cost matrix tile by tile, overlapped with sweeping it.
using TileFill = std::function<void(std::ptrdiff_t i0, std::ptrdiff_t rows, std::ptrdiff_t j0,
                                    std::ptrdiff_t cols)>;

struct SweepResult {
  double dtw_cost = 0.0;        ///< D(n, m) (subsequence: min_j D(n-1, j)), when requested
  double expected_random = 0.0;  ///< E[random path cost], when requested
  /// Columns (j0, j1) where the optimal path starts (row 0) and ends (row n-1): (0, m-1)
  /// unless the sweep ran in subsequence mode.
  std::ptrdiff_t start_col = 0, end_col = 0;
};

/// @brief The sweep of forward_sweep() fed one row of the cost matrix at a time, so a caller
/// can compute the cost matrix in blocks of rows and never hold all of it.
class ForwardSweep {
 public:
  /// subsequence: see forward_sweep(); it needs radius < 0 and want_expected == false.
  ForwardSweep(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius, bool want_dtw,
               bool with_path, bool want_expected, SweepWorkspace& ws, bool subsequence = false);
  /// Row rows_done() of the cost matrix: m floats.
  void push_row(const float* row);
  std::ptrdiff_t rows_done() const { return i_; }
  /// After all n rows: the results, and the path when one was requested.
  SweepResult finish(std::vector<std::int64_t>* path);

 private:
  std::ptrdiff_t n_, m_, i_ = 0;
  std::size_t row_ = 0;
  bool want_dtw_, with_path_, want_expected_, full_rows_ = true, subsequence_ = false;
  SweepWorkspace& ws_;
};

/// @brief DTW cost (and path) and/or the expected random-path cost in one pass.
///
/// DTW: D(i, j) = C(i, j) + min(D(i-1, j-1), D(i-1, j), D(i, j-1)) inside the band of
/// band_limits(n, m, radius), ties resolved diagonal, then up, then left (see dtw()).
/// Expected random cost, with 1-based (a, b) and t = a^2 + a b + b^2: the expected cost-to-go
///   G(1, b) = C(1, b) + G(1, b-1),  G(a, 1) = C(a, 1) + G(a-1, 1),
///   G(a, b) = C(a, b) + (a^2 G(a-1, b) + a b G(a-1, b-1) + b^2 G(a, b-1)) / t,
/// and E = G(n, m): the expectation of the path's cost by linearity over its first step.
/// Each row is done in two parts: a vectorisable pass over the previous row, then the serial
/// chain along the row.
///
/// Subsequence mode (subsequence == true; DTW only, no band, no expected cost): the path may
/// start in any column of row 0, D(0, j) = C(0, j) + min(0, D(0, j-1)) (for non-negative costs
/// simply C(0, j): a free start; a start ties with continuing along row 0 and wins), other rows
/// as above; the answer is min_j D(n-1, j), the smallest such j on ties (end_col), and the
/// start column of that path (start_col) is carried along the recurrence (8 bytes per cell of
/// two rows), so it is known without a traceback. Throws std::invalid_argument with a band.
///
/// Time O(n m); memory: four rows of doubles plus, with a path, 1 byte per band cell.
SweepResult forward_sweep(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                          std::ptrdiff_t ldc, std::ptrdiff_t radius, bool want_dtw,
                          std::vector<std::int64_t>* path, bool want_expected,
                          SweepWorkspace& ws, bool subsequence = false);

/// @brief The same sweep over a whole, unbanded matrix, by anti-diagonals: the cells of one
/// anti-diagonal i + j = k do not depend on each other, so each diagonal is one vectorised
/// loop (AVX-512/AVX2 where available) instead of a serial chain along a row. Every cell is
/// computed by exactly the expressions of the row kernel, so the results are bit-identical.
/// forward_sweep() uses it whenever there is no band. Memory: six diagonals of doubles plus,
/// with a path, 1 byte per cell.
SweepResult diagonal_sweep(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                           std::ptrdiff_t ldc, bool want_dtw, std::vector<std::int64_t>* path,
                           bool want_expected, SweepWorkspace& ws, bool subsequence = false);

/// @brief diagonal_sweep() on up to `threads` threads (<= 0: all cores; capped as
/// resolve_threads()), in either mode. On a matrix of at least 2^20 cells and more than one
/// thread it is a tiled wavefront: the matrix is cut into tiles of up to 256 x 256 cells, and
/// the threads pull tasks -- "sweep tile (I, J)" once tiles (I-1, J) and (I, J-1) are swept
/// and its costs are there, else "fill the costs of the next tile" -- with atomics, no locks
/// and no barriers. With `fill`, the costs are computed by these tasks (fill(i0, rows, j0,
/// cols), rows starting at multiples of `row_multiple`, in the order the wavefront consumes
/// them), so the cost matrix and the sweep overlap; without, `cost` is read as it is. With one
/// thread, `fill` is called once for the whole matrix first. Each cell is computed by the same
/// expressions from the same inputs as in the serial sweep, so results are bit-identical for
/// any thread count. Polls for Ctrl-C (poll_interrupt()) on the calling thread.
/// Memory beyond diagonal_sweep(): three diagonals per thread and tiled_sweep_bytes().
SweepResult diagonal_sweep_parallel(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                                    std::ptrdiff_t ldc, bool want_dtw,
                                    std::vector<std::int64_t>* path, bool want_expected,
                                    SweepWorkspace& ws, int threads, bool subsequence = false,
                                    const TileFill* fill = nullptr, std::ptrdiff_t row_multiple = 1);

/// @brief Whether diagonal_sweep_parallel() with a `fill` runs tiled (on several threads) for
/// this problem (at least 2^20 cells; a sweep without `fill` runs tiled from 2^18 cells).
bool tiled_sweep_applies(std::ptrdiff_t n, std::ptrdiff_t m, int threads);

/// @brief Bytes a tiled sweep needs beyond forward_sweep_bytes(): the tiles' last rows and
/// columns, and three diagonals per thread.
double tiled_sweep_bytes(std::ptrdiff_t n, std::ptrdiff_t m, int threads);

/// @brief Bytes forward_sweep() needs in its workspace for this problem (either mode).
double forward_sweep_bytes(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius,
                           bool with_path);

/// @brief Throws std::invalid_argument when a subsequence sweep is asked for with a band.
void check_subsequence_band(bool subsequence, std::ptrdiff_t radius);

}  // namespace draqcore
