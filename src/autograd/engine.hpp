// Internal autograd entry points: recording ops into the graph and running backward over it.
#pragma once

#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include "autograd/recorded_node.hpp"
#include "core/object_pool.hpp"
#include "dydx/tensor.hpp"

namespace dydx::autograd {

/// After an in-place write through one view of a base, the base's history is rewritten, and every
/// other view of it must take its history from the new base, as PyTorch regenerates it.
/// This does that for t when it is a view whose base changed since t's grad_fn was made.
void refresh_view_history(const Tensor& t);

/// The AccumulateGrad node of a leaf that requires grad, created on first use.
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);
/// Where gradient for t goes: its grad_fn, its accumulator if it is a leaf requiring grad, else null.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

/// Whether an op over these inputs must be recorded: grad mode is on and some input requires grad.
/// (Refreshes the inputs' view histories first, which the edges then point into.)
bool needs_node(std::span<const Tensor* const> inputs);
/// Makes node the grad_fn of out, with one edge per input.
void connect(std::shared_ptr<Node> node, std::span<const Tensor* const> inputs, const Tensor& out);

/// Makes out the result of op applied to inputs when needs_node(inputs), and returns the new node
/// (a NodeType, which holds what the op's rule reads) so the op can save it; otherwise null.
template <class NodeType>
NodeType* record(const OpInfo& op, std::span<const Tensor* const> inputs, const Tensor& out) {
  if (!needs_node(inputs)) return nullptr;
  auto node = detail::make_pooled<NodeType>(&op);
  NodeType* raw = node.get();
  connect(std::move(node), inputs, out);
  return raw;
}

/// How one run of the engine goes, and where its gradients end up.
struct BackwardPassOptions {
  bool keep_graph = false;            // keep saved tensors for another pass (retain_graph, resolved)
  bool create_graph = false;          // record the pass, so its gradients can be differentiated again
  bool accumulate_into_grad = false;  // backward(): sum into .grad; grad(): hand the gradients back
  bool allow_unused = false;          // grad(): an input the outputs do not reach gives an undefined tensor
  bool batched = false;               // every grad_output has one extra leading dim, which every rule carries through
};

/// The engine behind backward() and grad(). With inputs given, gradients are captured for exactly
/// those (grad) or accumulated only into them (backward); otherwise into every leaf.
TensorList run_backward(const TensorList& outputs, const TensorList& grad_outputs, const TensorList& inputs,
                        const BackwardPassOptions& options);

}  // namespace dydx::autograd
