// func::compile of functions that take gradients inside: a backward pass in f (grad, vjp, jacrev, a
// training step's gradients in captured parameters, double backward) is recorded and replayed like
// any ops. Compiled against eager over the op table, and each way a backward pass can reach what a
// replay would not do (.grad writes, hooks, retain_grad, history made before f, history f returns).
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "compile_testing.hpp"
#include "op_table.hpp"

namespace dydx::testing {
namespace {

using func::compile;

/// The gradient of sum(w * op(inputs)) in every input, by func::vjp.
std::function<TensorList(const TensorList&)> gradient_of(const OpRow& row, const Tensor& w_seed) {
  return [&row, w_seed](const TensorList& in) {
    auto loss = [&row, &w_seed](const TensorList& args) {
      const Tensor y = row.fn(args);
      return TensorList{(y * (w_seed.numel() == 1 ? w_seed : w_seed.reshape(y.sizes())).to(y.dtype())).sum()};
    };
    auto [out, pullback] = func::vjp(loss, in);
    return pullback({ones_like(out[0])});
  };
}

// Every op-table row, both dtypes, with and without grad mode: the gradient compiled equals the
// gradient eager (to rounding: a product computed block by block may round differently), at the
// recording and at replays on new inputs.
TEST(CompileBackward, EveryOpTableRowsGradientEqualsEager) {
  std::mt19937_64 rng(23);
  std::set<std::string> replayed, eager;
  for (const OpRow& row : op_table()) {
    for (const Shapes& shapes : row.samples) {
      for (ScalarType dt : {kFloat32, kFloat64}) {
        TensorList probe;
        for (const auto& s : shapes) probe.push_back(random_tensor(s, row.domain, dt, rng));
        Tensor y;
        try {
          y = row.fn(probe);
        } catch (const Error&) {
          continue;
        }
        if (!y.is_floating_point()) continue;
        const Tensor w = random_tensor(std::vector<int64_t>(y.sizes().begin(), y.sizes().end()), Domain::Real, kFloat64, rng);
        const auto f = gradient_of(row, w);
        for (bool grad_mode : {false, true}) {
          const AutoGradMode mode(grad_mode);
          auto compiled = compile(f);
          const std::string what = row.name + " " + std::to_string(shapes.size()) + " inputs, " + dtype_name(dt) +
                                   (grad_mode ? ", grad mode" : ", no_grad");
          for (int call = 0; call < 3; ++call) {
            TensorList in;
            for (const auto& s : shapes) in.push_back(random_tensor(s, row.domain, dt, rng));
            expect_call_same(compiled, f, in, what);
          }
          const auto s = compiled.stats();
          (s.replays > 0 ? replayed : eager).insert(row.name + (s.replays > 0 ? "" : " (" + s.eager_reason + ")"));
        }
      }
    }
  }
  std::string eager_list;
  for (const auto& e : eager) eager_list += "\n  " + e;
  std::cout << "op-table gradients replayed: " << replayed.size() << "; run by f itself: " << eager.size()
            << eager_list << "\n";
  for (const char* name : {"exp", "tanh", "sigmoid", "relu", "mul", "add", "sub", "div", "mm", "addmm", "sum",
                           "mean", "neg", "maximum", "silu", "softplus", "gelu", "log_softmax", "softmax", "clamp",
                           "layer_norm", "pow.Scalar", "where", "gather", "index_select", "max.dim", "fmod", "abs",
                           "convolution", "max_pool2d", "var", "std", "linalg_vector_norm", "masked_fill"})
    EXPECT_TRUE(replayed.contains(name)) << name << " did not replay";
}

/// A small MLP's loss in parameters the test owns.
struct Model {
  Tensor W1, b1, W2, b2;
  explicit Model(ScalarType dt) {
    W1 = randn({16, 4}, dt).mul_(0.5).requires_grad_(true);
    b1 = randn({16}, dt).mul_(0.1).requires_grad_(true);
    W2 = randn({3, 16}, dt).mul_(0.5).requires_grad_(true);
    b2 = randn({3}, dt).mul_(0.1).requires_grad_(true);
  }
  TensorList params() const { return {W1, b1, W2, b2}; }
  Tensor loss(const Tensor& x, const Tensor& target) const {
    const Tensor h = linear(x, W1, b1).tanh();
    return nn::functional::mse_loss(linear(h, W2, b2), target);
  }
};

// A training step's gradients compiled: the loss is detached, the gradients in the captured
// parameters are values; an optimiser's in-place update outside f is seen by the next call.
TEST(CompileBackward, TrainingStepGradientsInCapturedParameters) {
  for (ScalarType dt : {kFloat32, kFloat64}) {
    Model m(dt);
    auto step = [&m](const TensorList& in) {
      const Tensor loss = m.loss(in[0], in[1]);
      TensorList out = dydx::grad({loss}, m.params());
      out.insert(out.begin(), loss.detach());
      return out;
    };
    auto compiled = compile(step);
    for (int i = 0; i < 4; ++i) {
      const Tensor x = randn({32, 4}, dt), target = randn({32, 3}, dt);
      const TensorList got = compiled({x, target});
      const TensorList want = step({x, target});
      ASSERT_EQ(got.size(), 5u);
      for (size_t k = 0; k < got.size(); ++k) {
        expect_same(got[k], want[k], false, "step " + std::to_string(i) + " output " + std::to_string(k));
        EXPECT_FALSE(got[k].requires_grad());
      }
      NoGradGuard no_grad;
      for (size_t k = 0; k < 4; ++k) m.params()[k].sub_(0.1 * got[k + 1]);
    }
    EXPECT_EQ(compiled.stats().recordings, 1);
    EXPECT_EQ(compiled.stats().replays, 3) << compiled.stats().eager_reason;
    EXPECT_FALSE(m.W1.grad().defined());  // grad() gives values; no .grad was written
    // A parameter that stops requiring grad: f raises (no gradient to take), and so does the call,
    // which records f again; requiring grad again replays.
    m.b2.requires_grad_(false);
    const Tensor x = randn({32, 4}, dt), target = randn({32, 3}, dt);
    EXPECT_THROW(step({x, target}), Error);
    EXPECT_THROW(compiled({x, target}), Error);
    m.b2.requires_grad_(true);
    expect_same(compiled({x, target})[4], step({x, target})[4], false, "requires grad again");
    expect_same(compiled({x, target})[1], step({x, target})[1], false, "requires grad again");
  }
}

// A convolutional classifier's gradients with the pools and windows that had no replay rule before
// (avg_pool2d, adaptive_avg_pool2d and their adjoint, unfold and fold) replay, and equal f's.
TEST(CompileBackward, PooledConvolutionGradientsReplay) {
  namespace F = nn::functional;
  for (ScalarType dt : {kFloat32, kFloat64}) {
    manual_seed(5);
    const Tensor w = (randn({4, 2, 3, 3}, dt) * 0.3).requires_grad_();
    const Tensor v = (randn({3, 4 * 4}, dt) * 0.3).requires_grad_();
    auto step = [&](const TensorList& in) {
      Tensor h = F::conv2d(in[0], w, F::Conv2dFuncOptions().padding(1)).tanh();
      h = F::avg_pool2d(h, F::AvgPool2dFuncOptions(2).stride(1).padding(1).count_include_pad(false));
      h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions({2, 2}));
      // unfold then fold with the same windows: each value times the windows it is in.
      const Tensor cols = F::unfold(h, F::UnfoldFuncOptions({2, 2}).padding(1));
      h = F::fold(cols.sin(), F::FoldFuncOptions({2, 2}, {2, 2}).padding(1));
      const Tensor loss = F::cross_entropy(h.reshape({h.size(0), -1}).matmul(v.t()), in[1]);
      return dydx::grad({loss}, {w, v});
    };
    auto compiled = compile(step);
    for (int i = 0; i < 3; ++i) {
      const Tensor x = randn({5, 2, 6, 7}, dt), labels = randint(0, 3, {5});
      expect_call_same(compiled, step, {x, labels}, std::string(dtype_name(dt)) + " call " + std::to_string(i));
    }
    EXPECT_EQ(compiled.stats().replays, 2) << compiled.stats().eager_reason;
    // Double backward through the pools (their adjoints' adjoints): a gradient norm's gradient.
    auto penalty = [&](const TensorList& in) {
      const Tensor h = F::avg_pool2d(F::conv2d(in[0], w).tanh(), F::AvgPool2dFuncOptions(2));
      const Tensor g = dydx::grad({h.pow(2).sum()}, {w}, {}, std::nullopt, /*create_graph=*/true)[0];
      return dydx::grad({g.pow(2).sum()}, {w});
    };
    auto compiled_penalty = compile(penalty);
    for (int i = 0; i < 3; ++i)
      expect_call_same(compiled_penalty, penalty, {randn({2, 2, 6, 6}, dt)}, "penalty " + std::to_string(i));
    EXPECT_EQ(compiled_penalty.stats().replays, 2) << compiled_penalty.stats().eager_reason;
  }
}

// Scalar operands replay with their own types: an integer base keeps an integer power integral, and an
// int64 fill value beyond 2^53 is not rounded through a double.
TEST(CompileBackward, ScalarOperandsReplayWithTheirTypes) {
  constexpr int64_t big = (int64_t{1} << 60) + 1;
  auto f = [](const TensorList& in) {
    return TensorList{pow(3, in[0]), pow(2.5, in[1]), in[0].scatter(0, in[2], big)};
  };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    const Tensor n = randint(0, 20, {6}), x = randn({6}), index = randint(0, 6, {2});
    const TensorList got = compiled({n, x, index}), want = f({n, x, index});
    ASSERT_EQ(got[0].dtype(), kInt64);
    EXPECT_TRUE(equal(got[0], want[0])) << i;
    EXPECT_TRUE(equal(got[1], want[1])) << i;
    ASSERT_EQ(got[2].dtype(), kInt64);
    EXPECT_TRUE(equal(got[2], want[2])) << i;
    EXPECT_EQ(got[2][index[0].item<int64_t>()].item<int64_t>(), big);
  }
  EXPECT_EQ(compiled.stats().replays, 2) << compiled.stats().eager_reason;
}

