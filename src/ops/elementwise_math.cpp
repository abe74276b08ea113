// The rest of torch's elementwise math: inverse trigonometric and hyperbolic functions, reciprocal
// and rsqrt, log2, log10, exp2, erfc, and rounding (floor, ceil, round, trunc, frac). Each is a
// struct of its values and derivatives (unary_record.hpp makes every rule from them), as in
// elementwise_unary.cpp; the node names, dtypes and first-derivative formulas (their order of
// operations, which the rounding shows) are PyTorch 1.13's, and the asin family's 1 / sqrt is rsqrt.
// The values are cpu/vec_math.hpp's (vectorised; floats correctly rounded but within ~2^-24 ulp of a
// midpoint, doubles within 0.72 ulp) but erfc's, which is libm's (a call per element).
#include <cmath>
#include <numbers>

#include "cpu/vec_math.hpp"
#include "ops/taylor.hpp"
#include "ops/unary_record.hpp"

namespace dydx {
namespace ops {
namespace {

struct Asin : Named<"asin", "AsinBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::asin(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return rsqrt(1.0 - x * x); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return x * rsqrt(1.0 - x * x).pow(3); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::root_quadratic_derivatives(x, derivative(x, {}), 1.0 - x * x, 1, order);
  }
};
struct Acos : Named<"acos", "AcosBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::acos(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return -rsqrt(1.0 - x * x); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return -x * rsqrt(1.0 - x * x).pow(3); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::root_quadratic_derivatives(x, derivative(x, {}), 1.0 - x * x, 1, order);
  }
};
struct Atan : Named<"atan", "AtanBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::atan(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return 1.0 / (x * x + 1.0); }
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) { return t / (x * x + 1.0); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return -2.0 * x * derivative(x, {}).pow(2); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::inverse_quadratic_derivatives(x, x * x + 1.0, -1, order);
  }
};

// sinh's and cosh's derivatives alternate between cosh and sinh.
TensorList hyperbolic_derivatives(const Tensor& x, bool of_sinh, int64_t order) {
  const Tensor c = cosh(x), s = sinh(x);
  TensorList d;
  for (int64_t j = 1; j <= order; ++j) d.push_back((j % 2 == 1) == of_sinh ? c : s);
  return d;
}
struct Sinh : Named<"sinh", "SinhBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::sinh(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return cosh(x); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return sinh(x); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return hyperbolic_derivatives(x, true, order);
  }
};
struct Cosh : Named<"cosh", "CoshBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::cosh(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return sinh(x); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return cosh(x); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return hyperbolic_derivatives(x, false, order);
  }
};
struct Asinh : Named<"asinh", "AsinhBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::asinh(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return rsqrt(x.pow(2) + 1.0); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return -x * rsqrt(x.pow(2) + 1.0).pow(3); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::root_quadratic_derivatives(x, derivative(x, {}), x * x + 1.0, -1, order);
  }
};
struct Acosh : Named<"acosh", "AcoshBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::acosh(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return rsqrt(x.pow(2) - 1.0); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return -x * rsqrt(x.pow(2) - 1.0).pow(3); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::root_quadratic_derivatives(x, derivative(x, {}), x * x - 1.0, -1, order);
  }
};
struct Atanh : Named<"atanh", "AtanhBackward0"> {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::atanh(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return 1.0 / (1.0 - x.pow(2)); }
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) { return t / (1.0 - x.pow(2)); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return 2.0 * x * derivative(x, {}).pow(2); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::inverse_quadratic_derivatives(x, 1.0 - x * x, 1, order);
  }
};

// 1 / x: f^(j) = (-1)^j j! out^(j+1).
struct Reciprocal : Named<"reciprocal", "ReciprocalBackward0"> {
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return decltype(x)(1) / x; }
  static Tensor derivative(const Tensor&, const Tensor& out) { return -(out * out); }
  static auto derivative_value(auto y) { return -(y * y); }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return 2.0 * out * out * out; }
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    TensorList d;
    double c = 1;
    for (int64_t j = 1; j <= order; ++j) {
      c *= -static_cast<double>(j);
      d.push_back(out.pow(static_cast<double>(j + 1)) * c);
    }
    return d;
  }
};
// x^(-1/2), as PyTorch divides: 1 / sqrt(x). f^(j) = c_j out^(2j+1), c_j = (-1/2)(-3/2)...(1/2 - j).
struct Rsqrt : Named<"rsqrt", "RsqrtBackward0"> {
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return decltype(x)(1) / std::sqrt(x); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return -0.5 * out * out * out; }
  static auto derivative_value(auto y) { return decltype(y)(-0.5) * y * y * y; }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return 0.75 * out.pow(5); }
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    TensorList d;
    double c = 1;
    for (int64_t j = 1; j <= order; ++j) {
      c *= 0.5 - static_cast<double>(j);
      d.push_back(out.pow(static_cast<double>(2 * j + 1)) * c);
    }
    return d;
  }
};

