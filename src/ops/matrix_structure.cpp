// Matrix-structure ops: diagonal (a view), diag, trace, tril and triu (copies). All are linear, so each
// record's JVP is its Taylor rule too. Their gradients scatter into, or read, the same diagonal or
// band: the diagonal's gradient is its scatter into zeros (as_strided_scatter over the diagonal's
// region, differentiable), tril's gradient is tril of the gradient.
#include "ops/matrix_structure.hpp"

#include <algorithm>
#include <type_traits>

#include "cpu/parallel.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/view_region.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

// Where a diagonal's elements lie: sizes, strides and storage offset.
struct DiagonalGeometry {
  Dims sizes;
  Dims strides;
  int64_t offset = 0;
};

// The diagonal `diagonal` of dims (dim1, dim2) (wrapped, distinct) of the layout (sizes, strides,
// offset): both dims go, and the diagonal becomes the last dim, strides[dim1] + strides[dim2] apart.
// An offset beyond the matrix leaves it empty (and the storage offset as it was, so that no
// product can overflow, as in PyTorch).
DiagonalGeometry diagonal_geometry(const Dims& sizes, const Dims& strides, int64_t offset, int64_t diagonal,
                                   int64_t dim1, int64_t dim2) {
  const int64_t rows = sizes[dim1], cols = sizes[dim2];
  // Neither difference overflows: one operand is a size (>= 0) and the other has the sign that
  // moves away from the overflow.
  const int64_t length = diagonal >= 0 ? std::max<int64_t>(std::min(rows, cols - diagonal), 0)
                                       : std::max<int64_t>(std::min(rows + diagonal, cols), 0);
  DiagonalGeometry g{sizes, strides, offset};
  if (length > 0) g.offset += diagonal >= 0 ? diagonal * strides[dim2] : -diagonal * strides[dim1];
  const int64_t step = strides[dim1] + strides[dim2];
  g.sizes.erase_at(std::max(dim1, dim2));
  g.sizes.erase_at(std::min(dim1, dim2));
  g.strides.erase_at(std::max(dim1, dim2));
  g.strides.erase_at(std::min(dim1, dim2));
  g.sizes.push_back(length);
  g.strides.push_back(step);
  return g;
}

// The same diagonal of a dense tensor of these sizes (where gradients are scattered).
DiagonalGeometry dense_diagonal(const Dims& sizes, int64_t diagonal, int64_t dim1, int64_t dim2) {
  return diagonal_geometry(sizes, detail::contiguous_strides(sizes), 0, diagonal, dim1, dim2);
}

// g, holding nb batch dims and then a diagonal, scattered into zeros of base_sizes (per batch entry)
// at that diagonal: the transpose of reading it.
Tensor scatter_diagonal(const Tensor& g, int64_t nb, const Dims& base_sizes, const DiagonalGeometry& geo) {
  return detail::scatter_region(g, nb, base_sizes, geo.sizes, geo.strides, geo.offset);
}

// The diagonal's offset and its two dims, wrapped.
struct DiagonalAttrs {
  int64_t offset, dim1, dim2;
};
struct DiagonalRecord : Named<"diagonal", "DiagonalBackward0">, Linear {
  using Attrs = DiagonalAttrs;
  static void vjp(const Backward<DiagonalRecord>& b, const Tensor& g, Tensor* grads) {
    const Dims& in = b.input_sizes(0);
    const auto& a = b.attrs();
    grads[0] = scatter_diagonal(g, b.batch_dims(g), in, dense_diagonal(in, a.offset, a.dim1, a.dim2));
  }
  static Tensor jvp(const Primal<DiagonalRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    return t[0].diagonal(p.attrs().offset, p.attrs().dim1 + nb, p.attrs().dim2 + nb);
  }
};

struct DiagAttrs {
  int64_t diagonal;
};
// The square side of diag's matrix for a vector of n elements on diagonal d.
int64_t diag_side(int64_t n, int64_t d, const Tensor& x) {
  int64_t side = 0;
  const bool overflows = d == INT64_MIN || __builtin_add_overflow(n, d < 0 ? -d : d, &side);
  DYDX_CHECK(!overflows, "diag: a vector of ", n, " elements on diagonal ", d, " gives a matrix too large (input shape ",
             x.sizes(), ")");
  return side;
}
// diag of a vector builds a matrix, whose gradient is the matrix's diagonal; diag of a matrix copies
// its diagonal, whose gradient is scattered back onto it. The tangent follows the same map.
struct DiagRecord : Named<"diag", "DiagBackward0">, Linear {
  using Attrs = DiagAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return diag(in[0], a.diagonal); }
  static void vjp(const Backward<DiagRecord>& b, const Tensor& g, Tensor* grads) {
    const Dims& in = b.input_sizes(0);
    const int64_t d = b.attrs().diagonal;
    if (in.size() == 1) grads[0] = g.diagonal(d, -2, -1);
    else grads[0] = scatter_diagonal(g, b.batch_dims(g), in, dense_diagonal(in, d, 0, 1));
  }
  static Tensor jvp(const Primal<DiagRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims(), d = p.attrs().diagonal;
    if (p.input(0).dim() == 2) return t[0].diagonal(d, nb, nb + 1).clone();  // a copy's tangent is a copy
    const Dims square = p.output().sizes().dims();
    return scatter_diagonal(t[0], nb, square, dense_diagonal(square, d, 0, 1));
  }
};

