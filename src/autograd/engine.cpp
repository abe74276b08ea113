// The reverse-mode engine.
//
// How autograd works here, and where to start reading:
// - Every op ends in its record's finish() (src/ops/op_record.hpp), which calls record() (below)
//   when an input requires grad. That makes a Node: the op's OpInfo (its name and VJP rule), one
//   edge per input to the node that receives that input's gradient (the input's own grad_fn, or
//   the AccumulateGrad node of a leaf), each input's shape and dtype, and (in the node type the
//   record chose) the op's attributes and the tensors its record saves. The output's grad_fn is the node.
//   Every node has exactly one differentiable output, which keeps the engine simple.
// - run_backward() (at the end) walks the graph from the outputs, counts for each node how many
//   edges lead into it, and then runs nodes in topological order (latest sequence number first
//   among the ready ones). A node's incoming gradients are summed into one buffer before its rule
//   runs. Its steps are the member functions of BackwardPass, in the order run_backward() calls them.
// - The engine, not the rules, sums each gradient down to its input's shape (undoing
//   broadcasting) and casts it to the input's dtype.
// - Rules are written with differentiable dydx ops. With create_graph they run with grad mode
//   on, so the backward pass is itself recorded and can be differentiated again.
// The per-backward table of nodes is in graph_state.hpp; the AccumulateGrad node and the locked
// sums into a leaf's .grad are in accumulate_grad.cpp.
// The op rules live in src/ops/, one file per op family; src/ops/README.md lists their names.
#include "autograd/engine.hpp"
#include "compile/trace.hpp"
#include "vmap/batched.hpp"
#include "vmap/grad.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <functional>
#include <mutex>

#include "autograd/accumulate_grad.hpp"
#include "autograd/tensor_hooks.hpp"
#include "autograd/graph_state.hpp"
#include "core/object_pool.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/ops.hpp"

