// Loss modules, as torch::nn's: each holds its options (as libtorch, class weights are registered
// as buffers, so to() converts them) and calls the loss of dydx::nn::functional.
#pragma once

#include "dydx/nn/functional.hpp"
#include "dydx/nn/module.hpp"

namespace dydx::nn {

#define DYDX_LOSS_MODULE(Name)                                           \
  class Name##Impl : public Cloneable<Name##Impl> {                      \
   public:                                                               \
    void reset() override {}                                             \
    explicit Name##Impl(const Name##Options& options = {});              \
    void pretty_print(std::ostream& stream) const override;              \
    Tensor forward(const Tensor& input, const Tensor& target);           \
    Name##Options options;                                               \
  };                                                                     \
  DYDX_MODULE(Name)

/// (input - target)^2, reduced.
DYDX_LOSS_MODULE(MSELoss);
/// |input - target|, reduced.
DYDX_LOSS_MODULE(L1Loss);
DYDX_LOSS_MODULE(SmoothL1Loss);
DYDX_LOSS_MODULE(HuberLoss);
#undef DYDX_LOSS_MODULE

/// Binary cross entropy of probabilities; options.weight() is the buffer "weight".
class BCELossImpl : public Cloneable<BCELossImpl> {
 public:
  /// Registers the options' tensors as buffers.
  void reset() override;
  explicit BCELossImpl(const BCELossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  BCELossOptions options;
  Tensor weight;
};
DYDX_MODULE(BCELoss);

/// Binary cross entropy of logits; buffers "weight" and "pos_weight".
class BCEWithLogitsLossImpl : public Cloneable<BCEWithLogitsLossImpl> {
 public:
  /// Registers the options' tensors as buffers.
  void reset() override;
  explicit BCEWithLogitsLossImpl(const BCEWithLogitsLossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  BCEWithLogitsLossOptions options;
  Tensor weight;
  Tensor pos_weight;
};
DYDX_MODULE(BCEWithLogitsLoss);

/// Negative log likelihood of log-probabilities at int64 class targets; buffer "weight".
class NLLLossImpl : public Cloneable<NLLLossImpl> {
 public:
  /// Registers the options' tensors as buffers.
  void reset() override;
  explicit NLLLossImpl(const NLLLossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  NLLLossOptions options;
  Tensor weight;
};
DYDX_MODULE(NLLLoss);

/// log_softmax then nll_loss (or class probabilities as the target); buffer "weight".
class CrossEntropyLossImpl : public Cloneable<CrossEntropyLossImpl> {
 public:
  /// Registers the options' tensors as buffers.
  void reset() override;
  explicit CrossEntropyLossImpl(const CrossEntropyLossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  CrossEntropyLossOptions options;
  Tensor weight;
};
DYDX_MODULE(CrossEntropyLoss);

}  // namespace dydx::nn
