// batch_norm, composed of differentiable dydx ops (mean, var and arithmetic) with PyTorch 1.13's checks
// and running-stat updates, and nn::functional's spellings of it and of layer_norm (src/ops/layer_norm.cpp).
// Composed rather than fused: the statistics take two reductions over the input (mean, then var's
// own two-pass kernel) and the affine part four elementwise passes; the derivatives of every order
// come from those ops' rules.
#include <cmath>
#include <utility>

#include "core/overlap.hpp"

#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/nn/functional.hpp"
#include "dydx/ops.hpp"

namespace dydx {
namespace {

// x normalised by mean and var (already shaped to broadcast against it), then scaled and shifted.
Tensor normalise(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& weight, const Tensor& bias,
                 double eps) {
  Tensor out = (x - mean) / sqrt(var + eps);
  if (weight.defined()) out = out * weight;
  if (bias.defined()) out = out + bias;
  return out;
}

void check_channel_tensor(const Tensor& t, int64_t channels, const char* name) {
  DYDX_CHECK(!t.defined() || t.numel() == channels, "batch_norm: ", name, " should contain ", channels,
             " elements not ", t.numel(), " (shape ", t.sizes(), ")");
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps, bool) {
  DYDX_CHECK(input.defined(), "batch_norm: called on an undefined tensor");
  DYDX_CHECK(input.dim() >= 2, "batch_norm: expected an input of shape [N, C, *] (2-D or more), got shape ",
             input.sizes());
  DYDX_CHECK(input.is_floating_point(), "batch_norm: expected a floating point input, got ", input.dtype());
  const int64_t channels = input.size(1);
  check_channel_tensor(running_mean, channels, "running_mean");
  check_channel_tensor(running_var, channels, "running_var");
  check_channel_tensor(weight, channels, "weight");
  check_channel_tensor(bias, channels, "bias");
  for (const Tensor* t : {&running_mean, &running_var})
    DYDX_CHECK(!t->defined() || t->is_floating_point(), "batch_norm: running stats must be floating point, got ",
               t->dtype());
  // PyTorch 1.13 rejects mixed dtypes on CPU ("mixed dtype (CPU): expect parameter to have scalar
  // type of Float"), in training and evaluation alike: a float32 running stat would take a float64
  // batch's statistics rounded.
  const std::pair<const Tensor*, const char*> per_channel_tensors[] = {
      {&running_mean, "running_mean"}, {&running_var, "running_var"}, {&weight, "weight"}, {&bias, "bias"}};
  for (const auto& named : per_channel_tensors)
    DYDX_CHECK(!named.first->defined() || named.first->dtype() == input.dtype(), "batch_norm: ", named.second,
               " has dtype ", named.first->dtype(), " but the input has ", input.dtype(),
               " (mixed dtypes are not supported, as in PyTorch)");
  // Training writes the running stats in place: each must be writable element by element, checked
  // here so that nothing is written when one of them is not (an expanded running_var would
  // otherwise raise in its own update, after running_mean's).
  if (training)
    for (int i = 0; i < 2; ++i) {
      const Tensor& stat = *per_channel_tensors[i].first;
      DYDX_CHECK(!stat.defined() || !detail::has_internal_overlap(stat.sizes(), stat.strides()), "batch_norm: ",
                 per_channel_tensors[i].second, " (shape ", stat.sizes(), ", strides ", stat.strides(),
                 ") has elements that share memory (an expanded tensor?), so the running stats can't be updated in "
                 "place");
    }
  // Per-channel tensors broadcast as [C, 1, ..., 1] against [N, C, *].
  Dims channel_shape(static_cast<size_t>(input.dim() - 1), 1);
  channel_shape[0] = channels;
  auto per_channel = [&](const Tensor& t) { return t.defined() ? t.reshape(channel_shape) : t; };
  if (!training) {
    DYDX_CHECK(running_mean.defined() && running_var.defined(),
               "batch_norm: running_mean and running_var must be defined in evaluation mode");
    return normalise(input, per_channel(running_mean), per_channel(running_var), per_channel(weight), per_channel(bias),
                     eps);
  }
  if (input.numel() == 0) {
    // PyTorch 1.13 (_batch_norm_impl_index): an empty batch has no statistics, so it returns the
    // empty input scaled and shifted (a fresh tensor with history, so that weight and bias get zero
    // gradients) and leaves the running stats alone; the module still counts the batch. PyTorch
    // also skips every check on this path (wrong channel counts, integer or mixed dtypes pass);
    // dydx checks an empty batch as it does any other, above.
    Tensor out = input.clone();
    if (weight.defined()) out = out * per_channel(weight);
    if (bias.defined()) out = out + per_channel(bias);
    return out;
  }
  // PyTorch's check is on this count being exactly 1 (torch/nn/functional.py _verify_batch_size);
  // an empty batch (0) was handled above.
  const int64_t per_value = input.numel() / channels;
  DYDX_CHECK(per_value > 1, "batch_norm: Expected more than 1 value per channel when training, got input size ",
             input.sizes());
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
  const Tensor mean = input.mean(dims, true);
  const Tensor var = input.var(dims, std::optional<int64_t>(0), true);
  Tensor out = normalise(input, mean, var, per_channel(weight), per_channel(bias), eps);
  // The running stats are written last, once nothing else can raise, from detached statistics: they
  // carry neither history nor forward-mode tangents.
  NoGradGuard no_grad;
  if (running_mean.defined()) {
    Tensor r = running_mean;
    r.mul_(1 - momentum).add_(mean.detach().reshape({channels}).to(r.dtype()), momentum);
  }
  if (running_var.defined()) {
    const double n = static_cast<double>(per_value);
    Tensor r = running_var;
    r.mul_(1 - momentum).add_((var.detach().reshape({channels}) * (n / (n - 1))).to(r.dtype()), momentum);
  }
  return out;
}

namespace nn::functional {

Tensor layer_norm(const Tensor& input, const LayerNormFuncOptions& options) {
  return dydx::layer_norm(input, options.normalized_shape(), options.weight(), options.bias(), options.eps());
}

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormFuncOptions& options) {
  DYDX_CHECK(options.momentum().has_value() || !options.training(),
             "batch_norm: momentum must be given (a cumulative average is the BatchNorm module's, not the function's)");
  return dydx::batch_norm(input, options.weight(), options.bias(), running_mean, running_var, options.training(),
                          options.momentum().value_or(0.1), options.eps());
}

}  // namespace nn::functional
}  // namespace dydx
