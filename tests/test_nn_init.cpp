// nn::init: fans and gains exactly as PyTorch 1.13 computes them, the fills' bounds, means and
// variances statistically (dydx's random stream is not PyTorch's), in-place identity, no history,
// errors raised before anything is written.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "dydx/dydx.hpp"
#include "test_util.hpp"

using namespace dydx;
using dydx::testing::error_of;
namespace init = dydx::nn::init;

namespace {

double mean_of(const Tensor& t) { return t.to(kFloat64).mean().item<double>(); }
double var_of(const Tensor& t) {
  const Tensor d = t.to(kFloat64) - mean_of(t);
  return (d * d).mean().item<double>();
}

}  // namespace

TEST(NnInit, FansAsPyTorch) {
  EXPECT_EQ(init::_calculate_fan_in_and_fan_out(empty({5, 3})), std::make_tuple(int64_t{3}, int64_t{5}));
  EXPECT_EQ(init::_calculate_fan_in_and_fan_out(empty({16, 4, 3, 5})), std::make_tuple(int64_t{60}, int64_t{240}));
  EXPECT_EQ(init::_calculate_fan_in_and_fan_out(empty({2, 7, 9})), std::make_tuple(int64_t{63}, int64_t{18}));
  EXPECT_EQ(error_of([] { init::_calculate_fan_in_and_fan_out(empty({5})); }),
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got 1 dims, shape [5])");
  EXPECT_NE(error_of([] { init::_calculate_fan_in_and_fan_out(empty({})); }).find("fewer than 2 dimensions"),
            std::string::npos);
}

TEST(NnInit, GainsAsPyTorch) {
  EXPECT_EQ(init::calculate_gain(kLinear), 1.0);
  EXPECT_EQ(init::calculate_gain(kConv2D), 1.0);
  EXPECT_EQ(init::calculate_gain(kSigmoid), 1.0);
  EXPECT_EQ(init::calculate_gain(kTanh), 5.0 / 3.0);
  EXPECT_EQ(init::calculate_gain(kReLU), std::sqrt(2.0));
  EXPECT_EQ(init::calculate_gain(kLeakyReLU), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_EQ(init::calculate_gain(kLeakyReLU, std::sqrt(5.0)), std::sqrt(2.0 / 6.0));
}

TEST(NnInit, UniformAndNormal) {
  manual_seed(11);
  Tensor w = empty({200, 100});
  Tensor& same = w;
  Tensor r = init::uniform_(w, -2, 3);
  EXPECT_EQ(r.impl(), same.impl());  // in place, the same tensor returned
  EXPECT_GE(w.min().item<double>(), -2.0);
  EXPECT_LT(w.max().item<double>(), 3.0);
  EXPECT_NEAR(mean_of(w), 0.5, 0.05);
  EXPECT_NEAR(var_of(w), 25.0 / 12, 0.05 * 25 / 12);
  init::normal_(w, 1.5, 0.5);
  EXPECT_NEAR(mean_of(w), 1.5, 0.01);
  EXPECT_NEAR(var_of(w), 0.25, 0.01);
  Tensor d = empty({300, 300}, kFloat64);
  init::normal_(d);
  EXPECT_NEAR(mean_of(d), 0.0, 0.01);
  EXPECT_NEAR(var_of(d), 1.0, 0.02);
  EXPECT_NE(error_of([&] { init::normal_(w, 0, -1); }).find("std >= 0"), std::string::npos);
  EXPECT_NE(error_of([&] { init::uniform_(w, 1, 0); }).find("a <= b"), std::string::npos);
  Tensor ints = zeros({3}, kInt64);
  EXPECT_NE(error_of([&] { init::uniform_(ints); }).find("floating point"), std::string::npos);
  EXPECT_TRUE(equal(ints, zeros({3}, kInt64)));
}

// PyTorch 1.13's uniform_ bounds: each bound finite in the tensor's dtype ("to is out of bounds for
// float" for inf, 3.5e38, or 1e300 in float32) and to - from no larger than its largest value
// (-3e38, 3e38 in float32; -1e308, 1e308 in float64). dydx filled inf (or nan). A raise changes nothing.
TEST(NnInit, UniformBoundsMustBeRepresentableInTheDtype) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor f = zeros({4}), d = zeros({4}, kFloat64);
  EXPECT_DYDX_ERROR(init::uniform_(f, 0, inf), "uniform_", "b=inf", "out of bounds", "float32");
  EXPECT_DYDX_ERROR(init::uniform_(d, -inf, 0), "uniform_", "a=-inf", "out of bounds", "float64");
  EXPECT_DYDX_ERROR(init::uniform_(f, 0, 3.5e38), "uniform_", "b=3.5e+38", "out of bounds");
  EXPECT_DYDX_ERROR(init::uniform_(f, -1e300, 1e300), "uniform_", "a=-1e+300", "out of bounds");
  EXPECT_DYDX_ERROR(init::uniform_(f, -3e38, 3e38), "uniform_", "b - a", "a=-3e+38", "b=3e+38");
  EXPECT_DYDX_ERROR(init::uniform_(d, -1e308, 1e308), "uniform_", "b - a", "float64");
  EXPECT_DYDX_ERROR(init::uniform_(d, std::nan(""), 1), "uniform_");
  EXPECT_TRUE(equal(f, zeros({4})));
  EXPECT_TRUE(equal(d, zeros({4}, kFloat64)));
  // The largest representable interval is fine, and the values stay inside it.
  init::uniform_(f, -1.5e38, 1.5e38);
  for (float v : f.to_vector<float>()) EXPECT_TRUE(std::isfinite(v) && std::abs(v) <= 1.5e38f) << v;
}