// Indexing by tensors replays: the positions are formed again from the indices' values at each call,
// so other indices (negative ones, repeated ones, out of range) give what f gives, an out-of-range
// index raises as f does and the next call replays again; the gradient adds repeated positions. A
// mask's positions have a data-dependent count: f runs itself.
TEST(CompileBackward, TensorIndicesReplayWithTheirValuesAtEachCall) {
  using namespace indexing;
  for (ScalarType dt : {kFloat32, kFloat64}) {
    const Tensor w = randn({5, 4, 3}, dt).requires_grad_();
    const Tensor v = randn({6, 1, 4, 3}, dt).requires_grad_();
    auto f = [&w, &v](const TensorList& in) {
      const Tensor& rows = in[0];
      const Tensor& cols = in[1];
      const Tensor picked = w.index({rows, Slice(), cols});          // non-adjacent: B in front
      const Tensor adjacent = w.index({Slice(), rows.remainder(4)});  // adjacent: B in place
      const Tensor put = index_put(w, {rows}, v * in[2], /*accumulate=*/true);
      const Tensor loss = picked.sin().sum() + adjacent.pow(2).sum() + put.tanh().sum();
      TensorList out = dydx::grad({loss}, {w, v});
      out.push_back(picked.detach());
      return out;
    };
    auto compiled = compile(f);
    auto values = [dt] { return randn({6, 1, 4, 3}, dt); };
    const std::vector<std::vector<int64_t>> cases = {
        {0, 4, 4, -1, 2, -5},  // repeated and negative
        {1, 1, 1, 1, 1, 1},
        {3, 0, -2, 2, 4, 1},
    };
    int calls = 0;
    for (const auto& r : cases) {
      const Tensor rows = tensor(r).reshape({6, 1}).to(kInt64);
      const Tensor cols = tensor(std::vector<int64_t>{0, 2, -3}).reshape({1, 3});
      expect_call_same(compiled, f, {rows, cols, values()}, std::string(dtype_name(dt)) + " call " + std::to_string(calls++));
    }
    // Out of range, either sign: the call raises as f does, naming the index; then it replays again.
    for (int64_t bad : {5, -6}) {
      const Tensor rows = tensor(std::vector<int64_t>{0, 1, bad, 2, 3, 4}).reshape({6, 1});
      const Tensor cols = tensor(std::vector<int64_t>{0, 1, 2}).reshape({1, 3});
      EXPECT_THROW(f({rows, cols, values()}), Error);
      try {
        compiled({rows, cols, values()});
        ADD_FAILURE() << "index " << bad << " did not raise";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("index " + std::to_string(bad) + " is out of bounds"), std::string::npos)
            << e.what();
      }
    }
    const Tensor rows = tensor(std::vector<int64_t>{4, 3, 2, 1, 0, 0}).reshape({6, 1});
    const Tensor cols = tensor(std::vector<int64_t>{2, 1, 0}).reshape({1, 3});
    expect_call_same(compiled, f, {rows, cols, values()}, "after the errors");
    EXPECT_EQ(compiled.stats().recordings, 1);
    EXPECT_EQ(compiled.stats().replays, 5) << compiled.stats().eager_reason;  // the two that raised among them
  }
  // An integer division's check for a zero divisor reads a value, and runs again at each replay.
  auto divide = [](const TensorList& in) { return TensorList{in[0].remainder(in[1]), in[0].fmod(3)}; };
  auto compiled_divide = compile(divide);
  for (int i = 0; i < 2; ++i) {
    const TensorList in = {randint(-9, 9, {4}), randint(1, 5, {4})};
    EXPECT_TRUE(equal(compiled_divide(in)[0], divide(in)[0]));
  }
  EXPECT_EQ(compiled_divide.stats().replays, 1) << compiled_divide.stats().eager_reason;
  EXPECT_THROW(compiled_divide({randint(-9, 9, {4}), tensor(std::vector<int64_t>{1, 0, 2, 3})}), Error);
  // A mask: as many positions as it has true elements, which a replay could not know.
  auto masked = [](const TensorList& in) { return TensorList{in[0].index({in[1]}) * 2.0}; };
  auto compiled = compile(masked);
  for (int64_t keep : {3, 1, 5}) {
    const Tensor x = randn({5, 2});
    const Tensor mask = arange(5) < keep;
    expect_call_same(compiled, masked, {x, mask}, "mask of " + std::to_string(keep));
    EXPECT_EQ(compiled({x, mask})[0].size(0), keep);
  }
  EXPECT_EQ(compiled.stats().replays, 0);
  EXPECT_NE(compiled.stats().eager_reason.find("nonzero positions"), std::string::npos) << compiled.stats().eager_reason;
  // nonzero and masked_select, the same.
  auto selected = [](const TensorList& in) { return TensorList{masked_select(in[0], in[0] > 0), nonzero(in[0] > 0)}; };
  auto compiled_selected = compile(selected);
  for (int k = 0; k < 3; ++k) expect_call_same(compiled_selected, selected, {randn({6})}, "masked_select");
  EXPECT_EQ(compiled_selected.stats().replays, 0);
}

