// Ops that are module functions only (no Tensor method): joining, where, einsum, the batched and
// fused products, activations and the closeness tests.
#include <nanobind/stl/string.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string_view.h>

#include "bindings.hpp"

namespace dydx::python {

using namespace nb::literals;

void bind_free_ops(nb::module_& m) {
  m.def("cat", [](nb::handle tensors, int64_t dim) {
    const TensorList list = tensor_list(tensors);
    return without_gil([&] { return dydx::cat(list, dim); });
  }, "tensors"_a, "dim"_a = 0);
  m.def("stack", [](nb::handle tensors, int64_t dim) {
    const TensorList list = tensor_list(tensors);
    return without_gil([&] { return dydx::stack(list, dim); });
  }, "tensors"_a, "dim"_a = 0);
  m.def("broadcast_tensors", [](nb::args tensors) {
    return tensor_tuple(dydx::broadcast_tensors(tensor_list(tensors.size() == 1 ? nb::handle(tensors[0]) : nb::handle(tensors))));
  });
  // atleast_Nd(t) is a tensor; atleast_Nd(t1, t2, ...) and atleast_Nd([t1, t2]) a tuple, as torch's.
  const auto at_least = [&m](const char* name, Tensor (*one)(const Tensor&)) {
    m.def(name, [one](nb::args args) -> nb::object {
      if (args.size() == 1 && nb::isinstance<Tensor>(args[0])) return nb::cast(one(nb::cast<const Tensor&>(args[0])));
      TensorList out;
      for (const Tensor& t : tensor_list(args.size() == 1 ? nb::handle(args[0]) : nb::handle(args))) out.push_back(one(t));
      return tensor_tuple(out);
    });
  };
  at_least("atleast_1d", [](const Tensor& t) { return dydx::atleast_1d(t); });
  at_least("atleast_2d", [](const Tensor& t) { return dydx::atleast_2d(t); });
  at_least("atleast_3d", [](const Tensor& t) { return dydx::atleast_3d(t); });
  m.def("hstack", [](nb::handle tensors) { return dydx::hstack(tensor_list(tensors)); }, "tensors"_a);
  m.def("vstack", [](nb::handle tensors) { return dydx::vstack(tensor_list(tensors)); }, "tensors"_a);
  m.def("row_stack", [](nb::handle tensors) { return dydx::row_stack(tensor_list(tensors)); }, "tensors"_a);
  m.def("dstack", [](nb::handle tensors) { return dydx::dstack(tensor_list(tensors)); }, "tensors"_a);
  m.def("column_stack", [](nb::handle tensors) { return dydx::column_stack(tensor_list(tensors)); }, "tensors"_a);
  // xlogy(self, other): either may be a number, not both (torch's overloads).
  m.def("xlogy", [](nb::handle x, nb::handle y) {
    if (nb::isinstance<Tensor>(x)) {
      const auto& a = nb::cast<const Tensor&>(x);
      return nb::isinstance<Tensor>(y) ? dydx::xlogy(a, nb::cast<const Tensor&>(y)) : dydx::xlogy(a, to_scalar(y));
    }
    if (!nb::isinstance<Tensor>(y))
      throw nb::type_error("xlogy(): argument 'other' must be Tensor when 'input' is a number");
    return dydx::xlogy(to_scalar(x), nb::cast<const Tensor&>(y));
  }, "input"_a, "other"_a);
  // compute_mode: PyTorch's default, or 'use_mm_for_euclid_dist'/'donot_use_mm_for_euclid_dist' to force
  // either way of computing p = 2 (by the sizes' threshold otherwise).
  m.def("cdist", [](const Tensor& x1, const Tensor& x2, double p, std::optional<std::string> compute_mode) {
    CdistMode mode = CdistMode::by_size;
    if (compute_mode && *compute_mode == "use_mm_for_euclid_dist") mode = CdistMode::product;
    else if (compute_mode && *compute_mode == "donot_use_mm_for_euclid_dist") mode = CdistMode::differences;
    else if (compute_mode && *compute_mode != "use_mm_for_euclid_dist_if_necessary")
      throw nb::value_error((*compute_mode + " is not a valid value for compute_mode").c_str());
    return without_gil([&] { return dydx::cdist(x1, x2, p, mode); });
  }, "x1"_a, "x2"_a, "p"_a = 2.0, "compute_mode"_a.none() = nb::none());
  m.def("where", [](const Tensor& cond) { return tensor_tuple(nonzero_tuple(cond)); }, "condition"_a);
  m.def("where", [](const Tensor& cond, nb::handle a, nb::handle b) {
    const Tensor& like = nb::isinstance<Tensor>(a) ? nb::cast<const Tensor&>(a) : nb::isinstance<Tensor>(b) ? nb::cast<const Tensor&>(b) : cond;
    return dydx::where(cond, tensor_operand(a, like), tensor_operand(b, like));
  }, "condition"_a, "input"_a, "other"_a);
  m.def("einsum", [](std::string_view equation, nb::args operands) {
    const TensorList list = operands.size() == 1 && !nb::isinstance<Tensor>(operands[0]) ? tensor_list(operands[0]) : tensor_list(operands);
    return without_gil([&] { return dydx::einsum(equation, list); });
  }, "equation"_a, "operands"_a);
  m.def("bmm", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return dydx::bmm(a, b); }); }, "input"_a, "mat2"_a);
  m.def("addmm", [](const Tensor& input, const Tensor& a, const Tensor& b, nb::handle beta, nb::handle alpha) {
    const Scalar beta_value = to_scalar(beta), alpha_value = to_scalar(alpha);  // Python objects: under the GIL
    return without_gil([&] { return dydx::addmm(input, a, b, beta_value, alpha_value); });
  }, "input"_a, "mat1"_a, "mat2"_a, "beta"_a = 1, "alpha"_a = 1);
  m.def("linear", [](const Tensor& input, const Tensor& weight, nb::handle bias) {
    const Tensor b = bias.is_none() ? Tensor() : nb::cast<Tensor>(bias);
    return without_gil([&] { return dydx::linear(input, weight, b); });
  }, "input"_a, "weight"_a, "bias"_a = nb::none());
  m.def("allclose", &dydx::allclose, "input"_a, "other"_a, "rtol"_a = 1e-5, "atol"_a = 1e-8, "equal_nan"_a = false);
  m.def("isclose", &dydx::isclose, "input"_a, "other"_a, "rtol"_a = 1e-5, "atol"_a = 1e-8, "equal_nan"_a = false);
  m.def("equal", &dydx::equal, "input"_a, "other"_a);
  m.def("silu", &dydx::silu, "input"_a);
  m.def("softplus", [](const Tensor& x, nb::handle beta, nb::handle threshold) {
    return dydx::softplus(x, to_scalar(beta), to_scalar(threshold));
  }, "input"_a, "beta"_a = 1, "threshold"_a = 20);
  m.def("gelu", [](const Tensor& x, std::string_view approximate) { return dydx::gelu(x, approximate); }, "input"_a,
        "approximate"_a = "none");
  m.def("elu", [](const Tensor& x, nb::handle alpha) { return dydx::elu(x, to_scalar(alpha)); }, "input"_a, "alpha"_a = 1.0);
  m.def("leaky_relu", [](const Tensor& x, nb::handle slope) { return dydx::leaky_relu(x, to_scalar(slope)); }, "input"_a,
        "negative_slope"_a = 0.01);
  m.def("hardtanh", [](const Tensor& x, nb::handle lo, nb::handle hi) { return dydx::hardtanh(x, to_scalar(lo), to_scalar(hi)); },
        "input"_a, "min_val"_a = -1.0, "max_val"_a = 1.0);
  m.def("relu6", &dydx::relu6, "input"_a);
  m.def("hardsigmoid", &dydx::hardsigmoid, "input"_a);
  m.def("hardswish", &dydx::hardswish, "input"_a);
  m.def("selu", &dydx::selu, "input"_a);
  m.def("mish", &dydx::mish, "input"_a);
  m.def("logsigmoid", &dydx::logsigmoid, "input"_a);
  // The in-place forms, torch._C._nn's hardtanh_ ... leaky_relu_: each writes its input and returns
  // it, the same Python object (as torch's), recording the op's own node (a copy of the input and
  // then copy_ would record CopyBackwards over a node whose saved input the copy overwrote).
  m.def("hardtanh_", [](Tensor& x, nb::handle lo, nb::handle hi) -> Tensor& {
    const Scalar min_val = to_scalar(lo), max_val = to_scalar(hi);  // Python objects: under the GIL
    maybe_without_gil(x.numel(), [&] { dydx::hardtanh_(x, min_val, max_val); return 0; });
    return x;
  }, "input"_a, "min_val"_a = -1.0, "max_val"_a = 1.0, nb::rv_policy::reference_internal);
  m.def("elu_", [](Tensor& x, nb::handle alpha) -> Tensor& {
    const Scalar a = to_scalar(alpha);
    maybe_without_gil(x.numel(), [&] { dydx::elu_(x, a); return 0; });
    return x;
  }, "input"_a, "alpha"_a = 1.0, nb::rv_policy::reference_internal);
  m.def("leaky_relu_", [](Tensor& x, nb::handle slope) -> Tensor& {
    const Scalar s = to_scalar(slope);
    maybe_without_gil(x.numel(), [&] { dydx::leaky_relu_(x, s); return 0; });
    return x;
  }, "input"_a, "negative_slope"_a = 0.01, nb::rv_policy::reference_internal);
