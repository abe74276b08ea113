// prod and cumprod beyond what the op table checks (values, every derivative rule, Taylor, vmap,
// compile): dtypes, 0-d and empty inputs, dim wrapping, errors, node names, integer results without
// history, the in-place cumprod_; products without intermediate overflow or underflow; and
// derivatives that divide by nothing: exact at zeros, in range wherever the exact ones are (against
// products in long double with exponents carried apart), the same per sample under vmap, on any
// number of threads. Values and derivatives at edge values (0, -0, +-inf, nan, subnormals) are in
// tests/data/edge_cases.txt.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "ops/product_rules.hpp"
#include "test_util.hpp"

using namespace dydx;
using dydx::testing::HasValues;
using dydx::testing::ThreadCount;

namespace {

Tensor f64(const std::vector<double>& values) { return tensor(values, dtype(kFloat64)); }
std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }

// The product of v to long double precision with its exponent carried apart (frexpl: no overflow
// or underflow however long v is), rounded once to double; nan, +-0 and +-inf as IEEE gives them.
double exact_product(const std::vector<double>& v) {
  long double mantissa = 1;
  long exponent = 0;
  bool zero = false, inf = false, nan = false, negative = false;
  for (double x : v) {
    if (std::isnan(x)) {
      nan = true;
    } else if (x == 0 || std::isinf(x)) {
      (x == 0 ? zero : inf) = true;
      negative ^= std::signbit(x);
    } else {
      int e = 0;
      mantissa *= std::frexp(static_cast<long double>(x), &e);
      exponent += e;
      int f = 0;
      mantissa = std::frexp(mantissa, &f);
      exponent += f;
    }
  }
  if (nan || (zero && inf)) return NAN;
  const bool sign = negative != std::signbit(static_cast<double>(mantissa));
  if (zero) return sign ? -0.0 : 0.0;
  if (inf) return sign ? -INFINITY : INFINITY;
  return static_cast<double>(std::ldexp(mantissa, static_cast<int>(std::clamp(exponent, -20000L, 20000L))));
}

// The products of the others of v, each exact as above.
std::vector<double> exact_others(const std::vector<double>& v) {
  std::vector<double> out;
  for (size_t l = 0; l < v.size(); ++l) {
    std::vector<double> rest = v;
    rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(l));
    out.push_back(exact_product(rest));
  }
  return out;
}

// got within n roundings of double of want, nan for nan, zeros and infinities with their signs.
void expect_product_value(double got, double want, const std::string& where) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << where << ": " << got;
  } else if (std::isinf(want) || want == 0) {
    EXPECT_EQ(got, want) << where;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << where;
  } else {  // a subnormal result: to its own, coarser, ulp
    EXPECT_NEAR(got, want, 1e-13 * std::abs(want) + 5e-324) << where;
  }
}

TEST(Prod, ValuesDtypesShapesAndErrors) {
  EXPECT_TRUE(HasValues(f64({1, 2, 3}).prod(), {6}, 0));
  EXPECT_EQ(f64({1, 2, 3}).prod().dim(), 0);
  EXPECT_EQ(tensor({1, 2}).prod().dtype(), kInt64);
  EXPECT_EQ(tensor({1.0, 1.0}).to(kBool).prod().dtype(), kInt64);
  EXPECT_EQ(prod(tensor({1.0f, 2.0f}), kFloat64).dtype(), kFloat64);
  EXPECT_TRUE(prod(tensor({1.0, 1.0}).to(kBool), kBool).item<bool>());
  EXPECT_FALSE(prod(tensor({1.0, 0.0}), kBool).item<bool>());
  // int64 wraps as PyTorch's (torch 1.13: 0, and 2833654757305440083 for 3^20 3^20 3^5), exactly.
  EXPECT_EQ(tensor({int64_t{1} << 40, int64_t{1} << 40}).prod().item<int64_t>(), 0);
  const int64_t p20 = 3486784401;
  EXPECT_EQ(tensor({p20, p20, int64_t{243}}).prod().item<int64_t>(), 2833654757305440083);
  EXPECT_EQ(tensor({p20, p20, int64_t{243}}).reshape({3, 1}).prod(0).item<int64_t>(), 2833654757305440083);
  EXPECT_TRUE(HasValues(ones({0, 3}).prod(), {1}, 0));  // the product of nothing
  EXPECT_TRUE(HasValues(ones({0, 3}).prod(0), {1, 1, 1}, 0));
  EXPECT_EQ(ones({2, 0, 3}).prod(1).sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ones({2, 3}).prod(1, true).sizes().vec(), (std::vector<int64_t>{2, 1}));
  EXPECT_TRUE(HasValues(tensor(3.0).prod(0), {3}, 0));
  EXPECT_EQ(tensor(3.0).prod(-1, true).dim(), 0);
  const Tensor m = f64({1, 2, 3, 4, 5, 6}).reshape({2, 3});
  EXPECT_TRUE(HasValues(m.prod(1), {6, 120}, 0));
  EXPECT_TRUE(HasValues(m.prod(-2), {4, 10, 18}, 0));
  EXPECT_TRUE(HasValues(m.t().prod(1), {4, 10, 18}, 0));  // a strided input
  EXPECT_TRUE(std::isinf(tensor({1e30f, 1e30f, 10.0f}).prod().item<float>()));  // out of float32's range
  // (dydx's wording of a dim out of range is its own, as for every op: wrap_dim's.)
  EXPECT_DYDX_ERROR(ones({2, 3}).prod(2), "prod", "dim 2 is out of range", "[-2, 1]");
  EXPECT_DYDX_ERROR(tensor(1.0).prod(1), "prod", "dim 1 is out of range", "[-1, 0]");
}

