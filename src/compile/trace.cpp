// The recording: values by the identity of their TensorImpl, steps as finish() reports them.
#include "compile/trace.hpp"

#include <atomic>
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "autograd/tensor_hooks.hpp"
#include "dydx/detail/node.hpp"
#include "dydx/error.hpp"

namespace dydx::detail {
thread_local uint32_t recording_id = 0;
std::atomic<uint32_t> last_recording_started{0};
}

namespace dydx::compile {
namespace detail {

struct Recorder {
  uint32_t id = 0;
  Tape tape;
  std::unordered_map<const dydx::detail::TensorImpl*, int32_t> ids;
  std::unordered_map<int32_t, size_t> step_of;  // value id -> the step that made it
  std::unordered_set<const dydx::detail::Storage*> storages;  // of every value
  // Every value's TensorImpl and Storage keeps its address until the recording ends, so that no
  // later tensor is mistaken for it. A weak reference does that without keeping the tensor: both are
  // made by allocate_shared / make_shared (make_pooled), one allocation with the control block, which
  // is freed only when the last weak reference goes. Holding the tensors themselves kept every
  // intermediate's memory until f returned (a loop of 60 steps over 1 MiB peaked at 180 MiB).
  std::vector<std::weak_ptr<const void>> alive;
  // The steps' results, to find those f keeps beyond the call.
  std::vector<std::pair<int32_t, std::weak_ptr<dydx::detail::TensorImpl>>> results;
  void keep_address(const Tensor& t) {
    alive.emplace_back(t.impl());
    alive.emplace_back(t.impl()->storage);
  }

  int32_t add(const Tensor& t, Source source) {
    const auto id = static_cast<int32_t>(tape.values.size());
    ValueInfo info;
    info.source = source;
    info.sizes = t.sizes().dims();
    info.strides = t.strides().dims();
    info.dtype = t.dtype();
    info.contiguous = t.is_contiguous();
    tape.values.push_back(std::move(info));
    tape.held.push_back(source == Source::captured || source == Source::constant ? t : Tensor());
    ids.emplace(t.impl().get(), id);
    storages.insert(t.impl()->storage.get());
    keep_address(t);
    return id;
  }

