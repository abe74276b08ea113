// The VJP of conv2d computed directly (no graph of it), for backward passes that do not differentiate
// again: per chunk of samples, one wide product per group for the weight's gradient and one for the
// input's columns, folded straight into the input's gradient.
#pragma once

#include "dydx/tensor.hpp"
#include "ops/window2d.hpp"

namespace dydx::ops {

/// Which gradients conv_vjp_direct computes, and where it puts them.
struct ConvGrads {
  Tensor* input = nullptr;   // [N, C, H, W], when not null
  Tensor* weight = nullptr;  // [OC, C/G, kh, kw], when not null
  Tensor* bias = nullptr;    // [OC], when not null
};

/// The gradients of sum(g * conv2d(x, w) (+ b)) for x [N, C, H, W], w [OC, C/G, kh, kw] and g
/// [N, OC, OH, OW] (any strides, one floating dtype, N > 0), each written as a fresh tensor.
/// Sums run in an order fixed by the sizes and the thread count alone.
void conv_vjp_direct(const Tensor& x, const Tensor& w, const Tensor& g, const Window2d& window, int64_t groups,
                     const ConvGrads& out);

}  // namespace dydx::ops
