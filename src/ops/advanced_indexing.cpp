// Advanced indexing: x.index({..., tensor, ...}) and index_put_, with nonzero and masked_select.
//
// The basic indices (integers, slices, None, Ellipsis) are applied first as views, exactly as
// Tensor::index does without tensors; the tensor indices that remain (masks turned into their
// nonzero positions) are broadcast together to a shape B and folded into one int64 tensor `lin`
// (row-major over the indexed dims), an IndexPlan. Two records work on a plan and are each other's
// transposes: index (read the indexed positions; VJP = index_put with accumulate into zeros) and
// index_put (write or add values there; VJP = index of the cotangent). Both are linear.
//
// The result has x's other dims in order, with B in place of the indexed dims when those are
// adjacent and in front otherwise (PyTorch's rule). Every index is checked before anything is written.
#include "ops/advanced_indexing.hpp"

#include <string>
#include <vector>

#include "cpu/int_arith.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {

indexing::TensorIndex::TensorIndex(const Tensor& t) : value_(std::make_shared<const Tensor>(t)) {}

namespace ops {
namespace {

/// Tensor indices folded into one: lin has the broadcast shape B of the indices, and holds each
/// position's row-major offset over the indexed dims `dims` (ascending); the result puts B's dims
/// at out_pos among x's other dims.
struct IndexPlan {
  Dims dims;
  int64_t out_pos = 0;
  Tensor lin;
};

struct IndexAttrs {
  Dims dims;
  int64_t out_pos = 0;
  bool accumulate = false;
};

IndexPlan with_batch_dims(const IndexAttrs& attrs, const Tensor& lin, int64_t nb) {
  IndexPlan plan{attrs.dims, attrs.out_pos + nb, lin};
  for (int64_t& d : plan.dims) d += nb;
  return plan;
}

bool is_indexed(const IndexPlan& plan, int64_t d) {
  for (int64_t i : plan.dims)
    if (i == d) return true;
  return false;
}

/// The shape of x indexed by plan.
Dims result_shape(IntArrayRef x_sizes, const IndexPlan& plan) {
  Dims shape;
  for (int64_t d = 0; d < static_cast<int64_t>(x_sizes.size()); ++d)
    if (!is_indexed(plan, d)) shape.push_back(x_sizes[d]);
  Dims out(shape.begin(), shape.begin() + plan.out_pos);
  for (int64_t s : plan.lin.sizes()) out.push_back(s);
  for (size_t d = plan.out_pos; d < shape.size(); ++d) out.push_back(shape[d]);
  return out;
}

/// Where one side of a copy lives: the offset of each position b of B, and the strides and sizes of
/// the other ("rest") dims, which both sides share.
struct Side {
  std::vector<int64_t> block;  // offset of position b
  Dims rest_strides;
};

/// The side of x itself: position b is where lin[b] points, over the indexed dims' strides.
Side indexed_side(const Tensor& x, const IndexPlan& plan) {
  Side side;
  const int64_t n = plan.lin.numel(), k = static_cast<int64_t>(plan.dims.size());
  side.block.resize(n);
  Dims sizes, strides;
  for (int64_t d : plan.dims) {
    sizes.push_back(x.size(d));
    strides.push_back(x.stride(d));
  }
  const int64_t* lin = plan.lin.data_ptr<int64_t>();
  int64_t* block = side.block.data();
  // Indexed dims laid out row-major among themselves (a contiguous x, adjacent indices, a mask)
  // need no division: the offset is lin times the innermost stride.
  bool row_major = true;
  for (int64_t j = 0; j + 1 < k; ++j) row_major = row_major && strides[j] == strides[j + 1] * sizes[j + 1];
  if (row_major) {
    const int64_t step = k == 0 ? 0 : strides[k - 1];  // a 0-d mask indexes no dim
    for (int64_t b = 0; b < n; ++b) block[b] = lin[b] * step;
  } else {
    for (int64_t b = 0; b < n; ++b) {
      int64_t rest = lin[b], offset = 0;
      for (int64_t j = k - 1; j >= 0; --j) {
        offset += (rest % sizes[j]) * strides[j];
        rest /= sizes[j];
      }
      block[b] = offset;
    }
  }
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!is_indexed(plan, d)) side.rest_strides.push_back(x.stride(d));
  return side;
}

/// The side of a tensor of the result's shape: position b is B's row-major position b.
Side result_side(const Tensor& r, const IndexPlan& plan) {
  Side side;
  const int64_t rank_b = plan.lin.dim(), n = plan.lin.numel();
  side.block.resize(n);
  Dims sizes, strides;
  for (int64_t i = 0; i < rank_b; ++i) {
    sizes.push_back(plan.lin.size(i));
    strides.push_back(r.stride(plan.out_pos + i));
  }
  int64_t* block = side.block.data();
  bool row_major = true;
  for (int64_t i = 0; i + 1 < rank_b; ++i) row_major = row_major && strides[i] == strides[i + 1] * sizes[i + 1];
  // A 0-d B has one position, at offset 0 (it has no last stride to read).
  for (int64_t b = 0; b < n && row_major; ++b) block[b] = rank_b == 0 ? 0 : b * strides[rank_b - 1];
  for (int64_t b = 0; b < n && !row_major; ++b) {
    int64_t rest = b, offset = 0;
    for (int64_t i = rank_b - 1; i >= 0; --i) {
      offset += (rest % sizes[i]) * strides[i];
      rest /= sizes[i];
    }
    block[b] = offset;
  }
  for (int64_t d = 0; d < r.dim(); ++d)
    if (d < plan.out_pos || d >= plan.out_pos + rank_b) side.rest_strides.push_back(r.stride(d));
  return side;
}

Dims rest_sizes(IntArrayRef x_sizes, const IndexPlan& plan) {
  Dims sizes;
  for (int64_t d = 0; d < static_cast<int64_t>(x_sizes.size()); ++d)
    if (!is_indexed(plan, d)) sizes.push_back(x_sizes[d]);
  return sizes;
}

/// Calls f(offset in a, offset in b) for rest positions [begin, end), in row-major order.
template <class F>
void walk_rest(const Dims& sizes, const Dims& sa, const Dims& sb, int64_t begin, int64_t end, F f) {
  const int64_t k = static_cast<int64_t>(sizes.size());
  if (k == 0) {  // no rest dims: one element per position
    if (begin < end) f(0, 0);
    return;
  }
  Dims coord(k, 0);
  int64_t oa = 0, ob = 0, rest = begin;
  for (int64_t d = k - 1; d >= 0; --d) {
    coord[d] = rest % sizes[d];
    rest /= sizes[d];
    oa += coord[d] * sa[d];
    ob += coord[d] * sb[d];
  }
  for (int64_t i = begin; i < end; ++i) {
    f(oa, ob);
    for (int64_t d = k - 1; d >= 0; --d) {
      if (++coord[d] < sizes[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= (sizes[d] - 1) * sa[d];
      ob -= (sizes[d] - 1) * sb[d];
      coord[d] = 0;
    }
  }
}

int64_t product(const Dims& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

/// x[plan] as a new contiguous tensor; positions run in parallel (each writes its own block).
Tensor index_values(const Tensor& x, const IndexPlan& plan) {
  Tensor out = detail::make_empty(result_shape(x.sizes(), plan), x.dtype());
  if (out.numel() == 0) return out;
  const Side src = indexed_side(x, plan), dst = result_side(out, plan);
  const Dims sizes = rest_sizes(x.sizes(), plan);
  const int64_t rest = product(sizes), n = plan.lin.numel();
  // The positions b innermost when B is the result's last dims (x[:, idx]: the output is written
  // in order, rest by rest), outermost otherwise (x[idx]: whole rows copied per position).
  const bool positions_inner = plan.out_pos == static_cast<int64_t>(sizes.size()) && !sizes.empty();
  cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_ptr<T>();
    T* op = out.data_ptr<T>();
    if (positions_inner) {
      cpu::parallel_for(rest, std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(n, 1)),
                        [&](int64_t begin, int64_t end) {
                          walk_rest(sizes, dst.rest_strides, src.rest_strides, begin, end, [&](int64_t oo, int64_t so) {
                            T* o = op + oo;
                            const T* s = xp + so;
                            for (int64_t b = 0; b < n; ++b) o[dst.block[b]] = s[src.block[b]];
                          });
                        });
      return;
    }
    cpu::parallel_for(n, std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(rest, 1)),
                      [&](int64_t begin, int64_t end) {
                        if (sizes.empty()) {
                          for (int64_t b = begin; b < end; ++b) op[dst.block[b]] = xp[src.block[b]];
                          return;
                        }
                        for (int64_t b = begin; b < end; ++b) {
                          T* o = op + dst.block[b];
                          const T* s = xp + src.block[b];
                          walk_rest(sizes, dst.rest_strides, src.rest_strides, 0, rest,
                                    [&](int64_t oo, int64_t so) { o[oo] = s[so]; });
                        }
                      });
  });
  return out;
}

