// Matrix products through CBLAS; operands that BLAS cannot read in place are copied once.
#include "cpu/cpu_blas.hpp"
#include "cpu/blas_core.hpp"

#include <cblas.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "core/tensor_factory.hpp"
#include "cpu/cpu_kernels.hpp"
#include "cpu/dot_gemm.hpp"
#include "cpu/packed_gemm.hpp"
#include "cpu/skinny_gemm.hpp"
#include "dydx/threads.hpp"

namespace dydx::cpu {

namespace {

struct BlasOperand {
  CBLAS_TRANSPOSE trans;
  int64_t ld;
  bool usable;
};

// How BLAS can read a rows x cols matrix with the given strides: row-major as is, transposed, or not at all.
BlasOperand blas_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  if ((cols == 1 || col_stride == 1) && (rows == 1 || row_stride >= std::max<int64_t>(1, cols)))
    return {CblasNoTrans, rows == 1 ? std::max<int64_t>(1, cols) : row_stride, true};
  if ((rows == 1 || row_stride == 1) && (cols == 1 || col_stride >= std::max<int64_t>(1, rows)))
    return {CblasTrans, cols == 1 ? std::max<int64_t>(1, rows) : col_stride, true};
  return {CblasNoTrans, 0, false};
}

// C = A B, or C += A B with accumulate; C's rows are ldc apart: dydx's packed kernel where `packed`
// (packed_gemm_suits, asked of the whole product, so that every piece of it takes the same kernel and
// a row's bits do not depend on the split), else OpenBLAS.
template <class T>
void blas_gemm(BlasOperand la, BlasOperand lb, int64_t n, int64_t m, int64_t k, const T* a, const T* b, T* c,
               int64_t ldc, bool accumulate, bool packed) {
  if (packed) {
    const bool a_rows = la.trans == CblasNoTrans, b_rows = lb.trans == CblasNoTrans;
    packed_gemm(n, m, k, a, a_rows ? la.ld : 1, a_rows ? 1 : la.ld, b, b_rows ? lb.ld : 1, b_rows ? 1 : lb.ld, c, ldc,
                accumulate);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, la.trans, lb.trans, n, m, k, 1.0f, a, la.ld, b, lb.ld, accumulate ? 1.0f : 0.0f, c, ldc);
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, la.trans, lb.trans, n, m, k, 1.0, a, la.ld, b, lb.ld, accumulate ? 1.0 : 0.0, c, ldc);
  }
}

