// Where a leaf's gradient ends: the sum into its .grad, safe when threads share the leaf.
// (grad_accumulator(), which makes a leaf's AccumulateGrad node, is declared in engine.hpp next to
// gradient_edge() and defined in accumulate_grad.cpp.)
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::autograd {

/// Stores g into leaf's .grad, summing with what is there. Without create_graph the sum is done in
/// place, as PyTorch does, and a gradient nobody else holds is stored without a copy.
void accumulate_into(detail::TensorImpl& leaf, Tensor g, bool create_graph);

}  // namespace dydx::autograd
