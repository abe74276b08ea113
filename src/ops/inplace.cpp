// In-place ops (add_, mul_, fill_, copy_, ...): PyTorch's checks, version bumps and history rewriting.
//
// With history to record, an in-place op computes its result out of place with the ordinary
// differentiable op, writes it into self's memory and hands self the result's grad_fn. When self
// is a view, its base's history is rewritten instead: the base becomes CopySlices(old base, result),
// and self becomes an as_strided view of that new base.
#include <cmath>
#include <string_view>

#include "core/overlap.hpp"
#include "ops/clamp_bounds.hpp"
#include "ops/op_record.hpp"
#include "ops/matrix_structure.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"
#include "ops/strided_region.hpp"

namespace dydx {
namespace ops {
namespace {

// fill_ and zero_ overwrite self with a constant: nothing flows to the old self, and the result's
// tangent is zero.
// PyTorch numbers the in-place Scalar overload of fill 2.
using FillNames = Named<"fill", "FillBackward2">;
using ZeroNames = Named<"zero", "ZeroBackward0">;
template <class Names>
struct FillRecord : Names, Linear {
  static constexpr JvpKind jvp_kind = JvpKind::zero;
  static void vjp(const Backward<FillRecord>&, const Tensor& g, Tensor* grads) { grads[0] = zeros_like(g); }
};

// copy_ overwrites self with src: nothing flows to the old self, everything to src, whose values
// (and tangent) broadcast to self's shape.
struct CopyIntoRecord : Named<"copy", "CopyBackwards">, Linear {
  static constexpr bool broadcasts = true;
  static void vjp(const Backward<CopyIntoRecord>& b, const Tensor& g, Tensor* grads) {
    if (b.needs_grad(0)) grads[0] = zeros_like(g);
    if (b.needs_grad(1)) grads[1] = g;
  }
  // Nothing of the old self survives: the tangent is src's.
  static Tensor jvp(const Primal<CopyIntoRecord>&, const TensorList& t) { return t[1].defined() ? t[1] : zeros_like(t[0]); }
};

// The base after writing result into the region of a view: the region's gradient goes to result,
// the rest to the old base. The region is matched to the base's elements by location, so a base of
// any layout works (transposed, sliced with a step), as with PyTorch's CopySlices. Its node is
// recorded after the write, which has already given the base its new tangent (the old one with
// the region replaced by result's): forward::commit_inplace sets it, so no JVP runs here.
struct CopySlicesRecord : Named<"copy_slices", "CopySlices">, Linear {
  using Attrs = detail::RegionOfBase;
  static constexpr JvpKind jvp_kind = JvpKind::in_place;
  static void vjp(const Backward<CopySlicesRecord>& b, const Tensor& g, Tensor* grads) {
    const detail::Strided base = b.attrs().base(b.input_sizes(0)), region = b.attrs().region();
    if (b.needs_grad(0)) grads[0] = g * detail::outside_region(base, region, g.dtype());
    if (b.needs_grad(1)) grads[1] = detail::gather_strided(g, b.batch_dims(g), base, region);
  }
};

// PyTorch's overlap rules for writes: self may not have two elements at one address (an expanded
// tensor, an overlapping as_strided view), and a source may alias self only element for element,
// as in x.mul_(x); anything else would read values the same loop has already overwritten, or
// write one address from two threads at once.
void check_overlap(const Tensor& self, std::initializer_list<const Tensor*> sources, const char* op) {
  const auto& s = *self.impl();
  // Dense tensors, nearly every write, cannot overlap themselves and skip the search.
  DYDX_CHECK(s.numel <= 1 || self.is_contiguous() || !detail::has_internal_overlap(s.sizes, s.strides), op,
             ": unsupported operation: more than one element of the written-to tensor refers to a single memory "
             "location. Please clone() the tensor before performing the operation (shape ", self.sizes(),
             ", strides ", self.strides(), ")");
  for (const Tensor* source : sources) {
    DYDX_CHECK(source->defined(), op, ": the source tensor is undefined (shape of the written-to tensor ",
               self.sizes(), ")");
    const auto& o = *source->impl();
    if (o.storage != s.storage || o.dtype != s.dtype) continue;
    const bool identical = o.offset == s.offset && o.sizes == s.sizes && o.strides == s.strides;
    DYDX_CHECK(identical || !detail::layouts_share_memory(s.sizes, s.strides, s.offset, o.sizes, o.strides, o.offset),
               op, ": unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
               "single memory location. Please clone() the tensor before performing the operation (shapes ",
               source->sizes(), " and ", self.sizes(), ")");
  }
}

// other is the source of a binary op, or null.
void check_inplace(const Tensor& self, const char* op, const Tensor* other = nullptr) {
  DYDX_CHECK(self.defined(), op, ": called on an undefined tensor");
  DYDX_CHECK(!other || other->defined(), op, ": the source tensor is undefined (default-constructed or an unused gradient)");
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

// PyTorch's can_cast: never to a lower category (floating > integer > bool).
void check_castable(ScalarType from, ScalarType to, const char* op) {
  auto category = [](ScalarType t) { return t == kBool ? 0 : t == kInt64 ? 1 : 2; };
  DYDX_CHECK(category(from) <= category(to), op, ": result type ", from, " can't be cast to the desired output type ",
             to);
}

// Whether the op must run out of place and commit: to record history, or to carry tangents.
bool needs_history(const Tensor& self, std::initializer_list<const Tensor*> others) {
  if (!self.is_floating_point()) return false;  // an integer tensor carries no derivatives
  // Before anything is written: a tangent at another thread's level cannot be carried here.
  forward::check_no_foreign_tangents({&self});
  for (const Tensor* t : others) forward::check_no_foreign_tangents({t});
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

void bump_version(const Tensor& self) {
  ++self.impl()->storage->version;
  // A write func::compile's steps cannot replay (rewritten() did not take it): the recording is
  // refused and f runs eagerly.
  if (compile::detail::recording()) [[unlikely]] compile::detail::note_write(self);
}

// Under func::compile's recording, an in-place write into a tensor f made, which nothing else
// aliases (compile::detail::can_rewrite), with no autograd history or tangent to carry and outside
// vmap, is a step of its own: `write(self, others)` runs with the recording set aside (the ops it
// runs are its business), and a replay applies the same write to a copy of the old value, so that
// the bits are the eager write's. Returns whether it took the write; the caller writes otherwise
// (and a write into an input, a captured tensor or a view refuses the recording in bump_version).
template <class Write>
bool rewritten(Tensor& self, const char* op, std::initializer_list<const Tensor*> others, Write write) {
  if (!compile::detail::recording()) [[likely]] return false;
  if (vmap::active() || forward::active() || needs_history(self, others) || !compile::detail::can_rewrite(self))
    return false;
  TensorList given;
  for (const Tensor* o : others) given.push_back(*o);
  {
    compile::detail::PauseRecording the_write_itself;
    write(self, given);
  }
  compile::detail::note_rewrite(op, self, std::span<const Tensor* const>(others.begin(), others.size()),
                                [write](const TensorList& in) {
                                  Tensor value = in[0].clone();
                                  write(value, TensorList(in.begin() + 1, in.end()));
                                  return value;
                                });
  return true;
}

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

// Raises, before anything is written, where commit could not record the write. A base whose
// elements share memory (a detached expand) has no history a write through its view could
// rewrite: one location would be several of its elements. PyTorch raises this only in backward.
void check_commit(const Tensor& self, const Tensor& result, const char* op) {
  DYDX_CHECK(result.sizes() == self.sizes(), op, ": output with shape ", self.sizes(),
             " doesn't match the broadcast shape ", result.sizes());
  check_castable(result.dtype(), self.dtype(), op);
  const auto& base = self.impl()->base;
  DYDX_CHECK(!base || !detail::has_internal_overlap(base->sizes, base->strides), op,
             ": unsupported operation: more than one element of the written-to tensor's base (shape ",
             Tensor(base).sizes(), ", strides ", Tensor(base).strides(),
             ") refers to a single memory location, so a write through its view cannot be differentiated. "
             "Please clone() the base first");
}

// Writes result into self and gives self the result's history.
void commit(Tensor& self, Tensor result, const char* op) {
  check_commit(self, result, op);
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
  finish<CopySlicesRecord>({&base, &result}, base,
                           {impl.sizes, impl.strides, impl.offset - base.storage_offset(), base.impl()->strides});
  impl.grad_fn = base.as_strided(impl.sizes, impl.strides, impl.offset).impl()->grad_fn;
  impl.view_version = impl.storage->version.load();
  if (impl.retains_grad) impl.grad_fn->retained = self.impl();
}

// Everything that makes a binary in-place op raise, checked before either path writes (the one
// that records history raised from inside the out-of-place op, naming it instead of op).
void check_binary_inplace(const Tensor& self, const Tensor& other, const char* op, Scalar alpha = 1,
                          bool true_division = false) {
  const Dims shape = detail::broadcast_shapes(self.sizes(), other.sizes(), op);
  DYDX_CHECK(shape == self.impl()->sizes, op, ": output with shape ", self.sizes(), " doesn't match the broadcast shape ",
             shape);
  const std::string_view name(op);
  // A bool operand of sub_ raises as sub's does: writing self - mask into an int64 or float self
  // would compute what PyTorch refuses.
  if (name == "sub_") check_sub_operands(self, other, op);
  const ScalarType type = result_type(self, other);
  check_alpha(type, alpha, op);
  check_castable(true_division && !is_floating_point(type) ? kDefaultDtype : type, self.dtype(), op);
  // Into a bool self (so other is bool too, by the cast check): add_ is or and mul_ is and, as the
  // out-of-place ops and PyTorch's kernels; alpha must be 1, as add's for bools.
  DYDX_CHECK(self.dtype() != kBool || name == "add_" || name == "mul_", op, ": not implemented for bool tensors (shape ",
             self.sizes(), "); use the out-of-place op, or logical_and / logical_or");
  DYDX_CHECK(self.dtype() != kBool || alpha.to_int64() == 1, op, ": alpha must be 1 for bool tensors (got ", alpha,
             ")");
}

// self = self or other (add_) or self and other (mul_), for a bool self and a bool other.
void bool_in_place(const Tensor& self, const Tensor& other, bool is_add) {
  if (is_add) cpu::map2<bool>(self, self, other, [](bool a, bool b) { return a || b; });
  else cpu::map2<bool>(self, self, other, [](bool a, bool b) { return a && b; });
  bump_version(self);
}

template <class F>
void binary_in_place(const Tensor& self, const Tensor& other, F f) {
  Tensor y = cast(other, self.dtype());
  cpu::dispatch(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map2<T>(self, self, y, [f](T a, T b) { return static_cast<T>(f(a, b)); });
  });
  bump_version(self);
}

// An in-place op under vmap writes into self's batch: the others laid out as self's value (batch
// dim at self's, vmap::align_to), then the same in-place op once on the value, which records its
// history and writes through to the value's base as any in-place op does. Callers check functorch's
// rule first (vmap::check_inplace: a batched value cannot be written into a tensor that is not
// batched at its level), before their own checks, so that it is the error a bad write gets.
template <class F>
Tensor& batched_write(Tensor& self, std::initializer_list<const Tensor*> others, F write) {
  const auto* b = vmap::batched(self);
  Tensor value = b->value;
  SmallVector<Tensor, 3> aligned;
  for (const Tensor* t : others) aligned.push_back(vmap::align_to(*t, b->level, self.dim(), b->bdim));
  write(value, aligned);
  return self;
}

}  // namespace
}  // namespace ops

using ops::check_inplace;
using ops::commit;
using ops::needs_history;

Tensor& Tensor::add_(const Tensor& other, Scalar alpha) {
  if (ops::rewritten(*this, "add_", {&other}, [alpha](Tensor& t, const TensorList& o) { t.add_(o[0], alpha); }))
    return *this;
  check_inplace(*this, "add_", &other);
  if (vmap::takes_rule({this, &other})) [[unlikely]] {
    vmap::check_inplace("add_", *this, {&other});
    ops::check_binary_inplace(*this, other, "add_", alpha);
    return ops::batched_write(*this, {&other}, [&](Tensor& v, const auto& o) { v.add_(o[0], alpha); });
  }
  ops::check_overlap(*this, {&other}, "add_");
  ops::check_binary_inplace(*this, other, "add_", alpha);
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::add(*this, other, alpha), "add_");
  } else {
    if (dtype() == kBool) ops::bool_in_place(*this, other, /*is_add=*/true);
    else ops::binary_in_place(*this, other, ops::ScaledAdd::of(alpha, /*negate=*/false));
  }
  return *this;
}

