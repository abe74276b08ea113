// Broadcasting binary ops (add, sub, mul, div, pow, where) with their VJP rules, and comparisons.
#include <algorithm>
#include <cmath>

#include "ops/op_util.hpp"

namespace dydx {
namespace ops {

ScalarType result_type(const Tensor& a, const Tensor& b) {
  const bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote_types(a.dtype(), b.dtype());
  const Tensor& dimensioned = a0 ? b : a;
  const Tensor& zero_dim = a0 ? a : b;
  if (!dimensioned.is_floating_point() && zero_dim.is_floating_point()) return zero_dim.dtype();
  return dimensioned.dtype();
}

ScalarType result_type(const Tensor& t, Scalar s) {
  if (!t.is_floating_point() && !s.is_integral()) return kDefaultDtype;
  return t.dtype();
}

Tensor scalar_tensor(Scalar s, ScalarType dtype) { return full({}, s, dtype); }

Tensor sum_over_directions(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return {};
  // Dense directions that carry no derivatives of their own (the usual case: no outer level, no
  // reverse pass through the Laplacian) are reduced in one pass rather than a product and a sum.
  if (a.sizes() == b.sizes() && a.dtype() == b.dtype() && a.is_contiguous() && b.is_contiguous() &&
      a.is_floating_point() && !forward::carries_derivatives(a) && !forward::carries_derivatives(b)) {
    const int64_t d = a.size(0), n = d == 0 ? 0 : a.numel() / d;
    Tensor out = detail::make_empty(Dims(a.sizes().begin() + 1, a.sizes().end()), a.dtype());
    cpu::dispatch_floating(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data_ptr<T>();
      const T* pb = b.data_ptr<T>();
      T* po = out.data_ptr<T>();
      // In double, as float32 sums across rows are (see sum_values), in blocks that stay in L1.
      constexpr int64_t kBlock = 256;
      double sums[kBlock];
      for (int64_t start = 0; start < n; start += kBlock) {
        const int64_t m = std::min(kBlock, n - start);
        std::fill_n(sums, m, 0.0);
        for (int64_t k = 0; k < d; ++k)
          for (int64_t i = 0; i < m; ++i) sums[i] += static_cast<double>(pa[k * n + start + i] * pb[k * n + start + i]);
        for (int64_t i = 0; i < m; ++i) po[start + i] = static_cast<T>(sums[i]);
      }
    });
    return out;
  }
  return (a * b).sum({0});
}

namespace {

// add and sub are linear: out = x + c * y, with c = alpha for add and -alpha for sub.
void add_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const double c = node.attrs.scalar;
  if (node.needs_input_grad(0)) grads[0] = g;
  if (node.needs_input_grad(1)) grads[1] = c == 1 ? g : c == -1 ? -g : g * c;
}
const OpInfo add_info{"add", "AddBackward0", &add_vjp};
const OpInfo sub_info{"sub", "SubBackward0", &add_vjp};

void mul_vjp(Node& node, const Tensor& g, Tensor* grads) {
  if (node.needs_input_grad(0)) grads[0] = g * node.saved(1);
  if (node.needs_input_grad(1)) grads[1] = g * node.saved(0);
}
const OpInfo mul_info{"mul", "MulBackward0", &mul_vjp};

void div_vjp(Node& node, const Tensor& g, Tensor* grads) {
  Tensor y = node.saved(1);
  if (node.needs_input_grad(0)) grads[0] = g / y;
  // (x / y) / y rather than x / (y * y), whose square overflows or underflows first.
  if (node.needs_input_grad(1)) grads[1] = -g * (node.saved(0) / y) / y;
}
const OpInfo div_info{"div", "DivBackward0", &div_vjp};

// d/dx x^p = p x^(p-1); p == 0 is special-cased so that 0^-1 never turns a zero gradient into nan.
void pow_scalar_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const double p = node.attrs.scalar;
  grads[0] = p == 0 ? zeros_like(g) : g * (p * node.saved(0).pow(p - 1));
}
const OpInfo pow_scalar_info{"pow.Scalar", "PowBackward0", &pow_scalar_vjp};

}  // namespace

