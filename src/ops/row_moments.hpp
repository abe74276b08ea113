// The mean and the sum of squared deviations of a contiguous run, by the corrected two-pass algorithm
// in double (the second pass's sum of deviations, zero in exact arithmetic, removes the first pass's
// rounding). Each pass keeps two vectors of eight partial sums in double, folded by halves at the end,
// then the tail: the adds of a pass pipeline instead of waiting on one another (with four scalar
// partial sums, a row of 64 floats was 16 dependent adds per pass). The order of the terms is fixed by
// n alone. Shared by var/std (stats.cpp) and layer_norm's fused forward.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/lane_sums.hpp"

namespace dydx::ops {

struct RowMoments {
  double mean;
  double m2;  // sum of (x - mean)^2
};

/// The second pass's sum of squared deviations less drift^2 / n. Where the squares overflow the result is
/// inf (the correction is at most the sum, exactly): inf - inf would make it nan. Where only drift^2
/// overflows (a drift of 1e155 over 10^9 elements), the correction is formed as (drift / n) drift.
inline double corrected_squares(double squares, double drift, int64_t n) {
  if (std::isinf(squares)) return squares;
  const double square = drift * drift;
  return squares - (std::isinf(square) ? drift / static_cast<double>(n) * drift : square / static_cast<double>(n));
}

template <class T>
RowMoments row_moments(const T* p, int64_t n) {
  using cpu::DoubleLanes, cpu::fold_halves, cpu::load_eight, cpu::widen;
  DoubleLanes s0 = {}, s1 = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) s0 += widen(load_eight(p + i)), s1 += widen(load_eight(p + i + 8));
  if (i + 8 <= n) s0 += widen(load_eight(p + i)), i += 8;
  double sum = fold_halves(s0 + s1);
  for (; i < n; ++i) sum += static_cast<double>(p[i]);
  const double mean = sum / static_cast<double>(n);
  DoubleLanes q0 = {}, q1 = {}, d0 = {}, d1 = {};
  for (i = 0; i + 16 <= n; i += 16) {
    const DoubleLanes a = widen(load_eight(p + i)) - mean, b = widen(load_eight(p + i + 8)) - mean;
    q0 += a * a, q1 += b * b;
    d0 += a, d1 += b;
  }
  if (i + 8 <= n) {
    const DoubleLanes a = widen(load_eight(p + i)) - mean;
    q0 += a * a, d0 += a, i += 8;
  }
  double squares = fold_halves(q0 + q1), drift = fold_halves(d0 + d1);
  for (; i < n; ++i) {
    const double dev = static_cast<double>(p[i]) - mean;
    squares += dev * dev;
    drift += dev;
  }
  return {mean, corrected_squares(squares, drift, n)};
}

/// layer_norm's 1 / sqrt(m2 / n + eps): nan where the squared deviations overflow, as PyTorch's. (An
/// infinite variance would scale every deviation to 0, where the normalised values are finite and
/// nonzero: [1e200, 0, 0] is [1.41, -0.71, -0.71].)
inline double inverse_deviation(const RowMoments& m, int64_t n, double eps) {
  if (std::isinf(m.m2)) return std::numeric_limits<double>::quiet_NaN();
  return 1 / std::sqrt(m.m2 / static_cast<double>(n) + eps);
}

}  // namespace dydx::ops
