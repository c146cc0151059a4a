#include "draqcore/cost_matrix.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "draqcore/config.hpp"

// Runtime dispatch: GCC builds one clone of the tile driver per ISA and picks one at load time
// through an ifunc, so a plain build runs on any x86-64 and still uses AVX2/AVX-512 where present.
// -ffp-contract=off (CMakeLists) keeps the clones' arithmetic identical: no clone fuses mul+add.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define DRAQCORE_DISPATCH __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DRAQCORE_DISPATCH
#endif

namespace draqcore {

namespace {

typedef float v8f __attribute__((vector_size(32)));

inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float hsum8(v8f v) {
  // Fixed reduction order, the same in every clone.
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

// Dot products of R rows of a with C rows of b, 8 lanes at a time, then a scalar tail.
// Every (r, c) entry sees the same sequence of operations whatever R and C are.
template <int R, int C>
inline __attribute__((always_inline)) void dot_tile(const float* a, const float* b,
                                                    std::ptrdiff_t d, float* dots) {
  v8f acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = v8f{0, 0, 0, 0, 0, 0, 0, 0};
  const std::ptrdiff_t d8 = d - d % 8;
  for (std::ptrdiff_t k = 0; k < d8; k += 8) {
    v8f bv[C];
    for (int c = 0; c < C; ++c) bv[c] = load8(b + c * d + k);
    for (int r = 0; r < R; ++r) {
      const v8f av = load8(a + r * d + k);
      for (int c = 0; c < C; ++c) acc[r][c] += av * bv[c];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      float s = hsum8(acc[r][c]);
      for (std::ptrdiff_t k = d8; k < d; ++k) s += a[r * d + k] * b[c * d + k];
      dots[r * C + c] = s;
    }
}

inline float finish(float dot, float sa, float sb, Metric metric) {
  switch (metric) {
    case Metric::cosine: {
      const float c = 1.0f - dot * sa * sb;
      return std::min(2.0f, std::max(0.0f, c));
    }
    case Metric::sqeuclidean:
      return std::max(0.0f, sa + sb - 2.0f * dot);
    case Metric::euclidean:
      return std::sqrt(std::max(0.0f, sa + sb - 2.0f * dot));
  }
  return 0.0f;
}

template <int R, int C>
inline __attribute__((always_inline)) void emit_tile(const float* a, const float* sa,
                                                     const float* b, const float* sb,
                                                     std::ptrdiff_t d, Metric metric, float* out,
                                                     std::ptrdiff_t ldo) {
  float dots[R * C];
  dot_tile<R, C>(a, b, d, dots);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * ldo + c] = finish(dots[r * C + c], sa[r], sb[c], metric);
}

// Rows of a in groups of 4 (R = 4, remainder 1..3), columns in groups of 3 (remainder 1..2).
template <int R>
inline __attribute__((always_inline)) void emit_row_group(const float* a, const float* sa,
                                                          const float* b, const float* sb,
                                                          std::ptrdiff_t m, std::ptrdiff_t d,
                                                          Metric metric, float* out,
                                                          std::ptrdiff_t ldo) {
  std::ptrdiff_t j = 0;
  for (; j + 3 <= m; j += 3) emit_tile<R, 3>(a, sa, b + j * d, sb + j, d, metric, out + j, ldo);
  if (m - j == 2) emit_tile<R, 2>(a, sa, b + j * d, sb + j, d, metric, out + j, ldo);
  if (m - j == 1) emit_tile<R, 1>(a, sa, b + j * d, sb + j, d, metric, out + j, ldo);
}

}  // namespace

Metric parse_metric(const std::string& name) {
  if (name == "cosine") return Metric::cosine;
  if (name == "sqeuclidean") return Metric::sqeuclidean;
  if (name == "euclidean") return Metric::euclidean;
  throw std::invalid_argument("metric: unknown metric '" + name +
                              "' (expected 'cosine', 'sqeuclidean' or 'euclidean')");
}

void row_scales(const float* x, std::ptrdiff_t rows, std::ptrdiff_t d, Metric metric, float* out,
                const char* name) {
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const float* row = x + r * d;
    double ss = 0.0;
    for (std::ptrdiff_t k = 0; k < d; ++k) ss += double(row[k]) * double(row[k]);
    if (!std::isfinite(ss)) {
      throw std::invalid_argument(std::string(name) + ": row " + std::to_string(r) +
                                  " contains NaN or Inf");
    }
    if (metric == Metric::cosine) {
      out[r] = ss > 0.0 ? float(1.0 / std::sqrt(ss)) : 0.0f;
    } else {
      out[r] = float(ss);
    }
  }
}

DRAQCORE_DISPATCH
void cost_block(const float* a, const float* sa, std::ptrdiff_t n, const float* b, const float* sb,
                std::ptrdiff_t m, std::ptrdiff_t d, Metric metric, float* out,
                std::ptrdiff_t ldo) {
  std::ptrdiff_t i = 0;
  for (; i + 4 <= n; i += 4)
    emit_row_group<4>(a + i * d, sa + i, b, sb, m, d, metric, out + i * ldo, ldo);
  const std::ptrdiff_t rest = n - i;
  if (rest == 3) emit_row_group<3>(a + i * d, sa + i, b, sb, m, d, metric, out + i * ldo, ldo);
  if (rest == 2) emit_row_group<2>(a + i * d, sa + i, b, sb, m, d, metric, out + i * ldo, ldo);
  if (rest == 1) emit_row_group<1>(a + i * d, sa + i, b, sb, m, d, metric, out + i * ldo, ldo);
}

void cost_matrix(const float* a, std::ptrdiff_t n, const float* b, std::ptrdiff_t m,
                 std::ptrdiff_t d, Metric metric, float* out, int threads) {
  check_memory(double(n + m) * sizeof(float), "cost_matrix");
  std::vector<float> sa(static_cast<std::size_t>(n)), sb(static_cast<std::size_t>(m));
  row_scales(a, n, d, metric, sa.data(), "a");
  row_scales(b, m, d, metric, sb.data(), "b");
  const int nthreads = resolve_threads(threads);
  // Blocks of 4 rows of `a` against a panel of `b` columns: the panel (jb rows of b) stays in
  // L2 while the 4-row groups stream past it. Blocks are equal in size: static schedule.
  const std::ptrdiff_t row_block = 16;
  // b panel of about 256 KiB, a multiple of the 3-column tile.
  const std::ptrdiff_t col_block =
      std::max<std::ptrdiff_t>(24, (65536 / std::max<std::ptrdiff_t>(d, 1)) / 3 * 3);
  const std::ptrdiff_t nrb = (n + row_block - 1) / row_block;
  const std::ptrdiff_t ncb = (m + col_block - 1) / col_block;
  const std::ptrdiff_t tiles = nrb * ncb;
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (tiles > 1 && n * m * d > (1 << 16))
#endif
  for (std::ptrdiff_t t = 0; t < tiles; ++t) {
    const std::ptrdiff_t cb = t / nrb, rb = t % nrb;
    const std::ptrdiff_t i0 = rb * row_block, j0 = cb * col_block;
    const std::ptrdiff_t ni = std::min(row_block, n - i0), nj = std::min(col_block, m - j0);
    cost_block(a + i0 * d, sa.data() + i0, ni, b + j0 * d, sb.data() + j0, nj, d, metric,
               out + i0 * m + j0, m);
  }
  (void)nthreads;
}

}  // namespace draqcore
