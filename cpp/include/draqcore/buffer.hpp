// A heap buffer of trivially-copyable values that are written before they are read, so they
// are not zero-filled on allocation (std::vector would fill them).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace draqcore {

namespace detail {
/// Allocations of at least this many bytes go on 2 MiB boundaries and are marked for
/// transparent huge pages (as NumPy does for its arrays from 4 MiB on).
inline constexpr std::size_t kHugePageThreshold = std::size_t(4) << 20;

/// @brief `bytes` of uninitialised memory, released with std::free(); throws std::bad_alloc.
///
/// Large blocks (kHugePageThreshold and up: a long pair's cost matrix, traceback and packed
/// query) are 2 MiB-aligned and advised MADV_HUGEPAGE where the kernel offers transparent huge
/// pages on request (`madvise` mode, the common default): touching 64 MiB of fresh memory then
/// takes 32 page faults instead of 16 384, and returning it is as cheap. Measured on a
/// T = 4096 pair (docs/benchmarks.md): 20 000 page faults and 6 ms of serial munmap per call
/// before. The advice is only advice: without THP the memory is ordinary.
void* allocate_bytes(std::size_t bytes);
}  // namespace detail

template <class T>
class Buffer {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>,
                "Buffer holds plain values, written before they are read");
  static_assert(alignof(T) <= alignof(std::max_align_t), "Buffer: over-aligned type");

 public:
  Buffer() = default;
  explicit Buffer(std::size_t size) : size_(size) {
    if (size > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
    if (size) data_.reset(static_cast<T*>(detail::allocate_bytes(size * sizeof(T))));
  }
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return data_.get()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;  // never initialised: no fill
  std::size_t size_ = 0;
};

/// An allocator for std::vector whose resize() leaves new elements default-initialised (no
/// fill for arithmetic types): for growable buffers written before they are read, such as the
/// 1 byte per cell traceback of a long pair (zero-filling it was a serial pass over n m bytes).
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <class U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  // Through detail::allocate_bytes(): a long pair's traceback gets huge pages like a Buffer.
  T* allocate(std::size_t count) {
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(detail::allocate_bytes(count * sizeof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <class U>
  void construct(U* p) noexcept(noexcept(::new (static_cast<void*>(p)) U)) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class T>
using GrowBuffer = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace draqcore
