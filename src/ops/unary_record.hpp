// The record of an elementwise function (UnaryRecord<Op>) and the op itself (unary<Op>), from a
// struct that gives the function on one element and its derivatives: every rule (VJP, JVP, second
// order, the forward Laplacian's and biharmonic's steps, Taylor, func::compile's loop) follows from
// them. The ops themselves are in elementwise_unary.cpp and elementwise_math.cpp.
//
// An op struct gives:
// - name and node (Named<"exp", "ExpBackward0">), and reads: whether its derivatives read its input x
//   or its result out (the one the record saves);
// - forward(v) on one element, vectorisable where it can be; optionally forward_array(x, y, n), the
//   same values on a contiguous run (SIMD math from cpu/vec_math.hpp);
// - derivative(x, out) and second_derivative(x, out) as tensors (undefined: zero), optionally
//   times_derivative(t, x, out) where t * f' needs its own form, and derivative_value(v) (f' on one
//   element, for the fused VJP and JVP pass), or, with a times_derivative, times_derivative_value(t,
//   v) or times_derivative_form<T>(attrs) (its form on one element, for the same pass);
// - taylor_derivatives(x, out, K): f', ..., f^(K), for func::jet and the biharmonic (or
//   piecewise_linear = true: f' is the whole rule);
// - optionally Attrs (then every member takes them last), keeps_integers, floating_only, and the
//   forward Laplacian's laplacian_coefficients.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "cpu/unary_kernels.hpp"
#include "ops/biharmonic_step.hpp"
#include "ops/laplacian_tangent.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"

