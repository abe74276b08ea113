// The hooks of a tensor (a leaf's own, or a non-leaf's on its grad_fn), as backward reads them.
// Defined in tensor_hooks.cpp with Tensor::register_hook and remove_hook.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::autograd {

using HookList = std::vector<std::pair<unsigned, std::shared_ptr<TensorHook>>>;
using PostAccumulateHookList = std::vector<std::pair<unsigned, std::shared_ptr<std::function<void(const Tensor&)>>>>;
/// A copy of a tensor's hooks, taken under the lock that register_hook and remove_hook hold.
HookList snapshot_hooks(const HookList& hooks);
/// Whether hooks holds any, read under that lock: another thread may be registering one. Free (one
/// atomic load) until a program registers its first hook.
bool has_hooks(const HookList& hooks);
/// The same two for a leaf's post-accumulate-grad hooks.
PostAccumulateHookList snapshot_hooks(const PostAccumulateHookList& hooks);
bool has_hooks(const PostAccumulateHookList& hooks);

}  // namespace dydx::autograd
