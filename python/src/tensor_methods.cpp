// Tensor's methods with PyTorch's Python names and arguments: geometry, views, math, reductions,
// comparisons and the in-place forms. Large elementwise work runs without the GIL.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;

std::optional<Scalar> optional_scalar(nb::handle h) {
  if (h.is_none()) return std::nullopt;
  return to_scalar(h);
}

/// Which of clamp's forms a binding is: both bounds optional, or clamp_min's or clamp_max's one.
enum class ClampForm { Between, Min, Max };

/// clamp (or clamp_min, clamp_max) of t with Python bounds, in place or not. Numbers alone take the
/// scalar form; a tensor bound takes the tensor form, with a number beside it as a 0-d tensor (as
/// torch's parser wraps it).
Tensor clamp_with(Tensor& t, nb::handle min, nb::handle max, ClampForm form, bool in_place) {
  if (!nb::isinstance<Tensor>(min) && !nb::isinstance<Tensor>(max)) {
    const std::optional<Scalar> lo = optional_scalar(min), hi = optional_scalar(max);
    switch (form) {
      case ClampForm::Min: return in_place ? t.clamp_min_(*lo) : t.clamp_min(*lo);
      case ClampForm::Max: return in_place ? t.clamp_max_(*hi) : t.clamp_max(*hi);
      default: return in_place ? t.clamp_(lo, hi) : t.clamp(lo, hi);
    }
  }
  std::optional<Tensor> lo, hi;
  if (!min.is_none()) lo = tensor_operand(min, t);
  if (!max.is_none()) hi = tensor_operand(max, t);
  if (lo) return in_place ? t.clamp_(*lo, hi) : t.clamp(*lo, hi);
  return in_place ? t.clamp_(std::nullopt, *hi) : t.clamp(std::nullopt, *hi);
}

/// The pieces of split, chunk and unbind as PyTorch gives them: a tuple.
nb::tuple as_tuple(const TensorList& pieces) {
  nb::list list;
  for (const Tensor& p : pieces) list.append(nb::cast(p));
  return nb::tuple(list);
}

/// Sizes from *args as view(2, 3), or dims from *args as permute(1, 0).
Tensor reshaped(const Tensor& t, const nb::args& args, bool view) {
  const auto sizes = sizes_from_args(args);
  return view ? t.view(sizes) : t.reshape(sizes);
}

/// (values, indices) as dydx.return_types' named tuple `name` (torch.return_types' counterpart), made
/// as a tuple of that type directly: no Python-level __new__ or wrapper on max(dim)'s path, a per-op
/// call. The module is held from its first use to the interpreter's end (set with the GIL held; not
/// a guarded static, whose guard a thread could wait on while it holds the GIL that the import gives up).
nb::object named_pair(const char* name, const Tensor& values, const Tensor& indices) {
  static PyObject* types = nullptr;
  if (types == nullptr) types = nb::module_::import_("dydx.return_types").release().ptr();
  const nb::object type = nb::steal(PyObject_GetAttrString(types, name));
  if (!type.is_valid()) throw nb::python_error();
  const nb::object args = nb::make_tuple(nb::make_tuple(values, indices));
  PyObject* out = PyTuple_Type.tp_new(reinterpret_cast<PyTypeObject*>(type.ptr()), args.ptr(), nullptr);
  if (out == nullptr) throw nb::python_error();
  return nb::steal(out);
}

/// median() and median(dim, keepdim), and nanmedian's: keepdim without a dim is torch's TypeError.
nb::object median_of(const Tensor& t, nb::handle dim, bool keepdim, bool skip_nans) {
  const char* op = skip_nans ? "nanmedian" : "median";
  if (dim.is_none()) {
    if (keepdim) throw nb::type_error((std::string(op) + "(): keepdim given without a dim").c_str());
    return nb::cast(skip_nans ? t.nanmedian() : t.median());
  }
  const int64_t d = int_arg(dim, op, "dim", 1);
  auto [values, indices] = skip_nans ? t.nanmedian(d, keepdim) : t.median(d, keepdim);
  return named_pair(op, values, indices);
}

/// max(), max(dim, keepdim) and max(other) in one method, as PyTorch's overloads: a tensor is `other`
/// only alone and by position (x.max(y)) or by its keyword; x.max(dim=t) and x.max(t, True) take the
/// tensor as a dim (an int64 0-d one is an int, as in torch; another a TypeError).
nb::object extreme(const Tensor& t, const nb::args& args, const nb::kwargs& kwargs, bool is_max) {
  const char* op = is_max ? "max" : "min";
  if (args.size() == 0 && kwargs.size() == 0) return nb::cast(is_max ? t.max() : t.min());
  if (kwargs.contains("other")) {
    if (args.size() != 0 || kwargs.size() != 1)
      throw nb::type_error((std::string(op) + "(): 'other' is given alone").c_str());
    nb::handle given = kwargs["other"];
    if (!nb::isinstance<Tensor>(given))
      throw nb::type_error((std::string(op) + "(): argument 'other' must be Tensor, not " + Py_TYPE(given.ptr())->tp_name).c_str());
    const auto& other = nb::cast<const Tensor&>(given);
    return nb::cast(is_max ? t.maximum(other) : t.minimum(other));
  }
  const std::vector<BoundArg> bound = bind_args(op, args, kwargs, {"dim", "keepdim"}, 0);
  const BoundArg &dim = bound[0], &keepdim = bound[1];
  if (!dim.value.is_valid()) {
    if (keepdim.value.is_valid()) throw nb::type_error((std::string(op) + "(): keepdim given without a dim").c_str());
    return nb::cast(is_max ? t.max() : t.min());
  }
  if (nb::isinstance<Tensor>(dim.value) && dim.position == 1 && !keepdim.value.is_valid()) {
    const auto& other = nb::cast<const Tensor&>(dim.value);
    return nb::cast(is_max ? t.maximum(other) : t.minimum(other));
  }
  const int64_t d = int_arg(dim.value, op, "dim", dim.position);
  if (keepdim.value.is_valid() && !PyBool_Check(keepdim.value.ptr()))
    throw nb::type_error((std::string(op) + "(): argument 'keepdim' must be bool, not " + Py_TYPE(keepdim.value.ptr())->tp_name).c_str());
  const bool keep = keepdim.value.is_valid() && keepdim.value.ptr() == Py_True;
  auto [values, indices] = is_max ? t.max(d, keep) : t.min(d, keep);
  return named_pair(op, values, indices);
}

