// nn::Dropout: the probability checked at construction, the module's mode decides training.
#include "dydx/nn/modules/dropout.hpp"

#include "dydx/nn/functional.hpp"

namespace dydx::nn {

DropoutImpl::DropoutImpl(const DropoutOptions& options) : options(options) {
  DYDX_CHECK(options.p() >= 0.0 && options.p() <= 1.0, "dropout probability has to be between 0 and 1, but got ",
             options.p());
}

void DropoutImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "dydx::nn::Dropout(p=" << options.p() << ", inplace=" << options.inplace() << ")";
}

Tensor DropoutImpl::forward(Tensor input) {
  return functional::dropout(
      input, functional::DropoutFuncOptions().p(options.p()).inplace(options.inplace()).training(is_training()));
}

}  // namespace dydx::nn
