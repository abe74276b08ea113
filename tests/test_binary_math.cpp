// atan2, hypot, maximum, minimum and fmod tested as an adversary would: dtype promotion, signed
// zeros, nan and inf, int64 extremes, division by zero, every input layout, and the gradients
// where the ops have kinks. Expected numbers came from PyTorch 1.13 (noted where PyTorch itself is
// inconsistent); where a formula gives them, it is computed here in C++ instead.
#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace dydx {
namespace {

using testing::HasValues;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.141592653589793;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

using Fn = std::function<Tensor(const Tensor&, const Tensor&)>;
struct NamedOp {
  const char* name;
  Fn f;
  double (*reference)(double, double);  // the C library's value, which both libraries compute
};

double max_ref(double x, double y) { return std::isnan(x) || std::isnan(y) ? kNan : std::max(x, y); }
double min_ref(double x, double y) { return std::isnan(x) || std::isnan(y) ? kNan : std::min(x, y); }
// Python's %, from C's fmod as PyTorch's kernel computes it.
double remainder_ref(double x, double y) {
  double r = std::fmod(x, y);
  if (r != 0 && (y < 0) != (r < 0)) r += y;
  return r;
}

const std::vector<NamedOp>& all_ops() {
  static const std::vector<NamedOp> ops = {
      {"atan2", [](const Tensor& a, const Tensor& b) { return atan2(a, b); }, [](double x, double y) { return std::atan2(x, y); }},
      {"hypot", [](const Tensor& a, const Tensor& b) { return hypot(a, b); }, [](double x, double y) { return std::hypot(x, y); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, max_ref},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, min_ref},
      {"fmod", [](const Tensor& a, const Tensor& b) { return fmod(a, b); }, [](double x, double y) { return std::fmod(x, y); }},
      {"remainder", [](const Tensor& a, const Tensor& b) { return remainder(a, b); }, remainder_ref},
  };
  return ops;
}

Tensor f64(const std::vector<double>& v) { return tensor(v, kFloat64); }
Tensor f32(const std::vector<double>& v) { return tensor(v, kFloat64).to(kFloat32); }
Tensor i64(const std::vector<int64_t>& v) { return tensor(v, kInt64); }

// The same number, down to the sign of a zero; any nan matches any nan.
bool same_bits(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return x == y && std::signbit(x) == std::signbit(y);
}

::testing::AssertionResult HasExactly(const Tensor& t, const std::vector<double>& expected) {
  std::vector<double> got = t.to_vector<double>();
  if (got.size() != expected.size())
    return ::testing::AssertionFailure() << "numel " << got.size() << " != " << expected.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!same_bits(got[i], expected[i]))
      return ::testing::AssertionFailure() << "element " << i << ": " << got[i] << " != " << expected[i] << "\n"
                                           << to_string(t);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult SameTensor(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) return ::testing::AssertionFailure() << "dtype " << got.dtype() << " != " << want.dtype();
  if (!(got.sizes() == want.sizes()))
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " != " << want.sizes();
  return HasExactly(got, want.to_vector<double>());
}

// ---- dtypes ------------------------------------------------------------------------------------

struct DtypeCase {
  ScalarType a;
  std::vector<int64_t> a_shape;
  ScalarType b;
  std::vector<int64_t> b_shape;
  ScalarType want;  // for maximum, minimum, fmod and hypot (hypot of two int64 raises instead)
  ScalarType want_atan2;
};

// torch.result_type: a 0-d operand decides the dtype only when its category (int < float) is
// higher than every dimensioned operand's. Every row below was checked with PyTorch 1.13.
TEST(BinaryMathDtypes, FollowPyTorchsResultType) {
  const std::vector<DtypeCase> cases = {
      {kInt64, {2}, kInt64, {2}, kInt64, kFloat32},
      {kInt64, {2}, kFloat32, {2}, kFloat32, kFloat32},
      {kFloat32, {2}, kInt64, {2}, kFloat32, kFloat32},
      {kInt64, {2}, kFloat64, {2}, kFloat64, kFloat64},
      {kFloat32, {2}, kFloat64, {2}, kFloat64, kFloat64},
      {kFloat32, {2}, kFloat64, {}, kFloat32, kFloat32},  // same category: the dimensioned one wins
      {kFloat64, {}, kFloat32, {2}, kFloat32, kFloat32},
      {kInt64, {2}, kFloat64, {}, kFloat64, kFloat64},  // higher category: the 0-d one wins
      {kFloat32, {}, kInt64, {2}, kFloat32, kFloat32},
      {kInt64, {2}, kFloat32, {}, kFloat32, kFloat32},
      {kFloat64, {}, kInt64, {2}, kFloat64, kFloat64},
      {kInt64, {}, kFloat32, {2}, kFloat32, kFloat32},
      {kInt64, {}, kInt64, {2}, kInt64, kFloat32},
      {kFloat32, {}, kFloat64, {}, kFloat64, kFloat64},  // all 0-d: plain promotion
      {kInt64, {}, kFloat64, {}, kFloat64, kFloat64},
      {kInt64, {}, kInt64, {}, kInt64, kFloat32},
      {kFloat64, {}, kInt64, {}, kFloat64, kFloat64},
  };
  for (const DtypeCase& c : cases) {
    Tensor a = full(c.a_shape, 3, c.a), b = full(c.b_shape, 2, c.b);
    for (const NamedOp& op : all_ops()) {
      SCOPED_TRACE(std::string(op.name) + " " + dtype_name(a.dtype()) + " " + dtype_name(b.dtype()));
      if (std::string(op.name) == "hypot" && c.want == kInt64) {
        EXPECT_DYDX_ERROR(op.f(a, b), "hypot", "int64");
        continue;
      }
      Tensor out = op.f(a, b);
      EXPECT_EQ(out.dtype(), std::string(op.name) == "atan2" ? c.want_atan2 : c.want);
      EXPECT_EQ(out.dim(), std::max(a.dim(), b.dim()));
      const double want = op.reference(3, 2);
      EXPECT_EQ(out.to_vector<double>()[0], out.dtype() == kFloat32 ? static_cast<float>(want) : want);
    }
  }
}

