// ExpandingArray<N>: libtorch's "int or N ints" argument (kernel sizes, strides, paddings), so that
// conv2d(x, w, {}, /*stride=*/2) and conv2d(x, w, {}, /*stride=*/{2, 1}) both read as in libtorch.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "dydx/error.hpp"

namespace dydx {

template <size_t N, class T = int64_t>
class ExpandingArray {
 public:
  /// One value for every dim.
  ExpandingArray(T single) { values_.fill(single); }  // NOLINT(google-explicit-constructor): libtorch's spelling
  /// N values, one per dim.
  ExpandingArray(std::initializer_list<T> list) {  // NOLINT(google-explicit-constructor)
    DYDX_CHECK(list.size() == N, "ExpandingArray: expected ", N, " values, got ", list.size());
    std::copy(list.begin(), list.end(), values_.begin());
  }
  ExpandingArray(const std::vector<T>& list) {  // NOLINT(google-explicit-constructor)
    DYDX_CHECK(list.size() == N, "ExpandingArray: expected ", N, " values, got ", list.size());
    std::copy(list.begin(), list.end(), values_.begin());
  }
  ExpandingArray(const std::array<T, N>& values) : values_(values) {}  // NOLINT(google-explicit-constructor)

  T& operator[](size_t i) { return values_[i]; }
  const T& operator[](size_t i) const { return values_[i]; }
  static constexpr size_t size() { return N; }
  const T* begin() const { return values_.data(); }
  const T* end() const { return values_.data() + N; }
  /// The values, as libtorch's operator*.
  const std::array<T, N>& operator*() const { return values_; }
  const std::array<T, N>* operator->() const { return &values_; }
  friend bool operator==(const ExpandingArray& a, const ExpandingArray& b) { return a.values_ == b.values_; }

 private:
  std::array<T, N> values_{};
};

}  // namespace dydx
