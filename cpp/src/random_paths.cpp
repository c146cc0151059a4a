#include "draqcore/random_paths.hpp"

#include <utility>
#include <vector>

#include "draqcore/config.hpp"

namespace draqcore {

namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += kGolden;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

inline std::uint64_t path_key(std::uint64_t seed, std::uint64_t stream, std::uint64_t path) {
  return splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ path);
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform(std::uint64_t key, std::uint64_t step) {
  return double(splitmix64(key + step * kGolden) >> 11) * 0x1.0p-53;
}

}  // namespace

double expected_random_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                            std::ptrdiff_t ldc) {
  check_memory(2.0 * double(m + 2) * sizeof(double), "expected_random_cost");
  // Rows indexed by 1-based j in [1, m + 1]; entry m + 1 stays 0 (outside the matrix).
  std::vector<double> next(static_cast<std::size_t>(m + 2), 0.0);  // row i + 1
  std::vector<double> cur(static_cast<std::size_t>(m + 2), 0.0);   // row i
  double expectation = 0.0;
  for (std::ptrdiff_t i = n; i >= 1; --i) {
    const double a = double(i), a1 = double(i + 1);
    const float* crow = cost + (i - 1) * ldc;
    cur[static_cast<std::size_t>(m + 1)] = 0.0;
    double row_sum = 0.0;
    for (std::ptrdiff_t j = m; j >= 1; --j) {
      const double b = double(j), b1 = double(j + 1);
      double v = (i == n && j == m) ? 1.0 : 0.0;
      // From (i+1, j+1) diagonally and from (i+1, j) upwards: only exist when i < n, and the
      // source is an interior cell unless it sits on column 1 (then it only moves up).
      if (i < n) {
        if (j < m) v += next[j + 1] * (a1 * b1) / (a1 * a1 + a1 * b1 + b1 * b1);
        v += next[j] * (j == 1 ? 1.0 : (a1 * a1) / (a1 * a1 + a1 * b + b * b));
      }
      // From (i, j+1) leftwards: the source is interior unless it sits on row 1.
      if (j < m) v += cur[j + 1] * (i == 1 ? 1.0 : (b1 * b1) / (a * a + a * b1 + b1 * b1));
      cur[j] = v;
      row_sum += v * double(crow[j - 1]);
    }
    expectation += row_sum;
    next.swap(cur);
  }
  return expectation;
}

// Walks one random path from (n, m) to (1, 1) (1-based), calling visit(i, j) for every cell,
// both ends included. The single definition of the sampler: costs and cell lists both use it.
template <class Visit>
inline void walk_random_path(std::ptrdiff_t n, std::ptrdiff_t m, std::uint64_t key, Visit&& visit) {
  std::ptrdiff_t i = n, j = m;
  visit(i, j);
  std::uint64_t step = 0;
  while (i > 1 && j > 1) {
    const double a = double(i), b = double(j);
    const double u = uniform(key, step++) * (a * a + a * b + b * b);
    if (u < a * a) {
      --i;
    } else if (u < a * a + a * b) {
      --i;
      --j;
    } else {
      --j;
    }
    visit(i, j);
  }
  // On row 1 or column 1 the rest of the path is forced.
  while (j > 1) visit(i, --j);
  while (i > 1) visit(--i, j);
}

double random_path_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                        std::uint64_t seed, std::uint64_t stream, std::uint64_t path) {
  double total = 0.0;
  walk_random_path(n, m, path_key(seed, stream, path), [&](std::ptrdiff_t i, std::ptrdiff_t j) {
    total += double(cost[(i - 1) * ldc + (j - 1)]);
  });
  return total;
}

void random_path_cells(std::ptrdiff_t n, std::ptrdiff_t m, std::uint64_t seed,
                       std::uint64_t stream, std::uint64_t path,
                       std::vector<std::int64_t>& cells) {
  cells.clear();
  walk_random_path(n, m, path_key(seed, stream, path), [&](std::ptrdiff_t i, std::ptrdiff_t j) {
    cells.push_back(i - 1);
    cells.push_back(j - 1);
  });
  // Reverse the (i, j) pairs so the path runs from (0, 0) like a DTW path.
  const std::size_t L = cells.size() / 2;
  for (std::size_t a = 0, b = L - 1; a < b; ++a, --b) {
    std::swap(cells[2 * a], cells[2 * b]);
    std::swap(cells[2 * a + 1], cells[2 * b + 1]);
  }
}

double mean_random_path_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                             std::ptrdiff_t ldc, std::ptrdiff_t k, std::uint64_t seed,
                             std::uint64_t stream) {
  double sum = 0.0;
  for (std::ptrdiff_t p = 0; p < k; ++p) {
    sum += random_path_cost(cost, n, m, ldc, seed, stream, std::uint64_t(p));
  }
  return sum / double(k);
}

void random_path_costs(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                       std::ptrdiff_t k, std::uint64_t seed, std::uint64_t stream, double* out,
                       int threads) {
  const int nthreads = resolve_threads(threads);
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (k * (n + m) > 20000)
#endif
  for (std::ptrdiff_t p = 0; p < k; ++p) {
    out[p] = random_path_cost(cost, n, m, ldc, seed, stream, std::uint64_t(p));
  }
  (void)nthreads;
}

}  // namespace draqcore
