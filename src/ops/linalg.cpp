// Matrix products: mm and bmm as primitives with VJP rules, and matmul composed from them.
#include "cpu/cpu_blas.hpp"
#include "ops/biharmonic_step.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"

namespace dydx {
namespace ops {
namespace {

// Products never promote, as in PyTorch ("expected scalar type Float but found Double"): a float64
// operand meeting a float32 weight is almost always a mistake, and promoting would silently double
// the work and memory of the larger one.
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dtype() == b.dtype(), op, ": expected both operands to have the same dtype, but got ", a.dtype(), " ",
             a.sizes(), " and ", b.dtype(), " ", b.sizes());
  DYDX_CHECK(a.dtype() != kBool, op, ": not implemented for bool tensors (", a.sizes(), " and ", b.sizes(),
             "); convert them first, e.g. with .to(kFloat32)");
}

[[noreturn]] void mismatch(const char* op, const Tensor& a, const Tensor& b, int64_t ka, int64_t kb) {
  detail::fail(op, ": cannot multiply ", a.sizes(), " by ", b.sizes(), " (", ka, " != ", kb, ")");
}

// mm and bmm are bilinear: their only second-order term is 2 sum_k ga_k gb_k, as a product.
Tensor bilinear_curvature(const Tensor& ga, const Tensor& gb) {
  if (!ga.defined() || !gb.defined()) return {};
  return matmul(ga, gb).sum({0}) * 2.0;
}

// a @ b by the op Product (mm or bmm); with leading batch dims on a cotangent or tangent, the
// product broadcasts over them (matmul) instead.
template <class Product>
Tensor product(const Tensor& a, const Tensor& b, bool batched, Product op) {
  if (!a.defined() || !b.defined()) return {};
  return batched ? matmul(a, b) : op(a, b);
}
const auto plain_mm = [](const Tensor& a, const Tensor& b) { return a.mm(b); };
// A tangent a times b in a JVP rule. Tangents that repeat along a dim (stride 0: the same direction
// seeded in every row by func::laplacian and the batch_* transforms) are multiplied once and the
// product repeated the same way, which is free, where folding them into rows would first copy them
// and then multiply every copy: a network's first layer costs one small product instead of one per
// row. Only tangents: results of ops and gradients stay dense, as PyTorch's are.
Tensor tangent_product(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return {};
  Tensor once = a;
  bool repeats = false;
  for (int64_t d = 0; d + 1 < a.dim(); ++d)
    if (a.stride(d) == 0 && a.size(d) > 1) {
      once = once.narrow(d, 0, 1);
      repeats = true;
    }
  if (!repeats) return matmul(a, b);
  Dims shape(a.sizes().begin(), a.sizes().end() - 1);
  shape.push_back(b.size(1));
  return matmul(once, b).expand(shape);
}

// Named only through decltype below (clang would warn that the variable itself is never emitted).
[[maybe_unused]] const auto plain_bmm = [](const Tensor& a, const Tensor& b) { return bmm(a, b); };

// bmm's gradient for b when every a[i] is one row [1, k] and the cotangent g [G..., B, 1, m] carries nb
// leading batch dims G (jacrev's rows): the outer products a[i]^T g[..., i, :], one [k, m] each. They
// are written sample-major, [B, G..., k, m] in memory (returned as the [G..., B, k, m] view), and in
// b's own layout when b is a transposed view (an expanded weight's .t(), which is how vmap's linear
// reads a shared weight), as PyTorch's mm backward keeps a transposed input's layout. Then the rows
// of a per-sample Jacobian (vmap of jacrev w.r.t. a weight) are one contiguous block per sample,
// which reading it as [B * rows, numel] (the NTK's contraction) needs; the default order would make
// that reshape copy the whole Jacobian. Only the small operands a and g are reordered.
Tensor per_sample_outer_products(const Tensor& a, const Tensor& g, const Tensor& b, int64_t nb) {
  std::vector<int64_t> grad_dims, after_sample;
  for (int64_t d = 0; d < nb; ++d) {
    grad_dims.push_back(d);
    after_sample.push_back(d + 1);
  }
  const Tensor rows = g.movedim(grad_dims, after_sample);  // [B, G..., 1, m]
  Dims shape = {a.size(0)};
  for (int64_t d = 0; d <= nb; ++d) shape.push_back(1);
  shape.push_back(a.size(2));
  const Tensor columns = a.reshape(shape);  // [B, 1..., 1, k]
  const bool b_transposed = b.size(1) > 1 && b.size(2) > 1 && b.stride(1) == 1 && b.stride(2) == b.size(1);
  const Tensor out = b_transposed ? matmul(rows.transpose(-1, -2), columns)   // [B, G..., m, k]
                                  : matmul(columns.transpose(-1, -2), rows);  // [B, G..., k, m]
  const Tensor grad = out.movedim(after_sample, grad_dims);
  return b_transposed ? grad.transpose(-1, -2) : grad;
}

// out = a @ b for matrices (mm) or batches of them (bmm).
template <class Self, class Product, int64_t Rank>
struct MatrixProduct {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static Tensor transposed(const Tensor& t) { return Rank == 2 ? t.t() : t.transpose(1, 2); }
  static void vjp(const Backward<Self>& b, const Tensor& g, Tensor* grads) {
    const int64_t nb = b.batch_dims(g);
    const bool batched = nb > 0;
    if (b.needs_grad(0)) grads[0] = product(g, transposed(b.input(1)), batched, Product{});
    if (b.needs_grad(1)) {
      const Tensor& a = b.input(0);
      if (Rank == 3 && batched && a.size(0) > 1 && a.size(1) == 1 && g.defined())
        grads[1] = per_sample_outer_products(a, g, b.input(1), nb);
      else
        grads[1] = product(transposed(a), g, batched, Product{});
    }
  }
  static Tensor jvp(const Primal<Self>& p, const TensorList& t) {
    const bool batched = p.batch_dims() > 0;
    return sum_terms(Rank == 2 && batched ? tangent_product(t[0], p.input(1)) : product(t[0], p.input(1), batched, Product{}),
                     product(p.input(0), t[1], batched, Product{}));
  }
  static Tensor curvature(const Primal<Self>&, const TensorList& g) { return bilinear_curvature(g[0], g[1]); }
  // Linear in each factor alone; Leibniz's rule when both move.
  static Tensor biharmonic(const Primal<Self>& p, const TensorList& t, int64_t d) {
    if (!t[0].defined() || !t[1].defined()) return biharmonic::linear_step(jvp(p, t), p.output(), d);
    return biharmonic::product_composed(p.input(0), t[0], p.input(1), t[1], d, [](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  }
  static Tensor taylor(const Primal<Self>& p, const TensorList& x) {
    return taylor::cauchy_product(p.input(0), x[0], p.input(1), x[1], [](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  }
};
struct MmRecord : MatrixProduct<MmRecord, decltype(plain_mm), 2>, Named<"mm", "MmBackward0"> {
  static Tensor replay(const TensorList& in, NoAttrs) { return mm(in[0], in[1]); }
  static compile::Product compile_product(NoAttrs) { return {.present = true, .has_bias = false}; }
};
struct BmmRecord : MatrixProduct<BmmRecord, decltype(plain_bmm), 3>, Named<"bmm", "BmmBackward0"> {
  static Tensor replay(const TensorList& in, NoAttrs) { return bmm(in[0], in[1]); }
};

// dot(a, b) of two vectors and mv(A, v) of a matrix and a vector: bilinear as mm is, with the rules
// written through broadcasting products so that cotangents and tangents may carry leading batch dims.
// Each record's `contract` is its product of operands of the inputs' shapes with leading dims in front
// (Taylor's coefficients, the biharmonic step's stacks).
struct DotRecord : Named<"dot", "DotBackward0"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static Tensor contract(const Tensor& a, const Tensor& b) { return (a * b).sum(-1); }
  static Tensor replay(const TensorList& in, NoAttrs) { return dot(in[0], in[1]); }
  static void vjp(const Backward<DotRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor column = g.unsqueeze(-1);  // [G..., 1] against the vectors' [n]
    if (b.needs_grad(0)) grads[0] = column * b.input(1);
    if (b.needs_grad(1)) grads[1] = column * b.input(0);
  }
  static Tensor jvp(const Primal<DotRecord>& p, const TensorList& t) {
    return sum_terms(t[0].defined() ? matmul(t[0], p.input(1)) : Tensor(),
                     t[1].defined() ? matmul(t[1], p.input(0)) : Tensor());
  }
  static Tensor curvature(const Primal<DotRecord>&, const TensorList& g) {
    if (!g[0].defined() || !g[1].defined()) return {};
    return contract(g[0], g[1]).sum({0}) * 2.0;  // 2 sum_k ga_k . gb_k
  }
  static Tensor biharmonic(const Primal<DotRecord>& p, const TensorList& t, int64_t d) {
    if (!t[0].defined() || !t[1].defined()) return biharmonic::linear_step(jvp(p, t), p.output(), d);
    return biharmonic::product_composed(p.input(0), t[0], p.input(1), t[1], d, contract);
  }
  static Tensor taylor(const Primal<DotRecord>& p, const TensorList& x) {
    return taylor::cauchy_product(p.input(0), x[0], p.input(1), x[1], contract);
  }
};
struct MvRecord : Named<"mv", "MvBackward0"> {
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static Tensor contract(const Tensor& a, const Tensor& v) { return matmul(a, v.unsqueeze(-1)).squeeze(-1); }
  static Tensor replay(const TensorList& in, NoAttrs) { return mv(in[0], in[1]); }
  static void vjp(const Backward<MvRecord>& b, const Tensor& g, Tensor* grads) {
    if (b.needs_grad(0)) grads[0] = g.unsqueeze(-1) * b.input(1);  // outer products g v^T
    if (b.needs_grad(1)) grads[1] = matmul(g, b.input(0));         // A^T g, each row of g
  }
  static Tensor jvp(const Primal<MvRecord>& p, const TensorList& t) {
    return sum_terms(t[0].defined() ? matmul(t[0], p.input(1)) : Tensor(),
                     t[1].defined() ? matmul(t[1], p.input(0).t()) : Tensor());
  }
  static Tensor curvature(const Primal<MvRecord>&, const TensorList& g) {
    if (!g[0].defined() || !g[1].defined()) return {};
    return contract(g[0], g[1]).sum({0}) * 2.0;  // 2 sum_k gA_k gv_k
  }
  static Tensor biharmonic(const Primal<MvRecord>& p, const TensorList& t, int64_t d) {
    if (!t[0].defined() || !t[1].defined()) return biharmonic::linear_step(jvp(p, t), p.output(), d);
    return biharmonic::product_composed(p.input(0), t[0], p.input(1), t[1], d, contract);
  }
  static Tensor taylor(const Primal<MvRecord>& p, const TensorList& x) {
    return taylor::cauchy_product(p.input(0), x[0], p.input(1), x[1], contract);
  }
};

// out = beta * input + alpha * mat1 @ mat2: linear in input, bilinear in (mat1, mat2).
struct AddmmRecord : Named<"addmm", "AddmmBackward0"> {
  struct Attrs {
    double beta, alpha;
  };
  static constexpr Saves saves{.inputs = input_bits(1, 2)};
  // func::compile: beta and alpha are integers for integer tensors (addmm checked that when it ran).
  static Tensor replay(const TensorList& in, const Attrs& a) {
    auto scalar = [&](double v) { return is_floating_point(in[1].dtype()) ? Scalar(v) : Scalar(static_cast<int64_t>(v)); };
    return addmm(in[0], in[1], in[2], scalar(a.beta), scalar(a.alpha));
  }
  static compile::Product compile_product(const Attrs& a) { return {.present = a.beta == 1 && a.alpha == 1, .has_bias = true}; }
  static Tensor scaled(const Tensor& t, double c) { return !t.defined() || c == 1 ? t : t * c; }
  static void vjp(const Backward<AddmmRecord>& b, const Tensor& g, Tensor* grads) {
    const bool batched = b.batch_dims(g) > 0;
    if (b.needs_grad(0)) grads[0] = scaled(g, b.attrs().beta);
    if (b.needs_grad(1)) grads[1] = scaled(product(g, b.input(2).t(), batched, plain_mm), b.attrs().alpha);
    if (b.needs_grad(2)) grads[2] = scaled(product(b.input(1).t(), g, batched, plain_mm), b.attrs().alpha);
  }
  static Tensor jvp(const Primal<AddmmRecord>& p, const TensorList& t) {
    const int64_t nb = p.batch_dims();
    // The input's tangent lines up with the result's trailing dims, after the batch dims.
    Tensor from_input = t[0].defined() ? align_to_rank(scaled(t[0], p.attrs().beta), nb, 2) : Tensor();
    Tensor from_product = sum_terms(nb > 0 ? tangent_product(t[1], p.input(2)) : product(t[1], p.input(2), false, plain_mm),
                                    product(p.input(1), t[2], nb > 0, plain_mm));
    return sum_terms(from_input, scaled(from_product, p.attrs().alpha));
  }
  static Tensor curvature(const Primal<AddmmRecord>& p, const TensorList& g) {
    return scaled(bilinear_curvature(g[1], g[2]), p.attrs().alpha);
  }
  static Tensor biharmonic(const Primal<AddmmRecord>& p, const TensorList& t, int64_t d) {
    if (!t[1].defined() || !t[2].defined()) return biharmonic::linear_step(jvp(p, t), p.output(), d);
    const Tensor from_input = t[0].defined() ? align_to_rank(scaled(t[0], p.attrs().beta), 1, 2) : Tensor();
    const Tensor from_product = biharmonic::product_composed(p.input(1), t[1], p.input(2), t[2], d,
                                                             [](const Tensor& a, const Tensor& b) { return matmul(a, b); });
    return sum_terms(from_input, scaled(from_product, p.attrs().alpha));
  }
  static Tensor taylor(const Primal<AddmmRecord>& p, const TensorList& x) {
    const int64_t nb = p.batch_dims();
    Tensor from_input = x[0].defined() ? align_to_rank(scaled(x[0], p.attrs().beta), nb, 2) : Tensor();
    Tensor from_product = taylor::cauchy_product(p.input(1), x[1], p.input(2), x[2],
                                                 [](const Tensor& a, const Tensor& b) { return matmul(a, b); });
    return taylor::plus(from_input, scaled(from_product, p.attrs().alpha));
  }
};


// ---- batching rules (vmap): each product of the samples is one product of the values ----

/// matmul of the samples a and b (sample ranks da, db; at least one batched at the innermost level)
/// as ONE matmul of the values, so one mm (the batch folded into the rows) or one bmm.
Tensor matmul_rule(const Tensor& a, const Tensor& b) {
  const uint32_t level = vmap::top_level({&a, &b});
  const vmap::Arg x = vmap::unwrap(a, level), y = vmap::unwrap(b, level);
  const int64_t da = a.dim(), db = b.dim();
  // A batch of a times a shared matrix (or vector): the batch is one more leading dim of a (wherever
  // it is, but for a's last, the contracted one), and matmul folds leading dims into the rows of ONE
  // gemm: a layer's input batch times its shared weight.
  if (!y.bdim && db <= 2 && *x.bdim < x.value.dim() - 1) return vmap::wrap(matmul(x.value, b), *x.bdim, level);
  // A shared matrix (or vector) times a batch of vectors: the vectors are the columns of one matrix.
  if (!x.bdim && da <= 2 && db == 1) {
    const Tensor columns = *y.bdim == 0 ? y.value.t() : y.value;  // [k, B]
    return vmap::wrap(matmul(a, columns), da - 1, level);
  }
  // A shared matrix (or vector) times a batch of matrices batched after their rows: one matrix of
  // B m columns (a reshape, a view where the layout allows).
  if (!x.bdim && da <= 2 && db == 2 && *y.bdim > 0) {
    const int64_t k = y.value.size(0), wide = y.value.size(1) * y.value.size(2);
    Dims shape;
    if (da == 2) shape.push_back(a.size(0));
    shape.push_back(y.value.size(1));
    shape.push_back(y.value.size(2));
    return vmap::wrap(matmul(a, y.value.reshape({k, wide})).reshape(shape), da - 2 + *y.bdim, level);
  }
  // Otherwise the batch in front of both, vectors made matrices and ranks padded so that the
  // samples' batch dims broadcast as they do in each sample's product: one matmul (one bmm). An
  // expanded batch (stride 0, a weight shared by every sample) stays expanded: bmm reads it as is.
  const int64_t rank = std::max<int64_t>({da, db, 2});
  Tensor lhs, rhs;
  if (x.bdim) lhs = vmap::pad_sample_rank(da == 1 ? vmap::batch_first(x).unsqueeze(1) : vmap::batch_first(x), rank);
  else lhs = da == 1 ? a.unsqueeze(0) : a;
  if (y.bdim) rhs = vmap::pad_sample_rank(db == 1 ? vmap::batch_first(y).unsqueeze(2) : vmap::batch_first(y), rank);
  else rhs = db == 1 ? b.unsqueeze(1) : b;
  Tensor out = matmul(lhs, rhs);
  if (db == 1) out = out.squeeze(-1);
  if (da == 1) out = out.squeeze(db == 1 ? -1 : -2);
  return vmap::wrap(out, 0, level);
}

/// addmm of the samples: the rows of a batch of mat1 folded into one addmm where the input is one
/// row for all; otherwise beta input + alpha mat1 @ mat2 of batched ops (as functorch).
Tensor addmm_rule(const Tensor& input, const Tensor& mat1, const Tensor& mat2, Scalar beta, Scalar alpha) {
  const uint32_t level = vmap::top_level({&input, &mat1, &mat2});
  const vmap::Arg c = vmap::unwrap(input, level), x = vmap::unwrap(mat1, level), y = vmap::unwrap(mat2, level);
  if (x.bdim && !y.bdim && !c.bdim && *x.bdim < 2 && (input.dim() < 2 || input.size(0) == 1)) {
    const int64_t rows = x.value.size(0) * x.value.size(1);
    Tensor out = addmm(input, x.value.reshape({rows, x.value.size(2)}), mat2, beta, alpha);
    return vmap::wrap(out.reshape({x.value.size(0), x.value.size(1), mat2.size(1)}), *x.bdim, level);
  }
  Tensor product = matmul(mat1, mat2);
  if (alpha.to_double() != 1) product = product * alpha;
  // beta = 0 ignores input, nan and inf included, as the op does (the product, batched or the same
  // for every sample).
  if (beta.to_double() == 0) return product;
  return add(product, beta.to_double() == 1 ? input : input * beta);
}

}  // namespace
}  // namespace ops

Tensor mm(const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, got shapes ", a.sizes(), " and ", b.sizes());
  if (a.size(1) != b.size(0)) ops::mismatch("mm", a, b, a.size(1), b.size(0));
  ops::check_same_dtype("mm", a, b);
  if (vmap::takes_rule({&a, &b})) [[unlikely]] return ops::matmul_rule(a, b);
  Tensor out = detail::make_empty({a.size(0), b.size(1)}, a.dtype(), "mm");
  cpu::batched_gemm(out, detail::make_alias(a, {1, a.size(0), a.size(1)}, {0, a.stride(0), a.stride(1)}, a.storage_offset()),
                    detail::make_alias(b, {1, b.size(0), b.size(1)}, {0, b.stride(0), b.stride(1)}, b.storage_offset()));
  ops::finish<ops::MmRecord>({&a, &b}, out);
  return out;
}

// dot and mv compute as matmul computed them before they were ops of their own (one product of the
// vector as a [1, n] row, or the matrix, with the other as a column), so their values are the same.
Tensor dot(const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dim() == 1 && b.dim() == 1, "dot: 1D tensors expected, but got ", a.dim(), "D and ", b.dim(), "D tensors");
  DYDX_CHECK(a.size(0) == b.size(0), "dot: inconsistent tensor size, expected tensor [", a.size(0), "] and src [",
             b.size(0), "] to have the same number of elements, but got ", a.size(0), " and ", b.size(0),
             " elements respectively");
  ops::check_same_dtype("dot", a, b);
  if (vmap::takes_rule({&a, &b})) [[unlikely]] return ops::matmul_rule(a, b);
  Tensor out = detail::make_empty({}, a.dtype(), "dot");
  cpu::batched_gemm(detail::make_alias(out, {1, 1, 1}, {1, 1, 1}, out.storage_offset()),
                    detail::make_alias(a, {1, 1, a.size(0)}, {0, 0, a.stride(0)}, a.storage_offset()),
                    detail::make_alias(b, {1, b.size(0), 1}, {0, b.stride(0), 1}, b.storage_offset()));
  ops::finish<ops::DotRecord>({&a, &b}, out);
  return out;
}

Tensor mv(const Tensor& a, const Tensor& v) {
  DYDX_CHECK(a.dim() == 2 && v.dim() == 1, "mv: expected a 2-D matrix and a 1-D vector, got shapes ", a.sizes(), " and ",
             v.sizes());
  if (a.size(1) != v.size(0)) ops::mismatch("mv", a, v, a.size(1), v.size(0));
  ops::check_same_dtype("mv", a, v);
  if (vmap::takes_rule({&a, &v})) [[unlikely]] return ops::matmul_rule(a, v);
  Tensor out = detail::make_empty({a.size(0)}, a.dtype(), "mv");
  cpu::batched_gemm(detail::make_alias(out, {1, a.size(0), 1}, {0, 1, 1}, out.storage_offset()),
                    detail::make_alias(a, {1, a.size(0), a.size(1)}, {0, a.stride(0), a.stride(1)}, a.storage_offset()),
                    detail::make_alias(v, {1, v.size(0), 1}, {0, v.stride(0), 1}, v.storage_offset()));
  ops::finish<ops::MvRecord>({&a, &v}, out);
  return out;
}

Tensor outer(const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dim() == 1, "outer: Expected 1-D argument self, but got ", a.dim(), "-D (shape ", a.sizes(), ")");
  DYDX_CHECK(b.dim() == 1, "outer: Expected 1-D argument vec2, but got ", b.dim(), "-D (shape ", b.sizes(), ")");
  return a.reshape({a.size(0), 1}) * b;
}

