// func::jet beyond the op table (which checks every op's Taylor rule to order 4): an MLP, and the ops
// whose rules are recurrences, against nested forward mode to order 6, derivatives through the
// coefficients (reverse over Taylor), jet inside vmap, inputs that do not move, bad input, and state
// after an error.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <string>

#include "ops/op_record.hpp"  // the test's own op without a Taylor rule

namespace dydx {
namespace {

// d^k/dt^k f(x + t v) at t = 0 for k = 1..order, by nested jacfwd over t.
TensorList nested_directional(const func::UnaryFunction& f, const Tensor& x, const Tensor& v, int64_t order) {
  func::Function d = [f, x, v](const TensorList& t) { return TensorList{f(x + v * t[0])}; };
  TensorList out;
  for (int64_t k = 1; k <= order; ++k) {
    d = func::jacfwd(d, {0});
    out.push_back(d({zeros({}, x.dtype())})[0]);
  }
  return out;
}

struct Mlp {
  Tensor w1 = randn({16, 3}, kFloat64) * 0.5, b1 = randn({16}, kFloat64) * 0.1;
  Tensor w2 = randn({8, 16}, kFloat64) * 0.3, b2 = randn({8}, kFloat64) * 0.1;
  Tensor w3 = randn({2, 8}, kFloat64) * 0.3;
  Tensor operator()(const Tensor& x) const {
    const Tensor h = sigmoid(linear(tanh(linear(x, w1, b1)), w2, b2));
    return matmul(sin(h) * exp(h * 0.5) / (h + 2.0), w3.t());
  }
};

TEST(Jet, MlpMatchesNestedForwardModeToOrderSix) {
  manual_seed(0);
  const Mlp mlp;
  const Tensor x = randn({5, 3}, kFloat64), v = randn({5, 3}, kFloat64);
  const int64_t order = 6;
  TensorList series{v};
  for (int64_t k = 1; k < order; ++k) series.push_back(zeros_like(x));
  const func::JetResult got = func::jet([&](const TensorList& in) { return TensorList{mlp(in[0])}; }, {x}, {series});
  const TensorList want = nested_directional(mlp, x, v, order);
  EXPECT_TRUE(allclose(got.primals_out[0], mlp(x), 0, 0));
  for (int64_t k = 0; k < order; ++k)
    EXPECT_TRUE(allclose(got.series_out[0][k], want[k], 1e-9, 1e-9)) << "order " << k + 1;
}

// The rules written as recurrences (exp's and log's in softmax, log_softmax, logsumexp and pow; the
// power in layer_norm and the p-norm; sqrt in std and hypot; the quotient in atan2), and the
// activations' derivatives, to order 6, beyond the op table's 4.
TEST(Jet, RecurrencesMatchNestedForwardModeToOrderSix) {
  manual_seed(2);
  const Tensor w = randn({4}, kFloat64) * 0.3 + 1.0, b = randn({4}, kFloat64) * 0.1;
  const func::UnaryFunction f = [&](const Tensor& x) {
    const Tensor h = gelu(layer_norm(x, {4}, w, b), "tanh") + elu(x) * 0.5 + softplus(x, 2) * 0.5 + gelu(x) * 0.3;
    const Tensor mixed = softmax(h, 1) + log_softmax(h, 0) * 0.1 + logsumexp(h, {1}, true) * 0.1;
    return mixed * x.std({1}, true, true) + pow(x * x + 1.0, h) * 0.1 + atan2(x, h + 3.0) + hypot(x, h) * 0.2 +
           x.norm(3, {1}, true) * 0.1 + x.norm(2.5, {0}, true) * 0.1;
  };
  const Tensor x = randn({3, 4}, kFloat64), v = randn({3, 4}, kFloat64) * 0.5;
  const int64_t order = 6;
  TensorList series{v};
  for (int64_t k = 1; k < order; ++k) series.push_back(zeros_like(x));
  const func::JetResult got = func::jet([&](const TensorList& in) { return TensorList{f(in[0])}; }, {x}, {series});
  const TensorList want = nested_directional(f, x, v, order);
  EXPECT_TRUE(allclose(got.primals_out[0], f(x), 0, 0));
  for (int64_t k = 0; k < order; ++k)
    EXPECT_TRUE(allclose(got.series_out[0][k], want[k], 1e-8, 1e-8)) << "order " << k + 1 << "\n" << got.series_out[0][k] << "\n" << want[k];
}

// A curve with every term: jet composes as JAX's does, jet(f, x, [x1, x2]) of f = g o h equals
// jet(g, h(x), jet(h, x, [x1, x2])).
// Near saturation an activation's derivatives are all of the order of its slope. Written as
// polynomials in its value y alone they summed terms of order 1 that cancel: the fourth derivative of
// sigmoid, y - 15y^2 + 50y^3 - 60y^4 + 24y^5, came out 15x too large at sigmoid(16) in float32, and
// func::biharmonic steps every activation with these derivatives. float32 against float64, relative:
// what is left is y's own rounding, which the slope 1 - y carries too (under 2e-3 at these points).
TEST(Jet, SaturatingActivationsKeepTheirDerivativesInFloat32) {
  struct Case {
    const char* name;
    func::UnaryFunction f;
    std::vector<double> points;
  };
  const std::vector<Case> cases = {
      {"tanh", [](const Tensor& x) { return tanh(x); }, {-4, -2.5, -1, 1, 2.5, 4}},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, {-8, -5, -2, 2, 5, 8}},
      {"silu", [](const Tensor& x) { return silu(x); }, {-8, -5, -2, 2, 5, 8}},
      {"softplus", [](const Tensor& x) { return softplus(x); }, {-8, -5, -2, 2, 5, 8}},
      {"gelu (tanh)", [](const Tensor& x) { return gelu(x, "tanh"); }, {-3, -2, -1, 1, 2, 3}},
  };
  constexpr int64_t kOrder = 4;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto coefficients = [&](ScalarType dtype) {
      const Tensor x = tensor(c.points, kFloat64).to(dtype);
      std::vector<TensorList> series{{ones_like(x)}};
      for (int64_t k = 1; k < kOrder; ++k) series[0].push_back(zeros_like(x));
      return func::jet([&](const TensorList& in) { return TensorList{c.f(in[0])}; }, {x}, series).series_out[0];
    };
    const TensorList single = coefficients(kFloat32), exact = coefficients(kFloat64);
    ASSERT_EQ(single.size(), static_cast<size_t>(kOrder));
    for (int64_t k = 0; k < kOrder; ++k) {
      const std::vector<double> got = single[k].to(kFloat64).to_vector<double>(), want = exact[k].to_vector<double>();
      for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 2e-3 * std::abs(want[i])) << "derivative " << k + 1 << " at " << c.points[i];
    }
  }
}

