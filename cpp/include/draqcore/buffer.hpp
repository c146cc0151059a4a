// A heap buffer of trivially-copyable values that are written before they are read, so they
// are not zero-filled on allocation (std::vector would fill them).
#pragma once

#include <cstddef>
#include <memory>

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

}  // namespace draqcore