/// A copy of self with values (already of the result's shape, possibly expanded) written or added
/// at self[plan]. Rest positions split across threads; each thread takes the positions b in order,
/// so that duplicates add up (or the last one wins) in index order whatever the thread count.
Tensor index_put_values(const Tensor& self, const IndexPlan& plan, const Tensor& values, bool accumulate) {
  Tensor out = detail::make_empty(self.sizes(), self.dtype());
  {
    NoGradGuard no_grad;
    out.copy_(self);
  }
  if (values.numel() == 0) return out;
  const Side dst = indexed_side(out, plan), src = result_side(values, plan);
  const Dims sizes = rest_sizes(self.sizes(), plan);
  const int64_t rest = product(sizes), n = plan.lin.numel();
  cpu::dispatch_with_bool(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* vp = values.data_ptr<T>();
    T* op = out.data_ptr<T>();
    cpu::parallel_for(rest, std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(n, 1)),
                      [&](int64_t begin, int64_t end) {
                        for (int64_t b = 0; b < n; ++b) {
                          T* o = op + dst.block[b];
                          const T* s = vp + src.block[b];
                          walk_rest(sizes, dst.rest_strides, src.rest_strides, begin, end, [&](int64_t oo, int64_t so) {
                            if (accumulate) o[oo] = cpu::wrapping_add(o[oo], s[so]);  // int64 wraps, as PyTorch's
                            else o[oo] = s[so];
                          });
                        }
                      });
  });
  return out;
}

