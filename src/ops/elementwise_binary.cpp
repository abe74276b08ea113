// Broadcasting binary ops: each declares its value on a pair of elements and its partial derivatives
// once, and both modes and the second order derive from them. Also where, the scalar forms and comparisons.
#include <algorithm>
#include <cmath>
#include <optional>

#include "cpu/vec_math.hpp"
#include "vmap/batched.hpp"
#include "ops/biharmonic_step.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"

namespace dydx {
namespace ops {

namespace {

// d/dx x^y = y x^(y-1), taken as 0 where y == 0 (x^0 is constant, even at x == 0), as PyTorch does;
// times g when g is given (a cotangent or tangent), the exact zeros applied after that product as
// PyTorch's pow_backward_self does, so that a nan in g (a double backward's log x at x < 0) stays
// out of them.
Tensor pow_base_derivative(const Tensor& x, const Tensor& y, const Tensor& g = {}) {
  Tensor derivative = y * x.pow(y - 1.0);
  if (g.defined()) derivative = g * derivative;
  return where(eq(y, 0), zeros_like(derivative), derivative);
}

// Where y >= 0 (nan is not).
Tensor nonnegative(const Tensor& y) { return ge(y, 0); }

// d/dy x^y = x^y log x given out = x^y, taken as 0 where x == 0 and y >= 0 (the limit), as PyTorch
// does; a nan y is not >= 0, so there it stays nan. Callers multiply by g afterwards, as PyTorch's
// pow_backward_exponent does (there, unlike above, a nan in g does reach the zeros).
Tensor pow_exponent_derivative(const Tensor& x, const Tensor& y, const Tensor& out) {
  Tensor at_zero = logical_and(eq(x, 0), nonnegative(y));
  return where(at_zero, zeros_like(out), out * log(x));
}

// d/dy b^y = b^y log b for a scalar base; for b == 0, 0 where y >= 0 (the limit) and
// 0^y log 0 elsewhere (-inf for y < 0, nan for nan), as PyTorch's pow_backward_exponent.
Tensor pow_scalar_base_derivative(double b, const Tensor& y, const Tensor& out) {
  Tensor derivative = out * std::log(b);
  return b == 0 ? where(nonnegative(y), zeros_like(derivative), derivative) : derivative;
}


// A partial derivative d out/d input as an edge weight (the one number per edge that both modes
// multiply by, as in Dr.Jit): a tensor, a constant, or none at all (a partial that is zero by
// construction, which no product needs). A constant 0 is a value like any other: add's alpha = 0
// still multiplies, so that a nan or inf cotangent reaches b as nan, as in PyTorch.
struct Weight {
  Tensor tensor;
  std::optional<double> constant;
  Weight() = default;
  Weight(Tensor t) : tensor(std::move(t)) {}
  Weight(double c) : constant(c) {}
  bool is_zero() const { return !tensor.defined() && !constant; }
};

// t times w, undefined (zero) when either is; a constant +-1 costs no pass.
Tensor weighted(const Tensor& t, const Weight& w) {
  if (!t.defined() || w.is_zero()) return {};
  if (w.tensor.defined()) return t * w.tensor;
  return *w.constant == 1 ? t : *w.constant == -1 ? -t : t * *w.constant;
}

// A call as the partials see it, for asking which partials a declaration gives.
template <class Op>
struct AnyCall {
  Tensor input(size_t) const;
  Tensor output() const;
  const AttrsOf<Op>& attrs() const;
};

// A declaration gives d_a(c) and d_b(c), the partials as weights of the call c (the primal call in
// forward mode, the saved one in backward), or times_d_a(t, c) and times_d_b(t, c) where the
// product with a cotangent or tangent t has a form of its own (division rather than a reciprocal).
// Its second partials d_aa, d_ab, d_bb give the forward Laplacian; an op whose second derivative is
// zero wherever it exists declares `linear` instead.
template <class Op, int I>
Tensor times_partial(const Tensor& t, const auto& c) {
  if (!t.defined()) return {};
  if constexpr (I == 0) {
    if constexpr (requires { Op::times_d_a(t, c); }) return Op::times_d_a(t, c);
    else return weighted(t, Op::d_a(c));
  } else {
    if constexpr (requires { Op::times_d_b(t, c); }) return Op::times_d_b(t, c);
    else return weighted(t, Op::d_b(c));
  }
}

template <class Op>
Tensor replay_binary(const Tensor& a, const Tensor& b, const AttrsOf<Op>& attrs);
template <class Op, class T>
compile::ElementwiseLoop<T> binary_loop(const AttrsOf<Op>& attrs);

// The record of a binary elementwise op Op: every rule follows from its partials.
template <class Op>
struct BinaryRecord {
  static constexpr const char* name = Op::name;
  static constexpr const char* node = Op::node;
  using Attrs = AttrsOf<Op>;
  static constexpr Saves saves = saves_of<Op>();
  static constexpr bool broadcasts = true;
  static constexpr JvpKind jvp_kind = JvpKind::partials;
  static constexpr bool has_second_partials = requires(const AnyCall<Op>& c) { Op::d_ab(c); };
  static_assert(has_second_partials || requires { requires Op::linear; },
                "a binary op declares its second partials d_aa, d_ab, d_bb, or that it is linear");
  static constexpr SecondOrderKind second_order =
      has_second_partials ? SecondOrderKind::partials : SecondOrderKind::linear;

  // func::compile: the op again, and its loop over contiguous runs for the fused passes.
  static Tensor replay(const TensorList& in, const Attrs& attrs) { return replay_binary<Op>(in[0], in[1], attrs); }
  // An integer fmod or remainder checks its divisor for zeros at each replay (where no output reads
  // its result, the check alone runs).
  static bool checks_values_of(const Tensor& out) {
    if constexpr (requires(const Tensor& t, ScalarType d) { Op::check(t, t, d); })
      return !is_floating_point(out.dtype());
    else
      return false;
  }
  static void check_values(const TensorList& in, const Attrs&, ScalarType dtype) {
    if constexpr (requires(const Tensor& t, ScalarType d) { Op::check(t, t, d); }) Op::check(in[0], in[1], dtype);
  }
  static compile::Elementwise elementwise(const Attrs& attrs) {
    return {.arity = 2, .f32 = binary_loop<Op, float>(attrs), .f64 = binary_loop<Op, double>(attrs)};
  }

