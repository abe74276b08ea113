// The dot-product kernel for products of few rows; see dot_gemm.hpp for when and why it replaces BLAS.
#include "cpu/dot_gemm.hpp"
#include "cpu/kernel_vectors.hpp"

#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace dydx::cpu {

#ifdef DYDX_SKINNY_GEMM
namespace {

using namespace kernel_vectors;

// The sum of a vector's lanes, halves first. (Halves by copy: GCC 12's own _mm512_extractf64x4_pd and
// _mm512_reduce_add_ps warn of an uninitialised variable in its header.)
inline float lane_sum(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
inline double lane_sum(__m256d x) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#if defined(__AVX512F__)
template <class T, class Half>
T lane_sum_of_halves(const Vec<T>& v) {
  Half low, high;
  std::memcpy(&low, &v, sizeof(low));
  std::memcpy(&high, reinterpret_cast<const char*>(&v) + sizeof(low), sizeof(high));
  return lane_sum(low + high);
}
inline float lane_sum(Vec<float> v) { return lane_sum_of_halves<float, __m256>(v); }
inline double lane_sum(Vec<double> v) { return lane_sum_of_halves<double, __m256d>(v); }
#endif

// C[R rows, V columns] from R rows of A and V rows of W (= columns of B). As in skinny_gemm.cpp, the accumulators
// are never addressed as an array, so that GCC keeps them in registers.
template <class T, int R, int V>
void block(const T* a, int64_t lda, const T* w, int64_t ldw, int64_t k, T* c, int64_t ldc, const T* bias) {
  Vec<T> acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = Vec<T>{};
  auto step = [&](auto&& load_at, int64_t p) __attribute__((always_inline)) {
    Vec<T> av[R];
    for (int r = 0; r < R; ++r) {
      av[r] = load_at(a + r * lda + p);
      // Held in registers: otherwise GCC folds A's loads into the multiply-adds and loads each once per row of W.
      asm("" : "+v"(av[r]));
    }
    for (int v = 0; v < V; ++v) {
      Vec<T> wv = load_at(w + v * ldw + p);
      // Likewise: GCC folded W's load into each row's multiply-add, four loads of it where one will do, and
      // the loads (28 a step against 24 multiply-adds) then set the pace: 208 against 240 GFLOP/s on Zen 5
      // for 51 rows of 768 (bench/skinny_gemm.cpp).
      asm("" : "+v"(wv));
      for (int r = 0; r < R; ++r) acc[r][v] += av[r] * wv;
    }
  };
  int64_t p = 0;
  for (; p + kLanes<T> <= k; p += kLanes<T>) step([](const T* at) { return load(at); }, p);
  if (p < k) step([rest = k - p](const T* at) { return load_first(at, rest); }, p);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      const T sum = lane_sum(acc[r][v]);
      T& out = c[r * ldc + v];
      out = bias != nullptr ? bias[v] + sum : sum;
    }
}

// The last rows < R of a column block, in one block of their number.
template <class T, int R, int V>
void last_rows(int64_t rows, const T* a, int64_t lda, const T* w, int64_t ldw, int64_t k, T* c, int64_t ldc,
               const T* bias) {
  if constexpr (R > 0) {
    if (rows == R)
      block<T, R, V>(a, lda, w, ldw, k, c, ldc, bias);
    else
      last_rows<T, R - 1, V>(rows, a, lda, w, ldw, k, c, ldc, bias);
  }
}

// Every row of C against V columns.
template <class T, int V>
void column_block(const T* a, int64_t lda, const T* w, int64_t ldw, int64_t n, int64_t k, T* c, int64_t ldc,
                  const T* bias) {
  int64_t i = 0;
  for (; i + kDotRows <= n; i += kDotRows) block<T, kDotRows, V>(a + i * lda, lda, w, ldw, k, c + i * ldc, ldc, bias);
  last_rows<T, kDotRows - 1, V>(n - i, a + i * lda, lda, w, ldw, k, c + i * ldc, ldc, bias);
}

// The last columns < V, in one column block of their number.
template <class T, int V>
void last_columns(int64_t columns, const T* a, int64_t lda, const T* w, int64_t ldw, int64_t n, int64_t k, T* c,
                  int64_t ldc, const T* bias) {
  if constexpr (V > 0) {
    if (columns == V)
      column_block<T, V>(a, lda, w, ldw, n, k, c, ldc, bias);
    else
      last_columns<T, V - 1>(columns, a, lda, w, ldw, n, k, c, ldc, bias);
  }
}

}  // namespace

template <class T>
void dot_gemm_columns(const T* a, int64_t lda, const T* b, int64_t ldb, int64_t n, int64_t k, T* c, int64_t ldc,
                      const T* bias, int64_t first, int64_t last) {
  int64_t j = first;
  auto at = [&](int64_t col) { return bias != nullptr ? bias + col : nullptr; };
  for (; j + kDotColumns <= last; j += kDotColumns)
    column_block<T, kDotColumns>(a, lda, b + j * ldb, ldb, n, k, c + j, ldc, at(j));
  last_columns<T, kDotColumns - 1>(last - j, a, lda, b + j * ldb, ldb, n, k, c + j, ldc, at(j));
}
#else
template <class T>
void dot_gemm_columns(const T*, int64_t, const T*, int64_t, int64_t, int64_t, T*, int64_t, const T*, int64_t, int64_t) {
}  // never chosen: dot_gemm_fits is false without a vector unit
#endif

template void dot_gemm_columns<float>(const float*, int64_t, const float*, int64_t, int64_t, int64_t, float*, int64_t,
                                      const float*, int64_t, int64_t);
template void dot_gemm_columns<double>(const double*, int64_t, const double*, int64_t, int64_t, int64_t, double*,
                                       int64_t, const double*, int64_t, int64_t);

}  // namespace dydx::cpu
