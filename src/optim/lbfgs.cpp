// L-BFGS as PyTorch 1.13's torch.optim.LBFGS computes it, step for step: the two-loop recursion
// over the stored curvature pairs, the first iteration's step min(1, 1/|g|_1) * lr, and the
// strong-Wolfe line search (a bracketing phase, then a zoom phase, both choosing trial steps by
// cubic interpolation and safeguarding them against too little progress). Vectors are flat over
// all parameters, in their dtype; the scalars that PyTorch keeps as 0-d tensors (dot products,
// ro, H_diag) are rounded to that dtype, the loss and the line search's values are doubles.
// Built without contraction into fused multiply-adds, so that each operation rounds as PyTorch's.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/optim.hpp"
#include "optim/parameter_step.hpp"
#include "optim/state_dict.hpp"

namespace dydx::optim {
namespace {

// PyTorch's default max_eval, max_iter * 5 // 4: in 128 bits, since max_iter * 5 overflows int64
// from max_iter ~ 1.8e18 (Python's integers don't), and capped at INT64_MAX, which no count of
// evaluations reaches.
int64_t max_eval_of(const LBFGSOptions& o) {
  if (o.max_eval()) return *o.max_eval();
  const __int128 by_default = static_cast<__int128>(o.max_iter()) * 5 / 4;
  return static_cast<int64_t>(std::min<__int128>(by_default, std::numeric_limits<int64_t>::max()));
}

// Python's max(a, b) and min(a, b): the first argument unless the second is strictly beyond it.
double py_max(double a, double b) { return b > a ? b : a; }
double py_min(double a, double b) { return b < a ? b : a; }

/// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to
/// the bounds (by default the two points); their midpoint when the cubic has no minimiser.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, const double* bounds) {
  const double lo = bounds ? bounds[0] : (x1 <= x2 ? x1 : x2);
  const double hi = bounds ? bounds[1] : (x1 <= x2 ? x2 : x1);
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return py_min(py_max(min_pos, lo), hi);
  }
  return (lo + hi) / 2.;
}

/// One step() of LBFGS over parameters of the C++ type T.
template <class T>
class Run {
 public:
  Run(std::vector<Tensor>& params, int64_t numel, const Optimizer::LossClosure& closure)
      : params_(params), numel_(numel), closure_(closure) {}

  Tensor flat() const { return empty({numel_}, dtype(params_[0].dtype())); }
  static T* at(const Tensor& t) { return t.data_ptr<T>(); }

  /// Runs the closure with grad mode on; the loss as a double, its tensor in loss_tensor.
  double evaluate(Tensor* loss_tensor = nullptr) {
    Tensor loss;
    {
      AutoGradMode enable_grad(true);
      loss = closure_();
    }
    DYDX_CHECK(loss.defined(), "LBFGS: the closure returned an undefined loss");
    DYDX_CHECK(loss.numel() == 1, "LBFGS: the closure must return a scalar loss, got one of shape ", loss.sizes());
    if (loss_tensor) *loss_tensor = loss;
    return loss.template item<double>();
  }

  /// Every parameter's gradient, flattened and joined (zeros where a .grad is undefined).
  Tensor gather_flat_grad() const {
    Tensor out = flat();
    T* o = at(out);
    for (const Tensor& p : params_) {
      const int64_t n = p.numel();
      const Tensor g = detail::step_gradient(p, "LBFGS");
      if (g.defined()) {
        std::copy_n(at(g), n, o);
      } else {
        std::fill_n(o, n, T(0));
      }
      o += n;
    }
    return out;
  }

  /// param += step * update, each parameter from its slice of the flat update.
  void add_grad(double step, const Tensor& update) {
    const T* u = at(update);
    const T alpha = T(step);
    for (Tensor& p : params_) {
      const int64_t n = p.numel();
      detail::update_in_place<T>(p, [&](T* v) {
        for (int64_t k = 0; k < n; ++k) v[k] = std::fma(u[k], alpha, v[k]);
      });
      u += n;
    }
  }

  Tensor clone_params() const {
    Tensor out = flat();
    T* o = at(out);
    for (const Tensor& p : params_) {
      const Tensor values = p.detach().contiguous();
      std::copy_n(at(values), p.numel(), o);
      o += p.numel();
    }
    return out;
  }

  void set_params(const Tensor& x) {
    const T* s = at(x);
    for (Tensor& p : params_) {
      const int64_t n = p.numel();
      detail::update_in_place<T>(p, [&](T* v) { std::copy_n(s, n, v); });
      s += n;
    }
  }