// Products split their rows across dydx's pool, with OpenBLAS on one thread, unless the user set
// OPENBLAS_NUM_THREADS. Two pools on the same cores fought: OpenBLAS's idle workers sched_yield in a
// loop after each product, and took 18% of an MLP's forward pass at B = 10^5 from dydx's workers.
bool rows_split_by_dydx() {
  static const bool split = [] {
    choose_blas_core();  // done at load already; here too in case a static initialiser multiplies first
    if (std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return false;
    openblas_set_num_threads(1);
    stop_idle_blas_workers();
    return true;
  }();
  return split;
}
// At load, while OpenBLAS's workers are the process's only other threads (see stop_idle_blas_workers).
[[maybe_unused]] const bool split_at_load = rows_split_by_dydx();

// Below this many multiply-adds per thread, a product runs on the calling thread.
constexpr int64_t kGemmGrain = int64_t{1} << 18;

thread_local int64_t rows_per_stack = 0;  // set by StackedRows; 0: rows are not stacks

// A batch of square S x S products (S = 2, 3, 4: rotations, transforms, the gradient of small
// systems' inverses), the sizes known to the compiler, fully unrolled, one loop over the batch: the
// kernels gemm() chooses pack B and BLAS checks its arguments per product, which for 8 to 64
// multiply-adds cost several times the work (10^4 4 x 4 products: 0.64 ms, PyTorch 0.44). Each
// element sums its products in k's order from +0 by fused multiply-adds, then adds the bias, as the
// product kernels do (so -0 + -0 gives +0 there too). Single products (batch 1: mm, addmm) keep gemm()'s kernels, so that a row of a
// product has the same bits alone and within any block of rows (test_narrow_products).
// x y + acc rounded once where the CPU fuses them, as dydx's product kernels do, written out so that
// the compiler cannot fuse some elements' sums and not others (a Gram matrix A A^T would come out
// asymmetric, and a batch's bits would differ from each product's alone).
template <class T>
[[gnu::always_inline]] inline T multiply_add(T x, T y, T acc) {
#if defined(__FMA__)
  return std::fma(x, y, acc);
#else
  return acc + x * y;
#endif
}

template <class T, int S>
void tiny_square_products(BlasOperand la, BlasOperand lb, const T* a, int64_t a_step, const T* b, int64_t b_step, T* c,
                          const T* bias, int64_t first, int64_t last) {
  const int64_t a_row = la.trans == CblasNoTrans ? la.ld : 1, a_col = la.trans == CblasNoTrans ? 1 : la.ld;
  const int64_t b_row = lb.trans == CblasNoTrans ? lb.ld : 1, b_col = lb.trans == CblasNoTrans ? 1 : lb.ld;
  for (int64_t q = first; q < last; ++q) {
    const T* x = a + q * a_step;
    const T* y = b + q * b_step;
    T* out = c + q * S * S;
    T lhs[S][S], rhs[S][S];
    for (int i = 0; i < S; ++i)
      for (int p = 0; p < S; ++p) {
        lhs[i][p] = x[i * a_row + p * a_col];
        rhs[i][p] = y[i * b_row + p * b_col];
      }
    for (int i = 0; i < S; ++i)
      for (int j = 0; j < S; ++j) {
        T sum = T(0);
        for (int p = 0; p < S; ++p) sum = multiply_add(lhs[i][p], rhs[p][j], sum);
        out[i * S + j] = bias != nullptr ? bias[j] + sum : sum;
      }
  }
}

// C = bias + A B, with every row of C starting from the bias row (null: zero).
template <class T>
void gemm(BlasOperand la, BlasOperand lb, int64_t n, int64_t m, int64_t k, const T* a, const T* b, T* c,
          const T* bias) {
  const bool a_rows = la.trans == CblasNoTrans;  // A row-major, else stored transposed
  if (!a_rows && m == 1 && bias == nullptr && skinny_gemm_fits_one_row<T>(n)) {
    // A column of C from A stored transposed, x^T g for a layer of one output: C^T = g^T (A's
    // storage, [k, n] row-major, read in place) is one row of the kernel, n wide, instead of n rows
    // one vector wide of which one lane is kept.
    const SkinnyPackedB<T> packed(a, k, n, la.ld, 1);
    skinny_gemm_rows(b, 0, lb.trans == CblasNoTrans ? lb.ld : 1, packed, c, 0, 1);
    return;
  }
  if (a_rows ? skinny_gemm_fits<T>(k, m) : skinny_gemm_transposed_a_fits<T>(n, k, m)) {
    const bool b_rows = lb.trans == CblasNoTrans;  // B row-major, else stored transposed
    const SkinnyPackedB<T> packed(b, k, m, b_rows ? lb.ld : 1, b_rows ? 1 : lb.ld, bias);
    const int64_t lda = a_rows ? la.ld : 1, a_step = a_rows ? 1 : la.ld;
    // Split into whole register blocks of rows: a product of few rows and a long inner dimension
    // (a weight gradient, 32 rows) split at row 16 left blocks of 3 and 1 rows streaming all of B.
    const int64_t per_stack = rows_per_stack;
    if (per_stack > 0 && n > per_stack && n % per_stack == 0 && per_stack >= 4 * kSkinnyRows * get_num_threads()) {
      // Pieces of every stack's rows, the same rows of each: see StackedRows.
      const int64_t stacks = n / per_stack, blocks = (per_stack + kSkinnyRows - 1) / kSkinnyRows;
      parallel_for(blocks, kGemmGrain / (m * k * kSkinnyRows * stacks) + 1, [&](int64_t first, int64_t last) {
        const int64_t begin = first * kSkinnyRows, end = std::min(per_stack, last * kSkinnyRows);
        for (int64_t s = 0; s < stacks; ++s)
          skinny_gemm_rows(a, lda, a_step, packed, c, s * per_stack + begin, s * per_stack + end);
      });
      return;
    }
    const int64_t blocks = (n + kSkinnyRows - 1) / kSkinnyRows;
    parallel_for(blocks, kGemmGrain / (m * k * kSkinnyRows) + 1, [&](int64_t first, int64_t last) {
      skinny_gemm_rows(a, lda, a_step, packed, c, first * kSkinnyRows, std::min(n, last * kSkinnyRows));
    });
    return;
  }
  if (a_rows && lb.trans == CblasTrans && dot_gemm_fits<T>(n, k, m)) {
    // Few rows against a weight stored as rows (x W^T): dot products that read W in place, its
    // columns split across threads in whole register blocks.
    const int64_t blocks = (m + kDotColumns - 1) / kDotColumns;
    parallel_for(blocks, kGemmGrain / (n * k * kDotColumns) + 1, [&](int64_t first, int64_t last) {
      dot_gemm_columns(a, la.ld, b, lb.ld, n, k, c, m, bias, first * kDotColumns,
                       std::min(m, last * kDotColumns));
    });
    return;
  }
  const int64_t a_row_step = la.trans == CblasNoTrans ? la.ld : 1, ldc = std::max<int64_t>(1, m);
  const bool packed = packed_gemm_suits(n, m, k);
  // With a bias, BLAS accumulates onto rows that start as copies of it.
  auto rows_of_c = [&](int64_t first, int64_t last) {
    if (bias != nullptr)
      for (int64_t r = first; r < last; ++r) std::copy(bias, bias + m, c + r * ldc);
    blas_gemm(la, lb, last - first, m, k, a + first * a_row_step, b, c + first * ldc, ldc, bias != nullptr, packed);
  };
  const int threads = get_num_threads();
  if (!rows_split_by_dydx() || threads == 1 || n < 2 || n * m * k < 2 * kGemmGrain) {
    rows_of_c(0, n);
    return;
  }
  // Each piece packs the operand it does not split whole, so the split goes along the larger of n
  // and m: with fewer rows than columns (a layer's weight [768, 768] times 51 rows, a Laplacian's
  // stack for one sample), pieces of columns pack A's few rows twice instead of all of B, where over a
  // quarter of such a Laplacian went to packing B (BENCHMARKS.md). Pieces of 64 columns keep its register
  // tiles whole. (One row is not split: OpenBLAS's pieces could round it differently on different
  // thread counts. One row against a weight stored transposed is the dot kernel's, above.)
  if (n < m && m >= 128) {
    const int64_t b_column_step = lb.trans == CblasNoTrans ? 1 : lb.ld;
    const int64_t columns = ((m + threads - 1) / threads + 63) / 64 * 64;
    parallel_for((m + columns - 1) / columns, 1, [&](int64_t first_piece, int64_t end_piece) {
      const int64_t first = first_piece * columns, last = std::min(m, end_piece * columns);
      if (bias != nullptr)
        for (int64_t r = 0; r < n; ++r) std::copy(bias + first, bias + last, c + r * ldc + first);
      blas_gemm(la, lb, n, last - first, k, a, b + first * b_column_step, c + first, ldc, bias != nullptr, packed);
    });
    return;
  }
  // One piece per thread: each piece packs all of B again, so more pieces cost more. Pieces start on
  // multiples of 16 rows, whole register tiles of every OpenBLAS x86-64 kernel; multiples of 64 split
  // 320 rows (an NTK's contraction) 192 + 128, one thread a fifth late. OpenBLAS picks its kernels
  // by shape, so a row's last bits can still depend on the split, as they did when OpenBLAS split
  // the rows itself.
  const int64_t rows = ((n + threads - 1) / threads + 15) / 16 * 16;
  parallel_for((n + rows - 1) / rows, 1, [&](int64_t first_piece, int64_t end_piece) {
    rows_of_c(first_piece * rows, std::min(n, end_piece * rows));
  });
}

// out[i] = bias + a[i] b[i] for every i through gemm(); operands BLAS cannot read as they are are
// copied once.
template <class T>
void gemm_each(const Tensor& out, const Tensor& a_in, const Tensor& b_in, const T* bias) {
  const int64_t batch = a_in.size(0), n = a_in.size(1), k = a_in.size(2), m = b_in.size(2);
  Tensor a = a_in, b = b_in;
  BlasOperand la = blas_layout(n, k, a.stride(1), a.stride(2)), lb = blas_layout(k, m, b.stride(1), b.stride(2));
  if (!la.usable) {
    a = a.contiguous();
    la = blas_layout(n, k, a.stride(1), a.stride(2));
  }
  if (!lb.usable) {
    b = b.contiguous();
    lb = blas_layout(k, m, b.stride(1), b.stride(2));
  }
  const T* pa = reinterpret_cast<const T*>(a.impl()->data_bytes());
  const T* pb = reinterpret_cast<const T*>(b.impl()->data_bytes());
  T* c = out.data_ptr<T>();
  auto products = [&](int64_t first, int64_t last) {
    if (batch > 1 && n == m && m == k && n >= 2 && n <= 4) {
      const auto square = n == 2 ? tiny_square_products<T, 2> : n == 3 ? tiny_square_products<T, 3> : tiny_square_products<T, 4>;
      square(la, lb, pa, a.stride(0), pb, b.stride(0), c, bias, first, last);
      return;
    }
    for (int64_t i = first; i < last; ++i)
      gemm<T>(la, lb, n, m, k, pa + i * a.stride(0), pb + i * b.stride(0), c + i * n * m, bias);
  };
  // Many products of few rows each (a convolution's per-sample ones, attention's heads): whole
  // products split across threads, each on one thread (gemm's own row split runs inline there),
  // since splitting a few rows would leave threads idle.
  const int64_t work = std::max<int64_t>(1, n * m * k);
  if (rows_split_by_dydx() && batch >= get_num_threads() && n < 64 * get_num_threads() && batch * work >= 2 * kGemmGrain)
    parallel_for(batch, std::max<int64_t>(1, kGemmGrain / work), products);
  else
    products(0, batch);
}

// The last-level cache's size as the kernel reports it in sysfs, 0 where it does not. (glibc's
// sysconf reads CPUID, which a VM may fill in wrongly: 320 MiB for a 32 MiB L3 on one seen here.)
size_t last_level_cache_bytes() {
  size_t bytes = 0;
  int deepest = 0;
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream level_file(dir + "level"), size_file(dir + "size");
    int level = 0;
    size_t size = 0;
    std::string unit;
    if (!(level_file >> level) || !(size_file >> size)) continue;
    size_file >> unit;  // "32768K"
    if (unit == "K") size <<= 10;
    else if (unit == "M") size <<= 20;
    else if (!unit.empty()) continue;  // a unit the kernel does not print: unknown
    if (level > deepest) {
      deepest = level;
      bytes = size;
    }
  }
  return bytes;
}

}  // namespace

