// im2col and col2im (torch.nn.functional.unfold and fold): linear maps that are each other's
// adjoints, so each one's VJP is the other, and both are linear (no second-order term).
//
// unfold copies each window position's values into one column, with zeros for padding; fold sums
// each column back into its window. The kernels work a plane (one sample's channel) at a time:
// planes are independent, so they split across threads, and fold's overlapping adds stay in one
// thread, in a fixed order, whatever the thread count.
#include <algorithm>

#include "dydx/nn/conv.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/window2d.hpp"

namespace dydx {
namespace ops {
namespace {

/// The window positions ow in [first, last) whose input column ow s - p + j d lies in [0, size).
void valid_positions(int64_t size, int64_t out, int64_t offset, int64_t stride, int64_t& first, int64_t& last) {
  // offset = j d - p; want 0 <= ow s + offset < size. ceil(-offset / s) as (-offset - 1) / s + 1:
  // -offset + s - 1 can overflow when the padding and the stride are both near INT64_MAX / 2 and more.
  first = offset >= 0 ? 0 : (-offset - 1) / stride + 1;
  last = size - offset <= 0 ? 0 : std::min(out, (size - offset - 1) / stride + 1);
  first = std::min(first, last);
}

struct FoldAttrs {
  Window2d window;
  int64_t height, width;  // the spatial size of unfold's input, fold's output
};

struct Im2ColRecord : Named<"im2col", "Im2ColBackward0">, Linear {
  using Attrs = FoldAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return unfold_planes(in[0], a.window); }
  static void vjp(const Backward<Im2ColRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    const Dims& in = b.input_sizes(0);
    Tensor planes = fold_planes(g.reshape({-1, g.size(-2), g.size(-1)}), b.attrs().height, b.attrs().width,
                                b.attrs().window);
    grads[0] = planes.reshape(with_batch(g, nb, in));
  }
  static Tensor jvp(const Primal<Im2ColRecord>& p, const TensorList& t) {
    const Tensor& x = p.input(0);
    Tensor cols = unfold_planes(t[0].reshape({-1, x.size(1), x.size(2), x.size(3)}), p.attrs().window);
    return cols.reshape(with_batch(t[0], p.batch_dims(), p.output().sizes()));
  }
};

struct Col2ImRecord : Named<"col2im", "Col2ImBackward0">, Linear {
  using Attrs = FoldAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return fold_planes(in[0], a.height, a.width, a.window); }
  static void vjp(const Backward<Col2ImRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    Tensor cols = unfold_planes(g.reshape({-1, g.size(-3), g.size(-2), g.size(-1)}), b.attrs().window);
    grads[0] = cols.reshape(with_batch(g, nb, b.input_sizes(0)));
  }
  static Tensor jvp(const Primal<Col2ImRecord>& p, const TensorList& t) {
    const Tensor& cols = p.input(0);
    Tensor planes = fold_planes(t[0].reshape({-1, cols.size(1), cols.size(2)}), p.attrs().height, p.attrs().width,
                                p.attrs().window);
    return planes.reshape(with_batch(t[0], p.batch_dims(), p.output().sizes()));
  }
};

}  // namespace

WindowExtent window_extent(const char* op, int64_t in, int64_t kernel, int64_t pad, int64_t dilation) {
  WindowExtent e{};
  int64_t both_sides = 0;
  DYDX_CHECK(!__builtin_mul_overflow(pad, 2, &both_sides) && !__builtin_add_overflow(in, both_sides, &e.padded), op,
             ": the padded input size ", in, " + 2 * ", pad, " (padding ", pad, ") overflows int64");
  int64_t reach = 0;
  DYDX_CHECK(!__builtin_mul_overflow(dilation, kernel - 1, &reach) && !__builtin_add_overflow(reach, 1, &e.dilated), op,
             ": the dilated kernel size ", dilation, " * (", kernel, " - 1) + 1 (dilation ", dilation, ", kernel size ",
             kernel, ") overflows int64");
  return e;
}

