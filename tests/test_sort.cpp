// sort, argsort, msort, topk, kthvalue, median and nanmedian beyond what the op table checks (values,
// every derivative, vmap, compile): PyTorch 1.13's orders (a nan above every number, ties in index
// order), indices, shapes and errors; views of any layout; int64 values exactly; rows split across
// threads; gradients that go back to where each value came from, ties and infinite cotangents
// included.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "test_util.hpp"

using namespace dydx;
using dydx::testing::HasValues;
using dydx::testing::ThreadCount;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<int64_t> indices_of(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }
std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }

// The values as PyTorch prints them, bit for bit where it matters: nan as nan, -0 as -0.
bool same_bits(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) != std::isnan(got[i])) return false;
    if (!std::isnan(want[i]) && (got[i] != want[i] || std::signbit(got[i]) != std::signbit(want[i]))) return false;
  }
  return true;
}

// A row with two nans, 0 and -0, as in PyTorch's examples (its results below, from torch 1.13).
Tensor mixed_row() { return tensor({3.0, kNan, 1.0, -0.0, 0.0, kNan, 2.0}, kFloat64); }

TEST(Sort, OrdersNansLastAndTiesByIndexAsPyTorch) {
  // torch.sort(x): values [-0, 0, 1, 2, 3, nan, nan], indices [3, 4, 2, 6, 0, 1, 5].
  auto [values, indices] = sort(mixed_row());
  EXPECT_TRUE(same_bits(values_of(values), {-0.0, 0.0, 1.0, 2.0, 3.0, kNan, kNan}));
  EXPECT_EQ(indices_of(indices), (std::vector<int64_t>{3, 4, 2, 6, 0, 1, 5}));
  // descending=True: [nan, nan, 3, 2, 1, -0, 0], indices [1, 5, 0, 6, 2, 3, 4] (stable or not).
  auto [down, down_indices] = sort(mixed_row(), -1, true);
  EXPECT_TRUE(same_bits(values_of(down), {kNan, kNan, 3.0, 2.0, 1.0, -0.0, 0.0}));
  EXPECT_EQ(indices_of(down_indices), (std::vector<int64_t>{1, 5, 0, 6, 2, 3, 4}));
  EXPECT_EQ(indices_of(argsort(mixed_row(), 0, true)), (std::vector<int64_t>{1, 5, 0, 6, 2, 3, 4}));
  auto [stable, stable_indices] = mixed_row().sort(std::optional<bool>(true), 0, false);
  EXPECT_EQ(indices_of(stable_indices), (std::vector<int64_t>{3, 4, 2, 6, 0, 1, 5}));
}

TEST(Sort, TopkKthvalueAndMediansPickAsPyTorch) {
  // torch.topk(x, 3): [nan, nan, 3] at [1, 5, 0].
  auto [top, top_indices] = topk(mixed_row(), 3);
  EXPECT_TRUE(same_bits(values_of(top), {kNan, kNan, 3.0}));
  EXPECT_EQ(indices_of(top_indices), (std::vector<int64_t>{1, 5, 0}));
  // kthvalue(x, 4): 2 at 6 (nans count as the largest).
  auto [kth, kth_index] = kthvalue(mixed_row(), 4);
  EXPECT_TRUE(same_bits(values_of(kth), {2.0}));
  EXPECT_EQ(indices_of(kth_index), (std::vector<int64_t>{6}));
  // median(x, 0): nan at the first nan (1); median(x): nan.
  auto [med, med_index] = median(mixed_row(), 0);
  EXPECT_TRUE(std::isnan(med.item<double>()));
  EXPECT_EQ(med_index.item<int64_t>(), 1);
  EXPECT_TRUE(std::isnan(median(mixed_row()).item<double>()));
  // median()'s nan is the quiet nan whatever the row's was (torch: +nan for [1, -nan, 2]).
  EXPECT_FALSE(std::signbit(median(tensor({1.0, -kNan, 2.0}, kFloat64)).item<double>()));
  // nanmedian(x, 0): 1 at 2 (the lower middle of -0, 0, 1, 2, 3); nanmedian(x): 1.
  auto [nanmed, nanmed_index] = nanmedian(mixed_row(), 0);
  EXPECT_EQ(nanmed.item<double>(), 1.0);
  EXPECT_EQ(nanmed_index.item<int64_t>(), 2);
  EXPECT_EQ(nanmedian(mixed_row()).item<double>(), 1.0);
  // Every element nan: nanmedian is nan at index 0, as PyTorch's.
  auto [all_nan, all_nan_index] = nanmedian(tensor({kNan, kNan, kNan}), 0);
  EXPECT_TRUE(std::isnan(all_nan.item<double>()));
  EXPECT_EQ(all_nan_index.item<int64_t>(), 0);
  // 0 and -0 are equal: the first wins (torch.median([0., -0.], 0) is 0 at 0; kthvalue(1) and topk(1) too).
  const Tensor zeros_pair = tensor({0.0, -0.0}, kFloat64);
  EXPECT_TRUE(same_bits(values_of(std::get<0>(median(zeros_pair, 0))), {0.0}));
  EXPECT_EQ(std::get<1>(kthvalue(zeros_pair, 1)).item<int64_t>(), 0);
  EXPECT_EQ(std::get<1>(topk(zeros_pair, 1)).item<int64_t>(), 0);
  // An even count: the lower of the two middle values.
  EXPECT_EQ(median(tensor({4.0, 1.0, 3.0, 2.0})).item<double>(), 2.0);
  EXPECT_EQ(median(tensor({int64_t{3}, 1, 2, 4})).item<int64_t>(), 2);
}

