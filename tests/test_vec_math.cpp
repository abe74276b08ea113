// SIMD math (src/cpu/vec_math.hpp): error in ulps against std::, special values, array == scalar.
// (softplus's reference is max(x, 0) + log1p(e^-|x|) in the wider type.)
//
// References: for float, std:: in double, rounded; for double, std:: in long double. An error is
// |result - reference| in ulps of the reference rounded to the result's type.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include <dydx/dydx.hpp>

#include "cpu/vec_math.hpp"

namespace {

namespace vec = dydx::cpu::vec;

#if defined(DYDX_SANITIZED)
constexpr int64_t kScale = 16;  // sanitizers run ~10-20x slower
#else
constexpr int64_t kScale = 1;
#endif

template <class T>
using Wide = std::conditional_t<std::is_same_v<T, float>, double, long double>;

// Float results but tanh's are computed in double and rounded once: within half an ulp of the
// reference except for the double computation's own error, a few 2^-29 ulp.
constexpr double kMaxUlpFloat = 0.5 + 1e-6;

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
double ulp_error(T y, Wide<T> ref) {
  if (std::isnan(ref)) return std::isnan(y) ? 0 : INFINITY;
  const T rounded = static_cast<T>(ref);
  if (std::isinf(rounded)) return y == rounded ? 0 : INFINITY;
  const T a = std::fabs(rounded);
  const Wide<T> ulp = std::nextafter(a, std::numeric_limits<T>::infinity()) - a;
  return static_cast<double>(std::fabs(static_cast<Wide<T>>(y) - ref) / ulp);
}

// One function under test: the vec:: scalar and array forms and the std:: reference.
enum class Fn { Exp, Log, Sin, Cos, Tanh, Sigmoid, Log1p, Expm1, Softplus, Erf };
constexpr Fn kAllFns[] = {Fn::Exp,   Fn::Log,   Fn::Sin,      Fn::Cos, Fn::Tanh,
                          Fn::Sigmoid, Fn::Log1p, Fn::Expm1, Fn::Softplus, Fn::Erf};
const char* name(Fn f) {
  switch (f) {
    case Fn::Exp: return "exp";
    case Fn::Log: return "log";
    case Fn::Sin: return "sin";
    case Fn::Cos: return "cos";
    case Fn::Tanh: return "tanh";
    case Fn::Sigmoid: return "sigmoid";
    case Fn::Log1p: return "log1p";
    case Fn::Expm1: return "expm1";
    case Fn::Softplus: return "softplus";
    case Fn::Erf: return "erf";
  }
  return "";
}

template <class T>
T scalar(Fn f, T x) {
  switch (f) {
    case Fn::Exp: return vec::exp(x);
    case Fn::Log: return vec::log(x);
    case Fn::Sin: return vec::sin(x);
    case Fn::Cos: return vec::cos(x);
    case Fn::Tanh: return vec::tanh(x);
    case Fn::Sigmoid: return vec::sigmoid(x);
    case Fn::Log1p: return vec::log1p(x);
    case Fn::Expm1: return vec::expm1(x);
    case Fn::Softplus: return vec::softplus(x);
    case Fn::Erf: return vec::erf(x);
  }
  return 0;
}

template <class T>
void array(Fn f, const T* x, T* y, int64_t n) {
  switch (f) {
    case Fn::Exp: return vec::exp(x, y, n);
    case Fn::Log: return vec::log(x, y, n);
    case Fn::Sin: return vec::sin(x, y, n);
    case Fn::Cos: return vec::cos(x, y, n);
    case Fn::Tanh: return vec::tanh(x, y, n);
    case Fn::Sigmoid: return vec::sigmoid(x, y, n);
    case Fn::Log1p: return vec::log1p(x, y, n);
    case Fn::Expm1: return vec::expm1(x, y, n);
    case Fn::Softplus: return vec::softplus(x, y, n);
    case Fn::Erf: return vec::erf(x, y, n);
  }
}

template <class W>
W reference(Fn f, W x) {
  switch (f) {
    case Fn::Exp: return std::exp(x);
    case Fn::Log: return std::log(x);
    case Fn::Sin: return std::sin(x);
    case Fn::Cos: return std::cos(x);
    case Fn::Tanh: return std::tanh(x);
    case Fn::Sigmoid: return W(1) / (W(1) + std::exp(-x));
    case Fn::Log1p: return std::log1p(x);
    case Fn::Expm1: return std::expm1(x);
    case Fn::Softplus: return (x > 0 ? x : W(0)) + std::log1p(std::exp(-std::fabs(x)));
    case Fn::Erf: return std::erf(x);
  }
  return 0;
}

// Maximum errors of the double functions measured over the sweeps below, rounded up a little: the
// bounds asserted. They hold whether or not GCC contracts a*b+c into FMAs (Release -march=native
// does; -O0 builds do not, and reach the larger errors). Exp's includes subnormal results (see
// SubnormalResults); normal ones reach 0.64.
double max_ulp_double(Fn f) {
  switch (f) {
    case Fn::Exp: return 0.75;
    case Fn::Log: return 0.68;
    case Fn::Sin: return 0.77;
    case Fn::Cos: return 0.78;
    case Fn::Tanh: return 0.61;
    case Fn::Sigmoid: return 0.63;
    case Fn::Log1p: return 0.69;
    case Fn::Expm1: return 0.86;
    case Fn::Softplus: return 0.75;
    case Fn::Erf: return 0.81;
  }
  return 0;
}

// Float tanh runs in float lanes (the others in double, rounded once): its maximum over all 2^32
// floats is 0.773 ulp with FMA contraction and 0.828 without (this test's own build has none).
double max_ulp_float(Fn f) { return f == Fn::Tanh ? 0.83 : kMaxUlpFloat; }

template <class T>
double max_ulp(Fn f) {
  return std::is_same_v<T, float> ? max_ulp_float(f) : max_ulp_double(f);
}

// Runs the array form over xs and checks each result's error against bound; reports the worst.
template <class T>
void expect_accurate(Fn f, const std::vector<T>& xs, double bound) {
  std::vector<T> ys(xs.size());
  array(f, xs.data(), ys.data(), static_cast<int64_t>(xs.size()));
  double worst = 0;
  T worst_x = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double e = ulp_error<T>(ys[i], reference<Wide<T>>(f, xs[i]));
    if (!(e <= worst)) worst = e, worst_x = xs[i];
  }
  EXPECT_LE(worst, bound) << name(f) << (std::is_same_v<T, float> ? " float" : " double") << " at x = "
                          << std::hexfloat << worst_x;
}
template <class T>
void expect_accurate(Fn f, const std::vector<T>& xs) {
  expect_accurate(f, xs, max_ulp<T>(f));
}

// Every 1031st float bit pattern (both signs, all exponents, varied mantissas) in the domain.
std::vector<float> float_sweep(float lo, float hi) {
  std::vector<float> xs;
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 1031 * kScale) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(u));
    if (x >= lo && x <= hi) xs.push_back(x);
  }
  return xs;
}

// Random doubles: log-uniform magnitudes in [2^lo, 2^hi] of both signs, and uniform in [a, b].
std::vector<double> double_sweep(int lo, int hi, double a, double b) {
  std::mt19937_64 gen(42);
  std::uniform_real_distribution<double> exponent(lo, hi), uniform(a, b);
  std::vector<double> xs;
  const int64_t n = 400000 / kScale;
  for (int64_t i = 0; i < n; ++i) {
    const double m = std::exp2(exponent(gen));
    xs.push_back(gen() & 1 ? -m : m);
    xs.push_back(uniform(gen));
  }
  return xs;
}

constexpr float kFloatMax = std::numeric_limits<float>::max();

