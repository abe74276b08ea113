// Adam's and AdamW's steps, element by element as PyTorch 1.13's _single_tensor_adam and
// _single_tensor_adamw (foreach=False, capturable=False):
//   param.mul_(1 - lr * weight_decay)                           (AdamW only)
//   grad = grad.add(param, alpha=weight_decay)                  (Adam only, when weight_decay != 0)
//   exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
//   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//   max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq)        (amsgrad)
//   denom = (sqrt(exp_avg_sq or max_exp_avg_sq) / sqrt(1 - beta2 ** step)).add_(eps)
//   param.addcdiv_(exp_avg, denom, value=-lr / (1 - beta1 ** step))
// The scalars are computed in double, as Python computes them, then rounded to the parameter's
// dtype. PyTorch's CPU kernels fuse a.add(b, alpha) into fma(b, alpha, a) and
// a.addcmul(b, c, value) into fma(value * b, c, a); a.addcdiv(b, c, value) is a + value * b / c.
#include <cmath>
#include <tuple>

#include "dydx/autograd.hpp"
#include "dydx/error.hpp"
#include "dydx/optim.hpp"
#include "cpu/parallel.hpp"
#include "optim/parameter_step.hpp"
#include "optim/state_dict.hpp"

namespace dydx::optim {
namespace {

/// The hyperparameters of one step of either optimizer.
struct AdamStepOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled_weight_decay;
};

template <class Options>
void check_adam_options(const Options& o, const char* name) {
  const auto [beta1, beta2] = o.betas();
  DYDX_CHECK_VALUE(o.lr() >= 0, name, ": Invalid learning rate: ", o.lr());
  DYDX_CHECK_VALUE(o.eps() >= 0, name, ": Invalid epsilon value: ", o.eps());
  DYDX_CHECK_VALUE(0 <= beta1 && beta1 < 1.0, name, ": Invalid beta parameter at index 0: ", beta1);
  DYDX_CHECK_VALUE(0 <= beta2 && beta2 < 1.0, name, ": Invalid beta parameter at index 1: ", beta2);
  DYDX_CHECK_VALUE(o.weight_decay() >= 0, name, ": Invalid weight_decay value: ", o.weight_decay());
}

/// One step's scalars, computed in double as Python computes them, then rounded to the parameter's dtype.
template <class T>
struct AdamScalars {
  T neg_step_size, bias_correction2_sqrt, decay, weight_decay, beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
};

/// The step of elements [begin, end). One instantiation per combination of options, so that the loop has no branch
/// and the compiler vectorises it (the same IEEE operations lane by lane, so the same bits as one element at a
/// time). __restrict holds: p is update_in_place's private copy of the parameter, m, v and v_max are this
/// parameter's own state, and g is only read.
template <class T, bool kDecoupled, bool kL2, bool kAmsgrad>
void adam_elements(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict v_max,
                   int64_t begin, int64_t end, const AdamScalars<T> c) {
  for (int64_t k = begin; k < end; ++k) {
    if constexpr (kDecoupled) p[k] = p[k] * c.decay;
    T gk = g[k];
    if constexpr (kL2) gk = std::fma(p[k], c.weight_decay, gk);
    m[k] = std::fma(gk, c.one_minus_beta1, m[k] * c.beta1);
    v[k] = std::fma(c.one_minus_beta2 * gk, gk, v[k] * c.beta2);
    T second_moment = v[k];
    if constexpr (kAmsgrad) second_moment = v_max[k] = detail::maximum(v_max[k], v[k]);
    const T denom = std::sqrt(second_moment) / c.bias_correction2_sqrt + c.eps;
    p[k] = p[k] + c.neg_step_size * m[k] / denom;
  }
}

template <class T>
void adam_update(const Tensor& param, const Tensor& grad, detail::AdamState& s, const AdamStepOptions& o) {
  s.step += 1;
  const double bias_correction1 = 1 - std::pow(o.beta1, static_cast<double>(s.step));
  const double bias_correction2 = 1 - std::pow(o.beta2, static_cast<double>(s.step));
  const AdamScalars<T> c{T(-(o.lr / bias_correction1)), T(std::sqrt(bias_correction2)), T(1 - o.lr * o.weight_decay),
                         T(o.weight_decay), T(o.beta1), T(o.beta2), T(1 - o.beta1), T(1 - o.beta2), T(o.eps)};
  const bool l2 = !o.decoupled_weight_decay && o.weight_decay != 0;

  const T* g = grad.data_ptr<T>();
  T* m = s.exp_avg.data_ptr<T>();
  T* v = s.exp_avg_sq.data_ptr<T>();
  T* v_max = o.amsgrad ? s.max_exp_avg_sq.data_ptr<T>() : nullptr;
  const int64_t n = param.numel();
  detail::update_in_place<T>(param, [&](T* p) {
    auto run = [&]<bool kDecoupled, bool kL2, bool kAmsgrad>() {
      cpu::parallel_for(n, cpu::kElementwiseGrain, [&](int64_t begin, int64_t end) {
        adam_elements<T, kDecoupled, kL2, kAmsgrad>(p, g, m, v, v_max, begin, end, c);
      });
    };
    if (o.decoupled_weight_decay) {
      o.amsgrad ? run.template operator()<true, false, true>() : run.template operator()<true, false, false>();
    } else if (l2) {
      o.amsgrad ? run.template operator()<false, true, true>() : run.template operator()<false, true, false>();
    } else {
      o.amsgrad ? run.template operator()<false, false, true>() : run.template operator()<false, false, false>();
    }
  });
}

Tensor adam_step(std::vector<Tensor>& parameters, std::vector<detail::AdamState>& state, const AdamStepOptions& o,
                 const char* name, const Optimizer::LossClosure& closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode enable_grad(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  const std::vector<size_t> owner = detail::state_owners(parameters);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& param = parameters[i];
    const Tensor grad = detail::step_gradient(param, name);
    if (!grad.defined()) continue;
    detail::AdamState& s = state[owner[i]];
    if (s.step == 0) {
      s.exp_avg = detail::zero_state(param);
      s.exp_avg_sq = detail::zero_state(param);
    }
    // Also when amsgrad was turned on (through options()) after the first step.
    if (o.amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = detail::zero_state(param);
    detail::dispatch_floating(param.dtype(), [&]<class T>(T) { adam_update<T>(param, grad, s, o); });
  }
  return loss;
}

/// The options of either optimizer by name, as their state dicts hold them.
template <class Options>
std::map<std::string, double> adam_option_map(const Options& o) {
  const auto [beta1, beta2] = o.betas();
  return {{"lr", o.lr()}, {"beta1", beta1}, {"beta2", beta2}, {"eps", o.eps()}, {"weight_decay", o.weight_decay()},
          {"amsgrad", o.amsgrad() ? 1.0 : 0.0}};
}

template <class Options>
Options adam_options_of(const OptimizerStateDict& state, const char* name) {
  detail::OptionReader read(state.options, name);
  Options o(read.get("lr"));
  const double beta1 = read.get("beta1"), beta2 = read.get("beta2");
  o.betas({beta1, beta2}).eps(read.get("eps")).weight_decay(read.get("weight_decay")).amsgrad(read.get_bool("amsgrad"));
  read.finish();
  check_adam_options(o, name);
  return o;
}

OptimizerStateDict adam_state_dict(const char* name, std::map<std::string, double> options,
                                   const std::vector<detail::AdamState>& state) {
  OptimizerStateDict out{name, std::move(options), {}};
  for (const detail::AdamState& s : state) {
    auto& entry = out.state.emplace_back();
    if (s.step == 0) continue;  // no state before the parameter's first step, as in PyTorch
    entry["step"] = detail::count_tensor(s.step);
    entry["exp_avg"] = detail::copy_of(s.exp_avg);
    entry["exp_avg_sq"] = detail::copy_of(s.exp_avg_sq);
    if (s.max_exp_avg_sq.defined()) entry["max_exp_avg_sq"] = detail::copy_of(s.max_exp_avg_sq);
  }
  return out;
}

/// The per-parameter states of a saved Adam or AdamW state, checked against the parameters.
std::vector<detail::AdamState> adam_states_of(const OptimizerStateDict& state, const std::vector<Tensor>& params,
                                              bool amsgrad, const char* name) {
  std::vector<detail::AdamState> out(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& s = state.state[i];
    detail::check_state_names(s, {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, name, i);
    if (s.empty()) continue;
    out[i].step = detail::state_count(s, "step", name, i);
    DYDX_CHECK(out[i].step > 0, name, "::load_state_dict: parameter ", i, "'s \"step\" is 0 but it has moments");
    out[i].exp_avg = detail::state_tensor(s, "exp_avg", params[i], name, i);
    out[i].exp_avg_sq = detail::state_tensor(s, "exp_avg_sq", params[i], name, i);
    out[i].max_exp_avg_sq = detail::state_tensor(s, "max_exp_avg_sq", params[i], name, i, /*required=*/amsgrad);
  }
  return out;
}

}  // namespace

OptimizerStateDict Adam::state_dict() const { return adam_state_dict("Adam", adam_option_map(options_), state_); }

void Adam::load_state_dict(const OptimizerStateDict& state) {
  detail::check_state_kind(state, "Adam", parameters_.size());
  AdamOptions o = adam_options_of<AdamOptions>(state, "Adam");
  std::vector<detail::AdamState> s = adam_states_of(state, parameters_, o.amsgrad(), "Adam");
  options_ = o;
  state_ = std::move(s);
}

OptimizerStateDict AdamW::state_dict() const { return adam_state_dict("AdamW", adam_option_map(options_), state_); }

void AdamW::load_state_dict(const OptimizerStateDict& state) {
  detail::check_state_kind(state, "AdamW", parameters_.size());
  AdamWOptions o = adam_options_of<AdamWOptions>(state, "AdamW");
  std::vector<detail::AdamState> s = adam_states_of(state, parameters_, o.amsgrad(), "AdamW");
  options_ = o;
  state_ = std::move(s);
}

Adam::Adam(std::vector<Tensor> params, AdamOptions defaults)
    : Optimizer(std::move(params), "Adam"), options_(defaults), state_(parameters_.size()) {
  check_adam_options(defaults, "Adam");
}

Tensor Adam::step(LossClosure closure) {
  const auto [beta1, beta2] = options_.betas();
  const AdamStepOptions o{options_.lr(), beta1, beta2, options_.eps(), options_.weight_decay(), options_.amsgrad(),
                          /*decoupled_weight_decay=*/false};
  return adam_step(parameters_, state_, o, "Adam", closure);
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions defaults)
    : Optimizer(std::move(params), "AdamW"), options_(defaults), state_(parameters_.size()) {
  check_adam_options(defaults, "AdamW");
}

Tensor AdamW::step(LossClosure closure) {
  const auto [beta1, beta2] = options_.betas();
  const AdamStepOptions o{options_.lr(), beta1, beta2, options_.eps(), options_.weight_decay(), options_.amsgrad(),
                          /*decoupled_weight_decay=*/true};
  return adam_step(parameters_, state_, o, "AdamW", closure);
}

}  // namespace dydx::optim
