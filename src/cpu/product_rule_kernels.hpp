// The kernels of the product rules (ops/product_rules.cpp): the products of the others along a dim
// (prod's derivatives), the running products (cumprod's) and their transpose, each with tangents.
//
// For x read as [outer, n, inner] and m tangents a_1 .. a_m of the same layout, with
// f_i = x_i + e_1 a_1i + ... + e_m a_mi (e_k^2 = 0; along n, one row o, c at a time):
//   others   out_l = [e_1 ... e_m] prod_{i != l} f_i              (P_{l-1} Q_{l+1})
//   running  out_k = [e_1 ... e_m] prod_{i <= k} f_i              (P_k)
//   reverse  out_l = [e_1 ... e_m] sum_{k >= l} g_k prod_{i <= k, i != l} f_i   (P_{l-1} S_l)
// where P and Q are the running products from either end and S_l = g_l + f_{l+1} S_{l+1}, all in the
// algebra of such numbers (2^m components, one per subset of the e's; the product of two is a sum
// over splits of the subset). With no tangent these are d prod / d x_l, cumprod itself, and
// cumprod's gradient for cotangent g; each tangent is one more derivative. Nothing is divided, so
// zeros give the exact values, and a row costs O(n 2^m m).
//
// Every partial product and sum carries its binary exponent apart (a mantissa in [0.5, 1) times 2^e,
// e an int64), so none overflows or underflows: a result that is in range comes out in range,
// whatever the magnitudes that make it (1e-300 1e-300 2 1e300 1e300: the others of the first are
// 2e300, where a plain suffix product is inf). Each result is rounded to T once, at the end (with
// tangents, a result in the subnormals is a sum rounded to 53 bits first, and may be one subnormal ulp
// from the correctly rounded value; without, it is rounded once there too). Zeros,
// infinities and nan combine by IEEE's rules in the factored forms above, which group the terms
// otherwise than their sum written out: cumprod's gradient at [inf, inf, 0] is P S = 1 (1 + inf (1 +
// 0)) = inf at the first place, where 1 + x1 + x1 x2 = 1 + inf + nan is nan (and PyTorch's is nan).
// Past the range no form is the exact value; each gives IEEE's result for its own grouping.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/product_kernels.hpp"
#include "cpu/scratch.hpp"

