// Pooling over 2-D planes: max_pool2d, avg_pool2d and adaptive_avg_pool2d.
//
// max_pool2d keeps, for each output, the flat index (h W + w) of its maximum in the input plane;
// its VJP scatter-adds the cotangent to those indices and its JVP gathers the tangent from them, so
// both are differentiable (gather and scatter_add are each other's transposes) and the op is
// piecewise linear. The average pools are linear: each is one window average, whose windows and
// divisors are the op's attributes, and its adjoint (avg_pool2d_backward, a record of its own)
// spreads each cotangent over its window; each is the other's VJP.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dydx/nn/conv.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/window2d.hpp"

namespace dydx {
namespace ops {
namespace {

/// PyTorch's pooling_output_shape: floor or ceil of the window positions, where with ceil_mode the
/// last window must start inside the input or its left padding. Overflow-checked: the padded input
/// and the dilated kernel raise when they do not fit int64, and the rest is computed so that it
/// cannot wrap (PyTorch's num + stride - 1 and (out - 1) stride can).
int64_t pooled_size(const char* op, int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                    bool ceil_mode) {
  const WindowExtent e = window_extent(op, in, kernel, pad, dilation);
  const int64_t num = e.padded - e.dilated;  // both in [0, INT64_MAX]
  const bool inexact = num % stride != 0;
  // floor(num / stride), or ceil for ceil_mode, as C++'s division truncates toward zero.
  int64_t out = num / stride + (ceil_mode ? (inexact && num > 0) : -(inexact && num < 0)) + 1;
  int64_t last_start = 0;
  if (ceil_mode && (__builtin_mul_overflow(out - 1, stride, &last_start) || last_start >= in + pad)) --out;
  return out;
}

/// The leading sizes of x (every dim but the last two) times the plane size: x as [planes, H, W].
int64_t planes_of(const Tensor& x) { return x.numel() == 0 ? 0 : x.numel() / (x.size(-1) * x.size(-2)); }

Dims with_plane(const Tensor& x, int64_t h, int64_t w) {
  Dims shape(x.sizes().begin(), x.sizes().end() - 2);
  shape.push_back(h);
  shape.push_back(w);
  return shape;
}

// ---- batching rules (vmap) ----

/// A batch of x [..., H, W] as the value op takes it: planes are independent, so the batch is one more
/// leading dim wherever it is but among the plane's two (then it moves in front). {value, bdim}.
std::pair<Tensor, int64_t> planes_value(const Tensor& x) {
  const auto* b = vmap::batched(x);
  if (b->bdim < b->value.dim() - 2) return {b->value, b->bdim};
  return {vmap::batch_first({b->value, b->bdim}), 0};
}

/// The rule of an op on [..., H, W] of any rank: op once on the value, the batch where it was.
template <class F>
Tensor planes_rule(const Tensor& x, F&& op) {
  const auto [value, bdim] = planes_value(x);
  return vmap::wrap(op(value), bdim, vmap::batched(x)->level);
}

// ---- the window average and its adjoint ----

/// For each output row (column): the input rows [start, end) it averages and its part of the divisor.
struct AvgWindows {
  Dims h_start, h_end, h_div, w_start, w_end, w_div;
  int64_t height = 0, width = 0;   // the input's plane
  int64_t divisor_override = 0;    // 0: none
  bool divide_separately = false;  // adaptive pooling divides by the rows, then by the columns, as PyTorch
  int64_t out_h() const { return static_cast<int64_t>(h_start.size()); }
  int64_t out_w() const { return static_cast<int64_t>(w_start.size()); }
  template <class T>
  T average(T sum, int64_t oh, int64_t ow) const {
    if (divisor_override != 0) return sum / static_cast<T>(divisor_override);
    if (divide_separately) return sum / static_cast<T>(h_div[oh]) / static_cast<T>(w_div[ow]);
    int64_t divisor = 0;  // a huge kernel with count_include_pad: h_div w_div may pass int64
    if (__builtin_mul_overflow(h_div[oh], w_div[ow], &divisor))
      return sum / (static_cast<T>(h_div[oh]) * static_cast<T>(w_div[ow]));
    return sum / static_cast<T>(divisor);
  }
};

/// (out: the result's fresh tensor when the caller made it already; made here when undefined.)
template <class Record>
Tensor window_mean(const Tensor& x, const AvgWindows& a, Tensor out = Tensor());
Tensor window_mean_adjoint(const Tensor& g, const AvgWindows& a);

struct AvgPool2dRecord : Named<"avg_pool2d", "AvgPool2DBackward0">, Linear {
  using Attrs = AvgWindows;
  static Tensor replay(const TensorList& in, const Attrs& a) { return window_mean<AvgPool2dRecord>(in[0], a); }
  static void vjp(const Backward<AvgPool2dRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = window_mean_adjoint(g, b.attrs());
  }
  static Tensor jvp(const Primal<AvgPool2dRecord>& p, const TensorList& t) {
    return window_mean<AvgPool2dRecord>(t[0], p.attrs());
  }
};

struct AdaptiveAvgPool2dRecord : Named<"adaptive_avg_pool2d", "AdaptiveAvgPool2DBackward0">, Linear {
  using Attrs = AvgWindows;
  static Tensor replay(const TensorList& in, const Attrs& a) { return window_mean<AdaptiveAvgPool2dRecord>(in[0], a); }
  static void vjp(const Backward<AdaptiveAvgPool2dRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = window_mean_adjoint(g, b.attrs());
  }
  static Tensor jvp(const Primal<AdaptiveAvgPool2dRecord>& p, const TensorList& t) {
    return window_mean<AdaptiveAvgPool2dRecord>(t[0], p.attrs());
  }
};

/// The adjoint of both average pools, the VJP that differentiates again.
struct AvgPoolAdjointRecord : Named<"avg_pool2d_backward", "AvgPool2DBackwardBackward0">, Linear {
  using Attrs = AvgWindows;
  static Tensor replay(const TensorList& in, const Attrs& a) { return window_mean_adjoint(in[0], a); }
  static void vjp(const Backward<AvgPoolAdjointRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = window_mean<AvgPool2dRecord>(g, b.attrs());
  }
  static Tensor jvp(const Primal<AvgPoolAdjointRecord>& p, const TensorList& t) {
    return window_mean_adjoint(t[0], p.attrs());
  }
};

/// x [..., H, W] averaged over the windows into [..., OH, OW].
template <class Record>
Tensor window_mean(const Tensor& x_in, const AvgWindows& a, Tensor out) {
  if (vmap::takes_rule(x_in)) [[unlikely]]
    return planes_rule(x_in, [&a](const Tensor& v) { return window_mean<Record>(v, a); });
  const int64_t oh = a.out_h(), ow = a.out_w(), h = a.height, w = a.width;
  if (!out.defined()) out = detail::make_empty(with_plane(x_in, oh, ow), x_in.dtype());
  const int64_t planes = planes_of(x_in);
  if (out.numel() > 0) {
    const Tensor x = x_in.contiguous();
    cpu::dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x.data_ptr<T>();
      T* op = out.data_ptr<T>();
      cpu::parallel_for(planes, std::max<int64_t>(1, cpu::kElementwiseGrain / (h * w + 1)), [&](int64_t first, int64_t last) {
        for (int64_t plane = first; plane < last; ++plane) {
          const T* xq = xp + plane * h * w;
          T* oq = op + plane * oh * ow;
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
              if (a.h_start[i] >= a.h_end[i] || a.w_start[j] >= a.w_end[j]) {
                oq[i * ow + j] = T(0);  // a window wholly in the padding, as PyTorch
                continue;
              }
              T sum = 0;
              for (int64_t r = a.h_start[i]; r < a.h_end[i]; ++r)
                for (int64_t c = a.w_start[j]; c < a.w_end[j]; ++c) sum += xq[r * w + c];
              oq[i * ow + j] = a.average(sum, i, j);
            }
        }
      });
    });
  }
  finish<Record>({&x_in}, out, a);
  return out;
}