namespace dydx::ops {

// Each op reads either its input x or its result out in derivative(); the other is undefined.
enum class Reads { Input, Output, Nothing };

// A per-element function of any type, to ask whether an op's with_form or with_derivative_form takes one.
struct AnyForm {
  template <class T>
  T operator()(T x) const { return x; }
};

// f' of one element, from x or from out as Op::reads says: the op's derivative_value (the composed
// derivative rule's arithmetic, on one element), or the chosen form's from with_derivative_form (an
// op whose attributes choose between forms, as with_form), or for an op that reads its result the
// first of its Laplacian coefficients. (sin's and cos's coefficients read x, but their one-element
// forms do not vectorise: a libm call beyond the reduction's range.) An op with its own
// times_derivative (a division, a mask) keeps it, or gives its one-element form (below).
template <class Op, class T>
concept HasDerivativeForms = requires(const AttrsOf<Op>& a) { Op::template with_derivative_form<T>(a, AnyForm{}); };
template <class Op>
concept HasDerivativeValue =
    (requires(double v, const AttrsOf<Op>& a) { Op::derivative_value(v, a); } ||
     requires(double v) { Op::derivative_value(v); } || HasDerivativeForms<Op, double> ||
     (HasLaplacianCoefficients<Op> && Op::reads == Reads::Output)) &&
    !requires(const Tensor& t) { Op::times_derivative(t, t, t); } &&
    !requires(const Tensor& t, const AttrsOf<Op>& a) { Op::times_derivative(t, t, t, a); };

// Calls f with the one-element f' to use for T (always inlined, so that f's loops vectorise).
template <class Op, class T, class F>
void with_derivative_value(const AttrsOf<Op>& attrs, F&& f) {
  if constexpr (HasDerivativeForms<Op, T>) {
    Op::template with_derivative_form<T>(attrs, std::forward<F>(f));
  } else if constexpr (requires(T v) { Op::derivative_value(v, attrs); }) {
    f([attrs](T v) __attribute__((always_inline)) { return Op::derivative_value(v, attrs); });
  } else if constexpr (requires(T v) { Op::derivative_value(v); }) {
    f([](T v) __attribute__((always_inline)) { return Op::derivative_value(v); });
  } else {
    f([](T v) __attribute__((always_inline)) { return Op::laplacian_coefficients(v).first; });
  }
}

// An op whose times_derivative has a form of its own (a mask that gives 0 where t is inf or nan, as
// PyTorch's hardtanh_backward does, where t * 0 would give nan) may give that form on one element:
// times_derivative_value(t, v), or times_derivative_form<T>(attrs), which returns it with the
// attributes read once per call (hardtanh's bounds, converted to T). The fused pass then runs it.
template <class Op, class T>
concept HasTimesDerivativeForm = requires(T t) { Op::times_derivative_value(t, t); } ||
                                 requires(const AttrsOf<Op>& a) { Op::template times_derivative_form<T>(a); };
template <class Op>
concept HasFusedDerivativeProduct = HasDerivativeValue<Op> || HasTimesDerivativeForm<Op, double>;

// Calls f with the one-element t * f'(v) to use for T: the op's own form where it gives one, else t
// times with_derivative_value's f' (always inlined, so that f's loops vectorise).
template <class Op, class T, class F>
void with_times_derivative(const AttrsOf<Op>& attrs, F&& f) {
  if constexpr (requires(T t) { Op::times_derivative_value(t, t); }) {
    f([](T t, T v) __attribute__((always_inline)) { return Op::times_derivative_value(t, v); });
  } else if constexpr (requires { Op::template times_derivative_form<T>(attrs); }) {
    f(Op::template times_derivative_form<T>(attrs));
  } else {
    with_derivative_value<Op, T>(attrs, [&](auto derivative) {
      f([derivative](T t, T v) __attribute__((always_inline)) { return t * derivative(v); });
    });
  }
}

// r[i] = product(t[i * t_step], v[i]), t_step 0 (one value) or 1. A function of its own, not
// inlined, with restrict parameters: inlined into the caller's loops GCC dropped the restrict and
// ran the loop's scalar version (the vector one sat behind an overlap test, which failed).
template <class T, class P>
[[gnu::noinline]] void times_each_derivative(const T* __restrict t, int64_t t_step, const T* __restrict v,
                                             T* __restrict r, int64_t n, P product) {
  if (t_step == 0) {
    const T t_value = t[0];
    for (int64_t i = 0; i < n; ++i) r[i] = product(t_value, v[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) r[i] = product(t[i], v[i]);
  }
}

// t * f'(v) in one pass, v being x or out as Op::reads says: t is a gradient or tangent shaped like
// v, possibly with batch dims in front. The composed rules make a pass and a temporary per step
// (tanh's t * (1 - out * out) three, silu's six), over tensors that a backward pass or the
// per-sample Jacobian of an MLP streams through memory. Undefined (the composed rule then runs)
// when the result itself needs derivatives (it has no record), or for layouts this loop does not
// cover. Its bits may differ from the composed rule's in the last place (GCC contracts a * b + c).
template <class Op>
Tensor fused_derivative_product(const Tensor& t, const Tensor& v, const AttrsOf<Op>& attrs) {
  if constexpr (!HasFusedDerivativeProduct<Op>) {
    return {};
  } else {
    const int64_t n = v.numel();
    // t one value broadcast (the gradient of a sum or mean; a func::compile pass reads it as one
    // value, a scalar slot), or laid out densely.
    const bool t_broadcast = t.sizes() == v.sizes() && std::ranges::all_of(t.strides(), [](int64_t s) { return s == 0; });
    if (n == 0 || !(t_broadcast || t.is_contiguous()) || !v.is_contiguous() || t.dtype() != v.dtype() ||
        !is_floating_point(v.dtype()) || t.numel() % n != 0 || t.dim() < v.dim() ||
        !(IntArrayRef(t.sizes().data() + (t.dim() - v.dim()), v.dim()) == v.sizes()) ||
        forward::carries_derivatives(t) || forward::carries_derivatives(v))
      return {};
    Tensor result = detail::make_empty(t.sizes(), t.dtype());
    const int64_t copies = t.numel() / n;
    cpu::dispatch_floating(v.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pt = t.data_ptr<T>();
      const T* pv = v.data_ptr<T>();
      T* pr = result.data_ptr<T>();
      with_times_derivative<Op, T>(attrs, [&](auto product) {
        cpu::parallel_for(n, cpu::kElementwiseGrain / copies + 1, [&](int64_t begin, int64_t end) {
          if (t_broadcast) {
            times_each_derivative(pt, 0, pv + begin, pr + begin, end - begin, product);
            return;
          }
          for (int64_t k = 0; k < copies; ++k)
            times_each_derivative(pt + k * n + begin, 1, pv + begin, pr + k * n + begin, end - begin, product);
        });
      });
    });
    if (compile::detail::recording()) [[unlikely]] {
      // No record of its own (it is a rule's step): func::compile is told of it here, with its loop,
      // in which v repeats along t's leading copies.
      const Tensor* inputs[] = {&t, &v};
      compile::StepRules rules;
      rules.replay = [attrs](const TensorList& in) { return fused_derivative_product<Op>(in[0], in[1], attrs); };
      auto loop = [attrs]<class T>(T) -> compile::ElementwiseLoop<T> {
        compile::ElementwiseLoop<T> loop;
        with_times_derivative<Op, T>(attrs, [&](auto product) {
          loop = [product](const T* a, const T* b, T* y, int64_t m) {
            for (int64_t i = 0; i < m; ++i) y[i] = product(a[i], b[i]);
          };
        });
        return loop;
      };
      rules.elementwise = {.arity = 2, .f32 = loop(float{}), .f64 = loop(double{})};
      compile::detail::record_step(Op::name, inputs, {}, result, std::move(rules));
    }
    return result;
  }
}

// An op with attributes (softplus's beta and threshold, clamp's bounds) declares `using Attrs` and
// takes them as the last argument of forward, derivative, times_derivative and second_derivative;
// the others declare neither. These call each member with the attributes where it has them.
template <class Op>
constexpr bool has_attrs = !std::is_empty_v<AttrsOf<Op>>;

// Always inlined: a per-element call from the kernels' loops would keep them scalar.
template <class Op, class T>
[[gnu::always_inline]] inline auto value_of(T x, const AttrsOf<Op>& a) {
  if constexpr (has_attrs<Op>) return Op::forward(x, a);
  else return Op::forward(x);
}

template <class Op>
Tensor second_derivative_of(const Tensor& x, const Tensor& out, const AttrsOf<Op>& a) {
  if constexpr (has_attrs<Op>) return Op::second_derivative(x, out, a);
  else return Op::second_derivative(x, out);
}

// t * f'(x, out), or the op's own form of that product where it gives one.
template <class Op>
Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor& out, const AttrsOf<Op>& a) {
  if constexpr (has_attrs<Op>) {
    if constexpr (requires { Op::times_derivative(t, x, out, a); }) return Op::times_derivative(t, x, out, a);
    else return t * Op::derivative(x, out, a);
  } else {
    if constexpr (requires { Op::times_derivative(t, x, out); }) return Op::times_derivative(t, x, out);
    else return t * Op::derivative(x, out);
  }
}

