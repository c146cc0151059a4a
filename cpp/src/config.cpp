#include "draqcore/config.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

#ifdef DRAQCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace draqcore {

namespace {
constexpr std::size_t kDefaultMemoryLimit = std::size_t(8) << 30;  // 8 GiB
std::atomic<std::size_t> g_memory_limit{kDefaultMemoryLimit};

// Set in the child of a fork(): libgomp's pool does not survive it (see forked_child()).
std::atomic<bool> g_forked{false};
void on_fork_child() { g_forked.store(true, std::memory_order_relaxed); }
// Registered once when the library is loaded, before any kernel can run a parallel region.
const int g_atfork_registered = pthread_atfork(nullptr, nullptr, on_fork_child);
}  // namespace

bool forked_child() noexcept {
  (void)g_atfork_registered;
  return g_forked.load(std::memory_order_relaxed);
}

int available_cores() noexcept {
#ifdef DRAQCORE_HAVE_OPENMP
  return std::max(1, omp_get_num_procs());
#else
  return 1;
#endif
}

int max_thread_request() noexcept { return std::max(1024, available_cores()); }

bool has_openmp() noexcept {
#ifdef DRAQCORE_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

int max_threads() noexcept {
  if (forked_child()) return 1;
#ifdef DRAQCORE_HAVE_OPENMP
  return std::max(1, std::min(omp_get_max_threads(), available_cores()));
#else
  return 1;
#endif
}

int resolve_threads(int requested) noexcept {
  // One thread needs no look-up: available_cores() is a system call (sched_getaffinity, about
  // 0.3 us here), felt by 30 us calls when every layer asks again.
  if (requested == 1 || forked_child()) return 1;
  return requested > 0 ? std::min(requested, available_cores()) : max_threads();
}

std::string simd_level() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "sse2";
#else
  return "generic";
#endif
}

std::size_t memory_limit() noexcept { return g_memory_limit.load(std::memory_order_relaxed); }

void set_memory_limit(std::size_t bytes) noexcept {
  g_memory_limit.store(bytes == 0 ? kDefaultMemoryLimit : bytes, std::memory_order_relaxed);
}

void check_memory(double bytes, const char* what) {
  const double limit = static_cast<double>(memory_limit());
  if (bytes > limit) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "%s would need %.3g GiB of working memory, above the limit of %.3g GiB "
                  "(draqcore.set_memory_limit changes it)",
                  what, bytes / 1073741824.0, limit / 1073741824.0);
    throw memory_limit_error(msg);
  }
}

}  // namespace draqcore
