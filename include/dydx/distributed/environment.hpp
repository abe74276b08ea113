// The MPI environment: starting and stopping it, this process's rank, and how long a collective may wait.
#pragma once

#include <chrono>

namespace dydx::distributed {

/// Starts MPI unless someone else (the application, another library) already has; safe to call twice.
/// argc/argv may be null. MPI is asked for MPI_THREAD_SERIALIZED: dydx serialises its own MPI calls,
/// which may come from the autograd engine's threads (DataParallel's gradient hooks); an MPI started by
/// someone else at a lower level is refused. dydx's collectives run on its own copy of MPI_COMM_WORLD
/// (MPI_Comm_dup), with MPI_ERRORS_RETURN so that MPI's errors reach dydx (as dydx::Error) instead of
/// aborting; the application's MPI_COMM_WORLD keeps its own handler.
/// On 2 or 3 ranks, when it starts MPI itself, it asks Open MPI for its ring MPI_Iallreduce unless
/// OMPI_MCA_coll_libnbc_iallreduce_algorithm is set (why: environment.cpp).
void init(int* argc = nullptr, char*** argv = nullptr);
/// Stops MPI if init() started it; a no-op otherwise, and when already finalized. After a collective has
/// timed out the communicator can no longer be trusted, so this aborts the whole job (MPI_Abort) instead
/// of risking a hang in MPI_Finalize, whoever started MPI.
void finalize();
/// Whether MPI is started and not yet finalized.
bool is_initialized();

/// init() on construction and finalize() on destruction, for main():
///   dydx::distributed::Environment mpi(&argc, &argv);
class Environment {
 public:
  Environment(int* argc = nullptr, char*** argv = nullptr) { init(argc, argv); }
  ~Environment() { finalize(); }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
};

/// This process's number in MPI_COMM_WORLD, 0 to world_size() - 1.
int rank();
/// The number of processes in MPI_COMM_WORLD.
int world_size();

/// How long a collective waits for the other ranks before throwing dydx::Error (a rank that died, hangs or
/// never calls it). The default is 60 s, or the seconds in the environment variable DYDX_DISTRIBUTED_TIMEOUT.
std::chrono::milliseconds timeout();
void set_timeout(std::chrono::milliseconds timeout);

/// Ends every process of the job at once (MPI_Abort), for a rank that cannot go on.
[[noreturn]] void abort(int error_code = 1);

}  // namespace dydx::distributed