Tensor& Tensor::add_(Scalar other) { return add_(ops::scalar_tensor(other, ops::result_type(*this, other))); }

Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) {
  if (ops::rewritten(*this, "sub_", {&other}, [alpha](Tensor& t, const TensorList& o) { t.sub_(o[0], alpha); }))
    return *this;
  check_inplace(*this, "sub_", &other);
  if (vmap::takes_rule({this, &other})) [[unlikely]] {
    vmap::check_inplace("sub_", *this, {&other});
    ops::check_binary_inplace(*this, other, "sub_", alpha);
    return ops::batched_write(*this, {&other}, [&](Tensor& v, const auto& o) { v.sub_(o[0], alpha); });
  }
  ops::check_overlap(*this, {&other}, "sub_");
  ops::check_binary_inplace(*this, other, "sub_", alpha);
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::sub(*this, other, alpha), "sub_");
  } else {
    ops::binary_in_place(*this, other, ops::ScaledAdd::of(alpha, /*negate=*/true));
  }
  return *this;
}

Tensor& Tensor::mul_(const Tensor& other) {
  if (ops::rewritten(*this, "mul_", {&other}, [](Tensor& t, const TensorList& o) { t.mul_(o[0]); })) return *this;
  check_inplace(*this, "mul_", &other);
  if (vmap::takes_rule({this, &other})) [[unlikely]] {
    vmap::check_inplace("mul_", *this, {&other});
    ops::check_binary_inplace(*this, other, "mul_");
    return ops::batched_write(*this, {&other}, [&](Tensor& v, const auto& o) { v.mul_(o[0]); });
  }
  ops::check_overlap(*this, {&other}, "mul_");
  ops::check_binary_inplace(*this, other, "mul_");
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::mul(ops::snapshot(*this), other), "mul_");
  } else {
    if (dtype() == kBool) ops::bool_in_place(*this, other, /*is_add=*/false);
    else ops::binary_in_place(*this, other, [](auto a, auto b) { return cpu::wrapping_mul(a, b); });
  }
  return *this;
}