void Window2d::check_extent(const char* op, int64_t height, int64_t width) const {
  window_extent(op, height, kernel[0], padding[0], dilation[0]);
  window_extent(op, width, kernel[1], padding[1], dilation[1]);
  checked_mul(op, "the kernel's element count", kernel[0], kernel[1]);
}

int64_t checked_numel(const char* op, IntArrayRef sizes) {
  int64_t numel = 1;
  for (const int64_t s : sizes)
    DYDX_CHECK(!__builtin_mul_overflow(numel, s, &numel), op, ": the output's element count (sizes ", sizes,
               ") overflows int64");
  return numel;
}

Tensor make_window_output(const char* op, IntArrayRef sizes, ScalarType dtype) {
  checked_numel(op, sizes);
  try {
    return detail::make_empty(sizes, dtype);
  } catch (const Error& e) {  // out of memory, or a byte count past int64: say whose output it was
    detail::fail(op, ": cannot allocate the output of sizes ", sizes, ": ", e.what());
  }
}

// Stride 1, a plane whose rows lie out_w apart, and rows of out_w columns (a "same" convolution of a
// contiguous plane): window position (r, q) of kernel offset (ki, kj) reads the plane at index
// r out_w + q + shift, one shift for the whole offset, so that each offset's valid positions
// form one contiguous run of the plane, interrupted only by the columns that wrap around a row's end.
// Copying (or adding) the run whole beats a short loop per output row.
bool runs_whole(const Window2d& w, int64_t sx_h, int64_t sx_w, int64_t out_w) {
  return w.stride[0] == 1 && w.stride[1] == 1 && sx_w == 1 && sx_h == out_w;
}

// Zeros over a run's wrapped-around columns: between rows r and r + 1 of the run, the positions
// [r out_w + last, (r + 1) out_w + first), usually one or two (|col_offset|), written without a
// memset call each.
template <class T>
void zero_wrapped(T* row, int64_t first_row, int64_t last_row, int64_t first, int64_t last, int64_t out_w) {
  const int64_t gap = out_w - last + first;
  for (int64_t r = first_row; r + 1 < last_row; ++r) {
    T* p = row + r * out_w + last;
    if (gap > 4) std::fill(p, p + gap, T(0));
    else
      for (int k = 0; k < 4; ++k)
        if (k < gap) p[k] = T(0);
  }
}

// Kernel offset (ki, kj)'s valid window positions under runs_whole(): rows [first_row, last_row),
// columns [first, last) in each, and the run [begin, end) of position indices r out_w + q from the
// first valid position to the last; position index i reads the plane at i + shift.
struct RunOfOffset {
  int64_t first_row, last_row, first, last, begin, end, shift;
  RunOfOffset(const Window2d& w, int64_t ki, int64_t kj, int64_t height, int64_t width, int64_t out_h,
              int64_t out_w) {
    const int64_t row_offset = ki * w.dilation[0] - w.padding[0], col_offset = kj * w.dilation[1] - w.padding[1];
    valid_positions(height, out_h, row_offset, 1, first_row, last_row);
    valid_positions(width, out_w, col_offset, 1, first, last);
    begin = first_row * out_w + first;
    end = (last_row - 1) * out_w + last;
    // Only a run that reads the plane has a shift: an offset that never does may be near INT64_MAX
    // (a huge padding or dilation), and one that does lies within the plane's rows and columns.
    shift = empty() ? 0 : row_offset * out_w + col_offset;
  }
  bool empty() const { return first_row == last_row || first == last; }
};

