// The activations of torch.nn.functional that elementwise_unary.cpp's family did not have: hardtanh
// (and relu6, which PyTorch defines as hardtanh(x, 0, 6)), hardsigmoid, hardswish, mish and logsigmoid.
// selu is elu with PyTorch's scale, in elementwise_unary.cpp. Each derivative is PyTorch 1.13's
// backward (its kernels' scalar loops; see Hardtanh) at the kinks, at nan and at the infinities.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "cpu/vec_math.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"
#include "ops/unary_record.hpp"

namespace dydx {
namespace ops {
namespace {

// A bool tensor, true where pred holds for x's element (compared in x's own dtype).
template <class Pred>
Tensor mask_of(const Tensor& x, Pred pred) {
  return bool_mask</*TakesBool=*/false>(x, pred);
}

// x where the mask holds and a detached copy of x elsewhere: the same values, with derivatives only
// where the mask holds (hardswish's x / 3 is differentiable strictly inside (-3, 3) in PyTorch).
Tensor differentiable_where(const Tensor& mask, const Tensor& x) { return where(mask, x, x.detach()); }

// Zeros of t's dtype in x's shape, as ops of x with zero derivative (sign's): a gradient that selects
// them where the step blocks it stays connected to x, so grad of that gradient is zeros rather than an
// error, as in PyTorch (relu's relu_step does the same). Exactly +0 everywhere, at nan and inf too.
Tensor zeros_of(const Tensor& x, ScalarType dtype) {
  return where(isnan(x), zeros({}, dtype), abs(sign(x)).to(dtype) * 0.0);
}

struct HardtanhAttrs {
  // Exact: an int64 input's bounds are integers by now (hardtanh truncates and range-checks them),
  // and an integer Scalar converts to int64 without passing through a double, as clamp's bounds.
  Scalar min_val = -1, max_val = 1;
};
// min(max(x, min_val), max_val), as PyTorch's hardtanh (a clamp with both bounds): integers stay
// integers; nan stays nan, -0 stays -0 (std::max(-0, 0) is its first argument), min_val > max_val
// gives max_val, and a nan bound makes every element nan, as PyTorch's clamp fills its result.
//
// The gradient is PyTorch's hardtanh_backward, (x <= min || x >= max) ? 0 : t: zero at and beyond
// the bounds whatever t (selected, not multiplied: an inf t gives 0 there), t between them and at nan,
// and beside a nan bound t wherever the other bound does not block it. That is the scalar loop of
// PyTorch 1.13's kernel, which edge_cases.txt records (0-d tensors) and which dydx follows for every
// op; PyTorch's vectorised loop, which runs on all but the last few elements (under 16 float32, 8
// float64) of a longer contiguous tensor, passes the gradient only strictly inside, so 0 at nan and
// everywhere beside a nan bound: PyTorch's own answer there depends on where the element sits.
struct Hardtanh : Named<"hardtanh", "HardtanhBackward0"> {
  static constexpr bool piecewise_linear = true;  // every Taylor coefficient is f' times the input's
  using Attrs = HardtanhAttrs;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool keeps_integers = true;
  // The bounds converted once per call, so that the loop vectorises (as clamp's).
  template <class T>
  static auto prepare(const Attrs& a) {
    const T lo = a.min_val.to<T>(), hi = a.max_val.to<T>();
    bool nan_bound = false;
    if constexpr (std::is_floating_point_v<T>) nan_bound = std::isnan(lo) || std::isnan(hi);
    return [nan_bound, lo, hi](T x) __attribute__((always_inline)) {
      return nan_bound ? std::numeric_limits<T>::quiet_NaN() : std::min(std::max(x, lo), hi);
    };
  }
  static auto forward(auto x, const Attrs& a) { return prepare<decltype(x)>(a)(x); }
  // 0 at and beyond the bounds, t elsewhere: one pass, for the fused VJP and JVP, with the bounds
  // converted to T once per call (in T, as PyTorch compares them).
  template <class T>
  static auto times_derivative_form(const Attrs& a) {
    const T lo = a.min_val.to<T>(), hi = a.max_val.to<T>();
    return [lo, hi](T t, T v) __attribute__((always_inline)) { return cpu::vec::detail::select((v <= lo) | (v >= hi), T(0), t); };
  }
  // The same as differentiable ops, where t itself needs derivatives (double backward).
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&, const Attrs& a) {
    const Tensor blocked = cpu::dispatch(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T lo = a.min_val.to<T>(), hi = a.max_val.to<T>();
      // bool_mask dispatches on x's dtype again, so only its T instance of the predicate runs.
      return mask_of(x, [lo, hi](auto v) {
        if constexpr (std::is_same_v<decltype(v), T>) return (v <= lo) | (v >= hi);
        else return false;
      });
    });
    return where(blocked, zeros_of(x, t.dtype()), t);
  }
  static Tensor second_derivative(const Tensor&, const Tensor&, const Attrs&) { return {}; }
};

// True strictly inside (-3, 3), the interval where hardsigmoid and hardswish are not constant or x.
Tensor strictly_inside_three(const Tensor& x) {
  return mask_of(x, [](auto v) {
    using T = decltype(v);
    return (v > T(-3)) & (v < T(3));
  });
}

// PyTorch 1.13 writes hardsigmoid's one_sixth as 1.0f / 6.0f, a float, in float64 too (the float64
// gradient is 0.1666666716337204).
template <class T>
constexpr T kOneSixth = static_cast<T>(1.0f / 6.0f);

// min(max(x + 3, 0), 6) / 6, PyTorch's arithmetic in its order.
struct Hardsigmoid : Named<"hardsigmoid", "HardsigmoidBackward0"> {
  static constexpr bool piecewise_linear = true;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  [[gnu::always_inline]] static auto forward(auto x) {
    using T = decltype(x);
    return std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
  }
  // t / 6 strictly inside (-3, 3); 0 at +-3, outside and at nan, whatever t (selected, as PyTorch's
  // hardsigmoid_backward, whose scalar and vectorised loops agree).
  [[gnu::always_inline]] static auto times_derivative_value(auto t, auto v) {
    using T = decltype(t);
    return cpu::vec::detail::select((v > T(-3)) & (v < T(3)), t * kOneSixth<T>, T(0));
  }
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) {
    return where(strictly_inside_three(x), t * static_cast<double>(kOneSixth<float>), zeros_of(x, t.dtype()));
  }
  static Tensor second_derivative(const Tensor&, const Tensor&) { return {}; }
};

