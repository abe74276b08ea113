// dydx._core.nn: the C++ nn::functional and nn::init, with torch.nn.functional's and torch.nn.init's
// Python argument names and defaults. The modules (dydx.nn.Module, Linear, ...) are Python classes
// over these (python/dydx/nn/); Python's keyword arguments replace libtorch's options objects here.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>

#include "bindings.hpp"
#include "dydx/nn/functional.hpp"
#include "dydx/nn/init.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;
namespace F = nn::functional;

/// An optional tensor argument: None is libtorch's undefined tensor.
Tensor optional_tensor(nb::handle h) { return h.is_none() ? Tensor() : nb::cast<Tensor>(h); }

/// torch's reduction strings, as the options' variant; anything else is a ValueError, as in PyTorch.
template <class Options>
Options with_reduction(std::string_view reduction) {
  if (reduction == "mean") return Options(kMean);
  if (reduction == "sum") return Options(kSum);
  if (reduction == "none") return Options(kNone);
  throw nb::value_error((std::string(reduction) + " is not a valid value for reduction").c_str());
}

F::PadFuncOptions::mode_t pad_mode(std::string_view mode) {
  if (mode == "constant") return kConstant;
  if (mode == "reflect") return kReflect;
  if (mode == "replicate") return kReplicate;
  if (mode == "circular") return kCircular;
  throw nb::value_error(("pad: unknown padding mode " + std::string(mode)).c_str());
}

nn::init::FanModeType fan_mode(std::string_view mode) {
  if (mode == "fan_in") return kFanIn;
  if (mode == "fan_out") return kFanOut;
  throw nb::value_error(("Mode " + std::string(mode) + " not supported, please use one of fan_in, fan_out").c_str());
}

nn::init::NonlinearityType nonlinearity(std::string_view name) {
  if (name == "linear") return kLinear;
  if (name == "conv1d") return kConv1D;
  if (name == "conv2d") return kConv2D;
  if (name == "sigmoid") return kSigmoid;
  if (name == "tanh") return kTanh;
  if (name == "relu") return kReLU;
  if (name == "leaky_relu") return kLeakyReLU;
  throw nb::value_error(("Unsupported nonlinearity " + std::string(name)).c_str());
}

/// A convolution's padding: an int or ints, or the strings "valid" and "same".
template <class Conv, class ConvMode>
Tensor convolve(Conv conv, ConvMode conv_mode, const Tensor& input, const Tensor& weight, nb::handle bias,
                nb::handle stride, nb::handle padding, nb::handle dilation, int64_t groups) {
  const Tensor b = optional_tensor(bias);
  const auto strides = int_list(stride), dilations = int_list(dilation);
  if (nb::isinstance<nb::str>(padding)) {
    const std::string mode = nb::cast<std::string>(padding);
    return without_gil([&] { return conv_mode(input, weight, b, strides, mode, dilations, groups); });
  }
  const auto paddings = int_list(padding);
  return without_gil([&] { return conv(input, weight, b, strides, paddings, dilations, groups); });
}

/// A pooling stride: None (or an empty list) means the kernel size.
std::vector<int64_t> pool_stride(nb::handle stride) { return stride.is_none() ? std::vector<int64_t>{} : int_list(stride); }

