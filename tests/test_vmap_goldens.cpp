// func::vmap composed with grad, jacrev, jacfwd, hessian and with itself, against functorch (PyTorch
// 1.13's functorch.vmap) on the cases of tests/data/vmap_goldens.txt (make_vmap_goldens.py): per-sample
// gradients of an MLP's and a convolution's loss with respect to shared weights, per-sample Jacobians
// and Hessians, nested vmap with in_dims 0, 1, -1 and None and out_dims other than 0, and the Jacobian
// of a whole vmapped batch. Each case's functions, in_dims and out_dims are spelled here as there.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include "golden_text.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

using func::BatchDims;
using func::Function;
constexpr std::nullopt_t shared = std::nullopt;  // an in_dim: every sample takes the input whole

// ---- the per-sample functions, as make_vmap_goldens.py writes them ----

Tensor mlp_loss(const TensorList& in) {  // w1, b1, w2, b2, x [3], y [2]
  return F::mse_loss(matmul(tanh(matmul(in[4], in[0]) + in[1]), in[2]) + in[3], in[5]);
}
Tensor row_map(const Tensor& x, const Tensor& a) { return softmax(tanh(matmul(x, a)), -1) * exp(sin(x).sum()); }
Tensor row_scalar(const Tensor& x, const Tensor& a) { return exp(matmul(sin(x), a)).sum() + (tanh(x) * x).sum(); }
Tensor softmax_scalar(const Tensor& x, const Tensor& a) {
  return (softmax(matmul(x, a), -1) * log_softmax(matmul(sin(x), a), -1)).sum();
}
Tensor elementwise_map(const Tensor& x) { return log_softmax(tanh(x) * sin(x), -1) * exp(x).sum(); }
Tensor elementwise_scalar(const Tensor& x) { return (tanh(x) * exp(sin(x))).sum() * (x * x).sum(); }
Tensor pair_scalar(const Tensor& x, const Tensor& w) {
  return (tanh(x * w) * sin(w)).sum() + log_softmax(x + w, -1).pow(2).sum();
}
Tensor pair_map(const Tensor& a, const Tensor& b) { return tanh(a) * sin(b) + softmax(a * b, -1); }
Tensor conv_loss(const Tensor& w, const Tensor& b, const Tensor& x) {
  return relu(F::conv2d(x.unsqueeze(0), w, F::Conv2dFuncOptions().bias(b))).mean();
}

Function listed(Tensor (*f)(const TensorList&)) {
  return [f](const TensorList& in) { return TensorList{f(in)}; };
}
Function listed(Tensor (*f)(const Tensor&, const Tensor&)) {
  return [f](const TensorList& in) { return TensorList{f(in[0], in[1])}; };
}
Function listed(Tensor (*f)(const Tensor&)) {
  return [f](const TensorList& in) { return TensorList{f(in[0])}; };
}
Function listed(Tensor (*f)(const Tensor&, const Tensor&, const Tensor&)) {
  return [f](const TensorList& in) { return TensorList{f(in[0], in[1], in[2])}; };
}

// func::vmap's signature, so that the cases can be composed with a loop over samples instead.
using Vmap = std::function<Function(const Function&, BatchDims, BatchDims)>;

// f on each sample in turn, stacked: what vmap means, without any batching rule. Every case here
// batches every input or has in_dims for each, and maps no output to std::nullopt.
Function vmap_by_loop(const Function& f, BatchDims in_dims, BatchDims out_dims) {
  return [f, in_dims, out_dims](const TensorList& inputs) {
    auto in_dim = [&](size_t i) { return in_dims.size() == 1 ? in_dims[0] : in_dims.at(i); };
    int64_t size = -1;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (in_dim(i)) size = inputs[i].size(*in_dim(i));
    std::vector<TensorList> per_output;
    for (int64_t b = 0; b < size; ++b) {
      TensorList sample;
      for (size_t i = 0; i < inputs.size(); ++i) sample.push_back(in_dim(i) ? inputs[i].select(*in_dim(i), b) : inputs[i]);
      const TensorList outs = f(sample);
      per_output.resize(outs.size());
      for (size_t k = 0; k < outs.size(); ++k) per_output[k].push_back(outs[k]);
    }
    TensorList stacked;
    for (size_t k = 0; k < per_output.size(); ++k) {
      const int64_t d = *(out_dims.size() == 1 ? out_dims[0] : out_dims.at(k));
      stacked.push_back(stack(per_output[k], d < 0 ? d + per_output[k][0].dim() + 1 : d));
    }
    return stacked;
  };
}

