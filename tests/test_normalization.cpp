// layer_norm and batch_norm: values, gradients and running-stat updates against PyTorch 1.13
// (stats_goldens.txt) in float64 and float32, contiguous and strided; derivatives of every input
// against finite differences to second order in both modes; shapes and errors (raised before any
// running stat is written).
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>

#include "stats_goldens.hpp"
#include "test_util.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

TEST(NormalizationGoldens, EveryCaseMatchesPyTorchInBothDtypesAndLayouts) {
  const auto cases = stats_cases({"layer_norm:", "batch_norm:"});
  ASSERT_EQ(cases.size(), 21u);
  for (const StatsCase& c : cases)
    for (bool strided : {false, true}) {
      check_stats_case(c, kFloat64, strided, 1e-9, 1e-11);
      check_stats_case(c, kFloat32, strided, 2e-4, 2e-4);
    }
}

TEST(Normalization, DerivativesMatchFiniteDifferencesInBothModesToSecondOrder) {
  check_fd_derivatives(
      [](const TensorList& in) { return F::layer_norm(in[0], F::LayerNormFuncOptions({4}).weight(in[1]).bias(in[2])); },
      {randn({2, 3, 4}, kFloat64), randn({4}, kFloat64), randn({4}, kFloat64)}, 1);
  check_fd_derivatives([](const TensorList& in) { return layer_norm(in[0], {3, 4}); }, {randn({2, 3, 4}, kFloat64)}, 2);
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{4, 3}, {2, 3, 5}, {2, 3, 2, 2}}) {
    SCOPED_TRACE(shape.size());
    check_fd_derivatives(
        [](const TensorList& in) {
          return F::batch_norm(in[0], Tensor(), Tensor(), F::BatchNormFuncOptions().weight(in[1]).bias(in[2]).training(true));
        },
        {randn(shape, kFloat64), randn({3}, kFloat64), randn({3}, kFloat64)}, 3);
    const Tensor rm = randn({3}, kFloat64), rv = rand({3}, kFloat64) + 0.5;
    check_fd_derivatives(
        [&](const TensorList& in) { return batch_norm(in[0], in[1], in[2], rm, rv, false, 0.1, 1e-5); },
        {randn(shape, kFloat64), randn({3}, kFloat64), randn({3}, kFloat64)}, 4);
  }
}

TEST(Normalization, RunningStatsUpdateWithoutGradAndOnlyInTraining) {
  Tensor x = randn({8, 3, 4}, kFloat64).requires_grad_();
  Tensor rm = zeros({3}, kFloat64), rv = ones({3}, kFloat64);
  Tensor out = F::batch_norm(x, rm, rv, F::BatchNormFuncOptions().training(true).momentum(0.5));
  EXPECT_FALSE(rm.requires_grad());
  EXPECT_TRUE(allclose(rm, x.detach().mean({0, 2}) * 0.5));
  EXPECT_TRUE(allclose(rv, 0.5 + x.detach().var({0, 2}) * 0.5));  // the unbiased variance
  out.sum().backward();                                             // the update did not disturb the graph
  const Tensor before = rm.clone();
  F::batch_norm(x, rm, rv, F::BatchNormFuncOptions().training(false));
  EXPECT_TRUE(equal(rm, before));
  // The normalised batch has mean 0 and biased variance 1 per channel.
  Tensor y = F::batch_norm(x.detach(), Tensor(), Tensor(), F::BatchNormFuncOptions().training(true).eps(0));
  EXPECT_TRUE(allclose(y.mean({0, 2}), zeros({3}, kFloat64), 1e-9, 1e-12));
  EXPECT_TRUE(allclose(y.var({0, 2}, false), ones({3}, kFloat64), 1e-9, 1e-12));
}

TEST(Normalization, LayerNormIsOneNodeAndItsBackwardsAgree) {
  Tensor x = randn({4, 6}, kFloat64).requires_grad_(), w = randn({6}, kFloat64).requires_grad_();
  Tensor y = layer_norm(x, {6}, w);
  EXPECT_EQ(std::string(y.grad_fn()->name()), "NativeLayerNormBackward0");
  // The plain backward reuses the forward's statistics; with create_graph it recomputes them.
  const Tensor c = randn({4, 6}, kFloat64);
  const TensorList plain = grad({(y * c).sum()}, {x, w}, {}, true);
  const TensorList graphed = grad({(y * c).sum()}, {x, w}, {}, true, true);
  EXPECT_TRUE(allclose(plain[0], graphed[0], 1e-12, 1e-14));
  EXPECT_TRUE(allclose(plain[1], graphed[1], 1e-12, 1e-14));
  // A float32 layer_norm matches the float64 one to float32 rounding, also through a transposed input.
  Tensor xt = randn({6, 4}, kFloat64).t();
  EXPECT_TRUE(allclose(layer_norm(xt.to(kFloat32), {6}).to(kFloat64), layer_norm(xt, {6}), 1e-5, 1e-5));
  EXPECT_TRUE(ThrowsWith([&] { layer_norm(x, {6}, ones({6})); }, {"layer_norm", "dtype"}));
}