Tensor& Tensor::mul_(Scalar other) { return mul_(ops::scalar_tensor(other, ops::result_type(*this, other))); }

Tensor& Tensor::div_(const Tensor& other) {
  if (ops::rewritten(*this, "div_", {&other}, [](Tensor& t, const TensorList& o) { t.div_(o[0]); })) return *this;
  check_inplace(*this, "div_", &other);
  if (vmap::takes_rule({this, &other})) [[unlikely]] {
    vmap::check_inplace("div_", *this, {&other});
    ops::check_binary_inplace(*this, other, "div_", 1, true);
    return ops::batched_write(*this, {&other}, [&](Tensor& v, const auto& o) { v.div_(o[0]); });
  }
  ops::check_overlap(*this, {&other}, "div_");
  ops::check_binary_inplace(*this, other, "div_", 1, true);
  if (needs_history(*this, {&other})) {
    commit(*this, dydx::div(ops::snapshot(*this), other), "div_");
  } else {
    ops::binary_in_place(*this, other, [](auto a, auto b) { return a / b; });
  }
  return *this;
}

// addcmul_ and addcdiv_: self += value * (tensor1 op tensor2). The quotient or product is formed
// first (differentiable, so the write records its history through add), then added as add_ adds.
static Tensor& addc_impl(Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool divide, const char* op) {
  if (ops::rewritten(self, op, {&t1, &t2}, [value, divide, op](Tensor& t, const TensorList& o) {
        addc_impl(t, o[0], o[1], value, divide, op);
      }))
    return self;
  check_inplace(self, op, &t1);
  check_inplace(self, op, &t2);
  DYDX_CHECK(!divide || t1.is_floating_point() || t2.is_floating_point(), op,
             ": Integer division with addcdiv is no longer supported (tensor1 ", t1.dtype(), ", tensor2 ", t2.dtype(), ")");
  if (vmap::takes_rule({&self, &t1, &t2})) [[unlikely]] {
    vmap::check_inplace(op, self, {&t1, &t2});
    detail::broadcast_shapes(t1.sizes(), t2.sizes(), op);
    const Tensor term = divide ? dydx::div(t1, t2) : dydx::mul(t1, t2);
    ops::check_binary_inplace(self, term, op, value);
    return ops::batched_write(self, {&term}, [&](Tensor& v, const auto& o) { v.add_(o[0], value); });
  }
  ops::check_overlap(self, {&t1, &t2}, op);
  detail::broadcast_shapes(t1.sizes(), t2.sizes(), op);
  const Tensor term = divide ? dydx::div(t1, t2) : dydx::mul(t1, t2);
  ops::check_binary_inplace(self, term, op, value);
  if (needs_history(self, {&term})) {
    commit(self, dydx::add(self, term, value), op);
  } else {
    ops::binary_in_place(self, term, ops::ScaledAdd::of(value, /*negate=*/false));
  }
  return self;
}