  /// The loss and gradient at x + t * d; the parameters are x again afterwards.
  std::pair<double, Tensor> directional_evaluate(const Tensor& x, double t, const Tensor& d) {
    add_grad(t, d);
    const double f = evaluate();
    Tensor g = gather_flat_grad();
    set_params(x);
    return {f, std::move(g)};
  }

  T dot(const Tensor& a, const Tensor& b) const {
    const T *x = at(a), *y = at(b);
    double sum = 0;
    for (int64_t k = 0; k < numel_; ++k) sum += static_cast<double>(x[k]) * static_cast<double>(y[k]);
    return T(sum);
  }

  T abs_max(const Tensor& a) const {
    const T* x = at(a);
    T m = 0;
    for (int64_t k = 0; k < numel_; ++k) {
      if (std::isnan(x[k])) return x[k];
      m = std::max(m, std::abs(x[k]));
    }
    return m;
  }

  struct LineSearch {
    double f;
    Tensor g;
    double t;
    int64_t evals;
  };

  /// PyTorch's _strong_wolfe: a step t along d from x (loss f, gradient g, slope gtd) that
  /// satisfies the strong Wolfe conditions, or the best one found in max_ls evaluations.
  LineSearch strong_wolfe(const Tensor& x, double t, const Tensor& d, double f, const Tensor& g, double gtd) {
    constexpr double c1 = 1e-4, c2 = 0.9, tolerance_change = 1e-9;
    constexpr int64_t max_ls = 25;
    const double d_norm = abs_max(d);
    // Plain variables, not a structured binding: set_pair captures them (clang 14 refuses bindings).
    double f_new;
    Tensor g_new;
    std::tie(f_new, g_new) = directional_evaluate(x, t, d);
    int64_t evals = 1;
    double gtd_new = dot(g_new, d);
    double t_prev = 0, f_prev = f, gtd_prev = gtd;
    Tensor g_prev = g;
    bool done = false;
    int64_t ls_iter = 0;
    // The bracket: one point (done) or two, with their losses, gradients and slopes.
    double bracket[2] = {0, 0}, bracket_f[2] = {0, 0}, bracket_gtd[2] = {0, 0};
    Tensor bracket_g[2];
    int size = 0;
    auto set_pair = [&] {
      bracket[0] = t_prev, bracket[1] = t;
      bracket_f[0] = f_prev, bracket_f[1] = f_new;
      bracket_g[0] = g_prev, bracket_g[1] = g_new;
      bracket_gtd[0] = gtd_prev, bracket_gtd[1] = gtd_new;
      size = 2;
    };
    while (ls_iter < max_ls) {
      if (f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev)) {
        set_pair();
        break;
      }
      if (std::abs(gtd_new) <= -c2 * gtd) {
        bracket[0] = t, bracket_f[0] = f_new, bracket_g[0] = g_new;
        size = 1;
        done = true;
        break;
      }
      if (gtd_new >= 0) {
        set_pair();
        break;
      }
      const double bounds[2] = {t + 0.01 * (t - t_prev), t * 10};
      const double previous = t;
      t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds);
      t_prev = previous, f_prev = f_new, g_prev = g_new, gtd_prev = gtd_new;
      std::tie(f_new, g_new) = directional_evaluate(x, t, d);
      ++evals;
      gtd_new = dot(g_new, d);
      ++ls_iter;
    }
    if (ls_iter == max_ls) {
      bracket[0] = 0, bracket[1] = t;
      bracket_f[0] = f, bracket_f[1] = f_new;
      bracket_g[0] = g, bracket_g[1] = g_new;
      size = 2;
    }
    // Zoom: shrink the bracket until a point satisfies the conditions.
    bool insufficient_progress = false;
    int low = bracket_f[0] <= bracket_f[size - 1] ? 0 : 1, high = 1 - low;
    while (!done && ls_iter < max_ls) {
      if (std::abs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;
      t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1],
                            nullptr);
      const double top = py_max(bracket[0], bracket[1]), bottom = py_min(bracket[0], bracket[1]);
      const double eps = 0.1 * (top - bottom);
      if (py_min(top - t, t - bottom) < eps) {
        // Too close to an end of the bracket: move away from it, at once if the last trial was
        // close too or t is outside.
        if (insufficient_progress || t >= top || t <= bottom) {
          t = std::abs(t - top) < std::abs(t - bottom) ? top - eps : bottom + eps;
          insufficient_progress = false;
        } else {
          insufficient_progress = true;
        }
      } else {
        insufficient_progress = false;
      }
      std::tie(f_new, g_new) = directional_evaluate(x, t, d);
      ++evals;
      gtd_new = dot(g_new, d);
      ++ls_iter;
      if (f_new > (f + c1 * t * gtd) || f_new >= bracket_f[low]) {
        bracket[high] = t, bracket_f[high] = f_new, bracket_g[high] = g_new, bracket_gtd[high] = gtd_new;
        low = bracket_f[0] <= bracket_f[1] ? 0 : 1, high = 1 - low;
      } else {
        if (std::abs(gtd_new) <= -c2 * gtd) {
          done = true;
        } else if (gtd_new * (bracket[high] - bracket[low]) >= 0) {
          bracket[high] = bracket[low], bracket_f[high] = bracket_f[low];
          bracket_g[high] = bracket_g[low], bracket_gtd[high] = bracket_gtd[low];
        }
        bracket[low] = t, bracket_f[low] = f_new, bracket_g[low] = g_new, bracket_gtd[low] = gtd_new;
      }
    }
    return {bracket_f[low], bracket_g[low], bracket[low], evals};
  }

  /// PyTorch's LBFGS.step on the state s; returns the first loss.
  Tensor step(detail::LBFGSState& s, const LBFGSOptions& o) {
    const int64_t max_iter = o.max_iter(), max_eval = max_eval_of(o);
    const bool line_search = o.line_search_fn().has_value();
    Tensor orig_loss;
    double loss = evaluate(&orig_loss);
    int64_t current_evals = 1;
    s.func_evals += 1;
    Tensor flat_grad = gather_flat_grad();
    if (abs_max(flat_grad) <= o.tolerance_grad()) return orig_loss;

    const T* g = nullptr;
    for (int64_t n_iter = 1; n_iter <= max_iter; ++n_iter) {
      s.n_iter += 1;
      g = at(flat_grad);
      if (s.n_iter == 1) {
        s.d = flat();
        for (int64_t k = 0; k < numel_; ++k) at(s.d)[k] = -g[k];
        s.old_dirs.clear(), s.old_stps.clear(), s.ro.clear();
        s.H_diag = 1;
      } else {
        // The newest curvature pair: y = g - g_prev, s = d * t, kept when y.s > 1e-10.
        Tensor y = flat(), step = flat();
        const T* prev = at(s.prev_flat_grad);
        const T* d = at(s.d);
        const T t = T(s.t);
        for (int64_t k = 0; k < numel_; ++k) at(y)[k] = g[k] - prev[k], at(step)[k] = d[k] * t;
        const T ys = dot(y, step);
        if (ys > 1e-10) {
          if (static_cast<int64_t>(s.old_dirs.size()) == o.history_size()) {
            s.old_dirs.erase(s.old_dirs.begin()), s.old_stps.erase(s.old_stps.begin()), s.ro.erase(s.ro.begin());
          }
          s.ro.push_back(T(T(1) / ys));
          s.H_diag = T(ys / dot(y, y));
          s.old_dirs.push_back(std::move(y));
          s.old_stps.push_back(std::move(step));
        }
        // The two-loop recursion: d = -H g with H the L-BFGS inverse-Hessian approximation.
        const size_t num_old = s.old_dirs.size();
        std::vector<T> al(num_old);
        Tensor q = flat();
        for (int64_t k = 0; k < numel_; ++k) at(q)[k] = -g[k];
        for (size_t i = num_old; i-- > 0;) {
          al[i] = T(dot(s.old_stps[i], q) * T(s.ro[i]));
          const T alpha = -al[i];
          const T* yi = at(s.old_dirs[i]);
          for (int64_t k = 0; k < numel_; ++k) at(q)[k] = std::fma(yi[k], alpha, at(q)[k]);
        }
        const T h = T(s.H_diag);
        T* r = at(q);
        for (int64_t k = 0; k < numel_; ++k) r[k] = r[k] * h;
        for (size_t i = 0; i < num_old; ++i) {
          const T be_i = T(dot(s.old_dirs[i], q) * T(s.ro[i]));
          const T alpha = al[i] - be_i;
          const T* si = at(s.old_stps[i]);
          for (int64_t k = 0; k < numel_; ++k) r[k] = std::fma(si[k], alpha, r[k]);
        }
        s.d = std::move(q);
      }
      s.prev_flat_grad = flat_grad;  // never written in place: later gradients are new tensors
      s.prev_loss = loss;

      // The step length: on the very first iteration scaled down by the gradient's 1-norm.
      if (s.n_iter == 1) {
        double norm1 = 0;
        for (int64_t k = 0; k < numel_; ++k) norm1 += std::abs(static_cast<double>(g[k]));
        const T inverse = T(T(1.) / T(norm1));
        s.t = inverse < 1. ? static_cast<double>(T(inverse * T(o.lr()))) : 1. * o.lr();
      } else {
        s.t = o.lr();
      }
      const double gtd = dot(flat_grad, s.d);
      if (gtd > -o.tolerance_change()) break;  // not a descent direction

      int64_t ls_func_evals = 0;
      bool opt_cond = false;
      if (line_search) {
        const Tensor x_init = clone_params();
        LineSearch found = strong_wolfe(x_init, s.t, s.d, loss, flat_grad, gtd);
        loss = found.f;
        flat_grad = std::move(found.g);
        s.t = found.t;
        ls_func_evals = found.evals;
        add_grad(s.t, s.d);
        opt_cond = abs_max(flat_grad) <= o.tolerance_grad();
      } else {
        add_grad(s.t, s.d);
        if (n_iter != max_iter) {
          loss = evaluate();
          flat_grad = gather_flat_grad();
          opt_cond = abs_max(flat_grad) <= o.tolerance_grad();
          ls_func_evals = 1;
        }
      }
      current_evals += ls_func_evals;
      s.func_evals += ls_func_evals;

      if (n_iter == max_iter || current_evals >= max_eval || opt_cond) break;
      T step_max = 0;
      const T t = T(s.t);
      for (int64_t k = 0; k < numel_; ++k) step_max = std::max(step_max, std::abs(at(s.d)[k] * t));
      if (step_max <= o.tolerance_change()) break;
      if (std::abs(loss - s.prev_loss) < o.tolerance_change()) break;
    }
    return orig_loss;
  }

 private:
  std::vector<Tensor>& params_;
  int64_t numel_;
  const Optimizer::LossClosure& closure_;
};

