// scan.cpp's helpers: the result dtype of a scan or product and the reversed running sum (cumsum's transpose).
#pragma once

#include <optional>

#include "dydx/ops.hpp"

namespace dydx::ops {

/// The dtype of cumsum, cumprod and prod of x: dtype if given, else int64 for bool (and int64) inputs,
/// x's otherwise, as PyTorch's.
ScalarType scan_dtype(const Tensor& x, std::optional<ScalarType> dtype);

/// sum_{j >= i} t_j along dim: the transpose of cumsum.
Tensor reverse_cumsum(const Tensor& t, int64_t dim);

}  // namespace dydx::ops
