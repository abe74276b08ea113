// all_reduce bandwidth, 1 KiB to 256 MiB of float32: dydx::distributed::all_reduce against Open MPI's own
// MPI_Allreduce (blocking, in place) and MPI_Iallreduce + MPI_Wait (the nonblocking collective dydx polls),
// in the same run on the same buffers. Run it under mpirun: bench/distributed/run.sh.
//
// Each size runs for about --seconds (default 0.3) after one warm-up call per method, the methods taking
// turns in rounds so that a drift of the machine touches all three alike. Rank 0 prints per size the
// time per call (the fastest round's mean) and the bus bandwidth, 2 (n - 1) / n * bytes / time, as
// nccl-tests and OSU's benchmarks report it: what each rank's link carries in a ring all-reduce.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <dydx/distributed.hpp>
#include <dydx/dydx.hpp>

namespace dist = dydx::distributed;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Seconds per call of op over `calls` calls, ranks lined up first and the slowest rank's time taken.
template <class Op>
double time_calls(Op op, int calls) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = now();
  for (int k = 0; k < calls; ++k) op();
  double elapsed = now() - start;
  MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return elapsed / calls;
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment mpi(&argc, &argv);
  double seconds = 0.3;
  int64_t max_bytes = int64_t{256} << 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--max-bytes")) max_bytes = std::stoll(argv[i + 1]);
  }
  const int n = dist::world_size();
  const bool chief = dist::rank() == 0;
  if (chief)
    std::printf("all_reduce (sum, float32, in place) on %d ranks; bus bandwidth = 2(n-1)/n * bytes / time\n"
                "%10s %14s %14s %14s %12s %12s %12s %9s\n",
                n, "bytes", "MPI_Allreduce", "MPI_Iallreduce", "dydx", "GB/s MPI", "GB/s Iall", "GB/s dydx",
                "dydx/MPI");
  for (int64_t bytes = 1024; bytes <= max_bytes; bytes *= 4) {
    const int count = static_cast<int>(bytes / 4);
    dydx::Tensor t = dydx::full({count}, 1.0f / 1024);
    float* data = t.data_ptr<float>();
    auto plain = [&] { MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); };
    auto nonblocking = [&] {
      MPI_Request r;
      MPI_Iallreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    };
    auto ours = [&] { dist::all_reduce(t); };
    // Calls per round from one timed call, the same on every rank (rank 0's estimate).
    plain();
    nonblocking();
    ours();
    double once = time_calls(plain, 1);
    MPI_Bcast(&once, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    const int calls = std::max(1, static_cast<int>(seconds / 5 / std::max(once, 1e-7)));
    double best[3] = {1e30, 1e30, 1e30};
    for (int round = 0; round < 5; ++round) {
      best[0] = std::min(best[0], time_calls(plain, calls));
      best[1] = std::min(best[1], time_calls(nonblocking, calls));
      best[2] = std::min(best[2], time_calls(ours, calls));
    }
    const double bus = 2.0 * (n - 1) / n * static_cast<double>(bytes) / 1e9;
    if (chief)
      std::printf("%10lld %12.2f us %12.2f us %12.2f us %12.3f %12.3f %12.3f %9.3f\n", static_cast<long long>(bytes),
                  best[0] * 1e6, best[1] * 1e6, best[2] * 1e6, bus / best[0], bus / best[1], bus / best[2],
                  best[2] / best[0]);
  }
  return 0;
}