namespace dydx::autograd {

namespace {

std::atomic<bool> anomaly_detection{false};

bool all_finite(const Tensor& t) {
  if (!t.is_floating_point()) return true;
  Tensor dense = t.contiguous();
  bool finite = true;
  const int64_t n = dense.numel();
  if (dense.dtype() == kFloat64) {
    const double* p = dense.data_ptr<double>();
    for (int64_t i = 0; i < n && finite; ++i) finite = std::isfinite(p[i]);
  } else {
    const float* p = dense.data_ptr<float>();
    for (int64_t i = 0; i < n && finite; ++i) finite = std::isfinite(p[i]);
  }
  return finite;
}

// Anomaly mode: the first rule that turns finite gradients into nan or inf is named, with its op.
void check_anomaly(const Node& node, const Tensor& g, const Tensor* grads) {
  if (!all_finite(g)) return;  // it only passes on what it was given
  for (size_t i = 0; i < node.num_inputs(); ++i)
    DYDX_CHECK(!grads[i].defined() || all_finite(grads[i]), "backward: function '", node.name(),
               "' (the derivative of op '", node.op->name, "') returned non-finite values in its output ", i,
               " (gradient of shape ", grads[i].sizes(), ") from a finite incoming gradient");
}

// Runs a tensor's hooks on its gradient. They run from a copy of the list of (shared) hooks, as PyTorch
// runs them from a snapshot of the tensor's hook dict: a hook may remove itself or others, or register new ones,
// which then run from the next backward on. Iterating the list itself was a use after free.
Tensor run_hooks(const HookList& hooks, Tensor g, const Node& node, const char* api) {
  for (auto& [handle, hook] : snapshot_hooks(hooks)) {
    Tensor replaced = (*hook)(g);
    if (!replaced.defined()) continue;
    const char* of = node.leaf ? "a leaf" : node.name();
    DYDX_CHECK(replaced.dtype() == g.dtype(), api, ": hook ", handle, " on the gradient of ", of,
               " has changed the type of value (was ", g.dtype(), " got ", replaced.dtype(), ")");
    DYDX_CHECK(replaced.sizes() == g.sizes(), api, ": hook ", handle, " on the gradient of ", of,
               " has changed the size of value (was ", g.sizes(), " got ", replaced.sizes(), ")");
    g = std::move(replaced);
  }
  return g;
}

// Sums g (with nb leading batch dims) down to the input's shape and casts it to its dtype.
Tensor reduce_to_input(Tensor g, const InputMeta& meta, int64_t nb) {
  if (nb == 0) {
    if (!(IntArrayRef(g.sizes()) == IntArrayRef(meta.sizes))) g = sum_to(g, meta.sizes);
  } else if (g.dim() - nb != static_cast<int64_t>(meta.sizes.size()) ||
             !(IntArrayRef(g.sizes().data() + nb, meta.sizes.size()) == IntArrayRef(meta.sizes))) {
    // Broadcast dims lie between the batch dims and the input's own: sum them, keep the batch.
    const int64_t lead = g.dim() - nb - static_cast<int64_t>(meta.sizes.size());
    Dims dims;
    for (int64_t d = nb; d < g.dim(); ++d) {
      const int64_t own = d - nb - lead;
      if (own < 0 || (meta.sizes[own] == 1 && g.size(d) != 1)) dims.push_back(d);
    }
    Dims target(g.sizes().begin(), g.sizes().begin() + nb);
    for (int64_t s : meta.sizes) target.push_back(s);
    g = (dims.empty() ? g : g.sum(dims, true)).reshape(target);
  }
  if (g.dtype() != meta.dtype) g = g.to(meta.dtype);
  return g;
}

void add_into(Tensor& buffer, Tensor g) {
  buffer = buffer.defined() ? buffer + g : std::move(g);
}

}  // namespace

void refresh_view_history(const Tensor& t) {
  auto& impl = *t.impl();
  if (!impl.base) return;
  const uint32_t version = impl.storage->version.load();
  // Threads may share a view (PyTorch locks a mutex per view here). The first to find the version
  // stale rewrites the history under a lock, and publishes the version after it, so that a thread
  // that finds the version current also sees the history that goes with it.
  std::atomic_ref<uint32_t> refreshed_at(impl.view_version);
  if (refreshed_at.load(std::memory_order_acquire) == version) return;
  static std::array<std::mutex, 16> view_locks;
  std::lock_guard<std::mutex> lock(view_locks[(reinterpret_cast<uintptr_t>(&impl) >> 6) % view_locks.size()]);
  if (refreshed_at.load(std::memory_order_relaxed) == version) return;
  struct Publish {
    std::atomic_ref<uint32_t>& at;
    uint32_t version;
    ~Publish() { at.store(version, std::memory_order_release); }
  } publish{refreshed_at, version};
  // A leaf base's history never changes, and a view made under no_grad has none to refresh.
  if (!impl.base->grad_fn || impl.view_made_without_grad) return;
  Tensor base(impl.base);
  AutoGradMode enable(true);
  if (impl.retains_grad && impl.grad_fn) impl.grad_fn->retained.reset();
  impl.grad_fn = base.as_strided(impl.sizes, impl.strides, impl.offset).impl()->grad_fn;
  if (impl.retains_grad) impl.grad_fn->retained = t.impl();
}

// gradient_edge() for a tensor whose view history is already refreshed.
static std::shared_ptr<Node> refreshed_gradient_edge(const Tensor& t) {
  if (!t.defined()) return nullptr;
  const auto& impl = *t.impl();
  if (impl.grad_fn) return impl.grad_fn;
  if (impl.requires_grad) return grad_accumulator(t);
  return nullptr;
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (t.defined()) refresh_view_history(t);
  return refreshed_gradient_edge(t);
}

Node* record(const OpInfo& op, std::span<const Tensor* const> inputs, const Tensor& out, NodeFactory make) {
  if (!is_grad_enabled()) return nullptr;
  bool any = false;
  for (const Tensor* t : inputs) {
    if (!t->defined()) continue;
    refresh_view_history(*t);
    any = any || t->impl()->needs_grad();
  }
  if (!any) return nullptr;
  std::shared_ptr<Node> node = make(&op);
  for (const Tensor* t : inputs) {
    node->next.push_back(refreshed_gradient_edge(*t));
    node->inputs.push_back(t->defined() ? InputMeta{t->impl()->sizes, t->dtype()} : InputMeta{});
  }
  node->out_rank = out.dim();
  Node* raw = node.get();
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = false;
  return raw;
}


// ---- run_backward, in named steps --------------------------------------------------------------

namespace {

// One run of the engine: its arguments, the table of the nodes it reaches, and the queue of nodes
// whose gradients are complete. run_backward() calls the public steps in the order they are
// declared; run_node() is what happens to each node.
class BackwardPass {
 public:
  BackwardPass(const TensorList& inputs, const BackwardPassOptions& options)
      : inputs_(inputs), options_(options), api_(options.accumulate_into_grad ? "backward" : "grad") {}
  BackwardPass(const BackwardPass&) = delete;
  BackwardPass& operator=(const BackwardPass&) = delete;

