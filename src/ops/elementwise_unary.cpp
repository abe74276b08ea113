// Elementwise functions: each gives its value on one element and its local derivative f'(x).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "cpu/unary_kernels.hpp"
#include "cpu/vec_math.hpp"
#include "vmap/batched.hpp"
#include "ops/biharmonic_step.hpp"
#include "ops/clamp_bounds.hpp"
#include "ops/laplacian_tangent.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"
#include "ops/unary_record.hpp"

namespace dydx {
namespace ops {
namespace {

// sign is piecewise constant: its derivative is zero wherever it exists, and so is its tangent.
struct SignRecord : Named<"sign", "SignBackward0">, Linear {
  static constexpr JvpKind jvp_kind = JvpKind::zero;
  static void vjp(const Backward<SignRecord>&, const Tensor& g, Tensor* grads) { grads[0] = zeros_like(g); }
};

// A piecewise-constant function of x, such as a derivative that is a step (relu's 0/1, leaky_relu's
// slope/1): value(v) on each element, recorded with sign's rule (zero derivative) in one pass. Being
// an op of x keeps double backward connected to x, so grad of such a gradient is zeros rather than
// an error, as in PyTorch.
template <class F>
Tensor piecewise_constant(const Tensor& x, F value) {
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map1<T, T>(out, x, [value](T v) { return static_cast<T>(value(v)); });
  });
  finish<SignRecord>({&x}, out);
  // sign's record has no replay rule (it stands for every such function): this step takes the place
  // of the one finish() reported.
  compile::detail::note_kernel("piecewise_constant", {&x}, out, [value](const TensorList& in) {
    return piecewise_constant(in[0], value);
  });
  return out;
}

// relu's derivative from its result: 0 where out is 0 (or -0) and 1 elsewhere, nan included, as
// PyTorch 1.13's threshold_backward (out <= 0 ? 0 : g) has it, and 2.5 still does (its edge table,
// tests/data/edge_cases.txt, is identical there). sign(out) gave 0 at nan.
Tensor relu_step(const Tensor& out) {
  return piecewise_constant(out, [](auto v) { return v == 0 ? 0 : 1; });
}

// Each op reads either its input x or its result out in derivative(); the other is undefined.
// second_derivative(x, out) is f'', for the forward Laplacian, which has both (undefined: zero).
// Activations also give laplacian_coefficients(v): f', f'' and their derivatives along the value v
// they read (x or out), for one element or a tensor, which lets the forward Laplacian through them
// as one op, LaplacianTangentRecord (see laplacian_tangent.hpp and fused_laplacian below).
// Ops with SIMD math in cpu/vec_math.hpp also give forward_array, the same function on a contiguous
// run, bit for bit.
struct Exp : Named<"exp", "ExpBackward0"> {
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return cpu::vec::exp(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::exp(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return out; }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return out; }
  static constexpr const char* laplacian_tangent_name = "laplacian_tangent.exp";
  static std::vector<double> value_derivative() { return {0, 1}; }  // f' = y, in ascending powers of y
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    return TensorList(static_cast<size_t>(order), out);
  }
  template <class V>
  static LaplacianCoefficients<V> laplacian_coefficients(const V& y) {
    return {y, y, constant_like(y, 1), constant_like(y, 1), constant_like(y, 0), constant_like(y, 0)};
  }
};
struct Log : Named<"log", "LogBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::log_derivatives(x, 0, order);
  }
  static auto forward(auto x) { return cpu::vec::log(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::log(x, y, n); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return 1.0 / x; }
  // t / x rather than t * (1 / x), as PyTorch divides too: 1 / x overflows for a subnormal x where
  // t / x need not (the double backward of pow at x = 1e-40 gave inf, PyTorch -91.1).
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) { return t / x; }
  static Tensor second_derivative(const Tensor& x, const Tensor&) { return -1.0 / (x * x); }
};

struct Sqrt : Named<"sqrt", "SqrtBackward0"> {
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return std::sqrt(x); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return 0.5 / out; }
  static auto derivative_value(auto y) { return decltype(y)(0.5) / y; }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return -0.25 / (out * out * out); }
  // f^(j) = c_j x^(1/2 - j) = c_j out^(1 - 2 j), c_j = (1/2)(1/2 - 1)...(1/2 - j + 1).
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    TensorList d;
    double c = 1;
    for (int64_t j = 1; j <= order; ++j) {
      c *= 0.5 - static_cast<double>(j - 1);
      d.push_back(out.pow(1.0 - 2.0 * static_cast<double>(j)) * c);
    }
    return d;
  }
};
// sin's derivatives cycle through cos, -sin, -cos, sin; cos's start one step later.
inline TensorList trig_derivatives(const Tensor& x, int64_t start, int64_t order) {
  const Tensor c = cos(x), s = sin(x);
  const Tensor cycle[4] = {s, c, -s, -c};
  TensorList out;
  for (int64_t j = 1; j <= order; ++j) out.push_back(cycle[(start + j) % 4]);
  return out;
}

