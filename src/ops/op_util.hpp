// Helpers shared by the op families: dtype promotion, scalar wrapping and kernel launch.
#pragma once

#include <cmath>

#include "autograd/forward_mode.hpp"
#include "compile/trace.hpp"
#include "core/shape.hpp"
#include "core/tensor_factory.hpp"
#include "cpu/cpu_kernels.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/ops.hpp"
#include "ops/batch_dims.hpp"
#include "vmap/batched.hpp"

namespace dydx::ops {

/// PyTorch's result_type for two tensors: zero-dim operands only decide the dtype when their
/// category (integer < floating) is higher than every dimensioned operand's.
ScalarType result_type(const Tensor& a, const Tensor& b);
/// The dtype of t op s for a C++ scalar s: the tensor's, except an integer tensor with a
/// floating scalar gives the default float dtype.
ScalarType result_type(const Tensor& t, Scalar s);
/// A fill value must fit the dtype: a floating value for an int64 tensor must lie in int64's range.
inline void check_fill_value(Scalar value, ScalarType dtype, const char* op) {
  DYDX_CHECK(is_floating_point(dtype) || dtype == kBool || value.is_integral() || detail::fits_int64(value.to_double()), op,
             ": value ", value, " cannot be converted to type int64 without overflow");
}
/// add and sub on integer tensors take only an integer alpha, as in PyTorch.
inline void check_alpha(ScalarType dtype, Scalar alpha, const char* op) {
  DYDX_CHECK(is_floating_point(dtype) || alpha.is_integral(), op,
             ": for integral input tensors, argument alpha must not be a floating point number (got ", alpha, ")");
}
/// s as a 0-D tensor of the given dtype.
Tensor scalar_tensor(Scalar s, ScalarType dtype);

/// Raises, naming op, when self has two elements at one address (an expanded tensor). The in-place
/// ops that compute their result first and copy_ it in (scatter_, index_put_, bernoulli_, dropout)
/// check this before they compute or draw anything, so that the error names them, not copy_, and
/// nothing changes (a generator included).
void check_writable(const Tensor& self, const char* op);

using detail::align_to_rank;
using detail::with_batch;
using detail::batched_index;

/// a + b where an undefined tensor stands for zero, as tangents and gradients do.
inline Tensor sum_terms(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

/// In a curvature rule: sum_k a_k b_k over the directions (the batch dim in front), zero if either is.
Tensor sum_over_directions(const Tensor& a, const Tensor& b);

/// t, or zeros shaped like like when t is undefined (a zero tangent).
inline Tensor or_zeros(const Tensor& t, const Tensor& like) { return t.defined() ? t : zeros_like(like); }

/// In a JVP rule: tangent i, or zeros of inputs[i]'s shape with the rule's batch dims in front,
/// taken from the first defined tangent.
inline Tensor tangent_or_zeros(const TensorList& t, size_t i, const Tensor& input) {
  if (t[i].defined()) return t[i];
  const int64_t nb = forward::batch_dims();
  Dims shape;
  for (const Tensor& other : t)
    if (other.defined()) {
      shape.assign(other.sizes().begin(), other.sizes().begin() + nb);
      break;
    }
  for (int64_t s : input.sizes()) shape.push_back(s);
  return zeros(shape, input.dtype());
}

/// The dims of t after its nb leading batch dims: what a whole-tensor reduction sums over.
inline std::vector<int64_t> own_dims(const Tensor& t, int64_t nb) {
  std::vector<int64_t> dims;
  for (int64_t d = nb; d < t.dim(); ++d) dims.push_back(d);
  return dims;
}

/// t summed (or averaged) over dims; no dims leaves t as it is (not "all dims", as sum({}) would).
inline Tensor sum_over(const Tensor& t, IntArrayRef dims, bool keepdim = false) {
  return dims.empty() ? t : t.sum(dims, keepdim);
}
inline Tensor mean_over(const Tensor& t, IntArrayRef dims, bool keepdim = false) {
  return dims.empty() ? t : t.mean(dims, keepdim);
}

/// dims (possibly negative, of a tensor of rank `rank`) moved past nb batch dims; empty means all.
inline std::vector<int64_t> shift_dims(IntArrayRef dims, int64_t rank, int64_t nb) {
  std::vector<int64_t> out;
  if (dims.empty())
    for (int64_t d = 0; d < rank; ++d) out.push_back(d + nb);
  for (int64_t d : dims) out.push_back(detail::wrap_dim(d, rank, "sum") + nb);
  return out;
}

/// Raises, naming op, unless x is of a floating dtype.
inline void check_floating(const Tensor& x, const char* op) {
  DYDX_CHECK(x.is_floating_point(), op, ": expected a floating point input, got ", x.dtype(), " (shape ", x.sizes(), ")");
}
/// A reduction's gradient g (after nb batch dims) with the reduced dims re-inserted as size 1, when
/// they were not kept, so that it broadcasts back over the input.
inline Tensor unsqueeze_reduced(Tensor g, const Dims& reduced_dims, bool keepdim, int64_t nb = 0) {
  if (keepdim) return g;
  for (int64_t d : reduced_dims) g = g.unsqueeze(d + nb);
  return g;
}
/// dims, each moved nb places right (past nb leading batch dims).
inline std::vector<int64_t> shifted(const Dims& dims, int64_t nb) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(d + nb);
  return out;
}
inline Tensor cast(const Tensor& t, ScalarType dtype) { return t.dtype() == dtype ? t : t.to(dtype); }

/// Integer tensors are promoted to the default float dtype by floating-only functions.
inline Tensor to_floating(const Tensor& t) { return t.is_floating_point() ? t : t.to(kDefaultDtype); }

/// The element function of add and sub: x + alpha * y, with alpha negated for sub. Int64 elements
/// use alpha exactly and wrap on overflow; floating ones compute in double, as they always have,
/// with one rounding where the CPU fuses a multiply-add, as PyTorch's kernels (and so the same bits
/// whether y is a tensor or a broadcast scalar: left to the compiler, c * y of a scalar was hoisted
/// out of the loop and rounded on its own, while a tensor's was fused).
struct ScaledAdd {
  double c;
  int64_t integer_c;

