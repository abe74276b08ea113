// The forward Laplacian through activations as one op (src/ops/laplacian_tangent.hpp) in training:
// gradients and second derivatives of a physics-informed loss against finite differences and
// against the composed rules, which a non-contiguous tangent forces.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>
#include <string>

#include <dydx/dydx.hpp>

#include "ops/laplacian_tangent.hpp"

namespace dydx {
namespace {

using Activation = std::function<Tensor(const Tensor&)>;

// A small network 2 -> 4 -> 4 -> 1 with the given activation, in float64; `fused` false passes the
// activation a transposed view, whose tangent is not dense, so the JVP and curvature rules run
// instead of the fused op.
struct Net {
  TensorList params;  // w0, b0, w1, b1, w2, b2
  Activation act;
  bool fused = true;
  Net(Activation activation, uint64_t seed) : act(std::move(activation)) {
    manual_seed(seed);
    const int64_t sizes[] = {2, 4, 4, 1};
    for (int l = 0; l < 3; ++l) {
      params.push_back(randn({sizes[l + 1], sizes[l]}, kFloat64) * (1.0 / std::sqrt(static_cast<double>(sizes[l]))));
      params.push_back(randn({sizes[l + 1]}, kFloat64) * 0.3);
    }
  }
  Tensor operator()(const Tensor& x, const TensorList& p) const {
    Tensor h = x;
    for (int l = 0; l < 3; ++l) {
      h = linear(h, p[2 * l], p[2 * l + 1]);
      if (l < 2) h = fused ? act(h) : act(h.t()).t();
    }
    return h;
  }
};

// The physics-informed loss mean((laplacian(u) - target)^2) + mean(u^2) at parameters p.
Tensor loss_of(const Net& net, const TensorList& p, const Tensor& x, const Tensor& target) {
  func::UnaryFunction u = [&](const Tensor& z) { return net(z, p); };
  return (func::laplacian(u, x) - target).pow(2).mean() + u(x).pow(2).mean();
}

TensorList leaves_of(const TensorList& params) {
  TensorList leaves;
  for (const Tensor& p : params) leaves.push_back(p.detach().clone().requires_grad_(true));
  return leaves;
}

// Whether the graph behind t holds a node named name.
bool graph_has(const Tensor& t, const std::string& name) {
  std::vector<autograd::Node*> stack;
  std::set<autograd::Node*> seen;
  if (t.grad_fn()) stack.push_back(t.grad_fn().get());
  while (!stack.empty()) {
    autograd::Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    if (name == node->name()) return true;
    for (const auto& next : node->next_functions())
      if (next) stack.push_back(next.get());
  }
  return false;
}

struct Case {
  const char* name;
  Activation act;
};

const Case kCases[] = {
    {"tanh", [](const Tensor& h) { return tanh(h); }},
    {"sigmoid", [](const Tensor& h) { return sigmoid(h); }},
    {"sin", [](const Tensor& h) { return sin(h); }},
    {"cos", [](const Tensor& h) { return cos(h); }},
    {"exp", [](const Tensor& h) { return exp(h); }},
    {"silu", [](const Tensor& h) { return silu(h); }},
};

class FusedLaplacianTraining : public ::testing::TestWithParam<size_t> {
 protected:
  const Case& activation() const { return kCases[GetParam()]; }
};

TEST_P(FusedLaplacianTraining, GradientMatchesFiniteDifferencesAndTheComposedRules) {
  Net net(activation().act, 11 + GetParam());
  manual_seed(100 + GetParam());
  Tensor x = rand({5, 2}, kFloat64), target = randn({5, 1}, kFloat64);
  TensorList p = leaves_of(net.params);
  Tensor loss = loss_of(net, p, x, target);
  EXPECT_TRUE(graph_has(loss, "LaplacianTangentBackward0")) << "the fused op did not run";
  TensorList fused = grad({loss}, p);

  net.fused = false;
  TensorList q = leaves_of(net.params);
  Tensor composed_loss = loss_of(net, q, x, target);
  EXPECT_FALSE(graph_has(composed_loss, "LaplacianTangentBackward0")) << "the composed rules did not run";
  EXPECT_NEAR(loss.item<double>(), composed_loss.item<double>(), 1e-13 * (1 + std::abs(loss.item<double>())));
  TensorList composed = grad({composed_loss}, q);

  const double step = 1e-6;
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_TRUE(allclose(fused[i], composed[i], 1e-12, 1e-13)) << "parameter " << i << "\n" << fused[i] << composed[i];
    for (int64_t j = 0; j < p[i].numel(); ++j) {
      auto at = [&](double delta) {
        NoGradGuard no_grad;
        TensorList moved = net.params;
        moved[i] = moved[i].clone();
        moved[i].view({-1}).select(0, j).add_(delta);
        return loss_of(net, moved, x, target).item<double>();
      };
      const double numeric = (at(step) - at(-step)) / (2 * step);
      EXPECT_NEAR(fused[i].reshape({-1}).select(0, j).item<double>(), numeric, 1e-6 * (1 + std::abs(numeric)))
          << "parameter " << i << " element " << j;
    }
  }
}

// Hessian-vector products of the loss: reverse over reverse (create_graph through the fused op's
// composed VJP) against finite differences of the gradient, against the composed rules, and
// against forward over reverse.
TEST_P(FusedLaplacianTraining, SecondOrderMatchesFiniteDifferencesAndTheComposedRules) {
  Net net(activation().act, 31 + GetParam());
  manual_seed(200 + GetParam());
  Tensor x = rand({4, 2}, kFloat64), target = randn({4, 1}, kFloat64);
  TensorList v;
  for (const Tensor& p : net.params) v.push_back(randn(p.sizes(), kFloat64));
  auto hvp = [&](bool fused) {
    net.fused = fused;
    TensorList p = leaves_of(net.params);
    Tensor loss = loss_of(net, p, x, target);
    EXPECT_EQ(graph_has(loss, "LaplacianTangentBackward0"), fused);
    TensorList g = grad({loss}, p, {}, std::nullopt, /*create_graph=*/true);
    Tensor directional;
    for (size_t i = 0; i < g.size(); ++i) {
      Tensor term = (g[i] * v[i]).sum();
      directional = directional.defined() ? directional + term : term;
    }
    return grad({directional}, p);
  };
  TensorList fused = hvp(true), composed = hvp(false);

  net.fused = true;
  auto gradient_at = [&](double delta) {
    TensorList moved;
    for (size_t i = 0; i < v.size(); ++i) moved.push_back((net.params[i] + v[i] * delta).requires_grad_(true));
    return grad({loss_of(net, moved, x, target)}, moved);
  };
  const double step = 1e-5;
  TensorList plus = gradient_at(step), minus = gradient_at(-step);

  // Forward over reverse: the tangent of the gradient when the parameters move along v.
  TensorList forward_over_reverse;
  {
    forward_ad::DualLevel level;
    TensorList p = leaves_of(net.params), duals;
    for (size_t i = 0; i < p.size(); ++i) duals.push_back(forward_ad::make_dual(p[i], v[i]));
    TensorList g = grad({loss_of(net, duals, x, target)}, p);
    for (const Tensor& gi : g) forward_over_reverse.push_back(forward_ad::unpack_dual(gi).tangent);
  }

  for (size_t i = 0; i < fused.size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    Tensor numeric = (plus[i] - minus[i]) / (2 * step);
    EXPECT_TRUE(allclose(fused[i], numeric, 1e-5, 1e-6)) << fused[i] << numeric;
    EXPECT_TRUE(allclose(fused[i], composed[i], 1e-11, 1e-12)) << fused[i] << composed[i];
    ASSERT_TRUE(forward_over_reverse[i].defined());
    EXPECT_TRUE(allclose(fused[i], forward_over_reverse[i], 1e-11, 1e-12)) << fused[i] << forward_over_reverse[i];
  }
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) { return kCases[info.param].name; }

INSTANTIATE_TEST_SUITE_P(Activations, FusedLaplacianTraining, ::testing::Range<size_t>(0, std::size(kCases)), case_name);

// The training step with Adam, as examples/pinn_poisson.cpp takes it, gives the same parameters
// through the fused op as through the composed rules.
TEST(FusedLaplacian, AdamStepsMatchTheComposedRules) {
  Net net([](const Tensor& h) { return tanh(h); }, 7);
  manual_seed(8);
  Tensor x = rand({16, 2}, kFloat64), target = randn({16, 1}, kFloat64);
  auto train = [&](bool fused) {
    net.fused = fused;
    TensorList p = leaves_of(net.params);
    optim::Adam adam(p, optim::AdamOptions(1e-2));
    for (int step = 0; step < 5; ++step) {
      adam.zero_grad();
      loss_of(net, p, x, target).backward();
      adam.step();
    }
    return p;
  };
  TensorList fused = train(true), composed = train(false);
  for (size_t i = 0; i < fused.size(); ++i) EXPECT_TRUE(allclose(fused[i], composed[i], 1e-11, 1e-12)) << i;
}

// float32 runs the same kernels, with squares accumulated in double.
TEST(FusedLaplacian, Float32GradientMatchesFloat64) {
  Net net([](const Tensor& h) { return tanh(h); }, 9);
  manual_seed(10);
  Tensor x = rand({64, 2}, kFloat64), target = randn({64, 1}, kFloat64);
  TensorList p64 = leaves_of(net.params), p32;
  for (const Tensor& p : net.params) p32.push_back(p.to(kFloat32).requires_grad_(true));
  TensorList g64 = grad({loss_of(net, p64, x, target)}, p64);
  Tensor loss32 = loss_of(net, p32, x.to(kFloat32), target.to(kFloat32));
  EXPECT_TRUE(graph_has(loss32, "LaplacianTangentBackward0"));
  TensorList g32 = grad({loss32}, p32);
  for (size_t i = 0; i < g64.size(); ++i) EXPECT_TRUE(allclose(g32[i].to(kFloat64), g64[i], 1e-4, 1e-5)) << i;
}

// func::laplacian seeds every row with the same directions and keeps them one row repeated (stride
// 0), and a first layer's product keeps its tangents so; the fused step reads such tangents in
// place. Its result and gradients are the dense tangents' to the bit, for repeats along every
// leading dim of the value, along some, and along a later dim only (which is copied dense first).
// Repeated rows shorter than 64 elements are copied dense; those of 64 and more are read in place, in
// blocks of 256 (two blocks and a part for rows of 600).
TEST(FusedLaplacian, TangentsRepeatedAcrossRowsGiveTheDenseResultExactly) {
  struct Layout {
    std::vector<int64_t> once, value;
  };
  const Layout layouts[] = {{{4, 1, 3, 5}, {6, 3, 5}},    {{4, 1, 1, 5}, {6, 3, 5}},   {{4, 6, 1, 5}, {6, 3, 5}},
                            {{4, 1, 3, 1}, {6, 3, 5}},    {{4, 1, 64}, {5, 64}},       {{4, 1, 2, 40}, {3, 2, 40}},
                            {{4, 1, 600}, {3, 600}},      {{4, 1, 63}, {5, 63}}};
  const char* activations[] = {"tanh", "sigmoid", "exp", "sin", "cos", "silu"};
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (const Layout& layout : layouts)
      for (const char* activation : activations) {
        manual_seed(3);
        const Tensor once = randn(layout.once, dtype).requires_grad_(true);
        const Tensor v = randn(layout.value, dtype).requires_grad_(true);
        std::vector<int64_t> stacked = layout.value;
        stacked.insert(stacked.begin(), 4);
        const Tensor repeated = once.expand(stacked);
        ASSERT_FALSE(repeated.is_contiguous());
        const Tensor r = ops::laplacian_tangent_of(activation, repeated, v);
        const Tensor dense_once = once.detach().clone().requires_grad_(true);
        const Tensor dense_v = v.detach().clone().requires_grad_(true);
        const Tensor r_dense = ops::laplacian_tangent_of(activation, dense_once.expand(stacked).contiguous(), dense_v);
        const std::string where = std::string(activation) + " " + dtype_name(dtype) + " " + once.shape_string();
        EXPECT_TRUE(equal(r, r_dense)) << where;
        const Tensor weights = randn(stacked, dtype);
        const TensorList g = grad({(r * weights).sum()}, {once, v});
        const TensorList g_dense = grad({(r_dense * weights).sum()}, {dense_once, dense_v});
        EXPECT_TRUE(allclose(g[0], g_dense[0], 1e-12, 1e-12)) << where;
        EXPECT_TRUE(equal(g[1], g_dense[1])) << where;
      }
}

// The first layer's tangents stay repeated until an op writes them: an in-place write to the
// layer's result, a second use of x, and a row-mixing op (which must not see the rows as one)
// all give the Laplacian that the Hessians' traces give.
TEST(FusedLaplacian, RepeatedFirstLayerTangentsSurviveWritesAndMixing) {
  manual_seed(12);
  const Tensor w0 = randn({4, 3}, kFloat64), b0 = randn({4}, kFloat64), w1 = randn({1, 4}, kFloat64);
  const Tensor x = randn({5, 3}, kFloat64);
  const std::vector<std::pair<const char*, func::UnaryFunction>> functions = {
      {"in-place", [&](const Tensor& z) {
         Tensor h = linear(z, w0, b0);
         h.mul_(1.5);
         h.slice(1, 0, 2).add_(z.slice(1, 0, 2).pow(2));
         return linear(tanh(h), w1);
       }},
      {"x twice", [&](const Tensor& z) { return linear(tanh(linear(z, w0, b0)) * sin(z).sum(-1, true), w1); }},
      {"no product", [&](const Tensor& z) { return tanh(z).pow(3).sum(-1, true); }},
  };
  for (const auto& [name, f] : functions) {
    const Tensor lap = func::laplacian(f, x);
    const Tensor reference = (func::batch_hessian(f, x) * eye(3, kFloat64)).sum({-2, -1});
    EXPECT_TRUE(allclose(lap, reference, 1e-10, 1e-10)) << name << "\n" << lap << reference;
  }
}

}  // namespace
}  // namespace dydx