Tensor index_by_plan(const Tensor& x, const IndexPlan& plan);
Tensor index_put_by_plan(const Tensor& self, const IndexPlan& plan, const Tensor& values, bool accumulate);

// index is linear in x; its transpose adds each cotangent element back at its position.
struct IndexRecord : Named<"index", "IndexBackward0">, Linear {
  using Attrs = IndexAttrs;
  static constexpr Saves saves{.extras = 1};
  // x, then the positions (a step of their own, see make_plan).
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return index_by_plan(in[0], with_batch_dims(a, in[1], 0));
  }
  static void vjp(const Backward<IndexRecord>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    Tensor zero = zeros(with_batch(g, nb, b.input_sizes(0)), g.dtype());
    grads[0] = index_put_by_plan(zero, with_batch_dims(b.attrs(), b.extra(0), nb), g, true);
  }
  static Tensor jvp(const Primal<IndexRecord>& p, const TensorList& t) {
    return index_by_plan(t[0], with_batch_dims(p.attrs(), p.extra(0), p.batch_dims()));
  }
};

/// values' tangent or cotangent (nb batch dims, then values' own) lined up with the result's rank,
/// so that it broadcasts past the batch dims.
Tensor align_values(const Tensor& v, int64_t nb, int64_t result_rank) {
  if (nb == 0 || v.dim() - nb == result_rank) return v;
  Dims shape(v.sizes().begin(), v.sizes().begin() + nb);
  for (int64_t i = v.dim() - nb; i < result_rank; ++i) shape.push_back(1);
  for (int64_t d = nb; d < v.dim(); ++d) shape.push_back(v.size(d));
  return v.reshape(shape);
}

// index_put is linear in self and values: self's gradient passes where nothing was written (all of
// it with accumulate), values' is the cotangent read back at the positions (summed over broadcast).
struct IndexPutRecord : Named<"index_put", "IndexPutBackward0">, Linear {
  using Attrs = IndexAttrs;
  static constexpr Saves saves{.extras = 1};
  // self, values, then the positions.
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return index_put_by_plan(in[0], with_batch_dims(a, in[2], 0), in[1], a.accumulate);
  }
  static void vjp(const Backward<IndexPutRecord>& b, const Tensor& g, Tensor* grads) {
    const IndexPlan plan = with_batch_dims(b.attrs(), b.extra(0), b.batch_dims(g));
    if (b.needs_grad(0)) grads[0] = b.attrs().accumulate ? g : index_put_by_plan(g, plan, zeros({}, g.dtype()), false);
    if (b.needs_grad(1)) grads[1] = index_by_plan(g, plan);
  }
  static Tensor jvp(const Primal<IndexPutRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    const IndexPlan plan = with_batch_dims(p.attrs(), p.extra(0), nb);
    Tensor self = tangent_or_zeros(t, 0, p.input(0)), values = tangent_or_zeros(t, 1, p.input(1));
    const int64_t rank = static_cast<int64_t>(result_shape(p.input(0).sizes(), with_batch_dims(p.attrs(), p.extra(0), 0)).size());
    return index_put_by_plan(self, plan, align_values(values, nb, rank), p.attrs().accumulate);
  }
};

Tensor index_by_plan(const Tensor& x, const IndexPlan& plan) {
  Tensor out = index_values(x, plan);
  finish<IndexRecord>({&x}, out, {plan.dims, plan.out_pos, false}, {&plan.lin});
  return out;
}

Tensor index_put_by_plan(const Tensor& self, const IndexPlan& plan, const Tensor& values, bool accumulate) {
  DYDX_CHECK(self.dtype() == values.dtype(), "index_put_: Index put requires the source and destination dtypes match, got ",
             self.dtype(), " for the destination and ", values.dtype(), " for the source.");
  const Dims shape = result_shape(self.sizes(), plan);
  bool fits = values.dim() <= static_cast<int64_t>(shape.size());
  for (int64_t i = 1; fits && i <= values.dim(); ++i) {
    const int64_t have = values.size(values.dim() - i), want = shape[shape.size() - i];
    fits = have == want || have == 1;
  }
  DYDX_CHECK(fits, "index_put_: shape mismatch: value tensor of shape ", values.sizes(),
             " cannot be broadcast to indexing result of shape ", IntArrayRef(shape));
  Tensor out = index_put_values(self, plan, values.expand(shape), accumulate);
  finish<IndexPutRecord>({&self, &values}, out, {plan.dims, plan.out_pos, accumulate}, {&plan.lin});
  return out;
}

