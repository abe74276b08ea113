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
  const ScalarType dtype = promote_types(a.dtype(), b.dtype());
  Tensor x = ops::cast(a, dtype), y = ops::cast(b, dtype);
  Tensor out = detail::make_empty({a.size(0), b.size(1)}, dtype);
  cpu::batched_gemm(out, detail::make_alias(x, {1, a.size(0), a.size(1)}, {0, x.stride(0), x.stride(1)}, x.storage_offset()),
                    detail::make_alias(y, {1, b.size(0), b.size(1)}, {0, y.stride(0), y.stride(1)}, y.storage_offset()));
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
  const ScalarType dtype = promote_types(a.dtype(), b.dtype());
  Tensor out = detail::make_empty({a.size(0), a.size(1), b.size(2)}, dtype);
  cpu::batched_gemm(out, ops::cast(a, dtype), ops::cast(b, dtype));
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

// torch.matmul's cases, each reduced to mm or bmm with views; the views' own rules make it differentiable.
Tensor matmul(const Tensor& a, const Tensor& b) {
  const int64_t da = a.dim(), db = b.dim();
  DYDX_CHECK(da > 0 && db > 0, "matmul: both arguments need to be at least 1-D, but they are ", da, "-D and ", db, "-D");
  const int64_t ka = a.size(-1), kb = db == 1 ? b.size(0) : b.size(-2);
  if (ka != kb) ops::mismatch("matmul", a, b, ka, kb);
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
