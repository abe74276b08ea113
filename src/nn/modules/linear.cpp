// nn::Linear (with PyTorch's default initialisation), Identity, Flatten, Unflatten.
#include "dydx/nn/modules/linear.hpp"

#include <cmath>

#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/nn/init.hpp"
#include "dydx/ops.hpp"
#include "layer_tensor.hpp"

namespace dydx::nn {

LinearImpl::LinearImpl(const LinearOptions& options) : options(options) {
  DYDX_CHECK(options.in_features() >= 0 && options.out_features() >= 0,
             "nn::Linear: in_features and out_features must not be negative, got in_features=",
             options.in_features(), " and out_features=", options.out_features());
  reset();
}

void LinearImpl::reset() {
  weight = register_parameter("weight", detail::layer_tensor("Linear", "weight", {options.out_features(), options.in_features()}));
  bias = register_parameter("bias", options.bias() ? detail::layer_tensor("Linear", "bias", {options.out_features()}) : Tensor(),
                            /*requires_grad=*/options.bias());
  reset_parameters();
}

void LinearImpl::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const auto [fan_in, fan_out] = init::_calculate_fan_in_and_fan_out(weight);
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

void LinearImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "dydx::nn::Linear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << options.bias() << ")";
}

Tensor LinearImpl::forward(const Tensor& input) {
  // PyTorch's messages: the product sees the input as a matrix of its leading dims by its last.
  DYDX_CHECK(input.dim() >= 1, "linear: both arguments to linear need to be at least 1D, but they are ", input.dim(),
             "D and ", weight.dim(), "D");
  if (input.size(-1) != weight.size(1)) {
    int64_t rows = 1;
    for (int64_t d = 0; d + 1 < input.dim(); ++d) rows *= input.size(d);
    ::dydx::detail::fail("linear: mat1 and mat2 shapes cannot be multiplied (", rows, "x", input.size(-1), " and ",
                         weight.size(1), "x", weight.size(0), ")");
  }
  return linear(input, weight, bias);
}

void IdentityImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::Identity()"; }
Tensor IdentityImpl::forward(const Tensor& input) { return input; }

void FlattenImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::Flatten(start_dim=" << options.start_dim() << ", end_dim=" << options.end_dim() << ")";
}
Tensor FlattenImpl::forward(const Tensor& input) { return input.flatten(options.start_dim(), options.end_dim()); }

void UnflattenImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::Unflatten(dim=" << options.dim() << ", unflattened_size={";
  for (size_t i = 0; i < options.sizes().size(); ++i) stream << (i ? ", " : "") << options.sizes()[i];
  stream << "})";
}
Tensor UnflattenImpl::forward(const Tensor& input) { return input.unflatten(options.dim(), options.sizes()); }

}  // namespace dydx::nn
