// Containers and Functional, as torch::nn's: Sequential chains modules (named "0", "1", ...),
// ModuleList holds them for the user's own forward, Functional makes a module of a function.
//   nn::Sequential seq(nn::Linear(4, 8), nn::Functional(dydx::relu), nn::Linear(8, 2));
//   Tensor y = seq->forward(x);   // or seq(x)
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dydx/nn/module.hpp"

namespace dydx::nn {

namespace detail {
template <class T>
struct IsModuleHolder {
  static constexpr bool value = requires { typename std::decay_t<T>::ContainedType; };
};

/// A module and its forward, erased to Tensor -> Tensor, as Sequential holds them (libtorch's
/// AnyModule, for modules whose forward takes and returns one Tensor).
class AnyModule {
 public:
  template <class M>
  AnyModule(const ModuleHolder<M>& holder) : AnyModule(holder.ptr()) {}  // NOLINT: as libtorch's
  template <class M, class = std::enable_if_t<std::is_base_of_v<Module, M>>>
  AnyModule(std::shared_ptr<M> module) {  // NOLINT
    DYDX_CHECK(module != nullptr, "nn::Sequential/AnyModule: the module is null (an empty module holder)");
    M* raw = module.get();
    forward_ = [raw](const Tensor& x) -> Tensor { return raw->forward(x); };
    clone_ = [raw]() { return AnyModule(std::dynamic_pointer_cast<M>(raw->clone())); };
    module_ = std::move(module);
  }
  /// A module given by value (an Impl) is moved into a new shared one.
  template <class M, class = std::enable_if_t<std::is_base_of_v<Module, std::decay_t<M>>>, class = void>
  AnyModule(M&& module)  // NOLINT
      : AnyModule(std::make_shared<std::decay_t<M>>(std::forward<M>(module))) {}

  Tensor forward(const Tensor& x) const { return forward_(x); }
  /// The same kind of entry around a deep copy of the module.
  AnyModule clone() const { return clone_(); }
  const std::shared_ptr<Module>& ptr() const noexcept { return module_; }

 private:
  std::shared_ptr<Module> module_;
  std::function<Tensor(const Tensor&)> forward_;
  std::function<AnyModule()> clone_;
};
}  // namespace detail

/// Runs its modules one after another, each on the previous one's output.
class SequentialImpl : public Cloneable<SequentialImpl> {
 public:
  void reset() override {}
  /// A Sequential of deep copies of the modules, under the same names.
  std::shared_ptr<Module> clone() const override;
  SequentialImpl() = default;
  template <class... Modules,
            class = std::enable_if_t<(sizeof...(Modules) > 0) &&
                                     !(sizeof...(Modules) == 1 && (std::is_same_v<std::decay_t<Modules>, SequentialImpl> && ...))>>
  explicit SequentialImpl(Modules&&... modules) {
    (push_back(detail::AnyModule(std::forward<Modules>(modules))), ...);
  }
  /// Named entries: Sequential({{"fc", nn::Linear(2, 3)}, {"act", nn::ReLU()}}).
  SequentialImpl(std::initializer_list<std::pair<std::string, detail::AnyModule>> named_modules);

  /// Appends module under the name of its position ("0", "1", ...), or under name.
  void push_back(detail::AnyModule module);
  void push_back(std::string name, detail::AnyModule module);
  /// Appends every module of other.
  void extend(const SequentialImpl& other);

  /// The modules applied in order; errors on an empty Sequential.
  Tensor forward(const Tensor& input);

  /// The module at index (errors out of range).
  std::shared_ptr<Module> operator[](size_t index) const { return ptr(index); }
  std::shared_ptr<Module> ptr(size_t index) const;
  template <class T>
  std::shared_ptr<T> ptr(size_t index) const {
    return std::dynamic_pointer_cast<T>(ptr(index));
  }
  /// The module at index as T; errors if it is not one.
  template <class T>
  T& at(size_t index) {
    T* m = dynamic_cast<T*>(ptr(index).get());
    DYDX_CHECK(m != nullptr, "nn::Sequential::at: the module at index ", index, " is not of the requested type");
    return *m;
  }
  size_t size() const noexcept { return modules_.size(); }
  bool is_empty() const noexcept { return modules_.empty(); }