TEST(Jet, ComposesLikeTheChainRule) {
  manual_seed(1);
  const Tensor x = randn({4}, kFloat64);
  const TensorList terms{randn({4}, kFloat64), randn({4}, kFloat64), randn({4}, kFloat64)};
  const func::Function h = [](const TensorList& in) { return TensorList{tanh(in[0]) * in[0]}; };
  const func::Function g = [](const TensorList& in) { return TensorList{exp(in[0]).sum() * in[0] / (in[0] * in[0] + 1.0)}; };
  const func::Function gh = [&](const TensorList& in) { return g(h(in)); };
  const func::JetResult inner = func::jet(h, {x}, {terms});
  const func::JetResult outer = func::jet(g, inner.primals_out, inner.series_out);
  const func::JetResult whole = func::jet(gh, {x}, {terms});
  for (size_t k = 0; k < terms.size(); ++k)
    EXPECT_TRUE(allclose(whole.series_out[0][k], outer.series_out[0][k], 1e-12, 1e-12)) << k;
}

TEST(Jet, DerivativesFlowThroughTheCoefficients) {
  manual_seed(2);
  // d/dw of the third derivative of tanh(w x) along x: against central differences in w.
  const Tensor x = randn({6}, kFloat64);
  auto third = [&x](const Tensor& w) {
    const func::JetResult r = func::jet([&w](const TensorList& in) { return TensorList{tanh(in[0] * w).sum()}; }, {x},
                                        {{ones_like(x), zeros_like(x), zeros_like(x)}});
    return r.series_out[0][2];
  };
  const Tensor w = full({}, 0.7, kFloat64).requires_grad_(true);
  const Tensor g = dydx::grad({third(w)}, {w})[0];
  const double h = 1e-6;
  const double fd = (third(full({}, 0.7 + h, kFloat64)).item<double>() - third(full({}, 0.7 - h, kFloat64)).item<double>()) /
                    (2 * h);
  EXPECT_NEAR(g.item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd)));
}

