// The elementwise functions of src/ops/elementwise_math.cpp beyond what the op table checks (values,
// every derivative rule, Taylor, vmap, layouts): dtypes as PyTorch 1.13 gives them, rounding's ties
// and integer extremes, its zero gradient, node names and the in-place forms. Values and
// derivatives at edge values (0, -0, +-inf, nan, subnormals) are in tests/data/edge_cases.txt.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <bit>
#include <functional>
#include <random>
#include <type_traits>
#include <limits>
#include <string>
#include <vector>

#include <dydx/dydx.hpp>

#include "test_util.hpp"

namespace dydx {
namespace {

using Function = std::function<Tensor(const Tensor&)>;
struct Named {
  const char* name;
  Function f;
  const char* node;
};

const std::vector<Named>& smooth_functions() {
  static const std::vector<Named> all = {
      {"asin", [](const Tensor& x) { return asin(x); }, "AsinBackward0"},
      {"acos", [](const Tensor& x) { return acos(x); }, "AcosBackward0"},
      {"atan", [](const Tensor& x) { return atan(x); }, "AtanBackward0"},
      {"sinh", [](const Tensor& x) { return sinh(x); }, "SinhBackward0"},
      {"cosh", [](const Tensor& x) { return cosh(x); }, "CoshBackward0"},
      {"asinh", [](const Tensor& x) { return asinh(x); }, "AsinhBackward0"},
      {"acosh", [](const Tensor& x) { return acosh(x); }, "AcoshBackward0"},
      {"atanh", [](const Tensor& x) { return atanh(x); }, "AtanhBackward0"},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }, "ReciprocalBackward0"},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, "RsqrtBackward0"},
      {"log2", [](const Tensor& x) { return log2(x); }, "Log2Backward0"},
      {"log10", [](const Tensor& x) { return log10(x); }, "Log10Backward0"},
      {"exp2", [](const Tensor& x) { return exp2(x); }, "Exp2Backward0"},
      {"erfc", [](const Tensor& x) { return erfc(x); }, "ErfcBackward0"},
      {"frac", [](const Tensor& x) { return frac(x); }, "FracBackward0"},
      {"square", [](const Tensor& x) { return square(x); }, "PowBackward0"},
  };
  return all;
}

const std::vector<Named>& rounding_functions() {
  static const std::vector<Named> all = {
      {"floor", [](const Tensor& x) { return floor(x); }, "FloorBackward0"},
      {"ceil", [](const Tensor& x) { return ceil(x); }, "CeilBackward0"},
      {"round", [](const Tensor& x) { return round(x); }, "RoundBackward0"},
      {"trunc", [](const Tensor& x) { return trunc(x); }, "TruncBackward0"},
  };
  return all;
}

TEST(ElementwiseMath, NodeNamesArePyTorchs) {
  for (const auto& list : {smooth_functions(), rounding_functions()})
    for (const auto& [name, f, node] : list) {
      const Tensor x = tensor({0.25, 0.5}, dtype(kFloat64)).requires_grad_();
      const Tensor y = f(name == std::string("acosh") ? x + 1.5 : x);
      ASSERT_TRUE(y.grad_fn()) << name;
      EXPECT_EQ(std::string(y.grad_fn()->name()), node) << name;
    }
}

// Integers: the smooth functions compute in float32 (the default dtype) from the integer's value;
// rounding keeps int64 and its values, the extremes included (a trip through double would move them);
// frac, which PyTorch has no integer kernel for, raises. Bools: rounding raises as PyTorch does.
TEST(ElementwiseMath, DtypesAsPyTorch) {
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  const Tensor integers = tensor({int64_t{3}, int64_t{-2}, big, small});
  for (const Named& op : rounding_functions()) {
    const char* name = op.name;
    const Function& f = op.f;
    const Tensor y = f(integers);
    EXPECT_EQ(y.dtype(), kInt64) << name;
    EXPECT_EQ(y.to_vector<int64_t>(), integers.to_vector<int64_t>()) << name;
    EXPECT_TRUE(testing::ThrowsWith([&] { f(tensor({true, false})); }, {name, "Bool", "[2]"})) << name;
  }
  const Tensor small_integers = tensor({int64_t{3}, int64_t{-2}});
  for (const Named& op : smooth_functions()) {
    const char* name = op.name;
    const Function& f = op.f;
    if (name == std::string("frac")) {
      EXPECT_TRUE(testing::ThrowsWith([&] { f(small_integers); }, {"frac", "int64", "[2]"})) << name;
      continue;
    }
    if (name == std::string("square")) {
      EXPECT_EQ(f(small_integers).to_vector<int64_t>(), (std::vector<int64_t>{9, 4}));  // pow keeps integers
      continue;
    }
    const Tensor y = f(small_integers);
    EXPECT_EQ(y.dtype(), kFloat32) << name;
    EXPECT_TRUE(allclose(y, f(small_integers.to(kFloat32)), 0, 0, /*equal_nan=*/true)) << name;
  }
}

