// Convolution, im2col and pooling: values and gradients against PyTorch 1.13 (conv_goldens.txt, from
// make_conv_goldens.py) in float64 and float32, non-contiguous and zero-size inputs, the libtorch
// spellings, and bad arguments. Every derivative mode and order is checked by the op table's rows.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "golden_text.hpp"

namespace dydx {
namespace {

namespace F = nn::functional;
using testing::golden_lines;
using testing::golden_tensor;

// ---- goldens ----

struct ConvCase {
  std::string line, op;
  std::map<std::string, std::string> options;  // as written: "2,1", "same", "1"
  std::map<std::string, Tensor> tensors;       // x, w, b, gout, out, gx, gw, gb (float64)
};

std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> cases;
  for (const std::string& line : golden_lines("conv_goldens.txt")) {
    ConvCase c;
    c.line = line.substr(0, line.find(' '));
    std::stringstream s(line);
    std::string head, field, shape, values;
    s >> head;
    std::stringstream h(head);
    std::getline(h, c.op, ';');
    for (std::string option; std::getline(h, option, ';');)
      c.options[option.substr(0, option.find('='))] = option.substr(option.find('=') + 1);
    while (s >> field >> shape >> values) c.tensors[field] = golden_tensor(shape, values);
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<int64_t> ints(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) out.push_back(std::stoll(item));
  return out;
}

/// The case's op applied with dydx, reading the options as the torch:: spelling takes them.
Tensor apply_case(const ConvCase& c, const std::map<std::string, Tensor>& in) {
  auto opt = [&](const std::string& key, const std::string& fallback) {
    auto it = c.options.find(key);
    return it == c.options.end() ? fallback : it->second;
  };
  auto list = [&](const std::string& key, const std::string& fallback) { return ints(opt(key, fallback)); };
  const Tensor x = in.at("x"), w = in.count("w") ? in.at("w") : Tensor(), b = in.count("b") ? in.at("b") : Tensor();
  const int64_t groups = ints(opt("groups", "1"))[0];
  if (c.op == "conv2d" || c.op == "conv1d") {
    const bool two = c.op == "conv2d";
    const std::string padding = opt("padding", two ? "0,0" : "0");
    if (padding == "same" || padding == "valid")
      return two ? conv2d(x, w, b, list("stride", "1,1"), padding, list("dilation", "1,1"), groups)
                 : conv1d(x, w, b, list("stride", "1"), padding, list("dilation", "1"), groups);
    return two ? conv2d(x, w, b, list("stride", "1,1"), ints(padding), list("dilation", "1,1"), groups)
               : conv1d(x, w, b, list("stride", "1"), ints(padding), list("dilation", "1"), groups);
  }
  if (c.op == "max_pool2d")
    return max_pool2d(x, list("kernel_size", ""), list("stride", opt("kernel_size", "")), list("padding", "0,0"),
                      list("dilation", "1,1"), opt("ceil_mode", "0") == "1");
  if (c.op == "avg_pool2d") {
    std::optional<int64_t> divisor;
    if (c.options.count("divisor_override")) divisor = ints(c.options.at("divisor_override"))[0];
    return avg_pool2d(x, list("kernel_size", ""), list("stride", opt("kernel_size", "")), list("padding", "0,0"),
                      opt("ceil_mode", "0") == "1", opt("count_include_pad", "1") == "1", divisor);
  }
  if (c.op == "adaptive_avg_pool2d") return adaptive_avg_pool2d(x, list("output_size", ""));
  auto pair = [&](const std::string& key, const std::string& fallback) {
    const std::vector<int64_t> v = list(key, fallback);
    return ExpandingArray<2>({v[0], v[1]});
  };
  if (c.op == "unfold")
    return F::unfold(x, F::UnfoldFuncOptions(pair("kernel_size", ""))
                            .dilation(pair("dilation", "1,1"))
                            .padding(pair("padding", "0,0"))
                            .stride(pair("stride", "1,1")));
  if (c.op == "fold")
    return F::fold(x, F::FoldFuncOptions(pair("output_size", ""), pair("kernel_size", ""))
                          .dilation(pair("dilation", "1,1"))
                          .padding(pair("padding", "0,0"))
                          .stride(pair("stride", "1,1")));
  throw std::runtime_error("conv_goldens.txt names an unknown op: " + c.op);
}

/// Whether got matches want elementwise (nan where nan, inf where inf) within rtol and atol.
::testing::AssertionResult close(const Tensor& got_in, const Tensor& want, double rtol, double atol) {
  if (got_in.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << got_in.sizes() << " != " << want.sizes();
  const std::vector<double> got = got_in.to(kFloat64).contiguous().to_vector<double>();
  const std::vector<double> exp = want.contiguous().to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(exp[i]) ? std::isnan(got[i]) : (got[i] == exp[i] || std::abs(got[i] - exp[i]) <= atol + rtol * std::abs(exp[i])))
      continue;
    return ::testing::AssertionFailure() << "element " << i << ": " << got[i] << " != " << exp[i];
  }
  return ::testing::AssertionSuccess();
}

void check_case(const ConvCase& c, ScalarType dtype, double rtol, double atol) {
  std::map<std::string, Tensor> in;
  TensorList leaves;
  std::vector<std::string> names;
  for (const char* name : {"x", "w", "b"})
    if (c.tensors.count(name)) {
      in[name] = c.tensors.at(name).to(dtype).requires_grad_();
      leaves.push_back(in[name]);
      names.push_back(name);
    }
  Tensor out = apply_case(c, in);
  EXPECT_TRUE(close(out, c.tensors.at("out"), rtol, atol)) << c.line << " out (" << dtype << ")";
  TensorList grads = grad({out}, leaves, {c.tensors.at("gout").to(dtype)});
  for (size_t i = 0; i < leaves.size(); ++i)
    EXPECT_TRUE(close(grads[i], c.tensors.at("g" + names[i]), rtol, atol)) << c.line << " g" << names[i] << " (" << dtype << ")";
}

TEST(ConvGoldens, MatchPyTorchInFloat64) {
  const auto cases = conv_cases();
  ASSERT_GE(cases.size(), 30u);
  for (const ConvCase& c : cases) check_case(c, kFloat64, 1e-12, 1e-12);
}

TEST(ConvGoldens, MatchPyTorchInFloat32) {
  for (const ConvCase& c : conv_cases()) check_case(c, kFloat32, 1e-5, 1e-5);
}

// ---- layouts and sizes ----

/// f's value and gradient on x as given equal those on a contiguous copy of it.
void expect_same_on_copy(const Tensor& x, const std::function<Tensor(const Tensor&)>& f) {
  Tensor a = x.detach().requires_grad_(), b = x.detach().contiguous().requires_grad_();
  Tensor ya = f(a), yb = f(b);
  EXPECT_TRUE(close(ya, yb, 0, 0));
  Tensor u = randn(ya.sizes(), ya.dtype());
  EXPECT_TRUE(close(grad({ya}, {a}, {u})[0], grad({yb}, {b}, {u})[0], 1e-12, 1e-12));
}

TEST(Conv, NonContiguousInputsGiveTheValuesOfTheirCopies) {
  manual_seed(3);
  Tensor base = randn({2, 6, 7, 3}, kFloat64);
  Tensor transposed = base.permute({0, 3, 1, 2});               // [2, 3, 6, 7], channels last in memory
  Tensor strided = randn({2, 3, 12, 14}, kFloat64).slice(2, 0, 12, 2).slice(3, 1, 14, 2);  // [2, 3, 6, 7]
  Tensor w = randn({4, 3, 3, 2}, kFloat64), b = randn({4}, kFloat64);
  for (const Tensor& x : {transposed, strided}) {
    ASSERT_FALSE(x.is_contiguous());
    expect_same_on_copy(x, [&](const Tensor& t) { return conv2d(t, w, b, {2, 1}, 1, {1, 2}); });
    expect_same_on_copy(x, [&](const Tensor& t) { return conv2d(t, w.slice(0, 0, 3).slice(1, 0, 1), {}, 1, 0, 1, 3); });
    expect_same_on_copy(x, [](const Tensor& t) { return max_pool2d(t, 3, 2, 1, 1, true); });
    expect_same_on_copy(x, [](const Tensor& t) { return avg_pool2d(t, 3, 2, 1, true, false); });
    expect_same_on_copy(x, [](const Tensor& t) { return adaptive_avg_pool2d(t, {4, 3}); });
    expect_same_on_copy(x, [](const Tensor& t) { return F::unfold(t, F::UnfoldFuncOptions(2).padding(1)); });
  }
  // A transposed weight, and an expanded bias, give the values of their copies too.
  Tensor wt = randn({3, 4, 3, 2}, kFloat64).transpose(0, 1);
  Tensor bias = randn({1}, kFloat64).expand({4});
  EXPECT_TRUE(close(conv2d(strided, wt, bias, 1, 1), conv2d(strided, wt.contiguous(), bias.contiguous(), 1, 1), 0, 0));
  Tensor cols = randn({2, 12, 20}, kFloat64).transpose(1, 2).contiguous().transpose(1, 2);
  expect_same_on_copy(cols, [](const Tensor& t) { return F::fold(t, F::FoldFuncOptions({5, 6}, 2)); });
}

TEST(Conv, ZeroSizeBatchGivesEmptyResultsAndGradients) {
  Tensor x = zeros({0, 3, 6, 6}, kFloat32).requires_grad_();
  Tensor w = randn({4, 3, 3, 3}, kFloat32).requires_grad_(), b = randn({4}, kFloat32).requires_grad_();
  Tensor y = conv2d(x, w, b, 1, 1);
  EXPECT_EQ(y.sizes(), IntArrayRef({0, 4, 6, 6}));
  TensorList g = grad({y.sum()}, {x, w, b});
  EXPECT_EQ(g[0].sizes(), x.sizes());
  EXPECT_EQ(g[1].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(g[2].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(max_pool2d(x, 2).sizes(), IntArrayRef({0, 3, 3, 3}));
  EXPECT_EQ(avg_pool2d(x, 2).sizes(), IntArrayRef({0, 3, 3, 3}));
  EXPECT_EQ(adaptive_avg_pool2d(x, {2, 5}).sizes(), IntArrayRef({0, 3, 2, 5}));
  EXPECT_EQ(F::unfold(x, F::UnfoldFuncOptions(3)).sizes(), IntArrayRef({0, 27, 16}));
  EXPECT_EQ(grad({max_pool2d(x, 2).sum()}, {x})[0].sizes(), x.sizes());
  EXPECT_EQ(adaptive_avg_pool2d(x.detach(), 0).sizes(), IntArrayRef({0, 3, 0, 0}));
}

// The forward runs samples in chunks (their columns side by side, one product per group); each
// sample must come out as it does alone, at every thread count, grouped, strided and with a bias.
TEST(Conv, SamplesInChunksMatchSamplesAlone) {
  manual_seed(6);
  const int threads = get_num_threads();
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    for (ScalarType dtype : {kFloat32, kFloat64}) {
      Tensor x = randn({7, 4, 9, 8}, dtype), w = randn({6, 2, 3, 2}, dtype), b = randn({6}, dtype);
      Tensor all = conv2d(x, w, b, {2, 1}, 1, {1, 2}, 2);
      for (int64_t i = 0; i < 7; ++i)
        EXPECT_TRUE(close(all.slice(0, i, i + 1), conv2d(x.slice(0, i, i + 1), w, b, {2, 1}, 1, {1, 2}, 2),
                          dtype == kFloat32 ? 1e-5 : 1e-12, dtype == kFloat32 ? 1e-5 : 1e-12))
            << "sample " << i << " at " << t << " threads";
      Tensor no_bias = conv2d(x, w.slice(1, 0, 1).expand({6, 4, 3, 2}).contiguous(), {}, 1, 0);
      EXPECT_TRUE(close(no_bias.slice(0, 3, 4), conv2d(x.slice(0, 3, 4), w.slice(1, 0, 1).expand({6, 4, 3, 2}).contiguous()),
                        1e-5, 1e-5));
    }
  }
  set_num_threads(threads);
}

// ---- spellings ----

TEST(Conv, TorchAndFunctionalSpellingsAgree) {
  manual_seed(4);
  Tensor x = randn({2, 4, 7, 6}), w = randn({6, 2, 3, 3}), b = randn({6});
  Tensor a = conv2d(x, w, b, 2, {1, 0}, 1, 2);
  Tensor f = F::conv2d(x, w, F::Conv2dFuncOptions().bias(b).stride(2).padding({1, 0}).dilation(1).groups(2));
  EXPECT_TRUE(close(a, f, 0, 0));
  EXPECT_TRUE(close(F::conv2d(x, w.slice(1, 0, 1).expand({6, 4, 3, 3}).contiguous(), F::Conv2dFuncOptions().padding(kSame)),
                    conv2d(x, w.slice(1, 0, 1).expand({6, 4, 3, 3}).contiguous(), {}, 1, "same"), 0, 0));
  Tensor x1 = randn({2, 3, 9}), w1 = randn({4, 3, 3});
  EXPECT_TRUE(close(conv1d(x1, w1, {}, 2, 1, 2), F::conv1d(x1, w1, F::Conv1dFuncOptions().stride(2).padding(1).dilation(2)), 0, 0));
  EXPECT_TRUE(close(max_pool2d(x, 2), F::max_pool2d(x, F::MaxPool2dFuncOptions(2).stride(2)), 0, 0));
  EXPECT_TRUE(close(avg_pool2d(x, 3, 1, 1), F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(1).padding(1)), 0, 0));
  EXPECT_TRUE(close(adaptive_avg_pool2d(x, {1, 1}), F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({1, 1})), 0, 0));
  EXPECT_TRUE(close(adaptive_avg_pool2d(x, {1, 1}), x.mean({2, 3}, true), 1e-6, 1e-6));
  auto [values, indices] = max_pool2d_with_indices(x, 2);
  EXPECT_EQ(indices.dtype(), kInt64);
  EXPECT_TRUE(close(values.reshape({2, 4, -1}), x.reshape({2, 4, -1}).gather(2, indices.reshape({2, 4, -1})), 0, 0));
  // The nodes carry PyTorch's names.
  Tensor xr = x.detach().requires_grad_();
  EXPECT_EQ(std::string(conv2d(xr, w, b, 1, 0, 1, 2).grad_fn()->name()), "ConvolutionBackward0");
  EXPECT_EQ(std::string(max_pool2d(xr, 2).grad_fn()->name()), "MaxPool2DWithIndicesBackward0");
  EXPECT_EQ(std::string(avg_pool2d(xr, 2).grad_fn()->name()), "AvgPool2DBackward0");
  EXPECT_EQ(std::string(adaptive_avg_pool2d(xr, 2).grad_fn()->name()), "AdaptiveAvgPool2DBackward0");
  EXPECT_EQ(std::string(F::unfold(xr, F::UnfoldFuncOptions(2)).grad_fn()->name()), "Im2ColBackward0");
}

