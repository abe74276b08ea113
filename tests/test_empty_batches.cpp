// Layers on an empty batch (N = 0) against PyTorch 1.13: BatchNorm (module and function, training
// and evaluation) returns an empty output, leaves the running stats alone but counts the batch,
// and gives its weight and bias zero gradients; LayerNorm, conv (grouped too), pooling, Linear,
// Flatten, Unflatten and LogSoftmax return their empty outputs and zero parameter gradients.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

// The parts of a BatchNorm module that the test looks at, for BatchNorm1d and BatchNorm2d alike.
struct BatchNormParts {
  std::shared_ptr<nn::Module> module;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  std::function<Tensor(const Tensor&)> forward;
};

template <class Holder>
BatchNormParts parts_of(Holder m) {
  return {m.ptr(), m->weight, m->bias, m->running_mean, m->running_var, m->num_batches_tracked,
          [m](const Tensor& x) mutable { return m->forward(x); }};
}

// PyTorch 1.13, BatchNorm1d(3, momentum=None) with running_mean 0.5, running_var 2, weight
// [2, 3, 4], bias [1, 5, 6], on a [0, 3] batch (also [0, 3, 5], [2, 3, 0]; BatchNorm2d on
// [0, 3, 2, 2]), in training and evaluation: an empty output with history, running stats
// unchanged, num_batches_tracked 1 after a training call, weight and bias gradients [0, 0, 0].
TEST(EmptyBatch, BatchNormModulesMatchPyTorchInTrainingAndEvaluation) {
  for (const Dims& shape : {Dims{0, 3}, Dims{0, 3, 5}, Dims{2, 3, 0}, Dims{0, 3, 2, 2}}) {
    for (bool training : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "shape " << IntArrayRef(shape) << " training " << training);
      const auto options = nn::BatchNormOptions(3).momentum(std::nullopt);
      BatchNormParts bn = shape.size() == 4 ? parts_of(nn::BatchNorm2d(options)) : parts_of(nn::BatchNorm1d(options));
      {
        NoGradGuard setup;
        bn.running_mean.fill_(0.5);
        bn.running_var.fill_(2.0);
        bn.weight.copy_(tensor({2.0, 3.0, 4.0}));
        bn.bias.copy_(tensor({1.0, 5.0, 6.0}));
      }
      bn.module->train(training);
      Tensor x = zeros(shape).requires_grad_();
      Tensor y = bn.forward(x);
      EXPECT_EQ(y.sizes(), IntArrayRef(shape));
      EXPECT_TRUE(y.requires_grad());
      EXPECT_TRUE(HasValues(bn.running_mean, {0.5, 0.5, 0.5}));
      EXPECT_TRUE(HasValues(bn.running_var, {2, 2, 2}));
      EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), training ? 1 : 0);
      TensorList g = grad({y.sum()}, {x, bn.weight, bn.bias}, {}, std::nullopt, /*create_graph=*/true);
      EXPECT_EQ(g[0].sizes(), IntArrayRef(shape));
      EXPECT_TRUE(HasValues(g[1], {0, 0, 0}));
      EXPECT_TRUE(HasValues(g[2], {0, 0, 0}));
      // Second order through the weight's gradient: an empty gradient for the empty input.
      EXPECT_EQ(grad({g[1].sum()}, {x})[0].sizes(), IntArrayRef(shape));
    }
  }
}

// F.batch_norm(torch.zeros(0, 3), rm, rv, training=True) in PyTorch 1.13: an empty output that is
// not the input itself, running stats unchanged; also without running stats or affine tensors.
TEST(EmptyBatch, BatchNormFunctionReturnsAFreshEmptyTensorAndWritesNothing) {
  Tensor rm = tensor({0.25, 0.5, 0.75}), rv = tensor({1.5, 2.0, 2.5});
  for (bool training : {true, false}) {
    Tensor x = zeros({0, 3});
    Tensor y = F::batch_norm(x, rm, rv, F::BatchNormFuncOptions().training(training).momentum(0.5));
    EXPECT_EQ(y.sizes(), IntArrayRef({0, 3}));
    EXPECT_NE(y.impl(), x.impl());
    EXPECT_EQ(rm._version(), 0);
    EXPECT_EQ(rv._version(), 0);
    EXPECT_TRUE(HasValues(rm, {0.25, 0.5, 0.75}));
  }
  EXPECT_EQ(F::batch_norm(zeros({0, 3, 4}), Tensor(), Tensor(), F::BatchNormFuncOptions().training(true)).sizes(),
            IntArrayRef({0, 3, 4}));
  // A batch of one value per channel still raises, as PyTorch's size_prods == 1 check does.
  EXPECT_DYDX_ERROR(F::batch_norm(zeros({1, 3}), rm, rv, F::BatchNormFuncOptions().training(true)),
                    "batch_norm", "more than 1 value per channel");
  // dydx checks an empty batch as any other (PyTorch skips its checks there): a wrong channel count raises.
  EXPECT_DYDX_ERROR(F::batch_norm(zeros({0, 4}), rm, rv, F::BatchNormFuncOptions().training(true)),
                    "batch_norm", "running_mean should contain 4 elements not 3");
}

