// Reductions: sum, mean, max and min, over everything or along dims, amax and amin, with their rules.
#include <cmath>
#include <limits>

#include "autograd/forward_mode.hpp"
#include "cpu/extreme_kernels.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/picked_along.hpp"
#include "vmap/reduction.hpp"

namespace dydx {
namespace ops {
namespace {

// Marks the reduced dims; an empty list means all of them, as in torch.sum(x, []).
SmallVector<char, 6> reduced_mask(const Tensor& x, IntArrayRef dims, const char* op) {
  SmallVector<char, 6> mask(x.dim(), dims.empty());
  bool scalar_dim_seen = false;  // a 0-d tensor's one dim (0 or -1) may come once, as PyTorch checks
  for (int64_t d : dims) {
    int64_t w = detail::wrap_dim(d, x.dim(), op);
    DYDX_CHECK(x.dim() == 0 ? !scalar_dim_seen : !mask[w], op, ": dim ", w, " appears multiple times in the list of dims");
    if (x.dim() == 0) scalar_dim_seen = true;
    else mask[w] = true;
  }
  return mask;
}

Dims reduced_shape(const Tensor& x, const SmallVector<char, 6>& mask, bool keepdim) {
  Dims shape;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!mask[d]) shape.push_back(x.size(d));
    else if (keepdim) shape.push_back(1);
  }
  return shape;
}

// Whether the reduced dims are exactly the leading ones, some but not all, of a dense tensor: the
// common sum over a batch, which has its own parallel kernel.
bool reduces_leading_dims(const Tensor& x, const SmallVector<char, 6>& mask) {
  if (x.dim() < 2 || !mask[0] || mask.back() || !x.is_contiguous()) return false;
  size_t kept = 0;
  while (mask[kept]) ++kept;
  for (size_t d = kept; d < mask.size(); ++d)
    if (mask[d]) return false;
  return true;
}

Tensor sum_values(const Tensor& x, const SmallVector<char, 6>& mask, bool keepdim) {
  if (x.dtype() == kBool) return sum_values(x.to(kInt64), mask, keepdim);  // counts, as PyTorch's int64 sum
  if (reduces_leading_dims(x, mask) && x.numel() > 0) {
    Tensor out = detail::make_empty(reduced_shape(x, mask, keepdim), x.dtype());
    const int64_t cols = out.numel();
    cpu::dispatch(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::sum_leading_rows<T>(x.data_ptr<T>(), out.data_ptr<T>(), x.numel() / cols, cols);
    });
    return out;
  }
  // Summing across rows adds whole rows into float32 partial sums, which loses 1 in 2^24; a float32
  // reduction that is not along the last dim accumulates in a float64 result (the size of the
  // output, so the input is read once as it is) and rounds once at the end.
  const bool widen = x.dtype() == kFloat32 && x.dim() > 0 && !mask.back();
  Dims keep_shape;
  for (int64_t d = 0; d < x.dim(); ++d) keep_shape.push_back(mask[d] ? 1 : x.size(d));
  Tensor out = detail::make_empty(reduced_shape(x, mask, keepdim), widen ? kFloat64 : x.dtype());
  Tensor out_keep = detail::make_alias(out, keep_shape, detail::contiguous_strides(keep_shape), 0);
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (widen) {
      if constexpr (std::is_same_v<T, float>) {
        cpu::fill(out.data_ptr<double>(), out.numel(), 0.0);
        cpu::sum_into<double, float>(out_keep, x);
      }
      return;
    }
    cpu::fill(out.data_ptr<T>(), out.numel(), T(0));
    cpu::sum_into<T, T>(out_keep, x);
  });
  if (widen) {
    NoGradGuard no_grad;
    return out.to(kFloat32);
  }
  return out;
}

Dims mask_to_dims(const SmallVector<char, 6>& mask) {
  Dims dims;
  for (size_t d = 0; d < mask.size(); ++d)
    if (mask[d]) dims.push_back(static_cast<int64_t>(d));
  return dims;
}

