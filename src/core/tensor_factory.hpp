// Internal constructors for tensors: fresh contiguous storage, and aliases (views) of existing storage.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::detail {

/// A contiguous tensor with uninitialised storage. When its byte count overflows or the memory
/// can't be had, the dydx::Error names op (the public function at fault), the shape and the dtype.
Tensor make_empty(IntArrayRef sizes, ScalarType dtype, const char* op);
/// make_empty for an op's result, whose shape comes from tensors that already exist: a failure
/// there is named as the allocation's.
Tensor make_empty(IntArrayRef sizes, ScalarType dtype);
/// A tensor sharing src's storage with the given geometry; records src's base so in-place
/// writes through the view can rewrite the base's history. Carries no autograd state: a view op
/// marks a view made under no_grad itself (view_made_without_grad).
Tensor make_alias(const Tensor& src, Dims sizes, Dims strides, int64_t offset);
/// Copies src (any layout, any dtype) into dst elementwise, converting dtypes as cpu::convert does;
/// src broadcasts to dst.
void copy_values(const Tensor& dst, const Tensor& src);

}  // namespace dydx::detail
