// Tensor::repeat: the input tiled sizes[d] times along each dim, as a fresh tensor. Linear: its
// gradient sums the tiles, its tangent is the tangent tiled.
#include <algorithm>
#include <limits>
#include <sstream>
#include <string>

#include "core/shape.hpp"
#include "core/tensor_factory.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

// The repeat counts, one per output dim (at least the input's rank; the extra ones lead).
struct RepeatAttrs {
  Dims sizes;
};

// The leading batch dims' sizes of t followed by shape.
Dims batch_then(const Tensor& t, int64_t nb, IntArrayRef shape) {
  Dims out;
  for (int64_t d = 0; d < nb; ++d) out.push_back(t.size(d));
  for (int64_t s : shape) out.push_back(s);
  return out;
}

struct RepeatRecord : Named<"repeat", "RepeatBackward0">, Linear {
  using Attrs = RepeatAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return in[0].repeat(a.sizes); }
  // g viewed as [batch..., r0, s0, r1, s1, ...] (s = 1 for the new leading dims) and summed over
  // every r: each input element's gradient is the sum over its tiles.
  static void vjp(const Backward<RepeatRecord>& b, const Tensor& g, Tensor* grads) {
    const Dims& reps = b.attrs().sizes;
    const Dims& in = b.input_sizes(0);
    const int64_t nb = b.batch_dims(g);
    if (reps.empty()) {  // a 0-d input repeated by no sizes: the same value (and sum({}) would sum all)
      grads[0] = g;
      return;
    }
    const int64_t lead = static_cast<int64_t>(reps.size() - in.size());
    Dims tiled, summed;
    for (size_t d = 0; d < reps.size(); ++d) {
      summed.push_back(nb + 2 * static_cast<int64_t>(d));
      tiled.push_back(reps[d]);
      tiled.push_back(static_cast<int64_t>(d) < lead ? 1 : in[d - lead]);
    }
    grads[0] = g.reshape(batch_then(g, nb, tiled)).sum(summed).reshape(batch_then(g, nb, in));
  }
  static Tensor jvp(const Primal<RepeatRecord>& p, const TensorList& t) {
    // The new leading dims go after the batch dims (repeat would put them before): the tangent is
    // given them as ones first.
    const int64_t nb = p.batch_dims();
    const Dims& sizes = p.attrs().sizes;
    const Tensor& tangent = t[0];
    Dims padded = batch_then(tangent, nb, {});
    for (int64_t d = tangent.dim() - nb; d < static_cast<int64_t>(sizes.size()); ++d) padded.push_back(1);
    for (int64_t d = nb; d < tangent.dim(); ++d) padded.push_back(tangent.size(d));
    Dims reps(static_cast<size_t>(nb), 1);
    for (int64_t r : sizes) reps.push_back(r);
    return tangent.reshape(padded).repeat(reps);
  }
};

// sizes as PyTorch prints an IntArrayRef: "[2, -6]".
std::string spaced(IntArrayRef sizes) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < sizes.size(); ++i) os << (i ? ", " : "") << sizes[i];
  os << ']';
  return os.str();
}

