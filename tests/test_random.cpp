// Random numbers: the Generator's determinism (the same seed gives the same numbers, whatever the
// thread count, and two threads drawing from one generator never race or repeat), the statistics
// of rand, randn, randint (chi-square uniformity, no modulo bias), randperm and bernoulli, and
// dropout's values, errors and gradients. dydx's streams are not PyTorch's (generator.hpp says why),
// so these tests check distributions, not PyTorch's numbers.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace F = dydx::nn::functional;

namespace dydx::testing {
namespace {

bool same_tensor(const Tensor& a, const Tensor& b) { return a.impl() == b.impl(); }
/// 1 where t is nonzero, in t's dtype.
Tensor nonzero_mask(const Tensor& t) { return gt(abs(t), zeros({}, t.dtype())); }

double mean_of(const Tensor& t) { return t.to(kFloat64).mean().item<double>(); }
double var_of(const Tensor& t) {
  Tensor d = t.to(kFloat64) - mean_of(t);
  return (d * d).mean().item<double>();
}

TEST(Generator, SameSeedSameNumbersOnEveryThreadCount) {
  Tensor reference;
  for (int threads : {1, 2, 3, 8}) {
    ThreadCount scope(threads);
    Generator g(42);
    Tensor draws = cat({rand({100001}, g, dtype(kFloat64)), randn({100001}, g, dtype(kFloat64)),
                        randint(-5, 1000, {100001}, g).to(kFloat64),
                        bernoulli(full({100001}, 0.3, kFloat64), g)});
    if (!reference.defined()) reference = draws;
    EXPECT_TRUE(equal(draws, reference)) << threads << " threads";
  }
  // Another generator with another seed gives other numbers; reseeding restarts the stream.
  Generator g(43);
  EXPECT_FALSE(equal(rand({1000}, g, dtype(kFloat64)), reference.narrow(0, 0, 1000)));
  g.manual_seed(42);
  EXPECT_TRUE(equal(rand({1000}, g, dtype(kFloat64)), reference.narrow(0, 0, 1000)));
  EXPECT_EQ(g.current_seed(), 42u);
}

TEST(Generator, DefaultGeneratorFollowsManualSeed) {
  manual_seed(7);
  Tensor a = randn({50});
  Tensor b = randint(10, {50});
  manual_seed(7);
  EXPECT_TRUE(equal(randn({50}), a));
  EXPECT_TRUE(equal(randint(10, {50}), b));
  // A generator's draws do not advance the default one.
  manual_seed(7);
  Generator other(7);
  (void)rand({1000}, other);
  EXPECT_TRUE(equal(randn({50}), a));
}

TEST(Generator, CopiesShareAStream) {
  Generator a(3);
  Generator b = a;
  Tensor first = rand({10}, a);
  Tensor second = rand({10}, b);
  EXPECT_FALSE(equal(first, second));
  Generator fresh(3);
  EXPECT_TRUE(equal(rand({20}, fresh), cat({first, second})));
}

// Two threads drawing from one generator get disjoint blocks of the stream: together they hold
// exactly the numbers one thread would have drawn in some order of the calls, never a repeat.
TEST(Generator, TwoThreadsOnOneGeneratorDoNotRace) {
  Generator shared(11);
  const int calls = 200;
  std::vector<Tensor> drawn[2];
  std::thread workers[2];
  for (int w = 0; w < 2; ++w)
    workers[w] = std::thread([&, w] {
      for (int i = 0; i < calls; ++i) drawn[w].push_back(rand({64}, shared, dtype(kFloat64)));
    });
  for (auto& t : workers) t.join();
  std::vector<double> all;
  for (auto& list : drawn)
    for (auto& t : list)
      for (double v : t.to_vector<double>()) all.push_back(v);
  std::vector<double> serial = rand({2 * calls * 64}, Generator(11), dtype(kFloat64)).to_vector<double>();
  std::sort(all.begin(), all.end());
  std::sort(serial.begin(), serial.end());
  EXPECT_EQ(all, serial);
}

TEST(Random, RandAndRandnStatistics) {
  Generator g(1);
  for (ScalarType t : {kFloat32, kFloat64}) {
    Tensor u = rand({200000}, g, dtype(t));
    EXPECT_EQ(u.dtype(), t);
    EXPECT_NEAR(mean_of(u), 0.5, 0.005);
    EXPECT_NEAR(var_of(u), 1.0 / 12, 0.002);
    EXPECT_GE(u.min().item<double>(), 0.0);
    EXPECT_LT(u.max().item<double>(), 1.0);
    Tensor n = randn({200000}, g, dtype(t));
    EXPECT_NEAR(mean_of(n), 0.0, 0.01);
    EXPECT_NEAR(var_of(n), 1.0, 0.015);
    // Tails: P(|z| > 3) = 0.0027.
    EXPECT_NEAR(mean_of(gt(abs(n), full({}, 3.0, t))), 0.0027, 0.0006);
    for (double v : n.to_vector<double>()) ASSERT_TRUE(std::isfinite(v));
  }
  EXPECT_EQ(randn({3, 0, 2}).sizes(), IntArrayRef({3, 0, 2}));
  EXPECT_EQ(rand({}).dim(), 0);
  EXPECT_TRUE(rand({2}, dtype(kFloat64).requires_grad(true)).requires_grad());
  EXPECT_DYDX_ERROR(rand({2}, dtype(kInt64)), "rand: expected a floating point dtype");
  EXPECT_DYDX_ERROR(randn({-1}), "randn");
}

// Pearson's chi-square over k equally likely bins: with k - 1 = 9 degrees of freedom it exceeds
// 27.9 with probability 0.001.
double chi_square(const std::vector<int64_t>& counts, double expected) {
  double chi = 0;
  for (int64_t c : counts) chi += (c - expected) * (c - expected) / expected;
  return chi;
}

TEST(Random, RandintIsUniformWithoutModuloBias) {
  Generator g(2);
  Tensor r = randint(-3, 7, {100000}, g);
  EXPECT_EQ(r.dtype(), kInt64);
  std::vector<int64_t> counts(10, 0);
  for (int64_t v : r.to_vector<int64_t>()) {
    ASSERT_GE(v, -3);
    ASSERT_LT(v, 7);
    ++counts[v + 3];
  }
  EXPECT_LT(chi_square(counts, 10000), 27.9);
  // A range of 3 * 2^61: modulo reduction of 64 random bits would make the lowest third of the range
  // twice as likely as the others (1/2 of draws instead of 1/3).
  const int64_t third = int64_t(1) << 61;
  Tensor big = randint(0, 3 * third, {30000}, g);
  int64_t low = 0;
  for (int64_t v : big.to_vector<int64_t>()) low += v < third;
  EXPECT_NEAR(low / 30000.0, 1.0 / 3, 0.015);
  // The whole int64 range, and high only.
  Tensor extreme = randint(INT64_MIN, INT64_MAX, {1000}, g);
  EXPECT_GT(mean_of(gt(extreme, zeros({}, kInt64))), 0.4);
  EXPECT_TRUE(HasValues(randint(1, {5}, g), {0, 0, 0, 0, 0}));
  EXPECT_EQ(randint(5, {2, 3}, g, dtype(kFloat32)).dtype(), kFloat32);
  EXPECT_DYDX_ERROR(randint(5, 5, {3}), "random_ expects 'from' to be less than 'to', but got from=5 >= to=5");
  EXPECT_DYDX_ERROR(randint(0, {3}), "from=0 >= to=0");
}

TEST(Random, RandpermIsAPermutationAndUniform) {
  Generator g(3);
  std::vector<int64_t> p = randperm(1000, g).to_vector<int64_t>();
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  // Where element 0 lands, over many permutations of 10: uniform.
  std::vector<int64_t> counts(10, 0);
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<int64_t> q = randperm(10, g).to_vector<int64_t>();
    ++counts[std::find(q.begin(), q.end(), 0) - q.begin()];
  }
  EXPECT_LT(chi_square(counts, 2000), 27.9);
  EXPECT_EQ(randperm(0).numel(), 0);
  EXPECT_EQ(randperm(4, dtype(kFloat64)).dtype(), kFloat64);
  EXPECT_DYDX_ERROR(randperm(-1), "n must be non-negative");
}

// Past 2^24 + 1 (float32) or 2^53 + 1 (float64) neighbouring values round to one float, so the
// result would repeat values: it raises as PyTorch 1.13 does, before drawing anything.
TEST(Random, RandpermRaisesWhereTheDtypeCantHoldAPermutation) {
  Generator g(5), fresh(5);
  EXPECT_DYDX_ERROR(randperm((int64_t{1} << 24) + 2, g, dtype(kFloat32)), "randperm",
                    "n cannot be greater than 2^24+1 for Float type", "16777218");
  EXPECT_DYDX_ERROR(randperm((int64_t{1} << 53) + 2, g, dtype(kFloat64)), "randperm",
                    "n cannot be greater than 2^53+1 for Double type");
  EXPECT_DYDX_ERROR(randperm(INT64_MAX, g), "randperm", "too large");
  EXPECT_TRUE(equal(rand({4}, g), rand({4}, fresh)));  // the generator did not move
  std::vector<float> p = randperm(1000, g, dtype(kFloat32)).to_vector<float>();
  std::sort(p.begin(), p.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p[i], static_cast<float>(i));
}

TEST(Random, Bernoulli) {
  Generator g(4);
  Tensor p = tensor({0.0, 0.25, 1.0}, kFloat64).expand({100000, 3});
  Tensor b = bernoulli(p, g);
  EXPECT_EQ(b.dtype(), kFloat64);
  Tensor m = b.mean({0});
  EXPECT_TRUE(HasValues(m, {0.0, 0.25, 1.0}, 0.01));
  Tensor x = zeros({100000});
  x.bernoulli_(0.8, g);
  EXPECT_NEAR(mean_of(x), 0.8, 0.005);
  EXPECT_DYDX_ERROR(bernoulli(tensor({0.5, 1.5})), "bernoulli: expects every p to be in [0, 1], but got p=1.5");
  EXPECT_DYDX_ERROR(bernoulli(tensor({0.5, std::nan("")})), "bernoulli");
  EXPECT_DYDX_ERROR(x.bernoulli_(-0.1), "bernoulli_ expects p to be in [0, 1], but got p=-0.1");
  EXPECT_DYDX_ERROR(zeros({2}).requires_grad_(true).bernoulli_(0.5), "leaf");
}

TEST(Dropout, KeptFractionScaleAndModes) {
  Generator g(5);
  Tensor x = ones({200000}, kFloat64);
  Tensor y = F::dropout(x, F::DropoutFuncOptions().p(0.3), g);
  const double kept = mean_of(nonzero_mask(y));
  EXPECT_NEAR(kept, 0.7, 0.005);
  // Every kept element is scaled by exactly 1 / (1 - p); the mean stays 1.
  Tensor scaled = y.masked_select(nonzero_mask(y));
  EXPECT_TRUE(equal(scaled, full_like(scaled, 1 / (1 - 0.3))));
  EXPECT_NEAR(mean_of(y), 1.0, 0.01);
  // Not training, and p = 0: the input itself.
  EXPECT_TRUE(same_tensor(F::dropout(x, F::DropoutFuncOptions().training(false)), x));
  EXPECT_TRUE(same_tensor(dropout(x, 0.0, true), x));
  EXPECT_TRUE(same_tensor(dropout(x, 0.9, false), x));
  // p = 1: zeros, no nan from 0 / 0.
  Tensor all = dropout(x, 1.0, true);
  EXPECT_EQ(all.abs().sum().item<double>(), 0.0);
  // Reproducible with a generator, independent of the thread count.
  Tensor reference = dropout(x, 0.5, true, Generator(9));
  for (int threads : {1, 4}) {
    ThreadCount scope(threads);
    EXPECT_TRUE(equal(dropout(x, 0.5, true, Generator(9)), reference));
  }
  // In place scales the input itself.
  Tensor z = ones({1000});
  Tensor& same = z;
  Tensor r = F::dropout(z, F::DropoutFuncOptions().p(0.5).inplace(true), Generator(1));
  EXPECT_TRUE(same_tensor(r, same));
  EXPECT_NEAR(mean_of(nonzero_mask(z)), 0.5, 0.06);
  EXPECT_DYDX_ERROR(dropout(x, 1.5, true), "dropout probability has to be between 0 and 1, but got 1.5");
  EXPECT_DYDX_ERROR(dropout(x, -0.1, false), "dropout probability has to be between 0 and 1, but got -0.1");
  EXPECT_DYDX_ERROR(dropout(zeros({2}, kInt64), 0.5, true), "dropout: expected a floating point input");
}

TEST(Dropout, GradientIsTheMaskInBothModesAndSecondOrder) {
  Tensor x = randn({4, 5}, Generator(2), dtype(kFloat64)).requires_grad_(true);
  Tensor y = F::dropout(x, F::DropoutFuncOptions().p(0.4), Generator(3));
  EXPECT_EQ(std::string(y.grad_fn()->name()), "MulBackward0");
  Tensor mask = dropout(ones({4, 5}, kFloat64), 0.4, true, Generator(3));  // the same noise
  EXPECT_TRUE(allclose(y, x.detach() * mask));
  Tensor w = randn({4, 5}, Generator(4), dtype(kFloat64));
  Tensor g = grad({(y * w).sum()}, {x}, {}, true, true)[0];
  EXPECT_TRUE(allclose(g, w * mask));
  // Second order: d/dx sum(g * x) = w * mask.
  Tensor gg = grad({(g * x).sum()}, {x})[0];
  EXPECT_TRUE(allclose(gg, w * mask));
  // Forward mode: the tangent is dropped with the same mask.
  Tensor t = randn({4, 5}, Generator(6), dtype(kFloat64));
  auto [out, tangent] = func::jvp([](const Tensor& a) { return dropout(a, 0.4, true, Generator(3)); }, x.detach(), t);
  EXPECT_TRUE(allclose(tangent, t * mask));
  EXPECT_TRUE(allclose(out, x.detach() * mask));
}

// bernoulli_ and in-place dropout into an expanded tensor raise naming themselves (not copy_ or
// mul_), before drawing: the generator does not move.
TEST(Dropout, InPlaceIntoAnExpandedTensorRaisesBeforeDrawing) {
  Generator g(7), fresh(7);
  Tensor expanded = ones({1}).expand({4});
  EXPECT_TRUE(ThrowsWith([&] { expanded.bernoulli_(0.5, g); }, {"bernoulli_:", "single memory location"}));
  EXPECT_TRUE(ThrowsWith([&] { F::dropout(expanded, F::DropoutFuncOptions().inplace(true), g); },
                         {"dropout:", "single memory location"}));
  EXPECT_TRUE(equal(rand({4}, g), rand({4}, fresh)));
  EXPECT_TRUE(HasValues(expanded, {1, 1, 1, 1}, 0));
}

TEST(Dropout, Dropout2dDropsWholeChannels) {
  Tensor x = ones({8, 50, 3, 4}, kFloat64).requires_grad_(true);
  Tensor y = F::dropout2d(x, F::Dropout2dFuncOptions().p(0.25), Generator(12));
  // Each [n, c] channel is all zeros or all 4/3.
  Tensor per_channel_max = std::get<0>(y.detach().reshape({400, 12}).max(1));
  Tensor per_channel_min = std::get<0>(y.detach().reshape({400, 12}).min(1));
  EXPECT_TRUE(equal(per_channel_max, per_channel_min));
  const double kept = mean_of(nonzero_mask(per_channel_max));
  EXPECT_NEAR(kept, 0.75, 0.07);
  EXPECT_TRUE(allclose(per_channel_max.masked_select(nonzero_mask(per_channel_max)), full({}, 4.0 / 3, kFloat64)));
  y.sum().backward();
  EXPECT_TRUE(equal(x.grad(), y.detach()));  // d/dx sum(x * noise) = noise, and x is all ones
  EXPECT_EQ(F::dropout2d(ones({2, 3, 5}), F::Dropout2dFuncOptions().p(1.0)).abs().sum().item<double>(), 0.0);
  EXPECT_DYDX_ERROR(F::dropout2d(ones({5})), "Feature dropout requires at least 2 dimensions");
  EXPECT_DYDX_ERROR(F::dropout2d(ones({2, 5}), F::Dropout2dFuncOptions().p(2.0)), "dropout probability");
}

}  // namespace
}  // namespace dydx::testing