// g broadcast back over an input of in's shape, after its nb batch dims: sum's transpose.
Tensor expand_back(const Tensor& g, int64_t nb, const Dims& in) {
  return align_to_rank(g, nb, static_cast<int64_t>(in.size())).expand(with_batch(g, nb, in));
}

// sum and mean are linear: their transposes broadcast g back over the reduced dims.
struct SumRecord : Named<"sum", "SumBackward0">, Linear {
  static Tensor replay(const TensorList& in, NoAttrs) { return in[0].sum(); }
  static void vjp(const Backward<SumRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = expand_back(g, b.batch_dims(g), b.input_sizes(0));
  }
  static Tensor jvp(const Primal<SumRecord>& p, const TensorList& t) { return sum_over(t[0], own_dims(t[0], p.batch_dims())); }
};

// The reduced dims (non-negative, in order) and whether they were kept.
struct ReducedDims {
  Dims dims;
  bool keepdim = false;
};

struct SumDimRecord : Named<"sum.dim", "SumBackward1">, Linear {
  using Attrs = ReducedDims;
  static Tensor replay(const TensorList& in, const Attrs& a) { return in[0].sum(a.dims, a.keepdim); }
  static void vjp(const Backward<SumDimRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    grads[0] = unsqueeze_reduced(g, b.attrs().dims, b.attrs().keepdim, nb).expand(with_batch(g, nb, b.input_sizes(0)));
  }
  static Tensor jvp(const Primal<SumDimRecord>& p, const TensorList& t) {
    return sum_over(t[0], shift_dims(p.attrs().dims, p.input(0).dim(), p.batch_dims()), p.attrs().keepdim);
  }
};

struct MeanRecord : Named<"mean", "MeanBackward0">, Linear {
  struct Attrs {
    double count;  // of the elements averaged
  };
  static Tensor replay(const TensorList& in, const Attrs&) { return in[0].mean(); }
  static void vjp(const Backward<MeanRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = expand_back(g, b.batch_dims(g), b.input_sizes(0)) / b.attrs().count;
  }
  static Tensor jvp(const Primal<MeanRecord>& p, const TensorList& t) {
    return mean_over(t[0], own_dims(t[0], p.batch_dims()));
  }
};

struct MeanDimRecord : Named<"mean.dim", "MeanBackward1">, Linear {
  struct Attrs {
    ReducedDims reduced;
    double count;  // of the elements averaged into each result
  };
  static Tensor replay(const TensorList& in, const Attrs& a) { return in[0].mean(a.reduced.dims, a.reduced.keepdim); }
  static void vjp(const Backward<MeanDimRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    const ReducedDims& r = b.attrs().reduced;
    grads[0] = unsqueeze_reduced(g, r.dims, r.keepdim, nb).expand(with_batch(g, nb, b.input_sizes(0))) / b.attrs().count;
  }
  static Tensor jvp(const Primal<MeanDimRecord>& p, const TensorList& t) {
    const ReducedDims& r = p.attrs().reduced;
    return mean_over(t[0], shift_dims(r.dims, p.input(0).dim(), p.batch_dims()), r.keepdim);
  }
};

// The elements equal to the result (the nans, when the result is nan), as 0/1 in x's dtype (whose
// precision the tie count's reciprocal then keeps).
Tensor ties_of(const Tensor& x, const Tensor& out) {
  // Under a func::compile recording without reading out's value (item() would keep the rule from
  // replaying): the nans are ties wherever out is nan, in three more passes.
  if (compile::detail::recording()) [[unlikely]]
    return logical_or(eq(x, out), logical_and(isnan(x), isnan(out))).to(x.dtype());
  const bool is_nan = out.item<double>() != out.item<double>();
  return (is_nan ? isnan(x) : eq(x, out)).to(x.dtype());
}

