#include "draqcore/forward_sweep.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "draqcore/config.hpp"
#include "draqcore/dtw.hpp"
#include "draqcore/interrupt.hpp"
#include "dispatch.hpp"
#include "traceback.hpp"

namespace draqcore {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
using detail::kDiag;
using detail::kLeft;
using detail::kUp;

template <class Vector>
void ensure(Vector& v, std::size_t size) {
  if (v.size() < size) v.resize(size);
}


// Part 1 of a DTW row, j in [j0, j1): the better of the diagonal and the upper predecessor,
// the diagonal winning ties. No dependency along the row: vectorised.
DRAQCORE_CLONES_AVX2
void dtw_prepass(const double* prev, double* best_prev, unsigned char* dir, std::ptrdiff_t j0,
                 std::ptrdiff_t j1) {
  for (std::ptrdiff_t j = j0; j < j1; ++j) {
    const double diag = prev[j - 1], up = prev[j];
    best_prev[j] = std::min(diag, up);  // (up < diag) ? up : diag
    dir[j] = static_cast<unsigned char>(up < diag);  // kUp or kDiag
  }
}

// Part 1 of an expected-cost row a = i + 1 > 1, columns b = 2..m: the parts of G(a, b) that do
// not depend on G(a, b - 1), and the left-move probability b^2 / (a^2 + a b + b^2).
DRAQCORE_CLONES_AVX2
void expected_prepass(const float* c, const double* gprev, double* g_partial, double* p_left,
                      double a, std::ptrdiff_t m) {
  // 32-bit column numbers convert to double in vector registers (64-bit ones need AVX-512DQ).
  const std::int32_t m32 = static_cast<std::int32_t>(m);
  for (std::int32_t j = 1; j < m32; ++j) {
    const double b = double(j + 1);
    const double inv = 1.0 / (a * a + a * b + b * b);
    g_partial[j] = double(c[j]) + (a * a * gprev[j] + a * b * gprev[j - 1]) * inv;
    p_left[j] = b * b * inv;
  }
}

// The same for a subsequence sweep, which also carries each cell's start column: the start
// of the better of the diagonal and the upper predecessor.
DRAQCORE_CLONES_AVX2
void dtw_prepass_subsequence(const double* __restrict prev, const std::int64_t* __restrict sprev,
                             double* __restrict best_prev, std::int64_t* __restrict best_start,
                             unsigned char* __restrict dir, std::ptrdiff_t j0, std::ptrdiff_t j1) {
  for (std::ptrdiff_t j = j0; j < j1; ++j) {
    const double diag = prev[j - 1], up = prev[j];
    const bool from_up = up < diag;
    best_prev[j] = std::min(diag, up);
    const std::int64_t s_up = sprev[j], s_diag = sprev[j - 1];  // blended, as in diagonal_sweep
    best_start[j] = s_diag ^ ((s_diag ^ s_up) & -static_cast<std::int64_t>(from_up));
    dir[j] = static_cast<unsigned char>(from_up);
  }
}

}  // namespace

void check_subsequence_band(bool subsequence, std::ptrdiff_t radius) {
  if (subsequence && radius >= 0) {
    throw std::invalid_argument(
        "band: cannot be combined with subsequence=True (the Sakoe-Chiba band is defined around "
        "the line from (0, 0) to (n-1, m-1), and a subsequence match has no fixed start or end)");
  }
}

double forward_sweep_bytes(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius,
                           bool with_path) {
  // Rows or diagonals of doubles, plus the start columns of a subsequence sweep.
  double bytes = 10.0 * double(m + n + 2) * sizeof(double) + 3.0 * double(n) * sizeof(std::ptrdiff_t);
  if (with_path) {
    bytes += double(band_cell_count(n, m, radius));        // traceback, 1 byte per cell
    bytes += 2.0 * double(n + m) * sizeof(std::int64_t);  // the path itself
  }
  return bytes;
}

