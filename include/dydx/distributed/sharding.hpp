// Per-sample derivatives over a batch split across the ranks: each rank takes its rows, computes
// what func:: computes for them, and the rows are gathered back on request.
#pragma once

#include <cstdint>

#include "dydx/func.hpp"

namespace dydx::distributed {

/// Rows [begin, end) of a batch of global_rows that this rank takes: as even as can be, the first
/// global_rows % world_size() ranks one row more, in rank order.
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
};
RowRange rows_of(int64_t global_rows, int rank, int world_size);
RowRange my_rows(int64_t global_rows);

/// This rank's rows (dim 0) of a batch every rank holds whole: a view, no copy.
Tensor shard(const Tensor& global_batch);
/// Every rank's rows back in one batch, in rank order, on every rank (all_gather_concat).
Tensor unshard(const Tensor& local_rows);

/// Whether a sharded result stays with its rank or is gathered onto every rank.
enum class Result { sharded, gathered };

/// func::batch_jacobian / laplacian / biharmonic (exact) of f over this rank's rows x_local (per-sample, so the rows need
/// nothing from each other); with Result::gathered every rank gets the whole batch's result.
Tensor batch_jacobian(const func::UnaryFunction& f, const Tensor& x_local, Result result = Result::sharded,
                      func::BatchOptions options = {});
Tensor laplacian(const func::UnaryFunction& f, const Tensor& x_local, Result result = Result::sharded,
                 func::BatchOptions options = {});
Tensor biharmonic(const func::UnaryFunction& f, const Tensor& x_local, Result result = Result::sharded,
                  func::BatchOptions options = {});

}  // namespace dydx::distributed