// Each case of the golden file as the same composition of dydx's transforms.
std::map<std::string, Function> compositions(const Vmap& vmap_of) {
  using func::grad;
  using func::hessian;
  using func::jacfwd;
  using func::jacrev;
  auto vmap = [&](const Function& f, BatchDims in_dims = {0}, BatchDims out_dims = {0}) {
    return vmap_of(f, std::move(in_dims), std::move(out_dims));
  };
  std::map<std::string, Function> c;
  const Function mlp_grads = grad(listed(mlp_loss), {0, 1, 2, 3});
  c["mlp_per_sample_grad"] = vmap(mlp_grads, {shared, shared, shared, shared, 0, 0});
  c["mlp_per_sample_grad_moved"] = vmap(mlp_grads, {shared, shared, shared, shared, 1, -1}, {1, 0, -1, 0});

  const Function rows = listed(row_map);
  c["jacrev_row_map"] = vmap(jacrev(rows, {0}), {0, shared});
  c["jacfwd_row_map"] = vmap(jacfwd(rows, {0}), {0, shared});
  c["jacrev_row_map_both"] = vmap(jacrev(rows, {0, 1}), {0, shared});
  c["jacfwd_row_map_both"] = vmap(jacfwd(rows, {0, 1}), {0, shared});
  c["jacfwd_row_map_dim1"] = vmap(jacfwd(rows, {0}), {1, shared}, {-1});
  c["jacrev_row_map_dim1"] = vmap(jacrev(rows, {0}), {1, shared}, {1});
  c["hessian_row_scalar"] = vmap(hessian(listed(row_scalar), {0}), {0, shared});
  // functorch 1.13's hessian has no forward derivative of softmax's backward: its golden is
  // vmap(jacrev(jacrev)), the same matrix as dydx's hessian (jacfwd of jacrev).
  c["hessian_softmax_scalar"] = vmap(hessian(listed(softmax_scalar), {0}), {0, shared});
  c["grad_row_scalar_both"] = vmap(grad(listed(row_scalar), {0, 1}), {0, shared});

  const Function elementwise = listed(elementwise_map);
  c["jacrev_elementwise_map"] = vmap(jacrev(elementwise, {0}));
  c["jacfwd_elementwise_map"] = vmap(jacfwd(elementwise, {0}));
  c["hessian_elementwise_scalar"] = vmap(hessian(listed(elementwise_scalar), {0}));
  c["grad_elementwise_scalar_last"] = vmap(grad(listed(elementwise_scalar), {0}), {-1});

  c["nested_row_map"] = vmap(vmap(rows, {1, shared}, {1}), {-1, shared}, {0});
  c["nested_elementwise_map"] = vmap(vmap(elementwise, {1}, {-1}), {-1}, {1});
  c["nested_grad_pair"] = vmap(vmap(grad(listed(pair_scalar), {0, 1}), {0, shared}), {1, 0}, {0, -1});
  c["nested_pair_map_outer"] = vmap(vmap(listed(pair_map), {shared, 0}), {0, shared});
  c["nested_hessian_elementwise"] = vmap(vmap(hessian(listed(elementwise_scalar), {0})));

  c["jacrev_of_vmap_row_map"] = jacrev(vmap(rows, {0, shared}), {0});
  c["jacfwd_of_vmap_elementwise_map"] = jacfwd(vmap(elementwise), {0});

  c["conv_per_sample_grad"] = vmap(grad(listed(conv_loss), {0, 1}), {shared, shared, 0});
  return c;
}

