// autograd::Node: one recorded op in the graph, with its saved values and the edges to its inputs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::autograd {

class Node;

/// A VJP rule: given the cotangent g of the node's output, writes grads[i] for each input i
/// where node.needs_input_grad(i). A rule returns gradients in its output's broadcast shape and
/// dtype; the engine sums them down to each input's shape and casts them to its dtype.
using VjpRule = void (*)(Node& node, const Tensor& g, Tensor* grads);

/// An op's entry in the op table. Constructing one registers it, so tests can check every op has a row.
struct OpInfo {
  OpInfo(const char* name, const char* node_name, VjpRule vjp);
  const char* name;       // unique, PyTorch-style: "mul", "sum.dim", "pow.Tensor"
  const char* node_name;  // what grad_fn()->name() says: "MulBackward0"
  VjpRule vjp;
};

/// Every op registered so far.
const std::vector<const OpInfo*>& registered_ops();

/// A tensor kept for backward, with the version it had when saved.
/// An op's own output is stored without its grad_fn, which would be a reference cycle,
/// and is given the node back when unpacked.
struct SavedVariable {
  Tensor data;
  uint32_t version = 0;
  bool is_output = false;
};

/// Shape and dtype of one input, so the engine can reduce and cast its gradient.
struct InputMeta {
  Dims sizes;
  ScalarType dtype = kDefaultDtype;
};

/// Non-tensor arguments an op remembers for its rule. Each op uses the fields it needs.
struct OpAttrs {
  Dims dims;
  Dims sizes;
  Dims strides;
  int64_t offset = 0;
  int64_t index = 0;
  double scalar = 0;
  double scale = 1;  // a second scalar (addmm: alpha, with beta in scalar)
  bool flag = false;
};

/// A mutex of four bytes, so that every node can have one without growing (it fits in padding):
/// threads that backpropagate through one shared graph hold it while they run the node's rule and
/// release its saved tensors, so that none frees what another is reading, as PyTorch's per-node
/// mutex does. Uncontended it costs one atomic operation each way; waiters sleep in the kernel
/// (C++20 atomic wait), since a rule may run for milliseconds.
class NodeLock {
 public:
  void lock() {
    uint32_t expected = kFree;
    if (state_.compare_exchange_strong(expected, kHeld, std::memory_order_acquire)) return;
    // Marked contended, so that the holder wakes a sleeper when it unlocks.
    while (state_.exchange(kContended, std::memory_order_acquire) != kFree)
      state_.wait(kContended, std::memory_order_relaxed);
  }
  void unlock() {
    if (state_.exchange(kFree, std::memory_order_release) == kContended) state_.notify_one();
  }

 private:
  static constexpr uint32_t kFree = 0, kHeld = 1, kContended = 2;
  std::atomic<uint32_t> state_{kFree};
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(const OpInfo* op);
  /// Releases what the node holds iteratively, not recursively: a graph of 10^6 chained ops
  /// must not take 10^6 nested destructor frames (see node.cpp).
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// PyTorch's name for the node: "MmBackward0", "AccumulateGrad", ...
  const char* name() const { return op->node_name; }
  size_t num_inputs() const { return next.size(); }
  bool needs_input_grad(size_t i) const { return next[i] != nullptr; }
  /// The nodes that receive this node's input gradients (null where no gradient is needed).
  const SmallVector<std::shared_ptr<Node>, 2>& next_functions() const { return next; }

  void save(const Tensor& t);
  void save_output(const Tensor& out);
  /// Saved tensor i, checked against release after backward and against in-place modification.
  Tensor saved(size_t i);

  const OpInfo* op;
  uint64_t sequence_nr;
  int64_t out_rank = 0;  // rank of the output; a cotangent with more dims carries batch dims in front
  SmallVector<std::shared_ptr<Node>, 2> next;
  SmallVector<InputMeta, 2> inputs;
  SmallVector<SavedVariable, 2> saved_values;
  OpAttrs attrs;
  std::vector<std::pair<unsigned, std::shared_ptr<TensorHook>>> pre_hooks;  // hooks on the output's gradient
  std::weak_ptr<detail::TensorImpl> retained;               // a non-leaf output with retain_grad()
  std::shared_ptr<detail::TensorImpl> leaf;                 // AccumulateGrad: the leaf it feeds
  /// Set when a backward without retain_graph has freed saved_values; rules then find them gone.
  std::atomic<bool> released{false};
  NodeLock lock;  // held by the engine while it runs this node's rule and releases its saved tensors
};

}  // namespace dydx::autograd
