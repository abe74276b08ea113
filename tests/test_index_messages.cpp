// The values that index ops print in their errors are the true ones: class values and counts at
// int64's extremes (not wrapped), and the dim of the tensor indexed (not of a flattened index).
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cstdint>

#include "test_util.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

constexpr int64_t kMax = INT64_MAX, kMin = INT64_MIN;

Tensor indices(std::vector<int64_t> v) { return tensor(v, kInt64); }

TEST(IndexMessages, OneHotPrintsTrueValuesAtInt64Extremes) {
  // PyTorch 1.13 wraps largest + 1 and reports -9223372036854775808; dydx says the true count.
  EXPECT_DYDX_ERROR(F::one_hot(indices({kMax})), "one_hot", "9223372036854775807", "9223372036854775808",
                    "does not fit in int64");
  EXPECT_EQ(error_of([] { F::one_hot(indices({kMax})); }).find("-9223372036854775808"), std::string::npos);
  EXPECT_DYDX_ERROR(F::one_hot(indices({kMax, 2}), 3), "one_hot", "got 9223372036854775807 for num_classes 3");
  EXPECT_DYDX_ERROR(F::one_hot(indices({kMin, 2}), 3), "one_hot", "non-negative", "got -9223372036854775808");
  EXPECT_DYDX_ERROR(F::one_hot(indices({kMax - 1})), "one_hot", "[1,9223372036854775807]");
  EXPECT_DYDX_ERROR(F::one_hot(indices({1, 2}), kMax), "one_hot", "[2,9223372036854775807]");
  EXPECT_TRUE(HasValues(F::one_hot(indices({2, 0})), {0, 0, 1, 1, 0, 0}));
}

TEST(IndexMessages, OutOfRangeIndicesNameTheIndexedDimAndTheTrueValue) {
  const Tensor x = randn({3, 4});
  // PyTorch 1.13: "index 9223372036854775807 is out of bounds for dimension 1 with size 4".
  EXPECT_DYDX_ERROR(index_select(x, 1, indices({kMax})), "index_select", "index 9223372036854775807",
                    "dimension 1 with size 4");
  EXPECT_DYDX_ERROR(index_select(x, -1, indices({0, kMin})), "index_select", "index -9223372036854775808",
                    "dimension 1 with size 4");
  EXPECT_DYDX_ERROR(index_select(x, 0, indices({3})), "index_select", "index 3", "dimension 0 with size 3");
  EXPECT_DYDX_ERROR(gather(x, 1, indices({kMax}).reshape({1, 1})), "gather", "index 9223372036854775807",
                    "dimension 1 with size 4");
  EXPECT_DYDX_ERROR(scatter(x, 1, indices({kMin}).reshape({1, 1}), 1.0), "scatter", "index -9223372036854775808",
                    "dimension 1 with size 4");
  EXPECT_DYDX_ERROR(scatter_add(x, 1, indices({kMax}).reshape({1, 1}), x), "scatter_add",
                    "index 9223372036854775807", "dimension 1 with size 4");
  EXPECT_DYDX_ERROR(x.index({indexing::Slice(), indices({-kMax})}), "index", "index -9223372036854775807",
                    "dimension 1 with size 4");
  EXPECT_DYDX_ERROR(F::nll_loss(x, indices({0, 1, kMin})), "nll_loss", "target -9223372036854775808");
  EXPECT_DYDX_ERROR(F::cross_entropy(x, indices({0, 1, kMax})), "cross_entropy", "target 9223372036854775807");
}

}  // namespace
}  // namespace dydx::testing
