// dydx's own kernel for large products on AVX-512 CPUs, for where OpenBLAS's kernels are narrower
// than the CPU (BENCHMARKS.md: a Zen 5 VM whose environment sets OPENBLAS_CORETYPE=Haswell ran sgemm
// at half its speed).
#pragma once

#include <cstdint>

namespace dydx::cpu {

/// Whether packed_gemm can run: dydx was built for AVX-512 and the CPU has it.
bool packed_gemm_available();

/// Whether products go to packed_gemm rather than OpenBLAS: dydx was built for AVX-512 and OpenBLAS's
/// kernels are narrower than that, or DYDX_GEMM=dydx. DYDX_GEMM=openblas keeps OpenBLAS's. Decided once.
bool packed_gemm_in_use();

/// Whether a product of [n, k] by [k, m] goes to packed_gemm: packed_gemm_in_use() and n >= 24, m >= 64,
/// k >= 64, where its tiles (12 rows by two vectors' columns) and its packing pay. On the Zen 5 VM,
/// OpenBLAS's Haswell kernels were faster on a convolution's per-sample products (16 output channels:
/// 16 x 9 by 9 x 784, 144 x 16 by 16 x 784), slower from 24 rows on (BENCHMARKS.md).
bool packed_gemm_suits(int64_t n, int64_t m, int64_t k);

/// C = A B (or C += A B with accumulate) on the calling thread, for float or double: A(i, p) at
/// a[i * a_row_step + p * a_col_step] for i < n, p < k; B(p, j) at b[p * b_row_step + j * b_col_step] for
/// j < m; C row-major with rows ldc apart. Each element of C is the same sum in the same order (blocks
/// of k, fused multiply-adds) whatever the other rows and columns: a block of C's rows or columns
/// computed alone has the bits of the whole product. With k = 0, C is zeroed (or left, with
/// accumulate); C is never read without accumulate, so its nans do not pass.
template <class T>
void packed_gemm(int64_t n, int64_t m, int64_t k, const T* a, int64_t a_row_step, int64_t a_col_step, const T* b,
                 int64_t b_row_step, int64_t b_col_step, T* c, int64_t ldc, bool accumulate);

}  // namespace dydx::cpu
