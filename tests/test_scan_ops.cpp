// cumsum and flip beyond what the op table checks (values, every derivative rule,
// Taylor, vmap, layouts): dtypes, 0-d and empty inputs, dim wrapping, PyTorch 1.13's errors, node
// names, the in-place form, float32 accumulation, and integer results without history, against
// numbers from torch 1.13. Values and derivatives at edge values (0, -0,
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

TEST(Cumsum, ValuesAlongEachDimAndDtypes) {
  const Tensor m = tensor({1, 2, 3, 4, 5, 6}).reshape({2, 3});
  EXPECT_EQ(m.cumsum(1).dtype(), kInt64);
  EXPECT_TRUE(HasValues(m.cumsum(1), {1, 3, 6, 4, 9, 15}, 0));
  EXPECT_TRUE(HasValues(m.cumsum(-2), {1, 2, 3, 5, 7, 9}, 0));
  const Tensor b = tensor({1.0, 0.0, 1.0}).to(kBool);
  EXPECT_EQ(cumsum(b, 0).dtype(), kInt64);
  EXPECT_TRUE(HasValues(cumsum(b, 0), {1, 1, 2}, 0));
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
  EXPECT_TRUE(HasValues(tensor(3.0).cumsum(-1), {3}, 0));
  EXPECT_EQ(ones({2, 0, 3}).cumsum(1).sizes().vec(), (std::vector<int64_t>{2, 0, 3}));
  EXPECT_EQ(ones({0, 3}).cumsum(0).numel(), 0);
  EXPECT_DYDX_ERROR(tensor(3.0).cumsum(1), "cumsum", "out of range");
  EXPECT_DYDX_ERROR(ones({2, 3}).cumsum(2), "cumsum", "out of range");
  EXPECT_DYDX_ERROR(ones({2, 3}).cumsum(-3), "cumsum", "out of range");
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
  // 3e38 + 3e38 overflows float32 but not the double running sum, which comes back in range.
  const std::vector<float> running = tensor({3e38f, 3e38f, -3e38f}).cumsum(0).to_vector<float>();
  EXPECT_EQ(running, (std::vector<float>{3e38f, INFINITY, 3e38f}));
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
  EXPECT_EQ(std::string(x.flip({0}).grad_fn()->name()), "FlipBackward0");
  // The reversed running sum of the cotangent; float32 input, float64 result: gradient in float32.
  EXPECT_TRUE(HasValues(grad({x.cumsum(0)}, {x}, {f64({1, 10, 100})})[0], {111, 110, 100}, 0));
  const Tensor xf = tensor({1.0f, 2.0f}).requires_grad_();
  const Tensor g = grad({cumsum(xf, 0, kFloat64)}, {xf}, {f64({1, 2})})[0];
  EXPECT_EQ(g.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(g, {3, 2}, 0));
}

// An integer result (int64 asked for, or an integer or bool input) has no history, as PyTorch's: no
// node, no gradient through the truncation.
TEST(Cumsum, IntegerResultsHaveNoHistory) {
  const Tensor x = f64({1.5, 2.5}).requires_grad_();
  const Tensor truncated = cumsum(x, 0, kInt64);
  EXPECT_FALSE(truncated.requires_grad());
  EXPECT_EQ(truncated.grad_fn(), nullptr);
  EXPECT_EQ(truncated.to_vector<int64_t>(), (std::vector<int64_t>{1, 3}));
  // A float result of the same input keeps its history.
  EXPECT_TRUE(cumsum(x, 0, kFloat32).requires_grad());
  // Under forward mode too: the integer result carries no tangent.
  const auto [value, tangent] = func::jvp([](const Tensor& in) { return cumsum(in, 0, kInt64).to(kFloat64); }, f64({1.5, 2.5}),
                                          f64({1, 1}));
  EXPECT_TRUE(HasValues(value, {1, 3}, 0));
  EXPECT_TRUE(HasValues(tangent, {0, 0}, 0));
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
  // A 0-d tensor takes dim 0 or -1, once, as PyTorch's.
  EXPECT_DYDX_ERROR(tensor(1.0).flip({0, 0}), "flip", "dim 0 appears multiple times");
  EXPECT_DYDX_ERROR(tensor(1.0).flip({0, -1}), "flip", "dim 0 appears multiple times");
  EXPECT_DYDX_ERROR(tensor(1.0).flip({1}), "flip", "out of range");
}

