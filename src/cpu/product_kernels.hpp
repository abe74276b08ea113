// The product reduction (prod) of a dense block read as [outer, n, inner], along n.
//
// A floating product is formed in double with its exponent carried apart: the running value is a
// mantissa near 1 times 2^e (e an int64), so no partial product overflows or underflows, whatever the
// order of the factors. A product that is in range is then in range here, where a plain running
// product (PyTorch's, in float32 for float32 input, or in strided vector lanes for float64) can give
// inf, 0 or nan (1e30 1e-30 1e30 1e-30 1e30 in float32, 1e200 x 3 then 1e-200 x 3 in float64). The
// result is rounded to T once, at the end (float32 input: the double product, within n ulps of
// double, rounded to float).
//
// Two passes, the first exact for nearly all data:
//   - the window pass multiplies plainly in double lanes and moves each lane's exponent out every K
//     steps; it is exact while every finite nonzero factor's magnitude lies in a window [2^-W, 2^W]
//     with K W <= 1000, which two unsigned compares of the magnitude's bits check per element. Zeros,
//     infinities and nan may come too: a plain product gives IEEE's result for them (0 * inf is nan,
//     signs multiply) as long as the finite part does not overflow or underflow, and the lanes keep
//     them (renormalise leaves them alone). Short rows (n <= 16, inner == 1) take it a block of rows
//     at a time with W = 1000 / n and no exponent to carry, each row's product in one register.
//   - a row or block of columns with a factor outside the window takes the split pass: each factor's
//     bits give its mantissa (in [1, 2), signed) and exponent, the mantissas multiply in lanes and
//     the exponents add, and zeros, infinities and nan are only noted (with their signs), all as
//     vector operations; the result is IEEE's for those, else the mantissas' product times
//     2^(sum of exponents), rounded once. A float64 subnormal factor (float32 ones are normal
//     doubles) is split by frexp instead, one element at a time (WideProduct), where a row or column
//     has one.
// Integer products wrap in uint64, in any order (multiplication mod 2^64 is associative and
// commutative, so the lanes give the exact wrapped product).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "cpu/parallel.hpp"

namespace dydx::cpu {
namespace product_detail {

/// A product of any finite, zero, infinite or nan factors, exactly in range: mantissa * 2^exponent,
/// and flags for the factors that are not finite nonzero numbers (their signs in `negative`).
struct WideProduct {
  double mantissa = 1.0;
  int64_t exponent = 0;
  bool zero = false, infinite = false, nan = false, negative = false;

