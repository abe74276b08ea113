// linalg.solve and linalg.inv: X = A^{-1} B and A^{-1} for batches of square matrices, by LU with
// partial pivoting (cpu/lu_solve.hpp), with PyTorch's semantics, errors and grad_fn names.
//
// Both rules come from differentiating A X = B: A dX = dB - dA X. So the JVP is a solve with the same
// A, the VJP solves with A^T (gB = A^{-T} g, gA = -gB X^T), the second derivative along one direction
// is d2X = -2 A^{-1} dA dX, and the normalised Taylor coefficients follow the recurrence
// X_k = A^{-1} (B_k - sum_{j=1..k} A_j X_{k-j}). The inverse is the solve with B = I (what PyTorch
// computes too): dY = -Y dA Y, d2Y = 2 Y dA Y dA Y, Y_k = -Y sum_{j=1..k} A_j Y_{k-j}. Every rule is
// written with solve, inv and matmul themselves, so derivatives of any order follow.
#include <climits>
#include <memory>
#include <vector>

#include "cpu/lu_solve.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {
namespace {

// t's dims but its last `drop`: a batch of matrices' (or vectors') batch dims.
IntArrayRef batch_dims_of(const Tensor& t, int64_t drop) { return IntArrayRef(t.sizes().data(), static_cast<size_t>(t.dim() - drop)); }

// PyTorch's ScalarType names, which its linalg messages print.
const char* torch_type_name(ScalarType t) {
  switch (t) {
    case kFloat32: return "Float";
    case kFloat64: return "Double";
    case kInt64: return "Long";
    case kBool: return "Bool";
  }
  return "?";
}

void check_square_matrices(const Tensor& a, const char* op, const char* name) {
  DYDX_CHECK(a.dim() >= 2, op, ": The input tensor ", name, " must have at least 2 dimensions.");
  DYDX_CHECK(a.size(-1) == a.size(-2), op, ": ", name, " must be batches of square matrices, but they are ", a.size(-2),
             " by ", a.size(-1), " matrices");
  DYDX_CHECK(is_floating_point(a.dtype()), op, ": Expected a floating point or complex tensor as input. Got ",
             torch_type_name(a.dtype()));
  DYDX_CHECK(a.size(-1) <= INT_MAX, op, ": ", a.size(-1), " by ", a.size(-1), " matrices are beyond LAPACK's 32-bit sizes");
}

// A fresh copy of t broadcast to the batch dims, as contiguous (row-major) matrices, or column-major
// ones (a dense [batch..., cols, rows]) where `column_major`: LAPACK overwrites it. Always a copy, never
// the caller's storage.
Tensor lapack_copy(const Tensor& t, IntArrayRef batch, bool column_major) {
  Dims broadcast(batch.begin(), batch.end());
  broadcast.push_back(t.size(-2));
  broadcast.push_back(t.size(-1));
  const Tensor source = column_major ? t.expand(broadcast).transpose(-1, -2) : t.expand(broadcast);
  Tensor copy = detail::make_empty(source.sizes(), t.dtype());
  detail::copy_values(copy, source);
  return copy;
}

// A's LU factors (of A^T, column-major: A's row-major memory factored as it is), one per matrix of A's
// own batch, and their row interchanges. A solve's node keeps them so that the gradient's solve with
// A^T needs no second factorisation (PyTorch's LinalgSolveExBackward0 keeps them too).
struct LuFactors {
  Tensor factors;           // [A's batch..., n, n]
  std::vector<int> pivots;  // n per matrix
};

// For each system of the broadcast batch (row-major order), the index of its A among A's own
// matrices: a broadcast dim of A (size 1, or missing) stays at 0. Empty where the batches are the same.
std::vector<int64_t> factor_of_each(IntArrayRef a_batch, IntArrayRef batch) {
  if (a_batch == batch) return {};
  const int64_t systems = detail::product(batch);
  const size_t lead = batch.size() - a_batch.size();
  std::vector<int64_t> index(static_cast<size_t>(systems));
  Dims position(batch.size(), 0);
  for (int64_t i = 0; i < systems; ++i) {
    int64_t f = 0;
    for (size_t d = 0; d < a_batch.size(); ++d) f = f * a_batch[d] + (a_batch[d] == 1 ? 0 : position[lead + d]);
    index[static_cast<size_t>(i)] = f;
    for (size_t d = batch.size(); d-- > 0 && ++position[d] == batch[d];) position[d] = 0;
  }
  return index;
}

// X = A^{-1} B for A [..., n, n] and B [..., n, k] of one floating dtype, batch dims broadcast, or
// A^{-1} itself where `inverse` (b unused); no history (the records add it). Each of A's own matrices
// is factored once, whatever B's batch, and a singular one raises before any solve, named by its index
// in A's batch, as PyTorch's. A's row-major copy is LAPACK's column-major A^T, factored as it is: A X
// = B is then its transposed solve, and A^T Z = I gives Z = A^{-T}, column-major, which is A^{-1}
// row-major, so the inverse moves no element twice. `op` names the caller in the error.
Tensor solve_values(const Tensor& a, const Tensor& b, const char* op, bool inverse,
                    std::shared_ptr<const LuFactors>* keep_factors = nullptr) {
  NoGradGuard no_grad;
  const int64_t n = a.size(-1);
  const Dims a_batch(batch_dims_of(a, 2).begin(), batch_dims_of(a, 2).end());
  const Dims batch = inverse ? a_batch : detail::broadcast_shapes(a_batch, batch_dims_of(b, 2), op);
  Tensor factors = lapack_copy(a.detach(), a_batch, false);
  std::vector<int> pivots(static_cast<size_t>(detail::product(a_batch) * n));
  cpu::ZeroPivot singular;
  cpu::dispatch_floating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    singular = cpu::lu_factor<T>(factors.data_ptr<T>(), pivots.data(), detail::product(a_batch), n);
  });
  if (singular.batch >= 0) {
    const std::string where = a_batch.empty() ? "" : "(Batch element " + std::to_string(singular.batch) + "): ";
    if (inverse)
      detail::fail_with<LinAlgError>(op, ": ", where, "The diagonal element ", singular.pivot,
                                     " is zero, the inversion could not be completed because the input matrix is singular.");
    detail::fail_with<LinAlgError>("torch.", op, ": ", where, "The solver failed because the input matrix is singular.");
  }
  Tensor x;  // the right-hand sides, overwritten by the solution, column-major
  if (inverse) {
    Dims shape = batch;
    shape.push_back(n);
    shape.push_back(n);
    x = eye(n, TensorOptions().dtype(a.dtype())).expand(shape).contiguous();
  } else {
    x = lapack_copy(b.detach(), batch, true);
  }
  const std::vector<int64_t> factor_of = factor_of_each(a_batch, batch);
  cpu::dispatch_floating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::lu_solve_factored<T>(factors.data_ptr<T>(), pivots.data(), x.data_ptr<T>(), detail::product(batch), n,
                              x.size(-2), !inverse, factor_of.empty() ? nullptr : factor_of.data());
  });
  if (keep_factors) *keep_factors = std::make_shared<const LuFactors>(LuFactors{factors, std::move(pivots)});
  return inverse ? x : x.transpose(-1, -2).contiguous();
}

