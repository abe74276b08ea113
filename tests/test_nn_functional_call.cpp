// func::functional_call: a module run with replaced parameters and buffers; gradients reach the
// replacements (also after the call returns), the module's own tensors come back even if forward
// throws; per-sample gradients and a neural-tangent-kernel Jacobian with respect to the weights
// through func::jacrev / jacfwd, checked against loops of backward().
#include <gtest/gtest.h>

#include <unordered_map>

#include "dydx/dydx.hpp"
#include "test_util.hpp"

using namespace dydx;
using dydx::testing::error_of;

namespace {

struct MlpImpl : nn::Module {
  MlpImpl() {
    fc1 = register_module("fc1", nn::Linear(3, 5));
    fc2 = register_module("fc2", nn::Linear(5, 2));
    offset = register_buffer("offset", zeros({2}, kFloat64));
  }
  Tensor forward(const Tensor& x) { return fc2(tanh(fc1(x))) + offset; }
  nn::Linear fc1{nullptr}, fc2{nullptr};
  Tensor offset;
};
DYDX_MODULE(Mlp);

// Multiplies by its parameter directly, so the product saves the parameter's own handle for backward.
struct ScaleImpl : nn::Module {
  ScaleImpl() { scale = register_parameter("scale", full({3}, 2.0, kFloat64)); }
  Tensor forward(const Tensor& x) { return x * scale; }
  Tensor scale;
};
DYDX_MODULE(Scale);

struct ThrowingImpl : nn::Module {
  ThrowingImpl() { lin = register_module("lin", nn::Linear(2, 2)); }
  Tensor forward(const Tensor& x) {
    Tensor y = lin(x);
    DYDX_CHECK(false, "forward failed on purpose");
    return y;
  }
  nn::Linear lin{nullptr};
};
DYDX_MODULE(Throwing);

std::unordered_map<std::string, Tensor> as_map(const std::vector<std::string>& names, const TensorList& values) {
  std::unordered_map<std::string, Tensor> out;
  for (size_t i = 0; i < names.size(); ++i) out.emplace(names[i], values[i]);
  return out;
}

}  // namespace

TEST(FunctionalCall, ReplacesAndRestores) {
  manual_seed(3);
  nn::Linear lin(3, 2);
  lin->to(kFloat64);
  const Tensor w = lin->weight;
  const Tensor w_before = w.clone();
  Tensor x = randn({4, 3}, kFloat64);
  Tensor w2 = randn({2, 3}, kFloat64);
  Tensor y = func::functional_call(lin, {{"weight", w2}}, x);
  EXPECT_TRUE(allclose(y, linear(x, w2, lin->bias)));
  // The module's own tensor is back: same handle, values, leaf and requires_grad.
  EXPECT_EQ(lin->weight.impl(), w.impl());
  EXPECT_TRUE(equal(w, w_before));
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(allclose(lin(x), linear(x, w_before, lin->bias)));
  // No replacement at all, and a replacement by the module's own tensor, are plain forwards.
  EXPECT_TRUE(allclose(func::functional_call(lin, {}, x), lin(x)));
  EXPECT_TRUE(allclose(func::functional_call(lin, {{"weight", w}}, x), lin(x)));
}

TEST(FunctionalCall, GradientsReachTheReplacementsAfterTheCall) {
  manual_seed(4);
  Mlp net;
  net->to(kFloat64);
  Tensor x = randn({4, 3}, kFloat64).requires_grad_();
  Tensor w1 = randn({5, 3}, kFloat64).requires_grad_();
  Tensor w2 = randn({2, 5}, kFloat64);  // not requiring grad: still the value x's gradient must read
  Tensor off = randn({2}, kFloat64);
  Tensor y = func::functional_call(net, {{"fc1.weight", w1}, {"fc2.weight", w2}, {"offset", off}}, x);
  // The same function written out, on copies.
  Tensor x_ref = x.detach().requires_grad_();
  Tensor w1_ref = w1.detach().requires_grad_();
  Tensor y_ref = linear(tanh(linear(x_ref, w1_ref, net->fc1->bias)), w2, net->fc2->bias) + off;
  EXPECT_TRUE(allclose(y, y_ref));
  (y * y).sum().backward();
  (y_ref * y_ref).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), x_ref.grad()));
  EXPECT_TRUE(allclose(w1.grad(), w1_ref.grad()));
  EXPECT_FALSE(net->fc1->weight.grad().defined());  // never the module's own
  EXPECT_TRUE(allclose(net->fc1->bias.grad(), net->fc1->bias.grad()));
  EXPECT_TRUE(equal(net->offset, zeros({2}, kFloat64)));
  x.set_grad(Tensor());
}