TEST(Normalization, RunningStatsTakeNoTangentsInForwardMode) {
  forward_ad::DualLevel level;
  Tensor rm = zeros({3}, kFloat64), rv = ones({3}, kFloat64);
  Tensor x = forward_ad::make_dual(randn({4, 3}, kFloat64), randn({4, 3}, kFloat64));
  Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5);
  EXPECT_TRUE(forward_ad::unpack_dual(y).tangent.defined());
  EXPECT_FALSE(forward_ad::unpack_dual(rm).tangent.defined());
  EXPECT_FALSE(forward_ad::unpack_dual(rv).tangent.defined());
}

TEST(Normalization, LayerNormOfConstantRowsIsZeroAndNanPropagates) {
  EXPECT_TRUE(HasValues(layer_norm(full({2, 4}, 3.0, kFloat64), {4}), {0, 0, 0, 0, 0, 0, 0, 0}, 0));
  Tensor x = tensor({{1.0, NAN, 2.0}, {1.0, 2.0, 3.0}}, kFloat64);
  Tensor y = layer_norm(x, {3});
  EXPECT_TRUE(std::isnan(y.select(0, 0).select(0, 0).item<double>()));
  EXPECT_FALSE(std::isnan(y.select(0, 1).select(0, 0).item<double>()));
  EXPECT_EQ(layer_norm(zeros({0, 4}, kFloat64), {4}).sizes(), IntArrayRef({0, 4}));
}

TEST(Normalization, BadInputRaisesBeforeWritingRunningStats) {
  Tensor rm = zeros({3}), rv = ones({3});
  auto unchanged = [&] { return equal(rm, zeros({3})) && equal(rv, ones({3})) && rm._version() == 0 && rv._version() == 0; };
  auto train = F::BatchNormFuncOptions().training(true);
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({1, 3}), rm, rv, train); },
                         {"Expected more than 1 value per channel when training, got input size [1,3]"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({1, 3, 1}), rm, rv, train); }, {"more than 1 value per channel"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({2, 4}), rm, rv, train); }, {"running_mean should contain 4 elements not 3"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({2, 3}), rm, rv, F::BatchNormFuncOptions().training(true).weight(ones({4}))); },
                         {"weight should contain 3 elements not 4"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({2, 3}), rm, rv, F::BatchNormFuncOptions().training(true).bias(ones({2}))); },
                         {"bias should contain 3 elements not 2"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({3}), rm, rv, train); }, {"batch_norm", "2-D or more"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(tensor({{1, 2, 3}, {4, 5, 6}}, kInt64), rm, rv, train); }, {"batch_norm", "floating point"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({2, 3}), Tensor(), Tensor()); }, {"must be defined in evaluation mode"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({2, 3}), rm, zeros({3}, kInt64), train); }, {"running stats must be floating point"}));
  // A running_var that can't be written in place (expanded) raises before running_mean is updated.
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({4, 3}), rm, ones({1}).expand({3}), train); },
                         {"batch_norm", "running_var", "share memory"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({4, 3}), zeros({1}).expand({3}), rv, train); },
                         {"batch_norm", "running_mean", "share memory"}));
  // Mixed dtypes raise, as in PyTorch 1.13 ("mixed dtype (CPU)"), in training and evaluation.
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({4, 3}, kFloat64), rm, rv, train); },
                         {"batch_norm", "running_mean", "float32", "float64"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({4, 3}, kFloat64), rm, rv); }, {"batch_norm", "running_mean"}));
  EXPECT_TRUE(ThrowsWith([&] { F::batch_norm(randn({4, 3}), rm, rv, F::BatchNormFuncOptions().training(true).weight(ones({3}, kFloat64))); },
                         {"batch_norm", "weight", "float64"}));
  EXPECT_TRUE(unchanged());
  // An expanded running_var is fine in evaluation, where nothing is written.
  EXPECT_NO_THROW(F::batch_norm(randn({4, 3}), rm, ones({1}).expand({3})));

  Tensor x = randn({2, 3, 4});
  EXPECT_TRUE(ThrowsWith([&] { layer_norm(x, {3}); },
                         {"Given normalized_shape=[3], expected input with shape [*, 3], but got input of size[2,3,4]"}));
  EXPECT_TRUE(ThrowsWith([&] { layer_norm(x, {5, 3, 4}); }, {"normalized_shape=[5, 3, 4]"}));
  EXPECT_TRUE(ThrowsWith([&] { F::layer_norm(x, F::LayerNormFuncOptions({4}).weight(ones({3}))); },
                         {"Expected weight to be of same shape as normalized_shape, but got weight of shape [3] and normalized_shape = [4]"}));
  EXPECT_TRUE(ThrowsWith([&] { layer_norm(x, {4}, Tensor(), ones({2, 4})); }, {"Expected bias to be of same shape"}));
  EXPECT_TRUE(ThrowsWith([&] { layer_norm(x, {}); }, {"Expected normalized_shape to be at least 1-dimensional"}));
}

}  // namespace
}  // namespace dydx::testing