// The whole-tensor max and min share the gradient evenly between tied elements, as PyTorch does.
// Piecewise linear: they pick (average, at ties) some of x, so they have no second-order term.
struct ExtremeAll : Linear {
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  template <class Call>
  static void vjp(const Call& b, const Tensor& g, Tensor* grads) {
    Tensor x = b.input(0), ties = ties_of(x, b.output());
    grads[0] = align_to_rank(g, b.batch_dims(g), x.dim()) * (ties / ties.sum());
  }
  template <class Call>
  static Tensor jvp(const Call& p, const TensorList& t) {
    Tensor ties = ties_of(p.input(0), p.output());
    return sum_over(t[0] * ties, own_dims(t[0], p.batch_dims())) / ties.sum();
  }
};
struct MaxRecord : ExtremeAll, Named<"max", "MaxBackward1"> {
  static Tensor replay(const TensorList& in, NoAttrs) { return max(in[0]); }
};
struct MinRecord : ExtremeAll, Named<"min", "MinBackward1"> {
  static Tensor replay(const TensorList& in, NoAttrs) { return min(in[0]); }
};

// True at the chosen index along dim, false elsewhere, in the input's shape.
Tensor chosen_mask(Tensor indices, const Dims& in_sizes, int64_t dim, bool keepdim) {
  if (!keepdim) indices = indices.unsqueeze(dim);
  Dims position_shape(in_sizes.size(), 1);
  position_shape[dim] = in_sizes[dim];
  Tensor positions = arange(in_sizes[dim]).view(position_shape);
  return eq(positions, indices);
}

// Along a dim, the values picked at the saved indices (the JVP gathers the tangent, a replay reads x
// at the indices the step before it found, see extreme_dim); the gradient goes to the chosen index
// only, selected with where() rather than multiplied by a 0/1 mask, so that an infinite or nan
// cotangent stays at its index (as PyTorch's scatter): the product made inf * 0 = nan everywhere else.
struct ExtremeDim : PickedAlong {
  template <class Call>
  static void vjp(const Call& b, const Tensor& g, Tensor* grads) {
    if (b.input_sizes(0).empty()) {  // a 0-D input is its own max
      grads[0] = g;
      return;
    }
    const auto& a = b.attrs();
    const Tensor chosen = chosen_mask(b.extra(0), b.input_sizes(0), a.dim, a.keepdim);
    grads[0] = where(chosen, unsqueeze_reduced(g, {a.dim}, a.keepdim, b.batch_dims(g)), zeros({}, g.dtype()));
  }
};
struct MaxDimRecord : ExtremeDim, Named<"max.dim", "MaxBackward0"> {};
struct MinDimRecord : ExtremeDim, Named<"min.dim", "MinBackward0"> {};

// amax and amin: the extreme over any dims, the values alone. The gradient is shared evenly between
// the elements equal to the result, as PyTorch's AmaxBackward0 and AminBackward0 scale it, (g / count)
// * ties: a slice that holds a nan (equal to nothing) gets nan, as there, where max() gives its nans
// the gradient. Piecewise linear, as max.
struct ExtremeOverDims : Linear {
  using Attrs = ReducedDims;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  // The elements equal to their slice's extreme, in x's shape.
  template <class Call>
  static Tensor ties(const Call& c) {
    return eq(c.input(0), unsqueeze_reduced(c.output(), c.attrs().dims, c.attrs().keepdim));
  }
  template <class Call>
  static void vjp(const Call& b, const Tensor& g, Tensor* grads) {
    const ReducedDims& r = b.attrs();
    const Tensor x = b.input(0), tied = ties(b).to(x.dtype());
    grads[0] = unsqueeze_reduced(g, r.dims, r.keepdim, b.batch_dims(g)) / sum_over(tied, r.dims, true) * tied;
  }
  // PyTorch's forward rule: the tied tangents' mean (0 / 0 = nan where a nan is the extreme).
  template <class Call>
  static Tensor jvp(const Call& p, const TensorList& t) {
    const ReducedDims& r = p.attrs();
    const Tensor tied = ties(p);
    const Tensor picked = where(tied, t[0], zeros({}, t[0].dtype()));
    const Tensor count = sum_over(tied.to(t[0].dtype()), r.dims, r.keepdim);
    return sum_over(picked, shift_dims(r.dims, p.input(0).dim(), p.batch_dims()), r.keepdim) / count;
  }
};
struct AmaxRecord : ExtremeOverDims, Named<"amax", "AmaxBackward0"> {
  static Tensor replay(const TensorList& in, const Attrs& a) { return amax(in[0], a.dims, a.keepdim); }
};
struct AminRecord : ExtremeOverDims, Named<"amin", "AminBackward0"> {
  static Tensor replay(const TensorList& in, const Attrs& a) { return amin(in[0], a.dims, a.keepdim); }
};