TEST(BinaryMathDtypes, MethodsAreTheFunctions) {
  Tensor a = f64({3, -0.0, 1}), b = f32({-2, 0.0, 1});
  EXPECT_TRUE(SameTensor(a.atan2(b), atan2(a, b)));
  EXPECT_TRUE(SameTensor(a.hypot(b), hypot(a, b)));
  EXPECT_TRUE(SameTensor(a.maximum(b), maximum(a, b)));
  EXPECT_TRUE(SameTensor(a.minimum(b), minimum(a, b)));
  EXPECT_TRUE(SameTensor(a.fmod(b), fmod(a, b)));
  EXPECT_TRUE(SameTensor(a.fmod(-2), fmod(a, -2)));
  EXPECT_TRUE(SameTensor(a.remainder(b), remainder(a, b)));
  EXPECT_TRUE(SameTensor(a % b, remainder(a, b)));
  EXPECT_TRUE(SameTensor(a % -2, remainder(a, -2)));
}

TEST(BinaryMathDtypes, Int64StaysExact) {
  // Past 2^53 a double cannot tell these apart; an int64 result must.
  const int64_t big = (int64_t{1} << 53) + 1;
  EXPECT_EQ(maximum(i64({big, 0}), i64({big - 1, -1})).to_vector<int64_t>(), (std::vector<int64_t>{big, 0}));
  EXPECT_EQ(minimum(i64({big, 0}), i64({big + 2, -1})).to_vector<int64_t>(), (std::vector<int64_t>{big, -1}));
  EXPECT_EQ(fmod(i64({big}), i64({2})).to_vector<int64_t>(), std::vector<int64_t>{1});
}