template <class T>
void im2col_plane(const T* x, int64_t sx_h, int64_t sx_w, int64_t height, int64_t width, const Window2d& w,
                  int64_t out_h, int64_t out_w, T* cols, int64_t row_stride) {
  if (runs_whole(w, sx_h, sx_w, out_w)) {
    for (int64_t ki = 0; ki < w.kernel[0]; ++ki)
      for (int64_t kj = 0; kj < w.kernel[1]; ++kj) {
        T* row = cols + (ki * w.kernel[1] + kj) * row_stride;
        const RunOfOffset run(w, ki, kj, height, width, out_h, out_w);
        if (run.empty()) {
          std::fill(row, row + out_h * out_w, T(0));
          continue;
        }
        // The run, wrapped-around columns included (they read inside the plane), then zeros over those.
        std::copy(x + run.begin + run.shift, x + run.end + run.shift, row + run.begin);
        std::fill(row, row + run.begin, T(0));
        std::fill(row + run.end, row + out_h * out_w, T(0));
        zero_wrapped(row, run.first_row, run.last_row, run.first, run.last, out_w);
      }
    return;
  }
  for (int64_t ki = 0; ki < w.kernel[0]; ++ki)
    for (int64_t kj = 0; kj < w.kernel[1]; ++kj) {
      T* row = cols + (ki * w.kernel[1] + kj) * row_stride;
      const int64_t offset = kj * w.dilation[1] - w.padding[1];
      int64_t first, last;
      valid_positions(width, out_w, offset, w.stride[1], first, last);
      for (int64_t oh = 0; oh < out_h; ++oh) {
        T* r = row + oh * out_w;
        const int64_t ih = oh * w.stride[0] - w.padding[0] + ki * w.dilation[0];
        if (ih < 0 || ih >= height) {
          std::fill(r, r + out_w, T(0));
          continue;
        }
        std::fill(r, r + first, T(0));
        std::fill(r + last, r + out_w, T(0));
        if (first == last) continue;
        const T* xr = x + ih * sx_h + (first * w.stride[1] + offset) * sx_w;
        const int64_t step = w.stride[1] * sx_w;
        if (step == 1) std::copy(xr, xr + (last - first), r + first);
        else
          for (int64_t k = 0; k < last - first; ++k) r[first + k] = xr[k * step];
      }
    }
}
template void im2col_plane<float>(const float*, int64_t, int64_t, int64_t, int64_t, const Window2d&, int64_t, int64_t,
                                  float*, int64_t);
template void im2col_plane<double>(const double*, int64_t, int64_t, int64_t, int64_t, const Window2d&, int64_t,
                                   int64_t, double*, int64_t);

template <class T>
void col2im_plane(const T* cols, int64_t row_stride, int64_t height, int64_t width, const Window2d& w, int64_t out_h,
                  int64_t out_w, T* x) {
  std::fill(x, x + height * width, T(0));
  for (int64_t ki = 0; ki < w.kernel[0]; ++ki)
    for (int64_t kj = 0; kj < w.kernel[1]; ++kj) {
      const T* row = cols + (ki * w.kernel[1] + kj) * row_stride;
      const int64_t offset = kj * w.dilation[1] - w.padding[1];
      int64_t first, last;
      valid_positions(width, out_w, offset, w.stride[1], first, last);
      if (first == last) continue;
      for (int64_t oh = 0; oh < out_h; ++oh) {
        const int64_t ih = oh * w.stride[0] - w.padding[0] + ki * w.dilation[0];
        if (ih < 0 || ih >= height) continue;
        // The column summed as an integer first: added to the pointer term by term, a huge padding
        // would take it far outside the plane (undefined, and caught by clang's pointer-overflow check).
        T* xr = x + ih * width + (first * w.stride[1] + offset);
        const T* r = row + oh * out_w + first;
        if (w.stride[1] == 1)
          for (int64_t k = 0; k < last - first; ++k) xr[k] += r[k];
        else
          for (int64_t k = 0; k < last - first; ++k) xr[k * w.stride[1]] += r[k];
      }
    }
}
template <class T>
void col2im_plane_consuming(T* cols, int64_t row_stride, int64_t height, int64_t width, const Window2d& w,
                            int64_t out_h, int64_t out_w, T* x) {
  if (!runs_whole(w, width, 1, out_w)) {
    col2im_plane(cols, row_stride, height, width, w, out_h, out_w, x);
    return;
  }
  std::fill(x, x + height * width, T(0));
  for (int64_t ki = 0; ki < w.kernel[0]; ++ki)
    for (int64_t kj = 0; kj < w.kernel[1]; ++kj) {
      T* row = cols + (ki * w.kernel[1] + kj) * row_stride;
      const RunOfOffset run(w, ki, kj, height, width, out_h, out_w);
      if (run.empty()) continue;
      // Zeros over the wrapped-around columns, then the run added whole: each element of x gets the
      // same terms in the same order as from col2im_plane (a wrapped column adds +0).
      zero_wrapped(row, run.first_row, run.last_row, run.first, run.last, out_w);
      T* xs = x + run.shift;
      for (int64_t i = run.begin; i < run.end; ++i) xs[i] += row[i];
    }
}
template void col2im_plane_consuming<float>(float*, int64_t, int64_t, int64_t, const Window2d&, int64_t, int64_t,
                                            float*);
