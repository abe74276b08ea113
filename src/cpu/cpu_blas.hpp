// Matrix products through CBLAS (OpenBLAS), reading strided operands without copies where BLAS allows.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::cpu {

/// out[b] = a[b] @ b[b] for each of batch matrices, where a is [batch, n, k] and b is [batch, k, m]
/// (any strides) and out is a fresh contiguous [batch, n, m] of the same dtype. With row_bias, a
/// contiguous [m] of that (floating) dtype, every row of out starts from it: out[b] = bias + a[b] @ b[b].
void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& row_bias = Tensor());

/// c = a @ b, or c += a @ b with accumulate, for row-major [n, k] a and [k, m] b with the given row
/// strides (leading dims), on the calling thread (float and double): for kernels that split their own
/// work across threads, such as a convolution's one product per sample.
template <class T>
void gemm_on_this_thread(int64_t n, int64_t m, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                         int64_t ldc, bool accumulate);
/// The same with either operand stored transposed: a is [k, n] (row stride lda) when trans_a, b is
/// [m, k] (row stride ldb) when trans_b; c is always row-major [n, m].
template <class T>
void gemm_on_this_thread(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const T* a, int64_t lda,
                         const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate);

}  // namespace dydx::cpu
