// Reductions: sum, mean, max and min, over everything or along dims, with their VJP rules.
#include <cmath>
#include <limits>

#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

// Marks the reduced dims; an empty list means all of them, as in torch.sum(x, []).
SmallVector<char, 6> reduced_mask(const Tensor& x, IntArrayRef dims, const char* op) {
  SmallVector<char, 6> mask(x.dim(), dims.empty());
  for (int64_t d : dims) {
    int64_t w = detail::wrap_dim(d, x.dim(), op);
    if (x.dim() == 0) continue;
    DYDX_CHECK(!mask[w], op, ": dim ", w, " appears multiple times in the list of dims");
    mask[w] = true;
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

// Re-inserts reduced dims into a gradient that was reduced without keepdim (after nb batch dims).
Tensor unsqueeze_reduced(Tensor g, const Dims& reduced_dims, bool keepdim, int64_t nb = 0) {
  if (keepdim) return g;
  for (int64_t d : reduced_dims) g = g.unsqueeze(d + nb);
  return g;
}

Dims mask_to_dims(const SmallVector<char, 6>& mask) {
  Dims dims;
  for (size_t d = 0; d < mask.size(); ++d)
    if (mask[d]) dims.push_back(static_cast<int64_t>(d));
  return dims;
}

// sum is linear: its transpose broadcasts g back over the summed dims.
void sum_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const int64_t nb = batch_dims(node, g);
  const Dims& in = node.inputs[0].sizes;
  grads[0] = align_to_rank(g, nb, static_cast<int64_t>(in.size())).expand(with_batch(g, nb, in));
}
const OpInfo sum_info{"sum", "SumBackward0", &sum_vjp};

void sum_dim_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const int64_t nb = batch_dims(node, g);
  grads[0] = unsqueeze_reduced(g, node.attrs.dims, node.attrs.flag, nb).expand(with_batch(g, nb, node.inputs[0].sizes));
}
const OpInfo sum_dim_info{"sum.dim", "SumBackward1", &sum_dim_vjp};

void mean_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const int64_t nb = batch_dims(node, g);
  const Dims& in = node.inputs[0].sizes;
  grads[0] = align_to_rank(g, nb, static_cast<int64_t>(in.size())).expand(with_batch(g, nb, in)) / node.attrs.scalar;
}
const OpInfo mean_info{"mean", "MeanBackward0", &mean_vjp};

void mean_dim_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const int64_t nb = batch_dims(node, g);
  grads[0] = unsqueeze_reduced(g, node.attrs.dims, node.attrs.flag, nb).expand(with_batch(g, nb, node.inputs[0].sizes)) /
             node.attrs.scalar;
}
const OpInfo mean_dim_info{"mean.dim", "MeanBackward1", &mean_dim_vjp};

// The elements equal to the result (the nans, when the result is nan), as a 0/1 mask.
Tensor ties_of(const Tensor& x, const Tensor& out) {
  const bool is_nan = out.item<double>() != out.item<double>();
  return is_nan ? 1.0 - eq(x, x) : eq(x, out);
}

// The whole-tensor max and min share the gradient evenly between tied elements, as PyTorch does.
void extreme_vjp(Node& node, const Tensor& g, Tensor* grads) {
  Tensor x = node.saved(0), out = node.saved(1);
  Tensor ties = ties_of(x, out);
  grads[0] = align_to_rank(g, batch_dims(node, g), x.dim()) * (ties / ties.sum());
}
const OpInfo max_info{"max", "MaxBackward1", &extreme_vjp};
const OpInfo min_info{"min", "MinBackward1", &extreme_vjp};

// 1 at the chosen index along dim, 0 elsewhere, in the input's shape.
Tensor onehot_of(Tensor indices, const Dims& in_sizes, int64_t dim, bool keepdim, ScalarType dtype) {
  if (!keepdim) indices = indices.unsqueeze(dim);
  Dims position_shape(in_sizes.size(), 1);
  position_shape[dim] = in_sizes[dim];
  Tensor positions = arange(in_sizes[dim]).view(position_shape);
  return eq(positions, indices).to(dtype);
}

