// var, std, norm, linalg::vector_norm, einsum, addcmul(_) and addcdiv(_): values and gradients against
// PyTorch 1.13 (stats_goldens.txt) in float64 and float32, contiguous and strided; einsum's derivatives
// against finite differences; edge shapes, numerics and errors. (The op-table rows check var's, std's
// and the norms' rules to second order in both modes.)
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "stats_goldens.hpp"
#include "test_util.hpp"

namespace dydx::testing {
namespace {

// Cases whose numbers float32 cannot hold: a 1e8 mean over a spread of 1 (the spread rounds away),
// and norms of 1e200.
bool float64_only(const std::string& key) {
  return key.find("shifted") != std::string::npos || key.find("huge") != std::string::npos ||
         key.find("tiny") != std::string::npos;
}

// Deliberate differences from PyTorch 1.13: its 2-norm squares without scaling, so [3e200, 4e200]
// overflows to inf and [3e-200, 4e-200] underflows to 0; dydx rescales and gives 5e200 and 5e-200.
bool deliberate_deviation(const std::string& key) { return key == "norm:2:all:huge" || key == "norm:2:all:tiny"; }

TEST(StatsGoldens, EveryCaseMatchesPyTorchInBothDtypesAndLayouts) {
  const auto cases = stats_cases({"var:", "std:", "norm:", "vector_norm:", "einsum:", "addcmul", "addcdiv"});
  ASSERT_GE(cases.size(), 200u);
  std::set<std::string> ops;
  for (const StatsCase& c : cases) {
    if (deliberate_deviation(c.key)) continue;
    ops.insert(split_key(c.key)[0]);
    // The shifted data's variance is ill-conditioned (condition number ~1e16): both libraries'
    // stable algorithms agree to ~1e-8 there.
    const double rtol64 = c.key.find("shifted") != std::string::npos ? 1e-6 : 1e-10;
    for (bool strided : {false, true}) {
      check_stats_case(c, kFloat64, strided, rtol64, 1e-12);
      if (!float64_only(c.key)) check_stats_case(c, kFloat32, strided, 2e-4, 2e-5);
    }
  }
  EXPECT_EQ(ops.size(), 9u);
}

TEST(StatsGoldens, TwoNormRescalesInsteadOfOverflowing) {
  EXPECT_TRUE(HasValues(tensor({3e200, 4e200}, kFloat64).norm() / 1e200, {5.0}, 1e-14));
  EXPECT_TRUE(HasValues(tensor({3e-200, 4e-200}, kFloat64).norm() * 1e200, {5.0}, 1e-14));
  EXPECT_TRUE(HasValues(tensor({3e30f, 4e30f}).norm() / 1e30, {5.0}, 1e-6));  // float32 squares in double
}

TEST(Stats, VarianceIsStableForALargeMean) {
  // Naive E[x^2] - E[x]^2 in double loses everything at a mean of 1e9 with a spread of 1.
  Tensor x = tensor({1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4}, kFloat64);
  EXPECT_TRUE(HasValues(x.var(), {5.0 / 3}, 1e-12));
  Tensor y = tensor({1e4f + 1, 1e4f + 2, 1e4f + 3, 1e4f + 4});  // float32 accumulates in double
  EXPECT_TRUE(HasValues(y.var(false), {1.25}, 1e-6));
}

// var and layer_norm sum each row in two vectors of eight lanes and a tail (src/ops/row_moments.hpp):
// every row length from 1 to 70, a large mean over a small spread, against long double, and
// layer_norm's statistics against the same.
TEST(Stats, VarianceOfEveryRowLengthAgreesWithLongDouble) {
  for (int64_t n = 1; n <= 70; ++n) {
    std::vector<double> values(n);
    for (int64_t i = 0; i < n; ++i) values[i] = 1e6 + std::sin(0.7 * static_cast<double>(i * i + n)) * 3;
    long double mean = 0, squares = 0;
    for (double v : values) mean += v;
    mean /= n;
    for (double v : values) squares += (v - mean) * (v - mean);
    const double want = static_cast<double>(squares / n);
    const Tensor x = tensor(values, kFloat64);
    EXPECT_NEAR(x.var(false).item<double>(), want, 1e-9 * want + 1e-300) << "n = " << n;
    const Tensor y = layer_norm(x.reshape({1, n}), {n}, {}, {}, 0.0);
    if (n > 1) {
      const double first = static_cast<double>((values[0] - mean) / std::sqrt(squares / n));
      EXPECT_NEAR(y[0][0].item<double>(), first, 1e-9) << "n = " << n;  // x - mean loses 1e-10 / 3 of its digits
    }
  }
}

TEST(Stats, GradFnNamesAreLibtorchs) {
  Tensor x = randn({3, 4}, kFloat64).requires_grad_();
  EXPECT_EQ(std::string(x.var().grad_fn()->name()), "VarBackward0");
  EXPECT_EQ(std::string(x.std({1}).grad_fn()->name()), "StdBackward0");
  EXPECT_EQ(std::string(x.norm().grad_fn()->name()), "NormBackward1");
  EXPECT_EQ(std::string(linalg::vector_norm(x, 3.0).grad_fn()->name()), "LinalgVectorNormBackward0");
}

TEST(Stats, ZeroDimAndEmptyInputs) {
  Tensor s = tensor(2.5, kFloat64);
  EXPECT_TRUE(std::isnan(s.var().item<double>()));  // n - 1 = 0
  EXPECT_EQ(s.var(false).item<double>(), 0.0);
  EXPECT_EQ(var(s, {0}, false, true).dim(), 0);
  EXPECT_EQ(s.norm().item<double>(), 2.5);
  EXPECT_EQ(norm(s, 2, {-1}).item<double>(), 2.5);
  Tensor e = zeros({0, 3}, kFloat64);
  EXPECT_TRUE(std::isnan(e.var().item<double>()));
  EXPECT_EQ(e.var({1}).sizes(), IntArrayRef({0}));
  EXPECT_EQ(e.norm().item<double>(), 0.0);
  EXPECT_EQ(norm(e, INFINITY).item<double>(), 0.0);  // PyTorch 1.13 gives 0 too
  EXPECT_TRUE(HasValues(norm(e, 1, {0}), {0, 0, 0}));
  Tensor leaf = zeros({0, 3}, kFloat64).requires_grad_();
  leaf.norm().backward();
  EXPECT_EQ(leaf.grad().sizes(), IntArrayRef({0, 3}));
}

TEST(Stats, KeepdimAndDimLists) {
  Tensor x = randn({2, 3, 4}, kFloat64);
  EXPECT_EQ(x.var({0, 2}, true, true).sizes(), IntArrayRef({1, 3, 1}));
  EXPECT_EQ(x.std({-1, 0}).sizes(), IntArrayRef({3}));
  EXPECT_EQ(x.norm(1, {1}, true).sizes(), IntArrayRef({2, 1, 4}));
  EXPECT_TRUE(allclose(x.var({}), x.var()));  // an empty list means every dim
  EXPECT_TRUE(allclose(x.var({0, 1, 2}, std::optional<int64_t>(0)), x.var(false)));
  EXPECT_TRUE(allclose(x.std({1}, std::optional<int64_t>(1)), sqrt(x.var({1}))));
  auto [v, m] = var_mean(x, {1});
  EXPECT_TRUE(allclose(v, x.var({1})));
  EXPECT_TRUE(allclose(m, x.mean({1})));
  auto [sd, m2] = std_mean(x, {1}, false, true);
  EXPECT_TRUE(allclose(sd, x.std({1}, false, true)));
}

// The whole-tensor overload takes exactly a bool, so a dim written as {1} or 1 is never read as
// unbiased = true (libtorch's var(bool) would take x.var({1})).
TEST(Stats, ADimIsNeverReadAsUnbiased) {
  Tensor x = randn({3, 4}, kFloat64);
  EXPECT_EQ(x.var({1}).sizes(), IntArrayRef({3}));
  EXPECT_EQ(x.var(1).sizes(), IntArrayRef({3}));
  EXPECT_EQ(var(x, 0).sizes(), IntArrayRef({4}));
  EXPECT_EQ(dydx::std(x, {0}).sizes(), IntArrayRef({4}));
  EXPECT_EQ(x.std(true).dim(), 0);
  EXPECT_NEAR(x.var(false).item<double>() * 12, x.var(true).item<double>() * 11, 1e-12);
}

TEST(Stats, ExpandedAndTransposedInputs) {
  Tensor base = randn({4, 1}, kFloat64);
  Tensor expanded = base.expand({4, 5});
  EXPECT_TRUE(allclose(expanded.var({0}), expanded.contiguous().var({0})));
  EXPECT_TRUE(allclose(expanded.var({1}), zeros({4}, kFloat64)));
  Tensor x = randn({3, 5}, kFloat64);
  EXPECT_TRUE(allclose(x.t().std({1}), x.std({0})));
  EXPECT_TRUE(allclose(x.t().norm(3, {0}), x.norm(3, {1})));
}

TEST(Stats, NanAndInfPropagate) {
  Tensor x = tensor({1.0, NAN, 3.0}, kFloat64);
  EXPECT_TRUE(std::isnan(x.var().item<double>()));
  EXPECT_TRUE(std::isnan(x.norm().item<double>()));
  EXPECT_TRUE(std::isnan(norm(x, INFINITY).item<double>()));
  Tensor y = tensor({1.0, INFINITY, 3.0}, kFloat64);
  EXPECT_TRUE(std::isnan(y.var().item<double>()));
  EXPECT_EQ(y.norm().item<double>(), INFINITY);
  EXPECT_EQ(norm(y, -INFINITY).item<double>(), 1.0);
}

// Finite values whose squared deviations overflow: the variance is inf, as PyTorch's, not inf - inf
// (the correction drift^2 / n overflowed too), along the last dim and along leading dims; std's
// gradient is then (x - mean) / (div std) = 0, as PyTorch's.
TEST(Stats, OverflowingVarianceIsInfinite) {
  const Tensor row = tensor({1e200, 0.0, 0.0}, kFloat64);
  for (const Tensor& x : {row, row.reshape({3, 1}).expand({3, 2}).contiguous()}) {
    const std::vector<int64_t> dims = {0};
    EXPECT_EQ(x.var(dims).max().item<double>(), INFINITY);
    EXPECT_EQ(x.var(dims).min().item<double>(), INFINITY);
    EXPECT_EQ(x.std(dims, 0).min().item<double>(), INFINITY);
  }
  EXPECT_EQ(row.var().item<double>(), INFINITY);
  EXPECT_EQ(row.reshape({1, 3}).var({1}).item<double>(), INFINITY);
  const Tensor leaf = row.clone().requires_grad_();
  leaf.std().backward();
  EXPECT_TRUE(HasValues(leaf.grad(), {0, 0, 0}, 0));
  // In range, the values are those of before: one large deviation that does not overflow.
  EXPECT_NEAR(tensor({1e150, 0.0, 0.0}, kFloat64).var().item<double>(), 1e300 / 3, 1e285);
}

TEST(Stats, StdGradientIsZeroWhereStdIsZero) {
  Tensor x = full({2, 3}, 1.5, kFloat64).requires_grad_();
  x.std({1}).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 0, 0, 0, 0, 0}, 0));
  Tensor z = zeros({4}, kFloat64).requires_grad_();
  z.norm().backward();
  EXPECT_TRUE(HasValues(z.grad(), {0, 0, 0, 0}, 0));
}

