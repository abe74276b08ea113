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

// Eight doubles: a vector of partial sums.
using DoubleLanes [[gnu::vector_size(64)]] = double;

// Eight values of T, for T float or double.
template <class T>
using EightOf [[gnu::vector_size(8 * sizeof(T))]] = T;

template <class T>
[[gnu::always_inline]] inline EightOf<T> load_eight(const T* p) {
  EightOf<T> loaded;
  std::memcpy(&loaded, p, sizeof(loaded));
  return loaded;
}

[[gnu::always_inline]] inline DoubleLanes widen(EightOf<float> v) { return __builtin_convertvector(v, DoubleLanes); }
[[gnu::always_inline]] inline DoubleLanes widen(EightOf<double> v) { return v; }

// The sum of the eight lanes, by halves.
[[gnu::always_inline]] inline double fold_halves(DoubleLanes v) {
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1);
  v += __builtin_shufflevector(v, v, 1, 0, 1, 0, 1, 0, 1, 0);
  return v[0];
}

// sum_k term(v[k]) in double, for float or double v.
template <LaneTerm kTerm, class T>
double sum_in_lanes(const T* v, int64_t n) {
  DoubleLanes lanes = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const DoubleLanes x = widen(load_eight(v + i));
    if constexpr (kTerm == LaneTerm::Square) lanes += x * x;
    else if constexpr (kTerm == LaneTerm::Magnitude) lanes += x < 0 ? -x : x;
    else lanes += x;
  }
  double total = fold_halves(lanes);
  for (; i < n; ++i) {
    const double x = static_cast<double>(v[i]);
    total += kTerm == LaneTerm::Square ? x * x : kTerm == LaneTerm::Magnitude ? std::abs(x) : x;
  }
  return total;
}

}  // namespace dydx::cpu
