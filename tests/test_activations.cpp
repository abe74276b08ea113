// Activations and the other elementwise functions with attributes (softplus's beta and threshold,
// elu's alpha, leaky_relu's slope, gelu's approximation, clamp's and hardtanh's bounds), the
// activations without (hardsigmoid, hardswish, selu, mish, logsigmoid), their modules, and the
// in-place unary methods and functions, against PyTorch 1.13. The op table checks their derivatives; these check what it cannot:
// the attributes themselves, dtypes, errors and in-place semantics.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <limits>
#include <sstream>
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

// ---- hardtanh, relu6, hardsigmoid, hardswish, selu, mish, logsigmoid -----------------------------

// Values and gradients from PyTorch 1.13 at sample()'s points, in float64.
TEST(Activations, TheHardAndSelfGatedOnesMatchPyTorch) {
  Tensor x = sample();  // -3, -0.5, 0.25, 2, 12
  Tensor y = hardtanh(x, -0.5, 2.0);
  EXPECT_TRUE(HasValues(y, {-0.5, -0.5, 0.25, 2.0, 2.0}, 0));
  EXPECT_TRUE(HasValues(grad_of(y, x), {0, 0, 1, 0, 0}, 0));  // zero at the bounds
  y = relu6(x);
  EXPECT_TRUE(HasValues(y, {0, 0, 0.25, 2, 6}, 0));
  EXPECT_TRUE(HasValues(grad_of(y, x), {0, 0, 1, 1, 0}, 0));
  y = hardsigmoid(x);
  EXPECT_TRUE(HasValues(y, {0.0, 0.4166666666666667, 0.5416666666666666, 0.8333333333333334, 1.0}, 1e-15));
  // PyTorch's one_sixth is the float 1.0f / 6.0f, in float64 too.
  const double sixth = 0.1666666716337204;
  EXPECT_TRUE(HasValues(grad_of(y, x), {0, sixth, sixth, sixth, 0}, 0));
  y = hardswish(x);
  EXPECT_TRUE(HasValues(y, {-0.0, -0.20833333333333334, 0.13541666666666666, 1.6666666666666667, 12.0}, 1e-15));
  EXPECT_TRUE(HasValues(grad_of(y, x), {-0.5, 0.33333333333333337, 0.5833333333333334, 1.1666666666666665, 1.0}, 1e-15));
  y = selu(x);
  EXPECT_TRUE(HasValues(y, {-1.6705687287671118, -0.6917581878028713, 0.2626752468388701, 2.101401974710961, 12.608411848265765}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {0.08753061208026487, 1.0663411530445053, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805}, 1e-14));
  y = mish(x);
  EXPECT_TRUE(HasValues(y, {-0.1456474612756246, -0.22074377465173, 0.1695724096638176, 1.9439589595339946, 11.99999999909398}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {-0.09339311453232084, 0.28951067791351226, 0.7541726677205928, 1.0693179342794896, 1.0000000017365283}, 1e-14));
  y = logsigmoid(x);
  EXPECT_TRUE(HasValues(y, {-3.048587351573742, -0.9740769841801067, -0.5759394198788436, -0.1269280110429725, -6.144193477732806e-06}, 1e-14));
  EXPECT_TRUE(HasValues(grad_of(y, x), {0.9525741268224333, 0.6224593312018545, 0.4378234991142019, 0.11920292202211755, 6.144174602214718e-06}, 1e-14));
}

// Bit for bit: nan matches nan, and a zero only a zero of its sign.
::testing::AssertionResult SameValues(const Tensor& t, const std::vector<double>& expected) {
  if (!t.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  const std::vector<double> got = t.to_vector<double>();
  if (got.size() != expected.size()) return ::testing::AssertionFailure() << "numel " << got.size() << " != " << expected.size();
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = std::isnan(expected[i]) ? std::isnan(got[i])
                                              : got[i] == expected[i] && std::signbit(got[i]) == std::signbit(expected[i]);
    if (!same) return ::testing::AssertionFailure() << "element " << i << ": " << got[i] << " != " << expected[i] << "\n" << to_string(t);
  }
  return ::testing::AssertionSuccess();
}

// The gradient of y for the cotangent g, by the fused pass (plain backward) and by the composed rule
// (create_graph, which differentiates the rule itself), and the tangent of y for the tangent g.
struct Derivatives {
  Tensor fused, composed, tangent;
};
Derivatives derivatives(Tensor (*f)(const Tensor&), const Tensor& values, const Tensor& g) {
  Tensor x = values.detach().requires_grad_();
  Derivatives d;
  d.fused = grad({f(x)}, {x}, {g})[0];
  d.composed = grad({f(x)}, {x}, {g}, std::nullopt, /*create_graph=*/true)[0].detach();
  forward_ad::DualLevel level;
  d.tangent = forward_ad::unpack_dual(f(forward_ad::make_dual(values.detach(), g))).tangent;
  return d;
}

