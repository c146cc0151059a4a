// Cooperative cancellation of long kernels (Ctrl-C): the caller installs a check on its thread,
// and the kernels poll it between chunks of work.
#pragma once

#include <atomic>
#include <exception>
#include <functional>

namespace draqcore {

/// Thrown by poll_interrupt() when the installed check asked to stop. The caller that installed
/// the check knows why (for Python: a KeyboardInterrupt is already set).
class interrupted : public std::exception {
 public:
  const char* what() const noexcept override { return "draqcore kernel interrupted"; }
};

/// @brief Installs `check` on the calling thread for the lifetime of the scope (scopes nest;
/// the innermost wins). Kernels running on this thread — and the master thread of their
/// parallel regions, which is this thread — call it through poll_interrupt().
class InterruptScope {
 public:
  explicit InterruptScope(std::function<bool()> check);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  friend void poll_interrupt();
  std::function<bool()> check_;
  InterruptScope* outer_;
};

/// @brief Throws interrupted when the calling thread's check (see InterruptScope) returns true.
///
/// Cheap enough for inner loops: without a check on this thread it is one thread-local load;
/// with one it reads the clock and calls the check at most every 50 ms. Worker threads of a
/// parallel region have no check installed, so only the calling thread ever runs it; parallel
/// kernels turn its exception into a shared stop flag (exceptions cannot leave a region).
void poll_interrupt();

/// @brief poll_interrupt() for a worker loop inside a parallel region, where an exception cannot
/// leave: an interruption is recorded in `stop` instead. Returns stop's value, so a loop can
/// skip its remaining work with `if (poll_interrupt_into(stop)) continue;`; the caller throws
/// interrupted after the region when `stop` is set.
bool poll_interrupt_into(std::atomic<bool>& stop);

}  // namespace draqcore
