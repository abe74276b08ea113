// View ops (select, slice, permute, expand, reshape, ...): new geometry over the same storage, no copy.
#include <algorithm>
#include <string>

#include "ops/advanced_indexing.hpp"
#include "vmap/batched.hpp"
#include "ops/op_record.hpp"
#include "compile/trace.hpp"
#include "ops/op_util.hpp"
#include "ops/strided_region.hpp"
#include "ops/view_region.hpp"

namespace dydx {
namespace ops {
namespace {

struct Geometry {
  Dims sizes;
  Dims strides;
  int64_t offset = 0;
};

Geometry geometry_of(const Tensor& x) { return {x.impl()->sizes, x.impl()->strides, x.storage_offset()}; }
Geometry contiguous_geometry(const Dims& sizes) { return {sizes, detail::contiguous_strides(sizes), 0}; }

Geometry select_geometry(Geometry g, int64_t dim, int64_t index) {
  g.offset += index * g.strides[dim];
  g.sizes.erase_at(dim);
  g.strides.erase_at(dim);
  return g;
}

Geometry slice_geometry(Geometry g, int64_t dim, int64_t start, int64_t length, int64_t step) {
  g.offset += start * g.strides[dim];
  g.sizes[dim] = length;
  // A step past the dim's end leaves at most one element, whose stride is never used; computing it
  // must not overflow (stride 3, step 2^63 - 1), so it stays as it was then.
  int64_t stride = 0;
  if (!__builtin_mul_overflow(g.strides[dim], step, &stride)) g.strides[dim] = stride;
  return g;
}

// A view made under no_grad has no history for an in-place write through it to rewrite.
Tensor alias_of(const Tensor& x, const Geometry& g) {
  Tensor out = detail::make_alias(x, g.sizes, g.strides, g.offset);
  out.impl()->view_made_without_grad = !is_grad_enabled();
  return out;
}

}  // namespace
}  // namespace ops

namespace detail {

// With nb batch dims in front, a region of one base becomes the same region of each base in the
// batch: each batch dim steps over whole copies of the (contiguous) base.
static void add_batch_dims(const Tensor& t, int64_t nb, IntArrayRef base_sizes, Dims& sizes, Dims& strides) {
  int64_t step = product(base_sizes);
  for (int64_t d = nb - 1; d >= 0; --d) {
    sizes.insert_at(0, t.size(d));
    strides.insert_at(0, step);
    step *= t.size(d);
  }
}

Tensor scatter_region(const Tensor& g, int64_t nb, IntArrayRef base_sizes, IntArrayRef sizes, IntArrayRef strides,
                      int64_t offset) {
  Dims full_sizes = sizes.dims(), full_strides = strides.dims();
  add_batch_dims(g, nb, base_sizes, full_sizes, full_strides);
  return as_strided_scatter(g, ops::with_batch(g, nb, base_sizes), full_sizes, full_strides, offset);
}

Tensor view_region(const Tensor& t, int64_t nb, IntArrayRef sizes, IntArrayRef strides, int64_t offset) {
  Tensor dense = t.contiguous();
  Dims base(dense.sizes().begin() + nb, dense.sizes().end());
  Dims full_sizes = sizes.dims(), full_strides = strides.dims();
  add_batch_dims(dense, nb, base, full_sizes, full_strides);
  return dense.as_strided(full_sizes, full_strides, dense.storage_offset() + offset);
}

}  // namespace detail

namespace ops {
namespace {

// Every view is linear: its VJP scatters or reshapes the gradient back, and its JVP is the same
// view of the input's tangent, made from the record's attributes with the tangent's batch dims kept
// in front. Views save no tensors: their rules read only the input's shape and the attributes.

// The input may be any view (transposed, sliced, expanded), and the gradient goes to its elements
// by location, as in PyTorch's AsStridedBackward0.
struct AsStridedRecord : Named<"as_strided", "AsStridedBackward0">, Linear {
  using Attrs = detail::RegionOfBase;
  static void vjp(const Backward<AsStridedRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = detail::scatter_strided(g, b.batch_dims(g), b.attrs().base(b.input_sizes(0)), b.attrs().region());
  }
  static Tensor jvp(const Primal<AsStridedRecord>& p, const TensorList& t) {
    return detail::gather_strided(t[0], p.batch_dims(), p.attrs().base(p.input(0).impl()->sizes), p.attrs().region());
  }
};

// as_strided_scatter and as_strided are each other's transposes; every view whose gradient must be
// scattered into zeros (select, slice) uses the scatter. Its output is the base, zeros outside the region.
struct RegionAttrs {
  Dims sizes;
  Dims strides;
  int64_t offset = 0;
  Dims base_sizes;
};
struct AsStridedScatterRecord : Named<"as_strided_scatter", "AsStridedScatterBackward0">, Linear {
  using Attrs = RegionAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return detail::as_strided_scatter(in[0], a.base_sizes, a.sizes, a.strides, a.offset);
  }
  static void vjp(const Backward<AsStridedScatterRecord>& b, const Tensor& g, Tensor* grads) {
    const auto& a = b.attrs();
    grads[0] = detail::view_region(g, b.batch_dims(g), a.sizes, a.strides, a.offset);
  }
  static Tensor jvp(const Primal<AsStridedScatterRecord>& p, const TensorList& t) {
    const auto& a = p.attrs();
    return detail::scatter_region(t[0], p.batch_dims(), p.output().sizes(), a.sizes, a.strides, a.offset);
  }
};

Tensor scatter_geometry(const Tensor& g, int64_t nb, const Dims& in_sizes, const Geometry& geo) {
  return detail::scatter_region(g, nb, in_sizes, geo.sizes, geo.strides, geo.offset);
}

struct SelectAttrs {
  int64_t dim, index;
};
// select's rules, also unbind's (one select per piece, named as PyTorch names them).
using SelectNames = Named<"select", "SelectBackward0">;
using UnbindNames = Named<"unbind", "UnbindBackward0">;
template <class Names>
struct SelectRecord : Names, Linear {
  using Attrs = SelectAttrs;
  static void vjp(const Backward<SelectRecord>& b, const Tensor& g, Tensor* grads) {
    const Dims& in = b.input_sizes(0);
    grads[0] = scatter_geometry(g, b.batch_dims(g), in,
                                select_geometry(contiguous_geometry(in), b.attrs().dim, b.attrs().index));
  }
  static Tensor jvp(const Primal<SelectRecord>& p, const TensorList& t) {
    return t[0].select(p.attrs().dim + p.batch_dims(), p.attrs().index);
  }
};

// The slice's bounds as clamped: start, and length elements step apart.
struct SliceAttrs {
  int64_t dim, start, length, step;
};
// slice's rules, also split's, chunk's and split_with_sizes's (one slice per piece).
using SliceNames = Named<"slice", "SliceBackward0">;
using SplitNames = Named<"split", "SplitBackward0">;
using SplitWithSizesNames = Named<"split_with_sizes", "SplitWithSizesBackward0">;
template <class Names>
struct SliceRecord : Names, Linear {
  using Attrs = SliceAttrs;
  static void vjp(const Backward<SliceRecord>& b, const Tensor& g, Tensor* grads) {
    const Dims& in = b.input_sizes(0);
    const auto& a = b.attrs();
    grads[0] = scatter_geometry(g, b.batch_dims(g), in, slice_geometry(contiguous_geometry(in), a.dim, a.start, a.length, a.step));
  }
  static Tensor jvp(const Primal<SliceRecord>& p, const TensorList& t) {
    const auto& a = p.attrs();
    return t[0].slice(a.dim + p.batch_dims(), a.start, a.start + a.length * a.step, a.step);
  }
};

// The permutation, with its dims wrapped.
struct PermuteAttrs {
  Dims dims;
};
struct PermuteRecord : Named<"permute", "PermuteBackward0">, Linear {
  using Attrs = PermuteAttrs;
  static void vjp(const Backward<PermuteRecord>& b, const Tensor& g, Tensor* grads) {
    const Dims& perm = b.attrs().dims;
    const int64_t nb = b.batch_dims(g);
    Dims inverse(nb + perm.size(), 0);
    for (int64_t i = 0; i < nb; ++i) inverse[i] = i;
    for (size_t i = 0; i < perm.size(); ++i) inverse[nb + perm[i]] = nb + static_cast<int64_t>(i);
    grads[0] = g.permute(inverse);
  }
  static Tensor jvp(const Primal<PermuteRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    Dims batched;
    for (int64_t d = 0; d < nb; ++d) batched.push_back(d);
    for (int64_t d : p.attrs().dims) batched.push_back(d + nb);
    return t[0].permute(batched);
  }
};

// transpose and t share their rules; each one's tangent is its own kind of view.
using TransposeNames = Named<"transpose", "TransposeBackward0">;
using TNames = Named<"t", "TBackward0">;
// The two dims swapped, wrapped (both 0 for a 0-D tensor).
struct TransposeAttrs {
  int64_t dim0, dim1;
};
template <class Names>
Tensor transpose_view(const Tensor& x, int64_t dim0, int64_t dim1);
template <class Names>
struct TransposeRecord : Names, Linear {
  using Attrs = TransposeAttrs;
  static void vjp(const Backward<TransposeRecord>& b, const Tensor& g, Tensor* grads) {
    if (b.input_sizes(0).empty()) {  // a 0-D tensor's transpose is itself
      grads[0] = g;
      return;
    }
    const int64_t nb = b.batch_dims(g);
    grads[0] = g.transpose(b.attrs().dim0 + nb, b.attrs().dim1 + nb);
  }
  static Tensor jvp(const Primal<TransposeRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    return p.input(0).dim() == 0 ? t[0] : transpose_view<Names>(t[0], p.attrs().dim0 + nb, p.attrs().dim1 + nb);
  }
};

// The engine sums a gradient down to its input's shape, which is exactly expand's transpose.
struct ExpandRecord : Named<"expand", "ExpandBackward0">, Linear {
  static void vjp(const Backward<ExpandRecord>&, const Tensor& g, Tensor* grads) { grads[0] = g; }
  static Tensor jvp(const Primal<ExpandRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    const Tensor& out = p.output();
    return align_to_rank(t[0], nb, out.dim()).expand(with_batch(t[0], nb, out.sizes()));
  }
};

struct UnsqueezeAttrs {
  int64_t dim;
};
struct UnsqueezeRecord : Named<"unsqueeze", "UnsqueezeBackward0">, Linear {
  using Attrs = UnsqueezeAttrs;
  static void vjp(const Backward<UnsqueezeRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = g.squeeze(b.attrs().dim + b.batch_dims(g));
  }
  static Tensor jvp(const Primal<UnsqueezeRecord>& p, const TensorList& t) {
    return t[0].unsqueeze(p.attrs().dim + p.batch_dims());
  }
};

// Views that keep the elements in order and change only the shape: squeeze, squeeze.dim and view.
using SqueezeNames = Named<"squeeze", "SqueezeBackward0">;
using SqueezeDimNames = Named<"squeeze.dim", "SqueezeBackward1">;
using ViewNames = Named<"view", "ViewBackward0">;
template <class Names>
struct ReshapeRecord : Names, Linear {
  static void vjp(const Backward<ReshapeRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = g.reshape(with_batch(g, b.batch_dims(g), b.input_sizes(0)));
  }
  // A tangent need not share the primal's strides (an expanded zero, say), so it is reshaped.
  static Tensor jvp(const Primal<ReshapeRecord>& p, const TensorList& t) {
    return t[0].reshape(with_batch(t[0], p.batch_dims(), p.output().sizes()));
  }
};

// The view of x with geometry geo, as the op of Record.
template <class Record>
Tensor make_view(const Tensor& x, const Geometry& geo, const AttrsOf<Record>& attrs = {}) {
  Tensor out = alias_of(x, geo);
  finish<Record>({&x}, out, attrs);
  return out;
}

template <class Names>
Tensor transpose_view(const Tensor& x, int64_t dim0, int64_t dim1) {
  // Checked first: a 0-D tensor accepts only dims 0 and -1, as in PyTorch.
  dim0 = detail::wrap_dim(dim0, x.dim(), "transpose");
  dim1 = detail::wrap_dim(dim1, x.dim(), "transpose");
  if (vmap::takes_rule(x)) [[unlikely]] {
    const int64_t k = vmap::batched(x)->bdim;
    if (x.dim() == 0) return x;
    return vmap::elementwise(x, [&](const Tensor& v) {
      return v.transpose(vmap::physical_dim(dim0, k), vmap::physical_dim(dim1, k));
    });
  }
  Geometry geo = geometry_of(x);
  if (x.dim() > 0) {
    std::swap(geo.sizes[dim0], geo.sizes[dim1]);
    std::swap(geo.strides[dim0], geo.strides[dim1]);
  }
  return make_view<TransposeRecord<Names>>(x, geo, {dim0, dim1});
}

// The slice [start, start + length) of x's (wrapped) dim, or its index'th element along it, as the op of
// Names: validated by the callers.
template <class Names>
Tensor slice_view(const Tensor& x, int64_t dim, int64_t start, int64_t length, int64_t step) {
  if (vmap::takes_rule(x)) [[unlikely]]
    return vmap::elementwise(x, [&](const Tensor& v) {
      return slice_view<Names>(v, vmap::physical_dim(dim, vmap::batched(x)->bdim), start, length, step);
    });
  return make_view<SliceRecord<Names>>(x, slice_geometry(geometry_of(x), dim, start, length, step),
                                       {dim, start, length, step});
}
template <class Names>
Tensor select_view(const Tensor& x, int64_t dim, int64_t index) {
  if (vmap::takes_rule(x)) [[unlikely]] {
    const auto* b = vmap::batched(x);
    return vmap::wrap(select_view<Names>(b->value, vmap::physical_dim(dim, b->bdim), index),
                      dim < b->bdim ? b->bdim - 1 : b->bdim, b->level);
  }
  return make_view<SelectRecord<Names>>(x, select_geometry(geometry_of(x), dim, index), {dim, index});
}

int64_t wrap_index(int64_t index, int64_t size, int64_t dim, const char* op, const Tensor& x) {
  if (!(index >= -size && index < size))
    detail::fail_with<IndexError>(op, ": index ", index, " is out of bounds for dimension ", dim, " with size ", size,
                                  " (tensor of shape ", x.sizes(), ")");
  return index < 0 ? index + size : index;
}

}  // namespace
}  // namespace ops

