// Forward-mode AD with dual tensors, as torch.autograd.forward_ad, with nestable levels as in JAX.
#pragma once

#include <cstdint>

#include "dydx/tensor.hpp"

namespace dydx::forward_ad {

/// Opens a dual level for a scope; tangents made in it are seen only while it is open.
/// Levels nest (PyTorch forbids this, JAX allows it): the inner level's tangents carry the outer
/// level's tangents, which is forward-over-forward differentiation.
///
/// Thread rule: a level belongs to the thread that opened it (PyTorch's levels are global; dydx's
/// are per thread, so that threads without one pay nothing for forward mode). Only ops on that
/// thread carry its tangents. An op on another thread given a dual tensor of it raises a
/// dydx::Error rather than drop the tangent, as does unpack_dual there. Destroying a DualLevel
/// on another thread raises a dydx::Error from the destructor (unless an exception is already in
/// flight) and leaves the level open on its own thread, for good, since nothing can close it any
/// more (its tangents stay refused on other threads); so keep DualLevels on the stack.
class DualLevel {
 public:
  DualLevel();
  ~DualLevel() noexcept(false);
  DualLevel(const DualLevel&) = delete;
  DualLevel& operator=(const DualLevel&) = delete;
  /// The id of this level, for make_dual and unpack_dual on a level other than the innermost.
  uint32_t level() const { return level_; }

 private:
  uint32_t level_;
};

/// A tensor with primal's values (and history) and the given tangent at a dual level
/// (the innermost open one by default). Errors outside any level or on a shape mismatch.
Tensor make_dual(const Tensor& primal, const Tensor& tangent);
Tensor make_dual(const Tensor& primal, const Tensor& tangent, uint32_t level);

struct UnpackedDual {
  Tensor primal;   // t's values, without the tangent of that level
  Tensor tangent;  // undefined when t has no tangent at that level (a zero tangent)
};
/// Splits t into its primal and its tangent at a dual level (the innermost open one by default).
UnpackedDual unpack_dual(const Tensor& t);
UnpackedDual unpack_dual(const Tensor& t, uint32_t level);

}  // namespace dydx::forward_ad
