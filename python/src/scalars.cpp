// Python numbers, sizes and tensor sequences converted to and from dydx's types.
#include <string_view>
#include <optional>
#include <string>

#include <nanobind/stl/string.h>

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
  // grad once gave s no gradient; clamp now takes tensor bounds as tensors). Where an argument is
  // taken as a number, such a tensor is refused.
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
  // A bool is an int to Python but not to PyTorch's parser, which refuses it as the argument and as
  // a sequence's first element (the one it tells the kind of a sequence by); x.flip(True) is an error
  // there, not flip(1).
  if (PyBool_Check(h.ptr())) throw nb::type_error("expected an int or a sequence of ints, not bool");
  if (PyLong_Check(h.ptr()) || (PyIndex_Check(h.ptr()) && !nb::isinstance<Tensor>(h)))
    return {nb::cast<int64_t>(nb::steal(PyNumber_Index(h.ptr())))};
  if (!PySequence_Check(h.ptr()))
    throw nb::type_error(("expected an int or a sequence of ints, not " + type_of(h)).c_str());
  std::vector<int64_t> out;
  for (nb::handle item : nb::iter(h)) {
    if (PyFloat_Check(item.ptr()) || !PyIndex_Check(item.ptr()) || (out.empty() && PyBool_Check(item.ptr())))
      throw nb::type_error(("expected a sequence of ints, but it holds a " + type_of(item)).c_str());
    out.push_back(nb::cast<int64_t>(nb::steal(PyNumber_Index(item.ptr()))));
  }
  return out;
}

namespace {

// Python's int, or a NumPy integer scalar, but not a bool: PyTorch's THPUtils_checkLong.
bool is_plain_int(nb::handle h) {
  if (PyBool_Check(h.ptr())) return false;
  if (PyLong_Check(h.ptr())) return true;
  if (!PyIndex_Check(h.ptr())) return false;
  const nb::handle type = h.type();
  const nb::object module = nb::getattr(type, "__module__", nb::none());
  if (!nb::isinstance<nb::str>(module) || !nb::cast<std::string>(module).starts_with("numpy")) return false;
  const std::string name = nb::cast<std::string>(nb::getattr(type, "__name__"));
  return name != "ndarray" && name != "bool_" && name != "bool";
}

// A type's name as PyTorch's messages give it (tp_name: "numpy.float64", "list").
std::string tp_name(nb::handle h) { return Py_TYPE(h.ptr())->tp_name; }

// h's value by __index__ (a bool is 0 or 1 here), or nothing where it has none or it is past int64.
std::optional<int64_t> index_value(nb::handle h) {
  nb::object index = nb::steal(PyNumber_Index(h.ptr()));
  if (!index.is_valid()) {
    PyErr_Clear();
    return std::nullopt;
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (overflow || (v == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

std::string argument_name(const char* fn, const char* arg, int position) {
  std::string name = std::string(fn) + "(): argument '" + arg + "'";
  if (position > 0) name += " (position " + std::to_string(position) + ")";
  return name;
}

}  // namespace

bool is_index(nb::handle h) {
  if (PyBool_Check(h.ptr())) return false;
  if (is_plain_int(h)) return true;
  nb::object index = nb::steal(PyNumber_Index(h.ptr()));
  if (!index.is_valid()) PyErr_Clear();
  return index.is_valid();
}

std::vector<int64_t> torch_int_list(nb::handle h, const char* fn, const char* arg, int position, bool one_int,
                                    const char* kind) {
  const std::string expected = std::string(" must be tuple of ") + kind;
  if (PyTuple_Check(h.ptr()) || PyList_Check(h.ptr())) {
    const auto n = static_cast<size_t>(PySequence_Size(h.ptr()));
    // PyTorch looks at the first element to tell an int list from something else, then converts
    // every element with __index__.
    if (n > 0 && !is_index(h[0]))
      throw nb::type_error((argument_name(fn, arg, position) + expected + ", not " + tp_name(h)).c_str());
    std::vector<int64_t> out;
    for (size_t i = 0; i < n; ++i) {
      const auto v = index_value(h[i]);
      if (!v)
        throw nb::type_error((argument_name(fn, arg, 0) + expected + ", but found element of type " + tp_name(h[i]) +
                              " at pos " + std::to_string(i + 1)).c_str());
      out.push_back(*v);
    }
    return out;
  }
  if (!one_int || !is_plain_int(h))
    throw nb::type_error((argument_name(fn, arg, position) + expected + ", not " + tp_name(h)).c_str());
  const auto v = index_value(h);
  if (!v) detail::fail(fn, "(): argument '", arg, "': Overflow when unpacking long (", nb::repr(h).c_str(),
                       " does not fit int64)");
  return {*v};
}

int64_t int_arg(nb::handle value, const char* op, const char* name, int position) {
  auto refuse = [&](const char* kind) {
    throw nb::type_error((argument_name(op, name, position) + " must be int, not " + kind).c_str());
  };
  // A 0-d int64 tensor is an int (torch's THPUtils_checkIndex); a bool, NumPy's included, is not.
  if (nb::isinstance<Tensor>(value)) {
    const Tensor& t = nb::cast<const Tensor&>(value);
    if (t.dtype() != kInt64 || t.dim() != 0) refuse("Tensor");
    return t.item<int64_t>();
  }
  const std::string_view type_name = Py_TYPE(value.ptr())->tp_name;
  if (type_name == "numpy.bool_" || type_name == "numpy.bool" || !is_index(value)) refuse(Py_TYPE(value.ptr())->tp_name);
  const auto v = index_value(value);
  if (!v) detail::fail(op, "(): argument '", name, "': Overflow when unpacking long (", nb::repr(value).c_str(), ")");
  return *v;
}

std::vector<BoundArg> bind_args(const char* fn, const nb::args& args, const nb::kwargs& kwargs,
                                std::initializer_list<const char*> names, size_t required) {
  const std::vector<const char*> params(names);
  if (args.size() > params.size()) {
    std::string takes = required == params.size() ? std::to_string(required)
                                                   : "from " + std::to_string(required) + " to " + std::to_string(params.size());
    throw nb::type_error((std::string(fn) + "() takes " + takes + " positional argument" +
                          (params.size() == 1 ? "" : "s") + " but " + std::to_string(args.size()) + " were given").c_str());
  }
  std::vector<BoundArg> bound(params.size());
  for (size_t i = 0; i < args.size(); ++i) bound[i] = {args[i], static_cast<int>(i + 1)};
  for (auto [key, value] : kwargs) {
    const std::string name = nb::str(key).c_str();
    size_t i = 0;
    while (i < params.size() && name != params[i]) ++i;
    if (i == params.size())
      throw nb::type_error((std::string(fn) + "() got an unexpected keyword argument '" + name + "'").c_str());
    if (bound[i].value.is_valid())
      throw nb::type_error((std::string(fn) + "() got multiple values for argument '" + name + "'").c_str());
    bound[i] = {value, 0};
  }
  for (size_t i = 0; i < required; ++i)
    if (!bound[i].value.is_valid())
      throw nb::type_error((std::string(fn) + "() missing 1 required positional arguments: \"" + params[i] + "\"").c_str());
  return bound;
}

std::vector<int64_t> sizes_from_args(const nb::args& args) {
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr())) return int_list(args[0]);
  return int_list(args);
}

TensorList nonzero_tuple(const Tensor& t) {
  const Tensor positions = (t.dim() == 0 ? t.reshape({1}) : t).nonzero();  // [count, dims]
  TensorList out;
  for (int64_t d = 0; d < positions.size(1); ++d) out.push_back(positions.select(1, d).contiguous());
  return out;
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
