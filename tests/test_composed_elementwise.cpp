// The functions of src/ops/composed_elementwise.cpp and src/ops/differences.cpp, and the shifts:
// first and second derivatives in both modes against central differences (in float64, away from
// kinks), their values where PyTorch defines them specially, in-place forms that write nothing when
// they raise, and their use under vmap and func::compile. python/tests/test_composed_elementwise.py
// compares values, gradients and errors with torch itself, special values included.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "stats_goldens.hpp"
#include "test_util.hpp"

using namespace dydx;
using dydx::testing::check_fd_derivatives;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

Tensor f64(const std::vector<double>& v) { return tensor(v, kFloat64); }
std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }
std::vector<int64_t> ints_of(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }
// Uniform in [low, high).
Tensor uniform(IntArrayRef shape, double low, double high) { return rand(shape, dtype(kFloat64)) * (high - low) + low; }
// Equal, nan matching nan.
bool same_values(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))) return false;
  return true;
}

}  // namespace

TEST(ComposedElementwise, DerivativesMatchFiniteDifferences) {
  manual_seed(3);
  // Points at least 0.1 from every kink (x against its bounds, |w| = 0.5, x = 0 for xlogy).
  const Tensor x = uniform({3, 4}, -1, 1), lo = x - uniform({3, 4}, 0.1, 0.5), hi = x + uniform({3, 4}, 0.1, 0.5);
  const Tensor inside = (x.abs() * 0.3 + 0.3);  // in (0.3, 0.6): logit's domain, away from eps = 0.25
  check_fd_derivatives([](const TensorList& in) { return clamp(in[0], in[1], in[2]); }, {x, lo, hi}, 1);
  check_fd_derivatives([](const TensorList& in) { return clamp(in[0], in[1], in[2]); }, {x, hi, hi + 1.0}, 2);
  check_fd_derivatives([](const TensorList& in) { return clamp(in[0], in[1], in[2]); }, {x, lo - 1.0, lo}, 3);
  check_fd_derivatives([](const TensorList& in) { return in[0].clamp_min(in[1]).pow(2); }, {x, hi}, 4);
  check_fd_derivatives([](const TensorList& in) { return in[0].clamp(std::nullopt, in[1]).pow(2); }, {x, lo}, 5);
  check_fd_derivatives([](const TensorList& in) { return lerp(in[0], in[1], 0.3) * in[0]; }, {x, lo}, 6);
  check_fd_derivatives([](const TensorList& in) { return lerp(in[0], in[1], 0.8) * in[1]; }, {x, hi}, 7);
  const Tensor weights = f64({0.1, 0.7, -0.2, 1.3}).expand({3, 4});
  check_fd_derivatives([](const TensorList& in) { return lerp(in[0], in[1], in[2]) * in[2]; }, {x, hi, weights}, 8);
  check_fd_derivatives([](const TensorList& in) { return logaddexp(in[0] * 3.0, in[1]); }, {x, lo}, 9);
  check_fd_derivatives([](const TensorList& in) { return logaddexp2(in[0], in[1] * in[1]); }, {x, hi}, 10);
  check_fd_derivatives([](const TensorList& in) { return xlogy(in[0], in[1]); }, {x, inside}, 11);
  check_fd_derivatives([](const TensorList& in) { return logit(in[0]); }, {inside}, 12);
  check_fd_derivatives([](const TensorList& in) { return logit(in[0], 0.25) * in[0]; }, {inside}, 13);
  check_fd_derivatives([](const TensorList& in) { return diff(in[0] * in[0], 2, 0, in[1]); }, {x, lo.narrow(0, 0, 1)}, 14);
  check_fd_derivatives([](const TensorList& in) { return kron(in[0], in[1] * in[1]); }, {x.narrow(0, 0, 2), lo}, 15);
  for (double p : {1.0, 2.0, 3.0, kInf})
    check_fd_derivatives([p](const TensorList& in) { return cdist(in[0], in[1], p); }, {x, lo * 2.0}, 16);
  // The product form of p = 2 and its masked root.
  const Tensor many = uniform({30, 4}, -1, 1);
  check_fd_derivatives([](const TensorList& in) { return cdist(in[0], in[1]); }, {many, x}, 17);
  check_fd_derivatives([](const TensorList& in) { return cdist(in[0], in[1], 2.0, CdistMode::product); }, {x, lo}, 18);
}

