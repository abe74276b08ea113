// Dual tensors: the forward_ad API, nesting of levels, views and in-place ops, and its errors.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

namespace dydx {
namespace {

using forward_ad::DualLevel;
using forward_ad::make_dual;
using forward_ad::unpack_dual;

std::vector<double> values(const Tensor& t) { return t.to(kFloat64).to_vector<double>(); }

TEST(ForwardAD, TangentOfElementwiseChain) {
  DualLevel level;
  Tensor x = make_dual(tensor({1.0, 2.0}, kFloat64), tensor({1.0, 0.5}, kFloat64));
  Tensor y = x.pow(3) * 2.0;  // dy = 6 x^2 dx
  auto [primal, tangent] = unpack_dual(y);
  EXPECT_EQ(values(primal), std::vector<double>({2, 16}));
  EXPECT_EQ(values(tangent), std::vector<double>({6, 12}));
}

TEST(ForwardAD, SeedColumnsFromOneForwardPass) {
  // The seed's dy/dx per column, y = (x^3) W with x [2,1]: one pass with an all-ones tangent.
  DualLevel level;
  Tensor x = make_dual(tensor({{4.0}, {1.0}}), ones({2, 1}));
  Tensor y = matmul(x.pow(3), tensor({{2.0, 4.0}}));
  EXPECT_EQ(values(unpack_dual(y).tangent), std::vector<double>({96, 192, 6, 12}));
}

TEST(ForwardAD, NoTangentMeansZero) {
  DualLevel level;
  Tensor y = tensor({1.0, 2.0}).exp();
  EXPECT_FALSE(unpack_dual(y).tangent.defined());
  EXPECT_EQ(values(unpack_dual(y).primal), values(y));
}

TEST(ForwardAD, TangentsDoNotOutliveTheirLevel) {
  Tensor x = tensor({1.0});
  Tensor y;
  {
    DualLevel level;
    y = make_dual(x, tensor({1.0})).sin();
  }
  DualLevel later;
  EXPECT_FALSE(unpack_dual(y).tangent.defined());
}

TEST(ForwardAD, NestedLevelsGiveSecondDerivatives) {
  // f(x) = x^3 at x = 2: inner tangent f'(x) = 12, whose outer tangent is f''(x) = 12.
  DualLevel outer;
  Tensor x = make_dual(tensor({2.0}, kFloat64), tensor({1.0}, kFloat64));
  DualLevel inner;
  Tensor xx = make_dual(x, tensor({1.0}, kFloat64));
  Tensor first = unpack_dual(xx.pow(3)).tangent;
  EXPECT_DOUBLE_EQ(values(first)[0], 12.0);
  EXPECT_DOUBLE_EQ(values(unpack_dual(first, outer.level()).tangent)[0], 12.0);
}

TEST(ForwardAD, ViewsShareTheirBaseTangentAndInPlaceWritesReachIt) {
  DualLevel level;
  Tensor x = make_dual(zeros({2, 2}, kFloat64), zeros({2, 2}, kFloat64));
  Tensor y = x * 1.0;
  Tensor w = make_dual(tensor({3.0, 4.0}, kFloat64), tensor({1.0, 2.0}, kFloat64));
  y.select(0, 1).copy_(w);  // torch: the second row of y's tangent becomes [1, 2]
  EXPECT_EQ(values(unpack_dual(y).tangent), std::vector<double>({0, 0, 1, 2}));
  EXPECT_EQ(values(unpack_dual(y).primal), std::vector<double>({0, 0, 3, 4}));
}

TEST(ForwardAD, InPlaceMultiplyUsesTheValueBeforeTheWrite) {
  DualLevel level;
  Tensor x = make_dual(tensor({2.0}, kFloat64), tensor({1.0}, kFloat64));
  Tensor y = x * 1.0;
  y.mul_(y);  // y = x^2, dy = 2 x dx = 4
  EXPECT_DOUBLE_EQ(values(unpack_dual(y).tangent)[0], 4.0);
}

TEST(ForwardAD, ComposesWithReverseModeForHessianVectorProducts) {
  // f(x) = sum(x^3): H = diag(6x); H v with x = [1, 2], v = [1, 1] is [6, 12].
  DualLevel level;
  Tensor x = tensor({1.0, 2.0}, kFloat64).requires_grad_(true);
  Tensor dual = make_dual(x, ones({2}, kFloat64));
  Tensor g = grad({dual.pow(3).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_EQ(values(g), std::vector<double>({3, 12}));
  EXPECT_EQ(values(unpack_dual(g).tangent), std::vector<double>({6, 12}));
}

TEST(ForwardAD, Errors) {
  EXPECT_THROW(make_dual(ones({2}), ones({2})), Error);  // no level open
  DualLevel level;
  EXPECT_THROW(make_dual(ones({2}), ones({3})), Error);
  EXPECT_THROW(make_dual(tensor({1, 2}), tensor({1, 2})), Error);  // integer primal
  Tensor x = make_dual(ones({2}), ones({2}));
  EXPECT_THROW(make_dual(x, ones({2})), Error);  // already dual at this level
  try {
    make_dual(ones({2}), ones({3}));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("make_dual"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[3]"), std::string::npos);
  }
}

}  // namespace
}  // namespace dydx
