// Max and min with the index of their first occurrence, along one dim of a dense tensor: the first
// nan wins, so nan propagates, and among equal values (-0 and +0 included) the first one. The
// serial loop this replaces compared one element at a time on one thread, 25 to 100 times slower than
// reading the tensor; here rows are scanned a machine vector at a time and split across threads, and
// every split gives the serial loop's value and index.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/kernel_vectors.hpp"
#include "cpu/parallel.hpp"

namespace dydx::cpu {

template <class T>
struct Extreme {
  T value;
  int64_t index;
};

// Whether v, seen after best, replaces it: it is larger (smaller), or the first nan.
template <bool IsMax, class T>
[[gnu::always_inline]] inline bool replaces(T v, T best) {
  const bool beyond = IsMax ? v > best : v < best;
  if constexpr (std::is_floating_point_v<T>) return beyond || (v != v && best == best);
  return beyond;
}

// Of two candidates from disjoint parts of a run, the one the serial loop would keep.
template <bool IsMax, class T>
Extreme<T> first_of(const Extreme<T>& a, const Extreme<T>& b) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
    if (a_nan || b_nan) return a_nan && (!b_nan || a.index < b.index) ? a : b;
  }
  if (IsMax ? b.value > a.value : b.value < a.value) return b;
  if (!(IsMax ? a.value > b.value : a.value < b.value) && b.index < a.index) return b;
  return a;
}

// The extreme value of p[0, n) and whether any is nan, for float and double, four machine vectors of
// lanes at a time, in GCC's vector types: a scalar float ternary stays a branch (its compare might
// trap, so GCC does not if-convert it).
#ifdef DYDX_SKINNY_GEMM
// v's lanes [0, 2 Width) folded by combine into lane 0, halving: lane k takes lane k + Width. (A
// lane at a time, the compares of unpredictable values branched: a quarter of a short-row
// log_softmax went there.)
template <int Width, class V, class Combine>
[[gnu::always_inline]] inline V fold_lanes(V v, Combine combine) {
  if constexpr (Width == 0) {
    return v;
  } else {
    constexpr int kCount = sizeof(V) / sizeof(v[0]);
    const V moved = [&]<int... I>(std::integer_sequence<int, I...>) {
      return __builtin_shufflevector(v, v, ((I + Width) % kCount)...);
    }(std::make_integer_sequence<int, kCount>{});
    return fold_lanes<Width / 2>(combine(v, moved), combine);
  }
}
#endif

template <bool IsMax, class T>
int64_t extreme_in_vectors(const T* p, int64_t n, T& m, bool& any_nan) {
#ifdef DYDX_SKINNY_GEMM
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using namespace kernel_vectors;
    constexpr int64_t kLanesOfT = kLanes<T>;
    if (n < 4 * kLanesOfT) return 0;
    // Four vectors of running extremes, each step one compare-and-select (vmaxps: a nan loses every
    // compare, so it never enters), and the nans found apart by a running sum, which a nan makes nan
    // for good: one add per vector that no extreme waits for. (The nan in the lane, kept by a select
    // that the next compare waited for, made a chain three instructions long: 73 us for 10^6 floats
    // in L3, now 51, where a plain sum reads them in 41.) The sum's false alarms (+inf and -inf both
    // in the run, or an overflow) send the question to an exact loop.
    const auto step = [](Vec<T> v, Vec<T> best) { return (IsMax ? v > best : v < best) ? v : best; };
    Vec<T> best0 = load(p), best1 = load(p + kLanesOfT), best2 = best0, best3 = best1;
    Vec<T> total = best0 + best1;
    int64_t i = 2 * kLanesOfT;
    for (; i + 4 * kLanesOfT <= n; i += 4 * kLanesOfT) {
      const Vec<T> v0 = load(p + i), v1 = load(p + i + kLanesOfT), v2 = load(p + i + 2 * kLanesOfT),
                   v3 = load(p + i + 3 * kLanesOfT);
      best0 = step(v0, best0), best1 = step(v1, best1), best2 = step(v2, best2), best3 = step(v3, best3);
      total += (v0 + v1) + (v2 + v3);
    }
    for (; i + kLanesOfT <= n; i += kLanesOfT) {
      const Vec<T> v = load(p + i);
      best0 = step(v, best0);
      total += v;
    }
    const Vec<T> best = fold_lanes<kLanesOfT / 2>(step(step(best1, best0), step(best3, best2)), step);
    m = (IsMax ? best[0] > m : best[0] < m) ? best[0] : m;
    const Vec<T> sum = fold_lanes<kLanesOfT / 2>(total, [](Vec<T> a, Vec<T> b) { return a + b; });
    for (int64_t k = 0; sum[0] != sum[0] && !any_nan && k < i; ++k) any_nan = p[k] != p[k];
    return i;
  }
#endif
  (void)p, (void)n, (void)m, (void)any_nan;
  return 0;
}

// The first extreme of p[0, n), n >= 1, unit stride: the extreme value first (in vectors where it can),
// then the first element equal to it, or the first nan. Without need_index that search (an element at
// a time, half the run on average) is left out where it cannot change the value's bits: equal values
// but zeros (-0 or +0: the first's sign) and nans (the first's payload) have the same bits. The index
// is then -1.
template <bool IsMax, class T>
Extreme<T> extreme_of_run(const T* p, int64_t n, bool need_index = true) {
  T m = p[0];
  bool any_nan = false;
  for (int64_t i = extreme_in_vectors<IsMax>(p, n, m, any_nan); i < n; ++i) {
    m = (IsMax ? p[i] > m : p[i] < m) ? p[i] : m;
    if constexpr (std::is_floating_point_v<T>) any_nan = any_nan || p[i] != p[i];
  }
  if (!need_index && !any_nan && (!std::is_floating_point_v<T> || m != T(0))) return {m, -1};
  int64_t first = 0;
  if (any_nan) {
    while (p[first] == p[first]) ++first;
  } else {
    while (!(p[first] == m)) ++first;
  }
  return {p[first], first};
}

