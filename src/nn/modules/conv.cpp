// nn::Conv1d and nn::Conv2d: checks, PyTorch's default initialisation, libtorch's printing.
#include "dydx/nn/modules/conv.hpp"

#include <cmath>

#include "dydx/creation.hpp"
#include "dydx/nn/init.hpp"
#include "layer_tensor.hpp"

namespace dydx::nn {
namespace {

template <size_t D>
std::ostream& print_array(std::ostream& stream, const ExpandingArray<D>& a) {
  stream << "[";
  for (size_t i = 0; i < D; ++i) stream << (i ? ", " : "") << a[i];
  return stream << "]";
}

}  // namespace

template <size_t D, class Derived>
ConvNdImpl<D, Derived>::ConvNdImpl(const ConvOptions<D>& options) : options(options) {
  const char* name = D == 1 ? "nn::Conv1d" : "nn::Conv2d";
  DYDX_CHECK(options.in_channels() > 0 && options.out_channels() > 0, name,
             ": in_channels and out_channels must be positive, got ", options.in_channels(), " and ",
             options.out_channels());
  DYDX_CHECK(options.groups() > 0, name, ": groups must be a positive integer, got ", options.groups());
  DYDX_CHECK(options.in_channels() % options.groups() == 0, name, ": in_channels must be divisible by groups (",
             options.in_channels(), " and ", options.groups(), ")");
  DYDX_CHECK(options.out_channels() % options.groups() == 0, name, ": out_channels must be divisible by groups (",
             options.out_channels(), " and ", options.groups(), ")");
  for (size_t i = 0; i < D; ++i) {
    DYDX_CHECK(options.kernel_size()[i] > 0, name, ": kernel_size must be positive");
    DYDX_CHECK(options.stride()[i] > 0, name, ": stride must be positive");
    DYDX_CHECK(options.dilation()[i] > 0, name, ": dilation must be positive");
  }
  if (const auto* pad = std::get_if<ExpandingArray<D>>(&options.padding()))
    for (size_t i = 0; i < D; ++i) DYDX_CHECK((*pad)[i] >= 0, name, ": padding must not be negative");
  if (std::holds_alternative<enumtype::kSame>(options.padding()))
    for (size_t i = 0; i < D; ++i)
      DYDX_CHECK(options.stride()[i] == 1, name, ": padding='same' is not supported for strided convolutions");
  reset();
}

template <size_t D, class Derived>
void ConvNdImpl<D, Derived>::reset() {
  std::vector<int64_t> shape{options.out_channels(), options.in_channels() / options.groups()};
  for (size_t i = 0; i < D; ++i) shape.push_back(options.kernel_size()[i]);
  weight = this->register_parameter("weight", detail::layer_tensor(D == 1 ? "Conv1d" : "Conv2d", "weight", shape));
  bias = options.bias() ? this->register_parameter("bias", detail::layer_tensor(D == 1 ? "Conv1d" : "Conv2d", "bias", {options.out_channels()}))
                        : this->register_parameter("bias", Tensor(), /*requires_grad=*/false);
  reset_parameters();
}

template <size_t D, class Derived>
void ConvNdImpl<D, Derived>::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const auto [fan_in, fan_out] = init::_calculate_fan_in_and_fan_out(weight);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    init::uniform_(bias, -bound, bound);
  }
}

template <size_t D, class Derived>
void ConvNdImpl<D, Derived>::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::Conv" << D << "d(" << options.in_channels() << ", " << options.out_channels()
         << ", kernel_size=";
  print_array(stream, options.kernel_size()) << ", stride=";
  print_array(stream, options.stride());
  if (std::holds_alternative<enumtype::kValid>(options.padding())) stream << ", padding='valid'";
  if (std::holds_alternative<enumtype::kSame>(options.padding())) stream << ", padding='same'";
  if (const auto* pad = std::get_if<ExpandingArray<D>>(&options.padding()); pad && !(*pad == ExpandingArray<D>(0))) {
    stream << ", padding=";
    print_array(stream, *pad);
  }
  if (!(options.dilation() == ExpandingArray<D>(1))) {
    stream << ", dilation=";
    print_array(stream, options.dilation());
  }
  if (options.groups() != 1) stream << ", groups=" << options.groups();
  if (!options.bias()) stream << ", bias=false";
  constexpr const char* kModeNames[] = {"kZeros", "kReflect", "kReplicate", "kCircular"};
  if (options.padding_mode().index() != 0) stream << ", padding_mode=" << kModeNames[options.padding_mode().index()];
  stream << ")";
}

template <size_t D, class Derived>
ConvFuncOptions<D> ConvNdImpl<D, Derived>::func_options() const {
  ConvFuncOptions<D> o;
  o.bias(bias).stride(options.stride()).dilation(options.dilation()).groups(options.groups());
  if (options.padding_mode().index() != 0) o.padding(ExpandingArray<D>(0));
  else std::visit([&](const auto& p) { o.padding(p); }, options.padding());
  return o;
}

template <size_t D, class Derived>
Tensor ConvNdImpl<D, Derived>::padded(const Tensor& input) const {
  if (options.padding_mode().index() == 0) return input;
  // F::pad's list runs from the last dim; 'same' puts the odd one of dilation (k - 1) on the right.
  std::vector<int64_t> pad;
  for (size_t i = D; i-- > 0;) {
    int64_t before = 0, after = 0;
    if (const auto* p = std::get_if<ExpandingArray<D>>(&options.padding())) {
      before = after = (*p)[i];
    } else if (std::holds_alternative<enumtype::kSame>(options.padding())) {
      const int64_t total = options.dilation()[i] * (options.kernel_size()[i] - 1);
      before = total / 2;
      after = total - before;
    }
    pad.push_back(before);
    pad.push_back(after);
  }
  functional::PadFuncOptions::mode_t mode;
  if (std::holds_alternative<enumtype::kReflect>(options.padding_mode())) mode = enumtype::kReflect{};
  else if (std::holds_alternative<enumtype::kReplicate>(options.padding_mode())) mode = enumtype::kReplicate{};
  else mode = enumtype::kCircular{};
  return functional::pad(input, functional::PadFuncOptions(pad).mode(mode));
}

template class ConvNdImpl<1, Conv1dImpl>;
template class ConvNdImpl<2, Conv2dImpl>;

Tensor Conv1dImpl::forward(const Tensor& input) { return functional::conv1d(padded(input), weight, func_options()); }
Tensor Conv2dImpl::forward(const Tensor& input) { return functional::conv2d(padded(input), weight, func_options()); }

}  // namespace dydx::nn