TEST(VecMath, FloatSweeps) {
  expect_accurate(Fn::Exp, float_sweep(-104.0f, 89.0f));
  expect_accurate(Fn::Log, float_sweep(0.0f, kFloatMax));
  expect_accurate(Fn::Sin, float_sweep(-kFloatMax, kFloatMax));
  expect_accurate(Fn::Cos, float_sweep(-kFloatMax, kFloatMax));
  expect_accurate(Fn::Tanh, float_sweep(-kFloatMax, kFloatMax));
  expect_accurate(Fn::Sigmoid, float_sweep(-kFloatMax, kFloatMax));
  // Below -1 log1p is NaN; expm1 overflows past 88.7.
  expect_accurate(Fn::Log1p, float_sweep(-kFloatMax, kFloatMax));
  expect_accurate(Fn::Expm1, float_sweep(-kFloatMax, kFloatMax));
  expect_accurate(Fn::Softplus, float_sweep(-kFloatMax, kFloatMax));
  expect_accurate(Fn::Erf, float_sweep(-kFloatMax, kFloatMax));
}

TEST(VecMath, DoubleSweeps) {
  expect_accurate(Fn::Exp, double_sweep(-1074, 9, -746, 710));
  // Logs of both signs: the negative half checks NaN.
  expect_accurate(Fn::Log, double_sweep(-1074, 1023, 0.25, 4));
  expect_accurate(Fn::Sin, double_sweep(-1074, 17, -10, 10));
  expect_accurate(Fn::Sin, double_sweep(-20, 30, -140000, 140000));
  expect_accurate(Fn::Cos, double_sweep(-1074, 17, -10, 10));
  expect_accurate(Fn::Cos, double_sweep(-20, 30, -140000, 140000));
  expect_accurate(Fn::Tanh, double_sweep(-1074, 6, -3, 3));
  expect_accurate(Fn::Sigmoid, double_sweep(-1074, 10, -50, 50));
  expect_accurate(Fn::Log1p, double_sweep(-1074, 1023, -1, 4));
  expect_accurate(Fn::Expm1, double_sweep(-1074, 10, -50, 50));
  expect_accurate(Fn::Expm1, double_sweep(-1074, 0, -1.1, 1.1));
  expect_accurate(Fn::Softplus, double_sweep(-1074, 10, -50, 50));
  expect_accurate(Fn::Erf, double_sweep(-1074, 3, -6, 6));
}

// x and its neighbours k ulps away, k in [-3, 3].
template <class T>
void push_around(std::vector<T>& xs, T x) {
  T lo = x, hi = x;
  xs.push_back(x);
  for (int k = 0; k < 3; ++k) {
    lo = std::nextafter(lo, -std::numeric_limits<T>::infinity());
    hi = std::nextafter(hi, std::numeric_limits<T>::infinity());
    xs.push_back(lo), xs.push_back(hi);
  }
}

// Edges of every function: thresholds inside the algorithms, over/underflow, subnormals, huge
// trig arguments, and the points nearest multiples of pi/2 (the hardest reductions).
template <class T>
std::vector<T> edge_cases() {
  using L = std::numeric_limits<T>;
  std::vector<T> xs = {0, -T(0), L::infinity(), -L::infinity(), L::quiet_NaN(), -L::quiet_NaN(),
                       L::max(), -L::max(), L::min(), -L::min(), L::denorm_min(), -L::denorm_min(),
                       L::epsilon(), 1, -1, 2, 0.5};
  const T tanh_switch = static_cast<T>(vec::detail::kTanhSmall);
  const T tanh_switch_float = static_cast<T>(vec::detail::kTanhSmallF32);
  const T trig_bound = static_cast<T>(vec::detail::kTrigBound);
  // 0x1.0c68c2p-1: float tanh's worst input without FMA contraction.
  for (T x : {tanh_switch, -tanh_switch, tanh_switch_float, -tanh_switch_float, T(9.5), T(-9.5), T(0x1.0c68c2p-1),
              T(-40), T(40), T(709.78), T(-745.13), T(-708.39), T(88.72), T(-87.33), T(-103.97), T(104), T(-104),
              trig_bound, -trig_bound, T(1), T(0x1p-1022), T(0x1p-126), T(0x1p-26), T(-0x1p-26), T(20), T(-20),
              T(19.1), T(10), T(-10), T(9.01), T(-0.75), T(-0.999), T(0.3465), T(-0.3465), T(0x1p-54), T(-0x1p-54),
              T(36), T(-36), T(-37.5), T(0x1.6711f963e213cp-2), T(-0x1.243b6c024eb56p+5), T(3.92), T(4), T(0.75),
              T(-0.75), T(11), T(-11), T(-0x1.512844e5d6314p-1), T(0x1.9edc935efeba4p-2),
              T(-4), T(2.5), T(1.25), T(-1.25), T(6), T(-6), T(5.93), T(0x1p-1000), T(-0x1p-1000),
              T(0.7), T(-0.7), T(0x1.6782a9070b40ap-1), T(0x1.681ef5db4b7p-1),
              T(0x1.40c58444b59c5p+0), T(0x1.42029e8c7e2dcp+0), T(0x1.5ee958dcee4e3p-1)})
    push_around(xs, x);
  for (int q = 1; q < 2000; ++q) push_around(xs, static_cast<T>(q * 1.5707963267948966192313216916397514L));
  for (int e = -1074; e < 1024; e += 7) xs.push_back(static_cast<T>(std::ldexp(1.0L, e)));
  for (T x : {T(1e5), T(1e10), T(1e22), T(1e300)}) xs.push_back(x), xs.push_back(-x);
  return xs;
}

template <class T>
void expect_edges_accurate() {
  const std::vector<T> xs = edge_cases<T>();
  for (Fn f : kAllFns) expect_accurate(f, xs);
}
// Float log1p, expm1 and softplus have float forms of their own (short polynomials in double, pieces
// joined where float's needs allow); the double functions, rounded, are the references. Every float
// within 2^14 ulps of each join, and of the limits where the result turns to x, -1, inf or 0, gives
// the same bits, but for softplus where the double value lies within 1e-7 ulp of a float midpoint
// (over all 2^32 floats, one does: 2e-9 ulp from it).
TEST(VecMath, FloatFormsGiveTheDoubleFormsBitsAtTheirJoins) {
  struct Case {
    Fn f;
    std::vector<float> joins;
  };
  const Case cases[] = {
      // 1 + x exact from 2^-29, x itself below; -1 (the pole); 2^29.
      {Fn::Log1p, {0x1p-29f, -0x1p-29f, -1.0f, -0.29289f, 0.41421f, 0x1p29f}},
      // x itself below 2^-25; the polynomial below 0.34, e^x - 1 beyond; overflow at 88.72; -1 below -17.
      {Fn::Expm1, {0x1p-25f, -0x1p-25f, 0.34f, -0.34f, 88.72284f, -17.0f, 104.0f}},
      // t = e^-|x| crosses sqrt(2) - 1 at |x| = 0.8814; the clamp at 104; x + log1p(t) = x beyond 17.
      {Fn::Softplus, {0.8813736f, -0.8813736f, 104.0f, -104.0f, 17.0f, -17.0f, 0.0f}},
  };
  for (const Case& c : cases) {
    int64_t checked = 0;
    for (const float join : c.joins) {
      std::vector<float> xs;
      float x = join;
      for (int i = 0; i < (1 << 14); ++i) x = std::nextafter(x, -INFINITY);
      for (int i = 0; i < (1 << 15); ++i, x = std::nextafter(x, INFINITY)) xs.push_back(x);
      std::vector<float> ys(xs.size());
      array(c.f, xs.data(), ys.data(), static_cast<int64_t>(xs.size()));
      for (size_t i = 0; i < xs.size(); ++i) {
        const double wide = scalar(c.f, double{xs[i]});
        const float rounded = static_cast<float>(wide);
        if (same_bits(ys[i], rounded)) continue;
        // A float softplus may round the other way only where the double value all but sits on a midpoint.
        const double step = std::nextafter(std::fabs(rounded), INFINITY) - std::fabs(rounded);
        const double off_midpoint = std::fabs(std::fabs(double{rounded} - wide) - step / 2) / step;
        EXPECT_TRUE(c.f == Fn::Softplus && off_midpoint < 1e-7)
            << name(c.f) << " at x = " << std::hexfloat << xs[i] << ": " << ys[i] << " against " << rounded;
      }
      checked += static_cast<int64_t>(xs.size());
    }
    EXPECT_GT(checked, 0);
  }
}

