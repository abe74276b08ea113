// func::functional_call: runs a module's forward with some of its parameters and buffers replaced
// by given tensors, as torch.func.functional_call, so that the transforms differentiate a network
// with respect to its weights:
//   auto loss_of = [&](const TensorList& w) {
//     return TensorList{func::functional_call(net, {{"fc1.weight", w[0]}, {"fc1.bias", w[1]}}, x)}; };
//   TensorList jacobians = func::jacrev(loss_of, {0, 1})(weights);
// Names missing from the map keep the module's own tensors. The module's own tensors are back in
// place when the call returns or throws: every handle to them (a layer's `weight` member, an
// optimizer's list) sees its old values, dtype and autograd state again.
//
// How: each replaced tensor (the object every handle to it shares) is pointed, for the duration of
// forward, at a differentiable alias (a view) of the replacement, so gradients and tangents flow to
// the replacement, never to the module's parameter. An op saves such a non-leaf for backward as a
// copy of its handle (autograd/node.cpp's RecordedNode::save), so a backward after the call
// (jacrev, per-sample gradients) still reads the replacement, although the module's tensor is back
// (tests/test_nn_functional_call.cpp: SavedTensorsKeepTheReplacement).
// Thread compatibility: the module is modified during the call, so one module must not run
// functional_call (or forward) on two threads at once; distinct modules may.
#pragma once

#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "dydx/func.hpp"
#include "dydx/nn/module.hpp"

namespace dydx::func {

namespace detail {
/// Swaps the named tensors of a module for replacements until finish() or destruction (see above).
class ModuleTensorSwap {
 public:
  ModuleTensorSwap(nn::Module& module, const std::unordered_map<std::string, Tensor>& replacements);
  ModuleTensorSwap(const ModuleTensorSwap&) = delete;
  ModuleTensorSwap& operator=(const ModuleTensorSwap&) = delete;
  /// Restores the module's tensors after a forward that returned.
  void finish();
  /// Restores the module's tensors (if finish() did not).
  ~ModuleTensorSwap();

 private:
  struct Swapped;
  void restore() noexcept;
  std::vector<Swapped*> swapped_;
};

/// The module itself, typed (so that its own forward is called): an Impl, or what a holder or pointer holds.
template <class M>
auto& module_of(M& module) {
  if constexpr (std::is_base_of_v<nn::Module, M>) {
    return module;
  } else if constexpr (requires { typename M::ContainedType; }) {
    return *module;  // a holder
  } else {
    return *module;  // a (shared) pointer
  }
}
}  // namespace detail

/// module.forward(inputs...) with the tensors named in parameters_and_buffers ("fc1.weight",
/// "0.bias", "bn.running_mean") replaced. An unknown name is an error, raised before anything runs.
/// module may be a holder (nn::Linear), an Impl, or a std::shared_ptr to one.
template <class M, class... Inputs>
auto functional_call(M& module, const std::unordered_map<std::string, Tensor>& parameters_and_buffers,
                     Inputs&&... inputs) {
  auto& impl = detail::module_of(module);
  detail::ModuleTensorSwap swap(impl, parameters_and_buffers);
  auto result = impl.forward(std::forward<Inputs>(inputs)...);
  swap.finish();
  return result;
}

}  // namespace dydx::func
