// The elements of every sample of a batched tensor, for checks of values.
#pragma once

#include "vmap/batched.hpp"

namespace dydx::vmap {

/// t's batch at every vmap level it is batched at (t itself when it is not batched): a plain tensor
/// holding every sample's elements and nothing else. A check of values that must hold for each
/// sample (class indices in range, probabilities in [0, 1]) holds for all of them exactly when it
/// holds for this, so one check of the batch replaces one per sample, and reads no batched data.
inline Tensor every_sample(const Tensor& t) {
  Tensor v = t;
  while (const auto* b = batched(v)) v = b->value;
  return v;
}

}  // namespace dydx::vmap