namespace dydx::cpu {

/// Which of the three the kernel computes (see the top of this file).
enum class ProductRule { others, running, reverse };

/// The most tangents product_rule_along takes (2^m components per element).
constexpr int kMaxProductTangents = 16;

/// An operand of product_rule_along: `rows` dense rows of [n, inner] at data, row o read at o % rows.
/// An operand broadcast along leading dims (x under vmap, where only the tangents are batched) is so
/// read where it lies instead of being copied once per sample.
template <class T>
struct ProductOperand {
  const T* data = nullptr;
  int64_t rows = 1;
};

namespace product_rule_detail {

using product_detail::renormalise;
using product_detail::times_power_of_two;

/// m * 2^e with m in [0.5, 1) (or 0, inf, nan, whose e does not count).
struct Wide {
  double m = 0.5;  // 1 by default
  int64_t e = 1;
};

inline bool finite_nonzero(double v) { return v != 0 && std::isfinite(v); }

/// v as mantissa and exponent; a subnormal double (never a float's) is scaled by 2^64 first, so that
/// its bits give its exponent too. Branch-free, so that a loop of them vectorises.
[[gnu::always_inline]] inline Wide split(double v) {
  const bool subnormal = ((std::bit_cast<uint64_t>(v) >> 52) & 0x7ff) == 0;
  Wide w{subnormal ? v * 0x1p64 : v, subnormal ? -64 : 0};
  renormalise(w.m, w.e);
  return w;
}

[[gnu::always_inline]] inline Wide times(Wide a, Wide b) {
  Wide w{a.m * b.m, a.e + b.e};
  renormalise(w.m, w.e);
  return w;
}

inline Wide plus(Wide a, Wide b) {
  if (!finite_nonzero(a.m) || !finite_nonzero(b.m)) {
    if (a.m == 0 && b.m == 0) return {a.m + b.m, 0};  // (the sign of a sum of zeros)
    if (a.m == 0) return b;
    if (b.m == 0) return a;
    return {a.m + b.m, 0};  // an infinity or nan
  }
  if (a.e < b.e) std::swap(a, b);
  // Past 2^-80 of a, b cannot change a's rounding to 53 bits; up to there 2^shift is a normal
  // double made from its bits.
  const int64_t shift = b.e - a.e;
  const double scale = shift < -80 ? 0.0 : std::bit_cast<double>(static_cast<uint64_t>(shift + 1023) << 52);
  Wide w{a.m + b.m * scale, a.e};
  if (w.m == 0) return {0.0, 0};
  renormalise(w.m, w.e);
  return w;
}

[[gnu::always_inline]] inline double value(Wide w) { return times_power_of_two(w.m, w.e); }

/// a b 2^k for a and b in [0.5, 1) (or 0, inf, nan), rounded once: each factor scaled by half of 2^k
/// (exact: both stay normal), then one multiplication, which rounds into the subnormals (if it must)
/// as the plain pass's does. (Rounding a b to 53 bits first and then to a subnormal's fewer bits can
/// differ by one subnormal ulp.)
[[gnu::always_inline]] inline double product_value(double a, double b, int64_t k) {
  if (k >= 1100 || k <= -1100) return times_power_of_two(a * b, k);  // +-inf or +-0 (or a special a b)
  const auto pow2 = [](int64_t e) { return std::bit_cast<double>(static_cast<uint64_t>(e + 1023) << 52); };
  return (a * pow2(k / 2)) * (b * pow2(k - k / 2));
}

/// The plain pass: the rows with no tangent in plain double, `lanes` rows side by side (lane j's
/// element l at x[l * step + j * lane_step]: contiguous columns vectorise across lanes; rows side by
/// side are independent chains of products, which the core overlaps). Its results are the
/// exponent-carrying path's, bit for bit, wherever every partial product (and partial sum, for
/// reverse) stays within [2^-1000, 2^1000] or is exactly 0: a factor (or g) of more than 2^60 or less
/// than 2^-60, a subnormal, an infinity or nan, or a partial outside that window (none reaches 0 from
/// inside it: the step after is at least 2^-1060) returns false, and the caller runs the
/// exponent-carrying path instead. (The reverse step g + x S is not fused into one rounding: the
/// files that include this one are compiled with -ffp-contract=off.) pm holds P_{l-1} between the passes.
template <int L, class T>
bool plain_lanes(ProductRule rule, const T* x, const T* g, T* out, int64_t n, int64_t step, int64_t runtime_lanes,
                 int64_t lane_step, double* pm) {
  constexpr int64_t kMax = L > 0 ? L : 256;
  const int64_t lanes = L > 0 ? L : runtime_lanes;
  const auto at = [&](int64_t l, int64_t j) { return l * step + j * lane_step; };
  // The factors (and g): 0 (exact) or a normal magnitude in [2^-60, 2^61), in one pass that runs
  // along memory (a row's elements, or a block's columns).
  uint64_t factors_ok = 1;
  const auto factor_ok = [](double v) {
    const uint64_t field = (std::bit_cast<uint64_t>(v) >> 52) & 0x7ff;
    return static_cast<uint64_t>(v == 0) | static_cast<uint64_t>(field - (1023 - 60) <= 120);
  };
  const auto check = [&](const T* t) {
    if (step == 1) {
      for (int64_t j = 0; j < lanes; ++j)
        for (int64_t l = 0; l < n; ++l) factors_ok &= factor_ok(static_cast<double>(t[at(l, j)]));
    } else {
      for (int64_t l = 0; l < n; ++l)
        for (int64_t j = 0; j < lanes; ++j) factors_ok &= factor_ok(static_cast<double>(t[at(l, j)]));
    }
  };
  check(x);
  if (rule == ProductRule::reverse) check(g);
  if (!factors_ok) return false;
  // Each lane's partials' smallest nonzero and largest magnitudes, checked once at the end (per
  // lane, so that the lanes stay independent operations).
  double low[kMax], high[kMax];
  for (int64_t j = 0; j < lanes; ++j) low[j] = high[j] = 1.0;
  const auto track = [&](int64_t j, double v) {
    const double a = std::fabs(v);
    low[j] = std::min(low[j], a == 0 ? 1.0 : a);
    high[j] = std::max(high[j], a);  // (no partial is nan: no factor is infinite)
  };
  const auto in_window = [&] {
    bool inside = true;
    for (int64_t j = 0; j < lanes; ++j) inside &= low[j] >= 0x1p-1000 && high[j] <= 0x1p1000;
    return inside;
  };
  double p[kMax];
  for (int64_t j = 0; j < lanes; ++j) p[j] = 1.0;
  // A long row's products leave the window early (a million factors near 1 leave it within some
  // ten thousand): the running pass gives up at the first check past that, every kCheck steps.
  constexpr int64_t kCheck = 512;
  if (rule == ProductRule::running) {
    for (int64_t l = 0; l < n; ++l) {
      for (int64_t j = 0; j < lanes; ++j) {
        p[j] *= static_cast<double>(x[at(l, j)]);
        track(j, p[j]);
        out[at(l, j)] = static_cast<T>(p[j]);
      }
      if (l % kCheck == kCheck - 1 && !in_window()) return false;
    }
    return in_window();
  }
  for (int64_t l = 0; l < n; ++l) {
    for (int64_t j = 0; j < lanes; ++j) {
      pm[l * lanes + j] = p[j];
      p[j] *= static_cast<double>(x[at(l, j)]);
      track(j, p[j]);
    }
    if (l % kCheck == kCheck - 1 && !in_window()) return false;
  }
  if (!in_window()) return false;
  if (rule == ProductRule::others) {
    for (int64_t j = 0; j < lanes; ++j) p[j] = 1.0;
    for (int64_t l = n - 1; l >= 0; --l)
      for (int64_t j = 0; j < lanes; ++j) {
        out[at(l, j)] = static_cast<T>(pm[l * lanes + j] * p[j]);
        p[j] *= static_cast<double>(x[at(l, j)]);
        track(j, p[j]);  // (a suffix may leave the window where no prefix does: 2^-999 ... 2^999)
      }
    return in_window();
  }
  // reverse: S_l = g_l + x_{l+1} S_{l+1}, from S_{n-1} = g_{n-1}.
  for (int64_t l = n - 1; l >= 0; --l)
    for (int64_t j = 0; j < lanes; ++j) {
      const double gl = static_cast<double>(g[at(l, j)]);
      p[j] = l < n - 1 ? gl + static_cast<double>(x[at(l + 1, j)]) * p[j] : gl;
      track(j, p[j]);
      out[at(l, j)] = static_cast<T>(pm[l * lanes + j] * p[j]);
    }
  return in_window();
}

/// The exponent-carrying path for running and others where every factor is 0 or a normal number
/// within 2^-60..2^61 (plain_lanes' factor check): plain products, their exponent moved out every 16
/// steps, so that none leaves 2^-960..2^960 in between; an element's result is its prefix and suffix
/// brought to [0.5, 1) and multiplied, times 2^(their exponents), rounded once. In range the scalings
/// are exact, so the bits are plain_lanes' (and, elsewhere, wide_lanes'). A chain of plain products
/// where wide_lanes splits every factor. False, with nothing written, where a factor is outside.
template <int L, class T>
bool blocked_lanes(ProductRule rule, const T* x, T* out, int64_t n, int64_t step, int64_t runtime_lanes, int64_t lane_step,
                   double* pm, int64_t* pe) {
  constexpr int64_t kMax = L > 0 ? L : 256, kSteps = 16;
  const int64_t lanes = L > 0 ? L : runtime_lanes;
  const auto at = [&](int64_t l, int64_t j) { return l * step + j * lane_step; };
  uint64_t factors_ok = 1;
  for (int64_t l = 0; l < n; ++l)
    for (int64_t j = 0; j < lanes; ++j) {
      const double v = static_cast<double>(x[at(l, j)]);
      const uint64_t field = (std::bit_cast<uint64_t>(v) >> 52) & 0x7ff;
      factors_ok &= static_cast<uint64_t>(v == 0) | static_cast<uint64_t>(field - (1023 - 60) <= 120);
    }
  if (!factors_ok) return false;
  double p[kMax];
  int64_t e[kMax];
  for (int64_t j = 0; j < lanes; ++j) p[j] = 1.0, e[j] = 0;
  for (int64_t l = 0; l < n; ++l) {
    for (int64_t j = 0; j < lanes; ++j) {
      if (rule == ProductRule::others) pm[l * lanes + j] = p[j], pe[l * lanes + j] = e[j];
      p[j] *= static_cast<double>(x[at(l, j)]);
      if (rule == ProductRule::running) {
        double m = p[j];
        int64_t f = e[j];
        renormalise(m, f);
        out[at(l, j)] = static_cast<T>(times_power_of_two(m, f));
      }
    }
    if (l % kSteps == kSteps - 1)
      for (int64_t j = 0; j < lanes; ++j) renormalise(p[j], e[j]);
  }
  if (rule == ProductRule::running) return true;
  for (int64_t j = 0; j < lanes; ++j) p[j] = 1.0, e[j] = 0;
  for (int64_t l = n - 1; l >= 0; --l) {
    for (int64_t j = 0; j < lanes; ++j) {
      double a = pm[l * lanes + j], b = p[j];
      int64_t ea = pe[l * lanes + j], eb = e[j];
      renormalise(a, ea);
      renormalise(b, eb);
      out[at(l, j)] = static_cast<T>(product_value(a, b, ea + eb));
      p[j] *= static_cast<double>(x[at(l, j)]);
    }
    if ((n - 1 - l) % kSteps == kSteps - 1)
      for (int64_t j = 0; j < lanes; ++j) renormalise(p[j], e[j]);
  }
  return true;
}

/// The same rows with every partial product and sum's exponent carried apart (Wide).
template <int L, class T>
void wide_lanes(ProductRule rule, const T* x, const T* g, T* out, int64_t n, int64_t step, int64_t runtime_lanes,
                int64_t lane_step, double* pm, int64_t* pe) {
  const auto at = [&](int64_t l, int64_t j) { return l * step + j * lane_step; };
  constexpr int64_t kMax = L > 0 ? L : 256;
  const int64_t lanes = L > 0 ? L : runtime_lanes;
  double m[kMax];
  int64_t e[kMax];
  for (int64_t j = 0; j < lanes; ++j) m[j] = 0.5, e[j] = 1;
  for (int64_t l = 0; l < n; ++l) {
    for (int64_t j = 0; j < lanes; ++j) {
      if (rule != ProductRule::running) pm[l * lanes + j] = m[j], pe[l * lanes + j] = e[j];
      const Wide p = times({m[j], e[j]}, split(static_cast<double>(x[at(l, j)])));
      m[j] = p.m, e[j] = p.e;
      if (rule == ProductRule::running) out[at(l, j)] = static_cast<T>(value(p));
    }
  }
  if (rule == ProductRule::running) return;
  if (rule == ProductRule::others) {
    for (int64_t j = 0; j < lanes; ++j) m[j] = 0.5, e[j] = 1;
    for (int64_t l = n - 1; l >= 0; --l) {
      for (int64_t j = 0; j < lanes; ++j) {
        out[at(l, j)] = static_cast<T>(product_value(pm[l * lanes + j], m[j], pe[l * lanes + j] + e[j]));
        const Wide q = times({m[j], e[j]}, split(static_cast<double>(x[at(l, j)])));
        m[j] = q.m, e[j] = q.e;
      }
    }
    return;
  }
  // reverse: S_l = g_l + x_{l+1} S_{l+1}, from S_{n-1} = g_{n-1}.
  for (int64_t l = n - 1; l >= 0; --l) {
    for (int64_t j = 0; j < lanes; ++j) {
      Wide s = split(static_cast<double>(g[at(l, j)]));
      if (l < n - 1) s = plus(s, times({m[j], e[j]}, split(static_cast<double>(x[at(l + 1, j)]))));
      m[j] = s.m, e[j] = s.e;
      out[at(l, j)] = static_cast<T>(product_value(pm[l * lanes + j], s.m, pe[l * lanes + j] + s.e));
    }
  }
}

/// A number of the algebra: 2^m components (at p[0 .. 2^m - 1]), component S (a bit set) the
/// coefficient of prod_{k in S} e_k.

/// p, a product of `absorbed` elements, times (x + sum_k e_k a_k), in place: component S gains
/// p[S \ k] a_k for each k in S. A component of more e's than p has elements is no term at all (a
/// structural zero), which is skipped rather than multiplied: 0 times an infinite x would make nan
/// of a term that is not there (the others of x_0 in [0, inf] with tangent [1, 1] are 1, not nan).
inline void times_element(Wide* p, int absorbed, double x, const double* a, int m) {
  const size_t size = size_t{1} << m;
  const Wide wx = split(x);
  Wide wa[32];
  for (int k = 0; k < m; ++k) wa[k] = split(a[k]);
  // From the largest set down, so that p[S \ k] (a smaller index) is still the old value. A sum
  // starts from its first term, not from +0, so that terms that are all -0 give -0 (as the plain pass).
  for (size_t s = size; s-- > 0;) {
    const int terms = std::popcount(s);
    if (terms > absorbed + 1) continue;  // still structural
    Wide sum{0.0, 0};
    bool any = false;
    if (terms <= absorbed) sum = times(p[s], wx), any = true;
    for (int k = 0; k < m; ++k)
      if (s >> k & 1u) {
        const Wide term = times(p[s & ~(size_t{1} << k)], wa[k]);
        sum = any ? plus(sum, term) : term;
        any = true;
      }
    p[s] = sum;
  }
}

/// The coefficient of every e in p q (products of p_count and q_count elements): the sum over S of
/// p[S] q[complement of S], structural zeros skipped.
inline Wide top_of_product(const Wide* p, int p_count, const Wide* q, int q_count, int m) {
  const size_t all = (size_t{1} << m) - 1;
  Wide sum{0.0, 0};
  bool any = false;
  for (size_t s = 0; s <= all; ++s)
    if (std::popcount(s) <= p_count && std::popcount(all ^ s) <= q_count) {
      const Wide term = times(p[s], q[all ^ s]);
      sum = any ? plus(sum, term) : term;
      any = true;
    }
  return sum;
}

/// One row with m >= 1 tangents (element l of x at x[l * step], of tangent k at a[k][l * step], of g
/// at g[l * step]). A product of c elements is structural beyond min(c, m) e's. prefix holds the
/// P_{l-1}, 2^m components each, one after another.
template <class T>
void row_with_tangents(ProductRule rule, const T* x, const T* const* a, const T* g, T* out, int64_t n, int64_t step, int m,
                       std::vector<Wide>& prefix) {
  const size_t size = size_t{1} << m;
  const auto count = [m](int64_t elements) { return static_cast<int>(std::min<int64_t>(elements, m)); };
  std::vector<Wide> one(size, Wide{0.0, 0});
  one[0] = Wide{};  // 1
  prefix.resize(static_cast<size_t>(n) * size);
  double tangents[32];
  const auto load = [&](int64_t l) {
    for (int k = 0; k < m; ++k) tangents[k] = static_cast<double>(a[k][l * step]);
  };
  const auto prefix_at = [&](int64_t l) { return prefix.data() + static_cast<size_t>(l) * size; };
  std::vector<Wide> p = one;
  for (int64_t l = 0; l < n; ++l) {
    std::copy(p.begin(), p.end(), prefix_at(l));  // P_{l-1}
    load(l);
    times_element(p.data(), count(l), static_cast<double>(x[l * step]), tangents, m);
    if (rule == ProductRule::running) out[l * step] = static_cast<T>(value(p.back()));  // all e's, once l + 1 >= m
  }
  if (rule == ProductRule::running) return;
  std::vector<Wide> s = one;
  if (rule == ProductRule::others) {
    for (int64_t l = n - 1; l >= 0; --l) {
      const int64_t after = n - 1 - l;
      out[l * step] = static_cast<T>(value(top_of_product(prefix_at(l), count(l), s.data(), count(after), m)));
      load(l);
      times_element(s.data(), count(after), static_cast<double>(x[l * step]), tangents, m);
    }
    return;
  }
  // reverse: S_l = g_l + f_{l+1} S_{l+1}, a sum of products of up to n - 1 - l elements.
  for (int64_t l = n - 1; l >= 0; --l) {
    const int64_t after = n - 1 - l;
    if (l < n - 1) {
      load(l + 1);
      times_element(s.data(), count(after - 1), static_cast<double>(x[(l + 1) * step]), tangents, m);
      s[0] = plus(s[0], split(static_cast<double>(g[l * step])));
    } else {
      s = one;
      s[0] = split(static_cast<double>(g[l * step]));
    }
    out[l * step] = static_cast<T>(value(top_of_product(prefix_at(l), count(l), s.data(), count(after), m)));
  }
}

/// L doubles side by side in one vector (GCC's vector extension: the lanes' arithmetic in SIMD
/// instructions), loaded and stored without alignment. Reinterpreted with __builtin_bit_cast, not
/// std::bit_cast: as a template argument the type loses its alignment of 8, and std::bit_cast's
/// reference then reads an 8-aligned slot with an aligned 32-byte load (a crash at -O0).
template <int L>
struct LaneVectors {
  using Doubles [[gnu::vector_size(8 * L), gnu::aligned(8)]] = double;
  using Bits [[gnu::vector_size(8 * L), gnu::aligned(8)]] = uint64_t;
};

/// row_with_tangents in plain double, L rows side by side as plain_lanes (lane j's element l of x at
/// x[l * step + j * lane_step], and so for each tangent, g and out), one lane per vector element: every
/// lane's components are added in row_with_tangents' order, so a lane's bits are its own whatever
/// shares its pass. A lane is vouched for where that gives its bits (plain_lanes' terms: every factor,
/// tangent and g 0 or within 2^-60..2^61, and every component, product of components and partial sum
/// 0 or within 2^-1000..2^1000); returns the lanes vouched for as bits, and the caller runs the others
/// again one at a time (row_with_tangents where a single lane is not vouched for either). buffer holds
/// (n + 2) 2^m L doubles. M > 0 fixes m at compile time (the loops over components then unroll), M = 0
/// takes runtime_m.
template <int L, int M, class T>
uint32_t plain_lanes_with_tangents(ProductRule rule, const T* x, const T* const* a, const T* g, T* out, int64_t n,
                                   int64_t step, int64_t lane_step, int runtime_m, double* buffer) {
  static_assert(L >= 1 && L <= 8);
  using V = typename LaneVectors<L>::Doubles;
  using B = typename LaneVectors<L>::Bits;
  const int m = M > 0 ? M : runtime_m;
  const size_t size = size_t{1} << m;
  const auto count = [m](int64_t elements) __attribute__((always_inline)) { return static_cast<int>(std::min<int64_t>(elements, m)); };
  const auto load_lanes = [&](const T* t, int64_t l) __attribute__((always_inline)) {
    V v{};
    for (int j = 0; j < L; ++j) v[j] = static_cast<double>(t[l * step + j * lane_step]);
    return v;
  };
  const auto store_lanes = [&](const V& v, int64_t l) __attribute__((always_inline)) {
    for (int j = 0; j < L; ++j) out[l * step + j * lane_step] = static_cast<T>(v[j]);
  };
  const auto as_bits = [](const V& v) __attribute__((always_inline)) { return __builtin_bit_cast(B, v); };
  const auto magnitude = [&](const V& v) __attribute__((always_inline)) { return __builtin_bit_cast(V, as_bits(v) & (~uint64_t{0} >> 1)); };
  // The factors (and g): 0 (exact) or a normal magnitude in [2^-60, 2^61), lane by lane (-1: all ones).
  B factors_ok = ~B{};
  const auto check = [&](const T* t) __attribute__((always_inline)) {
    for (int64_t l = 0; l < n; ++l) {
      const V v = load_lanes(t, l);
      const B field = (as_bits(v) >> 52) & 0x7ff;
      factors_ok &= __builtin_bit_cast(B, (v == 0) | ((field - (1023 - 60)) <= 120));
    }
  };
  check(x);
  for (int k = 0; k < m; ++k) check(a[k]);
  if (rule == ProductRule::reverse) check(g);
  bool any_ok = false;
  for (int j = 0; j < L; ++j) any_ok |= factors_ok[j] != 0;
  if (!any_ok) return 0;
  // Whether a lane's partial left the window, or rounded a product of two nonzero components to 0
  // (the carrying path keeps it), checked once at the end. Each check is a comparison with the window's
  // ends, or-ed in: no chain of dependent minima (a running minimum and maximum made every check wait
  // on the one before, and a third of the time went to that chain).
  B outside = B{};
  const auto track = [&](const V& v) __attribute__((always_inline)) {
    const V size_of = magnitude(v);
    outside |= __builtin_bit_cast(B, ((size_of < 0x1p-1000) & (size_of != 0)) | (size_of > 0x1p1000));
    return v;
  };
  // P_{l-1}: n sets of 2^m components. The running product p and the product or sum from the far end
  // s live in registers where m is known (in memory, a wide load of what was just stored in halves
  // waits for the stores: a sixth of the time).
  V* const prefix = reinterpret_cast<V*>(buffer);
  constexpr size_t kLocal = M > 0 ? size_t{1} << M : 1;
  V p_local[kLocal], s_local[kLocal];
  V* const p = M > 0 ? p_local : prefix + n * size;
  V* const s = M > 0 ? s_local : prefix + (n + 1) * size;
  V factor, tangents[kMaxProductTangents];
  const auto load = [&](int64_t l) __attribute__((always_inline)) {
    factor = load_lanes(x, l);
    for (int k = 0; k < m; ++k) tangents[k] = load_lanes(a[k], l);
  };
  const auto set_one = [&](V* q) __attribute__((always_inline)) {
    for (size_t set = 0; set < size; ++set) q[set] = V{} + (set == 0 ? 1.0 : 0.0);
  };
  // q, a product of `absorbed` elements, times the loaded element, in place (times_element's order).
  const auto times_element = [&](V* q, int absorbed) __attribute__((always_inline)) {
    for (size_t set = size; set-- > 0;) {
      const int terms = std::popcount(set);
      if (terms > absorbed + 1) continue;
      V sum{};
      bool any = false;
      if (terms <= absorbed) sum = track(q[set] * factor), any = true;
      for (int k = 0; k < m; ++k)
        if (set >> k & 1u) {
          const V term = track(q[set & ~(size_t{1} << k)] * tangents[k]);
          sum = any ? track(sum + term) : term;
          any = true;
        }
      q[set] = sum;
    }
  };
  // The coefficient of every e in q r (top_of_product's order).
  const auto top_of_product = [&](const V* q, int q_count, const V* r, int r_count) __attribute__((always_inline)) {
    const size_t all = size - 1;
    V sum{};
    bool any = false;
    for (size_t set = 0; set <= all; ++set)
      if (std::popcount(set) <= q_count && std::popcount(all ^ set) <= r_count) {
        const V u = q[set], v = r[all ^ set];
        const V term = track(u * v);
        outside |= __builtin_bit_cast(B, (term == 0) & (u != 0) & (v != 0));
        sum = any ? track(sum + term) : term;
        any = true;
      }
    return sum;
  };
  set_one(p);
  for (int64_t l = 0; l < n; ++l) {
    for (size_t set = 0; set < size; ++set) prefix[l * size + set] = p[set];
    load(l);
    times_element(p, count(l));
    if (rule == ProductRule::running) store_lanes(p[size - 1], l);
  }
  if (rule != ProductRule::running) {
    set_one(s);
    for (int64_t l = n - 1; l >= 0; --l) {
      const int64_t after = n - 1 - l;
      if (rule == ProductRule::reverse) {
        if (l < n - 1) {
          load(l + 1);
          times_element(s, count(after - 1));
          s[0] = track(load_lanes(g, l) + s[0]);
        } else {
          set_one(s);
          s[0] = load_lanes(g, l);
        }
      }
      store_lanes(top_of_product(prefix + l * size, count(l), s, count(after)), l);
      if (rule == ProductRule::others) {
        load(l);
        times_element(s, count(after));
      }
    }
  }
  const B vouched = factors_ok & ~outside;
  uint32_t mask = 0;
  for (int j = 0; j < L; ++j) mask |= static_cast<uint32_t>(vouched[j] != 0) << j;
  return mask;
}

}  // namespace product_rule_detail

namespace product_rule_detail {
/// The passes' P_{l-1} without tangents, `kept` mantissas and (for the exponent-carrying passes)
/// as many exponents, from this thread's kept buffer: a row of a million took 16 MB per call, whose
/// page faults and zeroing cost a third of its time.
class Buffers {
 public:
  Buffers(ProductRule rule, size_t kept) : kept_(rule == ProductRule::running ? 0 : kept), scratch_(2 * kept_) {}
  double* mantissas() const { return reinterpret_cast<double*>(scratch_.get()); }
  int64_t* exponents() const { return reinterpret_cast<int64_t*>(scratch_.get() + kept_); }