/// The coordinates of mask's nonzero elements, [count, mask.dim()], in row-major order: one pass
/// counts, a second writes coordinates kept by an odometer (no division per element).
Tensor nonzero_positions(const Tensor& mask) {
  // How many there are is data: a func::compile replay's shapes could differ from the recording's.
  if (compile::detail::recording()) [[unlikely]]
    compile::detail::refuse("f takes a mask's nonzero positions (a bool mask index, nonzero, masked_select): their "
                            "count is data");
  Tensor dense = mask.detach().contiguous();
  const int64_t n = dense.numel(), rank = dense.dim();
  const Dims sizes(dense.sizes().begin(), dense.sizes().end());
  return cpu::dispatch_with_bool(dense.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = dense.data_ptr<T>();
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) count += p[i] != T(0);
    Tensor out = detail::make_empty({count, rank}, kInt64);
    int64_t* o = out.data_ptr<int64_t>();
    Dims coord(rank, 0);
    for (int64_t i = 0; i < n; ++i) {
      if (p[i] != T(0)) {
        std::copy(coord.begin(), coord.end(), o);
        o += rank;
      }
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (++coord[d] < sizes[d]) break;
        coord[d] = 0;
      }
    }
    return out;
  });
}

/// What the indices leave: the view after the basic indices, and each tensor index as int64
/// positions for one of its dims (masks split into one per dim they cover), in dim order.
struct Resolved {
  Tensor view;
  std::vector<std::pair<int64_t, Tensor>> tensors;
};

Resolved resolve(const Tensor& self, const std::vector<indexing::TensorIndex>& indices, const char* op) {
  int64_t consuming = 0, ellipses = 0;
  for (const auto& i : indices) {
    if (i.is_integer() || i.is_slice()) ++consuming;
    if (i.is_tensor()) consuming += i.tensor().dtype() == kBool ? i.tensor().dim() : 1;  // a mask covers its dims
    if (i.is_ellipsis()) ++ellipses;
  }
  DYDX_CHECK(ellipses <= 1, op, ": an index can only have a single ellipsis ('...')");
  if (consuming > self.dim())
    detail::fail_with<IndexError>(op, ": too many indices for tensor of dimension ", self.dim(), " (got ", consuming, ")");
  Resolved r{self, {}};
  int64_t d = 0;
  for (const auto& i : indices) {
    if (i.is_integer()) {
      r.view = r.view.select(d, i.integer());
    } else if (i.is_slice()) {
      const auto& s = i.slice();
      r.view = r.view.slice(d++, s.start, s.stop, s.step.value_or(1));
    } else if (i.is_none()) {
      r.view = r.view.unsqueeze(d++);
    } else if (i.is_ellipsis()) {
      d += self.dim() - consuming;
    } else if (const Tensor& t = i.tensor(); t.dtype() == kInt64) {
      r.tensors.emplace_back(d++, t.detach());
    } else if (t.dtype() != kBool) {
      detail::fail(op, ": tensors used as indices must be long or bool tensors (got ", t.dtype(), " of shape ",
                   t.sizes(), ")");
    } else if (t.dim() == 0) {
      // A 0-d mask adds a dim of size 1, kept where the mask is true (PyTorch's x[True]).
      r.view = r.view.unsqueeze(d);
      const bool keep = t.detach().item<bool>();
      r.tensors.emplace_back(d++, keep ? zeros({1}, kInt64) : empty({0}, kInt64));
    } else {
      for (int64_t k = 0; k < t.dim(); ++k)
        DYDX_CHECK(t.size(k) == r.view.size(d + k), op, ": The shape of the mask ", t.sizes(), " at index ", k,
                   " does not match the shape of the indexed tensor ", r.view.sizes(), " at index ", d + k);
      Tensor positions = nonzero_positions(t);
      for (int64_t k = 0; k < t.dim(); ++k) r.tensors.emplace_back(d + k, positions.select(1, k));
      d += t.dim();
    }
  }
  return r;
}

/// The row-major offset over the indexed dims (`dims`, of sizes `sizes`) of each position of the
/// indices `dense` (int64, contiguous, one shape): every index checked, and negative ones wrapped,
/// before any offset is formed.
Tensor linear_positions(const TensorList& dense, const Dims& dims, const Dims& sizes, const char* op) {
  for (size_t j = 0; j < dense.size(); ++j) {
    const int64_t* p = dense[j].data_ptr<int64_t>();
    const int64_t count = dense[j].numel(), size = sizes[j];
    for (int64_t i = 0; i < count; ++i)
      DYDX_CHECK(p[i] >= -size && p[i] < size, op, ": index ", p[i], " is out of bounds for dimension ", dims[j],
                 " with size ", size);
  }
  Tensor lin = detail::make_empty(dense.front().sizes(), kInt64);
  int64_t* out = lin.data_ptr<int64_t>();
  const int64_t count = lin.numel();
  std::fill(out, out + count, 0);
  for (size_t j = 0; j < dense.size(); ++j) {
    const int64_t size = sizes[j];
    const int64_t* p = dense[j].data_ptr<int64_t>();
    for (int64_t i = 0; i < count; ++i) out[i] = out[i] * size + (p[i] < 0 ? p[i] + size : p[i]);
  }
  return lin;
}

