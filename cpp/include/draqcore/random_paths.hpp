// The paper's biased random monotone paths (Sec. 3, "DRAQ"): sampled costs and their exact mean.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace draqcore {

/// The random-path process, with 1-based positions (i, j): start at (n, m); draw di = -1 with
/// probability i / (i + j) and, independently, dj = -1 with probability j / (i + j); on row 1
/// di is 0 and on column 1 dj is 0; a (0, 0) draw is drawn again; move; stop at (1, 1).
/// Conditioned on not being (0, 0), a step from an interior cell (i > 1, j > 1) is
///   up (i-1, j) with probability i^2 / (i^2 + i j + j^2),
///   diagonal     with probability i j / (i^2 + i j + j^2),
///   left (i, j-1) with probability j^2 / (i^2 + i j + j^2);
/// on row 1 it is always left, on column 1 always up.

/// @brief Exact expectation of the random path's cost: sum over cells of P(visit) * C(i, j).
///
/// Computed as the expected cost-to-go G from (1, 1) outwards (see forward_sweep()):
///   G(a, b) = C(a, b) + (a^2 G(a-1, b) + a b G(a-1, b-1) + b^2 G(a, b-1)) / (a^2 + a b + b^2)
/// with the forced moves on row and column 1, and E = G(n, m). Equivalent to summing the visit
/// probabilities V(i, j) of the process times C(i, j); no sampling.
/// Deterministic, O(n m) time, O(m) memory, accumulated in double.
double expected_random_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                            std::ptrdiff_t ldc);

/// @brief Costs of k sampled random paths, each the sum of `cost` over every visited cell
/// (both ends included), into out[0..k).
///
/// Path p uses its own counter-based stream: uniform number s of path p is
/// splitmix64(key(seed, stream, p) + s * golden) with one uniform per step, so results do not
/// depend on the number of threads or the order in which paths run. `stream` separates the
/// candidates of a batch (draq_batch uses the candidate index).
/// Time O(k (n + m)), no allocation.
void random_path_costs(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                       std::ptrdiff_t k, std::uint64_t seed, std::uint64_t stream, double* out,
                       int threads);

/// @brief Mean of random_path_costs() for k paths, summed in path order (single thread), as
/// draq_batch computes it. Allocates k doubles.
double mean_random_path_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                             std::ptrdiff_t ldc, std::ptrdiff_t k, std::uint64_t seed,
                             std::uint64_t stream);

/// @brief One sampled random path cost (path index `path` of stream (seed, stream)).
double random_path_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                        std::uint64_t seed, std::uint64_t stream, std::uint64_t path);

/// @brief The cells of one sampled random path (the same path random_path_cost() sums), as
/// 2 * L int64 values (i0, j0, i1, j1, ...), 0-based, from (0, 0) to (n-1, m-1).
void random_path_cells(std::ptrdiff_t n, std::ptrdiff_t m, std::uint64_t seed,
                       std::uint64_t stream, std::uint64_t path, std::vector<std::int64_t>& cells);

namespace detail {
constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += kGolden;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
}  // namespace detail

/// @brief One random path of the process, walked resumably so that the cost matrix can arrive
/// in blocks of rows from the last row to the first (draq_batch streams large problems so).
///
/// The single definition of the sampler: every cost, mean and cell list above uses it. Step s
/// of path p draws 64 bits splitmix64(key + s * golden), key = hash(seed, stream, p), and maps
/// them to x uniform in [0, t), t = i^2 + i j + j^2 (exact integers, 128-bit product): up if
/// x < i^2, diagonal if x < i^2 + i j, left otherwise. Integer arithmetic and no branches keep
/// the step's dependency chain short; the three outcomes are equally unpredictable for a
/// branch predictor.
struct RandomPathWalker {
  std::ptrdiff_t i, j;  ///< current cell, 1-based
  std::uint64_t key;
  std::uint64_t step = 0;
  bool pending = true;  ///< the current cell has not been visited yet
  bool done = false;

  RandomPathWalker(std::ptrdiff_t n, std::ptrdiff_t m, std::uint64_t seed, std::uint64_t stream,
                   std::uint64_t path)
      : i(n), j(m),
        key(detail::splitmix64(detail::splitmix64(detail::splitmix64(seed) ^ stream) ^ path)) {}

  /// Visits cells (visit(i, j), 1-based, both ends included) while they lie in rows
  /// >= first_row; returns when the path leaves those rows or ends at (1, 1).
  template <class Visit>
  void advance(std::ptrdiff_t first_row, Visit&& visit) {
    while (!done) {
      if (pending) {
        if (i < first_row) return;
        visit(i, j);
        pending = false;
      }
      if (i > 1 && j > 1) {
        const std::uint64_t a = std::uint64_t(i), b = std::uint64_t(j);
        const std::uint64_t aa = a * a, ab = a * b;
        const std::uint64_t t = aa + ab + b * b;
        const std::uint64_t r = detail::splitmix64(key + step++ * detail::kGolden);
        const std::uint64_t x = std::uint64_t((unsigned __int128)r * (unsigned __int128)t >> 64);
        i -= std::ptrdiff_t(x < aa + ab);
        j -= std::ptrdiff_t(x >= aa);
      } else if (j > 1) {
        --j;  // row 1 always moves left
      } else if (i > 1) {
        --i;  // column 1 always moves up
      } else {
        done = true;
        return;
      }
      pending = true;
    }
  }
};

}  // namespace draqcore
