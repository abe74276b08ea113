// The seed computation (examples/seed.cpp) three ways: values, printed text and the retain_graph error.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace dydx;
using dydx::indexing::Slice;

namespace {

::testing::AssertionResult HasValues(const Tensor& t, const std::vector<double>& expected) {
  if (!t.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  std::vector<double> got = t.to_vector<double>();
  if (got != expected) return ::testing::AssertionFailure() << "values differ:\n" << to_string(t);
  return ::testing::AssertionSuccess();
}

std::vector<int64_t> Shape(const Tensor& t) { return t.sizes().vec(); }

// y = (X^3) W: each output column j depends on x through W[0, j].
Tensor gra_fun(const Tensor& X) {
  Tensor W = tensor({{2.0, 4.0}});
  return matmul(X.pow(3), W);
}

// Same values with X already expanded to [m, n] and an elementwise product.
Tensor gra_fun2(const Tensor& X) {
  Tensor W = tensor({{2.0, 4.0}});
  return X.pow(3) * W;
}

// The seed's method 1: one grad per column of y, each with create_graph, concatenated along dim 1.
Tensor ColumnGrads(const Tensor& y, const Tensor& X) {
  TensorList columns;
  for (int64_t ii = 0; ii < y.size(1); ++ii)
    columns.push_back(grad({y.index({Slice(), ii})}, {X}, {tensor({1.0, 1.0})}, std::nullopt,
                           /*create_graph=*/true, /*allow_unused=*/true)[0]);
  return cat(columns, 1);
}

}  // namespace

// ---- method 1: matmul, a grad per column --------------------------------------------------------

TEST(SeedMethod1, InputsAndForwardPrintAsPyTorch) {
  Tensor X = tensor({{4.0}, {1.0}});
  X.requires_grad_(true);
  Tensor y = gra_fun(X);
  EXPECT_EQ(to_string(X), "tensor([[4.],\n        [1.]], requires_grad=True)");
  EXPECT_EQ(to_string(y), "tensor([[128., 256.],\n        [  2.,   4.]], grad_fn=<MmBackward0>)");
  EXPECT_EQ(Shape(y), (std::vector<int64_t>{2, 2}));
}

TEST(SeedMethod1, PerColumnGradsWithCreateGraph) {
  Tensor X = tensor({{4.0}, {1.0}}).requires_grad_();
  Tensor y = gra_fun(X);
  Tensor columns = ColumnGrads(y, X);
  EXPECT_EQ(Shape(columns), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(HasValues(columns, {96, 192, 6, 12}));  // 3 x^2 W[0, j]
  ASSERT_NE(columns.grad_fn(), nullptr);
  EXPECT_STREQ(columns.grad_fn()->name(), "CatBackward0");
  EXPECT_TRUE(columns.requires_grad());
  EXPECT_EQ(to_string(columns), "tensor([[ 96., 192.],\n        [  6.,  12.]], grad_fn=<CatBackward0>)");
}

TEST(SeedMethod1, ColumnGradsAreThemselvesDifferentiable) {
  // d/dx of sum(3 x^2 W) = 6 x (W00 + W01) = 36 x.
  Tensor X = tensor({{4.0}, {1.0}}).requires_grad_();
  Tensor columns = ColumnGrads(gra_fun(X), X);
  Tensor second = grad({columns.sum()}, {X})[0];
  EXPECT_TRUE(HasValues(second, {144, 36}));
}

TEST(SeedMethod1, PlainBackwardSumsTheColumns) {
  Tensor X = tensor({{4.0}, {1.0}}).requires_grad_();
  Tensor y = gra_fun(X);
  ColumnGrads(y, X);  // create_graph keeps the graph, so backward can follow
  y.backward(ones_like(y));
  EXPECT_TRUE(HasValues(X.grad(), {288, 18}));
  EXPECT_EQ(to_string(X.grad()), "tensor([[288.],\n        [ 18.]])");
}

TEST(SeedMethod1, ColumnGradsAgreeWithSlicingTheFullJacobian) {
  Tensor X = tensor({{4.0}, {1.0}}).requires_grad_();
  Tensor y = gra_fun(X);
  for (int64_t j = 0; j < 2; ++j) {
    Tensor weights = zeros_like(y);
    weights.select(1, j).fill_(1);
    Tensor g = grad({y}, {X}, {weights}, /*retain_graph=*/true)[0];
    const double w = j == 0 ? 2 : 4;
    EXPECT_TRUE(HasValues(g, {3 * 16 * w, 3 * 1 * w}));
  }
}

// ---- the retain_graph error ---------------------------------------------------------------------

TEST(SeedRetainGraph, SecondColumnWithoutRetainGraphThrows) {
  Tensor X = tensor({{4.0}, {1.0}}).requires_grad_();
  Tensor y = gra_fun(X);
  Tensor first = grad({y.index({Slice(), 0})}, {X}, {tensor({1.0, 1.0})})[0];
  EXPECT_TRUE(HasValues(first, {96, 6}));
  try {
    grad({y.index({Slice(), 1})}, {X}, {tensor({1.0, 1.0})});
    ADD_FAILURE() << "the second column's grad should fail: the first call freed the graph";
  } catch (const dydx::Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
}

TEST(SeedRetainGraph, SecondColumnWorksWithRetainGraph) {
  Tensor X = tensor({{4.0}, {1.0}}).requires_grad_();
  Tensor y = gra_fun(X);
  Tensor first = grad({y.index({Slice(), 0})}, {X}, {tensor({1.0, 1.0})}, /*retain_graph=*/true)[0];
  Tensor second = grad({y.index({Slice(), 1})}, {X}, {tensor({1.0, 1.0})})[0];
  EXPECT_TRUE(HasValues(first, {96, 6}));
  EXPECT_TRUE(HasValues(second, {192, 12}));
  EXPECT_FALSE(second.requires_grad());
}

// ---- method 2: X expanded to [m, n], elementwise product ----------------------------------------

TEST(SeedMethod2, InputsAndForwardPrintAsPyTorch) {
  Tensor X2 = tensor({{4.0, 4.0}, {1.0, 1.0}});
  X2.requires_grad_(true);
  Tensor y2 = gra_fun2(X2);
  EXPECT_EQ(to_string(X2), "tensor([[4., 4.],\n        [1., 1.]], requires_grad=True)");
  EXPECT_EQ(to_string(y2), "tensor([[128., 256.],\n        [  2.,   4.]], grad_fn=<MulBackward0>)");
}

TEST(SeedMethod2, OneGradGivesEveryColumn) {
  Tensor X2 = tensor({{4.0, 4.0}, {1.0, 1.0}}).requires_grad_();
  Tensor y2 = gra_fun2(X2);
  Tensor gradients = ones_like(y2);
  Tensor g = grad({y2}, {X2}, {gradients}, std::nullopt, /*create_graph=*/true, /*allow_unused=*/true)[0];
  EXPECT_TRUE(HasValues(g, {96, 192, 6, 12}));
  ASSERT_NE(g.grad_fn(), nullptr);
  EXPECT_STREQ(g.grad_fn()->name(), "MulBackward0");
  EXPECT_EQ(to_string(g), "tensor([[ 96., 192.],\n        [  6.,  12.]], grad_fn=<MulBackward0>)");

  y2.backward(gradients);
  EXPECT_TRUE(HasValues(X2.grad(), {96, 192, 6, 12}));
  EXPECT_EQ(to_string(X2.grad()), "tensor([[ 96., 192.],\n        [  6.,  12.]])");
}

// ---- the whole example's output -----------------------------------------------------------------

TEST(SeedExample, FullOutputMatchesPyTorch) {
  std::string out;
  auto line = [&out](const Tensor& t) { out += to_string(t) + "\n"; };

  Tensor X = tensor({{4.0}, {1.0}});
  X.requires_grad_(true);
  Tensor y = gra_fun(X);
  line(X);
  line(y);
  line(ColumnGrads(y, X));
  y.backward(ones_like(y));
  line(X.grad());

  Tensor X2 = tensor({{4.0, 4.0}, {1.0, 1.0}});
  X2.requires_grad_(true);
  Tensor y2 = gra_fun2(X2);
  line(X2);
  line(y2);
  Tensor gradients = ones_like(y2);
  line(grad({y2}, {X2}, {gradients}, std::nullopt, true, true)[0]);
  y2.backward(gradients);
  line(X2.grad());

  // The text PyTorch 1.13 prints for the same script (and what build/examples/seed prints).
  const std::string expected =
      "tensor([[4.],\n"
      "        [1.]], requires_grad=True)\n"
      "tensor([[128., 256.],\n"
      "        [  2.,   4.]], grad_fn=<MmBackward0>)\n"
      "tensor([[ 96., 192.],\n"
      "        [  6.,  12.]], grad_fn=<CatBackward0>)\n"
      "tensor([[288.],\n"
      "        [ 18.]])\n"
      "tensor([[4., 4.],\n"
      "        [1., 1.]], requires_grad=True)\n"
      "tensor([[128., 256.],\n"
      "        [  2.,   4.]], grad_fn=<MulBackward0>)\n"
      "tensor([[ 96., 192.],\n"
      "        [  6.,  12.]], grad_fn=<MulBackward0>)\n"
      "tensor([[ 96., 192.],\n"
      "        [  6.,  12.]])\n";
  EXPECT_EQ(out, expected);
}