// Results larger than the last-level cache go around the caches: an ordinary store first reads the
// line it writes (write-allocate), which doubles the memory traffic of a kernel that only writes,
// and such a result would not stay cached for its next reader anyway. Smaller ones stay in it (the
// seed's [10^5, 64] float Jacobian, 25.6 MB, in a 32 MiB L3: 947 -> 445 us compiled).
size_t streaming_store_bytes() {
  static const size_t bytes = [] {
    const size_t llc = last_level_cache_bytes();
    return llc > 0 ? llc : size_t{16} << 20;
  }();
  return bytes;
}

namespace {

// Whether to write a [rows, row_bytes] result with streaming stores: large, and every row 16-byte
// aligned (SSE2, part of every x86-64, is enough to stream at memory speed).
bool streams_past_cache(const void* out, size_t total_bytes, size_t row_bytes) {
#if defined(__SSE2__)
  return total_bytes > streaming_store_bytes() && row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
#else
  return false;
#endif
}

// An element of a k = 1 product as BLAS computes it, 0 + a b: one rounding where the CPU fuses a
// multiply-add (so a negative product that underflows is -0, as in OpenBLAS and PyTorch, and an exact
// -0 product is +0), two where it does not. Written out, not left to the compiler, so that the plain
// and the streaming loops agree whichever compiler contracts what.
template <class T>
[[gnu::always_inline]] inline T outer_element(T a, T b) {
#ifdef __FMA__
  return std::fma(a, b, T(0));
#else
  return T(0) + a * b;
#endif
}

// out[j] = outer_element(scale, row[j]) with non-temporal stores; out is 16-byte aligned and m fills
// whole vectors.
template <class T>
void store_scaled_streaming(T* out, const T* row, T scale, int64_t m) {
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    const __m128 s = _mm_set1_ps(scale);
    const __m128 zero = _mm_setzero_ps();
#ifdef __FMA__
    for (int64_t j = 0; j < m; j += 4) _mm_stream_ps(out + j, _mm_fmadd_ps(s, _mm_loadu_ps(row + j), zero));
#else
    for (int64_t j = 0; j < m; j += 4) _mm_stream_ps(out + j, _mm_add_ps(zero, _mm_mul_ps(s, _mm_loadu_ps(row + j))));
#endif
  } else {
    const __m128d s = _mm_set1_pd(scale);
    const __m128d zero = _mm_setzero_pd();
#ifdef __FMA__
    for (int64_t j = 0; j < m; j += 2) _mm_stream_pd(out + j, _mm_fmadd_pd(s, _mm_loadu_pd(row + j), zero));
#else
    for (int64_t j = 0; j < m; j += 2) _mm_stream_pd(out + j, _mm_add_pd(zero, _mm_mul_pd(s, _mm_loadu_pd(row + j))));
#endif
  }
#endif
}