// x min(max(x + 3, 0), 6) / 6, PyTorch's arithmetic in its order: -inf gives nan (-inf * 0), as there.
//
// Its gradient is PyTorch's hardswish_backward: 0 below -3 (whatever t), t (x / 3 + 1/2) from -3 to 3,
// t above and at nan. That is the scalar loop of PyTorch 1.13's kernel (see Hardtanh); its vectorised
// loop gives t at 3 (rather than 1.5 t) and nan at nan.
struct Hardswish : Named<"hardswish", "HardswishBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  [[gnu::always_inline]] static auto forward(auto x) {
    using T = decltype(x);
    return x * std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
  }
  static Tensor below(const Tensor& x) {
    return mask_of(x, [](auto v) { return v < decltype(v)(-3); });
  }
  static Tensor up_to_three(const Tensor& x) {
    return mask_of(x, [](auto v) { return v <= decltype(v)(3); });
  }
  // One element, for the fused VJP and JVP: PyTorch's branches as selects, its arithmetic in its order
  // (x / 3, not x * (1 / 3)).
  [[gnu::always_inline]] static auto times_derivative_value(auto t, auto v) {
    using T = decltype(t);
    const T middle = t * (v / T(3) + T(0.5));
    return cpu::vec::detail::select(v < T(-3), T(0), cpu::vec::detail::select(v <= T(3), middle, t));
  }
  // The same as differentiable ops, where t itself needs derivatives. Its own derivative in x is t / 3
  // strictly inside (-3, 3) only (0 at nan), as PyTorch's double backward.
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) {
    const Tensor slope = differentiable_where(strictly_inside_three(x), x) / 3.0 + 0.5;
    return where(below(x), zeros({}, t.dtype()), where(up_to_three(x), t * slope, t));
  }
  static Tensor derivative(const Tensor& x, const Tensor& out) { return times_derivative(ones_like(x), x, out); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) {
    return where(strictly_inside_three(x), full_like(x, 1.0 / 3.0), zeros({}, x.dtype()));
  }
  // Piecewise quadratic: f', f'' and zeros past them.
  static TensorList taylor_derivatives(const Tensor& x, const Tensor& out, int64_t order) {
    TensorList d{derivative(x, out), second_derivative(x, out)};
    d.resize(static_cast<size_t>(order), zeros_like(x));
    return d;
  }
};