// A^{-T} G for G [batch..., n, k] (the solve's result's shape) with A's kept factors: LAPACK's
// untransposed solve with the factors of A^T, each system with its own A's.
Tensor solve_transposed_with(const LuFactors& lu, const Tensor& g) {
  NoGradGuard no_grad;
  const int64_t n = lu.factors.size(-1);
  Tensor y = lapack_copy(g, batch_dims_of(g, 2), true);
  const std::vector<int64_t> factor_of = factor_of_each(batch_dims_of(lu.factors, 2), batch_dims_of(g, 2));
  cpu::dispatch_floating(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::lu_solve_factored<T>(lu.factors.data_ptr<T>(), lu.pivots.data(), y.data_ptr<T>(), detail::product(batch_dims_of(g, 2)), n,
                              g.size(-1), false, factor_of.empty() ? nullptr : factor_of.data());
  });
  return y.transpose(-1, -2).contiguous();
}

// A vector's or a matrix's rules as matrices: a vector B (and its tangents, cotangents and X) is a
// column.
Tensor as_columns(const Tensor& t, bool vector) { return vector && t.defined() ? t.unsqueeze(-1) : t; }
Tensor as_given(const Tensor& t, bool vector) { return vector && t.defined() ? t.squeeze(-1) : t; }

// A tangent (or coefficient) of an input of `own_rank` dims, with leading batch dims in front, made
// `rank` dims past them: its matrix batch dims padded with ones so that they line up with the
// result's when an input has fewer batch dims than the other (A [n, n] beside B [3, n, k]).
Tensor lined_up(const Tensor& t, int64_t own_rank, int64_t rank) {
  return t.defined() ? align_to_rank(t, t.dim() - own_rank, rank) : t;
}

}  // namespace

