#include "draqcore/draq_batch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "draqcore/buffer.hpp"
#include "draqcore/config.hpp"
#include "draqcore/contextualize.hpp"
#include "draqcore/dtw.hpp"
#include "draqcore/forward_sweep.hpp"
#include "draqcore/interrupt.hpp"
#include "draqcore/random_paths.hpp"

#ifdef DRAQCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace draqcore {

namespace {
// A pair's cost matrix is computed whole up to this size, and streamed in blocks of rows above.
constexpr double kWholeCostBytes = 32.0 * 1024 * 1024;

// When pairs are fewer than threads, each pair is computed by all of them in turn; without a
// band its cost matrix is then held whole up to this size (and half the memory limit), since
// the parallel anti-diagonal sweep needs it whole.
constexpr double kWholeCostBytesTeam = 512.0 * 1024 * 1024;

bool streams(std::ptrdiff_t n, std::ptrdiff_t m, bool team, std::ptrdiff_t radius) {
  const double bytes = double(n) * double(m) * sizeof(float);
  if (bytes <= kWholeCostBytes) return false;
  const bool full_band = radius < 0 || band_cell_count(n, m, radius) == n * m;
  return !(team && full_band && bytes <= std::min(kWholeCostBytesTeam, 0.5 * double(memory_limit())));
}

// Rows per streamed block: a multiple of the cost kernel's panel width.
std::ptrdiff_t stream_block_rows() { return 4 * cost_panel_rows(); }

// row_scales() of x (and, when `packed` is given, pack_rows() into it) on `threads` threads, in
// chunks of whole panels: for one long pair, whose rows would otherwise be read by one thread
// before the team starts. On a bad row the serial row_scales() runs again, so the error names
// the same row as on one thread.
void row_scales_and_pack(const float* x, std::ptrdiff_t rows, std::ptrdiff_t d, Metric metric,
                         float* scales, float* packed, const char* name, int threads) {
  const std::ptrdiff_t W = cost_panel_rows();
  if (threads <= 1 || double(rows) * double(d) < double(1 << 20) || rows < 2 * W) {
    row_scales(x, rows, d, metric, scales, name);
    if (packed) pack_rows(x, rows, d, packed);
    return;
  }
  const std::ptrdiff_t chunk = std::max(W, (rows / (4 * std::ptrdiff_t(threads)) + W - 1) / W * W);
  const std::ptrdiff_t chunks = (rows + chunk - 1) / chunk;
  std::atomic<bool> bad{false};
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::ptrdiff_t r0 = c * chunk, nr = std::min(chunk, rows - r0);
    try {
      row_scales(x + r0 * d, nr, d, metric, scales + r0, name);
      if (packed) pack_rows(x + r0 * d, nr, d, packed + r0 * d);
    } catch (...) {
      bad.store(true);
    }
  }
  if (bad.load()) row_scales(x, rows, d, metric, scales, name);  // throws, naming the row
}
}  // namespace

double draq_ratio(double dtw_cost, double random_cost) {
  if (random_cost == 0.0) {
    return dtw_cost == 0.0 ? 1.0 : std::numeric_limits<double>::quiet_NaN();
  }
  return dtw_cost / random_cost;
}

