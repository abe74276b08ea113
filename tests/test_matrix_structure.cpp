// diagonal, diag, trace, tril, triu and tril_/triu_ beyond what the op table checks (derivatives
// of every order and mode, Taylor, vmap, compile, layouts): values, strides and dtypes as PyTorch
// 1.13 gives them (the numbers below are torch 1.13's), offsets beyond the matrix, empty and
// batched shapes, errors raised before anything changes, diagonal's view semantics (writes through
// it reach the base, the version counter is shared) and the in-place forms over strided views.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <dydx/dydx.hpp>

#include "test_util.hpp"

namespace dydx {
namespace {

using testing::HasValues;

Tensor arange_matrix(std::vector<int64_t> shape, ScalarType dtype = kFloat32) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return arange(n).to(dtype).reshape(shape);
}

std::vector<int64_t> dims_of(IntArrayRef d) { return {d.begin(), d.end()}; }

// torch.arange(12.).reshape(3, 4).diagonal(offset): values, stride and storage offset.
TEST(Diagonal, MatchesTorchOnOffsetsAboveBelowAndBeyond) {
  const Tensor a = arange_matrix({3, 4});
  struct Case {
    int64_t offset;
    std::vector<double> values;
    int64_t storage_offset;
  };
  for (const Case& c : std::vector<Case>{{0, {0, 5, 10}, 0},
                                         {1, {1, 6, 11}, 1},
                                         {-1, {4, 9}, 4},
                                         {3, {3}, 3},
                                         {4, {}, 0},
                                         {-3, {}, 0},
                                         {1000, {}, 0},
                                         {std::numeric_limits<int64_t>::max(), {}, 0},
                                         {std::numeric_limits<int64_t>::min(), {}, 0}}) {
    const Tensor d = a.diagonal(c.offset);
    EXPECT_TRUE(HasValues(d, c.values)) << c.offset;
    EXPECT_EQ(d.dim(), 1);
    EXPECT_EQ(d.stride(0), 5) << c.offset;
    EXPECT_EQ(d.storage_offset(), c.storage_offset) << c.offset;
  }
}

TEST(Diagonal, BatchedDimsGoLastAndNegativeDimsWrap) {
  const Tensor b = arange_matrix({2, 3, 4});
  const Tensor d = b.diagonal(0, 1, 2);
  EXPECT_EQ(dims_of(d.sizes()), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(dims_of(d.strides()), (std::vector<int64_t>{12, 5}));
  EXPECT_TRUE(HasValues(d, {0, 5, 10, 12, 17, 22}));
  EXPECT_TRUE(HasValues(diagonal(b, 0, -1, -2), {0, 5, 10, 12, 17, 22}));
  // dims (0, 2) at offset 1, and the same diagonal as dims (2, 0) at offset -1.
  for (const Tensor& e : {b.diagonal(1, 0, 2), diagonal(b, -1, 2, 0)}) {
    EXPECT_EQ(dims_of(e.sizes()), (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(dims_of(e.strides()), (std::vector<int64_t>{4, 13}));
    EXPECT_EQ(e.storage_offset(), 1);
    EXPECT_TRUE(HasValues(e, {1, 14, 5, 18, 9, 22}));
  }
  // Of a transposed view: its own strides.
  const Tensor t = arange_matrix({3, 4}).t().diagonal(1);
  EXPECT_EQ(t.storage_offset(), 4);
  EXPECT_TRUE(HasValues(t, {4, 9}));
  EXPECT_EQ(dims_of(diagonal(zeros({2, 0, 3}), 0, 1, 2).sizes()), (std::vector<int64_t>{2, 0}));
}

TEST(Diagonal, ErrorsNameTheDims) {
  const Tensor a = arange_matrix({3, 4});
  EXPECT_DYDX_ERROR(a.diagonal(0, 0, 0), "diagonal", "cannot be identical", "[3,4]");
  EXPECT_DYDX_ERROR(a.diagonal(0, 1, -1), "diagonal", "cannot be identical");
  EXPECT_DYDX_ERROR(a.diagonal(0, 0, 2), "diagonal", "dim 2", "rank 2");
  EXPECT_DYDX_ERROR(a.diagonal(0, -3, 1), "diagonal", "dim -3");
  EXPECT_DYDX_ERROR(arange_matrix({3}).diagonal(), "diagonal", "dim 1", "rank 1");
  EXPECT_DYDX_ERROR(tensor(1.0).diagonal(), "diagonal", "rank 0");
}

TEST(Diagonal, IsAViewThatWritesReachAndThatSharesTheVersion) {
  Tensor y = zeros({3, 3});
  Tensor v = y.diagonal();
  EXPECT_EQ(v.impl()->storage, y.impl()->storage);
  const auto before = y.impl()->storage->version.load();
  v.fill_(2);
  EXPECT_GT(y.impl()->storage->version.load(), before);
  EXPECT_TRUE(HasValues(y, {2, 0, 0, 0, 2, 0, 0, 0, 2}));
  // A write into the base shows through the view.
  y.select(0, 1).fill_(7);
  EXPECT_TRUE(HasValues(v, {2, 7, 2}));
}

TEST(Diagonal, InPlaceWriteThroughItRewritesTheBasesHistory) {
  Tensor x = ones({3, 3}).requires_grad_(true);
  Tensor z = x * 1;
  z.diagonal().mul_(tensor({2.0f, 3.0f, 4.0f}));
  EXPECT_EQ(std::string(z.grad_fn()->name()), "CopySlices");
  z.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 1, 1, 1, 3, 1, 1, 1, 4}));
}

TEST(Diagonal, GradientScattersOntoTheDiagonal) {
  Tensor x = arange_matrix({3, 4}).requires_grad_(true);
  Tensor d = x.diagonal(-1);
  EXPECT_EQ(std::string(d.grad_fn()->name()), "DiagonalBackward0");
  (d * tensor({2.0f, 3.0f})).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0}));
}

