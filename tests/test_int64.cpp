// Int64 tensors: exact integer arithmetic, creation and printing past 2^53, and wrapping (never
// undefined) overflow, each checked against what PyTorch 1.13 gives. Run under UBSan as well: a
// signed overflow anywhere in these paths fails the sanitizer build.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <cstdint>
#include <limits>
#include <vector>

namespace dydx {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
/// 2^53 + 1: the smallest positive integer a double cannot hold.
constexpr int64_t kOdd53 = (int64_t{1} << 53) + 1;

std::vector<int64_t> values(const Tensor& t) {
  EXPECT_EQ(t.dtype(), kInt64);
  return t.to_vector<int64_t>();
}

// A comparison's result (bool) as 0/1.
std::vector<int64_t> truths(const Tensor& t) {
  EXPECT_EQ(t.dtype(), kBool);
  return t.to_vector<int64_t>();
}

using V = std::vector<int64_t>;

// ---- scalars and creation ----------------------------------------------------------------------

TEST(Int64Scalar, KeepsIntegersExactly) {
  EXPECT_EQ(Scalar(kOdd53).to_int64(), kOdd53);
  EXPECT_EQ(Scalar(kMax).to_int64(), kMax);
  EXPECT_EQ(Scalar(kMin).to_int64(), kMin);
  EXPECT_TRUE(Scalar(kMax).is_integral());
  EXPECT_EQ(Scalar(kMax).to<double>(), 0x1p63);
  EXPECT_EQ(Scalar(2.9).to_int64(), 2);
  EXPECT_EQ(Scalar(-2.9).to_int64(), -2);
  // Out of range and nan: INT64_MIN, as PyTorch on x86, rather than undefined behaviour.
  EXPECT_EQ(Scalar(1e30).to_int64(), kMin);
  EXPECT_EQ(Scalar(NAN).to_int64(), kMin);
}

TEST(Int64Creation, FullKeepsEveryBit) {
  EXPECT_EQ(values(full({2}, kMax)), (V{kMax, kMax}));  // was rejected as overflowing
  EXPECT_EQ(values(full({1}, kMin)), V{kMin});
  EXPECT_EQ(values(full({1}, kOdd53)), V{kOdd53});
  EXPECT_EQ(values(full_like(zeros({1}, kInt64), kOdd53)), V{kOdd53});
  EXPECT_EQ(values(full({2}, 2.7, kInt64)), (V{2, 2}));
  EXPECT_EQ(values(full({1}, -2.7, kInt64)), V{-2});
  EXPECT_EQ(values(full({1}, -0x1p63, kInt64)), V{kMin});
  // A floating value outside int64's range is an error, as in PyTorch.
  EXPECT_THROW(full({1}, 1e19, kInt64), Error);
  EXPECT_THROW(full({1}, -1e19, kInt64), Error);
  EXPECT_THROW(full({1}, 0x1p63, kInt64), Error);
  EXPECT_THROW(full({1}, INFINITY, kInt64), Error);
}

TEST(Int64Creation, FillKeepsEveryBit) {
  Tensor x = tensor({kOdd53});
  x.fill_(kOdd53 + 2);
  EXPECT_EQ(values(x), V{kOdd53 + 2});
  x.fill_(kMin);
  EXPECT_EQ(values(x), V{kMin});
  // A rejected fill writes nothing.
  EXPECT_THROW(x.fill_(1e30), Error);
  EXPECT_EQ(values(x), V{kMin});
}

TEST(Int64Creation, TensorFromLiteralsAndVectors) {
  EXPECT_EQ(values(tensor({kMax, kMin, kOdd53})), (V{kMax, kMin, kOdd53}));
  EXPECT_EQ(values(tensor({{kOdd53}, {kMax}})), (V{kOdd53, kMax}));
  EXPECT_EQ(values(tensor(std::vector<int64_t>{kMax, kOdd53})), (V{kMax, kOdd53}));
  EXPECT_EQ(values(tensor(std::vector<int>{-3, 4})), (V{-3, 4}));
  // Into a floating dtype an integer rounds once, to the nearest value of that dtype.
  EXPECT_EQ(tensor({kOdd53}, kFloat64).item<double>(), 0x1p53);
  EXPECT_EQ(tensor(std::vector<int64_t>{kMax}, kFloat32).item<float>(), 0x1p63F);
  EXPECT_EQ(tensor(std::vector<double>{2.5}).item<float>(), 2.5F);
  // Floating literals into int64 truncate, and must fit, as in PyTorch.
  EXPECT_EQ(values(tensor({2.7, -2.7}, kInt64)), (V{2, -2}));
  EXPECT_THROW(tensor({1e30}, kInt64), Error);
  EXPECT_THROW(tensor({{1.0}, {NAN}}, kInt64), Error);
  EXPECT_THROW(tensor(std::vector<double>{1.0, 1e30}, kInt64), Error);
}

TEST(Int64Creation, ArangeWithInt64Bounds) {
  EXPECT_EQ(values(arange(kMax - 3, kMax)), (V{kMax - 3, kMax - 2, kMax - 1}));
  EXPECT_EQ(values(arange(kMin, kMin + 3)), (V{kMin, kMin + 1, kMin + 2}));
  EXPECT_EQ(values(arange(int64_t{1} << 53, kOdd53 + 2)), (V{int64_t{1} << 53, kOdd53, kOdd53 + 1}));
  EXPECT_EQ(values(arange(10, 0, -3)), (V{10, 7, 4, 1}));
  EXPECT_EQ(values(arange(-5, 5, 3)), (V{-5, -2, 1, 4}));
  // The whole int64 range in steps of 2^62: the span overflows int64 but not the count.
  EXPECT_EQ(values(arange(kMin, kMax, int64_t{1} << 62)), (V{kMin, kMin / 2, 0, -(kMin / 2)}));
  EXPECT_EQ(arange(0, 10, 3, kFloat32).to_vector<float>(), (std::vector<float>{0, 3, 6, 9}));
  // 2^64 - 1 elements: a clear error, not a negative size.
  EXPECT_THROW(arange(kMin, kMax), Error);
  EXPECT_THROW(arange(0, 5, 0), Error);
  EXPECT_THROW(arange(5, 0, 1), Error);
  // Floating bounds into int64 must fit (PyTorch: arange(0., 1e19, 1e18, dtype=int64) raises).
  EXPECT_THROW(arange(0.0, 1e19, 1e18, kInt64), Error);
  EXPECT_EQ(values(arange(0.0, 5.0, 2.0, kInt64)), (V{0, 2, 4}));
  // A nan step: a clear error, not a nan converted to a size.
  EXPECT_THROW(arange(0.0, 10.0, NAN), Error);
}

TEST(Int64Creation, LinspaceIntoInt64) {
  EXPECT_EQ(values(linspace(0, 10, 3, kInt64)), (V{0, 5, 10}));
  EXPECT_THROW(linspace(0, 1e30, 3, kInt64), Error);  // PyTorch: cannot be converted without overflow
}

// ---- conversions -------------------------------------------------------------------------------

TEST(Int64Convert, ItemAndToVectorAreExact) {
  EXPECT_EQ(tensor({kMax}).item<int64_t>(), kMax);
  EXPECT_EQ(tensor({kOdd53}).item<int64_t>(), kOdd53);
  EXPECT_EQ(tensor({kMin}).to_vector<int64_t>(), V{kMin});
}

TEST(Int64Convert, FloatToInt64TruncatesAndOutOfRangeGivesMin) {
  // PyTorch 1.13: tensor([1e20, nan, -1e20, inf, -2.**63, 2.**63, -3.7, 3.7]).long()
  Tensor f = tensor(std::vector<double>{1e20, NAN, -1e20, INFINITY, -0x1p63, 0x1p63, -3.7, 3.7}, kFloat64);
  EXPECT_EQ(values(f.to(kInt64)), (V{kMin, kMin, kMin, kMin, kMin, kMin, -3, 3}));
  EXPECT_EQ(values(tensor({1e20f, -1e20f}).to(kInt64)), (V{kMin, kMin}));
  // item<int64_t>() checks the range, as libtorch's Scalar::toLong does ("value cannot be converted
  // to type int64_t without overflow"); only the elementwise cast gives INT64_MIN.
  EXPECT_THROW(tensor({1e20}, kFloat64).item<int64_t>(), Error);
  EXPECT_THROW(tensor({NAN}).item<int64_t>(), Error);
  EXPECT_THROW(tensor({-INFINITY}).item<int64_t>(), Error);
  EXPECT_EQ(tensor({-0x1p63}, kFloat64).item<int64_t>(), kMin);
  EXPECT_EQ(tensor({-3.7}).item<int64_t>(), -3);
  EXPECT_EQ(tensor({NAN}).to_vector<int64_t>(), V{kMin});
}

TEST(Int64Convert, Int64ToFloatRoundsToNearest) {
  EXPECT_EQ(tensor({kOdd53}).to(kFloat64).item<double>(), 0x1p53);
  EXPECT_EQ(values(tensor({kOdd53}).to(kFloat64).to(kInt64)), V{int64_t{1} << 53});
  EXPECT_EQ(values(tensor({(int64_t{1} << 62) + 1}).to(kFloat64).to(kInt64)), V{int64_t{1} << 62});
  EXPECT_EQ(tensor({kMax}).to(kFloat32).item<float>(), 0x1p63F);
}

// ---- arithmetic --------------------------------------------------------------------------------

TEST(Int64Arithmetic, InPlaceAddIsExact) {
  Tensor x = tensor({kOdd53});
  x.add_(tensor({2}));
  EXPECT_EQ(values(x), V{kOdd53 + 2});
  x += 2;
  EXPECT_EQ(values(x), V{kOdd53 + 4});
  x -= tensor({4});
  EXPECT_EQ(values(x), V{kOdd53});
  x *= 3;
  EXPECT_EQ(values(x), V{3 * kOdd53});
  x.sub_(tensor({1}), kOdd53);
  EXPECT_EQ(values(x), V{2 * kOdd53});
  x.add_(tensor({1}), kOdd53);
  EXPECT_EQ(values(x), V{3 * kOdd53});
}

TEST(Int64Arithmetic, AlphaIsExact) {
  EXPECT_EQ(values(tensor({kOdd53}).add(tensor({1}), kOdd53)), V{2 * kOdd53});
  EXPECT_EQ(values(add(tensor({1}), tensor({1}), kOdd53)), V{kOdd53 + 1});
  EXPECT_EQ(values(sub(tensor({kOdd53}), tensor({1}), kOdd53)), V{0});
  // alpha = INT64_MIN for sub negates to itself (wraps): 5 - INT64_MIN * 1.
  EXPECT_EQ(values(sub(tensor({5}), tensor({1}), kMin)), V{kMin + 5});
  // A floating alpha is rejected for integer tensors, even an integral one, as in PyTorch.
  EXPECT_THROW(add(tensor({1}), tensor({1}), 2.0), Error);
  EXPECT_THROW(tensor({1}).sub_(tensor({1}), 1.5), Error);
  Tensor x = tensor({7});
  EXPECT_THROW(x.add_(tensor({1}), 1.0), Error);
  EXPECT_EQ(values(x), V{7});
  // On a floating tensor an integer alpha is fine.
  EXPECT_EQ(tensor({1.5}).add(tensor({1}), 2).item<float>(), 3.5F);
}

TEST(Int64Arithmetic, ScalarOperatorsAreExact) {
  EXPECT_EQ(values(tensor({kOdd53}) + 2), V{kOdd53 + 2});
  EXPECT_EQ(values(2 + tensor({kOdd53})), V{kOdd53 + 2});
  EXPECT_EQ(values(tensor({kOdd53}) - 2), V{kOdd53 - 2});
  EXPECT_EQ(values(kOdd53 - tensor({2})), V{kOdd53 - 2});
  EXPECT_EQ(values(tensor({kOdd53}) * 3), V{3 * kOdd53});
  EXPECT_EQ(values(tensor({kOdd53}) * tensor({3})), V{3 * kOdd53});
}

TEST(Int64Arithmetic, OverflowWrapsAsInPyTorch) {
  EXPECT_EQ(values(tensor({kMax}) + 1), V{kMin});
  EXPECT_EQ(values(tensor({kMax}) + tensor({1})), V{kMin});
  EXPECT_EQ(values(tensor({kMax}) * 2), V{-2});
  EXPECT_EQ(values(tensor({kOdd53}) * kOdd53), V{18014398509481985});  // PyTorch's wrapped product
  EXPECT_EQ(values(tensor({kMax}) - tensor({kMin})), V{-1});
  EXPECT_EQ(values(5 - tensor({kMin})), V{kMin + 5});
  EXPECT_EQ(values(neg(tensor({kMin}))), V{kMin});
  EXPECT_EQ(values(-tensor({kMin, 3})), (V{kMin, -3}));
  EXPECT_EQ(values(tensor({kMin}) * -1), V{kMin});
  EXPECT_EQ(values(abs(tensor({kMin, -5}))), (V{kMin, 5}));
  EXPECT_EQ(values(sign(tensor({kMin, 0, kMax}))), (V{-1, 0, 1}));
  Tensor x = tensor({kMax});
  x.add_(tensor({1}));
  EXPECT_EQ(values(x), V{kMin});
  x.mul_(tensor({-1}));
  EXPECT_EQ(values(x), V{kMin});
}

TEST(Int64Arithmetic, PowByRepeatedSquaring) {
  // PyTorch 1.13: tensor([3]).pow(41) == -420491770248316829 (wrapped), pow(40) == -6289078614652622815.
  EXPECT_EQ(values(tensor({3}).pow(41)), V{-420491770248316829});
  EXPECT_EQ(values(pow(tensor({3}), 40)), V{-6289078614652622815});
  EXPECT_EQ(values(tensor({-3}).pow(39)), V{-4052555153018976267});
  EXPECT_EQ(values(tensor({kOdd53}).pow(1)), V{kOdd53});
  EXPECT_EQ(values(tensor({kOdd53}).pow(0)), V{1});
  EXPECT_EQ(values(tensor({0}).pow(0)), V{1});
  EXPECT_EQ(values(tensor({kMax}).pow(2)), V{1});
  EXPECT_EQ(values(tensor({kMax}).pow(3)), V{kMax});
  EXPECT_EQ(values(tensor({2}).pow(63)), V{kMin});
  EXPECT_EQ(values(tensor({2}).pow(64)), V{0});
  EXPECT_EQ(values(tensor({kOdd53}).pow(tensor({1}))), V{kOdd53});
  EXPECT_EQ(values(pow(tensor({3}), tensor({41}))), V{-420491770248316829});
  EXPECT_EQ(values(pow(3, tensor({41, 2}))), (V{-420491770248316829, 9}));
  // Tensor exponents below zero give powi's integer results, as in PyTorch; a C++ one is an error.
  EXPECT_EQ(values(pow(tensor({1, -1, 2, -1}), tensor({-1, -3, -2, -2}))), (V{1, -1, 0, 1}));
  EXPECT_EQ(values(pow(3, tensor({-1}))), V{0});
  EXPECT_THROW(tensor({3}).pow(-1), Error);
  // A floating exponent gives a floating result.
  EXPECT_EQ(tensor({4}).pow(0.5).dtype(), kFloat32);
}

TEST(Int64Arithmetic, DivisionIsTrueDivisionToFloat) {
  EXPECT_EQ((tensor({7}) / 2).dtype(), kFloat32);
  EXPECT_EQ((tensor({7}) / 2).item<float>(), 3.5F);
  EXPECT_EQ(div(tensor({kMax}), tensor({kMax})).item<float>(), 1.0F);
  Tensor x = tensor({7});
  EXPECT_THROW(x.div_(tensor({2})), Error);  // float result into an int64 tensor
  EXPECT_EQ(values(x), V{7});
}

// ---- selection and comparison --------------------------------------------------------------------

TEST(Int64Compare, ExactNearTheExtremes) {
  EXPECT_EQ(truths(eq(tensor({kOdd53}), tensor({int64_t{1} << 53}))), V{0});
  EXPECT_EQ(truths(gt(tensor({kOdd53}), tensor({int64_t{1} << 53}))), V{1});
  EXPECT_EQ(truths(gt(tensor({kMax}), tensor({kMax - 1}))), V{1});
  EXPECT_EQ(truths(eq(tensor({kMax}), full({}, kMax))), V{1});
  EXPECT_FALSE(equal(tensor({kOdd53}), tensor({int64_t{1} << 53})));
  EXPECT_TRUE(equal(tensor({kMax, kMin}), tensor({kMax, kMin})));
}

TEST(Int64Select, WhereMaxMinAreExact) {
  EXPECT_EQ(values(where(tensor({true, false}), tensor({kMax, kMax}), tensor({kMin, kMin}))), (V{kMax, kMin}));
  EXPECT_EQ(values(where(tensor({false}), tensor({kMax}), tensor({kOdd53}))), V{kOdd53});
  Tensor x = tensor({kOdd53, kMax, kMin, int64_t{1} << 53});
  EXPECT_EQ(max(x).item<int64_t>(), kMax);
  EXPECT_EQ(min(x).item<int64_t>(), kMin);
  auto [value, index] = max(tensor({kOdd53, int64_t{1} << 53}), 0);
  EXPECT_EQ(value.item<int64_t>(), kOdd53);
  EXPECT_EQ(index.item<int64_t>(), 0);
  EXPECT_EQ(values(relu(tensor({kOdd53, kMin}))), (V{kOdd53, 0}));
}

// ---- reductions and products ---------------------------------------------------------------------

TEST(Int64Reduce, SumIsExactAndWraps) {
  EXPECT_EQ(sum(tensor({kOdd53, 2})).item<int64_t>(), kOdd53 + 2);
  // PyTorch: tensor([M, M]).sum() == -2, and 100 copies of M sum to -100.
  EXPECT_EQ(sum(tensor({kMax, kMax})).item<int64_t>(), -2);
  EXPECT_EQ(sum(full({100}, kMax)).item<int64_t>(), -100);
  Tensor m = full({2, 2}, kMax);
  EXPECT_EQ(values(m.sum({0})), (V{-2, -2}));           // over the leading dim
  EXPECT_EQ(values(m.sum({1})), (V{-2, -2}));           // over the last dim
  EXPECT_EQ(values(m.t().sum({0})), (V{-2, -2}));       // strided
  EXPECT_EQ(values(full({600, 3}, kMax).sum({0})), (V{-600, -600, -600}));  // the blocked leading-rows kernel
  EXPECT_EQ(values(full({2, 3, 2}, kMax).sum({0, 2})), (V{-4, -4, -4}));
  EXPECT_THROW(mean(tensor({1, 2})), Error);  // PyTorch: mean needs a floating dtype
}

TEST(Int64Linalg, ProductsAreExactAndWrap) {
  Tensor a = tensor({{kMax, 2}, {3, 4}});
  // PyTorch 1.13: a.mm(a) == [[7, 6], [-9223372036854775799, 22]].
  const V expected{7, 6, -9223372036854775799, 22};
  EXPECT_EQ(values(a.mm(a)), expected);
  EXPECT_EQ(values(matmul(a, a)), expected);
  EXPECT_EQ(values(bmm(a.unsqueeze(0), a.unsqueeze(0))), expected);
  EXPECT_EQ(values(matmul(a, tensor({kMax, kMax}))), (V{-1, 9223372036854775801}));
  EXPECT_EQ(values(matmul(tensor({kOdd53}), tensor({1}))), V{kOdd53});
  // PyTorch: addmm([[1]], [[M]], [[2]], beta=M, alpha=2^53+1) == 9205357638345293821.
  EXPECT_EQ(values(addmm(tensor({{1}}), tensor({{kMax}}), tensor({{2}}), kMax, kOdd53)), V{9205357638345293821});
  // k == 1: an outer product.
  EXPECT_EQ(values(matmul(tensor({{kOdd53}, {1}}), tensor({{1, kMax}}))), (V{kOdd53, static_cast<int64_t>(uint64_t{kOdd53} * uint64_t{kMax}), 1, kMax}));
}

// ---- every pair of extreme values, against uint64 reference arithmetic ----------------------------

/// Values where int64 arithmetic goes wrong through a double or overflows.
const V kExtremes{0,
                  1,
                  -1,
                  2,
                  -3,
                  int64_t{1} << 31,
                  -(int64_t{1} << 31) - 1,
                  int64_t{1} << 53,
                  kOdd53,
                  -kOdd53,
                  (int64_t{1} << 62) + 12345,
                  kMax,
                  kMax - 1,
                  kMin,
                  kMin + 1,
                  -987654321987654321,
                  6172840429334713770};

int64_t ref_add(int64_t x, int64_t y) { return static_cast<int64_t>(uint64_t(x) + uint64_t(y)); }
int64_t ref_sub(int64_t x, int64_t y) { return static_cast<int64_t>(uint64_t(x) - uint64_t(y)); }
int64_t ref_mul(int64_t x, int64_t y) { return static_cast<int64_t>(uint64_t(x) * uint64_t(y)); }

/// The n x n table of f over every pair (kExtremes[i], kExtremes[j]), row-major.
template <class F>
V pair_table(F f) {
  V out;
  for (int64_t x : kExtremes)
    for (int64_t y : kExtremes) out.push_back(f(x, y));
  return out;
}

class Int64Pairs : public ::testing::Test {
 protected:
  const int64_t n = static_cast<int64_t>(kExtremes.size());
  Tensor column = tensor(kExtremes).reshape({n, 1});
  Tensor row = tensor(kExtremes).reshape({1, n});
  Tensor full_column = column.expand({n, n}).clone();
};

TEST_F(Int64Pairs, AddSubMulMatchWrappedReference) {
  EXPECT_EQ(values(column + row), pair_table(ref_add));
  EXPECT_EQ(values(column - row), pair_table(ref_sub));
  EXPECT_EQ(values(column * row), pair_table(ref_mul));
  EXPECT_EQ(values(add(column, row, kOdd53)), pair_table([](int64_t x, int64_t y) { return ref_add(x, ref_mul(kOdd53, y)); }));
  EXPECT_EQ(values(sub(column, row, kMin)), pair_table([](int64_t x, int64_t y) { return ref_sub(x, ref_mul(kMin, y)); }));
  EXPECT_EQ(values(sub(column, row, -kOdd53)), pair_table([](int64_t x, int64_t y) { return ref_add(x, ref_mul(kOdd53, y)); }));
}

TEST_F(Int64Pairs, InPlaceMatchWrappedReference) {
  Tensor x = full_column.clone();
  x.add_(row);
  EXPECT_EQ(values(x), pair_table(ref_add));
  x = full_column.clone();
  x.sub_(row, kMax);
  EXPECT_EQ(values(x), pair_table([](int64_t a, int64_t b) { return ref_sub(a, ref_mul(kMax, b)); }));
  x = full_column.clone();
  x.mul_(row);
  EXPECT_EQ(values(x), pair_table(ref_mul));
  x = full_column.clone();
  x.copy_(row.expand({n, n}));
  EXPECT_EQ(values(x), pair_table([](int64_t, int64_t b) { return b; }));
}

TEST_F(Int64Pairs, ScalarOperandsMatchWrappedReference) {
  for (int64_t s : kExtremes) {
    Tensor t = tensor(kExtremes);
    V sum, diff, rdiff, prod;
    for (int64_t v : kExtremes) {
      sum.push_back(ref_add(v, s));
      diff.push_back(ref_sub(v, s));
      rdiff.push_back(ref_sub(s, v));
      prod.push_back(ref_mul(v, s));
    }
    EXPECT_EQ(values(t + s), sum) << s;
    EXPECT_EQ(values(s + t), sum) << s;
    EXPECT_EQ(values(t - s), diff) << s;
    EXPECT_EQ(values(s - t), rdiff) << s;
    EXPECT_EQ(values(t * s), prod) << s;
    Tensor in_place = t.clone();
    in_place += s;
    EXPECT_EQ(values(in_place), sum) << s;
    in_place = t.clone();
    in_place *= s;
    EXPECT_EQ(values(in_place), prod) << s;
    EXPECT_EQ(values(full({2}, s)), (V{s, s}));
    EXPECT_EQ(values(zeros({2}, kInt64).fill_(s)), (V{s, s}));
  }
}

TEST_F(Int64Pairs, ComparisonsAndSelectionAreExact) {
  EXPECT_EQ(truths(eq(column, row)), pair_table([](int64_t x, int64_t y) -> int64_t { return x == y; }));
  EXPECT_EQ(truths(gt(column, row)), pair_table([](int64_t x, int64_t y) -> int64_t { return x > y; }));
  EXPECT_EQ(values(where(gt(column, row), column, row)), pair_table([](int64_t x, int64_t y) { return std::max(x, y); }));
  for (int64_t i = 0; i < n; ++i) {
    Tensor pair = cat({column[i], row.select(1, i)});
    EXPECT_EQ(max(pair).item<int64_t>(), kExtremes[i]);
  }
  EXPECT_EQ(max(tensor(kExtremes)).item<int64_t>(), kMax);
  EXPECT_EQ(min(tensor(kExtremes)).item<int64_t>(), kMin);
  EXPECT_EQ(values(std::get<0>(max(column + row, 1))),
            [&] {
              V out;
              for (int64_t x : kExtremes) {
                int64_t best = kMin;
                for (int64_t y : kExtremes) best = std::max(best, ref_add(x, y));
                out.push_back(best);
              }
              return out;
            }());
}

TEST_F(Int64Pairs, UnaryOpsAndPowersMatchReference) {
  V negated, absolute;
  for (int64_t v : kExtremes) {
    negated.push_back(ref_sub(0, v));
    absolute.push_back(v < 0 ? ref_sub(0, v) : v);
  }
  EXPECT_EQ(values(neg(tensor(kExtremes))), negated);
  EXPECT_EQ(values(abs(tensor(kExtremes))), absolute);
  for (int64_t k = 0; k <= 66; ++k) {
    V expected;
    for (int64_t v : kExtremes) {
      int64_t p = 1;
      for (int64_t i = 0; i < k; ++i) p = ref_mul(p, v);
      expected.push_back(p);
    }
    EXPECT_EQ(values(tensor(kExtremes).pow(k)), expected) << "exponent " << k;
    EXPECT_EQ(values(pow(tensor(kExtremes), full({}, k))), expected) << "exponent " << k;
  }
}

TEST_F(Int64Pairs, SumsAndProductsMatchWrappedReference) {
  Tensor table = column * row;  // products of every pair
  const V t = pair_table(ref_mul);
  V row_sums(n, 0), column_sums(n, 0);
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      row_sums[i] = ref_add(row_sums[i], t[i * n + j]);
      column_sums[j] = ref_add(column_sums[j], t[i * n + j]);
      total = ref_add(total, t[i * n + j]);
    }
  EXPECT_EQ(values(table.sum({1})), row_sums);
  EXPECT_EQ(values(table.sum({0})), column_sums);
  EXPECT_EQ(values(table.t().sum({1})), column_sums);
  EXPECT_EQ(table.sum().item<int64_t>(), total);
  V product(n * n, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k) product[i * n + j] = ref_add(product[i * n + j], ref_mul(t[i * n + k], t[k * n + j]));
  EXPECT_EQ(values(table.mm(table)), product);
  EXPECT_EQ(values(matmul(table.unsqueeze(0), table)), product);
  EXPECT_EQ(values(matmul(table.t().contiguous().t(), table)), product);  // a transposed operand
}

