// Elementwise functions written with recorded ops (where, comparisons, log1p, ...), so that each is
// differentiable to any order, batched under vmap, traced by func::compile and given Taylor
// coefficients by the ops it is made of: clamp with tensor bounds, lerp, logaddexp and logaddexp2,
// logit and round to a number of decimals, with PyTorch 1.13's values, gradients and errors.
//
// Each branch that `where` discards is fed operands that keep its derivatives finite there: where's
// VJP gives a discarded branch a zero cotangent, but 0 * inf is nan, and that nan would reach the
// shared inputs through the branch's other factors.
#include <cmath>
#include <limits>

#include "dydx/error.hpp"
#include "dydx/ops.hpp"
#include "dydx/tensor.hpp"
#include "ops/op_util.hpp"

namespace dydx {

namespace {

Tensor zero_of(ScalarType dtype) { return zeros({}, dtype); }

// PyTorch's kinds of dtype, in promotion order: bool < integer < floating.
int kind_of(ScalarType t) { return is_floating_point(t) ? 2 : t == kBool ? 0 : 1; }

// The dtype of clamp's result for tensor bounds: PyTorch's result_type over x and the bounds at once
// (pairwise folding would lose a 0-d float64 bound once x had been taken to float32): the tensors with
// dims decide, unless the 0-d ones are of a higher kind (bool < integer < floating), whose dtype then joins.
ScalarType clamp_dtype(const Tensor& x, const std::optional<Tensor>& min, const std::optional<Tensor>& max) {
  std::optional<ScalarType> dimmed, zero_dim;
  for (const Tensor* t : {&x, min ? &*min : nullptr, max ? &*max : nullptr}) {
    if (t == nullptr) continue;
    std::optional<ScalarType>& slot = t->dim() > 0 ? dimmed : zero_dim;
    slot = slot ? promote_types(*slot, t->dtype()) : t->dtype();
  }
  if (!dimmed) return *zero_dim;
  if (!zero_dim || kind_of(*zero_dim) <= kind_of(*dimmed)) return *dimmed;
  return promote_types(*dimmed, *zero_dim);
}

// An undefined bound is an absent one, as libtorch reads x.clamp({}, max).
std::optional<Tensor> bound_of(const std::optional<Tensor>& bound) {
  return bound && bound->defined() ? bound : std::nullopt;
}

void check_clamp_tensors(const Tensor& x, const std::optional<Tensor>& min, const std::optional<Tensor>& max,
                         const char* op) {
  DYDX_CHECK(x.defined(), op, ": called with an undefined tensor");
  DYDX_CHECK(min || max, "torch.clamp: At least one of 'min' or 'max' must not be None");
  Dims shape(x.sizes().begin(), x.sizes().end());
  if (min) shape = detail::broadcast_shapes(shape, min->sizes(), op);
  if (max) shape = detail::broadcast_shapes(shape, max->sizes(), op);
  // One bool bound of a bool x is an or (min) or an and (max), as PyTorch's; both have no kernel there.
  DYDX_CHECK(clamp_dtype(x, min, max) != kBool || !(min && max), op, ": \"clamp_cpu\" not implemented for 'Bool' (x ",
             x.sizes(), " and its bounds are all bool)");
}

// An in-place form's checks: self is no leaf that autograd tracks (named as this op, before copy_ would
// name itself), and the result must fit self's shape and dtype, as PyTorch's out= rules.
void check_in_place_result(const Tensor& self, IntArrayRef shape, ScalarType dtype, const char* op) {
  DYDX_CHECK(!(is_grad_enabled() && self.requires_grad() && self.is_leaf()), op,
             ": a leaf Variable that requires grad is being used in an in-place operation (shape ", self.sizes(), ")");
  DYDX_CHECK(std::equal(shape.begin(), shape.end(), self.sizes().begin(), self.sizes().end()), op,
             ": output with shape ", self.sizes(), " doesn't match the broadcast shape ", shape);
  // PyTorch's can_cast: within a kind, or from a lower kind to a higher one, never down.
  DYDX_CHECK(kind_of(dtype) <= kind_of(self.dtype()), op, ": result type ", dtype, " can't be cast to the desired output type ", self.dtype());
}

Dims broadcast_of(std::initializer_list<const Tensor*> tensors, const char* op) {
  Dims shape;
  bool first = true;
  for (const Tensor* t : tensors) {
    if (t == nullptr) continue;
    shape = first ? Dims(t->sizes().begin(), t->sizes().end()) : detail::broadcast_shapes(shape, t->sizes(), op);
    first = false;
  }
  return shape;
}

}  // namespace

// min(max(x, min), max) with nan from any operand, and min > max giving max. Gradients as PyTorch's
// clamp_backward_min_max: x's where min <= x <= max, min's where x < min < max, max's where x > max or
// max < min. Each element takes its value from the operand whose gradient it passes; where none
// does (a nan, or x < min == max) the value is the plain clamp's, which passes no gradient (PyTorch
// still gives max's where the result is nan; here a nan result passes none).
namespace {

Tensor clamp_between(const Tensor& x, const std::optional<Tensor>& given_min, const std::optional<Tensor>& given_max) {
  const std::optional<Tensor> min = bound_of(given_min), max = bound_of(given_max);
  check_clamp_tensors(x, min, max, "clamp");
  const ScalarType dtype = clamp_dtype(x, min, max);
  const Tensor in = x.to(dtype);
  // Detached, not only without grad mode: it must carry no forward-mode tangent either.
  Tensor value = in.detach();
  if (min) value = maximum(value, min->to(dtype).detach());
  if (max) value = minimum(value, max->to(dtype).detach());
  if (min && max) {
    const Tensor lo = min->to(dtype), hi = max->to(dtype);
    const Tensor takes_x = logical_and(ge(in, lo), le(in, hi));
    const Tensor takes_min = logical_and(lt(in, lo), lt(lo, hi));
    const Tensor takes_max = logical_and(logical_or(gt(in, hi), lt(hi, lo)), logical_not(isnan(value)));
    return where(takes_x, in, where(takes_min, lo, where(takes_max, hi, value)));
  }
  if (min) {
    const Tensor lo = min->to(dtype);
    return where(ge(in, lo), in, where(lt(in, lo), lo, value));
  }
  const Tensor hi = max->to(dtype);
  return where(le(in, hi), in, where(gt(in, hi), hi, value));
}

// In place: the result is formed first (nothing is written if that raises), then copied into self.
// No op of the result's history saves self's value (where saves only its condition), so overwriting
// self leaves that history valid.
Tensor& clamp_in_place(Tensor& self, const std::optional<Tensor>& given_min, const std::optional<Tensor>& given_max) {
  const std::optional<Tensor> min = bound_of(given_min), max = bound_of(given_max);
  check_clamp_tensors(self, min, max, "clamp_");
  check_in_place_result(self, broadcast_of({&self, min ? &*min : nullptr, max ? &*max : nullptr}, "clamp_"),
                        clamp_dtype(self, min, max), "clamp_");
  const Tensor result = clamp_between(self, min, max);
  return self.copy_(result);
}

}  // namespace

Tensor clamp(const Tensor& x, const Tensor& min, const std::optional<Tensor>& max) { return clamp_between(x, min, max); }
Tensor clamp(const Tensor& x, std::nullopt_t, const Tensor& max) { return clamp_between(x, std::nullopt, max); }
Tensor clamp_min(const Tensor& x, const Tensor& min) { return clamp_between(x, min, std::nullopt); }
Tensor clamp_max(const Tensor& x, const Tensor& max) { return clamp_between(x, std::nullopt, max); }
Tensor clip(const Tensor& x, const Tensor& min, const std::optional<Tensor>& max) { return clamp_between(x, min, max); }
Tensor clip(const Tensor& x, std::nullopt_t, const Tensor& max) { return clamp_between(x, std::nullopt, max); }
Tensor Tensor::clamp(const Tensor& min, const std::optional<Tensor>& max) const { return clamp_between(*this, min, max); }
Tensor Tensor::clamp(std::nullopt_t, const Tensor& max) const { return clamp_between(*this, std::nullopt, max); }
Tensor Tensor::clamp_min(const Tensor& min) const { return clamp_between(*this, min, std::nullopt); }
Tensor Tensor::clamp_max(const Tensor& max) const { return clamp_between(*this, std::nullopt, max); }
Tensor& Tensor::clamp_(const Tensor& min, const std::optional<Tensor>& max) { return clamp_in_place(*this, min, max); }
Tensor& Tensor::clamp_(std::nullopt_t, const Tensor& max) { return clamp_in_place(*this, std::nullopt, max); }
Tensor& Tensor::clamp_min_(const Tensor& min) { return clamp_in_place(*this, min, std::nullopt); }
Tensor& Tensor::clamp_max_(const Tensor& max) { return clamp_in_place(*this, std::nullopt, max); }
Tensor Tensor::clip(const Tensor& min, const std::optional<Tensor>& max) const { return clamp_between(*this, min, max); }
Tensor Tensor::clip(std::nullopt_t, const Tensor& max) const { return clamp_between(*this, std::nullopt, max); }
Tensor& Tensor::clip_(const Tensor& min, const std::optional<Tensor>& max) { return clamp_in_place(*this, min, max); }
Tensor& Tensor::clip_(std::nullopt_t, const Tensor& max) { return clamp_in_place(*this, std::nullopt, max); }

namespace {

void check_lerp(const Tensor& start, const Tensor& end, const Tensor* weight, const char* op) {
  DYDX_CHECK(start.defined() && end.defined() && (weight == nullptr || weight->defined()), op,
             ": called with an undefined tensor");
  DYDX_CHECK(is_floating_point(start.dtype()), op, ": \"lerp_kernel\" not implemented for ", start.dtype(),
             " tensors (start ", start.sizes(), "); it takes float32 and float64");
  DYDX_CHECK(end.dtype() == start.dtype(), op, ": expected dtype ", start.dtype(), " for `end` but got dtype ",
             end.dtype());
  DYDX_CHECK(weight == nullptr || weight->dtype() == start.dtype(), op, ": expected dtype ", start.dtype(),
             " for `weight` but got dtype ", weight->dtype());
}

}  // namespace

// PyTorch's two-sided formula: start + w (end - start) for w < 0.5, end - (end - start)(1 - w)
// otherwise, so that w = 1 gives end exactly. Gradients 1 - w, w and end - start.
Tensor lerp(const Tensor& start, const Tensor& end, Scalar weight) {
  check_lerp(start, end, nullptr, "lerp");
  broadcast_of({&start, &end}, "lerp");
  // The weight and 1 - w in start's dtype, as PyTorch's kernel forms them.
  const bool single = start.dtype() == kFloat32;
  const double w = single ? static_cast<double>(static_cast<float>(weight.to_double())) : weight.to_double();
  const double complement = single ? static_cast<double>(1.0f - static_cast<float>(w)) : 1.0 - w;
  const Tensor difference = end - start;
  return w < 0.5 ? start + difference * w : end - difference * complement;
}
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  check_lerp(start, end, &weight, "lerp");
  broadcast_of({&start, &end, &weight}, "lerp");
  const Tensor difference = end - start;
  const Tensor low = lt(weight.detach(), 0.5);
  const Tensor zero = zero_of(weight.dtype());
  // Each branch sees a weight of 0 where it is discarded, so its derivatives there are finite.
  const Tensor low_weight = where(low, weight, zero), high_weight = where(low, zero, weight);
  return where(low, start + difference * low_weight, end - difference * (1.0 - high_weight));
}
Tensor Tensor::lerp(const Tensor& end, Scalar weight) const { return dydx::lerp(*this, end, weight); }
Tensor Tensor::lerp(const Tensor& end, const Tensor& weight) const { return dydx::lerp(*this, end, weight); }
Tensor& Tensor::lerp_(const Tensor& end, Scalar weight) {
  check_lerp(*this, end, nullptr, "lerp_");
  check_in_place_result(*this, broadcast_of({this, &end}, "lerp_"), dtype(), "lerp_");
  return copy_(dydx::lerp(*this, end, weight));
}
Tensor& Tensor::lerp_(const Tensor& end, const Tensor& weight) {
  check_lerp(*this, end, &weight, "lerp_");
  check_in_place_result(*this, broadcast_of({this, &end, &weight}, "lerp_"), dtype(), "lerp_");
  return copy_(dydx::lerp(*this, end, weight));
}

