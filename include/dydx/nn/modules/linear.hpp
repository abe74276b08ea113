// nn::Linear, nn::Identity, nn::Flatten and nn::Unflatten, as torch::nn's.
#pragma once

#include <vector>

#include "dydx/detail/option.hpp"
#include "dydx/nn/module.hpp"

namespace dydx::nn {

/// The options of Linear: LinearOptions(in, out).bias(false).
struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  DYDX_ARG(int64_t, in_features);
  DYDX_ARG(int64_t, out_features);
  /// Whether to learn an additive bias.
  DYDX_ARG(bool, bias) = true;
};

/// y = x W^T + b for x [*, in_features]: weight [out_features, in_features], bias [out_features].
/// Initialised as PyTorch's: weight kaiming_uniform_ with a = sqrt(5), that is uniform on
/// +-1/sqrt(in_features), and bias uniform on +-1/sqrt(in_features).
class LinearImpl : public Cloneable<LinearImpl> {
 public:
  LinearImpl(int64_t in_features, int64_t out_features) : LinearImpl(LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(const LinearOptions& options);

  /// Registers fresh parameters (all the constructor does), then reset_parameters().
  void reset() override;
  /// Draws the weight and bias again from PyTorch's default distributions.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);

  LinearOptions options;
  Tensor weight;
  /// Undefined when options.bias() is false.
  Tensor bias;
};
DYDX_MODULE(Linear);

/// Returns its input.
class IdentityImpl : public Cloneable<IdentityImpl> {
 public:
  void reset() override {}
  IdentityImpl() = default;
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(Identity);

struct FlattenOptions {
  DYDX_ARG(int64_t, start_dim) = 1;
  DYDX_ARG(int64_t, end_dim) = -1;
};

/// input.flatten(start_dim, end_dim); by default every dim but the batch dim.
class FlattenImpl : public Cloneable<FlattenImpl> {
 public:
  void reset() override {}
  explicit FlattenImpl(const FlattenOptions& options = {}) : options(options) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);

  FlattenOptions options;
};
DYDX_MODULE(Flatten);

struct UnflattenOptions {
  UnflattenOptions(int64_t dim, std::vector<int64_t> sizes) : dim_(dim), sizes_(std::move(sizes)) {}
  DYDX_ARG(int64_t, dim);
  DYDX_ARG(std::vector<int64_t>, sizes);
};

/// input.unflatten(dim, sizes).
class UnflattenImpl : public Cloneable<UnflattenImpl> {
 public:
  void reset() override {}
  UnflattenImpl(int64_t dim, std::vector<int64_t> sizes) : UnflattenImpl(UnflattenOptions(dim, std::move(sizes))) {}
  explicit UnflattenImpl(UnflattenOptions options) : options(std::move(options)) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);

  UnflattenOptions options;
};
DYDX_MODULE(Unflatten);

}  // namespace dydx::nn
