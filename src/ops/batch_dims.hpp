// Gradients and tangents with leading batch dims (is_grads_batched, forward-mode batching), brought
// to broadcast the way their unbatched form would.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::detail {

/// g (nb batch dims, then its own) reshaped to broadcast against tensors of rank `rank`, the way
/// an unbatched g would: size-1 dims go between the batch dims and g's own.
inline Tensor align_to_rank(const Tensor& g, int64_t nb, int64_t rank) {
  const int64_t own = g.dim() - nb;
  if (nb == 0 || own >= rank) return g;
  Dims shape(g.sizes().begin(), g.sizes().begin() + nb);
  for (int64_t i = own; i < rank; ++i) shape.push_back(1);
  for (int64_t i = nb; i < g.dim(); ++i) shape.push_back(g.size(i));
  return g.reshape(shape);
}

/// g's first nb sizes followed by shape: a shape with g's batch dims in front.
inline Dims with_batch(const Tensor& g, int64_t nb, IntArrayRef shape) {
  Dims out(g.sizes().begin(), g.sizes().begin() + nb);
  for (int64_t s : shape) out.push_back(s);
  return out;
}

/// index with nb leading dims of size 1, expanded over like's first nb sizes: the index of a rule
/// whose cotangent or tangent `like` carries nb batch dims (gather's, scatter's, max's along a dim).
inline Tensor batched_index(const Tensor& index, const Tensor& like, int64_t nb) {
  if (nb == 0) return index;
  Dims shape(static_cast<size_t>(nb), 1);
  for (int64_t s : index.sizes()) shape.push_back(s);
  return index.reshape(shape).expand(with_batch(like, nb, index.sizes()));
}

}  // namespace dydx::detail
