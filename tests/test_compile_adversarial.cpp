// func::compile against eager on programs chosen to break it: tensors passed and captured, views of
// constants, captured tensors that start requiring grad, broadcasting and scalars in fused passes,
// products of every shape, and state left after exceptions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <atomic>
#include <thread>
#include <vector>

#include "dydx/dydx.hpp"
#include "compile_testing.hpp"
#include "op_table.hpp"

namespace dydx::testing {
namespace {

using func::compile;


TEST(CompileAdversarial, CapturedTensorAlsoPassedAsInput) {
  NoGradGuard no_grad;
  Tensor w = randn({4});
  auto f = [&](const Tensor& x) { return x * 2.0 + w; };
  auto compiled = compile(f);
  expect_same(compiled(w), f(w), true, "recording with w itself");
  Tensor x = randn({4});
  expect_same(compiled(x), f(x), true, "another tensor");
  // f returning its input returns the caller's tensor, at the recording too.
  auto same = compile([](const TensorList& in) { return TensorList{in[0], in[1].exp()}; });
  Tensor a = randn({2});
  EXPECT_EQ(same(TensorList{a, a})[0].impl(), a.impl());
  EXPECT_EQ(same(TensorList{a, a})[0].impl(), a.impl());
}

TEST(CompileAdversarial, CapturedTensorThatStartsRequiringGradRunsF) {
  Tensor w = randn({4});
  auto f = [&](const Tensor& x) { return (x * w).sum(); };
  auto compiled = compile(f);
  Tensor x = randn({4});
  compiled(x);
  compiled(x);
  w.requires_grad_(true);
  Tensor out = compiled(x);
  ASSERT_TRUE(out.requires_grad());
  out.backward();
  expect_same(w.grad(), x, true, "grad of the captured tensor");
}

TEST(CompileAdversarial, ViewOfAConstantIsFreshAtEveryCall) {
  NoGradGuard no_grad;
  auto compiled = compile([](const TensorList& in) { return TensorList{zeros({2, 3}).t(), in[0] + 1.0}; });
  Tensor x = randn({3});
  for (int i = 0; i < 3; ++i) {
    TensorList out = compiled(TensorList{x});
    expect_same(out[0], zeros({3, 2}), true, "call " + std::to_string(i));
    out[0].add_(1.0);
  }
  auto twice = compile([](const TensorList&) {
    Tensor z = zeros({3});
    return TensorList{z, z, z.view({3, 1})};
  });
  for (int i = 0; i < 2; ++i) {
    TensorList out = twice(TensorList{});
    EXPECT_EQ(out[0].impl(), out[1].impl()) << "f returns one tensor twice";
    out[0].add_(1.0);
    expect_same(out[2], ones({3, 1}), true, "a view of an output sees its writes");
  }
}

TEST(CompileAdversarial, BroadcastingInFusedPasses) {
  NoGradGuard no_grad;
  for (ScalarType dt : {kFloat32, kFloat64}) {
    Tensor col = randn({7, 1}, dt), row = randn({5}, dt), row2 = randn({1, 5}, dt), s = randn({}, dt), s2 = randn({1, 1}, dt);
    auto f = [&](const Tensor& x) {
      Tensor a = (x * row).exp() - row2;
      Tensor b = (a + col).tanh() * s;
      Tensor c = (b / s2).sigmoid() + x;
      return c * c - 0.25;
    };
    auto compiled = compile(f);
    for (int i = 0; i < 3; ++i) {
      Tensor x = randn({7, 5}, dt);
      expect_same(compiled(x), f(x), true, "fused broadcast");
    }
  }
}

TEST(CompileAdversarial, SpecialValuesAndOddShapes) {
  NoGradGuard no_grad;
  auto f = [](const Tensor& x) { return ((x * -1.0).exp() + x.abs()).sqrt() / (x + 0.0); };
  auto compiled = compile(f);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (int i = 0; i < 2; ++i) {
    Tensor x = tensor({0.0, -0.0, inf, -inf, nan, 1e-310, -3.5});
    expect_same(compiled(x), f(x), true, "special values");
  }
  for (const Dims& shape : {Dims{}, Dims{0}, Dims{3, 0}, Dims{0, 3}, Dims{1}, Dims{1, 1, 1}}) {
    for (int i = 0; i < 2; ++i) {
      Tensor x = randn(shape);
      expect_same(compiled(x), f(x), true, "shape");
    }
  }
  // Expanded and overlapping inputs, views of views of an input.
  auto g = [](const Tensor& x) { return (x.t()[1] * 2.0).unsqueeze(0).expand({3, -1}).exp() + x.t()[0]; };
  auto cg = compile(g);
  for (int i = 0; i < 3; ++i) {
    Tensor base = randn({4, 5});
    Tensor x = base.narrow(1, 1, 3).narrow(0, i % 2, 3);
    expect_same(cg(x), g(x), true, "views of views");
    Tensor e = randn({3}).unsqueeze(0).expand({4, -1}).contiguous().narrow(0, 0, 3);
    expect_same(cg(e), g(e), true, "narrowed");
  }
  Tensor ex = randn({1, 3}).expand({3, 3});
  expect_same(cg(ex), g(ex), true, "expanded");
  expect_same(cg(ex), g(ex), true, "expanded replay");
}

TEST(CompileAdversarial, IntegerAndBoolTensors) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) {
    Tensor a = in[0] * 3 + in[1];
    Tensor b = (a - 7) * a;
    return TensorList{b, b.sum(), (in[0] > 2).sum(), in[0] / 2, in[0].to(kFloat32) * 0.1, where(in[0] > 1, in[0], in[1])};
  };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    Tensor x = randint(0, 5, {6}, kInt64), y = randint(-3, 3, {6}, kInt64);
    TensorList got = compiled({x, y}), want = f({x, y});
    for (size_t k = 0; k < got.size(); ++k) expect_same(got[k], want[k], true, "output " + std::to_string(k));
  }
}

