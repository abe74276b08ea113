// exp, exp2, log, log2, log10, log1p, expm1, sin, cos, tan, atan, asin, acos, sinh, cosh, tanh, asinh,
// acosh, atanh, sigmoid, softplus, erf, atan2, hypot and fmod in a form GCC vectorises:
// `for (i) y[i] = vec::tanh(x[i]);`.
//
// Every function is branch-free (bit-mask selects, integer bit tricks for 2^k and rounding) and
// always inlined, so a plain loop over it compiles to SIMD code under -O3 -march=native. The array
// entry points (`vec::tanh(x, y, n)`) are that loop, plus, for sin and cos, a fix-up pass that
// recomputes with std:: the rare elements beyond the range reduction's bound. Scalar and array
// forms give the same bits for every input, so contiguous and strided kernels agree exactly.
//
// Float functions but tanh evaluate in double (shorter polynomials, see below) and round once: they
// are correctly rounded except within ~2^-24 ulp of a midpoint; over all 2^32 floats none differs
// from the double std:: value rounded but one of softplus's and two of tan's, each within 3e-9 ulp of
// the midpoint it falls on the wrong side of (bench/vec_math_accuracy.cpp; the tests sample). Float
// tanh, the activation that dominates an MLP's forward pass, runs in float lanes instead, at most
// 0.83 ulp (0.773 with FMA contraction; see it below). A comparison of a float (a clamp, a special
// value) drives selects in float lanes, before or after the double part: a select in double lanes
// on a float comparison costs GCC a dozen instructions to widen the mask.
//
// Double functions carry the critical sums in two parts (reduced argument, e^r, log's large terms,
// the quotients of tanh and sigmoid). Their maximum errors measured against long double, with GCC
// contracting a*b+c into FMAs (Release, -march=native) and, in brackets, without (-O0, or no FMA):
// exp 0.64 ulp (0.62), 0.75 for subnormal results; log 0.67 (0.66); sin 0.76 (0.77); cos 0.76
// (0.78); tanh 0.6 (0.61); sigmoid 0.62 (0.63); log1p 0.68 (0.68); expm1 0.80 (0.85); softplus 0.74
// (0.69), near -709 where e^x turns subnormal; erf 0.76 (0.81), near its pieces' joins (the last four
// by bench/vec_math_accuracy.cpp, 48 million random inputs each, erf's 96 million). tests/test_vec_math.cpp
// asserts the larger of each. The later ones, measured with FMA only (10-60 million inputs each, and
// tests/test_vec_math.cpp asserts 0.72 for all): atan2 0.70, atan 0.63, asin and acos 0.67, tan 0.66,
// sinh and cosh 0.64, asinh and acosh 0.65, atanh 0.64, exp2 0.67, log2 0.69, log10 0.66, hypot 0.501;
// fmod exact. Without FMA, atan2, atan, asin, acos, hypot and fmod are libm's.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace dydx::cpu {
// Hidden: a program that includes this header compiled with other flags (no FMA, say) must not
// interpose its out-of-line copies on the library's, which would break scalar == array.
namespace [[gnu::visibility("hidden")]] vec {
namespace detail {

[[gnu::always_inline]] inline uint64_t bits(double x) { return std::bit_cast<uint64_t>(x); }
[[gnu::always_inline]] inline double from_bits(uint64_t u) { return std::bit_cast<double>(u); }

// Adding 1.5 * 2^52 rounds a double of magnitude below 2^51 to an integer and leaves that integer,
// in two's complement, in the low bits of the sum: round-to-int and float-to-int in two adds,
// which vectorise on every x86 level (cvtpd2qq needs AVX-512).
constexpr double kShift = 0x1.8p52;

// Exact conversion of a small integer (|i| < 2^51) to double, the inverse of the shift above.
[[gnu::always_inline]] inline double to_double(int64_t i) {
  return from_bits(bits(kShift) + static_cast<uint64_t>(i)) - kShift;
}

// 2^k for -1022 <= k <= 1023.
[[gnu::always_inline]] inline double pow2(int64_t k) {
  return from_bits(static_cast<uint64_t>(k + 1023) << 52);
}

// c ? a : b on the bits. A ternary whose one side is a constant invites GCC to sink the other
// side's arithmetic into a branch, which it then cannot if-convert (the arithmetic might trap) and
// the loop stays scalar; masking keeps both sides computed unconditionally.
[[gnu::always_inline]] inline double select(bool c, double a, double b) {
  const uint64_t m = 0 - static_cast<uint64_t>(c);
  return from_bits((bits(a) & m) | (bits(b) & ~m));
}

// Unrolled whatever N: GCC leaves loops of more than 16 steps (erf's) rolled, and a loop inside the
// element loop keeps that one scalar.
template <class T, int N>
[[gnu::always_inline]] inline T horner(T x, const T (&c)[N]) {
  T p = c[0];
#pragma GCC unroll 32
  for (int i = 1; i < N; ++i) p = p * x + c[i];
  return p;
}

// ln 2 split so that k * kLn2Hi is exact for |k| < 2^21: the high part has 32 significant bits.
constexpr double kLn2Hi = 0x1.62e42ff000000p-1;
constexpr double kLn2Lo = -0x1.718432a1b0e26p-35;
constexpr double kLn2 = 0x1.62e42fefa39efp-1;

// Near-minimax polynomials (Chebyshev fits in mpmath, then checked in double).
// (e^r - 1 - r) / r^2 on |r| <= 1.01 * ln2 / 2.
constexpr double kExpPoly[] = {
    2.0915442297780116e-09, 2.5106274733573296e-08, 2.75572718102198e-07,  2.755725283351691e-06,
    2.4801587327007187e-05, 0.00019841269876864356, 0.0013888888888883327, 0.008333333333325544,
    0.04166666666666667,    0.1666666666666667,     0.5};
// (2 atanh(s) / s - 2) / s^2 as a polynomial in z = s^2, for z <= 1.01 * (3 - 2 sqrt 2)^2.
constexpr double kLogPoly[] = {0.1463003136412286,  0.15330617306743305, 0.18182922513515942,
                               0.22222210674238516, 0.28571428628810996, 0.3999999999989322,
                               0.666666666666667};
// (sin r / r - 1) / r^2 and (cos r - 1 + r^2/2) / r^4 as polynomials in z = r^2, |r| <= 1.01 pi/4.
constexpr double kSinPoly[] = {-7.585486485235938e-13, 1.6058510875319195e-10, -2.505210610025599e-08,
                               2.7557319218954762e-06, -0.00019841269841264567, 0.008333333333333331,
                               -0.16666666666666666};
constexpr double kSinPolyAfterCubic[] = {kSinPoly[0], kSinPoly[1], kSinPoly[2], kSinPoly[3], kSinPoly[4], kSinPoly[5]};
constexpr double kCosPoly[] = {-1.1380868171449914e-11, 2.0876121534608454e-09, -2.7557317151858866e-07,
                               2.480158729853226e-05,   -0.0013888888888887241, 0.041666666666666664};
// (tanh x / x - 1) / x^2 as a polynomial in z = x^2, |x| <= kTanhSmall. Beyond, the exp form
// is exact enough that 1 - 2 / (e^2x + 1) cancels nothing that matters.
constexpr double kTanhSmall = 0.25;
constexpr double kTanhPoly[] = {0.0005336803027405916,  -0.0014502234715960424, 0.0035918341340072982,
                                -0.008863226966122328,  0.021869488400359696,   -0.053968253967195144,
                                0.1333333333333302,     -0.3333333333333333};

// pi/2 in four parts; the first three have at most 36 significant bits, so q * part is exact for
// the |q| < 2^17 that |x| <= kTrigBound gives, and the reduction below loses nothing to cancellation.
constexpr double kPio2[] = {0x1.921fb54440000p+0, 0x1.68c234c4c0000p-39, 0x1.98a2e03700000p-77,
                            0x1.cd129024e088ap-115};
constexpr double kTwoOverPi = 0x1.45f306dc9c883p-1;

/// sin and cos take std::'s path beyond this |x|.
constexpr double kTrigBound = 0x1p17;

// e^x = 2^k (hi + lo), |hi + lo| in [0.7, 1.42] and lo a correction far below an ulp of hi,
// for |x| <= 709 (and k meaningless beyond, so callers select or clamp).
struct ExpParts {
  double hi, lo;
  int64_t k;
};
[[gnu::always_inline]] inline ExpParts exp_parts(double x) {
  const double t = x * 0x1.71547652b82fep0 + kShift;
  const double k = t - kShift;
  // r + r_lo = x - k ln2 to within about 2^-78: the first step is exact, the second's error kept.
  const double r_hi = x - k * kLn2Hi;
  const double r = r_hi - k * kLn2Lo;
  const double r_lo = (r_hi - r) - k * kLn2Lo;
  // e^r = 1 + r + r^2 P(r): 1 + r split exactly into a sum and its rounding error, the rest added
  // to that error, then the pair renormalised so that hi is e^r rounded.
  const double one_r = 1.0 + r;
  const double tail = ((1.0 - one_r) + r) + (r_lo + (r * r) * horner(r, kExpPoly));
  const double hi = one_r + tail;
  return {hi, (one_r - hi) + tail, static_cast<int64_t>(bits(t) - bits(kShift))};
}

// a + b = s + e exactly (Knuth's two-sum), whichever is larger.
struct Sum {
  double s, e;
};
[[gnu::always_inline]] inline Sum two_sum(double a, double b) {
  const double s = a + b;
  const double bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}

// a * b = s + e exactly: one FMA where the machine has one, else Dekker's product of 26-bit
// halves (Veltkamp's split).
[[gnu::always_inline]] inline Sum two_product(double a, double b) {
  const double p = a * b;
#ifdef __FMA__
  return {p, std::fma(a, b, -p)};
#else
  const auto split = [](double v) {
    const double c = 0x1.0000002p27 * v;
    const double hi = c - (c - v);
    return Sum{hi, v - hi};
  };
  const Sum as = split(a), bs = split(b);
  return {p, ((as.s * bs.s - p) + as.s * bs.e + as.e * bs.s) + as.e * bs.e};
#endif
}

// n - q d exactly, for q = n / d rounded: n - (q d)'s high part is exact, the two being that close.
[[gnu::always_inline]] inline double residual(double n, double q, double d) {
  const Sum p = two_product(q, d);
  return (n - p.s) - p.e;
}

// n / (d + d_lo) as a quotient and its correction, so that the final rounding sees it to far
// below an ulp.
[[gnu::always_inline]] inline Sum divide(double n, double d, double d_lo) {
  const double q = n / d;
  return {q, (residual(n, q, d) - q * d_lo) / d};
}

// r + r_lo = x - q pi/2 with |r| <= pi/4 (a hair more when x * 2/pi rounds the other way), to
// about 2^-100 relative; and q mod 4.
struct Reduced {
  double r, r_lo;
  uint64_t q;
};
[[gnu::always_inline]] inline Reduced reduce_pio2(double x) {
  const double t = x * kTwoOverPi + kShift;
  const double q = t - kShift;
  // Each product is exact; two_sum keeps the rounding error of each subtraction.
  const double r1 = x - q * kPio2[0];
  const Sum r2 = two_sum(r1, -(q * kPio2[1]));
  const Sum r3 = two_sum(r2.s, -(q * kPio2[2]));
  const Sum r4 = two_sum(r3.s, -(q * kPio2[3]));
  return {r4.s, (r2.e + r3.e) + r4.e, bits(t)};
}

// sin(r + r_lo) = sin r + r_lo cos r, and cos r = 1 - r^2/2 to the accuracy r_lo needs.
[[gnu::always_inline]] inline double sin_poly(double r, double r_lo) {
  const double z = r * r;
  return r + ((r * z) * horner(z, kSinPoly) + r_lo * (1.0 - 0.5 * z));
}

// 1 - z/2 loses the low bits of z/2; adding them back keeps cos near pi/4 within an ulp.
[[gnu::always_inline]] inline double cos_poly(double r, double r_lo) {
  const double z = r * r;
  const double hz = 0.5 * z;
  const double w = 1.0 - hz;
  return w + ((((1.0 - w) - hz) - r * r_lo) + (z * z) * horner(z, kCosPoly));
}

}  // namespace detail

/// e^x; overflows to inf, underflows through correctly scaled subnormals to 0.
[[gnu::always_inline]] inline double exp(double x) {
  using namespace detail;
  const ExpParts e = exp_parts(x);
  // Two factors, so that 2^k may reach subnormal or overflowing range with one rounding.
  const int64_t k1 = e.k >> 1;
  const double y = e.hi * pow2(k1) * pow2(e.k - k1);
  // Beyond these e^x is inf or 0 and k above is meaningless. NaN passes.
  return select(x > 710.0, std::numeric_limits<double>::infinity(), select(x < -746.0, 0.0, y));
}

namespace detail {
// ln 2 - kLn2, so that r ln 2 for |r| <= 1/2 is a pair to 2^-106.
constexpr double kLn2Tail = 0x1.abc9e3b39803fp-56;
}  // namespace detail

/// 2^x: x = k + r with k the nearest integer and r exact, e^(r ln 2) by exp's polynomial at r ln 2 taken
/// as a pair (its low part joins the polynomial's tail), scaled by 2^k in two factors as exp is. Within
/// 0.6 ulp where the result is normal (tests/test_vec_math.cpp), 2^k exactly at integers; x is first
/// clamped to [-1100, 1100], beyond which 2^x is 0 or inf; nan passes.
[[gnu::always_inline]] inline double exp2(double x) {
  using namespace detail;
  const double xc = select(x > 1100.0, 1100.0, select(x < -1100.0, -1100.0, x));
  const double t = xc + kShift;
  const double k = t - kShift;
  const Sum y = two_product(xc - k, kLn2);
  const double y_lo = y.e + (xc - k) * kLn2Tail;
  const double one_y = 1.0 + y.s;
  const double hi = one_y + (((1.0 - one_y) + y.s) + (y_lo + (y.s * y.s) * horner(y.s, kExpPoly)));
  const int64_t kk = static_cast<int64_t>(bits(t) - bits(kShift));
  const int64_t k1 = kk >> 1;
  return hi * pow2(k1) * pow2(kk - k1);
}

namespace detail {
// log(x + tail) for a tail far below an ulp of x (the rounding error of a sum that made x) as an
// unrounded pair, for positive finite x: log x + tail / x, the second term joining the small ones
// below. log_with_tail rounds it and gives log(x)'s special values.
template <bool kTail>
[[gnu::always_inline]] inline Sum log_parts(double x, double tail) {
  const bool subnormal = x < 0x1p-1022;
  const uint64_t ix = bits(select(subnormal, x * 0x1p52, x));
  // x = 2^e * m with m in [sqrt(2)/2, sqrt(2)): offset the bits by those of sqrt(2)/2.
  const uint64_t sqrt_half = 0x3fe6a09e667f3bcd;
  const int64_t e = static_cast<int64_t>(ix - sqrt_half) >> 52;
  const double m = from_bits(ix - (static_cast<uint64_t>(e) << 52));
  const double k = to_double(e) - select(subnormal, 52.0, 0.0);
  // log m = log(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R), s = f / (2 + f). The three large
  // terms, k ln2_hi, f and f^2/2, are exact (f^2/2 as a pair) and summed with their rounding
  // errors kept; only the small last term carries error.
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  const Sum hfsq = two_product(0.5 * f, f);
  double small = s * (hfsq.s + z * horner(z, kLogPoly)) + k * kLn2Lo;
  if constexpr (kTail) small += tail / x;
  const Sum a = two_sum(k * kLn2Hi, f);
  const Sum b = two_sum(a.s, -hfsq.s);
  return {b.s, ((a.e + b.e) - hfsq.e) + small};
}

template <bool kTail>
[[gnu::always_inline]] inline double log_with_tail(double x, double tail) {
  const Sum parts = log_parts<kTail>(x, tail);
  double y = parts.s + parts.e;
  y = select(x == std::numeric_limits<double>::infinity(), x, y);
  y = select(x < 0.0, std::numeric_limits<double>::quiet_NaN(), y);
  y = select(x == 0.0, -std::numeric_limits<double>::infinity(), y);
  return select(x != x, x, y);
}
}  // namespace detail

/// Natural logarithm: -inf at 0, NaN below, subnormals exact in their exponent.
[[gnu::always_inline]] inline double log(double x) { return detail::log_with_tail<false>(x, 0.0); }

/// log(1 + x): 1 + x as an exact pair (a sum and its rounding error), whose logarithm is log of
/// the sum plus the error over it; so accurate where 1 + x rounds away most of x. -0 stays -0.
[[gnu::always_inline]] inline double log1p(double x) {
  using namespace detail;
  const Sum u = two_sum(1.0, x);
  return select(x == 0.0, x, log_with_tail<true>(u.s, u.e));
}

namespace detail {
// 1 / ln 2 and 1 / ln 10, each as the nearest double and the rest.
constexpr double kInverseLn2Hi = 0x1.71547652b82fep0, kInverseLn2Lo = 0x1.777d0ffda0d24p-56;
constexpr double kInverseLn10Hi = 0x1.bcb7b1526e50ep-2, kInverseLn10Lo = 0x1.95355baaafad3p-57;
// log x / ln b from log's unrounded pair, the product kept exact to its last addition; log's special
// values.
[[gnu::always_inline]] inline double log_to_base(double x, double inverse_hi, double inverse_lo) {
  const Sum l = log_parts<false>(x, 0.0);
  const Sum p = two_product(l.s, inverse_hi);
  double y = p.s + (p.e + (l.s * inverse_lo + l.e * inverse_hi));
  y = select(x == std::numeric_limits<double>::infinity(), x, y);
  y = select(x < 0.0, std::numeric_limits<double>::quiet_NaN(), y);
  y = select(x == 0.0, -std::numeric_limits<double>::infinity(), y);
  return select(x != x, x, y);
}
}  // namespace detail

/// Double log2 and log10: log's pair (within 2^-60 or so before its rounding) times 1 / ln b as two
/// doubles, rounded once: within 0.6 ulp (tests/test_vec_math.cpp), whole at powers of the base.
[[gnu::always_inline]] inline double log2(double x) {
  return detail::log_to_base(x, detail::kInverseLn2Hi, detail::kInverseLn2Lo);
}
[[gnu::always_inline]] inline double log10(double x) {
  return detail::log_to_base(x, detail::kInverseLn10Hi, detail::kInverseLn10Lo);
}

namespace detail {
// sqrt(d + d_lo) as root + root_lo, for d + d_lo >= 0 with d_lo far below an ulp of d: d's root and
// one Newton step for the rest (d - root^2 exactly, as residual takes it).
[[gnu::always_inline]] inline double root_of_pair(double d, double d_lo, double& root_lo) {
  const double root = std::sqrt(d);
  root_lo = select(root == 0.0, 0.0, (residual(d, root, root) + d_lo) / (2.0 * root));
  return root;
}
// log(w + w_lo) rounded once, for w positive and finite, and log(a) + ln 2 (asinh's and acosh's
// value past 2^28, where 1 / a^2 is below their last bit).
[[gnu::always_inline]] inline double log_of_pair(double w, double w_lo) {
  const Sum l = log_parts<true>(w, w_lo);
  return l.s + l.e;
}
[[gnu::always_inline]] inline double log_twice(double a) {
  const Sum l = log_parts<false>(a, 0.0);
  const Sum head = two_sum(l.s, kLn2Hi);
  return head.s + (head.e + (l.e + kLn2Lo));
}
}  // namespace detail

/// Double asinh, acosh and atanh: log(a + sqrt(a^2 + 1)), log(x + sqrt(x^2 - 1)) and log((1 + a) / (1 - a))
/// / 2 for a = |x|, each argument carried exactly enough as a pair (squares by two_product, sums by
/// two_sum, the root and the quotient with their remainders) that log's pair form (log_parts) sees it
/// to far below an ulp; so accurate near 0 and 1, where the argument is near 1 and its logarithm
/// small, with no log1p branch. Beyond 2^28, log(2a); below 2^-28 (asinh, atanh), x itself, -0 too.
/// Within 0.72 ulp (tests/test_vec_math.cpp).
[[gnu::always_inline]] inline double asinh(double x) {
  using namespace detail;
  const double a = std::fabs(x), inf = std::numeric_limits<double>::infinity();
  const Sum square = two_product(a, a);
  const Sum d = two_sum(1.0, square.s);
  double root_lo;
  const double root = root_of_pair(d.s, d.e + square.e, root_lo);
  const Sum w = two_sum(a, root);
  double y = select(a < 0x1p28, log_of_pair(w.s, w.e + root_lo), log_twice(a));
  y = std::copysign(select(a == inf, inf, y), x);
  return select(a < 0x1p-28, x, select(x != x, x + x, y));
}
[[gnu::always_inline]] inline double acosh(double x) {
  using namespace detail;
  const double inf = std::numeric_limits<double>::infinity();
  const Sum square = two_product(x, x);
  const Sum d = two_sum(square.s, -1.0);
  double root_lo;
  const double root = root_of_pair(d.s, d.e + square.e, root_lo);
  const Sum w = two_sum(x, root);
  double y = select(x < 0x1p28, log_of_pair(w.s, w.e + root_lo), log_twice(x));
  y = select(x == inf, inf, y);
  return select(x >= 1.0, y, x + std::numeric_limits<double>::quiet_NaN());  // (below 1, and nan)
}
[[gnu::always_inline]] inline double atanh(double x) {
  using namespace detail;
  const double a = std::fabs(x), inf = std::numeric_limits<double>::infinity();
  const Sum n = two_sum(1.0, a), d = two_sum(1.0, -a);
  const double q = n.s / d.s;
  const double q_lo = (residual(n.s, q, d.s) + n.e - q * d.e) / d.s;
  double y = std::copysign(0.5 * log_of_pair(q, q_lo), x);
  y = select(a == 1.0, std::copysign(inf, x), y);
  y = select(a < 0x1p-28, x, y);
  return select(a <= 1.0, y, x + std::numeric_limits<double>::quiet_NaN());  // (beyond 1, and nan)
}

namespace detail {
// (e^x - 1 - x - x^2/2) / x^3 on |x| <= 0.75 (mpmath chebyfit, relative error 2e-18).
constexpr double kExpm1Poly[] = {7.698730115111424e-13,  1.1558442407797238e-11, 1.6058680873114e-10,
                                 2.087613963303394e-09,  2.5052109611065086e-08, 2.7557321308738546e-07,
                                 2.7557319221974553e-06, 2.4801587298165956e-05, 0.00019841269841271256,
                                 0.0013888888888891294,  0.008333333333333333,   0.041666666666666664,
                                 0.16666666666666666};
}  // namespace detail

/// e^x - 1. Below 0.75 in magnitude, x + x^2/2 + x^3 P(x) with x + x^2/2 kept as exact pairs, so that
/// only the last addition rounds much. Beyond, e^x = 2^k (hi + lo) as exp's pair, 2^k hi - 1 as an
/// exact pair, lo added last: there e^x - 1 magnifies the pair's own error at most twofold. Beyond 40
/// it is e^x (the 1 is below its last bit) and below -40 it is -1.
[[gnu::always_inline]] inline double expm1(double x) {
  using namespace detail;
  const Sum half_square = two_product(0.5 * x, x);
  const Sum head = two_sum(x, half_square.s);
  const double near0 = head.s + (head.e + (half_square.e + ((x * x) * x) * horner(x, kExpm1Poly)));
  const ExpParts e = exp_parts(select(x > 40.0, 40.0, select(x < -40.0, -40.0, x)));  // NaN passes
  const double scale = pow2(e.k);
  const Sum d = two_sum(e.hi * scale, -1.0);
  double y = select(std::fabs(x) < 0.75, near0, d.s + (d.e + e.lo * scale));
  y = select(x > 40.0, exp(x), select(x < -40.0, -1.0, y));
  // Below 2^-54 e^x - 1 rounds to x; taking x keeps -0 too.
  return select(std::fabs(x) < 0x1p-54, x, y);
}

namespace detail {
// (sinh x / x - 1) / x^2 = sum_n x^2n / (2n + 3)!, Taylor's series to x^14 (the first term left out
// is below 2^-74 of sinh x for |x| < 1/2). Highest degree first.
constexpr double kSinhPoly[] = {1.0 / 355687428096000.0, 1.0 / 1307674368000.0, 1.0 / 6227020800.0,
                                1.0 / 39916800.0,        1.0 / 362880.0,        1.0 / 5040.0,
                                1.0 / 120.0,             1.0 / 6.0};

// (e^|x| + sign e^-|x|) / 2 for |x| <= 711 (beyond, clamped: both overflow from 710.5): e^|x| = 2^k
// (hi + lo) as exp's pair, e^-|x| = 2^-k / (hi + lo) as a quotient and its remainder, their sum (or
// difference: for |x| >= 1/2 it cancels at most 2.2-fold) exact to its last addition at the scale
// 2^k, which then applies in two factors, as in exp, so that 2^k may pass 2^1023.
[[gnu::always_inline]] inline double exp_plus_minus(double a, double sign) {
  const ExpParts e = exp_parts(select(a > 711.0, 711.0, a));  // NaN passes
  const Sum inverse = divide(1.0, e.hi, e.lo);
  // 2^-2k, or 2^-1022 below (e^-|x| is then far under the last bit); unsigned, as k is any integer at a nan.
  int64_t down = static_cast<int64_t>(uint64_t{0} - (static_cast<uint64_t>(e.k) << 1));
  down = down < -1022 ? -1022 : down;
  const double scale = pow2(down) * sign;
  const Sum sum = two_sum(e.hi, inverse.s * scale);
  const double half = (sum.s + (sum.e + (e.lo + inverse.e * scale))) * 0.5;
  const int64_t k1 = e.k >> 1;
  return half * pow2(k1) * pow2(e.k - k1);
}
}  // namespace detail

/// Double sinh and cosh: (e^|x| -+ e^-|x|) / 2 from exp's pair (detail::exp_plus_minus), and sinh below
/// |x| = 1/2 as its Taylor series, x + x^3 P(x^2) with the second term below 1/20 of the first: within
/// 0.6 ulp (tests/test_vec_math.cpp). Overflow to inf from |x| = 710.5.
[[gnu::always_inline]] inline double sinh(double x) {
  using namespace detail;
  const double z = x * x;
  const double near = x + (x * z) * horner(z, kSinhPoly);
  const double far = std::copysign(exp_plus_minus(std::fabs(x), -1.0), x);
  return select(std::fabs(x) < 0.5, near, far);  // (-0 and nan from the side they fall on)
}
[[gnu::always_inline]] inline double cosh(double x) { return detail::exp_plus_minus(std::fabs(x), 1.0); }

/// log(1 + e^x) as max(x, 0) + log1p(e^-|x|): e^-|x| never overflows, and for x < 0 the result is
/// the log1p alone, with no cancellation. t = e^-|x| stays exp's pair. Up to |x| = 11, 1 + t is an
/// exact pair around it, so that neither rounds before the logarithm; beyond, t < 2^-15.8 and
/// log1p(t) = t - t^2/2 + t^3/3 - t^4/4 to 2^-66, the terms after t far below its last bit (where
/// the logarithm's own rounding of 1 + t's few bits cost an ulp); beyond 40 it is e^-|x| to 2^-57.
/// log1p(t) stays a pair until x is added, so that the sum rounds once.
[[gnu::always_inline]] inline double softplus(double x) {
  using namespace detail;
  const double a = std::fabs(x);
  const ExpParts e = exp_parts(-select(a > 40.0, 40.0, a));  // NaN passes
  const double scale = pow2(e.k);
  const double t = e.hi * scale, t_lo = e.lo * scale;
  const Sum u = two_sum(1.0, t);
  // log1p(t) as a pair l + l_lo, so that x + log1p(t) rounds once.
  const Sum log_u = log_parts<true>(u.s, u.e + t_lo);
  const double series_lo = t_lo - (t * t) * (0.5 - t * (1.0 / 3.0 - 0.25 * t));
  const double l = select(a > 40.0, exp(-a), select(a > 11.0, t, log_u.s));
  const double l_lo = select(a > 40.0, 0.0, select(a > 11.0, series_lo, log_u.e));
  const Sum sum = two_sum(x, l);
  // (x + l alone beyond 40, where the pair's error term would be inf - inf at x = inf.)
  const double positive = select(a > 40.0, x + l, sum.s + (sum.e + l_lo));
  return select(x > 0.0, positive, l + l_lo);
}

/// sin(x) for |x| <= kTrigBound (and NaN); larger x go through sin(x) below.
[[gnu::always_inline]] inline double sin_reduced(double x) {
  using namespace detail;
  const Reduced red = reduce_pio2(x);
  const double v = select(red.q & 1, cos_poly(red.r, red.r_lo), sin_poly(red.r, red.r_lo));
  // Below 2^-26 sin x rounds to x; taking x there also keeps the sign of -0, which adding r_lo
  // would lose.
  return select(std::fabs(x) < 0x1p-26, x, from_bits(bits(v) ^ ((red.q & 2) << 62)));
}

/// cos(x) for |x| <= kTrigBound (and NaN).
[[gnu::always_inline]] inline double cos_reduced(double x) {
  using namespace detail;
  const Reduced red = reduce_pio2(x);
  const double v = select(red.q & 1, sin_poly(red.r, red.r_lo), cos_poly(red.r, red.r_lo));
  return from_bits(bits(v) ^ (((red.q + 1) & 2) << 62));
}

[[gnu::always_inline]] inline bool trig_in_range(double x) {
  return !(std::fabs(x) > detail::kTrigBound);
}

[[gnu::always_inline]] inline double sin(double x) {
  return trig_in_range(x) ? sin_reduced(x) : std::sin(x);
}
[[gnu::always_inline]] inline double cos(double x) {
  return trig_in_range(x) ? cos_reduced(x) : std::cos(x);
}

/// tan(x) for |x| <= kTrigBound (and NaN): sin r / cos r, or -cos r / sin r in odd quadrants, from sin's
/// and cos's reduction and polynomials with neither rounded: each as a pair (the polynomial's large
/// term and the rest, renormalised by a two-sum), and their quotient with its remainder (divide), so
/// that only the last rounding is large (tests/test_vec_math.cpp: within 0.72 ulp). cos r >= 0.7 on
/// [-pi/4, pi/4], and sin r is 0 only at x = 0. Below 2^-27 tan x rounds to x, which also keeps -0.
[[gnu::always_inline]] inline double tan_reduced(double x) {
  using namespace detail;
  const Reduced red = reduce_pio2(x);
  const double r = red.r;
  // r^2 and sin's cubic term -r^3/6 exact as pairs: their roundings would cost tan near pi/4, where
  // sin r and cos r are of a size and the quotient just below 1, 0.4 and 0.2 ulp.
  const Sum z = two_product(r, r);
  const Sum r3 = two_product(r, z.s);
  const Sum cubic = two_product(r3.s, kSinPoly[6]);
  const double sin_rest = cubic.e + (((r3.e + r * z.e) * kSinPoly[6] + (r3.s * z.s) * horner(z.s, kSinPolyAfterCubic)) +
                                     red.r_lo * (1.0 - 0.5 * z.s));
  const Sum sin_head = two_sum(r, cubic.s);  // |r| is the larger
  const Sum sin_r = two_sum(sin_head.s, sin_head.e + sin_rest);
  const double hz = 0.5 * z.s, w = 1.0 - hz;
  const Sum cos_r = two_sum(w, (((1.0 - w) - hz) - (0.5 * z.e + r * red.r_lo)) + (z.s * z.s) * horner(z.s, kCosPoly));
  const bool odd = red.q & 1;
  const double n = select(odd, -cos_r.s, sin_r.s), n_lo = select(odd, -cos_r.e, sin_r.e);
  const double d = select(odd, sin_r.s, cos_r.s), d_lo = select(odd, sin_r.e, cos_r.e);
  const Sum q = divide(n, d, d_lo);
  const double quotient = q.s + (q.e + n_lo / d);
  return select(std::fabs(x) < 0x1p-27, x, quotient);
}
[[gnu::always_inline]] inline double tan(double x) {
  return trig_in_range(x) ? tan_reduced(x) : std::tan(x);
}

/// tanh: an odd polynomial near 0 (no cancellation), 1 - 2 / (e^2|x| + 1) beyond, that in
/// double-length pieces; exactly +-1 for |x| > 20.
[[gnu::always_inline]] inline double tanh(double x) {
  using namespace detail;
  const double a = std::fabs(x);
  const double z = x * x;
  const double near0 = x + (x * z) * horner(z, kTanhPoly);
  // Beyond 20, 1 - tanh < 2^-56; the clamp keeps 2^k in range. NaN passes.
  const double a20 = select(a > 20.0, 20.0, a);
  const ExpParts e = exp_parts(a20 + a20);
  const double scale = pow2(e.k);
  const Sum d = two_sum(e.hi * scale, 1.0);
  const Sum q = divide(2.0, d.s, d.e + e.lo * scale);
  const double h = 1.0 - q.s;
  const double far = h + (((1.0 - h) - q.s) - q.e);
  // tanh is odd and both forms are exact in sign; copysign also gives tanh(-0) = -0.
  return std::copysign(select(a < kTanhSmall, near0, far), x);
}

/// 1 / (1 + e^-x) in double-length pieces; below -40 it is e^x to within 2^-57, which also spares
/// e^-x its overflow.
[[gnu::always_inline]] inline double sigmoid(double x) {
  using namespace detail;
  const bool low = x < -40.0;
  // Beyond 40 the result rounds to 1; the clamp keeps 2^k in range. NaN passes.
  const double y = select(low, select(x < -746.0, -746.0, x), -select(x > 40.0, 40.0, x));
  const ExpParts e = exp_parts(y);
  const int64_t k1 = e.k >> 1;
  const double s1 = pow2(k1), s2 = pow2(e.k - k1);
  const double e_hi = e.hi * s1 * s2;
  const Sum d = two_sum(e_hi, 1.0);
  const Sum q = divide(1.0, d.s, d.e + e.lo * s1 * s2);
  return select(low, e_hi, q.s + q.e);
}

// Float: the same algorithms in double, with shorter polynomials and without the double-length
// corrections, which 24 bits do not need. The double result is within about 2^-48 of the true
// value, relative, so rounding it to float is correct except within ~2^-24 ulp of a midpoint.
namespace detail {
constexpr double kExpPolyF[] = {2.7614931875440477e-07, 2.7626466044935e-06,  2.4801534341237888e-05,
                                0.00019841206274785362, 0.0013888888906916628, 0.008333333354971901,
                                0.0416666666666501,     0.16666666666646782,   0.5};
constexpr double kLogPolyF[] = {0.16634817293436976, 0.18139329084810124, 0.22222882159268573,
                                0.28571423954752284, 0.40000000011787484, 0.666666666666618};
constexpr double kSinPolyF[] = {1.5915309183057952e-10, -2.5051092308431318e-08, 2.7557315910939e-06,
                                -0.00019841269836385435, 0.0083333333333307, -0.16666666666666666};
constexpr double kCosPolyF[] = {2.0697074803485915e-09, -2.755633125022941e-07, 2.4801585082648883e-05,
                                -0.001388888888714404, 0.04166666666666447};

// For functions evaluated in float lanes (tanh): the double helpers' float twins.
[[gnu::always_inline]] inline uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }
[[gnu::always_inline]] inline float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
[[gnu::always_inline]] inline float select(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return from_bits((bits(a) & m) | (bits(b) & ~m));
}
// n - q d exactly, for q = n / d rounded: one FMA, or the product exact in double.
[[gnu::always_inline]] inline float residual(float n, float q, float d) {
#ifdef __FMA__
  return std::fma(-q, d, n);
#else
  return static_cast<float>(double{n} - double{q} * double{d});
#endif
}
constexpr float kShiftF32 = 0x1.8p23f;  // rounds a float below 2^22 to an integer, as kShift
// ln 2 = kLn2HiF32 + kLn2LoF32, the high part with 10 significant bits: k * kLn2HiF32 is exact
// for |k| < 2^14.
constexpr float kLn2HiF32 = 0x1.63p-1f;
constexpr float kLn2LoF32 = -0x1.bd0106p-13f;
// Float coefficients, fitted like those above: (tanh x / x - 1) / x^2 in z = x^2 for
// |x| <= kTanhSmallF32 = atanh(1/2), and (e^r - 1 - r) / r^2 for |r| <= 1.01 * ln2 / 2.
constexpr float kTanhSmallF32 = 0.5493f;
constexpr float kTanhPolyF32[] = {0.00252433773f, -0.00852477178f, 0.0218180325f,
                                  -0.0539646558f, 0.133333236f,    -0.333333343f};
constexpr float kExpPolyF32[] = {0.0013934545f, 0.00836377684f, 0.0416664556f, 0.166665733f, 0.5f};

// e^x for x in [-104, 104], where 2^k is a normal double.
[[gnu::always_inline]] inline double exp_float(double x) {
  const double t = x * 0x1.71547652b82fep0 + kShift;
  const double k = t - kShift;
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  const double p = 1.0 + r * (1.0 + r * horner(r, kExpPolyF));
  return p * pow2(static_cast<int64_t>(bits(t) - bits(kShift)));
}

// Clamps x to [-104, 104]: e^x rounds to 0 or overflows float long before. NaN passes.
[[gnu::always_inline]] inline double clamp104(double x) {
  return select(x > 104.0, 104.0, select(x < -104.0, -104.0, x));
}

// sin or cos of x, |x| <= kTrigBound: the reduction without its error terms, the short polynomials.
[[gnu::always_inline]] inline double trig_float(double x, bool is_cos) {
  const double t = x * kTwoOverPi + kShift;
  const double q = t - kShift;
  const double r = ((x - q * kPio2[0]) - q * kPio2[1]) - q * kPio2[2];
  const uint64_t quadrant = bits(t) + is_cos;
  const double z = r * r;
  const double sin_r = r + (r * z) * horner(z, kSinPolyF);
  const double cos_r = 1.0 - 0.5 * z + (z * z) * horner(z, kCosPolyF);
  const double v = select(quadrant & 1, cos_r, sin_r);
  return from_bits(bits(v) ^ ((quadrant & 2) << 62));
}
// The same clamp in float lanes, before the widening to double: a select in double lanes on a float
// comparison costs GCC a dozen instructions to widen the mask (exp 82 -> 51 vector instructions per
// 16 floats). 104 is a float, so the value is the same. NaN passes.
[[gnu::always_inline]] inline float clamp104(float x) {
  return select(x > 104.0f, 104.0f, select(x < -104.0f, -104.0f, x));
}
}  // namespace detail

