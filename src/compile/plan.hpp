// A recording made ready to run: steps no output needs dropped, runs of elementwise ops fused into
// single passes over cache-sized tiles, and a product followed by such a run computed a block of
// rows at a time with the run applied while the block is in cache (bias, activation, anything
// elementwise). Every other step runs as its op again.
#pragma once

#include <memory>
#include <string>

#include "compile/trace.hpp"

namespace dydx::compile {

struct Program;

/// What a plan found, for func::CompileStats.
struct PlanStats {
  int64_t steps = 0;           // live steps
  int64_t fused_passes = 0;    // elementwise passes of two or more ops, or after a product
  int64_t fused_ops = 0;       // elementwise ops inside those passes
  int64_t fused_products = 0;  // products with a fused epilogue
  int64_t uniform_ops = 0;     // of fused_ops, those computed once per call (their inputs scalars alone)
};

/// The program for a tape, or null with `refusal` saying why the tape cannot be replayed.
std::shared_ptr<const Program> plan(Tape tape, std::string& refusal, PlanStats& stats);

/// Whether a tensor the program holds (captured, or a constant f keeps) has another dtype, shape or strides
/// than at the recording (Module::to, set_data): the recorded views of it would read the wrong elements, so the
/// program is recorded again.
bool holds_tensor_of_another_layout(const Program& program);

/// Whether every guard of the recording holds: the non-tensor values it read (a module's training mode,
/// anomaly mode where f runs a backward pass) and the autograd state of the tensors it reads as they are.
bool guards_hold(const Program& program);

/// Whether the inputs f was given as themselves at the recording (those that require grad) are the same
/// tensors now: f may also capture such a tensor, which the recording cannot tell from reading the input.
bool same_inputs_as_themselves(const Program& program, const TensorList& inputs);

/// Runs the program on inputs of the signature it was recorded with.
TensorList run(const Program& program, const TensorList& inputs);

/// The offsets of the generators the program's draws draw from, now; and putting them back.
std::vector<std::pair<Generator, uint64_t>> draw_offsets(const Program& program);
void restore_offsets(const std::vector<std::pair<Generator, uint64_t>>& offsets);

}  // namespace dydx::compile
