// Transforms inside vmap (lowering.hpp).
#include "transforms/lowering.hpp"

namespace dydx::func::detail {

Lowering::Lowering() : levels_(vmap::levels()) {}

// t lowered through the first `count` levels: [B_0, ..., B_{count-1}] + what remains of t.
Tensor Lowering::lower_below(const Tensor& t, size_t count) const {
  if (count == 0) {
    DYDX_CHECK(!vmap::batched(t), "vmap: a tensor batched by a vmap call that has returned was used inside a "
               "transform (it escaped f, for example through a captured variable)");
    return t;
  }
  const vmap::Level& level = levels_[count - 1];
  vmap::Arg a = vmap::unwrap(t, level.level);
  Tensor inner = lower_below(a.value, count - 1);
  const int64_t at = static_cast<int64_t>(count) - 1;
  if (a.bdim) return inner.movedim(at + *a.bdim, at);
  Dims sizes(inner.sizes().begin(), inner.sizes().end());
  sizes.insert_at(static_cast<size_t>(at), level.size);
  return inner.unsqueeze(at).expand(sizes);
}

Tensor Lowering::lower(const Tensor& t) const { return t.defined() ? lower_below(t, levels_.size()) : t; }

TensorList Lowering::lower(const TensorList& ts) const {
  TensorList out;
  for (const Tensor& t : ts) out.push_back(lower(t));
  return out;
}

Tensor Lowering::raise(const Tensor& p) const {
  if (!p.defined()) return p;
  Tensor out = p;
  for (const vmap::Level& level : levels_) out = vmap::wrap(out, 0, level.level);
  return out;
}

TensorList Lowering::raise(const TensorList& ps) const {
  TensorList out;
  for (const Tensor& p : ps) out.push_back(raise(p));
  return out;
}

std::vector<bool> Lowering::lowers(const TensorList& inputs, const std::vector<size_t>& argnums) const {
  std::vector<bool> mask(inputs.size(), false);
  for (size_t i = 0; i < inputs.size(); ++i) mask[i] = vmap::batched(inputs[i]) != nullptr;
  for (size_t a : argnums) mask.at(a) = true;
  return mask;
}

TensorList Lowering::lower(const TensorList& inputs, const std::vector<bool>& mask) const {
  TensorList out = inputs;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (mask[i]) out[i] = lower(inputs[i]);
  return out;
}

Function Lowering::lowered(const Function& f, const std::vector<bool>& mask) const {
  return [f, mask, self = *this](const TensorList& in) {
    TensorList raised = in;
    for (size_t i = 0; i < in.size(); ++i)
      if (mask[i]) raised[i] = self.raise(in[i]);
    return self.lower(f(raised));
  };
}

IntArrayRef Lowering::sample_sizes(const Tensor& p) const {
  return IntArrayRef(p.sizes().data() + batch_dims(), p.dim() - batch_dims());
}

}  // namespace dydx::func::detail
