// Regressions found in review, each checked against what PyTorch 1.13 does.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.hpp"

namespace dydx {
namespace {

using testing::HasValues;

TEST(Regressions, OverlappingInPlaceWritesAreRejected) {
  Tensor a = tensor({{1., 2.}, {3., 4.}});
  EXPECT_THROW(a.add_(a.t()), Error);
  EXPECT_THROW(a.copy_(a.t()), Error);
  Tensor b = arange(0, 8, 1, kFloat32);
  EXPECT_THROW(b.narrow(0, 1, 7).copy_(b.narrow(0, 0, 7)), Error);
  EXPECT_THROW(zeros({1}).expand({3}).add_(ones({3})), Error);
  a.mul_(a);  // element for element is fine
  EXPECT_TRUE(HasValues(a, {1, 4, 9, 16}));
}

TEST(Regressions, SizeOverflowAndBadSizesAreErrors) {
  EXPECT_THROW(zeros({int64_t(1) << 62}), Error);
  EXPECT_THROW(ones({1}).view({4294967297, 4294967295, 4294967297, 4294967295}), Error);
  EXPECT_THROW(ones({4}).as_strided({3}, {int64_t(1) << 62}), Error);
  EXPECT_THROW(ones({4}).narrow(0, 2, INT64_MAX), Error);
  EXPECT_THROW(ones({1}).expand({-5}), Error);
  float d[4] = {0, 0, 0, 0};
  EXPECT_THROW(from_blob(d, {0}, {8}).as_strided({1000}, {1}, 0), Error);
}

TEST(Regressions, AsStridedGradientStaysInsideItsInput) {
  // A view reaching outside its input's elements is differentiated with respect to those
  // elements only, as in PyTorch (the gradient was once scattered out of bounds).
  Tensor x = arange(0, 64, 1, kFloat32).requires_grad_(true);
  (x * 1.0).narrow(0, 0, 16).as_strided({64}, {1}, 0).sum().backward();
  EXPECT_EQ(x.grad().sum().item<float>(), 16.0f);
  EXPECT_EQ(x.grad().to_vector<float>()[15], 1.0f);
  EXPECT_EQ(x.grad().to_vector<float>()[16], 0.0f);
  x.set_grad({});
  (x * 1.0).narrow(0, 32, 32).as_strided({4}, {1}, 0).sum().backward();
  EXPECT_EQ(x.grad().sum().item<float>(), 0.0f);
  x.set_grad({});
  Tensor inside = (x * 1.0).narrow(0, 32, 32).as_strided({4}, {1}, 34);
  inside.sum().backward();
  EXPECT_EQ(x.grad().sum().item<float>(), 4.0f);
  EXPECT_EQ(x.grad().to_vector<float>()[34], 1.0f);
}

TEST(Regressions, IntegerArgumentChecks) {
  Tensor i = tensor({1, 2});
  EXPECT_THROW(add(i, i, 2.5), Error);
  EXPECT_THROW(i.pow(-1), Error);
  EXPECT_THROW(full({1}, NAN, kInt64), Error);
  EXPECT_THROW(zeros({2}, kInt64).fill_(1e30), Error);
  EXPECT_TRUE(HasValues(relu(tensor({-3, 5})), {0, 5}));
  EXPECT_EQ(relu(tensor({-3, 5})).dtype(), kInt64);
  EXPECT_EQ(abs(tensor({-3, 5})).dtype(), kInt64);
}

TEST(Regressions, CopyIntoAnIntegerTensorCarriesNoGradient) {
  Tensor x = tensor({1.5, 2.5}).requires_grad_(true);
  Tensor a = zeros({2}, kInt64);
  a.copy_(x);
  EXPECT_FALSE(a.requires_grad());
  (a * x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 2}));
}

TEST(Regressions, GradientsAtEdgesMatchPyTorch) {
  Tensor x = tensor({1.0, NAN, 3.0}).requires_grad_(true);
  x.max().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>({0, 1, 0}));
  Tensor base = tensor({0.0, 2.0}, kFloat64).requires_grad_(true);
  pow(base, zeros({2}, kFloat64)).sum().backward();
  EXPECT_TRUE(HasValues(base.grad(), {0, 0}));
  Tensor num = tensor({1e-25f, 1e20f}), den = tensor({1e-25f, 1e20f}).requires_grad_(true);
  (num / den).sum().backward();
  EXPECT_NEAR(den.grad().to_vector<float>()[0] / -1e25f, 1.0f, 1e-5);
  EXPECT_NEAR(den.grad().to_vector<float>()[1] / -1e-20f, 1.0f, 1e-5);
  Tensor scalar = tensor(3.0).requires_grad_(true);
  std::get<0>(scalar.max(0)).backward();
  EXPECT_EQ(scalar.grad().item<float>(), 1.0f);
  EXPECT_TRUE(std::isnan(relu(tensor({NAN})).item<float>()));
  EXPECT_TRUE(HasValues(linspace(0, 10, 1), {0}));
  EXPECT_EQ(ones({17000000, 2}).sum({0}).to_vector<float>()[0], 17000000.0f);
}

