// Per-sample derivatives of row-wise functions: batch_jacobian, batch_hessian, its diagonal and the Laplacian.
//
// f maps x [B, ...in] to y [B, ...out] with row b of y depending on row b of x only. Then one
// direction per element of a row (not of the batch) suffices: a tangent (or cotangent) set to e_k
// in every row is pushed once for the whole batch, and row b of the result is row b's derivative.
#include "autograd/forward_mode.hpp"
#include "core/overlap.hpp"
#include "core/shape.hpp"
#include "transforms/basis.hpp"
#include "transforms/history.hpp"
#include "transforms/reverse_input.hpp"
#include "transforms/rows.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/forward_ad.hpp"
#include "dydx/func.hpp"
#include "dydx/ops.hpp"
#include "vmap/batched.hpp"

namespace dydx::func {

namespace {

using detail::concat;
using detail::row_basis_batch;

using detail::row_shape;

// e_k in every row: [B, ...row] with element k of each row's flattened values set to 1.
Tensor row_basis(const Tensor& like, int64_t k) { return row_basis_batch(like, k, 1).select(0, 0); }

void check_batched(const Tensor& x, const char* op) {
  DYDX_CHECK(x.defined() && x.dim() >= 1, op, ": x must have a leading batch dim, got shape ",
             x.defined() ? x.shape_string() : std::string("(undefined)"));
  DYDX_CHECK(x.is_floating_point(), op, ": x must be floating point, got ", x.dtype());
}

void check_output(const Tensor& x, const Tensor& y, const char* op) {
  DYDX_CHECK(y.defined(), op, ": f returned an undefined tensor");
  DYDX_CHECK(y.dim() >= 1 && y.size(0) == x.size(0), op, ": f must keep the batch dim: x has shape ", x.sizes(),
             " but f(x) has shape ", y.sizes());
}

// A later call of f on the same x must return what the first did: both go into one result.
void check_same_output(const Tensor& first, const Tensor& later, const char* op) {
  DYDX_CHECK(later.defined() && later.sizes() == first.sizes() && later.dtype() == first.dtype(), op,
             ": f returned shape ", first.sizes(), " (", first.dtype(), ") on its first call but ",
             later.defined() ? later.shape_string() : std::string("an undefined tensor"), " (",
             later.defined() ? later.dtype() : first.dtype(),
             ") on a later one with the same x; f must return the same shape and dtype every time");
}

// Pushes one random direction for every row at once and compares the result with what the per-row
// Jacobians predict for it: any coupling between rows shows up as a difference in some row.
void check_independence(const UnaryFunction& f, const Tensor& x, const Tensor& jacobian, const char* op) {
  const int64_t batch = x.size(0);
  if (batch < 2) return;
  const int64_t in_size = x.numel() / batch;
  if (in_size == 0) return;  // no direction to move
  NoGradGuard no_grad;
  Tensor direction = randn(x.sizes(), x.dtype());
  const auto [primal, tangent] = jvp(f, x, direction);
  // The probe calls f once more: it must return what the Jacobian was taken of.
  const int64_t out_elements = jacobian.numel() / in_size;
  DYDX_CHECK(tangent.numel() == out_elements, op, ": f returned shape ", tangent.sizes(),
             " on the independence check's call but ", out_elements / batch,
             " elements per row before; f must return the same shape every time");
  Tensor actual = tangent.reshape({batch, -1});
  Tensor predicted = matmul(jacobian.reshape({batch, -1, in_size}), direction.reshape({batch, in_size, 1})).reshape({batch, -1});
  // Equal non-finite values (a row whose own nan or inf runs through both) count as agreeing: a nan of row b
  // that reaches row c shows as a nan on one side only.
  auto row_error = [](const Tensor& a, const Tensor& b) {
    return where(isclose(a, b, 0.0, 0.0, /*equal_nan=*/true), zeros({}, a.dtype()), (a - b).abs())
        .sum({1})
        .to(kFloat64)
        .to_vector<double>();
  };
  auto row_size = [](const Tensor& a) {
    return where(isfinite(a), a.abs(), zeros({}, a.dtype())).sum({1}).to(kFloat64).to_vector<double>();
  };
  const std::vector<double> error = row_error(actual, predicted), size = row_size(actual);
  // A row holding an infinity gets nans in its Jacobian that its JVP need not have (inf * 0 along the other axes):
  // only the finite step below judges it.
  const std::vector<int64_t> non_finite =
      eq(isfinite(x), false).to(kInt64).reshape({batch, -1}).sum({1}).to_vector<int64_t>();
  const double tolerance = x.dtype() == kFloat64 ? 1e-9 : 1e-4;
  for (int64_t b = 0; b < batch; ++b)
    DYDX_CHECK(non_finite[b] > 0 || error[b] <= tolerance * (1 + size[b]), op, ": row ", b,
               " of f(x) depends on other rows of x (a random change of every row moved it by ", error[b],
               " more than its own row accounts for); f must map each row of its batch independently");
  // Coupling that no first derivative shows at this x (a term of second order in the other rows, whose first
  // derivatives vanish here, as |mean over rows|^2 at a zero mean): a random half of the rows (row 0 stays, row 1
  // moves) moved by a finite step must leave the other rows of f(x) as they were. One more call of f on the batch.
  Tensor moves = randint(0, 2, {batch}, kInt64);
  moves.narrow(0, 0, 1).fill_(0);
  moves.narrow(0, 1, 1).fill_(1);
  Dims column(x.dim(), 1);
  column[0] = batch;
  const std::vector<int64_t> moved_rows = moves.to_vector<int64_t>();
  const Tensor step = randn(x.sizes(), x.dtype()) * (x.abs() + 1.0) * moves.to(x.dtype()).reshape(column);
  const Tensor moved = f(x + step).reshape({batch, -1});
  const Tensor y = primal.reshape({batch, -1});
  DYDX_CHECK(moved.sizes() == y.sizes(), op, ": f returned shape ", moved.sizes(),
             " on the independence check's call but ", y.sizes(), " before; f must return the same shape every time");
  const std::vector<double> change = row_error(moved, y), scale = row_size(y);
  for (int64_t b = 0; b < batch; ++b)
    DYDX_CHECK(moved_rows[b] == 1 || change[b] <= tolerance * (1 + scale[b]), op, ": row ", b,
               " of f(x) depends on other rows of x (moving some other rows by a finite step moved it by ", change[b],
               "); f must map each row of its batch independently");
}

// dy[b]/dx[b] for every b; batch_jacobian without its optional check.
Tensor per_row_jacobian(const UnaryFunction& f, const Tensor& x);

// With this few inputs per row, forward mode pushes all of them in one pass whatever the output's
// size: the primal is computed once and each direction costs about one tangent. Wider rows first
// learn the output's size, which picks between forward and reverse mode.
constexpr int64_t kAllDirectionsAtOnce = 8;

}  // namespace

namespace {

// Chunks write every slice's result into one tensor, which is only right when f maps each row by
// itself. An f whose rows' shape depends on how many rows it is given (x @ x.T) cannot be: a probe
// of f on one row and on two, outside any derivative, catches it for the cost of two tiny calls.
// The probe runs on copies: an f that writes into its input in place must not change the rows that
// the slices then read (their results came out halved twice).
void check_rows_independent_of_batch_size(const UnaryFunction& f, const Tensor& x, const char* op) {
  NoGradGuard no_grad;
  const Tensor one = f(x.narrow(0, 0, 1).clone()), two = f(x.narrow(0, 0, 2).clone());
  check_output(x.narrow(0, 0, 1), one, op);
  check_output(x.narrow(0, 0, 2), two, op);
  DYDX_CHECK(row_shape(one) == row_shape(two), op, ": with chunk_size, f must map each row by itself, but its "
             "output rows have shape ", row_shape(one), " for 1 row and ", row_shape(two), " for 2 rows");
}

// compute(x), or, when chunk_size is set and smaller than the batch, compute of slices of at most
// chunk_size rows, one after another, written into one result. Slices the caller did not ask for
// (sliced_by_default: the stacking operators' default, detail::stacked_chunk_size) are only a way to
// run faster: an f that does not map one or two rows by themselves (one that squeezes its output,
// say) runs on the whole batch instead, as it did below the size where the default slices start.
Tensor in_row_chunks(const UnaryFunction& f, const Tensor& x, int64_t chunk_size, const char* op,
                     const std::function<Tensor(const Tensor&)>& compute, bool sliced_by_default = false) {
  const int64_t batch = x.size(0);
  if (chunk_size == 0 || batch <= chunk_size) return compute(x);
  if (sliced_by_default) {
    try {
      check_rows_independent_of_batch_size(f, x, op);
    } catch (const Error&) {
      return compute(x);
    }
  } else {
    check_rows_independent_of_batch_size(f, x, op);
  }
  Dims first_shape;
  ScalarType dtype = x.dtype();
  bool differentiable = false;
  TensorList parts;  // differentiated further: cat keeps every slice's history and tangents
  Tensor result;     // otherwise each slice is copied in and freed before the next one runs
  detail::for_each_chunk(batch, chunk_size, op, [&](int64_t start, int64_t rows) {
    Tensor part = compute(x.narrow(0, start, rows));
    if (start == 0) {
      first_shape = part.sizes().dims();
      dtype = part.dtype();
      differentiable = part.requires_grad() || forward::has_tangent(part);
      if (!differentiable) result = empty(concat({batch}, row_shape(part)), dtype);
    } else {
      // Every slice's result must be the first's rows, whatever the slice's length.
      Dims expected = first_shape;
      expected[0] = rows;
      DYDX_CHECK(part.sizes() == IntArrayRef(expected) && part.dtype() == dtype, op, ": the slice of ", rows,
                 " rows gave shape ", part.sizes(), " where the first slice's rows ask for ", expected,
                 "; with chunk_size, f must map each row by itself");
    }
    if (differentiable)
      parts.push_back(part);
    else
      result.narrow(0, start, rows).copy_(part);
  });
  return differentiable ? cat(parts, 0) : result;
}

// dy[b]/dx[b] for every b, computed in slices of chunk_size rows when that is set.
Tensor per_row_jacobian_in_chunks(const UnaryFunction& f, const Tensor& x, int64_t chunk_size, const char* op) {
  return in_row_chunks(f, x, chunk_size, op, [&](const Tensor& z) { return per_row_jacobian(f, z); });
}

// What every batch function checks before it computes: x has a batch dim, chunk_size is valid and,
// when asked, f maps each row by itself. The check's Jacobian comes in chunks too.
void check_batch_call(const UnaryFunction& f, const Tensor& x, const BatchOptions& options, const char* op) {
  check_batched(x, op);
  detail::check_chunk_size(options.chunk_size, op);
  if (options.check_independence)
    check_independence(f, x, per_row_jacobian_in_chunks(f, x, options.chunk_size, op), op);
}

}  // namespace

namespace {

// Inside vmap, x is one sample's rows, standing for every sample's, and the passes below would read
// requires_grad and tangents that only the batch carries. There each row goes through f alone, as a
// nested vmap over the rows (f is row-wise, so a row's derivatives are the same alone), and the
// transforms take the batch dims in their stride: correct, without the one-pass fast paths.
// check_independence has nothing to check there (no row ever meets another), so it is refused.
UnaryFunction one_row(const UnaryFunction& f) {
  return [f](const Tensor& row) { return f(row.unsqueeze(0)).squeeze(0); };
}

Tensor over_rows(const UnaryFunction& per_row, const Tensor& x, const BatchOptions& options, const char* op) {
  DYDX_CHECK(!options.check_independence, op, ": check_independence is not supported inside vmap (each row goes "
             "through f alone there, so rows never meet); check f outside vmap");
  return vmap(per_row, 0, 0, {.chunk_size = options.chunk_size})(x);
}

}  // namespace

Tensor batch_jacobian(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  check_batched(x, "batch_jacobian");
  if (vmap::active()) [[unlikely]] {
    detail::check_chunk_size(options.chunk_size, "batch_jacobian");
    const bool forward = dydx::detail::product(row_shape(x)) <= kAllDirectionsAtOnce;
    return over_rows(forward ? jacfwd(one_row(f)) : jacrev(one_row(f)), x, options, "batch_jacobian");
  }
  detail::check_chunk_size(options.chunk_size, "batch_jacobian");
  Tensor result = per_row_jacobian_in_chunks(f, x, options.chunk_size, "batch_jacobian");
  if (options.check_independence) check_independence(f, x, result, "batch_jacobian");
  // An f linear in x has one Jacobian for every row, which the repeated tangents of its first product
  // carry as one row expanded (stride 0); the caller gets a dense result it may write into, as from PyTorch.
  if (dydx::detail::has_internal_overlap(result.sizes(), result.strides())) result = result.contiguous();
  return result;
}

namespace {

Tensor forward_jacobian_in_one_pass(const UnaryFunction& f, const Tensor& x, int64_t in_size) {
  const int64_t batch = x.size(0);
  forward_ad::DualLevel level;
  Tensor dual;
  if (in_size == 1)
    dual = forward_ad::make_dual(x, ones_like(x));
  else
    dual = forward::make_batched_dual(x, row_basis_batch(x, 0, in_size));
  Tensor out = f(dual);
  check_output(x, out, "batch_jacobian");
  auto [y, columns] = forward_ad::unpack_dual(out);
  const int64_t out_size = y.numel() / batch;
  Dims result_shape = concat(concat({batch}, row_shape(y)), row_shape(x));
  if (out_size == 0 || !columns.defined()) return zeros(result_shape, y.dtype());
  if (in_size == 1) return columns.reshape(result_shape);
  // [in, B, out] -> [B, out, in]
  return columns.reshape({in_size, batch, out_size}).permute({1, 2, 0}).reshape(result_shape);
}

Tensor per_row_jacobian(const UnaryFunction& f, const Tensor& x) {
  const int64_t batch = x.size(0);
  const int64_t in_size = batch == 0 ? 0 : x.numel() / batch;
  const Dims in_shape = row_shape(x);
  if (in_size >= 1 && in_size <= kAllDirectionsAtOnce) return forward_jacobian_in_one_pass(f, x, in_size);

  // The first forward pass also tells the output's row size, which picks the mode.
  auto [y, first] = in_size > 0 ? jvp(f, x, row_basis(x, 0)) : std::pair<Tensor, Tensor>{f(x), Tensor()};
  check_output(x, y, "batch_jacobian");
  const int64_t out_size = batch == 0 ? 0 : y.numel() / batch;
  const Dims out_shape = row_shape(y);
  Dims result_shape = concat(concat({batch}, out_shape), in_shape);
  if (in_size == 0 || out_size == 0) return zeros(result_shape, y.dtype());

  if (in_size <= out_size) {
    if (in_size == 1) return first.reshape(result_shape);
    // The other directions, e_1 .. e_{in-1} of every row, as one batch of tangents in one pass.
    forward_ad::DualLevel level;
    Tensor out = f(forward::make_batched_dual(x, row_basis_batch(x, 1, in_size - 1)));
    auto [again, rest] = forward_ad::unpack_dual(out);
    check_same_output(y, again, "batch_jacobian");
    Tensor columns = cat({first.reshape({1, batch, out_size}),
                          rest.defined() ? rest.reshape({in_size - 1, batch, out_size})
                                         : zeros({in_size - 1, batch, out_size}, y.dtype())});
    // [in, B, out] -> [B, out, in]
    return columns.permute({1, 2, 0}).reshape(result_shape);
  }
  // Reverse mode: every row's e_j, for every j, as one batch of cotangents in one backward pass.
  const bool caller_records = is_grad_enabled();
  AutoGradMode enable(true);
  Tensor input = detail::reverse_input(x);
  const TensorList own = x.requires_grad() ? TensorList{} : TensorList{input};
  Tensor out = f(input);
  check_same_output(y, out, "batch_jacobian");
  // Differentiable only where an enclosing transform or backward will differentiate the result.
  const bool outside = caller_records && detail::reaches_outside({out}, own);
  const bool create_graph = forward::active() || outside;
  Tensor cotangents = row_basis_batch(out, 0, out_size);
  Tensor rows = out.requires_grad()
                    ? dydx::grad({out}, {input}, {cotangents},
                                 {.retain_graph = true,
                                  .create_graph = create_graph,
                                  .allow_unused = true,
                                  .is_grads_batched = true})[0]
                    : Tensor();
  if (!rows.defined()) return zeros(result_shape, y.dtype());
  // [out_size, B, ...in] -> [B, ...out, ...in]
  return detail::release(rows.reshape({out_size, batch, in_size}).permute({1, 0, 2}).reshape(result_shape), own,
                         outside || (caller_records && forward::active()));
}

}  // namespace

Tensor batch_hessian(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  if (vmap::active()) [[unlikely]] {
    check_batched(x, "batch_hessian");
    detail::check_chunk_size(options.chunk_size, "batch_hessian");
    return over_rows(hessian(one_row(f)), x, options, "batch_hessian");
  }
  check_batch_call(f, x, options, "batch_hessian");
  // The per-row Jacobian is itself a row-wise function of x, and differentiable.
  return in_row_chunks(f, x, options.chunk_size, "batch_hessian", [&](const Tensor& z) {
    return batch_jacobian([f](const Tensor& w) { return batch_jacobian(f, w); }, z);
  });
}

namespace {

Tensor hessian_diagonal_of_rows(const UnaryFunction& f, const Tensor& x) {
  const int64_t batch = x.size(0);
  const int64_t in_size = batch == 0 ? 0 : x.numel() / batch;
  TensorList columns;
  Tensor y;
  // Two nested dual levels along the same e_k: the inner tangent's outer tangent is d2y/dx_k2.
  for (int64_t k = 0; k < in_size; ++k) {
    Tensor e = row_basis(x, k);
    forward_ad::DualLevel outer;
    Tensor once = forward_ad::make_dual(x, e);
    forward_ad::DualLevel inner;
    Tensor out = f(forward_ad::make_dual(once, e));
    check_output(x, out, "batch_hessian_diagonal");
    if (k > 0) check_same_output(y, out, "batch_hessian_diagonal");  // one pass per k, one result
    Tensor first = forward_ad::unpack_dual(out, inner.level()).tangent;
    Tensor second = first.defined() ? forward_ad::unpack_dual(first, outer.level()).tangent : Tensor();
    y = forward_ad::unpack_dual(forward_ad::unpack_dual(out, inner.level()).primal, outer.level()).primal;
    columns.push_back(second.defined() ? second : zeros_like(y));
  }
  if (in_size == 0) {
    y = f(x);
    check_output(x, y, "batch_hessian_diagonal");
  }
  const int64_t out_size = batch == 0 ? 0 : y.numel() / batch;
  Dims result_shape = concat(concat({batch}, row_shape(y)), row_shape(x));
  if (in_size == 0 || out_size == 0) return zeros(result_shape, y.dtype());
  for (Tensor& c : columns) c = c.reshape({batch, out_size});
  return stack(columns, -1).reshape(result_shape);
}

}  // namespace

namespace {

// The diagonal of per-row Hessians [B, ...out, ...in, ...in] (inside vmap): [B, ...out, ...in].
Tensor hessian_diagonal_inside_vmap(const UnaryFunction& f, const Tensor& x, const BatchOptions& options,
                                    const char* op) {
  check_batched(x, op);
  detail::check_chunk_size(options.chunk_size, op);
  const int64_t in_rank = x.dim() - 1, in_size = dydx::detail::product(row_shape(x));
  Tensor h = over_rows(hessian(one_row(f)), x, options, op);
  Dims square(h.sizes().begin(), h.sizes().end() - 2 * in_rank);
  square.push_back(in_size);
  square.push_back(in_size);
  Dims result(h.sizes().begin(), h.sizes().end() - in_rank);
  return einsum("...ii->...i", {h.reshape(square)}).reshape(result);
}

}  // namespace

namespace detail {

void check_row_wise_call(const UnaryFunction& f, const Tensor& x, const BatchOptions& options, const char* op) {
  check_batch_call(f, x, options, op);
}
void check_row_wise_output(const Tensor& x, const Tensor& y, const char* op) { check_output(x, y, op); }
Tensor over_row_chunks(const UnaryFunction& f, const Tensor& x, int64_t chunk_size, const char* op,
                       const std::function<Tensor(const Tensor&)>& compute, bool sliced_by_default) {
  return in_row_chunks(f, x, chunk_size, op, compute, sliced_by_default);
}

}  // namespace detail

Tensor batch_hessian_diagonal(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  if (vmap::active()) [[unlikely]] return hessian_diagonal_inside_vmap(f, x, options, "batch_hessian_diagonal");
  check_batch_call(f, x, options, "batch_hessian_diagonal");
  return in_row_chunks(f, x, options.chunk_size, "batch_hessian_diagonal",
                       [&](const Tensor& z) { return hessian_diagonal_of_rows(f, z); });
}

// The forward Laplacian: one pass of f carries, for every tensor, its value, its d directional
// derivatives g and its Laplacian L together, as the d + 1 tangents of a forward-Laplacian level
// (see forward::make_laplacian_level). No Hessian, nor its diagonal, is ever formed.
namespace {

Tensor laplacian_of_rows(const UnaryFunction& f, const Tensor& x) {
  const int64_t d = dydx::detail::product(row_shape(x));
  // Every row starts along e_1 .. e_d with a zero Laplacian: tangents [d + 1, B, ...in].
  return detail::sum_of_second_derivatives(f, x, row_basis_batch(x, 0, d));
}

}  // namespace

namespace detail {

Tensor sum_of_second_derivatives(const UnaryFunction& f, const Tensor& x, const Tensor& directions) {
  const int64_t d = directions.size(0);
  // Directions that are the same in every row (the axes, sigma's columns) stay one row repeated,
  // with the zero Laplacian: the first layer's products then run once (see tangent_product).
  const bool repeated = x.dim() >= 1 && x.size(0) > 1 && directions.stride(1) == 0;
  const Tensor rows = repeated ? x.narrow(0, 0, 1) : x;
  Tensor seed = cat({repeated ? directions.narrow(1, 0, 1) : directions, zeros_like(rows).unsqueeze(0)});
  if (repeated) seed = seed.expand(concat({d + 1}, x.sizes()));
  forward_ad::DualLevel level;
  forward::make_laplacian_level(level.level(), d);
  Tensor out = f(forward::make_batched_dual(x, seed));
  check_output(x, out, "laplacian");
  auto [y, tangents] = forward_ad::unpack_dual(out, level.level());
  if (!tangents.defined()) return zeros_like(y);
  // A copy, so that the caller does not keep the d directional derivatives alive through a view.
  return tangents.select(0, d).clone();
}

}  // namespace detail

Tensor laplacian(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  if (vmap::active()) [[unlikely]] {
    // Inside vmap, from each row's Hessian diagonal: a Hessian per row, not the forward Laplacian's one pass.
    const Tensor diagonal = hessian_diagonal_inside_vmap(f, x, options, "laplacian");
    std::vector<int64_t> in_dims;
    for (int64_t d = 0; d < x.dim() - 1; ++d) in_dims.push_back(diagonal.dim() - 1 - d);
    return in_dims.empty() ? diagonal : diagonal.sum(in_dims);
  }
  check_batch_call(f, x, options, "laplacian");
  const int64_t slices = dydx::detail::product(row_shape(x)) + 1;
  return in_row_chunks(f, x, detail::stacked_chunk_size(options.chunk_size, slices, x.size(0)), "laplacian",
                       [&](const Tensor& z) { return laplacian_of_rows(f, z); }, options.chunk_size == 0);
}

}  // namespace dydx::func