// Transforms that take gradients inside f replay: grad, jacrev, hessian (reverse over reverse), and
// a gradient with create_graph differentiated again.
TEST(CompileBackward, ReverseModeTransformsReplay) {
  Tensor W = randn({5, 3}, kFloat64);
  const auto energy = [W](const Tensor& x) { return matmul(x, W).tanh().pow(2).sum(); };
  std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> cases = {
      {"grad", [energy](const Tensor& x) { return func::grad(energy)(x); }},
      {"jacrev", [W](const Tensor& x) { return func::jacrev([W](const Tensor& v) { return matmul(v, W).sin(); })(x); }},
      {"hessian", [energy](const Tensor& x) { return func::hessian(energy)(x); }},
      {"hessian of layer_norm", [](const Tensor& x) {
         return func::hessian([](const Tensor& v) {
           return nn::functional::layer_norm(v.unsqueeze(0), nn::functional::LayerNormFuncOptions({5})).pow(3).sum();
         })(x);
       }},
      {"double backward", [energy](const Tensor& x) {
         const Tensor v = x.detach().requires_grad_(true);
         const AutoGradMode on(true);
         const Tensor g = dydx::grad({energy(v)}, {v}, {}, true, true)[0];
         return dydx::grad({(g * g).sum()}, {v})[0];
       }}};
  for (bool grad_mode : {false, true}) {
    const AutoGradMode mode(grad_mode);
    for (const auto& [name, g] : cases) {
      auto compiled = compile(g);
      for (int call = 0; call < 3; ++call) {
        const Tensor x = randn({5}, kFloat64);
        expect_same(compiled(x), g(x), false, name);
      }
      EXPECT_EQ(compiled.stats().replays, 2) << name << ": " << compiled.stats().eager_reason;
    }
  }
}

