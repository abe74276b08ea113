// The all-reduce in flight: MPI_Iallreduce in pieces, tested until done.
#include "distributed/all_reduce_in_flight.hpp"

#include <algorithm>

namespace dydx::distributed::detail {

namespace {
// MPI counts are ints.
constexpr int64_t kMaxCount = int64_t{1} << 30;
}  // namespace

void AllReduceInFlight::start(void* data, int64_t count, ScalarType dtype, MPI_Op op, const char* api) {
  char* bytes = static_cast<char*>(data);
  const size_t element = dtype == kFloat32 ? 4 : 8;
  requests_.clear();
  std::lock_guard<std::mutex> lock(mpi_mutex());
  for (int64_t first = 0; first < count; first += kMaxCount) {
    requests_.push_back(MPI_REQUEST_NULL);
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, bytes + first * element, static_cast<int>(std::min(kMaxCount, count - first)),
                             mpi_type(dtype), op, comm(), &requests_.back()), api);
  }
}

bool AllReduceInFlight::test(const char* api) {
  if (requests_.empty()) return true;
  std::lock_guard<std::mutex> lock(mpi_mutex());
  int complete = 0;
  check_mpi(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &complete, MPI_STATUSES_IGNORE), api);
  if (complete) requests_.clear();
  return complete != 0;
}

void wait(const std::vector<AllReduceInFlight*>& transfers, const char* api) {
  wait_until(
      [&] {
        bool all = true;
        for (AllReduceInFlight* t : transfers) all = t->test(api) && all;
        return all;
      },
      api);
}

}  // namespace dydx::distributed::detail