Tensor& Tensor::addcmul_(const Tensor& t1, const Tensor& t2, Scalar value) {
  return addc_impl(*this, t1, t2, value, false, "addcmul_");
}
Tensor& Tensor::addcdiv_(const Tensor& t1, const Tensor& t2, Scalar value) {
  return addc_impl(*this, t1, t2, value, true, "addcdiv_");
}

Tensor addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value) {
  DYDX_CHECK(self.defined() && t1.defined() && t2.defined(), "addcmul: called with an undefined tensor");
  detail::broadcast_shapes(detail::broadcast_shapes(self.sizes(), t1.sizes(), "addcmul"), t2.sizes(), "addcmul");
  return add(self, mul(t1, t2), value);
}
Tensor addcdiv(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value) {
  DYDX_CHECK(self.defined() && t1.defined() && t2.defined(), "addcdiv: called with an undefined tensor");
  DYDX_CHECK(t1.is_floating_point() || t2.is_floating_point(),
             "addcdiv: Integer division with addcdiv is no longer supported (tensor1 ", t1.dtype(), ", tensor2 ", t2.dtype(), ")");
  detail::broadcast_shapes(detail::broadcast_shapes(self.sizes(), t1.sizes(), "addcdiv"), t2.sizes(), "addcdiv");
  return add(self, div(t1, t2), value);
}
Tensor Tensor::addcmul(const Tensor& t1, const Tensor& t2, Scalar value) const { return dydx::addcmul(*this, t1, t2, value); }
Tensor Tensor::addcdiv(const Tensor& t1, const Tensor& t2, Scalar value) const { return dydx::addcdiv(*this, t1, t2, value); }