// trace's gradient is the gradient on every element of the main diagonal (of a non-square matrix
// too) and zero elsewhere; its tangent is the trace of the tangent.
struct TraceRecord : Named<"trace", "TraceBackward0">, Linear {
  static Tensor replay(const TensorList& in, const NoAttrs&) { return trace(in[0]); }
  static void vjp(const Backward<TraceRecord>& b, const Tensor& g, Tensor* grads) {
    const Dims& in = b.input_sizes(0);
    const int64_t nb = b.batch_dims(g);
    const DiagonalGeometry geo = dense_diagonal(in, 0, 0, 1);
    grads[0] = scatter_diagonal(g.unsqueeze(-1).expand(with_batch(g, nb, geo.sizes)), nb, in, geo);
  }
  static Tensor jvp(const Primal<TraceRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    return t[0].diagonal(0, nb, nb + 1).sum({-1});
  }
};

// tril and triu keep a band and zero the rest: their gradient and tangent are the same band of
// the gradient and tangent (whose batch dims are leading dims, which both ops map over).
using TrilNames = Named<"tril", "TrilBackward0">;
using TriuNames = Named<"triu", "TriuBackward0">;
template <class Names>
struct BandRecord : Names, Linear {
  static constexpr bool lower = std::is_same_v<Names, TrilNames>;
  using Attrs = DiagAttrs;
  static Tensor band(const Tensor& x, int64_t diagonal) { return lower ? tril(x, diagonal) : triu(x, diagonal); }
  static Tensor replay(const TensorList& in, const Attrs& a) { return band(in[0], a.diagonal); }
  static void vjp(const Backward<BandRecord>& b, const Tensor& g, Tensor* grads) { grads[0] = band(g, b.attrs().diagonal); }
  static Tensor jvp(const Primal<BandRecord>& p, const TensorList& t) { return band(t[0], p.attrs().diagonal); }
};

// The columns [first, last) of row i that the band keeps: tril keeps j <= i + diagonal, triu
// keeps j >= i + diagonal. The diagonal comes clamped into [-rows - 1, cols + 1], beyond which
// nothing changes, so that i + diagonal cannot overflow.
struct KeptColumns {
  int64_t first, last;
};
inline KeptColumns kept_columns(int64_t i, int64_t diagonal, int64_t cols, bool lower) {
  if (lower) return {0, std::clamp<int64_t>(i + diagonal + 1, 0, cols)};
  return {std::clamp<int64_t>(i + diagonal, 0, cols), cols};
}
int64_t clamp_diagonal(int64_t diagonal, int64_t rows, int64_t cols) {
  return std::clamp<int64_t>(diagonal, -rows - 1, cols + 1);
}

// Rows per piece of a parallel loop over rows of `cols` elements.
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(cols, 1)); }

// The element offsets of the matrices of a layout, in row-major order of its leading dims: one
// division per dim to start anywhere, then a carry per matrix.
class MatrixWalk {
 public:
  MatrixWalk(const Dims& sizes, const Dims& strides, int64_t first) : sizes_(sizes), strides_(strides) {
    const int64_t lead = static_cast<int64_t>(sizes.size()) - 2;
    index_ = Dims(static_cast<size_t>(lead), 0);
    for (int64_t d = lead - 1; d >= 0; --d) {
      index_[d] = first % sizes[d];
      first /= sizes[d];
      offset_ += index_[d] * strides[d];
    }
  }
  int64_t offset() const { return offset_; }
  void next() {
    for (int64_t d = static_cast<int64_t>(index_.size()) - 1; d >= 0; --d) {
      offset_ += strides_[d];
      if (++index_[d] < sizes_[d]) return;
      offset_ -= index_[d] * strides_[d];
      index_[d] = 0;
    }
  }

 private:
  const Dims& sizes_;
  const Dims& strides_;
  Dims index_;
  int64_t offset_ = 0;
};

template <class T>
void zero_run(T* p, int64_t n, int64_t stride) {
  if (stride == 1) std::fill(p, p + n, T{});
  else
    for (int64_t j = 0; j < n; ++j) p[j * stride] = T{};
}

