// The forward sweep over a whole matrix by anti-diagonals (see forward_sweep.hpp).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
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
using detail::kDiag;
using detail::kLeft;
using detail::kUp;


std::ptrdiff_t first_row(std::ptrdiff_t k, std::ptrdiff_t m) { return std::max<std::ptrdiff_t>(0, k - (m - 1)); }
std::ptrdiff_t last_row(std::ptrdiff_t k, std::ptrdiff_t n) { return std::min<std::ptrdiff_t>(n - 1, k); }

// DTW on anti-diagonal k, rows [ilo, ihi]; d2, d1, d0 hold diagonals k-2, k-1, k indexed by row
// (index -1 is a +inf sentinel; entries outside a diagonal's rows are +inf). Same expressions
// as the row kernel: the diagonal wins ties with the upper cell, the left cell wins only when
// strictly better.
inline __attribute__((always_inline)) void dtw_diagonal_scalar(
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

// Eight cells at a time in vector registers (GCC vector types: one AVX-512 operation, two AVX2
// or four SSE2 ones per line), the same operations per cell as the scalar loops. A diagonal of
// at least eight cells is covered by whole blocks, the last one overlapping the one before it
// where the length is not a multiple of eight: a cell's inputs (the two previous diagonals and
// the costs) are never written by its own diagonal, so computing it twice stores the same
// value twice, and nothing outside [ilo, ihi] is written (which the tiles of a parallel sweep
// rely on). The compiler's own vectorisation ended every diagonal with a half-width step and up
// to seven scalar cells: on short diagonals (small pairs, the tiles of a long pair) as costly
// as the vector part.
typedef double V8d __attribute__((vector_size(64)));
typedef float V8f __attribute__((vector_size(32), aligned(4)));
typedef std::int64_t V8i __attribute__((vector_size(64)));
typedef unsigned char V8b __attribute__((vector_size(8)));
typedef double V8du __attribute__((vector_size(64), aligned(8)));   // unaligned loads/stores
typedef std::int64_t V8iu __attribute__((vector_size(64), aligned(8)));
typedef V8b V8bu __attribute__((aligned(1)));

inline __attribute__((always_inline)) V8d load8(const double* p) { return *reinterpret_cast<const V8du*>(p); }
inline __attribute__((always_inline)) void store8(double* p, V8d v) { *reinterpret_cast<V8du*>(p) = v; }
inline __attribute__((always_inline)) V8d load8_cost(const float* p) {
  return __builtin_convertvector(*reinterpret_cast<const V8f*>(p), V8d);
}

// DTW cells i .. i + 7 (dir indexed from the cell i).
inline __attribute__((always_inline)) void dtw_block8(const float* c, const double* d2,
                                                      const double* d1, double* d0,
                                                      unsigned char* dir, std::ptrdiff_t i) {
  const V8d diag = load8(d2 + i - 1), up = load8(d1 + i - 1), left = load8(d1 + i);
  const V8i from_up = up < diag;                  // -1 where true
  const V8d best_prev = from_up ? up : diag;      // std::min(diag, up)
  const V8i take_left = left < best_prev;
  store8(d0 + i, load8_cost(c + i) + (take_left ? left : best_prev));  // + std::min(best_prev, left)
  const V8i code = (from_up & 1) | (take_left & 2);
  *reinterpret_cast<V8bu*>(dir) = __builtin_convertvector(code, V8b);
}

inline __attribute__((always_inline)) void dtw_diagonal_body(
    const float* c, const double* d2, const double* d1, double* d0, unsigned char* dir,
    std::ptrdiff_t ilo, std::ptrdiff_t ihi) {
  if (ihi - ilo + 1 < 8) return dtw_diagonal_scalar(c, d2, d1, d0, dir, ilo, ihi);
  std::ptrdiff_t i = ilo;
  for (; i + 7 <= ihi; i += 8) dtw_block8(c, d2, d1, d0, dir + (i - ilo), i);
  if (i <= ihi) dtw_block8(c, d2, d1, d0, dir + (ihi - 7 - ilo), ihi - 7);
}

// The subsequence DTW on rows [ilo, ihi] (ilo >= 1) of anti-diagonal k: the same expressions,
// and each cell's start column (s2, s1, s0 like d2, d1, d0) taken from the predecessor chosen.
// The buffers never overlap (__restrict: with this many pointers the vectoriser would otherwise
// need more runtime overlap checks than it is willing to emit, and stay scalar).
inline __attribute__((always_inline)) void dtw_subsequence_diagonal_scalar(
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

inline __attribute__((always_inline)) V8i load8i(const std::int64_t* p) { return *reinterpret_cast<const V8iu*>(p); }
inline __attribute__((always_inline)) void store8i(std::int64_t* p, V8i v) { *reinterpret_cast<V8iu*>(p) = v; }

// Subsequence DTW cells i .. i + 7 (see dtw_block8()): comparisons give all-ones masks, which
// blend the start columns as the scalar loop's masks do.
inline __attribute__((always_inline)) void dtw_subsequence_block8(
    const float* c, const double* d2, const double* d1, double* d0, const std::int64_t* s2,
    const std::int64_t* s1, std::int64_t* s0, unsigned char* dir, std::ptrdiff_t i) {
  const V8d diag = load8(d2 + i - 1), up = load8(d1 + i - 1), left = load8(d1 + i);
  const V8i from_up = up < diag;
  const V8d best_prev = from_up ? up : diag;
  const V8i take_left = left < best_prev;
  store8(d0 + i, load8_cost(c + i) + (take_left ? left : best_prev));
  const V8i s_up = load8i(s1 + i - 1), s_diag = load8i(s2 + i - 1), s_left = load8i(s1 + i);
  const V8i best_start = s_diag ^ ((s_diag ^ s_up) & from_up);
  store8i(s0 + i, best_start ^ ((best_start ^ s_left) & take_left));
  const V8i code = (from_up & 1) | (take_left & 2);
  *reinterpret_cast<V8bu*>(dir) = __builtin_convertvector(code, V8b);
}

inline __attribute__((always_inline)) void dtw_subsequence_diagonal_body(
    const float* c, const double* d2, const double* d1, double* d0, const std::int64_t* s2,
    const std::int64_t* s1, std::int64_t* s0, unsigned char* dir, std::ptrdiff_t ilo,
    std::ptrdiff_t ihi) {
  if (ihi - ilo + 1 < 8) {
    return dtw_subsequence_diagonal_scalar(c, d2, d1, d0, s2, s1, s0, dir, ilo, ihi);
  }
  std::ptrdiff_t i = ilo;
  for (; i + 7 <= ihi; i += 8) dtw_subsequence_block8(c, d2, d1, d0, s2, s1, s0, dir + (i - ilo), i);
  if (i <= ihi) dtw_subsequence_block8(c, d2, d1, d0, s2, s1, s0, dir + (ihi - 7 - ilo), ihi - 7);
}

// Expected cost-to-go on the interior cells (i >= 1, j = k - i >= 1) of diagonal k.
inline __attribute__((always_inline)) void expected_diagonal_scalar(
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

// Expected cost-to-go of cells i .. i + 7 (see dtw_block8()); a and b are small integers, exact
// in double whether converted one by one or stepped from the first.
inline __attribute__((always_inline)) void expected_block8(const float* c, const double* g2,
                                                           const double* g1, double* g0,
                                                           std::ptrdiff_t i, std::ptrdiff_t k) {
  const V8d step = {0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0};
  const V8d a = double(i + 1) + step, b = double(k - i + 1) - step;
  const V8d inv = 1.0 / (a * a + a * b + b * b);
  const V8d partial = load8_cost(c + i) + (a * a * load8(g1 + i - 1) + a * b * load8(g2 + i - 1)) * inv;
  store8(g0 + i, partial + b * b * inv * load8(g1 + i));
}

inline __attribute__((always_inline)) void expected_diagonal_body(
    const float* c, const double* g2, const double* g1, double* g0, std::ptrdiff_t ilo,
    std::ptrdiff_t ihi, std::ptrdiff_t k) {
  if (ihi - ilo + 1 < 8) return expected_diagonal_scalar(c, g2, g1, g0, ilo, ihi, k);
  std::ptrdiff_t i = ilo;
  for (; i + 7 <= ihi; i += 8) expected_block8(c, g2, g1, g0, i, k);
  if (i <= ihi) expected_block8(c, g2, g1, g0, ihi - 7, k);
}

// The costs of cells (i, k - i), rows [lo, hi], into cd[lo..hi]: one pointer walking the
// anti-diagonal (a step of ldc - 1 floats), four cells per step (an index multiply per cell and
// no unrolling had cost more than the DTW's own per-cell work on small matrices).
inline void gather_diagonal(const float* cost, std::ptrdiff_t ldc, std::ptrdiff_t k,
                            std::ptrdiff_t lo, std::ptrdiff_t hi, float* cd) {
  const std::ptrdiff_t step = ldc - 1;
  const float* p = cost + lo * ldc + (k - lo);
  std::ptrdiff_t i = lo;
  for (; i + 3 <= hi; i += 4, p += 4 * step) {
    cd[i] = p[0];
    cd[i + 1] = p[step];
    cd[i + 2] = p[2 * step];
    cd[i + 3] = p[3 * step];
  }
  for (; i <= hi; ++i, p += step) cd[i] = *p;
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

// The diagonals a sweep keeps: three slots (k, k-1, k-2) of doubles per recurrence, indexed by
// row with one sentinel slot in front (row -1) and one behind (row n). A serial sweep has one
// ring; a tiled sweep one per thread.
struct Ring {
  double* d = nullptr;        // DTW
  double* g = nullptr;        // expected cost-to-go
  std::int64_t* s = nullptr;  // subsequence start columns
  float* cd = nullptr;        // the costs of the diagonal being swept, indexed by row
  unsigned char* scratch = nullptr;  // directions when no path is kept, indexed by row
  std::ptrdiff_t stride = 0;
  std::ptrdiff_t slot(std::ptrdiff_t k) const {  // k >= -3; an unsigned modulo is cheaper
    return std::ptrdiff_t(std::size_t(k + 3) % 3u) * stride + 1;
  }
  double* D(std::ptrdiff_t k) const { return d + slot(k); }
  double* G(std::ptrdiff_t k) const { return g + slot(k); }
  std::int64_t* S(std::ptrdiff_t k) const { return s + slot(k); }
};

// Rings for `threads` threads out of the workspace (the DTW diagonals +inf, the others 0).
std::vector<Ring> make_rings(SweepWorkspace& ws, std::ptrdiff_t n, int threads, bool want_dtw,
                             bool want_expected, bool subsequence) {
  const std::size_t stride = static_cast<std::size_t>(n + 2), per = 3 * stride;
  const std::size_t count = static_cast<std::size_t>(threads);
  if (want_dtw) ws.d_rows.assign(count * per, kInf);
  if (want_expected) ws.g_rows.assign(count * per, 0.0);
  if (subsequence) ws.s_rows.assign(count * per, 0);
  ws.diag_cost.resize(std::max(ws.diag_cost.size(), count * std::size_t(n)));
  ws.dir_scratch.resize(std::max(ws.dir_scratch.size(), count * std::size_t(n)));
  std::vector<Ring> rings(count);
  for (std::size_t t = 0; t < count; ++t) {
    Ring& r = rings[t];
    r.stride = std::ptrdiff_t(stride);
    if (want_dtw) r.d = ws.d_rows.data() + t * per;
    if (want_expected) r.g = ws.g_rows.data() + t * per;
    if (subsequence) r.s = ws.s_rows.data() + t * per;
    r.cd = ws.diag_cost.data() + t * std::size_t(n);
    r.scratch = ws.dir_scratch.data() + t * std::size_t(n);
  }
  return rings;
}

// Traceback storage of a whole-matrix sweep with a path: one direction byte per cell, diagonal
// k starting at ws.tb_offset[k].
void reserve_traceback(SweepWorkspace& ws, std::ptrdiff_t n, std::ptrdiff_t m) {
  const std::ptrdiff_t diagonals = n + m - 1;
  if (ws.tb_offset.size() < std::size_t(diagonals)) ws.tb_offset.resize(std::size_t(diagonals));
  std::ptrdiff_t total = 0;
  for (std::ptrdiff_t k = 0; k < diagonals; ++k) {
    ws.tb_offset[k] = total;
    total += last_row(k, n) - first_row(k, m) + 1;
  }
  if (ws.tb.size() < std::size_t(total)) ws.tb.resize(std::size_t(total));
}

// Tiles of a tiled sweep: rows a multiple of `row_multiple` (the cost kernel's panel width, so
// a cost tile can enter the packed query at its first row), about 1/8 of each side and at
// most 256 x 256 cells -- enough tiles that the wavefront of sweeps keeps up with the cost
// tiles on a few threads, few enough that a tile's GEMM runs at full speed.
struct TileShape {
  std::ptrdiff_t rows, cols, ni, nj;
};

std::ptrdiff_t tile_side(std::ptrdiff_t len, std::ptrdiff_t multiple) {
  const std::ptrdiff_t want = std::min<std::ptrdiff_t>(256, std::max<std::ptrdiff_t>(64, (len + 7) / 8));
  return std::max<std::ptrdiff_t>(multiple, (want + multiple - 1) / multiple * multiple);
}

TileShape tile_shape(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t row_multiple) {
  TileShape s;
  s.rows = tile_side(n, std::max<std::ptrdiff_t>(1, row_multiple));
  s.cols = tile_side(m, 16);
  s.ni = (n + s.rows - 1) / s.rows;
  s.nj = (m + s.cols - 1) / s.cols;
  return s;
}

// The cells a tile reads outside itself, in a tiled sweep: `h` has (ni + 1) rows of m + 1
// entries, row I + 1 the last row of tile row I (entry j + 1 is column j, entry 0 column -1)
// and row 0 the row above the matrix; `v` has, for every row, the last column swept so far
// (before a row's first tile: the column left of the matrix). Outside the matrix the DTW
// reads +inf; the other recurrences never read there (0). Allocated only for several threads.
class TileEdges {
 public:
  TileEdges(SweepWorkspace& ws, const TileShape& s, std::ptrdiff_t n, std::ptrdiff_t m,
            bool tiled, bool want_dtw, bool want_expected, bool subsequence)
      : width_(m + 1), ni_(s.ni) {
    if (!tiled) return;
    const std::size_t h = static_cast<std::size_t>((s.ni + 1) * width_), size = h + std::size_t(n);
    if (want_dtw) {
      ws.edge_d.assign(size, kInf);
      hd_ = ws.edge_d.data();
      vd_ = hd_ + h;
    }
    if (want_expected) {
      ws.edge_g.assign(size, 0.0);
      hg_ = ws.edge_g.data();
      vg_ = hg_ + h;
    }
    if (subsequence) {
      ws.edge_s.assign(size, 0);
      hs_ = ws.edge_s.data();
      vs_ = hs_ + h;
    }
  }

  // Before diagonal k of tile (I, ...) with rows [i0, i1], columns [j0, j1] reads them: its
  // cells above the tile (row i0 - 1, columns j0 - 1 .. j1) and left of it (column j0 - 1).
  void load(std::ptrdiff_t k, std::ptrdiff_t I, std::ptrdiff_t i0, std::ptrdiff_t i1,
            std::ptrdiff_t j0, std::ptrdiff_t j1, const Ring& r) const {
    const std::ptrdiff_t jt = k - i0 + 1;
    if (jt >= j0 - 1 && jt <= j1) {
      const std::size_t e = static_cast<std::size_t>(I * width_ + jt + 1);
      if (hd_) r.D(k)[i0 - 1] = hd_[e];
      if (hg_) r.G(k)[i0 - 1] = hg_[e];
      if (hs_) r.S(k)[i0 - 1] = hs_[e];
    }
    const std::ptrdiff_t il = k - j0 + 1;
    if (il >= i0 && il <= i1) {
      if (vd_) r.D(k)[il] = vd_[il];
      if (vg_) r.G(k)[il] = vg_[il];
      if (vs_) r.S(k)[il] = vs_[il];
    }
  }

  // After diagonal k's cells [lo, hi] of a tile with last row i1 and last column j1: its cells
  // on that row and column.
  void store(std::ptrdiff_t k, std::ptrdiff_t I, std::ptrdiff_t lo, std::ptrdiff_t hi,
             std::ptrdiff_t i1, std::ptrdiff_t j1, const Ring& r) const {
    if (hi == i1) {
      const std::size_t e = static_cast<std::size_t>((I + 1) * width_ + (k - i1) + 1);
      if (hd_) hd_[e] = r.D(k)[i1];
      if (hg_) hg_[e] = r.G(k)[i1];
      if (hs_) hs_[e] = r.S(k)[i1];
    }
    if (lo == k - j1) {
      if (vd_) vd_[lo] = r.D(k)[lo];
      if (vg_) vg_[lo] = r.G(k)[lo];
      if (vs_) vs_[lo] = r.S(k)[lo];
    }
  }

  double bottom_d(std::ptrdiff_t j) const { return hd_[std::size_t(ni_ * width_ + j + 1)]; }
  double bottom_g(std::ptrdiff_t j) const { return hg_[std::size_t(ni_ * width_ + j + 1)]; }

 private:
  std::ptrdiff_t width_, ni_;
  double *hd_ = nullptr, *vd_ = nullptr, *hg_ = nullptr, *vg_ = nullptr;
  std::int64_t *hs_ = nullptr, *vs_ = nullptr;
};

struct alignas(64) TileRow {
  std::atomic<std::ptrdiff_t> swept{0};  // tiles of this row swept so far (left to right)
  std::atomic<int> busy{0};              // a thread is sweeping this row's next tile
};

// Waiting for work that another thread is finishing: a short spin, then yields, then short
// sleeps, so an idle thread never holds a core for long.
void back_off(int round) {
  if (round < 64) {
#if defined(__x86_64__) || defined(__i386__)
    for (int p = 0; p < 16; ++p) __builtin_ia32_pause();
#endif
  } else if (round < 256) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// Calls part(k, lo, hi, ring) for the cells in rows [lo, hi] of anti-diagonal k, such that
// every cell is computed after the cells it reads.
//
// Serial (one thread, or a small matrix): diagonal after diagonal, edge(k, row, ring) marking
// the rows just outside each diagonal.
//
// Tiled (several threads): the matrix is cut into tiles (tile_shape()), and the work is a task
// graph of two kinds of tasks: "fill the costs of tile (I, J)" (when `fill` is given) and
// "sweep tile (I, J)", ready once its costs are filled and tiles (I-1, J) and (I, J-1) are
// swept. A tile is swept by anti-diagonals with three diagonals of its own thread's ring; the
// cells it reads outside itself -- the last row of the tile above and the last column of the
// tile to the left -- come from `edges`, where each tile leaves its own last row and column
// (TileEdges). Every cell is computed by the same expressions from the same
// inputs as in the serial sweep, so results are bit-identical.
// Threads pull tasks (atomics only, no locks): first the sweep of the topmost tile row whose
// next tile is ready (the wavefront never waits for a filled tile), else the next cost tile in
// anti-diagonal order of tiles (the order the wavefront consumes them). A thread descheduled
// on a busy machine holds up only the tile it is working on. Polls for Ctrl-C on the calling
// thread between tasks and throws interrupted after the region.
template <class Part, class Edge>
void run_diagonals(std::ptrdiff_t n, std::ptrdiff_t m, int threads, const TileShape& shape,
                   const TileFill* fill, std::vector<Ring>& rings, const TileEdges& edges,
                   Part&& part, Edge&& edge) {
  const std::ptrdiff_t diagonals = n + m - 1;
  if (threads <= 1) {
    if (fill) (*fill)(0, n, 0, m);
    Ring& r = rings[0];
    for (std::ptrdiff_t k = 0; k < diagonals; ++k) {
      if ((k & 255) == 255) poll_interrupt();  // Ctrl-C in long sweeps (a no-op unless installed)
      const std::ptrdiff_t ilo = first_row(k, m), ihi = last_row(k, n);
      part(k, ilo, ihi, r);
      edge(k, ilo - 1, r);
      edge(k, ihi + 1, r);
    }
    return;
  }
  const std::ptrdiff_t R = shape.rows, C = shape.cols, NI = shape.ni, NJ = shape.nj;
  const std::ptrdiff_t tiles = NI * NJ;
  std::vector<TileRow> rows(static_cast<std::size_t>(NI));
  std::vector<std::atomic<unsigned char>> filled(static_cast<std::size_t>(tiles));
  for (auto& f : filled) f.store(fill ? 0 : 1, std::memory_order_relaxed);
  // Cost tiles in anti-diagonal order of tiles, top row first within a diagonal.
  std::vector<std::ptrdiff_t> order;
  if (fill) {
    order.reserve(static_cast<std::size_t>(tiles));
    for (std::ptrdiff_t s = 0; s < NI + NJ - 1; ++s) {
      for (std::ptrdiff_t I = std::max<std::ptrdiff_t>(0, s - (NJ - 1)); I <= std::min(s, NI - 1); ++I) {
        order.push_back(I * NJ + (s - I));
      }
    }
  }
  std::atomic<std::ptrdiff_t> next_fill{0};
  std::atomic<bool> stop{false};
  std::exception_ptr first_error;

  auto sweep_tile = [&](std::ptrdiff_t I, std::ptrdiff_t J, Ring& r) {
    const std::ptrdiff_t i0 = I * R, i1 = std::min(n, i0 + R) - 1;
    const std::ptrdiff_t j0 = J * C, j1 = std::min(m, j0 + C) - 1;
    edges.load(i0 + j0 - 2, I, i0, i1, j0, j1, r);
    edges.load(i0 + j0 - 1, I, i0, i1, j0, j1, r);
    for (std::ptrdiff_t k = i0 + j0; k <= i1 + j1; ++k) {
      const std::ptrdiff_t lo = std::max(i0, k - j1), hi = std::min(i1, k - j0);
      part(k, lo, hi, r);
      edges.load(k, I, i0, i1, j0, j1, r);  // rows i0 - 1 and k - j0 + 1: outside [lo, hi]
      edges.store(k, I, lo, hi, i1, j1, r);
    }
  };

  auto worker = [&](int t) {
    Ring& r = rings[static_cast<std::size_t>(t)];
    int idle = 0;
    try {
      while (!stop.load(std::memory_order_relaxed)) {
        if (t == 0 && poll_interrupt_into(stop)) break;
        bool worked = false;
        for (std::ptrdiff_t I = 0; I < NI && !worked; ++I) {
          TileRow& row = rows[std::size_t(I)];
          const std::ptrdiff_t J = row.swept.load(std::memory_order_acquire);
          if (J >= NJ || row.busy.load(std::memory_order_relaxed)) continue;
          if (!filled[std::size_t(I * NJ + J)].load(std::memory_order_acquire)) continue;
          if (I > 0 && rows[std::size_t(I - 1)].swept.load(std::memory_order_acquire) <= J) continue;
          int expected = 0;
          if (!row.busy.compare_exchange_strong(expected, 1, std::memory_order_acquire)) continue;
          if (row.swept.load(std::memory_order_acquire) == J) {  // nobody swept it meanwhile
            sweep_tile(I, J, r);
            row.swept.store(J + 1, std::memory_order_release);
            worked = true;
          }
          row.busy.store(0, std::memory_order_release);
        }
        if (!worked && fill) {
          const std::ptrdiff_t f = next_fill.load(std::memory_order_relaxed) < tiles
                                       ? next_fill.fetch_add(1, std::memory_order_relaxed)
                                       : tiles;
          if (f < tiles) {
            const std::ptrdiff_t tile = order[std::size_t(f)];
            const std::ptrdiff_t i0 = (tile / NJ) * R, j0 = (tile % NJ) * C;
            (*fill)(i0, std::min(R, n - i0), j0, std::min(C, m - j0));
            filled[std::size_t(tile)].store(1, std::memory_order_release);
            worked = true;
          }
        }
        if (worked) {
          idle = 0;
        } else if (rows[std::size_t(NI - 1)].swept.load(std::memory_order_acquire) >= NJ) {
          break;
        } else {
          back_off(idle++);
        }
      }
    } catch (...) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp critical(draqcore_tiled_sweep_error)
#endif
      if (!first_error) first_error = std::current_exception();
      stop.store(true);
    }
  };
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel num_threads(threads)
  worker(omp_get_thread_num());
#else
  worker(0);
#endif
  if (first_error) std::rethrow_exception(first_error);
  if (stop.load()) throw interrupted();
}

// Threads of a whole-matrix sweep: all of them on a matrix of at least 2^20 cells when the
// sweep also computes the costs (`with_fill`: the tiles' GEMM dominates, and smaller pairs get
// a parallel cost block and then this), 2^18 cells when it only sweeps (e.g. the expected cost
// over a subsequence match's columns: 1024 x 531 cells took 1.05 ms on one thread, ~0.3 ms
// less on two), else 1. A forked child or threads == 1 gives 1.
constexpr double kTiledFillCells = double(1 << 20), kTiledSweepCells = double(1 << 18);
int sweep_threads(std::ptrdiff_t n, std::ptrdiff_t m, int threads, bool with_fill) {
  // Sizes before resolve_threads(), which is a system call.
  if (double(n) * double(m) < (with_fill ? kTiledFillCells : kTiledSweepCells)) return 1;
  return std::max(1, resolve_threads(threads));
}

// Subsequence DTW by anti-diagonals (see forward_sweep()): row 0 has a free start, the answer
// is the smallest D on row n-1, and every cell carries the start column of its best path.
SweepResult diagonal_sweep_subsequence(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                                       std::ptrdiff_t ldc, std::vector<std::int64_t>* path,
                                       SweepWorkspace& ws, int threads, const TileFill* fill,
                                       std::ptrdiff_t row_multiple) {
  const bool with_path = path != nullptr;
  const int team = sweep_threads(n, m, threads, fill != nullptr);
  std::vector<Ring> rings = make_rings(ws, n, team, true, false, true);
  if (with_path) reserve_traceback(ws, n, m);
  SweepResult result;
  std::ptrdiff_t best_end = -1;
  double best = kInf;
  std::int64_t best_start = 0;

  // Rows [lo, hi] of diagonal k; the part holding row n-1 also updates the best end (the
  // cells of row n-1 are swept in order of their column, by one thread at a time).
  auto diagonal_part = [&](std::ptrdiff_t k, std::ptrdiff_t lo, std::ptrdiff_t hi, const Ring& r) {
    const std::ptrdiff_t ilo = first_row(k, m);
    float* cd = r.cd;
    gather_diagonal(cost, ldc, k, lo, hi, cd);
    double* d0 = r.D(k);
    const double* d1 = r.D(k - 1);
    const double* d2 = r.D(k - 2);
    std::int64_t* s0 = r.S(k);
    const std::int64_t* s1 = r.S(k - 1);
    const std::int64_t* s2 = r.S(k - 2);
    // Without a path the directions go to a scratch row of this thread, indexed by row.
    unsigned char* dir = with_path ? ws.tb.data() + ws.tb_offset[k] : r.scratch + ilo;
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
  auto sentinel = [&](std::ptrdiff_t k, std::ptrdiff_t row, const Ring& r) { r.D(k)[row] = kInf; };
  const TileShape shape = tile_shape(n, m, row_multiple);
  const TileEdges edges(ws, shape, n, m, team > 1, true, false, true);
  run_diagonals(n, m, team, shape, fill, rings, edges, diagonal_part, sentinel);
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

bool tiled_sweep_applies(std::ptrdiff_t n, std::ptrdiff_t m, int threads) {
  return sweep_threads(n, m, threads, true) > 1;
}

double tiled_sweep_bytes(std::ptrdiff_t n, std::ptrdiff_t m, int threads) {
  const int team = sweep_threads(n, m, threads, false);  // the lower size: an upper bound
  if (team <= 1) return 0.0;
  // Tile rows are at least 64 (and a multiple of the cost kernel's panel, at most 32) rows.
  const double edges = (double(n) / 64.0 + 2.0) * double(m + 1) + double(n);
  // D, G, S per edge entry; per thread 3 diagonals of each, the diagonal's costs and directions.
  return 3.0 * 8.0 * edges + double(team) * (3.0 * 3.0 * 8.0 * double(n + 2) + 5.0 * double(n));
}

SweepResult diagonal_sweep_parallel(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                                    std::ptrdiff_t ldc, bool want_dtw,
                                    std::vector<std::int64_t>* path, bool want_expected,
                                    SweepWorkspace& ws, int threads, bool subsequence,
                                    const TileFill* fill, std::ptrdiff_t row_multiple) {
  if (!want_dtw) subsequence = false;
  if (subsequence && want_expected) {
    throw std::logic_error("diagonal_sweep: a subsequence sweep computes the DTW only");
  }
  if (subsequence) {
    return diagonal_sweep_subsequence(cost, n, m, ldc, path, ws, threads, fill, row_multiple);
  }
  const bool with_path = want_dtw && path != nullptr;
  const int team = sweep_threads(n, m, threads, fill != nullptr);
  std::vector<Ring> rings = make_rings(ws, n, team, want_dtw, want_expected, false);
  if (with_path) reserve_traceback(ws, n, m);

  // Cells [lo, hi] of anti-diagonal k (a part of its rows [ilo, ihi], or all of them). Parts of
  // one diagonal touch disjoint entries of every buffer, so threads may compute them at once.
  auto diagonal_part = [&](std::ptrdiff_t k, std::ptrdiff_t lo, std::ptrdiff_t hi, const Ring& r) {
    const std::ptrdiff_t ilo = first_row(k, m);
    float* cd = r.cd;
    gather_diagonal(cost, ldc, k, lo, hi, cd);
    double *d0 = nullptr, *g0 = nullptr;
    const double *d1 = nullptr, *d2 = nullptr, *g1 = nullptr, *g2 = nullptr;
    unsigned char* dir = nullptr;
    std::ptrdiff_t glo = lo, ghi = hi;  // interior cells of the expected-cost recurrence
    if (want_dtw) {
      d0 = r.D(k);
      d1 = r.D(k - 1);
      d2 = r.D(k - 2);
      // Without a path the directions go to a scratch row of this thread, indexed by row.
      dir = (with_path ? ws.tb.data() + ws.tb_offset[k] : r.scratch + ilo) + (lo - ilo);
    }
    if (want_expected) {
      g0 = r.G(k);
      g1 = r.G(k - 1);
      g2 = r.G(k - 2);
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
  auto sentinel = [&](std::ptrdiff_t k, std::ptrdiff_t row, const Ring& r) {
    if (want_dtw) r.D(k)[row] = kInf;
  };
  const TileShape shape = tile_shape(n, m, row_multiple);
  const TileEdges edges(ws, shape, n, m, team > 1, want_dtw, want_expected, false);
  run_diagonals(n, m, team, shape, fill, rings, edges, diagonal_part, sentinel);

  SweepResult result;
  result.end_col = m - 1;
  if (team <= 1) {
    const std::ptrdiff_t last = n + m - 2;
    if (want_dtw) result.dtw_cost = rings[0].D(last)[n - 1];
    if (want_expected) result.expected_random = rings[0].G(last)[n - 1];
  } else {
    if (want_dtw) result.dtw_cost = edges.bottom_d(m - 1);
    if (want_expected) result.expected_random = edges.bottom_g(m - 1);
  }
  if (with_path) {
    detail::trace_path(n, m, [&](std::ptrdiff_t i, std::ptrdiff_t j) {
      const std::ptrdiff_t k = i + j;
      return ws.tb[std::size_t(ws.tb_offset[k] + i - first_row(k, m))];
    }, *path);
  }
  return result;
}

}  // namespace draqcore
