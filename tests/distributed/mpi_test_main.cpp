// main() for the distributed tests, run under mpirun: MPI for the whole run, GoogleTest's output from
// rank 0 only (the other ranks print their failures, prefixed by their rank), and an exit code that is
// nonzero on every rank when any rank failed.
#include <gtest/gtest.h>

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

}  // namespace

int main(int argc, char** argv) {
  dydx::distributed::Environment mpi(&argc, &argv);
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