TEST(BinaryMathDtypes, FmodByScalar) {
  // PyTorch 1.13: an int scalar keeps an int64 tensor int64; a float scalar makes it float32.
  Tensor r = fmod(i64({5, -5}), 2);
  EXPECT_EQ(r.dtype(), kInt64);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{1, -1}));
  r = fmod(i64({5, -5}), 2.5);
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_TRUE(HasExactly(r, {0.0, -0.0}));
  r = fmod(f32({5, -5}), 2);
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_TRUE(HasExactly(r, {1, -1}));
  r = fmod(f64({5, -5}), -2.5);
  EXPECT_EQ(r.dtype(), kFloat64);
  EXPECT_TRUE(HasExactly(r, {0.0, -0.0}));
  r = i64({5, -5}).fmod(0.0);  // a float divisor of zero gives nan, even for an int64 tensor
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_TRUE(HasExactly(r, {kNan, kNan}));
  EXPECT_TRUE(HasExactly(f32({5, -5}).fmod(0), {kNan, kNan}));
  // The scalar takes the tensor's dtype first: 1e-50 is 0 in float32, so the result is nan.
  EXPECT_TRUE(HasExactly(fmod(f32({5}), 1e-50), {kNan}));
  EXPECT_DYDX_ERROR(fmod(i64({5, -5}), 0), "fmod", "ZeroDivisionError");
  EXPECT_EQ(fmod(i64({kMin, kMax}), -1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
}

// div with a rounding mode and floor_divide, as PyTorch 1.13's: integers stay integers (floor toward
// -inf, trunc toward 0), floats round from the true quotient (floor by PyTorch's fmod-based formula),
// INT64_MIN / -1 wraps, an integer 0 divisor raises, bool and unknown modes raise, and every
// derivative is zero (DivBackward2).
TEST(BinaryMathDtypes, DivWithARoundingMode) {
  const Tensor a = i64({-7, 7, -8, 5, kMin}), b = i64({2, -2, 3, 5, -1});
  EXPECT_EQ(div(a, b, "floor").to_vector<int64_t>(), (std::vector<int64_t>{-4, -4, -3, 1, kMin}));
  EXPECT_EQ(div(a, b, "trunc").to_vector<int64_t>(), (std::vector<int64_t>{-3, -3, -2, 1, kMin}));
  EXPECT_EQ(a.floor_divide(2).to_vector<int64_t>(), (std::vector<int64_t>{-4, 3, -4, 2, kMin / 2}));
  EXPECT_EQ(floor_divide(7, i64({2, -2})).to_vector<int64_t>(), (std::vector<int64_t>{3, -4}));
  EXPECT_EQ(div(a, 2.5, "floor").dtype(), kFloat32);
  EXPECT_TRUE(HasExactly(div(f64({-7.5, 7, 1e300, -0.0, 5, 5}), f64({2, -2, 1e-300, 3, 0, -0.0}), "floor"),
                         {-4, -4, kInf, -0.0, kInf, -kInf}));
  EXPECT_TRUE(HasExactly(div(f64({-7.5, 7, -0.0, -1}), f64({2, -2, 3, 3}), "trunc"), {-3, -3, -0.0, -0.0}));
  EXPECT_TRUE(HasExactly(div(f32({kNan, 1}), f32({1, kNan}), "floor"), {kNan, kNan}));
  EXPECT_TRUE(HasExactly(div(f64({1, 2}), f64({3, 4}), std::nullopt), {1.0 / 3, 0.5}));
  EXPECT_DYDX_ERROR(div(a, i64({1, 0, 1, 1, 1}), "floor"), "div", "ZeroDivisionError");
  EXPECT_DYDX_ERROR(div(a, b, "round"), "rounding_mode", "'round'");
  EXPECT_DYDX_ERROR(div(tensor({true}), tensor({true}), "floor"), "div_floor_cpu", "Bool");
  const Tensor x = f64({1.5, -2.5, 3}).requires_grad_(), y = f64({2, 2, -4}).requires_grad_();
  const Tensor q = div(x, y, "floor");
  EXPECT_EQ(std::string(q.grad_fn()->name()), "DivBackward2");
  const TensorList g = grad({(q * q).sum()}, {x, y});
  EXPECT_TRUE(HasExactly(g[0], {0, 0, 0}));
  EXPECT_TRUE(HasExactly(g[1], {0, 0, 0}));
}

// ---- values ------------------------------------------------------------------------------------

// PyTorch's scalar loop computes std::max(a, b) and std::min(a, b), which return a at a tie:
// maximum(-0., 0.) = -0. and maximum(0., -0.) = 0. (Its AVX2 loop, taken for 8 or more float64s,
// returns b instead; dydx gives a at every size, so that a result never depends on the length.)
TEST(BinaryMathValues, SignedZerosAtATieGiveTheFirstInput) {
  for (int64_t n : {1, 3, 8, 17, 64}) {
    SCOPED_TRACE(n);
    for (ScalarType dtype : {kFloat32, kFloat64}) {
      Tensor neg = full({n}, -0.0, dtype), pos = zeros({n}, dtype);
      for (const Tensor& r : {maximum(neg, pos), minimum(neg, pos)})
        for (double v : r.to_vector<double>()) EXPECT_TRUE(std::signbit(v));
      for (const Tensor& r : {maximum(pos, neg), minimum(pos, neg)})
        for (double v : r.to_vector<double>()) EXPECT_FALSE(std::signbit(v));
    }
  }
  EXPECT_TRUE(HasExactly(maximum(f64({-0.0}).reshape({}), f64({0.0}).reshape({})), {-0.0}));
  EXPECT_TRUE(HasExactly(minimum(f64({0.0}).reshape({}), f64({-0.0}).reshape({})), {0.0}));
}

TEST(BinaryMathValues, ExtremaPropagateNanAndOrderInfinities) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    Tensor a = f64({kNan, 1, kNan, kInf, -kInf, kInf, -kInf}).to(dtype);
    Tensor b = f64({1, kNan, kNan, -kInf, kInf, kNan, 5}).to(dtype);
    // PyTorch 1.13.
    EXPECT_TRUE(HasExactly(maximum(a, b), {kNan, kNan, kNan, kInf, kInf, kNan, 5}));
    EXPECT_TRUE(HasExactly(minimum(a, b), {kNan, kNan, kNan, -kInf, -kInf, kNan, -kInf}));
  }
  // Every size, so that no vectorised loop drops a nan (maxpd returns its second operand at a nan).
  for (int64_t n : {1, 7, 8, 33}) {
    Tensor nan = full({n}, kNan, kFloat64), one = ones({n}, kFloat64);
    for (const Tensor& r : {maximum(nan, one), maximum(one, nan), minimum(nan, one), minimum(one, nan)})
      for (double v : r.to_vector<double>()) EXPECT_TRUE(std::isnan(v));
  }
}

TEST(BinaryMathValues, ExtremaOfInt64Extremes) {
  Tensor a = i64({kMin, kMax, kMin, 0, kMax}), b = i64({kMax, kMin, kMin, -1, kMax - 1});
  // PyTorch 1.13.
  EXPECT_EQ(maximum(a, b).to_vector<int64_t>(), (std::vector<int64_t>{kMax, kMax, kMin, 0, kMax}));
  EXPECT_EQ(minimum(a, b).to_vector<int64_t>(), (std::vector<int64_t>{kMin, kMin, kMin, -1, kMax - 1}));
}

