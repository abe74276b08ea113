// Starting and stopping MPI, rank and size, the timeout, and the waits that honour it.
#include "dydx/distributed/environment.hpp"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <vector>
#include <iostream>
#include <string>
#include <thread>

#include "distributed/mpi_state.hpp"
#include "dydx/error.hpp"

namespace dydx::distributed {

namespace {

// Whether init() started MPI (and so finalize() stops it); one who started it before us stops it too.
bool started_here = false;
// Set when a collective timed out: its request is still pending in MPI and the ranks may disagree on
// what comes next, so no further collective is started and finalize() aborts rather than hang.
std::atomic<bool> broken{false};

std::chrono::milliseconds timeout_from_environment() {
  const char* text = std::getenv("DYDX_DISTRIBUTED_TIMEOUT");
  if (!text || !*text) return std::chrono::seconds(60);
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  DYDX_CHECK(end && *end == '\0' && seconds > 0 && seconds < 1e9, "distributed: DYDX_DISTRIBUTED_TIMEOUT=", text,
             " is not a positive number of seconds");
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

std::atomic<int64_t> timeout_ms{-1};  // -1: not read from the environment yet

// Open MPI 4.1's nonblocking MPI_Iallreduce (its libnbc component, the one dydx's deadline needs) reduces
// to one rank and broadcasts back on fewer than 4 ranks, which takes twice as long as its blocking
// MPI_Allreduce for large buffers (2 ranks, 256 MiB: 572 against 247 ms); its ring algorithm moves the
// same data as the blocking one (121 against 121 ms) and is as fast for small buffers there. From 4 ranks
// on, its default choice already matches the blocking one. So a job of 2 or 3 ranks (mpirun's
// OMPI_COMM_WORLD_SIZE, read before MPI starts) gets the ring, unless the user chose an algorithm.
// BENCHMARKS.md, "Distributed (MPI)", has the figures.
void choose_ring_all_reduce_for_small_jobs() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!size || std::getenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm")) return;
  const int world = std::atoi(size);
  if (world >= 2 && world < 4) setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);  // 1: ring
}

}  // namespace

void init(int* argc, char*** argv) {
  {
    std::lock_guard<std::mutex> lock(detail::mpi_mutex());
    int finalized = 0;
    MPI_Finalized(&finalized);
    DYDX_CHECK(!finalized, "distributed::init: MPI was already finalized and cannot be started again");
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      choose_ring_all_reduce_for_small_jobs();
      int provided = 0;
      detail::check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "distributed::init");
      started_here = true;
    }
    // Whoever started MPI: gradient hooks may call it from the autograd engine's threads.
    int provided = 0;
    MPI_Query_thread(&provided);
    DYDX_CHECK(provided >= MPI_THREAD_SERIALIZED, "distributed::init: MPI runs at thread level ", provided,
               ", below MPI_THREAD_SERIALIZED, which gradient hooks on the autograd engine's threads need; start it "
               "with MPI_Init_thread(..., MPI_THREAD_SERIALIZED, ...)");
  }
  detail::comm();
}

namespace detail {

// dydx's own copy of MPI_COMM_WORLD, made at the first use (init(), or the first collective when the
// application started MPI): its collectives never match the application's own, and its error handler
// (MPI_ERRORS_RETURN: errors come back as codes, which dydx turns into dydx::Error) leaves the
// application's MPI_COMM_WORLD as it was. Rank and size are read once, here, so that reading them
// later needs no MPI call (and so no lock).
namespace {
MPI_Comm own_comm = MPI_COMM_NULL;
int own_rank = 0, own_size = 1;
std::once_flag comm_made;
}  // namespace

MPI_Comm comm() {
  std::call_once(comm_made, [] {
    std::lock_guard<std::mutex> lock(mpi_mutex());
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &own_comm), "distributed::init");
    MPI_Comm_set_errhandler(own_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(own_comm, &own_rank);
    MPI_Comm_size(own_comm, &own_size);
  });
  return own_comm;
}

}  // namespace detail

void finalize() {
  std::unique_lock<std::mutex> lock(detail::mpi_mutex());
  if (!is_initialized()) return;
  // After a timeout, even an MPI that the application started would hang in its own MPI_Finalize.
  if (broken.load()) {
    lock.unlock();
    std::cerr << "dydx::distributed: a collective timed out on rank " << rank()
              << "; aborting the job instead of finalizing MPI" << std::endl;
    abort(1);
  }
  if (!started_here) return;
  if (detail::own_comm != MPI_COMM_NULL) MPI_Comm_free(&detail::own_comm);
  MPI_Finalize();
  started_here = false;
}

