// Copies: clone, contiguous and dtype conversion, each with an identity VJP.
#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

// The engine casts the gradient back to the input's dtype, so both rules pass g through.
void identity_vjp(Node&, const Tensor& g, Tensor* grads) { grads[0] = g; }
const OpInfo clone_info{"clone", "CloneBackward0", &identity_vjp};
const OpInfo to_info{"to", "ToCopyBackward0", &identity_vjp};

Tensor copy_as(const Tensor& x, ScalarType dtype, const OpInfo& info) {
  Tensor out = detail::make_empty(x.sizes(), dtype);
  detail::copy_values(out, x);
  // A copy's tangent is a copy too, so that an in-place write to one never reaches the other.
  record(info, {&x}, out);
  if (is_floating_point(dtype))
    forward::propagate_linear({&x}, out, [dtype](const TensorList& t) { return t[0].dtype() == dtype ? t[0].clone() : t[0].to(dtype); });
  return out;
}

}  // namespace
}  // namespace ops

Tensor Tensor::clone() const { return ops::copy_as(*this, dtype(), ops::clone_info); }

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::to(ScalarType target) const {
  if (target == dtype()) return *this;
  // An integer result cannot carry gradient, so it is cut from the graph, as in PyTorch.
  std::optional<NoGradGuard> no_grad;
  if (!dydx::is_floating_point(target)) no_grad.emplace();
  return ops::copy_as(*this, target, ops::to_info);
}

}  // namespace dydx
