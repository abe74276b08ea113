// Tensor's autograd members: requires_grad, the gradient slot, detaching, backward and hooks.
#include "dydx/tensor.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "autograd/engine.hpp"
#include "core/object_pool.hpp"
#include "dydx/autograd.hpp"
#include "dydx/detail/node.hpp"

namespace dydx {

using detail::TensorImpl;

Tensor& Tensor::requires_grad_(bool requires_grad) {
  auto& impl = impl_ref();
  if (impl.grad_fn && requires_grad) return *this;  // a non-leaf already requires grad, as in PyTorch
  DYDX_CHECK(impl.grad_fn == nullptr, "requires_grad_: you can only change requires_grad flags of leaf variables."
             " If you want to use a computed variable in a subgraph that doesn't require differentiation use"
             " var_no_grad = var.detach().");
  DYDX_CHECK(!requires_grad || dydx::is_floating_point(impl.dtype),
             "requires_grad_: only tensors of floating point dtype can require gradients (got ", impl.dtype, ")");
  impl.requires_grad = requires_grad;
  return *this;
}

// Both check for an undefined tensor before refresh_view_history reads through it.
bool Tensor::requires_grad() const {
  const TensorImpl& impl = impl_ref();
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
  return Tensor(impl.grad);
}

void Tensor::set_grad(const Tensor& grad) const {
  auto& impl = impl_ref();
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
  DYDX_CHECK(impl.needs_grad(), "retain_grad: can't retain_grad on a tensor that has requires_grad=False");
  if (impl.grad_fn == nullptr) return;  // leaves keep their grad anyway
  impl.retains_grad = true;
  impl.grad_fn->retained = impl_;
}

Tensor Tensor::detach() const {
  const auto& impl = impl_ref();
  auto out = detail::make_pooled<detail::TensorImpl>();
  out->storage = impl.storage;
  out->sizes = impl.sizes;
  out->strides = impl.strides;
  out->offset = impl.offset;
  out->numel = impl.numel;
  out->dtype = impl.dtype;
  return Tensor(std::move(out));
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

namespace {
std::atomic<unsigned> next_hook_handle{1};
std::mutex hook_mutex;

// A non-leaf's hooks run on the gradient flowing into its grad_fn; a leaf keeps its own.
auto& hook_list(const Tensor& t) {
  auto& impl = *t.impl();
  return impl.grad_fn ? impl.grad_fn->pre_hooks : impl.hooks;
}

// The node each non-leaf hook was registered on. An in-place write gives the tensor a new grad_fn
// while its earlier hooks stay with the old one (they see the gradient of the old value, as in
// PyTorch), so remove_hook must find them there, as PyTorch's handle removes from the dict it was
// added to. Entries of freed nodes are swept whenever the map has doubled since the last sweep.
std::unordered_map<unsigned, std::weak_ptr<autograd::Node>> hooked_nodes;
size_t hooked_nodes_after_sweep = 0;

void remember_hooked_node(unsigned handle, const std::shared_ptr<autograd::Node>& node) {
  if (hooked_nodes.size() >= 2 * hooked_nodes_after_sweep + 64) {
    std::erase_if(hooked_nodes, [](const auto& entry) { return entry.second.expired(); });
    hooked_nodes_after_sweep = hooked_nodes.size();
  }
  hooked_nodes.emplace(handle, node);
}
}  // namespace

unsigned Tensor::register_hook(TensorHook hook) const {
  DYDX_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  unsigned handle = next_hook_handle++;
  std::lock_guard<std::mutex> lock(hook_mutex);
  hook_list(*this).emplace_back(handle, std::make_shared<TensorHook>(std::move(hook)));
  if (const auto& node = impl()->grad_fn) remember_hooked_node(handle, node);
  return handle;
}

void Tensor::remove_hook(unsigned handle) const {
  impl_ref();
  std::lock_guard<std::mutex> lock(hook_mutex);
  auto is_it = [handle](const auto& entry) { return entry.first == handle; };
  std::erase_if(hook_list(*this), is_it);
  if (auto it = hooked_nodes.find(handle); it != hooked_nodes.end()) {
    if (auto node = it->second.lock()) std::erase_if(node->pre_hooks, is_it);
    hooked_nodes.erase(it);
  }
}

autograd::HookList autograd::snapshot_hooks(const HookList& hooks) {
  std::lock_guard<std::mutex> lock(hook_mutex);
  return hooks;
}

}  // namespace dydx
