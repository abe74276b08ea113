// derivative_diagonal, hessian_diagonal, weighted_laplacian and biharmonic (Taylor coefficients)
// against nested-AD references on MLPs, on a function with a known biharmonic, in both dtypes, with
// chunks, through reverse mode; the stochastic estimators' means against the exact values within a
// statistical bound; bad input.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "test_util.hpp"
#include "transforms/rows.hpp"

#include <cmath>
#include <functional>
#include <tuple>
#include <limits>
#include <string>

namespace dydx {
namespace {

// A row-wise MLP d -> 12 -> 12 -> 2 with smooth activations.
struct Mlp {
  Tensor w1, b1, w2, b2, w3;
  Mlp(int64_t d, ScalarType dtype = kFloat64)
      : w1(randn({12, d}, kFloat64).to(dtype) * 0.6),
        b1(randn({12}, kFloat64).to(dtype) * 0.2),
        w2(randn({12, 12}, kFloat64).to(dtype) * 0.3),
        b2(randn({12}, kFloat64).to(dtype) * 0.2),
        w3(randn({2, 12}, kFloat64).to(dtype) * 0.4) {}
  Tensor operator()(const Tensor& x) const {
    return linear(sin(linear(tanh(linear(x, w1, b1)), w2, b2)) * 1.5, w3);
  }
};

// The Hessian of each output, [B, out, d, d], by nested reverse mode.
Tensor hessians(const func::UnaryFunction& f, const Tensor& x) { return func::batch_hessian(f, x); }

TEST(DerivativeDiagonal, OrderTwoIsTheHessianDiagonal) {
  manual_seed(0);
  const Mlp f(4);
  const Tensor x = randn({5, 4}, kFloat64);
  EXPECT_TRUE(allclose(func::hessian_diagonal(f, x), func::batch_hessian_diagonal(f, x), 1e-10, 1e-10));
}

TEST(DerivativeDiagonal, HigherOrdersMatchNestedForwardMode) {
  manual_seed(1);
  const Mlp f(3);
  const Tensor x = randn({4, 3}, kFloat64);
  for (int64_t order : {1, 3, 4}) {
    const Tensor got = func::derivative_diagonal(f, x, order);  // [B, 2, 3]
    for (int64_t i = 0; i < 3; ++i) {
      const Tensor axis = eye(3, kFloat64)[i].expand(x.sizes());
      func::Function d = [&](const TensorList& t) { return TensorList{f(x + axis * t[0])}; };
      for (int64_t k = 0; k < order; ++k) d = func::jacfwd(d, {0});
      const Tensor want = d({zeros({}, kFloat64)})[0];  // [B, 2]
      EXPECT_TRUE(allclose(got.select(2, i), want, 1e-9, 1e-9)) << "order " << order << " axis " << i;
    }
  }
}

TEST(WeightedLaplacian, MatchesTheTraceOfSigmaSigmaTransposedTimesTheHessian) {
  manual_seed(2);
  const Mlp f(4);
  const Tensor x = randn({6, 4}, kFloat64);
  const Tensor h = hessians(f, x);
  for (const Tensor& sigma : {randn({4, 4}, kFloat64), randn({4, 2}, kFloat64), randn({4, 1}, kFloat64)}) {
    const Tensor want = einsum("bjik,ik->bj", {h, matmul(sigma, sigma.t())});
    EXPECT_TRUE(allclose(func::weighted_laplacian(f, x, sigma), want, 1e-9, 1e-9)) << sigma.sizes();
  }
  // A diagonal sigma, and the identity (the Laplacian).
  const Tensor s = randn({4}, kFloat64);
  EXPECT_TRUE(allclose(func::weighted_laplacian(f, x, s), einsum("bjik,ik->bj", {h, eye(4, kFloat64) * (s * s).unsqueeze(0)}), 1e-9, 1e-9));
  EXPECT_TRUE(allclose(func::weighted_laplacian(f, x, ones({4}, kFloat64)), func::laplacian(f, x), 1e-9, 1e-9));
}

// Delta^2 |x|^4 = 8 d (d + 2) in d dimensions.
TEST(Biharmonic, OfTheFourthPowerOfTheNormIsKnown) {
  for (int64_t d : {1, 2, 3, 5, 7}) {
    const Tensor x = randn({3, d}, kFloat64);
    const func::UnaryFunction f = [](const Tensor& z) { return (z * z).sum({1}, true).pow(2); };
    const Tensor got = func::biharmonic(f, x);
    EXPECT_TRUE(allclose(got, full({3, 1}, 8.0 * d * (d + 2), kFloat64), 1e-9, 1e-9)) << "d = " << d << "\n" << got;
  }
}

TEST(Biharmonic, MatchesTheLaplacianOfTheLaplacianOnMlps) {
  manual_seed(3);
  for (int64_t d : {2, 5}) {
    const Mlp f(d);
    const Tensor x = randn({4, d}, kFloat64);
    const func::UnaryFunction lap = [&f](const Tensor& z) { return func::laplacian(f, z); };
    const Tensor want = einsum("bjii->bj", {hessians(lap, x)});
    EXPECT_TRUE(allclose(func::biharmonic(f, x), want, 1e-8, 1e-8)) << "d = " << d;
  }
}

TEST(Biharmonic, Float32AgreesWithFloat64AndChunksAgreeWithTheWholeBatch) {
  manual_seed(4);
  const Mlp f64(3);
  Mlp f32 = f64;
  for (Tensor* p : {&f32.w1, &f32.b1, &f32.w2, &f32.b2, &f32.w3}) *p = p->to(kFloat32);
  const Tensor x = randn({7, 3}, kFloat64);
  const Tensor want = func::biharmonic(f64, x);
  const Tensor got = func::biharmonic(f32, x.to(kFloat32));
  EXPECT_EQ(got.dtype(), kFloat32);
  EXPECT_TRUE(allclose(got.to(kFloat64), want, 1e-3, 1e-3)) << got << "\n" << want;
  EXPECT_TRUE(allclose(func::biharmonic(f64, x, {.chunk_size = 3}), want, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(func::weighted_laplacian(f64, x, eye(3, kFloat64), {.chunk_size = 2}), func::laplacian(f64, x),
                       1e-10, 1e-10));
}

// A physics-informed loss on the biharmonic trains: its gradient w.r.t. a weight matches central
// differences.
TEST(Biharmonic, IsDifferentiableWithRespectToParameters) {
  manual_seed(5);
  Mlp f(2);
  const Tensor x = randn({5, 2}, kFloat64);
  auto loss = [&](const Tensor& w3) {
    Mlp g = f;
    g.w3 = w3;
    return func::biharmonic(g, x).pow(2).sum();
  };
  const Tensor w3 = f.w3.detach().clone().requires_grad_(true);
  const Tensor g = dydx::grad({loss(w3)}, {w3})[0];
  const double h = 1e-6;
  for (int64_t i = 0; i < 3; ++i) {
    const Tensor e = eye(f.w3.numel(), kFloat64)[i].view(f.w3.sizes());
    const double fd = (loss(f.w3 + e * h).item<double>() - loss(f.w3 - e * h).item<double>()) / (2 * h);
    EXPECT_NEAR(g.reshape({-1})[i].item<double>(), fd, 1e-5 * std::max(1.0, std::abs(fd))) << i;
  }
}

// Mean and standard error over n single-sample estimates (seeds 1..n).
struct Sampled {
  Tensor mean, stderr_;
};
template <class Estimate1>
Sampled sample(Estimate1 estimate_with_seed, int64_t n) {
  TensorList draws;
  for (int64_t s = 1; s <= n; ++s) draws.push_back(estimate_with_seed(static_cast<uint64_t>(s)));
  const Tensor all = stack(draws);
  return {all.mean({0}), all.std({0}) / std::sqrt(static_cast<double>(n))};
}

TEST(StochasticEstimates, AreUnbiasedWithinFiveStandardErrorsAndSeeded) {
  manual_seed(6);
  const Mlp f(4);
  const Tensor x = randn({3, 4}, kFloat64), sigma = randn({4, 3}, kFloat64);
  const Tensor exact_lap = func::weighted_laplacian(f, x, sigma);
  const Sampled lap = sample([&](uint64_t s) { return func::weighted_laplacian(f, x, sigma, {}, {.samples = 1, .seed = s}); }, 400);
  EXPECT_TRUE(((lap.mean - exact_lap).abs() <= lap.stderr_ * 5 + 1e-12).all().item<bool>())
      << lap.mean << "\n" << exact_lap << "\n" << lap.stderr_;
  const Tensor exact_bih = func::biharmonic(f, x);
  const Sampled bih = sample([&](uint64_t s) { return func::biharmonic(f, x, {}, {.samples = 1, .seed = s}); }, 2000);
  EXPECT_TRUE(((bih.mean - exact_bih).abs() <= bih.stderr_ * 5 + 1e-12).all().item<bool>())
      << bih.mean << "\n" << exact_bih << "\n" << bih.stderr_;
  // The variance per sample, reported for BENCHMARKS.md's discussion of estimators.
  RecordProperty("laplacian_stderr_400", std::to_string(lap.stderr_.max().item<double>()));
  RecordProperty("biharmonic_stderr_2000", std::to_string(bih.stderr_.max().item<double>()));
  // Many samples in one call is the mean of their estimates; the same seed gives the same estimate.
  const Tensor many = func::biharmonic(f, x, {}, {.samples = 64, .seed = 9});
  EXPECT_TRUE(equal(many, func::biharmonic(f, x, {}, {.samples = 64, .seed = 9})));
  EXPECT_FALSE(equal(many, func::biharmonic(f, x, {}, {.samples = 64, .seed = 10})));
}

// d^|alpha| f(x)[j] / dx^alpha of one row's function by |alpha| nested jacfwd, read off the full
// derivative tensor: the reference for linear_operator.
double mixed_partial(const func::UnaryFunction& row_f, const Tensor& row, const std::vector<int64_t>& alpha, int64_t out) {
  func::Function d = [row_f](const TensorList& in) { return TensorList{row_f(in[0])}; };
  int64_t order = 0;
  for (int64_t a : alpha) order += a;
  for (int64_t k = 0; k < order; ++k) d = func::jacfwd(d, {0});
  Tensor t = d({row})[0][out];  // [d] * order
  for (size_t i = 0; i < alpha.size(); ++i)
    for (int64_t a = 0; a < alpha[i]; ++a) t = t.select(0, static_cast<int64_t>(i));
  return t.item<double>();
}

TEST(LinearOperator, MatchesNestedForwardModeMixedPartials) {
  manual_seed(7);
  const Mlp f(3);
  const Tensor x = randn({3, 3}, kFloat64);
  const std::vector<func::PartialTerm> terms = {
      {2.0, {0, 0, 0}},  {-1.5, {1, 0, 0}}, {0.5, {0, 0, 1}},  {3.0, {2, 0, 0}}, {-2.0, {1, 1, 0}},
      {0.7, {0, 1, 1}},  {1.1, {2, 1, 0}},  {-0.4, {1, 1, 1}}, {0.3, {0, 0, 3}}, {0.25, {2, 0, 2}},
      {-0.6, {1, 2, 1}}, {0.2, {0, 4, 0}}};
  const Tensor got = func::linear_operator(f, x, terms);  // [3, 2]
  ASSERT_EQ(got.sizes(), IntArrayRef({3, 2}));
  const func::UnaryFunction row_f = [&f](const Tensor& r) { return f(r.unsqueeze(0)).squeeze(0); };
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t j = 0; j < 2; ++j) {
      double want = 0;
      for (const auto& term : terms)
        want += term.coefficient *
                (term.alpha == std::vector<int64_t>{0, 0, 0} ? row_f(x[b])[j].item<double>()
                                                             : mixed_partial(row_f, x[b], term.alpha, j));
      EXPECT_NEAR(got[b][j].item<double>(), want, 1e-8 * std::max(1.0, std::abs(want))) << b << " " << j;
    }
  // The Laplacian and the biharmonic written as terms.
  EXPECT_TRUE(allclose(func::linear_operator(f, x, {{1, {2, 0, 0}}, {1, {0, 2, 0}}, {1, {0, 0, 2}}}),
                       func::laplacian(f, x), 1e-10, 1e-10));
  std::vector<func::PartialTerm> bih;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 3; ++k) {
      std::vector<int64_t> alpha(3, 0);
      alpha[i] += 2;
      alpha[k] += 2;
      bih.push_back({1.0, alpha});
    }
  EXPECT_TRUE(allclose(func::linear_operator(f, x, bih), func::biharmonic(f, x), 1e-8, 1e-8));
}

using testing::error_of;

// func::biharmonic runs f once at a biharmonic level; where an op of f has no rule there (softmax,
// atan2 of two moving inputs) it runs the nested forward Laplacians instead, with the same result,
// and an exception of f's own is never taken for that.
TEST(Biharmonic, FallsBackToNestedLaplaciansForOpsWithoutARule) {
  manual_seed(6);
  const Mlp f(3);
  const Tensor x = randn({4, 3}, kFloat64);
  int calls = 0;
  const func::UnaryFunction g = [&](const Tensor& z) {
    ++calls;
    const Tensor y = f(z);
    return softmax(y, 1) + atan2(y, tanh(z).sum({1}, true) + 2.0);
  };
  const func::UnaryFunction lap = [&g](const Tensor& z) { return func::laplacian(g, z); };
  const Tensor want = func::laplacian(lap, x);
  calls = 0;
  EXPECT_TRUE(allclose(func::biharmonic(g, x), want, 1e-10, 1e-10));
  EXPECT_EQ(calls, 2);  // the one pass that raised, then the nested levels' one pass
  calls = 0;
  EXPECT_TRUE(allclose(func::biharmonic(f, x), einsum("bjii->bj", {hessians([&f](const Tensor& z) { return func::laplacian(f, z); }, x)}), 1e-9, 1e-9));
  const func::UnaryFunction throws = [&](const Tensor& z) -> Tensor {
    ++calls;
    throw Error("f: my own error");
  };
  calls = 0;
  EXPECT_NE(error_of([&] { func::biharmonic(throws, x); }).find("my own error"), std::string::npos);
  EXPECT_EQ(calls, 1);
}

// Stacks that repeat one row (the seed, a first layer's product) reach every kind of step at once:
// elementwise ops on x itself (rows too short to read in place), products and quotients of two
// moving inputs, a product with a weight, and a bias; against the nested forward Laplacians.
TEST(Biharmonic, OnePassOverWholeBatchesMatchesNestedLaplacians) {
  manual_seed(8);
  const Tensor w = randn({16, 3}, kFloat64) * 0.5, b = randn({16}, kFloat64) * 0.3, v = randn({2, 16}, kFloat64) * 0.4;
  const std::vector<std::pair<const char*, func::UnaryFunction>> functions = {
      {"elementwise on x", [](const Tensor& z) { return (exp(z * 0.3) * sin(z)).sum({1}, true) / (1.0 + (z * z).sum({1}, true)); }},
      {"layer, then products", [&](const Tensor& z) {
         const Tensor h = tanh(linear(z, w, b));
         return linear(h * sigmoid(h) / (2.0 + cos(h)), v) * z.select(1, 0).unsqueeze(1);
       }},
      {"pow and relu", [&](const Tensor& z) { return linear(relu(linear(z, w, b)).pow(3.0) + linear(z, w).pow(2.0), v); }},
  };
  const Tensor x = randn({6, 3}, kFloat64);
  for (const auto& named : functions) {  // not a structured binding: clang 14 cannot capture one
    const func::UnaryFunction& f = named.second;
    const func::UnaryFunction lap = [&f](const Tensor& z) { return func::laplacian(f, z); };
    const Tensor want = func::laplacian(lap, x);
    EXPECT_TRUE(allclose(func::detail::biharmonic_in_one_pass(f, x), want, 1e-9, 1e-9)) << named.first;
  }
}

// The first layer's stack repeats one row across the batch: the one-pass step reads rows of 64 elements
// and more in place and copies shorter ones dense (laplacian_detail::reads_well), in blocks of 128.
TEST(Biharmonic, FirstLayersOfEveryWidthMatchNestedLaplacians) {
  manual_seed(9);
  for (int64_t width : {63, 64, 80, 300}) {
    const Tensor w1 = randn({width, 3}, kFloat64) * 0.5, b1 = randn({width}, kFloat64) * 0.3;
    const Tensor w2 = randn({2, width}, kFloat64) * (1.0 / std::sqrt(double(width)));
    const func::UnaryFunction f = [&](const Tensor& z) { return linear(tanh(linear(z, w1, b1)), w2); };
    const func::UnaryFunction lap = [&f](const Tensor& z) { return func::laplacian(f, z); };
    const Tensor x = randn({5, 3}, kFloat64);
    EXPECT_TRUE(allclose(func::detail::biharmonic_in_one_pass(f, x), func::laplacian(lap, x), 1e-9, 1e-9))
        << "width " << width;
  }
}

// A quotient by a denominator of 1e-8 in float32: its stack divides by b, never by b^5 (which is
// inf in float32 there, and inf * 0 where b does not move), so the biharmonic stays finite.
TEST(Biharmonic, QuotientsByTinyDenominatorsStayFinite) {
  const func::UnaryFunction f = [](const Tensor& z) {
    const Tensor x0 = z.select(1, 0).unsqueeze(1), x1 = z.select(1, 1).unsqueeze(1);
    return x0 / (x1 * x1 * 1e-3 + 1e-8);
  };
  const Tensor x = tensor({{0.5, 0.0}, {1.0, 0.0}}, kFloat32);
  const Tensor got = func::detail::biharmonic_in_one_pass(f, x);
  // d^4/dx1^4 of x0 / (c x1^2 + e) at x1 = 0 is 24 c^2 x0 / e^3.
  const Tensor want = tensor({{24 * 1e-6 * 0.5 / 1e-24}, {24 * 1e-6 * 1.0 / 1e-24}}, kFloat64);
  EXPECT_TRUE(allclose(got.to(kFloat64), want, 1e-5, 0)) << got;
}

// With chunk_size 0 the stacking operators take equal slices of at most 4096 / S rows (S tangents
// per row): the same numbers as the whole batch at once, here 70 rows a slice at d = 50, 140 at d = 5.
TEST(TaylorOperators, DefaultSlicesOfLargeBatchesGiveTheWholeBatchsResult) {
  manual_seed(9);
  const Tensor w = randn({8, 50}, kFloat64) * 0.2, v = randn({1, 8}, kFloat64);
  const func::UnaryFunction f = [&](const Tensor& z) { return linear(tanh(linear(z, w)), v); };
  const Tensor x = randn({350, 50}, kFloat64);
  EXPECT_TRUE(allclose(func::laplacian(f, x), func::laplacian(f, x, {.chunk_size = 350}), 1e-12, 1e-12));
  EXPECT_TRUE(allclose(func::weighted_laplacian(f, x, ones({50}, kFloat64)), func::laplacian(f, x, {.chunk_size = 350}), 1e-12, 1e-12));
  const Tensor w5 = randn({8, 5}, kFloat64) * 0.5;
  const func::UnaryFunction g = [&](const Tensor& z) { return linear(tanh(linear(z, w5)), v); };
  const Tensor x5 = randn({700, 5}, kFloat64);
  EXPECT_TRUE(allclose(func::biharmonic(g, x5), func::biharmonic(g, x5, {.chunk_size = 700}), 1e-12, 1e-12));
  EXPECT_NE(testing::error_of([&] { func::biharmonic(g, tensor(1.0, kFloat64)); }).find("batch dim"), std::string::npos);
}

// Default slices are the operators' own choice, so they change nothing an f can see: an f that
// squeezes its output (rows of [1] at one row) still runs, on the whole batch, where the probe of
// one row fails; an f that writes into its input in place gives what one call on the whole batch
// gives (the probe and the biharmonic's one-pass attempt, which may be dropped, run on copies).
TEST(TaylorOperators, DefaultSlicesChangeNothingFCanSee) {
  manual_seed(11);
  const Tensor w = randn({6, 3}, kFloat64) * 0.5, v = randn({1, 6}, kFloat64);
  const func::UnaryFunction squeezed = [&](const Tensor& z) { return linear(tanh(linear(z, w)), v).squeeze(); };
  const func::UnaryFunction in_place = [&](const Tensor& z) {
    z.select(1, 0).mul_(0.5);
    return linear(tanh(linear(z, w)), v);
  };
  const Tensor x = randn({3000, 3}, kFloat64);  // past 4096 / 4 rows: the Laplacian slices by default
  for (const func::UnaryFunction& f : {squeezed, in_place}) {
    const Tensor whole = func::laplacian(f, x.clone(), {.chunk_size = 3000});
    EXPECT_TRUE(allclose(func::laplacian(f, x.clone()), whole, 1e-12, 1e-12));
    const Tensor whole_bih = func::biharmonic(f, x.clone(), {.chunk_size = 3000});
    EXPECT_TRUE(allclose(func::biharmonic(f, x.clone()), whole_bih, 1e-12, 1e-12));
  }
  // Without a biharmonic rule (softmax) the nested Laplacians run after the one-pass attempt.
  const func::UnaryFunction in_place_softmax = [&](const Tensor& z) {
    z.select(1, 0).mul_(0.5);
    return linear(softmax(linear(z, w), 1), v);
  };
  const Tensor small = randn({4, 3}, kFloat64);
  const func::UnaryFunction lap = [&](const Tensor& z) { return func::laplacian(in_place_softmax, z); };
  EXPECT_TRUE(allclose(func::biharmonic(in_place_softmax, small.clone()), func::laplacian(lap, small.clone()), 1e-10, 1e-12));
  // A caller who asks for slices gets the check of rows standing alone.
  EXPECT_NE(testing::error_of([&] { func::laplacian(squeezed, x, {.chunk_size = 1000}); }).find("batch dim"),
            std::string::npos);
}

// Rows stay apart in the stacking operators' fast paths (repeated seeds, shared first-layer products,
// default slices): a NaN or inf in one row of x touches that row's result only, and an x whose rows
// are one row expanded (stride 0) gives what its dense copy gives.
TEST(TaylorOperators, BadRowsStayInTheirRowsAndExpandedInputsReadAsDense) {
  manual_seed(10);
  const Mlp f(3);
  Tensor x = randn({200, 3}, kFloat64);
  const Tensor sigma = randn({3, 2}, kFloat64);
  const Tensor clean_lap = func::laplacian(f, x), clean_bih = func::biharmonic(f, x);
  const Tensor clean_weighted = func::weighted_laplacian(f, x, sigma);
  x.index_put_({1, 2}, tensor(std::numeric_limits<double>::quiet_NaN(), kFloat64));
  x.index_put_({150, 0}, tensor(std::numeric_limits<double>::infinity(), kFloat64));
  for (const auto& [name, got, clean] :
       {std::tuple{"laplacian", func::laplacian(f, x), clean_lap}, std::tuple{"biharmonic", func::biharmonic(f, x), clean_bih},
        std::tuple{"weighted_laplacian", func::weighted_laplacian(f, x, sigma), clean_weighted}}) {
    // Row 150 saturates every tanh (its derivatives vanish, so may its result); only row 1 is NaN.
    const Tensor bad = got.isnan().any(1);
    EXPECT_TRUE(bad[1].item<bool>()) << name;
    EXPECT_EQ(bad.sum().item<int64_t>() - bad[150].item<int64_t>(), 1) << name;
    const Tensor keep = ones({200}, kBool).index_put_({1}, tensor(false)).index_put_({150}, tensor(false));
    EXPECT_TRUE(allclose(got.index({keep}), clean.index({keep}), 1e-12, 1e-12)) << name;
  }
  const Tensor row = randn({1, 3}, kFloat64), expanded = row.expand({50, 3});
  EXPECT_TRUE(equal(func::laplacian(f, expanded), func::laplacian(f, expanded.contiguous())));
  EXPECT_TRUE(equal(func::biharmonic(f, expanded), func::biharmonic(f, expanded.contiguous())));
}

// Under an outer forward level (jvp with respect to a weight) the biharmonic level's steps carry the
// outer tangents: d/ds biharmonic(f with w1 + s v) matches central differences.
TEST(Biharmonic, NestsUnderAnOuterForwardLevel) {
  manual_seed(7);
  const Mlp f(2);
  const Tensor x = randn({3, 2}, kFloat64), v = randn(f.w1.sizes(), kFloat64);
  auto at = [&](const Tensor& w1) {
    Mlp g = f;
    g.w1 = w1;
    return func::biharmonic(g, x);
  };
  const auto [value, tangent] = func::jvp([&](const TensorList& w) { return TensorList{at(w[0])}; }, {f.w1}, {v});
  const double h = 1e-5;
  const Tensor fd = (at(f.w1 + v * h) - at(f.w1 - v * h)) / (2 * h);
  EXPECT_TRUE(allclose(value[0], at(f.w1), 1e-12, 1e-12));
  EXPECT_TRUE(allclose(tangent[0], fd, 1e-5, 1e-6)) << tangent[0] << "\n" << fd;
}


// No rows, and rows of no elements: every operator gives the empty or zero result of the right shape.
// The second f's products of tangents are summed over no directions, whose result was left unwritten
// (it read 3 3 3 3, what the allocator had last held); memory is dirtied before each call to show it.
TEST(TaylorOperators, EmptyBatchesAndEmptyRows) {
  const func::UnaryFunction tanh_sum = [](const Tensor& z) { return tanh(z).sum({1}, true) * 2.0; };
  const func::UnaryFunction squares = [](const Tensor& z) {
    const Tensor s = z.sum({1}, true) + 1.5;
    return s.pow(2.0) + s * s;
  };
  for (const func::UnaryFunction& f : {tanh_sum, squares})
    for (const Dims& shape : {Dims{0, 3}, Dims{4, 0}}) {
      const Tensor x = randn(shape, kFloat64);
      const int64_t d = shape[1];
      const Dims per_element = {shape[0], 1, d}, per_row = {shape[0], 1};
      EXPECT_EQ(func::hessian_diagonal(f, x).sizes(), IntArrayRef(per_element));
      EXPECT_EQ(func::derivative_diagonal(f, x, 3).sizes(), IntArrayRef(per_element));
      const std::function<Tensor()> operators[] = {
          [&] { return func::laplacian(f, x); },
          [&] { return func::laplacian(f, x, {.chunk_size = 3}); },
          [&] { return func::weighted_laplacian(f, x, ones({d, 2}, kFloat64)); },
          [&] { return func::weighted_laplacian(f, x, ones({d}, kFloat64), {}, {.samples = 3}); },
          [&] { return func::biharmonic(f, x); },
          [&] { return func::biharmonic(f, x, {}, {.samples = 3}); },
          [&] { return func::linear_operator(f, x, {}); }};
      for (const auto& run : operators) {
        for (int i = 0; i < 4; ++i) full({64}, 3.0, kFloat64).add_(1.0);
        const Tensor result = run();
        EXPECT_EQ(result.sizes(), IntArrayRef(per_row));
        if (result.numel() > 0) EXPECT_FALSE(result.ne(0).any().item<bool>()) << result;
      }
    }
}

TEST(TaylorOperators, BadInputRaisesClearErrors) {
  const Mlp f(3);
  const Tensor x = randn({2, 3}, kFloat64);
  EXPECT_NE(error_of([&] { func::weighted_laplacian(f, x, randn({4, 2}, kFloat64)); })
                .find("weighted_laplacian: sigma must have shape [d, r] or [d] with d = 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::weighted_laplacian(f, x, randn({3, 2}, kFloat32)); }).find("dtype"), std::string::npos);
  EXPECT_NE(error_of([&] { func::derivative_diagonal(f, x, 0); }).find("order >= 1"), std::string::npos);
  EXPECT_NE(error_of([&] { func::linear_operator(f, x, {{1.0, {1, 0}}}); }).find("a multi-index of 2 entries"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::linear_operator(f, x, {{1.0, {1, -1, 0}}}); }).find("negative order"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::biharmonic(f, x, {}, {.samples = -1}); }).find("samples >= 0"), std::string::npos);
  EXPECT_NE(error_of([&] { func::biharmonic([](const Tensor& z) { return z.sum(); }, x); }).find("batch dim"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::biharmonic(f, x, {.chunk_size = -1}); }).find("chunk_size"), std::string::npos);
  const func::UnaryFunction mixes = [](const Tensor& z) { return z * z.sum(); };
  EXPECT_NE(error_of([&] { func::biharmonic(mixes, x, {.check_independence = true}); }).find("depends on other rows"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap([&](const Tensor& z) { return func::biharmonic(f, z); })(randn({2, 2, 3}, kFloat64)); })
                .find("not supported inside vmap"),
            std::string::npos);
}

