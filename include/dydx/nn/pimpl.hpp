// ModuleHolder and DYDX_MODULE: libtorch's pointer-to-implementation idiom. `DYDX_MODULE(Linear)`
// makes nn::Linear a shared handle to an nn::LinearImpl: `nn::Linear lin(3, 2);` constructs the
// Impl, `lin->weight` reaches its members, `lin(x)` calls its forward, copies share one module, and
// `nn::Linear lin{nullptr};` is an empty holder to be assigned later (using it raises).
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <type_traits>
#include <utility>

#include "dydx/error.hpp"

namespace dydx::nn {

template <class Contained>
class ModuleHolder {
 public:
  using ContainedType = Contained;

  /// Default-constructs the module (its default options), as libtorch does; only for modules that
  /// have a default constructor. Use `{nullptr}` for an empty holder.
  ModuleHolder() : impl_(make_default()) {}
  /// An empty holder.
  ModuleHolder(std::nullptr_t) {}
  /// Constructs the module from these arguments (`nn::Linear(3, 2)`, `nn::Linear(options)`).
  template <class Head, class... Tail,
            class = std::enable_if_t<!(std::is_same_v<std::decay_t<Head>, std::nullptr_t> ||
                                       std::is_base_of_v<ModuleHolder, std::decay_t<Head>> ||
                                       std::is_same_v<std::decay_t<Head>, std::shared_ptr<Contained>>) ||
                                     sizeof...(Tail) != 0>>
  explicit ModuleHolder(Head&& head, Tail&&... tail)
      : impl_(std::make_shared<Contained>(std::forward<Head>(head), std::forward<Tail>(tail)...)) {}
  /// Holds an existing module (what register_module returns).
  ModuleHolder(std::shared_ptr<Contained> module) : impl_(std::move(module)) {}

  explicit operator bool() const noexcept { return !is_empty(); }
  bool is_empty() const noexcept { return impl_ == nullptr; }

  Contained* operator->() { return get(); }
  const Contained* operator->() const { return get(); }
  Contained& operator*() { return *get(); }
  const Contained& operator*() const { return *get(); }
  const std::shared_ptr<Contained>& ptr() const {
    DYDX_CHECK(!is_empty(), "Accessing empty ModuleHolder");
    return impl_;
  }
  Contained* get() {
    DYDX_CHECK(!is_empty(), "Accessing empty ModuleHolder");
    return impl_.get();
  }
  const Contained* get() const {
    DYDX_CHECK(!is_empty(), "Accessing empty ModuleHolder");
    return impl_.get();
  }

  /// Calls the module's forward.
  template <class... Args>
  decltype(auto) operator()(Args&&... args) {
    return get()->forward(std::forward<Args>(args)...);
  }
  /// Indexes the module (Sequential, ModuleList).
  template <class Arg>
  decltype(auto) operator[](Arg&& arg) {
    return (*get())[std::forward<Arg>(arg)];
  }

 protected:
  std::shared_ptr<Contained> impl_;

 private:
  static std::shared_ptr<Contained> make_default() {
    if constexpr (std::is_default_constructible_v<Contained>) {
      return std::make_shared<Contained>();
    } else {
      static_assert(std::is_default_constructible_v<Contained>,
                    "this module has no default constructor: pass its arguments, or {nullptr} for an empty holder");
      return nullptr;
    }
  }
};

/// Prints the held module (or "nullptr").
template <class Contained>
std::ostream& operator<<(std::ostream& stream, const ModuleHolder<Contained>& holder) {
  if (holder.is_empty()) return stream << "nullptr";
  return stream << static_cast<const Module&>(*holder);
}

}  // namespace dydx::nn

/// Defines the holder Name for the module Impl, as TORCH_MODULE_IMPL.
#define DYDX_MODULE_IMPL(Name, ImplType)                       \
  class Name : public ::dydx::nn::ModuleHolder<ImplType> {     \
   public:                                                     \
    using ::dydx::nn::ModuleHolder<ImplType>::ModuleHolder;    \
    using Impl = ImplType;                                     \
  }

/// Defines the holder Name for the module NameImpl, as TORCH_MODULE: DYDX_MODULE(Net);
#define DYDX_MODULE(Name) DYDX_MODULE_IMPL(Name, Name##Impl)
