// Batched tensors and the helpers batching rules share (batched.hpp).
#include "vmap/batched.hpp"

#include <algorithm>
#include <iostream>
#include <mutex>
#include <set>

#include "core/shape.hpp"
#include "dydx/ops.hpp"
#include "ops/op_util.hpp"

namespace dydx {

namespace detail {

void throw_batched_data() {
  if (!vmap::active())
    fail("vmap: a tensor batched by a vmap call that has returned was used (it escaped f, for example through a "
         "captured variable); return it from f instead");
  fail("vmap: an op without a batching rule read the data of a tensor inside vmap; "
       "the op needs a batching rule (src/vmap/README.md)");
}

}  // namespace detail

namespace vmap {

namespace detail {
thread_local uint32_t depth = 0;
}

namespace {

thread_local std::vector<Level> running;

std::mutex fallback_mutex;
std::set<std::string> warned;      // names warned about, once per process as functorch
std::set<std::string> fell_back;   // names that took the fallback since the last clear

}  // namespace

const std::vector<Level>& levels() { return running; }

// Levels are pushed by func::vmap (vmap.cpp) through these two.
void push_level(const Level& level) {
  running.push_back(level);
  ++detail::depth;
}
void pop_level() {
  running.pop_back();
  --detail::depth;
}

const Level& level_info(uint32_t level) {
  for (const Level& l : running)
    if (l.level == level) return l;
  dydx::detail::fail("vmap: a tensor batched by a vmap call that has returned, or that runs on another thread, was "
                     "used (it escaped f, for example through a captured variable); return it from f instead");
}

bool any_batched(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (batched(*t)) return true;
  return false;
}

bool any_batched(const TensorList& ts) {
  for (const Tensor& t : ts)
    if (batched(t)) return true;
  return false;
}

uint32_t top_level(std::initializer_list<const Tensor*> ts) {
  uint32_t level = 0;
  for (const Tensor* t : ts)
    if (auto* b = batched(*t)) level = std::max(level, b->level);
  return level;
}

uint32_t top_level(const TensorList& ts) {
  uint32_t level = 0;
  for (const Tensor& t : ts)
    if (auto* b = batched(t)) level = std::max(level, b->level);
  return level;
}

Arg unwrap(const Tensor& t, uint32_t level) {
  if (auto* b = batched(t); b && b->level == level) return {b->value, b->bdim};
  return {t, std::nullopt};
}

Tensor wrap(const Tensor& value, int64_t bdim, uint32_t level) {
  auto impl = std::make_shared<dydx::detail::TensorImpl>();
  const auto& v = *value.impl();
  DYDX_CHECK(bdim >= 0 && bdim < value.dim(), "vmap: internal: batch dim ", bdim, " of a value of shape ",
             value.sizes());
  // Every rule wraps its result at the level of its inputs: one not running on this thread means an
  // input escaped its vmap (captured by f, or from another thread's vmap). Raise here, at the first op
  // that uses it, instead of returning a tensor batched at a dead level that only fails when read.
  (void)level_info(level);
  for (int64_t d = 0; d < value.dim(); ++d) {
    if (d == bdim) continue;
    impl->sizes.push_back(v.sizes[d]);
    impl->strides.push_back(v.strides[d]);
  }
  impl->numel = 1;
  for (int64_t s : impl->sizes) impl->numel *= s;
  impl->dtype = v.dtype;
  // Version counters and aliasing queries see the batch's storage; reading data raises.
  impl->storage = v.storage;
  impl->offset = v.offset;
  impl->batched = std::make_shared<const dydx::detail::BatchedValue>(dydx::detail::BatchedValue{value, bdim, level});
  return Tensor(std::move(impl));
}

Tensor wrap(const std::pair<Tensor, int64_t>& out, uint32_t level) { return wrap(out.first, out.second, level); }

Tensor batch_first(const Arg& a) {
  if (!a.bdim || *a.bdim == 0) return a.value;
  return a.value.movedim(*a.bdim, 0);
}

Tensor batch_first_expanded(const Arg& a, int64_t size) {
  if (a.bdim) return batch_first(a);
  Dims sizes{size};
  for (int64_t s : a.value.sizes()) sizes.push_back(s);
  return a.value.unsqueeze(0).expand(sizes);
}

Tensor pad_sample_rank(const Tensor& batch_first, int64_t rank) {
  const int64_t sample_rank = batch_first.dim() - 1;
  if (sample_rank >= rank) return batch_first;
  Dims sizes{batch_first.size(0)};
  for (int64_t i = sample_rank; i < rank; ++i) sizes.push_back(1);
  for (int64_t d = 1; d < batch_first.dim(); ++d) sizes.push_back(batch_first.size(d));
  return batch_first.reshape(sizes);
}

Aligned align_broadcast(const char* op, std::initializer_list<const Tensor*> inputs, size_t first_promoted) {
  Aligned out;
  out.level = top_level(inputs);
  int64_t rank = 0;
  Dims shape;
  for (const Tensor* t : inputs) {
    rank = std::max(rank, t->dim());
    shape = dydx::detail::broadcast_shapes(shape, t->sizes(), op);
  }
  // The samples' promoted dtype, for the batches of 0-d samples (see batched.hpp).
  SmallVector<const Tensor*, 3> promoting(inputs.begin() + first_promoted, inputs.end());
  bool zero_dim_batch = false;
  for (const Tensor* t : promoting) zero_dim_batch = zero_dim_batch || (t->dim() == 0 && unwrap(*t, out.level).bdim);
  const ScalarType promoted = !zero_dim_batch        ? ScalarType{}
                              : promoting.size() == 2 ? ops::result_type(*promoting[0], *promoting[1])
                                                      : promoting[0]->dtype();
  // Nothing moves when every batched input has the common rank and one bdim, and the unbatched ones
  // broadcast against the dims after it only.
  std::optional<int64_t> shared;
  bool stays = true;
  for (const Tensor* t : inputs) {
    Arg a = unwrap(*t, out.level);
    if (!a.bdim) continue;
    if (t->dim() != rank || (shared && *shared != *a.bdim)) stays = false;
    shared = a.bdim;
  }
  for (const Tensor* t : inputs)
    if (!unwrap(*t, out.level).bdim && t->dim() > rank - *shared) stays = false;
  out.bdim = stays ? *shared : 0;
  size_t i = 0;
  for (const Tensor* t : inputs) {
    Arg a = unwrap(*t, out.level);
    if (zero_dim_batch && i++ >= first_promoted && a.bdim && t->dim() == 0 && a.value.dtype() != promoted &&
        a.value.dtype() != kBool)
      a.value = a.value.to(promoted);
    out.values.push_back(!a.bdim || stays ? a.value : pad_sample_rank(batch_first(a), rank));
  }
  return out;
}

namespace {

void note_fallback(const char* name) {
  std::lock_guard<std::mutex> lock(fallback_mutex);
  fell_back.insert(name);
  if (warned.insert(name).second)
    std::cerr << "dydx warning: vmap: " << name << " has no batching rule yet; it runs once per sample, "
              << "which is correct but slow\n";
}

}  // namespace

TensorList fallback(const char* name, const TensorList& inputs, const std::function<TensorList(const TensorList&)>& op) {
  note_fallback(name);
  const uint32_t level = top_level(inputs);
  const int64_t size = level_info(level).size;
  std::vector<TensorList> per_output;
  for (int64_t i = 0; i < size; ++i) {
    TensorList sample;
    for (const Tensor& t : inputs) {
      Arg a = unwrap(t, level);
      sample.push_back(a.bdim ? a.value.select(*a.bdim, i) : t);
    }
    TensorList outs = op(sample);
    if (per_output.empty()) per_output.resize(outs.size());
    DYDX_CHECK(outs.size() == per_output.size(), "vmap: ", name, ": samples gave different numbers of results");
    for (size_t k = 0; k < outs.size(); ++k) per_output[k].push_back(outs[k]);
  }
  TensorList results;
  for (TensorList& samples : per_output) {
    for (const Tensor& s : samples)
      DYDX_CHECK(s.sizes() == samples[0].sizes(), "vmap: ", name, ": samples gave results of different shapes, ",
                 samples[0].sizes(), " and ", s.sizes(), "; vmap needs one shape for every sample");
    results.push_back(wrap(stack(samples, 0), 0, level));
  }
  return results;
}

Tensor fallback(const char* name, const TensorList& inputs, const std::function<Tensor(const TensorList&)>& op) {
  return fallback(name, inputs, [&op](const TensorList& sample) { return TensorList{op(sample)}; })[0];
}

void check_inplace(const char* name, const Tensor& self, std::initializer_list<const Tensor*> others) {
  const uint32_t level = top_level(others);
  if (level == 0) return;
  const uint32_t self_level = batched(self) ? batched(self)->level : 0;
  DYDX_CHECK(self_level >= level, "vmap: ", name, ": cannot write a batched value into a tensor that is not batched (",
             self_level == 0 ? "self is not batched" : "self is batched only at an outer vmap",
             " but an argument is); a tensor f closes over or was given with in_dims std::nullopt is the same for "
             "every sample. Use the out-of-place op instead");
}

void fallback_inplace(const char* name, const Tensor& self, const TensorList& others,
                      const std::function<void(const Tensor&, const TensorList&)>& op) {
  note_fallback(name);
  const uint32_t level = batched(self)->level;
  const Arg s = unwrap(self, level);
  for (int64_t i = 0; i < s.value.size(*s.bdim); ++i) {
    TensorList sample;
    for (const Tensor& t : others) {
      Arg a = unwrap(t, level);
      sample.push_back(a.bdim ? a.value.select(*a.bdim, i) : t);
    }
    op(s.value.select(*s.bdim, i), sample);
  }
}

std::vector<std::string> fallback_ops() {
  std::lock_guard<std::mutex> lock(fallback_mutex);
  return {fell_back.begin(), fell_back.end()};
}

void clear_fallback_ops() {
  std::lock_guard<std::mutex> lock(fallback_mutex);
  fell_back.clear();
}

Dims random_shape(const char* name, IntArrayRef sizes) {
  Dims shape;
  for (const Level& l : running) {
    DYDX_CHECK(l.randomness != Randomness::error, "vmap: called random operation ", name,
               " while in randomness error mode. Please either use the 'same' or 'different' randomness flags on "
               "vmap (VmapOptions::randomness) or perform the randomness operation out of vmap");
    if (l.randomness == Randomness::different) shape.push_back(l.size);
  }
  for (int64_t s : sizes) shape.push_back(s);
  return shape;
}

Tensor wrap_random(const Tensor& draw) {
  Tensor out = draw;
  for (const Level& l : running)
    if (l.randomness == Randomness::different) out = wrap(out, 0, l.level);
  return out;
}

}  // namespace vmap
}  // namespace dydx
