// What scan.cpp shares with prod.cpp: the result dtype of a scan or product, and the building blocks
// of the rules of products of many factors.
#pragma once

#include <optional>

#include "dydx/ops.hpp"

namespace dydx::ops {

/// The dtype of cumsum, cumprod and prod of x: dtype if given, else int64 for bool (and int64) inputs,
/// x's otherwise, as PyTorch's.
ScalarType scan_dtype(const Tensor& x, std::optional<ScalarType> dtype);

/// True where x is zero or subnormal: where a product's derivative may not divide by x (1 / x would
/// overflow in the second derivative, or divide by zero in the first).
Tensor near_zero(const Tensor& x);

/// Whether the rules may read x's values to choose a form (a quotient where x has no near_zero
/// element): not under a func::compile recording, which must not depend on them, nor for a batch under vmap.
bool values_readable(const Tensor& x);

/// Whether x has a near_zero element, or its values are not readable (then a rule must take the form
/// that holds for any values).
bool has_near_zero(const Tensor& x);

/// sum_{j >= i} t_j along dim: the transpose of cumsum.
Tensor reverse_cumsum(const Tensor& t, int64_t dim);

/// The running Cauchy product along dim (counted from the end) of series given as term lists
/// (terms[0] the primal, terms[k] the k-th normalised coefficient, all defined; the coefficients may
/// carry leading batch dims): position i gets the product of the series at 0..i. Hillis and Steele's
/// scan: ceil(log2 n) steps, each one product of every position with the one `shift` before it, so
/// it records a handful of ops however long the dim (O(n log n) work, for a rule's derivatives only).
TensorList product_scan(TensorList terms, int64_t dim);

/// {x0, c_1, ..., c_K} with undefined coefficients (zero) made zeros of a defined one's shape; empty
/// if none is defined.
TensorList defined_terms(const Tensor& x0, const TensorList& coefficients);

}  // namespace dydx::ops
