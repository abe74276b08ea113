// conv2d (and conv1d as conv2d over a height of 1): one record, ConvolutionBackward0, bilinear in
// (input, weight) and linear in the bias.
//
// Forward: per sample, im2col into a contiguous buffer (one pass over the input), then one GEMM per
// group, weight [OC/G, C/G kh kw] @ columns [C/G kh kw, L], onto rows that start from the bias.
// Samples split across threads, each with its own buffer (kept between calls, cpu/scratch.hpp) and
// a single-threaded BLAS call; a 1x1 kernel with stride 1 and no padding reads a contiguous sample
// as its own columns.
// The VJP without a graph of it runs dedicated kernels (conv_vjp_kernel.cpp); otherwise the rules are
// composed of unfold/fold (im2col/col2im) and matmul so that they differentiate again:
//   y = W cols(x) + b                          (per group)
//   grad_x = fold(W^T g),  grad_W = sum_n g cols(x)^T,  grad_b = sum_{n, h, w} g
//   JVP = conv(t_x, W) + conv(x, t_W) + t_b,   curvature = 2 sum_k conv(g_x_k, g_W_k)
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cpu/cpu_blas.hpp"
#include "dydx/nn/conv.hpp"
#include "dydx/threads.hpp"
#include "ops/biharmonic_step.hpp"
#include "ops/op_record.hpp"
#include "ops/conv_vjp_kernel.hpp"
#include "ops/op_util.hpp"
#include "cpu/scratch.hpp"
#include "ops/taylor.hpp"
#include "ops/window2d.hpp"

