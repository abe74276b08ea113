// Creation functions: tensor(), zeros/ones/full, ranges, eye and from_blob (random tensors: random.cpp).
#include <cmath>
#include <cstdint>
#include <mutex>

#include "compile/trace.hpp"
#include "core/object_pool.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {

namespace {

Tensor finish(Tensor t, const TensorOptions& options) {
  if (options.requires_grad_value()) t.requires_grad_(true);
  // Made from no values: func::compile replays it as it is (a tensor requiring grad is refused at its first op).
  if (compile::detail::recording()) [[unlikely]] compile::detail::note_constant(t);
  return t;
}

// Shape of a nested list, checked to be rectangular; also whether every scalar is an integer, and
// whether every one is a bool.
void nested_shape(const NestedList& list, size_t depth, Dims& shape, bool& integral, bool& boolean) {
  if (list.is_scalar()) {
    DYDX_CHECK(depth == shape.size(), "tensor: nested list is not rectangular (a scalar at depth ", depth,
               " where lists of depth ", shape.size(), " were seen)");
    integral = integral && list.integral();
    boolean = boolean && list.boolean();
    return;
  }
  const int64_t n = static_cast<int64_t>(list.items().size());
  if (depth == shape.size()) {
    shape.push_back(n);
  } else {
    DYDX_CHECK(shape[depth] == n, "tensor: nested list is not rectangular (expected ", shape[depth],
               " items at depth ", depth, " but got ", n, ")");
  }
  for (const NestedList& item : list.items()) nested_shape(item, depth + 1, shape, integral, boolean);
}

void flatten_into(const NestedList& list, std::vector<Scalar>& values) {
  if (list.is_scalar()) {
    values.push_back(list.scalar());
    return;
  }
  for (const NestedList& item : list.items()) flatten_into(item, values);
}

// Each value converted on its own, so that integers reach an int64 tensor exactly.
Tensor from_scalars(const std::vector<Scalar>& values, IntArrayRef shape, ScalarType dtype) {
  for (const Scalar& v : values) ops::check_fill_value(v, dtype, "tensor");
  Tensor out = detail::make_empty(shape, dtype, "tensor");
  cpu::dispatch_with_bool(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data_ptr<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = values[i].to<T>();
  });
  return out;
}

// arange of int64 bounds, in integers throughout: a double holds only 53 bits of them. The count
// and each value are computed in 128 bits, where no difference of int64s can overflow.
Tensor integer_arange(int64_t start, int64_t end, int64_t step) {
  DYDX_CHECK(step != 0, "arange: step must be nonzero");
  DYDX_CHECK((step > 0 && end >= start) || (step < 0 && end <= start),
             "arange: upper bound and larger bound inconsistent with step sign (", start, " -> ", end, " with step ",
             step, ")");
  const __int128 span = static_cast<__int128>(end) - start;
  const __int128 n = span / step + (span % step != 0 ? 1 : 0);  // ceil: span and step share a sign
  DYDX_CHECK(n <= INT64_MAX, "arange: the range ", start, " -> ", end, " with step ", step, " has too many elements");
  Tensor out = detail::make_empty({static_cast<int64_t>(n)}, kInt64, "arange");
  int64_t* p = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) p[i] = static_cast<int64_t>(start + static_cast<__int128>(i) * step);
  return out;
}

}  // namespace

template <class T>
Tensor tensor(const std::vector<T>& values, TensorOptions options) {
  const ScalarType inferred = std::is_same_v<T, bool> ? kBool : std::is_integral_v<T> ? kInt64 : kDefaultDtype;
  const int64_t n = static_cast<int64_t>(values.size());
  // Integers are widened to int64 and floats kept as they are, then converted once, exactly where
  // the dtype can hold them.
  using Stored = std::conditional_t<std::is_integral_v<T>, int64_t, T>;
  std::vector<Stored> stored(values.begin(), values.end());
  if constexpr (std::is_floating_point_v<T>)
    for (T v : values) ops::check_fill_value(static_cast<double>(v), options.dtype_or(inferred), "tensor");
  constexpr ScalarType stored_dtype = std::is_same_v<Stored, float> ? kFloat32 : std::is_same_v<Stored, double> ? kFloat64 : kInt64;
  Tensor out = detail::make_empty({n}, options.dtype_or(inferred), "tensor");
  detail::copy_values(out, from_blob(stored.data(), {n}, stored_dtype));
  return finish(out, options);
}
template Tensor tensor<float>(const std::vector<float>&, TensorOptions);
template Tensor tensor<double>(const std::vector<double>&, TensorOptions);
template Tensor tensor<int>(const std::vector<int>&, TensorOptions);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, TensorOptions);
template Tensor tensor<bool>(const std::vector<bool>&, TensorOptions);

