// Function transforms, as torch.func: vjp, jvp, linearize, grad, jacrev, jacfwd, hessian, and the
// per-sample batch_jacobian, batch_hessian and laplacian.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::func {

/// Every transform works on this form; a callable taking and returning one Tensor is adapted.
using Function = std::function<TensorList(const TensorList&)>;
using UnaryFunction = std::function<Tensor(const Tensor&)>;
/// Maps cotangents (one per output) to gradients (one per primal).
using VjpFunction = std::function<TensorList(const TensorList&)>;
/// Maps tangents (one per primal) to output tangents (one per output).
using JvpFunction = std::function<TensorList(const TensorList&)>;

namespace detail {
template <class T>
struct is_tuple : std::false_type {};
template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

template <class R>
TensorList pack(R&& result) {
  using T = std::decay_t<R>;
  if constexpr (std::is_same_v<T, Tensor>) {
    return {std::forward<R>(result)};
  } else if constexpr (std::is_same_v<T, TensorList>) {
    return std::forward<R>(result);
  } else {
    static_assert(is_tuple<T>::value, "func::wrap: f must return a Tensor, a std::vector<Tensor> or a std::tuple of Tensors");
    return std::apply([](auto&&... parts) { return TensorList{Tensor(parts)...}; }, std::forward<R>(result));
  }
}
}  // namespace detail

/// Adapts a callable taking `Arity` tensors and returning a Tensor, a std::vector<Tensor> or a
/// std::tuple of Tensors to the list form every transform takes: `func::wrap<2>(f)`.
template <size_t Arity, class F>
std::function<TensorList(const TensorList&)> wrap(F f) {
  return [f](const TensorList& in) {
    DYDX_CHECK(in.size() == Arity, "func: f takes ", Arity, " tensors but was given ", in.size());
    return [&]<size_t... I>(std::index_sequence<I...>) { return detail::pack(f(in[I]...)); }(std::make_index_sequence<Arity>{});
  };
}

// ---- core transforms on lists of tensors --------------------------------------------------------

/// f(primals) and its Jacobian-vector product with tangents, in one forward pass.
std::pair<TensorList, TensorList> jvp(const Function& f, const TensorList& primals, const TensorList& tangents);
/// f(primals) and a function computing vector-Jacobian products at primals.
std::pair<TensorList, VjpFunction> vjp(const Function& f, const TensorList& primals);
/// f(primals) and the linear map t -> J t at primals.
std::pair<TensorList, JvpFunction> linearize(const Function& f, const TensorList& primals);

/// Taylor mode, as jax.experimental.jet: f along the curve x_i(t) = primals[i] + sum_k series[i][k-1]
/// t^k / k!, returning f's outputs at t = 0 and their derivatives d^k f(x(t)) / dt^k at t = 0 for
/// k = 1..K, each output's K terms in a list (series_out[o][k-1]). series[i] holds K tensors of
/// primals[i]'s shape, the same K >= 1 for every input (an empty list: that input does not move). One
/// forward pass carries all K coefficients through each op by its Taylor rule, O(K^2) work per op
/// where K nested jvps would take 2^K passes. Differentiable: reverse mode runs through the results
/// (a loss on higher derivatives trains), and jet nests in the other transforms.
struct JetResult {
  TensorList primals_out;
  std::vector<TensorList> series_out;
};
JetResult jet(const Function& f, const TensorList& primals, const std::vector<TensorList>& series);

/// Jacobian of each output with respect to each argument in argnums, out.shape + in.shape, listed
/// output-major (output 0 w.r.t. every argnum, then output 1, ...). Reverse mode: one backward pass per
/// chunk of chunk_size basis cotangents (0: every output element in one chunk). Negative argnums
/// count from the end; only the argnums primals are differentiated.
///
/// Every transform's results carry autograd history only where a tensor that requires grad outside
/// the transform (a primal, a tensor f closes over) flows into them, as in torch.func; results of
/// plain inputs are plain, and the transform's own graph is freed when it returns. Transforms nest.
TensorList jacrev(const Function& f, const TensorList& primals, const std::vector<int64_t>& argnums = {0},
                  int64_t chunk_size = 0);
/// Same, in forward mode: one forward pass per chunk of basis tangents.
TensorList jacfwd(const Function& f, const TensorList& primals, const std::vector<int64_t>& argnums = {0},
                  int64_t chunk_size = 0);
/// The same as functions of the primals, as torch.func returns them: jacrev(f, {0, 1})(primals).
Function jacrev(const Function& f, const std::vector<int64_t>& argnums, int64_t chunk_size = 0);
Function jacfwd(const Function& f, const std::vector<int64_t>& argnums, int64_t chunk_size = 0);
/// The same for a braced list, so that jacrev(f, {2}) is not taken for a list of primals.
Function jacrev(const Function& f, std::initializer_list<int64_t> argnums, int64_t chunk_size = 0);
Function jacfwd(const Function& f, std::initializer_list<int64_t> argnums, int64_t chunk_size = 0);