/// g [..., OH, OW] spread back over the windows into [..., H, W]: each input gets the averages of
/// the windows it is in.
Tensor window_mean_adjoint(const Tensor& g_in, const AvgWindows& a) {
  if (vmap::takes_rule(g_in)) [[unlikely]]
    return planes_rule(g_in, [&a](const Tensor& v) { return window_mean_adjoint(v, a); });
  const int64_t oh = a.out_h(), ow = a.out_w(), h = a.height, w = a.width;
  Tensor out = detail::make_empty(with_plane(g_in, h, w), g_in.dtype());
  const int64_t planes = planes_of(out);
  if (out.numel() > 0) {
    const Tensor g = g_in.contiguous();
    cpu::dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* gp = g.data_ptr<T>();
      T* op = out.data_ptr<T>();
      cpu::parallel_for(planes, std::max<int64_t>(1, cpu::kElementwiseGrain / (h * w + 1)), [&](int64_t first, int64_t last) {
        for (int64_t plane = first; plane < last; ++plane) {
          const T* gq = gp + plane * oh * ow;
          T* oq = op + plane * h * w;
          std::fill(oq, oq + h * w, T(0));
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
              const T share = a.average(gq[i * ow + j], i, j);
              for (int64_t r = a.h_start[i]; r < a.h_end[i]; ++r)
                for (int64_t c = a.w_start[j]; c < a.w_end[j]; ++c) oq[r * w + c] += share;
            }
        }
      });
    });
  }
  finish<AvgPoolAdjointRecord>({&g_in}, out, a);
  return out;
}

