// conv, pooling, unfold and fold at the edges of their geometry: no input channels, an empty kernel,
// and kernel, padding, dilation, stride or output sizes near INT64_MAX, whose size arithmetic
// used to divide by zero, loop for ever or wrap around (adversarial findings 1-4 and 7). Each such
// call either computes the right result or raises a dydx::Error naming the op and the values as
// given, never wrapped ones.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace dydx {
namespace {

namespace F = nn::functional;
using testing::ThrowsWith;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// ---- no input channels: a sum over no channels, so the output is the bias (or zeros) ----

// x [2, 0, 5, 5] (and [2, 0, 5] for conv1d): the output has the weight's out channels, each the bias;
// grad_x and grad_w are empty, grad_b the cotangent's sum over batch and positions. PyTorch 1.13
// agrees on the gradients (grad_b = sum g) but returns a [N, 0, OH, OW] output, dropping the bias.
TEST(ConvLimits, NoInputChannelsGivesTheBiasAndItsGradients) {
  for (bool create_graph : {false, true}) {
    Tensor x = randn({2, 0, 5, 5}, kFloat64).requires_grad_();
    Tensor w = randn({4, 0, 3, 3}, kFloat64).requires_grad_();
    Tensor b = tensor({0.5, -1.0, 2.0, 3.0}, kFloat64).requires_grad_();
    Tensor y = conv2d(x, w, b, 1, 1);
    ASSERT_EQ(y.sizes(), (Dims{2, 4, 5, 5}));
    EXPECT_TRUE(equal(y.detach(), b.detach().reshape({1, 4, 1, 1}).expand({2, 4, 5, 5})));
    Tensor g = randn({2, 4, 5, 5}, kFloat64);
    TensorList grads = grad({y}, {x, w, b}, {g}, std::nullopt, create_graph);
    EXPECT_EQ(grads[0].sizes(), (Dims{2, 0, 5, 5}));
    EXPECT_EQ(grads[1].sizes(), (Dims{4, 0, 3, 3}));
    EXPECT_TRUE(allclose(grads[2].detach(), g.sum({0, 2, 3}), 1e-12, 1e-12));
    if (create_graph) {  // grad_b = sum g is linear in g: its own derivative along g is the sum again
      Tensor gg = g.clone().requires_grad_();
      TensorList again = grad({y}, {b}, {gg}, std::nullopt, true);
      Tensor v = randn({4}, kFloat64);
      EXPECT_TRUE(allclose(grad({again[0]}, {gg}, {v})[0], v.reshape({1, 4, 1, 1}).expand({2, 4, 5, 5}), 0, 0));
    }
  }
  {  // forward mode: the tangent is the bias's (the input's and the weight's have no channels)
    forward_ad::DualLevel level;
    Tensor tb = tensor({1.0, 2.0, 3.0, 4.0}, kFloat64);
    Tensor x = forward_ad::make_dual(randn({2, 0, 5, 5}, kFloat64), randn({2, 0, 5, 5}, kFloat64));
    Tensor w = forward_ad::make_dual(randn({4, 0, 3, 3}, kFloat64), randn({4, 0, 3, 3}, kFloat64));
    Tensor b = forward_ad::make_dual(zeros({4}, kFloat64), tb);
    Tensor t = forward_ad::unpack_dual(conv2d(x, w, b)).tangent;
    EXPECT_TRUE(equal(t, tb.reshape({1, 4, 1, 1}).expand({2, 4, 3, 3})));
  }
  EXPECT_TRUE(equal(conv2d(randn({1, 0, 5, 5}), randn({4, 0, 3, 3})), zeros({1, 4, 3, 3})));
  Tensor y1 = conv1d(randn({1, 0, 5}), randn({4, 0, 3}), tensor({1.0f, 2.0f, 3.0f, 4.0f}));
  ASSERT_EQ(y1.sizes(), (Dims{1, 4, 3}));
  EXPECT_TRUE(equal(y1, tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({1, 4, 1}).expand({1, 4, 3})));
  // Grouped, unbatched: each group sums over no channels too.
  EXPECT_TRUE(equal(conv2d(randn({0, 4, 4}), randn({6, 0, 2, 2}), {}, 1, 0, 1, 3), zeros({6, 3, 3})));
}

// ---- an empty kernel: PyTorch's "kernel size should be greater than zero" ----

TEST(ConvLimits, EmptyKernelRaisesNamingTheWeight) {
  EXPECT_TRUE(ThrowsWith([] { conv2d(randn({1, 2, 5, 5}), randn({4, 2, 0, 3})); },
                         {"conv2d", "kernel size should be greater than zero, but got kH: 0 kW: 3", "[4,2,0,3]"}));
  EXPECT_TRUE(ThrowsWith([] { conv1d(randn({1, 2, 5}), randn({4, 2, 0})); },
                         {"conv1d", "kernel size should be greater than zero", "[4,2,0]"}));
  EXPECT_TRUE(ThrowsWith([] { conv2d(randn({1, 2, 5, 5}), randn({4, 2, 3, 0}), {}, 1, "same"); },
                         {"conv2d", "kW: 0"}));
}

// ---- huge pooling windows ----

// A window far larger than the plane (with padding up to half of it) still has its positions
// inside the plane: every output is the plane's max, its index the max's, as for a small one.
TEST(ConvLimits, MaxPoolWithAHugeWindowTakesThePlaneMax) {
  Tensor x = randn({1, 2, 5, 5}, kFloat64);
  const int64_t huge = int64_t{1} << 40;
  // (5 + 2^40 - 2^40) / 1 + 1 = 6 positions per dim, each window the whole plane.
  Tensor y = max_pool2d(x, huge, 1, huge / 2);
  ASSERT_EQ(y.sizes(), (Dims{1, 2, 6, 6}));
  Tensor plane_max = std::get<0>(x.reshape({1, 2, 25}).max(2, true)).unsqueeze(-1);
  EXPECT_TRUE(equal(y, plane_max.expand({1, 2, 6, 6})));
  // kMax / 2 and kMax / 4: 5 positions, which took 2^61 steps each to skip the padding.
  Tensor z = max_pool2d(x, kMax / 2, 1, kMax / 4, 1, true);
  ASSERT_EQ(z.sizes(), (Dims{1, 2, 5, 5}));
  EXPECT_TRUE(equal(z, plane_max.expand({1, 2, 5, 5})));
  // Gradients go to the max only.
  Tensor xr = x.clone().requires_grad_();
  max_pool2d(xr, huge, 1, huge / 2).sum().backward();
  EXPECT_DOUBLE_EQ(xr.grad().sum().item<double>(), 72.0);
  EXPECT_DOUBLE_EQ(xr.grad().abs().max().item<double>(), 36.0);
}

TEST(ConvLimits, PoolSizeOverflowRaisesWithTheGivenValues) {
  Tensor x = randn({1, 2, 5, 5});
  // 5 + 2 (kMax / 2) and (kMax - 1) (4 - 1) + 1 do not fit int64.
  EXPECT_TRUE(ThrowsWith([&] { max_pool2d(x, kMax, 1, kMax / 2); },
                         {"max_pool2d", std::to_string(kMax / 2), "overflows int64"}));
  EXPECT_TRUE(ThrowsWith([&] { max_pool2d(x, 4, 1, 1, kMax - 1); }, {"max_pool2d", std::to_string(kMax - 1), "overflows"}));
  EXPECT_TRUE(ThrowsWith([&] { avg_pool2d(x, kMax, 1, kMax / 2, true); }, {"avg_pool2d", "overflows int64"}));
  // A stride of kMax with ceil_mode: one window, not a wrapped (num + stride - 1).
  EXPECT_EQ(max_pool2d(x, 2, kMax, 1, 1, true).sizes(), (Dims{1, 2, 1, 1}));
  EXPECT_EQ(avg_pool2d(x, 2, kMax, 1, true).sizes(), (Dims{1, 2, 1, 1}));
}

// ---- adaptive pooling: an output too large to count or to allocate raises before the tables ----

TEST(ConvLimits, AdaptivePoolWithAHugeOutputRaises) {
  Tensor x = randn({1, 2, 5, 5});
  EXPECT_TRUE(ThrowsWith([&] { adaptive_avg_pool2d(x, {1, kMax}); },
                         {"adaptive_avg_pool2d", std::to_string(kMax), "overflows int64"}));
  EXPECT_TRUE(ThrowsWith([&] { adaptive_avg_pool2d(x, {int64_t{1} << 31, int64_t{1} << 31}); },
                         {"adaptive_avg_pool2d", "2147483648", "overflows int64"}));
  // 2^46 floats fit int64 but not memory, nor the address space (256 TiB).
  EXPECT_TRUE(ThrowsWith([&] { adaptive_avg_pool2d(x, {int64_t{1} << 45, 1}); },
                         {"adaptive_avg_pool2d", "cannot allocate", "[1,2,35184372088832,1]"}));
  EXPECT_EQ(adaptive_avg_pool2d(x, {7, 1}).sizes(), (Dims{1, 2, 7, 1}));
}

// ---- conv, unfold and fold: the padded input or the dilated kernel overflowing int64 ----

TEST(ConvLimits, ConvSizeOverflowRaisesWithTheGivenValues) {
  Tensor x = randn({1, 2, 5, 5}), w = randn({4, 2, 3, 3});
  // These gave [1,4,1,1], [1,4,7,7] and an error with "-9223372036854775805".
  EXPECT_TRUE(ThrowsWith([&] { conv2d(x, w, {}, 1, kMax); }, {"conv2d", std::to_string(kMax), "overflows int64"}));
  EXPECT_TRUE(ThrowsWith([&] { conv2d(x, w, {}, 1, 0, kMax); }, {"conv2d", std::to_string(kMax), "overflows int64"}));
  EXPECT_TRUE(ThrowsWith([&] { conv2d(x, w, {}, 1, kMax / 2); }, {"conv2d", std::to_string(kMax / 2), "overflows"}));
  EXPECT_TRUE(ThrowsWith([&] { conv1d(randn({1, 2, 5}), randn({4, 2, 3}), {}, 1, 0, kMax); }, {"conv1d", "overflows"}));
  EXPECT_TRUE(ThrowsWith([&] { conv2d(x, w, {}, 1, "same", kMax); }, {"conv2d", "overflows"}));
  // Padding and dilation of kMax / 4 fit: the taps sit kMax / 4 apart, so only the centre one ever
  // reads the plane and the result is a 1x1 convolution with the weight's centre.
  Tensor y = conv2d(x, w, {}, 1, kMax / 4, kMax / 4);
  ASSERT_EQ(y.sizes(), (Dims{1, 4, 5, 5}));
  Tensor centre = w.slice(2, 1, 2).slice(3, 1, 2).contiguous();
  EXPECT_TRUE(allclose(y, conv2d(x, centre), 1e-5, 1e-6));
  // And so are its gradients (the kernels' and the composed rules'): none reach the other taps.
  for (bool create_graph : {false, true}) {
    Tensor xd = x.to(kFloat64).requires_grad_(), wd = w.to(kFloat64).requires_grad_();
    Tensor cd = wd.slice(2, 1, 2).slice(3, 1, 2);
    Tensor g = randn({1, 4, 5, 5}, kFloat64);
    TensorList huge = grad({conv2d(xd, wd, {}, 1, kMax / 4, kMax / 4)}, {xd, wd}, {g}, std::nullopt, create_graph);
    TensorList plain = grad({conv2d(xd, cd)}, {xd, wd}, {g}, std::nullopt, create_graph);
    EXPECT_TRUE(allclose(huge[0].detach(), plain[0].detach(), 1e-12, 1e-12));
    EXPECT_TRUE(allclose(huge[1].detach(), plain[1].detach(), 1e-12, 1e-12));
  }
  // A stride of kMax: one position.
  EXPECT_EQ(conv2d(x, w, {}, kMax).sizes(), (Dims{1, 4, 1, 1}));
}

TEST(ConvLimits, UnfoldAndFoldSizeOverflowRaises) {
  Tensor x = randn({1, 2, 5, 5});
  EXPECT_TRUE(ThrowsWith([&] { F::unfold(x, F::UnfoldFuncOptions(3).padding(kMax)); },
                         {"unfold", std::to_string(kMax), "overflows int64"}));
  EXPECT_TRUE(ThrowsWith([&] { F::unfold(x, F::UnfoldFuncOptions(3).dilation(kMax)); }, {"unfold", "overflows"}));
  // The kernel's element count itself.
  EXPECT_TRUE(ThrowsWith([&] { F::unfold(x, F::UnfoldFuncOptions({kMax / 2, 4}).padding({kMax / 4, 0})); },
                         {"unfold", "overflows"}));
  EXPECT_TRUE(ThrowsWith([&] { F::fold(randn({1, 4, 1}), F::FoldFuncOptions({kMax - 1, kMax - 1}, 2).stride(kMax)); },
                         {"fold", std::to_string(kMax - 1), "overflows"}));
  EXPECT_TRUE(ThrowsWith([&] { F::fold(randn({1, 4, 1}), F::FoldFuncOptions({4, 4}, 2).padding(kMax)); },
                         {"fold", std::to_string(kMax), "overflows int64"}));
  // A stride of kMax: one position, which fold sums back.
  Tensor cols = F::unfold(x, F::UnfoldFuncOptions(2).stride(kMax));
  ASSERT_EQ(cols.sizes(), (Dims{1, 8, 1}));
  EXPECT_TRUE(equal(F::fold(cols, F::FoldFuncOptions({5, 5}, 2).stride(kMax)).slice(2, 0, 2).slice(3, 0, 2),
                    x.slice(2, 0, 2).slice(3, 0, 2)));
}

}  // namespace
}  // namespace dydx
