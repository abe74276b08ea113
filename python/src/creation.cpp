// Creation functions with PyTorch's Python signatures: dydx.tensor from nested lists, zeros, ones,
// full, arange, linspace, eye, the *_like forms and the random ones.
#include <nanobind/stl/optional.h>

#include <string>

#include "bindings.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;

/// The leaves of a nested list in row-major order, with the list's shape checked as it goes.
struct NestedValues {
  std::vector<int64_t> shape;
  std::vector<Scalar> values;
  bool any_float = false, all_bool = true;
};

void collect(nb::handle h, size_t depth, NestedValues& out) {
  const bool sequence = PyList_Check(h.ptr()) || PyTuple_Check(h.ptr());
  if (!sequence) {
    if (!is_number(h))
      throw nb::type_error(("dydx.tensor: could not convert an element of type " +
                            std::string(nb::type_name(h.type()).c_str()) + " to a number")
                               .c_str());
    DYDX_CHECK(depth == out.shape.size(), "dydx.tensor: expected a sequence of length ", out.shape[depth],
               " at dim ", depth, " (got a number)");
    const Scalar s = to_scalar(h);
    out.any_float = out.any_float || !s.is_integral();
    out.all_bool = out.all_bool && s.is_boolean();
    out.values.push_back(s);
    return;
  }
  const auto length = static_cast<int64_t>(nb::len(h));
  if (depth == out.shape.size()) {
    DYDX_CHECK(out.values.empty(), "dydx.tensor: expected a number at dim ", depth, " (got a sequence)");
    out.shape.push_back(length);
  } else {
    DYDX_CHECK(out.shape[depth] == length, "dydx.tensor: expected sequence of length ", out.shape[depth], " at dim ",
               depth, " (got ", length, ")");
  }
  for (nb::handle item : nb::iter(h)) collect(item, depth + 1, out);
}

template <class T>
void fill(const Tensor& t, const std::vector<Scalar>& values) {
  T* data = t.data_ptr<T>();
  for (size_t i = 0; i < values.size(); ++i) data[i] = values[i].to<T>();
}

Tensor from_nested(nb::handle data, std::optional<ScalarType> dtype) {
  NestedValues nested;
  collect(data, 0, nested);
  const ScalarType type = dtype.value_or(nested.values.empty() || nested.any_float ? kDefaultDtype
                                         : nested.all_bool                        ? kBool
                                                                                  : kInt64);
  Tensor t = empty(nested.shape, type);
  switch (type) {
    case kFloat32: fill<float>(t, nested.values); break;
    case kFloat64: fill<double>(t, nested.values); break;
    case kInt64: fill<int64_t>(t, nested.values); break;
    case kBool: fill<bool>(t, nested.values); break;
  }
  return t;
}

Tensor tensor_from(nb::handle data, nb::handle dtype, bool requires_grad) {
  const auto type = dtype_argument(dtype);
  Tensor t;
  if (nb::isinstance<Tensor>(data)) {
    const auto& source = nb::cast<const Tensor&>(data);
    t = source.detach().to(type.value_or(source.dtype())).clone();
  } else if (nb::hasattr(data, "__array_interface__") || nb::hasattr(data, "__dlpack__")) {
    // A NumPy array (or any array): shared first, then copied, so the result owns its memory.
    const Tensor shared = nb::cast<Tensor>(nb::module_::import_("dydx._core").attr("from_dlpack_or_numpy")(data));
    t = shared.to(type.value_or(shared.dtype())).clone();
  } else {
    t = from_nested(data, type);
  }
  if (requires_grad) t.requires_grad_(true);
  return t;
}

}  // namespace

