// func::compile: compiled against eager over the op table and random graphs, the fused passes, the
// choice between replaying and calling f, signatures, exceptions, threads and composition with the
// transforms.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "autograd/op_info.hpp"
#include "compile_testing.hpp"
#include "op_table.hpp"
#include "random_graph.hpp"

namespace dydx::testing {
namespace {

using func::compile;


Tensor chain(const Tensor& x) {
  Tensor t = x.exp();
  t = t.sin();
  t = t * x;
  t = t + x;
  t = t.tanh();
  t = t.sigmoid();
  t = t.cos();
  t = t - x;
  t = t.abs();
  return t.sqrt();
}

TEST(Compile, ElementwiseChainIsOnePassAndBitExact) {
  NoGradGuard no_grad;
  auto compiled = compile(chain);
  for (int64_t n : {0, 1, 7, 1000, 100003}) {
    for (ScalarType dt : {kFloat32, kFloat64}) {
      Tensor x = (rand({n}, dt) + 0.5);
      expect_same(compiled(x), chain(x), true, "record n=" + std::to_string(n));
      Tensor y = (rand({n}, dt) + 0.5);
      expect_same(compiled(y), chain(y), true, "replay n=" + std::to_string(n));
    }
  }
  const auto s = compiled.stats();
  EXPECT_EQ(s.recordings, 10);
  EXPECT_EQ(s.replays, 10);
  EXPECT_EQ(s.eager_calls, 0);
  EXPECT_EQ(s.fused_passes, 1);
  EXPECT_EQ(s.fused_ops, 10);
}

TEST(Compile, BroadcastOperandsAndScalarsJoinThePass) {
  NoGradGuard no_grad;
  Tensor bias = randn({5});
  auto f = [&](const Tensor& x) { return ((x * 2.0 + bias).tanh() - 0.5) / (x.exp() + 1.0); };
  auto compiled = compile(f);
  for (int i = 0; i < 3; ++i) {
    Tensor x = randn({333, 5});
    expect_same(compiled(x), f(x), true, "pass");
  }
  EXPECT_EQ(compiled.stats().fused_passes, 1);
  EXPECT_EQ(compiled.stats().fused_ops, 7);
  EXPECT_EQ(compiled.stats().replays, 2);
}

// Ops whose inputs are single values broadcast run once per call, not once per element: every
// element's bits as eager's, special values included, at every length (a tile's tail, several
// threads); a result f returns is still written in full.
TEST(Compile, OpsOfBroadcastScalarsRunOnce) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) {
    const Tensor& x = in[0];
    const Tensor u = in[1].expand_as(x) / 7.0;
    const Tensor v = u.exp();
    return TensorList{x * v - u.sin(), v};
  };
  auto returns_first = [&](const TensorList& in) { return TensorList{f(in)[0]}; };
  for (bool return_v : {false, true}) {
    auto compiled = return_v ? compile(f) : compile(returns_first);
    for (ScalarType dt : {kFloat32, kFloat64}) {
      for (int64_t n : {0, 1, 1025, 100003}) {
        for (double s : {0.3, -0.0, 1e4, -std::numeric_limits<double>::infinity(), std::nan("")}) {
          const TensorList in{randn({n}, dt), full({}, s, dt)};
          const TensorList got = compiled(in), want = return_v ? f(in) : returns_first(in);
          ASSERT_EQ(got.size(), want.size());
          for (size_t k = 0; k < got.size(); ++k)
            expect_same(got[k], want[k], true, "n=" + std::to_string(n) + " s=" + std::to_string(s));
        }
      }
    }
    EXPECT_EQ(compiled.stats().replays, 2 * 4 * 5 - 8);
    // The division and the sine; the exponential too where f does not return it.
    EXPECT_EQ(compiled.stats().uniform_ops, return_v ? 2 : 3);
  }
}

