// Assertions shared by the focused tests.
#pragma once

#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <vector>

namespace dydx::testing {

/// Compares t's row-major values (whatever its shape) with expected, elementwise within tol.
inline ::testing::AssertionResult HasValues(const Tensor& t, const std::vector<double>& expected, double tol = 1e-5) {
  if (!t.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  std::vector<double> got = t.to_vector<double>();
  if (got.size() != expected.size())
    return ::testing::AssertionFailure() << "numel " << got.size() << " != " << expected.size() << "\n" << to_string(t);
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - expected[i]) <= tol * (1 + std::abs(expected[i]))))
      return ::testing::AssertionFailure() << "element " << i << ": " << got[i] << " != " << expected[i] << "\n"
                                           << to_string(t);
  return ::testing::AssertionSuccess();
}

}  // namespace dydx::testing
