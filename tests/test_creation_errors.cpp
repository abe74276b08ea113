// Absurd sizes given to a creation function or a layer's constructor raise a dydx::Error that names
// the function or the layer (and the tensor), with the size as given: not the `empty` or `zeros`
// they allocate through. Nothing is left allocated by a call that raised.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>

#include "test_util.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

constexpr int64_t kMax = INT64_MAX;
const std::string kMaxText = "9223372036854775807";

// The message starts with the op's name, and says the size; nothing stays allocated.
void expect_named(const std::function<void()>& f, const std::string& op, const std::vector<std::string>& also) {
  const int64_t live_before = memory_stats().live_bytes;
  const std::string message = error_of(f);
  EXPECT_EQ(message.rfind(op + ": ", 0), 0u) << "expected a message starting \"" << op << ": \", got: " << message;
  for (const std::string& needle : also)
    EXPECT_NE(message.find(needle), std::string::npos) << "\"" << needle << "\" missing from: " << message;
  EXPECT_EQ(memory_stats().live_bytes, live_before) << op;
}

TEST(CreationErrors, EveryCreationFunctionNamesItselfAndTheSize) {
  const std::string shape = "[" + kMaxText + "]";
  expect_named([] { empty({kMax}); }, "empty", {shape, "storage size"});
  expect_named([] { zeros({kMax}); }, "zeros", {shape, "storage size"});
  expect_named([] { ones({kMax}); }, "ones", {shape, "storage size"});
  expect_named([] { full({kMax}, 2.0); }, "full", {shape, "storage size"});
  expect_named([] { rand({kMax}); }, "rand", {shape, "float32"});
  expect_named([] { randn({kMax}); }, "randn", {shape, "float32"});
  expect_named([] { randn({kMax}, TensorOptions(kFloat64)); }, "randn", {shape, "float64"});
  expect_named([] { randint(5, {kMax}); }, "randint", {shape, "int64"});
  expect_named([] { randperm(kMax); }, "randperm", {kMaxText});
  expect_named([] { arange(kMax); }, "arange", {shape});
  expect_named([] { arange(0.0, 1e18); }, "arange", {"[1000000000000000000]", "out of memory", "4000000000000000000 bytes"});
  expect_named([] { linspace(0, 1, kMax); }, "linspace", {shape});
  expect_named([] { eye(kMax); }, "eye", {"[" + kMaxText + "," + kMaxText + "]"});
  expect_named([] { eye(int64_t(1) << 31, int64_t(1) << 31); }, "eye", {"[2147483648,2147483648]", "storage size"});
  expect_named([] { zeros({kMax, 2}); }, "zeros", {"[" + kMaxText + ",2]", "overflows int64"});
  // Within int64 but beyond any memory: the out-of-memory error names the function and the shape.
  expect_named([] { ones({int64_t(1) << 60}); }, "ones", {"[1152921504606846976]", "out of memory", "4611686018427387904 bytes"});
  expect_named([] { randn({int64_t(1) << 58}, TensorOptions(kFloat64)); }, "randn", {"[288230376151711744]", "out of memory"});
  expect_named([] { F::one_hot(tensor({1, 2}, kInt64), kMax); }, "one_hot", {"[2," + kMaxText + "]"});
}

TEST(CreationErrors, LayerConstructorsNameTheLayerTheTensorAndItsShape) {
  expect_named([] { (void)nn::Linear(kMax, 3); }, "nn::Linear", {"cannot allocate weight of shape [3," + kMaxText + "]"});
  expect_named([] { (void)nn::Linear(3, kMax); }, "nn::Linear", {"cannot allocate weight of shape [" + kMaxText + ",3]"});
  expect_named([] { (void)nn::Linear(int64_t(1) << 60, 1); }, "nn::Linear",
               {"cannot allocate weight of shape [1,1152921504606846976]", "out of memory"});
  expect_named([] { (void)nn::BatchNorm1d(kMax); }, "nn::BatchNorm1d",
               {"cannot allocate weight of shape [" + kMaxText + "] and dtype float32", "storage size"});
  expect_named([] { (void)nn::BatchNorm2d(nn::BatchNormOptions(kMax).affine(false)); }, "nn::BatchNorm2d",
               {"cannot allocate running_mean of shape [" + kMaxText + "]"});
  expect_named([] { (void)nn::LayerNorm(nn::LayerNormOptions({kMax})); }, "nn::LayerNorm",
               {"cannot allocate weight of shape [" + kMaxText + "]"});
  expect_named([] { (void)nn::LayerNorm(nn::LayerNormOptions({kMax, 2})); }, "nn::LayerNorm",
               {"cannot allocate weight of shape [" + kMaxText + ",2]", "overflows int64"});
  expect_named([] { (void)nn::Conv2d(nn::Conv2dOptions(kMax, 2, 3)); }, "nn::Conv2d",
               {"cannot allocate weight of shape [2," + kMaxText + ",3,3]"});
  expect_named([] { (void)nn::Conv1d(nn::Conv1dOptions(2, int64_t(1) << 58, 1)); }, "nn::Conv1d",
               {"cannot allocate weight of shape [288230376151711744,2,1]", "out of memory"});
  // The modules still build at ordinary sizes.
  EXPECT_EQ(nn::Linear(4, 3)->weight.sizes(), IntArrayRef({3, 4}));
  EXPECT_TRUE(HasValues(nn::BatchNorm1d(2)->running_var, {1, 1}));
  EXPECT_TRUE(HasValues(nn::BatchNorm1d(2)->running_mean, {0, 0}));
}

// Ops whose result outgrows their inputs (expanded operands): cat's summed size was an unchecked
// signed overflow (UBSan: 2^62 + 2^62), and their allocation failures said only "allocate".
TEST(CreationErrors, OpsWhoseResultOutgrowsTheirInputsNameThemselves) {
  const Tensor huge = ones({1}).expand({int64_t(1) << 62}), large = ones({1}).expand({int64_t(1) << 40});
  expect_named([&] { cat({huge, huge}); }, "cat", {"overflows int64", "tensor 1", "[4611686018427387904]"});
  expect_named([&] { cat({large, large}); }, "cat", {"[2199023255552]", "out of memory"});
  expect_named([&] { stack({large, large}); }, "stack", {"[2,1099511627776]", "out of memory"});
  const Tensor column = ones({1, 1}).expand({int64_t(1) << 40, 1});
  expect_named([&] { mm(column, column.t()); }, "mm", {"[1099511627776,1099511627776]", "overflows int64"});
  expect_named([&] { large.clone(); }, "clone", {"[1099511627776]", "out of memory"});
  expect_named([&] { large.to(kFloat64); }, "to", {"[1099511627776]", "float64", "out of memory"});
  EXPECT_TRUE(HasValues(cat({ones({1}).expand({2}), zeros({1})}), {1, 1, 0}));
}

}  // namespace
}  // namespace dydx::testing
