// Machine limits for bench/compare: STREAM-style triad bandwidth (GB/s) and OpenBLAS sgemm and dgemm GFLOP/s, as JSON.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <vector>

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median of 5 timed calls after a warm-up.
template <class T>
double time_gemm(int n) {
  std::vector<T> A(size_t(n) * n, T(1)), B(size_t(n) * n, T(0.5)), C(size_t(n) * n, T(0));
  std::vector<double> times;
  for (int r = 0; r < 6; ++r) {
    double t0 = now();
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C.data(), n);
    else
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, C.data(), n);
    times.push_back(now() - t0);
  }
  times.erase(times.begin());
  return median(times);
}
}  // namespace

int main() {
  // Triad a = b + s*c on 2^25 floats (128 MiB per array). Counted as STREAM does: 12 bytes per element
  // (read b, read c, write a), no write-allocate traffic. OpenMP static schedule, first-touch in parallel.
  const long N = 1L << 25;
  float* a = static_cast<float*>(std::aligned_alloc(64, N * sizeof(float)));
  float* b = static_cast<float*>(std::aligned_alloc(64, N * sizeof(float)));
  float* c = static_cast<float*>(std::aligned_alloc(64, N * sizeof(float)));
#pragma omp parallel for schedule(static)
  for (long i = 0; i < N; ++i) a[i] = 0.f, b[i] = 1.f, c[i] = 2.f;
  const float s = 3.f;
  std::vector<double> triad;
  for (int r = 0; r < 11; ++r) {
    double t0 = now();
#pragma omp parallel for schedule(static)
    for (long i = 0; i < N; ++i) a[i] = b[i] + s * c[i];
    triad.push_back(now() - t0);
  }
  triad.erase(triad.begin());  // first pass warms up
  const double triad_s = median(triad), triad_best = *std::min_element(triad.begin(), triad.end());
  volatile float sink = a[N / 2];
  (void)sink;
  std::free(a), std::free(b), std::free(c);

  // sgemm and dgemm 2048 x 2048 x 2048, row-major, OpenBLAS default threads, 2*n^3 flops: the FLOP/s floors of the
  // float32 and float64 workloads.
  const int n = 2048;
  const double sgemm_s = time_gemm<float>(n), dgemm_s = time_gemm<double>(n);
  std::printf(
      "{\"triad_n\": %ld, \"triad_median_s\": %.6g, \"triad_gbs\": %.4g, \"triad_best_gbs\": %.4g, "
      "\"omp_threads\": %d, \"gemm_n\": %d, \"sgemm_median_s\": %.6g, \"sgemm_gflops\": %.4g, "
      "\"dgemm_median_s\": %.6g, \"dgemm_gflops\": %.4g, \"openblas_threads\": %d, \"openblas_core\": \"%s\"}\n",
      N, triad_s, 12.0 * N / triad_s / 1e9, 12.0 * N / triad_best / 1e9, omp_get_max_threads(), n, sgemm_s,
      2.0 * n * n * n / sgemm_s / 1e9, dgemm_s, 2.0 * n * n * n / dgemm_s / 1e9, openblas_get_num_threads(),
      openblas_get_corename());
  return 0;
}