// A physics-informed loss's gradients in the parameters: the forward Laplacian's steps (its one-pass
// tangent rules) and the backward pass through them (their one-pass backward kernel) replay.
TEST(CompileBackward, PhysicsInformedLossGradientsReplay) {
  for (ScalarType dt : {kFloat32, kFloat64}) {
    TensorList params = {randn({16, 2}, dt).requires_grad_(true), randn({16}, dt).requires_grad_(true),
                         randn({1, 16}, dt).requires_grad_(true), randn({1}, dt).requires_grad_(true)};
    const auto u = [&params](const Tensor& x) {
      return linear(linear(x, params[0], params[1]).tanh(), params[2], params[3]);
    };
    const auto step = [&](const TensorList& in) {
      const Tensor loss = (func::laplacian(u, in[0]) + in[0].sum(1, true)).pow(2).mean() + u(in[1]).pow(2).mean();
      return grad({loss}, params);
    };
    auto compiled = compile(step);
    for (int call = 0; call < 3; ++call) {
      const TensorList in = {rand({64, 2}, dt), rand({8, 2}, dt)};
      const TensorList got = compiled(in), want = step(in);
      for (size_t k = 0; k < got.size(); ++k) expect_same(got[k], want[k], false, "parameter " + std::to_string(k));
      NoGradGuard no_grad;
      for (size_t k = 0; k < params.size(); ++k) params[k].sub_(0.01 * got[k]);
    }
    EXPECT_EQ(compiled.stats().replays, 2) << compiled.stats().eager_reason;
  }
}

