// layer_norm: a fused forward (per row of the normalised dims: mean and variance by a corrected two
// pass over the row while it is in cache, then the normalised, scaled and shifted values) and a record
// whose rules are the closed forms, written with differentiable ops.
//
// With c = x - mean, r = 1 / sqrt(var + eps) (var biased), xhat = c r, out = xhat w + b, and means
// <.> over the normalised dims:
//   VJP: dx = r (gw - <gw> - xhat <gw xhat>) for gw = g w; dw = g xhat; db = g (summed down by the engine).
//   JVP: dxhat[t] = r (tc - xhat <xhat tc>), tc = t - <t>; dout = w dxhat[t_x] + t_w xhat + t_b.
//   Second order: with A = <c tc>, dr = -r^3 A and d2r = 3 r^5 A^2 - r^3 <tc^2>, so
//   d2xhat[t, t] = 2 tc dr + c d2r, and d2out = w d2xhat[t_x, t_x] + 2 t_w dxhat[t_x].
// The backward without create_graph (and without forward levels) reuses the forward's mean and r, in one
// fused pass per row for the input's gradient and the weight's terms (layer_norm_input_gradient);
// otherwise it recomputes them with differentiable ops, so that double backward sees their dependence on x.
#include <algorithm>
#include <cmath>
#include <string>

#include "cpu/lane_sums.hpp"
#include "cpu/parallel.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/row_moments.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

struct LayerNormAttrs {
  int64_t normalized_dims;  // how many trailing dims are normalised
  double eps;
  bool has_weight, has_bias;  // inputs: x, then weight and bias where given
};

std::vector<int64_t> trailing(int64_t k) {
  std::vector<int64_t> dims;
  for (int64_t d = -k; d < 0; ++d) dims.push_back(d);
  return dims;
}

// mean and r = 1 / sqrt(var + eps) of x over its last k dims (kept), with differentiable ops; nan where
// the variance overflows, as the fused forward's (ops::inverse_deviation).
std::pair<Tensor, Tensor> row_stats(const Tensor& x, const LayerNormAttrs& a) {
  const std::vector<int64_t> dims = trailing(a.normalized_dims);
  const Tensor var = x.var(dims, std::optional<int64_t>(0), true);
  return {x.mean(dims, true), 1.0 / sqrt(var.masked_fill(var.isinf(), NAN) + a.eps)};
}

// dx = r (gw - <gw> - xhat <gw xhat>) for rows of n contiguous elements, in double from the forward's
// mean and r and rounded once: two passes over each row while it is in cache, where the composed rule
// makes nine over the whole tensor. Two vectors of eight partial sums per mean, so that the adds
// pipeline (the order of the terms fixed by n alone).
// Where dw_terms is given it also takes g xhat, the terms of the weight's gradient (the engine sums
// them over the rows, as the composed rule's).
template <bool kHasWeight, class T>
void layer_norm_input_gradient(const T* g, const T* x, const T* w, const T* mean, const T* rstd, T* dx, T* dw_terms,
                               int64_t rows, int64_t n) {
  cpu::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const T* gr = g + row * n;
      const T* xr = x + row * n;
      const double mu = mean[row], r = rstd[row];
      auto gw = [&](int64_t j) { return kHasWeight ? static_cast<double>(gr[j] * w[j]) : static_cast<double>(gr[j]); };
      auto xhat = [&](int64_t j) { return (static_cast<double>(xr[j]) - mu) * r; };
      // Eight at a time, as the scalar gw and xhat.
      auto gw_lanes = [&](int64_t j) {
        if constexpr (kHasWeight) return cpu::widen(cpu::load_eight(gr + j) * cpu::load_eight(w + j));
        else return cpu::widen(cpu::load_eight(gr + j));
      };
      auto xhat_lanes = [&](int64_t j) { return (cpu::widen(cpu::load_eight(xr + j)) - mu) * r; };
      cpu::DoubleLanes g0 = {}, g1 = {}, gx0 = {}, gx1 = {};
      int64_t j = 0;
      for (; j + 16 <= n; j += 16) {
        const cpu::DoubleLanes a = gw_lanes(j), b = gw_lanes(j + 8);
        g0 += a, g1 += b;
        gx0 += a * xhat_lanes(j), gx1 += b * xhat_lanes(j + 8);
      }
      if (j + 8 <= n) {
        const cpu::DoubleLanes a = gw_lanes(j);
        g0 += a, gx0 += a * xhat_lanes(j), j += 8;
      }
      double sum_g = cpu::fold_halves(g0 + g1), sum_gx = cpu::fold_halves(gx0 + gx1);
      for (; j < n; ++j) {
        sum_g += gw(j);
        sum_gx += gw(j) * xhat(j);
      }
      const double mean_g = sum_g / static_cast<double>(n), mean_gx = sum_gx / static_cast<double>(n);
      T* out = dx + row * n;
      for (j = 0; j < n; ++j) out[j] = static_cast<T>(r * (gw(j) - mean_g - xhat(j) * mean_gx));
      if (dw_terms)
        for (j = 0; j < n; ++j) dw_terms[row * n + j] = static_cast<T>(static_cast<double>(gr[j]) * xhat(j));
    }
  });
}

