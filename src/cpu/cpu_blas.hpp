// Matrix products through CBLAS (OpenBLAS), reading strided operands without copies where BLAS allows.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::cpu {

/// out[b] = a[b] @ b[b] for each of batch matrices, where a is [batch, n, k] and b is [batch, k, m]
/// (any strides) and out is a fresh contiguous [batch, n, m] of the same dtype.
void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b);

}  // namespace dydx::cpu
