// The shared part of the batching rules of reductions (sum, mean, var, norm, logsumexp, max, ...):
// where the sample's reduced dims lie in the batch, so that one call of the op on the batch reduces
// every sample and the batch dim stays where it is (no move, no copy).
#pragma once

#include <algorithm>

#include "vmap/batched.hpp"

namespace dydx::vmap {

/// A reduction of a batched tensor, ready to run once on its batch: op(value, dims, keepdim), then
/// wrap the result at (bdim, level).
struct BatchReduction {
  Tensor value;
  Dims dims;      // physical dims of value, ascending; never empty
  bool keepdim;
  int64_t bdim;   // the result's batch dim
  uint32_t level;
};

/// The reduction of the batched x (innermost level) over its sample dims `sample_dims`, which the op
/// has already checked and wrapped (non-negative); an empty list reduces every sample dim. A 0-d
/// sample is reduced as a sample of shape [1] (its one element is its reduction), as functorch does:
/// the batch alone would otherwise be reduced away, since an empty dims list means "every dim".
inline BatchReduction reduce_batch(const Tensor& x, IntArrayRef sample_dims, bool keepdim) {
  const auto* b = batched(x);
  if (x.dim() == 0) return {b->value.unsqueeze(-1), Dims{1}, false, 0, b->level};
  BatchReduction r{b->value, {}, keepdim, b->bdim, b->level};
  auto add = [&](int64_t d) {
    r.dims.push_back(physical_dim(d, b->bdim));
    if (!keepdim && d < b->bdim) --r.bdim;  // a reduced dim in front of the batch dim goes away
  };
  if (sample_dims.empty())
    for (int64_t d = 0; d < x.dim(); ++d) add(d);
  else
    for (int64_t d : sample_dims) add(d);
  std::sort(r.dims.begin(), r.dims.end());
  return r;
}

/// The batch of a batched x as [batch, the sample's elements] (a view where the layout allows), for
/// the whole-tensor reductions that have no form over a list of dims (max, min, any, all).
inline Tensor batch_rows(const Tensor& x) {
  const auto* b = batched(x);
  return batch_first({b->value, b->bdim}).reshape({b->value.size(b->bdim), x.numel()});
}

}  // namespace dydx::vmap
