// nn::Conv1d and nn::Conv2d, as torch::nn's: weight [out, in / groups, k...] and bias [out],
// initialised as PyTorch's (kaiming_uniform_ with a = sqrt(5), bias uniform on +-1/sqrt(fan_in)),
// forward through F::conv1d / F::conv2d; a padding_mode other than kZeros pads with F::pad first.
#pragma once

#include <variant>

#include "dydx/detail/option.hpp"
#include "dydx/expanding_array.hpp"
#include "dydx/nn/conv.hpp"
#include "dydx/nn/module.hpp"
#include "dydx/nn/padding.hpp"

namespace dydx::nn {

/// The options of ConvNd: ConvOptions<2>(in, out, 3).stride(2).padding(1).bias(false).
template <size_t D>
struct ConvOptions {
  using padding_t = std::variant<ExpandingArray<D>, enumtype::kValid, enumtype::kSame>;
  using padding_mode_t = std::variant<enumtype::kZeros, enumtype::kReflect, enumtype::kReplicate, enumtype::kCircular>;
  ConvOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<D> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  DYDX_ARG(int64_t, in_channels);
  DYDX_ARG(int64_t, out_channels);
  DYDX_ARG(ExpandingArray<D>, kernel_size);
  DYDX_ARG(ExpandingArray<D>, stride) = 1;
  DYDX_ARG(padding_t, padding) = ExpandingArray<D>(0);
  DYDX_ARG(ExpandingArray<D>, dilation) = 1;
  DYDX_ARG(int64_t, groups) = 1;
  DYDX_ARG(bool, bias) = true;
  /// How the padding is filled: zeros, or the input reflected, replicated or wrapped around.
  DYDX_ARG(padding_mode_t, padding_mode) = enumtype::kZeros{};
};
using Conv1dOptions = ConvOptions<1>;
using Conv2dOptions = ConvOptions<2>;

/// What Conv1d and Conv2d share: options, parameters, initialisation and printing.
template <size_t D, class Derived>
class ConvNdImpl : public Cloneable<Derived> {
 public:
  explicit ConvNdImpl(const ConvOptions<D>& options);
  /// Registers fresh parameters, then reset_parameters().
  void reset() override;
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  ConvOptions<D> options;
  Tensor weight;
  Tensor bias;

 protected:
  ConvFuncOptions<D> func_options() const;
  /// input padded by F::pad for a padding_mode other than kZeros (func_options then pads nothing).
  Tensor padded(const Tensor& input) const;
};

class Conv1dImpl : public ConvNdImpl<1, Conv1dImpl> {
 public:
  Conv1dImpl(int64_t in_channels, int64_t out_channels, ExpandingArray<1> kernel_size)
      : Conv1dImpl(Conv1dOptions(in_channels, out_channels, kernel_size)) {}
  explicit Conv1dImpl(const Conv1dOptions& options) : ConvNdImpl<1, Conv1dImpl>(options) {}
  /// input [N, in, L] or [in, L].
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(Conv1d);

class Conv2dImpl : public ConvNdImpl<2, Conv2dImpl> {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : Conv2dImpl(Conv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit Conv2dImpl(const Conv2dOptions& options) : ConvNdImpl<2, Conv2dImpl>(options) {}
  /// input [N, in, H, W] or [in, H, W].
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(Conv2d);

}  // namespace dydx::nn