  void absorb(double v) {
    if (std::isnan(v)) {
      nan = true;
    } else if (v == 0 || std::isinf(v)) {
      (v == 0 ? zero : infinite) = true;
      negative ^= std::signbit(v);
    } else {
      int e = 0;
      mantissa *= std::frexp(v, &e);  // frexp is exact, subnormals included
      exponent += e;
      mantissa = std::frexp(mantissa, &e);  // back to [0.5, 1), so the next factor cannot underflow it
      exponent += e;
    }
  }
  /// The product rounded once (ldexp rounds only where the result is subnormal or overflows).
  double value() const {
    if (nan || (zero && infinite)) return std::numeric_limits<double>::quiet_NaN();
    const bool sign = negative != std::signbit(mantissa);
    if (zero) return sign ? -0.0 : 0.0;
    if (infinite) return sign ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    // Past +-4000 the result is inf or 0 either way; the clamp keeps the int argument in range.
    return std::ldexp(mantissa, static_cast<int>(std::clamp<int64_t>(exponent, -4000, 4000)));
  }
};

template <class T>
double wide_strided(const T* x, int64_t n, int64_t stride) {
  WideProduct p;
  for (int64_t i = 0; i < n; ++i) p.absorb(static_cast<double>(x[i * stride]));
  return p.value();
}

/// The window [2^-w, 2^w] for T's finite nonzero magnitudes, as bits: a factor is outside it when
/// (|bits| - low) > span while 1 <= |bits| < inf's bits (zeros, infinities and nan pass).
template <class T>
struct Window {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  static constexpr int kMantissaBits = std::numeric_limits<T>::digits - 1;
  static constexpr int kBias = std::numeric_limits<T>::max_exponent - 1;
  static constexpr Bits kAbs = ~(Bits{1} << (8 * sizeof(T) - 1));
  static constexpr Bits kInf = std::bit_cast<Bits>(std::numeric_limits<T>::infinity());
  Bits low, span;
  /// w binary orders either side of 1, as far as T reaches (float: all its finite values).
  explicit constexpr Window(int w) {
    const int lowest = std::max(kBias - w, 0), highest = std::min(kBias + w, 2 * kBias);
    low = lowest == 0 ? Bits{1} : static_cast<Bits>(Bits(lowest) << kMantissaBits);
    span = (static_cast<Bits>(Bits(highest + 1) << kMantissaBits) - 1) - low;
  }
  /// 0 for a factor inside (or a zero, infinity or nan), else nonzero: or-ed over many factors.
  Bits outside(T v) const {
    const Bits magnitude = std::bit_cast<Bits>(v) & kAbs;
    return static_cast<Bits>((magnitude - low > span) & (magnitude - 1 < kInf - 1));
  }
};

/// The long rows' and columns' windows, tried in turn: K = 16 steps between renormalisations with
/// W = 60 (2^960), then K = 4 with W = 250 (2^1000), which takes factors up to 1e75 at a quarter
/// more work.
struct Tier {
  int steps, orders;
};
constexpr Tier kTiers[] = {{16, 60}, {4, 250}};

/// Moves v's binary exponent into e, leaving v in [0.5, 1), where v is finite, nonzero and normal;
/// a zero, infinity or nan stays as it is. Bit operations, which vectorise over lanes.
[[gnu::always_inline]] inline void renormalise(double& v, int64_t& e) {
  const uint64_t bits = std::bit_cast<uint64_t>(v), field = (bits >> 52) & 0x7ff;
  const bool special = field == 0 || field == 0x7ff;
  e += special ? 0 : static_cast<int64_t>(field) - 1022;
  v = special ? v : std::bit_cast<double>((bits & 0x800fffffffffffffull) | (uint64_t{1022} << 52));
}

/// m * 2^e for m in [2^-32, 2) (or 0, inf, nan), rounded once: a multiplication by a power of two
/// built from its bits where that is normal, ldexp beyond.
[[gnu::always_inline]] inline double times_power_of_two(double m, int64_t e) {
  if (e > -1000 && e < 1000) return m * std::bit_cast<double>(static_cast<uint64_t>(e + 1023) << 52);
  // Far past the range the result is +-inf or +-0 whatever m's own 2^-32..2, without ldexp's slow path
  // or a subnormal product's (a zero, infinity or nan m stays as it is).
  if (e >= 1100 || e <= -1100) return m == 0 || !std::isfinite(m) ? m : std::copysign(e > 0 ? HUGE_VAL : 0.0, m);
  return std::ldexp(m, static_cast<int>(e));
}

/// The split pass's state for kLanes products side by side (structure of arrays, so that each
/// step is vector operations): a signed mantissa times 2^exponent, the special factors as bits of
/// `notes` (1 zero, 2 infinity, 4 nan, 8 float64 subnormal) and their signs' parity.
template <int kLanes>
struct Split {
  static constexpr uint64_t kZero = 1, kInfinite = 2, kNan = 4, kSubnormal = 8;
  static constexpr int kSteps = 512;  // factors in [1, 2) between renormalisations: below 2^512
  double mantissa[kLanes];
  int64_t exponent[kLanes];
  uint64_t notes[kLanes], sign[kLanes];
  int64_t steps = 0;
  explicit Split(int width = kLanes) {
    for (int l = 0; l < width; ++l) mantissa[l] = 1.0, exponent[l] = 0, notes[l] = 0, sign[l] = 0;
  }
  template <class T>
  void absorb(const T* x, int width) {
    for (int l = 0; l < width; ++l) {
      const uint64_t bits = std::bit_cast<uint64_t>(static_cast<double>(x[l])), magnitude = bits & 0x7fffffffffffffffull;
      const uint64_t field = magnitude >> 52;
      const bool special = field == 0 || field == 0x7ff;
      notes[l] |= (magnitude == 0 ? kZero : 0) | (magnitude == 0x7ff0000000000000ull ? kInfinite : 0) |
                  (magnitude > 0x7ff0000000000000ull ? kNan : 0) | (field == 0 && magnitude != 0 ? kSubnormal : 0);
      sign[l] ^= special ? bits >> 63 : 0;  // a normal factor's sign is in its mantissa
      mantissa[l] *= special ? 1.0 : std::bit_cast<double>((bits & 0x800fffffffffffffull) | (uint64_t{1023} << 52));
      exponent[l] += special ? 0 : static_cast<int64_t>(field) - 1023;
    }
    if (++steps == kSteps) {
      for (int l = 0; l < width; ++l) renormalise(mantissa[l], exponent[l]);
      steps = 0;
    }
  }
  /// Lane l's product; `wide` is set (and the result meaningless) where a float64 subnormal factor
  /// needs WideProduct.
  double value(int l, bool& wide) const {
    if ((notes[l] & kNan) || ((notes[l] & kZero) && (notes[l] & kInfinite))) return std::numeric_limits<double>::quiet_NaN();
    const bool negative = ((sign[l] & 1) != 0) != std::signbit(mantissa[l]);
    if (notes[l] & kZero) return negative ? -0.0 : 0.0;
    if (notes[l] & kInfinite) return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    if (notes[l] & kSubnormal) {
      wide = true;
      return 0;
    }
    int e = 0;
    const double m = std::frexp(mantissa[l], &e);
    return times_power_of_two(m, exponent[l] + e);
  }
};

/// The split pass over a contiguous row: 16 products side by side, combined at the end.
template <class T>
double split_row(const T* x, int64_t n) {
  constexpr int kLanes = 16;
  Split<kLanes> lanes;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) lanes.absorb(x + i, kLanes);
  Split<kLanes> tail;
  tail.absorb(x + i, static_cast<int>(n - i));
  // Lane l's product with the tail's lane l, then all lanes' into lane 0: a split of the lanes'
  // products (each renormalised to [0.5, 1) first, so that they cannot leave the range).
  double mantissa = 1.0;
  int64_t exponent = 0;
  uint64_t notes = 0, sign = 0;
  for (int l = 0; l < kLanes; ++l) {
    for (const auto* part : {&lanes, &tail}) {
      if (part == &tail && l >= n - i) break;
      double m = part->mantissa[l];
      int64_t e = part->exponent[l];
      renormalise(m, e);
      mantissa *= m;
      exponent += e;
      renormalise(mantissa, exponent);
      notes |= part->notes[l];
      sign ^= part->sign[l];
    }
  }
  Split<1> total;
  total.mantissa[0] = mantissa, total.exponent[0] = exponent, total.notes[0] = notes, total.sign[0] = sign;
  bool wide = false;
  const double v = total.value(0, wide);
  return wide ? wide_strided(x, n, 1) : v;
}

/// The window pass over a contiguous row with a tier's window and steps: kLanes running products
/// side by side (independent multiplies, which vectorise), the window checked as they go; `outside`
/// is set (and the result meaningless) where a factor lies outside it.
template <class T, int kSteps, int kOrders>
double window_row(const T* x, int64_t n, bool& outside) {
  using Bits = typename Window<T>::Bits;
  constexpr Window<T> window(kOrders);
  constexpr int kLanes = 32;  // four vectors of doubles: independent chains that hide the multiply latency
  double lanes[kLanes];
  int64_t exponents[kLanes];
  Bits bad[kLanes];  // per lane, so that the check is a vector or in the same pass, no reduction
  std::fill(lanes, lanes + kLanes, 1.0);
  std::fill(exponents, exponents + kLanes, int64_t{0});
  std::fill(bad, bad + kLanes, Bits{0});
  int64_t i = 0;
  while (i + kLanes <= n) {
    const int64_t steps = std::min<int64_t>(kSteps, (n - i) / kLanes);
    for (int64_t s = 0; s < steps; ++s, i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        bad[l] |= window.outside(x[i + l]);
        lanes[l] *= static_cast<double>(x[i + l]);
      }
    Bits any = 0;
    for (int l = 0; l < kLanes; ++l) any |= bad[l];
    if (any) {  // a lane may be out of range now: the caller starts again
      outside = true;
      return 0;
    }
    for (int l = 0; l < kLanes; ++l) renormalise(lanes[l], exponents[l]);
  }
  // The tail (fewer than kLanes), one factor into each of the first lanes.
  for (int64_t l = 0; i + l < n; ++l) {
    bad[l] |= window.outside(x[i + l]);
    lanes[l] *= static_cast<double>(x[i + l]);
  }
  Bits any = 0;
  for (int l = 0; l < kLanes; ++l) any |= bad[l];
  if (any) {
    outside = true;
    return 0;
  }
  for (int l = 0; l < kLanes; ++l) renormalise(lanes[l], exponents[l]);
  // The lanes' product: their mantissas, in [0.5, 1) (or 0, inf, nan), folded in halves (five folds
  // keep the product above 2^-32, far from any range limit), and their exponents summed.
  int64_t exponent = 0;
  for (int l = 0; l < kLanes; ++l) exponent += exponents[l];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) lanes[l] *= lanes[l + width];
  return times_power_of_two(lanes[0], exponent);
}

