// What the per-row operators share with batch_jacobian and laplacian (src/transforms/batch.cpp): the
// checks on x, f and the options, and running a computation over slices of chunk_size rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>

#include "dydx/func.hpp"

namespace dydx::func::detail {

/// A row of a batch: t's shape without its first (batch) dim.
inline Dims row_shape(const Tensor& t) { return Dims(t.sizes().begin() + 1, t.sizes().end()); }

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
/// The chunk_size the operators that stack `slices` tangents per row (laplacian's d + 1, weighted_
/// laplacian's r + 1, biharmonic's) take when the caller gives 0: rows whose stacks together hold
/// at most kStackedRows rows. Their stacks are memory-bound between products: at 455 rows of x [B, 50]
/// through a layer of 768 (71 MB a stack) a row of the forward Laplacian took a quarter longer than
/// at 228 rows (36 MB); in slices of 80 rows the whole took 277 -> 205 ms (bench/compare taylor), and
/// the Laplacian of an MLP 2-64-64-64-3 at 10^5 rows (bench/compare mlp) 99 -> 59 ms. Slices also
/// bound the peak memory (BENCHMARKS.md).
/// The slices are of equal size (to a row), so that each slice's buffers are the sizes the block
/// cache kept from the one before: slices of 160, 160 and 135 rows held the first ones' buffers
/// while the last allocated its own, 100 MiB of resident memory beyond the tensors.
constexpr int64_t kStackedRows = 4096;
inline int64_t stacked_chunk_size(int64_t chunk_size, int64_t slices, int64_t rows) {
  if (chunk_size != 0) return chunk_size;
  const int64_t most = std::max<int64_t>(1, kStackedRows / std::max<int64_t>(1, slices));
  const int64_t pieces = (rows + most - 1) / most;
  return pieces <= 1 ? most : (rows + pieces - 1) / pieces;
}
/// compute(x), or compute over slices of at most chunk_size rows written into one result;
/// sliced_by_default: slices the caller did not ask for, dropped where f does not map rows by themselves.
Tensor over_row_chunks(const UnaryFunction& f, const Tensor& x, int64_t chunk_size, const char* op,
                       const std::function<Tensor(const Tensor&)>& compute, bool sliced_by_default = false);

}  // namespace dydx::func::detail