namespace dydx {
namespace ops {
namespace {

struct ConvAttrs {
  Window2d window;
  int64_t groups;
};

/// The product of t's first `count` sizes (the batch dims in front of a rule's own).
int64_t leading(const Tensor& t, int64_t count) {
  int64_t n = 1;
  for (int64_t d = 0; d < count; ++d) n *= t.size(d);
  return n;
}

/// conv(x, w) composed of differentiable ops, where x carries nbx leading batch dims and w nbw (a
/// rule's cotangent or tangent directions; when both carry them they are the same dims).
Tensor conv_composed(const Tensor& x, int64_t nbx, const Tensor& w, int64_t nbw, const ConvAttrs& a) {
  const int64_t n = x.size(nbx), c = x.size(nbx + 1), h = x.size(nbx + 2), wd = x.size(nbx + 3);
  const int64_t oc = w.size(nbw), kk = a.window.kernel_numel(), g = a.groups, cg = c / g, ocg = oc / g;
  const int64_t oh = a.window.out_size(h, 0), ow = a.window.out_size(wd, 1), l = oh * ow;
  Tensor cols = unfold_planes(x.reshape({leading(x, nbx) * n, c, h, wd}), a.window)
                    .reshape(with_batch(x, nbx, {n, g, cg * kk, l}));
  Tensor product = matmul(w.reshape(with_batch(w, nbw, {1, g, ocg, cg * kk})), cols);  // [..., N, G, OC/G, L]
  const int64_t nb = product.dim() - 4;
  return product.reshape(with_batch(product, nb, {n, oc, oh, ow}));
}

Tensor conv_values(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvAttrs& a);

/// conv_vjp_direct's gradient `which` (0 input, 1 weight, 2 bias) alone: a func::compile replay of one
/// of the rule's results. Each is a product or a sum of its own; computed apart, only the packing of a
/// g that is not a dense [OC, L] per sample is repeated.
Tensor conv_gradient(const Tensor& x, const Tensor& w, const Tensor& g, const ConvAttrs& a, int which) {
  Tensor out;
  conv_vjp_direct(x, w, g, a.window, a.groups,
                  {which == 0 ? &out : nullptr, which == 1 ? &out : nullptr, which == 2 ? &out : nullptr});
  return out;
}

struct ConvolutionRecord : Named<"convolution", "ConvolutionBackward0"> {
  using Attrs = ConvAttrs;
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  // Inputs x, the weight, and the bias where given.
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return conv_values("conv2d", in[0], in[1], in.size() > 2 ? in[2] : Tensor(), a);
  }
  static void vjp(const Backward<ConvolutionRecord>& b, const Tensor& g, Tensor* grads) {
    const ConvAttrs& a = b.attrs();
    const Tensor x = b.input(0), w = b.input(1);
    const int64_t nb = b.batch_dims(g), n = x.size(0), c = x.size(1), oc = w.size(0);
    const int64_t groups = a.groups, kk = a.window.kernel_numel(), ckg = c / groups * kk, ocg = oc / groups;
    const int64_t l = g.size(-1) * g.size(-2);
    // Without a graph of the gradient (no create_graph, no forward-mode levels) and without batched
    // cotangents, the dedicated kernels; the composed rules below are for everything else.
    if (nb == 0 && !is_grad_enabled() && !forward::active() && n > 0) {
      const bool bias = b.num_inputs() > 2 && b.needs_grad(2);
      conv_vjp_direct(x, w, g, a.window, groups,
                      {b.needs_grad(0) ? &grads[0] : nullptr, b.needs_grad(1) ? &grads[1] : nullptr,
                       bias ? &grads[2] : nullptr});
      for (int k = 0; k < 3; ++k)
        if (k < static_cast<int>(b.num_inputs()) && grads[k].defined())
          compile::detail::note_kernel("convolution_backward", {&x, &w, &g}, grads[k], [a, k](const TensorList& in) {
            return conv_gradient(in[0], in[1], in[2], a, k);
          });
      return;
    }
    Tensor gm = g.reshape(with_batch(g, nb, {n, groups, ocg, l}));
    if (b.needs_grad(0)) {
      Tensor cols = matmul(w.reshape({groups, ocg, ckg}).transpose(1, 2), gm);  // [..., N, G, C/G kk, L]
      grads[0] = fold_planes(cols.reshape({leading(g, nb) * n, c * kk, l}), x.size(2), x.size(3), a.window)
                     .reshape(with_batch(g, nb, x.sizes()));
    }
    if (b.needs_grad(1)) {
      Tensor cols = unfold_planes(x, a.window).reshape({n, groups, ckg, l});
      grads[1] = matmul(gm, cols.transpose(2, 3)).sum({nb}).reshape(with_batch(g, nb, w.sizes()));
    }
    if (b.num_inputs() > 2 && b.needs_grad(2)) grads[2] = g.sum({nb, nb + 2, nb + 3});
  }
  static Tensor jvp(const Primal<ConvolutionRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    const Tensor &x = p.input(0), &w = p.input(1);
    Tensor out = sum_terms(t[0].defined() ? conv_composed(t[0], nb, w, 0, p.attrs()) : Tensor(),
                           t[1].defined() ? conv_composed(x, 0, t[1], nb, p.attrs()) : Tensor());
    if (t.size() > 2 && t[2].defined()) {
      Tensor bias = t[2].reshape(with_batch(t[2], nb, {1, w.size(0), 1, 1}));
      out = out.defined() ? out + bias : bias.expand(with_batch(t[2], nb, p.output().sizes())).contiguous();
    }
    return out;
  }
  static Tensor curvature(const Primal<ConvolutionRecord>& p, const TensorList& g) {
    if (!g[0].defined() || !g[1].defined()) return {};
    return conv_composed(g[0], 1, g[1], 1, p.attrs()).sum({0}) * 2.0;
  }
  // Linear in input and in weight alone; Leibniz's rule when both move, the bias entering linearly.
  static Tensor biharmonic(const Primal<ConvolutionRecord>& p, const TensorList& t, int64_t d) {
    if (!t[0].defined() || !t[1].defined()) return biharmonic::linear_step(jvp(p, t), p.output(), d);
    const ConvAttrs& a = p.attrs();
    Tensor out = biharmonic::product_composed(p.input(0), t[0], p.input(1), t[1], d, [&a](const Tensor& in, const Tensor& w) {
      return conv_composed(in, in.dim() - 4, w, w.dim() - 4, a);
    });
    if (t.size() > 2 && t[2].defined()) out = out + t[2].reshape(with_batch(t[2], 1, {1, p.input(1).size(0), 1, 1}));
    return out;
  }
  // Bilinear in input and weight: the Cauchy product of the convolution itself, each factor a primal
  // (no batch dims) or a coefficient (the stack's batch dims less K's); the bias adds its own
  // coefficients, as it enters linearly.
  static Tensor taylor(const Primal<ConvolutionRecord>& p, const TensorList& x) {
    const ConvAttrs& a = p.attrs();
    Tensor out = taylor::cauchy_product(p.input(0), x[0], p.input(1), x[1], [&a](const Tensor& in, const Tensor& w) {
      return conv_composed(in, in.dim() - 4, w, w.dim() - 4, a);
    });
    if (x.size() > 2 && x[2].defined()) {
      const int64_t nb = forward::batch_dims();
      const Tensor bias = x[2].reshape(with_batch(x[2], nb, {1, p.input(1).size(0), 1, 1}));
      out = out.defined() ? out + bias : bias.expand(with_batch(x[2], nb, p.output().sizes())).contiguous();
    }
    return out;
  }
};

// Samples whose columns take less than this many bytes go through the product in chunks.
constexpr int64_t kChunkBytes = int64_t{1} << 15;

/// The forward values: im2col per sample into a buffer of this thread's, then a GEMM per group.
Tensor conv_values(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvAttrs& a) {
  const Window2d& win = a.window;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3), oc = weight.size(0);
  const int64_t oh = win.out_size(h, 0), ow = win.out_size(wd, 1), l = oh * ow, kk = win.kernel_numel();
  const int64_t groups = a.groups, ocg = oc / groups, ckg = c / groups * kk;
  Tensor out = make_window_output(op, {n, oc, oh, ow}, x.dtype());
  if (out.numel() == 0) return out;
  // A sample's columns (C kh kw rows of L) may count more than the output does.
  checked_mul(op, "the im2col buffer size", checked_mul(op, "the im2col buffer size", c, kk), l);
  const Tensor w = weight.contiguous();
  const Tensor b = bias.defined() ? bias.contiguous() : bias;
  // A 1x1 kernel at stride 1 without padding: a contiguous sample is its own column matrix.
  const bool identity_cols = kk == 1 && win.stride[0] == 1 && win.stride[1] == 1 && win.padding[0] == 0 &&
                             win.padding[1] == 0 && x.stride(3) == 1 && x.stride(2) == wd && x.stride(1) == h * wd;
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_ptr<T>();
    const T* wp = w.data_ptr<T>();
    const T* bp = b.defined() ? b.data_ptr<T>() : nullptr;
    T* op = out.data_ptr<T>();
    // One product per sample, straight into the result: OpenBLAS's small-matrix kernels take products
    // under about 10^6 multiply-adds without packing either operand, which made a small CNN's layers
    // (16 -> 32 channels on 14 x 14) 1.5 to 2x faster than one wide product over a chunk of samples'
    // columns side by side. Only samples whose columns are tiny (under kChunkBytes) still go in
    // chunks, where a call per sample would cost more than its product.
    const int64_t per_sample = c * kk * l, threads = get_num_threads();
    const int64_t chunk =
        identity_cols ? 1
                      : std::clamp<int64_t>(
                            kChunkBytes / static_cast<int64_t>(sizeof(T) * std::max<int64_t>(1, per_sample)), 1,
                            (n + threads - 1) / threads);
    cpu::parallel_for((n + chunk - 1) / chunk, 1, [&](int64_t first, int64_t last) {
      // Uninitialised: im2col writes every element, padding zeros included.
      const int64_t buffer_size = identity_cols ? 0 : chunk * per_sample;
      const cpu::Scratch<T> scratch(static_cast<size_t>(buffer_size + (chunk > 1 ? chunk * oc * l : 0)));
      T* const buffer = scratch.get();
      T* const product = buffer + buffer_size;
      for (int64_t piece = first; piece < last; ++piece) {
        const int64_t s0 = piece * chunk, samples = std::min(chunk, n - s0), ld = samples * l;
        const T* cols = xp + s0 * x.stride(0);
        if (!identity_cols) {
          for (int64_t i = 0; i < samples; ++i)
            for (int64_t ch = 0; ch < c; ++ch)
              im2col_plane(xp + (s0 + i) * x.stride(0) + ch * x.stride(1), x.stride(2), x.stride(3), h, wd, win, oh,
                           ow, buffer + ch * kk * ld + i * l, ld);
          cols = buffer;
        }
        if (samples == 1) {  // straight into the result, onto rows that start from the bias
          T* y = op + s0 * oc * l;
          if (bp != nullptr)
            for (int64_t o = 0; o < oc; ++o) std::fill(y + o * l, y + (o + 1) * l, bp[o]);
          for (int64_t gr = 0; gr < groups; ++gr)
            cpu::gemm_on_this_thread<T>(ocg, l, ckg, wp + gr * ocg * ckg, ckg, cols + gr * ckg * l, l,
                                        y + gr * ocg * l, l, bp != nullptr);
          continue;
        }
        for (int64_t gr = 0; gr < groups; ++gr)
          cpu::gemm_on_this_thread<T>(ocg, ld, ckg, wp + gr * ocg * ckg, ckg, cols + gr * ckg * ld, ld,
                                      product + gr * ocg * ld, ld, false);
        // [OC, samples L] to each sample's [OC, L], adding the bias.
        for (int64_t i = 0; i < samples; ++i)
          for (int64_t o = 0; o < oc; ++o) {
            const T* p = product + o * ld + i * l;
            T* y = op + (s0 + i) * oc * l + o * l;
            const T bias_o = bp != nullptr ? bp[o] : T(0);
            if (bp != nullptr)
              for (int64_t j = 0; j < l; ++j) y[j] = p[j] + bias_o;
            else
              std::copy(p, p + l, y);
          }
      }
    });
  });
  return out;
}