TEST(Sort, KeepsShapesAlongAnyDimAndOfZeroDimAndEmptyTensors) {
  const Tensor x = arange(24, TensorOptions().dtype(kFloat64)).reshape({2, 3, 4}).flip({1});
  for (int64_t dim : {0, 1, 2, -1}) {
    auto [v, i] = sort(x, dim, true);
    EXPECT_EQ(v.sizes().vec(), x.sizes().vec());
    EXPECT_TRUE(equal(v, x.gather(dim, i)));
    auto [t, ti] = topk(x, 2, dim);
    Dims shape(x.sizes().begin(), x.sizes().end());
    shape[dim < 0 ? dim + 3 : dim] = 2;
    EXPECT_EQ(t.sizes().vec(), std::vector<int64_t>(shape.begin(), shape.end()));
    auto [k, ki] = kthvalue(x, 1, dim, false);
    EXPECT_EQ(k.dim(), 2);
    EXPECT_TRUE(equal(k, std::get<0>(x.min(dim))));
    auto [m, mi] = median(x, dim, true);
    EXPECT_EQ(m.dim(), 3);
  }
  // A 0-d tensor is a row of one: its value at index 0 (topk with k = 0 included, as PyTorch).
  const Tensor scalar = tensor(5.0);
  for (const auto& [v, i] : {sort(scalar), topk(scalar, 1), topk(scalar, 0), kthvalue(scalar, 1), median(scalar, 0)}) {
    EXPECT_EQ(v.dim(), 0);
    EXPECT_EQ(v.item<double>(), 5.0);
    EXPECT_EQ(i.item<int64_t>(), 0);
  }
  // Empty rows and empty batches of rows.
  EXPECT_EQ(std::get<0>(sort(zeros({0, 3}))).sizes().vec(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(std::get<0>(topk(zeros({3, 0}), 0, 1)).sizes().vec(), (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(std::get<0>(kthvalue(zeros({3, 0}), 1, 0)).sizes().vec(), (std::vector<int64_t>{0}));
  EXPECT_EQ(std::get<0>(median(zeros({3, 0}), 0)).sizes().vec(), (std::vector<int64_t>{0}));
  EXPECT_TRUE(std::isnan(median(zeros({0})).item<double>()));
  EXPECT_TRUE(std::isnan(nanmedian(zeros({0, 2}, TensorOptions().dtype(kFloat64))).item<double>()));
}

TEST(Sort, RaisesPyTorchsErrors) {
  EXPECT_DYDX_ERROR(topk(zeros({3}), 4), "topk", "selected index k out of range");
  EXPECT_DYDX_ERROR(topk(zeros({3}), -1), "topk", "selected index k out of range");
  EXPECT_DYDX_ERROR(topk(tensor(5.0), 2), "topk", "selected index k out of range");
  EXPECT_DYDX_ERROR(kthvalue(zeros({2, 3}), 4, 1), "kthvalue", "selected number k out of range for dimension 1");
  EXPECT_DYDX_ERROR(kthvalue(zeros({2, 3}), 0, 1), "kthvalue", "selected number k out of range");
  EXPECT_DYDX_ERROR(kthvalue(zeros({0}), 1), "kthvalue", "Expected reduction dim 0 to have non-zero size");
  EXPECT_DYDX_ERROR(median(zeros({3, 0}), 1), "median", "Expected reduction dim 1 to have non-zero size");
  EXPECT_DYDX_ERROR(nanmedian(zeros({3, 0}), -1), "nanmedian", "Expected reduction dim 1 to have non-zero size");
  EXPECT_DYDX_ERROR(sort(zeros({2, 3}), 2), "sort", "out of range");
  EXPECT_DYDX_ERROR(topk(zeros({2, 3}), 1, -3), "topk", "out of range");
  EXPECT_DYDX_ERROR(median(zeros({2, 3}), std::numeric_limits<int64_t>::max()), "median", "out of range");
  EXPECT_DYDX_ERROR(sort(tensor(1.0), 1), "sort", "out of range");
  const Tensor flags = tensor({true, false});
  EXPECT_DYDX_ERROR(topk(flags, 1), "topk", "\"topk_cpu\" not implemented for 'Bool'");
  EXPECT_DYDX_ERROR(kthvalue(flags, 1), "kthvalue", "\"kthvalue_cpu\" not implemented for 'Bool'");
  EXPECT_DYDX_ERROR(median(flags), "median", "\"median_cpu\" not implemented for 'Bool'");
  EXPECT_DYDX_ERROR(median(flags, 0), "median", "\"median_out\" not implemented for 'Bool'");
  // An integer tensor has no nan for the median of no elements (PyTorch returns int64's least).
  EXPECT_DYDX_ERROR(median(zeros({0}, TensorOptions().dtype(kInt64))), "median", "no elements");
  // ... but a 0-d bool is its own pick, as there.
  EXPECT_TRUE(std::get<0>(topk(tensor(true), 1)).item<bool>());
  EXPECT_EQ(std::get<1>(kthvalue(tensor(true), 1)).item<int64_t>(), 0);
  // Bools sort, as in PyTorch: false before true, ties in index order.
  auto [sorted_flags, flag_indices] = sort(tensor({true, false, true}));
  EXPECT_EQ(indices_of(flag_indices), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(sorted_flags.dtype(), kBool);
}

TEST(Sort, Int64ValuesSortExactly) {
  const int64_t big = std::numeric_limits<int64_t>::max(), least = std::numeric_limits<int64_t>::min();
  // Neighbours that double cannot tell apart keep their order.
  const Tensor x = tensor({big, big - 1, least, least + 1, int64_t{0}, big - 2});
  auto [values, indices] = sort(x);
  EXPECT_EQ(values.to_vector<int64_t>(), (std::vector<int64_t>{least, least + 1, 0, big - 2, big - 1, big}));
  EXPECT_EQ(indices_of(indices), (std::vector<int64_t>{2, 3, 4, 5, 1, 0}));
  EXPECT_EQ(std::get<0>(topk(x, 2)).to_vector<int64_t>(), (std::vector<int64_t>{big, big - 1}));
  EXPECT_EQ(median(x).item<int64_t>(), 0);
  EXPECT_EQ(std::get<0>(kthvalue(x, 5)).item<int64_t>(), big - 1);
}

TEST(Sort, ViewsOfAnyLayoutGiveTheContiguousResults) {
  const Tensor base = randn({6, 5}, TensorOptions().dtype(kFloat64));
  const std::vector<Tensor> views = {base.t(), base.narrow(1, 1, 3), base.flip({0}), base.select(1, 2).unsqueeze(1).expand({6, 4}),
                                     base.as_strided({3, 3}, {1, 2})};
  for (const Tensor& v : views) {
    const Tensor dense = v.contiguous();
    for (int64_t dim : {0, 1}) {
      EXPECT_TRUE(equal(std::get<0>(sort(v, dim)), std::get<0>(sort(dense, dim))));
      EXPECT_TRUE(equal(std::get<1>(sort(v, dim, true)), std::get<1>(sort(dense, dim, true))));
      EXPECT_TRUE(equal(std::get<1>(topk(v, 2, dim)), std::get<1>(topk(dense, 2, dim))));
      EXPECT_TRUE(equal(std::get<1>(median(v, dim)), std::get<1>(median(dense, dim))));
    }
  }
  // The input is left as it was.
  const Tensor before = base.clone();
  (void)sort(base.t(), 1);
  EXPECT_TRUE(equal(base, before));
}

// Long rows and many rows, on one thread and on several: the same values and indices as a stable
// sort of (value, index) pairs done here, ties and nans included.
TEST(Sort, ManyRowsOnAnyNumberOfThreadsMatchAStableSort) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> few(0, 9);
  const int64_t rows = 300, n = 257;
  std::vector<double> data(rows * n);
  for (double& v : data) v = few(rng) == 0 ? kNan : few(rng) - 4.5;  // many ties
  const Tensor x = tensor(data, kFloat64).reshape({rows, n});
  std::vector<int64_t> want_indices;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      const double va = data[r * n + a], vb = data[r * n + b];
      return !std::isnan(va) && (std::isnan(vb) || va < vb);
    });
    want_indices.insert(want_indices.end(), order.begin(), order.end());
  }
  for (int threads : {1, 2, 5}) {
    ThreadCount count(threads);
    EXPECT_EQ(indices_of(std::get<1>(sort(x))), want_indices) << threads << " threads";
    // Along dim 0 of the transpose: the same rows, read across.
    EXPECT_EQ(indices_of(std::get<1>(sort(x.t(), 0)).t()), want_indices) << threads << " threads";
    // topk's picks (a heap over a row 50 times longer than k) are the sort's first, either way.
    EXPECT_TRUE(equal(std::get<1>(topk(x, 5, 1, true)), std::get<1>(sort(x, 1, true)).narrow(1, 0, 5)));
    EXPECT_TRUE(equal(std::get<1>(topk(x.t(), 5, 0, true)), std::get<1>(sort(x, 1, true)).narrow(1, 0, 5).t()));
    // topk's and kthvalue's picks are the stable sort's.
    const Tensor top = std::get<1>(topk(x, 5, 1, false));
    const Tensor third = std::get<1>(kthvalue(x, 3, 1));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < 5; ++j) ASSERT_EQ(top[r][j].item<int64_t>(), want_indices[r * n + j]);
      ASSERT_EQ(third[r].item<int64_t>(), want_indices[r * n + 2]);
    }
  }
}