template void col2im_plane_consuming<double>(double*, int64_t, int64_t, int64_t, const Window2d&, int64_t, int64_t,
                                             double*);
template void col2im_plane<float>(const float*, int64_t, int64_t, int64_t, const Window2d&, int64_t, int64_t, float*);
template void col2im_plane<double>(const double*, int64_t, int64_t, int64_t, const Window2d&, int64_t, int64_t,
                                   double*);

namespace {

/// A batch of [M, C, ...] samples as one [M', C', ...] for unfold_planes and fold_planes, whose
/// samples and channels are independent planes: a batch dim just before the sample's first or second
/// dim is merged into it (a view where the layout allows); one elsewhere moves in front first.
/// {merged value, the sample dim the batch went into}.
std::pair<Tensor, int64_t> merged_batch(const Tensor& x) {
  const auto* b = vmap::batched(x);
  const Tensor v = b->bdim <= 1 ? b->value : vmap::batch_first({b->value, b->bdim});
  const int64_t d = b->bdim <= 1 ? b->bdim : 0;
  Dims sizes;
  for (int64_t i = 0; i < v.dim(); ++i) {
    if (i == d + 1) sizes.back() *= v.size(i);
    else sizes.push_back(v.size(i));
  }
  return {v.reshape(sizes), d};
}

/// out of a merged_batch value back to a batch: its dim d split into the batch and the sample
/// result's size there.
Tensor split_batch(const Tensor& out, int64_t d, int64_t sample_size, const Tensor& x) {
  Dims sizes(out.sizes().begin(), out.sizes().end());
  sizes[static_cast<size_t>(d)] = sample_size;
  sizes.insert_at(static_cast<size_t>(d), vmap::level_info(vmap::batched(x)->level).size);
  return vmap::wrap(out.reshape(sizes), d, vmap::batched(x)->level);
}

}  // namespace

Tensor unfold_planes(const Tensor& x, const Window2d& window) {
  if (vmap::takes_rule(x)) [[unlikely]] {
    const auto [value, d] = merged_batch(x);
    return split_batch(unfold_planes(value, window), d, d == 0 ? x.size(0) : x.size(1) * window.kernel_numel(), x);
  }
  const int64_t m = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t out_h = window.out_size(height, 0), out_w = window.out_size(width, 1), l = out_h * out_w;
  const int64_t kk = window.kernel_numel();
  Tensor out = detail::make_empty({m, c * kk, l}, x.dtype());
  if (out.numel() > 0)
    cpu::dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x.data_ptr<T>();
      T* op = out.data_ptr<T>();
      cpu::parallel_for(m * c, std::max<int64_t>(1, cpu::kElementwiseGrain / (kk * l)), [&](int64_t first, int64_t last) {
        for (int64_t plane = first; plane < last; ++plane) {
          const int64_t i = plane / c, ch = plane % c;
          im2col_plane(xp + i * x.stride(0) + ch * x.stride(1), x.stride(2), x.stride(3), height, width, window, out_h,
                       out_w, op + plane * kk * l, l);
        }
      });
    });
  finish<Im2ColRecord>({&x}, out, {window, height, width});
  return out;
}

