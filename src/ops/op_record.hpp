// The op record: one struct per op holds everything about it, and one generic path applies it.
//
// How to add an op
//   1. Declare its record (src/ops/README.md has the table), e.g.
//        struct Mm : Named<"mm", "MmBackward0"> {
//          static constexpr Saves saves{.inputs = input_bits(0, 1)};   // what vjp reads
//          static void vjp(const Backward<Mm>& b, const Tensor& g, Tensor* grads);  // b.input(1), ...
//          static Tensor jvp(const Primal<Mm>& p, const TensorList& t);            // p.input(1), ...
//          static Tensor curvature(const Primal<Mm>& p, const TensorList& g);      // sum_k D2f[g_k, g_k]
//          static Tensor taylor(const Primal<Mm>& p, const TensorList& x);         // jet's coefficients
//        };
//      with `using Attrs = SomeStruct;` for non-tensor arguments (typed, one struct per op), the
//      `Linear` mark as a base instead of curvature() for a linear or piecewise linear op,
//      `jvp_kind = JvpKind::zero` instead of jvp() for an op whose tangent is zero, `broadcasts` for
//      broadcasting tangents, fused_laplacian(p, t, d) for a one-pass forward Laplacian, taylor(p, x)
//      for func::jet's coefficients (ops/taylor.hpp; a Linear op's JVP already is its Taylor rule),
//      and biharmonic(p, t, d) for func::biharmonic's level (ops/biharmonic_step.hpp; a Linear op
//      needs none); replay(in, attrs), elementwise(attrs) and compile_product(attrs) for func::compile
//      (src/compile/; src/ops/README.md's table says what each is).
//      Elementwise ops declare less: a unary op its f, f' and f'' (UnaryRecord in
//      elementwise_unary.cpp makes the record), a binary op its f and partials d_a, d_b (and d_aa,
//      d_ab, d_bb, or `linear`; BinaryRecord in elementwise_binary.cpp makes the record).
//   2. Compute the result, then call finish<Record>(inputs, out, attrs): it records the node with the
//      typed attributes, saves what `saves` says and propagates tangents through jvp and curvature.
//   3. Add one row to tests/op_table.cpp (and edge cases for arithmetic ops, tests/data/make_edge_cases.py).
//      The op-table tests check every registered op's forward, VJP, JVP and second order against
//      finite differences. A record that leaves out a rule without its mark does not compile, and
//      OpTable.EveryRegisteredOpDeclaresEveryRule checks what the op table was told.
// vmap's batching rule is the one rule that is not here: it replaces the op's computation rather than
// following it, so it is the first line of the op's public function (src/vmap/README.md), and
// tests/test_op_table_vmap.cpp checks that every op in the table has one.
// How to add a rule kind (a Taylor coefficient rule, a fusion description)
//   Add one optional member to the records (batch(p, bdims), taylor(p, series), ...), a field for
//   its presence in autograd::OpInfo (filled in by op_info<Record> below), its default for the
//   families (UnaryRecord, BinaryRecord derive it from the partials), a use in finish() or in the
//   transform, and a test that every op has it. No op's own code changes.
// How to add a transform
//   A transform that needs a new rule reads it through the record (finish<Record> sees every op);
//   one that composes the existing modes (jacfwd, hessian, laplacian) needs no op changes at all.
//
// Rules are written with differentiable dydx ops, never raw kernels, so create_graph (double
// backward) and nested forward levels work for every op without extra code. (A piecewise-constant
// factor, such as fmod's trunc(a / b), may be a plain value: its derivative is zero.) Gradients come back in
// the output's broadcast shape; the engine sums them down to each input. Cotangents and tangents may
// carry leading batch dims (b.batch_dims(g), p.batch_dims()), which rules keep in front.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <initializer_list>
#include <span>
#include <type_traits>