DraqPairResult draq_pair(const float* cost, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t ldc,
                         bool subsequence, bool exact, std::ptrdiff_t k, std::uint64_t seed,
                         std::uint64_t stream, std::ptrdiff_t radius,
                         std::vector<std::int64_t>* path, SweepWorkspace& ws,
                         const std::function<void()>& poll, int threads,
                         const TileFill* fill) {
  check_subsequence_band(subsequence, radius);
  DraqPairResult r;
  // On more than one thread, whole-matrix sweeps run as a tiled wavefront on the team (which
  // also computes the cost tiles when `fill` is given, overlapped with the sweep); banded ones
  // run row by row on this thread. `fill` serves the first sweep, over every column.
  auto sweep_of = [&](const float* c, std::ptrdiff_t width, bool want_dtw,
                      std::vector<std::int64_t>* p, bool want_expected, bool subseq) {
    const TileFill* f = std::exchange(fill, nullptr);
    if (threads > 1 && (radius < 0 || band_cell_count(n, width, radius) == n * width)) {
      return diagonal_sweep_parallel(c, n, width, ldc, want_dtw, p, want_expected, ws, threads,
                                     subseq, f, cost_panel_rows());
    }
    if (f) (*f)(0, n, 0, m);
    return forward_sweep(c, n, width, ldc, radius, want_dtw, p, want_expected, ws, subseq);
  };
  const float* region = cost;  // the columns the random paths run through
  std::ptrdiff_t width = m;
  if (subsequence) {
    const SweepResult sweep = sweep_of(cost, m, true, path, false, true);
    r.dtw_cost = sweep.dtw_cost;
    r.start_col = sweep.start_col;
    r.end_col = sweep.end_col;
    region = cost + sweep.start_col;
    width = sweep.end_col - sweep.start_col + 1;
    if (exact) {
      r.random_cost = sweep_of(region, width, false, nullptr, true, false).expected_random;
    }
  } else {
    const SweepResult sweep = sweep_of(cost, m, true, path, exact, false);
    r.dtw_cost = sweep.dtw_cost;
    r.random_cost = sweep.expected_random;
    r.end_col = m - 1;
  }
  if (!exact && threads > 1) {
    // The paths on the team, then summed in path order as below: the same bits.
    std::vector<double> costs(static_cast<std::size_t>(k));
    random_path_costs(region, n, width, ldc, k, seed, stream, costs.data(), threads);
    double sum = 0.0;
    for (double v : costs) sum += v;
    r.random_cost = sum / double(k);
  } else if (!exact) {
    // As mean_random_path_cost(): path costs summed in path order, then divided by k.
    double sum = 0.0;
    for (std::ptrdiff_t p = 0; p < k; ++p) {
      if ((p & 255) == 255) {
        if (poll) poll();
        poll_interrupt();  // Ctrl-C of a single-pair call (a no-op unless installed)
      }
      sum += random_path_cost(region, n, width, ldc, seed, stream, std::uint64_t(p));
    }
    r.random_cost = sum / double(k);
  }
  r.draq = draq_ratio(r.dtw_cost, r.random_cost);
  return r;
}