  static ScaledAdd of(Scalar alpha, bool negate) {
    const int64_t i = alpha.to_int64();
    return {negate ? -alpha.to_double() : alpha.to_double(), negate ? cpu::wrapping_neg(i) : i};
  }
  /// Whether the op is a plain x + y or x - y (alpha of +-1).
  bool is_add() const { return c == 1; }
  bool is_sub() const { return c == -1; }

  template <class T>
  T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) return cpu::wrapping_add(x, cpu::wrapping_mul(integer_c, y));
    else {
#ifdef __FMA__
      return static_cast<T>(std::fma(c, static_cast<double>(y), static_cast<double>(x)));
#else
      return static_cast<T>(x + c * y);
#endif
    }
  }
};

/// x^y of two elements: exact (wrapping) repeated squaring for integers, std::pow for floats.
inline constexpr auto element_pow = [](auto x, auto y) {
  if constexpr (std::is_integral_v<decltype(x)>) return cpu::integer_pow(x, y);
  else return std::pow(x, y);
};

/// Zeros that a kernel then writes into, its result: made with a func::compile recording set aside,
/// since they are no constant of f's but a step's result, which the op's finish() or the kernel's
/// note_kernel reports.
inline Tensor zeros_to_write(IntArrayRef sizes, ScalarType dtype) {
  const compile::detail::PauseRecording pause;
  return zeros(sizes, dtype);
}

/// out[i] = pred(x[i]) as bool, x read in its own dtype: comparisons with zero, isnan, and the
/// conditions derivative rules pass to where(). Carries no gradient. Rules whose x is never bool
/// pass TakesBool = false, so that pred is not instantiated (and warned about) for bool.
template <bool TakesBool = true, class Pred>
Tensor bool_mask(const Tensor& x, Pred pred) {
  if (vmap::takes_rule(x)) [[unlikely]] return vmap::elementwise(x, [&](const Tensor& v) { return bool_mask<TakesBool>(v, pred); });
  Tensor out = detail::make_empty(x.sizes(), kBool);
  auto kernel = [&](auto tag) {
    using T = decltype(tag);
    cpu::map1<bool, T>(out, x, [pred](T v) { return static_cast<bool>(pred(v)); });
  };
  if constexpr (TakesBool) cpu::dispatch_with_bool(x.dtype(), kernel);
  else cpu::dispatch(x.dtype(), kernel);
  compile::detail::note_kernel("bool_mask", {&x}, out, [pred](const TensorList& in) { return bool_mask<TakesBool>(in[0], pred); });
  return out;
}

/// out[i] = f(a[i], b[i]) as bool over the broadcast shape, both operands in their promoted dtype.
template <class F>
Tensor compare_kernel(const Tensor& a, const Tensor& b, const char* op, F f) {
  if (vmap::takes_rule({&a, &b})) [[unlikely]]
    return vmap::broadcasting(op, a, b, [&](const Tensor& x, const Tensor& y) { return compare_kernel(x, y, op, f); });
  Dims shape = detail::broadcast_shapes(a.sizes(), b.sizes(), op);
  const ScalarType dtype = result_type(a, b);
  Tensor out = detail::make_empty(shape, kBool);
  Tensor a_cast, b_cast;
  const Tensor& x = a.dtype() == dtype ? a : (a_cast = a.to(dtype));
  const Tensor& y = b.dtype() == dtype ? b : (b_cast = b.to(dtype));
  cpu::dispatch_with_bool(dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::map2_typed<bool, T, T>(out, x, y, [f](T u, T v) { return static_cast<bool>(f(u, v)); });
  });
  return out;
}

/// a op b for two operands that promote to bool, as PyTorch: add and maximum are or, mul and
/// minimum are and; sub raises PyTorch's error and any other arithmetic op raises too.
Tensor bool_binary(const Tensor& a, const Tensor& b, const char* op);

/// Raises PyTorch's error when either operand of a subtraction is a bool tensor.
void check_sub_operands(const Tensor& a, const Tensor& b, const char* op = "sub");

/// out = f(a, b) elementwise over the broadcast shape, in dtype.
template <class F>
Tensor binary_kernel(const Tensor& a, const Tensor& b, ScalarType dtype, const char* op, F f) {
  if (dtype == kBool) return bool_binary(a, b, op);
  Dims shape = detail::broadcast_shapes(a.sizes(), b.sizes(), op);
  Tensor out = detail::make_empty(shape, dtype);
  // Casts only when needed: copying a handle costs two atomic operations, which tiny tensors feel.
  Tensor a_cast, b_cast;
  const Tensor& x = a.dtype() == dtype ? a : (a_cast = a.to(dtype));
  const Tensor& y = b.dtype() == dtype ? b : (b_cast = b.to(dtype));
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::map2<T>(out, x, y, [f](T u, T v) __attribute__((always_inline)) { return static_cast<T>(f(u, v)); });
  });
  return out;
}

}  // namespace dydx::ops