struct Sin : Named<"sin", "SinBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return trig_derivatives(x, 0, order);
  }
  static auto forward(auto x) { return cpu::vec::sin(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::sin(x, y, n); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return cos(x); }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return -out; }
  static constexpr const char* laplacian_tangent_name = "laplacian_tangent.sin";
  template <class V>
  static LaplacianCoefficients<V> laplacian_coefficients(const V& x) {
    using std::cos, std::sin;  // and dydx's, for tensors
    const V c = cos(x), s = sin(x);
    return {c, -s, -s, -c, -c, s};
  }
};
struct Cos : Named<"cos", "CosBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return trig_derivatives(x, 1, order);
  }
  static auto forward(auto x) { return cpu::vec::cos(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::cos(x, y, n); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return -sin(x); }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return -out; }
  static constexpr const char* laplacian_tangent_name = "laplacian_tangent.cos";
  template <class V>
  static LaplacianCoefficients<V> laplacian_coefficients(const V& x) {
    using std::cos, std::sin;  // and dydx's, for tensors
    const V c = cos(x), s = sin(x);
    return {-s, -c, -c, s, s, c};
  }
};
struct Tan : Named<"tan", "TanBackward0"> {
  static constexpr Reads reads = Reads::Output;
  // vec::tan: vectorised (a libm call per element was 2.5x to 5x slower than PyTorch's).
  static auto forward(auto x) { return cpu::vec::tan(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::tan(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return 1.0 + out * out; }
  static auto derivative_value(auto y) { return decltype(y)(1) + y * y; }
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    return taylor::value_derivatives({1, 0, 1}, out, order);  // f' = 1 + y^2
  }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return 2.0 * out * (1.0 + out * out); }
};
struct Tanh : Named<"tanh", "TanhBackward0"> {
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return cpu::vec::tanh(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::tanh(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return 1.0 - out * out; }
  static std::vector<double> value_derivative() { return {1, 0, -1}; }  // f' = 1 - y^2, in ascending powers of y
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    return taylor::tanh_derivatives(out, order);
  }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return -2.0 * out * (1.0 - out * out); }
  static constexpr const char* laplacian_tangent_name = "laplacian_tangent.tanh";
  // f' = 1 - y^2 and f'' = -2 y f' are polynomials in y = tanh(x).
  template <class V>
  static LaplacianCoefficients<V> laplacian_coefficients(const V& y) {
    using S = ScalarOf<V>;
    const V first = S(1) - y * y;
    return {first, S(-2) * y * first, S(-2) * y, S(6) * (y * y) - S(2), constant_like(y, -2), S(12) * y};
  }
};
struct Sigmoid : Named<"sigmoid", "SigmoidBackward0"> {
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return cpu::vec::sigmoid(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::sigmoid(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return out * (1.0 - out); }
  static std::vector<double> value_derivative() { return {0, 1, -1}; }  // f' = y - y^2, in ascending powers of y
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    return taylor::sigmoid_derivatives(out, order);
  }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return out * (1.0 - out) * (1.0 - 2.0 * out); }
  static constexpr const char* laplacian_tangent_name = "laplacian_tangent.sigmoid";
  // f' = y (1 - y) and f'' = f' (1 - 2 y) are polynomials in y = sigmoid(x).
  template <class V>
  static LaplacianCoefficients<V> laplacian_coefficients(const V& y) {
    using S = ScalarOf<V>;
    const V first = y * (S(1) - y);
    return {first, first * (S(1) - S(2) * y), S(1) - S(2) * y, S(1) - S(6) * y + S(6) * (y * y), constant_like(y, -2),
            S(12) * y - S(6)};
  }
};
struct Relu : Named<"relu", "ReluBackward0"> {
  static constexpr bool piecewise_linear = true;  // every Taylor coefficient is f' times the input's
  static constexpr Reads reads = Reads::Output;
  static constexpr bool keeps_integers = true;
  // PyTorch's clamp_min(x, 0): a nan stays nan, and so does -0 (it is not below 0).
  static auto forward(auto x) { return x < 0 ? decltype(x)(0) : x; }
  // The 0/1 step mask of out; being an op of out (with zero derivative) keeps double backward
  // connected to x, so grad of this gradient is zeros rather than an error, as in PyTorch.
  static Tensor derivative(const Tensor&, const Tensor& out) { return relu_step(out); }
  // where(out == 0, 0, t), as PyTorch's threshold_backward: an infinite or nan t gives 0 where the
  // step is 0 (t times the step made it nan). The zeros are relu_step's, so that double backward stays
  // connected to x. Without derivatives to carry (or vmap), one pass.
  static Tensor times_derivative(const Tensor& t, const Tensor&, const Tensor& out) {
    if (!forward::carries_derivatives(t) && !forward::carries_derivatives(out) && !vmap::takes_rule({&t, &out}) &&
        t.dtype() == out.dtype() && is_floating_point(t.dtype()))
      return gradient_kernel(t, out);
    return where(bool_mask</*TakesBool=*/false>(out, [](auto v) { return v == 0; }), relu_step(out), t);
  }
  static Tensor gradient_kernel(const Tensor& t, const Tensor& out) {
    const Dims shape = detail::broadcast_shapes(t.sizes(), out.sizes(), "relu (backward)");
    Tensor result = detail::make_empty(shape, t.dtype());
    cpu::dispatch_floating(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::map2_typed<T, T, T>(result, out, t, [](T o, T g) { return cpu::vec::detail::select(o == 0, T(0), g); });
    });
    if (compile::detail::recording()) [[unlikely]] {
      // No record of its own: func::compile is told of it, with its loop for the fused passes.
      const Tensor* inputs[] = {&out, &t};
      compile::StepRules rules;
      rules.replay = [](const TensorList& in) { return gradient_kernel(in[1], in[0]); };
      auto loop = []<class T>(T) -> compile::ElementwiseLoop<T> {
        return [](const T* o, const T* g, T* y, int64_t n) {
          for (int64_t i = 0; i < n; ++i) y[i] = cpu::vec::detail::select(o[i] == 0, T(0), g[i]);
        };
      };
      rules.elementwise = {.arity = 2, .f32 = loop(float{}), .f64 = loop(double{})};
      compile::detail::record_step("relu_backward", inputs, {}, result, std::move(rules));
    }
    return result;
  }
  // Piecewise linear: zero (no term at all) wherever the derivative exists.
  static Tensor second_derivative(const Tensor&, const Tensor&) { return {}; }
};
struct Abs : Named<"abs", "AbsBackward0"> {
  static constexpr bool piecewise_linear = true;  // every Taylor coefficient is f' times the input's
  static constexpr Reads reads = Reads::Input;
  static constexpr bool keeps_integers = true;
  // std::abs for floats: abs(-0) is +0, as in PyTorch (x < 0 ? -x : x would keep -0); abs(INT64_MIN)
  // wraps to itself, as in PyTorch.
  static auto forward(auto x) {
    if constexpr (std::is_floating_point_v<decltype(x)>) return std::abs(x);
    else return x < 0 ? cpu::wrapping_neg(x) : x;
  }
  static Tensor derivative(const Tensor& x, const Tensor&) { return sign(x); }
  static Tensor second_derivative(const Tensor&, const Tensor&) { return {}; }
};

