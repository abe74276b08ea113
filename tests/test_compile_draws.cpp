// Random draws inside a compiled f: each draw is a step that draws again at every replay, from the
// same generator, read or not, in f's order; so a compiled f gives, call after call, the numbers f
// itself would give, and leaves the generator where f would leave it.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "compile_testing.hpp"

namespace dydx::testing {
namespace {

using func::compile;

/// Calls `calls` times f and then, from the same generator state, `calls` times its compiled form:
/// every output equal bit for bit, and the default generator left at the same offset. Returns the
/// compiled function's stats.
func::CompileStats expect_same_draws(const std::function<TensorList(const TensorList&)>& f,
                                      const std::function<TensorList()>& inputs, int calls, const std::string& what) {
  std::vector<TensorList> in(static_cast<size_t>(calls)), want(static_cast<size_t>(calls));
  for (auto& i : in) i = inputs();
  manual_seed(21);
  for (int k = 0; k < calls; ++k) want[k] = f(in[k]);
  const uint64_t offset = default_generator().get_offset();
  manual_seed(21);
  auto compiled = compile(f);
  for (int k = 0; k < calls; ++k) {
    const TensorList got = compiled(in[k]);
    EXPECT_EQ(got.size(), want[k].size()) << what;
    for (size_t j = 0; j < got.size() && j < want[k].size(); ++j)
      expect_same(got[j], want[k][j], true, what + ", call " + std::to_string(k) + ", output " + std::to_string(j));
  }
  EXPECT_EQ(default_generator().get_offset(), offset) << what << ": the generator moved otherwise";
  return compiled.stats();
}

TEST(CompileDraws, EveryRandomOpDrawsAgainAtEachReplay) {
  NoGradGuard no_grad;
  auto x = [] { return TensorList{randn({5, 3}, kFloat64)}; };
  const std::vector<std::pair<std::string, std::function<TensorList(const TensorList&)>>> fs = {
      {"rand", [](const TensorList& in) { return TensorList{in[0] * rand({5, 3}, kFloat64)}; }},
      {"randn float", [](const TensorList& in) { return TensorList{in[0].to(kFloat32) + randn({5, 3})}; }},
      {"randn odd", [](const TensorList& in) { return TensorList{in[0].sum() + randn({7})}; }},
      {"randint", [](const TensorList& in) { return TensorList{in[0] + randint(-3, 4, {5, 3}).to(kFloat64)}; }},
      {"randint extremes", [](const TensorList&) { return TensorList{randint(INT64_MIN, INT64_MAX, {4})}; }},
      {"randperm", [](const TensorList& in) { return TensorList{in[0].index_select(0, randperm(5))}; }},
      {"bernoulli of probabilities", [](const TensorList& in) { return TensorList{bernoulli(in[0].sigmoid())}; }},
      {"bernoulli of p", [](const TensorList& in) { return TensorList{bernoulli(in[0], 0.3) * in[0]}; }},
      {"dropout", [](const TensorList& in) { return TensorList{dropout(in[0], 0.4, true).exp()}; }},
      {"dropout2d", [](const TensorList& in) {
         namespace F = nn::functional;
         return TensorList{F::dropout2d(in[0].reshape({5, 3, 1, 1}).expand({5, 3, 2, 2}),
                                        F::Dropout2dFuncOptions().p(0.5).training(true))};
       }},
      {"in place, into a tensor f made", [](const TensorList& in) {
         Tensor noise = empty({5, 3}, kFloat64);
         noise.bernoulli_(0.5);
         return TensorList{in[0] * noise};
       }},
      {"a draw no output reads", [](const TensorList& in) {
         (void)rand({1000});  // moves the generator: the next draw's numbers depend on it
         return TensorList{in[0] + randn({5, 3}, kFloat64)};
       }},
      {"draws in order, with fused ops between",
       [](const TensorList& in) {
         const Tensor a = (in[0] * 2.0).tanh() + rand({5, 3}, kFloat64);
         const Tensor b = a.exp() * randn({3}, kFloat64);
         return TensorList{b, rand({2}, kFloat64)};
       }},
  };
  for (const auto& [name, f] : fs) {
    const func::CompileStats s = expect_same_draws(f, x, 4, name);
    EXPECT_EQ(s.recordings, 1) << name;
    EXPECT_EQ(s.replays, 3) << name << ": " << s.eager_reason;
  }
}

// A generator of one's own, held by the replay (copies share its stream): its moves between calls,
// reseeding and set_offset, are seen; the default generator is left alone.
TEST(CompileDraws, AGeneratorOfItsOwnIsTheOneDrawnFrom) {
  NoGradGuard no_grad;
  Generator generator(5);
  auto f = [&generator](const TensorList& in) { return TensorList{in[0] + randn({4}, generator, kFloat64)}; };
  auto compiled = compile(f);
  const Tensor x = zeros({4}, kFloat64);
  const uint64_t default_offset = default_generator().get_offset();
  compiled(TensorList{x});
  for (uint64_t offset : {uint64_t{0}, uint64_t{2}, uint64_t{1000}}) {
    generator.set_offset(offset);
    const Tensor got = compiled(TensorList{x})[0];
    generator.set_offset(offset);
    expect_same(got, f({x})[0], true, "offset " + std::to_string(offset));
  }
  generator.manual_seed(9);
  const Tensor got = compiled(TensorList{x})[0];
  generator.manual_seed(9);
  expect_same(got, f({x})[0], true, "reseeded");
  EXPECT_EQ(default_generator().get_offset(), default_offset);
  EXPECT_EQ(compiled.stats().replays, 4);
}

// A training step with dropout: its gradients in the parameters, the mask drawn at each call; the
// same as f call after call.
TEST(CompileDraws, ATrainingStepWithDropoutReplays) {
  for (ScalarType dt : {kFloat32, kFloat64}) {
    manual_seed(2);
    nn::Sequential net(nn::Linear(4, 32), nn::Tanh(), nn::Dropout(0.3), nn::Linear(32, 3));
    net->to(dt);
    net->train();
    auto step = [&net](const TensorList& in) {
      const Tensor loss = nn::functional::cross_entropy(net->forward(in[0]), in[1]);
      TensorList out = dydx::grad({loss}, net->parameters());
      out.push_back(loss.detach());
      return out;
    };
    auto inputs = [dt] { return TensorList{randn({16, 4}, dt), randint(0, 3, {16})}; };
    const func::CompileStats s = expect_same_draws(step, inputs, 4, dtype_name(dt));
    EXPECT_EQ(s.replays, 3) << s.eager_reason;
  }
}

// What a replay could not draw again runs f: a draw made requiring grad (a new leaf at every call),
// and draws under vmap (their shapes and randomness are the batch's). f's numbers either way.
TEST(CompileDraws, WhatAReplayCouldNotDrawRunsF) {
  NoGradGuard no_grad;
  auto x = [] { return TensorList{randn({3, 2}, kFloat64)}; };
  const std::vector<std::pair<std::string, std::function<TensorList(const TensorList&)>>> fs = {
      {"requires grad", [](const TensorList& in) {
         return TensorList{(in[0] * rand({3, 2}, TensorOptions().dtype(kFloat64).requires_grad(true))).detach()};
       }},
      {"under vmap", [](const TensorList& in) {
         return TensorList{func::vmap([](const Tensor& r) { return r + randn({2}, kFloat64); }, 0, 0,
                                      {.randomness = func::Randomness::different})(in[0])};
       }},
  };
  for (const auto& [name, f] : fs) {
    const func::CompileStats s = expect_same_draws(f, x, 3, name);
    EXPECT_EQ(s.replays, 0) << name;
    EXPECT_FALSE(s.eager_reason.empty()) << name;
  }
}

// A replay that raises (a check fails at this call) where f catches the error: f runs in its place,
// from the generator's state before the replay, so its draws are the ones f would make.
TEST(CompileDraws, AReplayThatRaisesHandsTheCallToFWithTheGeneratorPutBack) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) {
    const Tensor noise = rand({3});
    try {
      return TensorList{noise, nn::functional::cross_entropy(in[0], in[1])};
    } catch (const Error&) {
      return TensorList{noise, full({}, -1.0)};
    }
  };
  const Tensor logits = randn({4, 3});
  const Tensor good = tensor(std::vector<int64_t>{0, 1, 2, 2}), bad = tensor(std::vector<int64_t>{0, 1, 5, 2});
  const func::CompileStats s = expect_same_draws(
      f, [&, k = 0]() mutable { return TensorList{logits, ++k == 3 ? bad : good}; }, 4, "a check fails at call 3");
  EXPECT_EQ(s.replays, 3) << s.eager_reason;
  EXPECT_EQ(s.eager_calls, 1);
}

