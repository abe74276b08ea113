// Which kernels dydx's matrix products run.
#pragma once

#include <string>

namespace dydx {

/// The BLAS and kernel set that dydx's matrix products run, and who chose it, e.g. "OpenBLAS
/// SkylakeX (chosen by dydx from the CPU's features; OpenBLAS had picked Prescott)". dydx chooses
/// OpenBLAS's kernels by the CPU's features before its first product (an OpenBLAS older than the
/// CPU picks by model and falls back to far narrower kernels); the environment variable
/// DYDX_BLAS_CORE=keep leaves OpenBLAS's choice, =<OpenBLAS core name> forces one, and =auto chooses
/// by features even where OPENBLAS_CORETYPE is set, which is respected otherwise.
std::string blas_kernel();

}  // namespace dydx