// Lanes folded in halves once paired 1e30 with 1e30 and 1e-30 with 1e-30 (inf * 0 = nan). torch
// 1.13 gives 1.0000000150474662e+30 here (the float32 rounding of 1e30).
TEST(Prod, NoIntermediateOverflowOrUnderflow) {
  EXPECT_EQ(tensor({1e30f, 1e-30f, 1e30f, 1e-30f, 1e30f}).prod().item<float>(), 1e30f);
  EXPECT_EQ(tensor({1e30f, 1e-30f, 1e30f, 1e-30f, 1e30f}).reshape({5, 1}).prod(0).item<float>(), 1e30f);
  // Where PyTorch's running product itself leaves the range (torch: inf, inf and nan), the exact one.
  EXPECT_EQ(tensor({1e30f, 1e30f, 1e-30f, 1e-30f}).prod().item<float>(), 1.0f);
  EXPECT_NEAR(f64({1e200, 1e200, 1e200, 1e-200, 1e-200, 1e-200}).prod().item<double>(), 1.0, 1e-15);
  std::vector<double> alternating;
  for (int i = 0; i < 40; ++i) alternating.insert(alternating.end(), {1e200, 1e-200});
  EXPECT_NEAR(f64(alternating).prod().item<double>(), exact_product(alternating), 1e-14);
  // A subnormal factor, and a result that is subnormal: rounded once.
  EXPECT_EQ(f64({4.9406564584124654e-324, 1e300, 1e-300}).prod().item<double>(), 4.9406564584124654e-324);
  EXPECT_EQ(f64({1e-300, 1e-20}).prod().item<double>(), 1e-320);
  EXPECT_EQ(tensor({1e-40f, 1e10f, 1e-10f}).prod().item<float>(), static_cast<float>(1e-40 * 1e10 * 1e-10));
}

// Random rows of huge, tiny, subnormal, zero, inf and nan factors in every mix: the product and
// its gradient (the products of the others) against the exact ones, in every layout.
TEST(Prod, AdversarialFactorsMatchTheExactProductAndGradient) {
  std::mt19937_64 rng(7);
  const std::vector<double> pool = {1e300, -1e300, 1e-300, 1e-310, 5e-324, 1e200, 1e-200, 3.5, -0.7, 1e60, 1e-60, 1.0};
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 200);
    std::vector<double> v(n);
    for (double& x : v) x = pool[rng() % pool.size()] * (1.0 + static_cast<double>(rng() % 1000) * 1e-4);
    const int special = static_cast<int>(rng() % 8);
    if (special == 1) v[rng() % n] = 0.0;
    if (special == 2) v[rng() % n] = -0.0, v[rng() % n] = 0.0;
    if (special == 3) v[rng() % n] = INFINITY;
    if (special == 4) v[rng() % n] = NAN;
    if (special == 5) v[rng() % n] = 0.0, v[rng() % n] = -INFINITY;
    const std::string where = "trial " + std::to_string(trial) + " n " + std::to_string(n);
    const double expected = exact_product(v);
    for (const Tensor& got : {f64(v).prod(), f64(v).reshape({n, 1}).prod(0), f64(v).reshape({1, n}).expand({3, n}).t().prod(0)[1],
                              f64(v).reshape({n, 1}).expand({n, 300}).prod(0)[299]})
      expect_product_value(got.item<double>(), expected, where);
    const std::vector<double> others = exact_others(v);
    // The gradient along the last dim (rows of 16 side by side), along an outer dim (columns side
    // by side), and of the whole product.
    const Tensor x = f64(v).reshape({1, n}).expand({20, n}).contiguous().requires_grad_();
    const Tensor rows = grad({x.prod(1).sum()}, {x})[0];
    const Tensor xt = f64(v).reshape({n, 1}).expand({n, 5}).contiguous().requires_grad_();
    const Tensor columns = grad({xt.prod(0).sum()}, {xt})[0];
    const Tensor xw = f64(v).requires_grad_();
    const Tensor whole = grad({xw.prod()}, {xw})[0];
    for (int64_t l = 0; l < n; ++l) {
      const std::string at = where + " element " + std::to_string(l);
      expect_product_value(rows[19][l].item<double>(), others[l], at + " (rows)");
      expect_product_value(columns[l][4].item<double>(), others[l], at + " (columns)");
      expect_product_value(whole[l].item<double>(), others[l], at + " (whole)");
    }
  }
}

TEST(Prod, IntegerResultsHaveNoHistory) {
  const Tensor x = f64({1.5, 2.5}).requires_grad_();
  for (const Tensor& r : {prod(x, kInt64), prod(x, 0, false, kInt64)}) {
    EXPECT_FALSE(r.requires_grad());
    EXPECT_EQ(r.grad_fn(), nullptr);
  }
  EXPECT_EQ(prod(x, kInt64).item<int64_t>(), 2);  // cast first (1 * 2), as PyTorch
  EXPECT_EQ(std::string(x.prod().grad_fn()->name()), "ProdBackward0");
  EXPECT_EQ(std::string(x.prod(0).grad_fn()->name()), "ProdBackward1");
}