// ---- one tensor in, one tensor out --------------------------------------------------------------

std::pair<Tensor, Tensor> jvp(const UnaryFunction& f, const Tensor& primal, const Tensor& tangent);
std::pair<Tensor, std::function<Tensor(const Tensor&)>> vjp(const UnaryFunction& f, const Tensor& primal);
std::pair<Tensor, std::function<Tensor(const Tensor&)>> linearize(const UnaryFunction& f, const Tensor& primal);

/// The gradient of a scalar-valued f, as a function (torch.func.grad).
UnaryFunction grad(const UnaryFunction& f);
/// The gradient and the value of a scalar-valued f.
std::function<std::pair<Tensor, Tensor>(const Tensor&)> grad_and_value(const UnaryFunction& f);
/// Gradients of a scalar-valued f of several tensors with respect to those in argnums.
Function grad(const Function& f, const std::vector<int64_t>& argnums);

/// The Jacobian as a function: jacrev(f)(x) has shape out.shape + in.shape.
UnaryFunction jacrev(const UnaryFunction& f, int64_t chunk_size = 0);
UnaryFunction jacfwd(const UnaryFunction& f, int64_t chunk_size = 0);
/// Forward mode when x has fewer elements than f(x), reverse mode otherwise.
Tensor jacobian(const UnaryFunction& f, const Tensor& x);
/// The Hessian of a scalar-valued f, as forward over reverse: in.shape + in.shape.
UnaryFunction hessian(const UnaryFunction& f);
/// The Hessians of a scalar-valued f with respect to the primals in argnums, jacfwd(jacrev(f,
/// argnums), argnums) as in torch.func: for argnums {a, b}, [d2f/da da, d2f/da db, d2f/db da, d2f/db db].
Function hessian(const Function& f, const std::vector<int64_t>& argnums);

// ---- vmap ---------------------------------------------------------------------------------------

/// What a random op does under vmap (torch.func.vmap's randomness): raise, draw independently for
/// each sample, or draw once for the whole batch.
enum class Randomness { error, different, same };

struct VmapOptions {
  Randomness randomness = Randomness::error;
  /// When positive, f runs on pieces of the batch of at most this many samples, one after another.
  int64_t chunk_size = 0;
};

/// One dim per input or output: the batch dim's position, or std::nullopt for an input every sample
/// shares (an output the same for every sample). One entry applies to every input (output).
using BatchDims = std::vector<std::optional<int64_t>>;

/// f mapped over a batch dim of its inputs (torch.func.vmap): vmap(f, in_dims, out_dims)(inputs)
/// equals stacking f(one sample of each batched input, the unbatched inputs whole) over the samples,
/// along out_dims. f runs once, on tensors of one sample's shape that stand for the whole batch;
/// each op inside it computes every sample in one call. Composes with itself and with every
/// transform here: vmap(grad(f)) gives per-sample gradients, also with respect to inputs shared by
/// all samples (in_dim std::nullopt).
Function vmap(const Function& f, BatchDims in_dims = {0}, BatchDims out_dims = {0}, VmapOptions options = {});
/// The same for one tensor in and out: vmap(f)(x) maps f over x's dim 0.
UnaryFunction vmap(const UnaryFunction& f, std::optional<int64_t> in_dim = 0, std::optional<int64_t> out_dim = 0,
                   VmapOptions options = {});

// ---- per-sample derivatives ---------------------------------------------------------------------

struct BatchOptions {
  /// Checks on two random probes that row b of f(x) depends on row b of x only, and throws if not:
  /// a JVP along a random direction against each row's own Jacobian, and a finite random step of a
  /// random half of the rows, which must leave the other rows of f(x) as they were (coupling whose
  /// first derivatives vanish at x). Each runs f once on the whole batch (coupling between slices
  /// would escape slices); the Jacobian is taken in slices of chunk_size rows like the result.
  bool check_independence = false;
  /// When positive, f runs on slices of at most this many rows, one after another, each slice's
  /// derivative written into the one result (every function here takes it). Peak memory is then the result
  /// plus one slice's intermediates, where the whole batch would hold f's full output beside the
  /// Jacobian, and a slice's intermediates can stay in cache. f must accept any number of rows; one whose output rows change shape with the number of
  /// rows is rejected (f is called once more, without derivatives, on 1 and on 2 rows to check).
  /// A negative chunk_size is an error. 0 means the whole batch at once, except for laplacian,
  /// weighted_laplacian, biharmonic, derivative_diagonal, hessian_diagonal and linear_operator, which
  /// carry a stack of S tangents per row (d + 1, r + 1, 2d + d(d+1)/2 + 1, K d + 1, ...) and then take
  /// equal slices of at most 4096 / S rows: their stacks stay cache-sized.
  int64_t chunk_size = 0;
};

// These take a row-wise f that is written for the whole batch: f sees x itself, and each basis
// direction is pushed for every row at once. vmap(jacfwd(f)) and vmap(jacrev(f)) run the same passes
// for an f written for one sample (they lower to the batch, src/transforms/lowering.hpp), through
// the ops' batching rules; batch_jacobian skips those and picks the mode by min(in, out), so it is
// the one to use when f already takes a batch (BENCHMARKS.md compares the two).