// round takes halves to the even neighbour, as torch.round (not away from zero, as std::round).
TEST(ElementwiseMath, RoundHalvesToEven) {
  for (ScalarType type : {kFloat32, kFloat64}) {
    const Tensor x = tensor({0.5, 1.5, 2.5, -0.5, -2.5, 3.5, 0.49999997}, dtype(type));
    const std::vector<double> got = round(x).to(kFloat64).to_vector<double>();
    const std::vector<double> want = {0.0, 2.0, 2.0, -0.0, -2.0, 4.0, 0.0};
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i], want[i]) << i;
      EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << i;
    }
  }
}

// floor, ceil, trunc and frac (computed from the nearest integer, see elementwise_math.cpp) give
// std::'s bits, signed zeros included, on every kind of value: halves, values just off integers, both
// sides of 2^23 and 2^52, subnormals, infinities and nan, in contiguous (vectorised) and strided runs.
template <class T>
void expect_rounding_as_libm() {
  using Bits = std::conditional_t<std::is_same_v<T, float>, uint32_t, uint64_t>;
  std::mt19937_64 gen(21);
  std::vector<T> xs;
  for (int i = 0; i < 100000; ++i) {
    xs.push_back(std::bit_cast<T>(static_cast<Bits>(gen())));
    const T whole = static_cast<T>(static_cast<int64_t>(gen() % 2001) - 1000);
    xs.push_back(whole + T(0.5));
    xs.push_back(std::nextafter(whole, T(1e30)));
    xs.push_back(std::nextafter(whole, T(-1e30)));
    xs.push_back(std::ldexp(T(1) + T(gen() % 1000) / T(1000), static_cast<int>(gen() % 60)) * (gen() & 1 ? T(1) : T(-1)));
  }
  const T inf = std::numeric_limits<T>::infinity();
  for (T v : {T(0), T(-0.0), inf, -inf, std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::denorm_min(),
              -std::numeric_limits<T>::denorm_min(), T(-0.5), T(0.5), T(-1), std::numeric_limits<T>::max()})
    xs.push_back(v);
  const int64_t n = static_cast<int64_t>(xs.size());
  const Tensor x = tensor(xs, std::is_same_v<T, float> ? kFloat32 : kFloat64);
  const auto same = [](T a, T b) { return (a != a && b != b) || std::bit_cast<Bits>(a) == std::bit_cast<Bits>(b); };
  for (bool strided : {false, true}) {
    const Tensor input = strided ? x.slice(0, 0, n, 2) : x;  // every other element: a strided run
    const std::vector<T> values = input.reshape({-1}).template to_vector<T>();
    const std::vector<T> f = floor(input).reshape({-1}).template to_vector<T>(), c = ceil(input).reshape({-1}).template to_vector<T>();
    const std::vector<T> t = trunc(input).reshape({-1}).template to_vector<T>(), r = frac(input).reshape({-1}).template to_vector<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      const T v = values[i];
      ASSERT_TRUE(same(f[i], std::floor(v))) << std::hexfloat << v << " floor " << f[i];
      ASSERT_TRUE(same(c[i], std::ceil(v))) << std::hexfloat << v << " ceil " << c[i];
      ASSERT_TRUE(same(t[i], std::trunc(v))) << std::hexfloat << v << " trunc " << t[i];
      ASSERT_TRUE(same(r[i], v - std::trunc(v))) << std::hexfloat << v << " frac " << r[i];
    }
  }
}
TEST(ElementwiseMath, FloatRoundingAsLibm) { expect_rounding_as_libm<float>(); }
TEST(ElementwiseMath, DoubleRoundingAsLibm) { expect_rounding_as_libm<double>(); }

