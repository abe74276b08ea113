// Internal constructors for tensors: fresh contiguous storage, and aliases (views) of existing storage.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::detail {

/// A contiguous tensor with uninitialised storage.
Tensor make_empty(IntArrayRef sizes, ScalarType dtype);
/// A tensor sharing src's storage with the given geometry; records src's base so in-place
/// writes through the view can rewrite the base's history. Carries no autograd state.
Tensor make_alias(const Tensor& src, Dims sizes, Dims strides, int64_t offset);
/// Copies src (any layout, any dtype) into dst elementwise, converting dtypes as cpu::convert does;
/// src broadcasts to dst.
void copy_values(const Tensor& dst, const Tensor& src);
/// zeros(base_sizes) with g added into the region (sizes, strides, offset) of its contiguous layout;
/// the transpose of viewing that region. Differentiable.
Tensor as_strided_scatter(const Tensor& g, IntArrayRef base_sizes, IntArrayRef sizes, IntArrayRef strides,
                          int64_t offset);
/// The same for a gradient with nb leading batch dims: the region is taken in each base of the batch.
Tensor scatter_region(const Tensor& g, int64_t nb, IntArrayRef base_sizes, IntArrayRef sizes, IntArrayRef strides,
                      int64_t offset);
/// g (nb batch dims, then its own) reshaped to broadcast against tensors of rank `rank`, the way
/// an unbatched g would: size-1 dims go between the batch dims and g's own.
inline Tensor align_to_rank(const Tensor& g, int64_t nb, int64_t rank) {
  const int64_t own = g.dim() - nb;
  if (nb == 0 || own >= rank) return g;
  Dims shape(g.sizes().begin(), g.sizes().begin() + nb);
  for (int64_t i = own; i < rank; ++i) shape.push_back(1);
  for (int64_t i = nb; i < g.dim(); ++i) shape.push_back(g.size(i));
  return g.reshape(shape);
}
/// The region (sizes, strides, offset) of t's contiguous layout, in each of t's nb leading batch entries.
Tensor view_region(const Tensor& t, int64_t nb, IntArrayRef sizes, IntArrayRef strides, int64_t offset);

}  // namespace dydx::detail