/// prod() and prod(dim, keepdim), each with torch's keyword-only dtype: keepdim without a dim, a bool
/// or float dim, a keepdim that is not a bool and a dtype by position are torch's TypeErrors.
Tensor product_of(const Tensor& t, const nb::args& args, const nb::kwargs& kwargs) {
  const std::vector<BoundArg> bound = bind_args("prod", args, kwargs, {"dim", "keepdim", "dtype"}, 0);
  const BoundArg &dim = bound[0], &keepdim = bound[1], &dtype = bound[2];
  if (dtype.position != 0) throw nb::type_error("prod(): dtype is a keyword argument (dtype=...)");
  const auto type = dtype_argument(dtype.value.is_valid() ? dtype.value : nb::none());
  if (!dim.value.is_valid()) {
    if (keepdim.value.is_valid()) throw nb::type_error("prod(): keepdim given without a dim");
    return maybe_without_gil(t.numel(), [&] { return t.prod(type); });
  }
  const int64_t d = int_arg(dim.value, "prod", "dim", dim.position);
  if (keepdim.value.is_valid() && !PyBool_Check(keepdim.value.ptr()))
    throw nb::type_error((std::string("prod(): argument 'keepdim' must be bool, not ") + Py_TYPE(keepdim.value.ptr())->tp_name).c_str());
  const bool keep = keepdim.value.is_valid() && keepdim.value.ptr() == Py_True;
  return maybe_without_gil(t.numel(), [&] { return t.prod(d, keep, type); });
}

/// cumsum and cumprod, out of place and in place: dim an int as torch's parser takes one (a bool or a
/// float is its TypeError; cumsum(True) was dim 1), dtype keyword-only, the GIL released on large
/// tensors. (The message names no position: nanobind does not say whether dim came by keyword.)
template <Tensor (Tensor::*Scan)(int64_t, std::optional<ScalarType>) const>
Tensor scan_of(const Tensor& t, nb::handle dim, nb::handle dtype, const char* op) {
  const int64_t d = int_arg(dim, op, "dim", 0);
  const auto type = dtype_argument(dtype);
  return maybe_without_gil(t.numel(), [&] { return (t.*Scan)(d, type); });
}
template <Tensor& (Tensor::*Scan)(int64_t, std::optional<ScalarType>)>
Tensor& scan_in_place(Tensor& t, nb::handle dim, nb::handle dtype, const char* op) {
  const int64_t d = int_arg(dim, op, "dim", 0);
  const auto type = dtype_argument(dtype);
  maybe_without_gil(t.numel(), [&] { (t.*Scan)(d, type); });
  return t;
}

/// amax and amin: over dim (an int or a sequence of ints), or every dim for None.
Tensor extreme_over(const Tensor& t, nb::handle dim, bool keepdim, bool is_max) {
  const char* op = is_max ? "amax" : "amin";
  // A bool alone is refused with the message torch's parser gives (int_list refuses it too, and a
  // bool first in a sequence; later elements are taken as 0 or 1, as torch takes them).
  if (PyBool_Check(dim.ptr()))
    throw nb::type_error((std::string(op) + "(): argument 'dim' must be tuple of ints, not bool").c_str());
  const std::vector<int64_t> dims = dim.is_none() ? std::vector<int64_t>{} : int_list(dim);
  return maybe_without_gil(t.numel(), [&] { return is_max ? t.amax(dims, keepdim) : t.amin(dims, keepdim); });
}

/// var's and std's dims and unbiased: a lone bool in dim's place is PyTorch's var(bool unbiased)
/// overload over every element (x.var(False) is the biased variance of all, not over dim 0).
std::pair<std::vector<int64_t>, bool> spread_arguments(nb::handle dim, bool unbiased, bool keepdim, const char* op) {
  if (PyBool_Check(dim.ptr())) {
    if (keepdim)
      throw nb::type_error((std::string(op) + "(): unbiased given in dim's place takes no keepdim").c_str());
    return {{}, dim.ptr() == Py_True};
  }
  return {dim.is_none() ? std::vector<int64_t>{} : int_list(dim), unbiased};
}

// var and std: correction= (keyword-only, an int; it overrides unbiased, as torch's), else unbiased.
Tensor moment_of(const Tensor& t, nb::handle dim, bool unbiased, bool keepdim, nb::handle correction, const char* op) {
  const auto [dims, unbiased_] = spread_arguments(dim, unbiased, keepdim, op);
  const bool is_var = std::string_view(op) == "var";
  if (correction.is_none()) return is_var ? t.var(dims, unbiased_, keepdim) : t.std(dims, unbiased_, keepdim);
  const std::optional<int64_t> c = int_arg(correction, op, "correction", 0);  // (an int64_t would pick the bool overload)
  return is_var ? t.var(dims, c, keepdim) : t.std(dims, c, keepdim);
}

// tensor_split's second argument: an int (sections), an int64 tensor (0-D sections, 1-D indices), or
// a sequence of ints (indices).
TensorList tensor_split_of(const Tensor& t, nb::handle indices_or_sections, int64_t dim) {
  if (nb::isinstance<Tensor>(indices_or_sections)) return t.tensor_split(nb::cast<const Tensor&>(indices_or_sections), dim);
  if (is_index(indices_or_sections)) return t.tensor_split(nb::cast<int64_t>(indices_or_sections), dim);
  return t.tensor_split(torch_int_list(indices_or_sections, "tensor_split", "indices", 2, false), dim);
}

