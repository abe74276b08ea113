// Sums of a run in double through a vector of 8 partial sums, folded by halves at the end: GCC keeps a
// single running double sum scalar (the order of a floating-point sum is not GCC's to change), one
// add's latency per element. The order of the terms is fixed by n alone, never by the thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dydx::cpu {

// What each value of the run adds: itself, its magnitude or its square.
enum class LaneTerm { Value, Magnitude, Square };

// sum_k term(v[k]) in double, for float or double v.
template <LaneTerm kTerm, class T>
double sum_in_lanes(const T* v, int64_t n) {
  using Vector [[gnu::vector_size(64)]] = double;
  using Loaded [[gnu::vector_size(8 * sizeof(T))]] = T;
  Vector lanes = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    Loaded loaded;
    std::memcpy(&loaded, v + i, sizeof(Loaded));
    const Vector x = __builtin_convertvector(loaded, Vector);
    if constexpr (kTerm == LaneTerm::Square) lanes += x * x;
    else if constexpr (kTerm == LaneTerm::Magnitude) lanes += x < 0 ? -x : x;
    else lanes += x;
  }
  lanes += __builtin_shufflevector(lanes, lanes, 4, 5, 6, 7, 0, 1, 2, 3);
  lanes += __builtin_shufflevector(lanes, lanes, 2, 3, 0, 1, 2, 3, 0, 1);
  lanes += __builtin_shufflevector(lanes, lanes, 1, 0, 1, 0, 1, 0, 1, 0);
  double total = lanes[0];
  for (; i < n; ++i) {
    const double x = static_cast<double>(v[i]);
    total += kTerm == LaneTerm::Square ? x * x : kTerm == LaneTerm::Magnitude ? std::abs(x) : x;
  }
  return total;
}

}  // namespace dydx::cpu
