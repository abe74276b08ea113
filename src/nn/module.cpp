// nn::Module: registration, recursive listing with dotted names, modes, dtype conversion, printing.
#include "dydx/nn/module.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include "compile/trace.hpp"
#include "dydx/autograd.hpp"
#include "dydx/detail/node.hpp"

namespace dydx::nn {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  char* text = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  if (status != 0 || text == nullptr) return mangled;
  std::string out(text);
  std::free(text);
  return out;
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

/// The checks of register_parameter, register_buffer and register_module (libtorch's messages).
void check_name(const std::string& name, const char* what) {
  DYDX_CHECK(!name.empty(), what, " name must not be empty");
  DYDX_CHECK(name.find('.') == std::string::npos, what, " name must not contain a dot (got '", name, "')");
}

}  // namespace

Module::Module(std::string name) : name_(std::move(name)) {}

void Module::set_data(const Tensor& t, const Tensor& data) {
  ::dydx::detail::TensorImpl& impl = t.impl_ref();
  const ::dydx::detail::TensorImpl& from = data.impl_ref();
  // Only plain tensors: a tensor inside vmap has no data of its own to share.
  DYDX_CHECK(!impl.batched && !from.batched, "set_data: not supported on a tensor inside vmap");
  impl.storage = from.storage;
  impl.sizes = from.sizes;
  impl.strides = from.strides;
  impl.offset = from.offset;
  impl.numel = from.numel;
  impl.dtype = from.dtype;
  impl.base = nullptr;  // a registered view now owns memory of its own
}

std::shared_ptr<Module> Module::clone() const {
  ::dydx::detail::fail("clone() has not been implemented for ", name(), ". Subclass dydx::nn::Cloneable<", name(),
                       "> instead of dydx::nn::Module to inherit the ability to clone.");
}

void Module::clone_(Module& other) {
  ::dydx::detail::fail("clone_() has not been implemented for ", name(), " (cloning into it from ", other.name(),
                       "). Subclass dydx::nn::Cloneable<", name(), "> instead of dydx::nn::Module.");
}
Module::Module() = default;

const std::string& Module::name() const noexcept {
  if (!name_) name_ = demangle(typeid(*this).name());
  return *name_;
}

void Module::pretty_print(std::ostream& stream) const { stream << name(); }

std::vector<Tensor> Module::parameters(bool recurse) const { return named_parameters(recurse).values(); }

