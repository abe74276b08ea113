// flip: a copy with the order of elements reversed along some dims (a copy, not a view, as PyTorch's:
// dydx's views have no negative strides).
#include <algorithm>

#include "cpu/cpu_kernels.hpp"
#include "cpu/scan_kernels.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

// The flipped dims, wrapped and in order, counted from the end (d - rank), so that the rules apply
// them as they are to cotangents and tangents with leading batch dims. Empty for a 0-d input.
struct FlipAttrs {
  Dims from_end;
};

// Flipping is its own transpose and its own JVP.
struct FlipRecord : Named<"flip", "FlipBackward0">, Linear {
  using Attrs = FlipAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return in[0].flip(a.from_end); }
  static void vjp(const Backward<FlipRecord>& b, const Tensor& g, Tensor* grads) { grads[0] = g.flip(b.attrs().from_end); }
  static Tensor jvp(const Primal<FlipRecord>& p, const TensorList& t) { return t[0].flip(p.attrs().from_end); }
};

// The flipped dims of x, wrapped, as a mask; PyTorch's errors for a dim out of range or repeated.
SmallVector<char, 6> flipped_mask(const Tensor& x, IntArrayRef dims) {
  // A 0-d tensor takes dim 0 or -1 (once, as PyTorch checks) and has nothing to reverse.
  SmallVector<char, 6> mask(static_cast<size_t>(std::max<int64_t>(x.dim(), 1)), false);
  for (int64_t d : dims) {
    const int64_t w = detail::wrap_dim(d, x.dim(), "flip");
    DYDX_CHECK(!mask[w], "flip: dim ", w, " appears multiple times in the list of dims ", dims);
    mask[w] = true;
  }
  if (x.dim() == 0) mask.clear();
  return mask;
}

Tensor flip_values(const Tensor& x, const SmallVector<char, 6>& mask) {
  const Tensor dense = x.is_contiguous() ? x.detach() : x.detach().contiguous();
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  if (x.numel() == 0) return out;
  // Neighbouring dims that are both flipped or both kept merge into one (reversing a dense block of
  // two dims reverses it as one row); dims of size 1 reverse nothing.
  Dims sizes;
  SmallVector<char, 6> flipped;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (x.size(d) == 1) continue;
    if (!sizes.empty() && flipped.back() == mask[d]) {
      sizes.back() *= x.size(d);
    } else {
      sizes.push_back(x.size(d));
      flipped.push_back(mask[d]);
    }
  }
  cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::flip_copy<T>(dense.data_ptr<T>(), out.data_ptr<T>(), sizes.data(), flipped.data(),
                      static_cast<int64_t>(sizes.size()));
  });
  return out;
}

}  // namespace
}  // namespace ops

Tensor flip(const Tensor& x, IntArrayRef dims) {
  const SmallVector<char, 6> mask = ops::flipped_mask(x, dims);
  if (vmap::takes_rule(x)) [[unlikely]] {
    const int64_t bdim = vmap::batched(x)->bdim;
    Dims physical;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (mask[d]) physical.push_back(vmap::physical_dim(d, bdim));
    return vmap::elementwise(x, [&](const Tensor& v) { return flip(v, physical); });
  }
  ops::FlipAttrs attrs;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[d]) attrs.from_end.push_back(d - x.dim());
  Tensor out = ops::flip_values(x, mask);
  ops::finish<ops::FlipRecord>({&x}, out, attrs);
  return out;
}

Tensor Tensor::flip(IntArrayRef dims) const { return dydx::flip(*this, dims); }

}  // namespace dydx
