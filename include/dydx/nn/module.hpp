// nn::Module: the base of every layer and of the user's own networks, as torch::nn::Module. A module
// owns named parameters, buffers and submodules; it lists them recursively with dotted names
// ("fc1.weight", "0.bias"), in registration order, switches train/eval mode, converts its tensors'
// dtype in place, clears gradients, and prints itself as libtorch does (with dydx:: for torch::).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "dydx/ordered_dict.hpp"
#include "dydx/tensor.hpp"

namespace dydx::nn {

template <class Contained>
class ModuleHolder;
template <class Derived>
class Cloneable;

namespace detail {
/// The Impl behind a holder type, or the type itself.
template <class T, class = void>
struct ImplOf {
  using type = T;
};
template <class T>
struct ImplOf<T, std::void_t<typename T::ContainedType>> {
  using type = typename T::ContainedType;
};
}  // namespace detail

class Module : public std::enable_shared_from_this<Module> {
 public:
  /// Called by apply() on each module, with its dotted name where asked for.
  using ModuleApplyFunction = std::function<void(Module&)>;
  using NamedModuleApplyFunction = std::function<void(const std::string&, Module&)>;

  /// name replaces the default name (the class's demangled name, e.g. "NetImpl").
  explicit Module(std::string name);
  Module();
  Module(const Module&) = default;
  Module& operator=(const Module&) = default;
  Module(Module&&) noexcept = default;
  Module& operator=(Module&&) noexcept = default;
  virtual ~Module() = default;

  /// The module's name: the one given to the constructor, or its class's demangled name.
  const std::string& name() const noexcept;

  /// Writes the module's one-line description; operator<< adds its children, indented.
  virtual void pretty_print(std::ostream& stream) const;

  // ---- what the module holds --------------------------------------------------------------------
  /// The parameters of this module and (recurse) of every submodule, depth first in registration
  /// order; undefined parameters are left out.
  std::vector<Tensor> parameters(bool recurse = true) const;
  /// The same with dotted names: "weight", "fc1.bias", "0.weight".
  OrderedDict<std::string, Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  OrderedDict<std::string, Tensor> named_buffers(bool recurse = true) const;
  /// This module (include_self; it must then be owned by a std::shared_ptr, as holders own modules)
  /// and every submodule, depth first.
  std::vector<std::shared_ptr<Module>> modules(bool include_self = true) const;
  /// The same keyed by dotted name; this module's own key is name_prefix.
  OrderedDict<std::string, std::shared_ptr<Module>> named_modules(const std::string& name_prefix = std::string(),
                                                                  bool include_self = true) const;
  /// The direct submodules.
  std::vector<std::shared_ptr<Module>> children() const;
  OrderedDict<std::string, std::shared_ptr<Module>> named_children() const;

  /// Calls f on this module and every submodule, depth first (with its dotted name in the second form).
  void apply(const ModuleApplyFunction& f);
  void apply(const NamedModuleApplyFunction& f, const std::string& name_prefix = std::string());

  // ---- mode, dtype, gradients -------------------------------------------------------------------
  /// Training mode on (or off) for this module and every submodule.
  virtual void train(bool on = true);
  /// train(false).
  void eval();
  virtual bool is_training() const noexcept;
  /// Converts every floating parameter and buffer, recursively, to dtype in place (integer ones, such
  /// as BatchNorm's num_batches_tracked, keep theirs, as in PyTorch's Module.to): each tensor keeps its
  /// identity (handles held elsewhere, such as a layer's `weight` member or an optimizer's list, see
  /// the new values) as libtorch's set_data does, and stays a leaf with its requires_grad. A defined
  /// .grad is converted too, as PyTorch's Module._apply does.
  virtual void to(ScalarType dtype, bool non_blocking = false);
  /// Clears every parameter's .grad, recursively: set_to_none resets it to undefined; otherwise
  /// (libtorch 1.13's default) a defined .grad is detached and zeroed in place.
  virtual void zero_grad(bool set_to_none = false);

  /// A deep copy: new parameters and buffers holding the same values (leaves, without history, with
  /// the same requires_grad), new submodules. Modules derived from nn::Cloneable<Impl> (every layer
  /// here) have it; others raise, as libtorch.
  virtual std::shared_ptr<Module> clone() const;