TEST(BinaryMathValues, FmodHasTheSignOfTheDividend) {
  // PyTorch 1.13 (C's fmod): the remainder's sign is the dividend's, zeros included.
  Tensor a = f64({5, -5, 5, -5, 0, -0.0, -6, 5, kInf, -kInf, 5, -5, kNan, 5});
  Tensor b = f64({3, 3, -3, -3, 3, 3, 3, 0, 2, 2, kInf, -kInf, 1, kNan});
  const std::vector<double> want = {2, -2, 2, -2, 0, -0.0, -0.0, kNan, kNan, kNan, 5, -5, kNan, kNan};
  EXPECT_TRUE(HasExactly(fmod(a, b), want));
  EXPECT_TRUE(HasExactly(fmod(a.to(kFloat32), b.to(kFloat32)), want));
  EXPECT_EQ(fmod(i64({5, -5, 5, -5, 0, -6}), i64({3, 3, -3, -3, 3, 3})).to_vector<int64_t>(),
            (std::vector<int64_t>{2, -2, 2, -2, 0, 0}));
}

// INT64_MIN % -1 overflows in C++ (undefined; x86 traps, and PyTorch 1.13 dies of SIGFPE). The
// remainder is 0; the sanitizer build checks that no overflow happens on the way.
TEST(BinaryMathValues, FmodOfInt64Extremes) {
  Tensor a = i64({kMin, kMin, kMin, kMax, kMin + 1, kMax, 7});
  Tensor b = i64({-1, 1, kMin, kMin, kMin, -1, kMin});
  EXPECT_EQ(fmod(a, b).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0, kMax, kMin + 1, 0, 7}));
  EXPECT_EQ(fmod(full({9}, kMin, kInt64), full({}, -1, kInt64)).to_vector<int64_t>(), std::vector<int64_t>(9, 0));
}

TEST(BinaryMathValues, Int64FmodByZeroRaisesNamingFmod) {
  EXPECT_DYDX_ERROR(fmod(i64({5}), i64({0})), "fmod", "ZeroDivisionError");
  // The zero anywhere: last of many, or a broadcast 0-d divisor.
  std::vector<int64_t> divisors(100, 3);
  divisors.back() = 0;
  EXPECT_DYDX_ERROR(fmod(arange(100), i64(divisors)), "fmod", "ZeroDivisionError");
  EXPECT_DYDX_ERROR(fmod(arange(6).reshape({2, 3}), zeros({}, kInt64)), "fmod", "ZeroDivisionError");
  EXPECT_DYDX_ERROR(i64({1, 2}).fmod(i64({1, 0})), "fmod");
  // PyTorch 1.13 raises in the kernel, so that a result with no elements computes nothing and
  // raises nothing, and a shape mismatch is reported as one.
  Tensor empty = fmod(zeros({0, 1}, kInt64), i64({0, 1, 2}));
  EXPECT_EQ(empty.sizes().vec(), (std::vector<int64_t>{0, 3}));
  EXPECT_DYDX_ERROR(fmod(ones({2}, kInt64), i64({0, 1, 2})), "fmod", "[2]", "[3]", "broadcast");
}

TEST(BinaryMathValues, Atan2OfSignedZerosAndInfinities) {
  // PyTorch 1.13 (C's atan2): the sign of a zero picks the half-plane.
  Tensor y = f64({0.0, -0.0, 0.0, -0.0, 1, -1, kInf, kInf, -kInf, -kInf, kNan, 1, 0.0, -0.0, 5, -5});
  Tensor x = f64({-0.0, -0.0, 0.0, 0.0, kInf, -kInf, kInf, -kInf, kInf, -kInf, 1, kNan, -3, -3, 0.0, -0.0});
  const std::vector<double> want = {kPi,         -kPi,  0.0,        -0.0, 0.0, -kPi, kPi / 4, 3 * kPi / 4, -kPi / 4,
                                    -3 * kPi / 4, kNan, kNan, kPi, -kPi, kPi / 2, -kPi / 2};
  EXPECT_TRUE(HasExactly(atan2(y, x), want));
  // float32 rounds pi to 3.1415927410125732, as PyTorch prints it.
  std::vector<double> want32;
  for (double v : want) want32.push_back(static_cast<float>(v));
  EXPECT_TRUE(HasExactly(atan2(y.to(kFloat32), x.to(kFloat32)), want32));
  // Integers compute in float32: atan2(0, -1) = pi.
  EXPECT_TRUE(HasExactly(atan2(i64({0, 1, -1}), i64({-1, 0, 0})), {static_cast<float>(kPi),
                                                                   static_cast<float>(kPi / 2),
                                                                   static_cast<float>(-kPi / 2)}));
}