#include "autograd/engine.hpp"
#include "autograd/forward_mode.hpp"
#include "autograd/op_info.hpp"
#include "autograd/recorded_node.hpp"
#include "compile/trace.hpp"
#include "dydx/small_vector.hpp"

namespace dydx::ops {

using autograd::JvpKind;
using autograd::SecondOrderKind;
using autograd::TaylorKind;

/// The attributes of an op with none (a record that declares no Attrs has these).
struct NoAttrs {};

/// A string as a template argument, so that a record's names fit on its first line.
template <size_t N>
struct Literal {
  constexpr Literal(const char (&s)[N]) { std::copy_n(s, N, text); }
  char text[N];
};

/// A record's names: the op table's ("mul") and grad_fn()->name()'s ("MulBackward0").
template <Literal Name, Literal NodeName>
struct Named {
  static constexpr const char* name = Name.text;
  static constexpr const char* node = NodeName.text;
};

/// The mark of an op that is linear or piecewise linear: its second derivative is zero wherever it
/// exists, so it adds nothing to the forward Laplacian.
struct Linear {
  static constexpr SecondOrderKind second_order = SecondOrderKind::linear;
};

/// What an op's rules read at backward time: input i where bit i of `inputs` is set, the output,
/// and `extras` more tensors passed to finish().
struct Saves {
  uint32_t inputs = 0;
  bool output = false;
  uint32_t extras = 0;
};
/// The bit mask of the given inputs, for Saves::inputs.
template <class... I>
constexpr uint32_t input_bits(I... i) {
  return ((1u << i) | ... | 0u);
}

template <class Op>
struct AttrsOfRecord {
  using type = NoAttrs;
};
template <class Op>
  requires requires { typename Op::Attrs; }
struct AttrsOfRecord<Op> {
  using type = typename Op::Attrs;
};
/// A record's attributes: its Attrs, or NoAttrs.
template <class Op>
using AttrsOf = typename AttrsOfRecord<Op>::type;

/// What a record saves: its saves, or nothing.
template <class Op>
constexpr Saves saves_of() {
  if constexpr (requires { Op::saves; }) return Op::saves;
  else return Saves{};
}

/// The node an op's record creates: its typed attributes where it has any.
template <class Op>
using NodeOf = std::conditional_t<std::is_empty_v<AttrsOf<Op>>, autograd::RecordedNode,
                                  autograd::OpNode<AttrsOf<Op>>>;

/// What a VJP rule reads: the saved tensors (by the role they had in the call), the attributes,
/// and which inputs need a gradient.
template <class Op>
class Backward {
 public:
  explicit Backward(autograd::Node& node) : node_(static_cast<NodeOf<Op>&>(node)) {}
  Tensor input(size_t i) const {
    assert(saves_of<Op>().inputs >> i & 1u);
    return node_.saved(std::popcount(saves_of<Op>().inputs & ((1u << i) - 1)));
  }
  Tensor output() const {
    assert(saves_of<Op>().output);
    return node_.saved(std::popcount(saves_of<Op>().inputs));
  }
  Tensor extra(size_t k) const {
    assert(k < saves_of<Op>().extras);
    return node_.saved(std::popcount(saves_of<Op>().inputs) + saves_of<Op>().output + k);
  }
  const AttrsOf<Op>& attrs() const {
    if constexpr (std::is_empty_v<AttrsOf<Op>>) {
      static const AttrsOf<Op> none{};
      return none;
    } else {
      return node_.attrs;
    }
  }
  bool needs_grad(size_t i) const { return node_.needs_input_grad(i); }
  /// How many inputs the op had (cat and stack take a list).
  size_t num_inputs() const { return node_.num_inputs(); }
  /// How many leading batch dims g has beyond the output (is_grads_batched).
  int64_t batch_dims(const Tensor& g) const { return g.dim() - node_.out_rank; }
  /// Input i's shape when the op ran.
  const Dims& input_sizes(size_t i) const { return node_.inputs[i].sizes; }