Tensor tensor(const NestedList& values, TensorOptions options) {
  Dims shape;
  bool integral = true, boolean = true;
  nested_shape(values, 0, shape, integral, boolean);
  std::vector<Scalar> flat;
  flatten_into(values, flat);
  // An empty list has no values to say it is integral; PyTorch makes it float32.
  if (flat.empty()) integral = boolean = false;
  const ScalarType inferred = boolean ? kBool : integral ? kInt64 : kDefaultDtype;
  return finish(from_scalars(flat, shape, options.dtype_or(inferred)), options);
}

Tensor empty(IntArrayRef sizes, TensorOptions options) {
  return finish(detail::make_empty(sizes, options.dtype_or(kDefaultDtype), "empty"), options);
}

namespace {
// full, zeros, ones and eye: each names itself when its shape is too large or can't be allocated.
Tensor filled(IntArrayRef sizes, Scalar value, ScalarType dtype, const char* op) {
  ops::check_fill_value(value, dtype, op);
  Tensor out = detail::make_empty(sizes, dtype, op);
  cpu::dispatch_with_bool(dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::fill(out.data_ptr<T>(), out.numel(), value.to<T>());
  });
  return out;
}
}  // namespace

Tensor full(IntArrayRef sizes, Scalar value, TensorOptions options) {
  detail::check_sizes(sizes, "full");
  // As torch.full: an integer fill value gives int64 and a bool one bool, unless a dtype is named.
  const ScalarType dtype =
      options.dtype_or(value.is_boolean() ? kBool : value.is_integral() ? kInt64 : kDefaultDtype);
  return finish(filled(sizes, value, dtype, "full"), options);
}

Tensor zeros(IntArrayRef sizes, TensorOptions options) {
  return finish(filled(sizes, 0, options.dtype_or(kDefaultDtype), "zeros"), options);
}
Tensor ones(IntArrayRef sizes, TensorOptions options) {
  return finish(filled(sizes, 1, options.dtype_or(kDefaultDtype), "ones"), options);
}

Tensor empty_like(const Tensor& other, TensorOptions options) {
  if (vmap::takes_rule(other)) [[unlikely]]  // batched as other, as functorch: in-place writes of batches fit
    return vmap::elementwise(other, [&](const Tensor& v) { return empty_like(v, options); });
  return empty(other.sizes(), options.dtype(options.dtype_or(other.dtype())));
}
Tensor zeros_like(const Tensor& other, TensorOptions options) {
  if (vmap::takes_rule(other)) [[unlikely]]  // batched as other, as functorch: in-place writes of batches fit
    return vmap::elementwise(other, [&](const Tensor& v) { return zeros_like(v, options); });
  return zeros(other.sizes(), options.dtype(options.dtype_or(other.dtype())));
}
Tensor ones_like(const Tensor& other, TensorOptions options) {
  if (vmap::takes_rule(other)) [[unlikely]]  // batched as other, as functorch: in-place writes of batches fit
    return vmap::elementwise(other, [&](const Tensor& v) { return ones_like(v, options); });
  return ones(other.sizes(), options.dtype(options.dtype_or(other.dtype())));
}
Tensor full_like(const Tensor& other, Scalar value, TensorOptions options) {
  if (vmap::takes_rule(other)) [[unlikely]]  // batched as other, as functorch: in-place writes of batches fit
    return vmap::elementwise(other, [&](const Tensor& v) { return full_like(v, value, options); });
  return full(other.sizes(), value, options.dtype(options.dtype_or(other.dtype())));
}

