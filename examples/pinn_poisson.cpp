// A physics-informed neural network: a 2 -> 32 -> 32 -> 1 tanh MLP learns the solution of Poisson's equation
// -laplacian(u) = 2 pi^2 sin(pi x) sin(pi y) on the unit square with u = 0 on the boundary, whose exact solution
// is u = sin(pi x) sin(pi y). The loss's Laplacian comes from dydx::func::laplacian (the forward Laplacian) and
// is differentiated in reverse mode for the weights. Adam, then L-BFGS with a strong-Wolfe line search. Prints
// progress, the relative L2 error on a 201 x 201 grid and the time per step, and draws three PNG figures.
//
// Usage: pinn_poisson [--adam N] [--lbfgs N] [--interior N] [--out DIR] [--quick]
//   --adam N   Adam steps (default 1000)          --lbfgs N  L-BFGS steps of up to 20 iterations each (default 50)
//   --interior N  an N x N grid of interior points (default 32)   --out DIR  where the PNGs go (default docs/pinn)
//   --quick    a short run for the tests: 30 Adam steps, 2 L-BFGS steps, a small grid; checks the loss fell
// examples/pinn_poisson_torch.py runs the same problem, network, initial weights and schedule in PyTorch.
#include <dydx/dydx.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pinn/figures.hpp"
#include "pinn/png_writer.hpp"
#include "pinn/poisson_problem.hpp"
#include "pinn/progress.hpp"

using namespace dydx;

namespace {

struct Config {
  int64_t adam_steps = 1000, lbfgs_steps = 50;
  int64_t interior_side = 32, boundary_per_edge = 32, test_side = 201;
  double adam_lr = 1e-3, target_error = 1e-3;
  std::string out_dir = "docs/pinn";
  bool quick = false;
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    auto count = [&]() -> int64_t {
      const std::string v = value();
      size_t used = 0;
      int64_t n = -1;
      try {
        n = std::stoll(v, &used);
      } catch (const std::exception&) {
      }
      if (used != v.size() || n < 0) throw std::invalid_argument(arg + " needs a count of steps (0 or more), not '" + v + "'");
      return n;
    };
    if (arg == "--adam") c.adam_steps = count();
    else if (arg == "--lbfgs") c.lbfgs_steps = count();
    else if (arg == "--interior") c.interior_side = std::max<int64_t>(count(), 1);
    else if (arg == "--out") c.out_dir = value();
    else if (arg == "--quick") c.quick = true, c.adam_steps = 30, c.lbfgs_steps = 2, c.interior_side = 16, c.test_side = 41;
    else throw std::invalid_argument("unknown argument " + arg + " (usage: pinn_poisson [--adam N] [--lbfgs N] [--interior N] [--out DIR] [--quick])");
  }
  return c;
}