// log_b x = ln x / ln b: log's derivatives over ln b (Self::kLnBase); the value is vec::log2's or
// vec::log10's (vectorised: log's unrounded result times 1 / ln b, rounded once), which round once
// where ln x / ln b would round twice. t / (x ln b), as PyTorch's backward divides.
template <class Self>
struct LogToBase {
  static constexpr Reads reads = Reads::Input;
  [[gnu::always_inline]] static auto forward(auto x) { return Self::value(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return 1.0 / (x * Self::kLnBase); }
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) { return t / (x * Self::kLnBase); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return -1.0 / (x * x * Self::kLnBase); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    TensorList d = taylor::log_derivatives(x, 0, order);
    for (Tensor& t : d) t = t / Self::kLnBase;
    return d;
  }
};
struct Log2 : LogToBase<Log2>, Named<"log2", "Log2Backward0"> {
  static constexpr double kLnBase = std::numbers::ln2;
  [[gnu::always_inline]] static auto value(auto x) { return cpu::vec::log2(x); }
};
struct Log10 : LogToBase<Log10>, Named<"log10", "Log10Backward0"> {
  static constexpr double kLnBase = std::numbers::ln10;
  [[gnu::always_inline]] static auto value(auto x) { return cpu::vec::log10(x); }
};
// 2^x: f^(j) = (ln 2)^j out.
struct Exp2 : Named<"exp2", "Exp2Backward0"> {
  static constexpr Reads reads = Reads::Output;
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::exp2(x); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return out * std::numbers::ln2; }
  static Tensor times_derivative(const Tensor& t, const Tensor&, const Tensor& out) { return t * out * std::numbers::ln2; }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return out * (std::numbers::ln2 * std::numbers::ln2); }
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    TensorList d;
    double c = 1;
    for (int64_t j = 1; j <= order; ++j) d.push_back(out * (c *= std::numbers::ln2));
    return d;
  }
};
// 1 - erf x: erf's derivatives negated (f' = -2 / sqrt(pi) e^(-x^2); f^(n+1) = (-1)^n H_n(x) f').
struct Erfc : Named<"erfc", "ErfcBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static auto forward(auto x) { return std::erfc(x); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return (-2.0 / std::sqrt(std::numbers::pi)) * exp(-x.pow(2)); }
  static Tensor second_derivative(const Tensor& x, const Tensor& out) { return -2.0 * x * derivative(x, out); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor& out, int64_t order) {
    return taylor::gaussian_derivatives(x, derivative(x, out), order);
  }
};

