// nn::LayerNorm, nn::BatchNorm1d and nn::BatchNorm2d, as torch::nn's, over F::layer_norm and
// F::batch_norm. BatchNorm keeps running_mean, running_var and num_batches_tracked as buffers,
// updates them in training mode (momentum, or a cumulative average when momentum is unset) and
// normalises with them in eval mode.
#pragma once

#include <optional>
#include <vector>

#include "dydx/detail/option.hpp"
#include "dydx/nn/module.hpp"
#include "dydx/nn/normalization.hpp"

namespace dydx::nn {

struct LayerNormOptions {
  LayerNormOptions(std::vector<int64_t> normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  DYDX_ARG(std::vector<int64_t>, normalized_shape);
  DYDX_ARG(double, eps) = 1e-5;
  /// Learn a weight (ones) and bias (zeros) of normalized_shape.
  DYDX_ARG(bool, elementwise_affine) = true;
};

class LayerNormImpl : public Cloneable<LayerNormImpl> {
 public:
  LayerNormImpl(std::vector<int64_t> normalized_shape) : LayerNormImpl(LayerNormOptions(std::move(normalized_shape))) {}
  explicit LayerNormImpl(LayerNormOptions options);
  void reset() override;
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
  LayerNormOptions options;
  Tensor weight, bias;
};
DYDX_MODULE(LayerNorm);

struct BatchNormOptions {
  BatchNormOptions(int64_t num_features) : num_features_(num_features) {}
  DYDX_ARG(int64_t, num_features);
  DYDX_ARG(double, eps) = 1e-5;
  /// Unset: the running stats are the cumulative average over the batches seen.
  DYDX_ARG(std::optional<double>, momentum) = 0.1;
  DYDX_ARG(bool, affine) = true;
  DYDX_ARG(bool, track_running_stats) = true;
};

/// What BatchNorm1d and BatchNorm2d share.
template <class Derived>
class BatchNormImplBase : public Cloneable<Derived> {
 public:
  void reset() override;
  /// Running stats back to mean 0, variance 1, no batches.
  void reset_running_stats();
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);

  BatchNormOptions options;
  Tensor weight, bias;
  Tensor running_mean, running_var, num_batches_tracked;

 protected:
  BatchNormImplBase(const BatchNormOptions& options, const char* name);
  virtual void check_input_dim(const Tensor& input) const = 0;
  const char* kind_;  // "BatchNorm1d" or "BatchNorm2d", for printing and messages
};

class BatchNorm1dImpl : public BatchNormImplBase<BatchNorm1dImpl> {
 public:
  BatchNorm1dImpl(int64_t num_features) : BatchNorm1dImpl(BatchNormOptions(num_features)) {}
  explicit BatchNorm1dImpl(const BatchNormOptions& options) : BatchNormImplBase<BatchNorm1dImpl>(options, "BatchNorm1d") {}

 protected:
  void check_input_dim(const Tensor& input) const override;
};
DYDX_MODULE(BatchNorm1d);

class BatchNorm2dImpl : public BatchNormImplBase<BatchNorm2dImpl> {
 public:
  BatchNorm2dImpl(int64_t num_features) : BatchNorm2dImpl(BatchNormOptions(num_features)) {}
  explicit BatchNorm2dImpl(const BatchNormOptions& options) : BatchNormImplBase<BatchNorm2dImpl>(options, "BatchNorm2d") {}

 protected:
  void check_input_dim(const Tensor& input) const override;
};
DYDX_MODULE(BatchNorm2d);

}  // namespace dydx::nn