// Float tan (double tan is std::'s): every 1031st float against std::tan in double rounded, within the
// float functions' bound; the array form (with its pass for |x| beyond the reduction's bound) gives the
// scalar form's bits; special values.
TEST(VecMath, FloatTan) {
  std::vector<float> xs = float_sweep(-kFloatMax, kFloatMax);
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 0x1p-26f, 1.5707963f, -1.5707963f, 0x1p17f, 0x1.000002p17f, 1e30f,
                  0x1.02e9bap+2f})
    xs.push_back(x);
  std::vector<float> ys(xs.size());
  vec::tan(xs.data(), ys.data(), static_cast<int64_t>(xs.size()));
  double worst = 0;
  float worst_x = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_TRUE(same_bits(ys[i], vec::tan(xs[i]))) << std::hexfloat << xs[i];
    // +-0x1.02e9bap+2 lie 3e-9 ulp from a midpoint and round the other way (the header says so).
    const double e = ulp_error<float>(ys[i], std::tan(double{xs[i]}));
    if (!(e <= worst)) worst = e, worst_x = xs[i];
  }
  EXPECT_LE(worst, 0.5 + 1e-6) << std::hexfloat << worst_x;
  EXPECT_TRUE(same_bits(vec::tan(-0.0f), -0.0f));
  EXPECT_TRUE(same_bits(vec::tan(0.0f), 0.0f));
  EXPECT_TRUE(std::isnan(vec::tan(std::numeric_limits<float>::infinity())));
  EXPECT_TRUE(std::isnan(vec::tan(-std::numeric_limits<float>::infinity())));
  EXPECT_TRUE(std::isnan(vec::tan(std::numeric_limits<float>::quiet_NaN())));
}

// A float function in double lanes, rounded once, against std:: in double, rounded: the floats xs
// and the special values within half an ulp (and a few 2^-29 ulp), infinities and nans and zeros'
// signs as libm's, and the op's loop (dydx::log2, ...: the unary kernel, vectorised) giving the
// scalar form's bits.
struct FloatFunction {
  const char* name;
  float (*ours)(float);
  double (*reference)(double);
  std::vector<float> xs;
  dydx::Tensor (*op)(const dydx::Tensor&);
};
void expect_correctly_rounded(FloatFunction& c) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float v : {0.0f, -0.0f, inf, -inf, nan, -1.0f, 1.0f, 0x1p-149f, -0x1p-149f, kFloatMax, -kFloatMax, 1e10f,
                  1000.0f, 0.001f, -150.5f, 128.0f, 0.5f, -0.5f, 0x1.fffffep-2f, 0x1.fffffep-1f, -0x1.fffffep-1f,
                  0x1.000002p0f})
    c.xs.push_back(v);
  for (int k = -149; k <= 127; ++k) c.xs.push_back(std::ldexp(1.0f, k));
  double worst = 0;
  for (float x : c.xs) {
    const float got = c.ours(x);
    const double ref = c.reference(double{x});
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(got)) << c.name << " " << std::hexfloat << x;
      continue;
    }
    EXPECT_TRUE(!std::isinf(ref) || got == static_cast<float>(ref)) << c.name << " " << std::hexfloat << x;
    EXPECT_TRUE(ref != 0 || std::signbit(got) == std::signbit(ref)) << c.name << " " << std::hexfloat << x;
    worst = std::max(worst, ulp_error<float>(got, ref));
  }
  EXPECT_LE(worst, kMaxUlpFloat) << c.name;
  const int64_t n = static_cast<int64_t>(c.xs.size());
  const std::vector<float> out = c.op(dydx::tensor(c.xs).reshape({n})).to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float scalar = c.ours(c.xs[static_cast<size_t>(i)]);
    ASSERT_TRUE(same_bits(out[i], scalar) || (std::isnan(out[i]) && std::isnan(scalar))) << c.name << " " << i;
  }
}

// Float log2, log10 and exp2 (double lanes, rounded once): every 1031st float of their domains, and
// whole results at powers of the base.
TEST(VecMath, FloatLog2Log10Exp2) {
  std::vector<FloatFunction> cases = {
      {"log2", [](float x) { return vec::log2(x); }, [](double x) { return std::log2(x); }, float_sweep(0.0f, kFloatMax),
       [](const dydx::Tensor& t) { return dydx::log2(t); }},
      {"log10", [](float x) { return vec::log10(x); }, [](double x) { return std::log10(x); }, float_sweep(0.0f, kFloatMax),
       [](const dydx::Tensor& t) { return dydx::log10(t); }},
      {"exp2", [](float x) { return vec::exp2(x); }, [](double x) { return std::exp2(x); }, float_sweep(-170.0f, 170.0f),
       [](const dydx::Tensor& t) { return dydx::exp2(t); }},
  };
  for (FloatFunction& c : cases) expect_correctly_rounded(c);
  for (int k = 1; k <= 10; ++k)
    EXPECT_EQ(vec::log10(std::pow(10.0f, static_cast<float>(k))), static_cast<float>(k)) << k;
  for (int k = -149; k <= 127; ++k) {
    EXPECT_EQ(vec::log2(std::ldexp(1.0f, k)), static_cast<float>(k)) << k;
    EXPECT_EQ(vec::exp2(static_cast<float>(k)), std::ldexp(1.0f, k)) << k;
  }
}

