// The skinny-product kernel; see skinny_gemm.hpp for when and why it replaces BLAS.
#include "cpu/skinny_gemm.hpp"
#include "cpu/kernel_vectors.hpp"

#include <algorithm>
#include <cstring>

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

}  // namespace

template <class T>
void skinny_gemm_rows(const T* a, int64_t lda, int64_t a_step, const SkinnyPackedB<T>& b, T* c, int64_t first,
                      int64_t last, bool accumulate) {
  constexpr int64_t lanes = kLanes<T>;
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
