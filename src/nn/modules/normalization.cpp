// LayerNorm and BatchNorm modules: parameters, running-stat buffers and libtorch's forward logic.
#include "dydx/nn/modules/normalization.hpp"

#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/nn/init.hpp"
#include "layer_tensor.hpp"

namespace dydx::nn {

LayerNormImpl::LayerNormImpl(LayerNormOptions options) : options(std::move(options)) { reset(); }

void LayerNormImpl::reset() {
  for (int64_t s : options.normalized_shape())
    DYDX_CHECK(s >= 0, "nn::LayerNorm: normalized_shape must not have negative sizes");
  if (options.elementwise_affine()) {
    weight = register_parameter("weight", detail::layer_tensor("LayerNorm", "weight", options.normalized_shape()));
    bias = register_parameter("bias", detail::layer_tensor("LayerNorm", "bias", options.normalized_shape()));
  } else {
    weight = register_parameter("weight", Tensor(), /*requires_grad=*/false);
    bias = register_parameter("bias", Tensor(), /*requires_grad=*/false);
  }
  reset_parameters();
}

void LayerNormImpl::reset_parameters() {
  if (!options.elementwise_affine()) return;
  init::ones_(weight);
  init::zeros_(bias);
}

void LayerNormImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "dydx::nn::LayerNorm([";
  for (size_t i = 0; i < options.normalized_shape().size(); ++i) stream << (i ? ", " : "") << options.normalized_shape()[i];
  stream << "], eps=" << options.eps() << ", elementwise_affine=" << options.elementwise_affine() << ")";
}

Tensor LayerNormImpl::forward(const Tensor& input) {
  return functional::layer_norm(
      input, LayerNormFuncOptions(options.normalized_shape()).weight(weight).bias(bias).eps(options.eps()));
}

template <class Derived>
BatchNormImplBase<Derived>::BatchNormImplBase(const BatchNormOptions& options, const char* name) : options(options), kind_(name) {
  DYDX_CHECK(options.num_features() > 0, "nn::", name, ": num_features must be positive, got ", options.num_features());
  reset();
}

template <class Derived>
void BatchNormImplBase<Derived>::reset() {
  const int64_t n = options.num_features();
  if (options.affine()) {
    weight = this->register_parameter("weight", detail::layer_tensor(kind_, "weight", {n}));
    bias = this->register_parameter("bias", detail::layer_tensor(kind_, "bias", {n}));
  } else {
    weight = this->register_parameter("weight", Tensor(), /*requires_grad=*/false);
    bias = this->register_parameter("bias", Tensor(), /*requires_grad=*/false);
  }
  if (options.track_running_stats()) {
    // Filled by reset_parameters() below (reset_running_stats).
    running_mean = this->register_buffer("running_mean", detail::layer_tensor(kind_, "running_mean", {n}));
    running_var = this->register_buffer("running_var", detail::layer_tensor(kind_, "running_var", {n}));
    num_batches_tracked = this->register_buffer("num_batches_tracked", zeros({}, kInt64));
  } else {
    running_mean = this->register_buffer("running_mean", Tensor());
    running_var = this->register_buffer("running_var", Tensor());
    num_batches_tracked = this->register_buffer("num_batches_tracked", Tensor());
  }
  reset_parameters();
}

template <class Derived>
void BatchNormImplBase<Derived>::reset_running_stats() {
  if (!options.track_running_stats()) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  init::zeros_(num_batches_tracked);
}

template <class Derived>
void BatchNormImplBase<Derived>::reset_parameters() {
  reset_running_stats();
  if (!options.affine()) return;
  init::ones_(weight);
  init::zeros_(bias);
}

template <class Derived>
void BatchNormImplBase<Derived>::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "dydx::nn::" << kind_ << "(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=";
  if (options.momentum()) stream << *options.momentum();
  else stream << "None";
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats() << ")";
}

template <class Derived>
Tensor BatchNormImplBase<Derived>::forward(const Tensor& input) {
  check_input_dim(input);
  DYDX_CHECK(input.size(1) == options.num_features(), "nn::", kind_, ": expected input with ", options.num_features(),
             " channels (dim 1), got shape ", input.shape_string());
  // libtorch's BatchNormImplBase::forward: in training with running stats, count the batch and use
  // momentum, or 1 / batches for a cumulative average when momentum is unset. The count moves only
  // once batch_norm has accepted the input, so that a rejected call changes nothing.
  double factor = options.momentum().value_or(0.0);
  const bool count = this->is_training() && options.track_running_stats() && num_batches_tracked.defined();
  if (count && !options.momentum()) factor = 1.0 / (num_batches_tracked.item<double>() + 1.0);
  Tensor out = functional::batch_norm(input, running_mean, running_var,
                                      BatchNormFuncOptions()
                                          .weight(weight)
                                          .bias(bias)
                                          .training(this->is_training() || !options.track_running_stats())
                                          .momentum(factor)
                                          .eps(options.eps()));
  if (count) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  return out;
}

template class BatchNormImplBase<BatchNorm1dImpl>;
template class BatchNormImplBase<BatchNorm2dImpl>;

void BatchNorm1dImpl::check_input_dim(const Tensor& input) const {
  DYDX_CHECK(input.dim() == 2 || input.dim() == 3, "nn::BatchNorm1d: expected 2D or 3D input (got ", input.dim(),
             "D input)");
}

void BatchNorm2dImpl::check_input_dim(const Tensor& input) const {
  DYDX_CHECK(input.dim() == 4, "nn::BatchNorm2d: expected 4D input (got ", input.dim(), "D input)");
}

}  // namespace dydx::nn
