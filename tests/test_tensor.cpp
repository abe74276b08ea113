// Tensors as in PyTorch 1.13: creation, access, views, broadcasting, promotion, matmul, reductions, printing.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include "test_util.hpp"

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace dydx;
using dydx::indexing::Slice;

namespace {

using dydx::testing::HasValues;

using Ints = std::vector<int64_t>;
Ints Shape(const Tensor& t) { return t.sizes().vec(); }
Ints Strides(const Tensor& t) { return t.strides().vec(); }

// A float64 tensor of the given shape holding 0, 1, 2, ... scaled by step and shifted by start.
Tensor Iota(IntArrayRef shape, double start = 0, double step = 1) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return (arange(n, kFloat64) * step + start).reshape(shape);
}

// C[..., i, j] = sum_k A[..., i, k] B[..., k, j] with broadcast batch dims, by plain loops over doubles.
std::vector<double> NaiveBatchedMatmul(const Tensor& a, const Tensor& b, Ints& out_shape) {
  const int64_t n = a.size(-2), k = a.size(-1), m = b.size(-1);
  Ints ba(a.sizes().begin(), a.sizes().end() - 2), bb(b.sizes().begin(), b.sizes().end() - 2);
  const size_t rank = std::max(ba.size(), bb.size());
  while (ba.size() < rank) ba.insert(ba.begin(), 1);
  while (bb.size() < rank) bb.insert(bb.begin(), 1);
  Ints batch(rank);
  for (size_t d = 0; d < rank; ++d) batch[d] = std::max(ba[d], bb[d]);
  const std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  int64_t count = 1;
  for (int64_t s : batch) count *= s;
  std::vector<double> out;
  for (int64_t flat = 0; flat < count; ++flat) {
    int64_t rem = flat, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t d = rank; d-- > 0;) {
      const int64_t idx = rem % batch[d];
      rem /= batch[d];
      ia += (ba[d] == 1 ? 0 : idx) * sa;
      ib += (bb[d] == 1 ? 0 : idx) * sb;
      sa *= ba[d];
      sb *= bb[d];
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += av[ia * n * k + i * k + p] * bv[ib * k * m + p * m + j];
        out.push_back(acc);
      }
  }
  out_shape = batch;
  out_shape.push_back(n);
  out_shape.push_back(m);
  return out;
}

}  // namespace

// ---- creation -------------------------------------------------------------------------------------

TEST(Creation, ScalarGivesZeroDimTensor) {
  Tensor f = tensor(3.5);
  EXPECT_EQ(f.dim(), 0);
  EXPECT_EQ(f.numel(), 1);
  EXPECT_EQ(f.dtype(), kFloat32);
  EXPECT_EQ(f.item<double>(), 3.5);
  Tensor i = tensor(3);
  EXPECT_EQ(i.dim(), 0);
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(i.item<int64_t>(), 3);
}

TEST(Creation, FromStdVector) {
  Tensor f = tensor(std::vector<float>{1.5f, 2.5f});
  EXPECT_EQ(Shape(f), Ints{2});
  EXPECT_EQ(f.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(f, {1.5, 2.5}));
  Tensor d = tensor(std::vector<double>{1.0, 2.0, 3.0});
  EXPECT_EQ(d.dtype(), kFloat32);  // torch.tensor of Python floats is float32
  Tensor l = tensor(std::vector<int64_t>{4, 5});
  EXPECT_EQ(l.dtype(), kInt64);
  EXPECT_TRUE(HasValues(l, {4, 5}));
  Tensor n = tensor(std::vector<int>{7});
  EXPECT_EQ(n.dtype(), kInt64);
  Tensor explicit64 = tensor(std::vector<double>{1.0, 2.0}, kFloat64);
  EXPECT_EQ(explicit64.dtype(), kFloat64);
}

TEST(Creation, NestedListsDepthOneToThree) {
  Tensor d1 = tensor({1, 2, 3});
  EXPECT_EQ(Shape(d1), Ints{3});
  EXPECT_EQ(d1.dtype(), kInt64);
  Tensor d2 = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  EXPECT_EQ(Shape(d2), (Ints{2, 3}));
  EXPECT_EQ(d2.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(d2, {1, 2, 3, 4, 5, 6}));
  Tensor d3 = tensor({{{1}, {2}}, {{3}, {4}}});
  EXPECT_EQ(Shape(d3), (Ints{2, 2, 1}));
  EXPECT_EQ(Strides(d3), (Ints{2, 1, 1}));
  EXPECT_TRUE(HasValues(d3, {1, 2, 3, 4}));
}

TEST(Creation, MixedIntAndFloatListIsFloat32) {
  Tensor t = tensor({1, 2.5});
  EXPECT_EQ(t.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(t, {1, 2.5}));
}

TEST(Creation, ExplicitDtypeOverridesInference) {
  Tensor a = tensor({{1.0, 2.0}}, kFloat64);
  EXPECT_EQ(a.dtype(), kFloat64);
  Tensor b = tensor({1, 2}, dtype(kFloat32));
  EXPECT_EQ(b.dtype(), kFloat32);
  Tensor c = tensor({1.0, 2.0}, dtype(kFloat64).requires_grad(true));
  EXPECT_EQ(c.dtype(), kFloat64);
  EXPECT_TRUE(c.requires_grad());
  EXPECT_TRUE(c.is_floating_point());
  EXPECT_FALSE(tensor({1}).is_floating_point());
}

TEST(Creation, ZerosOnesFullEmpty) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(Shape(z), (Ints{2, 3}));
  EXPECT_EQ(Strides(z), (Ints{3, 1}));
  EXPECT_EQ(z.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(z, std::vector<double>(6, 0)));
  Tensor o = ones({4}, kFloat64);
  EXPECT_EQ(o.dtype(), kFloat64);
  EXPECT_TRUE(HasValues(o, {1, 1, 1, 1}));
  Tensor fi = full({2, 2}, 7);
  EXPECT_EQ(fi.dtype(), kInt64);  // torch.full with an int fill value
  EXPECT_TRUE(HasValues(fi, {7, 7, 7, 7}));
  Tensor ff = full({2, 2}, 7.5);
  EXPECT_EQ(ff.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(ff, {7.5, 7.5, 7.5, 7.5}));
  Tensor e = empty({2, 3});
  EXPECT_EQ(Shape(e), (Ints{2, 3}));
  EXPECT_EQ(e.numel(), 6);
  Tensor zero_d = zeros({});
  EXPECT_EQ(zero_d.dim(), 0);
  EXPECT_EQ(zero_d.numel(), 1);
  Tensor no_elements = zeros({0, 3});
  EXPECT_EQ(no_elements.numel(), 0);
}

TEST(Creation, LikeFunctionsCopyShapeAndDtype) {
  Tensor base = tensor({{1.0, 2.0, 3.0}}, kFloat64);
  for (const Tensor& t : {zeros_like(base), ones_like(base), full_like(base, 4), empty_like(base)}) {
    EXPECT_EQ(Shape(t), (Ints{1, 3}));
    EXPECT_EQ(t.dtype(), kFloat64);
    EXPECT_FALSE(t.requires_grad());
  }
  EXPECT_TRUE(HasValues(zeros_like(base), {0, 0, 0}));
  EXPECT_TRUE(HasValues(ones_like(base), {1, 1, 1}));
  EXPECT_TRUE(HasValues(full_like(base, 4), {4, 4, 4}));
  EXPECT_EQ(zeros_like(base, kInt64).dtype(), kInt64);
  EXPECT_FALSE(ones_like(tensor({1.0}).requires_grad_()).requires_grad());
}

TEST(Creation, ArangeIntegerAndFloatForms) {
  Tensor a = arange(5);
  EXPECT_EQ(a.dtype(), kInt64);
  EXPECT_TRUE(HasValues(a, {0, 1, 2, 3, 4}));
  Tensor b = arange(1, 10, 3);
  EXPECT_EQ(b.dtype(), kInt64);
  EXPECT_TRUE(HasValues(b, {1, 4, 7}));
  Tensor c = arange(0.0, 1.0, 0.25);
  EXPECT_EQ(c.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(c, {0, 0.25, 0.5, 0.75}));
  Tensor d = arange(1, 2.5, 0.5);
  EXPECT_EQ(d.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(d, {1, 1.5, 2}));
  Tensor e = arange(5.0);
  EXPECT_EQ(e.dtype(), kFloat32);
  EXPECT_EQ(Shape(e), Ints{5});
  Tensor f = arange(5, 0, -2);
  EXPECT_TRUE(HasValues(f, {5, 3, 1}));
  EXPECT_EQ(arange(4, kFloat64).dtype(), kFloat64);
}

TEST(Creation, LinspaceAndEye) {
  EXPECT_TRUE(HasValues(linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1}));
  Tensor l = linspace(-1, 1, 4);
  EXPECT_EQ(l.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(l, {-1, -1.0 / 3, 1.0 / 3, 1}));
  EXPECT_EQ(linspace(0, 1, 3).to_vector<float>().back(), 1.0f);
  Tensor i3 = eye(3);
  EXPECT_EQ(Shape(i3), (Ints{3, 3}));
  EXPECT_TRUE(HasValues(i3, {1, 0, 0, 0, 1, 0, 0, 0, 1}));
  Tensor i23 = eye(2, 3);
  EXPECT_EQ(Shape(i23), (Ints{2, 3}));
  EXPECT_TRUE(HasValues(i23, {1, 0, 0, 0, 1, 0}));
}

TEST(Creation, RandAndRandnRangesAndReproducibility) {
  manual_seed(42);
  Tensor u = rand({1000});
  EXPECT_EQ(u.dtype(), kFloat32);
  std::vector<float> uv = u.to_vector<float>();
  for (float v : uv) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LT(v, 1.0f);
  }
  const double mean_u = std::accumulate(uv.begin(), uv.end(), 0.0) / uv.size();
  EXPECT_NEAR(mean_u, 0.5, 0.05);
  Tensor n = randn({2000}, kFloat64);
  EXPECT_EQ(n.dtype(), kFloat64);
  std::vector<double> nv = n.to_vector<double>();
  const double mean_n = std::accumulate(nv.begin(), nv.end(), 0.0) / nv.size();
  double var = 0;
  for (double v : nv) var += (v - mean_n) * (v - mean_n);
  var /= nv.size();
  EXPECT_NEAR(mean_n, 0.0, 0.1);
  EXPECT_NEAR(var, 1.0, 0.1);

  manual_seed(7);
  Tensor a1 = rand({5}), b1 = randn({3, 2});
  manual_seed(7);
  Tensor a2 = rand({5}), b2 = randn({3, 2});
  EXPECT_TRUE(equal(a1, a2));
  EXPECT_TRUE(equal(b1, b2));
  EXPECT_FALSE(equal(rand({5}), a1));  // the stream moves on
  Tensor r = rand({2}, requires_grad());
  EXPECT_TRUE(r.requires_grad());
  EXPECT_TRUE(r.is_leaf());
}

TEST(Creation, FromBlobWrapsWithoutCopy) {
  float buffer[6] = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(buffer, {2, 3});
  EXPECT_EQ(t.dtype(), kFloat32);
  EXPECT_EQ(t.data_ptr<float>(), buffer);
  EXPECT_EQ(Strides(t), (Ints{3, 1}));
  buffer[4] = 50;
  EXPECT_EQ(t.index({1, 1}).item<float>(), 50.0f);
  t.index({0, 2}).fill_(30);
  EXPECT_EQ(buffer[2], 30.0f);
}

TEST(Creation, FromBlobWithStridesAndDtype) {
  double buffer[6] = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(buffer, {3, 2}, {1, 3}, kFloat64);  // the transpose of a row-major [2,3]
  EXPECT_EQ(t.dtype(), kFloat64);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_TRUE(HasValues(t, {1, 4, 2, 5, 3, 6}));
}

TEST(Creation, FromBlobDeleterCalledWhenLastTensorGoes) {
  int deleted = 0;
  void* seen = nullptr;
  auto* data = new int64_t[4]{1, 2, 3, 4};
  {
    Tensor t = from_blob(
        data, {4},
        [&](void* p) {
          ++deleted;
          seen = p;
          delete[] static_cast<int64_t*>(p);
        },
        kInt64);
    Tensor view = t.narrow(0, 1, 2);
    t = Tensor();
    EXPECT_EQ(deleted, 0);  // the view still holds the storage
    EXPECT_TRUE(HasValues(view, {2, 3}));
  }
  EXPECT_EQ(deleted, 1);
  EXPECT_EQ(seen, data);
}

// ---- element access -------------------------------------------------------------------------------