TEST(BinaryMathValues, HypotNeitherOverflowsNorUnderflowsOnTheWay) {
  // PyTorch 1.13: a^2 + b^2 would overflow (1e600) or underflow (1e-600); hypot does neither.
  Tensor a = f64({1e300, 1e-300, 3, -3, 0.0, kInf, kNan, -kInf, 1.5e308});
  Tensor b = f64({1e300, 1e-300, 4, -4, -0.0, kNan, kInf, kNan, 1.5e308});
  EXPECT_TRUE(HasExactly(hypot(a, b), {1.4142135623730952e+300, 1.414213562373095e-300, 5, 5, 0, kInf, kInf, kInf,
                                       kInf}));  // an infinite leg wins over a nan one, as in C
  EXPECT_TRUE(std::isfinite(hypot(f64({1e300}), f64({1e300})).item<double>()));
  // float32: 2e38 * sqrt(2) is below FLT_MAX (PyTorch 1.13: 2.8284270461785455e+38); 3e38 * sqrt(2) is not.
  EXPECT_TRUE(HasExactly(hypot(f32({2e38, 3e38, 1e-40}), f32({2e38, 3e38, 1e-40})),
                         {2.8284270461785455e+38, kInf, 1.4142044231812486e-40}));
}

// ---- shapes and layouts ------------------------------------------------------------------------

// Values on a grid that has ties, signed zeros and sign changes, so that every branch runs.
Tensor grid(IntArrayRef shape, double offset) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return ((arange(n, kFloat64) * 0.75 + offset).fmod(4.0) - 1.5).reshape(shape);
}

TEST(BinaryMathLayouts, BroadcastingMatchesTheCLibraryElementByElement) {
  Tensor a = grid({3, 1}, 0.25), b = grid({1, 4}, 0.5);
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  for (const NamedOp& op : all_ops()) {
    SCOPED_TRACE(op.name);
    Tensor r = op.f(a, b);
    ASSERT_EQ(r.sizes().vec(), (std::vector<int64_t>{3, 4}));
    std::vector<double> want;
    for (double x : av)
      for (double y : bv) want.push_back(op.reference(x, y));
    EXPECT_TRUE(HasExactly(r, want));
    // The other way round, and against a 0-d operand.
    want.clear();
    for (double x : bv)
      for (double y : av) want.push_back(op.reference(x, y));
    EXPECT_TRUE(HasExactly(op.f(b.reshape({4, 1}), a.reshape({3})), want)) << "transposed broadcast";
    Tensor s = f64({-1.25}).reshape({});
    want.clear();
    for (double x : av) want.push_back(op.reference(x, -1.25));
    EXPECT_TRUE(HasExactly(op.f(a, s), want));
  }
}

TEST(BinaryMathLayouts, ZeroSizeTensors) {
  for (const NamedOp& op : all_ops()) {
    SCOPED_TRACE(op.name);
    EXPECT_EQ(op.f(zeros({0, 3}, kFloat64), ones({3}, kFloat64)).sizes().vec(), (std::vector<int64_t>{0, 3}));
    EXPECT_EQ(op.f(zeros({2, 0}, kFloat64), ones({2, 1}, kFloat64)).sizes().vec(), (std::vector<int64_t>{2, 0}));
    EXPECT_EQ(op.f(zeros({0}, kFloat32), ones({}, kFloat64)).dtype(), kFloat32);
    // Gradients of an empty result are empty, shaped as the inputs.
    Tensor a = zeros({0, 3}, kFloat64).requires_grad_(), b = ones({1, 3}, kFloat64).requires_grad_();
    op.f(a, b).sum().backward();
    ASSERT_TRUE(a.grad().defined());
    EXPECT_EQ(a.grad().sizes().vec(), (std::vector<int64_t>{0, 3}));
    EXPECT_TRUE(HasExactly(b.grad(), {0, 0, 0}));
  }
}

// Expanded, sliced, transposed and overlapping inputs give exactly what their contiguous copies give.
TEST(BinaryMathLayouts, ViewsGiveWhatContiguousCopiesGive) {
  Tensor base = grid({6, 10}, 0.0), other = grid({10, 6}, 1.0);
  const std::vector<std::pair<const char*, std::pair<Tensor, Tensor>>> layouts = {
      {"transposed", {base.t(), other}},
      {"expanded", {base.select(0, 1).reshape({1, 10}).expand({6, 10}), other.t()}},
      {"stride 0 both", {base.select(0, 2).reshape({1, 10}).expand({6, 10}),
                         other.select(1, 3).reshape({10, 1}).expand({10, 6}).t()}},
      {"sliced", {base.slice(1, 1, 10, 3), other.slice(0, 0, 9, 3).t()}},
      {"overlapping", {base.as_strided({6, 10}, {1, 2}), other.as_strided({6, 10}, {3, 1}, 5)}},
      {"int64 transposed", {(base * 4.0).to(kInt64).t(), (other * 4.0 + 17.0).to(kInt64)}},
  };
  for (const auto& [name, pair] : layouts) {
    const auto& [a, b] = pair;
    for (const NamedOp& op : all_ops()) {
      SCOPED_TRACE(std::string(name) + " " + op.name);
      if (std::string(op.name) == "hypot" && a.dtype() == kInt64) continue;
      // (The int64 divisors lie in [11, 27): never zero.)
      Tensor got = op.f(a, b);
      Tensor want = op.f(a.contiguous(), b.contiguous());
      EXPECT_TRUE(SameTensor(got, want));
      EXPECT_TRUE(got.is_contiguous());
    }
  }
}

