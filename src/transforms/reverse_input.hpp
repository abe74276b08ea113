// How the transforms start a reverse pass so that it nests inside other transforms.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::func::detail {

/// A fresh input for one reverse pass. It stays connected to any enclosing reverse pass (through
/// a view) and keeps its tangents, so the transforms nest: hessian is jacfwd over jacrev.
Tensor reverse_input(const Tensor& p);

}  // namespace dydx::func::detail