TEST(Diag, VectorToMatrixAndMatrixToVector) {
  const Tensor v = diag(tensor({1.0f, 2.0f, 3.0f}), 1);
  EXPECT_EQ(dims_of(v.sizes()), (std::vector<int64_t>{4, 4}));
  EXPECT_TRUE(HasValues(v, {0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0}));
  const Tensor vi = diag(tensor(std::vector<int64_t>{1, 2}, dtype(kInt64)), -2);
  EXPECT_EQ(vi.dtype(), kInt64);
  EXPECT_TRUE(HasValues(vi, {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0}));
  const Tensor a = arange_matrix({3, 4});
  const Tensor m = diag(a, -1);
  EXPECT_TRUE(HasValues(m, {4, 9}));
  EXPECT_TRUE(m.is_contiguous());
  EXPECT_NE(m.impl()->storage, a.impl()->storage);  // a copy, not a view
  EXPECT_TRUE(HasValues(a.diag(2), {2, 7}));
  EXPECT_TRUE(HasValues(a.t().diag(), {0, 5, 10}));
  // Bool both ways; empty and zero-size inputs.
  EXPECT_TRUE(HasValues(diag(ones({2}, dtype(kBool))).to(kFloat32), {1, 0, 0, 1}));
  EXPECT_TRUE(HasValues(diag(ones({2, 2}, dtype(kBool))).to(kFloat32), {1, 1}));
  EXPECT_EQ(dims_of(diag(zeros({0})).sizes()), (std::vector<int64_t>{0, 0}));
  EXPECT_TRUE(HasValues(diag(zeros({0}), 2), {0, 0, 0, 0}));
  EXPECT_EQ(dims_of(diag(zeros({0, 3})).sizes()), (std::vector<int64_t>{0}));
  EXPECT_TRUE(HasValues(diag(tensor({8.0f})), {8}));
}

// PyTorch 1.13 raises "numel: integer multiplication overflow" for a matrix offset beyond it (a
// negative size); dydx gives the empty diagonal, as diagonal() does.
TEST(Diag, OffsetBeyondAMatrixIsEmpty) {
  const Tensor a = arange_matrix({3, 4});
  EXPECT_EQ(a.diag(4).numel(), 0);
  EXPECT_EQ(a.diag(5).numel(), 0);
  EXPECT_EQ(a.diag(-5).numel(), 0);
  EXPECT_EQ(a.diag(std::numeric_limits<int64_t>::min()).numel(), 0);
}