[[gnu::always_inline]] inline float exp(float x) {
  return static_cast<float>(detail::exp_float(detail::clamp104(x)));
}

namespace detail {
// log(2^k (1 + f)) for f in [sqrt(2)/2 - 1, sqrt(2) - 1], to float's needs: 1 + f is never formed,
// so f may carry more bits than 1 + f could hold (softplus's e^-|x|).
[[gnu::always_inline]] inline double log_reduced_float(double k, double f) {
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double hfsq = 0.5 * f * f;
  return k * kLn2 + (f - (hfsq - s * (hfsq + z * horner(z, kLogPolyF))));
}

// log u for a positive normal double u: u = 2^e m with m in [sqrt(2)/2, sqrt(2)), the bits offset
// by those of sqrt(2)/2.
[[gnu::always_inline]] inline double log_float(double u) {
  const uint64_t iu = bits(u);
  const uint64_t sqrt_half = 0x3fe6a09e667f3bcd;
  const int64_t e = static_cast<int64_t>(iu - sqrt_half) >> 52;
  return log_reduced_float(to_double(e), from_bits(iu - (static_cast<uint64_t>(e) << 52)) - 1.0);
}

// The special values of log at u (a float) and log1p at u - 1: +inf at +inf, NaN below 0 and at
// NaN, -inf at 0, y elsewhere. In float lanes, after the rounding (their values are floats): selects
// in double lanes on float comparisons cost GCC a dozen instructions each to widen the masks.
[[gnu::always_inline]] inline float log_special_values(float u, float x, float y) {
  y = select(u == std::numeric_limits<float>::infinity(), u, y);
  y = select(u < 0.0f, std::numeric_limits<float>::quiet_NaN(), y);
  y = select(u == 0.0f, -std::numeric_limits<float>::infinity(), y);
  return select(x != x, x + x, y);
}
}  // namespace detail

