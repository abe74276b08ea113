// The dtype and the bound checks that clamp, clamp_min, clamp_max and their in-place forms share
// (defined in elementwise_unary.cpp), so that an in-place form can check before it computes.
#pragma once

#include <optional>

#include "dydx/tensor.hpp"

namespace dydx::ops {

/// The dtype a clamp of x computes in, as PyTorch 1.13's result_type of x and the bounds: x's if
/// floating; the default float dtype for an integer or bool x with a floating bound; int64 for a
/// bool x with an integer (non-bool) bound; else x's (bool with only bool bounds: refused).
ScalarType clamp_result_type(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max);
/// Raises, naming op, where PyTorch 1.13 does: an undefined x, no bound, a bool computation (no
/// kernel), and a bound that the computation's dtype cannot hold (a finite double past float32's range).
void check_clamp_bounds(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max,
                        const char* op);

}  // namespace dydx::ops