TEST(Stats, BadInputRaises) {
  Tensor x = randn({2, 3});
  EXPECT_TRUE(ThrowsWith([&] { x.var({2}); }, {"var", "out of range"}));
  EXPECT_TRUE(ThrowsWith([&] { x.std({-3}); }, {"std"}));
  EXPECT_TRUE(ThrowsWith([&] { x.var({1, -1}); }, {"var", "multiple times"}));
  EXPECT_TRUE(ThrowsWith([&] { x.norm(2, {5}); }, {"norm"}));
  EXPECT_TRUE(ThrowsWith([&] { linalg::vector_norm(x, 2, {0, 0}); }, {"linalg.vector_norm", "multiple times"}));
  Tensor i = tensor({1, 2, 3}, kInt64);
  EXPECT_TRUE(ThrowsWith([&] { i.var(); }, {"var", "floating point", "int64"}));
  EXPECT_TRUE(ThrowsWith([&] { i.norm(); }, {"norm", "floating point"}));
  EXPECT_TRUE(ThrowsWith([&] { x.norm(NAN); }, {"norm", "nan"}));
}

// ---- einsum ----

TEST(Einsum, MatchesMatmulAndViews) {
  Tensor a = randn({3, 4}, kFloat64), b = randn({4, 5}, kFloat64), c = randn({2, 3, 4}, kFloat64);
  EXPECT_TRUE(allclose(einsum("ij,jk->ik", {a, b}), mm(a, b)));
  EXPECT_TRUE(allclose(einsum("ij , jk", {a, b}), mm(a, b)));  // spaces are ignored
  EXPECT_TRUE(allclose(einsum("ij->ji", {a}), a.t()));
  EXPECT_TRUE(allclose(einsum("bij->", {c}), c.sum()));
  Tensor sq = randn({4, 4}, kFloat64);
  EXPECT_NEAR(einsum("ii", {sq}).item<double>(), (sq * eye(4, kFloat64)).sum().item<double>(), 1e-12);
  EXPECT_TRUE(allclose(einsum("...j,j->...", {c, randn({4}, kFloat64) * 0 + 1}), c.sum({-1})));
  EXPECT_TRUE(allclose(einsum("ij,jk->ik", {a.t().contiguous().t(), b}), mm(a, b)));
  // Integer operands, as PyTorch's einsum takes them.
  Tensor ia = tensor({{1, 2}, {3, 4}}, kInt64);
  EXPECT_TRUE(HasValues(einsum("ij,jk->ik", {ia, ia}), {7, 10, 15, 22}, 0));
}