// At the kinks and special values, PyTorch 1.13's values and gradients (its kernels' scalar loops,
// which edge_cases.txt records too): hardtanh's gradient is 0 at its bounds and passes at nan,
// hardswish's is -0.5 at -3, 1.5 at 3 and t at nan, and every one selects rather than multiplies, so
// an inf cotangent gives 0 where the gradient is blocked. The fused pass, the composed rule and
// forward mode agree, on a tensor long enough for the fused loop's SIMD lanes.
TEST(Activations, KinksAndSpecialValuesAsPyTorch) {
  struct Case {
    const char* name;
    Tensor (*f)(const Tensor&);
    std::vector<double> out32, out64, grad32, grad64, grad_inf;
  };
  const double n = kNan, i = kInf, s6 = 0.1666666716337204, t32 = 1.401298464324817e-45;
  const std::vector<Case> cases = {
      {"hardtanh", [](const Tensor& x) { return hardtanh(x); },
       {-1, -1, -1, -1, -1, -0.0, 0, t32, 1, 1, 1, 1, 1, 1, n, -t32},
       {-1, -1, -1, -1, -1, -0.0, 0, 5e-324, 1, 1, 1, 1, 1, 1, n, -5e-324},
       {0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1},
       {0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1},
       {0, 0, 0, 0, 0, i, i, i, 0, 0, 0, 0, 0, 0, i, i}},
      {"hardtanh(-2.5, 2.5)", [](const Tensor& x) { return hardtanh(x, -2.5, 2.5); },
       {-2.5, -2.5, -2.5, -2.5, -1, -0.0, 0, t32, 1, 2.5, 2.5, 2.5, 2.5, 2.5, n, -t32},
       {-2.5, -2.5, -2.5, -2.5, -1, -0.0, 0, 5e-324, 1, 2.5, 2.5, 2.5, 2.5, 2.5, n, -5e-324},
       {0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1},
       {0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1},
       {0, 0, 0, 0, i, i, i, i, i, 0, 0, 0, 0, 0, i, i}},
      {"relu6", [](const Tensor& x) { return relu6(x); },
       {0, 0, 0, 0, 0, -0.0, 0, t32, 1, 2.5, 3, 6, 6, 6, n, 0},
       {0, 0, 0, 0, 0, -0.0, 0, 5e-324, 1, 2.5, 3, 6, 6, 6, n, 0},
       {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0},
       {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0},
       {0, 0, 0, 0, 0, 0, 0, i, i, i, i, 0, 0, 0, i, 0}},
      {"hardsigmoid", [](const Tensor& x) { return hardsigmoid(x); },
       {0, 0, 0, 0.0833333358168602, 0.3333333432674408, 0.5, 0.5, 0.5, 0.6666666865348816, 0.9166666865348816, 1, 1, 1, 1, n, 0.5},
       {0, 0, 0, 0.08333333333333333, 0.3333333333333333, 0.5, 0.5, 0.5, 0.6666666666666666, 0.9166666666666666, 1, 1, 1, 1, n, 0.5},
       {0, 0, 0, s6, s6, s6, s6, s6, s6, s6, 0, 0, 0, 0, 0, s6},
       {0, 0, 0, s6, s6, s6, s6, s6, s6, s6, 0, 0, 0, 0, 0, s6},
       {0, 0, 0, i, i, i, i, i, i, i, 0, 0, 0, 0, 0, i}},
      {"hardswish", [](const Tensor& x) { return hardswish(x); },
       {n, -0.0, -0.0, -0.2083333283662796, -0.3333333432674408, -0.0, 0, 0, 0.6666666865348816, 2.2916667461395264, 3, 6, 7, i, n, -0.0},
       {n, -0.0, -0.0, -0.20833333333333334, -0.3333333333333333, -0.0, 0, 0, 0.6666666666666666, 2.2916666666666665, 3, 6, 7, i, n, -0.0},
       {0, 0, -0.5, -0.3333333134651184, 0.1666666567325592, 0.5, 0.5, 0.5, 0.8333333730697632, 1.3333332538604736, 1.5, 1, 1, 1, 1, 0.5},
       {0, 0, -0.5, -0.33333333333333337, 0.16666666666666669, 0.5, 0.5, 0.5, 0.8333333333333333, 1.3333333333333335, 1.5, 1, 1, 1, 1, 0.5},
       {0, 0, -i, -i, i, i, i, i, i, i, i, i, i, i, i, i}},
  };
  for (const ScalarType dtype : {kFloat32, kFloat64}) {
    const bool f32 = dtype == kFloat32;
    const double tiny = f32 ? t32 : 5e-324;  // the least subnormal
    const std::vector<double> values = {-kInf, -6.0, -3.0, -2.5, -1.0, -0.0, 0.0, tiny, 1.0, 2.5, 3.0, 6.0, 7.0, kInf, kNan, -tiny};
    std::vector<double> repeated;  // 4 copies: full SIMD vectors and the loop's tail both see each value
    for (int copy = 0; copy < 4; ++copy) repeated.insert(repeated.end(), values.begin(), values.end() - (copy == 3 ? 3 : 0));
    const Tensor x = tensor(repeated, dtype);
    const auto four = [&](const std::vector<double>& v) {
      std::vector<double> out;
      for (int copy = 0; copy < 4; ++copy) out.insert(out.end(), v.begin(), v.end() - (copy == 3 ? 3 : 0));
      return out;
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(c.name) + " " + dtype_name(dtype));
      EXPECT_TRUE(SameValues(c.f(x), four(f32 ? c.out32 : c.out64)));
      for (const auto& [g, expected] : {std::pair{ones_like(x), four(f32 ? c.grad32 : c.grad64)}, std::pair{full_like(x, kInf), four(c.grad_inf)}}) {
        const Derivatives d = derivatives(c.f, x, g);
        EXPECT_TRUE(SameValues(d.fused, expected));
        EXPECT_TRUE(SameValues(d.composed, expected));
        EXPECT_TRUE(SameValues(d.tangent, expected));
      }
    }
  }
}

