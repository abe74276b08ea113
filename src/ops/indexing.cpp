// Ops that pick or place values by an int64 index: gather and scatter_add (each other's transposes),
// scatter, index_select, masked_fill, and nn::functional::one_hot.
//
// The kernels walk the index line by line along `dim`: a line is every position of the index that
// shares the coordinates outside dim. scatter_add's writes from one line land in one line of the
// result, so lines split across threads never write the same element, and duplicate indices add up
// in index order whatever the thread count. Every index is checked before anything is written.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "dydx/nn/functional.hpp"
#include "cpu/int_arith.hpp"
#include "ops/op_record.hpp"
#include "vmap/batched.hpp"
#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

int64_t size_along(const Tensor& t, int64_t dim) { return t.dim() == 0 ? 1 : t.size(dim); }
int64_t stride_along(const Tensor& t, int64_t dim) { return t.dim() == 0 ? 0 : t.stride(dim); }

/// Calls f(offsets) for each line of `shape` along dim, where offsets[n] is the element offset of
/// the line's start in tensors[n] (by its strides); lines run in parallel.
template <size_t N, class F>
void for_each_line(IntArrayRef shape, int64_t dim, const std::array<const Tensor*, N>& tensors, F f) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t k = rank == 0 ? 1 : shape[dim];
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel == 0) return;
  const int64_t lines = numel / k;
  std::array<Dims, N> strides;
  for (size_t n = 0; n < N; ++n) strides[n].assign(tensors[n]->strides().begin(), tensors[n]->strides().end());
  cpu::parallel_for(lines, std::max<int64_t>(1, cpu::kElementwiseGrain / k), [&](int64_t begin, int64_t end) {
    for (int64_t line = begin; line < end; ++line) {
      std::array<int64_t, N> offsets{};
      int64_t rest = line;
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (d == dim) continue;
        const int64_t c = rest % shape[d];
        rest /= shape[d];
        for (size_t n = 0; n < N; ++n) offsets[n] += c * strides[n][d];
      }
      f(offsets);
    }
  });
}

void check_index_dtype(const Tensor& index, const char* op) {
  DYDX_CHECK(index.dtype() == kInt64, op, ": Expected dtype int64 for index (got ", index.dtype(), ")");
}

/// Raises unless every element of index lies in [0, size): PyTorch's gather and scatter_add take
/// no negative indices either. The message names input_dim, the dim of the tensor indexed (not
/// always index's dim: index_select walks a flat index).
void check_index_range(const Tensor& index, int64_t dim, int64_t size, const char* op, int64_t input_dim) {
  const int64_t* p = index.data_ptr<int64_t>();
  const int64_t step = stride_along(index, dim);
  const int64_t k = size_along(index, dim);
  for_each_line<1>(index.sizes(), dim, {&index}, [&](const std::array<int64_t, 1>& off) {
    // The line's largest index as unsigned (a negative one is then out of bounds too), in a loop of
    // its own for a contiguous line, which GCC vectorises: a check per element kept the loop scalar
    // and cost as much as the gather it guards. Only a line that has one looks for the first index
    // out of bounds, to name it.
    const int64_t* line = p + off[0];
    uint64_t largest = 0;
    if (step == 1) {
      for (int64_t j = 0; j < k; ++j) largest = std::max(largest, static_cast<uint64_t>(line[j]));
    } else {
      for (int64_t j = 0; j < k; ++j) largest = std::max(largest, static_cast<uint64_t>(line[j * step]));
    }
    if (largest < static_cast<uint64_t>(size)) [[likely]] return;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t v = p[off[0] + j * step];
      if (v >= 0 && v < size) continue;
      // index_select's is an IndexError in PyTorch; gather's and scatter's a RuntimeError.
      if (std::string_view(op).starts_with("index_select"))
        detail::fail_with<IndexError>(op, ": index ", v, " is out of bounds for dimension ", input_dim, " with size ", size);
      detail::fail(op, ": index ", v, " is out of bounds for dimension ", input_dim, " with size ", size);
    }
  });
}

