// Selections along a dim: sort, argsort, msort, topk, kthvalue, median and nanmedian.
//
// Each puts every row along dim in one total order (by value, a nan above every number, equal values
// by their indices, so that any two of these ops agree, and a tie's winner is the one a stable sort
// puts first) and keeps some of the row: all of it (sort), its first k (topk), its k-th (kthvalue,
// median). The values are x read at the kept indices, so their rules are gather's with the indices
// saved (PickedAlong): the gradient goes back to where each value came from, the tangent is gathered,
// and the op is piecewise linear (no curvature; the JVP is also the Taylor rule). median over every
// element is the exception, as in PyTorch: its gradient is shared evenly between the elements equal
// to it (MedianOfAll).
#include <algorithm>
#include <bit>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/picked_along.hpp"
#include "vmap/batched.hpp"
#include "vmap/reduction.hpp"

namespace dydx {
namespace ops {
namespace {

// ---- the order ----

// Each element becomes one unsigned integer, its entry: its value's order key in the high bits, its
// index along the row in the low bits, so that the integers' order is the total order (ties by
// index) and sorting, partial sorting and selecting compare integers, nothing else. A float's key is
// its bits made monotonic (negatives' bits inverted, positives' sign bit set), every nan the largest
// key and -0 the key of 0; an int64's its bits with the sign bit flipped. The values are read back
// from x at the indices, so -0 and a nan's payload come out as they went in. Descending orders
// invert the keys (a nan first, ties still by index).
template <class T>
struct Order {
  // 4-byte keys and rows shorter than 2^32 fit one 64-bit entry; the rest take 128 bits.
  using Key = std::conditional_t<sizeof(T) <= 4, uint32_t, uint64_t>;
  static constexpr int kKeyBits = 8 * sizeof(Key);
  static Key key(T v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v ? 1 : 0;
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<Key>(v) ^ (Key{1} << (kKeyBits - 1));
    } else {
      // Without branches: the sign bit spread over the key (all ones for a negative) plus the sign
      // bit itself, xor'ed in. v + 0 is 0 for -0 (and v otherwise, a nan included).
      using Signed = std::make_signed_t<Key>;
      const Key bits = std::bit_cast<Key>(static_cast<T>(v + T{0}));
      const Key flip = static_cast<Key>(static_cast<Signed>(bits) >> (kKeyBits - 1)) | (Key{1} << (kKeyBits - 1));
      return std::isnan(v) ? ~Key{0} : bits ^ flip;
    }
  }
};
template <class Entry>
constexpr int kIndexBits = 8 * sizeof(Entry) / 2;

// ---- the kernel ----

// x's rows along dim, as [outer, n, inner] of its dense values.
struct RowsAlong {
  Tensor dense;
  int64_t outer = 1, n = 1, inner = 1;
};
RowsAlong rows_of(const Tensor& x, int64_t dim) {
  RowsAlong r{x.is_contiguous() ? x.detach() : x.detach().contiguous()};
  if (x.dim() == 0) return r;
  r.n = x.size(dim);
  for (int64_t d = 0; d < dim; ++d) r.outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) r.inner *= x.size(d);
  return r;
}

// A row as an arrangement sees it: its values, the entry of each (ascending or descending as asked),
// a buffer of n entries to arrange, and which entries are nans (the largest keys: in an ascending
// row, the entries from first_nan up). An arrangement leaves the entries to keep at the buffer's front.
template <class T, class Entry>
struct Row {
  using Key = typename Order<T>::Key;
  static constexpr int kShift = kIndexBits<Entry>;
  const T* values;
  int64_t n, stride;
  bool descending;
  Entry* entries;
  Entry first_nan;  // no nan entry is below it; for types without nans, past every entry
  Key key(int64_t j) const {
    const Key k = Order<T>::key(values[j * stride]);
    return descending ? static_cast<Key>(~k) : k;
  }
  Entry entry(int64_t j) const { return (Entry(key(j)) << kShift) | Entry(j); }
  static Key key_of(Entry e) { return static_cast<Key>(e >> kShift); }
  // Every entry, in index order, into the buffer.
  void fill() const {
    for (int64_t j = 0; j < n; ++j) entries[j] = entry(j);
  }
  bool is_nan(Entry e) const { return e >= first_nan; }
};

// For each row: its entries, arranged by arrange(row), of which the first `kept` are written to
// values (x at their indices) and indices, both dense [outer, kept, inner]. Rows run in parallel,
// each thread with one buffer for all of its rows.
template <class T, class Entry, class Arrange>
void arrange_rows(const RowsAlong& r, int64_t kept, bool descending, Tensor& values, Tensor& indices, Arrange arrange) {
  using Key = typename Order<T>::Key;
  constexpr int kShift = kIndexBits<Entry>;
  const int64_t rows = r.outer * r.inner;
  if (rows == 0 || kept == 0) return;
  const T* in = r.dense.data_ptr<T>();
  T* out_values = values.data_ptr<T>();
  int64_t* out_indices = indices.data_ptr<int64_t>();
  const int64_t n = r.n, inner = r.inner;
  const Entry first_nan = std::is_floating_point_v<T> ? Entry(~Key{0}) << kShift : ~Entry{0};
  cpu::parallel_for(rows, std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(n, 1)),
                    [&](int64_t first, int64_t last) {
                      std::vector<Entry> entries(static_cast<size_t>(n));
                      for (int64_t row = first; row < last; ++row) {
                        const int64_t o = row / inner, i = row % inner;
                        const T* p = in + o * n * inner + i;
                        arrange(Row<T, Entry>{p, n, inner, descending, entries.data(), first_nan});
                        T* v = out_values + o * kept * inner + i;
                        int64_t* k = out_indices + o * kept * inner + i;
                        const Entry index_mask = (Entry{1} << kShift) - 1;
                        for (int64_t j = 0; j < kept; ++j) {
                          const int64_t index = static_cast<int64_t>(entries[j] & index_mask);
                          v[j * inner] = p[index * inner];
                          k[j * inner] = index;
                        }
                      }
                    });
}

