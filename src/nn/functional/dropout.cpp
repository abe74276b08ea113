// Dropout, composed of bernoulli and a product (as PyTorch's CPU _dropout): the product's own rules
// make it differentiable in both modes and at any order, with the noise saved as the product's factor.
#include "dydx/nn/functional.hpp"
#include "ops/op_util.hpp"

namespace dydx {
namespace {

// feature: one draw per [N, C] channel, broadcast over the other dims (dropout2d).
Tensor dropout_impl(const Tensor& input, double p, bool train, bool inplace, const Generator& generator,
                    bool feature = false) {
  DYDX_CHECK(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got ", p);
  DYDX_CHECK(is_floating_point(input.dtype()), "dropout: expected a floating point input, got ", input.dtype());
  DYDX_CHECK(!feature || input.dim() >= 2, "dropout2d: Feature dropout requires at least 2 dimensions in the input (got ",
             input.sizes(), ")");
  if (!train || p == 0) return input;
  // Before the draw: an expanded input would otherwise fail in mul_, after moving the generator.
  if (inplace) ops::check_writable(input, feature ? "dropout2d" : "dropout");
  Dims noise_shape(input.sizes().begin(), input.sizes().end());
  if (feature)
    for (size_t d = 2; d < noise_shape.size(); ++d) noise_shape[d] = 1;
  // 1 - p rounds to 1 for p below 2^-54; the kept elements are then scaled by exactly 1.
  auto draw_noise = [noise_shape, p, dtype = input.dtype(), generator](const TensorList&) {
    return bernoulli(empty(noise_shape, dtype), 1 - p, generator).div_(full({}, 1 - p, dtype));
  };
  // Under func::compile the noise is one draw of the recording (its scaling in place is the draw's own).
  Tensor noise = p == 1 ? zeros(noise_shape, input.dtype())
                 : detail::draw_is_recorded(generator)
                     ? compile::detail::record_draw(feature ? "dropout2d_noise" : "dropout_noise", generator, {}, draw_noise)
                     : draw_noise({});
  if (inplace) {
    Tensor self = input;
    return self.mul_(noise);
  }
  return input * noise;
}

}  // namespace

Tensor dropout(const Tensor& input, double p, bool train, const Generator& generator) {
  return dropout_impl(input, p, train, false, generator);
}
Tensor dropout(const Tensor& input, double p, bool train) { return dropout_impl(input, p, train, false, default_generator()); }

namespace nn::functional {

Tensor dropout(const Tensor& input, const DropoutFuncOptions& options, const Generator& generator) {
  return dropout_impl(input, options.p(), options.training(), options.inplace(), generator);
}
Tensor dropout(const Tensor& input, const DropoutFuncOptions& options) {
  return dropout_impl(input, options.p(), options.training(), options.inplace(), default_generator());
}

Tensor dropout2d(const Tensor& input, const Dropout2dFuncOptions& options, const Generator& generator) {
  return dropout_impl(input, options.p(), options.training(), options.inplace(), generator, true);
}
Tensor dropout2d(const Tensor& input, const Dropout2dFuncOptions& options) {
  return dropout_impl(input, options.p(), options.training(), options.inplace(), default_generator(), true);
}

}  // namespace nn::functional
}  // namespace dydx