/// PyTorch's shape rule: index has x's rank, and index.size(d) <= x.size(d) for every d except
/// `except` (-1 for none).
void check_index_fits(const Tensor& index, const Tensor& x, int64_t except, const char* what, const char* op) {
  DYDX_CHECK(index.dim() == x.dim(), op, ": Index tensor must have the same number of dimensions as ", what,
             " tensor (index ", index.sizes(), ", ", what, " ", x.sizes(), ")");
  for (int64_t d = 0; d < x.dim(); ++d)
    DYDX_CHECK(d == except || index.size(d) <= x.size(d), op, ": Size does not match at dimension ", d,
               " expected index ", index.sizes(), " to be smaller than ", what, " ", x.sizes(),
               except >= 0 ? " apart from dimension " + std::to_string(except) : std::string());
}

/// out[i] = x[i with i_dim replaced by index[i]], for an index already checked.
Tensor gather_values(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = detail::make_empty(index.sizes(), x.dtype());
  const int64_t k = size_along(index, dim), index_step = stride_along(index, dim);
  const int64_t out_step = stride_along(out, dim), x_step = stride_along(x, dim);
  cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_ptr<T>();
    const int64_t* ip = index.data_ptr<int64_t>();
    T* op = out.data_ptr<T>();
    for_each_line<3>(index.sizes(), dim, {&out, &index, &x}, [&](const std::array<int64_t, 3>& off) {
      for (int64_t j = 0; j < k; ++j) op[off[0] + j * out_step] = xp[off[2] + ip[off[1] + j * index_step] * x_step];
    });
  });
  return out;
}

/// src[i] written (Add: added) into out at i with i_dim replaced by index[i], for an index already
/// checked. src may be a 0-stride expanded scalar.
template <bool Add>
void scatter_into(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t k = size_along(index, dim), index_step = stride_along(index, dim);
  const int64_t out_step = stride_along(out, dim), src_step = stride_along(src, dim);
  cpu::dispatch_with_bool(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* sp = src.data_ptr<T>();
    const int64_t* ip = index.data_ptr<int64_t>();
    T* op = out.data_ptr<T>();
    // One line of the index writes one line of out (the same coordinates outside dim), serially, so
    // that duplicates add up (or the last one wins) in index order whatever the thread count.
    for_each_line<3>(index.sizes(), dim, {&out, &index, &src}, [&](const std::array<int64_t, 3>& off) {
      for (int64_t j = 0; j < k; ++j) {
        T& target = op[off[0] + ip[off[1] + j * index_step] * out_step];
        if constexpr (Add) target = cpu::wrapping_add(target, sp[off[2] + j * src_step]);  // int64 wraps, as PyTorch's
        else target = sp[off[2] + j * src_step];
      }
    });
  });
}

/// A copy of self with src scattered (Add: added) in, as scatter_into.
template <bool Add>
Tensor scatter_values(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = detail::make_empty(self.sizes(), self.dtype());
  {
    NoGradGuard no_grad;
    out.copy_(self);
  }
  scatter_into<Add>(out, dim, index, src);
  return out;
}

/// Whether a transpose rule (gather's, index_select's) may take the plain kernels below: a gradient
/// that needs no derivatives of its own (no create_graph, no forward levels), no batch dims, no
/// vmap.
bool plain_transpose(const Tensor& g, int64_t nb) {
  return nb == 0 && !forward::carries_derivatives(g) && !vmap::takes_rule(g);
}

/// gather's transpose: src added at the index into zeros of `sizes`, without scatter_add's copy of
/// its self. The index is checked again: a saved index written in place since the forward must
/// not send a write out of bounds.
Tensor scatter_add_into_zeros(const Dims& sizes, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = zeros_to_write(sizes, src.dtype());
  check_index_range(index, dim, size_along(out, dim), "gather (backward)", dim);
  scatter_into<true>(out, dim, index, src);
  compile::detail::note_kernel("gather_backward", {&index, &src}, out, [sizes, dim](const TensorList& in) {
    return scatter_add_into_zeros(sizes, dim, in[0], in[1]);
  });
  return out;
}