// x tanh(softplus(x)), with softplus as log1p(e^x), PyTorch's kernel: e^x's overflow gives
// tanh(inf) = 1, and -inf gives -inf * 0 = nan, as there.
struct Mish : Named<"mish", "MishBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  [[gnu::always_inline]] static auto forward(auto x) { return x * cpu::vec::tanh(cpu::vec::log1p(cpu::vec::exp(x))); }
  // PyTorch's differentiable form (infinitely_differentiable_mish_backward): tanh(sp) + x sigmoid(x)
  // (1 - tanh(sp)^2) with sp = log1p(e^x), so that double backward follows the same ops; e^x's overflow
  // makes it nan there (float32 at x = 100), as in PyTorch.
  static Tensor derivative(const Tensor& x, const Tensor&) {
    const Tensor t = tanh(log1p(exp(x))), s = sigmoid(x);
    return t + x * s * (1.0 - t * t);
  }
  [[gnu::always_inline]] static auto derivative_value(auto x) {
    using T = decltype(x);
    const T t = cpu::vec::tanh(cpu::vec::log1p(cpu::vec::exp(x)));
    return t + x * cpu::vec::sigmoid(x) * (T(1) - t * t);
  }
  // f'' = 2 s (1 - t^2) + x s (1 - t^2) ((1 - s) - 2 t s), from t' = (1 - t^2) s and s' = s (1 - s).
  static Tensor second_derivative(const Tensor& x, const Tensor&) {
    const Tensor t = tanh(softplus(x)), s = sigmoid(x);
    const Tensor sech2_s = s * (1.0 - t * t);
    return sech2_s * (2.0 + x * ((1.0 - s) - 2.0 * t * s));
  }
  // f = x T with T = tanh(u), u = softplus(x): u's normalised coefficients are sigmoid's derivatives
  // over n!, T's follow by Faa di Bruno, and the product with x + h shifts them (as gelu's tanh form).
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    const Tensor s = sigmoid(x), t0 = tanh(softplus(x));
    const TensorList ds = taylor::sigmoid_derivatives(s, order);
    TensorList u{s};
    double factorial = 1;
    for (int64_t n = 2; n <= order; ++n) {
      factorial *= static_cast<double>(n);
      u.push_back(ds[n - 2] / factorial);
    }
    const Tensor ts = taylor::compose(taylor::stacked(u), taylor::tanh_derivatives(t0, order));
    TensorList d;
    factorial = 1;
    for (int64_t n = 1; n <= order; ++n) {
      factorial *= static_cast<double>(n);
      const Tensor previous = n == 1 ? t0 : taylor::coefficient(ts, n - 1);
      d.push_back((x * taylor::coefficient(ts, n) + previous) * factorial);
    }
    return d;
  }
};

