// Optimizers spelled as libtorch's torch::optim, with libtorch's options objects and chained setters:
//   dydx::optim::SGD opt(params, dydx::optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
//   dydx::optim::Adam opt(params, dydx::optim::AdamOptions(1e-3).betas({0.9, 0.999}));
//   opt.zero_grad(); loss.backward(); opt.step();
// Each step computes what PyTorch 1.13's single-tensor (foreach=False) torch.optim step computes,
// to the last bit on the CPU: the same operations in the same order, each rounded to the
// parameter's dtype, with the fused multiply-adds where PyTorch's kernels fuse (add with alpha,
// addcmul). Parameters whose .grad is undefined are skipped, and their state does not advance.
// A step runs with grad mode off and writes each parameter in place (it stays the same leaf, over
// the same storage, and its version counter moves as after any in-place op). Bad options raise
// dydx::Error in the constructor with PyTorch's messages. A tensor listed twice shares one state
// (libtorch keys state by TensorImpl): it is updated twice per step from that state, as in PyTorch,
// and state_dict() holds the state at its first index (the later index's entry is empty).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "dydx/detail/option.hpp"
#include "dydx/tensor.hpp"

namespace dydx::optim {

/// What every optimizer's options share, as torch::optim::OptimizerOptions: the learning rate,
/// which the schedulers (dydx/optim/schedulers.hpp) read and set through an Optimizer's defaults().
struct OptimizerOptions {
  virtual ~OptimizerOptions() = default;
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
};

/// An optimizer's state, as PyTorch's optimizer.state_dict() holds it: which optimizer, its
/// options by name (booleans as 0 or 1, Adam's betas as beta1 and beta2), and per parameter the
/// state tensors by name ("step", "exp_avg", "momentum_buffer", ...; none before its first step).
/// Saved and loaded into a like optimizer over like parameters, it continues the same trajectory
/// bit for bit. dydx::save(optimizer, path) writes it as a safetensors file (dydx/serialize.hpp).
struct OptimizerStateDict {
  std::string optimizer;
  std::map<std::string, double> options;
  std::vector<std::map<std::string, Tensor>> state;
};

/// What every optimizer shares: its parameters and zero_grad(), as torch::optim::Optimizer.
class Optimizer {
 public:
  /// Re-evaluates the model and returns the loss; step() calls it first when given.
  using LossClosure = std::function<Tensor()>;

  Optimizer(const Optimizer&) = delete;
  Optimizer(Optimizer&&) = default;
  virtual ~Optimizer() = default;

  /// One update of every parameter that has a gradient; returns the closure's loss (undefined
  /// without a closure).
  virtual Tensor step(LossClosure closure = nullptr) = 0;

  /// Zeroes every defined .grad in place, detached from any graph, as libtorch 1.13's
  /// Optimizer::zero_grad (Python's zero_grad(set_to_none=False)); an undefined .grad stays
  /// undefined. So a parameter keeps being updated, with a zero gradient, until its .grad is reset.
  void zero_grad();

  const std::vector<Tensor>& parameters() const noexcept { return parameters_; }
  std::vector<Tensor>& parameters() noexcept { return parameters_; }
  /// The number of parameters.
  size_t size() const noexcept { return parameters_.size(); }

  /// The options every parameter is stepped with (dydx has one parameter group), as libtorch's
  /// defaults(); a scheduler changes the learning rate through it.
  virtual OptimizerOptions& defaults() noexcept = 0;
  virtual const OptimizerOptions& defaults() const noexcept = 0;

  /// A copy of the options and of every state tensor (later steps do not change it).
  virtual OptimizerStateDict state_dict() const = 0;
  /// Replaces the options and the state with copies of state's. Errors, changing nothing, when
  /// state is another optimizer's, or for another number of parameters, or holds a tensor of
  /// another shape or dtype than its parameter's, a missing or unknown name, or invalid options.
  virtual void load_state_dict(const OptimizerStateDict& state) = 0;