  void check_arguments(const TensorList& outputs, const TensorList& grad_outputs) const;
  void seed_roots(const TensorList& outputs, const TensorList& grad_outputs);
  void mark_targets();
  void discover_graph();
  void count_dependencies();
  void queue_roots();
  void run_ready_nodes();
  TensorList results();

 private:
  // Backward with inputs: only nodes that lead to one of them run.
  bool prune() const { return !inputs_.empty(); }
  Tensor starting_gradient(size_t i, const Tensor& out, const TensorList& grad_outputs);
  bool later_first(int a, int b) { return graph_[a].node->sequence_nr < graph_[b].node->sequence_nr; }
  void push_ready(int number);
  int pop_ready();
  void run_node(int number);
  void check_recordable(const Node& node) const;
  Tensor finish_gradient(GraphState::Entry& entry, Tensor g);
  void accumulate_into_leaf(const GraphState::Entry& entry, Tensor g);
  bool select_children_that_need_grad(int number);
  void apply_rule_and_release(Node* node, const Tensor& g, bool apply);
  void send_to_children(const Node& node, const Tensor& g);
  void count_down_children();

  const TensorList& inputs_;
  const BackwardPassOptions& options_;
  const char* api_;  // names the entry point in error messages
  GraphState graph_;
  // The roots' nodes and their starting gradients, then their numbers in graph_.
  SmallVector<std::pair<std::shared_ptr<Node>, Tensor>, 2> roots_;
  SmallVector<int, 2> root_numbers_;
  int64_t batch_size_ = -1;  // with options_.batched: the leading dim every grad_output shares
  // Capture targets: inputs given to grad(), or the restricted set of backward(inputs=...).
  SmallVector<Node*, 4> target_of_input_;
  // A binary heap of nodes whose gradients are complete, latest first; inline for small graphs.
  SmallVector<int, 16> ready_;
  // Reused by every node, so that running a node allocates nothing of the engine's own.
  SmallVector<Tensor, 4> grads_;    // the rule's gradient for each input
  SmallVector<int, 4> children_;    // for each input, the number of the node it goes to, or -1
};

void BackwardPass::check_arguments(const TensorList& outputs, const TensorList& grad_outputs) const {
  DYDX_CHECK(!options_.batched || !options_.accumulate_into_grad, api_,
             ": batched grad_outputs are only supported by grad()");
  DYDX_CHECK(!options_.batched || grad_outputs.size() == outputs.size(), api_,
             ": is_grads_batched needs a grad_output for every output");
  DYDX_CHECK(!outputs.empty(), api_, ": expected at least one output tensor");
  DYDX_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), api_, ": got ", grad_outputs.size(),
             " grad_outputs for ", outputs.size(), " outputs");
}

// Each output's node is a root, starting from the output's grad_output (ones for a scalar).
void BackwardPass::seed_roots(const TensorList& outputs, const TensorList& grad_outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    DYDX_CHECK(out.defined(), api_, ": output ", i, " is undefined");
    DYDX_CHECK(out.requires_grad(), api_, ": element ", i,
               " of tensors does not require grad and does not have a grad_fn");
    Tensor g = starting_gradient(i, out, grad_outputs);
    roots_.push_back({gradient_edge(out), std::move(g)});
  }
}

