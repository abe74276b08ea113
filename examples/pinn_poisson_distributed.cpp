// examples/pinn_poisson.cpp's physics-informed network, trained data-parallel over MPI: each rank takes its
// share of the collocation points (interior and boundary), computes its part of the loss and its gradient,
// and dydx::distributed::DataParallel sums the gradients over the ranks during backward. Every rank then
// takes the same Adam and L-BFGS steps, so the loss curve is the one-rank curve, to rounding, whatever the
// number of ranks (the global batch stays the same).
//
// Usage: mpirun -np N pinn_poisson_distributed [--adam N] [--lbfgs N] [--interior N] [--quick]
//                                               [--losses FILE] [--compare FILE]
//   --adam N, --lbfgs N, --interior N  as pinn_poisson (defaults 1000, 50, 32); --quick: 30, 2, 16
//   --losses FILE   rank 0 writes the loss of every evaluation, one a line
//   --compare FILE  exits 1 unless the curve matches FILE's to a relative 1e-9 (the test runs 1 rank, then 2 and 4)
// As root, Open MPI also wants --allow-run-as-root; on more ranks than cores, --oversubscribe.
#include <dydx/distributed.hpp>
#include <dydx/dydx.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "pinn/poisson_problem.hpp"

using namespace dydx;
namespace dist = dydx::distributed;

namespace {

struct Config {
  int64_t adam_steps = 1000, lbfgs_steps = 50, interior_side = 32, boundary_per_edge = 32;
  double adam_lr = 1e-3, compare_rtol = 1e-9;
  std::string losses_file, compare_file;
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--adam") c.adam_steps = std::stoll(value());
    else if (arg == "--lbfgs") c.lbfgs_steps = std::stoll(value());
    else if (arg == "--interior") c.interior_side = std::stoll(value());
    else if (arg == "--losses") c.losses_file = value();
    else if (arg == "--compare") c.compare_file = value();
    else if (arg == "--quick") c.adam_steps = 30, c.lbfgs_steps = 2, c.interior_side = 16;
    else throw std::invalid_argument("unknown argument " + arg);
  }
  return c;
}

// The largest relative difference between the curve and the one in file; a length mismatch counts as infinite.
double difference_from(const std::vector<double>& losses, const std::string& file) {
  std::ifstream in(file);
  std::vector<double> reference;
  for (double v; in >> v;) reference.push_back(v);
  if (reference.size() != losses.size()) return INFINITY;
  double worst = 0;
  for (size_t k = 0; k < losses.size(); ++k)
    worst = std::max(worst, std::abs(losses[k] - reference[k]) / std::max(std::abs(reference[k]), 1e-300));
  return worst;
}

}  // namespace

int main(int argc, char** argv) try {
  dist::Environment mpi(&argc, &argv);
  const Config cfg = parse(argc, argv);
  const bool chief = dist::rank() == 0;
  const ScalarType dtype = kFloat64;
  TensorList params = pinn::initial_parameters(dtype);
  const func::UnaryFunction u = [&](const Tensor& x) { return pinn::mlp(params, x); };
  // Every rank builds the whole set of points and keeps its rows: the global batch does not depend on
  // the number of ranks.
  const Tensor all_interior = pinn::interior_points(cfg.interior_side, dtype);
  const Tensor all_boundary = pinn::boundary_points(cfg.boundary_per_edge, dtype);
  const Tensor interior = dist::shard(all_interior), boundary = dist::shard(all_boundary);
  const Tensor f = pinn::source_term(interior);
  const double interior_weight = 1.0 / static_cast<double>(all_interior.size(0));
  const double boundary_weight = pinn::kBoundaryWeight / static_cast<double>(all_boundary.size(0));
  if (chief)
    std::printf("PINN (as pinn_poisson) on %d rank(s): %lld interior + %lld boundary points in all, %lld + %lld here\n",
                dist::world_size(), static_cast<long long>(all_interior.size(0)),
                static_cast<long long>(all_boundary.size(0)), static_cast<long long>(interior.size(0)),
                static_cast<long long>(boundary.size(0)));

  // Each rank's loss is its rows' share of pinn_loss (sums over its rows, divided by the global counts),
  // so the ranks' gradients add up to the global one.
  dist::DataParallel ddp(params, {.reduction = dist::ReduceOp::sum});
  std::vector<double> losses;
  auto loss_and_grad = [&](auto& opt) {
    opt.zero_grad();
    Tensor residual = func::laplacian(u, interior) + f;
    Tensor local = residual.pow(2).sum() * interior_weight + u(boundary).pow(2).sum() * boundary_weight;
    local.backward();
    Tensor total = local.detach().clone();
    dist::all_reduce(total);
    losses.push_back(total.item<double>());
    return total;
  };

  optim::Adam adam(params, optim::AdamOptions(cfg.adam_lr));
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = 1; step <= cfg.adam_steps; ++step) {
    loss_and_grad(adam);
    adam.step();
    if (chief && (step % 100 == 0 || step == cfg.adam_steps))
      std::printf("adam %lld: loss %.6e\n", static_cast<long long>(step), losses.back());
  }
  const double adam_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  optim::LBFGS lbfgs(params, optim::LBFGSOptions(1).line_search_fn("strong_wolfe"));
  for (int64_t step = 1; step <= cfg.lbfgs_steps; ++step) lbfgs.step([&] { return loss_and_grad(lbfgs); });
  if (chief) {
    std::printf("adam: %.3f ms/step on %d rank(s)\n", adam_seconds / std::max<double>(cfg.adam_steps, 1) * 1e3,
                dist::world_size());
    std::printf("final loss %.6e after %zu evaluations\n", losses.back(), losses.size());
  }
  if (chief && !cfg.losses_file.empty()) {
    std::FILE* out = std::fopen(cfg.losses_file.c_str(), "w");
    if (!out) throw std::runtime_error("cannot write " + cfg.losses_file);
    for (double l : losses) std::fprintf(out, "%.17g\n", l);
    std::fclose(out);
  }
  int status = 0;
  if (!cfg.compare_file.empty()) {
    const double worst = difference_from(losses, cfg.compare_file);
    status = worst <= cfg.compare_rtol ? 0 : 1;
    if (chief)
      std::printf("loss curve vs %s: largest relative difference %.3e over %zu evaluations (%s)\n",
                  cfg.compare_file.c_str(), worst, losses.size(), status ? "FAILED" : "ok");
  }
  return status;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pinn_poisson_distributed: %s\n", e.what());
  return 2;
}
