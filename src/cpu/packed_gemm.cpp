// The packed product of packed_gemm.hpp: Goto's and BLIS's loops. B is packed a block of kKc x kNc at
// a time into panels of kNr columns (each panel read from the nearest caches by every tile of A's
// rows), A a block of kMc x kKc at a time into panels of kMr rows (L2); the kernel multiplies a panel
// of each into a kMr x kNr tile of C held in 24 of the 32 vector registers, one fused multiply-add per
// register per step of k, its A values broadcast from memory. Partial tiles at C's edges go through a
// buffer. On the Zen 5 VM, [2048]^3 on two threads (compare_dydx kernels gemm): float 35-37 ms,
// against 66 ms with OpenBLAS 0.3.21's Haswell kernels and 34-38 ms in JAX (BENCHMARKS.md).
#include "cpu/packed_gemm.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/blas_core.hpp"

namespace dydx::cpu {

// packed_gemm_suits's bounds (see the header).
constexpr int64_t kPackedMinRows = 24, kPackedMinColumns = 64, kPackedMinDepth = 64;

#if defined(__AVX512F__)
namespace {

// The vector of T and its operations.
template <class T>
struct Lanes;
template <>
struct Lanes<float> {
  using V = __m512;
  static V zero() { return _mm512_setzero_ps(); }
  static V broadcast(float v) { return _mm512_set1_ps(v); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
};
template <>
struct Lanes<double> {
  using V = __m512d;
  static V zero() { return _mm512_setzero_pd(); }
  static V broadcast(double v) { return _mm512_set1_pd(v); }
  static V load(const double* p) { return _mm512_load_pd(p); }
  static V loadu(const double* p) { return _mm512_loadu_pd(p); }
  static void storeu(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
};

// The tile and block sizes, timed on the Zen 5 VM (48 KiB L1, 1 MiB L2 per core) for [2048]^3 float:
// 14-row tiles (28 accumulators) were slower than 12; steps of k of 384 and 512, blocks of A of 144 to
// 288 rows, were within a few percent of one another.
constexpr int64_t kMr = 12;  // rows of a tile: 2 kMr accumulators, 2 B vectors
template <class T>
constexpr int64_t kNr = 2 * 64 / static_cast<int64_t>(sizeof(T));  // two vectors
template <class T>
constexpr int64_t kKc = 2048 / static_cast<int64_t>(sizeof(T));  // an A panel, kKc x kMr, is 24 KiB
constexpr int64_t kMc = 144;                                      // an A block, kMc x kKc, is 288 KiB: L2
constexpr int64_t kNcBytes = 9 << 20;                             // a B block, kKc x kNc: L3

// Tile C[0..kMr, 0..kNr) (rows ldc apart) = its A panel (kc x kMr) times its B panel (kc x kNr), added
// to C where add.
template <class T>
[[gnu::noinline]] void kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* c, int64_t ldc, bool add) {
  using L = Lanes<T>;
  constexpr int64_t half = kNr<T> / 2;
  typename L::V low[kMr], high[kMr];
#pragma GCC unroll 12
  for (int64_t i = 0; i < kMr; ++i) {
    // C's tile is read (or written) at the end: fetched while the products run.
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + half), _MM_HINT_T0);
    low[i] = L::zero(), high[i] = L::zero();
  }
  for (int64_t p = 0; p < kc; ++p) {
    const typename L::V b0 = L::load(b + p * kNr<T>), b1 = L::load(b + p * kNr<T> + half);
#pragma GCC unroll 12
    for (int64_t i = 0; i < kMr; ++i) {
      const typename L::V ai = L::broadcast(a[p * kMr + i]);
      low[i] = L::fma(ai, b0, low[i]);
      high[i] = L::fma(ai, b1, high[i]);
    }
  }
#pragma GCC unroll 12
  for (int64_t i = 0; i < kMr; ++i) {
    T* row = c + i * ldc;
    if (add) low[i] = L::add(low[i], L::loadu(row)), high[i] = L::add(high[i], L::loadu(row + half));
    L::storeu(row, low[i]);
    L::storeu(row + half, high[i]);
  }
}

// rows x kc of A into panels of kMr rows, each kc steps of kMr values; rows past the end are zeros.
// The loops run along whichever of A's dims is contiguous, so that the reads are.
template <class T>
void pack_a(const T* a, int64_t row_step, int64_t col_step, int64_t rows, int64_t kc, T* out) {
  for (int64_t first = 0; first < rows; first += kMr) {
    const int64_t count = std::min(kMr, rows - first);
    T* panel = out + first * kc;
    if (row_step == 1 && count == kMr) {  // A stored transposed: kMr contiguous values per step of k
      for (int64_t p = 0; p < kc; ++p) std::memcpy(panel + p * kMr, a + first + p * col_step, kMr * sizeof(T));
      continue;
    }
    for (int64_t i = 0; i < count; ++i) {
      const T* source = a + (first + i) * row_step;
      for (int64_t p = 0; p < kc; ++p) panel[p * kMr + i] = source[p * col_step];
    }
    for (int64_t i = count; i < kMr; ++i)
      for (int64_t p = 0; p < kc; ++p) panel[p * kMr + i] = T(0);
  }
}

// 16 rows of 16 floats, rows[i] at source + i * stride, transposed into 16 vectors: out[c] holds
// element c of every row. Unpacks within 128-bit lanes, then moves of whole lanes.
[[gnu::always_inline]] inline void transpose16(const float* source, int64_t stride, __m512* out) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    const __m512 a = _mm512_loadu_ps(source + i * stride), b = _mm512_loadu_ps(source + (i + 1) * stride);
    t[i] = _mm512_unpacklo_ps(a, b);      // per lane: a0 b0 a1 b1
    t[i + 1] = _mm512_unpackhi_ps(a, b);  // per lane: a2 b2 a3 b3
  }
  for (int g = 0; g < 16; g += 4) {  // rows g..g+3: u[g + q] holds them at column 4 L + q of lane L
    u[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
    u[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
    u[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
    u[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 a0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), a1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
    const __m512 b0 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
    const __m512 b1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
    out[q] = _mm512_shuffle_f32x4(a0, b0, 0x88);
    out[8 + q] = _mm512_shuffle_f32x4(a0, b0, 0xDD);
    out[4 + q] = _mm512_shuffle_f32x4(a1, b1, 0x88);
    out[12 + q] = _mm512_shuffle_f32x4(a1, b1, 0xDD);
  }
}

// kc x cols of B into panels of kNr columns, each kc rows of kNr values; columns past the end are
// zeros. Along B's contiguous dim, as pack_a; B stored transposed (a layer's weight, [out, in]) goes
// through 16 x 16 transposes in registers for float, in steps of 16 of k for double, so that neither
// the reads nor the writes leave L1 (one column at a time, the writes swept a 64 KiB panel per column:
// a one-row Laplacian's products took 2x OpenBLAS's time in this loop).
template <class T>
void pack_b(const T* b, int64_t row_step, int64_t col_step, int64_t kc, int64_t cols, T* out) {
  constexpr int64_t nr = kNr<T>, kStep = 16;
  for (int64_t first = 0; first < cols; first += nr) {
    const int64_t count = std::min(nr, cols - first);
    T* panel = out + first * kc;
    if (col_step == 1 && count == nr) {  // B row-major: kNr contiguous values per step of k
      for (int64_t p = 0; p < kc; ++p) std::memcpy(panel + p * nr, b + p * row_step + first, nr * sizeof(T));
      continue;
    }
    if (count < nr)
      for (int64_t p = 0; p < kc; ++p) std::fill(panel + p * nr + count, panel + (p + 1) * nr, T(0));
    int64_t p0 = 0;
    if constexpr (std::is_same_v<T, float>) {
      if (row_step == 1 && count == nr) {
        __m512 columns[16];
        for (; p0 + kStep <= kc; p0 += kStep)
          for (int64_t half = 0; half < nr; half += 16) {
            transpose16(b + (first + half) * col_step + p0, col_step, columns);
            for (int64_t c = 0; c < kStep; ++c) _mm512_store_ps(panel + (p0 + c) * nr + half, columns[c]);
          }
      }
    }
    for (; p0 < kc; p0 += kStep)
      for (int64_t j = 0; j < count; ++j) {
        const T* source = b + (first + j) * col_step;
        for (int64_t p = p0; p < std::min(kc, p0 + kStep); ++p) panel[p * nr + j] = source[p * row_step];
      }
  }
}

// A buffer of this thread's, 64-byte aligned, kept between calls and grown as needed.
template <class T, int kWhich>
T* thread_buffer(int64_t count) {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<T, Free> buffer;
  thread_local int64_t capacity = 0;
  if (capacity < count) {
    const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    buffer.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    if (!buffer) throw std::bad_alloc();
    capacity = count;
  }
  return buffer.get();
}

}  // namespace

template <class T>
void packed_gemm(int64_t n, int64_t m, int64_t k, const T* a, int64_t a_row_step, int64_t a_col_step, const T* b,
                 int64_t b_row_step, int64_t b_col_step, T* c, int64_t ldc, bool accumulate) {
  if (n <= 0 || m <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < n; ++i) std::fill(c + i * ldc, c + i * ldc + m, T(0));
    return;
  }
  constexpr int64_t nr = kNr<T>, kc_step = kKc<T>;
  const int64_t nc_max = std::max(nr, kNcBytes / static_cast<int64_t>(sizeof(T)) / kc_step / nr * nr);
  const int64_t kc_max = std::min(kc_step, k), mc_max = std::min(kMc, (n + kMr - 1) / kMr * kMr);
  const int64_t nc_cap = std::min(nc_max, (m + nr - 1) / nr * nr);
  T* packed_a = thread_buffer<T, 0>(mc_max * kc_max);
  T* packed_b = thread_buffer<T, 1>(nc_cap * kc_max);
  alignas(64) T edge[kMr * nr];
  for (int64_t jc = 0; jc < m; jc += nc_cap) {
    const int64_t nc = std::min(nc_cap, m - jc);
    for (int64_t pc = 0; pc < k; pc += kc_step) {
      const int64_t kc = std::min(kc_step, k - pc);
      const bool add = accumulate || pc > 0;
      pack_b(b + pc * b_row_step + jc * b_col_step, b_row_step, b_col_step, kc, nc, packed_b);
      for (int64_t ic = 0; ic < n; ic += kMc) {
        const int64_t mc = std::min(kMc, n - ic);
        pack_a(a + ic * a_row_step + pc * a_col_step, a_row_step, a_col_step, mc, kc, packed_a);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t cols = std::min(nr, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            const int64_t rows = std::min(kMr, mc - ir);
            T* tile = c + (ic + ir) * ldc + jc + jr;
            const T* pa = packed_a + ir * kc;
            const T* pb = packed_b + jr * kc;
            if (rows == kMr && cols == nr) {
              kernel<T>(kc, pa, pb, tile, ldc, add);
              continue;
            }
            for (int64_t i = 0; i < rows; ++i)
              for (int64_t j = 0; j < cols; ++j) edge[i * nr + j] = add ? tile[i * ldc + j] : T(0);
            kernel<T>(kc, pa, pb, edge, nr, add);
            for (int64_t i = 0; i < rows; ++i)
              for (int64_t j = 0; j < cols; ++j) tile[i * ldc + j] = edge[i * nr + j];
          }
        }
      }
    }
  }
}