namespace detail {
Tensor as_strided_scatter(const Tensor& g, IntArrayRef base_sizes, IntArrayRef sizes, IntArrayRef strides,
                          int64_t offset) {
  if (vmap::takes_rule(g)) [[unlikely]] {
    // Each sample scatters into a fresh base of its own: the batch of bases is [B, base_sizes],
    // contiguous, so sample i's region starts numel(base) elements after sample i - 1's.
    const auto* b = vmap::batched(g);
    int64_t numel = 1;
    for (int64_t s : base_sizes) numel *= s;
    Dims batch_base{b->value.size(b->bdim)}, batch_sizes{b->value.size(b->bdim)}, batch_strides{numel};
    for (int64_t s : base_sizes) batch_base.push_back(s);
    for (size_t d = 0; d < sizes.size(); ++d) {
      batch_sizes.push_back(sizes[d]);
      batch_strides.push_back(strides[d]);
    }
    return vmap::wrap(as_strided_scatter(vmap::batch_first({b->value, b->bdim}), batch_base, batch_sizes, batch_strides,
                                         offset),
                      0, b->level);
  }
  Tensor out = ops::zeros_to_write(base_sizes, g.dtype());
  Tensor region = make_alias(out, sizes.dims(), strides.dims(), offset);
  // Accumulates, so overlapping views (expand, sliding windows) sum their gradients. The region
  // then overlaps itself, and map2 splits it across threads only where the pieces are disjoint.
  cpu::dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map2<T>(region, region, g, [](T a, T b) { return a + b; });
  });
  ops::finish<ops::AsStridedScatterRecord>({&g}, out, {sizes.dims(), strides.dims(), offset, base_sizes.dims()});
  return out;
}
}  // namespace detail

