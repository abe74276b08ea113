// The ops that make or combine bool tensors: comparisons, isnan/isinf/isfinite, logical and bitwise
// ops, any/all, and the arithmetic PyTorch defines on two bool operands. None carries a gradient.
#include <algorithm>
#include <cmath>
#include <string_view>

#include "compile/trace.hpp"
#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

template <class T>
bool nonzero_value(T v) {
  return v != T(0);  // nan is nonzero, as in PyTorch
}

// A logical op of two tensors of any dtypes: each operand is true where nonzero. Both are read in
// their promoted dtype, which keeps every nonzero value nonzero (an int64 never rounds to a float 0).
template <class F>
Tensor logical(const Tensor& a, const Tensor& b, const char* op, F f) {
  Tensor out = compare_kernel(a, b, op, [f](auto u, auto v) { return f(nonzero_value(u), nonzero_value(v)); });
  compile::detail::note_kernel(op, {&a, &b}, out, [op, f](const TensorList& in) { return logical(in[0], in[1], op, f); });
  return out;
}

// A bitwise op in the promoted dtype, which must be bool or int64, as PyTorch's kernels.
template <class F>
Tensor bitwise(const Tensor& a, const Tensor& b, const char* op, F f) {
  if (vmap::takes_rule({&a, &b})) [[unlikely]]
    return vmap::broadcasting(op, a, b, [&](const Tensor& x, const Tensor& y) { return bitwise(x, y, op, f); });
  Dims shape = detail::broadcast_shapes(a.sizes(), b.sizes(), op);
  const ScalarType dtype = result_type(a, b);
  DYDX_CHECK(!is_floating_point(dtype), op, ": not implemented for ", dtype, " tensors (shapes ", a.sizes(), " and ",
             b.sizes(), "); it takes bool and int64 tensors");
  Tensor out = detail::make_empty(shape, dtype);
  const Tensor x = cast(a, dtype), y = cast(b, dtype);
  if (dtype == kBool) cpu::map2<bool>(out, x, y, [f](bool u, bool v) { return static_cast<bool>(f(u, v)); });
  else cpu::map2<int64_t>(out, x, y, [f](int64_t u, int64_t v) { return static_cast<int64_t>(f(u, v)); });
  return out;
}

// Whether pred holds for any element, scanning a dense copy and stopping at the first hit.
template <class Pred>
bool any_element(const Tensor& x, Pred pred) {
  const Tensor dense = x.contiguous();
  return cpu::dispatch_with_bool(dense.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = dense.data_ptr<T>();
    return std::any_of(p, p + dense.numel(), [pred](T v) { return pred(v); });
  });
}

// The number of nonzero elements per slice along dim, as int64 (any and all along a dim compare it).
Tensor count_nonzero_along(const Tensor& x, int64_t dim, bool keepdim, const char* op) {
  const int64_t d = detail::wrap_dim(dim, x.dim(), op);
  return ne(x, 0).to(kInt64).sum(IntArrayRef({d}), keepdim);
}

}  // namespace

void check_sub_operands(const Tensor& a, const Tensor& b, const char* op) {
  const bool a_bool = a.defined() && a.dtype() == kBool, b_bool = b.defined() && b.dtype() == kBool;
  DYDX_CHECK(!(a_bool && b_bool), op, ": Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
             "`^` or `logical_xor()` operator instead.");
  DYDX_CHECK(!a_bool && !b_bool, op, ": Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead.");
}

// Comparisons record no autograd node; func::compile is told of them here, so that a mask (where's
// condition) is a step it replays rather than a value it cannot explain.
Tensor noted(Tensor out, const Tensor& a, const Tensor& b, const char* op, Tensor (*again)(const Tensor&, const Tensor&)) {
  if (compile::detail::recording()) [[unlikely]] {
    const Tensor* inputs[] = {&a, &b};
    compile::StepRules rules;
    rules.replay = [again](const TensorList& in) { return again(in[0], in[1]); };
    compile::detail::record_step(op, inputs, {}, out, std::move(rules));
  }
  return out;
}

Tensor bool_binary(const Tensor& a, const Tensor& b, const char* op) {
  const std::string_view name(op);
  if (name == "sub") check_sub_operands(a, b);
  // True + True is True in PyTorch: a sum of bools saturates, so add is or and mul is and.
  if (name == "add" || name == "maximum") return logical_or(a, b);
  if (name == "mul" || name == "minimum") return logical_and(a, b);
  detail::fail(op, ": not implemented for bool tensors (shapes ", a.sizes(), " and ", b.sizes(),
               "); convert them first, e.g. with .to(kInt64)");
}

}  // namespace ops

