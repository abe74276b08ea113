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

/// Where elements lie in memory, in elements, with the offset relative to an origin of the caller's
/// choosing (a base's or an input's first element). The arrays must outlive the struct.
struct Strided {
  IntArrayRef sizes;
  IntArrayRef strides;
  int64_t offset = 0;
};
/// Whether layout is contiguous from location 0 and holds all of region: the region is then a
/// strided view of a dense tensor of layout's sizes (view_region), the fast path of the functions below.
bool is_plain(const Strided& layout, const Strided& region);
/// The elements at region's locations of a tensor laid out as layout, whose values t holds densely
/// (nb batch dims, then layout's sizes); locations outside layout read 0. Differentiable.
Tensor gather_strided(const Tensor& t, int64_t nb, const Strided& layout, const Strided& region);
/// The transpose of gather_strided: g (nb batch dims, then region's sizes) summed into the layout's
/// elements at the same locations, dense in layout's sizes. A location the layout holds k times
/// gives each of those elements a k-th, as PyTorch's as_strided_backward does. Differentiable.
Tensor scatter_strided(const Tensor& g, int64_t nb, const Strided& layout, const Strided& region);
/// Ones of layout's sizes, zero at the elements whose location the region covers.
Tensor outside_region(const Strided& layout, const Strided& region, ScalarType dtype);

}  // namespace dydx::detail
