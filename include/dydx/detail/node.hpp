// autograd::Node: one recorded op in the graph, as grad_fn() shows it: its name and the edges to its inputs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::autograd {

struct OpInfo;  // an op's entry in the op table (src/autograd/op_info.hpp)

/// Shape and dtype of one input, so the engine can reduce and cast its gradient.
struct InputMeta {
  Dims sizes;
  ScalarType dtype = kDefaultDtype;
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

/// One recorded op in the graph: what grad_fn() returns. This is the part the engine and users
/// see (its name, its edges to its inputs' nodes, the engine's bookkeeping); what the op's rule
/// reads (its saved tensors and its typed attributes) lives in the node classes of
/// src/autograd/recorded_node.hpp, which the op's record creates.
class Node : public std::enable_shared_from_this<Node> {
 public:
  /// Releases what the node holds iteratively, not recursively: a graph of 10^6 chained ops
  /// must not take 10^6 nested destructor frames (see node.cpp).
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// PyTorch's name for the node: "MmBackward0", "AccumulateGrad", ...
  const char* name() const;
  size_t num_inputs() const { return next.size(); }
  bool needs_input_grad(size_t i) const { return next[i] != nullptr; }
  /// The nodes that receive this node's input gradients (null where no gradient is needed).
  const SmallVector<std::shared_ptr<Node>, 2>& next_functions() const { return next; }

  const OpInfo* op;
  uint64_t sequence_nr;
  int64_t out_rank = 0;  // rank of the output; a cotangent with more dims carries batch dims in front
  SmallVector<std::shared_ptr<Node>, 2> next;
  SmallVector<InputMeta, 2> inputs;
  std::vector<std::pair<unsigned, std::shared_ptr<TensorHook>>> pre_hooks;  // hooks on the output's gradient
  std::weak_ptr<detail::TensorImpl> retained;               // a non-leaf output with retain_grad()
  std::shared_ptr<detail::TensorImpl> leaf;                 // AccumulateGrad: the leaf it feeds
  /// Set when a backward without retain_graph has freed the saved tensors; rules then find them gone.
  std::atomic<bool> released{false};
  // The func::compile recording running on the creating thread (0: none). A recording replays a
  // backward pass only through nodes f made: another node's saved tensors are not values of it.
  uint32_t made_in_recording;
  NodeLock lock;  // held by the engine while it runs this node's rule and releases its saved tensors

 protected:
  explicit Node(const OpInfo* op);
};

}  // namespace dydx::autograd
