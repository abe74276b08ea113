// Tensor's autograd members: requires_grad, the gradient slot, detaching and backward. Hooks are
// in tensor_hooks.cpp.
#include "compile/trace.hpp"
#include "dydx/tensor.hpp"
#include "vmap/batched.hpp"

#include "autograd/engine.hpp"
#include "core/object_pool.hpp"
#include "dydx/autograd.hpp"
#include "dydx/detail/node.hpp"

namespace dydx {

using detail::TensorImpl;

Tensor& Tensor::requires_grad_(bool requires_grad) {
  auto& impl = impl_ref();
  DYDX_CHECK(!impl.batched, "vmap: requires_grad_() is not supported on a tensor inside vmap; use func::grad or "
             "func::vjp inside vmap, which differentiate each sample");
  if (impl.grad_fn && requires_grad) return *this;  // a non-leaf already requires grad, as in PyTorch
  DYDX_CHECK(impl.grad_fn == nullptr, "requires_grad_: you can only change requires_grad flags of leaf variables."
             " If you want to use a computed variable in a subgraph that doesn't require differentiation use"
             " var_no_grad = var.detach().");
  DYDX_CHECK(!requires_grad || dydx::is_floating_point(impl.dtype),
             "requires_grad_: only tensors of floating point dtype can require gradients (got ", impl.dtype, ")");
  impl.requires_grad = requires_grad;
  // A view (of a tensor that does not require grad, or it would have history) made a leaf that requires
  // grad is the base of the views taken of it from now on, as a registered parameter is (nn::Module):
  // an in-place write through one of them is then refused as a write through a view of a leaf. With
  // the root as their base, it passed for a write into the root and rewrote this leaf's history.
  if (requires_grad) impl.base = nullptr;
  return *this;
}

// Both check for an undefined tensor before refresh_view_history reads through it.
bool Tensor::requires_grad() const {
  const TensorImpl& impl = impl_ref();
  // A tensor inside vmap requires grad where its batch does (inside vmap(grad(f)), f's input does).
  if (impl.batched) [[unlikely]] return impl.batched->value.requires_grad();
  autograd::refresh_view_history(*this);
  return impl.needs_grad();
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  const TensorImpl& impl = impl_ref();
  autograd::refresh_view_history(*this);
  return impl.grad_fn;
}

Tensor Tensor::grad() const {
  const auto& impl = impl_ref();
  // Backward may give a tensor a new .grad between calls (zero_grad(set_to_none)): a recording that
  // took the one read now for a captured tensor would replay it, stale.
  if (compile::detail::recording()) [[unlikely]]
    compile::detail::refuse("f reads a .grad (backward may replace it between calls)");
  return Tensor(impl.grad);
}

void Tensor::set_grad(const Tensor& grad) const {
  auto& impl = impl_ref();
  if (compile::detail::recording()) [[unlikely]]
    compile::detail::refuse("f sets a .grad (a replay would not)");
  if (grad.defined()) {
    DYDX_CHECK(grad.sizes() == sizes(), "set_grad: assigned grad has shape ", grad.sizes(),
               " but the tensor has shape ", sizes());
    DYDX_CHECK(grad.dtype() == dtype(), "set_grad: assigned grad has dtype ", grad.dtype(),
               " but the tensor has dtype ", dtype());
  }
  impl.grad = grad.impl();
}

void Tensor::retain_grad() const {
  auto& impl = impl_ref();
  DYDX_CHECK(!impl.batched, "vmap: retain_grad() is not supported on a tensor inside vmap; return the tensor from "
             "f, or use func::vjp inside vmap");
  DYDX_CHECK(impl.needs_grad(), "retain_grad: can't retain_grad on a tensor that has requires_grad=False");
  if (impl.grad_fn == nullptr) return;  // leaves keep their grad anyway
  if (compile::detail::recording()) [[unlikely]]
    compile::detail::refuse("f calls retain_grad (a replay would not mark the tensor)");
  impl.retains_grad = true;
  impl.grad_fn->retained = impl_;
}

Tensor Tensor::detach() const {
  const auto& impl = impl_ref();
  if (impl.batched) [[unlikely]]
    return vmap::elementwise(*this, [](const Tensor& v) { return v.detach(); });
  auto out = detail::make_pooled<detail::TensorImpl>();
  out->storage = impl.storage;
  out->sizes = impl.sizes;
  out->strides = impl.strides;
  out->offset = impl.offset;
  out->numel = impl.numel;
  out->dtype = impl.dtype;
  Tensor result(std::move(out));
  if (compile::detail::recording()) [[unlikely]] compile::detail::note_alias(result, *this);
  return result;
}

Tensor& Tensor::detach_() {
  auto& impl = impl_ref();
  DYDX_CHECK(impl.base == nullptr || !impl.base->needs_grad(),
             "detach_: can't detach views in-place. Use detach() instead");
  impl.grad_fn.reset();
  impl.requires_grad = false;
  return *this;
}

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph,
                      const TensorList& inputs) const {
  TensorList grad_outputs;
  if (gradient.defined()) grad_outputs.push_back(gradient);
  dydx::backward({*this}, grad_outputs, retain_graph, create_graph, inputs);
}

}  // namespace dydx
