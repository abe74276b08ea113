// prod: the product of every element, or along a dim, with its rules.
//
// d prod / d x_l is E_l, the product of the other elements of the row, and every rule is written
// with the product rules' ops (product_rules.hpp): the coefficients of e_1 ... e_m in products of
// x_i + e_1 a_1i + ... + e_m a_mi (e_k^2 = 0). The gradient is g E = g prod_others(x). The JVP, the
// second derivative and the Taylor coefficients are derivatives along given directions, the last of
// cumprod_tangents(x; t, ...), which holds where sum(t E) would multiply a zero by an overflowing E;
// the Taylor coefficients are those of a function affine in each element (multiaffine_taylor).
// Nothing divides, so zeros are exact (a row with two zeros has a nonzero second derivative), and
// every derivative is in range where the exact one is (1e-200 1e-200 3: E = 3e-200 3e-200 1e-400).
// PyTorch 1.13's eager rules divide out / x where x has no zero, which is nan at an infinity and 0
// where out underflows; where it has zeros (and in some of functorch's transforms) they take
// products whose partial products overflow where these do not.
#include "ops/product_rules.hpp"

#include "cpu/cpu_kernels.hpp"
#include "cpu/product_kernels.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/scan.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"
#include "vmap/reduction.hpp"

namespace dydx {
namespace ops {
namespace {

// t's last `rank` dims as one (a 0-d x's none as one of size 1), for the whole product.
Tensor flat_trailing(const Tensor& t, int64_t rank) {
  Dims shape(t.sizes().begin(), t.sizes().end() - rank);
  shape.push_back(-1);
  return t.reshape(shape);
}

// The derivative of the product of x along d (< 0, n > 0 there) in the directions `along` (each may
// carry leading batch dims), kept along d: the coefficient of e_1 ... e_r in prod_i (x_i + e_1
// along_1i + ...), the last of cumprod_tangents. (Not sum(along_1 prod_others(x; along_2, ...)):
// a zero direction times an others' product that overflows would be nan, where the terms that are
// there are in range: the JVP of prod at 1e200 1e200 1e-200 along 1 0 0 is 1.)
Tensor product_derivative(const Tensor& x, const TensorList& along, int64_t d) {
  const Tensor running = cumprod_tangents(x, along, d);
  return running.narrow(d, running.size(d) - 1, 1);
}

// Taylor coefficients 1..K of the product along d (kept) from x_0's terms.
TensorList product_taylor(const TensorList& terms, int64_t d) {
  return multiaffine_taylor(terms, {}, [&](const TensorList&, const TensorList& more) {
    return product_derivative(terms[0], more, d);
  });
}

struct ProdAttrs {
  std::optional<ScalarType> dtype;
};

struct ProdRecord : Named<"prod", "ProdBackward0"> {
  using Attrs = ProdAttrs;
  static constexpr Saves saves{.inputs = input_bits(0)};
  static Tensor replay(const TensorList& in, const Attrs& a) { return prod(in[0], a.dtype); }
  // The whole product is the product along the one dim of x flattened.
  static void vjp(const Backward<ProdRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = cast(b.input(0), g.dtype());
    const Tensor others = x.dim() == 0 ? ones_like(x) : prod_others(x.reshape({-1}), {}, -1).reshape(x.sizes());
    grads[0] = align_to_rank(g, b.batch_dims(g), x.dim()) * others;
  }
  static Tensor jvp(const Primal<ProdRecord>& p, const TensorList& t) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    if (x.numel() == 0) return flat_trailing(cast(t[0], x.dtype()), x.dim()).sum({-1});  // zeros: a constant
    return product_derivative(x.reshape({-1}), {flat_trailing(cast(t[0], x.dtype()), x.dim())}, -1).squeeze(-1);
  }
  // D2[g, g] per direction (g's leading dim), summed.
  static Tensor curvature(const Primal<ProdRecord>& p, const TensorList& g) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    if (!g[0].defined() || x.numel() <= 1) return {};  // a constant or linear
    const Tensor gx = flat_trailing(cast(g[0], x.dtype()), x.dim());
    return product_derivative(x.reshape({-1}), {gx, gx}, -1).squeeze(-1).sum({0});
  }
  static Tensor taylor(const Primal<ProdRecord>& p, const TensorList& stacks) {
    const Tensor x0 = cast(p.input(0), p.output().dtype());
    if (!stacks[0].defined() || x0.numel() == 0) return {};  // the empty product is the constant 1
    TensorList terms;
    for (const Tensor& term : taylor::terms(x0, cast(stacks[0], x0.dtype()))) terms.push_back(flat_trailing(term, x0.dim()));
    TensorList coefficients = product_taylor(terms, -1);
    for (Tensor& c : coefficients)
      if (c.defined()) c = c.squeeze(-1);
    return taylor::stacked_terms(coefficients);
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
  static constexpr Saves saves{.inputs = input_bits(0)};
  static Tensor replay(const TensorList& in, const Attrs& a) { return prod(in[0], a.dim, a.keepdim, a.dtype); }
  static void vjp(const Backward<ProdDimRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = cast(b.input(0), g.dtype());
    if (x.dim() == 0) {
      grads[0] = g;
      return;
    }
    const int64_t d = b.attrs().dim - x.dim();
    grads[0] = (b.attrs().keepdim ? g : g.unsqueeze(d)) * prod_others(x, {}, d);
  }
  static Tensor jvp(const Primal<ProdDimRecord>& p, const TensorList& t) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    const Tensor tangent = cast(t[0], x.dtype());
    if (x.dim() == 0) return tangent;
    const int64_t d = p.attrs().dim - x.dim();
    if (x.size(d) == 0) return tangent.sum({d}, p.attrs().keepdim);  // zeros: a constant
    const Tensor kept = product_derivative(x, {tangent}, d);
    return p.attrs().keepdim ? kept : kept.squeeze(d);
  }
  static Tensor curvature(const Primal<ProdDimRecord>& p, const TensorList& g) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    if (x.dim() == 0 || !g[0].defined()) return {};
    const int64_t d = p.attrs().dim - x.dim();
    if (x.size(d) <= 1) return {};  // a constant or linear
    const Tensor gx = cast(g[0], x.dtype());
    const Tensor kept = product_derivative(x, {gx, gx}, d).sum({0});
    return p.attrs().keepdim ? kept : kept.squeeze(d);
  }
  static Tensor taylor(const Primal<ProdDimRecord>& p, const TensorList& stacks) {
    if (!stacks[0].defined()) return {};
    const Tensor x0 = cast(p.input(0), p.output().dtype());
    const Tensor stack = cast(stacks[0], x0.dtype());
    if (x0.dim() == 0) return stack;
    const int64_t d = p.attrs().dim - x0.dim();
    if (x0.size(d) == 0) return {};
    TensorList coefficients = product_taylor(taylor::terms(x0, stack), d);
    if (!p.attrs().keepdim)
      for (Tensor& c : coefficients)
        if (c.defined()) c = c.squeeze(d);
    return taylor::stacked_terms(coefficients);
  }
};

