// The arranging ops of src/ops/arrangement.cpp (broadcast_to, broadcast_tensors, atleast_Nd, the
// numpy stacks, swapaxes, moveaxis, fliplr/flipud, tile, tensor_split, take_along_dim): shapes and
// values as PyTorch's (python/tests/test_arrangement.py compares them with torch itself), which are
// views, errors that change nothing, gradients through them, and their use under vmap.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <vector>

#include "test_util.hpp"

using namespace dydx;

namespace {

// 0, 1, 2, ... in float64, of the given shape.
Tensor counting(IntArrayRef shape) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  return arange(numel, dtype(kFloat64)).reshape(shape);
}
std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }
std::vector<int64_t> dims_of(const Tensor& t) { return std::vector<int64_t>(t.sizes().begin(), t.sizes().end()); }
bool shares_storage(const Tensor& a, const Tensor& b) { return a.impl()->storage == b.impl()->storage; }
// Same shape and every element within atol + rtol |want|.
bool close(const Tensor& got, const Tensor& want, double rtol, double atol) {
  return got.sizes() == want.sizes() && allclose(got, want, rtol, atol);
}

}  // namespace

TEST(Arrangement, BroadcastsAreViews) {
  const Tensor x = counting({3, 1});
  const Tensor b = broadcast_to(x, {2, 3, 4});
  EXPECT_EQ(dims_of(b), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(shares_storage(b, x));
  EXPECT_EQ(dims_of(x.broadcast_to({-1, 5})), (std::vector<int64_t>{3, 5}));
  EXPECT_DYDX_ERROR(broadcast_to(x, {4, 4}), "expand", "[4,4]");
  const TensorList all = broadcast_tensors({counting({2, 1}), counting({3}), counting({})});
  ASSERT_EQ(all.size(), 3u);
  for (const Tensor& t : all) EXPECT_EQ(dims_of(t), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values_of(all[1]), (std::vector<double>{0, 1, 2, 0, 1, 2}));
  EXPECT_DYDX_ERROR(broadcast_tensors({counting({2}), counting({3})}), "broadcast_tensors", "[2]", "[3]");
  EXPECT_TRUE(broadcast_tensors({}).empty());
}

TEST(Arrangement, AtLeastAndStacks) {
  EXPECT_EQ(dims_of(atleast_1d(counting({}))), (std::vector<int64_t>{1}));
  EXPECT_EQ(dims_of(atleast_2d(counting({4}))), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(dims_of(atleast_3d(counting({4}))), (std::vector<int64_t>{1, 4, 1}));
  EXPECT_EQ(dims_of(atleast_3d(counting({2, 4}))), (std::vector<int64_t>{2, 4, 1}));
  EXPECT_EQ(dims_of(atleast_3d(counting({2, 4, 1, 3}))), (std::vector<int64_t>{2, 4, 1, 3}));
  const Tensor x = counting({2, 3});
  EXPECT_TRUE(shares_storage(atleast_3d(x), x));
  EXPECT_EQ(atleast_2d(TensorList{counting({}), x}).size(), 2u);

  EXPECT_EQ(values_of(hstack({counting({}), counting({2})})), (std::vector<double>{0, 0, 1}));
  EXPECT_EQ(dims_of(hstack({counting({2, 1}), counting({2, 3})})), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(dims_of(vstack({counting({3}), counting({2, 3})})), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(dims_of(row_stack({counting({3}), counting({3})})), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(dims_of(dstack({counting({3}), counting({3})})), (std::vector<int64_t>{1, 3, 2}));
  EXPECT_EQ(values_of(column_stack({counting({2}), counting({2, 2}) + 10})), (std::vector<double>{0, 10, 11, 1, 12, 13}));
  EXPECT_EQ(dims_of(column_stack({counting({}), counting({1}), counting({1, 2})})), (std::vector<int64_t>{1, 4}));
  // Dtypes promote as cat's.
  EXPECT_EQ(vstack({counting({2}), ones({2}, dtype(kInt64))}).dtype(), kFloat64);
  for (const char* op : {"hstack", "vstack", "row_stack", "dstack", "column_stack"}) {
    const std::string name = op;
    const auto call = [&](const TensorList& list) {
      return name == "hstack" ? hstack(list) : name == "vstack" ? vstack(list) : name == "row_stack" ? row_stack(list)
                                                                : name == "dstack" ? dstack(list) : column_stack(list);
    };
    EXPECT_DYDX_ERROR(call({}), op, "non-empty TensorList");
    EXPECT_DYDX_ERROR(call({counting({2}), Tensor()}), op, "undefined");
  }
  EXPECT_DYDX_ERROR(vstack({counting({2}), counting({3})}), "cat");
}

TEST(Arrangement, AxesFlipsAndTiles) {
  const Tensor x = counting({2, 3, 4});
  EXPECT_TRUE(close(swapaxes(x, 0, 2), x.transpose(0, 2), 0, 0));
  EXPECT_TRUE(close(x.swapdims(-1, 1), x.transpose(2, 1), 0, 0));
  EXPECT_TRUE(shares_storage(x.swapaxes(0, 1), x));
  EXPECT_EQ(dims_of(moveaxis(x, 0, -1)), (std::vector<int64_t>{3, 4, 2}));
  EXPECT_EQ(dims_of(x.moveaxis({0, 1}, {2, 0})), (std::vector<int64_t>{3, 4, 2}));
  EXPECT_DYDX_ERROR(swapaxes(x, 0, 3), "transpose", "3");

  const Tensor m = counting({2, 3});
  EXPECT_EQ(values_of(fliplr(m)), (std::vector<double>{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(values_of(m.flipud()), (std::vector<double>{3, 4, 5, 0, 1, 2}));
  EXPECT_DYDX_ERROR(fliplr(counting({3})), "fliplr", ">= 2-d", "[3]");
  EXPECT_DYDX_ERROR(flipud(counting({})), "flipud", ">= 1-d");

  EXPECT_EQ(values_of(tile(counting({2}), {2})), (std::vector<double>{0, 1, 0, 1}));
  EXPECT_EQ(dims_of(tile(m, {2})), (std::vector<int64_t>{2, 6}));          // padded: (1, 2)
  EXPECT_EQ(dims_of(m.tile({2, 1, 1})), (std::vector<int64_t>{2, 2, 3}));   // longer: a leading dim
  EXPECT_EQ(dims_of(tile(counting({}), {})), (std::vector<int64_t>{}));
  EXPECT_EQ(dims_of(tile(m, {0, 2})), (std::vector<int64_t>{0, 6}));
  EXPECT_DYDX_ERROR(tile(m, {-1}), "repeat", "negative");
}

TEST(Arrangement, TensorSplitSectionsIndicesAndTensors) {
  const Tensor x = counting({7});
  const auto sizes = [](const TensorList& pieces) {
    std::vector<int64_t> out;
    for (const Tensor& p : pieces) out.push_back(p.size(0));
    return out;
  };
  EXPECT_EQ(sizes(tensor_split(x, 3)), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(sizes(tensor_split(x, 9)), (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0, 0}));
  // Python slices: past the end and behind the previous index give empty pieces; negatives wrap.
  EXPECT_EQ(sizes(tensor_split(x, IntArrayRef{1, 5, 9, 2})), (std::vector<int64_t>{1, 4, 2, 0, 5}));
  EXPECT_EQ(sizes(tensor_split(x, IntArrayRef{-2})), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(sizes(tensor_split(x, IntArrayRef{})), (std::vector<int64_t>{7}));
  EXPECT_EQ(values_of(tensor_split(x, IntArrayRef{2, 4})[1]), (std::vector<double>{2, 3}));
  EXPECT_TRUE(shares_storage(tensor_split(x, 3)[2], x));
  const Tensor m = counting({2, 5});
  EXPECT_EQ(dims_of(m.tensor_split(2, 1)[0]), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(sizes(tensor_split(x, tensor(3))), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(sizes(tensor_split(x, tensor(std::vector<int64_t>{1, 5}))), (std::vector<int64_t>{1, 4, 2}));
  EXPECT_DYDX_ERROR(tensor_split(x, 0), "tensor_split", "sections must be larger than 0, got 0");
  EXPECT_DYDX_ERROR(tensor_split(counting({}), 2), "tensor_split", "0 dims");
  EXPECT_DYDX_ERROR(tensor_split(m, 2, 2), "tensor_split", "2");
  EXPECT_DYDX_ERROR(tensor_split(x, tensor({1.0})), "tensor_split", "dtype of long");
  EXPECT_DYDX_ERROR(tensor_split(x, tensor(std::vector<int64_t>{1, 2}).reshape({2, 1})), "tensor_split", "2 dims");
}

TEST(Arrangement, TakeAlongDimBroadcastsAndGathers) {
  const Tensor x = counting({2, 3});
  const Tensor idx = tensor(std::vector<int64_t>{2, 0}).reshape({2, 1});
  EXPECT_EQ(values_of(take_along_dim(x, idx, 1)), (std::vector<double>{2, 3}));
  // The indices broadcast over x's dim 0, and x over theirs.
  EXPECT_EQ(values_of(x.take_along_dim(tensor(std::vector<int64_t>{1, 2}).reshape({1, 2}), 1)),
            (std::vector<double>{1, 2, 4, 5}));
  EXPECT_EQ(dims_of(take_along_dim(counting({1, 3}), zeros({4, 2}, dtype(kInt64)), 1)), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(values_of(take_along_dim(x, tensor(std::vector<int64_t>{5, 0}))), (std::vector<double>{5, 0}));
  // With argsort: the sorted values, as sort's.
  const Tensor r = randn({4, 5}, dtype(kFloat64));
  EXPECT_TRUE(close(take_along_dim(r, r.argsort(1), 1), std::get<0>(r.sort(1)), 0, 0));
  EXPECT_DYDX_ERROR(take_along_dim(x, zeros({2}, dtype(kInt64)), 1), "take_along_dim", "same number of dimensions", "2", "1");
  EXPECT_DYDX_ERROR(take_along_dim(x, zeros({2, 1}), 1), "take_along_dim", "Long");
  EXPECT_DYDX_ERROR(take_along_dim(x, zeros({2, 1}, dtype(kInt64)) + 5, 1), "gather", "out of bounds");
  EXPECT_DYDX_ERROR(take_along_dim(x, zeros({2, 1}, dtype(kInt64)), 2), "take_along_dim", "2");
  EXPECT_DYDX_ERROR(take_along_dim(x, zeros({3, 2}, dtype(kInt64)), 1), "take_along_dim", "[2,2]", "[3,2]");
}

TEST(Arrangement, GradientsFlowThroughEach) {
  const Tensor x = randn({2, 3}, dtype(kFloat64)).requires_grad_();
  const Tensor w = randn({4, 6}, dtype(kFloat64));
  // d/dx sum(w * tile(x, (2, 2))) is the sum of w's four [2, 3] blocks.
  const Tensor g = grad({(w * tile(x, {2, 2})).sum()}, {x})[0];
  const Tensor blocks = w.reshape({2, 2, 2, 3}).sum({0, 2});
  EXPECT_TRUE(close(g, blocks, 1e-14, 1e-14));
  // take_along_dim's gradient counts each index's uses.
  const Tensor idx = tensor(std::vector<int64_t>{0, 0, 2, 1, 1, 1}).reshape({2, 3});
  const Tensor gt = grad({take_along_dim(x, idx, 1).sum()}, {x})[0];
  EXPECT_EQ(values_of(gt), (std::vector<double>{2, 0, 1, 0, 3, 0}));
  // Second order through a stack: d2/dx2 sum(hstack(x, x)^3) = 12 x.
  const Tensor s = grad({hstack({x, x}).pow(3).sum()}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(close(grad({s.sum()}, {x})[0], x.detach() * 12, 1e-13, 1e-13));
  // Each piece of tensor_split gets its own slice of the gradient.
  const TensorList pieces = x.tensor_split(2, 1);
  const Tensor gs = grad({(pieces[0] * 2).sum() + (pieces[1] * 3).sum()}, {x})[0];
  EXPECT_EQ(values_of(gs), (std::vector<double>{2, 2, 3, 2, 2, 3}));
}

TEST(Arrangement, UnderVmapAsPerSample) {
  const Tensor xs = randn({5, 3, 4}, dtype(kFloat64));
  const Tensor idx = randint(0, 4, {3, 2});
  const auto f = [&](const Tensor& x) { return column_stack({fliplr(x).tile({1, 2}), take_along_dim(x, idx, 1)}).swapaxes(0, 1); };
  const Tensor batched = func::vmap(f)(xs);
  for (int64_t i = 0; i < 5; ++i) EXPECT_TRUE(close(batched[i], f(xs[i]), 0, 0)) << "sample " << i;
}
