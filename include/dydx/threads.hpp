// How many threads dydx's own kernels use (OpenBLAS keeps its own setting, OPENBLAS_NUM_THREADS).
#pragma once

namespace dydx {

/// The number of threads large elementwise kernels and reductions split across (the calling
/// thread included). Defaults to the environment variable DYDX_NUM_THREADS, else to the number of
/// cores this process may run on.
int get_num_threads();
/// Sets it; n must be at least 1 (1 runs every kernel on the calling thread).
void set_num_threads(int n);

}  // namespace dydx