template <class Names>
static Tensor& fill_impl(Tensor& self, Scalar value, const char* op) {
  if (ops::rewritten(self, op, {}, [value, op](Tensor& t, const TensorList&) { fill_impl<Names>(t, value, op); }))
    return self;
  check_inplace(self, op);
  ops::check_fill_value(value, self.dtype(), op);
  if (vmap::takes_rule(self)) [[unlikely]] {
    Tensor batch = vmap::batched(self)->value;
    fill_impl<Names>(batch, value, op);
    return self;
  }
  Tensor filled = full({}, value, self.dtype());
  // A view whose elements share addresses (an expanded tensor) can still be filled, as PyTorch fills it:
  // every element gets the same value, so the view without its broadcast dims (stride 0), whose
  // addresses are distinct, is written once each. With history to record, or an overlap that is not a
  // broadcast (an as_strided window), the usual rule refuses.
  if (!needs_history(self, {}) && self.numel() > 1 && !self.is_contiguous()) {
    Tensor distinct = self;
    for (int64_t d = 0; d < distinct.dim(); ++d)
      if (distinct.stride(d) == 0 && distinct.size(d) > 1) distinct = distinct.narrow(d, 0, 1);
    if (!detail::has_internal_overlap(distinct.sizes(), distinct.strides())) {
      detail::copy_values(distinct, filled);
      ops::bump_version(self);
      return self;
    }
  }
  ops::check_overlap(self, {}, op);
  if (needs_history(self, {})) {
    Tensor result = full(self.sizes(), value, self.dtype());
    ops::finish<ops::FillRecord<Names>>({&self}, result);
    commit(self, result, op);
  } else {
    detail::copy_values(self, filled);
    ops::bump_version(self);
  }
  return self;
}

Tensor& Tensor::fill_(Scalar value) { return fill_impl<ops::FillNames>(*this, value, "fill_"); }
Tensor& Tensor::zero_() { return fill_impl<ops::ZeroNames>(*this, 0, "zero_"); }

Tensor& Tensor::copy_(const Tensor& src) {
  if (ops::rewritten(*this, "copy_", {&src}, [](Tensor& t, const TensorList& o) { t.copy_(o[0]); })) return *this;
  check_inplace(*this, "copy_", &src);
  if (vmap::takes_rule({this, &src})) [[unlikely]] {
    vmap::check_inplace("copy_", *this, {&src});
    DYDX_CHECK(detail::broadcast_shapes(sizes(), src.sizes(), "copy_") == impl_ref().sizes, "copy_: source of shape ",
               src.sizes(), " cannot be broadcast to the destination shape ", sizes());
    return ops::batched_write(*this, {&src}, [](Tensor& v, const auto& o) { v.copy_(o[0]); });
  }
  ops::check_overlap(*this, {&src}, "copy_");
  detail::broadcast_shapes(sizes(), src.sizes(), "copy_");
  DYDX_CHECK(detail::broadcast_shapes(sizes(), src.sizes(), "copy_") == impl_ref().sizes, "copy_: source of shape ",
             src.sizes(), " cannot be broadcast to the destination shape ", sizes());
  if (needs_history(*this, {&src})) {
    Tensor result = detail::make_empty(sizes(), dtype());
    detail::copy_values(result, src);
    ops::finish<ops::CopyIntoRecord>({this, &src}, result);
    commit(*this, result, "copy_");
  } else {
    detail::copy_values(*this, src);
    ops::bump_version(*this);
  }
  return *this;
}