/// For f mapping x [B, ...in] to y [B, ...out] row by row: dy[b]/dx[b] for every b, [B, ...out, ...in].
/// Pushes min(numel(in), numel(out)) basis directions, each for the whole batch at once, in forward
/// mode when the input is the smaller and reverse mode otherwise. Never forms the [B, .., B, ..] Jacobian.
Tensor batch_jacobian(const UnaryFunction& f, const Tensor& x, BatchOptions options = {});
/// d2y[b]/dx[b]2 for every b: [B, ...out, ...in, ...in].
Tensor batch_hessian(const UnaryFunction& f, const Tensor& x, BatchOptions options = {});
/// The diagonal second derivatives d2y[b, j]/dx[b, k]2: [B, ...out, ...in], one nested forward pass per k.
Tensor batch_hessian_diagonal(const UnaryFunction& f, const Tensor& x, BatchOptions options = {});
/// Their sum over k, the Laplacian of each output: [B, ...out]. One forward pass that carries each
/// tensor's value, its derivatives along all numel(in) input directions and its Laplacian together
/// (the forward Laplacian of Li et al., 2023), costing about numel(in) + 2 forward passes; the
/// result is differentiable, so reverse mode (physics-informed losses) works through it.
Tensor laplacian(const UnaryFunction& f, const Tensor& x, BatchOptions options = {});

// ---- differential operators from Taylor coefficients (func::jet's level), row by row ---------------
//
// Each pushes, for a row-wise f of x [B, ...in], R directions v_r through f at once, carrying every
// tensor's Taylor coefficients along x_b + t v_r to the operator's order, and combines the highest
// coefficients: no Hessian, nor any derivative tensor of f beyond the result, is formed. Results are
// differentiable (reverse mode through them trains a physics-informed loss). Not inside vmap yet.

/// Exact (samples = 0), or an unbiased estimate from `samples` random directions drawn from a
/// generator seeded with `seed`: the same seed gives the same estimate.
struct Estimate {
  int64_t samples = 0;
  uint64_t seed = 0;
};

/// The order-th derivatives of each output along each input element, d^k y[b, j] / dx[b, i]^k:
/// [B, ...out, ...in]. Order 2 is hessian_diagonal (as batch_hessian_diagonal, in one pass).
Tensor derivative_diagonal(const UnaryFunction& f, const Tensor& x, int64_t order, BatchOptions options = {});
Tensor hessian_diagonal(const UnaryFunction& f, const Tensor& x, BatchOptions options = {});
/// tr(sigma sigma^T Hess y[b, j]) for each output: [B, ...out]. sigma is [d, r] (d = numel of one row
/// of x; any r, rank-deficient or not) or [d] for a diagonal sigma. The stochastic estimate is
/// Hutchinson's, with Rademacher v: mean over samples of (sigma v)^T Hess (sigma v).
Tensor weighted_laplacian(const UnaryFunction& f, const Tensor& x, const Tensor& sigma, BatchOptions options = {},
                          Estimate estimate = {});
/// The biharmonic Delta^2 y[b, j] = sum_(i,k) d^4 y / dx_i^2 dx_k^2 for each output: [B, ...out].
/// Exact: one pass of f carrying each tensor's first and second derivatives, its Laplacian's
/// derivatives and its biharmonic (2d + d(d+1)/2 + 1 slices per tensor); where an op of f has no rule
/// for that (softmax, norms, atan2 of two moving inputs...), f runs again as the Laplacian of the
/// Laplacian, two nested forward-Laplacian passes ((d + 1)^2 + 2(d + 1) slices). Estimated: a third of the mean of d^4/dt^4 y(x + t v) over Gaussian v, from fourth-order
/// Taylor coefficients summed over the samples as they go (3 S + 1 slices).
Tensor biharmonic(const UnaryFunction& f, const Tensor& x, BatchOptions options = {}, Estimate estimate = {});

/// One term of a linear differential operator: coefficient * d^|alpha| / dx^alpha, alpha giving the
/// order of the derivative along each element of a row of x (numel of a row entries, |alpha| their sum;
/// all zero: the coefficient times f itself).
struct PartialTerm {
  double coefficient = 1;
  std::vector<int64_t> alpha;
};
/// sum over terms of coefficient * d^|alpha| y[b, j] / dx[b]^alpha for each output: [B, ...out]. Each
/// order k's terms become one weighted sum of k-th directional derivatives along the directions
/// sum_i beta_i e_i, |beta| = k, over the elements the terms involve (Griewank, Utke and Walther's
/// interpolation of univariate Taylor series), carried at one collapsed Taylor level per order.
Tensor linear_operator(const UnaryFunction& f, const Tensor& x, const std::vector<PartialTerm>& terms,
                       BatchOptions options = {});

}  // namespace dydx::func