  /// The id of a value an op reads: one the recording knows, a tensor f captured (made before f
  /// ran), or one made inside f by code the recording does not see: on this thread, or on another
  /// after the recording began (f computing a part on a thread of its own; its steps are not seen).
  int32_t id_of(const Tensor& t) {
    if (const auto it = ids.find(t.impl().get()); it != ids.end()) return it->second;
    return add(t, t.impl()->made_in_recording >= id ? Source::unexplained : Source::captured);
  }
};

thread_local Recorder* active_recorder = nullptr;
thread_local Recorder* paused_recorder = nullptr;

void refuse(const std::string& reason) {
  Recorder* r = active_recorder;
  if (r != nullptr && r->tape.refusal.empty()) r->tape.refusal = reason;
}

void record_step(const char* op, std::span<const Tensor* const> inputs, std::span<const Tensor* const> extras,
                 const Tensor& out, StepRules rules) {
  Recorder& r = *active_recorder;
  if (!r.tape.refusal.empty()) return;
  Step step;
  step.op = op;
  for (auto list : {inputs, extras})
    for (const Tensor* t : list) {
      if (!t->defined()) {
        step.args.push_back(-1);
        continue;
      }
      step.args.push_back(r.id_of(*t));
    }
  int32_t known = -1;
  if (const auto it = r.ids.find(out.impl().get()); it != r.ids.end()) known = it->second;
  if (known >= 0 && std::find(step.args.begin(), step.args.end(), known) != step.args.end())
    return;  // the op gave back one of its inputs: the same value
  if (known >= 0 && r.tape.values[known].source == Source::unexplained) {
    // Read before this report (by code between the kernel and finish()): this step explains it.
    r.tape.values[known].source = Source::step;
    r.results.emplace_back(known, out.impl());
  } else if (known >= 0 && !r.step_of.contains(known)) {
    return;  // an input, captured or constant value given back
  }
  if (known >= 0 && r.step_of.contains(known)) {
    // An op computed with public ops (mean as sum, then a division) reports its result after them:
    // the op's own step makes the value, and the inner step's result becomes a value nothing reads.
    // Unless a step after the inner one read it already: that one must keep a producer before it.
    const size_t inner_index = r.step_of.at(known);
    for (size_t k = inner_index + 1; k < r.tape.steps.size(); ++k)
      if (std::find(r.tape.steps[k].args.begin(), r.tape.steps[k].args.end(), known) != r.tape.steps[k].args.end())
        return;
    Step& inner = r.tape.steps[inner_index];
    inner.out = static_cast<int32_t>(r.tape.values.size());
    r.tape.values.push_back(r.tape.values[known]);
    r.tape.held.emplace_back();
    r.step_of.erase(known);
  }
  const bool is_view = inputs.size() == 1 && extras.empty() && inputs[0]->defined() &&
                       out.impl()->storage == inputs[0]->impl()->storage;
  if (is_view) {
    step.is_view = true;
    step.view_sizes = out.sizes().dims();
    step.view_strides = out.strides().dims();
    step.view_offset_delta = out.storage_offset() - inputs[0]->storage_offset();
  }
  step.rules = std::move(rules);
  step.out = known >= 0 ? known : r.add(out, Source::step);
  if (known < 0) r.results.emplace_back(step.out, out.impl());
  r.step_of[step.out] = r.tape.steps.size();
  r.tape.steps.push_back(std::move(step));
}

void note_write(const Tensor& t) {
  Recorder* r = active_recorder;
  if (r == nullptr || !r->tape.refusal.empty()) return;
  // A temporary an op made for itself (mul_ on its own result before finish) changes no value of
  // the recording; a write into anything else does.
  const bool temporary = t.impl()->made_in_recording == r->id && !r->ids.contains(t.impl().get()) &&
                         !r->storages.contains(t.impl()->storage.get());
  if (!temporary) refuse("an in-place write inside f");
}

bool can_rewrite(const Tensor& t) {
  Recorder* r = active_recorder;
  if (r == nullptr || !r->tape.refusal.empty()) return false;
  const auto it = r->ids.find(t.impl().get());
  if (it == r->ids.end()) return false;
  const Source source = r->tape.values[it->second].source;
  // An input's or a captured tensor's write is seen by f's caller, which a replay would not do.
  if (source != Source::step && source != Source::constant) return false;
  const auto& impl = *t.impl();
  // The storage's one owner is t: no view, alias or saved tensor could read the old contents later.
  return impl.base == nullptr && impl.offset == 0 && t.is_contiguous() && impl.storage.use_count() == 1;
}

void note_rewrite(const char* op, const Tensor& t, std::span<const Tensor* const> others, Replay replay) {
  Recorder& r = *active_recorder;
  if (!r.tape.refusal.empty()) return;
  const int32_t old_value = r.ids.at(t.impl().get());
  Step step;
  step.op = op;
  step.args.push_back(old_value);
  for (const Tensor* o : others) step.args.push_back(o->defined() ? r.id_of(*o) : -1);
  step.rules.replay = std::move(replay);
  // A constant written in place: the steps before the write read what it was made with, its copy,
  // which nothing checks any more against the tensor itself (now the new value's).
  if (r.tape.values[old_value].source == Source::constant) {
    auto& copies = r.tape.constant_copies;
    const auto copy = std::find_if(copies.begin(), copies.end(), [&](const auto& c) { return c.first == old_value; });
    if (copy != copies.end()) {
      r.tape.held[old_value] = std::move(copy->second);
      copies.erase(copy);
    }
  }
  // The new value: t's identity from now on (add() would keep the old one's).
  const auto new_value = static_cast<int32_t>(r.tape.values.size());
  r.tape.values.push_back(r.tape.values[old_value]);
  r.tape.values.back().source = Source::step;
  r.tape.held.emplace_back();
  r.ids[t.impl().get()] = new_value;
  step.out = new_value;
  r.results.emplace_back(new_value, t.impl());  // kept beyond the call: a replay would not write into it
  r.step_of[new_value] = r.tape.steps.size();
  r.tape.steps.push_back(std::move(step));
}

void note_saved(const Tensor& saved, const Tensor& of) {
  Recorder* r = active_recorder;
  if (r == nullptr || !r->tape.refusal.empty() || !of.defined() || saved.impl() == of.impl()) return;
  r->ids.emplace(saved.impl().get(), r->id_of(of));
  r->keep_address(saved);
}

void note_constant(const Tensor& t) {
  Recorder* r = active_recorder;
  if (r == nullptr || !t.defined() || r->ids.contains(t.impl().get())) return;
  // zeros(..., requires_grad): f makes a new leaf at every call, whose .grad is its own. A copy of
  // the recording's would be no leaf under grad mode, and would not require grad under no_grad.
  if (t.requires_grad()) return refuse("f makes a tensor that requires grad (a new leaf at every call)");
  const int32_t id = r->add(t, Source::constant);
  active_recorder = nullptr;  // the copy is the recording's own business, not a step of f
  Tensor copy;
  try {
    copy = t.clone();
  } catch (...) {
    active_recorder = r;
    throw;
  }
  active_recorder = r;
  r->tape.constant_copies.emplace_back(id, std::move(copy));
}

void note_foreign(const Tensor& t) {
  Recorder* r = active_recorder;
  if (r == nullptr) return;
  const auto it = r->ids.find(t.impl().get());
  const int32_t id = it != r->ids.end() ? it->second : r->add(t, Source::unexplained);
  r->tape.values[id].source = Source::unexplained;
  r->tape.held[id] = Tensor();
  std::erase_if(r->tape.constant_copies, [id](const auto& c) { return c.first == id; });
}

void note_absolute_view(const Tensor& view) {
  Recorder* r = active_recorder;
  if (r == nullptr) return;
  const auto it = r->ids.find(view.impl().get());
  if (it == r->ids.end()) return;
  if (const auto step = r->step_of.find(it->second); step != r->step_of.end() && r->tape.steps[step->second].is_view)
    r->tape.steps[step->second].view_absolute_offset = view.storage_offset();
}

void note_alias(const Tensor& alias, const Tensor& of) {
  Recorder* r = active_recorder;
  if (r == nullptr) return;
  if (r->ids.contains(of.impl().get()) || of.impl()->made_in_recording < r->id) {
    // A new tensor over of's memory, like a view: replayed as one (as_strided), so that each call's
    // is a new tensor that does not require grad, as detach's is. (Taken for `of` itself, a replay
    // gave back an input or a captured tensor, requires_grad and all, where f gives a new alias.)
    const Tensor* in[] = {&of};
    record_step("detach", in, {}, alias, {});
  } else {
    // Of a tensor made inside f that the recording has not seen (an op's temporary): as unexplained
    // as it when read, and as much a temporary when written.
    alias.impl()->made_in_recording = of.impl()->made_in_recording;
  }
}

void note_generator(const Generator& generator) {
  Recorder* r = active_recorder;
  if (r == nullptr) return;
  for (const Generator& g : r->tape.drawn_from)
    if (g.same_stream(generator)) return;
  r->tape.drawn_from.push_back(generator);
}

void note_guard(const void* key, std::function<bool()> holds) {
  Recorder* r = active_recorder;
  if (r == nullptr) return;  // noted after a refusal too: a refused recording is made again when one changes
  for (const auto& guard : r->tape.guards)
    if (guard.first == key) return;
  r->tape.guards.emplace_back(key, std::move(holds));
}

namespace {
std::atomic<uint32_t> next_recording{1};

/// What of a tensor's autograd state decides what f records with it, and what a backward pass inside f
/// reaches through it: whether it requires grad, its history (grad_fn), its hooks and retain_grad.
struct AutogradState {
  bool requires_grad = false, has_history = false, hooks = false, retains_grad = false;
  std::weak_ptr<autograd::Node> history;