  static void vjp(const Backward<BinaryRecord>& b, const Tensor& g, Tensor* grads) {
    for (int i = 0; i < 2; ++i) {
      if (!b.needs_grad(i)) continue;
      grads[i] = i == 0 ? times_partial<Op, 0>(g, b) : times_partial<Op, 1>(g, b);
      if (!grads[i].defined()) grads[i] = zeros_like(g);
    }
  }
  static Tensor jvp(const Primal<BinaryRecord>& p, const TensorList& t) {
    return sum_terms(times_partial<Op, 0>(t[0], p), times_partial<Op, 1>(t[1], p));
  }
  // sum_k D2f[g_k, g_k] = d_aa sum_k ga_k^2 + 2 d_ab sum_k ga_k gb_k + d_bb sum_k gb_k^2.
  static Tensor curvature(const Primal<BinaryRecord>& p, const TensorList& g)
    requires has_second_partials
  {
    auto term = [&](const Tensor& x, const Tensor& y, auto weight) {
      if (!x.defined() || !y.defined()) return Tensor();
      const Weight w = weight();
      return w.is_zero() ? Tensor() : weighted(sum_over_directions(x, y), w);
    };
    Tensor aa = term(g[0], g[0], [&] { return Op::d_aa(p); });
    Tensor ab = term(g[0], g[1], [&] { return Op::d_ab(p); });
    Tensor bb = term(g[1], g[1], [&] { return Op::d_bb(p); });
    return sum_terms(sum_terms(aa, ab.defined() ? ab * 2.0 : ab), bb);
  }
  // At a biharmonic level: an input the op is linear in (d_aa or d_bb zero: a product, a quotient's
  // numerator) moves alone through the JVP; otherwise mul is Leibniz's rule and div solves a = y b
  // for the quotient's stack, and other ops have none.
  static Tensor biharmonic(const Primal<BinaryRecord>& p, const TensorList& t, int64_t d)
    requires has_second_partials
  {
    const bool linear_in_moving = !t[0].defined() ? Op::d_bb(p).is_zero() : !t[1].defined() && Op::d_aa(p).is_zero();
    if (linear_in_moving) return biharmonic::linear_step(jvp(p, t), p.output(), d);
    if constexpr (requires { requires Op::is_product; })
      return biharmonic::product_composed(p.input(0), t[0], p.input(1), t[1], d, biharmonic::elementwise_times);
    if constexpr (requires { requires Op::is_quotient; })
      return biharmonic::quotient_composed(t[0], p.input(1), t[1], p.output(), d);
    return {};
  }
  static Tensor taylor(const Primal<BinaryRecord>& p, const TensorList& x)
    requires requires { Op::taylor(p, x); }
  {
    return Op::taylor(p, x);
  }
};

// The dtype a binary op computes in: the promoted one, or the default float dtype for integers
// where the op is a floating one (true division, atan2).
template <class Op>
ScalarType binary_dtype(const Tensor& a, const Tensor& b) {
  const ScalarType dtype = result_type(a, b);
  if constexpr (requires { Op::floating; })
    if (!is_floating_point(dtype)) return kDefaultDtype;
  return dtype;
}

// out = Op::forward(a, b) over the broadcast shape, then its record.
template <class Op>
Tensor binary(const Tensor& a, const Tensor& b) {
  if (vmap::takes_rule({&a, &b})) [[unlikely]]
    return vmap::broadcasting(Op::name, a, b, [](const Tensor& x, const Tensor& y) { return binary<Op>(x, y); });
  const ScalarType dtype = binary_dtype<Op>(a, b);
  if constexpr (requires { Op::check(a, b, dtype); }) Op::check(a, b, dtype);
  // An op with an array form for floating dtypes (fmod's: a vectorised pass, then libm for what it
  // left) takes it where a is dense and b dense like it or one value.
  if constexpr (requires(const float* p, float* q) { Op::forward_array(p, p, int64_t{}, q, int64_t{}); }) {
    if ((dtype == kFloat32 || dtype == kFloat64) && a.dtype() == dtype && b.dtype() == dtype && a.is_contiguous() &&
        (b.numel() == 1 || (b.sizes() == a.sizes() && b.is_contiguous())) &&
        detail::broadcast_shapes(a.sizes(), b.sizes(), Op::name) == a.sizes()) {
      Tensor out = detail::make_empty(a.sizes(), dtype);
      const auto run = [&]<class T>(T*) {
        const T* pa = a.data_ptr<T>();
        const T* pb = b.data_ptr<T>();
        T* po = out.data_ptr<T>();
        const int64_t b_step = b.numel() == 1 ? 0 : 1;
        cpu::parallel_for(a.numel(), cpu::kElementwiseGrain, [&](int64_t begin, int64_t end) {
          Op::forward_array(pa + begin, pb + begin * b_step, b_step, po + begin, end - begin);
        });
      };
      if (dtype == kFloat32) run(static_cast<float*>(nullptr));
      else run(static_cast<double*>(nullptr));
      finish<BinaryRecord<Op>>({&a, &b}, out);
      return out;
    }
  }
  // Always inlined, so that the loop vectorises where the op's forward does (a call per element
  // otherwise, once the forward is large: atan2's).
  Tensor out = binary_kernel(a, b, dtype, Op::name,
                             [](auto x, auto y) __attribute__((always_inline)) { return Op::forward(x, y); });
  finish<BinaryRecord<Op>>({&a, &b}, out);
  return out;
}

// add and sub: out = a + c b, with c = alpha for add and -alpha for sub.
struct ScaleOfB {
  double c = 1;
  int64_t integer_c = 1;  // c exactly, for integer tensors
};
template <class Names>
struct AddScaled : Names {
  using Attrs = ScaleOfB;
  static constexpr bool linear = true;
  static Weight d_a(const auto&) { return 1.0; }
  static Weight d_b(const auto& c) { return c.attrs().c; }
};
using Add = AddScaled<Named<"add", "AddBackward0">>;
using Sub = AddScaled<Named<"sub", "SubBackward0">>;

struct Mul : Named<"mul", "MulBackward0"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static constexpr bool is_product = true;  // a biharmonic level's Leibniz rule
  static auto forward(auto x, auto y) { return cpu::wrapping_mul(x, y); }
  static Weight d_a(const auto& c) { return c.input(1); }
  static Weight d_b(const auto& c) { return c.input(0); }
  static Weight d_aa(const auto&) { return {}; }
  static Weight d_ab(const auto&) { return 1.0; }
  static Weight d_bb(const auto&) { return {}; }
  // Bilinear: y_k = sum_j a_j b_(k-j).
  static Tensor taylor(const auto& c, const TensorList& x) {
    return taylor::cauchy_product(c.input(0), x[0], c.input(1), x[1], [](const Tensor& a, const Tensor& b) { return a * b; });
  }
};

struct Div : Named<"div", "DivBackward0"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static constexpr bool floating = true;  // true division, as torch.div
  static constexpr bool is_quotient = true;  // a biharmonic level's rule
  static auto forward(auto x, auto y) { return x / y; }
  // t / b, not t * (1 / b), whose reciprocal overflows for a subnormal b.
  static Tensor times_d_a(const Tensor& t, const auto& c) { return t / c.input(1); }
  // (a / b) / b rather than a / (b * b), whose square overflows or underflows first.
  static Tensor times_d_b(const Tensor& t, const auto& c) { return -t * (c.input(0) / c.input(1)) / c.input(1); }
  static Weight d_aa(const auto&) { return {}; }
  static Weight d_ab(const auto& c) { return -1.0 / c.input(1) / c.input(1); }
  static Weight d_bb(const auto& c) { return 2.0 * (c.input(0) / c.input(1)) / c.input(1) / c.input(1); }
  // y b = a, so y_k = (a_k - sum_(j=1..k) b_j y_(k-j)) / b_0, y_0 being the quotient.
  static Tensor taylor(const auto& c, const TensorList& x) {
    const int64_t order = forward::taylor_order();
    TensorList y(static_cast<size_t>(order));
    for (int64_t k = 1; k <= order; ++k) {
      Tensor numerator = taylor::coefficient(x[0], k);
      for (int64_t j = 1; j <= k; ++j) {
        const Tensor bj = taylor::coefficient(x[1], j);
        const Tensor& previous = j == k ? c.output() : y[k - j - 1];
        if (bj.defined() && previous.defined()) numerator = taylor::plus(numerator, -(bj * previous));
      }
      if (numerator.defined()) y[k - 1] = numerator / c.input(1);
    }
    return taylor::stacked(y);
  }
};

// The Hessian of x^y comes from the first derivatives' own helpers, so that their conventions at
// x == 0 and y == 0 carry over: d/dx (y x^(y-1)) = y (y-1) x^(y-2), d/dy (x^y log x) = x^y log2 x,
// and the mixed d/dy (y x^(y-1)) = x^(y-1) + y x^(y-1) log x.
struct Pow : Named<"pow.Tensor", "PowBackward1"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1), .output = true};
  static Tensor times_d_a(const Tensor& t, const auto& c) { return pow_base_derivative(c.input(0), c.input(1), t); }
  static Tensor times_d_b(const Tensor& t, const auto& c) {
    return t * pow_exponent_derivative(c.input(0), c.input(1), c.output());
  }
  static Weight d_aa(const auto& c) { return c.input(1) * pow_base_derivative(c.input(0), c.input(1) - 1.0); }
  static Weight d_ab(const auto& c) {
    const Tensor &x = c.input(0), &y = c.input(1);
    Tensor lower = x.pow(y - 1.0);
    return lower + y * pow_exponent_derivative(x, y - 1.0, lower);
  }
  static Weight d_bb(const auto& c) {
    const Tensor &x = c.input(0), &y = c.input(1);
    return pow_exponent_derivative(x, y, pow_exponent_derivative(x, y, c.output()));
  }
  // a^b = exp(u) with u = b log a: log's recurrence for log a, a Cauchy product with b, exp's
  // recurrence from the output.
  static Tensor taylor(const auto& c, const TensorList& x) {
    const TensorList a = taylor::terms(c.input(0), x[0]);
    const TensorList u = taylor::product_terms(taylor::terms(c.input(1), x[1]), taylor::log_terms(log(c.input(0)), a),
                                               [](const Tensor& l, const Tensor& r) { return l * r; });
    return taylor::stacked_terms(taylor::exp_terms(c.output(), u));
  }
};