TEST(CompileAdversarial, ProductsOfEveryShape) {
  NoGradGuard no_grad;
  for (ScalarType dt : {kFloat32, kFloat64}) {
    for (int64_t K : {0, 1, 3, 17}) {
      for (int64_t n : {1, 5, 10, 33}) {
        Tensor W = randn({K, n}, dt), bias_n = randn({n}, dt), bias_1n = randn({1, n}, dt), Wt = randn({n, K}, dt).t();
        Tensor bias_1 = randn({1}, dt);
        auto f = [&](const TensorList& in) {
          const Tensor& x = in[0];
          Tensor a = addmm(bias_n, x, W).tanh();
          Tensor b = addmm(bias_1n, x, Wt).sigmoid() * a;
          Tensor c = (mm(x, W) + 1.0).exp();
          Tensor d = addmm(in[1], x, W).relu();
          Tensor e = (addmm(bias_1, x, W) * 0.5).neg();
          return TensorList{a, b, c, d, e};
        };
        auto compiled = compile(f);
        for (int64_t B : {0, 1, 3, 1000}) {
          for (int i = 0; i < 2; ++i) {
            Tensor x = randn({B, K}, dt), bias_bn = randn({B, n}, dt);
            if (i == 1) x = randn({K, B}, dt).t();
            TensorList got = compiled({x, bias_bn}), want = f({x, bias_bn});
            for (size_t k = 0; k < got.size(); ++k)
              expect_same(got[k], want[k], false, "K=" + std::to_string(K) + " n=" + std::to_string(n) + " B=" + std::to_string(B) + " out " + std::to_string(k));
          }
        }
      }
    }
  }
}

// The epilogue of a product with exact values (K = 1, no bias): the fused activation must give the
// eager kernel's bits, whatever the block's length.
TEST(CompileAdversarial, FusedEpilogueIsBitExact) {
  NoGradGuard no_grad;
  for (ScalarType dt : {kFloat32, kFloat64})
    for (int64_t n : {3, 10, 13, 100}) {
      Tensor W = randn({1, n}, dt);
      auto f = [&](const Tensor& x) { return mm(x, W).tanh().exp().sigmoid(); };
      auto compiled = compile(f);
      for (int i = 0; i < 2; ++i) {
        Tensor x = randn({5003, 1}, dt);
        expect_same(compiled(x), f(x), true, "n=" + std::to_string(n));
      }
      EXPECT_EQ(compiled.stats().fused_products, 1);
    }
}

TEST(CompileAdversarial, ExceptionAtReplayLeavesNothingBehind) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) { return TensorList{remainder(in[0], in[1]) * 2}; };
  auto compiled = compile(f);
  Tensor a = randint(1, 5, {4}, kInt64), b = randint(1, 5, {4}, kInt64);
  compiled({a, b});
  EXPECT_THROW(f({a, zeros({4}, kInt64)}), Error);
  EXPECT_THROW(compiled({a, zeros({4}, kInt64)}), Error);
  expect_same(compiled({a, b})[0], f({a, b})[0], true, "after");
}