void draq_batch(const float* query, std::ptrdiff_t n, std::ptrdiff_t raw_d,
                const float* const* candidates,
                const std::int64_t* offsets, std::ptrdiff_t count, const DraqBatchOptions& options,
                DraqBatchResult& result) {
  // With options.contextualize the kernels see (T, 2 raw_d) contextualized features.
  const bool ctx = options.contextualize;
  const std::ptrdiff_t d = ctx ? 2 * raw_d : raw_d;
  check_subsequence_band(options.subsequence, options.radius);
  std::ptrdiff_t max_m = 0;
  for (std::ptrdiff_t c = 0; c < count; ++c) {
    const std::int64_t len = offsets[c + 1] - offsets[c];
    if (len <= 0) {
      throw std::invalid_argument("candidates[" + std::to_string(c) + "] is empty");
    }
    max_m = std::max<std::ptrdiff_t>(max_m, std::ptrdiff_t(len));
  }
  const std::ptrdiff_t total_rows = std::ptrdiff_t(offsets[count]);
  // Fewer pairs than threads (one long pair: aligning two recordings): the pairs run one after
  // the other, each on the whole team (parallel cost tiles, parallel anti-diagonal sweep);
  // otherwise each pair runs on one thread and the pairs in parallel.
  const int requested = resolve_threads(options.threads);
  const bool team = requested > 1 && count < requested;
  const int pair_threads = team ? requested : 1;
  const int nthreads = team ? 1 : std::max(1, std::min<int>(requested, int(std::max<std::ptrdiff_t>(count, 1))));
  // Pairs whose cost matrix is small are computed whole; larger ones stream in blocks of rows,
  // so their memory is the DTW traceback (1 byte per band cell) plus one block of rows.
  const std::ptrdiff_t block_rows = stream_block_rows();
  std::ptrdiff_t cost_floats = 0;
  double sweep_bytes = 0.0;
  for (std::ptrdiff_t c = 0; c < count; ++c) {
    const std::ptrdiff_t m = std::ptrdiff_t(offsets[c + 1] - offsets[c]);
    const bool streamed = streams(n, m, team, options.radius);
    cost_floats = std::max(cost_floats, streamed ? std::min(block_rows, n) * m : n * m);
    double bytes = dtw_working_bytes(n, m, options.radius, options.return_paths);
    if (streamed && !options.exact) bytes += double(options.k) * sizeof(RandomPathWalker);
    if (team && !streamed && !options.exact) bytes += double(options.k) * sizeof(double);
    if (team && !streamed) bytes += tiled_sweep_bytes(n, m, pair_threads);
    sweep_bytes = std::max(sweep_bytes, bytes);
  }
  // Contextualized: one candidate's features and row scales per thread, and the query's.
  const double ctx_per_thread = ctx ? double(max_m) * double(d + 1) * sizeof(float) : 0.0;
  const double per_thread = double(cost_floats) * sizeof(float) + sweep_bytes + ctx_per_thread;
  check_memory(double(nthreads) * per_thread +
                   double(n + total_rows + packed_rows_floats(n, d) + (ctx ? n * d : 0)) *
                       sizeof(float) +
                   3.0 * double(count) * sizeof(double),
               "draq_batch");

  result.dtw_cost.assign(static_cast<std::size_t>(count), 0.0);
  result.random_cost.assign(static_cast<std::size_t>(count), 0.0);
  result.draq.assign(static_cast<std::size_t>(count), 0.0);
  result.spans.assign(2 * static_cast<std::size_t>(count), 0);
  result.paths.assign(options.return_paths ? static_cast<std::size_t>(count) : 0, {});

  // Row statistics (and the NaN/Inf check) for every sequence before any pair runs.
  Buffer<float> query_ctx(ctx ? static_cast<std::size_t>(n * d) : 0);
  if (ctx) {
    try {
      contextualize(query, n, raw_d, query_ctx.data());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("query" + std::string(e.what()).substr(std::strlen("features")));
    }
    query = query_ctx.data();
  }
  std::vector<float> query_scale(static_cast<std::size_t>(n));
  Buffer<float> packed_query(static_cast<std::size_t>(packed_rows_floats(n, d)));
  row_scales_and_pack(query, n, d, options.metric, query_scale.data(), packed_query.data(), "query",
                      pair_threads);
  std::vector<float> cand_scale_all(ctx ? 0 : static_cast<std::size_t>(total_rows));
  {
    // In parallel (one pass over every candidate row); the error reported is the one of the
    // lowest-numbered bad candidate, whatever the thread count.
    std::ptrdiff_t first_bad = count;
    std::exception_ptr bad_error;
    auto scales_of = [&](std::ptrdiff_t c) {
      try {
        const std::string name = "candidates[" + std::to_string(c) + "]";
        const std::ptrdiff_t m = std::ptrdiff_t(offsets[c + 1] - offsets[c]);
        if (ctx) {
          // Only NaN/Inf here (an integer test on the exponent bits): the scales are those of
          // the contextualized rows, computed with them, per pair.
          check_finite(candidates[c], m, raw_d, raw_d, name.c_str());
        } else {
          row_scales_and_pack(candidates[c], m, raw_d, options.metric,
                              cand_scale_all.data() + offsets[c], nullptr, name.c_str(), pair_threads);
        }
      } catch (...) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp critical(draqcore_batch_scales)
#endif
        if (c < first_bad) {
          first_bad = c;
          bad_error = std::current_exception();
        }
      }
    };
    // No OpenMP region at all unless it is worth threads (see the pairs' loop below).
    if (nthreads > 1 && total_rows * d > (1 << 20)) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 8) num_threads(nthreads)
