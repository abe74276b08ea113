// Edge values of the whole-tensor comparisons, dtype rules of the matrix products and from_blob's
// alignment rule, each against what PyTorch 1.13 does.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace dydx;
using dydx::testing::HasValues;

namespace {

const double kNan = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// ---- equal -------------------------------------------------------------------------------------

// 2^24 + 1 elements: a float32 count of the equal elements stops at 2^24, and equal() said false.
TEST(Equal, HoldsBeyondTheElementsFloat32CanCount) {
  const int64_t n = (int64_t{1} << 24) + 1;
  Tensor a = ones({n});
  EXPECT_TRUE(equal(a, a.clone()));
  Tensor b = a.clone();
  b.narrow(0, n - 1, 1).fill_(2.0);
  EXPECT_FALSE(equal(a, b));
}

TEST(Equal, FollowsPyTorchAtSpecialValuesAndDtypes) {
  EXPECT_FALSE(equal(tensor({kNan}), tensor({kNan})));
  EXPECT_TRUE(equal(tensor({0.0}), tensor({-0.0})));
  EXPECT_TRUE(equal(tensor({kInf, -kInf}), tensor({kInf, -kInf})));
  EXPECT_FALSE(equal(ones({3}), ones({1})));  // no broadcasting
  EXPECT_TRUE(equal(ones({3}), ones({3}, kFloat64)));  // values compared after promotion
  EXPECT_FALSE(equal(tensor({0.1}), tensor({0.1}, kFloat64)));
  EXPECT_TRUE(equal(ones({3}, kInt64), ones({3})));
  EXPECT_TRUE(equal(ones({0}), ones({0})));
  EXPECT_TRUE(equal(ones({2, 3}).t(), ones({3, 2})));
}

// ---- isclose and allclose ----------------------------------------------------------------------

TEST(Allclose, Broadcasts) {
  EXPECT_TRUE(allclose(ones({3}), ones({1})));
  EXPECT_TRUE(allclose(ones({2, 3}), ones({3})));
  EXPECT_TRUE(allclose(ones({3}), ones({2, 3})));
  EXPECT_TRUE(allclose(ones({0}), ones({1})));
  EXPECT_FALSE(allclose(tensor({{1.0, 2.0}, {1.0, 1.0}}), ones({2})));
  EXPECT_DYDX_ERROR(allclose(ones({3}), ones({2})), "isclose", "[3]", "[2]");
  EXPECT_DYDX_ERROR(allclose(ones({0}), ones({3})), "isclose");
}

TEST(Allclose, NanAndInfinities) {
  EXPECT_FALSE(allclose(tensor({kNan}), tensor({kNan})));
  EXPECT_TRUE(allclose(tensor({kNan, 1.0}), tensor({kNan, 1.0}), 1e-5, 1e-8, /*equal_nan=*/true));
  EXPECT_FALSE(allclose(tensor({kNan}), tensor({1.0}), 1e-5, 1e-8, true));
  EXPECT_TRUE(allclose(tensor({kInf, -kInf}), tensor({kInf, -kInf})));
  EXPECT_FALSE(allclose(tensor({kInf}), tensor({-kInf})));
  EXPECT_FALSE(allclose(tensor({kInf}), tensor({1e38}), 10.0));  // an infinite difference is never close
  EXPECT_TRUE(allclose(tensor({1.0}), tensor({2.0}), kInf));
  EXPECT_FALSE(allclose(tensor({1.0}), tensor({0.0}), kInf, 0.0));  // inf * 0 is nan
}

TEST(Allclose, ToleranceArithmeticIsInTheTensorsDtype) {
  // 1 + 2^-23 differs from 1 by one float32 ulp, which no positive tolerance misses.
  EXPECT_FALSE(allclose(tensor({1.0}), tensor({1.0 + std::ldexp(1.0, -23)}), 0.0, 1e-30));
  EXPECT_TRUE(allclose(tensor({1.0}), tensor({1.0 + 1e-6}), 0.0, 1.1e-6));
  // Integers: exactly equal with zero tolerances; compared in float32 otherwise, as PyTorch does.
  int64_t above[1] = {(int64_t{1} << 53) + 1}, at[1] = {int64_t{1} << 53};  // from_blob: no double on the way
  Tensor big_above = from_blob(above, {1}, kInt64), big = from_blob(at, {1}, kInt64);
  EXPECT_FALSE(allclose(big_above, big, 0.0, 0.0));
  EXPECT_TRUE(allclose(big_above, big, 1e-30, 0.0));
  EXPECT_TRUE(allclose(full({1}, 10, kInt64), full({1}, 9, kInt64), 0.0, 1.5));
  EXPECT_FALSE(allclose(full({1}, 10, kInt64), full({1}, 8, kInt64), 0.0, 1.5));
  EXPECT_TRUE(allclose(full({1}, 10, kInt64), full({1}, 9, kInt64), 0.2, 0.0));
}

TEST(Allclose, RejectsMixedDtypesAndNegativeTolerances) {
  EXPECT_DYDX_ERROR(allclose(ones({3}), ones({3}, kFloat64)), "allclose", "float32", "float64");
  EXPECT_DYDX_ERROR(allclose(ones({3}, kInt64), ones({3})), "allclose", "int64", "float32");
  EXPECT_DYDX_ERROR(allclose(ones({1}), ones({1}), -1.0), "rtol", "-1");
  EXPECT_DYDX_ERROR(allclose(ones({1}), ones({1}), 1e-5, -1.0), "atol", "-1");
  EXPECT_DYDX_ERROR(allclose(ones({1}), ones({1}), kNan), "rtol", "nan");
  EXPECT_DYDX_ERROR(isclose(ones({3}), ones({3}, kFloat64)), "isclose", "float32", "float64");
}

TEST(Isclose, GivesTheElementwiseMaskOverTheBroadcastShape) {
  Tensor mask = isclose(tensor({{1.0, kNan, kInf}, {2.0, 1.0, -kInf}}), tensor({1.0, kNan, kInf}));
  EXPECT_EQ(mask.sizes(), IntArrayRef({2, 3}));
  EXPECT_EQ(mask.dtype(), kBool);
  EXPECT_TRUE(HasValues(mask, {1, 0, 1, 0, 0, 0}, 0));
  EXPECT_TRUE(HasValues(isclose(tensor({kNan}), tensor({kNan}), 0.0, 0.0, true), {1}, 0));
  Tensor x = ones({2}).requires_grad_();
  EXPECT_FALSE(isclose(x, x).requires_grad());
}

// ---- matrix products never promote ------------------------------------------------------------

TEST(Products, RejectMixedDtypesNamingTheOpAndBoth) {
  Tensor f = ones({2, 2}), d = ones({2, 2}, kFloat64), i = ones({2, 2}, kInt64);
  EXPECT_DYDX_ERROR(mm(f, d), "mm", "float32", "float64");
  EXPECT_DYDX_ERROR(mm(d, f), "mm", "float64", "float32");
  EXPECT_DYDX_ERROR(mm(f, i), "mm", "float32", "int64");
  EXPECT_DYDX_ERROR(f.mm(d), "mm", "float32", "float64");
  EXPECT_DYDX_ERROR(matmul(f, d), "matmul", "float32", "float64");
  EXPECT_DYDX_ERROR(matmul(f.select(0, 0), d.select(0, 0)), "matmul", "float32", "float64");
  EXPECT_DYDX_ERROR(matmul(f.expand({3, 2, 2}), d), "matmul", "float32", "float64");
  EXPECT_DYDX_ERROR(matmul(f.expand({3, 2, 2}), d.expand({3, 2, 2})), "matmul");
  EXPECT_DYDX_ERROR(f.matmul(d), "matmul");
  EXPECT_DYDX_ERROR(bmm(f.unsqueeze(0), d.unsqueeze(0)), "bmm", "float32", "float64");
  EXPECT_DYDX_ERROR(addmm(d, f, f), "addmm", "float64", "float32");
  EXPECT_DYDX_ERROR(addmm(f, f, d), "addmm", "float64");
  EXPECT_DYDX_ERROR(addmm(f, d, d), "addmm", "float32");
  EXPECT_DYDX_ERROR(addmm(i, f, f), "addmm", "int64");
  EXPECT_DYDX_ERROR(linear(f, d), "linear", "float32", "float64");
  EXPECT_DYDX_ERROR(linear(f, f, ones({2}, kFloat64)), "linear", "float64");
  EXPECT_DYDX_ERROR(linear(f.unsqueeze(0), f, ones({2}, kFloat64)), "linear", "float64");
  EXPECT_DYDX_ERROR(linear(f, f, ones({2}, kInt64)), "linear", "int64");
}

TEST(Products, OfOneDtypeStillWork) {
  EXPECT_TRUE(HasValues(mm(ones({2, 2}, kInt64), ones({2, 2}, kInt64)), {2, 2, 2, 2}, 0));
  EXPECT_EQ(mm(ones({2, 2}, kInt64), ones({2, 2}, kInt64)).dtype(), kInt64);
  EXPECT_EQ(matmul(ones({2, 3}, kFloat64), ones({3}, kFloat64)).dtype(), kFloat64);
  EXPECT_TRUE(HasValues(addmm(ones({2}, kFloat64), ones({2, 3}, kFloat64), ones({3, 2}, kFloat64)), {4, 4, 4, 4}));
  EXPECT_TRUE(HasValues(linear(ones({1, 3}), ones({2, 3}), ones({2})), {4, 4}));
}

TEST(Products, ARejectedCallLeavesNoGraphBehind) {
  Tensor w = ones({2, 2}).requires_grad_();
  EXPECT_THROW(matmul(w, ones({2, 2}, kFloat64)), Error);
  EXPECT_FALSE(w.grad().defined());
}

// add_ and sub_ on integers truncated a fractional alpha (1 + 2.5 * 1 gave 3); PyTorch raises, as
// dydx's out-of-place add does.
TEST(InPlace, IntegerAddWithAFractionalAlphaIsRejectedBeforeWriting) {
  Tensor i = ones({2}, kInt64);
  EXPECT_DYDX_ERROR(i.add_(i, 2.5), "add_", "alpha", "2.5");
  EXPECT_DYDX_ERROR(i.sub_(ones({2}, kInt64), 0.5), "sub_", "alpha", "0.5");
  EXPECT_TRUE(HasValues(i, {1, 1}, 0));  // unchanged
  EXPECT_TRUE(HasValues(i.add_(ones({2}, kInt64), 3), {4, 4}, 0));
  Tensor f = ones({2});
  EXPECT_TRUE(HasValues(f.add_(ones({2}), 2.5), {3.5, 3.5}));
}

// ---- from_blob alignment -----------------------------------------------------------------------

TEST(FromBlob, RejectsAMisalignedPointerNamingItAndTheAlignment) {
  alignas(16) unsigned char bytes[64] = {};
  EXPECT_DYDX_ERROR(from_blob(bytes + 1, {3}, kFloat32), "from_blob", "not aligned", "float32", "multiple of 4");
  EXPECT_DYDX_ERROR(from_blob(bytes + 4, {3}, kFloat64), "from_blob", "not aligned", "float64", "multiple of 8");
  EXPECT_DYDX_ERROR(from_blob(bytes + 2, {3}, kInt64), "from_blob", "int64", "multiple of 8");
  EXPECT_DYDX_ERROR(from_blob(bytes + 3, {2, 2}, {1, 2}, kFloat32), "from_blob", "not aligned");
  bool deleted = false;
  EXPECT_DYDX_ERROR(from_blob(bytes + 1, {3}, [&](void*) { deleted = true; }, kFloat32), "not aligned");
  EXPECT_FALSE(deleted);  // the caller still owns memory from_blob refused
}

TEST(FromBlob, AcceptsAlignedPointersAndAliasesThem) {
  alignas(16) float values[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  Tensor t = from_blob(values + 1, {3}, kFloat32);  // 4-byte aligned is enough for float32
  EXPECT_TRUE(HasValues(t * 2.0, {4, 6, 8}));
  values[2] = 30;
  EXPECT_EQ(t[1].item<float>(), 30.0f);  // an alias, not a copy
  alignas(16) unsigned char bytes[8] = {};
  EXPECT_EQ(from_blob(bytes + 1, {0}, kFloat32).numel(), 0);  // nothing is ever loaded
}

}  // namespace