// A mean's gradient, g / n over every element, is one of them: mse_loss's gradient compiled is
// eager's bit for bit.
TEST(Compile, MeanLossGradientDividesOnce) {
  NoGradGuard no_grad;
  auto gradient = [](const TensorList& in) {
    return func::grad([&](const Tensor& x) { return nn::functional::mse_loss(x, in[1]); })(in[0]);
  };
  auto compiled = compile([&](const TensorList& in) { return TensorList{gradient(in)}; });
  for (ScalarType dt : {kFloat32, kFloat64})
    for (int64_t rows : {1, 3, 777}) {
      const TensorList in{randn({rows, 13}, dt), randn({rows, 13}, dt)};
      for (int call = 0; call < 2; ++call) expect_same(compiled(in)[0], gradient(in), true, "rows=" + std::to_string(rows));
    }
  EXPECT_EQ(compiled.stats().replays, 6);
  EXPECT_GE(compiled.stats().uniform_ops, 1);
}

// The physics-informed network's MLP: bias + x @ W^T, then tanh, a block of rows at a time.
struct Mlp {
  TensorList params;
  explicit Mlp(ScalarType dt) {
    const int64_t sizes[] = {2, 64, 64, 64, 3};
    for (int l = 0; l < 4; ++l) {
      params.push_back(randn({sizes[l + 1], sizes[l]}, dt) / std::sqrt(static_cast<double>(sizes[l])));
      params.push_back(randn({sizes[l + 1]}, dt) * 0.1);
    }
  }
  Tensor operator()(const Tensor& x) const {
    Tensor h = x;
    for (int l = 0; l < 4; ++l) {
      h = linear(h, params[2 * l], params[2 * l + 1]);
      if (l < 3) h = tanh(h);
    }
    return h;
  }
};

TEST(Compile, ProductsCarryTheirActivation) {
  NoGradGuard no_grad;
  for (ScalarType dt : {kFloat32, kFloat64}) {
    const Mlp mlp(dt);
    auto compiled = compile([&](const Tensor& x) { return mlp(x); });
    for (int64_t B : {1, 5, 1000, 4099}) {
      Tensor x = randn({B, 2}, dt);
      expect_same(compiled(x), mlp(x), false, "record");
      x = randn({B, 2}, dt);
      expect_same(compiled(x), mlp(x), false, "replay");
    }
    EXPECT_EQ(compiled.stats().fused_products, 3);
    EXPECT_EQ(compiled.stats().replays, 4);
  }
}

// A product of several blocks of rows whose right-hand matrix outgrows L2 is not fused (each block
// would read and pack all of it again): it runs as itself, its epilogue as a pass.
TEST(Compile, ProductsWithALargeMatrixOfManyBlocksStayWhole) {
  NoGradGuard no_grad;
  const Tensor W = randn({256, 784}) * 0.03, b = randn({256});
  auto layer = [&](const Tensor& x) { return relu(linear(x, W, b)); };
  auto compiled = compile(layer);
  for (int64_t B : {8, 128}) {
    for (int call = 0; call < 2; ++call) {
      const Tensor x = randn({B, 784});
      expect_same(compiled(x), layer(x), false, "B = " + std::to_string(B));
    }
    EXPECT_EQ(compiled.stats().fused_products, B == 8 ? 1 : 0) << "B = " << B;  // 8 rows: one block
  }
}

TEST(Compile, ProductOperandsInEveryOrientation) {
  NoGradGuard no_grad;
  Tensor W = randn({6, 4}, kFloat64), b = randn({4}, kFloat64);
  for (bool ta : {false, true})
    for (bool tw : {false, true}) {
      Tensor Wl = tw ? W.t().contiguous().t() : W;  // [6, 4] stored transposed
      auto f = [&](const Tensor& x) { return (addmm(b, x, Wl)).sigmoid() * 3.0; };
      auto g = [&](const Tensor& x) { return mm(x, Wl).relu(); };
      auto cf = compile(f), cg = compile(g);
      for (int i = 0; i < 2; ++i) {
        Tensor x = randn({37, 6}, kFloat64);
        if (ta) x = x.t().contiguous().t();
        expect_same(cf(x), f(x), false, "addmm");
        expect_same(cg(x), g(x), false, "mm");
      }
      EXPECT_EQ(cf.stats().fused_products, 1);
      EXPECT_EQ(cg.stats().fused_products, 1);
    }
}