struct Log1p : Named<"log1p", "Log1PBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    return taylor::log_derivatives(x, 1, order);
  }
  static auto forward(auto x) { return cpu::vec::log1p(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::log1p(x, y, n); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return 1.0 / (x + 1.0); }
  // t / (x + 1), as PyTorch's log1p_backward divides (see Log).
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&) { return t / (x + 1.0); }
  static Tensor second_derivative(const Tensor& x, const Tensor&) {
    const Tensor y = x + 1.0;
    return -1.0 / (y * y);
  }
};
struct Expm1 : Named<"expm1", "Expm1Backward0"> {
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return cpu::vec::expm1(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::expm1(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return out + 1.0; }
  static auto derivative_value(auto y) { return y + decltype(y)(1); }
  static Tensor second_derivative(const Tensor&, const Tensor& out) { return out + 1.0; }
  static TensorList taylor_derivatives(const Tensor&, const Tensor& out, int64_t order) {
    return TensorList(static_cast<size_t>(order), out + 1.0);
  }
};
struct Erf : Named<"erf", "ErfBackward0"> {
  static constexpr Reads reads = Reads::Input;
  // vec::erf vectorises, in both dtypes.
  [[gnu::always_inline]] static auto forward(auto x) { return cpu::vec::erf(x); }
  // 2 / sqrt(pi) e^(-x^2), as PyTorch writes it: pow's gradient 2 x g rounds once where x * x's
  // g x + g x rounds twice, which a float32 subnormal x shows.
  static Tensor derivative(const Tensor& x, const Tensor&) { return (2.0 / std::sqrt(M_PI)) * exp(-x.pow(2)); }
  [[gnu::always_inline]] static auto derivative_value(auto x) {
    using T = decltype(x);
    return static_cast<T>(2.0 / std::sqrt(M_PI)) * cpu::vec::exp(-(x * x));
  }
  static Tensor second_derivative(const Tensor& x, const Tensor& out) { return -2.0 * x * derivative(x, out); }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor& out, int64_t order) {
    return taylor::gaussian_derivatives(x, derivative(x, out), order);
  }
};

// The activations below are floating only: PyTorch has no integer kernels for them.
struct Silu : Named<"silu", "SiluBackward0"> {
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  // vec::exp vectorises where std::exp, a libm call per element, does not. Always inlined: GCC
  // otherwise called it per element from some loops (the one-thread one), which then stayed scalar.
  [[gnu::always_inline]] static auto forward(auto x) { return x / (1 + cpu::vec::exp(-x)); }
  static void forward_array(const auto* x, auto* y, int64_t n) {
    cpu::vec::detail::each(x, y, n, [](auto v) __attribute__((always_inline)) { return forward(v); });
  }
  static Tensor derivative(const Tensor& x, const Tensor&) {
    const Tensor s = sigmoid(x);
    return s * (1.0 + x * (1.0 - s));
  }
  [[gnu::always_inline]] static auto derivative_value(auto x) {
    using T = decltype(x);
    const T s = cpu::vec::sigmoid(x);
    return s * (T(1) + x * (T(1) - s));
  }
  static Tensor second_derivative(const Tensor& x, const Tensor&) {
    const Tensor s = sigmoid(x);
    return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s));
  }
  static constexpr const char* laplacian_tangent_name = "laplacian_tangent.silu";
  // f^(n) = n s^(n-1) + x s^(n), s = sigmoid(x) and s^(n) a polynomial in s.
  static TensorList taylor_derivatives(const Tensor& x, const Tensor&, int64_t order) {
    const Tensor s = sigmoid(x);
    const TensorList ds = taylor::sigmoid_derivatives(s, order);
    TensorList d;
    for (int64_t n = 1; n <= order; ++n)
      d.push_back((n == 1 ? s : ds[n - 2] * static_cast<double>(n)) + x * ds[n - 1]);
    return d;
  }
  // f = x s with s = sigmoid(x): the n-th derivative is n s_(n-1) + x s_n, s_n the n-th of s, with
  // s_1 = s (1 - s), s_2 = s_1 (1 - 2 s), s_3 = s_2 (1 - 2 s) - 2 s_1^2, s_4 = s_3 (1 - 2 s) - 6 s_1 s_2.
  template <class V>
  static LaplacianCoefficients<V> laplacian_coefficients(const V& x) {
    using S = ScalarOf<V>;
    V s;
    if constexpr (std::is_same_v<V, Tensor>) s = sigmoid(x);
    else s = cpu::vec::sigmoid(x);  // the sigmoid op's own kernel, as the tensor path above
    const V u = S(1) - S(2) * s;
    const V s1 = s * (S(1) - s), s2 = s1 * u;
    const V s3 = s2 * u - S(2) * (s1 * s1);
    const V s4 = s3 * u - S(6) * (s1 * s2);
    const V second = S(2) * s1 + x * s2, third = S(3) * s2 + x * s3;
    return {s + x * s1, second, second, third, third, S(4) * s3 + x * s4};
  }
};

