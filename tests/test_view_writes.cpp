// Writes through views and as_strided over any layout, against PyTorch 1.13's values, and the rule
// that an op that raises changes nothing.
//
// The expected numbers come from /usr/bin/python3 with torch 1.13 running the same program in
// float64; each test names the PyTorch lines it mirrors.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace dydx {
namespace {

using forward_ad::DualLevel;
using forward_ad::make_dual;
using forward_ad::unpack_dual;
using testing::HasValues;

Tensor range(int64_t n) { return arange(0, n, 1, kFloat64); }
Tensor range(int64_t rows, int64_t cols) { return range(rows * cols).reshape({rows, cols}); }

// ---------------------------------------------------------------------------------------------
// as_strided over non-contiguous inputs (issue 10, item 15)
// ---------------------------------------------------------------------------------------------

TEST(AsStrided, TransposedInputIsDifferentiated) {
  // x.t().as_strided([2,2],[1,4],1).backward([[1,2],[3,4]])
  Tensor x = range(3, 4).requires_grad_(true);
  Tensor y = x.t().as_strided({2, 2}, {1, 4}, 1);
  EXPECT_TRUE(HasValues(y, {1, 5, 2, 6}));
  EXPECT_STREQ(y.grad_fn()->name(), "AsStridedBackward0");
  y.backward(tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64));
  EXPECT_TRUE(HasValues(x.grad(), {0, 1, 3, 0, 0, 2, 4, 0, 0, 0, 0, 0}));
}

TEST(AsStrided, SlicedInputWithStepDropsLocationsOutsideIt) {
  // x[1::2] holds locations 1,3,5,7,9; the view reads 2,3,4,5, and only 3 and 5 are the input's.
  Tensor x = range(10).requires_grad_(true);
  Tensor y = x.slice(0, 1, std::nullopt, 2).as_strided({2, 2}, {2, 1}, 2);
  EXPECT_TRUE(HasValues(y, {2, 3, 4, 5}));
  y.backward(tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64));
  EXPECT_TRUE(HasValues(x.grad(), {0, 0, 0, 2, 0, 4, 0, 0, 0, 0}));
}

TEST(AsStrided, ExpandedInputSharesEachLocationsGradient) {
  // x.expand(3,4).as_strided([2,3],[1,1],0).backward(arange(6).reshape(2,3) + 1)
  Tensor x = range(4).requires_grad_(true);
  Tensor y = x.expand({3, 4}).as_strided({2, 3}, {1, 1}, 0);
  y.backward(range(2, 3) + 1.0);
  EXPECT_TRUE(HasValues(x.grad(), {1, 6, 8, 6}));
}

TEST(AsStrided, ViewReachingOutsideItsInputDropsThoseLocations) {
  // b[2:4].as_strided([4],[1],0).backward([1,2,3,4]): PyTorch differentiates with respect to the
  // input's own elements only.
  Tensor b = range(8).requires_grad_(true);
  Tensor y = b.slice(0, 2, 4).as_strided({4}, {1}, 0);
  EXPECT_TRUE(HasValues(y, {0, 1, 2, 3}));
  y.backward(tensor({1.0, 2.0, 3.0, 4.0}, kFloat64));
  EXPECT_TRUE(HasValues(b.grad(), {0, 0, 3, 4, 0, 0, 0, 0}));
}

TEST(AsStrided, DoubleBackwardThroughATransposedInput) {
  // f = (x.t().as_strided([2,2],[1,4],1)**3 * w).sum(), x = arange(12).reshape(3,4)/7
  Tensor x = (range(3, 4) / 7.0).requires_grad_(true);
  Tensor w = tensor({{1.0, -2.0}, {3.0, 0.5}}, kFloat64);
  Tensor f = (x.t().as_strided({2, 2}, {1, 4}, 1).pow(3) * w).sum();
  Tensor g = grad({f}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(HasValues(g, {0, 0.0612244898, 0.7346938776, 0, 0, -3.0612244898, 1.1020408163, 0, 0, 0, 0, 0}, 1e-9));
  (g * (range(3, 4) + 1.0)).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 1.7142857143, 15.4285714286, 0, 0, -51.4285714286, 18, 0, 0, 0, 0, 0}, 1e-9));
}