TEST(Sort, GradientsGoBackToWhereEachValueCameFrom) {
  const Tensor x = tensor({3.0, 1.0, 2.0, 1.0}, kFloat64).requires_grad_(true);
  auto [values, indices] = sort(x);
  EXPECT_EQ(std::string(values.grad_fn()->name()), "SortBackward0");
  // values [1 (1), 1 (3), 2, 3]: weights 1, 2, 3, 4 go to indices 1, 3, 2, 0.
  (values * tensor({1.0, 2.0, 3.0, 4.0}, kFloat64)).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {4.0, 1.0, 3.0, 2.0}));
  // An infinite cotangent stays at its index; the others get exact zeros, not inf * 0.
  const Tensor y = tensor({2.0, -1.0, 5.0}, kFloat64).requires_grad_(true);
  auto [top, top_indices] = topk(y, 1);
  EXPECT_EQ(std::string(top.grad_fn()->name()), "TopkBackward0");
  top.backward(tensor({kInf}, kFloat64));
  EXPECT_TRUE(same_bits(values_of(y.grad()), {0.0, 0.0, kInf}));
  // A -0 cotangent arrives as -0.
  const Tensor z = tensor({2.0, -1.0}, kFloat64).requires_grad_(true);
  std::get<0>(kthvalue(z, 1)).backward(tensor(-0.0, kFloat64));
  EXPECT_TRUE(same_bits(values_of(z.grad()), {0.0, -0.0}));
  EXPECT_EQ(std::string(std::get<0>(median(z, 0)).grad_fn()->name()), "MedianBackward1");
  EXPECT_EQ(std::string(std::get<0>(nanmedian(z, 0)).grad_fn()->name()), "NanmedianBackward1");
  EXPECT_EQ(std::string(std::get<0>(kthvalue(z, 1)).grad_fn()->name()), "KthvalueBackward0");
  EXPECT_EQ(std::string(median(z).grad_fn()->name()), "MedianBackward0");
  EXPECT_EQ(std::string(nanmedian(z).grad_fn()->name()), "NanmedianBackward0");
  EXPECT_FALSE(argsort(z).requires_grad());
}

