// prod: the product of every element, or along a dim, with its rules.
//
// d prod / d x_i is the product of the other elements, E_i. Dividing the product by x_i gives it
// only where x has no zero; with zeros (as PyTorch's prod_backward does then) E_i is the product of
// the elements before i times the product of those after it (two exclusive cumprods), which holds
// with any number of zeros, and so do its own derivatives, through cumprod's rules. The second-order and Taylor rules multiply the elements'
// series pairwise, in a tree.
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/scan.hpp"
#include "ops/taylor.hpp"
#include "cpu/cpu_kernels.hpp"
#include "cpu/scan_kernels.hpp"
#include "vmap/batched.hpp"
#include "vmap/reduction.hpp"

namespace dydx {
namespace ops {
namespace {

// E_i = prod_{k != i} x_k along dim (counted from the end), without a division.
Tensor products_of_others(const Tensor& x, int64_t dim) {
  const int64_t n = x.size(dim);
  if (n == 0) return x;
  const Tensor one = ones_like(x.narrow(dim, 0, 1));
  const Tensor before = cat({one, x.narrow(dim, 0, n - 1).cumprod(dim)}, dim);
  const Tensor after = cat({one, x.flip({dim}).narrow(dim, 0, n - 1).cumprod(dim)}, dim).flip({dim});
  return before * after;
}

// E along dim (from the end) for x whose product there is out (dim kept): out / x where x has no
// zero (nor subnormal, whose reciprocal overflows in the second derivative), in one pass (PyTorch's
// prod_backward divides there too, so values agree with it, infinities included), else
// products_of_others. The quotient is exact as a derivative too, since it is E wherever x has no zero.
Tensor others_product(const Tensor& x, const Tensor& out, int64_t dim) {
  return has_near_zero(x) ? products_of_others(x, dim) : out / x;
}

// The Cauchy product along dim (counted from the end) of all the series there, as term lists (see
// product_scan), reduced to size 1 along dim: halves multiplied pairwise, ceil(log2 n) steps.
TensorList product_tree(TensorList terms, int64_t dim) {
  const auto mul = [](const Tensor& a, const Tensor& b) { return a * b; };
  for (int64_t n = terms[0].size(dim); n > 1; n = n / 2 + n % 2) {
    const int64_t half = n / 2;
    TensorList left(terms.size()), right(terms.size());
    for (size_t k = 0; k < terms.size(); ++k) {
      left[k] = terms[k].narrow(dim, 0, half);
      right[k] = terms[k].narrow(dim, half, half);
    }
    TensorList combined = taylor::product_terms(left, right, mul);
    if (n % 2 == 1)
      for (size_t k = 0; k < terms.size(); ++k) combined[k] = cat({combined[k], terms[k].narrow(dim, 2 * half, 1)}, dim);
    terms = std::move(combined);
  }
  return terms;
}

// The series of prod along dim (from the end; size 1 left there) of x0 and its coefficients; empty
// where no coefficient is defined or the dim is empty (the product of nothing is the constant 1).
TensorList prod_series(const Tensor& x0, const TensorList& coefficients, int64_t dim) {
  TensorList terms = defined_terms(x0, coefficients);
  if (terms.empty() || x0.size(dim) == 0) return {};
  return product_tree(terms, dim);
}

// A tensor's last `rank` dims as one (a 0-d input's none as one of size 1), for the whole product.
Tensor flat_trailing(const Tensor& t, int64_t rank) {
  Dims shape(t.sizes().begin(), t.sizes().end() - rank);
  shape.push_back(-1);
  return t.reshape(shape);
}

struct ProdAttrs {
  std::optional<ScalarType> dtype;
};

struct ProdRecord : Named<"prod", "ProdBackward0"> {
  using Attrs = ProdAttrs;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  static Tensor replay(const TensorList& in, const Attrs& a) { return prod(in[0], a.dtype); }
  static void vjp(const Backward<ProdRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = cast(b.input(0), g.dtype());
    const Tensor others = others_product(x.reshape({-1}), b.output().reshape({1}), -1).reshape(x.sizes());
    grads[0] = align_to_rank(g, b.batch_dims(g), x.dim()) * others;
  }
  static Tensor jvp(const Primal<ProdRecord>& p, const TensorList& t) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    const Tensor others = others_product(x.reshape({-1}), p.output().reshape({1}), -1).reshape(x.sizes());
    return sum_over(cast(t[0], x.dtype()) * others, own_dims(t[0], p.batch_dims()));
  }
  static Tensor curvature(const Primal<ProdRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const Tensor x = cast(p.input(0), p.output().dtype());
    const TensorList terms = prod_series(x.reshape({-1}), {flat_trailing(cast(g[0], x.dtype()), x.dim()), Tensor()}, -1);
    if (terms.empty()) return {};
    return terms[2].squeeze(-1).sum({0}) * 2.0;
  }
  static Tensor taylor(const Primal<ProdRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Tensor x0 = cast(p.input(0), p.output().dtype());
    TensorList coefficients;
    for (int64_t k = 1; k <= forward::taylor_order(); ++k)
      coefficients.push_back(flat_trailing(cast(taylor::coefficient(x[0], k), x0.dtype()), x0.dim()));
    TensorList terms = prod_series(x0.reshape({-1}), coefficients, -1);
    if (terms.empty()) return {};
    for (Tensor& term : terms) term = term.squeeze(-1);
    return taylor::stacked_terms(terms);
  }
};

// The reduced dim (wrapped; 0 for a 0-d input, which is its own product) and whether it is kept.
struct ProdDimAttrs {
  int64_t dim;
  bool keepdim;
  std::optional<ScalarType> dtype;
};

struct ProdDimRecord : Named<"prod.dim_int", "ProdBackward1"> {
  using Attrs = ProdDimAttrs;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  static Tensor replay(const TensorList& in, const Attrs& a) { return prod(in[0], a.dim, a.keepdim, a.dtype); }
  static void vjp(const Backward<ProdDimRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = cast(b.input(0), g.dtype());
    if (x.dim() == 0) {
      grads[0] = g;
      return;
    }
    const int64_t d = b.attrs().dim - x.dim();
    const bool keep = b.attrs().keepdim;
    grads[0] = (keep ? g : g.unsqueeze(d)) * others_product(x, keep ? b.output() : b.output().unsqueeze(d), d);
  }
  static Tensor jvp(const Primal<ProdDimRecord>& p, const TensorList& t) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    if (x.dim() == 0) return cast(t[0], x.dtype());
    const int64_t d = p.attrs().dim - x.dim();
    const bool keep = p.attrs().keepdim;
    const Tensor others = others_product(x, keep ? p.output() : p.output().unsqueeze(d), d);
    return (cast(t[0], x.dtype()) * others).sum({d}, keep);
  }
  static Tensor curvature(const Primal<ProdDimRecord>& p, const TensorList& g) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    if (x.dim() == 0 || !g[0].defined()) return {};
    const int64_t d = p.attrs().dim - x.dim();
    const TensorList terms = prod_series(x, {cast(g[0], x.dtype()), Tensor()}, d);
    if (terms.empty()) return {};
    const Tensor second = terms[2].sum({0}) * 2.0;
    return p.attrs().keepdim ? second : second.squeeze(d);
  }
  static Tensor taylor(const Primal<ProdDimRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Tensor x0 = cast(p.input(0), p.output().dtype());
    if (x0.dim() == 0) return cast(x[0], x0.dtype());
    const int64_t d = p.attrs().dim - x0.dim();
    TensorList coefficients;
    for (int64_t k = 1; k <= forward::taylor_order(); ++k) coefficients.push_back(cast(taylor::coefficient(x[0], k), x0.dtype()));
    TensorList terms = prod_series(x0, coefficients, d);
    if (terms.empty()) return {};
    if (!p.attrs().keepdim)
      for (Tensor& term : terms) term = term.squeeze(d);
    return taylor::stacked_terms(terms);
  }
};

