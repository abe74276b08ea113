// dydx::nn::functional's losses: values and input gradients against PyTorch 1.13 (loss_goldens.txt,
// from make_loss_goldens.py), every loss's first and second derivatives in both modes against
// finite differences (float64), the options' libtorch spelling, and the errors on bad input.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "golden_text.hpp"
#include "test_util.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

// ---- goldens ----

struct LossCase {
  std::string key, loss, reduction;
  std::map<std::string, double> options;  // beta, delta, ignore_index, label_smoothing
  std::map<std::string, Tensor> tensors;  // input, target (float64 or int64), weight, pos_weight, out, grad
};

std::vector<LossCase> loss_cases() {
  std::vector<LossCase> cases;
  for (const std::string& line : golden_lines("loss_goldens.txt")) {
    std::stringstream words(line);
    LossCase c;
    words >> c.key;
    std::stringstream parts(c.key);
    std::getline(parts, c.loss, ':');
    std::getline(parts, c.reduction, ':');
    for (std::string option; std::getline(parts, option, ':');)
      c.options[option.substr(0, option.find('='))] = std::stod(option.substr(option.find('=') + 1));
    for (std::string field, shape, values; words >> field >> shape >> values;) {
      const bool integer = field == "target_int64";
      c.tensors[integer ? "target" : field] = golden_tensor(shape, values, integer ? kInt64 : kFloat64);
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

using Reduction = F::MSELossFuncOptions::reduction_t;
Reduction reduction_of(const std::string& name) {
  if (name == "none") return kNone;
  if (name == "sum") return kSum;
  return kMean;
}

Tensor optional(const LossCase& c, const std::string& name) {
  auto it = c.tensors.find(name);
  return it == c.tensors.end() ? Tensor() : it->second;
}

// The case's loss of input, with the case's target and options, through dydx.
Tensor apply(const LossCase& c, const Tensor& input) {
  const Tensor& target = c.tensors.at("target");
  const Reduction r = reduction_of(c.reduction);
  auto option = [&](const std::string& name, double fallback) {
    auto it = c.options.find(name);
    return it == c.options.end() ? fallback : it->second;
  };
  if (c.loss == "mse_loss") return F::mse_loss(input, target, F::MSELossFuncOptions().reduction(r));
  if (c.loss == "l1_loss") return F::l1_loss(input, target, F::L1LossFuncOptions().reduction(r));
  if (c.loss == "smooth_l1_loss")
    return F::smooth_l1_loss(input, target, F::SmoothL1LossFuncOptions().reduction(r).beta(option("beta", 1)));
  if (c.loss == "huber_loss")
    return F::huber_loss(input, target, F::HuberLossFuncOptions().reduction(r).delta(option("delta", 1)));
  if (c.loss == "binary_cross_entropy")
    return F::binary_cross_entropy(input, target, F::BinaryCrossEntropyFuncOptions().reduction(r).weight(optional(c, "weight")));
  if (c.loss == "binary_cross_entropy_with_logits")
    return F::binary_cross_entropy_with_logits(
        input, target,
        F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(r).weight(optional(c, "weight")).pos_weight(optional(c, "pos_weight")));
  const auto ignore = static_cast<int64_t>(option("ignore_index", -100));
  if (c.loss == "nll_loss")
    return F::nll_loss(input, target, F::NLLLossFuncOptions().reduction(r).weight(optional(c, "weight")).ignore_index(ignore));
  if (c.loss == "cross_entropy")
    return F::cross_entropy(input, target,
                            F::CrossEntropyFuncOptions()
                                .reduction(r)
                                .weight(optional(c, "weight"))
                                .ignore_index(ignore)
                                .label_smoothing(option("label_smoothing", 0)));
  throw std::runtime_error("loss_goldens.txt names an unknown loss: " + c.loss);
}

// Where dydx's gradient deliberately differs from PyTorch's, at input element x:
// - smooth_l1_loss with beta = 0 where input - target is 0 or nan: PyTorch 1.13's backward gives -1
//   and nan there; dydx's is l1_loss's (0 at the kink, as abs, and 0 at a nan: l1_loss's in both libraries).
bool deliberate_gradient_deviation(const LossCase& c, size_t i) {
  const double x = c.tensors.at("input").to_vector<double>()[i];
  if (c.loss == "smooth_l1_loss" && c.options.at("beta") == 0) {
    const Tensor& target = c.tensors.at("target");
    const double d = x - target.expand(c.tensors.at("input").sizes()).contiguous().to_vector<double>()[i];
    return d == 0 || std::isnan(d);
  }
  return false;
}

// nan matches nan, infinities match exactly, finite values to rounding (zeros of either sign);
// elements where skip(i) are not compared.
::testing::AssertionResult SameValues(const Tensor& got, const Tensor& want,
                                      const std::function<bool(size_t)>& skip = [](size_t) { return false; }) {
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << got.sizes() << ", PyTorch's " << want.sizes();
  std::vector<double> g = got.to(kFloat64).to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    if (skip(i)) continue;
    const bool same = std::isnan(w[i]) ? std::isnan(g[i])
                      : std::isinf(w[i]) ? g[i] == w[i]
                                         : std::abs(g[i] - w[i]) <= 1e-12 * std::max(1.0, std::abs(w[i]));
    if (!same) return ::testing::AssertionFailure() << "element " << i << " is " << g[i] << ", PyTorch's " << w[i];
  }
  return ::testing::AssertionSuccess();
}

TEST(LossGoldens, EveryLossAndReductionMatchesPyTorch) {
  const std::vector<LossCase> cases = loss_cases();
  ASSERT_GT(cases.size(), 100u);
  std::set<std::string> losses;
  for (const LossCase& c : cases) {
    SCOPED_TRACE(c.key + " on input " + c.tensors.at("input").shape_string());
    losses.insert(c.loss);
    Tensor input = c.tensors.at("input").clone().requires_grad_();
    Tensor out = apply(c, input);
    EXPECT_TRUE(SameValues(out, c.tensors.at("out"))) << "value";
    Tensor g = grad({out}, {input}, {ones_like(out)})[0];
    EXPECT_TRUE(SameValues(g, c.tensors.at("grad"), [&](size_t i) { return deliberate_gradient_deviation(c, i); }))
        << "gradient";
  }
  EXPECT_EQ(losses.size(), 8u);
}

// ---- derivatives against finite differences ----

double inner_product(const Tensor& a, const Tensor& b) { return (a.to(kFloat64) * b.to(kFloat64)).sum().item<double>(); }

// First and second derivatives of <c, loss(x)> for a random cotangent c: reverse mode, forward
// mode, double backward and forward over reverse, each against central differences along v.
void check_derivatives(const std::function<Tensor(const Tensor&)>& loss, const Tensor& x0, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  auto random_like = [&](const Tensor& t) {
    std::vector<double> values(t.numel());
    for (double& v : values) v = normal(rng);
    return tensor(values, kFloat64).reshape(t.sizes());
  };
  const Tensor out0 = loss(x0);
  const Tensor c = random_like(out0), v = random_like(x0);
  auto scalar = [&](const Tensor& x) { return inner_product(c, loss(x)); };
  const double h = 1e-5;
  const double fd = (scalar(x0 + v * h) - scalar(x0 - v * h)) / (2 * h);
  auto gradient = [&](const Tensor& x, bool create) {
    Tensor leaf = x.detach().requires_grad_();
    Tensor g = grad({(loss(leaf) * c).sum()}, {leaf}, {}, std::nullopt, create)[0];
    return std::make_pair(leaf, g);
  };
  // Reverse mode.
  EXPECT_NEAR(inner_product(gradient(x0, false).second, v), fd, 1e-7 * (1 + std::abs(fd))) << "VJP";
  // Forward mode.
  {
    forward_ad::DualLevel level;
    Tensor t = forward_ad::unpack_dual(loss(forward_ad::make_dual(x0, v))).tangent;
    EXPECT_NEAR(inner_product(c, t), fd, 1e-7 * (1 + std::abs(fd))) << "JVP";
  }
  // Second order: H v by differences of the gradient, by double backward, and by forward over reverse.
  const Tensor hv_fd = (gradient(x0 + v * h, false).second - gradient(x0 - v * h, false).second) / (2 * h);
  auto [leaf, g] = gradient(x0, true);
  // A gradient that does not depend on x (a loss linear in it) has no graph: H = 0.
  Tensor hv = g.requires_grad() ? grad({(g * v).sum()}, {leaf}, {}, std::nullopt, false, true)[0] : Tensor();
  if (!hv.defined()) hv = zeros_like(x0);
  EXPECT_TRUE(allclose(hv, hv_fd, 1e-5, 1e-6)) << "double backward\n" << hv << "\n" << hv_fd;
  {
    forward_ad::DualLevel level;
    Tensor primal = x0.detach().requires_grad_();
    Tensor dual = forward_ad::make_dual(primal, v);
    Tensor gd = grad({(loss(dual) * c).sum()}, {dual})[0];
    Tensor t = forward_ad::unpack_dual(gd).tangent;
    if (!t.defined()) t = zeros_like(x0);
    EXPECT_TRUE(allclose(t, hv_fd, 1e-5, 1e-6)) << "forward over reverse\n" << t << "\n" << hv_fd;
  }
}

TEST(LossDerivatives, EveryLossMatchesFiniteDifferencesInBothModesToSecondOrder) {
  std::set<std::string> checked, losses;
  for (const LossCase& c : loss_cases()) {
    const Tensor& x = c.tensors.at("input");
    const std::vector<double> values = x.to_vector<double>();
    // Smooth points only: no edge values, and (for the piecewise losses) no kinks within reach of the differences.
    bool smooth = true;
    for (double value : values) smooth = smooth && std::isfinite(value) && std::abs(value) < 50;
    if (c.loss == "binary_cross_entropy")
      for (double value : values) smooth = smooth && value > 1e-3 && value < 1 - 1e-3;
    if (!smooth) continue;
    SCOPED_TRACE(c.key + " on input " + x.shape_string());
    check_derivatives([&](const Tensor& in) { return apply(c, in); }, x, std::hash<std::string>{}(c.key));
    checked.insert(c.key);
    losses.insert(c.loss);
  }
  EXPECT_GE(checked.size(), 45u);  // every loss, reduction and option
  EXPECT_EQ(losses.size(), 8u);
}

// ---- spelling, edge values and errors ----

TEST(Losses, OptionsTakeLibtorchsSpelling) {
  Tensor x = tensor({0.5, -1.0, 2.0}, kFloat64), y = tensor({0.0, 1.0, 1.0}, kFloat64);
  EXPECT_TRUE(HasValues(F::mse_loss(x, y, dydx::kSum), {0.25 + 4 + 1}, 1e-15));
  EXPECT_TRUE(HasValues(F::mse_loss(x, y, F::MSELossFuncOptions(dydx::kNone)), {0.25, 4, 1}, 1e-15));
  EXPECT_TRUE(HasValues(F::l1_loss(x, y), {(0.5 + 2 + 1) / 3}, 1e-15));
  auto options = F::CrossEntropyFuncOptions().label_smoothing(0.1).ignore_index(-100);
  EXPECT_EQ(options.label_smoothing(), 0.1);
  EXPECT_EQ(options.ignore_index(), -100);
  EXPECT_TRUE(std::holds_alternative<enumtype::kMean>(options.reduction()));
}

TEST(Losses, AllTargetsIgnoredGiveNanMeanAsPyTorch) {
  Tensor logits = tensor({1.0, 2.0, 3.0, 0.0, 0.0, 0.0}, kFloat64).reshape({2, 3});
  Tensor ignored = full({2}, -100, kInt64);
  EXPECT_TRUE(std::isnan(F::cross_entropy(logits, ignored).item<double>()));
  EXPECT_EQ(F::cross_entropy(logits, ignored, F::CrossEntropyFuncOptions().reduction(kSum)).item<double>(), 0.0);
}

// PyTorch's binary_cross_entropy gradient is (x - y) / max(x (1 - x), 1e-12) everywhere, so that a
// prediction of exactly 0 for a positive target (or 1 for a negative one), where the loss is
// largest, still gets a gradient (-1e12), and near 0 it is clamped (not -1/x); the float32 loss at
// 0 and 1 is exactly 100 (the log clamped in float32). Numbers from PyTorch 1.13, weighted, with
// every reduction, in float32 and float64.
TEST(Losses, BinaryCrossEntropyAtZeroAndOneMatchesPyTorchInBothDtypes) {
  struct Want {
    ScalarType dtype;
    Reduction reduction;
    std::vector<double> out, grad;
  };
  const std::vector<Want> wants = {
      {kFloat32, kNone, {50.0, 200.0, 69.07755279541016, 47.82715606689453, 0.0, -0.0},
       {-499999997952.0, 1999999991808.0, -999999995904.0, 25165824.0, 0.0, 0.0}},
      {kFloat32, kMean, {61.15078353881836}, {-83333332992.0, 333333331968.0, -166666665984.0, 4194304.0, 0.0, 0.0}},
      {kFloat32, kSum, {366.9046936035156}, {-499999997952.0, 1999999991808.0, -999999995904.0, 25165824.0, 0.0, 0.0}},
      {kFloat64, kNone, {50.0, 200.0, 69.07755278982137, 48.354286954454025, 0.0, -0.0},
       {-500000001997.9014, 2000000007991.6057, -1000000003995.8029, 30000000.01579067, 0.0, 0.0}},
      {kFloat64, kMean, {61.238639957379235},
       {-83333333666.31691, 333333334665.26764, -166666667332.63382, 5000000.002631779, 0.0, 0.0}},
      {kFloat64, kSum, {367.4318397442754},
       {-500000001997.9014, 2000000007991.6057, -1000000003995.8029, 30000000.01579067, 0.0, 0.0}},
  };
  for (const Want& want : wants) {
    SCOPED_TRACE(std::string(dtype_name(want.dtype)) + " reduction " + std::to_string(want.reduction.index()));
    const double tolerance = want.dtype == kFloat32 ? 1e-6 : 1e-12;
    Tensor x = tensor({0.0, 1.0, 1e-30, 1 - 1e-7, 0.0, 1.0}, want.dtype).requires_grad_();
    Tensor y = tensor({1.0, 0.0, 1.0, 0.0, 0.0, 1.0}, want.dtype);
    Tensor w = tensor({0.5, 2.0, 1.0, 3.0, 1.0, 1.0}, want.dtype);
    Tensor out = F::binary_cross_entropy(x, y, F::BinaryCrossEntropyFuncOptions().weight(w).reduction(want.reduction));
    EXPECT_TRUE(HasValues(out.reshape({-1}).to(kFloat64), want.out, tolerance));
    EXPECT_TRUE(HasValues(grad({out.sum()}, {x})[0].to(kFloat64), want.grad, tolerance));
  }
  // Exactly 100 at 0 and 1 in float32, with or without history.
  Tensor x = tensor({0.0, 1.0}, kFloat32), y = tensor({1.0, 0.0}, kFloat32);
  EXPECT_EQ(F::binary_cross_entropy(x, y, kNone).to_vector<float>(), (std::vector<float>{100, 100}));
  EXPECT_EQ(F::binary_cross_entropy(x.requires_grad_(), y, kNone).to_vector<float>(),
            (std::vector<float>{100, 100}));
}

// Beyond x (1 - x) = eps (1e-12f) the input gradient is linear in x, (x - y) / eps, and the second
// derivative is its slope, 1 / eps, in double backward and in forward over reverse alike; the target's
// gradient is that of the clamped value (-logit(x) as PyTorch where the log is not clamped).
TEST(Losses, BinaryCrossEntropyDerivativesAtTheEdgesAreConsistent) {
  const double eps = static_cast<double>(1e-12f);  // PyTorch's EPSILON, a float
  Tensor x = tensor({0.0, 1e-13, 0.3}, kFloat64).requires_grad_();
  Tensor y = tensor({1.0, 0.0, 0.2}, kFloat64).requires_grad_();
  Tensor out = F::binary_cross_entropy(x, y, kSum);
  std::vector<Tensor> g = grad({out}, {x, y}, {}, std::nullopt, /*create_graph=*/true);
  EXPECT_TRUE(HasValues(g[0], {-1 / eps, 1e-13 / eps, 0.1 / 0.21}, 1e-12));
  EXPECT_TRUE(HasValues(g[1], {100.0, -std::log(1e-13) + std::log1p(-1e-13), -std::log(0.3 / 0.7)}, 1e-12));
  Tensor hessian_diagonal = grad({g[0].sum()}, {x})[0];
  EXPECT_TRUE(HasValues(hessian_diagonal, {1 / eps, 1 / eps, 0.2 / 0.09 + 0.8 / 0.49}, 1e-12));
  forward_ad::DualLevel level;
  Tensor tangent = forward_ad::unpack_dual(F::binary_cross_entropy(
                                               forward_ad::make_dual(x.detach(), ones({3}, kFloat64)), y.detach(), kNone))
                       .tangent;
  EXPECT_TRUE(HasValues(tangent, {-1 / eps, 1e-13 / eps, 0.1 / 0.21}, 1e-12));
}

// Second order at the clamp (x (1 - x) <= eps): the input gradient (x - y) / eps, PyTorch 1.13's
// first-order value at x in {0, 1, 1e-30, 1 - 1e-16}, has y-slope -1 / eps; double backward gives
// that mixed derivative in both orders (PyTorch: -1e12 for d(grad_x)/dy; -1 / (x (1 - x)) for
// d(grad_y)/dx, a documented deviation), forward over reverse too, and a finite difference of the
// input gradient in y agrees. (It was 0: the target was detached in the carrier's quadratic.)
TEST(Losses, BinaryCrossEntropyMixedSecondDerivativeAtTheClampIsTheInputGradientsSlope) {
  const double eps = static_cast<double>(1e-12f);
  const std::vector<double> xs = {0.0, 1.0, 1e-30, 1 - 1e-16};
  const std::vector<double> ys = {0.3, 0.7, 1.0, 0.0};
  // PyTorch 1.13, float64, reduction sum: d loss / dx at (xs, ys).
  const std::vector<double> torch_grad_x = {-300000001198.74084, 300000001198.74084, -1000000003995.8029,
                                            1000000003995.8027};
  Tensor x = tensor(xs, kFloat64).requires_grad_(), y = tensor(ys, kFloat64).requires_grad_();
  auto loss = [](const Tensor& a, const Tensor& b) { return F::binary_cross_entropy(a, b, kSum); };
  std::vector<Tensor> g = grad({loss(x, y)}, {x, y}, {}, std::nullopt, /*create_graph=*/true);
  EXPECT_TRUE(HasValues(g[0], torch_grad_x, 1e-15));
  EXPECT_TRUE(HasValues(g[1], {100.0, -100.0, -std::log(1e-30), std::log(1.1102230246251565e-16)}, 1e-14));
  const std::vector<double> slope(4, -1 / eps);
  EXPECT_TRUE(HasValues(grad({g[0].sum()}, {y}, {}, true)[0], slope, 1e-12));
  EXPECT_TRUE(HasValues(grad({g[1].sum()}, {x}, {}, true)[0], slope, 1e-12));
  EXPECT_TRUE(HasValues(grad({g[0].sum()}, {x}, {}, true)[0], std::vector<double>(4, 1 / eps), 1e-12));
  // The input gradient's finite difference in y (it is linear in y there).
  const double h = 1e-3;
  Tensor up = grad({loss(x, (y + h).detach())}, {x})[0], down = grad({loss(x, (y - h).detach())}, {x})[0];
  EXPECT_TRUE(HasValues((up - down) / (2 * h), slope, 1e-6));
  // Forward over reverse: the tangent of grad_x along y.
  {
    forward_ad::DualLevel level;
    Tensor xd = x.detach().requires_grad_();
    Tensor yd = forward_ad::make_dual(y.detach(), ones({4}, kFloat64));
    Tensor gx = grad({loss(xd, yd)}, {xd}, {}, std::nullopt, true)[0];
    EXPECT_TRUE(HasValues(forward_ad::unpack_dual(gx).tangent, slope, 1e-12));
  }
  x.set_grad(Tensor());
  y.set_grad(Tensor());
}

// An infinite delta (beta) leaves only the quadratic part: PyTorch 1.13 gives huber_loss(1, 0,
// delta=inf) = 0.5 with gradient 1, and smooth_l1_loss(1, 0, beta=inf) = 0 (0.5 d^2 / inf).
// huber_loss gave nan (its linear part (d - min(d, delta)) * delta was 0 * inf).
TEST(Losses, HuberAndSmoothL1WithAnInfiniteThresholdMatchPyTorch) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = tensor({1.0, -3.0}, kFloat64).requires_grad_();
  Tensor huber = F::huber_loss(x, zeros({2}, kFloat64), F::HuberLossFuncOptions().delta(inf).reduction(kSum));
  EXPECT_TRUE(HasValues(huber, {0.5 + 4.5}, 0));
  EXPECT_TRUE(HasValues(grad({huber}, {x})[0], {1.0, -3.0}, 0));
  Tensor smooth = F::smooth_l1_loss(x, zeros({2}, kFloat64), F::SmoothL1LossFuncOptions().beta(inf).reduction(kSum));
  EXPECT_TRUE(HasValues(smooth, {0.0}, 0));
  EXPECT_TRUE(HasValues(grad({smooth}, {x})[0], {0.0, 0.0}, 0));
}

// binary_cross_entropy_with_logits at extreme logits, against the loss and its gradient in long
// double: (1 - t) softplus(x) + p t softplus(-x) and sigmoid(x) (1 - t) - sigmoid(-x) p t. Tiny losses
// and gradients (x = -30, t = 0: 9.4e-14) keep their digits in float32, where 1 - sigmoid(-x) gave 0
// (and PyTorch's loss gives 0 for x = 20, t = 1); a logit of -inf with a positive target costs inf.
TEST(Losses, BinaryCrossEntropyWithLogitsKeepsTinyLossesAndGradients) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> xs = {-1e4, -100, -30, -20, -1, -1e-8, 0, 1e-8, 1, 20, 30, 100, 1e4};
  auto softplus_ld = [](long double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); };
  auto sigmoid_ld = [](long double v) { return 1 / (1 + std::exp(-v)); };
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const double tol = dtype == kFloat32 ? 4e-7 : 1e-15;
    // Subnormal results (e^-100 in float32) round to a multiple of the smallest subnormal, before
    // pos_weight multiplies them.
    const double spacing = dtype == kFloat32 ? 0x1p-149 : 0x1p-1074;
    for (double t : {0.0, 0.3, 1.0}) {
      for (double p : {1.0, 2.5}) {
        Tensor x = tensor(xs).to(dtype).requires_grad_();
        const Tensor target = full({static_cast<int64_t>(xs.size())}, t, dtype);
        auto options = F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(kNone);
        if (p != 1.0) options.pos_weight(full({1}, p, dtype));
        const Tensor loss = F::binary_cross_entropy_with_logits(x, target, options);
        const auto values = loss.to(kFloat64).to_vector<double>();
        const auto gradient = grad({loss.sum()}, {x})[0].to(kFloat64).to_vector<double>();
        for (size_t i = 0; i < xs.size(); ++i) {
          const long double v = dtype == kFloat32 ? static_cast<float>(xs[i]) : xs[i];
          const long double want = (1 - t) * softplus_ld(v) + p * t * softplus_ld(-v);
          const long double slope = sigmoid_ld(v) * (1 - t) - sigmoid_ld(-v) * p * t;
          EXPECT_NEAR(values[i], static_cast<double>(want), tol * static_cast<double>(std::abs(want)) + (1 + p) * spacing)
              << "x " << xs[i] << " t " << t << " p " << p;
          // (Where sigmoid(x) (1 - t) and sigmoid(-x) p t nearly cancel, the gradient is only as good
          // as each term: tolerance relative to the larger.)
          const double scale = static_cast<double>(std::max(sigmoid_ld(v) * (1 - t), sigmoid_ld(-v) * p * t));
          EXPECT_NEAR(gradient[i], static_cast<double>(slope), 2 * tol * scale + (1 + p) * spacing)
              << "x " << xs[i] << " t " << t << " p " << p;
        }
      }
    }
    Tensor x = tensor({-inf, inf}, dtype).requires_grad_();
    const Tensor loss = F::binary_cross_entropy_with_logits(x, full({2}, 0.5, dtype), F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(kNone));
    EXPECT_EQ(loss.to_vector<double>(), (std::vector<double>{inf, inf}));
    EXPECT_EQ(grad({loss.sum()}, {x})[0].to_vector<double>(), (std::vector<double>{-0.5, 0.5}));
  }
}