std::string shape_of(const Tensor& t) { return t.defined() ? t.shape_string() : std::string("(undefined)"); }

Tensor conv4d(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvAttrs& a,
              const Tensor& user_input, const Tensor& user_weight);

/// conv4d's batching rule (vmap), for samples checked already: ONE convolution of the values. A batch
/// of inputs only is a batch of more images (folded into N, a view where the layout allows); a batch
/// of weights is a batch of groups (functorch's trick): sample b's channels and filters become the
/// groups b G .. b G + G - 1 of one convolution of [N, B C, H, W] by [B OC, C / G, kh, kw]. That
/// copies a batch of weights (an expanded one too: each sample's weight must get its own gradient)
/// and, where only the weights are batched and G > 1, the input B times.
Tensor conv_rule(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvAttrs& a) {
  const uint32_t level = vmap::top_level({&x, &w, &bias});
  const vmap::Arg xb = vmap::unwrap(x, level), wb = vmap::unwrap(w, level), bb = vmap::unwrap(bias, level);
  const int64_t size = vmap::level_info(level).size, n = x.size(0), oc = w.size(0);
  const int64_t oh = a.window.out_size(x.size(2), 0), ow = a.window.out_size(x.size(3), 1);
  if (!wb.bdim && bb.bdim)  // a batch of biases: added to the convolution without them
    return conv4d(op, x, w, Tensor(), a, x, w) + bias.reshape({oc, 1, 1});
  if (!wb.bdim) {
    const Tensor v = *xb.bdim <= 1 ? xb.value : vmap::batch_first(xb);
    const int64_t d = *xb.bdim <= 1 ? *xb.bdim : 0;
    Tensor images = v.reshape({v.size(0) * v.size(1), v.size(2), v.size(3), v.size(4)});
    Tensor out = conv4d(op, images, w, bias, a, images, w);
    return vmap::wrap(out.reshape({v.size(0), v.size(1), oc, oh, ow}), d, level);
  }
  if (size == 0) return vmap::wrap(zeros({0, n, oc, oh, ow}, x.dtype()), 0, level);
  const Tensor weights = vmap::batch_first(wb);
  const Tensor all_weights = weights.reshape({size * oc, weights.size(2), weights.size(3), weights.size(4)});
  Tensor biases;
  if (bb.bdim) biases = vmap::batch_first(bb).reshape({size * oc});
  else if (bias.defined()) biases = bias.unsqueeze(0).expand({size, oc}).reshape({size * oc});
  Tensor images;
  int64_t groups = a.groups * size;
  if (xb.bdim) {
    const Tensor v = *xb.bdim == 1 ? xb.value : xb.value.movedim(*xb.bdim, 1);  // [N, B, C, H, W]
    images = v.reshape({n, size * x.size(1), x.size(2), x.size(3)});
  } else if (a.groups == 1) {
    images = x;  // every sample's filters read the same channels: B OC filters of one group
    groups = 1;
  } else {
    images = x.unsqueeze(1).expand({n, size, x.size(1), x.size(2), x.size(3)}).reshape({n, size * x.size(1), x.size(2), x.size(3)});
  }
  Tensor out = conv4d(op, images, all_weights, biases, {a.window, groups}, images, all_weights);
  return vmap::wrap(out.reshape({n, size, oc, oh, ow}), 1, level);
}

