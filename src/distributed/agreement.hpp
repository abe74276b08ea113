// Before a collective moves data, the ranks exchange what each is about to do (which collective, dtype,
// shape, and whether its arguments are valid here), so that a mismatch throws the same dydx::Error on
// every rank instead of corrupting memory or hanging in MPI.
#pragma once

#include <cstdint>
#include <vector>

#include "dydx/distributed/collectives.hpp"

namespace dydx::distributed::detail {

enum class Collective : int64_t { all_reduce, broadcast, all_gather, all_gather_concat, reduce_scatter, barrier };
const char* name(Collective c);

/// What one rank calls; tensor is null for barrier.
struct Call {
  Collective collective;
  ReduceOp op = ReduceOp::sum;
  int root = 0;
  const Tensor* tensor = nullptr;
};

/// Every rank's shape, in rank order, once all ranks agree; throws on every rank otherwise. Shapes longer
/// than the exchanged dims are compared by hash and printed cut short.
std::vector<std::vector<int64_t>> agree(const Call& call);

}  // namespace dydx::distributed::detail