Tensor fold_planes(const Tensor& cols_in, int64_t height, int64_t width, const Window2d& window) {
  if (vmap::takes_rule(cols_in)) [[unlikely]] {
    const auto [value, d] = merged_batch(cols_in);
    return split_batch(fold_planes(value, height, width, window), d,
                       d == 0 ? cols_in.size(0) : cols_in.size(1) / window.kernel_numel(), cols_in);
  }
  const int64_t kk = window.kernel_numel();
  const int64_t m = cols_in.size(0), c = cols_in.size(1) / kk;
  const int64_t out_h = window.out_size(height, 0), out_w = window.out_size(width, 1);
  Tensor out = detail::make_empty({m, c, height, width}, cols_in.dtype());
  if (out.numel() > 0) {
    Tensor cols = cols_in.contiguous();
    cpu::dispatch_floating(cols.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* cp = cols.data_ptr<T>();
      T* op = out.data_ptr<T>();
      cpu::parallel_for(m * c, std::max<int64_t>(1, cpu::kElementwiseGrain / (kk * out_h * out_w + 1)),
                        [&](int64_t first, int64_t last) {
                          for (int64_t plane = first; plane < last; ++plane)
                            col2im_plane(cp + plane * kk * out_h * out_w, out_h * out_w, height, width, window, out_h, out_w,
                                         op + plane * height * width);
                        });
    });
  }
  finish<Col2ImRecord>({&cols_in}, out, {window, height, width});
  return out;
}

namespace {

Window2d window_of(const ExpandingArray<2>& kernel, const ExpandingArray<2>& dilation, const ExpandingArray<2>& padding,
                   const ExpandingArray<2>& stride, const char* op) {
  for (int d = 0; d < 2; ++d) {
    DYDX_CHECK(kernel[d] > 0, op, ": kernel size should be greater than zero, but got kernel_height: ", kernel[0],
               " kernel_width: ", kernel[1]);
    DYDX_CHECK(dilation[d] > 0, op, ": dilation should be greater than zero, but got dilation_height: ", dilation[0],
               " dilation_width: ", dilation[1]);
    DYDX_CHECK(padding[d] >= 0, op, ": padding should be non-negative, but got pad_height: ", padding[0],
               " pad_width: ", padding[1]);
    DYDX_CHECK(stride[d] > 0, op, ": stride should be greater than zero, but got stride_height: ", stride[0],
               " stride_width: ", stride[1]);
  }
  return {{kernel[0], kernel[1]}, {dilation[0], dilation[1]}, {padding[0], padding[1]}, {stride[0], stride[1]}};
}

}  // namespace
}  // namespace ops