// self = f(self). Every check raises before anything is written: the usual in-place ones, then f
// itself (computed out of place) and commit's (an integer self cannot take a floating result).
// With history to record, f reads a snapshot of self, so that what its rule saves survives the write.
template <class F>
static Tensor& unary_in_place(Tensor& self, const char* op, F f) {
  if (ops::rewritten(self, op, {}, [op, f](Tensor& t, const TensorList&) { unary_in_place(t, op, f); })) return self;
  check_inplace(self, op);
  if (vmap::takes_rule(self)) [[unlikely]] {
    // The same write once on the batch (f is elementwise: one sample's result is f of that sample).
    Tensor batch = vmap::batched(self)->value;
    unary_in_place(batch, op, f);
    return self;
  }
  ops::check_overlap(self, {}, op);
  commit(self, f(needs_history(self, {}) ? ops::snapshot(self) : self), op);
  return self;
}

Tensor& Tensor::exp_() { return unary_in_place(*this, "exp_", [](const Tensor& x) { return dydx::exp(x); }); }
Tensor& Tensor::log_() { return unary_in_place(*this, "log_", [](const Tensor& x) { return dydx::log(x); }); }
Tensor& Tensor::sqrt_() { return unary_in_place(*this, "sqrt_", [](const Tensor& x) { return dydx::sqrt(x); }); }
Tensor& Tensor::sin_() { return unary_in_place(*this, "sin_", [](const Tensor& x) { return dydx::sin(x); }); }
Tensor& Tensor::cos_() { return unary_in_place(*this, "cos_", [](const Tensor& x) { return dydx::cos(x); }); }
Tensor& Tensor::tan_() { return unary_in_place(*this, "tan_", [](const Tensor& x) { return dydx::tan(x); }); }
Tensor& Tensor::tanh_() { return unary_in_place(*this, "tanh_", [](const Tensor& x) { return dydx::tanh(x); }); }
Tensor& Tensor::sigmoid_() { return unary_in_place(*this, "sigmoid_", [](const Tensor& x) { return dydx::sigmoid(x); }); }
Tensor& Tensor::relu_() { return unary_in_place(*this, "relu_", [](const Tensor& x) { return dydx::relu(x); }); }
Tensor& Tensor::abs_() { return unary_in_place(*this, "abs_", [](const Tensor& x) { return dydx::abs(x); }); }
Tensor& Tensor::neg_() { return unary_in_place(*this, "neg_", [](const Tensor& x) { return dydx::neg(x); }); }
Tensor& Tensor::log1p_() { return unary_in_place(*this, "log1p_", [](const Tensor& x) { return dydx::log1p(x); }); }
Tensor& Tensor::expm1_() { return unary_in_place(*this, "expm1_", [](const Tensor& x) { return dydx::expm1(x); }); }
Tensor& Tensor::erf_() { return unary_in_place(*this, "erf_", [](const Tensor& x) { return dydx::erf(x); }); }
Tensor& Tensor::asin_() { return unary_in_place(*this, "asin_", [](const Tensor& x) { return dydx::asin(x); }); }
Tensor& Tensor::acos_() { return unary_in_place(*this, "acos_", [](const Tensor& x) { return dydx::acos(x); }); }
Tensor& Tensor::atan_() { return unary_in_place(*this, "atan_", [](const Tensor& x) { return dydx::atan(x); }); }
Tensor& Tensor::sinh_() { return unary_in_place(*this, "sinh_", [](const Tensor& x) { return dydx::sinh(x); }); }
Tensor& Tensor::cosh_() { return unary_in_place(*this, "cosh_", [](const Tensor& x) { return dydx::cosh(x); }); }
Tensor& Tensor::asinh_() { return unary_in_place(*this, "asinh_", [](const Tensor& x) { return dydx::asinh(x); }); }
Tensor& Tensor::acosh_() { return unary_in_place(*this, "acosh_", [](const Tensor& x) { return dydx::acosh(x); }); }
Tensor& Tensor::atanh_() { return unary_in_place(*this, "atanh_", [](const Tensor& x) { return dydx::atanh(x); }); }
Tensor& Tensor::reciprocal_() { return unary_in_place(*this, "reciprocal_", [](const Tensor& x) { return dydx::reciprocal(x); }); }
Tensor& Tensor::rsqrt_() { return unary_in_place(*this, "rsqrt_", [](const Tensor& x) { return dydx::rsqrt(x); }); }
Tensor& Tensor::log2_() { return unary_in_place(*this, "log2_", [](const Tensor& x) { return dydx::log2(x); }); }
Tensor& Tensor::log10_() { return unary_in_place(*this, "log10_", [](const Tensor& x) { return dydx::log10(x); }); }
Tensor& Tensor::exp2_() { return unary_in_place(*this, "exp2_", [](const Tensor& x) { return dydx::exp2(x); }); }
Tensor& Tensor::erfc_() { return unary_in_place(*this, "erfc_", [](const Tensor& x) { return dydx::erfc(x); }); }
Tensor& Tensor::floor_() { return unary_in_place(*this, "floor_", [](const Tensor& x) { return dydx::floor(x); }); }
Tensor& Tensor::ceil_() { return unary_in_place(*this, "ceil_", [](const Tensor& x) { return dydx::ceil(x); }); }
Tensor& Tensor::round_() { return unary_in_place(*this, "round_", [](const Tensor& x) { return dydx::round(x); }); }
Tensor& Tensor::trunc_() { return unary_in_place(*this, "trunc_", [](const Tensor& x) { return dydx::trunc(x); }); }
Tensor& Tensor::frac_() { return unary_in_place(*this, "frac_", [](const Tensor& x) { return dydx::frac(x); }); }
Tensor& Tensor::square_() { return unary_in_place(*this, "square_", [](const Tensor& x) { return dydx::square(x); }); }
// Checked before anything is computed, in PyTorch 1.13's order: a leaf that requires grad, the
// result's dtype (an integer tensor with a floating bound computes in float32, which must fit self's),
// self's overlap, then the bounds.
static void check_clamp_in_place(const Tensor& self, const std::optional<Scalar>& min, const std::optional<Scalar>& max,
                                 const char* op) {
  DYDX_CHECK(self.defined(), op, ": called on an undefined tensor");
  check_inplace(self, op);
  ops::check_castable(ops::clamp_result_type(self, min, max), self.dtype(), op);
  if (!vmap::takes_rule(self)) ops::check_overlap(self, {}, op);
  ops::check_clamp_bounds(self, min, max, op);
}
Tensor& Tensor::clamp_(const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  check_clamp_in_place(*this, min, max, "clamp_");
  // (min and max by value: a func::compile replay runs the write again.)
  return unary_in_place(*this, "clamp_", [min, max](const Tensor& x) { return dydx::clamp(x, min, max); });
}
Tensor& Tensor::clamp_min_(Scalar min) {
  check_clamp_in_place(*this, min, std::nullopt, "clamp_min_");
  return unary_in_place(*this, "clamp_min_", [min](const Tensor& x) { return dydx::clamp_min(x, min); });
}
Tensor& Tensor::clamp_max_(Scalar max) {
  check_clamp_in_place(*this, std::nullopt, max, "clamp_max_");
  return unary_in_place(*this, "clamp_max_", [max](const Tensor& x) { return dydx::clamp_max(x, max); });
}
Tensor& Tensor::nan_to_num_(std::optional<double> nan, std::optional<double> posinf, std::optional<double> neginf) {
  return unary_in_place(*this, "nan_to_num_", [=](const Tensor& x) { return dydx::nan_to_num(x, nan, posinf, neginf); });
}
Tensor& Tensor::clip_(const std::optional<Scalar>& min, const std::optional<Scalar>& max) { return clamp_(min, max); }

