// max_pool2d scans the interior columns of each output row together, one window element at a time, in a loop the
// compiler vectorises. Here, on rows wide enough for its vector lanes and on values full of ties, nans and
// infinities, its values and indices are checked against the plain scan one window at a time (PyTorch's, which
// conv_goldens.txt checks on small planes): first of equal maxima, the last nan wins.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

namespace {

using dydx::Tensor;

struct Geometry {
  std::vector<int64_t> kernel, stride, padding, dilation;
  bool ceil_mode;
  std::array<int64_t, 4> shape;
};

/// Values in {-2, -1, 0, 1} (ties in most windows), with nans, -infs and infs sprinkled in.
std::vector<double> values(int64_t numel) {
  std::vector<double> v(numel);
  for (int64_t i = 0; i < numel; ++i) {
    v[i] = std::floor(std::sin(0.37 * static_cast<double>(i)) * 2);
    if (i % 97 == 5 || i % 131 == 17) v[i] = std::numeric_limits<double>::quiet_NaN();
    if (i % 89 == 7) v[i] = -std::numeric_limits<double>::infinity();
    if (i % 101 == 3) v[i] = std::numeric_limits<double>::infinity();
  }
  return v;
}

/// The plain scan: for each output, its window's rows and columns in order, taking an element larger than the
/// best so far or nan. Returns values and flat indices (h W + w) in row-major output order.
std::tuple<std::vector<double>, std::vector<int64_t>> plain_scan(const std::vector<double>& x, const Geometry& g,
                                                                 int64_t oh, int64_t ow) {
  const auto& [n, c, h, w] = g.shape;
  std::vector<double> out;
  std::vector<int64_t> index;
  for (int64_t plane = 0; plane < n * c; ++plane)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        int64_t h0 = i * g.stride[0] - g.padding[0], w0 = j * g.stride[1] - g.padding[1];
        const int64_t h1 = std::min(h0 + (g.kernel[0] - 1) * g.dilation[0] + 1, h);
        const int64_t w1 = std::min(w0 + (g.kernel[1] - 1) * g.dilation[1] + 1, w);
        while (h0 < 0) h0 += g.dilation[0];
        while (w0 < 0) w0 += g.dilation[1];
        double best_value = -std::numeric_limits<double>::infinity();
        int64_t best = h0 * w + w0;
        for (int64_t r = h0; r < h1; r += g.dilation[0])
          for (int64_t col = w0; col < w1; col += g.dilation[1]) {
            const double v = x[plane * h * w + r * w + col];
            if (v > best_value || std::isnan(v)) {
              best_value = v;
              best = r * w + col;
            }
          }
        out.push_back(best_value);
        index.push_back(best);
      }
  return {out, index};
}

TEST(MaxPoolRows, WideRowsMatchThePlainScan) {
  const Geometry cases[] = {
      {{2, 2}, {2, 2}, {0, 0}, {1, 1}, false, {2, 3, 10, 70}},  // the CNN's pool: stride 2, every column interior
      {{3, 3}, {2, 2}, {1, 1}, {1, 1}, true, {1, 2, 9, 71}},    // padding: edge columns, ceil_mode's last window
      {{2, 3}, {1, 2}, {1, 0}, {2, 1}, false, {1, 2, 8, 66}},   // dilated rows, a row window cut by the padding
      {{3, 3}, {1, 1}, {1, 1}, {1, 1}, false, {1, 1, 6, 40}},   // stride 1
      {{2, 2}, {3, 3}, {1, 1}, {2, 2}, true, {1, 2, 11, 80}},   // stride 3 (no compile-time stride), dilated columns
      {{1, 4}, {1, 4}, {0, 0}, {1, 1}, false, {1, 1, 3, 64}},   // one row per window
      {{2, 5}, {2, 1}, {0, 2}, {1, 1}, true, {2, 1, 5, 33}},    // wide window, stride 1, padding on both sides
  };
  for (const Geometry& g : cases) {
    const auto& [n, c, h, w] = g.shape;
    const std::vector<double> x = values(n * c * h * w);
    for (dydx::ScalarType dt : {dydx::kFloat32, dydx::kFloat64}) {
      const Tensor input = dydx::tensor(x, dydx::dtype(dt)).reshape({n, c, h, w});
      const std::tuple<Tensor, Tensor> pooled =
          dydx::max_pool2d_with_indices(input, g.kernel, g.stride, g.padding, g.dilation, g.ceil_mode);
      const Tensor& out = std::get<0>(pooled);
      const Tensor& index = std::get<1>(pooled);
      // The input rounded to the dtype, so that the plain scan sees the same numbers.
      const auto [want, want_index] = plain_scan(input.to_vector<double>(), g, out.size(2), out.size(3));
      const std::vector<double> got = out.to_vector<double>();
      const std::vector<int64_t> got_index = index.to_vector<int64_t>();
      ASSERT_EQ(got.size(), want.size());
      int64_t wrong = 0, nans = 0;
      for (size_t k = 0; k < got.size(); ++k) {
        const bool same = std::isnan(want[k]) ? std::isnan(got[k]) : got[k] == want[k];
        wrong += !same || got_index[k] != want_index[k];
        nans += std::isnan(want[k]);
      }
      EXPECT_EQ(wrong, 0) << "kernel " << g.kernel[0] << "x" << g.kernel[1] << " stride " << g.stride[0] << "x"
                          << g.stride[1] << " on width " << w << (dt == dydx::kFloat32 ? " float32" : " float64");
      EXPECT_GT(nans, 0) << "the values should put a nan in some window";
    }
  }
}

// The gradient goes to the winning elements: with ties everywhere, to the first of each window's maxima.
TEST(MaxPoolRows, GradientGoesToTheFirstOfTiedMaxima) {
  const Tensor x = dydx::zeros({1, 1, 4, 64}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  dydx::max_pool2d(x, 2).sum().backward();
  const std::vector<double> g = x.grad().to_vector<double>();
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t col = 0; col < 64; ++col)
      EXPECT_EQ(g[r * 64 + col], r % 2 == 0 && col % 2 == 0 ? 1.0 : 0.0) << "row " << r << " column " << col;
}

}  // namespace
