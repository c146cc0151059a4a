// Per-row norms of a sequence (row_scales()), which double as its NaN/Inf check. In a file of its
// own because it is compiled like the sweeps, without fused multiply-adds (-ffp-contract=off):
// every clone below computes the same bits, while cost_matrix.cpp lets the GEMM fuse them. Also
// compiled with -fno-math-errno, so that square roots vectorise (they are correctly rounded
// either way; only errno on a negative argument, which a sum of squares never is, differs).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

#include "dispatch.hpp"
#include "draqcore/cost_matrix.hpp"

namespace draqcore {

namespace {

// Sums of squares of R consecutive rows of length d, in double: per row 16 accumulators,
// accumulator l summing features l, l + 16, l + 32, ... in order (then the tail), and the 16
// folded pairwise (8, 4, 2, 1). R rows at once interleave R rows' add chains: one row alone
// waits on its accumulators' latency (d / 16 dependent adds each). Each row's operations and
// their order do not depend on R or on the vector width, so every R and clone gives the same bits.
typedef float F8 __attribute__((vector_size(32), aligned(4)));  // unaligned loads
typedef double D8 __attribute__((vector_size(64)));

template <int R>
inline __attribute__((always_inline)) void sums_of_squares_body(const float* x, std::ptrdiff_t d,
                                                                double* out) {
  D8 lo[R], hi[R];  // accumulators 0-7 and 8-15 of each row
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = D8{};
  std::ptrdiff_t k = 0;
  for (; k + 16 <= d; k += 16) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const D8 a = __builtin_convertvector(*reinterpret_cast<const F8*>(x + r * d + k), D8);
      const D8 b = __builtin_convertvector(*reinterpret_cast<const F8*>(x + r * d + k + 8), D8);
      lo[r] += a * a;
      hi[r] += b * b;
    }
  }
  for (int r = 0; r < R; ++r) {
    double acc[16];
    for (int l = 0; l < 8; ++l) {
      acc[l] = lo[r][l];
      acc[l + 8] = hi[r][l];
    }
    for (std::ptrdiff_t t = k, l = 0; t < d; ++t, ++l) {
      const double v = x[r * d + t];
      acc[l] += v * v;
    }
    for (int w = 8; w >= 1; w /= 2)
      for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    out[r] = acc[0];
  }
}

DRAQCORE_CLONES_AVX512
void sums_of_squares(const float* x, std::ptrdiff_t rows, std::ptrdiff_t d, double* out) {
  std::ptrdiff_t r = 0;
  for (; r + 4 <= rows; r += 4) sums_of_squares_body<4>(x + r * d, d, out + r);
  for (; r < rows; ++r) sums_of_squares_body<1>(x + r * d, d, out + r);
}

// The error of row r (whose sum of squares is ss), if it has one.
void check_row(double ss, std::ptrdiff_t r, const char* name) {
  if (!std::isfinite(ss)) {
    throw std::invalid_argument(std::string(name) + ": row " + std::to_string(r) +
                                " contains NaN or Inf");
  }
  const double norm = std::sqrt(ss);
  if (norm > kMaxRowNorm) {
    char msg[160];
    std::snprintf(msg, sizeof msg,
                  ": row %td has norm %.3g, above the supported %.0e (float32 dot products "
                  "would overflow); rescale the features",
                  r, norm, kMaxRowNorm);
    throw std::invalid_argument(std::string(name) + msg);
  }
}

}  // namespace

void row_scales(const float* x, std::ptrdiff_t rows, std::ptrdiff_t d, Metric metric, float* out,
                const char* name) {
  // Chunks of rows: sums of squares, one branch-free test of the whole chunk, then the scales
  // (vectorised square roots and divisions: correctly rounded, so the same bits as one at a
  // time). A bad chunk is checked row by row for the error naming the first bad row.
  constexpr std::ptrdiff_t kChunk = 256;
  double ss[kChunk], norm[kChunk];
  for (std::ptrdiff_t r0 = 0; r0 < rows; r0 += kChunk) {
    const std::ptrdiff_t nr = std::min(kChunk, rows - r0);
    sums_of_squares(x + r0 * d, nr, d, ss);
    int bad = 0;
    for (std::ptrdiff_t i = 0; i < nr; ++i) {
      norm[i] = std::sqrt(ss[i]);
      // A sum of squares is >= 0, NaN or +inf: "not finite" is "not <= DBL_MAX".
      bad |= int(!(ss[i] <= std::numeric_limits<double>::max())) | int(norm[i] > kMaxRowNorm);
    }
    if (bad) {
      for (std::ptrdiff_t i = 0; i < nr; ++i) check_row(ss[i], r0 + i, name);
    }
    float* o = out + r0;
    if (metric == Metric::cosine) {
      for (std::ptrdiff_t i = 0; i < nr; ++i) o[i] = norm[i] >= kMinRowNorm ? float(1.0 / norm[i]) : 0.0f;
    } else {
      for (std::ptrdiff_t i = 0; i < nr; ++i) o[i] = float(ss[i]);
    }
  }
}

}  // namespace draqcore
