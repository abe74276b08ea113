// The skinny-product kernel; see skinny_gemm.hpp for when and why it replaces BLAS.
#include "cpu/skinny_gemm.hpp"
#include "cpu/kernel_vectors.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace dydx::cpu {

template <class T>
SkinnyPackedB<T>::SkinnyPackedB(const T* b, int64_t k, int64_t m, int64_t row_stride, int64_t col_stride,
                                const T* bias)
    : k(k), m(m) {
  const int64_t lanes = kSkinnyVectorBytes > 0 ? kSkinnyVectorBytes / static_cast<int64_t>(sizeof(T)) : 1;
  width = (m + lanes - 1) / lanes * lanes;
  if (width == m && col_stride == 1 && (k == 1 || row_stride == m)) {
    rows = b;  // already [k, width]: a long B (a weight gradient's) is not copied
  } else {
    data.assign(static_cast<size_t>(k * width), T(0));
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < m; ++j) data[static_cast<size_t>(p * width + j)] = b[p * row_stride + j * col_stride];
    rows = data.data();
  }
  if (bias != nullptr) {
    start.assign(static_cast<size_t>(width), T(0));
    std::copy(bias, bias + m, start.begin());
  }
}

#ifdef DYDX_SKINNY_GEMM
namespace {

using namespace kernel_vectors;

// C[R rows, the panel's V vectors] = start + A[R rows, k] B[k, panel], start the panel's part of the
// bias row (null: zero), or C += A B with accumulate; `cols` of the panel's columns are kept. The
// accumulators and B's vectors are never addressed as arrays (no memcpy from &acc[r], no pointer to
// them), so that GCC can keep them in registers: with their address taken, GCC 12 kept all 24
// accumulators on the stack and the inner loop loaded and stored each one per multiply-add (25
// GFLOP/s in float32 against OpenBLAS's 141).
template <class T, int R, int V>
void block(const T* a, int64_t lda, int64_t a_step, const T* b, int64_t ldb, int64_t k, T* c, int64_t ldc, int64_t cols,
           const T* start, bool accumulate) {
  Vec<T> acc[R][V];
  for (int v = 0; v < V; ++v)
    for (int r = 0; r < R; ++r)
      acc[r][v] = accumulate ? load_first(c + r * ldc + v * kLanes<T>, cols - v * kLanes<T>) : Vec<T>{};
  for (int64_t p = 0; p < k; ++p) {
    Vec<T> bv[V];
    for (int v = 0; v < V; ++v) {
      bv[v] = load(b + p * ldb + v * kLanes<T>);
      // Held in registers: otherwise GCC folds the loads into each multiply-add and reloads every
      // B vector once per row, which halves the kernel's speed.
      asm("" : "+v"(bv[v]));
    }
    for (int r = 0; r < R; ++r) {
      const T s = a[r * lda + p * a_step];
      for (int v = 0; v < V; ++v) acc[r][v] += s * bv[v];
    }
  }
  // The bias joins the finished sum, as BLAS's beta does (bias + A B): a sum of -0 products is +0 from
  // the +0 it starts at, and a -0 bias then leaves it +0, as in PyTorch, where a bias the sum started
  // from would stay -0.
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      const Vec<T> value = start != nullptr && !accumulate ? load(start + v * kLanes<T>) + acc[r][v] : acc[r][v];
      T* out = c + r * ldc + v * kLanes<T>;
      if (cols >= (v + 1) * kLanes<T>) {
        std::memcpy(out, &value, sizeof(value));
      } else {
        for (int64_t lane = 0; lane < cols - v * kLanes<T>; ++lane) out[lane] = value[lane];
      }
    }
}