struct SoftplusAttrs {
  double beta = 1, threshold = 20;
};
// log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's cut-off, which keeps
// e^(beta x) from overflowing).
struct Softplus : Named<"softplus", "SoftplusBackward0"> {
  using Attrs = SoftplusAttrs;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  // Both sides computed and selected, as Elu's, so that the loop vectorises; vec::softplus is
  // log(1 + e^y) without overflow, so the discarded side is harmless.
  [[gnu::always_inline]] static auto forward(auto x, const Attrs& a) {
    using T = decltype(x);
    const T beta = static_cast<T>(a.beta);
    return cpu::vec::detail::select(x * beta > static_cast<T>(a.threshold), x, cpu::vec::softplus(x * beta) / beta);
  }
  static Tensor above_threshold(const Tensor& x, const Attrs& a) {
    return bool_mask</*TakesBool=*/false>(x, [beta = a.beta, threshold = a.threshold](auto v) {
      using T = decltype(v);
      return v * static_cast<T>(beta) > static_cast<T>(threshold);
    });
  }
  // sigmoid(beta x) below the threshold, 1 above it.
  static Tensor derivative(const Tensor& x, const Tensor&, const Attrs& a) {
    return where(above_threshold(x, a), ones_like(x), sigmoid(x * a.beta));
  }
  [[gnu::always_inline]] static auto derivative_value(auto x, const Attrs& a) {
    using T = decltype(x);
    const T beta_x = x * static_cast<T>(a.beta);
    return cpu::vec::detail::select(beta_x > static_cast<T>(a.threshold), T(1), cpu::vec::sigmoid(beta_x));
  }
  static Tensor second_derivative(const Tensor& x, const Tensor&, const Attrs& a) {
    const Tensor s = sigmoid(x * a.beta);
    return where(above_threshold(x, a), zeros_like(x), a.beta * s * (1.0 - s));
  }
  // f' = sigmoid(beta x), so f^(n) = beta^(n-1) sigmoid^(n-1)(beta x), a polynomial in s =
  // sigmoid(beta x); above the threshold f is x, and every derivative past the first is 0.
  static TensorList taylor_derivatives(const Tensor& x, const Tensor& out, int64_t order, const Attrs& a) {
    const Tensor above = above_threshold(x, a), s = sigmoid(x * a.beta);
    const TensorList ds = taylor::sigmoid_derivatives(s, order);
    TensorList d{derivative(x, out, a)};
    double scale = 1;
    for (int64_t n = 2; n <= order; ++n) {
      scale *= a.beta;
      d.push_back(where(above, zeros_like(x), ds[n - 2] * scale));
    }
    return d;
  }
};