// Streaming stores are weakly ordered: fence them before the thread reports its piece as done.
void finish_streaming() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Integer products have no BLAS; they are rare and off the hot path. They accumulate in uint64, so
// that an overflow wraps as in PyTorch rather than being undefined.
void integer_gemm(int64_t n, int64_t m, int64_t k, const int64_t* a, int64_t sa0, int64_t sa1, const int64_t* b,
                  int64_t sb0, int64_t sb1, int64_t* c) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      uint64_t acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<uint64_t>(a[i * sa0 + p * sa1]) * static_cast<uint64_t>(b[p * sb0 + j * sb1]);
      c[i * m + j] = static_cast<int64_t>(acc);
    }
}

}  // namespace

StackedRows::StackedRows(int64_t rows) : previous_(rows_per_stack) { rows_per_stack = rows; }
StackedRows::~StackedRows() { rows_per_stack = previous_; }

void batched_gemm(const Tensor& out, const Tensor& a_in, const Tensor& b_in, const Tensor& row_bias) {
  const int64_t batch = a_in.size(0), n = a_in.size(1), k = a_in.size(2), m = b_in.size(2);
  if (out.numel() == 0) return;
  // One b for the whole batch (batch stride 0: an expanded weight, which is what vmap's per-sample
  // products with a shared weight hand bmm) and a's batch and rows one run of rows: ONE product of
  // batch n rows, as matmul gives a shared weight, instead of batch small ones that each read b again.
  if (batch > 1 && b_in.stride(0) == 0 && (n == 1 || a_in.stride(0) == n * a_in.stride(1))) {
    const int64_t rows = batch * n, row_stride = n == 1 ? a_in.stride(0) : a_in.stride(1);
    batched_gemm(detail::make_alias(out, {1, rows, m}, {0, m, 1}, out.storage_offset()),
                 detail::make_alias(a_in, {1, rows, k}, {0, row_stride, a_in.stride(2)}, a_in.storage_offset()),
                 detail::make_alias(b_in, {1, k, m}, {0, b_in.stride(1), b_in.stride(2)}, b_in.storage_offset()),
                 row_bias);
    return;
  }
  if (row_bias.defined()) {
    // Floating point only (checked by the caller): the bias rides in the product's accumulators.
    dispatch_floating(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* bias = row_bias.data_ptr<T>();
      T* c = out.data_ptr<T>();
      if (k == 0) {
        for (int64_t r = 0; r < batch * n; ++r) std::copy(bias, bias + m, c + r * m);
        return;
      }
      gemm_each<T>(out, a_in, b_in, bias);
    });
    return;
  }
  if (k == 0) {
    dispatch(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      fill(out.data_ptr<T>(), out.numel(), T(0));
    });
    return;
  }
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* c = out.data_ptr<T>();
    if constexpr (std::is_same_v<T, int64_t>) {
      const T* a = reinterpret_cast<const T*>(a_in.impl()->data_bytes());
      const T* b = reinterpret_cast<const T*>(b_in.impl()->data_bytes());
      for (int64_t i = 0; i < batch; ++i)
        integer_gemm(n, m, k, a + i * a_in.stride(0), a_in.stride(1), a_in.stride(2), b + i * b_in.stride(0),
                     b_in.stride(1), b_in.stride(2), c + i * n * m);
    } else if (k == 1) {
      // An outer product: one pass writing C. BLAS would zero C first and then accumulate into it,
      // twice the memory traffic on what is a bandwidth-bound product (the seed's x^3 W is one).
      // Each element is 0 + a b as BLAS's is (outer_element), so that a -0 product gives +0 as in
      // PyTorch.
      const T* pa = reinterpret_cast<const T*>(a_in.impl()->data_bytes());
      const T* pb = reinterpret_cast<const T*>(b_in.impl()->data_bytes());
      const int64_t sa0 = a_in.stride(0), sa1 = a_in.stride(1), sb0 = b_in.stride(0), sb2 = b_in.stride(2);
      // Rows of C are independent: split them across threads.
      const bool stream = sb2 == 1 && streams_past_cache(c, out.numel() * sizeof(T), m * sizeof(T));
      parallel_for(batch * n, (kElementwiseGrain + m - 1) / m, [&](int64_t first, int64_t last) {
        for (int64_t flat = first; flat < last; ++flat) {
          const int64_t i = flat / n, r = flat % n;
          const T scale = pa[i * sa0 + r * sa1];
          const T* row = pb + i * sb0;
          T* out_row = c + flat * m;
          if (stream) {
            store_scaled_streaming(out_row, row, scale, m);
          } else if (sb2 == 1) {
            for (int64_t j = 0; j < m; ++j) out_row[j] = outer_element(scale, row[j]);
          } else {
            for (int64_t j = 0; j < m; ++j) out_row[j] = outer_element(scale, row[j * sb2]);
          }
        }
        if (stream) finish_streaming();
      });
    } else {
      gemm_each<T>(out, a_in, b_in, nullptr);
    }
  });
}