OrderedDict<std::string, Tensor> Module::named_parameters(bool recurse) const {
  OrderedDict<std::string, Tensor> out("Parameter");
  for (const auto& p : parameters_)
    if (p.value().defined()) out.insert(p.key(), p.value());
  if (recurse)
    for (const auto& child : children_)
      for (const auto& p : child.value()->named_parameters(true)) out.insert(join_name(child.key(), p.key()), p.value());
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

OrderedDict<std::string, Tensor> Module::named_buffers(bool recurse) const {
  OrderedDict<std::string, Tensor> out("Buffer");
  for (const auto& b : buffers_)
    if (b.value().defined()) out.insert(b.key(), b.value());
  if (recurse)
    for (const auto& child : children_)
      for (const auto& b : child.value()->named_buffers(true)) out.insert(join_name(child.key(), b.key()), b.value());
  return out;
}

std::shared_ptr<Module> Module::shared_from_this_checked() const {
  std::shared_ptr<const Module> self = weak_from_this().lock();
  DYDX_CHECK(self != nullptr,
             "Module::modules/named_modules with include_self: this module is not owned by a std::shared_ptr "
             "(hold it in a module holder or std::make_shared), or pass include_self = false");
  return std::const_pointer_cast<Module>(self);
}

std::vector<std::shared_ptr<Module>> Module::modules(bool include_self) const {
  return named_modules(std::string(), include_self).values();
}

OrderedDict<std::string, std::shared_ptr<Module>> Module::named_modules(const std::string& name_prefix,
                                                                        bool include_self) const {
  OrderedDict<std::string, std::shared_ptr<Module>> out("Module");
  if (include_self) out.insert(name_prefix, shared_from_this_checked());
  for (const auto& child : children_)
    for (const auto& m : child.value()->named_modules(join_name(name_prefix, child.key()), true))
      out.insert(m.key(), m.value());
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const { return children_.values(); }

OrderedDict<std::string, std::shared_ptr<Module>> Module::named_children() const { return children_; }

void Module::apply(const ModuleApplyFunction& f) {
  f(*this);
  for (auto& child : children_) child.value()->apply(f);
}

void Module::apply(const NamedModuleApplyFunction& f, const std::string& name_prefix) {
  f(name_prefix, *this);
  for (auto& child : children_) child.value()->apply(f, join_name(name_prefix, child.key()));
}

void Module::train(bool on) {
  for (auto& child : children_) child.value()->train(on);
  is_training_ = on;
}

void Module::eval() { train(false); }

bool Module::is_training() const noexcept {
  if (compile::detail::recording()) [[unlikely]] {
    // Under func::compile the mode steers what f computes (dropout, batch norm's statistics): a call that finds it
    // changed records f again. A module no shared_ptr holds cannot be watched, so f then runs itself.
    try {
      const std::weak_ptr<const Module> self = weak_from_this();
      if (self.expired())
        compile::detail::refuse("f reads the training mode of a module that no shared_ptr holds (a later call could "
                                "not tell whether it changed)");
      else
        compile::detail::note_guard(this, [self, mode = is_training_] {
          const std::shared_ptr<const Module> module = self.lock();
          return module != nullptr && module->is_training_ == mode;
        });
    } catch (...) {
      compile::detail::refuse("f reads a module's training mode, and watching it failed (out of memory)");
    }
  }
  return is_training_;
}

void Module::to(ScalarType dtype, bool /*non_blocking*/) {
  DYDX_CHECK(is_floating_point(dtype), "Module::to: nn.Module.to only accepts floating point dtypes, but got ",
             dtype_name(dtype));
  // Every tensor is checked before any is converted, so that an error leaves the module as it was.
  for (const auto& p : named_parameters(true))
    DYDX_CHECK(p.value().is_leaf(), "Module::to: parameter '", p.key(), "' is not a leaf");
  for (const auto& b : named_buffers(true))
    DYDX_CHECK(b.value().is_leaf(), "Module::to: buffer '", b.key(), "' is not a leaf");
  for (auto& child : children_) child.value()->to(dtype);
  // In a lambda, so that it may call the protected set_data.
  auto convert_in_place = [](const Tensor& t, ScalarType dtype) {
    if (!t.defined()) return;
    DYDX_CHECK(t.is_leaf(), "Module::to: the registered tensors must be leaves, but one has grad_fn ",
               t.grad_fn()->name());
    if (t.dtype() == dtype) return;
    Tensor converted = t.detach().to(dtype);
    if (converted.impl() == t.impl()) return;
    Tensor grad = t.grad();
    Module::set_data(t, converted);
    if (grad.defined()) t.set_grad(grad.detach().to(dtype));
  };
  NoGradGuard no_grad;
  // Integer tensors (a batch counter) keep their dtype: PyTorch's Module.to converts floating ones only.
  for (auto& p : parameters_)
    if (p.value().defined() && p.value().is_floating_point()) convert_in_place(p.value(), dtype);
  for (auto& b : buffers_)
    if (b.value().defined() && b.value().is_floating_point()) convert_in_place(b.value(), dtype);
}

void Module::zero_grad(bool set_to_none) {
  for (auto& child : children_) child.value()->zero_grad(set_to_none);
  for (auto& p : parameters_) {
    const Tensor& t = p.value();
    if (!t.defined()) continue;
    Tensor grad = t.grad();
    if (!grad.defined()) continue;
    if (set_to_none) {
      t.set_grad(Tensor());
    } else {
      // Detached first, so that a .grad made with create_graph stops referring to its graph.
      Tensor plain = grad.grad_fn() ? grad.detach() : grad;
      NoGradGuard no_grad;
      plain.zero_();
      t.set_grad(plain);
    }
  }
}

Tensor& Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_name(name, "Parameter");
  DYDX_CHECK(!parameters_.contains(name), "Parameter '", name, "' already defined");
  if (tensor.defined()) {
    DYDX_CHECK(tensor.is_leaf(), "register_parameter: parameter '", name,
               "' must be a leaf tensor, but it has grad_fn ", tensor.grad_fn()->name(),
               " (register tensor.detach() instead)");
    DYDX_CHECK(!requires_grad || tensor.is_floating_point(), "register_parameter: parameter '", name,
               "' of dtype ", dtype_name(tensor.dtype()), " cannot require grad (only floating point tensors can)");
    tensor.set_requires_grad(requires_grad);
  }
  return parameters_.insert(std::move(name), std::move(tensor));
}

Tensor& Module::register_buffer(std::string name, Tensor tensor) {
  check_name(name, "Buffer");
  return buffers_.insert(std::move(name), std::move(tensor));
}

std::shared_ptr<Module> Module::register_module_erased(std::string name, std::shared_ptr<Module> module) {
  check_name(name, "Submodule");
  DYDX_CHECK(module != nullptr, "register_module: submodule '", name, "' is null (an empty module holder)");
  DYDX_CHECK(module.get() != this, "register_module: a module cannot be its own submodule ('", name, "')");
  return children_.insert(std::move(name), std::move(module));
}

void Module::replace_module_erased(const std::string& name, std::shared_ptr<Module> module) {
  DYDX_CHECK(module != nullptr, "replace_module: submodule '", name, "' is null (an empty module holder)");
  children_[name] = std::move(module);
}

void Module::unregister_module(const std::string& name) {
  DYDX_CHECK(children_.contains(name), "No Module with name `", name, "` is registered");
  children_.erase(name);
}

void Module::pretty_print_recursive(std::ostream& stream, const std::string& indentation) const {
  pretty_print(stream);
  if (children_.is_empty()) return;
  stream << "(\n";
  const std::string next = indentation + "  ";
  for (const auto& child : children_) {
    stream << next << "(" << child.key() << "): ";
    child.value()->pretty_print_recursive(stream, next);
    stream << '\n';
  }
  stream << indentation << ")";
}

std::ostream& operator<<(std::ostream& stream, const Module& module) {
  module.pretty_print_recursive(stream, "");
  return stream;
}

}  // namespace dydx::nn
