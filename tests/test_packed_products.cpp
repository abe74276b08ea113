// dydx's packed product (src/cpu/packed_gemm.cpp), which runs large products on AVX-512 CPUs whose
// OpenBLAS kernels are narrower: every edge of its tiles and blocks (n around 12, m around one and two
// vectors, k around its blocks of 512 (float) and 256 (double) steps and the transposes' 16), each
// operand row-major, transposed or with padded rows, with and without accumulation, float and double,
// against long double; a block of C's rows or columns computed alone has the bits of the whole
// product; C's nans are not read without accumulation; nan and inf stay in their rows and columns.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <dydx/dydx.hpp>

#include "cpu/packed_gemm.hpp"

namespace dydx::cpu {
namespace {

// A matrix of rows x cols stored transposed or not, with rows `pad` longer than needed.
template <class T>
struct Operand {
  int64_t rows, cols;
  bool transposed;
  int64_t pad;
  std::vector<T> data;
  int64_t ld() const { return (transposed ? rows : cols) + pad; }
  int64_t row_step() const { return transposed ? 1 : ld(); }
  int64_t col_step() const { return transposed ? ld() : 1; }
  T& at(int64_t i, int64_t j) { return data[i * row_step() + j * col_step()]; }
  Operand(int64_t r, int64_t c, bool t, int64_t p, uint64_t seed) : rows(r), cols(c), transposed(t), pad(p) {
    data.assign(static_cast<size_t>((t ? c : r) * ld() + 1), T(0));
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) at(i, j) = static_cast<T>(std::sin(0.37 * static_cast<double>(i * 131 + j * 7 + seed)));
  }
};

template <class T>
void check_shape(int64_t n, int64_t m, int64_t k, bool ta, bool tb, bool accumulate) {
  SCOPED_TRACE("n=" + std::to_string(n) + " m=" + std::to_string(m) + " k=" + std::to_string(k) + (ta ? " A^T" : "") +
               (tb ? " B^T" : "") + (accumulate ? " accumulate" : "") + (sizeof(T) == 4 ? " float" : " double"));
  Operand<T> a(n, k, ta, 3, 1), b(k, m, tb, 5, 2);
  const int64_t ldc = m + 2;
  std::vector<T> c(static_cast<size_t>(n * ldc), std::numeric_limits<T>::quiet_NaN());
  if (accumulate)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) c[i * ldc + j] = static_cast<T>(0.25 * static_cast<double>(i - j));
  const std::vector<T> before = c;
  packed_gemm<T>(n, m, k, a.data.data(), a.row_step(), a.col_step(), b.data.data(), b.row_step(), b.col_step(), c.data(),
                 ldc, accumulate);
  const double eps = std::numeric_limits<T>::epsilon();
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      long double want = accumulate ? before[i * ldc + j] : 0, magnitude = std::abs(want);
      for (int64_t p = 0; p < k; ++p) {
        want += static_cast<long double>(a.at(i, p)) * b.at(p, j);
        magnitude += std::abs(static_cast<long double>(a.at(i, p)) * b.at(p, j));
      }
      const double got = c[i * ldc + j];
      if (!(std::abs(got - static_cast<double>(want)) <= 2 * (k + 1) * eps * static_cast<double>(magnitude))) ++wrong;
    }
    for (int64_t j = m; j < ldc; ++j)  // the padding of C's rows is never written
      if (!std::isnan(c[i * ldc + j])) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
}

TEST(PackedProducts, EveryEdgeAgainstLongDouble) {
  if (!packed_gemm_available()) GTEST_SKIP() << "no AVX-512 in this build or CPU: products are OpenBLAS's";
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 1, 1},     {12, 32, 1},   {11, 31, 7},   {13, 33, 9},  {24, 64, 384}, {25, 17, 385}, {7, 100, 800},
      {200, 15, 40}, {193, 65, 3},  {12, 16, 769}, {5, 3, 1000}, {37, 48, 0},   {13, 40, 513}, {24, 64, 257}};
  for (const auto& [n, m, k] : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (bool accumulate : {false, true}) {
          check_shape<float>(n, m, k, ta, tb, accumulate);
          check_shape<double>(n, m, k, ta, tb, accumulate);
        }
}

// Rows [r0, r1) and columns [c0, c1) of C computed alone (as dydx's threads split a product) give the
// bits the whole product gives there.
template <class T>
void check_blocks() {
  const int64_t n = 150, m = 3200, k = 500;  // m beyond one 3072-column block of B
  Operand<T> a(n, k, false, 0, 3), b(k, m, false, 0, 4);
  std::vector<T> whole(static_cast<size_t>(n * m)), part(static_cast<size_t>(n * m), T(7));
  packed_gemm<T>(n, m, k, a.data.data(), k, 1, b.data.data(), m, 1, whole.data(), m, false);
  const int64_t r0 = 37, r1 = 101, c0 = 64, c1 = 3137;
  packed_gemm<T>(r1 - r0, c1 - c0, k, a.data.data() + r0 * k, k, 1, b.data.data() + c0, m, 1, part.data() + r0 * m + c0,
                 m, false);
  int64_t differ = 0;
  for (int64_t i = r0; i < r1; ++i)
    differ += std::memcmp(&whole[i * m + c0], &part[i * m + c0], sizeof(T) * (c1 - c0)) != 0;
  EXPECT_EQ(differ, 0);
}