template <class T>
void gemm_on_this_thread(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const T* a, int64_t lda,
                         const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  if (n == 0 || m == 0) return;
  if (k == 0) {
    if (!accumulate)
      for (int64_t r = 0; r < n; ++r) std::fill(c + r * ldc, c + r * ldc + m, T(0));
    return;
  }
  rows_split_by_dydx();  // OpenBLAS on one thread: the caller's own threads share the cores
  const BlasOperand la{trans_a ? CblasTrans : CblasNoTrans, lda, true};
  const BlasOperand lb{trans_b ? CblasTrans : CblasNoTrans, ldb, true};
  blas_gemm(la, lb, n, m, k, a, b, c, ldc, accumulate, packed_gemm_suits(n, m, k));
}

template <class T>
void gemm_on_this_thread(int64_t n, int64_t m, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                         int64_t ldc, bool accumulate) {
  gemm_on_this_thread<T>(false, false, n, m, k, a, lda, b, ldb, c, ldc, accumulate);
}
template void gemm_on_this_thread<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                                         float*, int64_t, bool);
template void gemm_on_this_thread<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                                          double*, int64_t, bool);
template void gemm_on_this_thread<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                         int64_t, float*, int64_t, bool);
template void gemm_on_this_thread<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                          const double*, int64_t, double*, int64_t, bool);

