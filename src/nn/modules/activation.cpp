// The activation modules: each forwards to its function and prints as libtorch does.
#include "dydx/nn/modules/activation.hpp"

#include "dydx/ops.hpp"

namespace dydx::nn {

void ReLUImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::ReLU(";
  if (options.inplace()) stream << std::boolalpha << "inplace=" << options.inplace();
  stream << ")";
}
Tensor ReLUImpl::forward(Tensor input) {
  if (options.inplace()) return input.relu_();
  return relu(input);
}

void TanhImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::Tanh()"; }
Tensor TanhImpl::forward(const Tensor& input) { return tanh(input); }

void SigmoidImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::Sigmoid()"; }
Tensor SigmoidImpl::forward(const Tensor& input) { return sigmoid(input); }

void SiLUImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::SiLU()"; }
Tensor SiLUImpl::forward(const Tensor& input) { return silu(input); }

GELUImpl::GELUImpl(GELUOptions options) : options(std::move(options)) {
  DYDX_CHECK(this->options.approximate() == "none" || this->options.approximate() == "tanh",
             "nn::GELU: approximate must be \"none\" or \"tanh\", got \"", this->options.approximate(), "\"");
}
void GELUImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::GELU()"; }
Tensor GELUImpl::forward(const Tensor& input) { return gelu(input, options.approximate()); }

void ELUImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::ELU(alpha=" << options.alpha() << ")"; }
Tensor ELUImpl::forward(const Tensor& input) { return elu(input, options.alpha()); }

void LeakyReLUImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::LeakyReLU(negative_slope=" << options.negative_slope() << ")";
}
Tensor LeakyReLUImpl::forward(const Tensor& input) { return leaky_relu(input, options.negative_slope()); }

void SoftplusImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::Softplus(beta=" << options.beta() << ", threshold=" << options.threshold() << ")";
}
Tensor SoftplusImpl::forward(const Tensor& input) { return softplus(input, options.beta(), options.threshold()); }

void SoftmaxImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::Softmax(dim=" << options.dim() << ")"; }
Tensor SoftmaxImpl::forward(const Tensor& input) { return softmax(input, options.dim()); }

void LogSoftmaxImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::LogSoftmax(dim=" << options.dim() << ")";
}
Tensor LogSoftmaxImpl::forward(const Tensor& input) { return log_softmax(input, options.dim()); }

HardtanhImpl::HardtanhImpl(const HardtanhOptions& options) : options(options) { reset(); }
void HardtanhImpl::reset() {
  DYDX_CHECK(options.max_val() > options.min_val(), "nn::Hardtanh: max_val must be greater than min_val");
}
void HardtanhImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::Hardtanh(min_val=" << options.min_val() << ", max_val=" << options.max_val();
  if (options.inplace()) stream << std::boolalpha << ", inplace=" << options.inplace();
  stream << ")";
}
Tensor HardtanhImpl::forward(Tensor input) {
  if (options.inplace()) return hardtanh_(input, options.min_val(), options.max_val());
  return hardtanh(input, options.min_val(), options.max_val());
}

// ReLU6, Hardsigmoid, Hardswish and SELU: Name(), or Name(inplace=true), as libtorch prints ReLU6.
#define DYDX_INPLACE_ACTIVATION(Name, function)                                   \
  void Name##Impl::pretty_print(std::ostream& stream) const {                     \
    stream << "dydx::nn::" #Name "(";                                             \
    if (options.inplace()) stream << std::boolalpha << "inplace=" << options.inplace(); \
    stream << ")";                                                                \
  }                                                                               \
  Tensor Name##Impl::forward(Tensor input) {                                      \
    if (options.inplace()) return function##_(input);                             \
    return function(input);                                                       \
  }
DYDX_INPLACE_ACTIVATION(ReLU6, relu6)
DYDX_INPLACE_ACTIVATION(Hardsigmoid, hardsigmoid)
DYDX_INPLACE_ACTIVATION(Hardswish, hardswish)
DYDX_INPLACE_ACTIVATION(SELU, selu)
#undef DYDX_INPLACE_ACTIVATION

void MishImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::Mish()"; }
Tensor MishImpl::forward(const Tensor& input) { return mish(input); }

void LogSigmoidImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::LogSigmoid()"; }
Tensor LogSigmoidImpl::forward(const Tensor& input) { return logsigmoid(input); }

}  // namespace dydx::nn
