#include "draqcore/cost_matrix.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "draqcore/buffer.hpp"
#include "draqcore/config.hpp"
#include "draqcore/interrupt.hpp"
#include "dispatch.hpp"

// The dot products of a cost matrix are one GEMM, C = A B^T. The kernel here is the classic
// outer-product formulation: rows of `a` are packed into panels of W rows, transposed so that
// for a fixed feature k the W values a[i..i+W)[k] are one contiguous run; the micro-kernel
// multiplies that run (NV vectors) by a broadcast b[j][k] for 6 rows j of `b` at a time and
// keeps the 6 x NV accumulators in registers across the whole of d. Every output entry is the
// plain sequential sum over k, so results do not depend on tiling or threads.
//
// Runtime dispatch: the micro-kernel is compiled three times with target attributes (AVX-512,
// AVX2+FMA, and the x86-64 baseline SSE2) and one is chosen once per process from the CPU's
// features, so a plain build runs on any x86-64. The AVX variants fuse multiply-adds, so
// their results differ from the baseline's by float rounding only (tests hold every variant
// against the scalar reference).

namespace draqcore {

namespace {

constexpr int kCols = 6;  // rows of b per micro-tile

template <int L>
struct Vec;
// aligned(4): loads and stores through these types may be unaligned.
template <>
struct Vec<4> {
  typedef float type __attribute__((vector_size(16), aligned(4)));
};
template <>
struct Vec<8> {
  typedef float type __attribute__((vector_size(32), aligned(4)));
};
template <>
struct Vec<16> {
  typedef float type __attribute__((vector_size(64), aligned(4)));
};

template <Metric M>
inline float finish(float dot, float sa, float sb) {
  if constexpr (M == Metric::cosine) {
    const float c = 1.0f - dot * sa * sb;
    return std::min(2.0f, std::max(0.0f, c));
  } else if constexpr (M == Metric::sqeuclidean) {
    return std::max(0.0f, sa + sb - 2.0f * dot);
  } else {
    return std::sqrt(std::max(0.0f, sa + sb - 2.0f * dot));
  }
}

// One panel (W = L * NV rows of a, packed as d x W) against C rows of b.
template <int L, int NV, int C>
inline __attribute__((always_inline)) void micro_tile(const float* panel, const float* b,
                                                      std::ptrdiff_t d, float* dots) {
  typedef typename Vec<L>::type V;
  constexpr int W = L * NV;
  V acc[C][NV];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[c][v] = V{};
  for (std::ptrdiff_t k = 0; k < d; ++k) {
    const V* pv = reinterpret_cast<const V*>(panel + k * W);
    V av[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) av[v] = pv[v];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const float s = b[c * d + k];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[c][v] += av[v] * s;
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(dots + c * W + v * L) = acc[c][v];
}

// Cost block: rows [0, n) of the packed a (panels of W rows) against m rows of b.
template <int L, int NV, Metric M>
inline __attribute__((always_inline)) void block_metric(const float* packed, const float* sa,
                                                        std::ptrdiff_t n, const float* b,
                                                        const float* sb, std::ptrdiff_t m,
                                                        std::ptrdiff_t d, float* out,
                                                        std::ptrdiff_t ldo) {
  constexpr int W = L * NV;
  float dots[kCols * W];
  float costs[kCols * W];
  const std::ptrdiff_t panels = (n + W - 1) / W;
  // Panels of a are taken a few at a time (about 256 KiB: they stay in L2) while all of b
  // streams past them, so b is read once per group of panels and a from L2 only.
  const std::ptrdiff_t group =
      std::max<std::ptrdiff_t>(1, (std::ptrdiff_t(1) << 18) / (std::max<std::ptrdiff_t>(d, 1) * W * 4));
  for (std::ptrdiff_t p0 = 0; p0 < panels; p0 += group) {
    const std::ptrdiff_t p1 = std::min(panels, p0 + group);
    for (std::ptrdiff_t j0 = 0; j0 < m; j0 += kCols) {
      const int cols = int(std::min<std::ptrdiff_t>(kCols, m - j0));
      for (std::ptrdiff_t p = p0; p < p1; ++p) {
        const float* panel = packed + p * d * W;
        switch (cols) {
          case 6: micro_tile<L, NV, 6>(panel, b + j0 * d, d, dots); break;
          case 5: micro_tile<L, NV, 5>(panel, b + j0 * d, d, dots); break;
          case 4: micro_tile<L, NV, 4>(panel, b + j0 * d, d, dots); break;
          case 3: micro_tile<L, NV, 3>(panel, b + j0 * d, d, dots); break;
          case 2: micro_tile<L, NV, 2>(panel, b + j0 * d, d, dots); break;
          default: micro_tile<L, NV, 1>(panel, b + j0 * d, d, dots); break;
        }
        const std::ptrdiff_t i0 = p * W;
        const int rows = int(std::min<std::ptrdiff_t>(W, n - i0));
        // The epilogue in vector registers (rows of a are the lanes), then a transposing store.
        for (int c = 0; c < cols; ++c) {
          const float sbc = sb[j0 + c];
          for (int r = 0; r < rows; ++r) costs[c * W + r] = finish<M>(dots[c * W + r], sa[i0 + r], sbc);
        }
        for (int r = 0; r < rows; ++r) {
          float* o = out + (i0 + r) * ldo + j0;
          for (int c = 0; c < cols; ++c) o[c] = costs[c * W + r];
        }
      }
    }
  }
}

template <int L, int NV>
inline __attribute__((always_inline)) void block_impl(const float* packed, const float* sa,
                                                      std::ptrdiff_t n, const float* b,
                                                      const float* sb, std::ptrdiff_t m,
                                                      std::ptrdiff_t d, Metric metric, float* out,
                                                      std::ptrdiff_t ldo) {
  switch (metric) {
    case Metric::cosine:
      block_metric<L, NV, Metric::cosine>(packed, sa, n, b, sb, m, d, out, ldo);
      break;
    case Metric::sqeuclidean:
      block_metric<L, NV, Metric::sqeuclidean>(packed, sa, n, b, sb, m, d, out, ldo);
      break;
    case Metric::euclidean:
      block_metric<L, NV, Metric::euclidean>(packed, sa, n, b, sb, m, d, out, ldo);
      break;
  }
}

using BlockFn = void (*)(const float*, const float*, std::ptrdiff_t, const float*, const float*,
                         std::ptrdiff_t, std::ptrdiff_t, Metric, float*, std::ptrdiff_t);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DRAQCORE_X86_DISPATCH 1
__attribute__((target("avx512f,fma"))) void block_avx512(const float* packed, const float* sa,
                                                         std::ptrdiff_t n, const float* b,
                                                         const float* sb, std::ptrdiff_t m,
                                                         std::ptrdiff_t d, Metric metric,
                                                         float* out, std::ptrdiff_t ldo) {
  block_impl<16, 2>(packed, sa, n, b, sb, m, d, metric, out, ldo);
}
__attribute__((target("avx2,fma"))) void block_avx2(const float* packed, const float* sa,
                                                    std::ptrdiff_t n, const float* b,
                                                    const float* sb, std::ptrdiff_t m,
                                                    std::ptrdiff_t d, Metric metric, float* out,
                                                    std::ptrdiff_t ldo) {
  block_impl<8, 2>(packed, sa, n, b, sb, m, d, metric, out, ldo);
}
#endif
void block_sse2(const float* packed, const float* sa, std::ptrdiff_t n, const float* b,
                const float* sb, std::ptrdiff_t m, std::ptrdiff_t d, Metric metric, float* out,
                std::ptrdiff_t ldo) {
  block_impl<4, 2>(packed, sa, n, b, sb, m, d, metric, out, ldo);
}

struct Kernel {
  const char* name;
  int panel;  // W
  BlockFn fn;
};

const Kernel kKernels[] = {
#ifdef DRAQCORE_X86_DISPATCH
    {"avx512f", 32, block_avx512},
    {"avx2", 16, block_avx2},
#endif
    {"sse2", 8, block_sse2},
};

int detect_best() {
#ifdef DRAQCORE_X86_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
  return 2;
#else
  return 0;
#endif
}

std::atomic<int> g_kernel{-1};

const Kernel& active_kernel() {
  int k = g_kernel.load(std::memory_order_relaxed);
  if (k < 0) {
    k = detect_best();
    g_kernel.store(k, std::memory_order_relaxed);
  }
  return kKernels[k];
}

}  // namespace

std::string cost_kernel_name() { return active_kernel().name; }

std::vector<std::string> available_cost_kernels() {
  std::vector<std::string> names;
  const int best = detect_best();
  for (int k = best; k < int(sizeof kKernels / sizeof kKernels[0]); ++k) names.push_back(kKernels[k].name);
  return names;
}

void set_cost_kernel(const std::string& name) {
  const int best = detect_best();
  for (int k = 0; k < int(sizeof kKernels / sizeof kKernels[0]); ++k) {
    if (name == kKernels[k].name) {
      if (k < best) throw std::invalid_argument("kernel: this CPU cannot run '" + name + "'");
      g_kernel.store(k, std::memory_order_relaxed);
      return;
    }
  }
  if (name.empty() || name == "auto") {
    g_kernel.store(best, std::memory_order_relaxed);
    return;
  }
  throw std::invalid_argument("kernel: unknown cost kernel '" + name + "'");
}

std::ptrdiff_t cost_panel_rows() { return active_kernel().panel; }

std::ptrdiff_t packed_rows_floats(std::ptrdiff_t n, std::ptrdiff_t d) {
  const std::ptrdiff_t W = active_kernel().panel;
  return (n + W - 1) / W * W * d;
}

void pack_rows(const float* a, std::ptrdiff_t n, std::ptrdiff_t d, float* packed) {
  const std::ptrdiff_t W = active_kernel().panel;
  const std::ptrdiff_t panels = (n + W - 1) / W;
  for (std::ptrdiff_t p = 0; p < panels; ++p) {
    float* dst = packed + p * d * W;
    const std::ptrdiff_t rows = std::min(W, n - p * W);
    const float* src = a + p * W * d;
    std::ptrdiff_t r = 0;
#if defined(__SSE2__)
    // 4 x 4 blocks transposed in registers (SSE is part of every x86-64).
    const std::ptrdiff_t d4 = d - d % 4;
    for (; r + 4 <= rows; r += 4) {
      const float* s0 = src + r * d;
      for (std::ptrdiff_t k = 0; k < d4; k += 4) {
        __m128 r0 = _mm_loadu_ps(s0 + k), r1 = _mm_loadu_ps(s0 + d + k);
        __m128 r2 = _mm_loadu_ps(s0 + 2 * d + k), r3 = _mm_loadu_ps(s0 + 3 * d + k);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(dst + k * W + r, r0);
        _mm_storeu_ps(dst + (k + 1) * W + r, r1);
        _mm_storeu_ps(dst + (k + 2) * W + r, r2);
        _mm_storeu_ps(dst + (k + 3) * W + r, r3);
      }
      for (std::ptrdiff_t k = d4; k < d; ++k)
        for (std::ptrdiff_t q = 0; q < 4; ++q) dst[k * W + r + q] = s0[q * d + k];
    }
#endif
    for (; r < rows; ++r)
      for (std::ptrdiff_t k = 0; k < d; ++k) dst[k * W + r] = src[r * d + k];
    for (r = rows; r < W; ++r)  // zero padding of the last panel
      for (std::ptrdiff_t k = 0; k < d; ++k) dst[k * W + r] = 0.0f;
  }
}

Metric parse_metric(const std::string& name) {
  if (name == "cosine") return Metric::cosine;
  if (name == "sqeuclidean") return Metric::sqeuclidean;
  if (name == "euclidean") return Metric::euclidean;
  throw std::invalid_argument("metric: unknown metric '" + name +
                              "' (expected 'cosine', 'sqeuclidean' or 'euclidean')");
}

void cost_block_packed(const float* packed_a, const float* sa, std::ptrdiff_t n, const float* b,
                       const float* sb, std::ptrdiff_t m, std::ptrdiff_t d, Metric metric,
                       float* out, std::ptrdiff_t ldo) {
  active_kernel().fn(packed_a, sa, n, b, sb, m, d, metric, out, ldo);
}

void cost_matrix(const float* a, std::ptrdiff_t n, const float* b, std::ptrdiff_t m,
                 std::ptrdiff_t d, Metric metric, float* out, int threads) {
  const std::ptrdiff_t packed_floats = packed_rows_floats(n, d);
  check_memory(double(n + m + packed_floats) * sizeof(float), "cost_matrix");
  std::vector<float> sa(static_cast<std::size_t>(n)), sb(static_cast<std::size_t>(m));
  row_scales(a, n, d, metric, sa.data(), "a");
  row_scales(b, m, d, metric, sb.data(), "b");
  Buffer<float> packed(static_cast<std::size_t>(packed_floats));
  pack_rows(a, n, d, packed.data());
  cost_block_parallel(packed.data(), sa.data(), n, b, sb.data(), m, d, metric, out, m, threads);
}

void cost_block_parallel(const float* packed_a, const float* sa, std::ptrdiff_t n, const float* b,
                         const float* sb, std::ptrdiff_t m, std::ptrdiff_t d, Metric metric,
                         float* out, std::ptrdiff_t ldo, int threads) {
  // Tiles: column blocks of b (a multiple of the 6-row micro-tile, about 96 KiB, so a block
  // stays in L2 while the panels of a pass over it) times row groups of 8 panels of a.
  const std::ptrdiff_t W = active_kernel().panel;
  const std::ptrdiff_t col_block =
      std::max<std::ptrdiff_t>(kCols, (24576 / std::max<std::ptrdiff_t>(d, 1)) / kCols * kCols);
  const std::ptrdiff_t row_group = 8 * W;
  const std::ptrdiff_t col_blocks = (m + col_block - 1) / col_block;
  const std::ptrdiff_t row_groups = (n + row_group - 1) / row_group;
  const std::ptrdiff_t tiles = col_blocks * row_groups;
  auto tile = [&](std::ptrdiff_t t) {
    const std::ptrdiff_t j0 = (t % col_blocks) * col_block;
    const std::ptrdiff_t i0 = (t / col_blocks) * row_group;
    const std::ptrdiff_t nj = std::min(col_block, m - j0);
    const std::ptrdiff_t ni = std::min(row_group, n - i0);
    cost_block_packed(packed_a + i0 * d, sa + i0, ni, b + j0 * d, sb + j0, nj, d, metric,
                      out + i0 * ldo + j0, ldo);
  };
  // Sizes first: a small block never asks how many cores there are (a system call).
  const int nthreads = tiles <= 1 || n * m * d <= (1 << 22) ? 1 : resolve_threads(threads);
  if (nthreads <= 1) {
    // One thread (each pair of a batch) or a small block: no OpenMP region at all (even an
    // inactive one sets up a team, felt by 30 us calls), one call per group of 8 panels of a
    // against all of b (its own loops keep panels in L2 while b streams past), polling for
    // Ctrl-C between groups. A pair of up to 8 panels of rows is one call.
    for (std::ptrdiff_t i0 = 0; i0 < n; i0 += row_group) {
      if (i0 > 0) poll_interrupt();
      cost_block_packed(packed_a + i0 * d, sa + i0, std::min(row_group, n - i0), b, sb, m, d, metric,
                        out + i0 * ldo, ldo);
    }
    return;
  }
  // Tiles are (nearly) equal in size, but threads are not: on a shared machine one may be
  // descheduled, so tiles are handed out one at a time (dynamic) — which also keeps the
  // calling thread, which alone polls for Ctrl-C, busy until the end.
  std::atomic<bool> stop{false};
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
#endif
  for (std::ptrdiff_t t = 0; t < tiles; ++t) {
    if (poll_interrupt_into(stop)) continue;
    tile(t);
  }
  if (stop.load()) throw interrupted();
}

}  // namespace draqcore
