// The bool dtype: what comparisons return, what masks are made of, and how bool operands take part
// in PyTorch's type promotion. Expected values and messages are PyTorch 1.13's (run with
// /usr/bin/python3 when these tests were written) or follow from C++'s own operators.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <vector>

#include <dydx/serialize.hpp>

#include "test_util.hpp"

using namespace dydx;
using dydx::testing::error_of;
using dydx::testing::HasValues;
using dydx::testing::ThrowsWith;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<int64_t> bits(const Tensor& t) {
  EXPECT_EQ(t.dtype(), kBool);
  return t.to_vector<int64_t>();
}

// Every pair of a list of awkward values: a column against a row, broadcast to a table.
const std::vector<double> kAwkward = {kNan, -kInf, -1.5, -0.0, 0.0, 0.5, 1.0, kInf};

template <class F>
std::vector<int64_t> pair_table(F f) {
  std::vector<int64_t> out;
  for (double x : kAwkward)
    for (double y : kAwkward) out.push_back(f(x, y) ? 1 : 0);
  return out;
}

}  // namespace

TEST(BoolDtype, BasicsAsPyTorch) {
  EXPECT_EQ(element_size(kBool), 1u);
  EXPECT_FALSE(is_floating_point(kBool));
  EXPECT_STREQ(dtype_name(kBool), "bool");
  // Promotion: bool < int64 < float32 < float64.
  EXPECT_EQ(promote_types(kBool, kBool), kBool);
  EXPECT_EQ(promote_types(kBool, kInt64), kInt64);
  EXPECT_EQ(promote_types(kFloat32, kBool), kFloat32);
  EXPECT_EQ(promote_types(kBool, kFloat64), kFloat64);
  EXPECT_THROW(ones({2}, kBool).requires_grad_(), Error);
}