// d/dx x^y = y x^(y-1), taken as 0 where y == 0 (x^0 is constant, even at x == 0), as PyTorch does.
Tensor pow_base_derivative(const Tensor& x, const Tensor& y, const Tensor& g) {
  Tensor derivative = y * x.pow(y - 1.0);
  if (g.defined()) derivative = g * derivative;
  return where(eq(y, zeros({}, y.dtype())), zeros_like(derivative), derivative);
}

// 1 where y >= 0, 0 elsewhere (nan included), in y's dtype.
Tensor nonnegative(const Tensor& y) {
  Tensor zero = zeros({}, y.dtype());
  return gt(y, zero) + eq(y, zero);
}

// d/dy x^y = x^y log x, taken as 0 where x == 0 and y >= 0 (the limit), as PyTorch does; a nan y
// is not >= 0, so there it stays nan.
Tensor pow_exponent_derivative(const Tensor& x, const Tensor& y, const Tensor& out) {
  Tensor at_zero = eq(x, zeros({}, x.dtype())) * nonnegative(y);
  return where(at_zero, zeros_like(out), out * log(x));
}

// d/dy b^y = b^y log b for a scalar base; for b == 0, 0 where y >= 0 (the limit) and
// 0^y log 0 elsewhere (-inf for y < 0, nan for nan), as PyTorch's pow_backward_exponent.
Tensor pow_scalar_base_derivative(double b, const Tensor& y, const Tensor& out) {
  Tensor derivative = out * std::log(b);
  return b == 0 ? where(nonnegative(y), zeros_like(derivative), derivative) : derivative;
}

namespace {

void pow_tensor_vjp(Node& node, const Tensor& g, Tensor* grads) {
  Tensor x = node.saved(0), y = node.saved(1);
  if (node.needs_input_grad(0)) grads[0] = pow_base_derivative(x, y, g);
  if (node.needs_input_grad(1)) grads[1] = g * pow_exponent_derivative(x, y, node.saved(2));
}
const OpInfo pow_tensor_info{"pow.Tensor", "PowBackward1", &pow_tensor_vjp};

// s - x and s^x for a C++ scalar s have their own nodes in PyTorch (RsubBackward1, PowBackward2).
void rsub_vjp(Node&, const Tensor& g, Tensor* grads) { grads[0] = -g; }
const OpInfo rsub_info{"rsub", "RsubBackward1", &rsub_vjp};

void pow_scalar_base_vjp(Node& node, const Tensor& g, Tensor* grads) {
  grads[0] = g * pow_scalar_base_derivative(node.attrs.scalar, node.saved(1), node.saved(0));
}
const OpInfo pow_scalar_base_info{"pow.ScalarBase", "PowBackward2", &pow_scalar_base_vjp};

// where is linear in a and b; the condition only routes the gradient.
void where_vjp(Node& node, const Tensor& g, Tensor* grads) {
  Tensor cond = node.saved(0);
  Tensor zero = zeros({}, g.dtype());
  if (node.needs_input_grad(0)) grads[0] = where(cond, g, zero);
  if (node.needs_input_grad(1)) grads[1] = where(cond, zero, g);
}
const OpInfo where_info{"where", "WhereBackward0", &where_vjp};

Tensor add_impl(const Tensor& a, const Tensor& b, Scalar alpha, bool negate, const OpInfo& info, const char* name) {
  const ScalarType dtype = result_type(a, b);
  check_alpha(dtype, alpha, name);
  const ScaledAdd f = ScaledAdd::of(alpha, negate);
  const double c = f.c;
  Tensor out = f.is_add()   ? binary_kernel(a, b, dtype, name, [](auto x, auto y) { return cpu::wrapping_add(x, y); })
               : f.is_sub() ? binary_kernel(a, b, dtype, name, [](auto x, auto y) { return cpu::wrapping_sub(x, y); })
                            : binary_kernel(a, b, dtype, name, [f](auto x, auto y) { return f(x, y); });
  if (Node* node = record(info, {&a, &b}, out)) node->attrs.scalar = c;
  forward::propagate_broadcast_linear({&a, &b}, out, [c](const TensorList& t) {
    return sum_terms(t[0], !t[1].defined() ? Tensor() : c == 1 ? t[1] : c == -1 ? -t[1] : t[1] * c);
  });
  return out;
}

}  // namespace
}  // namespace ops