IndexPlan make_plan(const Tensor& view, const std::vector<std::pair<int64_t, Tensor>>& tensors, const char* op) {
  Dims shape(tensors.front().second.sizes().begin(), tensors.front().second.sizes().end());
  bool broadcastable = true;
  for (const auto& [d, t] : tensors) {
    const int64_t rank = std::max<int64_t>(static_cast<int64_t>(shape.size()), t.dim());
    Dims merged(rank, 1);
    for (int64_t i = 1; i <= rank; ++i) {
      const int64_t a = i <= static_cast<int64_t>(shape.size()) ? shape[shape.size() - i] : 1;
      const int64_t b = i <= t.dim() ? t.size(t.dim() - i) : 1;
      broadcastable = broadcastable && (a == b || a == 1 || b == 1);
      merged[rank - i] = a == 1 ? b : a;
    }
    shape = merged;
  }
  if (!broadcastable) {
    std::string shapes;
    for (const auto& [d, t] : tensors) shapes += (shapes.empty() ? "" : ", ") + t.shape_string();
    DYDX_CHECK(false, op, ": shape mismatch: indexing tensors could not be broadcast together with shapes ", shapes);
  }
  IndexPlan plan;
  bool adjacent = true;
  for (const auto& [d, t] : tensors) {
    adjacent = adjacent && (plan.dims.empty() || d == plan.dims.back() + 1);
    plan.dims.push_back(d);
  }
  plan.out_pos = adjacent ? plan.dims[0] : 0;
  TensorList dense;
  Dims sizes;
  for (const auto& [d, t] : tensors) {
    dense.push_back(t.expand(shape).contiguous());
    sizes.push_back(view.size(d));
  }
  plan.lin = linear_positions(dense, plan.dims, sizes, op);
  if (compile::detail::recording()) [[unlikely]] {
    // No record of its own: func::compile forms the positions again, checks included, from the
    // indices' values at each call.
    std::vector<const Tensor*> inputs;
    for (const Tensor& t : dense) inputs.push_back(&t);
    compile::StepRules rules;
    rules.replay = [dims = plan.dims, sizes, op](const TensorList& in) {
      return linear_positions(in, dims, sizes, op);
    };
    rules.checks = true;
    compile::detail::record_step("index_positions", inputs, {}, plan.lin, std::move(rules));
  }
  return plan;
}


// Advanced indexing under vmap, as functorch: the batch becomes one more tensor index, arange(B)
// shaped [B, 1, ...] to broadcast against the samples' indices (batched ones batch-first and padded
// to the samples' common index rank), placed just before the first tensor index, with self's batch
// dim moved to the dim that index reads. The physical tensor indices are then adjacent exactly when
// the sample's are, so the batch lands where the samples' indexed dims go (PyTorch's rule: in place
// when adjacent, in front otherwise), followed by the samples' indexed dims: one index call for all.
struct BatchedIndices {
  std::vector<indexing::TensorIndex> indices;  // for self_value
  Tensor self_value;                           // batched at dim `self_bdim`
  int64_t self_bdim = 0;
  int64_t out_bdim = 0;  // of the indexed result
  int64_t rank = 0;      // of a sample's indexed result
  uint32_t level = 0;
};

// The innermost level self or a tensor index is batched at (0: none).
uint32_t index_level(const Tensor& self, const std::vector<indexing::TensorIndex>& indices) {
  uint32_t level = vmap::top_level({&self});
  for (const auto& i : indices)
    if (i.is_tensor()) level = std::max(level, vmap::top_level({&i.tensor()}));
  return level;
}

