#include "lbfgs.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <utility>

using dydx::Tensor;

namespace pinn {

namespace {

using Vec = std::vector<double>;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs(const Vec& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to [lo, hi];
// the middle of [lo, hi] when the cubic has no minimum.
double cubic_minimum(double x1, double f1, double g1, double x2, double f2, double g2, double lo, double hi) {
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_squared = d1 * d1 - g1 * g2;
  if (!(d2_squared >= 0)) return (lo + hi) / 2;
  const double d2 = std::sqrt(d2_squared);
  const double x = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                            : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
  return std::isfinite(x) ? std::clamp(x, lo, hi) : (lo + hi) / 2;
}

struct Trial {
  double t, f, gtd;
  Vec g;
};

// A step length t along d satisfying the strong Wolfe conditions (sufficient decrease c1 = 1e-4, curvature
// c2 = 0.9), or the best found in 25 evaluations: first growing t until the minimum is bracketed, then
// shrinking the bracket by cubic interpolation. eval(t) returns the loss and gradient at x0 + t d.
std::pair<Trial, int> strong_wolfe(const std::function<double(double, Vec&)>& eval, const Vec& d, double t, double f0,
                                   const Vec& g0, double gtd0, double tolerance_change) {
  constexpr double c1 = 1e-4, c2 = 0.9;
  constexpr int max_ls = 25;  // evaluations after the first
  const double d_norm = max_abs(d);
  Trial now{t, 0, 0, {}};
  now.f = eval(t, now.g);
  now.gtd = dot(now.g, d);
  int ls_iter = 0;
  Trial prev{0, f0, gtd0, g0};
  std::vector<Trial> bracket;  // one entry when the first phase already satisfied the conditions
  bool done = false;
  while (ls_iter < max_ls) {
    if (now.f > f0 + c1 * now.t * gtd0 || (ls_iter > 1 && now.f >= prev.f)) {
      bracket = {prev, now};
      break;
    }
    if (std::abs(now.gtd) <= -c2 * gtd0) {
      bracket = {now};
      done = true;
      break;
    }
    if (now.gtd >= 0) {
      bracket = {prev, now};
      break;
    }
    // Still descending: extrapolate, at least 1% beyond t and at most ten times as far.
    const double next = cubic_minimum(prev.t, prev.f, prev.gtd, now.t, now.f, now.gtd, now.t + 0.01 * (now.t - prev.t), now.t * 10);
    prev = std::move(now);
    now = Trial{next, 0, 0, {}};
    now.f = eval(next, now.g);
    now.gtd = dot(now.g, d);
    ++ls_iter;
  }
  if (bracket.empty()) bracket = {Trial{0, f0, gtd0, g0}, now};

  // Zoom: bracket[low] is the better end; the other end keeps the minimum inside.
  bool insufficient_progress = false;
  auto order = [&] { return bracket[0].f <= bracket.back().f ? std::pair{0, 1} : std::pair{1, 0}; };
  auto [low, high] = bracket.size() == 2 ? order() : std::pair{0, 0};
  while (!done && ls_iter < max_ls) {
    const double a = bracket[0].t, b = bracket[1].t, lo = std::min(a, b), hi = std::max(a, b);
    if (std::abs(b - a) * d_norm < tolerance_change) break;
    double t_new = cubic_minimum(a, bracket[0].f, bracket[0].gtd, b, bracket[1].f, bracket[1].gtd, lo, hi);
    // Keep trial points off the bracket's ends, or the bracket might shrink by a hair at a time.
    const double margin = 0.1 * (hi - lo);
    if (std::min(hi - t_new, t_new - lo) < margin) {
      if (insufficient_progress || t_new >= hi || t_new <= lo) {
        t_new = std::abs(t_new - hi) < std::abs(t_new - lo) ? hi - margin : lo + margin;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    Trial trial{t_new, 0, 0, {}};
    trial.f = eval(t_new, trial.g);
    trial.gtd = dot(trial.g, d);
    ++ls_iter;
    if (trial.f > f0 + c1 * t_new * gtd0 || trial.f >= bracket[low].f) {
      bracket[high] = std::move(trial);
      std::tie(low, high) = order();
    } else {
      if (std::abs(trial.gtd) <= -c2 * gtd0) done = true;
      else if (trial.gtd * (bracket[high].t - bracket[low].t) >= 0) bracket[high] = bracket[low];
      bracket[low] = std::move(trial);
    }
  }
  return {std::move(bracket[low]), ls_iter + 1};
}

}  // namespace

Lbfgs::Lbfgs(std::vector<Tensor> params, LbfgsOptions options) : parameters_(std::move(params)), options_(options) {
  for (const Tensor& p : parameters_)
    if (!p.defined() || p.scalar_type() != dydx::kFloat64 || !p.is_contiguous() || !p.is_leaf())
      throw std::invalid_argument("pinn::Lbfgs: the example's fallback LBFGS takes contiguous float64 leaf tensors only");
}

void Lbfgs::zero_grad() {
  for (Tensor& p : parameters_) p.set_grad(Tensor());
}

Lbfgs::Vec Lbfgs::gather_grad() const {
  Vec g;
  for (const Tensor& p : parameters_) {
    const Tensor grad = p.grad();
    if (!grad.defined()) {
      g.insert(g.end(), p.numel(), 0.0);
      continue;
    }
    const Tensor c = grad.contiguous();
    g.insert(g.end(), c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
  return g;
}

Lbfgs::Vec Lbfgs::get_params() const {
  Vec x;
  for (const Tensor& p : parameters_) x.insert(x.end(), p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  return x;
}

void Lbfgs::set_params(const Vec& x) {
  // Written in place with grad mode off, as an optimizer's update is: each parameter stays the same leaf.
  dydx::NoGradGuard no_grad;
  size_t offset = 0;
  for (Tensor& p : parameters_) {
    std::copy_n(x.data() + offset, p.numel(), p.data_ptr<double>());
    offset += static_cast<size_t>(p.numel());
  }
}

double Lbfgs::evaluate(const LossClosure& closure, Vec& grad) {
  const dydx::AutoGradMode enable_grad(true);  // the closure needs a graph even if step() runs under no_grad
  const Tensor loss = closure();
  grad = gather_grad();
  return loss.to(dydx::kFloat64).item<double>();
}

Tensor Lbfgs::step(LossClosure closure) {
  if (!closure) throw std::invalid_argument("pinn::Lbfgs::step needs a closure, as LBFGS re-evaluates the loss");
  Vec g;
  const Tensor first_loss = [&] {
    const dydx::AutoGradMode enable_grad(true);
    return closure();
  }();
  double loss = first_loss.to(dydx::kFloat64).item<double>();
  g = gather_grad();
  if (max_abs(g) <= options_.tolerance_grad) return first_loss;
  const int64_t max_eval = options_.max_eval > 0 ? options_.max_eval : options_.max_iter * 5 / 4;
  int64_t evals = 1;
  for (int64_t iter = 1; iter <= options_.max_iter; ++iter) {
    ++n_iter_;
    if (n_iter_ == 1) {
      direction_ = g;
      for (double& v : direction_) v = -v;
      h_diag_ = 1;
    } else {
      // The newest curvature pair, kept only when it keeps the inverse-Hessian estimate positive definite.
      Vec y(g.size()), s(g.size());
      for (size_t i = 0; i < g.size(); ++i) y[i] = g[i] - prev_grad_[i], s[i] = direction_[i] * t_;
      const double ys = dot(y, s);
      if (ys > 1e-10) {
        if (static_cast<int64_t>(old_steps_.size()) == options_.history_size) {
          old_steps_.pop_front();
          old_grad_diffs_.pop_front();
          rho_.pop_front();
        }
        h_diag_ = ys / dot(y, y);
        old_steps_.push_back(std::move(s));
        old_grad_diffs_.push_back(std::move(y));
        rho_.push_back(1 / ys);
      }
      // Two-loop recursion: direction = -H g with H the limited-memory inverse-Hessian estimate.
      const size_t m = old_steps_.size();
      Vec q = g, alpha(m);
      for (double& v : q) v = -v;
      for (size_t k = m; k-- > 0;) {
        alpha[k] = rho_[k] * dot(old_steps_[k], q);
        for (size_t i = 0; i < q.size(); ++i) q[i] -= alpha[k] * old_grad_diffs_[k][i];
      }
      for (double& v : q) v *= h_diag_;
      for (size_t k = 0; k < m; ++k) {
        const double beta = rho_[k] * dot(old_grad_diffs_[k], q);
        for (size_t i = 0; i < q.size(); ++i) q[i] += old_steps_[k][i] * (alpha[k] - beta);
      }
      direction_ = std::move(q);
    }
    prev_grad_ = g;
    prev_loss_ = loss;
    // The very first step is scaled down by the gradient's size, as nothing is known yet of the curvature.
    double l1 = 0;
    for (double v : g) l1 += std::abs(v);
    t_ = n_iter_ == 1 ? std::min(1.0, 1.0 / l1) * options_.lr : options_.lr;
    const double gtd = dot(g, direction_);
    if (gtd > -options_.tolerance_change) break;  // not a descent direction any more

    const Vec x0 = get_params();
    auto at = [&](double t) {
      Vec x = x0;
      for (size_t i = 0; i < x.size(); ++i) x[i] += t * direction_[i];
      return x;
    };
    if (options_.strong_wolfe) {
      auto eval = [&](double t, Vec& grad) {
        set_params(at(t));
        return evaluate(closure, grad);
      };
      auto [best, used] = strong_wolfe(eval, direction_, t_, loss, g, gtd, options_.tolerance_change);
      t_ = best.t;
      loss = best.f;
      g = std::move(best.g);
      set_params(at(t_));
      evals += used;
    } else {
      set_params(at(t_));
      if (iter != options_.max_iter) {
        loss = evaluate(closure, g);
        ++evals;
      }
    }
    if (iter == options_.max_iter || evals >= max_eval) break;
    if (max_abs(g) <= options_.tolerance_grad) break;
    if (max_abs(direction_) * std::abs(t_) <= options_.tolerance_change) break;
    if (std::abs(loss - prev_loss_) < options_.tolerance_change) break;
  }
  return first_loss;
}

}  // namespace pinn
