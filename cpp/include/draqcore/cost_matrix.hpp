// Frame-to-frame cost matrices (paper Eq. 4 for the cosine metric).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace draqcore {

enum class Metric { cosine, sqeuclidean, euclidean };

/// Rows with a larger norm are refused: their float32 dot products could overflow.
constexpr double kMaxRowNorm = 1e18;
/// For the cosine metric, rows with a smaller norm count as all-zero rows (cost 1.0 against
/// everything): their direction is lost to float32 underflow.
constexpr double kMinRowNorm = 1e-15;

/// @brief Parses "cosine", "sqeuclidean" or "euclidean"; throws std::invalid_argument otherwise.
Metric parse_metric(const std::string& name);

/// @brief Per-row quantities a metric needs, computed once per sequence.
///
/// For cosine: `row_scale[r]` = 1 / ||x_r|| (0 for a row with norm below kMinRowNorm, so such a
/// row costs exactly 1.0 against everything). For (sq)euclidean: `row_scale[r]` = ||x_r||^2.
/// A row with norm above kMaxRowNorm throws std::invalid_argument.
/// Norms are accumulated in double, so a row's norm is finite exactly when all of its entries are:
/// this doubles as the NaN/Inf check and throws std::invalid_argument naming `name` and the row.
///
/// @param x     (rows, d) row-major float32.
/// @param out   rows floats.
/// Complexity O(rows * d), no allocation.
void row_scales(const float* x, std::ptrdiff_t rows, std::ptrdiff_t d, Metric metric, float* out,
                const char* name);

/// @brief Rows per packed panel of the active kernel (32, 16 or 8): packed rows can be entered
/// at any multiple of it.
std::ptrdiff_t cost_panel_rows();

/// @brief Floats needed by pack_rows() for n rows of d features (rows padded to the panel
/// width of the active kernel).
std::ptrdiff_t packed_rows_floats(std::ptrdiff_t n, std::ptrdiff_t d);

/// @brief Packs rows of `a` ((n, d) row-major) into the transposed panels the cost kernel
/// reads: panel p holds rows [pW, pW + W) as d runs of W floats (zero padded).
/// Pack once, use for any number of cost_block_packed() calls. O(n d), no allocation.
void pack_rows(const float* a, std::ptrdiff_t n, std::ptrdiff_t d, float* packed);

/// @brief Cost block between packed rows of `a` and rows of `b` on one thread.
///
/// out[i * ldo + j] = cost(a_i, b_j) for i < n, j < m, with
///   cosine:      1 - (a_i . b_j) * sa_i * sb_j, clamped to [0, 2]
///   sqeuclidean: max(0, sa_i + sb_j - 2 a_i . b_j)
///   euclidean:   sqrt of sqeuclidean.
/// `sa`, `sb` come from row_scales(). Each dot product is the sequential sum over k (fused
/// multiply-adds on AVX2/AVX-512), so an entry does not depend on n, m, tiling or threads.
/// Complexity O(n m d); no allocation.
void cost_block_packed(const float* packed_a, const float* sa, std::ptrdiff_t n, const float* b,
                       const float* sb, std::ptrdiff_t m, std::ptrdiff_t d, Metric metric,
                       float* out, std::ptrdiff_t ldo);

/// @brief cost_block_packed() on up to `threads` threads (<= 0: all cores), over tiles of
/// 8 panels of `a` times ~96 KiB of `b`; the same entries as on one thread. Polls for Ctrl-C
/// (poll_interrupt()) on the calling thread and throws interrupted after the region.
void cost_block_parallel(const float* packed_a, const float* sa, std::ptrdiff_t n, const float* b,
                         const float* sb, std::ptrdiff_t m, std::ptrdiff_t d, Metric metric,
                         float* out, std::ptrdiff_t ldo, int threads);

/// @brief Name of the cost kernel in use: "avx512f", "avx2" or "sse2".
std::string cost_kernel_name();

/// @brief Kernels this CPU can run, fastest first.
std::vector<std::string> available_cost_kernels();

/// @brief Forces a kernel (for tests and benchmarks); "auto" picks the fastest again.
/// Not thread-safe with respect to running kernels: call it between computations.
void set_cost_kernel(const std::string& name);

/// @brief Full cost matrix C (n, m) between a (n, d) and b (m, d), row-major float32.
///
/// Validates finiteness of a and b (std::invalid_argument naming "a" or "b"), then fills
/// `out` (n * m floats, preallocated by the caller) in parallel over row blocks.
/// Working memory: O(n + m) floats plus a packed copy of `a` beyond `out`.
void cost_matrix(const float* a, std::ptrdiff_t n, const float* b, std::ptrdiff_t m,
                 std::ptrdiff_t d, Metric metric, float* out, int threads);

}  // namespace draqcore