// atan2(a, b), the angle of the point (b, a): d/da = b / r, d/db = -a / r with r = a^2 + b^2,
// multiplied in PyTorch's order (t * b * (1 / r)).
struct Atan2 : Named<"atan2", "Atan2Backward0"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static constexpr bool floating = true;
  // Through vec::atan2 (vectorised; libm's, a call per element, was 7x and 3.6x slower than PyTorch's
  // in float and double).
  [[gnu::always_inline]] static auto forward(auto x, auto y) {
    if constexpr (std::is_same_v<decltype(x), decltype(y)> && std::is_floating_point_v<decltype(x)>)
      return cpu::vec::atan2(x, y);
    else
      return std::atan2(x, y);
  }
  static Tensor reciprocal_radius2(const auto& c) {
    return 1.0 / (c.input(0) * c.input(0) + c.input(1) * c.input(1));
  }
  static Tensor times_d_a(const Tensor& t, const auto& c) { return t * c.input(1) * reciprocal_radius2(c); }
  static Tensor times_d_b(const Tensor& t, const auto& c) { return t * -c.input(0) * reciprocal_radius2(c); }
  static Weight d_aa(const auto& c) { return -2.0 * c.input(0) * c.input(1) * reciprocal_radius2(c).pow(2); }
  static Weight d_ab(const auto& c) {
    return (c.input(1) * c.input(1) - c.input(0) * c.input(0)) * reciprocal_radius2(c).pow(2) * -1.0;
  }
  static Weight d_bb(const auto& c) { return 2.0 * c.input(0) * c.input(1) * reciprocal_radius2(c).pow(2); }
  // theta' = (b a' - a b') / (a^2 + b^2): the series of theta' to order K - 1 by products and the
  // quotient's recurrence, then theta_k = theta'_(k-1) / k.
  static Tensor taylor(const auto& c, const TensorList& x) {
    const auto times = [](const Tensor& l, const Tensor& r) { return l * r; };
    const TensorList a = taylor::terms(c.input(0), x[0]), b = taylor::terms(c.input(1), x[1]);
    const TensorList da = derivative_terms(a), db = derivative_terms(b);
    const TensorList a_low(a.begin(), a.end() - 1), b_low(b.begin(), b.end() - 1);
    const TensorList left = taylor::product_terms(b_low, da, times), right = taylor::product_terms(a_low, db, times);
    const TensorList aa = taylor::product_terms(a_low, a_low, times), bb = taylor::product_terms(b_low, b_low, times);
    TensorList numerator, radius2;
    for (size_t i = 0; i < a_low.size(); ++i) {
      numerator.push_back(taylor::plus(left[i], right[i].defined() ? -right[i] : Tensor()));
      radius2.push_back(taylor::plus(aa[i], bb[i]));
    }
    const Tensor first = numerator[0].defined() ? numerator[0] / radius2[0] : Tensor();
    const TensorList slope = taylor::quotient_terms(first, numerator, radius2);
    TensorList theta{c.output()};
    for (size_t k = 1; k < a.size(); ++k)
      theta.push_back(slope[k - 1].defined() ? slope[k - 1] / static_cast<double>(k) : Tensor());
    return taylor::stacked_terms(theta);
  }
  // The terms of x'(t) from x's: (x')_i = (i + 1) x_(i+1), one fewer.
  static TensorList derivative_terms(const TensorList& x) {
    TensorList out;
    for (size_t i = 0; i + 1 < x.size(); ++i)
      out.push_back(x[i + 1].defined() ? x[i + 1] * static_cast<double>(i + 1) : Tensor());
    return out;
  }
};