func::UnaryFunction whole_product() {
  return [](const Tensor& x) { return x.prod(); };
}

// Where out underflows or overflows the gradient is still the products of the others, as
// functorch's (which PyTorch's eager quotient out / x is not: 0 at [1e-200, 1e-200, 3]); and where a
// plain suffix product overflows, still in range (functorch: inf and nan).
TEST(Prod, GradientsInRangeWhereTheProductIsNot) {
  const Tensor a = f64({1e-200, 1e-200, 3});
  EXPECT_EQ(values_of(func::grad(whole_product())(a)), (std::vector<double>{3e-200, 3e-200, 0}));
  const Tensor b = tensor({1e-30f, 1e-30f, 2.0f});
  EXPECT_EQ(values_of(func::grad(whole_product())(b)), (std::vector<double>{2e-30f, 2e-30f, 0}));
  const Tensor c = f64({1e-300, 1e-300, 2, 1e300, 1e300});
  const std::vector<double> want = exact_others(values_of(c));
  const std::vector<double> got = values_of(func::grad(whole_product())(c));
  for (size_t l = 0; l < want.size(); ++l) expect_product_value(got[l], want[l], "element " + std::to_string(l));
  // The Hessian of a product of two tiny factors, [[0, 1], [1, 0]] exactly.
  EXPECT_EQ(values_of(func::hessian(whole_product())(f64({1e-170, 1e-170}))), (std::vector<double>{0, 1, 1, 0}));
  // The JVP: 1 (2e-170) - 1.5 (2e-170) + 2 (1e-340) = -1e-170.
  const auto [value, tangent] = func::jvp(whole_product(), f64({1e-170, 1e-170, 2}), f64({1, -1.5, 2}));
  EXPECT_EQ(value.item<double>(), 0.0);
  EXPECT_NEAR(tangent.item<double>(), -1e-170, 1e-185);
  // Along a dim, in float32: the others of [1e-30, 1e-30, 2] per row.
  const Tensor rows = tensor({1e-30f, 1e-30f, 2.0f}).reshape({1, 3}).expand({4, 3});
  const Tensor g = func::grad([](const Tensor& t) { return t.prod(1).sum(); })(rows);
  EXPECT_EQ(values_of(g[3]), (std::vector<double>{2e-30f, 2e-30f, 0}));
}

// A zero direction beside an others' product that overflows: the derivatives are the terms that are
// there (a review found sum(t E) = 0 inf = nan in the JVP, jacfwd, the forward Laplacian and
// batch_hessian; reverse mode was right).
TEST(Prod, ForwardDerivativesSkipZeroDirections) {
  const Tensor v = f64({1e200, 1e200, 1e-200});
  EXPECT_EQ(func::jvp(whole_product(), v, f64({1, 0, 0})).second.item<double>(), 1.0);
  EXPECT_EQ(values_of(func::jacfwd(whole_product())(v)), (std::vector<double>{1, 1, INFINITY}));
  EXPECT_EQ(values_of(func::jacrev(whole_product())(v)), (std::vector<double>{1, 1, INFINITY}));
  const Tensor w = f64({1e300, 1e300, 1e-300, 1e-300}).reshape({1, 4});
  const func::UnaryFunction rows = [](const Tensor& x) { return x.prod(-1); };
  EXPECT_EQ(func::laplacian(rows, w).item<double>(), 0.0);
  // H_ij = the product of the other two: 1e-600 underflows to 0, 1e600 overflows.
  const std::vector<double> exact = {0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, INFINITY, 1, 1, INFINITY, 0};
  EXPECT_EQ(values_of(func::batch_hessian(rows, w)), exact);
  EXPECT_EQ(values_of(func::vmap(func::hessian(whole_product()))(w)), exact);
}

