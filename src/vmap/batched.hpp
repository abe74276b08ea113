// Batched tensors: what a function under vmap sees, and the helpers every batching rule uses.
//
// Inside vmap(f), f is called with tensors of one sample's shape. Each stands for a whole batch: a
// BatchedValue holds the batch itself (`value`, one dim more, batched along `bdim`) and the vmap
// level it belongs to. An op given a batched input runs its batching rule once on the values, never
// once per sample, and returns a batched result; where its batch dim lands (the rule's bdim) is
// whatever costs nothing, so the batch dim moves only when an op needs it somewhere else (as JAX's
// (out, out_bdim) rules). Nested vmaps nest the wrappers: a value may itself be batched at an
// outer (lower) level, and an op then applies its rule once per level, innermost level first.
//
// A batched tensor has no data: an op without a rule that reads it raises (detail::throw_batched_data)
// instead of computing one sample's result.
#pragma once

#include <atomic>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "dydx/func.hpp"
#include "dydx/tensor.hpp"

namespace dydx::detail {

struct BatchedValue {
  Tensor value;      // the whole batch: the sample's dims with the batch dim inserted at bdim
  int64_t bdim;      // in value's dims
  uint32_t level;    // the vmap call it belongs to; nested calls have higher levels
};

}  // namespace dydx::detail

namespace dydx::vmap {

using func::Randomness;

/// One running vmap call.
struct Level {
  uint32_t level;
  int64_t size;  // the batch size
  Randomness randomness;
};

namespace detail {
/// vmap calls running on this thread.
extern thread_local uint32_t depth;
/// vmap calls running on any thread: read first, since a thread_local of a shared library costs a
/// call (__tls_get_addr) on every op, where a global costs a load.
extern std::atomic<uint32_t> running_anywhere;
}  // namespace detail

/// Whether a vmap is running on this thread: the one check an op makes before it looks at its inputs.
inline bool active() noexcept {
  return detail::running_anywhere.load(std::memory_order_relaxed) != 0 && detail::depth != 0;
}

/// What t stands for, if it is batched.
inline const dydx::detail::BatchedValue* batched(const Tensor& t) {
  return t.defined() ? t.impl()->batched.get() : nullptr;
}
/// Whether any of ts is batched, once active() said a vmap runs.
bool any_batched(std::initializer_list<const Tensor*> ts);
bool any_batched(const TensorList& ts);

/// The innermost level any of ts is batched at (0: none).
uint32_t top_level(std::initializer_list<const Tensor*> ts);
uint32_t top_level(const TensorList& ts);
/// The running call of that level; raises for a batched tensor that escaped its vmap.
const Level& level_info(uint32_t level);
/// The running calls, outermost first.
const std::vector<Level>& levels();

/// t at one level: its batch (bdim set) where t is batched there, else t itself (bdim empty).
struct Arg {
  Tensor value;
  std::optional<int64_t> bdim;
};
Arg unwrap(const Tensor& t, uint32_t level);
/// A tensor standing for value batched along bdim at level.
Tensor wrap(const Tensor& value, int64_t bdim, uint32_t level);
/// rule(value, bdim) -> {out, out_bdim}, the usual form of a one-input rule, wrapped.
Tensor wrap(const std::pair<Tensor, int64_t>& out, uint32_t level);

/// The physical dim of the sample's dim d (0 <= d < sample rank) when the batch is at bdim.
inline int64_t physical_dim(int64_t d, int64_t bdim) { return d < bdim ? d : d + 1; }
/// The value with its batch dim first (a view; value itself when it is there already).
Tensor batch_first(const Arg& a);
/// Same, an unbatched value broadcast (expanded, no copy) to a batch of size.
Tensor batch_first_expanded(const Arg& a, int64_t size);
/// A batch-first value made rank + 1 dims, ones after the batch dim, so that the sample's dims broadcast
/// against the other inputs' from the right, as the samples do.
Tensor pad_sample_rank(const Tensor& batch_first, int64_t rank);

/// The values of broadcasting inputs at their innermost level, lined up so that one call of the op
/// on them gives every sample's result with the batch at `bdim`: batched inputs batch-first and
/// padded to the samples' common rank, unbatched ones as they are. When the batched inputs share a
/// bdim and rank and the others have no more dims than the sample has after it, nothing moves.
struct Aligned {
  SmallVector<Tensor, 3> values;
  int64_t bdim;
  uint32_t level;
};
/// Checks first that the samples' shapes broadcast, so that op `name`'s error names them, not the batches'.
Aligned align_broadcast(const char* name, std::initializer_list<const Tensor*> inputs);

/// Whether an op must take its batching rule: a vmap runs and one of its inputs is batched.
inline bool takes_rule(const Tensor& x) { return active() && batched(x); }
inline bool takes_rule(std::initializer_list<const Tensor*> ts) { return active() && any_batched(ts); }

/// The rule of an elementwise op of one input: op on the batch, the batch dim where it was.
template <class F>
Tensor elementwise(const Tensor& x, F&& op) {
  const auto* b = batched(x);
  return wrap(op(b->value), b->bdim, b->level);
}
/// The rule of a broadcasting op of two inputs: op once on the aligned values (align_broadcast).
template <class F>
Tensor broadcasting(const char* name, const Tensor& a, const Tensor& b, F&& op) {
  Aligned v = align_broadcast(name, {&a, &b});
  return wrap(op(v.values[0], v.values[1]), v.bdim, v.level);
}
template <class F>
Tensor broadcasting(const char* name, const Tensor& a, const Tensor& b, const Tensor& c, F&& op) {
  Aligned v = align_broadcast(name, {&a, &b, &c});
  return wrap(op(v.values[0], v.values[1], v.values[2]), v.bdim, v.level);
}

/// The op of `name` run once per sample and the samples' results stacked: for ops with no batching
/// rule yet. Warns once per name on stderr, as functorch does, and records the name for the op
/// table's check that no op takes this path.
TensorList fallback(const char* name, const TensorList& inputs, const std::function<TensorList(const TensorList&)>& op);
Tensor fallback(const char* name, const TensorList& inputs, const std::function<Tensor(const TensorList&)>& op);
/// An in-place op on self run once per sample (self's samples are views of its batch).
void fallback_inplace(const char* name, const Tensor& self, const TensorList& others,
                      const std::function<void(const Tensor&, const TensorList&)>& op);
/// In-place ops: raises when self is not batched at the innermost level of the others, as functorch.
void check_inplace(const char* name, const Tensor& self, std::initializer_list<const Tensor*> others);
/// The names of the ops that took fallback() since the last clear (op-table tests).
std::vector<std::string> fallback_ops();
void clear_fallback_ops();

/// A random op under vmap: raises under Randomness::error; otherwise the shape to draw (the sample's
/// `sizes` with a dim in front for each level of Randomness::different, outermost first) and wrap()
/// the draw with wrap_random.
Dims random_shape(const char* name, IntArrayRef sizes);
Tensor wrap_random(const Tensor& draw);

}  // namespace dydx::vmap

namespace dydx::vmap {

/// other at level laid out against a batch of samples of rank `rank` whose batch dim is at `bdim`
/// (an in-place op's self, or an index_put's indexed result): other's sample dims broadcast
/// against the sample's from the right, and its batch dim (if batched at level) lands at bdim; an
/// unbatched other gets a size-1 dim there only where its dims reach past bdim. A view, no copy.
Tensor align_to(const Tensor& other, uint32_t level, int64_t rank, int64_t bdim);

}  // namespace dydx::vmap