TEST(Diag, ErrorsAndOverflow) {
  EXPECT_DYDX_ERROR(diag(tensor(1.0f)), "diag", "matrix or a vector expected", "[]");
  EXPECT_DYDX_ERROR(diag(zeros({2, 2, 2})), "diag", "matrix or a vector expected", "[2,2,2]");
  EXPECT_DYDX_ERROR(diag(zeros({2}), std::numeric_limits<int64_t>::max()), "diag", "too large");
  EXPECT_DYDX_ERROR(diag(zeros({2}), std::numeric_limits<int64_t>::min()), "diag", "too large");
  EXPECT_DYDX_ERROR(diag(zeros({2}), int64_t{1} << 40), "diag");  // 2^80 elements
}

TEST(Diag, GradientsAndNodeName) {
  Tensor x = arange_matrix({3, 4}).requires_grad_(true);
  Tensor d = diag(x, 1);
  EXPECT_EQ(std::string(d.grad_fn()->name()), "DiagBackward0");
  d.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  Tensor v = tensor({1.0f, 2.0f}).requires_grad_(true);
  Tensor m = diag(v, 1);
  EXPECT_EQ(std::string(m.grad_fn()->name()), "DiagBackward0");
  (m * arange_matrix({3, 3})).sum().backward();
  EXPECT_TRUE(HasValues(v.grad(), {1, 5}));
}

TEST(Trace, ValuesDtypesAndGradient) {
  EXPECT_TRUE(HasValues(trace(arange_matrix({3, 4})), {15}));
  const Tensor ti = trace(arange_matrix({4, 3}, kInt64));
  EXPECT_EQ(ti.dtype(), kInt64);
  EXPECT_EQ(ti.item<int64_t>(), 12);
  EXPECT_EQ(trace(zeros({0, 3})).dim(), 0);
  EXPECT_TRUE(HasValues(trace(zeros({0, 0})), {0}));
  EXPECT_TRUE(HasValues(arange_matrix({2, 2}, kFloat64).trace(), {3}));
  // float32 accumulates in double, as PyTorch's CPU kernel: 1e8 + 8 ones is 100000008, where a
  // float32 sum would stay at 1e8.
  std::vector<float> diagonal_values(9, 1.0f);
  diagonal_values[0] = 1e8f;
  EXPECT_EQ(trace(diag(tensor(diagonal_values))).item<float>(), 100000008.0f);
  // int64 wraps: four 2^62 make 2^64, which is 0.
  const int64_t big = int64_t{1} << 62;
  EXPECT_EQ(trace(diag(tensor(std::vector<int64_t>{big, big, big, big}, dtype(kInt64)))).item<int64_t>(), 0);
  // Of a strided view.
  EXPECT_TRUE(HasValues(trace(arange_matrix({4, 6}).slice(1, 0, 6, 2)), {0 + 8 + 16}));

  Tensor x = arange_matrix({3, 4}).requires_grad_(true);
  Tensor t = trace(x);
  EXPECT_EQ(std::string(t.grad_fn()->name()), "TraceBackward0");
  t.backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}));
}

