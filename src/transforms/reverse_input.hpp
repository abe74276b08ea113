// How the transforms start a reverse pass so that it nests inside other transforms.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::func::detail {

/// A fresh input for one reverse pass. It stays connected to any enclosing reverse pass (through
/// a view) and keeps its tangents, so the transforms nest: hessian is jacfwd over jacrev.
Tensor reverse_input(const Tensor& p);

/// Whether a reverse pass must itself be differentiable: an outer forward pass is watching, or grad
/// mode is on, so that an outer reverse pass can differentiate through it, also with respect to
/// tensors f closes over. Asked before the transform turns grad mode on for its own pass.
bool nested();

}  // namespace dydx::func::detail