 protected:
  /// Errors (naming the optimizer) unless every parameter is a defined floating-point leaf.
  Optimizer(std::vector<Tensor> parameters, const char* name);

  std::vector<Tensor> parameters_;
};

/// The options of SGD, as torch::optim::SGDOptions.
struct SGDOptions : OptimizerOptions {
  SGDOptions(double lr) : lr_(lr) {}
  DYDX_ARG(double, lr);
  DYDX_ARG(double, momentum) = 0;
  DYDX_ARG(double, dampening) = 0;
  DYDX_ARG(double, weight_decay) = 0;
  DYDX_ARG(bool, nesterov) = false;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
};

/// Stochastic gradient descent with optional momentum (Nesterov's too) and L2 weight decay,
/// as torch.optim.SGD.
class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<Tensor> params, SGDOptions defaults);
  Tensor step(LossClosure closure = nullptr) override;
  const SGDOptions& options() const noexcept { return options_; }
  SGDOptions& options() noexcept { return options_; }
  OptimizerOptions& defaults() noexcept override { return options_; }
  const OptimizerOptions& defaults() const noexcept override { return options_; }
  OptimizerStateDict state_dict() const override;
  void load_state_dict(const OptimizerStateDict& state) override;

 private:
  SGDOptions options_;
  /// One per parameter; undefined until the parameter's first step with momentum.
  std::vector<Tensor> momentum_buffers_;
};

/// The options of Adam, as torch::optim::AdamOptions.
struct AdamOptions : OptimizerOptions {
  using betas_t = std::tuple<double, double>;
  AdamOptions(double lr = 1e-3) : lr_(lr) {}
  DYDX_ARG(double, lr);
  DYDX_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  DYDX_ARG(double, eps) = 1e-8;
  DYDX_ARG(double, weight_decay) = 0;
  DYDX_ARG(bool, amsgrad) = false;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
};

/// The options of AdamW, as torch::optim::AdamWOptions (weight_decay defaults to 1e-2).
struct AdamWOptions : OptimizerOptions {
  using betas_t = std::tuple<double, double>;
  AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  DYDX_ARG(double, lr);
  DYDX_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  DYDX_ARG(double, eps) = 1e-8;
  DYDX_ARG(double, weight_decay) = 1e-2;
  DYDX_ARG(bool, amsgrad) = false;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
};


namespace detail {
/// Adam's running moments for one parameter; step counts the steps that parameter took.
struct AdamState {
  int64_t step = 0;
  Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
};
}  // namespace detail

/// Adam, as torch.optim.Adam: weight decay is added to the gradient (L2), amsgrad optional.
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Tensor> params, AdamOptions defaults = {});
  Tensor step(LossClosure closure = nullptr) override;
  const AdamOptions& options() const noexcept { return options_; }
  AdamOptions& options() noexcept { return options_; }
  OptimizerOptions& defaults() noexcept override { return options_; }
  const OptimizerOptions& defaults() const noexcept override { return options_; }
  OptimizerStateDict state_dict() const override;
  void load_state_dict(const OptimizerStateDict& state) override;

 private:
  AdamOptions options_;
  std::vector<detail::AdamState> state_;
};

/// AdamW, as torch.optim.AdamW: weight decay shrinks the parameter directly (decoupled).
class AdamW : public Optimizer {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions defaults = {});
  Tensor step(LossClosure closure = nullptr) override;
  const AdamWOptions& options() const noexcept { return options_; }
  AdamWOptions& options() noexcept { return options_; }
  OptimizerOptions& defaults() noexcept override { return options_; }
  const OptimizerOptions& defaults() const noexcept override { return options_; }
  OptimizerStateDict state_dict() const override;
  void load_state_dict(const OptimizerStateDict& state) override;

 private:
  AdamWOptions options_;
  std::vector<detail::AdamState> state_;
};

}  // namespace dydx::optim

#include "dydx/optim/lbfgs.hpp"
#include "dydx/optim/rmsprop.hpp"
#include "dydx/optim/schedulers.hpp"