// layer_norm_input_gradient on g, x, w (or undefined), mean and rstd, into dx (and dw_terms where
// not null), all of x's dtype; the tensors are read densely.
void input_gradient(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                    void* dx, void* dw_terms) {
  const Tensor gc = g.contiguous(), xc = x.contiguous(), wc = weight.defined() ? weight.contiguous() : weight;
  const Tensor mc = mean.contiguous(), rc = rstd.contiguous();
  const int64_t rows = mc.numel(), n = rows == 0 ? 0 : x.numel() / rows;
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(dx);
    T* dw = static_cast<T*>(dw_terms);
    if (wc.defined())
      layer_norm_input_gradient<true>(gc.data_ptr<T>(), xc.data_ptr<T>(), wc.data_ptr<T>(), mc.data_ptr<T>(),
                                      rc.data_ptr<T>(), out, dw, rows, n);
    else
      layer_norm_input_gradient<false>(gc.data_ptr<T>(), xc.data_ptr<T>(), static_cast<const T*>(nullptr),
                                       mc.data_ptr<T>(), rc.data_ptr<T>(), out, dw, rows, n);
  });
}

// Under a func::compile recording: the input's gradient, and the weight's terms after it where
// wanted, in one buffer, a step whose replay runs the kernel once.
Tensor recorded_gradients(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                          bool with_weight_terms) {
  const int64_t numel = x.numel();
  const Tensor buffer = detail::make_empty({with_weight_terms ? 2 * numel : numel}, x.dtype());
  char* start = static_cast<char*>(buffer.impl()->data_bytes());
  input_gradient(g, x, weight, mean, rstd, start, with_weight_terms ? start + numel * element_size(x.dtype()) : nullptr);
  compile::detail::note_kernel("layer_norm_backward", {&g, &x, &weight, &mean, &rstd}, buffer,
                               [with_weight_terms](const TensorList& in) {
                                 return recorded_gradients(in[0], in[1], in[2], in[3], in[4], with_weight_terms);
                               });
  return buffer;
}

// The input's gradient by layer_norm_input_gradient (and the weight's terms where dw_terms is given),
// or false where the composed rule must run (under vmap, whose batched tensors it cannot read).
bool fused_gradients(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                     Tensor& dx, Tensor* dw_terms) {
  if (vmap::takes_rule({&g, &x, &weight}) || g.dtype() != x.dtype() || g.sizes() != x.sizes()) return false;
  if (compile::detail::recording()) [[unlikely]] {
    const Tensor buffer = recorded_gradients(g, x, weight, mean, rstd, dw_terms != nullptr);
    dx = buffer.narrow(0, 0, x.numel()).view(x.sizes());
    if (dw_terms) *dw_terms = buffer.narrow(0, x.numel(), x.numel()).view(x.sizes());
    return true;
  }
  dx = detail::make_empty(x.sizes(), x.dtype());
  if (dw_terms) *dw_terms = detail::make_empty(x.sizes(), x.dtype());
  input_gradient(g, x, weight, mean, rstd, dx.impl()->data_bytes(), dw_terms ? dw_terms->impl()->data_bytes() : nullptr);
  return true;
}