// Zeros: the gradient and the second derivatives are the products of the others (a row with two
// zeros has a nonzero Hessian), in every mode.
TEST(Prod, DerivativesAtZeros) {
  const Tensor x = f64({0, 0, 3});
  EXPECT_EQ(values_of(func::grad(whole_product())(x)), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(values_of(func::hessian(whole_product())(x)), (std::vector<double>{0, 3, 0, 3, 0, 0, 0, 0, 0}));
  // Reverse over reverse, with create_graph.
  const Tensor leaf = x.clone().requires_grad_();
  const Tensor g = grad({leaf.prod()}, {leaf}, {}, std::nullopt, true)[0];
  EXPECT_EQ(values_of(grad({g[0]}, {leaf})[0]), (std::vector<double>{0, 3, 0}));
  // -0 keeps its sign in the others: prod(-0, 2) has gradient (2, -0).
  const Tensor negative_zero = f64({-0.0, 2}).requires_grad_();
  const Tensor gz = grad({negative_zero.prod()}, {negative_zero})[0];
  EXPECT_EQ(values_of(gz)[0], 2.0);
  EXPECT_TRUE(std::signbit(values_of(gz)[1]));
  // One zero along a dim: only its own gradient is nonzero.
  const Tensor m = f64({2, 0, 5, 1, 3, 4}).reshape({2, 3}).requires_grad_();
  EXPECT_EQ(values_of(grad({m.prod(1).sum()}, {m})[0]), (std::vector<double>{0, 10, 0, 12, 4, 3}));
}

// Each sample's derivatives are its own: a sample with zeros beside it changes nothing.
TEST(Prod, SamplesUnderVmapAreIndependent) {
  const func::UnaryFunction grad_of_prod = func::grad(whole_product());
  const Tensor alone = f64({1e-200, 1e-200, 3});
  const Tensor batch = stack({f64({0, 1, 1}), alone, f64({2, 0, 0})});
  const Tensor per_sample = func::vmap(grad_of_prod)(batch);
  for (int64_t s = 0; s < 3; ++s)
    EXPECT_EQ(values_of(per_sample[s]), values_of(grad_of_prod(batch[s]))) << "sample " << s;
  const Tensor hessians = func::vmap(func::hessian(whole_product()))(batch);
  for (int64_t s = 0; s < 3; ++s)
    EXPECT_EQ(values_of(hessians[s]), values_of(func::hessian(whole_product())(batch[s]))) << "sample " << s;
}

// Many rows and columns split across threads: the same bits on 1, 2 and 5 threads.
TEST(Prod, GradientsAreTheSameOnAnyNumberOfThreads) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  std::vector<double> v(700 * 300);
  for (double& x : v) x = u(rng);
  const Tensor x = f64(v).reshape({700, 300});
  std::vector<std::vector<double>> results;
  for (int threads : {1, 2, 5}) {
    ThreadCount count(threads);
    const Tensor leaf = x.clone().requires_grad_();
    std::vector<double> r = values_of(grad({leaf.prod(1).sum() + leaf.prod(0).sum()}, {leaf})[0]);
    results.push_back(r);
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(Cumprod, ValuesDtypesShapesAndErrors) {
  EXPECT_TRUE(HasValues(f64({1, 2, 3}).cumprod(0), {1, 2, 6}, 0));
  EXPECT_EQ(tensor({1, 2}).cumprod(0).dtype(), kInt64);
  EXPECT_EQ(tensor({1.0, 1.0}).to(kBool).cumprod(0).dtype(), kInt64);
  EXPECT_EQ(cumprod(tensor({1.0f, 2.0f}), 0, kFloat64).dtype(), kFloat64);
  const int64_t p20 = 3486784401;  // int64 wraps as PyTorch's (torch 1.13's values)
  EXPECT_EQ(tensor({p20, p20, int64_t{243}}).cumprod(0).to_vector<int64_t>(),
            (std::vector<int64_t>{p20, -6289078614652622815, 2833654757305440083}));
  const Tensor m = f64({1, 2, 3, 4, 5, 6}).reshape({2, 3});
  EXPECT_TRUE(HasValues(m.t().cumprod(1), {1, 4, 2, 10, 3, 18}, 0));  // a strided input
  EXPECT_TRUE(HasValues(m.cumprod(0), {1, 2, 3, 4, 10, 18}, 0));
  EXPECT_TRUE(HasValues(tensor(3.0).cumprod(0), {3}, 0));
  EXPECT_EQ(ones({2, 0}).cumprod(1).sizes().vec(), (std::vector<int64_t>{2, 0}));
  // A running product that leaves float64's range and comes back: each value exact (PyTorch: inf, then inf).
  EXPECT_EQ(values_of(f64({1e200, 1e200, 1e-200}).cumprod(0)), (std::vector<double>{1e200, INFINITY, 1e200}));
  EXPECT_DYDX_ERROR(ones({2, 3}).cumprod(-3), "cumprod", "dim -3 is out of range", "[-2, 1]");
  EXPECT_DYDX_ERROR(cumprod(ones({2}), 0, kBool), "cumprod_out_cpu", "'Bool'");
  // In place: the same values, with cumprod's gradient through the old ones.
  const Tensor leaf = f64({2, 0, 5}).requires_grad_();
  Tensor y = leaf * 1.0;
  y.cumprod_(0);
  EXPECT_EQ(values_of(y), (std::vector<double>{2, 0, 0}));
  EXPECT_EQ(values_of(grad({y.sum()}, {leaf})[0]), (std::vector<double>{1, 12, 0}));
  EXPECT_EQ(std::string(leaf.cumprod(0).grad_fn()->name()), "CumprodBackward0");
  EXPECT_FALSE(cumprod(leaf, 0, kInt64).requires_grad());
}

// sum_{k >= l} g_k prod_{i <= k, i != l} x_i for each l, each product exact, summed in long double.
std::vector<long double> exact_cumprod_gradient(const std::vector<double>& x, const std::vector<double>& g, std::vector<long double>* scale) {
  const size_t n = x.size();
  std::vector<long double> out(n, 0);
  scale->assign(n, 0);
  for (size_t l = 0; l < n; ++l)
    for (size_t k = l; k < n; ++k) {
      std::vector<double> factors;
      for (size_t i = 0; i <= k; ++i)
        if (i != l) factors.push_back(x[i]);
      const long double term = static_cast<long double>(g[k]) * exact_product(factors);
      out[l] += term;
      (*scale)[l] += std::fabs(term);
    }
  return out;
}

// Rows of huge, tiny, zero and ordinary factors: cumprod's gradient against the exact sums, along
// the last dim and an outer one, wherever every term is in range.
TEST(Cumprod, GradientMatchesTheExactSums) {
  std::mt19937_64 rng(11);
  const std::vector<double> pool = {1e150, -1e150, 1e-150, 1e100, 1e-100, 3.5, -0.7, 1.0, 0.0, 2.0};
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 12);
    std::vector<double> v(n), g(n);
    for (double& x : v) x = pool[rng() % pool.size()] * (1.0 + static_cast<double>(rng() % 1000) * 1e-4);
    for (double& w : g) w = static_cast<double>(rng() % 7) - 3.0;
    std::vector<long double> scale;
    const std::vector<long double> want = exact_cumprod_gradient(v, g, &scale);
    const Tensor rows = f64(v).reshape({1, n}).expand({3, n}).contiguous().requires_grad_();
    const Tensor weights = f64(g).reshape({1, n}).expand({3, n});
    const Tensor along_rows = grad({(rows.cumprod(1) * weights).sum()}, {rows})[0];
    const Tensor columns = f64(v).reshape({n, 1}).expand({n, 4}).contiguous().requires_grad_();
    const Tensor along_columns = grad({(columns.cumprod(0) * f64(g).reshape({n, 1})).sum()}, {columns})[0];
    for (int64_t l = 0; l < n; ++l) {
      if (!std::isfinite(static_cast<double>(scale[l])) || scale[l] > 1e300L) continue;  // a term out of range
      const double tolerance = 1e-13 * static_cast<double>(scale[l]) + 1e-300;
      EXPECT_NEAR(along_rows[2][l].item<double>(), static_cast<double>(want[l]), tolerance) << "trial " << trial << " place " << l;
      EXPECT_NEAR(along_columns[l][3].item<double>(), static_cast<double>(want[l]), tolerance) << "trial " << trial << " place " << l;
    }
  }
}

