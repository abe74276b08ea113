// What autograd history a transform's results keep: only what leads outside the transform.
//
// dydx has one graph for every reverse pass, where torch.func has a level per transform. A
// transform differentiates f at leaves of its own (reverse_input), so every result of its reverse
// pass has history ending at them. That history is the transform's business alone: handed out,
// it would keep the whole graph alive through plain results. What leads anywhere else is what an
// enclosing transform or backward differentiates through, and stays.
#include "transforms/history.hpp"

#include <unordered_set>
#include <vector>

#include "autograd/engine.hpp"
#include "autograd/forward_mode.hpp"
#include "dydx/detail/node.hpp"

namespace dydx::func::detail {

namespace {

bool is_own(const dydx::detail::TensorImpl* leaf, const TensorList& own) {
  for (const Tensor& o : own)
    if (o.impl().get() == leaf) return true;
  return false;
}

}  // namespace

bool reaches_outside(const TensorList& roots, const TensorList& own) {
  // Iterative: graphs can be 10^6 nodes deep.
  std::vector<autograd::Node*> stack;
  std::unordered_set<const autograd::Node*> seen;
  for (const Tensor& r : roots) {
    if (!r.defined()) continue;
    if (r.is_leaf()) {
      if (r.requires_grad() && !is_own(r.impl().get(), own)) return true;
      continue;
    }
    std::shared_ptr<autograd::Node> edge = autograd::gradient_edge(r);
    if (edge && seen.insert(edge.get()).second) stack.push_back(edge.get());
  }
  while (!stack.empty()) {
    autograd::Node* node = stack.back();
    stack.pop_back();
    if (node->leaf) {  // an AccumulateGrad: the end of a path
      if (!is_own(node->leaf.get(), own)) return true;
      continue;
    }
    for (const auto& next : node->next)
      if (next && seen.insert(next.get()).second) stack.push_back(next.get());
  }
  return false;
}

Tensor release(const Tensor& t, const TensorList& own, bool may_reach_outside) {
  if (!t.defined()) return t;
  const bool has_history = t.requires_grad();
  if (has_history && may_reach_outside && reaches_outside({t}, own)) return t;
  if (!has_history && !forward::has_tangent(t)) return t;
  Tensor out = t.detach();
  // Tangents at levels still open (an enclosing jvp or jacfwd), each released in turn; a tangent
  // has tangents only at levels outside its own, so this ends.
  for (const auto& [level, tangent] : std::vector(t.impl()->tangents))
    forward::set_tangent(out, level, release(Tensor(tangent), own, may_reach_outside));
  return out;
}

TensorList release(const TensorList& ts, const TensorList& own, bool may_reach_outside) {
  TensorList out;
  out.reserve(ts.size());
  for (const Tensor& t : ts) out.push_back(release(t, own, may_reach_outside));
  return out;
}

}  // namespace dydx::func::detail
