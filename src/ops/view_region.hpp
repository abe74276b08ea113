// Regions (sizes, strides, offset) of a dense tensor's contiguous layout, viewed and scattered back:
// the gradients of the view ops. Defined in movement.cpp.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::detail {

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
