// vmap with func::functional_call: per-sample gradients of a module's parameters and per-sample
// Jacobians with respect to its weights, against the loop over samples; the module is intact after.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "vmap_test_util.hpp"

namespace dydx {
namespace {

using vmap_test::expect_same;

// The loss of one sample (an image [1, 8, 8] or a row) with the module's parameters replaced.
template <class M>
func::Function loss_of(M& net, const std::vector<std::string>& names) {
  return [&net, names](const TensorList& in) {
    std::unordered_map<std::string, Tensor> replaced;
    for (size_t i = 0; i < names.size(); ++i) replaced.emplace(names[i], in[i]);
    const Tensor& x = in[names.size()];
    const Tensor& y = in[names.size() + 1];
    Tensor out = func::functional_call(net, replaced, x.unsqueeze(0)).squeeze(0);
    return TensorList{nn::functional::cross_entropy(out.unsqueeze(0), y.unsqueeze(0))};
  };
}

template <class M>
void expect_per_sample_gradients(M& net, const Tensor& xs, const Tensor& ys) {
  std::vector<std::string> names = net->named_parameters().keys();
  TensorList params = net->named_parameters().values();
  std::vector<int64_t> argnums;
  func::BatchDims in_dims;
  for (size_t i = 0; i < names.size(); ++i) {
    argnums.push_back(static_cast<int64_t>(i));
    in_dims.push_back(std::nullopt);
  }
  in_dims.push_back(0);
  in_dims.push_back(0);
  TensorList inputs = params;
  inputs.push_back(xs);
  inputs.push_back(ys);
  const func::Function loss = loss_of(net, names);
  TensorList per_sample = func::vmap(func::grad(loss, argnums), in_dims)(inputs);
  ASSERT_EQ(per_sample.size(), params.size());
  for (int64_t b = 0; b < xs.size(0); ++b) {
    TensorList one = params;
    one.push_back(xs[b]);
    one.push_back(ys[b]);
    TensorList expected = func::grad(loss, argnums)(one);
    for (size_t p = 0; p < params.size(); ++p) {
      SCOPED_TRACE(names[p] + " of sample " + std::to_string(b));
      expect_same(per_sample[p][b], expected[p], 1e-10);
    }
  }
  // The module's own parameters are back, untouched and without gradients.
  TensorList after = net->named_parameters().values();
  for (size_t p = 0; p < params.size(); ++p) {
    EXPECT_EQ(after[p].impl(), params[p].impl());
    EXPECT_FALSE(after[p].grad().defined());
  }
}

TEST(VmapModules, PerSampleGradientsOfAnMlp) {
  manual_seed(20);
  nn::Sequential net(nn::Linear(6, 5), nn::Tanh(), nn::Linear(5, 3));
  net->to(kFloat64);
  expect_per_sample_gradients(net, randn({4, 6}, kFloat64), randint(3, {4}));
}

TEST(VmapModules, PerSampleGradientsOfACnn) {
  manual_seed(21);
  nn::Sequential net(nn::Conv2d(1, 3, 3), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(nn::FlattenOptions().start_dim(0)), nn::Linear(27, 4));
  net->to(kFloat64);
  expect_per_sample_gradients(net, randn({3, 1, 8, 8}, kFloat64), randint(4, {3}));
}

TEST(VmapModules, PerSampleJacobiansWithRespectToWeights) {
  manual_seed(22);
  nn::Linear lin(3, 2);
  lin->to(kFloat64);
  const Tensor w = lin->weight.detach(), b = lin->bias.detach();
  func::Function out = [&lin](const TensorList& in) {
    return TensorList{tanh(func::functional_call(lin, {{"weight", in[0]}, {"bias", in[1]}}, in[2]))};
  };
  Tensor xs = randn({5, 3}, kFloat64);
  TensorList jac = func::vmap(func::jacrev(out, {0, 1}), {std::nullopt, std::nullopt, 0})({w, b, xs});
  ASSERT_EQ(jac[0].sizes().vec(), std::vector<int64_t>({5, 2, 2, 3}));
  for (int64_t s = 0; s < 5; ++s) {
    TensorList one = func::jacrev(out, {0, 1})({w, b, xs[s]});
    expect_same(jac[0][s], one[0]);
    expect_same(jac[1][s], one[1]);
  }
}

}  // namespace
}  // namespace dydx