/// Checks conv's arguments as PyTorch does, with the input and weight already 4-D, then computes.
Tensor conv4d(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvAttrs& a,
              const Tensor& user_input, const Tensor& user_weight) {
  const Window2d& win = a.window;
  DYDX_CHECK(x.is_floating_point() && x.dtype() == w.dtype() && (!bias.defined() || bias.dtype() == w.dtype()), op,
             ": expected input, weight and bias to have the same floating dtype, but got ", x.dtype(), ", ",
             w.dtype(), " and ", bias.defined() ? dtype_name(bias.dtype()) : "no bias");
  DYDX_CHECK(a.groups > 0, op, ": non-positive groups is not supported (got groups=", a.groups, ")");
  for (int d = 0; d < 2; ++d) {
    DYDX_CHECK(win.stride[d] > 0, op, ": non-positive stride is not supported");
    DYDX_CHECK(win.padding[d] >= 0, op, ": negative padding is not supported");
    DYDX_CHECK(win.dilation[d] > 0, op, ": dilation should be greater than zero");
  }
  DYDX_CHECK(w.size(0) % a.groups == 0, op, ": Given groups=", a.groups, ", expected weight to be divisible by ",
             a.groups, " at dimension 0, but got weight of size ", user_weight.sizes(), " instead");
  DYDX_CHECK(x.size(1) == w.size(1) * a.groups, op, ": Given groups=", a.groups, ", weight of size ",
             user_weight.sizes(), ", expected input", user_input.sizes(), " to have ", w.size(1) * a.groups,
             " channels, but got ", x.size(1), " channels instead");
  DYDX_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == w.size(0)), op, ": Given weight of size ",
             user_weight.sizes(), ", expected bias to be 1-dimensional with ", w.size(0),
             " elements, but got bias of size ", shape_of(bias), " instead");
  win.check_extent(op, x.size(2), x.size(3));  // huge padding or dilation: an error, not a wrapped size
  const WindowExtent eh = window_extent(op, x.size(2), w.size(2), win.padding[0], win.dilation[0]);
  const WindowExtent ew = window_extent(op, x.size(3), w.size(3), win.padding[1], win.dilation[1]);
  DYDX_CHECK(eh.dilated <= eh.padded && ew.dilated <= ew.padded, op, ": Calculated padded input size per channel: (",
             eh.padded, " x ", ew.padded, "). Kernel size: (", eh.dilated, " x ", ew.dilated,
             "). Kernel size can't be greater than actual input size");
  if (vmap::takes_rule({&x, &w, &bias})) [[unlikely]] return conv_rule(op, x, w, bias, a);
  Tensor out = conv_values(op, x, w, bias, a);
  if (bias.defined()) finish<ConvolutionRecord>({&x, &w, &bias}, out, a);
  else finish<ConvolutionRecord>({&x, &w}, out, a);
  return out;
}