[[gnu::always_inline]] inline float log(float x) {
  using namespace detail;
  // Every float is a normal double, so no subnormal scaling.
  return log_special_values(x, x, static_cast<float>(log_float(x)));
}

namespace detail {
// log_b u for a float u (a normal double), b = 2 or 10: log_float's reduction u = 2^e (1 + f), then
// e log_b 2 + log(1 + f) / ln b, so that log2's exponent adds exactly and powers of b come out whole.
[[gnu::always_inline]] inline double log_base_float(double u, double log_b_2, double inverse_ln_b) {
  const uint64_t iu = bits(u);
  const uint64_t sqrt_half = 0x3fe6a09e667f3bcd;
  const int64_t e = static_cast<int64_t>(iu - sqrt_half) >> 52;
  const double f = from_bits(iu - (static_cast<uint64_t>(e) << 52)) - 1.0;
  return to_double(e) * log_b_2 + log_reduced_float(0.0, f) * inverse_ln_b;
}
constexpr double kInverseLn2 = 0x1.71547652b82fep0, kInverseLn10 = 0x1.bcb7b1526e50ep-2, kLog10Of2 = 0x1.34413509f79ffp-2;
}  // namespace detail

/// Float log2 and log10 in double lanes, rounded once (the special values as log's).
[[gnu::always_inline]] inline float log2(float x) {
  using namespace detail;
  return log_special_values(x, x, static_cast<float>(log_base_float(x, 1.0, kInverseLn2)));
}
[[gnu::always_inline]] inline float log10(float x) {
  using namespace detail;
  return log_special_values(x, x, static_cast<float>(log_base_float(x, kLog10Of2, kInverseLn10)));
}