struct LayerNormRecord : Named<"layer_norm", "NativeLayerNormBackward0"> {
  using Attrs = LayerNormAttrs;
  static constexpr bool broadcasts = true;
  // Extras: mean and r (kept dims), and the weight (mean again, unread, without one).
  static constexpr Saves saves{.inputs = input_bits(0), .extras = 3};
  // Inputs x, then the weight and the bias where given.
  static Tensor replay(const TensorList& in, const Attrs& a) {
    const Dims shape(in[0].sizes().end() - a.normalized_dims, in[0].sizes().end());
    return layer_norm(in[0], shape, a.has_weight ? in[1] : Tensor(), a.has_bias ? in[1 + a.has_weight] : Tensor(), a.eps);
  }
  static void vjp(const Backward<LayerNormRecord>& b, const Tensor& g, Tensor* grads) {
    const LayerNormAttrs& a = b.attrs();
    const Tensor x = b.input(0);
    Tensor mean = b.extra(0), r = b.extra(1);
    const bool differentiable = is_grad_enabled() || forward::active();
    if (differentiable) std::tie(mean, r) = row_stats(x, a);
    const size_t bias = a.has_weight ? 2 : 1;
    // Without create_graph: one fused pass for the input's gradient and the weight's terms.
    if (!differentiable && b.needs_grad(0) &&
        fused_gradients(g, x, a.has_weight ? b.extra(2) : Tensor(), mean, r, grads[0],
                        a.has_weight && b.needs_grad(1) ? &grads[1] : nullptr)) {
      if (a.has_bias && b.needs_grad(bias)) grads[bias] = g;
      return;
    }
    const Tensor xhat = (x - mean) * r;
    const std::vector<int64_t> dims = trailing(a.normalized_dims);
    if (b.needs_grad(0)) {
      const Tensor gw = a.has_weight ? g * b.extra(2) : g;
      grads[0] = r * (gw - gw.mean(dims, true) - xhat * (gw * xhat).mean(dims, true));
    }
    if (a.has_weight && b.needs_grad(1)) grads[1] = g * xhat;
    if (a.has_bias && b.needs_grad(bias)) grads[bias] = g;
  }
  static Tensor jvp(const Primal<LayerNormRecord>& p, const TensorList& t) {
    const LayerNormAttrs& a = p.attrs();
    const Tensor& x = p.input(0);
    const auto [mean, r] = row_stats(x, a);
    const Tensor xhat = (x - mean) * r;
    const std::vector<int64_t> dims = trailing(a.normalized_dims);
    Tensor out;
    if (t[0].defined()) {
      const Tensor tc = t[0] - t[0].mean(dims, true);
      const Tensor dxhat = r * (tc - xhat * (xhat * tc).mean(dims, true));
      out = a.has_weight ? dxhat * p.input(1) : dxhat;
    }
    if (a.has_weight && t[1].defined()) out = sum_terms(out, t[1] * xhat);
    const size_t bias = a.has_weight ? 2 : 1;
    if (a.has_bias && t[bias].defined()) out = sum_terms(out, t[bias]);
    return out;
  }
  static Tensor curvature(const Primal<LayerNormRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};  // out is linear in weight and bias for a fixed x
    const LayerNormAttrs& a = p.attrs();
    const Tensor& x = p.input(0);
    const auto [mean, r] = row_stats(x, a);
    const Tensor c = x - mean, r3 = r * r * r;
    const std::vector<int64_t> dims = trailing(a.normalized_dims);
    const Tensor tc = g[0] - g[0].mean(dims, true);
    const Tensor along = (c * tc).mean(dims, true);
    const Tensor d2 = -2.0 * tc * r3 * along + c * (3.0 * r3 * r * r * along * along - r3 * (tc * tc).mean(dims, true));
    Tensor second = a.has_weight ? p.input(1) * d2.sum({0}) : d2.sum({0});
    if (a.has_weight && g[1].defined()) {
      const Tensor dxhat = r * tc - c * r3 * along;
      second = second + 2.0 * (g[1] * dxhat).sum({0});
    }
    return second;
  }
  // xhat = c r with c = x - <x> linear in x, v = <c^2> + eps a Cauchy product, r = v^(-1/2) by the
  // power recurrence and xhat by one more Cauchy product; out = xhat w (a Cauchy product when the
  // weight moves) plus the bias's own coefficients.
  static Tensor taylor(const Primal<LayerNormRecord>& p, const TensorList& x) {
    const LayerNormAttrs& a = p.attrs();
    const auto times = [](const Tensor& l, const Tensor& r) { return l * r; };
    const std::vector<int64_t> dims = trailing(a.normalized_dims);
    const Tensor& x0 = p.input(0);
    const std::pair<Tensor, Tensor> stats = row_stats(x0, a);
    const Tensor c0 = x0 - stats.first, &r0 = stats.second;
    TensorList xhat;
    if (x[0].defined()) {
      TensorList c{c0};
      for (int64_t k = 1; k <= forward::taylor_order(); ++k) {
        const Tensor xk = taylor::coefficient(x[0], k);
        c.push_back(xk - xk.mean(dims, true));
      }
      TensorList v = taylor::product_terms(c, c, times);
      for (Tensor& term : v) term = term.mean(dims, true);
      v[0] = v[0] + a.eps;
      xhat = taylor::product_terms(c, taylor::power_terms(r0, v, -0.5), times);
    } else {
      xhat = TensorList(static_cast<size_t>(forward::taylor_order()) + 1);
      xhat[0] = c0 * r0;
    }
    TensorList out = a.has_weight ? taylor::product_terms(xhat, taylor::terms(p.input(1), x[1]), times) : xhat;
    const size_t bias = a.has_weight ? 2 : 1;
    if (a.has_bias && x[bias].defined())
      for (size_t k = 1; k < out.size(); ++k) out[k] = taylor::plus(out[k], taylor::coefficient(x[bias], static_cast<int64_t>(k)));
    return taylor::stacked_terms(out);
  }
};

}  // namespace
}  // namespace ops