/// "int or pair" for the torch:: spelling: one value for both dims, or one per dim.
std::array<int64_t, 2> conv_pair_of(IntArrayRef v, const char* what, const char* op) {
  DYDX_CHECK(v.size() == 1 || v.size() == 2, op, ": expected ", what, " to be a single integer value or a list of 2 values, got ",
             v);
  return {v[0], v[v.size() - 1]};
}

enum class PadMode { explicit_, valid, same };

/// conv over 2-D planes: input [N, C, H, W] or [C, H, W]; padding "same" pads dilation (k - 1) in
/// total per dim, the odd one on the right (as PyTorch), by padding symmetrically with the larger
/// half and dropping the first output row or column.
Tensor conv2d_any(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                  std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, PadMode mode,
                  std::array<int64_t, 2> dilation, int64_t groups, const Tensor& user_input, const Tensor& user_weight) {
  DYDX_CHECK(input.dim() == 3 || input.dim() == 4, op, ": Expected 3D (unbatched) or 4D (batched) input to ", op,
             ", but got input of size: ", user_input.sizes());
  DYDX_CHECK(weight.dim() == 4, op, ": expected a 4-D weight [out_channels, in_channels / groups, kH, kW], but got weight of size ",
             user_weight.sizes());
  // PyTorch's check; an empty kernel would otherwise fit everywhere and divide by zero.
  // (conv1d's kH is its own unsqueezed 1, so it names kW only.)
  DYDX_CHECK(weight.size(2) > 0 && weight.size(3) > 0, op, ": kernel size should be greater than zero, but got ",
             user_weight.dim() == 3 ? "" : "kH: " + std::to_string(weight.size(2)) + " ", "kW: ", weight.size(3),
             " (weight of size ", user_weight.sizes(), ")");
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : input.unsqueeze(0);
  ConvAttrs a{{{weight.size(2), weight.size(3)}, dilation, padding, stride}, groups};
  std::array<bool, 2> shift{false, false};
  if (mode == PadMode::valid) a.window.padding = {0, 0};
  if (mode == PadMode::same) {
    DYDX_CHECK(stride[0] == 1 && stride[1] == 1, op, ": padding='same' is not supported for strided convolutions");
    for (int d = 0; d < 2; ++d) {
      if (dilation[d] <= 0) continue;  // conv4d raises
      const int64_t total = window_extent(op, 0, weight.size(2 + d), 0, dilation[d]).dilated - 1;
      a.window.padding[d] = total / 2 + total % 2;  // (total + 1) / 2 without overflowing
      shift[d] = total % 2 == 1;
    }
  }
  Tensor out = conv4d(op, x, weight, bias, a, user_input, user_weight);
  if (shift[0]) out = out.slice(2, 1, out.size(2));
  if (shift[1]) out = out.slice(3, 1, out.size(3));
  return batched ? out : out.squeeze(0);
}

