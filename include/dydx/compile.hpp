// func::compile: f recorded once per input signature, then replayed with its elementwise chains
// fused into single passes over cache-sized tiles and activations fused into the products before
// them (bias + x @ W, then tanh, computed a block of rows at a time while the block is in cache).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "dydx/func.hpp"

namespace dydx::func {

/// What a compiled function has done so far.
struct CompileStats {
  int64_t recordings = 0;   // calls that recorded f (a new input signature)
  int64_t replays = 0;      // calls that ran a recording instead of f
  int64_t eager_calls = 0;  // calls that ran f itself (see `eager_reason`)
  std::string eager_reason;  // why the last call that ran f itself could not replay
  // The last plan made: its live ops, its fused elementwise passes (two or more ops, or after a
  // product), the ops inside them, and the products whose epilogue was fused.
  int64_t planned_ops = 0, fused_passes = 0, fused_ops = 0, fused_products = 0;
  // Of fused_ops, those whose inputs are all single values broadcast (a mean's gradient, g / n): each
  // computed once per call instead of once per element.
  int64_t uniform_ops = 0;
};

/// A function compiled by func::compile; copies share the recordings.
///
/// A call records f the first time it sees an input signature (each input's dtype, shape, strides
/// and requires_grad, which inputs are the same tensor, and whether grad mode is on): f runs once,
/// eagerly, and every op it calls is noted. Later calls with that signature replay the notes
/// without calling f. Transforms inside f (batch_jacobian, laplacian, jvp, vmap) are recorded like
/// any ops, their forward-mode steps included, and so are backward passes inside f (dydx::grad,
/// func::grad, vjp, jacrev, hessian, a training step's gradients in captured parameters, double
/// backward): their rules' steps replay with the forward's, and steps no output needs (the loss's
/// value, when only its gradient is returned) are dropped. A call runs f itself when an input
/// requires grad in grad mode (autograd records the history through f), under a forward-mode level
/// or vmap opened outside it (a compiled f passed to a transform runs through f itself), when
/// called while another recording runs, and when f's recording cannot be replayed: f writes in
/// place into an input, a captured tensor, a view or a tensor another tensor shares, or with
/// autograd history to record (a write into a tensor f made is a step: the same write on a copy of
/// the old value at each replay), draws random numbers under vmap or requiring grad (other draws
/// are steps that draw again at each call, from the same generator, in f's order), indexes by a
/// bool mask (its count of positions is data), reads a value made by code the recording does not
/// see (on f's thread or another), returns a tensor with autograd history it recorded (a replay
/// records none: return it detached), runs backward() (which adds into .grad), reads or sets a
/// .grad, runs a backward pass with hooks, retain_grad or anomaly mode, or through history made
/// before f was called, registers a hook, makes a new leaf that requires grad (zeros(...,
/// requires_grad); x.detach().requires_grad_() is fine), reads a tensor's value with item()
/// (control flow or a scalar taken from a value), or keeps a tensor it computed beyond the call (a
/// lazily computed parameter, an intermediate stored for later). `stats().eager_reason` says which.
/// An input that requires grad (in a call without grad mode) is given to f as itself, which f may
/// also capture: a recording replays only for that same tensor there.
///
/// As with jax.jit, f must compute its outputs from its inputs through dydx ops, on the calling
/// thread: non-tensor values f reads (a double in a closure, an option) and data f reads or writes
/// through raw pointers are fixed at recording; a module's training mode is watched (a call after
/// train() or eval() records f again). Tensors f captures are held by the recording and read at
/// every call, so in-place updates to them (an optimiser's step) are seen, but rebinding the
/// variable is not: pass such tensors as inputs. One whose dtype, shape or strides change
/// (Module::to), or whose autograd state changes (it starts or stops requiring grad, gains history,
/// a hook or retain_grad), makes the next call record f again, and so does anomaly mode switched on
/// or off where f runs a backward pass. A constant f makes and keeps beyond the call
/// (`if (!b.defined()) b = zeros({n})`) is held and read in the same way. A generator f captures is
/// read the same way (reseeding it or moving its offset between calls is seen; rebinding the
/// variable to another generator is not); one f makes inside makes f run itself. A dydx::Error raised
/// inside f while it is recorded makes f run itself (f may catch it and branch); one first raised
/// by a replay (a check of values failing at that call) hands the call to f, with the generators the
/// replay drew from put back, so that the call raises, or goes on, as f does. Results equal f's to
/// rounding: a fused pass computes every element with the op's own kernel, and a fused product's
/// blocks may round differently from the whole product.
class Compiled {
 public:
  TensorList operator()(const TensorList& inputs) const;
  /// For an f of one tensor to one tensor.
  Tensor operator()(const Tensor& x) const;
  CompileStats stats() const;
  /// Forgets every recording, releasing the tensors they hold.
  void reset() const;

  struct State;
  explicit Compiled(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

/// Compiles f (see Compiled). Up to `max_signatures` recordings are kept; calls with further
/// signatures run f itself.
Compiled compile(Function f, int64_t max_signatures = 64);

/// The same for a callable of one tensor to one tensor.
template <class F>
  requires(std::is_invocable_r_v<Tensor, F, const Tensor&> && !std::is_convertible_v<F, Function>)
Compiled compile(F f, int64_t max_signatures = 64) {
  return compile(Function([f = std::move(f)](const TensorList& in) {
                   DYDX_CHECK(in.size() == 1, "compile: f takes one tensor but was given ", in.size());
                   return TensorList{f(in[0])};
                 }),
                 max_signatures);
}

}  // namespace dydx::func
