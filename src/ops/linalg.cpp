// Matrix products: mm and bmm as primitives with VJP rules, and matmul composed from them.
#include "cpu/cpu_blas.hpp"
#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

// With batched cotangents the products broadcast over the batch dims (matmul instead of mm).
void mm_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const bool batched = batch_dims(node, g) > 0;
  if (node.needs_input_grad(0)) grads[0] = batched ? matmul(g, node.saved(1).t()) : g.mm(node.saved(1).t());
  if (node.needs_input_grad(1)) grads[1] = batched ? matmul(node.saved(0).t(), g) : node.saved(0).t().mm(g);
}
const OpInfo mm_info{"mm", "MmBackward0", &mm_vjp};

void bmm_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const bool batched = batch_dims(node, g) > 0;
  Tensor bt = node.needs_input_grad(0) ? node.saved(1).transpose(1, 2) : Tensor();
  Tensor at = node.needs_input_grad(1) ? node.saved(0).transpose(1, 2) : Tensor();
  if (node.needs_input_grad(0)) grads[0] = batched ? matmul(g, bt) : bmm(g, bt);
  if (node.needs_input_grad(1)) grads[1] = batched ? matmul(at, g) : bmm(at, g);
}
const OpInfo bmm_info{"bmm", "BmmBackward0", &bmm_vjp};

// out = beta * input + alpha * mat1 @ mat2: linear in input, bilinear in (mat1, mat2).
void addmm_vjp(Node& node, const Tensor& g, Tensor* grads) {
  const bool batched = batch_dims(node, g) > 0;
  const double beta = node.attrs.scalar, alpha = node.attrs.scale;
  auto scaled = [](const Tensor& t, double c) { return c == 1 ? t : t * c; };
  if (node.needs_input_grad(0)) grads[0] = scaled(g, beta);
  if (node.needs_input_grad(1))
    grads[1] = scaled(batched ? matmul(g, node.saved(1).t()) : g.mm(node.saved(1).t()), alpha);
  if (node.needs_input_grad(2))
    grads[2] = scaled(batched ? matmul(node.saved(0).t(), g) : node.saved(0).t().mm(g), alpha);
}
const OpInfo addmm_info{"addmm", "AddmmBackward0", &addmm_vjp};

// Products never promote, as in PyTorch ("expected scalar type Float but found Double"): a float64
// operand meeting a float32 weight is almost always a mistake, and promoting would silently double
// the work and memory of the larger one.
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dtype() == b.dtype(), op, ": expected both operands to have the same dtype, but got ", a.dtype(), " ",
             a.sizes(), " and ", b.dtype(), " ", b.sizes());
}

[[noreturn]] void mismatch(const char* op, const Tensor& a, const Tensor& b, int64_t ka, int64_t kb) {
  detail::fail(op, ": cannot multiply ", a.sizes(), " by ", b.sizes(), " (", ka, " != ", kb, ")");
}

// mm and bmm are bilinear: their only second-order term is 2 sum_k ga_k gb_k, as a product.
Tensor bilinear_curvature(const TensorList& g) {
  if (!g[0].defined() || !g[1].defined()) return {};
  return matmul(g[0], g[1]).sum({0}) * 2.0;
}

}  // namespace
}  // namespace ops

