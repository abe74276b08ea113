// Differential operators of row-wise functions from Taylor coefficients: derivative_diagonal,
// hessian_diagonal, weighted_laplacian, biharmonic and linear_operator.
//
// One pass of f at a Taylor level (forward::make_taylor_level) of order K carries each tensor's
// coefficients along x_b + t v_r for R directions at once, [K, R, B, ...]; the K-th coefficient times
// K! is the K-th directional derivative D_v^K f. Every operator here is a weighted sum of those:
//   - the diagonal of the order-K derivatives: D^K along each axis e_i;
//   - tr(sigma sigma^T H) = sum_j D^2 along column j of sigma (Hutchinson: E[D^2 along sigma v] for
//     Rademacher v, whose E[v v^T] = I);
//   - Delta^2 = Delta(Delta): exactly, two nested forward-Laplacian levels (the collapsed Taylor mode
//     of order 2, with its fused activation steps); estimated, E[D^4(v)] = 3 Delta^2 for Gaussian v
//     (Isserlis), the fourth coefficients summed at a collapsed Taylor level of order 4
//     (forward::make_collapsed_taylor_level; Dangel et al. 2025): the coefficients below the 4th per
//     direction, the 4th only as the sum.
//   - any sum of mixed partials of order k: a weighted sum of D^k along the lattice directions
//     sum_i beta_i e_i, |beta| = k (interpolation, see interpolation_weights), collapsed.
// Sums of second derivatives run at a forward-Laplacian level (func::laplacian's) seeded with the
// directions; derivative_diagonal keeps every direction's coefficients.
#include "dydx/func.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "autograd/forward_mode.hpp"
#include "core/shape.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/forward_ad.hpp"
#include "dydx/generator.hpp"
#include "dydx/ops.hpp"
#include "transforms/rows.hpp"
#include "vmap/batched.hpp"

// LAPACK's dense solve, which the OpenBLAS dydx links provides.
extern "C" void dgesv_(const int* n, const int* nrhs, double* a, const int* lda, int* ipiv, double* b, const int* ldb,
                       int* info);