/// index_select's transpose: row kk of g (the slice at kk along dim) added to row index[kk] of zeros
/// of `sizes`, contiguous slices at a time. Split across the dims before dim and blocks of the dims
/// after it, never across kk, so that rows an index repeats add up in index order whatever the
/// thread count. (Through scatter_add with the index expanded, each line ran along dim, a single
/// element per row, inner apart.)
Tensor index_add_into_zeros(const Dims& sizes, int64_t dim, const Tensor& index, const Tensor& g) {
  Tensor out = zeros_to_write(sizes, g.dtype());
  const Tensor flat_index = index.reshape({index.numel()}).contiguous();
  check_index_range(flat_index, 0, size_along(out, dim), "index_select (backward)", dim);
  const Tensor gc = g.contiguous();
  int64_t outer = 1, inner = 1;  // the sizes before dim, and after it
  for (int64_t d = 0; d < dim; ++d) outer *= sizes[d];
  for (int64_t d = dim + 1; d < static_cast<int64_t>(sizes.size()); ++d) inner *= sizes[d];
  const int64_t size = sizes[dim], k = flat_index.numel();
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  cpu::dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gp = gc.data_ptr<T>();
    const int64_t* ip = flat_index.data_ptr<int64_t>();
    T* op = out.data_ptr<T>();
    const int64_t work_per_item = std::max<int64_t>(1, k * std::min(kBlock, inner));  // elements added
    const int64_t grain = std::max<int64_t>(1, cpu::kElementwiseGrain / work_per_item);
    cpu::parallel_for(outer * blocks, grain, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t o = item / blocks, j0 = (item % blocks) * kBlock, m = std::min(kBlock, inner - j0);
        for (int64_t kk = 0; kk < k; ++kk) {
          T* __restrict dst = op + (o * size + ip[kk]) * inner + j0;
          const T* __restrict src = gp + (o * k + kk) * inner + j0;
          for (int64_t j = 0; j < m; ++j) dst[j] = cpu::wrapping_add(dst[j], src[j]);
        }
      }
    });
  });
  compile::detail::note_kernel("index_select_backward", {&index, &g}, out, [sizes, dim](const TensorList& in) {
    return index_add_into_zeros(sizes, dim, in[0], in[1]);
  });
  return out;
}
Tensor scatter_add_values(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_values<true>(self, dim, index, src);
}

/// g (nb batch dims, then the index's shape) padded with zeros at the end of each dim to `sizes`
/// (after the batch dims): scatter_add's gradient for a src larger than its index.
Tensor pad_to(Tensor g, int64_t nb, const Dims& sizes) {
  for (size_t d = 0; d < sizes.size(); ++d) {
    const int64_t missing = sizes[d] - g.size(static_cast<int64_t>(d) + nb);
    if (missing == 0) continue;
    Dims zero_shape(g.sizes().begin(), g.sizes().end());
    zero_shape[d + nb] = missing;
    g = cat({g, zeros(zero_shape, g.dtype())}, static_cast<int64_t>(d) + nb);
  }
  return g;
}

struct DimAttrs {
  int64_t dim;  // non-negative (0 for a 0-d input)
};

// gather and scatter_add are linear in their tensor inputs and each other's transposes; the index
// (saved, not an input) only routes values.
struct GatherRecord : Named<"gather", "GatherBackward0">, Linear {
  // A replay checks the index's range; where no output reads the result, the check alone runs.
  static constexpr bool checks_values = true;
  static void check_values(const TensorList& in, const DimAttrs& a, ScalarType) {
    check_index_range(in[1], a.dim, size_along(in[0], a.dim), "gather", a.dim);
  }
  using Attrs = DimAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return gather(in[0], a.dim, in[1]); }  // the index is the extra
  static constexpr Saves saves{.extras = 1};
  static void vjp(const Backward<GatherRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    if (plain_transpose(g, nb)) {
      grads[0] = scatter_add_into_zeros(b.input_sizes(0), b.attrs().dim, b.extra(0), g);
      return;
    }
    Tensor zero = zeros(with_batch(g, nb, b.input_sizes(0)), g.dtype());
    grads[0] = scatter_add(zero, b.attrs().dim + nb, batched_index(b.extra(0), g, nb), g);
  }
  static Tensor jvp(const Primal<GatherRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    return gather(t[0], p.attrs().dim + nb, batched_index(p.extra(0), t[0], nb));
  }
};