Tensor arange(Scalar end, TensorOptions options) { return arange(0, end, 1, options); }

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions options) {
  const bool integral = start.is_integral() && end.is_integral() && step.is_integral();
  const ScalarType dtype = options.dtype_or(integral ? kInt64 : kDefaultDtype);
  DYDX_CHECK(dtype != kBool, "arange: not implemented for bool tensors (", start, " -> ", end, " with step ", step, ")");
  if (integral && dtype == kInt64) return finish(integer_arange(start.to_int64(), end.to_int64(), step.to_int64()), options);
  const double s = start.to_double(), e = end.to_double(), d = step.to_double();
  DYDX_CHECK(std::isfinite(s) && std::isfinite(e), "arange: unsupported range: ", s, " -> ", e);
  DYDX_CHECK(is_floating_point(dtype) || (detail::fits_int64(s) && detail::fits_int64(e)), "arange: ", s, " -> ", e,
             ": value cannot be converted to type int64 without overflow");
  DYDX_CHECK(d != 0, "arange: step must be nonzero");
  DYDX_CHECK(!std::isnan(d), "arange: step must not be nan");
  DYDX_CHECK((d > 0 && e >= s) || (d < 0 && e <= s), "arange: upper bound and larger bound inconsistent with step sign");
  // Checked as a double: converting a count past int64's range (a tiny step) is undefined behaviour.
  const double count = std::ceil((e - s) / d);
  DYDX_CHECK(count < 0x1p63, "arange: the range ", s, " -> ", e, " with step ", d, " has too many elements (", count, ")");
  const int64_t n = static_cast<int64_t>(count);
  Tensor out = detail::make_empty({n}, dtype, "arange");
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = cpu::convert<T>(s + static_cast<double>(i) * d);
  });
  return finish(out, options);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  DYDX_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  const ScalarType dtype = options.dtype_or(kDefaultDtype);
  DYDX_CHECK(dtype != kBool, "linspace: not implemented for bool tensors (", start, " -> ", end, " in ", steps, " steps)");
  DYDX_CHECK(is_floating_point(dtype) || (detail::fits_int64(start) && detail::fits_int64(end)), "linspace: ",
             start, " -> ", end, ": value cannot be converted to type int64 without overflow");
  Tensor out = detail::make_empty({steps}, dtype, "linspace");
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0;
  if (steps == 1) return full({1}, start, options.dtype(dtype));  // one step is the start, as in PyTorch
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data_ptr<T>();
    // Fill from both ends, as PyTorch does, so the last value is exactly end.
    const int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      p[i] = cpu::convert<T>(i < half ? start + step * static_cast<double>(i)
                                      : end - step * static_cast<double>(steps - 1 - i));
  });
  return finish(out, options);
}

Tensor eye(int64_t n, TensorOptions options) { return eye(n, n, options); }

Tensor eye(int64_t n, int64_t m, TensorOptions options) {
  DYDX_CHECK(n >= 0 && m >= 0, "eye: sizes must be non-negative, got ", n, " and ", m);
  detail::check_sizes({n, m}, "eye");
  Tensor out = filled({n, m}, 0, options.dtype_or(kDefaultDtype), "eye");
  cpu::dispatch_with_bool(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data_ptr<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = T(1);
  });
  return finish(out, options);
}

Tensor from_blob(void* data, IntArrayRef sizes, IntArrayRef strides, TensorOptions options) {
  DYDX_CHECK(data != nullptr || detail::product(sizes) == 0, "from_blob: data pointer is null");
  DYDX_CHECK(sizes.size() == strides.size(), "from_blob: sizes ", sizes, " and strides ", strides, " differ in length");
  detail::check_sizes(sizes, "from_blob");
  const ScalarType dtype = options.dtype_or(kDefaultDtype);
  // Misaligned memory is rejected rather than supported: every kernel (the strided loops, the SIMD
  // math, OpenBLAS) loads whole elements through T*, which is undefined behaviour on a misaligned
  // address, and copying on entry would break from_blob's promise that the tensor aliases data.
  const auto address = reinterpret_cast<uintptr_t>(data);
  DYDX_CHECK(address % element_size(dtype) == 0 || detail::product(sizes) == 0, "from_blob: data pointer ", data,
             " is not aligned for ", dtype, " (its address must be a multiple of ", element_size(dtype),
             " bytes); copy the data into aligned memory");
  // Elements the memory must hold: one past the furthest one the strides reach (none if empty).
  int64_t extent = detail::product(sizes) == 0 ? 0 : 1;
  for (size_t d = 0; d < sizes.size() && extent > 0; ++d) {
    DYDX_CHECK(strides[d] >= 0, "from_blob: negative stride ", strides[d]);
    int64_t span = 0;
    DYDX_CHECK(!__builtin_mul_overflow(sizes[d] - 1, strides[d], &span) && !__builtin_add_overflow(extent, span, &extent),
               "from_blob: sizes ", sizes, " with strides ", strides, " overflow int64");
  }
  auto impl = detail::make_pooled<detail::TensorImpl>();
  // A no-op deleter marks memory the tensor does not own.
  impl->storage = std::make_shared<detail::Storage>(data, static_cast<size_t>(extent) * element_size(dtype),
                                                    [](void*) {});
  impl->sizes = sizes.dims();
  impl->strides = strides.dims();
  impl->numel = detail::product(sizes);
  impl->dtype = dtype;
  Tensor out = finish(Tensor(std::move(impl)), options);
  if (compile::detail::recording()) [[unlikely]] compile::detail::note_foreign(out);
  return out;
}

Tensor from_blob(void* data, IntArrayRef sizes, TensorOptions options) {
  return from_blob(data, sizes, detail::contiguous_strides(sizes), options);
}

Tensor from_blob(void* data, IntArrayRef sizes, std::function<void(void*)> deleter, TensorOptions options) {
  Tensor out = from_blob(data, sizes, options);
  DYDX_CHECK(deleter != nullptr, "from_blob: deleter is empty");
  out.impl()->storage->deleter = std::move(deleter);
  return out;
}

}  // namespace dydx