Tensor BackwardPass::starting_gradient(size_t i, const Tensor& out, const TensorList& grad_outputs) {
  Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
  if (options_.batched) {
    DYDX_CHECK(g.defined() && g.dim() == out.dim() + 1 && IntArrayRef(g.sizes().data() + 1, out.dim()) == out.sizes(),
               api_, ": with is_grads_batched, grad_output[", i, "] must have shape [N] + ", out.sizes(), ", got ",
               g.defined() ? g.shape_string() : std::string("(undefined)"));
    DYDX_CHECK(batch_size_ < 0 || g.size(0) == batch_size_, api_, ": batched grad_outputs differ in batch size (",
               batch_size_, " and ", g.size(0), ")");
    batch_size_ = g.size(0);
    if (g.dtype() != out.dtype()) g = g.to(out.dtype());
  } else if (g.defined()) {
    DYDX_CHECK(g.sizes() == out.sizes(), api_, ": Mismatch in shape: grad_output[", i, "] has a shape of ",
               g.sizes(), " and output[", i, "] has a shape of ", out.sizes());
    if (g.dtype() != out.dtype()) g = g.to(out.dtype());
  } else {
    DYDX_CHECK(out.numel() == 1, api_, ": grad can be implicitly created only for scalar outputs (output ", i,
               " has shape ", out.sizes(), ")");
    g = ones_like(out);
  }
  return g;
}

// The nodes whose gradients are captured (grad) or that alone receive them (backward(inputs=...)).
void BackwardPass::mark_targets() {
  for (size_t j = 0; j < inputs_.size(); ++j) {
    const Tensor& in = inputs_[j];
    DYDX_CHECK(in.defined(), api_, ": input ", j, " is undefined");
    DYDX_CHECK(in.requires_grad(), api_, ": One of the differentiated Tensors does not require grad (input ", j,
               " of shape ", in.sizes(), ")");
    auto edge = gradient_edge(in);
    target_of_input_.push_back(edge.get());
    graph_[graph_.insert(edge.get())].is_target = true;
  }
}

// Depth-first walk from the roots: numbers the nodes and their children, and marks which lead to a
// target (all of them without pruning).
void BackwardPass::discover_graph() {
  SmallVector<std::pair<int, size_t>, 32> stack;  // node number, index of the next child to visit
  auto visit = [&](Node* n) {
    const int number = graph_.insert(n);
    if (!graph_[number].visited) {
      graph_[number].visited = true;
      stack.push_back({number, 0});
    }
    return number;
  };
  for (auto& root : roots_) root_numbers_.push_back(visit(root.first.get()));
  while (!stack.empty()) {
    const auto [number, child] = stack.back();
    Node* node = graph_[number].node;
    if (child < node->next.size()) {
      ++stack.back().second;
      if (Node* next = node->next[child].get()) {
        const int next_number = visit(next);
        graph_.child(number, child) = next_number;
      }
      continue;
    }
    stack.pop_back();
    bool needed = !prune() || graph_[number].is_target;
    for (size_t k = 0; k < node->next.size(); ++k) {
      const int c = graph_.child(number, k);
      needed = needed || (c >= 0 && graph_[c].needed);
    }
    graph_[number].needed = needed;
  }
}

// For each needed node, how many edges from needed nodes lead into it: it runs when all have delivered.
void BackwardPass::count_dependencies() {
  for (size_t i = 0; i < graph_.size(); ++i) {
    const int number = static_cast<int>(i);
    if (!graph_[number].needed) continue;
    for (size_t k = 0; k < graph_[number].node->next.size(); ++k) {
      const int c = graph_.child(number, k);
      if (c >= 0 && graph_[c].needed) ++graph_[c].dependencies;
    }
  }
}

// The roots' gradients go into their buffers. Roots with no incoming edges start the run; other
// roots are reached through the graph.
void BackwardPass::queue_roots() {
  for (size_t r = 0; r < roots_.size(); ++r) add_into(graph_[root_numbers_[r]].buffer, std::move(roots_[r].second));
  for (int number : root_numbers_)
    if (graph_[number].needed && graph_[number].dependencies == 0) push_ready(number);
}

void BackwardPass::push_ready(int number) {
  graph_[number].dependencies = -1;  // queued
  ready_.push_back(number);
  std::push_heap(ready_.begin(), ready_.end(), [this](int a, int b) { return later_first(a, b); });
}