namespace {
// A shape as PyTorch's messages write it: [3, 4].
std::string shape_text(IntArrayRef shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// layer_norm's batching rule, once the sample's shapes are checked. The statistics are one call on the
// input's batch, where the batch dim stays unless it lies among the normalised (trailing) dims. A
// weight or bias batched at this level differs per sample, so it is applied after, by the
// broadcasting rules of mul and add on the samples (the same products as the kernel's affine step).
Tensor batched_layer_norm(const Tensor& input, IntArrayRef normalized_shape, const Tensor& weight, const Tensor& bias,
                          double eps) {
  const uint32_t level = vmap::top_level({&input, &weight, &bias});
  const vmap::Arg in = vmap::unwrap(input, level);
  const bool per_sample_affine = vmap::unwrap(weight, level).bdim || vmap::unwrap(bias, level).bdim;
  const Tensor shared_weight = per_sample_affine ? Tensor() : weight;
  const Tensor shared_bias = per_sample_affine ? Tensor() : bias;
  Tensor out;
  if (!in.bdim) {
    out = layer_norm(input, normalized_shape, shared_weight, shared_bias, eps);
  } else {
    const int64_t k = static_cast<int64_t>(normalized_shape.size());
    const bool stays = *in.bdim <= input.dim() - k;
    out = vmap::wrap(layer_norm(stays ? in.value : vmap::batch_first(in), normalized_shape, shared_weight, shared_bias,
                                eps),
                     stays ? *in.bdim : 0, level);
  }
  if (per_sample_affine && weight.defined()) out = out * weight;
  if (per_sample_affine && bias.defined()) out = out + bias;
  return out;
}
// The mean and r = 1 / sqrt(var + eps) of each row of x's last k dims, as the forward computes them,
// [2, rows]: a step of a func::compile recording (see layer_norm).
Tensor row_statistics(const Tensor& input, int64_t k, double eps) {
  const Tensor x = input.contiguous();
  int64_t n = 1, rows = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < x.dim() - k ? rows : n) *= x.size(d);
  Tensor stats = detail::make_empty({2, rows}, x.dtype());
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_ptr<T>();
    T* pm = stats.data_ptr<T>();
    T* pr = pm + rows;
    cpu::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const ops::RowMoments m = ops::row_moments(px + row * n, n);
        pm[row] = static_cast<T>(m.mean);
        pr[row] = static_cast<T>(ops::inverse_deviation(m, n, eps));
      }
    });
  });
  compile::detail::note_kernel("layer_norm_statistics", {&input}, stats,
                               [k, eps](const TensorList& in) { return row_statistics(in[0], k, eps); });
  return stats;
}

}  // namespace