using ops::Geometry;

Tensor Tensor::select(int64_t dim, int64_t index) const {
  if (this->dim() == 0) detail::fail_with<IndexError>("select: cannot be applied to a 0-D tensor");
  dim = detail::wrap_dim(dim, this->dim(), "select");
  index = ops::wrap_index(index, size(dim), dim, "select", *this);
  return ops::select_view<ops::SelectNames>(*this, dim, index);
}

Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) const {
  DYDX_CHECK(this->dim() > 0, "slice: cannot be applied to a 0-D tensor");
  dim = detail::wrap_dim(dim, this->dim(), "slice");
  DYDX_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = size(dim);
  // Python's slice semantics: negative bounds count from the end, then clamp into [0, n].
  auto clamp = [n](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n); };
  const int64_t s = clamp(start.value_or(0));
  const int64_t e = std::max(s, clamp(end.value_or(n)));
  const int64_t length = e > s ? (e - s - 1) / step + 1 : 0;  // no overflow for huge steps
  return ops::slice_view<ops::SliceNames>(*this, dim, s, length, step);
}

Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  DYDX_CHECK(this->dim() > 0, "narrow: cannot be applied to a 0-D tensor");
  dim = detail::wrap_dim(dim, this->dim(), "narrow");
  const int64_t n = size(dim);
  if (!(start >= -n && start <= n))  // (an IndexError, as PyTorch's)
    detail::fail_with<IndexError>("narrow: start ", start, " is out of range for dimension ", dim, " of size ", n);
  if (start < 0) start += n;
  DYDX_CHECK(length >= 0 && length <= n - start, "narrow: start (", start, ") + length (", length,
             ") exceeds dimension size (", n, ")");
  return slice(dim, start, start + length, 1);
}

