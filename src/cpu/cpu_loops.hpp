// Strided elementwise loops: broadcast, coalesce dims, then run a vectorisable inner loop.
#pragma once

#include <array>
#include <cstdint>

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
      for (size_t k = 0; merge && k < N; ++k)
        merge = new_strides[k].back() == strides[k][d] * sizes[d];
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

}  // namespace dydx::cpu