// The product of x read as [outer, n, inner], in dtype, into a result of out_shape.
Tensor product_values(const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Dims& out_shape, ScalarType dtype,
                      const char* op) {
  // A bool product is every element's truth at once: 0/1 multiplied in int64, as bool at the end.
  if (dtype == kBool) {
    NoGradGuard no_grad;
    return product_values(cast(x.detach(), kBool), outer, n, inner, out_shape, kInt64, op).to(kBool);
  }
  Tensor dense;
  {
    NoGradGuard no_grad;
    dense = cast(x.detach(), dtype).contiguous();
  }
  Tensor out = detail::make_empty(out_shape, dtype);
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::product_along<T>(dense.data_ptr<T>(), out.data_ptr<T>(), outer, n, inner);
  });
  return out;
}

}  // namespace
}  // namespace ops

Tensor prod(const Tensor& x, std::optional<ScalarType> dtype) {
  if (vmap::takes_rule(x)) [[unlikely]] {
    const Tensor rows = vmap::batch_rows(x);  // each sample's elements in one row
    return vmap::wrap(prod(rows, 1, false, dtype), 0, vmap::batched(x)->level);
  }
  Tensor out = ops::product_values(x, 1, x.numel(), 1, {}, ops::scan_dtype(x, dtype), "prod");
  ops::finish<ops::ProdRecord>({&x}, out, {dtype});
  return out;
}

Tensor prod(const Tensor& x, int64_t dim, bool keepdim, std::optional<ScalarType> dtype) {
  dim = detail::wrap_dim(dim, x.dim(), "prod");
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, {dim}, keepdim);
    return vmap::wrap(prod(r.value, r.dims[0], r.keepdim, dtype), r.bdim, r.level);
  }
  Dims out_shape;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) outer *= x.size(d);
    if (d > dim) inner *= x.size(d);
    if (d != dim || keepdim) out_shape.push_back(d == dim ? 1 : x.size(d));
  }
  const int64_t n = x.dim() == 0 ? 1 : x.size(dim);
  Tensor out = ops::product_values(x, outer, n, inner, out_shape, ops::scan_dtype(x, dtype), "prod");
  ops::finish<ops::ProdDimRecord>({&x}, out, {dim, keepdim, dtype});
  return out;
}

Tensor Tensor::prod(std::optional<ScalarType> dtype) const { return dydx::prod(*this, dtype); }
Tensor Tensor::prod(int64_t dim, bool keepdim, std::optional<ScalarType> dtype) const {
  return dydx::prod(*this, dim, keepdim, dtype);
}

}  // namespace dydx