BatchedIndices batch_indices(const Tensor& self, const std::vector<indexing::TensorIndex>& indices, const char* op,
                             bool dense_self, uint32_t level) {
  BatchedIndices b;
  b.level = level;
  int64_t consuming = 0;
  for (const auto& i : indices) {
    if (i.is_integer() || i.is_slice()) ++consuming;
    if (i.is_tensor()) consuming += i.tensor().dtype() == kBool ? i.tensor().dim() : 1;
    if (i.is_tensor() && i.tensor().dtype() == kBool)
      DYDX_CHECK(!vmap::unwrap(i.tensor(), b.level).bdim, "vmap: ", op, ": We do not support batching operators that "
                 "can output dynamic shape. Attempting to batch over indexing with a boolean mask (a mask of shape ",
                 i.tensor().sizes(), " indexing a tensor of shape ", self.sizes(), ")");
  }
  if (consuming > self.dim())
    detail::fail_with<IndexError>(op, ": too many indices for tensor of dimension ", self.dim(), " (got ", consuming, ")");
  // Walk the indices as resolve() does: d counts the view's dims, s self's; dims are the view's
  // dims the tensors index, m the samples' index rank, view_rank the view's.
  int64_t d = 0, s = 0, m = 0, view_rank = self.dim(), first_d = -1, first_s = 0;
  std::vector<int64_t> dims;
  size_t first = indices.size();
  for (size_t k = 0; k < indices.size(); ++k) {
    const auto& i = indices[k];
    if (i.is_tensor() && first == indices.size()) {
      first = k;
      first_d = d;
      first_s = s;
    }
    if (i.is_integer()) {
      ++s;
      --view_rank;
    } else if (i.is_slice()) {
      ++s;
      ++d;
    } else if (i.is_none()) {
      ++d;
      ++view_rank;
    } else if (i.is_ellipsis()) {
      d += self.dim() - consuming;
      s += self.dim() - consuming;
    } else if (i.tensor().dtype() != kBool) {
      // Checked against the sample's dim here: the batch's plan would name the dim after the batch dim.
      const Tensor values = vmap::unwrap(i.tensor(), b.level).value;
      if (!vmap::batched(values) && values.dtype() == kInt64) {
        const Tensor dense = values.contiguous();
        const int64_t* p = dense.data_ptr<int64_t>();
        const int64_t extent = self.size(s);
        for (int64_t j = 0; j < dense.numel(); ++j)
          DYDX_CHECK(p[j] >= -extent && p[j] < extent, op, ": index ", p[j], " is out of bounds for dimension ", d,
                     " with size ", extent);
      }
      dims.push_back(d++);
      ++s;
      m = std::max(m, i.tensor().dim());
    } else if (i.tensor().dim() == 0) {
      dims.push_back(d++);
      ++view_rank;
      m = std::max<int64_t>(m, 1);
    } else {
      for (int64_t j = 0; j < i.tensor().dim(); ++j) dims.push_back(d++);
      s += i.tensor().dim();
      m = std::max<int64_t>(m, 1);
    }
  }
  bool adjacent = true;
  for (size_t j = 1; j < dims.size(); ++j) adjacent = adjacent && dims[j] == dims[j - 1] + 1;
  b.rank = view_rank - static_cast<int64_t>(dims.size()) + m;
  b.out_bdim = adjacent ? first_d : 0;
  b.self_bdim = first_s;
  const int64_t size = vmap::level_info(b.level).size;
  const vmap::Arg x = vmap::unwrap(self, b.level);
  Tensor value = vmap::batch_first_expanded(x, size);
  if (!x.bdim && dense_self) value = value.contiguous();  // index_put writes into it
  b.self_value = value.movedim(0, first_s);
  Dims batch_shape(static_cast<size_t>(m + 1), 1);
  batch_shape[0] = size;
  for (size_t k = 0; k < indices.size(); ++k) {
    if (k == first) b.indices.emplace_back(arange(size).view(batch_shape));
    const auto& i = indices[k];
    const vmap::Arg t = i.is_tensor() ? vmap::unwrap(i.tensor(), b.level) : vmap::Arg{};
    if (t.bdim) b.indices.emplace_back(vmap::pad_sample_rank(vmap::batch_first(t), m));
    else b.indices.push_back(i);
  }
  return b;
}

}  // namespace

static bool any_batched(const Tensor& self, const std::vector<indexing::TensorIndex>& indices) {
  return index_level(self, indices) != 0;
}

bool has_tensor_index(const std::vector<indexing::TensorIndex>& indices) {
  for (const auto& i : indices)
    if (i.is_tensor()) return true;
  return false;
}