// The batching rule of the whole-sample max and min: every sample's elements in one row of the
// batch, reduced along the rows at once. Along a dim the gradient goes to one chosen index, but a
// sample's max shares it evenly among its ties (as ExtremeAll, so as the loop over samples does);
// so where a derivative may be taken, the result carries the rows' change at the ties over their
// count, in a term whose value is exactly +0 (x - (+0) is x, -0 included). Ties that are infinite
// or nan are left out of that term (x - x is nan there): those samples get a zero derivative.
template <bool IsMax>
Tensor batched_extreme_all(const Tensor& x) {
  const Tensor rows = vmap::batch_rows(x);
  Tensor out = std::get<0>(IsMax ? dydx::max(rows, 1, true) : dydx::min(rows, 1, true));
  if (rows.is_floating_point() && (rows.requires_grad() || forward::active())) {
    const Tensor m = out.detach(), values = rows.detach();
    const Tensor ties = logical_and(eq(values, m), isfinite(values));
    const Tensor count = ties.sum({1}, true).clamp(1).to(rows.dtype());  // no ties: a term of 0 / 1
    out = m - where(ties, values - rows, zeros({}, rows.dtype())).sum({1}, true) / count;
  }
  return vmap::wrap(out.squeeze(1), 0, vmap::batched(x)->level);
}

template <class Record, bool IsMax = std::is_same_v<Record, MaxRecord>>
Tensor extreme_all(const Tensor& x, const char* op) {
  DYDX_CHECK(x.numel() > 0, op, ": Expected reduction dim to be specified for input.numel() == 0");
  if (vmap::takes_rule(x)) [[unlikely]] return batched_extreme_all<IsMax>(x);
  const Tensor flat = x.is_contiguous() ? x : x.detach().contiguous();
  Tensor out = detail::make_empty({}, x.dtype());
  cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::extreme_along<IsMax>(flat.data_ptr<T>(), 1, flat.numel(), 1, out.data_ptr<T>(), nullptr);
  });
  finish<Record>({&x}, out);
  return out;
}

template <class Record, bool IsMax = std::is_same_v<Record, MaxDimRecord>>
std::tuple<Tensor, Tensor> extreme_dim(const Tensor& x, int64_t dim, bool keepdim, const char* op) {
  dim = detail::wrap_dim(dim, x.dim(), op);
  const int64_t n = x.dim() == 0 ? 1 : x.size(dim);
  DYDX_CHECK(n > 0, op, ": Expected reduction dim ", dim, " to have non-zero size (input shape ", x.sizes(), ")");
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, {dim}, keepdim);
    auto [values, indices] = IsMax ? dydx::max(r.value, r.dims[0], r.keepdim) : dydx::min(r.value, r.dims[0], r.keepdim);
    return {vmap::wrap(values, r.bdim, r.level), vmap::wrap(indices, r.bdim, r.level)};
  }
  SmallVector<char, 6> mask(x.dim(), false);
  if (x.dim() > 0) mask[dim] = true;
  Dims out_shape = reduced_shape(x, mask, keepdim);
  Tensor values = detail::make_empty(out_shape, x.dtype());
  Tensor indices = detail::make_empty(out_shape, kInt64);
  // x read as [outer, n, inner], dense; values and indices [outer, inner] in that order.
  const Tensor dense = x.is_contiguous() ? x : x.detach().contiguous();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::extreme_along<IsMax>(dense.data_ptr<T>(), outer, n, inner, values.data_ptr<T>(),
                              indices.data_ptr<int64_t>());
  });
  // The indices have no record of their own; func::compile replays them as a step of theirs, before
  // the values' step that saves them.
  compile::detail::note_kernel(op, {&x}, indices, [dim, keepdim](const TensorList& in) {
    return std::get<1>(IsMax ? dydx::max(in[0], dim, keepdim) : dydx::min(in[0], dim, keepdim));
  });
  finish<Record>({&x}, values, {dim, keepdim || x.dim() == 0}, {&indices});
  return {values, indices};
}

