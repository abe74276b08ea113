// Node bookkeeping: the op registry, saving tensors for backward and unpacking them safely.
#include "autograd/recorded_node.hpp"

#include <atomic>

#include "autograd/forward_mode.hpp"
#include "dydx/autograd.hpp"

namespace dydx::autograd {

namespace {
std::vector<const OpInfo*>& mutable_registry() {
  static std::vector<const OpInfo*> registry;
  return registry;
}
// Later nodes run first in backward, as in PyTorch, which keeps hook order predictable.
thread_local uint64_t next_sequence_nr = 0;

// Releasing a node releases its inputs' nodes, and theirs: a chain of 10^6 ops (a loss summed over
// many steps, a long in-place chain) took 10^6 nested destructor frames and overflowed the stack.
// As PyTorch's deleteNode does, what a node deeper than a few dozen levels would release is handed
// to this thread's outermost ~Node instead, which releases it in a loop. A small graph never gets
// that deep, so it pays one thread-local counter per node and nothing else.
constexpr int kMaxNestedReleases = 32;
thread_local int release_depth = 0;

struct DeferredRelease {
  std::vector<std::shared_ptr<Node>> nodes;
  std::vector<Tensor> tensors;  // saved tensors and AccumulateGrad's leaf: their grad_fn may be deep too
  std::vector<std::shared_ptr<TensorHook>> hooks;  // a hook may hold tensors with histories of their own

  bool empty() const { return nodes.empty() && tensors.empty() && hooks.empty(); }
  // Each one is moved out before it is released, since releasing it may defer more.
  void release_one() {
    if (!nodes.empty()) {
      std::shared_ptr<Node> node = std::move(nodes.back());
      nodes.pop_back();
    } else if (!tensors.empty()) {
      Tensor tensor = std::move(tensors.back());
      tensors.pop_back();
    } else {
      std::shared_ptr<TensorHook> hook = std::move(hooks.back());
      hooks.pop_back();
    }
  }
};
// A plain pointer, created on first use: a thread_local object with a destructor could already be
// gone when a graph held by a static is released at exit.
thread_local DeferredRelease* deferred = nullptr;
}  // namespace

OpInfo::OpInfo(const char* name, const char* node_name, VjpRule vjp, JvpKind jvp, SecondOrderKind second_order,
               TaylorKind taylor, CompileKind compile)
    : name(name), node_name(node_name), vjp(vjp), jvp(jvp), second_order(second_order), taylor(taylor), compile(compile) {
  mutable_registry().push_back(this);
}

const std::vector<const OpInfo*>& registered_ops() { return mutable_registry(); }

Node::Node(const OpInfo* op)
    : op(op), sequence_nr(next_sequence_nr++), made_in_recording(dydx::detail::recording_id) {}

const char* Node::name() const { return op->node_name; }

// The saved tensors go first, by the same rule as the edges below: deferred when this release is
// already deep, released here otherwise (Node's destructor runs after this one and handles the rest).
RecordedNode::~RecordedNode() {
  if (saved_values.empty()) return;  // the usual case: a backward without retain_graph freed them
  if (release_depth >= kMaxNestedReleases) {
    if (deferred == nullptr) deferred = new DeferredRelease;
    for (auto& sv : saved_values) deferred->tensors.push_back(std::move(sv.data));
    return;
  }
  ++release_depth;
  saved_values.clear();
  --release_depth;
}

Node::~Node() {
  if (release_depth >= kMaxNestedReleases) {
    if (deferred == nullptr) deferred = new DeferredRelease;
    for (auto& edge : next)
      if (edge) deferred->nodes.push_back(std::move(edge));
    if (leaf) deferred->tensors.emplace_back(std::move(leaf));
    for (auto& entry : pre_hooks) deferred->hooks.push_back(std::move(entry.second));
    return;
  }
  ++release_depth;
  next.clear();
  leaf.reset();
  pre_hooks.clear();
  if (release_depth == 1 && deferred != nullptr) {
    while (!deferred->empty()) deferred->release_one();
    delete deferred;
    deferred = nullptr;
  }
  --release_depth;
}

// A saved input is a shallow copy: same storage (so the version check sees in-place writes), same
// history and tangents, but not the tensor itself and not its view base. Holding either would make
// a cycle once an in-place op gives that tensor, or its base, a history through this very node
// (y.mul_(y); y[:, 0] += y[:, 1]).
void RecordedNode::save(const Tensor& t) {
  const auto& from = *t.impl();
  // A leaf that requires grad is saved as itself, as PyTorch does: no in-place op can give it a
  // history (that is an error with grad on, and records nothing with grad off), so no cycle can
  // form, and the weights of a model are saved by every op that reads them.
  if (from.requires_grad && !from.grad_fn && !from.base) {
    saved_values.push_back({t, static_cast<uint32_t>(t._version()), false});
    return;
  }
  Tensor saved = t.detach();  // the geometry over the same storage, then the autograd state back
  auto& copy = *saved.impl();
  copy.requires_grad = from.requires_grad;
  copy.grad_fn = from.grad_fn;
  copy.grad_accumulator = from.grad_accumulator;
  forward::copy_tangents(t, saved);
  saved_values.push_back({std::move(saved), static_cast<uint32_t>(t._version()), false});
}

void RecordedNode::save_output(const Tensor& out) {
  Tensor alias = out.detach();
  forward::copy_tangents(out, alias);  // forward-over-reverse differentiates through it
  const auto version = static_cast<uint32_t>(out._version());
  saved_values.push_back({std::move(alias), version, true});
}

Tensor RecordedNode::saved(size_t i) {
  DYDX_CHECK(!released.load(std::memory_order_relaxed), name(),
             ": Trying to backward through the graph a second time (or directly access saved tensors after they "
             "have already been freed). Saved intermediate values of the graph are freed when you call "
             "backward() or grad(). Specify retain_graph=true if you need to backward through the graph a "
             "second time or if you need to access saved tensors after calling backward.");
  const SavedVariable& sv = saved_values[i];
  uint32_t now = static_cast<uint32_t>(sv.data._version());
  DYDX_CHECK(now == sv.version, name(),
             ": one of the variables needed for gradient computation has been modified by an inplace operation: [",
             sv.data.dtype(), " ", sv.data.sizes(), "] is at version ", now, "; expected version ", sv.version,
             " instead.");
  if (!sv.is_output || !is_grad_enabled()) return sv.data;
  // Double backward differentiates through this output, so it needs its history back.
  Tensor out = sv.data.detach();
  forward::copy_tangents(sv.data, out);
  out.impl()->grad_fn = shared_from_this();
  return out;
}

}  // namespace dydx::autograd