struct ScatterAddRecord : Named<"scatter_add", "ScatterAddBackward0">, Linear {
  static constexpr bool checks_values = true;  // as gather's
  static void check_values(const TensorList& in, const DimAttrs& a, ScalarType) {
    check_index_range(in[2], a.dim, size_along(in[0], a.dim), "scatter_add", a.dim);
  }
  using Attrs = DimAttrs;
  // Its inputs self and src, then the index.
  static Tensor replay(const TensorList& in, const Attrs& a) { return scatter_add(in[0], a.dim, in[2], in[1]); }
  static constexpr Saves saves{.extras = 1};
  static void vjp(const Backward<ScatterAddRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    if (b.needs_grad(0)) grads[0] = g;
    if (b.needs_grad(1))
      grads[1] = pad_to(gather(g, b.attrs().dim + nb, batched_index(b.extra(0), g, nb)), nb, b.input_sizes(1));
  }
  static Tensor jvp(const Primal<ScatterAddRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    Tensor self = tangent_or_zeros(t, 0, p.input(0)), src = tangent_or_zeros(t, 1, p.input(1));
    return scatter_add(self, p.attrs().dim + nb, batched_index(p.extra(0), src, nb), src);
  }
};

// scatter is linear in self and src: self's gradient is g with the written places zeroed, src's the
// values read back from there (gather), as PyTorch's; where an index repeats, every duplicate gets
// the gradient though only the last write survives, as in PyTorch.
struct ScatterRecord : Named<"scatter", "ScatterBackward0">, Linear {
  static constexpr bool checks_values = true;  // as gather's
  static void check_values(const TensorList& in, const DimAttrs& a, ScalarType) {
    check_index_range(in[2], a.dim, size_along(in[0], a.dim), "scatter", a.dim);
  }
  using Attrs = DimAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return scatter(in[0], a.dim, in[2], in[1]); }
  static constexpr Saves saves{.extras = 1};
  static void vjp(const Backward<ScatterRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g), dim = b.attrs().dim + nb;
    Tensor index = batched_index(b.extra(0), g, nb);
    if (b.needs_grad(0)) grads[0] = scatter(g, dim, index, 0.0);
    if (b.needs_grad(1)) grads[1] = pad_to(gather(g, dim, index), nb, b.input_sizes(1));
  }
  static Tensor jvp(const Primal<ScatterRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    Tensor self = tangent_or_zeros(t, 0, p.input(0)), src = tangent_or_zeros(t, 1, p.input(1));
    return scatter(self, p.attrs().dim + nb, batched_index(p.extra(0), src, nb), src);
  }
};

// scatter of a scalar: linear in self, zero gradient where written.
struct ScatterValueRecord : Named<"scatter.value", "ScatterBackward1">, Linear {
  static constexpr bool checks_values = true;  // as gather's
  struct Attrs {
    int64_t dim = 0;  // non-negative (0 for a 0-d input)
    Scalar value = 0;
  };
  static constexpr Saves saves{.extras = 1};
  // self, then the index.
  static Tensor replay(const TensorList& in, const Attrs& a) { return scatter(in[0], a.dim, in[1], a.value); }
  static void check_values(const TensorList& in, const Attrs& a, ScalarType) {
    check_index_range(in[1], a.dim, size_along(in[0], a.dim), "scatter", a.dim);
  }
  static void vjp(const Backward<ScatterValueRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    grads[0] = scatter(g, b.attrs().dim + nb, batched_index(b.extra(0), g, nb), 0.0);
  }
  static Tensor jvp(const Primal<ScatterValueRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    return scatter(t[0], p.attrs().dim + nb, batched_index(p.extra(0), t[0], nb), 0.0);
  }
};