/// A long contiguous row's product: the window pass of each tier in turn, then the split pass.
template <class T>
double long_row(const T* x, int64_t n) {
  bool outside = false;
  double v = window_row<T, kTiers[0].steps, kTiers[0].orders>(x, n, outside);
  if (!outside) return v;
  outside = false;
  v = window_row<T, kTiers[1].steps, kTiers[1].orders>(x, n, outside);
  return outside ? split_row(x, n) : v;
}

/// A block of `width` columns' products over n rows `inner` apart (base at row 0), into y: the
/// window pass of a tier (each column's running product in double, renormalised every `steps` rows;
/// none with n <= steps); false, with y untouched, where a factor lies outside the window.
template <class T>
bool window_columns(const T* base, T* y, int64_t n, int64_t inner, int64_t width, int steps, const Window<T>& window) {
  using Bits = typename Window<T>::Bits;
  constexpr int64_t kBlock = 256;
  double acc[kBlock];
  int64_t exponents[kBlock];
  std::fill(acc, acc + width, 1.0);
  std::fill(exponents, exponents + width, int64_t{0});
  Bits bad = 0;
  for (int64_t i = 0; i < n;) {
    const int64_t run = std::min<int64_t>(steps, n - i);
    for (int64_t s = 0; s < run; ++s, ++i) {
      const T* x = base + i * inner;
      for (int64_t c = 0; c < width; ++c) {
        bad |= window.outside(x[c]);
        acc[c] *= static_cast<double>(x[c]);
      }
    }
    if (bad) return false;
    if (i < n)
      for (int64_t c = 0; c < width; ++c) renormalise(acc[c], exponents[c]);
  }
  if (n <= steps) {
    for (int64_t c = 0; c < width; ++c) y[c] = static_cast<T>(acc[c]);
  } else {
    for (int64_t c = 0; c < width; ++c) {
      renormalise(acc[c], exponents[c]);
      y[c] = static_cast<T>(times_power_of_two(acc[c], exponents[c]));
    }
  }
  return true;
}