Tensor eq(const Tensor& a, const Tensor& b) {
  return ops::noted(ops::compare_kernel(a, b, "eq", [](auto x, auto y) { return x == y; }), a, b, "eq",
                    [](const Tensor& x, const Tensor& y) { return eq(x, y); });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return ops::noted(ops::compare_kernel(a, b, "ne", [](auto x, auto y) { return x != y; }), a, b, "ne",
                    [](const Tensor& x, const Tensor& y) { return ne(x, y); });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return ops::noted(ops::compare_kernel(a, b, "lt", [](auto x, auto y) { return x < y; }), a, b, "lt",
                    [](const Tensor& x, const Tensor& y) { return lt(x, y); });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return ops::noted(ops::compare_kernel(a, b, "le", [](auto x, auto y) { return x <= y; }), a, b, "le",
                    [](const Tensor& x, const Tensor& y) { return le(x, y); });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return ops::noted(ops::compare_kernel(a, b, "gt", [](auto x, auto y) { return x > y; }), a, b, "gt",
                    [](const Tensor& x, const Tensor& y) { return gt(x, y); });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return ops::noted(ops::compare_kernel(a, b, "ge", [](auto x, auto y) { return x >= y; }), a, b, "ge",
                    [](const Tensor& x, const Tensor& y) { return ge(x, y); });
}

