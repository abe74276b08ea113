// Whole-tensor comparisons: equal, isclose and allclose, which answer without gradients.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

// One element of torch.isclose (1.13's at::isclose). Its tolerance arithmetic runs in the operands'
// floating dtype, integers in the default float dtype, so results match PyTorch's bit for bit.
template <class T>
bool close(T x, T y, double rtol, double atol, bool equal_nan) {
  if (x == y) return true;  // equal infinities, and the whole test when both tolerances are zero
  if constexpr (std::is_floating_point_v<T>)
    if (equal_nan && x != x && y != y) return true;
  if (rtol == 0 && atol == 0) return false;
  using F = std::conditional_t<std::is_floating_point_v<T>, T, float>;
  const F actual = std::abs(static_cast<F>(x) - static_cast<F>(y));
  const F allowed = static_cast<F>(atol) + std::abs(static_cast<F>(rtol) * static_cast<F>(y));
  return std::isfinite(actual) && actual <= allowed;
}

}  // namespace
}  // namespace ops

bool equal(const Tensor& a, const Tensor& b) {
  if (!(a.sizes() == b.sizes())) return false;
  NoGradGuard no_grad;
  return all(eq(a, b)).item<bool>();
}

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  DYDX_CHECK(a.dtype() == b.dtype(), "isclose: ", a.dtype(), " did not match ", b.dtype(),
             " (both tensors must have the same dtype)");
  DYDX_CHECK(rtol >= 0, "isclose: rtol must be greater than or equal to zero, but got ", rtol);
  DYDX_CHECK(atol >= 0, "isclose: atol must be greater than or equal to zero, but got ", atol);
  NoGradGuard no_grad;
  return ops::compare_kernel(a, b, "isclose", [=](auto x, auto y) { return ops::close(x, y, rtol, atol, equal_nan); });
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  DYDX_CHECK(a.dtype() == b.dtype(), "allclose: ", a.dtype(), " did not match ", b.dtype(),
             " (both tensors must have the same dtype)");
  DYDX_CHECK(rtol >= 0, "allclose: rtol must be greater than or equal to zero, but got ", rtol);
  DYDX_CHECK(atol >= 0, "allclose: atol must be greater than or equal to zero, but got ", atol);
  return all(isclose(a, b, rtol, atol, equal_nan)).item<bool>();
}

}  // namespace dydx
