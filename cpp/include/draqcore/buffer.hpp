// A heap buffer of trivially-copyable values that are written before they are read, so they
// are not zero-filled on allocation (std::vector would fill them).
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace draqcore {

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t size) : data_(size ? new T[size] : nullptr), size_(size) {}
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  std::unique_ptr<T[]> data_;  // default-initialised: no fill for arithmetic types
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
