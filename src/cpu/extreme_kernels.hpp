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

// The extreme value of p[0, n) and whether any is nan, for float and double, two machine vectors of
// lanes at a time (each lane sees every 2 kLanes-th element); a nan, once in a lane, stays. In GCC's
// vector types: a scalar float ternary stays a branch (its compare might trap, so GCC does not
// if-convert it).
#ifdef DYDX_SKINNY_GEMM
// Lane by lane, b if it is beyond a or nan, else a: a nan, once in a lane, stays.
template <bool IsMax, class V>
[[gnu::always_inline]] inline V keep_extreme(V a, V b) {
  return ((IsMax ? b > a : b < a) | (b != b)) ? b : a;
}

// v's lanes [0, 2 Width) folded by keep_extreme into lane 0, halving: lane k takes lane k + Width.
template <bool IsMax, int Width, class V>
[[gnu::always_inline]] inline V fold_lanes(V v) {
  if constexpr (Width == 0) {
    return v;
  } else {
    constexpr int kCount = sizeof(V) / sizeof(v[0]);
    const V moved = [&]<int... I>(std::integer_sequence<int, I...>) {
      return __builtin_shufflevector(v, v, ((I + Width) % kCount)...);
    }(std::make_integer_sequence<int, kCount>{});
    return fold_lanes<IsMax, Width / 2>(keep_extreme<IsMax>(v, moved));
  }
}
#endif

template <bool IsMax, class T>
int64_t extreme_in_vectors(const T* p, int64_t n, T& m, bool& any_nan) {
#ifdef DYDX_SKINNY_GEMM
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using namespace kernel_vectors;
    constexpr int64_t kStep = 2 * kLanes<T>;
    if (n < 2 * kStep) return 0;
    Vec<T> best0 = load(p), best1 = load(p + kLanes<T>);
    int64_t i = kStep;
    for (; i + kStep <= n; i += kStep) {
      const Vec<T> v0 = load(p + i), v1 = load(p + i + kLanes<T>);
      best0 = ((IsMax ? v0 > best0 : v0 < best0) | (v0 != v0)) ? v0 : best0;
      best1 = ((IsMax ? v1 > best1 : v1 < best1) | (v1 != v1)) ? v1 : best1;
    }
    // The lanes folded in halves, a nan kept wherever one was: a lane at a time, the compares of
    // unpredictable values branched (a quarter of a short-row log_softmax went there).
    const Vec<T> best = fold_lanes<IsMax, kLanes<T> / 2>(keep_extreme<IsMax>(best0, best1));
    any_nan = any_nan || best[0] != best[0];
    m = (IsMax ? best[0] > m : best[0] < m) ? best[0] : m;
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