// The gradient of a tall matrix's trace is its main diagonal's pattern, as trace's JVP and the values
// say. PyTorch 1.13's backward marks every flat index that is a multiple of cols + 1 instead, which
// for a [3, 1] matrix is (0, 0) and (2, 0) (its JVP gives the diagonal, as here): a deliberate
// difference.
TEST(Trace, GradientOfATallMatrixIsItsDiagonal) {
  Tensor x = zeros({3, 1}).requires_grad_(true);
  trace(x).backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 0, 0}));
  Tensor y = zeros({5, 2}).requires_grad_(true);
  trace(y).backward();
  EXPECT_TRUE(HasValues(y.grad(), {1, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(Trace, Errors) {
  EXPECT_DYDX_ERROR(trace(arange_matrix({3})), "trace", "expected a matrix", "dim 1");
  EXPECT_DYDX_ERROR(trace(zeros({2, 2, 2})), "trace", "expected a matrix", "dim 3");
  EXPECT_DYDX_ERROR(trace(tensor(1.0f)), "trace", "expected a matrix", "dim 0");
  EXPECT_DYDX_ERROR(trace(ones({3, 3}, dtype(kBool))), "trace", "bool");
}

TEST(TrilTriu, MatchTorchOnEveryOffset) {
  const Tensor a = arange_matrix({3, 4});
  EXPECT_TRUE(HasValues(tril(a), {0, 0, 0, 0, 4, 5, 0, 0, 8, 9, 10, 0}));
  EXPECT_TRUE(HasValues(tril(a, 1), {0, 1, 0, 0, 4, 5, 6, 0, 8, 9, 10, 11}));
  EXPECT_TRUE(HasValues(a.tril(-1), {0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0}));
  EXPECT_TRUE(HasValues(triu(a), {0, 1, 2, 3, 0, 5, 6, 7, 0, 0, 10, 11}));
  EXPECT_TRUE(HasValues(triu(a, 2), {0, 0, 2, 3, 0, 0, 0, 7, 0, 0, 0, 0}));
  EXPECT_TRUE(HasValues(a.triu(-1), {0, 1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11}));
  // Beyond the matrix: all kept or all zero, up to int64's extremes. (PyTorch 1.13 agrees up to a few
  // below int64's maximum, where its i + k + 1 overflows: tril(a, 2^63 - 1) is all zero there, triu
  // keeps rows. dydx's band never overflows.)
  const std::vector<double> all = a.to_vector<double>(), none(12, 0.0);
  for (int64_t d : {int64_t{3}, int64_t{10}, std::numeric_limits<int64_t>::max()}) EXPECT_TRUE(HasValues(tril(a, d), all)) << d;
  for (int64_t d : {int64_t{4}, int64_t{10}, std::numeric_limits<int64_t>::max()}) EXPECT_TRUE(HasValues(triu(a, d), none)) << d;
  for (int64_t d : {int64_t{-3}, int64_t{-10}, std::numeric_limits<int64_t>::min()}) EXPECT_TRUE(HasValues(tril(a, d), none)) << d;
  for (int64_t d : {int64_t{-2}, int64_t{-10}, std::numeric_limits<int64_t>::min()}) EXPECT_TRUE(HasValues(triu(a, d), all)) << d;
}

TEST(TrilTriu, BatchedLayoutsDtypesAndEmpty) {
  const Tensor b = arange_matrix({2, 3, 4});
  EXPECT_TRUE(HasValues(tril(b, -1), {0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 20, 21, 0, 0}));
  EXPECT_TRUE(HasValues(triu(b, 1), {0, 1, 2, 3, 0, 0, 6, 7, 0, 0, 0, 11, 0, 13, 14, 15, 0, 0, 18, 19, 0, 0, 0, 23}));
  // A transposed, a sliced and an expanded input give the band of their values, densely.
  const Tensor t = arange_matrix({4, 3}).t();
  EXPECT_TRUE(tril(t).is_contiguous());
  EXPECT_TRUE(HasValues(tril(t), {0, 0, 0, 0, 1, 4, 0, 0, 2, 5, 8, 0}));
  EXPECT_TRUE(HasValues(triu(b.slice(2, 1, 4)), {1, 2, 3, 0, 6, 7, 0, 0, 11, 13, 14, 15, 0, 18, 19, 0, 0, 23}));
  EXPECT_TRUE(HasValues(tril(arange_matrix({1, 3}).expand({2, 3, 3})), {0, 0, 0, 0, 1, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0, 0, 1, 2}));
  // Leading dims out of order and every other one: the same band as of the dense copy.
  const Tensor shuffled = arange_matrix({3, 4, 2, 5}).permute({2, 0, 1, 3}).slice(1, 0, 3, 2);
  EXPECT_TRUE(equal(tril(shuffled, 1), tril(shuffled.contiguous(), 1)));
  EXPECT_TRUE(equal(triu(shuffled, -2), triu(shuffled.contiguous(), -2)));
  const Tensor bools = tril(ones({2, 3}, dtype(kBool)));
  EXPECT_EQ(bools.dtype(), kBool);
  EXPECT_TRUE(HasValues(bools.to(kFloat32), {1, 0, 0, 1, 1, 0}));
  const Tensor ints = triu(arange_matrix({2, 3}, kInt64));
  EXPECT_EQ(ints.dtype(), kInt64);
  EXPECT_TRUE(HasValues(ints, {0, 1, 2, 0, 4, 5}));
  EXPECT_EQ(dims_of(tril(zeros({2, 0, 3})).sizes()), (std::vector<int64_t>{2, 0, 3}));
  EXPECT_EQ(dims_of(triu(zeros({0, 3, 3})).sizes()), (std::vector<int64_t>{0, 3, 3}));
}

// A batch of matrices larger than one thread's piece: every row against the definition.
TEST(TrilTriu, LargeBatchMatchesTheDefinitionRowByRow) {
  const Tensor x = arange_matrix({3, 130, 300}, kFloat64) + 1;
  for (int64_t d : {-7, 0, 11}) {
    const Tensor lo = tril(x, d), up = triu(x, d);
    const Tensor column_major = x.transpose(1, 2).contiguous().transpose(1, 2);  // x's values, strided
    EXPECT_TRUE(equal(tril(column_major, d), lo));
    EXPECT_TRUE(equal(triu(column_major, d), up));
    Tensor strided_lo = x.transpose(1, 2).contiguous().transpose(1, 2);  // written in place below
    strided_lo.tril_(d);
    const std::vector<double> xs = x.to_vector<double>(), ls = lo.to_vector<double>(), us = up.to_vector<double>(),
                              ss = strided_lo.to_vector<double>();
    for (int64_t m = 0; m < 3; ++m)
      for (int64_t i = 0; i < 130; ++i)
        for (int64_t j = 0; j < 300; ++j) {
          const size_t k = (m * 130 + i) * 300 + j;
          ASSERT_EQ(ls[k], j <= i + d ? xs[k] : 0.0) << m << " " << i << " " << j;
          ASSERT_EQ(us[k], j >= i + d ? xs[k] : 0.0) << m << " " << i << " " << j;
          ASSERT_EQ(ss[k], ls[k]) << m << " " << i << " " << j;
        }
  }
}

TEST(TrilTriu, ErrorsAndNodeNames) {
  EXPECT_DYDX_ERROR(tril(arange_matrix({3})), "tril", "at least 2 dimensions", "[3]");
  EXPECT_DYDX_ERROR(triu(tensor(1.0f)), "triu", "at least 2 dimensions");
  Tensor v = arange_matrix({3});
  EXPECT_DYDX_ERROR(v.tril_(), "tril_", "at least 2 dimensions");
  EXPECT_DYDX_ERROR(v.triu_(), "triu_", "at least 2 dimensions");
  EXPECT_TRUE(HasValues(v, {0, 1, 2}));
  Tensor x = arange_matrix({3, 4}).requires_grad_(true);
  EXPECT_EQ(std::string(tril(x).grad_fn()->name()), "TrilBackward0");
  EXPECT_EQ(std::string(triu(x).grad_fn()->name()), "TriuBackward0");
  (tril(x, 1) * arange_matrix({3, 4})).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 1, 0, 0, 4, 5, 6, 0, 8, 9, 10, 11}));
}