TEST(AsStrided, DoubleBackwardThroughAnExpandedTransposedInput) {
  // f = (x.expand(4,3).t().as_strided([2,2],[1,1],0)**3).sum(), x = arange(3)/5 + 0.1
  Tensor x = (range(3) / 5.0 + 0.1).requires_grad_(true);
  Tensor f = x.expand({4, 3}).t().as_strided({2, 2}, {1, 1}, 0).pow(3).sum();
  Tensor g = grad({f}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(HasValues(g, {0.03, 0.54, 0.75}, 1e-12));
  g.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0.6, 3.6, 3.0}, 1e-12));
}

TEST(AsStrided, ForwardModeThroughNonContiguousInputs) {
  DualLevel level;
  // make_dual(arange(12).reshape(3,4), 10 * arange(12).reshape(3,4) + 1).t().as_strided([2,2],[1,4],1)
  Tensor d = make_dual(range(3, 4), range(3, 4) * 10.0 + 1.0);
  EXPECT_TRUE(HasValues(unpack_dual(d.t().as_strided({2, 2}, {1, 4}, 1)).tangent, {11, 51, 21, 61}));
  // make_dual(arange(4), [1,2,3,4]).expand(3,4).as_strided([2,3],[1,1],0)
  Tensor e = make_dual(range(4), tensor({1.0, 2.0, 3.0, 4.0}, kFloat64));
  EXPECT_TRUE(HasValues(unpack_dual(e.expand({3, 4}).as_strided({2, 3}, {1, 1}, 0)).tangent, {1, 2, 3, 2, 3, 4}));
  // Locations outside the input: PyTorch reads its base's tangent there ([102,103,104,105]);
  // dydx gives 0 there, the derivative its reverse mode (and PyTorch's) computes.
  Tensor s = make_dual(range(10), range(10) + 100.0);
  EXPECT_TRUE(HasValues(unpack_dual(s.slice(0, 1, std::nullopt, 2).as_strided({2, 2}, {2, 1}, 2)).tangent, {0, 103, 0, 105}));
}

TEST(AsStrided, ReverseAndForwardModeAgreeOnEveryLayout) {
  // <u, J v> computed both ways, for inputs transposed, sliced with a step, and expanded.
  manual_seed(7);
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    Dims input;
  };
  const std::vector<Case> cases = {
      {"transposed", [](const Tensor& x) { return x.t().as_strided({3, 2}, {1, 3}, 1); }, {4, 3}},
      {"sliced", [](const Tensor& x) { return x.slice(1, 1, std::nullopt, 2).as_strided({2, 3}, {5, 2}, 1); }, {3, 5}},
      {"expanded", [](const Tensor& x) { return x.expand({2, 4}).as_strided({3, 3}, {1, 0}, 0); }, {4}},
      {"overlapping output", [](const Tensor& x) { return x.as_strided({3, 3}, {1, 1}, 0); }, {6}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor x = randn(c.input, kFloat64);
    Tensor v = randn(c.input, kFloat64);
    Tensor out = c.f(x);
    Tensor u = randn(out.sizes(), kFloat64);
    Tensor jv;
    {
      DualLevel level;
      jv = unpack_dual(c.f(make_dual(x, v))).tangent;
    }
    Tensor leaf = x.clone().requires_grad_(true);
    Tensor vjp = grad({c.f(leaf)}, {leaf}, {u})[0];
    EXPECT_NEAR((u * jv).sum().item<double>(), (vjp * v).sum().item<double>(), 1e-10);
    // Batched cotangents and batched tangents: the whole Jacobian, both ways.
    Tensor by_rows = func::jacrev(c.f)(x), by_columns = func::jacfwd(c.f)(x);
    EXPECT_TRUE(allclose(by_rows, by_columns, 1e-12, 1e-12)) << to_string(by_rows) << to_string(by_columns);
    // Second order: forward over reverse against reverse over reverse.
    auto cubed = [&](const Tensor& t) { return c.f(t).pow(3).sum(); };
    EXPECT_TRUE(allclose(func::hessian(cubed)(x), func::jacrev(func::grad(cubed))(x), 1e-10, 1e-10));
  }
}


// ---------------------------------------------------------------------------------------------
// In-place writes through views of non-contiguous bases (issue 10, item 14)
// ---------------------------------------------------------------------------------------------