// The output's shape: sizes[d] times the input's size in dim d (1 for the new leading dims), every
// count checked before any product is formed. A negative count is refused in PyTorch 1.13's words,
// which name the first negative size of the shape it would allocate ([2, -6] for repeat(1, -2) of a
// [2, 3] tensor). PyTorch lets a negative count through along a dim of size 0 (its size stays 0);
// dydx refuses it too: a negative count is a mistake whatever it multiplies.
Dims repeated_shape(const Tensor& x, IntArrayRef sizes) {
  DYDX_CHECK(x.defined(), "repeat: expected a defined tensor");
  DYDX_CHECK(static_cast<int64_t>(sizes.size()) >= x.dim(),
             "repeat: Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor (",
             sizes.size(), " repeat dims ", sizes, " for a tensor of shape ", x.sizes(), ")");
  const int64_t lead = static_cast<int64_t>(sizes.size()) - x.dim();
  auto input_size = [&](int64_t d) { return d < lead ? int64_t{1} : x.size(d - lead); };
  if (std::any_of(sizes.begin(), sizes.end(), [](int64_t r) { return r < 0; })) [[unlikely]] {
    // The shape PyTorch would ask for, each product saturated (its sign is right either way).
    Dims wanted;
    for (int64_t d = 0; d < static_cast<int64_t>(sizes.size()); ++d) {
      int64_t n = 0;
      if (__builtin_mul_overflow(sizes[d], input_size(d), &n))
        n = (sizes[d] < 0) ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
      wanted.push_back(n);
    }
    for (int64_t n : wanted)
      DYDX_CHECK(n >= 0, "repeat: Trying to create tensor with negative dimension ", n, ": ", spaced(wanted),
                 " (repeats ", sizes, " of a tensor of shape ", x.sizes(), ")");
    int64_t d = 0;
    while (sizes[d] >= 0) ++d;
    detail::fail("repeat: Trying to create tensor with negative dimension: repeats ", sizes, " has ", sizes[d],
                 " for dim ", d, ", whose size is 0 (tensor of shape ", x.sizes(), ")");
  }
  Dims shape;
  for (int64_t d = 0; d < static_cast<int64_t>(sizes.size()); ++d) {
    int64_t n = 0;
    DYDX_CHECK(!__builtin_mul_overflow(sizes[d], input_size(d), &n), "repeat: the size of dim ", d,
               " overflows int64 (", sizes[d], " repeats of ", input_size(d), ", tensor of shape ", x.sizes(), ")");
    shape.push_back(n);
  }
  return shape;
}

// The tiles written in one copy: the output seen as [r0, s0, r1, s1, ...] from a source that
// reads x with stride 0 along every r. The copy moves whole rows of the last dim at a time, from
// any layout of x.
void tile_into(const Tensor& out, const Tensor& x, IntArrayRef sizes) {
  const int64_t lead = static_cast<int64_t>(sizes.size()) - x.dim();
  Dims split, src_strides;
  for (int64_t d = 0; d < static_cast<int64_t>(sizes.size()); ++d) {
    split.push_back(sizes[d]);
    split.push_back(d < lead ? 1 : x.size(d - lead));
    src_strides.push_back(0);
    src_strides.push_back(d < lead ? 0 : x.stride(d - lead));
  }
  const Tensor dst = detail::make_alias(out, split, detail::contiguous_strides(split), out.storage_offset());
  detail::copy_values(dst, detail::make_alias(x, split, std::move(src_strides), x.storage_offset()));
}

// Under vmap: the batch first and the sample padded to the repeat's rank, the batch dim repeated once.
Tensor batched_repeat(const Tensor& x, IntArrayRef sizes) {
  const auto* b = vmap::batched(x);
  const Tensor value = vmap::pad_sample_rank(vmap::batch_first({b->value, b->bdim}), static_cast<int64_t>(sizes.size()));
  Dims reps{1};
  for (int64_t r : sizes) reps.push_back(r);
  return vmap::wrap(value.repeat(reps), 0, b->level);
}

}  // namespace
}  // namespace ops

Tensor Tensor::repeat(IntArrayRef sizes) const {
  // The shape checked first, under vmap too (its element count, past int64 or not, by make_empty).
  const Dims shape = ops::repeated_shape(*this, sizes);
  if (vmap::takes_rule(*this)) [[unlikely]]
    return ops::batched_repeat(*this, sizes);
  Tensor out = detail::make_empty(shape, dtype(), "repeat");
  if (out.numel() > 0) ops::tile_into(out, *this, sizes);
  ops::finish<ops::RepeatRecord>({this}, out, {Dims(sizes.begin(), sizes.end())});
  return out;
}

}  // namespace dydx