// A gradient that is the seed itself, a seed passed as an input, unused inputs and several outputs:
// the engine's own steps (ones for the seed, sums of incoming gradients, reductions to an input's
// broadcast shape, casts to its dtype) are recorded too.
TEST(CompileBackward, TheEnginesOwnStepsAreRecorded) {
  auto f = [](const TensorList& in) {
    const Tensor a = in[0].detach().requires_grad_(true);       // float32 [4, 3]
    const Tensor b = in[1].detach().requires_grad_(true);       // float64 [3], broadcast against a
    const Tensor c = in[2].detach().requires_grad_(true);       // unused
    const AutoGradMode on(true);
    const Tensor y = a * b + a.exp() * b;                       // two paths into a and b
    const Tensor z = (y * y).sum(1);
    return dydx::grad({z, y.sum()}, {a, b, c, z}, {in[3], Tensor()}, std::nullopt, false, true);
  };
  auto compiled = compile(f);
  for (int call = 0; call < 3; ++call) {
    const TensorList in = {randn({4, 3}), randn({3}, kFloat64), randn({2}), randn({4}, kFloat64)};
    const TensorList got = compiled(in), want = f(in);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) expect_same(got[k], want[k], false, "gradient " + std::to_string(k));
    EXPECT_FALSE(got[2].defined());
  }
  EXPECT_EQ(compiled.stats().replays, 2) << compiled.stats().eager_reason;
}

// The gradient of sum(f(x)) for an f whose rule reads its result: f and its one-pass rule (tanh's
// t (1 - y y), relu's t where y != 0) in one pass that reads x and writes the gradient, t being the
// seed expanded (the loss's value is never computed).
TEST(CompileBackward, TheGradientOfASumIsOnePass) {
  for (ScalarType dt : {kFloat32, kFloat64})
    for (const bool relu : {false, true}) {
      auto g = [relu](const Tensor& x) {
        return func::grad([relu](const Tensor& v) { return (relu ? v.relu() : v.tanh()).sum(); })(x);
      };
      auto compiled = compile(g);
      for (int call = 0; call < 3; ++call) {
        const Tensor x = randn({300, 7}, dt);
        expect_same(compiled(x), g(x), true, relu ? "grad of sum(relu)" : "grad of sum(tanh)");
      }
      const auto s = compiled.stats();
      EXPECT_EQ(s.replays, 2) << s.eager_reason;
      EXPECT_EQ(s.fused_passes, 1);
      EXPECT_EQ(s.fused_ops, 2);
    }
}