bool packed_gemm_available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");  // false for a build for AVX-512 run on another CPU
}

bool packed_gemm_in_use() {
  static const bool in_use = [] {
    const char* setting = std::getenv("DYDX_GEMM");
    const std::string_view mode = setting != nullptr ? setting : "";
    if (mode == "openblas" || !packed_gemm_available()) return false;
    return mode == "dydx" || openblas_narrower_than_avx512();
  }();
  return in_use;
}

template void packed_gemm<float>(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t,
                                 int64_t, float*, int64_t, bool);
template void packed_gemm<double>(int64_t, int64_t, int64_t, const double*, int64_t, int64_t, const double*, int64_t,
                                  int64_t, double*, int64_t, bool);

#else  // no AVX-512 in this build: OpenBLAS's products

bool packed_gemm_available() { return false; }
bool packed_gemm_in_use() { return false; }

template <class T>
void packed_gemm(int64_t, int64_t, int64_t, const T*, int64_t, int64_t, const T*, int64_t, int64_t, T*, int64_t, bool) {
  std::abort();  // unreachable: packed_gemm_in_use() is false
}
template void packed_gemm<float>(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t,
                                 int64_t, float*, int64_t, bool);
template void packed_gemm<double>(int64_t, int64_t, int64_t, const double*, int64_t, int64_t, const double*, int64_t,
                                  int64_t, double*, int64_t, bool);

#endif

bool packed_gemm_suits(int64_t n, int64_t m, int64_t k) {
  return n >= kPackedMinRows && m >= kPackedMinColumns && k >= kPackedMinDepth && packed_gemm_in_use();
}

}  // namespace dydx::cpu