// hardswish(-inf) and mish(-inf) are nan (-inf * 0), as PyTorch's; logsigmoid's ends are exact.
TEST(Activations, SpecialValuesOfTheSmoothOnes) {
  Tensor x = tensor({-3.0, -1.0, -0.0, 3.0, kNan, kInf, -kInf}).requires_grad_();
  Tensor y = mish(x);
  EXPECT_TRUE(std::isnan(y[6].item<double>()));
  EXPECT_EQ(y[5].item<double>(), kInf);
  y = logsigmoid(x);
  EXPECT_EQ(y[5].item<double>(), 0.0);
  EXPECT_EQ(y[6].item<double>(), -kInf);
  EXPECT_TRUE(HasValues(grad_of(y, x).slice(0, 5, 7), {0, 1}, 0));
}

// A nan bound makes every element nan, as PyTorch 1.13's hardtanh (its clamp fills the result with
// nan); the gradient is its hardtanh_backward's, blocked only where the other bound blocks it (no
// comparison with nan holds). min_val > max_val gives max_val, and the gradient only at nan.
TEST(Activations, HardtanhNanBoundGivesNan) {
  struct Case {
    double lo, hi;
    std::vector<double> grad;
  };
  // x = -3, -1, -0, 0.5, 1, 3, inf, -inf, nan
  const std::vector<Case> cases = {{kNan, 1.0, {1, 1, 1, 1, 0, 0, 0, 1, 1}},
                                   {-1.0, kNan, {0, 0, 1, 1, 1, 1, 1, 0, 1}},
                                   {kNan, kNan, {1, 1, 1, 1, 1, 1, 1, 1, 1}},
                                   {2.0, -2.0, {0, 0, 0, 0, 0, 0, 0, 0, 1}}};
  for (const ScalarType dtype : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = tensor({-3.0, -1.0, -0.0, 0.5, 1.0, 3.0, kInf, -kInf, kNan}, dtype);
    for (const Case& c : cases) {
      SCOPED_TRACE(std::to_string(c.lo) + ", " + std::to_string(c.hi));
      const std::vector<double> want = std::isnan(c.lo) || std::isnan(c.hi) ? std::vector<double>(9, kNan)
                                                                             : std::vector<double>{-2, -2, -2, -2, -2, -2, -2, -2, kNan};
      EXPECT_TRUE(SameValues(hardtanh(x, c.lo, c.hi), want));
      static double bound_lo, bound_hi;  // for the function pointer below
      bound_lo = c.lo, bound_hi = c.hi;
      const Derivatives d = derivatives([](const Tensor& v) { return hardtanh(v, bound_lo, bound_hi); }, x, ones_like(x));
      EXPECT_TRUE(SameValues(d.fused, c.grad));
      EXPECT_TRUE(SameValues(d.composed, c.grad));
      EXPECT_TRUE(SameValues(d.tangent, c.grad));
      Tensor written = x * 1.0;
      hardtanh_(written, c.lo, c.hi);
      EXPECT_TRUE(SameValues(written, want));
    }
    // -0 and 0 as bounds order as std::min and std::max do, as PyTorch's (hardtanh(1, 0, -0) is -0).
    EXPECT_TRUE(SameValues(hardtanh(x, 0.0, -0.0), {0, 0, -0.0, -0.0, -0.0, -0.0, -0.0, 0, kNan}));
  }
}