TEST(Jet, InputsWithoutASeriesDoNotMove) {
  manual_seed(3);
  const Tensor a = randn({3}, kFloat64), b = randn({3}, kFloat64), t = randn({3}, kFloat64);
  const func::Function f = [](const TensorList& in) { return TensorList{sin(in[0]) * in[1]}; };
  const func::JetResult got = func::jet(f, {a, b}, {{t, zeros_like(t)}, {}});
  const TensorList want = nested_directional([&](const Tensor& x) { return sin(x) * b; }, a, t, 2);
  EXPECT_TRUE(allclose(got.series_out[0][0], want[0], 1e-12, 1e-12));
  EXPECT_TRUE(allclose(got.series_out[0][1], want[1], 1e-12, 1e-12));
}

TEST(Jet, InsideVmapEqualsTheLoop) {
  manual_seed(4);
  const Tensor xs = randn({4, 3}, kFloat64), vs = randn({4, 3}, kFloat64);
  const func::Function per_sample = [](const TensorList& in) {
    const func::JetResult r =
        func::jet([](const TensorList& x) { return TensorList{exp(x[0]).sum() * tanh(x[0][0])}; }, {in[0]},
                  {{in[1], zeros_like(in[1]), zeros_like(in[1])}});
    return TensorList{stack(r.series_out[0])};
  };
  const Tensor got = func::vmap(per_sample, {0, 0})({xs, vs})[0];
  for (int64_t b = 0; b < 4; ++b)
    EXPECT_TRUE(allclose(got[b], per_sample({xs[b], vs[b]})[0], 1e-12, 1e-12)) << b;
}

using testing::error_of;

// 0-d, empty and expanded primals: the same coefficients as their plain or contiguous forms.
TEST(Jet, ZeroDimEmptyAndExpandedPrimals) {
  const func::Function f = [](const TensorList& in) { return TensorList{sin(in[0]) * exp(in[0])}; };
  const Tensor s = full({}, 0.3, kFloat64);
  const func::JetResult scalar = func::jet(f, {s}, {{ones_like(s), zeros_like(s)}});
  const TensorList want = nested_directional([&f](const Tensor& x) { return f({x})[0]; }, s, ones_like(s), 2);
  EXPECT_TRUE(allclose(scalar.series_out[0][1], want[1], 1e-12, 1e-12));
  const Tensor empty = zeros({0, 3}, kFloat64);
  EXPECT_EQ(func::jet(f, {empty}, {{empty, empty}}).series_out[0][1].sizes(), IntArrayRef({0, 3}));
  const Tensor row = randn({3}, kFloat64), expanded = row.expand({4, 3});
  const func::Function total = [](const TensorList& in) { return TensorList{(sin(in[0]) * in[0]).sum()}; };
  const func::JetResult from_view = func::jet(total, {expanded}, {{expanded, expanded}});
  const func::JetResult from_copy = func::jet(total, {expanded.contiguous()}, {{expanded.contiguous(), expanded.contiguous()}});
  EXPECT_TRUE(allclose(from_view.series_out[0][1], from_copy.series_out[0][1], 1e-12, 1e-12));
}

