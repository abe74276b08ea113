// The comparison func::compile's tests make: a compiled function's result against f's own.
#pragma once

#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>

namespace dydx::testing {

/// a and b hold the same numbers: bit for bit where `exact`, else to rounding (relative to the
/// largest magnitude). NaNs match NaNs.
inline void expect_same(const Tensor& a, const Tensor& b, bool exact, const std::string& what) {
  ASSERT_EQ(a.defined(), b.defined()) << what;
  if (!a.defined()) return;
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  if (a.numel() == 0) return;
  const Tensor x = a.to(kFloat64).contiguous(), y = b.to(kFloat64).contiguous();
  const double* px = x.data_ptr<double>();
  const double* py = y.data_ptr<double>();
  double scale = 0;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::isfinite(py[i])) scale = std::max(scale, std::abs(py[i]));
  const double tol = exact ? 0 : (a.dtype() == kFloat32 ? 2e-6 : 1e-14) * std::max(scale, 1.0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::isnan(px[i]) && std::isnan(py[i])) continue;
    if (exact) {
      ASSERT_EQ(std::memcmp(&px[i], &py[i], sizeof(double)), 0) << what << " at " << i << ": " << px[i] << " vs " << py[i];
    } else {
      ASSERT_LE(std::abs(px[i] - py[i]), tol) << what << " at " << i << ": " << px[i] << " vs " << py[i];
    }
  }
}

/// Calls compiled and f on the same inputs: both raise a dydx::Error, or both give the same values (to
/// rounding) with the same requires_grad.
inline void expect_call_same(const func::Compiled& compiled, const std::function<TensorList(const TensorList&)>& f,
                             const TensorList& in, const std::string& what) {
  TensorList want;
  try {
    want = f(in);
  } catch (const Error&) {
    EXPECT_THROW(compiled(in), Error) << what;
    return;
  }
  const TensorList got = compiled(in);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t k = 0; k < got.size(); ++k) {
    expect_same(got[k].detach(), want[k].detach(), false, what + ", output " + std::to_string(k));
    EXPECT_EQ(got[k].requires_grad(), want[k].requires_grad()) << what << ", output " << k;
  }
}

}  // namespace dydx::testing
