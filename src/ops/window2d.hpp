// The sliding window shared by unfold/fold (im2col/col2im), convolution and pooling: its kernel,
// dilation, padding and stride along height and width, and the planes-level ops the rules of
// conv2d are composed of.
#pragma once

#include <array>
#include <cstdint>

#include "dydx/error.hpp"
#include "dydx/tensor.hpp"

namespace dydx::ops {

// Window geometry comes from the caller (kernel, padding, dilation and stride up to INT64_MAX, an
// adaptive pool's output size), so the sizes computed from it are checked: a product or sum that
// does not fit int64 raises a dydx::Error naming the op and the operands as given, rather than
// wrapping around into a made-up shape, a division by zero or a loop of 2^62 steps.

/// a * b, or an error "<op>: <what> <a> * <b> overflows int64".
inline int64_t checked_mul(const char* op, const char* what, int64_t a, int64_t b) {
  int64_t r = 0;
  DYDX_CHECK(!__builtin_mul_overflow(a, b, &r), op, ": ", what, " ", a, " * ", b, " overflows int64");
  return r;
}

/// The padded input size (in + 2 pad) and the dilated kernel extent (dilation (kernel - 1) + 1)
/// along one dim, for in >= 0, kernel >= 1, pad >= 0 and dilation >= 1, each checked (see above).
struct WindowExtent {
  int64_t padded, dilated;
};
WindowExtent window_extent(const char* op, int64_t in, int64_t kernel, int64_t pad, int64_t dilation);

/// The element count of a window op's output of the given sizes, or an error naming op and the
/// sizes when it overflows int64.
int64_t checked_numel(const char* op, IntArrayRef sizes);
/// A fresh tensor of the given sizes for a window op's output, made before anything sized by it:
/// an element count that overflows int64, or memory that cannot hold it, raises a dydx::Error
/// naming op and the sizes.
Tensor make_window_output(const char* op, IntArrayRef sizes, ScalarType dtype);

struct Window2d {
  std::array<int64_t, 2> kernel{1, 1}, dilation{1, 1}, padding{0, 0}, stride{1, 1};

  /// Raises (naming op) unless the padded plane and the dilated kernel fit int64 along both dims and
  /// the kernel's element count does too; after it, out_size, fits and kernel_numel cannot overflow.
  void check_extent(const char* op, int64_t height, int64_t width) const;
  /// The number of window positions along dim d of an input of size `in`: PyTorch's
  /// (in + 2 pad - dilation (kernel - 1) - 1) / stride + 1, which is <= 0 when the window does not fit.
  /// Valid once check_extent has passed for `in`.
  int64_t out_size(int64_t in, int d) const {
    const int64_t span = in + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1;
    return span < 0 ? 0 : span / stride[d] + 1;
  }
  /// Whether the (dilated) kernel fits into the padded input along both dims.
  bool fits(int64_t height, int64_t width) const {
    return height + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1 >= 0 &&
           width + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1 >= 0;
  }
  int64_t kernel_numel() const { return kernel[0] * kernel[1]; }
};

/// im2col of x [M, C, H, W] (any strides) into a fresh [M, C kh kw, L] (L the window positions);
/// differentiable (its VJP is fold_planes). The window must fit (checked by the callers).
Tensor unfold_planes(const Tensor& x, const Window2d& window);
/// col2im: cols [M, C kh kw, L] summed back into a fresh [M, C, height, width]; differentiable
/// (its VJP is unfold_planes).
Tensor fold_planes(const Tensor& cols, int64_t height, int64_t width, const Window2d& window);

/// Writes the im2col of one plane (strides sx_h, sx_w) into kh kw rows of OH OW values starting at
/// `cols`, row_stride apart (OH OW for a plane's own block; more when several samples' columns sit
/// side by side).
template <class T>
void im2col_plane(const T* x, int64_t sx_h, int64_t sx_w, int64_t height, int64_t width, const Window2d& w,
                  int64_t out_h, int64_t out_w, T* cols, int64_t row_stride);
/// The adjoint of im2col_plane: sums kh kw rows of OH OW values (row_stride apart, from `cols`) back
/// into one fresh plane [height, width] at x (overwritten, contiguous).
template <class T>
void col2im_plane(const T* cols, int64_t row_stride, int64_t height, int64_t width, const Window2d& w, int64_t out_h,
                  int64_t out_w, T* x);
/// col2im_plane for columns the caller no longer needs (a kernel's own scratch): it may overwrite
/// them (with zeros where a window position falls outside the plane), which lets it add each kernel
/// offset's rows as one run. The same values as col2im_plane, bit for bit (x starts from +0, so it
/// never holds a -0 that an added +0 would flip).
template <class T>
void col2im_plane_consuming(T* cols, int64_t row_stride, int64_t height, int64_t width, const Window2d& w,
                            int64_t out_h, int64_t out_w, T* x);

}  // namespace dydx::ops