TEST(TrilTriuInPlace, ThroughStridedViewsOfABase) {
  Tensor y = arange_matrix({4, 4});
  Tensor& same = y.t().tril_();  // y's upper triangle survives
  (void)same;
  EXPECT_TRUE(HasValues(y, {0, 1, 2, 3, 0, 5, 6, 7, 0, 0, 10, 11, 0, 0, 0, 15}));
  Tensor z = arange_matrix({4, 4});
  z.slice(1, 1, 4).triu_(1);
  EXPECT_TRUE(HasValues(z, {0, 0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12, 0, 0, 0}));
  // Every other row of a batch, int64 and bool.
  Tensor w = arange_matrix({2, 4, 3}, kInt64);
  w.slice(1, 0, 4, 2).tril_(-1);
  EXPECT_TRUE(HasValues(w, {0, 0, 0, 3, 4, 5, 6, 0, 0, 9, 10, 11, 0, 0, 0, 15, 16, 17, 18, 0, 0, 21, 22, 23}));
  Tensor m = ones({3, 3}, dtype(kBool));
  m.triu_();
  EXPECT_TRUE(HasValues(m.to(kFloat32), {1, 1, 1, 0, 1, 1, 0, 0, 1}));
}

TEST(TrilTriuInPlace, BumpsTheVersionAndReturnsSelf) {
  Tensor y = arange_matrix({3, 3});
  const auto before = y.impl()->storage->version.load();
  Tensor& r = y.tril_(5);
  EXPECT_EQ(&r, &y);
  EXPECT_GT(y.impl()->storage->version.load(), before);
}

