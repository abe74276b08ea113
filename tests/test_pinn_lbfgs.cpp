// The physics-informed network example's fallback L-BFGS (examples/pinn/lbfgs.hpp) against torch.optim.LBFGS:
// trajectories on the extended Rosenbrock function from data/pinn_lbfgs_goldens.txt (make_pinn_lbfgs_goldens.py),
// with and without the strong-Wolfe line search and with a history short enough to drop pairs; and its errors.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pinn/lbfgs.hpp"

using namespace dydx;

namespace {

std::vector<double> parse_values(const std::string& csv) {
  std::vector<double> out;
  std::stringstream ss(csv);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stod(item));
  return out;
}

std::string option(const std::string& line, const std::string& name) {
  const size_t at = line.find(" " + name + "=");
  EXPECT_NE(at, std::string::npos) << name << " missing in " << line;
  const size_t start = at + name.size() + 2;
  return line.substr(start, line.find(' ', start) - start);
}

Tensor rosenbrock(const Tensor& x) {
  const int64_t n = x.size(0);
  Tensor head = x.narrow(0, 0, n - 1), tail = x.narrow(0, 1, n - 1);
  return ((tail - head * head).pow(2) * 100.0 + (1.0 - head).pow(2)).sum();
}

TEST(PinnLbfgs, MatchesTorchOptimLbfgs) {
  std::ifstream in(std::string(DYDX_TEST_DATA_DIR) + "/pinn_lbfgs_goldens.txt");
  ASSERT_TRUE(in) << "pinn_lbfgs_goldens.txt not found";
  int cases = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("case ", 0) != 0) continue;
    const std::string name = line.substr(5, line.find(' ', 5) - 5);
    pinn::LbfgsOptions options;
    options.strong_wolfe = option(line, "strong_wolfe") == "1";
    options.lr = std::stod(option(line, "lr"));
    options.max_iter = std::stoll(option(line, "max_iter"));
    options.history_size = std::stoll(option(line, "history_size"));
    std::string start;
    std::getline(in, start);
    ASSERT_EQ(start.rfind("start ", 0), 0u);
    Tensor x = tensor(parse_values(start.substr(6)), kFloat64).requires_grad_(true);
    pinn::Lbfgs opt({x}, options);
    for (std::string step; std::getline(in, step) && step != "end";) {
      std::stringstream ss(step);
      std::string word, loss_text, values;
      int k = 0;
      ss >> word >> k >> loss_text >> values;
      const Tensor loss = opt.step([&] {
        opt.zero_grad();
        Tensor l = rosenbrock(x);
        l.backward();
        return l;
      });
      // Rounding differs (the order of dot products' terms), and Rosenbrock's ill-conditioning amplifies it over
      // the steps to about 1e-8; a different branch anywhere (line search, history, stopping) would differ in the
      // leading digits.
      constexpr double rtol = 1e-6, atol = 1e-9;
      const double want_loss = std::stod(loss_text);
      EXPECT_NEAR(loss.item<double>(), want_loss, rtol * std::abs(want_loss) + atol) << name << " step " << k;
      const std::vector<double> want = parse_values(values);
      ASSERT_EQ(static_cast<size_t>(x.numel()), want.size());
      for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(x.data_ptr<double>()[i], want[i], rtol * std::abs(want[i]) + atol) << name << " step " << k << " x[" << i << "]";
    }
    ++cases;
  }
  EXPECT_EQ(cases, 3);
}

TEST(PinnLbfgs, RejectsWhatItCannotOptimise) {
  EXPECT_THROW(pinn::Lbfgs({zeros({3}, kFloat32).requires_grad_(true)}, {}), std::invalid_argument);
  Tensor leaf = zeros({3}, kFloat64).requires_grad_(true);
  EXPECT_THROW(pinn::Lbfgs({leaf * 2.0}, {}), std::invalid_argument);
  EXPECT_THROW(pinn::Lbfgs({zeros({3, 2}, kFloat64).t().requires_grad_(true)}, {}), std::invalid_argument);
  pinn::Lbfgs opt({leaf}, {});
  EXPECT_THROW(opt.step(nullptr), std::invalid_argument);
}

TEST(PinnLbfgs, StopsAtAStationaryPoint) {
  // At the minimum the gradient is zero: step() returns the loss at once and leaves x where it is.
  Tensor x = ones({4}, kFloat64).requires_grad_(true);
  pinn::Lbfgs opt({x}, {});
  int calls = 0;
  const Tensor loss = opt.step([&] {
    ++calls;
    opt.zero_grad();
    Tensor l = rosenbrock(x);
    l.backward();
    return l;
  });
  EXPECT_EQ(loss.item<double>(), 0.0);
  EXPECT_EQ(calls, 1);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(x.data_ptr<double>()[i], 1.0);
}

}  // namespace