TEST(ViewWrites, ThroughARowOfATransposedBase) {
  // b = arange(12).reshape(3,4).t().detach(); b[1].mul_(s); (b * arange(12).reshape(4,3)).sum().backward()
  Tensor b = range(3, 4).t().detach();
  Tensor s = tensor({0.5, -1.0, 2.0}, kFloat64).requires_grad_(true);
  Tensor v = b.select(0, 1);
  v.mul_(s);
  EXPECT_TRUE(HasValues(b, {0, 4, 8, 0.5, -5, 18, 2, 6, 10, 3, 7, 11}));
  EXPECT_STREQ(b.grad_fn()->name(), "CopySlices");
  EXPECT_STREQ(v.grad_fn()->name(), "AsStridedBackward0");
  (b * range(4, 3)).sum().backward();
  EXPECT_TRUE(HasValues(s.grad(), {3, 20, 45}));
}

TEST(ViewWrites, SuccessiveWritesIntoATransposedBaseWithHistory) {
  // b.mul_(s2); b[1:3, 0].copy_(s3 * 2); b.select(1, 2).add_(s4); (b**2 * arange(12).reshape(4,3)).sum()
  Tensor b = range(3, 4).t().detach();
  Tensor s2 = tensor({1.0, 2.0, 3.0}, kFloat64).requires_grad_(true);
  Tensor s3 = tensor({-1.0, 0.5}, kFloat64).requires_grad_(true);
  Tensor s4 = tensor({0.25, 1.0, 2.0, -3.0}, kFloat64).requires_grad_(true);
  b.mul_(s2);
  b.slice(0, 1, 3).select(1, 0).copy_(s3 * 2.0);
  b.select(1, 2).add_(s4);
  EXPECT_TRUE(HasValues(b, {0, 8, 24.25, -2, 10, 28, 1, 12, 32, 3, 14, 30}));
  (b.pow(2) * range(4, 3)).sum().backward();
  EXPECT_TRUE(HasValues(s2.grad(), {162, 3432, 15676}));
  EXPECT_TRUE(HasValues(s3.grad(), {-24, 24}));
  EXPECT_TRUE(HasValues(s4.grad(), {97, 280, 512, 660}));
}

TEST(ViewWrites, ThroughASlicedBaseWithAStep) {
  // big = arange(10); b = big[1::2].detach(); b[1:4].copy_(s*2); b[::2].mul_(s5)
  Tensor big = range(10);
  Tensor b = big.slice(0, 1, std::nullopt, 2).detach();
  ASSERT_EQ(b.storage_offset(), 1);
  Tensor s = tensor({1.0, 2.0, 3.0}, kFloat64).requires_grad_(true);
  Tensor s5 = tensor({2.0, -1.0, 0.5}, kFloat64).requires_grad_(true);
  b.slice(0, 1, 4).copy_(s * 2.0);
  b.slice(0, 0, std::nullopt, 2).mul_(s5);
  EXPECT_TRUE(HasValues(b, {2, 2, -4, 6, 4.5}));
  EXPECT_TRUE(HasValues(big, {0, 2, 2, 2, 4, -4, 6, 6, 8, 4.5}));
  (b * tensor({1.0, 2.0, 3.0, 4.0, 5.0}, kFloat64)).pow(2).sum().backward();
  EXPECT_TRUE(HasValues(s.grad(), {32, 144, 384}));
  EXPECT_TRUE(HasValues(s5.grad(), {4, -288, 2025}));
}

TEST(ViewWrites, ThroughAViewThatIsNoStridedRegionOfTheBasesIndexSpace) {
  // b = arange(6).reshape(2,3).t().detach() (strides [1,3]); w = b.t().reshape(6) walks b's
  // memory in order, which no strides over b's row-major index space describe.
  Tensor b = range(2, 3).t().detach();
  Tensor w = b.t().reshape({6});
  Tensor s6 = tensor({1.0, 2.0, 3.0, 4.0}, kFloat64).requires_grad_(true);
  w.slice(0, 1, 5).mul_(s6);
  EXPECT_TRUE(HasValues(b, {0, 9, 1, 16, 4, 5}));
  (b * range(3, 2)).sum().backward();
  EXPECT_TRUE(HasValues(s6.grad(), {2, 8, 3, 12}));
}

