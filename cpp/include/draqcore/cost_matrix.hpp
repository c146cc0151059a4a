// Frame-to-frame cost matrices (paper Eq. 4 for the cosine metric).
#pragma once

#include <cstddef>
#include <string>

namespace draqcore {

enum class Metric { cosine, sqeuclidean, euclidean };

/// @brief Parses "cosine", "sqeuclidean" or "euclidean"; throws std::invalid_argument otherwise.
Metric parse_metric(const std::string& name);

/// @brief Per-row quantities a metric needs, computed once per sequence.
///
/// For cosine: `row_scale[r]` = 1 / ||x_r|| (0 for an all-zero row, so a zero row costs exactly
/// 1.0 against everything). For (sq)euclidean: `row_scale[r]` = ||x_r||^2.
/// Norms are accumulated in double, so a row's norm is finite exactly when all of its entries are:
/// this doubles as the NaN/Inf check and throws std::invalid_argument naming `name` and the row.
///
/// @param x     (rows, d) row-major float32.
/// @param out   rows floats.
/// Complexity O(rows * d), no allocation.
void row_scales(const float* x, std::ptrdiff_t rows, std::ptrdiff_t d, Metric metric, float* out,
                const char* name);

/// @brief Cost block between rows of `a` and rows of `b` on one thread.
///
/// out[i * ldo + j] = cost(a_i, b_j) for i < n, j < m, with
///   cosine:      1 - (a_i . b_j) * sa_i * sb_j, clamped to [0, 2]
///   sqeuclidean: max(0, sa_i + sb_j - 2 a_i . b_j)
///   euclidean:   sqrt of sqeuclidean.
/// `sa`, `sb` come from row_scales(). Every entry is computed by the same arithmetic whatever
/// n, m and the tiling, so results do not depend on how a matrix is split across threads.
/// Complexity O(n m d); no allocation.
void cost_block(const float* a, const float* sa, std::ptrdiff_t n, const float* b, const float* sb,
                std::ptrdiff_t m, std::ptrdiff_t d, Metric metric, float* out, std::ptrdiff_t ldo);

/// @brief Full cost matrix C (n, m) between a (n, d) and b (m, d), row-major float32.
///
/// Validates finiteness of a and b (std::invalid_argument naming "a" or "b"), then fills
/// `out` (n * m floats, preallocated by the caller) in parallel over row blocks.
/// Working memory: O(n + m) floats beyond `out`.
void cost_matrix(const float* a, std::ptrdiff_t n, const float* b, std::ptrdiff_t m,
                 std::ptrdiff_t d, Metric metric, float* out, int threads);

}  // namespace draqcore