/// Float 2^x in double lanes: x = k + r with k the nearest integer and |r| <= 1/2 (both exact), then
/// exp's polynomial at r ln 2 (within ln 2 / 2) times 2^k, rounded once. x is first clamped to
/// [-160, 160], where 2^x rounds to 0 or overflows a float long before; nan passes.
[[gnu::always_inline]] inline float exp2(float x) {
  using namespace detail;
  const double xd = select(x > 160.0f, 160.0f, select(x < -160.0f, -160.0f, x));
  const double t = xd + kShift;
  const double k = t - kShift;
  const double r = (xd - k) * kLn2;
  const double p = 1.0 + r * (1.0 + r * horner(r, kExpPolyF));
  const float y = static_cast<float>(p * pow2(static_cast<int64_t>(bits(t) - bits(kShift))));
  return select(x != x, x + x, y);
}

[[gnu::always_inline]] inline float sin_reduced(float x) {
  // Below 2^-26 sin x rounds to x, which also keeps the sign of -0.
  return detail::select(std::fabs(x) < 0x1p-26f, x, static_cast<float>(detail::trig_float(x, false)));
}
[[gnu::always_inline]] inline float cos_reduced(float x) {
  return static_cast<float>(detail::trig_float(x, true));
}
[[gnu::always_inline]] inline bool trig_in_range(float x) { return trig_in_range(double{x}); }
[[gnu::always_inline]] inline float sin(float x) {
  return trig_in_range(x) ? sin_reduced(x) : static_cast<float>(std::sin(double{x}));
}
[[gnu::always_inline]] inline float cos(float x) {
  return trig_in_range(x) ? cos_reduced(x) : static_cast<float>(std::cos(double{x}));
}

