// Convolution, im2col and pooling, spelled as libtorch's torch::nn::functional (F::) with options
// objects, and as torch:: free functions with positional arguments:
//   F::conv2d(x, w, F::Conv2dFuncOptions().bias(b).stride(2).padding({1, 0}).groups(2));
//   dydx::conv2d(x, w, b, /*stride=*/2, /*padding=*/1);
//   F::max_pool2d(x, F::MaxPool2dFuncOptions(2).stride(2));   dydx::max_pool2d(x, 2);
//   F::unfold(x, F::UnfoldFuncOptions({3, 3}).padding(1));   F::fold(cols, F::FoldFuncOptions({4, 5}, {2, 2}));
// Inputs are batched [N, C, H, W] ([N, C, L] for conv1d) or unbatched [C, H, W] ([C, L]), as in
// PyTorch. Every op is differentiable in every mode and to any order (its rules are composed of
// unfold, fold, matrix products, gather and scatter_add). Bad arguments raise dydx::Error naming
// the op, before anything is computed.
#pragma once

#include <optional>
#include <string_view>
#include <tuple>
#include <variant>

#include "dydx/detail/option.hpp"
#include "dydx/expanding_array.hpp"
#include "dydx/tensor.hpp"

namespace dydx {

/// Convolution padding modes, as torch::kValid (no padding) and torch::kSame (output size = input
/// size, stride 1 only).
namespace enumtype {
struct kValid {};
struct kSame {};
}  // namespace enumtype
inline constexpr enumtype::kValid kValid{};
inline constexpr enumtype::kSame kSame{};

/// torch::conv2d: input [N, C, H, W] or [C, H, W], weight [OC, C / groups, kh, kw], bias [OC] or
/// undefined. stride, padding and dilation take one value for both dims or two.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, IntArrayRef stride = 1,
              IntArrayRef padding = 0, IntArrayRef dilation = 1, int64_t groups = 1);
/// The same with padding "valid" or "same".
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              std::string_view padding, IntArrayRef dilation = 1, int64_t groups = 1);
/// torch::conv1d: input [N, C, L] or [C, L], weight [OC, C / groups, k].
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, IntArrayRef stride = 1,
              IntArrayRef padding = 0, IntArrayRef dilation = 1, int64_t groups = 1);
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              std::string_view padding, IntArrayRef dilation = 1, int64_t groups = 1);

/// torch::max_pool2d: the largest value in each window (nan if the window holds one); stride empty
/// means the kernel size, padding pads with -inf.
Tensor max_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride = {}, IntArrayRef padding = 0,
                  IntArrayRef dilation = 1, bool ceil_mode = false);
/// The same, with the flat index (h W + w) of each maximum in its input plane (int64).
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, IntArrayRef kernel_size,
                                                   IntArrayRef stride = {}, IntArrayRef padding = 0,
                                                   IntArrayRef dilation = 1, bool ceil_mode = false);
/// torch::avg_pool2d: the mean of each window, dividing by divisor_override if given, else by the
/// window's size counting padding (count_include_pad) or not.
Tensor avg_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride = {}, IntArrayRef padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);
/// torch::adaptive_avg_pool2d: the mean over output_size windows that cover the input.
Tensor adaptive_avg_pool2d(const Tensor& input, IntArrayRef output_size);