// A product whose result is also read elsewhere (or returned) is computed whole, and the pass reads it.
TEST(Compile, ProductReadTwiceIsNotFused) {
  NoGradGuard no_grad;
  Tensor W = randn({3, 3});
  auto f = [&](const TensorList& in) {
    Tensor p = mm(in[0], W);
    return TensorList{p.tanh(), p};
  };
  auto compiled = compile(f);
  for (int i = 0; i < 2; ++i) {
    Tensor x = randn({4, 3});
    TensorList a = compiled(TensorList{x}), b = f({x});
    expect_same(a[0], b[0], true, "tanh");
    expect_same(a[1], b[1], true, "product");
  }
  EXPECT_EQ(compiled.stats().fused_products, 0);
}

// Forward mode's tangent of a layer is one product of [k B, n] seen as [k, B, n]: the product is
// computed by the activation rule's pass through that reshape. Reshapes that change the row length,
// and products read twice, are not fused.
TEST(Compile, ProductsFuseThroughAWholeReshape) {
  NoGradGuard no_grad;
  for (ScalarType dt : {kFloat32, kFloat64}) {
    const Mlp mlp(dt);
    auto jacobian = compile([&](const Tensor& x) { return func::batch_jacobian(mlp, x); });
    for (int64_t B : {1, 7, 3001}) {
      Tensor x = randn({B, 2}, dt);
      expect_same(jacobian(x), func::batch_jacobian(mlp, x), false, "record");
      x = randn({B, 2}, dt);
      expect_same(jacobian(x), func::batch_jacobian(mlp, x), false, "replay");
    }
    // Three layers' primal products and the two hidden layers' tangent products.
    EXPECT_EQ(jacobian.stats().fused_products, 5);
  }
  Tensor W = randn({5, 6});
  const std::vector<std::tuple<std::string, std::function<TensorList(const TensorList&)>, int>> cases = {
      {"rows split", [&](const TensorList& in) { return TensorList{mm(in[0], W).view({2, 10, 6}).tanh()}; }, 1},
      {"row length changed", [&](const TensorList& in) { return TensorList{mm(in[0], W).view({10, 12}).tanh()}; }, 0},
      {"narrowed", [&](const TensorList& in) { return TensorList{mm(in[0], W).narrow(0, 2, 10).tanh()}; }, 0},
      {"transposed", [&](const TensorList& in) { return TensorList{mm(in[0], W).t().tanh()}; }, 0},
      {"read twice", [&](const TensorList& in) {
         Tensor p = mm(in[0], W);
         return TensorList{p.view({2, 10, 6}).tanh(), p};
       }, 0},
      {"reshape read twice", [&](const TensorList& in) {
         Tensor p = mm(in[0], W).view({2, 10, 6});
         return TensorList{p.tanh(), p.sum()};
       }, 0}};
  for (const auto& [name, f, fused] : cases) {
    auto compiled = compile(f);
    for (int call = 0; call < 3; ++call) {
      Tensor x = randn({20, 5});
      TensorList got = compiled(TensorList{x}), want = f({x});
      ASSERT_EQ(got.size(), want.size()) << name;
      for (size_t k = 0; k < got.size(); ++k) expect_same(got[k], want[k], true, name);
    }
    EXPECT_EQ(compiled.stats().fused_products, fused) << name;
    EXPECT_EQ(compiled.stats().replays, 2) << name << ": " << compiled.stats().eager_reason;
  }
}