/// Float tan for |x| <= kTrigBound (and NaN), in double: sin r / cos r, or -cos r / sin r in odd quadrants,
/// from sin's and cos's reduction and polynomials (each within about 2^-48, so the quotient within 2^-46
/// before its rounding to float: over all 2^32 floats, +-0x1.02e9bap+2 round the wrong way, 3e-9 ulp from a
/// midpoint). cos r >= 0.7 on [-pi/4, pi/4], and sin r is 0 only at x = 0 (no other float is a multiple of
/// pi/2). Below 2^-26 tan x rounds to x, which also keeps the sign of -0.
[[gnu::always_inline]] inline float tan_reduced(float x) {
  using namespace detail;
  const double xd = x;
  const double t = xd * kTwoOverPi + kShift;
  const double q = t - kShift;
  const double r = ((xd - q * kPio2[0]) - q * kPio2[1]) - q * kPio2[2];
  const double z = r * r;
  const double sin_r = r + (r * z) * horner(z, kSinPolyF);
  const double cos_r = 1.0 - 0.5 * z + (z * z) * horner(z, kCosPolyF);
  const bool odd = bits(t) & 1;
  const float quotient = static_cast<float>(select(odd, -cos_r, sin_r) / select(odd, sin_r, cos_r));
  return select(std::fabs(x) < 0x1p-26f, x, quotient);
}
/// Float tan; beyond kTrigBound, std::'s in double.
[[gnu::always_inline]] inline float tan(float x) {
  return trig_in_range(x) ? tan_reduced(x) : static_cast<float>(std::tan(double{x}));
}

namespace detail {
// atan(u) = u + u^3 Q(u^2) for |u| <= tan(pi/8): Q of degree 9 in u^2, interpolated at Chebyshev nodes
// (mpmath, 50 digits) and rounded to double, within 1.4e-16 of atan relative. Highest degree first.
constexpr double kAtanPolyF[] = {0.02275052699336167,  -0.04483334622272886, 0.05736332165907643,
                                 -0.06649613695291669, 0.0769105515839315,   -0.09090852557176049,
                                 0.11111109636534361,  -0.1428571426609662,  0.19999999999898407,
                                 -0.3333333333333325};
constexpr double kTanPiOver8 = 0x1.a827999fcef32p-2;  // sqrt(2) - 1
constexpr double kPi = 0x1.921fb54442d18p+1, kPiOver2 = 0x1.921fb54442d18p+0, kPiOver4 = 0x1.921fb54442d18p-1;
}  // namespace detail

namespace detail {
// The float atan2's angle in [0, pi], from the magnitudes and x's sign (vec::atan2 below says how),
// for operands given in double: float's asin and acos pass sqrt(1 - x^2), which a float cannot hold.
[[gnu::always_inline]] inline double angle_in_double(double yd, double xd) {
  const double ax = std::fabs(xd), ay = std::fabs(yd);
  const bool swap = ay > ax;
  double num = select(swap, ax, ay), den = select(swap, ay, ax);
  const bool both_infinite = num == std::numeric_limits<double>::infinity();
  num = select(both_infinite, 1.0, select(den == 0.0, 0.0, num));  // (t = 1, or 0 over 0 as 0)
  den = select(both_infinite | (den == 0.0), 1.0, den);
  // One division: u = t or (t - 1) / (t + 1) for t = num / den, the latter as (num - den) / (num + den).
  const bool upper = num > kTanPiOver8 * den;
  const double u = select(upper, num - den, num) / select(upper, num + den, den);
  const double s = u * u;
  double r = u + (u * s) * horner(s, kAtanPolyF);
  r = select(upper, kPiOver4 + r, r);
  r = select(swap, kPiOver2 - r, r);
  return select(bits(xd) >> 63, kPi - r, r);
}
}  // namespace detail

/// Float atan2(y, x), the angle of the point (x, y), in double lanes without a branch: t = the smaller
/// of |x| and |y| over the larger, atan t from pi/4 + atan((t - 1) / (t + 1)) above tan(pi/8) (either
/// quotient one division; num - den and num + den are exact for floats, whose ratio is within 4
/// there), then the octant: pi/2 - r where |y| > |x|, pi - r where x is negative (-0 included), y's
/// sign. Every special value of C's atan2 follows from the same steps: t is 0
/// where both are 0 (+-0 or +-pi by x's sign) or where one is infinite and the other is not, 1 where
/// both are (pi/4, 3pi/4); nan where either is. Within about 2^-52 of the true value, relative, so
/// the float is the correctly rounded one but within ~2^-28 ulp of a midpoint (std::atan2 in double,
/// rounded, on tests/test_vec_math.cpp's pairs).
[[gnu::always_inline]] inline float atan2(float y, float x) {
  const float angle = std::copysign(static_cast<float>(detail::angle_in_double(y, x)), y);
  return detail::select((x != x) | (y != y), x + y, angle);  // a nan, quieted
}

/// Float atan, asin and acos: atan2's angle of (x, 1), (x, sqrt(1 - x^2)) and (sqrt(1 - x^2), x), in
/// double lanes, where (1 - x)(1 + x) is within an ulp of 1 - x^2 (the float x is exact, 1 +- x
/// nearly so) and its root within an ulp of the true one, far below what the float's rounding can
/// see: correctly rounded as atan2 is. Outside [-1, 1] nan (the root is nan, but the angle of an
/// infinite y and a nan x would not be).
[[gnu::always_inline]] inline float atan(float x) {
  const float angle = std::copysign(static_cast<float>(detail::angle_in_double(x, 1.0)), x);
  return detail::select(x != x, x + x, angle);
}
[[gnu::always_inline]] inline float asin(float x) {
  const double xd = x;
  const double root = std::sqrt((1.0 - xd) * (1.0 + xd));
  const float angle = std::copysign(static_cast<float>(detail::angle_in_double(xd, root)), x);
  return detail::select(std::fabs(x) <= 1.0f, angle, x + std::numeric_limits<float>::quiet_NaN());
}
[[gnu::always_inline]] inline float acos(float x) {
  const double xd = x;
  const double root = std::sqrt((1.0 - xd) * (1.0 + xd));
  const float angle = static_cast<float>(detail::angle_in_double(root, xd));
  return detail::select(std::fabs(x) <= 1.0f, angle, x + std::numeric_limits<float>::quiet_NaN());
}

namespace detail {
// (sinh x / x - 1) / x^2 = sum_n x^2n / (2n + 3)!, Taylor's series to x^10 (the first term left out
// is below 2^-54 of sinh x for |x| < 1/2). Highest degree first.
constexpr double kSinhPolyF[] = {1.0 / 6227020800.0, 1.0 / 39916800.0, 1.0 / 362880.0,
                                 1.0 / 5040.0,       1.0 / 120.0,      1.0 / 6.0};
}  // namespace detail

/// Float sinh and cosh in double lanes, rounded once: (e^|x| -+ e^-|x|) / 2 from exp's float form
/// (|x| clamped to 104, where both overflow a float long before), and sinh below |x| = 1/2, where
/// the difference would cancel, as its Taylor series.
[[gnu::always_inline]] inline float sinh(float x) {
  using namespace detail;
  const double xd = x;
  const double e = exp_float(clamp104(std::fabs(x)));
  const float far = std::copysign(static_cast<float>(0.5 * (e - 1.0 / e)), x);
  const double z = xd * xd;
  const float near = static_cast<float>(xd + (xd * z) * horner(z, kSinhPolyF));
  return select(std::fabs(x) < 0.5f, near, far);  // (-0 and nan from the side they fall on)
}
[[gnu::always_inline]] inline float cosh(float x) {
  const double e = detail::exp_float(detail::clamp104(std::fabs(x)));
  return static_cast<float>(0.5 * (e + 1.0 / e));
}