 private:
  NodeOf<Op>& node_;
};

/// What a JVP, curvature or fused rule reads: the call itself, with the same names as Backward,
/// so that an expression in c.input(i) and c.output() serves both modes.
template <class Op>
class Primal {
 public:
  Primal(std::span<const Tensor* const> inputs, const Tensor& out, const AttrsOf<Op>& attrs,
         std::span<const Tensor* const> extras)
      : inputs_(inputs), out_(out), attrs_(attrs), extras_(extras) {}
  const Tensor& input(size_t i) const { return *inputs_[i]; }
  const Tensor& output() const { return out_; }
  const Tensor& extra(size_t k) const { return *extras_[k]; }
  const AttrsOf<Op>& attrs() const { return attrs_; }
  /// How many leading batch dims the tangents carry (jacfwd's batched tangents), 0 for plain ones.
  static int64_t batch_dims() { return forward::batch_dims(); }

 private:
  std::span<const Tensor* const> inputs_;
  const Tensor& out_;
  const AttrsOf<Op>& attrs_;
  std::span<const Tensor* const> extras_;
};

// Which rules a record defines, asked with the arguments the generic path passes them.
template <class Op>
concept HasJvp = requires(const Primal<Op>& p, const TensorList& t) { Op::jvp(p, t); };
template <class Op>
concept HasCurvature = requires(const Primal<Op>& p, const TensorList& g) { Op::curvature(p, g); };
template <class Op>
concept HasTaylor = requires(const Primal<Op>& p, const TensorList& x) { Op::taylor(p, x); };
template <class Op>
concept HasFusedLaplacian = requires(const Primal<Op>& p, const TensorList& t, int64_t d) { Op::fused_laplacian(p, t, d); };
template <class Op>
concept HasBiharmonic = requires(const Primal<Op>& p, const TensorList& t, int64_t d) { Op::biharmonic(p, t, d); };

template <class Op>
constexpr JvpKind jvp_kind_of() {
  if constexpr (requires { Op::jvp_kind; }) {
    static_assert(Op::jvp_kind != JvpKind::rule || HasJvp<Op>, "a record with a JVP rule defines jvp()");
    return Op::jvp_kind;
  } else {
    static_assert(HasJvp<Op>, "a record defines jvp() or declares jvp_kind = JvpKind::zero");
    return JvpKind::rule;
  }
}

template <class Op>
constexpr SecondOrderKind second_order_of() {
  if constexpr (requires { Op::second_order; }) {
    static_assert(Op::second_order == SecondOrderKind::linear || HasCurvature<Op>,
                  "a record with a second-order rule defines curvature()");
    return Op::second_order;
  } else {
    static_assert(HasCurvature<Op>,
                  "a record defines curvature() or declares second_order = SecondOrderKind::linear");
    return SecondOrderKind::rule;
  }
}

template <class Op>
constexpr bool broadcasts() {
  if constexpr (requires { Op::broadcasts; }) return Op::broadcasts;
  else return false;
}

template <class Op>
void vjp_of(autograd::Node& node, const Tensor& g, Tensor* grads) {
  Op::vjp(Backward<Op>(node), g, grads);
}

/// Where the op's Taylor coefficients come from (func::jet): its own rule, or its JVP where that is
/// the whole Taylor rule (a linear or piecewise linear op, or one whose tangent is zero).
template <class Op>
constexpr TaylorKind taylor_kind_of() {
  if constexpr (HasTaylor<Op>) return TaylorKind::rule;
  else if constexpr (jvp_kind_of<Op>() == JvpKind::zero || second_order_of<Op>() == SecondOrderKind::linear)
    return TaylorKind::jvp;
  else return TaylorKind::none;
}

template <class Op>
concept HasReplay = requires(const TensorList& in, const AttrsOf<Op>& attrs) { Op::replay(in, attrs); };
template <class Op>
concept HasElementwiseLoop = requires(const AttrsOf<Op>& attrs) { Op::elementwise(attrs); };

/// How func::compile computes the op again: its replay rule, with an elementwise loop or without.
template <class Op>
constexpr autograd::CompileKind compile_kind_of() {
  if constexpr (HasReplay<Op> && HasElementwiseLoop<Op>) return autograd::CompileKind::fused;
  else if constexpr (HasReplay<Op>) return autograd::CompileKind::replay;
  else return autograd::CompileKind::none;
}

/// The op's entry in the op table, made from its record.
template <class Op>
inline const autograd::OpInfo op_info{Op::name, Op::node, &vjp_of<Op>, jvp_kind_of<Op>(), second_order_of<Op>(),
                                      taylor_kind_of<Op>(), compile_kind_of<Op>()};

/// Runs the record's forward rules at every open level where an input has a tangent.
template <class Op>
void propagate_tangents(std::span<const Tensor* const> inputs, const Tensor& out, const AttrsOf<Op>& attrs,
                        std::span<const Tensor* const> extras) {
  if constexpr (jvp_kind_of<Op>() == JvpKind::zero) {
    // No tangent stands for a zero one; only a tangent of another thread's level is an error.
    forward::detail::check_no_foreign_tangents(inputs.data(), inputs.size());
  } else {
    const Primal<Op> p(inputs, out, attrs, extras);
    const forward::JvpRule jvp = [&p](const TensorList& t) { return Op::jvp(p, t); };
    forward::CurvatureRule curvature;
    if constexpr (second_order_of<Op>() != SecondOrderKind::linear)
      curvature = [&p](const TensorList& g) { return Op::curvature(p, g); };
    forward::FusedLaplacianRule fused;
    if constexpr (HasFusedLaplacian<Op>)
      fused = [&p](const TensorList& t, int64_t d) { return Op::fused_laplacian(p, t, d); };
    forward::TaylorRule taylor;
    if constexpr (HasTaylor<Op>) taylor = [&p](const TensorList& x) { return Op::taylor(p, x); };
    forward::BiharmonicRule biharmonic;
    if constexpr (HasBiharmonic<Op>) biharmonic = [&p](const TensorList& t, int64_t d) { return Op::biharmonic(p, t, d); };
    const forward::detail::Rules rules{.op = Op::name,
                                       .jvp = jvp,
                                       .curvature = curvature ? &curvature : nullptr,
                                       .fused = fused ? &fused : nullptr,
                                       .taylor = taylor ? &taylor : nullptr,
                                       .biharmonic = biharmonic ? &biharmonic : nullptr,
                                       .jvp_is_taylor = taylor_kind_of<Op>() == TaylorKind::jvp};
    forward::detail::propagate(inputs.data(), inputs.size(), out, rules, broadcasts<Op>());
  }
}

/// func::compile's step for the op (src/compile/trace.hpp): how to compute it again (`replay`), and
/// its elementwise kernel (`elementwise`) or product form (`compile_product`) for the fused passes.
template <class Op>
void record_for_compile(std::span<const Tensor* const> inputs, const Tensor& out, const AttrsOf<Op>& attrs,
                        std::span<const Tensor* const> extras) {
  if constexpr (jvp_kind_of<Op>() == JvpKind::in_place) {
    compile::detail::refuse(std::string(Op::name) + ": an in-place write inside f");
  } else {
    compile::StepRules rules;
    if constexpr (HasReplay<Op>) rules.replay = [attrs](const TensorList& in) { return Op::replay(in, attrs); };
    if constexpr (HasElementwiseLoop<Op>) rules.elementwise = Op::elementwise(attrs);
    if constexpr (requires { Op::compile_product(attrs); }) rules.product = Op::compile_product(attrs);
    if constexpr (requires { Op::checks_values; }) rules.checks = Op::checks_values;
    if constexpr (requires { Op::checks_values_of(out); }) rules.checks = Op::checks_values_of(out);
    if constexpr (requires(const TensorList& in) { Op::check_values(in, attrs, out.dtype()); })
      if (rules.checks)
        rules.check_only = [attrs, dtype = out.dtype()](const TensorList& in) { Op::check_values(in, attrs, dtype); };
    compile::detail::record_step(Op::name, inputs, extras, out, std::move(rules));
  }
}

/// Calls save(t, is_output) for each tensor the op's record saves, in the order its node keeps them.
/// Only the first 32 inputs can be saved (cat and stack, with any number, save none).
template <class Op, class Save>
void for_each_saved(std::span<const Tensor* const> inputs, const Tensor& out, std::span<const Tensor* const> extras,
                    Save&& save) {
  if constexpr (saves_of<Op>().inputs != 0)
    for (size_t i = 0; i < std::min<size_t>(inputs.size(), 32); ++i)
      if (saves_of<Op>().inputs >> i & 1u) save(*inputs[i], false);
  if constexpr (saves_of<Op>().output) save(out, true);
  for (const Tensor* extra : extras) save(*extra, false);
}

/// The one path every op ends in, after computing out from inputs: records its node (with its typed
/// attributes and what its record saves) when grad mode needs one, and gives out its tangents when
/// a dual level is open. Ops differ only in their records. With as_step false, a func::compile
/// recording gets no step for out: for a value it already knows as another step's (a kernel that
/// computed it alongside others), which a step of its own would compute again at every call.
template <class Op>
void finish(std::span<const Tensor* const> inputs, const Tensor& out, const AttrsOf<Op>& attrs = {},
            std::span<const Tensor* const> extras = {}, bool as_step = true) {
  assert(extras.size() == saves_of<Op>().extras);
  auto* node = autograd::record<NodeOf<Op>>(op_info<Op>, inputs, out);
  if (node) {
    if constexpr (!std::is_empty_v<AttrsOf<Op>>) node->attrs = attrs;
    // A saved tensor is an alias of the value it saves; a recording learns it as that value below,
    // once out is one, rather than as a step of its own.
    const compile::detail::PauseRecording pause;
    for_each_saved<Op>(inputs, out, extras, [&node](const Tensor& t, bool is_output) {
      if (is_output) node->save_output(t);
      else node->save(t);
    });
  }
  // Before the tangents: their rules read out, which the recording must know as this op's result.
  if (compile::detail::recording()) [[unlikely]] {
    if (as_step) record_for_compile<Op>(inputs, out, attrs, extras);
    // A backward pass inside f reads the node's saved tensors, which are then the values they alias.
    if (node) {
      size_t k = 0;
      for_each_saved<Op>(inputs, out, extras, [&](const Tensor& t, bool) {
        compile::detail::note_saved(node->saved_values[k++].data, t);
      });
    }
  }
  // An in-place write's record: forward::commit_inplace gave out its tangents when the write committed.
  if constexpr (jvp_kind_of<Op>() != JvpKind::in_place) {
    if (forward::active()) propagate_tangents<Op>(inputs, out, attrs, extras);
    else forward::check_no_foreign_tangents(inputs);
  }
}

template <class Op>
void finish(std::initializer_list<const Tensor*> inputs, const Tensor& out, const AttrsOf<Op>& attrs = {},
            std::initializer_list<const Tensor*> extras = {}, bool as_step = true) {
  finish<Op>(std::span<const Tensor* const>(inputs.begin(), inputs.size()), out, attrs,
             std::span<const Tensor* const>(extras.begin(), extras.size()), as_step);
}

template <class Op>
void finish(const TensorList& inputs, const Tensor& out, const AttrsOf<Op>& attrs = {}) {
  SmallVector<const Tensor*, 4> pointers;
  for (const Tensor& t : inputs) pointers.push_back(&t);
  finish<Op>(std::span<const Tensor* const>(pointers.data(), pointers.size()), out, attrs);
}

}  // namespace dydx::ops
