// Per-sample Jacobians with respect to shared weights (vmap of jacrev, the NTK's building block) come
// out one contiguous block per sample, so that reading them as [B * outputs, numel] is a view, not a
// copy of the whole Jacobian; and bmm's batched-cotangent rule that writes them so gives the loop's
// values, in both layouts of b, to first and second order.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "vmap_test_util.hpp"

namespace dydx {
namespace {

using vmap_test::expect_same;
using vmap_test::loop_all;

// An MLP 5-7-6-3 (tanh) of one sample x [5], its weights and biases the first six inputs.
TensorList mlp(const TensorList& in) {
  Tensor h = in[6];
  for (int l = 0; l < 3; ++l) {
    h = linear(h, in[2 * l], in[2 * l + 1]);
    if (l < 2) h = tanh(h);
  }
  return {h};
}

TensorList mlp_params() {
  return {randn({7, 5}, kFloat64), randn({7}, kFloat64), randn({6, 7}, kFloat64),
          randn({6}, kFloat64),    randn({3, 6}, kFloat64), randn({3}, kFloat64)};
}

const func::BatchDims kWeightsShared = {std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                                        std::nullopt, std::nullopt, 0};

TEST(PerSampleJacobian, WrtSharedWeightsIsContiguousPerSampleAndEqualsTheLoop) {
  manual_seed(1);
  TensorList in = mlp_params();
  const int64_t B = 4;
  in.push_back(randn({B, 5}, kFloat64));
  const func::Function jac = func::jacrev(mlp, {0, 1, 2, 3, 4, 5});
  const TensorList got = func::vmap(jac, kWeightsShared)(in);
  const TensorList want = loop_all(jac, in, kWeightsShared);
  ASSERT_EQ(got.size(), 6u);
  for (size_t p = 0; p < got.size(); ++p) {
    expect_same(got[p], want[p], 1e-12);
    if (p % 2 == 1) continue;  // a bias's rows are the cotangents themselves, laid out as they come
    // [B, 3] + the weight's shape, each sample's 3 rows adjacent: read as rows, a view.
    EXPECT_TRUE(got[p].is_contiguous()) << "weight " << p << " strides " << got[p].strides();
    EXPECT_EQ(got[p].reshape({B * 3, -1}).data_ptr<double>(), got[p].data_ptr<double>());
  }
}

TEST(PerSampleJacobian, NestedVmapEqualsTheLoop) {
  manual_seed(2);
  TensorList in = mlp_params();
  in.push_back(randn({3, 2, 5}, kFloat64));  // the outer batch is dim 1, the inner one dim 0 of a sample
  const func::Function jac = func::jacrev(mlp, {0, 2});
  const func::BatchDims outer = {std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, 1};
  const TensorList got = func::vmap(func::vmap(jac, kWeightsShared), outer)(in);
  const func::Function per_row = [&](const TensorList& sample) { return loop_all(jac, sample, kWeightsShared); };
  const TensorList want = loop_all(per_row, in, outer);
  ASSERT_EQ(got.size(), 2u);
  for (size_t p = 0; p < got.size(); ++p) expect_same(got[p], want[p], 1e-12);
}

TEST(PerSampleJacobian, SecondOrderThroughTheRuleEqualsTheLoop) {
  manual_seed(3);
  TensorList in = mlp_params();
  in.push_back(randn({3, 5}, kFloat64));
  // The Hessian of one output's sum w.r.t. the last weight: forward over the reverse rule.
  const func::Function loss = [](const TensorList& args) { return TensorList{mlp(args)[0].sum()}; };
  const func::Function hess = func::hessian(loss, {4});
  expect_same(func::vmap(hess, kWeightsShared)(in)[0], loop_all(hess, in, kWeightsShared)[0], 1e-10);
  // Reverse over reverse: jacrev of the per-sample Jacobian, summed, w.r.t. the first weight.
  const func::Function jac_sum = [](const TensorList& args) {
    return TensorList{func::jacrev(mlp, {2})(args)[0].pow(2).sum()};
  };
  const func::Function outer = func::jacrev(jac_sum, {0});
  expect_same(func::vmap(outer, kWeightsShared)(in)[0], loop_all(outer, in, kWeightsShared)[0], 1e-10);
}

// bmm(a [B, 1, k], b [B, k, m]) with a batch of G cotangents: grads equal the loop over cotangents,
// with b contiguous or a transposed view (an expanded weight's .t()), and b's gradient keeps b's
// layout with each sample's G blocks adjacent.
TEST(BmmBatchedCotangents, OuterProductGradientsEqualTheLoopInBothLayouts) {
  manual_seed(4);
  const int64_t B = 3, G = 4, k = 5, m = 6;
  for (bool transposed : {false, true}) {
    SCOPED_TRACE(transposed ? "b transposed" : "b contiguous");
    const Tensor a = randn({B, 1, k}, kFloat64).requires_grad_(true);
    const Tensor stored = transposed ? randn({B, m, k}, kFloat64) : randn({B, k, m}, kFloat64);
    const Tensor b = (transposed ? stored.transpose(1, 2) : stored).detach().requires_grad_(true);
    const Tensor out = bmm(a, b);
    const Tensor cot = randn({G, B, 1, m}, kFloat64);
    const TensorList grads =
        dydx::grad({out}, {a, b}, {cot}, GradOptions{.retain_graph = true, .is_grads_batched = true});
    for (int64_t g = 0; g < G; ++g) {
      const TensorList one = dydx::grad({out}, {a, b}, {cot[g]}, GradOptions{.retain_graph = true});
      expect_same(grads[0][g], one[0], 1e-12);
      expect_same(grads[1][g], one[1], 1e-12);
    }
    const Tensor per_sample = grads[1].movedim(0, 1);  // [B, G, k, m]
    EXPECT_TRUE((transposed ? per_sample.transpose(-1, -2) : per_sample).is_contiguous()) << grads[1].strides();
  }
}

// A batch of one sample (B = 1) and an a with several rows take bmm's ordinary rule: same values.
TEST(BmmBatchedCotangents, OtherShapesEqualTheLoop) {
  manual_seed(5);
  for (const Dims& a_shape : {Dims{1, 1, 4}, Dims{3, 2, 4}}) {
    const Tensor a = randn(a_shape, kFloat64).requires_grad_(true);
    const Tensor b = randn({a_shape[0], 4, 5}, kFloat64).requires_grad_(true);
    const Tensor out = bmm(a, b);
    Dims cot_shape = {3};
    for (int64_t size : out.sizes()) cot_shape.push_back(size);
    const Tensor cot = randn(cot_shape, kFloat64);
    const TensorList grads =
        dydx::grad({out}, {a, b}, {cot}, GradOptions{.retain_graph = true, .is_grads_batched = true});
    for (int64_t g = 0; g < 3; ++g) {
      const TensorList one = dydx::grad({out}, {a, b}, {cot[g]}, GradOptions{.retain_graph = true});
      expect_same(grads[1][g], one[1], 1e-12);
    }
  }
}

}  // namespace
}  // namespace dydx
