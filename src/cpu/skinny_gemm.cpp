// The skinny-product kernel; see skinny_gemm.hpp for when and why it replaces BLAS.
#include "cpu/skinny_gemm.hpp"

#include <algorithm>
#include <cstring>

namespace dydx::cpu {

template <class T>
SkinnyPackedB<T>::SkinnyPackedB(const T* b, int64_t k, int64_t m, int64_t row_stride, int64_t col_stride,
                                const T* bias)
    : k(k), m(m) {
  const int64_t lanes = kSkinnyVectorBytes > 0 ? kSkinnyVectorBytes / static_cast<int64_t>(sizeof(T)) : 1;
  width = (m + lanes - 1) / lanes * lanes;
  data.assign(static_cast<size_t>(k * width), T(0));
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < m; ++j) data[static_cast<size_t>(p * width + j)] = b[p * row_stride + j * col_stride];
  if (bias != nullptr) {
    start.assign(static_cast<size_t>(width), T(0));
    std::copy(bias, bias + m, start.begin());
  }
}

#ifdef DYDX_SKINNY_GEMM
namespace {

// GCC's vector extensions: one machine vector of T (the attribute cannot apply to a template parameter).
template <class T>
struct VectorOf;
template <>
struct VectorOf<float> {
  typedef float type __attribute__((vector_size(kSkinnyVectorBytes)));
};
template <>
struct VectorOf<double> {
  typedef double type __attribute__((vector_size(kSkinnyVectorBytes)));
};
template <class T>
using Vec = typename VectorOf<T>::type;
template <class T>
constexpr int kLanes = kSkinnyVectorBytes / static_cast<int>(sizeof(T));

// C[R rows, the panel's V vectors] = start + A[R rows, k] B[k, panel], start the panel's part of the
// bias row (null: zero), or C's own values with accumulate; `cols` of the panel's columns are kept.
template <class T, int R, int V>
void block(const T* a, int64_t lda, const T* b, int64_t ldb, int64_t k, T* c, int64_t ldc, int64_t cols,
           const T* start, bool accumulate) {
  Vec<T> acc[R][V] = {};
  if (accumulate) {
    for (int r = 0; r < R; ++r) {
      T row[V * kLanes<T>] = {};
      std::memcpy(row, c + r * ldc, static_cast<size_t>(cols) * sizeof(T));
      std::memcpy(acc[r], row, sizeof(row));
    }
  } else if (start != nullptr) {
    for (int v = 0; v < V; ++v) {
      Vec<T> s;
      std::memcpy(&s, start + v * kLanes<T>, sizeof(s));
      for (int r = 0; r < R; ++r) acc[r][v] = s;
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    Vec<T> bv[V];
    for (int v = 0; v < V; ++v) {
      std::memcpy(&bv[v], b + p * ldb + v * kLanes<T>, sizeof(Vec<T>));
      // Held in registers: otherwise GCC folds the loads into each multiply-add and reloads every
      // B vector once per row, which halves the kernel's speed.
      asm("" : "+v"(bv[v]));
    }
    for (int r = 0; r < R; ++r) {
      const T s = a[r * lda + p];
      for (int v = 0; v < V; ++v) acc[r][v] += s * bv[v];
    }
  }
  for (int r = 0; r < R; ++r) {
    if (cols == V * kLanes<T>) {
      std::memcpy(c + r * ldc, acc[r], sizeof(acc[r]));
    } else {
      T row[V * kLanes<T>];
      std::memcpy(row, acc[r], sizeof(row));
      std::memcpy(c + r * ldc, row, static_cast<size_t>(cols) * sizeof(T));
    }
  }
}

template <class T, int V>
void panel_rows(const T* a, int64_t lda, const T* b, int64_t ldb, int64_t k, T* c, int64_t ldc, int64_t cols,
                const T* start, bool accumulate, int64_t first, int64_t last) {
  constexpr int kRows = 6;
  int64_t i = first;
  for (; i + kRows <= last; i += kRows)
    block<T, kRows, V>(a + i * lda, lda, b, ldb, k, c + i * ldc, ldc, cols, start, accumulate);
  for (; i < last; ++i) block<T, 1, V>(a + i * lda, lda, b, ldb, k, c + i * ldc, ldc, cols, start, accumulate);
}

}  // namespace

template <class T>
void skinny_gemm_rows(const T* a, int64_t lda, const SkinnyPackedB<T>& b, T* c, int64_t first, int64_t last,
                      bool accumulate) {
  constexpr int64_t lanes = kLanes<T>;
  for (int64_t j = 0; j < b.width; j += lanes * kSkinnyMaxVectors) {
    const int64_t vectors = std::min<int64_t>(kSkinnyMaxVectors, (b.width - j) / lanes);
    const int64_t cols = std::min(b.m - j, vectors * lanes);
    const T* pb = b.data.data() + j;
    const T* start = b.start.empty() ? nullptr : b.start.data() + j;
    switch (vectors) {
      case 1: panel_rows<T, 1>(a, lda, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last); break;
      case 2: panel_rows<T, 2>(a, lda, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last); break;
      case 3:
        if constexpr (kSkinnyMaxVectors >= 3)
          panel_rows<T, 3>(a, lda, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last);
        break;
      default:
        if constexpr (kSkinnyMaxVectors >= 4)
          panel_rows<T, 4>(a, lda, pb, b.width, b.k, c + j, b.m, cols, start, accumulate, first, last);
        break;
    }
  }
}
#else
template <class T>
void skinny_gemm_rows(const T*, int64_t, const SkinnyPackedB<T>&, T*, int64_t, int64_t, bool) {}  // never chosen
#endif

template struct SkinnyPackedB<float>;
template struct SkinnyPackedB<double>;
template void skinny_gemm_rows<float>(const float*, int64_t, const SkinnyPackedB<float>&, float*, int64_t, int64_t,
                                      bool);
template void skinny_gemm_rows<double>(const double*, int64_t, const SkinnyPackedB<double>&, double*, int64_t,
                                       int64_t, bool);

}  // namespace dydx::cpu