// Past the parallel grain (32768 elements), on several threads, every piece gives the C library's value.
TEST(BinaryMathLayouts, LargeTensorsOnSeveralThreads) {
  testing::ThreadCount threads(4);
  const int64_t n = 3 * 32768 + 5;
  Tensor a = grid({n}, 0.5), b = grid({n}, 1.75);
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  for (const NamedOp& op : all_ops()) {
    SCOPED_TRACE(op.name);
    std::vector<double> want;
    for (int64_t i = 0; i < n; ++i) want.push_back(op.reference(av[i], bv[i]));
    EXPECT_TRUE(HasExactly(op.f(a, b), want));
    EXPECT_TRUE(SameTensor(op.f(a.reshape({1, n}).expand({2, n}).t(), b.reshape({n, 1})),
                           op.f(a.reshape({n, 1}), b.reshape({n, 1}).expand({n, 2}))));
  }
  std::vector<int64_t> divisors(n, -1);
  divisors.back() = 0;
  EXPECT_DYDX_ERROR(fmod(full({n}, kMin, kInt64), i64(divisors)), "fmod", "ZeroDivisionError");
  divisors.back() = 1;
  EXPECT_EQ(fmod(full({n}, kMin, kInt64), i64(divisors)).to_vector<int64_t>(), std::vector<int64_t>(n, 0));
}

// ---- gradients ---------------------------------------------------------------------------------

TEST(BinaryMathGrad, ExtremaSplitTheGradientAtTies) {
  // PyTorch 1.13: a tie (signed zeros included) gives each input half; a nan gives both all of it.
  Tensor a = f64({1, 2, 3, -0.0, 0.0, kNan, 5}).requires_grad_();
  Tensor b = f64({1, 1, 4, 0.0, -0.0, 1, kNan}).requires_grad_();
  maximum(a, b).backward(ones({7}, kFloat64));
  EXPECT_TRUE(HasExactly(a.grad(), {0.5, 1, 0, 0.5, 0.5, 1, 1}));
  EXPECT_TRUE(HasExactly(b.grad(), {0.5, 0, 1, 0.5, 0.5, 1, 1}));
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  minimum(a, b).backward(ones({7}, kFloat64));
  EXPECT_TRUE(HasExactly(a.grad(), {0.5, 0, 1, 0.5, 0.5, 1, 1}));
  EXPECT_TRUE(HasExactly(b.grad(), {0.5, 1, 0, 0.5, 0.5, 1, 1}));
}

TEST(BinaryMathGrad, ExtremaMaskRatherThanMultiply) {
  // An inf gradient must not become inf * 0 = nan for the input that lost.
  Tensor a = f64({1, 5}).requires_grad_(), b = f64({3, 5}).requires_grad_();
  maximum(a, b).backward(f64({kInf, kInf}));
  EXPECT_TRUE(HasExactly(a.grad(), {0, kInf}));
  EXPECT_TRUE(HasExactly(b.grad(), {kInf, kInf}));
}

TEST(BinaryMathGrad, ExtremaReduceBroadcastGradients) {
  // PyTorch 1.13: maximum([[1, 2, 3]], [[2], [2]]) summed: a gets [0, 1, 2], b gets 1.5 each.
  Tensor a = f64({1, 2, 3}).reshape({1, 3}).requires_grad_(), b = f64({2, 2}).reshape({2, 1}).requires_grad_();
  maximum(a, b).sum().backward();
  EXPECT_TRUE(HasExactly(a.grad(), {0, 1, 2}));
  EXPECT_TRUE(HasExactly(b.grad(), {1.5, 1.5}));
  // Mixed dtypes: the 0-d float64 operand gets a float64 gradient of its own shape.
  Tensor x = f32({1, 2, 3}).requires_grad_(), s = f64({2}).reshape({}).requires_grad_();
  Tensor r = maximum(x, s);
  EXPECT_EQ(r.dtype(), kFloat32);
  r.sum().backward();
  EXPECT_TRUE(HasExactly(x.grad(), {0, 0.5, 1}));
  EXPECT_EQ(s.grad().dtype(), kFloat64);
  EXPECT_EQ(s.grad().dim(), 0);
  EXPECT_EQ(s.grad().item<double>(), 1.5);
}

TEST(BinaryMathGrad, FmodGradientOfTheDivisorIsMinusTruncatedQuotient) {
  const std::vector<double> av = {5, -5, 5, -5, 7.5, 1, -0.5, 1e17, -7};
  const std::vector<double> bv = {3, 3, -3, -3, 2.5, 0, 0.25, 3, 7};
  Tensor a = f64(av).requires_grad_(), b = f64(bv).requires_grad_();
  Tensor g = f64({1, 2, 1, 1, 1, 1, 1, 1, -1});
  fmod(a, b).backward(g);
  std::vector<double> want_a = g.to_vector<double>(), want_b;
  for (size_t i = 0; i < av.size(); ++i) want_b.push_back(-want_a[i] * std::trunc(av[i] / bv[i]));
  EXPECT_TRUE(HasExactly(a.grad(), want_a));
  EXPECT_TRUE(HasExactly(b.grad(), want_b));
  // PyTorch 1.13's numbers for the first seven (g of ones but the second, 2).
  EXPECT_TRUE(HasExactly(b.grad().slice(0, 0, 7), {-1, 2, 1, -1, -3, -kInf, 2}));

  // Forward mode: t_a - t_b trunc(a / b).
  forward_ad::DualLevel level;
  Tensor ta = f64(std::vector<double>(av.size(), 0.5)), tb = f64(std::vector<double>(av.size(), 2));
  Tensor out = fmod(forward_ad::make_dual(f64(av), ta), forward_ad::make_dual(f64(bv), tb));
  std::vector<double> want_t;
  for (size_t i = 0; i < av.size(); ++i) want_t.push_back(0.5 - 2 * std::trunc(av[i] / bv[i]));
  EXPECT_TRUE(HasExactly(forward_ad::unpack_dual(out).tangent, want_t));
}

