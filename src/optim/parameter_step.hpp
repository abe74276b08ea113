// What SGD, Adam and AdamW share around their arithmetic: which parameters take a step, the
// checks on their gradients, and the in-place write of the new values.
#pragma once

#include <cmath>
#include <limits>
#include <unordered_map>
#include <vector>

#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/tensor.hpp"

namespace dydx::optim::detail {

/// The parameter's gradient, detached and contiguous, or undefined when the parameter has none
/// (PyTorch skips such a parameter: no update, no state). Errors, naming the optimizer, when the
/// gradient's shape or dtype is not the parameter's.
inline Tensor step_gradient(const Tensor& param, const char* optimizer) {
  Tensor grad = param.grad();
  if (!grad.defined()) return grad;
  DYDX_CHECK(grad.sizes() == param.sizes() && grad.dtype() == param.dtype(), optimizer,
             ": a parameter's gradient has shape ", grad.sizes(), " and dtype ", grad.dtype(),
             ", the parameter shape ", param.sizes(), " and dtype ", param.dtype());
  return grad.detach().contiguous();
}

/// For each parameter, the index of its first occurrence in the list, whose state it uses: a tensor
/// given twice (one TensorImpl) shares one state, as libtorch keys its state by TensorImpl, and so
/// takes two updates per step from that one state, as in PyTorch.
inline std::vector<size_t> state_owners(const std::vector<Tensor>& params) {
  std::unordered_map<const void*, size_t> first;
  std::vector<size_t> owner(params.size());
  for (size_t i = 0; i < params.size(); ++i) owner[i] = first.emplace(params[i].impl().get(), i).first->second;
  return owner;
}

/// A contiguous state tensor (a moment, a momentum buffer) of the parameter's shape and dtype.
inline Tensor zero_state(const Tensor& param) { return zeros(param.sizes(), dtype(param.dtype())); }

/// Runs update(values) on a contiguous copy of the parameter's values, then writes them back with
/// one in-place copy_: the parameter stays the same leaf over the same storage, and its version
/// counter moves, so a graph that saved the old values refuses to backward through them.
/// Called with grad mode off.
template <class T, class Update>
void update_in_place(Tensor param, const Update& update) {
  Tensor values = param.detach().clone().contiguous();
  update(values.data_ptr<T>());
  param.copy_(values);
}

/// Calls fn with a value of the C++ type of a floating dtype (float or double).
template <class Fn>
void dispatch_floating(ScalarType t, const Fn& fn) {
  if (t == kFloat32) {
    fn(float{});
  } else {
    fn(double{});
  }
}

/// torch.maximum of two elements: a nan in either gives nan.
template <class T>
T maximum(T a, T b) {
  if (std::isnan(a)) return a;
  if (std::isnan(b)) return b;
  return a < b ? b : a;
}

}  // namespace dydx::optim::detail