// log(sigmoid(x)) as min(x, 0) - log1p(e^-|x|), PyTorch's stable form: -inf gives -inf, inf 0.
struct LogSigmoid : Named<"log_sigmoid", "LogSigmoidBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  [[gnu::always_inline]] static auto forward(auto x) {
    using T = decltype(x);
    return cpu::vec::detail::select(x < T(0), x, T(0)) - cpu::vec::log1p(cpu::vec::exp(-std::abs(x)));
  }
  // sigmoid(-x), as PyTorch's log_sigmoid_backward forms it: 1 - sigmoid(x) below 0 and sigmoid(-x)
  // from 0 (each side from the small e^-|x|), nan at nan. Below 0 its derivative is then (s - 1) s,
  // PyTorch's double backward, to the last bit at -100; from 0 it is -sigmoid(-x) (1 - sigmoid(-x)).
  static Tensor derivative(const Tensor& x, const Tensor&) {
    return where(mask_of(x, [](auto v) { return v < 0; }), 1.0 - sigmoid(x), sigmoid(-x));
  }
  // PyTorch's kernel: z = e^-|x|, then 1 - z / (1 + z) below 0 and z / (1 + z) elsewhere.
  [[gnu::always_inline]] static auto derivative_value(auto x) {
    using T = decltype(x);
    const T z = cpu::vec::exp(-std::abs(x));
    const T q = z / (T(1) + z);
    return cpu::vec::detail::select(x < T(0), T(1) - q, q);
  }
  // (s - 1) s with s = sigmoid(x), PyTorch's log_sigmoid_double_backward.
  static Tensor second_derivative(const Tensor& x, const Tensor&) {
    const Tensor s = sigmoid(x);
    return (s - 1.0) * s;
  }
  // f' = 1 - sigmoid(x), so f^(n) = -sigmoid^(n-1)(x) past the first.
  static TensorList taylor_derivatives(const Tensor& x, const Tensor& out, int64_t order) {
    const TensorList ds = taylor::sigmoid_derivatives(sigmoid(x), order);
    TensorList d{derivative(x, out)};
    for (int64_t n = 2; n <= order; ++n) d.push_back(-ds[n - 2]);
    return d;
  }
};

}  // namespace
}  // namespace ops

namespace {
// A bound as PyTorch 1.13's hardtanh takes it: for an integer input, bound.toLong(), exact for an
// integer and truncated toward zero for a floating value, which must fit int64 (nan and +-inf do
// not); for a float32 input, a finite floating value must fit float (c10's checked conversion; inf
// and nan pass). Both raise PyTorch's message. The one difference: PyTorch's range test lets 2^63
// through (it compares with INT64_MAX rounded to a double, which is 2^63) and converts it to
// INT64_MIN, undefined behaviour in C++; here it raises as any other value out of range.
Scalar hardtanh_bound(const Tensor& x, const Scalar& bound, const char* which) {
  if (x.dtype() == kInt64) {
    if (bound.is_integral()) return Scalar(bound.to_int64());  // a bool bound is the integer 0 or 1
    DYDX_CHECK(detail::fits_int64(bound.to_double()), "hardtanh: value cannot be converted to type int64_t without "
               "overflow (", which, " = ", bound, ", input of dtype int64 and shape ", x.sizes(), ")");
    return Scalar(bound.to_int64());
  }
  const double v = bound.to_double();
  DYDX_CHECK(x.dtype() != kFloat32 || bound.is_integral() || !std::isfinite(v) || std::abs(v) <= std::numeric_limits<float>::max(),
             "hardtanh: value cannot be converted to type float without overflow (", which, " = ", bound,
             ", input of dtype float32 and shape ", x.sizes(), ")");
  return bound;
}
}  // namespace

Tensor hardtanh(const Tensor& x, Scalar min_val, Scalar max_val) {
  if (!x.defined()) return ops::unary<ops::Hardtanh>(x, {min_val, max_val});
  DYDX_CHECK(x.dtype() != kBool, "hardtanh: Bool inputs not supported for hardtanh (shape ", x.sizes(), ")");
  // Both bounds checked before anything is computed, so that hardtanh_ writes nothing when one raises.
  const Scalar lo = hardtanh_bound(x, min_val, "min_val");
  const Scalar hi = hardtanh_bound(x, max_val, "max_val");
  return ops::unary<ops::Hardtanh>(x, {lo, hi});
}
// PyTorch's relu6 is hardtanh(x, 0, 6), integer bounds: an int64 input stays int64.
Tensor relu6(const Tensor& x) { return hardtanh(x, 0, 6); }
Tensor hardsigmoid(const Tensor& x) { return ops::unary<ops::Hardsigmoid>(x); }
Tensor hardswish(const Tensor& x) { return ops::unary<ops::Hardswish>(x); }
Tensor mish(const Tensor& x) { return ops::unary<ops::Mish>(x); }
Tensor logsigmoid(const Tensor& x) { return ops::unary<ops::LogSigmoid>(x); }

}  // namespace dydx
