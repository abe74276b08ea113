// nn::Dropout, as torch::nn::Dropout: in training mode zeroes each element with probability p and
// scales the rest by 1 / (1 - p) (F::dropout); in eval mode returns its input.
#pragma once

#include "dydx/detail/option.hpp"
#include "dydx/nn/module.hpp"

namespace dydx::nn {

struct DropoutOptions {
  DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT: libtorch's spelling
  /// The probability of zeroing an element, in [0, 1].
  DYDX_ARG(double, p);
  /// Scale the input itself in place.
  DYDX_ARG(bool, inplace) = false;
};

class DropoutImpl : public Cloneable<DropoutImpl> {
 public:
  void reset() override {}
  explicit DropoutImpl(double p) : DropoutImpl(DropoutOptions(p)) {}
  explicit DropoutImpl(const DropoutOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(Tensor input);
  DropoutOptions options;
};
DYDX_MODULE(Dropout);

}  // namespace dydx::nn
