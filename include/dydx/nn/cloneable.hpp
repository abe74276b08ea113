// nn::Cloneable<Derived>: the base that gives a module clone(), as torch::nn::Cloneable. Derived
// registers its parameters, buffers and submodules in reset() (its constructor calls reset()); clone()
// copies the object, calls reset() on the copy for fresh tensors and submodules, then fills them
// with the original's values and clones of its submodules.
#pragma once

#include <memory>

#include "dydx/autograd.hpp"
#include "dydx/nn/module.hpp"

namespace dydx::nn {

template <class Derived>
class Cloneable : public Module {
 public:
  using Module::Module;

  /// (Re)creates every parameter, buffer and submodule; clone() relies on it.
  virtual void reset() = 0;

  std::shared_ptr<Module> clone() const override {
    NoGradGuard no_grad;
    auto copy = std::make_shared<Derived>(static_cast<const Derived&>(*this));
    copy->parameters_.clear();
    copy->buffers_.clear();
    copy->children_.clear();
    copy->reset();
    DYDX_CHECK(copy->parameters_.size() == parameters_.size(),
               "The cloned module does not have the same number of parameters as the original module after calling "
               "reset(). Are you sure you called register_parameter() inside reset() and not the constructor?");
    for (const auto& p : parameters_)
      if (p.value().defined()) {
        Tensor& fresh = copy->parameters_[p.key()];
        set_data(fresh, p.value().detach().clone());
        fresh.set_requires_grad(p.value().requires_grad());
      }
    DYDX_CHECK(copy->buffers_.size() == buffers_.size(),
               "The cloned module does not have the same number of buffers as the original module after calling "
               "reset(). Are you sure you called register_buffer() inside reset() and not the constructor?");
    for (const auto& b : buffers_)
      if (b.value().defined()) set_data(copy->buffers_[b.key()], b.value().detach().clone());
    DYDX_CHECK(copy->children_.size() == children_.size(),
               "The cloned module does not have the same number of child modules as the original module after "
               "calling reset(). Are you sure you called register_module() inside reset() and not the constructor?");
    for (const auto& child : children_) copy->children_[child.key()]->clone_(*child.value());
    return copy;
  }

 private:
  void clone_(Module& other) final {
    auto cloned = std::dynamic_pointer_cast<Derived>(other.clone());
    DYDX_CHECK(cloned != nullptr,
               "Attempted to clone submodule, but it is of a different type than the submodule it was to be cloned into");
    static_cast<Derived&>(*this) = *cloned;
  }
};

}  // namespace dydx::nn