int BackwardPass::pop_ready() {
  std::pop_heap(ready_.begin(), ready_.end(), [this](int a, int b) { return later_first(a, b); });
  const int number = ready_.back();
  ready_.pop_back();
  return number;
}

void BackwardPass::run_ready_nodes() {
  while (!ready_.empty()) run_node(pop_ready());
}

// A node whose incoming gradients are all summed: its gradient is finished (hooks, stores), then
// a leaf's goes into .grad and any other node's rule passes it on to its children.
void BackwardPass::run_node(int number) {
  GraphState::Entry& entry = graph_[number];  // stays valid: nothing is inserted after the walk
  Node* node = entry.node;
  if (compile::detail::recording()) [[unlikely]] check_recordable(*node);
  Tensor g = std::move(entry.buffer);
  if (g.defined()) g = finish_gradient(entry, std::move(g));
  if (node->leaf) {  // AccumulateGrad
    accumulate_into_leaf(entry, std::move(g));
    return;
  }
  // With pruning, a target's own rule runs only if it leads to further targets.
  const bool run = select_children_that_need_grad(number);
  const bool apply = run && g.defined();
  apply_rule_and_release(node, g, apply);
  if (apply) send_to_children(*node, g);
  if (run) count_down_children();
}

// Inside a func::compile recording: what a replay of the node's rule would not do refuses it. A node
// made before f ran (through an input's or a captured tensor's history) holds saved tensors of that
// time, which the recording would take for constants.
void BackwardPass::check_recordable(const Node& node) const {
  const HookList& hooks = node.leaf ? node.leaf->hooks : node.pre_hooks;
  if (has_hooks(hooks))
    compile::detail::refuse("f's backward pass runs hooks (a replay would not call them)");
  else if (!node.retained.expired())
    compile::detail::refuse("f's backward pass stores a .grad (retain_grad)");
  else if (!node.leaf && node.made_in_recording != dydx::detail::recording_id)
    compile::detail::refuse(std::string("f's backward pass runs through autograd history made outside f (") +
                            node.name() + "): its saved tensors are not values f computes");
}

// Hooks may replace the node's gradient; then it is stored where the user asked for it: in the
// .grad of a tensor that retains grad, as grad()'s result, or in a non-leaf named by backward(inputs=...).
Tensor BackwardPass::finish_gradient(GraphState::Entry& entry, Tensor g) {
  Node* node = entry.node;
  const bool create_graph = options_.create_graph;
  const HookList& hooks = node->leaf ? node->leaf->hooks : node->pre_hooks;
  if (has_hooks(hooks)) g = run_hooks(hooks, std::move(g), *node, api_);
  if (auto retained = options_.batched ? nullptr : node->retained.lock()) {
    AutoGradMode mode(create_graph);
    accumulate_into(*retained, g, create_graph);
  }
  if (entry.is_target) entry.captured = g;
  // backward(inputs=...) may name non-leaves; they get .grad like leaves do.
  if (entry.is_target && options_.accumulate_into_grad && !node->leaf) {
    AutoGradMode mode(create_graph);
    for (size_t j = 0; j < inputs_.size(); ++j) {
      bool repeated = false;  // backward(inputs={y, y}) accumulates once, as in PyTorch
      for (size_t k = 0; k < j; ++k) repeated = repeated || inputs_[k].impl() == inputs_[j].impl();
      if (target_of_input_[j] == node && !inputs_[j].retains_grad() && !repeated)  // retain_grad already stored it
        accumulate_into(*inputs_[j].impl(), g, create_graph);
    }
  }
  return g;
}

void BackwardPass::accumulate_into_leaf(const GraphState::Entry& entry, Tensor g) {
  if (g.defined() && options_.accumulate_into_grad && (!prune() || entry.is_target)) {
    {
      AutoGradMode mode(options_.create_graph);
      accumulate_into(*entry.node->leaf, std::move(g), options_.create_graph);
    }
    const std::shared_ptr<detail::TensorImpl>& leaf = entry.node->leaf;
    if (has_hooks(leaf->post_accumulate_grad_hooks)) [[unlikely]] {
      const Tensor tensor(leaf);
      for (const auto& [handle, hook] : snapshot_hooks(leaf->post_accumulate_grad_hooks)) (*hook)(tensor);
    }
  }
}