enum class GeluApproximation { none, tanh };
struct GeluAttrs {
  GeluApproximation approximate = GeluApproximation::none;
};
// x Phi(x), Phi the standard normal CDF; or PyTorch's tanh approximation of it. The constants and
// the order of operations are PyTorch 1.13's.
struct Gelu : Named<"gelu", "GeluBackward0"> {
  using Attrs = GeluAttrs;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  static constexpr double kBeta = M_SQRT2 * M_2_SQRTPI * 0.5;  // sqrt(2 / pi)
  static constexpr double kKappa = 0.044715;
  static constexpr double kPdf = M_2_SQRTPI * M_SQRT1_2 * 0.5;  // 1 / sqrt(2 pi)
  // The tanh form through vec::tanh, so that its loop vectorises (std::tanh is a libm call per
  // element); always inlined for the same reason as Silu's.
  [[gnu::always_inline]] static auto tanh_form(auto x) {
    using T = decltype(x);
    const T inner = static_cast<T>(kBeta) * (x + static_cast<T>(kKappa) * (x * x * x));
    return static_cast<T>(0.5 * x * (1 + cpu::vec::tanh(inner)));
  }
  [[gnu::always_inline]] static auto erf_form(auto x) {
    using T = decltype(x);
    return x * T(0.5) * (T(1) + cpu::vec::erf(x * static_cast<T>(M_SQRT1_2)));
  }
  static auto forward(auto x, const Attrs& a) {
    return a.approximate == GeluApproximation::tanh ? tanh_form(x) : erf_form(x);
  }
  // The loops take the form chosen once per call, so that each loop body holds one form: with both in
  // it, double erf's libm call (before vec::erf had a double version) kept the tanh form's loop scalar.
  template <class T, class F>
  static void with_form(const Attrs& a, F&& f) {
    if (a.approximate == GeluApproximation::tanh)
      f([](T x) __attribute__((always_inline)) { return tanh_form(x); });
    else
      f([](T x) __attribute__((always_inline)) { return erf_form(x); });
  }
  static Tensor derivative(const Tensor& x, const Tensor&, const Attrs& a) {
    if (a.approximate == GeluApproximation::tanh) {
      const Tensor x_sq = x * x;
      const Tensor t = tanh(kBeta * (x + kKappa * (x_sq * x)));
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * (kBeta * (1.0 + 3.0 * kKappa * x_sq));
    }
    const Tensor cdf = 0.5 * (1.0 + erf(x * M_SQRT1_2));
    return cdf + x * (exp(-0.5 * (x * x)) * kPdf);
  }
  // f' of one element in each form; with_derivative_form gives the chosen one to the fused loop, so
  // that each form has a loop of its own (GCC does not take the form's test out of the loop).
  [[gnu::always_inline]] static auto tanh_form_derivative(auto x) {
    using T = decltype(x);
    const T x_sq = x * x;
    const T t = cpu::vec::tanh(static_cast<T>(kBeta) * (x + static_cast<T>(kKappa) * (x_sq * x)));
    return T(0.5) * (T(1) + t) +
           T(0.5) * x * (T(1) - t * t) * (static_cast<T>(kBeta) * (T(1) + static_cast<T>(3.0 * kKappa) * x_sq));
  }
  [[gnu::always_inline]] static auto erf_form_derivative(auto x) {
    using T = decltype(x);
    const T cdf = T(0.5) * (T(1) + cpu::vec::erf(x * static_cast<T>(M_SQRT1_2)));
    return cdf + x * (cpu::vec::exp(T(-0.5) * (x * x)) * static_cast<T>(kPdf));
  }
  template <class T, class F>
  static void with_derivative_form(const Attrs& a, F&& f) {
    if (a.approximate == GeluApproximation::tanh)
      f([](T x) __attribute__((always_inline)) { return tanh_form_derivative(x); });
    else
      f([](T x) __attribute__((always_inline)) { return erf_form_derivative(x); });
  }
  static Tensor second_derivative(const Tensor& x, const Tensor&, const Attrs& a) {
    const Tensor x_sq = x * x;
    if (a.approximate == GeluApproximation::tanh) {
      // f = x (1 + t) / 2 with t = tanh(u), u = kBeta (x + kKappa x^3):
      // f'' = (1 - t^2) (u' + x (u'' - 2 t u'^2) / 2).
      const Tensor t = tanh(kBeta * (x + kKappa * (x_sq * x)));
      const Tensor du = kBeta * (1.0 + 3.0 * kKappa * x_sq);
      const Tensor d2u = (6.0 * kBeta * kKappa) * x;
      return (1.0 - t * t) * (du + 0.5 * x * (d2u - 2.0 * t * du * du));
    }
    return exp(-0.5 * x_sq) * kPdf * (2.0 - x_sq);
  }
  static TensorList taylor_derivatives(const Tensor& x, const Tensor& out, int64_t order, const Attrs& a) {
    return a.approximate == GeluApproximation::tanh ? tanh_derivatives(x, order) : erf_derivatives(x, out, order);
  }
  // f = x Phi(x): f^(n) = n Phi^(n-1) + x Phi^(n) (Leibniz), with Phi' = phi the normal density and
  // phi^(m) = (-1)^m He_m(x) phi, He the probabilists' Hermite polynomials: He_0 = 1, He_1 = x,
  // He_(m+1) = x He_m - m He_(m-1).
  static TensorList erf_derivatives(const Tensor& x, const Tensor& out, int64_t order) {
    const Tensor pdf = exp(-0.5 * (x * x)) * kPdf;
    TensorList phi{pdf};  // Phi^(1), Phi^(2), ...: phi^(m) for m = 0 .. order - 1
    Tensor older = ones_like(x), hermite = x;  // He_(m-1), He_m
    for (int64_t m = 1; m < order; ++m) {
      phi.push_back(m % 2 == 1 ? -(hermite * pdf) : hermite * pdf);
      const Tensor next = x * hermite - older * static_cast<double>(m);
      older = hermite;
      hermite = next;
    }
    TensorList d{derivative(x, out, Attrs{})};
    for (int64_t n = 2; n <= order; ++n) d.push_back(phi[n - 2] * static_cast<double>(n) + x * phi[n - 1]);
    return d;
  }
  // The tanh form: f = x (1 + tanh(u)) / 2 with u = kBeta (x + kKappa x^3) a cubic. Its derivatives
  // at x are n! times the Taylor coefficients of f(x + t): u's are read off the cubic, tanh(u)'s
  // follow by Faa di Bruno, and the product with x + t shifts them.
  static TensorList tanh_derivatives(const Tensor& x, int64_t order) {
    const Tensor x_sq = x * x;
    const Tensor t0 = tanh(kBeta * (x + kKappa * (x_sq * x)));
    TensorList u{kBeta * (1.0 + 3.0 * kKappa * x_sq), (3.0 * kBeta * kKappa) * x, full_like(x, kBeta * kKappa)};
    u.resize(static_cast<size_t>(order));
    const Tensor ts = taylor::compose(taylor::stacked(u), taylor::tanh_derivatives(t0, order));
    TensorList d;
    double factorial = 1;
    for (int64_t n = 1; n <= order; ++n) {
      factorial *= static_cast<double>(n);
      // [t^n] (x + t)(1 + tanh(u(x + t))) / 2 = (x T_n + T_(n-1)) / 2, with T_0 = tanh(u(x)) and 1 + T_0 for n = 1.
      const Tensor previous = n == 1 ? 1.0 + t0 : taylor::coefficient(ts, n - 1);
      d.push_back((x * taylor::coefficient(ts, n) + previous) * (0.5 * factorial));
    }
    return d;
  }
};