// hypot(a, b) = sqrt(a^2 + b^2): d/da = a / out, d/db = b / out, as PyTorch has them (t * a / out).
struct Hypot : Named<"hypot", "HypotBackward0"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1), .output = true};
  static void check(const Tensor& a, const Tensor& b, ScalarType dtype) {
    if (is_floating_point(dtype)) return;
    detail::broadcast_shapes(a.sizes(), b.sizes(), name);  // a shape mismatch is reported first, as in PyTorch
    detail::fail("hypot: not implemented for ", dtype, " tensors");
  }
  // Through vec::hypot (vectorised; libm's, a call per element, was 3-5x slower than PyTorch's).
  [[gnu::always_inline]] static auto forward(auto x, auto y) {
    if constexpr (std::is_same_v<decltype(x), decltype(y)> && std::is_floating_point_v<decltype(x)>)
      return cpu::vec::hypot(x, y);
    else
      return std::hypot(x, y);
  }
  static Tensor times_d_a(const Tensor& t, const auto& c) { return t * c.input(0) / c.output(); }
  static Tensor times_d_b(const Tensor& t, const auto& c) { return t * c.input(1) / c.output(); }
  static Tensor cubed(const auto& c) { return c.output() * c.output() * c.output(); }
  static Weight d_aa(const auto& c) { return c.input(1) * c.input(1) / cubed(c); }
  static Weight d_ab(const auto& c) { return -(c.input(0) * c.input(1)) / cubed(c); }
  static Weight d_bb(const auto& c) { return c.input(0) * c.input(0) / cubed(c); }
  // sqrt(r) of r = a^2 + b^2, two Cauchy products, by sqrt's recurrence from the output.
  static Tensor taylor(const auto& c, const TensorList& x) {
    const auto times = [](const Tensor& l, const Tensor& r) { return l * r; };
    const TensorList a = taylor::terms(c.input(0), x[0]), b = taylor::terms(c.input(1), x[1]);
    const TensorList aa = taylor::product_terms(a, a, times), bb = taylor::product_terms(b, b, times);
    TensorList radius2;
    for (size_t k = 0; k < a.size(); ++k) radius2.push_back(taylor::plus(aa[k], bb[k]));
    return taylor::stacked_terms(taylor::sqrt_terms(c.output(), radius2));
  }
};

// xlogy(a, b) = a log b, and 0 where a == 0 unless b is nan (an entropy's p log p at p = 0), as
// PyTorch's. Partials as PyTorch's rules: d/da = log b, 0 where a == 0 and b <= 0 (there log b is
// -inf or nan and the term is constant 0); d/db = a / b. Second: d_ab = 1 / b, d_bb = -a / b^2.
struct Xlogy : Named<"xlogy", "XlogyBackward0"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static constexpr bool floating = true;
  [[gnu::always_inline]] static auto forward(auto x, auto y) {
    using T = decltype(x);
    if constexpr (std::is_same_v<T, decltype(y)> && std::is_floating_point_v<T>) {
      const T term = x * cpu::vec::log(y);
      return y != y ? y : x == T(0) ? T(0) : term;
    } else {
      return x * std::log(y);
    }
  }
  static Tensor times_d_a(const Tensor& t, const auto& c) {
    return xlogy(t, c.input(1)).masked_fill(logical_and(eq(c.input(0), 0), le(c.input(1), 0)), 0);
  }
  static Tensor times_d_b(const Tensor& t, const auto& c) { return t * c.input(0) / c.input(1); }
  static Weight d_aa(const auto&) { return {}; }
  static Weight d_ab(const auto& c) { return 1.0 / c.input(1); }
  static Weight d_bb(const auto& c) { return -(c.input(0) / c.input(1)) / c.input(1); }
  // a log b: a Cauchy product of a's terms and log b's (by log's recurrence), its value xlogy's own.
  static Tensor taylor(const auto& c, const TensorList& x) {
    const TensorList a = taylor::terms(c.input(0), x[0]);
    const TensorList log_b = taylor::log_terms(log(c.input(1)), taylor::terms(c.input(1), x[1]));
    TensorList y = taylor::product_terms(a, log_b, [](const Tensor& l, const Tensor& r) { return l * r; });
    y[0] = c.output();
    return taylor::stacked_terms(y);
  }
};

// maximum and minimum propagate nan, and at a tie split the gradient in halves, as PyTorch does:
// t where this input wins, t / 2 at a tie, 0 where the other wins (a masked zero, so an inf or nan
// in t does not leak there). At a nan both inputs get t, as in PyTorch's VJP (its JVP gives t to b
// only; see EdgeValues' deviations).
template <bool IsMax>
struct Extremum {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static constexpr bool linear = true;  // piecewise linear
  template <class T>
  static T forward(T x, T y) {
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(x) || std::isnan(y)) return x + y;
    return IsMax ? std::max(x, y) : std::min(x, y);
  }
  // The share of t that input `self` gets against `other`.
  static Tensor share(const Tensor& t, const Tensor& self, const Tensor& other) {
    Tensor loses = IsMax ? gt(other, self) : gt(self, other);
    return where(loses, zeros({}, t.dtype()), where(eq(self, other), t / 2.0, t));
  }
  static Tensor times_d_a(const Tensor& t, const auto& c) { return share(t, c.input(0), c.input(1)); }
  static Tensor times_d_b(const Tensor& t, const auto& c) { return share(t, c.input(1), c.input(0)); }
};
struct Maximum : Extremum<true>, Named<"maximum", "MaximumBackward0"> {
};
struct Minimum : Extremum<false>, Named<"minimum", "MinimumBackward0"> {
};