// The backward runs after the call returned and the module's own scale (2) is back: the product's
// saved operand must still be the replacement (its values and its history).
TEST(FunctionalCall, SavedTensorsKeepTheReplacement) {
  Scale net;
  Tensor x = tensor({1.0, 2.0, 3.0}, kFloat64).requires_grad_();
  Tensor s = tensor({5.0, 7.0, 11.0}, kFloat64).requires_grad_();
  Tensor y = func::functional_call(net, {{"scale", s}}, x);
  EXPECT_TRUE(equal(y, tensor({5.0, 14.0, 33.0}, kFloat64)));
  auto grads = dydx::grad({y.sum()}, {x, s}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  EXPECT_TRUE(equal(grads[0], tensor({5.0, 7.0, 11.0}, kFloat64)));
  EXPECT_TRUE(equal(grads[1], tensor({1.0, 2.0, 3.0}, kFloat64)));
  // Second order through the saved replacement: d/ds of sum(d y/dx) = 1 per element.
  auto second = dydx::grad({grads[0].sum()}, {s});
  EXPECT_TRUE(equal(second[0], ones({3}, kFloat64)));
  EXPECT_TRUE(equal(net->scale, full({3}, 2.0, kFloat64)));
  EXPECT_FALSE(net->scale.grad().defined());
  // Forward mode: jacfwd with respect to the replacement.
  auto f = [&](const TensorList& w) -> TensorList { return {func::functional_call(net, {{"scale", w[0]}}, x.detach())}; };
  TensorList j = func::jacfwd(f, {s.detach()}, {0});
  EXPECT_TRUE(equal(j[0], tensor({{1.0, 0.0, 0.0}, {0.0, 2.0, 0.0}, {0.0, 0.0, 3.0}}, kFloat64)));
}

TEST(FunctionalCall, RestoresWhenForwardThrows) {
  Throwing net;
  const Tensor w = net->lin->weight;
  const Tensor before = w.clone();
  Tensor w2 = ones({2, 2}).requires_grad_();
  EXPECT_EQ(error_of([&] { func::functional_call(net, {{"lin.weight", w2}}, ones({1, 2})); }),
            "forward failed on purpose");
  EXPECT_EQ(net->lin->weight.impl(), w.impl());
  EXPECT_TRUE(equal(w, before));
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
}

TEST(FunctionalCall, Errors) {
  Mlp net;
  const Tensor before = net->fc1->weight.clone();
  EXPECT_NE(error_of([&] { func::functional_call(net, {{"fc3.weight", ones({1})}}, ones({1, 3})); })
                .find("'fc3.weight' is not the name of a parameter or buffer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::functional_call(net, {{"fc1.weight", Tensor()}}, ones({1, 3})); }).find("undefined"),
            std::string::npos);
  EXPECT_TRUE(equal(net->fc1->weight, before));
}

// Per-sample gradients of an MLP's loss with respect to its weights: jacrev of the vector of
// per-sample losses (each depends on its own sample only), against one backward() per sample.
TEST(FunctionalCall, PerSampleGradientsMatchALoopOfBackward) {
  manual_seed(5);
  Mlp net;
  net->to(kFloat64);
  const int64_t B = 6;
  Tensor x = randn({B, 3}, kFloat64);
  Tensor target = randn({B, 2}, kFloat64);
  const auto named = net->named_parameters();
  const std::vector<std::string> names = named.keys();
  TensorList weights;
  for (const auto& p : named) weights.push_back(p.value().detach());
  auto per_sample_losses = [&](const TensorList& w) -> TensorList {
    Tensor out = func::functional_call(net, as_map(names, w), x);
    return {((out - target) * (out - target)).sum({1})};
  };
  std::vector<int64_t> argnums;
  for (size_t i = 0; i < weights.size(); ++i) argnums.push_back(static_cast<int64_t>(i));
  TensorList jac = func::jacrev(per_sample_losses, weights, argnums);
  ASSERT_EQ(jac.size(), weights.size());
  for (int64_t b = 0; b < B; ++b) {
    net->zero_grad(true);
    Tensor out = net(x.narrow(0, b, 1));
    Tensor t = target.narrow(0, b, 1);
    ((out - t) * (out - t)).sum().backward();
    for (size_t i = 0; i < names.size(); ++i)
      EXPECT_TRUE(allclose(jac[i][b], named[names[i]].grad(), 1e-10, 1e-12)) << names[i] << " sample " << b;
  }
  // func::grad of the mean loss is the mean of the per-sample gradients.
  auto mean_loss = [&](const TensorList& w) -> TensorList { return {per_sample_losses(w)[0].mean()}; };
  TensorList g = func::grad(mean_loss, argnums)(weights);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_TRUE(allclose(g[i], jac[i].mean({0}), 1e-10, 1e-12)) << names[i];
  net->zero_grad(true);
}

// A neural-tangent-kernel Jacobian: d out[b, k] / d weights for every b, k, by jacrev and by jacfwd,
// against one backward() per output element; the kernel is sum over weights of J J^T.
TEST(FunctionalCall, NeuralTangentKernelJacobian) {
  manual_seed(6);
  Mlp net;
  net->to(kFloat64);
  const int64_t B = 4;
  Tensor x = randn({B, 3}, kFloat64);
  const auto named = net->named_parameters();
  const std::vector<std::string> names = named.keys();
  TensorList weights;
  for (const auto& p : named) weights.push_back(p.value().detach());
  auto f = [&](const TensorList& w) -> TensorList { return {func::functional_call(net, as_map(names, w), x)}; };
  std::vector<int64_t> argnums{0, 1, 2, 3};
  TensorList jr = func::jacrev(f, weights, argnums);
  TensorList jf = func::jacfwd(f, weights, argnums);
  Tensor ntk = zeros({B * 2, B * 2}, kFloat64);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(allclose(jr[i], jf[i], 1e-10, 1e-12)) << names[i];
    Tensor flat = jr[i].reshape({B * 2, -1});
    ntk = ntk + matmul(flat, flat.t());
  }
  Tensor out = net(x);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t k = 0; k < 2; ++k) {
      net->zero_grad(true);
      out[b][k].backward({}, /*retain_graph=*/true);
      for (size_t i = 0; i < names.size(); ++i)
        EXPECT_TRUE(allclose(jr[i][b][k], named[names[i]].grad(), 1e-10, 1e-12)) << names[i];
    }
  }
  EXPECT_TRUE(allclose(ntk, ntk.t()));
  net->zero_grad(true);
}

