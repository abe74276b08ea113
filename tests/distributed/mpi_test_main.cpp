// main() for the distributed tests, run under mpirun: MPI for the whole run (started here, as an application
// would, so that dydx's Environment is checked to leave an MPI it did not start alone), GoogleTest's output from
// rank 0 only (the other ranks print their failures, prefixed by their rank), and an exit code that is
// nonzero on every rank when any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <iostream>

#include "dydx/creation.hpp"
#include "dydx/distributed.hpp"

namespace {

// Prints only what failed, so that N ranks do not print N copies of every passing test.
class FailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (result.failed())
      std::cerr << "[rank " << rank_ << "] " << result.file_name() << ":" << result.line_number() << ": "
                << result.summary() << std::endl;
  }

 private:
  int rank_;
};

int run_tests(int argc, char** argv) {
  // The application started MPI: dydx's Environment must take it as it is, and leave it running.
  dydx::distributed::Environment mpi(&argc, &argv);
  dydx::distributed::init();  // a second init is harmless too
  testing::InitGoogleTest(&argc, argv);
  const int rank = dydx::distributed::rank();
  if (rank != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  const int failed = RUN_ALL_TESTS() != 0;
  dydx::Tensor any_failed = dydx::tensor(std::vector<int64_t>{failed});
  dydx::distributed::all_reduce(any_failed, dydx::distributed::ReduceOp::max);
  if (rank == 0 && any_failed.item<int64_t>() && !failed) std::cerr << "another rank failed (see above)" << std::endl;
  return any_failed.item<int64_t>() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  const int status = run_tests(argc, argv);
  if (!dydx::distributed::is_initialized()) {
    std::cerr << "dydx::distributed::Environment finalized an MPI it did not start" << std::endl;
    return 1;
  }
  MPI_Finalize();
  return status;
}