// An integer division by zero raises, as PyTorch's kernel does, after broadcasting: a shape mismatch
// is reported as such, and a result with no elements divides by nothing (a nonempty one uses every
// element of b).
void check_integer_divisor(const Tensor& a, const Tensor& b, ScalarType dtype, const char* op) {
  if (is_floating_point(dtype)) return;
  const Dims shape = detail::broadcast_shapes(a.sizes(), b.sizes(), op);
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return;
  NoGradGuard no_grad;
  // Not a step of func::compile's recording: a replay runs the op again, this check included (integer
  // results are never fused), so its item() steers nothing that a replay would keep.
  compile::detail::PauseRecording not_recorded;
  DYDX_CHECK(!any(eq(b, 0)).item<bool>(), op, ": ZeroDivisionError (an integer divisor of ", b.dtype(), " ", b.sizes(),
             " is zero)");
}

// fmod(a, b) = a - trunc(a / b) b, with the sign of a (C's fmod): d/da = 1, d/db = -trunc(a / b),
// which is piecewise constant, so a plain value (no history) is its exact derivative.
struct Fmod : Named<"fmod", "FmodBackward1"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static constexpr bool linear = true;  // piecewise linear
  static void check(const Tensor& a, const Tensor& b, ScalarType dtype) { check_integer_divisor(a, b, dtype, name); }
  template <class T>
  static T forward(T x, T y) {
    if constexpr (std::is_floating_point_v<T>) return std::fmod(x, y);
    else return y == -1 ? T(0) : static_cast<T>(x % y);  // INT64_MIN % -1 overflows
  }
  // Float and double through vec::fmod (vectorised and exact where the quotient is below 2^29 and
  // 2^50; libm's was 7x and 4x slower than PyTorch's); the same values as forward.
  template <class T>
  static void forward_array(const T* a, const T* b, int64_t b_step, T* y, int64_t n) {
    cpu::vec::fmod(a, b, b_step, y, n);
  }
  static Weight d_a(const auto&) { return 1.0; }
  static Tensor times_d_b(const Tensor& t, const auto& c) {
    return -t * quotient(c.input(0), c.input(1), t.dtype());
  }
  // trunc(a / b) by a raw kernel: it records no node, which is right for a derivative that is
  // piecewise constant; func::compile is told of it.
  static Tensor quotient(const Tensor& a, const Tensor& b, ScalarType dtype) {
    Tensor q = binary_kernel(a, b, dtype, "fmod", [](auto x, auto y) { return std::trunc(x / y); });
    compile::detail::note_kernel("fmod_quotient", {&a, &b}, q, [dtype](const TensorList& in) { return quotient(in[0], in[1], dtype); });
    return q;
  }
};

// floor(a / b) as PyTorch's div_floor computes it for floats: from fmod rather than from a rounded
// quotient (which can round up across an integer), so that it agrees with remainder's values.
template <class T>
T floor_quotient(T a, T b) {
  if (b == 0) return a / b;  // the IEEE inf or nan
  const T mod = std::fmod(a, b);
  T div = (a - mod) / b;
  if (mod != 0 && (b < 0) != (mod < 0)) div -= 1;
  if (div == 0) return std::copysign(T(0), a / b);
  T floored = std::floor(div);
  if (div - floored > T(0.5)) floored += 1;
  return floored;
}

// remainder(a, b) = a - floor(a / b) b, with the sign of b (Python's %), computed as PyTorch's
// kernel does (fmod, then b added where the signs differ) so that values agree to the bit. d/da = 1,
// d/db = -floor(a / b), piecewise constant as fmod's.
struct Remainder : Named<"remainder", "RemainderBackward1"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static constexpr bool linear = true;  // piecewise linear
  static void check(const Tensor& a, const Tensor& b, ScalarType dtype) { check_integer_divisor(a, b, dtype, name); }
  template <class T>
  static T forward(T x, T y) {
    T r;
    if constexpr (std::is_floating_point_v<T>) r = std::fmod(x, y);
    else if (y == -1) return T(0);  // INT64_MIN % -1 overflows (PyTorch 1.13 dies of SIGFPE there)
    else r = static_cast<T>(x % y);
    if (r != 0 && (y < 0) != (r < 0)) r += y;
    return r;
  }
  // Float and double: vec::fmod's pass, then the same sign adjustment as forward.
  template <class T>
  static void forward_array(const T* a, const T* b, int64_t b_step, T* y, int64_t n) {
    cpu::vec::fmod(a, b, b_step, y, n);
    for (int64_t i = 0; i < n; ++i) {
      const T divisor = b[i * b_step];
      y[i] = cpu::vec::detail::select((y[i] != 0) & ((divisor < 0) ^ (y[i] < 0)), y[i] + divisor, y[i]);
    }
  }
  static Weight d_a(const auto&) { return 1.0; }
  static Tensor times_d_b(const Tensor& t, const auto& c) {
    return -t * quotient(c.input(0), c.input(1), t.dtype());
  }
  // floor(a / b) by a raw kernel, as fmod's.
  static Tensor quotient(const Tensor& a, const Tensor& b, ScalarType dtype) {
    Tensor q = binary_kernel(a, b, dtype, "remainder", [](auto x, auto y) { return floor_quotient(x, y); });
    compile::detail::note_kernel("remainder_quotient", {&a, &b}, q,
                                 [dtype](const TensorList& in) { return quotient(in[0], in[1], dtype); });
    return q;
  }
};

// div with a rounding mode: floor(a / b) (Python's //; for floats floor_quotient, PyTorch's values) or
// trunc(a / b) (C's /), in the promoted dtype, so that integers stay integers. Piecewise constant, so
// every derivative is zero, as PyTorch's DivBackward2 gives. INT64_MIN / -1 wraps to INT64_MIN (PyTorch
// 1.13 dies of SIGFPE there).
template <bool Floor>
struct RoundedDiv : std::conditional_t<Floor, Named<"div.floor", "DivBackward2">, Named<"div.trunc", "DivBackward2">> {
  static constexpr Saves saves{};
  static constexpr bool linear = true;  // piecewise constant: every partial zero
  static void check(const Tensor& a, const Tensor& b, ScalarType dtype) {
    DYDX_CHECK(dtype != kBool, "div: \"", Floor ? "div_floor_cpu" : "div_trunc_cpu", "\" not implemented for 'Bool' (",
               a.sizes(), " by ", b.sizes(), ")");
    check_integer_divisor(a, b, dtype, "div");
  }
  template <class T>
  static T forward(T x, T y) {
    if constexpr (std::is_floating_point_v<T>) {
      return Floor ? floor_quotient(x, y) : std::trunc(x / y);
    } else if constexpr (std::is_same_v<T, bool>) {
      return x;  // (refused by check)
    } else {
      if (y == -1) return static_cast<T>(0 - static_cast<uint64_t>(x));
      T q = static_cast<T>(x / y);
      if (Floor && x % y != 0 && (x < 0) != (y < 0)) --q;
      return q;
    }
  }
  static Tensor times_d_a(const Tensor&, const auto&) { return {}; }
  static Tensor times_d_b(const Tensor&, const auto&) { return {}; }
};

