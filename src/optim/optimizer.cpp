// The Optimizer base: the checks on the parameters, and zero_grad.
#include "dydx/autograd.hpp"
#include "dydx/error.hpp"
#include "dydx/optim.hpp"

namespace dydx::optim {

Optimizer::Optimizer(std::vector<Tensor> parameters, const char* name) : parameters_(std::move(parameters)) {
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    DYDX_CHECK(p.defined(), name, ": parameter ", i, " is undefined");
    DYDX_CHECK(p.is_leaf(), name, ": can't optimize a non-leaf Tensor (parameter ", i, ")");
    DYDX_CHECK(p.is_floating_point(), name, ": can only optimize floating point Tensors, parameter ", i, " is ",
               p.dtype());
  }
}

void Optimizer::zero_grad() {
  NoGradGuard no_grad;
  for (Tensor& p : parameters_) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    // Detached first, as libtorch's p.mutable_grad().detach_(): a gradient recorded with
    // create_graph keeps no graph alive, and zeroing it is not recorded.
    grad = grad.detach();
    grad.zero_();
    p.set_grad(grad);
  }
}

}  // namespace dydx::optim