TEST(FunctionalCall, HoldersImplsPointersAndTiedNames) {
  manual_seed(13);
  nn::Linear lin(2, 2);
  Tensor x = randn({3, 2});
  Tensor w = randn({2, 2});
  const Tensor expected = linear(x, w, lin->bias);
  nn::LinearImpl& impl = *lin;
  std::shared_ptr<nn::LinearImpl> ptr = lin.ptr();
  EXPECT_TRUE(allclose(func::functional_call(impl, {{"weight", w}}, x), expected));
  EXPECT_TRUE(allclose(func::functional_call(ptr, {{"weight", w}}, x), expected));
  // A Sequential whose two entries are one module lists its weight under two names; replacing
  // both with different tensors is ambiguous.
  nn::Sequential seq(lin, lin);
  EXPECT_NE(error_of([&] { func::functional_call(seq, {{"0.weight", w}, {"1.weight", w * 2}}, x); })
                .find("same tensor as another name"),
            std::string::npos);
  // One name replaces the shared tensor everywhere it is used (PyTorch's tie_weights).
  const Tensor tied = func::functional_call(seq, {{"0.weight", w}}, x);
  EXPECT_TRUE(allclose(tied, linear(linear(x, w, lin->bias), w, lin->bias)));
  EXPECT_FALSE(equal(lin->weight, w));
}

// The header's example, as written there.
TEST(FunctionalCall, HeaderExample) {
  manual_seed(15);
  Mlp net;
  net->to(kFloat64);
  Tensor x = randn({2, 3}, kFloat64);
  TensorList weights{net->fc1->weight.detach(), net->fc1->bias.detach()};
  auto loss_of = [&](const TensorList& w) {
    return TensorList{func::functional_call(net, {{"fc1.weight", w[0]}, {"fc1.bias", w[1]}}, x)};
  };
  TensorList jacobians = func::jacrev(loss_of, {0, 1})(weights);
  ASSERT_EQ(jacobians.size(), 2u);
  EXPECT_EQ(jacobians[0].sizes(), IntArrayRef({2, 2, 5, 3}));
  EXPECT_EQ(jacobians[1].sizes(), IntArrayRef({2, 2, 5}));
  // Row b of the output depends on row b of x only: the Jacobian of output row 0 w.r.t. the bias is
  // fc2.weight * tanh'(pre-activation of row 0).
  const Tensor pre = linear(x, weights[0], weights[1]);
  const Tensor expected = net->fc2->weight.detach() * (1 - tanh(pre[0]) * tanh(pre[0]));
  EXPECT_TRUE(allclose(jacobians[1][0], expected, 1e-12, 1e-14));
}