// Float atan, asin, acos, sinh, cosh, asinh, acosh and atanh (double lanes, rounded once): every 1031st
// float (nan outside the domain included), with the floats nearest +-1 and sinh's switch from its
// series at 1/2, and the overflow thresholds of sinh and cosh.
TEST(VecMath, FloatInverseTrigonometricAndHyperbolic) {
  std::vector<float> near_switches;
  for (float centre : {0.5f, -0.5f, 1.0f, -1.0f, 89.415985f, -89.415985f})
    for (int k = -300; k <= 300; ++k)  // the 600 floats nearest the centre
      near_switches.push_back(std::bit_cast<float>(std::bit_cast<uint32_t>(centre) + static_cast<uint32_t>(k)));
  const auto sweep = [&] {
    std::vector<float> xs = float_sweep(-kFloatMax, kFloatMax);
    xs.insert(xs.end(), near_switches.begin(), near_switches.end());
    return xs;
  };
  std::vector<FloatFunction> cases = {
      {"atan", [](float x) { return vec::atan(x); }, [](double x) { return std::atan(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::atan(t); }},
      {"asin", [](float x) { return vec::asin(x); }, [](double x) { return std::asin(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::asin(t); }},
      {"acos", [](float x) { return vec::acos(x); }, [](double x) { return std::acos(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::acos(t); }},
      {"sinh", [](float x) { return vec::sinh(x); }, [](double x) { return std::sinh(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::sinh(t); }},
      {"cosh", [](float x) { return vec::cosh(x); }, [](double x) { return std::cosh(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::cosh(t); }},
      {"asinh", [](float x) { return vec::asinh(x); }, [](double x) { return std::asinh(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::asinh(t); }},
      {"acosh", [](float x) { return vec::acosh(x); }, [](double x) { return std::acosh(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::acosh(t); }},
      {"atanh", [](float x) { return vec::atanh(x); }, [](double x) { return std::atanh(x); }, sweep(),
       [](const dydx::Tensor& t) { return dydx::atanh(t); }},
  };
  for (FloatFunction& c : cases) expect_correctly_rounded(c);
}

// Float atan2 against std::atan2 in double: random float pairs of every magnitude, pairs whose ratio
// is near 1 and near tan(pi/8) (where the reduction switches), every special value against every
// other (C's table: +-0, +-inf, nan, signs), and the array loop through the op (dydx::atan2).
TEST(VecMath, FloatAtan2) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_real_distribution<float> near_one(0.99f, 1.01f), near_tan(0.41f, 0.42f);
  std::vector<std::pair<float, float>> pairs;
  for (int i = 0; i < 400000 / kScale; ++i) {
    pairs.emplace_back(std::bit_cast<float>(any_bits(gen)), std::bit_cast<float>(any_bits(gen)));
    const float x = std::bit_cast<float>(any_bits(gen) & 0x7fffffffu) * (i % 2 ? -1.0f : 1.0f);
    pairs.emplace_back(x * near_one(gen), x);
    pairs.emplace_back(x * near_tan(gen), x);
    pairs.emplace_back(x, x * near_tan(gen));
  }
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float specials[] = {0.0f, -0.0f, inf, -inf, nan, 1.0f, -1.0f, 0x1p-149f, -0x1p-149f, 3.4e38f, -3.4e38f};
  for (float y : specials)
    for (float x : specials) pairs.emplace_back(y, x);
  double worst = 0;
  for (const auto& [y, x] : pairs) {
    const float got = vec::atan2(y, x);
    const double ref = std::atan2(double{y}, double{x});
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(got)) << std::hexfloat << y << ", " << x;
      continue;
    }
    EXPECT_EQ(std::signbit(got), std::signbit(ref)) << std::hexfloat << y << ", " << x;
    worst = std::max(worst, ulp_error<float>(got, ref));
  }
  EXPECT_LE(worst, kMaxUlpFloat);
  // The op's loop (the binary kernel, vectorised) gives the scalar form's bits.
  std::vector<float> ys, xs;
  for (const auto& [y, x] : pairs) ys.push_back(y), xs.push_back(x);
  const int64_t n = static_cast<int64_t>(pairs.size());
  const std::vector<float> out = dydx::atan2(dydx::tensor(ys).reshape({n}), dydx::tensor(xs).reshape({n})).to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float scalar = vec::atan2(ys[i], xs[i]);  // (a nan's payload may come from either operand)
    ASSERT_TRUE(same_bits(out[i], scalar) || (std::isnan(out[i]) && std::isnan(scalar))) << i;
  }
}

// Float hypot against the sum of squares in long double, rounded: random pairs of every magnitude
// (squares that would overflow or underflow float), C's special values (an infinity wins over nan),
// and the op's loop.
TEST(VecMath, FloatHypot) {
  std::mt19937 gen(9);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::vector<std::pair<float, float>> pairs;
  for (int i = 0; i < 400000 / kScale; ++i) {
    const float a = std::bit_cast<float>(any_bits(gen)), b = std::bit_cast<float>(any_bits(gen));
    pairs.emplace_back(a, b);
    pairs.emplace_back(a, a * 0.75f);
  }
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float specials[] = {0.0f, -0.0f, inf, -inf, nan, 3.0f, -4.0f, 0x1p-149f, 3.4e38f, -3.4e38f};
  for (float y : specials)
    for (float x : specials) pairs.emplace_back(y, x);
  for (const auto& [x, y] : pairs) {
    const float got = vec::hypot(x, y);
    if (std::isinf(x) || std::isinf(y)) {
      EXPECT_EQ(got, inf) << std::hexfloat << x << ", " << y;
    } else if (std::isnan(x) || std::isnan(y)) {
      EXPECT_TRUE(std::isnan(got)) << std::hexfloat << x << ", " << y;
    } else {
      const long double xl = x, yl = y;
      EXPECT_TRUE(same_bits(got, static_cast<float>(std::sqrt(xl * xl + yl * yl)))) << std::hexfloat << x << ", " << y;
    }
  }
  std::vector<float> xs, ys;
  for (const auto& [x, y] : pairs) xs.push_back(x), ys.push_back(y);
  const int64_t n = static_cast<int64_t>(pairs.size());
  const std::vector<float> out = dydx::hypot(dydx::tensor(xs).reshape({n}), dydx::tensor(ys).reshape({n})).to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float scalar = vec::hypot(xs[i], ys[i]);
    ASSERT_TRUE(same_bits(out[i], scalar) || (std::isnan(out[i]) && std::isnan(scalar))) << i;
  }
}

// Double atan2 against std::atan2 in long double: within 0.72 ulp where the result is normal (0.70 at
// most on 60M pairs near pi/8, where the reduced argument's cubic term is largest against a result
// in the lower binade) and 1 ulp where it is subnormal; random pairs of every magnitude, pairs at every angle (within a factor of 4
// of each other), with ratios near 1 and near tan(pi/8) (where the reduction switches), near the
// overflow and underflow thresholds; C's special values exactly as libm's; the op's loop gives the
// scalar form's bits on 1 and 3 threads.
TEST(VecMath, DoubleAtan2) {
  std::mt19937_64 gen(13);
  std::uniform_real_distribution<double> mantissa(1.0, 2.0), ratio(-4.0, 4.0), near_one(0.999, 1.001),
      near_tan(0.414, 0.4143);
  std::uniform_int_distribution<int> exponent(-1074, 1023);
  std::vector<double> ys, xs;
  const auto add = [&](double y, double x) { ys.push_back(y), xs.push_back(x); };
  for (int i = 0; i < 200000 / kScale; ++i) {
    add(std::bit_cast<double>(gen()), std::bit_cast<double>(gen()));
    const double x = std::ldexp(gen() & 1 ? -mantissa(gen) : mantissa(gen), exponent(gen));
    add(x * ratio(gen), x);
    add(x * near_one(gen), x);
    add(x * near_tan(gen), gen() & 1 ? x : -x);
    add(x, x * near_tan(gen));
  }
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const double max = std::numeric_limits<double>::max();
  const double specials[] = {0.0, -0.0, inf, -inf, nan, 1.0, -1.0, 0x1p-1074, -0x1p-1074, max, -max};
  for (double y : specials)
    for (double x : specials) add(y, x);
  double worst_normal = 0;
  for (size_t i = 0; i < ys.size(); ++i) {
    const double y = ys[i], x = xs[i], got = vec::atan2(y, x);
    const long double ref = std::atan2(static_cast<long double>(y), static_cast<long double>(x));
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(got)) << std::hexfloat << y << ", " << x;
      continue;
    }
    ASSERT_EQ(std::signbit(got), std::signbit(ref)) << std::hexfloat << y << ", " << x;
    const bool subnormal = std::fabs(ref) < 0x1p-1022L;
    const double e = ulp_error<double>(got, ref);
    if (!subnormal && !(e <= worst_normal)) worst_normal = e;
    ASSERT_LE(e, subnormal ? 1.0 : 0.72) << std::hexfloat << y << ", " << x << ": " << got;
  }
  EXPECT_GT(worst_normal, 0.4);
  for (double y : specials)
    for (double x : specials)
      if (std::isinf(y) || std::isinf(x) || y == 0 || x == 0)
        EXPECT_TRUE(same_bits(vec::atan2(y, x), std::atan2(y, x)) || std::isnan(y) || std::isnan(x))
            << std::hexfloat << y << ", " << x;
  const int64_t n = static_cast<int64_t>(ys.size());
  const dydx::Tensor y = dydx::tensor(ys, dydx::kFloat64).reshape({n}), x = dydx::tensor(xs, dydx::kFloat64).reshape({n});
  for (int threads : {1, 3}) {
    dydx::set_num_threads(threads);
    const std::vector<double> out = dydx::atan2(y, x).to_vector<double>();
    for (int64_t i = 0; i < n; ++i) {
      const double scalar = vec::atan2(ys[i], xs[i]);  // (a nan's payload may come from either operand)
      ASSERT_TRUE(same_bits(out[i], scalar) || (std::isnan(out[i]) && std::isnan(scalar))) << i;
    }
  }
  dydx::set_num_threads(2);
}

