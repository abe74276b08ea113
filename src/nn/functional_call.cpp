// func::functional_call's swap: point the module's tensors at aliases of the replacements, run
// forward, and restore the module.
#include "dydx/nn/functional_call.hpp"


namespace dydx::func::detail {

/// One replaced tensor: the module's impl and its own contents, put back by restore().
struct ModuleTensorSwap::Swapped {
  std::shared_ptr<dydx::detail::TensorImpl> target;
  dydx::detail::TensorImpl original;
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
  std::vector<Tensor> aliases;
  aliases.reserve(plan.size());
  // A view of the replacement: a new handle whose history (and tangents) lead to the replacement,
  // so that nothing the forward records ever points at the replacement's own impl's leaf slot.
  for (const auto& [own, replacement] : plan) aliases.push_back(replacement.view(replacement.sizes()));
  swapped_.reserve(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    auto* s = new Swapped{plan[i].first.impl(), *plan[i].first.impl()};
    swapped_.push_back(s);
  }
  for (size_t i = 0; i < plan.size(); ++i) *swapped_[i]->target = *aliases[i].impl();
}

void ModuleTensorSwap::finish() { restore(); }

void ModuleTensorSwap::restore() noexcept {
  for (Swapped* s : swapped_) {
    *s->target = s->original;
    delete s;
  }
  swapped_.clear();
}

ModuleTensorSwap::~ModuleTensorSwap() { restore(); }

}  // namespace dydx::func::detail