// Every op-table row, both dtypes: the recording's call and a replay on new inputs equal f's.
TEST(Compile, EveryOpTableRowEqualsEager) {
  NoGradGuard no_grad;
  std::mt19937_64 rng(11);
  std::set<std::string> replayed, eager;
  for (const OpRow& row : op_table()) {
    for (const Shapes& shapes : row.samples) {
      for (ScalarType dt : {kFloat32, kFloat64}) {
        auto draw = [&] {
          TensorList in;
          for (const auto& s : shapes) in.push_back(random_tensor(s, row.domain, dt, rng));
          return in;
        };
        auto f = [&](const TensorList& in) { return TensorList{row.fn(in)}; };
        auto compiled = compile(f);
        const std::string what = row.name + " " + std::to_string(shapes.size()) + " inputs, " + dtype_name(dt);
        for (int call = 0; call < 3; ++call) {
          const TensorList in = draw();
          TensorList got, want;
          try {
            want = f(in);
          } catch (const Error&) {
            EXPECT_THROW(compiled(in), Error) << what;
            continue;
          }
          got = compiled(in);
          ASSERT_EQ(got.size(), want.size()) << what;
          // A product computed block by block may round differently; every other op computes each
          // element with its own kernel.
          expect_same(got[0], want[0], false, what);
        }
        const auto s = compiled.stats();
        (s.replays > 0 ? replayed : eager).insert(row.name + (s.replays > 0 ? "" : " (" + s.eager_reason + ")"));
      }
    }
  }
  std::string eager_list;
  for (const auto& e : eager) eager_list += "\n  " + e;
  std::cout << "op-table rows replayed: " << replayed.size() << "; run by f itself: " << eager.size() << eager_list << "\n";
  // Every elementwise row and the products and reductions with replay rules replay.
  for (const char* name : {"exp", "tanh", "sigmoid", "relu", "mul", "add", "sub", "div", "pow.Tensor", "mm", "addmm",
                           "sum", "sum.dim", "mean", "mean.dim", "neg", "maximum", "atan2", "pow.Scalar", "where"})
    EXPECT_TRUE(replayed.contains(name)) << name << " did not replay";
}

// Random programs (views, joins, reductions, in-place writes through views, where, max): the compiled
// function equals f at the recording and at replays, whichever way it ran.
TEST(Compile, RandomGraphsEqualEager) {
  NoGradGuard no_grad;
  int replayed = 0;
  constexpr int kGraphs = 200;
  for (int g = 0; g < kGraphs; ++g) {
    std::mt19937_64 rng(7000 + g);
    RandomGraph graph([&](uint32_t bound) { return static_cast<uint32_t>(rng() % bound); });
    auto f = [&](const TensorList& in) { return TensorList{graph.run(in)}; };
    auto compiled = compile(f);
    for (int call = 0; call < 3; ++call) {
      TensorList in;
      for (const auto& shape : graph.input_shapes()) in.push_back(randn(shape, kFloat64));
      TensorList copies;
      for (const Tensor& t : in) copies.push_back(t.clone());  // f may write into its inputs
      const TensorList want = f(copies);
      const TensorList got = compiled(in);
      expect_same(got[0], want[0], false, graph.describe());
      for (size_t i = 0; i < in.size(); ++i) expect_same(in[i], copies[i], true, "input " + std::to_string(i));
    }
    replayed += compiled.stats().replays > 0;
  }
  std::cout << "random graphs replayed: " << replayed << " of " << kGraphs << "\n";
  EXPECT_GT(replayed, kGraphs / 10);
}

TEST(Compile, ANewSignatureRecordsAgain) {
  NoGradGuard no_grad;
  auto f = [](const Tensor& x) { return (x * x).sum(0).exp(); };
  auto compiled = compile(f);
  Tensor a = randn({3, 4}), b = randn({5, 2}), c = randn({3, 4}, kFloat64), d = randn({4, 3}).t();
  for (const Tensor& x : {a, b, a, c, d, b, d, c}) expect_same(compiled(x), f(x), false, "signature");
  EXPECT_EQ(compiled.stats().recordings, 4);
  EXPECT_EQ(compiled.stats().replays, 4);
  compiled.reset();
  expect_same(compiled(a), f(a), false, "after reset");
  EXPECT_EQ(compiled.stats().recordings, 5);
}

