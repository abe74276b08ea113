// F::pad, as torch::nn::functional::pad: pads the last pad.size() / 2 dims of input, the last dim
// first ({left, right, top, bottom, front, back}):
//   F::pad(x, F::PadFuncOptions({1, 2}));                                   // zeros
//   F::pad(x, F::PadFuncOptions({1, 1, 2, 0}).mode(dydx::kReflect));
// Modes: kConstant (fills with value; a negative pad crops), kReflect (mirrors without repeating
// the edge), kReplicate (repeats the edge), kCircular (wraps around). A negative pad crops first in
// every mode, as in PyTorch. Differentiable in every mode and to any order: the result is a copy
// into a filled tensor (constant) or an index_select per padded dim (the others).
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "dydx/detail/option.hpp"
#include "dydx/tensor.hpp"

namespace dydx {

/// Padding modes, as torch::kConstant, torch::kReflect, torch::kReplicate, torch::kCircular, and
/// torch::kZeros (a convolution's padding_mode).
namespace enumtype {
struct kZeros {};
struct kConstant {};
struct kReflect {};
struct kReplicate {};
struct kCircular {};
}  // namespace enumtype
inline constexpr enumtype::kZeros kZeros{};
inline constexpr enumtype::kConstant kConstant{};
inline constexpr enumtype::kReflect kReflect{};
inline constexpr enumtype::kReplicate kReplicate{};
inline constexpr enumtype::kCircular kCircular{};

namespace nn::functional {

struct PadFuncOptions {
  using mode_t = std::variant<enumtype::kConstant, enumtype::kReflect, enumtype::kReplicate, enumtype::kCircular>;
  PadFuncOptions(std::vector<int64_t> pad) : pad_(std::move(pad)) {}
  DYDX_ARG(std::vector<int64_t>, pad);
  DYDX_ARG(mode_t, mode) = enumtype::kConstant{};
  /// The fill of kConstant; the other modes ignore it, as libtorch's F::pad does.
  DYDX_ARG(double, value) = 0;
};

/// input padded as options say. kReflect, kReplicate and kCircular pad 1 to 3 trailing dims of an
/// input with one or two more dims (a channel, and a batch) and need those dims non-empty.
Tensor pad(const Tensor& input, const PadFuncOptions& options);

}  // namespace nn::functional
}  // namespace dydx
