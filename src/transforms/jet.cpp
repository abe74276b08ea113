// func::jet: Taylor-mode propagation through one forward pass at a Taylor level.
//
// The coefficients travel normalised, x(t) = x_0 + x_1 t + ... + x_K t^K, so that the ops' Taylor
// rules are the plain recurrences (a product's coefficients are a Cauchy product, a composition's
// Faa di Bruno's formula); jet takes and returns derivatives, x^(k) = k! x_k, as jax.experimental.jet.
#include "dydx/func.hpp"

#include "transforms/checks.hpp"
#include "transforms/history.hpp"
#include "transforms/lowering.hpp"

#include "autograd/forward_mode.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/forward_ad.hpp"
#include "dydx/ops.hpp"

namespace dydx::func {

namespace {

// The common order K of the series (those not empty), after checking each term's shape and dtype.
int64_t checked_order(const TensorList& primals, const std::vector<TensorList>& series) {
  DYDX_CHECK(!primals.empty(), "jet(f, primals, series): expected primals to contain at least one tensor");
  DYDX_CHECK(series.size() == primals.size(), "jet: expected one series per primal, got ", series.size(),
             " series for ", primals.size(), " primals");
  int64_t order = 0;
  for (size_t i = 0; i < primals.size(); ++i) {
    const Tensor& p = primals[i];
    DYDX_CHECK(p.defined(), "jet: primal ", i, " is undefined");
    if (series[i].empty()) continue;
    DYDX_CHECK(p.is_floating_point(), "jet: primal ", i, " has dtype ", p.dtype(),
               "; Taylor coefficients need a floating dtype");
    const int64_t k = static_cast<int64_t>(series[i].size());
    DYDX_CHECK(order == 0 || k == order, "jet: every series must have the same number of terms, but series ", i,
               " has ", k, " where an earlier one has ", order);
    order = k;
    for (size_t t = 0; t < series[i].size(); ++t) {
      const Tensor& term = series[i][t];
      DYDX_CHECK(term.defined() && term.sizes() == p.sizes(), "jet: term ", t + 1, " of series ", i, " has shape ",
                 term.defined() ? term.sizes() : IntArrayRef{}, " but primal ", i, " has shape ", p.sizes());
      DYDX_CHECK(term.dtype() == p.dtype(), "jet: term ", t + 1, " of series ", i, " has dtype ", term.dtype(),
                 " but primal ", i, " has dtype ", p.dtype());
    }
  }
  DYDX_CHECK(order > 0, "jet: every series is empty; give at least one primal a series of K >= 1 terms");
  return order;
}

JetResult jet_on_batches(const Function& f, const TensorList& primals, const std::vector<TensorList>& series,
                         int64_t order) {
  const bool caller_records = is_grad_enabled();
  forward_ad::DualLevel level;
  forward::make_taylor_level(level.level(), order);
  TensorList duals = primals;
  for (size_t i = 0; i < primals.size(); ++i) {
    if (series[i].empty()) continue;
    TensorList normalised;
    double factorial = 1;
    for (int64_t k = 1; k <= order; ++k) {
      factorial *= static_cast<double>(k);
      normalised.push_back(k == 1 ? series[i][0] : series[i][k - 1] / factorial);
    }
    duals[i] = forward::make_batched_dual(primals[i], stack(normalised));
  }
  TensorList outputs = f(duals);
  detail::check_outputs(outputs, "jet");
  JetResult result;
  for (const Tensor& out : outputs) {
    auto [primal, coefficients] = forward_ad::unpack_dual(out);
    result.primals_out.push_back(primal);
    TensorList terms;
    double factorial = 1;
    for (int64_t k = 1; k <= order; ++k) {
      factorial *= static_cast<double>(k);
      if (!coefficients.defined()) terms.push_back(zeros_like(primal));
      else terms.push_back(k == 1 ? coefficients[0] : coefficients[k - 1] * factorial);
    }
    result.series_out.push_back(std::move(terms));
  }
  result.primals_out = detail::release(result.primals_out, {}, caller_records);
  for (TensorList& terms : result.series_out) terms = detail::release(terms, {}, caller_records);
  return result;
}

}  // namespace

JetResult jet(const Function& f, const TensorList& primals, const std::vector<TensorList>& series) {
  const int64_t order = checked_order(primals, series);
  if (!vmap::active()) return jet_on_batches(f, primals, series, order);
  // Inside vmap, as jvp: the primals batched themselves or through a term of their series are lowered
  // to the batch, and the Taylor level runs on the batches.
  const detail::Lowering low;
  std::vector<bool> mask(primals.size());
  for (size_t i = 0; i < primals.size(); ++i) {
    mask[i] = vmap::batched(primals[i]) != nullptr;
    for (const Tensor& term : series[i]) mask[i] = mask[i] || vmap::batched(term) != nullptr;
  }
  std::vector<TensorList> lowered_series;
  for (size_t i = 0; i < primals.size(); ++i)
    lowered_series.push_back(mask[i] ? low.lower(series[i]) : series[i]);
  JetResult batches = jet_on_batches(low.lowered(f, mask), low.lower(primals, mask), lowered_series, order);
  JetResult result{low.raise(batches.primals_out), {}};
  for (const TensorList& terms : batches.series_out) result.series_out.push_back(low.raise(terms));
  return result;
}

}  // namespace dydx::func