// Zeros: exact first and second derivatives in every mode; underflowing values: derivatives in range.
TEST(Cumprod, DerivativesAtZerosAndOutOfRange) {
  const func::UnaryFunction total = [](const Tensor& x) { return x.cumprod(0).sum(); };
  // [0, 0, 3]: running products 0, 0, 0; d/dx0 = 1 + x1 + x1 x2 = 1; d/dx1 = x0 + x0 x2 = 0; d/dx2 = x0 x1 = 0.
  EXPECT_EQ(values_of(func::grad(total)(f64({0, 0, 3}))), (std::vector<double>{1, 0, 0}));
  // Its Hessian: d2/dx0 dx1 = 1 + x2 = 4, d2/dx0 dx2 = x1 = 0, d2/dx1 dx2 = x0 = 0.
  EXPECT_EQ(values_of(func::hessian(total)(f64({0, 0, 3}))), (std::vector<double>{0, 4, 0, 4, 0, 0, 0, 0, 0}));
  const Tensor leaf = f64({0, 0, 3}).requires_grad_();
  const Tensor g = grad({leaf.cumprod(0).sum()}, {leaf}, {}, std::nullopt, true)[0];
  EXPECT_EQ(values_of(grad({g[0]}, {leaf})[0]), (std::vector<double>{0, 4, 0}));
  // [1e-300, 1e-300, 1e300, 2]: d/dx0 = 1 + x1 + x1 x2 + x1 x2 x3 = 4 (PyTorch divides running products that
  // underflow to 0 by x), d/dx1 = x0 + x0 x2 + x0 x2 x3 = 3.
  const std::vector<double> tiny = values_of(func::grad(total)(f64({1e-300, 1e-300, 1e300, 2})));
  EXPECT_NEAR(tiny[0], 4.0, 1e-15);
  EXPECT_NEAR(tiny[1], 3.0, 1e-15);
  // JVP along t: the running products' derivatives, in range where they are.
  const auto [value, tangent] = func::jvp([](const Tensor& x) { return x.cumprod(0); }, f64({1e-200, 1e-200, 1e300}), f64({1, 0, 0}));
  EXPECT_EQ(values_of(value)[1], 0.0);
  EXPECT_EQ(values_of(tangent)[0], 1.0);
  EXPECT_NEAR(values_of(tangent)[1], 1e-200, 1e-214);
  EXPECT_NEAR(values_of(tangent)[2], 1e100, 1e86);
}

