// The learning-rate schedulers, each get_lr() as PyTorch 1.13's, operation for operation (this
// file is compiled without contraction into fused multiply-adds, as Python evaluates).
#include "dydx/optim/schedulers.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "dydx/error.hpp"

namespace dydx::optim {

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(optimizer.defaults().get_lr()), last_lr_(base_lr_) {}

void LRScheduler::step() {
  ++last_epoch_;
  const double lr = get_lr();
  optimizer_.defaults().set_lr(lr);
  last_lr_ = lr;
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  DYDX_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
}

double StepLR::get_lr() const {
  if (last_epoch() == 0 || last_epoch() % step_size_ != 0) return current_lr();
  return current_lr() * gamma_;
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {}

double ExponentialLR::get_lr() const { return last_epoch() == 0 ? current_lr() : current_lr() * gamma_; }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  // PyTorch divides by T_max at the first step; dydx refuses it here, before any step.
  DYDX_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
}

double CosineAnnealingLR::get_lr() const {
  const int64_t epoch = last_epoch();
  const double pi = std::numbers::pi, T = static_cast<double>(T_max_), lr = current_lr();
  if (epoch == 0) return lr;
  // Python's %, whose result takes the divisor's sign: the epochs just past each trough. In 128
  // bits: 2 T_max overflows int64 for T_max past 2^62 (Python's integers don't).
  const __int128 period = 2 * static_cast<__int128>(T_max_);
  __int128 phase = (static_cast<__int128>(epoch) - 1 - T_max_) % period;
  if (phase < 0) phase += period;
  if (phase == 0) return lr + (base_lr_ - eta_min_) * (1 - std::cos(pi / T)) / 2;
  return (1 + std::cos(pi * static_cast<double>(epoch) / T)) / (1 + std::cos(pi * static_cast<double>(epoch - 1) / T)) *
             (lr - eta_min_) +
         eta_min_;
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options)
    : optimizer_(optimizer), options_(options), last_lr_(optimizer.defaults().get_lr()) {
  DYDX_CHECK(options.factor() < 1.0, "ReduceLROnPlateau: Factor should be < 1.0.");
  DYDX_CHECK(options.patience() >= 0, "ReduceLROnPlateau: patience must be non-negative, got ", options.patience());
  DYDX_CHECK(options.cooldown() >= 0, "ReduceLROnPlateau: cooldown must be non-negative, got ", options.cooldown());
  const double inf = std::numeric_limits<double>::infinity();
  best_ = options.mode() == SchedulerMode::min ? inf : -inf;
}

bool ReduceLROnPlateau::is_better(double a) const {
  const double t = options_.threshold();
  const bool rel = options_.threshold_mode() == ThresholdMode::rel;
  if (options_.mode() == SchedulerMode::min) return rel ? a < best_ * (1. - t) : a < best_ - t;
  return rel ? a > best_ * (t + 1.) : a > best_ + t;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {  // bad epochs are not counted while cooling down
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience()) {
    const double old_lr = optimizer_.defaults().get_lr();
    const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
    if (old_lr - new_lr > options_.eps()) optimizer_.defaults().set_lr(new_lr);
    cooldown_counter_ = options_.cooldown();
    num_bad_epochs_ = 0;
  }
  last_lr_ = optimizer_.defaults().get_lr();
}

}  // namespace dydx::optim
