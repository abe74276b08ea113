// Internal constructors for tensors: fresh contiguous storage, and aliases (views) of existing storage.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::detail {

/// A contiguous tensor with uninitialised storage.
Tensor make_empty(IntArrayRef sizes, ScalarType dtype);
/// A tensor sharing src's storage with the given geometry; records src's base so in-place
/// writes through the view can rewrite the base's history. Carries no autograd state.
Tensor make_alias(const Tensor& src, Dims sizes, Dims strides, int64_t offset);
/// Copies src (any layout, any dtype) into dst elementwise, converting dtypes; src broadcasts to dst.
void copy_values(const Tensor& dst, const Tensor& src);
/// zeros(base_sizes) with g added into the region (sizes, strides, offset) of its contiguous layout;
/// the transpose of viewing that region. Differentiable.
Tensor as_strided_scatter(const Tensor& g, IntArrayRef base_sizes, IntArrayRef sizes, IntArrayRef strides,
                          int64_t offset);
/// The same for a gradient with nb leading batch dims: the region is taken in each base of the batch.
Tensor scatter_region(const Tensor& g, int64_t nb, IntArrayRef base_sizes, IntArrayRef sizes, IntArrayRef strides,
                      int64_t offset);
/// The region (sizes, strides, offset) of t's contiguous layout, in each of t's nb leading batch entries.
Tensor view_region(const Tensor& t, int64_t nb, IntArrayRef sizes, IntArrayRef strides, int64_t offset);

}  // namespace dydx::detail