/// The compiled g equals g at every call, and never replays, for the reason given.
void expect_runs_itself(const std::function<TensorList(const TensorList&)>& g, const std::function<TensorList()>& inputs,
                        const std::string& reason) {
  auto compiled = compile(g);
  for (int call = 0; call < 3; ++call) {
    const TensorList in = inputs();
    const TensorList got = compiled(in);
    const TensorList want = g(in);
    ASSERT_EQ(got.size(), want.size()) << reason;
    for (size_t k = 0; k < got.size(); ++k) {
      expect_same(got[k].detach(), want[k].detach(), false, reason);
      EXPECT_EQ(got[k].requires_grad(), want[k].requires_grad()) << reason;
    }
  }
  EXPECT_EQ(compiled.stats().replays, 0) << reason;
  EXPECT_NE(compiled.stats().eager_reason.find(reason), std::string::npos)
      << "expected \"" << reason << "\", got \"" << compiled.stats().eager_reason << "\"";
}

// What a backward pass does that a replay would not: each refuses the recording, and f runs itself.
TEST(CompileBackward, WhatAReplayWouldNotDoRunsF) {
  const auto one = [] { return TensorList{randn({4})}; };
  // backward() adds into .grad, which f then reads.
  expect_runs_itself([](const TensorList& in) {
    const Tensor v = in[0].detach().requires_grad_(true);
    const AutoGradMode on(true);
    (v * v).sum().backward();
    return TensorList{in[0] * 2.0};
  }, one, "backward()");
  // A hook on a tensor made inside f: it runs at every call.
  int hook_calls = 0;
  expect_runs_itself([&hook_calls](const TensorList& in) {
    const Tensor v = in[0].detach().requires_grad_(true);
    const AutoGradMode on(true);
    const Tensor y = v.exp();
    y.register_hook([&hook_calls](const Tensor& g) {
      ++hook_calls;
      return g * 2.0;
    });
    return dydx::grad({y.sum()}, {v});
  }, one, "hook");
  EXPECT_EQ(hook_calls, 6);
  // A hook registered outside f, on a captured parameter.
  Tensor w = randn({4}).requires_grad_(true);
  w.register_hook([](const Tensor& g) { return g * 3.0; });
  expect_runs_itself([&w](const TensorList& in) {
    const AutoGradMode on(true);
    return dydx::grad({(w * in[0]).sum()}, {w});
  }, one, "hook");
  // retain_grad inside f.
  expect_runs_itself([](const TensorList& in) {
    const Tensor v = in[0].detach().requires_grad_(true);
    const AutoGradMode on(true);
    const Tensor y = v.exp();
    y.retain_grad();
    return dydx::grad({y.sum()}, {v});
  }, one, "retain_grad");
  // A graph built before f: its saved tensors are not values f computes.
  Tensor p = randn({4}).requires_grad_(true);
  Tensor outside;
  {
    const AutoGradMode on(true);
    outside = (p * p).sin();
  }
  expect_runs_itself([&](const TensorList& in) {
    const AutoGradMode on(true);
    return dydx::grad({(outside * in[0]).sum()}, {p}, {}, true);
  }, one, "history made outside f");
  // f returning a tensor with the history it recorded (a replay would give one without).
  expect_runs_itself([&](const TensorList& in) {
    const Tensor v = in[0].detach().requires_grad_(true);
    const AutoGradMode on(true);
    return TensorList{v.exp()};
  }, one, "autograd history it recorded");
  // Anomaly mode: its checks read values.
  set_detect_anomaly(true);
  expect_runs_itself([](const TensorList& in) { return TensorList{func::grad([](const Tensor& v) { return v.exp().sum(); })(in[0])}; },
                     one, "anomaly mode");
  set_detect_anomaly(false);
}