// ---- max pooling ----

struct MaxPoolGeometry {
  std::array<int64_t, 2> kernel, stride, padding, dilation;
  bool ceil_mode;
};

std::tuple<Tensor, Tensor> max_pool(const Tensor& input, const MaxPoolGeometry& g);

struct MaxPool2dRecord : Named<"max_pool2d", "MaxPool2DWithIndicesBackward0">, Linear {
  using Attrs = MaxPoolGeometry;
  static constexpr Saves saves{.extras = 1};
  // The values again, read at the indices (a step of their own, see max_pool; in[1]): the maxima
  // themselves, a nan where a window holds one, without a second scan. With dilation a window may lie
  // wholly in the padding (-inf, its index past its row, as PyTorch's): those scan again.
  static Tensor replay(const TensorList& in, const Attrs& g) {
    if (g.dilation[0] > 1 || g.dilation[1] > 1) return std::get<0>(max_pool(in[0], g));
    const Tensor &x = in[0], &index = in[1];
    const int64_t n = x.size(0), c = x.size(1);
    return x.reshape({n, c, x.size(2) * x.size(3)})
        .gather(2, index.reshape({n, c, index.size(2) * index.size(3)}))
        .reshape(index.sizes());
  }
  /// The indices [N, C, OH, OW] as [nb ones, N, C, OH OW] expanded over like's batch dims.
  static Tensor flat_index(const Tensor& index, const Tensor& like, int64_t nb) {
    Dims shape(nb, 1), full(like.sizes().begin(), like.sizes().begin() + nb);
    for (int64_t d = 0; d < 2; ++d) {
      shape.push_back(index.size(d));
      full.push_back(index.size(d));
    }
    shape.push_back(index.size(2) * index.size(3));
    full.push_back(index.size(2) * index.size(3));
    return index.reshape(shape).expand(full);
  }
  static void vjp(const Backward<MaxPool2dRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    const Dims& in = b.input_sizes(0);
    const Tensor index = b.extra(0);
    Tensor flat_g = g.reshape(with_batch(g, nb, {in[0], in[1], index.size(2) * index.size(3)}));
    Tensor zero = zeros(with_batch(g, nb, {in[0], in[1], in[2] * in[3]}), g.dtype());
    grads[0] = scatter_add(zero, nb + 2, flat_index(index, g, nb), flat_g).reshape(with_batch(g, nb, in));
  }
  static Tensor jvp(const Primal<MaxPool2dRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    const Tensor& x = p.input(0);
    Tensor flat_t = t[0].reshape(with_batch(t[0], nb, {x.size(0), x.size(1), x.size(2) * x.size(3)}));
    return gather(flat_t, nb + 2, flat_index(p.extra(0), t[0], nb)).reshape(with_batch(t[0], nb, p.output().sizes()));
  }
};