TEST(ElementAccess, ItemConvertsType) {
  Tensor f = tensor({2.75});
  EXPECT_EQ(f.item<float>(), 2.75f);
  EXPECT_EQ(f.item<double>(), 2.75);
  EXPECT_EQ(f.item<int64_t>(), 2);
  Tensor i = tensor({{9}});
  EXPECT_EQ(i.item<int64_t>(), 9);
  EXPECT_EQ(i.item<double>(), 9.0);
  EXPECT_THROW(tensor({1.0, 2.0}).item<float>(), dydx::Error);
}

TEST(ElementAccess, DataPtrChecksType) {
  Tensor f = tensor({1.0, 2.0});
  EXPECT_NE(f.data_ptr<float>(), nullptr);
  EXPECT_EQ(f.data_ptr<float>()[1], 2.0f);
  EXPECT_THROW(f.data_ptr<double>(), dydx::Error);
  EXPECT_THROW(f.data_ptr<int64_t>(), dydx::Error);
  Tensor i = tensor({1, 2});
  EXPECT_EQ(i.data_ptr<int64_t>()[0], 1);
  EXPECT_THROW(i.data_ptr<float>(), dydx::Error);
  Tensor view = tensor({1.0, 2.0, 3.0}).select(0, 2);
  EXPECT_EQ(*view.data_ptr<float>(), 3.0f);  // points at the view's first element
}