// x's values and indices along dim kept by arrange (`kept` of each row), in x's shape with dim of
// size kept, or without dim when `drop_dim` (kthvalue and median without keepdim, kept = 1).
template <class Arrange>
std::pair<Tensor, Tensor> select_rows(const Tensor& x, int64_t dim, int64_t kept, bool drop_dim, bool descending,
                                      Arrange arrange) {
  Dims shape;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim)
      shape.push_back(x.size(d));
    else if (!drop_dim)
      shape.push_back(kept);
  if (x.dim() == 0) kept = 1;  // a 0-d x is one row of one, kept whole (topk with k = 0 included, as PyTorch)
  Tensor values = detail::make_empty(shape, x.dtype()), indices = detail::make_empty(shape, kInt64);
  const RowsAlong r = rows_of(x, dim);
  cpu::dispatch_with_bool(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // One 64-bit integer per element where the key and the index fit; else 128 bits.
    if (sizeof(T) <= 4 && r.n <= (int64_t{1} << 32))
      arrange_rows<T, uint64_t>(r, kept, descending, values, indices, arrange);
    else
      arrange_rows<T, unsigned __int128>(r, kept, descending, values, indices, arrange);
  });
  return {values, indices};
}

// ---- the records ----

struct SortRecord : PickedAlong, Named<"sort", "SortBackward0"> {};
struct TopkRecord : PickedAlong, Named<"topk", "TopkBackward0"> {};
struct KthvalueRecord : PickedAlong, Named<"kthvalue", "KthvalueBackward0"> {};
struct MedianDimRecord : PickedAlong, Named<"median.dim", "MedianBackward1"> {};
struct NanmedianDimRecord : PickedAlong, Named<"nanmedian.dim", "NanmedianBackward1"> {};

// The selection's values recorded with Record's rules, its indices as a step func::compile replays
// by calling again(x) (the indices have no derivative, so no record of their own).
template <class Record, class Again>
std::tuple<Tensor, Tensor> picked_along(const Tensor& x, std::pair<Tensor, Tensor> selected, PickedAttrs attrs,
                                        const char* op, Again again) {
  auto& [values, indices] = selected;
  compile::detail::note_kernel(op, {&x}, indices, [again](const TensorList& in) { return std::get<1>(again(in[0])); });
  finish<Record>({&x}, values, attrs, {&indices});
  return {values, indices};
}