/// Rows of n <= 16 factors (inner == 1), a block of rows at a time: each row's plain product in
/// double, exact while its finite nonzero factors are within 2^(1000 / n) of 1 (no exponent to carry);
/// a block with a factor outside is done again row by row, by the split pass where a row needs it.
/// N is n where it is known at compile time (0 otherwise), so that the loop over rows vectorises.
template <class T, int N>
void short_rows(const T* in, T* out, int64_t rows, int64_t n_runtime) {
  using Bits = typename Window<T>::Bits;
  const int64_t n = N > 0 ? N : n_runtime;
  const Window<T> window(static_cast<int>(1000 / n));
  constexpr int64_t kBlock = 256;
  double products[kBlock];
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t count = std::min(kBlock, rows - r0);
    const T* x = in + r0 * n;
    Bits bad = 0;
    for (int64_t r = 0; r < count; ++r) {
      double p = 1.0;
      for (int64_t k = 0; k < n; ++k) {
        bad |= window.outside(x[r * n + k]);
        p *= static_cast<double>(x[r * n + k]);
      }
      products[r] = p;
    }
    if (!bad) {
      for (int64_t r = 0; r < count; ++r) out[r0 + r] = static_cast<T>(products[r]);
      continue;
    }
    for (int64_t r = 0; r < count; ++r) {
      Bits row_bad = 0;
      for (int64_t k = 0; k < n; ++k) row_bad |= window.outside(x[r * n + k]);
      out[r0 + r] = static_cast<T>(row_bad ? split_row(x + r * n, n) : products[r]);
    }
  }
}

