// Joining tensors: cat and stack, whose VJPs hand each input its slice of the gradient.
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

// The dim joined along, wrapped: of the output for cat, and the new dim for stack.
struct JoinAttrs {
  int64_t dim;
};

// In a JVP rule of a join: every input's tangent, zeros where an input has none.
template <class Record>
TensorList tangents_or_zeros(const Primal<Record>& p, const TensorList& t) {
  TensorList parts;
  for (size_t i = 0; i < t.size(); ++i) parts.push_back(tangent_or_zeros(t, i, p.input(i)));
  return parts;
}

struct CatRecord : Named<"cat", "CatBackward0">, Linear {
  using Attrs = JoinAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return cat(in, a.dim); }
  static void vjp(const Backward<CatRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    const int64_t dim = b.attrs().dim;
    int64_t start = 0;
    for (size_t i = 0; i < b.num_inputs(); ++i) {
      const Dims& in = b.input_sizes(i);
      const int64_t length = in.size() == 1 && in[0] == 0 ? 0 : in[dim];  // legacy empty [0] inputs take no slice
      if (b.needs_grad(i)) grads[i] = g.narrow(dim + nb, start, length);
      start += length;
    }
  }
  static Tensor jvp(const Primal<CatRecord>& p, const TensorList& t) {
    return cat(tangents_or_zeros(p, t), p.attrs().dim + p.batch_dims());
  }
};

struct StackRecord : Named<"stack", "StackBackward0">, Linear {
  using Attrs = JoinAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return stack(in, a.dim); }
  static void vjp(const Backward<StackRecord>& b, const Tensor& g, Tensor* grads) {
    for (size_t i = 0; i < b.num_inputs(); ++i)
      if (b.needs_grad(i)) grads[i] = g.select(b.attrs().dim + b.batch_dims(g), static_cast<int64_t>(i));
  }
  static Tensor jvp(const Primal<StackRecord>& p, const TensorList& t) {
    return stack(tangents_or_zeros(p, t), p.attrs().dim + p.batch_dims());
  }
};

// Every member has the reference's rank and sizes except along dim (1-D empty ones aside).
void check_cat_shapes(const TensorList& tensors, const Tensor* reference, int64_t dim, const char* op) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dim() == 1 && t.numel() == 0 && &t != reference) continue;
    DYDX_CHECK(t.dim() == reference->dim(), op, ": Tensors must have same number of dimensions: got ",
               reference->dim(), " and ", t.dim(), " (tensor ", i, " has shape ", t.sizes(), ")");
    for (int64_t d = 0; d < t.dim(); ++d)
      DYDX_CHECK(d == dim || t.size(d) == reference->size(d), op, ": Sizes of tensors must match except in dimension ",
                 dim, ". Expected size ", reference->size(d), " but got size ", t.size(d), " for tensor number ", i,
                 " in the list (shapes ", reference->sizes(), " and ", t.sizes(), ")");
  }
}

// Concatenates into a fresh tensor without recording; cat and stack record their own nodes.
Tensor concatenate(const TensorList& tensors, int64_t dim, const char* op) {
  DYDX_CHECK(!tensors.empty(), op, ": expected a non-empty list of Tensors");
  for (const Tensor& t : tensors) DYDX_CHECK(t.defined(), op, ": got an undefined tensor in the list");
  ScalarType dtype = tensors[0].dtype();
  const Tensor* reference = nullptr;
  for (const Tensor& t : tensors) {
    dtype = promote_types(dtype, t.dtype());
    // PyTorch still accepts 1-D empty tensors of shape [0] next to anything; they add nothing.
    if (!reference && !(t.dim() == 1 && t.numel() == 0)) reference = &t;
  }
  if (!reference) reference = &tensors[0];
  DYDX_CHECK(reference->dim() > 0, op, ": zero-dimensional tensor (at position 0) cannot be concatenated");
  dim = detail::wrap_dim(dim, reference->dim(), op);
  Dims shape = reference->impl()->sizes;
  int64_t total = 0;
  check_cat_shapes(tensors, reference, dim, op);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dim() == 1 && t.numel() == 0 && &t != reference) continue;
    // Checked: sizes near int64's limit (expanded tensors) would overflow the sum.
    DYDX_CHECK(!__builtin_add_overflow(total, t.size(dim), &total), op, ": the concatenated size in dimension ", dim,
               " overflows int64 (adding tensor ", i, " of shape ", t.sizes(), ")");
  }
  shape[dim] = total;
  Tensor out = detail::make_empty(shape, dtype, op);
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    if (t.dim() == 1 && t.numel() == 0 && &t != reference) continue;
    const int64_t length = t.size(dim);
    Dims strides = out.impl()->sizes.empty() ? Dims{} : out.impl()->strides;
    Dims sizes = shape;
    sizes[dim] = length;
    detail::copy_values(detail::make_alias(out, sizes, strides, start * out.stride(dim)), t);
    start += length;
  }
  return out;
}

