// A leaf's AccumulateGrad node, and the sums into its .grad, under the locks that let threads
// share leaves (a model's weights, read by every thread's graph).
#include "autograd/accumulate_grad.hpp"

#include <array>
#include <atomic>
#include <mutex>
#include <thread>

#include "autograd/engine.hpp"
#include "core/object_pool.hpp"
#include "core/overlap.hpp"
#include "dydx/autograd.hpp"
#include "dydx/ops.hpp"

namespace dydx::autograd {

namespace {

const OpInfo kAccumulateGrad{"AccumulateGrad", "AccumulateGrad", nullptr};

// Guards the link from leaves to their AccumulateGrad nodes. What it protects takes a few loads and
// at most one pooled allocation, so two atomic operations beat a mutex's lock and unlock, which
// showed in per-op profiles (every op on a leaf asks for its node).
class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire))
      while (flag_.test(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_;
};
SpinLock accumulator_lock;

// Threads may run backward through graphs that share a leaf (a model's weights, read by every
// graph); each .grad update holds a lock picked by the leaf's address, so the sums are safe.
// Their order, and so the last bits of the sum, then depends on scheduling.
std::mutex& lock_for(const void* leaf) {
  static std::array<std::mutex, 64> locks;
  return locks[(reinterpret_cast<uintptr_t>(leaf) >> 6) % locks.size()];
}

}  // namespace

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  auto& impl = *leaf.impl();
  std::lock_guard<SpinLock> lock(accumulator_lock);
  if (auto existing = impl.grad_accumulator.lock()) return existing;
  auto node = detail::make_pooled<RecordedNode>(&kAccumulateGrad);
  node->leaf = leaf.impl();
  impl.grad_accumulator = node;
  return node;
}

void accumulate_into(detail::TensorImpl& leaf, Tensor g, bool create_graph) {
  std::lock_guard<std::mutex> lock(lock_for(&leaf));
  if (!leaf.grad) {
    if (create_graph) {
      // Stored as is only if nothing else holds it: it may be the caller's grad_output.
      leaf.grad = g.impl().use_count() == 1 ? g.impl() : g.clone().impl();
    } else if (g.impl().use_count() == 1 && g.impl()->storage.use_count() == 1 && g.is_contiguous()) {
      // Nobody else can see g: it is stored as it is when it carries no autograd state either.
      const auto& state = *g.impl();
      const bool plain = !state.grad_fn && !state.requires_grad && !state.base && !state.grad &&
                         state.tangents.empty() && state.hooks.empty();
      leaf.grad = plain ? g.impl() : g.detach().impl();
    } else {
      NoGradGuard no_grad;
      leaf.grad = g.detach().clone().impl();
    }
    return;
  }
  Tensor current(leaf.grad);
  // A .grad that the user set to an expanded (or otherwise self-overlapping) tensor cannot take
  // the sum in place: the same address would be added to once per element that shares it.
  const bool writable = current.is_contiguous() || !detail::has_internal_overlap(current.sizes(), current.strides());
  if (create_graph || current.requires_grad() || !writable) {
    leaf.grad = (current + g).impl();
  } else {
    NoGradGuard no_grad;
    current.add_(g);
  }
}

}  // namespace dydx::autograd