// index_select's transpose adds each row of g back at its index (index_add into zeros): a
// scatter_add along dim with the index broadcast over the other dims.
struct IndexSelectRecord : Named<"index_select", "IndexSelectBackward0">, Linear {
  static constexpr bool checks_values = true;  // as gather's
  static void check_values(const TensorList& in, const DimAttrs& a, ScalarType) {
    check_index_range(in[1].reshape({in[1].numel()}), 0, in[0].size(a.dim), "index_select", a.dim);
  }
  using Attrs = DimAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return index_select(in[0], a.dim, in[1]); }
  static constexpr Saves saves{.extras = 1};
  static void vjp(const Backward<IndexSelectRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g), dim = b.attrs().dim + nb;
    Tensor index = b.extra(0);
    if (plain_transpose(g, nb)) {
      grads[0] = index_add_into_zeros(b.input_sizes(0), dim, index, g);
      return;
    }
    Dims shape(g.dim(), 1);
    shape[dim] = index.numel();
    Tensor zero = zeros(with_batch(g, nb, b.input_sizes(0)), g.dtype());
    grads[0] = scatter_add(zero, dim, index.reshape(shape).expand(g.sizes()), g);
  }
  static Tensor jvp(const Primal<IndexSelectRecord>& p, const TensorList& t) {
    return index_select(t[0], p.attrs().dim + p.batch_dims(), p.extra(0));
  }
};

// masked_fill is linear in its input; the mask (saved as 0/1 in the result's dtype) zeroes the
// gradient where the value was filled in, with masked zeros so that no inf or nan leaks through.
struct MaskedFillRecord : Named<"masked_fill", "MaskedFillBackward0">, Linear {
  struct Attrs {
    Scalar value = 0;
  };
  static constexpr Saves saves{.extras = 1};
  // The input, then the mask as a bool tensor.
  static Tensor replay(const TensorList& in, const Attrs& a) { return masked_fill(in[0], in[1], a.value); }
  static constexpr bool broadcasts = true;
  static void vjp(const Backward<MaskedFillRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = where(b.extra(0), zeros({}, g.dtype()), g);
  }
  static Tensor jvp(const Primal<MaskedFillRecord>& p, const TensorList& t) {
    return where(p.extra(0), zeros({}, t[0].dtype()), t[0]);
  }
};


// Under vmap: the values of gather/scatter's tensors batch-first (unbatched ones expanded, no
// copy) and, for 0-d samples, given the one dim a 0-d gather indexes, so that one call of the op
// along dim + 1 gives every sample's result; the result is batched at 0 (squeezed back for 0-d).
struct BatchFirst {
  SmallVector<Tensor, 3> values;
  uint32_t level;
  bool scalar;
};
BatchFirst batch_first_all(std::initializer_list<const Tensor*> ts) {
  BatchFirst out{{}, vmap::top_level(ts), false};
  const int64_t size = vmap::level_info(out.level).size;
  out.scalar = (*ts.begin())->dim() == 0;
  for (const Tensor* t : ts) {
    Tensor v = vmap::batch_first_expanded(vmap::unwrap(*t, out.level), size);
    out.values.push_back(out.scalar ? v.reshape({size, 1}) : v);
  }
  return out;
}
// The batch-first index checked here when it is plain data (not batched at an outer vmap), so that
// a bad index names the sample's dim rather than the batch's, as outside vmap.
void check_batch_index_range(const Tensor& index, int64_t dim, int64_t size, const char* op) {
  if (!vmap::batched(index)) check_index_range(index, dim + 1, size, op, dim);
}
Tensor wrap_batch_first(const Tensor& out, const BatchFirst& b) {
  return vmap::wrap(b.scalar ? out.reshape({out.size(0)}) : out, 0, b.level);
}

}  // namespace
}  // namespace ops

