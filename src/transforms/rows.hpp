// What the per-row operators share with batch_jacobian and laplacian (src/transforms/batch.cpp): the
// checks on x, f and the options, and running a computation over slices of chunk_size rows.
#pragma once

#include <functional>

#include "dydx/func.hpp"

namespace dydx::func::detail {

/// The checks every per-row operator makes before it computes: x has a batch dim and a floating
/// dtype, chunk_size is valid and, with check_independence, f maps each row by itself.
void check_row_wise_call(const UnaryFunction& f, const Tensor& x, const BatchOptions& options, const char* op);
/// f(x) keeps x's batch dim.
void check_row_wise_output(const Tensor& x, const Tensor& y, const char* op);
/// sum_j D^2 f(x_b) along directions[j] ([r, B, ...in], one per row or expanded), each row's [B, ...out],
/// from one pass of f at a forward-Laplacian level with those r directions (laplacian's, with e_1..e_d).
Tensor sum_of_second_derivatives(const UnaryFunction& f, const Tensor& x, const Tensor& directions);
/// Delta^2 f(x_b) for every row, [B, ...out], from one pass of f at a biharmonic level
/// (forward::make_biharmonic_level); raises forward::NoBiharmonicRule where an op of f has no rule.
Tensor biharmonic_in_one_pass(const UnaryFunction& f, const Tensor& x);
/// compute(x), or compute over slices of at most chunk_size rows written into one result.
Tensor over_row_chunks(const UnaryFunction& f, const Tensor& x, int64_t chunk_size, const char* op,
                       const std::function<Tensor(const Tensor&)>& compute);

}  // namespace dydx::func::detail
