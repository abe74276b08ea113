// The per-backward table of the nodes that one run of the engine reaches.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "dydx/detail/node.hpp"
#include "dydx/small_vector.hpp"

namespace dydx::autograd {

// Per-backward state of the nodes reached from the outputs. Node fields cannot hold it: graphs
// share nodes (a model's weights) across threads. Nodes are numbered as they are first met; an
// open-addressing table maps a node to its number, and the walk numbers each node's children
// once, so the later phases index arrays instead of hashing. Graphs of up to 16 nodes and 32 edges
// cost no allocation: std::unordered_map cost one per node and showed in per-op overhead profiles.
class GraphState {
 public:
  struct Entry {
    Node* node = nullptr;
    int first_child = 0;  // where the numbers of node->next start in children_ (-1 for a null edge)
    int dependencies = 0;
    bool visited = false;
    bool needed = false;
    bool is_target = false;
    Tensor buffer;    // sum of gradients received so far
    Tensor captured;  // for targets: the gradient handed back by grad()
  };

  GraphState() { std::fill(inline_slots_.begin(), inline_slots_.end(), -1); }
  GraphState(const GraphState&) = delete;
  GraphState& operator=(const GraphState&) = delete;

  /// The number of key, which is given the next number if new.
  int insert(Node* key) {
    int* slot = &slot_of(key);
    if (*slot >= 0) return *slot;
    if (2 * (entries_.size() + 1) > capacity_) {
      grow();
      slot = &slot_of(key);
    }
    *slot = static_cast<int>(entries_.size());
    Entry entry;
    entry.node = key;
    entry.first_child = static_cast<int>(children_.size());
    entries_.push_back(std::move(entry));
    for (size_t i = 0; i < key->next.size(); ++i) children_.push_back(-1);
    return *slot;
  }
  /// The number of key, or -1 if it was never inserted.
  int find(Node* key) { return slot_of(key); }

  size_t size() const { return entries_.size(); }
  /// Entries move only when one is inserted; the walk inserts, the later phases do not.
  Entry& operator[](int i) { return entries_[static_cast<size_t>(i)]; }
  int& child(int i, size_t k) { return children_[static_cast<size_t>(entries_[static_cast<size_t>(i)].first_child) + k]; }

 private:
  static constexpr size_t kInlineSlots = 32;

  int& slot_of(Node* key) {
    const size_t mask = capacity_ - 1;
    size_t i = (reinterpret_cast<uintptr_t>(key) >> 4) * 0x9E3779B97F4A7C15ull >> 20 & mask;
    while (slots_[i] >= 0 && entries_[static_cast<size_t>(slots_[i])].node != key) i = (i + 1) & mask;
    return slots_[i];
  }
  /// Doubles the table (out of line: only graphs beyond 16 nodes get here, a few times each).
  void grow();

  SmallVector<Entry, 16> entries_;
  SmallVector<int, 32> children_;
  std::array<int, kInlineSlots> inline_slots_;
  std::vector<int> heap_slots_;
  int* slots_ = inline_slots_.data();
  size_t capacity_ = kInlineSlots;
};

}  // namespace dydx::autograd