TEST(Compile, SameTensorTwiceIsPartOfTheSignature) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) { return TensorList{in[0] * 2.0 - in[1]}; };
  auto compiled = compile(f);
  Tensor x = randn({4});
  expect_same(compiled({x, x})[0], f({x, x})[0], true, "x, x");
  Tensor a = randn({4}), b = randn({4});
  expect_same(compiled({a, b})[0], f({a, b})[0], true, "a, b");
  expect_same(compiled({b, b})[0], f({b, b})[0], true, "b, b");
  EXPECT_EQ(compiled.stats().recordings, 2);
}

// A tensor f captures and is also passed: the replay reads the captured one where f reads it.
TEST(Compile, ACapturedTensorPassedAsInputStaysCaptured) {
  NoGradGuard no_grad;
  Tensor W = randn({3});
  auto f = [&](const Tensor& x) { return x * 2.0 + W; };
  auto compiled = compile(f);
  expect_same(compiled(W), f(W), true, "W as input");
  Tensor other = randn({3});
  expect_same(compiled(other), f(other), true, "another input");
  EXPECT_EQ(compiled.stats().replays, 1);
}

TEST(Compile, AnExceptionWhileRecordingLeavesNothingBehind) {
  NoGradGuard no_grad;
  bool fail = true;
  auto f = [&](const Tensor& x) {
    Tensor y = x.exp();
    if (fail) throw std::runtime_error("f failed");
    return y + 1.0;
  };
  auto compiled = compile(f);
  Tensor x = randn({3});
  EXPECT_THROW(compiled(x), std::runtime_error);
  EXPECT_EQ(compiled.stats().recordings, 0);
  // No recording is left running on this thread: another compiled function records and replays.
  auto other = compile(chain);
  Tensor p = rand({5}) + 0.5;
  other(p);
  expect_same(other(p), chain(p), true, "other");
  EXPECT_EQ(other.stats().replays, 1);
  fail = false;
  expect_same(compiled(x), x.exp() + 1.0, true, "after");
  expect_same(compiled(x), x.exp() + 1.0, true, "replay");
  EXPECT_EQ(compiled.stats().recordings, 1);
  // An op that raises inside f at recording raises its own error.
  auto bad = compile([](const Tensor& x) { return mm(x, x); });
  EXPECT_THROW(bad(randn({2, 3})), Error);
  expect_same(bad(randn({0, 0})), zeros({0, 0}), true, "empty");
}

TEST(Compile, InPlaceWritesIntoInputsAndUnrecordedOpsRunF) {
  NoGradGuard no_grad;
  // (A random draw is a step that draws again: CompileDraws below.)
  auto noisy = compile([](const Tensor& x) { return x + randn(x.sizes()); });
  Tensor x = zeros({4});
  manual_seed(3);
  Tensor first = noisy(x), second = noisy(x);
  manual_seed(3);
  expect_same(first, x + randn({4}), true, "first draw");
  expect_same(second, x + randn({4}), true, "second draw");
  EXPECT_EQ(noisy.stats().replays, 1) << noisy.stats().eager_reason;

  // (A write into a tensor f made and nothing else aliases is a step: CompileInPlace.)
  auto inplace = compile([](const Tensor& x) { return Tensor(x).mul_(2.0).exp(); });
  for (int i = 0; i < 3; ++i) {
    Tensor y = randn({3});
    const Tensor want = (y * 2.0).exp();
    expect_same(inplace(y), want, true, "in place");
  }
  EXPECT_EQ(inplace.stats().replays, 0);
  EXPECT_NE(inplace.stats().eager_reason.find("in-place"), std::string::npos) << inplace.stats().eager_reason;

  // Comparisons and masks (isnan) are steps; memory from from_blob is not.
  auto masked = compile([](const Tensor& x) { return where(x > 0, x, x * 3.0); });
  auto unseen = compile([](const Tensor& x) { return where(isnan(x), zeros_like(x), x); });
  for (int i = 0; i < 3; ++i) {
    Tensor y = randn({6});
    expect_same(masked(y), where(y > 0, y, y * 3.0), true, "where");
    expect_same(unseen(y), y, true, "isnan");
  }
  EXPECT_EQ(masked.stats().replays, 2);
  EXPECT_EQ(unseen.stats().replays, 2) << unseen.stats().eager_reason;
  auto blob = compile([](const Tensor& x) {
    std::vector<float> local(x.numel(), 2.0f);
    return x * from_blob(local.data(), x.sizes());
  });
  for (int i = 0; i < 3; ++i) {
    Tensor y = randn({5});
    expect_same(blob(y), y * 2.0, true, "from_blob");
  }
  EXPECT_EQ(blob.stats().replays, 0);
  EXPECT_NE(blob.stats().eager_reason.find("does not see"), std::string::npos) << blob.stats().eager_reason;
}

