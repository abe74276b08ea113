// dydx::optim against PyTorch 1.13's torch.optim (foreach=False): whole trajectories from
// optim_goldens.txt (make_optim_goldens.py), bit for bit; the skipping of parameters without a
// gradient; zero_grad; the constructor's errors; parameters that stay the same leaves; a large parameter, whose
// step is split across threads, as its pieces.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "golden_text.hpp"
#include "test_util.hpp"

namespace optim = dydx::optim;
using dydx::Tensor;
using dydx::testing::ThrowsWith;

namespace {

/// The same bits, nan equal to nan.
bool same_bits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& kind, const std::vector<Tensor>& params,
                                                 const std::map<std::string, double>& o) {
  auto get = [&](const char* key, double fallback) { return o.count(key) ? o.at(key) : fallback; };
  if (kind == "SGD")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions(get("lr", 0))
                                                    .momentum(get("momentum", 0))
                                                    .dampening(get("dampening", 0))
                                                    .weight_decay(get("weight_decay", 0))
                                                    .nesterov(get("nesterov", 0) != 0));
  if (kind == "Adam")
    return std::make_unique<optim::Adam>(params, optim::AdamOptions(get("lr", 1e-3))
                                                     .betas({get("beta1", 0.9), get("beta2", 0.999)})
                                                     .eps(get("eps", 1e-8))
                                                     .weight_decay(get("weight_decay", 0))
                                                     .amsgrad(get("amsgrad", 0) != 0));
  if (kind == "RMSprop")
    return std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions(get("lr", 1e-2))
                                                        .alpha(get("alpha", 0.99))
                                                        .eps(get("eps", 1e-8))
                                                        .weight_decay(get("weight_decay", 0))
                                                        .momentum(get("momentum", 0))
                                                        .centered(get("centered", 0) != 0));
  return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(get("lr", 1e-3))
                                                    .betas({get("beta1", 0.9), get("beta2", 0.999)})
                                                    .eps(get("eps", 1e-8))
                                                    .weight_decay(get("weight_decay", 1e-2))
                                                    .amsgrad(get("amsgrad", 0) != 0));
}

}  // namespace

// Every case of optim_goldens.txt: the same initial values and gradients, and after each step the
// parameters PyTorch computed, to the last bit.
TEST(OptimGoldens, TrajectoriesMatchPyTorch) {
  const std::string path = std::string(DYDX_TEST_DATA_DIR) + "/optim_goldens.txt";
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot open " << path;
  int cases = 0, checked = 0;
  std::string line, name, kind;
  dydx::ScalarType dtype = dydx::kFloat64;
  std::map<std::string, double> options;
  std::vector<Tensor> params;
  std::unique_ptr<optim::Optimizer> opt;
  int step = 0;
  while (std::getline(file, line)) {
    std::stringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "case") {
      std::string dtype_name;
      in >> name >> kind >> dtype_name;
      dtype = dtype_name == "float32" ? dydx::kFloat32 : dydx::kFloat64;
      options.clear();
      for (std::string kv; in >> kv;) options[kv.substr(0, kv.find('='))] = std::stod(kv.substr(kv.find('=') + 1));
      params.clear();
      opt.reset();
      step = 0;
    } else if (tag == "param") {
      int i;
      std::string shape, values;
      in >> i >> shape >> values;
      params.push_back(dydx::testing::golden_tensor(shape, values, dtype));
      params.back().requires_grad_(true);
    } else if (tag == "grad") {
      if (!opt) opt = make_optimizer(kind, params, options);
      int i;
      std::string values;
      in >> i >> values;
      params[i].set_grad(values == "none" ? Tensor()
                                          : dydx::tensor(dydx::testing::golden_values(values), dydx::dtype(dtype))
                                                .reshape(params[i].sizes()));
      if (i + 1 == static_cast<int>(params.size())) {
        opt->step();
        ++step;
      }
    } else if (tag == "after") {
      int i;
      std::string values;
      in >> i >> values;
      const std::vector<double> expected = dydx::testing::golden_values(values), got = params[i].to_vector<double>();
      ASSERT_EQ(got.size(), expected.size());
      // PyTorch's float32 sqrt goes through MKL's vsSqrt, which rounds about 0.7% of its
      // results one ulp away from the correctly rounded root that dydx computes; Adam's steps
      // here happen to meet none, RMSprop's meet a few, whose trajectories then differ by ulps.
      const bool ulps = kind == "RMSprop" && dtype == dydx::kFloat32;
      for (size_t k = 0; k < got.size(); ++k) {
        if (ulps) {
          EXPECT_NEAR(got[k], expected[k], 1e-6 * std::abs(expected[k]) + 1e-7)
              << name << " float32 step " << step << " param " << i << " element " << k;
          ++checked;
          continue;
        }
        EXPECT_TRUE(same_bits(got[k], expected[k]))
            << name << " " << (dtype == dydx::kFloat32 ? "float32" : "float64") << " step " << step << " param "
            << i << " element " << k << ": " << got[k] << " != " << expected[k] << " (PyTorch)";
        ++checked;
      }
    } else if (tag == "end") {
      ++cases;
    }
  }
  EXPECT_EQ(cases, 44);
  EXPECT_GT(checked, 0);
}

