// Products of few rows against a matrix stored by columns, C[n, m] = A[n, k] B[k, m] with B given as W = B^T [m, k]
// row-major: a linear layer on a small batch (x W^T), and one sample's Laplacian, whose 51 stacked tangent rows
// meet each 768 x 768 weight. OpenBLAS copies (packs) all of W for every such product and then uses each packed
// element only n times, so at few rows the copy costs as much as the arithmetic (bench/skinny_gemm.cpp times both).
//
// This kernel reads W where it lies, as dot products: a block of R rows of A and V rows of W keeps R x V vectors of
// partial sums in registers along the whole inner dimension, and adds each vector's lanes once at the end. The V
// rows of W stay in L1 while every block of A's rows passes them, and A's n rows stay in L2. Each element of C is
// one dot product of a row of A and a row of W, summed in an order fixed by k alone, so any split of the rows or
// columns across threads gives the same bits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cpu/skinny_gemm.hpp"

namespace dydx::cpu {

#if defined(__AVX512F__)
inline constexpr int kDotRows = 4;  // 4 x 6 accumulators, 4 rows of A and one of W: 29 of 32 registers
inline constexpr int kDotColumns = 6;
#else
inline constexpr int kDotRows = 3;  // 3 x 4 accumulators, 3 rows of A and one of W: 16 of 16 registers
inline constexpr int kDotColumns = 4;
#endif

/// Whether C[n, m] = A B, A row-major [n, k] and B stored transposed, takes the dot kernel: where it beat
/// OpenBLAS in bench/skinny_gemm.cpp. Up to k / 4 rows but at most 64: each dot product ends in a sum of
/// one vector's lanes, which a short inner dimension pays for in few multiply-adds, and beyond 64 rows
/// the copy of W is shared by enough rows to pay for itself. From 4 rows, or from one where the product
/// is large enough to split across threads: OpenBLAS's own small-matrix kernel reads one to three rows
/// against a W in cache faster, but from memory the dot kernel is as fast or faster, and its entries do
/// not depend on how the columns are split (OpenBLAS's pieces do). A's rows stay in L2.
inline constexpr int64_t kDotMinRows = 4;
inline constexpr int64_t kDotMaxRows = 64;
inline constexpr int64_t kDotMinWorkFewRows = int64_t{1} << 19;  // multiply-adds: twice gemm()'s grain
inline constexpr int64_t kDotMaxABytes = int64_t{1} << 20;
template <class T>
bool dot_gemm_fits(int64_t n, int64_t k, int64_t m) {
  return kSkinnyVectorBytes > 0 && (std::is_same_v<T, float> || std::is_same_v<T, double>) && n >= 1 &&
         n <= std::min(kDotMaxRows, k / 4) && m >= 1 && (n >= kDotMinRows || n * k * m >= kDotMinWorkFewRows) &&
         n * k * static_cast<int64_t>(sizeof(T)) <= kDotMaxABytes;
}

/// Columns [first, last) of C[n, m] = bias + A B, for A's element (i, p) at a[i * lda + p], B's (p, j) at b[j * ldb
/// + p] and C's (i, j) at c[i * ldc + j]; bias null for none.
template <class T>
void dot_gemm_columns(const T* a, int64_t lda, const T* b, int64_t ldb, int64_t n, int64_t k, T* c, int64_t ldc,
                      const T* bias, int64_t first, int64_t last);

}  // namespace dydx::cpu