// An int64 input keeps exact integer bounds (no trip through a double: 2^53 + 1 and int64's ends
// survive), truncates floating ones, and takes a bool bound as 0 or 1, as PyTorch 1.13's.
TEST(Activations, HardtanhIntegerBoundsAreExact) {
  const int64_t big = (int64_t{1} << 53) + 1, lowest = std::numeric_limits<int64_t>::min(),
                highest = std::numeric_limits<int64_t>::max();
  const Tensor x = tensor(std::vector<int64_t>{-5, 0, 5, big, int64_t{1} << 62, lowest});
  Tensor y = hardtanh(x, 0, big);
  EXPECT_EQ(y.dtype(), kInt64);
  EXPECT_EQ(y.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 5, big, big, 0}));
  EXPECT_EQ(hardtanh(x, 0, big - 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 5, big - 1, big - 1, 0}));
  EXPECT_EQ(hardtanh(x, lowest, highest).to_vector<int64_t>(), x.to_vector<int64_t>());
  // -2^63 and the largest double below 2^63 are in range, and convert exactly.
  EXPECT_EQ(hardtanh(x, -0x1p63, 9223372036854774784.0).to_vector<int64_t>(), x.to_vector<int64_t>());
  EXPECT_EQ(hardtanh(x, -1.5, 2.5).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 2, 2, 2, -1}));
  EXPECT_EQ(hardtanh(x, true, 3).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 3, 3, 3, 1}));
  EXPECT_EQ(hardtanh(x, 2, -2).to_vector<int64_t>(), (std::vector<int64_t>(6, -2)));  // min > max: max
  EXPECT_EQ(relu6(x).dtype(), kInt64);
  EXPECT_EQ(relu6(x).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 5, 6, 6, 0}));
  Tensor written = x.clone();
  hardtanh_(written, -big, big);
  EXPECT_EQ(written.to_vector<int64_t>(), (std::vector<int64_t>{-5, 0, 5, big, big, -big}));
}

// A bound the input's type cannot hold raises PyTorch 1.13's error, naming the bound, and the
// in-place form writes nothing. For int64: nan, +-inf, 1e20 and 2^63 (which PyTorch lets through
// its range test and turns into INT64_MIN); for float32, a finite value beyond float's range (inf
// and nan are fine there).
TEST(Activations, HardtanhBoundsOutOfRangeRaise) {
  const Tensor i = tensor(std::vector<int64_t>{-5, 0, 5});
  for (const double bad : {1e20, -1e20, kInf, -kInf, kNan, 0x1p63, -0x1p64}) {
    SCOPED_TRACE(bad);
    EXPECT_DYDX_ERROR(hardtanh(i, bad, 1), "hardtanh", "value cannot be converted to type int64_t without overflow", "min_val");
    EXPECT_DYDX_ERROR(hardtanh(i, -1, bad), "hardtanh", "value cannot be converted to type int64_t without overflow", "max_val");
    Tensor written = i.clone();
    EXPECT_DYDX_ERROR(hardtanh_(written, -1, bad), "value cannot be converted to type int64_t without overflow");
    EXPECT_EQ(written.to_vector<int64_t>(), (std::vector<int64_t>{-5, 0, 5}));
    EXPECT_EQ(written._version(), 0);
  }
  const Tensor f = tensor({-2.0, 0.5, 3e38});
  for (const double bad : {1e300, -1e39, 3.5e38, -1e300}) {
    SCOPED_TRACE(bad);
    EXPECT_DYDX_ERROR(hardtanh(f, bad, 1.0), "value cannot be converted to type float without overflow", "min_val");
    EXPECT_DYDX_ERROR(hardtanh(f, -1.0, bad), "value cannot be converted to type float without overflow", "max_val");
    Tensor written = f.clone();
    EXPECT_DYDX_ERROR(hardtanh_(written, bad, 1.0), "value cannot be converted to type float without overflow");
    EXPECT_TRUE(SameValues(written, {-2, 0.5, 3.0000000054977558e38}));
  }
  const double float_max = std::numeric_limits<float>::max();
  EXPECT_TRUE(SameValues(hardtanh(f, -float_max, float_max), {-2, 0.5, 3.0000000054977558e38}));
  EXPECT_TRUE(SameValues(hardtanh(f, -kInf, kInf), {-2, 0.5, 3.0000000054977558e38}));
  EXPECT_TRUE(SameValues(hardtanh(f.to(kFloat64), -1e300, 1e300), {-2, 0.5, 3.0000000054977558e38}));
  EXPECT_DYDX_ERROR(hardtanh(tensor({1.0}).to(kBool), 0, 1), "hardtanh", "Bool inputs not supported");
}