// Rounding's gradient is zeros shaped like the incoming one, an infinite or nan one included
// (PyTorch's zeros_like(grad)); frac's is the incoming gradient.
TEST(ElementwiseMath, RoundingGradients) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& [name, f, node] : rounding_functions()) {
    const Tensor x = tensor({0.3, -1.7, 2.0}, dtype(kFloat64)).requires_grad_();
    const Tensor g = dydx::grad({f(x)}, {x}, {tensor({inf, nan, 1.0}, dtype(kFloat64))})[0];
    EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{0, 0, 0})) << name;
  }
  const Tensor x = tensor({0.3, -1.7}, dtype(kFloat64)).requires_grad_();
  const Tensor g = dydx::grad({frac(x)}, {x}, {tensor({inf, 2.0}, dtype(kFloat64))})[0];
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{inf, 2.0}));
}

// The in-place forms give the out-of-place values, refuse a leaf that requires grad, and record the
// function's node on a non-leaf.
TEST(ElementwiseMath, InPlaceForms) {
  const std::vector<std::pair<const char*, std::function<Tensor&(Tensor&)>>> in_place = {
      {"asin_", [](Tensor& t) -> Tensor& { return t.asin_(); }},   {"acos_", [](Tensor& t) -> Tensor& { return t.acos_(); }},
      {"atan_", [](Tensor& t) -> Tensor& { return t.atan_(); }},   {"sinh_", [](Tensor& t) -> Tensor& { return t.sinh_(); }},
      {"cosh_", [](Tensor& t) -> Tensor& { return t.cosh_(); }},   {"asinh_", [](Tensor& t) -> Tensor& { return t.asinh_(); }},
      {"acosh_", [](Tensor& t) -> Tensor& { return t.acosh_(); }}, {"atanh_", [](Tensor& t) -> Tensor& { return t.atanh_(); }}, {"reciprocal_", [](Tensor& t) -> Tensor& { return t.reciprocal_(); }},
      {"rsqrt_", [](Tensor& t) -> Tensor& { return t.rsqrt_(); }}, {"log2_", [](Tensor& t) -> Tensor& { return t.log2_(); }},
      {"log10_", [](Tensor& t) -> Tensor& { return t.log10_(); }}, {"exp2_", [](Tensor& t) -> Tensor& { return t.exp2_(); }},
      {"erfc_", [](Tensor& t) -> Tensor& { return t.erfc_(); }},   {"floor_", [](Tensor& t) -> Tensor& { return t.floor_(); }},
      {"ceil_", [](Tensor& t) -> Tensor& { return t.ceil_(); }},   {"round_", [](Tensor& t) -> Tensor& { return t.round_(); }},
      {"trunc_", [](Tensor& t) -> Tensor& { return t.trunc_(); }}, {"frac_", [](Tensor& t) -> Tensor& { return t.frac_(); }},
      {"square_", [](Tensor& t) -> Tensor& { return t.square_(); }},
  };
  for (const auto& [name, in_place_op] : in_place) {
    const auto& op = in_place_op;
    const std::string out_of_place(name, std::string(name).size() - 1);
    const Tensor values = tensor({0.25, 0.5, 0.75}, dtype(kFloat64)) + (out_of_place == "acosh" ? 1.0 : 0.0);
    Tensor copy = values.clone();
    op(copy);
    Tensor reference = values.clone();
    Tensor want;
    for (const auto& list : {smooth_functions(), rounding_functions()})
      for (const auto& f : list)
        if (out_of_place == f.name) want = f.f(reference);
    ASSERT_TRUE(want.defined()) << name;
    EXPECT_TRUE(equal(copy, want)) << name;
    Tensor leaf = values.clone().requires_grad_();
    EXPECT_TRUE(testing::ThrowsWith([&] { op(leaf); }, {"leaf"})) << name;
    Tensor non_leaf = leaf * 1.0;
    op(non_leaf);
    std::string node;
    for (const auto& list : {smooth_functions(), rounding_functions()})
      for (const auto& f : list)
        if (out_of_place == f.name) node = f.node;
    ASSERT_TRUE(non_leaf.grad_fn()) << name;
    EXPECT_EQ(std::string(non_leaf.grad_fn()->name()), node) << name;
  }
}

}  // namespace
}  // namespace dydx
