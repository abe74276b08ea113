// Element arithmetic that is exact on int64 without undefined behaviour, and element conversions.
//
// PyTorch's int64 kernels wrap modulo 2^64 on overflow (in practice: the hardware's behaviour).
// In C++ a signed overflow is undefined, so int64 elements are added, subtracted, negated and
// multiplied as uint64, which wraps by definition, and converted back, which C++20 defines as
// modular. Floating elements use the plain operators: each helper costs nothing for them.
#pragma once

#include <cstdint>
#include <type_traits>

#include "dydx/dtype.hpp"

namespace dydx::cpu {

template <class T>
[[gnu::always_inline]] inline T wrapping_add(T x, T y) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
  else return x + y;
}

template <class T>
[[gnu::always_inline]] inline T wrapping_sub(T x, T y) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
  else return x - y;
}

template <class T>
[[gnu::always_inline]] inline T wrapping_mul(T x, T y) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
  else return x * y;
}

template <class T>
[[gnu::always_inline]] inline T wrapping_neg(T x) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(x));
  else return -x;
}

/// base^exponent for integers, exactly (wrapping), by repeated squaring, as PyTorch's powi. A
/// negative exponent gives the integer part of the true power: 1 for base 1, +-1 for base -1,
/// otherwise 0.
inline int64_t integer_pow(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return exponent % 2 == 0 ? 1 : -1;
    return 0;
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  for (uint64_t e = static_cast<uint64_t>(exponent); e != 0; e >>= 1) {
    if (e & 1) result *= b;
    b *= b;
  }
  return static_cast<int64_t>(result);
}

/// An element converted to another element type. Floating to int64 truncates toward zero, and an
/// out-of-range or nan value gives INT64_MIN (PyTorch's result on x86) instead of undefined behaviour.
/// To bool, anything nonzero is true: 0.5, -0.0 (false), nan (true), as PyTorch.
template <class TOut, class TIn>
[[gnu::always_inline]] inline TOut convert(TIn v) {
  if constexpr (std::is_same_v<TOut, bool>) return v != TIn(0);
  else if constexpr (std::is_integral_v<TOut> && std::is_floating_point_v<TIn>) return detail::float_to_int64(v);
  else return static_cast<TOut>(v);
}

/// The accumulator of a sum of T: double for float32 (see sum_values), uint64 for int64 (wraps
/// without undefined behaviour), T itself for double.
template <class T>
using SumAccumulator = std::conditional_t<std::is_same_v<T, float>, double,
                                          std::conditional_t<std::is_integral_v<T>, uint64_t, T>>;

}  // namespace dydx::cpu