// A 0-d int64 tensor index is an integer, as in libtorch and PyTorch (x[torch.tensor(1)] selects, a
// view). One batched under vmap stays a tensor, each sample's own position: the same result as each
// sample's select wherever the other tensor indices' positions land in the same place either way
// (the broadcast shape is theirs alone); where they would not (x[i, :, t]: first as tensors, after
// the slice's dim as a select then t), it raises, as functorch does (its item() of a batched tensor).
static std::vector<indexing::TensorIndex> integers_for_0d(const Tensor& self,
                                                          const std::vector<indexing::TensorIndex>& indices) {
  std::vector<indexing::TensorIndex> out;
  out.reserve(indices.size());
  bool batched_0d = false;
  for (const auto& i : indices) {
    const bool is_0d = i.is_tensor() && i.tensor().defined() && i.tensor().dim() == 0 && i.tensor().dtype() == kInt64;
    const bool batched = is_0d && vmap::batched(i.tensor());
    batched_0d = batched_0d || batched;
    out.push_back(is_0d && !batched ? indexing::TensorIndex(i.tensor().item<int64_t>()) : i);
  }
  if (!batched_0d) return out;
  // The dims the tensor indices take, walked as resolve() walks them.
  int64_t consuming = 0, d = 0;
  for (const auto& i : out) {
    if (i.is_integer() || i.is_slice()) ++consuming;
    if (i.is_tensor()) consuming += i.tensor().dtype() == kBool ? i.tensor().dim() : 1;
  }
  std::vector<int64_t> all, others;  // dims taken by every tensor index; by those but the batched 0-d ones
  for (const auto& i : out) {
    if (i.is_slice() || i.is_none()) {
      ++d;
    } else if (i.is_ellipsis()) {
      d += self.dim() - consuming;
    } else if (i.is_tensor()) {
      const bool select = i.tensor().dim() == 0 && i.tensor().dtype() == kInt64;
      for (int64_t k = 0; k < (i.tensor().dtype() == kBool ? i.tensor().dim() : 1); ++k) {
        all.push_back(d);
        if (!select) others.push_back(d);
        ++d;
      }
    }
  }
  // Where the broadcast positions go, counted in the dims no tensor index takes before them: in place
  // of adjacent indices, else first.
  auto position = [&all](const std::vector<int64_t>& taken) -> int64_t {
    if (taken.empty()) return 0;
    for (size_t k = 1; k < taken.size(); ++k)
      if (taken[k] != taken[k - 1] + 1) return 0;
    return taken[0] - std::count_if(all.begin(), all.end(), [&](int64_t t) { return t < taken[0]; });
  };
  DYDX_CHECK(others.empty() || position(all) == position(others), "vmap: index: a 0-d int64 tensor index batched "
             "under vmap is each sample's integer (a select), and with the other tensor indices of this index (of a "
             "tensor of shape ", self.sizes(), ") the batch's positions would go elsewhere than a sample's; use "
             "index_select, or make the tensor indices adjacent");
  return out;
}

Tensor index_with_tensors(const Tensor& self, const std::vector<indexing::TensorIndex>& given) {
  const std::vector<indexing::TensorIndex> indices = integers_for_0d(self, given);
  if (!has_tensor_index(indices)) return self.index(indices);
  if (vmap::active() && any_batched(self, indices)) [[unlikely]] {
    BatchedIndices b = batch_indices(self, indices, "index", false, index_level(self, indices));
    return vmap::wrap(b.self_value.index(b.indices), b.out_bdim, b.level);
  }
  Resolved r = resolve(self, indices, "index");
  if (r.tensors.empty()) return r.view;  // 0-d integer tensors only: selects
  return index_by_plan(r.view, make_plan(r.view, r.tensors, "index"));
}

}  // namespace ops

Tensor index_put(const Tensor& self, const std::vector<indexing::TensorIndex>& given, const Tensor& values,
                 bool accumulate) {
  const std::vector<indexing::TensorIndex> indices = ops::integers_for_0d(self, given);
  if (vmap::active() && (ops::any_batched(self, indices) || vmap::batched(values))) [[unlikely]] {
    const uint32_t level = std::max(ops::index_level(self, indices), vmap::top_level({&values}));
    if (ops::index_level(self, indices) < level) {
      // Only the values batched at the innermost level: self becomes a batch of copies of itself.
      const int64_t size = vmap::level_info(level).size;
      Tensor copies = vmap::batch_first_expanded({self, std::nullopt}, size).contiguous();
      return index_put(vmap::wrap(copies, 0, level), indices, values, accumulate);
    }
    ops::BatchedIndices b = ops::batch_indices(self, indices, "index_put", true, level);
    const Tensor v = vmap::align_to(values, b.level, b.rank, b.out_bdim);
    return vmap::wrap(index_put(b.self_value, b.indices, v, accumulate), b.self_bdim, b.level);
  }
  bool tensors_only = !indices.empty();
  for (const auto& i : indices) tensors_only = tensors_only && i.is_tensor();
  if (tensors_only) {  // torch.index_put's form: one IndexPutBackward0 node, no copy into a clone
    ops::Resolved r = ops::resolve(self, indices, "index_put");
    return ops::index_put_by_plan(self, ops::make_plan(self, r.tensors, "index_put"), values, accumulate);
  }
  Tensor out = self.clone();
  out.index_put_(indices, values, accumulate);
  return out;
}

namespace ops {
namespace {
// Whether the only tensor among indices is one bool mask: the case PyTorch 1.13's index_put_ hands
// to masked_fill_ when it writes one value (canDispatchToMaskedFill).
bool single_bool_mask(const std::vector<indexing::TensorIndex>& indices) {
  int tensors = 0;
  bool mask = false;
  for (const indexing::TensorIndex& i : indices)
    if (i.is_tensor()) {
      ++tensors;
      mask = i.tensor().defined() && i.tensor().dtype() == kBool;
    }
  return tensors == 1 && mask;
}

// One value as a Scalar of its own kind, for the fill-value check.
Scalar scalar_of(const Tensor& value) {
  if (value.is_floating_point()) return value.to(kFloat64).item<double>();
  if (value.dtype() == kBool) return value.item<bool>();
  return value.item<int64_t>();
}
}  // namespace
}  // namespace ops

