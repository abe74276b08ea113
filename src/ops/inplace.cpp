// In-place ops (add_, mul_, fill_, copy_, ...): PyTorch's checks, version bumps and history rewriting.
//
// With history to record, an in-place op computes its result out of place with the ordinary
// differentiable op, writes it into self's memory and hands self the result's grad_fn. When self
// is a view, its base's history is rewritten instead: the base becomes CopySlices(old base, result),
// and self becomes an as_strided view of that new base.
#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

void fill_vjp(Node&, const Tensor& g, Tensor* grads) { grads[0] = zeros_like(g); }
// PyTorch numbers the in-place Scalar overload of fill 2.
const OpInfo fill_info{"fill", "FillBackward2", &fill_vjp};
const OpInfo zero_info{"zero", "ZeroBackward0", &fill_vjp};

// copy_ overwrites self with src: nothing flows to the old self, everything to src.
void copy_vjp(Node& node, const Tensor& g, Tensor* grads) {
  if (node.needs_input_grad(0)) grads[0] = zeros_like(g);
  if (node.needs_input_grad(1)) grads[1] = g;
}
const OpInfo copy_info{"copy", "CopyBackwards", &copy_vjp};

// The base after writing result into the region of a view: the region's gradient goes to result,
// the rest to the old base.
void copy_slices_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const auto& a = node.attrs;
  if (node.needs_input_grad(0)) {
    const int64_t nb = batch_dims(node, g);
    Tensor outside = ones(Dims(g.sizes().begin() + nb, g.sizes().end()), g.dtype());  // the base's shape
    detail::make_alias(outside, a.sizes, a.strides, a.offset).zero_();
    grads[0] = g * outside;
  }
  if (node.needs_input_grad(1)) grads[1] = detail::view_region(g, batch_dims(node, g), a.sizes, a.strides, a.offset);
}
const OpInfo copy_slices_info{"copy_slices", "CopySlices", &copy_slices_vjp};

// [first, last] element of the storage that t reaches; empty tensors reach nothing (last < first).
std::pair<int64_t, int64_t> reach_of(const detail::TensorImpl& t) {
  if (t.numel == 0) return {0, -1};
  int64_t last = t.offset;
  for (size_t d = 0; d < t.sizes.size(); ++d) last += (t.sizes[d] - 1) * t.strides[d];
  return {t.offset, last};
}

// PyTorch's overlap rules for writes: self may not have two elements at one address (an expanded
// tensor), and a source may alias self only element for element, as in x.mul_(x); anything else
// would read values the same loop has already overwritten.
void check_overlap(const Tensor& self, std::initializer_list<const Tensor*> sources, const char* op) {
  const auto& s = *self.impl();
  for (size_t d = 0; d < s.sizes.size(); ++d)
    DYDX_CHECK(!(s.strides[d] == 0 && s.sizes[d] > 1), op,
               ": unsupported operation: more than one element of the written-to tensor (shape ", self.sizes(),
               ", strides ", self.strides(), ") refers to a single memory location. Please clone() the tensor first");
  const auto [first, last] = reach_of(s);
  for (const Tensor* source : sources) {
    DYDX_CHECK(source->defined(), op, ": the source tensor is undefined (shape of the written-to tensor ",
               self.sizes(), ")");
    const auto& o = *source->impl();
    if (o.storage != s.storage || o.dtype != s.dtype) continue;
    const auto [o_first, o_last] = reach_of(o);
    const bool disjoint = o_last < first || last < o_first;
    const bool identical = o.offset == s.offset && o.sizes == s.sizes && o.strides == s.strides;
    DYDX_CHECK(disjoint || identical, op,
               ": unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
               "single memory location (shapes ", source->sizes(), " and ", self.sizes(),
               "). Please clone() the input first");
  }
}

void check_inplace(const Tensor& self, const char* op) {
  DYDX_CHECK(self.defined(), op, ": the written-to tensor is undefined (default-constructed)");
  const auto& impl = *self.impl();
  // A view made under no_grad has no history to rewrite; PyTorch refuses the write.
  DYDX_CHECK(!(is_grad_enabled() && impl.base && impl.view_made_without_grad && impl.base->needs_grad()), op,
             ": a view was created in no_grad mode and is being modified in place with grad mode enabled (shape ",
             self.sizes(), "). Create the view with grad mode on, or do the write under no_grad");
  if (!is_grad_enabled()) return;
  DYDX_CHECK(!(impl.grad_fn == nullptr && impl.requires_grad), op,
             ": a leaf Variable that requires grad is being used in an in-place operation (shape ", self.sizes(), ")");
  DYDX_CHECK(!(impl.base && impl.base->grad_fn == nullptr && impl.base->requires_grad), op,
             ": a view of a leaf Variable that requires grad is being used in an in-place operation (shape ",
             self.sizes(), ")");
}

