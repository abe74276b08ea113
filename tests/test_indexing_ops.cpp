// gather, scatter_add, index_select, masked_fill and nn::functional::one_hot: values and gradients
// against PyTorch 1.13 (the numbers below were printed by torch 1.13 on the same inputs), duplicate
// indices, PyTorch's errors, zero-size, strided and expanded inputs, and thread counts. The op table
// (tests/op_table.cpp) gradchecks each differentiable op in both modes and at second order.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <vector>

#include "test_util.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

Tensor longs(const NestedList& values) { return tensor(values, dtype(kInt64)); }

// x = arange(12).reshape(3, 4) * 0.5 - 1, as in the PyTorch session that gave the expected values.
Tensor sample() { return (arange(12).to(kFloat32).reshape({3, 4}) * 0.5 - 1.0).detach(); }

/// n int64 values in [0, size), spread and repeated (a fixed pseudo-random walk), in shape.
Tensor spread_index(IntArrayRef shape, int64_t size) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<int64_t> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = (i * 7919 + i / 3) % size;
  return tensor(values, dtype(kInt64)).reshape(shape);
}

TEST(Gather, ValuesAndGradientAsPyTorch) {
  Tensor x = sample().requires_grad_(true);
  Tensor index = longs({{0, 3, 3}, {2, 0, 1}});
  Tensor y = x.gather(1, index);
  EXPECT_TRUE(HasValues(y, {-1.0, 0.5, 0.5, 2.0, 1.0, 1.5}));
  EXPECT_EQ(std::string(y.grad_fn()->name()), "GatherBackward0");
  y.backward(tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
  // The two picks of x[0][3] add up (2 + 3).
  EXPECT_TRUE(HasValues(x.grad(), {1, 0, 0, 5, 5, 6, 4, 0, 0, 0, 0, 0}));
}

TEST(ScatterAdd, ValuesAndGradientsAsPyTorch) {
  Tensor self = ones({3, 4}).requires_grad_(true);
  Tensor src = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}).requires_grad_(true);
  Tensor y = self.scatter_add(1, longs({{0, 3, 3}, {2, 0, 1}}), src);
  EXPECT_TRUE(HasValues(y, {2, 1, 1, 6, 6, 7, 5, 1, 1, 1, 1, 1}));
  EXPECT_EQ(std::string(y.grad_fn()->name()), "ScatterAddBackward0");
  y.backward(arange(12).to(kFloat32).reshape({3, 4}));
  EXPECT_TRUE(HasValues(src.grad(), {0, 3, 3, 6, 4, 5}));
  EXPECT_TRUE(HasValues(self.grad(), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(IndexSelect, ValuesAndDuplicateGradientsAsPyTorch) {
  Tensor x = sample().requires_grad_(true);
  Tensor y = x.index_select(0, longs({2, 0, 2}));
  EXPECT_TRUE(HasValues(y, {3, 3.5, 4, 4.5, -1, -0.5, 0, 0.5, 3, 3.5, 4, 4.5}));
  EXPECT_EQ(std::string(y.grad_fn()->name()), "IndexSelectBackward0");
  y.backward(ones({3, 4}));
  EXPECT_TRUE(HasValues(x.grad(), {1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2}));
}

TEST(MaskedFill, ValuesAndGradientAsPyTorch) {
  Tensor x = sample().requires_grad_(true);
  Tensor y = x.masked_fill(longs({1, 0, 0, 1}), NAN);
  std::vector<double> got = y.to_vector<double>();
  for (int64_t i = 0; i < 12; ++i) {
    if (i % 4 == 0 || i % 4 == 3) EXPECT_TRUE(std::isnan(got[i])) << i;
    else EXPECT_EQ(got[i], 0.5 * i - 1) << i;
  }
  EXPECT_EQ(std::string(y.grad_fn()->name()), "MaskedFillBackward0");
  y.sum().backward();  // a nan filled in never leaks into the gradient
  EXPECT_TRUE(HasValues(x.grad(), {0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0}));
  // The input broadcasts to the mask's shape; an int64 input takes 2.5 as 2, as PyTorch does.
  EXPECT_TRUE(HasValues(zeros({2, 3}).masked_fill(longs({{1}, {0}}), 7), {7, 7, 7, 0, 0, 0}));
  EXPECT_TRUE(HasValues(longs({3}).masked_fill(longs({1}), 2.5), {2}));
}

TEST(OneHot, AsPyTorch) {
  Tensor y = F::one_hot(longs({{0, 2}, {1, 1}}));
  EXPECT_EQ(y.dtype(), kInt64);
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_TRUE(HasValues(y, {1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(F::one_hot(longs({1}), 4).sizes().vec(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(F::one_hot(zeros({0}, kInt64), 3).sizes().vec(), (std::vector<int64_t>{0, 3}));
  EXPECT_DYDX_ERROR(F::one_hot(longs({-1})), "one_hot", "non-negative");
  EXPECT_DYDX_ERROR(F::one_hot(longs({3}), 3), "one_hot", "smaller than num_classes");
  EXPECT_DYDX_ERROR(F::one_hot(tensor({1.0})), "one_hot", "index tensor");
  EXPECT_DYDX_ERROR(F::one_hot(zeros({0}, kInt64)), "one_hot", "empty tensor");
}

TEST(IndexingOps, OutOfRangeIndicesRaiseNamingOpValueAndSize) {
  Tensor x = sample();
  EXPECT_DYDX_ERROR(x.gather(1, longs({{4}})), "gather", "index 4", "dimension 1", "size 4");
  EXPECT_DYDX_ERROR(x.gather(1, longs({{-1}})), "gather", "index -1", "size 4");
  EXPECT_DYDX_ERROR(x.scatter_add(1, longs({{4}}), ones({1, 1})), "scatter_add", "index 4", "size 4");
  EXPECT_DYDX_ERROR(x.scatter_add(0, longs({{-1}}), ones({1, 1})), "scatter_add", "index -1", "size 3");
  EXPECT_DYDX_ERROR(x.index_select(0, longs({3})), "index_select", "index 3", "size 3");
  EXPECT_DYDX_ERROR(x.index_select(0, longs({-1})), "index_select", "index -1");
}

TEST(IndexingOps, BadDtypesAndShapesRaise) {
  Tensor x = sample();
  EXPECT_DYDX_ERROR(x.gather(1, zeros({1, 1})), "gather", "int64");
  EXPECT_DYDX_ERROR(x.scatter_add(1, zeros({1, 1}), ones({1, 1})), "scatter_add", "int64");
  EXPECT_DYDX_ERROR(x.index_select(1, tensor({0.0})), "index_select", "int64");
  EXPECT_DYDX_ERROR(x.gather(1, longs({0})), "gather", "same number of dimensions");
  EXPECT_DYDX_ERROR(x.gather(1, zeros({4, 1}, kInt64)), "gather", "dimension 0");
  EXPECT_DYDX_ERROR(x.gather(2, zeros({1, 1}, kInt64)), "gather");
  EXPECT_DYDX_ERROR(x.scatter_add(1, zeros({2, 2}, kInt64), ones({1, 1})), "scatter_add", "src");
  EXPECT_DYDX_ERROR(x.scatter_add(1, zeros({1, 1}, kInt64), ones({1, 1}, kFloat64)), "scatter_add", "dtype");
  EXPECT_DYDX_ERROR(x.index_select(0, longs({{0}})), "index_select", "vector");
  EXPECT_DYDX_ERROR(x.masked_fill(ones({2}), 1.0), "masked_fill");
}

// Every check runs before any value is written: a raising op leaves its inputs and their gradients as they were.
TEST(IndexingOps, AnOpThatRaisesChangesNothing) {
  Tensor self = sample().requires_grad_(true), src = ones({2, 3}).requires_grad_(true);
  Tensor bad = longs({{0, 1, 2}, {3, 4, 0}});  // 4 is out of range at the end of the index
  EXPECT_DYDX_ERROR(self.scatter_add(1, bad, src), "scatter_add", "index 4");
  EXPECT_DYDX_ERROR(self.gather(1, bad), "gather", "index 4");
  EXPECT_TRUE(HasValues(self, sample().to_vector<double>()));
  EXPECT_TRUE(HasValues(src, std::vector<double>(6, 1.0)));
  EXPECT_TRUE(HasValues(bad, {0, 1, 2, 3, 4, 0}));
  EXPECT_FALSE(self.grad().defined());
}

TEST(IndexingOps, ZeroSize) {
  Tensor x = sample().requires_grad_(true);
  Tensor g = x.gather(1, zeros({3, 0}, kInt64));
  EXPECT_EQ(g.sizes().vec(), (std::vector<int64_t>{3, 0}));
  Tensor s = x.scatter_add(0, zeros({0, 4}, kInt64), zeros({0, 4}));
  EXPECT_TRUE(HasValues(s, sample().to_vector<double>()));
  Tensor i = x.index_select(1, zeros({0}, kInt64));
  EXPECT_EQ(i.sizes().vec(), (std::vector<int64_t>{3, 0}));
  (g.sum() + s.sum() + i.sum()).backward();
  EXPECT_TRUE(HasValues(x.grad(), std::vector<double>(12, 1.0)));
  EXPECT_EQ(zeros({0, 4}).gather(0, zeros({0, 4}, kInt64)).numel(), 0);
}

// Transposed inputs, expanded (stride-0) indices and sources read through their strides.
TEST(IndexingOps, NonContiguousAndExpandedInputs) {
  Tensor xt = sample().t();  // [4, 3], not contiguous
  Tensor index = longs({{2}, {0}, {1}, {2}}).expand({4, 2});
  EXPECT_TRUE(HasValues(xt.gather(1, index), xt.contiguous().gather(1, index.contiguous()).to_vector<double>(), 0));
  Tensor src = tensor({1.0f, 2.0f}).expand({4, 2});
  Tensor want = xt.contiguous().scatter_add(1, index.contiguous(), src.contiguous());
  EXPECT_TRUE(HasValues(xt.scatter_add(1, index, src), want.to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(xt.index_select(0, longs({3, 3, 0})),
                        xt.contiguous().index_select(0, longs({3, 3, 0})).to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(xt.masked_fill(longs({1, 0, 1}), -3.0),
                        xt.contiguous().masked_fill(longs({1, 0, 1}), -3.0).to_vector<double>(), 0));
}

// index_select copies whole slices; it equals a gather by the index broadcast over the other dims, for
// every dim of a 3-D input, repeated and unordered picks, every dtype.
TEST(IndexingOps, IndexSelectEqualsTheGatherOfItsBroadcastIndex) {
  manual_seed(11);
  const Tensor base = randn({3, 5, 4}) * 10.0;
  for (ScalarType type : {kFloat32, kFloat64, kInt64, kBool}) {
    const Tensor x = type == kBool ? gt(base, zeros({})) : base.to(type);
    for (int64_t dim : {0, 1, 2, -1}) {
      const int64_t d = dim < 0 ? dim + 3 : dim;
      const Tensor picks = longs({x.size(d) - 1, 0, 1, 0});
      std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end()), index_shape{1, 1, 1};
      shape[d] = index_shape[d] = 4;
      const Tensor want = x.gather(d, picks.view(index_shape).expand(shape));
      EXPECT_TRUE(equal(x.index_select(dim, picks), want)) << type << " dim " << dim;
      const Tensor xt = x.transpose(0, 2);
      const Tensor xt_picks = longs({xt.size(d) - 1, 0, 1, 0});
      EXPECT_TRUE(equal(xt.index_select(dim, xt_picks), xt.contiguous().index_select(dim, xt_picks)))
          << type << " dim " << dim << " through a transposed view";
    }
  }
  // Empty slices (a trailing dim of 0) and no picks.
  EXPECT_EQ(zeros({3, 0}).index_select(0, longs({2, 2})).sizes(), (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(zeros({3, 4, 0}).index_select(1, longs({3})).sizes(), (std::vector<int64_t>{3, 1, 0}));
  EXPECT_EQ(zeros({3, 4}).index_select(1, zeros({0}, kInt64)).sizes(), (std::vector<int64_t>{3, 0}));
}

// Large inputs split across threads give the bits of one thread; scatter_add's duplicate indices
// (every line has many) add up in index order whatever the thread count.
TEST(IndexingOps, ManyThreadsEqualOne) {
  manual_seed(7);
  Tensor x = randn({300, 500}), src = randn({300, 400});
  for (int64_t dim : {0, 1}) {
    Tensor index = spread_index({300, 400}, x.size(dim));
    Tensor picks = spread_index({1000}, x.size(dim));
    std::vector<Tensor> results[2];
    for (int threads : {1, 4}) {
      ThreadCount count(threads);
      results[threads == 4] = {x.gather(dim, index), x.scatter_add(dim, index, src), x.index_select(dim, picks),
                               x.masked_fill(gt(x, zeros({})), 0.0)};
    }
    for (size_t k = 0; k < results[0].size(); ++k)
      EXPECT_EQ(results[0][k].to_vector<float>(), results[1][k].to_vector<float>()) << "dim " << dim << ", op " << k;
  }
}

// gather's VJP is a scatter_add and scatter_add's a gather, batched too (is_grads_batched).
TEST(IndexingOps, BatchedCotangents) {
  Tensor x = sample().requires_grad_(true);
  Tensor index = longs({{0, 3, 3}, {2, 0, 1}});
  Tensor y = x.gather(1, index);
  Tensor gs = stack({ones({2, 3}), full({2, 3}, 2.0)});
  Tensor batched = grad({y}, {x}, {gs}, std::nullopt, false, false, true)[0];
  EXPECT_EQ(batched.sizes().vec(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(HasValues(batched.select(1 - 1, 1), {2, 0, 0, 4, 2, 2, 2, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace dydx::testing
