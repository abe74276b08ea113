// func::vmap: runs f once on batched tensors (batched.hpp) and moves each result's batch dim to out_dims.
#include <algorithm>
#include <atomic>

#include "dydx/func.hpp"
#include "dydx/generator.hpp"
#include "dydx/ops.hpp"
#include "vmap/batched.hpp"

namespace dydx::vmap {
void push_level(const Level& level);
void pop_level();
}  // namespace dydx::vmap

namespace dydx::func {

namespace {

using vmap::Level;

std::string dims_string(const BatchDims& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += dims[i] ? std::to_string(*dims[i]) : "None";
  }
  return s + (dims.size() == 1 ? ",)" : ")");
}

// A level for the duration of one call of f, popped however f leaves.
class LevelScope {
 public:
  LevelScope(int64_t size, Randomness randomness) {
    // Unique across threads, so that a batched tensor handed to another thread never matches a
    // running level there.
    static std::atomic<uint32_t> next_level{0};
    level_ = next_level.fetch_add(1, std::memory_order_relaxed) + 1;
    vmap::push_level({level_, size, randomness});
  }
  ~LevelScope() { vmap::pop_level(); }
  LevelScope(const LevelScope&) = delete;
  LevelScope& operator=(const LevelScope&) = delete;
  uint32_t level() const { return level_; }

 private:
  uint32_t level_;
};

// The per-input dims, checked: one entry applies to all.
std::vector<std::optional<int64_t>> resolve_in_dims(const BatchDims& in_dims, const TensorList& inputs, int64_t& size) {
  DYDX_CHECK(!inputs.empty(), "vmap(f, in_dims=", dims_string(in_dims), ", ...)(<inputs>): got no inputs; vmap needs "
             "at least one tensor to map over");
  DYDX_CHECK(in_dims.size() == inputs.size() || in_dims.size() == 1, "vmap(f, in_dims=", dims_string(in_dims),
             ", ...)(<inputs>): in_dims has ", in_dims.size(), " entries but f was given ", inputs.size(),
             " inputs; give one in_dim per input, or one for all");
  std::vector<std::optional<int64_t>> dims(inputs.size());
  size = -1;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::optional<int64_t> d = in_dims.size() == 1 ? in_dims[0] : in_dims[i];
    if (!d) continue;
    const Tensor& x = inputs[i];
    DYDX_CHECK(x.defined(), "vmap(f, in_dims=", dims_string(in_dims), ", ...)(<inputs>): input ", i,
               " is undefined but has in_dim ", *d, "; give it in_dim std::nullopt or a tensor");
    DYDX_CHECK_VALUE(*d >= -x.dim() && *d < x.dim(), "vmap(f, in_dims=", dims_string(in_dims), ", ...)(<inputs>): Got in_dim=",
               *d, " for input ", i, ", but input ", i, " is a Tensor of dimensionality ", x.dim(),
               " (shape ", x.sizes(), ") so expected in_dim to satisfy -", x.dim(), " <= in_dim < ", x.dim(), ".");
    dims[i] = *d < 0 ? *d + x.dim() : *d;
    sizes.push_back(x.size(*dims[i]));
  }
  DYDX_CHECK(!sizes.empty(), "vmap(f, in_dims=", dims_string(in_dims), ", ...)(<inputs>): at least one input must be "
             "batched (have an in_dim that is not std::nullopt)");
  for (int64_t s : sizes)
    DYDX_CHECK_VALUE(s == sizes[0], "vmap: Expected all tensors to have the same size in the mapped dimension, got sizes ",
               IntArrayRef(sizes), " for the mapped dimension (in_dims=", dims_string(in_dims), ")");
  size = sizes[0];
  return dims;
}

std::optional<int64_t> out_dim_of(const BatchDims& out_dims, size_t i, size_t count) {
  DYDX_CHECK(out_dims.size() == count || out_dims.size() == 1, "vmap(f, ..., out_dims=", dims_string(out_dims),
             "): f returned ", count, " tensors but out_dims has ", out_dims.size(),
             " entries; give one out_dim per output, or one for all");
  return out_dims.size() == 1 ? out_dims[0] : out_dims[i];
}