template <class T, int V>
void panel_rows(const T* a, int64_t lda, int64_t a_step, const T* b, int64_t ldb, int64_t k, T* c, int64_t ldc,
                int64_t cols, const T* start, bool accumulate, int64_t first, int64_t last) {
  int64_t i = first;
  for (; i + kSkinnyRows <= last; i += kSkinnyRows)
    block<T, kSkinnyRows, V>(a + i * lda, lda, a_step, b, ldb, k, c + i * ldc, ldc, cols, start, accumulate);
  // The last rows in one block: each block streams all of B once, and a product with a long inner
  // dimension (a weight gradient) reads B from L2, not registers.
  const T* ai = a + i * lda;
  T* ci = c + i * ldc;
  switch (last - i) {
    case 1: block<T, 1, V>(ai, lda, a_step, b, ldb, k, ci, ldc, cols, start, accumulate); break;
    case 2: block<T, 2, V>(ai, lda, a_step, b, ldb, k, ci, ldc, cols, start, accumulate); break;
    case 3: block<T, 3, V>(ai, lda, a_step, b, ldb, k, ci, ldc, cols, start, accumulate); break;
    case 4: block<T, 4, V>(ai, lda, a_step, b, ldb, k, ci, ldc, cols, start, accumulate); break;
    case 5: block<T, 5, V>(ai, lda, a_step, b, ldb, k, ci, ldc, cols, start, accumulate); break;
    default: break;
  }
}

// Narrow results (a layer of few outputs: an MLP's last, 64 -> 3, or a network's one output) with the
// vectors along A's rows instead of C's columns. The blocks above hold one vector of C per row, of
// which 3 of 16 lanes are kept at m = 3, so they do a full vector's multiply-adds per useful one. Here
// a block is one vector's worth of rows, transposed in registers a vector of A's columns at a time, and
// each of the m columns of C keeps one vector of sums: element (i, j) is summed over p = 0..k-1 in the
// same order, with the same fused multiply-adds, as in block(), so both give the same bits and a
// product does not change its result with its layout or its row count. (Where a nan of A meets a nan of
// B, which of the two comes out is the multiply instruction's operand order, the compiler's choice.)
// Up to half a vector's lanes, on vectors of 8 lanes or more (bench/skinny_gemm.cpp, [10^4, k] x [k, m], one
// thread, Zen 5, AVX-512, k = 64): float32 m = 3 59 against 35 GFLOP/s, m = 8 103 against 84; float64 (8 lanes,
// as AVX2's float32) m = 4 52 against 38. On 4 lanes (AVX2's float64) a trial was no faster: off there.
template <class T>
inline constexpr int kNarrowColumns = kLanes<T> >= 8 ? kLanes<T> / 2 : 0;

// Lane i of the first from x, or from y where bit H of i is set (the second's halves swapped likewise).
template <class T, int H, size_t... I>
Vec<T> mix_low(Vec<T> x, Vec<T> y, std::index_sequence<I...>) {
  return __builtin_shufflevector(x, y, ((I & H) == 0 ? I : I - H + kLanes<T>)...);
}
template <class T, int H, size_t... I>
Vec<T> mix_high(Vec<T> x, Vec<T> y, std::index_sequence<I...>) {
  return __builtin_shufflevector(x, y, ((I & H) == 0 ? I + H : I + kLanes<T>)...);
}
// One butterfly stage of a transpose: rows i and i + H exchange their lanes' blocks of H.
template <class T, int H>
[[gnu::always_inline]] inline void transpose_stage(Vec<T> (&v)[kLanes<T>]) {
  if constexpr (H >= 1) {
#pragma GCC unroll 16
    for (int i = 0; i < kLanes<T>; ++i)
      if ((i & H) == 0) {
        const Vec<T> x = v[i], y = v[i + H];
        v[i] = mix_low<T, H>(x, y, std::make_index_sequence<kLanes<T>>{});
        v[i + H] = mix_high<T, H>(x, y, std::make_index_sequence<kLanes<T>>{});
      }
    transpose_stage<T, H / 2>(v);
  }
}