void bind_functional(nb::module_& f) {
  f.def("mse_loss", [](const Tensor& input, const Tensor& target, std::string_view reduction) {
    return F::mse_loss(input, target, with_reduction<F::MSELossFuncOptions>(reduction));
  }, "input"_a, "target"_a, "reduction"_a = "mean");
  f.def("l1_loss", [](const Tensor& input, const Tensor& target, std::string_view reduction) {
    return F::l1_loss(input, target, with_reduction<F::L1LossFuncOptions>(reduction));
  }, "input"_a, "target"_a, "reduction"_a = "mean");
  f.def("smooth_l1_loss", [](const Tensor& input, const Tensor& target, std::string_view reduction, double beta) {
    return F::smooth_l1_loss(input, target, with_reduction<F::SmoothL1LossFuncOptions>(reduction).beta(beta));
  }, "input"_a, "target"_a, "reduction"_a = "mean", "beta"_a = 1.0);
  f.def("huber_loss", [](const Tensor& input, const Tensor& target, std::string_view reduction, double delta) {
    return F::huber_loss(input, target, with_reduction<F::HuberLossFuncOptions>(reduction).delta(delta));
  }, "input"_a, "target"_a, "reduction"_a = "mean", "delta"_a = 1.0);
  f.def("binary_cross_entropy", [](const Tensor& input, const Tensor& target, nb::handle weight, std::string_view reduction) {
    return F::binary_cross_entropy(input, target, with_reduction<F::BinaryCrossEntropyFuncOptions>(reduction)
                                                      .weight(optional_tensor(weight)));
  }, "input"_a, "target"_a, "weight"_a = nb::none(), "reduction"_a = "mean");
  f.def("binary_cross_entropy_with_logits", [](const Tensor& input, const Tensor& target, nb::handle weight,
                                               std::string_view reduction, nb::handle pos_weight) {
    return F::binary_cross_entropy_with_logits(
        input, target, with_reduction<F::BinaryCrossEntropyWithLogitsFuncOptions>(reduction)
                           .weight(optional_tensor(weight)).pos_weight(optional_tensor(pos_weight)));
  }, "input"_a, "target"_a, "weight"_a = nb::none(), "reduction"_a = "mean", "pos_weight"_a = nb::none());
  f.def("nll_loss", [](const Tensor& input, const Tensor& target, nb::handle weight, int64_t ignore_index,
                       std::string_view reduction) {
    return F::nll_loss(input, target, with_reduction<F::NLLLossFuncOptions>(reduction)
                                          .weight(optional_tensor(weight)).ignore_index(ignore_index));
  }, "input"_a, "target"_a, "weight"_a = nb::none(), "ignore_index"_a = -100, "reduction"_a = "mean");
  f.def("cross_entropy", [](const Tensor& input, const Tensor& target, nb::handle weight, int64_t ignore_index,
                            std::string_view reduction, double label_smoothing) {
    return F::cross_entropy(input, target, with_reduction<F::CrossEntropyFuncOptions>(reduction)
                                               .weight(optional_tensor(weight)).ignore_index(ignore_index)
                                               .label_smoothing(label_smoothing));
  }, "input"_a, "target"_a, "weight"_a = nb::none(), "ignore_index"_a = -100, "reduction"_a = "mean",
     "label_smoothing"_a = 0.0);
  f.def("one_hot", &F::one_hot, "tensor"_a, "num_classes"_a = -1);
  f.def("dropout", [](const Tensor& input, double p, bool training, bool inplace) {
    if (p < 0 || p > 1) throw nb::value_error(("dropout probability has to be between 0 and 1, but got " + std::to_string(p)).c_str());
    return F::dropout(input, F::DropoutFuncOptions().p(p).training(training).inplace(inplace));
  }, "input"_a, "p"_a = 0.5, "training"_a = true, "inplace"_a = false);
  f.def("conv1d", [](const Tensor& input, const Tensor& weight, nb::handle bias, nb::handle stride, nb::handle padding,
                     nb::handle dilation, int64_t groups) {
    return convolve([](auto&&... a) { return dydx::conv1d(a...); },
                    [](auto&&... a) { return detail::conv1d_padding_mode(a...); }, input, weight, bias, stride, padding,
                    dilation, groups);
  }, "input"_a, "weight"_a, "bias"_a = nb::none(), "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1);
  f.def("conv2d", [](const Tensor& input, const Tensor& weight, nb::handle bias, nb::handle stride, nb::handle padding,
                     nb::handle dilation, int64_t groups) {
    return convolve([](auto&&... a) { return dydx::conv2d(a...); },
                    [](auto&&... a) { return detail::conv2d_padding_mode(a...); }, input, weight, bias, stride, padding,
                    dilation, groups);
  }, "input"_a, "weight"_a, "bias"_a = nb::none(), "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1);
  f.def("max_pool2d", [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
                         nb::handle dilation, bool ceil_mode, bool return_indices) -> nb::object {
    const auto k = int_list(kernel_size), s = pool_stride(stride), p = int_list(padding), d = int_list(dilation);
    if (!return_indices) return nb::cast(without_gil([&] { return dydx::max_pool2d(input, k, s, p, d, ceil_mode); }));
    return nb::cast(without_gil([&] { return dydx::max_pool2d_with_indices(input, k, s, p, d, ceil_mode); }));
  }, "input"_a, "kernel_size"_a, "stride"_a = nb::none(), "padding"_a = 0, "dilation"_a = 1, "ceil_mode"_a = false,
     "return_indices"_a = false);
  f.def("avg_pool2d", [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
                         bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
    const auto k = int_list(kernel_size), s = pool_stride(stride), p = int_list(padding);
    return without_gil([&] { return dydx::avg_pool2d(input, k, s, p, ceil_mode, count_include_pad, divisor_override); });
  }, "input"_a, "kernel_size"_a, "stride"_a = nb::none(), "padding"_a = 0, "ceil_mode"_a = false,
     "count_include_pad"_a = true, "divisor_override"_a = nb::none());
  f.def("layer_norm", [](const Tensor& input, nb::handle normalized_shape, nb::handle weight, nb::handle bias, double eps) {
    return F::layer_norm(input, F::LayerNormFuncOptions(int_list(normalized_shape))
                                    .weight(optional_tensor(weight)).bias(optional_tensor(bias)).eps(eps));
  }, "input"_a, "normalized_shape"_a, "weight"_a = nb::none(), "bias"_a = nb::none(), "eps"_a = 1e-5);
  f.def("batch_norm", [](const Tensor& input, nb::handle running_mean, nb::handle running_var, nb::handle weight,
                         nb::handle bias, bool training, std::optional<double> momentum, double eps) {
    return F::batch_norm(input, optional_tensor(running_mean), optional_tensor(running_var),
                         F::BatchNormFuncOptions().weight(optional_tensor(weight)).bias(optional_tensor(bias))
                             .training(training).momentum(momentum).eps(eps));
  }, "input"_a, "running_mean"_a.none(), "running_var"_a.none(), "weight"_a = nb::none(), "bias"_a = nb::none(),
     "training"_a = false, "momentum"_a = 0.1, "eps"_a = 1e-5);
  f.def("pad", [](const Tensor& input, nb::handle pad, std::string_view mode, std::optional<double> value) {
    return F::pad(input, F::PadFuncOptions(int_list(pad)).mode(pad_mode(mode)).value(value.value_or(0.0)));
  }, "input"_a, "pad"_a, "mode"_a = "constant", "value"_a = nb::none());
}

void bind_init(nb::module_& i) {
  i.def("calculate_gain", [](std::string_view name, std::optional<double> param) {
    return nn::init::calculate_gain(nonlinearity(name), param.value_or(0.01));
  }, "nonlinearity"_a, "param"_a = nb::none());
  i.def("_calculate_fan_in_and_fan_out", &nn::init::_calculate_fan_in_and_fan_out, "tensor"_a);
  i.def("uniform_", &nn::init::uniform_, "tensor"_a, "a"_a = 0.0, "b"_a = 1.0);
  i.def("normal_", &nn::init::normal_, "tensor"_a, "mean"_a = 0.0, "std"_a = 1.0);
  i.def("constant_", [](const Tensor& t, nb::handle value) { return nn::init::constant_(t, to_scalar(value)); },
        "tensor"_a, "val"_a);
  i.def("zeros_", &nn::init::zeros_, "tensor"_a);
  i.def("ones_", &nn::init::ones_, "tensor"_a);
  i.def("eye_", &nn::init::eye_, "tensor"_a);
  i.def("xavier_uniform_", &nn::init::xavier_uniform_, "tensor"_a, "gain"_a = 1.0);
  i.def("xavier_normal_", &nn::init::xavier_normal_, "tensor"_a, "gain"_a = 1.0);
  i.def("kaiming_uniform_", [](const Tensor& t, double a, std::string_view mode, std::string_view name) {
    return nn::init::kaiming_uniform_(t, a, fan_mode(mode), nonlinearity(name));
  }, "tensor"_a, "a"_a = 0.0, "mode"_a = "fan_in", "nonlinearity"_a = "leaky_relu");
  i.def("kaiming_normal_", [](const Tensor& t, double a, std::string_view mode, std::string_view name) {
    return nn::init::kaiming_normal_(t, a, fan_mode(mode), nonlinearity(name));
  }, "tensor"_a, "a"_a = 0.0, "mode"_a = "fan_in", "nonlinearity"_a = "leaky_relu");
}

}  // namespace

void bind_nn(nb::class_<Tensor>& cls, nb::module_& m) {
  // Tensor(data): a new handle on data's storage, detached (what nn.Parameter(data) builds on).
  cls.def("__init__", [](Tensor* self, const Tensor& data) { new (self) Tensor(data.detach()); }, "data"_a);
  nb::module_ nn = m.def_submodule("nn", "torch.nn's functions (the modules are Python: dydx.nn)");
  nb::module_ functional = nn.def_submodule("functional", "torch.nn.functional's losses, convolutions, pooling, normalisation");
  bind_functional(functional);
  nb::module_ init = nn.def_submodule("init", "torch.nn.init's initialisers, in place and without recording autograd");
  bind_init(init);
}

}  // namespace dydx::python