struct EluAttrs {
  double alpha = 1;
  double scale = 1;  // selu's: scale elu(x, alpha), as PyTorch's elu kernel takes it
};
// alpha (e^x - 1) for x <= 0, x above, each times scale. e^x - 1 rather than expm1, and alpha scale
// multiplied in the element type, as PyTorch computes them.
struct Elu : Named<"elu", "EluBackward0"> {
  using Attrs = EluAttrs;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  // Both sides computed and selected by bit mask, so that the loop vectorises rather than branching
  // per element around a libm call (bench/bench_activations.cpp); e^x's overflow on the discarded side
  // is harmless. (A ternary let GCC sink vec::exp into a branch again.)
  [[gnu::always_inline]] static auto forward(auto x, const Attrs& a) {
    using T = decltype(x);
    const T negative = (cpu::vec::exp(x) - T(1)) * (static_cast<T>(a.alpha) * static_cast<T>(a.scale));
    return cpu::vec::detail::select(x <= 0, negative, x * static_cast<T>(a.scale));
  }
  // alpha scale e^x for x < 0, alpha scale at 0 with derivative 0, as PyTorch's elu_double_backward
  // (which masks with x < 0). The exponent is 0 outside x < 0, so that the branch where() drops cannot
  // overflow or carry a nan: its zero gradient times e^inf would make double backward nan.
  static Tensor negative_part(const Tensor& x, const Attrs& a) {
    return (a.alpha * a.scale) * exp(where(bool_mask</*TakesBool=*/false>(x, [](auto v) { return v < 0; }), x, zeros({}, x.dtype())));
  }
  // alpha scale e^x for x <= 0, scale above (and at nan), as PyTorch's elu_backward.
  static Tensor derivative(const Tensor& x, const Tensor&, const Attrs& a) {
    return where(bool_mask</*TakesBool=*/false>(x, [](auto v) { return v <= 0; }), negative_part(x, a),
                 full_like(x, a.scale));
  }
  [[gnu::always_inline]] static auto derivative_value(auto x, const Attrs& a) {
    using T = decltype(x);
    const T negative =
        (static_cast<T>(a.alpha) * static_cast<T>(a.scale)) * cpu::vec::exp(cpu::vec::detail::select(x < 0, x, T(0)));
    return cpu::vec::detail::select(x <= 0, negative, static_cast<T>(a.scale));
  }
  static Tensor second_derivative(const Tensor& x, const Tensor&, const Attrs& a) {
    return where(bool_mask</*TakesBool=*/false>(x, [](auto v) { return v < 0; }), negative_part(x, a), zeros_like(x));
  }
  // Every derivative past the first is alpha scale e^x below 0 and 0 elsewhere, as the second.
  static TensorList taylor_derivatives(const Tensor& x, const Tensor& out, int64_t order, const Attrs& a) {
    TensorList d{derivative(x, out, a)};
    if (order > 1) d.resize(static_cast<size_t>(order), second_derivative(x, out, a));
    return d;
  }
};

struct LeakyReluAttrs {
  double negative_slope = 0.01;
};
struct LeakyRelu : Named<"leaky_relu", "LeakyReluBackward0"> {
  static constexpr bool piecewise_linear = true;  // every Taylor coefficient is f' times the input's
  using Attrs = LeakyReluAttrs;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool floating_only = true;
  // The product computed on both sides, so that GCC selects rather than branches (the slope's load
  // inside a branch kept the loop scalar and mispredicted; bench/bench_activations.cpp times it).
  [[gnu::always_inline]] static auto forward(auto x, const Attrs& a) {
    const auto negative = x * static_cast<decltype(x)>(a.negative_slope);
    return x > 0 ? x : negative;
  }
  // 1 for x > 0, the slope elsewhere (nan included), as PyTorch's leaky_relu_backward.
  static Tensor derivative(const Tensor& x, const Tensor&, const Attrs& a) {
    return piecewise_constant(x, [slope = a.negative_slope](auto v) {
      using T = decltype(v);
      return v > 0 ? T(1) : static_cast<T>(slope);
    });
  }
  // The same on one element, for the fused VJP and JVP pass (t * 1 is t, PyTorch's first branch):
  // without it a backward made the mask and the product in passes of their own, 25x PyTorch's time.
  [[gnu::always_inline]] static auto derivative_value(auto x, const Attrs& a) {
    using T = decltype(x);
    return cpu::vec::detail::select(x > 0, T(1), static_cast<T>(a.negative_slope));
  }
  static Tensor second_derivative(const Tensor&, const Tensor&, const Attrs&) { return {}; }
};