TEST(Einsum, DiagonalsOfExpandedAndTransposedInputs) {
  Tensor base = randn({3, 1}, kFloat64).requires_grad_();
  Tensor d = einsum("ii->i", {base.expand({3, 3})});
  EXPECT_TRUE(allclose(d, base.squeeze(1)));
  d.sum().backward();
  EXPECT_TRUE(HasValues(base.grad(), {1, 1, 1}, 0));
  Tensor m = randn({4, 4}, kFloat64).requires_grad_();
  Tensor trace = einsum("ii", {m.t()});
  EXPECT_NEAR(trace.item<double>(), (m * eye(4, kFloat64)).sum().item<double>(), 1e-12);
  trace.backward();
  EXPECT_TRUE(equal(m.grad(), eye(4, kFloat64)));
}

TEST(Einsum, ZeroDimAndZeroSize) {
  Tensor s = tensor(3.0, kFloat64);
  EXPECT_EQ(einsum("", {s}).item<double>(), 3.0);
  EXPECT_EQ(einsum(",->", {s, s}).item<double>(), 9.0);
  EXPECT_TRUE(HasValues(einsum("i,->i", {tensor({1.0, 2.0}, kFloat64), s}), {3, 6}, 0));
  EXPECT_TRUE(HasValues(einsum("ij,jk->ik", {zeros({2, 0}, kFloat64), zeros({0, 3}, kFloat64)}), {0, 0, 0, 0, 0, 0}, 0));
  EXPECT_EQ(einsum("ij,jk->ik", {zeros({0, 2}, kFloat64), zeros({2, 3}, kFloat64)}).sizes(), IntArrayRef({0, 3}));
}

