// cumsum, cumprod, prod and flip beyond what the op table checks (values, every derivative rule,
// Taylor, vmap, layouts): dtypes, 0-d and empty inputs, dim wrapping, PyTorch 1.13's errors, node
// names, the in-place forms, float32 accumulation, and gradients and second derivatives where the
// input has zeros, against numbers from torch 1.13. Values and derivatives at edge values (0, -0,
// +-inf, nan, subnormals) are in tests/data/edge_cases.txt.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <dydx/dydx.hpp>

#include "test_util.hpp"

namespace dydx {
namespace {

using testing::HasValues;

Tensor f64(const std::vector<double>& values) { return tensor(values, dtype(kFloat64)); }

// The gradient of y's sum of products with weights (or of y itself) and, by double backward, the
// gradient of the sum of that gradient: both as PyTorch computes them.
struct TwoOrders {
  Tensor first, second;
};
TwoOrders two_orders(const Tensor& x, const Tensor& y, const Tensor& weights) {
  const Tensor g = grad({y}, {x}, {weights}, true, true)[0];
  return {g.detach(), grad({g.sum()}, {x})[0]};
}

TEST(Cumsum, ValuesAlongEachDimAndDtypes) {
  const Tensor m = tensor({1, 2, 3, 4, 5, 6}).reshape({2, 3});
  EXPECT_EQ(m.cumsum(1).dtype(), kInt64);
  EXPECT_TRUE(HasValues(m.cumsum(1), {1, 3, 6, 4, 9, 15}, 0));
  EXPECT_TRUE(HasValues(m.cumsum(-2), {1, 2, 3, 5, 7, 9}, 0));
  EXPECT_TRUE(HasValues(m.cumprod(0), {1, 2, 3, 4, 10, 18}, 0));
  const Tensor b = tensor({1.0, 0.0, 1.0}).to(kBool);
  EXPECT_EQ(cumsum(b, 0).dtype(), kInt64);
  EXPECT_TRUE(HasValues(cumsum(b, 0), {1, 1, 2}, 0));
  EXPECT_TRUE(HasValues(cumprod(b, 0), {1, 0, 0}, 0));
  EXPECT_EQ(cumsum(m, 0, kFloat32).dtype(), kFloat32);
  EXPECT_EQ(cumsum(tensor({1.0f, 2.0f}), 0, kFloat64).dtype(), kFloat64);
  EXPECT_TRUE(HasValues(cumsum(tensor({1.5, 2.5}), 0, kInt64), {1, 3}, 0));  // cast first, as PyTorch
  // int64 wraps, as PyTorch's: 2^62 * 2, 2^62 * 3.
  EXPECT_EQ(tensor({int64_t{1} << 62}).expand({3}).cumsum(0).to_vector<int64_t>(),
            (std::vector<int64_t>{int64_t{1} << 62, INT64_MIN, -(int64_t{1} << 62)}));
  // A broadcast (stride 0) input along the scanned dim.
  EXPECT_TRUE(HasValues(tensor({3.0, 4.0}).expand({3, 2}).cumsum(0), {3, 4, 6, 8, 9, 12}, 0));
}

TEST(Cumsum, ZeroDimAndEmptyAndErrors) {
  EXPECT_TRUE(HasValues(tensor(3.0).cumsum(0), {3}, 0));
  EXPECT_TRUE(HasValues(tensor(3.0).cumprod(-1), {3}, 0));
  EXPECT_EQ(ones({2, 0, 3}).cumsum(1).sizes().vec(), (std::vector<int64_t>{2, 0, 3}));
  EXPECT_EQ(ones({0, 3}).cumprod(0).numel(), 0);
  EXPECT_DYDX_ERROR(tensor(3.0).cumsum(1), "cumsum", "out of range");
  EXPECT_DYDX_ERROR(ones({2, 3}).cumsum(2), "cumsum", "out of range");
  EXPECT_DYDX_ERROR(ones({2, 3}).cumprod(-3), "cumprod", "out of range");
  EXPECT_DYDX_ERROR(cumsum(ones({2}), 0, kBool), "cumsum_out_cpu", "'Bool'");
}

// PyTorch's CPU scans accumulate float32 in double, so 2^22 times 0.1f sums to what double gives,
// rounded once (the float32 running sum would drift by thousands of ulps).
TEST(Cumsum, Float32AccumulatesInDoubleAlongAndAcross) {
  const int64_t n = int64_t{1} << 22;
  const Tensor along = full({n}, 0.1, dtype(kFloat32)).cumsum(0);
  EXPECT_EQ(along[n - 1].item<float>(), 419430.40625f);
  EXPECT_EQ(along[n / 2].item<float>(), 209715.296875f);
  const Tensor across = full({n, 2}, 0.1, dtype(kFloat32)).cumsum(0);
  EXPECT_EQ(across[n - 1][0].item<float>(), 419430.40625f);
  EXPECT_EQ(across[n - 1][1].item<float>(), 419430.40625f);
  // cumprod too: 1e30 * 1e30 overflows float32 but not the double running product.
  const std::vector<float> running = tensor({1e30f, 1e30f, 1e-30f}).cumprod(0).to_vector<float>();
  EXPECT_EQ(running, (std::vector<float>{1e30f, INFINITY, 1e30f}));
}

TEST(Cumsum, LargeScansMatchASerialLoopOnEveryLayout) {
  // Long enough for the thread pool: rows along the last dim, and columns along an outer dim with
  // an inner size that is not a multiple of the kernel's block.
  const Tensor x = randn({37, 300, 301}, dtype(kFloat64));
  for (int64_t dim : {0, 1, 2}) {
    const Tensor ours = x.cumsum(dim);
    Tensor reference = x.clone();
    NoGradGuard no_grad;
    for (int64_t i = 1; i < x.size(dim); ++i) reference.select(dim, i).add_(reference.select(dim, i - 1));
    EXPECT_TRUE(allclose(ours, reference, 1e-12, 1e-12)) << "dim " << dim;
    // A strided input scans as its dense copy does, bit for bit.
    EXPECT_TRUE(allclose(x.transpose(0, 2).cumsum(dim), x.transpose(0, 2).contiguous().cumsum(dim), 0, 0));
  }
}

TEST(Cumsum, NodeNamesAndGradients) {
  const Tensor x = f64({1, 2, 3}).requires_grad_();
  EXPECT_EQ(std::string(x.cumsum(0).grad_fn()->name()), "CumsumBackward0");
  EXPECT_EQ(std::string(x.cumprod(0).grad_fn()->name()), "CumprodBackward0");
  EXPECT_EQ(std::string(x.prod().grad_fn()->name()), "ProdBackward0");
  EXPECT_EQ(std::string(x.prod(0).grad_fn()->name()), "ProdBackward1");
  EXPECT_EQ(std::string(x.flip({0}).grad_fn()->name()), "FlipBackward0");
  // The reversed running sum of the cotangent; float32 input, float64 result: gradient in float32.
  EXPECT_TRUE(HasValues(grad({x.cumsum(0)}, {x}, {f64({1, 10, 100})})[0], {111, 110, 100}, 0));
  const Tensor xf = tensor({1.0f, 2.0f}).requires_grad_();
  const Tensor g = grad({cumsum(xf, 0, kFloat64)}, {xf}, {f64({1, 2})})[0];
  EXPECT_EQ(g.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(g, {3, 2}, 0));
}

// Gradients and second derivatives at zeros, against torch 1.13's: one zero, several in a slice.
TEST(Cumprod, GradientWithZerosMatchesPyTorch) {
  Tensor x = f64({2, 0, 3, 0, 5}).requires_grad_();
  EXPECT_TRUE(HasValues(grad({x.cumprod(0)}, {x}, {f64({1, 2, 3, 4, 5})})[0], {1, 22, 0, 0, 0}, 0));
  TwoOrders r = two_orders(x, x.cumprod(0), ones({5}, dtype(kFloat64)));
  EXPECT_TRUE(HasValues(r.first, {1, 8, 0, 0, 0}, 0));
  EXPECT_TRUE(HasValues(r.second, {4, 42, 2, 36, 0}, 0));
  Tensor y = f64({2, 0, 3, 4}).requires_grad_();
  EXPECT_TRUE(HasValues(grad({y.cumprod(0)}, {y}, {f64({1, 2, 3, 4})})[0], {1, 118, 0, 0}, 0));
  EXPECT_TRUE(HasValues(two_orders(y, y.cumprod(0), ones({4}, dtype(kFloat64))).second, {16, 32, 10, 6}, 0));
  // Along either dim of a matrix whose rows hold no zero, one, and two.
  Tensor m = f64({1, 0, 3, 0, 0, 2, 4, 5, 6}).reshape({3, 3}).requires_grad_();
  const Tensor w = f64({1, 2, 3, 4, 5, 6, 7, 8, 9}).reshape({3, 3});
  r = two_orders(m, m.cumprod(1), w);
  EXPECT_TRUE(HasValues(r.first, {1, 11, 0, 4, 0, 0, 317, 248, 180}, 0));
  EXPECT_TRUE(HasValues(r.second, {11, 14, 3, 17, 17, 0, 107, 98, 81}, 1e-14));
  r = two_orders(m, m.cumprod(0), w);
  EXPECT_TRUE(HasValues(r.first, {1, 2, 123, 32, 0, 180, 0, 0, 54}, 0));
  EXPECT_TRUE(HasValues(r.second, {32, 45, 78, 39, 45, 87, 7, 0, 45}, 1e-14));
  // All zeros: 1 + x1 + x1 x2, x0 + x0 x2, x0 x1, with no 0 / 0.
  const Tensor zeros3 = f64({0, 0, 0}).requires_grad_();
  EXPECT_TRUE(HasValues(grad({zeros3.cumprod(0).sum()}, {zeros3})[0], {1, 0, 0}, 0));
}

TEST(Prod, ValuesDtypesShapesAndErrors) {
  EXPECT_TRUE(HasValues(f64({1, 2, 3}).prod(), {6}, 0));
  EXPECT_EQ(f64({1, 2, 3}).prod().dim(), 0);
  EXPECT_EQ(tensor({1, 2}).prod().dtype(), kInt64);
  EXPECT_EQ(tensor({1.0, 1.0}).to(kBool).prod().dtype(), kInt64);
  EXPECT_EQ(prod(tensor({1.0f, 2.0f}), kFloat64).dtype(), kFloat64);
  EXPECT_TRUE(prod(tensor({1.0, 1.0}).to(kBool), kBool).item<bool>());
  EXPECT_FALSE(prod(tensor({1.0, 0.0}), kBool).item<bool>());
  EXPECT_EQ(tensor({int64_t{1} << 40, int64_t{1} << 40}).prod().item<int64_t>(), 0);  // wraps, as PyTorch
  EXPECT_TRUE(HasValues(ones({0, 3}).prod(), {1}, 0));  // the product of nothing
  EXPECT_TRUE(HasValues(ones({0, 3}).prod(0), {1, 1, 1}, 0));
  EXPECT_EQ(ones({2, 0, 3}).prod(1).sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ones({2, 3}).prod(1, true).sizes().vec(), (std::vector<int64_t>{2, 1}));
  EXPECT_TRUE(HasValues(tensor(3.0).prod(0), {3}, 0));
  EXPECT_EQ(tensor(3.0).prod(-1, true).dim(), 0);
  const Tensor m = f64({1, 2, 3, 4, 5, 6}).reshape({2, 3});
  EXPECT_TRUE(HasValues(m.prod(1), {6, 120}, 0));
  EXPECT_TRUE(HasValues(m.prod(-2), {4, 10, 18}, 0));
  EXPECT_TRUE(HasValues(m.t().prod(1), {4, 10, 18}, 0));  // a strided input
  EXPECT_TRUE(std::isinf(tensor({1e30f, 1e30f, 10.0f}).prod().item<float>()));  // a float32 overflow, as PyTorch
  EXPECT_DYDX_ERROR(ones({2, 3}).prod(2), "prod", "out of range");
  EXPECT_DYDX_ERROR(tensor(1.0).prod(1), "prod", "out of range");
}

TEST(Prod, LongRowsAndColumnsMatchALoop) {
  const Tensor x = rand({33, 1000}, dtype(kFloat64)) + 0.5;
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> rows(33, 1.0), cols(1000, 1.0);
  for (int64_t r = 0; r < 33; ++r)
    for (int64_t c = 0; c < 1000; ++c) {
      rows[r] *= v[r * 1000 + c];
      cols[c] *= v[r * 1000 + c];
    }
  const Tensor by_row = x.prod(1), by_col = x.prod(0);
  for (int64_t r = 0; r < 33; ++r) EXPECT_NEAR(by_row[r].item<double>() / rows[r], 1.0, 1e-12);
  for (int64_t c = 0; c < 1000; ++c) EXPECT_NEAR(by_col[c].item<double>() / cols[c], 1.0, 1e-12);
}

TEST(Prod, GradientWithZerosMatchesPyTorch) {
  // One zero: the gradient there is the product of the others, zero elsewhere.
  Tensor y = f64({2, 0, 3, 4}).requires_grad_();
  TwoOrders r = two_orders(y, y.prod(), f64({1}).reshape({}));
  EXPECT_TRUE(HasValues(r.first, {0, 24, 0, 0}, 0));
  EXPECT_TRUE(HasValues(r.second, {12, 26, 8, 6}, 0));
  // Two zeros: a zero gradient, and (unlike PyTorch 1.13's whole prod, whose gradient then has no
  // graph) the exact second derivative: sum_{i != j} prod_{k != i, j} x_k.
  Tensor x = f64({2, 0, 3, 0, 5}).requires_grad_();
  r = two_orders(x, x.prod(), f64({1}).reshape({}));
  EXPECT_TRUE(HasValues(r.first, {0, 0, 0, 0, 0}, 0));
  EXPECT_TRUE(HasValues(r.second, {0, 30, 0, 30, 0}, 0));
  // Along a dim, rows with no zero, one and two.
  Tensor m = f64({1, 0, 3, 0, 0, 2, 4, 5, 6}).reshape({3, 3}).requires_grad_();
  r = two_orders(m, m.prod(1), ones({3}, dtype(kFloat64)));
  EXPECT_TRUE(HasValues(r.first, {0, 3, 0, 0, 0, 0, 30, 24, 20}, 0));
  EXPECT_TRUE(HasValues(r.second, {3, 4, 1, 2, 2, 0, 11, 10, 9}, 0));
  r = two_orders(m, m.prod(0), ones({3}, dtype(kFloat64)));
  EXPECT_TRUE(HasValues(r.first, {0, 0, 12, 4, 0, 18, 0, 0, 6}, 0));
  EXPECT_TRUE(HasValues(r.second, {4, 5, 8, 5, 5, 9, 1, 0, 5}, 0));
  // Forward mode agrees with the gradient at zeros (no 0 / 0).
  const Tensor jvp_out = func::jvp([](const Tensor& in) { return in.prod(); }, f64({2, 0, 3, 4}), f64({1, 1, 1, 1})).second;
  EXPECT_TRUE(HasValues(jvp_out, {24}, 0));
}

TEST(Flip, ValuesDimsAndErrors) {
  const Tensor x = arange(24, dtype(kFloat64)).reshape({2, 3, 4});
  EXPECT_TRUE(HasValues(x.flip({0, 2})[1][2], {11, 10, 9, 8}, 0));
  EXPECT_TRUE(allclose(x.flip({-1, 0}), x.flip({0, 2}), 0, 0));
  EXPECT_TRUE(allclose(x.flip({}), x, 0, 0));
  EXPECT_TRUE(allclose(x.flip({1}).flip({1}), x, 0, 0));
  EXPECT_TRUE(allclose(x.transpose(0, 2).flip({0, 1}), x.transpose(0, 2).contiguous().flip({0, 1}), 0, 0));
  EXPECT_TRUE(HasValues(tensor(3.0).flip({0}), {3}, 0));
  EXPECT_TRUE(HasValues(tensor({1.0, 0.0, 1.0, 1.0}).to(kBool).flip({0}), {1, 1, 0, 1}, 0));
  EXPECT_EQ(tensor({1, 2, 3}).flip({0}).to_vector<int64_t>(), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(ones({2, 0}).flip({1}).sizes().vec(), (std::vector<int64_t>{2, 0}));
  // A copy, not a view: writing into it leaves x alone.
  Tensor flipped = x.flip({0});
  flipped.fill_(0);
  EXPECT_EQ(x.sum().item<double>(), 276);
  EXPECT_DYDX_ERROR(x.flip({0, 0}), "flip", "dim 0 appears multiple times");
  EXPECT_DYDX_ERROR(x.flip({0, -3}), "flip", "dim 0 appears multiple times");
  EXPECT_DYDX_ERROR(x.flip({3}), "flip", "out of range");
}

TEST(ScanInPlace, WritesSelfAndChecksFirst) {
  Tensor i = tensor({0, 1, 2});
  i.cumsum_(0);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 3}));
  Tensor f = f64({1, 2, 3});
  f.cumprod_(-1);
  EXPECT_TRUE(HasValues(f, {1, 2, 6}, 0));
  // Errors change nothing: a dtype other than self's, bool self, a dim out of range.
  Tensor g = tensor({1.0f, 2.0f});
  EXPECT_DYDX_ERROR(g.cumsum_(0, kFloat64), "cumsum_", "should match");
  EXPECT_DYDX_ERROR(g.cumprod_(1), "cumprod_", "out of range");
  Tensor b = tensor({1.0, 0.0}).to(kBool);
  EXPECT_DYDX_ERROR(b.cumsum_(0), "cumsum_out_cpu", "'Bool'");
  EXPECT_TRUE(HasValues(g, {1, 2}, 0));
  EXPECT_TRUE(HasValues(b, {1, 0}, 0));
  // A leaf that requires grad refuses; a non-leaf gets the scan's history.
  Tensor leaf = f64({1, 2}).requires_grad_();
  EXPECT_THROW(leaf.cumsum_(0), dydx::Error);
  Tensor h = leaf * 1.0;
  h.cumprod_(0);
  EXPECT_TRUE(HasValues(grad({h.sum()}, {leaf})[0], {3, 1}, 0));
  // Through a view: the base sees the write.
  Tensor base = f64({1, 2, 3, 4}).reshape({2, 2});
  base.select(1, 0).cumsum_(0);
  EXPECT_TRUE(HasValues(base, {1, 2, 4, 4}, 0));
}

// Under vmap the in-place scans write each sample's scan along the sample's dim, the batch dim
// anywhere; a 0-d sample is its own scan.
TEST(ScanInPlace, UnderVmap) {
  const Tensor x = randn({3, 4, 5}, dtype(kFloat64));
  for (int64_t in_dim : {0, 1, 2}) {
    const Tensor batch = x.movedim({0}, {in_dim}).contiguous();
    const auto scanned = func::vmap([](const Tensor& sample) {
      Tensor y = sample * 1.0;
      y.cumsum_(-1);
      y.cumprod_(0);
      return y;
    }, {in_dim})(batch);
    EXPECT_TRUE(allclose(scanned, x.cumsum(-1).cumprod(1), 1e-12, 1e-12)) << "in_dim " << in_dim;
  }
  const Tensor scalars = f64({1, 2, 3});
  const Tensor same = func::vmap([](const Tensor& sample) {
    Tensor y = sample * 1.0;
    y.cumsum_(0);
    return y;
  })(scalars);
  EXPECT_TRUE(HasValues(same, {1, 2, 3}, 0));
}

}  // namespace
}  // namespace dydx