TEST(BinaryMathGrad, FmodOfMixedDtypesAndAScalar) {
  // PyTorch 1.13: fmod(3 a, b) for float32 a = [1, 2, 3] and a float64 0-d b = 2.
  Tensor a = f32({1, 2, 3}).requires_grad_(), b = f64({2}).reshape({}).requires_grad_();
  fmod(a * 3.0, b).sum().backward();
  EXPECT_TRUE(HasExactly(a.grad(), {3, 3, 3}));
  EXPECT_EQ(b.grad().dtype(), kFloat64);
  EXPECT_EQ(b.grad().item<double>(), -8);
  // The scalar form is differentiable in the tensor only.
  Tensor x = f64({7.5, -7.5}).requires_grad_();
  fmod(x, 2).sum().backward();
  EXPECT_TRUE(HasExactly(x.grad(), {1, 1}));
}

TEST(BinaryMathGrad, MixedIntegerAndFloatInputs) {
  // PyTorch 1.13: only the float input gets a gradient; ties are judged in the promoted dtype.
  Tensor b = f64({2, 2}).requires_grad_();
  fmod(i64({7, -7}), b).sum().backward();
  EXPECT_TRUE(HasExactly(b.grad(), {-3, 3}));
  Tensor x = f32({1, 3}).requires_grad_();
  maximum(x, i64({2, 2})).sum().backward();
  EXPECT_TRUE(HasExactly(x.grad(), {0, 1}));
  Tensor y = f32({2, 3}).requires_grad_();
  minimum(i64({2, 2}), y).sum().backward();
  EXPECT_TRUE(HasExactly(y.grad(), {0.5, 0}));
}

TEST(BinaryMathGrad, HypotAtTheOriginIsNan) {
  // PyTorch 1.13: a / hypot(a, b) at (0, 0) is 0 / 0; neither library picks a subgradient.
  Tensor a = f64({0, 0, 3}).requires_grad_(), b = f64({0, -0.0, 4}).requires_grad_();
  hypot(a, b).sum().backward();
  EXPECT_TRUE(HasExactly(a.grad(), {kNan, kNan, 0.6}));
  EXPECT_TRUE(HasExactly(b.grad(), {kNan, kNan, 0.8}));
}

// ---- errors ------------------------------------------------------------------------------------

// A partial that is the constant 0 (add's alpha = 0) still multiplies, as PyTorch's grad * alpha
// does: a nan or inf cotangent reaches b as nan in both modes, not as a structural zero.
TEST(BinaryMathGrad, AlphaZeroStillMultipliesTheCotangent) {
  Tensor a = tensor({1.0, 2.0}).requires_grad_(), b = tensor({3.0, 4.0}).requires_grad_();
  Tensor out = add(a, b, 0);
  TensorList grads = grad({out}, {a, b}, {tensor({kNan, kInf})});
  EXPECT_TRUE(std::isnan(grads[1][0].item<double>()));
  EXPECT_TRUE(std::isnan(grads[1][1].item<double>()));
  EXPECT_TRUE(std::isnan(grads[0][0].item<double>()));
  EXPECT_EQ(grads[0][1].item<double>(), kInf);
  forward_ad::DualLevel level;
  Tensor tangent = forward_ad::unpack_dual(add(tensor({1.0}), forward_ad::make_dual(tensor({2.0}), tensor({kInf})), 0)).tangent;
  ASSERT_TRUE(tangent.defined());
  EXPECT_TRUE(std::isnan(tangent.item<double>()));
}

// Records save inputs by bit; an op of many inputs (cat of 40) saves none and must not shift past
// the mask (undefined behaviour that UBSan reports in the sanitizer build).
TEST(BinaryMathGrad, CatOfManyInputsRecordsAndDifferentiates) {
  TensorList parts;
  for (int i = 0; i < 40; ++i) parts.push_back(full({2}, static_cast<double>(i), kFloat64).requires_grad_());
  Tensor y = (cat(parts) * cat(parts)).sum();
  TensorList grads = grad({y}, parts);
  for (int i = 0; i < 40; ++i) EXPECT_TRUE(equal(grads[i], full({2}, 2.0 * i, kFloat64))) << i;
}

TEST(BinaryMathErrors, ShapeMismatchNamesTheOpAndBothShapes) {
  for (const NamedOp& op : all_ops()) {
    EXPECT_DYDX_ERROR(op.f(ones({2, 3}, kFloat64), ones({4}, kFloat64)), op.name, "[2,3]", "[4]");
    EXPECT_DYDX_ERROR(op.f(ones({5}, kFloat32), ones({3, 2}, kFloat64)), op.name, "[5]", "[3,2]");
  }
  EXPECT_DYDX_ERROR(ones({2, 3}).maximum(ones({3, 2})), "maximum", "[2,3]", "[3,2]");
}