// Double atan, asin, acos, tan, sinh, cosh, asinh, acosh, atanh, log2 and log10 against std:: in long
// double, and exp2: within 0.72 ulp where the result is normal (measured on 10-30M inputs: 0.67 asin
// and acos, 0.66 tan, 0.64 sinh and cosh, 0.65 asinh and acosh, 0.64 atanh, 0.67 exp2, 0.69 log2, 0.66
// log10) and 1 ulp where it is subnormal (0.79 exp2). Inputs: uniform ones, magnitudes from 2^-1074
// up, inputs 1 -+ 2^-k from +-1 (where sqrt(1 - x^2) is small, and acos's and acosh's results too),
// tan's near odd multiples of pi/4 (where sin and cos are of a size and the quotient near 1) and
// beyond 2^17 (libm's), sinh's and cosh's up to and past their overflow, exp2's from 0 through the
// subnormals to inf; libm's special values (nan outside the domain); whole results at powers of 2
// and 10, and 2^k at integers; the ops' loops give the scalar forms' bits on 1 and 3 threads.
TEST(VecMath, DoubleTrigonometricHyperbolicAndLogarithms) {
  std::mt19937_64 gen(17);
  std::uniform_real_distribution<double> unit(-1.0, 1.0), exponent(-1074.0, 0.0), wide(-1074.0, 1023.0),
      steps(1.0, 54.0), near(-0.02, 0.02), hyperbolic(-720.0, 720.0);
  std::uniform_int_distribution<int> quarter(-200000, 200000);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const double max = std::numeric_limits<double>::max(), overflow = 0x1.633ce8fb9f87dp+9;  // asinh(max)
  std::vector<double> specials = {0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 0x1p-1074, -0x1p-1074, max, -max,
                                  0x1.0000000000001p0, -0x1.0000000000001p0, 0x1.fffffffffffffp-1,
                                  -0x1.fffffffffffffp-1, 2.0, 0.5, -0.5, 0x1p17, -0x1p17, 1e300, 710.0, -710.5};
  for (int64_t k = -4; k <= 4; ++k)  // the doubles nearest sinh's and cosh's overflow
    specials.push_back(std::bit_cast<double>(std::bit_cast<uint64_t>(overflow) + static_cast<uint64_t>(k)));
  // libm's bits at the special values, and at +-1 (where asin, acos, atan, acosh, atanh and the logarithms
  // are exact or a limit; the others' values there agree too).
  const double exact[] = {0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 0x1p-1074, -0x1p-1074};
  std::uniform_real_distribution<double> exponents(-1080.0, 1030.0);
  std::vector<double> inside, anywhere, trig, hyper, positive, above_one, powers;
  for (int i = 0; i < 200000 / kScale; ++i) {
    inside.push_back(unit(gen));
    inside.push_back(std::copysign(std::exp2(exponent(gen)), unit(gen)));
    inside.push_back(std::copysign(1.0 - std::exp2(-steps(gen)), unit(gen)));
    anywhere.push_back(std::copysign(std::exp2(wide(gen)), unit(gen)));
    trig.push_back((quarter(gen) + 0.5) * (std::numbers::pi / 2) + near(gen));
    trig.push_back(std::copysign(std::exp2(exponent(gen) / 1074.0 * 60.0 + 17.0), unit(gen)));  // 2^-43 to 2^17
    hyper.push_back(hyperbolic(gen));
    hyper.push_back(std::copysign(std::exp2(exponent(gen)), unit(gen)));
    positive.push_back(std::exp2(wide(gen)));
    positive.push_back(1.0 + near(gen));
    above_one.push_back(1.0 + std::exp2(-steps(gen)));  // (acosh's result near 0)
    above_one.push_back(std::exp2(wide(gen) / 2.0 + 511.5));  // 1 to 2^1023
    powers.push_back(exponents(gen));  // (2^x from 0 through the subnormals to inf)
    powers.push_back(unit(gen) * std::exp2(unit(gen) * 60.0));
  }
  for (double x : specials)
    for (std::vector<double>* xs : {&inside, &anywhere, &trig, &hyper, &positive, &above_one, &powers})
      xs->push_back(x);
  anywhere.insert(anywhere.end(), inside.begin(), inside.end());
  struct Case {
    const char* name;
    double (*ours)(double);
    long double (*reference)(long double);
    double (*libm)(double);
    const std::vector<double>& xs;
    dydx::Tensor (*op)(const dydx::Tensor&);
  };
  const Case cases[] = {
      {"atan", [](double x) { return vec::atan(x); }, [](long double x) { return std::atan(x); },
       [](double x) { return std::atan(x); }, anywhere, [](const dydx::Tensor& t) { return dydx::atan(t); }},
      {"asin", [](double x) { return vec::asin(x); }, [](long double x) { return std::asin(x); },
       [](double x) { return std::asin(x); }, inside, [](const dydx::Tensor& t) { return dydx::asin(t); }},
      {"acos", [](double x) { return vec::acos(x); }, [](long double x) { return std::acos(x); },
       [](double x) { return std::acos(x); }, inside, [](const dydx::Tensor& t) { return dydx::acos(t); }},
      {"tan", [](double x) { return vec::tan(x); }, [](long double x) { return std::tan(x); },
       [](double x) { return std::tan(x); }, trig, [](const dydx::Tensor& t) { return dydx::tan(t); }},
      {"sinh", [](double x) { return vec::sinh(x); }, [](long double x) { return std::sinh(x); },
       [](double x) { return std::sinh(x); }, hyper, [](const dydx::Tensor& t) { return dydx::sinh(t); }},
      {"cosh", [](double x) { return vec::cosh(x); }, [](long double x) { return std::cosh(x); },
       [](double x) { return std::cosh(x); }, hyper, [](const dydx::Tensor& t) { return dydx::cosh(t); }},
      {"asinh", [](double x) { return vec::asinh(x); }, [](long double x) { return std::asinh(x); },
       [](double x) { return std::asinh(x); }, anywhere, [](const dydx::Tensor& t) { return dydx::asinh(t); }},
      {"acosh", [](double x) { return vec::acosh(x); }, [](long double x) { return std::acosh(x); },
       [](double x) { return std::acosh(x); }, above_one, [](const dydx::Tensor& t) { return dydx::acosh(t); }},
      {"atanh", [](double x) { return vec::atanh(x); }, [](long double x) { return std::atanh(x); },
       [](double x) { return std::atanh(x); }, inside, [](const dydx::Tensor& t) { return dydx::atanh(t); }},
      {"exp2", [](double x) { return vec::exp2(x); }, [](long double x) { return std::exp2(x); },
       [](double x) { return std::exp2(x); }, powers, [](const dydx::Tensor& t) { return dydx::exp2(t); }},
      {"log2", [](double x) { return vec::log2(x); }, [](long double x) { return std::log2(x); },
       [](double x) { return std::log2(x); }, positive, [](const dydx::Tensor& t) { return dydx::log2(t); }},
      {"log10", [](double x) { return vec::log10(x); }, [](long double x) { return std::log10(x); },
       [](double x) { return std::log10(x); }, positive, [](const dydx::Tensor& t) { return dydx::log10(t); }},
  };
  for (const Case& c : cases) {
    double worst_normal = 0;
    for (double x : c.xs) {
      const double got = c.ours(x);
      const long double ref = c.reference(static_cast<long double>(x));
      if (std::isnan(ref)) {
        ASSERT_TRUE(std::isnan(got)) << c.name << " " << std::hexfloat << x;
        continue;
      }
      ASSERT_EQ(std::signbit(got), std::signbit(ref)) << c.name << " " << std::hexfloat << x;
      if (std::isinf(static_cast<double>(ref))) {
        ASSERT_EQ(got, static_cast<double>(ref)) << c.name << " " << std::hexfloat << x;
        continue;
      }
      const bool subnormal = std::fabs(ref) < 0x1p-1022L;
      const double e = ulp_error<double>(got, ref);
      if (!subnormal && !(e <= worst_normal)) worst_normal = e;
      ASSERT_LE(e, subnormal ? 1.0 : 0.72) << c.name << " " << std::hexfloat << x << ": " << got;
    }
    EXPECT_GT(worst_normal, 0.4) << c.name;  // (the inputs reach the rounding's own half ulp)
    for (double x : exact)
      EXPECT_TRUE(same_bits(c.ours(x), c.libm(x)) || (std::isnan(c.ours(x)) && std::isnan(c.libm(x))))
          << c.name << " " << std::hexfloat << x;
    const int64_t n = static_cast<int64_t>(c.xs.size());
    const dydx::Tensor t = dydx::tensor(c.xs, dydx::kFloat64).reshape({n});
    for (int threads : {1, 3}) {
      dydx::set_num_threads(threads);
      const std::vector<double> out = c.op(t).to_vector<double>();
      for (int64_t i = 0; i < n; ++i) {
        const double scalar = c.ours(c.xs[static_cast<size_t>(i)]);
        ASSERT_TRUE(same_bits(out[i], scalar) || (std::isnan(out[i]) && std::isnan(scalar))) << c.name << " " << i;
      }
    }
    dydx::set_num_threads(2);
  }
  for (int k = -1074; k <= 1023; ++k) {
    ASSERT_EQ(vec::log2(std::ldexp(1.0, k)), k) << k;
    ASSERT_EQ(vec::exp2(static_cast<double>(k)), std::ldexp(1.0, k)) << k;
  }
  for (int k = -22; k <= 22; ++k) ASSERT_EQ(vec::log10(std::pow(10.0, k)), k) << k;
}

