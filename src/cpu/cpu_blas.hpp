// Matrix products through CBLAS (OpenBLAS), reading strided operands without copies where BLAS allows.
#pragma once

#include <memory>

#include "dydx/tensor.hpp"

namespace dydx::cpu {

/// out[b] = a[b] @ b[b] for each of batch matrices, where a is [batch, n, k] and b is [batch, k, m]
/// (any strides) and out is a fresh contiguous [batch, n, m] of the same dtype. With row_bias, a
/// contiguous [m] of that (floating) dtype, every row of out starts from it: out[b] = bias + a[b] @ b[b].
void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& row_bias = Tensor());

/// Results of a product that only writes (an outer product, k = 1) larger than this many bytes are
/// written with streaming stores, around the caches: the last-level cache's size (16 MiB where the
/// kernel does not report it).
size_t streaming_store_bytes();

/// Tells the products run on this thread while it lives that their rows are stacks of
/// `rows_per_stack` rows (matmul folding a [S, R, k] operand into S R rows): those the skinny kernel
/// takes then give each thread the same rows of every stack, which is how the elementwise kernels
/// that come between them (a forward Laplacian's steps, an op broadcast over the stacks) split the
/// same data, so that it stays in one core's caches instead of crossing to the other.
class StackedRows {
 public:
  explicit StackedRows(int64_t rows_per_stack);
  ~StackedRows();
  StackedRows(const StackedRows&) = delete;
  StackedRows& operator=(const StackedRows&) = delete;

 private:
  int64_t previous_;
};

/// c = a @ b, or c += a @ b with accumulate, for row-major [n, k] a and [k, m] b with the given row
/// strides (leading dims), on the calling thread (float and double): for kernels that split their own
/// work across threads, such as a convolution's one product per sample.
template <class T>
void gemm_on_this_thread(int64_t n, int64_t m, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                         int64_t ldc, bool accumulate);
/// The same with either operand stored transposed: a is [k, n] (row stride lda) when trans_a, b is
/// [m, k] (row stride ldb) when trans_b; c is always row-major [n, m].
template <class T>
void gemm_on_this_thread(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const T* a, int64_t lda,
                         const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate);

/// C = bias + A B a block of rows at a time, into memory the caller gives: func::compile's products
/// whose epilogue (an activation) runs on each block while it is in cache. It takes the skinny kernel,
/// B packed once, or the dot kernel where batched_gemm does (each row then has the same bits as
/// there), else BLAS on each block. a [n, k] and b [k, m] of float or double, each with a unit stride
/// in one dim; bias undefined or m contiguous values.
template <class T>
class RowBlockProduct {
 public:
  RowBlockProduct(const Tensor& a, const Tensor& b, const Tensor& bias);
  ~RowBlockProduct();
  RowBlockProduct(const RowBlockProduct&) = delete;
  RowBlockProduct& operator=(const RowBlockProduct&) = delete;
  /// Rows [first, last) of C into c, contiguous with m columns.
  void rows(int64_t first, int64_t last, T* c) const;

 private:
  struct Packed;
  const T* a_;
  const T* b_;
  const T* bias_;
  int64_t k_, m_;
  int64_t a_row_step_, a_col_step_, b_row_step_, b_col_step_;
  bool a_rows_ = true;              // A row-major, else stored transposed
  std::unique_ptr<Packed> packed_;  // the skinny kernel's B, or null for BLAS
  bool dot_ = false;                // the dot kernel, reading B (stored transposed, rows b_ld_ apart) in place
  bool packed_product_ = false;     // BLAS's blocks through packed_gemm (packed_gemm_suits of the whole product)
  int64_t b_ld_ = 0;
};

}  // namespace dydx::cpu
