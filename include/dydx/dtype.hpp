// Element types, C++ scalars wrapped for ops, tensor creation options and PyTorch's type promotion.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <type_traits>

namespace dydx {

/// The element types dydx stores. Only the floating types can require grad. Bool holds one byte per
/// element, 0 or 1: comparisons give it, and it is what masks (where, masked_fill, x.index({mask}))
/// are made of.
enum class ScalarType : uint8_t { Float32, Float64, Int64, Bool };

inline constexpr ScalarType kFloat32 = ScalarType::Float32;
inline constexpr ScalarType kFloat64 = ScalarType::Float64;
inline constexpr ScalarType kInt64 = ScalarType::Int64;
inline constexpr ScalarType kBool = ScalarType::Bool;
inline constexpr ScalarType kFloat = ScalarType::Float32;
inline constexpr ScalarType kDouble = ScalarType::Float64;
inline constexpr ScalarType kLong = ScalarType::Int64;

/// The dtype of tensors created without one, as torch.get_default_dtype().
inline constexpr ScalarType kDefaultDtype = kFloat32;

inline constexpr size_t element_size(ScalarType t) { return t == kBool ? 1 : t == kFloat32 ? 4 : 8; }
inline constexpr bool is_floating_point(ScalarType t) { return t == kFloat32 || t == kFloat64; }

/// PyTorch's name for a dtype: "float32", "float64", "int64", "bool".
const char* dtype_name(ScalarType t);
std::ostream& operator<<(std::ostream& os, ScalarType t);

namespace detail {
/// Whether a floating value converts to int64 without overflow: finite and in [-2^63, 2^63).
inline constexpr bool fits_int64(double v) { return v >= -0x1p63 && v < 0x1p63; }
/// A floating value as int64, truncated toward zero. Out of range or nan gives INT64_MIN, which is
/// what PyTorch gives on x86 (the conversion instruction's result); a plain cast would be UB there.
inline constexpr int64_t float_to_int64(double v) { return fits_int64(v) ? static_cast<int64_t>(v) : INT64_MIN; }
}  // namespace detail

/// A C++ number passed to an op. It never promotes a floating tensor (x * 2.5 stays float32).
/// Integers are kept as int64 and floating values as double, as c10::Scalar does, so that int64
/// tensors get exact integer arithmetic: no int64 value passes through a double.
class Scalar {
 public:
  Scalar(double v) : double_(v), integral_(false) {}
  Scalar(float v) : double_(v), integral_(false) {}
  Scalar(int v) : int_(v), integral_(true) {}
  Scalar(long v) : int_(static_cast<int64_t>(v)), integral_(true) {}
  Scalar(long long v) : int_(static_cast<int64_t>(v)), integral_(true) {}
  /// true and false are the integers 1 and 0 in arithmetic; full() and tensor() make bool tensors of them.
  Scalar(bool v) : int_(v), integral_(true), boolean_(true) {}
  /// The value as a double: an integer beyond 2^53 rounds to the nearest double.
  double to_double() const { return integral_ ? static_cast<double>(int_) : double_; }
  /// The value as int64: exact for an integer; a floating value converts as detail::float_to_int64.
  int64_t to_int64() const { return integral_ ? int_ : detail::float_to_int64(double_); }
  /// The value as an element of type T (float, double, int64_t or bool: nonzero, nan included, is true).
  template <class T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return integral_ ? int_ != 0 : double_ != 0;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(to_int64());
    else return integral_ ? static_cast<T>(int_) : static_cast<T>(double_);
  }
  bool is_integral() const { return integral_; }
  bool is_boolean() const { return boolean_; }

 private:
  union {
    double double_;
    int64_t int_;
  };
  bool integral_;
  bool boolean_ = false;
};

/// Writes an integer as an integer and a floating value as a double, for error messages.
std::ostream& operator<<(std::ostream& os, Scalar s);

/// Options for creation functions, as torch::TensorOptions: `dydx::dtype(kFloat64).requires_grad(true)`.
struct TensorOptions {
  TensorOptions() = default;
  TensorOptions(ScalarType t) : dtype_(t) {}
  TensorOptions dtype(ScalarType t) const {
    TensorOptions o = *this;
    o.dtype_ = t;
    return o;
  }
  TensorOptions requires_grad(bool r = true) const {
    TensorOptions o = *this;
    o.requires_grad_ = r;
    return o;
  }
  std::optional<ScalarType> dtype_opt() const { return dtype_; }
  ScalarType dtype_or(ScalarType fallback) const { return dtype_.value_or(fallback); }
  bool requires_grad_value() const { return requires_grad_; }

 private:
  std::optional<ScalarType> dtype_;
  bool requires_grad_ = false;
};

inline TensorOptions dtype(ScalarType t) { return TensorOptions(t); }
inline TensorOptions requires_grad(bool r = true) { return TensorOptions().requires_grad(r); }

/// The wider of two dtypes: int beats bool, float beats int, float64 beats float32.
inline constexpr ScalarType promote_types(ScalarType a, ScalarType b) {
  if (a == b) return a;
  if (a == kBool) return b;
  if (b == kBool) return a;
  if (a == kInt64) return b;
  if (b == kInt64) return a;
  return kFloat64;
}

}  // namespace dydx
