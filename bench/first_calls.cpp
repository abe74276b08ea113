// The first calls of a process: an MLP forward pass (2 -> 64 -> 64 -> 64 -> 3, tanh, 10^4 rows, float32) timed in
// blocks of 30 calls from the moment the program starts. OpenBLAS starts its worker threads when it loads and
// each spins for about 0.1 s before it sleeps; dydx stops them at load where it splits products itself
// (cpu::stop_idle_blas_workers). `OPENBLAS_NUM_THREADS=2 build-bench/bench/first_calls` shows a process where
// they spin (dydx then leaves OpenBLAS alone; this MLP's products are dydx's own either way).
#include <dydx/dydx.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

int main() {
  using namespace dydx;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const int64_t sizes[] = {2, 64, 64, 64, 3};
  manual_seed(0);
  TensorList params;
  for (int l = 0; l < 4; ++l) {
    params.push_back(randn({sizes[l + 1], sizes[l]}) * (1.0 / std::sqrt(static_cast<double>(sizes[l]))));
    params.push_back(randn({sizes[l + 1]}) * 0.1);
  }
  const Tensor x = randn({10000, 2});
  NoGradGuard no_grad;
  for (int block = 0; block < 12; ++block) {
    const Clock::time_point t0 = Clock::now();
    for (int call = 0; call < 30; ++call) {
      Tensor h = x;
      for (int l = 0; l < 4; ++l) {
        h = linear(h, params[2 * l], params[2 * l + 1]);
        if (l < 3) h = tanh(h);
      }
    }
    const Clock::time_point t1 = Clock::now();
    std::printf("from %4.0f ms after start: %6.0f us per forward pass\n",
                std::chrono::duration<double, std::milli>(t0 - start).count(),
                std::chrono::duration<double, std::micro>(t1 - t0).count() / 30);
  }
  return 0;
}
