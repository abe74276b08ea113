// Joining tensors: cat and stack, whose VJPs hand each input its slice of the gradient.
#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

void cat_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const int64_t nb = batch_dims(node, g);
  const int64_t dim = node.attrs.index;
  int64_t start = 0;
  for (size_t i = 0; i < node.num_inputs(); ++i) {
    const Dims& in = node.inputs[i].sizes;
    const int64_t length = in.size() == 1 && in[0] == 0 ? 0 : in[dim];  // legacy empty [0] inputs take no slice
    if (node.needs_input_grad(i)) grads[i] = g.narrow(dim + nb, start, length);
    start += length;
  }
}
const OpInfo cat_info{"cat", "CatBackward0", &cat_vjp};

void stack_vjp(Node& node, const Tensor& g, Tensor* grads) {
  for (size_t i = 0; i < node.num_inputs(); ++i)
    if (node.needs_input_grad(i)) grads[i] = g.select(node.attrs.index + batch_dims(node, g), static_cast<int64_t>(i));
}
const OpInfo stack_info{"stack", "StackBackward0", &stack_vjp};

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
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dim() == 1 && t.numel() == 0 && &t != reference) continue;
    DYDX_CHECK(t.dim() == reference->dim(), op, ": Tensors must have same number of dimensions: got ",
               reference->dim(), " and ", t.dim(), " (tensor ", i, " has shape ", t.sizes(), ")");
    for (int64_t d = 0; d < t.dim(); ++d)
      DYDX_CHECK(d == dim || t.size(d) == shape[d], op, ": Sizes of tensors must match except in dimension ", dim,
                 ". Expected size ", shape[d], " but got size ", t.size(d), " for tensor number ", i,
                 " in the list (shapes ", reference->sizes(), " and ", t.sizes(), ")");
    total += t.size(dim);
  }
  shape[dim] = total;
  Tensor out = detail::make_empty(shape, dtype);
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

}  // namespace
}  // namespace ops

Tensor cat(const TensorList& tensors, int64_t dim) {
  Tensor out = ops::concatenate(tensors, dim, "cat");
  if (ops::Node* node = ops::record(ops::cat_info, tensors, out)) node->attrs.index = detail::wrap_dim(dim, out.dim(), "cat");
  forward::propagate_linear(tensors, out, [&](const TensorList& t) {
    TensorList parts;
    for (size_t i = 0; i < t.size(); ++i) parts.push_back(ops::tangent_or_zeros(t, i, tensors[i]));
    return cat(parts, detail::wrap_dim(dim, out.dim(), "cat") + forward::batch_dims());
  });
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
  TensorList unsqueezed;
  for (const Tensor& t : tensors) unsqueezed.push_back(t.detach().unsqueeze(dim));  // stack records one node of its own
  Tensor out = ops::concatenate(unsqueezed, dim, "stack");
  if (ops::Node* node = ops::record(ops::stack_info, tensors, out)) node->attrs.index = dim;
  forward::propagate_linear(tensors, out, [&](const TensorList& t) {
    TensorList parts;
    for (size_t i = 0; i < t.size(); ++i) parts.push_back(ops::tangent_or_zeros(t, i, tensors[i]));
    return stack(parts, dim + forward::batch_dims());
  });
  return out;
}

}  // namespace dydx
