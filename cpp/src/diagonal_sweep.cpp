// The forward sweep over a whole matrix by anti-diagonals (see forward_sweep.hpp).
#include <algorithm>
#include <atomic>
#include <thread>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "draqcore/config.hpp"
#include "draqcore/forward_sweep.hpp"
#include "draqcore/interrupt.hpp"

#ifdef DRAQCORE_HAVE_OPENMP
#include <omp.h>
#endif
#include "dispatch.hpp"
#include "traceback.hpp"

namespace draqcore {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// The pipelined sweep gives every thread a band of at least this many rows.
constexpr std::ptrdiff_t kMinRowsPerBand = 256;
using detail::kDiag;
using detail::kLeft;
using detail::kUp;


std::ptrdiff_t first_row(std::ptrdiff_t k, std::ptrdiff_t m) { return std::max<std::ptrdiff_t>(0, k - (m - 1)); }
std::ptrdiff_t last_row(std::ptrdiff_t k, std::ptrdiff_t n) { return std::min<std::ptrdiff_t>(n - 1, k); }

// DTW on anti-diagonal k, rows [ilo, ihi]; d2, d1, d0 hold diagonals k-2, k-1, k indexed by row
// (index -1 is a +inf sentinel; entries outside a diagonal's rows are +inf). Same expressions
// as the row kernel: the diagonal wins ties with the upper cell, the left cell wins only when
// strictly better.
inline __attribute__((always_inline)) void dtw_diagonal_body(
    const float* c, const double* d2, const double* d1, double* d0, unsigned char* dir,
    std::ptrdiff_t ilo, std::ptrdiff_t ihi) {
  for (std::ptrdiff_t i = ilo; i <= ihi; ++i) {
    const double diag = d2[i - 1], up = d1[i - 1], left = d1[i];
    const double best_prev = std::min(diag, up);  // (up < diag) ? up : diag
    const unsigned char from_up = static_cast<unsigned char>(up < diag);
    const unsigned char take_left = static_cast<unsigned char>(left < best_prev);
    d0[i] = double(c[i]) + std::min(best_prev, left);
    dir[i - ilo] = static_cast<unsigned char>(from_up | (take_left << 1));
  }
}

// The subsequence DTW on rows [ilo, ihi] (ilo >= 1) of anti-diagonal k: the same expressions,
// and each cell's start column (s2, s1, s0 like d2, d1, d0) taken from the predecessor chosen.
// The buffers never overlap (__restrict: with this many pointers the vectoriser would otherwise
// need more runtime overlap checks than it is willing to emit, and stay scalar).
inline __attribute__((always_inline)) void dtw_subsequence_diagonal_body(
    const float* __restrict c, const double* __restrict d2, const double* __restrict d1,
    double* __restrict d0, const std::int64_t* __restrict s2, const std::int64_t* __restrict s1,
    std::int64_t* __restrict s0, unsigned char* __restrict dir, std::ptrdiff_t ilo,
    std::ptrdiff_t ihi) {
  for (std::ptrdiff_t i = ilo; i <= ihi; ++i) {
    const double diag = d2[i - 1], up = d1[i - 1], left = d1[i];
    const double best_prev = std::min(diag, up);
    const bool from_up = up < diag;
    const bool take_left = left < best_prev;
    d0[i] = double(c[i]) + std::min(best_prev, left);
    // Both candidates loaded unconditionally and blended with masks (a conditional load is
    // control flow, which stops the vectoriser).
    const std::int64_t s_up = s1[i - 1], s_diag = s2[i - 1], s_left = s1[i];
    const std::int64_t up_mask = -static_cast<std::int64_t>(from_up);
    const std::int64_t left_mask = -static_cast<std::int64_t>(take_left);
    const std::int64_t best_start = s_diag ^ ((s_diag ^ s_up) & up_mask);
    s0[i] = best_start ^ ((best_start ^ s_left) & left_mask);
    dir[i - ilo] = static_cast<unsigned char>(static_cast<unsigned char>(from_up) |
                                              (static_cast<unsigned char>(take_left) << 1));
  }
}

// Expected cost-to-go on the interior cells (i >= 1, j = k - i >= 1) of diagonal k.
inline __attribute__((always_inline)) void expected_diagonal_body(
    const float* c, const double* g2, const double* g1, double* g0, std::ptrdiff_t ilo,
    std::ptrdiff_t ihi, std::ptrdiff_t k) {
  // 32-bit row/column numbers convert to double in vector registers.
  const std::int32_t lo = static_cast<std::int32_t>(ilo), hi = static_cast<std::int32_t>(ihi);
  const std::int32_t k32 = static_cast<std::int32_t>(k);
  for (std::int32_t i = lo; i <= hi; ++i) {
    const double a = double(i + 1), b = double(k32 - i + 1);
    const double inv = 1.0 / (a * a + a * b + b * b);
    const double partial = double(c[i]) + (a * a * g1[i - 1] + a * b * g2[i - 1]) * inv;
    g0[i] = partial + b * b * inv * g1[i];
  }
}

// The dispatched entry points: each diagonal makes one call through the ifunc (the common case,
// DTW with the exact random cost, does both recurrences in that one call).
DRAQCORE_CLONES_AVX512
void dtw_diagonal(const float* c, const double* d2, const double* d1, double* d0,
                  unsigned char* dir, std::ptrdiff_t ilo, std::ptrdiff_t ihi) {
  dtw_diagonal_body(c, d2, d1, d0, dir, ilo, ihi);
}

DRAQCORE_CLONES_AVX512
void dtw_subsequence_diagonal(const float* c, const double* d2, const double* d1, double* d0,
                              const std::int64_t* s2, const std::int64_t* s1, std::int64_t* s0,
                              unsigned char* dir, std::ptrdiff_t ilo, std::ptrdiff_t ihi) {
  dtw_subsequence_diagonal_body(c, d2, d1, d0, s2, s1, s0, dir, ilo, ihi);
}

DRAQCORE_CLONES_AVX512
void expected_diagonal(const float* c, const double* g2, const double* g1, double* g0,
                       std::ptrdiff_t ilo, std::ptrdiff_t ihi, std::ptrdiff_t k) {
  expected_diagonal_body(c, g2, g1, g0, ilo, ihi, k);
}

DRAQCORE_CLONES_AVX512
void both_diagonal(const float* c, const double* d2, const double* d1, double* d0,
                   unsigned char* dir, std::ptrdiff_t ilo, std::ptrdiff_t ihi, const double* g2,
                   const double* g1, double* g0, std::ptrdiff_t glo, std::ptrdiff_t ghi,
                   std::ptrdiff_t k) {
  dtw_diagonal_body(c, d2, d1, d0, dir, ilo, ihi);
  if (glo <= ghi) expected_diagonal_body(c, g2, g1, g0, glo, ghi, k);
}

// Bands of rows for the pipelined sweep: one per thread when each gets enough rows, else 1
// (serial). A forked child or threads == 1 gives 1.
int sweep_bands(std::ptrdiff_t n, std::ptrdiff_t m, int threads) {
  const int team = resolve_threads(threads);
  if (team <= 1 || n < kMinRowsPerBand * team || double(n) * double(m) < double(1 << 20)) return 1;
  return team;
}

// Diagonals kept in the ring of a sweep: 3 on one thread (k, k-1, k-2); with bands, enough
// that a band may run up to ring - 3 diagonals ahead of the band below it (at most 4 Mi
// doubles per array).
std::ptrdiff_t ring_slots(std::ptrdiff_t n, int bands) {
  if (bands <= 1) return 3;
  return std::max<std::ptrdiff_t>(8, std::min<std::ptrdiff_t>(128, (std::ptrdiff_t(1) << 22) / (n + 2)));
}

// Traceback storage of a whole-matrix sweep: with a path, one direction byte per cell, diagonal
// k starting at ws.tb_offset[k]; without, one scratch diagonal of directions.
void reserve_traceback(SweepWorkspace& ws, std::ptrdiff_t n, std::ptrdiff_t m, bool with_path) {
  if (!with_path) {
    if (ws.tb.size() < std::size_t(n)) ws.tb.resize(std::size_t(n));
    return;
  }
  const std::ptrdiff_t diagonals = n + m - 1;
  if (ws.tb_offset.size() < std::size_t(diagonals)) ws.tb_offset.resize(std::size_t(diagonals));
  std::ptrdiff_t total = 0;
  for (std::ptrdiff_t k = 0; k < diagonals; ++k) {
    ws.tb_offset[k] = total;
    total += last_row(k, n) - first_row(k, m) + 1;
  }
  if (ws.tb.size() < std::size_t(total)) ws.tb.resize(std::size_t(total));
}

struct alignas(64) Progress {
  std::atomic<std::ptrdiff_t> done{0};  // diagonals this band has completed
};

// Waits until `p` has completed `target` diagonals; false when the sweep was stopped meanwhile.
// Spins briefly (the band above is usually a diagonal ahead), then yields the core.
bool wait_for(const Progress& p, std::ptrdiff_t target, const std::atomic<bool>& stop) {
  for (int spin = 0; p.done.load(std::memory_order_acquire) < target; ++spin) {
    if (stop.load(std::memory_order_relaxed)) return false;
    if (spin < 2000) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
  return true;
}

// Calls part(k, lo, hi) for the cells in rows [lo, hi] of every anti-diagonal k = 0 .. n+m-2,
// and edge(k, row) for the +inf sentinel rows just outside each diagonal (row first-1 and
// last+1), such that every cell is computed after the cells it reads.
//
// Serial (bands == 1): diagonal after diagonal. Pipelined (bands > 1, one thread per band):
// band t owns rows [n t / bands, n (t+1) / bands) -- its cells and its sentinel rows -- and
// sweeps all diagonals over them. A DTW cell reads only its own row and the row above, so band
// t reads band t-1's last row only, and waits for band t-1 to have completed diagonal k-1
// before diagonal k; the top band never waits for the rows below. The diagonals live in a ring
// of `ring` slots, so band t also waits, before writing diagonal k, until band t+1 has
// completed k - ring + 3 (after which nobody reads diagonal k - ring). No barriers: a band
// that is descheduled on a busy machine delays only the bands below it, and only once they
// catch up with it.
// Polls for Ctrl-C on the calling thread (thread 0) and throws interrupted after the region.
template <class Part, class Edge>
void run_diagonals(std::ptrdiff_t n, std::ptrdiff_t m, int bands, std::ptrdiff_t ring, Part&& part,
                   Edge&& edge) {
  const std::ptrdiff_t diagonals = n + m - 1;
  auto serial = [&]() {
    for (std::ptrdiff_t k = 0; k < diagonals; ++k) {
      if ((k & 255) == 255) poll_interrupt();  // Ctrl-C in long sweeps (a no-op unless installed)
      const std::ptrdiff_t ilo = first_row(k, m), ihi = last_row(k, n);
      part(k, ilo, ihi);
      edge(k, ilo - 1);
      edge(k, ihi + 1);
    }
  };
  if (bands <= 1) {
    serial();
    return;
  }
  std::vector<Progress> progress(static_cast<std::size_t>(bands));
  std::atomic<bool> stop{false}, interrupted_flag{false};
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel num_threads(bands)
#endif
  {
#ifdef DRAQCORE_HAVE_OPENMP
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
#else
    const int t = 0, team = 1;
#endif
    if (team != bands) {
      // Fewer threads than asked for (OMP_DYNAMIC, thread limits): the calling thread sweeps.
      if (t == 0) {
        try {
          serial();
        } catch (const interrupted&) {
          interrupted_flag.store(true);
        }
      }
    } else {
      const std::ptrdiff_t row_lo = n * t / bands, row_hi = n * (t + 1) / bands - 1;
      const bool first_band = t == 0, last_band = t == bands - 1;
      auto owns = [&](std::ptrdiff_t row) {
        return (row >= row_lo && row <= row_hi) || (first_band && row == -1) || (last_band && row == n);
      };
      for (std::ptrdiff_t k = 0; k < diagonals; ++k) {
        const std::ptrdiff_t ilo = first_row(k, m), ihi = last_row(k, n);
        const std::ptrdiff_t lo = std::max(ilo, row_lo), hi = std::min(ihi, row_hi);
        const bool edge_lo = owns(ilo - 1), edge_hi = owns(ihi + 1);
        if (lo <= hi || edge_lo || edge_hi) {
          if (!first_band && lo <= hi && !wait_for(progress[std::size_t(t - 1)], k, stop)) break;
          if (!last_band && !wait_for(progress[std::size_t(t + 1)], k - ring + 3, stop)) break;
          if (lo <= hi) part(k, lo, hi);
          if (edge_lo) edge(k, ilo - 1);
          if (edge_hi) edge(k, ihi + 1);
        }
        progress[std::size_t(t)].done.store(k + 1, std::memory_order_release);
        if (first_band && (k & 255) == 255) {
          try {
            poll_interrupt();
          } catch (const interrupted&) {
            interrupted_flag.store(true);
            stop.store(true);
          }
        }
        if (stop.load(std::memory_order_relaxed)) break;
      }
    }
  }
  if (interrupted_flag.load()) throw interrupted();
}

// Subsequence DTW by anti-diagonals (see forward_sweep()): row 0 has a free start, the answer
// is the smallest D on row n-1, and every cell carries the start column of its best path.
SweepResult diagonal_sweep_subsequence(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                                       std::ptrdiff_t ldc, std::vector<std::int64_t>* path,
                                       SweepWorkspace& ws, int threads) {
  const bool with_path = path != nullptr;
  const std::size_t stride = static_cast<std::size_t>(n + 2);
  const std::ptrdiff_t diagonals = n + m - 1;
  const int bands = sweep_bands(n, m, threads);
  const std::ptrdiff_t ring = ring_slots(n, bands);
  const std::size_t slots = static_cast<std::size_t>(ring);
  ws.d_rows.assign(slots * stride, kInf);
  if (ws.s_rows.size() < slots * stride) ws.s_rows.resize(slots * stride);
  if (ws.diag_cost.size() < std::size_t(n)) ws.diag_cost.resize(std::size_t(n));
  reserve_traceback(ws, n, m, with_path);
  float* cd = ws.diag_cost.data();
  SweepResult result;
  std::ptrdiff_t best_end = -1;
  double best = kInf;
  std::int64_t best_start = 0;

  // Rows [lo, hi] of diagonal k; the part holding row n-1 also updates the best end (only the
  // last band holds it, and it sweeps the diagonals in order).
  auto diagonal_part = [&](std::ptrdiff_t k, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    const std::ptrdiff_t ilo = first_row(k, m), ihi = last_row(k, n);
    for (std::ptrdiff_t i = lo; i <= hi; ++i) cd[i] = cost[i * ldc + (k - i)];
    double* d0 = ws.d_rows.data() + (k % ring) * stride + 1;
    const double* d1 = ws.d_rows.data() + ((k + ring - 1) % ring) * stride + 1;
    const double* d2 = ws.d_rows.data() + ((k + ring - 2) % ring) * stride + 1;
    std::int64_t* s0 = ws.s_rows.data() + (k % ring) * stride + 1;
    const std::int64_t* s1 = ws.s_rows.data() + ((k + ring - 1) % ring) * stride + 1;
    const std::int64_t* s2 = ws.s_rows.data() + ((k + ring - 2) % ring) * stride + 1;
    // Without a path the directions go to a scratch row indexed by row (bands never share it).
    unsigned char* dir = with_path ? ws.tb.data() + ws.tb_offset[k] : ws.tb.data() + ilo;
    std::ptrdiff_t i0 = lo;
    if (lo == 0) {
      // Cell (0, k): free start, D(0, k) = C(0, k) + min(0, D(0, k-1)); starting wins ties.
      const double left = k > 0 ? d1[0] : kInf;
      const bool take_left = left < 0.0;
      d0[0] = double(cd[0]) + std::min(0.0, left);
      s0[0] = take_left ? s1[0] : std::int64_t(k);
      dir[0] = take_left ? kLeft : detail::kStart;
      i0 = 1;
    }
    if (i0 <= hi) {
      dtw_subsequence_diagonal(cd, d2, d1, d0, s2, s1, s0, dir + (i0 - ilo), i0, hi);
    }
    if (hi == n - 1 && (best_end < 0 || d0[n - 1] < best)) {  // D(n-1, k-n+1), first minimum
      best = d0[n - 1];
      best_end = k - (n - 1);
      best_start = s0[n - 1];
    }
  };
  auto sentinel = [&](std::ptrdiff_t k, std::ptrdiff_t row) {
    ws.d_rows[std::size_t((k % ring) * std::ptrdiff_t(stride) + 1 + row)] = kInf;
  };
  run_diagonals(n, m, bands, ring, diagonal_part, sentinel);
  result.dtw_cost = best;
  result.start_col = std::ptrdiff_t(best_start);
  result.end_col = best_end;
  if (with_path) {
    detail::trace_path(n, m, [&](std::ptrdiff_t i, std::ptrdiff_t j) {
      const std::ptrdiff_t k = i + j;
      return ws.tb[std::size_t(ws.tb_offset[k] + i - first_row(k, m))];
    }, *path, best_end);
  }
  return result;
}

}  // namespace

SweepResult diagonal_sweep(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                           std::ptrdiff_t ldc, bool want_dtw, std::vector<std::int64_t>* path,
                           bool want_expected, SweepWorkspace& ws, bool subsequence) {
  return diagonal_sweep_parallel(cost, n, m, ldc, want_dtw, path, want_expected, ws, 1, subsequence);
}

SweepResult diagonal_sweep_parallel(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                                    std::ptrdiff_t ldc, bool want_dtw,
                                    std::vector<std::int64_t>* path, bool want_expected,
                                    SweepWorkspace& ws, int threads, bool subsequence) {
  if (!want_dtw) subsequence = false;
  if (subsequence && want_expected) {
    throw std::logic_error("diagonal_sweep: a subsequence sweep computes the DTW only");
  }
  if (subsequence) return diagonal_sweep_subsequence(cost, n, m, ldc, path, ws, threads);
  const bool with_path = want_dtw && path != nullptr;
  // Diagonals indexed by row, with a slot in front (row -1) and behind (row n) for sentinels.
  const std::size_t stride = static_cast<std::size_t>(n + 2);
  const std::ptrdiff_t diagonals = n + m - 1;
  const int bands = sweep_bands(n, m, threads);
  const std::ptrdiff_t ring = ring_slots(n, bands);
  const std::size_t slots = static_cast<std::size_t>(ring);
  if (want_dtw) ws.d_rows.assign(slots * stride, kInf);
  if (want_expected) ws.g_rows.assign(slots * stride, 0.0);
  if (ws.diag_cost.size() < std::size_t(n)) ws.diag_cost.resize(std::size_t(n));
  reserve_traceback(ws, n, m, with_path);
  float* cd = ws.diag_cost.data();

  // Cells [lo, hi] of anti-diagonal k (a part of its rows [ilo, ihi], or all of them). Parts of
  // one diagonal touch disjoint entries of every buffer, so threads may compute them at once.
  auto diagonal_part = [&](std::ptrdiff_t k, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    const std::ptrdiff_t ilo = first_row(k, m), ihi = last_row(k, n);
    // Gather the diagonal's costs: cell (i, k - i).
    for (std::ptrdiff_t i = lo; i <= hi; ++i) cd[i] = cost[i * ldc + (k - i)];
    double *d0 = nullptr, *g0 = nullptr;
    const double *d1 = nullptr, *d2 = nullptr, *g1 = nullptr, *g2 = nullptr;
    unsigned char* dir = nullptr;
    std::ptrdiff_t glo = lo, ghi = hi;  // interior cells of the expected-cost recurrence
    if (want_dtw) {
      d0 = ws.d_rows.data() + (k % ring) * stride + 1;
      d1 = ws.d_rows.data() + ((k + ring - 1) % ring) * stride + 1;
      d2 = ws.d_rows.data() + ((k + ring - 2) % ring) * stride + 1;
      // Without a path the directions go to a scratch row indexed by row (bands never share it).
      dir = (with_path ? ws.tb.data() + ws.tb_offset[k] : ws.tb.data() + ilo) + (lo - ilo);
    }
    if (want_expected) {
      g0 = ws.g_rows.data() + (k % ring) * stride + 1;
      g1 = ws.g_rows.data() + ((k + ring - 1) % ring) * stride + 1;
      g2 = ws.g_rows.data() + ((k + ring - 2) % ring) * stride + 1;
      if (glo == 0) {  // row 1 always moves left
        g0[0] = double(cd[0]) + 1.0 * g1[0];
        glo = 1;
      }
      if (ghi == k && k >= 1) {  // column 1 always moves up
        g0[k] = (double(cd[k]) + g1[k - 1]) + 0.0 * 0.0;
        ghi = k - 1;
      }
    }
    if (want_dtw && k == 0) {
      d0[0] = double(cd[0]) + 0.0;  // the start cell: D(0, 0) = C(0, 0)
      dir[0] = kLeft;
    } else if (want_dtw && want_expected) {
      both_diagonal(cd, d2, d1, d0, dir, lo, hi, g2, g1, g0, glo, ghi, k);
    } else if (want_dtw) {
      dtw_diagonal(cd, d2, d1, d0, dir, lo, hi);
    } else if (glo <= ghi) {
      expected_diagonal(cd, g2, g1, g0, glo, ghi, k);
    }
  };
  // The next two diagonals read at most one row beyond each end of a diagonal: +inf there
  // stands for "no such cell", whatever the ring held before.
  auto sentinel = [&](std::ptrdiff_t k, std::ptrdiff_t row) {
    if (want_dtw) ws.d_rows[std::size_t((k % ring) * std::ptrdiff_t(stride) + 1 + row)] = kInf;
  };
  run_diagonals(n, m, bands, ring, diagonal_part, sentinel);

  SweepResult result;
  result.end_col = m - 1;
  const std::size_t last = static_cast<std::size_t>((diagonals - 1) % ring) * stride + 1 + std::size_t(n - 1);
  if (want_dtw) result.dtw_cost = ws.d_rows[last];
  if (want_expected) result.expected_random = ws.g_rows[last];
  if (with_path) {
    detail::trace_path(n, m, [&](std::ptrdiff_t i, std::ptrdiff_t j) {
      const std::ptrdiff_t k = i + j;
      return ws.tb[std::size_t(ws.tb_offset[k] + i - first_row(k, m))];
    }, *path);
  }
  return result;
}

}  // namespace draqcore