TEST(ElementAccess, ToVectorIsRowMajorOfLogicalLayout) {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(x.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(x.t().to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(tensor({1.5, -2.5}).to_vector<double>(), (std::vector<double>{1.5, -2.5}));
}

TEST(ElementAccess, SizeAndStrideAcceptNegativeDims) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_EQ(x.size(-1), 4);
  EXPECT_EQ(x.size(0), 2);
  EXPECT_EQ(x.stride(-1), 1);
  EXPECT_EQ(x.stride(0), 12);
  EXPECT_EQ(x.dim(), 3);
  EXPECT_EQ(x.ndimension(), 3);
  EXPECT_EQ(x.numel(), 24);
  EXPECT_EQ(x.shape_string(), "[2,3,4]");
}

// ---- views ----------------------------------------------------------------------------------------

class Views : public ::testing::Test {
 protected:
  // x = arange(12.).view(3, 4)
  Tensor x = arange(12).to(kFloat32).view({3, 4});
  bool SharesStorage(const Tensor& v) const { return v.impl()->storage == x.impl()->storage; }
};

TEST_F(Views, Select) {
  Tensor v = x.select(1, 2);
  EXPECT_TRUE(SharesStorage(v));
  EXPECT_EQ(Shape(v), Ints{3});
  EXPECT_EQ(Strides(v), Ints{4});
  EXPECT_EQ(v.storage_offset(), 2);
  EXPECT_TRUE(HasValues(v, {2, 6, 10}));
  EXPECT_TRUE(HasValues(x.select(0, -1), {8, 9, 10, 11}));
  EXPECT_TRUE(HasValues(x[1], {4, 5, 6, 7}));
  v.mul_(-1);
  EXPECT_TRUE(HasValues(x.select(1, 2), {-2, -6, -10}));
}

TEST_F(Views, Narrow) {
  Tensor v = x.narrow(1, 1, 2);
  EXPECT_TRUE(SharesStorage(v));
  EXPECT_EQ(Shape(v), (Ints{3, 2}));
  EXPECT_EQ(Strides(v), (Ints{4, 1}));
  EXPECT_EQ(v.storage_offset(), 1);
  EXPECT_TRUE(HasValues(v, {1, 2, 5, 6, 9, 10}));
  v.zero_();
  EXPECT_TRUE(HasValues(x, {0, 0, 0, 3, 4, 0, 0, 7, 8, 0, 0, 11}));
}

TEST_F(Views, IndexWithSlicesStepsAndNegativeIndices) {
  Tensor a = x.index({Slice(1, 3), -1});
  EXPECT_TRUE(SharesStorage(a));
  EXPECT_TRUE(HasValues(a, {7, 11}));
  EXPECT_EQ(Strides(a), Ints{4});
  EXPECT_EQ(a.storage_offset(), 7);

  Tensor b = x.index({Slice(indexing::None, indexing::None, 2), -3});
  EXPECT_TRUE(HasValues(b, {1, 9}));
  EXPECT_EQ(Strides(b), Ints{8});
  EXPECT_EQ(b.storage_offset(), 1);

  Tensor c = x.index({Slice(-2), Slice(1, indexing::None, 2)});
  EXPECT_EQ(Shape(c), (Ints{2, 2}));
  EXPECT_EQ(Strides(c), (Ints{4, 2}));
  EXPECT_EQ(c.storage_offset(), 5);
  EXPECT_TRUE(HasValues(c, {5, 7, 9, 11}));

  Tensor d = x.index({indexing::Ellipsis, 0});
  EXPECT_TRUE(HasValues(d, {0, 4, 8}));
  Tensor e = x.index({indexing::None, Slice(), 1});
  EXPECT_EQ(Shape(e), (Ints{1, 3}));
  EXPECT_TRUE(HasValues(e, {1, 5, 9}));
  EXPECT_EQ(x.index({1, 2}).item<float>(), 6.0f);
  EXPECT_EQ(x.index({1, 2}).dim(), 0);

  c.fill_(-1);
  EXPECT_TRUE(HasValues(x, {0, 1, 2, 3, 4, -1, 6, -1, 8, -1, 10, -1}));
}

TEST_F(Views, SliceClampsLikePython) {
  EXPECT_EQ(Shape(x.index({Slice(2, 100)})), (Ints{1, 4}));
  EXPECT_EQ(Shape(x.index({Slice(-100, 1)})), (Ints{1, 4}));
  EXPECT_EQ(Shape(x.index({Slice(3, 1)})), (Ints{0, 4}));
}

TEST_F(Views, TransposeAndT) {
  Tensor t = x.t();
  EXPECT_TRUE(SharesStorage(t));
  EXPECT_EQ(Shape(t), (Ints{4, 3}));
  EXPECT_EQ(Strides(t), (Ints{1, 4}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_TRUE(HasValues(t, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  Tensor tr = x.transpose(0, 1);
  EXPECT_EQ(Shape(tr), (Ints{4, 3}));
  EXPECT_TRUE(equal(tr, t));
  EXPECT_TRUE(equal(x.transpose(-1, -2), t));
  t.index({3, 0}).fill_(100);
  EXPECT_EQ(x.index({0, 3}).item<float>(), 100.0f);
}

TEST_F(Views, Permute) {
  Tensor z = arange(24).view({2, 3, 4});
  Tensor p = z.permute({2, 0, 1});
  EXPECT_EQ(p.impl()->storage, z.impl()->storage);
  EXPECT_EQ(Shape(p), (Ints{4, 2, 3}));
  EXPECT_EQ(Strides(p), (Ints{1, 12, 4}));
  EXPECT_EQ(p.index({3, 1, 2}).item<int64_t>(), z.index({1, 2, 3}).item<int64_t>());
  EXPECT_EQ(Shape(z.permute({-1, 0, 1})), (Ints{4, 2, 3}));
}

TEST_F(Views, Expand) {
  Tensor v = tensor({1.0, 2.0, 3.0});
  Tensor e = v.expand({2, 3});
  EXPECT_EQ(e.impl()->storage, v.impl()->storage);
  EXPECT_EQ(Strides(e), (Ints{0, 1}));
  EXPECT_TRUE(HasValues(e, {1, 2, 3, 1, 2, 3}));
  Tensor row = tensor({{1.0, 2.0, 3.0}});
  EXPECT_EQ(Strides(row.expand({2, -1})), (Ints{0, 1}));
  Tensor col = tensor({{1.0}, {2.0}});
  Tensor ec = col.expand({2, 3});
  EXPECT_TRUE(HasValues(ec, {1, 1, 1, 2, 2, 2}));
  EXPECT_TRUE(HasValues(col.expand_as(zeros({4, 2, 2})), {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2}));
  v.index({0}).fill_(9);
  EXPECT_TRUE(HasValues(e, {9, 2, 3, 9, 2, 3}));
}

TEST_F(Views, UnsqueezeAndSqueeze) {
  Tensor u = x.unsqueeze(1);
  EXPECT_TRUE(SharesStorage(u));
  EXPECT_EQ(Shape(u), (Ints{3, 1, 4}));
  EXPECT_EQ(Strides(u), (Ints{4, 4, 1}));
  EXPECT_EQ(Shape(x.unsqueeze(-1)), (Ints{3, 4, 1}));
  EXPECT_EQ(Shape(x.unsqueeze(0)), (Ints{1, 3, 4}));
  Tensor s = zeros({1, 3, 1, 2});
  EXPECT_EQ(Shape(s.squeeze()), (Ints{3, 2}));
  EXPECT_EQ(Shape(s.squeeze(0)), (Ints{3, 1, 2}));
  EXPECT_EQ(Shape(s.squeeze(1)), (Ints{1, 3, 1, 2}));  // not size 1: unchanged
  EXPECT_EQ(Shape(s.squeeze(-2)), (Ints{1, 3, 2}));
  EXPECT_TRUE(s.squeeze().impl()->storage == s.impl()->storage);
}

TEST_F(Views, ViewAndReshapeOfContiguous) {
  Tensor v = x.view({2, 6});
  EXPECT_TRUE(SharesStorage(v));
  EXPECT_EQ(Strides(v), (Ints{6, 1}));
  EXPECT_EQ(Shape(x.view({-1, 2})), (Ints{6, 2}));
  Tensor r = x.reshape({4, 3});
  EXPECT_TRUE(SharesStorage(r));
  EXPECT_TRUE(HasValues(r, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(Shape(x.flatten()), Ints{12});
  r.index({3, 2}).fill_(-5);
  EXPECT_EQ(x.index({2, 3}).item<float>(), -5.0f);
}

// Shapes, views and errors as PyTorch 1.13 gives them (torch.zeros(2, 3, 4).flatten(1) etc.).
TEST(Reshaping, FlattenUnflattenAndMovedimFollowPyTorch) {
  Tensor x = arange(24).to(kFloat64).view({2, 3, 4});
  EXPECT_EQ(Shape(x.flatten(1)), (Ints{2, 12}));
  EXPECT_EQ(Shape(x.flatten(0, 1)), (Ints{6, 4}));
  EXPECT_EQ(Shape(x.flatten(-2, -1)), (Ints{2, 12}));
  EXPECT_EQ(Shape(tensor(3.0).flatten()), Ints{1});
  EXPECT_EQ(Shape(tensor(3.0).flatten(-1, -1)), Ints{1});
  EXPECT_EQ(Shape(x.unflatten(1, {3, 1})), (Ints{2, 3, 1, 4}));
  EXPECT_EQ(Shape(x.unflatten(-1, {2, -1})), (Ints{2, 3, 2, 2}));
  EXPECT_EQ(Shape(zeros({0, 3}).unflatten(0, {0, 5})), (Ints{0, 5, 3}));
  EXPECT_EQ(Shape(x.movedim(0, -1)), (Ints{3, 4, 2}));
  EXPECT_EQ(Shape(x.movedim({0, 1}, {2, 0})), (Ints{3, 4, 2}));
  EXPECT_EQ(Shape(x.movedim({2, 0}, {0, 1})), (Ints{4, 2, 3}));
  // Values: movedim is the permutation that puts each moved dim at its destination.
  EXPECT_TRUE(equal(x.movedim({2, 0}, {0, 1}), x.permute({2, 0, 1})));
  EXPECT_TRUE(equal(x.flatten(1).unflatten(1, {3, 4}), x));
  EXPECT_TRUE(equal(flatten(x, 1), x.flatten(1)) && equal(unflatten(x, 2, {2, 2}), x.unflatten(2, {2, 2})));
  EXPECT_TRUE(equal(movedim(x, 0, 1), x.movedim(0, 1)) && equal(movedim(x, {0, 1}, {1, 0}), x.movedim({0, 1}, {1, 0})));
  // Views where PyTorch's are: unflatten and movedim always, flatten of a contiguous range.
  EXPECT_TRUE(x.unflatten(2, {2, 2}).impl()->storage == x.impl()->storage);
  EXPECT_TRUE(x.movedim(0, 2).impl()->storage == x.impl()->storage);
  EXPECT_TRUE(x.flatten(1).impl()->storage == x.impl()->storage);
  EXPECT_DYDX_ERROR(x.flatten(2, 1), "flatten", "start_dim cannot come after end_dim");
  EXPECT_DYDX_ERROR(x.flatten(0, 3), "flatten", "out of range");
  EXPECT_DYDX_ERROR(x.unflatten(1, {2, 2}), "unflatten", "don't multiply up to the size of dim 1 (3)");
  EXPECT_DYDX_ERROR(x.unflatten(1, {-1, -1}), "unflatten", "only one size can be inferred");
  EXPECT_DYDX_ERROR(x.unflatten(1, {}), "unflatten", "sizes must be non-empty");
  EXPECT_DYDX_ERROR(tensor(3.0).unflatten(0, {1}), "unflatten", "no dimensions");
  EXPECT_DYDX_ERROR(x.movedim({0, 0}, {1, 2}), "movedim", "repeated dim in source");
  EXPECT_DYDX_ERROR(x.movedim({0, 1}, {1}), "movedim", "same number of dims");
  EXPECT_DYDX_ERROR(x.movedim(3, 0), "movedim", "out of range");
}

// Their derivatives are their parts' (view, permute), in both modes.
TEST(Reshaping, FlattenUnflattenAndMovedimDifferentiate) {
  Tensor x = arange(24).to(kFloat64).view({2, 3, 4}).requires_grad_();
  Tensor w = arange(24).to(kFloat64).view({3, 4, 2}) * 0.5;
  Tensor y = (x.movedim(0, 2) * w).flatten(1).unflatten(1, {2, 2, 2}).sum();
  Tensor g = grad({y}, {x})[0];
  EXPECT_TRUE(equal(g, w.movedim(2, 0)));
  EXPECT_STREQ(x.movedim(0, 2).grad_fn()->name(), "PermuteBackward0");
  forward_ad::DualLevel level;
  Tensor t = arange(24).to(kFloat64).view({2, 3, 4});
  Tensor dual = forward_ad::make_dual(x.detach(), t);
  EXPECT_TRUE(equal(forward_ad::unpack_dual(dual.flatten(0, 1).movedim(1, 0)).tangent, t.flatten(0, 1).movedim(1, 0)));
}

TEST_F(Views, ReshapeOfNonContiguousCopiesAndViewThrows) {
  Tensor t = x.t();
  Tensor r = t.reshape({12});
  EXPECT_FALSE(SharesStorage(r));
  EXPECT_TRUE(r.is_contiguous());
  EXPECT_TRUE(HasValues(r, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  r.fill_(0);
  EXPECT_EQ(x.index({0, 1}).item<float>(), 1.0f);  // the copy does not write back
  EXPECT_THROW(t.view({12}), dydx::Error);
  // Not every non-contiguous tensor needs a copy: merging dims that stay strided is a view.
  Tensor cols = x.index({Slice(), Slice(0, 4, 2)});  // [3,2] with strides [4,2]
  EXPECT_NO_THROW(cols.view({3, 2, 1}));
}

TEST_F(Views, ContiguousAndClone) {
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_TRUE(SharesStorage(x.contiguous()));  // already contiguous: the same tensor
  Tensor c = x.t().contiguous();
  EXPECT_FALSE(SharesStorage(c));
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(Strides(c), (Ints{3, 1}));
  EXPECT_TRUE(HasValues(c, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  Tensor k = x.clone();
  EXPECT_FALSE(SharesStorage(k));
  EXPECT_TRUE(equal(k, x));
  k.fill_(3);
  EXPECT_EQ(x.index({0, 0}).item<float>(), 0.0f);
}

TEST_F(Views, ToChangesDtypeByCopy) {
  Tensor d = x.to(kFloat64);
  EXPECT_EQ(d.dtype(), kFloat64);
  EXPECT_FALSE(SharesStorage(d));
  EXPECT_TRUE(SharesStorage(x.to(kFloat32)));  // same dtype: no copy
  Tensor i = tensor({1.7, -1.7}).to(kInt64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, -1}));  // truncation toward zero
}

// ---- broadcasting and type promotion --------------------------------------------------------------

TEST(Broadcasting, ResultShapes) {
  struct Case {
    Ints a, b, out;
  };
  const std::vector<Case> cases = {
      {{2, 3}, {3}, {2, 3}},       {{2, 1}, {1, 3}, {2, 3}},          {{4, 1, 3}, {2, 1}, {4, 2, 3}},
      {{}, {2, 2}, {2, 2}},        {{5, 1, 4, 1}, {3, 1, 1}, {5, 3, 4, 1}}, {{1}, {3}, {3}},
  };
  for (const Case& c : cases) {
    Tensor a = zeros(c.a), b = ones(c.b);
    EXPECT_EQ(Shape(a + b), c.out);
    EXPECT_EQ(Shape(b * a), c.out);
    EXPECT_EQ(Shape(a - b), c.out);
    EXPECT_EQ(Shape(b / (a + 1)), c.out);
  }
}

TEST(Broadcasting, Values) {
  Tensor x = arange(6).to(kFloat32).view({2, 3});
  EXPECT_TRUE(HasValues(x + tensor({10.0, 20.0, 30.0}), {10, 21, 32, 13, 24, 35}));
  EXPECT_TRUE(HasValues(x * tensor({{2.0}, {3.0}}), {0, 2, 4, 9, 12, 15}));
  EXPECT_TRUE(HasValues(tensor({{1.0}, {2.0}}) - tensor({1.0, 2.0, 3.0}), {0, -1, -2, 1, 0, -1}));
  EXPECT_TRUE(HasValues(tensor({6.0, 8.0}) / tensor({{2.0}, {4.0}}), {3, 4, 1.5, 2}));
  EXPECT_TRUE(HasValues(2.0 - x, {2, 1, 0, -1, -2, -3}));
  EXPECT_TRUE(HasValues(12.0 / (x + 1), {12, 6, 4, 3, 2.4, 2}));
  EXPECT_TRUE(HasValues(x.pow(tensor({1.0, 2.0, 0.0})), {0, 1, 1, 3, 16, 1}));
}

TEST(TypePromotion, FloatWidthAndScalars) {
  Tensor f = ones({2, 3});
  Tensor d = ones({2, 3}, kFloat64);
  Tensor i = tensor({1, 2, 3});
  EXPECT_EQ((f + d).dtype(), kFloat64);
  EXPECT_EQ((d * f).dtype(), kFloat64);
  EXPECT_EQ((f * 2.5).dtype(), kFloat32);  // a C++ scalar never promotes
  EXPECT_EQ((2.5 * f).dtype(), kFloat32);
  EXPECT_EQ((d * 2.5).dtype(), kFloat64);
  EXPECT_EQ((i * 2).dtype(), kInt64);
  Tensor i_times = i * 2.5;
  EXPECT_EQ(i_times.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(i_times, {2.5, 5, 7.5}));
  EXPECT_EQ((i + f.index({0})).dtype(), kFloat32);
}

TEST(TypePromotion, ZeroDimTensorsDoNotPromoteDimensionedOnes) {
  Tensor f = ones({3});
  EXPECT_EQ((tensor(2.0, kFloat64) * f).dtype(), kFloat32);
  EXPECT_EQ((f * tensor(2.0, kFloat64)).dtype(), kFloat32);
  EXPECT_EQ((tensor({2.0}, kFloat64) * f).dtype(), kFloat64);  // 1-D: full promotion
  Tensor i = tensor({1, 2, 3});
  EXPECT_EQ((i + tensor(1.5)).dtype(), kFloat32);
  EXPECT_EQ((i + tensor(1.5, kFloat64)).dtype(), kFloat64);  // category wins: int tensor, float 0-d
  EXPECT_EQ((tensor(2) * f).dtype(), kFloat32);
}

TEST(TypePromotion, IntegerTrueDivisionGivesFloat) {
  Tensor i = tensor({1, 2, 3});
  Tensor q = i / 2;
  EXPECT_EQ(q.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(q, {0.5, 1, 1.5}));
  EXPECT_EQ((i / tensor({2, 2, 2})).dtype(), kFloat32);
}

// ---- matmul ---------------------------------------------------------------------------------------

TEST(Matmul, VectorDotVector) {
  Tensor r = matmul(tensor({1.0, 2.0, 3.0}), tensor({4.0, 5.0, 6.0}));
  EXPECT_EQ(r.dim(), 0);
  EXPECT_EQ(r.item<float>(), 32.0f);
}

// outer as PyTorch composes it: a column times a row (MulBackward0), mul's promotion, strided vectors,
// empty ones, and its errors naming the argument at fault.
TEST(Matmul, OuterProductOfTwoVectors) {
  Tensor a = tensor({1.5, -2.0}, kFloat64).requires_grad_();
  const Tensor b = tensor({{3.0, 9.0}, {0.5, 9.0}, {-1.0, 9.0}}, kFloat64).select(1, 0);  // stride 2
  const Tensor o = outer(a, b);
  EXPECT_EQ(Shape(o), (Ints{2, 3}));
  EXPECT_TRUE(HasValues(o, {4.5, 0.75, -1.5, -6, -1, 2}, 0));
  EXPECT_EQ(std::string(o.grad_fn()->name()), "MulBackward0");
  o.sum().backward();
  EXPECT_TRUE(HasValues(a.grad(), {2.5, 2.5}, 0));
  EXPECT_EQ(tensor({int64_t{2}, int64_t{3}}).outer(tensor({true, false})).dtype(), kInt64);
  EXPECT_EQ(Shape(outer(zeros({0}), zeros({4}))), (Ints{0, 4}));
  EXPECT_DYDX_ERROR(outer(zeros({2, 2}), zeros({3})), "outer: Expected 1-D argument self, but got 2-D");
  EXPECT_DYDX_ERROR(outer(zeros({2}), tensor(1.0)), "outer: Expected 1-D argument vec2, but got 0-D");
}

TEST(Matmul, MatrixTimesVectorAndVectorTimesMatrix) {
  Tensor A = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  Tensor mv = matmul(A, tensor({1.0, 0.0, -1.0}));
  EXPECT_EQ(Shape(mv), Ints{2});
  EXPECT_TRUE(HasValues(mv, {-2, -2}));
  Tensor vm = matmul(tensor({1.0, -1.0}), A);
  EXPECT_EQ(Shape(vm), Ints{3});
  EXPECT_TRUE(HasValues(vm, {-3, -3, -3}));
}

TEST(Matmul, MatrixTimesMatrixAgainstNaiveLoop) {
  Tensor a = Iota({3, 4}, -2, 0.5), b = Iota({4, 5}, 1, -0.25);
  Ints shape;
  std::vector<double> expected = NaiveBatchedMatmul(a, b, shape);
  Tensor c = matmul(a, b);
  EXPECT_EQ(Shape(c), (Ints{3, 5}));
  EXPECT_TRUE(HasValues(c, expected, 1e-12));
  EXPECT_TRUE(HasValues(mm(a, b), expected, 1e-12));
  EXPECT_TRUE(HasValues(a.matmul(b), expected, 1e-12));
  // Non-contiguous operands.
  Tensor at = Iota({4, 3}, -2, 0.5).t();
  EXPECT_TRUE(HasValues(matmul(at, b), NaiveBatchedMatmul(at.contiguous(), b, shape), 1e-12));
}

TEST(Matmul, BatchedWithBroadcastBatchDimsAgainstNaiveLoop) {
  struct Case {
    Ints a, b, out;
  };
  const std::vector<Case> cases = {
      {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},
      {{2, 3, 4}, {2, 4, 5}, {2, 3, 5}},
      {{3, 4}, {2, 4, 5}, {2, 3, 5}},
      {{2, 3, 4}, {4, 5}, {2, 3, 5}},
      {{1, 3, 4}, {6, 1, 4, 2}, {6, 1, 3, 2}},
  };
  for (const Case& c : cases) {
    Tensor a = Iota(c.a, -1, 0.125), b = Iota(c.b, 0.5, -0.0625);
    Ints shape;
    std::vector<double> expected = NaiveBatchedMatmul(a.dim() == 2 ? a.unsqueeze(0) : a,
                                                      b.dim() == 2 ? b.unsqueeze(0) : b, shape);
    Tensor r = matmul(a, b);
    const std::string label = ::testing::PrintToString(c.a) + " @ " + ::testing::PrintToString(c.b);
    EXPECT_EQ(Shape(r), c.out) << label;
    EXPECT_TRUE(HasValues(r, expected, 1e-12)) << label;
  }
}

TEST(Matmul, BatchedMatrixTimesVectorAndVectorTimesBatch) {
  Tensor a = Iota({2, 3, 4});
  Tensor v = tensor({1.0, 0.0, 0.0, -1.0}, kFloat64);
  Tensor av = matmul(a, v);
  EXPECT_EQ(Shape(av), (Ints{2, 3}));
  EXPECT_TRUE(HasValues(av, {-3, -3, -3, -3, -3, -3}));
  Tensor w = tensor({1.0, -1.0, 2.0}, kFloat64);
  Tensor wa = matmul(w, a);  // [3] @ [2,3,4] -> [2,4]
  EXPECT_EQ(Shape(wa), (Ints{2, 4}));
  EXPECT_TRUE(HasValues(wa, {12, 14, 16, 18, 36, 38, 40, 42}));
}

TEST(Matmul, BmmAgainstNaiveLoop) {
  Tensor a = Iota({3, 2, 4}, 1, 0.5), b = Iota({3, 4, 3}, -2, 0.25);
  Ints shape;
  std::vector<double> expected = NaiveBatchedMatmul(a, b, shape);
  Tensor r = bmm(a, b);
  EXPECT_EQ(Shape(r), (Ints{3, 2, 3}));
  EXPECT_TRUE(HasValues(r, expected, 1e-12));
}

// addmm adds a bias row inside the product (the skinny kernel's accumulators, or BLAS with beta = 1)
// and any other input after it; every shape, path and dtype must agree with the float64 composition.
TEST(Addmm, MatchesTheFloat64CompositionOnEveryPath) {
  struct Case {
    int64_t n, k, m;
  };
  // Skinny kernel; BLAS (k > 128, then m > 256); an empty inner dimension; tiny.
  for (const Case& s : std::vector<Case>{{1000, 64, 64}, {300, 200, 40}, {50, 64, 300}, {5, 0, 3}, {3, 2, 1}}) {
    for (ScalarType dtype : {kFloat32, kFloat64}) {
      manual_seed(3);
      Tensor x = randn({s.n, s.k}, dtype), w = randn({s.k, s.m}, dtype);
      const Tensor product = mm(x.to(kFloat64), w.to(kFloat64));
      const double tol = dtype == kFloat32 ? 1e-4 : 1e-12;
      for (const Ints& shape : std::vector<Ints>{{s.m}, {1, s.m}, {s.n, s.m}, {s.n, 1}, {}}) {
        Tensor c = randn(shape, dtype);
        const std::string label = "n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) + " m=" +
                                  std::to_string(s.m) + " input " + c.shape_string();
        Tensor got = addmm(c, x, w);
        EXPECT_EQ(got.dtype(), dtype);
        EXPECT_TRUE(allclose(got.to(kFloat64), c.to(kFloat64) + product, tol, tol)) << label;
        Tensor scaled = addmm(c, x, w, 0.5, -2.0);
        EXPECT_TRUE(allclose(scaled.to(kFloat64), c.to(kFloat64) * 0.5 - product * 2.0, tol, tol)) << label;
      }
      // The bias row through a transposed weight, as linear() passes it.
      Tensor wt = randn({s.m, s.k}, dtype), bias = randn({s.m}, dtype);
      EXPECT_TRUE(allclose(addmm(bias, x, wt.t()).to(kFloat64),
                           bias.to(kFloat64) + mm(x.to(kFloat64), wt.to(kFloat64).t()), tol, tol));
    }
  }
}

TEST(Addmm, IntegerTensorsWithIntegerScalars) {
  Tensor a = tensor({{1, 2}, {3, 4}}), b = tensor({{1, 0}, {0, 1}}), c = tensor({10, 20});
  Tensor plain = addmm(c, a, b), scaled = addmm(c, a, b, 2, 3);
  EXPECT_EQ(scaled.dtype(), kInt64);
  EXPECT_TRUE(HasValues(plain, {11, 22, 13, 24}));
  EXPECT_TRUE(HasValues(scaled, {23, 46, 29, 52}));
}

TEST(Addmm, BetaZeroIgnoresTheInputAsPyTorchDoes) {
  Tensor c = full({2, 2}, std::nan(""), kFloat64);
  Tensor r = addmm(c, eye(2, kFloat64), tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64), 0.0, 2.0);
  EXPECT_TRUE(HasValues(r, {2, 4, 6, 8}));
}

TEST(Linear, IsInputTimesWeightTransposedPlusBias) {
  manual_seed(5);
  Tensor w = randn({4, 3}, kFloat64), b = randn({4}, kFloat64);
  for (const Ints& shape : std::vector<Ints>{{3}, {5, 3}, {2, 5, 3}}) {
    Tensor x = randn(shape, kFloat64);
    Tensor y = linear(x, w, b);
    Ints expected_shape = shape;
    expected_shape.back() = 4;
    EXPECT_EQ(Shape(y), expected_shape);
    EXPECT_TRUE(allclose(y, matmul(x, w.t()) + b, 1e-12, 1e-12)) << x.shape_string();
    EXPECT_TRUE(allclose(linear(x, w), matmul(x, w.t()), 1e-12, 1e-12)) << x.shape_string();
  }
  // Gradients through the fused product match those of the composition.
  Tensor x = randn({6, 3}, kFloat64).requires_grad_(), wl = w.clone().requires_grad_(), bl = b.clone().requires_grad_();
  Tensor y = linear(x, wl, bl);
  EXPECT_STREQ(y.grad_fn()->name(), "AddmmBackward0");
  Tensor weights = randn({6, 4}, kFloat64);
  TensorList fused = grad({(y * weights).sum()}, {x, wl, bl});
  TensorList composed = grad({((matmul(x, wl.t()) + bl) * weights).sum()}, {x, wl, bl});
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(allclose(fused[i], composed[i], 1e-12, 1e-12)) << i;
}

// Products never promote, as in PyTorch; every product's check is in test_edge_values.cpp.
TEST(Matmul, MixedDtypesAreRejected) { EXPECT_THROW(matmul(ones({2, 2}), ones({2, 2}, kFloat64)), Error); }

// ---- reductions -----------------------------------------------------------------------------------

TEST(Reductions, SumAndMeanOverAllAndDims) {
  Tensor y = tensor({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}});
  Tensor s = y.sum();
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<float>(), 21.0f);
  EXPECT_TRUE(HasValues(y.sum({0}), {5, 7, 9}));
  Tensor k = y.sum({1}, true);
  EXPECT_EQ(Shape(k), (Ints{2, 1}));
  EXPECT_TRUE(HasValues(k, {9, 12}));
  EXPECT_TRUE(HasValues(y.sum({-1}), {9, 12}));
  EXPECT_EQ(y.sum({0, 1}).dim(), 0);
  EXPECT_EQ(y.sum({0, 1}).item<float>(), 21.0f);
  EXPECT_EQ(y.mean().item<float>(), 3.5f);
  EXPECT_TRUE(HasValues(y.mean({1}), {3, 4}));
  Tensor mk = y.mean({0}, true);
  EXPECT_EQ(Shape(mk), (Ints{1, 3}));
  EXPECT_TRUE(HasValues(mk, {2.5, 3.5, 4.5}));
  EXPECT_EQ(y.sum({0}).dtype(), kFloat32);
  EXPECT_TRUE(HasValues(sum(Iota({2, 3, 4}), {0, 2}), {60, 92, 124}));
}

// A sum along the last dim runs 32 accumulators side by side (cpu_kernels.hpp, sum_into), each float32
// one in double: lengths around multiples of 32, the tail included, with a large value in each
// accumulator's place (and in the middle and at the end), must still give the exactly rounded sum. One
// 2^24 beside n - 1 ones loses every one in float32 arithmetic; int64 wraps past its maximum as
// PyTorch's sum does.
TEST(Reductions, SumAlongTheLastDimAddsEveryElement) {
  for (int64_t n : {0, 1, 7, 31, 32, 33, 63, 64, 65, 100, 1031}) {
    std::vector<int64_t> places = {n / 2, n - 1};
    for (int64_t k = 0; k < std::min<int64_t>(n, 32); ++k) places.push_back(k);
    for (int64_t big : places) {
      if (big < 0) continue;  // n = 0: one run, with no large value
      std::vector<float> f(static_cast<size_t>(n), 1.0f);
      std::vector<double> d(static_cast<size_t>(n), 0.5);
      std::vector<int64_t> i(static_cast<size_t>(n), 3);
      if (n > 0) {
        f[static_cast<size_t>(big)] = 16777216.0f;
        d[static_cast<size_t>(big)] = 1099511627776.0;  // 2^40: every partial sum is exact
        i[static_cast<size_t>(big)] = std::numeric_limits<int64_t>::max();
      }
      const Tensor rows = tensor(f).view({1, n});
      const double want_f = n == 0 ? 0.0 : 16777216.0 + static_cast<double>(n - 1);
      EXPECT_EQ(rows.sum({1}).item<float>(), static_cast<float>(want_f)) << "float32, n = " << n << ", big at " << big;
      EXPECT_EQ(tensor(d, kFloat64).view({1, n}).sum({1}).item<double>(),
                n == 0 ? 0.0 : 1099511627776.0 + 0.5 * static_cast<double>(n - 1))
          << "float64, n = " << n;
      uint64_t want_i = 0;  // int64 sums wrap, as PyTorch's do
      for (int64_t v : i) want_i += static_cast<uint64_t>(v);
      EXPECT_EQ(tensor(i).view({1, n}).sum({1}).item<int64_t>(), static_cast<int64_t>(want_i)) << "int64, n = " << n;
    }
  }
}

TEST(Reductions, IntegerSumStaysInt64) {
  Tensor s = tensor({1, 2, 3}).sum();
  EXPECT_EQ(s.dtype(), kInt64);
  EXPECT_EQ(s.item<int64_t>(), 6);
}

TEST(Reductions, SumOfNonContiguous) {
  Tensor x = arange(12).to(kFloat32).view({3, 4}).t();
  EXPECT_TRUE(HasValues(x.sum({1}), {12, 15, 18, 21}));
  EXPECT_TRUE(HasValues(x.sum({0}), {6, 22, 38}));
}

TEST(Reductions, MaxAndMinWhole) {
  Tensor i = tensor({{1, 5, 3}, {4, 2, 6}});
  Tensor m = i.max();
  EXPECT_EQ(m.dim(), 0);
  EXPECT_EQ(m.dtype(), kInt64);
  EXPECT_EQ(m.item<int64_t>(), 6);
  EXPECT_EQ(i.min().item<int64_t>(), 1);
  EXPECT_EQ(tensor({-1.5, -0.5}).max().item<float>(), -0.5f);
}

// max and min along a dim (and of everything) against the serial definition: the first occurrence of
// the extreme, -0 and +0 equal, the first nan winning. Values from a small set make ties common; nans,
// infinities and zeros of both signs are sprinkled in. Every dim of a [5, 67, 300] tensor (rows long
// enough for the vector lanes, tails included), transposed inputs, one long row for the whole-tensor
// reduction, float32, float64 and int64, on 1, 2 and 3 threads.
TEST(Reductions, MaxAndMinGiveTheFirstExtremeOnEveryLayoutAndThreadCount) {
  std::mt19937_64 gen(17);
  const double specials[] = {-0.0, 0.0, INFINITY, -INFINITY, NAN};
  auto values = [&](int64_t n, double nan_share) {
    std::vector<double> v(static_cast<size_t>(n));
    std::uniform_int_distribution<int> small(-20, 20), pick(0, 3);
    std::uniform_real_distribution<double> u(0, 1);
    for (double& x : v) {
      x = small(gen) * 0.25;
      if (u(gen) < 0.01) x = specials[pick(gen)];
      if (u(gen) < nan_share) x = NAN;
    }
    return v;
  };
  // The serial definition along dim of a [d0, d1, d2] tensor held as doubles.
  auto reference = [](const std::vector<double>& v, std::array<int64_t, 3> size, int dim, bool is_max) {
    std::array<int64_t, 3> stride = {size[1] * size[2], size[2], 1};
    std::array<int64_t, 3> out_size = size;
    out_size[dim] = 1;
    std::vector<std::pair<double, int64_t>> out;
    for (int64_t a = 0; a < out_size[0]; ++a)
      for (int64_t b = 0; b < out_size[1]; ++b)
        for (int64_t c = 0; c < out_size[2]; ++c) {
          const int64_t base = a * stride[0] + b * stride[1] + c * stride[2];
          int64_t best = 0;
          for (int64_t i = 1; i < size[dim]; ++i) {
            const double x = v[base + i * stride[dim]], y = v[base + best * stride[dim]];
            if (y != y) break;
            if (x != x || (is_max ? x > y : x < y)) best = i;
          }
          out.push_back({v[base + best * stride[dim]], best});
        }
    return out;
  };
  auto same = [](double a, double b) { return (a != a && b != b) || (a == b && std::signbit(a) == std::signbit(b)); };
  const std::array<int64_t, 3> size = {5, 67, 300};
  const int saved_threads = get_num_threads();
  for (double nan_share : {0.0, 0.001}) {
    const std::vector<double> v = values(size[0] * size[1] * size[2], nan_share);
    for (ScalarType dtype : {kFloat32, kFloat64, kInt64}) {
      if (dtype == kInt64 && nan_share > 0) continue;
      std::vector<double> held = v;  // the values the tensor holds (int64: the specials become 0)
      if (dtype == kInt64)
        for (double& x : held) x = std::isfinite(x) ? std::floor(x * 4) + 0.0 : 0.0;  // + 0.0: no -0
      const Tensor x = tensor(held, kFloat64).to(dtype).view({size[0], size[1], size[2]});
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (bool is_max : {true, false}) {
          for (int dim = 0; dim < 3; ++dim) {
            const auto want = reference(held, size, dim, is_max);
            // The same reduction through a transposed (non-contiguous) view of a transposed copy.
            for (bool transposed : {false, true}) {
              const Tensor input = transposed ? x.transpose(0, 2).contiguous().transpose(0, 2) : x;
              auto [got, index] = is_max ? max(input, dim) : min(input, dim);
              const std::vector<double> g = got.to(kFloat64).reshape({-1}).to_vector<double>();
              const std::vector<int64_t> gi = index.reshape({-1}).to_vector<int64_t>();
              ASSERT_EQ(g.size(), want.size());
              for (size_t k = 0; k < want.size(); ++k)
                ASSERT_TRUE(same(g[k], want[k].first) && gi[k] == want[k].second)
                    << (is_max ? "max" : "min") << " dim " << dim << " " << dtype_name(dtype) << " threads "
                    << threads << " transposed " << transposed << " at " << k << ": " << g[k] << " [" << gi[k]
                    << "], want " << want[k].first << " [" << want[k].second << "]";
            }
          }
          // The whole tensor: one long row.
          const auto all = reference(held, {1, 1, size[0] * size[1] * size[2]}, 2, is_max);
          const double whole = (is_max ? max(x) : min(x)).to(kFloat64).item<double>();
          EXPECT_TRUE(same(whole, all[0].first)) << dtype_name(dtype) << " threads " << threads;
        }
      }
      set_num_threads(saved_threads);
    }
  }
}

TEST(Reductions, MaxAndMinAlongDimReturnValuesAndInt64Indices) {
  Tensor y = tensor({{1.0, 5.0, 5.0}, {4.0, 2.0, 6.0}});
  auto [values, indices] = y.max(1);
  EXPECT_EQ(Shape(values), Ints{2});
  EXPECT_EQ(indices.dtype(), kInt64);
  EXPECT_TRUE(HasValues(values, {5, 6}));
  EXPECT_EQ(indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));  // first of the tied maxima
  auto [mv, mi] = y.min(0, true);
  EXPECT_EQ(Shape(mv), (Ints{1, 3}));
  EXPECT_EQ(Shape(mi), (Ints{1, 3}));
  EXPECT_TRUE(HasValues(mv, {1, 2, 5}));
  EXPECT_EQ(mi.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0}));
  auto [iv, ii] = max(tensor({{1, 5, 3}, {4, 2, 6}}), -1);
  EXPECT_EQ(iv.dtype(), kInt64);
  EXPECT_EQ(iv.to_vector<int64_t>(), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(ii.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
}

// A column's sum over its rows ([n, 1] over dim 0, the blocks' runs summed in vectors of partial sums)
// has the same bits on any number of threads, and float32's accumulates in double: within half an ulp
// of the exact sum plus the double's own rounding.
TEST(Reductions, ColumnSumOverRowsIsExactAndThreadFree) {
  const int saved_threads = get_num_threads();
  for (int64_t n : {int64_t{5}, int64_t{300}, int64_t{200003}}) {
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = std::sin(0.37 * static_cast<double>(i)) * 3.0;
    const Tensor x = tensor(v, kFloat64).to(kFloat32).view({n, 1});
    long double exact = 0;
    for (float f : x.reshape({-1}).to_vector<float>()) exact += f;
    set_num_threads(1);
    const Tensor one = x.sum({0});
    set_num_threads(3);
    const Tensor three = x.sum({0});
    EXPECT_TRUE(equal(one, three)) << n;
    EXPECT_EQ(one.sizes(), (Ints{1}));
    EXPECT_NEAR(one.item<float>(), static_cast<double>(exact), std::abs(static_cast<double>(exact)) * 6e-8 + 1e-6) << n;
  }
  set_num_threads(saved_threads);
}

// The whole-tensor max and min of zeros give the first zero's sign (the value pass alone cannot tell
// -0 from +0: its vector lanes keep the first zero each saw, and folding them keeps the lower lane's),
// in runs short and long (split into chunks) and on 1 and 3 threads: the first zero at index 1, the
// other sign's at 8, in another lane, every other element beyond the extreme.
TEST(Reductions, WholeMaxOfZerosKeepsTheFirstSign) {
  const int saved_threads = get_num_threads();
  for (int64_t n : {int64_t{100}, int64_t{200000}})
    for (int threads : {1, 3}) {
      set_num_threads(threads);
      for (double first : {-0.0, 0.0})
        for (bool is_max : {true, false}) {
          std::vector<double> v(static_cast<size_t>(n), is_max ? -1.0 : 1.0);
          v[1] = first;
          v[8] = -first;
          v[static_cast<size_t>(n / 3)] = -first;
          for (ScalarType dtype : {kFloat32, kFloat64}) {
            const Tensor x = tensor(v, kFloat64).to(dtype);
            const double got = (is_max ? max(x) : min(x)).to(kFloat64).item<double>();
            EXPECT_EQ(got, 0.0);
            EXPECT_EQ(std::signbit(got), std::signbit(first)) << n << " " << threads << (is_max ? " max" : " min");
          }
        }
    }
  set_num_threads(saved_threads);
}

// argmax and argmin as PyTorch 1.13: the first extreme, a nan counting as the extreme; the flattened
// index without a dim (keepdim keeps every dim); 0-d inputs; its errors for bools, empty dims and a
// dim out of range, before anything is computed.
TEST(Reductions, ArgmaxAndArgminAsPyTorch) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = tensor({{1.0, 3.0, 3.0}, {nan, 0.0, 2.0}});
  EXPECT_EQ(argmax(x).item<int64_t>(), 3);
  EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(argmin(x, 0, true).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(Shape(argmin(x, 0, true)), (Ints{1, 3}));
  EXPECT_EQ(Shape(x.argmax(std::nullopt, true)), (Ints{1, 1}));
  EXPECT_EQ(argmin(tensor({{4.0, 2.0}, {2.0, 5.0}})).item<int64_t>(), 1);
  EXPECT_EQ(argmax(tensor(5.0)).item<int64_t>(), 0);
  EXPECT_EQ(argmax(tensor(5.0), -1).item<int64_t>(), 0);
  EXPECT_EQ(argmax(tensor({int64_t{2}, int64_t{9}, int64_t{9}})).item<int64_t>(), 1);
  EXPECT_EQ(argmax(zeros({0, 3}), 1).numel(), 0);
  EXPECT_EQ(argmax(x, 1).dtype(), kInt64);
  EXPECT_DYDX_ERROR(argmax(tensor({true, false})), "argmax", "Bool");
  EXPECT_DYDX_ERROR(argmin(zeros({0})), "argmin", "numel() == 0");
  EXPECT_DYDX_ERROR(argmax(zeros({2, 0}), 1), "argmax", "dim 1", "non-zero size");
  EXPECT_DYDX_ERROR(argmax(x, 2), "argmax", "2");
  EXPECT_DYDX_ERROR(argmax(tensor(5.0), 1), "argmax", "1");
}

TEST(Reductions, MaxGradientSplitsBetweenTies) {
  Tensor z = tensor({3.0, 1.0, 3.0}).requires_grad_();
  z.max().backward();
  EXPECT_TRUE(HasValues(z.grad(), {0.5, 0, 0.5}));
  Tensor w = tensor({{1.0, 5.0}, {4.0, 2.0}}).requires_grad_();
  std::get<0>(w.max(1)).sum().backward();
  EXPECT_TRUE(HasValues(w.grad(), {0, 1, 1, 0}));
}

// amax and amin as PyTorch 1.13: over any dims (consecutive ones of a dense input read in place, others
// through a permuted copy, views through a copy), the first of equal values (-0 or +0), a nan as the
// extreme; the gradient split evenly between ties, nan over a slice that holds a nan (AmaxBackward0's
// (g / count) * ties), its forward rule the tied tangents' mean; exact int64 and bool; its errors.
TEST(Reductions, AmaxAndAminAsPyTorch) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Against a loop over a [4, 5, 6] input, every subset of dims, contiguous and as a permuted view.
  const Tensor x = randn({4, 5, 6}, dtype(kFloat64));
  const Tensor viewed = x.permute({2, 0, 1});  // [6, 4, 5]
  for (int mask = 1; mask < 8; ++mask) {
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < 3; ++d)
      if (mask >> d & 1) dims.push_back(d);
    for (const Tensor& in : {x, viewed}) {
      Tensor expected_max = in, expected_min = in;
      for (auto d = dims.rbegin(); d != dims.rend(); ++d) {
        expected_max = std::get<0>(expected_max.max(*d, true));
        expected_min = std::get<0>(expected_min.min(*d, true));
      }
      EXPECT_TRUE(equal(amax(in, dims, true), expected_max)) << "mask " << mask;
      EXPECT_TRUE(equal(in.amin(dims, true), expected_min)) << "mask " << mask;
      EXPECT_EQ(Shape(amax(in, dims)).size(), 3 - dims.size());
    }
  }
  EXPECT_TRUE(equal(amax(x), x.max()));
  // Columns (a dim before others: vectors of columns, their tails one at a time) holding nans,
  // infinities of both signs and zeros of both signs give max's values, the first nan and first zero.
  std::mt19937_64 gen(5);
  std::uniform_int_distribution<int> pick(0, 9), small(-3, 3);
  const double specials[] = {nan, INFINITY, -INFINITY, 0.0, -0.0};
  for (int64_t rows : {1, 3, 40}) {
    std::vector<double> v(static_cast<size_t>(rows * 2 * 41));
    for (double& e : v) {
      const int k = pick(gen);
      e = k < 5 ? specials[k] : small(gen);
    }
    for (ScalarType type : {kFloat32, kFloat64}) {
      const Tensor s = tensor(v, kFloat64).to(type).view({rows, 2, 41});
      auto same = [](const Tensor& a, const Tensor& b) {
        const std::vector<double> p = a.to(kFloat64).reshape({-1}).to_vector<double>(),
                                  q = b.to(kFloat64).reshape({-1}).to_vector<double>();
        for (size_t i = 0; i < p.size(); ++i)
          if (!(std::isnan(p[i]) && std::isnan(q[i])) && !(p[i] == q[i] && std::signbit(p[i]) == std::signbit(q[i])))
            return false;
        return p.size() == q.size();
      };
      EXPECT_TRUE(same(amax(s, {0}), std::get<0>(s.max(0)))) << rows << " rows";
      EXPECT_TRUE(same(amin(s, {0}), std::get<0>(s.min(0)))) << rows << " rows";
      EXPECT_TRUE(same(amax(s, {1}), std::get<0>(s.max(1)))) << rows << " rows";
      EXPECT_TRUE(same(amin(s, {0, 1}), std::get<0>(s.reshape({rows * 2, 41}).min(0)))) << rows << " rows";
    }
  }
  // The first of equal zeros, as torch.amax's tensor([-0., 0.]) -> -0.
  EXPECT_TRUE(std::signbit(amax(tensor({-0.0, 0.0})).item<double>()));
  EXPECT_FALSE(std::signbit(amax(tensor({0.0, -0.0})).item<double>()));
  EXPECT_FALSE(std::signbit(amin(tensor({0.0, -0.0})).item<double>()));
  EXPECT_TRUE(std::signbit(amin(tensor({-0.0, 0.0}), {0}).item<double>()));
  // Ties share the gradient; a slice with a nan gives nan to all of its elements (and its tangent nan).
  Tensor y = tensor({{1.0, 3.0, 3.0}, {2.0, nan, 0.0}}, kFloat64).requires_grad_();
  const Tensor m = amax(y, {1});
  EXPECT_TRUE(HasValues(m, {3.0, nan}, 0));
  EXPECT_EQ(std::string(m.grad_fn()->name()), "AmaxBackward0");
  m.sum().backward();
  EXPECT_TRUE(HasValues(y.grad(), {0, 0.5, 0.5, nan, nan, nan}, 0));
  const auto [value, tangent] = func::jvp([](const Tensor& in) { return amin(in, {1}); },
                                          tensor({{2.0, 1.0, 1.0}, {nan, 0.0, 1.0}}, kFloat64),
                                          tensor({{5.0, 2.0, 4.0}, {1.0, 1.0, 1.0}}, kFloat64));
  EXPECT_TRUE(HasValues(value, {1.0, nan}, 0));
  EXPECT_TRUE(HasValues(tangent, {3.0, nan}, 0));
  // Exact int64 extremes and bools, without history.
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const Tensor ints = tensor({{hi - 1, lo}, {hi, lo + 1}});
  EXPECT_EQ(amax(ints).item<int64_t>(), hi);
  EXPECT_EQ(amin(ints, {0}).to_vector<int64_t>(), (std::vector<int64_t>{hi - 1, lo}));
  EXPECT_EQ(amax(ints, {1}).dtype(), kInt64);
  EXPECT_TRUE(amax(tensor({false, true})).item<bool>());
  EXPECT_EQ(amin(tensor({false, true})).dtype(), kBool);
  // 0-d inputs, kept empty dims, and a parallel whole-tensor search (chunks merged in order).
  EXPECT_EQ(amax(tensor(3.5), {0}).item<double>(), 3.5);
  EXPECT_EQ(Shape(amax(tensor(3.5), {}, true)), Ints{});
  EXPECT_EQ(Shape(amin(zeros({0, 3}), {1})), Ints{0});
  Tensor long_row = arange(1 << 18).to(kFloat32);
  long_row.index_put_({int64_t{200000}}, tensor(1e9f));
  EXPECT_EQ(amax(long_row).item<float>(), 1e9f);
  // PyTorch's errors, raised before anything is computed.
  EXPECT_DYDX_ERROR(amax(zeros({0})), "amax", "numel() == 0");
  EXPECT_DYDX_ERROR(amin(zeros({2, 0}), {1}), "amin", "dim 1", "non-zero size");
  EXPECT_DYDX_ERROR(amax(zeros({2, 0}), {0, 1}), "amax", "dim 1", "non-zero size");
  EXPECT_DYDX_ERROR(amax(zeros({2, 3}), {1, -1}), "amax", "dim 1 appears multiple times");
  EXPECT_DYDX_ERROR(amax(zeros({2, 3}), {2}), "amax", "2");
  EXPECT_DYDX_ERROR(amin(tensor(3.0), {0, 0}), "amin", "appears multiple times");
  // A 0-d tensor's one dim may be named once, in every reduction over dims (as PyTorch checks).
  EXPECT_DYDX_ERROR(tensor(3.0).sum({0, -1}), "sum", "dim 0 appears multiple times");
  EXPECT_DYDX_ERROR(tensor(3.0).mean({0, 0}), "mean", "dim 0 appears multiple times");
  EXPECT_DYDX_ERROR(logsumexp(tensor(3.0), {0, 0}), "logsumexp", "dim 0 appears multiple times");
  EXPECT_DYDX_ERROR(tensor(3.0).var({-1, 0}), "var", "dim 0 appears multiple times");
  EXPECT_EQ(tensor(3.0).sum({-1}).item<double>(), 3.0);
  EXPECT_EQ(tensor(3.0).var({0}, /*unbiased=*/false).item<double>(), 0.0);
}

// nan_to_num as PyTorch 1.13: each dtype's largest and lowest finite values by default, given values
// cast to the dtype (1e300 is inf in float32), -0 and subnormals kept, views read through their
// strides; the gradient grad * isfinite(x) (a nan cotangent gives nan even where x is not finite);
// integers copied; the in-place form.
TEST(Elementwise, NanToNumAsPyTorch) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = INFINITY;
  Tensor x = tensor({nan, inf, -inf, 1.5, -0.0, 1e-310}, kFloat64).requires_grad_();
  const Tensor y = nan_to_num(x);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{0, std::numeric_limits<double>::max(),
                                                        std::numeric_limits<double>::lowest(), 1.5, -0.0, 1e-310}));
  EXPECT_TRUE(std::signbit(y.to_vector<double>()[4]));
  EXPECT_EQ(std::string(y.grad_fn()->name()), "NanToNumBackward0");
  y.backward(tensor({1.0, nan, 3.0, nan, 5.0, 6.0}, kFloat64));
  EXPECT_TRUE(HasValues(x.grad(), {0, nan, 0, nan, 5, 6}, 0));
  const Tensor f = tensor({{inf, 1.0f}, {-inf, 2.0f}}).t();  // float32, strided
  EXPECT_EQ(f.nan_to_num().to_vector<float>(), (std::vector<float>{std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), 1, 2}));
  EXPECT_EQ(f.nan_to_num(0.0, 1e300, -5.0).to_vector<float>(), (std::vector<float>{INFINITY, -5, 1, 2}));
  const auto [value, tangent] = func::jvp([](const Tensor& in) { return in.nan_to_num(7.0); }, tensor({nan, 2.0}, kFloat64),
                                          tensor({1.0, inf}, kFloat64));
  EXPECT_TRUE(HasValues(value, {7, 2}, 0));
  EXPECT_TRUE(HasValues(tangent, {0, inf}, 0));
  const Tensor ints = tensor({int64_t{1}, std::numeric_limits<int64_t>::max()});
  EXPECT_EQ(nan_to_num(ints).to_vector<int64_t>(), ints.to_vector<int64_t>());
  Tensor z = tensor({nan, -inf, 4.0}, kFloat64);
  EXPECT_EQ(&z.nan_to_num_(1.0, 2.0, 3.0), &z);
  EXPECT_EQ(z.to_vector<double>(), (std::vector<double>{1, 3, 4}));
  Tensor leaf = tensor({nan}, kFloat64).requires_grad_();
  EXPECT_DYDX_ERROR(leaf.nan_to_num_(), "leaf Variable that requires grad");
  const Tensor batch = tensor({{nan, 1.0}, {inf, 2.0}, {3.0, -inf}}, kFloat64);
  EXPECT_TRUE(equal(func::vmap([](const Tensor& s) { return s.nan_to_num(-1.0, 9.0, -9.0); }, {1})(batch),
                    batch.nan_to_num(-1.0, 9.0, -9.0).t()));
}