void bind_creation(nb::module_& m) {
  m.def("tensor", &tensor_from, "data"_a, "dtype"_a = nb::none(), "requires_grad"_a = false);
#define DYDX_FILLED(name)                                                                     \
  m.def(#name, [](nb::args size, nb::handle dtype, bool requires_grad) {                      \
    return dydx::name(sizes_from_args(size), options_from(dtype, requires_grad));             \
  }, "size"_a, "dtype"_a = nb::none(), "requires_grad"_a = false);                            \
  m.def(#name "_like", [](const Tensor& other, nb::handle dtype, bool requires_grad) {        \
    return dydx::name##_like(other, options_from(dtype, requires_grad));                      \
  }, "input"_a, "dtype"_a = nb::none(), "requires_grad"_a = false)
  DYDX_FILLED(zeros);
  DYDX_FILLED(ones);
  DYDX_FILLED(empty);
#undef DYDX_FILLED
  m.def("full", [](nb::handle size, nb::handle value, nb::handle dtype, bool requires_grad) {
    return dydx::full(int_list(size), to_scalar(value), options_from(dtype, requires_grad));
  }, "size"_a, "fill_value"_a, "dtype"_a = nb::none(), "requires_grad"_a = false);
  m.def("full_like", [](const Tensor& other, nb::handle value, nb::handle dtype, bool requires_grad) {
    return dydx::full_like(other, to_scalar(value), options_from(dtype, requires_grad));
  }, "input"_a, "fill_value"_a, "dtype"_a = nb::none(), "requires_grad"_a = false);
  m.def("arange", [](nb::handle start, nb::handle end, nb::handle step, nb::handle dtype, bool requires_grad) {
    const auto options = options_from(dtype, requires_grad);
    if (end.is_none()) return dydx::arange(to_scalar(start), options);
    return dydx::arange(to_scalar(start), to_scalar(end), to_scalar(step), options);
  }, "start"_a, "end"_a = nb::none(), "step"_a = 1, "dtype"_a = nb::none(), "requires_grad"_a = false);
  m.def("linspace", [](double start, double end, int64_t steps, nb::handle dtype, bool requires_grad) {
    return dydx::linspace(start, end, steps, options_from(dtype, requires_grad));
  }, "start"_a, "end"_a, "steps"_a, "dtype"_a = nb::none(), "requires_grad"_a = false);
  m.def("eye", [](int64_t n, std::optional<int64_t> m_, nb::handle dtype, bool requires_grad) {
    return dydx::eye(n, m_.value_or(n), options_from(dtype, requires_grad));
  }, "n"_a, "m"_a = nb::none(), "dtype"_a = nb::none(), "requires_grad"_a = false);
  m.def("manual_seed", [](uint64_t seed) { dydx::manual_seed(seed); }, "seed"_a);
  m.def("rand", [](nb::args size, nb::handle dtype, bool requires_grad) {
    return dydx::rand(sizes_from_args(size), options_from(dtype, requires_grad));
  }, "size"_a, "dtype"_a = nb::none(), "requires_grad"_a = false);
  m.def("randn", [](nb::args size, nb::handle dtype, bool requires_grad) {
    return dydx::randn(sizes_from_args(size), options_from(dtype, requires_grad));
  }, "size"_a, "dtype"_a = nb::none(), "requires_grad"_a = false);
  m.def("randint", [](int64_t low, nb::handle high, nb::handle size, nb::handle dtype) {
    // randint(high, size) or randint(low, high, size), as torch.randint.
    if (size.is_none() && !high.is_none() && PySequence_Check(high.ptr())) return dydx::randint(low, int_list(high), options_from(dtype, false));
    if (size.is_none()) throw nb::type_error("randint() missing required argument 'size'");
    if (high.is_none()) return dydx::randint(0, low, int_list(size), options_from(dtype, false));  // randint(high, size=...)
    return dydx::randint(low, int_arg(high, "randint", "high", 2), int_list(size), options_from(dtype, false));
  }, "low"_a, "high"_a = nb::none(), "size"_a = nb::none(), "dtype"_a = nb::none());
  m.def("randperm", [](int64_t n, nb::handle dtype) { return dydx::randperm(n, options_from(dtype, false)); }, "n"_a,
        "dtype"_a = nb::none());
}

}  // namespace dydx::python