// out (dense [..., rows, cols]) = the band of x, read through x's own strides (transposed, sliced
// or expanded alike): each row of out is zeroed outside the band and takes the kept elements of
// x's row, so every element of out is written once and only the kept elements of x are read, with
// no index arithmetic per element.
template <class T>
void copy_band(const Tensor& x, T* out, int64_t diagonal, bool lower) {
  const Dims& sizes = x.impl()->sizes;
  const Dims& strides = x.impl()->strides;
  const int64_t rank = x.dim(), rows = sizes[rank - 2], cols = sizes[rank - 1];
  const int64_t row_stride = strides[rank - 2], col_stride = strides[rank - 1];
  diagonal = clamp_diagonal(diagonal, rows, cols);
  const T* data = x.data_ptr<T>();
  cpu::parallel_for(x.numel() / cols, row_grain(cols), [&](int64_t begin, int64_t end) {
    MatrixWalk walk(sizes, strides, begin / rows);
    int64_t i = begin % rows;  // the row within its matrix
    for (int64_t q = begin; q < end; ++q) {
      const KeptColumns k = kept_columns(i, diagonal, cols, lower);
      const T* s = data + walk.offset() + i * row_stride;
      T* o = out + q * cols;
      std::fill(o, o + k.first, T{});
      if (col_stride == 1) std::copy(s + k.first, s + k.last, o + k.first);
      else
        for (int64_t j = k.first; j < k.last; ++j) o[j] = s[j * col_stride];
      std::fill(o + k.last, o + cols, T{});
      if (++i == rows) {
        i = 0;
        walk.next();
      }
    }
  });
}

template <class T>
void zero_outside_band_typed(const Tensor& t, int64_t diagonal, bool lower) {
  const Dims& sizes = t.impl()->sizes;
  const Dims& strides = t.impl()->strides;
  const int64_t rank = t.dim(), rows = sizes[rank - 2], cols = sizes[rank - 1];
  const int64_t row_stride = strides[rank - 2], col_stride = strides[rank - 1];
  if (rows == 0 || cols == 0) return;
  diagonal = clamp_diagonal(diagonal, rows, cols);
  T* data = t.data_ptr<T>();
  const int64_t total_rows = t.numel() / cols;
  cpu::parallel_for(total_rows, row_grain(cols), [&](int64_t begin, int64_t end) {
    MatrixWalk walk(sizes, strides, begin / rows);
    int64_t i = begin % rows;
    for (int64_t q = begin; q < end; ++q) {
      const KeptColumns k = kept_columns(i, diagonal, cols, lower);
      T* row = data + walk.offset() + i * row_stride;
      zero_run(row, k.first, col_stride);
      zero_run(row + k.last * col_stride, cols - k.last, col_stride);
      if (++i == rows) {
        i = 0;
        walk.next();
      }
    }
  });
}

// Under vmap, an op on the sample's trailing matrix dims runs once on the batch moved in front.
Tensor batch_first_of(const Tensor& x) {
  const auto* b = vmap::batched(x);
  return vmap::batch_first({b->value, b->bdim});
}

}  // namespace

void check_band_rank(const Tensor& x, const char* op) {
  if (x.dim() < 2)  // (an IndexError, as PyTorch's dim wrapping of -2 raises)
    detail::fail_with<IndexError>(op, ": input tensor must have at least 2 dimensions (got shape ", x.sizes(), ")");
}

void zero_outside_band(const Tensor& t, int64_t diagonal, bool lower) {
  cpu::dispatch_with_bool(t.dtype(), [&](auto tag) { zero_outside_band_typed<decltype(tag)>(t, diagonal, lower); });
}

// tril or triu of x into a fresh dense tensor, in one pass whatever x's layout.
template <class Names>
Tensor band_op(const Tensor& x, int64_t diagonal) {
  using Record = BandRecord<Names>;
  check_band_rank(x, Names::name);
  if (vmap::takes_rule(x)) [[unlikely]]
    return vmap::wrap(Record::band(batch_first_of(x), diagonal), 0, vmap::batched(x)->level);
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  if (out.numel() > 0)
    cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      copy_band(x, out.data_ptr<T>(), diagonal, Record::lower);
    });
  finish<Record>({&x}, out, {diagonal});
  return out;
}

}  // namespace ops

