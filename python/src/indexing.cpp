// t[index] and t[index] = value: ints, slices, None, Ellipsis, tensors (int64 positions, bool masks)
// and lists of ints, alone or in a tuple, as in PyTorch.
#include <string>
#include <string_view>

#include "bindings.hpp"

namespace dydx::python {
namespace {

// Clamped to the int64 range, as Python clamps slice bounds (x[10**30:] is empty, not an error).
std::optional<int64_t> slice_bound(nb::handle h) {
  if (h.is_none()) return std::nullopt;
  const Py_ssize_t bound = PyNumber_AsSsize_t(h.ptr(), nullptr);
  if (bound == -1 && PyErr_Occurred()) throw nb::python_error();
  return static_cast<int64_t>(bound);
}

// A list of Python bools is a mask, as in PyTorch (x[[True, False, True]] takes rows 0 and 2); bools
// are ints to Python, so int_list would have taken them as positions 1 and 0.
bool all_bools(nb::handle list) {
  if (PyList_Size(list.ptr()) == 0) return false;
  for (nb::handle item : nb::iter(list))
    if (!PyBool_Check(item.ptr())) return false;
  return true;
}

indexing::TensorIndex one_index(nb::handle h) {
  if (h.is_none()) return indexing::None;
  if (h.ptr() == Py_Ellipsis) return indexing::Ellipsis;
  if (PySlice_Check(h.ptr()))
    return indexing::Slice(slice_bound(h.attr("start")), slice_bound(h.attr("stop")), slice_bound(h.attr("step")));
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  if (PyBool_Check(h.ptr()))
    throw nb::type_error("dydx does not index with a Python bool; use a bool tensor as a mask");
  if (PyLong_Check(h.ptr()) || (PyIndex_Check(h.ptr()) && !PyFloat_Check(h.ptr())))
    return nb::cast<int64_t>(nb::steal(PyNumber_Index(h.ptr())));
  if (PyList_Check(h.ptr()) && all_bools(h)) {
    std::vector<int64_t> mask;
    for (nb::handle item : nb::iter(h)) mask.push_back(item.ptr() == Py_True);
    return tensor(mask, kInt64).to(kBool);
  }
  if (PyList_Check(h.ptr())) return tensor(int_list(h), kInt64);
  throw nb::type_error(("only integers, slices (`:`), ellipsis (`...`), None and int64 or bool tensors are valid "
                        "indices, not " + std::string(nb::type_name(h.type()).c_str()))
                           .c_str());
}

std::vector<indexing::TensorIndex> indices(nb::handle index) {
  std::vector<indexing::TensorIndex> out;
  if (PyTuple_Check(index.ptr())) {
    for (nb::handle item : nb::iter(index)) out.push_back(one_index(item));
  } else {
    out.push_back(one_index(index));
  }
  return out;
}

// t[index] = value: a tensor, a number, or a nested list or array made a tensor of t's dtype first.
void set_item(Tensor& t, nb::handle index, nb::handle value) {
  const auto where = indices(index);
  if (nb::isinstance<Tensor>(value)) {
    t.index_put_(where, nb::cast<const Tensor&>(value));
  } else if (is_number(value)) {
    t.index_put_(where, to_scalar(value));
  } else {
    // A nested list or an array: made a tensor of t's dtype first, as PyTorch does.
    const Tensor values = nb::cast<Tensor>(nb::module_::import_("dydx._core").attr("tensor")(value, dtype_object(t.dtype())));
    t.index_put_(where, values);
  }
}

// An index out of range is an IndexError, as in PyTorch (and as Python's sequence protocols expect);
// other refusals stay dydx.Error.
template <class F>
auto as_index_error(F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    if (std::string_view(e.what()).find("out of bounds") != std::string_view::npos) throw nb::index_error(e.what());
    throw;
  }
}

}  // namespace

void bind_indexing(nb::class_<Tensor>& cls) {
  // The index may be None (t[None] adds a dim); nanobind refuses None unless told.
  cls.def("__getitem__", [](const Tensor& t, nb::handle index) {
    return as_index_error([&] {
      // The common case, x[i], as a plain select.
      if (PyLong_Check(index.ptr()) && !PyBool_Check(index.ptr())) return t.select(0, nb::cast<int64_t>(index));
      return t.index(indices(index));
    });
  }, nb::arg("index").none());
  cls.def("__setitem__", [](Tensor& t, nb::handle index, nb::handle value) {
    as_index_error([&] { set_item(t, index, value); });
  }, nb::arg("index").none(), nb::arg("value").none());
}

}  // namespace dydx::python
