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

/// @brief Number of threads a parallel kernel uses when the caller asks for "all cores":
/// OpenMP's default (OMP_NUM_THREADS or the cores), at most available_cores(); 1 in a process
/// forked after this library was loaded (see forked_child()).
int max_threads() noexcept;

/// @brief Processors this process may run on (the affinity mask, as OpenMP sees it).
int available_cores() noexcept;

/// @brief Threads to use for a request: requested <= 0 means max_threads(); any request is
/// capped at available_cores() (the kernels are compute-bound: more threads than cores only
/// adds overhead), and is 1 in a forked child.
int resolve_threads(int requested) noexcept;

/// @brief Largest `threads` argument the bindings accept (larger requests are refused as
/// mistakes rather than capped): max(1024, available_cores()).
int max_thread_request() noexcept;

/// @brief True in a process created by fork() after this library was loaded.
///
/// After a fork only the forking thread exists in the child, but libgomp's thread pool still
/// believes its workers do: the first parallel region with more than one thread would wait for
/// them forever. A pthread_atfork child handler sets this flag, and every kernel then runs on
/// the calling thread alone (num_threads(1) regions do not touch the pool). Results are the same
/// bits as with threads, since no kernel's result depends on the thread count.
bool forked_child() noexcept;

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
