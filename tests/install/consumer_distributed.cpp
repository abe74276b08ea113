// Uses the installed dydx::distributed: one process (no mpirun: MPI's singleton start), whose all_reduce
// and all_gather give its own tensor back.
#include <dydx/distributed.hpp>
#include <dydx/dydx.hpp>

#include <iostream>

int main(int argc, char** argv) {
  dydx::distributed::Environment mpi(&argc, &argv);
  dydx::Tensor t = dydx::tensor({1.5, -2.0});
  dydx::distributed::all_reduce(t);
  const bool same = dydx::distributed::world_size() == 1 && dydx::equal(t, dydx::tensor({1.5, -2.0})) &&
                    dydx::distributed::all_gather(t).size() == 1;
  std::cout << "dydx::distributed on " << dydx::distributed::world_size() << " rank: " << (same ? "ok" : "wrong")
            << "\n";
  return same ? 0 : 1;
}
