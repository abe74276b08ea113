// What autograd history a transform's results keep: only what leads outside the transform.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::func::detail {

/// Whether the history of any of roots reaches a tensor that requires grad other than own, the
/// leaves the transform made for its own reverse pass: something that requires grad outside the
/// transform (a primal, a tensor f closes over, an enclosing transform's input) flows into roots.
/// Only then must the transform's own reverse pass be differentiable (create_graph).
bool reaches_outside(const TensorList& roots, const TensorList& own);

/// t as the transform hands it to its caller, as torch.func unwraps a result at the level's exit:
/// t itself where its history reaches outside and may_reach_outside (the caller records history,
/// and the transform knows no reason why t's history cannot reach outside); otherwise a detached alias of t, so that the transform's
/// internal graph is freed with it, carrying t's tangents at the open levels (released the same
/// way), so that enclosing forward-mode transforms still see them.
Tensor release(const Tensor& t, const TensorList& own, bool may_reach_outside);
TensorList release(const TensorList& ts, const TensorList& own, bool may_reach_outside);

}  // namespace dydx::func::detail
