// Python's operators on Tensor: arithmetic (with numbers on either side), @, comparisons, bitwise
// and the in-place forms (+=, ...), each an op of dydx's with PyTorch's promotion.
#include <nanobind/stl/string.h>

#include "bindings.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;

/// A binary operator whose right operand may be a Tensor or a Python number. NotImplemented for
/// anything else, so that Python tries the other operand's reflected method and then raises TypeError.
template <class TensorOp, class ScalarOp>
nb::object binary(const Tensor& a, nb::handle b, TensorOp tensor_op, ScalarOp scalar_op) {
  if (nb::isinstance<Tensor>(b)) {
    const auto& other = nb::cast<const Tensor&>(b);
    return nb::cast(maybe_without_gil(std::max(a.numel(), other.numel()), [&] { return tensor_op(a, other); }));
  }
  if (!is_number(b)) return nb::borrow(Py_NotImplemented);
  const Scalar s = to_scalar(b);
  return nb::cast(maybe_without_gil(a.numel(), [&] { return scalar_op(a, s); }));
}

/// An in-place operator: self is modified and returned (Python rebinds the name to it).
template <class Op>
nb::object in_place(nb::handle self, nb::handle b, Op op) {
  auto& t = nb::cast<Tensor&>(self);
  if (!nb::isinstance<Tensor>(b) && !is_number(b)) return nb::borrow(Py_NotImplemented);
  const Tensor other = tensor_operand(b, t);
  maybe_without_gil(t.numel(), [&] { return op(t, other); });
  return nb::borrow(self);
}

/// An in-place form computed out of place: the result must keep x's shape and dtype.
Tensor checked_in_place(const Tensor& x, const Tensor& result, const char* op) {
  DYDX_CHECK(result.sizes() == x.sizes(), op, ": output with shape ", x.sizes(), " doesn't match the broadcast shape ",
             result.sizes());
  DYDX_CHECK(result.dtype() == x.dtype(), op, ": result type ", result.dtype(), " can't be cast to the desired output type ",
             x.dtype());
  return result;
}

}  // namespace

// The operand may be None (nanobind refuses None unless told): t == None is then False, as in Python
// and PyTorch, and t + None a TypeError from Python itself.
#define DYDX_BINARY(py, expr)                                                                                \
  cls.def(py, [](const Tensor& a, nb::handle b) {                                                            \
    return binary(a, b, [](const Tensor& x, const Tensor& y) { return expr; },                               \
                  [](const Tensor& x, Scalar y) { return expr; });                                           \
  }, nb::arg("other").none())
// The reflected form: a number on the left of the operator (2 - t calls t.__rsub__(2)).
#define DYDX_REFLECTED(py, expr)                                                                             \
  cls.def(py, [](const Tensor& y, nb::handle b) -> nb::object {                                              \
    if (!is_number(b)) return nb::borrow(Py_NotImplemented);                                                 \
    const Scalar x = to_scalar(b);                                                                           \
    return nb::cast(maybe_without_gil(y.numel(), [&] { return expr; }));                                     \
  })
#define DYDX_IN_PLACE(py, expr) \
  cls.def(py, [](nb::handle self, nb::handle b) { return in_place(self, b, [](Tensor& x, const Tensor& y) { return expr; }); })