// PyTorch 1.13 writes through an expanded tensor's shared elements and gives a wrong band (every row
// one location); dydx refuses the write, as its other in-place ops, before writing anything.
TEST(TrilTriuInPlace, RefusesATensorWhoseElementsShareMemory) {
  Tensor base = arange_matrix({3, 1});
  Tensor e = base.expand({3, 3});
  EXPECT_DYDX_ERROR(e.tril_(), "tril_", "more than one element");
  EXPECT_TRUE(HasValues(base, {0, 1, 2}));
}

TEST(TrilTriuInPlace, RecordsHistoryAndWritesThroughViewsOfIt) {
  Tensor x = arange_matrix({3, 4}).requires_grad_(true);
  Tensor z = x * 1;
  z.tril_();
  EXPECT_EQ(std::string(z.grad_fn()->name()), "TrilBackward0");
  (z * arange_matrix({3, 4})).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 0, 0, 0, 4, 5, 0, 0, 8, 9, 10, 0}));
  // Through a view: the base's history becomes CopySlices.
  Tensor x2 = ones({4, 4}).requires_grad_(true);
  Tensor w = x2 * 2;
  w.slice(0, 1, 4).triu_(1);
  EXPECT_EQ(std::string(w.grad_fn()->name()), "CopySlices");
  w.sum().backward();
  EXPECT_TRUE(HasValues(x2.grad(), {2, 2, 2, 2, 0, 2, 2, 2, 0, 0, 2, 2, 0, 0, 0, 2}));
  // A leaf that requires grad refuses the write, unchanged.
  Tensor leaf = ones({2, 2}).requires_grad_(true);
  EXPECT_DYDX_ERROR(leaf.tril_(), "tril_", "leaf");
  EXPECT_TRUE(HasValues(leaf, {1, 1, 1, 1}));
}

// Under vmap, each sample's band is written into the caller's tensor, the batch dim anywhere (also
// among the matrix dims of the physical tensor).
TEST(TrilTriuInPlace, UnderVmapWritesEverySamplesBand) {
  const Tensor batch = arange_matrix({3, 4, 5}, kFloat64);
  for (int64_t bdim : {0, 1, 2}) {
    SCOPED_TRACE(bdim);
    Tensor lower = batch.movedim(0, bdim).clone(), upper = batch.movedim(0, bdim).clone();
    func::vmap([](const TensorList& in) {
      Tensor self = in[0];
      self.tril_(1);
      return TensorList{self};
    }, {bdim})({lower});
    func::vmap([](const TensorList& in) {
      Tensor self = in[0];
      self.triu_(-1);
      return TensorList{self};
    }, {bdim})({upper});
    EXPECT_TRUE(HasValues(lower.movedim(bdim, 0), tril(batch, 1).to_vector<double>(), 0));
    EXPECT_TRUE(HasValues(upper.movedim(bdim, 0), triu(batch, -1).to_vector<double>(), 0));
  }
}

TEST(TrilTriuInPlace, ForwardModeTangentFollowsTheBand) {
  forward_ad::DualLevel level;
  Tensor x = forward_ad::make_dual(arange_matrix({3, 3}, kFloat64), ones({3, 3}, dtype(kFloat64)));
  Tensor y = x * 1;
  y.triu_(1);
  EXPECT_TRUE(HasValues(forward_ad::unpack_dual(y).tangent, {0, 1, 1, 0, 0, 1, 0, 0, 0}));
}

}  // namespace
}  // namespace dydx