// Rounding to an integer: piecewise constant, so every derivative is zero where it exists, and the
// gradient is zeros shaped like the incoming one (PyTorch's zeros_like(grad): an infinite gradient
// gives 0, not nan). Integers are their own rounding and keep their dtype, as in PyTorch.
template <class Self>
struct Rounding {
  static constexpr bool piecewise_linear = true;
  static constexpr Reads reads = Reads::Nothing;
  static constexpr bool keeps_integers = true;
  static auto forward(auto x) {
    if constexpr (std::is_floating_point_v<decltype(x)>) return Self::round(x);
    else return x;
  }
  static Tensor times_derivative(const Tensor& t, const Tensor&, const Tensor&) { return zeros_like(t); }
  static Tensor second_derivative(const Tensor&, const Tensor&) { return {}; }
};
// floor, ceil and trunc from the nearest integer (std::nearbyint, which GCC vectorises; it leaves
// std::floor, std::ceil and std::trunc a libm call per element, 3.3x slower than PyTorch's), moved one
// toward the side it should not have crossed, with x's sign, which is also the result's (ceil(-0.5) is
// -0). Infinities and nans pass through; from 2^23 (2^52) every value is an integer and stays.
// (Without SSE4.1 std::nearbyint is a libm call too, and std::'s own functions are the shorter way.)
template <class T>
T floor_of(T x) {
#ifdef __SSE4_1__
  const T nearest = std::nearbyint(x);
  return std::copysign(nearest - static_cast<T>(nearest > x), x);
#else
  return std::floor(x);
#endif
}
template <class T>
T ceil_of(T x) {
#ifdef __SSE4_1__
  const T nearest = std::nearbyint(x);
  return std::copysign(nearest + static_cast<T>(nearest < x), x);
#else
  return std::ceil(x);
#endif
}
template <class T>
T trunc_of(T x) {
#ifdef __SSE4_1__
  return std::copysign(floor_of(std::fabs(x)), x);
#else
  return std::trunc(x);
#endif
}
struct Floor : Rounding<Floor>, Named<"floor", "FloorBackward0"> {
  static auto round(auto x) { return floor_of(x); }
};
struct Ceil : Rounding<Ceil>, Named<"ceil", "CeilBackward0"> {
  static auto round(auto x) { return ceil_of(x); }
};
// Half to even, as torch.round (std::round would take halves away from zero).
struct Round : Rounding<Round>, Named<"round", "RoundBackward0"> {
  static auto round(auto x) { return std::nearbyint(x); }
};
struct Trunc : Rounding<Trunc>, Named<"trunc", "TruncBackward0"> {
  static auto round(auto x) { return trunc_of(x); }
};
// x - trunc(x), with x's sign; floating only, as PyTorch's. Its derivative is 1 where it exists.
struct Frac : Named<"frac", "FracBackward0"> {
  static constexpr bool piecewise_linear = true;
  static constexpr Reads reads = Reads::Nothing;
  static constexpr bool floating_only = true;
  static auto forward(auto x) { return x - trunc_of(x); }
  static Tensor times_derivative(const Tensor& t, const Tensor&, const Tensor&) { return t; }
  static Tensor second_derivative(const Tensor&, const Tensor&) { return {}; }
};

}  // namespace
}  // namespace ops

Tensor asin(const Tensor& x) { return ops::unary<ops::Asin>(x); }
Tensor acos(const Tensor& x) { return ops::unary<ops::Acos>(x); }
Tensor atan(const Tensor& x) { return ops::unary<ops::Atan>(x); }
Tensor sinh(const Tensor& x) { return ops::unary<ops::Sinh>(x); }
Tensor cosh(const Tensor& x) { return ops::unary<ops::Cosh>(x); }
Tensor asinh(const Tensor& x) { return ops::unary<ops::Asinh>(x); }
Tensor acosh(const Tensor& x) { return ops::unary<ops::Acosh>(x); }
Tensor atanh(const Tensor& x) { return ops::unary<ops::Atanh>(x); }
Tensor reciprocal(const Tensor& x) { return ops::unary<ops::Reciprocal>(x); }
Tensor rsqrt(const Tensor& x) { return ops::unary<ops::Rsqrt>(x); }
Tensor log2(const Tensor& x) { return ops::unary<ops::Log2>(x); }
Tensor log10(const Tensor& x) { return ops::unary<ops::Log10>(x); }
Tensor exp2(const Tensor& x) { return ops::unary<ops::Exp2>(x); }
Tensor erfc(const Tensor& x) { return ops::unary<ops::Erfc>(x); }
// PyTorch 1.13 has no bool kernel for the rounding functions (an int64 result would hide the mistake).
template <class Op>
Tensor rounded(const Tensor& x) {
  DYDX_CHECK(!x.defined() || x.dtype() != kBool, Op::name, ": \"", Op::name, "_vml_cpu\" not implemented for 'Bool' (shape ",
             x.sizes(), ")");
  return ops::unary<Op>(x);
}
Tensor floor(const Tensor& x) { return rounded<ops::Floor>(x); }
Tensor ceil(const Tensor& x) { return rounded<ops::Ceil>(x); }
Tensor round(const Tensor& x) { return rounded<ops::Round>(x); }
Tensor trunc(const Tensor& x) { return rounded<ops::Trunc>(x); }
Tensor frac(const Tensor& x) { return ops::unary<ops::Frac>(x); }
Tensor square(const Tensor& x) { return x.pow(2); }

}  // namespace dydx