void bind_tensor_operators(nb::class_<Tensor>& cls) {
  DYDX_BINARY("__add__", x + y);
  DYDX_BINARY("__sub__", x - y);
  DYDX_BINARY("__mul__", x * y);
  DYDX_BINARY("__truediv__", x / y);
  DYDX_BINARY("__pow__", x.pow(y));
  DYDX_BINARY("__mod__", x % y);
  DYDX_BINARY("__eq__", x == y);
  DYDX_BINARY("__ne__", x != y);
  DYDX_BINARY("__lt__", x < y);
  DYDX_BINARY("__le__", x <= y);
  DYDX_BINARY("__gt__", x > y);
  DYDX_BINARY("__ge__", x >= y);
  DYDX_BINARY("__and__", x & y);
  DYDX_BINARY("__or__", x | y);
  DYDX_BINARY("__xor__", x ^ y);
  DYDX_BINARY("__lshift__", x << y);
  DYDX_BINARY("__rshift__", x >> y);
  DYDX_BINARY("eq", x == y);
  DYDX_BINARY("ne", x != y);
  DYDX_BINARY("lt", x < y);
  DYDX_BINARY("le", x <= y);
  DYDX_BINARY("gt", x > y);
  DYDX_BINARY("ge", x >= y);
  DYDX_BINARY("mul", x * y);
  DYDX_BINARY("__floordiv__", dydx::floor_divide(x, y));
  DYDX_BINARY("floor_divide", dydx::floor_divide(x, y));
  DYDX_REFLECTED("__radd__", x + y);
  DYDX_REFLECTED("__rsub__", x - y);
  DYDX_REFLECTED("__rmul__", x * y);
  DYDX_REFLECTED("__rtruediv__", x / y);
  DYDX_REFLECTED("__rpow__", dydx::pow(x, y));
  DYDX_REFLECTED("__rmod__", x % y);
  DYDX_REFLECTED("__rfloordiv__", dydx::floor_divide(x, y));
  DYDX_REFLECTED("__rand__", y & x);
  DYDX_REFLECTED("__ror__", y | x);
  DYDX_REFLECTED("__rxor__", y ^ x);
  DYDX_REFLECTED("__rlshift__", dydx::bitwise_left_shift(x, y));
  DYDX_REFLECTED("__rrshift__", dydx::bitwise_right_shift(x, y));
  DYDX_IN_PLACE("__iadd__", x.add_(y));
  DYDX_IN_PLACE("__isub__", x.sub_(y));
  DYDX_IN_PLACE("__imul__", x.mul_(y));
  DYDX_IN_PLACE("__itruediv__", x.div_(y));
  // Shifts in place: the result is formed (and checked) first, then written into x as copy_ writes.
  DYDX_IN_PLACE("__ilshift__", x.copy_(checked_in_place(x, x << y, "__ilshift__")));
  DYDX_IN_PLACE("__irshift__", x.copy_(checked_in_place(x, x >> y, "__irshift__")));
  // div(other, *, rounding_mode=None): true division, or rounded toward -inf ('floor') or 0 ('trunc').
  cls.def("div", [](const Tensor& a, nb::handle b, nb::handle rounding_mode) -> nb::object {
        if (!nb::isinstance<Tensor>(b) && !is_number(b))
          throw nb::type_error(("div(): argument 'other' must be Tensor or Number, not " + std::string(Py_TYPE(b.ptr())->tp_name)).c_str());
        if (!rounding_mode.is_none() && !nb::isinstance<nb::str>(rounding_mode))
          throw nb::type_error(("div(): argument 'rounding_mode' must be str, not " + std::string(Py_TYPE(rounding_mode.ptr())->tp_name)).c_str());
        const Tensor other = tensor_operand(b, a);
        const std::string text = rounding_mode.is_none() ? std::string() : nb::cast<std::string>(rounding_mode);
        const std::optional<std::string_view> mode = rounding_mode.is_none() ? std::nullopt : std::optional<std::string_view>(text);
        return nb::cast(maybe_without_gil(std::max(a.numel(), other.numel()), [&] { return dydx::div(a, other, mode); }));
      }, "other"_a, nb::kw_only(), "rounding_mode"_a = nb::none());
  cls.def("add", [](const Tensor& a, nb::handle b, nb::handle alpha) {
        return dydx::add(a, tensor_operand(b, a), to_scalar(alpha));
      }, "other"_a, "alpha"_a = 1)
      .def("sub", [](const Tensor& a, nb::handle b, nb::handle alpha) {
        return dydx::sub(a, tensor_operand(b, a), to_scalar(alpha));
      }, "other"_a, "alpha"_a = 1)
      .def("__neg__", [](const Tensor& t) { return -t; })
      .def("__pos__", [](const Tensor& t) { return t; })
      .def("__abs__", [](const Tensor& t) { return t.abs(); })
      .def("__invert__", [](const Tensor& t) { return ~t; })
      .def("__matmul__", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return a.matmul(b); }); })
      .def("__rmatmul__", [](const Tensor& b, const Tensor& a) { return without_gil([&] { return a.matmul(b); }); });
}

}  // namespace dydx::python