// cat and stack under vmap: every member batch-first (unbatched ones expanded, no copy: the join
// copies them anyway), joined once along the sample's dim + 1.
TensorList batch_first_members(const TensorList& tensors, uint32_t level, bool skip_legacy_empty) {
  const int64_t size = vmap::level_info(level).size;
  TensorList out;
  for (const Tensor& t : tensors) {
    // cat's legacy 1-D empty members add nothing; batched, they would be [B, 0] and refuse to join.
    if (skip_legacy_empty && t.dim() == 1 && t.numel() == 0) continue;
    out.push_back(vmap::batch_first_expanded(vmap::unwrap(t, level), size));
  }
  return out;
}

Tensor batched_cat(const TensorList& tensors, int64_t dim) {
  const uint32_t level = vmap::top_level(tensors);
  const Tensor* reference = nullptr;
  for (const Tensor& t : tensors)
    if (!reference && !(t.dim() == 1 && t.numel() == 0)) reference = &t;
  if (!reference) reference = &tensors[0];
  DYDX_CHECK(reference->dim() > 0, "cat: zero-dimensional tensor (at position 0) cannot be concatenated");
  dim = detail::wrap_dim(dim, reference->dim(), "cat");
  // The samples' shapes, checked here: the join of the batches would name the batches' shapes and dim + 1.
  check_cat_shapes(tensors, reference, dim, "cat");
  TensorList members = batch_first_members(tensors, level, reference->dim() != 1 || reference->numel() != 0);
  return vmap::wrap(cat(members, dim + 1), 0, level);
}

}  // namespace
}  // namespace ops

Tensor cat(const TensorList& tensors, int64_t dim) {
  if (vmap::active() && vmap::any_batched(tensors)) [[unlikely]] {
    DYDX_CHECK(!tensors.empty(), "cat: expected a non-empty list of Tensors");
    for (const Tensor& t : tensors) DYDX_CHECK(t.defined(), "cat: got an undefined tensor in the list");
    return ops::batched_cat(tensors, dim);
  }
  Tensor out = ops::concatenate(tensors, dim, "cat");
  ops::finish<ops::CatRecord>(tensors, out, {detail::wrap_dim(dim, out.dim(), "cat")});
  return out;
}

Tensor stack(const TensorList& tensors, int64_t dim) {
  DYDX_CHECK(!tensors.empty(), "stack: expected a non-empty list of Tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    DYDX_CHECK(tensors[i].defined(), "stack: got an undefined tensor in the list (at entry ", i, ")");
  for (size_t i = 1; i < tensors.size(); ++i)
    DYDX_CHECK(tensors[i].sizes() == tensors[0].sizes(), "stack: expects each tensor to be equal size, but got ",
               tensors[0].sizes(), " at entry 0 and ", tensors[i].sizes(), " at entry ", i);
  dim = detail::wrap_dim(dim, tensors[0].dim() + 1, "stack");
  if (vmap::active() && vmap::any_batched(tensors)) [[unlikely]] {
    const uint32_t level = vmap::top_level(tensors);
    return vmap::wrap(stack(ops::batch_first_members(tensors, level, false), dim + 1), 0, level);
  }
  TensorList unsqueezed;
  for (const Tensor& t : tensors) unsqueezed.push_back(t.detach().unsqueeze(dim));  // stack records one node of its own
  Tensor out = ops::concatenate(unsqueezed, dim, "stack");
  ops::finish<ops::StackRecord>(tensors, out, {dim});
  return out;
}

}  // namespace dydx