// amax and amin: extreme_along over x read as [outer, n, inner], where n is the reduced elements: the
// reduced dims of a dense x when they are consecutive (one dim, trailing dims, all of them), else a
// dense copy with the kept dims first and the reduced ones last (inner = 1).
template <class Record, bool IsMax = std::is_same_v<Record, AmaxRecord>>
Tensor extreme_over_dims(const Tensor& x, IntArrayRef dims, bool keepdim, const char* op) {
  const SmallVector<char, 6> mask = reduced_mask(x, dims, op);
  DYDX_CHECK(x.numel() > 0 || !dims.empty(), op, "(): Expected reduction dim to be specified for input.numel() == 0. "
             "Specify the reduction dim with the 'dim' argument.");
  for (int64_t d = 0; d < x.dim(); ++d)
    DYDX_CHECK(!mask[d] || x.size(d) > 0, op, "(): Expected reduction dim ", d, " to have non-zero size (input shape ",
               x.sizes(), ")");
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, mask_to_dims(mask), keepdim);
    const Tensor out = IsMax ? amax(r.value, r.dims, r.keepdim) : amin(r.value, r.dims, r.keepdim);
    return vmap::wrap(out, r.bdim, r.level);
  }
  Tensor out = detail::make_empty(reduced_shape(x, mask, keepdim), x.dtype());
  if (out.numel() > 0) {
    int64_t first = 0, last = x.dim() - 1;  // the reduced dims' span
    while (first < x.dim() && !mask[first]) ++first;
    while (last >= 0 && !mask[last]) --last;
    bool consecutive = true;
    for (int64_t d = first; d <= last; ++d) consecutive = consecutive && mask[d];
    Tensor dense = x.detach();
    int64_t outer = 1, n = 1, inner = 1;
    if (consecutive && dense.is_contiguous()) {
      for (int64_t d = 0; d < x.dim(); ++d) (d < first ? outer : d > last ? inner : n) *= x.size(d);
    } else {
      Dims order;
      for (int pass = 0; pass < 2; ++pass)
        for (int64_t d = 0; d < x.dim(); ++d)
          if (mask[d] == pass) {
            order.push_back(d);
            (pass ? n : outer) *= x.size(d);
          }
      dense = dense.permute(order).contiguous();
    }
    cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::extreme_along<IsMax>(dense.data_ptr<T>(), outer, n, inner, out.data_ptr<T>(), nullptr);
    });
  }
  finish<Record>({&x}, out, {mask_to_dims(mask), keepdim});
  return out;
}

}  // namespace
}  // namespace ops


Tensor sum(const Tensor& x) {
  if (vmap::takes_rule(x)) [[unlikely]] return sum(x, {}, false);  // every sample dim, through sum.dim's rule
  SmallVector<char, 6> all(x.dim(), true);
  Tensor out = ops::sum_values(x, all, false);
  ops::finish<ops::SumRecord>({&x}, out);
  return out;
}

Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim) {
  auto mask = ops::reduced_mask(x, dims, "sum");
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, ops::mask_to_dims(mask), keepdim);
    return vmap::wrap(sum(r.value, r.dims, r.keepdim), r.bdim, r.level);
  }
  Tensor out = ops::sum_values(x, mask, keepdim);
  ops::finish<ops::SumDimRecord>({&x}, out, {ops::mask_to_dims(mask), keepdim});
  return out;
}

