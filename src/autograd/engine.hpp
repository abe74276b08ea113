// Internal autograd entry points: recording ops into the graph and running backward over it.
#pragma once

#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include "autograd/accumulate_grad.hpp"
#include "autograd/recorded_node.hpp"
#include "core/object_pool.hpp"
#include "dydx/tensor.hpp"

namespace dydx::autograd {

/// After an in-place write through one view of a base, the base's history is rewritten, and every
/// other view of it must take its history from the new base, as PyTorch regenerates it.
/// This does that for t when it is a view whose base changed since t's grad_fn was made.
void refresh_view_history(const Tensor& t);

/// Where gradient for t goes: its grad_fn, its accumulator if it is a leaf requiring grad, else null.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

/// Makes a node of one type (an op's record chooses it by its attributes), from the pool.
using NodeFactory = std::shared_ptr<Node> (*)(const OpInfo* op);
template <class NodeType>
std::shared_ptr<Node> make_node(const OpInfo* op) {
  return detail::make_pooled<NodeType>(op);
}

/// Makes out the result of op applied to inputs when grad mode is on and any input requires grad,
/// with a node from make (which holds what the op's rule reads), and returns that node so the op
/// can save into it; otherwise null. One function, not a template, since every op runs it.
Node* record(const OpInfo& op, std::span<const Tensor* const> inputs, const Tensor& out, NodeFactory make);

template <class NodeType>
NodeType* record(const OpInfo& op, std::span<const Tensor* const> inputs, const Tensor& out) {
  return static_cast<NodeType*>(record(op, inputs, out, &make_node<NodeType>));
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