// split, chunk, split_with_sizes and unbind: views of consecutive pieces, each its own node named as
// PyTorch names the one node its pieces share (which gives the same gradients).
TensorList Tensor::split(int64_t split_size, int64_t dim) const {
  DYDX_CHECK(this->dim() > 0, "split expects at least a 1-dimensional tensor");
  dim = detail::wrap_dim(dim, this->dim(), "split");
  DYDX_CHECK(split_size >= 0, "split expects split_size be non-negative, but got split_size=", split_size);
  const int64_t n = size(dim);
  DYDX_CHECK(split_size > 0 || n == 0,
             "split_size can only be 0 if dimension size is 0, but got dimension size of ", n);
  // One piece at least (an empty dim gives one empty piece); the last may be shorter.
  const int64_t count = split_size == 0 ? 1 : std::max<int64_t>(1, n / split_size + (n % split_size != 0));
  TensorList pieces;
  pieces.reserve(static_cast<size_t>(count));
  for (int64_t i = 0, start = 0; i < count; ++i, start += split_size)
    pieces.push_back(ops::slice_view<ops::SplitNames>(*this, dim, start, std::min(split_size, n - start), 1));
  return pieces;
}

TensorList Tensor::split(IntArrayRef split_sizes, int64_t dim) const { return split_with_sizes(split_sizes, dim); }