// The scalar forms with their own nodes in PyTorch: s - x (RsubBackward1), x^p (PowBackward0) and
// s^x (PowBackward2) for a C++ scalar s or p.
struct RsubRecord : Named<"rsub", "RsubBackward1">, Linear {
  struct Attrs {
    Scalar a = 0;  // a - b
  };
  // func::compile: the op again, and its loop (a converted to the result's dtype, as the eager op does).
  static Tensor replay(const TensorList& in, const Attrs& attrs) { return attrs.a - in[0]; }
  template <class T>
  static compile::ElementwiseLoop<T> loop(T a) {
    return [a](const T* b, const T*, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = a - b[i]; };
  }
  static compile::Elementwise elementwise(const Attrs& attrs) {
    return {.arity = 1, .f32 = loop<float>(attrs.a.to<float>()), .f64 = loop<double>(attrs.a.to<double>())};
  }
  static void vjp(const Backward<RsubRecord>&, const Tensor& g, Tensor* grads) { grads[0] = -g; }
  static Tensor jvp(const Primal<RsubRecord>&, const TensorList& t) { return -t[0]; }
};

// d/dx x^p = p x^(p-1); p == 0 is special-cased so that 0^-1 never turns a zero gradient into nan.
struct PowScalarRecord : Named<"pow.Scalar", "PowBackward0"> {
  struct Attrs {
    double exponent;
    int64_t integer_exponent = 0;  // exactly, for integer tensors
  };
  // func::compile: pow again (its input already has the result's dtype), and pow's loop for floats.
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return pow(in[0], is_floating_point(in[0].dtype()) ? Scalar(a.exponent) : Scalar(a.integer_exponent));
  }
  template <class T>
  static compile::ElementwiseLoop<T> loop(double p) {
    if (p == 1) return [](const T* x, const T*, T* y, int64_t n) { std::copy(x, x + n, y); };
    if (p == 2) return [](const T* x, const T*, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i]; };
    if (p == 3) return [](const T* x, const T*, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i] * x[i]; };
    if (p == 0.5) return [](const T* x, const T*, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]); };
    if (p == -0.5) return [](const T* x, const T*, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = 1 / std::sqrt(x[i]); };
    return [p](const T* x, const T*, T* y, int64_t n) {
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(std::pow(x[i], static_cast<T>(p)));
    };
  }
  static compile::Elementwise elementwise(const Attrs& a) {
    return {.arity = 1, .f32 = loop<float>(a.exponent), .f64 = loop<double>(a.exponent)};
  }
  static constexpr Saves saves{.inputs = input_bits(0)};
  // p x^(p-1); for a square 2 x, the same bits (x^1 is x) in one pass instead of two.
  static Tensor power_derivative(const Tensor& x, double p) { return p == 2 ? x * 2.0 : p * x.pow(p - 1); }
  static void vjp(const Backward<PowScalarRecord>& b, const Tensor& g, Tensor* grads) {
    const double p = b.attrs().exponent;
    grads[0] = p == 0 ? zeros_like(g) : g * power_derivative(b.input(0), p);
  }
  static Tensor jvp(const Primal<PowScalarRecord>& c, const TensorList& t) {
    const double p = c.attrs().exponent;
    return p == 0 ? Tensor() : t[0] * power_derivative(c.input(0), p);
  }
  static Tensor curvature(const Primal<PowScalarRecord>& c, const TensorList& g) {
    const double p = c.attrs().exponent;
    return p == 0 || p == 1 ? Tensor() : (p * (p - 1)) * c.input(0).pow(p - 2) * sum_over_directions(g[0], g[0]);
  }
  // f^(j) = p (p - 1) ... (p - j + 1) x^(p - j), zero (undefined) from j = p + 1 on for a whole p >= 0.
  static TensorList derivatives(const Primal<PowScalarRecord>& c, int64_t order) {
    const double p = c.attrs().exponent;
    TensorList out;
    double falling = 1;
    for (int64_t j = 1; j <= order; ++j) {
      falling *= p - static_cast<double>(j - 1);
      out.push_back(falling == 0 ? Tensor() : c.input(0).pow(p - static_cast<double>(j)) * falling);
    }
    return out;
  }
  static Tensor taylor(const Primal<PowScalarRecord>& c, const TensorList& x) {
    return taylor::compose(x[0], derivatives(c, forward::taylor_order()));
  }
  static Tensor biharmonic(const Primal<PowScalarRecord>& c, const TensorList& t, int64_t d) {
    return biharmonic::unary_step(t[0], c.input(0), derivatives(c, 4), d);
  }
};

struct PowScalarBaseRecord : Named<"pow.ScalarBase", "PowBackward2"> {
  struct Attrs {
    double base;
    Scalar given = 0;  // as given (an integer base keeps an integer exponent's result integral)
  };
  static Tensor replay(const TensorList& in, const Attrs& a) { return pow(a.given, in[0]); }
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  static void vjp(const Backward<PowScalarBaseRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = g * pow_scalar_base_derivative(b.attrs().base, b.input(0), b.output());
  }
  static Tensor jvp(const Primal<PowScalarBaseRecord>& c, const TensorList& t) {
    return t[0] * pow_scalar_base_derivative(c.attrs().base, c.input(0), c.output());
  }
  static Tensor curvature(const Primal<PowScalarBaseRecord>& c, const TensorList& g) {
    const double b = c.attrs().base;
    return b == 0 ? Tensor() : c.output() * (std::log(b) * std::log(b)) * sum_over_directions(g[0], g[0]);
  }  // f^(j) = log(b)^j b^x, as the first derivative's helper has it at b == 0.
  static TensorList derivatives(const Primal<PowScalarBaseRecord>& c, int64_t order) {
    const double b = c.attrs().base;
    TensorList out{pow_scalar_base_derivative(b, c.input(0), c.output())};
    for (int64_t j = 2; j <= order; ++j)
      out.push_back(b == 0 ? Tensor() : c.output() * std::pow(std::log(b), static_cast<double>(j)));
    return out;
  }
  static Tensor taylor(const Primal<PowScalarBaseRecord>& c, const TensorList& x) {
    return taylor::compose(x[0], derivatives(c, forward::taylor_order()));
  }
  static Tensor biharmonic(const Primal<PowScalarBaseRecord>& c, const TensorList& t, int64_t d) {
    return biharmonic::unary_step(t[0], c.input(0), derivatives(c, 4), d);
  }
};