 private:
  size_t kept_;
  Scratch<uint64_t> scratch_;
};
}  // namespace product_rule_detail

/// out = the rule's products of x along n with tangents a[0 .. m - 1] (and, for `reverse`, weights
/// g; see the top of this file); out dense [outer, n, inner], each operand as ProductOperand says.
/// m <= kMaxProductTangents.
template <class T>
void product_rule_along(ProductRule rule, ProductOperand<T> x, const ProductOperand<T>* a, int m, ProductOperand<T> g,
                        T* out, int64_t outer, int64_t n, int64_t inner) {
  using namespace product_rule_detail;
  if (outer == 0 || n == 0 || inner == 0) return;
  // m tangents need m distinct places (others: beside l; running: up to k; reverse: beside l up to
  // the end): where no row has that many, every coefficient is zero.
  if (m > (rule == ProductRule::running ? n : n - 1)) {
    std::fill(out, out + outer * n * inner, T(0));
    return;
  }
  const int64_t row_size = n * inner;
  // Operand t's element (row o, column c), and whether rows o .. o + count - 1 lie one after another.
  const auto place = [&](const ProductOperand<T>& t, int64_t o, int64_t c) {
    return t.data == nullptr ? nullptr : t.data + o % t.rows * row_size + c;
  };
  const auto consecutive = [&](const ProductOperand<T>& t, int64_t o, int64_t count) {
    return t.data == nullptr || o % t.rows + count <= t.rows;
  };
  if (m == 0 && inner == 1) {
    // Along the last dim, four rows side by side: four independent chains of products, which the
    // core overlaps (one row's chain alone would wait on the multiplier's latency at every step).
    constexpr int64_t kRows = 4;
    parallel_for((outer + kRows - 1) / kRows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n * kRows, 1)),
                 [&](int64_t first, int64_t last) {
      const size_t kept = static_cast<size_t>(n * std::min(kRows, outer));
      Buffers buffers(rule, kept);
      double* const pm = buffers.mantissas();
      const auto rows = [&](auto lanes, int64_t r0) {
        constexpr int L = decltype(lanes)::value;
        const T* xb = place(x, r0, 0);
        const T* gb = place(g, r0, 0);
        if (plain_lanes<L>(rule, xb, gb, out + r0 * n, n, 1, L, n, pm)) return;
        if (rule != ProductRule::reverse && blocked_lanes<L>(rule, xb, out + r0 * n, n, 1, L, n, pm, buffers.exponents()))
          return;
        wide_lanes<L>(rule, xb, gb, out + r0 * n, n, 1, L, n, pm, buffers.exponents());
      };
      for (int64_t task = first; task < last; ++task) {
        const int64_t r0 = task * kRows;
        if (outer - r0 >= kRows && consecutive(x, r0, kRows) && consecutive(g, r0, kRows))
          rows(std::integral_constant<int, kRows>{}, r0);
        else
          for (int64_t r = r0; r < std::min(outer, r0 + kRows); ++r) rows(std::integral_constant<int, 1>{}, r);
      }
    });
    return;
  }
  if (m == 0) {
    // Along an outer dim, blocks of up to 256 columns side by side, in vector lanes. The plain pass
    // first; where it cannot vouch for its results, the exponent-carrying one.
    const int64_t width = std::min<int64_t>(256, inner);
    const int64_t column_blocks = (inner + width - 1) / width;
    parallel_for(outer * column_blocks, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n * width, 1)),
                 [&](int64_t first, int64_t last) {
      const size_t kept = static_cast<size_t>(n * width);
      Buffers buffers(rule, kept);
      double* const pm = buffers.mantissas();
      for (int64_t task = first; task < last; ++task) {
        const int64_t o = task / column_blocks, c0 = task % column_blocks * width, lanes = std::min(width, inner - c0);
        T* const ob = out + o * row_size + c0;
        const T* xb = place(x, o, c0);
        const T* gb = place(g, o, c0);
        if (plain_lanes<0>(rule, xb, gb, ob, n, inner, lanes, 1, pm)) continue;
        if (rule != ProductRule::reverse && blocked_lanes<0>(rule, xb, ob, n, inner, lanes, 1, pm, buffers.exponents()))
          continue;
        wide_lanes<0>(rule, xb, gb, ob, n, inner, lanes, 1, pm, buffers.exponents());
      }
    });
    return;
  }
  // With tangents: four rows (along the last dim) or four columns side by side in the plain pass, each
  // lane it cannot vouch for again on its own, and the exponent-carrying pass for a row that fails alone.
  // Lanes cost their buffer four times over, so rows of very many components go one at a time.
  const size_t size = size_t{1} << m;
  const int64_t lanes = static_cast<uint64_t>(n) * size <= (uint64_t{1} << 16) ? 4 : 1;
  const int64_t groups_per_row = inner == 1 ? 1 : (inner + lanes - 1) / lanes;
  const int64_t groups = inner == 1 ? (outer + lanes - 1) / lanes : outer * groups_per_row;
  parallel_for(groups, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>((n * lanes) << (m + 2), 1)),
               [&](int64_t first, int64_t last) {
    std::vector<Wide> prefix;
    const Scratch<double> plain((static_cast<size_t>(n) + 2) * size * static_cast<size_t>(lanes));
    const T* rows[kMaxProductTangents];
    // Lanes `count` from (o, c), each a row (inner == 1) or a column apart; `vouched` lanes are done.
    const auto run = [&](auto lane_count, int64_t o, int64_t c) {
      constexpr int L = decltype(lane_count)::value;
      const int64_t lane_step = inner == 1 ? n : 1;
      for (int k = 0; k < m; ++k) rows[k] = place(a[k], o, c);
      const T* const xb = place(x, o, c);
      const T* const gb = place(g, o, c);
      T* const ob = out + o * row_size + c;
      // A first and a second derivative (the common cases) with their loops over components unrolled.
      if (m == 1) return plain_lanes_with_tangents<L, 1>(rule, xb, rows, gb, ob, n, inner, lane_step, m, plain.get());
      if (m == 2) return plain_lanes_with_tangents<L, 2>(rule, xb, rows, gb, ob, n, inner, lane_step, m, plain.get());
      return plain_lanes_with_tangents<L, 0>(rule, xb, rows, gb, ob, n, inner, lane_step, m, plain.get());
    };
    const auto alone = [&](int64_t o, int64_t c) {
      if (run(std::integral_constant<int, 1>{}, o, c)) return;
      for (int k = 0; k < m; ++k) rows[k] = place(a[k], o, c);
      row_with_tangents(rule, place(x, o, c), rows, place(g, o, c), out + o * row_size + c, n, inner, m, prefix);
    };
    for (int64_t group = first; group < last; ++group) {
      const int64_t o = inner == 1 ? group * lanes : group / groups_per_row;
      const int64_t c = inner == 1 ? 0 : group % groups_per_row * lanes;
      const int64_t count = std::min(lanes, inner == 1 ? outer - o : inner - c);
      bool side_by_side = lanes == 4 && count == 4;
      if (inner == 1) {
        side_by_side = side_by_side && consecutive(x, o, 4) && consecutive(g, o, 4);
        for (int k = 0; k < m; ++k) side_by_side = side_by_side && consecutive(a[k], o, 4);
      }
      const uint32_t vouched = side_by_side ? run(std::integral_constant<int, 4>{}, o, c) : 0;
      for (int64_t j = 0; j < count; ++j)
        if (!(vouched >> j & 1u)) alone(inner == 1 ? o + j : o, inner == 1 ? c : c + j);
    }
  });
}

}  // namespace dydx::cpu