// Along a dim, the gradient goes to the chosen index only.
void extreme_dim_vjp(Node& node, const Tensor& g, Tensor* grads) {
  if (node.inputs[0].sizes.empty()) {  // a 0-D input is its own max
    grads[0] = g;
    return;
  }
  const int64_t dim = node.attrs.index;
  Tensor onehot = onehot_of(node.saved(0), node.inputs[0].sizes, dim, node.attrs.flag, g.dtype());
  grads[0] = unsqueeze_reduced(g, {dim}, node.attrs.flag, batch_dims(node, g)) * onehot;
}
const OpInfo max_dim_info{"max.dim", "MaxBackward0", &extreme_dim_vjp};
const OpInfo min_dim_info{"min.dim", "MinBackward0", &extreme_dim_vjp};

// Index of the largest (or smallest) of n strided values; the first nan wins, so nan propagates.
template <bool IsMax, class T>
int64_t extreme_index(const T* p, int64_t n, int64_t stride) {
  int64_t best = 0;
  T best_value = p[0];
  if (best_value != best_value) return 0;
  for (int64_t i = 1; i < n; ++i) {
    T v = p[i * stride];
    if (v != v) return i;
    if (IsMax ? v > best_value : v < best_value) {
      best_value = v;
      best = i;
    }
  }
  return best;
}

template <bool IsMax>
Tensor extreme_all(const Tensor& x, const OpInfo& info, const char* op) {
  DYDX_CHECK(x.numel() > 0, op, ": Expected reduction dim to be specified for input.numel() == 0");
  Tensor flat = x.contiguous();
  Tensor out = detail::make_empty({}, x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = flat.data_ptr<T>();
    out.data_ptr<T>()[0] = p[extreme_index<IsMax>(p, flat.numel(), 1)];
  });
  if (Node* node = record(info, {&x}, out)) {
    node->save(x);
    node->save_output(out);
  }
  // Piecewise linear: it picks (averages, at ties) some of x, so it has no second-order term.
  forward::propagate_linear({&x}, out, [&](const TensorList& t) {
    Tensor ties = ties_of(x, out);
    return sum_over(t[0] * ties, own_dims(t[0], forward::batch_dims())) / ties.sum();
  });
  return out;
}

template <bool IsMax>
std::tuple<Tensor, Tensor> extreme_dim(const Tensor& x, int64_t dim, bool keepdim, const OpInfo& info,
                                       const char* op) {
  dim = detail::wrap_dim(dim, x.dim(), op);
  const int64_t n = x.dim() == 0 ? 1 : x.size(dim);
  DYDX_CHECK(n > 0, op, ": Expected reduction dim ", dim, " to have non-zero size (input shape ", x.sizes(), ")");
  SmallVector<char, 6> mask(x.dim(), false);
  if (x.dim() > 0) mask[dim] = true;
  Dims out_shape = reduced_shape(x, mask, keepdim);
  Tensor values = detail::make_empty(out_shape, x.dtype());
  Tensor indices = detail::make_empty(out_shape, kInt64);
  // Rows along dim: outer index over the other dims, stride of dim within each row.
  Dims outer_sizes, outer_strides;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) {
      outer_sizes.push_back(x.size(d));
      outer_strides.push_back(x.stride(d));
    }
  const int64_t stride = x.dim() == 0 ? 1 : x.stride(dim);
  const int64_t rows = detail::product(outer_sizes);
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* base = reinterpret_cast<const T*>(x.impl()->data_bytes());
    T* vout = values.data_ptr<T>();
    int64_t* iout = indices.data_ptr<int64_t>();
    for (int64_t r = 0; r < rows; ++r) {
      int64_t rem = r, offset = 0;
      for (size_t d = outer_sizes.size(); d-- > 0;) {
        offset += (rem % outer_sizes[d]) * outer_strides[d];
        rem /= outer_sizes[d];
      }
      int64_t i = extreme_index<IsMax>(base + offset, n, stride);
      vout[r] = base[offset + i * stride];
      iout[r] = i;
    }
  });
  const bool keep = keepdim || x.dim() == 0;
  if (Node* node = record(info, {&x}, values)) {
    node->save(indices);
    node->attrs.index = dim;
    node->attrs.flag = keepdim || x.dim() == 0;
  }
  // Piecewise linear, as above.
  forward::propagate_linear({&x}, values, [&](const TensorList& t) {
    Tensor onehot = onehot_of(indices, x.impl()->sizes, dim, keep, t[0].dtype());
    return x.dim() == 0 ? t[0] : (t[0] * onehot).sum({dim + forward::batch_dims()}, keep);
  });
  return {values, indices};
}

}  // namespace
}  // namespace ops