Tensor mean(const Tensor& x) {
  DYDX_CHECK(x.is_floating_point(), "mean: could not infer output dtype. Input dtype must be a floating point dtype, got ",
             x.dtype());
  if (vmap::takes_rule(x)) [[unlikely]] return mean(x, {}, false);  // every sample dim, through mean.dim's rule
  SmallVector<char, 6> all(x.dim(), true);
  const double n = static_cast<double>(x.numel());
  Tensor total = ops::sum_values(x, all, false);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = total / n;
  }
  ops::finish<ops::MeanRecord>({&x}, out, {n});
  return out;
}

Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim) {
  DYDX_CHECK(x.is_floating_point(), "mean: could not infer output dtype. Input dtype must be a floating point dtype, got ",
             x.dtype());
  auto mask = ops::reduced_mask(x, dims, "mean");
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, ops::mask_to_dims(mask), keepdim);
    return vmap::wrap(mean(r.value, r.dims, r.keepdim), r.bdim, r.level);
  }
  double n = 1;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[d]) n *= static_cast<double>(x.size(d));
  Tensor total = ops::sum_values(x, mask, keepdim);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = total / n;
  }
  ops::finish<ops::MeanDimRecord>({&x}, out, {{ops::mask_to_dims(mask), keepdim}, n});
  return out;
}

Tensor max(const Tensor& x) { return ops::extreme_all<ops::MaxRecord>(x, "max"); }
Tensor min(const Tensor& x) { return ops::extreme_all<ops::MinRecord>(x, "min"); }
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return ops::extreme_dim<ops::MaxDimRecord>(x, dim, keepdim, "max");
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return ops::extreme_dim<ops::MinDimRecord>(x, dim, keepdim, "min");
}

Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::extreme_over_dims<ops::AmaxRecord>(x, dims, keepdim, "amax");
}
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::extreme_over_dims<ops::AminRecord>(x, dims, keepdim, "amin");
}

namespace {
// argmax and argmin: max.dim's and min.dim's indices (the first extreme, a nan counting as one), over
// one dim or, without a dim, over the flattened tensor; PyTorch's errors, in its order (the shape's
// before the dtype's). The values are taken from a detached x: an index has no derivative, so nothing
// is recorded for it.
template <bool IsMax>
Tensor extreme_index(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  const char* name = IsMax ? "argmax" : "argmin";
  int64_t d = 0;
  if (!dim) {
    DYDX_CHECK(x.numel() > 0, name, "(): Expected reduction dim to be specified for input.numel() == 0 (shape ", x.sizes(), ")");
  } else if (x.dim() == 0) {
    (void)detail::wrap_dim(*dim, 1, name);  // a 0-d tensor takes dim 0 or -1
  } else {
    d = detail::wrap_dim(*dim, x.dim(), name);
    DYDX_CHECK(x.size(d) > 0, name, "(): Expected reduction dim ", d, " to have non-zero size (shape ", x.sizes(), ")");
  }
  DYDX_CHECK(x.dtype() != kBool, name, ": \"", name, "_cpu\" not implemented for 'Bool' (shape ", x.sizes(), ")");
  const Tensor values = x.detach();
  if (!dim) {
    const Tensor flat = values.reshape({-1});
    const Tensor index = std::get<1>(IsMax ? max(flat, 0) : min(flat, 0));
    return keepdim ? index.reshape(Dims(static_cast<size_t>(x.dim()), 1)) : index;
  }
  return std::get<1>(IsMax ? max(values, d, keepdim) : min(values, d, keepdim));
}
}  // namespace

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return extreme_index<true>(x, dim, keepdim); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return extreme_index<false>(x, dim, keepdim); }

Tensor sum_to(const Tensor& x, IntArrayRef shape) {
  DYDX_CHECK(static_cast<int64_t>(shape.size()) <= x.dim(), "sum_to: cannot sum shape ", x.sizes(), " to ", shape);
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  Dims dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
      continue;
    }
    int64_t target = shape[d - lead];
    DYDX_CHECK(target == x.size(d) || target == 1, "sum_to: cannot sum shape ", x.sizes(), " to ", shape);
    if (target == 1 && x.size(d) != 1) dims.push_back(d);
  }
  if (dims.empty()) return x.dim() == static_cast<int64_t>(shape.size()) ? x : x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace dydx