// An op's Taylor rule (func::jet) composes its derivatives f^(1..K), from taylor_derivatives(x, out,
// K) (with the attributes where it has them); a piecewise linear op (`piecewise_linear`) needs only
// f', its higher derivatives being zero wherever they exist.
template <class Op>
concept HasTaylorDerivatives =
    requires(const Tensor& x, int64_t k) { Op::taylor_derivatives(x, x, k); } ||
    requires(const Tensor& x, int64_t k, const AttrsOf<Op>& a) { Op::taylor_derivatives(x, x, k, a); };

template <class Op>
constexpr bool piecewise_linear() {
  if constexpr (requires { Op::piecewise_linear; }) return Op::piecewise_linear;
  return false;
}

template <class Op>
TensorList taylor_derivatives_of(const Tensor& x, const Tensor& out, const AttrsOf<Op>& a, int64_t order) {
  if constexpr (has_attrs<Op>) return Op::taylor_derivatives(x, out, order, a);
  else return Op::taylor_derivatives(x, out, order);
}

// Functions such as exp promote integers to the default float dtype; relu and abs keep them.
template <class Op>
constexpr bool keeps_integers() {
  if constexpr (requires { Op::keeps_integers; }) return Op::keeps_integers;
  return false;
}

// The forward Laplacian through an activation as one op, LaplacianTangentRecord<Op>, over its d + 1
// tangents t: out_k = f' t_k for the d directions, and out_d = f' t_d + f'' sum_k t_k^2 for the
// Laplacian. Undefined (the JVP and curvature rules then run) unless the op gives
// laplacian_coefficients and the tangents are dense, of the op's dtype and free of outer levels.
template <class Op>
Tensor fused_laplacian(const Tensor& t, const Tensor& x, const Tensor& out, int64_t d) {
  if constexpr (!HasLaplacianCoefficients<Op>) {
    return {};
  } else {
    const Tensor& v = Op::reads == Reads::Output ? out : x;
    if (!laplacian_tangent_applies(t, v, d)) return {};
    return laplacian_tangent<Op>(t, v);
  }
}
template <class Op>
Tensor unary(const Tensor& input, const AttrsOf<Op>& attrs = {});
template <class Op, class T>
compile::ElementwiseLoop<T> unary_loop(const AttrsOf<Op>& attrs);