// median and nanmedian over every element after the first `kept` dims (0; 1 for vmap's batch),
// the value alone. PyTorch's evenly_distribute_backward: the gradient shared evenly between the
// elements equal to the median (its nans where it is nan), by where() so that an infinite
// cotangent does not make nans elsewhere; its evenly_read_jvp: the mean of their tangents (nan where
// the median is nan, as there: no element equals it).
struct MedianAttrs {
  int64_t kept;
};
struct MedianOfAll : Linear {
  using Attrs = MedianAttrs;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  // The dims after the first kept: those the median reduces.
  static Dims reduced(const Tensor& x, int64_t kept) {
    Dims dims;
    for (int64_t d = kept; d < x.dim(); ++d) dims.push_back(d);
    return dims;
  }
  static Tensor ties(const Tensor& x, const Tensor& out, int64_t kept) {
    const Tensor m = unsqueeze_reduced(out, reduced(x, kept), false);
    return where(isnan(m), isnan(x), eq(x, m));
  }
  template <class Call>
  static void vjp(const Call& b, const Tensor& g, Tensor* grads) {
    const Tensor x = b.input(0);
    const int64_t nb = b.batch_dims(g), kept = b.attrs().kept;
    if (x.dim() == kept) {  // rows of one element (a 0-d x), each its own median
      grads[0] = g;
      return;
    }
    const Dims dims = reduced(x, kept);
    const Tensor tied = ties(x, b.output(), kept);
    const Tensor count = sum_over(tied.to(g.dtype()), dims, true);
    grads[0] = where(tied, unsqueeze_reduced(g, dims, false, nb) / count, zeros({}, g.dtype()));
  }
  template <class Call>
  static Tensor jvp(const Call& p, const TensorList& t) {
    const Tensor& x = p.input(0);
    const int64_t nb = p.batch_dims(), kept = p.attrs().kept;
    if (x.dim() == kept) return t[0];
    const Tensor tied = eq(x, unsqueeze_reduced(p.output(), reduced(x, kept), false));
    const Tensor picked = where(tied, t[0], zeros({}, t[0].dtype()));
    const Dims dims = reduced(x, kept);
    return sum_over(picked, shift_dims(dims, x.dim(), nb)) / sum_over(tied.to(t[0].dtype()), dims);
  }
};
Tensor median_of_all(const Tensor& x, int64_t kept, bool skip_nans);
struct MedianRecord : MedianOfAll, Named<"median", "MedianBackward0"> {
  static Tensor replay(const TensorList& in, const MedianAttrs& a) { return median_of_all(in[0], a.kept, false); }
};
struct NanmedianRecord : MedianOfAll, Named<"nanmedian", "NanmedianBackward0"> {
  static Tensor replay(const TensorList& in, const MedianAttrs& a) { return median_of_all(in[0], a.kept, true); }
};

// ---- the arrangements ----