// Double hypot against the sum of squares in long double: within 0.51 ulp where the result is normal
// and 1 ulp where it is subnormal (rounded twice; 0.5005 and 0.7495 measured here), on random pairs of every magnitude, pairs of near
// magnitudes from the subnormals to the overflow threshold, and C's special values; the op's loop gives
// the scalar form's bits on 1 and 3 threads.
TEST(VecMath, DoubleHypot) {
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> mantissa(1.0, 2.0);
  std::uniform_int_distribution<int> exponent(-1074, 1023), offset(-30, 1);
  std::vector<double> xs, ys;
  for (int i = 0; i < 400000 / kScale; ++i) {
    xs.push_back(std::bit_cast<double>(gen()));
    ys.push_back(std::bit_cast<double>(gen()));
    const int e = exponent(gen);
    xs.push_back(std::ldexp(gen() & 1 ? -mantissa(gen) : mantissa(gen), e));
    ys.push_back(std::ldexp(mantissa(gen), e + offset(gen)));
  }
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const double max = std::numeric_limits<double>::max();
  const double specials[] = {0.0, -0.0, inf, -inf, nan, 3.0, -4.0, 0x1p-1074, 0x1p-1022, max, -max, 0x1p1023};
  for (double y : specials)
    for (double x : specials) xs.push_back(x), ys.push_back(y);
  double worst_normal = 0, worst_subnormal = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i], y = ys[i], got = vec::hypot(x, y);
    if (std::isinf(x) || std::isinf(y)) {
      EXPECT_EQ(got, inf) << std::hexfloat << x << ", " << y;
    } else if (std::isnan(x) || std::isnan(y)) {
      EXPECT_TRUE(std::isnan(got)) << std::hexfloat << x << ", " << y;
    } else {
      const long double xl = x, yl = y, ref = std::sqrt(xl * xl + yl * yl);
      const double e = ulp_error<double>(got, ref);
      double& worst = ref < 0x1p-1022L ? worst_subnormal : worst_normal;
      if (!(e <= worst)) worst = e;
      ASSERT_LE(e, ref < 0x1p-1022L ? 1.0 : 0.51) << std::hexfloat << x << ", " << y;
    }
  }
  EXPECT_GT(worst_normal, 0.4);  // the pairs reach results that round near a midpoint
  const int64_t n = static_cast<int64_t>(xs.size());
  const dydx::Tensor x = dydx::tensor(xs, dydx::kFloat64).reshape({n}), y = dydx::tensor(ys, dydx::kFloat64).reshape({n});
  for (int threads : {1, 3}) {
    dydx::set_num_threads(threads);
    const std::vector<double> out = dydx::hypot(x, y).to_vector<double>();
    for (int64_t i = 0; i < n; ++i) {
      const double scalar = vec::hypot(xs[i], ys[i]);
      ASSERT_TRUE(same_bits(out[i], scalar) || (std::isnan(out[i]) && std::isnan(scalar))) << i;
    }
  }
  dydx::set_num_threads(2);
}

// Random pairs for fmod: every bit pattern, multiples of a divisor (quotients next to integers),
// ordinary quotients, and every special value against every other.
template <class T>
std::pair<std::vector<T>, std::vector<T>> fmod_pairs() {
  using Bits = std::conditional_t<std::is_same_v<T, float>, uint32_t, uint64_t>;
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<T> uniform(-10, 10);
  std::vector<T> as, bs;
  for (int i = 0; i < 400000 / kScale; ++i) {
    if (i % 8 == 0) {  // (libm's fmod takes a step per bit of a huge quotient: these are slow)
      as.push_back(std::bit_cast<T>(static_cast<Bits>(gen())));
      bs.push_back(std::bit_cast<T>(static_cast<Bits>(gen())));
    }
    const T b = uniform(gen);
    as.push_back(b * static_cast<T>(static_cast<int>(uniform(gen) * 1000)));  // near a multiple
    bs.push_back(b);
    as.push_back(uniform(gen) * 100);
    bs.push_back(uniform(gen));
  }
  // Quotients at the vectorised pass's bound (2^29 for float, 2^50 for double): just below it, where n
  // may overshoot trunc(a / b) by one, exactly at it (the libm pass), and just above.
  const int bound = std::is_same_v<T, float> ? 29 : 50;
  std::uniform_int_distribution<int> below(1, 1000);
  for (int i = 0; i < 2000; ++i) {
    const T b = uniform(gen);
    const T at = std::ldexp(b, bound);
    for (T a : {std::nextafter(at, T(0)), at, std::nextafter(at, at * 2), std::ldexp(b, bound) - b * T(below(gen)),
                (std::ldexp(b, bound) - b * T(below(gen))) * (T(1) + std::numeric_limits<T>::epsilon()),
                std::ldexp(b, bound - 1) + b * T(0.5)})
      as.push_back(a), bs.push_back(b);
  }
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T specials[] = {T(0), T(-0.0), inf, -inf, nan, T(1), T(-1), std::numeric_limits<T>::denorm_min(),
                        std::numeric_limits<T>::max(), T(-2), T(4), T(-4), T(0.7)};
  for (T a : specials)
    for (T b : specials) as.push_back(a), bs.push_back(b);
  return {as, bs};
}

