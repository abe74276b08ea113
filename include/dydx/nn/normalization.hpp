// Normalisation layers' functions as libtorch's torch::nn::functional spells them:
//   F::layer_norm(x, F::LayerNormFuncOptions({4}).weight(w).bias(b).eps(1e-5));
//   F::batch_norm(x, running_mean, running_var, F::BatchNormFuncOptions().weight(w).training(true));
// layer_norm is one record (a fused forward, closed-form rules written with differentiable ops);
// batch_norm is composed of differentiable ops (mean, var, arithmetic). Every mode and order of
// differentiation works through both; bad shapes raise dydx::Error before anything is computed or
// any running stat is written.
#pragma once

#include <optional>
#include <vector>

#include "dydx/detail/option.hpp"
#include "dydx/tensor.hpp"

namespace dydx::nn {

struct LayerNormFuncOptions {
  LayerNormFuncOptions(std::vector<int64_t> normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  /// The trailing dims normalised over (the input's last dims must be these).
  DYDX_ARG(std::vector<int64_t>, normalized_shape);
  /// Elementwise affine weight and bias of normalized_shape (undefined: none).
  DYDX_ARG(Tensor, weight) = {};
  DYDX_ARG(Tensor, bias) = {};
  DYDX_ARG(double, eps) = 1e-5;
};

struct BatchNormFuncOptions {
  /// Per-channel affine weight and bias, [C] (undefined: none).
  DYDX_ARG(Tensor, weight) = {};
  DYDX_ARG(Tensor, bias) = {};
  /// Batch statistics (and running-stat updates) when true; the running stats when false.
  DYDX_ARG(bool, training) = false;
  /// The running stats become (1 - momentum) of themselves plus momentum of the batch's.
  DYDX_ARG(std::optional<double>, momentum) = 0.1;
  DYDX_ARG(double, eps) = 1e-5;
};

namespace functional {

using LayerNormFuncOptions = nn::LayerNormFuncOptions;
using BatchNormFuncOptions = nn::BatchNormFuncOptions;

/// torch::nn::functional::layer_norm (dydx::layer_norm with the options' arguments).
Tensor layer_norm(const Tensor& input, const LayerNormFuncOptions& options);
/// torch::nn::functional::batch_norm (dydx::batch_norm with the options' arguments); running_mean and
/// running_var may be undefined in training, and are updated in place there.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormFuncOptions& options = {});

}  // namespace functional
}  // namespace dydx::nn
