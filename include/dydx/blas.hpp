// Which kernels dydx's matrix products run.
#pragma once

#include <string>

namespace dydx {

/// The BLAS and kernel set that dydx's matrix products run, and who chose it, e.g. "OpenBLAS
/// SkylakeX (chosen by dydx from the CPU's features; OpenBLAS had picked Prescott)". dydx chooses
/// OpenBLAS's kernels by the CPU's features before its first product (an OpenBLAS older than the
/// CPU picks by model and falls back to far narrower kernels); the environment variable
/// DYDX_BLAS_CORE=keep leaves OpenBLAS's choice, =<OpenBLAS core name> forces one, and =auto chooses
/// by features even where OPENBLAS_CORETYPE is set, which is respected otherwise. Where dydx is built
/// for AVX-512 on a CPU that has it and OpenBLAS's kernels are narrower, products of at least 24 x 64
/// with an inner dim of 64 or more run in dydx's own packed AVX-512 kernel, and the text starts "dydx's
/// packed AVX-512 kernel for large products"; DYDX_GEMM=openblas keeps OpenBLAS's, DYDX_GEMM=dydx
/// uses dydx's wherever the CPU has AVX-512.
std::string blas_kernel();

}  // namespace dydx
