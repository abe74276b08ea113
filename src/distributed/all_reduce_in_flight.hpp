// An all-reduce of a contiguous buffer, started now and finished by polling: all_reduce's, and each of
// DataParallel's buckets, which backward starts and synchronize() finishes.
#pragma once

#include <cstdint>
#include <vector>

#include "distributed/mpi_state.hpp"

namespace dydx::distributed::detail {

class AllReduceInFlight {
 public:
  /// Starts reducing count elements of dtype at data, in place, over all ranks (MPI_Iallreduce, in pieces
  /// whose counts fit an int).
  void start(void* data, int64_t count, ScalarType dtype, MPI_Op op, const char* api);
  /// Lets MPI move it on; true once it is complete (or was never started).
  bool test(const char* api);

 private:
  std::vector<MPI_Request> requests_;
};

/// Polls until every transfer is complete, or throws past timeout() (as wait()).
void wait(const std::vector<AllReduceInFlight*>& transfers, const char* api);

}  // namespace dydx::distributed::detail