Tensor solve_matrices(const Tensor& a, const Tensor& b, bool vector);

namespace {

struct SolveAttrs {
  bool vector;  // B (and X) are vectors: B [..., n] rather than [..., n, k]
  // The factors, where the call made a node outside a func::compile recording (a recording's replay
  // computes its gradient from A again, so that no factors of one call outlive it there). Freed with
  // the node's saved tensors (OpNode::release_saved), as PyTorch frees its saved LU.
  std::shared_ptr<const LuFactors> lu;
  void release() { lu.reset(); }
};

struct SolveRecord : Named<"linalg_solve", "LinalgSolveExBackward0"> {
  using Attrs = SolveAttrs;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  static Tensor replay(const TensorList& in, const Attrs& attrs) { return solve_matrices(in[0], in[1], attrs.vector); }
  // gB = A^{-T} g, by the kept factors where nothing differentiates the gradient; gA = -gB X^T.
  static void vjp(const Backward<SolveRecord>& b, const Tensor& g, Tensor* grads) {
    const bool vector = b.attrs().vector;
    const Tensor& a = b.input(0);
    const auto transposed_solve = [vector](const TensorList& in) {
      return solve_matrices(in[0].transpose(-1, -2), as_columns(in[1], vector), false);
    };
    Tensor gb;
    if (b.attrs().lu && b.batch_dims(g) == 0 && !is_grad_enabled() && !forward::active()) {
      gb = solve_transposed_with(*b.attrs().lu, as_columns(g, vector));
      compile::detail::note_kernel("linalg_solve_backward", {&a, &g}, gb, transposed_solve);
    } else {
      gb = transposed_solve({a, g});
    }
    if (b.needs_grad(1)) grads[1] = as_given(gb, vector);
    if (b.needs_grad(0)) grads[0] = -matmul(gb, as_columns(b.output(), vector).transpose(-1, -2));
  }
  // dX = A^{-1} (dB - dA X).
  static Tensor jvp(const Primal<SolveRecord>& p, const TensorList& t) {
    const bool vector = p.attrs().vector;
    const Tensor x = as_columns(p.output(), vector);
    const Tensor ta = lined_up(t[0], p.input(0).dim(), x.dim());
    const Tensor tb = lined_up(as_columns(t[1], vector), p.input(1).dim() + vector, x.dim());
    const Tensor rhs = sum_terms(tb, ta.defined() ? -matmul(ta, x) : Tensor());
    return as_given(solve_matrices(p.input(0), rhs, false), vector);
  }
  // sum_k -2 A^{-1} H_k dX_k, with H_k the direction of A and dX_k the JVP along (H_k, K_k); zero when
  // A does not move (X is linear in B).
  static Tensor curvature(const Primal<SolveRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const bool vector = p.attrs().vector;
    const Tensor x = as_columns(p.output(), vector);
    const Tensor ga = lined_up(g[0], p.input(0).dim(), x.dim());
    const Tensor gb = lined_up(as_columns(g[1], vector), p.input(1).dim() + vector, x.dim());
    const Tensor dx = solve_matrices(p.input(0), sum_terms(gb, -matmul(ga, x)), false);
    return as_given(solve_matrices(p.input(0), matmul(ga, dx).sum({0}), false) * -2.0, vector);
  }
  static Tensor taylor(const Primal<SolveRecord>& p, const TensorList& series) {
    const bool vector = p.attrs().vector;
    const Tensor& a = p.input(0);
    TensorList x{as_columns(p.output(), vector)};
    const int64_t rank = x[0].dim();
    for (int64_t k = 1; k <= forward::taylor_order(); ++k) {
      Tensor rhs = lined_up(as_columns(taylor::coefficient(series[1], k), vector), p.input(1).dim() + vector, rank);
      if (series[0].defined())
        for (int64_t j = 1; j <= k; ++j)
          if (x[k - j].defined())
            rhs = sum_terms(rhs, -matmul(lined_up(taylor::coefficient(series[0], j), a.dim(), rank), x[k - j]));
      x.push_back(rhs.defined() ? solve_matrices(a, rhs, false) : Tensor());
    }
    for (Tensor& term : x) term = as_given(term, vector);
    return taylor::stacked_terms(x);
  }
};

struct InvRecord : Named<"linalg_inv", "LinalgInvExBackward0"> {
  static constexpr Saves saves{.output = true};
  static Tensor replay(const TensorList& in, NoAttrs) { return linalg::inv(in[0]); }
  // gA = -Y^T g Y^T.
  static void vjp(const Backward<InvRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor yt = b.output().transpose(-1, -2);
    grads[0] = -matmul(matmul(yt, g), yt);
  }
  static Tensor jvp(const Primal<InvRecord>& p, const TensorList& t) {
    const Tensor& y = p.output();
    return -matmul(matmul(y, t[0]), y);
  }
  // sum_k 2 Y H_k Y H_k Y.
  static Tensor curvature(const Primal<InvRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const Tensor& y = p.output();
    const Tensor yh = matmul(y, g[0]);
    return matmul(matmul(yh, yh), y).sum({0}) * 2.0;
  }
  static Tensor taylor(const Primal<InvRecord>& p, const TensorList& series) {
    const Tensor& y = p.output();
    TensorList terms{y};
    for (int64_t k = 1; k <= forward::taylor_order(); ++k) {
      Tensor sum;
      for (int64_t j = 1; j <= k; ++j)
        if (terms[k - j].defined()) sum = sum_terms(sum, matmul(taylor::coefficient(series[0], j), terms[k - j]));
      terms.push_back(sum.defined() ? -matmul(y, sum) : Tensor());
    }
    return taylor::stacked_terms(terms);
  }
};

// PyTorch's test for a vector right-hand side (linalg_solve_is_vector_rhs): B of one dim, or of one
// dim fewer than A with A's batch dims and n.
bool is_vector_rhs(const Tensor& a, const Tensor& b) {
  if (b.dim() == 1) return true;
  if (b.dim() != a.dim() - 1) return false;
  return b.sizes() == batch_dims_of(a, 1);
}

// vmap: the batch first in both, sample ranks padded so that the samples' batch dims broadcast as
// they do in each sample's solve; one batched solve.
Tensor solve_rule(const Tensor& a, const Tensor& b, bool vector) {
  const uint32_t level = vmap::top_level({&a, &b});
  const vmap::Arg x = vmap::unwrap(a, level), y = vmap::unwrap(b, level);
  const int64_t rank = std::max(a.dim(), b.dim() + (vector ? 1 : 0));
  const Tensor lhs = x.bdim ? vmap::pad_sample_rank(vmap::batch_first(x), rank) : a;
  Tensor rhs = y.bdim ? vmap::batch_first(y) : b;
  if (vector) rhs = rhs.unsqueeze(-1);
  if (y.bdim) rhs = vmap::pad_sample_rank(rhs, rank);
  return vmap::wrap(as_given(solve_matrices(lhs, rhs, false), vector), 0, level);
}

}  // namespace