// kron(a, b): both padded with leading 1s to the same rank r, then a [.., a_i, ..] with a new dim
// after each of its dims times b with a new dim before each of its, [a_0, b_0, a_1, b_1, ...], viewed
// as [a_0 b_0, a_1 b_1, ...]: one broadcast product, so every rule is mul's.
Tensor kron(const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.defined() && b.defined(), "kron: called with an undefined tensor");
  const int64_t rank = std::max(a.dim(), b.dim());
  // Sizes of dims a (b) lacks are 1: dim d of the padded shape is the original's d - (rank - dim()).
  const auto size_of = [rank](const Tensor& t, int64_t d) { return d < rank - t.dim() ? 1 : t.size(d - (rank - t.dim())); };
  Dims a_spread, b_spread, result;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t a_size = size_of(a, d), b_size = size_of(b, d);
    a_spread.push_back(a_size);
    a_spread.push_back(1);
    b_spread.push_back(1);
    b_spread.push_back(b_size);
    result.push_back(a_size * b_size);
  }
  return (a.reshape(a_spread) * b.reshape(b_spread)).reshape(result);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got shapes ", a.sizes(), " and ", b.sizes());
  DYDX_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ in ", a.sizes(), " and ", b.sizes());
  if (a.size(2) != b.size(1)) ops::mismatch("bmm", a, b, a.size(2), b.size(1));
  ops::check_same_dtype("bmm", a, b);
  if (vmap::takes_rule({&a, &b})) [[unlikely]] return ops::matmul_rule(a, b);
  Tensor out = detail::make_empty({a.size(0), a.size(1), b.size(2)}, a.dtype(), "bmm");
  cpu::batched_gemm(out, a, b);
  ops::finish<ops::BmmRecord>({&a, &b}, out);
  return out;
}

Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, Scalar beta_scalar, Scalar alpha_scalar) {
  DYDX_CHECK(mat1.dim() == 2 && mat2.dim() == 2, "addmm: expected 2-D matrices, got shapes ", mat1.sizes(), " and ",
             mat2.sizes());
  if (mat1.size(1) != mat2.size(0)) ops::mismatch("addmm", mat1, mat2, mat1.size(1), mat2.size(0));
  const int64_t n = mat1.size(0), m = mat2.size(1);
  DYDX_CHECK(input.dim() <= 2 && detail::broadcast_shapes(input.sizes(), {n, m}, "addmm") == IntArrayRef({n, m}),
             "addmm: input of shape ", input.sizes(), " does not broadcast to the product's shape ", Dims{n, m});
  DYDX_CHECK(input.dtype() == mat1.dtype() && mat1.dtype() == mat2.dtype(),
             "addmm: expected input, mat1 and mat2 to have the same dtype, but got ", input.dtype(), " ", input.sizes(),
             ", ", mat1.dtype(), " ", mat1.sizes(), " and ", mat2.dtype(), " ", mat2.sizes());
  const ScalarType dtype = mat1.dtype();
  const double beta = beta_scalar.to_double(), alpha = alpha_scalar.to_double();
  DYDX_CHECK(is_floating_point(dtype) || (beta_scalar.is_integral() && alpha_scalar.is_integral()),
             "addmm: for integral input tensors, beta and alpha must be integers, not floating point numbers (got ",
             beta_scalar, " and ", alpha_scalar, ")");
  if (vmap::takes_rule({&input, &mat1, &mat2})) [[unlikely]]
    return ops::addmm_rule(input, mat1, mat2, beta_scalar, alpha_scalar);
  const Tensor &x = mat1, &y = mat2, &c = input;
  Tensor out = detail::make_empty({n, m}, dtype, "addmm");
  auto as_batch = [](const Tensor& t) {
    return detail::make_alias(t, {1, t.size(0), t.size(1)}, {0, t.stride(0), t.stride(1)}, t.storage_offset());
  };
  // A layer's bias: every row of the product starts from it, with no pass of its own.
  const bool bias_row = beta == 1 && alpha == 1 && is_floating_point(dtype) && c.dim() >= 1 && c.numel() == m &&
                        (c.dim() == 1 || c.size(0) == 1) && (m == 1 || c.stride(-1) == 1);
  {
    NoGradGuard no_grad;
    if (bias_row) {
      cpu::batched_gemm(out, as_batch(x), as_batch(y), c.dim() == 1 ? c : c.reshape({m}));
    } else {
      cpu::batched_gemm(out, as_batch(x), as_batch(y));
      if (alpha != 1) out.mul_(alpha_scalar);
      if (beta != 0) out.add_(c, beta_scalar);  // beta = 0 ignores input, nan and inf included, as PyTorch does
    }
  }
  ops::finish<ops::AddmmRecord>({&input, &mat1, &mat2}, out, {beta, alpha});
  return out;
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  DYDX_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got shape ", weight.sizes());
  DYDX_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), "linear: input of shape ", input.sizes(),
             " does not end in the weight's in_features (weight shape ", weight.sizes(), ")");
  DYDX_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear: bias of shape ",
             bias.defined() ? bias.shape_string() : std::string("(undefined)"), " does not match out_features ",
             weight.size(0));
  DYDX_CHECK(input.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == weight.dtype()),
             "linear: expected input, weight and bias to have the same dtype, but got ", input.dtype(), ", ",
             weight.dtype(), " and ", bias.defined() ? dtype_name(bias.dtype()) : "no bias");
  if (vmap::takes_rule({&input, &weight, &bias})) [[unlikely]] {
    const uint32_t level = vmap::top_level({&input, &weight, &bias});
    const vmap::Arg x = vmap::unwrap(input, level);
    // A batch of inputs through a shared layer: the batch is one more leading dim of the input,
    // folded into the rows of the layer's one gemm (a view where the layout allows).
    if (x.bdim && !vmap::unwrap(weight, level).bdim && !vmap::unwrap(bias, level).bdim) {
      const bool last = *x.bdim == x.value.dim() - 1;
      return vmap::wrap(linear(last ? vmap::batch_first(x) : x.value, weight, bias), last ? 0 : *x.bdim, level);
    }
    // A batched weight or bias (per-sample weights, or a shared one expanded): a bmm that reads an
    // expanded weight as it is, then the bias, through the batched ops' own rules.
    Tensor out = matmul(input, weight.t());
    return bias.defined() ? out + bias : out;
  }
  if (!bias.defined()) return matmul(input, weight.t());
  if (input.dim() == 2) return addmm(bias, input, weight.t());
  // Other ranks fold their leading dims into rows, as torch does.
  Dims out_shape(input.sizes().begin(), input.sizes().end() - 1);
  out_shape.push_back(weight.size(0));
  return addmm(bias, input.reshape({-1, weight.size(1)}), weight.t()).reshape(out_shape);
}