// No overflow to nan at large |x|: e^x overflows or underflows inside, but the values and first
// derivatives are PyTorch 1.13's (mish(-1000) = -0, logsigmoid(-1000) = -1000, and so on).
TEST(Activations, LargeInputsGivePyTorchsValues) {
  for (const ScalarType dtype : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = tensor({-1e30, -1000.0, 1000.0, 1e30}, dtype).requires_grad_();
    Tensor y = mish(x);
    EXPECT_TRUE(SameValues(y, {-0.0, -0.0, 1000, dtype == kFloat32 ? 1.0000000150474662e+30 : 1e30}));
    EXPECT_TRUE(SameValues(grad_of(y, x), {0, 0, 1, 1}));
    y = logsigmoid(x);
    EXPECT_TRUE(SameValues(y, {dtype == kFloat32 ? -1.0000000150474662e+30 : -1e30, -1000, 0, 0}));
    EXPECT_TRUE(SameValues(grad_of(y, x), {1, 1, 0, 0}));
    y = selu(x);
    const double low = dtype == kFloat32 ? -1.7580993175506592 : -1.7580993408473766;
    EXPECT_TRUE(SameValues(y.slice(0, 0, 2), {low, low}));
    EXPECT_TRUE(SameValues(grad_of(y, x), dtype == kFloat32 ? std::vector<double>{0, 0, 1.0507010221481323, 1.0507010221481323}
                                                             : std::vector<double>{0, 0, 1.0507009873554805, 1.0507009873554805}));
    y = hardswish(x);
    EXPECT_TRUE(SameValues(y.slice(0, 0, 3), {-0.0, -0.0, 1000}));
    EXPECT_TRUE(SameValues(grad_of(y, x), {0, 0, 1, 1}));
  }
}

// The fused backward pass gives the composed rule's bits, over values across every kink.
TEST(Activations, FusedBackwardMatchesTheComposedRule) {
  Generator generator(7);
  for (const ScalarType dtype : {kFloat32, kFloat64}) {
    const Tensor kinks = tensor({-3.0, 3.0, 0.0, -0.0, 6.0, -1.0, 1.0, -2.5, 2.5, kNan, kInf, -kInf}, dtype);
    const Tensor x = cat({(rand({997}, generator, dtype) - 0.5) * 20.0, kinks});
    const Tensor g = randn({x.numel()}, generator, dtype);
    struct Case {
      const char* name;
      Tensor (*f)(const Tensor&);
      bool bitwise;
    };
    for (const Case& c : {Case{"hardtanh", [](const Tensor& v) { return hardtanh(v, -2.5, 2.5); }, true},
                          Case{"relu6", [](const Tensor& v) { return relu6(v); }, true},
                          Case{"hardsigmoid", [](const Tensor& v) { return hardsigmoid(v); }, true},
                          Case{"hardswish", [](const Tensor& v) { return hardswish(v); }, true},
                          Case{"leaky_relu", [](const Tensor& v) { return leaky_relu(v, 0.2); }, true},
                          Case{"leaky_relu", [](const Tensor& v) { return leaky_relu(v, -0.1); }, true},
                          // GCC may contract a * b + c in the fused loops: the last bit may differ.
                          Case{"selu", [](const Tensor& v) { return selu(v); }, false},
                          Case{"mish", [](const Tensor& v) { return mish(v); }, false},
                          Case{"logsigmoid", [](const Tensor& v) { return logsigmoid(v); }, false}}) {
      SCOPED_TRACE(std::string(c.name) + " " + dtype_name(dtype));
      const Derivatives d = derivatives(c.f, x, g);
      const std::vector<double> composed = d.composed.to_vector<double>();
      if (c.bitwise) {
        EXPECT_TRUE(SameValues(d.fused, composed));
        EXPECT_TRUE(SameValues(d.tangent, composed));
      } else {
        const double tol = dtype == kFloat32 ? 1e-6 : 1e-14;
        EXPECT_TRUE(HasValues(d.fused.slice(0, 0, 997), d.composed.slice(0, 0, 997).to_vector<double>(), tol));
        EXPECT_TRUE(HasValues(d.tangent.slice(0, 0, 997), d.composed.slice(0, 0, 997).to_vector<double>(), tol));
      }
    }
  }
}