// Rows coupled only at second order (f_b = sum x_b + |mean over rows of x|^2, at a batch whose column means are 0:
// every cross-row first derivative vanishes there) pass a first-order probe; the finite step of some rows catches
// them. Row-wise f with a nan or an infinity in a row passes: that row's own values, on both sides of the check.
TEST(TaylorOperators, TheIndependenceCheckCatchesSecondOrderCouplingAndKeepsNonFiniteRows) {
  const func::UnaryFunction coupled = [](const Tensor& z) {
    return z.sum({1}, true) + z.mean({0}, true).pow(2).sum({1}, true).expand({z.size(0), 1});
  };
  const Tensor x = tensor(std::vector<double>{1, -2, 0.5, 3, -1.5, -1}, kFloat64).reshape({3, 2});
  const func::BatchOptions check{.check_independence = true};
  for (const auto& [name, run] : std::vector<std::pair<std::string, std::function<Tensor()>>>{
           {"laplacian", [&] { return func::laplacian(coupled, x, check); }},
           {"hessian_diagonal", [&] { return func::hessian_diagonal(coupled, x, check); }},
           {"linear_operator", [&] { return func::linear_operator(coupled, x, {{1.0, {2, 0}}}, check); }},
           {"batch_hessian", [&] { return func::batch_hessian(coupled, x, check); }}})
    EXPECT_NE(error_of(run).find(name + ": row"), std::string::npos) << name << ": " << error_of(run);
  const func::UnaryFunction row_wise = [](const Tensor& z) { return (z * z).sum({1}, true); };
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    Tensor y = x.clone();
    y.select(0, 1).select(0, 0).fill_(bad);
    const Tensor lap = func::laplacian(row_wise, y, check);
    EXPECT_EQ(lap.index({0, 0}).item<double>(), 4.0);
    EXPECT_EQ(lap.index({2, 0}).item<double>(), 4.0);
    EXPECT_NO_THROW(func::batch_jacobian(row_wise, y, check)) << bad;
  }
}