// The row's k-th entry (from 0) moved to its front.
template <class R>
void move_kth_to_front(const R& row, int64_t k) {
  row.fill();
  std::nth_element(row.entries, row.entries + k, row.entries + row.n);
  std::swap(row.entries[0], row.entries[k]);
}
// median's: the row's first nan, else its lower middle entry; nanmedian's: the lower middle of its
// numbers (nans come last in the order), its first nan when it has no number.
template <class R>
void move_median_to_front(const R& row, bool skip_nans) {
  row.fill();
  int64_t nans = 0, first_nan = -1;
  for (int64_t j = 0; j < row.n; ++j)
    if (row.is_nan(row.entries[j])) {
      if (first_nan < 0) first_nan = j;
      ++nans;
    }
  if (nans > 0 && (!skip_nans || nans == row.n)) {
    std::swap(row.entries[0], row.entries[first_nan]);  // entries are still in index order
    return;
  }
  const int64_t k = (row.n - nans - 1) / 2;
  std::nth_element(row.entries, row.entries + k, row.entries + row.n);
  std::swap(row.entries[0], row.entries[k]);
}
// A max-heap of k entries (std::make_heap's layout) with its top replaced by the smaller e: one sift
// down, half of what pop_heap and push_heap together do.
template <class Entry>
void replace_top(Entry* heap, int64_t k, Entry e) {
  int64_t at = 0;
  for (int64_t child = 1; child < k; child = 2 * at + 1) {
    if (child + 1 < k && heap[child] < heap[child + 1]) ++child;
    if (!(e < heap[child])) break;
    heap[at] = heap[child];
    at = child;
  }
  heap[at] = e;
}
// The row's k first entries, in order, at its front. From a row many times longer than k, as a heap
// of the k first so far, read in index order: a later entry enters only with a smaller key than the
// top's (its index is larger), so most of a long row is one key compared with the top's.
template <class R>
void move_first_k_to_front(const R& row, int64_t k) {
  if (k == 0) return;
  if (row.n < 8 * k) {
    row.fill();
    std::partial_sort(row.entries, row.entries + k, row.entries + row.n);
    return;
  }
  auto* heap = row.entries;
  for (int64_t j = 0; j < k; ++j) heap[j] = row.entry(j);
  std::make_heap(heap, heap + k);
  auto top = row.key_of(heap[0]);
  for (int64_t j = k; j < row.n; ++j) {
    if (row.key(j) < top) {
      replace_top(heap, k, row.entry(j));
      top = row.key_of(heap[0]);
    }
  }
  std::sort_heap(heap, heap + k);
}

void check_not_bool(const Tensor& x, const char* op, const char* kernel) {
  DYDX_CHECK(x.dtype() != kBool, op, ": \"", kernel, "\" not implemented for 'Bool' (shape ", x.sizes(), ")");
}

// The dim of a selection (0 for a 0-d x, which takes dim 0 or -1).
int64_t selection_dim(const Tensor& x, int64_t dim, const char* op) {
  return detail::wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);
}
int64_t row_length(const Tensor& x, int64_t dim) { return x.dim() == 0 ? 1 : x.size(dim); }

// A selection's batching rule: the op on the batch, the sample's dim moved past the batch dim; a 0-d
// sample is a row of one. keepdim false for the selections that drop dim.
template <class Op>
std::tuple<Tensor, Tensor> batched_selection(const Tensor& x, int64_t dim, bool keepdim, Op op) {
  const vmap::BatchReduction r = vmap::reduce_batch(x, {dim}, keepdim);
  auto [values, indices] = op(r.value, r.dims[0], r.keepdim);
  if (x.dim() == 0 && values.dim() == 2) {  // a row of one that kept its dim
    values = values.squeeze(1);
    indices = indices.squeeze(1);
  }
  return {vmap::wrap(values, r.bdim, r.level), vmap::wrap(indices, r.bdim, r.level)};
}

// The median of each row of x's elements after its first `kept` dims, in the shape of those dims;
// nan for an empty float row (an integer one has none: an error, where PyTorch returns int64's least).
Tensor median_of_all(const Tensor& x, int64_t kept, bool skip_nans) {
  const char* op = skip_nans ? "nanmedian" : "median";
  Dims shape(x.sizes().begin(), x.sizes().begin() + kept);
  int64_t n = 1;
  for (int64_t d = kept; d < x.dim(); ++d) n *= x.size(d);
  Dims row_shape = shape;
  row_shape.push_back(n);
  if (n == 0) {
    DYDX_CHECK(x.is_floating_point(), op, "(): the median of no elements is not a number, and ", x.dtype(),
               " has no nan (shape ", x.sizes(), ")");
    return full(shape, NAN, dtype(x.dtype()));
  }
  const Tensor out = select_rows(x.detach().reshape(row_shape), kept, 1, true, false,
                                 [&](const auto& row) { move_median_to_front(row, skip_nans); })
                         .first;
  // median's nan is the quiet nan, not the row's own (its sign and payload), as PyTorch's; nanmedian's
  // (of a row of nans) is the row's first, as there.
  if (skip_nans || !x.is_floating_point()) return out;
  NoGradGuard no_grad;
  return where(isnan(out), full({}, NAN, dtype(out.dtype())), out);
}

