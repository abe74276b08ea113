// SmallVector: a vector that keeps its first N elements inline, so shapes and graph edges need no heap.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <ostream>
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

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return size_ <= N ? inline_.data() : heap_.data(); }
  const T* data() const { return size_ <= N ? inline_.data() : heap_.data(); }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  void push_back(T value) {
    if (size_ < N) {
      inline_[size_] = std::move(value);
    } else {
      if (size_ == N) spill();
      heap_.push_back(std::move(value));
    }
    ++size_;
  }
  void pop_back() { resize(size_ - 1); }
  void clear() {
    for (size_t i = 0; i < std::min(size_, N); ++i) inline_[i] = T();
    heap_.clear();
    size_ = 0;
  }
  void resize(size_t count, const T& value = T()) {
    if (count == size_) return;
    if (count <= N && size_ <= N) {
      for (size_t i = size_; i < count; ++i) inline_[i] = value;
      for (size_t i = count; i < size_; ++i) inline_[i] = T();
    } else if (count <= N) {  // shrinking from the heap back inline
      for (size_t i = 0; i < count; ++i) inline_[i] = std::move(heap_[i]);
      heap_.clear();
    } else {
      if (size_ <= N) spill();  // moves the size_ elements in use to the heap
      heap_.resize(count, value);
    }
    size_ = count;
  }
  template <class It>
  void assign(It first, It last) {
    clear();
    for (; first != last; ++first) push_back(*first);
  }
  void insert_at(size_t pos, T value) {
    push_back(T());
    T* d = data();
    for (size_t i = size_ - 1; i > pos; --i) d[i] = std::move(d[i - 1]);
    d[pos] = std::move(value);
  }
  void erase_at(size_t pos) {
    T* d = data();
    for (size_t i = pos; i + 1 < size_; ++i) d[i] = std::move(d[i + 1]);
    resize(size_ - 1);
  }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    if (a.size_ != b.size_) return false;
    for (size_t i = 0; i < a.size_; ++i)
      if (!(a[i] == b[i])) return false;
    return true;
  }

 private:
  // Moves the elements in use (size_ of them, at most N) from inline storage to the heap.
  void spill() {
    heap_.clear();
    heap_.reserve(N * 2);
    for (size_t i = 0; i < size_; ++i) heap_.push_back(std::move(inline_[i]));
    for (size_t i = 0; i < N; ++i) inline_[i] = T();
  }

  std::array<T, N> inline_{};
  std::vector<T> heap_;
  size_t size_ = 0;
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
