// Learning-rate schedulers, as torch::optim's (libtorch's LRScheduler and StepLR) and PyTorch
// 1.13's torch.optim.lr_scheduler: each step() sets the optimizer's learning rate to the value
// PyTorch 1.13 computes, from the rate the optimizer has now (the recursive, "chainable" form),
// so a rate changed by hand between steps is carried on as PyTorch carries it on.
//   dydx::optim::StepLR scheduler(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (epoch...) { train(opt); scheduler.step(); }
// Unlike libtorch 1.13's LRScheduler, whose first step() never decays, the epochs count as
// PyTorch's do: construction is epoch 0, and the n-th step() computes epoch n's rate.
#pragma once

#include <cstdint>
#include <vector>

#include "dydx/optim.hpp"

namespace dydx::optim {

/// What the epoch-based schedulers share, as torch.optim.lr_scheduler._LRScheduler.
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;
  virtual ~LRScheduler() = default;

  /// Moves to the next epoch and sets the optimizer's learning rate for it.
  void step();
  /// The learning rate the last step() set (at construction, the optimizer's), one per group.
  std::vector<double> get_last_lr() const { return {last_lr_}; }
  /// The number of step() calls so far (PyTorch's last_epoch).
  int64_t last_epoch() const noexcept { return last_epoch_; }
  /// The optimizer's learning rate when the scheduler was made (PyTorch's initial_lr).
  std::vector<double> base_lrs() const { return {base_lr_}; }

 protected:
  /// The rate for epoch last_epoch() from the optimizer's current rate, as PyTorch's get_lr().
  virtual double get_lr() const = 0;
  double current_lr() const { return optimizer_.defaults().get_lr(); }

  Optimizer& optimizer_;
  double base_lr_;

 private:
  int64_t last_epoch_ = 0;
  double last_lr_;
};

/// Multiplies the rate by gamma every step_size epochs, as torch.optim.lr_scheduler.StepLR.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 private:
  double get_lr() const override;
  int64_t step_size_;
  double gamma_;
};

/// Multiplies the rate by gamma every epoch, as torch.optim.lr_scheduler.ExponentialLR.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 private:
  double get_lr() const override;
  double gamma_;
};

/// A cosine from the initial rate down to eta_min over T_max epochs and back up, as
/// torch.optim.lr_scheduler.CosineAnnealingLR: PyTorch 1.13's recursive update, whose values are
/// those of the closed form only up to rounding (and differ when the rate is set by hand).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);

 private:
  double get_lr() const override;
  int64_t T_max_;
  double eta_min_;
};

/// Whether ReduceLROnPlateau's metric should fall (min) or rise (max).
enum class SchedulerMode { min, max };
/// Whether ReduceLROnPlateau's threshold is relative to the best metric or absolute.
enum class ThresholdMode { rel, abs };

/// The options of ReduceLROnPlateau, with PyTorch 1.13's defaults.
struct ReduceLROnPlateauOptions {
  DYDX_ARG(SchedulerMode, mode) = SchedulerMode::min;
  DYDX_ARG(double, factor) = 0.1;
  DYDX_ARG(int64_t, patience) = 10;
  DYDX_ARG(double, threshold) = 1e-4;
  DYDX_ARG(ThresholdMode, threshold_mode) = ThresholdMode::rel;
  DYDX_ARG(int64_t, cooldown) = 0;
  DYDX_ARG(double, min_lr) = 0;
  DYDX_ARG(double, eps) = 1e-8;
};

/// Multiplies the rate by factor when the metric has not improved for more than patience
/// epochs, as torch.optim.lr_scheduler.ReduceLROnPlateau (libtorch: ReduceLROnPlateauScheduler).
/// A nan metric never improves.
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  /// Records one epoch's metric, and lowers the rate when it is time to.
  void step(double metric);
  /// The rate after the last step() (before any, the optimizer's), one per group.
  std::vector<double> get_last_lr() const { return {last_lr_}; }
  int64_t last_epoch() const noexcept { return last_epoch_; }
  double best() const noexcept { return best_; }
  int64_t num_bad_epochs() const noexcept { return num_bad_epochs_; }
  int64_t cooldown_counter() const noexcept { return cooldown_counter_; }
  const ReduceLROnPlateauOptions& options() const noexcept { return options_; }

 private:
  bool is_better(double metric) const;

  Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0, last_epoch_ = 0;
  double last_lr_;
};
using ReduceLROnPlateauScheduler = ReduceLROnPlateau;

}  // namespace dydx::optim