// fmod is exact: the same bits as std::fmod (huge quotients take the libm pass), per element and with
// a single divisor; through the ops, fmod and remainder (fmod's sign moved to the divisor's, as
// PyTorch's) equal their per-element forms on 1 and 3 threads.
template <class T>
void expect_fmod_exact() {
  const auto [as, bs] = fmod_pairs<T>();
  const auto same = [](T got, T want) { return same_bits(got, want) || (std::isnan(got) && std::isnan(want)); };
  const int64_t n = static_cast<int64_t>(as.size());
  std::vector<T> ys(as.size());
  vec::fmod(as.data(), bs.data(), 1, ys.data(), n);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_TRUE(same(ys[i], std::fmod(as[i], bs[i])))
        << std::hexfloat << as[i] << " fmod " << bs[i] << ": " << ys[i] << " against " << std::fmod(as[i], bs[i]);
  const T divisor = T(0.7);
  vec::fmod(as.data(), &divisor, 0, ys.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(same(ys[i], std::fmod(as[i], divisor))) << std::hexfloat << as[i];
  const dydx::ScalarType dtype = std::is_same_v<T, float> ? dydx::kFloat32 : dydx::kFloat64;
  const dydx::Tensor a = dydx::tensor(as, dtype).reshape({n}), b = dydx::tensor(bs, dtype).reshape({n});
  ASSERT_EQ(a.dtype(), dtype);
  for (int threads : {1, 3}) {
    dydx::set_num_threads(threads);
    const std::vector<T> f = dydx::fmod(a, b).template to_vector<T>(), r = dydx::remainder(a, b).template to_vector<T>();
    const std::vector<T> r_scalar = dydx::remainder(a, -1.5).template to_vector<T>();
    for (int64_t i = 0; i < n; ++i) {
      T want_r = std::fmod(as[i], bs[i]);
      if (want_r != 0 && (bs[i] < 0) != (want_r < 0)) want_r += bs[i];
      T want_s = std::fmod(as[i], T(-1.5));
      if (want_s != 0 && want_s > 0) want_s += T(-1.5);
      ASSERT_TRUE(same(f[i], std::fmod(as[i], bs[i]))) << i;
      ASSERT_TRUE(same(r[i], want_r)) << i;
      ASSERT_TRUE(same(r_scalar[i], want_s)) << i;
    }
  }
  dydx::set_num_threads(2);
}
TEST(VecMath, FloatFmodIsExact) { expect_fmod_exact<float>(); }
TEST(VecMath, DoubleFmodIsExact) { expect_fmod_exact<double>(); }

TEST(VecMath, FloatEdges) { expect_edges_accurate<float>(); }
TEST(VecMath, DoubleEdges) { expect_edges_accurate<double>(); }

// Values that must match std:: exactly, sign of zero included.
template <class T>
void expect_special_values() {
  using L = std::numeric_limits<T>;
  const T inf = L::infinity(), nan = L::quiet_NaN();
  for (Fn f : kAllFns) EXPECT_TRUE(std::isnan(scalar(f, nan))) << name(f);
  EXPECT_TRUE(same_bits(vec::exp(inf), inf));
  EXPECT_TRUE(same_bits(vec::exp(-inf), T(0)));
  EXPECT_TRUE(same_bits(vec::exp(T(0)), T(1)));
  EXPECT_TRUE(same_bits(vec::exp(L::max()), inf));
  EXPECT_TRUE(same_bits(vec::exp(-L::max()), T(0)));
  EXPECT_TRUE(same_bits(vec::log(T(0)), -inf));
  EXPECT_TRUE(same_bits(vec::log(-T(0)), -inf));
  EXPECT_TRUE(same_bits(vec::log(T(1)), T(0)));
  EXPECT_TRUE(same_bits(vec::log(inf), inf));
  EXPECT_TRUE(std::isnan(vec::log(T(-1))));
  EXPECT_TRUE(std::isnan(vec::log(-L::denorm_min())));
  EXPECT_TRUE(std::isnan(vec::log(-inf)));
  const T log_tiny = static_cast<T>(std::log(static_cast<Wide<T>>(L::denorm_min())));
  EXPECT_TRUE(same_bits(vec::log(L::denorm_min()), log_tiny));
  for (Fn f : {Fn::Sin, Fn::Tanh}) {
    EXPECT_TRUE(same_bits(scalar(f, T(0)), T(0))) << name(f);
    EXPECT_TRUE(same_bits(scalar(f, -T(0)), -T(0))) << name(f);
    EXPECT_TRUE(same_bits(scalar(f, L::denorm_min()), L::denorm_min())) << name(f);
    EXPECT_TRUE(same_bits(scalar(f, -L::denorm_min()), -L::denorm_min())) << name(f);
  }
  EXPECT_TRUE(same_bits(vec::cos(T(0)), T(1)));
  EXPECT_TRUE(same_bits(vec::cos(-T(0)), T(1)));
  for (Fn f : {Fn::Sin, Fn::Cos}) {
    EXPECT_TRUE(std::isnan(scalar(f, inf))) << name(f);
    EXPECT_TRUE(std::isnan(scalar(f, -inf))) << name(f);
  }
  EXPECT_TRUE(same_bits(vec::tanh(inf), T(1)));
  EXPECT_TRUE(same_bits(vec::tanh(-inf), T(-1)));
  EXPECT_TRUE(same_bits(vec::tanh(T(20)), T(1)));
  EXPECT_TRUE(same_bits(vec::tanh(T(-20)), T(-1)));
  EXPECT_TRUE(same_bits(vec::tanh(L::max()), T(1)));
  EXPECT_TRUE(same_bits(vec::sigmoid(inf), T(1)));
  EXPECT_TRUE(same_bits(vec::sigmoid(-inf), T(0)));
  EXPECT_TRUE(same_bits(vec::sigmoid(T(0)), T(0.5)));
  EXPECT_TRUE(same_bits(vec::sigmoid(-T(0)), T(0.5)));
  EXPECT_TRUE(same_bits(vec::sigmoid(T(40)), T(1)));
  EXPECT_TRUE(same_bits(vec::log1p(T(-1)), -inf));
  EXPECT_TRUE(same_bits(vec::log1p(inf), inf));
  EXPECT_TRUE(std::isnan(vec::log1p(-inf)));
  EXPECT_TRUE(std::isnan(vec::log1p(T(-2))));
  EXPECT_TRUE(std::isnan(vec::log1p(-L::max())));
  EXPECT_TRUE(same_bits(vec::log1p(L::max()), static_cast<T>(std::log1p(static_cast<Wide<T>>(L::max())))));
  EXPECT_TRUE(same_bits(vec::expm1(inf), inf));
  EXPECT_TRUE(same_bits(vec::expm1(-inf), T(-1)));
  EXPECT_TRUE(same_bits(vec::expm1(L::max()), inf));
  EXPECT_TRUE(same_bits(vec::expm1(-L::max()), T(-1)));
  EXPECT_TRUE(same_bits(vec::softplus(inf), inf));
  EXPECT_TRUE(same_bits(vec::softplus(-inf), T(0)));
  EXPECT_TRUE(same_bits(vec::softplus(L::max()), L::max()));
  EXPECT_TRUE(same_bits(vec::softplus(-L::max()), T(0)));
  EXPECT_TRUE(same_bits(vec::softplus(T(0)), static_cast<T>(std::log(Wide<T>(2)))));
  EXPECT_TRUE(same_bits(vec::softplus(-T(0)), static_cast<T>(std::log(Wide<T>(2)))));
  EXPECT_TRUE(same_bits(vec::erf(inf), T(1)));
  EXPECT_TRUE(same_bits(vec::erf(-inf), T(-1)));
  EXPECT_TRUE(same_bits(vec::erf(L::max()), T(1)));
  for (Fn f : {Fn::Log1p, Fn::Expm1, Fn::Erf}) {
    EXPECT_TRUE(same_bits(scalar(f, T(0)), T(0))) << name(f);
    EXPECT_TRUE(same_bits(scalar(f, -T(0)), -T(0))) << name(f);
    EXPECT_TRUE(same_bits(scalar(f, L::denorm_min()), L::denorm_min())) << name(f);
    EXPECT_TRUE(same_bits(scalar(f, -L::denorm_min()), -L::denorm_min())) << name(f);
  }
  // Beyond the reduction's bound sin and cos are std::'s.
  for (T x : {T(1e10), T(-1e10), T(1e30), std::nextafter(T(vec::detail::kTrigBound), inf)}) {
    EXPECT_TRUE(same_bits(vec::sin(x), static_cast<T>(std::sin(static_cast<double>(x)))));
    EXPECT_TRUE(same_bits(vec::cos(x), static_cast<T>(std::cos(static_cast<double>(x)))));
  }
}
TEST(VecMath, FloatSpecialValues) { expect_special_values<float>(); }
TEST(VecMath, DoubleSpecialValues) { expect_special_values<double>(); }

// Results below the smallest normal keep their accuracy (gradual underflow). Double results there
// are rounded twice, to 53 bits and then to the subnormal's precision: measured 0.732 ulp.
TEST(VecMath, SubnormalResults) {
  std::vector<double> xs;
  for (double x = -745.0; x < -708.0; x += 0.0137) xs.push_back(x);
  expect_accurate(Fn::Exp, xs, 0.75);
  expect_accurate(Fn::Sigmoid, xs, 0.75);
  expect_accurate(Fn::Softplus, xs, max_ulp_double(Fn::Softplus));
  std::vector<float> xf;
  for (float x = -103.9f; x < -87.0f; x += 0.00731f) xf.push_back(x);
  expect_accurate(Fn::Exp, xf);
  expect_accurate(Fn::Sigmoid, xf);
  expect_accurate(Fn::Softplus, xf);
}

// The array forms equal the scalar forms bit for bit at every length and alignment, whatever
// mix of SIMD lanes, remainders and fix-ups that takes.
template <class T>
void expect_array_matches_scalar() {
  std::vector<T> pool = edge_cases<T>();
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(-30, 30);
  for (int i = 0; i < 3000; ++i) pool.push_back(static_cast<T>(u(gen)));
  std::shuffle(pool.begin(), pool.end(), gen);
  std::vector<T> y(pool.size());
  for (Fn f : kAllFns) {
    for (int64_t offset = 0; offset < 9; ++offset)
      for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{7}, int64_t{8}, int64_t{15}, int64_t{17},
                        int64_t{33}, int64_t{1023}, int64_t{1025}, static_cast<int64_t>(pool.size()) - 9}) {
        array(f, pool.data() + offset, y.data(), n);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_TRUE(same_bits(y[i], scalar(f, pool[offset + i])))
              << name(f) << " n=" << n << " offset=" << offset << " x=" << std::hexfloat << pool[offset + i];
      }
  }
}
TEST(VecMath, FloatArrayMatchesScalar) { expect_array_matches_scalar<float>(); }
TEST(VecMath, DoubleArrayMatchesScalar) { expect_array_matches_scalar<double>(); }