Tensor gather(const Tensor& input, int64_t dim, const Tensor& index) {
  dim = detail::wrap_dim(dim, input.dim(), "gather");
  ops::check_index_dtype(index, "gather");
  ops::check_index_fits(index, input, dim, "input", "gather");
  if (vmap::takes_rule({&input, &index})) [[unlikely]] {
    ops::BatchFirst b = ops::batch_first_all({&input, &index});
    ops::check_batch_index_range(b.values[1], dim, ops::size_along(input, dim), "gather");
    return ops::wrap_batch_first(gather(b.values[0], dim + 1, b.values[1]), b);
  }
  ops::check_index_range(index, dim, ops::size_along(input, dim), "gather", dim);
  Tensor out = ops::gather_values(input, dim, index);
  ops::finish<ops::GatherRecord>({&input}, out, {dim}, {&index});
  return out;
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = detail::wrap_dim(dim, self.dim(), "scatter_add");
  ops::check_index_dtype(index, "scatter_add");
  DYDX_CHECK(self.dtype() == src.dtype(), "scatter_add: Expected self.dtype to be equal to src.dtype (got ",
             self.dtype(), " and ", src.dtype(), ")");
  ops::check_index_fits(index, self, dim, "self", "scatter_add");
  ops::check_index_fits(index, src, -1, "src", "scatter_add");
  if (vmap::takes_rule({&self, &index, &src})) [[unlikely]] {
    ops::BatchFirst b = ops::batch_first_all({&self, &index, &src});
    ops::check_batch_index_range(b.values[1], dim, ops::size_along(self, dim), "scatter_add");
    return ops::wrap_batch_first(scatter_add(b.values[0], dim + 1, b.values[1], b.values[2]), b);
  }
  ops::check_index_range(index, dim, ops::size_along(self, dim), "scatter_add", dim);
  Tensor out = ops::scatter_add_values(self, dim, index, src);
  ops::finish<ops::ScatterAddRecord>({&self, &src}, out, {dim}, {&index});
  return out;
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = detail::wrap_dim(dim, self.dim(), "scatter");
  ops::check_index_dtype(index, "scatter");
  DYDX_CHECK(self.dtype() == src.dtype(), "scatter: Expected self.dtype to be equal to src.dtype (got ", self.dtype(),
             " and ", src.dtype(), ")");
  ops::check_index_fits(index, self, dim, "self", "scatter");
  ops::check_index_fits(index, src, -1, "src", "scatter");
  if (vmap::takes_rule({&self, &index, &src})) [[unlikely]] {
    ops::BatchFirst b = ops::batch_first_all({&self, &index, &src});
    ops::check_batch_index_range(b.values[1], dim, ops::size_along(self, dim), "scatter");
    return ops::wrap_batch_first(scatter(b.values[0], dim + 1, b.values[1], b.values[2]), b);
  }
  ops::check_index_range(index, dim, ops::size_along(self, dim), "scatter", dim);
  Tensor out = ops::scatter_values<false>(self, dim, index, src);
  ops::finish<ops::ScatterRecord>({&self, &src}, out, {dim}, {&index});
  return out;
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, Scalar value) {
  dim = detail::wrap_dim(dim, self.dim(), "scatter");
  ops::check_index_dtype(index, "scatter");
  ops::check_fill_value(value, self.dtype(), "scatter");
  ops::check_index_fits(index, self, dim, "self", "scatter");
  if (vmap::takes_rule({&self, &index})) [[unlikely]] {
    ops::BatchFirst b = ops::batch_first_all({&self, &index});
    ops::check_batch_index_range(b.values[1], dim, ops::size_along(self, dim), "scatter");
    return ops::wrap_batch_first(scatter(b.values[0], dim + 1, b.values[1], value), b);
  }
  ops::check_index_range(index, dim, ops::size_along(self, dim), "scatter", dim);
  // The value as a 0-stride tensor of index's shape: the kernel reads it as it reads src.
  Tensor src = ops::scalar_tensor(value, self.dtype()).expand(index.sizes());
  Tensor out = ops::scatter_values<false>(self, dim, index, src);
  ops::finish<ops::ScatterValueRecord>({&self}, out, {dim, value}, {&index});
  return out;
}

Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index) {
  dim = detail::wrap_dim(dim, input.dim(), "index_select");
  ops::check_index_dtype(index, "index_select");
  DYDX_CHECK(index.dim() <= 1, "index_select: Index is supposed to be a vector (got shape ", index.sizes(), ")");
  DYDX_CHECK(input.dim() > 0, "index_select: expected an input of at least one dim (got a 0-d tensor)");
  if (vmap::takes_rule({&input, &index})) [[unlikely]] {
    const uint32_t level = vmap::top_level({&input, &index});
    const vmap::Arg x = vmap::unwrap(input, level), i = vmap::unwrap(index, level);
    // An index shared by every sample is checked against the sample's dim here: the batch's
    // index_select would report the dim it maps to.
    if (!vmap::batched(index)) ops::check_index_range(index.reshape({index.numel()}), 0, input.size(dim), "index_select", dim);
    // One index for every sample: index_select along the mapped dim, the batch dim stays put.
    if (!i.bdim) return vmap::wrap(x.value.index_select(vmap::physical_dim(dim, *x.bdim), index), *x.bdim, level);
    // An index per sample: a gather whose index is each sample's vector broadcast over the other dims.
    const int64_t size = vmap::level_info(level).size;
    Tensor values = vmap::batch_first_expanded(x, size);
    Dims shape(values.sizes().begin(), values.sizes().end()), index_shape(values.dim(), 1);
    const Tensor picks = vmap::batch_first(i).reshape({size, index.numel()});
    if (!vmap::batched(picks)) ops::check_index_range(picks, 1, input.size(dim), "index_select", dim);
    shape[dim + 1] = index_shape[dim + 1] = picks.size(1);
    index_shape[0] = size;
    return vmap::wrap(gather(values, dim + 1, picks.view(index_shape).expand(shape)), 0, level);
  }
  Tensor flat = index.reshape({index.numel()});
  ops::check_index_range(flat, 0, input.size(dim), "index_select", dim);
  if (!input.is_contiguous()) {
    // Read through the view's strides (a contiguous copy would cost the whole input for a few picks):
    // a gather whose index is the vector broadcast over the other dims (stride 0, never materialised).
    Dims shape(input.sizes().begin(), input.sizes().end()), index_shape(input.dim(), 1);
    shape[dim] = index_shape[dim] = flat.numel();
    Tensor out = ops::gather_values(input, dim, flat.view(index_shape).expand(shape));
    ops::finish<ops::IndexSelectRecord>({&input}, out, {dim}, {&flat});
    return out;
  }
  // x seen as [outer, n, inner]: out[o, j, :] = x[o, index[j], :], one copy of inner contiguous values
  // per selected slice (the gather above walks each column with x's stride, 10x slower), the slices
  // split across threads.
  const Tensor& x = input;
  const Tensor picks = flat.contiguous();
  Dims shape(x.sizes().begin(), x.sizes().end());
  shape[dim] = picks.numel();
  Tensor out = detail::make_empty(shape, x.dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t n = x.size(dim), k = picks.numel();
  cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_ptr<T>();
    const int64_t* ip = picks.data_ptr<int64_t>();
    T* op = out.data_ptr<T>();
    if (inner == 1) {  // along the last dim: a row of picks per outer index
      const int64_t rows_grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(k, 1));
      cpu::parallel_for(outer, rows_grain, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o)
          for (int64_t j = 0; j < k; ++j) op[o * k + j] = xp[o * n + ip[j]];
      });
      return;
    }
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1));  // inner may be 0
    cpu::parallel_for(outer * k, grain, [&](int64_t begin, int64_t end) {
      for (int64_t slice = begin; slice < end; ++slice) {
        const int64_t o = slice / k, j = slice % k;
        std::copy_n(xp + (o * n + ip[j]) * inner, inner, op + slice * inner);
      }
    });
  });
  ops::finish<ops::IndexSelectRecord>({&input}, out, {dim}, {&flat});
  return out;
}