/// Float asinh, acosh and atanh: the double forms, rounded (within 0.72 ulp of double, so the float is the
/// correctly rounded one but within ~2^-28 ulp of a midpoint).
[[gnu::always_inline]] inline float asinh(float x) { return static_cast<float>(asinh(double{x})); }
[[gnu::always_inline]] inline float acosh(float x) { return static_cast<float>(acosh(double{x})); }
[[gnu::always_inline]] inline float atanh(float x) { return static_cast<float>(atanh(double{x})); }

namespace detail {
// atan(u) = u + u^3 Q(u^2) for |u| <= 0.4143 (past tan(pi/8), for the rounding of the branch test): Q of
// degree 11 in u^2, interpolated as kAtanPolyF's, within 3.4e-18 of atan relative. Highest degree first.
constexpr double kAtanPoly[] = {0.01627999005782057,  -0.03456535729190067, 0.045513908032899016,
                                -0.052304098866177415, 0.05878922970309668, -0.06666424361404927,
                                0.07692296345833015,   -0.0909090875249078,  0.11111111105135144,
                                -0.1428571428565962,   0.19999999999999804,  -0.3333333333333333};
// pi/4 in two parts, the first with 49 significant bits so that m times it is exact for m <= 4.
constexpr double kPiOver4Hi = 0x1.921fb54442d1p-1;
constexpr double kPiOver4Lo = 0x1.08d313198a2ep-50;
}  // namespace detail

namespace detail {
/// Double atan2's steps (vec::atan2 below says what they are), for an angle of operands that may carry
/// low parts: |y| + ay_lo and |x| + ax_lo, each low part far below an ulp of its magnitude (kLows;
/// asin's and acos's sqrt(1 - x^2)). Without FMA, libm's atan2 of the high parts.
template <bool kLows>
[[gnu::always_inline]] inline double atan2_parts(double y, double x, double ay_lo, double ax_lo) {
#ifndef __FMA__
  return std::atan2(y, x);
#else
  const double inf = std::numeric_limits<double>::infinity();
  const double ax = std::fabs(x), ay = std::fabs(y);
  const bool swap = ay > ax;
  double num = select(swap, ax, ay), den = select(swap, ay, ax);
  const bool both_infinite = num == inf, den_infinite = den == inf;
  const bool special = both_infinite | den_infinite | (den == 0.0);
  num = select(both_infinite, 1.0, select(den_infinite | (den == 0.0), 0.0, num));
  den = select(special, 1.0, den);
  int64_t k = static_cast<int64_t>(bits(den) >> 52) - 1023;  // den is finite and not 0 here
  k = k < -1022 ? -1022 : k;
  k = k > 1022 ? 1022 : k;  // (2^-1023 is not normal; den then scales into [2, 4))
  const double down = pow2(-k);
  num *= down;
  den *= down;
  // The octant's reduction: u = n / d with n and d exact as two parts each.
  const bool upper = num > kTanPiOver8 * den;
  const double diff = num - den, sum = num + den;  // den >= num >= 0: fast two-sums
  const double n_hi = select(upper, diff, num), d_hi = select(upper, sum, den);
  double n_lo = select(upper, num - (diff + den), 0.0), d_lo = select(upper, num - (sum - den), 0.0);
  if constexpr (kLows) {
    const double num_lo = select(special, 0.0, select(swap, ax_lo, ay_lo)) * down;
    const double den_lo = select(special, 0.0, select(swap, ay_lo, ax_lo)) * down;
    n_lo += select(upper, num_lo - den_lo, num_lo);
    d_lo += select(upper, num_lo + den_lo, den_lo);
  }
  const double u = n_hi / d_hi;
  // (Below 2^-960 the remainder would underflow, and the quotient's rounding is atan's: no low part.)
  const double u_lo = select(std::fabs(u) < 0x1p-960, 0.0, (std::fma(-u, d_hi, n_hi) + n_lo - u * d_lo) / d_hi);
  const double s = u * u;
  const double atan_lo = u_lo * (1.0 - s) + (u * s) * horner(s, kAtanPoly);
  // The octant: m pi/4 + sign (u + atan_lo), from upper (m = 1), swap (m -> 2 - m, sign flips) and a
  // negative x (m -> 4 - m, sign flips); -0 counts as negative.
  const bool negative_x = bits(x) >> 63;
  double m = select(upper, 1.0, 0.0);
  m = select(swap, 2.0 - m, m);
  m = select(negative_x, 4.0 - m, m);
  const uint64_t flip = static_cast<uint64_t>(swap ^ negative_x) << 63;
  const double a = from_bits(bits(u) ^ flip), a_lo = from_bits(bits(atan_lo) ^ flip);
  const double offset = m * kPiOver4Hi;
  const double head = offset + a;  // two-sum: either may be the larger
  const double a_part = head - offset;
  const double tail = (offset - (head - a_part)) + (a - a_part);
  const double angle = std::copysign(head + (tail + (m * kPiOver4Lo + a_lo)), y);
  return select((x != x) | (y != y), x + y, angle);  // a nan, quieted
#endif
}

// sqrt(1 - x^2) as root + root_lo for |x| <= 1 (nan beyond): 1 - x^2 exactly as three parts (x^2 by
// FMA, then 1 - x^2's rounding by a two-sum, 1 >= x^2), its root, and one Newton step for the rest.
[[gnu::always_inline]] inline double cosine_of_arcsine(double x, double& root_lo) {
  const double square = x * x, square_lo = std::fma(x, x, -square);
  const double d = 1.0 - square;
  const double d_lo = ((1.0 - d) - square) - square_lo;
  const double root = std::sqrt(d);
  root_lo = select(root == 0.0, 0.0, (std::fma(-root, root, d) + d_lo) / (2.0 * root));  // (|x| = 1: exact)
  return root;
}
}  // namespace detail

/// Double atan2(y, x), branch-free, within 0.70 ulp where the result is normal (tests/test_vec_math.cpp;
/// the most near pi/8, where atan u's cubic term is largest against a result in the lower binade).
/// The float form's steps, with the parts that its double lanes made exact carried in two parts: the
/// angle is m pi/4 +- atan u for an octant's m in 0..4, with u = n / d, where n and d are the smaller of
/// |x| and |y| and the larger (then t = n / d <= tan(pi/8)) or their difference and sum, exactly as two
/// doubles each (then u = (t - 1) / (t + 1), t above tan(pi/8)). Both are first scaled by the power of 2
/// that brings the larger to [1, 4) (a subnormal one to [2^-52, 1)), so that nothing overflows and the
/// quotient's remainder, taken by FMA, is exact; u's low part then carries that remainder, and atan u =
/// u + (u_lo (1 - u^2) + u^3 Q(u^2)). m pi/4 + u's high part is summed exactly (two-sum), and the low
/// parts added once. C's special values as the float form: both infinite count as 1 and 1, one
/// infinite as 0 over 1, both zero as 0 over 1. Without FMA, libm's.
[[gnu::always_inline]] inline double atan2(double y, double x) { return detail::atan2_parts<false>(y, x, 0.0, 0.0); }

/// Double atan, asin and acos: atan2's angle of (x, 1), (x, sqrt(1 - x^2)) and (sqrt(1 - x^2), x), the
/// root carried in two parts (detail::cosine_of_arcsine), so that each is as accurate as atan2 (within
/// 0.70 ulp; tests/test_vec_math.cpp). Outside [-1, 1] the root is nan, and so is the angle. Without
/// FMA, libm's.
[[gnu::always_inline]] inline double atan(double x) { return atan2(x, 1.0); }
[[gnu::always_inline]] inline double asin(double x) {
#ifndef __FMA__
  return std::asin(x);
#else
  double root_lo;
  const double root = detail::cosine_of_arcsine(x, root_lo);
  return detail::atan2_parts<true>(x, root, 0.0, root_lo);
#endif
}
[[gnu::always_inline]] inline double acos(double x) {
#ifndef __FMA__
  return std::acos(x);
#else
  double root_lo;
  const double root = detail::cosine_of_arcsine(x, root_lo);
  return detail::atan2_parts<true>(root, x, root_lo, 0.0);
#endif
}

/// Float hypot: sqrt(x^2 + y^2) in double, where a float's square is exact and neither overflows nor
/// underflows, so that one rounding of the sum and one of the root come before the float's (60M
/// random pairs: the same floats as std::hypot in double and as the sum in long double, rounded). An
/// infinite operand gives inf, a nan beside it included, as C's hypot.
[[gnu::always_inline]] inline float hypot(float x, float y) {
  const double xd = x, yd = y;
  const float root = static_cast<float>(std::sqrt(xd * xd + yd * yd));
  const float ax = std::fabs(x), ay = std::fabs(y), inf = std::numeric_limits<float>::infinity();
  return detail::select((ax == inf) | (ay == inf), inf, root);
}

/// Double hypot, branch-free, within 0.501 ulp where the result is normal (tests/test_vec_math.cpp):
/// both operands scaled by the power of 2 that brings the larger to [1, 4) (exactly, so no square
/// overflows or underflows where it matters), the sum of squares carried in two parts (FMA gives each
/// square's rounding error), its root, and one Newton step that adds back what the root's rounding and
/// the sum's low part left out. A result below 2^-1022 rounds twice (the root, then the unscaling):
/// within 1 ulp there. C's special values: an infinity wins over nan, hypot(0, 0) = 0. Without FMA,
/// libm's (std::fma would be a call, four per element).
[[gnu::always_inline]] inline double hypot(double x, double y) {
#ifndef __FMA__
  return std::hypot(x, y);
#else
  using namespace detail;
  const double ax = std::fabs(x), ay = std::fabs(y);
  const bool x_larger = ax > ay;
  const double big = select(x_larger, ax, ay), small = select(x_larger, ay, ax);
  // The larger's exponent, kept within [-1022, 1022] so that 2^-k and 2^k are both normal: zeros and
  // subnormals scale by 2^1022 (into [2^-52, 1)), and infinities and nans stay what they are.
  int64_t k = static_cast<int64_t>(bits(big) >> 52) - 1023;
  k = k < -1022 ? -1022 : k;
  k = k > 1022 ? 1022 : k;
  const double down = pow2(-k);
  const double b = big * down, s = small * down;
  const double b2 = b * b, s2 = s * s;
  const double sum = b2 + s2;
  const double low = ((b2 - sum) + s2) + (std::fma(b, b, -b2) + std::fma(s, s, -s2));  // b2 >= s2: exact two-sum
  const double root = std::sqrt(sum);
  const double refined = root + (std::fma(-root, root, sum) + low) * (0.5 / root);
  const double inf = std::numeric_limits<double>::infinity();
  return select((ax == inf) | (ay == inf), inf, select(big == 0.0, small, refined * pow2(k)));  // (0, or a nan)
#endif
}

