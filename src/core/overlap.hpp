// Whether a strided layout has two elements at one memory location (an expanded or overlapping view).
#pragma once

#include "dydx/small_vector.hpp"

namespace dydx::detail {

/// Cheap test: true when (sizes, strides) certainly has no two elements at one address. Dims are
/// sorted by stride; that holds when each stride exceeds the reach of all smaller-strided dims.
/// False means "overlapping, or too irregular to tell this way".
bool surely_no_internal_overlap(IntArrayRef sizes, IntArrayRef strides);

/// Exact test: whether two elements of (sizes, strides) refer to one memory location. Falls back
/// to marking every address the layout reaches when the cheap test cannot tell; that happens only
/// for hand-made as_strided layouts.
bool has_internal_overlap(IntArrayRef sizes, IntArrayRef strides);

/// Exact test: whether layouts a and b, both starting at their offsets in one storage, share an
/// address. Exact even for interleaved layouts (a tensor's even columns and its odd columns).
bool layouts_share_memory(IntArrayRef a_sizes, IntArrayRef a_strides, int64_t a_offset, IntArrayRef b_sizes,
                          IntArrayRef b_strides, int64_t b_offset);

}  // namespace dydx::detail