// A generator f makes at each call is a new stream each time (seeded alike): a replay could only go
// on drawing from the recording's, so f runs itself; so do the seeded estimators, which make one.
TEST(CompileDraws, AGeneratorFMakesRunsF) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) {
    Generator mine(42);
    return TensorList{in[0] + rand({4, 3}, mine, kFloat64), dropout(in[0], 0.5, true, mine)};
  };
  auto compiled = compile(f);
  for (int k = 0; k < 3; ++k) expect_call_same(compiled, f, {randn({4, 3}, kFloat64)}, "call " + std::to_string(k));
  EXPECT_EQ(compiled.stats().replays, 0);
  EXPECT_NE(compiled.stats().eager_reason.find("generator it made"), std::string::npos) << compiled.stats().eager_reason;
  const Tensor sigma = randn({3, 2}, kFloat64);
  auto estimate = [&sigma](const TensorList& in) {
    auto g = [](const Tensor& x) { return (x.sin() * x.pow(2)).sum({1}, true); };
    return TensorList{func::weighted_laplacian(g, in[0], sigma, {}, {.samples = 3, .seed = 5})};
  };
  auto compiled_estimate = compile(estimate);
  const Tensor x = randn({2, 3}, kFloat64);
  for (int k = 0; k < 3; ++k) expect_call_same(compiled_estimate, estimate, {x}, "estimate " + std::to_string(k));
  EXPECT_EQ(compiled_estimate.stats().replays, 0);
}

// A draw that raises at a replay (a probability out of [0, 1] in a later call's input) raises as f
// does, and the next call replays again.
TEST(CompileDraws, ADrawThatRaisesAtAReplayRaises) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) { return TensorList{bernoulli(in[0])}; };
  auto compiled = compile(f);
  compiled(TensorList{full({3}, 0.5, kFloat64)});
  compiled(TensorList{full({3}, 0.25, kFloat64)});
  EXPECT_THROW(compiled(TensorList{tensor({0.5, 1.5, 0.5}, kFloat64)}), Error);
  manual_seed(4);
  const Tensor got = compiled(TensorList{full({3}, 0.75, kFloat64)})[0];
  manual_seed(4);
  expect_same(got, f({full({3}, 0.75, kFloat64)})[0], true, "after the error");
  EXPECT_EQ(compiled.stats().recordings, 1);
}

}  // namespace
}  // namespace dydx::testing
