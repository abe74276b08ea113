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

namespace dydx::optim {

SGD::SGD(std::vector<Tensor> params, SGDOptions defaults)
    : Optimizer(std::move(params), "SGD"), options_(defaults), momentum_buffers_(parameters_.size()) {
  DYDX_CHECK(defaults.lr() >= 0, "SGD: Invalid learning rate: ", defaults.lr());
  DYDX_CHECK(defaults.momentum() >= 0, "SGD: Invalid momentum value: ", defaults.momentum());
  DYDX_CHECK(defaults.weight_decay() >= 0, "SGD: Invalid weight_decay value: ", defaults.weight_decay());
  DYDX_CHECK(!defaults.nesterov() || (defaults.momentum() > 0 && defaults.dampening() == 0),
             "SGD: Nesterov momentum requires a momentum and zero dampening");
}

Tensor SGD::step(LossClosure closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode enable_grad(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    Tensor& param = parameters_[i];
    const Tensor grad = detail::step_gradient(param, "SGD");
    if (!grad.defined()) continue;
    Tensor& buf = momentum_buffers_[i];
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