// The first extremes of `width` columns, each n long and `inner` apart, into out, for float and double
// in vectors of columns: a running compare-and-select keeps the first of equal values (the sign of the
// first zero) and lets no nan in; a running sum per column finds the nans, whose columns (and the sum's
// false alarms) are scanned again exactly for the first one. (The serial loop's select waited on its
// nan test, one column at a time: amax over dim 0 of [1000, 1000] took 169 us against PyTorch's 105.)
// False where the kernel does not apply (other types, a build without vectors); the caller then runs
// the serial loop.
template <bool IsMax, class T>
bool extreme_of_columns(const T* column, int64_t n, int64_t inner, int64_t width, T* out) {
#ifdef DYDX_SKINNY_GEMM
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using namespace kernel_vectors;
    constexpr int64_t kLanesOfT = kLanes<T>;
    const auto step = [](Vec<T> v, Vec<T> best) { return (IsMax ? v > best : v < best) ? v : best; };
    int64_t c = 0;
    for (; c + kLanesOfT <= width; c += kLanesOfT) {
      Vec<T> best = load(column + c), total = best;
      for (int64_t r = 1; r < n; ++r) {
        const Vec<T> v = load(column + r * inner + c);
        best = step(v, best);
        total += v;
      }
      for (int64_t k = 0; k < kLanesOfT; ++k) {
        T b = best[k];
        if (total[k] != total[k])  // a nan, or +inf with -inf: the first nan, if any, wins
          for (int64_t r = 0; r < n; ++r)
            if (column[r * inner + c + k] != column[r * inner + c + k]) {
              b = column[r * inner + c + k];
              break;
            }
        out[c + k] = b;
      }
    }
    for (; c < width; ++c) {  // the last columns, fewer than a vector, one at a time
      T b = column[c];
      for (int64_t r = 1; r < n; ++r)
        if (replaces<IsMax>(column[r * inner + c], b)) b = column[r * inner + c];
      out[c] = b;
    }
    return true;
  }
#endif
  (void)column, (void)n, (void)inner, (void)width, (void)out;
  return false;
}

// For x dense [outer, n, inner] (n >= 1): values and indices [outer, inner] of the first extreme
// along the middle dim (indices null: the values alone, for the whole-tensor max and min). Rows
// (inner == 1) go one per task, or, for one row longer than a chunk, in fixed chunks merged in order
// (a short one, the common whole-tensor max, allocates nothing); columns (inner > 1) go in blocks
// updated row by row.
template <bool IsMax, class T>
void extreme_along(const T* x, int64_t outer, int64_t n, int64_t inner, T* values, int64_t* indices) {
  if (outer == 0 || inner == 0) return;
  const bool need_index = indices != nullptr;
  constexpr int64_t kChunk = int64_t{1} << 16;
  if (inner == 1 && outer == 1 && n > kChunk) {
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<Extreme<T>> parts(static_cast<size_t>(chunks), Extreme<T>{x[0], 0});
    parallel_for(chunks, 1, [&](int64_t first, int64_t last) {
      for (int64_t c = first; c < last; ++c) {
        const int64_t start = c * kChunk;
        Extreme<T> e = extreme_of_run<IsMax>(x + start, std::min(kChunk, n - start), need_index);
        parts[static_cast<size_t>(c)] = {e.value, e.index < 0 ? e.index : e.index + start};
      }
    });
    Extreme<T> e = parts[0];
    for (size_t c = 1; c < parts.size(); ++c) e = first_of<IsMax>(e, parts[c]);
    values[0] = e.value;
    if (need_index) indices[0] = e.index;
    return;
  }
  if (inner == 1) {
    parallel_for(outer, kElementwiseGrain / n + 1, [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        const Extreme<T> e = extreme_of_run<IsMax>(x + r * n, n, need_index);
        values[r] = e.value;
        if (need_index) indices[r] = e.index;
      }
    });
    return;
  }
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * blocks, kElementwiseGrain / (n * kBlock) + 1, [&](int64_t first, int64_t last) {
    T best[kBlock];
    int64_t index[kBlock];
    for (int64_t task = first; task < last; ++task) {
      const int64_t o = task / blocks, c0 = (task % blocks) * kBlock, width = std::min(kBlock, inner - c0);
      const T* column = x + o * n * inner + c0;
      if (!need_index && extreme_of_columns<IsMax>(column, n, inner, width, values + o * inner + c0)) continue;
      for (int64_t c = 0; c < width; ++c) best[c] = column[c], index[c] = 0;
      for (int64_t r = 1; r < n; ++r) {
        const T* row = column + r * inner;
        for (int64_t c = 0; c < width; ++c) {
          const bool take = replaces<IsMax>(row[c], best[c]);
          best[c] = take ? row[c] : best[c];
          index[c] = take ? r : index[c];
        }
      }
      std::copy(best, best + width, values + o * inner + c0);
      if (need_index) std::copy(index, index + width, indices + o * inner + c0);
    }
  });
}

}  // namespace dydx::cpu