/// Float fmod where the quotient is small (`fmod_reduces`: |a / b| < 2^29, both finite, b not 0), exactly:
/// n = a / b in double rounded to the nearest integer (by kShift: GCC does not vectorise std::trunc), r =
/// a - n b (n b has at most 53 bits and r is a float's multiple below 2 |b|, so both are exact), and
/// where n went past trunc(a / b) (r is then on the other side of 0 from a), one |b| back toward a. The
/// sign is a's, zeros included (fmod(-4, 2) = -0).
[[gnu::always_inline]] inline bool fmod_reduces(float a, float b) {
  const float ratio_bound = 0x1p29f;
  const float abs_a = std::fabs(a), abs_b = std::fabs(b), inf = std::numeric_limits<float>::infinity();
  return (abs_a < ratio_bound * abs_b) & (abs_b != 0.0f) & (abs_a < inf) & (abs_b < inf);
}
[[gnu::always_inline]] inline float fmod_reduced(float a, float b) {
  const double ad = a, bd = b;
  const double n = (ad / bd + detail::kShift) - detail::kShift;
  double r = ad - n * bd;
  // (Signs compared by their bits: GCC does not vectorise a comparison of two bools.)
  const bool overshot = (r != 0.0) & (((detail::bits(r) ^ detail::bits(ad)) >> 63) != 0);
  r = detail::select(overshot, r + std::copysign(std::fabs(bd), ad), r);
  return std::copysign(static_cast<float>(std::fabs(r)), a);
}
/// Double fmod where the quotient is below 2^50, exactly, by the same steps with the product taken
/// out in one FMA: n is trunc(a / b) or one past it (a / b rounds monotonically, and trunc(a / b) is a
/// double), so a - n b is the result or the result less |b|, a multiple of the smaller of a's and b's
/// ulps below |b| in magnitude, which a double holds and the FMA's one rounding leaves exact. (Without
/// FMA the array form below is libm's throughout.)
[[gnu::always_inline]] inline bool fmod_reduces(double a, double b) {
  const double ratio_bound = 0x1p50;  // (times |b|: exact, or inf only where |b| >= 2^974 and the quotient is small)
  const double abs_a = std::fabs(a), abs_b = std::fabs(b), inf = std::numeric_limits<double>::infinity();
  return (abs_a < ratio_bound * abs_b) & (abs_b != 0.0) & (abs_a < inf) & (abs_b < inf);
}
[[gnu::always_inline]] inline double fmod_reduced(double a, double b) {
  const double n = (a / b + detail::kShift) - detail::kShift;
  double r = std::fma(-n, b, a);
  const bool overshot = (r != 0.0) & (((detail::bits(r) ^ detail::bits(a)) >> 63) != 0);
  r = detail::select(overshot, r + std::copysign(std::fabs(b), a), r);
  return std::copysign(std::fabs(r), a);
}

namespace detail {
// The first pass of fmod below, for a divisor per element (kStep 1) or one for all (0): a loop of its
// own for each, so that GCC vectorises both. Whether every element reduced.
template <int kStep, class T>
bool fmod_first_pass(const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n) {
  uint32_t misses = 0;  // (an integer: GCC does not vectorise a bool reduction)
  for (int64_t i = 0; i < n; ++i) {
    const T u = a[i], v = b[i * kStep];
    const bool reduces = fmod_reduces(u, v);
    misses |= static_cast<uint32_t>(!reduces);
    y[i] = fmod_reduced(u, select(reduces, v, T(1)));
  }
  return misses == 0;
}
}  // namespace detail

/// y[i] = fmod(a[i], b[i * b_step]) (b_step 0: one divisor), vectorised where the quotient is small,
/// std::fmod for the rest (huge quotients, zeros, infinities, nan), in a second pass as sin's.
template <class T>
void fmod(const T* __restrict a, const T* __restrict b, int64_t b_step, T* __restrict y, int64_t n) {
#ifndef __FMA__
  if constexpr (std::is_same_v<T, double>) {  // (std::fma would be a libm call per element)
    for (int64_t i = 0; i < n; ++i) y[i] = std::fmod(a[i], b[i * b_step]);
    return;
  }
#endif
  const bool all_reduce = b_step == 0 ? detail::fmod_first_pass<0>(a, b, y, n) : detail::fmod_first_pass<1>(a, b, y, n);
  if (all_reduce) [[likely]] return;
  for (int64_t i = 0; i < n; ++i)
    if (!fmod_reduces(a[i], b[i * b_step])) y[i] = std::fmod(a[i], b[i * b_step]);
}

/// Float tanh in float lanes, twice as many per vector as double's: the cost of the double-lane
/// form (its division above all) was most of a tanh MLP's forward pass. Below atanh(1/2) an odd
/// polynomial whose correction to x is at most a tenth of the result; above, (1 - t) / (1 + t) with
/// t = e^-2|x|, where t, 1 - t and 1 + t are carried in two parts (rounding any of them to one float
/// would cost half an ulp of the result) and the quotient gets its correction. Measured over all
/// 2^32 floats against std:: in double: at most 0.773 ulp with FMA contraction, 0.828 without
/// (tests/test_vec_math.cpp samples them).
[[gnu::always_inline]] inline float tanh(float x) {
  using namespace detail;
  const float a = std::fabs(x);
  const float z = x * x;
  const float near0 = x + (x * z) * horner(z, kTanhPolyF32);
  // e^-y = 2^-k e^r, r = k ln2 - y in two float parts of ln2 (k ln2_hi is exact). Beyond 9.5 the
  // result rounds to 1; the clamp keeps 2^-k normal. NaN passes.
  const float y = 2.0f * select(a > 9.5f, 9.5f, a);
  const float shifted = y * 0x1.715476p0f + kShiftF32;
  const float k = shifted - kShiftF32;
  const float r = (k * kLn2HiF32 - y) + k * kLn2LoF32;
  // e^r = p_hi + p_lo, the rounding error of 1 + s kept; t = 2^-k e^r, scaled exactly.
  const float s = r + (r * r) * horner(r, kExpPolyF32);
  const float p_hi = 1.0f + s;
  const float p_lo = (1.0f - p_hi) + s;
  const float scale = from_bits((127u - (bits(shifted) - bits(kShiftF32))) << 23);
  const float t_hi = p_hi * scale, t_lo = p_lo * scale;
  // (1 - t) / (1 + t), numerator and denominator in two parts each; the quotient's correction
  // divides by 2 - d_hi in place of d_hi (within (d - 1)^2 <= 11%: the correction is an ulp or two).
  const float n_hi = 1.0f - t_hi;
  const float n_lo = ((1.0f - n_hi) - t_hi) - t_lo;
  const float d_hi = 1.0f + t_hi;
  const float d_lo = ((1.0f - d_hi) + t_hi) + t_lo;
  const float q = n_hi / d_hi;
  const float far = q + ((residual(n_hi, q, d_hi) + n_lo) - q * d_lo) * (2.0f - d_hi);
  // tanh is odd and both forms are exact in sign; copysign also gives tanh(-0) = -0.
  return std::copysign(select(a < kTanhSmallF32, near0, far), x);
}

[[gnu::always_inline]] inline float sigmoid(float x) {
  using namespace detail;
  return static_cast<float>(1.0 / (1.0 + exp_float(clamp104(-x))));
}

namespace detail {
// erf(x) / x as a polynomial in z = x^2 on [0, 1], and e^(x^2) erfc(x) as one in s = x - 2.5 on
// [1, 4] (centred, so that Horner's sum does not cancel): mpmath chebyfit, relative errors 1.6e-16
// and 4.4e-15 when evaluated in double.
constexpr double kErfSmall[] = {-7.795898827002142e-10, 1.3720064546777686e-08, -1.6208483801871705e-07,
                                1.6447424703317362e-06, -1.492473690741966e-05, 0.00012055294904839707,
                                -0.0008548325975389692, 0.0052239776071164225, -0.02686617064323777,
                                0.11283791670945006,    -0.37612638903183543,   1.1283791670955126};
constexpr double kErfcScaled[] = {
    7.637177200517141e-13,  -3.646739946477297e-12, 8.139500821542235e-12,  -3.647079215818441e-11,
    2.0598899448299692e-10, -9.086357707367647e-10, 3.807561372861745e-09,  -1.6125174667189644e-08,
    6.715027603157553e-08,  -2.730021118952131e-07, 1.085215631675328e-06,  -4.214261551777554e-06,
    1.596185605713246e-05,  -5.886897902476663e-05, 0.0002110198236179969,  -0.0007335909338672705,
    0.0024670368157710724,  -0.00800156938244346,   0.024937997086654767,   -0.07434734678978416,
    0.2108063640611436};
}  // namespace detail