// vmap of amax and amin: the sample dims reduced, the batch dim kept, wherever it is.
TEST(Reductions, AmaxAndAminUnderVmap) {
  const Tensor x = randn({3, 4, 5}, dtype(kFloat64));
  for (int64_t in_dim : {0, 1, 2}) {
    const Tensor batch = x.movedim(0, in_dim).contiguous();
    const Tensor mapped = func::vmap([](const Tensor& s) { return amax(s, {-1}) + amin(s, {0, 1}, true).squeeze(1); },
                                     {in_dim})(batch);
    EXPECT_TRUE(allclose(mapped, amax(x, {2}) + amin(x, {1, 2}, true).squeeze(2), 0, 0)) << "in_dim " << in_dim;
  }
}

// ---- printing -------------------------------------------------------------------------------------

TEST(Printing, MatchesPyTorchText) {
  struct Case {
    std::function<Tensor()> make;
    const char* expected;  // str(t) in PyTorch 1.13
  };
  const std::vector<Case> cases = {
      {[] { return tensor({1, 2, 3}); }, "tensor([1, 2, 3])"},
      {[] { return tensor({{1, -20}, {300, 4}}); }, "tensor([[  1, -20],\n        [300,   4]])"},
      {[] { return tensor(3.5); }, "tensor(3.5000)"},
      {[] { return tensor(7); }, "tensor(7)"},
      {[] { return tensor({1.0, 2.5, -3.25}); }, "tensor([ 1.0000,  2.5000, -3.2500])"},
      {[] { return tensor({1.0, 2.0, 3.0}); }, "tensor([1., 2., 3.])"},
      {[] { return tensor({1.0, 2.5}, kFloat64); }, "tensor([1.0000, 2.5000], dtype=torch.float64)"},
      {[] { return tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64); },
       "tensor([[1., 2.],\n        [3., 4.]], dtype=torch.float64)"},
      {[] { return tensor({1e10, 1.0}); }, "tensor([1.0000e+10, 1.0000e+00])"},
      {[] { return tensor({1e-5, 1.0}); }, "tensor([1.0000e-05, 1.0000e+00])"},
      {[] { return tensor({1.0, 2.0}).requires_grad_(); }, "tensor([1., 2.], requires_grad=True)"},
      {[] { return tensor({1.0, 2.0}).requires_grad_() * 2; }, "tensor([2., 4.], grad_fn=<MulBackward0>)"},
      {[] { return tensor({1.0, 2.0}, kFloat64).requires_grad_(); },
       "tensor([1., 2.], dtype=torch.float64, requires_grad=True)"},
      {[] { return zeros({0}); }, "tensor([])"},
      {[] { return arange(8).to(kFloat32).view({2, 2, 2}); },
       "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])"},
      {[] { return eye(2); }, "tensor([[1., 0.],\n        [0., 1.]])"},
      {[] { return linspace(0, 1, 3); }, "tensor([0.0000, 0.5000, 1.0000])"},
      {[] { return tensor({-0.5, 0.25}); }, "tensor([-0.5000,  0.2500])"},
      {[] { return tensor({{1, 2}, {3, 4}}).sum(); }, "tensor(10)"},
      {[] { return tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_().sum(); },
       "tensor(10., grad_fn=<SumBackward0>)"},
      {[] { return tensor({NAN, 1.0, INFINITY}); }, "tensor([nan, 1., inf])"},
      {[] { return tensor(3.5, kFloat64); }, "tensor(3.5000, dtype=torch.float64)"},
      {[] { return tensor({0.1, 100.0}); }, "tensor([  0.1000, 100.0000])"},
      {[] { return tensor({123456.0, 1.5}); }, "tensor([1.2346e+05, 1.5000e+00])"},
      {[] { return tensor({-1e-3, 2.0}); }, "tensor([-1.0000e-03,  2.0000e+00])"},
      {[] { return tensor({{1e8, -2.0}, {3.0, 4.0}}); },
       "tensor([[ 1.0000e+08, -2.0000e+00],\n        [ 3.0000e+00,  4.0000e+00]])"},
      {[] { return arange(2000); }, "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"},
      {[] { return arange(1200).to(kFloat32).view({2, 600}); },
       "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 5.9700e+02, 5.9800e+02,\n"
       "         5.9900e+02],\n"
       "        [6.0000e+02, 6.0100e+02, 6.0200e+02,  ..., 1.1970e+03, 1.1980e+03,\n"
       "         1.1990e+03]])"},
      {[] { return tensor({1000000, -5}); }, "tensor([1000000,      -5])"},
      {[] { return zeros({2, 0}); }, "tensor([], size=(2, 0))"},
      {[] { return tensor({0.0, -0.0}); }, "tensor([0., -0.])"},
      {[] { return tensor({1.0 / 3, 2.0 / 3}, kFloat64); }, "tensor([0.3333, 0.6667], dtype=torch.float64)"},
      {[] { return tensor({12345678.0}); }, "tensor([12345678.])"},
      {[] { return tensor({0.00012, 0.5}); }, "tensor([1.2000e-04, 5.0000e-01])"},
      {[] { return ones({2, 3}, requires_grad()).sum({1}); }, "tensor([3., 3.], grad_fn=<SumBackward1>)"},
  };
  for (const Case& c : cases) {
    Tensor t = c.make();
    EXPECT_EQ(to_string(t), c.expected);
    std::ostringstream os;
    os << t;
    EXPECT_EQ(os.str(), c.expected);
  }
}

