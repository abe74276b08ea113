// The pooling modules: forward to the functional op, print as libtorch does.
#include "dydx/nn/modules/pooling.hpp"

namespace dydx::nn {
namespace {

std::ostream& print_array(std::ostream& stream, const ExpandingArray<2>& a) {
  return stream << "[" << a[0] << ", " << a[1] << "]";
}

}  // namespace

void MaxPool2dImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::MaxPool2d(kernel_size=";
  print_array(stream, options.kernel_size()) << ", stride=";
  print_array(stream, options.stride()) << ", padding=";
  print_array(stream, options.padding()) << ", dilation=";
  print_array(stream, options.dilation()) << ", ceil_mode=" << std::boolalpha << options.ceil_mode() << ")";
}
Tensor MaxPool2dImpl::forward(const Tensor& input) { return functional::max_pool2d(input, options); }

void AvgPool2dImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::AvgPool2d(kernel_size=";
  print_array(stream, options.kernel_size()) << ", stride=";
  print_array(stream, options.stride()) << ", padding=";
  print_array(stream, options.padding()) << ")";
}
Tensor AvgPool2dImpl::forward(const Tensor& input) { return functional::avg_pool2d(input, options); }

void AdaptiveAvgPool2dImpl::pretty_print(std::ostream& stream) const {
  stream << "dydx::nn::AdaptiveAvgPool2d(output_size=";
  print_array(stream, options.output_size()) << ")";
}
Tensor AdaptiveAvgPool2dImpl::forward(const Tensor& input) { return functional::adaptive_avg_pool2d(input, options); }

}  // namespace dydx::nn
