// roll: a copy with the elements moved along dims, wrapping round (or along the flattened tensor
// when no dims are given). Linear: its gradient rolls back, its tangent rolls the same way.
#include "core/shape.hpp"
#include "core/tensor_factory.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

// The roll as applied: each dim once (wrapped, repeated dims merged) with its shift in [0, size),
// or no dims and one shift in [0, numel) for the flattened tensor.
struct RollAttrs {
  Dims shifts, dims;
};

// shift modulo n, in [0, n); 0 for an empty dim. Never overflows: |shift % n| < n.
int64_t wrap_shift(int64_t shift, int64_t n) {
  if (n == 0) return 0;
  const int64_t r = shift % n;
  return r < 0 ? r + n : r;
}

// The same roll of a tensor whose nb leading dims are batch dims in front of the sample's.
Tensor roll_samples(const Tensor& t, int64_t nb, const Dims& shifts, const Dims& dims) {
  if (!dims.empty()) {
    Dims moved;
    for (int64_t d : dims) moved.push_back(d + nb);
    return t.roll(shifts, moved);
  }
  if (nb == 0) return t.roll(shifts);
  // The flattened roll of every sample: the sample's dims merged into one (explicitly sized, so an
  // empty sample is fine) and rolled along it.
  Dims merged;
  int64_t numel = 1;
  for (int64_t d = 0; d < nb; ++d) merged.push_back(t.size(d));
  for (int64_t d = nb; d < t.dim(); ++d) numel *= t.size(d);
  merged.push_back(numel);
  return t.reshape(merged).roll(shifts, {nb}).reshape(t.sizes());
}

// The roll that undoes a: each shift s replaced by size - s.
Dims inverse_shifts(const RollAttrs& a, const Dims& in) {
  Dims back;
  for (size_t i = 0; i < a.shifts.size(); ++i) {
    const int64_t n = a.dims.empty() ? detail::product(in) : in[a.dims[i]];
    back.push_back(wrap_shift(n - a.shifts[i], n));
  }
  return back;
}

struct RollRecord : Named<"roll", "RollBackward0">, Linear {
  using Attrs = RollAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return in[0].roll(a.shifts, a.dims); }
  static void vjp(const Backward<RollRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = roll_samples(g, b.batch_dims(g), inverse_shifts(b.attrs(), b.input_sizes(0)), b.attrs().dims);
  }
  static Tensor jvp(const Primal<RollRecord>& p, const TensorList& t) {
    return roll_samples(t[0], p.batch_dims(), p.attrs().shifts, p.attrs().dims);
  }
};

// The shifts and dims checked (PyTorch's wording) and brought to RollAttrs' form.
RollAttrs roll_plan(const Tensor& x, IntArrayRef shifts, IntArrayRef dims) {
  DYDX_CHECK(x.defined(), "roll: expected a defined tensor");
  DYDX_CHECK(!shifts.empty(), "roll: `shifts` required (tensor of shape ", x.sizes(), ")");
  DYDX_CHECK(!dims.empty() || shifts.size() == 1, "roll: shifts and dimensions must align. shifts: ", shifts.size(),
             ", dims:", dims.size(), " (tensor of shape ", x.sizes(), ")");
  DYDX_CHECK(dims.empty() || shifts.size() == dims.size(), "roll: shifts and dimensions must align. shifts: ",
             shifts.size(), ", dims:", dims.size(), " (tensor of shape ", x.sizes(), ")");
  if (dims.empty()) return {{wrap_shift(shifts[0], x.numel())}, {}};
  DYDX_CHECK(x.dim() > 0, "roll: Dimension specified as ", dims[0], " but tensor has no dimensions");
  RollAttrs plan;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = detail::wrap_dim(dims[i], x.dim(), "roll");
    const int64_t n = x.size(d), s = wrap_shift(shifts[i], n);
    size_t j = 0;
    while (j < plan.dims.size() && plan.dims[j] != d) ++j;
    if (j == plan.dims.size()) {
      plan.dims.push_back(d);
      plan.shifts.push_back(s);
    } else {
      plan.shifts[j] = wrap_shift(plan.shifts[j] + s, n);  // both below n: no overflow
    }
  }
  return plan;
}

// One block per combination of halves: along each rolled dim, source [0, n - s) lands at [s, n) and
// source [n - s, n) at [0, s). 2^k strided block copies for k rolled dims, each moving whole rows
// where the last dim is not rolled (and two runs per row where it is).
void roll_into(const Tensor& out, const Tensor& x, const RollAttrs& plan) {
  const size_t k = plan.dims.size();
  const Dims out_strides = detail::contiguous_strides(out.sizes());
  for (uint64_t halves = 0; halves < (uint64_t{1} << k); ++halves) {
    Dims sizes = x.impl()->sizes;
    int64_t src_offset = x.storage_offset(), dst_offset = out.storage_offset();
    bool empty = false;
    for (size_t i = 0; i < k; ++i) {
      const int64_t d = plan.dims[i], n = x.size(d), s = plan.shifts[i];
      const bool wrapped = (halves >> i) & 1;  // the source's tail [n - s, n), which lands in front
      sizes[d] = wrapped ? s : n - s;
      src_offset += (wrapped ? n - s : 0) * x.stride(d);
      dst_offset += (wrapped ? 0 : s) * out_strides[d];
      empty |= sizes[d] == 0;
    }
    if (empty) continue;
    detail::copy_values(detail::make_alias(out, sizes, out_strides, dst_offset),
                        detail::make_alias(x, sizes, x.impl()->strides, src_offset));
  }
}

// The flattened roll: x's values in order (copied into a contiguous buffer unless they are), then
// two runs.
void roll_flat_into(const Tensor& out, const Tensor& x, int64_t shift) {
  Tensor in = x;
  if (!x.is_contiguous()) {
    in = detail::make_empty(x.sizes(), x.dtype());
    detail::copy_values(in, x);
  }
  const int64_t n = x.numel();
  const Dims one{1};
  if (n - shift > 0)
    detail::copy_values(detail::make_alias(out, {n - shift}, one, out.storage_offset() + shift),
                        detail::make_alias(in, {n - shift}, one, in.storage_offset()));
  if (shift > 0)
    detail::copy_values(detail::make_alias(out, {shift}, one, out.storage_offset()),
                        detail::make_alias(in, {shift}, one, in.storage_offset() + n - shift));
}

// Under vmap: the batch first, the sample's dims one further along (the flattened roll per sample).
Tensor batched_roll(const Tensor& x, const RollAttrs& plan) {
  const auto* b = vmap::batched(x);
  const Tensor value = vmap::batch_first({b->value, b->bdim});
  return vmap::wrap(roll_samples(value, 1, plan.shifts, plan.dims), 0, b->level);
}

}  // namespace
}  // namespace ops

Tensor Tensor::roll(IntArrayRef shifts, IntArrayRef dims) const {
  const ops::RollAttrs plan = ops::roll_plan(*this, shifts, dims);
  if (vmap::takes_rule(*this)) [[unlikely]]
    return ops::batched_roll(*this, plan);
  Tensor out = detail::make_empty(sizes(), dtype(), "roll");
  if (out.numel() > 0) {
    if (plan.dims.empty()) ops::roll_flat_into(out, *this, plan.shifts[0]);
    else ops::roll_into(out, *this, plan);
  }
  ops::finish<ops::RollRecord>({this}, out, plan);
  return out;
}

}  // namespace dydx
