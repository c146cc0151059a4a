#include "draqcore/dtw.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

#include "draqcore/config.hpp"

namespace draqcore {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// floor(p / q) and ceil(p / q) for q > 0 and any sign of p.
inline std::int64_t floor_div(std::int64_t p, std::int64_t q) {
  return p >= 0 ? p / q : -((-p + q - 1) / q);
}
inline std::int64_t ceil_div(std::int64_t p, std::int64_t q) {
  return p >= 0 ? (p + q - 1) / q : -((-p) / q);
}

enum Step : unsigned char { kDiag = 0, kUp = 1, kLeft = 2 };
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
    float acc = 0.0f;
    for (std::ptrdiff_t j = 0; j < m; ++j) acc += row[j] * 0.0f;  // NaN iff a NaN/Inf is present
    if (acc != 0.0f) {
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
  double bytes = 2.0 * double(m) * sizeof(double) + 3.0 * double(n) * sizeof(std::ptrdiff_t);
  if (with_path) {
    bytes += double(band_cell_count(n, m, radius));         // traceback, 1 byte per cell
    bytes += 2.0 * double(n + m) * sizeof(std::int64_t);   // the path itself
  }
  return bytes;
}

double dtw(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
           std::ptrdiff_t radius, std::vector<std::int64_t>* path) {
  check_memory(dtw_working_bytes(n, m, radius, path != nullptr), "dtw");
  std::vector<std::ptrdiff_t> lo(static_cast<std::size_t>(n)), hi(static_cast<std::size_t>(n));
  band_limits(n, m, radius, lo.data(), hi.data());

  std::vector<std::ptrdiff_t> tb_offset;
  std::vector<unsigned char> tb;
  if (path) {
    tb_offset.resize(static_cast<std::size_t>(n));
    std::ptrdiff_t total = 0;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      tb_offset[i] = total - lo[i];  // tb[tb_offset[i] + j] is cell (i, j)
      total += hi[i] - lo[i] + 1;
    }
    tb.resize(static_cast<std::size_t>(total));
  }

  // Two rolling rows of D, +inf outside the band of the row they hold.
  std::vector<double> rows(static_cast<std::size_t>(2 * m), kInf);
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    double* cur = rows.data() + (i & 1) * m;
    const double* prev = rows.data() + ((i + 1) & 1) * m;
    if (i >= 2) std::fill(cur + lo[i - 2], cur + hi[i - 2] + 1, kInf);
    const float* c = cost + i * ldc;
    unsigned char* step = path ? tb.data() + tb_offset[i] : nullptr;
    for (std::ptrdiff_t j = lo[i]; j <= hi[i]; ++j) {
      double best;
      unsigned char dir;
      if (i == 0) {
        best = j == 0 ? 0.0 : cur[j - 1];
        dir = kLeft;
      } else if (j == 0) {
        best = prev[0];
        dir = kUp;
      } else {
        best = prev[j - 1];
        dir = kDiag;
        if (prev[j] < best) {
          best = prev[j];
          dir = kUp;
        }
        if (cur[j - 1] < best) {
          best = cur[j - 1];
          dir = kLeft;
        }
      }
      cur[j] = double(c[j]) + best;
      if (step) step[j] = dir;
    }
  }
  const double total = rows[static_cast<std::size_t>(((n - 1) & 1) * m + (m - 1))];

  if (path) {
    path->clear();
    path->reserve(static_cast<std::size_t>(2 * (n + m)));
    std::ptrdiff_t i = n - 1, j = m - 1;
    while (true) {
      path->push_back(i);
      path->push_back(j);
      if (i == 0 && j == 0) break;
      switch (tb[static_cast<std::size_t>(tb_offset[i] + j)]) {
        case kDiag: --i; --j; break;
        case kUp: --i; break;
        default: --j; break;
      }
    }
    // Reverse the (i, j) pairs so the path runs from (0, 0) to (n-1, m-1).
    const std::size_t L = path->size() / 2;
    for (std::size_t a = 0, b = L - 1; a < b; ++a, --b) {
      std::swap((*path)[2 * a], (*path)[2 * b]);
      std::swap((*path)[2 * a + 1], (*path)[2 * b + 1]);
    }
  }
  return total;
}

}  // namespace draqcore