TEST(Sort, MedianOfEveryElementSharesItsGradientBetweenTies) {
  // PyTorch: median([1, 2, 2, 3]).backward() gives [0, 0.5, 0.5, 0]; of [1, nan, 2, nan], [0, 0.5, 0, 0.5].
  const Tensor x = tensor({1.0, 2.0, 2.0, 3.0}, kFloat64).requires_grad_(true);
  median(x).backward();
  EXPECT_TRUE(HasValues(x.grad(), {0.0, 0.5, 0.5, 0.0}));
  const Tensor n = tensor({1.0, kNan, 2.0, kNan}, kFloat64).requires_grad_(true);
  median(n).backward();
  EXPECT_TRUE(HasValues(n.grad(), {0.0, 0.5, 0.0, 0.5}));
  // nanmedian's ties are among the numbers.
  const Tensor m = tensor({kNan, 2.0, 2.0, 5.0, 1.0}, kFloat64).requires_grad_(true);
  nanmedian(m).backward();
  EXPECT_TRUE(HasValues(m.grad(), {0.0, 0.5, 0.5, 0.0, 0.0}));
  // Its forward rule: the tied tangents' mean.
  const Tensor t = tensor({1.0, 2.0, 2.0, 3.0}, kFloat64);
  auto [value, tangent] = func::jvp([](const Tensor& in) { return median(in); }, t, tensor({10.0, 20.0, 40.0, 80.0}, kFloat64));
  EXPECT_EQ(value.item<double>(), 2.0);
  EXPECT_EQ(tangent.item<double>(), 30.0);
}