void check_lbfgs_options(const LBFGSOptions& o) {
  DYDX_CHECK_VALUE(o.lr() >= 0, "LBFGS: Invalid learning rate: ", o.lr());
  DYDX_CHECK(o.max_iter() > 0, "LBFGS: max_iter must be positive, got ", o.max_iter());
  DYDX_CHECK(!o.max_eval() || *o.max_eval() > 0, "LBFGS: max_eval must be positive, got ", o.max_eval().value_or(0));
  DYDX_CHECK(o.history_size() > 0, "LBFGS: history_size must be positive, got ", o.history_size());
  DYDX_CHECK(!o.line_search_fn() || *o.line_search_fn() == "strong_wolfe", "LBFGS: only 'strong_wolfe' is supported, not '",
             o.line_search_fn().value_or(""), "'");
}

std::vector<Tensor> only_group(std::vector<OptimizerParamGroup> groups) {
  DYDX_CHECK(groups.size() == 1, "LBFGS doesn't support per-parameter options (parameter groups); got ",
             groups.size(), " groups");
  return std::move(groups[0].params());
}

}  // namespace

LBFGS::LBFGS(std::vector<Tensor> params, LBFGSOptions defaults)
    : Optimizer(std::move(params), "LBFGS"), options_(std::move(defaults)) {
  check_lbfgs_options(options_);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    DYDX_CHECK(parameters_[i].dtype() == parameters_[0].dtype(), "LBFGS: every parameter must have one dtype; "
               "parameter 0 is ", parameters_[0].dtype(), ", parameter ", i, " is ", parameters_[i].dtype());
    numel_ += parameters_[i].numel();
  }
}