bool is_initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

int rank() {
  detail::require_started("distributed::rank");
  detail::comm();
  return detail::own_rank;
}

int world_size() {
  detail::require_started("distributed::world_size");
  detail::comm();
  return detail::own_size;
}

std::chrono::milliseconds timeout() {
  int64_t ms = timeout_ms.load();
  if (ms < 0) {
    ms = timeout_from_environment().count();
    timeout_ms.store(ms);
  }
  return std::chrono::milliseconds(ms);
}

void set_timeout(std::chrono::milliseconds t) {
  DYDX_CHECK(t.count() > 0, "distributed::set_timeout: the timeout must be positive, got ", t.count(), " ms");
  timeout_ms.store(t.count());
}

void abort(int error_code) {
  MPI_Abort(MPI_COMM_WORLD, error_code);
  std::abort();  // MPI_Abort does not return; this tells the compiler so
}

namespace detail {

std::mutex& mpi_mutex() {
  static std::mutex m;
  return m;
}

void require_started(const char* api) {
  DYDX_CHECK(is_initialized(), api, ": MPI is not started; call dydx::distributed::init() (or construct a "
             "dydx::distributed::Environment) first");
}

void require_usable(const char* api) {
  require_started(api);
  DYDX_CHECK(!broken.load(), api, ": an earlier collective timed out, so the ranks can no longer be trusted to "
             "agree; end the job");
}

// An MPI error leaves requests pending and the ranks out of step (one rank's agreement matched against
// another's bucket gave MPI_ERR_TRUNCATE), so it breaks the communicator as a timeout does.
void check_mpi(int code, const char* api) {
  if (code == MPI_SUCCESS) return;
  broken.store(true);
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  ::dydx::detail::fail(api, ": MPI error: ", std::string(text, length),
                       "; the ranks are out of step (a collective called on some ranks only, or a DataParallel "
                       "backward that raised on some), so the job cannot go on");
}

bool is_broken() { return broken.load(); }

void keep_forever(std::shared_ptr<void> object) {
  static std::mutex m;
  static auto* kept = new std::vector<std::shared_ptr<void>>;  // never destroyed: reachable, so no leak report
  std::lock_guard<std::mutex> lock(m);
  kept->push_back(std::move(object));
}

// Spins on done (an MPI_Test: Open MPI progresses its transfers inside it) and yields the core now and
// then, so that ranks sharing cores (mpirun --oversubscribe) still get to run.
void wait_until(const std::function<bool()>& done, const char* api) {
  const auto limit = timeout();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (unsigned spins = 0;; ++spins) {
    if (done()) return;
    if (std::chrono::steady_clock::now() > deadline) {
      broken.store(true);
      ::dydx::detail::fail(api, ": timed out after ", limit.count() / 1000.0,
                   " s waiting for the other ranks (one may have died, be stuck, or not have called ", api,
                   "); the job cannot go on (set the limit with DYDX_DISTRIBUTED_TIMEOUT, in seconds)");
    }
    if (spins % 64 == 63) std::this_thread::yield();
  }
}

bool test(MPI_Request& request, const char* api) {
  std::lock_guard<std::mutex> lock(mpi_mutex());
  int done = 0;
  check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), api);
  return done != 0;
}

void wait(MPI_Request& request, const char* api) {
  wait_until([&] { return test(request, api); }, api);
}

void wait_all(MPI_Request* requests, int count, const char* api) {
  wait_until(
      [&] {
        std::lock_guard<std::mutex> lock(mpi_mutex());
        int done = 0;
        check_mpi(MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE), api);
        return done != 0;
      },
      api);
}

bool has_mpi_type(ScalarType dtype) {
  return dtype == kFloat32 || dtype == kFloat64 || dtype == kInt64;
}

MPI_Datatype mpi_type(ScalarType dtype) {
  switch (dtype) {
    case ScalarType::Float32: return MPI_FLOAT;
    case ScalarType::Float64: return MPI_DOUBLE;
    case ScalarType::Int64: return MPI_INT64_T;
    default: ::dydx::detail::fail("distributed: no MPI type for dtype ", dtype);
  }
}

}  // namespace detail
}  // namespace dydx::distributed
