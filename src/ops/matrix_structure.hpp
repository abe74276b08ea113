// What tril_ and triu_ (inplace.cpp) need of matrix_structure.cpp: the rank check and the in-place band kernel.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::ops {

/// Zeroes, in place, every element of t's matrices (its last two dims; any strides, no two elements
/// at one address) outside the band that tril (lower) or triu keeps at `diagonal`. Writes nothing
/// else and records nothing: the caller has checked the write and bumps the version.
void zero_outside_band(const Tensor& t, int64_t diagonal, bool lower);

/// Raises, naming op, unless x has the two matrix dims tril and triu work on.
void check_band_rank(const Tensor& x, const char* op);

}  // namespace dydx::ops