/// Float erf, in double: x P(x^2) below 1, 1 - e^(-x^2) Q(x) up to 4, 1 beyond (erfc(3.92) is below
/// half an ulp of 1); odd, so -0 stays -0.
[[gnu::always_inline]] inline float erf(float x) {
  using namespace detail;
  // The clamp keeps the discarded side finite for large or infinite x; NaN passes. Selects on float
  // comparisons stay in float lanes (widening their masks to double lanes costs GCC a dozen
  // instructions each); 4 is a float, so the values are the same.
  const float a = std::fabs(x);
  const double c = select(a > 4.0f, 4.0f, a);
  const double z = c * c;  // exact: c has 24 bits
  const double below1 = c * horner(z, kErfSmall);
  const double up_to4 = 1.0 - exp_float(-z) * horner(c - 2.5, kErfcScaled);
  const float y =
      select(a >= 4.0f, 1.0f, select(a < 1.0f, static_cast<float>(below1), static_cast<float>(up_to4)));
  return std::copysign(y, x);
}
namespace detail {
// Double erf in four pieces, fitted with mpmath's chebyfit (relative errors below 2e-18 before
// rounding, 1.5e-15 in the last, where erfc is below 4e-4 of erf and the error is damped as much):
// (erf(x) / x - 2 / sqrt(pi)) / x^2 as a polynomial in z = x^2 below 0.7, (erf(x) - erf(1)) / (x - 1)
// in s = x - 1 below 1.25, and e^(x^2) erfc(x) in s = x - 1.875 below 2.5 and s = x - 4.25 below 6.
constexpr double kErfNearZero[] = {-1.0008162209584207e-09, 1.4551100686777855e-08, -1.6349304867580175e-07,
                                   1.646144610002406e-06, -1.4925632948854318e-05, 0.00012055332689889041,
                                   -0.0008548327020395562, 0.0052239776254235145, -0.026866170645130666,
                                   0.11283791670955125, -0.37612638903183754};
constexpr double kErfNearOne[] = {-4.416845607232735e-06, 2.3259548501363126e-05, 1.850156371423956e-05,
                                  -0.00020001666871970699, 8.554251168588121e-05, 0.0012262858926882269,
                                  -0.0018851891801323424, -0.004777030684046476, 0.015154718178194046,
                                  0.004612305526383384, -0.06918458290363257, 0.06918458290343554,
                                  0.13836916580686573, -0.4151074974205947, 0.4151074974205947};
constexpr double kErfcScaledBelow2_5[] = {
    -6.647966938535859e-10, 2.7050371773727344e-09, -9.621911740181652e-09, 3.74039551448257e-08,
    -1.430533964239295e-07, 5.315112138349538e-07,  -1.9261513332129753e-06, 6.800107734552959e-06,
    -2.334409411797306e-05, 7.777080967477999e-05,  -0.0002508686841953935, 0.0007814620113518968,
    -0.0023432816664903998, 0.006738039159306205,   -0.018492027589907034,  0.04814863004967338,
    -0.11801672272799837,   0.2694299851646704};
constexpr double kErfcScaledBelow6[] = {
    -4.468448672963503e-15, 2.670890640370474e-14,   -8.951517882296557e-14, 5.147060299059555e-13,
    -3.3679875481133544e-12, 1.9043820520800624e-11, -1.0473038751142829e-10, 5.764865097795361e-10,
    -3.133906547477162e-09, 1.6781601158816573e-08,  -8.855425944253482e-08, 4.6025960457877927e-07,
    -2.3546006845863016e-06, 1.1848093943733695e-05, -5.859550020157721e-05, 0.00028457515676828387,
    -0.0013559331671051938, 0.006331866273879434,    -0.028944331414615315, 0.1293452747859878};
// 2 / sqrt(pi) and erf(1), each as the nearest double and the rest.
constexpr double kTwoOverSqrtPi = 1.1283791670955126, kTwoOverSqrtPiLo = 1.533545961316588e-17;
constexpr double kErfOne = 0.8427007929497149, kErfOneLo = -2.4801011789118602e-17;
}  // namespace detail

/// Double erf, every piece computed and the right one selected (so that it vectorises): the constant
/// term of the first two is added last, with the rest of its digits, so that each result is rounded
/// about once; 1 - e^(-x^2) Q(x) from 1.25, x^2's rounding error folded into e^(-x^2); 1 from 6
/// (erfc(5.93) is below half an ulp of 1). Odd, so -0 stays -0; NaN passes.
[[gnu::always_inline]] inline double erf(double x) {
  using namespace detail;
  const double a = std::fabs(x);
  const double z = a * a;
  // Tiny x scaled up first, so that the split product is exact (it is not among subnormals) and the
  // result is rounded to double precision before its last rounding onto the subnormals' grid.
  const double up = select(a < 0x1p-1000, 0x1p100, 1.0), scaled_a = a * up;
  // 2x / sqrt(pi) + x z P(z), compensated as erf(1) + s Q(s) is below: near 0.7, x z P(z) is a fifth of it.
  const Sum scaled = two_product(scaled_a, kTwoOverSqrtPi);
  const Sum correction_a = two_product(scaled_a, z * horner(z, kErfNearZero));
  const Sum near_zero_sum = two_sum(scaled.s, correction_a.s);
  const double near_zero =
      (near_zero_sum.s + (near_zero_sum.e + ((scaled.e + correction_a.e) + scaled_a * kTwoOverSqrtPiLo))) *
      (1.0 / up);
  const double s = a - 1.0;
  // erf(1) + s Q(s) as a compensated sum: near 0.7, s Q(s) is a fifth of the result.
  const Sum correction = two_product(s, horner(s, kErfNearOne));
  const Sum near_one_sum = two_sum(kErfOne, correction.s);
  const double near_one = near_one_sum.s + (near_one_sum.e + (correction.e + kErfOneLo));
  // Clamped, so that the discarded side stays finite for large or infinite x.
  const double c = select(a > 6.0, 6.0, a);
  const double q = select(c < 2.5, horner(c - 1.875, kErfcScaledBelow2_5), horner(c - 4.25, kErfcScaledBelow6));
  // c^2 = square.s + square.e exactly, so e^(-c^2) = e^(-square.s) (1 - square.e) to within square.e^2.
  const Sum square = two_product(c, c);
  const double beyond = 1.0 - (exp(-square.s) * (1.0 - square.e)) * q;
  const double y = select(a >= 6.0, 1.0, select(a < 0.7, near_zero, select(a < 1.25, near_one, beyond)));
  return std::copysign(y, x);
}

/// Float log1p in double: 1 + x is exact for 2^-29 <= |x| < 2^29 (beyond, its rounding moves the
/// logarithm by less than 2^-53 of itself), and below 2^-29 log1p(x) rounds to x, which also keeps
/// -0 and the subnormals.
[[gnu::always_inline]] inline float log1p(float x) {
  using namespace detail;
  const float u = x + 1.0f;  // only for the special values: -1 -> 0, below -1 -> negative, inf, NaN
  const float y = static_cast<float>(log_float(1.0 + double{x}));
  return select(std::fabs(x) < 0x1p-29f, x, log_special_values(u, x, y));
}

/// Float e^x - 1 in double: x + x^2 P(x) with exp's float polynomial below 0.34 in magnitude (no
/// cancellation), e^x - 1 beyond (where it magnifies e^x's relative error at most 3.5 times); below
/// 2^-25 e^x - 1 rounds to x, which also keeps -0.
[[gnu::always_inline]] inline float expm1(float x) {
  using namespace detail;
  const double xd = x;
  const float near0 = static_cast<float>(xd + (xd * xd) * horner(xd, kExpPolyF));
  const float far = static_cast<float>(exp_float(clamp104(x)) - 1.0);
  return select(std::fabs(x) < 0x1p-25f, x, select(std::fabs(x) < 0.34f, near0, far));
}

/// Float log(1 + e^x) in double as max(x, 0) + log1p(t), t = e^-|x| in (0, 1]: log1p(t) straight
/// from t where t <= sqrt(2) - 1, so that 1 + t never rounds away t's low bits; above, 1 + t rounds
/// by 2^-53 against a logarithm of at least 0.34. Beyond |x| = 104 t is clamped and the result is x or
/// (e^-104 rounding to) 0.
[[gnu::always_inline]] inline float softplus(float x) {
  using namespace detail;
  const float a = std::fabs(x);
  const double t = exp_float(-double{select(a > 104.0f, 104.0f, a)});  // NaN passes
  const bool large = t > 0x1.a827999fcef34p-2;  // sqrt(2) - 1
  const double l = log_reduced_float(select(large, 1.0, 0.0), select(large, 0.5 * (1.0 + t) - 1.0, t));
  return select(x > 0.0f, static_cast<float>(double{x} + l), static_cast<float>(l));
}

// Array entry points. x and y must not overlap.
namespace detail {
// Sin and cos go block by block, so that the fix-up pass reads x while it is still in cache.
template <class T, class Reduced, class Full>
void trig_array(const T* __restrict x, T* __restrict y, int64_t n, Reduced reduced, Full full) {
  constexpr int64_t kBlock = 1024;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = start + kBlock < n ? start + kBlock : n;
    for (int64_t i = start; i < end; ++i) y[i] = reduced(x[i]);
    // A vectorised count first: the element-by-element fix-up costs as much as the SIMD pass.
    int64_t outside = 0;
    for (int64_t i = start; i < end; ++i) outside += !trig_in_range(x[i]);
    if (outside == 0) continue;
    for (int64_t i = start; i < end; ++i)
      if (!trig_in_range(x[i])) y[i] = full(x[i]);
  }
}
}  // namespace detail

namespace detail {
// y[i] = f(x[i]): the loop of every entry point below but sin's and cos's, vectorised where f is.
template <class T, class F>
[[gnu::always_inline]] inline void each(const T* __restrict x, T* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
}  // namespace detail

template <class T>
void exp(const T* __restrict x, T* __restrict y, int64_t n) { detail::each(x, y, n, [](T v) { return exp(v); }); }
template <class T>
void log(const T* __restrict x, T* __restrict y, int64_t n) { detail::each(x, y, n, [](T v) { return log(v); }); }
template <class T>
void tanh(const T* __restrict x, T* __restrict y, int64_t n) { detail::each(x, y, n, [](T v) { return tanh(v); }); }
template <class T>
void sigmoid(const T* __restrict x, T* __restrict y, int64_t n) {
  detail::each(x, y, n, [](T v) { return sigmoid(v); });
}
template <class T>
void erf(const T* __restrict x, T* __restrict y, int64_t n) { detail::each(x, y, n, [](T v) { return erf(v); }); }
template <class T>
void log1p(const T* __restrict x, T* __restrict y, int64_t n) {
  detail::each(x, y, n, [](T v) { return log1p(v); });
}
template <class T>
void expm1(const T* __restrict x, T* __restrict y, int64_t n) {
  detail::each(x, y, n, [](T v) { return expm1(v); });
}
template <class T>
void softplus(const T* __restrict x, T* __restrict y, int64_t n) {
  detail::each(x, y, n, [](T v) { return softplus(v); });
}
template <class T>
void sin(const T* __restrict x, T* __restrict y, int64_t n) {
  detail::trig_array(x, y, n, [](T v) { return sin_reduced(v); }, [](T v) { return sin(v); });
}
template <class T>
void cos(const T* __restrict x, T* __restrict y, int64_t n) {
  detail::trig_array(x, y, n, [](T v) { return cos_reduced(v); }, [](T v) { return cos(v); });
}
template <class T>
void tan(const T* __restrict x, T* __restrict y, int64_t n) {
  detail::trig_array(x, y, n, [](T v) { return tan_reduced(v); }, [](T v) { return tan(v); });
}

}  // namespace vec
}  // namespace dydx::cpu