Tensor layer_norm(const Tensor& input, IntArrayRef normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps, bool) {
  DYDX_CHECK(input.defined(), "layer_norm: called on an undefined tensor");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  DYDX_CHECK(k >= 1, "layer_norm: Expected normalized_shape to be at least 1-dimensional, i.e., containing at least "
                     "one element, but got normalized_shape = []");
  bool matches = input.dim() >= k;
  for (int64_t i = 0; matches && i < k; ++i) matches = input.size(input.dim() - k + i) == normalized_shape[i];
  DYDX_CHECK(matches, "layer_norm: Given normalized_shape=", shape_text(normalized_shape),
             ", expected input with shape [*, ", shape_text(normalized_shape).substr(1), ", but got input of size",
             input.sizes());
  DYDX_CHECK(input.is_floating_point(), "layer_norm: expected a floating point input, got ", input.dtype());
  for (const auto& [t, name] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    DYDX_CHECK(!t->defined() || t->sizes() == normalized_shape, "layer_norm: Expected ", name,
               " to be of same shape as normalized_shape, but got ", name, " of shape ", t->sizes(),
               " and normalized_shape = ", shape_text(normalized_shape));
    DYDX_CHECK(!t->defined() || t->dtype() == input.dtype(), "layer_norm: expected ", name, " of the input's dtype ",
               input.dtype(), ", got ", t->dtype());
  }
  if (vmap::takes_rule({&input, &weight, &bias})) [[unlikely]]
    return batched_layer_norm(input, normalized_shape, weight, bias, eps);
  const Tensor x = input.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous() : weight, b = bias.defined() ? bias.contiguous() : bias;
  int64_t n = 1, rows = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < x.dim() - k ? rows : n) *= x.size(d);
  Dims stats_shape(x.sizes().begin(), x.sizes().end());
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) stats_shape[d] = 1;
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  Tensor mean, rstd;
  if (compile::detail::recording()) [[unlikely]] {
    // mean and r are values the backward reads: under func::compile, views of one step's result that
    // computes both (the forward's own step then replays without them).
    const Tensor stats = row_statistics(x, k, eps);
    mean = stats.select(0, 0).view(stats_shape);
    rstd = stats.select(0, 1).view(stats_shape);
  } else {
    mean = detail::make_empty(stats_shape, x.dtype());
    rstd = detail::make_empty(stats_shape, x.dtype());
  }
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_ptr<T>();
    const T* pw = w.defined() ? w.data_ptr<T>() : nullptr;
    const T* pb = b.defined() ? b.data_ptr<T>() : nullptr;
    T *py = out.data_ptr<T>(), *pm = mean.data_ptr<T>(), *pr = rstd.data_ptr<T>();
    cpu::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const T* v = px + row * n;
        T* y = py + row * n;
        const ops::RowMoments m = ops::row_moments(v, n);
        const double mu = m.mean, r = ops::inverse_deviation(m, n, eps);
        pm[row] = static_cast<T>(mu);
        pr[row] = static_cast<T>(r);
        for (int64_t j = 0; j < n; ++j) {
          double value = (v[j] - mu) * r;
          if (pw) value *= pw[j];
          if (pb) value += pb[j];
          y[j] = static_cast<T>(value);
        }
      }
    });
  });
  SmallVector<const Tensor*, 3> inputs{&input};
  if (weight.defined()) inputs.push_back(&weight);
  if (bias.defined()) inputs.push_back(&bias);
  const ops::LayerNormAttrs attrs{k, eps, weight.defined(), bias.defined()};
  const Tensor* extras[] = {&mean, &rstd, weight.defined() ? &weight : &mean};
  ops::finish<ops::LayerNormRecord>(std::span<const Tensor* const>(inputs.data(), inputs.size()), out, attrs,
                                    std::span<const Tensor* const>(extras, 3));
  return out;
}

}  // namespace dydx