TEST_F(Int64Pairs, ConversionsAndPrintingAreExact) {
  for (int64_t v : kExtremes) {
    EXPECT_EQ(to_string(tensor({v})), "tensor([" + std::to_string(v) + "])");
    EXPECT_EQ(tensor({v}).item<int64_t>(), v);
    EXPECT_EQ(tensor({v}).to(kFloat64).item<double>(), static_cast<double>(v));
    EXPECT_EQ(tensor({v}).to(kFloat32).item<float>(), static_cast<float>(v));
    EXPECT_EQ(Scalar(v).to<float>(), static_cast<float>(v));  // rounded once, not through double
  }
  // Every double that a conversion to int64 can meet: truncated when in range, INT64_MIN otherwise.
  const std::vector<double> doubles{NAN, -NAN, INFINITY, -INFINITY, 1e19, -1e19, 0x1p63, -0x1p63, 0x1p63 - 1024,
                                    -0.5, 0.5, -1.5, 1.5, 0x1p53 + 2, -0x1p53, 1e-300, -0.0, 1e300};
  V expected;
  for (double d : doubles) expected.push_back(d >= -0x1p63 && d < 0x1p63 ? static_cast<int64_t>(d) : kMin);
  Tensor t = tensor(doubles, kFloat64);
  EXPECT_EQ(values(t.to(kInt64)), expected);
  EXPECT_EQ(t.to_vector<int64_t>(), expected);
  Tensor into = zeros({static_cast<int64_t>(doubles.size())}, kInt64);
  into.copy_(t);  // copy_ converts, as in PyTorch
  EXPECT_EQ(values(into), expected);
}

// ---- printing ------------------------------------------------------------------------------------

TEST(Int64Print, ExtremesPrintExactly) {
  EXPECT_EQ(to_string(tensor({kOdd53})), "tensor([9007199254740993])");
  EXPECT_EQ(to_string(tensor({kMax, kMin})), "tensor([ 9223372036854775807, -9223372036854775808])");
  EXPECT_EQ(to_string(full({}, kMax)), "tensor(9223372036854775807)");
  EXPECT_EQ(to_string(tensor({{1, kMax}, {kMin, 5}})),
            "tensor([[                   1,  9223372036854775807],\n"
            "        [-9223372036854775808,                    5]])");
}

}  // namespace
}  // namespace dydx