struct VmapCase {
  std::string name;
  TensorList inputs, outputs;
};

std::vector<VmapCase> vmap_cases() {
  std::vector<VmapCase> cases;
  for (const std::string& line : golden_lines("vmap_goldens.txt")) {
    std::stringstream words(line);
    VmapCase c;
    words >> c.name;
    for (std::string field, shape, values; words >> field >> shape >> values;) {
      if (field != "in" && field != "out") throw std::runtime_error("vmap_goldens.txt: unknown field " + field);
      (field == "in" ? c.inputs : c.outputs).push_back(golden_tensor(shape, values));
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

// To 1e-10 of each element, or of a thousandth of the largest element where the element is smaller
// (a zero of the block-diagonal Jacobian, a sum whose terms cancel: rounding there is the size of the
// larger terms').
::testing::AssertionResult Close(const Tensor& got, const Tensor& want) {
  if (got.dtype() != kFloat64) return ::testing::AssertionFailure() << "dtype " << got.dtype() << ", functorch's Float64";
  if (got.sizes() != want.sizes()) return ::testing::AssertionFailure() << "shape " << got.sizes() << ", functorch's " << want.sizes();
  const std::vector<double> g = got.contiguous().to_vector<double>(), w = want.to_vector<double>();
  double largest = 0;
  for (double v : w) largest = std::max(largest, std::abs(v));
  for (size_t i = 0; i < g.size(); ++i)
    if (!(std::abs(g[i] - w[i]) <= 1e-10 * std::max(std::abs(w[i]), 1e-3 * largest)))
      return ::testing::AssertionFailure() << "element " << i << ": " << g[i] << ", functorch's " << w[i];
  return ::testing::AssertionSuccess();
}

Function vmap_of_dydx(const Function& f, BatchDims in_dims, BatchDims out_dims) {
  return func::vmap(f, std::move(in_dims), std::move(out_dims));
}

// The case of the golden file named name, through the compositions that vmap_of makes.
void expect_matches(const std::string& name, const Vmap& vmap_of) {
  std::optional<VmapCase> golden;
  for (VmapCase& c : vmap_cases())
    if (c.name == name) golden = std::move(c);
  ASSERT_TRUE(golden) << "vmap_goldens.txt has no case " << name << ": run make_vmap_goldens.py";
  const TensorList got = compositions(vmap_of).at(name)(golden->inputs);
  ASSERT_EQ(got.size(), golden->outputs.size());
  for (size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(Close(got[k], golden->outputs[k])) << "output " << k;
}

class VmapGoldens : public ::testing::TestWithParam<std::string> {};

TEST_P(VmapGoldens, MatchesFunctorch) { expect_matches(GetParam(), vmap_of_dydx); }

// The same composition with vmap replaced by a loop over the samples: checks that the functions
// here are functorch's, so that where only the test above fails, a batching rule is wrong.
TEST_P(VmapGoldens, MatchesFunctorchSampleBySample) { expect_matches(GetParam(), vmap_by_loop); }

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& named : compositions(vmap_of_dydx)) names.push_back(named.first);
  return names;
}

// One test per case composed here (read from this file, so that listing the tests reads no data).
INSTANTIATE_TEST_SUITE_P(Cases, VmapGoldens, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// And no case of the golden file without its composition here.
TEST(VmapGoldensFile, EveryCaseIsComposedHere) {
  const std::vector<std::string> names = case_names();
  for (const VmapCase& c : vmap_cases())
    EXPECT_NE(std::find(names.begin(), names.end(), c.name), names.end()) << "no composition for " << c.name;
}

}  // namespace
}  // namespace dydx::testing
