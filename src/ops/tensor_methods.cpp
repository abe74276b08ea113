// Tensor member functions that forward to the free ops, so both spellings of libtorch work.
#include "dydx/ops.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {

Tensor Tensor::add(const Tensor& other, Scalar alpha) const { return dydx::add(*this, other, alpha); }
Tensor Tensor::sub(const Tensor& other, Scalar alpha) const { return dydx::sub(*this, other, alpha); }
Tensor Tensor::mul(const Tensor& other) const { return dydx::mul(*this, other); }
Tensor Tensor::div(const Tensor& other) const { return dydx::div(*this, other); }
Tensor Tensor::div(const Tensor& other, std::optional<std::string_view> rounding_mode) const {
  return dydx::div(*this, other, rounding_mode);
}
Tensor Tensor::div(Scalar other, std::optional<std::string_view> rounding_mode) const {
  return dydx::div(*this, other, rounding_mode);
}
Tensor Tensor::floor_divide(const Tensor& other) const { return dydx::floor_divide(*this, other); }
Tensor Tensor::floor_divide(Scalar other) const { return dydx::floor_divide(*this, other); }
Tensor Tensor::neg() const { return dydx::neg(*this); }
Tensor Tensor::pow(Scalar exponent) const { return dydx::pow(*this, exponent); }
Tensor Tensor::pow(const Tensor& exponent) const { return dydx::pow(*this, exponent); }
Tensor Tensor::atan2(const Tensor& other) const { return dydx::atan2(*this, other); }
Tensor Tensor::hypot(const Tensor& other) const { return dydx::hypot(*this, other); }
Tensor Tensor::maximum(const Tensor& other) const { return dydx::maximum(*this, other); }
Tensor Tensor::minimum(const Tensor& other) const { return dydx::minimum(*this, other); }
Tensor Tensor::fmod(const Tensor& other) const { return dydx::fmod(*this, other); }
Tensor Tensor::fmod(Scalar other) const { return dydx::fmod(*this, other); }
Tensor Tensor::remainder(const Tensor& other) const { return dydx::remainder(*this, other); }
Tensor Tensor::remainder(Scalar other) const { return dydx::remainder(*this, other); }
Tensor Tensor::exp() const { return dydx::exp(*this); }
Tensor Tensor::log() const { return dydx::log(*this); }
Tensor Tensor::sqrt() const { return dydx::sqrt(*this); }
Tensor Tensor::sin() const { return dydx::sin(*this); }
Tensor Tensor::cos() const { return dydx::cos(*this); }
Tensor Tensor::tan() const { return dydx::tan(*this); }
Tensor Tensor::tanh() const { return dydx::tanh(*this); }
Tensor Tensor::sigmoid() const { return dydx::sigmoid(*this); }
Tensor Tensor::relu() const { return dydx::relu(*this); }
Tensor Tensor::abs() const { return dydx::abs(*this); }
Tensor Tensor::log1p() const { return dydx::log1p(*this); }
Tensor Tensor::expm1() const { return dydx::expm1(*this); }
Tensor Tensor::erf() const { return dydx::erf(*this); }
Tensor Tensor::asin() const { return dydx::asin(*this); }
Tensor Tensor::acos() const { return dydx::acos(*this); }
Tensor Tensor::atan() const { return dydx::atan(*this); }
Tensor Tensor::sinh() const { return dydx::sinh(*this); }
Tensor Tensor::cosh() const { return dydx::cosh(*this); }
Tensor Tensor::asinh() const { return dydx::asinh(*this); }
Tensor Tensor::acosh() const { return dydx::acosh(*this); }
Tensor Tensor::atanh() const { return dydx::atanh(*this); }
Tensor Tensor::reciprocal() const { return dydx::reciprocal(*this); }
Tensor Tensor::rsqrt() const { return dydx::rsqrt(*this); }
Tensor Tensor::log2() const { return dydx::log2(*this); }
Tensor Tensor::log10() const { return dydx::log10(*this); }
Tensor Tensor::exp2() const { return dydx::exp2(*this); }
Tensor Tensor::erfc() const { return dydx::erfc(*this); }
Tensor Tensor::floor() const { return dydx::floor(*this); }
Tensor Tensor::ceil() const { return dydx::ceil(*this); }
Tensor Tensor::round() const { return dydx::round(*this); }
Tensor Tensor::trunc() const { return dydx::trunc(*this); }
Tensor Tensor::frac() const { return dydx::frac(*this); }
Tensor Tensor::square() const { return dydx::square(*this); }
Tensor Tensor::clamp_min(Scalar min) const { return dydx::clamp_min(*this, min); }
Tensor Tensor::clamp_max(Scalar max) const { return dydx::clamp_max(*this, max); }
Tensor Tensor::clamp(const std::optional<Scalar>& min, const std::optional<Scalar>& max) const {
  return dydx::clamp(*this, min, max);
}
Tensor Tensor::clip(const std::optional<Scalar>& min, const std::optional<Scalar>& max) const {
  return dydx::clamp(*this, min, max);
}
Tensor Tensor::matmul(const Tensor& other) const { return dydx::matmul(*this, other); }
Tensor Tensor::mm(const Tensor& other) const { return dydx::mm(*this, other); }
Tensor Tensor::dot(const Tensor& other) const { return dydx::dot(*this, other); }
Tensor Tensor::mv(const Tensor& vec) const { return dydx::mv(*this, vec); }
Tensor Tensor::outer(const Tensor& vec2) const { return dydx::outer(*this, vec2); }
Tensor Tensor::sum() const { return dydx::sum(*this); }
Tensor Tensor::sum(IntArrayRef dims, bool keepdim) const { return dydx::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return dydx::mean(*this); }
Tensor Tensor::mean(IntArrayRef dims, bool keepdim) const { return dydx::mean(*this, dims, keepdim); }
Tensor Tensor::max() const { return dydx::max(*this); }
std::tuple<Tensor, Tensor> Tensor::max(int64_t dim, bool keepdim) const { return dydx::max(*this, dim, keepdim); }
Tensor Tensor::min() const { return dydx::min(*this); }
std::tuple<Tensor, Tensor> Tensor::min(int64_t dim, bool keepdim) const { return dydx::min(*this, dim, keepdim); }
Tensor Tensor::softmax(int64_t dim) const { return dydx::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return dydx::log_softmax(*this, dim); }
Tensor Tensor::logsumexp(IntArrayRef dims, bool keepdim) const { return dydx::logsumexp(*this, dims, keepdim); }
Tensor Tensor::gather(int64_t dim, const Tensor& index) const { return dydx::gather(*this, dim, index); }
Tensor Tensor::scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const {
  return dydx::scatter_add(*this, dim, index, src);
}
Tensor Tensor::index_select(int64_t dim, const Tensor& index) const { return dydx::index_select(*this, dim, index); }
Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const { return dydx::masked_fill(*this, mask, value); }
Tensor Tensor::scatter(int64_t dim, const Tensor& index, const Tensor& src) const {
  return dydx::scatter(*this, dim, index, src);
}
Tensor Tensor::scatter(int64_t dim, const Tensor& index, Scalar value) const {
  return dydx::scatter(*this, dim, index, value);
}
// In place as the other in-place ops: the out-of-place result copied into self (copy_ checks leaves
// and rebases views), computed before anything is written.
Tensor& Tensor::scatter_(int64_t dim, const Tensor& index, const Tensor& src) {
  ops::check_writable(*this, "scatter_");
  if (vmap::active()) vmap::check_inplace("scatter_", *this, {&index, &src});  // naming scatter_, not copy_
  return copy_(dydx::scatter(*this, dim, index, src));
}
Tensor& Tensor::scatter_(int64_t dim, const Tensor& index, Scalar value) {
  ops::check_writable(*this, "scatter_");
  if (vmap::active()) vmap::check_inplace("scatter_", *this, {&index});
  return copy_(dydx::scatter(*this, dim, index, value));
}
Tensor Tensor::index_put(const std::vector<indexing::TensorIndex>& indices, const Tensor& values, bool accumulate) const {
  return dydx::index_put(*this, indices, values, accumulate);
}
Tensor Tensor::masked_select(const Tensor& mask) const { return dydx::masked_select(*this, mask); }
Tensor Tensor::nonzero() const { return dydx::nonzero(*this); }

