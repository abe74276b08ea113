// Tensor hooks: registering and removing them, and the snapshot backward runs them from, all
// under one lock so that a hook added or removed on another thread never tears the list.
#include "autograd/tensor_hooks.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "compile/trace.hpp"
#include "dydx/detail/node.hpp"

namespace dydx {

namespace {
std::atomic<unsigned> next_hook_handle{1};
// Set by the first register_hook; until then no list can hold a hook and backward takes no lock.
std::atomic<bool> any_hook_registered{false};
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

// Hooks are autograd state that outlives a call of f: a func::compile replay would not add or remove them.
void refuse_recording_of_hook_change() {
  if (compile::detail::recording()) [[unlikely]] compile::detail::refuse("f registers or removes a hook (a replay would not)");
}
}  // namespace

unsigned Tensor::register_hook(TensorHook hook) const {
  // The hook would sit on a tensor that no backward pass visits (the batch's graph is the one that runs).
  DYDX_CHECK(!impl_ref().batched, "vmap: register_hook is not supported on a tensor inside vmap; register it on "
             "the tensor outside vmap");
  DYDX_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  refuse_recording_of_hook_change();
  unsigned handle = next_hook_handle++;
  std::lock_guard<std::mutex> lock(hook_mutex);
  any_hook_registered.store(true, std::memory_order_relaxed);
  hook_list(*this).emplace_back(handle, std::make_shared<TensorHook>(std::move(hook)));
  if (const auto& node = impl()->grad_fn) remember_hooked_node(handle, node);
  return handle;
}

unsigned Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const {
  DYDX_CHECK(!impl_ref().batched, "vmap: register_post_accumulate_grad_hook is not supported on a tensor inside "
             "vmap; register it on the tensor outside vmap");
  DYDX_CHECK(requires_grad(), "register_post_accumulate_grad_hook: cannot register a hook on a tensor that doesn't "
             "require gradient");
  DYDX_CHECK(is_leaf(), "post accumulate grad hooks cannot be registered on non-leaf tensors");
  refuse_recording_of_hook_change();
  unsigned handle = next_hook_handle++;
  std::lock_guard<std::mutex> lock(hook_mutex);
  any_hook_registered.store(true, std::memory_order_relaxed);
  impl()->post_accumulate_grad_hooks.emplace_back(handle, std::make_shared<std::function<void(const Tensor&)>>(std::move(hook)));
  return handle;
}

void Tensor::remove_hook(unsigned handle) const {
  impl_ref();
  refuse_recording_of_hook_change();
  std::lock_guard<std::mutex> lock(hook_mutex);
  auto is_it = [handle](const auto& entry) { return entry.first == handle; };
  std::erase_if(hook_list(*this), is_it);
  std::erase_if(impl()->post_accumulate_grad_hooks, is_it);
  if (auto it = hooked_nodes.find(handle); it != hooked_nodes.end()) {
    if (auto node = it->second.lock()) std::erase_if(node->pre_hooks, is_it);
    hooked_nodes.erase(it);
  }
}

autograd::HookList autograd::snapshot_hooks(const HookList& hooks) {
  std::lock_guard<std::mutex> lock(hook_mutex);
  return hooks;
}

autograd::PostAccumulateHookList autograd::snapshot_hooks(const PostAccumulateHookList& hooks) {
  std::lock_guard<std::mutex> lock(hook_mutex);
  return hooks;
}

bool autograd::has_hooks(const PostAccumulateHookList& hooks) {
  if (!any_hook_registered.load(std::memory_order_relaxed)) return false;
  std::lock_guard<std::mutex> lock(hook_mutex);
  return !hooks.empty();
}

bool autograd::has_hooks(const HookList& hooks) {
  // Relaxed suffices: a hook registered on another thread without synchronising with this
  // backward may run from this pass or the next, and under the lock the list is read whole.
  if (!any_hook_registered.load(std::memory_order_relaxed)) return false;
  std::lock_guard<std::mutex> lock(hook_mutex);
  return !hooks.empty();
}

}  // namespace dydx