namespace dydx::func {

namespace {

using detail::row_shape;

Dims concat_dims(Dims front, IntArrayRef back) {
  for (int64_t s : back) front.push_back(s);
  return front;
}

// The number of multi-indices of order k over n variables, C(n + k - 1, k).
int64_t multi_indices(int64_t n, int64_t k) {
  double count = 1;
  for (int64_t i = 1; i <= k; ++i) count = count * static_cast<double>(n - 1 + i) / static_cast<double>(i);
  return static_cast<int64_t>(std::llround(count));
}

double factorial(int64_t k) {
  double out = 1;
  for (int64_t i = 2; i <= k; ++i) out *= static_cast<double>(i);
  return out;
}

// D^order f(x_b) along each direction: directions [R, ...in] (the same for every row) give
// [R, B, ...out], from one pass of f at a Taylor level.
Tensor directional_derivatives(const UnaryFunction& f, const Tensor& x, const Tensor& directions, int64_t order,
                               const char* op) {
  const int64_t count = directions.size(0);
  Dims seed_shape = {count, x.size(0)};
  for (int64_t s : row_shape(x)) seed_shape.push_back(s);
  // Coefficient 1 is the direction in every row; the higher ones of a straight line are zero.
  const Tensor first = directions.unsqueeze(1).expand(seed_shape).unsqueeze(0);
  Dims rest_shape = seed_shape;
  rest_shape.insert_at(0, order - 1);
  const Tensor seed = order == 1 ? first.contiguous() : cat({first, zeros(rest_shape, x.dtype())});
  forward_ad::DualLevel level;
  forward::make_taylor_level(level.level(), order);
  const Tensor out = f(forward::make_batched_dual(x, seed));
  detail::check_row_wise_output(x, out, op);
  auto [y, coefficients] = forward_ad::unpack_dual(out, level.level());
  Dims result_shape = {count};
  for (int64_t s : y.sizes()) result_shape.push_back(s);
  if (!coefficients.defined()) return zeros(result_shape, y.dtype());
  return coefficients.select(0, order - 1) * factorial(order);
}

// sum_r weights[r] D^order f(x_b) along directions[r] ([R, ...in]): [B, ...out], from one pass of f
// at a collapsed Taylor level, which carries the lower coefficients per direction and the K-th
// only as that weighted sum.
Tensor weighted_directional_sum(const UnaryFunction& f, const Tensor& x, const Tensor& directions,
                                const Tensor& weights, int64_t order, const char* op) {
  const int64_t count = directions.size(0);
  Dims per_direction = {count, x.size(0)};
  for (int64_t s : row_shape(x)) per_direction.push_back(s);
  // Coefficient 1 is the direction in every row; the higher ones of a straight line are zero, their
  // weighted sum too.
  TensorList parts{directions.unsqueeze(1).expand(per_direction).reshape(concat_dims({count}, x.sizes()))};
  if (order > 2) parts.push_back(zeros(concat_dims({(order - 2) * count}, x.sizes()), x.dtype()));
  parts.push_back(zeros(concat_dims({1}, x.sizes()), x.dtype()));
  const Tensor seed = cat(parts);
  forward_ad::DualLevel level;
  forward::make_collapsed_taylor_level(level.level(), order, weights);
  const Tensor out = f(forward::make_batched_dual(x, seed));
  detail::check_row_wise_output(x, out, op);
  auto [y, coefficients] = forward_ad::unpack_dual(out, level.level());
  if (!coefficients.defined()) return zeros_like(y);
  return coefficients.select(0, (order - 1) * count) * factorial(order);
}

void check_outside_vmap(const char* op) {
  DYDX_CHECK(!vmap::active(), op, ": not supported inside vmap yet; f already runs on a batch of rows, so call ", op,
             " on the batch itself");
}

void check_estimate(const Estimate& estimate, const char* op) {
  DYDX_CHECK(estimate.samples >= 0, op, ": expected a number of samples >= 0 (0: exact), got ", estimate.samples);
}

// The operator over the rows of x, in slices of chunk_size rows when that is set.
// compute over x's rows, in chunks of options.chunk_size, or, for an operator that stacks `slices`
// tangents per row and a chunk_size of 0, in chunks of detail::stacked_chunk_size.
Tensor per_row(const UnaryFunction& f, const Tensor& x, const BatchOptions& options, const char* op,
               const std::function<Tensor(const Tensor&)>& compute, int64_t slices = 0) {
  check_outside_vmap(op);
  detail::check_row_wise_call(f, x, options, op);
  const int64_t chunk_size =
      slices > 0 && x.defined() && x.dim() >= 1 ? detail::stacked_chunk_size(options.chunk_size, slices, x.size(0)) : options.chunk_size;
  return detail::over_row_chunks(f, x, chunk_size, op, compute, slices > 0 && options.chunk_size == 0);
}

// The d axes of one row of x, [d, ...in].
Tensor axes_of_row(const Tensor& x) {
  const Dims row = row_shape(x);
  const int64_t d = dydx::detail::product(row);
  Dims shape = {d};
  for (int64_t s : row) shape.push_back(s);
  return eye(d, x.dtype()).reshape(shape);
}

// Every multi-index over `count` variables with entries summing to order, in lexicographic order.
void lattice(int64_t count, int64_t order, std::vector<int64_t>& current, std::vector<std::vector<int64_t>>& out) {
  if (static_cast<int64_t>(current.size()) == count - 1) {
    current.push_back(order);
    out.push_back(current);
    current.pop_back();
    return;
  }
  for (int64_t first = order; first >= 0; --first) {
    current.push_back(first);
    lattice(count, order - first, current, out);
    current.pop_back();
  }
}

// For multi-indices gamma of order k over the support: D^k along v = sum_i beta_i e_i is
// sum_gamma k! / gamma! beta^gamma d^gamma f (the multinomial expansion of the k-th derivative
// tensor), and the lattice |beta| = k is unisolvent for the monomials of degree k, so M[beta][gamma] =
// k! / gamma! beta^gamma is invertible. sum_gamma c_gamma d^gamma f is then sum_beta w_beta D^k_beta f
// with M^T w = c: weights for the directions beta.
std::vector<double> interpolation_weights(const std::vector<std::vector<int64_t>>& betas, const std::vector<double>& c,
                                          int64_t order) {
  const int n = static_cast<int>(betas.size());
  std::vector<double> transposed(static_cast<size_t>(n) * n);  // column-major M^T: element (gamma, beta) at [beta * n + gamma]
  for (int b = 0; b < n; ++b)
    for (int g = 0; g < n; ++g) {
      double term = factorial(order);
      for (size_t i = 0; i < betas[g].size(); ++i) {
        term /= factorial(betas[g][i]);
        term *= std::pow(static_cast<double>(betas[b][i]), static_cast<double>(betas[g][i]));
      }
      transposed[static_cast<size_t>(b) * n + g] = term;  // M[b][g], stored so that the solve sees M^T
    }
  std::vector<double> w = c;
  std::vector<int> pivots(static_cast<size_t>(n));
  const int one = 1;
  int info = 0;
  dgesv_(&n, &one, transposed.data(), &n, pivots.data(), w.data(), &n, &info);
  DYDX_CHECK(info == 0, "linear_operator: the interpolation system of order ", order, " is singular (LAPACK dgesv info ",
             info, ")");
  return w;
}

}  // namespace

Tensor linear_operator(const UnaryFunction& f, const Tensor& x, const std::vector<PartialTerm>& terms,
                       BatchOptions options) {
  const char* op = "linear_operator";
  DYDX_CHECK(x.defined() && x.dim() >= 1, op, ": x must have a leading batch dim");
  const int64_t d = dydx::detail::product(row_shape(x));
  // The terms by order; within an order, by the variables they involve.
  std::map<int64_t, std::vector<const PartialTerm*>> by_order;
  for (size_t t = 0; t < terms.size(); ++t) {
    const PartialTerm& term = terms[t];
    DYDX_CHECK(static_cast<int64_t>(term.alpha.size()) == d, op, ": term ", t, " has a multi-index of ",
               term.alpha.size(), " entries, but a row of x ", x.sizes(), " has ", d, " elements");
    int64_t order = 0;
    for (int64_t a : term.alpha) {
      DYDX_CHECK(a >= 0, op, ": term ", t, " has a negative order ", a, " in its multi-index");
      order += a;
    }
    by_order[order].push_back(&term);
  }
  // Slices per row of the widest pass (an order k over s variables: the k - 1 lower coefficients of its C(s + k - 1,
  // k) directions and their collapsed sum), for the default slicing of large batches that func::laplacian has.
  int64_t slices = 1;
  for (const auto& [order, group] : by_order) {
    int64_t support = 0;
    for (int64_t i = 0; i < d; ++i)
      support += std::any_of(group.begin(), group.end(), [i](const PartialTerm* term) { return term->alpha[i] > 0; });
    if (order >= 2) slices = std::max(slices, (order - 1) * multi_indices(support, order) + 1);
  }
  return per_row(f, x, options, op, [&](const Tensor& rows) {
    Tensor total;
    // Each order's pass calls f once; all must give one shape (broadcasting would hide an f that changes it).
    auto add = [&total](const Tensor& part) {
      if (total.defined())
        DYDX_CHECK(part.sizes() == total.sizes(), "linear_operator: f gave a result of shape ", total.sizes(),
                   " for one order of derivatives and ", part.sizes(),
                   " for another, on the same x; f must return the same shape every time");
      total = total.defined() ? total + part : part;
    };
    for (const auto& [order, group] : by_order) {
      if (order == 0) {
        double c = 0;
        for (const PartialTerm* term : group) c += term->coefficient;
        add(f(rows) * c);
        continue;
      }
      // The variables this order's terms involve, and each term's multi-index over them.
      std::vector<int64_t> support;
      for (int64_t i = 0; i < d; ++i)
        for (const PartialTerm* term : group)
          if (term->alpha[i] > 0) {
            support.push_back(i);
            break;
          }
      std::vector<std::vector<int64_t>> betas;
      std::vector<int64_t> current;
      lattice(static_cast<int64_t>(support.size()), order, current, betas);
      std::vector<double> c(betas.size(), 0.0);
      for (const PartialTerm* term : group) {
        std::vector<int64_t> gamma;
        for (int64_t i : support) gamma.push_back(term->alpha[i]);
        const size_t at = std::find(betas.begin(), betas.end(), gamma) - betas.begin();
        c[at] += term->coefficient;
      }
      const std::vector<double> w = order == 1 ? c : interpolation_weights(betas, c, order);
      // The directions sum_i beta_i e_i, as rows of [R, d].
      std::vector<double> v(betas.size() * static_cast<size_t>(d), 0.0);
      for (size_t b = 0; b < betas.size(); ++b)
        for (size_t i = 0; i < support.size(); ++i) v[b * d + support[i]] = static_cast<double>(betas[b][i]);
      const Tensor directions =
          tensor(v, rows.dtype()).reshape(concat_dims({static_cast<int64_t>(betas.size())}, row_shape(rows)));
      const Tensor weights = tensor(w, rows.dtype());
      if (order == 1) {
        // First order is linear in the direction: one JVP along sum_beta w_beta v_beta.
        const Tensor along = (directions * weights.reshape(concat_dims({-1}, Dims(rows.dim() - 1, 1)))).sum({0});
        add(jvp(f, rows, along.unsqueeze(0).expand(rows.sizes()).contiguous()).second);
      } else {
        add(weighted_directional_sum(f, rows, directions, weights, order, op));
      }
    }
    if (!total.defined()) {
      NoGradGuard no_grad;
      total = zeros_like(f(rows));
    }
    return total;
  }, slices + 1);
}

namespace {
// derivative_diagonal under the name of the operator the user called (hessian_diagonal's errors say so).
Tensor diagonal_of_derivatives(const UnaryFunction& f, const Tensor& x, int64_t order, const BatchOptions& options,
                               const char* op) {
  DYDX_CHECK(order >= 1, op, ": expected an order >= 1, got ", order);
  // Slices per row: the order coefficients along each of the d axes, and the value.
  const int64_t slices = x.defined() && x.dim() >= 1 ? order * dydx::detail::product(row_shape(x)) + 1 : 0;
  return per_row(f, x, options, op, [&](const Tensor& rows) {
    const Tensor along_axes = directional_derivatives(f, rows, axes_of_row(rows), order, op);
    // [d, B, ...out] -> [B, ...out, ...in]
    Dims shape(along_axes.sizes().begin() + 1, along_axes.sizes().end());
    for (int64_t s : row_shape(rows)) shape.push_back(s);
    return along_axes.movedim(0, -1).reshape(shape);
  }, slices);
}
}  // namespace

Tensor derivative_diagonal(const UnaryFunction& f, const Tensor& x, int64_t order, BatchOptions options) {
  return diagonal_of_derivatives(f, x, order, options, "derivative_diagonal");
}

Tensor hessian_diagonal(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  return diagonal_of_derivatives(f, x, 2, options, "hessian_diagonal");
}

Tensor weighted_laplacian(const UnaryFunction& f, const Tensor& x, const Tensor& sigma, BatchOptions options,
                          Estimate estimate) {
  const char* op = "weighted_laplacian";
  check_estimate(estimate, op);
  DYDX_CHECK(x.defined() && x.dim() >= 1, op, ": x must have a leading batch dim");
  const int64_t d_row = dydx::detail::product(row_shape(x));
  DYDX_CHECK(sigma.defined() && (sigma.dim() == 1 || sigma.dim() == 2) && sigma.size(0) == d_row, op,
             ": sigma must have shape [d, r] or [d] with d = ", d_row, " (the elements of one row of x ", x.sizes(),
             "), got ", sigma.defined() ? sigma.sizes() : IntArrayRef{});
  DYDX_CHECK(sigma.dtype() == x.dtype(), op, ": sigma has dtype ", sigma.dtype(), " but x has ", x.dtype());
  // A diagonal sigma as its d columns sigma_i e_i.
  const Tensor columns = sigma.dim() == 1 ? eye(d_row, x.dtype()) * sigma.unsqueeze(0) : sigma;  // [d, r]
  return per_row(f, x, options, op, [&](const Tensor& rows) {
    Tensor directions = columns.t();  // [r, d]
    double scale = 1;
    if (estimate.samples > 0) {
      // Hutchinson: sigma v for Rademacher v [r], E[v v^T] = I.
      Generator generator(estimate.seed);
      const Tensor signs = randint(0, 2, {estimate.samples, columns.size(1)}, generator).to(x.dtype()) * 2.0 - 1.0;
      directions = matmul(signs, columns.t());
      scale = 1.0 / static_cast<double>(estimate.samples);
    }
    // A forward-Laplacian level seeded with these directions instead of the axes: the collapsed
    // Taylor mode of order 2, with the fused activation steps of func::laplacian.
    const int64_t count = directions.size(0);
    const Tensor seeds = directions.reshape(concat_dims({count}, row_shape(rows))).unsqueeze(1).expand(
        concat_dims({count}, rows.sizes()));
    const Tensor sum = detail::sum_of_second_derivatives(f, rows, seeds);
    return scale == 1 ? sum : sum * scale;
  }, (estimate.samples > 0 ? estimate.samples : columns.size(1)) + 1);
}

Tensor biharmonic(const UnaryFunction& f, const Tensor& x, BatchOptions options, Estimate estimate) {
  const char* op = "biharmonic";
  check_estimate(estimate, op);
  bool one_pass_failed = false, one_pass_worked = false;
  return per_row(f, x, options, op, [&](const Tensor& rows) {
    const Dims row = row_shape(rows);
    const int64_t d = dydx::detail::product(row);
    Tensor directions, weights;
    if (estimate.samples > 0) {
      Generator generator(estimate.seed);
      directions = randn({estimate.samples, d}, generator, rows.dtype());
      weights = full({estimate.samples}, 1.0 / (3.0 * static_cast<double>(estimate.samples)), rows.dtype());
    } else {
      // One pass at a biharmonic level: 2d + d(d+1)/2 + 1 slices per tensor. Where an op of f has
      // no rule there, the Laplacian of the Laplacian, two nested forward-Laplacian levels:
      // (d + 1)^2 + 2(d + 1) slices, the same numbers repeated. Fourth-order coefficients along the
      // d^2 axes and diagonals that polarisation needs (D^4(e_i + e_k) + D^4(e_i - e_k) = 2 D^4(e_i)
      // + 12 d_i^2 d_k^2 + 2 D^4(e_k)) would carry 3 d^2 + 1, and nested first-order AD a Hessian of
      // a Hessian.
      // f has no one pass if its first chunk had none. Until a pass has gone through, it runs on a
      // copy of the rows: an f that writes into its input would otherwise hand the nested
      // Laplacians rows it had already changed.
      if (!one_pass_failed) {
        try {
          Tensor out = detail::biharmonic_in_one_pass(f, one_pass_worked ? rows : rows.clone());
          one_pass_worked = true;
          return out;
        } catch (const forward::NoBiharmonicRule&) {
          one_pass_failed = true;
        }
      }
      const UnaryFunction inner = [&f](const Tensor& z) { return laplacian(f, z); };
      return laplacian(inner, rows);
    }
    return weighted_directional_sum(f, rows, directions.reshape(concat_dims({directions.size(0)}, row)), weights, 4, op);
  }, estimate.samples > 0                     ? 3 * estimate.samples + 1
     : x.defined() && x.dim() >= 1 ? forward::biharmonic_slices(dydx::detail::product(row_shape(x)))
                                   : 0);  // per_row rejects such an x
}

namespace detail {

// Each tensor carries g, the upper triangle of H, the Laplacian's derivatives and the biharmonic,
// 2d + d(d+1)/2 + 1 slices, seeded with the axes in every row (one row repeated, as func::laplacian's).
Tensor biharmonic_in_one_pass(const UnaryFunction& f, const Tensor& x) {
  const Dims row = row_shape(x);
  const int64_t d = dydx::detail::product(row);
  const int64_t slices = forward::biharmonic_slices(d);
  const Tensor axes = eye(d, x.dtype()).reshape(concat_dims({d, 1}, row));
  const Tensor seed = cat({axes, zeros(concat_dims({slices - d, 1}, row), x.dtype())})
                          .expand(concat_dims({slices}, x.sizes()));
  forward_ad::DualLevel level;
  forward::make_biharmonic_level(level.level(), d);
  const Tensor out = f(forward::make_batched_dual(x, seed));
  if (const char* op = forward::biharmonic_missing_rule(level.level()))
    throw forward::NoBiharmonicRule(std::string("biharmonic: ") + op + " has no rule at a biharmonic level");
  detail::check_row_wise_output(x, out, "biharmonic");
  auto [y, stack] = forward_ad::unpack_dual(out, level.level());
  if (!stack.defined()) return zeros_like(y);
  return stack.select(0, slices - 1).clone();
}

}  // namespace detail

}  // namespace dydx::func
