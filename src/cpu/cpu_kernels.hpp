// Elementwise and reduction kernels over strided tensors of one dtype, with contiguous fast paths.
#pragma once

#include <cmath>
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/cpu_loops.hpp"
#include "cpu/int_arith.hpp"
#include "dydx/tensor.hpp"

namespace dydx::cpu {

/// Thrown by dispatch for a bool tensor that reached an arithmetic kernel. Every public op converts
/// bool operands first (arithmetic to int64 or float, as PyTorch's type promotion), so this is a
/// guard: a kernel must never read one-byte elements as eight-byte ones.
[[noreturn]] void throw_bool_not_implemented();

/// Runs f with a value of the C++ type that matches dtype (float, double or int64_t), for kernels
/// that compute; a bool dtype raises (see throw_bool_not_implemented).
template <class F>
decltype(auto) dispatch(ScalarType dtype, F&& f) {
  switch (dtype) {
    case kFloat32: return f(float{});
    case kFloat64: return f(double{});
    case kInt64: return f(int64_t{});
    default: throw_bool_not_implemented();
  }
}

/// Same, bool included, for kernels that only move, compare or fill elements.
template <class F>
decltype(auto) dispatch_with_bool(ScalarType dtype, F&& f) {
  if (dtype == kBool) return f(bool{});
  return dispatch(dtype, std::forward<F>(f));
}

[[noreturn]] void throw_not_floating(ScalarType dtype);

/// Same, for ops defined only on floating types (their callers check the dtype first; this guard
/// keeps a missed check from reading int64 or bool elements as floats).
template <class F>
decltype(auto) dispatch_floating(ScalarType dtype, F&& f) {
  if (dtype == kFloat64) return f(double{});
  if (dtype != kFloat32) throw_not_floating(dtype);
  return f(float{});
}

/// Strides of operand t aligned to the right of out_sizes, 0 where t broadcasts.
inline Dims broadcast_strides(const Tensor& t, IntArrayRef out_sizes) {
  const auto& impl = *t.impl();
  Dims strides(out_sizes.size(), 0);
  size_t lead = out_sizes.size() - impl.sizes.size();
  for (size_t i = 0; i < impl.sizes.size(); ++i)
    strides[lead + i] = impl.sizes[i] == 1 ? 0 : impl.strides[i];
  return strides;
}

/// The loop runs over out's shape, or over the first input's shape for reductions (reduce_over_input).
template <size_t N>
LoopGeometry<N> make_geometry(const Tensor& out, const std::array<const Tensor*, N - 1>& inputs,
                              bool reduce_over_input = false) {
  LoopGeometry<N> geo;
  geo.sizes = reduce_over_input ? inputs[0]->impl()->sizes : out.impl()->sizes;
  geo.strides[0] = broadcast_strides(out, geo.sizes);
  for (size_t k = 1; k < N; ++k) geo.strides[k] = broadcast_strides(*inputs[k - 1], geo.sizes);
  geo.coalesce();
  return geo;
}

/// Whether t is laid out densely in row-major order with exactly out_sizes, so that a loop can
/// walk it with a flat index; the common case, and much cheaper to detect than a loop geometry.
inline bool is_flat(const detail::TensorImpl& t, const Dims& out_sizes) {
  if (!(t.sizes == out_sizes)) return false;
  int64_t expected = 1;
  for (size_t i = t.sizes.size(); i-- > 0;) {
    if (t.sizes[i] != 1 && t.strides[i] != expected) return false;
    expected *= t.sizes[i];
  }
  return true;
}

template <class T>
T* flat_data(const Tensor& t) {
  return reinterpret_cast<T*>(t.impl()->data_bytes());
}

/// p[0, n) = v, split across threads when long (first touch of fresh pages costs as much as the write).
template <class T>
void fill(T* p, int64_t n, T v) {
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) { std::fill(p + begin, p + end, v); });
}

