// Matrix products with a short inner dimension and a narrow result, C[n, m] = A[n, k] B[k, m] with
// k <= 128 and m <= 256: the layers of the MLPs that physics-informed networks use (64 x 64 weights
// against thousands of rows). OpenBLAS packs all of A for every such product and runs its AVX2
// kernels on CPUs it does not know; on a 10^4 x 64 by 64 x 64 product it reached 120 GFLOP/s on
// one thread here, where this register-blocked kernel reaches 238 with AVX-512 (bench/skinny_gemm.cpp).
//
// B is packed once into a zero-padded [k, m rounded up to whole vectors] block that stays in L1/L2; each block
// of R rows of A then keeps R x V vectors of C in registers across the whole inner dimension, so
// every loaded B vector feeds R multiply-adds. A row's result depends on that row alone (the sum
// runs over p = 0..k-1 in order), so any split of the rows across threads gives the same bits.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

namespace dydx::cpu {

#if defined(__AVX512F__)
#define DYDX_SKINNY_GEMM 1
inline constexpr int kSkinnyVectorBytes = 64;
inline constexpr int kSkinnyMaxVectors = 4;  // 6 rows x 4 vectors of C, 4 of B and a broadcast: 29 of 32 registers
#elif defined(__AVX2__) && defined(__FMA__)
#define DYDX_SKINNY_GEMM 1
inline constexpr int kSkinnyVectorBytes = 32;
inline constexpr int kSkinnyMaxVectors = 2;  // 6 x 2 accumulators, 2 of B and a broadcast: 15 of 16 registers
#else
inline constexpr int kSkinnyVectorBytes = 0;  // no vector unit to block for: products go to BLAS
inline constexpr int kSkinnyMaxVectors = 0;
#endif

/// Rows of C per register block: splits of the rows into whole blocks leave no short ones.
inline constexpr int64_t kSkinnyRows = 6;

/// Whether C = A B with inner dimension k and m columns, of element type T, takes the skinny kernel.
template <class T>
bool skinny_gemm_fits(int64_t k, int64_t m) {
  return kSkinnyVectorBytes > 0 && (std::is_same_v<T, float> || std::is_same_v<T, double>) && k >= 2 && k <= 128 &&
         m >= 1 && m <= 256;
}

/// Whether C[n, m] = A B with A stored transposed (column-major) takes the skinny kernel, with a
/// long inner dimension k: a layer's weight gradient, x^T g over thousands of rows of x [rows, n] and
/// g [rows, m]. OpenBLAS copies both operands for it and ran the 32 x 3072 by 3072 x 32 product of a
/// physics-informed network's Laplacian at 43 GFLOP/s in float64 (0.073 ms here against 0.147). All
/// of B streams through once per 6 rows of C, so C has few rows and B fits in L2.
template <class T>
bool skinny_gemm_transposed_a_fits(int64_t n, int64_t k, int64_t m) {
  constexpr int64_t kMaxBBytes = int64_t{1} << 20;
  return kSkinnyVectorBytes > 0 && (std::is_same_v<T, float> || std::is_same_v<T, double>) && k >= 2 && n >= 1 &&
         n <= 64 && m >= 1 && m <= 256 && k * ((m + 15) / 16 * 16) * static_cast<int64_t>(sizeof(T)) <= kMaxBBytes;
}

/// Whether one row of C, n wide, takes the kernel whatever the inner dimension: a row of a
/// weight gradient's transpose (one output unit), streamed through once.
template <class T>
bool skinny_gemm_fits_one_row(int64_t n) {
  return kSkinnyVectorBytes > 0 && (std::is_same_v<T, float> || std::is_same_v<T, double>) && n >= 1 && n <= 256;
}

/// B[k, m] (element (p, j) at b[p * row_stride + j * col_stride]) packed for skinny_gemm_rows, with
/// the row that every row of C starts from (a layer's bias; zero when bias is null). B must outlive it.
template <class T>
struct SkinnyPackedB {
  SkinnyPackedB(const T* b, int64_t k, int64_t m, int64_t row_stride, int64_t col_stride, const T* bias = nullptr);
  int64_t k, m, width;  // width: m rounded up to whole vectors
  std::vector<T> data;  // [k, width], zero beyond column m, unless B is already laid out so
  const T* rows;        // B as [k, width]: data, or B itself
  std::vector<T> start;  // [width]: the bias, or empty for none
};

/// Rows [first, last) of C = bias + A B, for A's element (i, p) at a[i * lda + p * a_step] (a_step 1:
/// row-major; lda 1: stored transposed) and C contiguous [n, m]; with accumulate, C += A B (the bias
/// unread).
template <class T>
void skinny_gemm_rows(const T* a, int64_t lda, int64_t a_step, const SkinnyPackedB<T>& b, T* c, int64_t first,
                      int64_t last, bool accumulate = false);

}  // namespace dydx::cpu
