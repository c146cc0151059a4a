// Build and run-time configuration of the draqcore kernels: OpenMP, thread counts, SIMD level
// and the memory limit every kernel checks before it allocates.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace draqcore {

/// Thrown when a problem would need more working memory than memory_limit() allows.
class memory_limit_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// @brief True when the library was compiled with OpenMP.
bool has_openmp() noexcept;

/// @brief Number of threads a parallel kernel uses when the caller asks for "all cores".
int max_threads() noexcept;

/// @brief Threads to use for a request: requested <= 0 means max_threads().
int resolve_threads(int requested) noexcept;

/// @brief Widest SIMD instruction set of this CPU that the dispatched kernels use:
/// "avx512f", "avx2" or "sse2" (the x86-64 baseline), or "generic" off x86-64.
std::string simd_level();

/// @brief Upper bound, in bytes, on the working memory one kernel call may allocate.
/// Default 8 GiB; changed by set_memory_limit().
std::size_t memory_limit() noexcept;

/// @brief Sets the limit returned by memory_limit(). 0 restores the default.
void set_memory_limit(std::size_t bytes) noexcept;

/// @brief Throws memory_limit_error naming `what` when `bytes` exceeds memory_limit().
/// Called before allocating, so an oversized problem fails without touching memory.
void check_memory(double bytes, const char* what);

}  // namespace draqcore
