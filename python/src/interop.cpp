// Zero-copy exchange with NumPy, PyTorch, JAX and anything else that speaks DLPack or the array
// interface: a dydx tensor seen as an array keeps its storage alive, and an array seen as a dydx
// tensor is kept alive by the tensor's storage, so either side may go first.
#include <nanobind/ndarray.h>

#include <string>

#include "bindings.hpp"
#include "py_ref.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;

nb::dlpack::dtype dlpack_dtype(ScalarType type) {
  switch (type) {
    case kFloat32: return nb::dtype<float>();
    case kFloat64: return nb::dtype<double>();
    case kInt64: return nb::dtype<int64_t>();
    case kBool: return nb::dtype<bool>();
  }
  return {};
}

std::optional<ScalarType> scalar_type(nb::dlpack::dtype d) {
  if (d == nb::dtype<float>()) return kFloat32;
  if (d == nb::dtype<double>()) return kFloat64;
  if (d == nb::dtype<int64_t>()) return kInt64;
  if (d == nb::dtype<bool>()) return kBool;
  return std::nullopt;
}

std::string dtype_text(nb::dlpack::dtype d) {
  const char* kind = d.code == uint8_t(nb::dlpack::dtype_code::Int)     ? "int"
                     : d.code == uint8_t(nb::dlpack::dtype_code::UInt)  ? "uint"
                     : d.code == uint8_t(nb::dlpack::dtype_code::Float) ? "float"
                     : d.code == uint8_t(nb::dlpack::dtype_code::Bool)  ? "bool"
                     : d.code == uint8_t(nb::dlpack::dtype_code::Complex) ? "complex"
                                                                       : "other";
  return std::string(kind) + std::to_string(d.bits);
}