using ops::Node;
using ops::record;

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  return ops::add_impl(a, b, alpha, /*negate=*/false, ops::add_info, "add");
}

Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  return ops::add_impl(a, b, alpha, /*negate=*/true, ops::sub_info, "sub");
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary_kernel(a, b, ops::result_type(a, b), "mul", [](auto x, auto y) { return cpu::wrapping_mul(x, y); });
  if (Node* node = record(ops::mul_info, {&a, &b}, out)) {
    node->save(a);
    node->save(b);
  }
  forward::propagate_broadcast(
      {&a, &b}, out,
      [&](const TensorList& t) {
        return ops::sum_terms(t[0].defined() ? t[0] * b : Tensor(), t[1].defined() ? a * t[1] : Tensor());
      },
      [](const TensorList& g) {
        Tensor cross = ops::sum_over_directions(g[0], g[1]);
        return cross.defined() ? cross * 2.0 : Tensor();
      });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  ScalarType dtype = ops::result_type(a, b);
  if (!is_floating_point(dtype)) dtype = kDefaultDtype;  // true division, as torch.div
  Tensor out = ops::binary_kernel(a, b, dtype, "div", [](auto x, auto y) { return x / y; });
  if (Node* node = record(ops::div_info, {&a, &b}, out)) {
    node->save(a);
    node->save(b);
  }
  forward::propagate_broadcast(
      {&a, &b}, out,
      [&](const TensorList& t) {
        return ops::sum_terms(t[0].defined() ? t[0] / b : Tensor(), t[1].defined() ? -t[1] * out / b : Tensor());
      },
      // d2(a/b) = -2 da db / b^2 + 2 (a/b) db^2 / b^2; divided by b twice, as the VJP does.
      [&](const TensorList& g) {
        if (!g[1].defined()) return Tensor();
        Tensor terms = out * ops::sum_over_directions(g[1], g[1]);
        if (g[0].defined()) terms = terms - ops::sum_over_directions(g[0], g[1]);
        return terms * 2.0 / b / b;
      });
  return out;
}

