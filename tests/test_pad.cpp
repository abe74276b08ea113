// F::pad and the convolutions' padding_mode: values and gradients against PyTorch 1.13
// (pad_goldens.txt, from make_pad_goldens.py), first and second derivatives in both modes against
// finite differences, views and special values as inputs, and PyTorch's errors.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>
#include <dydx/nn.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "golden_text.hpp"
#include "stats_goldens.hpp"
#include "test_util.hpp"

namespace dydx::testing {
namespace {

namespace F = nn::functional;

F::PadFuncOptions::mode_t mode_named(const std::string& name) {
  if (name == "reflect") return kReflect;
  if (name == "replicate") return kReplicate;
  if (name == "circular") return kCircular;
  return kConstant;
}

nn::Conv2dOptions::padding_mode_t conv_mode_named(const std::string& name) {
  if (name == "reflect") return kReflect;
  if (name == "replicate") return kReplicate;
  return kCircular;
}

struct PadCase {
  std::string line, op;
  std::map<std::string, std::string> options;
  std::map<std::string, Tensor> tensors;
};

std::vector<PadCase> pad_cases() {
  std::vector<PadCase> cases;
  for (const std::string& line : golden_lines("pad_goldens.txt")) {
    PadCase c;
    std::stringstream words(line);
    std::string head;
    words >> head;
    c.line = head;
    std::stringstream parts(head);
    std::getline(parts, c.op, ';');
    for (std::string option; std::getline(parts, option, ';');)
      c.options[option.substr(0, option.find('='))] = option.substr(option.find('=') + 1);
    for (std::string field, shape, values; words >> field >> shape >> values;)
      c.tensors[field] = golden_tensor(shape, values);
    cases.push_back(std::move(c));
  }
  return cases;
}

/// The case's function of its inputs (x; or x, w, b for a convolution module), called with dydx.
Tensor apply_case(const PadCase& c, const TensorList& in) {
  const std::string mode = c.options.at("mode");
  if (c.op == "pad") {
    F::PadFuncOptions o(golden_ints(c.options.at("pad"), ','));
    o.mode(mode_named(mode));
    if (c.options.count("value")) o.value(golden_value(c.options.at("value")));
    return F::pad(in[0], o);
  }
  // The module's own forward (pad, then convolve), with the case's parameters put in.
  const std::string padding = c.options.at("padding");
  const int64_t dilation = std::stoll(c.options.at("dilation"));
  const std::unordered_map<std::string, Tensor> params{{"weight", in[1]}, {"bias", in[2]}};
  if (c.op == "conv1d") {
    nn::Conv1dOptions o(3, 4, 3);
    if (padding == "same") o.padding(kSame);
    else o.padding(golden_ints(padding, ',')[0]);
    nn::Conv1d conv(o.dilation(dilation).padding_mode(conv_mode_named(mode)));
    return func::functional_call(conv, params, in[0]);
  }
  nn::Conv2dOptions o(3, 4, 3);
  if (padding == "same") {
    o.padding(kSame);
  } else {
    const std::vector<int64_t> p = golden_ints(padding, ',');
    o.padding(ExpandingArray<2>({p[0], p[1]}));
  }
  nn::Conv2d conv(o.dilation(dilation).padding_mode(conv_mode_named(mode)));
  return func::functional_call(conv, params, in[0]);
}

TensorList case_inputs(const PadCase& c, ScalarType dtype) {
  TensorList in;
  for (const char* name : {"x", "w", "b"})
    if (c.tensors.count(name)) in.push_back(c.tensors.at(name).to(dtype));
  return in;
}

void check_case(const PadCase& c, ScalarType dtype, double tol) {
  TensorList leaves;
  for (const Tensor& t : case_inputs(c, dtype)) leaves.push_back(t.detach().requires_grad_());
  const Tensor out = apply_case(c, leaves);
  EXPECT_TRUE(MatchesGolden(out, c.tensors.at("out"), tol, tol)) << c.line << " out, " << dtype;
  const TensorList grads = grad({out}, leaves, {c.tensors.at("gout").to(dtype)});
  const char* names[] = {"gx", "gw", "gb"};
  for (size_t i = 0; i < leaves.size(); ++i)
    EXPECT_TRUE(MatchesGolden(grads[i], c.tensors.at(names[i]), tol, tol)) << c.line << " " << names[i] << ", " << dtype;
}

TEST(PadGoldens, MatchPyTorchInFloat64AndFloat32) {
  const auto cases = pad_cases();
  ASSERT_GE(cases.size(), 30u);
  for (const PadCase& c : cases) {
    check_case(c, kFloat64, 1e-12);
    check_case(c, kFloat32, 2e-5);
  }
}

// pad is linear, so the cube makes the second derivatives nonzero; the convolutions are bilinear.
TEST(PadDerivatives, FirstAndSecondOrderInBothModesAgainstFiniteDifferences) {
  uint64_t seed = 7;
  for (const PadCase& c : pad_cases()) {
    SCOPED_TRACE(c.line);
    check_fd_derivatives([&](const TensorList& in) { return apply_case(c, in).pow(3); }, case_inputs(c, kFloat64),
                         seed++);
  }
}

// The padded values are copied, bit for bit: nan, inf, -0 and int64 extremes included.
TEST(PadValues, SpecialValuesAndIntegersAreCopiedExactly) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const Tensor x = tensor(std::vector<double>{nan, -0.0, inf, -inf}, kFloat64).reshape({1, 4});
  const Tensor r = F::pad(x, F::PadFuncOptions({2, 2}).mode(kReflect));
  const std::vector<double> got = r.to_vector<double>();
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(got[0], inf);                                  // x[2]
  EXPECT_TRUE(std::signbit(got[1]) && got[1] == 0);        // x[1], -0
  EXPECT_TRUE(std::isnan(got[2]));
  EXPECT_EQ(got[7], -0.0);
  EXPECT_TRUE(std::signbit(got[7]));
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  const Tensor i = tensor(std::vector<int64_t>{big, small, big - 1}, TensorOptions().dtype(kInt64)).reshape({1, 3});
  const Tensor ri = F::pad(i, F::PadFuncOptions({1, 1}).mode(kReplicate));
  EXPECT_EQ(ri.to_vector<int64_t>(), (std::vector<int64_t>{big, big, small, big - 1, big - 1}));
  const Tensor ci = F::pad(i, F::PadFuncOptions({1, 0}).value(2.5));  // truncated to 2, as in PyTorch
  EXPECT_EQ(ci.dtype(), kInt64);
  EXPECT_EQ(ci.to_vector<int64_t>(), (std::vector<int64_t>{2, big, small, big - 1}));
}

// Strided, expanded and transposed inputs give what their contiguous copies give.
TEST(PadViews, StridedExpandedAndTransposedInputs) {
  const Tensor base = randn({3, 4, 6}, kFloat64);
  const std::vector<Tensor> views = {base.slice(2, 0, 6, 2), base.select(0, 1).unsqueeze(0).expand({2, 4, 6}),
                                     base.transpose(1, 2)};
  for (const Tensor& v : views)
    for (const F::PadFuncOptions::mode_t& mode : {F::PadFuncOptions::mode_t(kConstant), F::PadFuncOptions::mode_t(kReflect),
                                                  F::PadFuncOptions::mode_t(kReplicate), F::PadFuncOptions::mode_t(kCircular)}) {
      const auto o = F::PadFuncOptions({1, 2, 2, 1}).mode(mode).value(3);
      EXPECT_TRUE(equal(F::pad(v, o), F::pad(v.contiguous(), o)));
    }
}

TEST(PadShapes, ZeroSizeUnbatchedAndEmptyPads) {
  EXPECT_EQ(F::pad(zeros({0, 3}), F::PadFuncOptions({1, 1})).sizes(), IntArrayRef({0, 5}));
  EXPECT_EQ(F::pad(zeros({0, 2, 3}), F::PadFuncOptions({1, 1}).mode(kReflect)).sizes(), IntArrayRef({0, 2, 5}));
  EXPECT_EQ(F::pad(zeros({2, 3}), F::PadFuncOptions({-3, 0})).sizes(), IntArrayRef({2, 0}));
  EXPECT_EQ(F::pad(ones({2, 3}), F::PadFuncOptions({})).sizes(), IntArrayRef({2, 3}));
  // Unbatched circular (PyTorch 2.x and dydx; 1.13 wraps batched inputs only) equals the batched one.
  const Tensor x = randn({3, 5}, kFloat64);
  const auto circular = F::PadFuncOptions({2, 3}).mode(kCircular);
  EXPECT_TRUE(equal(F::pad(x, circular), F::pad(x.unsqueeze(0), circular).squeeze(0)));
  // A pad that moves nothing keeps the values (a copy for constant, as in PyTorch).
  EXPECT_TRUE(equal(F::pad(x, F::PadFuncOptions({0, 0})), x));
}

TEST(PadErrors, AsPyTorchNamingThePadAndTheInput) {
  const Tensor x = ones({1, 2, 3});
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({1})), "pad", "divisible by 2");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({1, 1, 1, 1, 1, 1, 1, 1})), "pad", "too large", "[1,2,3]");
  EXPECT_DYDX_ERROR(F::pad(tensor(1.0), F::PadFuncOptions({1, 1})), "pad", "too large");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({-2, -2})), "pad", "negative output size", "dimension 2");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({3, 0}).mode(kReflect)), "pad", "less than the corresponding input",
                    "(3, 0)", "dimension 2", "[1,2,3]");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({4, 0}).mode(kCircular)), "pad", "wrapping around more than once");
  EXPECT_DYDX_ERROR(F::pad(ones({3}), F::PadFuncOptions({1, 1}).mode(kReflect)), "pad", "non-constant", "[3]");
  EXPECT_DYDX_ERROR(F::pad(ones({1, 1, 1, 3}), F::PadFuncOptions({1, 1}).mode(kReplicate)), "pad", "non-constant");
  EXPECT_DYDX_ERROR(F::pad(ones({1, 2, 0}), F::PadFuncOptions({1, 1}).mode(kReplicate)), "pad", "none are left");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({-4, 1}).mode(kReplicate)), "pad", "crops more than");
  EXPECT_DYDX_ERROR(F::pad(Tensor(), F::PadFuncOptions({1, 1})), "pad", "undefined");
}

