// Collectives on tensors, as torch.distributed's: every rank calls the same ones in the same order.
//
// They work on the data only, outside autograd (a leaf that requires grad may be reduced in place, and
// nothing is recorded). Tensors may be strided (they are copied through a contiguous buffer); dtypes
// float32, float64 and int64 (sums of int64 are exact; ReduceOp::mean on int64 is refused, since it would
// truncate: sum, then divide as you mean to).
//
// Before the data, the ranks exchange what they hold (dtype and shape): a mismatch, or an argument that one
// rank refuses, throws dydx::Error on every rank with the same message, naming the ranks and shapes, and
// changes no tensor. A rank that does not take part within timeout() makes the others throw.
#pragma once

#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::distributed {

enum class ReduceOp { sum, mean, max, min };

/// Replaces t, on every rank, with the element-wise reduction of all ranks' t.
void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::sum);
/// Replaces t, on every rank, with root's t.
void broadcast(const Tensor& t, int root = 0);
/// Every rank's t (all of one shape), in rank order.
std::vector<Tensor> all_gather(const Tensor& t);
/// Every rank's t concatenated along dim 0, in rank order; their sizes in dim 0 may differ (a batch split
/// unevenly), the other dims must match.
Tensor all_gather_concat(const Tensor& t);
/// Reduces input over the ranks and returns this rank's chunk of the result along dim 0 (chunk r holds rows
/// r*n/world_size up to (r+1)*n/world_size); dim 0 must be divisible by world_size().
Tensor reduce_scatter(const Tensor& input, ReduceOp op = ReduceOp::sum);
/// Returns once every rank has called it.
void barrier();

const char* to_string(ReduceOp op);

}  // namespace dydx::distributed