/// out[i] = f(a[i]); a broadcasts to out. Out may be strided (in-place writes through views).
template <class TOut, class TA, class F>
void map1(const Tensor& out, const Tensor& a, F f) {
  const auto& o = *out.impl();
  if (is_flat(o, o.sizes) && is_flat(*a.impl(), o.sizes)) {
    TOut* po = flat_data<TOut>(out);
    const TA* pa = flat_data<const TA>(a);
    parallel_for(o.numel, kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i]);
    });
    return;
  }
  auto geo = make_geometry<2>(out, {&a});
  parallel_for_each_run<2>(geo, {out.impl()->data_bytes(), a.impl()->data_bytes()}, {sizeof(TOut), sizeof(TA)},
                  kDisjointDim, kElementwiseGrain,
                  [&](int64_t n, std::array<char*, 2> p, std::array<int64_t, 2> s) {
                    auto* __restrict o = reinterpret_cast<TOut*>(p[0]);
                    const auto* __restrict x = reinterpret_cast<const TA*>(p[1]);
                    if (s[0] == 1 && s[1] == 1) {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
                    } else if (s[0] == 1 && s[1] == 0) {
                      const TOut v = f(x[0]);
                      for (int64_t i = 0; i < n; ++i) o[i] = v;
                    } else {
                      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(x[i * s[1]]);
                    }
                  });
}

/// out[i] = f(a[i], b[i]); a and b broadcast to out. The element types may differ (a comparison
/// writes bool from two T, masked_fill reads a bool mask beside T values).
template <class TOut, class TA, class TB, class F>
void map2_typed(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  const auto& o = *out.impl();
  if (is_flat(o, o.sizes)) {
    const bool a_flat = is_flat(*a.impl(), o.sizes), b_flat = is_flat(*b.impl(), o.sizes);
    TOut* po = flat_data<TOut>(out);
    const TA* pa = flat_data<const TA>(a);
    const TB* pb = flat_data<const TB>(b);
    if (a_flat && b_flat) {
      parallel_for(o.numel, kElementwiseGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i], pb[i]);
      });
      return;
    }
    if (a_flat && b.impl()->numel == 1) {
      const TB y = pb[0];
      parallel_for(o.numel, kElementwiseGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i], y);
      });
      return;
    }
  }
  auto geo = make_geometry<3>(out, {&a, &b});
  parallel_for_each_run<3>(geo, {out.impl()->data_bytes(), a.impl()->data_bytes(), b.impl()->data_bytes()},
                  {sizeof(TOut), sizeof(TA), sizeof(TB)}, kDisjointDim, kElementwiseGrain,
                  [&](int64_t n, std::array<char*, 3> p, std::array<int64_t, 3> s) {
                    auto* o = reinterpret_cast<TOut*>(p[0]);
                    const auto* x = reinterpret_cast<const TA*>(p[1]);
                    const auto* y = reinterpret_cast<const TB*>(p[2]);
                    // Outputs alias inputs only element for element (in-place ops, or the
                    // accumulation of as_strided_scatter), so these unit-stride loops are safe to
                    // vectorise; an output that overlaps itself is split by disjoint_split_dim.
                    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
                    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
                      const TB yv = y[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
                    } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
                      const TA xv = x[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
                    } else if (s[0] == 1 && s[1] == 0 && s[2] == 0) {
                      // Both broadcast along the run (an expanded gradient of a sum or mean, scaled):
                      // one value, filled in.
                      std::fill(o, o + n, static_cast<TOut>(f(x[0], y[0])));
                    } else {
                      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(x[i * s[1]], y[i * s[2]]);
                    }
                  });
}

/// out[i] = f(a[i], b[i]); a and b broadcast to out.
template <class T, class F>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  map2_typed<T, T, T>(out, a, b, f);
}