/// One step of PyTorch's scan for the outputs [0, count) of a row: output j compares the element src[j * stride]
/// with its best so far and takes it if it is larger or nan, noting the window position pos it came from (the
/// same for the whole row, so no index arithmetic per element). Selects, no branch, over a row of outputs at
/// once: a loop the compiler vectorises. kStride: the stride when known at compile time (a strided load then
/// becomes a shuffle), else 0 and stride.
template <class T, int64_t kStride>
void scan_step(T* __restrict best_value, int64_t* __restrict best_pos, const T* __restrict src, int64_t pos,
               int64_t stride, int64_t count) {
  const int64_t step = kStride != 0 ? kStride : stride;
  for (int64_t j = 0; j < count; ++j) {
    const T v = src[j * step];
    const bool take = (v > best_value[j]) | std::isnan(v);
    best_value[j] = take ? v : best_value[j];
    best_pos[j] = take ? pos : best_pos[j];
  }
}

/// The sizes max_pool_plane needs, passed by value: as locals, no store through the output pointers can alias
/// them, so the compiler keeps them in registers.
struct PoolPlane {
  int64_t h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t j_lo, j_hi;  // the output columns whose windows lie wholly inside the plane's width
};

/// Output (i, j) of a plane: PyTorch's scan over its window.
template <class T>
void one_window(const T* xq, T* orow, int64_t* irow, const PoolPlane& g, int64_t h0, int64_t h1, int64_t j) {
  int64_t w0 = j * g.sw - g.pw;
  const int64_t w1 = std::min(w0 + (g.kw - 1) * g.dw + 1, g.w);
  if (w0 < 0) w0 = (w0 % g.dw + g.dw) % g.dw;  // the first tap inside the plane, in one step
  int64_t best = h0 * g.w + w0;
  T best_value = -std::numeric_limits<T>::infinity();
  for (int64_t r = h0; r < h1; r += g.dh)
    for (int64_t col = w0; col < w1; col += g.dw) {
      const T v = xq[r * g.w + col];
      if (v > best_value || std::isnan(v)) {
        best_value = v;
        best = r * g.w + col;
      }
    }
  orow[j] = best_value;
  irow[j] = best;
}

/// One plane [H, W] into its outputs [OH, OW] and their flat indices. The columns [j_lo, j_hi) are scanned window
/// element by window element across the row (scan_step), the columns at the edges one window at a time.
template <class T>
void max_pool_plane(const T* __restrict xq, T* __restrict oq, int64_t* __restrict iq, const PoolPlane g) {
  const int64_t count = g.j_hi - g.j_lo, first_col = g.j_lo * g.sw - g.pw;
  for (int64_t i = 0; i < g.oh; ++i) {
    int64_t h0 = i * g.sh - g.ph;
    const int64_t h1 = std::min(h0 + (g.kh - 1) * g.dh + 1, g.h);
    // The first tap inside the plane, h0 mod dh: one step per skipped tap took 2^61 of them.
    if (h0 < 0) h0 = (h0 % g.dh + g.dh) % g.dh;
    T* orow = oq + i * g.ow;
    int64_t* irow = iq + i * g.ow;
    if (h0 >= h1 || count == 0) {  // no row of the window inside the plane, or no interior column
      for (int64_t j = 0; j < g.ow; ++j) one_window(xq, orow, irow, g, h0, h1, j);
      continue;
    }
    for (int64_t j = 0; j < g.j_lo; ++j) one_window(xq, orow, irow, g, h0, h1, j);
    for (int64_t j = g.j_hi; j < g.ow; ++j) one_window(xq, orow, irow, g, h0, h1, j);
    // The scan starts from each window's first element, which it would take over -inf anyway (or keep -inf at
    // that index): the same outputs as starting from -inf. irow holds the winning element's position in its
    // window, r * w + b * dw, until the column j * sw - pw is added at the end.
    T* ob = orow + g.j_lo;
    int64_t* ib = irow + g.j_lo;
    const T* first = xq + h0 * g.w + first_col;
    for (int64_t j = 0; j < count; ++j) {
      ob[j] = first[j * g.sw];
      ib[j] = h0 * g.w;
    }
    for (int64_t r = h0; r < h1; r += g.dh)
      for (int64_t b = r == h0 ? 1 : 0; b < g.kw; ++b) {
        const T* src = xq + r * g.w + first_col + b * g.dw;  // output j_lo + j's element is src[j * sw]
        const int64_t pos = r * g.w + b * g.dw;
        if (g.sw == 2) {
          scan_step<T, 2>(ob, ib, src, pos, g.sw, count);
        } else if (g.sw == 1) {
          scan_step<T, 1>(ob, ib, src, pos, g.sw, count);
        } else {
          scan_step<T, 0>(ob, ib, src, pos, g.sw, count);
        }
      }
    for (int64_t j = 0; j < count; ++j) ib[j] += first_col + j * g.sw;
  }
}