namespace {

// log(b^a + b^c) / log(b) for b = e or 2, as the larger plus softplus of the difference (scaled by
// ln 2 for base 2): a + softplus(c - a) where a >= c, else c + softplus(a - c). Each branch is smooth
// across a tie, so derivatives of every order are right there (the form max + log1p(e^-|a - c|) has
// a kink in |a - c| that loses the second derivative at a == c), and neither cancels (the softplus
// of a difference at most 0 is at most log 2). Equal infinities give themselves, as PyTorch's; their
// gradient is nan, as PyTorch's exp(a - out).
Tensor log_add_powers(const Tensor& a, const Tensor& c, bool base2, const char* op) {
  DYDX_CHECK(a.defined() && c.defined(), op, ": called with an undefined tensor");
  const ScalarType dtype = ops::result_type(a, c);
  DYDX_CHECK(is_floating_point(dtype), op, ": \"", op, "_cpu\" not implemented for ", dtype, " (shapes ", a.sizes(),
             " and ", c.sizes(), "); it takes float32 and float64");
  const ScalarType floating = dtype;
  const Tensor x = a.to(floating), y = c.to(floating);
  broadcast_of({&x, &y}, op);
  const auto tail = [base2](const Tensor& difference) {
    constexpr double kLn2 = 0.693147180559945309417232121458176568;
    return base2 ? softplus(difference * kLn2) * (1 / kLn2) : softplus(difference);
  };
  const Tensor equal_infinities = logical_and(eq(x.detach(), y.detach()), isinf(x.detach()));
  const Tensor x_wins = ge(x.detach(), y.detach());
  return where(equal_infinities, x, where(x_wins, x + tail(y - x), y + tail(x - y)));
}

}  // namespace