// A parameter without a gradient takes no step and its state does not advance: Adam's first step
// on it (after others have taken steps) is a first step, with full bias correction.
TEST(Optim, ParametersWithoutGradAreSkipped) {
  Tensor a = dydx::tensor({1.0, 2.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  Tensor b = dydx::tensor({3.0, 4.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  Tensor fresh = dydx::tensor({3.0, 4.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  optim::Adam reference({fresh}, optim::AdamOptions(0.1));
  a.set_grad(dydx::ones({2}, dydx::dtype(dydx::kFloat64)));
  opt.step();
  opt.step();
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{3.0, 4.0}));
  b.set_grad(dydx::tensor({0.5, -0.25}, dydx::dtype(dydx::kFloat64)));
  fresh.set_grad(b.grad());
  opt.step();
  reference.step();
  EXPECT_EQ(b.to_vector<double>(), fresh.to_vector<double>());
}

// A tensor listed twice shares one state, as libtorch 1.13 keys its state by TensorImpl: each step
// updates it twice from that state (Adam's step count reaches 6 in 3 steps). The numbers are
// libtorch 1.13's (Python's agree for Adam, AdamW and RMSprop; Python's SGD gives each occurrence
// a fresh momentum buffer on the first step, libtorch's shares it at once).
TEST(Optim, ATensorListedTwiceSharesOneStateAsInLibtorch) {
  auto run = [](const std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>& make) {
    Tensor a = dydx::tensor({0.5, 1.5}, dydx::dtype(dydx::kFloat64).requires_grad(true));
    std::unique_ptr<optim::Optimizer> opt = make({a, a});
    for (int s = 0; s < 3; ++s) {
      opt->zero_grad();
      (a * a).sum().backward();
      opt->step();
    }
    return a.to_vector<double>();
  };
  using P = std::vector<Tensor>;
  EXPECT_EQ(run([](P p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.01)); }),
            (std::vector<double>{0.44015076476204967, 1.44004605116104}));
  EXPECT_EQ(run([](P p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions(0.01).amsgrad(true)); }),
            (std::vector<double>{0.43986665563635546, 1.4391619856919757}));
  EXPECT_EQ(run([](P p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.1).momentum(0.9)); }),
            (std::vector<double>{-0.49904100000000007, -1.497123}));
  EXPECT_EQ(run([](P p) {
              return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions(0.01).momentum(0.5).centered(true));
            }),
            (std::vector<double>{0.0014142255216789187, 0.89178766600728998}));
  // The state is at the first index; the second's entry is empty.
  Tensor b = dydx::tensor({0.5}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  optim::Adam opt({b, b});
  (b * b).sum().backward();
  opt.step();
  const optim::OptimizerStateDict state = opt.state_dict();
  EXPECT_EQ(state.state[0].at("step").item<int64_t>(), 2);
  EXPECT_TRUE(state.state[1].empty());
}

