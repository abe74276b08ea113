// Per-sample derivatives of row-wise functions: batch_jacobian, batch_hessian, its diagonal and the Laplacian.
//
// f maps x [B, ...in] to y [B, ...out] with row b of y depending on row b of x only. Then one
// direction per element of a row (not of the batch) suffices: a tangent (or cotangent) set to e_k
// in every row is pushed once for the whole batch, and row b of the result is row b's derivative.
#include "autograd/forward_mode.hpp"
#include "core/shape.hpp"
#include "transforms/history.hpp"
#include "transforms/reverse_input.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/forward_ad.hpp"
#include "dydx/func.hpp"
#include "dydx/ops.hpp"

namespace dydx::func {

namespace {

Dims row_shape(const Tensor& t) { return Dims(t.sizes().begin() + 1, t.sizes().end()); }

Dims concat(IntArrayRef a, IntArrayRef b) {
  Dims out = a.dims();
  for (int64_t s : b) out.push_back(s);
  return out;
}

// e_k in every row: [B, ...row] with element k of each row's flattened values set to 1.
Tensor row_basis(const Tensor& like, int64_t k) {
  const int64_t batch = like.size(0);
  Tensor e = zeros({batch, like.numel() / std::max<int64_t>(batch, 1)}, like.dtype());
  e.select(1, k).fill_(1);
  return e.view(like.sizes());
}

// All of row_basis at once: the d tangents e_1 .. e_d of every row, [d, B, ...row], d = a row's numel.
Tensor every_row_direction(const Tensor& x, int64_t d) {
  Dims shape{d};
  for (int64_t s : x.sizes()) shape.push_back(s);
  return eye(d, x.dtype()).unsqueeze(1).expand({d, x.size(0), d}).reshape(shape);
}

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
  Tensor tangent = jvp(f, x, direction).second;
  // The probe calls f once more: it must return what the Jacobian was taken of.
  const int64_t out_elements = jacobian.numel() / in_size;
  DYDX_CHECK(tangent.numel() == out_elements, op, ": f returned shape ", tangent.sizes(),
             " on the independence check's call but ", out_elements / batch,
             " elements per row before; f must return the same shape every time");
  Tensor actual = tangent.reshape({batch, -1});
  Tensor predicted = matmul(jacobian.reshape({batch, -1, in_size}), direction.reshape({batch, in_size, 1})).reshape({batch, -1});
  std::vector<double> error = (actual - predicted).abs().sum({1}).to(kFloat64).to_vector<double>();
  std::vector<double> size = actual.abs().sum({1}).to(kFloat64).to_vector<double>();
  const double tolerance = x.dtype() == kFloat64 ? 1e-9 : 1e-4;
  for (int64_t b = 0; b < batch; ++b)
    DYDX_CHECK(error[b] <= tolerance * (1 + size[b]), op, ": row ", b,
               " of f(x) depends on other rows of x (a random change of every row moved it by ", error[b],
               " more than its own row accounts for); f must map each row of its batch independently");
}

// dy[b]/dx[b] for every b; batch_jacobian without its optional check.
Tensor per_row_jacobian(const UnaryFunction& f, const Tensor& x);

}  // namespace

namespace {

// Chunks write every slice's result into one tensor, which is only right when f maps each row by
// itself. An f whose rows' shape depends on how many rows it is given (x @ x.T) cannot be: a probe
// of f on one row and on two, outside any derivative, catches it for the cost of two tiny calls.
void check_rows_independent_of_batch_size(const UnaryFunction& f, const Tensor& x, const char* op) {
  NoGradGuard no_grad;
  const Tensor one = f(x.narrow(0, 0, 1).detach()), two = f(x.narrow(0, 0, 2).detach());
  check_output(x.narrow(0, 0, 1), one, op);
  check_output(x.narrow(0, 0, 2), two, op);
  DYDX_CHECK(row_shape(one) == row_shape(two), op, ": with chunk_size, f must map each row by itself, but its "
             "output rows have shape ", row_shape(one), " for 1 row and ", row_shape(two), " for 2 rows");
}

// compute(slice) for slices of x of at most chunk rows, stacked along the batch dim.
Tensor in_chunks(const UnaryFunction& f, const Tensor& x, int64_t chunk, const char* op,
                 const std::function<Tensor(const Tensor&)>& compute) {
  const int64_t batch = x.size(0);
  check_rows_independent_of_batch_size(f, x, op);
  Tensor first = compute(x.narrow(0, 0, chunk));
  const Dims first_shape = first.sizes().dims();
  const ScalarType dtype = first.dtype();
  // Every slice's result must be the first's rows, whatever the slice's length.
  auto checked = [&](Tensor part, int64_t rows) {
    Dims expected = first_shape;
    expected[0] = rows;
    DYDX_CHECK(part.sizes() == IntArrayRef(expected) && part.dtype() == dtype, op, ": the slice of ",
               rows, " rows gave shape ", part.sizes(), " where the first slice's rows ask for ", expected,
               "; with chunk_size, f must map each row by itself");
    return part;
  };
  if (first.requires_grad() || forward::has_tangent(first)) {
    // Differentiated further: cat keeps every slice's history and tangents.
    TensorList parts{first};
    for (int64_t start = chunk; start < batch; start += chunk) {
      const int64_t rows = std::min(chunk, batch - start);
      parts.push_back(checked(compute(x.narrow(0, start, rows)), rows));
    }
    return cat(parts, 0);
  }
  Dims shape = first_shape;
  shape[0] = batch;
  Tensor result = empty(shape, first.dtype());
  result.narrow(0, 0, chunk).copy_(first);
  first = Tensor();  // freed before the next slice runs
  for (int64_t start = chunk; start < batch; start += chunk) {
    const int64_t rows = std::min(chunk, batch - start);
    result.narrow(0, start, rows).copy_(checked(compute(x.narrow(0, start, rows)), rows));
  }
  return result;
}

void check_chunk_size(const BatchOptions& options, const char* op) {
  DYDX_CHECK(options.chunk_size >= 0, op, ": chunk_size must be positive (or 0 for the whole batch), got ",
             options.chunk_size);
}

// compute(x), or compute of slices of options.chunk_size rows stacked, when that is set and smaller.
Tensor maybe_in_chunks(const UnaryFunction& f, const Tensor& x, const BatchOptions& options, const char* op,
                       const std::function<Tensor(const Tensor&)>& compute) {
  return options.chunk_size > 0 && x.size(0) > options.chunk_size ? in_chunks(f, x, options.chunk_size, op, compute)
                                                                   : compute(x);
}

}  // namespace