// median's and nanmedian's value over every element (after `kept` dims), recorded.
Tensor median_recorded(const Tensor& x, int64_t kept, bool skip_nans) {
  Tensor out = median_of_all(x, kept, skip_nans);
  if (skip_nans)
    finish<NanmedianRecord>({&x}, out, {kept});
  else
    finish<MedianRecord>({&x}, out, {kept});
  return out;
}
// Its batching rule: the batch moved in front, one more dim kept (again for each vmap level).
Tensor median_after(const Tensor& x, int64_t kept, bool skip_nans) {
  if (vmap::takes_rule(x)) [[unlikely]] {
    const auto* b = vmap::batched(x);
    return vmap::wrap(median_after(vmap::batch_first({b->value, b->bdim}), kept + 1, skip_nans), 0, b->level);
  }
  return median_recorded(x, kept, skip_nans);
}
Tensor median_of_every_element(const Tensor& x, bool skip_nans) {
  const char* op = skip_nans ? "nanmedian" : "median";
  check_not_bool(x, op, skip_nans ? "nanmedian_cpu" : "median_cpu");
  return median_after(x, 0, skip_nans);
}

// median(dim) and nanmedian(dim).
std::tuple<Tensor, Tensor> median_along(const Tensor& x, int64_t dim, bool keepdim, bool skip_nans) {
  const char* op = skip_nans ? "nanmedian" : "median";
  dim = selection_dim(x, dim, op);
  DYDX_CHECK(x.dim() == 0 || x.size(dim) > 0, op, "(): Expected reduction dim ", dim,
             " to have non-zero size (input shape ", x.sizes(), ")");
  check_not_bool(x, op, skip_nans ? "nanmedian_out" : "median_out");
  if (vmap::takes_rule(x)) [[unlikely]]
    return batched_selection(x, dim, keepdim, [&](const Tensor& v, int64_t d, bool k) { return median_along(v, d, k, skip_nans); });
  auto selected = select_rows(x, dim, 1, !keepdim, false, [&](const auto& row) { move_median_to_front(row, skip_nans); });
  auto again = [dim, keepdim, skip_nans](const Tensor& v) { return median_along(v, dim, keepdim, skip_nans); };
  const PickedAttrs attrs{dim, keepdim || x.dim() == 0};
  return skip_nans ? picked_along<NanmedianDimRecord>(x, selected, attrs, op, again)
                   : picked_along<MedianDimRecord>(x, selected, attrs, op, again);
}

}  // namespace
}  // namespace ops

std::tuple<Tensor, Tensor> sort(const Tensor& x, std::optional<bool> stable, int64_t dim, bool descending) {
  (void)stable;  // every sort here is stable
  dim = ops::selection_dim(x, dim, "sort");
  if (vmap::takes_rule(x)) [[unlikely]]
    return ops::batched_selection(x, dim, true, [&](const Tensor& v, int64_t d, bool) { return sort(v, d, descending); });
  auto selected = ops::select_rows(x, dim, ops::row_length(x, dim), false, descending,
                                   [](const auto& row) {
                                     row.fill();
                                     std::sort(row.entries, row.entries + row.n);
                                   });
  return ops::picked_along<ops::SortRecord>(x, selected, {dim, true}, "sort",
                                            [dim, descending](const Tensor& v) { return sort(v, dim, descending); });
}
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  return sort(x, std::nullopt, dim, descending);
}
Tensor argsort(const Tensor& x, int64_t dim, bool descending) { return std::get<1>(sort(x.detach(), dim, descending)); }
Tensor msort(const Tensor& x) { return std::get<0>(sort(x, 0)); }