void check_castable(ScalarType from, ScalarType to, const char* op) {
  DYDX_CHECK(is_floating_point(to) || !is_floating_point(from), op, ": result type ", from,
             " can't be cast to the desired output type ", to);
}

// Whether the op must run out of place and commit: to record history, or to carry tangents.
bool needs_history(const Tensor& self, std::initializer_list<const Tensor*> others) {
  if (!self.is_floating_point()) return false;  // an integer tensor carries no derivatives
  if (forward::active()) {
    if (forward::has_tangent(self)) return true;
    for (const Tensor* t : others)
      if (forward::has_tangent(*t)) return true;
  }
  if (!is_grad_enabled()) return false;
  if (self.requires_grad()) return true;
  if (self.impl()->base && self.impl()->base->needs_grad()) return true;
  for (const Tensor* t : others)
    if (t->requires_grad()) return true;
  return false;
}

void bump_version(const Tensor& self) { ++self.impl()->storage->version; }

// Rules that read self (mul_, div_) must see its value from before the write; PyTorch saves
// such an "original self" too. The copy carries self's history and tangents, so derivatives
// still reach self's inputs.
Tensor snapshot(const Tensor& self) {
  Tensor copy = detail::make_empty(self.sizes(), self.dtype());
  detail::copy_values(copy, self);
  copy.impl()->grad_fn = self.impl()->grad_fn;
  // The tangents are copied too: the write is about to overwrite self's tangent in place.
  if (forward::active())
    for (const auto& [level, tangent] : self.impl()->tangents) forward::set_tangent(copy, level, Tensor(tangent).clone());
  return copy;
}

// Writes result into self and gives self the result's history.
void commit(Tensor& self, Tensor result, const char* op) {
  DYDX_CHECK(result.sizes() == self.sizes(), op, ": output with shape ", self.sizes(),
             " doesn't match the broadcast shape ", result.sizes());
  check_castable(result.dtype(), self.dtype(), op);
  result = cast(result, self.dtype());
  detail::copy_values(self, result);
  bump_version(self);
  if (forward::active()) forward::commit_inplace(self, result);
  auto& impl = *self.impl();
  if (!result.requires_grad()) return;
  // retain_grad follows the tensor to its new history; the old node stops filling .grad.
  if (impl.retains_grad && impl.grad_fn) impl.grad_fn->retained.reset();
  if (!impl.base) {
    impl.grad_fn = result.impl()->grad_fn;
    impl.requires_grad = false;
    if (impl.retains_grad) impl.grad_fn->retained = self.impl();  // .grad follows the new value
    return;
  }
  Tensor base(impl.base);
  DYDX_CHECK(base.is_contiguous(), op, ": in-place writes through a view of a non-contiguous tensor (shape ",
             base.sizes(), ", strides ", base.strides(), ") cannot be differentiated");
  const int64_t offset = impl.offset - base.storage_offset();
  if (Node* node = record(copy_slices_info, {&base, &result}, base)) {
    node->attrs.sizes = impl.sizes;
    node->attrs.strides = impl.strides;
    node->attrs.offset = offset;
  }
  impl.grad_fn = base.as_strided(impl.sizes, impl.strides, impl.offset).impl()->grad_fn;
  impl.view_version = impl.storage->version.load();
  if (impl.retains_grad) impl.grad_fn->retained = self.impl();
}

template <class F>
void binary_in_place(const Tensor& self, const Tensor& other, const char* op, F f) {
  detail::broadcast_shapes(self.sizes(), other.sizes(), op);
  check_castable(result_type(self, other), self.dtype(), op);
  Tensor y = cast(other, self.dtype());
  DYDX_CHECK(detail::broadcast_shapes(self.sizes(), other.sizes(), op) == self.impl()->sizes, op,
             ": output with shape ", self.sizes(), " doesn't match the broadcast shape ",
             detail::broadcast_shapes(self.sizes(), other.sizes(), op));
  cpu::dispatch(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map2<T>(self, self, y, [f](T a, T b) { return static_cast<T>(f(a, b)); });
  });
  bump_version(self);
}

}  // namespace
}  // namespace ops