LBFGS::LBFGS(std::vector<OptimizerParamGroup> param_groups, LBFGSOptions defaults)
    : LBFGS(only_group(std::move(param_groups)), std::move(defaults)) {}

Tensor LBFGS::step(LossClosure closure) {
  DYDX_CHECK(closure != nullptr, "LBFGS: step() needs a closure that re-evaluates the loss");
  if (parameters_.empty()) return closure();
  NoGradGuard no_grad;
  // Worked on aside: a closure that throws part way leaves the optimizer and the parameters as
  // they were before the step.
  detail::LBFGSState state = state_;
  Tensor start;
  Tensor loss;
  detail::dispatch_floating(parameters_[0].dtype(), [&]<class T>(T) {
    Run<T> run(parameters_, numel_, closure);
    start = run.clone_params();
    try {
      loss = run.step(state, options_);
    } catch (...) {
      run.set_params(start);
      throw;
    }
  });
  state_ = std::move(state);
  return loss;
}

OptimizerStateDict LBFGS::state_dict() const {
  const LBFGSOptions& o = options_;
  OptimizerStateDict out{"LBFGS",
                         {{"lr", o.lr()},
                          {"max_iter", static_cast<double>(o.max_iter())},
                          {"max_eval", static_cast<double>(max_eval_of(o))},
                          {"tolerance_grad", o.tolerance_grad()},
                          {"tolerance_change", o.tolerance_change()},
                          {"history_size", static_cast<double>(o.history_size())},
                          {"strong_wolfe", o.line_search_fn() ? 1.0 : 0.0}},
                         std::vector<std::map<std::string, Tensor>>(parameters_.size())};
  if (parameters_.empty() || state_.func_evals == 0) return out;
  const detail::LBFGSState& s = state_;
  auto& entry = out.state[0];
  entry["func_evals"] = detail::count_tensor(s.func_evals);
  entry["n_iter"] = detail::count_tensor(s.n_iter);
  if (s.d.defined()) {
    entry["d"] = detail::copy_of(s.d);
    entry["prev_flat_grad"] = detail::copy_of(s.prev_flat_grad);
    entry["t"] = full({}, s.t, dtype(kFloat64));
    entry["H_diag"] = full({}, s.H_diag, dtype(kFloat64));
    entry["prev_loss"] = full({}, s.prev_loss, dtype(kFloat64));
    for (size_t i = 0; i < s.old_dirs.size(); ++i) {
      entry["old_dirs." + std::to_string(i)] = detail::copy_of(s.old_dirs[i]);
      entry["old_stps." + std::to_string(i)] = detail::copy_of(s.old_stps[i]);
      entry["ro." + std::to_string(i)] = full({}, s.ro[i], dtype(kFloat64));
    }
  }
  return out;
}