// where is linear in a and b; the condition (saved, not an input) only routes the gradient, with
// masked zeros rather than products, so that an inf or nan never leaks into the other branch.
struct WhereRecord : Named<"where", "WhereBackward0">, Linear {
  static constexpr Saves saves{.extras = 1};
  static Tensor replay(const TensorList& in, NoAttrs) { return where(in[2], in[0], in[1]); }  // the condition is the extra
  static constexpr bool broadcasts = true;
  static void vjp(const Backward<WhereRecord>& b, const Tensor& g, Tensor* grads) {
    Tensor cond = b.extra(0);
    Tensor zero = zeros({}, g.dtype());
    if (b.needs_grad(0)) grads[0] = where(cond, g, zero);
    if (b.needs_grad(1)) grads[1] = where(cond, zero, g);
  }
  static Tensor jvp(const Primal<WhereRecord>& p, const TensorList& t) {
    return where(p.extra(0), or_zeros(t[0], p.input(0)), or_zeros(t[1], p.input(1)));
  }
};

Tensor add_impl(const Tensor& a, const Tensor& b, Scalar alpha, bool negate, const char* name) {
  if (vmap::takes_rule({&a, &b})) [[unlikely]]
    return vmap::broadcasting(name, a, b, [&](const Tensor& x, const Tensor& y) { return add_impl(x, y, alpha, negate, name); });
  if (negate) check_sub_operands(a, b);
  const ScalarType dtype = result_type(a, b);
  DYDX_CHECK(dtype != kBool || alpha.to_int64() == 1, name, ": alpha must be 1 for bool tensors (got ", alpha, ")");
  check_alpha(dtype, alpha, name);
  const ScaledAdd f = ScaledAdd::of(alpha, negate);
  Tensor out = f.is_add()   ? binary_kernel(a, b, dtype, name, [](auto x, auto y) { return cpu::wrapping_add(x, y); })
               : f.is_sub() ? binary_kernel(a, b, dtype, name, [](auto x, auto y) { return cpu::wrapping_sub(x, y); })
                            : binary_kernel(a, b, dtype, name, [f](auto x, auto y) { return f(x, y); });
  if (negate) finish<BinaryRecord<Sub>>({&a, &b}, out, {f.c, f.integer_c});
  else finish<BinaryRecord<Add>>({&a, &b}, out, {f.c, f.integer_c});
  return out;
}

template <class Op>
Tensor replay_binary(const Tensor& a, const Tensor& b, const AttrsOf<Op>& attrs) {
  if constexpr (std::is_same_v<AttrsOf<Op>, ScaleOfB>) {
    constexpr bool negate = std::is_same_v<Op, Sub>;
    // add_impl makes c = alpha (add) or -alpha (sub) again, exactly for either kind of tensor.
    const Scalar alpha = is_floating_point(result_type(a, b)) ? Scalar(negate ? -attrs.c : attrs.c)
                                                              : Scalar(negate ? cpu::wrapping_neg(attrs.integer_c) : attrs.integer_c);
    return add_impl(a, b, alpha, negate, Op::name);
  } else if constexpr (std::is_same_v<Op, Pow>) {
    return pow(a, b);
  } else {
    return binary<Op>(a, b);
  }
}