TEST(Cumprod, SamplesUnderVmapAreIndependentAndThreadsAgree) {
  const func::UnaryFunction gradient = func::grad([](const Tensor& x) { return x.cumprod(0).sum(); });
  const Tensor batch = stack({f64({0, 1, 1}), f64({1e-300, 1e-300, 4}), f64({2, 0, 0}), f64({0.5, 2, -4})});
  const Tensor per_sample = func::vmap(gradient)(batch);
  for (int64_t s = 0; s < 4; ++s) EXPECT_EQ(values_of(per_sample[s]), values_of(gradient(batch[s]))) << "sample " << s;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  std::vector<double> v(600 * 200);
  for (double& x : v) x = u(rng);
  const Tensor x = f64(v).reshape({600, 200});
  std::vector<std::vector<double>> results;
  for (int threads : {1, 2, 5}) {
    ThreadCount count(threads);
    const Tensor leaf = x.clone().requires_grad_();
    results.push_back(values_of(grad({leaf.cumprod(1).sum() + leaf.cumprod(0).sum()}, {leaf})[0]));
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

// A block of columns takes the plain path only where every column's products stay in range; a
// column beside one of 1e300s takes the exponent-carrying path. Both give the same bits (a review
// found the plain path's fused multiply-adds gave others), so a column's results never depend on its
// neighbours, nor a sample's on the other samples.
TEST(Prod, PlainAndCarryingPathsGiveTheSameBits) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 2 + trial;
    std::vector<double> v(n), g(n);
    for (double& x : v) x = u(rng);
    for (double& w : g) w = u(rng);
    const Tensor alone = f64(v).reshape({n, 1});
    const Tensor beside = cat({alone, full({n, 1}, 1e300, dtype(kFloat64))}, 1);
    const Tensor weights = f64(g).reshape({n, 1});
    const auto column = [&](const Tensor& x, int kind) {
      const Tensor leaf = x.clone().requires_grad_();
      const Tensor y = kind == 0 ? (leaf.cumprod(0) * weights).sum() : kind == 1 ? (leaf.prod(0) * weights[0]).sum() : leaf.cumprod(0).sum();
      const Tensor grad_x = grad({y}, {leaf})[0];
      return kind == 2 ? values_of(leaf.cumprod(0).select(1, 0)) : values_of(grad_x.select(1, 0));
    };
    for (int kind = 0; kind < 3; ++kind) {
      const std::vector<double> a = column(alone, kind), b = column(beside, kind);
      for (int64_t l = 0; l < n; ++l)
        EXPECT_EQ(std::bit_cast<uint64_t>(a[l]), std::bit_cast<uint64_t>(b[l])) << "trial " << trial << " kind " << kind << " place " << l;
    }
  }
}

// A long row whose running product climbs past 2^1000 and comes back: the plain pass gives up, and
// the gradient and the running products come from the exponent-carrying passes, against exact ones.
TEST(Prod, LongRowsBeyondThePlainRangeMatchTheExactProducts) {
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> wobble(0.99, 1.01);
  std::vector<double> v;
  for (int i = 0; i < 1800; ++i) v.push_back(1.5 * wobble(rng));
  for (int i = 0; i < 1800; ++i) v.push_back(wobble(rng) / 1.5);
  v[100] = 1e30;  // and, in a copy, a factor past 2^60, for the one-element-at-a-time path
  const std::vector<double> others = exact_others(v);
  const Tensor leaf = f64(v).requires_grad_();
  const std::vector<double> got = values_of(grad({leaf.prod()}, {leaf})[0]);
  std::vector<double> near(v);
  near[100] = 1.5;
  const std::vector<double> others_near = exact_others(near);
  const Tensor leaf_near = f64(near).requires_grad_();
  const std::vector<double> got_near = values_of(grad({leaf_near.prod()}, {leaf_near})[0]);
  const std::vector<double> running = values_of(f64(near).cumprod(0));
  double prefix_mantissa = 1;
  long prefix_exponent = 0;
  for (size_t l = 0; l < v.size(); ++l) {
    expect_product_value(got[l], others[l], "place " + std::to_string(l));
    expect_product_value(got_near[l], others_near[l], "place " + std::to_string(l) + " (near 1)");
    int e = 0;
    prefix_mantissa = std::frexp(prefix_mantissa * near[l], &e);
    prefix_exponent += e;
    expect_product_value(running[l], std::ldexp(prefix_mantissa, static_cast<int>(std::clamp(prefix_exponent, -3000L, 3000L))),
                         "running " + std::to_string(l));
  }
}

// A result in the subnormals is rounded once on either path (a review found the exponent-carrying
// one rounded the product to 53 bits first, one subnormal ulp off): at place 9 of this row the others'
// product is (1 + 2^-52)^2 2^-1024, just above a midpoint between two subnormals.
TEST(Prod, SubnormalResultsAreRoundedOnceOnEveryPath) {
  std::vector<double> v(8, 0x1p-60);
  v.insert(v.end(), {0x1.0000000000001p-32, 0x1p60, 0x1.0000000000001p-32});
  v.insert(v.end(), 8, 0x1p-60);
  const Tensor alone = f64(v).reshape({1, 19});
  Tensor rows = alone.expand({4, 19}).contiguous();
  rows.select(0, 3).fill_(1e300);  // a row that takes the exponent-carrying path, beside row 0
  for (const Tensor& x : {alone, rows}) {
    const double got = ops::prod_others(x, {}, -1)[0][9].item<double>();
    EXPECT_EQ(std::bit_cast<uint64_t>(got), std::bit_cast<uint64_t>(0x0.4000000000001p-1022)) << got;
  }
  const Tensor columns = rows.t().contiguous();  // the same rows as columns of one block
  EXPECT_EQ(std::bit_cast<uint64_t>(ops::prod_others(columns, {}, -2)[9][0].item<double>()),
            std::bit_cast<uint64_t>(0x0.4000000000001p-1022));
}