// C[L rows, M columns] for L = kLanes<T> rows of A, row-major, against B packed as in block() (ldb apart).
template <class T, int M>
void narrow_block(const T* a, int64_t lda, const T* b, int64_t ldb, int64_t k, T* c, int64_t ldc, const T* start,
                  bool accumulate) {
  constexpr int L = kLanes<T>;
  Vec<T> acc[M];
  T lanes[L];
  for (int j = 0; j < M; ++j) {
    if (accumulate) {
      for (int r = 0; r < L; ++r) lanes[r] = c[r * ldc + j];
      acc[j] = load(lanes);
    } else {
      acc[j] = Vec<T>{};
    }
  }
  // L columns of A from p on, rows transposed into vectors, each multiplied into every column of C. (The accumulators
  // and columns are never addressed, as in block(), and whole steps are apart from the last partial one: with
  // both in one loop GCC kept the columns on the stack.)
  auto step = [&](auto&& load_row, int64_t p, int64_t count) __attribute__((always_inline)) {
    Vec<T> column[L];
#pragma GCC unroll 16
    for (int r = 0; r < L; ++r) column[r] = load_row(a + r * lda + p);
    transpose_stage<T, L / 2>(column);
#pragma GCC unroll 16
    for (int q = 0; q < L; ++q) {
      if (q >= count) break;
      const T* bq = b + (p + q) * ldb;
      for (int j = 0; j < M; ++j) acc[j] += column[q] * bq[j];
    }
  };
  int64_t p = 0;
  for (; p + L <= k; p += L) step([](const T* at) { return load(at); }, p, L);
  // The last columns, zero beyond k in the lanes that no multiply-add reads.
  if (p < k) step([rest = k - p](const T* at) { return load_first(at, rest); }, p, k - p);
  for (int j = 0; j < M; ++j) {
    const Vec<T> sum = acc[j];
    std::memcpy(lanes, &sum, sizeof(lanes));
    for (int r = 0; r < L; ++r) c[r * ldc + j] = start != nullptr && !accumulate ? start[j] + lanes[r] : lanes[r];
  }
}

// Rows [first, last) of C in narrow blocks, while whole ones fit; returns the first row left.
template <class T, int M>
int64_t narrow_rows(const T* a, int64_t lda, const SkinnyPackedB<T>& b, T* c, int64_t first, int64_t last,
                    bool accumulate) {
  if constexpr (M >= 1) {
    if (b.m < M) return narrow_rows<T, M - 1>(a, lda, b, c, first, last, accumulate);
    const T* start = b.start.empty() ? nullptr : b.start.data();
    for (; first + kLanes<T> <= last; first += kLanes<T>)
      narrow_block<T, M>(a + first * lda, lda, b.rows, b.width, b.k, c + first * b.m, b.m, start, accumulate);
  }
  return first;
}

}  // namespace

template <class T>
void skinny_gemm_rows(const T* a, int64_t lda, int64_t a_step, const SkinnyPackedB<T>& b, T* c, int64_t first,
                      int64_t last, bool accumulate) {
  constexpr int64_t lanes = kLanes<T>;
  // A long enough to fill a transposed block's columns (k >= L / 2), read along its rows.
  if (kNarrowColumns<T> > 0 && a_step == 1 && b.m <= kNarrowColumns<T> && 2 * b.k >= lanes)
    first = narrow_rows<T, kNarrowColumns<T>>(a, lda, b, c, first, last, accumulate);
  for (int64_t j = 0; j < b.width; j += lanes * kSkinnyMaxVectors) {
    const int64_t vectors = std::min<int64_t>(kSkinnyMaxVectors, (b.width - j) / lanes);
    const int64_t cols = std::min(b.m - j, vectors * lanes);
    const T* pb = b.rows + j;
    const T* start = b.start.empty() ? nullptr : b.start.data() + j;
    switch (vectors) {
      case 1: panel_rows<T, 1>(a, lda, a_step, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last); break;
      case 2: panel_rows<T, 2>(a, lda, a_step, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last); break;
      case 3:
        if constexpr (kSkinnyMaxVectors >= 3)
          panel_rows<T, 3>(a, lda, a_step, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last);
        break;
      default:
        if constexpr (kSkinnyMaxVectors >= 4)
          panel_rows<T, 4>(a, lda, a_step, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last);
        break;
    }
  }
}
#else
template <class T>
void skinny_gemm_rows(const T*, int64_t, int64_t, const SkinnyPackedB<T>&, T*, int64_t, int64_t, bool) {}  // never chosen
#endif

template struct SkinnyPackedB<float>;
template struct SkinnyPackedB<double>;
template void skinny_gemm_rows<float>(const float*, int64_t, int64_t, const SkinnyPackedB<float>&, float*, int64_t,
                                      int64_t, bool);
template void skinny_gemm_rows<double>(const double*, int64_t, int64_t, const SkinnyPackedB<double>&, double*, int64_t,
                                       int64_t, bool);

}  // namespace dydx::cpu