TensorList Tensor::split_with_sizes(IntArrayRef split_sizes, int64_t dim) const {
  DYDX_CHECK(this->dim() > 0, "split_with_sizes expects at least a 1-dimensional tensor");
  dim = detail::wrap_dim(dim, this->dim(), "split_with_sizes");
  const int64_t n = size(dim);
  const auto listed = [&] {  // as PyTorch prints the list: [1, 2]
    std::string text = "[";
    for (size_t i = 0; i < split_sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(split_sizes[i]);
    return text + "]";
  };
  int64_t total = 0;
  bool overflow = false;
  for (int64_t s : split_sizes) {
    DYDX_CHECK(s >= 0, "split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes=",
               listed());
    overflow |= __builtin_add_overflow(total, s, &total);
  }
  DYDX_CHECK(!overflow && total == n, "split_with_sizes expects split_sizes to sum exactly to ", n,
             " (input tensor's size at dimension ", dim, "), but got split_sizes=", listed());
  TensorList pieces;
  pieces.reserve(split_sizes.size());
  int64_t start = 0;
  for (int64_t s : split_sizes) {
    pieces.push_back(ops::slice_view<ops::SplitWithSizesNames>(*this, dim, start, s, 1));
    start += s;
  }
  return pieces;
}

TensorList Tensor::chunk(int64_t chunks, int64_t dim) const {
  DYDX_CHECK(this->dim() > 0, "chunk expects at least a 1-dimensional tensor");
  DYDX_CHECK(chunks > 0, "chunk expects `chunks` to be greater than 0, got: ", chunks);
  dim = detail::wrap_dim(dim, this->dim(), "chunk");
  const int64_t n = size(dim);
  // Pieces of ceil(n / chunks), so possibly fewer than chunks; an empty dim gives chunks empty pieces.
  if (n == 0) return split_with_sizes(Dims(static_cast<size_t>(chunks), 0), dim);
  return split(n / chunks + (n % chunks != 0), dim);
}

TensorList Tensor::unbind(int64_t dim) const {
  if (this->dim() == 0) detail::fail_with<IndexError>("unbind: Dimension specified as ", dim, " but tensor has no dimensions");
  dim = detail::wrap_dim(dim, this->dim(), "unbind");
  TensorList pieces;
  pieces.reserve(static_cast<size_t>(size(dim)));
  for (int64_t i = 0; i < size(dim); ++i) pieces.push_back(ops::select_view<ops::UnbindNames>(*this, dim, i));
  return pieces;
}

TensorList split(const Tensor& x, int64_t split_size, int64_t dim) { return x.split(split_size, dim); }
TensorList split(const Tensor& x, IntArrayRef split_sizes, int64_t dim) { return x.split_with_sizes(split_sizes, dim); }
TensorList split_with_sizes(const Tensor& x, IntArrayRef split_sizes, int64_t dim) {
  return x.split_with_sizes(split_sizes, dim);
}
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim) { return x.chunk(chunks, dim); }
TensorList unbind(const Tensor& x, int64_t dim) { return x.unbind(dim); }

Tensor Tensor::index(const std::vector<indexing::TensorIndex>& indices) const {
  if (ops::has_tensor_index(indices)) return ops::index_with_tensors(*this, indices);
  int64_t consuming = 0, ellipses = 0;
  for (const auto& i : indices) {
    if (i.is_integer() || i.is_slice()) ++consuming;
    if (i.is_ellipsis()) ++ellipses;
  }
  DYDX_CHECK(ellipses <= 1, "index: an index can only have a single ellipsis ('...')");
  if (consuming > dim())
    detail::fail_with<IndexError>("index: too many indices for tensor of dimension ", dim(), " (got ", consuming, ")");
  Tensor out = *this;
  int64_t d = 0;
  for (const auto& i : indices) {
    if (i.is_integer()) {
      out = out.select(d, i.integer());
    } else if (i.is_slice()) {
      const auto& s = i.slice();
      const int64_t step = s.step.value_or(1);
      const bool full = !s.start.value_or(0) && !s.stop && step == 1;
      if (!full) out = out.slice(d, s.start, s.stop, step);  // a full slice is the tensor itself, as in PyTorch
      ++d;
    } else if (i.is_none()) {
      out = out.unsqueeze(d++);
    } else {
      d += dim() - consuming;
    }
  }
  return out;
}

Tensor Tensor::permute(IntArrayRef dims) const {
  DYDX_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: number of dims in ", dims,
             " doesn't match the tensor's rank ", dim());
  Geometry geo;
  ops::PermuteAttrs attrs;
  SmallVector<char, 6> seen(dim(), false);
  for (int64_t d : dims) {
    int64_t w = detail::wrap_dim(d, dim(), "permute");
    DYDX_CHECK(!seen[w], "permute: repeated dim ", w, " in ", dims);
    seen[w] = true;
    attrs.dims.push_back(w);
    geo.sizes.push_back(impl_ref().sizes[w]);
    geo.strides.push_back(impl_ref().strides[w]);
  }
  if (vmap::takes_rule(*this)) [[unlikely]] {
    // The batch dim stays where it is; the sample's dims move around it.
    const int64_t k = vmap::batched(*this)->bdim;
    Dims order(static_cast<size_t>(dim() + 1), k);
    for (int64_t i = 0; i < dim(); ++i) order[vmap::physical_dim(i, k)] = vmap::physical_dim(attrs.dims[i], k);
    return vmap::elementwise(*this, [&](const Tensor& v) { return v.permute(order); });
  }
  geo.offset = storage_offset();
  return ops::make_view<ops::PermuteRecord>(*this, geo, attrs);
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  return ops::transpose_view<ops::TransposeNames>(*this, dim0, dim1);
}