// zero_grad follows libtorch 1.13: a defined .grad is zeroed in place and detached (so the next
// step still moves a parameter with momentum), an undefined one stays undefined.
TEST(Optim, ZeroGradZeroesDefinedGradients) {
  Tensor a = dydx::tensor({1.0, 2.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  Tensor b = dydx::tensor({3.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  optim::SGD opt({a, b}, optim::SGDOptions(0.1).momentum(0.5));
  (a * a).sum().backward();
  const Tensor grad = a.grad();
  opt.step();
  opt.zero_grad();
  ASSERT_TRUE(a.grad().defined());
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(grad.to_vector<double>(), (std::vector<double>{0.0, 0.0}));  // in place
  EXPECT_FALSE(a.grad().requires_grad());
  EXPECT_FALSE(b.grad().defined());
  const std::vector<double> before = a.to_vector<double>();
  opt.step();  // a zero gradient, but the momentum buffer still moves a
  EXPECT_NE(a.to_vector<double>(), before);
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{3.0}));
}

// A gradient recorded with create_graph is detached by zero_grad, as libtorch's detach_().
TEST(Optim, ZeroGradDetachesAGraphGradient) {
  Tensor a = dydx::tensor({1.0, 2.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  optim::SGD opt({a}, optim::SGDOptions(0.1));
  (a * a * a).sum().backward({}, std::nullopt, /*create_graph=*/true);
  ASSERT_TRUE(a.grad().requires_grad());
  opt.zero_grad();
  EXPECT_FALSE(a.grad().requires_grad());
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.0, 0.0}));
}

// A step writes the parameter in place: the same leaf, the same storage, requires_grad kept,
// the version counter moved, and the step itself recorded nothing.
TEST(Optim, ParametersStayTheSameLeaves) {
  for (dydx::ScalarType dtype : {dydx::kFloat32, dydx::kFloat64}) {
    Tensor w = dydx::tensor({1.0, -2.0, 3.0}, dydx::dtype(dtype).requires_grad(true));
    Tensor t = dydx::tensor({{1.0, 2.0}, {3.0, 4.0}}, dydx::dtype(dtype)).t().detach().requires_grad_(true);
    const auto impl = w.impl();
    const int64_t version = w._version();
    std::vector<std::unique_ptr<optim::Optimizer>> optimizers;
    optimizers.push_back(std::make_unique<optim::SGD>(std::vector<Tensor>{w, t}, optim::SGDOptions(0.1).momentum(0.9)));
    optimizers.push_back(std::make_unique<optim::Adam>(std::vector<Tensor>{w, t}, optim::AdamOptions(0.1).amsgrad(true)));
    optimizers.push_back(std::make_unique<optim::AdamW>(std::vector<Tensor>{w, t}));
    for (auto& opt : optimizers) {
      opt->zero_grad();
      ((w * w).sum() + (t * t * t).sum()).backward();
      const Tensor loss = opt->step([&] { return (w * w).sum(); });
      EXPECT_TRUE(loss.defined());
      EXPECT_TRUE(loss.requires_grad());  // the closure runs with grad mode on
    }
    EXPECT_EQ(w.impl(), impl);
    EXPECT_TRUE(w.is_leaf());
    EXPECT_TRUE(w.requires_grad());
    EXPECT_TRUE(t.is_leaf());
    EXPECT_EQ(t.strides(), (std::vector<int64_t>{1, 2}));  // written through its own strides
    EXPECT_GT(w._version(), version);
    EXPECT_EQ(optimizers[0]->parameters().size(), 2u);
    EXPECT_EQ(optimizers[0]->parameters()[0].impl(), impl);
  }
}

// A strided parameter takes the same step as a contiguous one with the same values.
TEST(Optim, StridedParameterMatchesContiguous) {
  Tensor t = dydx::tensor({{1.0, 2.0}, {3.0, 4.0}}, dydx::dtype(dydx::kFloat64)).t().detach().requires_grad_(true);
  Tensor c = t.detach().contiguous().requires_grad_(true);
  optim::Adam a({t}, optim::AdamOptions(0.1)), b({c}, optim::AdamOptions(0.1));
  for (int i = 0; i < 3; ++i) {
    a.zero_grad();
    b.zero_grad();
    (t * t * t).sum().backward();
    (c * c * c).sum().backward();
    a.step();
    b.step();
  }
  EXPECT_EQ(t.to_vector<double>(), c.to_vector<double>());
}

// A parameter large enough that Adam's step is split across threads (over twice the elementwise grain) ends with
// the same bits as the same values stepped in pieces small enough to run on one thread each: every element is
// stepped once, and the vectorised, split loop does each element's arithmetic as the plain one.
TEST(Optim, LargeParameterStepsAsItsPieces) {
  const int threads = dydx::get_num_threads();
  dydx::set_num_threads(2);
  const int64_t pieces[] = {10000, 30001, 32768, 25544}, n = 98313;
  for (dydx::ScalarType dt : {dydx::kFloat32, dydx::kFloat64}) {
    for (int kind = 0; kind < 3; ++kind) {
      auto make = [&](const std::vector<Tensor>& params) -> std::unique_ptr<optim::Optimizer> {
        if (kind == 0) return std::make_unique<optim::Adam>(params, optim::AdamOptions(0.01));
        if (kind == 1)
          return std::make_unique<optim::Adam>(params, optim::AdamOptions(0.01).weight_decay(0.1).amsgrad(true));
        return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(0.01).amsgrad(true));
      };
      const Tensor i = dydx::arange(n, dydx::dtype(dt));
      Tensor whole = (i * 0.37).sin().detach().requires_grad_(true);
      std::vector<Tensor> parts;
      for (int64_t start = 0, p = 0; p < 4; start += pieces[p++])
        parts.push_back(whole.detach().narrow(0, start, pieces[p]).clone().requires_grad_(true));
      auto big = make({whole});
      auto small = make(parts);
      for (int step = 0; step < 3; ++step) {
        const Tensor g = (i * 0.11 + step).cos() * (step + 1.0);
        whole.set_grad(g);
        for (int64_t start = 0, p = 0; p < 4; start += pieces[p++])
          parts[p].set_grad(g.narrow(0, start, pieces[p]).clone());
        big->step();
        small->step();
      }
      const std::vector<double> got = whole.to_vector<double>(), want = dydx::cat(parts, 0).to_vector<double>();
      ASSERT_EQ(got.size(), want.size());
      int64_t differ = 0;
      for (size_t k = 0; k < got.size(); ++k) differ += !same_bits(got[k], want[k]);
      EXPECT_EQ(differ, 0) << "optimizer " << kind << (dt == dydx::kFloat32 ? " float32" : " float64");
      EXPECT_NE(got, (i * 0.37).sin().to_vector<double>()) << "the parameter did not move";
    }
  }
  dydx::set_num_threads(threads);
}