PadMode pad_mode(std::string_view padding, const char* op) {
  if (padding == "valid") return PadMode::valid;
  if (padding == "same") return PadMode::same;
  detail::fail(op, ": Invalid padding string: '", std::string(padding), "' (expected 'valid' or 'same')");
}

Tensor conv1d_any(const Tensor& input, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                  PadMode mode, int64_t dilation, int64_t groups) {
  const char* op = "conv1d";
  DYDX_CHECK(input.dim() == 2 || input.dim() == 3, op,
             ": Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: ", input.sizes());
  DYDX_CHECK(weight.dim() == 3, op, ": expected weight to have 3 dims [out_channels, in_channels / groups, kernel], got ",
             weight.sizes());
  Tensor out = conv2d_any(op, input.unsqueeze(-2), weight.unsqueeze(2), bias, {1, stride}, {0, padding}, mode,
                          {1, dilation}, groups, input, weight);
  return out.squeeze(-2);
}

}  // namespace
}  // namespace ops

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride, IntArrayRef padding,
              IntArrayRef dilation, int64_t groups) {
  const char* op = "conv2d";
  return ops::conv2d_any(op, input, weight, bias, ops::conv_pair_of(stride, "stride", op),
                         ops::conv_pair_of(padding, "padding", op), ops::PadMode::explicit_,
                         ops::conv_pair_of(dilation, "dilation", op), groups, input, weight);
}

Tensor detail::conv2d_padding_mode(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
                                   std::string_view padding, IntArrayRef dilation, int64_t groups) {
  const char* op = "conv2d";
  return ops::conv2d_any(op, input, weight, bias, ops::conv_pair_of(stride, "stride", op), {0, 0},
                         ops::pad_mode(padding, op), ops::conv_pair_of(dilation, "dilation", op), groups, input, weight);
}

namespace {
int64_t single(IntArrayRef v, const char* what) {
  DYDX_CHECK(v.size() == 1, "conv1d: expected ", what, " to be a single integer value, got ", v);
  return v[0];
}
}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride, IntArrayRef padding,
              IntArrayRef dilation, int64_t groups) {
  return ops::conv1d_any(input, weight, bias, single(stride, "stride"), single(padding, "padding"),
                         ops::PadMode::explicit_, single(dilation, "dilation"), groups);
}

Tensor detail::conv1d_padding_mode(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
                                   std::string_view padding, IntArrayRef dilation, int64_t groups) {
  return ops::conv1d_any(input, weight, bias, single(stride, "stride"), 0, ops::pad_mode(padding, "conv1d"),
                         single(dilation, "dilation"), groups);
}

namespace nn::functional {

Tensor conv2d(const Tensor& input, const Tensor& weight, const Conv2dFuncOptions& o) {
  const char* op = "conv2d";
  std::array<int64_t, 2> padding{0, 0};
  ops::PadMode mode = ops::PadMode::explicit_;
  if (const auto* p = std::get_if<ExpandingArray<2>>(&o.padding())) padding = **p;
  else mode = std::holds_alternative<enumtype::kSame>(o.padding()) ? ops::PadMode::same : ops::PadMode::valid;
  return ops::conv2d_any(op, input, weight, o.bias(), *o.stride(), padding, mode, *o.dilation(), o.groups(), input,
                         weight);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Conv1dFuncOptions& o) {
  int64_t padding = 0;
  ops::PadMode mode = ops::PadMode::explicit_;
  if (const auto* p = std::get_if<ExpandingArray<1>>(&o.padding())) padding = (*p)[0];
  else mode = std::holds_alternative<enumtype::kSame>(o.padding()) ? ops::PadMode::same : ops::PadMode::valid;
  return ops::conv1d_any(input, weight, o.bias(), o.stride()[0], padding, mode, o.dilation()[0], o.groups());
}

}  // namespace nn::functional
}  // namespace dydx