Tensor pow(const Tensor& base, Scalar exponent) {
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
    if (p == 2) {
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
  if (Node* node = record(ops::pow_scalar_info, {&base}, out)) {
    node->attrs.scalar = p;
    node->save(base);
  }
  forward::propagate(
      {&base}, out, [&](const TensorList& t) { return p == 0 ? Tensor() : t[0] * (p * base.pow(p - 1)); },
      [&](const TensorList& g) {
        return p == 0 || p == 1 ? Tensor() : (p * (p - 1)) * base.pow(p - 2) * ops::sum_over_directions(g[0], g[0]);
      });
  return out;
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  // Integer tensors to negative integer tensor powers give powi's values (0, or +-1 for bases +-1),
  // as in PyTorch; only a negative C++ scalar exponent is an error.
  const ScalarType dtype = ops::result_type(base, exponent);
  Tensor out = ops::binary_kernel(base, exponent, dtype, "pow", ops::element_pow);
  if (Node* node = record(ops::pow_tensor_info, {&base, &exponent}, out)) {
    node->save(base);
    node->save(exponent);
    node->save_output(out);
  }
  forward::propagate_broadcast(
      {&base, &exponent}, out,
      [&](const TensorList& t) {
        Tensor dx = t[0].defined() ? ops::pow_base_derivative(base, exponent, t[0]) : Tensor();
        Tensor dy = t[1].defined() ? t[1] * ops::pow_exponent_derivative(base, exponent, out) : Tensor();
        return ops::sum_terms(dx, dy);
      },
      // The Hessian of x^y from the first derivatives' own helpers, so that their conventions at
      // x == 0 and y == 0 carry over: d/dx (y x^(y-1)) = y (y-1) x^(y-2), d/dy (x^y log x) =
      // x^y log2 x, and the mixed d/dy (y x^(y-1)) = x^(y-1) + y x^(y-1) log x.
      [&](const TensorList& g) {
        Tensor xx, xy, yy;
        if (g[0].defined())
          xx = exponent * ops::pow_base_derivative(base, exponent - 1.0) * ops::sum_over_directions(g[0], g[0]);
        if (g[0].defined() && g[1].defined()) {
          Tensor lower = base.pow(exponent - 1.0);
          xy = 2.0 * ops::sum_over_directions(g[0], g[1]) *
               (lower + exponent * ops::pow_exponent_derivative(base, exponent - 1.0, lower));
        }
        if (g[1].defined())
          yy = ops::pow_exponent_derivative(base, exponent, ops::pow_exponent_derivative(base, exponent, out)) *
               ops::sum_over_directions(g[1], g[1]);
        return ops::sum_terms(ops::sum_terms(xx, xy), yy);
      });
  return out;
}

Tensor pow(Scalar base, const Tensor& exponent) {
  const ScalarType dtype = ops::result_type(exponent, base);
  const double b = base.to_double();
  Tensor out = ops::binary_kernel(ops::scalar_tensor(base, dtype), exponent, dtype, "pow", ops::element_pow);
  if (Node* node = record(ops::pow_scalar_base_info, {&exponent}, out)) {
    node->attrs.scalar = b;
    node->save_output(out);
    node->save(exponent);
  }
  forward::propagate(
      {&exponent}, out, [&](const TensorList& t) { return t[0] * ops::pow_scalar_base_derivative(b, exponent, out); },
      [&](const TensorList& g) {
        return b == 0 ? Tensor() : out * (std::log(b) * std::log(b)) * ops::sum_over_directions(g[0], g[0]);
      });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const ScalarType dtype = ops::result_type(a, b);
  Dims shape = detail::broadcast_shapes(detail::broadcast_shapes(cond.sizes(), a.sizes(), "where"), b.sizes(), "where");
  Tensor out = detail::make_empty(shape, dtype);
  // Nonzero is decided in cond's own dtype: a fractional condition must not truncate to 0.
  Tensor c = ops::cast(1.0 - eq(cond, zeros({}, cond.dtype())), dtype), x = ops::cast(a, dtype), y = ops::cast(b, dtype);
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::map3<T>(out, c, x, y, [](T m, T u, T v) { return m != 0 ? u : v; });
  });
  if (Node* node = record(ops::where_info, {&a, &b}, out)) node->save(c);
  forward::propagate_broadcast_linear({&a, &b}, out, [&](const TensorList& t) { return where(c, ops::or_zeros(t[0], a), ops::or_zeros(t[1], b)); });
  return out;
}

Tensor gt(const Tensor& a, const Tensor& b) {
  const ScalarType dtype = ops::result_type(a, b);
  return ops::binary_kernel(a, b, dtype, "gt", [](auto x, auto y) { return x > y ? 1 : 0; });
}

Tensor eq(const Tensor& a, const Tensor& b) {
  const ScalarType dtype = ops::result_type(a, b);
  return ops::binary_kernel(a, b, dtype, "eq", [](auto x, auto y) { return x == y ? 1 : 0; });
}

// A C++ scalar becomes a 0-D tensor of the result dtype, so it never promotes the tensor.
Tensor operator+(const Tensor& a, Scalar b) { return add(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator+(Scalar a, const Tensor& b) { return add(b, ops::scalar_tensor(a, ops::result_type(b, a))); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator-(Scalar a, const Tensor& b) {
  const ScalarType dtype = ops::result_type(b, a);
  Tensor out = ops::binary_kernel(ops::scalar_tensor(a, dtype), b, dtype, "sub", [](auto x, auto y) { return cpu::wrapping_sub(x, y); });
  record(ops::rsub_info, {&b}, out);
  forward::propagate_linear({&b}, out, [](const TensorList& t) { return -t[0]; });
  return out;
}
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(b, ops::scalar_tensor(a, ops::result_type(b, a))); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator/(Scalar a, const Tensor& b) { return div(ops::scalar_tensor(a, ops::result_type(b, a)), b); }

}  // namespace dydx