/// max over each window of x [N, C, H, W] and the flat index of the maximum: PyTorch's scan (the
/// first of equal maxima, and the last nan, which wins over everything).
std::tuple<Tensor, Tensor> max_pool_values(const char* op, const Tensor& x_in, const MaxPoolGeometry& geo, int64_t oh,
                                           int64_t ow) {
  const int64_t n = x_in.size(0), c = x_in.size(1), h = x_in.size(2), w = x_in.size(3);
  Tensor out = make_window_output(op, {n, c, oh, ow}, x_in.dtype());
  Tensor index = make_window_output(op, {n, c, oh, ow}, kInt64);
  if (out.numel() == 0) return {out, index};
  const Tensor x = x_in.contiguous();
  PoolPlane g{h, w, oh, ow, geo.kernel[0], geo.kernel[1], geo.stride[0], geo.stride[1],
              geo.padding[0], geo.padding[1], geo.dilation[0], geo.dilation[1], 0, 0};
  // The first j with j * sw - pw >= 0: ceil(pw / sw), without pw + sw - 1 (both may be near INT64_MAX / 2).
  g.j_lo = std::min(g.pw == 0 ? 0 : (g.pw - 1) / g.sw + 1, ow);
  const int64_t last_start = w - 1 + g.pw - (g.kw - 1) * g.dw;      // the largest j * sw whose window ends inside
  g.j_hi = std::max(g.j_lo, last_start >= 0 ? std::min(last_start / g.sw + 1, ow) : int64_t{0});
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_ptr<T>();
    T* op = out.data_ptr<T>();
    int64_t* ip = index.data_ptr<int64_t>();
    // A plane's work in taps; a window reads at most the plane's rows and columns (in double: a huge
    // kernel's kh kw passes int64).
    const double taps = static_cast<double>(oh) * static_cast<double>(ow) * static_cast<double>(std::min(g.kh, h)) *
                        static_cast<double>(std::min(g.kw, w));
    const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(cpu::kElementwiseGrain / std::max(1.0, taps)));
    cpu::parallel_for(n * c, grain, [&](int64_t first, int64_t last) {
      for (int64_t plane = first; plane < last; ++plane)
        max_pool_plane<T>(xp + plane * h * w, op + plane * oh * ow, ip + plane * oh * ow, g);
    });
  });
  return {out, index};
}

// ---- argument checks, as PyTorch's pool2d_shape_check ----

std::array<int64_t, 2> pool_pair_of(IntArrayRef v, const char* what, const char* op) {
  DYDX_CHECK(v.size() == 1 || v.size() == 2, op, ": ", what, " must either be a single int, or a tuple of two ints (got ",
             v, ")");
  return {v[0], v[v.size() - 1]};
}

void check_pool_input(const Tensor& input, const char* op) {
  DYDX_CHECK(input.dim() == 3 || input.dim() == 4, op,
             ": Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: ",
             input.sizes());
  for (int64_t d = input.dim() - 3; d < input.dim(); ++d)
    DYDX_CHECK(input.size(d) > 0, op, ": Expected input to have non-zero size for non-batch dimensions, but input has sizes ",
               input.sizes(), " with dimension ", d, " being empty");
  DYDX_CHECK(input.is_floating_point(), op, ": expected a floating point input, got dtype ", input.dtype());
}

