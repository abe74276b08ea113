// Transforms inside vmap: the batch of every running vmap level made explicit.
//
// Inside vmap(f), a transform (grad, vjp, jvp, jacrev, jacfwd and their compositions) is given
// tensors of one sample's shape. It differentiates per sample by running on the batches instead:
// each of its inputs is *lowered* to a plain tensor with one leading dim per running vmap level
// (outermost first; an input shared by the samples is expanded, without a copy), f is called on
// those *raised* back to per-sample tensors, f's results are lowered the same way, and the
// transform's results are raised before they are returned. Samples never interact inside vmap, so
// derivatives of the lowered function are per-sample derivatives once the transform treats the
// leading dims as batch dims: a gradient of the batch's outputs is each sample's gradient, and a
// Jacobian takes its basis directions over one sample's elements, broadcast over the batch.
// Differentiated inputs shared by every sample are expanded too, so that their gradients come out
// per sample (per-sample gradients of shared weights) rather than summed over the batch.
#pragma once

#include <vector>

#include "dydx/func.hpp"
#include "vmap/batched.hpp"

namespace dydx::func::detail {

class Lowering {
 public:
  /// The levels running now.
  Lowering();
  /// The innermost level it lowers (0 outside vmap): a tensor batched at a later one comes from a
  /// vmap inside the call that made it (vmap over a pullback).
  uint32_t innermost_level() const { return levels_.empty() ? 0 : levels_.back().level; }
  /// How many leading batch dims lowered tensors have.
  int64_t batch_dims() const { return static_cast<int64_t>(levels_.size()); }
  /// t with one leading dim per level, expanded where t is not batched at a level.
  Tensor lower(const Tensor& t) const;
  TensorList lower(const TensorList& ts) const;
  /// The per-sample tensor standing for a lowered p.
  Tensor raise(const Tensor& p) const;
  TensorList raise(const TensorList& ps) const;
  /// Which of a transform's inputs it lowers: those batched at some level and those it differentiates
  /// (listed in argnums). The others, shared by every sample, stay as they are, so that ops on them
  /// keep their unbatched form (a shared weight stays one matrix).
  std::vector<bool> lowers(const TensorList& inputs, const std::vector<size_t>& argnums) const;
  /// inputs with those marked lowered.
  TensorList lower(const TensorList& inputs, const std::vector<bool>& mask) const;
  /// f on inputs lowered where mask says: raises those, calls f, lowers all its results.
  Function lowered(const Function& f, const std::vector<bool>& mask) const;
  /// A lowered function's shape of one sample of p (p's dims after the batch dims).
  IntArrayRef sample_sizes(const Tensor& p) const;

 private:
  Tensor lower_below(const Tensor& t, size_t count) const;
  std::vector<vmap::Level> levels_;
};

}  // namespace dydx::func::detail
