// The node an op's record creates: the graph node plus what its VJP rule reads, its saved tensors
// and its typed attributes. Internal: the public Node (dydx/detail/node.hpp) shows none of this.
#pragma once

#include <cstdint>

#include "autograd/op_info.hpp"
#include "dydx/detail/node.hpp"

namespace dydx::autograd {

/// A tensor kept for backward, with the version it had when saved.
/// An op's own output is stored without its grad_fn, which would be a reference cycle,
/// and is given the node back when unpacked.
struct SavedVariable {
  Tensor data;
  uint32_t version = 0;
  bool is_output = false;
};

/// Every node is one of these (AccumulateGrad saves nothing); the engine releases the saved
/// tensors after the rule ran, and forward mode gives a saved output its tangents.
class RecordedNode : public Node {
 public:
  explicit RecordedNode(const OpInfo* op) : Node(op) {}
  ~RecordedNode() override;

  void save(const Tensor& t);
  void save_output(const Tensor& out);
  /// Saved tensor i, checked against release after backward and against in-place modification.
  Tensor saved(size_t i);
  /// Frees the saved tensors (a backward without retain_graph); later reads raise PyTorch's error.
  virtual void release_saved() {
    released.store(true, std::memory_order_relaxed);
    saved_values.clear();
  }

  SmallVector<SavedVariable, 2> saved_values;
};

/// The node of an op with non-tensor arguments: each op has its own attribute struct
/// (a dim, a scale, a geometry), so no field means one thing for one op and another for the next.
template <class Attrs>
class OpNode final : public RecordedNode {
 public:
  explicit OpNode(const OpInfo* op) : RecordedNode(op) {}
  /// Attributes that hold memory for the VJP alone (linalg_solve's LU factors) free it with the saved
  /// tensors: an Attrs with release() has it called here.
  void release_saved() override {
    RecordedNode::release_saved();
    if constexpr (requires(Attrs& a) { a.release(); }) attrs.release();
  }
  Attrs attrs;
};

inline RecordedNode& recorded(Node& node) { return static_cast<RecordedNode&>(node); }

}  // namespace dydx::autograd