TEST(ViewWrites, DoubleBackwardThroughWritesIntoATransposedBase) {
  // b.mul_(s2); b[1:3, 0].copy_(s3 * 2); b.select(1, 2).mul_(s3.sum()); f = (b**3).sum()
  Tensor b = range(3, 4).t().detach();
  Tensor s2 = tensor({1.0, 2.0, 3.0}, kFloat64).requires_grad_(true);
  Tensor s3 = tensor({-1.0, 0.5}, kFloat64).requires_grad_(true);
  b.mul_(s2);
  b.slice(0, 1, 3).select(1, 0).copy_(s3 * 2.0);
  b.select(1, 2).mul_(s3.sum());
  TensorList g = grad({b.pow(3).sum()}, {s2, s3}, {}, std::nullopt, true);
  EXPECT_TRUE(HasValues(g[0], {81, 8976, -12055.5}, 1e-12));
  EXPECT_TRUE(HasValues(g[1], {72357, 72339}, 1e-12));
  ((g[0] * g[0]).sum() + (g[1] * g[1]).sum()).backward();
  EXPECT_TRUE(HasValues(s2.grad(), {26244, 161137152, 21126371643}, 1e-12));
  EXPECT_TRUE(HasValues(s3.grad(), {-85481333379, -85470914835}, 1e-12));
}

TEST(ViewWrites, ForwardModeTangentsThroughATransposedBase) {
  DualLevel level;
  // b = arange(12).reshape(3,4).t().detach(); v0 = b[0]; b[1].copy_(d); b[:, 1].mul_(d[1])
  Tensor b = range(3, 4).t().detach();
  Tensor v0 = b.select(0, 0);
  Tensor d = make_dual(tensor({1.0, 2.0, 3.0}, kFloat64), tensor({10.0, 20.0, 30.0}, kFloat64));
  b.select(0, 1).copy_(d);
  b.select(1, 1).mul_(d.select(0, 1));
  EXPECT_TRUE(HasValues(b, {0, 8, 8, 1, 4, 3, 2, 12, 10, 3, 14, 11}));
  EXPECT_TRUE(HasValues(unpack_dual(b).tangent, {0, 80, 0, 10, 80, 30, 0, 120, 0, 0, 140, 0}));
  EXPECT_TRUE(HasValues(unpack_dual(v0).tangent, {0, 80, 0}));  // a view made before the writes
  EXPECT_TRUE(HasValues(unpack_dual((b * b).sum()).tangent, {8920}));
}

TEST(ViewWrites, ForwardModeTangentsOfATransposedDual) {
  DualLevel level;
  // dd = make_dual(arange(12).reshape(3,4).t(), (10 * arange(12).reshape(3,4) + 1).t()); v1 = dd[0]
  // dd.t().reshape(12)[2:6].mul_(make_dual([1,2,3,4], [1,-1,2,-2]))
  Tensor dd = make_dual(range(3, 4).t(), (range(3, 4) * 10.0 + 1.0).t());
  Tensor v1 = dd.select(0, 0);
  Tensor w = dd.t().reshape({12});
  Tensor e = make_dual(tensor({1.0, 2.0, 3.0, 4.0}, kFloat64), tensor({1.0, -1.0, 2.0, -2.0}, kFloat64));
  w.slice(0, 2, 6).mul_(e);
  auto [primal, tangent] = unpack_dual(dd);
  EXPECT_TRUE(HasValues(primal, {0, 12, 8, 1, 20, 9, 2, 6, 10, 6, 7, 11}));
  EXPECT_TRUE(HasValues(tangent, {1, 131, 81, 11, 194, 91, 23, 61, 101, 59, 71, 111}));
  EXPECT_TRUE(HasValues(unpack_dual(v1).tangent, {1, 131, 81}));
}

TEST(ViewWrites, ThroughAViewOfAnExpandedBaseRaisesBeforeWriting) {
  // PyTorch writes, then raises the overlap error in backward; dydx raises before writing.
  Tensor e = range(4).expand({3, 4}).detach();
  Tensor s = tensor({5.0, 6.0, 7.0, 8.0}, kFloat64).requires_grad_(true);
  const int64_t version = e._version();
  try {
    e.select(0, 0).copy_(s * 1.0);
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("more than one element"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("copy_"), std::string::npos) << err.what();
  }
  EXPECT_TRUE(HasValues(e, {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(e._version(), version);
  EXPECT_FALSE(e.requires_grad());
  // Without history there is nothing to rewrite, and the write is fine, as in PyTorch.
  e.select(0, 0).copy_(tensor({5.0, 6.0, 7.0, 8.0}, kFloat64));
  EXPECT_TRUE(HasValues(e, {5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8}));
}

}  // namespace
}  // namespace dydx