TEST(Regressions, InPlaceHistoryKeepsRetainedGradsAndRejectsNoGradViews) {
  Tensor x = ones({3}).requires_grad_(true);
  Tensor y = x * 1.0;
  y.retain_grad();
  y.mul_(tensor(2.0));
  (y * 3.0).sum().backward();
  EXPECT_TRUE(HasValues(y.grad(), {3, 3, 3}));
  Tensor z = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor w = z * 2.0;
  Tensor v;
  {
    NoGradGuard no_grad;
    v = w[0];
  }
  EXPECT_THROW(v.mul_(tensor(3.0)), Error);
}

TEST(Regressions, BackwardInputsListedTwiceAccumulateOnce) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x * 2.0;
  (y * y * 1.5).sum().backward({}, std::nullopt, false, {y, y});
  EXPECT_TRUE(HasValues(y.grad(), {6, 12}));
}

TEST(Regressions, HooksMayNotChangeShapeOrType) {
  Tensor x = tensor({1.0, 2.0, 3.0}).requires_grad_(true);
  x.register_hook([](const Tensor&) { return ones({5}); });
  EXPECT_THROW((x * 2.0).sum().backward(), Error);
}

TEST(Regressions, LeafGradDoesNotAliasTheGivenGradient) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor g = tensor({1.0, 1.0});
  x.clone().backward(g, std::nullopt, /*create_graph=*/true);
  x.grad().zero_();
  EXPECT_TRUE(HasValues(g, {1, 1}));
}

TEST(Regressions, ForwardModeWritesThroughViewsLeaveCallersTangentsAlone) {
  auto f = [](const Tensor& x) {
    Tensor y = x + 1.0;
    y.narrow(0, 0, 2).mul_(3.0);
    return y * x;
  };
  Tensor p = tensor({1.0, 2.0, 3.0}, kFloat64), t = ones({3}, kFloat64);
  func::jvp(f, p, t);
  EXPECT_TRUE(HasValues(t, {1, 1, 1}));
  // torch.func.jacrev: diag(9, 15, 7)
  EXPECT_TRUE(allclose(func::jacfwd(f)(p), func::jacrev(f)(p), 1e-12, 0));
  EXPECT_TRUE(HasValues(func::jacfwd(f)(p), {9, 0, 0, 0, 15, 0, 0, 0, 7}));
}

TEST(Regressions, IndependenceCheckSeesInteriorRows) {
  auto f = [](const Tensor& x) {
    return cat({x.narrow(0, 0, 1), x.narrow(0, 1, 1) * x.narrow(0, 2, 1), x.narrow(0, 2, 2)}, 0);
  };
  Tensor x = randn({4, 2}, kFloat64);
  EXPECT_THROW(func::batch_jacobian(f, x, {.check_independence = true}), Error);
}

}  // namespace
}  // namespace dydx

namespace dydx {
namespace {

TEST(Regressions, ForwardModeViewsFollowInPlaceWritesToTheirBase) {
  auto f = [](const Tensor& x) {
    Tensor y = x.clone();
    Tensor v = y.narrow(0, 0, 2);
    y.mul_(x);
    return v * 1.0;
  };
  Tensor p = tensor({1.0, 2.0, 3.0}, kFloat64);
  // torch.func.jacrev: [[2, 0, 0], [0, 4, 0]]
  EXPECT_TRUE(HasValues(func::jacfwd(f)(p), {2, 0, 0, 0, 4, 0}));
  EXPECT_TRUE(allclose(func::jacfwd(f)(p), func::jacrev(f)(p), 1e-12, 0));
}

TEST(Regressions, WritesThroughAViewOfADualUpdateTheDualNotThePrimal) {
  auto g = [](const Tensor& x) {
    x.narrow(0, 0, 1).mul_(3.0);
    return x * 1.0;
  };
  Tensor p = tensor({1.0, 2.0}, kFloat64);
  auto [out, tangent] = func::jvp(g, p, ones({2}, kFloat64));
  EXPECT_TRUE(HasValues(tangent, {3, 1}));  // torch.func.jvp: [3, 1]
  forward_ad::DualLevel level;
  EXPECT_FALSE(forward_ad::unpack_dual(p * 2.0).tangent.defined());
  EXPECT_NO_THROW(forward_ad::make_dual(p, ones({2}, kFloat64)));
}

}  // namespace
}  // namespace dydx