#endif
      for (std::ptrdiff_t c = 0; c < count; ++c) scales_of(c);
    } else {
      for (std::ptrdiff_t c = 0; c < count; ++c) scales_of(c);
    }
    if (bad_error) std::rethrow_exception(bad_error);
  }

  std::atomic<bool> stop{false};
  std::exception_ptr first_error;
  bool cancelled = false;
  // In team mode the parallel kernels poll through poll_interrupt() on this thread.
  InterruptScope interrupt_scope(team && options.should_stop ? options.should_stop : std::function<bool()>());
  using clock = std::chrono::steady_clock;
  auto last_poll = clock::now();

  // One thread's share of the batch: its own buffers, then the pairs each_pair() hands it.
  auto thread_share = [&](auto&& each_pair) {
    Buffer<float> cost, cand_ctx, cand_ctx_scale;
    SweepWorkspace ws;
    try {
      cost = Buffer<float>(static_cast<std::size_t>(cost_floats));
      if (ctx) {
        cand_ctx = Buffer<float>(static_cast<std::size_t>(max_m * d));
        cand_ctx_scale = Buffer<float>(static_cast<std::size_t>(max_m));
      }
    } catch (...) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp critical(draqcore_batch_error)
#endif
      if (!first_error) first_error = std::current_exception();
      stop.store(true);
    }
    each_pair([&](std::ptrdiff_t c) {
      if (stop.load(std::memory_order_relaxed)) return;
      try {
#ifdef DRAQCORE_HAVE_OPENMP
        const bool master = omp_get_thread_num() == 0;
#else
        const bool master = true;
#endif
        // Called between pairs and inside long ones (per block of rows, per 256 sampled
        // paths): the calling thread asks should_stop() at most every 50 ms; every thread
        // gives up its pair once the batch is stopped.
        auto poll = [&]() {
          if (stop.load()) throw batch_cancelled();
          if (master && options.should_stop &&
              clock::now() - last_poll > std::chrono::milliseconds(50)) {
            last_poll = clock::now();
            if (options.should_stop()) {
              cancelled = true;
              stop.store(true);
              throw batch_cancelled();
            }
          }
        };
        poll();
        const std::ptrdiff_t m = std::ptrdiff_t(offsets[c + 1] - offsets[c]);
        const bool whole_band = options.radius < 0 || band_cell_count(n, m, options.radius) == n * m;
        const float* cand = candidates[c];
        const float* cand_scale = ctx ? nullptr : cand_scale_all.data() + offsets[c];
        if (ctx) {
          const std::string name = "candidates[" + std::to_string(c) + "]";
          try {
            contextualize(cand, m, raw_d, cand_ctx.data());
          } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(name + std::string(e.what()).substr(std::strlen("features")));
          }
          row_scales(cand_ctx.data(), m, d, options.metric, cand_ctx_scale.data(), name.c_str());
          cand = cand_ctx.data();
          cand_scale = cand_ctx_scale.data();
        }
        std::vector<std::int64_t>* path = options.return_paths ? &result.paths[c] : nullptr;
        DraqPairResult pair;
        if (team && whole_band && tiled_sweep_applies(n, m, pair_threads) &&
            !streams(n, m, team, options.radius)) {
          // One long pair on the whole team: the cost tiles are tasks of the tiled sweep,
          // computed in the order the wavefront consumes them and overlapped with it.
          const TileFill fill = [&](std::ptrdiff_t i0, std::ptrdiff_t rows, std::ptrdiff_t j0,
                                    std::ptrdiff_t cols) {
            cost_block_packed(packed_query.data() + i0 * d, query_scale.data() + i0, rows,
                              cand + j0 * d, cand_scale + j0, cols, d, options.metric,
                              cost.data() + i0 * m + j0, m);
          };
          pair = draq_pair(cost.data(), n, m, m, options.subsequence, options.exact, options.k,
                           options.seed, std::uint64_t(c), options.radius, path, ws, poll,
                           pair_threads, &fill);
        } else if (!streams(n, m, team, options.radius)) {
          cost_block_parallel(packed_query.data(), query_scale.data(), n, cand, cand_scale, m, d,
                              options.metric, cost.data(), m, pair_threads);
          pair = draq_pair(cost.data(), n, m, m, options.subsequence, options.exact, options.k,
                           options.seed, std::uint64_t(c), options.radius, path, ws, poll,
                           pair_threads);
        } else {
          // Blocks of rows start at multiples of the panel width, so the packed query can be
          // entered at row r0 directly. Columns [j0, j0 + width) of the candidate, row stride
          // width.
          auto block = [&](std::ptrdiff_t r0, std::ptrdiff_t j0, std::ptrdiff_t width) {
            const std::ptrdiff_t rows = std::min(block_rows, n - r0);
            cost_block_parallel(packed_query.data() + r0 * d, query_scale.data() + r0, rows,
                                cand + j0 * d, cand_scale + j0, width, d, options.metric,
                                cost.data(), width, pair_threads);
            return rows;
          };
          // Ordinary mode: DTW and expected cost in one pass over all columns. Subsequence
          // mode: the DTW pass finds the span, a second pass over its columns the expected cost.
          const bool one_pass = !options.subsequence;
          ForwardSweep sweep(n, m, options.radius, true, path != nullptr,
                             options.exact && one_pass, ws, options.subsequence);
          for (std::ptrdiff_t r0 = 0; r0 < n; r0 += block_rows) {
            poll();
            const std::ptrdiff_t rows = block(r0, 0, m);
            for (std::ptrdiff_t r = 0; r < rows; ++r) sweep.push_row(cost.data() + r * m);
          }
          const SweepResult res = sweep.finish(path);
          pair.dtw_cost = res.dtw_cost;
          pair.random_cost = res.expected_random;
          pair.start_col = res.start_col;
          pair.end_col = res.end_col;
          const std::ptrdiff_t j0 = res.start_col, width = res.end_col - res.start_col + 1;
          if (options.exact && !one_pass) {
            ForwardSweep expected(n, width, -1, false, false, true, ws);
            for (std::ptrdiff_t r0 = 0; r0 < n; r0 += block_rows) {
              poll();
              const std::ptrdiff_t rows = block(r0, j0, width);
              for (std::ptrdiff_t r = 0; r < rows; ++r) expected.push_row(cost.data() + r * width);
            }
            pair.random_cost = expected.finish(nullptr).expected_random;
          }
          if (!options.exact) {
            // The random paths run from the last row to the first: feed them the blocks in
            // reverse. Each path sums its cells in the same order as the whole-matrix sampler.
            std::vector<RandomPathWalker> walkers;
            walkers.reserve(static_cast<std::size_t>(options.k));
            for (std::ptrdiff_t p = 0; p < options.k; ++p)
              walkers.emplace_back(n, width, options.seed, std::uint64_t(c), std::uint64_t(p));
            std::vector<double> totals(static_cast<std::size_t>(options.k), 0.0);
            for (std::ptrdiff_t r0 = (n - 1) / block_rows * block_rows; r0 >= 0; r0 -= block_rows) {
              poll();
              block(r0, j0, width);
              for (std::ptrdiff_t p = 0; p < options.k; ++p) {
                double& total = totals[p];
                walkers[p].advance(r0 + 1, [&](std::ptrdiff_t i, std::ptrdiff_t j) {
                  total += double(cost[static_cast<std::size_t>((i - 1 - r0) * width + (j - 1))]);
                });
              }
            }
            double sum = 0.0;
            for (double t : totals) sum += t;
            pair.random_cost = sum / double(options.k);
          }
          pair.draq = draq_ratio(pair.dtw_cost, pair.random_cost);
        }
        result.dtw_cost[c] = pair.dtw_cost;
        result.random_cost[c] = pair.random_cost;
        result.draq[c] = pair.draq;
        result.spans[2 * c] = pair.start_col;
        result.spans[2 * c + 1] = pair.end_col;
      } catch (...) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp critical(draqcore_batch_error)
#endif
        if (!first_error) first_error = std::current_exception();
        stop.store(true);
      }
    });
  };
#ifdef DRAQCORE_HAVE_OPENMP
  if (nthreads > 1) {
#pragma omp parallel num_threads(nthreads)
    thread_share([&](auto&& pair) {
      // Pairs differ in size (m varies), so hand them out one at a time.
#pragma omp for schedule(dynamic, 1)
      for (std::ptrdiff_t c = 0; c < count; ++c) pair(c);
    });
  } else
#endif
  {
    // One thread, or pairs one after the other on the whole team: no OpenMP region here. Even
    // a region of one thread sets up a team and ends its loop with a futex system call, felt
    // by 30 us calls (the kernels below open their own regions where they pay).
    thread_share([&](auto&& pair) {
      for (std::ptrdiff_t c = 0; c < count; ++c) pair(c);
    });
  }
  if (first_error) {
    try {
      std::rethrow_exception(first_error);
    } catch (const interrupted&) {
      throw batch_cancelled();  // a team kernel saw should_stop() return true
    }
  }
  if (cancelled) throw batch_cancelled();
}

}  // namespace draqcore