template <class T>
struct RowBlockProduct<T>::Packed {
  SkinnyPackedB<T> b;
};

template <class T>
RowBlockProduct<T>::RowBlockProduct(const Tensor& a, const Tensor& b, const Tensor& bias)
    : a_(a.data_ptr<T>()),
      b_(b.data_ptr<T>()),
      bias_(bias.defined() ? bias.data_ptr<T>() : nullptr),
      k_(a.size(1)),
      m_(b.size(1)),
      a_row_step_(a.stride(0)),
      a_col_step_(a.stride(1)),
      b_row_step_(b.stride(0)),
      b_col_step_(b.stride(1)) {
  const int64_t n = a.size(0);
  packed_product_ = packed_gemm_suits(n, m_, k_);  // the whole product's choice, for every block
  const BlasOperand la = blas_layout(n, k_, a_row_step_, a_col_step_);
  const bool a_rows = la.usable && la.trans == CblasNoTrans;
  a_rows_ = a_rows;
  if (k_ > 0 && (a_rows ? skinny_gemm_fits<T>(k_, m_) : skinny_gemm_transposed_a_fits<T>(n, k_, m_))) {
    packed_.reset(new Packed{SkinnyPackedB<T>(b_, k_, m_, b_row_step_, b_col_step_, bias_)});
  } else if (const BlasOperand lb = blas_layout(k_, m_, b_row_step_, b_col_step_);
             a_rows && lb.usable && lb.trans == CblasTrans && dot_gemm_fits<T>(n, k_, m_)) {
    dot_ = true;  // as batched_gemm chooses for the whole product, so that each row has the same bits
    b_ld_ = lb.ld;
  }
}

