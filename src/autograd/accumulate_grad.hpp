// Where a leaf's gradient ends: its AccumulateGrad node, and the sum into its .grad, safe when
// threads share the leaf.
#pragma once

#include <memory>

#include "dydx/detail/node.hpp"
#include "dydx/tensor.hpp"

namespace dydx::autograd {

/// The AccumulateGrad node of a leaf that requires grad, created on first use.
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);

/// Stores g into leaf's .grad, summing with what is there. Without create_graph the sum is done in
/// place, as PyTorch does, and a gradient nobody else holds is stored without a copy.
void accumulate_into(detail::TensorImpl& leaf, Tensor g, bool create_graph);

}  // namespace dydx::autograd