Tensor Tensor::t() const {
  DYDX_CHECK(dim() <= 2, "t: expects a tensor with <= 2 dimensions, but got a tensor of shape ", sizes());
  return ops::transpose_view<ops::TNames>(*this, 0, dim() < 2 ? 0 : 1);
}

Tensor Tensor::expand(IntArrayRef new_sizes) const {
  const int64_t rank = static_cast<int64_t>(new_sizes.size());
  DYDX_CHECK(rank >= dim(), "expand: the number of sizes provided (", rank,
             ") must be greater or equal to the number of dimensions in the tensor (", dim(), ")");
  Geometry geo;
  geo.offset = storage_offset();
  const int64_t lead = rank - dim();
  for (int64_t d = 0; d < rank; ++d) {
    int64_t target = new_sizes[d];
    if (d < lead) {
      DYDX_CHECK(target >= 0, "expand: the expanded size ", target, " is not allowed in a leading, non-existing dimension ", d);
      geo.sizes.push_back(target);
      geo.strides.push_back(0);
      continue;
    }
    int64_t have = impl_ref().sizes[d - lead];
    if (target == -1) target = have;
    DYDX_CHECK(target >= 0, "expand: invalid size ", new_sizes[d], " at dim ", d, " in ", new_sizes);
    DYDX_CHECK(have == target || have == 1, "expand: the expanded size of the tensor (", target,
               ") must match the existing size (", have, ") at non-singleton dimension ", d, ". Target sizes: ",
               new_sizes, ". Tensor sizes: ", sizes());
    geo.sizes.push_back(target);
    geo.strides.push_back(have == target ? impl_ref().strides[d - lead] : 0);
  }
  detail::check_sizes(geo.sizes, "expand");
  if (vmap::takes_rule(*this)) [[unlikely]] {
    const auto* b = vmap::batched(*this);
    Dims sizes{b->value.size(b->bdim)};
    for (int64_t s : geo.sizes) sizes.push_back(s);
    return vmap::wrap(vmap::pad_sample_rank(vmap::batch_first({b->value, b->bdim}), rank).expand(sizes), 0, b->level);
  }
  return ops::make_view<ops::ExpandRecord>(*this, geo);
}

Tensor Tensor::unsqueeze(int64_t dim) const {
  dim = detail::wrap_dim(dim, this->dim() + 1, "unsqueeze");
  if (vmap::takes_rule(*this)) [[unlikely]] {
    const auto* b = vmap::batched(*this);
    const bool before = dim <= b->bdim;
    return vmap::wrap(b->value.unsqueeze(before ? dim : dim + 1), before ? b->bdim + 1 : b->bdim, b->level);
  }
  Geometry geo = ops::geometry_of(*this);
  int64_t stride = dim < this->dim() ? geo.sizes[dim] * geo.strides[dim] : 1;
  geo.sizes.insert_at(dim, 1);
  geo.strides.insert_at(dim, stride);
  return ops::make_view<ops::UnsqueezeRecord>(*this, geo, {dim});
}

Tensor Tensor::squeeze() const {
  if (vmap::takes_rule(*this)) [[unlikely]] {
    Tensor out = *this;
    for (int64_t d = dim() - 1; d >= 0; --d)
      if (size(d) == 1) out = out.squeeze(d);
    return out;
  }
  Geometry geo;
  geo.offset = storage_offset();
  for (int64_t d = 0; d < dim(); ++d)
    if (impl_ref().sizes[d] != 1) {
      geo.sizes.push_back(impl_ref().sizes[d]);
      geo.strides.push_back(impl_ref().strides[d]);
    }
  return ops::make_view<ops::ReshapeRecord<ops::SqueezeNames>>(*this, geo);
}

Tensor Tensor::squeeze(int64_t dim) const {
  Geometry geo = ops::geometry_of(*this);
  dim = detail::wrap_dim(dim, this->dim(), "squeeze");  // before the 0-D case, which accepts only 0 and -1
  if (vmap::takes_rule(*this)) [[unlikely]] {
    if (this->dim() == 0 || size(dim) != 1) return *this;
    const auto* b = vmap::batched(*this);
    return vmap::wrap(b->value.squeeze(vmap::physical_dim(dim, b->bdim)), dim < b->bdim ? b->bdim - 1 : b->bdim,
                      b->level);
  }
  if (this->dim() > 0 && geo.sizes[dim] == 1) {
    geo.sizes.erase_at(dim);
    geo.strides.erase_at(dim);
  }
  return ops::make_view<ops::ReshapeRecord<ops::SqueezeDimNames>>(*this, geo);
}

