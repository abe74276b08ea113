// Tensor's own members: geometry queries, element access and per-tensor autograd state.
#include "dydx/tensor.hpp"

#include <mutex>
#include <unordered_map>
#include <sstream>

#include "autograd/engine.hpp"
#include "core/object_pool.hpp"
#include "core/shape.hpp"
#include "core/tensor_factory.hpp"
#include "cpu/cpu_kernels.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/detail/node.hpp"

namespace dydx {

using detail::TensorImpl;

TensorImpl& Tensor::impl_ref() const {
  DYDX_CHECK(impl_ != nullptr, "tensor: the tensor is undefined (default-constructed or an unused gradient)");
  return *impl_;
}

int64_t Tensor::size(int64_t dim) const {
  const auto& impl = impl_ref();
  DYDX_CHECK(!impl.sizes.empty(), "size: a 0-D tensor has no dim ", dim);
  return impl.sizes[detail::wrap_dim(dim, this->dim(), "size")];
}

int64_t Tensor::stride(int64_t dim) const {
  const auto& impl = impl_ref();
  DYDX_CHECK(!impl.sizes.empty(), "stride: a 0-D tensor has no dim ", dim);
  return impl.strides[detail::wrap_dim(dim, this->dim(), "stride")];
}

bool Tensor::is_contiguous() const { return detail::is_contiguous(impl_ref().sizes, impl_ref().strides); }

std::string Tensor::shape_string() const {
  std::ostringstream os;
  os << sizes();
  return os.str();
}

namespace {
template <class T>
constexpr ScalarType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return kFloat32;
  if constexpr (std::is_same_v<T, double>) return kFloat64;
  return kInt64;
}
}  // namespace

template <class T>
T* Tensor::data_ptr() const {
  const auto& impl = impl_ref();
  DYDX_CHECK(impl.dtype == dtype_of<T>(), "data_ptr: expected a tensor of dtype ", dtype_of<T>(),
             " but it has dtype ", impl.dtype);
  return reinterpret_cast<T*>(impl.data_bytes());
}

template <class T>
T Tensor::item() const {
  const auto& impl = impl_ref();
  DYDX_CHECK(impl.numel == 1, "item: a tensor with ", impl.numel, " elements cannot be converted to a scalar");
  return cpu::dispatch(impl.dtype, [&](auto tag) {
    using S = decltype(tag);
    const S value = *reinterpret_cast<const S*>(impl.data_bytes());
    // As libtorch's item<int64_t>(): a floating value outside int64's range (nan, inf) is an error,
    // not the INT64_MIN that an elementwise cast to int64 gives.
    if constexpr (std::is_integral_v<T> && std::is_floating_point_v<S>)
      DYDX_CHECK(detail::fits_int64(static_cast<double>(value)), "item: value ", value,
                 " cannot be converted to type int64 without overflow");
    return cpu::convert<T>(value);
  });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const auto& impl = impl_ref();
  std::vector<T> out(impl.numel);
  Tensor dst = from_blob(out.data(), impl.sizes, dtype_of<T>());
  detail::copy_values(dst, *this);
  return out;
}

#define DYDX_INSTANTIATE(T)                     \
  template T* Tensor::data_ptr<T>() const;      \
  template T Tensor::item<T>() const;           \
  template std::vector<T> Tensor::to_vector<T>() const;
DYDX_INSTANTIATE(float)
DYDX_INSTANTIATE(double)
DYDX_INSTANTIATE(int64_t)
#undef DYDX_INSTANTIATE

Tensor& Tensor::requires_grad_(bool requires_grad) {
  auto& impl = impl_ref();
  if (impl.grad_fn && requires_grad) return *this;  // a non-leaf already requires grad, as in PyTorch
  DYDX_CHECK(impl.grad_fn == nullptr, "requires_grad_: you can only change requires_grad flags of leaf variables."
             " If you want to use a computed variable in a subgraph that doesn't require differentiation use"
             " var_no_grad = var.detach().");
  DYDX_CHECK(!requires_grad || dydx::is_floating_point(impl.dtype),
             "requires_grad_: only tensors of floating point dtype can require gradients (got ", impl.dtype, ")");
  impl.requires_grad = requires_grad;
  return *this;
}

// Both check for an undefined tensor before refresh_view_history reads through it.
bool Tensor::requires_grad() const {
  const TensorImpl& impl = impl_ref();
  autograd::refresh_view_history(*this);
  return impl.needs_grad();
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  const TensorImpl& impl = impl_ref();
  autograd::refresh_view_history(*this);
  return impl.grad_fn;
}