// The solve with B's kind already known (the rules' columns are never taken for vectors).
Tensor solve_matrices(const Tensor& a, const Tensor& b, bool vector) {
  if (vmap::takes_rule({&a, &b})) [[unlikely]] return solve_rule(a, b, vector);
  const Tensor columns = as_columns(b, vector);
  const bool makes_node = is_grad_enabled() && (a.requires_grad() || b.requires_grad()) && !compile::detail::recording();
  std::shared_ptr<const LuFactors> lu;
  Tensor out = as_given(solve_values(a, columns, "linalg.solve", false, makes_node ? &lu : nullptr), vector);
  finish<SolveRecord>({&a, &b}, out, {vector, std::move(lu)});
  return out;
}

}  // namespace ops

namespace linalg {

Tensor solve(const Tensor& a, const Tensor& b, bool left) {
  ops::check_square_matrices(a, "linalg.solve", "A");
  DYDX_CHECK(b.dim() >= 1, "linalg.solve: The input tensor B must have at least 2 dimensions.");
  DYDX_CHECK(a.dtype() == b.dtype(), "linalg.solve: Expected A and B to have the same dtype, but found A of type ",
             ops::torch_type_name(a.dtype()), " and B of type ", ops::torch_type_name(b.dtype()), " instead");
  const bool vector = ops::is_vector_rhs(a, b);
  DYDX_CHECK(vector || b.dim() >= 2, "linalg.solve: The input tensor B must have at least 2 dimensions.");
  // B's rows and columns as a matrix (a vector is a column); X A = B needs B's columns to match A.
  const int64_t rows = vector ? b.size(-1) : b.size(-2), cols = vector ? 1 : b.size(-1);
  DYDX_CHECK((left ? rows : cols) == a.size(-1), "linalg.solve: Incompatible shapes of A and B for the equation ",
             left ? "AX = B (" : "XA = B (", a.size(-2), "x", a.size(-1), " and ", rows, "x", cols, ")");
  DYDX_CHECK(left || !vector, "linalg.solve: Vector broadcasting of the left hand side is not supported for left=False. "
             "In this case linalg.solve is equivalent to B / A.squeeze(-1)");
  DYDX_CHECK(b.size(-1) <= INT_MAX, "linalg.solve: ", b.size(-1), " right-hand sides are beyond LAPACK's 32-bit sizes");
  // Batch dims that do not broadcast raise here, before any work (broadcast_shapes names them).
  detail::broadcast_shapes(ops::batch_dims_of(a, 2), ops::batch_dims_of(b, vector ? 1 : 2), "linalg.solve");
  if (left) return ops::solve_matrices(a, b, vector);
  // X A = B is A^T X^T = B^T (PyTorch's own form of it); B is a matrix here.
  return ops::solve_matrices(a.transpose(-1, -2), b.transpose(-1, -2), false).transpose(-1, -2);
}

Tensor inv(const Tensor& a) {
  ops::check_square_matrices(a, "linalg.inv", "A");
  if (vmap::takes_rule(a)) [[unlikely]] {
    const uint32_t level = vmap::batched(a)->level;
    return vmap::wrap(inv(vmap::batch_first(vmap::unwrap(a, level))), 0, level);
  }
  Tensor out = ops::solve_values(a, Tensor(), "linalg.inv", true);
  ops::finish<ops::InvRecord>({&a}, out, {});
  return out;
}

}  // namespace linalg

Tensor inverse(const Tensor& a) { return linalg::inv(a); }
Tensor Tensor::inverse() const { return linalg::inv(*this); }

}  // namespace dydx
