// dydx::grad inside vmap: its batching rule (grad.cpp).
#pragma once

#include "dydx/autograd.hpp"

namespace dydx::vmap {

/// dydx::grad(outputs, inputs, grad_outputs, options) where one of them is batched by a running vmap.
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                const GradOptions& options);

}  // namespace dydx::vmap
