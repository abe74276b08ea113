// The products of the others along a dim, and their derivatives: the kernel of prod's rules
// (ops/prod.cpp's prod_others).
//
// For x read as [outer, n, inner] and m tangents a_1 .. a_m of the same layout, out[o, l, c] is the
// coefficient of e_1 e_2 ... e_m in
//     prod_{i != l} (x_i + e_1 a_1i + ... + e_m a_mi),     e_k^2 = 0 (the row o, c along n):
// with no tangent, the product of every element of the row but x_l (d prod / d x_l); with one, the
// derivative of that along a_1 (sum over k != l of a_1k times the product of the rest); and so on.
// It is prefix(l - 1) times suffix(l + 1) in the algebra of such numbers (2^m components, one per
// subset of the e's; the product of two is a sum over splits of the subset), so nothing is divided:
// zeros give the exact values, and a row of n elements costs O(n 2^m m).
//
// Every partial product carries its binary exponent apart (a mantissa in [0.5, 1) times 2^e, e an
// int64), so none overflows or underflows: a result that is in range comes out in range, whatever
// the magnitudes of the factors that make it (1e-300 1e-300 2 1e300 1e300: the others of the first
// are 2e300, where a plain suffix product is inf). Each result is rounded to T once, at the end;
// zeros, infinities and nan combine as IEEE's products and sums (0 times inf is nan).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/product_kernels.hpp"

