// Dynamic time warping with traceback (paper Eq. 5) and the Sakoe-Chiba band.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace draqcore {

/// @brief Column range [lo[i], hi[i]] (inclusive, 0-based) of every row i inside the band.
///
/// Definition, with N = n - 1, M = m - 1 and radius r >= 0: cell (i, j) is inside when
///   |2 (j N - i M)| <= max(2 r min(N, M), max(N, M)).
/// For n <= m this reads |j - i s| <= max(r, s / 2) with slope s = M / N: the radius is measured
/// in frames of the longer sequence around the straight line from (0, 0) to (n-1, m-1), and is
/// widened to s / 2 where a narrower band would not contain a single monotone path.
/// r < 0, n == 1 or m == 1 mean unconstrained (every cell).
/// The ranges are non-decreasing, contain (0, 0) and (n-1, m-1), and lo[i+1] <= hi[i] + 1,
/// so a path with steps (1,0), (0,1), (1,1) always exists inside the band.
void band_limits(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius, std::ptrdiff_t* lo,
                 std::ptrdiff_t* hi);

/// @brief Number of cells inside the band (n * m when unconstrained).
std::ptrdiff_t band_cell_count(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius);

/// @brief Throws std::invalid_argument naming `name` when `cost` holds a NaN or Inf.
void check_finite(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                  const char* name);

/// @brief Optimal DTW cost and (optionally) path through `cost` (n, m), row stride `ldc`.
///
/// D(i, j) = C(i, j) + min(D(i-1, j-1), D(i-1, j), D(i, j-1))   (Eq. 5), accumulated in double.
/// Returns D(n-1, m-1): the sum of `cost` along the optimal path, both ends included.
/// When `path` is not null it receives the path as 2 * L int64 values (i0, j0, i1, j1, ...)
/// from (0, 0) to (n-1, m-1). On exact ties the traceback prefers the diagonal, then (i-1, j),
/// then (i, j-1). `radius` < 0 means no band (see band_limits()).
///
/// Subsequence DTW (subsequence == true, no band: radius must be < 0): all of the rows are
/// matched to a contiguous run of columns [j0, j1]:
///   D(0, j) = C(0, j) + min(0, D(0, j-1))   (free start; = C(0, j) for non-negative costs),
///   D(i, j) as above for i >= 1, and the result is min_j D(n-1, j) (smallest j1 on ties),
/// the minimum over every monotone path from any (0, j0) to any (n-1, j1) of its summed cost.
/// The path then runs from (0, j0) to (n-1, j1).
/// `span`, when not null, receives (j0, j1): (0, m-1) in the ordinary mode.
///
/// Time O(cells). Memory: a few rows of m doubles, 1 byte per band cell for the traceback (only
/// when a path is requested) and 24 bytes per row; checked against memory_limit() first.
/// Implemented by forward_sweep().
/// `cost` is only read.
double dtw(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
           std::ptrdiff_t radius, std::vector<std::int64_t>* path, bool subsequence = false,
           std::ptrdiff_t* span = nullptr);

/// @brief Bytes of working memory dtw() allocates for this problem.
double dtw_working_bytes(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius,
                         bool with_path);

}  // namespace draqcore