// self = tril(self) or triu(self). With history or tangents to carry, the band is computed out of
// place and committed, as every in-place op's result (tril's rule reads nothing of self, so self
// needs no snapshot); otherwise only the elements outside the band are written, zeros, through
// self's own strides. Under vmap the sample's matrix dims are the batch's last two once its batch
// dim is moved in front, a view that the write goes through.
static Tensor& band_in_place(Tensor& self, int64_t diagonal, bool lower) {
  const char* op = lower ? "tril_" : "triu_";
  if (ops::rewritten(self, op, {}, [diagonal, lower](Tensor& t, const TensorList&) { band_in_place(t, diagonal, lower); }))
    return self;
  check_inplace(self, op);
  ops::check_band_rank(self, op);
  if (vmap::takes_rule(self)) [[unlikely]] {
    const auto* b = vmap::batched(self);
    Tensor batch = vmap::batch_first({b->value, b->bdim});
    band_in_place(batch, diagonal, lower);
    return self;
  }
  ops::check_overlap(self, {}, op);
  if (needs_history(self, {})) {
    commit(self, lower ? dydx::tril(self, diagonal) : dydx::triu(self, diagonal), op);
  } else {
    ops::check_commit(self, self, op);  // the checks every in-place write makes, as commit's
    ops::zero_outside_band(self, diagonal, lower);
    ops::bump_version(self);
  }
  return self;
}
Tensor& Tensor::tril_(int64_t diagonal) { return band_in_place(*this, diagonal, true); }
Tensor& Tensor::triu_(int64_t diagonal) { return band_in_place(*this, diagonal, false); }
// cumsum_ and cumprod_: the scan along dim in self's dtype (a dtype given must be self's, as PyTorch
// asks), written back as the unary in-place ops write theirs. Everything is checked before the write.
using ScanFn = Tensor (*)(const Tensor&, int64_t, std::optional<ScalarType>);
static Tensor& scan_in_place(Tensor& self, int64_t dim, std::optional<ScalarType> dtype, const char* op, ScanFn scan) {
  DYDX_CHECK(!dtype || *dtype == self.dtype(), op, ": Bad in-place call: input tensor dtype ", self.dtype(),
             " and output tensor dtype ", *dtype, " should match");
  dim = detail::wrap_dim(dim, self.dim(), op);
  if (ops::rewritten(self, op, {}, [dim, op, scan](Tensor& t, const TensorList&) { scan_in_place(t, dim, std::nullopt, op, scan); }))
    return self;
  check_inplace(self, op);
  if (vmap::takes_rule(self)) [[unlikely]] {
    // The same scan once on the batch, along the sample's dim; a 0-d sample is its own scan.
    DYDX_CHECK(self.dtype() != kBool, op, ": \"", op, "out_cpu\" not implemented for 'Bool'");
    if (self.dim() == 0) return self;
    Tensor batch = vmap::batched(self)->value;
    scan_in_place(batch, vmap::physical_dim(dim, vmap::batched(self)->bdim), std::nullopt, op, scan);
    return self;
  }
  ops::check_overlap(self, {}, op);
  commit(self, scan(needs_history(self, {}) ? ops::snapshot(self) : self, dim, self.dtype()), op);
  return self;
}
Tensor& Tensor::cumsum_(int64_t dim, std::optional<ScalarType> dtype) {
  return scan_in_place(*this, dim, dtype, "cumsum_", [](const Tensor& x, int64_t d, std::optional<ScalarType> t) { return dydx::cumsum(x, d, t); });
}
Tensor& Tensor::cumprod_(int64_t dim, std::optional<ScalarType> dtype) {
  return scan_in_place(*this, dim, dtype, "cumprod_", [](const Tensor& x, int64_t d, std::optional<ScalarType> t) { return dydx::cumprod(x, d, t); });
}
// torch::hardtanh_, relu6_, hardsigmoid_, hardswish_, selu_, mish_, silu_, elu_ and leaky_relu_:
// functions rather than methods, as in libtorch. Each records its out-of-place op's node over a
// snapshot of x's old values, so the gradient is the out-of-place op's. PyTorch's elu_ and selu_
// (EluBackward1) and leaky_relu_ (LeakyReluBackward1) read the result instead, and their backward
// raises for a negative alpha or slope, where this one gives the gradient.
Tensor& hardtanh_(Tensor& x, Scalar min_val, Scalar max_val) {
  return unary_in_place(x, "hardtanh_", [min_val, max_val](const Tensor& v) { return dydx::hardtanh(v, min_val, max_val); });
}
Tensor& relu6_(Tensor& x) { return unary_in_place(x, "relu6_", [](const Tensor& v) { return dydx::relu6(v); }); }
Tensor& hardsigmoid_(Tensor& x) { return unary_in_place(x, "hardsigmoid_", [](const Tensor& v) { return dydx::hardsigmoid(v); }); }
Tensor& hardswish_(Tensor& x) { return unary_in_place(x, "hardswish_", [](const Tensor& v) { return dydx::hardswish(v); }); }
Tensor& selu_(Tensor& x) { return unary_in_place(x, "selu_", [](const Tensor& v) { return dydx::selu(v); }); }
Tensor& mish_(Tensor& x) { return unary_in_place(x, "mish_", [](const Tensor& v) { return dydx::mish(v); }); }
Tensor& silu_(Tensor& x) { return unary_in_place(x, "silu_", [](const Tensor& v) { return dydx::silu(v); }); }
Tensor& elu_(Tensor& x, Scalar alpha) {
  return unary_in_place(x, "elu_", [alpha](const Tensor& v) { return dydx::elu(v, alpha); });
}
Tensor& leaky_relu_(Tensor& x, Scalar negative_slope) {
  return unary_in_place(x, "leaky_relu_", [negative_slope](const Tensor& v) { return dydx::leaky_relu(v, negative_slope); });
}

}  // namespace dydx
