// A physics-informed network for a fourth-order PDE: the deflection u of a simply supported square
// plate under a load q, Delta^2 u = q on (0, 1)^2 with u = 0 and Delta u = 0 on the edges (Navier's
// conditions, unit flexural rigidity). For q = 4 pi^4 sin(pi x) sin(pi y) the exact deflection is
// u = sin(pi x) sin(pi y). The residual's biharmonic comes from func::biharmonic (one pass carrying
// each tensor's first and second derivatives, its Laplacian's derivatives and its biharmonic; no
// fourth-derivative tensor formed; 3000 steps in 15.6 s here), the edges' Laplacian from
// func::laplacian, and reverse mode through both trains an MLP 2-32-32-1 (tanh, float64) with Adam.
//
// Usage: pinn_biharmonic_plate [--steps N] [--quick]
//   --steps N  Adam steps (default 3000)
//   --quick    a short run for the tests (60 steps, a coarse grid); exits non-zero unless the loss fell
#include <dydx/dydx.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace dydx;

namespace {

constexpr double kPi = M_PI;

// The MLP's parameters, [out, in] weights as nn::Linear keeps them, scaled for tanh.
TensorList initial_parameters() {
  manual_seed(0);
  TensorList p;
  for (auto [out, in] : {std::pair<int64_t, int64_t>{32, 2}, {32, 32}, {1, 32}}) {
    p.push_back((randn({out, in}, kFloat64) / std::sqrt(static_cast<double>(in))).requires_grad_(true));
    p.push_back(zeros({out}, kFloat64).requires_grad_(true));
  }
  return p;
}

Tensor mlp(const TensorList& p, const Tensor& x) {
  Tensor h = tanh(linear(x, p[0], p[1]));
  h = tanh(linear(h, p[2], p[3]));
  return linear(h, p[4], p[5]);
}

// An n x n grid of interior points, x varying fastest.
Tensor interior_points(int64_t n) {
  const Tensor g = (arange(n, kFloat64) + 0.5) / static_cast<double>(n);
  return stack({g.unsqueeze(0).expand({n, n}).reshape({-1}), g.unsqueeze(1).expand({n, n}).reshape({-1})}, 1);
}

// n points on each edge.
Tensor boundary_points(int64_t n) {
  const Tensor s = (arange(n, kFloat64) + 0.5) / static_cast<double>(n), zero = zeros({n}, kFloat64),
               one = ones({n}, kFloat64);
  return cat({stack({s, zero}, 1), stack({s, one}, 1), stack({zero, s}, 1), stack({one, s}, 1)});
}

Tensor exact(const Tensor& x) { return (sin(kPi * x.select(1, 0)) * sin(kPi * x.select(1, 1))).unsqueeze(1); }

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 3000, side = 16;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
      steps = 60;
      side = 8;
    } else if (arg == "--steps" && i + 1 < argc) {
      steps = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--steps N] [--quick]\n", argv[0]);
      return 2;
    }
  }
  TensorList params = initial_parameters();
  const func::UnaryFunction u = [&params](const Tensor& x) { return mlp(params, x); };
  const Tensor interior = interior_points(side), edges = boundary_points(4 * side);
  const double scale = 4 * kPi * kPi * kPi * kPi;  // the load's amplitude: residuals are divided by it
  const Tensor load = exact(interior) * scale;
  std::printf("PINN for the plate Delta^2 u = 4 pi^4 sin(pi x) sin(pi y) on [0,1]^2, u = Delta u = 0 on the edges\n");
  std::printf("MLP 2-32-32-1 tanh (float64), %lld interior + %lld edge points, Adam, %lld steps\n",
              static_cast<long long>(interior.size(0)), static_cast<long long>(edges.size(0)),
              static_cast<long long>(steps));

  optim::Adam adam(params, optim::AdamOptions(2e-3));
  double first = 0, last = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = 1; step <= steps; ++step) {
    adam.zero_grad();
    const Tensor residual = (func::biharmonic(u, interior) - load) / scale;
    const Tensor on_edges = u(edges), bending = func::laplacian(u, edges) / (2 * kPi * kPi);
    const Tensor loss = residual.pow(2).mean() + on_edges.pow(2).mean() + bending.pow(2).mean();
    loss.backward();
    adam.step();
    last = loss.item<double>();
    if (step == 1) first = last;
    if (step == 1 || step % (quick ? 20 : 500) == 0 || step == steps)
      std::printf("step %5lld  loss %.3e\n", static_cast<long long>(step), last);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Tensor learned, want;
  {
    NoGradGuard no_grad;
    const Tensor grid = interior_points(64);
    learned = u(grid);
    want = exact(grid);
  }
  const double rel_l2 = ((learned - want).pow(2).sum() / want.pow(2).sum()).sqrt().item<double>();
  std::printf("%.2f s, %.2f ms/step; relative L2 error of u on a 64 x 64 grid: %.3e\n", seconds,
              seconds / static_cast<double>(std::max<int64_t>(steps, 1)) * 1e3, rel_l2);
  if (quick && !(last < 0.5 * first)) {
    std::fprintf(stderr, "the loss did not fall: %.3e -> %.3e\n", first, last);
    return 1;
  }
  return 0;
}
