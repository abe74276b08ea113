// FALLBACK, private to this example: L-BFGS with a strong-Wolfe line search, in the shape of
// torch::optim::LBFGS (options, step(closure)), for as long as dydx::optim has no LBFGS of its own. It follows
// the algorithm of PyTorch 1.13's torch.optim.LBFGS (two-loop recursion over up to history_size pairs; the
// line search of Nocedal and Wright, Algorithms 3.5 and 3.6, with cubic interpolation), so that this example
// and its PyTorch twin take the same steps; it is not checked against it bit for bit. Float64 parameters only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include <dydx/autograd.hpp>
#include <dydx/tensor.hpp>

namespace pinn {

struct LbfgsOptions {
  double lr = 1;
  int64_t max_iter = 20;             // iterations per step()
  int64_t max_eval = 0;              // closure calls per step(); 0: max_iter * 5 / 4, PyTorch's default
  double tolerance_grad = 1e-7;      // stop when max |gradient| falls to this
  double tolerance_change = 1e-9;    // stop when the loss or the step changes less
  int64_t history_size = 100;
  bool strong_wolfe = true;          // false: fixed steps of lr
};

// Not derived from dydx::optim::Optimizer, so that changes to that interface cannot break a stand-in.
class Lbfgs {
 public:
  using LossClosure = std::function<dydx::Tensor()>;
  Lbfgs(std::vector<dydx::Tensor> params, LbfgsOptions options);
  /// Up to max_iter iterations; closure must zero the gradients, compute the loss, call backward and return
  /// it. Returns the loss before the first iteration, as torch.optim.LBFGS does.
  dydx::Tensor step(LossClosure closure);
  /// Drops every parameter's gradient (zero_grad(set_to_none=True)); the next backward makes a fresh one.
  void zero_grad();

 private:
  using Vec = std::vector<double>;
  Vec gather_grad() const;
  void set_params(const Vec& x);
  Vec get_params() const;
  double evaluate(const LossClosure& closure, Vec& grad);  // loss at the current parameters, and its gradient

  std::vector<dydx::Tensor> parameters_;
  LbfgsOptions options_;
  int64_t n_iter_ = 0;  // over every step() so far
  Vec direction_, prev_grad_;
  double t_ = 0, prev_loss_ = 0, h_diag_ = 1;
  std::deque<Vec> old_steps_, old_grad_diffs_;  // s and y, newest last
  std::deque<double> rho_;                      // 1 / (y . s)
};

}  // namespace pinn
