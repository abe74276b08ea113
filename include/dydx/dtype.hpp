// Element types, C++ scalars wrapped for ops, tensor creation options and PyTorch's type promotion.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>

namespace dydx {

/// The element types dydx stores. Only the floating types can require grad.
enum class ScalarType : uint8_t { Float32, Float64, Int64 };

inline constexpr ScalarType kFloat32 = ScalarType::Float32;
inline constexpr ScalarType kFloat64 = ScalarType::Float64;
inline constexpr ScalarType kInt64 = ScalarType::Int64;
inline constexpr ScalarType kFloat = ScalarType::Float32;
inline constexpr ScalarType kDouble = ScalarType::Float64;
inline constexpr ScalarType kLong = ScalarType::Int64;

/// The dtype of tensors created without one, as torch.get_default_dtype().
inline constexpr ScalarType kDefaultDtype = kFloat32;

inline constexpr size_t element_size(ScalarType t) { return t == kFloat32 ? 4 : 8; }
inline constexpr bool is_floating_point(ScalarType t) { return t != kInt64; }

/// PyTorch's name for a dtype: "float32", "float64", "int64".
const char* dtype_name(ScalarType t);
std::ostream& operator<<(std::ostream& os, ScalarType t);

/// A C++ number passed to an op. It never promotes a floating tensor (x * 2.5 stays float32).
class Scalar {
 public:
  Scalar(double v) : value_(v), integral_(false) {}
  Scalar(float v) : value_(v), integral_(false) {}
  Scalar(int v) : value_(v), integral_(true) {}
  Scalar(long v) : value_(static_cast<double>(v)), integral_(true) {}
  Scalar(long long v) : value_(static_cast<double>(v)), integral_(true) {}
  double to_double() const { return value_; }
  int64_t to_int64() const { return static_cast<int64_t>(value_); }
  bool is_integral() const { return integral_; }

 private:
  double value_;
  bool integral_;
};

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

/// The wider of two dtypes: float beats int, float64 beats float32.
inline constexpr ScalarType promote_types(ScalarType a, ScalarType b) {
  if (a == b) return a;
  if (a == kInt64) return b;
  if (b == kInt64) return a;
  return kFloat64;
}

}  // namespace dydx