// The loop binary<Op> (or add_impl) runs on each pair of floats, for func::compile's fused passes.
template <class Op, class T>
compile::ElementwiseLoop<T> binary_loop(const AttrsOf<Op>& attrs) {
  if constexpr (std::is_same_v<AttrsOf<Op>, ScaleOfB>) {
    const ScaledAdd f{attrs.c, attrs.integer_c};
    if (f.is_add()) return [](const T* a, const T* b, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i]; };
    if (f.is_sub()) return [](const T* a, const T* b, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = a[i] - b[i]; };
    return [f](const T* a, const T* b, T* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]); };
  } else if constexpr (std::is_same_v<Op, Pow>) {
    return [](const T* a, const T* b, T* y, int64_t n) {
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(element_pow(a[i], b[i]));
    };
  } else {
    return [](const T* a, const T* b, T* y, int64_t n) {
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(Op::forward(a[i], b[i]));
    };
  }
}

}  // namespace
}  // namespace ops

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) { return ops::add_impl(a, b, alpha, /*negate=*/false, "add"); }
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) { return ops::add_impl(a, b, alpha, /*negate=*/true, "sub"); }
Tensor mul(const Tensor& a, const Tensor& b) { return ops::binary<ops::Mul>(a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return ops::binary<ops::Div>(a, b); }
Tensor div(const Tensor& a, const Tensor& b, std::optional<std::string_view> rounding_mode) {
  if (!rounding_mode) return div(a, b);
  DYDX_CHECK(*rounding_mode == "floor" || *rounding_mode == "trunc",
             "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", *rounding_mode, "'");
  return *rounding_mode == "floor" ? ops::binary<ops::RoundedDiv<true>>(a, b) : ops::binary<ops::RoundedDiv<false>>(a, b);
}
Tensor div(const Tensor& a, Scalar b, std::optional<std::string_view> rounding_mode) {
  if (!rounding_mode) return a / b;
  return div(a, ops::scalar_tensor(b, ops::result_type(a, b)), rounding_mode);
}
Tensor floor_divide(const Tensor& a, const Tensor& b) { return div(a, b, "floor"); }
Tensor floor_divide(const Tensor& a, Scalar b) { return div(a, b, "floor"); }
Tensor floor_divide(Scalar a, const Tensor& b) { return div(ops::scalar_tensor(a, ops::result_type(b, a)), b, "floor"); }
Tensor atan2(const Tensor& a, const Tensor& b) { return ops::binary<ops::Atan2>(a, b); }
Tensor hypot(const Tensor& a, const Tensor& b) { return ops::binary<ops::Hypot>(a, b); }
Tensor xlogy(const Tensor& a, const Tensor& b) { return ops::binary<ops::Xlogy>(a, b); }
Tensor xlogy(Scalar a, const Tensor& b) { return xlogy(ops::scalar_tensor(a, ops::result_type(b, a)), b); }
Tensor xlogy(const Tensor& a, Scalar b) { return xlogy(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor Tensor::xlogy(const Tensor& other) const { return dydx::xlogy(*this, other); }
Tensor Tensor::xlogy(Scalar other) const { return dydx::xlogy(*this, other); }
Tensor maximum(const Tensor& a, const Tensor& b) { return ops::binary<ops::Maximum>(a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return ops::binary<ops::Minimum>(a, b); }
Tensor fmod(const Tensor& a, const Tensor& b) { return ops::binary<ops::Fmod>(a, b); }
Tensor fmod(const Tensor& a, Scalar b) { return fmod(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor remainder(const Tensor& a, const Tensor& b) { return ops::binary<ops::Remainder>(a, b); }
Tensor remainder(const Tensor& a, Scalar b) { return remainder(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor remainder(Scalar a, const Tensor& b) { return remainder(ops::scalar_tensor(a, ops::result_type(b, a)), b); }

Tensor pow(const Tensor& base, Scalar exponent) {
  if (vmap::takes_rule(base)) [[unlikely]] return vmap::elementwise(base, [&](const Tensor& v) { return pow(v, exponent); });
  const ScalarType dtype = ops::result_type(base, exponent);
  const double p = exponent.to_double();
  // An integer result needs an integer exponent (result_type gives float otherwise), taken exactly.
  const int64_t integer_p = exponent.to_int64();
  DYDX_CHECK(is_floating_point(dtype) || integer_p >= 0, "pow: integers to negative integer powers are not allowed (",
             base.dtype(), " tensor to the power ", exponent, ")");
  Tensor x = ops::cast(base, dtype);
  Tensor out = detail::make_empty(x.sizes(), dtype);
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    // Squares and cubes are common (the seed cubes); exact multiplies beat std::pow there.
    if (p == 1) {
      // The derivative of a square takes x^1 (std::pow: 25x slower than the copy, with the same bits).
      cpu::map1<T, T>(out, x, [](T v) { return v; });
    } else if (p == 2) {
      cpu::map1<T, T>(out, x, [](T v) { return cpu::wrapping_mul(v, v); });
    } else if (p == 3) {
      cpu::map1<T, T>(out, x, [](T v) { return cpu::wrapping_mul(cpu::wrapping_mul(v, v), v); });
    } else if (p == 0.5 && std::is_floating_point_v<T>) {
      // PyTorch computes x^0.5 and x^-0.5 as sqrt and rsqrt, which differ from std::pow at -0
      // (-0, -inf) and -inf (nan); its derivative 0.5 x^-0.5 then inherits -inf at -0.
      cpu::map1<T, T>(out, x, [](T v) { return static_cast<T>(std::sqrt(v)); });
    } else if (p == -0.5 && std::is_floating_point_v<T>) {
      cpu::map1<T, T>(out, x, [](T v) { return static_cast<T>(1 / std::sqrt(v)); });
    } else if constexpr (std::is_integral_v<T>) {
      cpu::map1<T, T>(out, x, [integer_p](T v) { return cpu::integer_pow(v, integer_p); });
    } else {
      cpu::map1<T, T>(out, x, [p](T v) { return static_cast<T>(std::pow(v, static_cast<T>(p))); });
    }
  });
  ops::finish<ops::PowScalarRecord>({&x}, out, {p, integer_p});
  return out;
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  if (vmap::takes_rule({&base, &exponent})) [[unlikely]]
    return vmap::broadcasting("pow", base, exponent, [](const Tensor& x, const Tensor& y) { return pow(x, y); });
  // Integer tensors to negative integer tensor powers give powi's values (0, or +-1 for bases +-1),
  // as in PyTorch; only a negative C++ scalar exponent is an error.
  const ScalarType dtype = ops::result_type(base, exponent);
  Tensor out = ops::binary_kernel(base, exponent, dtype, "pow", ops::element_pow);
  ops::finish<ops::BinaryRecord<ops::Pow>>({&base, &exponent}, out);
  return out;
}

Tensor pow(Scalar base, const Tensor& exponent) {
  if (vmap::takes_rule(exponent)) [[unlikely]] return vmap::elementwise(exponent, [&](const Tensor& v) { return pow(base, v); });
  const ScalarType dtype = ops::result_type(exponent, base);
  const double b = base.to_double();
  Tensor out = ops::binary_kernel(ops::scalar_tensor(base, dtype), exponent, dtype, "pow", ops::element_pow);
  ops::finish<ops::PowScalarBaseRecord>({&exponent}, out, {b, base});
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  if (vmap::takes_rule({&cond, &a, &b})) [[unlikely]]
    return vmap::broadcasting_where("where", cond, a, b, [](const Tensor& c, const Tensor& x, const Tensor& y) { return where(c, x, y); });
  const ScalarType dtype = ops::result_type(a, b);
  Dims shape = detail::broadcast_shapes(detail::broadcast_shapes(cond.sizes(), a.sizes(), "where"), b.sizes(), "where");
  Tensor out = detail::make_empty(shape, dtype);
  DYDX_CHECK(cond.dtype() == kBool, "where: expected condition to be a boolean tensor, but got a tensor with dtype ",
             cond.dtype(), " (shape ", cond.sizes(), ")");
  const Tensor& c = cond;
  const Tensor x = ops::cast(a, dtype), y = ops::cast(b, dtype);
  cpu::dispatch_with_bool(dtype, [&](auto tag) {
    using T = decltype(tag);
    // The condition read as bytes: GCC vectorises a select on uint8_t but not on bool.
    cpu::map3<T, uint8_t>(out, c, x, y, [](uint8_t m, T u, T v) { return m ? u : v; });
  });
  ops::finish<ops::WhereRecord>({&a, &b}, out, {}, {&c});
  return out;
}

// A C++ scalar becomes a 0-D tensor of the result dtype, so it never promotes the tensor.
Tensor operator+(const Tensor& a, Scalar b) { return add(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator+(Scalar a, const Tensor& b) { return add(b, ops::scalar_tensor(a, ops::result_type(b, a))); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator-(Scalar a, const Tensor& b) {
  if (vmap::takes_rule(b)) [[unlikely]] return vmap::elementwise(b, [&](const Tensor& v) { return a - v; });
  ops::check_sub_operands(Tensor(), b);
  const ScalarType dtype = ops::result_type(b, a);
  Tensor out = ops::binary_kernel(ops::scalar_tensor(a, dtype), b, dtype, "sub", [](auto x, auto y) { return cpu::wrapping_sub(x, y); });
  ops::finish<ops::RsubRecord>({&b}, out, {a});
  return out;
}
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(b, ops::scalar_tensor(a, ops::result_type(b, a))); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator/(Scalar a, const Tensor& b) { return div(ops::scalar_tensor(a, ops::result_type(b, a)), b); }

}  // namespace dydx
