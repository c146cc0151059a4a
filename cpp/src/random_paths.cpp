#include "draqcore/random_paths.hpp"

#include <utility>
#include <vector>

#include "draqcore/config.hpp"
#include "draqcore/forward_sweep.hpp"

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

// 64 random bits for step `step` of the path with key `key` (counter-based: no state).
inline std::uint64_t random_bits(std::uint64_t key, std::uint64_t step) {
  return splitmix64(key + step * kGolden);
}

}  // namespace

double expected_random_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                            std::ptrdiff_t ldc) {
  check_memory(forward_sweep_bytes(n, m, -1, false), "expected_random_cost");
  SweepWorkspace ws;
  return forward_sweep(cost, n, m, ldc, -1, false, nullptr, true, ws).expected_random;
}

// Walks one random path from (n, m) to (1, 1) (1-based), calling visit(i, j) for every cell,
// both ends included. The single definition of the sampler: costs and cell lists both use it.
template <class Visit>
inline void walk_random_path(std::ptrdiff_t n, std::ptrdiff_t m, std::uint64_t key, Visit&& visit) {
  std::ptrdiff_t i = n, j = m;
  visit(i, j);
  std::uint64_t step = 0;
  while (i > 1 && j > 1) {
    // x uniform in [0, t), t = i^2 + i j + j^2 (exact integers; 128-bit product of the 64
    // random bits): up if x < i^2, diagonal if i^2 <= x < i^2 + i j, left otherwise. Integer
    // arithmetic and no branches keep the step's dependency chain short; the three outcomes
    // are equally unpredictable for a branch predictor.
    const std::uint64_t a = std::uint64_t(i), b = std::uint64_t(j);
    const std::uint64_t aa = a * a, ab = a * b;
    const std::uint64_t t = aa + ab + b * b;
    const std::uint64_t x =
        std::uint64_t((unsigned __int128)random_bits(key, step++) * (unsigned __int128)t >> 64);
    i -= std::ptrdiff_t(x < aa + ab);
    j -= std::ptrdiff_t(x >= aa);
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
