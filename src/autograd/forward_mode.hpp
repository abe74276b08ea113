// Internal forward mode: dual levels, tangents, and detail::propagate, which runs an op's JVP rule
// (and its curvature rule for the forward Laplacian) after its record made its node.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::forward {

namespace detail {
extern thread_local int open_levels;  // the length of this thread's list of open levels
extern thread_local int64_t rule_batch_dims;  // what batch_dims() says
extern thread_local int64_t rule_taylor_order;  // what taylor_order() says
extern std::atomic<int> levels_open_anywhere;  // on all threads together; changed only where open_levels is
/// Raises if an input has a tangent at a level that is not open on this thread.
void check_no_foreign_tangents(const Tensor* const* inputs, size_t count);
using Rule = std::function<Tensor(const TensorList&)>;
using FusedRule = std::function<Tensor(const TensorList&, int64_t)>;
/// The op's rules for detail::propagate; the pointers are null where the op has no such rule.
struct Rules {
  const char* op;  // the op's name, for errors
  const Rule& jvp;
  const Rule* curvature = nullptr;
  const FusedRule* fused = nullptr;
  const Rule* taylor = nullptr;
  const FusedRule* biharmonic = nullptr;
  bool jvp_is_taylor = false;  // linear or piecewise linear: the JVP carries every Taylor coefficient
};
void propagate(const Tensor* const* inputs, size_t count, const Tensor& out, const Rules& rules, bool broadcasting);
}  // namespace detail

/// Whether any dual level is open on this thread; ops skip all forward work otherwise.
inline bool active() { return detail::open_levels > 0; }

/// For an op on a thread with no open level: levels belong to the thread that opened them, so a
/// tangent at another thread's level would be dropped here; that raises instead. One relaxed load
/// while no thread has a level open.
inline void check_no_foreign_tangents(std::span<const Tensor* const> inputs) {
  if (detail::levels_open_anywhere.load(std::memory_order_relaxed) > 0)
    detail::check_no_foreign_tangents(inputs.data(), inputs.size());
}
inline void check_no_foreign_tangents(std::initializer_list<const Tensor*> inputs) {
  check_no_foreign_tangents(std::span<const Tensor* const>(inputs.begin(), inputs.size()));
}

/// Inside a Taylor rule: the order K of the coefficients it gets (make_taylor_level), 0 elsewhere.
inline int64_t taylor_order() { return detail::rule_taylor_order; }

/// Inside a JVP rule: how many leading batch dims the tangents carry (jacfwd pushes a batch of
/// tangents through one pass), 0 for ordinary tangents. Rules keep them in front.
inline int64_t batch_dims() { return detail::rule_batch_dims; }

/// A JVP rule gets one tangent per input, undefined where that input has none (a zero tangent),
/// and returns the output's tangent (undefined for zero). It runs once per open level at which
/// some input has a tangent, seeing only outer levels' tangents, so nested levels compose.
using JvpRule = detail::Rule;

/// A curvature rule gives what the forward Laplacian (see make_laplacian_level) adds to the JVP
/// of the inputs' Laplacians: sum_k D2f[g_k, g_k], from one batch of d directional derivatives g
/// per input ([d, ...input], undefined for zero, batch_dims() == 1). It returns that sum in the
/// output's shape without the batch dim (or one that broadcasts to it), undefined for zero.
/// Ops whose second derivative is zero wherever it exists (linear and piecewise linear ones) have none.
using CurvatureRule = detail::Rule;

/// A hot op may add a fused rule: at a forward-Laplacian level it gets the inputs' d + 1 tangents
/// and d, and returns the output's d + 1 tangents in one pass, or undefined to leave them to the
/// JVP and curvature rules (which it must agree with).
using FusedLaplacianRule = detail::FusedRule;

// detail::propagate runs an op's rules at every open level; ops reach it only through their
// records (src/ops/op_record.hpp, finish()), which say which rules an op has. With broadcasting,
// batched tangents come to the rules with size-1 dims inserted after their batch dims, so that
// they broadcast against the primals like the inputs do.

/// Makes level (open, innermost, no tangents yet) a forward-Laplacian level with d directions
/// (Li et al., "Forward Laplacian", 2023). A tangent there is [d + 1, ...shape]: the first d are
/// the derivatives of the tensor along the d input directions, g, and the last is the sum of its
/// second derivatives along them, L. The JVP rule, being linear, carries all d + 1 through an op at
/// once; L then also takes the curvature rule's sum_k D2f[g_k, g_k]. func::laplacian uses it.
void make_laplacian_level(uint32_t level, int64_t directions);