void check_window(const MaxPoolGeometry& g, const char* op) {
  DYDX_CHECK(g.kernel[0] > 0 && g.kernel[1] > 0, op, ": kernel size should be greater than zero, but got kH: ",
             g.kernel[0], " kW: ", g.kernel[1]);
  DYDX_CHECK(g.stride[0] > 0 && g.stride[1] > 0, op, ": stride should be greater than zero, but got dH: ", g.stride[0],
             " dW: ", g.stride[1]);
  DYDX_CHECK(g.dilation[0] > 0 && g.dilation[1] > 0, op, ": dilation should be greater than zero, but got dilationH: ",
             g.dilation[0], " dilationW: ", g.dilation[1]);
  DYDX_CHECK(g.padding[0] >= 0 && g.padding[1] >= 0, op, ": pad must be non-negative, but got padH: ", g.padding[0],
             " padW: ", g.padding[1]);
  DYDX_CHECK(g.kernel[1] / 2 >= g.padding[1] && g.kernel[0] / 2 >= g.padding[0], op,
             ": pad should be smaller than or equal to half of kernel size, but got padW = ", g.padding[1],
             ", padH = ", g.padding[0], ", kW = ", g.kernel[1], ", kH = ", g.kernel[0]);
}

/// The output plane of a pool, checked to be non-empty.
std::array<int64_t, 2> pooled_plane(const Tensor& x, const MaxPoolGeometry& g, const char* op) {
  const int64_t h = x.size(-2), w = x.size(-1);
  const int64_t oh = pooled_size(op, h, g.kernel[0], g.padding[0], g.stride[0], g.dilation[0], g.ceil_mode);
  const int64_t ow = pooled_size(op, w, g.kernel[1], g.padding[1], g.stride[1], g.dilation[1], g.ceil_mode);
  DYDX_CHECK(oh >= 1 && ow >= 1, op, ": Given input size: (", x.size(-3), "x", h, "x", w,
             "). Calculated output size: (", x.size(-3), "x", oh, "x", ow, "). Output size is too small");
  return {oh, ow};
}

std::tuple<Tensor, Tensor> max_pool(const Tensor& input, const MaxPoolGeometry& g) {
  const char* op = "max_pool2d";
  check_pool_input(input, op);
  check_window(g, op);
  const auto [oh, ow] = pooled_plane(input, g, op);
  if (vmap::takes_rule(input)) [[unlikely]] {
    // Every plane of the batch as one pool over [planes, 1, H, W] (a view where the layout allows).
    const auto [value, bdim] = planes_value(input);
    Dims lead(value.sizes().begin(), value.sizes().end() - 2);
    const int64_t planes = detail::product(lead);
    auto pooled = max_pool(value.reshape({planes, 1, value.size(-2), value.size(-1)}), g);
    lead.push_back(oh);
    lead.push_back(ow);
    const uint32_t level = vmap::batched(input)->level;
    return {vmap::wrap(std::get<0>(pooled).reshape(lead), bdim, level),
            vmap::wrap(std::get<1>(pooled).reshape(lead), bdim, level)};
  }
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : input.unsqueeze(0);
  auto [out, index] = max_pool_values(op, x, g, oh, ow);
  // The indices have no record of their own; func::compile replays them as a step of theirs, before
  // the values' step that saves them.
  compile::detail::note_kernel("max_pool2d_indices", {&x}, index,
                               [g](const TensorList& in) { return std::get<1>(max_pool(in[0], g)); });
  finish<MaxPool2dRecord>({&x}, out, g, {&index});
  if (batched) return {out, index};
  return {out.squeeze(0), index.squeeze(0)};
}

Tensor avg_pool(const Tensor& input, const MaxPoolGeometry& g, bool count_include_pad,
                std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  check_pool_input(input, op);
  check_window(g, op);
  DYDX_CHECK(!divisor_override || *divisor_override != 0, op, ": divisor must be not zero");
  const auto [oh, ow] = pooled_plane(input, g, op);
  Tensor out = make_window_output(op, with_plane(input, oh, ow), input.dtype());  // before the tables it sizes
  AvgWindows a;
  a.height = input.size(-2);
  a.width = input.size(-1);
  a.divisor_override = divisor_override.value_or(0);
  auto windows = [&](int64_t in, int64_t out, int d, Dims& start, Dims& end, Dims& div) {
    for (int64_t o = 0; o < out; ++o) {
      int64_t s = o * g.stride[d] - g.padding[d];
      int64_t e = std::min(s + g.kernel[d], in + g.padding[d]);
      const int64_t padded = e - s;
      s = std::max<int64_t>(s, 0);
      e = std::min(e, in);
      start.push_back(s);
      end.push_back(std::max(e, s));
      div.push_back(count_include_pad ? padded : std::max<int64_t>(e - s, 1));
    }
  };
  windows(a.height, oh, 0, a.h_start, a.h_end, a.h_div);
  windows(a.width, ow, 1, a.w_start, a.w_end, a.w_div);
  return window_mean<AvgPool2dRecord>(input, a, out);
}

