// Strided elementwise loops: broadcast, coalesce dims, then run a vectorisable inner loop.
#pragma once

#include <array>
#include <cstdint>

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

/// for_each_run, with the index range of dim split_dim cut into pieces that run in parallel.
/// The caller picks a dim along which pieces write disjoint output (any dim of an elementwise
/// loop; a kept dim of a reduction), or -1 to run serially.
template <size_t N, class Inner>
void parallel_for_each_run(const LoopGeometry<N>& geo, std::array<char*, N> base, std::array<int64_t, N> elem_size,
                           int split_dim, int64_t grain, Inner&& inner) {
  int64_t numel = 1;
  for (int64_t s : geo.sizes) numel *= s;
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