// torch.matmul's cases, each reduced to mm or bmm with views; the views' own rules make it differentiable.
Tensor matmul(const Tensor& a, const Tensor& b) {
  const int64_t da = a.dim(), db = b.dim();
  DYDX_CHECK(da > 0 && db > 0, "matmul: both arguments need to be at least 1-D, but they are ", da, "-D and ", db, "-D");
  const int64_t ka = a.size(-1), kb = db == 1 ? b.size(0) : b.size(-2);
  if (ka != kb) ops::mismatch("matmul", a, b, ka, kb);
  ops::check_same_dtype("matmul", a, b);
  if (vmap::takes_rule({&a, &b})) [[unlikely]] return ops::matmul_rule(a, b);
  if (da == 1 && db == 1) return dot(a, b);
  if (da == 2 && db == 1) return mv(a, b);
  if (da == 1 && db == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (da == 2 && db == 2) return mm(a, b);
  if (db <= 2) {
    // Fold a's batch dims into its rows: one large mm instead of many small ones.
    Dims out_shape(a.sizes().begin(), a.sizes().end() - 1);
    Tensor rhs = db == 1 ? b.unsqueeze(1) : b;
    Tensor product;
    {
      const cpu::StackedRows stacks(a.size(-2));
      product = mm(a.reshape({-1, ka}), rhs);
    }
    if (db == 2) out_shape.push_back(b.size(1));
    return product.reshape(out_shape);
  }
  // General case: broadcast the batch dims, flatten them, and run bmm.
  Tensor lhs = da == 1 ? a.unsqueeze(0) : a;
  Dims batch_a(lhs.sizes().begin(), lhs.sizes().end() - 2);
  Dims batch_b(b.sizes().begin(), b.sizes().end() - 2);
  Dims batch = detail::broadcast_shapes(batch_a, batch_b, "matmul");
  const int64_t n = lhs.size(-2), m = b.size(-1);
  Dims lhs_shape = batch, rhs_shape = batch;
  lhs_shape.push_back(n);
  lhs_shape.push_back(ka);
  rhs_shape.push_back(ka);
  rhs_shape.push_back(m);
  const int64_t flat = detail::product(batch);
  Tensor product = bmm(lhs.expand(lhs_shape).reshape({flat, n, ka}), b.expand(rhs_shape).reshape({flat, ka, m}));
  Dims out_shape = batch;
  if (da > 1) out_shape.push_back(n);
  out_shape.push_back(m);
  return product.reshape(out_shape);
}

}  // namespace dydx
