// dydx::optim's learning-rate schedulers against PyTorch 1.13's, rate for rate, to the last bit
// (scheduler_goldens.txt, from make_scheduler_goldens.py), including rates set by hand between
// steps; and their errors.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "test_util.hpp"

namespace optim = dydx::optim;
using dydx::Tensor;
using dydx::testing::ThrowsWith;

namespace {

bool same_bits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

/// A scheduler of either family, stepped the same way.
struct AnyScheduler {
  std::unique_ptr<optim::LRScheduler> epochs;
  std::unique_ptr<optim::ReduceLROnPlateau> plateau;
};

AnyScheduler make_scheduler(const std::string& kind, optim::Optimizer& opt,
                            const std::map<std::string, std::string>& o) {
  auto num = [&](const char* key, double fallback) { return o.count(key) ? std::stod(o.at(key)) : fallback; };
  AnyScheduler s;
  if (kind == "StepLR") {
    s.epochs = std::make_unique<optim::StepLR>(opt, static_cast<int64_t>(num("step_size", 1)), num("gamma", 0.1));
  } else if (kind == "ExponentialLR") {
    s.epochs = std::make_unique<optim::ExponentialLR>(opt, num("gamma", 1));
  } else if (kind == "CosineAnnealingLR") {
    s.epochs = std::make_unique<optim::CosineAnnealingLR>(opt, static_cast<int64_t>(num("T_max", 1)), num("eta_min", 0));
  } else {
    optim::ReduceLROnPlateauOptions p;
    p.mode(o.count("mode") && o.at("mode") == "max" ? optim::SchedulerMode::max : optim::SchedulerMode::min);
    p.threshold_mode(o.count("threshold_mode") && o.at("threshold_mode") == "abs" ? optim::ThresholdMode::abs
                                                                                 : optim::ThresholdMode::rel);
    p.factor(num("factor", 0.1)).patience(static_cast<int64_t>(num("patience", 10))).threshold(num("threshold", 1e-4));
    p.cooldown(static_cast<int64_t>(num("cooldown", 0))).min_lr(num("min_lr", 0)).eps(num("eps", 1e-8));
    s.plateau = std::make_unique<optim::ReduceLROnPlateau>(opt, p);
  }
  return s;
}

}  // namespace

TEST(SchedulerGoldens, RatesMatchPyTorch) {
  const std::string path = DYDX_TEST_DATA_DIR "/scheduler_goldens.txt";
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot open " << path;
  Tensor w = dydx::zeros({1}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  std::unique_ptr<optim::SGD> opt;
  AnyScheduler sched;
  std::string line, name;
  int cases = 0, steps = 0;
  while (std::getline(file, line)) {
    std::stringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "case") {
      std::string kind;
      in >> name >> kind;
      std::map<std::string, std::string> o;
      for (std::string kv; in >> kv;) o[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
      opt = std::make_unique<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions(std::stod(o.at("lr"))));
      sched = make_scheduler(kind, *opt, o);
      steps = 0;
    } else if (tag == "set") {
      std::string lr;
      in >> lr;
      opt->options().lr(std::stod(lr));
    } else if (tag == "step") {
      ++steps;
      std::string a, b;
      in >> a >> b;
      double expected;
      if (sched.plateau) {
        sched.plateau->step(std::strtod(a.c_str(), nullptr));  // strtod reads "nan"
        expected = std::stod(b);
        EXPECT_TRUE(same_bits(sched.plateau->get_last_lr().at(0), expected)) << name;
      } else {
        sched.epochs->step();
        expected = std::stod(a);
        EXPECT_TRUE(same_bits(sched.epochs->get_last_lr().at(0), expected)) << name;
        EXPECT_EQ(sched.epochs->last_epoch(), steps);
      }
      EXPECT_TRUE(same_bits(opt->options().lr(), expected))
          << name << " step " << steps << ": " << opt->options().lr() << " != " << expected << " (PyTorch)";
    } else if (tag == "end") {
      ++cases;
      sched = {};
    }
  }
  EXPECT_EQ(cases, 16);
}

// T_max past 2^62: the period 2 T_max overflowed int64 (UBSan stops the sanitizer build; Python's
// integers don't). PyTorch 1.13, lr 0.1, T_max 2^62 + 1 and 2^63 - 1: 0.1 exactly for three steps.
TEST(Schedulers, CosineAnnealingWithAHugeTMaxMatchesPyTorch) {
  for (const int64_t t_max : {(int64_t{1} << 62) + 1, std::numeric_limits<int64_t>::max()}) {
    Tensor w = dydx::ones({1}).requires_grad_();
    optim::SGD opt({w}, optim::SGDOptions(0.1));
    optim::CosineAnnealingLR sched(opt, t_max);
    for (int i = 0; i < 3; ++i) {
      sched.step();
      EXPECT_EQ(sched.get_last_lr(), std::vector<double>{0.1}) << t_max << " step " << i;
    }
  }
}

// The rate the scheduler sets is the one the optimizer's next step uses.
TEST(Schedulers, TheOptimizerStepsWithTheScheduledRate) {
  Tensor w = dydx::tensor({1.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  optim::SGD opt({w}, optim::SGDOptions(0.5));
  optim::StepLR sched(opt, 1, 0.5);
  EXPECT_EQ(sched.get_last_lr(), std::vector<double>{0.5});
  EXPECT_EQ(sched.base_lrs(), std::vector<double>{0.5});
  EXPECT_EQ(sched.last_epoch(), 0);
  for (double lr : {0.5, 0.25, 0.125}) {
    w.set_grad(dydx::ones({1}, dydx::dtype(dydx::kFloat64)));
    const double before = w.item<double>();
    opt.step();
    EXPECT_EQ(before - w.item<double>(), lr);
    sched.step();
  }
  // Through the Optimizer base, as any optimizer's defaults().
  optim::Adam adam({w}, optim::AdamOptions(0.1));
  optim::ExponentialLR exp(adam, 0.5);
  exp.step();
  EXPECT_EQ(adam.options().lr(), 0.05);
  EXPECT_EQ(adam.defaults().get_lr(), 0.05);
}

TEST(Schedulers, BadArgumentsRaise) {
  Tensor w = dydx::tensor({1.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  optim::SGD opt({w}, optim::SGDOptions(0.5));
  EXPECT_TRUE(ThrowsWith([&] { optim::StepLR(opt, 0); }, {"StepLR", "step_size", "0"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::CosineAnnealingLR(opt, 0); }, {"CosineAnnealingLR", "T_max", "0"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::ReduceLROnPlateau(opt, optim::ReduceLROnPlateauOptions().factor(1.0)); },
                         {"ReduceLROnPlateau", "Factor should be < 1.0."}));
  EXPECT_TRUE(ThrowsWith([&] { optim::ReduceLROnPlateau(opt, optim::ReduceLROnPlateauOptions().patience(-1)); },
                         {"patience", "-1"}));
  EXPECT_EQ(opt.options().lr(), 0.5);
}
