// The basis directions every Jacobian is built from, and the one loop that pushes them (or a
// batch's rows) through f a chunk at a time.
#pragma once

#include <algorithm>
#include <cstdint>

#include "dydx/tensor.hpp"

namespace dydx::func::detail {

/// Throws unless chunk_size is positive or 0 (0: everything in one chunk); every transform taking
/// a chunk_size checks it here, so all of them say the same.
void check_chunk_size(int64_t chunk_size, const char* op);

/// fn(start, count) for consecutive chunks [start, start + count) that cover [0, total), each of
/// chunk_size items but the last (one chunk of everything when chunk_size is 0); none when total is 0.
template <class Fn>
void for_each_chunk(int64_t total, int64_t chunk_size, const char* op, Fn&& fn) {
  check_chunk_size(chunk_size, op);
  const int64_t step = chunk_size > 0 ? chunk_size : total;
  for (int64_t start = 0; start < total; start += step) fn(start, std::min(step, total - start));
}

/// Directions [start, start + count) of the standard basis over like's elements, one per entry of
/// a new leading dim: [count] + like.shape. Holds only those count directions, never the identity.
Tensor basis_batch(const Tensor& like, int64_t start, int64_t count);

/// The same over the elements of one row of like (dim 0 is the batch), each direction set in every
/// row at once: [count] + like.shape, so that one pass gives every row's derivative along it.
Tensor row_basis_batch(const Tensor& like, int64_t start, int64_t count);

/// a followed by b: the shape of a derivative of something shaped a by something shaped b.
Dims concat(IntArrayRef a, IntArrayRef b);

}  // namespace dydx::func::detail