TEST(Jet, BadInputRaisesClearErrors) {
  const Tensor x = randn({3}, kFloat64);
  const func::Function f = [](const TensorList& in) { return TensorList{exp(in[0])}; };
  EXPECT_NE(error_of([&] { func::jet(f, {x}, {{randn({4}, kFloat64)}}); }).find("term 1 of series 0 has shape [4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::jet(f, {x, x}, {{x}, {x, x}}); }).find("same number of terms"), std::string::npos);
  EXPECT_NE(error_of([&] { func::jet(f, {x}, {{x.to(kFloat32)}}); }).find("dtype"), std::string::npos);
  EXPECT_NE(error_of([&] { func::jet(f, {x}, {{}}); }).find("every series is empty"), std::string::npos);
  EXPECT_NE(error_of([&] { func::jet(f, {x}, {}); }).find("one series per primal"), std::string::npos);
  EXPECT_NE(error_of([&] { func::jet(f, {arange(3)}, {{arange(3)}}); }).find("floating"), std::string::npos);
}

// Every op of the library has a Taylor rule, so the test records one of its own without: x^2 with
// the JVP and curvature rules a nonlinear op needs, and no taylor().
struct SquareWithoutTaylorRule : ops::Named<"test.square_without_taylor_rule", "SquareWithoutTaylorRuleBackward0"> {
  static constexpr ops::Saves saves{.inputs = ops::input_bits(0)};
  static void vjp(const ops::Backward<SquareWithoutTaylorRule>& b, const Tensor& g, Tensor* grads) {
    grads[0] = 2.0 * g * b.input(0);
  }
  static Tensor jvp(const ops::Primal<SquareWithoutTaylorRule>& p, const TensorList& t) { return 2.0 * t[0] * p.input(0); }
  static Tensor curvature(const ops::Primal<SquareWithoutTaylorRule>&, const TensorList& g) {
    return g[0].defined() ? 2.0 * (g[0] * g[0]).sum({0}) : Tensor();
  }
};

Tensor square_without_taylor_rule(const Tensor& x) {
  const Tensor value = x.detach();
  Tensor out = value * value;
  ops::finish<SquareWithoutTaylorRule>({&x}, out);
  return out;
}

TEST(Jet, AnOpWithoutATaylorRuleRaisesAndLeavesNoLevelOpen) {
  const Tensor x = randn({2, 3}, kFloat64);
  const func::Function f = [](const TensorList& in) { return TensorList{square_without_taylor_rule(in[0])}; };
  // Forward mode goes through it.
  EXPECT_TRUE(allclose(func::jvp(f, {x}, {ones_like(x)}).second[0], 2.0 * x, 1e-12, 1e-12));
  const std::string message = error_of([&] { func::jet(f, {x}, {{x}}); });
  EXPECT_NE(message.find("jet: test.square_without_taylor_rule has no Taylor rule"), std::string::npos) << message;
  // The level closed with the error: ordinary forward mode works after it.
  auto [value, tangent] = func::jvp([](const TensorList& in) { return TensorList{exp(in[0])}; }, {x}, {ones_like(x)});
  EXPECT_TRUE(allclose(tangent[0], exp(x), 0, 0));
  // And an f that throws its own exception leaves nothing behind either.
  EXPECT_THROW(func::jet([](const TensorList&) -> TensorList { throw std::runtime_error("boom"); }, {x}, {{x}}),
               std::runtime_error);
  const func::Function square = [](const TensorList& in) { return TensorList{in[0] * in[0]}; };
  EXPECT_TRUE(allclose(func::jet(square, {x}, {{x}}).series_out[0][0], 2.0 * x * x, 1e-12, 1e-12));
}

}  // namespace
}  // namespace dydx
