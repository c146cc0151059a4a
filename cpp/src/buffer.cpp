#include "draqcore/buffer.hpp"

#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace draqcore {
namespace detail {

void* allocate_bytes(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  constexpr std::size_t kHugePage = std::size_t(2) << 20;
  if (bytes >= kHugePageThreshold) {
    const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, rounded, MADV_HUGEPAGE);  // advice: fails harmlessly where THP is unavailable
#endif
    return p;
  }
  void* p = std::malloc(bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace detail
}  // namespace draqcore