using ops::check_inplace;
using ops::commit;
using ops::needs_history;

Tensor& Tensor::add_(const Tensor& other, Scalar alpha) {
  check_inplace(*this, "add_");
  ops::check_overlap(*this, {&other}, "add_");
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::add(*this, other, alpha), "add_");
  } else {
    const double c = alpha.to_double();
    ops::binary_in_place(*this, other, "add_", [c](auto a, auto b) { return a + c * b; });
  }
  return *this;
}

Tensor& Tensor::add_(Scalar other) { return add_(ops::scalar_tensor(other, ops::result_type(*this, other))); }

Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) {
  check_inplace(*this, "sub_");
  ops::check_overlap(*this, {&other}, "sub_");
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::sub(*this, other, alpha), "sub_");
  } else {
    const double c = alpha.to_double();
    ops::binary_in_place(*this, other, "sub_", [c](auto a, auto b) { return a - c * b; });
  }
  return *this;
}

Tensor& Tensor::mul_(const Tensor& other) {
  check_inplace(*this, "mul_");
  ops::check_overlap(*this, {&other}, "mul_");
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::mul(ops::snapshot(*this), other), "mul_");
  } else {
    ops::binary_in_place(*this, other, "mul_", [](auto a, auto b) { return a * b; });
  }
  return *this;
}

Tensor& Tensor::mul_(Scalar other) { return mul_(ops::scalar_tensor(other, ops::result_type(*this, other))); }

Tensor& Tensor::div_(const Tensor& other) {
  check_inplace(*this, "div_");
  ops::check_overlap(*this, {&other}, "div_");
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::div(ops::snapshot(*this), other), "div_");
  } else {
    ops::check_castable(is_floating_point() ? dtype() : kDefaultDtype, dtype(), "div_");
    ops::binary_in_place(*this, other, "div_", [](auto a, auto b) { return a / b; });
  }
  return *this;
}

static Tensor& fill_impl(Tensor& self, Scalar value, const ops::OpInfo& info, const char* op) {
  check_inplace(self, op);
  const double v = value.to_double();
  DYDX_CHECK(self.is_floating_point() || (std::isfinite(v) && std::abs(v) < 9.2233720368547758e18), op, ": value ", v,
             " cannot be converted to type int64 without overflow");
  ops::check_overlap(self, {}, op);
  Tensor filled = full({}, value, self.dtype());
  if (needs_history(self, {})) {
    Tensor result = full(self.sizes(), value, self.dtype());
    ops::record(info, {&self}, result);
    forward::propagate_linear({&self}, result, [](const TensorList& t) { return zeros_like(t[0]); });
    commit(self, result, op);
  } else {
    detail::copy_values(self, filled);
    ++self.impl()->storage->version;
  }
  return self;
}

Tensor& Tensor::fill_(Scalar value) { return fill_impl(*this, value, ops::fill_info, "fill_"); }
Tensor& Tensor::zero_() { return fill_impl(*this, 0, ops::zero_info, "zero_"); }

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  ops::check_overlap(*this, {&src}, "copy_");
  detail::broadcast_shapes(sizes(), src.sizes(), "copy_");
  DYDX_CHECK(detail::broadcast_shapes(sizes(), src.sizes(), "copy_") == impl_ref().sizes, "copy_: source of shape ",
             src.sizes(), " cannot be broadcast to the destination shape ", sizes());
  if (needs_history(*this, {&src})) {
    Tensor result = detail::make_empty(sizes(), dtype());
    detail::copy_values(result, src);
    ops::record(ops::copy_info, {this, &src}, result);
    // Nothing of the old self survives: the tangent is src's, broadcast like its values.
    forward::propagate_broadcast_linear({this, &src}, result, [](const TensorList& t) { return t[1].defined() ? t[1] : zeros_like(t[0]); });
    commit(*this, result, "copy_");
  } else {
    detail::copy_values(*this, src);
    ++impl_ref().storage->version;
  }
  return *this;
}

}  // namespace dydx
