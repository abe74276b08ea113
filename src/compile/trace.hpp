// func::compile's recording. While f runs once under a Recorder, every op's finish() adds a step: which
// op, which values it read, how to compute it again, and its elementwise kernel where it has one. A
// recording is refused, and f then runs eagerly for that signature, whenever a value could escape
// what the steps say: an in-place write, a random draw, a value made inside f by code that has no
// record (a comparison, an index), a constant that changed after it was made, or autograd history
// that f returns. A backward pass inside f (grad, vjp, a training step's gradients) is recorded
// like any ops: its rules' steps read the values the forward steps made and the nodes saved.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dydx/creation.hpp"
#include "dydx/func.hpp"
#include "dydx/generator.hpp"

namespace dydx::compile {

/// An op's computation again, from the tensors its finish() saw: its inputs, then its extras.
using Replay = std::function<Tensor(const TensorList&)>;

/// An elementwise op on contiguous runs, y[i] = op(a[i]) or op(a[i], b[i]), computing for each
/// element exactly what the op's eager kernel computes (b is null for a unary op).
template <class T>
using ElementwiseLoop = std::function<void(const T* a, const T* b, T* y, int64_t n)>;
struct Elementwise {
  int arity = 0;  // 0: not an elementwise op
  ElementwiseLoop<float> f32;
  ElementwiseLoop<double> f64;
};

/// A product whose result can be computed a block of rows at a time, with what follows it fused
/// in: out = bias + mat1 @ mat2 (addmm with beta = alpha = 1, or mm with no bias).
struct Product {
  bool present = false;
  bool has_bias = false;  // the first argument is the bias
};

/// What an op's record gives the recording; every part is optional.
struct StepRules {
  Replay replay;  // empty: the op has no replay rule yet (a recording that needs it is not replayed)
  Elementwise elementwise;
  Product product;
  // A random draw: replayed even where no output reads it, and in its order among the draws, so
  // that the generator moves at each call as f would move it.
  bool draws = false;
  // A step whose replay checks its inputs' values (an index's range, an integer divisor): replayed
  // even where no output reads it, so that a call raises wherever f raises; there, `check_only`
  // (where given) runs instead of the replay: the check without the op.
  bool checks = false;
  std::function<void(const TensorList&)> check_only;
};

/// One op of a recording.
struct Step {
  const char* op = "";
  std::vector<int32_t> args;  // value ids of the op's inputs, then its extras; -1 for an undefined one
  int32_t out = -1;
  StepRules rules;
  // A view (its result shares its only input's storage) is replayed by as_strided with this geometry,
  // its offset relative to its input's.
  bool is_view = false;
  Dims view_sizes, view_strides;
  int64_t view_offset_delta = 0;
  // as_strided given a storage offset: that offset is absolute in the storage, whatever the input's
  // own offset at a later call, and is replayed as given (-1: relative, as above).
  int64_t view_absolute_offset = -1;
};

/// Where a value of a recording comes from. `unexplained`: made inside f by code that has no record
/// (a raw kernel, bitwise ops, from_blob, another thread); a recording whose result needs one is
/// not replayed.
enum class Source : uint8_t { input, step, captured, constant, unexplained };

/// What the plan knows of a value: the recording's tensor's layout.
struct ValueInfo {
  Source source = Source::step;
  Dims sizes, strides;
  ScalarType dtype = kFloat32;
  bool contiguous = true;
};

/// A non-tensor value f read (under the address it was read from) and whether it still holds.
using Guard = std::pair<const void*, std::function<bool()>>;
/// Whether every guard still holds: a replay needs them all.
inline bool all_hold(const std::vector<Guard>& guards) {
  for (const Guard& guard : guards)
    if (!guard.second()) return false;
  return true;
}

/// A finished recording of f on one input signature.
struct Tape {
  size_t num_inputs = 0;
  std::vector<ValueInfo> values;
  std::vector<Tensor> held;  // per value: the tensor itself for captured and constant values
  std::vector<Step> steps;
  std::vector<int32_t> outputs;  // value ids; -1 for an undefined output
  // Each constant's contents when it was made: one read by the replay that changed by the end of the
  // recording was written by code the recording does not see, and the tape is not replayed.
  std::vector<std::pair<int32_t, Tensor>> constant_copies;
  // Non-tensor values f read that a replay must find unchanged (a module's training mode), each under the
  // address it was read from: whether it still holds.
  std::vector<Guard> guards;
  // Inputs that require grad, which f was given as themselves (by position): a replay needs the same
  // tensors there.
  std::vector<std::pair<size_t, std::weak_ptr<dydx::detail::TensorImpl>>> inputs_as_themselves;
  // The generators its draws draw from: a replay that raises puts them back where they were before
  // it, so that f, run in its place, draws the numbers it would have drawn.
  std::vector<Generator> drawn_from;
  std::string refusal;           // why it cannot be replayed; empty when it can
};

/// Runs f on inputs under a recording on this thread and returns f's outputs and the tape. An
/// exception from f propagates, and the thread is left as it was.
std::pair<TensorList, Tape> record(const func::Function& f, const TensorList& inputs);

namespace detail {
struct Recorder;
extern thread_local Recorder* active_recorder;
// The recording a PauseRecording set aside on this thread (an error raised meanwhile still refuses it).
extern thread_local Recorder* paused_recorder;
inline bool recording() { return active_recorder != nullptr; }

/// finish()'s report of one op (or a kernel's, for steps with no record: comparisons, the fused
/// derivative product). Any autograd node the op made is f's own business: f may use that history
/// (a backward pass inside f) but not return it, which record() checks.
void record_step(const char* op, std::span<const Tensor* const> inputs, std::span<const Tensor* const> extras,
                 const Tensor& out, StepRules rules);
/// Guards the tape on t's autograd state (requires_grad, history, hooks, retain_grad) as it is now.
void guard_autograd_state(Tape& tape, const Tensor& t);
/// Marks the recording as one that cannot be replayed, and why.
void refuse(const std::string& reason);
/// An in-place write into t: refuses the recording unless t is a temporary of the op writing it.
void note_write(const Tensor& t);
/// Whether an in-place write into t can be a step of the recording (note_rewrite): t holds a value f
/// made (a step's or a constant's), is contiguous, no view, and no other tensor shares its memory, so
/// that nothing could read its old contents through another tensor after the write.
bool can_rewrite(const Tensor& t);
/// t (can_rewrite) was just written in place by `op` from its old value and `others`: from now on t
/// is a new value, which a replay computes with `replay({old value, others...})` into a new tensor.
void note_rewrite(const char* op, const Tensor& t, std::span<const Tensor* const> others, Replay replay);
/// `saved`, an alias an autograd node keeps of `of` (an op's input or output), is `of`'s value: a
/// backward pass inside f reads it.
void note_saved(const Tensor& saved, const Tensor& of);
/// A tensor made inside f from no values (zeros, a scalar operand, arange): replayed as it was.
void note_constant(const Tensor& t);
/// A tensor over memory dydx does not own (from_blob): f's next call may pass other memory, so a
/// recording that needs it is not replayed.
void note_foreign(const Tensor& t);
/// `view`, just made by as_strided with an explicit storage offset, is at that offset at every call.
void note_absolute_view(const Tensor& view);
/// `alias` is a new tensor over `of`'s memory (detach): a view step.
void note_alias(const Tensor& alias, const Tensor& of);
/// f read a non-tensor value at `key` (a module's training mode) that steers what it computes: `holds` says
/// whether it still has the value read now. A call that finds it changed records f again.
void note_guard(const void* key, std::function<bool()> holds);
/// A draw of the recording draws from `generator` (record_draw).
void note_generator(const Generator& generator);

/// A kernel's result that no op record reports (a mask, a rule's one-pass gradient): under a
/// recording, a step that `again(inputs)` computes at a replay. The kernel's temporaries are made
/// with the recording set aside (PauseRecording), so that none is taken for a constant f made.
template <class Again>
void note_kernel(const char* name, std::initializer_list<const Tensor*> inputs, const Tensor& out, Again&& again) {
  if (!recording()) [[likely]] return;
  StepRules rules;
  rules.replay = std::forward<Again>(again);
  record_step(name, std::span<const Tensor* const>(inputs.begin(), inputs.size()), {}, out, std::move(rules));
}

/// Sets this thread's recording aside for its lifetime: what runs meanwhile (an op saving tensors for
/// backward) is not f's step.
class PauseRecording {
 public:
  PauseRecording() : previous_(active_recorder), previous_paused_(paused_recorder) {
    if (active_recorder != nullptr) paused_recorder = active_recorder;
    active_recorder = nullptr;
  }
  ~PauseRecording() {
    active_recorder = previous_;
    paused_recorder = previous_paused_;
  }
  PauseRecording(const PauseRecording&) = delete;
  PauseRecording& operator=(const PauseRecording&) = delete;

