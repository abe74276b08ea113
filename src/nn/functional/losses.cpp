// The losses of dydx::nn::functional, composed of differentiable dydx ops (so every mode and order
// of differentiation works through them), with PyTorch 1.13's formulas, reductions and checks; the
// common case of cross_entropy (2-D logits, class indices) is one op with its own rules
// (ops/cross_entropy_rows.hpp).
#include <cmath>
#include <limits>
#include <sstream>

#include "autograd/forward_mode.hpp"
#include "compile/trace.hpp"
#include "core/shape.hpp"
#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/nn/functional.hpp"
#include "dydx/ops.hpp"
#include "ops/cross_entropy_rows.hpp"
#include "vmap/batched.hpp"
#include "vmap/samples.hpp"

namespace dydx::nn::functional {
namespace {

template <class Options>
Tensor reduce(const Tensor& loss, const Options& options) {
  return std::visit(
      [&](auto r) -> Tensor {
        using R = decltype(r);
        if constexpr (std::is_same_v<R, enumtype::kNone>) return loss;
        else if constexpr (std::is_same_v<R, enumtype::kSum>) return loss.sum();
        else return loss.mean();
      },
      options.reduction());
}

bool is_mean(const auto& options) { return std::holds_alternative<enumtype::kMean>(options.reduction()); }
bool is_sum(const auto& options) { return std::holds_alternative<enumtype::kSum>(options.reduction()); }

Tensor scalar_like(const Tensor& like, double value) { return full({}, value, like.dtype()); }

void check_floating(const Tensor& t, const char* loss, const char* what) {
  DYDX_CHECK(t.defined(), loss, ": ", what, " is undefined");
  DYDX_CHECK(t.is_floating_point(), loss, ": expected a floating point ", what, ", got ", t.dtype(), " (shape ",
             t.sizes(), ")");
}

// Input and target of an elementwise loss, which broadcast as PyTorch's do.
void check_pair(const Tensor& input, const Tensor& target, const char* loss) {
  check_floating(input, loss, "input");
  check_floating(target, loss, "target");
  detail::broadcast_shapes(input.sizes(), target.sizes(), loss);
}

void check_same_shape(const Tensor& input, const Tensor& target, const char* loss) {
  check_floating(input, loss, "input");
  check_floating(target, loss, "target");
  DYDX_CHECK(input.sizes() == target.sizes(), loss, ": target shape ", target.sizes(),
             " must be the same as input shape ", input.sizes());
}

// The class dim (1, or 0 for an unbatched [C] input) and the number of classes.
int64_t class_dim_of(const Tensor& input) { return input.dim() == 1 ? 0 : 1; }

// weight (one per class) shaped to broadcast along the class dim of input.
Tensor along_classes(const Tensor& weight, const Tensor& input) {
  Dims shape(input.dim(), 1);
  shape[class_dim_of(input)] = weight.numel();
  return weight.reshape(shape);
}

void check_class_weight(const Tensor& weight, int64_t classes, const char* loss) {
  if (!weight.defined()) return;
  check_floating(weight, loss, "weight");
  DYDX_CHECK(weight.dim() == 1 && weight.size(0) == classes, loss, ": weight must have one element per class, [",
             classes, "], got shape ", weight.sizes());
}

// With class-index targets PyTorch 1.13's kernels take the weight in the input's dtype and raise
// otherwise ("expected scalar type Double but found Float"); with probabilities they promote.
void check_weight_dtype(const Tensor& weight, const Tensor& input, const char* loss) {
  DYDX_CHECK(!weight.defined() || weight.dtype() == input.dtype(), loss, ": expected a weight of the input's dtype ",
             input.dtype(), ", got ", weight.dtype(), " (shape ", weight.sizes(), ")");
}

// Class-index targets: int64, the input's shape without its class dim, each in [0, C) or ignored.
void check_class_indices(const Tensor& input, const Tensor& target, int64_t ignore_index, const char* loss) {
  check_floating(input, loss, "input");
  DYDX_CHECK(input.dim() >= 1, loss, ": expected an input of at least 1 dim ([C] or [N, C, ...]), got shape ",
             input.sizes());
  DYDX_CHECK(target.defined() && target.dtype() == kInt64, loss, ": expected an int64 target of class indices, got ",
             target.defined() ? dtype_name(target.dtype()) : "undefined");
  Dims expected;
  for (int64_t d = 0; d < input.dim(); ++d)
    if (d != class_dim_of(input)) expected.push_back(input.size(d));
  DYDX_CHECK(target.sizes() == IntArrayRef(expected), loss, ": expected a target of shape ", IntArrayRef(expected),
             " for input shape ", input.sizes(), ", got ", target.sizes());
  const int64_t classes = input.size(class_dim_of(input));
  // Under vmap, every sample's targets at once; under func::compile, a step that checks them again at
  // every call.
  auto check_values = [classes, ignore_index, loss, input_shape = Dims(input.sizes().begin(), input.sizes().end())](
                          const TensorList& t) {
    const Tensor targets = vmap::every_sample(t[0]).contiguous();
    const int64_t* p = targets.data_ptr<int64_t>();
    const int64_t n = targets.numel();
    // A pass GCC vectorises (a negative target is a huge unsigned one), then, only if one is out of
    // bounds, the first such, named: the check runs at every compiled call too.
    bool valid = true;
    for (int64_t i = 0; i < n; ++i)
      valid &= (p[i] == ignore_index) | (static_cast<uint64_t>(p[i]) < static_cast<uint64_t>(classes));
    if (valid) [[likely]] return;
    for (int64_t i = 0; i < n; ++i)
      if (!(p[i] == ignore_index || (p[i] >= 0 && p[i] < classes)))  // (an IndexError, as PyTorch's)
        detail::fail_with<IndexError>(loss, ": target ", p[i], " is out of bounds for ", classes, " classes (input shape ",
                                      IntArrayRef(input_shape), ", target shape ", t[0].sizes(), ")");
  };
  if (compile::detail::recording() && !vmap::active()) [[unlikely]]
    compile::detail::record_check(loss, {&target}, check_values);
  else
    check_values({target});
}

// True where target names the class (and is not ignored): input's shape, as a bool mask. It selects
// input's entry at each target class; see nll_loss.
Tensor class_mask(const Tensor& input, const Tensor& target, int64_t ignore_index) {
  const int64_t cd = class_dim_of(input);
  Dims class_shape(input.dim(), 1);
  class_shape[cd] = input.size(cd);
  Tensor classes = arange(input.size(cd), kInt64).reshape(class_shape);
  Tensor targets = target.unsqueeze(cd);
  return logical_and(eq(classes, targets), ne(targets, ignore_index));
}

// binary_cross_entropy's elementwise loss (weighted), with PyTorch 1.13's value and derivatives
// except where noted. The value is (y - 1) max(log1p(-x), -100) - y max(log(x), -100), the clamp in
// the input's dtype (so that float32 gives exactly 100 at 0 and 1). Deliberate deviation: PyTorch
// 1.13's kernel takes log(1 - x), which rounds 1 - x first (x = 1e-10: 1.0000000828e-10 where
// log1p gives 1.00000000005e-10; x = 1e-30: 0 where log1p gives 1e-30); the two differ by about
// the rounding of 1 - x, at most ~2^-52 in absolute terms in float64 (2^-23 in float32). PyTorch's input gradient is (x - y) / max(x (1 - x), eps = 1e-12),
// not the derivative of that value near 0 and 1 (where the clamp makes it flat and a prediction of
// exactly 0 for a positive target would get no gradient). The value is therefore taken without
// history, and a carrier c - detach(c) (exactly 0) adds the derivatives: c is the unclamped loss
// where x (1 - x) > eps, whose derivative is PyTorch's formula there, and beyond it a quadratic in
// x whose x-derivative is (x - y) / eps, so that second order and forward mode follow from the same
// composition. Deliberate deviations beyond eps (PyTorch 1.13's numbers for x = 0, 1e-30, 1 - 1e-16):
// - the target's gradient is that of the clamped value, log1p(-x) - log(x) with each log clamped at
//   -100: 100 at x = 0 and -100 at x = 1 (PyTorch: the unclamped log1p(-x) - log(x), +-inf there,
//   and 115.1 at x = 1e-50, where the y-slope of the loss it returns is 100);
// - d2/dx2 is 1 / eps, the slope of the input gradient dydx and PyTorch return (PyTorch's double
//   backward: (x^2 - 2xy + y) / ((x + 1e-12)^2 (1 - x + 1e-12)^2), the unclamped curvature);
// - the mixed derivative is -1 / eps in both orders, the y-slope of the input gradient (PyTorch:
//   -1 / ((x + 1e-12) (1 - x + 1e-12)) for d(grad_x)/dy, but -1 / (x (1 - x)) for d(grad_y)/dx,
//   -inf at 0 and 1: a composition has one mixed derivative, and -1 / eps keeps it finite and
//   continuous with -1 / (x (1 - x)) inside).
Tensor binary_cross_entropy_elements(const Tensor& input, const Tensor& target, const Tensor& weight) {
  // PyTorch's EPSILON is a float, 1e-12f (9.99999996e-13), in float64 as well.
  const double epsilon = static_cast<double>(1e-12f);
  const Tensor floor = scalar_like(input, -100.0), eps = scalar_like(input, epsilon);
  auto clamped_logs = [&](const Tensor& x) {  // max(log(x), -100) and max(log1p(-x), -100)
    return std::make_pair(maximum(log(x), floor), maximum(log1p(-x), floor));
  };
  Tensor value;
  {
    const Tensor x = input.detach(), y = target.detach();
    auto logs = clamped_logs(x);
    value = (y - 1) * logs.second - y * logs.first;
  }
  // The carrier only where a derivative can be taken.
  if (forward::carries_derivatives(input) || forward::carries_derivatives(target)) {
    const Tensor inner = gt((1 - input.detach()) * input.detach(), eps);
    const Tensor safe_x = where(inner, input, scalar_like(input, 0.5));  // no log(0) in the unused branch
    Tensor unclamped = -(target * log(safe_x) + (1 - target) * log1p(-safe_x));
    auto logs = clamped_logs(input.detach());
    // Beyond eps: (x - y^)^2 / (2 eps) gives d/dx = (x - y) / eps; y (clamped log1p(-x^) - log(x^))
    // gives d/dy; -(x - x^)(y - y^) / eps, 0 with zero first derivatives, gives the mixed second
    // derivative -1 / eps (x^, y^ the detached values).
    const Tensor x_hat = input.detach(), y_hat = target.detach();
    Tensor beyond = (input - y_hat).pow(2) * (0.5 / epsilon) - (input - x_hat) * (target - y_hat) * (1 / epsilon) +
                    target * (logs.second - logs.first);
    Tensor carrier = where(inner, unclamped, beyond);
    value = value + (carrier - carrier.detach());
  }
  return weight.defined() ? value * weight : value;
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, const MSELossFuncOptions& options) {
  check_pair(input, target, "mse_loss");
  // The square as pow(d, 2): the same bits as d * d, and a gradient of one product (2 d g) where
  // d * d's adds two (d g + d g).
  return reduce((input - target).pow(2), options);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossFuncOptions& options) {
  check_pair(input, target, "l1_loss");
  return reduce(abs(input - target), options);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const SmoothL1LossFuncOptions& options) {
  check_pair(input, target, "smooth_l1_loss");
  const double beta = options.beta();
  DYDX_CHECK(beta >= 0, "smooth_l1_loss: beta must not be negative, got ", beta);
  if (beta == 0) return l1_loss(input, target, L1LossFuncOptions().reduction(options.reduction()));
  // With m = min(d, beta): 0.5 m^2 / beta + (d - m) is 0.5 d^2 / beta below beta and d - 0.5 beta
  // above, and unlike where() of the two branches it has no inf * 0 in its gradient at d = inf.
  Tensor d = abs(input - target);
  Tensor m = minimum(d, scalar_like(d, beta));
  return reduce(m * m * (0.5 / beta) + (d - m), options);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, const HuberLossFuncOptions& options) {
  check_pair(input, target, "huber_loss");
  const double delta = options.delta();
  DYDX_CHECK(delta > 0, "huber_loss: delta must be positive, got ", delta);
  // 0.5 m^2 + delta (d - m) with m = min(d, delta), as smooth_l1_loss. An infinite delta never
  // reaches the linear part: PyTorch 1.13 gives 0.5 d^2 (the product form would be 0 * inf = nan).
  Tensor d = abs(input - target);
  if (std::isinf(delta)) return reduce(d * d * 0.5, options);
  Tensor m = minimum(d, scalar_like(d, delta));
  return reduce(m * m * 0.5 + (d - m) * delta, options);
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BinaryCrossEntropyFuncOptions& options) {
  check_same_shape(input, target, "binary_cross_entropy");
  // PyTorch 1.13: "Found dtype Float but expected Double" (the weight may differ; it promotes).
  DYDX_CHECK(target.dtype() == input.dtype(), "binary_cross_entropy: expected a target of the input's dtype ",
             input.dtype(), ", got ", target.dtype());
  // (Under func::compile, a step that checks the values again at every call.)
  auto check_values = [](const TensorList& in) {
    for (double v : vmap::every_sample(in[0]).contiguous().to(kFloat64).to_vector<double>())
      DYDX_CHECK(v >= 0 && v <= 1, "binary_cross_entropy: every element of input must lie in [0, 1], got ", v,
                 " (input shape ", in[0].sizes(), ")");
  };
  if (compile::detail::recording() && !vmap::active()) [[unlikely]]
    compile::detail::record_check("binary_cross_entropy", {&input}, check_values);
  else
    check_values({input});
  if (options.weight().defined()) {
    check_floating(options.weight(), "binary_cross_entropy", "weight");
    detail::broadcast_shapes(options.weight().sizes(), input.sizes(), "binary_cross_entropy (weight)");
  }
  return reduce(binary_cross_entropy_elements(input, target, options.weight()), options);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BinaryCrossEntropyWithLogitsFuncOptions& options) {
  const char* loss_name = "binary_cross_entropy_with_logits";
  check_same_shape(input, target, loss_name);
  // weight and pos_weight broadcast to the input's shape, not beyond it (PyTorch's in-place formula
  // cannot grow its output).
  for (const auto& [t, what] : {std::pair{&options.weight(), "weight"}, std::pair{&options.pos_weight(), "pos_weight"}}) {
    if (!t->defined()) continue;
    check_floating(*t, loss_name, what);
    const std::string op = std::string(loss_name) + " (" + what + ")";
    const Dims shape = detail::broadcast_shapes(t->sizes(), input.sizes(), op.c_str());
    DYDX_CHECK(shape == input.sizes(), loss_name, ": output with shape ", input.sizes(),
               " doesn't match the broadcast shape ", shape, " (", what, " of shape ", t->sizes(), ")");
  }
  // PyTorch 1.13's (1 - t) x + w log(1 + e^-x), w = (p - 1) t + 1 for pos_weight p (1 without), is
  // (1 - t) softplus(x) + p t softplus(-x) (as softplus(x) - softplus(-x) = x): two terms of one
  // sign, so neither the loss nor its gradient, sigmoid(x) (1 - t) - sigmoid(-x) p t, cancels where
  // the first form did (1 - sigmoid(-x) gave 0 for x = -30, t = 0 in float32, where the gradient is
  // 9.4e-14; -inf gave nan). softplus without a threshold is log(1 + e^x) without overflow, one pass,
  // with a one-pass gradient.
  const double no_threshold = std::numeric_limits<double>::infinity();
  const Tensor positive_weight = options.pos_weight().defined() ? options.pos_weight() * target : target;
  Tensor loss = (1 - target) * softplus(input, 1, no_threshold) + positive_weight * softplus(-input, 1, no_threshold);
  if (options.weight().defined()) loss = loss * options.weight();
  return reduce(loss, options);
}

// The selection of input[n, target[n]] is a product with a 0/1 class mask summed over the class
// dim: made of differentiable ops, so that its gradient (the mask times the cotangent) and every
// higher derivative follow. where() rather than a product, so that -inf at classes not chosen (a
// log-probability of 0) passes no nan on.
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossFuncOptions& options) {
  check_class_indices(input, target, options.ignore_index(), "nll_loss");
  const int64_t cd = class_dim_of(input);
  check_class_weight(options.weight(), input.size(cd), "nll_loss");
  check_weight_dtype(options.weight(), input, "nll_loss");
  // Each sample's log-probability at its class, gathered (a mask over every class cost four passes over
  // [N, C]); ignored samples gather class 0 and weigh 0, so their inputs never reach the loss.
  const Tensor kept = ne(target, options.ignore_index());
  const Tensor safe_target = where(kept, target, zeros({}, kInt64));
  const Tensor picked = input.gather(cd, safe_target.unsqueeze(cd)).squeeze(cd);
  // Each sample's weight: its class's, or 1; 0 where ignored.
  Tensor weights = kept.to(input.dtype());
  if (options.weight().defined()) {
    const Tensor class_weights = options.weight().index_select(0, safe_target.reshape({-1})).view(target.sizes());
    weights = where(kept, class_weights, zeros({}, input.dtype()));
  }
  // 0 where ignored: +0, as PyTorch's, and no nan from an ignored sample's values.
  Tensor loss = where(kept, -picked * weights, zeros({}, input.dtype()));
  if (is_mean(options)) return loss.sum() / weights.sum();
  if (is_sum(options)) return loss.sum();
  return loss;
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyFuncOptions& options) {
  const char* name = "cross_entropy";
  const double smoothing = options.label_smoothing();
  DYDX_CHECK(smoothing >= 0 && smoothing <= 1, name, ": label_smoothing must lie in [0, 1], got ", smoothing);
  check_floating(input, name, "input");
  DYDX_CHECK(input.dim() >= 1, name, ": expected an input of at least 1 dim ([C] or [N, C, ...]), got shape ",
             input.sizes());
  const int64_t cd = class_dim_of(input);
  const int64_t classes = input.size(cd);
  check_class_weight(options.weight(), classes, name);
  if (target.defined() && target.is_floating_point()) {
    // Class probabilities, one per class, in the input's shape.
    DYDX_CHECK(target.sizes() == input.sizes(), name, ": a target of class probabilities must have the input's shape ",
               input.sizes(), ", got ", target.sizes());
    Tensor probabilities = smoothing > 0 ? target * (1 - smoothing) + smoothing / static_cast<double>(classes) : target;
    Tensor terms = log_softmax(input, cd) * probabilities;
    if (options.weight().defined()) terms = terms * along_classes(options.weight(), input);
    Tensor loss = -terms.sum({cd});
    if (is_mean(options)) return loss.sum() / (static_cast<double>(input.numel()) / static_cast<double>(classes));
    return is_sum(options) ? loss.sum() : loss;
  }
  check_class_indices(input, target, options.ignore_index(), name);
  check_weight_dtype(options.weight(), input, name);
  const Tensor& weight = options.weight();
  if (smoothing == 0 && input.dim() == 2 && input.numel() > 0 && !vmap::takes_rule({&input, &target, &weight}) &&
      (!weight.defined() || (!weight.requires_grad() && !forward::carries_derivatives(weight)))) {
    // The common case in one op (ops/cross_entropy_rows.hpp), reduced as nll_loss reduces.
    const ops::CrossEntropyRows rows = ops::cross_entropy_rows(input, target, weight, options.ignore_index());
    if (is_mean(options)) return rows.losses.sum() / rows.weights.sum();
    return is_sum(options) ? rows.losses.sum() : rows.losses;
  }
  Tensor log_p = log_softmax(input, cd);
  Tensor nll = nll_loss(log_p, target, NLLLossFuncOptions()
                                           .weight(options.weight())
                                           .ignore_index(options.ignore_index())
                                           .reduction(options.reduction()));
  if (smoothing == 0) return nll;
  // The smoothing term: -sum over classes of (weighted) log-probabilities, zero where ignored,
  // reduced as nll_loss's (PyTorch 1.13's formula).
  Tensor terms = options.weight().defined() ? log_p * along_classes(options.weight(), input) : log_p;
  Tensor kept = ne(target, options.ignore_index()).to(input.dtype());
  Tensor smooth = -terms.sum({cd}) * kept;
  Tensor reduced;
  if (is_mean(options)) {
    if (options.weight().defined()) {
      Tensor mask = class_mask(input, target, options.ignore_index());
      reduced = smooth.sum() / (mask * along_classes(options.weight(), input)).sum();
    } else {
      reduced = smooth.sum() / kept.sum();  // over the targets not ignored
    }
  } else {
    reduced = is_sum(options) ? smooth.sum() : smooth;
  }
  return nll * (1 - smoothing) + reduced * (smoothing / static_cast<double>(classes));
}

}  // namespace dydx::nn::functional