template <class T>
RowBlockProduct<T>::~RowBlockProduct() = default;

template <class T>
void RowBlockProduct<T>::rows(int64_t first, int64_t last, T* c) const {
  const int64_t rows = last - first;
  if (rows <= 0 || m_ == 0) return;
  if (packed_) {
    skinny_gemm_rows(a_ + first * a_row_step_, a_rows_ ? a_row_step_ : 1, a_rows_ ? 1 : a_col_step_, packed_->b, c, 0, rows);
    return;
  }
  if (dot_) {
    dot_gemm_columns(a_ + first * a_row_step_, a_row_step_, b_, b_ld_, rows, k_, c, m_, bias_, 0, m_);
    return;
  }
  if (bias_ != nullptr)
    for (int64_t r = 0; r < rows; ++r) std::copy(bias_, bias_ + m_, c + r * m_);
  const BlasOperand la = blas_layout(rows, k_, a_row_step_, a_col_step_);
  const BlasOperand lb = blas_layout(k_, m_, b_row_step_, b_col_step_);
  if (k_ == 0) {
    if (bias_ == nullptr) std::fill(c, c + rows * m_, T(0));
    return;
  }
  rows_split_by_dydx();  // OpenBLAS on one thread: the caller splits the rows
  blas_gemm(la, lb, rows, m_, k_, a_ + first * a_row_step_, b_, c, m_, bias_ != nullptr, packed_product_);
}

template class RowBlockProduct<float>;
template class RowBlockProduct<double>;

}  // namespace dydx::cpu
