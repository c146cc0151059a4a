#include "draqcore/draq_batch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include "draqcore/config.hpp"
#include "draqcore/dtw.hpp"
#include "draqcore/forward_sweep.hpp"
#include "draqcore/random_paths.hpp"

#ifdef DRAQCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace draqcore {

double draq_ratio(double dtw_cost, double random_cost) {
  if (random_cost == 0.0) {
    return dtw_cost == 0.0 ? 1.0 : std::numeric_limits<double>::quiet_NaN();
  }
  return dtw_cost / random_cost;
}

void draq_batch(const float* query, std::ptrdiff_t n, std::ptrdiff_t d, const float* packed,
                const std::int64_t* offsets, std::ptrdiff_t count, const DraqBatchOptions& options,
                DraqBatchResult& result) {
  std::ptrdiff_t max_m = 0;
  for (std::ptrdiff_t c = 0; c < count; ++c) {
    const std::int64_t len = offsets[c + 1] - offsets[c];
    if (len <= 0) {
      throw std::invalid_argument("candidates[" + std::to_string(c) + "] is empty");
    }
    max_m = std::max<std::ptrdiff_t>(max_m, std::ptrdiff_t(len));
  }
  const std::ptrdiff_t total_rows = std::ptrdiff_t(offsets[count]);
  const int nthreads = std::max(1, std::min<int>(resolve_threads(options.threads),
                                                 int(std::max<std::ptrdiff_t>(count, 1))));
  const double per_thread = double(n) * double(max_m) * sizeof(float) +
                            dtw_working_bytes(n, max_m, options.radius, options.return_paths);
  check_memory(double(nthreads) * per_thread +
                   double(n + total_rows + packed_rows_floats(n, d)) * sizeof(float) +
                   3.0 * double(count) * sizeof(double),
               "draq_batch");

  result.dtw_cost.assign(static_cast<std::size_t>(count), 0.0);
  result.random_cost.assign(static_cast<std::size_t>(count), 0.0);
  result.draq.assign(static_cast<std::size_t>(count), 0.0);
  result.paths.assign(options.return_paths ? static_cast<std::size_t>(count) : 0, {});

  // Row statistics (and the NaN/Inf check) for every sequence before any pair runs.
  std::vector<float> query_scale(static_cast<std::size_t>(n));
  row_scales(query, n, d, options.metric, query_scale.data(), "query");
  std::vector<float> packed_query(static_cast<std::size_t>(packed_rows_floats(n, d)));
  pack_rows(query, n, d, packed_query.data());
  std::vector<float> cand_scale(static_cast<std::size_t>(total_rows));
  for (std::ptrdiff_t c = 0; c < count; ++c) {
    const std::string name = "candidates[" + std::to_string(c) + "]";
    row_scales(packed + offsets[c] * d, std::ptrdiff_t(offsets[c + 1] - offsets[c]), d,
               options.metric, cand_scale.data() + offsets[c], name.c_str());
  }

  std::atomic<bool> stop{false};
  std::exception_ptr first_error;
  bool cancelled = false;
  using clock = std::chrono::steady_clock;
  auto last_poll = clock::now();

#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
  {
    std::vector<float> cost;
    SweepWorkspace ws;
    try {
      cost.resize(static_cast<std::size_t>(n * max_m));
    } catch (...) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp critical(draqcore_batch_error)
#endif
      if (!first_error) first_error = std::current_exception();
      stop.store(true);
    }
    // Pairs differ in size (m varies), so hand them out one at a time.
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (std::ptrdiff_t c = 0; c < count; ++c) {
      if (stop.load(std::memory_order_relaxed)) continue;
      try {
#ifdef DRAQCORE_HAVE_OPENMP
        const bool master = omp_get_thread_num() == 0;
#else
        const bool master = true;
#endif
        if (master && options.should_stop &&
            clock::now() - last_poll > std::chrono::milliseconds(50)) {
          last_poll = clock::now();
          if (options.should_stop()) {
            cancelled = true;
            stop.store(true);
            continue;
          }
        }
        const std::ptrdiff_t m = std::ptrdiff_t(offsets[c + 1] - offsets[c]);
        cost_block_packed(packed_query.data(), query_scale.data(), n, packed + offsets[c] * d,
                   cand_scale.data() + offsets[c], m, d, options.metric, cost.data(), m);
        std::vector<std::int64_t>* path = options.return_paths ? &result.paths[c] : nullptr;
        const SweepResult sweep =
            forward_sweep(cost.data(), n, m, m, options.radius, true, path, options.exact, ws);
        const double dtw_cost = sweep.dtw_cost;
        double random_cost;
        if (options.exact) {
          random_cost = sweep.expected_random;
        } else {
          random_cost = mean_random_path_cost(cost.data(), n, m, m, options.k, options.seed,
                                              std::uint64_t(c));
        }
        result.dtw_cost[c] = dtw_cost;
        result.random_cost[c] = random_cost;
        result.draq[c] = draq_ratio(dtw_cost, random_cost);
      } catch (...) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp critical(draqcore_batch_error)
#endif
        if (!first_error) first_error = std::current_exception();
        stop.store(true);
      }
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  if (cancelled) throw batch_cancelled();
}

}  // namespace draqcore
