// Loss modules, as torch::nn's: each holds its options (as libtorch, class weights are registered
// as buffers, so to() converts them) and calls the loss of dydx::nn::functional.
#pragma once

#include "dydx/nn/functional.hpp"
#include "dydx/nn/module.hpp"

namespace dydx::nn {

#define DYDX_LOSS_MODULE(Name)                                           \
  class Name##Impl : public Module {                                     \
   public:                                                               \
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
class BCELossImpl : public Module {
 public:
  explicit BCELossImpl(const BCELossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  BCELossOptions options;
  Tensor weight;
};
DYDX_MODULE(BCELoss);

/// Binary cross entropy of logits; buffers "weight" and "pos_weight".
class BCEWithLogitsLossImpl : public Module {
 public:
  explicit BCEWithLogitsLossImpl(const BCEWithLogitsLossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  BCEWithLogitsLossOptions options;
  Tensor weight;
  Tensor pos_weight;
};
DYDX_MODULE(BCEWithLogitsLoss);

/// Negative log likelihood of log-probabilities at int64 class targets; buffer "weight".
class NLLLossImpl : public Module {
 public:
  explicit NLLLossImpl(const NLLLossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  NLLLossOptions options;
  Tensor weight;
};
DYDX_MODULE(NLLLoss);

/// log_softmax then nll_loss (or class probabilities as the target); buffer "weight".
class CrossEntropyLossImpl : public Module {
 public:
  explicit CrossEntropyLossImpl(const CrossEntropyLossOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input, const Tensor& target);
  CrossEntropyLossOptions options;
  Tensor weight;
};
DYDX_MODULE(CrossEntropyLoss);

}  // namespace dydx::nn
