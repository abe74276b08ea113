// Strided regions of memory read from and written into dense tensors: the rules of as_strided and
// of in-place writes through views (CopySlices), whose geometry lives in memory, while gradients
// and tangents are dense tensors of the input's (or base's) shape.
//
// A dense tensor stands for one laid out as `layout`. To move values between the layout and a
// region, both are placed in an "image" of the memory they reach (PyTorch's as_strided_backward
// does the same): the layout's elements are scattered into the image, the region is read from it,
// or the other way round. Every step is a differentiable op, so the rules differentiate again.
#include "ops/strided_region.hpp"

#include <algorithm>
#include <vector>

#include "core/overlap.hpp"
#include "ops/op_util.hpp"
#include "ops/view_region.hpp"

namespace dydx::detail {

namespace {

int64_t numel_of(const Strided& s) { return product(s.sizes); }

// One past the last location s reaches when its offset is moved by shift; 0 when s is empty.
int64_t end_of(const Strided& s, int64_t shift) {
  if (numel_of(s) == 0) return 0;
  int64_t last = s.offset + shift;
  for (size_t d = 0; d < s.sizes.size(); ++d) last += (s.sizes[d] - 1) * s.strides[d];
  return last + 1;
}

// Calls f(location) for every element of s.
template <class F>
void for_each_location(const Strided& s, F f) {
  if (numel_of(s) == 0) return;
  const size_t rank = s.sizes.size();
  std::vector<int64_t> index(rank, 0);
  int64_t location = s.offset;
  for (;;) {
    f(location);
    size_t d = rank;
    for (; d > 0; --d) {  // an odometer: step the last dim, carrying into the ones before it
      if (++index[d - 1] < s.sizes[d - 1]) {
        location += s.strides[d - 1];
        break;
      }
      location -= (s.sizes[d - 1] - 1) * s.strides[d - 1];
      index[d - 1] = 0;
    }
    if (d == 0) return;
  }
}

// The memory both layout and region reach, with each one's offset inside it.
struct Image {
  int64_t span;
  int64_t layout_offset;
  int64_t region_offset;
};

Image image_of(const Strided& layout, const Strided& region) {
  const int64_t origin = std::min(layout.offset, region.offset);
  const int64_t span = std::max(end_of(layout, -origin), end_of(region, -origin));
  return {span, layout.offset - origin, region.offset - origin};
}

// The number of layout elements at each location of the image, at least 1 (locations the layout
// misses are never read through it, and 1 keeps a division there finite for double backward).
Tensor layout_counts(const Strided& layout, const Image& image, ScalarType dtype) {
  std::vector<double> counts(static_cast<size_t>(image.span), 0.0);
  for_each_location({layout.sizes, layout.strides, image.layout_offset}, [&](int64_t location) { counts[location] += 1; });
  for (double& c : counts) c = std::max(c, 1.0);
  return tensor(counts).to(dtype);
}

}  // namespace

bool is_plain(const Strided& layout, const Strided& region) {
  if (layout.offset != 0 || !is_contiguous(layout.sizes, layout.strides)) return false;
  if (numel_of(region) == 0) return true;
  return region.offset >= 0 && end_of(region, 0) <= numel_of(layout);
}

namespace {

Dims batched(const Tensor& t, int64_t nb, IntArrayRef shape) {
  Dims out(t.sizes().begin(), t.sizes().begin() + nb);
  for (int64_t s : shape) out.push_back(s);
  return out;
}

}  // namespace

Tensor gather_strided(const Tensor& t, int64_t nb, const Strided& layout, const Strided& region) {
  if (is_plain(layout, region)) return view_region(t, nb, region.sizes, region.strides, region.offset);
  if (numel_of(region) == 0 || numel_of(layout) == 0) return zeros(batched(t, nb, region.sizes), t.dtype());
  const Image image = image_of(layout, region);
  Tensor placed = scatter_region(t, nb, {image.span}, layout.sizes, layout.strides, image.layout_offset);
  // Where the layout has several elements at one location (an expanded input), they hold one value.
  if (!detail::surely_no_internal_overlap(layout.sizes, layout.strides)) placed = placed / layout_counts(layout, image, t.dtype());
  return view_region(placed, nb, region.sizes, region.strides, image.region_offset);
}

Tensor scatter_strided(const Tensor& g, int64_t nb, const Strided& layout, const Strided& region) {
  if (is_plain(layout, region)) return scatter_region(g, nb, layout.sizes, region.sizes, region.strides, region.offset);
  if (numel_of(region) == 0 || numel_of(layout) == 0) return zeros(batched(g, nb, layout.sizes), g.dtype());
  const Image image = image_of(layout, region);
  Tensor placed = scatter_region(g, nb, {image.span}, region.sizes, region.strides, image.region_offset);
  // A location the layout holds k times sends each of its elements a k-th of the gradient there,
  // so that the elements' gradients (summed by expand's rule, say) add up to it.
  if (!detail::surely_no_internal_overlap(layout.sizes, layout.strides)) placed = placed / layout_counts(layout, image, g.dtype());
  return view_region(placed, nb, layout.sizes, layout.strides, image.layout_offset);
}

Tensor outside_region(const Strided& layout, const Strided& region, ScalarType dtype) {
  if (is_plain(layout, region)) {
    Tensor mask = ones(layout.sizes, dtype);
    copy_values(make_alias(mask, region.sizes.dims(), region.strides.dims(), region.offset), zeros({}, dtype));
    return mask;
  }
  if (numel_of(layout) == 0) return ones(layout.sizes, dtype);
  const Image image = image_of(layout, region);
  Tensor mask = ones({image.span}, dtype);
  if (numel_of(region) > 0)
    copy_values(make_alias(mask, region.sizes.dims(), region.strides.dims(), image.region_offset), zeros({}, dtype));
  return make_alias(mask, layout.sizes.dims(), layout.strides.dims(), image.layout_offset);
}

}  // namespace dydx::detail