Tensor masked_fill(const Tensor& input, const Tensor& mask, Scalar value) {
  ops::check_fill_value(value, input.dtype(), "masked_fill");
  Dims shape = detail::broadcast_shapes(input.sizes(), mask.sizes(), "masked_fill");
  if (vmap::takes_rule({&input, &mask})) [[unlikely]]
    return vmap::broadcasting("masked_fill", input, mask, [&](const Tensor& x, const Tensor& m) { return masked_fill(x, m, value); });
  Tensor out = detail::make_empty(shape, input.dtype());
  // A mask of another dtype (PyTorch takes only bool) means nonzero, decided in its own dtype, as
  // where's condition.
  Tensor filled = mask.dtype() == kBool ? mask : ne(mask, 0);
  cpu::dispatch_with_bool(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T v = value.to<T>();
    // The mask read as bytes: GCC vectorises a select on uint8_t but not on bool.
    cpu::map2_typed<T, uint8_t, T>(out, filled, input, [v](uint8_t m, T x) { return m ? v : x; });
  });
  ops::finish<ops::MaskedFillRecord>({&input}, out, {value}, {&filled});
  return out;
}

namespace nn::functional {

Tensor one_hot(const Tensor& tensor, int64_t num_classes) {
  DYDX_CHECK(tensor.dtype() == kInt64, "one_hot is only applicable to index tensor (got dtype ", tensor.dtype(), ")");
  if (vmap::takes_rule(tensor)) [[unlikely]] {
    // The count inferred from the data could differ between samples, as functorch says.
    DYDX_CHECK(num_classes > 0, "vmap: one_hot: when vmap-ing one_hot, please provide an explicit positive num_classes "
               "argument (got ", num_classes, ")");
    // The class dim goes last, after the batch dim wherever that is.
    return vmap::elementwise(tensor, [&](const Tensor& v) { return one_hot(v, num_classes); });
  }
  Tensor classes = tensor.contiguous();
  const int64_t* p = classes.data_ptr<int64_t>();
  const int64_t n = classes.numel();
  DYDX_CHECK(num_classes >= -1, "one_hot: num_classes should be -1 or non-negative (got ", num_classes, ")");
  DYDX_CHECK(n > 0 || num_classes != -1, "one_hot: Can not infer total number of classes from empty tensor.");
  int64_t largest = -1;
  for (int64_t i = 0; i < n; ++i) {
    DYDX_CHECK(p[i] >= 0, "one_hot: Class values must be non-negative (got ", p[i], ")");
    largest = std::max(largest, p[i]);
  }
  // The inferred count is largest + 1, which has no int64 when largest is INT64_MAX (PyTorch 1.13
  // wraps it and reports -9223372036854775808): said in words, with the true count.
  DYDX_CHECK(num_classes != -1 || largest < INT64_MAX, "one_hot: cannot infer num_classes from the largest class value ",
             largest, ": the count, 9223372036854775808, does not fit in int64");
  const bool inferred = num_classes == -1;
  if (inferred) num_classes = largest + 1;
  DYDX_CHECK(largest < num_classes, "one_hot: Class values must be smaller than num_classes (got ", largest,
             " for num_classes ", num_classes, ")");
  Dims shape(tensor.sizes().begin(), tensor.sizes().end());
  shape.push_back(num_classes);
  Tensor out = detail::make_empty(shape, kInt64, "one_hot");  // a huge count fails naming one_hot
  cpu::fill(out.data_ptr<int64_t>(), out.numel(), int64_t{0});
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i * num_classes + p[i]] = 1;
  if (compile::detail::recording()) [[unlikely]] {
    // A count of classes inferred from the values is data (a replay's shape could differ): f runs
    // itself. A given one is a step that checks the values again at every call, read or not.
    if (inferred) {
      compile::detail::refuse("one_hot infers its count of classes from the values");
    } else {
      const Tensor* inputs[] = {&tensor};
      compile::StepRules rules;
      rules.replay = [num_classes](const TensorList& in) { return one_hot(in[0], num_classes); };
      rules.checks = true;
      compile::detail::record_step("one_hot", inputs, {}, out, std::move(rules));
    }
  }
  return out;
}

}  // namespace nn::functional
}  // namespace dydx
