// softmax, log_softmax and logsumexp's vectorised row kernels (src/ops/softmax.cpp) against a plain
// long double reference: rows of every length around the vector widths (the tails and the folded
// maxima) and around 512 (up to it, rows go in groups; beyond, alone, and their exponentials are
// computed again rather than kept), nan, +-inf and -0
// in the vector part and in the tail, dims with rows inner apart (partial column blocks), and any
// thread count.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace dydx;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// x - m as the kernels take it, in the row's dtype (as PyTorch does): rounded to float for float rows.
long double difference(double x, long double m, bool is_float) {
  return is_float ? static_cast<float>(x - static_cast<double>(m)) : static_cast<long double>(x) - m;
}

// softmax / log_softmax of one row in long double, PyTorch's special values: a nan or a +inf maximum
// makes the row nan (inf - inf), as does a row of -infs.
std::vector<double> reference_row(const std::vector<double>& row, bool log, bool is_float) {
  long double m = -INFINITY;
  bool nan = false;
  for (double v : row) nan |= std::isnan(v), m = std::max<long double>(m, v);
  std::vector<double> out(row.size(), kNan);
  if (nan || std::isinf(m)) return out;
  long double total = 0;
  for (double v : row) total += std::exp(difference(v, m, is_float));
  for (size_t k = 0; k < row.size(); ++k) {
    const long double d = difference(row[k], m, is_float);
    out[k] = static_cast<double>(log ? d - std::log(total) : std::exp(d) / total);
  }
  return out;
}

// logsumexp of one row in long double: -inf for a row of -infs, inf for one holding +inf, nan for nan.
double reference_lse(const std::vector<double>& row, bool is_float) {
  long double m = -INFINITY;
  bool nan = false;
  for (double v : row) nan |= std::isnan(v), m = std::max<long double>(m, v);
  if (nan) return kNan;
  if (std::isinf(m)) return static_cast<double>(m);
  long double total = 0;
  for (double v : row) total += std::exp(difference(v, m, is_float));
  return static_cast<double>(std::log(total) + m);
}

// Rows of length n: ordinary values, then one row per special value at each of several positions.
std::vector<std::vector<double>> rows_of_length(int64_t n) {
  std::vector<std::vector<double>> rows;
  std::vector<double> plain(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) plain[k] = std::sin(0.37 * k + n) * (k % 7 == 3 ? 80.0 : 3.0);
  rows.push_back(plain);
  rows.push_back(std::vector<double>(static_cast<size_t>(n), -kInf));
  rows.push_back(std::vector<double>(static_cast<size_t>(n), -0.0));
  for (double special : {kNan, kInf, -kInf, -0.0, 1e30, -1e30}) {
    for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
      std::vector<double> row = plain;
      row[static_cast<size_t>(at)] = special;
      rows.push_back(row);
    }
  }
  return rows;
}

// Within rtol of want, relative; or of 1 + |want| for logarithms (log_softmax of the largest element
// is -log(1 + tiny), whose rounded sum keeps only its absolute accuracy, as in PyTorch's formula).
bool close(double got, double want, double rtol, bool logarithm = false) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= rtol * (std::fabs(want) + (logarithm ? 1.0 : 0.0)) + 1e-37;
}

void expect_rows(ScalarType dtype, int64_t n, double rtol) {
  const auto rows = rows_of_length(n);
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  const int64_t count = static_cast<int64_t>(rows.size());
  const Tensor x = tensor(flat, kFloat64).reshape({count, n}).to(dtype);
  // The values the kernel sees, after rounding to dtype, are the reference's inputs.
  const Tensor xr = x.to(kFloat64);
  const Tensor s = softmax(x, 1).to(kFloat64), ls = log_softmax(x, 1).to(kFloat64);
  const Tensor lse = logsumexp(x, {1}).to(kFloat64);
  // Along dim 0 of the transpose: the same rows, inner apart.
  const Tensor s0 = softmax(x.t().contiguous(), 0).t().to(kFloat64);
  const Tensor ls0 = log_softmax(x.t().contiguous(), 0).t().to(kFloat64);
  for (int64_t i = 0; i < count; ++i) {
    std::vector<double> row(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) row[k] = xr[i][k].item<double>();
    const bool is_float = dtype == kFloat32;
    const auto want_s = reference_row(row, false, is_float), want_ls = reference_row(row, true, is_float);
    const double want_lse = reference_lse(row, is_float);
    EXPECT_TRUE(close(lse[i].item<double>(), want_lse, rtol, true)) << "logsumexp n=" << n << " row " << i;
    for (int64_t k = 0; k < n; ++k) {
      EXPECT_TRUE(close(s[i][k].item<double>(), want_s[k], rtol))
          << "softmax n=" << n << " row " << i << " k " << k << ": " << s[i][k].item<double>() << " against "
          << want_s[k];
      EXPECT_TRUE(close(ls[i][k].item<double>(), want_ls[k], rtol, true))
          << "log_softmax n=" << n << " row " << i << " k " << k << ": " << ls[i][k].item<double>() << " against "
          << want_ls[k];
      EXPECT_TRUE(close(s0[i][k].item<double>(), want_s[k], rtol)) << "softmax dim 0 n=" << n << " row " << i;
      EXPECT_TRUE(close(ls0[i][k].item<double>(), want_ls[k], rtol, true))
          << "log_softmax dim 0 n=" << n << " row " << i;
    }
  }
}

TEST(SoftmaxKernels, EveryRowLengthAroundTheVectorWidths) {
  for (int64_t n : {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 512, 513, 1000}) {
    expect_rows(kFloat32, n, 2e-6);
    expect_rows(kFloat64, n, 1e-13);
  }
}

// Column blocks of 256: the dim-0 kernel's partial last block, and the same values on any thread count,
// which splits short rows' groups (up to 8 rows and 512 values) in other places.
TEST(SoftmaxKernels, ColumnBlocksAndThreadsGiveTheSameBits) {
  manual_seed(3);
  const Tensor x = randn({37, 600}) * 4.0;
  const Tensor short_rows = x.reshape({-1, 75}), shortest = x.reshape({-1, 3}).to(kFloat64);
  const int threads = get_num_threads();
  std::vector<Tensor> outs;
  constexpr size_t kKinds = 7;
  for (int t : {1, 2, 3, 5}) {
    set_num_threads(t);
    outs.push_back(softmax(x, 0));
    outs.push_back(log_softmax(x, 1));
    outs.push_back(logsumexp(x, {0}));
    outs.push_back(softmax(short_rows, 1));
    outs.push_back(log_softmax(shortest, 1));
    outs.push_back(logsumexp(short_rows, {1}));
    outs.push_back(logsumexp(shortest, {1}));
  }
  set_num_threads(threads);
  for (size_t i = kKinds; i < outs.size(); ++i) EXPECT_TRUE(equal(outs[i], outs[i % kKinds])) << i;
  // A short row's values do not depend on the rows grouped with it.
  for (int64_t row : {0, 1, 7, 295}) {
    EXPECT_TRUE(equal(softmax(short_rows[row], 0), outs[3][row])) << row;
    EXPECT_TRUE(equal(logsumexp(short_rows[row], {0}), outs[5][row])) << row;
  }
  // Dim 0 against dim 1 of the transpose: one kernel across columns, the other along rows.
  EXPECT_TRUE(allclose(softmax(x, 0), softmax(x.t().contiguous(), 1).t(), 1e-6, 1e-7));
}

}  // namespace
