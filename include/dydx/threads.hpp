// How many threads dydx's own kernels use. Matrix products split their rows across the same threads, with
// OpenBLAS on one thread (set when dydx loads), unless OPENBLAS_NUM_THREADS is set: then OpenBLAS threads as
// told and dydx does not split its products.
#pragma once

namespace dydx {

/// The number of threads large elementwise kernels, reductions and products split across (the calling
/// thread included). Defaults to the environment variable DYDX_NUM_THREADS, else to the number of
/// cores this process may run on. If the system refuses to start some of them (a limit on tasks
/// such as RLIMIT_NPROC), dydx runs with those it could start and this returns that smaller count.
int get_num_threads();
/// Sets it, from 1 (every kernel runs on the calling thread) to max_num_threads(); anything else
/// is a dydx::Error, as is DYDX_NUM_THREADS outside that range. Threads start on the next large op.
void set_num_threads(int n);
/// The bound on set_num_threads: 256, or twice the machine's hardware threads if that is more.
/// More threads than cores never make the kernels faster; the bound keeps a mistaken count (say
/// 40000) from using up the tasks that the machine allows every process together.
int max_num_threads();

}  // namespace dydx
