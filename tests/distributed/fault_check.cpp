// A job in which one rank fails while the others wait in a collective: check_fault.cmake runs it under
// mpirun and requires the whole job to end, nonzero, well before anyone would give up on a hang.
//   fault_check throw    rank 1 throws an exception nobody catches (std::terminate)
//   fault_check die      rank 1 exits at once, without finalizing MPI
//   fault_check stall    rank 1 stays alive but never calls the collective: the others time out
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "dydx/dydx.hpp"
#include "dydx/distributed.hpp"

namespace dist = dydx::distributed;

int main(int argc, char** argv) {
  dist::Environment mpi(&argc, &argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "throw" && mode != "die" && mode != "stall") {
    std::cerr << "usage: fault_check throw|die|stall\n";
    return 2;
  }
  dydx::Tensor t = dydx::ones({1000});
  dist::all_reduce(t);  // all ranks alive up to here
  if (dist::rank() == 1) {
    if (mode == "throw") throw std::runtime_error("rank 1 fails on purpose");
    if (mode == "die") std::_Exit(4);
    std::this_thread::sleep_for(std::chrono::seconds(120));
    return 0;
  }
  try {
    dist::all_reduce(t);
  } catch (const dydx::Error& e) {
    std::cerr << "rank " << dist::rank() << " caught: " << e.what() << std::endl;
    return 3;  // the Environment then aborts the job: the timed-out collective is still pending in MPI
  }
  std::cerr << "rank " << dist::rank() << ": all_reduce returned although rank 1 never called it" << std::endl;
  return 0;
}