TEST(Printing, NonContiguousPrintsLogicalOrder) {
  Tensor x = arange(6).view({2, 3}).t();
  EXPECT_EQ(to_string(x), "tensor([[0, 3],\n        [1, 4],\n        [2, 5]])");
}

TEST(Printing, DtypeNames) {
  EXPECT_STREQ(dtype_name(kFloat32), "float32");
  EXPECT_STREQ(dtype_name(kFloat64), "float64");
  EXPECT_STREQ(dtype_name(kInt64), "int64");
  std::ostringstream os;
  os << kFloat64;
  EXPECT_NE(os.str().find("float64"), std::string::npos);
}

// split, chunk, split_with_sizes and unbind as PyTorch 1.13: the pieces' shapes (an empty dim, a split
// size beyond the dim, chunks that cannot all be filled), views of the base (a write through a piece
// reaches it), gradients to each piece's elements (and zeros where no piece is used), negative dims,
// and its errors, checked before anything is made.
TEST(Split, PiecesAsPyTorch) {
  const auto sizes_of = [](const TensorList& pieces, int64_t dim) {
    std::vector<int64_t> s;
    for (const Tensor& p : pieces) s.push_back(p.size(dim));
    return s;
  };
  const Tensor x = arange(35, kFloat64).reshape({7, 5});
  EXPECT_EQ(sizes_of(x.split(3), 0), (std::vector<int64_t>{3, 3, 1}));
  EXPECT_EQ(sizes_of(x.split(2, -1), 1), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(sizes_of(x.split(std::numeric_limits<int64_t>::max()), 0), (std::vector<int64_t>{7}));
  EXPECT_EQ(sizes_of(x.chunk(3, 1), 1), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(sizes_of(x.chunk(4), 0), (std::vector<int64_t>{2, 2, 2, 1}));
  EXPECT_EQ(sizes_of(x.chunk(6), 0), (std::vector<int64_t>{2, 2, 2, 1}));  // ceil(7 / 6) = 2: four pieces
  EXPECT_EQ(sizes_of(x.chunk(10, 1), 1), (std::vector<int64_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(sizes_of(x.split({2, 0, 5}), 0), (std::vector<int64_t>{2, 0, 5}));
  EXPECT_EQ(sizes_of(split_with_sizes(x, {5}, 1), 1), (std::vector<int64_t>{5}));
  const Tensor empty = zeros({0, 3});
  EXPECT_EQ(sizes_of(empty.split(0), 0), (std::vector<int64_t>{0}));
  EXPECT_EQ(sizes_of(empty.split(2), 0), (std::vector<int64_t>{0}));
  EXPECT_EQ(sizes_of(empty.chunk(3), 0), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_TRUE(empty.unbind(0).empty());
  const TensorList rows = x.unbind();
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[6].sizes(), (std::vector<int64_t>{5}));
  EXPECT_TRUE(allclose(rows[6], arange(30, 35, 1, kFloat64)));
  const TensorList columns = unbind(x, -1);
  ASSERT_EQ(columns.size(), 5u);
  EXPECT_TRUE(allclose(columns[4], arange(4, 35, 5, kFloat64)));
  EXPECT_TRUE(allclose(chunk(x, 2, 1)[1], x.narrow(1, 3, 2)));
  EXPECT_TRUE(allclose(split(x, {3, 4})[1], x.narrow(0, 3, 4)));
  // Views: a write through a piece is a write into the base.
  Tensor base = zeros({4, 2});
  base.split(2)[1].fill_(1.0);
  base.unbind(1)[0].add_(2.0);
  EXPECT_TRUE(allclose(base, tensor({{2.0, 0.0}, {2.0, 0.0}, {3.0, 1.0}, {3.0, 1.0}}, kFloat32)));
}

TEST(Split, GradientsReachEachPiecesElements) {
  Tensor x = randn({6, 4}, TensorOptions().dtype(kFloat64).requires_grad(true));
  const TensorList pieces = x.split({1, 3, 2});
  const TensorList rows = x.unbind(0);
  (pieces[1] * 2.0).sum().add(rows[5].pow(2).sum()).backward();
  Tensor expected = zeros({6, 4}, kFloat64);
  expected.narrow(0, 1, 3).fill_(2.0);
  expected.select(0, 5).copy_(x.detach().select(0, 5) * 2.0);
  EXPECT_TRUE(allclose(x.grad(), expected));
  EXPECT_STREQ(pieces[0].grad_fn()->name(), "SplitWithSizesBackward0");
  EXPECT_STREQ(x.chunk(2)[0].grad_fn()->name(), "SplitBackward0");
  EXPECT_STREQ(rows[0].grad_fn()->name(), "UnbindBackward0");
}

TEST(Split, ErrorsAsPyTorch) {
  const Tensor x = arange(5, kFloat32);
  EXPECT_DYDX_ERROR(x.split(-1), "split expects split_size be non-negative, but got split_size=-1");
  EXPECT_DYDX_ERROR(x.split(0), "split_size can only be 0 if dimension size is 0, but got dimension size of 5");
  EXPECT_DYDX_ERROR(x.chunk(0), "chunk expects `chunks` to be greater than 0, got: 0");
  EXPECT_DYDX_ERROR(x.split({1, 2}), "split_with_sizes expects split_sizes to sum exactly to 5 (input tensor's size at "
                                     "dimension 0), but got split_sizes=[1, 2]");
  EXPECT_DYDX_ERROR(x.split({6, -1}),
                    "split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes=[6, -1]");
  const int64_t huge = std::numeric_limits<int64_t>::max();
  EXPECT_DYDX_ERROR(x.split({huge, huge, 3}), "split_with_sizes expects split_sizes to sum exactly to 5");
  EXPECT_DYDX_ERROR(x.split(2, 1), "split", "out of range");
  EXPECT_DYDX_ERROR(x.unbind(1), "unbind", "out of range");
  EXPECT_DYDX_ERROR(tensor(1.0).split(1), "split expects at least a 1-dimensional tensor");
  EXPECT_DYDX_ERROR(tensor(1.0).chunk(1), "chunk expects at least a 1-dimensional tensor");
  EXPECT_DYDX_ERROR(tensor(1.0).unbind(0), "Dimension specified as 0 but tensor has no dimensions");
}

// ---- repeat and roll: copies that move values (numbers from PyTorch 1.13) -------------------------

TEST(Repeat, TilesAsPyTorch) {
  const Tensor x = arange(6, kFloat64).reshape({2, 3});
  Tensor y = x.t().repeat({2, 1});  // a strided input
  EXPECT_EQ(Shape(y), (Ints{6, 2}));
  EXPECT_TRUE(HasValues(y, {0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5}, 0));
  y = x.repeat({1, 2, 2});  // a new leading dim
  EXPECT_EQ(Shape(y), (Ints{1, 4, 6}));
  EXPECT_TRUE(HasValues(y, {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5}, 0));
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_EQ(Shape(x.repeat({0, 2})), (Ints{0, 6}));
  EXPECT_EQ(Shape(zeros({0, 3}).repeat({2, 2, 1})), (Ints{2, 0, 3}));
  EXPECT_EQ(tensor(5.0).repeat({}).item<double>(), 5.0);
  EXPECT_EQ(Shape(tensor(5.0).repeat({2, 3})), (Ints{2, 3}));
  EXPECT_TRUE(HasValues(tensor(1.0).expand({3}).repeat({2}), {1, 1, 1, 1, 1, 1}, 0));  // an expanded input
  Tensor b = tensor({1.0, 0.0}).to(kBool).repeat({2});
  EXPECT_EQ(b.dtype(), kBool);
  EXPECT_TRUE(HasValues(b.to(kFloat64), {1, 0, 1, 0}, 0));
  EXPECT_EQ(tensor({1.0, 2.0}).to(kInt64).repeat({2}).dtype(), kInt64);
  // A copy: writing into it leaves x alone.
  Tensor c = x.repeat({1, 1});
  c.fill_(7.0);
  EXPECT_EQ(x.sum().item<double>(), 15.0);
}

TEST(Repeat, GradientSumsTheTiles) {
  Tensor x = arange(6, kFloat64).reshape({2, 3}).requires_grad_();
  Tensor y = x.repeat({2, 1, 2});
  EXPECT_STREQ(y.grad_fn()->name(), "RepeatBackward0");
  (y * arange(24, kFloat64).reshape({2, 2, 6})).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {30, 34, 38, 54, 58, 62}, 0));
  Tensor z = zeros({2}, kFloat64).requires_grad_();
  z.repeat({0}).sum().backward();
  EXPECT_TRUE(HasValues(z.grad(), {0, 0}, 0));
}

TEST(Repeat, ErrorsAsPyTorch) {
  const Tensor x = zeros({2, 3});
  EXPECT_DYDX_ERROR(x.repeat({2}),
                    "repeat: Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
  EXPECT_DYDX_ERROR(x.repeat({1, -2}), "repeat: Trying to create tensor with negative dimension -6: [2, -6]");
  EXPECT_DYDX_ERROR(x.repeat({std::numeric_limits<int64_t>::max(), 1}), "repeat", "overflows");
}

TEST(Roll, MovesValuesAsPyTorch) {
  const Tensor x = arange(6, kFloat64).reshape({2, 3});
  EXPECT_TRUE(HasValues(x.t().roll(1, 0), {2, 5, 0, 3, 1, 4}, 0));  // a strided input
  EXPECT_TRUE(HasValues(roll(x.t(), 2), {2, 5, 0, 3, 1, 4}, 0));    // flattened in logical order
  EXPECT_EQ(Shape(roll(x.t(), 2)), (Ints{3, 2}));
  EXPECT_TRUE(HasValues(x.roll({1, 2}, {1, 1}), {0, 1, 2, 3, 4, 5}, 0));  // a repeated dim: shifts add up
  EXPECT_TRUE(HasValues(x.roll({1, -1}, {0, -1}), {4, 5, 3, 1, 2, 0}, 0));
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(HasValues(arange(5, kFloat64).roll(big), {3, 4, 0, 1, 2}, 0));
  // (PyTorch 1.13's int64 arithmetic overflows here and gives 2, 3, 4, 0, 1; -2^63 is 2 modulo 5.)
  EXPECT_TRUE(HasValues(arange(5, kFloat64).roll(small), {3, 4, 0, 1, 2}, 0));
  EXPECT_EQ(Shape(zeros({0, 3}).roll(1, 0)), (Ints{0, 3}));
  EXPECT_EQ(Shape(zeros({0, 3}).roll(4)), (Ints{0, 3}));
  EXPECT_EQ(tensor(5.0).roll(3).item<double>(), 5.0);
  Tensor b = tensor({1.0, 0.0, 0.0}).to(kBool).roll(1);
  EXPECT_TRUE(HasValues(b.to(kFloat64), {0, 1, 0}, 0));
  EXPECT_EQ(tensor({1.0, 2.0}).to(kInt64).roll(1).dtype(), kInt64);
  Tensor c = x.roll(0, 0);  // a copy, even unmoved
  c.fill_(7.0);
  EXPECT_EQ(x.sum().item<double>(), 15.0);
}

// Shifts summed along a repeated dim of size above 2^62 (an expanded dim of an empty tensor): no
// signed overflow on the way (UBSan checks it in the sanitizer build).
TEST(Roll, HugeDimsOfAnEmptyTensorDoNotOverflow) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  const Tensor x = zeros({0, 1}).expand({0, big});
  const Tensor y = x.roll({big - 1, big - 1}, {1, 1});
  EXPECT_EQ(Shape(y), (Ints{0, big}));
}

TEST(Roll, GradientRollsBack) {
  Tensor x = arange(6, kFloat64).reshape({2, 3}).requires_grad_();
  Tensor y = x.roll({1, -1}, {0, 1});
  EXPECT_STREQ(y.grad_fn()->name(), "RollBackward0");
  (y * arange(6, kFloat64).reshape({2, 3})).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {5, 3, 4, 2, 0, 1}, 0));
  EXPECT_STREQ(roll(x, 1).grad_fn()->name(), "RollBackward0");
}