 private:
  Recorder* previous_;
  Recorder* previous_paused_;
};

/// A check of values under a recording (recording() is true): `check(inputs)` runs now with the
/// recording set aside, raising as it raises, and again at every replay, read or not (a check that
/// reads values outside any op: a loss's class indices, a probability's range).
template <class Check>
void record_check(const char* name, std::initializer_list<const Tensor*> inputs, Check check) {
  TensorList given;
  for (const Tensor* t : inputs) given.push_back(*t);
  Tensor mark;  // the step's result, which nothing reads
  {
    PauseRecording the_check_itself;
    check(given);
    mark = empty({0});
  }
  StepRules rules;
  rules.replay = [check = std::move(check)](const TensorList& in) {
    check(in);
    return empty({0});
  };
  rules.checks = true;
  record_step(name, std::span<const Tensor* const>(inputs.begin(), inputs.size()), {}, mark, std::move(rules));
}

/// A random draw under a recording (recording() is true): `draw(inputs)` runs with the recording
/// set aside (its ops are the draw's business), and its result is one step that draws again at each
/// replay, from `generator` (which `draw` holds): a compiled f gives, call after call, the numbers f
/// would. A draw made requiring grad is a new leaf at every call, which a replay would not make.
template <class Draw>
Tensor record_draw(const char* name, const Generator& generator, std::initializer_list<const Tensor*> inputs,
                   Draw draw) {
  TensorList given;
  for (const Tensor* t : inputs) given.push_back(*t);
  Tensor out;
  {
    PauseRecording the_draw_itself;
    out = draw(given);
  }
  if (out.requires_grad()) {
    refuse("f makes a tensor that requires grad (a new leaf at every call)");
    return out;
  }
  note_generator(generator);
  StepRules rules;
  rules.replay = std::move(draw);
  rules.draws = true;
  record_step(name, std::span<const Tensor* const>(inputs.begin(), inputs.size()), {}, out, std::move(rules));
  return out;
}
}  // namespace detail

}  // namespace dydx::compile