TEST(BinaryMathErrors, HypotOfIntegersNamesHypot) {
  // PyTorch 1.13: "hypot_cpu" not implemented for 'Long'.
  EXPECT_DYDX_ERROR(hypot(i64({3}), i64({4})), "hypot", "int64");
  EXPECT_DYDX_ERROR(i64({3}).hypot(zeros({}, kInt64)), "hypot");
  EXPECT_TRUE(HasExactly(hypot(i64({3}), f32({4})), {5}));
  // PyTorch 1.13 checks the shapes first, and raises for int64 even when there are no elements.
  EXPECT_DYDX_ERROR(hypot(ones({2}, kInt64), ones({3}, kInt64)), "hypot", "[2]", "[3]", "broadcast");
  EXPECT_DYDX_ERROR(hypot(zeros({0}, kInt64), zeros({0}, kInt64)), "hypot", "int64");
}

// Values, gradients and dtypes PyTorch 1.13 gives (printed by /usr/bin/python3 when written).
TEST(BinaryMathRemainder, AsPyTorch) {
  Tensor a = tensor({5.0, -5.0, 5.0, -5.0, 0.0, -0.0, 7.5, kInf, 1.0}, dtype(kFloat64).requires_grad(true));
  Tensor b = tensor({3.0, 3.0, -3.0, -3.0, 3.0, -3.0, 2.0, 3.0, kInf}, dtype(kFloat64).requires_grad(true));
  Tensor r = remainder(a, b);
  EXPECT_TRUE(HasExactly(r, {2, 1, -1, -2, 0.0, -0.0, 1.5, kNan, 1}));
  EXPECT_EQ(std::string(r.grad_fn()->name()), "RemainderBackward1");
  r.sum().backward();
  EXPECT_TRUE(HasExactly(a.grad(), {1, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_TRUE(HasExactly(b.grad(), {-1, 2, 2, -1, -0.0, -0.0, -3, kNan, -0.0}));
  // Divisors of zero and infinities; a tiny negative value wraps to the divisor itself.
  EXPECT_TRUE(HasExactly(remainder(f64({-1, 3, -7}), f64({kInf, 0, -kInf})), {kInf, kNan, -7}));
  EXPECT_TRUE(HasExactly(remainder(f64({1e-320, -1e-320}), 1.0), {1e-320, 1.0}));
  EXPECT_TRUE(HasExactly(remainder(f32({-1e-20}), 1.0), {1.0}));
  // Integers: exact, Python's signs; INT64_MIN % -1 is 0 (PyTorch 1.13 dies of SIGFPE there).
  EXPECT_EQ((i64({5, -5, 5, -5, 7}) % i64({3, 3, -3, -3, -1})).to_vector<int64_t>(), (std::vector<int64_t>{2, 1, -1, -2, 0}));
  EXPECT_EQ(remainder(i64({kMin, kMax}), -1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(remainder(i64({kMin}), kMax).to_vector<int64_t>(), (std::vector<int64_t>{kMax - 1}));
  EXPECT_DYDX_ERROR(i64({1, 2}) % i64({0, 1}), "remainder", "ZeroDivisionError");
  Tensor mixed = i64({5, 6}) % 2.5;
  EXPECT_EQ(mixed.dtype(), kFloat32);
  EXPECT_TRUE(HasExactly(mixed, {0, 1}));
  // A scalar dividend: the divisor's dtype, and its gradient.
  Tensor divisor = tensor({2.0, -2.0}, dtype(kFloat64).requires_grad(true));
  Tensor scalar_first = 2.5 % divisor;
  EXPECT_TRUE(HasExactly(scalar_first, {0.5, -1.5}));
  scalar_first.sum().backward();
  EXPECT_TRUE(HasExactly(divisor.grad(), {-1, 2}));
  EXPECT_EQ((5 % i64({3, -3})).to_vector<int64_t>(), (std::vector<int64_t>{2, -1}));
  Tensor promoted = remainder(5.5, i64({2, 3}));
  EXPECT_EQ(promoted.dtype(), kFloat32);
  EXPECT_TRUE(HasExactly(promoted, {1.5, 2.5}));
  Tensor from_bool = tensor({true, false}) % 2;
  EXPECT_EQ(from_bool.dtype(), kInt64);
  EXPECT_EQ(from_bool.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  // Second order: the gradient is piecewise constant, and its own derivative is zero.
  Tensor x = tensor({2.5, -1.25}, dtype(kFloat64).requires_grad(true)), y = tensor({0.7, 0.3}, dtype(kFloat64).requires_grad(true));
  auto g = grad({remainder(x, y).sum()}, {x, y}, {}, std::nullopt, true);
  EXPECT_TRUE(HasExactly(g[0], {1, 1}));
  EXPECT_TRUE(HasExactly(g[1], {-3, 5}));
}

}  // namespace
}  // namespace dydx
