// roll: a copy with the elements moved along dims, wrapping round (or along the flattened tensor
// when no dims are given). Linear: its gradient rolls back, its tangent rolls the same way.
#include <algorithm>
#include <bit>

#include "core/shape.hpp"
#include "core/tensor_factory.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

// The roll as applied: each dim that moves anything once, ascending, with its shift in (0, size),
// or no dims and one shift in [0, numel) for the flattened tensor. A dim whose shift is a multiple
// of its size (every size-1 dim, and every dim of an empty tensor) moves nothing and is left out, so
// each dim kept has size >= 2 and splits into two nonempty halves: roll_into's 2^k blocks for k dims
// are nonempty and disjoint, never more than numel. A roll along dims that all drop out is the
// flattened roll by 0: a copy.
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

// The shifts and dims checked (PyTorch's wording) and brought to RollAttrs' form. Repeated dims add
// up, as PyTorch's one roll after another does (each partial sum reduced modulo the size, so no sum
// overflows).
RollAttrs roll_plan(const Tensor& x, IntArrayRef shifts, IntArrayRef dims) {
  DYDX_CHECK(x.defined(), "roll: expected a defined tensor");
  DYDX_CHECK(!shifts.empty(), "roll: `shifts` required (tensor of shape ", x.sizes(), ")");
  DYDX_CHECK(!dims.empty() || shifts.size() == 1, "roll: shifts and dimensions must align. shifts: ", shifts.size(),
             ", dims:", dims.size(), " (tensor of shape ", x.sizes(), ")");
  DYDX_CHECK(dims.empty() || shifts.size() == dims.size(), "roll: shifts and dimensions must align. shifts: ",
             shifts.size(), ", dims:", dims.size(), " (tensor of shape ", x.sizes(), ")");
  if (dims.empty()) return {{wrap_shift(shifts[0], x.numel())}, {}};
  // Every dim is checked, an empty tensor's too (PyTorch 1.13 returns an empty tensor's copy before
  // it looks at dims, so it takes any dim there).
  if (x.dim() == 0) detail::fail_with<IndexError>("roll: Dimension specified as ", dims[0], " but tensor has no dimensions");
  Dims total(static_cast<size_t>(x.dim()), 0);  // per dim, the sum of its shifts modulo its size
  for (size_t i = 0; i < dims.size(); ++i) {
    if (!(dims[i] >= -x.dim() && dims[i] < x.dim()))
      detail::fail_with<IndexError>("roll: Dimension out of range (expected to be in range of [", -x.dim(), ", ", x.dim() - 1,
                                    "], but got ", dims[i], ") (tensor of shape ", x.sizes(), ")");
    const int64_t d = dims[i] < 0 ? dims[i] + x.dim() : dims[i];
    const int64_t n = x.size(d);
    // total + s modulo n with both in [0, n), without forming total + s (which overflows for n
    // above 2^62, an expanded dim of an empty tensor).
    const int64_t s = wrap_shift(shifts[i], n);
    total[d] = s >= n - total[d] ? s - (n - total[d]) : total[d] + s;
  }
  RollAttrs plan;
  if (x.numel() > 0)
    for (int64_t d = 0; d < x.dim(); ++d)
      if (total[d] != 0) {  // (a size-1 dim's is always 0)
        plan.dims.push_back(d);
        plan.shifts.push_back(total[d]);
      }
  if (plan.dims.empty()) plan.shifts = {0};  // nothing moves: the flattened roll by 0
  return plan;
}

// One pass of roll_into: x rolled along dims (each of size >= 2, its shift in (0, size)) into out.
// One block per combination of halves: along each dim, source [0, n - s) lands at [s, n) and source
// [n - s, n) at [0, s); 2^k strided block copies for k dims, each moving whole rows where the last
// dim is not rolled (and two runs per row where it is).
void roll_pass(const Tensor& out, const Tensor& x, IntArrayRef dims, IntArrayRef shifts) {
  const size_t k = dims.size();
  const Dims& out_strides = out.impl()->strides;
  for (uint64_t halves = 0; halves < (uint64_t{1} << k); ++halves) {
    Dims sizes = x.impl()->sizes;
    int64_t src_offset = x.storage_offset(), dst_offset = out.storage_offset();
    for (size_t i = 0; i < k; ++i) {
      const int64_t d = dims[i], n = x.size(d), s = shifts[i];
      const bool wrapped = (halves >> i) & 1;  // the source's tail [n - s, n), which lands in front
      sizes[d] = wrapped ? s : n - s;
      src_offset += (wrapped ? n - s : 0) * x.stride(d);
      dst_offset += (wrapped ? 0 : s) * out_strides[d];
    }
    detail::copy_values(detail::make_alias(out, sizes, out_strides, dst_offset),
                        detail::make_alias(x, sizes, x.impl()->strides, src_offset));
  }
}

// x rolled along plan's dims into out (fresh, contiguous). The 2^k blocks of one pass are nonempty,
// so never more than numel, but each is a copy call that costs as much as many elements: where they
// would be small (many small dims rolled), the dims are split into passes of at most k_max through a
// scratch buffer, so a pass makes at most max(8, numel / 1024) calls and moves every element once.
// Rolls along different dims commute, so any split gives the same values.
void roll_into(const Tensor& out, const Tensor& x, const RollAttrs& plan) {
  const auto k = static_cast<int64_t>(plan.dims.size());
  const auto budget = static_cast<uint64_t>(std::max<int64_t>(8, x.numel() >> 10));
  const int64_t k_max = std::bit_width(budget) - 1;  // 2^k_max <= budget
  const int64_t passes = (k + k_max - 1) / k_max, per_pass = (k + passes - 1) / passes;
  if (passes == 1) return roll_pass(out, x, plan.dims, plan.shifts);
  const Tensor scratch = detail::make_empty(x.sizes(), x.dtype());
  Tensor src = x;
  for (int64_t p = 0; p < passes; ++p) {
    // Alternating so that the last pass writes out (no pass reads the buffer it writes).
    const Tensor& dst = (passes - 1 - p) % 2 == 0 ? out : scratch;
    const int64_t first = p * per_pass, count = std::min(per_pass, k - first);
    roll_pass(dst, src, IntArrayRef(plan.dims.data() + first, static_cast<size_t>(count)),
              IntArrayRef(plan.shifts.data() + first, static_cast<size_t>(count)));
    src = dst;
  }
}

// The flattened roll: x's values in order (copied into a contiguous buffer unless they are), then
// two runs; a shift of 0 is one copy from any layout.
void roll_flat_into(const Tensor& out, const Tensor& x, int64_t shift) {
  if (shift == 0) return detail::copy_values(out, x);
  Tensor in = x;
  if (!x.is_contiguous()) {
    in = detail::make_empty(x.sizes(), x.dtype());
    detail::copy_values(in, x);
  }
  const int64_t n = x.numel();
  const Dims one{1};
  detail::copy_values(detail::make_alias(out, {n - shift}, one, out.storage_offset() + shift),
                      detail::make_alias(in, {n - shift}, one, in.storage_offset()));
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