TEST(Sort, VmapMatchesALoopOverSamples) {
  const Tensor batch = randn({4, 3, 5}, TensorOptions().dtype(kFloat64));
  auto f = [](const Tensor& s) {
    return stack({std::get<0>(s.sort(1, true)).sum(1), std::get<0>(s.topk(2, 0)).sum(0).narrow(0, 0, 3),
                  std::get<0>(s.median(1)), std::get<0>(s.kthvalue(2, 1)), s.median().expand({3}), s.nanmedian().expand({3})});
  };
  const Tensor mapped = func::vmap(f)(batch);
  for (int64_t b = 0; b < 4; ++b) EXPECT_TRUE(equal(mapped[b], f(batch[b]))) << "sample " << b;
  // Batched at another dim, and 0-d samples.
  const Tensor moved = func::vmap(f, 2)(batch.permute({1, 2, 0}));
  for (int64_t b = 0; b < 4; ++b) EXPECT_TRUE(equal(moved[b], f(batch[b]))) << "sample " << b;
  const Tensor scalars = tensor({3.0, -1.0, 2.0}, kFloat64);
  const Tensor each = func::vmap([](const Tensor& s) { return std::get<0>(s.sort()) + std::get<0>(s.kthvalue(1)) + s.median(); })(scalars);
  EXPECT_TRUE(equal(each, scalars * 3.0));
}

TEST(Sort, CompiledSelectionsFollowNewValues) {
  auto f = [](const Tensor& x) { return std::get<0>(x.sort()) * 2.0 + std::get<0>(x.topk(1)).sum() + x.median(); };
  auto compiled = func::compile(f);
  for (int round = 0; round < 3; ++round) {
    const Tensor x = randn({7}, TensorOptions().dtype(kFloat64));
    EXPECT_TRUE(equal(compiled(x), f(x))) << "round " << round;
  }
}

}  // namespace
