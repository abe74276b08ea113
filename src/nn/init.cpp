// nn::init: fans, gains and the fills, each under NoGradGuard and checked before anything is written.
#include "dydx/nn/init.hpp"

#include <cmath>
#include <limits>

#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/ops.hpp"

namespace dydx::nn::init {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
// clang before 17 does not deduce an aggregate's template arguments by itself (P1816).
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

void check_fillable(const Tensor& tensor, const char* name) {
  DYDX_CHECK(tensor.defined(), "nn::init::", name, ": the tensor is undefined");
  DYDX_CHECK(tensor.is_floating_point(), "nn::init::", name, ": expected a floating point tensor, got ",
             dtype_name(tensor.dtype()));
}

/// Writes values (already of tensor's shape) into tensor without recording history.
Tensor fill_from(Tensor tensor, const Tensor& values) {
  NoGradGuard no_grad;
  tensor.copy_(values);
  return tensor;
}

Tensor uniform_unchecked(Tensor tensor, double a, double b) {
  const Tensor u = rand(tensor.sizes(), TensorOptions().dtype(tensor.dtype()));
  return fill_from(tensor, u * (b - a) + a);
}

Tensor normal_unchecked(Tensor tensor, double mean, double std) {
  const Tensor n = randn(tensor.sizes(), TensorOptions().dtype(tensor.dtype()));
  return fill_from(tensor, n * std + mean);
}

double fan_of(const Tensor& tensor, FanModeType mode) {
  const auto [fan_in, fan_out] = _calculate_fan_in_and_fan_out(tensor);
  return static_cast<double>(std::holds_alternative<enumtype::kFanIn>(mode) ? fan_in : fan_out);
}

}  // namespace

double calculate_gain(NonlinearityType nonlinearity, double param) {
  return std::visit(Overloaded{
                        [](enumtype::kTanh) { return 5.0 / 3.0; },
                        [](enumtype::kReLU) { return std::sqrt(2.0); },
                        [&](enumtype::kLeakyReLU) { return std::sqrt(2.0 / (1.0 + param * param)); },
                        [](auto) { return 1.0; },  // linear, the convolutions and sigmoid
                    },
                    nonlinearity);
}

std::tuple<int64_t, int64_t> _calculate_fan_in_and_fan_out(const Tensor& tensor) {
  DYDX_CHECK(tensor.defined(), "nn::init::_calculate_fan_in_and_fan_out: the tensor is undefined");
  const int64_t dims = tensor.dim();
  DYDX_CHECK(dims >= 2, "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got ",
             dims, " dims, shape ", tensor.shape_string(), ")");
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < dims; ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

Tensor uniform_(Tensor tensor, double a, double b) {
  check_fillable(tensor, "uniform_");
  DYDX_CHECK(a <= b, "nn::init::uniform_: expects a <= b, but got a=", a, " and b=", b);
  // PyTorch 1.13's uniform_ checks: both bounds (and their difference) representable in the
  // tensor's dtype; an infinite bound would fill inf (or nan, inf - inf).
  const double largest = tensor.dtype() == kFloat32 ? static_cast<double>(std::numeric_limits<float>::max())
                                                     : std::numeric_limits<double>::max();
  DYDX_CHECK(a >= -largest && a <= largest, "nn::init::uniform_: a=", a, " is out of bounds for ", tensor.dtype());
  DYDX_CHECK(b >= -largest && b <= largest, "nn::init::uniform_: b=", b, " is out of bounds for ", tensor.dtype());
  DYDX_CHECK(b - a <= largest, "nn::init::uniform_: expects b - a <= the largest ", tensor.dtype(), " (", largest,
             "), but got a=", a, " and b=", b);
  return uniform_unchecked(std::move(tensor), a, b);
}

Tensor normal_(Tensor tensor, double mean, double std) {
  check_fillable(tensor, "normal_");
  DYDX_CHECK(std >= 0, "nn::init::normal_: expects std >= 0.0, but found std ", std);
  return normal_unchecked(std::move(tensor), mean, std);
}

Tensor constant_(Tensor tensor, Scalar value) {
  DYDX_CHECK(tensor.defined(), "nn::init::constant_: the tensor is undefined");
  NoGradGuard no_grad;
  tensor.fill_(value);
  return tensor;
}

Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0); }
Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1); }

Tensor eye_(Tensor tensor) {
  DYDX_CHECK(tensor.defined(), "nn::init::eye_: the tensor is undefined");
  DYDX_CHECK(tensor.dim() == 2, "Only tensors with 2 dimensions are supported (nn::init::eye_ got shape ",
             tensor.shape_string(), ")");
  return fill_from(tensor, eye(tensor.size(0), tensor.size(1), TensorOptions().dtype(tensor.dtype())));
}

Tensor xavier_uniform_(Tensor tensor, double gain) {
  check_fillable(tensor, "xavier_uniform_");
  const auto [fan_in, fan_out] = _calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_unchecked(std::move(tensor), -bound, bound);
}

Tensor xavier_normal_(Tensor tensor, double gain) {
  check_fillable(tensor, "xavier_normal_");
  const auto [fan_in, fan_out] = _calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_unchecked(std::move(tensor), 0.0, std);
}

Tensor kaiming_uniform_(Tensor tensor, double a, FanModeType mode, NonlinearityType nonlinearity) {
  check_fillable(tensor, "kaiming_uniform_");
  if (tensor.numel() == 0) return tensor;  // PyTorch: "Initializing zero-element tensors is a no-op"
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan_of(tensor, mode));
  const double bound = std::sqrt(3.0) * std;
  return uniform_unchecked(std::move(tensor), -bound, bound);
}

Tensor kaiming_normal_(Tensor tensor, double a, FanModeType mode, NonlinearityType nonlinearity) {
  check_fillable(tensor, "kaiming_normal_");
  if (tensor.numel() == 0) return tensor;
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan_of(tensor, mode));
  return normal_unchecked(std::move(tensor), 0.0, std);
}

}  // namespace dydx::nn::init