Tensor mm(const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, got shapes ", a.sizes(), " and ", b.sizes());
  if (a.size(1) != b.size(0)) ops::mismatch("mm", a, b, a.size(1), b.size(0));
  ops::check_same_dtype("mm", a, b);
  Tensor out = detail::make_empty({a.size(0), b.size(1)}, a.dtype());
  cpu::batched_gemm(out, detail::make_alias(a, {1, a.size(0), a.size(1)}, {0, a.stride(0), a.stride(1)}, a.storage_offset()),
                    detail::make_alias(b, {1, b.size(0), b.size(1)}, {0, b.stride(0), b.stride(1)}, b.storage_offset()));
  if (ops::Node* node = ops::record(ops::mm_info, {&a, &b}, out)) {
    node->save(a);
    node->save(b);
  }
  forward::propagate(
      {&a, &b}, out,
      [&](const TensorList& t) {
        // Batched tangents broadcast over their batch dims through matmul.
        if (forward::batch_dims() > 0)
          return ops::sum_terms(t[0].defined() ? matmul(t[0], b) : Tensor(), t[1].defined() ? matmul(a, t[1]) : Tensor());
        return ops::sum_terms(t[0].defined() ? t[0].mm(b) : Tensor(), t[1].defined() ? a.mm(t[1]) : Tensor());
      },
      ops::bilinear_curvature);
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  DYDX_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got shapes ", a.sizes(), " and ", b.sizes());
  DYDX_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ in ", a.sizes(), " and ", b.sizes());
  if (a.size(2) != b.size(1)) ops::mismatch("bmm", a, b, a.size(2), b.size(1));
  ops::check_same_dtype("bmm", a, b);
  Tensor out = detail::make_empty({a.size(0), a.size(1), b.size(2)}, a.dtype());
  cpu::batched_gemm(out, a, b);
  if (ops::Node* node = ops::record(ops::bmm_info, {&a, &b}, out)) {
    node->save(a);
    node->save(b);
  }
  forward::propagate(
      {&a, &b}, out,
      [&](const TensorList& t) {
        if (forward::batch_dims() > 0)
          return ops::sum_terms(t[0].defined() ? matmul(t[0], b) : Tensor(), t[1].defined() ? matmul(a, t[1]) : Tensor());
        return ops::sum_terms(t[0].defined() ? bmm(t[0], b) : Tensor(), t[1].defined() ? bmm(a, t[1]) : Tensor());
      },
      ops::bilinear_curvature);
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
  const Tensor &x = mat1, &y = mat2, &c = input;
  Tensor out = detail::make_empty({n, m}, dtype);
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
  if (ops::Node* node = ops::record(ops::addmm_info, {&input, &mat1, &mat2}, out)) {
    node->save(mat1);
    node->save(mat2);
    node->attrs.scalar = beta;
    node->attrs.scale = alpha;
  }
  forward::propagate(
      {&input, &mat1, &mat2}, out,
      [&](const TensorList& t) {
        const int64_t nb = forward::batch_dims();
        auto scaled = [](const Tensor& v, double s) { return !v.defined() || s == 1 ? v : v * s; };
        // The input's tangent lines up with the result's trailing dims, after the batch dims.
        Tensor from_input = t[0].defined() ? ops::align_to_rank(scaled(t[0], beta), nb, 2) : Tensor();
        Tensor product;
        if (nb > 0)
          product = ops::sum_terms(t[1].defined() ? matmul(t[1], mat2) : Tensor(), t[2].defined() ? matmul(mat1, t[2]) : Tensor());
        else
          product = ops::sum_terms(t[1].defined() ? t[1].mm(mat2) : Tensor(), t[2].defined() ? mat1.mm(t[2]) : Tensor());
        return ops::sum_terms(from_input, scaled(product, alpha));
      },
      [alpha](const TensorList& g) {
        Tensor curvature = ops::bilinear_curvature({g[1], g[2]});
        return curvature.defined() && alpha != 1 ? curvature * alpha : curvature;
      });
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
  if (da == 1 && db == 1) return mm(a.unsqueeze(0), b.unsqueeze(1)).squeeze();
  if (da == 2 && db == 1) return mm(a, b.unsqueeze(1)).squeeze(1);
  if (da == 1 && db == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (da == 2 && db == 2) return mm(a, b);
  if (db <= 2) {
    // Fold a's batch dims into its rows: one large mm instead of many small ones.
    Dims out_shape(a.sizes().begin(), a.sizes().end() - 1);
    Tensor rhs = db == 1 ? b.unsqueeze(1) : b;
    Tensor product = mm(a.reshape({-1, ka}), rhs);
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
