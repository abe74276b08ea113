// Tensor::index's path for tensor indices (advanced_indexing.cpp).
#pragma once

#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::ops {

/// Whether any index is a tensor.
bool has_tensor_index(const std::vector<indexing::TensorIndex>& indices);
/// self[indices] with at least one tensor index: a new tensor, recorded as IndexBackward0.
Tensor index_with_tensors(const Tensor& self, const std::vector<indexing::TensorIndex>& indices);

}  // namespace dydx::ops