  explicit AutogradState(const Tensor& t) {
    const std::shared_ptr<autograd::Node>& fn = t.grad_fn();  // a view's, refreshed
    requires_grad = t.requires_grad();
    has_history = fn != nullptr;
    history = fn;
    hooks = fn ? autograd::has_hooks(fn->pre_hooks) : autograd::has_hooks(t.impl()->hooks);
    retains_grad = t.impl()->retains_grad;
  }
  bool still_of(const Tensor& t) const {
    const std::shared_ptr<autograd::Node>& fn = t.grad_fn();
    if (t.requires_grad() != requires_grad || (fn != nullptr) != has_history || (fn && fn != history.lock())) return false;
    return (fn ? autograd::has_hooks(fn->pre_hooks) : autograd::has_hooks(t.impl()->hooks)) == hooks &&
           t.impl()->retains_grad == retains_grad;
  }
};
}  // namespace

void guard_autograd_state(Tape& tape, const Tensor& t) {
  tape.guards.emplace_back(t.impl().get(), [held = std::weak_ptr(t.impl()), state = AutogradState(t)] {
    const std::shared_ptr<dydx::detail::TensorImpl> now = held.lock();
    return now != nullptr && state.still_of(Tensor(now));
  });
}

namespace {


/// Makes the recorder this thread's for its lifetime, and puts back what was there.
class RecordingScope {
 public:
  explicit RecordingScope(Recorder& r)
      : previous_(active_recorder), previous_id_(dydx::detail::recording_id) {
    active_recorder = &r;
    dydx::detail::recording_id = r.id;
  }
  ~RecordingScope() { end(); }
  void end() {
    if (ended_) return;
    ended_ = true;
    active_recorder = previous_;
    dydx::detail::recording_id = previous_id_;
  }

