// Copies: clone, contiguous and dtype conversion, each with an identity VJP.
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

using CloneNames = Named<"clone", "CloneBackward0">;
using ToNames = Named<"to", "ToCopyBackward0">;
template <class Names>
struct CloneOrToRecord : Names, Linear {
  struct Attrs {
    ScalarType dtype;  // the copy's
  };
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return std::is_same_v<Names, CloneNames> ? in[0].clone() : in[0].to(a.dtype);
  }
  // The engine casts the gradient back to the input's dtype, so the rule passes g through.
  static void vjp(const Backward<CloneOrToRecord>&, const Tensor& g, Tensor* grads) { grads[0] = g; }
  // A copy's tangent is a copy too, so that an in-place write to one never reaches the other.
  static Tensor jvp(const Primal<CloneOrToRecord>& p, const TensorList& t) {
    const ScalarType dtype = p.output().dtype();
    return t[0].dtype() == dtype ? t[0].clone() : t[0].to(dtype);
  }
};

template <class Names>
Tensor copy_as(const Tensor& x, ScalarType dtype) {
  if (vmap::takes_rule(x)) [[unlikely]]
    return vmap::elementwise(x, [dtype](const Tensor& v) { return copy_as<Names>(v, dtype); });
  Tensor out = detail::make_empty(x.sizes(), dtype, Names::name);  // an expanded x can be too large to copy
  detail::copy_values(out, x);
  // An integer copy carries no derivatives (x cannot require grad, or to() turned grad mode off; a
  // tangent does not pass), but it is a step of func::compile's recording all the same (an index
  // made contiguous).
  if (is_floating_point(dtype)) {
    finish<CloneOrToRecord<Names>>({&x}, out, {dtype});
  } else if (compile::detail::recording()) [[unlikely]] {
    compile::detail::note_kernel(Names::name, {&x}, out,
                                 [dtype](const TensorList& in) { return CloneOrToRecord<Names>::replay(in, {dtype}); });
  }
  return out;
}

}  // namespace
}  // namespace ops

Tensor Tensor::clone() const { return ops::copy_as<ops::CloneNames>(*this, dtype()); }

Tensor Tensor::contiguous() const {
  // Under vmap each sample must be contiguous in the batch's memory (as_strided and data
  // pointers read it so): the batch moved to the front and made contiguous, as functorch.
  if (vmap::takes_rule(*this)) [[unlikely]] {
    const auto* b = vmap::batched(*this);
    if (is_contiguous() && b->bdim == 0) return *this;
    return vmap::wrap(vmap::batch_first({b->value, b->bdim}).contiguous(), 0, b->level);
  }
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::to(ScalarType target) const {
  if (target == dtype()) return *this;
  // An integer result cannot carry gradient, so it is cut from the graph, as in PyTorch.
  std::optional<NoGradGuard> no_grad;
  if (!dydx::is_floating_point(target)) no_grad.emplace();
  return ops::copy_as<ops::ToNames>(*this, target);
}

}  // namespace dydx
