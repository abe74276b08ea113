// conv2d's VJP without create_graph runs dedicated kernels (src/ops/conv_vjp_kernel.cpp); with
// create_graph it runs the rules composed of unfold, fold and matmul. These tests hold the kernels to
// the composed rules (float64 and float32; groups, stride, dilation, padding, 1x1 kernels, batches
// that do not split evenly across threads, zero-size batches, non-contiguous and broadcast inputs and
// cotangents; 1, 2 and 8 threads), to finite differences, and to one result per thread count.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace dydx {
namespace {

struct Geometry {
  std::string name;
  std::vector<int64_t> x, w;  // [N, C, H, W], [OC, C / groups, kh, kw]
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups;
};

// Each one takes a different path through im2col and col2im (whole runs under stride 1 with rows of
// the plane's width; row by row otherwise) or through the products (groups, 1x1, BLAS or the skinny
// kernel for grad_W).
const std::vector<Geometry>& geometries() {
  static const std::vector<Geometry> g = {
      {"same_3x3", {5, 3, 7, 6}, {4, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {"strided_dilated_grouped", {5, 4, 9, 8}, {6, 2, 3, 2}, {2, 1}, {1, 0}, {1, 2}, 2},
      {"same_dilated", {3, 2, 8, 8}, {2, 2, 3, 3}, {1, 1}, {2, 2}, {2, 2}, 1},
      {"depthwise", {4, 6, 6, 5}, {6, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 6},
      {"padding_wider_than_kernel", {3, 2, 5, 4}, {3, 2, 3, 2}, {1, 1}, {3, 2}, {1, 1}, 1},
      {"one_by_one", {3, 4, 5, 5}, {6, 4, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1},
      {"one_by_one_strided_padded", {3, 4, 5, 6}, {6, 2, 1, 1}, {2, 3}, {1, 0}, {1, 1}, 2},
      {"single_row", {4, 3, 1, 9}, {2, 3, 1, 3}, {1, 2}, {0, 1}, {1, 1}, 1},
      // 72 rows of columns per group: grad_W through the skinny kernel (partial vectors of outputs).
      {"many_channels", {5, 8, 6, 6}, {10, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {"many_channels_grouped_strided", {4, 16, 7, 6}, {6, 8, 3, 3}, {2, 1}, {1, 1}, {1, 1}, 2},
      // 289 positions: the skinny product runs in blocks of positions (256 in float, 128 in double).
      {"many_channels_large_plane", {2, 8, 17, 17}, {32, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {"no_input_channels", {3, 0, 5, 4}, {2, 0, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {"no_output_channels", {3, 2, 5, 4}, {0, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {"empty_planes_all_padding", {3, 2, 0, 4}, {2, 2, 1, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
  };
  return g;
}

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& b, const Geometry& g) {
  return conv2d(x, w, b, {g.stride[0], g.stride[1]}, {g.padding[0], g.padding[1]}, {g.dilation[0], g.dilation[1]},
                g.groups);
}

/// Whether got and want agree within rtol relative to want's largest magnitude (sums in another
/// order differ in the last bits, more where terms cancel).
::testing::AssertionResult close(const Tensor& got, const Tensor& want, double rtol) {
  if (!got.defined() || !want.defined()) return ::testing::AssertionFailure() << "undefined gradient";
  if (got.sizes() != want.sizes()) return ::testing::AssertionFailure() << got.sizes() << " != " << want.sizes();
  if (want.numel() == 0) return ::testing::AssertionSuccess();
  const double scale = std::max(1.0, want.abs().max().item<double>());
  const double diff = (got.to(kFloat64) - want.to(kFloat64)).abs().max().item<double>();
  if (diff <= rtol * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max difference " << diff << " at scale " << scale;
}

/// The gradients of sum(g * conv(x, w, b)) with respect to x, w and b, from the kernels (no graph)
/// or from the composed rules (create_graph), detached.
TensorList vjp(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& g, const Geometry& geo,
               bool composed) {
  Tensor y = conv(x, w, b, geo);
  TensorList grads = grad({y}, {x, w, b}, {g}, std::nullopt, /*create_graph=*/composed);
  for (Tensor& t : grads) t = t.detach();
  return grads;
}

/// x, w, b (requiring grad) and a cotangent for a geometry with batch n.
struct Inputs {
  Tensor x, w, b, g;
};
Inputs make_inputs(const Geometry& geo, int64_t n, ScalarType dtype) {
  std::vector<int64_t> xs = geo.x;
  xs[0] = n;
  Inputs in;
  in.x = randn(xs, dtype).requires_grad_();
  in.w = randn(geo.w, dtype).requires_grad_();
  in.b = randn({geo.w[0]}, dtype).requires_grad_();
  in.g = randn(conv(in.x.detach(), in.w.detach(), in.b.detach(), geo).sizes(), dtype);
  return in;
}

TEST(ConvVjp, KernelsMatchTheComposedRules) {
  manual_seed(11);
  for (int threads : {1, 2, 8}) {
    testing::ThreadCount scope(threads);
    for (ScalarType dtype : {kFloat64, kFloat32})
      for (const Geometry& geo : geometries())
        for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{33}}) {
          const Inputs in = make_inputs(geo, n, dtype);
          const TensorList fast = vjp(in.x, in.w, in.b, in.g, geo, false);
          const TensorList composed = vjp(in.x, in.w, in.b, in.g, geo, true);
          const double rtol = dtype == kFloat64 ? 1e-12 : 2e-5;
          for (size_t i = 0; i < 3; ++i)
            EXPECT_TRUE(close(fast[i], composed[i], rtol))
                << geo.name << " n=" << n << " " << dtype << " threads=" << threads << " grad " << i;
        }
  }
}

TEST(ConvVjp, NonContiguousAndBroadcastOperandsGiveTheGradientsOfTheirCopies) {
  manual_seed(12);
  for (int threads : {1, 2}) {
    testing::ThreadCount scope(threads);
    for (ScalarType dtype : {kFloat64, kFloat32})
      for (const Geometry& geo : geometries()) {
        const Inputs in = make_inputs(geo, 5, dtype);
        const std::vector<int64_t> gs = in.g.sizes().vec();
        // x channels-last in memory; a strided slice of a larger tensor.
        std::vector<int64_t> xs = geo.x;
        xs[0] = 5;
        Tensor x_last = randn({xs[0], xs[2], xs[3], xs[1]}, dtype).permute({0, 3, 1, 2}).requires_grad_();
        Tensor x_strided = randn({xs[0], xs[1], xs[2], 2 * xs[3]}, dtype).slice(3, 0, 2 * xs[3], 2).requires_grad_();
        // The first columns of wider rows; when the rows are as wide as the output's, im2col copies
        // whole runs that pass over the hidden columns, and must zero what it read there.
        const int64_t wide = std::max(xs[3] + 1, gs[3]);
        Tensor x_narrowed = randn({xs[0], xs[1], xs[2], wide}, dtype).slice(3, 0, xs[3]).requires_grad_();
        // Cotangents: transposed in their last two dims, broadcast along the width, broadcast whole
        // (as sum()'s backward gives), and one row of every other sample.
        const std::vector<Tensor> cotangents = {
            randn({gs[0], gs[1], gs[3], gs[2]}, dtype).transpose(2, 3),
            randn({gs[0], gs[1], gs[2], 1}, dtype).expand(gs),
            randn({1}, dtype).reshape({1, 1, 1, 1}).expand(gs),
            randn({2 * gs[0], gs[1], gs[2], gs[3]}, dtype).slice(0, 0, 2 * gs[0], 2),
        };
        const double rtol = dtype == kFloat64 ? 1e-12 : 2e-5;
        for (const Tensor& x : {x_last, x_strided, x_narrowed}) {
          ASSERT_TRUE(!x.is_contiguous() || x.numel() == 0);
          Tensor copy = x.detach().contiguous().requires_grad_();
          const TensorList a = vjp(x, in.w, in.b, in.g, geo, false), b = vjp(copy, in.w, in.b, in.g, geo, false);
          for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(close(a[i], b[i], 0)) << geo.name << " grad " << i;
        }
        for (size_t k = 0; k < cotangents.size(); ++k) {
          const Tensor& g = cotangents[k];  // contiguous after all where a dim has size 1
          const TensorList a = vjp(in.x, in.w, in.b, g, geo, false);
          const TensorList b = vjp(in.x, in.w, in.b, g.contiguous(), geo, false);
          const TensorList c = vjp(in.x, in.w, in.b, g, geo, true);
          for (size_t i = 0; i < 3; ++i) {
            EXPECT_TRUE(close(a[i], b[i], 0)) << geo.name << " cotangent " << k << " grad " << i;
            EXPECT_TRUE(close(a[i], c[i], rtol)) << geo.name << " cotangent " << k << " grad " << i;
          }
        }
      }
  }
}

TEST(ConvVjp, OnlyTheRequestedGradientsAreComputed) {
  manual_seed(13);
  const Geometry& geo = geometries()[1];
  const Inputs in = make_inputs(geo, 6, kFloat64);
  const TensorList all = vjp(in.x, in.w, in.b, in.g, geo, true);
  Tensor x = in.x.detach(), w = in.w.detach(), b = in.b.detach();
  // Each leaf alone requiring grad: the kernels compute that one gradient, with the same values.
  const Tensor leaves[3] = {x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()};
  for (int i = 0; i < 3; ++i) {
    Tensor y = conv(i == 0 ? leaves[0] : x, i == 1 ? leaves[1] : w, i == 2 ? leaves[2] : b, geo);
    EXPECT_TRUE(close(grad({y}, {leaves[i]}, {in.g})[0], all[static_cast<size_t>(i)], 1e-12)) << "grad " << i;
  }
  // No bias at all.
  Tensor xr = x.clone().requires_grad_(), wr = w.clone().requires_grad_();
  const TensorList no_bias = grad({conv(xr, wr, Tensor(), geo)}, {xr, wr}, {in.g});
  EXPECT_TRUE(close(no_bias[0], all[0], 1e-12));
  EXPECT_TRUE(close(no_bias[1], all[1], 1e-12));
}

// The kernels' sums run in an order set by the sizes and the thread count: the same call twice
// gives the same bits, whichever thread takes which samples.
TEST(ConvVjp, SameThreadCountSameBits) {
  manual_seed(14);
  for (int threads : {2, 8}) {
    testing::ThreadCount scope(threads);
    const Geometry& geo = geometries()[0];
    const Inputs in = make_inputs(geo, 33, kFloat32);
    const TensorList first = vjp(in.x, in.w, in.b, in.g, geo, false);
    for (int round = 0; round < 5; ++round) {
      const TensorList again = vjp(in.x, in.w, in.b, in.g, geo, false);
      for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(close(again[i], first[i], 0)) << "grad " << i << " round " << round;
    }
  }
}

// Central differences of sum(u * conv(x, w, b)) in float64 against the kernels' gradients.
TEST(ConvVjp, KernelsMatchFiniteDifferences) {
  manual_seed(15);
  testing::ThreadCount scope(1);  // 9 samples in 4 slots: some slots sum over several samples
  for (const Geometry& geo : geometries()) {
    const Inputs in = make_inputs(geo, 9, kFloat64);
    const TensorList got = vjp(in.x, in.w, in.b, in.g, geo, false);
    Tensor leaves[3] = {in.x.detach().clone(), in.w.detach().clone(), in.b.detach().clone()};
    auto loss = [&] { return (conv(leaves[0], leaves[1], leaves[2], geo) * in.g).sum().item<double>(); };
    // The loss is linear in each leaf, so a central difference has no truncation error and a large
    // step keeps the rounding error of the loss (a sum of thousands of terms) small.
    const double h = 1e-2;
    for (int i = 0; i < 3; ++i) {
      Tensor flat = leaves[i].view({-1});
      const std::vector<double> analytic = got[static_cast<size_t>(i)].contiguous().to_vector<double>();
      for (int64_t e = 0; e < flat.numel(); e += 1 + flat.numel() / 40) {
        const double v = flat[e].item<double>();
        flat[e].fill_(v + h);
        const double up = loss();
        flat[e].fill_(v - h);
        const double down = loss();
        flat[e].fill_(v);
        const double numeric = (up - down) / (2 * h);
        EXPECT_NEAR(analytic[static_cast<size_t>(e)], numeric, 1e-6 * (1 + std::abs(numeric)))
            << geo.name << " grad " << i << " element " << e;
      }
    }
  }
}

// A training step's backward (loss.backward() into .grad) takes the kernels too, and a second
// backward through create_graph gradients still works (the composed rules).
TEST(ConvVjp, BackwardIntoGradAndDoubleBackward) {
  manual_seed(16);
  const Geometry& geo = geometries()[0];
  const Inputs in = make_inputs(geo, 4, kFloat64);
  const TensorList want = vjp(in.x, in.w, in.b, in.g, geo, true);
  (conv(in.x, in.w, in.b, geo) * in.g).sum().backward();
  EXPECT_TRUE(close(in.x.grad(), want[0], 1e-12));
  EXPECT_TRUE(close(in.w.grad(), want[1], 1e-12));
  EXPECT_TRUE(close(in.b.grad(), want[2], 1e-12));
  in.x.set_grad(Tensor());
  in.w.set_grad(Tensor());
  in.b.set_grad(Tensor());
  // d/dw of |grad_x|^2: through the composed rule's graph.
  Tensor gx = grad({conv(in.x, in.w, in.b, geo)}, {in.x}, {in.g}, std::nullopt, true)[0];
  Tensor second = grad({(gx * gx).sum()}, {in.w})[0];
  // Against a central difference along a random direction v, with grad_x from the kernels.
  const Tensor v = randn(in.w.sizes(), kFloat64);
  auto energy = [&](double t) {
    Tensor x = in.x.detach().clone().requires_grad_();
    Tensor y = conv(x, (in.w.detach() + v * t), in.b.detach(), geo);
    Tensor g = grad({y}, {x}, {in.g})[0];
    return (g * g).sum().item<double>();
  };
  const double h = 1e-5, numeric = (energy(h) - energy(-h)) / (2 * h);
  EXPECT_NEAR((second * v).sum().item<double>(), numeric, 1e-6 * (1 + std::abs(numeric)));
}

}  // namespace
}  // namespace dydx