Tensor diagonal(const Tensor& x, int64_t offset, int64_t dim1, int64_t dim2) {
  const int64_t d1 = detail::wrap_dim(dim1, x.dim(), "diagonal");
  const int64_t d2 = detail::wrap_dim(dim2, x.dim(), "diagonal");
  DYDX_CHECK(d1 != d2, "diagonal: dimensions cannot be identical (dim1 = ", dim1, ", dim2 = ", dim2,
             ", tensor of shape ", x.sizes(), ")");
  if (vmap::takes_rule(x)) [[unlikely]]
    return vmap::wrap(ops::batch_first_of(x).diagonal(offset, d1 + 1, d2 + 1), 0, vmap::batched(x)->level);
  const auto& impl = *x.impl();
  const ops::DiagonalGeometry geo = ops::diagonal_geometry(impl.sizes, impl.strides, x.storage_offset(), offset, d1, d2);
  Tensor out = detail::make_alias(x, geo.sizes, geo.strides, geo.offset);
  // A view made under no_grad has no history for an in-place write through it to rewrite.
  out.impl()->view_made_without_grad = !is_grad_enabled();
  ops::finish<ops::DiagonalRecord>({&x}, out, {offset, d1, d2});
  return out;
}

Tensor diag(const Tensor& x, int64_t diagonal) {
  DYDX_CHECK(x.dim() == 1 || x.dim() == 2, "diag: matrix or a vector expected (got a tensor of shape ", x.sizes(), ")");
  if (x.dim() == 1) {
    const int64_t n = x.size(0), side = ops::diag_side(n, diagonal, x);
    if (vmap::takes_rule(x)) [[unlikely]] {
      // Each sample's vector scattered onto the diagonal of its own zero matrix.
      const Dims square{side, side};
      return vmap::wrap(ops::scatter_diagonal(ops::batch_first_of(x), 1, square, ops::dense_diagonal(square, diagonal, 0, 1)),
                        0, vmap::batched(x)->level);
    }
    Tensor out = detail::make_empty({side, side}, x.dtype(), "diag");
    cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* o = out.data_ptr<T>();
      cpu::fill(o, out.numel(), T{});
      const T* v = x.data_ptr<T>();
      const int64_t stride = x.stride(0), first = diagonal >= 0 ? diagonal : -diagonal * side;
      for (int64_t i = 0; i < n; ++i) o[first + i * (side + 1)] = v[i * stride];
    });
    ops::finish<ops::DiagRecord>({&x}, out, {diagonal});
    return out;
  }
  if (vmap::takes_rule(x)) [[unlikely]]
    return vmap::wrap(ops::batch_first_of(x).diagonal(diagonal, 1, 2).clone(), 0, vmap::batched(x)->level);
  const auto& impl = *x.impl();
  const ops::DiagonalGeometry geo = ops::diagonal_geometry(impl.sizes, impl.strides, x.storage_offset(), diagonal, 0, 1);
  Tensor out = detail::make_empty(geo.sizes, x.dtype());
  detail::copy_values(out, detail::make_alias(x, geo.sizes, geo.strides, geo.offset));
  ops::finish<ops::DiagRecord>({&x}, out, {diagonal});
  return out;
}

Tensor trace(const Tensor& x) {
  DYDX_CHECK(x.dim() == 2, "trace: expected a matrix, but got tensor with dim ", x.dim(), " (shape ", x.sizes(), ")");
  DYDX_CHECK(x.dtype() != kBool, "trace: not implemented for bool tensors (shape ", x.sizes(), ")");
  if (vmap::takes_rule(x)) [[unlikely]]
    return vmap::wrap(ops::batch_first_of(x).diagonal(0, 1, 2).sum({-1}), 0, vmap::batched(x)->level);
  Tensor out = detail::make_empty({}, x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // As PyTorch's CPU kernel: float32 accumulates in double; int64 wraps on overflow.
    using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
    const T* p = x.data_ptr<T>();
    const int64_t length = std::min(x.size(0), x.size(1)), step = x.stride(0) + x.stride(1);
    Acc sum = 0;
    for (int64_t i = 0; i < length; ++i) {
      if constexpr (std::is_integral_v<T>) sum = cpu::wrapping_add(sum, p[i * step]);
      else sum += p[i * step];
    }
    *out.data_ptr<T>() = static_cast<T>(sum);
  });
  ops::finish<ops::TraceRecord>({&x}, out);
  return out;
}

Tensor tril(const Tensor& x, int64_t diagonal) { return ops::band_op<ops::TrilNames>(x, diagonal); }
Tensor triu(const Tensor& x, int64_t diagonal) { return ops::band_op<ops::TriuNames>(x, diagonal); }

Tensor Tensor::diagonal(int64_t offset, int64_t dim1, int64_t dim2) const { return dydx::diagonal(*this, offset, dim1, dim2); }
Tensor Tensor::diag(int64_t diagonal) const { return dydx::diag(*this, diagonal); }
Tensor Tensor::trace() const { return dydx::trace(*this); }
Tensor Tensor::tril(int64_t diagonal) const { return dydx::tril(*this, diagonal); }
Tensor Tensor::triu(int64_t diagonal) const { return dydx::triu(*this, diagonal); }

}  // namespace dydx
