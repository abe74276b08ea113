// Activations and the other elementwise functions with attributes (softplus's beta and threshold,
// elu's alpha, leaky_relu's slope, gelu's approximation, clamp's bounds), and the in-place unary
// methods, against PyTorch 1.13. The op table checks their derivatives; these check what it cannot:
// the attributes themselves, dtypes, errors and in-place semantics.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace dydx;
using dydx::testing::HasValues;

namespace {

const double kNan = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Tensor sample() { return tensor({-3.0, -0.5, 0.25, 2.0, 12.0}, kFloat64).requires_grad_(); }

Tensor grad_of(const Tensor& y, const Tensor& x) { return grad({y.sum()}, {x})[0]; }

std::string node_name(const Tensor& t) { return t.grad_fn() ? t.grad_fn()->name() : "(none)"; }

// ---- attributes ---------------------------------------------------------------------------------

// Values and gradients from PyTorch 1.13 at the same points, in float64.
TEST(Activations, AttributesReachTheValueAndTheGradient) {
  Tensor x = sample();
  Tensor y = softplus(x, 2.0, 5.0);  // 12 * 2 > 5: x itself, gradient 1
  EXPECT_TRUE(HasValues(y, {0.0012378425688652247, 0.15663084375911143, 0.48703849209005334, 2.0090749639589047, 12.0}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {0.0024726231566347748, 0.2689414213699951, 0.6224593312018546, 0.9820137900379085, 1.0}, 1e-14));
  y = elu(x, 0.5);
  EXPECT_TRUE(HasValues(y, {-0.475106465816068, -0.1967346701436833, 0.25, 2.0, 12.0}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {0.024893534183931972, 0.3032653298563167, 1.0, 1.0, 1.0}, 1e-14));
  y = leaky_relu(x, 0.2);
  EXPECT_TRUE(HasValues(y, {-0.6000000000000001, -0.1, 0.25, 2.0, 12.0}, 1e-15));
  EXPECT_TRUE(HasValues(grad_of(y, x), {0.2, 0.2, 1.0, 1.0, 1.0}, 1e-15));
  y = gelu(x, "tanh");
  EXPECT_TRUE(HasValues(y, {-0.0036373920817729943, -0.15428599017485606, 0.149675350701685, 1.954597694087775, 12.0}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {-0.011584166630969648, 0.13263009646535764, 0.6953540951510604, 1.0860992566236183, 1.0}, 1e-14));
  y = gelu(x);
  EXPECT_TRUE(HasValues(y, {-0.00404969409489031, -0.15426876936299344, 0.14967658142073093, 1.9544997361036416, 12.0}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {-0.01194564720418392, 0.13250487534383712, 0.695373354883636, 1.085231801078197, 1.0}, 1e-14));
  y = silu(x);
  EXPECT_TRUE(HasValues(y, {-0.14227761953270035, -0.1887703343990727, 0.14054412522144952, 1.7615941559557646, 11.999926269904773}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {-0.08810410601516962, 0.2600388126973482, 0.6237100215701977, 1.0907842487848955, 1.0000675854676138}, 1e-14));
}

// Each node keeps its own attributes: two softplus nodes with different betas in one graph.
TEST(Activations, EachNodeKeepsItsOwnAttributes) {
  Tensor x = tensor({0.5}, kFloat64).requires_grad_();
  Tensor y = softplus(x, 1.0) + softplus(x, 4.0) + leaky_relu(-x, 0.3) + elu(-x, 2.0);
  const double expected = 1 / (1 + std::exp(-0.5)) + 1 / (1 + std::exp(-2.0)) - 0.3 - 2.0 * std::exp(-0.5);
  EXPECT_TRUE(HasValues(grad_of(y, x), {expected}, 1e-14));
}

TEST(Activations, GradFnNamesAreTorchs) {
  Tensor x = sample();
  EXPECT_EQ(node_name(log1p(x)), "Log1PBackward0");
  EXPECT_EQ(node_name(expm1(x)), "Expm1Backward0");
  EXPECT_EQ(node_name(erf(x)), "ErfBackward0");
  EXPECT_EQ(node_name(silu(x)), "SiluBackward0");
  EXPECT_EQ(node_name(softplus(x)), "SoftplusBackward0");
  EXPECT_EQ(node_name(gelu(x, "tanh")), "GeluBackward0");
  EXPECT_EQ(node_name(elu(x)), "EluBackward0");
  EXPECT_EQ(node_name(leaky_relu(x)), "LeakyReluBackward0");
  EXPECT_EQ(node_name(clamp(x, 0, 1)), "ClampBackward1");
  EXPECT_EQ(node_name(clip(x, std::nullopt, 1)), "ClampBackward1");
  EXPECT_EQ(node_name(x.log1p()), "Log1PBackward0");
  EXPECT_EQ(node_name(x.clamp(0.5)), "ClampBackward1");
}

TEST(Activations, BadArgumentsNameTheOp) {
  EXPECT_DYDX_ERROR(gelu(ones({2}), "exact"), "gelu", "none or tanh", "exact");
  EXPECT_DYDX_ERROR(clamp(ones({2}), std::nullopt, std::nullopt), "clamp", "min", "max");
  Tensor i = ones({2}, kInt64);
  EXPECT_DYDX_ERROR(silu(i), "silu", "int64");
  EXPECT_DYDX_ERROR(softplus(i), "softplus", "int64");
  EXPECT_DYDX_ERROR(gelu(i), "gelu", "int64");
  EXPECT_DYDX_ERROR(elu(i), "elu", "int64");
  EXPECT_DYDX_ERROR(leaky_relu(i), "leaky_relu", "int64");
}

TEST(Activations, IntegersPromoteToTheDefaultFloatDtype) {
  Tensor i = tensor({1.0, 2.0}).to(kInt64);
  EXPECT_EQ(log1p(i).dtype(), kFloat32);
  EXPECT_EQ(expm1(i).dtype(), kFloat32);
  EXPECT_EQ(erf(i).dtype(), kFloat32);
  EXPECT_TRUE(HasValues(log1p(i), {std::log1p(1.0), std::log1p(2.0)}));
  EXPECT_EQ(log1p(ones({1}, kFloat64)).dtype(), kFloat64);
}

// ---- clamp --------------------------------------------------------------------------------------

TEST(Clamp, KeepsIntegersUnlessABoundIsFloating) {
  Tensor i = tensor({1.0, 5.0, -3.0}).to(kInt64);
  Tensor c = clamp(i, 0, 2);
  EXPECT_EQ(c.dtype(), kInt64);
  EXPECT_TRUE(HasValues(c, {1, 2, 0}, 0));
  c = clamp(i, 0.5, 2);
  EXPECT_EQ(c.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(c, {1, 2, 0.5}, 0));
  EXPECT_EQ(clamp(ones({1}, kFloat64), 0, 2).dtype(), kFloat64);
}

// PyTorch 1.13: nan stays nan, min > max gives max, a nan bound makes everything nan when both are
// given and nothing otherwise; the gradient passes at the bounds and not at nan.
TEST(Clamp, SpecialValuesAndBoundsAsPyTorch) {
  Tensor x = tensor({1.0, -1.0, 0.0, 2.0, 3.0, kNan, -kInf}).requires_grad_();
  Tensor y = clamp(x, 0, 2);
  std::vector<double> v = y.to_vector<double>();
  EXPECT_EQ(v[0], 1);
  EXPECT_EQ(v[1], 0);
  EXPECT_EQ(v[4], 2);
  EXPECT_TRUE(std::isnan(v[5]));
  EXPECT_EQ(v[6], 0);
  EXPECT_TRUE(HasValues(grad_of(y, x), {1, 0, 1, 1, 0, 0, 0}, 0));
  EXPECT_TRUE(HasValues(clamp(tensor({1.0, 5.0}), 3, 2), {2, 2}, 0));
  EXPECT_TRUE(std::isnan(clamp(tensor({1.0}), kNan, 2).item<double>()));
  EXPECT_EQ(clamp(tensor({1.0}), kNan).item<double>(), 1.0);
  EXPECT_TRUE(std::signbit(clamp(tensor({-0.0}), 0).item<double>()));  // -0 is not below 0
}

// ---- clamp_min and clamp_max --------------------------------------------------------------------

// As clamp with one bound (PyTorch 1.13's numbers), but a nan bound fills the result with nan.
TEST(ClampMinMax, ValuesGradientsAndNamesAsPyTorch) {
  Tensor x = tensor({1.0, -1.0, 0.0, 2.0, 3.0, kNan, -kInf}).requires_grad_();
  Tensor y = clamp_min(x, 0.0);
  EXPECT_EQ(node_name(y), "ClampMinBackward0");
  std::vector<double> v = y.to_vector<double>();
  EXPECT_TRUE(std::isnan(v[5]));
  v[5] = 0;  // (nan compares unequal to itself)
  EXPECT_EQ(v, (std::vector<double>{1, 0, 0, 2, 3, 0, 0}));
  EXPECT_TRUE(HasValues(grad_of(y, x), {1, 0, 1, 1, 1, 0, 0}, 0));
  y = x.clamp_max(2);
  EXPECT_EQ(node_name(y), "ClampMaxBackward0");
  v = y.to_vector<double>();
  EXPECT_TRUE(std::isnan(v[5]));
  v[5] = 0;
  EXPECT_EQ(v, (std::vector<double>{1, -1, 0, 2, 2, 0, -kInf}));
  EXPECT_TRUE(HasValues(grad_of(y, x), {1, 1, 1, 1, 0, 0, 1}, 0));
  EXPECT_TRUE(std::signbit(clamp_min(tensor({-0.0}), 0).item<double>()));   // -0 is not below 0
  EXPECT_TRUE(std::signbit(clamp_max(tensor({1.0}), -0.0).item<double>()));  // the bound itself
  for (const Tensor& filled : {clamp_min(tensor({1.0, -2.0}), kNan), clamp_max(tensor({1.0, -2.0}), kNan)})
    for (double e : filled.to_vector<double>()) EXPECT_TRUE(std::isnan(e));
  EXPECT_TRUE(HasValues(grad_of(clamp_min(x, kNan), x), {0, 0, 0, 0, 0, 0, 0}, 0));
}

TEST(ClampMinMax, DtypesAsPyTorch) {
  Tensor i = tensor({1.0, 5.0, -3.0}).to(kInt64);
  EXPECT_EQ(clamp_min(i, 2).dtype(), kInt64);
  EXPECT_TRUE(HasValues(clamp_min(i, 2), {2, 5, 2}, 0));
  EXPECT_EQ(clamp_max(i, 2.5).dtype(), kFloat32);
  EXPECT_TRUE(HasValues(clamp_max(i, 2.5), {1, 2.5, -3}, 0));
  Tensor b = tensor({1.0, 0.0}).to(kBool);
  EXPECT_EQ(clamp_min(b, 1).dtype(), kInt64);
  EXPECT_TRUE(HasValues(clamp_min(b, 1), {1, 1}, 0));
  EXPECT_DYDX_ERROR(clamp_min(b, true), "clamp_min", "Bool");
  EXPECT_DYDX_ERROR(b.clamp_max(false), "clamp_max", "Bool");
  EXPECT_EQ(clamp_max(ones({2}, kFloat64), 0).dtype(), kFloat64);
  EXPECT_EQ(clamp_min(zeros({0, 3}), 1).sizes().vec(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(clamp_max(tensor(3.0), 1).item<double>(), 1.0);
}

TEST(ClampMinMax, InPlaceAsOutOfPlaceAndRaisesBeforeWriting) {
  Tensor x = tensor({0.5, 1.5, -2.0}, kFloat64).requires_grad_();
  Tensor y = x * 1.0;
  y.clamp_min_(0.0).clamp_max_(1.0);
  EXPECT_TRUE(HasValues(y, {0.5, 1, 0}, 0));
  EXPECT_EQ(node_name(y), "ClampMaxBackward0");
  EXPECT_TRUE(HasValues(grad_of(y, x), {1, 0, 0}, 0));
  EXPECT_EQ(y._version(), 2);
  EXPECT_DYDX_ERROR(x.clamp_min_(0), "clamp_min_", "leaf");
  Tensor i = tensor({1.0, 2.0}).to(kInt64);
  EXPECT_DYDX_ERROR(i.clamp_min_(0.5), "clamp_min_", "float32", "int64");
  EXPECT_DYDX_ERROR(i.clamp_max_(kNan), "clamp_max_", "float32", "int64");
  EXPECT_TRUE(HasValues(i, {1, 2}, 0));
  EXPECT_EQ(i._version(), 0);
  i.clamp_max_(1);
  EXPECT_TRUE(HasValues(i, {1, 1}, 0));
}

// A bound the computation's dtype cannot hold raises as PyTorch 1.13's checked conversion does ("value
// cannot be converted to type float without overflow"), where it had clamped against inf; the
// in-place forms check first (the result's dtype, then the bound) and write nothing.
TEST(ClampMinMax, BoundsTheDtypeCannotHoldRaiseAsPyTorch) {
  const double float_max = std::numeric_limits<float>::max();
  const Tensor f = tensor({1.0, 5.0, -3.0});
  const Tensor i = tensor({1.0, 5.0, -3.0}).to(kInt64), b = tensor({1.0, 0.0}).to(kBool);
  for (double bound : {1e40, -1e40, 3.4028235e38, std::nextafter(float_max, kInf)}) {
    for (const Tensor& x : {f, i, b}) {  // an int64 or bool tensor computes in float32 with a floating bound
      EXPECT_DYDX_ERROR(clamp_min(x, bound), "clamp_min: value cannot be converted to type float without overflow");
      EXPECT_DYDX_ERROR(x.clamp_max(bound), "clamp_max: value cannot be converted to type float without overflow");
      EXPECT_DYDX_ERROR(clamp(x, bound), "clamp: value cannot be converted to type float without overflow");
      EXPECT_DYDX_ERROR(clamp(x, -1.0, bound), "clamp: value cannot be converted to type float without overflow");
    }
    Tensor g = f.clone();
    EXPECT_DYDX_ERROR(g.clamp_min_(bound), "clamp_min_: value cannot be converted to type float without overflow");
    EXPECT_DYDX_ERROR(g.clamp_max_(bound), "clamp_max_: value cannot be converted to type float without overflow");
    EXPECT_DYDX_ERROR(g.clamp_(bound), "clamp_: value cannot be converted to type float without overflow");
    EXPECT_TRUE(HasValues(g, {1, 5, -3}, 0));
    EXPECT_EQ(g._version(), 0);
    // An int64 tensor's in-place form refuses the float32 result first, as PyTorch's.
    Tensor j = i.clone();
    EXPECT_DYDX_ERROR(j.clamp_min_(bound), "clamp_min_: result type float32 can't be cast to the desired output type int64");
    EXPECT_EQ(j._version(), 0);
    // float64 holds every double.
    const std::vector<double> lifted = clamp_min(f.to(kFloat64), bound).to_vector<double>();
    for (size_t k = 0; k < lifted.size(); ++k) EXPECT_EQ(lifted[k], std::max(f.to_vector<double>()[k], bound));
  }
  // At float's range and past it to inf: fine.
  EXPECT_TRUE(HasValues(clamp_min(f, float_max), {float_max, float_max, float_max}, 0));
  EXPECT_TRUE(HasValues(clamp_max(f, -float_max), {-float_max, -float_max, -float_max}, 0));
  EXPECT_EQ(clamp_min(i, kInf).to_vector<double>(), std::vector<double>(3, kInf));
  EXPECT_TRUE(HasValues(clamp_max(f, 1e-50), {0, 0, -3}, 0));  // 1e-50 underflows to 0 in float32: no error
  EXPECT_EQ(clamp_min(i, 1e20).dtype(), kFloat32);
  EXPECT_TRUE(HasValues(clamp_min(i, 1e20), {double(1e20f), double(1e20f), double(1e20f)}, 0));
  // A bool tensor with a bool bound: PyTorch's kernel names.
  EXPECT_DYDX_ERROR(clamp_max(b, true), "clamp_max: \"clamp_max_scalar_cpu\" not implemented for 'Bool'");
  EXPECT_DYDX_ERROR(clamp_min(b, false), "clamp_min: \"clamp_min_cpu\" not implemented for 'Bool'");
  EXPECT_DYDX_ERROR(clamp(b, true, false), "clamp: \"clamp_scalar_cpu\" not implemented for 'Bool'");
  Tensor c = b.clone();
  EXPECT_DYDX_ERROR(c.clamp_min_(1), "clamp_min_: result type int64 can't be cast to the desired output type bool");
  EXPECT_DYDX_ERROR(c.clamp_min_(true), "clamp_min_: \"clamp_min_cpu\" not implemented for 'Bool'");
  EXPECT_EQ(c._version(), 0);
  // PyTorch's order for the in-place forms: a leaf that requires grad, then the result's dtype, then an
  // overlapping self, then the bound.
  Tensor leaf = f.clone().requires_grad_();
  EXPECT_DYDX_ERROR(leaf.clamp_min_(1e40), "clamp_min_", "leaf Variable that requires grad");
  Tensor ileaf = i.to(kFloat64).requires_grad_();
  EXPECT_DYDX_ERROR(ileaf.clamp_max_(1e40), "clamp_max_", "leaf Variable that requires grad");
  Tensor expanded = tensor({1.0f, 2.0f}).expand({2, 2});
  EXPECT_DYDX_ERROR(expanded.clamp_min_(1e40), "clamp_min_", "single memory location");
  Tensor ints = i.expand({2, 3});
  EXPECT_DYDX_ERROR(ints.clamp_(0.5), "clamp_", "result type float32 can't be cast to the desired output type int64");
}

// Integer bounds of an int64 tensor compare exactly, past 2^53 and at int64's extremes.
TEST(ClampMinMax, Int64BoundsAreExact) {
  const int64_t p53 = int64_t{1} << 53, lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const Tensor x = from_blob(std::vector<int64_t>{p53, p53 + 1, p53 + 2, int64_t{1} << 62, lo, hi}.data(), {6}, kInt64).clone();
  auto values = [](const Tensor& t) { return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()); };
  EXPECT_EQ(values(clamp_min(x, p53 + 1)), (std::vector<int64_t>{p53 + 1, p53 + 1, p53 + 2, int64_t{1} << 62, p53 + 1, hi}));
  EXPECT_EQ(values(clamp_max(x, p53 + 1)), (std::vector<int64_t>{p53, p53 + 1, p53 + 1, p53 + 1, lo, p53 + 1}));
  EXPECT_EQ(values(clamp_min(x, hi)), std::vector<int64_t>(6, hi));
  EXPECT_EQ(values(clamp_max(x, lo)), std::vector<int64_t>(6, lo));
  EXPECT_EQ(values(clamp(x, p53 + 1, p53 + 1)), std::vector<int64_t>(6, p53 + 1));
  Tensor y = x.clone();
  y.clamp_min_(p53 + 1).clamp_max_(hi - 1);
  EXPECT_EQ(values(y), (std::vector<int64_t>{p53 + 1, p53 + 1, p53 + 2, int64_t{1} << 62, p53 + 1, hi - 1}));
}

// The gradient and the tangent pass where the bound ties the value (PyTorch 1.13's x >= min, x <= max),
// and nowhere a nan is (in x or as the bound).
TEST(ClampMinMax, DerivativesAtTiesAsPyTorch) {
  Tensor x = tensor({0.0, 1.0, -1.0, kNan, kInf, -kInf}, kFloat64).requires_grad_();
  EXPECT_TRUE(HasValues(grad_of(clamp_min(x, 0.0), x), {1, 1, 0, 0, 1, 0}, 0));
  EXPECT_TRUE(HasValues(grad_of(clamp_max(x, 0.0), x), {1, 0, 1, 0, 0, 1}, 0));
  EXPECT_TRUE(HasValues(grad_of(clamp_min(x, kNan), x), {0, 0, 0, 0, 0, 0}, 0));
  forward_ad::DualLevel level;
  const Tensor d = forward_ad::make_dual(tensor({0.0, 1.0, -1.0, kNan}, kFloat64), tensor({1.0, 2.0, 3.0, 4.0}, kFloat64));
  EXPECT_TRUE(HasValues(forward_ad::unpack_dual(clamp_min(d, 0.0)).tangent, {1, 2, 0, 0}, 0));
  EXPECT_TRUE(HasValues(forward_ad::unpack_dual(clamp_max(d, 0.0)).tangent, {1, 0, 3, 0}, 0));
  EXPECT_TRUE(HasValues(forward_ad::unpack_dual(clamp_max(d, kNan)).tangent, {0, 0, 0, 0}, 0));
}

// ---- in place -----------------------------------------------------------------------------------

// Each in-place method gives the out-of-place op's values, gradient and grad_fn.
TEST(InPlaceUnary, MatchesTheOutOfPlaceOp) {
  struct Case {
    const char* name;
    Tensor& (*in_place)(Tensor&);
    Tensor (*out_of_place)(const Tensor&);
  };
  const std::vector<Case> cases = {
      {"exp_", [](Tensor& t) -> Tensor& { return t.exp_(); }, [](const Tensor& t) { return exp(t); }},
      {"log_", [](Tensor& t) -> Tensor& { return t.log_(); }, [](const Tensor& t) { return log(t); }},
      {"sqrt_", [](Tensor& t) -> Tensor& { return t.sqrt_(); }, [](const Tensor& t) { return sqrt(t); }},
      {"sin_", [](Tensor& t) -> Tensor& { return t.sin_(); }, [](const Tensor& t) { return sin(t); }},
      {"cos_", [](Tensor& t) -> Tensor& { return t.cos_(); }, [](const Tensor& t) { return cos(t); }},
      {"tan_", [](Tensor& t) -> Tensor& { return t.tan_(); }, [](const Tensor& t) { return tan(t); }},
      {"tanh_", [](Tensor& t) -> Tensor& { return t.tanh_(); }, [](const Tensor& t) { return tanh(t); }},
      {"sigmoid_", [](Tensor& t) -> Tensor& { return t.sigmoid_(); }, [](const Tensor& t) { return sigmoid(t); }},
      {"relu_", [](Tensor& t) -> Tensor& { return t.relu_(); }, [](const Tensor& t) { return relu(t); }},
      {"abs_", [](Tensor& t) -> Tensor& { return t.abs_(); }, [](const Tensor& t) { return abs(t); }},
      {"neg_", [](Tensor& t) -> Tensor& { return t.neg_(); }, [](const Tensor& t) { return neg(t); }},
      {"log1p_", [](Tensor& t) -> Tensor& { return t.log1p_(); }, [](const Tensor& t) { return log1p(t); }},
      {"expm1_", [](Tensor& t) -> Tensor& { return t.expm1_(); }, [](const Tensor& t) { return expm1(t); }},
      {"erf_", [](Tensor& t) -> Tensor& { return t.erf_(); }, [](const Tensor& t) { return erf(t); }},
      {"clamp_", [](Tensor& t) -> Tensor& { return t.clamp_(0.6, 1.2); }, [](const Tensor& t) { return clamp(t, 0.6, 1.2); }},
      {"clip_", [](Tensor& t) -> Tensor& { return t.clip_(std::nullopt, 1.2); }, [](const Tensor& t) { return clip(t, std::nullopt, 1.2); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor x = tensor({0.5, 0.75, 1.5}, kFloat64).requires_grad_();
    Tensor want = c.out_of_place(x);
    Tensor want_grad = grad_of(want, x);
    Tensor y = x * 1.0;  // a non-leaf: an in-place op on a leaf that requires grad raises
    const int64_t version = y._version();
    Tensor& same = c.in_place(y);
    EXPECT_EQ(&same, &y);
    EXPECT_EQ(y._version(), version + 1);
    EXPECT_TRUE(HasValues(y, want.to_vector<double>(), 0));
    EXPECT_EQ(node_name(y), node_name(want));
    EXPECT_TRUE(HasValues(grad_of(y, x), want_grad.to_vector<double>(), 1e-15));
  }
}

TEST(InPlaceUnary, WithoutHistoryWritesAndBumpsTheVersion) {
  Tensor x = tensor({-1.0, 0.5, 4.0});
  x.relu_().sqrt_();
  EXPECT_TRUE(HasValues(x, {0, std::sqrt(0.5), 2}));
  EXPECT_EQ(x._version(), 2);
  Tensor i = tensor({-1.0, 3.0}).to(kInt64);
  i.abs_().neg_().clamp_(-2, 5);  // integer results into an integer tensor
  EXPECT_TRUE(HasValues(i, {-1, -2}, 0));
  Tensor w = ones({2}).requires_grad_();
  {
    NoGradGuard no_grad;
    w.tanh_();  // a leaf may be written under no_grad
  }
  EXPECT_TRUE(HasValues(w, {std::tanh(1.0), std::tanh(1.0)}));
}

// Every error is raised before anything is written, and names the in-place op.
TEST(InPlaceUnary, RaisesBeforeWriting) {
  Tensor leaf = tensor({1.0, 2.0}).requires_grad_();
  EXPECT_DYDX_ERROR(leaf.tanh_(), "tanh_", "leaf");
  EXPECT_DYDX_ERROR(leaf.clamp_(0, 1), "clamp_", "leaf");
  EXPECT_DYDX_ERROR(leaf.slice(0, 0, 1).exp_(), "exp_", "leaf");
  EXPECT_TRUE(HasValues(leaf, {1, 2}, 0));
  EXPECT_EQ(leaf._version(), 0);
  Tensor i = tensor({1.0, 2.0}).to(kInt64);
  EXPECT_DYDX_ERROR(i.exp_(), "exp_", "float32", "int64");
  EXPECT_DYDX_ERROR(i.clamp_(0.5), "clamp_", "float32", "int64");
  EXPECT_DYDX_ERROR(i.clamp_(std::nullopt, std::nullopt), "clamp", "min", "max");
  EXPECT_TRUE(HasValues(i, {1, 2}, 0));
  EXPECT_EQ(i._version(), 0);
  Tensor expanded = tensor({1.0}).expand({3});
  EXPECT_DYDX_ERROR(expanded.sigmoid_(), "sigmoid_", "single memory location");
}

// Through a view, the base's history is rewritten: the write's gradient reaches the base's inputs
// and the rest of the base passes its gradient on unchanged (PyTorch's values).
TEST(InPlaceUnary, ThroughAViewUpdatesTheBasesHistory) {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0}).requires_grad_();
  Tensor y = x * 1.0;
  Tensor view = y.slice(0, 1, 3);
  view.tanh_();
  EXPECT_EQ(node_name(y), "CopySlices");
  EXPECT_TRUE(HasValues(y, {1, std::tanh(2.0), std::tanh(3.0), 4}));
  EXPECT_TRUE(HasValues(grad_of(y, x), {1.0, 0.07065081596374512, 0.00986598152667284, 1.0}, 1e-6));
  // A rule that reads its input (log) sees the value from before the write.
  Tensor z = x * 1.0;
  z.slice(0, 0, 2).log_();
  EXPECT_TRUE(HasValues(grad_of(z, x), {1.0, 0.5, 1.0, 1.0}));
}

// Forward mode carries the tangent through the write, as the out-of-place op would.
TEST(InPlaceUnary, CarriesTangents) {
  forward_ad::DualLevel level;
  Tensor x = forward_ad::make_dual(tensor({0.5, 2.0}, kFloat64), tensor({1.0, 3.0}, kFloat64));
  Tensor y = x * 1.0;
  y.sigmoid_();
  const double s0 = 1 / (1 + std::exp(-0.5)), s1 = 1 / (1 + std::exp(-2.0));
  EXPECT_TRUE(HasValues(forward_ad::unpack_dual(y).tangent, {s0 * (1 - s0), 3 * s1 * (1 - s1)}, 1e-14));
}

}  // namespace