/// out[i] = f(a[i], b[i], c[i]); all broadcast to out. a may have its own element type (where's
/// bool condition).
template <class T, class TA = T, class F>
void map3(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  auto geo = make_geometry<4>(out, {&a, &b, &c});
  parallel_for_each_run<4>(geo,
                  {out.impl()->data_bytes(), a.impl()->data_bytes(), b.impl()->data_bytes(),
                   c.impl()->data_bytes()},
                  {sizeof(T), sizeof(TA), sizeof(T), sizeof(T)}, kDisjointDim, kElementwiseGrain,
                  [&](int64_t n, std::array<char*, 4> p, std::array<int64_t, 4> s) {
                    auto* o = reinterpret_cast<T*>(p[0]);
                    const auto* x = reinterpret_cast<const TA*>(p[1]);
                    const auto* y = reinterpret_cast<const T*>(p[2]);
                    const auto* z = reinterpret_cast<const T*>(p[3]);
                    // Unit-stride runs, with b or c possibly one broadcast value (where(mask, t, 0)
                    // with the expanded gradient of a sum), get loops that GCC vectorises; the
                    // strided loop kept them scalar and branching at a tenth of memory speed. The
                    // broadcast values are read once: a store through o may alias them as far as
                    // GCC knows, and an invariant load it cannot hoist keeps the loop scalar.
                    if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i], z[i]);
                    } else if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 0) {
                      const T zv = z[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i], zv);
                    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0 && s[3] == 1) {
                      const T yv = y[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv, z[i]);
                    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0 && s[3] == 0) {
                      const T yv = y[0], zv = z[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv, zv);
                    } else {
                      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(x[i * s[1]], y[i * s[2]], z[i * s[3]]);
                    }
                  });
}

/// Adds every element of in into out, where out has in's rank with size 1 (stride 0) on reduced dims.
/// Out must be zero-filled. TOut may be wider than T (float32 summed into float64); float32 sums
/// along a reduced inner dim accumulate in double whatever TOut is, int64 sums wrap (in uint64).
template <class TOut, class T>
void sum_into(const Tensor& out, const Tensor& in) {
  auto geo = make_geometry<2>(out, {&in}, /*reduce_over_input=*/true);
  using Acc = SumAccumulator<T>;
  // Pieces must not add into the same output element, so only a kept outermost dim is split (into
  // contiguous slabs). Splitting an inner kept dim instead, for a sum over rows, made each thread
  // stride across every row, and two threads took 6.5 ms where one took 3.5 ms on [4096, 4096].
  // A sum of everything runs on one thread, so its rounding never depends on the thread count.
  const int split_dim = !geo.sizes.empty() && geo.strides[0][0] != 0 ? 0 : -1;
  parallel_for_each_run<2>(geo, {out.impl()->data_bytes(), in.impl()->data_bytes()}, {sizeof(TOut), sizeof(T)},
                           split_dim, kElementwiseGrain,
                           [&](int64_t n, std::array<char*, 2> p, std::array<int64_t, 2> s) {
                             auto* o = reinterpret_cast<TOut*>(p[0]);
                             const auto* x = reinterpret_cast<const T*>(p[1]);
                             if (s[0] == 0) {
                               // 32 accumulators: four vectors of them even at AVX-512's eight doubles,
                               // so that four adds are in flight; with one vector, each add waited
                               // for the last and [4096, 4096] over dim 1 ran below memory speed.
                               constexpr int kAccumulators = 32;
                               Acc acc[kAccumulators] = {};
                               int64_t i = 0;
                               if (s[1] == 1) {
                                 for (; i + kAccumulators <= n; i += kAccumulators)
                                   for (int k = 0; k < kAccumulators; ++k) acc[k] += x[i + k];
                                 for (; i < n; ++i) acc[0] += x[i];
                               } else {
                                 for (; i < n; ++i) acc[0] += x[i * s[1]];
                               }
                               for (int width = kAccumulators / 2; width >= 1; width /= 2)
                                 for (int k = 0; k < width; ++k) acc[k] += acc[k + width];
                               o[0] = wrapping_add(o[0], static_cast<TOut>(acc[0]));
                             } else if (s[0] == 1 && s[1] == 1) {
                               for (int64_t i = 0; i < n; ++i) o[i] = wrapping_add(o[i], static_cast<TOut>(x[i]));
                             } else {
                               for (int64_t i = 0; i < n; ++i)
                                 o[i * s[0]] = wrapping_add(o[i * s[0]], static_cast<TOut>(x[i * s[1]]));
                             }
                           });
}

// Adds rows [first, end) of a dense [rows, cols] x, columns [c0, c0 + width), into p[0, width):
// four rows per sweep of p, a quarter of its loads and stores.
template <class T, class Acc>
void add_rows_into(const T* x, int64_t cols, int64_t first, int64_t end, int64_t c0, int64_t width, Acc* __restrict p) {
  int64_t r = first;
  for (; r + 4 <= end; r += 4) {
    const T* __restrict r0 = x + r * cols + c0;
    const T* __restrict r1 = r0 + cols;
    const T* __restrict r2 = r1 + cols;
    const T* __restrict r3 = r2 + cols;
    for (int64_t c = 0; c < width; ++c) p[c] += (Acc(r0[c]) + Acc(r1[c])) + (Acc(r2[c]) + Acc(r3[c]));
  }
  for (; r < end; ++r) {
    const T* __restrict row = x + r * cols + c0;
    for (int64_t c = 0; c < width; ++c) p[c] += Acc(row[c]);
  }
}