namespace nn {

template <size_t D>
struct ConvFuncOptions {
  using padding_t = std::variant<ExpandingArray<D>, enumtype::kValid, enumtype::kSame>;
  DYDX_ARG(Tensor, bias) = {};
  DYDX_ARG(ExpandingArray<D>, stride) = 1;
  DYDX_ARG(padding_t, padding) = ExpandingArray<D>(0);
  DYDX_ARG(ExpandingArray<D>, dilation) = 1;
  DYDX_ARG(int64_t, groups) = 1;
};

struct UnfoldOptions {
  UnfoldOptions(ExpandingArray<2> kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: libtorch's spelling
  DYDX_ARG(ExpandingArray<2>, kernel_size);
  DYDX_ARG(ExpandingArray<2>, dilation) = 1;
  DYDX_ARG(ExpandingArray<2>, padding) = 0;
  DYDX_ARG(ExpandingArray<2>, stride) = 1;
};
struct FoldOptions {
  FoldOptions(ExpandingArray<2> output_size, ExpandingArray<2> kernel_size)
      : output_size_(output_size), kernel_size_(kernel_size) {}
  DYDX_ARG(ExpandingArray<2>, output_size);
  DYDX_ARG(ExpandingArray<2>, kernel_size);
  DYDX_ARG(ExpandingArray<2>, dilation) = 1;
  DYDX_ARG(ExpandingArray<2>, padding) = 0;
  DYDX_ARG(ExpandingArray<2>, stride) = 1;
};

struct MaxPool2dOptions {
  /// The stride defaults to the kernel size, as in libtorch.
  MaxPool2dOptions(ExpandingArray<2> kernel_size)  // NOLINT: libtorch's spelling
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  DYDX_ARG(ExpandingArray<2>, kernel_size);
  DYDX_ARG(ExpandingArray<2>, stride);
  DYDX_ARG(ExpandingArray<2>, padding) = 0;
  DYDX_ARG(ExpandingArray<2>, dilation) = 1;
  DYDX_ARG(bool, ceil_mode) = false;
};
struct AvgPool2dOptions {
  AvgPool2dOptions(ExpandingArray<2> kernel_size)  // NOLINT: libtorch's spelling
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  DYDX_ARG(ExpandingArray<2>, kernel_size);
  DYDX_ARG(ExpandingArray<2>, stride);
  DYDX_ARG(ExpandingArray<2>, padding) = 0;
  DYDX_ARG(bool, ceil_mode) = false;
  DYDX_ARG(bool, count_include_pad) = true;
  DYDX_ARG(std::optional<int64_t>, divisor_override) = std::nullopt;
};
struct AdaptiveAvgPool2dOptions {
  AdaptiveAvgPool2dOptions(ExpandingArray<2> output_size) : output_size_(output_size) {}  // NOLINT
  DYDX_ARG(ExpandingArray<2>, output_size);
};

namespace functional {

using Conv1dFuncOptions = ConvFuncOptions<1>;
using Conv2dFuncOptions = ConvFuncOptions<2>;
using UnfoldFuncOptions = UnfoldOptions;
using FoldFuncOptions = FoldOptions;
using MaxPool2dFuncOptions = MaxPool2dOptions;
using AvgPool2dFuncOptions = AvgPool2dOptions;
using AdaptiveAvgPool2dFuncOptions = AdaptiveAvgPool2dOptions;

Tensor conv1d(const Tensor& input, const Tensor& weight, const Conv1dFuncOptions& options = {});
Tensor conv2d(const Tensor& input, const Tensor& weight, const Conv2dFuncOptions& options = {});
/// torch.nn.functional.unfold (im2col): input [N, C, H, W] or [C, H, W] to [N, C kh kw, L] ([C kh kw, L]),
/// one column per window position.
Tensor unfold(const Tensor& input, const UnfoldFuncOptions& options);
/// torch.nn.functional.fold (col2im), unfold's adjoint: input [N, C kh kw, L] or [C kh kw, L] summed
/// into [N, C, output_size] ([C, output_size]); overlapping windows add up.
Tensor fold(const Tensor& input, const FoldFuncOptions& options);
Tensor max_pool2d(const Tensor& input, const MaxPool2dFuncOptions& options);
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const MaxPool2dFuncOptions& options);
Tensor avg_pool2d(const Tensor& input, const AvgPool2dFuncOptions& options);
Tensor adaptive_avg_pool2d(const Tensor& input, const AdaptiveAvgPool2dFuncOptions& options);

}  // namespace functional
}  // namespace nn
}  // namespace dydx
