// L-BFGS, as torch::optim::LBFGS: every step(closure) runs up to max_iter quasi-Newton
// iterations, re-evaluating the loss through the closure, with PyTorch 1.13's algorithm (its
// two-loop recursion, its step lengths, its strong-Wolfe line search with cubic interpolation,
// and its stopping rules). The closure calls zero_grad() and backward() itself:
//   dydx::optim::LBFGS opt(params, dydx::optim::LBFGSOptions(1).line_search_fn("strong_wolfe"));
//   opt.step([&] { opt.zero_grad(); auto loss = model_loss(); loss.backward(); return loss; });
// Dot products and norms are summed in another order than PyTorch's BLAS, so a trajectory
// matches PyTorch's to rounding, not bit for bit.
#pragma once

#include <optional>
#include <string>

#include "dydx/optim.hpp"

namespace dydx::optim {

/// The options of LBFGS, as torch::optim::LBFGSOptions. max_eval defaults to max_iter * 5 / 4;
/// line_search_fn is "strong_wolfe" or none (a fixed step of lr).
struct LBFGSOptions : OptimizerOptions {
  LBFGSOptions(double lr = 1) : lr_(lr) {}
  DYDX_ARG(double, lr);
  DYDX_ARG(int64_t, max_iter) = 20;
  DYDX_ARG(std::optional<int64_t>, max_eval) = std::nullopt;
  DYDX_ARG(double, tolerance_grad) = 1e-7;
  DYDX_ARG(double, tolerance_change) = 1e-9;
  DYDX_ARG(int64_t, history_size) = 100;
  DYDX_ARG(std::optional<std::string>, line_search_fn) = std::nullopt;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
};

/// Parameters that share options, as torch::optim::OptimizerParamGroup. dydx's optimizers take
/// one group; LBFGS takes a list of them only to refuse more than one, as PyTorch does.
struct OptimizerParamGroup {
  OptimizerParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}
  std::vector<Tensor>& params() noexcept { return params_; }
  const std::vector<Tensor>& params() const noexcept { return params_; }

 private:
  std::vector<Tensor> params_;
};

namespace detail {
/// What LBFGS keeps between steps (PyTorch keeps it as the state of the first parameter): the
/// last direction d and step length t, the curvature pairs (old_dirs y, old_stps s, ro = 1/y.s),
/// the initial Hessian scale, the last gradient and loss, and the counters. Tensors are flat, of
/// the parameters' dtype, and never written in place once stored.
struct LBFGSState {
  int64_t func_evals = 0, n_iter = 0;
  Tensor d, prev_flat_grad;
  double t = 0, H_diag = 1, prev_loss = 0;
  std::vector<Tensor> old_dirs, old_stps;
  std::vector<double> ro;
};
}  // namespace detail

/// L-BFGS, as torch.optim.LBFGS. All parameters must have one dtype.
class LBFGS : public Optimizer {
 public:
  explicit LBFGS(std::vector<Tensor> params, LBFGSOptions defaults = {});
  /// Errors, as PyTorch, unless there is exactly one group.
  explicit LBFGS(std::vector<OptimizerParamGroup> param_groups, LBFGSOptions defaults = {});

  /// Runs the iterations and returns the closure's first loss. Errors without a closure, and when
  /// the closure's loss has more than one element (naming its shape); on any error the
  /// parameters are restored to their values before the step and the state is unchanged.
  Tensor step(LossClosure closure) override;

  const LBFGSOptions& options() const noexcept { return options_; }
  LBFGSOptions& options() noexcept { return options_; }
  OptimizerOptions& defaults() noexcept override { return options_; }
  const OptimizerOptions& defaults() const noexcept override { return options_; }
  /// The state of the first parameter (state[0]); the others have none, as in PyTorch.
  OptimizerStateDict state_dict() const override;
  void load_state_dict(const OptimizerStateDict& state) override;

 private:
  LBFGSOptions options_;
  detail::LBFGSState state_;
  int64_t numel_ = 0;
};

}  // namespace dydx::optim
