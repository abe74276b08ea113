// The skinny-product kernel against OpenBLAS on one thread, on an MLP layer's shape: C[rows, 64] =
// A[rows, 64] B[64, 64], float32. BENCHMARKS.md quotes its GFLOP/s (build-bench/bench/skinny_gemm).
#include <dydx/dydx.hpp>

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

namespace {

double median_seconds(const std::function<void()>& f) {
  std::vector<double> times;
  for (int rep = 0; rep < 31; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    f();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main() {
  using namespace dydx;
  set_num_threads(1);
  openblas_set_num_threads(1);
  for (int64_t rows : {10000, 100000}) {
    manual_seed(1);
    Tensor a = randn({rows, 64}), b = randn({64, 64}), c = empty({rows, 64});
    const double flops = 2.0 * rows * 64 * 64;
    const double blas = median_seconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, 64, 64, 1.0f, a.data_ptr<float>(), 64,
                  b.data_ptr<float>(), 64, 0.0f, c.data_ptr<float>(), 64);
    });
    const double dydx = median_seconds([&] { c = mm(a, b); });
    std::printf("[%ld, 64] x [64, 64], 1 thread: OpenBLAS %.0f GFLOP/s, dydx mm %.0f GFLOP/s (%.2fx)\n",
                static_cast<long>(rows), flops / blas * 1e-9, flops / dydx * 1e-9, blas / dydx);
  }
  return 0;
}