void LBFGS::load_state_dict(const OptimizerStateDict& state) {
  detail::check_state_kind(state, "LBFGS", parameters_.size());
  detail::OptionReader read(state.options, "LBFGS");
  LBFGSOptions o(read.get("lr"));
  o.max_iter(read.get_int("max_iter")).max_eval(read.get_int("max_eval")).tolerance_grad(read.get("tolerance_grad"));
  o.tolerance_change(read.get("tolerance_change")).history_size(read.get_int("history_size"));
  if (read.get_bool("strong_wolfe")) o.line_search_fn("strong_wolfe");
  read.finish();
  check_lbfgs_options(o);
  for (size_t i = 1; i < state.state.size(); ++i)
    DYDX_CHECK(state.state[i].empty(), "LBFGS::load_state_dict: only parameter 0 has state, parameter ", i, " has some");
  detail::LBFGSState s;
  if (!state.state.empty() && !state.state[0].empty()) {
    const auto& entry = state.state[0];
    const Tensor like = zeros({numel_}, dtype(parameters_[0].dtype()));
    auto scalar = [&](const std::string& key) {
      const auto it = entry.find(key);
      DYDX_CHECK(it != entry.end() && it->second.defined() && it->second.numel() == 1,
                 "LBFGS::load_state_dict: the state needs one number \"", key, "\"");
      return it->second.item<double>();
    };
    s.func_evals = detail::state_count(entry, "func_evals", "LBFGS", 0);
    s.n_iter = detail::state_count(entry, "n_iter", "LBFGS", 0);
    size_t known = 2;
    if (entry.count("d")) {
      s.d = detail::state_tensor(entry, "d", like, "LBFGS", 0);
      s.prev_flat_grad = detail::state_tensor(entry, "prev_flat_grad", like, "LBFGS", 0);
      s.t = scalar("t"), s.H_diag = scalar("H_diag"), s.prev_loss = scalar("prev_loss");
      known += 5;
      for (size_t i = 0; entry.count("old_dirs." + std::to_string(i)); ++i) {
        const std::string k = std::to_string(i);
        s.old_dirs.push_back(detail::state_tensor(entry, "old_dirs." + k, like, "LBFGS", 0));
        s.old_stps.push_back(detail::state_tensor(entry, "old_stps." + k, like, "LBFGS", 0));
        s.ro.push_back(scalar("ro." + k));
        known += 3;
      }
      DYDX_CHECK(static_cast<int64_t>(s.old_dirs.size()) <= o.history_size(), "LBFGS::load_state_dict: the state has ",
                 s.old_dirs.size(), " curvature pairs, more than history_size ", o.history_size());
      DYDX_CHECK(s.n_iter > 0, "LBFGS::load_state_dict: the state has a direction but n_iter 0");
    }
    DYDX_CHECK(known == entry.size(), "LBFGS::load_state_dict: the state has ", entry.size() - known,
               " unknown or out-of-sequence entries");
  }
  options_ = o;
  state_ = std::move(s);
}

}  // namespace dydx::optim