// max and min along a dim, and max_pool2d, replay their values by reading x at the indices (a step of
// their own): bit for bit f's, with ties, nans, infinities and -0 in the rows and windows; and the
// whole tensor's max shares its gradient among its ties without reading its value.
TEST(CompileBackward, ExtremesReplayAtTheirIndices) {
  const double specials[] = {0.0, -0.0, 1.0, 1.0, NAN, INFINITY, -INFINITY, -1.0};
  for (ScalarType dt : {kFloat32, kFloat64}) {
    auto f = [](const TensorList& in) {
      auto [mx, ix] = max(in[0], 1);
      auto [mn, in_] = min(in[0], 0, true);
      auto [pooled, where_] = max_pool2d_with_indices(in[0].reshape({1, 2, 4, 4}), {2, 2}, {1, 1});
      // The whole tensor's max shares its gradient among the ties (the nans, where it is nan).
      const Tensor shared = func::grad([](const Tensor& v) { return v.max(); })(in[0]);
      return TensorList{mx, ix, mn, in_, pooled, where_, shared};
    };
    auto compiled = compile(f);
    std::mt19937_64 rng(3);
    for (int call = 0; call < 4; ++call) {
      Tensor x = randn({4, 8}, kFloat64);
      if (call >= 2) {
        double* p = x.data_ptr<double>();
        for (int64_t i = 0; i < x.numel(); ++i) p[i] = specials[rng() % 8];
      }
      const TensorList in = {x.to(dt)};
      const TensorList got = compiled(in), want = f(in);
      for (size_t k = 0; k < got.size(); ++k) expect_same(got[k], want[k], true, "output " + std::to_string(k));
    }
    EXPECT_EQ(compiled.stats().replays, 3) << compiled.stats().eager_reason;
  }
  // With dilation a window may lie wholly in the padding: -inf, and an index past its row (into the next
  // row, or out of the plane), as PyTorch gives. (A replay that read x there gave x's values or raised.)
  using Pool = std::function<Tensor(const Tensor&)>;
  for (const auto& pooling : std::vector<std::pair<std::vector<int64_t>, Pool>>{
           {{1, 1, 1, 1}, [](const Tensor& x) { return max_pool2d(x, {2}, {1}, {1}, {2}); }},
           {{1, 1, 4, 1}, [](const Tensor& x) { return max_pool2d(x, {1, 2}, {2, 1}, {0, 1}, {1, 2}); }}}) {
    const Pool& pool = pooling.second;
    auto f = [&pool](const TensorList& in) { return TensorList{pool(in[0])}; };
    auto compiled = compile(f);
    for (int call = 0; call < 3; ++call) {
      const TensorList in = {randn(pooling.first)};
      expect_same(compiled(in)[0], f(in)[0], true, "a window in the padding");
    }
    EXPECT_EQ(compiled.stats().replays, 2) << compiled.stats().eager_reason;
  }
}

