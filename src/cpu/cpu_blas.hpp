// Matrix products through CBLAS (OpenBLAS), reading strided operands without copies where BLAS allows.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::cpu {

/// out[b] = a[b] @ b[b] for each of batch matrices, where a is [batch, n, k] and b is [batch, k, m]
/// (any strides) and out is a fresh contiguous [batch, n, m] of the same dtype. With row_bias, a
/// contiguous [m] of that (floating) dtype, every row of out starts from it: out[b] = bias + a[b] @ b[b].
void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& row_bias = Tensor());

}  // namespace dydx::cpu