// Fills children_ with the numbers of the children that need a gradient (-1 for the others), and
// says whether there is any.
bool BackwardPass::select_children_that_need_grad(int number) {
  Node* node = graph_[number].node;
  children_.clear();
  bool any = false;
  for (size_t k = 0; k < node->next.size(); ++k) {
    int c = graph_.child(number, k);
    if (c >= 0 && !graph_[c].needed) c = -1;
    children_.push_back(c);
    any = any || c >= 0;
  }
  return any;
}

// Runs the node's rule into grads_ (when apply), then frees its saved tensors unless the graph is kept.
void BackwardPass::apply_rule_and_release(Node* node, const Tensor& g, bool apply) {
  if (apply) {
    grads_.clear();
    grads_.resize(node->num_inputs());
  }
  if (!apply && options_.keep_graph) return;
  // Threads may run backward through one shared graph: the lock keeps another thread from
  // freeing the saved tensors while this rule reads them. Of several threads that backward
  // without retain_graph, the first to get here frees them and the others' rules then raise
  // "Trying to backward through the graph a second time", as in PyTorch.
  std::lock_guard<NodeLock> hold(node->lock);
  if (apply) {
    AutoGradMode mode(options_.create_graph);
    node->op->vjp(*node, g, grads_.data());
  }
  if (!options_.keep_graph) recorded(*node).release_saved();
}

// Each input's gradient from the rule, summed down to the input's shape and cast to its dtype, is
// added to the buffer of the node it goes to. In anomaly mode, a rule that made nan or inf from a
// finite g is named first.
void BackwardPass::send_to_children(const Node& node, const Tensor& g) {
  AutoGradMode mode(options_.create_graph);
  if (anomaly_detection.load(std::memory_order_relaxed)) check_anomaly(node, g, grads_.data());
  for (size_t i = 0; i < node.num_inputs(); ++i) {
    if (children_[i] < 0 || !grads_[i].defined()) continue;
    add_into(graph_[children_[i]].buffer,
             reduce_to_input(std::move(grads_[i]), node.inputs[i], options_.batched ? 1 : 0));
  }
}

// Each selected child has one delivery fewer to wait for; those with none left are ready.
void BackwardPass::count_down_children() {
  for (int c : children_)
    if (c >= 0 && --graph_[c].dependencies == 0) push_ready(c);
}

// grad()'s gradients, one per input (backward() returns none: they went into .grad).
TensorList BackwardPass::results() {
  TensorList result(inputs_.size());
  if (options_.accumulate_into_grad) return result;
  for (size_t j = 0; j < inputs_.size(); ++j) {
    const int number = graph_.find(target_of_input_[j]);
    if (number >= 0) result[j] = graph_[number].captured;
    DYDX_CHECK(result[j].defined() || options_.allow_unused, api_,
               ": One of the differentiated Tensors appears to not have been used in the graph (input ", j,
               " of shape ", inputs_[j].sizes(), "). Set allow_unused=true if this is the desired behavior.");
  }
  return result;
}

}  // namespace

namespace {

// The callbacks queued by each backward pass running on this thread, innermost last: a hook or a
// callback may run a backward of its own. Read by index, since a nested pass may grow the outer vector.
thread_local std::vector<std::vector<std::function<void()>>> queued_callbacks;

// A pass's list of callbacks, dropped with the pass when it raises.
struct CallbackScope {
  size_t depth = queued_callbacks.size();
  CallbackScope() { queued_callbacks.emplace_back(); }
  ~CallbackScope() { queued_callbacks.resize(depth); }
  void run() const {
    for (size_t i = 0; i < queued_callbacks[depth].size(); ++i) {
      const std::function<void()> callback = std::move(queued_callbacks[depth][i]);
      callback();
    }
  }
};

}  // namespace

void queue_callback(std::function<void()> callback) {
  DYDX_CHECK(!queued_callbacks.empty(), "queue_callback: no backward pass is running on this thread; call it from a "
             "hook during backward");
  DYDX_CHECK(callback != nullptr, "queue_callback: the callback is empty");
  queued_callbacks.back().push_back(std::move(callback));
}

