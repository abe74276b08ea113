// Products with a narrow result, C[n, m] = A[n, k] B[k, m] for m up to half a vector's lanes (an MLP's
// last layer, a network's one output), which take the skinny kernel's narrow blocks (src/cpu/skinny_gemm.cpp):
// a vector's worth of A's rows transposed in registers. Each element must be the same sum, in the same order,
// as the skinny kernel's ordinary blocks give it, so a row's bits may not depend on how many rows share its
// product, on A's layout or on the thread count; and the transposes may not move a value to another row.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <dydx/dydx.hpp>

#include "cpu/skinny_gemm.hpp"
#include "test_util.hpp"

namespace dydx {
namespace {

// A vector's lanes of the dtype (the rows of one narrow block); 4 without a vector unit, where BLAS takes these.
int64_t lanes(ScalarType dtype) {
  const int64_t bytes = cpu::kSkinnyVectorBytes > 0 ? cpu::kSkinnyVectorBytes : 16;
  return bytes / (dtype == kFloat32 ? 4 : 8);
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  if (x.sizes() != y.sizes() || x.dtype() != y.dtype()) return false;
  const size_t size = static_cast<size_t>(x.numel()) * element_size(x.dtype());
  const void* px = x.dtype() == kFloat32 ? static_cast<const void*>(x.data_ptr<float>())
                                         : static_cast<const void*>(x.data_ptr<double>());
  const void* py = y.dtype() == kFloat32 ? static_cast<const void*>(y.data_ptr<float>())
                                         : static_cast<const void*>(y.data_ptr<double>());
  return size == 0 || std::memcmp(px, py, size) == 0;
}

std::string label(int64_t n, int64_t k, int64_t m, ScalarType dtype) {
  return "n=" + std::to_string(n) + " k=" + std::to_string(k) + " m=" + std::to_string(m) + " " +
         (dtype == kFloat32 ? "float32" : "float64");
}

// Inner dimensions below, at and past the narrow blocks' least (half a vector), with partial last columns,
// up to the skinny kernel's largest (128); results from 1 column to one past the narrow blocks' widest.
std::vector<int64_t> inner_dims() { return {3, 7, 8, 9, 16, 17, 31, 64, 100, 128}; }
int64_t widest(ScalarType dtype) { return lanes(dtype) / 2 + 1; }

// Every row of a product of several narrow blocks and a tail of ordinary ones has the bits of the same row's
// product alone (one row: an ordinary block), with a bias and without.
TEST(NarrowProducts, ARowHasTheSameBitsAloneAndInAnyBlock) {
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (int64_t k : inner_dims())
      for (int64_t m = 1; m <= widest(dtype); ++m) {
        const int64_t n = 3 * lanes(dtype) + 5;
        manual_seed(k * 10 + m);
        const Tensor a = randn({n, k}, dtype), b = randn({k, m}, dtype), bias = randn({m}, dtype);
        const Tensor all = mm(a, b), all_bias = addmm(bias, a, b);
        for (int64_t i = 0; i < n; ++i) {
          const Tensor row = a.narrow(0, i, 1);
          ASSERT_TRUE(same_bytes(all.narrow(0, i, 1), mm(row, b))) << label(n, k, m, dtype) << " row " << i;
          ASSERT_TRUE(same_bytes(all_bias.narrow(0, i, 1), addmm(bias, row, b)))
              << label(n, k, m, dtype) << " row " << i << ", bias";
        }
      }
}

// A stored transposed (its rows not contiguous) takes the ordinary blocks, row-major A the narrow ones: the same
// bits. Rows of A some elements apart (a slice of a wider matrix) are read in place.
TEST(NarrowProducts, EveryLayoutOfAGivesTheSameBits) {
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (int64_t k : inner_dims())
      for (int64_t m = 1; m <= widest(dtype); ++m) {
        const int64_t n = 2 * lanes(dtype) + 3;  // the transposed kernel takes up to 64 rows
        manual_seed(k * 100 + m);
        const Tensor a_t = randn({k, n}, dtype), b = randn({k, m}, dtype);
        const Tensor want = mm(a_t.t(), b);
        EXPECT_TRUE(same_bytes(mm(a_t.t().contiguous(), b), want)) << label(n, k, m, dtype);
        const Tensor wide = zeros({n, k + 5}, dtype);
        wide.narrow(1, 2, k).copy_(a_t.t());
        EXPECT_TRUE(same_bytes(mm(wide.narrow(1, 2, k), b), want)) << label(n, k, m, dtype) << ", rows k + 5 apart";
      }
}

// Small integers make every product and sum exact: the result must be the float64 product's, in every row and
// column (a lane sent to the wrong row by a transpose would show here), bias included.
TEST(NarrowProducts, ExactOnSmallIntegers) {
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (int64_t k : inner_dims())
      for (int64_t m = 1; m <= widest(dtype); ++m) {
        const int64_t n = 4 * lanes(dtype) + 1;
        manual_seed(k * 1000 + m);
        const Tensor a = randint(-3, 4, {n, k}).to(dtype), b = randint(-3, 4, {k, m}).to(dtype);
        const Tensor bias = randint(-3, 4, {m}).to(dtype);
        const Tensor want = mm(a.to(kFloat64), b.to(kFloat64));
        EXPECT_TRUE(equal(mm(a, b).to(kFloat64), want)) << label(n, k, m, dtype);
        EXPECT_TRUE(equal(linear(a, b.t(), bias).to(kFloat64), want + bias.to(kFloat64))) << label(n, k, m, dtype);
      }
}

// A nan or an infinity in one element of A reaches only its own row of C; -0 sums stay +0 as in block() (the bias
// joins the finished sum).
TEST(NarrowProducts, EdgeValuesStayInTheirRows) {
  const double inf = std::numeric_limits<double>::infinity();
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const int64_t n = 2 * lanes(dtype), k = 40, m = 3;
    manual_seed(7);
    Tensor a = randn({n, k}, dtype);
    const Tensor b = randn({k, m}, dtype);
    a.select(0, 3).select(0, 7).fill_(std::nan(""));
    a.select(0, lanes(dtype) + 2).select(0, 39).fill_(inf);
    const Tensor c = mm(a, b);
    for (int64_t i = 0; i < n; ++i) {
      const bool nan_row = i == 3 || i == lanes(dtype) + 2;  // inf times B's mixed signs sums to nan or inf
      for (int64_t j = 0; j < m; ++j) {
        const double v = c.index({i, j}).item<double>();
        if (nan_row)
          EXPECT_FALSE(std::isfinite(v)) << "row " << i;
        else
          EXPECT_TRUE(std::isfinite(v)) << "row " << i << " caught a value of another row";
      }
    }
    EXPECT_TRUE(std::isnan(c.index({3, 0}).item<double>()));
    // Every product -0: the sum is +0, and a -0 bias leaves it +0.
    const Tensor neg = full({n, k}, -0.0, dtype), pos = ones({k, m}, dtype);
    const Tensor z = addmm(full({m}, -0.0, dtype), neg, pos);
    for (int64_t i = 0; i < n; ++i) EXPECT_FALSE(std::signbit(z.index({i, 0}).item<double>())) << "row " << i;
  }
}

// The rows split across threads in pieces of 6 rows, which are not whole narrow blocks: the same bits on any
// thread count, and a batch of stacks (matmul folds them) the same as each stack alone.
TEST(NarrowProducts, SameBitsOnAnyThreadCountAndStack) {
  const int before = get_num_threads();
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    manual_seed(11);
    const Tensor a = randn({10007, 64}, dtype), b = randn({64, 3}, dtype), bias = randn({3}, dtype);
    set_num_threads(1);
    const Tensor want = addmm(bias, a, b);
    for (int threads : {2, 3, 5}) {
      set_num_threads(threads);
      EXPECT_TRUE(same_bytes(addmm(bias, a, b), want)) << threads << " threads";
    }
    set_num_threads(before);
    const Tensor stacks = randn({4, 300, 64}, dtype);
    const Tensor folded = matmul(stacks, b);
    for (int64_t s = 0; s < 4; ++s) EXPECT_TRUE(same_bytes(folded.select(0, s), mm(stacks.select(0, s), b)));
  }
  set_num_threads(before);
}

}  // namespace
}  // namespace dydx