// Away from the kinks, in float64: the gradient matches central differences, the second derivative
// (double backward) matches differences of the gradient, and forward mode matches reverse mode.
TEST(Activations, GradcheckAwayFromTheKinks) {
  using Fn = Tensor (*)(const Tensor&);
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"hardtanh", [](const Tensor& v) { return hardtanh(v, -0.5, 2.0); }}, {"relu6", [](const Tensor& v) { return relu6(v); }},
      {"hardsigmoid", [](const Tensor& v) { return hardsigmoid(v); }},      {"hardswish", [](const Tensor& v) { return hardswish(v); }},
      {"selu", [](const Tensor& v) { return selu(v); }},                    {"mish", [](const Tensor& v) { return mish(v); }},
      {"logsigmoid", [](const Tensor& v) { return logsigmoid(v); }}};
  // Every kink (-3, -0.5, 0, 2, 3, 6) at least 0.05 away from each point.
  const std::vector<double> points = {-30.0, -7.5, -4.0, -2.9, -1.7, -0.45, -0.2, 0.1, 0.3, 1.1, 1.9, 2.2, 2.95, 4.4, 5.8, 6.2, 12.0, 35.0};
  const double h = 1e-6;
  for (const auto& entry : fns) {
    // (Not a structured binding: clang 14 refuses to capture one in the lambda below.)
    const std::string& name = entry.first;
    const auto& f = entry.second;
    SCOPED_TRACE(name);
    const Tensor x = tensor(points, kFloat64).requires_grad_();
    const Tensor g = grad({f(x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
    const Tensor numeric = (f(x.detach() + h) - f(x.detach() - h)) / (2 * h);
    EXPECT_TRUE(HasValues(g, numeric.to_vector<double>(), 1e-7));
    const Tensor second = g.requires_grad() ? grad({g.sum()}, {x})[0] : zeros_like(x);
    const auto gradient_at = [&](const Tensor& at) {
      Tensor v = at.detach().requires_grad_();
      return grad({f(v).sum()}, {v})[0];
    };
    const Tensor numeric2 = (gradient_at(x + h) - gradient_at(x - h)) / (2 * h);
    EXPECT_TRUE(HasValues(second, numeric2.to_vector<double>(), 1e-6));
    forward_ad::DualLevel level;
    const Tensor tangent = forward_ad::unpack_dual(f(forward_ad::make_dual(x.detach(), ones_like(x)))).tangent;
    EXPECT_TRUE(HasValues(tangent, g.detach().to_vector<double>(), 1e-15));  // fused vs composed: rounding
  }
}

// Zero-size and 0-d inputs keep their shapes; a strided view gives what its contiguous copy gives
// (it takes the composed rule, the fused pass reading only dense inputs: bit for bit where no
// multiply-add can be contracted, to rounding for mish and logsigmoid).
TEST(Activations, EmptyZeroDimAndStridedInputs) {
  using Fn = Tensor (*)(const Tensor&);
  const std::vector<std::pair<Fn, bool>> fns = {
      {[](const Tensor& v) { return hardtanh(v, -0.5, 2.0); }, true}, {[](const Tensor& v) { return relu6(v); }, true},
      {[](const Tensor& v) { return hardsigmoid(v); }, true},        {[](const Tensor& v) { return hardswish(v); }, true},
      {[](const Tensor& v) { return selu(v); }, true},               {[](const Tensor& v) { return mish(v); }, false},
      {[](const Tensor& v) { return logsigmoid(v); }, false}};
  Generator generator(3);
  for (const auto& [f, bitwise] : fns) {
    Tensor empty = zeros({2, 0, 3}, kFloat64).requires_grad_();
    Tensor y = f(empty);
    EXPECT_EQ(y.sizes(), empty.sizes());
    EXPECT_EQ(grad_of(y, empty).sizes(), empty.sizes());
    Tensor scalar = full({}, 2.5, kFloat64).requires_grad_();
    y = f(scalar);
    EXPECT_EQ(y.dim(), 0);
    EXPECT_TRUE(SameValues(y, f(tensor({2.5}, kFloat64)).to_vector<double>()));
    EXPECT_EQ(grad_of(y, scalar).dim(), 0);
    const Tensor base = (rand({6, 8}, generator, kFloat64) - 0.5) * 16.0;
    for (const Tensor& view : {base.t(), base.slice(1, 0, 8, 3), base.slice(0, 1, 5).transpose(0, 1)}) {
      ASSERT_FALSE(view.is_contiguous());
      const Tensor dense = view.contiguous();
      EXPECT_TRUE(SameValues(f(view), f(dense).to_vector<double>()));
      const Tensor g = randn(view.sizes(), generator, kFloat64);
      const std::vector<double> want = derivatives(f, dense, g).fused.to_vector<double>();
      if (bitwise) EXPECT_TRUE(SameValues(derivatives(f, view, g).fused, want));
      else EXPECT_TRUE(HasValues(derivatives(f, view, g).fused, want, 1e-15));
    }
  }
}

// A gradient through hardtanh, relu6 or hardsigmoid, taken with create_graph, stays an op of x: its own
// gradient is zeros (the step has no curvature), as PyTorch's, not an error that x is unused; at the
// bounds, beyond them, at inf and at nan the first gradient keeps PyTorch's values.
TEST(Activations, SecondGradientThroughTheHardStepsIsZero) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::function<Tensor(const Tensor&)>> steps = {
      [](const Tensor& x) { return hardtanh(x); }, [](const Tensor& x) { return relu6(x); },
      [](const Tensor& x) { return hardsigmoid(x); }};
  for (const auto& f : steps) {
    Tensor x = tensor({-2.0, 0.5, 1.0, INFINITY, -INFINITY, nan, 3.0, 6.0}, kFloat64).requires_grad_();
    const Tensor g = dydx::grad({f(x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
    ASSERT_TRUE(g.requires_grad());
    const Tensor plain = dydx::grad({f(x).sum()}, {x})[0];
    EXPECT_TRUE(equal(g.detach(), plain));
    const Tensor second = dydx::grad({g.sum()}, {x})[0];
    EXPECT_TRUE(HasValues(second, std::vector<double>(8, 0.0), 0));
  }
}

TEST(Activations, HardOnesGradFnNamesAreTorchs) {
  Tensor x = sample();
  EXPECT_EQ(node_name(hardtanh(x)), "HardtanhBackward0");
  EXPECT_EQ(node_name(relu6(x)), "HardtanhBackward0");  // PyTorch's relu6 is hardtanh(x, 0, 6)
  EXPECT_EQ(node_name(hardsigmoid(x)), "HardsigmoidBackward0");
  EXPECT_EQ(node_name(hardswish(x)), "HardswishBackward0");
  EXPECT_EQ(node_name(selu(x)), "EluBackward0");  // PyTorch's selu calls elu
  EXPECT_EQ(node_name(mish(x)), "MishBackward0");
  EXPECT_EQ(node_name(logsigmoid(x)), "LogSigmoidBackward0");
}

// hardtanh keeps integers, truncating its bounds to them (PyTorch: [-3, 0, 3] -> [-1, 0, 2]) and
// refuses bool; the others have no integer kernels in PyTorch.
TEST(Activations, HardtanhKeepsIntegersTheOthersRefuseThem) {
  Tensor i = tensor({-3.0, 0.0, 3.0}).to(kInt64);
  Tensor y = hardtanh(i, -1.5, 2.5);
  EXPECT_EQ(y.dtype(), kInt64);
  EXPECT_TRUE(HasValues(y, {-1, 0, 2}, 0));
  EXPECT_TRUE(HasValues(relu6(tensor({-3.0, 0.0, 7.0}).to(kInt64)), {0, 0, 6}, 0));
  EXPECT_DYDX_ERROR(hardtanh(tensor({1.0}).to(kBool)), "hardtanh", "Bool");
  EXPECT_DYDX_ERROR(hardsigmoid(i), "hardsigmoid", "int64");
  EXPECT_DYDX_ERROR(hardswish(i), "hardswish", "int64");
  EXPECT_DYDX_ERROR(selu(i), "elu", "int64");
  EXPECT_DYDX_ERROR(mish(i), "mish", "int64");
  EXPECT_DYDX_ERROR(logsigmoid(i), "log_sigmoid", "int64");
  EXPECT_EQ(hardswish(ones({2}, kFloat64)).dtype(), kFloat64);
}

// The in-place functions give the out-of-place op's values, gradient and grad_fn, and raise before
// writing.
TEST(InPlaceUnary, ActivationFunctionsMatchTheOutOfPlaceOp) {
  struct Case {
    const char* name;
    Tensor& (*in_place)(Tensor&);
    Tensor (*out_of_place)(const Tensor&);
  };
  const std::vector<Case> cases = {
      {"hardtanh_", [](Tensor& t) -> Tensor& { return hardtanh_(t, -0.5, 1.0); }, [](const Tensor& t) { return hardtanh(t, -0.5, 1.0); }},
      {"relu6_", [](Tensor& t) -> Tensor& { return relu6_(t); }, [](const Tensor& t) { return relu6(t); }},
      {"hardsigmoid_", [](Tensor& t) -> Tensor& { return hardsigmoid_(t); }, [](const Tensor& t) { return hardsigmoid(t); }},
      {"hardswish_", [](Tensor& t) -> Tensor& { return hardswish_(t); }, [](const Tensor& t) { return hardswish(t); }},
      {"selu_", [](Tensor& t) -> Tensor& { return selu_(t); }, [](const Tensor& t) { return selu(t); }},
      {"mish_", [](Tensor& t) -> Tensor& { return mish_(t); }, [](const Tensor& t) { return mish(t); }},
      {"silu_", [](Tensor& t) -> Tensor& { return silu_(t); }, [](const Tensor& t) { return silu(t); }},
      {"elu_", [](Tensor& t) -> Tensor& { return elu_(t, 0.5); }, [](const Tensor& t) { return elu(t, 0.5); }},
      // PyTorch's elu_ and leaky_relu_ raise in backward for a negative alpha or slope (their node
      // reads the result); these read a copy of the input and give the gradient.
      {"elu_", [](Tensor& t) -> Tensor& { return elu_(t, -0.5); }, [](const Tensor& t) { return elu(t, -0.5); }},
      {"leaky_relu_", [](Tensor& t) -> Tensor& { return leaky_relu_(t, 0.2); }, [](const Tensor& t) { return leaky_relu(t, 0.2); }},
      {"leaky_relu_", [](Tensor& t) -> Tensor& { return leaky_relu_(t, -0.1); }, [](const Tensor& t) { return leaky_relu(t, -0.1); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor x = tensor({-4.0, -0.75, 0.5, 7.0}, kFloat64).requires_grad_();
    Tensor want = c.out_of_place(x);
    Tensor want_grad = grad_of(want, x);
    Tensor y = x * 1.0;
    const int64_t version = y._version();
    Tensor& same = c.in_place(y);
    EXPECT_EQ(&same, &y);
    EXPECT_EQ(y._version(), version + 1);
    EXPECT_TRUE(HasValues(y, want.to_vector<double>(), 0));
    EXPECT_EQ(node_name(y), node_name(want));
    EXPECT_TRUE(HasValues(grad_of(y, x), want_grad.to_vector<double>(), 1e-15));
    Tensor leaf = tensor({1.0, 2.0}).requires_grad_();
    EXPECT_DYDX_ERROR(c.in_place(leaf), c.name, "leaf");
    EXPECT_TRUE(HasValues(leaf, {1, 2}, 0));
    EXPECT_EQ(leaf._version(), 0);
  }
  Tensor i = tensor({-1.0, 2.0}).to(kInt64);
  EXPECT_DYDX_ERROR(selu_(i), "elu", "int64");
  EXPECT_DYDX_ERROR(hardswish_(i), "hardswish", "int64");
  EXPECT_DYDX_ERROR(mish_(i), "mish", "int64");
  EXPECT_DYDX_ERROR(silu_(i), "silu", "int64");
  EXPECT_TRUE(HasValues(i, {-1, 2}, 0));
  EXPECT_EQ(i._version(), 0);
  hardtanh_(i, 0, 1);  // integers into an integer tensor
  EXPECT_TRUE(HasValues(i, {0, 1}, 0));
}

std::string printed(const nn::Module& m) {
  std::ostringstream s;
  s << m;
  return s.str();
}

// The modules print as libtorch's (Hardsigmoid and Hardswish, which libtorch lacks, as ReLU6), take
// its options and forward to the functions, in place where asked.
TEST(ActivationModules, OptionsPrintingAndForward) {
  EXPECT_EQ(printed(*nn::Hardtanh()), "dydx::nn::Hardtanh(min_val=-1, max_val=1)");
  // libtorch's text for these (checked against libtorch 1.13): the bounds as an ostream writes doubles.
  EXPECT_EQ(printed(*nn::Hardtanh(nn::HardtanhOptions().min_val(0.1).max_val(1e20))), "dydx::nn::Hardtanh(min_val=0.1, max_val=1e+20)");
  EXPECT_EQ(printed(*nn::Hardtanh(nn::HardtanhOptions().min_val(-1.0 / 3).max_val(123456789.0))),
            "dydx::nn::Hardtanh(min_val=-0.333333, max_val=1.23457e+08)");
  EXPECT_DYDX_ERROR(nn::Hardtanh(nn::HardtanhOptions().min_val(kNan).max_val(1)), "max_val must be greater than min_val");
  nn::Hardtanh bounded(nn::HardtanhOptions().min_val(-2).max_val(3.5).inplace(true));
  EXPECT_EQ(printed(*bounded), "dydx::nn::Hardtanh(min_val=-2, max_val=3.5, inplace=true)");
  EXPECT_DYDX_ERROR(nn::Hardtanh(nn::HardtanhOptions().min_val(1).max_val(1)), "max_val", "min_val");
  EXPECT_EQ(printed(*nn::ReLU6()), "dydx::nn::ReLU6()");
  EXPECT_EQ(printed(*nn::ReLU6(true)), "dydx::nn::ReLU6(inplace=true)");
  EXPECT_EQ(printed(*nn::Hardsigmoid()), "dydx::nn::Hardsigmoid()");
  EXPECT_EQ(printed(*nn::Hardswish(nn::HardswishOptions().inplace(true))), "dydx::nn::Hardswish(inplace=true)");
  EXPECT_EQ(printed(*nn::SELU()), "dydx::nn::SELU()");
  EXPECT_EQ(printed(*nn::Mish()), "dydx::nn::Mish()");
  EXPECT_EQ(printed(*nn::LogSigmoid()), "dydx::nn::LogSigmoid()");

  Tensor x = tensor({-5.0, -1.0, 0.5, 5.0}, kFloat64);
  EXPECT_TRUE(HasValues(nn::Hardtanh()(x), hardtanh(x).to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(nn::ReLU6()(x), relu6(x).to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(nn::Hardsigmoid()(x), hardsigmoid(x).to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(nn::Hardswish()(x), hardswish(x).to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(nn::SELU()(x), selu(x).to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(nn::Mish()(x), mish(x).to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(nn::LogSigmoid()(x), logsigmoid(x).to_vector<double>(), 0));
  Tensor written = x.clone();
  Tensor out = bounded(written);
  EXPECT_EQ(out.data_ptr<double>(), written.data_ptr<double>());  // in place: the input itself
  EXPECT_TRUE(HasValues(written, {-2, -1, 0.5, 3.5}, 0));
  written = x.clone();
  nn::SELU(true)(written);
  EXPECT_TRUE(HasValues(written, selu(x).to_vector<double>(), 0));
}

}  // namespace
