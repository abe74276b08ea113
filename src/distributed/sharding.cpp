// Splitting a batch by rank, and per-sample derivatives of each rank's rows.
#include "dydx/distributed/sharding.hpp"

#include "dydx/distributed/collectives.hpp"
#include "dydx/distributed/environment.hpp"
#include "dydx/error.hpp"

namespace dydx::distributed {

RowRange rows_of(int64_t global_rows, int rank, int world_size) {
  DYDX_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "rows_of: rank ", rank, " is not in 0..",
             world_size - 1);
  DYDX_CHECK(global_rows >= 0, "rows_of: a batch cannot have ", global_rows, " rows");
  const int64_t base = global_rows / world_size, extra = global_rows % world_size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

RowRange my_rows(int64_t global_rows) { return rows_of(global_rows, rank(), world_size()); }

Tensor shard(const Tensor& global_batch) {
  DYDX_CHECK(global_batch.dim() > 0, "shard: a 0-d tensor has no rows to split");
  const RowRange rows = my_rows(global_batch.size(0));
  return global_batch.narrow(0, rows.begin, rows.end - rows.begin);
}

Tensor unshard(const Tensor& local_rows) { return all_gather_concat(local_rows); }

namespace {
Tensor deliver(const Tensor& local_result, Result result) {
  return result == Result::gathered ? all_gather_concat(local_result) : local_result;
}
}  // namespace

Tensor batch_jacobian(const func::UnaryFunction& f, const Tensor& x_local, Result result, func::BatchOptions options) {
  return deliver(func::batch_jacobian(f, x_local, options), result);
}

Tensor laplacian(const func::UnaryFunction& f, const Tensor& x_local, Result result, func::BatchOptions options) {
  return deliver(func::laplacian(f, x_local, options), result);
}

Tensor biharmonic(const func::UnaryFunction& f, const Tensor& x_local, Result result, func::BatchOptions options) {
  return deliver(func::biharmonic(f, x_local, options), result);
}

}  // namespace dydx::distributed