using ops::Node;
using ops::record;

Tensor sum(const Tensor& x) {
  SmallVector<char, 6> all(x.dim(), true);
  Tensor out = ops::sum_values(x, all, false);
  record(ops::sum_info, {&x}, out);
  forward::propagate_linear({&x}, out, [](const TensorList& t) { return ops::sum_over(t[0], ops::own_dims(t[0], forward::batch_dims())); });
  return out;
}

Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim) {
  auto mask = ops::reduced_mask(x, dims, "sum");
  Tensor out = ops::sum_values(x, mask, keepdim);
  if (Node* node = record(ops::sum_dim_info, {&x}, out)) {
    node->attrs.dims = ops::mask_to_dims(mask);
    node->attrs.flag = keepdim;
  }
  forward::propagate_linear({&x}, out, [&](const TensorList& t) {
    return ops::sum_over(t[0], ops::shift_dims(dims, x.dim(), forward::batch_dims()), keepdim);
  });
  return out;
}

Tensor mean(const Tensor& x) {
  DYDX_CHECK(x.is_floating_point(), "mean: could not infer output dtype. Input dtype must be a floating point dtype, got ",
             x.dtype());
  SmallVector<char, 6> all(x.dim(), true);
  const double n = static_cast<double>(x.numel());
  Tensor total = ops::sum_values(x, all, false);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = total / n;
  }
  if (Node* node = record(ops::mean_info, {&x}, out)) node->attrs.scalar = n;
  forward::propagate_linear({&x}, out, [](const TensorList& t) { return ops::mean_over(t[0], ops::own_dims(t[0], forward::batch_dims())); });
  return out;
}

Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim) {
  DYDX_CHECK(x.is_floating_point(), "mean: could not infer output dtype. Input dtype must be a floating point dtype, got ",
             x.dtype());
  auto mask = ops::reduced_mask(x, dims, "mean");
  double n = 1;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[d]) n *= static_cast<double>(x.size(d));
  Tensor total = ops::sum_values(x, mask, keepdim);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = total / n;
  }
  if (Node* node = record(ops::mean_dim_info, {&x}, out)) {
    node->attrs.dims = ops::mask_to_dims(mask);
    node->attrs.flag = keepdim;
    node->attrs.scalar = n;
  }
  forward::propagate_linear({&x}, out, [&](const TensorList& t) {
    return ops::mean_over(t[0], ops::shift_dims(dims, x.dim(), forward::batch_dims()), keepdim);
  });
  return out;
}

Tensor max(const Tensor& x) { return ops::extreme_all<true>(x, ops::max_info, "max"); }
Tensor min(const Tensor& x) { return ops::extreme_all<false>(x, ops::min_info, "min"); }
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return ops::extreme_dim<true>(x, dim, keepdim, ops::max_dim_info, "max");
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return ops::extreme_dim<false>(x, dim, keepdim, ops::min_dim_info, "min");
}

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
