// Inputs every rank can compute for every rank, so that each collective is checked against a reference
// built locally.
#pragma once

#include <vector>

#include "dydx/dydx.hpp"
#include "dydx/distributed.hpp"

namespace dist = dydx::distributed;

/// Rank r's tensor: whole numbers (so that sums are exact in any order), different on every rank and
/// element, and of both signs.
inline dydx::Tensor input_of(int r, dydx::IntArrayRef sizes, dydx::ScalarType dtype) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  std::vector<int64_t> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = (i * 7 + r * 13) % 23 - 11 + r * 100;
  return dydx::tensor(values).to(dtype).reshape(sizes);
}

/// Equal dtype, shape and values, bit for bit where values are whole numbers.
inline bool same(const dydx::Tensor& a, const dydx::Tensor& b) {
  return a.dtype() == b.dtype() && a.sizes() == b.sizes() && dydx::equal(a, b);
}