nb::object item(const Tensor& t) {
  if (t.numel() != 1) throw nb::value_error("only one element tensors can be converted to Python scalars");
  switch (t.dtype()) {
    case kFloat32:
    case kFloat64: return nb::float_(t.item<double>());
    case kInt64: return nb::int_(t.item<int64_t>());
    case kBool: return nb::bool_(t.item<bool>());
  }
  return nb::none();
}

nb::object nested_list(const Tensor& t) {
  if (t.dim() == 0) return item(t);
  nb::list out;
  for (int64_t i = 0; i < t.size(0); ++i) out.append(nested_list(t.select(0, i)));
  return out;
}

}  // namespace

#define DYDX_UNARY(name)                                                                         \
  cls.def(#name, [](const Tensor& t) { return maybe_without_gil(t.numel(), [&] { return t.name(); }); }); \
  cls.def(#name "_", [](Tensor& t) -> Tensor& {                                                  \
    maybe_without_gil(t.numel(), [&] { t.name##_(); return 0; });                                 \
    return t;                                                                                     \
  }, nb::rv_policy::reference_internal)

void bind_tensor_methods(nb::class_<Tensor>& cls) {
  // ---- geometry ----
  cls.def_prop_ro("shape", [](const Tensor& t) { return nb::module_::import_("dydx").attr("Size")(nb::cast(t.sizes().vec())); })
      .def("size", [](const Tensor& t, std::optional<int64_t> dim) -> nb::object {
        if (dim) return nb::int_(t.size(*dim));
        return nb::module_::import_("dydx").attr("Size")(nb::cast(t.sizes().vec()));
      }, "dim"_a = nb::none())
      .def("stride", [](const Tensor& t, std::optional<int64_t> dim) -> nb::object {
        if (dim) return nb::int_(t.stride(*dim));
        return nb::tuple(nb::cast(t.strides().vec()));
      }, "dim"_a = nb::none())
      .def("dim", &Tensor::dim)
      .def("ndimension", &Tensor::dim)
      .def_prop_ro("ndim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("nelement", &Tensor::numel)
      .def("element_size", [](const Tensor& t) { return element_size(t.dtype()); })
      .def("storage_offset", &Tensor::storage_offset)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("is_floating_point", &Tensor::is_floating_point)
      .def_prop_ro("dtype", [](const Tensor& t) { return dtype_object(t.dtype()); })
      .def_prop_ro("_version", &Tensor::_version)
      .def("item", &item)
      .def("tolist", &nested_list)
      .def("__len__", [](const Tensor& t) {
        if (t.dim() == 0) throw nb::type_error("len() of a 0-d tensor");
        return t.size(0);
      })
      .def("__bool__", [](const Tensor& t) { return nb::cast<bool>(item(t.to(kBool))); })
      .def("__float__", [](const Tensor& t) { return nb::cast<double>(item(t.to(kFloat64))); })
      // A float tensor converts as Python's int(float) does: exact, ValueError for nan, OverflowError
      // for inf (a cast to int64 gave INT64_MIN for all of 1e20, nan, inf and -1e19).
      .def("__int__", [](const Tensor& t) {
        if (!t.is_floating_point()) return nb::object(item(t.to(kInt64)));
        return nb::steal(PyNumber_Long(item(t.to(kFloat64)).ptr()));
      })
      .def("__hash__", [](nb::handle self) { return reinterpret_cast<intptr_t>(self.ptr()); });

  // ---- views and copies ----
  cls.def("view", [](const Tensor& t, nb::args s) { return reshaped(t, s, true); })
      .def("reshape", [](const Tensor& t, nb::args s) { return reshaped(t, s, false); })
      .def("view_as", [](const Tensor& t, const Tensor& o) { return t.view(o.sizes()); })
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return t.reshape(o.sizes()); })
      .def("expand", [](const Tensor& t, nb::args s) { return t.expand(sizes_from_args(s)); })
      .def("expand_as", &Tensor::expand_as)
      .def("permute", [](const Tensor& t, nb::args dims) { return t.permute(sizes_from_args(dims)); })
      // flip(0, 1), flip([0, 1]) or flip(dims=[0, 1]), as torch's.
      .def("flip", [](const Tensor& t, nb::args dims, nb::kwargs kwargs) {
        if (kwargs.contains("dims")) {
          if (dims.size() > 0 || kwargs.size() > 1) throw nb::type_error("flip() takes its dims once, as dims=[...] or positionally");
          return t.flip(int_list(kwargs["dims"]));
        }
        if (kwargs.size() > 0) throw nb::type_error("flip() got an unexpected keyword argument");
        // dims is required, as torch's (flip([]) is a copy; flip() is a mistake).
        if (dims.size() == 0) throw nb::type_error("flip() missing 1 required positional arguments: \"dims\"");
        return t.flip(sizes_from_args(dims));
      })
      .def("t", &Tensor::t)
      .def_prop_ro("T", [](const Tensor& t) {
        std::vector<int64_t> dims(t.dim());
        for (int64_t d = 0; d < t.dim(); ++d) dims[d] = t.dim() - 1 - d;
        return t.permute(dims);
      })
      .def("transpose", &Tensor::transpose, "dim0"_a, "dim1"_a)
      .def("unsqueeze", &Tensor::unsqueeze, "dim"_a)
      .def("squeeze", [](const Tensor& t, std::optional<int64_t> dim) { return dim ? t.squeeze(*dim) : t.squeeze(); },
           "dim"_a = nb::none())
      .def("flatten", &Tensor::flatten, "start_dim"_a = 0, "end_dim"_a = -1)
      .def("unflatten", [](const Tensor& t, int64_t dim, nb::handle sizes) { return t.unflatten(dim, int_list(sizes)); },
           "dim"_a, "sizes"_a)
      .def("movedim", [](const Tensor& t, nb::handle source, nb::handle destination) {
        return t.movedim(int_list(source), int_list(destination));
      }, "source"_a, "destination"_a)
      .def("moveaxis", [](const Tensor& t, nb::handle source, nb::handle destination) {
        return t.moveaxis(int_list(source), int_list(destination));
      }, "source"_a, "destination"_a)
      .def("swapaxes", &Tensor::swapaxes, "axis0"_a, "axis1"_a)
      .def("swapdims", &Tensor::swapdims, "dim0"_a, "dim1"_a)
      // broadcast_to((2, 3)), broadcast_to(2, 3) or broadcast_to(size=(2, 3)), as torch's.
      .def("broadcast_to", [](const Tensor& t, nb::args args, nb::kwargs kwargs) {
        if (kwargs.size() > 0 || args.size() == 0) {
          const auto bound = bind_args("broadcast_to", args, kwargs, {"size"}, 1);
          return t.broadcast_to(torch_int_list(bound[0].value, "broadcast_to", "size", bound[0].position, false));
        }
        return t.broadcast_to(sizes_from_args(args));
      })
      .def("fliplr", &Tensor::fliplr)
      .def("flipud", &Tensor::flipud)
      // tile(2, 3), tile((2, 3)) or tile([2, 3]), as repeat's sizes.
      .def("tile", [](const Tensor& t, nb::args args, nb::kwargs kwargs) {
        if (kwargs.size() > 0 || args.size() == 0) {
          const auto bound = bind_args("tile", args, kwargs, {"dims"}, 1);
          return t.tile(torch_int_list(bound[0].value, "tile", "dims", bound[0].position, false));
        }
        return t.tile(sizes_from_args(args));
      })
      // tensor_split(sections or indices or tensor_indices_or_sections, dim=0): torch's keyword names,
      // one per form, or the second argument positionally.
      .def("tensor_split", [](const Tensor& t, nb::args args, nb::kwargs kwargs) {
        if (args.size() > 2) throw nb::type_error("tensor_split() takes at most 2 arguments besides the tensor");
        nb::handle split = args.size() > 0 ? args[0] : nb::handle(), dim = args.size() > 1 ? args[1] : nb::handle();
        for (auto [key, value] : kwargs) {
          const std::string name = nb::cast<std::string>(key);
          const bool is_split = name == "sections" || name == "indices" || name == "tensor_indices_or_sections";
          if (!is_split && name != "dim")
            throw nb::type_error(("tensor_split() got an unexpected keyword argument '" + name + "'").c_str());
          nb::handle& slot = is_split ? split : dim;
          if (slot.is_valid()) throw nb::type_error(("tensor_split() got multiple values for argument '" + name + "'").c_str());
          slot = value;
        }
        if (!split.is_valid()) throw nb::type_error("tensor_split() missing 1 required argument: sections or indices");
        return as_tuple(tensor_split_of(t, split, dim.is_valid() ? int_arg(dim, "tensor_split", "dim", 2) : 0));
      })
      .def("take_along_dim", [](const Tensor& t, const Tensor& indices, std::optional<int64_t> dim) {
        return t.take_along_dim(indices, dim);
      }, "indices"_a, "dim"_a = nb::none())
      // repeat(2, 3), repeat((2, 3)), repeat([2, 3]) or repeat(repeats=[2, 3]), and nothing PyTorch
      // 1.13 refuses (repeat(True, 2), repeat(2.0), repeat(repeats=2)).
      .def("repeat", [](const Tensor& t, nb::args args, nb::kwargs kwargs) {
        if (kwargs.size() > 0 || args.size() == 0) {
          const auto bound = bind_args("repeat", args, kwargs, {"repeats"}, 1);
          return t.repeat(torch_int_list(bound[0].value, "repeat", "repeats", bound[0].position, false, "SymInts"));
        }
        // One list or tuple is the repeats; otherwise every positional argument is one of them, the
        // first an int (PyTorch's test of which form it was given).
        if (args.size() == 1 && (PyTuple_Check(args[0].ptr()) || PyList_Check(args[0].ptr())))
          return t.repeat(torch_int_list(args[0], "repeat", "repeats", 1, false, "SymInts"));
        if (!is_index(args[0]))
          throw nb::type_error(("repeat(): argument 'repeats' (position 1) must be tuple of SymInts, not " +
                                std::string(Py_TYPE(args[0].ptr())->tp_name)).c_str());
        return t.repeat(torch_int_list(args, "repeat", "repeats", 1, false, "SymInts"));
      })
      // roll(shifts, dims=None), each an int or a tuple or list of ints, positionally or by keyword;
      // None or [] for dims rolls the flattened tensor.
      .def("roll", [](const Tensor& t, nb::args args, nb::kwargs kwargs) {
        const auto bound = bind_args("roll", args, kwargs, {"shifts", "dims"}, 1);
        const auto shifts = torch_int_list(bound[0].value, "roll", "shifts", bound[0].position, true);
        const nb::handle dims = bound[1].value;
        return t.roll(shifts, !dims.is_valid() || dims.is_none()
                                  ? std::vector<int64_t>{}
                                  : torch_int_list(dims, "roll", "dims", bound[1].position, true));
      })
      .def("select", &Tensor::select, "dim"_a, "index"_a)
      .def("narrow", &Tensor::narrow, "dim"_a, "start"_a, "length"_a)
      .def("split", [](const Tensor& t, nb::handle split_size, int64_t dim) {
        // An int, or a list of sizes (split_with_sizes), as torch.Tensor.split takes either.
        if (nb::isinstance<nb::int_>(split_size)) return as_tuple(t.split(nb::cast<int64_t>(split_size), dim));
        return as_tuple(t.split_with_sizes(int_list(split_size), dim));
      }, "split_size"_a, "dim"_a = 0)
      .def("split_with_sizes", [](const Tensor& t, nb::handle split_sizes, int64_t dim) {
        return as_tuple(t.split_with_sizes(int_list(split_sizes), dim));
      }, "split_sizes"_a, "dim"_a = 0)
      .def("chunk", [](const Tensor& t, int64_t chunks, int64_t dim) { return as_tuple(t.chunk(chunks, dim)); },
           "chunks"_a, "dim"_a = 0)
      .def("unbind", [](const Tensor& t, int64_t dim) { return as_tuple(t.unbind(dim)); }, "dim"_a = 0)
      .def("diagonal", &Tensor::diagonal, "offset"_a = 0, "dim1"_a = 0, "dim2"_a = 1)
      .def("diag", &Tensor::diag, "diagonal"_a = 0)
      .def("trace", &Tensor::trace)
      .def("tril", &Tensor::tril, "diagonal"_a = 0)
      .def("triu", &Tensor::triu, "diagonal"_a = 0)
      .def("tril_", &Tensor::tril_, "diagonal"_a = 0, nb::rv_policy::reference_internal)
      .def("triu_", &Tensor::triu_, "diagonal"_a = 0, nb::rv_policy::reference_internal)
      .def("as_strided", [](const Tensor& t, nb::handle size, nb::handle stride, std::optional<int64_t> offset) {
        return t.as_strided(int_list(size), int_list(stride), offset);
      }, "size"_a, "stride"_a, "storage_offset"_a = nb::none())
      .def("contiguous", &Tensor::contiguous)
      .def("clone", [](const Tensor& t) { return maybe_without_gil(t.numel(), [&] { return t.clone(); }); })
      .def("detach", &Tensor::detach)
      .def("detach_", &Tensor::detach_, nb::rv_policy::reference_internal)
      .def("to", [](const Tensor& t, nb::handle dtype) { return t.to(*dtype_argument(dtype)); }, "dtype"_a)
      .def("type", [](const Tensor& t, nb::handle dtype) { return t.to(*dtype_argument(dtype)); }, "dtype"_a)
      .def("float", [](const Tensor& t) { return t.to(kFloat32); })
      .def("double", [](const Tensor& t) { return t.to(kFloat64); })
      .def("long", [](const Tensor& t) { return t.to(kInt64); })
      .def("bool", [](const Tensor& t) { return t.to(kBool); });

  // ---- elementwise functions and their in-place forms ----
  DYDX_UNARY(exp);
  DYDX_UNARY(log);
  DYDX_UNARY(sqrt);
  DYDX_UNARY(sin);
  DYDX_UNARY(cos);
  DYDX_UNARY(tan);
  DYDX_UNARY(tanh);
  DYDX_UNARY(sigmoid);
  DYDX_UNARY(relu);
  DYDX_UNARY(abs);
  DYDX_UNARY(neg);
  DYDX_UNARY(log1p);
  DYDX_UNARY(expm1);
  DYDX_UNARY(erf);
  DYDX_UNARY(asin);
  DYDX_UNARY(acos);
  DYDX_UNARY(atan);
  DYDX_UNARY(sinh);
  DYDX_UNARY(cosh);
  DYDX_UNARY(asinh);
  DYDX_UNARY(acosh);
  DYDX_UNARY(atanh);
  DYDX_UNARY(reciprocal);
  DYDX_UNARY(rsqrt);
  DYDX_UNARY(log2);
  DYDX_UNARY(log10);
  DYDX_UNARY(exp2);
  DYDX_UNARY(erfc);
  DYDX_UNARY(floor);
  DYDX_UNARY(ceil);
  DYDX_UNARY(trunc);
  DYDX_UNARY(frac);
  DYDX_UNARY(square);
  cls.def("negative", &Tensor::neg)
      .def("sign", [](const Tensor& t) { return dydx::sign(t); })
      // clamp's bounds: numbers, or tensors (a number beside a tensor bound becomes a 0-d tensor, as
      // torch's parser wraps it).
      .def("clamp", [](Tensor& t, nb::handle min, nb::handle max) { return clamp_with(t, min, max, ClampForm::Between, false); },
           "min"_a.none() = nb::none(), "max"_a.none() = nb::none())
      .def("clip", [](Tensor& t, nb::handle min, nb::handle max) { return clamp_with(t, min, max, ClampForm::Between, false); },
           "min"_a.none() = nb::none(), "max"_a.none() = nb::none())
      .def("clamp_", [](nb::handle self, nb::handle min, nb::handle max) {
        clamp_with(nb::cast<Tensor&>(self), min, max, ClampForm::Between, true);
        return nb::borrow(self);
      }, "min"_a.none() = nb::none(), "max"_a.none() = nb::none())
      .def("clip_", [](nb::handle self, nb::handle min, nb::handle max) {
        clamp_with(nb::cast<Tensor&>(self), min, max, ClampForm::Between, true);
        return nb::borrow(self);
      }, "min"_a.none() = nb::none(), "max"_a.none() = nb::none())
      .def("clamp_min", [](Tensor& t, nb::handle min) { return clamp_with(t, min, nb::none(), ClampForm::Min, false); }, "min"_a)
      .def("clamp_max", [](Tensor& t, nb::handle max) { return clamp_with(t, nb::none(), max, ClampForm::Max, false); }, "max"_a)
      .def("clamp_min_", [](nb::handle self, nb::handle min) {
        clamp_with(nb::cast<Tensor&>(self), min, nb::none(), ClampForm::Min, true);
        return nb::borrow(self);
      }, "min"_a)
      .def("clamp_max_", [](nb::handle self, nb::handle max) {
        clamp_with(nb::cast<Tensor&>(self), nb::none(), max, ClampForm::Max, true);
        return nb::borrow(self);
      }, "max"_a)
      .def("round", [](const Tensor& t, int64_t decimals) {
        return maybe_without_gil(t.numel(), [&] { return decimals == 0 ? t.round() : t.round(decimals); });
      }, nb::kw_only(), "decimals"_a = 0)
      .def("round_", [](Tensor& t) -> Tensor& {
        maybe_without_gil(t.numel(), [&] { t.round_(); return 0; });
        return t;
      }, nb::rv_policy::reference_internal)
      .def("lerp", [](const Tensor& t, const Tensor& end, nb::handle weight) {
        return nb::isinstance<Tensor>(weight) ? t.lerp(end, nb::cast<const Tensor&>(weight)) : t.lerp(end, to_scalar(weight));
      }, "end"_a, "weight"_a)
      .def("lerp_", [](nb::handle self, const Tensor& end, nb::handle weight) {
        auto& t = nb::cast<Tensor&>(self);
        if (nb::isinstance<Tensor>(weight)) t.lerp_(end, nb::cast<const Tensor&>(weight));
        else t.lerp_(end, to_scalar(weight));
        return nb::borrow(self);
      }, "end"_a, "weight"_a)
      .def("logaddexp", [](const Tensor& t, const Tensor& o) { return t.logaddexp(o); }, "other"_a)
      .def("logaddexp2", [](const Tensor& t, const Tensor& o) { return t.logaddexp2(o); }, "other"_a)
      .def("xlogy", [](const Tensor& t, nb::handle o) {
        return nb::isinstance<Tensor>(o) ? t.xlogy(nb::cast<const Tensor&>(o)) : t.xlogy(to_scalar(o));
      }, "other"_a)
      .def("logit", [](const Tensor& t, std::optional<double> eps) { return t.logit(eps); }, "eps"_a.none() = nb::none())
      .def("bitwise_left_shift", [](const Tensor& t, nb::handle o) { return t.bitwise_left_shift(tensor_operand(o, t)); }, "other"_a)
      .def("bitwise_right_shift", [](const Tensor& t, nb::handle o) { return t.bitwise_right_shift(tensor_operand(o, t)); }, "other"_a)
      .def("diff", [](const Tensor& t, int64_t n, int64_t dim, std::optional<Tensor> prepend, std::optional<Tensor> append) {
        return t.diff(n, dim, prepend, append);
      }, "n"_a = 1, "dim"_a = -1, "prepend"_a.none() = nb::none(), "append"_a.none() = nb::none())
      .def("kron", [](const Tensor& a, const Tensor& b) { return dydx::kron(a, b); }, "other"_a)
      .def("nan_to_num", [](const Tensor& t, std::optional<double> nan, std::optional<double> posinf,
                            std::optional<double> neginf) { return t.nan_to_num(nan, posinf, neginf); },
           "nan"_a.none() = 0.0, "posinf"_a.none() = nb::none(), "neginf"_a.none() = nb::none())
      .def("nan_to_num_", [](Tensor& t, std::optional<double> nan, std::optional<double> posinf,
                             std::optional<double> neginf) -> Tensor& { return t.nan_to_num_(nan, posinf, neginf); },
           "nan"_a.none() = 0.0, "posinf"_a.none() = nb::none(), "neginf"_a.none() = nb::none(),
           nb::rv_policy::reference_internal)
      .def("pow", [](const Tensor& t, nb::handle e) {
        return nb::isinstance<Tensor>(e) ? t.pow(nb::cast<const Tensor&>(e)) : t.pow(to_scalar(e));
      }, "exponent"_a)
      .def("atan2", [](const Tensor& t, nb::handle o) { return t.atan2(tensor_operand(o, t)); }, "other"_a)
      .def("hypot", [](const Tensor& t, nb::handle o) { return t.hypot(tensor_operand(o, t)); }, "other"_a)
      .def("maximum", [](const Tensor& t, nb::handle o) { return t.maximum(tensor_operand(o, t)); }, "other"_a)
      .def("minimum", [](const Tensor& t, nb::handle o) { return t.minimum(tensor_operand(o, t)); }, "other"_a)
      .def("fmod", [](const Tensor& t, nb::handle o) {
        return nb::isinstance<Tensor>(o) ? t.fmod(nb::cast<const Tensor&>(o)) : t.fmod(to_scalar(o));
      }, "other"_a)
      .def("remainder", [](const Tensor& t, nb::handle o) {
        return nb::isinstance<Tensor>(o) ? t.remainder(nb::cast<const Tensor&>(o)) : t.remainder(to_scalar(o));
      }, "other"_a)
      .def("addcmul", [](const Tensor& t, const Tensor& a, const Tensor& b, nb::handle v) { return t.addcmul(a, b, to_scalar(v)); },
           "tensor1"_a, "tensor2"_a, "value"_a = 1)
      .def("addcdiv", [](const Tensor& t, const Tensor& a, const Tensor& b, nb::handle v) { return t.addcdiv(a, b, to_scalar(v)); },
           "tensor1"_a, "tensor2"_a, "value"_a = 1)
      .def("matmul", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return a.matmul(b); }); }, "other"_a)
      .def("mm", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return a.mm(b); }); }, "mat2"_a)
      .def("dot", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return a.dot(b); }); }, "other"_a)
      .def("mv", [](const Tensor& a, const Tensor& v) { return without_gil([&] { return a.mv(v); }); }, "vec"_a)
      .def("outer", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return a.outer(b); }); }, "vec2"_a)
      .def("inverse", [](const Tensor& a) { return without_gil([&] { return a.inverse(); }); })
      // dtype: the input converted first, as torch's softmax(dim, dtype=...).
      .def("softmax", [](const Tensor& t, int64_t dim, nb::handle dtype) {
        const auto type = dtype_argument(dtype);
        return (type ? t.to(*type) : t).softmax(dim);
      }, "dim"_a, "dtype"_a = nb::none())
      .def("log_softmax", [](const Tensor& t, int64_t dim, nb::handle dtype) {
        const auto type = dtype_argument(dtype);
        return (type ? t.to(*type) : t).log_softmax(dim);
      }, "dim"_a, "dtype"_a = nb::none());

  // ---- reductions ----
  // The dims are read from Python before the GIL is let go: int_list iterates a Python object.
  // dtype=: the input cast first, as torch's (a float32 sum accumulated and returned in float64).
  cls.def("sum", [](const Tensor& t, nb::handle dim, bool keepdim, nb::handle dtype) {
        const bool all = dim.is_none();
        const std::vector<int64_t> dims = all ? std::vector<int64_t>{} : int_list(dim);
        const auto type = dtype_argument(dtype);
        return maybe_without_gil(t.numel(), [&] {
          const Tensor x = type ? t.to(*type) : t;
          return all ? x.sum() : x.sum(dims, keepdim);
        });
      }, "dim"_a = nb::none(), "keepdim"_a = false, nb::kw_only(), "dtype"_a = nb::none())
      .def("mean", [](const Tensor& t, nb::handle dim, bool keepdim, nb::handle dtype) {
        const bool all = dim.is_none();
        const std::vector<int64_t> dims = all ? std::vector<int64_t>{} : int_list(dim);
        const auto type = dtype_argument(dtype);
        return maybe_without_gil(t.numel(), [&] {
          const Tensor x = type ? t.to(*type) : t;
          return all ? x.mean() : x.mean(dims, keepdim);
        });
      }, "dim"_a = nb::none(), "keepdim"_a = false, nb::kw_only(), "dtype"_a = nb::none())
      .def("max", [](const Tensor& t, nb::args args, nb::kwargs kwargs) { return extreme(t, args, kwargs, true); })
      .def("min", [](const Tensor& t, nb::args args, nb::kwargs kwargs) { return extreme(t, args, kwargs, false); })
      // amax and amin: dim an int or a sequence of them; none (or None, or ()) reduces every dim.
      .def("amax", [](const Tensor& t, nb::handle dim, bool keepdim) { return extreme_over(t, dim, keepdim, true); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("amin", [](const Tensor& t, nb::handle dim, bool keepdim) { return extreme_over(t, dim, keepdim, false); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("argmax", [](const Tensor& t, std::optional<int64_t> dim, bool keepdim) { return t.argmax(dim, keepdim); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("prod", [](const Tensor& t, const nb::args& args, const nb::kwargs& kwargs) { return product_of(t, args, kwargs); })
      .def("cumsum", [](const Tensor& t, nb::handle dim, nb::handle dtype) { return scan_of<&Tensor::cumsum>(t, dim, dtype, "cumsum"); },
           "dim"_a, nb::kw_only(), "dtype"_a = nb::none())
      .def("cumsum_", [](Tensor& t, nb::handle dim, nb::handle dtype) -> Tensor& { return scan_in_place<&Tensor::cumsum_>(t, dim, dtype, "cumsum_"); },
           "dim"_a, nb::kw_only(), "dtype"_a = nb::none(), nb::rv_policy::reference_internal)
      .def("cumprod", [](const Tensor& t, nb::handle dim, nb::handle dtype) { return scan_of<&Tensor::cumprod>(t, dim, dtype, "cumprod"); },
           "dim"_a, nb::kw_only(), "dtype"_a = nb::none())
      .def("cumprod_", [](Tensor& t, nb::handle dim, nb::handle dtype) -> Tensor& { return scan_in_place<&Tensor::cumprod_>(t, dim, dtype, "cumprod_"); },
           "dim"_a, nb::kw_only(), "dtype"_a = nb::none(), nb::rv_policy::reference_internal)
      .def("argmin", [](const Tensor& t, std::optional<int64_t> dim, bool keepdim) { return t.argmin(dim, keepdim); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      // sort, topk, kthvalue, median and nanmedian give (values, indices), named as in dydx.return_types.
      .def("sort", [](const Tensor& t, nb::handle dim, bool descending, std::optional<bool> stable) {
        auto [values, indices] = t.sort(stable, int_arg(dim, "sort", "dim", 1), descending);
        return named_pair("sort", values, indices);
      }, "dim"_a = -1, "descending"_a = false, nb::kw_only(), "stable"_a = nb::none())
      .def("argsort", [](const Tensor& t, nb::handle dim, bool descending, bool) {
        return t.argsort(int_arg(dim, "argsort", "dim", 1), descending);
      }, "dim"_a = -1, "descending"_a = false, nb::kw_only(), "stable"_a = false)
      .def("msort", [](const Tensor& t) { return t.msort(); })
      .def("topk", [](const Tensor& t, nb::handle k, nb::handle dim, bool largest, bool sorted) {
        auto [values, indices] = t.topk(int_arg(k, "topk", "k", 1), int_arg(dim, "topk", "dim", 2), largest, sorted);
        return named_pair("topk", values, indices);
      }, "k"_a, "dim"_a = -1, "largest"_a = true, "sorted"_a = true)
      .def("kthvalue", [](const Tensor& t, nb::handle k, nb::handle dim, bool keepdim) {
        auto [values, indices] = t.kthvalue(int_arg(k, "kthvalue", "k", 1), int_arg(dim, "kthvalue", "dim", 2), keepdim);
        return named_pair("kthvalue", values, indices);
      }, "k"_a, "dim"_a = -1, "keepdim"_a = false)
      .def("median", [](const Tensor& t, nb::handle dim, bool keepdim) { return median_of(t, dim, keepdim, false); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("nanmedian", [](const Tensor& t, nb::handle dim, bool keepdim) { return median_of(t, dim, keepdim, true); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("var", [](const Tensor& t, nb::handle dim, bool unbiased, bool keepdim, nb::handle correction) {
        return moment_of(t, dim, unbiased, keepdim, correction, "var");
      }, "dim"_a = nb::none(), "unbiased"_a = true, "keepdim"_a = false, nb::kw_only(), "correction"_a = nb::none())
      .def("std", [](const Tensor& t, nb::handle dim, bool unbiased, bool keepdim, nb::handle correction) {
        return moment_of(t, dim, unbiased, keepdim, correction, "std");
      }, "dim"_a = nb::none(), "unbiased"_a = true, "keepdim"_a = false, nb::kw_only(), "correction"_a = nb::none())
      .def("norm", [](const Tensor& t, nb::handle p, nb::handle dim, bool keepdim) {
        // p='fro' is the 2-norm over the dims (Frobenius over a matrix's two); 'nuc' needs singular values.
        if (nb::isinstance<nb::str>(p) && nb::cast<std::string>(p) != "fro")
          throw nb::value_error(("norm: p=" + nb::cast<std::string>(p) + " is not supported (p='fro' or a number)").c_str());
        const Scalar order = p.is_none() || nb::isinstance<nb::str>(p) ? Scalar(2) : to_scalar(p);
        return dim.is_none() ? t.norm(order) : t.norm(order, int_list(dim), keepdim);
      }, "p"_a.none() = 2, "dim"_a = nb::none(), "keepdim"_a = false)  // p=None: 2, as torch's
      .def("logsumexp", [](const Tensor& t, nb::handle dim, bool keepdim) { return t.logsumexp(int_list(dim), keepdim); },
           "dim"_a, "keepdim"_a = false)
      .def("any", [](const Tensor& t, std::optional<int64_t> dim, bool keepdim) { return dim ? t.any(*dim, keepdim) : t.any(); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("all", [](const Tensor& t, std::optional<int64_t> dim, bool keepdim) { return dim ? t.all(*dim, keepdim) : t.all(); },
           "dim"_a = nb::none(), "keepdim"_a = false);

  // ---- gathering and scattering ----
  cls.def("gather", &Tensor::gather, "dim"_a, "index"_a)
      .def("scatter_add", &Tensor::scatter_add, "dim"_a, "index"_a, "src"_a)
      .def("index_select", &Tensor::index_select, "dim"_a, "index"_a)
      .def("masked_fill", [](const Tensor& t, const Tensor& mask, nb::handle v) { return t.masked_fill(mask, to_scalar(v)); },
           "mask"_a, "value"_a)
      .def("scatter", [](const Tensor& t, int64_t dim, const Tensor& index, nb::handle src) {
        return nb::isinstance<Tensor>(src) ? t.scatter(dim, index, nb::cast<const Tensor&>(src)) : t.scatter(dim, index, to_scalar(src));
      }, "dim"_a, "index"_a, "src"_a)
      .def("masked_select", &Tensor::masked_select, "mask"_a)
      // as_tuple: one 1-D index tensor per dim (a 0-D tensor's: one of its own), as torch's.
      .def("nonzero", [](const Tensor& t, bool as_tuple) -> nb::object {
        if (!as_tuple) return nb::cast(t.nonzero());
        return tensor_tuple(nonzero_tuple(t));
      }, nb::kw_only(), "as_tuple"_a = false);

  // ---- comparisons and logic ----
  cls.def("isnan", &Tensor::isnan)
      .def("isinf", &Tensor::isinf)
      .def("isfinite", &Tensor::isfinite)
      .def("logical_not", &Tensor::logical_not)
      .def("logical_and", &Tensor::logical_and, "other"_a)
      .def("logical_or", &Tensor::logical_or, "other"_a)
      .def("logical_xor", &Tensor::logical_xor, "other"_a)
      .def("bitwise_not", &Tensor::bitwise_not);

  // ---- in place ----
  cls.def("add_", [](Tensor& t, nb::handle o, nb::handle alpha) -> Tensor& {
        return t.add_(tensor_operand(o, t), to_scalar(alpha));
      }, "other"_a, "alpha"_a = 1, nb::rv_policy::reference_internal)
      .def("sub_", [](Tensor& t, nb::handle o, nb::handle alpha) -> Tensor& {
        return t.sub_(tensor_operand(o, t), to_scalar(alpha));
      }, "other"_a, "alpha"_a = 1, nb::rv_policy::reference_internal)
      .def("mul_", [](Tensor& t, nb::handle o) -> Tensor& { return t.mul_(tensor_operand(o, t)); }, "other"_a,
           nb::rv_policy::reference_internal)
      .def("div_", [](Tensor& t, nb::handle o) -> Tensor& { return t.div_(tensor_operand(o, t)); }, "other"_a,
           nb::rv_policy::reference_internal)
      .def("zero_", &Tensor::zero_, nb::rv_policy::reference_internal)
      .def("fill_", [](Tensor& t, nb::handle v) -> Tensor& { return t.fill_(to_scalar(v)); }, "value"_a,
           nb::rv_policy::reference_internal)
      .def("copy_", [](Tensor& t, const Tensor& src) -> Tensor& { return t.copy_(src); }, "src"_a,
           nb::rv_policy::reference_internal)
      .def("addcmul_", [](Tensor& t, const Tensor& a, const Tensor& b, nb::handle v) -> Tensor& { return t.addcmul_(a, b, to_scalar(v)); },
           "tensor1"_a, "tensor2"_a, "value"_a = 1, nb::rv_policy::reference_internal)
      .def("addcdiv_", [](Tensor& t, const Tensor& a, const Tensor& b, nb::handle v) -> Tensor& { return t.addcdiv_(a, b, to_scalar(v)); },
           "tensor1"_a, "tensor2"_a, "value"_a = 1, nb::rv_policy::reference_internal);
}

}  // namespace dydx::python
