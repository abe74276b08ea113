// func::vmap: semantics, composition with the other transforms, and bad input.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>


namespace dydx {
namespace {

using func::BatchDims;
using func::Function;

// f applied to each sample (slices along in_dims; std::nullopt inputs whole), stacked along out_dim.
TensorList loop(const Function& f, const TensorList& inputs, const BatchDims& in_dims, int64_t out_dim = 0) {
  int64_t size = -1;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (in_dims[i]) size = inputs[i].size(*in_dims[i]);
  std::vector<TensorList> per_output;
  for (int64_t b = 0; b < size; ++b) {
    TensorList sample;
    for (size_t i = 0; i < inputs.size(); ++i) sample.push_back(in_dims[i] ? inputs[i].select(*in_dims[i], b) : inputs[i]);
    TensorList outs = f(sample);
    per_output.resize(outs.size());
    for (size_t k = 0; k < outs.size(); ++k) per_output[k].push_back(outs[k]);
  }
  TensorList out;
  for (auto& samples : per_output) out.push_back(stack(samples, out_dim));
  return out;
}

void expect_same(const Tensor& a, const Tensor& b, double tol = 1e-12) {
  ASSERT_EQ(a.sizes(), b.sizes());
  ASSERT_EQ(a.dtype(), b.dtype());
  if (a.numel() == 0) return;
  if (a.is_floating_point()) EXPECT_TRUE(allclose(a, b, tol, tol)) << a << "\n" << b;
  else EXPECT_TRUE(equal(a, b)) << a << "\n" << b;
}

TEST(Vmap, ElementwiseAndBroadcasting) {
  manual_seed(0);
  Tensor x = randn({5, 3, 4}, kFloat64), w = randn({4}, kFloat64);
  Function f = [](const TensorList& in) { return TensorList{tanh(in[0]) * in[1] + exp(in[0]).pow(2) - 1.5}; };
  for (int64_t d = 0; d < 3; ++d) {
    Tensor xd = x.movedim(0, d);
    expect_same(func::vmap(f, {d, std::nullopt})({xd, w})[0], loop(f, {xd, w}, {d, std::nullopt})[0]);
  }
  Tensor y = randn({4, 5}, kFloat64);  // samples of shape [4], batched along dim 1
  expect_same(func::vmap(f, {0, 1})({x, y})[0], loop(f, {x, y}, {0, 1})[0]);
}

TEST(Vmap, UnaryFormAndOutDims) {
  manual_seed(1);
  Tensor x = randn({4, 3}, kFloat64);
  auto f = [](const Tensor& v) { return v.unsqueeze(0) * v.unsqueeze(1); };  // outer product, [3, 3]
  Tensor out = func::vmap(f)(x);
  expect_same(out, loop([&](const TensorList& in) { return TensorList{f(in[0])}; }, {x}, {0})[0]);
  Tensor moved = func::vmap(f, 0, 2)(x);
  expect_same(moved, out.movedim(0, 2));
}

}  // namespace
}  // namespace dydx
