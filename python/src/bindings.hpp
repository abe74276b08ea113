// What the binding files share: the nanobind namespace, the registration functions each file
// defines, and the conversions between Python values and dydx's types.
#pragma once

#include <nanobind/nanobind.h>

#include <optional>
#include <vector>

#include "dydx/dydx.hpp"

namespace nb = nanobind;

namespace dydx::python {

void bind_dtypes(nb::module_& m);
void bind_tensor_methods(nb::class_<Tensor>& cls);
void bind_tensor_operators(nb::class_<Tensor>& cls);
void bind_indexing(nb::class_<Tensor>& cls);
void bind_creation(nb::module_& m);
void bind_autograd(nb::module_& m);
/// The cycle collector's view of a Tensor: the Python hooks it alone owns (autograd.cpp).
int tensor_traverse(PyObject* self, visitproc visit, void* arg);
int tensor_clear(PyObject* self);
void bind_interop(nb::class_<Tensor>& cls, nb::module_& m);
void bind_func(nb::module_& m);
void bind_free_ops(nb::module_& m);
void bind_optim(nb::module_& m);
void bind_nn(nb::class_<Tensor>& cls, nb::module_& m);

// ---- dtypes (dtypes.cpp) ------------------------------------------------------------------------
/// The Python object for a dtype: one object per dtype, so that `t.dtype is dydx.float32` holds.
nb::object dtype_object(ScalarType type);
/// A dydx.dtype argument, or nullopt for None.
std::optional<ScalarType> dtype_argument(nb::handle h);
inline TensorOptions options_from(nb::handle dtype, bool requires_grad) {
  TensorOptions options;
  if (auto t = dtype_argument(dtype)) options = options.dtype(*t);
  return options.requires_grad(requires_grad);
}

// ---- Python numbers and argument shapes (scalars.cpp) -------------------------------------------
/// Whether h is a Python (or NumPy) bool, int or float.
bool is_number(nb::handle h);
/// A Python number as a Scalar: bool stays bool, int stays int64 (exactly), float becomes double.
Scalar to_scalar(nb::handle h);
/// A Scalar as the Python number it holds.
nb::object scalar_object(Scalar s);
/// A tensor operand: a Tensor as it is, a Python number as a 0-d tensor of `like`'s dtype when the
/// number fits that kind (an int for a float tensor), otherwise of the number's own kind.
Tensor tensor_operand(nb::handle h, const Tensor& like);
/// Sizes given as Python's size(*args): f(2, 3) or f((2, 3)) or f([2, 3]).
std::vector<int64_t> sizes_from_args(const nb::args& args);
/// One int or a sequence of ints, as dims arguments are given.
std::vector<int64_t> int_list(nb::handle h);
/// Whether h converts with __index__ and is not a bool (PyTorch's THPUtils_checkIndex): what an int
/// argument may be.
bool is_index(nb::handle h);
/// An int argument as torch's parser takes it: an int or anything with __index__, a 0-d int64 tensor;
/// a bool (NumPy's too) or a float is torch's TypeError ("op(): argument 'name' (position p) must be
/// int, not float"), an int past int64 an overflow error.
int64_t int_arg(nb::handle value, const char* op, const char* name, int position);
/// An int-list argument parsed as PyTorch 1.13's argument parser does, for ops that must refuse what
/// it refuses (a bool or a float where an int is meant): a tuple or list (torch.Size included) whose
/// first element is an int or has __index__ (a bool is not), its other elements whatever __index__
/// takes; or, where one_int (PyTorch's IntArrayRef[1]), a lone int (not a bool) or NumPy integer.
/// TypeErrors are worded as PyTorch's, naming fn, arg, its position (0: given by keyword) and kind
/// ("ints", or "SymInts" where PyTorch's signature says so).
std::vector<int64_t> torch_int_list(nb::handle h, const char* fn, const char* arg, int position, bool one_int,
                                    const char* kind = "ints");
/// The arguments of a PyTorch-style call: each of names once, positionally or by keyword, the first
/// `required` of them required; PyTorch's TypeErrors for too many, missing, repeated and unknown
/// ones. The result: per name, the value (null where absent) and its position (0 for a keyword).
struct BoundArg {
  nb::handle value;
  int position = 0;
};
std::vector<BoundArg> bind_args(const char* fn, const nb::args& args, const nb::kwargs& kwargs,
                                std::initializer_list<const char*> names, size_t required);
/// A Python sequence of tensors (or one tensor) as a TensorList.
TensorList tensor_list(nb::handle h);
/// A tuple of the tensors, undefined ones as None.
nb::tuple tensor_tuple(const TensorList& tensors);
/// nonzero(as_tuple=True) and where(condition): one 1-D int64 tensor of indices per dim (for a 0-D
/// tensor, one: [0] where it is nonzero, else empty), as torch's.
TensorList nonzero_tuple(const Tensor& t);
/// A Tensor, or None when it is undefined.
nb::object tensor_or_none(const Tensor& t);

/// Runs f without the GIL when the work is large enough to be worth handing the interpreter to other
/// threads; below that, releasing and re-taking the GIL would cost more than the op itself. f must not
/// touch a Python object (convert arguments first): without the GIL that crashes, and only for large
/// tensors.
inline constexpr int64_t kReleaseGilAbove = 1 << 15;
template <class F>
auto maybe_without_gil(int64_t numel, F&& f) {
  if (numel < kReleaseGilAbove) return f();
  nb::gil_scoped_release release;
  return f();
}
template <class F>
auto without_gil(F&& f) {
  nb::gil_scoped_release release;
  return f();
}

}  // namespace dydx::python