std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  (void)sorted;  // they always come sorted
  dim = ops::selection_dim(x, dim, "topk");
  const int64_t n = ops::row_length(x, dim);
  DYDX_CHECK(k >= 0 && k <= n, "topk: selected index k out of range (k = ", k, " of ", n, " along dim ", dim,
             ", input shape ", x.sizes(), ")");
  if (x.dim() > 0) ops::check_not_bool(x, "topk", "topk_cpu");  // a 0-d bool is its own pick, as in PyTorch
  if (vmap::takes_rule(x)) [[unlikely]]
    return ops::batched_selection(x, dim, true, [&](const Tensor& v, int64_t d, bool) { return topk(v, k, d, largest); });
  const int64_t kept = x.dim() == 0 ? 1 : k;
  auto selected =
      ops::select_rows(x, dim, k, false, largest, [kept](const auto& row) { ops::move_first_k_to_front(row, kept); });
  return ops::picked_along<ops::TopkRecord>(x, selected, {dim, true}, "topk",
                                            [k, dim, largest](const Tensor& v) { return topk(v, k, dim, largest); });
}

std::tuple<Tensor, Tensor> kthvalue(const Tensor& x, int64_t k, int64_t dim, bool keepdim) {
  dim = ops::selection_dim(x, dim, "kthvalue");
  DYDX_CHECK(x.dim() == 0 || x.size(dim) > 0, "kthvalue(): Expected reduction dim ", dim,
             " to have non-zero size (input shape ", x.sizes(), ")");
  const int64_t n = ops::row_length(x, dim);
  DYDX_CHECK(k >= 1 && k <= n, "kthvalue(): selected number k out of range for dimension ", dim, " (k = ", k, " of ", n,
             ", input shape ", x.sizes(), ")");
  if (x.dim() > 0) ops::check_not_bool(x, "kthvalue", "kthvalue_cpu");  // a 0-d bool is its own pick, as in PyTorch
  if (vmap::takes_rule(x)) [[unlikely]]
    return ops::batched_selection(x, dim, keepdim, [&](const Tensor& v, int64_t d, bool kd) { return kthvalue(v, k, d, kd); });
  auto selected = ops::select_rows(x, dim, 1, !keepdim, false, [k](const auto& row) { ops::move_kth_to_front(row, k - 1); });
  return ops::picked_along<ops::KthvalueRecord>(x, selected, {dim, keepdim || x.dim() == 0}, "kthvalue",
                                                [k, dim, keepdim](const Tensor& v) { return kthvalue(v, k, dim, keepdim); });
}

Tensor median(const Tensor& x) { return ops::median_of_every_element(x, false); }
std::tuple<Tensor, Tensor> median(const Tensor& x, int64_t dim, bool keepdim) { return ops::median_along(x, dim, keepdim, false); }
Tensor nanmedian(const Tensor& x) { return ops::median_of_every_element(x, true); }
std::tuple<Tensor, Tensor> nanmedian(const Tensor& x, int64_t dim, bool keepdim) {
  return ops::median_along(x, dim, keepdim, true);
}

std::tuple<Tensor, Tensor> Tensor::sort(int64_t dim, bool descending) const { return dydx::sort(*this, dim, descending); }
std::tuple<Tensor, Tensor> Tensor::sort(std::optional<bool> stable, int64_t dim, bool descending) const {
  return dydx::sort(*this, stable, dim, descending);
}
Tensor Tensor::argsort(int64_t dim, bool descending) const { return dydx::argsort(*this, dim, descending); }
Tensor Tensor::msort() const { return dydx::msort(*this); }
std::tuple<Tensor, Tensor> Tensor::topk(int64_t k, int64_t dim, bool largest, bool sorted) const {
  return dydx::topk(*this, k, dim, largest, sorted);
}
std::tuple<Tensor, Tensor> Tensor::kthvalue(int64_t k, int64_t dim, bool keepdim) const {
  return dydx::kthvalue(*this, k, dim, keepdim);
}
Tensor Tensor::median() const { return dydx::median(*this); }
std::tuple<Tensor, Tensor> Tensor::median(int64_t dim, bool keepdim) const { return dydx::median(*this, dim, keepdim); }
Tensor Tensor::nanmedian() const { return dydx::nanmedian(*this); }
std::tuple<Tensor, Tensor> Tensor::nanmedian(int64_t dim, bool keepdim) const { return dydx::nanmedian(*this, dim, keepdim); }

}  // namespace dydx