TEST(Compile, CapturedTensorsAreReadAtEveryCall) {
  NoGradGuard no_grad;
  Tensor W = randn({3, 3});
  auto f = [&](const Tensor& x) { return mm(x, W).tanh(); };
  auto compiled = compile(f);
  Tensor x = randn({2, 3});
  compiled(x);
  W.mul_(2.0);  // an optimiser's update, in place
  expect_same(compiled(x), f(x), false, "after the update");
  EXPECT_EQ(compiled.stats().replays, 1);
}

// A captured tensor that starts requiring grad after the recording: grad mode calls run f, so the
// gradient reaches it.
TEST(Compile, ACapturedTensorThatStartsRequiringGradGetsItsGradient) {
  Tensor W = randn({3});
  auto compiled = compile([&](const Tensor& x) { return (x * W).tanh().sum(); });
  Tensor x = randn({3});
  compiled(x);
  compiled(x);
  EXPECT_EQ(compiled.stats().replays, 1);
  W.requires_grad_(true);
  compiled(x).backward();
  ASSERT_TRUE(W.grad().defined());
  expect_same(W.grad(), x * (1.0 - (x * W).tanh().pow(2)), false, "grad");
  EXPECT_EQ(compiled.stats().replays, 1);
}

TEST(Compile, OutputsAreFreshOrTheTensorsFGives) {
  NoGradGuard no_grad;
  auto made = compile([](const TensorList& in) { return TensorList{zeros({3}), in[0], in[0].exp()}; });
  Tensor x = randn({3});
  made(TensorList{x});
  TensorList a = made(TensorList{x}), b = made(TensorList{x});
  EXPECT_EQ(made.stats().replays, 2);
  a[0].fill_(5.0);
  expect_same(b[0], zeros({3}), true, "a constant is a new tensor at every call");
  EXPECT_EQ(a[1].impl(), x.impl());  // f returns its input itself
}

TEST(Compile, ComposesWithTheTransformsThroughF) {
  const Mlp mlp(kFloat64);
  auto f = [&](const Tensor& x) { return mlp(x); };
  auto compiled = compile(f);
  Tensor x = randn({7, 2}, kFloat64);
  expect_same(func::batch_jacobian(compiled, x), func::batch_jacobian(f, x), true, "batch_jacobian");
  expect_same(func::laplacian(compiled, x), func::laplacian(f, x), true, "laplacian");
  expect_same(func::vmap(func::UnaryFunction(compiled))(x), func::vmap(f)(x), true, "vmap");
  Tensor xg = x.clone().requires_grad_(true);
  compiled(xg).sum().backward();
  Tensor xe = x.clone().requires_grad_(true);
  f(xe).sum().backward();
  expect_same(xg.grad(), xe.grad(), true, "grad");
  EXPECT_EQ(compiled.stats().replays, 0);
  // Parameters that require grad: grad mode runs f, no_grad replays.
  TensorList params;
  for (const Tensor& p : mlp.params) params.push_back(p.clone().requires_grad_(true));
  auto g = [&](const Tensor& z) { return tanh(linear(z, params[0], params[1])).sum(); };
  auto cg = compile(g);
  cg(x).backward();
  EXPECT_TRUE(params[0].grad().defined());
  EXPECT_NE(cg.stats().eager_reason.find("autograd"), std::string::npos) << cg.stats().eager_reason;
  NoGradGuard no_grad;
  cg(x);
  expect_same(cg(x), g(x), false, "no_grad");
  EXPECT_EQ(cg.stats().replays, 1);
}

