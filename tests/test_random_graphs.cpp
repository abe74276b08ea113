// Randomised differential testing: reverse mode against forward mode against finite differences,
// one order up through create_graph, the forward Laplacian and the Taylor operators against nested
// derivatives, and layouts,
// on random graphs of dydx ops (tests/random_graph.hpp).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>

#include "random_graph.hpp"

namespace dydx::testing {
namespace {

constexpr int kGraphs = 300;  // per CI run; fuzz/ drives the same generator for long runs
constexpr uint64_t kSeed = 20261128;
constexpr double kStep = 1e-6;

struct Probe {
  RandomGraph graph;
  TensorList inputs, v;  // where the derivatives are taken, and the direction
};

Probe make_probe(uint64_t seed) {
  std::mt19937_64 rng(seed);
  RandomGraph graph([&](uint32_t bound) { return static_cast<uint32_t>(rng() % bound); });
  manual_seed(seed);
  Probe p{graph, {}, {}};
  for (const auto& shape : graph.input_shapes()) {
    p.inputs.push_back(randn(shape, kFloat64));
    p.v.push_back(randn(shape, kFloat64));
  }
  return p;
}

// The output's cotangent: random, but the same for a program and its prefixes of the same shape.
Tensor cotangent_for(const Tensor& out) {
  manual_seed(17);
  return randn(out.sizes(), kFloat64);
}

double inner_product(const Tensor& a, const Tensor& b) {
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

using Check = std::function<std::string(const RandomGraph&, const TensorList& inputs, const TensorList& v)>;

std::string near(const char* what, double a, double b, double tolerance) {
  if (std::abs(a - b) <= tolerance * (1 + std::abs(b))) return "";
  return std::string(what) + ": " + std::to_string(a) + " vs " + std::to_string(b);
}

// Reverse mode (a VJP), forward mode (a JVP) and central differences along v, projected on a cotangent.
std::string first_order(const RandomGraph& g, const TensorList& inputs, const TensorList& v) {
  TensorList x = with_grad(inputs);
  Tensor out = g.run(x);
  Tensor u = cotangent_for(out);
  TensorList vjp = grad({out}, x, {u}, true, false, true);
  double reverse = 0;
  for (size_t k = 0; k < x.size(); ++k) reverse += inner_product(vjp[k], v[k]);
  auto [value, tangent] = func::jvp([&](const TensorList& in) { return TensorList{g.run(in)}; }, inputs, v);
  const double forward = inner_product(u, tangent[0]);
  const double numeric =
      (inner_product(u, g.run(moved(inputs, v, kStep))) - inner_product(u, g.run(moved(inputs, v, -kStep)))) / (2 * kStep);
  for (std::string failure : {near("reverse vs finite differences", reverse, numeric, 1e-5),
                              near("forward vs finite differences", forward, numeric, 1e-5),
                              near("forward vs reverse", forward, reverse, 1e-10)})
    if (!failure.empty()) return failure;
  return "";
}

// g(x) = <J(x)^T u, v>; its derivative along v by double backward, against central differences.
std::string second_order(const RandomGraph& g, const TensorList& inputs, const TensorList& v) {
  auto g_of = [&](const TensorList& at, bool create_graph) {
    Tensor out = g.run(at);
    TensorList vjp = grad({out}, at, {cotangent_for(out)}, true, create_graph, true);
    Tensor total = zeros({}, kFloat64);
    for (size_t k = 0; k < at.size(); ++k)
      if (vjp[k].defined()) total = total + (vjp[k] * v[k]).sum();
    return total;
  };
  TensorList x = with_grad(inputs);
  Tensor first = g_of(x, true);
  double second = 0;
  if (first.requires_grad()) {
    TensorList h = grad({first}, x, {}, true, false, true);
    for (size_t k = 0; k < x.size(); ++k) second += inner_product(h[k], v[k]);
  }
  const double numeric = (g_of(with_grad(moved(inputs, v, kStep)), false).item<double>() -
                          g_of(with_grad(moved(inputs, v, -kStep)), false).item<double>()) /
                         (2 * kStep);
  return near("double backward vs finite differences", second, numeric, 1e-4);
}

// The program as a function of one row x [1, k]: each input moves by z + z^2 / 2 along its slice of
// z = x m (m [k, n], n the inputs' total size), so that directions mix and every input carries
// derivatives of every order.
func::UnaryFunction as_row_function(const RandomGraph& g, const TensorList& inputs, const Tensor& m) {
  return [&g, inputs, m](const Tensor& x) {
    const Tensor z = matmul(x.select(0, 0), m);
    TensorList at;
    int64_t offset = 0;
    for (const Tensor& t : inputs) {
      const Tensor part = z.narrow(0, offset, t.numel()).reshape(t.sizes());
      at.push_back(t + part + part.pow(2) * 0.5);
      offset += t.numel();
    }
    return g.run(at).reshape({1, -1});
  };
}

// The forward Laplacian against the nested forward-over-forward diagonal, on the program as a function
// of one row x [1, n] (as_row_function, m [n, n]).
std::string forward_laplacian(const RandomGraph& g, const TensorList& inputs, const TensorList&) {
  int64_t n = 0;
  for (const Tensor& t : inputs) n += t.numel();
  manual_seed(23);
  const func::UnaryFunction f = as_row_function(g, inputs, randn({n, n}, kFloat64) / std::sqrt(static_cast<double>(n)));
  Tensor x = zeros({1, n}, kFloat64);  // where the inputs are the probe's own
  Tensor actual = func::laplacian(f, x);
  Tensor expected = func::batch_hessian_diagonal(f, x).sum({-1});
  if (allclose(actual, expected, 1e-10, 1e-10)) return "";
  NoGradGuard no_grad;
  return "forward Laplacian vs nested diagonal: largest difference " +
         std::to_string((actual - expected).abs().max().item<double>());
}

// Taylor mode on the program as a function of one row x [1, 3] (as_row_function): jet to order 3 along a
// random curve, derivative_diagonal of order 3, weighted_laplacian, biharmonic and a linear_operator of
// terms of orders 1 to 3 against the derivative tensors of nested forward mode.
std::string taylor_operators(const RandomGraph& g, const TensorList& inputs, const TensorList&) {
  int64_t n = 0;
  for (const Tensor& t : inputs) n += t.numel();
  manual_seed(29);
  const func::UnaryFunction f = as_row_function(g, inputs, randn({3, n}, kFloat64) / std::sqrt(3.0));
  const Tensor x = zeros({1, 3}, kFloat64);
  // The derivative tensors of the row by nested jacfwd: d[k] is [out, 3 x k].
  const func::UnaryFunction row = [&f](const Tensor& u) { return f(u.unsqueeze(0)).squeeze(0); };
  TensorList d;
  func::Function nested = [&row](const TensorList& in) { return TensorList{row(in[0])}; };
  for (int k = 1; k <= 4; ++k) {
    nested = func::jacfwd(nested, {0});
    d.push_back(nested({x[0]})[0]);
  }
  auto differs = [](const Tensor& a, const Tensor& b) { return a.sizes() != b.sizes() || !allclose(a, b, 1e-8, 1e-8); };
  // jet along x(t) = x + t v + t^2 w / 2 + t^3 u / 6: its third derivative by the chain rule on d.
  const Tensor v = randn({3}, kFloat64), w = randn({3}, kFloat64), u = randn({3}, kFloat64);
  const func::JetResult jet = func::jet([&row](const TensorList& in) { return TensorList{row(in[0])}; }, {x[0]}, {{v, w, u}});
  const Tensor third = einsum("oijk,i,j,k->o", {d[2], v, v, v}) + 3.0 * einsum("oij,i,j->o", {d[1], v, w}) +
                       einsum("oi,i->o", {d[0], u});
  if (differs(jet.series_out[0][2], third)) return "jet's third derivative differs from nested forward mode";
  const Tensor diagonal3 = einsum("oiii->oi", {d[2]}).unsqueeze(0);
  if (differs(func::derivative_diagonal(f, x, 3), diagonal3)) return "derivative_diagonal(3) differs";
  const Tensor sigma = randn({3, 2}, kFloat64);
  const Tensor weighted = einsum("oij,ij->o", {d[1], matmul(sigma, sigma.t())}).unsqueeze(0);
  if (differs(func::weighted_laplacian(f, x, sigma), weighted)) return "weighted_laplacian differs";
  if (differs(func::biharmonic(f, x), einsum("oiijj->o", {d[3]}).unsqueeze(0))) return "biharmonic differs";
  const std::vector<func::PartialTerm> terms = {{0.5, {1, 0, 0}}, {-1.0, {0, 1, 1}}, {2.0, {2, 0, 1}}, {0.3, {0, 3, 0}}};
  const Tensor want = 0.5 * d[0].select(1, 0) - d[1].select(1, 1).select(1, 2) +
                      2.0 * d[2].select(1, 0).select(1, 0).select(1, 2) + 0.3 * d[2].select(1, 1).select(1, 1).select(1, 1);
  if (differs(func::linear_operator(f, x, terms), want.unsqueeze(0))) return "linear_operator differs";
  return "";
}

// Runs check on every graph; a failing graph is reported with its seed and its shortest failing prefix.
void check_all(const Check& check) {
  for (int i = 0; i < kGraphs; ++i) {
    const uint64_t seed = kSeed + i;
    Probe p = make_probe(seed);
    std::string failure = check(p.graph, p.inputs, p.v);
    if (failure.empty()) continue;
    RandomGraph minimal = p.graph;
    for (size_t steps = 1; steps < p.graph.num_steps(); ++steps) {
      RandomGraph cut = p.graph.prefix(steps);
      std::string cut_failure = check(cut, p.inputs, p.v);
      if (!cut_failure.empty()) {
        minimal = cut;
        failure = cut_failure;
        break;
      }
    }
    ADD_FAILURE() << failure << "\nseed " << seed << " (make_probe(" << seed << ")), shortest failing program:\n"
                  << minimal.describe();
    return;
  }
}

// vmap: the program mapped over a batch of 3 samples of every input, each batched along a dim that
// depends on its position, equals the program run on each sample; and so do per-sample gradients.
struct Batch {
  TensorList inputs;
  func::BatchDims in_dims;
};

Batch batch_of(const TensorList& x, const TensorList& v) {
  Batch b;
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t dim = static_cast<int64_t>(i) % (x[i].dim() + 1);
    b.inputs.push_back(stack({x[i], x[i] + 0.1 * v[i], x[i] - 0.2 * v[i]}, dim));
    b.in_dims.push_back(dim);
  }
  return b;
}

Tensor sample_of(const Batch& b, size_t i, int64_t s) { return b.inputs[i].select(*b.in_dims[i], s); }

std::string vmapped(const RandomGraph& g, const TensorList& x, const TensorList& v) {
  const Batch b = batch_of(x, v);
  func::Function run = [&g](const TensorList& in) { return TensorList{g.run(in)}; };
  Tensor actual = func::vmap(run, b.in_dims)(b.inputs)[0];
  for (int64_t s = 0; s < 3; ++s) {
    TensorList sample;
    for (size_t i = 0; i < x.size(); ++i) sample.push_back(sample_of(b, i, s));
    Tensor expected = g.run(sample);
    if (actual.select(0, s).sizes() != expected.sizes() || !allclose(actual.select(0, s), expected, 1e-12, 1e-14))
      return "vmap differs from the loop at sample " + std::to_string(s);
  }
  return "";
}

std::string vmapped_grad(const RandomGraph& g, const TensorList& x, const TensorList& v) {
  const Batch b = batch_of(x, v);
  std::vector<int64_t> all;
  for (size_t i = 0; i < x.size(); ++i) all.push_back(static_cast<int64_t>(i));
  func::Function loss = [&g](const TensorList& in) { return TensorList{(g.run(in) * g.run(in)).sum()}; };
  TensorList actual = func::vmap(func::grad(loss, all), b.in_dims)(b.inputs);
  for (int64_t s = 0; s < 3; ++s) {
    TensorList sample;
    for (size_t i = 0; i < x.size(); ++i) sample.push_back(sample_of(b, i, s));
    TensorList expected = func::grad(loss, all)(sample);
    for (size_t i = 0; i < x.size(); ++i)
      if (!allclose(actual[i].select(0, s), expected[i], 1e-10, 1e-12))
        return "vmap(grad) differs from the loop at sample " + std::to_string(s) + ", input " + std::to_string(i);
  }
  return "";
}

// A check whose errors are failures too, so that check_all finds the shortest program that raises.
Check raising_as_failure(const Check& check) {
  return [check](const RandomGraph& g, const TensorList& x, const TensorList& v) {
    try {
      return check(g, x, v);
    } catch (const Error& e) {
      return std::string("raised: ") + e.what();
    }
  };
}

TEST(RandomGraphs, VmapEqualsTheLoopOverSamples) { check_all(raising_as_failure(vmapped)); }

TEST(RandomGraphs, VmapOfGradEqualsTheLoopOverSamples) { check_all(raising_as_failure(vmapped_grad)); }

TEST(RandomGraphs, ReverseForwardAndFiniteDifferencesAgree) { check_all(first_order); }

TEST(RandomGraphs, SecondDerivativeThroughCreateGraphMatchesFiniteDifferences) { check_all(second_order); }

TEST(RandomGraphs, ForwardLaplacianMatchesNestedForwardDiagonal) { check_all(forward_laplacian); }

TEST(RandomGraphs, TaylorOperatorsMatchNestedDerivatives) { check_all(raising_as_failure(taylor_operators)); }

std::string trace(uint64_t seed, const RandomGraph& g) {
  return "seed " + std::to_string(seed) + "; reproduce with make_probe(" + std::to_string(seed) + "):\n" + g.describe();
}

TEST(RandomGraphs, LayoutsDoNotChangeResults) {
  for (int i = 0; i < kGraphs; ++i) {
    const uint64_t seed = kSeed + i;
    Probe p = make_probe(seed);
    SCOPED_TRACE(trace(seed, p.graph));
    TensorList x = with_grad(p.inputs);
    Tensor out = p.graph.run(x);
    Tensor u = cotangent_for(out);
    TensorList g = grad({out}, x, {u}, std::nullopt, false, true);
    for (int layout = 0; layout < 2; ++layout) {
      TensorList other = relaid(p.inputs, layout);
      for (Tensor& t : other) t.requires_grad_(true);
      Tensor other_out = p.graph.run(other);
      ASSERT_TRUE(allclose(other_out, out, 1e-12, 1e-14)) << "layout " << layout;
      TensorList other_g = grad({other_out}, other, {u}, std::nullopt, false, true);
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