Tensor adaptive_avg_pool(const Tensor& input, std::array<int64_t, 2> size) {
  const char* op = "adaptive_avg_pool2d";
  DYDX_CHECK(size[0] >= 0 && size[1] >= 0, op,
             ": elements of output_size must be greater than or equal to 0 but received {", size[0], ", ", size[1], "}");
  DYDX_CHECK(input.dim() == 3 || input.dim() == 4, op, ": Expected 3D or 4D tensor, but got ", input.sizes());
  check_pool_input(input, op);
  // The output first: one whose element count overflows, or that memory cannot hold, raises here
  // instead of after tables of output_size entries.
  Tensor out = make_window_output(op, with_plane(input, size[0], size[1]), input.dtype());
  AvgWindows a;
  a.height = input.size(-2);
  a.width = input.size(-1);
  a.divide_separately = true;
  // PyTorch's start_index and end_index, in 128 bits: o in and (o + 1) in can pass int64.
  auto windows = [](int64_t in, int64_t out_size, Dims& start, Dims& end, Dims& div) {
    for (int64_t o = 0; o < out_size; ++o) {
      start.push_back(static_cast<int64_t>(static_cast<__int128>(o) * in / out_size));
      end.push_back(static_cast<int64_t>(((static_cast<__int128>(o) + 1) * in + out_size - 1) / out_size));
      div.push_back(end.back() - start.back());
    }
  };
  windows(a.height, size[0], a.h_start, a.h_end, a.h_div);
  windows(a.width, size[1], a.w_start, a.w_end, a.w_div);
  return window_mean<AdaptiveAvgPool2dRecord>(input, a, out);
}

MaxPoolGeometry geometry(IntArrayRef kernel, IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation,
                         bool ceil_mode, const char* op) {
  const auto k = pool_pair_of(kernel, "kernel_size", op);
  return {k, stride.size() == 0 ? k : pool_pair_of(stride, "stride", op), pool_pair_of(padding, "padding", op),
          pool_pair_of(dilation, "dilation", op), ceil_mode};
}

}  // namespace
}  // namespace ops

Tensor max_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride, IntArrayRef padding,
                  IntArrayRef dilation, bool ceil_mode) {
  return std::get<0>(max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode));
}

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride,
                                                   IntArrayRef padding, IntArrayRef dilation, bool ceil_mode) {
  return ops::max_pool(input, ops::geometry(kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d"));
}

Tensor avg_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride, IntArrayRef padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  return ops::avg_pool(input, ops::geometry(kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d"),
                       count_include_pad, divisor_override);
}

Tensor adaptive_avg_pool2d(const Tensor& input, IntArrayRef output_size) {
  return ops::adaptive_avg_pool(input, ops::pool_pair_of(output_size, "output_size", "adaptive_avg_pool2d"));
}

namespace nn::functional {

Tensor max_pool2d(const Tensor& input, const MaxPool2dFuncOptions& o) {
  return std::get<0>(max_pool2d_with_indices(input, o));
}

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const MaxPool2dFuncOptions& o) {
  return ops::max_pool(input, {*o.kernel_size(), *o.stride(), *o.padding(), *o.dilation(), o.ceil_mode()});
}

Tensor avg_pool2d(const Tensor& input, const AvgPool2dFuncOptions& o) {
  return ops::avg_pool(input, {*o.kernel_size(), *o.stride(), *o.padding(), {1, 1}, o.ceil_mode()},
                       o.count_include_pad(), o.divisor_override());
}

Tensor adaptive_avg_pool2d(const Tensor& input, const AdaptiveAvgPool2dFuncOptions& o) {
  return ops::adaptive_avg_pool(input, *o.output_size());
}

}  // namespace nn::functional
}  // namespace dydx