TEST(PackedProducts, ABlockOfRowsOrColumnsHasTheWholeProductsBits) {
  if (!packed_gemm_available()) GTEST_SKIP() << "no AVX-512 in this build or CPU: products are OpenBLAS's";
  check_blocks<float>();
  check_blocks<double>();
}

TEST(PackedProducts, NanAndInfStayInTheirRowsAndColumns) {
  if (!packed_gemm_available()) GTEST_SKIP() << "no AVX-512 in this build or CPU: products are OpenBLAS's";
  const int64_t n = 14, m = 35, k = 9;  // partial tiles in both directions, whose padding is zeros
  Operand<float> a(n, k, false, 0, 5), b(k, m, false, 0, 6);
  a.at(13, 4) = std::numeric_limits<float>::infinity();
  b.at(2, 34) = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> c(static_cast<size_t>(n * m));
  packed_gemm<float>(n, m, k, a.data.data(), k, 1, b.data.data(), m, 1, c.data(), m, false);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      const bool special = i == 13 || j == 34;
      EXPECT_EQ(std::isfinite(c[i * m + j]), !special) << i << ", " << j;
    }
}

// Where a product takes the packed kernel, every piece of dydx's thread split takes it (the choice is
// the whole product's), so its bits do not depend on the thread count: pieces of 32 and 8 rows of a
// 40-row product, say, where 8 rows alone would go to OpenBLAS.
TEST(PackedProducts, TheThreadCountDoesNotChangeAProductsBits) {
  for (const auto& [n, m, k] : std::vector<std::array<int64_t, 3>>{{24, 64, 64}, {40, 100, 200}, {47, 300, 90},
                                                                  {100, 64, 500}, {333, 257, 129}}) {
    if (!packed_gemm_suits(n, m, k)) continue;  // OpenBLAS's, whose kernels depend on the piece's shape
    for (ScalarType dtype : {kFloat32, kFloat64}) {
      const Tensor a = sin(arange(n * k, kFloat64) * 0.1).reshape({n, k}).to(dtype);
      const Tensor b = cos(arange(k * m, kFloat64) * 0.3).reshape({k, m}).to(dtype);
      set_num_threads(1);
      const Tensor one = matmul(a, b), transposed = matmul(a, b.t().contiguous().t());
      for (int threads : {2, 3}) {
        set_num_threads(threads);
        EXPECT_TRUE(equal(matmul(a, b), one)) << n << "x" << k << "x" << m << " on " << threads << " threads";
        EXPECT_TRUE(equal(matmul(a, b.t().contiguous().t()), transposed)) << n << "x" << k << "x" << m;
      }
    }
  }
  set_num_threads(2);
}

}  // namespace
}  // namespace dydx::cpu

// Batches of 2 x 2, 3 x 3 and 4 x 4 products run an unrolled loop of their own (cpu_blas.cpp,
// tiny_square_products): every layout of either operand (row-major, transposed, a shared matrix
// expanded over the batch, a strided batch), both dtypes, any thread count, against long double
// sums.
TEST(TinySquareProducts, EveryLayoutAgainstLongDouble) {
  using namespace dydx;
  const int saved_threads = get_num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (int64_t s : {2, 3, 4})
      for (ScalarType dtype : {kFloat32, kFloat64}) {
        const TensorOptions options = TensorOptions().dtype(kFloat64);
        const Tensor a64 = sin(arange(300 * s * s, options) * 0.37).reshape({300, s, s});
        const Tensor b64 = cos(arange(600 * s * s, options) * 0.11).reshape({600, s, s});
        const Tensor a = a64.to(dtype), b = b64.to(dtype);
        const std::vector<std::pair<Tensor, Tensor>> layouts = {
            {a, b.slice(0, 0, 600, 2)},                              // a strided batch
            {a.transpose(1, 2), b.narrow(0, 0, 300)},                // A stored transposed
            {a, b.narrow(0, 7, 300).transpose(1, 2)},                // B stored transposed
            {a, b.select(0, 5).unsqueeze(0).expand({300, s, s})},    // one B for the batch
        };
        for (const auto& [x, y] : layouts) {
          const Tensor got = bmm(x, y).to(kFloat64);
          const Tensor xd = x.to(kFloat64), yd = y.to(kFloat64);
          const double tol = dtype == kFloat32 ? 1e-6 : 1e-15;
          for (int64_t q = 0; q < 300; q += 37)
            for (int64_t i = 0; i < s; ++i)
              for (int64_t j = 0; j < s; ++j) {
                long double sum = 0;
                for (int64_t p = 0; p < s; ++p)
                  sum += static_cast<long double>(xd[q][i][p].item<double>()) * static_cast<long double>(yd[q][p][j].item<double>());
                EXPECT_NEAR(got[q][i][j].item<double>(), static_cast<double>(sum), tol * s) << s << " " << dtype << " " << threads;
              }
        }
      }
  }
  set_num_threads(saved_threads);
}