// Transforms inside f are recorded like any ops: the forward-mode steps of batch_jacobian and the
// forward Laplacian, vmap's batched ops, and the seed's per-sample Jacobian replay (primals no output
// needs are never computed).
TEST(Compile, TransformsInsideFReplay) {
  NoGradGuard no_grad;
  for (ScalarType dt : {kFloat32, kFloat64}) {
    const Mlp mlp(dt);
    Tensor W = randn({1, 16}, dt);
    std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> cases = {
        {"batch_jacobian", [&](const Tensor& x) { return func::batch_jacobian(mlp, x); }},
        {"laplacian", [&](const Tensor& x) { return func::laplacian(mlp, x); }},
        {"vmap", [&](const Tensor& x) { return func::vmap(func::UnaryFunction(mlp))(x); }},
        {"hessian_diagonal", [&](const Tensor& x) { return func::batch_hessian_diagonal(mlp, x); }},
        {"seed", [&](const Tensor& x) {
           return func::batch_jacobian([&](const Tensor& xi) { return matmul(xi.pow(3), W); }, x.narrow(1, 0, 1));
         }}};
    for (const auto& [name, g] : cases) {
      auto compiled = compile(g);
      for (int64_t B : {3, 257}) {
        for (int call = 0; call < 2; ++call) {
          Tensor x = randn({B, 2}, dt);
          expect_same(compiled(x), g(x), false, name + " " + dtype_name(dt));
        }
      }
      // batch_hessian_diagonal writes its result in place: f runs itself, with the same results.
      EXPECT_EQ(compiled.stats().replays, name == "hessian_diagonal" ? 0 : 2) << name << ": " << compiled.stats().eager_reason;
    }
  }
}

TEST(Compile, ConcurrentCallsFromManyThreads) {
  NoGradGuard no_grad;
  const Mlp mlp(kFloat32);
  auto compiled = compile([&](const Tensor& x) { return mlp(x); });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      NoGradGuard inner;
      for (int i = 0; i < 20; ++i) {
        Tensor x = full({50 + (i % 3), 2}, 0.1 * t + 0.01 * i);
        Tensor got = compiled(x), want = mlp(x);
        if (!allclose(got, want, 1e-5, 1e-6)) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(compiled.stats().replays, 100);
}

TEST(Compile, NestedCompiledFunctionsAndDeepChains) {
  NoGradGuard no_grad;
  auto inner = compile(chain);
  auto outer = compile([&](const Tensor& x) { return inner(x) * 2.0 + inner(x + 1.0); });
  Tensor x = rand({100}) + 0.5;
  for (int i = 0; i < 3; ++i) expect_same(outer(x), chain(x) * 2.0 + chain(x + 1.0), true, "nested");
  EXPECT_EQ(outer.stats().replays, 2);
  auto deep = compile([](const Tensor& x) {
    Tensor t = x;
    for (int i = 0; i < 20000; ++i) t = t * 0.9999 + 0.0001;
    return t;
  });
  Tensor y = randn({64});
  Tensor want = y;
  for (int i = 0; i < 20000; ++i) want = want * 0.9999 + 0.0001;
  for (int i = 0; i < 2; ++i) expect_same(deep(y), want, true, "deep");
}

TEST(Compile, MaxSignaturesAndBadArguments) {
  NoGradGuard no_grad;
  auto compiled = compile([](const Tensor& x) { return x.exp(); }, 1);
  compiled(randn({2}));
  expect_same(compiled(randn({3}).zero_()), ones({3}), true, "beyond the limit");
  EXPECT_NE(compiled.stats().eager_reason.find("max_signatures"), std::string::npos);
  EXPECT_THROW(compile(func::Function()), Error);
  EXPECT_THROW(compiled(TensorList{Tensor()}), Error);
  EXPECT_THROW(compile([](const TensorList&) { return TensorList{}; })(randn({2})), Error);
}

}  // namespace
}  // namespace dydx::testing