struct ClampAttrs {
  std::optional<Scalar> min, max;
};
// min(max(x, min), max), as PyTorch 1.13: a nan stays nan, and min > max gives max. A nan bound
// makes every element nan when both bounds are given, and changes nothing when one is (std::max(x,
// nan) is x); the gradient is 0 either way. clamp_min and clamp_max share it, named their own way:
// theirs is one bound, and a nan one makes every element nan (PyTorch 1.13 fills their result with
// it), so OneNanBoundFills.
template <class Names, bool OneNanBoundFills>
struct ClampOf : Names {
  static constexpr bool piecewise_linear = true;  // every Taylor coefficient is f' times the input's
  using Attrs = ClampAttrs;
  static constexpr Reads reads = Reads::Input;
  static constexpr bool keeps_integers = true;
  // The bounds converted once per call: read from the Scalars and optionals per element, they kept
  // the loop scalar (bench/bench_activations.cpp times it). A missing bound is the type's extreme,
  // which max and min leave every value (nan, -0) unchanged against.
  template <class T>
  static auto prepare(const Attrs& a) {
    bool nan_bound = false;
    if constexpr (std::is_floating_point_v<T>)
      nan_bound = (OneNanBoundFills || (a.min && a.max)) &&
                  ((a.min && std::isnan(a.min->to<T>())) || (a.max && std::isnan(a.max->to<T>())));
    using L = std::numeric_limits<T>;
    const T lo = a.min ? a.min->to<T>() : L::has_infinity ? -L::infinity() : L::lowest();
    const T hi = a.max ? a.max->to<T>() : L::has_infinity ? L::infinity() : L::max();
    return [nan_bound, lo, hi](T x) __attribute__((always_inline)) {
      return nan_bound ? L::quiet_NaN() : std::min(std::max(x, lo), hi);
    };
  }
  static auto forward(auto x, const Attrs& a) { return prepare<decltype(x)>(a)(x); }
  // The gradient passes where min <= x <= max, bounds included, and nowhere else (nan included),
  // as PyTorch's clamp_backward: where(mask, t, 0), so an infinite t outside gives 0, not nan.
  static Tensor times_derivative(const Tensor& t, const Tensor& x, const Tensor&, const Attrs& a) {
    // The bounds converted once per element type, as in prepare: a missing one is the type's
    // extreme, which every value but nan passes (and clamp always has one bound, which nan fails).
    Tensor inside = cpu::dispatch(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using L = std::numeric_limits<T>;
      const T lo = a.min ? a.min->to<T>() : L::has_infinity ? -L::infinity() : L::lowest();
      const T hi = a.max ? a.max->to<T>() : L::has_infinity ? L::infinity() : L::max();
      // bool_mask dispatches on x's dtype again, so only its T instance of the predicate runs.
      return bool_mask</*TakesBool=*/false>(x, [lo, hi](auto v) {
        // & rather than &&: the short circuit made a branch per element, and kept the loop scalar.
        if constexpr (std::is_same_v<decltype(v), T>) return (v >= lo) & (v <= hi);
        else return false;
      });
    });
    return where(inside, t, zeros({}, t.dtype()));
  }
  static Tensor second_derivative(const Tensor&, const Tensor&, const Attrs&) { return {}; }
};

using Clamp = ClampOf<Named<"clamp", "ClampBackward1">, false>;
using ClampMin = ClampOf<Named<"clamp_min", "ClampMinBackward0">, true>;
using ClampMax = ClampOf<Named<"clamp_max", "ClampMaxBackward0">, true>;

// A per-element function of any type, to ask e itself.
struct NegRecord : Named<"neg", "NegBackward0">, Linear {
  static Tensor replay(const TensorList& in, NoAttrs) { return neg(in[0]); }
  static compile::Elementwise elementwise(NoAttrs) {
    return {.arity = 1,
            .f32 = [](const float* a, const float*, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = -a[i]; },
            .f64 = [](const double* a, const double*, double* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = -a[i]; }};
  }
  static void vjp(const Backward<NegRecord>&, const Tensor& g, Tensor* grads) { grads[0] = -g; }
  static Tensor jvp(const Primal<NegRecord>&, const TensorList& t) { return -t[0]; }
};


}  // namespace

Tensor laplacian_tangent_of(std::string_view activation, const Tensor& t, const Tensor& v) {
  DYDX_CHECK(t.defined() && v.defined(), "laplacian_tangent: t and v must be defined");
  DYDX_CHECK(t.dim() == v.dim() + 1 && t.size(0) >= 1 && IntArrayRef(t.sizes().data() + 1, v.dim()) == v.sizes(),
             "laplacian_tangent: t must have shape [d + 1] + v's shape ", v.sizes(), ", got ", t.sizes());
  DYDX_CHECK(v.is_floating_point() && t.dtype() == v.dtype(), "laplacian_tangent: expected t and v of one floating dtype, got ",
             t.dtype(), " and ", v.dtype());
  if (activation == "tanh") return laplacian_tangent<Tanh>(t, v);
  if (activation == "sigmoid") return laplacian_tangent<Sigmoid>(t, v);
  if (activation == "exp") return laplacian_tangent<Exp>(t, v);
  if (activation == "sin") return laplacian_tangent<Sin>(t, v);
  if (activation == "cos") return laplacian_tangent<Cos>(t, v);
  if (activation == "silu") return laplacian_tangent<Silu>(t, v);
  detail::fail("laplacian_tangent: no fused rule for activation '", activation, "'");
}

}  // namespace ops