Tensor batch_jacobian(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  check_batched(x, "batch_jacobian");
  check_chunk_size(options, "batch_jacobian");
  Tensor result = maybe_in_chunks(f, x, options, "batch_jacobian", [&](const Tensor& z) { return per_row_jacobian(f, z); });
  if (options.check_independence) check_independence(f, x, result, "batch_jacobian");
  return result;
}

namespace {

// With this few inputs per row, forward mode pushes all of them in one pass whatever the output's
// size: the primal is computed once and each direction costs about one tangent. Wider rows first
// learn the output's size, which picks between forward and reverse mode.
constexpr int64_t kAllDirectionsAtOnce = 8;

Tensor forward_jacobian_in_one_pass(const UnaryFunction& f, const Tensor& x, int64_t in_size) {
  const int64_t batch = x.size(0);
  forward_ad::DualLevel level;
  Tensor dual;
  if (in_size == 1)
    dual = forward_ad::make_dual(x, ones_like(x));
  else
    dual = forward::make_batched_dual(x, every_row_direction(x, in_size));
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
    Tensor tangents = eye(in_size, x.dtype()).narrow(0, 1, in_size - 1).unsqueeze(1).expand({in_size - 1, batch, in_size});
    Dims tangent_shape{in_size - 1};
    for (int64_t s : x.sizes()) tangent_shape.push_back(s);
    forward_ad::DualLevel level;
    Tensor out = f(forward::make_batched_dual(x, tangents.reshape(tangent_shape)));
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
  Tensor cotangents = eye(out_size, out.dtype()).unsqueeze(1).expand({out_size, batch, out_size}).reshape(
      concat(concat({out_size}, {batch}), out_shape));
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
  check_batched(x, "batch_hessian");
  check_chunk_size(options, "batch_hessian");
  if (options.check_independence) check_independence(f, x, batch_jacobian(f, x), "batch_hessian");
  // The per-row Jacobian is itself a row-wise function of x, and differentiable.
  return maybe_in_chunks(f, x, options, "batch_hessian", [&](const Tensor& z) {
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

Tensor batch_hessian_diagonal(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  check_batched(x, "batch_hessian_diagonal");
  check_chunk_size(options, "batch_hessian_diagonal");
  if (options.check_independence) check_independence(f, x, batch_jacobian(f, x), "batch_hessian_diagonal");
  return maybe_in_chunks(f, x, options, "batch_hessian_diagonal",
                         [&](const Tensor& z) { return hessian_diagonal_of_rows(f, z); });
}

// The forward Laplacian: one pass of f carries, for every tensor, its value, its d directional
// derivatives g and its Laplacian L together, as the d + 1 tangents of a forward-Laplacian level
// (see forward::make_laplacian_level). No Hessian, nor its diagonal, is ever formed.
namespace {

Tensor laplacian_of_rows(const UnaryFunction& f, const Tensor& x) {
  const int64_t d = dydx::detail::product(row_shape(x));
  // Every row starts along e_1 .. e_d with a zero Laplacian: tangents [d + 1, B, ...in].
  Tensor seed = cat({every_row_direction(x, d), zeros_like(x).unsqueeze(0)});
  forward_ad::DualLevel level;
  forward::make_laplacian_level(level.level(), d);
  Tensor out = f(forward::make_batched_dual(x, seed));
  check_output(x, out, "laplacian");
  auto [y, tangents] = forward_ad::unpack_dual(out, level.level());
  if (!tangents.defined()) return zeros_like(y);
  // A copy, so that the caller does not keep the d directional derivatives alive through a view.
  return tangents.select(0, d).clone();
}

}  // namespace

Tensor laplacian(const UnaryFunction& f, const Tensor& x, BatchOptions options) {
  check_batched(x, "laplacian");
  check_chunk_size(options, "laplacian");
  if (options.check_independence) check_independence(f, x, batch_jacobian(f, x), "laplacian");
  return maybe_in_chunks(f, x, options, "laplacian", [&](const Tensor& z) { return laplacian_of_rows(f, z); });
}

}  // namespace dydx::func
