#include "draqcore/config.hpp"

#include <atomic>
#include <cstdio>

#ifdef DRAQCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace draqcore {

namespace {
constexpr std::size_t kDefaultMemoryLimit = std::size_t(8) << 30;  // 8 GiB
std::atomic<std::size_t> g_memory_limit{kDefaultMemoryLimit};
}  // namespace

bool has_openmp() noexcept {
#ifdef DRAQCORE_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

int max_threads() noexcept {
#ifdef DRAQCORE_HAVE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int resolve_threads(int requested) noexcept { return requested > 0 ? requested : max_threads(); }

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
