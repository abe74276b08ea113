// Products of few rows against a weight stored as rows, x W^T, which take dydx's dot kernel (src/cpu/dot_gemm.hpp):
// every register block shape and its tails, strided operands, the bias, edge values, thread counts and
// func::compile's fused products.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <dydx/dydx.hpp>

#include "cpu/dot_gemm.hpp"
#include "test_util.hpp"

namespace dydx {
namespace {

constexpr bool kDotKernel = cpu::kSkinnyVectorBytes > 0;

std::vector<char> bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  std::vector<char> out(static_cast<size_t>(c.numel()) * element_size(c.dtype()));
  if (!out.empty())
    std::memcpy(out.data(),
                c.dtype() == kFloat32 ? static_cast<const void*>(c.data_ptr<float>())
                                      : static_cast<const void*>(c.data_ptr<double>()),
                out.size());
  return out;
}

// x [n, k] as a view whose rows are k + 3 apart, and w [m, k] as the columns 2..k+1 of [m, k + 5]: neither operand
// is contiguous, and each is read in place.
struct Operands {
  Tensor x, w, bias;
};
Operands strided_operands(int64_t n, int64_t k, int64_t m, ScalarType dtype, bool integers) {
  auto values = [&](std::vector<int64_t> shape) {
    return integers ? randint(-3, 4, shape).to(dtype) : randn(shape, dtype);
  };
  return {values({n, k + 3}).narrow(1, 0, k), values({m, k + 5}).narrow(1, 2, k), values({m})};
}

std::string label(int64_t n, int64_t k, int64_t m, ScalarType dtype) {
  return "n=" + std::to_string(n) + " k=" + std::to_string(k) + " m=" + std::to_string(m) + " " +
         std::string(dtype == kFloat32 ? "float32" : "float64");
}

// Whether linear(x [n, k], W [m, k]) reaches the dot kernel: gemm() tries the skinny kernel first (k <= 128,
// m <= 256), and a W of one row is B [k, 1] read as it lies, not transposed.
bool takes_dot_kernel(int64_t n, int64_t k, int64_t m) {
  return kDotKernel && cpu::dot_gemm_fits<float>(n, k, m) && !cpu::skinny_gemm_fits<float>(k, m) && m >= 2;
}

// Rows 1..64 (whole blocks of rows and each shorter last block, and one to three rows where the product is
// large), columns with each shorter last block, inner dimensions of whole vectors and with a partial last one.
struct Shape3 {
  int64_t n, k, m;
};
std::vector<Shape3> dot_shapes() {
  std::vector<Shape3> shapes;
  for (int64_t n : {4, 5, 6, 7, 9, 13, 32})
    for (int64_t k : {144, 145, 159, 300})  // 144: whole vectors of both dtypes and both widths
      for (int64_t m : {2, 5, 6, 7, 11, 12, 13, 37}) shapes.push_back({n, k, m});
  for (int64_t n : {51, 64})
    for (int64_t k : {256, 257, 271})
      for (int64_t m : {2, 7, 13}) shapes.push_back({n, k, m});
  // A short inner dimension: the skinny kernel's unless the result is wider than 256.
  for (int64_t n : {4, 7, 16})
    for (int64_t k : {64, 65}) shapes.push_back({n, k, 263});
  for (int64_t n : {1, 2, 3})
    for (int64_t k : {768, 769}) shapes.push_back({n, k, 701});
  return shapes;
}

// Small integers make every product and sum exact in both dtypes: the kernel must give the float64 product's value
// exactly, bias included, on every shape.
TEST(FewRowProducts, ExactOnSmallIntegersForEveryBlockShape) {
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (const Shape3& s : dot_shapes()) {
      // (Without a vector unit these products go to BLAS, and must be as exact.)
      if (kDotKernel) ASSERT_TRUE(takes_dot_kernel(s.n, s.k, s.m)) << label(s.n, s.k, s.m, dtype);
      manual_seed(s.n * 1000 + s.k + s.m);
      const Operands o = strided_operands(s.n, s.k, s.m, dtype, true);
      const Tensor want = matmul(o.x.to(kFloat64), o.w.to(kFloat64).t());
      EXPECT_TRUE(equal(linear(o.x, o.w).to(kFloat64), want)) << label(s.n, s.k, s.m, dtype);
      EXPECT_TRUE(equal(linear(o.x, o.w, o.bias).to(kFloat64), want + o.bias.to(kFloat64)))
          << label(s.n, s.k, s.m, dtype) << ", bias";
    }
}

// Normal values: within rounding of the float64 product, through matmul, mm, addmm and a batch.
TEST(FewRowProducts, WithinRoundingOfTheFloat64Product) {
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (const Shape3& s : {Shape3{4, 768, 768}, Shape3{51, 768, 512}, Shape3{64, 257, 100}, Shape3{7, 64, 1000}}) {
      manual_seed(5);
      const Operands o = strided_operands(s.n, s.k, s.m, dtype, false);
      const Tensor want = matmul(o.x.to(kFloat64), o.w.to(kFloat64).t());
      const double tol = dtype == kFloat32 ? 1e-4 * std::sqrt(double(s.k)) : 1e-12 * std::sqrt(double(s.k));
      const std::string what = label(s.n, s.k, s.m, dtype);
      EXPECT_TRUE(allclose(matmul(o.x, o.w.t()).to(kFloat64), want, tol, tol)) << what;
      EXPECT_TRUE(allclose(mm(o.x, o.w.t()).to(kFloat64), want, tol, tol)) << what;
      EXPECT_TRUE(allclose(addmm(o.bias, o.x, o.w.t()).to(kFloat64), want + o.bias.to(kFloat64), tol, tol)) << what;
      // Three samples against one weight: one product of their rows, or three, as matmul folds them.
      const Tensor batch = randn({3, s.n, s.k}, dtype);
      const Tensor batch_want = matmul(batch.to(kFloat64), o.w.to(kFloat64).t());
      EXPECT_TRUE(allclose(matmul(batch, o.w.t()).to(kFloat64), batch_want, tol, tol)) << what << ", batch";
    }
}

// Operands BLAS cannot read as they lie (a row repeated by expand, stride 0; a weight whose rows overlap) are
// copied first, and the kernel then sees ordinary rows: every repeated row of x gives the same row of the result.
TEST(FewRowProducts, ExpandedAndOverlappingOperands) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    manual_seed(17);
    const Tensor row = randn({1, 300}, dtype), x = row.expand({8, 300});
    const Tensor storage = randn({600}, dtype), w = storage.as_strided({50, 300}, {3, 1});  // rows overlap
    if (kDotKernel) ASSERT_TRUE(takes_dot_kernel(8, 300, 50));
    const Tensor want = matmul(row.to(kFloat64), w.to(kFloat64).t());
    const Tensor got = linear(x, w).to(kFloat64);
    const double tol = dtype == kFloat32 ? 1e-3 : 1e-11;
    EXPECT_TRUE(allclose(got, want.expand({8, 50}), tol, tol)) << dtype;
    for (int64_t i = 1; i < 8; ++i) EXPECT_TRUE(equal(got.index({i}), got.index({0}))) << dtype << " row " << i;
  }
}

