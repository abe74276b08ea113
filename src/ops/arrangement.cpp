// Ops that arrange a tensor's elements, written with the views, joins and gathers that have their
// own records (so each is differentiable to any order, batched under vmap and traced by compile as
// those are): broadcast_to and broadcast_tensors, atleast_1d/2d/3d, hstack, vstack (row_stack),
// dstack and column_stack, swapaxes/swapdims and moveaxis (transpose's and movedim's numpy names),
// fliplr and flipud, tile, tensor_split and take_along_dim, with PyTorch's shapes and messages.
#include <algorithm>

#include "core/shape.hpp"
#include "dydx/error.hpp"
#include "dydx/ops.hpp"

namespace dydx {

namespace {

// f applied to each tensor of a list that must not be empty (`op`'s message is PyTorch's).
template <class F>
TensorList each_of(const TensorList& tensors, const char* op, F f) {
  DYDX_CHECK(!tensors.empty(), op, " expects a non-empty TensorList");
  TensorList out;
  out.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    DYDX_CHECK(tensors[i].defined(), op, ": got an undefined tensor in the list (at entry ", i, ")");
    out.push_back(f(tensors[i]));
  }
  return out;
}

}  // namespace

Tensor broadcast_to(const Tensor& x, IntArrayRef size) { return x.expand(size); }
Tensor Tensor::broadcast_to(IntArrayRef size) const { return expand(size); }

TensorList broadcast_tensors(const TensorList& tensors) {
  Dims shape;
  for (size_t i = 0; i < tensors.size(); ++i) {
    DYDX_CHECK(tensors[i].defined(), "broadcast_tensors: got an undefined tensor in the list (at entry ", i, ")");
    shape = i == 0 ? Dims(tensors[0].sizes().begin(), tensors[0].sizes().end())
                   : detail::broadcast_shapes(shape, tensors[i].sizes(), "broadcast_tensors");
  }
  TensorList out;
  for (const Tensor& t : tensors) out.push_back(t.expand(shape));
  return out;
}

// Views with leading (and, for 3-D, trailing) dims of size 1 added, as numpy's: [n] is [1, n] at
// least 2-D and [1, n, 1] at least 3-D, [m, n] is [m, n, 1].
Tensor atleast_1d(const Tensor& x) { return x.dim() == 0 ? x.reshape({1}) : x; }
Tensor atleast_2d(const Tensor& x) {
  if (x.dim() == 0) return x.reshape({1, 1});
  return x.dim() == 1 ? x.unsqueeze(0) : x;
}
Tensor atleast_3d(const Tensor& x) {
  switch (x.dim()) {
    case 0: return x.reshape({1, 1, 1});
    case 1: return x.unsqueeze(0).unsqueeze(-1);
    case 2: return x.unsqueeze(-1);
    default: return x;
  }
}
TensorList atleast_1d(const TensorList& tensors) {
  TensorList out;
  for (const Tensor& t : tensors) out.push_back(atleast_1d(t));
  return out;
}
TensorList atleast_2d(const TensorList& tensors) {
  TensorList out;
  for (const Tensor& t : tensors) out.push_back(atleast_2d(t));
  return out;
}
TensorList atleast_3d(const TensorList& tensors) {
  TensorList out;
  for (const Tensor& t : tensors) out.push_back(atleast_3d(t));
  return out;
}

// numpy's stacking: cat of the tensors made at least 1-, 2- or 3-D, along the dim that numpy's names
// say (hstack: the columns, dim 1, except for 1-D tensors, which join end to end).
Tensor hstack(const TensorList& tensors) {
  const TensorList parts = each_of(tensors, "hstack", [](const Tensor& t) { return atleast_1d(t); });
  return cat(parts, parts[0].dim() == 1 ? 0 : 1);
}
Tensor vstack(const TensorList& tensors) {
  return cat(each_of(tensors, "vstack", [](const Tensor& t) { return atleast_2d(t); }), 0);
}
Tensor row_stack(const TensorList& tensors) {
  return cat(each_of(tensors, "row_stack", [](const Tensor& t) { return atleast_2d(t); }), 0);
}
Tensor dstack(const TensorList& tensors) {
  return cat(each_of(tensors, "dstack", [](const Tensor& t) { return atleast_3d(t); }), 2);
}
Tensor column_stack(const TensorList& tensors) {
  // 0-D and 1-D tensors become columns ([n] -> [n, 1]); the others join as they are.
  return cat(each_of(tensors, "column_stack", [](const Tensor& t) { return t.dim() <= 1 ? t.reshape({t.numel(), 1}) : t; }), 1);
}

Tensor swapaxes(const Tensor& x, int64_t axis0, int64_t axis1) { return x.transpose(axis0, axis1); }
Tensor swapdims(const Tensor& x, int64_t dim0, int64_t dim1) { return x.transpose(dim0, dim1); }
Tensor Tensor::swapaxes(int64_t axis0, int64_t axis1) const { return transpose(axis0, axis1); }
Tensor Tensor::swapdims(int64_t dim0, int64_t dim1) const { return transpose(dim0, dim1); }
Tensor moveaxis(const Tensor& x, IntArrayRef source, IntArrayRef destination) { return x.movedim(source, destination); }
Tensor moveaxis(const Tensor& x, int64_t source, int64_t destination) { return x.movedim(source, destination); }
Tensor Tensor::moveaxis(IntArrayRef source, IntArrayRef destination) const { return movedim(source, destination); }
Tensor Tensor::moveaxis(int64_t source, int64_t destination) const { return movedim(source, destination); }