// f on the batch of inputs along dims (all of size `size`).
TensorList run_once(const Function& f, const TensorList& inputs, const std::vector<std::optional<int64_t>>& dims,
                    const BatchDims& out_dims, int64_t size, Randomness randomness) {
  TensorList outputs;
  uint32_t level;
  {
    LevelScope scope(size, randomness);
    level = scope.level();
    TensorList samples(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      samples[i] = dims[i] ? vmap::wrap(inputs[i], *dims[i], level) : inputs[i];
    outputs = f(samples);
    // The results leave the level: each batched one becomes its batch, with the batch dim at out_dim.
    for (size_t i = 0; i < outputs.size(); ++i) {
      Tensor& out = outputs[i];
      std::optional<int64_t> out_dim = out_dim_of(out_dims, i, outputs.size());
      DYDX_CHECK(out.defined(), "vmap: f returned an undefined tensor as output ", i);
      vmap::Arg a = vmap::unwrap(out, level);
      if (!out_dim) {
        DYDX_CHECK(!a.bdim, "vmap(f, ..., out_dims=", dims_string(out_dims), "): output ", i,
                   " is batched (it depends on a batched input) but its out_dim is std::nullopt, which promises "
                   "the same value for every sample");
        continue;
      }
      const int64_t rank = out.dim() + 1;
      if (*out_dim < -rank || *out_dim >= rank)
        dydx::detail::fail_with<IndexError>("vmap(f, ..., out_dims=", dims_string(out_dims), "): out_dim ", *out_dim,
                                      " for output ", i, " of per-sample shape ", out.sizes(),
                                      " is out of range; expected -", rank, " <= out_dim < ", rank);
      const int64_t d = *out_dim < 0 ? *out_dim + rank : *out_dim;
      if (a.bdim) {
        out = *a.bdim == d ? a.value : a.value.movedim(*a.bdim, d);
      } else {
        // The same for every sample (it depends on no batched input): broadcast, as functorch.
        Dims sizes(out.sizes().begin(), out.sizes().end());
        sizes.insert_at(static_cast<size_t>(d), size);
        out = out.unsqueeze(d).expand(sizes);
      }
    }
  }
  return outputs;
}

TensorList run(const Function& f, const TensorList& inputs, const BatchDims& in_dims, const BatchDims& out_dims,
               const VmapOptions& options) {
  int64_t size = 0;
  const std::vector<std::optional<int64_t>> dims = resolve_in_dims(in_dims, inputs, size);
  const int64_t chunk = options.chunk_size;
  if (chunk == 0 || chunk >= size) return run_once(f, inputs, dims, out_dims, size, options.randomness);
  // Pieces of the batch one after another, their results joined along out_dims. Under
  // Randomness::same every piece draws what the first drew (the default generator rewound, as
  // PyTorch's chunked vmap restores the RNG state), so that all samples share one draw.
  Generator generator = default_generator();
  const uint64_t first_draw = generator.get_offset();
  uint64_t after_first = first_draw;
  std::vector<TensorList> pieces;
  for (int64_t start = 0; start < size; start += chunk) {
    const int64_t count = std::min(chunk, size - start);
    TensorList piece(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      piece[i] = dims[i] ? inputs[i].narrow(*dims[i], start, count) : inputs[i];
    if (options.randomness == Randomness::same && start > 0) generator.set_offset(first_draw);
    pieces.push_back(run_once(f, piece, dims, out_dims, count, options.randomness));
    if (start == 0) after_first = generator.get_offset();
  }
  if (options.randomness == Randomness::same) generator.set_offset(after_first);
  TensorList outputs;
  for (size_t i = 0; i < pieces[0].size(); ++i) {
    std::optional<int64_t> out_dim = out_dim_of(out_dims, i, pieces[0].size());
    if (!out_dim) {
      outputs.push_back(pieces[0][i]);
      continue;
    }
    TensorList parts;
    for (const TensorList& p : pieces) parts.push_back(p[i]);
    outputs.push_back(cat(parts, *out_dim));
  }
  return outputs;
}

}  // namespace

Function vmap(const Function& f, BatchDims in_dims, BatchDims out_dims, VmapOptions options) {
  DYDX_CHECK(f != nullptr, "vmap: f is empty");
  DYDX_CHECK(options.chunk_size >= 0, "vmap: chunk_size must be positive (or 0 for the whole batch at once), got ",
             options.chunk_size);
  DYDX_CHECK(!out_dims.empty(), "vmap: out_dims is empty; give one out_dim per output, or one for all");
  return [f, in_dims = std::move(in_dims), out_dims = std::move(out_dims), options](const TensorList& inputs) {
    return run(f, inputs, in_dims, out_dims, options);
  };
}

UnaryFunction vmap(const UnaryFunction& f, std::optional<int64_t> in_dim, std::optional<int64_t> out_dim,
                   VmapOptions options) {
  DYDX_CHECK(f != nullptr, "vmap: f is empty");
  Function mapped = vmap([f](const TensorList& in) { return TensorList{f(in[0])}; }, BatchDims{in_dim},
                         BatchDims{out_dim}, options);
  return [mapped](const Tensor& x) { return mapped({x})[0]; };
}

}  // namespace dydx::func