// The scalar becomes a 0-d tensor of the result dtype: an int64 tensor compares with 2 exactly and
// with 2.5 in the default float dtype, as PyTorch.
Tensor eq(const Tensor& a, Scalar b) { return eq(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor ne(const Tensor& a, Scalar b) { return ne(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor lt(const Tensor& a, Scalar b) { return lt(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor le(const Tensor& a, Scalar b) { return le(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor gt(const Tensor& a, Scalar b) { return gt(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor ge(const Tensor& a, Scalar b) { return ge(a, ops::scalar_tensor(b, ops::result_type(a, b))); }

Tensor isnan(const Tensor& x) {
  return ops::bool_mask(x, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isnan(v);
    else return false;
  });
}
Tensor isinf(const Tensor& x) {
  return ops::bool_mask(x, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isinf(v);
    else return false;
  });
}
Tensor isfinite(const Tensor& x) {
  return ops::bool_mask(x, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isfinite(v);
    else return true;
  });
}

Tensor logical_not(const Tensor& x) { return ops::bool_mask(x, [](auto v) { return !ops::nonzero_value(v); }); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return ops::logical(a, b, "logical_and", [](bool u, bool v) { return u && v; }); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return ops::logical(a, b, "logical_or", [](bool u, bool v) { return u || v; }); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return ops::logical(a, b, "logical_xor", [](bool u, bool v) { return u != v; }); }

Tensor bitwise_not(const Tensor& x) {
  DYDX_CHECK(!x.is_floating_point(), "bitwise_not: not implemented for ", x.dtype(), " tensors (shape ", x.sizes(),
             "); it takes bool and int64 tensors");
  if (x.dtype() == kBool) return logical_not(x);
  Tensor out = detail::make_empty(x.sizes(), kInt64);
  cpu::map1<int64_t, int64_t>(out, x, [](int64_t v) { return ~v; });
  return out;
}
Tensor bitwise_and(const Tensor& a, const Tensor& b) { return ops::bitwise(a, b, "bitwise_and", [](auto u, auto v) { return u & v; }); }
Tensor bitwise_or(const Tensor& a, const Tensor& b) { return ops::bitwise(a, b, "bitwise_or", [](auto u, auto v) { return u | v; }); }
Tensor bitwise_xor(const Tensor& a, const Tensor& b) { return ops::bitwise(a, b, "bitwise_xor", [](auto u, auto v) { return u ^ v; }); }

namespace {

// A shift in int64, defined for every amount (a plain C++ shift is undefined past 63 or below 0).
Tensor shift(const Tensor& a, const Tensor& b, bool left, const char* op) {
  DYDX_CHECK(a.defined() && b.defined(), op, ": called with an undefined tensor");
  if (vmap::takes_rule({&a, &b})) [[unlikely]]
    return vmap::broadcasting(op, a, b, [&](const Tensor& x, const Tensor& y) { return shift(x, y, left, op); });
  const Dims shape = detail::broadcast_shapes(a.sizes(), b.sizes(), op);
  const ScalarType dtype = ops::result_type(a, b);
  DYDX_CHECK(dtype == kInt64, op, ": \"", left ? "lshift_cpu" : "rshift_cpu", "\" not implemented for ", dtype,
             " (shapes ", a.sizes(), " and ", b.sizes(), "); it takes int64 tensors");
  Tensor out = detail::make_empty(shape, kInt64);
  const Tensor x = ops::cast(a, kInt64), y = ops::cast(b, kInt64);
  if (left)
    cpu::map2<int64_t>(out, x, y, [](int64_t u, int64_t v) {
      return v < 0 || v > 63 ? int64_t{0} : static_cast<int64_t>(static_cast<uint64_t>(u) << v);
    });
  else
    cpu::map2<int64_t>(out, x, y, [](int64_t u, int64_t v) { return u >> (v < 0 || v > 63 ? 63 : v); });
  compile::detail::note_kernel(op, {&a, &b}, out, [left, op](const TensorList& in) { return shift(in[0], in[1], left, op); });
  return out;
}

}  // namespace

Tensor bitwise_left_shift(const Tensor& a, const Tensor& b) { return shift(a, b, true, "bitwise_left_shift"); }
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b) { return shift(a, b, false, "bitwise_right_shift"); }
Tensor bitwise_left_shift(const Tensor& a, Scalar b) {
  return bitwise_left_shift(a, ops::scalar_tensor(b, ops::result_type(a, b)));
}
Tensor bitwise_right_shift(const Tensor& a, Scalar b) {
  return bitwise_right_shift(a, ops::scalar_tensor(b, ops::result_type(a, b)));
}
Tensor bitwise_left_shift(Scalar a, const Tensor& b) {
  return bitwise_left_shift(ops::scalar_tensor(a, ops::result_type(b, a)), b);
}
Tensor bitwise_right_shift(Scalar a, const Tensor& b) {
  return bitwise_right_shift(ops::scalar_tensor(a, ops::result_type(b, a)), b);
}
Tensor Tensor::bitwise_left_shift(const Tensor& other) const { return dydx::bitwise_left_shift(*this, other); }
Tensor Tensor::bitwise_right_shift(const Tensor& other) const { return dydx::bitwise_right_shift(*this, other); }

// A scalar operand is a 0-d tensor of the result dtype, as arithmetic's: mask & true stays bool.
Tensor operator&(const Tensor& a, Scalar b) { return bitwise_and(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator|(const Tensor& a, Scalar b) { return bitwise_or(a, ops::scalar_tensor(b, ops::result_type(a, b))); }
Tensor operator^(const Tensor& a, Scalar b) { return bitwise_xor(a, ops::scalar_tensor(b, ops::result_type(a, b))); }

// Under vmap, any and all count each sample's nonzeros with one sum over the batch (sum's rule).
// The whole tensor's: a value read by a kernel, which func::compile is told of (full() alone would be
// a constant, the recording's answer at every call).
Tensor any(const Tensor& x) {
  if (vmap::takes_rule(x)) [[unlikely]] return gt(ne(x, 0).sum(), 0);
  Tensor out;
  {
    compile::detail::PauseRecording not_a_constant;
    out = full({}, ops::any_element(x, [](auto v) { return ops::nonzero_value(v); }), kBool);
  }
  compile::detail::note_kernel("any", {&x}, out, [](const TensorList& in) { return any(in[0]); });
  return out;
}
Tensor all(const Tensor& x) {
  if (vmap::takes_rule(x)) [[unlikely]] return eq(ne(x, 0).sum(), x.numel());
  Tensor out;
  {
    compile::detail::PauseRecording not_a_constant;
    out = full({}, !ops::any_element(x, [](auto v) { return !ops::nonzero_value(v); }), kBool);
  }
  compile::detail::note_kernel("all", {&x}, out, [](const TensorList& in) { return all(in[0]); });
  return out;
}
Tensor any(const Tensor& x, int64_t dim, bool keepdim) { return gt(ops::count_nonzero_along(x, dim, keepdim, "any"), 0); }
Tensor all(const Tensor& x, int64_t dim, bool keepdim) {
  Tensor count = ops::count_nonzero_along(x, dim, keepdim, "all");  // checks dim first
  return eq(count, x.dim() == 0 ? 1 : x.size(dim));
}

}  // namespace dydx
