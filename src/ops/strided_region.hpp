// Strided regions of memory read from and written into dense tensors: the rules of as_strided and
// of in-place writes through views. Defined in strided_region.cpp.
#pragma once

#include "dydx/small_vector.hpp"
#include "dydx/tensor.hpp"

namespace dydx::detail {

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

/// What as_strided and an in-place write through a view (CopySlices) remember: a region of memory
/// (sizes, strides, offset relative to the base's first element) and the base's own strides, so
/// that the region is matched to the base's elements by location whatever the base's layout.
struct RegionOfBase {
  Dims sizes;
  Dims strides;
  int64_t offset = 0;
  Dims base_strides;

  Strided base(const Dims& base_sizes) const { return {base_sizes, base_strides, 0}; }
  Strided base(Dims&&) const = delete;  // a Strided refers to its sizes: they must outlive it
  Strided region() const { return {sizes, strides, offset}; }
};

}  // namespace dydx::detail