// What changes after the recording in the autograd state of the tensors f reads as they are (captured
// ones, inputs given as themselves), or in anomaly mode, changes what f computes: the next call runs f or
// records it again. (Each was a silently different replay, found by an adversarial review.)
TEST(CompileBackward, AutogradStateChangedAfterTheRecordingIsSeen) {
  const auto x = [] { return randn({4}, kFloat64); };
  {  // A hook on a captured parameter, registered after the recording.
    Tensor w = randn({4}, kFloat64).requires_grad_(true);
    auto f = [&w](const TensorList& in) {
      const AutoGradMode on(true);
      return grad({(in[0] * w).sum()}, {w});
    };
    auto compiled = compile(f);
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {x()}, "before the hook");
    w.register_hook([](const Tensor& g) { return g * 3.0; });
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {x()}, "with the hook");
  }
  {  // A hook on an input that requires grad (a call without grad mode), and another input tensor.
    auto f = [](const TensorList& in) {
      const AutoGradMode on(true);
      return grad({in[0].exp().sum()}, {in[0]});
    };
    auto compiled = compile(f);
    const NoGradGuard no_grad;
    const Tensor a = x().requires_grad_(true);
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {a}, "the recording's input");
    a.register_hook([](const Tensor& g) { return g * 10.0; });
    expect_call_same(compiled, f, {a}, "the input with a hook");
    Tensor b;
    {
      const AutoGradMode on(true);
      b = a * 2.0;  // history through a, whose hook runs
    }
    expect_call_same(compiled, f, {b}, "an input with history");
  }
  {  // Anomaly mode switched on after the recording: f raises on a nan gradient.
    auto f = [](const TensorList& in) { return TensorList{func::grad([](const Tensor& v) { return v.sqrt().sum(); })(in[0])}; };
    auto compiled = compile(f);
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {x().abs() + 1.0}, "anomaly mode off");
    set_detect_anomaly(true);
    expect_call_same(compiled, f, {-x().abs() - 1.0}, "anomaly mode on");
    set_detect_anomaly(false);
    expect_call_same(compiled, f, {x().abs() + 1.0}, "anomaly mode off again");
  }
  {  // A captured non-leaf that gains history through the parameter, and a captured leaf that becomes one.
    Tensor p = randn({4}, kFloat64).requires_grad_(true), q = randn({4}, kFloat64).requires_grad_(true);
    Tensor c, w = randn({4}, kFloat64);
    {
      const AutoGradMode on(true);
      c = q * 2.0;
    }
    auto f = [&](const TensorList& in) {
      const AutoGradMode on(true);
      return grad({(c * p * in[0]).sum() + (w * p).exp().sum()}, {p}, {}, true);
    };
    auto compiled = compile(f);
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {x()}, "before");
    {
      const AutoGradMode on(true);
      c.mul_(p);
    }
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {x()}, "c with history through p");
    {
      const AutoGradMode on(true);
      w.mul_(p);
    }
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {x()}, "w with history through p");
  }
  {  // An input that is also the captured tensor, at the recording or at a later call.
    Tensor w = randn({4}, kFloat64).requires_grad_(true);
    auto f = [&w](const TensorList& in) {
      const AutoGradMode on(true);
      return grad({(in[0] * w).sum()}, {w});
    };
    for (const bool w_first : {false, true}) {
      auto compiled = compile(f);
      const NoGradGuard no_grad;
      const Tensor other = x().requires_grad_(true);
      for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {w_first ? w : other}, "the recording's input");
      expect_call_same(compiled, f, {w_first ? other : w}, "the other input");
    }
  }
  {  // A constant f makes and keeps, that requires grad after the recording.
    Tensor b;
    auto f = [&b](const TensorList& in) {
      if (!b.defined()) b = ones({4}, kFloat64);
      return TensorList{in[0] * b};
    };
    auto compiled = compile(f);
    const AutoGradMode on(true);
    for (int i = 0; i < 2; ++i) expect_call_same(compiled, f, {x()}, "before");
    b.requires_grad_(true);
    expect_call_same(compiled, f, {x()}, "the kept constant requires grad");
  }
}

// An exception from a rule inside f's backward pass (a shape the engine refuses) while recording:
// it reaches the caller, and the compiled function and the thread are as before.
TEST(CompileBackward, AnExceptionInsideTheBackwardPassLeavesNothingBehind) {
  auto f = [](const TensorList& in) {
    const Tensor v = in[0].detach().requires_grad_(true);
    const AutoGradMode on(true);
    const Tensor y = v.exp();
    return dydx::grad({y}, {v}, {in[1]});
  };
  auto compiled = compile(f);
  EXPECT_THROW(compiled({randn({3}), randn({4})}), Error);
  EXPECT_EQ(compiled.stats().recordings, 0);
  for (int call = 0; call < 3; ++call) {
    const TensorList in = {randn({3}), randn({3})};
    expect_same(compiled(in)[0], f(in)[0], false, "after the exception");
  }
  EXPECT_EQ(compiled.stats().replays, 2);
  // Nothing of the failed recording is left on this thread: an op outside any compiled function
  // records history as usual.
  const Tensor v = randn({2}).requires_grad_(true);
  EXPECT_TRUE(v.exp().requires_grad());
}

}  // namespace
}  // namespace dydx::testing