// A plain descent on a quadratic converges (the optimizers compose with backward()).
TEST(Optim, DescendsAQuadratic) {
  Tensor x = dydx::tensor({3.0, -2.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  optim::SGD opt({x}, optim::SGDOptions(0.1).momentum(0.5).nesterov(true));
  for (int i = 0; i < 100; ++i) {
    opt.zero_grad();
    (x * x).sum().backward();
    opt.step();
  }
  for (double v : x.to_vector<double>()) EXPECT_LT(std::abs(v), 1e-8);
}

TEST(Optim, BadOptionsRaiseInTheConstructor) {
  Tensor w = dydx::tensor({1.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  EXPECT_TRUE(ThrowsWith([&] { optim::SGD({w}, optim::SGDOptions(-1)); }, {"SGD", "Invalid learning rate: -1"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::SGD({w}, optim::SGDOptions(0.1).momentum(-0.5)); },
                         {"Invalid momentum value: -0.5"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::SGD({w}, optim::SGDOptions(0.1).weight_decay(-1)); },
                         {"Invalid weight_decay value: -1"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::SGD({w}, optim::SGDOptions(0.1).nesterov(true)); },
                         {"Nesterov momentum requires a momentum and zero dampening"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::SGD({w}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)); },
                         {"Nesterov momentum requires a momentum and zero dampening"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::Adam({w}, optim::AdamOptions(-1)); }, {"Adam", "Invalid learning rate: -1"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::Adam({w}, optim::AdamOptions().eps(-1e-8)); }, {"Invalid epsilon value: -1e-08"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::Adam({w}, optim::AdamOptions().betas({1.0, 0.999})); },
                         {"Invalid beta parameter at index 0: 1"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::Adam({w}, optim::AdamOptions().betas({0.9, -0.1})); },
                         {"Invalid beta parameter at index 1: -0.1"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::Adam({w}, optim::AdamOptions().weight_decay(-1)); },
                         {"Invalid weight_decay value: -1"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::AdamW({w}, optim::AdamWOptions(-1)); }, {"AdamW", "Invalid learning rate: -1"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::AdamW({w}, optim::AdamWOptions().betas({0.9, 1.0})); },
                         {"Invalid beta parameter at index 1: 1"}));
}

TEST(Optim, BadParametersRaiseInTheConstructor) {
  Tensor w = dydx::tensor({1.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  EXPECT_TRUE(ThrowsWith([&] { optim::SGD({w * 2}, optim::SGDOptions(0.1)); }, {"SGD", "can't optimize a non-leaf Tensor"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::Adam({w, Tensor()}); }, {"Adam", "parameter 1 is undefined"}));
  EXPECT_TRUE(ThrowsWith([&] { optim::AdamW({dydx::tensor({1, 2}, dydx::dtype(dydx::kInt64))}); },
                         {"AdamW", "floating point"}));
}

// Option values PyTorch's Python API refuses with ValueError throw dydx::ValueError, a dydx::Error too (so
// C++ code written against libtorch's c10::Error-like behaviour still catches them).
TEST(Optim, InvalidOptionValuesAreValueErrors) {
  using dydx::Error, dydx::ValueError, dydx::zeros;
  const Tensor p = zeros({2}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(-1)), ValueError);
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(0.1).nesterov(true)), ValueError);
  EXPECT_THROW(optim::Adam({p}, optim::AdamOptions(0.1).betas({1.0, 0.9})), ValueError);
  EXPECT_THROW(optim::AdamW({p}, optim::AdamWOptions(0.1).eps(-1)), ValueError);
  EXPECT_THROW(optim::RMSprop({p}, optim::RMSpropOptions(0.1).alpha(-1)), ValueError);
  try {
    optim::SGD({p}, optim::SGDOptions(-1));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Invalid learning rate: -1"), std::string::npos) << e.what();
  }
}