namespace dydx::cpu {
namespace others_detail {

using product_detail::renormalise;
using product_detail::times_power_of_two;

/// m * 2^e with m in [0.5, 1) (or 0, inf, nan, whose e does not count).
struct Wide {
  double m = 0.5;
  int64_t e = 1;  // 1 by default
};

inline bool finite_nonzero(double v) { return v != 0 && std::isfinite(v); }

/// v as mantissa and exponent; a subnormal double (never a float's) is scaled by 2^64 first, so that
/// its bits give its exponent too. Branch-free, so that a loop of them vectorises.
inline Wide split(double v) {
  const bool subnormal = ((std::bit_cast<uint64_t>(v) >> 52) & 0x7ff) == 0;
  Wide w{subnormal ? v * 0x1p64 : v, subnormal ? -64 : 0};
  renormalise(w.m, w.e);
  return w;
}

inline Wide times(Wide a, Wide b) {
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
  // Past 2^-80 of a, b cannot change a's rounding to 53 bits.
  const int64_t shift = b.e - a.e;
  Wide w{a.m + (shift < -80 ? 0.0 : std::ldexp(b.m, static_cast<int>(shift))), a.e};
  if (w.m == 0) return {0.0, 0};
  renormalise(w.m, w.e);
  return w;
}

inline double value(Wide w) { return times_power_of_two(w.m, w.e); }

/// The rows with no tangent: out_l = prefix_{l-1} suffix_{l+1}, for `lanes` rows side by side
/// (lane j's element l at base[l * step + j * lane_step]), so that the running products of
/// different rows are independent operations the compiler lays in vector lanes.
template <class T>
void others_lanes(const T* x, T* out, int64_t n, int64_t step, int64_t lanes, int64_t lane_step, double* pm, int64_t* pe) {
  constexpr int64_t kMax = 256;
  double m[kMax];
  int64_t e[kMax];
  for (int64_t j = 0; j < lanes; ++j) m[j] = 0.5, e[j] = 1;
  for (int64_t l = 0; l < n; ++l) {
    for (int64_t j = 0; j < lanes; ++j) {
      pm[l * lanes + j] = m[j];
      pe[l * lanes + j] = e[j];
      const Wide f = split(static_cast<double>(x[l * step + j * lane_step]));
      const Wide p = times({m[j], e[j]}, f);
      m[j] = p.m, e[j] = p.e;
    }
  }
  for (int64_t j = 0; j < lanes; ++j) m[j] = 0.5, e[j] = 1;
  for (int64_t l = n - 1; l >= 0; --l) {
    for (int64_t j = 0; j < lanes; ++j) {
      // Both mantissas in [0.5, 1) or special: their product in [0.25, 1), as times_power_of_two takes.
      out[l * step + j * lane_step] = static_cast<T>(times_power_of_two(pm[l * lanes + j] * m[j], pe[l * lanes + j] + e[j]));
      const Wide f = split(static_cast<double>(x[l * step + j * lane_step]));
      const Wide s = times({m[j], e[j]}, f);
      m[j] = s.m, e[j] = s.e;
    }
  }
}

/// A number of the algebra: 2^m components, component S (a bit set) the coefficient of prod_{k in S} e_k.
using Number = std::vector<Wide>;

/// p, a product of `absorbed` elements, times (x + sum_k e_k a_k), in place: component S gains
/// p[S \ k] a_k for each k in S. A component of more e's than p has elements is no term at all (a
/// structural zero), which is skipped rather than multiplied: 0 times an infinite x would make nan
/// of a term that is not there (the others of x_0 in [0, inf] with tangent [1, 1] are 1, not nan).
inline void times_element(Number& p, int absorbed, double x, const double* a, int m) {
  const size_t size = p.size();
  const Wide wx = split(x);
  Wide wa[32];
  for (int k = 0; k < m; ++k) wa[k] = split(a[k]);
  // From the largest set down, so that p[S \ k] (a smaller index) is still the old value.
  for (size_t s = size; s-- > 0;) {
    const int terms = std::popcount(s);
    if (terms > absorbed + 1) continue;  // still structural
    Wide sum{0.0, 0};
    if (terms <= absorbed) sum = times(p[s], wx);
    for (int k = 0; k < m; ++k)
      if (s >> k & 1u) sum = plus(sum, times(p[s & ~(size_t{1} << k)], wa[k]));
    p[s] = sum;
  }
}

/// The coefficient of every e in p q (products of p_count and q_count elements): the sum over S of
/// p[S] q[complement of S], structural zeros skipped.
inline Wide top_of_product(const Number& p, int p_count, const Number& q, int q_count) {
  const size_t all = p.size() - 1;
  Wide sum{0.0, 0};
  for (size_t s = 0; s <= all; ++s)
    if (std::popcount(s) <= p_count && std::popcount(all ^ s) <= q_count) sum = plus(sum, times(p[s], q[all ^ s]));
  return sum;
}

/// One row with m >= 1 tangents (element l of x at x[l * step], of tangent k at a[k][l * step]).
template <class T>
void others_row(const T* x, const T* const* a, T* out, int64_t n, int64_t step, int m, std::vector<Number>& prefix) {
  const size_t size = size_t{1} << m;
  Number one(size, Wide{0.0, 0});
  one[0] = Wide{};  // 1
  prefix.assign(static_cast<size_t>(n), one);
  double tangents[32];
  Number p = one;
  for (int64_t l = 0; l < n; ++l) {
    prefix[l] = p;
    for (int k = 0; k < m; ++k) tangents[k] = static_cast<double>(a[k][l * step]);
    times_element(p, static_cast<int>(std::min<int64_t>(l, m)), static_cast<double>(x[l * step]), tangents, m);
  }
  Number s = one;
  for (int64_t l = n - 1; l >= 0; --l) {
    const int64_t after = n - 1 - l;
    out[l * step] = static_cast<T>(value(top_of_product(prefix[l], static_cast<int>(std::min<int64_t>(l, m)), s,
                                                        static_cast<int>(std::min<int64_t>(after, m)))));
    for (int k = 0; k < m; ++k) tangents[k] = static_cast<double>(a[k][l * step]);
    times_element(s, static_cast<int>(std::min<int64_t>(after, m)), static_cast<double>(x[l * step]), tangents, m);
  }
}

}  // namespace others_detail

/// The most tangents others_along takes (2^m components per element).
constexpr int kMaxOthersTangents = 16;

/// out = the products of the others of x along n with tangents a[0 .. m - 1] (see the top of this
/// file); x, every a[k] and out dense [outer, n, inner]. m <= kMaxOthersTangents.
template <class T>
void others_along(const T* x, const T* const* a, int m, T* out, int64_t outer, int64_t n, int64_t inner) {
  using namespace others_detail;
  if (outer == 0 || n == 0 || inner == 0) return;
  if (m >= n) {  // m tangents at m distinct places beside l: none fits
    std::fill(out, out + outer * n * inner, T(0));
    return;
  }
  if (m == 0) {
    // Blocks of up to 256 columns along an outer dim, or of 16 rows along the last.
    const int64_t width = inner == 1 ? 16 : 256;
    const int64_t rows = inner == 1 ? outer : outer * ((inner + width - 1) / width);
    parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n * width, 1)), [&](int64_t first, int64_t last) {
      std::vector<double> pm(static_cast<size_t>(n * width));
      std::vector<int64_t> pe(static_cast<size_t>(n * width));
      if (inner == 1) {
        for (int64_t r = first * 1; r < last; r += width) {
          const int64_t lanes = std::min(width, last - r);
          others_lanes(x + r * n, out + r * n, n, 1, lanes, n, pm.data(), pe.data());
        }
        return;
      }
      const int64_t blocks = (inner + width - 1) / width;
      for (int64_t task = first; task < last; ++task) {
        const int64_t o = task / blocks, c0 = task % blocks * width, lanes = std::min(width, inner - c0);
        const int64_t base = o * n * inner + c0;
        others_lanes(x + base, out + base, n, inner, lanes, 1, pm.data(), pe.data());
      }
    });
    return;
  }
  parallel_for(outer * inner, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n << (m + 2), 1)), [&](int64_t first, int64_t last) {
    std::vector<Number> prefix;
    const T* rows[kMaxOthersTangents];
    for (int64_t task = first; task < last; ++task) {
      const int64_t o = task / inner, c = task % inner, base = o * n * inner + c;
      for (int k = 0; k < m; ++k) rows[k] = a[k] + base;
      others_row(x + base, rows, out + base, n, inner, m, prefix);
    }
  });
}

}  // namespace dydx::cpu