// The paths with tangents (a fourth review's rows): a term of two in-range components that rounds to
// 0 refuses the plain pass, whose sum would lose it; and a sum of -0 terms is -0 on every path.
TEST(ProdOthers, TangentPathsAgreeAtUnderflowAndSignedZeros) {
  std::vector<double> x(21, 0x1p-54), a(21, 0.0);
  x[10] = 0;
  a[0] = a[20] = 24 * 0x1p-54;
  // Exactly 48 2^-1080 = 1.5 2^-1075, which rounds to the least subnormal.
  EXPECT_EQ(ops::prod_others(f64(x), {f64(a)}, -1)[10].item<double>(), 0x0.0000000000001p-1022);
  for (const double second : {3.0, 0x1p70}) {  // the plain pass, and the exponent-carrying one
    const double first = ops::cumprod_tangents(f64({5, second}), {f64({-0.0, 1})}, -1)[0].item<double>();
    EXPECT_EQ(first, 0.0);
    EXPECT_TRUE(std::signbit(first)) << second;
    EXPECT_TRUE(std::signbit(ops::prod_others(f64({2, 3, second}), {f64({1, -0.0, -0.0})}, -1)[0].item<double>())) << second;
  }
}

// The rule ops with tangents run four rows (or four columns) side by side and redo alone each one the
// shared pass cannot vouch for: every row's bits must be those it gets alone, whichever rows share its
// pass (some here are out of the plain range, hold zeros, infinities or subnormals), on any number of
// threads; and an operand broadcast along leading dims (read where it lies) gives the bits of its
// dense copy, for batches whose rows do and do not fill whole groups of four.
TEST(ProdRules, RowsSideBySideGiveEachRowItsOwnBits) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  // 1111 rows, enough that 3 threads split them (a group of four rows with 3 tangents is one grain's
  // worth at 32 groups); 11 of them compared with their own.
  const int64_t rows = 1111, n = 7, compared = 11;
  std::vector<double> values(rows * n);
  for (double& v : values) v = u(rng);
  // In every 11: rows 1, 6 and 9 leave the plain pass's window; row 3 holds a zero, row 4 an infinity,
  // row 7 a subnormal.
  for (int64_t r = 0; r < rows; r += 11) {
    double* row = values.data() + r * n;
    for (int64_t l = 0; l < n; ++l) row[1 * n + l] = l % 2 ? 1e300 : 3e-300;
    row[6 * n + 2] = 1e200, row[6 * n + 5] = 1e200;
    row[9 * n + 0] = 1e-170, row[9 * n + 6] = 1e-170;
    row[3 * n + 4] = 0, row[4 * n + 1] = INFINITY, row[7 * n + 3] = 1e-310;
  }
  const Tensor x = f64(values).reshape({rows, n});
  const auto random_like = [&](const Tensor& t) {
    std::vector<double> v(static_cast<size_t>(t.numel()));
    for (double& e : v) e = u(rng);
    return f64(v).reshape(t.sizes());
  };
  const auto bits_of = [](const Tensor& t) {
    std::vector<uint64_t> out;
    for (double v : values_of(t)) out.push_back(std::bit_cast<uint64_t>(v));
    return out;
  };
  const auto rule = [](int which, const Tensor& x, const TensorList& tangents, const Tensor& g, int64_t dim) {
    return which == 0 ? ops::prod_others(x, tangents, dim)
                      : which == 1 ? ops::cumprod_tangents(x, tangents, dim) : ops::cumprod_adjoint(x, tangents, g, dim);
  };
  for (int which = 0; which < 3; ++which)
    for (int m = 1; m <= 3; ++m)
      for (const bool columns : {false, true}) {
        // columns: the same rows laid along dim 0, so that the lanes are neighbouring columns.
        const Tensor xs = columns ? x.t().contiguous() : x;
        const int64_t dim = columns ? -2 : -1;
        TensorList tangents;
        for (int k = 0; k < m; ++k) tangents.push_back(random_like(xs));
        const Tensor g = random_like(xs);
        const std::string where = "rule " + std::to_string(which) + ", " + std::to_string(m) + " tangents" + (columns ? ", columns" : "");
        std::vector<uint64_t> on_one_thread;
        for (const int threads : {1, 3}) {
          const ThreadCount thread_count(threads);
          const Tensor all = rule(which, xs, tangents, g, dim);
          if (threads == 1) on_one_thread = bits_of(all);
          else EXPECT_EQ(bits_of(all), on_one_thread) << where << ", " << threads << " threads";
          for (int64_t r = 0; r < compared; ++r) {
            const auto one = [&](const Tensor& t) { return t.narrow(columns ? 1 : 0, r, 1).contiguous(); };
            TensorList own;
            for (const Tensor& a : tangents) own.push_back(one(a));
            EXPECT_EQ(bits_of(one(all)), bits_of(rule(which, one(xs), own, one(g), dim))) << where << ", row " << r << ", " << threads << " threads";
          }
        }
        // Tangents and g batched [B, ...], x not: x read where it lies, against its dense copy.
        for (const int64_t batch : {1, 3}) {
          TensorList batched;
          for (const Tensor& a : tangents) batched.push_back(cat({a.unsqueeze(0), random_like(a).unsqueeze(0), a.unsqueeze(0) * 2}).narrow(0, 0, batch));
          const Tensor gb = cat({g.unsqueeze(0), g.unsqueeze(0), random_like(g).unsqueeze(0)}).narrow(0, 0, batch);
          const Tensor dense_x = xs.unsqueeze(0).expand(batched[0].sizes()).contiguous();
          EXPECT_EQ(bits_of(rule(which, xs, batched, gb, dim)), bits_of(rule(which, dense_x, batched, gb, dim))) << where << ", batch " << batch;
          // One tangent broadcast along the rows too (a [n] direction for every row), all operands against
          // dense copies of the result's shape (with one tangent, prod_others' and cumprod_tangents' result
          // has no batch).
          TensorList shared = batched;
          shared[0] = columns ? tangents[0].select(1, 0).unsqueeze(1) : tangents[0][0];
          const Tensor got = rule(which, xs, shared, gb, dim);
          const auto dense = [&](const Tensor& t) { return t.expand(got.sizes()).contiguous(); };
          TensorList shared_dense;
          for (const Tensor& a : shared) shared_dense.push_back(dense(a));
          EXPECT_EQ(bits_of(got), bits_of(rule(which, dense(xs), shared_dense, which == 2 ? dense(gb) : gb, dim)))
              << where << ", batch " << batch << ", shared tangent";
          // x one row shared by all (fewer than four distinct rows: copied out for the lanes).
          const Tensor one_x = xs.narrow(columns ? 1 : 0, 0, 1);
          const Tensor shared_x = rule(which, one_x, batched, gb, dim);
          const auto like_result = [&](const Tensor& t) { return t.expand(shared_x.sizes()).contiguous(); };
          TensorList batched_dense;
          for (const Tensor& a : batched) batched_dense.push_back(like_result(a));
          EXPECT_EQ(bits_of(shared_x), bits_of(rule(which, like_result(one_x), batched_dense, which == 2 ? like_result(gb) : gb, dim)))
              << where << ", batch " << batch << ", one row of x";
        }
      }
}

