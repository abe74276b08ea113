// Internal forward mode: each op calls propagate() with its JVP rule right after recording its node.
#pragma once

#include <functional>
#include <initializer_list>

#include "dydx/tensor.hpp"

namespace dydx::forward {

namespace detail {
extern thread_local int open_levels;
extern thread_local int64_t rule_batch_dims;
void propagate(const Tensor* const* inputs, size_t count, const Tensor& out,
               const std::function<Tensor(const TensorList&)>& rule, bool broadcasting);
}  // namespace detail

/// Whether any dual level is open on this thread; ops skip all forward work otherwise.
inline bool active() { return detail::open_levels > 0; }

/// Inside a JVP rule: how many leading batch dims the tangents carry (jacfwd pushes a batch of
/// tangents through one pass), 0 for ordinary tangents. Rules keep them in front.
inline int64_t batch_dims() { return detail::rule_batch_dims; }

/// A JVP rule gets one tangent per input, undefined where that input has none (a zero tangent),
/// and returns the output's tangent (undefined for zero). It runs once per open level at which
/// some input has a tangent, seeing only outer levels' tangents, so nested levels compose.
using JvpRule = std::function<Tensor(const TensorList& t)>;

template <class Rule>
void propagate(std::initializer_list<const Tensor*> inputs, const Tensor& out, Rule&& rule) {
  if (active()) detail::propagate(inputs.begin(), inputs.size(), out, JvpRule(std::forward<Rule>(rule)), false);
}

/// The same for broadcasting elementwise ops: batched tangents come to the rule with size-1 dims
/// inserted after their batch dims, so that they broadcast against the primals like the inputs do.
template <class Rule>
void propagate_broadcast(std::initializer_list<const Tensor*> inputs, const Tensor& out, Rule&& rule) {
  if (active()) detail::propagate(inputs.begin(), inputs.size(), out, JvpRule(std::forward<Rule>(rule)), true);
}

template <class Rule>
void propagate(const TensorList& inputs, const Tensor& out, Rule&& rule) {
  if (!active()) return;
  std::vector<const Tensor*> pointers;
  for (const Tensor& t : inputs) pointers.push_back(&t);
  detail::propagate(pointers.data(), pointers.size(), out, JvpRule(std::forward<Rule>(rule)), false);
}

/// A dual of primal whose tangent is a batch of tangents, [N] + primal's shape, at the innermost level.
Tensor make_batched_dual(const Tensor& primal, const Tensor& tangents);


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