Tensor Tensor::grad() const {
  const auto& impl = impl_ref();
  return Tensor(impl.grad);
}

void Tensor::set_grad(const Tensor& grad) const {
  auto& impl = impl_ref();
  if (grad.defined()) {
    DYDX_CHECK(grad.sizes() == sizes(), "set_grad: assigned grad has shape ", grad.sizes(),
               " but the tensor has shape ", sizes());
    DYDX_CHECK(grad.dtype() == dtype(), "set_grad: assigned grad has dtype ", grad.dtype(),
               " but the tensor has dtype ", dtype());
  }
  impl.grad = grad.impl();
}

void Tensor::retain_grad() const {
  auto& impl = impl_ref();
  DYDX_CHECK(impl.needs_grad(), "retain_grad: can't retain_grad on a tensor that has requires_grad=False");
  if (impl.grad_fn == nullptr) return;  // leaves keep their grad anyway
  impl.retains_grad = true;
  impl.grad_fn->retained = impl_;
}

Tensor Tensor::detach() const {
  const auto& impl = impl_ref();
  auto out = detail::make_pooled<detail::TensorImpl>();
  out->storage = impl.storage;
  out->sizes = impl.sizes;
  out->strides = impl.strides;
  out->offset = impl.offset;
  out->numel = impl.numel;
  out->dtype = impl.dtype;
  return Tensor(std::move(out));
}

Tensor& Tensor::detach_() {
  auto& impl = impl_ref();
  DYDX_CHECK(impl.base == nullptr || !impl.base->needs_grad(),
             "detach_: can't detach views in-place. Use detach() instead");
  impl.grad_fn.reset();
  impl.requires_grad = false;
  return *this;
}

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph,
                      const TensorList& inputs) const {
  TensorList grad_outputs;
  if (gradient.defined()) grad_outputs.push_back(gradient);
  dydx::backward({*this}, grad_outputs, retain_graph, create_graph, inputs);
}

namespace {
std::atomic<unsigned> next_hook_handle{1};
std::mutex hook_mutex;

// A non-leaf's hooks run on the gradient flowing into its grad_fn; a leaf keeps its own.
auto& hook_list(const Tensor& t) {
  auto& impl = *t.impl();
  return impl.grad_fn ? impl.grad_fn->pre_hooks : impl.hooks;
}

// The node each non-leaf hook was registered on. An in-place write gives the tensor a new grad_fn
// while its earlier hooks stay with the old one (they see the gradient of the old value, as in
// PyTorch), so remove_hook must find them there, as PyTorch's handle removes from the dict it was
// added to. Entries of freed nodes are swept whenever the map has doubled since the last sweep.
std::unordered_map<unsigned, std::weak_ptr<autograd::Node>> hooked_nodes;
size_t hooked_nodes_after_sweep = 0;

void remember_hooked_node(unsigned handle, const std::shared_ptr<autograd::Node>& node) {
  if (hooked_nodes.size() >= 2 * hooked_nodes_after_sweep + 64) {
    std::erase_if(hooked_nodes, [](const auto& entry) { return entry.second.expired(); });
    hooked_nodes_after_sweep = hooked_nodes.size();
  }
  hooked_nodes.emplace(handle, node);
}
}  // namespace

unsigned Tensor::register_hook(TensorHook hook) const {
  DYDX_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  unsigned handle = next_hook_handle++;
  std::lock_guard<std::mutex> lock(hook_mutex);
  hook_list(*this).emplace_back(handle, std::make_shared<TensorHook>(std::move(hook)));
  if (const auto& node = impl()->grad_fn) remember_hooked_node(handle, node);
  return handle;
}

void Tensor::remove_hook(unsigned handle) const {
  impl_ref();
  std::lock_guard<std::mutex> lock(hook_mutex);
  auto is_it = [handle](const auto& entry) { return entry.first == handle; };
  std::erase_if(hook_list(*this), is_it);
  if (auto it = hooked_nodes.find(handle); it != hooked_nodes.end()) {
    if (auto node = it->second.lock()) std::erase_if(node->pre_hooks, is_it);
    hooked_nodes.erase(it);
  }
}

autograd::HookList autograd::snapshot_hooks(const HookList& hooks) {
  std::lock_guard<std::mutex> lock(hook_mutex);
  return hooks;
}

}  // namespace dydx