namespace dydx::testing {
namespace {

// The ops func::compile computes again without a rule of their own: views, replayed by their
// geometry (as_strided on the replayed input).
const std::set<std::string> kViews = {"as_strided", "diagonal", "expand", "permute",     "select", "slice",
                                      "split",      "split_with_sizes", "squeeze", "squeeze.dim", "t",
                                      "transpose",  "unbind",   "unsqueeze", "view"};
// The ops it cannot compute again yet: a recording that needs one runs f itself. copy, copy_slices,
// fill and zero are in-place writes' records (with history to record, which refuses the recording; a
// write into a tensor f made without history is a step of its own, ops::rewritten). The lists are
// exact both ways, so that an op added without a rule, or given one, updates them.
const std::set<std::string>& ops_without_replay_rule() {
  static const std::set<std::string> ops = [] {
    std::set<std::string> s = {"copy", "copy_slices", "fill", "sign", "zero"};
    s.insert(kViews.begin(), kViews.end());
    return s;
  }();
  return ops;
}

TEST(CompileRules, EveryOpHasAReplayRuleOrIsListed) {
  std::set<std::string> missing;
  for (const autograd::OpInfo* op : autograd::registered_ops()) {
    if (std::string(op->name) == "AccumulateGrad") continue;
    const bool listed = ops_without_replay_rule().contains(op->name);
    if (op->compile == autograd::CompileKind::none) missing.insert(op->name);
    EXPECT_EQ(listed, op->compile == autograd::CompileKind::none)
        << op->name << (listed ? " has a replay rule: take it off the list" : " has no replay rule: give it one or list it");
  }
  std::string names;
  for (const auto& m : missing) names += " \"" + m + "\",";
  std::cout << "ops without a replay rule:" << names << "\n";
}

// Every elementwise op with a loop for the fused passes computes, in a pass of several ops, the
// same bits as the op itself, on both float dtypes and on values around its edges.
TEST(CompileRules, EveryFusedLoopIsTheOpsOwnKernel) {
  NoGradGuard no_grad;
  std::mt19937_64 rng(5);
  int checked = 0;
  for (const OpRow& row : op_table()) {
    const autograd::OpInfo* info = nullptr;
    for (const autograd::OpInfo* op : autograd::registered_ops())
      if (row.name == op->name) info = op;
    if (info == nullptr || info->compile != autograd::CompileKind::fused) continue;
    for (const Shapes& shapes : row.samples)
      for (ScalarType dt : {kFloat32, kFloat64}) {
        // The op between two others, so that it runs inside a pass; then its input holds edge values.
        auto f = [&](const TensorList& in) {
          TensorList moved;
          for (const Tensor& t : in) moved.push_back(t * 1.0);
          return TensorList{row.fn(moved) + 0.0};
        };
        auto compiled = compile(f);
        for (int call = 0; call < 3; ++call) {
          TensorList in;
          for (const auto& s : shapes) in.push_back(random_tensor(s, row.domain, dt, rng));
          if (call == 2)
            for (Tensor& t : in) {
              Tensor flat = t.reshape({-1});
              const double edges[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e30, -1e-30};
              for (int64_t i = 0; i < flat.numel(); ++i) flat.index_put_({i}, edges[i % 7]);
            }
          const TensorList want = f(in);
          const TensorList got = compiled(in);
          expect_same(got[0], want[0], true, row.name + " " + dtype_name(dt));
        }
        ++checked;
        bool same_shapes = true;
        for (const auto& shape : shapes) same_shapes = same_shapes && shape == shapes[0];
        if (same_shapes) EXPECT_GE(compiled.stats().fused_ops, 2) << row.name;
      }
  }
  EXPECT_GT(checked, 40);
}

}  // namespace
}  // namespace dydx::testing
