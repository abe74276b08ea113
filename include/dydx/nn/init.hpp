// nn::init: in-place initialisation of parameters, as torch::nn::init. Every function fills its
// tensor with grad mode off (so a leaf that requires grad can be filled and stays a leaf) and
// returns it. The random ones draw from dydx's generator (dydx::manual_seed), so the values are
// not PyTorch's stream; the distributions, bounds and fans are PyTorch's.
#pragma once

#include <tuple>
#include <variant>

#include "dydx/tensor.hpp"

namespace dydx {

/// The fan modes and nonlinearities, as torch::kFanIn, torch::kReLU, ...
namespace enumtype {
struct kFanIn {};
struct kFanOut {};
struct kLinear {};
struct kConv1D {};
struct kConv2D {};
struct kConv3D {};
struct kConvTranspose1D {};
struct kConvTranspose2D {};
struct kConvTranspose3D {};
struct kSigmoid {};
struct kTanh {};
struct kReLU {};
struct kLeakyReLU {};
}  // namespace enumtype
inline constexpr enumtype::kFanIn kFanIn{};
inline constexpr enumtype::kFanOut kFanOut{};
inline constexpr enumtype::kLinear kLinear{};
inline constexpr enumtype::kConv1D kConv1D{};
inline constexpr enumtype::kConv2D kConv2D{};
inline constexpr enumtype::kConv3D kConv3D{};
inline constexpr enumtype::kConvTranspose1D kConvTranspose1D{};
inline constexpr enumtype::kConvTranspose2D kConvTranspose2D{};
inline constexpr enumtype::kConvTranspose3D kConvTranspose3D{};
inline constexpr enumtype::kSigmoid kSigmoid{};
inline constexpr enumtype::kTanh kTanh{};
inline constexpr enumtype::kReLU kReLU{};
inline constexpr enumtype::kLeakyReLU kLeakyReLU{};

namespace nn::init {

using NonlinearityType =
    std::variant<enumtype::kLinear, enumtype::kConv1D, enumtype::kConv2D, enumtype::kConv3D,
                 enumtype::kConvTranspose1D, enumtype::kConvTranspose2D, enumtype::kConvTranspose3D,
                 enumtype::kSigmoid, enumtype::kTanh, enumtype::kReLU, enumtype::kLeakyReLU>;
using FanModeType = std::variant<enumtype::kFanIn, enumtype::kFanOut>;

/// The recommended gain for a nonlinearity: 1 for linear, conv and sigmoid, 5/3 for tanh, sqrt(2)
/// for relu, sqrt(2 / (1 + param^2)) for leaky relu (param: its negative slope).
double calculate_gain(NonlinearityType nonlinearity, double param = 0.01);

/// (fan_in, fan_out) of a weight [out, in, k...]: in * prod(k) and out * prod(k). Errors for a
/// tensor of fewer than 2 dims, as PyTorch.
std::tuple<int64_t, int64_t> _calculate_fan_in_and_fan_out(const Tensor& tensor);

/// Uniform on [a, b).
Tensor uniform_(Tensor tensor, double a = 0, double b = 1);
/// Normal with this mean and standard deviation.
Tensor normal_(Tensor tensor, double mean = 0, double std = 1);
Tensor constant_(Tensor tensor, Scalar value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);
/// The identity matrix (2-D tensors only; a non-square one gets ones on its main diagonal).
Tensor eye_(Tensor tensor);
/// Uniform on +-gain sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010).
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0);
/// Normal with std gain sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor tensor, double gain = 1.0);
/// Uniform on +-sqrt(3) gain / sqrt(fan), gain = calculate_gain(nonlinearity, a) (He et al., 2015).
/// nn::Linear's and nn::Conv's default is a = sqrt(5).
Tensor kaiming_uniform_(Tensor tensor, double a = 0, FanModeType mode = kFanIn,
                        NonlinearityType nonlinearity = kLeakyReLU);
/// Normal with std gain / sqrt(fan).
Tensor kaiming_normal_(Tensor tensor, double a = 0, FanModeType mode = kFanIn,
                       NonlinearityType nonlinearity = kLeakyReLU);

}  // namespace nn::init
}  // namespace dydx