#define DYDX_IN_PLACE_ACTIVATION(name)                                                                   \
  m.def(#name "_", [](Tensor& x) -> Tensor& {                                                             \
    maybe_without_gil(x.numel(), [&] { dydx::name##_(x); return 0; });                                     \
    return x;                                                                                             \
  }, "input"_a, nb::rv_policy::reference_internal)
  DYDX_IN_PLACE_ACTIVATION(relu6);
  DYDX_IN_PLACE_ACTIVATION(hardsigmoid);
  DYDX_IN_PLACE_ACTIVATION(hardswish);
  DYDX_IN_PLACE_ACTIVATION(selu);
  DYDX_IN_PLACE_ACTIVATION(mish);
  DYDX_IN_PLACE_ACTIVATION(silu);
#undef DYDX_IN_PLACE_ACTIVATION

  // torch.linalg's solves and norms.
  nb::module_ linalg = m.def_submodule("linalg", "Linear algebra, as torch.linalg");
  linalg.attr("LinAlgError") = m.attr("LinAlgError");  // torch.linalg.LinAlgError's counterpart
  // solve(A, B, *, left=True), its arguments parsed here so that each mistake gets torch's TypeError
  // (left by position, a missing or unknown argument, a non-tensor) rather than nanobind's listing.
  linalg.def("solve", [](nb::args args, nb::kwargs kwargs) {
    if (args.size() > 2)
      throw nb::type_error(("linalg_solve() takes 2 positional arguments but " + std::to_string(args.size()) + " were given").c_str());
    const std::vector<BoundArg> bound = bind_args("linalg_solve", args, kwargs, {"A", "B", "left"}, 2);
    for (size_t i = 0; i < 2; ++i)
      if (!nb::isinstance<Tensor>(bound[i].value))
        throw nb::type_error((std::string("linalg_solve(): argument '") + (i == 0 ? "A" : "B") + "' (position " +
                              std::to_string(i + 1) + ") must be Tensor, not " + Py_TYPE(bound[i].value.ptr())->tp_name).c_str());
    const nb::handle left_arg = bound[2].value;
    if (left_arg.is_valid() && !PyBool_Check(left_arg.ptr()))
      throw nb::type_error((std::string("linalg_solve(): argument 'left' must be bool, not ") + Py_TYPE(left_arg.ptr())->tp_name).c_str());
    const bool left = !left_arg.is_valid() || left_arg.ptr() == Py_True;
    const Tensor& a = nb::cast<const Tensor&>(bound[0].value);
    const Tensor& b = nb::cast<const Tensor&>(bound[1].value);
    return without_gil([&] { return dydx::linalg::solve(a, b, left); });
  }, nb::sig("def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor"));
  linalg.def("inv", [](const Tensor& a) {
    return without_gil([&] { return dydx::linalg::inv(a); });
  }, "A"_a);
  linalg.def("vector_norm", [](const Tensor& x, nb::handle ord, nb::handle dim, bool keepdim) {
    const std::vector<int64_t> dims = dim.is_none() ? std::vector<int64_t>{} : int_list(dim);
    return dydx::linalg::vector_norm(x, to_scalar(ord), dims, keepdim);
  }, "x"_a, "ord"_a = 2, "dim"_a = nb::none(), "keepdim"_a = false);
}

}  // namespace dydx::python