std::vector<double> to_vector(const Tensor& t) {
  const Tensor c = t.to(kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  const Config cfg = parse(argc, argv);
  // float64: L-BFGS's curvature pairs and line search need more digits than float32 keeps once the loss is small.
  const ScalarType dtype = kFloat64;
  TensorList params = pinn::initial_parameters(dtype);
  const func::UnaryFunction u = [&](const Tensor& x) { return pinn::mlp(params, x); };
  const Tensor interior = pinn::interior_points(cfg.interior_side, dtype);
  const Tensor boundary = pinn::boundary_points(cfg.boundary_per_edge, dtype);
  const Tensor f = pinn::source_term(interior);
  std::printf("PINN for -laplacian(u) = 2 pi^2 sin(pi x) sin(pi y) on [0,1]^2, u = 0 on the boundary\n");
  std::printf("MLP 2-32-32-1 tanh (float64), %lld interior + %lld boundary points, %d thread(s)\n",
              static_cast<long long>(interior.size(0)), static_cast<long long>(boundary.size(0)), get_num_threads());

  std::vector<double> losses;  // one per loss evaluation (a forward and backward pass), Adam's then L-BFGS's
  auto loss_and_grad = [&](auto& opt) {
    opt.zero_grad();
    Tensor loss = pinn::pinn_loss(u, interior, f, boundary);
    loss.backward();
    losses.push_back(loss.item<double>());
    return loss;
  };

  optim::Adam adam(params, optim::AdamOptions(cfg.adam_lr));
  const auto adam_start = std::chrono::steady_clock::now();
  {
    pinn::Progress bar("adam", cfg.adam_steps);
    for (int64_t step = 1; step <= cfg.adam_steps; ++step) {
      loss_and_grad(adam);
      adam.step();
      bar.update(step, losses.back());
    }
  }
  const double adam_seconds = seconds_since(adam_start);
  const size_t adam_evals = losses.size();

  optim::LBFGS lbfgs(params, optim::LBFGSOptions(1).line_search_fn("strong_wolfe"));
  const auto lbfgs_start = std::chrono::steady_clock::now();
  {
    pinn::Progress bar("lbfgs", cfg.lbfgs_steps);
    for (int64_t step = 1; step <= cfg.lbfgs_steps; ++step) {
      lbfgs.step([&] { return loss_and_grad(lbfgs); });
      bar.update(step, losses.back());
    }
  }
  const double lbfgs_seconds = seconds_since(lbfgs_start);
  const size_t lbfgs_evals = losses.size() - adam_evals;

  // The error on a fine grid, boundary included: nodes i / (n - 1), x varying fastest (the figures' order).
  const int64_t n = cfg.test_side;
  const Tensor g = linspace(0, 1, n, kFloat64);
  const Tensor grid = stack({g.unsqueeze(0).expand({n, n}).reshape({-1}), g.unsqueeze(1).expand({n, n}).reshape({-1})}, 1).to(dtype);
  Tensor learned, exact;
  {
    NoGradGuard no_grad;
    learned = u(grid);
    exact = pinn::exact_solution(grid);
  }
  const double rel_l2 = ((learned - exact).pow(2).sum() / exact.pow(2).sum()).sqrt().item<double>();
  const double adam_ms = adam_seconds / std::max<double>(cfg.adam_steps, 1) * 1e3;
  const double lbfgs_ms = lbfgs_seconds / std::max<double>(static_cast<double>(lbfgs_evals), 1) * 1e3;
  std::printf("adam:  %lld steps in %.2f s, %.3f ms/step (%.0f steps/s)\n", static_cast<long long>(cfg.adam_steps),
              adam_seconds, adam_ms, 1e3 / adam_ms);
  std::printf("lbfgs: %lld steps, %zu loss evaluations in %.2f s, %.3f ms/evaluation\n",
              static_cast<long long>(cfg.lbfgs_steps), lbfgs_evals, lbfgs_seconds, lbfgs_ms);
  std::printf("final loss %.3e\n", losses.empty() ? NAN : losses.back());
  std::printf("relative L2 error vs the exact solution on a %lldx%lld grid: %.3e (target %.0e)\n",
              static_cast<long long>(n), static_cast<long long>(n), rel_l2, cfg.target_error);

  std::filesystem::create_directories(cfg.out_dir);
  const std::string dir = cfg.out_dir + "/";
  pinn::write_png(dir + "pinn_solution.png", pinn::heat_map(to_vector(learned), static_cast<int>(n), "learned u(x, y)"));
  pinn::write_png(dir + "pinn_error.png",
                  pinn::heat_map(to_vector((learned - exact).abs()), static_cast<int>(n), "error |u - u_exact|"));
  pinn::write_png(dir + "pinn_loss.png",
                  pinn::loss_curve(losses, static_cast<int64_t>(adam_evals), "loss: adam, then l-bfgs (dashed line)"));
  std::printf("figures: %spinn_solution.png, %spinn_error.png, %spinn_loss.png\n", dir.c_str(), dir.c_str(), dir.c_str());

  if (cfg.quick) {
    const bool fell = losses.size() >= 2 && losses.back() < losses.front();
    if (!fell) std::printf("FAILED: the loss did not fall (%.3e -> %.3e)\n", losses.front(), losses.back());
    return fell ? 0 : 1;
  }
  if (!(rel_l2 <= cfg.target_error)) {
    std::printf("FAILED: the relative L2 error %.3e is above the target %.0e\n", rel_l2, cfg.target_error);
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pinn_poisson: %s\n", e.what());
  return 2;
}