Tensor Tensor::eq(const Tensor& other) const { return dydx::eq(*this, other); }
Tensor Tensor::ne(const Tensor& other) const { return dydx::ne(*this, other); }
Tensor Tensor::lt(const Tensor& other) const { return dydx::lt(*this, other); }
Tensor Tensor::le(const Tensor& other) const { return dydx::le(*this, other); }
Tensor Tensor::gt(const Tensor& other) const { return dydx::gt(*this, other); }
Tensor Tensor::ge(const Tensor& other) const { return dydx::ge(*this, other); }
Tensor Tensor::eq(Scalar other) const { return dydx::eq(*this, other); }
Tensor Tensor::ne(Scalar other) const { return dydx::ne(*this, other); }
Tensor Tensor::lt(Scalar other) const { return dydx::lt(*this, other); }
Tensor Tensor::le(Scalar other) const { return dydx::le(*this, other); }
Tensor Tensor::gt(Scalar other) const { return dydx::gt(*this, other); }
Tensor Tensor::ge(Scalar other) const { return dydx::ge(*this, other); }
Tensor Tensor::isnan() const { return dydx::isnan(*this); }
Tensor Tensor::isinf() const { return dydx::isinf(*this); }
Tensor Tensor::isfinite() const { return dydx::isfinite(*this); }
Tensor Tensor::logical_not() const { return dydx::logical_not(*this); }
Tensor Tensor::logical_and(const Tensor& other) const { return dydx::logical_and(*this, other); }
Tensor Tensor::logical_or(const Tensor& other) const { return dydx::logical_or(*this, other); }
Tensor Tensor::logical_xor(const Tensor& other) const { return dydx::logical_xor(*this, other); }
Tensor Tensor::bitwise_not() const { return dydx::bitwise_not(*this); }
Tensor Tensor::any() const { return dydx::any(*this); }
Tensor Tensor::any(int64_t dim, bool keepdim) const { return dydx::any(*this, dim, keepdim); }
Tensor Tensor::all() const { return dydx::all(*this); }
Tensor Tensor::all(int64_t dim, bool keepdim) const { return dydx::all(*this, dim, keepdim); }

Tensor Tensor::amax(IntArrayRef dims, bool keepdim) const { return dydx::amax(*this, dims, keepdim); }
Tensor Tensor::amin(IntArrayRef dims, bool keepdim) const { return dydx::amin(*this, dims, keepdim); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return dydx::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return dydx::argmin(*this, dim, keepdim); }

}  // namespace dydx