/// The tensor's memory as an ndarray of the framework Framework, owned by a capsule that holds a
/// handle to the tensor (and so its storage).
template <class Framework>
nb::ndarray<Framework> as_ndarray(const Tensor& t) {
  DYDX_CHECK(!t.requires_grad(), "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  void* data = t.impl_ref().data_bytes();
  std::vector<size_t> shape(t.sizes().begin(), t.sizes().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  nb::capsule owner(new Tensor(t), [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  return nb::ndarray<Framework>(data, shape.size(), shape.data(), owner, strides.data(), dlpack_dtype(t.dtype()),
                                nb::device::cpu::value, 0);
}

/// What keeps an imported array's memory: nanobind's ndarray (it holds the producer's DLPack export,
/// which a producer like torch or JAX may be the only one to keep: the source object alone let a
/// torch tensor's set_() or a JAX array's delete() free the memory under the dydx tensor) and the
/// source object. Dropped under the GIL, since a producer's DLPack deleter may call into Python.
struct ImportedArray {
  std::unique_ptr<nb::ndarray<nb::ro>> array;
  std::shared_ptr<PyRef> source;
  ~ImportedArray() {
    if (!Py_IsInitialized()) {
      (void)array.release();  // at exit the process frees it; dropping it now would call into a dead interpreter
      return;
    }
    nb::gil_scoped_acquire gil;
    array.reset();
  }
};

/// A tensor over an array's memory; the array and `keep_alive` (its source) are released when the storage is.
Tensor tensor_over(nb::ndarray<nb::ro> array, nb::object keep_alive) {
  const auto type = scalar_type(array.dtype());
  if (!type)
    throw nb::type_error(("dydx: arrays of dtype " + dtype_text(array.dtype()) +
                          " are not supported; dydx holds float32, float64, int64 and bool")
                             .c_str());
  if (array.device_type() != nb::device::cpu::value) throw nb::value_error("dydx: only CPU arrays can be shared");
  std::vector<int64_t> sizes(array.ndim()), strides(array.ndim());
  for (size_t d = 0; d < array.ndim(); ++d) {
    sizes[d] = static_cast<int64_t>(array.shape(d));
    strides[d] = array.stride(d);
    if (strides[d] < 0 && sizes[d] > 1)
      throw nb::value_error("dydx: arrays with negative strides cannot be shared (dydx's strides are never negative); "
                            "pass a copy (numpy.ascontiguousarray)");
  }
  Tensor t = from_blob(const_cast<void*>(array.data()), sizes, strides, *type);
  // The storage owns the array, released (under the GIL) with the last tensor or view.
  auto owner = std::make_shared<ImportedArray>();
  owner->array = std::make_unique<nb::ndarray<nb::ro>>(std::move(array));
  owner->source = hold(std::move(keep_alive));
  t.impl()->storage->deleter = [owner](void*) mutable { owner.reset(); };
  return t;
}

bool writeable(nb::handle array) {
  if (nb::hasattr(array, "flags") && nb::hasattr(array.attr("flags"), "writeable"))
    return nb::cast<bool>(array.attr("flags").attr("writeable"));
  return true;
}

}  // namespace

void bind_interop(nb::class_<Tensor>& cls, nb::module_& m) {
  cls.def("numpy", [](const Tensor& t) { return as_ndarray<nb::numpy>(t); }, nb::rv_policy::reference)
      .def("__array__", [](const Tensor& t, nb::handle dtype, nb::handle copy) -> nb::object {
        nb::object array = nb::cast(as_ndarray<nb::numpy>(t), nb::rv_policy::reference);
        // NumPy 2 passes copy: True asks for a copy, None and False for the shared memory.
        const bool wants_copy = !copy.is_none() && nb::cast<bool>(copy);
        if (dtype.is_none()) return wants_copy ? array.attr("copy")() : array;
        // NumPy 2's copy=False promises no copy: a dtype that needs a conversion cannot keep it.
        nb::object converted = array.attr("astype")(dtype, "copy"_a = wants_copy);
        if (!copy.is_none() && !nb::cast<bool>(copy) && !converted.is(array))
          throw nb::value_error("Unable to avoid copy while creating an array as requested (the dtype differs)");
        return converted;
      }, "dtype"_a = nb::none(), "copy"_a = nb::none())
      .def("__dlpack__", [](const Tensor& t, nb::kwargs kwargs) {
        // nanobind's own array object implements the DLPack protocol (versions, read-only flag); the
        // tensor lends it its memory and hands the request on.
        nb::object array = nb::cast(as_ndarray<nb::array_api>(t), nb::rv_policy::reference);
        return array.attr("__dlpack__")(**kwargs);
      })
      .def("__dlpack_device__", [](const Tensor&) { return nb::make_tuple(int(nb::device::cpu::value), 0); });

  m.def("from_numpy", [](nb::object array) {
    if (!nb::hasattr(array, "__array_interface__") || !nb::hasattr(array, "flags"))
      throw nb::type_error(("dydx.from_numpy: expected a numpy.ndarray, not " +
                            std::string(nb::type_name(array.type()).c_str())).c_str());
    if (!writeable(array))
      throw nb::value_error("dydx.from_numpy: the array is read-only, and a dydx tensor over it could be written "
                            "to; pass a writeable array (array.copy())");
    nb::ndarray<nb::ro> view;
    if (!nb::try_cast(array, view, false)) throw nb::type_error("dydx.from_numpy: NumPy could not export this array");
    return tensor_over(view, array);
  }, "array"_a);
  m.def("from_dlpack", [](nb::object source) {
    if (nb::isinstance<Tensor>(source)) return nb::cast<Tensor>(source);
    if (!nb::hasattr(source, "__dlpack__"))
      throw nb::type_error(("dydx.from_dlpack: expected an object with __dlpack__, not " +
                            std::string(nb::type_name(source.type()).c_str())).c_str());
    // As from_numpy: a tensor over memory that may not be written would let an in-place op write it
    // (a read-only or memory-mapped NumPy array, the bytes under np.frombuffer). A torch tensor that
    // requires grad is refused as torch's own __dlpack__ refuses it: writes through dydx would change
    // a leaf behind autograd's back.
    if (!writeable(source))
      throw nb::value_error("dydx.from_dlpack: the array is read-only, and a dydx tensor over it could be written "
                            "to; pass a writeable array (array.copy())");
    if (nb::hasattr(source, "requires_grad") && nb::cast<bool>(source.attr("requires_grad")))
      throw nb::value_error("dydx.from_dlpack: Can't export tensors that require gradient, use tensor.detach()");
    nb::ndarray<nb::ro> view;
    if (!nb::try_cast(source, view, false))
      throw nb::type_error("dydx.from_dlpack: the object's DLPack export failed or is not a CPU array");
    return tensor_over(view, source);
  }, "ext_tensor"_a);
  m.def("from_dlpack_or_numpy", [m](nb::object source) {
    return m.attr(nb::hasattr(source, "__dlpack__") ? "from_dlpack" : "from_numpy")(source);
  });
}

}  // namespace dydx::python