TEST(Roll, ErrorsAsPyTorch) {
  const Tensor x = zeros({2, 3});
  EXPECT_DYDX_ERROR(x.roll({}), "roll: `shifts` required");
  EXPECT_DYDX_ERROR(x.roll({1, 2}), "roll: shifts and dimensions must align. shifts: 2, dims:0");
  EXPECT_DYDX_ERROR(x.roll({1, 2}, {0}), "roll: shifts and dimensions must align. shifts: 2, dims:1");
  EXPECT_DYDX_ERROR(x.roll(1, 2), "roll", "out of range");
  EXPECT_DYDX_ERROR(tensor(1.0).roll(1, 0), "Dimension specified as 0 but tensor has no dimensions");
}

// ---- roll and repeat as an adversary would call them ----------------------------------------------

// x rolled by plain index arithmetic: out[i] = x[i - shift] along each given dim in turn (repeated
// dims applied again, as PyTorch 1.13's one roll after another), each shift reduced modulo the size
// (s % n never overflows; PyTorch's size - s does for s near INT64_MIN).
std::vector<double> NaiveRoll(const Tensor& x, const Ints& shifts, const Ints& dims) {
  std::vector<double> values = x.contiguous().to_vector<double>();
  const Ints shape = Shape(x);
  Ints strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
  for (size_t k = 0; k < dims.size(); ++k) {
    const int64_t d = dims[k] < 0 ? dims[k] + static_cast<int64_t>(shape.size()) : dims[k], n = shape[d];
    if (values.empty()) break;
    const int64_t s = ((shifts[k] % n) + n) % n;
    std::vector<double> next(values.size());
    for (int64_t i = 0; i < static_cast<int64_t>(values.size()); ++i) {
      const int64_t along = i / strides[d] % n;
      next[i + (((along + s) % n) - along) * strides[d]] = values[i];
    }
    values = next;
  }
  return values;
}