TensorList run_backward(const TensorList& outputs, const TensorList& grad_outputs, const TensorList& inputs,
                        const BackwardPassOptions& options) {
  // Inside a func::compile recording the rules' ops are steps like any (they read what the forward
  // steps made and the nodes saved); what is not a step refuses the recording: writes into .grad,
  // and (in run_node) hooks, retain_grad and nodes that f did not make.
  if (compile::detail::recording()) [[unlikely]] {
    if (options.accumulate_into_grad)
      compile::detail::refuse("f runs backward(), which adds into .grad (dydx::grad or func::grad inside f give the "
                              "gradients as values)");
    const bool anomaly = anomaly_detection.load(std::memory_order_relaxed);
    if (anomaly) compile::detail::refuse("f runs a backward pass in anomaly mode (its checks read values)");
    // Anomaly mode switched on (or off) later changes what the pass does: the next call records f again.
    compile::detail::note_guard(&anomaly_detection, [anomaly] { return anomaly_detection.load() == anomaly; });
  }
  // Inside vmap, gradients are per sample only through the transforms, which run on the batches.
  if (vmap::active()) [[unlikely]]
    DYDX_CHECK(!vmap::any_batched(outputs) && !vmap::any_batched(grad_outputs) && !vmap::any_batched(inputs),
               "vmap: backward() is not supported on tensors inside vmap (it would add every sample's gradient into "
               "one .grad); use func::grad, func::vjp or dydx::grad inside vmap, which give each sample's");
  BackwardPass pass(inputs, options);
  const CallbackScope callbacks;
  pass.check_arguments(outputs, grad_outputs);
  pass.seed_roots(outputs, grad_outputs);
  pass.mark_targets();
  pass.discover_graph();
  pass.count_dependencies();
  pass.queue_roots();
  pass.run_ready_nodes();
  callbacks.run();
  return pass.results();
}

}  // namespace dydx::autograd

namespace dydx {

TensorList detail::grad_by_options(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                                   const GradOptions& options) {
  DYDX_CHECK(!inputs.empty(), "grad: expected at least one input tensor");
  if (vmap::active() && (vmap::any_batched(outputs) || vmap::any_batched(inputs) || vmap::any_batched(grad_outputs)))
    [[unlikely]] return vmap::grad(outputs, inputs, grad_outputs, options);
  return autograd::run_backward(outputs, grad_outputs, inputs,
                                {.keep_graph = options.retain_graph.value_or(options.create_graph),
                                 .create_graph = options.create_graph,
                                 .accumulate_into_grad = false,
                                 .allow_unused = options.allow_unused,
                                 .batched = options.is_grads_batched});
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                std::optional<bool> retain_graph, bool create_graph, bool allow_unused, bool is_grads_batched) {
  return detail::grad_by_options(outputs, inputs, grad_outputs,
                                 GradOptions{.retain_graph = retain_graph,
                          .create_graph = create_graph,
                          .allow_unused = allow_unused,
                          .is_grads_batched = is_grads_batched});
}

void detail::backward_by_options(const TensorList& outputs, const TensorList& grad_outputs,
                                 const BackwardOptions& options) {
  autograd::run_backward(outputs, grad_outputs, options.inputs,
                         {.keep_graph = options.retain_graph.value_or(options.create_graph),
                          .create_graph = options.create_graph,
                          .accumulate_into_grad = true});
}

void backward(const TensorList& outputs, const TensorList& grad_outputs, std::optional<bool> retain_graph,
              bool create_graph, const TensorList& inputs) {
  // Not through BackwardOptions, whose inputs member would copy the list.
  autograd::run_backward(outputs, grad_outputs, inputs,
                         {.keep_graph = retain_graph.value_or(create_graph),
                          .create_graph = create_graph,
                          .accumulate_into_grad = true});
}

}  // namespace dydx

namespace dydx {

bool is_anomaly_enabled() { return autograd::anomaly_detection.load(); }
void set_detect_anomaly(bool enabled) { autograd::anomaly_detection.store(enabled); }

}  // namespace dydx
