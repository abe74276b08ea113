// Reliability: memory released after backward and flat over long loops, threads, anomaly mode.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace dydx {
namespace {

int64_t live_bytes() { return memory_stats().live_bytes; }

TEST(Memory, SavedTensorsAreReleasedByBackward) {
  Tensor x = randn({1000}, kFloat64).requires_grad_(true);
  const int64_t start = live_bytes();
  Tensor y = (x.exp() * x).sin().sum();  // saves exp(x), x and exp(x) * x
  const int64_t with_graph = live_bytes();
  EXPECT_GE(with_graph - start, 2 * 8000);
  y.backward();
  // What is left: y (inline) and x.grad; the graph's saved tensors are gone although y still holds it.
  EXPECT_EQ(live_bytes() - start, 8000 + 8);
  EXPECT_THROW(y.backward(), Error);
}

TEST(Memory, RetainGraphKeepsThemUntilTheGraphDies) {
  Tensor x = randn({1000}, kFloat64).requires_grad_(true);
  const int64_t start = live_bytes();
  {
    Tensor y = (x.exp() * x).sin().sum();
    y.backward({}, /*retain_graph=*/true);
    EXPECT_GT(live_bytes() - start, 8000 + 8);
  }
  EXPECT_EQ(live_bytes() - start, 8000);  // x.grad
}

// A small per-sample MLP trained on a residual built from its Laplacian, as in the transforms issue.
struct Mlp {
  TensorList params;
  Mlp() {
    manual_seed(7);
    params = {randn({2, 16}) * 0.5, zeros({16}), randn({16, 3}) * 0.5, zeros({3})};
    for (Tensor& p : params) p.requires_grad_(true);
  }
  Tensor operator()(const Tensor& x) const { return matmul(tanh(matmul(x, params[0]) + params[1]), params[2]) + params[3]; }
};

// The transforms issue's per-sample MLP, 2 -> 64 -> 64 -> 64 -> 3 with tanh.
struct PinnMlp {
  TensorList params;
  PinnMlp() {
    manual_seed(9);
    const int64_t sizes[] = {2, 64, 64, 64, 3};
    for (int i = 0; i < 4; ++i) {
      params.push_back((randn({sizes[i], sizes[i + 1]}) * (1.0 / std::sqrt(static_cast<double>(sizes[i])))).requires_grad_(true));
      params.push_back(zeros({sizes[i + 1]}).requires_grad_(true));
    }
  }
  Tensor operator()(const Tensor& x) const {
    Tensor h = x;
    for (int i = 0; i < 4; ++i) {
      h = matmul(h, params[2 * i]) + params[2 * i + 1];
      if (i < 3) h = tanh(h);
    }
    return h;
  }
};

TEST(Memory, TrainingLoopStaysFlat) {
  PinnMlp f;
  manual_seed(8);
  Tensor x = randn({4, 2});
  auto step = [&] {
    Tensor loss = f(x).pow(2).mean();
    TensorList g = grad({loss}, f.params);
    NoGradGuard no_grad;
    for (size_t i = 0; i < g.size(); ++i) f.params[i].sub_(g[i], 1e-3);
  };
#if defined(DYDX_SANITIZED)
  const int kLong = 10000;  // sanitizers run each op about ten times slower
#else
  const int kLong = 100000;
#endif
  for (int i = 0; i < 1000; ++i) step();
  const int64_t at_thousand = live_bytes();
  for (int i = 1000; i < kLong; ++i) step();
  EXPECT_EQ(live_bytes(), at_thousand);
}

TEST(Memory, TransformsReleaseEverything) {
  Mlp f;
  Tensor x = randn({4, 2});
  const int64_t start = live_bytes();
  { Tensor l = func::laplacian(f, x); }
  { Tensor j = func::batch_jacobian(f, x); }
  { Tensor h = func::hessian([&](const Tensor& z) { return f(z).sum(); })(x); }
  EXPECT_EQ(live_bytes(), start);
}

// The same computation, forward, backward and a transform, on fresh tensors from a fixed seed.
std::vector<double> workload(uint64_t seed) {
  Tensor x = tensor({0.1 * static_cast<double>(seed % 7), 0.3, -0.2, 0.5}, kFloat64).reshape({2, 2});
  Tensor w = tensor({{0.5, -1.0}, {2.0, 0.25}}, kFloat64).requires_grad_(true);
  Tensor leaf = x.clone().requires_grad_(true);
  Tensor y = tanh(matmul(leaf, w)).pow(2).sum();
  TensorList g = grad({y}, {leaf, w});
  Tensor j = func::batch_jacobian([&](const Tensor& z) { return sin(matmul(z, w.detach())); }, x);
  std::vector<double> out = g[0].to_vector<double>();
  for (double v : g[1].to_vector<double>()) out.push_back(v);
  for (double v : j.to_vector<double>()) out.push_back(v);
  return out;
}

TEST(Threads, IndependentGraphsGiveBitIdenticalResults) {
  std::vector<std::vector<double>> expected;
  for (uint64_t s = 0; s < 8; ++s) expected.push_back(workload(s));
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i)
        if (workload(static_cast<uint64_t>(t)) != expected[t]) ++mismatches[t];
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(Threads, SharedWeightsAreReadSafelyAndTheirGradAccumulates) {
  Tensor w = tensor({{0.5, -1.0}, {2.0, 0.25}}, kFloat64).requires_grad_(true);
  Tensor x = tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64);
  const int kThreads = 8, kIterations = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) tanh(matmul(x, w)).sum().backward();
    });
  for (auto& th : threads) th.join();
  Tensor single = grad({tanh(matmul(x, w)).sum()}, {w})[0];
  EXPECT_TRUE(allclose(w.grad(), single * static_cast<double>(kThreads * kIterations), 1e-12, 0));
}

