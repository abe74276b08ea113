// Sequential, ModuleList and Functional.
#include "dydx/nn/modules/container.hpp"

namespace dydx::nn {

SequentialImpl::SequentialImpl(std::initializer_list<std::pair<std::string, detail::AnyModule>> named_modules) {
  for (const auto& [name, module] : named_modules) push_back(name, module);
}

void SequentialImpl::push_back(detail::AnyModule module) { push_back(std::to_string(modules_.size()), std::move(module)); }

void SequentialImpl::push_back(std::string name, detail::AnyModule module) {
  register_module(std::move(name), module.ptr());
  modules_.push_back(std::move(module));
}

void SequentialImpl::extend(const SequentialImpl& other) {
  const std::vector<detail::AnyModule> copy = other.modules_;  // other may be *this
  for (const auto& m : copy) push_back(m);
}

Tensor SequentialImpl::forward(const Tensor& input) {
  DYDX_CHECK(!is_empty(), "Cannot call forward() on an empty Sequential");
  Tensor x = modules_.front().forward(input);
  for (size_t i = 1; i < modules_.size(); ++i) x = modules_[i].forward(x);
  return x;
}

std::shared_ptr<Module> SequentialImpl::ptr(size_t index) const {
  DYDX_CHECK(index < size(), "Index out of range (nn::Sequential index ", index, " of ", size(), ")");
  return modules_[index].ptr();
}

std::shared_ptr<Module> SequentialImpl::clone() const {
  auto copy = std::make_shared<SequentialImpl>();
  const std::vector<std::string> names = children_.keys();  // in the order of modules_
  for (size_t i = 0; i < modules_.size(); ++i) copy->push_back(names[i], modules_[i].clone());
  if (!is_training()) copy->eval();
  return copy;
}

void SequentialImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::Sequential"; }

void ModuleListImpl::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

void ModuleListImpl::insert(size_t index, std::shared_ptr<Module> module) {
  DYDX_CHECK(index <= size(), "Index out of range (nn::ModuleList insert at ", index, " of ", size(), ")");
  DYDX_CHECK(module != nullptr, "nn::ModuleList::insert: the module is null (an empty module holder)");
  modules_.insert(modules_.begin() + static_cast<std::ptrdiff_t>(index), std::move(module));
  renumber();
}

void ModuleListImpl::renumber() {
  children_.clear();
  for (size_t i = 0; i < modules_.size(); ++i) register_module(std::to_string(i), modules_[i]);
}

void ModuleListImpl::extend(const ModuleListImpl& other) {
  const std::vector<std::shared_ptr<Module>> copy = other.modules_;
  for (const auto& m : copy) push_back(m);
}

std::shared_ptr<Module> ModuleListImpl::ptr(size_t index) const {
  DYDX_CHECK(index < size(), "Index out of range (nn::ModuleList index ", index, " of ", size(), ")");
  return modules_[index];
}

std::shared_ptr<Module> ModuleListImpl::clone() const {
  auto copy = std::make_shared<ModuleListImpl>();
  for (const auto& m : modules_) copy->push_back(m->clone());
  if (!is_training()) copy->eval();
  return copy;
}

void ModuleListImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::ModuleList"; }

FunctionalImpl::FunctionalImpl(Function function) : function_(std::move(function)) {
  DYDX_CHECK(static_cast<bool>(function_), "nn::Functional: the function is empty");
}

Tensor FunctionalImpl::forward(Tensor input) { return function_(std::move(input)); }

void FunctionalImpl::pretty_print(std::ostream& stream) const { stream << "dydx::nn::Functional()"; }

}  // namespace dydx::nn
