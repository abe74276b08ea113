// dydx.dtype and its four objects (float32, float64, int64, bool), printed as PyTorch prints its
// dtypes with the package's name: dydx.float32.
#include <nanobind/stl/string.h>

#include <array>
#include <string>

#include "bindings.hpp"

namespace dydx::python {
namespace {

struct DType {
  ScalarType type;
};

/// Borrowed: the module's attributes own the four objects, which live as long as the module.
std::array<nb::handle, 4>& dtype_objects() {
  static std::array<nb::handle, 4> objects;
  return objects;
}

}  // namespace

nb::object dtype_object(ScalarType type) { return nb::borrow(dtype_objects()[static_cast<size_t>(type)]); }

std::optional<ScalarType> dtype_argument(nb::handle h) {
  if (h.is_none()) return std::nullopt;
  DType d;
  if (!nb::try_cast<DType>(h, d))
    throw nb::type_error(("dtype must be a dydx.dtype (dydx.float32, dydx.float64, dydx.int64, dydx.bool), not " +
                          std::string(nb::type_name(h.type()).c_str()))
                             .c_str());
  return d.type;
}

void bind_dtypes(nb::module_& m) {
  nb::class_<DType>(m, "dtype")
      .def_prop_ro("is_floating_point", [](const DType& d) { return is_floating_point(d.type); })
      .def_prop_ro("itemsize", [](const DType& d) { return element_size(d.type); })
      .def("__repr__", [](const DType& d) { return std::string("dydx.") + dtype_name(d.type); })
      .def("__eq__", [](const DType& a, nb::handle b) {
        DType other;
        return nb::try_cast<DType>(b, other) && other.type == a.type;
      })
      .def("__hash__", [](const DType& d) { return static_cast<int>(d.type); })
      .def("__reduce__", [](const DType& d) { return std::string(dtype_name(d.type)); });
  for (ScalarType t : {kFloat32, kFloat64, kInt64, kBool}) {
    m.attr(dtype_name(t)) = nb::cast(DType{t});
    dtype_objects()[static_cast<size_t>(t)] = m.attr(dtype_name(t));
  }
  // PyTorch's other names for the same dtypes.
  m.attr("float") = dtype_object(kFloat32);
  m.attr("double") = dtype_object(kFloat64);
  m.attr("long") = dtype_object(kInt64);
}

}  // namespace dydx::python