TEST(Threads, GradModeIsPerThread) {
  NoGradGuard no_grad;
  bool other_thread_enabled = false;
  std::thread([&] { other_thread_enabled = is_grad_enabled(); }).join();
  EXPECT_TRUE(other_thread_enabled);
  EXPECT_FALSE(is_grad_enabled());
}

TEST(Anomaly, NamesTheFirstRuleToProduceNonFiniteValues) {
  Tensor x = tensor({0.0, 1.0}, kFloat64).requires_grad_(true);
  {
    Tensor y = sqrt(x).sum();  // d sqrt(x)/dx = inf at 0
    y.backward();
    EXPECT_TRUE(std::isinf(x.grad().to_vector<double>()[0]));  // IEEE 754, no error by default
  }
  DetectAnomalyGuard anomaly;
  try {
    sqrt(x).sum().backward();
    FAIL() << "expected an anomaly error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("SqrtBackward0"), std::string::npos) << message;
    EXPECT_NE(message.find("'sqrt'"), std::string::npos) << message;
  }
  // A nan that comes in is passed on by later rules without blaming them.
  Tensor z = tensor({1.0}, kFloat64).requires_grad_(true);
  EXPECT_NO_THROW((z * 2.0).sum().backward(tensor(std::nan(""), kFloat64)));
}

TEST(Anomaly, GuardRestoresThePreviousMode) {
  EXPECT_FALSE(is_anomaly_enabled());
  {
    DetectAnomalyGuard anomaly;
    EXPECT_TRUE(is_anomaly_enabled());
  }
  EXPECT_FALSE(is_anomaly_enabled());
}

}  // namespace
}  // namespace dydx

namespace dydx {
namespace {

// In-place ops whose operand is self, or whose base gets a history through the saving node, must
// not make reference cycles: the ASan run's LeakSanitizer checks these.
TEST(Memory, InPlaceOnSelfAndThroughViewsLeaksNothing) {
  const int64_t start = live_bytes();
  {
    Tensor x = ones({3}, kFloat64).requires_grad_(true);
    Tensor y = x * 1.0;
    y.mul_(y.view({3}));
    Tensor z = tensor({{0.3, -0.7}, {0.9, 0.2}}, kFloat64).requires_grad_(true);
    Tensor w = z.clone();
    w.select(1, 0).add_(w.select(1, 1) * 2.0);
    w.sum().backward();
    EXPECT_EQ(z.grad().to_vector<double>(), std::vector<double>({1, 3, 1, 3}));
  }
  EXPECT_EQ(live_bytes(), start);
}

}  // namespace
}  // namespace dydx
