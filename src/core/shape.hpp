// Shape arithmetic shared by every op: dim wrapping, broadcasting, contiguous strides, view strides.
#pragma once

#include <optional>

#include "dydx/small_vector.hpp"

namespace dydx::detail {

/// Maps a possibly negative dim into [0, rank); `op` names the caller in the error.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);
int64_t product(IntArrayRef sizes);
Dims contiguous_strides(IntArrayRef sizes);
/// The same, written into strides (a fresh tensor's, with no temporary).
void contiguous_strides(IntArrayRef sizes, Dims& strides);
bool is_contiguous(IntArrayRef sizes, IntArrayRef strides);
/// The NumPy broadcast of two shapes; errors name op and both shapes.
Dims broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op);
/// Replaces one -1 in sizes so the element count is numel; errors when impossible.
Dims infer_size(IntArrayRef sizes, int64_t numel, const char* op);
/// Strides for viewing (sizes, strides) as new_sizes without a copy, or nullopt when impossible.
std::optional<Dims> view_strides(IntArrayRef sizes, IntArrayRef strides, IntArrayRef new_sizes);
/// Checks that sizes has no negative entry.
void check_sizes(IntArrayRef sizes, const char* op);

}  // namespace dydx::detail
