// The building blocks of the ops' Taylor rules (func::jet, forward::make_taylor_level).
//
// A rule gets each input's normalised Taylor coefficients x_1 .. x_K stacked as [K, batch..., shape]
// (x(t) = x_0 + x_1 t + ... + x_K t^K, x_0 the primal) and returns the output's. Three shapes of rule
// cover most ops:
//   - a composition with a scalar function f (elementwise unary ops): Faa di Bruno's formula,
//     y_k = sum_{j=1..k} f^(j)(x_0) / j! [t^k] (x(t) - x_0)^j, from the op's derivatives f^(1..K);
//   - a bilinear op B (mul, mm, bmm): the Cauchy product y_k = sum_{j=0..k} B(a_j, b_{k-j});
//   - a linear op: its JVP on the stack (op_record.hpp does that without a rule).
// Everything is written with differentiable ops, so that a loss on the coefficients trains.
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "autograd/forward_mode.hpp"
#include "core/shape.hpp"
#include "dydx/creation.hpp"
#include "dydx/ops.hpp"

namespace dydx::ops::taylor {

/// Coefficient k (1..K) of a stack [K, ...], or undefined for an undefined stack.
inline Tensor coefficient(const Tensor& stack, int64_t k) { return stack.defined() ? stack.select(0, k - 1) : Tensor(); }

/// a + b where either may be undefined (zero).
inline Tensor plus(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

/// The stack [K, ...] of coefficients 1..K, undefined if every one is (zero); the others broadcast
/// to one shape, undefined ones as zeros.
inline Tensor stacked(TensorList coefficients) {
  Tensor like;
  Dims shape;
  for (const Tensor& c : coefficients) {
    if (!c.defined()) continue;
    shape = like.defined() ? dydx::detail::broadcast_shapes(shape, c.sizes(), "jet") : Dims(c.sizes().begin(), c.sizes().end());
    like = c;
  }
  if (!like.defined()) return {};
  for (Tensor& c : coefficients) c = c.defined() ? c.expand(shape) : zeros(shape, like.dtype());
  return stack(coefficients);
}

/// Faa di Bruno's formula: the coefficients of f(x(t)) from x's stack [K, ...] and f's derivatives
/// f^(1..K) at x_0 (undefined: zero), each broadcasting against a coefficient.
inline Tensor compose(const Tensor& x, const TensorList& derivatives) {
  if (!x.defined()) return {};
  const int64_t order = x.size(0);
  // powers[j][k]: [t^k] (x(t) - x_0)^j for j <= k <= K, from powers[j - 1] by one Cauchy product.
  std::vector<TensorList> powers(static_cast<size_t>(order) + 1, TensorList(static_cast<size_t>(order) + 1));
  for (int64_t k = 1; k <= order; ++k) powers[1][k] = coefficient(x, k);
  for (int64_t j = 2; j <= order; ++j)
    for (int64_t k = j; k <= order; ++k)
      for (int64_t i = 1; i <= k - j + 1; ++i) powers[j][k] = plus(powers[j][k], powers[1][i] * powers[j - 1][k - i]);
  TensorList out(static_cast<size_t>(order));
  double factorial = 1;
  for (int64_t j = 1; j <= order; ++j) {
    factorial *= static_cast<double>(j);
    const Tensor& fj = derivatives[j - 1];
    if (!fj.defined()) continue;
    const Tensor scaled = j == 1 ? fj : fj / factorial;
    for (int64_t k = j; k <= order; ++k) out[k - 1] = plus(out[k - 1], scaled * powers[j][k]);
  }
  return stacked(out);
}

/// The Cauchy product of a bilinear op B: y_k = sum_{j=0..k} B(a_j, b_{k-j}), with a_0 and b_0 the
/// primals and a, b the stacks (undefined: that input does not move).
inline Tensor cauchy_product(const Tensor& a0, const Tensor& a, const Tensor& b0, const Tensor& b,
                             const std::function<Tensor(const Tensor&, const Tensor&)>& product) {
  const int64_t order = forward::taylor_order();
  TensorList out(static_cast<size_t>(order));
  for (int64_t k = 1; k <= order; ++k)
    for (int64_t j = 0; j <= k; ++j) {
      const Tensor left = j == 0 ? a0 : coefficient(a, j);
      const Tensor right = j == k ? b0 : coefficient(b, k - j);
      if (left.defined() && right.defined()) out[k - 1] = plus(out[k - 1], product(left, right));
    }
  return stacked(out);
}

// Series as term lists: terms[0] the primal value, terms[k] the coefficient k (undefined: zero).
// The recurrences below give each coefficient from the lower ones, as the ODE of the function does
// (exp: y' = u' y; log: a u' = a'; a power: a y' = p a' y), so they hold for any order.

/// The product of two terms, undefined where either is (zero).
inline Tensor times(const Tensor& a, const Tensor& b) { return a.defined() && b.defined() ? a * b : Tensor(); }

/// {x_0, x_1, ..., x_K} from the primal and the stack [K, ...].
inline TensorList terms(const Tensor& x0, const Tensor& stack) {
  TensorList out{x0};
  for (int64_t k = 1; k <= forward::taylor_order(); ++k) out.push_back(coefficient(stack, k));
  return out;
}

/// The stack [K, ...] of terms 1..K (undefined if every one is zero).
inline Tensor stacked_terms(const TensorList& terms) { return stacked(TensorList(terms.begin() + 1, terms.end())); }

/// The terms of a bilinear op's product: y_k = sum_{j=0..k} B(a_j, b_{k-j}), y_0 = B(a_0, b_0).
inline TensorList product_terms(const TensorList& a, const TensorList& b,
                                const std::function<Tensor(const Tensor&, const Tensor&)>& product) {
  TensorList out(a.size());
  for (size_t k = 0; k < a.size(); ++k)
    for (size_t j = 0; j <= k; ++j)
      if (a[j].defined() && b[k - j].defined()) out[k] = plus(out[k], product(a[j], b[k - j]));
  return out;
}

/// exp(u(t)) from u's terms (u_0 unread) and y_0 = exp(u_0): y_k = sum_{j=1..k} (j / k) u_j y_(k-j).
inline TensorList exp_terms(const Tensor& y0, const TensorList& u) {
  TensorList y{y0};
  for (size_t k = 1; k < u.size(); ++k) {
    Tensor yk;
    for (size_t j = 1; j <= k; ++j)
      if (u[j].defined() && y[k - j].defined())
        yk = plus(yk, u[j] * y[k - j] * (static_cast<double>(j) / static_cast<double>(k)));
    y.push_back(yk);
  }
  return y;
}

/// log(a(t)) from a's terms, u_0 = log(a_0) given: u_k = (a_k - sum_{j=1..k-1} (j / k) u_j a_(k-j)) / a_0.
inline TensorList log_terms(const Tensor& u0, const TensorList& a) {
  TensorList u{u0};
  for (size_t k = 1; k < a.size(); ++k) {
    Tensor numerator = a[k];
    for (size_t j = 1; j < k; ++j)
      if (u[j].defined() && a[k - j].defined())
        numerator = plus(numerator, -(u[j] * a[k - j] * (static_cast<double>(j) / static_cast<double>(k))));
    u.push_back(numerator.defined() ? numerator / a[0] : Tensor());
  }
  return u;
}

/// a(t)^p from a's terms, y_0 = a_0^p given: k a_0 y_k = sum_{j=1..k} (p j - (k - j)) a_j y_(k-j).
inline TensorList power_terms(const Tensor& y0, const TensorList& a, double p) {
  TensorList y{y0};
  for (size_t k = 1; k < a.size(); ++k) {
    Tensor sum;
    for (size_t j = 1; j <= k; ++j)
      if (a[j].defined() && y[k - j].defined())
        sum = plus(sum, a[j] * y[k - j] * (p * static_cast<double>(j) - static_cast<double>(k - j)));
    y.push_back(sum.defined() ? sum / (a[0] * static_cast<double>(k)) : Tensor());
  }
  return y;
}

/// a(t) / b(t) from both terms, y_0 = a_0 / b_0 given: y_k = (a_k - sum_{j=1..k} b_j y_(k-j)) / b_0.
inline TensorList quotient_terms(const Tensor& y0, const TensorList& a, const TensorList& b) {
  TensorList y{y0};
  for (size_t k = 1; k < a.size(); ++k) {
    Tensor numerator = a[k];
    for (size_t j = 1; j <= k; ++j)
      if (b[j].defined() && y[k - j].defined()) numerator = plus(numerator, -(b[j] * y[k - j]));
    y.push_back(numerator.defined() ? numerator / b[0] : Tensor());
  }
  return y;
}

/// sqrt(a(t)) from a's terms, y_0 = sqrt(a_0) given: y_k = (a_k - sum_{j=1..k-1} y_j y_(k-j)) / (2 y_0).
inline TensorList sqrt_terms(const Tensor& y0, const TensorList& a) {
  TensorList y{y0};
  for (size_t k = 1; k < a.size(); ++k) {
    Tensor numerator = a[k];
    for (size_t j = 1; j < k; ++j)
      if (y[j].defined() && y[k - j].defined()) numerator = plus(numerator, -(y[j] * y[k - j]));
    y.push_back(numerator.defined() ? numerator / (2.0 * y0) : Tensor());
  }
  return y;
}

/// The derivatives f^(1..order) of an f whose derivative is a polynomial in its value y,
/// f' = q(y) (tanh: 1 - y^2, sigmoid: y - y^2, exp: y, tan: 1 + y^2), each a polynomial in y:
/// P_1 = q, P_(n+1) = P_n'(y) q(y). Coefficients in ascending powers.
inline std::vector<std::vector<double>> value_polynomials(const std::vector<double>& q, int64_t order) {
  std::vector<std::vector<double>> p{q};
  for (int64_t n = 1; n < order; ++n) {
    const std::vector<double>& last = p.back();
    std::vector<double> next(last.size() + q.size(), 0.0);
    for (size_t i = 1; i < last.size(); ++i)
      for (size_t j = 0; j < q.size(); ++j) next[i - 1 + j] += static_cast<double>(i) * last[i] * q[j];
    while (next.size() > 1 && next.back() == 0) next.pop_back();
    p.push_back(next);
  }
  return p;
}

/// The polynomial (ascending coefficients) at y, by Horner's rule.
inline Tensor evaluate(const std::vector<double>& coefficients, const Tensor& y) {
  Tensor value;
  for (size_t i = coefficients.size(); i-- > 0;) {
    if (!value.defined()) value = full_like(y, coefficients[i]);
    else value = coefficients[i] == 0 ? value * y : value * y + coefficients[i];
  }
  return value;
}

/// f^(1..order) at y for f' = q(y).
inline TensorList value_derivatives(const std::vector<double>& q, const Tensor& y, int64_t order) {
  TensorList out;
  for (const auto& p : value_polynomials(q, order)) out.push_back(evaluate(p, y));
  return out;
}

/// f^(1..order) of an activation that saturates, given f' = s with s' = beta s v and v' = alpha s:
/// tanh (s = 1 - y^2, v = y; alpha = 1, beta = -2) and sigmoid (s = y (1 - y), v = 1 - 2 y;
/// alpha = -2, beta = 1), y = f(x). Each f^(n) is a polynomial in s and v with s a factor of every
/// term, so where f saturates (s -> 0) it is small without cancelling. value_derivatives' polynomials
/// in y sum terms of order 1 to a result of order s there: sigmoid's fourth derivative,
/// y - 15y^2 + 50y^3 - 60y^4 + 24y^5, came out 15x too large at sigmoid(16) in float32.
inline TensorList saturating_derivatives(const Tensor& s, const Tensor& v, double alpha, double beta, int64_t order) {
  // The terms c s^i v^j as (i, j) -> c; d/dx (s^i v^j) = i beta s^i v^(j+1) + j alpha s^(i+1) v^(j-1).
  std::map<std::pair<int64_t, int64_t>, double> terms{{{1, 0}, 1.0}};
  std::vector<Tensor> s_powers{Tensor(), s}, v_powers{Tensor(), v};
  auto power = [](std::vector<Tensor>& powers, int64_t k) {
    while (static_cast<int64_t>(powers.size()) <= k) powers.push_back(powers.back() * powers[1]);
    return powers[static_cast<size_t>(k)];
  };
  TensorList out;
  for (int64_t n = 1; n <= order; ++n) {
    Tensor value;
    for (const auto& [exponents, c] : terms) {
      Tensor term = power(s_powers, exponents.first);
      if (exponents.second > 0) term = term * power(v_powers, exponents.second);
      if (c != 1) term = term * c;
      value = value.defined() ? value + term : term;
    }
    out.push_back(value);
    std::map<std::pair<int64_t, int64_t>, double> next;
    for (const auto& [exponents, c] : terms) {
      const auto [i, j] = exponents;
      next[{i, j + 1}] += c * static_cast<double>(i) * beta;
      if (j > 0) next[{i + 1, j - 1}] += c * static_cast<double>(j) * alpha;
    }
    std::erase_if(next, [](const auto& term) { return term.second == 0; });
    terms = std::move(next);
  }
  return out;
}

/// f^(j)(x) = (-1)^(j-1) (j-1)! (x + shift)^-j, j = 1..order: log's (shift 0) and log1p's (shift 1).
inline TensorList log_derivatives(const Tensor& x, double shift, int64_t order) {
  const Tensor base = shift == 0 ? x : x + shift;
  TensorList out;
  double c = 1;
  for (int64_t j = 1; j <= order; ++j) {
    out.push_back(j == 1 ? 1.0 / base : base.pow(-static_cast<double>(j)) * c);
    c *= -static_cast<double>(j);
  }
  return out;
}

/// f^(1..order) of an f whose f' is c e^(-x^2) (erf's and erfc's): f^(n+1) = (-1)^n H_n(x) f', H the
/// physicists' Hermite polynomials, H_0 = 1, H_1 = 2 x, H_(n+1) = 2 x H_n - 2 n H_(n-1).
inline TensorList gaussian_derivatives(const Tensor& x, const Tensor& first, int64_t order) {
  TensorList d{first};
  Tensor older = ones_like(x), hermite = 2.0 * x;  // H_(n-1), H_n
  for (int64_t n = 1; n < order; ++n) {
    d.push_back(n % 2 == 1 ? -(hermite * first) : hermite * first);
    const Tensor next = 2.0 * x * hermite - older * (2.0 * static_cast<double>(n));
    older = hermite;
    hermite = next;
  }
  return d;
}

/// f^(1..order) of an f whose f' solves q f'' = s x f' with q = a + b x^2 (asin's and acos's 1 - x^2
/// with s = 1, asinh's 1 + x^2 and acosh's x^2 - 1 with s = -1), from f' and the equation
/// differentiated n times: q f^(n+2) = s ((2n + 1) x f^(n+1) + n^2 f^(n)) (b = -s).
inline TensorList root_quadratic_derivatives(const Tensor& x, const Tensor& first, const Tensor& q, double s,
                                             int64_t order) {
  TensorList d{first};
  const Tensor inverse_q = 1.0 / q;
  for (int64_t n = 0; n + 2 <= order; ++n) {
    const double m = static_cast<double>(n);
    Tensor next = x * d[n] * (2 * m + 1);
    if (n >= 1) next = next + d[n - 1] * (m * m);
    d.push_back(next * inverse_q * s);
  }
  return d;
}

/// f^(1..order) of an f with q f' = 1, q = 1 + s' x^2 (atan's 1 + x^2, atanh's 1 - x^2): the equation
/// differentiated n times gives q f^(n+1) = s (2n x f^(n) + n (n - 1) f^(n-1)), s = -s'.
inline TensorList inverse_quadratic_derivatives(const Tensor& x, const Tensor& q, double s, int64_t order) {
  const Tensor inverse_q = 1.0 / q;
  TensorList d{inverse_q};
  for (int64_t n = 1; n < order; ++n) {
    const double m = static_cast<double>(n);
    Tensor next = x * d[n - 1] * (2 * m);
    if (n >= 2) next = next + d[n - 2] * (m * (m - 1));
    d.push_back(next * inverse_q * s);
  }
  return d;
}

/// tanh's derivatives at y = tanh(x): s = 1 - y^2 as (1 - y)(1 + y), exact where y is near 1.
inline TensorList tanh_derivatives(const Tensor& y, int64_t order) {
  return saturating_derivatives((1.0 - y) * (1.0 + y), y, 1.0, -2.0, order);
}

/// sigmoid's derivatives at y = sigmoid(x).
inline TensorList sigmoid_derivatives(const Tensor& y, int64_t order) {
  return saturating_derivatives(y * (1.0 - y), 1.0 - 2.0 * y, -2.0, 1.0, order);
}

}  // namespace dydx::ops::taylor
