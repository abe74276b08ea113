// Lifetimes: graphs a million ops deep (released, differentiated and printed without recursion),
// hooks that change the hook lists during backward, printing huge views, and the large-buffer cache.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace dydx {
namespace {

using testing::HasValues;

// Each depth overflowed the stack in ~Node before the fix: recursion costs several hundred bytes a
// level, and the stack is 8 MiB. Sanitizer builds have larger frames but run ops about ten times
// slower, so they use a fifth of the depth, which still needs over 8 MiB of frames.
#ifdef DYDX_SANITIZED
constexpr int kDeep = 200'000;
#else
constexpr int kDeep = 1'000'000;
#endif
// The other shapes of chain run a quarter as deep, which still overflowed, to keep the suite quick.
constexpr int kAlsoDeep = kDeep / 4;

TEST(DeepGraph, ChainOfAddsIsReleasedAndDifferentiated) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor y = x;
  for (int i = 0; i < kDeep; ++i) y = y + 1.0;
  EXPECT_EQ(std::string(y.grad_fn()->name()), "AddBackward0");
  EXPECT_NE(to_string(y).find("grad_fn=<AddBackward0>"), std::string::npos);
  y.backward({}, /*retain_graph=*/true);
  EXPECT_TRUE(HasValues(x.grad(), {1.0}));
  y.backward();
  EXPECT_TRUE(HasValues(x.grad(), {2.0}));
  y = Tensor();  // releases the whole chain
  EXPECT_EQ(x.grad_fn(), nullptr);
}

// MulBackward0 saves its input, whose grad_fn is the previous node: the chain also runs through
// saved tensors, not only through the edges.
TEST(DeepGraph, ChainThroughSavedTensorsIsReleased) {
  Tensor x = tensor({1.0}, kFloat64).requires_grad_(true);
  Tensor w = tensor({1.0}, kFloat64).requires_grad_(true);
  Tensor y = x;
  for (int i = 0; i < kDeep; ++i) y = y * w;
  auto g = grad({y}, {x, w});
  EXPECT_TRUE(HasValues(g[0], {1.0}));
  EXPECT_TRUE(HasValues(g[1], {double(kDeep)}, 1e-9));
}

TEST(DeepGraph, UnusedChainIsReleasedWithoutBackward) {
  Tensor x = tensor({2.0}).requires_grad_(true);
  {
    Tensor y = x;
    for (int i = 0; i < kDeep; ++i) y = y.sin();
  }
  Tensor z = x * 3.0;  // the library still works afterwards
  z.backward();
  EXPECT_TRUE(HasValues(x.grad(), {3.0}));
}

TEST(DeepGraph, LongInPlaceChainIsReleasedAndDifferentiated) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x.clone();
  for (int i = 0; i < kAlsoDeep; ++i) y.add_(1.0);
  EXPECT_TRUE(HasValues(y.detach(), {1.0 + kAlsoDeep, 2.0 + kAlsoDeep}, 1e-6));
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1.0, 1.0}));
}

// In-place writes through a view rebase the base's history through CopySlices, once per write.
TEST(DeepGraph, LongInPlaceChainThroughViewsIsReleased) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x.clone();
  for (int i = 0; i < kAlsoDeep; ++i) y[i % 2].mul_(1.0);
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1.0, 1.0}));
}

TEST(DeepGraph, ViewOfViewChainIsReleasedAndDifferentiated) {
  Tensor x = tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_(true);
  Tensor v = x * 1.0;
  for (int i = 0; i < kAlsoDeep; ++i) v = v.t();
  v.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 1, 1, 1}));
}

TEST(DeepGraph, CreateGraphThroughDeepChain) {
  Tensor x = tensor({0.5}, kFloat64).requires_grad_(true);
  Tensor y = x;
  for (int i = 0; i < kAlsoDeep; ++i) y = y * 1.0 + 0.0;
  Tensor y3 = y * y * y;  // x^3
  Tensor g = grad({y3}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_TRUE(HasValues(g.detach(), {3 * 0.25}, 1e-9));
  Tensor gg = grad({g}, {x})[0];
  EXPECT_TRUE(HasValues(gg, {6 * 0.5}, 1e-9));
}

// Forward over reverse: y = x w^n has tangent w^n, whose history is as deep as y's.
TEST(DeepGraph, ForwardModeTangentChainIsReleased) {
  Tensor x = tensor({0.5}, kFloat64);
  Tensor w = tensor({1.0}, kFloat64).requires_grad_(true);
  Tensor tangent;
  {
    forward_ad::DualLevel level;
    Tensor y = forward_ad::make_dual(x, tensor({1.0}, kFloat64));
    for (int i = 0; i < kAlsoDeep; ++i) y = y * w;
    tangent = forward_ad::unpack_dual(y).tangent;
    EXPECT_TRUE(HasValues(tangent.detach(), {1.0}));
    Tensor dt = grad({tangent}, {w}, {}, /*retain_graph=*/true)[0];
    EXPECT_TRUE(HasValues(dt, {double(kAlsoDeep)}, 1e-9));
  }
  tangent = Tensor();
}

}  // namespace
}  // namespace dydx