  void pretty_print(std::ostream& stream) const override;

 private:
  std::vector<detail::AnyModule> modules_;
};

/// The holder of SequentialImpl; also takes named entries: Sequential({{"fc", nn::Linear(2, 3)}}).
class Sequential : public ModuleHolder<SequentialImpl> {
 public:
  using ModuleHolder<SequentialImpl>::ModuleHolder;
  using Impl = SequentialImpl;
  Sequential() : ModuleHolder<SequentialImpl>() {}
  Sequential(std::initializer_list<std::pair<std::string, detail::AnyModule>> named_modules)
      : ModuleHolder<SequentialImpl>(std::make_shared<SequentialImpl>(named_modules)) {}
};

/// A list of modules, registered under "0", "1", ...; it has no forward (the user's forward
/// iterates it).
class ModuleListImpl : public Cloneable<ModuleListImpl> {
 public:
  void reset() override {}
  /// A ModuleList of deep copies of the modules.
  std::shared_ptr<Module> clone() const override;
  ModuleListImpl() = default;
  template <class... Modules, class = std::enable_if_t<(sizeof...(Modules) > 0)>>
  explicit ModuleListImpl(Modules&&... modules) {
    (push_back(std::forward<Modules>(modules)), ...);
  }

  void push_back(std::shared_ptr<Module> module);
  template <class M>
  void push_back(const ModuleHolder<M>& holder) {
    push_back(std::shared_ptr<Module>(holder.ptr()));
  }
  template <class M, class = std::enable_if_t<std::is_base_of_v<Module, std::decay_t<M>>>>
  void push_back(M&& module) {
    push_back(std::shared_ptr<Module>(std::make_shared<std::decay_t<M>>(std::forward<M>(module))));
  }
  /// Inserts at index (<= size()); the names are renumbered.
  void insert(size_t index, std::shared_ptr<Module> module);
  template <class M>
  void insert(size_t index, const ModuleHolder<M>& holder) {
    insert(index, std::shared_ptr<Module>(holder.ptr()));
  }
  void extend(const ModuleListImpl& other);

  std::shared_ptr<Module> operator[](size_t index) const { return ptr(index); }
  std::shared_ptr<Module> ptr(size_t index) const;
  template <class T>
  std::shared_ptr<T> ptr(size_t index) const {
    return std::dynamic_pointer_cast<T>(ptr(index));
  }
  template <class T>
  T& at(size_t index) {
    T* m = dynamic_cast<T*>(ptr(index).get());
    DYDX_CHECK(m != nullptr, "nn::ModuleList::at: the module at index ", index, " is not of the requested type");
    return *m;
  }
  size_t size() const noexcept { return modules_.size(); }
  bool is_empty() const noexcept { return modules_.empty(); }
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

  void pretty_print(std::ostream& stream) const override;

 private:
  void renumber();
  std::vector<std::shared_ptr<Module>> modules_;
};
DYDX_MODULE(ModuleList);

/// A module that calls a function: Functional(dydx::relu), Functional(dydx::softmax, 1) (further
/// arguments are bound after the input), or a lambda.
class FunctionalImpl : public Cloneable<FunctionalImpl> {
 public:
  void reset() override {}
  using Function = std::function<Tensor(Tensor)>;
  explicit FunctionalImpl(Function function);
  template <class SomeFunction, class... Args, class = std::enable_if_t<(sizeof...(Args) > 0)>>
  explicit FunctionalImpl(SomeFunction original_function, Args&&... args)
      : FunctionalImpl(Function([f = std::move(original_function), ... bound = std::forward<Args>(args)](Tensor input) {
          return f(input, bound...);
        })) {}

  Tensor forward(Tensor input);
  void pretty_print(std::ostream& stream) const override;

 private:
  Function function_;
};
DYDX_MODULE(Functional);

}  // namespace dydx::nn