// The record of an elementwise function Op: every rule follows from its f' and f''.
template <class Op>
struct UnaryRecord {
  using Attrs = AttrsOf<Op>;
  static constexpr const char* name = Op::name;
  static constexpr const char* node = Op::node;
  static constexpr Saves saves{.inputs = Op::reads == Reads::Input ? input_bits(0) : 0u,
                               .output = Op::reads == Reads::Output};
  static constexpr JvpKind jvp_kind = JvpKind::partials;
  static constexpr SecondOrderKind second_order = SecondOrderKind::partials;

  // func::compile: the op again, and its loop over a contiguous run for the fused passes.
  static Tensor replay(const TensorList& in, const Attrs& attrs) { return unary<Op>(in[0], attrs); }
  static compile::Elementwise elementwise(const Attrs& attrs) {
    return {.arity = 1, .f32 = unary_loop<Op, float>(attrs), .f64 = unary_loop<Op, double>(attrs)};
  }

  static void vjp(const Backward<UnaryRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = Op::reads == Reads::Input ? b.input(0) : Tensor();
    const Tensor out = Op::reads == Reads::Output ? b.output() : Tensor();
    grads[0] = fused_derivative_product<Op>(g, Op::reads == Reads::Output ? out : x, b.attrs());
    if (!grads[0].defined()) grads[0] = times_derivative<Op>(g, x, out, b.attrs());
  }
  static Tensor jvp(const Primal<UnaryRecord>& p, const TensorList& t) {
    Tensor fused = fused_derivative_product<Op>(t[0], Op::reads == Reads::Output ? p.output() : p.input(0), p.attrs());
    return fused.defined() ? fused : times_derivative<Op>(t[0], p.input(0), p.output(), p.attrs());
  }
  static Tensor curvature(const Primal<UnaryRecord>& p, const TensorList& g) {
    Tensor f2 = second_derivative_of<Op>(p.input(0), p.output(), p.attrs());
    return f2.defined() ? f2 * sum_over_directions(g[0], g[0]) : Tensor();
  }
  static Tensor fused_laplacian(const Primal<UnaryRecord>& p, const TensorList& t, int64_t d) {
    return ops::fused_laplacian<Op>(t[0], p.input(0), p.output(), d);
  }
  // At a biharmonic level: a piecewise linear op's JVP carries the whole stack, any other op steps
  // with its first four derivatives.
  static Tensor biharmonic(const Primal<UnaryRecord>& p, const TensorList& t, int64_t d)
    requires(piecewise_linear<Op>() || HasTaylorDerivatives<Op>)
  {
    if constexpr (piecewise_linear<Op>())
      return biharmonic::linear_step(times_derivative<Op>(t[0], p.input(0), p.output(), p.attrs()), p.output(), d);
    else return biharmonic::unary_step(t[0], p.input(0), taylor_derivatives_of<Op>(p.input(0), p.output(), p.attrs(), 4), d);
  }
  static Tensor taylor(const Primal<UnaryRecord>& p, const TensorList& x)
    requires(piecewise_linear<Op>() || HasTaylorDerivatives<Op>)
  {
    if constexpr (piecewise_linear<Op>())
      return times_derivative<Op>(x[0], p.input(0), p.output(), p.attrs());
    else
      return taylor::compose(x[0], taylor_derivatives_of<Op>(p.input(0), p.output(), p.attrs(), forward::taylor_order()));
  }
};

