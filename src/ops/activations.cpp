// The activations of torch.nn.functional that elementwise_unary.cpp's family did not have: hardtanh
// (and relu6, which PyTorch defines as hardtanh(x, 0, 6)), hardsigmoid, hardswish, mish and logsigmoid.
// selu is elu with PyTorch's scale, in elementwise_unary.cpp. Each derivative is PyTorch 1.13's
// backward at the kinks, at nan and at the infinities.
#include <algorithm>
#include <cmath>

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

struct HardtanhAttrs {
  double min_val = -1, max_val = 1;
};
// min(max(x, min_val), max_val), as PyTorch's hardtanh (a clamp): integers stay integers, with the
// bounds truncated to them; nan stays nan, -0 stays -0, and min_val > max_val gives max_val.
struct Hardtanh : Named<"hardtanh", "HardtanhBackward0"> {
  static constexpr bool piecewise_linear = true;  // every Taylor coefficient is f' times the input's
  using Attrs = HardtanhAttrs;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool keeps_integers = true;
  // The bounds converted once per call, so that the loop vectorises (as clamp's).
  template <class T>
  static auto prepare(const Attrs& a) {
    const T lo = static_cast<T>(a.min_val), hi = static_cast<T>(a.max_val);
    return [lo, hi](T x) __attribute__((always_inline)) { return std::min(std::max(x, lo), hi); };
  }
  static auto forward(auto x, const Attrs& a) { return prepare<decltype(x)>(a)(x); }
  // t strictly between the bounds, 0 at and beyond them; t at nan, which no comparison holds for.
  // PyTorch's hardtanh_backward: (x <= min || x >= max) ? 0 : g.
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&, const Attrs& a) {
    const Tensor blocked = mask_of(x, [lo = a.min_val, hi = a.max_val](auto v) {
      using T = decltype(v);
      return (v <= static_cast<T>(lo)) | (v >= static_cast<T>(hi));
    });
    return where(blocked, zeros({}, t.dtype()), t);
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

// min(max(x + 3, 0), 6) / 6, PyTorch's arithmetic in its order.
struct Hardsigmoid : Named<"hardsigmoid", "HardsigmoidBackward0"> {
  static constexpr bool piecewise_linear = true;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  [[gnu::always_inline]] static auto forward(auto x) {
    using T = decltype(x);
    return std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
  }
  // t times 1/6 strictly inside (-3, 3), 0 at +-3, outside and at nan. PyTorch 1.13 writes its
  // one_sixth as 1.0f / 6.0f, a float, in float64 too (the float64 gradient is 0.1666666716337204).
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) {
    return where(strictly_inside_three(x), t * static_cast<double>(1.0f / 6.0f), zeros({}, t.dtype()));
  }
  static Tensor second_derivative(const Tensor&, const Tensor&) { return {}; }
};

// x min(max(x + 3, 0), 6) / 6, PyTorch's arithmetic in its order: -inf gives nan (-inf * 0), as there.
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
  // PyTorch's hardswish_backward: 0 below -3, t (x / 3 + 1/2) on [-3, 3], t above (and at nan). Its
  // own derivative in x is t / 3 strictly inside (-3, 3) only, as PyTorch's double backward.
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

Tensor hardtanh(const Tensor& x, Scalar min_val, Scalar max_val) {
  DYDX_CHECK(!x.defined() || x.dtype() != kBool, "hardtanh: Bool inputs not supported for hardtanh (shape ", x.sizes(), ")");
  return ops::unary<ops::Hardtanh>(x, {min_val.to_double(), max_val.to_double()});
}
Tensor relu6(const Tensor& x) { return hardtanh(x, 0.0, 6.0); }
Tensor hardsigmoid(const Tensor& x) { return ops::unary<ops::Hardsigmoid>(x); }
Tensor hardswish(const Tensor& x) { return ops::unary<ops::Hardswish>(x); }
Tensor mish(const Tensor& x) { return ops::unary<ops::Mish>(x); }
Tensor logsigmoid(const Tensor& x) { return ops::unary<ops::LogSigmoid>(x); }

}  // namespace dydx
