#include "draqcore/interrupt.hpp"

#include <chrono>
#include <utility>

namespace draqcore {

namespace {
using clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(50);

thread_local InterruptScope* t_scope = nullptr;
thread_local clock::time_point t_last_poll{};
}  // namespace

InterruptScope::InterruptScope(std::function<bool()> check) : check_(std::move(check)), outer_(t_scope) {
  t_scope = this;
  t_last_poll = clock::now();
}

InterruptScope::~InterruptScope() { t_scope = outer_; }

void poll_interrupt() {
  InterruptScope* scope = t_scope;
  if (scope == nullptr) return;
  const clock::time_point now = clock::now();
  if (now - t_last_poll < kPollInterval) return;
  t_last_poll = now;
  if (scope->check_ && scope->check_()) throw interrupted();
}

bool poll_interrupt_into(std::atomic<bool>& stop) {
  if (stop.load(std::memory_order_relaxed)) return true;
  try {
    poll_interrupt();
  } catch (const interrupted&) {
    stop.store(true);
  }
  return stop.load(std::memory_order_relaxed);
}

}  // namespace draqcore
