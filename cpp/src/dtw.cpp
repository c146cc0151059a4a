#include "draqcore/dtw.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "draqcore/config.hpp"
#include "draqcore/forward_sweep.hpp"

namespace draqcore {

namespace {
// floor(p / q) and ceil(p / q) for q > 0 and any sign of p.
inline std::int64_t floor_div(std::int64_t p, std::int64_t q) {
  return p >= 0 ? p / q : -((-p + q - 1) / q);
}
inline std::int64_t ceil_div(std::int64_t p, std::int64_t q) {
  return p >= 0 ? (p + q - 1) / q : -((-p) / q);
}
}  // namespace

void band_limits(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius, std::ptrdiff_t* lo,
                 std::ptrdiff_t* hi) {
  const std::int64_t N = n - 1, M = m - 1;
  if (radius < 0 || N == 0 || M == 0 || radius >= std::max(n, m)) {
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      lo[i] = 0;
      hi[i] = m - 1;
    }
    return;
  }
  // |2 (j N - i M)| <= B  <=>  (2 i M - B) / (2 N) <= j <= (2 i M + B) / (2 N)
  const std::int64_t B = std::max<std::int64_t>(2 * std::int64_t(radius) * std::min(N, M),
                                                std::max(N, M));
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const std::int64_t c = 2 * std::int64_t(i) * M;
    lo[i] = std::ptrdiff_t(std::max<std::int64_t>(0, ceil_div(c - B, 2 * N)));
    hi[i] = std::ptrdiff_t(std::min<std::int64_t>(M, floor_div(c + B, 2 * N)));
  }
}

std::ptrdiff_t band_cell_count(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius) {
  if (radius < 0 || n == 1 || m == 1 || radius >= std::max(n, m)) return n * m;
  std::ptrdiff_t total = 0;
  const std::int64_t N = n - 1, M = m - 1;
  const std::int64_t B = std::max<std::int64_t>(2 * std::int64_t(radius) * std::min(N, M),
                                                std::max(N, M));
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const std::int64_t c = 2 * std::int64_t(i) * M;
    const std::int64_t lo = std::max<std::int64_t>(0, ceil_div(c - B, 2 * N));
    const std::int64_t hi = std::min<std::int64_t>(M, floor_div(c + B, 2 * N));
    total += std::ptrdiff_t(hi - lo + 1);
  }
  return total;
}

void check_finite(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                  const char* name) {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const float* row = cost + i * ldc;
    // NaN and Inf are the floats whose exponent bits are all ones: an integer test that
    // vectorises (a float comparison chain would not, without -ffast-math).
    std::uint32_t bad = 0;
    for (std::ptrdiff_t j = 0; j < m; ++j) {
      std::uint32_t bits;
      std::memcpy(&bits, row + j, sizeof bits);
      bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (bad) {
      for (std::ptrdiff_t j = 0; j < m; ++j) {
        if (!std::isfinite(row[j])) {
          throw std::invalid_argument(std::string(name) + ": entry (" + std::to_string(i) + ", " +
                                      std::to_string(j) + ") is NaN or Inf");
        }
      }
    }
  }
}

double dtw_working_bytes(std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t radius,
                         bool with_path) {
  return forward_sweep_bytes(n, m, radius, with_path);
}

double dtw(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
           std::ptrdiff_t radius, std::vector<std::int64_t>* path, bool subsequence,
           std::ptrdiff_t* span) {
  check_subsequence_band(subsequence, radius);
  check_memory(dtw_working_bytes(n, m, radius, path != nullptr), "dtw");
  SweepWorkspace ws;
  const SweepResult r = forward_sweep(cost, n, m, ldc, radius, true, path, false, ws, subsequence);
  if (span != nullptr) {
    span[0] = r.start_col;
    span[1] = r.end_col;
  }
  return r.dtw_cost;
}

}  // namespace draqcore