TEST(CompileAdversarial, RecursionAndNesting) {
  NoGradGuard no_grad;
  std::function<Tensor(const Tensor&)> self;
  int depth = 0;
  auto rec = compile([&](const Tensor& x) {
    if (depth >= 2) return x.exp();
    ++depth;
    Tensor y = self(x + 1.0) * 2.0;
    --depth;
    return y;
  });
  self = [&](const Tensor& x) { return rec(x); };
  auto eager = [](const Tensor& x) { return ((x + 1.0) + 1.0).exp() * 2.0 * 2.0; };
  for (int i = 0; i < 3; ++i) {
    Tensor x = randn({5});
    expect_same(rec(x), eager(x), true, "recursion");
  }
}

TEST(CompileAdversarial, TransformsInsideFRunEagerly) {
  auto f = [](const Tensor& x) {
    Tensor g = func::grad([](const Tensor& y) { return (y * y * y).sum(); })(x);
    return g * 2.0;
  };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    NoGradGuard no_grad;
    Tensor x = randn({4});
    expect_same(compiled(x), f(x), true, "grad inside f");
  }
  auto v = [](const Tensor& x) { return func::vmap([](const Tensor& r) { return r.exp().sum(); })(x) + 1.0; };
  auto cv = compile(v);
  for (int i = 0; i < 3; ++i) {
    NoGradGuard no_grad;
    Tensor x = randn({3, 4});
    expect_same(cv(x), v(x), true, "vmap inside f");
  }
  auto b = [](const Tensor& x) {
    Tensor y = x.detach().clone().requires_grad_(true);
    { AutoGradMode on(true); (y * y).sum().backward(); }
    return y.grad() + x;
  };
  auto cb = compile(b);
  for (int i = 0; i < 3; ++i) {
    NoGradGuard no_grad;
    Tensor x = randn({4});
    expect_same(cb(x), b(x), true, "backward inside f");
  }
}