TEST(Losses, BadInputNamesTheLossAndWhatIsWrong) {
  Tensor logits = zeros({4, 3}, kFloat64);
  EXPECT_DYDX_ERROR(F::nll_loss(logits, tensor({0, 1, 3, 2}, kInt64).reshape({4})), "nll_loss", "target 3",
                    "out of bounds", "3 classes");
  EXPECT_DYDX_ERROR(F::cross_entropy(logits, full({4}, -1, kInt64)), "cross_entropy", "target -1");
  EXPECT_DYDX_ERROR(F::cross_entropy(logits, zeros({3}, kInt64)), "cross_entropy", "[4]", "[3]");
  EXPECT_DYDX_ERROR(F::cross_entropy(logits, zeros({4, 2}, kFloat64)), "cross_entropy", "probabilities", "[4,3]",
                    "[4,2]");
  EXPECT_DYDX_ERROR(F::nll_loss(logits, zeros({4}, kFloat64)), "nll_loss", "int64");
  EXPECT_DYDX_ERROR(F::nll_loss(logits, zeros({4}, kInt64), F::NLLLossFuncOptions().weight(ones({2}, kFloat64))),
                    "nll_loss", "weight", "[2]");
  EXPECT_DYDX_ERROR(F::mse_loss(zeros({3}, kFloat64), zeros({4}, kFloat64)), "mse_loss", "[3]", "[4]");
  EXPECT_DYDX_ERROR(F::binary_cross_entropy(tensor({0.5, 1.5}, kFloat64), zeros({2}, kFloat64)),
                    "binary_cross_entropy", "[0, 1]", "1.5");
  EXPECT_DYDX_ERROR(F::binary_cross_entropy(zeros({2}, kFloat64), zeros({3}, kFloat64)), "binary_cross_entropy",
                    "[3]", "[2]");
  EXPECT_DYDX_ERROR(F::binary_cross_entropy_with_logits(zeros({2}, kFloat64), zeros({2, 1}, kFloat64)),
                    "binary_cross_entropy_with_logits", "[2,1]", "[2]");
  // A weight that broadcasts beyond the input's shape (PyTorch: "output with shape [3] doesn't match
  // the broadcast shape [2, 3]").
  EXPECT_DYDX_ERROR(F::binary_cross_entropy_with_logits(
                        zeros({3}, kFloat64), zeros({3}, kFloat64),
                        F::BinaryCrossEntropyWithLogitsFuncOptions().weight(ones({2, 3}, kFloat64)).reduction(kNone)),
                    "binary_cross_entropy_with_logits", "[3]", "[2,3]", "weight");
  EXPECT_DYDX_ERROR(F::binary_cross_entropy_with_logits(
                        zeros({3}, kFloat64), zeros({3}, kFloat64),
                        F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(ones({2, 3}, kFloat64))),
                    "binary_cross_entropy_with_logits", "[3]", "[2,3]", "pos_weight");
  EXPECT_DYDX_ERROR(F::smooth_l1_loss(zeros({2}), zeros({2}), F::SmoothL1LossFuncOptions().beta(-1)), "smooth_l1_loss",
                    "beta");
  EXPECT_DYDX_ERROR(F::huber_loss(zeros({2}), zeros({2}), F::HuberLossFuncOptions().delta(0)), "huber_loss", "delta");
  EXPECT_DYDX_ERROR(F::cross_entropy(logits, zeros({4}, kInt64), F::CrossEntropyFuncOptions().label_smoothing(1.5)),
                    "cross_entropy", "label_smoothing");
  // Mixed dtypes where PyTorch 1.13 raises: a class weight with class-index targets, a bce target.
  EXPECT_DYDX_ERROR(F::cross_entropy(logits, zeros({4}, kInt64), F::CrossEntropyFuncOptions().weight(ones({3}))),
                    "cross_entropy", "weight", "float64", "float32");
  EXPECT_DYDX_ERROR(F::nll_loss(logits.to(kFloat32), zeros({4}, kInt64), F::NLLLossFuncOptions().weight(ones({3}, kFloat64))),
                    "nll_loss", "weight", "float32", "float64");
  EXPECT_DYDX_ERROR(F::binary_cross_entropy(full({2}, 0.5, kFloat64), zeros({2})), "binary_cross_entropy", "target",
                    "float32");
  // ... and where it promotes: a class weight with probability targets, a bce weight.
  EXPECT_NO_THROW(F::cross_entropy(logits, full({4, 3}, 1.0 / 3, kFloat64), F::CrossEntropyFuncOptions().weight(ones({3}))));
  EXPECT_NO_THROW(F::binary_cross_entropy(full({2}, 0.5, kFloat64), zeros({2}, kFloat64),
                                          F::BinaryCrossEntropyFuncOptions().weight(ones({2}))));
}

}  // namespace
}  // namespace dydx::testing