TEST(ComposedElementwise, ClampWithTensorBoundsFollowsPyTorch) {
  // min > max gives max, with max's gradient; x == min == max passes x's; nan anywhere gives nan.
  const Tensor x = f64({0, 1, 2, 3, kNan, 1, 5, 2}).requires_grad_();
  const Tensor lo = f64({1, 1, kNan, 0, 0, 3, 1, 2}).requires_grad_();
  const Tensor hi = f64({2, 2, 2.5, kNan, 1, 2, 5, 2}).requires_grad_();
  const Tensor y = clamp(x, lo, hi);
  EXPECT_TRUE(same_values(values_of(y), {1, 1, kNan, kNan, kNan, 2, 5, 2}));
  const TensorList g = grad({(y * arange(1, 9, 1, dtype(kFloat64))).sum()}, {x, lo, hi});
  EXPECT_EQ(values_of(g[0]), (std::vector<double>{0, 2, 0, 0, 0, 0, 7, 8}));
  EXPECT_EQ(values_of(g[1]), (std::vector<double>{1, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(values_of(g[2]), (std::vector<double>{0, 0, 0, 0, 0, 6, 0, 0}));
  // Integer x with a float bound promotes; integers stay integers.
  EXPECT_EQ(clamp(tensor(std::vector<int64_t>{1, 5, 9}), f64({2.5})).dtype(), kFloat64);
  EXPECT_EQ(ints_of(clamp(tensor(std::vector<int64_t>{1, 5, 9}), tensor(std::vector<int64_t>{2, 2, 2}),
                          tensor(std::vector<int64_t>{6}))),
            (std::vector<int64_t>{2, 5, 6}));
  // The scalar forms are untouched by the overloads: nullopt for both is still the scalar form's error.
  EXPECT_DYDX_ERROR(clamp(ones({2}), std::nullopt, std::nullopt), "clamp", "min", "max");
  EXPECT_DYDX_ERROR(clamp(ones({2}), ones({3})), "clamp", "[2]", "[3]");
  EXPECT_DYDX_ERROR(clamp(tensor(std::vector<bool>{true}), tensor(std::vector<bool>{false}), tensor(std::vector<bool>{true})),
                    "clamp", "Bool");
  // One bool bound of a bool x: or for min, and for max.
  EXPECT_EQ(clamp(tensor(std::vector<bool>{true, false}), tensor(std::vector<bool>{false, true})).to(kInt64).contiguous().to_vector<int64_t>(),
            (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(clamp(tensor(std::vector<bool>{true, false}), std::nullopt, tensor(std::vector<bool>{false, true})).to(kInt64).contiguous().to_vector<int64_t>(),
            (std::vector<int64_t>{0, 0}));
  // The result dtype is PyTorch's result_type of all three at once: two 0-d float bounds of an integer x
  // give their own promotion (float64), not float32 from the first pair.
  EXPECT_EQ(clamp(tensor(std::vector<int64_t>{0, 1, 3}), tensor(1.0f), tensor(2.0, kFloat64)).dtype(), kFloat64);
  EXPECT_EQ(clamp(f64({0, 1, 3}).to(kFloat32), tensor(1.0f), tensor(2.0, kFloat64)).dtype(), kFloat32);
  // An undefined bound is an absent one (libtorch's x.clamp({}, max)); clip takes tensors too.
  const Tensor v = f64({0, 1, 3});
  EXPECT_EQ(values_of(v.clamp({}, f64({2}))), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(values_of(v.clip(f64({1}))), (std::vector<double>{1, 1, 3}));
  EXPECT_EQ(values_of(v.clip(std::nullopt, f64({2}))), (std::vector<double>{0, 1, 2}));
  Tensor w = f64({0, 1, 3});
  w.clip_(f64({1}), f64({2}));
  EXPECT_EQ(values_of(w), (std::vector<double>{1, 1, 2}));
}

TEST(ComposedElementwise, InPlaceFormsWriteNothingWhenTheyRaise) {
  Tensor i = tensor(std::vector<int64_t>{1, 5, 9});
  EXPECT_DYDX_ERROR(i.clamp_(f64({2.5})), "clamp_", "float64", "int64");
  EXPECT_EQ(ints_of(i), (std::vector<int64_t>{1, 5, 9}));
  Tensor f = f64({1, 5, 9});
  EXPECT_DYDX_ERROR(f.clamp_(zeros({2, 3}, dtype(kFloat64))), "clamp_", "[3]", "[2,3]");
  EXPECT_DYDX_ERROR(f.lerp_(ones({2, 3}, dtype(kFloat64)), 0.5), "lerp_", "[3]", "[2,3]");
  EXPECT_DYDX_ERROR(f.lerp_(ones({3}), 0.5), "lerp_", "float64", "float32");
  EXPECT_EQ(values_of(f), (std::vector<double>{1, 5, 9}));
  Tensor leaf_x = f64({1, 5, 9}).requires_grad_();
  EXPECT_DYDX_ERROR(leaf_x.clamp_(f64({2})), "clamp_", "leaf");
  EXPECT_DYDX_ERROR(leaf_x.lerp_(f64({2, 2, 2}), 0.5), "lerp_", "leaf");
  f.clamp_(f64({2, 2, 2}), f64({6}));
  EXPECT_EQ(values_of(f), (std::vector<double>{2, 5, 6}));
  f.lerp_(f64({4, 4, 4}), 0.5);
  EXPECT_EQ(values_of(f), (std::vector<double>{3, 4.5, 5}));
  // An in-place clamp on a non-leaf differentiates as the out-of-place one.
  const Tensor x = f64({0, 1, 2}).requires_grad_(), lo = f64({0.5, 0.5, 0.5}).requires_grad_();
  Tensor y = x * 2.0;
  y.clamp_min_(lo);
  const TensorList g = grad({y.sum()}, {x, lo});
  EXPECT_EQ(values_of(g[0]), (std::vector<double>{0, 2, 2}));
  EXPECT_EQ(values_of(g[1]), (std::vector<double>{1, 0, 0}));
}

TEST(ComposedElementwise, SpecialValues) {
  // logaddexp: equal infinities give themselves, with a nan gradient (PyTorch's exp(inf - inf)); at a
  // finite tie the second derivative is sigmoid'(0) = 1/4.
  const Tensor a = f64({kInf, -kInf, kInf, 1, 0, 3}).requires_grad_();
  const Tensor b = f64({kInf, -kInf, -kInf, 1, 2, -1e300}).requires_grad_();
  const Tensor l = logaddexp(a, b);
  EXPECT_TRUE(same_values(values_of(l), {kInf, -kInf, kInf, 1 + std::log(2.0), 2 + std::log1p(std::exp(-2.0)), 3}));
  const TensorList g = grad({l.sum()}, {a, b});
  const std::vector<double> ga = values_of(g[0]);
  EXPECT_TRUE(std::isnan(ga[0]) && std::isnan(ga[1]));
  EXPECT_EQ(ga[2], 1);
  EXPECT_EQ(ga[3], 0.5);
  EXPECT_NEAR(ga[4], 1 / (1 + std::exp(2.0)), 1e-16);
  EXPECT_EQ(ga[5], 1);
  const Tensor t = f64({0.5}).requires_grad_();
  const Tensor slope = grad({logaddexp(t, f64({0.5}))}, {t}, {}, std::nullopt, true)[0];
  EXPECT_EQ(values_of(grad({slope}, {t})[0]), (std::vector<double>{0.25}));
  EXPECT_TRUE(same_values(values_of(logaddexp2(f64({kInf, 1}), f64({kInf, 1}))), {kInf, 2}));
  // xlogy: 0 where x is 0, unless y is nan.
  const Tensor x = f64({0, 0, 0, 1, 2, kNan}).requires_grad_(), y = f64({0, kNan, -1, 0, kInf, 1}).requires_grad_();
  const Tensor xy = xlogy(x, y);
  EXPECT_TRUE(same_values(values_of(xy), {0, kNan, 0, -kInf, kInf, kNan}));
  const TensorList gx = grad({xy.sum()}, {x, y});
  EXPECT_TRUE(same_values(values_of(gx[0]), {0, kNan, 0, -kInf, kInf, 0}));
  EXPECT_TRUE(same_values(values_of(gx[1]), {kNan, kNan, 0, kInf, 0, kNan}));
  // At x = 0 and y > 0, x log y is smooth: d/dx = log y, d2/dxdy = 1 / y.
  const Tensor zero = f64({0}).requires_grad_(), two = f64({2}).requires_grad_();
  const TensorList first = grad({xlogy(zero, two)}, {zero, two}, {}, std::nullopt, true);
  EXPECT_EQ(values_of(first[0]), (std::vector<double>{std::log(2.0)}));
  EXPECT_EQ(values_of(grad({first[0]}, {two})[0]), (std::vector<double>{0.5}));
  // logit: +-inf at the ends with infinite slopes; eps moves x in and zeroes the slope outside.
  const Tensor p = f64({0, 1, 0.05, -1}).requires_grad_();
  EXPECT_TRUE(same_values(values_of(logit(p)), {-kInf, kInf, std::log(0.05 / 0.95), kNan}));
  const std::vector<double> slopes = values_of(grad({logit(p).sum()}, {p})[0]);
  EXPECT_EQ(slopes[0], kInf);
  EXPECT_EQ(slopes[1], kInf);
  EXPECT_NEAR(slopes[2], 1 / (0.05 * 0.95), 1e-12);
  EXPECT_TRUE(std::isnan(slopes[3]));
  EXPECT_EQ(values_of(grad({logit(p, 0.1).sum()}, {p})[0]), (std::vector<double>{0, 0, 0, 0}));
  const Tensor q = f64({kNan, 0.5}).requires_grad_();
  EXPECT_EQ(values_of(grad({logit(q, 0.1).sum()}, {q})[0]), (std::vector<double>{0, 4}));
  // lerp at weight 1 gives end exactly, and an infinite weight nan (with finite gradients of start and end).
  EXPECT_EQ(values_of(lerp(f64({0.1}), f64({0.3}), 1.0)), (std::vector<double>{0.3}));
  // round to decimals: halves to even after scaling.
  EXPECT_EQ(values_of(round(f64({1.2345, -2.5551, 1234.5, 0.125}), 2)), (std::vector<double>{1.23, -2.56, 1234.5, 0.12}));
  EXPECT_EQ(values_of(round(f64({1234.5, 150, 250}), -2)), (std::vector<double>{1200, 200, 200}));
  EXPECT_DYDX_ERROR(round(tensor(std::vector<int64_t>{15}), 1), "round", "int64");
}

TEST(ComposedElementwise, ShiftsAreDefinedForEveryAmount) {
  const Tensor a = tensor(std::vector<int64_t>{1, -8, 5, -1, int64_t{1} << 62, INT64_MIN});
  EXPECT_EQ(ints_of(a << tensor(std::vector<int64_t>{1, 1, 63, 64, 1, -1})),
            (std::vector<int64_t>{2, -16, INT64_MIN, 0, INT64_MIN, 0}));
  EXPECT_EQ(ints_of(a >> tensor(std::vector<int64_t>{1, 1, 63, 64, -1, 70})), (std::vector<int64_t>{0, -4, 0, -1, 0, -1}));
  EXPECT_EQ(ints_of(a << 2), (std::vector<int64_t>{4, -32, 20, -4, 0, 0}));
  EXPECT_EQ(ints_of(bitwise_right_shift(1000, tensor(std::vector<int64_t>{1, 3}))), (std::vector<int64_t>{500, 125}));
  EXPECT_EQ(ints_of(tensor(std::vector<bool>{true, false}) << 3), (std::vector<int64_t>{8, 0}));
  EXPECT_DYDX_ERROR(ones({2}) << 1, "bitwise_left_shift", "float32");
  EXPECT_DYDX_ERROR(tensor(std::vector<int64_t>{4}) >> 1.5, "bitwise_right_shift", "float32");
  EXPECT_DYDX_ERROR(tensor(std::vector<bool>{true}) << tensor(std::vector<bool>{true}), "bitwise_left_shift", "bool");
  EXPECT_DYDX_ERROR(tensor(std::vector<int64_t>{4, 5}) << zeros({3}, dtype(kInt64)), "bitwise_left_shift", "[2]", "[3]");
}

TEST(ComposedElementwise, DiffKronAndCdistShapes) {
  const Tensor x = arange(10, dtype(kFloat64)).reshape({2, 5});
  EXPECT_EQ(diff(x).sizes(), (Dims{2, 4}));
  EXPECT_EQ(diff(x, 2, 0).sizes(), (Dims{0, 5}));
  EXPECT_EQ(diff(x, 6).sizes(), (Dims{2, 0}));
  EXPECT_EQ(diff(x, 0).impl(), x.impl());
  EXPECT_EQ(values_of(diff(x, 1, 1, zeros({2, 1}, dtype(kFloat64)))), (std::vector<double>{0, 1, 1, 1, 1, 5, 1, 1, 1, 1}));
  EXPECT_DYDX_ERROR(diff(x, 1, 1, zeros({3, 1}, dtype(kFloat64))), "diff", "input.size(0) = 2", "tensor.size(0) = 3");
  EXPECT_DYDX_ERROR(diff(zeros({})), "diff", "one-dimensional");
  EXPECT_DYDX_ERROR(diff(x, 1, 2), "diff", "2");
  EXPECT_EQ(kron(ones({2}), ones({2, 3})).sizes(), (Dims{2, 6}));
  EXPECT_EQ(kron(ones({2, 3, 1}), ones({4})).sizes(), (Dims{2, 3, 4}));
  EXPECT_EQ(values_of(kron(f64({1, 2}), f64({1, 10, 100}))), (std::vector<double>{1, 10, 100, 2, 20, 200}));
  EXPECT_EQ(cdist(zeros({2, 3, 4}), zeros({1, 5, 4})).sizes(), (Dims{2, 3, 5}));
  EXPECT_EQ(values_of(cdist(f64({0, 0, 1, 1}).reshape({2, 2}), f64({0, 0, 3, 4}).reshape({2, 2}), 0)),
            (std::vector<double>{0, 2, 2, 2}));
  EXPECT_DYDX_ERROR(cdist(zeros({3, 4}), zeros({5, 3})), "cdist", "X1: 4 X2: 3");
  EXPECT_DYDX_ERROR(cdist(zeros({3}), zeros({5, 3})), "cdist", "2D");
  EXPECT_DYDX_ERROR(cdist(zeros({3, 4}), zeros({5, 4}), -1), "cdist", "non-negative");
  EXPECT_DYDX_ERROR(cdist(zeros({3, 4}), zeros({5, 4}, dtype(kFloat64))), "cdist", "float32", "float64");
  // A nan row stays nan through the product form (only squares at most 0 are masked to 0).
  const Tensor with_nan = f64({kNan, 0, 1, 1}).reshape({2, 2});
  EXPECT_TRUE(std::isnan(values_of(cdist(with_nan, f64({0, 0}).reshape({1, 2}), 2.0, CdistMode::product))[0]));
  // Rows that coincide: distance 0 with gradient 0 in both ways of computing p = 2.
  const Tensor r = uniform({4, 3}, -1, 1).requires_grad_();
  for (CdistMode mode : {CdistMode::product, CdistMode::differences}) {
    const Tensor g = grad({cdist(r, r.detach(), 2.0, mode).diagonal().sum()}, {r})[0];
    EXPECT_EQ(values_of(g), std::vector<double>(12, 0.0));
  }
}

TEST(ComposedElementwise, UnderVmapAndCompile) {
  manual_seed(5);
  const Tensor xs = uniform({6, 3, 4}, -1, 1), ys = uniform({6, 3, 4}, 0.2, 1.5);
  const auto f = [](const TensorList& in) {
    const Tensor& x = in[0];
    const Tensor& y = in[1];
    return TensorList{clamp(x, -y, y) + lerp(x, y, y * 0.5) + logaddexp(x, y) + xlogy(y, y) + logit(y * 0.5, 0.1) +
                      round(x, 1) + diff(x, 1, 1, x.narrow(1, 0, 1)) + cdist(x, y).sum({-1}, true)};
  };
  const TensorList batched = func::vmap(f)({xs, ys});
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_TRUE(allclose(batched[0][i], f({xs[i], ys[i]})[0], 1e-14, 1e-14)) << "sample " << i;
  NoGradGuard no_grad;
  const func::Compiled compiled = func::compile(f);
  for (int call = 0; call < 3; ++call) {
    const Tensor x = uniform({3, 4}, -1, 1), y = uniform({3, 4}, 0.2, 1.5);
    EXPECT_TRUE(allclose(compiled({x, y})[0], f({x, y})[0], 1e-14, 1e-14)) << "call " << call;
  }
  EXPECT_EQ(compiled.stats().replays, 2) << compiled.stats().eager_reason;
  // The shifts replay with each call's values (their kernels tell the recording).
  const func::Compiled shifted = func::compile([](const TensorList& in) { return TensorList{(in[0] << in[1]) >> 1}; });
  for (int64_t k = 1; k <= 3; ++k) {
    const Tensor a = tensor(std::vector<int64_t>{k, 2 * k}), s = tensor(std::vector<int64_t>{k, 1});
    EXPECT_EQ(ints_of(shifted({a, s})[0]), ints_of((a << s) >> 1)) << "call " << k;
  }
  EXPECT_EQ(shifted.stats().replays, 2) << shifted.stats().eager_reason;
}
