// SmallVector: a vector that keeps its first N elements inline, so shapes and graph edges need no heap.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <new>
#include <ostream>
#include <type_traits>
#include <utility>
#include <vector>

namespace dydx {

template <class T, size_t N>
class SmallVector {
 public:
  SmallVector() = default;
  SmallVector(std::initializer_list<T> values) { assign(values.begin(), values.end()); }
  template <class It>
  SmallVector(It first, It last) { assign(first, last); }
  explicit SmallVector(size_t count, const T& value = T()) { resize(count, value); }
  SmallVector(const SmallVector& other) { assign(other.begin(), other.end()); }
  SmallVector(SmallVector&& other) noexcept { take(std::move(other)); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      clear();
      release_heap();
      take(std::move(other));
    }
    return *this;
  }
  ~SmallVector() {
    clear();
    release_heap();
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T& back() { return data_[size_ - 1]; }
  const T& back() const { return data_[size_ - 1]; }

  void push_back(T value) {
    if (size_ == capacity_) grow(2 * capacity_);
    ::new (static_cast<void*>(data_ + size_)) T(std::move(value));
    ++size_;
  }
  void pop_back() { data_[--size_].~T(); }
  void clear() {
    std::destroy(data_, data_ + size_);
    size_ = 0;
  }
  void resize(size_t count, const T& value = T()) {
    if (count < size_) {
      std::destroy(data_ + count, data_ + size_);
    } else if (count > capacity_) {
      const T fill = value;  // value may be one of the elements that grow() moves
      grow(std::max(count, 2 * capacity_));
      std::uninitialized_fill(data_ + size_, data_ + count, fill);
    } else {
      std::uninitialized_fill(data_ + size_, data_ + count, value);
    }
    size_ = count;
  }
  template <class It>
  void assign(It first, It last) {
    clear();
    if constexpr (std::is_base_of_v<std::random_access_iterator_tag,
                                    typename std::iterator_traits<It>::iterator_category>) {
      const auto count = static_cast<size_t>(last - first);
      if (count > capacity_) grow(count);
    }
    // An element at a time: shapes have a few, where a call to memcpy would cost more.
    for (; first != last; ++first) push_back(*first);
  }
  void insert_at(size_t pos, T value) {
    push_back(std::move(value));
    std::rotate(data_ + pos, data_ + size_ - 1, data_ + size_);
  }
  void erase_at(size_t pos) {
    std::move(data_ + pos + 1, data_ + size_, data_ + pos);
    pop_back();
  }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    if (a.size_ != b.size_) return false;
    for (size_t i = 0; i < a.size_; ++i)
      if (!(a[i] == b[i])) return false;
    return true;
  }

 private:
  // The first N elements live in inline_, constructed only when in use, so that an empty list of
  // tensors or graph nodes costs nothing to make or destroy; beyond N they move to the heap.
  T* inline_data() { return reinterpret_cast<T*>(inline_); }
  bool on_heap() const { return data_ != reinterpret_cast<const T*>(inline_); }
  void grow(size_t capacity) {
    T* bigger = static_cast<T*>(::operator new(capacity * sizeof(T), std::align_val_t(alignof(T))));
    std::uninitialized_move(data_, data_ + size_, bigger);
    std::destroy(data_, data_ + size_);
    release_heap();
    data_ = bigger;
    capacity_ = capacity;
  }
  void release_heap() {
    if (on_heap()) ::operator delete(data_, std::align_val_t(alignof(T)));
    data_ = inline_data();
    capacity_ = N;
  }
  // Takes other's elements, leaving it empty; this must be empty and inline.
  void take(SmallVector&& other) {
    if (other.on_heap()) {
      data_ = other.data_;
      capacity_ = other.capacity_;
      size_ = other.size_;
      other.data_ = other.inline_data();
      other.capacity_ = N;
      other.size_ = 0;
      return;
    }
    std::uninitialized_move(other.data_, other.data_ + other.size_, data_);
    size_ = other.size_;
    other.clear();
  }

  T* data_ = inline_data();
  size_t size_ = 0;
  size_t capacity_ = N;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

/// A shape or a list of strides; ranks up to 6 live inline.
using Dims = SmallVector<int64_t, 6>;

/// A non-owning view of int64 values, accepting `{2, 3}`, a std::vector, Dims or one integer,
/// as libtorch's IntArrayRef does. Only valid for the duration of the call it is passed to.
class IntArrayRef {
 public:
  IntArrayRef() = default;
  IntArrayRef(const int64_t& one) : data_(&one), size_(1) {}
// The list outlives the call it is written in, which is the only place an IntArrayRef lives.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  IntArrayRef(std::initializer_list<int64_t> values) : data_(values.begin()), size_(values.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  IntArrayRef(const std::vector<int64_t>& values) : data_(values.data()), size_(values.size()) {}
  IntArrayRef(const Dims& values) : data_(values.data()), size_(values.size()) {}
  IntArrayRef(const int64_t* data, size_t size) : data_(data), size_(size) {}

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const int64_t* data() const { return data_; }
  const int64_t* begin() const { return data_; }
  const int64_t* end() const { return data_ + size_; }
  int64_t operator[](size_t i) const { return data_[i]; }
  int64_t back() const { return data_[size_ - 1]; }
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  Dims dims() const { return Dims(begin(), end()); }
  friend bool operator==(IntArrayRef a, IntArrayRef b) {
    if (a.size_ != b.size_) return false;
    for (size_t i = 0; i < a.size_; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

 private:
  const int64_t* data_ = nullptr;
  size_t size_ = 0;
};

/// Prints a shape as [2,3], the form every error message uses.
inline std::ostream& operator<<(std::ostream& os, IntArrayRef dims) {
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? "," : "") << dims[i];
  return os << ']';
}
inline std::ostream& operator<<(std::ostream& os, const Dims& dims) { return os << IntArrayRef(dims); }

}  // namespace dydx