Tensor Tensor::view(IntArrayRef new_sizes) const {
  Dims shape = detail::infer_size(new_sizes, numel(), "view");
  // Checked before the rule: a batched tensor's sizes and strides are its sample's (its batch dim left
  // out), and the batch-first value is viewable exactly when the sample is, so the error names the sample.
  auto strides = detail::view_strides(impl_ref().sizes, impl_ref().strides, shape);
  DYDX_CHECK(strides.has_value(), "view: view size ", new_sizes, " is not compatible with input tensor's size ",
             sizes(), " and stride ", this->strides(),
             " (at least one dimension spans across two contiguous subspaces). Use reshape(...) instead.");
  if (vmap::takes_rule(*this)) [[unlikely]] {
    // The sample's view, with the batch dim first: a view exactly where the sample's is.
    const auto* b = vmap::batched(*this);
    shape.insert_at(0, b->value.size(b->bdim));
    return vmap::wrap(vmap::batch_first({b->value, b->bdim}).view(shape), 0, b->level);
  }
  return ops::make_view<ops::ReshapeRecord<ops::ViewNames>>(*this, {shape, *strides, storage_offset()});
}

Tensor Tensor::reshape(IntArrayRef new_sizes) const {
  Dims shape = detail::infer_size(new_sizes, numel(), "reshape");
  if (vmap::takes_rule(*this)) [[unlikely]] {
    const auto* b = vmap::batched(*this);
    shape.insert_at(0, b->value.size(b->bdim));
    return vmap::wrap(vmap::batch_first({b->value, b->bdim}).reshape(shape), 0, b->level);
  }
  if (detail::view_strides(impl_ref().sizes, impl_ref().strides, shape)) return view(shape);
  return clone().view(shape);
}

// flatten, unflatten and movedim are compositions of reshape, view and permute, whose records give
// them every rule (their grad_fn is that op's, as PyTorch's is ViewBackward0 / PermuteBackward0).
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  const int64_t start = detail::wrap_dim(start_dim, dim(), "flatten");
  const int64_t end = detail::wrap_dim(end_dim, dim(), "flatten");
  if (dim() == 0) return reshape({1});
  DYDX_CHECK(start <= end, "flatten: start_dim cannot come after end_dim (got start_dim ", start_dim, " and end_dim ",
             end_dim, " for a tensor of shape ", sizes(), ")");
  if (start == end) return *this;
  Dims shape(sizes().begin(), sizes().begin() + start);
  shape.push_back(detail::product(IntArrayRef(sizes().data() + start, end - start + 1)));
  for (int64_t d = end + 1; d < dim(); ++d) shape.push_back(size(d));
  return reshape(shape);
}

Tensor Tensor::unflatten(int64_t dim_to_split, IntArrayRef split_sizes) const {
  DYDX_CHECK(dim() > 0, "unflatten: dim ", dim_to_split, " was given but the tensor has no dimensions");
  const int64_t d = detail::wrap_dim(dim_to_split, dim(), "unflatten");
  DYDX_CHECK(!split_sizes.empty(), "unflatten: sizes must be non-empty");
  int64_t inferred = -1, known = 1;
  bool too_large = false;  // the known sizes' product passed int64 (and no size is 0)
  for (size_t i = 0; i < split_sizes.size(); ++i) {
    const int64_t s = split_sizes[i];
    DYDX_CHECK(s >= -1, "unflatten: invalid size ", s, " in ", split_sizes);
    if (s == -1) {
      DYDX_CHECK(inferred < 0, "unflatten: only one size can be inferred (-1), got ", split_sizes);
      inferred = static_cast<int64_t>(i);
    } else if (__builtin_mul_overflow(known, s, &known)) {
      too_large = true;  // was a signed overflow (UBSan: [INT64_MAX, 2])
    }
  }
  for (int64_t s : split_sizes)
    if (s == 0) known = 0, too_large = false;  // a zero size makes the product 0 whatever came before
  Dims pieces = split_sizes.dims();
  // A product past int64 is larger than any size, so it can't match.
  const bool fits =
      !too_large && (inferred >= 0 ? known != 0 && size(d) % known == 0 : known == size(d));
  DYDX_CHECK(fits, "unflatten: provided sizes ", split_sizes, " don't multiply up to the size of dim ", d, " (",
             size(d), ") in the input tensor of shape ", sizes());
  if (inferred >= 0) pieces[inferred] = size(d) / known;
  Dims shape(sizes().begin(), sizes().begin() + d);
  for (int64_t s : pieces) shape.push_back(s);
  for (int64_t k = d + 1; k < dim(); ++k) shape.push_back(size(k));
  return view(shape);  // splitting one dim always has strides
}