TEST(Einsum, DerivativesMatchFiniteDifferencesInBothModesToSecondOrder) {
  const std::vector<std::pair<std::string, std::vector<std::vector<int64_t>>>> cases = {
      {"ij,jk->ik", {{3, 4}, {4, 2}}},         {"ii->i", {{3, 3}}},
      {"...ij,...jk", {{2, 1, 3, 4}, {5, 4, 2}}}, {"bn,anm,bm->ba", {{2, 3}, {4, 3, 5}, {2, 5}}},
      {"i,i->i", {{1}, {3}}},                  {"iij,j->i", {{2, 2, 3}, {3}}},
      {"ij,ij,ij->", {{2, 3}, {2, 3}, {2, 3}}},
  };
  uint64_t seed = 7;
  for (const auto& [eq, shapes] : cases) {
    SCOPED_TRACE(eq);
    TensorList x;
    for (const auto& s : shapes) x.push_back(randn(s, kFloat64));
    check_fd_derivatives([eq = eq](const TensorList& in) { return einsum(eq, in); }, x, ++seed);
  }
}

TEST(Einsum, BadEquationsRaiseWithPyTorchsMessages) {
  Tensor a = randn({2, 3}), b = randn({3, 4}), sq = randn({2, 2});
  EXPECT_TRUE(ThrowsWith([&] { einsum("i,i->ii", {randn({2}), randn({2})}); }, {"einsum()", "output subscript i appears more than once"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("ij->k", {a}); }, {"output subscript k does not appear in the equation for any input operand"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("ii", {a}); }, {"subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("ij", {a, b}); }, {"more operands were provided than specified in the equation"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("ij,jk", {a}); }, {"fewer operands were provided than specified in the equation"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("i1", {a}); }, {"invalid subscript given at index 1 in the equation string, subscripts must be in [a-zA-Z]"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("ij", {randn({2})}); }, {"number of subscripts in the equation (2) does not match the number of dimensions (1) for operand 0 and no ellipsis was given"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("i.j", {sq}); }, {"found '.' for operand 0 that is not part of any ellipsis"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("...i...", {sq}); }, {"more than one ellipsis"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("i,i", {randn({2}), randn({3})}); }, {"subscript i has size 3 for operand 1 which does not broadcast with previously seen size 2"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("...ij,...jk", {randn({2, 2, 3}), randn({3, 3, 4})}); }, {"covered by ellipsis in operand 1", "does not broadcast"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("ij,jk", {a, b.to(kFloat64)}); }, {"einsum()", "same dtype"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("ijk", {a}); }, {"number of subscripts in the equation (3)"}));
  EXPECT_TRUE(ThrowsWith([&] { einsum("i", {}); }, {"einsum()", "at least one operand"}));
}

// ---- addcmul and addcdiv ----

TEST(Addc, InPlaceOnLeafRequiringGradRaisesBeforeWriting) {
  Tensor x = ones({2, 2}, kFloat64).requires_grad_();
  EXPECT_TRUE(ThrowsWith([&] { x.addcmul_(ones({2, 2}, kFloat64), ones({2, 2}, kFloat64)); }, {"addcmul_", "leaf Variable"}));
  EXPECT_TRUE(ThrowsWith([&] { x.addcdiv_(ones({2, 2}, kFloat64), ones({2, 2}, kFloat64)); }, {"addcdiv_", "leaf Variable"}));
  EXPECT_EQ(x._version(), 0);
  // Shapes that broadcast beyond self, and integer division, raise before anything is written.
  Tensor y = zeros({2}, kFloat64);
  EXPECT_TRUE(ThrowsWith([&] { y.addcmul_(ones({3, 2}, kFloat64), ones({2}, kFloat64)); }, {"addcmul_", "doesn't match the broadcast shape"}));
  EXPECT_TRUE(ThrowsWith([&] { y.addcmul_(ones({3}, kFloat64), ones({2}, kFloat64)); }, {"addcmul_"}));
  Tensor iy = zeros({2}, kInt64);
  EXPECT_TRUE(ThrowsWith([&] { iy.addcdiv_(ones({2}, kInt64), ones({2}, kInt64)); }, {"addcdiv_", "Integer division"}));
  EXPECT_TRUE(ThrowsWith([&] { addcdiv(iy, ones({2}, kInt64), ones({2}, kInt64)); }, {"addcdiv", "Integer division"}));
  EXPECT_TRUE(HasValues(y, {0, 0}, 0));
  EXPECT_EQ(y._version(), 0);
}

TEST(Addc, InPlaceWithoutGradAndOnIntegers) {
  Tensor y = zeros({2, 2}, kFloat32);
  y.addcmul_(full({2, 2}, 2.0f), full({2}, 3.0f), 0.5);
  EXPECT_TRUE(HasValues(y, {3, 3, 3, 3}, 0));
  y.addcdiv_(full({2, 2}, 2.0f), full({2}, 4.0f), -2);
  EXPECT_TRUE(HasValues(y, {2, 2, 2, 2}, 0));
  Tensor iy = tensor({1, 2}, kInt64);
  iy.addcmul_(tensor({2, 3}, kInt64), tensor({5, 5}, kInt64), 2);
  EXPECT_TRUE(HasValues(iy, {21, 32}, 0));
  EXPECT_EQ(iy.dtype(), kInt64);
}

TEST(Addc, DerivativesMatchFiniteDifferencesInBothModesToSecondOrder) {
  TensorList x = {randn({3, 4}, kFloat64), randn({3, 4}, kFloat64), randn({4}, kFloat64) + 3.0};
  check_fd_derivatives([](const TensorList& in) { return (in[0] * 1.0).addcmul_(in[1], in[2], 0.5); }, x, 1);
  check_fd_derivatives([](const TensorList& in) { return (in[0] * 1.0).addcdiv_(in[1], in[2], -2); }, x, 2);
  check_fd_derivatives([](const TensorList& in) { return addcdiv(in[0], in[1], in[2]); }, x, 3);
  // Through a view: the write rebases the base's history.
  check_fd_derivatives(
      [](const TensorList& in) {
        Tensor base = in[0] * 1.0;
        base.select(0, 1).addcmul_(in[1].select(0, 0), in[2]);
        return base;
      },
      x, 4);
}

}  // namespace
}  // namespace dydx::testing