TEST(Conv, UnfoldAndFoldAreAdjoint) {
  manual_seed(5);
  const auto u = F::UnfoldFuncOptions({2, 3}).dilation({2, 1}).padding(1).stride({1, 2});
  const auto f = F::FoldFuncOptions({6, 7}, {2, 3}).dilation({2, 1}).padding(1).stride({1, 2});
  Tensor x = randn({2, 3, 6, 7}, kFloat64);
  Tensor cols = F::unfold(x, u);
  Tensor c = randn(cols.sizes(), kFloat64);
  EXPECT_NEAR((cols * c).sum().item<double>(), (x * F::fold(c, f)).sum().item<double>(), 1e-10);
  // fold(unfold(x)) counts each input once per window it is in.
  Tensor counts = F::fold(F::unfold(ones({1, 1, 6, 7}, kFloat64), u), f);
  EXPECT_TRUE(close(F::fold(cols, f), x * counts, 1e-12, 1e-12));
}

// ---- bad arguments ----

void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Conv, BadArgumentsRaiseAsPyTorch) {
  Tensor x = randn({2, 4, 5, 5}), w = randn({6, 2, 3, 3});
  expect_error([&] { conv2d(x, randn({6, 3, 3, 3})); },
               "Given groups=1, weight of size [6,3,3,3], expected input[2,4,5,5] to have 3 channels, but got 4 channels instead");
  expect_error([&] { conv2d(x, randn({5, 2, 3, 3}), {}, 1, 0, 1, 2); },
               "Given groups=2, expected weight to be divisible by 2 at dimension 0");
  expect_error([&] { conv2d(x, w, {}, 1, 0, 1, 0); }, "non-positive groups is not supported");
  expect_error([&] { conv2d(x, randn({6, 4, 7, 3})); }, "Kernel size can't be greater than actual input size");
  expect_error([&] { conv2d(x, randn({6, 4, 3, 3}), {}, 1, 0, 3); }, "Kernel size can't be greater than actual input size");
  expect_error([&] { conv2d(x, randn({6, 4, 3, 3}), {}, 1, -1); }, "negative padding is not supported");
  expect_error([&] { conv2d(x, randn({6, 4, 3, 3}), {}, 0); }, "non-positive stride is not supported");
  expect_error([&] { conv2d(x, randn({6, 4, 3, 3}), {}, 2, "same"); }, "padding='same' is not supported for strided convolutions");
  expect_error([&] { conv2d(x, randn({6, 4, 3, 3}), {}, 1, "full"); }, "Invalid padding string: 'full'");
  expect_error([&] { conv2d(randn({4, 5}), w); }, "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [4,5]");
  expect_error([&] { conv2d(x, randn({6, 4, 3})); }, "expected a 4-D weight");
  expect_error([&] { conv2d(x, randn({6, 4, 3, 3}), randn({5})); }, "expected bias to be 1-dimensional with 6 elements, but got bias of size [5]");
  expect_error([&] { conv2d(x, randn({6, 4, 3, 3}, kFloat64)); }, "same floating dtype");
  expect_error([&] { conv2d(x, w, {}, {1, 2, 3}); }, "stride");
  expect_error([&] { conv1d(randn({2, 3, 4, 5}), randn({4, 3, 3})); }, "Expected 2D (unbatched) or 3D (batched) input to conv1d");
  expect_error([&] { max_pool2d(x, 2, 2, 2); }, "pad should be smaller than or equal to half of kernel size");
  expect_error([&] { max_pool2d(x, 0); }, "kernel size should be greater than zero");
  expect_error([&] { max_pool2d(x, 6); }, "Output size is too small");
  expect_error([&] { max_pool2d(randn({5, 5}), 2); }, "Expected 3D or 4D (batch mode) tensor");
  expect_error([&] { max_pool2d(x, 3, 1, -1); }, "pad must be non-negative");
  expect_error([&] { avg_pool2d(x, 2, 2, 0, false, true, 0); }, "divisor must be not zero");
  expect_error([&] { avg_pool2d(randn({2, 0, 5, 5}), 2); }, "non-zero size for non-batch dimensions");
  expect_error([&] { adaptive_avg_pool2d(x, {-1, 2}); }, "elements of output_size must be greater than or equal to 0");
  expect_error([&] { F::unfold(randn({2, 5}), F::UnfoldFuncOptions(2)); }, "Expected 3D or 4D (batch mode) tensor");
  expect_error([&] { F::unfold(x, F::UnfoldFuncOptions(6)); }, "calculated shape of the array of sliding blocks");
  expect_error([&] { F::fold(randn({2, 9, 5}), F::FoldFuncOptions({4, 4}, 2)); },
               "Expected size of input's dimension 1 to be divisible by the product of kernel_size");
  expect_error([&] { F::fold(randn({2, 8, 5}), F::FoldFuncOptions({4, 4}, 2)); },
               "expected size of input's dimension 2 to match the calculated number of sliding blocks 3 * 3 = 9");
  expect_error([&] { F::unfold(x, F::UnfoldFuncOptions(2).padding(-1)); }, "padding should be non-negative");
  expect_error([&] { ExpandingArray<2>({1, 2, 3}); }, "expected 2 values");
}

TEST(Conv, AnErrorLeavesTheGraphAndGradientsAlone) {
  Tensor x = randn({2, 4, 5, 5}).requires_grad_(), w = randn({6, 3, 3, 3}).requires_grad_();
  EXPECT_THROW(conv2d(x, w), Error);
  EXPECT_FALSE(x.grad().defined());
  Tensor y = conv2d(x, cat({w.slice(1, 0, 2), w.slice(1, 0, 2)}, 1));
  y.sum().backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(y.grad_fn() == nullptr);
}

}  // namespace
}  // namespace dydx