Tensor fliplr(const Tensor& x) {
  DYDX_CHECK(x.dim() >= 2, "fliplr: Input must be >= 2-d. (shape ", x.sizes(), ")");
  return x.flip({1});
}
Tensor flipud(const Tensor& x) {
  DYDX_CHECK(x.dim() >= 1, "flipud: Input must be >= 1-d. (shape ", x.sizes(), ")");
  return x.flip({0});
}
Tensor Tensor::fliplr() const { return dydx::fliplr(*this); }
Tensor Tensor::flipud() const { return dydx::flipud(*this); }

// repeat, with dims padded by leading 1s to the tensor's rank (repeat needs at least that many).
Tensor tile(const Tensor& x, IntArrayRef dims) {
  Dims reps(static_cast<size_t>(std::max<int64_t>(0, x.dim() - static_cast<int64_t>(dims.size()))), 1);
  for (int64_t r : dims) reps.push_back(r);
  return x.repeat(reps);
}
Tensor Tensor::tile(IntArrayRef dims) const { return dydx::tile(*this, dims); }

namespace {

int64_t split_dim(const Tensor& x, int64_t dim) {
  DYDX_CHECK(x.dim() > 0, "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims");
  return detail::wrap_dim(dim, x.dim(), "tensor_split");
}

}  // namespace

// `sections` views of sizes that differ by one at most, the longer ones first (7 in 3: 3, 2, 2).
TensorList tensor_split(const Tensor& x, int64_t sections, int64_t dim) {
  dim = split_dim(x, dim);
  DYDX_CHECK(sections > 0, "tensor_split: number of sections must be larger than 0, got ", sections);
  const int64_t size = x.size(dim), base = size / sections, longer = size % sections;
  TensorList out;
  int64_t start = 0;
  for (int64_t i = 0; i < sections; ++i) {
    const int64_t length = base + (i < longer ? 1 : 0);
    out.push_back(x.narrow(dim, start, length));
    start += length;
  }
  return out;
}

// Views between consecutive indices, each a Python slice (negative indices count from the end; past
// the end, or behind the previous index, gives an empty piece), and the rest after the last.
TensorList tensor_split(const Tensor& x, IntArrayRef indices, int64_t dim) {
  dim = split_dim(x, dim);
  TensorList out;
  int64_t start = 0;
  for (int64_t index : indices) {
    out.push_back(x.slice(dim, start, index));
    start = index;
  }
  out.push_back(x.slice(dim, start, x.size(dim)));
  return out;
}

// PyTorch's third spelling: an int64 tensor, 0-D (the number of sections) or 1-D (the indices).
TensorList tensor_split(const Tensor& x, const Tensor& indices_or_sections, int64_t dim) {
  const Tensor& t = indices_or_sections;
  DYDX_CHECK(t.defined(), "tensor_split: tensor_indices_or_sections is undefined");
  DYDX_CHECK(t.dtype() == kInt64, "tensor_split expected tensor_indices_or_sections to have dtype of long, but got ", t.dtype());
  DYDX_CHECK(t.dim() <= 1, "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or one-dimensional "
             "tensor, but got a tensor with ", t.dim(), " dims");
  if (t.dim() == 0) return tensor_split(x, t.item<int64_t>(), dim);
  const std::vector<int64_t> indices = t.contiguous().to_vector<int64_t>();
  return tensor_split(x, IntArrayRef(indices), dim);
}
TensorList Tensor::tensor_split(int64_t sections, int64_t dim) const { return dydx::tensor_split(*this, sections, dim); }
TensorList Tensor::tensor_split(IntArrayRef indices, int64_t dim) const { return dydx::tensor_split(*this, indices, dim); }
TensorList Tensor::tensor_split(const Tensor& indices_or_sections, int64_t dim) const {
  return dydx::tensor_split(*this, indices_or_sections, dim);
}

// gather after broadcasting x and indices against each other in every dim but `dim` (indices keep
// their size there, x its own); with no dim, of the flattened tensors.
Tensor take_along_dim(const Tensor& x, const Tensor& indices, std::optional<int64_t> dim) {
  DYDX_CHECK(indices.defined(), "torch.take_along_dim(): indices are undefined");
  DYDX_CHECK(indices.dtype() == kInt64, "torch.take_along_dim(): dtype of indices should be Long but got ", indices.dtype());
  if (!dim) return x.reshape({-1}).gather(0, indices.reshape({-1}));
  DYDX_CHECK(x.dim() == indices.dim(), "torch.take_along_dim(): input and indices should have the same number of dimensions, "
             "but got ", x.dim(), " dimensions for input, and ", indices.dim(), " dimensions for indices");
  if (x.dim() == 0)  // (PyTorch's gather takes a 0-D tensor's dim 0; its take_along_dim does not)
    detail::fail_with<IndexError>("take_along_dim: Dimension specified as ", *dim, " but tensor has no dimensions");
  const int64_t d = detail::wrap_dim(*dim, x.dim(), "take_along_dim");
  Dims x_sizes(x.sizes().begin(), x.sizes().end());
  x_sizes[static_cast<size_t>(d)] = indices.size(d);
  Dims shape = detail::broadcast_shapes(x_sizes, indices.sizes(), "take_along_dim");
  const Tensor index = indices.expand(shape);
  shape[static_cast<size_t>(d)] = x.size(d);
  return x.expand(shape).gather(d, index);
}
Tensor Tensor::take_along_dim(const Tensor& indices, std::optional<int64_t> dim) const {
  return dydx::take_along_dim(*this, indices, dim);
}

}  // namespace dydx