// NaN and infinity reach exactly the entries whose rows hold them; inf times 0 is NaN; in dydx's kernels a row of -0
// gives +0 (the sum starts from +0), and -0 + that +0 is +0 under a -0 bias. k = 70 takes the skinny kernel
// (src/cpu/skinny_gemm.hpp), 140 the dot kernel, 600 rows BLAS, where the zero's sign is the BLAS kernel's: OpenBLAS's
// Haswell dgemm gives -0 under a -0 bias where its SkylakeX kernel gives +0, and PyTorch's linear does the same on
// either.
TEST(FewRowProducts, EdgeValuesReachOnlyTheirEntries) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (const auto& [n, k] : {std::pair<int64_t, int64_t>{6, 70}, {6, 140}, {600, 140}}) {
      const int64_t m = 8;
      Tensor x = ones({n, k}, dtype), w = ones({m, k}, dtype);
      x.index_put_({0, 5}, full({}, std::nan(""), dtype));
      x.index_put_({1, k - 1}, full({}, inf, dtype));  // in the partial last vector of the dot kernel
      w.index_put_({3, k - 1}, full({}, 0.0, dtype));  // so row 1 against column 3 is ... + inf * 0
      x.index_put_({2}, full({}, -0.0, dtype));
      Tensor bias = full({m}, -0.0, dtype);
      const Tensor y = linear(x, w, bias).to(kFloat64);
      for (int64_t j = 0; j < m; ++j) {
        EXPECT_TRUE(std::isnan(y.index({0, j}).item<double>())) << j;
        const double row1 = y.index({1, j}).item<double>();
        if (j == 3)
          EXPECT_TRUE(std::isnan(row1));
        else
          EXPECT_EQ(row1, inf) << j;
        const double zero = y.index({2, j}).item<double>();
        EXPECT_EQ(zero, 0.0);
        if (n < 600) EXPECT_FALSE(std::signbit(zero)) << j;
        EXPECT_EQ(y.index({3, j}).item<double>(), j == 3 ? k - 1 : k) << j;
      }
    }
}

