// The loss modules: options in, the functional loss out; class weights live in buffers.
#include "dydx/nn/modules/loss.hpp"

namespace dydx::nn {
namespace F = functional;

MSELossImpl::MSELossImpl(const MSELossOptions& options) : options(options) {}
void MSELossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::MSELoss()"; }
Tensor MSELossImpl::forward(const Tensor& input, const Tensor& target) { return F::mse_loss(input, target, options); }

L1LossImpl::L1LossImpl(const L1LossOptions& options) : options(options) {}
void L1LossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::L1Loss()"; }
Tensor L1LossImpl::forward(const Tensor& input, const Tensor& target) { return F::l1_loss(input, target, options); }

SmoothL1LossImpl::SmoothL1LossImpl(const SmoothL1LossOptions& options) : options(options) {}
void SmoothL1LossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::SmoothL1Loss"; }
Tensor SmoothL1LossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::smooth_l1_loss(input, target, options);
}

HuberLossImpl::HuberLossImpl(const HuberLossOptions& options) : options(options) {}
void HuberLossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::HuberLoss()"; }
Tensor HuberLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::huber_loss(input, target, options);
}

BCELossImpl::BCELossImpl(const BCELossOptions& options) : options(options) { reset(); }
void BCELossImpl::reset() {
  weight = register_buffer("weight", options.weight());
}
void BCELossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::BCELoss()"; }
Tensor BCELossImpl::forward(const Tensor& input, const Tensor& target) {
  BCELossOptions o = options;
  o.weight(weight);
  return F::binary_cross_entropy(input, target, o);
}

BCEWithLogitsLossImpl::BCEWithLogitsLossImpl(const BCEWithLogitsLossOptions& options) : options(options) { reset(); }
void BCEWithLogitsLossImpl::reset() {
  weight = register_buffer("weight", options.weight());
  pos_weight = register_buffer("pos_weight", options.pos_weight());
}
void BCEWithLogitsLossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::BCEWithLogitsLoss()"; }
Tensor BCEWithLogitsLossImpl::forward(const Tensor& input, const Tensor& target) {
  BCEWithLogitsLossOptions o = options;
  o.weight(weight).pos_weight(pos_weight);
  return F::binary_cross_entropy_with_logits(input, target, o);
}

NLLLossImpl::NLLLossImpl(const NLLLossOptions& options) : options(options) { reset(); }
void NLLLossImpl::reset() {
  weight = register_buffer("weight", options.weight());
}
void NLLLossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::NLLLoss()"; }
Tensor NLLLossImpl::forward(const Tensor& input, const Tensor& target) {
  NLLLossOptions o = options;
  o.weight(weight);
  return F::nll_loss(input, target, o);
}

CrossEntropyLossImpl::CrossEntropyLossImpl(const CrossEntropyLossOptions& options) : options(options) { reset(); }
void CrossEntropyLossImpl::reset() {
  weight = register_buffer("weight", options.weight());
}
void CrossEntropyLossImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::CrossEntropyLoss()"; }
Tensor CrossEntropyLossImpl::forward(const Tensor& input, const Tensor& target) {
  CrossEntropyLossOptions o = options;
  o.weight(weight);
  return F::cross_entropy(input, target, o);
}

}  // namespace dydx::nn
