// Memory overlap of strided layouts: the checks behind in-place writes and the kernels' splits.
#include "core/overlap.hpp"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

namespace dydx::detail {

namespace {

// Calls f(address) for each element of (sizes, strides) in row-major order until f returns true;
// returns whether it did.
template <class F>
bool any_offset(IntArrayRef sizes, IntArrayRef strides, int64_t offset, F&& f) {
  const size_t rank = sizes.size();
  for (size_t d = 0; d < rank; ++d)
    if (sizes[d] == 0) return false;
  Dims counter(rank, 0);
  while (true) {
    if (f(offset)) return true;
    size_t d = rank;
    while (true) {
      if (d == 0) return false;
      --d;
      offset += strides[d];
      if (++counter[d] < sizes[d]) break;
      offset -= strides[d] * sizes[d];
      counter[d] = 0;
    }
  }
}

// [first, last] address reached, relative to the layout's own offset; last < first when empty.
std::pair<int64_t, int64_t> reach(IntArrayRef sizes, IntArrayRef strides, int64_t offset) {
  int64_t first = offset, last = offset;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] == 0) return {0, -1};
    const int64_t span = (sizes[d] - 1) * strides[d];
    (span < 0 ? first : last) += span;
  }
  return {first, last};
}

}  // namespace

bool surely_no_internal_overlap(IntArrayRef sizes, IntArrayRef strides) {
  // (stride, size) of the dims that step at all; a handful, so insertion sort.
  SmallVector<std::pair<int64_t, int64_t>, 6> dims;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] == 0) return true;  // no elements
    if (sizes[d] == 1) continue;
    const std::pair<int64_t, int64_t> dim{std::abs(strides[d]), sizes[d]};
    size_t at = dims.size();
    dims.push_back(dim);
    for (; at > 0 && dims[at - 1].first > dim.first; --at) dims[at] = dims[at - 1];
    dims[at] = dim;
  }
  int64_t below = 0;  // how far the dims with smaller strides reach
  for (const auto& [stride, size] : dims) {
    if (stride <= below) return false;
    below += (size - 1) * stride;
  }
  return true;
}

bool has_internal_overlap(IntArrayRef sizes, IntArrayRef strides) {
  if (surely_no_internal_overlap(sizes, strides)) return false;
  int64_t numel = 1;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (strides[d] == 0 && sizes[d] > 1) return true;
    numel *= sizes[d];
  }
  const auto [first, last] = reach(sizes, strides, 0);
  const int64_t span = last - first + 1;
  if (numel > span) return true;  // more elements than addresses
  std::vector<bool> seen(static_cast<size_t>(span), false);
  return any_offset(sizes, strides, -first, [&](int64_t at) {
    if (seen[at]) return true;
    seen[at] = true;
    return false;
  });
}

bool layouts_share_memory(IntArrayRef a_sizes, IntArrayRef a_strides, int64_t a_offset, IntArrayRef b_sizes,
                          IntArrayRef b_strides, int64_t b_offset) {
  const auto [a_first, a_last] = reach(a_sizes, a_strides, a_offset);
  const auto [b_first, b_last] = reach(b_sizes, b_strides, b_offset);
  if (a_last < a_first || b_last < b_first || a_last < b_first || b_last < a_first) return false;
  // The ranges meet; interleaved layouts may still touch different addresses, so mark a's.
  const int64_t first = std::max(a_first, b_first), last = std::min(a_last, b_last);
  std::vector<bool> in_a(static_cast<size_t>(last - first + 1), false);
  any_offset(a_sizes, a_strides, a_offset, [&](int64_t at) {
    if (at >= first && at <= last) in_a[at - first] = true;
    return false;
  });
  return any_offset(b_sizes, b_strides, b_offset, [&](int64_t at) { return at >= first && at <= last && in_a[at - first]; });
}

}  // namespace dydx::detail