TEST(CompileAdversarial, NoGradGuardInsideF) {
  Tensor w = randn({3}).requires_grad_(true);
  auto f = [&](const Tensor& x) {
    Tensor a;
    {
      NoGradGuard off;
      a = (x * w).exp();
    }
    return a + x;
  };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    Tensor x = randn({3});
    Tensor got = compiled(x), want = f(x);
    EXPECT_EQ(got.requires_grad(), want.requires_grad());
    expect_same(got.detach(), want.detach(), true, "no_grad inside");
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// Every op-table row replayed on inputs holding zeros of both signs, infinities, NaNs, huge and tiny
// values: a replay (a fused pass, or the op again) gives f's bits.
TEST(CompileAdversarial, EveryOpTableRowOnSpecialValues) {
  NoGradGuard no_grad;
  std::mt19937_64 rng(5);
  const double specials[] = {0.0, -0.0, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN(), 1e30, -1e30, 1e-40, 1.0, -1.0, 0.5, 100.0, -100.0};
  for (const OpRow& row : op_table()) {
    for (const Shapes& shapes : row.samples) {
      for (ScalarType dt : {kFloat32, kFloat64}) {
        auto f = [&](const TensorList& in) { return TensorList{row.fn(in)}; };
        auto compiled = compile(f);
        const std::string what = row.name + " " + dtype_name(dt);
        for (int call = 0; call < 3; ++call) {
          TensorList in;
          for (const auto& s : shapes) {
            Tensor t = random_tensor(s, row.domain, kFloat64, rng);
            if (call > 0) {
              double* p = t.data_ptr<double>();
              for (int64_t i = 0; i < t.numel(); ++i)
                if (rng() % 2) p[i] = specials[rng() % std::size(specials)];
            }
            in.push_back(t.to(dt));
          }
          TensorList got, want;
          try {
            want = f(in);
          } catch (const Error&) {
            EXPECT_THROW(compiled(in), Error) << what;
            continue;
          }
          got = compiled(in);
          expect_same(got[0], want[0], true, what + " call " + std::to_string(call));
        }
      }
    }
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// Module::to converts a parameter in place (same tensor, new dtype and memory): a recording that
// holds it must not read the new memory as the old dtype.
TEST(CompileAdversarial, CapturedParameterConvertedInPlace) {
  NoGradGuard no_grad;
  nn::Linear lin(3, 4);
  auto f = [&](const Tensor& x) { return lin->forward(x).tanh() * 2.0; };
  auto compiled = compile(f);
  Tensor x = randn({5, 3});
  compiled(x);
  compiled(x);
  lin->to(kFloat64);
  Tensor want, got;
  bool threw = false;
  try {
    want = f(x);
  } catch (const Error&) {
    threw = true;
  }
  if (threw) {
    EXPECT_THROW(compiled(x), Error);
  } else {
    got = compiled(x);
    expect_same(got, want, false, "after Module::to");
  }
  Tensor x64 = randn({5, 3}, kFloat64);
  expect_same(compiled(x64), f(x64), false, "f64 input");
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// A value f computes on a thread of its own is made inside the recording, not captured before it.
TEST(CompileAdversarial, ValuesComputedOnAnotherThreadInsideF) {
  NoGradGuard no_grad;
  auto f = [](const Tensor& x) {
    Tensor y;
    std::thread([&] {
      NoGradGuard inner;
      y = x * 2.0;
    }).join();
    return y + 1.0;
  };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    Tensor x = randn({4});
    expect_same(compiled(x), f(x), true, "call " + std::to_string(i));
  }
}

// A tensor f makes that requires grad is a new leaf at every call, as f's.
TEST(CompileAdversarial, MadeTensorThatRequiresGrad) {
  for (bool grad_mode : {false, true}) {
    AutoGradMode mode(grad_mode);
    auto f = [](const TensorList& in) {
      Tensor later = ones({2});
      later.requires_grad_(true);
      return TensorList{zeros({3}, TensorOptions().requires_grad(true)), in[0] * 2.0, later};
    };
    auto compiled = compile(f);
    for (int i = 0; i < 3; ++i) {
      TensorList got = compiled(TensorList{randn({3})});
      for (int k : {0, 2}) {
        EXPECT_TRUE(got[k].requires_grad()) << grad_mode << " " << k;
        EXPECT_TRUE(got[k].is_leaf()) << grad_mode << " " << k;
      }
    }
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// The recording holds what f would free: a long chain over large tensors must not keep every
// intermediate alive until f returns.
TEST(CompileAdversarial, RecordingFreesIntermediatesAsFDoes) {
  NoGradGuard no_grad;
  constexpr int64_t n = 1 << 18;  // 1 MiB of floats
  auto f = [](const Tensor& x) {
    Tensor t = x;
    for (int i = 0; i < 60; ++i) t = (t * 0.5 + 1.0).tanh();
    return t;
  };
  auto compiled = compile(f);
  Tensor x = randn({n});
  for (int call = 0; call < 2; ++call) {
    const int64_t before = memory_stats().live_bytes;
    reset_peak_memory();
    Tensor got = compiled(x);
    const int64_t used = memory_stats().peak_bytes - before;
    EXPECT_LT(used, 16 * n * 4) << "call " << call << " peaked at " << used << " bytes";
    expect_same(got, f(x), true, "chain");
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// as_strided's storage offset is absolute: an input at another offset in its storage (same
// signature) gets the view at the offset given, as f gives it; views without one stay relative.
TEST(CompileAdversarial, AsStridedWithAnExplicitOffset) {
  NoGradGuard no_grad;
  auto f = [](const Tensor& x) { return TensorList{x.as_strided({2}, {1}, 1) * 1.0, x.as_strided({2}, {2}) + 0.0, einsum("ii->i", {x.view({2, 2})})}; };
  auto compiled = compile([&](const TensorList& in) { return f(in[0]); });
  for (int64_t start : {2, 0, 4, 1}) {
    Tensor x = randn({10}).narrow(0, start, 4);
    TensorList got = compiled(TensorList{x}), want = f(x);
    for (size_t k = 0; k < got.size(); ++k) expect_same(got[k], want[k], true, "offset " + std::to_string(start) + " out " + std::to_string(k));
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// detach gives a new tensor that does not require grad, at every call: of an input, of a captured
// tensor, of a value f computes.
TEST(CompileAdversarial, DetachIsANewTensorAtEveryCall) {
  NoGradGuard no_grad;
  Tensor w = randn({3}).requires_grad_(true);
  auto f = [&](const TensorList& in) { return TensorList{in[0].detach(), w.detach(), (in[0] * 2.0).detach()}; };
  auto compiled = compile(f);
  // An input that requires grad is given to f as itself: replays take the same tensor (another runs f,
  // while the recording's lives).
  Tensor x = randn({3}).requires_grad_(true);
  const Tensor first = x;
  for (int i = 0; i < 4; ++i) {
    if (i == 3) x = randn({3}).requires_grad_(true);
    TensorList got = compiled(TensorList{x}), want = f(TensorList{x});
    for (size_t k = 0; k < got.size(); ++k) {
      expect_same(got[k], want[k], true, "out " + std::to_string(k));
      EXPECT_EQ(got[k].requires_grad(), want[k].requires_grad()) << "call " << i << " out " << k;
    }
    EXPECT_NE(got[0].impl(), x.impl()) << "call " << i;
    EXPECT_NE(got[1].impl(), w.impl()) << "call " << i;
  }
  EXPECT_EQ(compiled.stats().replays, 2);
  EXPECT_NE(compiled.stats().eager_reason.find("another tensor"), std::string::npos) << compiled.stats().eager_reason;
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// f that runs backward over a graph built before it (accumulating into .grad at every call) or asks
// for gradients of one runs itself at every call.
TEST(CompileAdversarial, BackwardOverACapturedGraphRunsF) {
  Tensor w = randn({3}).requires_grad_(true);
  Tensor loss = (w * w).sum();
  auto f = [&](const Tensor& x) {
    loss.backward({}, /*retain_graph=*/true);
    return x * w.grad();
  };
  auto compiled = compile(f);
  NoGradGuard no_grad;
  Tensor x = ones({3});
  for (int i = 1; i <= 3; ++i) expect_same(compiled(x), w.detach() * 2.0 * i, true, "call " + std::to_string(i));
  auto g = [&](const Tensor& x) { return x * dydx::grad({loss}, {w}, {}, true)[0]; };
  auto cg = compile(g);
  for (int i = 0; i < 3; ++i) {
    Tensor y = randn({3});
    expect_same(cg(y), y * w.detach() * 2.0, false, "grad");
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// An optimiser's step compiled: f reads p.grad(), which a backward after zero_grad(set_to_none)
// replaces by a new tensor. Every call reads the gradient p has then.
TEST(CompileAdversarial, ReadsOfGradSeeTheCurrentGradient) {
  Tensor p = randn({4}).requires_grad_(true);
  auto step = [](const Tensor& q) { return q - 0.1 * q.grad(); };
  auto compiled = compile(step);
  for (int i = 0; i < 3; ++i) {
    p.set_grad(Tensor());  // zero_grad(set_to_none)
    ((p * p).sum() * static_cast<double>(i + 1)).backward();
    NoGradGuard no_grad;
    expect_same(compiled(p), step(p), true, "step " + std::to_string(i));
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// A physics-informed loss compiled: f marks its input as requiring grad and differentiates in it.
// The caller's tensor is marked, as when f runs on it, and the values are f's.
TEST(CompileAdversarial, FMarksItsInputAsRequiringGrad) {
  auto f = [](const Tensor& in) {
    Tensor x = in;
    x.requires_grad_(true);
    Tensor u = (x * x * x).sum();
    return dydx::grad({u}, {x}, {}, true, true)[0];
  };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    Tensor x = randn({4}), y = x.clone();
    Tensor got = compiled(x), want = f(y);
    EXPECT_TRUE(x.requires_grad()) << "call " << i;
    expect_same(got.detach(), want.detach(), true, "call " + std::to_string(i));
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// A tensor f makes, fills through its memory and keeps: the recording sees no step for the filling.
TEST(CompileAdversarial, KeptTensorFilledThroughItsMemory) {
  NoGradGuard no_grad;
  Tensor kept;
  auto f = [&](const Tensor& x) {
    kept = zeros({3});
    for (int64_t i = 0; i < 3; ++i) kept.data_ptr<float>()[i] = x.data_ptr<float>()[i] * 2.0f;
    return kept + 1.0;
  };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    Tensor x = randn({3});
    expect_same(compiled(x), x * 2.0 + 1.0, true, "call " + std::to_string(i));
  }
}

// A tensor made inside f on its first call and kept by f (a lazily made parameter) is f's state:
// later calls read it, updated in place by an optimiser, as f does.
TEST(CompileAdversarial, LazilyMadeStateIsReadAtEveryCall) {
  NoGradGuard no_grad;
  Tensor b, v;
  auto f = [&](const Tensor& x) {
    if (!b.defined()) b = zeros({3});
    if (!v.defined()) v = ones({2, 3}).select(0, 1);
    return x + b * v;
  };
  auto compiled = compile(f);
  Tensor x = randn({3});
  compiled(x);
  for (int i = 0; i < 2; ++i) {
    b.add_(1.0);
    v.mul_(2.0);
    expect_same(compiled(x), x + b * v, true, "after an update " + std::to_string(i));
  }
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// Threads that make their own parameters and record their own functions while the others record:
// each one's parameters were made before its recording, so each replays, with f's values.
TEST(CompileAdversarial, ThreadsRecordingWhileOthersMakeTensors) {
  std::atomic<int> failures{0}, replays{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      NoGradGuard no_grad;
      for (int round = 0; round < 20; ++round) {
        Tensor W = randn({5, 5}), b = randn({5});
        auto f = [&](const Tensor& x) { return (addmm(b, x, W).tanh() * 2.0).sum(0); };
        auto compiled = compile(f);
        for (int call = 0; call < 3; ++call) {
          Tensor x = randn({7, 5});
          if (!allclose(compiled(x), f(x), 1e-5, 1e-6)) ++failures;
        }
        replays += static_cast<int>(compiled.stats().replays);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(replays.load(), 4 * 20 * 2);
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// A tensor f computes on its first call and keeps (a lazily made parameter, a statistic of the first batch, as an
// ActNorm layer takes) is f's state: later calls read it, updates in place included. A replay would compute it
// again from the new inputs, so f runs itself, and says why.
TEST(CompileAdversarial, TensorsFComputesAndKeepsAreReadNotRecomputed) {
  NoGradGuard no_grad;
  Tensor b, s;
  auto f = [&](const Tensor& x) {
    if (!b.defined()) b = ones({3}) * 0.1;
    if (!s.defined()) s = x.abs().mean();
    return x * s + b;
  };
  auto compiled = compile(f);
  compiled(tensor({1.0f, 2.0f, 3.0f}));
  b.add_(1.0);
  const Tensor x = tensor({10.0f, 20.0f, 30.0f});
  expect_same(compiled(x), f(x), true, "after the state was kept and updated");
  EXPECT_TRUE(equal(compiled(x), tensor({21.1f, 41.1f, 61.1f})));
  EXPECT_EQ(compiled.stats().replays, 0);
  EXPECT_NE(compiled.stats().eager_reason.find("keeps a tensor it computed"), std::string::npos)
      << compiled.stats().eager_reason;
}

// The same kept parameter, trained after the first call: the gradient reaches it, as when f runs.
TEST(CompileAdversarial, AKeptParameterTrainedLaterGetsItsGradient) {
  Tensor b;
  auto f = [&](const Tensor& x) {
    if (!b.defined()) b = ones({3}) * 0.1;
    return (x * b).sum();
  };
  auto compiled = compile(f);
  const Tensor x = tensor({1.0f, 2.0f, 3.0f});
  compiled(x);
  b.requires_grad_(true);
  Tensor loss = compiled(x);
  ASSERT_TRUE(loss.requires_grad());
  loss.backward();
  EXPECT_TRUE(equal(b.grad(), x));
}

// An intermediate f stores for later (to inspect or log it) is this call's at every call, as with f.
TEST(CompileAdversarial, AnIntermediateStoredForLaterIsEveryCallsOwn) {
  NoGradGuard no_grad;
  Tensor hidden;
  auto f = [&](const Tensor& x) {
    hidden = (x * 2.0).tanh();
    return hidden.sum();
  };
  auto compiled = compile(f);
  for (float v : {0.1f, 0.2f, 0.3f}) {
    const Tensor x = full({4}, v);
    compiled(x);
    EXPECT_TRUE(equal(hidden, (x * 2.0).tanh())) << v;
  }
}

// A captured tensor whose layout changes in place (Module::to to another dtype and back turns a transposed
// parameter contiguous): the recorded views of it would read the wrong elements, so f is recorded again.
TEST(CompileAdversarial, ACapturedTensorWhoseLayoutChangesIsRecordedAgain) {
  NoGradGuard no_grad;
  struct Holder : nn::Module {
    Tensor w;
    Holder() { w = register_parameter("w", arange(12, kFloat32).view({4, 3}).t(), false); }
  };
  auto m = std::make_shared<Holder>();
  auto f = [&](const Tensor& x) { return x + m->w.t(); };
  auto compiled = compile(f);
  const Tensor x = zeros({4, 3});
  compiled(x);
  compiled(x);
  ASSERT_EQ(m->w.stride(0), 1);
  m->to(kFloat64);
  m->to(kFloat32);
  ASSERT_EQ(m->w.stride(1), 1);  // contiguous now
  expect_same(compiled(x), f(x), true, "after Module::to changed the parameter's layout");
  EXPECT_EQ(compiled.stats().recordings, 2);
  expect_same(compiled(x), f(x), true, "replayed from the new recording");
  EXPECT_EQ(compiled.stats().replays, 2);
}

// A value read with item() steers f as it is at each call (a scale, a branch): f runs itself, and says why.
TEST(CompileAdversarial, ValuesReadWithItemAreReadAtEveryCall) {
  NoGradGuard no_grad;
  auto f = [](const Tensor& x) { return x / x.max().item<double>(); };
  auto compiled = compile(f);
  compiled(tensor({1.0f, 2.0f}));
  const Tensor x = tensor({10.0f, 40.0f});
  EXPECT_TRUE(equal(compiled(x), tensor({0.25f, 1.0f})));
  EXPECT_EQ(compiled.stats().replays, 0);
  EXPECT_NE(compiled.stats().eager_reason.find("item()"), std::string::npos) << compiled.stats().eager_reason;
  auto branch = [](const Tensor& x) { return x.sum().item<double>() > 0 ? x * 2.0 : x * -1.0; };
  auto compiled_branch = compile(branch);
  compiled_branch(ones({3}));
  EXPECT_TRUE(equal(compiled_branch(-ones({3})), ones({3})));
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// A module's training mode steers what f computes (dropout, batch norm's statistics, a module's own branch): a call
// after train() or eval() must compute what f computes in the new mode, not replay the old one.
TEST(CompileAdversarial, AModulesTrainingModeChangedBetweenCallsIsSeen) {
  NoGradGuard no_grad;
  manual_seed(3);
  nn::Dropout drop(nn::DropoutOptions(0.5));
  nn::BatchNorm1d norm(4);
  norm->running_mean.fill_(2.0);
  struct Branch : nn::Module {
    Tensor forward(const Tensor& x) { return is_training() ? x * 2.0 : x * 3.0; }
  };
  auto branch = std::make_shared<Branch>();
  auto f = [&](const Tensor& x) { return branch->forward(norm->forward(drop->forward(x))); };
  drop->eval();
  norm->eval();
  branch->eval();
  auto compiled = compile(f);
  const Tensor x = randn({64, 4});
  compiled(x);
  expect_same(compiled(x), f(x), true, "eval, replayed");
  EXPECT_EQ(compiled.stats().replays, 1);
  branch->train();
  expect_same(compiled(x), f(x), true, "the module's own branch in training");
  EXPECT_EQ(compiled.stats().recordings, 2);
  norm->train();
  const Tensor trained = compiled(x);  // batch norm takes the batch's statistics: each column's mean is 0
  EXPECT_LT(trained.mean({0}).abs().max().item<double>(), 1e-5);
  auto dropped = compile([&](const Tensor& in) { return drop->forward(in) * 1.0; });
  dropped(ones({256}));
  dropped(ones({256}));
  drop->train();
  // A mask drawn (where eval replayed identity), and drawn again at each replay: the numbers f draws.
  manual_seed(8);
  const Tensor drawn = dropped(ones({256})), again = dropped(ones({256}));
  manual_seed(8);
  EXPECT_GT(eq(drawn, 0.0).sum().item<int64_t>(), 0);
  expect_same(drawn, drop->forward(ones({256})), true, "training, recorded");
  expect_same(again, drop->forward(ones({256})), true, "training, replayed");
  EXPECT_EQ(dropped.stats().recordings, 2);
  // Back in eval mode: recorded again, and replays.
  drop->eval();
  const int64_t replays = dropped.stats().replays;
  expect_same(dropped(ones({256})), ones({256}), true, "eval again, recorded");
  expect_same(dropped(ones({256})), ones({256}), true, "eval again, replayed");
  EXPECT_EQ(dropped.stats().replays, replays + 1);
}

}  // namespace
}  // namespace dydx::testing
