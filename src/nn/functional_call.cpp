// func::functional_call's swap: point the module's tensors at aliases of the replacements, run
// forward, rewrite the recorded history to keep those aliases, and restore the module.
#include "dydx/nn/functional_call.hpp"

#include <unordered_set>

#include "autograd/recorded_node.hpp"

namespace dydx::func::detail {

/// One replaced tensor: the module's impl, its own contents, and what it held during the call.
struct ModuleTensorSwap::Swapped {
  std::shared_ptr<dydx::detail::TensorImpl> target;
  dydx::detail::TensorImpl original;
  std::shared_ptr<dydx::detail::TensorImpl> during;  // a copy of what target held during the call
};

ModuleTensorSwap::ModuleTensorSwap(nn::Module& module, const std::unordered_map<std::string, Tensor>& replacements) {
  if (replacements.empty()) return;
  const auto parameters = module.named_parameters(true);
  const auto buffers = module.named_buffers(true);
  // Everything is checked and every alias made before any tensor of the module changes.
  std::vector<std::pair<Tensor, Tensor>> plan;  // (module's tensor, replacement)
  for (const auto& [name, replacement] : replacements) {
    const Tensor* own = parameters.find(name);
    if (own == nullptr) own = buffers.find(name);
    DYDX_CHECK(own != nullptr, "functional_call: '", name,
               "' is not the name of a parameter or buffer of the module (names look like \"fc1.weight\")");
    DYDX_CHECK(replacement.defined(), "functional_call: the replacement for '", name, "' is undefined");
    if (replacement.impl() == own->impl()) continue;
    for (const auto& [other, other_replacement] : plan)
      DYDX_CHECK(other.impl() != own->impl() || other_replacement.impl() == replacement.impl(),
                 "functional_call: '", name, "' is the same tensor as another name given a different replacement");
    plan.emplace_back(*own, replacement);
  }
  first_sequence_nr_ = autograd::next_node_sequence_nr();
  std::vector<Tensor> aliases;
  aliases.reserve(plan.size());
  // A view of the replacement: a new handle whose history (and tangents) lead to the replacement,
  // so that nothing the forward records ever points at the replacement's own impl's leaf slot.
  for (const auto& [own, replacement] : plan) aliases.push_back(replacement.view(replacement.sizes()));
  swapped_.reserve(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    auto* s = new Swapped{plan[i].first.impl(), *plan[i].first.impl(), nullptr};
    swapped_.push_back(s);
  }
  for (size_t i = 0; i < plan.size(); ++i) *swapped_[i]->target = *aliases[i].impl();
}

void ModuleTensorSwap::finish(const TensorList& outputs) {
  // The nodes the forward made, found from the outputs (and their tangents): a node made during the
  // call has a sequence_nr from first_sequence_nr_ on, and only reaches older nodes through nodes
  // made during the call, so the walk stops at the first older one.
  std::vector<autograd::Node*> stack;
  std::unordered_set<autograd::Node*> seen;
  auto push = [&](const std::shared_ptr<autograd::Node>& node) {
    if (node && node->sequence_nr >= first_sequence_nr_ && seen.insert(node.get()).second) stack.push_back(node.get());
  };
  auto push_tensor = [&](const std::shared_ptr<dydx::detail::TensorImpl>& impl) {
    if (!impl) return;
    push(impl->grad_fn);
    for (const auto& [level, tangent] : impl->tangents)
      if (tangent) push(tangent->grad_fn);
  };
  for (const Tensor& out : outputs) push_tensor(out.impl());
  for (Swapped* s : swapped_) s->during = std::make_shared<dydx::detail::TensorImpl>(*s->target);
  while (!stack.empty()) {
    autograd::Node* node = stack.back();
    stack.pop_back();
    auto& recorded = autograd::recorded(*node);
    for (auto& saved : recorded.saved_values) {
      for (Swapped* s : swapped_)
        if (saved.data.impl() == s->target) saved.data = Tensor(s->during);
      push_tensor(saved.data.impl());  // a saved tangent or grad carries history of its own
    }
    for (const auto& next : node->next) push(next);
  }
  restore();
}

void ModuleTensorSwap::restore() noexcept {
  for (Swapped* s : swapped_) {
    *s->target = s->original;
    delete s;
  }
  swapped_.clear();
}

ModuleTensorSwap::~ModuleTensorSwap() { restore(); }

}  // namespace dydx::func::detail
