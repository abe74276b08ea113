// func::compile: the recordings of a function by input signature, and the choice between replaying
// one and calling f.
#include "dydx/compile.hpp"

#include "dydx/autograd.hpp"

#include <map>
#include <mutex>

#include "autograd/forward_mode.hpp"
#include "compile/plan.hpp"
#include "compile/trace.hpp"
#include "vmap/batched.hpp"

namespace dydx::func {

namespace {

/// An input signature: per input its dtype, shape, strides, whether it requires grad and the first
/// input that is the same tensor; and grad mode. (A recording's views are replayed relative to their
/// input's offset, so the offset itself is not part of it.)
using Signature = std::vector<int64_t>;

Signature signature_of(const TensorList& inputs) {
  Signature key;
  key.push_back(is_grad_enabled());
  key.push_back(static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined()) {
      key.push_back(-1);
      continue;
    }
    int64_t same = static_cast<int64_t>(i);
    for (size_t j = 0; j < i; ++j)
      if (inputs[j].defined() && inputs[j].impl() == t.impl()) {
        same = static_cast<int64_t>(j);
        break;
      }
    key.push_back(same);
    key.push_back(static_cast<int64_t>(t.dtype()));
    key.push_back(t.requires_grad());
    key.push_back(t.dim());
    for (int64_t d = 0; d < t.dim(); ++d) {
      key.push_back(t.size(d));
      key.push_back(t.stride(d));
    }
  }
  return key;
}

struct Entry {
  std::shared_ptr<const compile::Program> program;  // null: f runs itself, for `refusal`
  std::string refusal;
  // A refused recording's guards (the program keeps its own): a module put in training mode draws dropout's
  // random numbers, which refuses the recording; back in eval mode, f is recorded again and replays.
  std::vector<compile::Guard> guards;
};

}  // namespace

struct Compiled::State {
  Function f;
  int64_t max_signatures;
  mutable std::mutex mutex;
  std::map<Signature, Entry> entries;
  CompileStats stats;
};

namespace {

/// Why this call must run f itself, whatever the recording: empty when it may replay.
const char* must_call_f(const TensorList& inputs) {
  if (compile::detail::recording()) return "called while another recording runs (its steps are recorded instead)";
  if (forward::active())
    return "a forward-mode level is open around the call (jvp, jacfwd, batch_jacobian, laplacian of the compiled "
           "function): f carries the tangents";
  if (vmap::active()) return "inside vmap: f computes the batch";
  if (is_grad_enabled())
    for (const Tensor& t : inputs)
      if (t.defined() && t.requires_grad()) return "an input requires grad: f records the autograd history";
  for (const Tensor& t : inputs) {
    DYDX_CHECK(t.defined(), "compile: inputs must be defined tensors");
    if (t.impl()->batched) return "an input is batched by vmap";
  }
  return nullptr;
}

}  // namespace

TensorList Compiled::operator()(const TensorList& inputs) const {
  State& st = *state_;
  const char* must = must_call_f(inputs);
  std::string why = must != nullptr ? must : "";
  Signature key;
  std::shared_ptr<const compile::Program> program;
  if (why.empty()) {
    key = signature_of(inputs);
    std::lock_guard lock(st.mutex);
    if (const auto it = st.entries.find(key); it != st.entries.end()) {
      program = it->second.program;
      if (!program) {
        if (compile::all_hold(it->second.guards))
          why = it->second.refusal;
        else
          st.entries.erase(it);  // recorded again below
      } else if (compile::holds_tensor_of_another_layout(*program) || !compile::guards_hold(*program)) {
        program = nullptr;  // recorded again below, in place of this one
        st.entries.erase(it);
      } else if (!compile::same_inputs_as_themselves(*program, inputs)) {
        program = nullptr;
        why = "an input that requires grad is another tensor than at the recording (f is given such an input as "
              "itself, and may also capture it)";
      } else {
        ++st.stats.replays;
      }
    } else if (static_cast<int64_t>(st.entries.size()) >= st.max_signatures) {
      why = "more input signatures than max_signatures (" + std::to_string(st.max_signatures) + ")";
    }
  }
  if (program) {
    // A replay raises where a check of values fails (an index out of range at this call). f may catch
    // that error and go on (one raised at the recording refuses it, but not one first raised here): f
    // runs in the replay's place, its generators put back where the replay found them, so that it
    // draws what it would have drawn. (Another thread drawing from one of them meanwhile would draw
    // its numbers again.)
    const auto offsets = compile::draw_offsets(*program);
    try {
      return compile::run(*program, inputs);
    } catch (const Error&) {
      compile::restore_offsets(offsets);
      {
        std::lock_guard lock(st.mutex);
        ++st.stats.eager_calls;
        st.stats.eager_reason = "a replay raised an error: f ran in its place";
      }
      return st.f(inputs);
    }
  }
  if (!why.empty()) {
    {
      std::lock_guard lock(st.mutex);
      ++st.stats.eager_calls;
      st.stats.eager_reason = why;
    }
    return st.f(inputs);  // outside the lock: f may take long, or call this compiled function again
  }
  // A new signature: f runs once under a recording, and its outputs are this call's.
  auto [outputs, tape] = compile::record(st.f, inputs);
  std::string refusal;
  compile::PlanStats plan_stats;
  auto guards = tape.guards;
  auto made = compile::plan(std::move(tape), refusal, plan_stats);
  if (made) guards.clear();
  std::lock_guard lock(st.mutex);
  ++st.stats.recordings;
  st.stats.planned_ops = plan_stats.steps;
  st.stats.fused_passes = plan_stats.fused_passes;
  st.stats.fused_ops = plan_stats.fused_ops;
  st.stats.fused_products = plan_stats.fused_products;
  st.stats.uniform_ops = plan_stats.uniform_ops;
  if (!made) st.stats.eager_reason = refusal;
  st.entries.emplace(std::move(key), Entry{std::move(made), std::move(refusal), std::move(guards)});
  return outputs;
}

Tensor Compiled::operator()(const Tensor& x) const {
  TensorList out = (*this)(TensorList{x});
  DYDX_CHECK(out.size() == 1, "compile: f returned ", out.size(), " tensors where one was expected");
  return out[0];
}

CompileStats Compiled::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

void Compiled::reset() const {
  std::map<Signature, Entry> released;
  {
    std::lock_guard lock(state_->mutex);
    released.swap(state_->entries);
  }
}

Compiled compile(Function f, int64_t max_signatures) {
  DYDX_CHECK(f, "compile: f is empty");
  DYDX_CHECK(max_signatures >= 0, "compile: max_signatures must be non-negative, got ", max_signatures);
  auto state = std::make_shared<Compiled::State>();
  state->f = std::move(f);
  state->max_signatures = max_signatures;
  return Compiled(std::move(state));
}

}  // namespace dydx::func