template <class T>
void short_rows(const T* in, T* out, int64_t rows, int64_t n) {
  switch (n) {
    case 1: return short_rows<T, 1>(in, out, rows, n);
    case 2: return short_rows<T, 2>(in, out, rows, n);
    case 3: return short_rows<T, 3>(in, out, rows, n);
    case 4: return short_rows<T, 4>(in, out, rows, n);
    case 5: return short_rows<T, 5>(in, out, rows, n);
    case 6: return short_rows<T, 6>(in, out, rows, n);
    case 7: return short_rows<T, 7>(in, out, rows, n);
    case 8: return short_rows<T, 8>(in, out, rows, n);
    case 9: return short_rows<T, 9>(in, out, rows, n);
    case 10: return short_rows<T, 10>(in, out, rows, n);
    case 12: return short_rows<T, 12>(in, out, rows, n);
    case 16: return short_rows<T, 16>(in, out, rows, n);
    default: return short_rows<T, 0>(in, out, rows, n);
  }
}

constexpr int64_t kShortRow = 16;

}  // namespace product_detail

/// out[o, c] = the product of in[o, :, c] (dense in and out); see the top of this file.
template <class T>
void product_along(const T* in, T* out, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || inner == 0) return;
  if constexpr (std::is_integral_v<T>) {
    parallel_for(outer * inner, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1)), [&](int64_t first, int64_t last) {
      for (int64_t task = first; task < last; ++task) {
        const int64_t o = task / inner, c = task % inner;
        uint64_t acc = 1;
        for (int64_t i = 0; i < n; ++i) acc *= static_cast<uint64_t>(in[(o * n + i) * inner + c]);
        out[task] = static_cast<T>(acc);
      }
    });
  } else {
    using namespace product_detail;
    if (n == 0) {  // the product of nothing
      std::fill(out, out + outer * inner, T(1));
      return;
    }
    if (inner == 1 && n <= kShortRow) {
      parallel_for(outer, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1)), [&](int64_t first, int64_t last) {
        short_rows(in + first * n, out + first, last - first, n);
      });
      return;
    }
    if (inner == 1) {
      parallel_for(outer, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1)), [&](int64_t first, int64_t last) {
        for (int64_t row = first; row < last; ++row) out[row] = static_cast<T>(long_row(in + row * n, n));
      });
      return;
    }
    // Along an outer dim: a block of columns' running products across the rows, which vectorises
    // over the columns, by each tier's window in turn (a short reduction, n <= 16, takes the window
    // of 2^(1000 / n) with no exponent to carry, as short rows do), then by the split pass over the
    // same columns.
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    const bool short_reduction = n <= kShortRow;
    const Window<T> first_window(short_reduction ? static_cast<int>(1000 / std::max<int64_t>(n, 1)) : kTiers[0].orders);
    const Window<T> second_window(kTiers[1].orders);
    parallel_for(outer * blocks, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n * kBlock, 1)), [&](int64_t first, int64_t last) {
      for (int64_t task = first; task < last; ++task) {
        const int64_t o = task / blocks, c0 = task % blocks * kBlock, width = std::min(kBlock, inner - c0);
        const T* base = in + o * n * inner + c0;
        T* y = out + o * inner + c0;
        if (window_columns(base, y, n, inner, width, short_reduction ? kShortRow : kTiers[0].steps, first_window)) continue;
        if (!short_reduction && window_columns(base, y, n, inner, width, kTiers[1].steps, second_window)) continue;
        Split<kBlock> split(static_cast<int>(width));
        for (int64_t i = 0; i < n; ++i) split.absorb(base + i * inner, static_cast<int>(width));
        for (int64_t c = 0; c < width; ++c) {
          bool wide = false;
          const double v = split.value(static_cast<int>(c), wide);
          y[c] = static_cast<T>(wide ? wide_strided(base + c, n, inner) : v);
        }
      }
    });
  }
}

}  // namespace dydx::cpu