namespace nn::functional {

Tensor unfold(const Tensor& input, const UnfoldFuncOptions& o) {
  const char* op = "unfold";
  const ops::Window2d w = ops::window_of(o.kernel_size(), o.dilation(), o.padding(), o.stride(), op);
  DYDX_CHECK(input.dim() == 3 || input.dim() == 4, op,
             ": Expected 3D or 4D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions "
             "for input, but got: ",
             input.sizes());
  ops::check_floating(input, op);
  const bool batched = input.dim() == 4;
  Tensor x = batched ? input : input.unsqueeze(0);
  DYDX_CHECK(x.size(1) > 0 && x.size(2) > 0 && x.size(3) > 0, op,
             ": Expected non-zero sizes for every dim but the batch dim, but got input of shape ", input.sizes());
  w.check_extent(op, x.size(2), x.size(3));  // huge padding, dilation or kernel: an error, not a wrapped size
  const int64_t out_h = w.out_size(x.size(2), 0), out_w = w.out_size(x.size(3), 1);
  DYDX_CHECK(w.fits(x.size(2), x.size(3)) && out_h >= 1 && out_w >= 1, op, ": Given input with spatial size (",
             x.size(2), ", ", x.size(3), "), kernel_size=(", w.kernel[0], ", ", w.kernel[1], "), dilation=(",
             w.dilation[0], ", ", w.dilation[1], "), padding=(", w.padding[0], ", ", w.padding[1],
             "), calculated shape of the array of sliding blocks as (", out_h, ", ", out_w,
             "), but its components must be at least one.");
  ops::checked_numel(op, {x.size(0), ops::checked_mul(op, "the output's rows", x.size(1), w.kernel_numel()),
                          ops::checked_mul(op, "the number of sliding blocks", out_h, out_w)});
  Tensor out = ops::unfold_planes(x, w);
  return batched ? out : out.squeeze(0);
}

Tensor fold(const Tensor& input, const FoldFuncOptions& o) {
  const char* op = "fold";
  const ops::Window2d w = ops::window_of(o.kernel_size(), o.dilation(), o.padding(), o.stride(), op);
  const int64_t height = o.output_size()[0], width = o.output_size()[1];
  DYDX_CHECK(height > 0 && width > 0, op, ": output size should be greater than zero, but got output_height: ", height,
             " output_width: ", width);
  DYDX_CHECK(input.dim() == 2 || input.dim() == 3, op,
             ": Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions "
             "for input, but got: ",
             input.sizes());
  ops::check_floating(input, op);
  const bool batched = input.dim() == 3;
  Tensor cols = batched ? input : input.unsqueeze(0);
  w.check_extent(op, height, width);  // huge padding, dilation or kernel: an error, not a wrapped size
  const int64_t kk = w.kernel_numel();
  DYDX_CHECK(cols.size(1) % kk == 0 && cols.size(1) > 0, op,
             ": Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got "
             "input.size(1)=",
             cols.size(1), " and kernel_size=(", w.kernel[0], ", ", w.kernel[1], ")");
  const int64_t out_h = w.out_size(height, 0), out_w = w.out_size(width, 1);
  DYDX_CHECK(w.fits(height, width) && out_h >= 1 && out_w >= 1, op, ": Given output_size=(", height, ", ", width,
             "), kernel_size=(", w.kernel[0], ", ", w.kernel[1], "), dilation=(", w.dilation[0], ", ", w.dilation[1],
             "), padding=(", w.padding[0], ", ", w.padding[1], "), stride=(", w.stride[0], ", ", w.stride[1],
             "), calculated shape of the array of sliding blocks as (", out_h, ", ", out_w,
             "), which is too small (non-positive)");
  const int64_t blocks = ops::checked_mul(op, "the number of sliding blocks", out_h, out_w);
  DYDX_CHECK(cols.size(2) == blocks, op, ": Given output_size=(", height, ", ", width, "), kernel_size=(",
             w.kernel[0], ", ", w.kernel[1], "), dilation=(", w.dilation[0], ", ", w.dilation[1], "), padding=(",
             w.padding[0], ", ", w.padding[1], "), stride=(", w.stride[0], ", ", w.stride[1],
             "), expected size of input's dimension 2 to match the calculated number of sliding blocks ", out_h,
             " * ", out_w, " = ", blocks, ", but got input.size(2)=", cols.size(2), ".");
  ops::checked_numel(op, {cols.size(0), cols.size(1) / kk, height, width});
  Tensor out = ops::fold_planes(cols, height, width, w);
  return batched ? out : out.squeeze(0);
}

}  // namespace nn::functional
}  // namespace dydx