// A linear op's Jacobian, exactly: its columns are op of each basis tensor. jacrev (every backward)
// and jacfwd (every tangent) must give it bit for bit, and so must the double backward: the gradient
// of <J^T w, u> with respect to w is J u = op(u).
::testing::AssertionResult HasExactLinearDerivatives(const std::function<Tensor(const Tensor&)>& op, const Ints& shape) {
  const Tensor x = Iota(shape, 0.5, 0.25);
  const int64_t n = x.numel();
  TensorList columns;
  for (int64_t i = 0; i < n; ++i) columns.push_back(op((arange(n, kFloat64) == double(i)).to(kFloat64).reshape(shape)).reshape({-1}));
  const Tensor jacobian = stack(columns, 1);
  const Tensor by_rev = func::jacrev(op)(x).reshape({-1, n}), by_fwd = func::jacfwd(op)(x).reshape({-1, n});
  if (!equal(by_rev, jacobian)) return ::testing::AssertionFailure() << "jacrev differs";
  if (!equal(by_fwd, jacobian)) return ::testing::AssertionFailure() << "jacfwd differs";
  Tensor leaf = x.clone().requires_grad_();
  const Tensor y = op(leaf);
  Tensor w = Iota(Shape(y), -1.0, 0.5).requires_grad_();
  const Tensor g = grad({(y * w).sum()}, {leaf}, {}, std::nullopt, /*create_graph=*/true)[0];
  const Tensor u = Iota(shape, 2.0, -0.75);
  const Tensor gg = grad({(g * u).sum()}, {w})[0];
  if (!equal(gg, op(u))) return ::testing::AssertionFailure() << "double backward differs";
  return ::testing::AssertionSuccess();
}

