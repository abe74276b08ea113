// The values an op picked along a dim at indices it saved (max and min along a dim, sort, topk,
// kthvalue, median): x read at the indices, so the rules are gather's.
#pragma once

#include "ops/op_record.hpp"
#include "ops/op_util.hpp"

namespace dydx::ops {

struct PickedAttrs {
  int64_t dim;   // non-negative (0 for a 0-d input)
  bool keepdim;  // false: the result lost dim (kthvalue and median without keepdim)
};

// The values picked along dim at the saved indices: gather's rules. The gradient is scattered (each
// index once per row, so that -0 stays -0 and an infinite cotangent stays at its index).
struct PickedAlong : Linear {
  using Attrs = PickedAttrs;
  static constexpr Saves saves{.extras = 1};
  template <class Call>
  static void vjp(const Call& b, const Tensor& g, Tensor* grads) {
    if (b.input_sizes(0).empty()) {  // a 0-d input is its own selection
      grads[0] = g;
      return;
    }
    const PickedAttrs& a = b.attrs();
    const int64_t nb = b.batch_dims(g);
    const Tensor picked = a.keepdim ? g : g.unsqueeze(a.dim + nb);
    const Tensor index = a.keepdim ? b.extra(0) : b.extra(0).unsqueeze(a.dim);
    grads[0] = scatter(zeros(with_batch(g, nb, b.input_sizes(0)), g.dtype()), a.dim + nb,
                       batched_index(index, picked, nb), picked);
  }
  template <class Call>
  static Tensor jvp(const Call& p, const TensorList& t) {
    if (p.input(0).dim() == 0) return t[0];
    const PickedAttrs& a = p.attrs();
    const int64_t nb = p.batch_dims();
    const Tensor index = batched_index(a.keepdim ? p.extra(0) : p.extra(0).unsqueeze(a.dim), t[0], nb);
    const Tensor picked = t[0].gather(a.dim + nb, index);
    return a.keepdim ? picked : picked.squeeze(a.dim + nb);
  }
  // func::compile replays the indices as a step of their own (see picked_along) and the values as x
  // read at them (in[1]).
  static Tensor replay(const TensorList& in, const PickedAttrs& a) {
    const Tensor &x = in[0], &indices = in[1];
    if (x.dim() == 0) return x.clone();
    const Tensor picked = x.gather(a.dim, a.keepdim ? indices : indices.unsqueeze(a.dim));
    return a.keepdim ? picked : picked.squeeze(a.dim);
  }
};

}  // namespace dydx::ops
