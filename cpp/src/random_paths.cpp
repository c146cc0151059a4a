#include "draqcore/random_paths.hpp"

#include <utility>
#include <vector>

#include "draqcore/config.hpp"
#include "draqcore/forward_sweep.hpp"
#include "traceback.hpp"

namespace draqcore {

double expected_random_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m,
                            std::ptrdiff_t ldc) {
  check_memory(forward_sweep_bytes(n, m, -1, false), "expected_random_cost");
  SweepWorkspace ws;
  return forward_sweep(cost, n, m, ldc, -1, false, nullptr, true, ws).expected_random;
}

double random_path_cost(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                        std::uint64_t seed, std::uint64_t stream, std::uint64_t path) {
  double total = 0.0;
  RandomPathWalker walker(n, m, seed, stream, path);
  walker.advance(1, [&](std::ptrdiff_t i, std::ptrdiff_t j) { total += double(cost[(i - 1) * ldc + (j - 1)]); });
  return total;
}

void random_path_cells(std::ptrdiff_t n, std::ptrdiff_t m, std::uint64_t seed,
                       std::uint64_t stream, std::uint64_t path,
                       std::vector<std::int64_t>& cells) {
  cells.clear();
  RandomPathWalker walker(n, m, seed, stream, path);
  walker.advance(1, [&](std::ptrdiff_t i, std::ptrdiff_t j) {
    cells.push_back(i - 1);
    cells.push_back(j - 1);
  });
  detail::reverse_cell_pairs(cells);  // so the path runs from (0, 0) like a DTW path
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