// Each entry is one dot product whose order depends on k alone: the same bits on any number of threads, for a
// product big enough to be split.
TEST(FewRowProducts, SameBitsOnAnyThreadCount) {
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (const Shape3& s : {Shape3{51, 768, 768}, Shape3{1, 1000, 1030}, Shape3{2, 1024, 1024}, Shape3{3, 768, 520}}) {
      if (kDotKernel) ASSERT_TRUE(takes_dot_kernel(s.n, s.k, s.m)) << label(s.n, s.k, s.m, dtype);
      manual_seed(9);
      const Operands o = strided_operands(s.n, s.k, s.m, dtype, false);
      Tensor serial;
      {
        testing::ThreadCount one(1);
        serial = linear(o.x, o.w, o.bias);
      }
      for (int threads : {2, 3, 5}) {
        testing::ThreadCount many(threads);
        const Tensor parallel = linear(o.x, o.w, o.bias);
        EXPECT_EQ(bytes_of(parallel), bytes_of(serial)) << label(s.n, s.k, s.m, dtype) << ", " << threads << " threads";
      }
    }
}

// func::compile computes a fused product a block of rows at a time with the kernel eager chose for the whole
// product, so that the compiled layer gives eager's bits wherever that kernel is dydx's (or BLAS's on one
// unsplit row).
TEST(FewRowProducts, CompiledLayersGiveEagersBits) {
  NoGradGuard no_grad;
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    manual_seed(13);
    // A layer whose products of 1 to 3 rows stay BLAS's, and a wide one whose take the dot kernel.
    for (const auto& [k, m] : {std::pair<int64_t, int64_t>{300, 200}, {1000, 1030}}) {
      const Tensor w = randn({m, k}, dtype), b = randn({m}, dtype);
      auto layer = [&](const Tensor& x) { return tanh(linear(x, w, b)); };
      auto compiled = func::compile(layer);
      int64_t fused = 0;  // products fused at some batch (a product of many blocks and a large W is not)
      for (int64_t n : {1, 2, 3, 4, 7, 51, 64, 65}) {
        for (int call = 0; call < 2; ++call) {
          const Tensor x = randn({n, k}, dtype);
          const Tensor got = compiled(x), want = layer(x);
          // OpenBLAS's blocks of rows there, and its pieces of columns here, may round differently: two orders of
          // k products of randn values differ by some hundreds of eps at k = 1000 (4.5e-5 seen in float32 with
          // OpenBLAS's Haswell kernels), bounded here by 4 k eps; tanh does not magnify a difference, and a wrong
          // row or bias would be off by far more.
          const double eps = dtype == kFloat32 ? 1.2e-7 : 2.3e-16;
          if (takes_dot_kernel(n, k, m) || n < 4)
            EXPECT_EQ(bytes_of(got), bytes_of(want)) << label(n, k, m, dtype) << ", call " << call;
          else
            EXPECT_TRUE(allclose(got, want, 0.0, 4.0 * static_cast<double>(k) * eps)) << label(n, k, m, dtype) << ", call " << call;
        }
        fused = std::max(fused, compiled.stats().fused_products);
      }
      EXPECT_GE(fused, 1) << compiled.stats().eager_reason;
    }
  }
}

}  // namespace
}  // namespace dydx