Tensor& Tensor::index_put_(const std::vector<indexing::TensorIndex>& given, const Tensor& values, bool accumulate) {
  const std::vector<indexing::TensorIndex> indices = ops::integers_for_0d(*this, given);
  ops::check_writable(*this, "index_put_");
  if (vmap::active() && (ops::any_batched(*this, indices) || vmap::batched(values))) [[unlikely]] {
    std::vector<const Tensor*> others{&values};
    for (const auto& i : indices)
      if (i.is_tensor()) others.push_back(&i.tensor());
    TensorList list;
    for (const Tensor* t : others) list.push_back(*t);
    list.push_back(*this);
    // Written out of place by index_put's rule, then copied in by copy_'s: self must be batched
    // wherever the values or indices are (vmap::check_inplace, as functorch).
    const uint32_t top = vmap::top_level(list);
    const uint32_t self_level = vmap::batched(*this) ? vmap::batched(*this)->level : 0;
    DYDX_CHECK(self_level >= top, "vmap: index_put_: cannot write a batched value into a tensor that is not batched (",
               self_level == 0 ? "self is not batched" : "self is batched only at an outer vmap",
               " but the values or indices are); a tensor f closes over or was given with in_dims std::nullopt is "
               "the same for every sample. Use the out-of-place index_put instead");
    return copy_(dydx::index_put(*this, indices, values, accumulate));
  }
  // PyTorch 1.13 writes a one-element value through a single bool mask as masked_fill_, converting it
  // to self's dtype where other index_put_ calls require the dtypes to match: x[mask] = 2.5 on an
  // int64 x. The conversion is differentiable, so a floating value still gets its gradient.
  if (!accumulate && values.defined() && values.numel() == 1 && values.dtype() != dtype() &&
      ops::single_bool_mask(indices)) {
    ops::check_fill_value(ops::scalar_of(values), dtype(), "index_put_");
    return index_put_(indices, values.to(dtype()), accumulate);
  }
  ops::Resolved r = ops::resolve(*this, indices, "index_put_");
  if (r.tensors.empty()) {
    // Basic indices only: a view of self, written through.
    if (accumulate) r.view.add_(values);
    else r.view.copy_(values);
    return *this;
  }
  // Computed out of place, then copied into the view: every check runs before self changes.
  Tensor written = ops::index_put_by_plan(r.view, ops::make_plan(r.view, r.tensors, "index_put_"), values, accumulate);
  r.view.copy_(written);
  return *this;
}

Tensor& Tensor::index_put_(const std::vector<indexing::TensorIndex>& indices, Scalar value) {
  ops::check_fill_value(value, dtype(), "index_put_");
  return index_put_(indices, ops::scalar_tensor(value, dtype()));
}

Tensor nonzero(const Tensor& input) {
  DYDX_CHECK(!vmap::takes_rule(input), "vmap: We do not support batching operators that can output dynamic shape. "
             "Attempted to vmap over nonzero (of a tensor of shape ", input.sizes(), "): each sample could have a "
             "different number of nonzero elements");
  return ops::nonzero_positions(input);
}

Tensor masked_select(const Tensor& input, const Tensor& mask) {
  const Dims shape = detail::broadcast_shapes(input.sizes(), mask.sizes(), "masked_select");
  DYDX_CHECK(mask.dtype() == kBool, "masked_select: expected a bool mask, got ", mask.dtype(), " (shape ", mask.sizes(), ")");
  if (vmap::takes_rule({&input, &mask})) [[unlikely]] {
    const uint32_t level = vmap::top_level({&input, &mask});
    const vmap::Arg x = vmap::unwrap(input, level), m = vmap::unwrap(mask, level);
    DYDX_CHECK(!m.bdim, "vmap: masked_select: Attempted to vmap over `mask` in masked_select(self, mask) (mask of "
               "shape ", mask.sizes(), "). We cannot support this because for each batch this would return a "
               "differently shaped Tensor");
    // One mask for every sample: select from the batch-first input, broadcast, and split the
    // selection (batch-major, as masked_select walks row-major) into one row per sample.
    const int64_t size = vmap::level_info(level).size;
    Dims batch_shape{size};
    for (int64_t k : shape) batch_shape.push_back(k);
    const Tensor values = vmap::pad_sample_rank(vmap::batch_first(x), static_cast<int64_t>(shape.size()));
    Tensor picked = masked_select(values.expand(batch_shape), mask.expand(shape));
    return vmap::wrap(picked.reshape({size, size == 0 ? 0 : picked.numel() / size}), 0, level);
  }
  Tensor positions = ops::nonzero_positions(mask.expand(shape));
  Tensor x = input.expand(shape);
  std::vector<std::pair<int64_t, Tensor>> tensors;
  for (int64_t d = 0; d < x.dim(); ++d) tensors.emplace_back(d, positions.select(1, d));
  if (x.dim() == 0) {  // one element, kept or not: index a 1-element view by [0] or by nothing
    x = x.reshape({1});
    tensors.emplace_back(0, zeros({positions.size(0)}, kInt64));
  }
  return ops::index_by_plan(x, ops::make_plan(x, tensors, "masked_select"));
}

}  // namespace dydx