// The sum of a contiguous run in 32 partial sums (four vectors of eight doubles in flight even at
// AVX-512), folded by halves: one running sum waits for each add.
template <class Acc, class T>
Acc sum_of_run(const T* x, int64_t n) {
  constexpr int kAccumulators = 32;
  Acc acc[kAccumulators] = {};
  int64_t i = 0;
  for (; i + kAccumulators <= n; i += kAccumulators)
    for (int k = 0; k < kAccumulators; ++k) acc[k] += Acc(x[i + k]);
  for (; i < n; ++i) acc[0] += Acc(x[i]);
  for (int width = kAccumulators / 2; width >= 1; width /= 2)
    for (int k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

/// out[c] = the sum over r of x[r * cols + c], for a dense [rows, cols] x: a sum over leading dims.
/// Rows go in blocks, each summed into its own partial row (the blocks in parallel), and the
/// partials are added in block order. Block sizes depend only on the shape, so the result has the
/// same bits on any number of threads; float32 accumulates in double throughout, int64 in uint64.
template <class T>
void sum_leading_rows(const T* x, T* out, int64_t rows, int64_t cols) {
  using Acc = SumAccumulator<T>;
  // At most 64 blocks, so the partials stay a small fraction of the input.
  const int64_t block_rows = std::max<int64_t>(256, (rows + 63) / 64);
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  if (cols == 1 && rows > 0) {
    // A whole sum: each block in vectors of partial sums (added row after row, a single column
    // waited for each add: 57 us for 640K floats where memory allows 30), the blocks in order.
    // Every block writes its own partial (rows > 0: block 0 exists); the zeros only keep GCC's
    // -Wmaybe-uninitialized, which cannot see that, out of the build's output.
    Acc partial[64] = {};
    parallel_for(blocks, std::max<int64_t>(1, kElementwiseGrain / block_rows), [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b)
        partial[b] = sum_of_run<Acc>(x + b * block_rows, std::min(rows, (b + 1) * block_rows) - b * block_rows);
    });
    Acc total = partial[0];
    for (int64_t b = 1; b < blocks; ++b) total += partial[b];
    out[0] = static_cast<T>(total);
    return;
  }
  if (blocks == 1) {
    // Few rows (a sum over a handful of directions): one partial row would be as large as the
    // output, in double, freshly faulted in on every call. Tiles of columns are summed in L1
    // instead, in parallel, adding the rows in the same order (so with the same bits).
    constexpr int64_t kTile = 512;
    parallel_for((cols + kTile - 1) / kTile, std::max<int64_t>(1, kElementwiseGrain / (kTile * rows)),
                 [&](int64_t first, int64_t last) {
                   Acc p[kTile];
                   for (int64_t t = first; t < last; ++t) {
                     const int64_t c0 = t * kTile, width = std::min(kTile, cols - c0);
                     std::fill(p, p + width, Acc(0));
                     add_rows_into(x, cols, 0, rows, c0, width, p);
                     for (int64_t c = 0; c < width; ++c) out[c0 + c] = static_cast<T>(p[c]);
                   }
                 });
    return;
  }
  std::vector<Acc> partial(static_cast<size_t>(blocks * cols), Acc(0));
  parallel_for(blocks, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, block_rows * cols)),
               [&](int64_t first, int64_t last) {
                 for (int64_t b = first; b < last; ++b)
                   add_rows_into(x, cols, b * block_rows, std::min(rows, (b + 1) * block_rows), 0, cols,
                                 partial.data() + b * cols);
               });
  for (int64_t b = 1; b < blocks; ++b) {
    Acc* __restrict total = partial.data();
    const Acc* __restrict p = partial.data() + b * cols;
    for (int64_t c = 0; c < cols; ++c) total[c] += p[c];
  }
  for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<T>(partial[c]);
}

}  // namespace dydx::cpu