ForwardSweep::ForwardSweep(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius,
                           bool want_dtw, bool with_path, bool want_expected, SweepWorkspace& ws,
                           bool subsequence)
    : n_(n), m_(m), want_dtw_(want_dtw), with_path_(want_dtw && with_path),
      want_expected_(want_expected), subsequence_(subsequence && want_dtw), ws_(ws) {
  check_subsequence_band(subsequence, radius);
  if (subsequence_ && want_expected) {
    // The random paths of a subsequence match run through the columns it spans, known only
    // after this sweep: the caller runs a second sweep for them.
    throw std::logic_error("ForwardSweep: a subsequence sweep computes the DTW only");
  }
  const std::size_t row = static_cast<std::size_t>(m + 1);
  row_ = row;
  ensure(ws.lo, std::size_t(n));
  ensure(ws.hi, std::size_t(n));
  std::ptrdiff_t* lo = ws.lo.data();
  std::ptrdiff_t* hi = ws.hi.data();
  band_limits(n, m, radius, lo, hi);
  full_rows_ = radius < 0 || band_cell_count(n, m, radius) == n * m;

  if (with_path_) {
    ensure(ws.tb_offset, std::size_t(n));
    std::ptrdiff_t total = 0;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      ws.tb_offset[i] = total - lo[i];  // tb[tb_offset[i] + j] is cell (i, j)
      total += hi[i] - lo[i] + 1;
    }
    ensure(ws.tb, std::size_t(total));
  } else {
    ensure(ws.tb, std::size_t(m));  // one scratch row of directions
  }
  // Rows with one sentinel in front (index -1), +inf outside the band of the row they hold.
  if (want_dtw_) {
    ws.d_rows.assign(2 * row, kInf);
    ensure(ws.best_prev, row);
  }
  if (subsequence_) {
    ensure(ws.s_rows, 2 * row);
    ensure(ws.best_start, row);
  }
  if (want_expected_) {
    ensure(ws.g_rows, 2 * row);
    ensure(ws.g_partial, row);
    ensure(ws.p_left, row);
  }
}

void ForwardSweep::push_row(const float* c) {
  SweepWorkspace& ws = ws_;
  const std::ptrdiff_t i = i_++;
  const std::ptrdiff_t m = m_;
  const std::size_t row = row_;
  const bool want_dtw = want_dtw_, want_expected = want_expected_, full_rows = full_rows_;
  const std::ptrdiff_t* lo = ws.lo.data();
  const std::ptrdiff_t* hi = ws.hi.data();
  unsigned char* tb = with_path_ ? ws.tb.data() : nullptr;
  const bool with_path = with_path_;
  double* best_prev = ws.best_prev.data();
  double* g_partial = ws.g_partial.data();
  double* p_left = ws.p_left.data();
  const double a = double(i + 1);
  double* cur = nullptr;
  unsigned char* dir = nullptr;
  std::ptrdiff_t jlo = 0, jhi = -1;
  if (want_dtw) {
    jlo = lo[i];
    jhi = hi[i];
    cur = ws.d_rows.data() + (i & 1) * row + 1;
    const double* prev = ws.d_rows.data() + ((i + 1) & 1) * row + 1;
    if (i >= 2) std::fill(cur + lo[i - 2], cur + hi[i - 2] + 1, kInf);
    dir = with_path ? tb + ws.tb_offset[i] : ws.tb.data();
    if (subsequence_) {
      // The whole row (no band), its start columns carried along (see forward_sweep()).
      std::int64_t* scur = ws.s_rows.data() + (i & 1) * row + 1;
      const std::int64_t* sprev = ws.s_rows.data() + ((i + 1) & 1) * row + 1;
      double left = kInf;
      std::int64_t sleft = 0;
      if (i == 0) {
        // Free start: D(0, j) = C(0, j) + min(0, D(0, j-1)); starting here wins ties.
        for (std::ptrdiff_t j = 0; j < m; ++j) {
          const bool take_left = left < 0.0;
          left = double(c[j]) + std::min(0.0, left);
          sleft = take_left ? sleft : std::int64_t(j);
          cur[j] = left;
          scur[j] = sleft;
          dir[j] = take_left ? kLeft : detail::kStart;
        }
        return;
      }
      std::int64_t* best_start = ws.best_start.data();
      best_prev[0] = prev[0];
      best_start[0] = sprev[0];
      dir[0] = kUp;
      if (m > 1) dtw_prepass_subsequence(prev, sprev, best_prev, best_start, dir, 1, m);
      for (std::ptrdiff_t j = 0; j < m; ++j) {
        const double bp = best_prev[j];
        const bool take_left = left < bp;
        left = double(c[j]) + std::min(bp, left);
        sleft = take_left ? sleft : best_start[j];
        cur[j] = left;
        scur[j] = sleft;
        dir[j] = static_cast<unsigned char>(dir[j] | (static_cast<unsigned char>(take_left) << 1));
      }
      return;
    }
    // Part 1 (no dependency along the row): the better of the diagonal and the upper
    // predecessor, the diagonal winning ties.
    if (i == 0) {
      for (std::ptrdiff_t j = jlo; j <= jhi; ++j) {
        best_prev[j] = kInf;
        dir[j] = kLeft;
      }
      best_prev[0] = 0.0;  // the start cell: D(0, 0) = C(0, 0)
    } else {
      std::ptrdiff_t j = jlo;
      if (j == 0) {
        best_prev[0] = prev[0];
        dir[0] = kUp;
        j = 1;
      }
      if (j <= jhi) dtw_prepass(prev, best_prev, dir, j, jhi + 1);
    }
  }
  double* g = nullptr;
  if (want_expected) {
    g = ws.g_rows.data() + (i & 1) * row + 1;
    const double* gprev = ws.g_rows.data() + ((i + 1) & 1) * row + 1;
    if (i == 0) {
      for (std::ptrdiff_t j = 0; j < m; ++j) {
        g_partial[j] = double(c[j]);
        p_left[j] = 1.0;  // row 1 always moves left
      }
    } else {
      g_partial[0] = double(c[0]) + gprev[0];  // column 1 always moves up
      p_left[0] = 0.0;
      expected_prepass(c, gprev, g_partial, p_left, a, m);
    }
  }
  // Part 2: the serial chains along the row. When both run over the whole row they share one
  // loop, so the two dependency chains overlap.
  auto dtw_step = [&](std::ptrdiff_t j, double& left) {
    // Branch-free, because which predecessor wins is unpredictable on real data: the left move
    // sets bit 1 of the direction (so 2 and 3 both mean "left" in the traceback).
    const double bp = best_prev[j];
    const unsigned char take_left = static_cast<unsigned char>(left < bp);
    left = double(c[j]) + std::min(bp, left);
    cur[j] = left;
    dir[j] = static_cast<unsigned char>(dir[j] | (take_left << 1));
  };
  // The expected-cost chain, G(j) = g_partial(j) + p_left(j) G(j-1). diagonal_sweep()
  // evaluates exactly the same expression per cell, so both kernels agree bit for bit.
  auto g_step = [&](std::ptrdiff_t j, double& gl) {
    gl = g_partial[j] + p_left[j] * gl;
    g[j] = gl;
  };
  if (want_dtw && want_expected && full_rows) {
    double left = cur[-1], gl = 0.0;
    for (std::ptrdiff_t j = 0; j < m; ++j) {
      dtw_step(j, left);
      g_step(j, gl);
    }
  } else {
    if (want_dtw) {
      double left = cur[jlo - 1];
      for (std::ptrdiff_t j = jlo; j <= jhi; ++j) dtw_step(j, left);
    }
    if (want_expected) {
      double gl = 0.0;
      for (std::ptrdiff_t j = 0; j < m; ++j) g_step(j, gl);
    }
  }
}