TEST(NnInit, ConstantsAndEye) {
  Tensor w = empty({2, 3}).requires_grad_();
  init::constant_(w, 0.25);
  EXPECT_TRUE(equal(w, full({2, 3}, 0.25)));
  // A leaf that requires grad is filled under no_grad and stays a leaf without history.
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  init::ones_(w);
  EXPECT_TRUE(equal(w, ones({2, 3})));
  init::zeros_(w);
  EXPECT_TRUE(equal(w, zeros({2, 3})));
  init::eye_(w);
  EXPECT_TRUE(equal(w, tensor({{1.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}})));
  EXPECT_NE(error_of([] { init::eye_(empty({2, 2, 2})); }).find("Only tensors with 2 dimensions are supported"),
            std::string::npos);
  Tensor ints = zeros({2}, kInt64);
  init::constant_(ints, 3);
  EXPECT_TRUE(equal(ints, full({2}, 3, kInt64)));
  // A strided view is filled in place, the rest of its base untouched.
  Tensor base = zeros({4, 4});
  Tensor col = base.select(1, 2);
  init::ones_(col);
  EXPECT_EQ(base.sum().item<double>(), 4.0);
  EXPECT_EQ(base.select(1, 2).sum().item<double>(), 4.0);
}

TEST(NnInit, XavierAndKaimingBoundsAndVariances) {
  manual_seed(12);
  Tensor w = empty({400, 300});
  const double fan_in = 300, fan_out = 400;
  init::xavier_uniform_(w, 2.0);
  double bound = 2.0 * std::sqrt(6.0 / (fan_in + fan_out));
  EXPECT_LE(w.abs().max().item<double>(), bound);
  EXPECT_GT(w.abs().max().item<double>(), 0.99 * bound);
  EXPECT_NEAR(var_of(w), bound * bound / 3, 0.02 * bound * bound / 3);
  init::xavier_normal_(w);
  EXPECT_NEAR(var_of(w), 2.0 / (fan_in + fan_out), 0.02 * 2.0 / (fan_in + fan_out));
  init::kaiming_uniform_(w, 0, kFanIn, kReLU);
  bound = std::sqrt(2.0) * std::sqrt(3.0 / fan_in);
  EXPECT_LE(w.abs().max().item<double>(), bound);
  EXPECT_GT(w.abs().max().item<double>(), 0.99 * bound);
  init::kaiming_uniform_(w, 0.2, kFanOut);  // leaky_relu with slope 0.2 over fan_out
  bound = std::sqrt(2.0 / 1.04) * std::sqrt(3.0 / fan_out);
  EXPECT_LE(w.abs().max().item<double>(), bound);
  EXPECT_GT(w.abs().max().item<double>(), 0.99 * bound);
  init::kaiming_normal_(w, 0, kFanOut, kTanh);
  const double var = (5.0 / 3.0) * (5.0 / 3.0) / fan_out;
  EXPECT_NEAR(var_of(w), var, 0.02 * var);
  EXPECT_NEAR(mean_of(w), 0.0, 0.01 * std::sqrt(var) * 10);
  // A 4-D convolution weight: receptive field counts in the fan.
  Tensor k = empty({32, 8, 3, 3}, kFloat64);
  init::kaiming_uniform_(k, std::sqrt(5.0));
  EXPECT_LE(k.abs().max().item<double>(), 1.0 / std::sqrt(72.0));
  EXPECT_GT(k.abs().max().item<double>(), 0.98 / std::sqrt(72.0));
}

TEST(NnInit, ErrorsAndZeroElementTensors) {
  Tensor v = zeros({5});
  EXPECT_NE(error_of([&] { init::xavier_uniform_(v); }).find("fewer than 2 dimensions"), std::string::npos);
  EXPECT_NE(error_of([&] { init::kaiming_normal_(v); }).find("fewer than 2 dimensions"), std::string::npos);
  EXPECT_TRUE(equal(v, zeros({5})));  // nothing written
  EXPECT_NE(error_of([] { init::ones_(Tensor()); }).find("undefined"), std::string::npos);
  // Zero-element tensors are a no-op, as PyTorch (which warns).
  Tensor e = empty({0, 3});
  EXPECT_EQ(init::kaiming_uniform_(e).numel(), 0);
  EXPECT_EQ(init::kaiming_normal_(e).numel(), 0);
  EXPECT_EQ(init::uniform_(e).numel(), 0);
}