// Short rows (the kernel's plain loops) and long ones, each way of flipping a matrix, against an
// element-by-element reference.
TEST(Flip, ShortAndLongRowsMatchIndexing) {
  for (int64_t cols : {1, 2, 3, 8, 9, 40}) {
    const Tensor x = arange(7 * cols, dtype(kFloat64)).reshape({7, cols});
    const std::vector<double> v = x.to_vector<double>();
    for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{0}, {1}, {0, 1}}) {
      const bool rows = dims[0] == 0, within = dims.back() == 1;
      std::vector<double> expected(v.size());
      for (int64_t r = 0; r < 7; ++r)
        for (int64_t c = 0; c < cols; ++c)
          expected[r * cols + c] = v[(rows ? 6 - r : r) * cols + (within ? cols - 1 - c : c)];
      EXPECT_EQ(x.flip(dims).to_vector<double>(), expected) << "cols " << cols << " dims " << dims.size();
    }
  }
}

// Short rows reversed within themselves (the kernel's rows of a length known at compile time, several
// to a vector), every short length, rows that fill no whole vector at the end, on 1 to 3 threads, in
// every dtype, against the element-by-element reference.
TEST(Flip, ShortReversedRowsInEveryDtypeAndOnThreads) {
  const int saved_threads = get_num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (int64_t rows : {int64_t{13}, int64_t{70001}}) {
      for (int64_t cols = 2; cols <= 9; ++cols) {
        const Tensor x = arange(rows * cols, dtype(kInt64)).reshape({rows, cols});
        std::vector<int64_t> expected(static_cast<size_t>(rows * cols));
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) expected[r * cols + c] = r * cols + cols - 1 - c;
        for (ScalarType type : {kInt64, kFloat32, kFloat64}) {
          const Tensor flipped = x.to(type).flip({-1}).to(kInt64);
          EXPECT_EQ(flipped.to_vector<int64_t>(), expected) << rows << " x " << cols << " on " << threads;
        }
        const Tensor bits = remainder(x, 3).to(kBool);
        EXPECT_TRUE(equal(bits.flip({1}), remainder(tensor(expected).reshape({rows, cols}), 3).to(kBool)));
      }
    }
  }
  set_num_threads(saved_threads);
}

TEST(ScanInPlace, WritesSelfAndChecksFirst) {
  Tensor i = tensor({0, 1, 2});
  i.cumsum_(0);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 3}));
  Tensor f = f64({1, 2, 3});
  f.cumsum_(-1);
  EXPECT_TRUE(HasValues(f, {1, 3, 6}, 0));
  // Errors change nothing: a dtype other than self's, bool self, a dim out of range.
  Tensor g = tensor({1.0f, 2.0f});
  EXPECT_DYDX_ERROR(g.cumsum_(0, kFloat64), "cumsum_", "should match");
  EXPECT_DYDX_ERROR(g.cumsum_(1), "cumsum_", "out of range");
  Tensor b = tensor({1.0, 0.0}).to(kBool);
  EXPECT_DYDX_ERROR(b.cumsum_(0), "cumsum_out_cpu", "'Bool'");
  EXPECT_TRUE(HasValues(g, {1, 2}, 0));
  EXPECT_TRUE(HasValues(b, {1, 0}, 0));
  // A leaf that requires grad refuses; a non-leaf gets the scan's history.
  Tensor leaf = f64({1, 2}).requires_grad_();
  EXPECT_THROW(leaf.cumsum_(0), dydx::Error);
  Tensor h = leaf * 2.0;
  h.cumsum_(0);
  EXPECT_TRUE(HasValues(grad({h * f64({1, 10})}, {leaf}, {ones({2}, dtype(kFloat64))})[0], {22, 20}, 0));
  // Through a view: the base sees the write.
  Tensor base = f64({1, 2, 3, 4}).reshape({2, 2});
  base.select(1, 0).cumsum_(0);
  EXPECT_TRUE(HasValues(base, {1, 2, 4, 4}, 0));
}

// Under vmap the in-place scan writes each sample's scan along the sample's dim, the batch dim
// anywhere; a 0-d sample is its own scan.
TEST(ScanInPlace, UnderVmap) {
  const Tensor x = randn({3, 4, 5}, dtype(kFloat64));
  for (int64_t in_dim : {0, 1, 2}) {
    const Tensor batch = x.movedim(0, in_dim).contiguous();
    const auto scanned = func::vmap([](const Tensor& sample) {
      Tensor y = sample * 1.0;
      y.cumsum_(-1);
      y.cumsum_(0);
      return y;
    }, {in_dim})(batch);
    EXPECT_TRUE(allclose(scanned, x.cumsum(-1).cumsum(1), 1e-12, 1e-12)) << "in_dim " << in_dim;
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
