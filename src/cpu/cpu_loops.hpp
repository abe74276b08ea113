// Strided elementwise loops: broadcast, coalesce dims, then run a vectorisable inner loop.
#pragma once

#include <array>
#include <cstdint>

#include "core/overlap.hpp"
#include "cpu/parallel.hpp"
#include "dydx/small_vector.hpp"

namespace dydx::cpu {

/// Geometry of an elementwise loop over N operands (operand 0 is the output), all given
/// as element strides over the same shape (0 where an operand broadcasts).
template <size_t N>
struct LoopGeometry {
  Dims sizes;
  std::array<Dims, N> strides;

  // Drops size-1 dims and merges neighbours that are contiguous in every operand, so that
  // most loops end with one long inner dim.
  void coalesce() {
    Dims new_sizes;
    std::array<Dims, N> new_strides;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] == 1) continue;
      bool merge = !new_sizes.empty();
      // A view with no elements may carry strides whose product with a size overflows: no merge then.
      for (size_t k = 0; merge && k < N; ++k) {
        int64_t span = 0;
        merge = !__builtin_mul_overflow(strides[k][d], sizes[d], &span) && new_strides[k].back() == span;
      }
      if (merge) {
        new_sizes.back() *= sizes[d];
        for (size_t k = 0; k < N; ++k) new_strides[k].back() = strides[k][d];
      } else {
        new_sizes.push_back(sizes[d]);
        for (size_t k = 0; k < N; ++k) new_strides[k].push_back(strides[k][d]);
      }
    }
    sizes = new_sizes;
    strides = new_strides;
  }
};

/// Calls inner(count, pointers, inner_strides) once per run of the innermost dim.
/// Pointers are typed per operand by the caller through a char* base and element sizes.
template <size_t N, class Inner>
void for_each_run(const LoopGeometry<N>& geo, std::array<char*, N> base, std::array<int64_t, N> elem_size,
                  Inner&& inner) {
  const size_t rank = geo.sizes.size();
  if (rank == 0) {
    std::array<int64_t, N> unit{};
    inner(int64_t{1}, base, unit);
    return;
  }
  for (int64_t s : geo.sizes)
    if (s == 0) return;
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = geo.strides[k][rank - 1];
  const int64_t inner_count = geo.sizes[rank - 1];
  Dims counter(rank, 0);
  std::array<char*, N> ptr = base;
  while (true) {
    inner(inner_count, ptr, inner_strides);
    // Advance the outer counter like an odometer.
    size_t d = rank - 1;
    while (true) {
      if (d == 0) return;
      --d;
      ++counter[d];
      for (size_t k = 0; k < N; ++k) ptr[k] += geo.strides[k][d] * elem_size[k];
      if (counter[d] < geo.sizes[d]) break;
      for (size_t k = 0; k < N; ++k) ptr[k] -= geo.strides[k][d] * elem_size[k] * geo.sizes[d];
      counter[d] = 0;
    }
  }
}

/// A dim along which a loop may be cut into pieces that write disjoint elements of operand 0,
/// or -1 if there is none and the loop must run serially. Operand 0 may overlap itself: the
/// gradient of an overlapping view accumulates into an overlapping view of zeros. Then the pieces
/// go along a dim whose stride clears everything the other dims reach (the batch of an im2col),
/// and each element's additions keep one order on any number of threads.
template <size_t N>
int disjoint_split_dim(const LoopGeometry<N>& geo) {
  const Dims& strides = geo.strides[0];
  const size_t rank = geo.sizes.size();
  if (rank == 0) return -1;
  if (detail::surely_no_internal_overlap(geo.sizes, strides)) return 0;
  int64_t reach = 0;  // of all dims together
  for (size_t d = 0; d < rank; ++d) reach += (geo.sizes[d] - 1) * (strides[d] < 0 ? -strides[d] : strides[d]);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t stride = strides[d] < 0 ? -strides[d] : strides[d];
    if (stride > reach - (geo.sizes[d] - 1) * stride) return static_cast<int>(d);
  }
  return -1;
}

/// Asks parallel_for_each_run to find the split itself, with disjoint_split_dim: the choice of
/// elementwise loops, whose output may overlap itself.
constexpr int kDisjointDim = -2;

/// for_each_run, with the index range of dim split_dim cut into pieces that run in parallel.
/// The caller picks a dim along which pieces write disjoint output (a kept dim of a reduction),
/// kDisjointDim to have one found, or -1 to run serially.
template <size_t N, class Inner>
void parallel_for_each_run(const LoopGeometry<N>& geo, std::array<char*, N> base, std::array<int64_t, N> elem_size,
                           int split_dim, int64_t grain, Inner&& inner) {
  int64_t numel = 1;
  for (int64_t s : geo.sizes) numel *= s;
  // Looked for only in loops long enough to split, so that small ops pay nothing for it.
  if (split_dim == kDisjointDim && numel >= 2 * grain) split_dim = disjoint_split_dim(geo);
  if (split_dim < 0 || numel < 2 * grain || numel == 0) {
    for_each_run<N>(geo, base, elem_size, inner);
    return;
  }
  const int64_t per_index = numel / geo.sizes[split_dim];
  parallel_for(geo.sizes[split_dim], (grain + per_index - 1) / per_index, [&](int64_t begin, int64_t end) {
    LoopGeometry<N> piece = geo;
    piece.sizes[split_dim] = end - begin;
    std::array<char*, N> ptr = base;
    for (size_t k = 0; k < N; ++k) ptr[k] += begin * geo.strides[k][split_dim] * elem_size[k];
    for_each_run<N>(piece, ptr, elem_size, inner);
  });
}

}  // namespace dydx::cpu