TEST(ProdOthers, ValuesAndErrors) {
  // With as many tangents as the row has other places, or more: zeros.
  EXPECT_EQ(values_of(ops::prod_others(f64({2, 3}), {f64({1, 1}), f64({1, 1})}, -1)), (std::vector<double>{0, 0}));
  // x 2 3 5, a 1 10 100: the others' derivative at place 0 is 10 * 5 + 100 * 3, at place 1 1 * 5 + 100 * 2.
  EXPECT_EQ(values_of(ops::prod_others(f64({2, 3, 5}), {f64({1, 10, 100})}, -1)), (std::vector<double>{350, 205, 23}));
  // Tangents with leading dims broadcast against x.
  const Tensor two = ops::prod_others(f64({2, 3, 5}), {f64({1, 10, 100, 1, 1, 1}).reshape({2, 3})}, -1);
  EXPECT_EQ(values_of(two), (std::vector<double>{350, 205, 23, 8, 7, 5}));
  EXPECT_DYDX_ERROR(ops::prod_others(f64({1, 2}), TensorList(17, f64({1, 2})), -1), "prod", "order above 17");
  EXPECT_DYDX_ERROR(ops::prod_others(tensor({1, 2}), {}, -1), "prod", "floating");
  EXPECT_DYDX_ERROR(ops::prod_others(f64({1, 2}), {}, 0), "prod", "dim 0");
  EXPECT_DYDX_ERROR(ops::prod_others(f64({1, 2}), {}, -2), "prod", "dim -2");
  // cumprod's pair: the running products with a tangent, and their transpose.
  EXPECT_EQ(values_of(ops::cumprod_tangents(f64({2, 3, 5}), {f64({1, 10, 100})}, -1)), (std::vector<double>{1, 23, 715}));
  EXPECT_EQ(values_of(ops::cumprod_adjoint(f64({2, 3, 5}), {}, f64({1, 1, 1}), -1)), (std::vector<double>{19, 12, 6}));
  EXPECT_EQ(values_of(ops::cumprod_tangents(f64({2, 3}), {f64({1, 1}), f64({1, 1}), f64({1, 1})}, -1)), (std::vector<double>{0, 0}));
  EXPECT_DYDX_ERROR(ops::cumprod_adjoint(f64({1, 2}), {}, f64({1, 2, 3}), -1), "cumprod_adjoint", "[2]", "[3]");
}

// Third and fourth derivatives of a product of five (prod_others with up to three tangents), by
// nested forward mode, against finite differences of the exact Hessian-vector products.
TEST(Prod, HigherDerivativesOfAProduct) {
  const Tensor x = f64({0.7, -1.3, 0.0, 2.1, 0.9});
  const Tensor v = f64({0.3, 0.5, -0.2, 0.1, 1.0});
  // d^k/ds^k prod(x + s v) at s = 0 is k! times the coefficient of s^k of the polynomial.
  std::vector<double> coefficients(6, 0.0);
  coefficients[0] = 1;
  const std::vector<double> xs = values_of(x), vs = values_of(v);
  for (size_t i = 0; i < xs.size(); ++i)
    for (size_t k = 5; k-- > 0;) coefficients[k + 1] += coefficients[k] * vs[i], coefficients[k] *= xs[i];
  func::UnaryFunction along = [&](const Tensor& s) { return (x + s * v).prod(); };
  double factorial = 1;
  for (int k = 1; k <= 4; ++k) {
    factorial *= k;
    along = func::jacfwd(along);
    EXPECT_NEAR(along(tensor(0.0, dtype(kFloat64))).item<double>(), factorial * coefficients[k], 1e-12) << "order " << k;
  }
}

}  // namespace
