// SGD's step, element by element as PyTorch 1.13's _single_tensor_sgd:
//   d_p = grad; d_p = d_p.add(param, alpha=weight_decay)        (when weight_decay != 0)
//   buf = clone(d_p) on the first step, else buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
//   d_p = d_p.add(buf, alpha=momentum) with nesterov, else buf  (when momentum != 0)
//   param.add_(d_p, alpha=-lr)
// Every scalar is rounded to the parameter's dtype first, as PyTorch's kernels take it, and
// a.add(b, alpha) is one fused multiply-add, fma(b, alpha, a), as PyTorch's CPU kernel computes it.
#include <cmath>

#include "dydx/autograd.hpp"
#include "dydx/error.hpp"
#include "dydx/optim.hpp"
#include "optim/parameter_step.hpp"
#include "optim/state_dict.hpp"

namespace dydx::optim {

namespace {
void check_sgd_options(const SGDOptions& o) {
  DYDX_CHECK_VALUE(o.lr() >= 0, "SGD: Invalid learning rate: ", o.lr());
  DYDX_CHECK_VALUE(o.momentum() >= 0, "SGD: Invalid momentum value: ", o.momentum());
  DYDX_CHECK_VALUE(o.weight_decay() >= 0, "SGD: Invalid weight_decay value: ", o.weight_decay());
  DYDX_CHECK_VALUE(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0),
             "SGD: Nesterov momentum requires a momentum and zero dampening");
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions defaults)
    : Optimizer(std::move(params), "SGD"), options_(defaults), momentum_buffers_(parameters_.size()) {
  check_sgd_options(defaults);
}

OptimizerStateDict SGD::state_dict() const {
  OptimizerStateDict out{"SGD",
                         {{"lr", options_.lr()},
                          {"momentum", options_.momentum()},
                          {"dampening", options_.dampening()},
                          {"weight_decay", options_.weight_decay()},
                          {"nesterov", options_.nesterov() ? 1.0 : 0.0}},
                         {}};
  for (const Tensor& buf : momentum_buffers_) {
    out.state.emplace_back();
    if (buf.defined()) out.state.back()["momentum_buffer"] = detail::copy_of(buf);
  }
  return out;
}

void SGD::load_state_dict(const OptimizerStateDict& state) {
  detail::check_state_kind(state, "SGD", parameters_.size());
  detail::OptionReader read(state.options, "SGD");
  SGDOptions o(read.get("lr"));
  o.momentum(read.get("momentum")).dampening(read.get("dampening")).weight_decay(read.get("weight_decay"));
  o.nesterov(read.get_bool("nesterov"));
  read.finish();
  check_sgd_options(o);
  std::vector<Tensor> buffers(parameters_.size());
  for (size_t i = 0; i < parameters_.size(); ++i) {
    detail::check_state_names(state.state[i], {"momentum_buffer"}, "SGD", i);
    buffers[i] = detail::state_tensor(state.state[i], "momentum_buffer", parameters_[i], "SGD", i, false);
  }
  options_ = o;
  momentum_buffers_ = std::move(buffers);
}

Tensor SGD::step(LossClosure closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode enable_grad(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  const std::vector<size_t> owner = detail::state_owners(parameters_);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    Tensor& param = parameters_[i];
    const Tensor grad = detail::step_gradient(param, "SGD");
    if (!grad.defined()) continue;
    Tensor& buf = momentum_buffers_[owner[i]];
    const bool first_step = !buf.defined();
    if (o.momentum() != 0 && first_step) buf = detail::zero_state(param);
    detail::dispatch_floating(param.dtype(), [&]<class T>(T) {
      const T* g = grad.data_ptr<T>();
      T* b = o.momentum() != 0 ? buf.data_ptr<T>() : nullptr;
      const int64_t n = param.numel();
      const T weight_decay = T(o.weight_decay()), momentum = T(o.momentum());
      const T keep = T(1 - o.dampening()), neg_lr = T(-o.lr());
      detail::update_in_place<T>(param, [&](T* p) {
        for (int64_t k = 0; k < n; ++k) {
          T d = g[k];
          if (o.weight_decay() != 0) d = std::fma(p[k], weight_decay, d);
          if (b) {
            b[k] = first_step ? d : std::fma(d, keep, b[k] * momentum);
            d = o.nesterov() ? std::fma(b[k], momentum, d) : b[k];
          }
          p[k] = std::fma(d, neg_lr, p[k]);
        }
      });
    });
  }
  return loss;
}

}  // namespace dydx::optim
