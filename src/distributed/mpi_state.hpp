// What the distributed component's files share: the lock that serialises MPI calls, the check that MPI
// is started, MPI's return codes as dydx::Error, and the wait that gives up at the deadline.
#pragma once

// The C API only: no C++ bindings (deprecated, and they warn).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <functional>
#include <memory>
#include <initializer_list>
#include <mutex>

#include "dydx/dtype.hpp"
#include "dydx/tensor.hpp"

namespace dydx::distributed::detail {

/// Held around every MPI call: MPI is started with MPI_THREAD_SERIALIZED, and gradient hooks may start
/// collectives from the autograd engine's threads while another thread waits on one.
std::mutex& mpi_mutex();

/// dydx's own communicator, a copy of MPI_COMM_WORLD made at the first use (environment.cpp says why).
MPI_Comm comm();

/// Whether a collective has failed (timed out, or an MPI error): its requests may still be pending.
bool is_broken();
/// Keeps object alive for the rest of the process: a failed collective's pending request may still write
/// into it, and freeing it would let MPI write into memory that has become someone else's.
void keep_forever(std::shared_ptr<void> object);
/// Runs wait (a callable that throws when a collective fails); if it throws, keeps the tensors' memory
/// forever before the exception goes on.
template <class Wait>
void wait_keeping(Wait&& wait, std::initializer_list<Tensor> buffers) {
  try {
    wait();
  } catch (...) {
    for (const Tensor& b : buffers) keep_forever(std::make_shared<Tensor>(b));
    throw;
  }
}

/// Throws unless MPI is started (rank and size stay readable after a timeout, for the error report).
void require_started(const char* api);
/// Throws unless MPI is started and no collective has timed out (after which nothing can be trusted).
void require_usable(const char* api);

/// Throws dydx::Error naming api and MPI's own message when code is not MPI_SUCCESS.
void check_mpi(int code, const char* api);

/// Calls done until it returns true; past timeout() marks the communicator broken and throws dydx::Error.
void wait_until(const std::function<bool()>& done, const char* api);
/// Polls request until it completes; past timeout() marks the communicator broken and throws dydx::Error.
void wait(MPI_Request& request, const char* api);
/// Same, for several requests.
void wait_all(MPI_Request* requests, int count, const char* api);
/// Whether request has completed (it is then MPI_REQUEST_NULL); never blocks.
bool test(MPI_Request& request, const char* api);

/// float32, float64 and int64; other dtypes have no collectives.
bool has_mpi_type(ScalarType dtype);
MPI_Datatype mpi_type(ScalarType dtype);

/// Divides a contiguous float32 or float64 buffer by the number of ranks, element by element (a mean:
/// divided, not multiplied by 1/world, so that it rounds as sum / world does).
void divide_by_world(const Tensor& buffer, int world);

}  // namespace dydx::distributed::detail