// linear_operator calls f once per order of its terms: an f whose result changes shape between the calls is an
// error (the parts would broadcast into a silently wrong sum).
TEST(TaylorOperators, LinearOperatorRefusesAnFThatChangesShape) {
  int calls = 0;
  const func::UnaryFunction changes = [&](const Tensor& z) {
    return ++calls == 1 ? (z * z).sum({1}, true) : (z * z).sum({1}, true).expand({z.size(0), 2});
  };
  const Tensor x = randn({2, 2}, kFloat64);
  EXPECT_NE(error_of([&] { func::linear_operator(changes, x, {{1.0, {0, 0}}, {1.0, {2, 0}}}); })
                .find("linear_operator: f gave a result of shape [2,1] for one order of derivatives and [2,2]"),
            std::string::npos);
}

// Large batches go through derivative_diagonal, hessian_diagonal and linear_operator in slices by default, as
// through laplacian (at 10^5 rows of an MLP 5 -> 64 -> 64 -> 1, the whole batch took 1.9-5.3 GB): f never sees more
// rows than a slice, and the result equals the whole batch's.
TEST(TaylorOperators, LargeBatchesAreSlicedByDefault) {
  const Mlp f(5);
  const Tensor x = randn({3000, 5}, kFloat64);
  int64_t widest = 0;
  const func::UnaryFunction seen = [&](const Tensor& z) {
    widest = std::max(widest, z.size(0));
    return f(z);
  };
  const std::vector<func::PartialTerm> terms{{1.0, {2, 2, 0, 0, 0}}, {0.5, {0, 0, 1, 1, 1}}};
  for (const auto& [name, run] : std::vector<std::pair<std::string, std::function<Tensor(func::BatchOptions)>>>{
           {"hessian_diagonal", [&](func::BatchOptions o) { return func::hessian_diagonal(seen, x, o); }},
           {"derivative_diagonal", [&](func::BatchOptions o) { return func::derivative_diagonal(seen, x, 3, o); }},
           {"linear_operator", [&](func::BatchOptions o) { return func::linear_operator(seen, x, terms, o); }}}) {
    widest = 0;
    const Tensor sliced = run({});
    EXPECT_LT(widest, x.size(0)) << name;
    EXPECT_GT(widest, 2) << name;
    const Tensor whole = run({.chunk_size = x.size(0)});
    EXPECT_TRUE(allclose(sliced, whole, 1e-12, 1e-12)) << name;
  }
  EXPECT_NE(error_of([&] { func::hessian_diagonal(f, x, {.chunk_size = -1}); }).find("hessian_diagonal"),
            std::string::npos);
}

}  // namespace
}  // namespace dydx