/// Makes level (open, innermost, no tangents yet) a Taylor level of order K >= 1 (func::jet). A
/// tangent there is [K, ...shape], or [K, batch..., shape]: the normalised Taylor coefficients x_1 ..
/// x_K of the tensor along a curve x(t) = x_0 + x_1 t + ... + x_K t^K + O(t^(K+1)), x_0 being the
/// primal. An op whose JVP is its Taylor rule (linear and piecewise linear ones: their derivatives
/// beyond the first are zero) carries all K at once through its JVP, the coefficient index being one
/// more batch dim; any other runs its Taylor rule (a TaylorRule), and one without raises.
void make_taylor_level(uint32_t level, int64_t order);

/// Makes level a collapsed Taylor level of order K >= 2 with R = weights.size(0) directions
/// (collapsed Taylor mode, Dangel et al. 2025): a tangent there is [(K - 1) R + 1, ...shape], the
/// coefficients 1..K-1 along each direction (coefficient-major), then sum_r weights[r] x_K^(r) in
/// place of the R K-th coefficients. Ops run their Taylor rules on the lower coefficients and their
/// JVP on the sum (a linear op its JVP on the whole stack), so a weighted sum of K-th directional
/// derivatives (a Laplacian, a biharmonic) costs (K - 1) R + 1 slices, not K R.
void make_collapsed_taylor_level(uint32_t level, int64_t order, const Tensor& weights);

/// Makes level (open, innermost, no tangents yet) a biharmonic level with d directions (func::biharmonic).
/// A tangent there is [biharmonic_slices(d), ...shape]: along the d directions, the tensor's first
/// derivatives g_i, its second derivatives H_ij for i <= j (row-major), the derivatives T_k of its
/// Laplacian, and its biharmonic Q; 2d + d(d+1)/2 + 1 slices, where the Laplacian of the Laplacian
/// as two nested forward-Laplacian levels carries (d + 1)^2 + 2(d + 1) (its H and its two copies of g
/// and of the Laplacian's derivatives are the same numbers). An op without a second derivative
/// carries the whole stack by its JVP; any other needs a BiharmonicRule that gives a result. Where
/// none does, the op's result gets no stack and the level notes the op (biharmonic_missing_rule), on
/// which func::biharmonic takes two nested forward-Laplacian levels instead.
void make_biharmonic_level(uint32_t level, int64_t directions);
inline int64_t biharmonic_slices(int64_t d) { return 2 * d + d * (d + 1) / 2 + 1; }
/// An op's step at a biharmonic level: the inputs' stacks and d, to the output's stack (zeros for a
/// zero one), or undefined where the op has no rule for these inputs (atan2 of two moving inputs).
using BiharmonicRule = detail::FusedRule;
/// The name of the first op at biharmonic level `level` that had no rule for its inputs, or null.
const char* biharmonic_missing_rule(uint32_t level);
/// Raised by func::detail::biharmonic_in_one_pass when an op of f had no rule at its level.
class NoBiharmonicRule : public Error {
 public:
  using Error::Error;
};

/// A Taylor rule gets each input's coefficients [K, batch..., input] (undefined for an input that
/// does not move) and returns the output's [K, batch..., out] (undefined for zero). batch_dims()
/// counts the coefficient dim with the others; taylor_order() is K. Written with differentiable ops,
/// like every rule, so that a jet nests in reverse mode (a loss on Taylor coefficients trains).
using TaylorRule = detail::Rule;

/// A dual of primal whose tangent is a batch of tangents, [N, ...] + primal's shape (one or more
/// batch dims: a Taylor level's [K, directions...]), at the innermost level.
Tensor make_batched_dual(const Tensor& primal, const Tensor& tangents);


/// Whether t carries derivatives that a raw kernel reading it would drop: a tangent at a visible
/// level, or, with grad mode on, requires_grad. Fused fast paths run only when it is false.
bool carries_derivatives(const Tensor& t);

/// Gives to every tangent that from has (at open levels); to is released from them when the level closes.
void copy_tangents(const Tensor& from, const Tensor& to);
/// t's tangent at level, or undefined.
Tensor tangent_of(const Tensor& t, uint32_t level);
void set_tangent(const Tensor& t, uint32_t level, const Tensor& tangent);
/// Whether t has a tangent at any open, visible level.
bool has_tangent(const Tensor& t);
/// After an in-place op wrote result into self: self (or, for a view, its base's region) takes
/// result's tangents.
void commit_inplace(const Tensor& self, const Tensor& result);

}  // namespace dydx::forward
