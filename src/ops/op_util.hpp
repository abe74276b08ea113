// Helpers shared by the op families: dtype promotion, scalar wrapping and kernel launch.
#pragma once

#include "autograd/engine.hpp"
#include "autograd/forward_mode.hpp"
#include "core/shape.hpp"
#include "core/tensor_factory.hpp"
#include "cpu/cpu_kernels.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/detail/node.hpp"
#include "dydx/ops.hpp"

namespace dydx::ops {

using autograd::Node;
using autograd::OpInfo;
using autograd::record;

/// PyTorch's result_type for two tensors: zero-dim operands only decide the dtype when their
/// category (integer < floating) is higher than every dimensioned operand's.
ScalarType result_type(const Tensor& a, const Tensor& b);
/// The dtype of t op s for a C++ scalar s: the tensor's, except an integer tensor with a
/// floating scalar gives the default float dtype.
ScalarType result_type(const Tensor& t, Scalar s);
/// d(x^y)/dy given out = x^y, with PyTorch's convention at x == 0.
Tensor pow_exponent_derivative(const Tensor& x, const Tensor& y, const Tensor& out);
/// s as a 0-D tensor of the given dtype.
Tensor scalar_tensor(Scalar s, ScalarType dtype);

/// a + b where an undefined tensor stands for zero, as tangents and gradients do.
inline Tensor sum_terms(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

/// t, or zeros shaped like like when t is undefined (a zero tangent).
inline Tensor or_zeros(const Tensor& t, const Tensor& like) { return t.defined() ? t : zeros_like(like); }

inline Tensor cast(const Tensor& t, ScalarType dtype) { return t.dtype() == dtype ? t : t.to(dtype); }

/// Integer tensors are promoted to the default float dtype by floating-only functions.
inline Tensor to_floating(const Tensor& t) { return t.is_floating_point() ? t : t.to(kDefaultDtype); }

/// out = f(a, b) elementwise over the broadcast shape, in dtype.
template <class F>
Tensor binary_kernel(const Tensor& a, const Tensor& b, ScalarType dtype, const char* op, F f) {
  Dims shape = detail::broadcast_shapes(a.sizes(), b.sizes(), op);
  Tensor out = detail::make_empty(shape, dtype);
  Tensor x = cast(a, dtype), y = cast(b, dtype);
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::map2<T>(out, x, y, [f](T u, T v) { return static_cast<T>(f(u, v)); });
  });
  return out;
}

}  // namespace dydx::ops