// Each layer's parameters get zero gradients from an empty batch, as in PyTorch 1.13.
void expect_zero_parameter_grads(nn::Module& m) {
  for (const Tensor& p : m.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(equal(p.grad(), zeros_like(p)));
  }
}

TEST(EmptyBatch, LayerNormConvPoolingAndLinearGiveEmptyOutputsAndZeroGradients) {
  struct Case {
    std::shared_ptr<nn::Module> module;
    std::function<Tensor(const Tensor&)> forward;
    Dims in, out;
  };
  nn::LayerNorm ln(nn::LayerNormOptions({4}));
  nn::LayerNorm ln_group(nn::LayerNormOptions({2, 3}));  // normalised over a group of dims
  nn::Conv1d c1(nn::Conv1dOptions(3, 2, 3));
  nn::Conv2d c2(nn::Conv2dOptions(3, 2, 3));
  nn::MaxPool2d mp(nn::MaxPool2dOptions(2));
  nn::AvgPool2d ap(nn::AvgPool2dOptions(2));
  nn::Linear lin(3, 2);
  nn::AdaptiveAvgPool2d aap(nn::AdaptiveAvgPool2dOptions(2));
  nn::Conv2d grouped(nn::Conv2dOptions(4, 2, 3).groups(2));
  nn::Flatten flatten;
  nn::Unflatten unflatten(nn::UnflattenOptions(1, {2, 2}));
  nn::LogSoftmax log_softmax(1);
  const std::vector<Case> cases = {
      {ln.ptr(), [&](const Tensor& x) { return ln->forward(x); }, {0, 4}, {0, 4}},
      {ln_group.ptr(), [&](const Tensor& x) { return ln_group->forward(x); }, {0, 2, 3}, {0, 2, 3}},
      {c1.ptr(), [&](const Tensor& x) { return c1->forward(x); }, {0, 3, 5}, {0, 2, 3}},
      {c2.ptr(), [&](const Tensor& x) { return c2->forward(x); }, {0, 3, 5, 5}, {0, 2, 3, 3}},
      {mp.ptr(), [&](const Tensor& x) { return mp->forward(x); }, {0, 3, 4, 4}, {0, 3, 2, 2}},
      {ap.ptr(), [&](const Tensor& x) { return ap->forward(x); }, {0, 3, 4, 4}, {0, 3, 2, 2}},
      {lin.ptr(), [&](const Tensor& x) { return lin->forward(x); }, {0, 3}, {0, 2}},
      {aap.ptr(), [&](const Tensor& x) { return aap->forward(x); }, {0, 3, 4, 4}, {0, 3, 2, 2}},
      {grouped.ptr(), [&](const Tensor& x) { return grouped->forward(x); }, {0, 4, 5, 5}, {0, 2, 3, 3}},
      {flatten.ptr(), [&](const Tensor& x) { return flatten->forward(x); }, {0, 3, 4}, {0, 12}},
      {unflatten.ptr(), [&](const Tensor& x) { return unflatten->forward(x); }, {0, 4}, {0, 2, 2}},
      {log_softmax.ptr(), [&](const Tensor& x) { return log_softmax->forward(x); }, {0, 3}, {0, 3}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.module->name());
    Tensor x = zeros(c.in).requires_grad_();
    Tensor y = c.forward(x);
    EXPECT_EQ(y.sizes(), IntArrayRef(c.out));
    y.sum().backward();
    EXPECT_EQ(x.grad().sizes(), IntArrayRef(c.in));
    expect_zero_parameter_grads(*c.module);
  }
  // layer_norm over an empty normalized shape, F.layer_norm(torch.zeros(2, 0), (0,)) in PyTorch, and
  // over (0, 3) with a [0, 3] weight, whose gradient is empty too.
  EXPECT_EQ(F::layer_norm(zeros({2, 0}), F::LayerNormFuncOptions({0})).sizes(), IntArrayRef({2, 0}));
  Tensor x = zeros({2, 0, 3}).requires_grad_(), w = ones({0, 3}).requires_grad_();
  Tensor y = F::layer_norm(x, F::LayerNormFuncOptions({0, 3}).weight(w));
  EXPECT_EQ(y.sizes(), IntArrayRef({2, 0, 3}));
  y.sum().backward();
  EXPECT_EQ(x.grad().sizes(), IntArrayRef({2, 0, 3}));
  EXPECT_EQ(w.grad().sizes(), IntArrayRef({0, 3}));
}

}  // namespace
}  // namespace dydx::testing
