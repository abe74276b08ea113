// Writes through views and as_strided over any layout, against PyTorch 1.13's values, and the rule
// that an op that raises changes nothing.
//
// The expected numbers come from /usr/bin/python3 with torch 1.13 running the same program in
// float64; each test names the PyTorch lines it mirrors.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

#include "test_util.hpp"

namespace dydx {
namespace {

using forward_ad::DualLevel;
using forward_ad::make_dual;
using forward_ad::unpack_dual;
using testing::HasValues;

Tensor range(int64_t n) { return arange(0, n, 1, kFloat64); }
Tensor range(int64_t rows, int64_t cols) { return range(rows * cols).reshape({rows, cols}); }
Tensor f64(std::initializer_list<double> v) { return tensor(std::vector<double>(v), kFloat64); }
Tensor leaf(std::initializer_list<double> v) { return f64(v).requires_grad_(true); }

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

TEST(ViewWrites, ThroughARowOfAnExpandedViewWritesItsRoot) {
  // x = x0 * 1; e = x.expand(3,4); e[1].mul_(s); (e * arange(12).reshape(3,4)).sum().backward()
  Tensor x0 = leaf({1, 2, 3, 4});
  Tensor x = x0 * 1.0;
  Tensor e = x.expand({3, 4});
  Tensor s = leaf({2, -1, 0.5, 3});
  e.select(0, 1).mul_(s);
  EXPECT_TRUE(HasValues(x, {2, -2, 1.5, 12}));
  EXPECT_TRUE(HasValues(e, {2, -2, 1.5, 12, 2, -2, 1.5, 12, 2, -2, 1.5, 12}));
  EXPECT_STREQ(x.grad_fn()->name(), "CopySlices");
  EXPECT_STREQ(e.grad_fn()->name(), "AsStridedBackward0");
  (e * range(3, 4)).sum().backward();
  EXPECT_TRUE(HasValues(x0.grad(), {24, -15, 9, 63}));
  EXPECT_TRUE(HasValues(s.grad(), {12, 30, 54, 84}));
}

TEST(ViewWrites, JacobiansAndHessiansThroughWritesAgreeBothWays) {
  // Writes into bases laid out transposed, with a step, and walked out of index order: the
  // Jacobian from batched cotangents (CopySlices' rule) equals the one from batched tangents
  // (the forward write), and forward over reverse equals reverse over reverse.
  using Write = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, Write>> cases = {
      {"transposed",
       [](const Tensor& s) {
         Tensor b = range(3, 4).t().detach();
         b.select(0, 1).mul_(s);
         b.slice(0, 1, 3).select(1, 0).copy_(s.slice(0, 0, 2) * s.slice(0, 1, 3));
         return b * b;
       }},
      {"sliced with a step",
       [](const Tensor& s) {
         Tensor b = range(12).slice(0, 1, std::nullopt, 2).detach();
         b.slice(0, 1, 4).copy_(s.exp());
         b.slice(0, 0, std::nullopt, 2).mul_(s);
         return b.pow(2);
       }},
      {"out of index order",
       [](const Tensor& s) {
         Tensor b = range(2, 3).t().detach();
         b.t().reshape({6}).slice(0, 2, 5).mul_(s);
         return b.sin();
       }},
  };
  const Tensor s = f64({0.5, -1.25, 2.0});
  for (const auto& [name, write] : cases) {
    SCOPED_TRACE(name);
    const Write f = write;  // a copy: clang 14 cannot capture a structured binding
    Tensor by_rows = func::jacrev(f)(s), by_columns = func::jacfwd(f)(s);
    EXPECT_TRUE(allclose(by_rows, by_columns, 1e-12, 1e-12)) << to_string(by_rows) << to_string(by_columns);
    EXPECT_GT(by_rows.abs().sum().item<double>(), 0);
    auto total = [&f](const Tensor& t) { return f(t).sum(); };
    EXPECT_TRUE(allclose(func::hessian(total)(s), func::jacrev(func::grad(total))(s), 1e-10, 1e-10));
  }
}

// Random chains of views and writes, run on one base laid out three ways: contiguous (the path
// that needs no matching by location), transposed and strided with a step. The math does not
// depend on the layout, so values, gradients and tangents must agree to the last bit.
TEST(ViewWrites, RandomWritesGiveTheSameResultsOnEveryLayout) {
  std::mt19937 rng(2026);
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  const Dims shape{3, 4, 5};
  const Tensor values = randn(shape, kFloat64);
  const Tensor weights = randn(shape, kFloat64);
  auto laid_out = [&](int layout) {
    NoGradGuard no_grad;
    Tensor b = layout == 0   ? zeros(shape, kFloat64)
               : layout == 1 ? zeros({5, 4, 3}, kFloat64).permute({2, 1, 0})
                             : zeros({3, 4, 10}, kFloat64).slice(2, 0, std::nullopt, 2);
    b = b.detach();
    b.copy_(values);
    return b;
  };
  int checked = 0;
  for (int trial = 0; trial < 150; ++trial) {
    // One recipe: for each write, a chain of views and an op; the sources' values.
    struct Step {
      int view;
      int64_t a, b, c;
    };
    struct Write {
      std::vector<Step> chain;
      int op;
    };
    std::vector<Write> writes(1 + pick(3));
    for (auto& w : writes) {
      w.op = static_cast<int>(pick(3));
      for (int64_t k = pick(3); k >= 0; --k) w.chain.push_back({static_cast<int>(pick(3)), static_cast<int64_t>(rng()), static_cast<int64_t>(rng()), static_cast<int64_t>(rng())});
    }
    auto view_of = [](Tensor v, const std::vector<Step>& chain) {
      for (const Step& st : chain) {
        if (v.dim() == 0) break;
        const int64_t d = st.a % v.dim();
        if (st.view == 0 && v.size(d) > 0) v = v.select(d, st.b % v.size(d));
        if (st.view == 1) v = v.slice(d, st.b % 3, std::nullopt, 1 + st.c % 2);
        if (st.view == 2) v = v.transpose(d, st.b % v.dim());
      }
      return v;
    };
    std::vector<Tensor> sources;
    {
      Tensor probe = laid_out(0);
      for (const auto& w : writes) sources.push_back(randn(view_of(probe, w.chain).sizes(), kFloat64));
    }
    auto run = [&](int layout, TensorList& grads, Tensor& tangent) {
      Tensor b = laid_out(layout);
      TensorList leaves;
      for (const Tensor& src : sources) leaves.push_back(src.clone().requires_grad_(true));
      DualLevel level;
      Tensor early;  // a view made before the writes: its history and tangent are refreshed
      for (size_t i = 0; i < writes.size(); ++i) {
        Tensor v = view_of(b, writes[i].chain);
        if (i == 0) early = view_of(b, writes.back().chain);
        Tensor src = make_dual(leaves[i] * 1.0, leaves[i].detach().cos());
        if (writes[i].op == 0) v.mul_(src);
        if (writes[i].op == 1) v.add_(src, 0.5);
        if (writes[i].op == 2) v.copy_(src.sin());
      }
      tangent = unpack_dual(b).tangent;
      Tensor early_tangent = unpack_dual(early).tangent;
      if (early_tangent.defined()) tangent = cat({tangent.reshape({-1}), early_tangent.reshape({-1})});
      Tensor loss = (b.pow(2) * weights).sum() + early.exp().sum();
      grads = grad({loss}, leaves, {}, std::nullopt, false, true);
      return b;
    };
    TensorList grads0, grads;
    Tensor tangent0, tangent;
    Tensor b0 = run(0, grads0, tangent0);
    for (int layout = 1; layout <= 2; ++layout) {
      SCOPED_TRACE("trial " + std::to_string(trial) + ", layout " + std::to_string(layout));
      Tensor b = run(layout, grads, tangent);
      ASSERT_TRUE(equal(b, b0));
      ASSERT_EQ(tangent.defined(), tangent0.defined());
      if (tangent.defined()) ASSERT_TRUE(allclose(tangent, tangent0, 1e-14, 1e-14));
      for (size_t i = 0; i < grads.size(); ++i) {
        ASSERT_EQ(grads[i].defined(), grads0[i].defined());
        if (grads[i].defined()) ASSERT_TRUE(allclose(grads[i], grads0[i], 1e-14, 1e-14)) << "source " << i;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 300);
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

// ---------------------------------------------------------------------------------------------
// An op that raises changes nothing
// ---------------------------------------------------------------------------------------------
//
// Each row builds the tensors it involves, then makes a call that must raise dydx::Error. Every
// tensor's values, version counter, autograd state (grad_fn, requires_grad, retains_grad, .grad),
// hooks, tangents and geometry must be as they were before the call.

struct TensorState {
  std::vector<double> values;
  int64_t version = 0;
  const void* grad_fn = nullptr;
  size_t grad_fn_hooks = 0;
  bool requires_grad = false;
  bool retains_grad = false;
  const void* grad = nullptr;
  std::vector<double> grad_values;
  size_t hooks = 0;
  std::vector<const void*> tangents;
  std::vector<int64_t> geometry;  // sizes, strides, offset

  bool operator==(const TensorState&) const = default;
};

std::vector<double> values_of(const Tensor& t) {
  NoGradGuard no_grad;
  return t.detach().to(kFloat64).to_vector<double>();
}

// Read from the impl directly: the accessors may refresh a view's history, which is itself a change.
TensorState state_of(const Tensor& t) {
  TensorState s;
  if (!t.defined()) return s;
  const auto& impl = *t.impl();
  s.values = values_of(t);
  s.version = t._version();
  s.grad_fn = impl.grad_fn.get();
  s.grad_fn_hooks = impl.grad_fn ? impl.grad_fn->pre_hooks.size() : 0;
  s.requires_grad = impl.requires_grad;
  s.retains_grad = impl.retains_grad;
  s.grad = impl.grad.get();
  if (impl.grad) s.grad_values = values_of(Tensor(impl.grad));
  s.hooks = impl.hooks.size();
  for (const auto& [level, tangent] : impl.tangents) s.tangents.push_back(tangent.get());
  s.geometry.assign(impl.sizes.begin(), impl.sizes.end());
  s.geometry.insert(s.geometry.end(), impl.strides.begin(), impl.strides.end());
  s.geometry.push_back(impl.offset);
  return s;
}

std::string describe(const TensorState& s) {
  std::string out = "version " + std::to_string(s.version) + ", grad_fn " + (s.grad_fn ? "set" : "none") +
                    ", requires_grad " + std::to_string(s.requires_grad) + ", grad " + (s.grad ? "set" : "none") +
                    ", values";
  for (double v : s.values) out += " " + std::to_string(v);
  return out;
}

struct HostileCall {
  const char* name;
  std::function<TensorList()> setup;  // the tensors involved, all of them
  std::function<void(TensorList&)> call;
  const char* message;  // a part of the error's text
};

// A tensor with history: what a model's activations are.
Tensor computed(std::initializer_list<double> v) { return leaf(v) * 1.0; }

std::vector<HostileCall> hostile_calls() {
  using L = TensorList;
  std::vector<HostileCall> rows;
  // Shapes that do not broadcast into self, with and without history to record.
  for (const char* op : {"add_", "sub_", "mul_", "div_", "copy_"}) {
    auto apply = [op = std::string(op)](Tensor self, const Tensor& other) {
      if (op == "add_") self.add_(other);
      if (op == "sub_") self.sub_(other);
      if (op == "mul_") self.mul_(other);
      if (op == "div_") self.div_(other);
      if (op == "copy_") self.copy_(other);
    };
    rows.push_back({op, [] { return L{f64({1, 2, 3}), f64({1, 2})}; }, [apply](L& t) { apply(t[0], t[1]); }, op});
    rows.push_back({op, [] { return L{f64({1, 2, 3}), leaf({1, 2})}; }, [apply](L& t) { apply(t[0], t[1]); }, op});
    rows.push_back({op, [] { return L{computed({1, 2, 3}), f64({1, 2})}; }, [apply](L& t) { apply(t[0], t[1]); }, op});
    // Undefined tensors (a default-constructed one, an unused gradient) crashed here.
    rows.push_back({op, [] { return L{f64({1, 2}), Tensor()}; }, [apply](L& t) { apply(t[0], t[1]); }, op});
    rows.push_back({op, [] { return L{computed({1, 2}), Tensor()}; }, [apply](L& t) { apply(t[0], t[1]); }, op});
    rows.push_back({op, [] { return L{Tensor(), f64({1, 2})}; }, [apply](L& t) { apply(t[0], t[1]); }, op});
    // Broadcasting would grow self.
    rows.push_back({op, [] { return L{f64({1, 2}), f64({1, 2, 3, 4}).reshape({2, 2})}; },
                    [apply](L& t) { apply(t[0], t[1]); }, op});
    rows.push_back({op, [] { return L{computed({1, 2}), leaf({1, 2, 3, 4}).reshape({2, 2})}; },
                    [apply](L& t) { apply(t[0], t[1]); }, op});
    // A leaf that requires grad, and a view of one.
    rows.push_back({op, [] { return L{leaf({1, 2}), f64({3, 4})}; }, [apply](L& t) { apply(t[0], t[1]); }, "leaf"});
    rows.push_back({op, [] { Tensor x = leaf({1, 2, 3, 4}); return L{x, x.slice(0, 1, 3), f64({3, 4})}; },
                    [apply](L& t) { apply(t[1], t[2]); }, "leaf"});
    // A view made under no_grad, written with grad mode on.
    rows.push_back({op,
                    [] {
                      Tensor x = computed({1, 2, 3});
                      NoGradGuard no_grad;
                      return L{x, x.slice(0, 0, 2), f64({5, 6})};
                    },
                    [apply](L& t) { apply(t[1], t[2]); }, "no_grad"});
    // Self with several elements at one address; a source overlapping self partly.
    rows.push_back({op, [] { Tensor x = f64({1, 2}); return L{x, x.expand({3, 2}), f64({1, 1})}; },
                    [apply](L& t) { apply(t[1], t[2]); }, "single memory location"});
    rows.push_back({op, [] { Tensor x = computed({1, 2}); return L{x, x.expand({3, 2}), leaf({1, 1})}; },
                    [apply](L& t) { apply(t[1], t[2]); }, "single memory location"});
    rows.push_back({op, [] { Tensor x = f64({1, 2, 3, 4}); return L{x, x.slice(0, 1, 4), x.slice(0, 0, 3)}; },
                    [apply](L& t) { apply(t[1], t[2]); }, "single memory location"});
    rows.push_back({op, [] { Tensor x = computed({1, 2, 3, 4}); return L{x, x.slice(0, 1, 4), x.slice(0, 0, 3)}; },
                    [apply](L& t) { apply(t[1], t[2]); }, "single memory location"});
    rows.push_back({op, [] { Tensor x = f64({1, 2, 3, 4}).reshape({2, 2}); return L{x, x.t()}; },
                    [apply](L& t) { apply(t[0], t[1]); }, "single memory location"});
    // A write with history through a view of a base whose elements share memory.
    rows.push_back({op, [] { Tensor e = f64({1, 2}).expand({3, 2}).detach(); return L{e, e.select(0, 1), leaf({3, 4})}; },
                    [apply](L& t) { apply(t[1], t[2] * 1.0); }, "single memory location"});
  }
  // Results that self's dtype cannot hold.
  auto ints = [] { return tensor({1, 2, 3}); };
  rows.push_back({"add_ float into int64", [&] { return L{ints(), f64({1, 2, 3})}; }, [](L& t) { t[0].add_(t[1]); }, "can't be cast"});
  rows.push_back({"add_ float leaf into int64", [&] { return L{ints(), leaf({1, 2, 3})}; }, [](L& t) { t[0].add_(t[1]); }, "can't be cast"});
  rows.push_back({"sub_ float into int64", [&] { return L{ints(), f64({1, 2, 3})}; }, [](L& t) { t[0].sub_(t[1]); }, "can't be cast"});
  rows.push_back({"mul_ float into int64", [&] { return L{ints(), leaf({1, 2, 3})}; }, [](L& t) { t[0].mul_(t[1]); }, "can't be cast"});
  rows.push_back({"div_ int64 by int64", [&] { return L{ints(), tensor({2, 2, 2})}; }, [](L& t) { t[0].div_(t[1]); }, "can't be cast"});
  rows.push_back({"div_ int64 by float", [&] { return L{ints(), leaf({2, 2, 2})}; }, [](L& t) { t[0].div_(t[1]); }, "can't be cast"});
  rows.push_back({"add_ float scalar into int64", [&] { return L{ints()}; }, [](L& t) { t[0].add_(2.5); }, "can't be cast"});
  rows.push_back({"mul_ float scalar into int64", [&] { return L{ints()}; }, [](L& t) { t[0].mul_(0.5); }, "can't be cast"});
  rows.push_back({"add_ float alpha into int64", [&] { return L{ints(), tensor({1, 1, 1})}; }, [](L& t) { t[0].add_(t[1], 0.5); }, "add_"});
  rows.push_back({"+= float scalar into int64 view", [&] { Tensor x = ints(); return L{x, x.slice(0, 1, 3)}; },
                  [](L& t) { t[1] += 1.5; }, "can't be cast"});
  // fill_ and zero_.
  rows.push_back({"fill_ nan into int64", [&] { return L{ints()}; }, [](L& t) { t[0].fill_(NAN); }, "fill_"});
  rows.push_back({"fill_ 1e30 into int64", [&] { return L{ints()}; }, [](L& t) { t[0].fill_(1e30); }, "fill_"});
  rows.push_back({"fill_ a leaf", [] { return L{leaf({1, 2})}; }, [](L& t) { t[0].fill_(3); }, "leaf"});
  rows.push_back({"zero_ a leaf", [] { return L{leaf({1, 2})}; }, [](L& t) { t[0].zero_(); }, "leaf"});
  rows.push_back({"zero_ a view of a leaf", [] { Tensor x = leaf({1, 2}); return L{x, x.select(0, 0)}; },
                  [](L& t) { t[1].zero_(); }, "leaf"});
  rows.push_back({"fill_ an expanded tensor", [] { Tensor x = computed({1}); return L{x, x.expand({3})}; },
                  [](L& t) { t[1].fill_(2); }, "single memory location"});
  // An expanded tensor without history can be zeroed (each address once); overlapping windows cannot.
  rows.push_back({"zero_ overlapping windows", [] { Tensor x = f64({1, 2, 3}); return L{x, x.as_strided({2, 2}, {1, 1}, 0)}; },
                  [](L& t) { t[1].zero_(); }, "single memory location"});
  rows.push_back({"fill_ a no_grad view", [] {
                    Tensor x = computed({1, 2});
                    NoGradGuard no_grad;
                    return L{x, x.select(0, 1)};
                  },
                  [](L& t) { t[1].fill_(7); }, "no_grad"});
  // Forward mode: a dual source written with history through a view of an overlapping base.
  rows.push_back({"copy_ a dual through a view of an expanded base",
                  [] {
                    Tensor e = f64({1, 2}).expand({2, 2}).detach();
                    return L{e, e.select(0, 0), make_dual(f64({5, 6}), f64({1, 1}))};
                  },
                  [](L& t) { t[1].copy_(t[2]); }, "single memory location"});
  rows.push_back({"mul_ a dual by a mismatched dual",
                  [] { return L{make_dual(f64({1, 2, 3}), f64({1, 1, 1})), make_dual(f64({5, 6}), f64({1, 1}))}; },
                  [](L& t) { t[0].mul_(t[1]); }, "mul"});
  // Autograd state.
  rows.push_back({"requires_grad_ on int64", [&] { return L{ints()}; }, [](L& t) { t[0].requires_grad_(true); }, "floating point"});
  rows.push_back({"requires_grad_(false) on a non-leaf", [] { return L{computed({1, 2})}; },
                  [](L& t) { t[0].requires_grad_(false); }, "leaf"});
  rows.push_back({"fill_ an undefined tensor", [] { return L{Tensor()}; }, [](L& t) { t[0].fill_(1); }, "fill_"});
  rows.push_back({"zero_ an undefined tensor", [] { return L{Tensor()}; }, [](L& t) { t[0].zero_(); }, "zero_"});
  rows.push_back({"register_hook on an undefined tensor", [] { return L{Tensor()}; },
                  [](L& t) { t[0].register_hook([](const Tensor& g) { return g; }); }, "undefined"});
  rows.push_back({"retain_grad without requires_grad", [] { return L{f64({1, 2})}; }, [](L& t) { t[0].retain_grad(); }, "retain_grad"});
  rows.push_back({"set_grad of the wrong shape", [] {
                    Tensor x = leaf({1, 2});
                    x.set_grad(f64({7, 8}));
                    return L{x, f64({1, 2, 3})};
                  },
                  [](L& t) { t[0].set_grad(t[1]); }, "shape"});
  rows.push_back({"set_grad of the wrong dtype", [] {
                    Tensor x = leaf({1, 2});
                    x.set_grad(f64({7, 8}));
                    return L{x, tensor({1.0f, 2.0f})};
                  },
                  [](L& t) { t[0].set_grad(t[1]); }, "dtype"});
  rows.push_back({"register_hook without requires_grad", [] { return L{f64({1, 2})}; },
                  [](L& t) { t[0].register_hook([](const Tensor& g) { return g; }); }, "register_hook"});
  rows.push_back({"detach_ a view of a tensor that requires grad", [] { Tensor x = computed({1, 2}); return L{x, x.select(0, 0)}; },
                  [](L& t) { t[1].detach_(); }, "detach_"});
  // backward and grad: .grad and the graph stay as they were.
  rows.push_back({"backward with a gradient of the wrong shape", [] {
                    Tensor x = leaf({1, 2});
                    x.set_grad(f64({7, 8}));
                    return L{x, x * x};
                  },
                  [](L& t) { t[1].backward(f64({1, 2, 3})); }, "backward"});
  rows.push_back({"backward of a non-scalar without a gradient", [] {
                    Tensor x = leaf({1, 2});
                    return L{x, x * x};
                  },
                  [](L& t) { t[1].backward(); }, "backward"});
  rows.push_back({"backward onto an input that does not require grad", [] {
                    Tensor x = leaf({1, 2});
                    Tensor y = f64({3, 4});
                    return L{x, y, (x * y).sum()};
                  },
                  [](L& t) { t[2].backward({}, std::nullopt, false, {t[0], t[1]}); }, "backward"});
  rows.push_back({"backward through a freed graph", [] {
                    Tensor x = leaf({1, 2}), z = leaf({3, 4});
                    Tensor loss = (x * x).sum() + (z * 2.0).sum();
                    loss.backward();
                    return L{x, z, loss};
                  },
                  [](L& t) { t[2].backward(); }, "second time"});
  // (A leaf on another path may have had its gradient accumulated before the failing node runs,
  // as in PyTorch: the engine cannot know in advance which saved tensors a rule will read.)
  rows.push_back({"backward after a saved tensor was modified", [] {
                    Tensor x = leaf({1, 2});
                    x.set_grad(f64({7, 8}));
                    Tensor e = x.exp();
                    Tensor loss = e.sum();
                    e.add_(1.0);
                    return L{x, e, loss};
                  },
                  [](L& t) { t[2].backward(); }, "modified by an inplace operation"});
  rows.push_back({"grad with respect to an unused input", [] {
                    Tensor x = leaf({1, 2}), y = leaf({3, 4});
                    y.set_grad(f64({7, 8}));
                    return L{x, y, (x * x).sum()};
                  },
                  [](L& t) { grad({t[2]}, {t[1]}); }, "not have been used"});
  rows.push_back({"grad of an output that does not require grad", [] { return L{f64({1, 2}), leaf({1})}; },
                  [](L& t) { grad({t[0]}, {t[1]}); }, "does not require grad"});
  rows.push_back({"make_dual with a tangent of the wrong shape", [] { return L{f64({1, 2}), f64({1, 2, 3})}; },
                  [](L& t) { make_dual(t[0], t[1]); }, "make_dual"});
  rows.push_back({"make_dual of an int64 primal", [] { return L{tensor({1, 2}), tensor({1, 2})}; },
                  [](L& t) { make_dual(t[0], t[1]); }, "make_dual"});
  rows.push_back({"make_dual of a dual at the same level", [] {
                    Tensor d = make_dual(f64({1, 2}), f64({3, 4}));
                    return L{d, f64({5, 6})};
                  },
                  [](L& t) { make_dual(t[0], t[1]); }, "make_dual"});
  rows.push_back({"set_num_threads(0)", [] { return L{}; }, [](L&) { set_num_threads(0); }, "set_num_threads"});
  return rows;
}

TEST(RaisingChangesNothing, BackwardAccumulatesIntoAnExpandedGrad) {
  // PyTorch raises the overlap error from inside backward, after other leaves may have taken
  // their gradients; dydx replaces such a .grad with the sum.
  Tensor x = leaf({1, 2});
  Tensor shared = zeros({1}, kFloat64);
  x.set_grad(shared.expand({2}));
  (x * x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 4}));
  EXPECT_TRUE(HasValues(shared, {0}));
}

TEST(RaisingChangesNothing, EveryHostileCall) {
  int count = 0;
  const int threads = get_num_threads();
  for (const auto& row : hostile_calls()) {
    SCOPED_TRACE(std::string(row.name) + " (row " + std::to_string(count++) + ")");
    DualLevel level;  // for the rows with tangents; harmless for the others
    TensorList tensors = row.setup();
    std::vector<TensorState> before;
    for (const Tensor& t : tensors) before.push_back(state_of(t));
    try {
      row.call(tensors);
      ADD_FAILURE() << "expected a dydx::Error";
      continue;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(row.message), std::string::npos) << e.what();
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorState after = state_of(tensors[i]);
      EXPECT_TRUE(after == before[i]) << "tensor " << i << " changed:\n  before: " << describe(before[i])
                                      << "\n  after:  " << describe(after);
    }
  }
  EXPECT_EQ(get_num_threads(), threads);
  std::printf("%d hostile calls\n", count);
}

}  // namespace
}  // namespace dydx