template <class Op, class T>
constexpr bool has_array_forward = requires(const T* x, T* y) { Op::forward_array(x, y, int64_t{}); };
// An op with attributes may give prepare<T>(attrs): forward with the attributes read once, for loops.
template <class Op, class T>
constexpr bool has_prepare = requires(const AttrsOf<Op>& a) { Op::template prepare<T>(a); };
// Behind a template for clang, as array_forward below.
template <class Op, class T>
auto prepared(const AttrsOf<Op>& a) {
  return Op::template prepare<T>(a);
}
// An op whose attributes choose between forms of different cost (gelu's) may give with_form<T>(attrs,
// f), which calls f with the chosen form's per-element function, so that each form has a loop of its own.
template <class Op, class T>
constexpr bool has_forms = requires(const AttrsOf<Op>& a) { Op::template with_form<T>(a, AnyForm{}); };
template <class Op, class T, class F>
void with_form(const AttrsOf<Op>& a, F&& f) {
  Op::template with_form<T>(a, std::forward<F>(f));
}
// Op::forward_array behind a template, so that only ops that have it instantiate the call: clang
// looks the name up even in a discarded branch when Op is already known there.
template <class Op, class T>
void array_forward(const T* x, T* y, int64_t n) {
  Op::forward_array(x, y, n);
}

// The loop unary<Op> runs on a contiguous run of floats, for func::compile's fused passes.
template <class Op, class T>
compile::ElementwiseLoop<T> unary_loop(const AttrsOf<Op>& attrs) {
  if constexpr (has_array_forward<Op, T>) {
    return [](const T* a, const T*, T* y, int64_t n) { array_forward<Op, T>(a, y, n); };
  } else if constexpr (has_forms<Op, T>) {
    compile::ElementwiseLoop<T> loop;
    with_form<Op, T>(attrs, [&](auto g) {
      loop = [g](const T* a, const T*, T* y, int64_t n) {
        for (int64_t i = 0; i < n; ++i) y[i] = g(a[i]);
      };
    });
    return loop;
  } else if constexpr (has_prepare<Op, T>)
    return [f = prepared<Op, T>(attrs)](const T* a, const T*, T* y, int64_t n) {
      for (int64_t i = 0; i < n; ++i) y[i] = f(a[i]);
    };
  else
    return [attrs](const T* a, const T*, T* y, int64_t n) {
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(value_of<Op>(a[i], attrs));
    };
}

// silu, softplus, gelu, elu and leaky_relu have no integer kernels in PyTorch, which raises.
template <class Op>
constexpr bool floating_only() {
  if constexpr (requires { Op::floating_only; }) return Op::floating_only;
  return false;
}

template <class Op>
Tensor unary(const Tensor& input, const AttrsOf<Op>& attrs) {
  if (vmap::takes_rule(input)) [[unlikely]]
    return vmap::elementwise(input, [&](const Tensor& v) { return unary<Op>(v, attrs); });
  DYDX_CHECK(!floating_only<Op>() || !input.defined() || input.is_floating_point(), Op::name, ": not implemented for ",
             input.dtype(), " tensors (shape ", input.sizes(), "); convert the input to a floating dtype");
  Tensor promoted;  // a handle copy costs two atomic operations, which tiny tensors feel
  // Bool inputs compute as int64 where the op keeps integers (clamp; relu and abs refuse them), else
  // as floats.
  const Tensor& x = input.is_floating_point() || (keeps_integers<Op>() && input.dtype() == kInt64) ? input
                    : (promoted = keeps_integers<Op>() ? input.to(kInt64) : to_floating(input));
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T> && has_array_forward<Op, T>)
      cpu::map1_array<T>(out, x, [](T v) { return Op::forward(v); }, &array_forward<Op, T>);
    else if constexpr ((std::is_floating_point_v<T> || keeps_integers<Op>()) && has_forms<Op, T>)
      with_form<Op, T>(attrs, [&](auto g) { cpu::map1<T, T>(out, x, g); });
    else if constexpr ((std::is_floating_point_v<T> || keeps_integers<Op>()) && has_prepare<Op, T>)
      cpu::map1<T, T>(out, x, prepared<Op, T>(attrs));
    else if constexpr (std::is_floating_point_v<T> || keeps_integers<Op>())
      // Always inlined into map1's loops (GCC otherwise called it per element for elu).
      cpu::map1<T, T>(out, x, [&attrs](T v) __attribute__((always_inline)) { return static_cast<T>(value_of<Op>(v, attrs)); });
  });
  finish<UnaryRecord<Op>>({&x}, out, attrs);
  return out;
}

}  // namespace dydx::ops
