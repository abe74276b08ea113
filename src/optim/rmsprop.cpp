// RMSprop's step, element by element as PyTorch 1.13's _single_tensor_rmsprop (foreach=False):
//   grad = grad.add(param, alpha=weight_decay)                  (when weight_decay != 0)
//   square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
//   grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)            (centered)
//   avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()  (centered; else square_avg.sqrt())
//   avg = avg.add_(eps)
//   buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)   (momentum > 0)
//   param.addcdiv_(grad, avg, value=-lr)                        (otherwise)
// with PyTorch's CPU kernels' roundings, as adam.cpp describes them: a.add(b, alpha) is
// fma(b, alpha, a), a.addcmul(b, c, value) is fma(value * b, c, a), a.addcdiv(b, c, value) is
// a + value * b / c.
#include <cmath>

#include "dydx/autograd.hpp"
#include "dydx/error.hpp"
#include "dydx/optim.hpp"
#include "optim/parameter_step.hpp"
#include "optim/state_dict.hpp"

namespace dydx::optim {
namespace {

void check_rmsprop_options(const RMSpropOptions& o) {
  DYDX_CHECK_VALUE(o.lr() >= 0, "RMSprop: Invalid learning rate: ", o.lr());
  DYDX_CHECK_VALUE(o.eps() >= 0, "RMSprop: Invalid epsilon value: ", o.eps());
  DYDX_CHECK_VALUE(o.momentum() >= 0, "RMSprop: Invalid momentum value: ", o.momentum());
  DYDX_CHECK_VALUE(o.weight_decay() >= 0, "RMSprop: Invalid weight_decay value: ", o.weight_decay());
  DYDX_CHECK_VALUE(o.alpha() >= 0, "RMSprop: Invalid alpha value: ", o.alpha());
}

template <class T>
void rmsprop_update(const Tensor& param, const Tensor& grad, detail::RMSpropState& s, const RMSpropOptions& o) {
  s.step += 1;
  const T alpha = T(o.alpha()), one_minus_alpha = T(1 - o.alpha()), eps = T(o.eps());
  const T weight_decay = T(o.weight_decay()), momentum = T(o.momentum()), neg_lr = T(-o.lr());
  const bool decay = o.weight_decay() != 0;
  const T* g = grad.data_ptr<T>();
  T* v = s.square_avg.data_ptr<T>();
  T* m = o.centered() ? s.grad_avg.data_ptr<T>() : nullptr;
  T* b = o.momentum() > 0 ? s.momentum_buffer.data_ptr<T>() : nullptr;
  const int64_t n = param.numel();
  detail::update_in_place<T>(param, [&](T* p) {
    for (int64_t k = 0; k < n; ++k) {
      const T gk = decay ? std::fma(p[k], weight_decay, g[k]) : g[k];
      v[k] = std::fma(one_minus_alpha * gk, gk, v[k] * alpha);
      T avg;
      if (m) {
        m[k] = std::fma(gk, one_minus_alpha, m[k] * alpha);
        avg = std::sqrt(std::fma(T(-1) * m[k], m[k], v[k]));
      } else {
        avg = std::sqrt(v[k]);
      }
      avg = avg + eps;
      if (b) {
        b[k] = b[k] * momentum + T(1) * gk / avg;
        p[k] = std::fma(b[k], neg_lr, p[k]);
      } else {
        p[k] = p[k] + neg_lr * gk / avg;
      }
    }
  });
}

}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions defaults)
    : Optimizer(std::move(params), "RMSprop"), options_(defaults), state_(parameters_.size()) {
  check_rmsprop_options(defaults);
}

Tensor RMSprop::step(LossClosure closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode enable_grad(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  const std::vector<size_t> owner = detail::state_owners(parameters_);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& param = parameters_[i];
    const Tensor grad = detail::step_gradient(param, "RMSprop");
    if (!grad.defined()) continue;
    detail::RMSpropState& s = state_[owner[i]];
    if (s.step == 0) s.square_avg = detail::zero_state(param);
    // Made when first needed, also when momentum or centered is turned on after the first step.
    if (options_.momentum() > 0 && !s.momentum_buffer.defined()) s.momentum_buffer = detail::zero_state(param);
    if (options_.centered() && !s.grad_avg.defined()) s.grad_avg = detail::zero_state(param);
    detail::dispatch_floating(param.dtype(), [&]<class T>(T) { rmsprop_update<T>(param, grad, s, options_); });
  }
  return loss;
}

OptimizerStateDict RMSprop::state_dict() const {
  const RMSpropOptions& o = options_;
  OptimizerStateDict out{"RMSprop",
                         {{"lr", o.lr()},
                          {"alpha", o.alpha()},
                          {"eps", o.eps()},
                          {"weight_decay", o.weight_decay()},
                          {"momentum", o.momentum()},
                          {"centered", o.centered() ? 1.0 : 0.0}},
                         {}};
  for (const detail::RMSpropState& s : state_) {
    auto& entry = out.state.emplace_back();
    if (s.step == 0) continue;
    entry["step"] = detail::count_tensor(s.step);
    entry["square_avg"] = detail::copy_of(s.square_avg);
    if (s.momentum_buffer.defined()) entry["momentum_buffer"] = detail::copy_of(s.momentum_buffer);
    if (s.grad_avg.defined()) entry["grad_avg"] = detail::copy_of(s.grad_avg);
  }
  return out;
}

void RMSprop::load_state_dict(const OptimizerStateDict& state) {
  detail::check_state_kind(state, "RMSprop", parameters_.size());
  detail::OptionReader read(state.options, "RMSprop");
  RMSpropOptions o(read.get("lr"));
  o.alpha(read.get("alpha")).eps(read.get("eps")).weight_decay(read.get("weight_decay"));
  o.momentum(read.get("momentum")).centered(read.get_bool("centered"));
  read.finish();
  check_rmsprop_options(o);
  std::vector<detail::RMSpropState> states(parameters_.size());
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const auto& s = state.state[i];
    detail::check_state_names(s, {"step", "square_avg", "momentum_buffer", "grad_avg"}, "RMSprop", i);
    if (s.empty()) continue;
    states[i].step = detail::state_count(s, "step", "RMSprop", i);
    DYDX_CHECK(states[i].step > 0, "RMSprop::load_state_dict: parameter ", i, "'s \"step\" is 0 but it has averages");
    states[i].square_avg = detail::state_tensor(s, "square_avg", parameters_[i], "RMSprop", i);
    states[i].momentum_buffer =
        detail::state_tensor(s, "momentum_buffer", parameters_[i], "RMSprop", i, o.momentum() > 0);
    states[i].grad_avg = detail::state_tensor(s, "grad_avg", parameters_[i], "RMSprop", i, o.centered());
  }
  options_ = o;
  state_ = std::move(states);
}

}  // namespace dydx::optim