  /// This module as a ModuleType (an Impl, or a holder type whose Impl is meant), or null.
  template <class ModuleType>
  typename detail::ImplOf<ModuleType>::type* as() noexcept;
  template <class ModuleType>
  const typename detail::ImplOf<ModuleType>::type* as() const noexcept;

  // ---- registration -----------------------------------------------------------------------------
  /// Registers a parameter under name (not empty, no '.'; a second one of the same name is an error),
  /// setting its requires_grad, and returns the registered handle. An undefined tensor is allowed
  /// (a layer without bias) and is left out of parameters().
  Tensor& register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  /// Registers a buffer: state that is not trained (running statistics), converted by to().
  Tensor& register_buffer(std::string name, Tensor tensor);
  /// Registers a submodule; returns it, so that `fc1 = register_module("fc1", nn::Linear(4, 8));`.
  template <class ModuleType>
  std::shared_ptr<ModuleType> register_module(std::string name, std::shared_ptr<ModuleType> module);
  template <class ModuleType>
  std::shared_ptr<ModuleType> register_module(std::string name, ModuleHolder<ModuleType> module_holder);
  /// Puts module in the place of the submodule called name (which must exist), keeping its position.
  template <class ModuleType>
  std::shared_ptr<ModuleType> replace_module(const std::string& name, std::shared_ptr<ModuleType> module);
  template <class ModuleType>
  std::shared_ptr<ModuleType> replace_module(const std::string& name, ModuleHolder<ModuleType> module_holder);
  /// Removes the submodule called name; errors if there is none.
  void unregister_module(const std::string& name);

 protected:
  /// Points every handle of t at data's memory, shape and dtype, keeping t's autograd identity
  /// (libtorch's set_data): how to() converts and clone() fills the copies.
  static void set_data(const Tensor& t, const Tensor& data);

  /// The module's own entries, as libtorch's protected members of the same names.
  OrderedDict<std::string, Tensor> parameters_{"Parameter"};
  OrderedDict<std::string, Tensor> buffers_{"Buffer"};
  OrderedDict<std::string, std::shared_ptr<Module>> children_{"Submodule"};

 private:
  template <class Derived>
  friend class Cloneable;
  /// Makes this module a deep copy of other, which must be of the same type (Cloneable's).
  virtual void clone_(Module& other);
  friend std::ostream& operator<<(std::ostream& stream, const Module& module);
  void pretty_print_recursive(std::ostream& stream, const std::string& indentation) const;
  std::shared_ptr<Module> shared_from_this_checked() const;
  std::shared_ptr<Module> register_module_erased(std::string name, std::shared_ptr<Module> module);
  void replace_module_erased(const std::string& name, std::shared_ptr<Module> module);

  mutable std::optional<std::string> name_;
  bool is_training_ = true;
};

/// Prints the module and its submodules as libtorch does:
///   dydx::nn::Sequential(
///     (0): dydx::nn::Linear(in_features=3, out_features=2, bias=true)
///     (1): dydx::nn::ReLU()
///   )
std::ostream& operator<<(std::ostream& stream, const Module& module);


template <class ModuleType>
typename detail::ImplOf<ModuleType>::type* Module::as() noexcept {
  return dynamic_cast<typename detail::ImplOf<ModuleType>::type*>(this);
}
template <class ModuleType>
const typename detail::ImplOf<ModuleType>::type* Module::as() const noexcept {
  return dynamic_cast<const typename detail::ImplOf<ModuleType>::type*>(this);
}

template <class ModuleType>
std::shared_ptr<ModuleType> Module::register_module(std::string name, std::shared_ptr<ModuleType> module) {
  register_module_erased(std::move(name), module);
  return module;
}
template <class ModuleType>
std::shared_ptr<ModuleType> Module::register_module(std::string name, ModuleHolder<ModuleType> module_holder) {
  return register_module(std::move(name), module_holder.ptr());
}
template <class ModuleType>
std::shared_ptr<ModuleType> Module::replace_module(const std::string& name, std::shared_ptr<ModuleType> module) {
  replace_module_erased(name, module);
  return module;
}
template <class ModuleType>
std::shared_ptr<ModuleType> Module::replace_module(const std::string& name, ModuleHolder<ModuleType> module_holder) {
  return replace_module(name, module_holder.ptr());
}

}  // namespace dydx::nn

#include "dydx/nn/cloneable.hpp"
#include "dydx/nn/pimpl.hpp"
