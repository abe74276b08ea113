// Losses spelled as libtorch's torch::nn::functional (namespace F = dydx::nn::functional), with
// libtorch's options objects and chained setters:
//   F::mse_loss(input, target, F::MSELossFuncOptions().reduction(dydx::kSum));
//   F::cross_entropy(logits, classes, F::CrossEntropyFuncOptions().label_smoothing(0.1).ignore_index(-100));
// Each loss is composed of differentiable dydx ops, so every mode and order of differentiation works
// through it (gradients, Hessians, forward mode, the transforms). Reductions are PyTorch's: kNone
// keeps one loss per element (per sample for nll_loss and cross_entropy), kSum adds them, and kMean
// (the default) averages them (nll_loss and cross_entropy with class weights divide by the sum of
// the weights of the targets that are not ignored). Bad input (mismatched shapes, class indices out
// of range, a BCE input outside [0, 1]) raises dydx::Error naming the loss, before anything is computed.
#pragma once

#include <variant>

#include "dydx/detail/option.hpp"
#include "dydx/nn/conv.hpp"
#include "dydx/nn/normalization.hpp"
#include "dydx/nn/padding.hpp"
#include "dydx/tensor.hpp"

namespace dydx {

/// The reductions, as torch::kNone, torch::kMean and torch::kSum.
namespace enumtype {
struct kNone {};
struct kMean {};
struct kSum {};
}  // namespace enumtype
inline constexpr enumtype::kNone kNone{};
inline constexpr enumtype::kMean kMean{};
inline constexpr enumtype::kSum kSum{};

namespace nn {


/// The reduction option, also accepted on its own where the options are (F::mse_loss(a, b, dydx::kSum)).
#define DYDX_REDUCTION_OPTION(Options)                                                    \
 public:                                                                                  \
  using reduction_t = std::variant<enumtype::kNone, enumtype::kMean, enumtype::kSum>;     \
  Options() = default;                                                                    \
  Options(enumtype::kNone r) : reduction_(r) {}                                           \
  Options(enumtype::kMean r) : reduction_(r) {}                                           \
  Options(enumtype::kSum r) : reduction_(r) {}                                            \
  DYDX_ARG(reduction_t, reduction) = kMean

struct MSELossOptions {
  DYDX_REDUCTION_OPTION(MSELossOptions);
};
struct L1LossOptions {
  DYDX_REDUCTION_OPTION(L1LossOptions);
};
struct SmoothL1LossOptions {
  DYDX_REDUCTION_OPTION(SmoothL1LossOptions);
  /// Where the loss turns from quadratic to linear; 0 makes it l1_loss, and it must not be negative.
  DYDX_ARG(double, beta) = 1.0;
};
struct HuberLossOptions {
  DYDX_REDUCTION_OPTION(HuberLossOptions);
  /// Where the loss turns from quadratic to linear; must be positive.
  DYDX_ARG(double, delta) = 1.0;
};
struct BCELossOptions {
  DYDX_REDUCTION_OPTION(BCELossOptions);
  /// Rescales each element's loss; broadcasts to the input's shape (undefined: none).
  DYDX_ARG(Tensor, weight) = {};
};
struct BCEWithLogitsLossOptions {
  DYDX_REDUCTION_OPTION(BCEWithLogitsLossOptions);
  DYDX_ARG(Tensor, weight) = {};
  /// The weight of positive examples, per class (broadcast along the last dim); undefined: 1.
  DYDX_ARG(Tensor, pos_weight) = {};
};
struct NLLLossOptions {
  DYDX_REDUCTION_OPTION(NLLLossOptions);
  /// One weight per class, [C] (undefined: all 1).
  DYDX_ARG(Tensor, weight) = {};
  /// A target with this class index contributes nothing, to the loss or to the mean's denominator.
  DYDX_ARG(int64_t, ignore_index) = -100;
};
struct CrossEntropyLossOptions {
  DYDX_REDUCTION_OPTION(CrossEntropyLossOptions);
  DYDX_ARG(Tensor, weight) = {};
  DYDX_ARG(int64_t, ignore_index) = -100;
  /// In [0, 1]: the target becomes (1 - label_smoothing) of itself plus label_smoothing spread evenly over the classes.
  DYDX_ARG(double, label_smoothing) = 0.0;
};

#undef DYDX_REDUCTION_OPTION

namespace functional {

using MSELossFuncOptions = MSELossOptions;
using L1LossFuncOptions = L1LossOptions;
using SmoothL1LossFuncOptions = SmoothL1LossOptions;
using HuberLossFuncOptions = HuberLossOptions;
using BinaryCrossEntropyFuncOptions = BCELossOptions;
using BinaryCrossEntropyWithLogitsFuncOptions = BCEWithLogitsLossOptions;
using NLLLossFuncOptions = NLLLossOptions;
using CrossEntropyFuncOptions = CrossEntropyLossOptions;

/// Options of dropout, as libtorch's DropoutFuncOptions (p, training, inplace).
struct DropoutFuncOptions {
  /// The probability of zeroing an element, in [0, 1].
  DYDX_ARG(double, p) = 0.5;
  /// Off: dropout returns its input unchanged.
  DYDX_ARG(bool, training) = true;
  /// On: the input itself is scaled in place (and returned).
  DYDX_ARG(bool, inplace) = false;
};
using Dropout2dFuncOptions = DropoutFuncOptions;

/// (input - target)^2; input and target broadcast.
Tensor mse_loss(const Tensor& input, const Tensor& target, const MSELossFuncOptions& options = {});
/// |input - target|; input and target broadcast.
Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossFuncOptions& options = {});
/// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = input - target.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const SmoothL1LossFuncOptions& options = {});
/// 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta).
Tensor huber_loss(const Tensor& input, const Tensor& target, const HuberLossFuncOptions& options = {});
/// -weight (target log(input) + (1 - target) log(1 - input)), each log clamped at -100 as PyTorch's;
/// input (probabilities in [0, 1]) and target have the same shape.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BinaryCrossEntropyFuncOptions& options = {});
/// binary_cross_entropy(sigmoid(input), target) computed stably from the logits, with pos_weight
/// weighting the positive term.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BinaryCrossEntropyWithLogitsFuncOptions& options = {});
/// -weight[c] input[n, c] at each target class c = target[n]: input [N, C] (or [C], or [N, C, d1, ...])
/// of log-probabilities, target int64 [N] (or [], or [N, d1, ...]) of class indices in [0, C).
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossFuncOptions& options = {});
/// nll_loss(log_softmax(input, class dim), target) for int64 class indices, or
/// -sum(target * log_softmax(input)) over the class dim for a floating target of class probabilities
/// (input's shape), with label_smoothing and class weights as PyTorch's. Logits [N, C] with class
/// indices (no smoothing, a weight nothing differentiates) are one op, grad_fn NllLossBackward0 (for
/// reduction none; the mean and sum follow it): the same loss bit for bit, and a backward without
/// create_graph of one pass, from softmax(input), which the forward keeps where a backward follows (the
/// one [N, C] tensor the loss holds, as PyTorch's holds log_softmax's output; the logits may be
/// written in place after the forward).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyFuncOptions& options = {});

/// torch.nn.functional.one_hot: int64 class indices in, int64 out with a last dim of num_classes
/// (-1: the largest class + 1) holding 1 at each class. Not differentiable.
Tensor one_hot(const Tensor& tensor, int64_t num_classes = -1);

/// Zeroes each element with probability p and scales the others by 1 / (1 - p), as input * noise
/// (noise = bernoulli(1 - p) / (1 - p), saved by the product), so it is differentiable in every mode
/// and order, and its grad_fn is MulBackward0 as in PyTorch. p = 1 gives input * 0. The third argument
/// (a dydx addition; libtorch has none) draws the noise from that generator instead of the default.
Tensor dropout(const Tensor& input, const DropoutFuncOptions& options = {});
Tensor dropout(const Tensor& input, const DropoutFuncOptions& options, const Generator& generator);
/// Zeroes whole channels: input [N, C, ...] (at least 2 dims, as PyTorch 1.13's feature dropout,
/// which also reads a 3-D input as [N, C, L]) times noise of shape [N, C, 1, ...].
Tensor dropout2d(const Tensor& input, const Dropout2dFuncOptions& options = {});
Tensor dropout2d(const Tensor& input, const Dropout2dFuncOptions& options, const Generator& generator);


}  // namespace functional
}  // namespace nn
}  // namespace dydx
