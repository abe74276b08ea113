// Optimizer::state_dict()/load_state_dict(): saved part way and loaded into a fresh optimizer
// over like parameters, every optimizer continues the same trajectory bit for bit; a state of the
// wrong optimizer, parameter count, shape, dtype, names or options raises and changes nothing.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace optim = dydx::optim;
using dydx::Tensor;
using dydx::testing::ThrowsWith;

namespace {

using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

std::vector<std::pair<std::string, Factory>> factories() {
  return {
      {"SGD", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(1e-3).momentum(0.9).nesterov(true)); }},
      {"SGD plain", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(1e-3)); }},
      {"Adam", [](auto p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions(1e-2).amsgrad(true).weight_decay(0.1)); }},
      {"AdamW", [](auto p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions(1e-2)); }},
      {"RMSprop", [](auto p) {
         return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions(1e-2).momentum(0.5).centered(true));
       }},
  };
}

std::vector<Tensor> make_params(dydx::ScalarType dtype) {
  return {dydx::tensor({{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, dydx::dtype(dtype)).requires_grad_(true),
          dydx::tensor({0.3, -0.2}, dydx::dtype(dtype)).requires_grad_(true),
          dydx::tensor({7.0}, dydx::dtype(dtype)).requires_grad_(true)};  // never has a gradient
}

void step(optim::Optimizer& opt, std::vector<Tensor>& p) {
  opt.zero_grad();
  ((p[0] * p[0] * p[0]).sum() + (p[1] * p[0].slice(1, 0, 2).sum(0)).sum()).backward();
  opt.step();
}

std::vector<Tensor> copy_params(const std::vector<Tensor>& p) {
  std::vector<Tensor> out;
  for (const Tensor& t : p) out.push_back(t.detach().clone().requires_grad_(true));
  return out;
}

}  // namespace

TEST(OptimizerState, SavedAndLoadedContinuesBitForBit) {
  for (dydx::ScalarType dtype : {dydx::kFloat32, dydx::kFloat64}) {
    for (const auto& [name, make] : factories()) {
      std::vector<Tensor> a = make_params(dtype);
      auto opt_a = make(a);
      for (int i = 0; i < 3; ++i) step(*opt_a, a);
      const optim::OptimizerStateDict saved = opt_a->state_dict();
      EXPECT_TRUE(saved.state[2].empty()) << name;  // no gradient, no state
      std::vector<Tensor> b = copy_params(a);
      auto opt_b = make(b);
      opt_b->defaults().set_lr(123);  // replaced by the loaded options
      opt_b->load_state_dict(saved);
      EXPECT_EQ(opt_b->defaults().get_lr(), opt_a->defaults().get_lr());
      for (int i = 0; i < 4; ++i) {
        step(*opt_a, a);
        step(*opt_b, b);
        for (size_t k = 0; k < a.size(); ++k)
          EXPECT_EQ(a[k].to_vector<double>(), b[k].to_vector<double>()) << name << " step " << i << " param " << k;
      }
      // The saved state is a copy: later steps did not change it.
      const optim::OptimizerStateDict again = make(copy_params(a))->state_dict();
      EXPECT_EQ(again.state.size(), 3u);
    }
  }
}

TEST(OptimizerState, WrongStatesRaiseAndChangeNothing) {
  std::vector<Tensor> p = make_params(dydx::kFloat64);
  optim::Adam adam(p, optim::AdamOptions(1e-2));
  step(adam, p);
  const optim::OptimizerStateDict good = adam.state_dict();
  auto unchanged = [&] {
    const optim::OptimizerStateDict now = adam.state_dict();
    EXPECT_EQ(now.options, good.options);
    ASSERT_EQ(now.state.size(), good.state.size());
    EXPECT_EQ(now.state[0].at("exp_avg").to_vector<double>(), good.state[0].at("exp_avg").to_vector<double>());
    EXPECT_EQ(now.state[0].at("step").item<int64_t>(), 1);
  };
  optim::OptimizerStateDict s = good;
  s.optimizer = "SGD";
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"Adam::load_state_dict", "SGD optimizer, not Adam"}));
  s = good;
  s.state.pop_back();
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"2 parameters, the optimizer 3"}));
  s = good;
  s.state[1]["exp_avg"] = dydx::zeros({3}, dydx::dtype(dydx::kFloat64));
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"parameter 1", "exp_avg", "[3]", "[2]"}));
  s = good;
  s.state[0]["exp_avg_sq"] = dydx::zeros({2, 3}, dydx::dtype(dydx::kFloat32));
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"exp_avg_sq", "float32", "float64"}));
  s = good;
  s.state[0].erase("exp_avg");
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"parameter 0", "no \"exp_avg\""}));
  s = good;
  s.state[0]["momentum_buffer"] = dydx::zeros({2, 3}, dydx::dtype(dydx::kFloat64));
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"unknown \"momentum_buffer\""}));
  s = good;
  s.state[0]["step"] = dydx::tensor(-1.0, dydx::dtype(dydx::kFloat64));
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"\"step\" is -1"}));
  s = good;
  s.options["beta1"] = 1.5;
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"Invalid beta parameter at index 0: 1.5"}));
  s = good;
  s.options.erase("eps");
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"no option \"eps\""}));
  s = good;
  s.options["momentum"] = 0.9;
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"unknown option \"momentum\""}));
  s = good;
  s.options["amsgrad"] = 1;  // amsgrad needs max_exp_avg_sq, which the state lacks
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"no \"max_exp_avg_sq\""}));
  s = good;
  s.options["amsgrad"] = 0.5;
  EXPECT_TRUE(ThrowsWith([&] { adam.load_state_dict(s); }, {"\"amsgrad\" is 0.5, not 0 or 1"}));
  unchanged();

  optim::SGD sgd(p, optim::SGDOptions(0.1).momentum(0.9));
  step(sgd, p);
  optim::OptimizerStateDict t = sgd.state_dict();
  t.options["nesterov"] = 1;
  t.options["dampening"] = 0.5;
  EXPECT_TRUE(ThrowsWith([&] { sgd.load_state_dict(t); }, {"Nesterov momentum requires"}));
  EXPECT_EQ(sgd.options().dampening(), 0);
}