Tensor exp(const Tensor& x) { return ops::unary<ops::Exp>(x); }
Tensor log(const Tensor& x) { return ops::unary<ops::Log>(x); }
Tensor sqrt(const Tensor& x) { return ops::unary<ops::Sqrt>(x); }
Tensor sin(const Tensor& x) { return ops::unary<ops::Sin>(x); }
Tensor cos(const Tensor& x) { return ops::unary<ops::Cos>(x); }
Tensor tan(const Tensor& x) { return ops::unary<ops::Tan>(x); }
Tensor tanh(const Tensor& x) { return ops::unary<ops::Tanh>(x); }
Tensor sigmoid(const Tensor& x) { return ops::unary<ops::Sigmoid>(x); }
// PyTorch 1.13 has no bool kernel for relu or abs (clamp's is reached through its bounds' promotion,
// which clamp keeps): a bool input raises its errors rather than giving an int64 result.
Tensor relu(const Tensor& x) {
  DYDX_CHECK(!x.defined() || x.dtype() != kBool, "relu: Boolean inputs not supported for relu (shape ", x.sizes(), ")");
  return ops::unary<ops::Relu>(x);
}
Tensor abs(const Tensor& x) {
  DYDX_CHECK(!x.defined() || x.dtype() != kBool, "abs: \"abs_cpu\" not implemented for 'Bool' (shape ", x.sizes(), ")");
  return ops::unary<ops::Abs>(x);
}
Tensor log1p(const Tensor& x) { return ops::unary<ops::Log1p>(x); }
Tensor expm1(const Tensor& x) { return ops::unary<ops::Expm1>(x); }
Tensor erf(const Tensor& x) { return ops::unary<ops::Erf>(x); }
Tensor silu(const Tensor& x) { return ops::unary<ops::Silu>(x); }
Tensor softplus(const Tensor& x, Scalar beta, Scalar threshold) {
  return ops::unary<ops::Softplus>(x, {beta.to_double(), threshold.to_double()});
}
Tensor gelu(const Tensor& x, std::string_view approximate) {
  DYDX_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate argument must be either none or tanh, not '",
             approximate, "'");
  return ops::unary<ops::Gelu>(x, {approximate == "tanh" ? ops::GeluApproximation::tanh : ops::GeluApproximation::none});
}
Tensor elu(const Tensor& x, Scalar alpha) { return ops::unary<ops::Elu>(x, {alpha.to_double()}); }
// PyTorch's constants (torch.nn.functional.selu), as its selu calls elu: grad_fn EluBackward0.
Tensor selu(const Tensor& x) {
  return ops::unary<ops::Elu>(x, {.alpha = 1.6732632423543772848170429916717, .scale = 1.0507009873554804934193349852946});
}
Tensor leaky_relu(const Tensor& x, Scalar negative_slope) {
  return ops::unary<ops::LeakyRelu>(x, {negative_slope.to_double()});
}

namespace ops {
ScalarType clamp_result_type(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  if (is_floating_point(x.dtype())) return x.dtype();
  if ((min && !min->is_integral()) || (max && !max->is_integral())) return kDefaultDtype;
  const bool all_bool = (!min || min->is_boolean()) && (!max || max->is_boolean());
  return x.dtype() == kBool && !all_bool ? kInt64 : x.dtype();
}

void check_clamp_bounds(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max,
                        const char* op) {
  DYDX_CHECK(x.defined(), op, ": expected a defined tensor");
  DYDX_CHECK(min || max, op, ": At least one of 'min' or 'max' must not be None (shape ", x.sizes(), ")");
  const ScalarType dtype = clamp_result_type(x, min, max);
  // PyTorch 1.13 has no bool kernel, and names the one it looked for.
  DYDX_CHECK(dtype != kBool, op, ": \"", min && max ? "clamp_scalar_cpu" : min ? "clamp_min_cpu" : "clamp_max_scalar_cpu",
             "\" not implemented for 'Bool' (a bool tensor with bool bounds, shape ", x.sizes(), ")");
  // A bound is converted to the computation's dtype as c10's checked_convert does: a finite double
  // past float's range raises (it would have clamped against inf). Integer bounds fit every dtype
  // the computation can have (an int64 one compares them exactly), and a double fits float64.
  if (dtype != kFloat32) return;
  for (const auto& bound : {min, max}) {
    if (!bound || bound->is_integral()) continue;
    const double v = bound->to_double();
    DYDX_CHECK(!std::isfinite(v) || std::abs(v) <= std::numeric_limits<float>::max(), op,
               ": value cannot be converted to type float without overflow (bound ", *bound,
               ", computed in float32 for a tensor of dtype ", x.dtype(), " and shape ", x.sizes(), ")");
  }
}
}  // namespace ops

// An integer tensor keeps its dtype with integer bounds and takes the default float dtype with a
// floating one, as PyTorch's result_type of a tensor and scalars; a bool tensor clamps as int64
// between integer bounds (clamp_result_type).
Tensor clamp(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  ops::check_clamp_bounds(x, min, max, "clamp");
  return ops::unary<ops::Clamp>(x.to(ops::clamp_result_type(x, min, max)), {min, max});
}
Tensor clip(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max) { return clamp(x, min, max); }
Tensor clamp_min(const Tensor& x, Scalar min) {
  ops::check_clamp_bounds(x, min, std::nullopt, "clamp_min");
  return ops::unary<ops::ClampMin>(x.to(ops::clamp_result_type(x, min, std::nullopt)), {min, std::nullopt});
}
Tensor clamp_max(const Tensor& x, Scalar max) {
  ops::check_clamp_bounds(x, std::nullopt, max, "clamp_max");
  return ops::unary<ops::ClampMax>(x.to(ops::clamp_result_type(x, std::nullopt, max)), {std::nullopt, max});
}

Tensor neg(const Tensor& x) {
  if (vmap::takes_rule(x)) [[unlikely]] return vmap::elementwise(x, [](const Tensor& v) { return neg(v); });
  DYDX_CHECK(x.dtype() != kBool, "neg: Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
             "to invert a mask, use the `~` or `logical_not()` operator instead.");
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map1<T, T>(out, x, [](T v) { return cpu::wrapping_neg(v); });
  });
  ops::finish<ops::NegRecord>({&x}, out);
  return out;
}

Tensor sign(const Tensor& x) {
  if (vmap::takes_rule(x)) [[unlikely]] return vmap::elementwise(x, [](const Tensor& v) { return sign(v); });
  if (x.dtype() == kBool) return x.clone();  // the sign of a bool is itself, as PyTorch's
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map1<T, T>(out, x, [](T v) { return static_cast<T>((v > 0) - (v < 0)); });
  });
  ops::finish<ops::SignRecord>({&x}, out);
  compile::detail::note_kernel("sign", {&x}, out, [](const TensorList& in) { return sign(in[0]); });
  return out;
}

}  // namespace dydx
