// cross_entropy's common case as one op: log_softmax over the classes and each row's pick of its
// class, for logits [N, C] and class indices (nn::functional::cross_entropy calls it).
#pragma once

#include <cstdint>

#include "dydx/tensor.hpp"

namespace dydx::ops {

/// Each row's loss and weight.
struct CrossEntropyRows {
  Tensor losses;   // [N]: -w[n] log_softmax(logits)[n, target[n]], differentiable in the logits
  Tensor weights;  // [N]: weight[target[n]] (1 without a weight), 0 where the target is ignored; a plain value
};

/// The rows' losses of logits [N, C] (floating, N * C > 0) with class indices target [N] (int64, each
/// in [0, C) or ignore_index) and an optional weight [C] of the logits' dtype that nothing
/// differentiates. Not under vmap. The caller checks the shapes, the dtypes and the targets' values
/// (cross_entropy's check_class_indices, a step of its own at every compiled call): the kernels read
/// the logits at the targets.
CrossEntropyRows cross_entropy_rows(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                    int64_t ignore_index);

}  // namespace dydx::ops