 private:
  Recorder* previous_;
  uint32_t previous_id_;
  bool ended_ = false;
};
}  // namespace

}  // namespace detail

std::pair<TensorList, Tape> record(const func::Function& f, const TensorList& inputs) {
  detail::Recorder r;
  r.id = detail::next_recording.fetch_add(1, std::memory_order_relaxed);
  if (r.id == 0) r.id = detail::next_recording.fetch_add(1, std::memory_order_relaxed);  // 0 means none
  // Tensors made from now on, on any thread, carry a stamp of at least r.id (the maximum keeps a
  // later recording's number when two start at once).
  uint32_t last = dydx::detail::last_recording_started.load(std::memory_order_relaxed);
  while (last < r.id && !dydx::detail::last_recording_started.compare_exchange_weak(last, r.id, std::memory_order_relaxed)) {
  }
  // f is given aliases of its inputs (new tensors over the same memory): a tensor f captures and is
  // also passed (x = w, with f reading w from its closure) is then two values, the input and a
  // captured tensor, as at a later call with another x. Given w itself, the recording would take
  // f's reads of w for reads of the input. An input that requires grad is given as itself (a leaf
  // alias would take the gradients if f enables grad inside): for it, that case stays ambiguous.
  TensorList given;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    DYDX_CHECK(t.defined(), "compile: inputs must be defined tensors");
    size_t same = i;
    for (size_t j = 0; j < i; ++j)
      if (inputs[j].impl() == t.impl()) {
        same = j;
        break;
      }
    if (same == i) {
      given.push_back(t.requires_grad() ? t : t.detach());
      r.add(given.back(), Source::input);
    } else {
      given.push_back(given[same]);
      r.tape.values.push_back(r.tape.values[same]);  // keeps ids = input positions
    }
    r.tape.held.resize(r.tape.values.size());
  }
  r.tape.num_inputs = inputs.size();
  // f marking an input as requiring grad (x.requires_grad_() before it takes derivatives in x)
  // marks the caller's tensor, as when f runs on it. (The history f records then starts at the
  // alias, which refuses the recording; only this call's gradients stop at the alias.)
  auto mark_inputs = [&] {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (given[i].impl() != inputs[i].impl() && given[i].requires_grad() && !inputs[i].requires_grad() &&
          inputs[i].is_leaf())
        Tensor(inputs[i]).requires_grad_(true);
  };
  TensorList outputs;
  {
    detail::RecordingScope scope(r);
    try {
      outputs = f(given);
    } catch (...) {
      scope.end();
      mark_inputs();
      throw;
    }
    scope.end();
    mark_inputs();
  }
  Tape& tape = r.tape;
  for (Tensor& out : outputs) {
    if (!out.defined()) {
      tape.outputs.push_back(-1);
      continue;
    }
    tape.outputs.push_back(r.id_of(out));
    // f returning its input returns the caller's tensor itself, not the alias.
    for (size_t i = 0; i < inputs.size(); ++i)
      if (out.impl() == given[i].impl()) {
        out = inputs[i];
        break;
      }
  }
  // f may use the autograd history it made (a backward pass inside f), but not return it: a replay
  // makes none. (An input or a captured tensor given back is the caller's, history and all.)
  for (size_t k = 0; k < outputs.size() && tape.refusal.empty(); ++k)
    if (tape.outputs[k] >= 0 && tape.values[tape.outputs[k]].source == Source::step && outputs[k].requires_grad())
      tape.refusal = "f returns a tensor with autograd history it recorded (a replay records none): return it "
                     "detached, or call the compiled function with inputs that require grad, which runs f itself";
  // A tensor a step made that outlives f other than as an output or an output's base: f keeps it (a lazily
  // made parameter, `if (!s.defined()) s = x.abs().mean()`, or an intermediate stored for later). A replay would
  // compute it again from the call's inputs where f reads the kept one, and would not store this call's.
  if (tape.refusal.empty())
    for (const auto& [id, result] : r.results) {
      const std::shared_ptr<dydx::detail::TensorImpl> t = result.lock();
      if (!t || !r.step_of.contains(id)) continue;
      long expected = 1;  // this one
      std::vector<const dydx::detail::TensorImpl*> views;  // outputs that view it hold it once each
      for (const Tensor& out : outputs) {
        if (!out.defined()) continue;
        if (out.impl() == t) ++expected;
        else if (out.impl()->base == t && std::find(views.begin(), views.end(), out.impl().get()) == views.end())
          views.push_back(out.impl().get());
      }
      expected += static_cast<long>(views.size());
      if (t.use_count() > expected) {
        tape.refusal = "f keeps a tensor it computed beyond the call (a lazily made parameter, or an intermediate "
                       "stored for later): a replay would compute it again, or not store it";
        break;
      }
    }
  // A constant that outlives f other than as an output (a lazily made parameter f keeps in its
  // closure: `if (!b.defined()) b = zeros({n})`, or a view of one) is f's state: later calls read
  // it as it is then (an optimiser updates it in place), so the replay reads the tensor itself, as
  // a captured one, rather than a copy of what it held at the recording.
  for (auto it = tape.constant_copies.begin(); it != tape.constant_copies.end();) {
    const Tensor& t = tape.held[it->first];
    long impl_uses = 1;     // tape.held's
    long storage_uses = 1;  // t's own
    std::vector<const dydx::detail::TensorImpl*> views;
    for (const Tensor& out : outputs) {
      if (!out.defined()) continue;
      if (out.impl() == t.impl()) ++impl_uses;
      else if (out.impl()->storage == t.impl()->storage &&
               std::find(views.begin(), views.end(), out.impl().get()) == views.end())
        views.push_back(out.impl().get());
    }
    storage_uses += static_cast<long>(views.size());
    for (const dydx::detail::TensorImpl* view : views) impl_uses += view->base == t.impl();  // a view holds its base
    // (Its copy stays, so that the plan still refuses one written after it was made.)
    if (t.impl().use_count() > impl_uses || t.impl()->storage.use_count() > storage_uses)
      tape.values[it->first].source = Source::captured;
    // One marked requires_grad_() after it was made is, like zeros(..., requires_grad), a new leaf
    // at every call.
    if (t.requires_grad() && tape.refusal.empty()) tape.refusal = "f makes a tensor that requires grad (a new leaf at every call)";
    ++it;
  }
  // The tensors a replay reads as they are, whatever the call: those f captures (and the constants it
  // keeps, captured above), and inputs that require grad, which f is given as themselves. Their
  // autograd state decides what f records and what a backward pass inside f reaches through them: a
  // call that finds it changed records f again. An input given as itself is that tensor at a replay
  // (f may capture it as well, which the recording cannot tell apart); another tensor runs f.
  for (size_t id = 0; id < tape.values.size(); ++id)
    if (tape.values[id].source == Source::captured && tape.held[id].defined()) detail::guard_autograd_state(tape, tape.held[id]);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (given[i].impl() == inputs[i].impl()) {
      tape.inputs_as_themselves.emplace_back(i, inputs[i].impl());
      detail::guard_autograd_state(tape, inputs[i]);
    }
  return {std::move(outputs), std::move(tape)};
}

}  // namespace dydx::compile

namespace dydx::detail {
// An error raised inside f while it is recorded (or while a part of it runs with the recording set
// aside): if f catches it and goes on, its branch is fixed in the recording, so the recording is not
// replayed; if it leaves f, the recording is given up anyway.
void note_error() noexcept {
  compile::detail::Recorder* r =
      compile::detail::active_recorder ? compile::detail::active_recorder : compile::detail::paused_recorder;
  if (r != nullptr && r->tape.refusal.empty()) {
    try {
      r->tape.refusal = "f raised an error and went on (a replay would take the branch f took at the recording)";
    } catch (...) {  // out of memory for the message: the recording stays refused by its emptiness below
    }
    if (r->tape.refusal.empty()) r->tape.refusal.assign(1, '!');
  }
}
}  // namespace dydx::detail