Tensor Tensor::movedim(IntArrayRef source, IntArrayRef destination) const {
  DYDX_CHECK(source.size() == destination.size(), "movedim: source ", source, " and destination ", destination,
             " must name the same number of dims");
  const int64_t rank = dim();
  std::vector<int64_t> from, to;
  for (int64_t s : source) from.push_back(detail::wrap_dim(s, rank, "movedim"));
  for (int64_t t : destination) to.push_back(detail::wrap_dim(t, rank, "movedim"));
  auto check_unique = [](const std::vector<int64_t>& dims, IntArrayRef given, const char* which) {
    for (size_t i = 0; i < dims.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        DYDX_CHECK(dims[i] != dims[j], "movedim: repeated dim in ", which, " ", given);
  };
  check_unique(from, source, "source");
  check_unique(to, destination, "destination");
  if (rank == 0) return *this;
  // Moved dims take their destinations; the others fill the remaining positions in their order.
  Dims order(rank, -1);
  std::vector<char> moved(rank, false);
  for (size_t i = 0; i < from.size(); ++i) {
    order[to[i]] = from[i];
    moved[from[i]] = true;
  }
  int64_t next = 0;
  for (int64_t& slot : order) {
    if (slot >= 0) continue;
    while (moved[next]) ++next;
    slot = next++;
  }
  return permute(order);
}

Tensor Tensor::as_strided(IntArrayRef new_sizes, IntArrayRef new_strides, std::optional<int64_t> storage_offset) const {
  DYDX_CHECK(new_sizes.size() == new_strides.size(), "as_strided: mismatch in length of strides and shape (",
             new_sizes, " and ", new_strides, ")");
  if (vmap::takes_rule(*this)) [[unlikely]] {
    // functorch's semantics: sample i's view is as_strided(sizes, strides, offset) with offsets counted
    // from sample i's own storage offset (the batch's, storage_offset(), plus i times the batch
    // stride), which is what a loop over the samples computes from x.storage_offset() and x.stride().
    // Sound only while each sample's view stays inside the memory that sample spans; beyond it the
    // view would read other samples' elements, which a loop over samples could not, so that raises.
    const auto* b = vmap::batched(*this);
    const int64_t relative = storage_offset.value_or(this->storage_offset()) - this->storage_offset();
    int64_t reach = 0, span = 0;
    bool empty_view = false;
    for (size_t d = 0; d < new_sizes.size(); ++d) {
      DYDX_CHECK(new_sizes[d] >= 0 && new_strides[d] >= 0, "as_strided: negative size or stride in ", new_sizes,
                 " and ", new_strides);
      empty_view = empty_view || new_sizes[d] == 0;
      if (new_sizes[d] > 0) reach += (new_sizes[d] - 1) * new_strides[d];
    }
    for (int64_t d = 0; d < dim(); ++d) span += (size(d) - 1) * stride(d);
    DYDX_CHECK(empty_view || (numel() > 0 && relative >= 0 && relative + reach <= span), "vmap: as_strided: the view "
               "with sizes ", new_sizes, ", strides ", new_strides, " and offset ", relative,
               " from the sample's start reaches outside the sample's memory (a sample of shape ", sizes(),
               " and strides ", strides(), " spans ", numel() > 0 ? span + 1 : 0, " elements); under vmap as_strided "
               "may only address elements of its own sample, as in functorch");
    Dims sizes{b->value.size(b->bdim)}, strides{b->value.stride(b->bdim)};
    for (size_t d = 0; d < new_sizes.size(); ++d) {
      sizes.push_back(new_sizes[d]);
      strides.push_back(new_strides[d]);
    }
    return vmap::wrap(b->value.as_strided(sizes, strides, b->value.storage_offset() + relative), 0, b->level);
  }
  detail::check_sizes(new_sizes, "as_strided");
  const int64_t offset = storage_offset.value_or(this->storage_offset());
  DYDX_CHECK(offset >= 0, "as_strided: negative storage offset ", offset);
  // The last element the view reaches, relative to the offset; -1 for an empty view.
  int64_t reach = 0;
  for (size_t d = 0; d < new_sizes.size(); ++d) {
    DYDX_CHECK(new_strides[d] >= 0, "as_strided: negative stride ", new_strides[d], " in ", new_strides);
    int64_t span = 0;
    if (new_sizes[d] == 0) reach = -1;
    if (reach >= 0)
      DYDX_CHECK(!__builtin_mul_overflow(new_sizes[d] - 1, new_strides[d], &span) &&
                     !__builtin_add_overflow(reach, span, &reach),
                 "as_strided: sizes ", new_sizes, " with strides ", new_strides, " overflow int64");
  }
  const int64_t capacity = static_cast<int64_t>(impl_ref().storage->nbytes / element_size(dtype()));
  DYDX_CHECK(reach < 0 || (reach < capacity && offset <= capacity - 1 - reach), "as_strided: setting storage of size ",
             capacity, " with sizes ", new_sizes, ", strides ", new_strides, " and offset ", offset,
             " requires a storage of at least ", static_cast<uint64_t>(offset) + static_cast<uint64_t>(reach) + 1,
             " elements");  // in uint64: an offset near int64's maximum must not overflow the message
  const int64_t relative = offset - this->storage_offset();
  Tensor view = ops::make_view<ops::AsStridedRecord>(*this, {new_sizes.dims(), new_strides.dims(), offset},
                                                     {new_sizes.dims(), new_strides.dims(), relative, impl_ref().strides});
  // An explicit offset is absolute: func::compile replays it as given, not relative to the input's.
  if (storage_offset && compile::detail::recording()) [[unlikely]] compile::detail::note_absolute_view(view);
  return view;
}

}  // namespace dydx
