// Python numbers, sizes and tensor sequences converted to and from dydx's types.
#include <string>

#include "bindings.hpp"

namespace dydx::python {
namespace {

std::string type_of(nb::handle h) { return nb::type_name(h.type()).c_str(); }

}  // namespace

bool is_number(nb::handle h) {
  if (nb::isinstance<Tensor>(h)) return false;
  return PyBool_Check(h.ptr()) || PyLong_Check(h.ptr()) || PyFloat_Check(h.ptr()) || PyIndex_Check(h.ptr()) ||
         (nb::hasattr(h, "__float__") && !nb::hasattr(h, "__len__"));
}

Scalar to_scalar(nb::handle h) {
  PyObject* o = h.ptr();
  // A one-element tensor converts to its value (as float(t) does), but one with history would lose
  // it: the number carries no gradient back to the tensor, silently (clamp(min=s) with s requiring
  // grad gave s no gradient). PyTorch takes such arguments as tensors; until dydx does, it refuses.
  if (nb::isinstance<Tensor>(h) && nb::cast<const Tensor&>(h).requires_grad())
    throw nb::type_error("expected a number, not a Tensor that requires grad: its gradient would be lost in the "
                         "conversion (pass a number, or t.detach() to drop the gradient on purpose)");
  if (PyBool_Check(o)) return Scalar(o == Py_True);
  if (nb::hasattr(h, "dtype") && nb::str(h.attr("dtype")).equal(nb::str("bool")))  // numpy.bool_
    return Scalar(PyObject_IsTrue(o) == 1);
  if (PyLong_Check(o) || (!PyFloat_Check(o) && PyIndex_Check(o))) {
    int overflow = 0;
    nb::object index = nb::steal(PyNumber_Index(o));
    if (!index.is_valid()) throw nb::python_error();
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow) throw nb::value_error(("value " + std::string(nb::repr(h).c_str()) + " does not fit int64").c_str());
    return Scalar(static_cast<int64_t>(v));
  }
  const double v = PyFloat_AsDouble(o);
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw nb::type_error(("expected a Tensor or a number (bool, int, float), not " + type_of(h)).c_str());
  }
  return Scalar(v);
}

nb::object scalar_object(Scalar s) {
  if (s.is_boolean()) return nb::bool_(s.to<bool>());
  if (s.is_integral()) return nb::int_(s.to_int64());
  return nb::float_(s.to_double());
}

Tensor tensor_operand(nb::handle h, const Tensor& like) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<const Tensor&>(h);
  if (!is_number(h)) throw nb::type_error(("expected a Tensor or a number, not " + type_of(h)).c_str());
  const Scalar s = to_scalar(h);
  ScalarType type = s.is_boolean() ? kBool : s.is_integral() ? kInt64 : kFloat32;
  // A number of a narrower kind than the tensor takes the tensor's dtype, as PyTorch's wrapped numbers do.
  const bool fits = like.dtype() == type || (type == kInt64 && like.dtype() != kBool) ||
                    (type == kFloat32 && is_floating_point(like.dtype())) || type == kBool;
  if (fits) type = like.dtype();
  return full({}, s, type);
}

std::vector<int64_t> int_list(nb::handle h) {
  if (PyLong_Check(h.ptr()) || (PyIndex_Check(h.ptr()) && !nb::isinstance<Tensor>(h)))
    return {nb::cast<int64_t>(nb::steal(PyNumber_Index(h.ptr())))};
  if (!PySequence_Check(h.ptr()))
    throw nb::type_error(("expected an int or a sequence of ints, not " + type_of(h)).c_str());
  std::vector<int64_t> out;
  for (nb::handle item : nb::iter(h)) {
    if (PyFloat_Check(item.ptr()) || !PyIndex_Check(item.ptr()))
      throw nb::type_error(("expected a sequence of ints, but it holds a " + type_of(item)).c_str());
    out.push_back(nb::cast<int64_t>(nb::steal(PyNumber_Index(item.ptr()))));
  }
  return out;
}

std::vector<int64_t> sizes_from_args(const nb::args& args) {
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr())) return int_list(args[0]);
  return int_list(args);
}

TensorList tensor_list(nb::handle h) {
  if (nb::isinstance<Tensor>(h)) return {nb::cast<Tensor>(h)};
  if (!PySequence_Check(h.ptr()))
    throw nb::type_error(("expected a Tensor or a sequence of Tensors, not " + type_of(h)).c_str());
  TensorList out;
  for (nb::handle item : nb::iter(h)) {
    if (!nb::isinstance<Tensor>(item))
      throw nb::type_error(("expected a sequence of Tensors, but it holds a " + type_of(item)).c_str());
    out.push_back(nb::cast<Tensor>(item));
  }
  return out;
}

nb::object tensor_or_none(const Tensor& t) { return t.defined() ? nb::cast(t) : nb::none(); }

nb::tuple tensor_tuple(const TensorList& tensors) {
  nb::list out;
  for (const Tensor& t : tensors) out.append(tensor_or_none(t));
  return nb::tuple(out);
}

}  // namespace dydx::python