// Pads at int64's extremes raise instead of wrapping into a plausible size; a pad too large to
// allocate is a dydx::Error too (from the allocator), in every mode.
TEST(PadErrors, Int64ExtremesAndHugePads) {
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  const Tensor x = ones({1, 2, 3});
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({max, 0})), "pad", "overflows int64", "dimension 2");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({1, max})), "pad", "overflows int64");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({min, 0})), "pad", "overflows int64");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({0, max}).mode(kReplicate)), "pad", "overflows int64");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({min, 1}).mode(kCircular)), "pad", "overflows int64");
  const int64_t huge = int64_t{1} << 45;  // 256 TiB of int64 positions, or of floats
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({huge, 0}).mode(kReplicate)), "out of memory");
  EXPECT_DYDX_ERROR(F::pad(x, F::PadFuncOptions({huge, 0})), "out of memory");
}

// The module's forward equals F::pad then an unpadded convolution, and it prints its mode as libtorch.
TEST(ConvPaddingMode, ModuleForwardPadsThenConvolvesAndPrintsTheMode) {
  nn::Conv2d conv(nn::Conv2dOptions(2, 3, 3).padding(1).padding_mode(kReflect));
  const Tensor x = randn({2, 2, 5, 4}, kFloat32);
  const Tensor want = F::conv2d(F::pad(x, F::PadFuncOptions({1, 1, 1, 1}).mode(kReflect)), conv->weight,
                                F::Conv2dFuncOptions().bias(conv->bias));
  EXPECT_TRUE(equal(conv(x), want));
  std::ostringstream s;
  s << *conv;
  EXPECT_EQ(s.str(), "dydx::nn::Conv2d(2, 3, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1], padding_mode=kReflect)");
}

}  // namespace
}  // namespace dydx::testing
