// The mean and the sum of squared deviations of a contiguous run, by the corrected two-pass algorithm
// in double (the second pass's sum of deviations, zero in exact arithmetic, removes the first pass's
// rounding), with four independent accumulators per pass so that the adds pipeline (and vectorise)
// instead of waiting on one another. Shared by var/std (stats.cpp) and layer_norm's fused forward.
#pragma once

#include <cstdint>

namespace dydx::ops {

struct RowMoments {
  double mean;
  double m2;  // sum of (x - mean)^2
};

template <class T>
RowMoments row_moments(const T* p, int64_t n) {
  double s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) s[k] += static_cast<double>(p[i + k]);
  for (; i < n; ++i) s[0] += static_cast<double>(p[i]);
  const double mean = ((s[0] + s[1]) + (s[2] + s[3])) / static_cast<double>(n);
  double q[4] = {0, 0, 0, 0}, d[4] = {0, 0, 0, 0};
  for (i = 0; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) {
      const double dev = static_cast<double>(p[i + k]) - mean;
      q[k] += dev * dev;
      d[k] += dev;
    }
  for (; i < n; ++i) {
    const double dev = static_cast<double>(p[i]) - mean;
    q[0] += dev * dev;
    d[0] += dev;
  }
  const double drift = (d[0] + d[1]) + (d[2] + d[3]);
  return {mean, ((q[0] + q[1]) + (q[2] + q[3])) - drift * drift / static_cast<double>(n)};
}

}  // namespace dydx::ops
