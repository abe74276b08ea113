// An op's entry in the op table: what the engine and the tests know of every op, whatever its attributes.
#pragma once

#include <cstdint>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::autograd {

class Node;

/// A VJP rule: given the cotangent g of the node's output, writes grads[i] for each input i
/// where node.needs_input_grad(i). A rule returns gradients in its output's broadcast shape and
/// dtype; the engine sums them down to each input's shape and casts them to its dtype.
using VjpRule = void (*)(Node& node, const Tensor& g, Tensor* grads);

/// Where an op's JVP comes from: a rule of its own, its declared partial derivatives (elementwise
/// ops: t * d out/d x, summed over the inputs), or nothing because its tangent is zero wherever it
/// is defined (sign, fill). `in_place` is for the node an in-place write through a view gives its
/// base (CopySlices): its tangent is set by forward::commit_inplace when the in-place write commits,
/// before the node exists. `none` is only for entries that are not ops (AccumulateGrad).
enum class JvpKind : uint8_t { none, rule, partials, zero, in_place };
/// Where its second-order rule (the forward Laplacian's curvature sum_k D2f[g_k, g_k]) comes from:
/// a rule of its own, its declared second partial derivatives, or nothing because the op is linear
/// or piecewise linear, so its second derivative is zero wherever it exists.
enum class SecondOrderKind : uint8_t { none, rule, partials, linear };
/// Where its Taylor rule (func::jet's coefficients to any order) comes from: a rule of its own, or its
/// JVP, which is the whole Taylor rule of a linear or piecewise linear op; `none` for an op that has
/// none yet (jet raises on it).
enum class TaylorKind : uint8_t { none, rule, jvp };

/// How func::compile computes the op again (src/compile/): its replay rule, that rule plus an
/// elementwise loop for the fused passes, or nothing (a view is replayed by its geometry; any other op
/// without a rule makes a recording that needs it run f itself).
enum class CompileKind : uint8_t { none, replay, fused };

/// Made once per op from its record (src/ops/op_record.hpp); constructing one registers it, so
/// tests can check that every op has a row in the op table and declares all its rules.
struct OpInfo {
  OpInfo(const char* name, const char* node_name, VjpRule vjp, JvpKind jvp = JvpKind::none,
         SecondOrderKind second_order = SecondOrderKind::none, TaylorKind taylor = TaylorKind::none,
         CompileKind compile = CompileKind::none);
  const char* name;       // unique, PyTorch-style: "mul", "sum.dim", "pow.Tensor"
  const char* node_name;  // what grad_fn()->name() says: "MulBackward0"
  VjpRule vjp;
  JvpKind jvp;
  SecondOrderKind second_order;
  TaylorKind taylor;
  CompileKind compile;
};

/// Every op registered so far.
const std::vector<const OpInfo*>& registered_ops();

}  // namespace dydx::autograd