Tensor logaddexp(const Tensor& a, const Tensor& b) { return log_add_powers(a, b, false, "logaddexp"); }
Tensor logaddexp2(const Tensor& a, const Tensor& b) { return log_add_powers(a, b, true, "logaddexp2"); }
Tensor Tensor::logaddexp(const Tensor& other) const { return dydx::logaddexp(*this, other); }
Tensor Tensor::logaddexp2(const Tensor& other) const { return dydx::logaddexp2(*this, other); }

// log(z / (1 - z)) as log(z) - log1p(-z), whose derivative 1 / z + 1 / (1 - z) is inf at 0 and 1
// (the quotient's form gives 0 * inf there). With eps, z is x moved into [eps, 1 - eps] as PyTorch
// moves it (below eps first), and the gradient is zero outside; a negative eps is none, and then x
// outside [0, 1] gives nan with a nan gradient.
Tensor logit(const Tensor& x, std::optional<double> eps) {
  DYDX_CHECK(x.defined(), "logit: called with an undefined tensor");
  const ScalarType floating = is_floating_point(x.dtype()) ? x.dtype() : kDefaultDtype;
  Tensor z = x.to(floating);
  const bool moved = eps && *eps >= 0;
  if (moved) {
    const Tensor lo = full({}, *eps, floating), hi = full({}, 1.0 - *eps, floating);
    // The gradient passes where eps <= x <= 1 - eps only (not at a nan x, as PyTorch's).
    if (*eps > 0.5) {
      // An empty interval: every x moves to 1 - eps (PyTorch's vectorised min(max(x, lo), hi)), a nan
      // stays; the result still hangs off x, with a zero gradient.
      z = where(logical_not(isnan(z.detach())), hi, z);
    } else {
      const Tensor inside = logical_and(ge(z.detach(), lo), le(z.detach(), hi));
      const Tensor below = lt(z.detach(), lo), above = gt(z.detach(), hi);
      z = where(inside, z, where(below, lo, where(above, hi, z.detach())));
    }
  } else {
    // Outside [0, 1] the value is nan, and so is the gradient, as PyTorch's (the sum of slopes would
    // be finite there): z times nan outside, times 1 (exactly z, -0 kept) inside.
    const Tensor outside = logical_or(lt(z.detach(), 0), gt(z.detach(), 1));
    z = z * where(outside, full({}, std::numeric_limits<double>::quiet_NaN(), floating), ones({}, floating));
  }
  const Tensor out = log(z) - log1p(-z);
  // A nan x passes no gradient and no tangent (the tangent 0 times log's slope 1 / nan would be nan).
  return moved ? where(isnan(z.detach()), out.detach(), out) : out;
}
Tensor Tensor::logit(std::optional<double> eps) const { return dydx::logit(*this, eps); }

// PyTorch's round(x, decimals): x scaled by 10^decimals, rounded half to even, scaled back (by
// division, or for negative decimals by 10^-decimals the other way round), each step in x's dtype.
Tensor round(const Tensor& x, int64_t decimals) {
  DYDX_CHECK(x.defined(), "round: called with an undefined tensor");
  DYDX_CHECK(is_floating_point(x.dtype()), "round: \"round_cpu\" not implemented for ", x.dtype(),
             " tensors with decimals (shape ", x.sizes(), ")");
  if (decimals == 0) return round(x);
  const double scale = std::pow(10.0, static_cast<double>(decimals > 0 ? decimals : -decimals));
  return decimals > 0 ? round(x * scale) / scale : round(x / scale) * scale;
}
Tensor Tensor::round(int64_t decimals) const { return dydx::round(*this, decimals); }

}  // namespace dydx