// Dims whose shift is a multiple of their size move nothing and are dropped before the plan is made:
// 2^k blocks for 40 or 64 size-1 dims hung (and a shift by 64 was UB).
TEST(Roll, DimsThatMoveNothingNeverReachThePlan) {
  for (int64_t rank : {40, 64, 100}) {
    const Ints ones_shape(rank, 1), all_dims = [&] {
      Ints d(rank);
      std::iota(d.begin(), d.end(), 0);
      return d;
    }();
    const Tensor x = full(ones_shape, 3.0, kFloat64);
    const Tensor y = x.roll(Ints(rank, 1), all_dims);
    EXPECT_EQ(Shape(y), ones_shape);
    EXPECT_EQ(y.item<double>(), 3.0);
  }
  // Some dims dropped (a multiple of the size, a size-1 dim, a repeated dim adding to the size), the
  // others rolled.
  const Tensor x = Iota({3, 1, 4, 5});
  const Ints shifts{3, 7, -8, 2, 1, 2}, dims{0, 1, 2, 3, -1, 3};
  EXPECT_TRUE(HasValues(x.roll(shifts, dims), NaiveRoll(x, shifts, dims), 0));
  // An empty tensor: every dim drops out, whatever its shift.
  EXPECT_EQ(Shape(zeros({0, 3, 4}).roll({1, 2}, {1, 2})), (Ints{0, 3, 4}));
}

// Many small dims rolled at once: 2^16 one-element blocks would be 2^16 copy calls; they are done in
// passes of a few dims each, and give the same values as one dim at a time.
TEST(Roll, ManySmallDimsRollInPasses) {
  const Ints shape(16, 2), dims = [] {
    Ints d(16);
    std::iota(d.begin(), d.end(), 0);
    return d;
  }();
  const Tensor x = Iota(shape);
  const Ints shifts(16, 1);
  EXPECT_TRUE(HasValues(x.roll(shifts, dims), NaiveRoll(x, shifts, dims), 0));
  const Tensor t = Iota({3, 2, 2, 2, 2, 2, 2, 2, 2, 5}).transpose(0, 9);  // strided, 10 dims
  const Ints shifts10{4, 1, 1, 1, 1, 1, 1, 1, 1, -1}, dims10{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_TRUE(HasValues(t.roll(shifts10, dims10), NaiveRoll(t, shifts10, dims10), 0));
}

// Shifts far past the size, int64's extremes included, are reduced without overflow.
TEST(Roll, ExtremeShiftsReduceModuloTheSize) {
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const Tensor x = Iota({5, 7});
  for (int64_t s : {lo, lo + 1, lo + 4, hi, hi - 1, int64_t{-1}, int64_t{-36}, int64_t{36}}) {
    EXPECT_TRUE(HasValues(x.roll(s, 0), NaiveRoll(x, {s}, {0}), 0)) << s;
    EXPECT_TRUE(HasValues(x.roll({s, s}, {1, -1}), NaiveRoll(x, {s, s}, {1, 1}), 0)) << s;  // a repeated dim
    // Flattened: the 35 values in logical order.
    EXPECT_TRUE(HasValues(x.roll(s), NaiveRoll(x.reshape({35}), {s}, {0}), 0)) << s;
  }
  // -2^63 is 2 modulo 5 (PyTorch 1.13's 5 - s overflows and gives 3).
  EXPECT_TRUE(HasValues(arange(5, kFloat64).roll(lo, 0), {3, 4, 0, 1, 2}, 0));
}

// Views of every kind read in logical order; an expanded input's repeated elements are fine.
TEST(Roll, ViewsRollInLogicalOrder) {
  const Tensor base = Iota({4, 6});
  const Tensor views[] = {base.t(), base.narrow(1, 1, 4), base.select(0, 2).expand({3, 6}), base.t().narrow(0, 2, 3),
                          base.reshape({2, 2, 6}).permute({2, 0, 1})};
  for (const Tensor& v : views) {
    const Ints shifts{1, -2}, dims{0, -1};
    EXPECT_TRUE(HasValues(v.roll(shifts, dims), NaiveRoll(v, shifts, dims), 0));
    EXPECT_TRUE(HasValues(v.roll(-3), NaiveRoll(v.reshape({-1}), {-3}, {0}), 0));
    EXPECT_TRUE(HasValues(v.roll(0), v.contiguous().to_vector<double>(), 0));
    EXPECT_TRUE(v.roll(shifts, dims).is_contiguous());
  }
  // The result is a copy, even where nothing moves.
  Tensor c = base.roll({4, 6}, {0, 1});
  c.fill_(0.0);
  EXPECT_EQ(base.sum().item<double>(), 276.0);
}

// Jacobians and the double backward, exactly, for rolls of every form (PyTorch 1.13's RollBackward0
// rolls the gradient back).
TEST(Roll, DerivativesAreExact) {
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.roll({1, -1}, {0, 1}); }, {3, 4}));
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.t().roll(5); }, {3, 4}));
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.roll({2, 3, 1}, {1, 1, 0}); }, {2, 1, 3}));
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.roll({1, 1}, {0, 1}); }, {1, 1}));  // nothing moves
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) {
    return x.roll({std::numeric_limits<int64_t>::min()}, {0});
  }, {5}));
  Tensor x = Iota({2, 3}).requires_grad_();
  EXPECT_STREQ(x.roll({1, 1}, {0, 0}).grad_fn()->name(), "RollBackward0");  // also where nothing moves
}

// PyTorch 1.13's errors, in its words. dydx checks the dims of an empty tensor too (PyTorch returns its
// copy first, and takes any dim there).
TEST(Roll, ErrorsInPyTorchWords) {
  const Tensor x = zeros({2, 3});
  EXPECT_DYDX_ERROR(x.roll(1, 2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_DYDX_ERROR(x.roll({1, 1}, {0, -3}), "Dimension out of range (expected to be in range of [-2, 1], but got -3)");
  EXPECT_DYDX_ERROR(tensor(1.0).roll(1, -1), "Dimension specified as -1 but tensor has no dimensions");
  EXPECT_DYDX_ERROR(zeros({0, 3}).roll(1, 2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_DYDX_ERROR(x.roll({}, {0}), "roll: `shifts` required");
}

// A negative repeat count is refused in PyTorch 1.13's words (the first negative size of the shape it
// would allocate); one along a dim of size 0, which PyTorch lets through, is refused too.
TEST(Repeat, NegativeAndOverflowingCountsAreRefused) {
  const Tensor x = zeros({2, 3});
  EXPECT_DYDX_ERROR(x.repeat({1, -2}), "Trying to create tensor with negative dimension -6: [2, -6]");
  EXPECT_DYDX_ERROR(x.repeat({-1, -1}), "Trying to create tensor with negative dimension -2: [-2, -3]");
  EXPECT_DYDX_ERROR(x.repeat({3, 0, -1}), "Trying to create tensor with negative dimension -3: [3, 0, -3]");
  EXPECT_DYDX_ERROR(zeros({0, 3}).repeat({-1, 1}), "repeat", "negative", "-1");
  const int64_t big = int64_t{1} << 62;
  EXPECT_DYDX_ERROR(x.repeat({big, 4}), "repeat", "overflows int64");               // one dim's size
  EXPECT_DYDX_ERROR(x.repeat({int64_t{1} << 40, int64_t{1} << 40}), "repeat", "overflows int64");  // the count
  EXPECT_DYDX_ERROR(x.repeat({3, int64_t{1} << 40, int64_t{1} << 40}), "repeat", "overflows int64");
  EXPECT_DYDX_ERROR(x.repeat({0, big}), "repeat", "overflows int64");  // empty, but its strides would overflow
  EXPECT_EQ(Shape(zeros({0, 3}).repeat({big, 2})), (Ints{0, 6}));
  EXPECT_DYDX_ERROR(x.repeat({2}), "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
}

TEST(Repeat, ViewsAndZeroCountsAsPyTorch) {
  const Tensor base = Iota({4, 6});
  const Tensor v = base.t().narrow(0, 1, 3);  // [3, 4], strided, offset
  const Tensor y = v.repeat({2, 1, 2});
  EXPECT_EQ(Shape(y), (Ints{2, 3, 8}));
  const std::vector<double> flat = v.contiguous().to_vector<double>();
  std::vector<double> expected;
  for (int tile = 0; tile < 2; ++tile)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 8; ++j) expected.push_back(flat[i * 4 + j % 4]);
  EXPECT_TRUE(HasValues(y, expected, 0));
  EXPECT_TRUE(HasValues(base.select(0, 1).expand({2, 6}).repeat({1, 1}), Iota({6}, 6).repeat({2}).to_vector<double>(), 0));
  Tensor x = Iota({2, 3}).requires_grad_();
  Tensor z = x.repeat({2, 0, 1});
  EXPECT_EQ(Shape(z), (Ints{2, 0, 3}));
  EXPECT_STREQ(z.grad_fn()->name(), "RepeatBackward0");
  z.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 0, 0, 0, 0, 0}, 0));
}

TEST(Repeat, DerivativesAreExact) {
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.repeat({2, 1, 3}); }, {2, 3}));
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.t().repeat({2, 2}); }, {2, 3}));
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.repeat({3}); }, {}));
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.repeat({}); }, {}));
  EXPECT_TRUE(HasExactLinearDerivatives([](const Tensor& x) { return x.narrow(1, 1, 2).repeat({1, 2, 1}); }, {2, 3}));
}

// contiguous() and clone() of a view whose last two dims are swapped in memory take blocks transposed
// in registers (cpu/transpose_copy.hpp); every element lands where the plain loop puts it, for every
// dtype, odd sizes (blocks and tails), leading dims of any strides and offsets, on any thread count.
TEST(Copy, TransposedViewsCopyExactly) {
  for (int threads : {1, 2, 3}) {
    dydx::testing::ThreadCount scope(threads);
    for (ScalarType dtype : {kFloat32, kFloat64, kInt64}) {
      for (auto shape : std::vector<std::vector<int64_t>>{{16, 16}, {17, 33}, {100, 37}, {3, 40, 50}, {2, 5, 64, 19}}) {
        const int64_t numel = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
        const Tensor base = arange(numel, TensorOptions().dtype(kInt64)).to(dtype).reshape(shape);
        const Tensor view = base.transpose(-1, -2);
        const Tensor copy = view.contiguous();
        ASSERT_TRUE(copy.is_contiguous());
        const std::vector<double> got = copy.to(kFloat64).to_vector<double>();
        const int64_t rows = shape.back(), cols = shape[shape.size() - 2], batch = numel / (rows * cols);
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c)
              ASSERT_EQ(got[(b * rows + r) * cols + c], static_cast<double>((b * cols + c) * rows + r))
                  << dtype << " " << threads << " threads, batch " << b << " row " << r << " col " << c;
      }
      // Leading dims with strides and an offset: every other matrix of a batch, narrowed.
      const Tensor big = arange(6 * 40 * 48, TensorOptions().dtype(kInt64)).to(dtype).reshape({6, 40, 48});
      const Tensor picked = big.slice(0, 1, 6, 2).narrow(2, 3, 40).transpose(1, 2);  // [3, 40 (of 48), 40]
      const Tensor copy = picked.contiguous();
      const std::vector<double> got = copy.to(kFloat64).to_vector<double>();
      for (int64_t b = 0; b < 3; ++b)
        for (int64_t r = 0; r < 40; ++r)
          for (int64_t c = 0; c < 40; ++c)
            ASSERT_EQ(got[(b * 40 + r) * 40 + c], static_cast<double>(((1 + 2 * b) * 40 + c) * 48 + 3 + r)) << dtype;
    }
  }
}
