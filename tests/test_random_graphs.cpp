// Randomised differential testing: reverse mode against forward mode against finite differences,
// one order up through create_graph, and layouts, on random graphs of dydx ops (tests/random_graph.hpp).
#include <gtest/gtest.h>

#include <random>

#include "random_graph.hpp"

namespace dydx::testing {
namespace {

constexpr int kGraphs = 300;  // per CI run; fuzz/ drives the same generator for long runs
constexpr uint64_t kSeed = 20261128;
constexpr double kStep = 1e-6;

struct Probe {
  RandomGraph graph;
  TensorList inputs, v;
  Tensor u;
};

Probe make_probe(uint64_t seed) {
  std::mt19937_64 rng(seed);
  RandomGraph graph([&](uint32_t bound) { return static_cast<uint32_t>(rng() % bound); });
  manual_seed(seed);
  Probe p{graph, {}, {}, {}};
  for (const auto& shape : graph.input_shapes()) {
    p.inputs.push_back(randn(shape, kFloat64));
    p.v.push_back(randn(shape, kFloat64));
  }
  p.u = randn(graph.run(p.inputs).sizes(), kFloat64);
  return p;
}

double dot(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return 0;
  NoGradGuard no_grad;
  return (a * b).sum().item<double>();
}

TensorList with_grad(const TensorList& ts) {
  TensorList out;
  for (const Tensor& t : ts) out.push_back(t.detach().clone().requires_grad_(true));
  return out;
}

TensorList moved(const TensorList& x, const TensorList& v, double step) {
  NoGradGuard no_grad;
  TensorList out;
  for (size_t i = 0; i < x.size(); ++i) out.push_back(x[i] + v[i] * step);
  return out;
}

// Same values in other layouts: transposed storage and every-other-element storage.
TensorList relaid(const TensorList& x, int layout) {
  TensorList out;
  for (const Tensor& t : x) {
    if (t.dim() == 0) {
      out.push_back(t);
    } else if (layout == 0) {
      std::vector<int64_t> order;  // reversing the dims is its own inverse
      for (int64_t d = t.dim() - 1; d >= 0; --d) order.push_back(d);
      out.push_back(t.permute(order).contiguous().permute(order));
    } else {
      std::vector<int64_t> wide = t.sizes().vec();
      wide.back() *= 2;
      Tensor storage = zeros(wide, t.dtype());
      storage.slice(-1, 0, std::nullopt, 2).copy_(t);
      out.push_back(storage.slice(-1, 0, std::nullopt, 2));
    }
  }
  return out;
}

std::string trace(uint64_t seed, const RandomGraph& g) {
  return "seed " + std::to_string(seed) + "; reproduce with make_probe(" + std::to_string(seed) + "):\n" + g.describe();
}

TEST(RandomGraphs, ReverseForwardAndFiniteDifferencesAgree) {
  for (int i = 0; i < kGraphs; ++i) {
    const uint64_t seed = kSeed + i;
    Probe p = make_probe(seed);
    SCOPED_TRACE(trace(seed, p.graph));
    TensorList x = with_grad(p.inputs);
    Tensor out = p.graph.run(x);
    TensorList vjp = grad({out}, x, {p.u}, true, false, true);
    double reverse = 0;
    for (size_t k = 0; k < x.size(); ++k) reverse += dot(vjp[k], p.v[k]);
    auto [value, tangent] = func::jvp([&](const TensorList& in) { return TensorList{p.graph.run(in)}; }, p.inputs, p.v);
    const double forward = dot(p.u, tangent[0]);
    const double numeric =
        (dot(p.u, p.graph.run(moved(p.inputs, p.v, kStep))) - dot(p.u, p.graph.run(moved(p.inputs, p.v, -kStep)))) /
        (2 * kStep);
    ASSERT_NEAR(reverse, numeric, 1e-5 * (1 + std::abs(numeric)));
    ASSERT_NEAR(forward, numeric, 1e-5 * (1 + std::abs(numeric)));
    ASSERT_NEAR(forward, reverse, 1e-10 * (1 + std::abs(reverse)));
  }
}

TEST(RandomGraphs, SecondDerivativeThroughCreateGraphMatchesFiniteDifferences) {
  for (int i = 0; i < kGraphs; ++i) {
    const uint64_t seed = kSeed + i;
    Probe p = make_probe(seed);
    SCOPED_TRACE(trace(seed, p.graph));
    // g(x) = <J(x)^T u, v>; its directional derivative along v, by double backward and numerically.
    auto g_of = [&](const TensorList& at, bool create_graph) {
      TensorList vjp = grad({p.graph.run(at)}, at, {p.u}, true, create_graph, true);
      Tensor total = zeros({}, kFloat64);
      for (size_t k = 0; k < at.size(); ++k)
        if (vjp[k].defined()) total = total + (vjp[k] * p.v[k]).sum();
      return total;
    };
    TensorList x = with_grad(p.inputs);
    Tensor g = g_of(x, true);
    double second = 0;
    if (g.requires_grad()) {
      TensorList h = grad({g}, x, {}, true, false, true);
      for (size_t k = 0; k < x.size(); ++k) second += dot(h[k], p.v[k]);
    }
    const double numeric = (g_of(with_grad(moved(p.inputs, p.v, kStep)), false).item<double>() -
                            g_of(with_grad(moved(p.inputs, p.v, -kStep)), false).item<double>()) /
                           (2 * kStep);
    ASSERT_NEAR(second, numeric, 1e-4 * (1 + std::abs(numeric)));
  }
}

TEST(RandomGraphs, LayoutsDoNotChangeResults) {
  for (int i = 0; i < kGraphs; ++i) {
    const uint64_t seed = kSeed + i;
    Probe p = make_probe(seed);
    SCOPED_TRACE(trace(seed, p.graph));
    TensorList x = with_grad(p.inputs);
    Tensor out = p.graph.run(x);
    TensorList g = grad({out}, x, {p.u}, std::nullopt, false, true);
    for (int layout = 0; layout < 2; ++layout) {
      TensorList other = relaid(p.inputs, layout);
      for (Tensor& t : other) t.requires_grad_(true);
      Tensor other_out = p.graph.run(other);
      ASSERT_TRUE(allclose(other_out, out, 1e-12, 1e-14)) << "layout " << layout;
      TensorList other_g = grad({other_out}, other, {p.u}, std::nullopt, false, true);
      for (size_t k = 0; k < x.size(); ++k) {
        ASSERT_EQ(g[k].defined(), other_g[k].defined());
        if (g[k].defined()) ASSERT_TRUE(allclose(other_g[k], g[k], 1e-12, 1e-14)) << "layout " << layout << ", input " << k;
      }
    }
  }
}

TEST(RandomGraphs, Float32AgreesWithFloat64) {
  for (int i = 0; i < kGraphs; ++i) {
    const uint64_t seed = kSeed + i;
    Probe p = make_probe(seed);
    SCOPED_TRACE(trace(seed, p.graph));
    TensorList x32;
    for (const Tensor& t : p.inputs) x32.push_back(t.to(kFloat32).requires_grad_(true));
    TensorList x64;
    for (const Tensor& t : x32) x64.push_back(t.detach().to(kFloat64).requires_grad_(true));
    Tensor out32 = p.graph.run(x32), out64 = p.graph.run(x64);
    ASSERT_EQ(out32.dtype(), kFloat32);
    ASSERT_TRUE(allclose(out32.to(kFloat64), out64, 1e-4, 1e-5));
  }
}

}  // namespace
}  // namespace dydx::testing
