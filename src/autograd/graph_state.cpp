// GraphState's slow path: growing the per-backward node table when it fills up.
#include "autograd/graph_state.hpp"

namespace dydx::autograd {

void GraphState::grow() {
  heap_slots_.assign(capacity_ * 2, -1);
  slots_ = heap_slots_.data();
  capacity_ = heap_slots_.size();
  for (size_t i = 0; i < entries_.size(); ++i) slot_of(entries_[i].node) = static_cast<int>(i);
}

}  // namespace dydx::autograd
