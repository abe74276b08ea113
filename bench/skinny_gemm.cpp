// dydx's own product kernels against OpenBLAS on one thread (build-bench/bench/skinny_gemm; BENCHMARKS.md
// quotes its GFLOP/s): the skinny kernel on an MLP layer's shape, C[rows, 64] = A[rows, 64] B[64, 64] in
// float32, and the dot kernel on few rows against a weight, x W^T for x [n, k] and W [m, k] (a linear
// layer on a small batch; 51 rows are one sample's Laplacian stack), both dtypes. dydx's side is the library call,
// which allocates its result each time; OpenBLAS's writes into one allocated once.
#include <dydx/dydx.hpp>

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <utility>
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
  std::printf("\nNarrow results, [10^4, k] x [k, m] (an MLP's last layer), 1 thread, GFLOP/s\n");
  for (int64_t k : {32, 64, 128})
    for (int64_t m : {1, 2, 3, 4, 5, 6, 8})
      for (ScalarType dtype : {kFloat, kDouble}) {
        manual_seed(3);
        const int64_t rows = 10000;
        Tensor a = randn({rows, k}, dtype), b = randn({k, m}, dtype), c = empty({rows, m}, dtype);
        const double flops = 2.0 * rows * m * k;
        const double blas = median_seconds([&] {
          if (dtype == kFloat)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, m, k, 1.0f, a.data_ptr<float>(), k,
                        b.data_ptr<float>(), m, 0.0f, c.data_ptr<float>(), m);
          else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, m, k, 1.0, a.data_ptr<double>(), k,
                        b.data_ptr<double>(), m, 0.0, c.data_ptr<double>(), m);
        });
        const double dydx = median_seconds([&] { c = mm(a, b); });
        std::printf("  k %4ld  m %2ld  %s: OpenBLAS %5.1f, dydx mm %5.1f (%.2fx)\n", static_cast<long>(k),
                    static_cast<long>(m), dtype == kFloat ? "f32" : "f64", flops / blas * 1e-9, flops / dydx * 1e-9,
                    blas / dydx);
      }
  std::printf("\nx [n, k] times W^T for W [m, k], 1 thread: OpenBLAS (cblas_?gemm NT), dydx linear, GFLOP/s\n");
  for (const auto& [k, m] : {std::pair<int64_t, int64_t>{768, 768}, {256, 1024}, {1024, 256}, {64, 1024}, {128, 1024}, {192, 512}, {4096, 256}})
    for (int64_t n : {1, 2, 4, 8, 16, 32, 51, 64, 96, 128})
      for (ScalarType dtype : {kFloat, kDouble}) {
        manual_seed(2);
        Tensor x = randn({n, k}, dtype), w = randn({m, k}, dtype), c = empty({n, m}, dtype);
        const double flops = 2.0 * n * m * k;
        const double blas = median_seconds([&] {
          if (dtype == kFloat)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x.data_ptr<float>(), k,
                        w.data_ptr<float>(), k, 0.0f, c.data_ptr<float>(), m);
          else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0, x.data_ptr<double>(), k,
                        w.data_ptr<double>(), k, 0.0, c.data_ptr<double>(), m);
        });
        const double dydx = median_seconds([&] { c = linear(x, w); });
        std::printf("  n %4ld  k %4ld  m %4ld  %s: OpenBLAS %5.0f, dydx %5.0f (%.2fx)\n", static_cast<long>(n),
                    static_cast<long>(k), static_cast<long>(m), dtype == kFloat ? "f32" : "f64", flops / blas * 1e-9,
                    flops / dydx * 1e-9, blas / dydx);
      }
  return 0;
}