SweepResult ForwardSweep::finish(std::vector<std::int64_t>* path) {
  SweepWorkspace& ws = ws_;
  const std::ptrdiff_t n = n_, m = m_;
  const std::size_t row = row_;
  const bool want_dtw = want_dtw_, want_expected = want_expected_;
  const bool with_path = with_path_ && path != nullptr;
  const unsigned char* tb = ws.tb.data();
  if (i_ != n) throw std::logic_error("ForwardSweep::finish: not every row was pushed");
  SweepResult result;
  result.end_col = m - 1;
  if (want_dtw) result.dtw_cost = ws.d_rows[std::size_t(((n - 1) & 1) * row + 1 + (m - 1))];
  if (want_expected) result.expected_random = ws.g_rows[std::size_t(((n - 1) & 1) * row + 1 + (m - 1))];
  if (subsequence_) {
    // min_j D(n-1, j), the smallest j on ties.
    const double* last = ws.d_rows.data() + ((n - 1) & 1) * row + 1;
    std::ptrdiff_t best = 0;
    for (std::ptrdiff_t j = 1; j < m; ++j) {
      if (last[j] < last[best]) best = j;
    }
    result.dtw_cost = last[best];
    result.end_col = best;
    result.start_col = std::ptrdiff_t(ws.s_rows[std::size_t(((n - 1) & 1) * row + 1 + best)]);
  }

  if (with_path) {
    detail::trace_path(n, m, [&](std::ptrdiff_t i, std::ptrdiff_t j) { return tb[ws.tb_offset[i] + j]; },
                       *path, result.end_col);
  }
  return result;
}


SweepResult forward_sweep(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                          std::ptrdiff_t ldc, std::ptrdiff_t radius, bool want_dtw,
                          std::vector<std::int64_t>* path, bool want_expected,
                          SweepWorkspace& ws, bool subsequence) {
  check_subsequence_band(subsequence, radius);
  if (radius < 0 || band_cell_count(n, m, radius) == n * m) {
    return diagonal_sweep(cost, n, m, ldc, want_dtw, path, want_expected, ws, subsequence);
  }
  ForwardSweep sweep(n, m, radius, want_dtw, path != nullptr, want_expected, ws);
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    if ((i & 255) == 255) poll_interrupt();  // Ctrl-C in long sweeps (a no-op unless installed)
    sweep.push_row(cost + i * ldc);
  }
  return sweep.finish(path);
}

}  // namespace draqcore
