#include "draqcore/random_paths.hpp"

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

#include "draqcore/config.hpp"
#include "draqcore/interrupt.hpp"
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
  // A path has at most n + m - 1 cells (2 int64 each): checked before anything is allocated.
  check_memory(2.0 * (double(n) + double(m) - 1.0) * sizeof(std::int64_t), "random_path");
  cells.clear();
  cells.reserve(static_cast<std::size_t>(2 * (n + m - 1)));
  RandomPathWalker walker(n, m, seed, stream, path);
  std::size_t visited = 0;
  walker.advance(1, [&](std::ptrdiff_t i, std::ptrdiff_t j) {
    if ((++visited & 0xfffff) == 0) poll_interrupt();
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
    if ((p & 1023) == 1023) poll_interrupt();
    sum += random_path_cost(cost, n, m, ldc, seed, stream, std::uint64_t(p));
  }
  return sum / double(k);
}

void random_path_costs(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                       std::ptrdiff_t k, std::uint64_t seed, std::uint64_t stream, double* out,
                       int threads) {
  const int nthreads = resolve_threads(threads);
  // Chunks of 256 paths handed out round-robin, so the calling thread (which alone polls for
  // Ctrl-C, once per chunk) works until the end; paths are all about n + m steps long.
  constexpr std::ptrdiff_t kChunk = 256;
  const std::ptrdiff_t chunks = (k + kChunk - 1) / kChunk;
  std::atomic<bool> stop{false};
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(nthreads) if (k * (n + m) > 20000)
#endif
  for (std::ptrdiff_t chunk = 0; chunk < chunks; ++chunk) {
    if (poll_interrupt_into(stop)) continue;
    const std::ptrdiff_t end = std::min(k, (chunk + 1) * kChunk);
    for (std::ptrdiff_t p = chunk * kChunk; p < end; ++p) {
      out[p] = random_path_cost(cost, n, m, ldc, seed, stream, std::uint64_t(p));
    }
  }
  (void)nthreads;
  if (stop.load()) throw interrupted();
}

}  // namespace draqcore
