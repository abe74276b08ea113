// The ops of the product rules (product_rules.cpp): prod's and cumprod's derivatives, each of any
// order, as one call with tangents (cpu/product_rule_kernels.hpp computes them).
#pragma once

#include <functional>

#include "dydx/tensor.hpp"

namespace dydx::ops {

// With f_i = x_i + e_1 a_1i + ... + e_m a_mi (e_k^2 = 0) along dim (< 0), x and the tangents a_k
// (and g) broadcasting, floating, at most 16 tangents; element l of the result is the coefficient of
// e_1 ... e_m in:

/// prod_{i != l} f_i: with no tangent, the product of every element of the row but x_l (d prod / d x_l);
/// with one, its derivative along a_1; and so on.
Tensor prod_others(const Tensor& x, const TensorList& tangents, int64_t dim);
/// prod_{i <= l} f_i: with no tangent, cumprod; with one, cumprod's JVP along a_1; and so on.
Tensor cumprod_tangents(const Tensor& x, const TensorList& tangents, int64_t dim);
/// sum_{k >= l} g_k prod_{i <= k, i != l} f_i: with no tangent, cumprod's gradient for cotangent g (the
/// transpose of cumprod_tangents(x, {t})); with one, its derivative along a_1; and so on.
Tensor cumprod_adjoint(const Tensor& x, const TensorList& tangents, const Tensor& g, int64_t dim);

/// A function F(x; L) that is affine in each element of x and linear in each tensor of L (each rule
/// above, and prod itself), as call(L, d): F at x with the tensors d as more tangents along x.
using MultiAffine = std::function<Tensor(const TensorList& linear, const TensorList& more)>;

/// F's Taylor coefficients 1..K (index 0 undefined) along x(s) = x_0 + x_1 s + ... and L_j(s) =
/// L_j0 + L_j1 s + ... (x_terms and linear_terms[j] each K + 1 long, an undefined term zero): since
/// the expansion in x ends, F(x_0 + d; L) = sum_r F(x_0; L, d, ..., d) / r!, and coefficient K is
/// the sum of call over the orders of L's terms and the ordered orders >= 1 of the r copies of d
/// that add to K, each over r!.
TensorList multiaffine_taylor(const TensorList& x_terms, const std::vector<TensorList>& linear_terms, const MultiAffine& call);

}  // namespace dydx::ops