TEST(BoolDtype, CreationInfersBoolFromBoolValues) {
  Tensor t = tensor({true, false, true});
  EXPECT_EQ(t.dtype(), kBool);
  EXPECT_EQ(bits(t), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(tensor({{true}, {false}}).sizes(), (Dims{2, 1}));
  EXPECT_EQ(tensor(std::vector<bool>{false, true}).dtype(), kBool);
  // Mixed with integers the list is int64, as torch.tensor([True, 2]).
  EXPECT_EQ(tensor({true, 2}).dtype(), kInt64);
  EXPECT_EQ(full({2}, true).dtype(), kBool);
  EXPECT_EQ(bits(full({2}, 0.5, kBool)), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(bits(zeros({3}, kBool)), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(bits(ones({2}, kBool)), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(bits(eye(2, kBool)), (std::vector<int64_t>{1, 0, 0, 1}));
  EXPECT_EQ(bits(zeros_like(t)), (std::vector<int64_t>{0, 0, 0}));
  // randint can fill bools (PyTorch too); the ranges have no bool kernel.
  Tensor r = randint(0, 2, {64}, kBool);
  EXPECT_EQ(r.dtype(), kBool);
  for (int64_t v : r.to_vector<int64_t>()) EXPECT_TRUE(v == 0 || v == 1);
  EXPECT_TRUE(ThrowsWith([] { arange(3, kBool); }, {"arange", "bool"}));
  EXPECT_TRUE(ThrowsWith([] { linspace(0, 1, 3, kBool); }, {"linspace", "bool"}));
  EXPECT_TRUE(ThrowsWith([] { randperm(3, kBool); }, {"randperm", "bool"}));
  EXPECT_TRUE(ThrowsWith([] { rand({2}, kBool); }, {"bool"}));
}

TEST(BoolDtype, ConversionsAsPyTorch) {
  // Nonzero is true: nan and inf are, -0.0 is not.
  Tensor f = tensor({0.0, -0.0, 0.5, -2.0, kNan, kInf, 1e-320}, kFloat64);
  EXPECT_EQ(bits(f.to(kBool)), (std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(bits(f.to(kFloat32).to(kBool)), (std::vector<int64_t>{0, 0, 1, 1, 1, 1, 0}));  // 1e-320 flushes to 0 in f32
  EXPECT_EQ(bits(tensor({int64_t{0}, INT64_MIN, int64_t{2}}).to(kBool)), (std::vector<int64_t>{0, 1, 1}));
  Tensor b = tensor({true, false});
  EXPECT_TRUE(HasValues(b.to(kFloat64), {1, 0}));
  EXPECT_EQ(b.to(kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(tensor({true}).item<bool>());
  EXPECT_FALSE(full({}, 0.0).item<bool>());
  EXPECT_TRUE(full({}, kNan).item<bool>());
  EXPECT_EQ(full({}, true).item<int64_t>(), 1);
  EXPECT_EQ(full({}, true).item<double>(), 1.0);
  EXPECT_EQ(b.data_ptr<bool>()[0], true);
  EXPECT_THROW(b.data_ptr<int64_t>(), Error);
}

TEST(BoolComparisons, EveryPairOfAwkwardValuesAsCpp) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    Tensor column = tensor(kAwkward, dtype).reshape({-1, 1}), row = tensor(kAwkward, dtype);
    EXPECT_EQ(bits(eq(column, row)), pair_table([](double x, double y) { return x == y; }));
    EXPECT_EQ(bits(ne(column, row)), pair_table([](double x, double y) { return x != y; }));
    EXPECT_EQ(bits(lt(column, row)), pair_table([](double x, double y) { return x < y; }));
    EXPECT_EQ(bits(le(column, row)), pair_table([](double x, double y) { return x <= y; }));
    EXPECT_EQ(bits(gt(column, row)), pair_table([](double x, double y) { return x > y; }));
    EXPECT_EQ(bits(ge(column, row)), pair_table([](double x, double y) { return x >= y; }));
    EXPECT_EQ(bits(column == row), bits(eq(column, row)));
    EXPECT_EQ(bits(column != row), bits(ne(column, row)));
    EXPECT_EQ(bits(column < row), bits(lt(column, row)));
    EXPECT_EQ(bits(column <= row), bits(le(column, row)));
    EXPECT_EQ(bits(column > row), bits(gt(column, row)));
    EXPECT_EQ(bits(column >= row), bits(ge(column, row)));
  }
}

TEST(BoolComparisons, ScalarsAndMixedDtypesAsPyTorch) {
  Tensor x = tensor({-1.0, 0.0, 2.0});
  EXPECT_EQ(bits(x > 0), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(bits(0 < x), (std::vector<int64_t>{0, 0, 1}));  // mirrored
  EXPECT_EQ(bits(0 >= x), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(bits(2.0 == x), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(bits(x.ge(0)), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(bits(x.ne(x)), (std::vector<int64_t>{0, 0, 0}));
  // int64 against an integer compares exactly, near int64's extremes too.
  Tensor big = tensor({INT64_MAX, INT64_MAX - 1, INT64_MIN});
  EXPECT_EQ(bits(big == INT64_MAX), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(bits(big > INT64_MAX - 1), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(bits(big < tensor({INT64_MAX, INT64_MAX, INT64_MIN + 1})), (std::vector<int64_t>{0, 1, 1}));
  // int64 against a float compares in float32 (the default dtype), as PyTorch: 2^24 + 1 rounds to 2^24.
  EXPECT_EQ(bits(tensor({int64_t{16777217}}) == 16777216.0), (std::vector<int64_t>{1}));
  EXPECT_EQ(bits(tensor({int64_t{0}, int64_t{1}}) > 0.5), (std::vector<int64_t>{0, 1}));
  // Bool against numbers.
  Tensor b = tensor({true, false, true});
  EXPECT_EQ(bits(b == 1), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(bits(b > 0.5), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(bits(b == b), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bits(lt(b, tensor({1.0, 1.0, 2.0}))), (std::vector<int64_t>{0, 1, 1}));
  // Broadcasting, and shape errors that name the op.
  EXPECT_EQ(gt(ones({2, 1}), ones({3})).sizes(), (Dims{2, 3}));
  EXPECT_TRUE(ThrowsWith([] { le(ones({2}), ones({3})); }, {"le", "[2]", "[3]"}));
  EXPECT_TRUE(ThrowsWith([] { eq(Tensor(), ones({1})); }, {"undefined"}));
}

TEST(BoolComparisons, CarryNoGradientAndWorkOnViews) {
  Tensor x = tensor({1.0, -2.0, 3.0}, dtype(kFloat64).requires_grad(true));
  Tensor m = x * 2 > 0;
  EXPECT_FALSE(m.requires_grad());
  EXPECT_EQ(m.grad_fn(), nullptr);
  // Expanded, transposed and strided operands.
  Tensor base = arange(12, kFloat64).reshape({3, 4});
  Tensor t = base.t();
  EXPECT_EQ(bits(t > 5).size(), 12u);
  EXPECT_EQ(bits(t > 5), bits(t.contiguous() > 5));
  Tensor strided = base.slice(1, 0, 4, 2);
  EXPECT_EQ(bits(strided >= 4), (std::vector<int64_t>{0, 0, 1, 1, 1, 1}));
  Tensor expanded = tensor({1.0, 5.0}).reshape({2, 1}).expand({2, 3});
  EXPECT_EQ(bits(expanded > 2), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
  // Zero-size and 0-d.
  EXPECT_EQ(gt(zeros({0, 3}), 0).sizes(), (Dims{0, 3}));
  EXPECT_EQ(bits(full({}, 2.0) > 1), (std::vector<int64_t>{1}));
}

TEST(BoolComparisons, LongTensorsAgreeOnEveryThreadCount) {
  Tensor x = randn({3, 100003}, dtype(kFloat64)), y = randn({100003}, dtype(kFloat64));
  std::vector<int64_t> one_thread;
  {
    dydx::testing::ThreadCount threads(1);
    one_thread = bits(logical_xor(x > y, isnan(x)));
  }
  for (int n : {2, 4, 8}) {
    dydx::testing::ThreadCount threads(n);
    EXPECT_EQ(bits(logical_xor(x > y, isnan(x))), one_thread) << n << " threads";
  }
}

TEST(BoolLogic, LogicalAndBitwiseOpsAsPyTorch) {
  Tensor b = tensor({true, false, true, false}), c = tensor({true, true, false, false});
  EXPECT_EQ(bits(b & c), (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(bits(b | c), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(bits(b ^ c), (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(bits(~b), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(bits(b.logical_not()), (std::vector<int64_t>{0, 1, 0, 1}));
  // Logical ops take any dtype, nonzero (nan included) being true.
  Tensor f = tensor({0.0, kNan, -0.0, 2.0});
  EXPECT_EQ(bits(logical_and(f, c)), (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(bits(logical_or(f, tensor({int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0}}))), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(bits(logical_xor(f, b)), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(bits(logical_not(f)), (std::vector<int64_t>{1, 0, 1, 0}));
  // Bitwise ops on int64 are bitwise, and mixing with bool promotes to int64.
  Tensor i = tensor({int64_t{6}, int64_t{-1}, INT64_MIN, int64_t{0}});
  EXPECT_EQ((i & tensor({int64_t{3}})).to_vector<int64_t>(), (std::vector<int64_t>{2, 3, 0, 0}));
  EXPECT_EQ((i | b).to_vector<int64_t>(), (std::vector<int64_t>{7, -1, INT64_MIN + 1, 0}));
  EXPECT_EQ((i ^ i).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ((~i).to_vector<int64_t>(), (std::vector<int64_t>{-7, 0, INT64_MAX, -1}));
  EXPECT_EQ((b & i).dtype(), kInt64);
  // A scalar operand: a bool one keeps a mask bool, an integer one promotes it to int64.
  EXPECT_EQ(bits(b & true), (std::vector<int64_t>{1, 0, 1, 0}));
  EXPECT_EQ(bits(b ^ true), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ((b | 2).to_vector<int64_t>(), (std::vector<int64_t>{3, 2, 3, 2}));
  EXPECT_EQ((i & 5).to_vector<int64_t>(), (std::vector<int64_t>{4, 5, 0, 0}));
  EXPECT_TRUE(ThrowsWith([&] { (void)(f & f); }, {"bitwise_and", "float32"}));
  EXPECT_TRUE(ThrowsWith([&] { (void)~f; }, {"bitwise_not", "float32"}));
}

TEST(BoolLogic, IsnanIsinfIsfinite) {
  Tensor f = tensor({kNan, kInf, -kInf, 0.0, -1.0});
  EXPECT_EQ(bits(isnan(f)), (std::vector<int64_t>{1, 0, 0, 0, 0}));
  EXPECT_EQ(bits(f.isinf()), (std::vector<int64_t>{0, 1, 1, 0, 0}));
  EXPECT_EQ(bits(isfinite(f.to(kFloat32))), (std::vector<int64_t>{0, 0, 0, 1, 1}));
  Tensor i = tensor({INT64_MIN, INT64_MAX});
  EXPECT_EQ(bits(isnan(i)), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(bits(isinf(i)), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(bits(isfinite(tensor({true}))), (std::vector<int64_t>{1}));
}

TEST(BoolLogic, AnyAndAll) {
  Tensor m = tensor({{true, false, false}, {true, true, true}});
  EXPECT_TRUE(m.any().item<bool>());
  EXPECT_FALSE(m.all().item<bool>());
  EXPECT_EQ(m.any().dim(), 0);
  EXPECT_EQ(bits(m.all(1)), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(bits(m.any(0)), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(m.all(-1, true).sizes(), (Dims{2, 1}));
  // Other dtypes: nonzero is true, nan included.
  EXPECT_TRUE(any(tensor({0.0, kNan})).item<bool>());
  EXPECT_FALSE(all(tensor({1.0, -0.0})).item<bool>());
  EXPECT_TRUE(all(tensor({INT64_MIN, int64_t{1}})).item<bool>());
  // Empty: any is false and all is true, along a dim too.
  EXPECT_FALSE(any(zeros({0})).item<bool>());
  EXPECT_TRUE(all(zeros({0})).item<bool>());
  EXPECT_EQ(bits(all(zeros({2, 0}), 1)), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(bits(any(zeros({2, 0}), 1)), (std::vector<int64_t>{0, 0}));
  // 0-d accepts dim 0 and -1.
  EXPECT_TRUE(all(full({}, 3.0), 0).item<bool>());
  EXPECT_TRUE(ThrowsWith([&] { m.any(2); }, {"any", "dim 2"}));
  EXPECT_TRUE(ThrowsWith([&] { m.all(-3); }, {"all", "dim -3"}));
}

TEST(BoolArithmetic, PromotionAndPyTorchsRules) {
  Tensor b = tensor({true, false, true}), c = tensor({true, true, false});
  // Two bools: add is or, mul is and, maximum or, minimum and; all stay bool.
  EXPECT_EQ(bits(b + c), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bits(b * c), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(bits(maximum(b, c)), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bits(minimum(b, c)), (std::vector<int64_t>{1, 0, 0}));
  // With numbers, bool promotes.
  Tensor i = b + 1;
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{2, 1, 2}));
  EXPECT_EQ((b * 2.5).dtype(), kFloat32);
  EXPECT_TRUE(HasValues(b * 2.5, {2.5, 0, 2.5}));
  EXPECT_EQ((b + tensor({1.0, 2.0, 3.0}, kFloat64)).dtype(), kFloat64);
  Tensor q = b / c;
  EXPECT_EQ(q.dtype(), kFloat32);
  EXPECT_TRUE(std::isinf(q.to_vector<double>()[2]));
  EXPECT_TRUE(std::isnan((b / b).to_vector<double>()[1]));  // 0 / 0
  EXPECT_EQ((b * tensor({int64_t{5}})).to_vector<int64_t>(), (std::vector<int64_t>{5, 0, 5}));
  // A 0-d int64 tensor promotes a bool tensor (its category is higher); a 0-d bool does not promote int64.
  EXPECT_EQ((b + full({}, int64_t{3})).dtype(), kInt64);
  EXPECT_EQ((tensor({int64_t{1}}) + full({}, true)).dtype(), kInt64);
  // Functions of one bool: floating ones give float32, integer-keeping ones int64.
  EXPECT_EQ(exp(b).dtype(), kFloat32);
  EXPECT_TRUE(HasValues(exp(b), {std::exp(1.0), 1, std::exp(1.0)}));
  EXPECT_EQ(b.sum().dtype(), kInt64);
  EXPECT_EQ(b.sum().item<int64_t>(), 2);
  EXPECT_EQ(tensor({{true, true}, {false, true}}).sum({0}).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(b.max().item<bool>());
  EXPECT_EQ(b.max().dtype(), kBool);
  EXPECT_FALSE(b.min().item<bool>());
  EXPECT_EQ(std::get<1>(b.min(0)).item<int64_t>(), 1);
  EXPECT_EQ(bits(sign(b)), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(clamp(b, 0, 1).dtype(), kInt64);
  EXPECT_EQ(clamp(b, 0, true).dtype(), kInt64);
  EXPECT_TRUE(ThrowsWith([&] { clamp(b, false, false); }, {"clamp", "bool bounds"}));
  EXPECT_TRUE(ThrowsWith([&] { clamp(b, true); }, {"clamp", "bool bounds"}));
}

TEST(BoolArithmetic, ErrorsAsPyTorch) {
  Tensor b = tensor({true, false});
  EXPECT_TRUE(ThrowsWith([&] { (void)(b - b); }, {"Subtraction, the `-` operator, with two bool tensors is not supported",
                                                   "logical_xor()"}));
  EXPECT_TRUE(ThrowsWith([&] { (void)(1 - b); }, {"with a bool tensor is not supported", "logical_not()"}));
  EXPECT_TRUE(ThrowsWith([&] { (void)(b - 1); }, {"with a bool tensor is not supported"}));
  EXPECT_TRUE(ThrowsWith([&] { (void)(tensor({1.0, 2.0}) - b); }, {"with a bool tensor is not supported"}));
  EXPECT_TRUE(ThrowsWith([&] { (void)(-b); }, {"Negation, the `-` operator, on a bool tensor is not supported"}));
  EXPECT_TRUE(ThrowsWith([&] { b.mean(); }, {"mean", "bool"}));
  EXPECT_TRUE(ThrowsWith([&] { fmod(b, b); }, {"fmod", "bool"}));
  EXPECT_TRUE(ThrowsWith([&] { add(b, b, 2); }, {"add", "alpha"}));
  // In place: a result of a higher category cannot be written into bool, and nothing changes.
  Tensor target = tensor({true, false});
  EXPECT_TRUE(ThrowsWith([&] { target.add_(1); }, {"add_", "int64", "bool"}));
  EXPECT_TRUE(ThrowsWith([&] { target.mul_(2.5); }, {"mul_", "float32", "bool"}));
  EXPECT_TRUE(ThrowsWith([&] { target.div_(tensor({true, true})); }, {"div_", "float32", "bool"}));
  EXPECT_TRUE(ThrowsWith([&] { target.exp_(); }, {"bool"}));
  EXPECT_EQ(bits(target), (std::vector<int64_t>{1, 0}));
  // An int64 or float tensor takes a bool operand in place.
  Tensor f = tensor({1.0, 2.0});
  f.add_(b);
  EXPECT_TRUE(HasValues(f, {2, 2}));
  // fill_, zero_ and copy_ write bools.
  target.fill_(2.5);
  EXPECT_EQ(bits(target), (std::vector<int64_t>{1, 1}));
  target.copy_(tensor({0.0, kNan}));
  EXPECT_EQ(bits(target), (std::vector<int64_t>{0, 1}));
  target.zero_();
  EXPECT_EQ(bits(target), (std::vector<int64_t>{0, 0}));
}

// PyTorch 1.13: a = tensor([True, False, True, False]); a.add_(tensor([True, True, False, False]))
// gives [True, True, True, False] (or), and mul_ gives [True, False, False, False] (and).
TEST(BoolArithmetic, InPlaceAddIsOrAndMulIsAnd) {
  const Tensor other = tensor({true, true, false, false});
  Tensor a = tensor({true, false, true, false});
  a.add_(other);
  EXPECT_EQ(bits(a), (std::vector<int64_t>{1, 1, 1, 0}));
  Tensor m = tensor({true, false, true, false});
  m.mul_(other);
  EXPECT_EQ(bits(m), (std::vector<int64_t>{1, 0, 0, 0}));
  // A strided self and a broadcast 0-d operand or scalar, as t[:, ::2].add_(tensor(True)).
  Tensor grid = zeros({2, 4}, kBool);
  grid.index({indexing::Slice(), indexing::Slice(0, 4, 2)}).add_(full({}, true));
  EXPECT_EQ(bits(grid), (std::vector<int64_t>{1, 0, 1, 0, 1, 0, 1, 0}));
  grid.mul_(false);
  EXPECT_EQ(bits(grid), (std::vector<int64_t>(8, 0)));
  // alpha must be 1, as for add on bools; a failed add_ leaves self as it was.
  Tensor kept = tensor({false, true});
  EXPECT_TRUE(ThrowsWith([&] { kept.add_(tensor({true, true}), 2); }, {"add_", "alpha", "bool"}));
  EXPECT_EQ(bits(kept), (std::vector<int64_t>{0, 1}));
}

// PyTorch 1.13 has no bool kernel for relu or abs: torch.relu(tensor([True, False])) raises "Boolean
// inputs not supported for relu", and torch.abs raises '"abs_cpu" not implemented for 'Bool''. (They
// gave int64 [1, 0] here.) clamp with integer bounds promotes to int64, as PyTorch's.
TEST(BoolArithmetic, ReluAndAbsRefuseBoolAsPyTorch) {
  const Tensor b = tensor({true, false});
  EXPECT_TRUE(ThrowsWith([&] { relu(b); }, {"relu", "Boolean inputs not supported"}));
  EXPECT_TRUE(ThrowsWith([&] { abs(b); }, {"abs", "not implemented for 'Bool'"}));
  EXPECT_TRUE(ThrowsWith([&] { b.relu(); }, {"relu", "Boolean"}));
  Tensor clamped = clamp(b, 0, 0);
  EXPECT_EQ(clamped.dtype(), kInt64);
  EXPECT_TRUE(HasValues(clamped, {0, 0}));
}

// PyTorch 1.13 refuses a bool operand of sub_ whatever self's dtype, as it refuses b - x and x - b:
// tensor([1, 2]).sub_(tensor([True, False])) raises rather than giving [0, 2].
TEST(BoolArithmetic, InPlaceSubRefusesBoolOperands) {
  const Tensor mask = tensor({true, false});
  Tensor i = tensor({1LL, 2LL});
  EXPECT_TRUE(ThrowsWith([&] { i.sub_(mask); }, {"sub_", "with a bool tensor is not supported", "logical_not()"}));
  EXPECT_TRUE(HasValues(i, {1, 2}));
  Tensor f = tensor({1.0, 2.0});
  EXPECT_TRUE(ThrowsWith([&] { f.sub_(full({}, true)); }, {"sub_", "with a bool tensor is not supported"}));
  EXPECT_TRUE(HasValues(f, {1, 2}));
  Tensor b = tensor({true, false});
  EXPECT_TRUE(ThrowsWith([&] { b.sub_(mask); }, {"sub_", "with two bool tensors is not supported", "logical_xor()"}));
  EXPECT_EQ(bits(b), (std::vector<int64_t>{1, 0}));
}

// PyTorch 1.13's index_put_ writes a one-element value through a single bool mask as masked_fill_,
// converting it to self's dtype; every other index_put_ requires the dtypes to match. From
// PyTorch: torch.zeros(3, dtype=torch.int64).index_put_((mask,), tensor(2.7)) is [2, 0, 2], and
// the gradient of (zeros(3).index_put_((mask,), v) * [3, 5, 7]).sum() for a float64 v is 10.
TEST(BoolMasks, IndexPutOfOneValueThroughAMaskConvertsIt) {
  const Tensor mask = tensor({true, false, true});
  Tensor i = zeros({3}, kInt64);
  i.index_put_({mask}, full({}, 2.7));
  EXPECT_TRUE(HasValues(i, {2, 0, 2}));
  EXPECT_EQ(i.dtype(), kInt64);
  Tensor b = zeros({3}, kBool);
  b.index_put_({mask}, full({}, 2.0));
  EXPECT_EQ(bits(b), (std::vector<int64_t>{1, 0, 1}));
  Tensor rows = zeros({2, 3}, kInt64);
  rows.index_put_({tensor({false, true})}, full({1}, 2.9));
  EXPECT_TRUE(HasValues(rows, {0, 0, 0, 2, 2, 2}));
  Tensor f = zeros({2, 3});
  f.index_put_({indexing::Slice(), mask}, full({}, int64_t{4}));
  EXPECT_TRUE(HasValues(f, {4, 0, 4, 4, 0, 4}));
  // The gradient flows through the conversion, in the value's dtype.
  Tensor v = full({}, 1.5, kFloat64).requires_grad_(true);
  Tensor y = zeros({3});
  y.index_put_({mask}, v);
  EXPECT_TRUE(HasValues(y, {1.5, 0, 1.5}));
  (y * tensor({3.0f, 5.0f, 7.0f})).sum().backward();
  EXPECT_EQ(v.grad().dtype(), kFloat64);
  EXPECT_TRUE(HasValues(v.grad(), {10}));
  // Anything else still needs matching dtypes, and a value that int64 cannot hold is refused as
  // masked_fill refuses it; nothing changes.
  Tensor kept = zeros({3}, kInt64);
  EXPECT_TRUE(ThrowsWith([&] { kept.index_put_({mask}, full({}, 1e19)); }, {"index_put_", "1e+19", "int64"}));
  EXPECT_TRUE(ThrowsWith([&] { kept.index_put_({mask}, tensor({2.5, 3.5})); }, {"index_put_", "dtypes match"}));
  EXPECT_TRUE(ThrowsWith([&] { kept.index_put_({mask}, full({}, 2.5), true); }, {"index_put_", "dtypes match"}));
  EXPECT_TRUE(ThrowsWith([&] { kept.index_put_({tensor({int64_t{0}})}, full({}, 2.5)); }, {"index_put_", "dtypes match"}));
  EXPECT_TRUE(HasValues(kept, {0, 0, 0}));
}

TEST(BoolMasks, WhereTakesOnlyBool) {
  Tensor x = tensor({1.0, -2.0, 3.0}, dtype(kFloat64).requires_grad(true));
  Tensor y = where(x > 0, x * x, -x);
  EXPECT_TRUE(HasValues(y, {1, 2, 9}));
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, -1, 6}));
  // Bool values, and a broadcast bool condition.
  EXPECT_EQ(bits(where(tensor({true, false}), tensor({true, true}), tensor({false, false}))), (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(HasValues(where(full({}, true), ones({2}), zeros({2})), {1, 1}));
  // PyTorch 1.13 raises for any other condition dtype.
  EXPECT_TRUE(ThrowsWith([] { where(ones({2}), ones({2}), ones({2})); },
                         {"where", "expected condition to be a boolean tensor", "float32"}));
  EXPECT_TRUE(ThrowsWith([] { where(ones({2}, kInt64), ones({2}), ones({2})); }, {"where", "int64"}));
}

TEST(BoolMasks, MaskedFillAndMaskedSelect) {
  Tensor x = tensor({1.0, 2.0, 3.0}, dtype(kFloat64).requires_grad(true));
  Tensor y = x.masked_fill(x > 1.5, -1);
  EXPECT_TRUE(HasValues(y, {1, -1, -1}));
  (y * y).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 0, 0}));
  // A float mask means nonzero, as PyTorch 1.13 still accepts (a fractional value is set).
  EXPECT_TRUE(HasValues(x.detach().masked_fill(tensor({0.0, 0.5, 0.0}, kFloat64), 7), {1, 7, 3}));
  // A bool tensor filled.
  EXPECT_EQ(bits(tensor({true, false}).masked_fill(tensor({true, true}), false)), (std::vector<int64_t>{0, 0}));
  EXPECT_TRUE(HasValues(x.detach().masked_select(x.detach() != 2), {1, 3}));
  EXPECT_TRUE(ThrowsWith([&] { x.masked_select(ones({3})); }, {"masked_select", "bool", "float32"}));
}

TEST(BoolMasks, IndexingByBoolTensors) {
  Tensor x = arange(12, kFloat64).reshape({3, 4});
  EXPECT_TRUE(HasValues(x.index({x > 8.5}), {9, 10, 11}));
  // A 1-D mask over the first dim, then a slice, as x[mask, 1:].
  Tensor rows = tensor({true, false, true});
  EXPECT_TRUE(HasValues(x.index({rows, indexing::Slice(1)}), {1, 2, 3, 9, 10, 11}));
  EXPECT_EQ(x.index({rows, indexing::Slice(1)}).sizes(), (Dims{2, 3}));
  // 0-d masks: x[True] adds a dim of size 1, x[False] one of size 0.
  EXPECT_EQ(x.index({full({}, true)}).sizes(), (Dims{1, 3, 4}));
  EXPECT_EQ(x.index({full({}, false)}).sizes(), (Dims{0, 3, 4}));
  // Bool tensors are indexed too.
  Tensor m = x > 5;
  EXPECT_EQ(bits(m.index({tensor({int64_t{2}, int64_t{0}})})), (std::vector<int64_t>{1, 1, 1, 1, 0, 0, 0, 0}));
  // Writes through a mask, and the gradient of a masked read.
  Tensor w = x.clone();
  w.index_put_({w > 9}, -1.0);
  EXPECT_TRUE(HasValues(w.index({indexing::Slice(2)}), {8, 9, -1, -1}));
  Tensor v = tensor({1.0, 2.0, 3.0}, dtype(kFloat64).requires_grad(true));
  (v.index({v >= 2}) * 10).sum().backward();
  EXPECT_TRUE(HasValues(v.grad(), {0, 10, 10}));
  // A float index raises, as PyTorch's: it is neither positions nor a mask.
  EXPECT_TRUE(ThrowsWith([&] { x.index({tensor({0.0, 1.0})}); }, {"index", "must be long or bool tensors", "float32"}));
  EXPECT_TRUE(ThrowsWith([&] { x.index({tensor({true, false})}); }, {"mask", "[2]"}));
  EXPECT_EQ(nonzero(tensor({false, true, true})).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
}

TEST(BoolMasks, GatherScatterAndCatMoveBools) {
  Tensor b = tensor({{true, false}, {false, true}});
  EXPECT_EQ(bits(b.gather(1, tensor({{int64_t{1}}, {int64_t{1}}}))), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(bits(b.index_select(0, tensor({int64_t{1}, int64_t{1}}))), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(bits(zeros({3}, kBool).scatter(0, tensor({int64_t{2}}), tensor({true}))), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(bits(cat({b, b}, 0)), (std::vector<int64_t>{1, 0, 0, 1, 1, 0, 0, 1}));
  EXPECT_EQ(bits(b.t().contiguous()), (std::vector<int64_t>{1, 0, 0, 1}));
  EXPECT_EQ(bits(b.unsqueeze(0).expand({2, 2, 2}).contiguous()), (std::vector<int64_t>{1, 0, 0, 1, 1, 0, 0, 1}));
  EXPECT_EQ(cat({b, ones({2, 2})}, 0).dtype(), kFloat32);
}

TEST(BoolPrint, AsPyTorch) {
  EXPECT_EQ(to_string(tensor({true, false})), "tensor([ True, False])");
  EXPECT_EQ(to_string(tensor({true, true, true})), "tensor([True, True, True])");
  EXPECT_EQ(to_string(full({}, true)), "tensor(True)");
  EXPECT_EQ(to_string(zeros({0}, kBool)), "tensor([], dtype=torch.bool)");
  EXPECT_EQ(to_string(zeros({2, 3}, kBool)), "tensor([[False, False, False],\n        [False, False, False]])");
  EXPECT_EQ(to_string(tensor({true, false, true}).reshape({3, 1}).expand({3, 2})),
            "tensor([[ True,  True],\n        [False, False],\n        [ True,  True]])");
  std::ostringstream os;
  os << Scalar(true) << " " << kBool;
  EXPECT_EQ(os.str(), "true bool");
}

TEST(BoolSafetensors, RoundTripAndCorruptBytes) {
  const std::string path = (std::filesystem::temp_directory_path() / "dydx_bool_test.safetensors").string();
  Tensor m = tensor({{true, false, true}, {false, false, true}});
  save_safetensors({{"mask", m}}, path);
  Tensor back = load_safetensors(path).at("mask");
  EXPECT_EQ(back.dtype(), kBool);
  EXPECT_EQ(back.sizes(), m.sizes());
  EXPECT_EQ(bits(back), bits(m));
  // A BOOL byte other than 0 or 1 is refused rather than read as a bool.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    f.seekp(size - 2);
    f.put(static_cast<char>(2));
  }
  EXPECT_TRUE(ThrowsWith([&] { load_safetensors(path); }, {"load_safetensors", "\"mask\"", "BOOL", "byte 2"}));
  std::remove(path.c_str());
}

// Every public op given bool tensors either computes (as PyTorch does) or raises a dydx::Error;
// none reads a one-byte element as a wider one (ASan checks that in the sanitizer build).
TEST(BoolInputs, EveryOpComputesOrRaisesCleanly) {
  const Tensor b = tensor({{true, false, true}, {false, true, true}});
  const Tensor b4 = fmod(arange(2 * 3 * 4 * 4).reshape({2, 3, 4, 4}), 3) == 0;
  const Tensor f = b.to(kFloat32);
  const Tensor idx = tensor({{int64_t{0}}, {int64_t{2}}});
  namespace F = nn::functional;
  const std::vector<std::pair<const char*, std::function<Tensor()>>> ops = {
      {"exp", [&] { return exp(b); }}, {"log", [&] { return log(b); }}, {"sqrt", [&] { return sqrt(b); }},
      {"sin", [&] { return sin(b); }}, {"cos", [&] { return cos(b); }}, {"tan", [&] { return tan(b); }},
      {"tanh", [&] { return tanh(b); }}, {"sigmoid", [&] { return sigmoid(b); }}, {"relu", [&] { return relu(b); }},
      {"abs", [&] { return abs(b); }}, {"log1p", [&] { return log1p(b); }}, {"expm1", [&] { return expm1(b); }},
      {"erf", [&] { return erf(b); }}, {"erfc", [&] { return erfc(b); }}, {"asin", [&] { return asin(b); }},
      {"acos", [&] { return acos(b); }}, {"atan", [&] { return atan(b); }}, {"sinh", [&] { return sinh(b); }},
      {"cosh", [&] { return cosh(b); }}, {"asinh", [&] { return asinh(b); }}, {"acosh", [&] { return acosh(b); }},
      {"atanh", [&] { return atanh(b); }}, {"reciprocal", [&] { return reciprocal(b); }},
      {"rsqrt", [&] { return rsqrt(b); }}, {"square", [&] { return square(b); }}, {"log2", [&] { return log2(b); }},
      {"log10", [&] { return log10(b); }}, {"exp2", [&] { return exp2(b); }}, {"floor", [&] { return floor(b); }},
      {"ceil", [&] { return ceil(b); }}, {"round", [&] { return round(b); }}, {"trunc", [&] { return trunc(b); }},
      {"frac", [&] { return frac(b); }},
      {"silu", [&] { return silu(b); }}, {"gelu", [&] { return gelu(b); }},
      {"elu", [&] { return elu(b); }}, {"softplus", [&] { return softplus(b); }},
      {"leaky_relu", [&] { return leaky_relu(b); }}, {"clamp", [&] { return clamp(b, 0.5, 1.0); }},
      {"pow scalar", [&] { return pow(b, 2); }}, {"pow tensor", [&] { return pow(b, b); }},
      {"pow base", [&] { return pow(2.0, b); }}, {"atan2", [&] { return atan2(b, b); }},
      {"hypot", [&] { return hypot(b, b); }}, {"fmod scalar", [&] { return fmod(b, 2); }},
      {"div", [&] { return div(b, b); }}, {"mul float", [&] { return b * f; }},
      {"matmul", [&] { return matmul(b, b.t()); }}, {"mm", [&] { return mm(b, b.t()); }},
      {"bmm", [&] { return bmm(b.unsqueeze(0), b.t().unsqueeze(0)); }}, {"linear", [&] { return linear(f, b); }},
      {"addmm", [&] { return addmm(b, b, b.t().slice(1, 0, 3)); }},
      {"einsum", [&] { return einsum("ij,kj->ik", {b, b}); }},
      {"sum dims", [&] { return b.sum({1}); }}, {"mean", [&] { return b.mean(); }},
      {"max dim", [&] { return std::get<0>(b.max(1)); }}, {"argmax", [&] { return argmax(b); }},
      {"argmin dim", [&] { return argmin(b, 1); }}, {"diagonal", [&] { return b.diagonal(1); }},
      {"diag", [&] { return diag(b); }}, {"diag vector", [&] { return diag(b.select(0, 0), -1); }},
      {"trace", [&] { return trace(b); }}, {"tril", [&] { return tril(b4, 1); }}, {"triu", [&] { return triu(b, -1); }},
      {"var", [&] { return b.var(); }},
      {"argmin dim", [&] { return argmin(b, 1); }}, {"prod", [&] { return b.prod(); }},
      {"prod dim", [&] { return b.prod(1); }}, {"cumsum", [&] { return b.cumsum(0); }},
      {"cumprod", [&] { return b.cumprod(1); }},
      {"flip", [&] { return b.flip({0, 1}); }}, {"var", [&] { return b.var(); }},
      {"std", [&] { return b.std({0}); }}, {"norm", [&] { return b.norm(); }},
      {"vector_norm", [&] { return linalg::vector_norm(b); }}, {"softmax", [&] { return softmax(b, 1); }},
      {"log_softmax", [&] { return log_softmax(b, 1); }}, {"logsumexp", [&] { return logsumexp(b, {1}); }},
      {"addcmul", [&] { return addcmul(f, b, b); }}, {"addcdiv", [&] { return addcdiv(f, b, f + 1); }},
      {"cat", [&] { return cat({b, b}, 1); }}, {"stack", [&] { return stack({b, b}); }},
      {"gather", [&] { return b.gather(1, idx); }}, {"scatter_add", [&] { return b.scatter_add(1, idx, b); }},
      {"index_put accumulate", [&] { return index_put(b, {tensor({int64_t{0}, int64_t{0}})}, b.slice(0, 0, 1).expand({2, 3}), true); }},
      {"sum_to", [&] { return sum_to(b, {1, 3}); }}, {"where bool values", [&] { return where(b, b, ~b); }},
      {"isclose", [&] { return isclose(b, b); }}, {"nonzero", [&] { return nonzero(b); }},
      {"layer_norm", [&] { return layer_norm(b, {3}); }},
      {"conv2d", [&] { return conv2d(b4, b4.slice(0, 0, 1)); }},
      {"conv2d float weight", [&] { return conv2d(b4, ones({1, 3, 2, 2})); }},
      {"max_pool2d", [&] { return max_pool2d(b4, {2}); }}, {"avg_pool2d", [&] { return avg_pool2d(b4, {2}); }},
      {"adaptive_avg_pool2d", [&] { return adaptive_avg_pool2d(b4, {1, 1}); }},
      {"pad", [&] { return F::pad(b, F::PadFuncOptions({1, 1})); }},
      {"pad reflect", [&] { return F::pad(b4, F::PadFuncOptions({1, 1}).mode(dydx::kReflect)); }},
      {"unfold", [&] { return F::unfold(b4, F::UnfoldFuncOptions({2, 2})); }},
      {"one_hot", [&] { return F::one_hot(b); }},
      {"mse_loss", [&] { return F::mse_loss(b, f); }}, {"l1_loss", [&] { return F::l1_loss(f, b); }},
      {"binary_cross_entropy", [&] { return F::binary_cross_entropy(f * 0.5, b); }},
      {"bce_with_logits", [&] { return F::binary_cross_entropy_with_logits(f, b); }},
      {"cross_entropy bool target", [&] { return F::cross_entropy(f, b); }},
      {"nll_loss bool input", [&] { return F::nll_loss(b, tensor({int64_t{0}, int64_t{1}})); }},
      {"dropout", [&] { return dropout(b, 0.5, true); }},
      {"bernoulli", [&] { return bernoulli(b, 0.5); }},
      {"batch_norm", [&] { return batch_norm(b, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5); }},
  };
  std::string raised;
  for (const auto& [name, op] : ops) {
    try {
      Tensor out = op();
      ASSERT_TRUE(out.defined()) << name;
      (void)to_string(out);  // every element read back
    } catch (const Error& e) {
      raised += std::string(name) + ": " + e.what() + "\n";
      // The op's own check names it; the dispatcher's guard (which cannot) must never be what a user meets.
      EXPECT_NE(std::string(e.what()).rfind("not implemented for dtype bool", 0), 0u) << name << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << " threw a non-dydx exception: " << e.what();
    }
  }
  std::cout << "raised for bool inputs:\n" << raised;
  // The floating functions of a bool compute on its values as float32, as PyTorch's.
  EXPECT_TRUE(equal(exp(b), exp(f)));
  EXPECT_TRUE(equal(sigmoid(b), sigmoid(f)));
  EXPECT_TRUE(equal(log1p(b), log1p(f)));
  EXPECT_TRUE(equal(cat({b, f}, 0), cat({f, f}, 0)));
  EXPECT_TRUE(equal(stack({b, f}), stack({f, f})));
}

TEST(BoolInputs, UndefinedTensorsRaise) {
  const Tensor u, one = ones({1});
  const std::vector<std::pair<const char*, std::function<void()>>> ops = {
      {"ne", [&] { ne(u, one); }},           {"lt scalar", [&] { lt(u, 0); }},
      {"isnan", [&] { isnan(u); }},          {"isinf", [&] { isinf(u); }},
      {"isfinite", [&] { isfinite(u); }},    {"logical_not", [&] { logical_not(u); }},
      {"logical_and", [&] { logical_and(one, u); }}, {"bitwise_or", [&] { bitwise_or(u, one); }},
      {"bitwise_not", [&] { bitwise_not(u); }}, {"any", [&] { any(u); }},
      {"all dim", [&] { all(u, 0); }},       {"where", [&] { where(u, one, one); }},
      {"masked_fill", [&] { one.masked_fill(u, 0); }},
  };
  for (const auto& [name, op] : ops) EXPECT_TRUE(ThrowsWith(op, {"undefined"})) << name;
}
