// RMSprop, as torch::optim::RMSprop: each step computes PyTorch 1.13's single-tensor
// (foreach=False) step bit for bit, as SGD and Adam do (see dydx/optim.hpp).
//   dydx::optim::RMSprop opt(params, dydx::optim::RMSpropOptions(0.01).momentum(0.9).centered(true));
#pragma once

#include "dydx/optim.hpp"

namespace dydx::optim {

/// The options of RMSprop, as torch::optim::RMSpropOptions.
struct RMSpropOptions : OptimizerOptions {
  RMSpropOptions(double lr = 1e-2) : lr_(lr) {}
  DYDX_ARG(double, lr);
  DYDX_ARG(double, alpha) = 0.99;
  DYDX_ARG(double, eps) = 1e-8;
  DYDX_ARG(double, weight_decay) = 0;
  DYDX_ARG(double, momentum) = 0;
  DYDX_ARG(bool, centered) = false;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
};

namespace detail {
/// RMSprop's running averages for one parameter; step counts the steps that parameter took.
struct RMSpropState {
  int64_t step = 0;
  Tensor square_avg, momentum_buffer, grad_avg;
};
}  // namespace detail

/// RMSprop, as torch.optim.RMSprop: a running average of squared gradients scales each step;
/// centered subtracts the squared running mean, momentum keeps a buffer of the scaled steps.
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(std::vector<Tensor> params, RMSpropOptions defaults = {});
  Tensor step(LossClosure closure = nullptr) override;
  const RMSpropOptions& options() const noexcept { return options_; }
  RMSpropOptions& options() noexcept { return options_; }
  OptimizerOptions& defaults() noexcept override { return options_; }
  const OptimizerOptions& defaults() const noexcept override { return options_; }
  OptimizerStateDict state_dict() const override;
  void load_state_dict(const OptimizerStateDict& state) override;

 private:
  RMSpropOptions options_;
  std::vector<detail::RMSpropState> state_;
};

}  // namespace dydx::optim
