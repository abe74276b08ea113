// func::compile's recording. While f runs once under a Recorder, every op's finish() adds a step: which
// op, which values it read, how to compute it again, and its elementwise kernel where it has one. A
// recording is refused, and f then runs eagerly for that signature, whenever a value could escape
// what the steps say: an in-place write, a random draw, a value made inside f by code that has no
// record (a comparison, an index), a constant that changed after it was made, or autograd history
// or forward-mode tangents recorded inside f.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dydx/func.hpp"

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
/// (isnan, indices, a raw kernel, from_blob, another thread); a recording whose result needs one is
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
  std::string refusal;           // why it cannot be replayed; empty when it can
};

/// Runs f on inputs under a recording on this thread and returns f's outputs and the tape. An
/// exception from f propagates, and the thread is left as it was.
std::pair<TensorList, Tape> record(const func::Function& f, const TensorList& inputs);

namespace detail {
struct Recorder;
extern thread_local Recorder* active_recorder;
inline bool recording() { return active_recorder != nullptr; }

/// finish()'s report of one op (or a kernel's, for steps with no record: comparisons, the fused
/// derivative product). made_history: it recorded an autograd node, which a replay would not.
void record_step(const char* op, std::span<const Tensor* const> inputs, std::span<const Tensor* const> extras,
                 const Tensor& out, StepRules rules, bool made_history);
/// Marks the recording as one that cannot be replayed, and why.
void refuse(const std::string& reason);
/// An in-place write into t: refuses the recording unless t is a temporary of the op writing it.
void note_write(const Tensor& t);
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
}  // namespace detail

}  // namespace dydx::compile
