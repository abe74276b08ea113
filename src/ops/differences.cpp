// Differences and distances written with views, joins, products and norms that have their own records
// (so each is differentiable to any order, batched under vmap and traced by func::compile): torch.diff
// and torch.cdist, with PyTorch's shapes, messages and gradients.
#include <cmath>

#include "core/shape.hpp"
#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/ops.hpp"

namespace dydx {

namespace {

void check_diff_operand(const Tensor& x, const Tensor& t, int64_t dim) {
  DYDX_CHECK(t.dim() == x.dim(), "diff expects prepend or append to be the same dimension as input (input ",
             x.sizes(), ", got ", t.sizes(), ")");
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim)
      DYDX_CHECK(t.size(d) == x.size(d),
                 "diff expects the shape of tensor to prepend or append to match that of input except along the "
                 "differencing dimension; input.size(",
                 d, ") = ", x.size(d), ", but got tensor.size(", d, ") = ", t.size(d));
}

}  // namespace

Tensor diff(const Tensor& x, int64_t n, int64_t dim, const std::optional<Tensor>& prepend,
            const std::optional<Tensor>& append) {
  DYDX_CHECK(x.defined(), "diff: called with an undefined tensor");
  DYDX_CHECK(x.dim() >= 1, "diff expects input to be at least one-dimensional");
  dim = detail::wrap_dim(dim, x.dim(), "diff");
  if (prepend) check_diff_operand(x, *prepend, dim);
  if (append) check_diff_operand(x, *append, dim);
  // As PyTorch: n == 0 gives x itself, a negative n the joined tensor.
  if (n == 0 || (n < 0 && !prepend && !append)) return x;
  Tensor t = x;
  if (prepend || append) {
    TensorList parts;
    if (prepend) parts.push_back(*prepend);
    parts.push_back(x);
    if (append) parts.push_back(*append);
    t = cat(parts, dim);
  }
  for (int64_t k = 0; k < n && t.size(dim) > 0; ++k) {
    const int64_t length = t.size(dim) - 1;
    const Tensor later = t.narrow(dim, 1, length), earlier = t.narrow(dim, 0, length);
    t = t.dtype() == kBool ? logical_xor(later, earlier) : later - earlier;
  }
  return t;
}
Tensor Tensor::diff(int64_t n, int64_t dim, const std::optional<Tensor>& prepend,
                    const std::optional<Tensor>& append) const {
  return dydx::diff(*this, n, dim, prepend, append);
}

// Euclidean distances through one product: |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, clamped at 0 (rounding
// can take it below), and a square root whose derivative is masked to 0 where the square is 0, as
// PyTorch's _euclidean_dist backward masks it (sqrt's own would be inf there).
Tensor cdist(const Tensor& x1, const Tensor& x2, double p, CdistMode mode) {
  DYDX_CHECK(x1.defined() && x2.defined(), "cdist: called with an undefined tensor");
  DYDX_CHECK(x1.dim() >= 2, "cdist only supports at least 2D tensors, X1 got: ", x1.dim(), "D (shape ", x1.sizes(), ")");
  DYDX_CHECK(x2.dim() >= 2, "cdist only supports at least 2D tensors, X2 got: ", x2.dim(), "D (shape ", x2.sizes(), ")");
  DYDX_CHECK(x1.size(-1) == x2.size(-1), "cdist: X1 and X2 must have the same number of columns. X1: ", x1.size(-1),
             " X2: ", x2.size(-1));
  DYDX_CHECK(x1.is_floating_point(), "cdist only supports floating-point dtypes, X1 got: ", x1.dtype());
  DYDX_CHECK(x2.is_floating_point(), "cdist only supports floating-point dtypes, X2 got: ", x2.dtype());
  DYDX_CHECK(x1.dtype() == x2.dtype(), "cdist: expected scalar type ", x1.dtype(), " but found ", x2.dtype(),
             " (X1 ", x1.sizes(), ", X2 ", x2.sizes(), ")");
  DYDX_CHECK(p >= 0, "cdist only supports non-negative p values (got ", p, ")");
  const Dims batch = detail::broadcast_shapes(IntArrayRef(x1.sizes().data(), x1.dim() - 2),
                                              IntArrayRef(x2.sizes().data(), x2.dim() - 2), "cdist");
  const int64_t rows1 = x1.size(-2), rows2 = x2.size(-2), columns = x1.size(-1);
  Dims shape1 = batch, shape2 = batch;
  for (int64_t size : {rows1, columns}) shape1.push_back(size);
  for (int64_t size : {rows2, columns}) shape2.push_back(size);
  const Tensor a = x1.expand(shape1), b = x2.expand(shape2);
  const bool product = mode == CdistMode::product || (mode == CdistMode::by_size && (rows1 > 25 || rows2 > 25));
  if (p == 2 && product && columns > 0) {
    const Tensor squares = (a * a).sum({-1}, true) + (b * b).sum({-1}, true).transpose(-1, -2) -
                           matmul(a, b.transpose(-1, -2)) * 2.0;
    // Only a square at most 0 is masked: a nan (from a nan or an overflowing input) stays nan.
    const Tensor none = le(squares.detach(), 0);
    const Tensor zero = zeros({}, squares.dtype()), one = ones({}, squares.dtype());
    return where(none, zero, sqrt(where(none, one, squares)));
  }
  // Each difference [*, P, R, M] reduced by the p-norm over M (p = 0 counts the nonzero ones).
  const Tensor differences = a.unsqueeze(-2) - b.unsqueeze(-3);
  // p = 0 counts, as PyTorch's min(ceil(|d|), 1) (so a nan difference makes the count nan); its gradient
  // is zero, but the result still hangs off x1 and x2 as PyTorch's does (where passes the count and gives
  // the sum of differences a zero cotangent, with no product to make a nan).
  if (p == 0) {
    const Tensor count = differences.detach().abs().ceil().clamp_max(1).sum({-1});
    return where(ones({}, kBool), count, differences.sum({-1}));
  }
  return norm(differences, p, {-1});
}

}  // namespace dydx