bool same_bytes(const dydx::Tensor& a, const dydx::Tensor& b) {
  if (a.dtype() != b.dtype() || a.numel() != b.numel()) return false;
  const size_t bytes = a.numel() * dydx::element_size(a.dtype());
  return a.dtype() == dydx::kFloat32 ? std::memcmp(a.data_ptr<float>(), b.data_ptr<float>(), bytes) == 0
                                     : std::memcmp(a.data_ptr<double>(), b.data_ptr<double>(), bytes) == 0;
}

// Through the library, on every edge case: the contiguous kernel (array form) and a stride-2 view
// (scalar form) give the same bits.
template <class T>
void expect_kernels_agree(dydx::ScalarType dtype) {
  using namespace dydx;
  using UnaryFn = Tensor (*)(const Tensor&);
  std::vector<T> xs = edge_cases<T>();
  std::vector<T> interleaved(2 * xs.size());
  for (size_t i = 0; i < xs.size(); ++i) interleaved[2 * i] = xs[i];
  const int64_t n = static_cast<int64_t>(xs.size());
  Tensor contiguous = from_blob(xs.data(), {n}, dydx::dtype(dtype));
  Tensor strided = from_blob(interleaved.data(), {n}, {2}, dydx::dtype(dtype));
  for (UnaryFn f : {&dydx::exp, &dydx::log, &dydx::sin, &dydx::cos, &dydx::tanh, &dydx::sigmoid})
    EXPECT_TRUE(same_bytes(f(contiguous), f(strided)));
  // The activations built on vec:: or on selecting between both sides (elu, leaky_relu, softplus),
  // clamp's bounds converted once per call and gelu's form chosen once: their vectorised loops and the
  // strided ones agree too.
  const std::pair<const char*, UnaryFn> activations[] = {
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"elu", [](const Tensor& x) { return elu(x, 0.7); }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.2); }},
      {"clamp", [](const Tensor& x) { return clamp(x, -1.5, 2.5); }},
      {"clamp max", [](const Tensor& x) { return clamp(x, std::nullopt, -0.0); }},
      {"clamp nan", [](const Tensor& x) { return clamp(x, NAN, 1.0); }},
      {"log1p", [](const Tensor& x) { return log1p(x); }},
      {"expm1", [](const Tensor& x) { return expm1(x); }},
      {"softplus", [](const Tensor& x) { return softplus(x); }},
      {"softplus beta 2 threshold 5", [](const Tensor& x) { return softplus(x, 2.0, 5.0); }},
      {"erf", [](const Tensor& x) { return erf(x); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu tanh", [](const Tensor& x) { return gelu(x, "tanh"); }}};
  for (const auto& [name, f] : activations) EXPECT_TRUE(same_bytes(f(contiguous), f(strided))) << name;
}
TEST(VecMath, FloatKernelsAgreeOnEdges) { expect_kernels_agree<float>(dydx::kFloat32); }
TEST(VecMath, DoubleKernelsAgreeOnEdges) { expect_kernels_agree<double>(dydx::kFloat64); }

// Through the library: a contiguous tensor (array kernel), its transposed copy (strided scalar
// kernel) and a broadcast scalar give the same bits.
TEST(VecMath, TensorLayoutsAgree) {
  using namespace dydx;
  using UnaryFn = Tensor (*)(const Tensor&);
  const UnaryFn fns[] = {&dydx::exp,     &dydx::log,   &dydx::sin,   &dydx::cos, &dydx::tanh,
                         &dydx::sigmoid, &dydx::log1p, &dydx::expm1, &dydx::erf};
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    manual_seed(3);
    Tensor x = (randn({37, 53}) * 40.0).to(dtype);
    x.index({0, 0}).fill_(3e5);  // beyond sin and cos's reduction bound
    Tensor xt = x.t().contiguous().t();  // same values, column-major
    for (UnaryFn f : fns) {
      Tensor a = f(x), b = f(xt).contiguous();
      EXPECT_TRUE(same_bytes(a, b));
      Tensor one = x.index({5, 7});
      Tensor c = f(one.expand({4}));
      Tensor d = f(one.unsqueeze(0)).expand({4}).contiguous();
      EXPECT_TRUE(same_bytes(c, d));
    }
  }
}

}  // namespace