// The product of x read as [outer, n, inner], in dtype, into a result of out_shape.
Tensor product_values(const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Dims& out_shape, ScalarType dtype) {
  // A bool product is every element's truth at once: 0/1 multiplied in int64, as bool at the end.
  if (dtype == kBool) {
    NoGradGuard no_grad;
    return product_values(cast(x.detach(), kBool), outer, n, inner, out_shape, kInt64).to(kBool);
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

// An integer or bool result has no history and no tangent (as PyTorch's), but is a step of a
// func::compile recording all the same.
template <class Record>
void finish_product(const Tensor& x, const Tensor& out, typename Record::Attrs attrs, ScalarType dtype) {
  if (is_floating_point(dtype)) {
    finish<Record>({&x}, out, attrs);
  } else if (compile::detail::recording()) [[unlikely]] {
    compile::detail::note_kernel("prod", {&x}, out, [attrs](const TensorList& in) { return Record::replay(in, attrs); });
  }
}

}  // namespace

}  // namespace ops

Tensor prod(const Tensor& x, std::optional<ScalarType> dtype) {
  if (vmap::takes_rule(x)) [[unlikely]] {
    const Tensor rows = vmap::batch_rows(x);  // each sample's elements in one row
    return vmap::wrap(prod(rows, 1, false, dtype), 0, vmap::batched(x)->level);
  }
  const ScalarType out_dtype = ops::scan_dtype(x, dtype);
  Tensor out = ops::product_values(x, 1, x.numel(), 1, {}, out_dtype);
  ops::finish_product<ops::ProdRecord>(x, out, {dtype}, out_dtype);
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
  const ScalarType out_dtype = ops::scan_dtype(x, dtype);
  Tensor out = ops::product_values(x, outer, n, inner, out_shape, out_dtype);
  ops::finish_product<ops::ProdDimRecord>(x, out, {dim, keepdim, dtype}, out_dtype);
  return out;
}

Tensor Tensor::prod(std::optional<ScalarType> dtype) const { return dydx::prod(*this, dtype); }
Tensor Tensor::prod(int64_t dim, bool keepdim, std::optional<ScalarType> dtype) const {
  return dydx::prod(*this, dim, keepdim, dtype);
}

}  // namespace dydx
