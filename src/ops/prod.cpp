// prod: the product of every element, or along a dim, with its rules.
//
// d prod / d x_l is E_l, the product of the other elements of the row, and every rule is written
// with one op that forms it and its derivatives, prod_others (below): the products of the others of
// x along a dim with tangents a_1 .. a_m, the coefficient of e_1 ... e_m in
// prod_{i != l} (x_i + e_1 a_1i + ... + e_m a_mi) (e_k^2 = 0). Then
//   prod's gradient is g E = g prod_others(x), its JVP sum(t E) = sum(t prod_others(x)), and its
//   second derivative along g is sum(g prod_others(x; g));
//   prod_others' own derivatives are prod_others with one more tangent (along x) or with a tangent
//   replaced (along a_k, in which it is linear), so every order of derivative is one more call.
// Nothing divides, so zeros are exact (a row with two zeros has a nonzero second derivative), and
// its kernel carries each partial product's exponent apart (cpu/others_kernels.hpp), so that a
// gradient that is in range is computed in range (1e-200 1e-200 3: E = 3e-200 3e-200 1e-400).
// PyTorch 1.13's eager rules divide out / x where x has no zero, which is nan at an infinity and 0
// where out underflows; inside functorch's transforms they take the products, as these do (its
// prod_safe_zeros_backward), whose partial products overflow where these do not.
// Taylor coefficients past the first (which is the JVP) are the Cauchy products of the elements'
// series, element after element along the row.
#include "ops/prod_others.hpp"

#include <functional>

#include "cpu/cpu_kernels.hpp"
#include "cpu/others_kernels.hpp"
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

// prod_others' dim, counted from the end (< 0), which names the same dim of a cotangent or tangent
// with leading batch dims.
struct OthersAttrs {
  int64_t dim;
};

// Each tangent list with one more tangent, or with tangent k replaced.
TensorList with_tangent(const TensorList& tangents, const Tensor& t) {
  TensorList out = tangents;
  out.push_back(t);
  return out;
}
TensorList with_replaced(const TensorList& tangents, size_t k, const Tensor& t) {
  TensorList out = tangents;
  out[k] = t;
  return out;
}

struct ProdOthersRecord : Named<"prod_others", "ProdOthersBackward0"> {
  using Attrs = OthersAttrs;
  static constexpr bool broadcasts = true;
  static constexpr Saves saves{.inputs = (1u << (cpu::kMaxOthersTangents + 1)) - 1};
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return prod_others(in[0], TensorList(in.begin() + 1, in.end()), a.dim);
  }
  static TensorList tangents_of(const Backward<ProdOthersRecord>& b) {
    TensorList tangents;
    for (size_t k = 1; k < b.num_inputs(); ++k) tangents.push_back(b.input(k));
    return tangents;
  }
  // Along x, one more tangent; along a_k, a_k replaced (it is linear in each, and symmetric in the
  // places of the row: the cotangent's place l is one more place the tangents skip).
  static void vjp(const Backward<ProdOthersRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = b.input(0);
    const TensorList tangents = tangents_of(b);
    const int64_t dim = b.attrs().dim;
    if (b.needs_grad(0)) grads[0] = prod_others(x, with_tangent(tangents, g), dim);
    for (size_t k = 0; k < tangents.size(); ++k)
      if (b.needs_grad(k + 1)) grads[k + 1] = prod_others(x, with_replaced(tangents, k, g), dim);
  }
  static Tensor jvp(const Primal<ProdOthersRecord>& p, const TensorList& t) {
    const Tensor& x = p.input(0);
    TensorList tangents;
    for (size_t k = 1; k < t.size(); ++k) tangents.push_back(p.input(k));
    const int64_t dim = p.attrs().dim;
    Tensor out;
    if (t[0].defined()) out = prod_others(x, with_tangent(tangents, t[0]), dim);
    for (size_t k = 0; k < tangents.size(); ++k)
      if (t[k + 1].defined()) out = taylor::plus(out, prod_others(x, with_replaced(tangents, k, t[k + 1]), dim));
    return out;
  }
  // D2[g, g] (each g with a leading dim of directions, summed): along x twice, two more tangents
  // g_x g_x; along x and a_k, g_x and a_k made g_k, twice; along a_j and a_k (j != k), both
  // replaced, twice. Linear in each a_k alone.
  static Tensor curvature(const Primal<ProdOthersRecord>& p, const TensorList& g) {
    const Tensor& x = p.input(0);
    TensorList tangents;
    for (size_t k = 1; k < g.size(); ++k) tangents.push_back(p.input(k));
    const int64_t dim = p.attrs().dim;
    Tensor out;
    if (g[0].defined()) out = prod_others(x, with_tangent(with_tangent(tangents, g[0]), g[0]), dim);
    for (size_t k = 0; k < tangents.size(); ++k) {
      if (!g[k + 1].defined()) continue;
      const TensorList replaced = with_replaced(tangents, k, g[k + 1]);
      if (g[0].defined()) out = taylor::plus(out, prod_others(x, with_tangent(replaced, g[0]), dim) * 2.0);
      for (size_t j = k + 1; j < tangents.size(); ++j)
        if (g[j + 1].defined()) out = taylor::plus(out, prod_others(x, with_replaced(replaced, j, g[j + 1]), dim) * 2.0);
    }
    return out.defined() ? out.sum({0}) : out;
  }
  // Each x_i enters every product with degree at most 1 and each a_k linearly, so along the series
  // x_0 + d(s) the expansion ends: prod_others(x_0 + d; A) = sum_r prod_others(x_0; A, d, ..., d) / r!
  // (d r times). Coefficient K of that is the sum, over the orders of the a_k's terms and the
  // ordered orders >= 1 of the r copies of d (all adding to K), of prod_others at those terms / r!.
  static Tensor taylor(const Primal<ProdOthersRecord>& p, const TensorList& x) {
    int64_t order = 0;
    for (const Tensor& stack : x)
      if (stack.defined()) order = stack.size(0);
    if (order == 0) return {};
    std::vector<TensorList> terms;
    for (size_t i = 0; i < x.size(); ++i) {
      TensorList t{p.input(i)};
      for (int64_t k = 1; k <= order; ++k) t.push_back(taylor::coefficient(x[i], k));
      terms.push_back(t);
    }
    const size_t m = x.size() - 1;
    const int64_t dim = p.attrs().dim;
    TensorList coefficients(static_cast<size_t>(order) + 1);
    for (int64_t total = 1; total <= order; ++total) {
      // Every split of `total` between the a's terms (each >= 0) and the d's (each >= 1).
      std::vector<int64_t> a_orders(m, 0);
      std::function<void(size_t, int64_t)> over_a = [&](size_t k, int64_t left) {
        if (k < m) {
          for (int64_t i = 0; i <= left; ++i) {
            a_orders[k] = i;
            over_a(k + 1, left - i);
          }
          return;
        }
        TensorList base;
        for (size_t j = 0; j < m; ++j) {
          const Tensor& term = terms[j + 1][static_cast<size_t>(a_orders[j])];
          if (!term.defined()) return;  // a zero term
          base.push_back(term);
        }
        // The ordered orders of the d's adding to `left`, each >= 1.
        std::function<void(TensorList&, int64_t, double)> over_d = [&](TensorList& chosen, int64_t rest, double r_factorial) {
          if (rest == 0) {
            const Tensor value = prod_others(p.input(0), chosen, dim);
            coefficients[static_cast<size_t>(total)] =
                taylor::plus(coefficients[static_cast<size_t>(total)], r_factorial == 1 ? value : value * (1.0 / r_factorial));
            return;
          }
          const double next_factorial = r_factorial * static_cast<double>(chosen.size() - m + 1);
          for (int64_t i = 1; i <= rest; ++i) {
            const Tensor& term = terms[0][static_cast<size_t>(i)];
            if (!term.defined()) continue;
            chosen.push_back(term);
            over_d(chosen, rest - i, next_factorial);
            chosen.pop_back();
          }
        };
        over_d(base, left, 1.0);
      };
      over_a(0, total);
    }
    return taylor::stacked_terms(coefficients);
  }
};

// The rows of x along d (< 0) as a dim of their own: the whole product's x flattened, one row.
Tensor flat_trailing(const Tensor& t, int64_t rank) {
  Dims shape(t.sizes().begin(), t.sizes().end() - rank);
  shape.push_back(-1);
  return t.reshape(shape);
}

// E of the whole product, in x's shape.
Tensor whole_others(const Tensor& x) {
  if (x.dim() == 0) return ones_like(x);
  return prod_others(x.reshape({-1}), {}, -1).reshape(x.sizes());
}

// The Taylor terms {y_0, ..., y_K} of the product along dim (< 0; kept) of the series given by its
// terms (x_0 the primal; an undefined term is zero; terms may carry leading batch dims that x_0 does
// not): the product of two series is their Cauchy product, taken element after element along the
// row (n steps of O(K^2) products), which divides by nothing.
TensorList product_terms_along(const TensorList& terms, int64_t dim) {
  const int64_t n = terms[0].size(dim);
  const auto times = [](const Tensor& a, const Tensor& b) { return a * b; };
  TensorList product;
  for (int64_t j = 0; j < n; ++j) {
    TensorList element(terms.size());
    for (size_t k = 0; k < terms.size(); ++k)
      if (terms[k].defined()) element[k] = terms[k].narrow(dim, j, 1);
    product = j == 0 ? element : taylor::product_terms(product, element, times);
  }
  return product;
}

// The whole product's Taylor terms 0..K from x_0's terms (each coefficient [batch..., x's shape]).
TensorList whole_product_terms(const TensorList& terms) {
  const int64_t rank = terms[0].dim();
  TensorList flat;
  for (const Tensor& term : terms) flat.push_back(term.defined() ? flat_trailing(term, rank) : Tensor());
  TensorList out = product_terms_along(flat, -1);
  for (Tensor& term : out)
    if (term.defined()) term = term.squeeze(-1);
  return out;
}

// The whole product's JVP, sum(E t) (t may carry leading batch dims), which is also its first
// Taylor coefficient: E in range keeps it in range where the Cauchy products' partial sums overflow
// (1e-200 1e200 1e200 1e-200: x1 x2 + ...).
Tensor whole_prod_jvp(const Tensor& t, const Tensor& x) {
  return (flat_trailing(t, x.dim()) * whole_others(x).reshape({-1})).sum({-1});
}

struct ProdAttrs {
  std::optional<ScalarType> dtype;
};

struct ProdRecord : Named<"prod", "ProdBackward0"> {
  using Attrs = ProdAttrs;
  static constexpr Saves saves{.inputs = input_bits(0)};
  static Tensor replay(const TensorList& in, const Attrs& a) { return prod(in[0], a.dtype); }
  static void vjp(const Backward<ProdRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = cast(b.input(0), g.dtype());
    grads[0] = align_to_rank(g, b.batch_dims(g), x.dim()) * whole_others(x);
  }
  static Tensor jvp(const Primal<ProdRecord>& p, const TensorList& t) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    return whole_prod_jvp(cast(t[0], x.dtype()), x);
  }
  // D2[g, g] = sum_l g_l (d/ds E_l along g) = sum(g prod_others(x; g)), per direction, summed.
  static Tensor curvature(const Primal<ProdRecord>& p, const TensorList& g) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    if (!g[0].defined() || x.numel() <= 1) return {};  // a constant or linear
    const Tensor gx = flat_trailing(cast(g[0], x.dtype()), x.dim());
    return (gx * prod_others(x.reshape({-1}), {gx}, -1)).sum({-1}).sum({0});
  }
  static Tensor taylor(const Primal<ProdRecord>& p, const TensorList& x) {
    const Tensor x0 = cast(p.input(0), p.output().dtype());
    if (!x[0].defined() || x0.numel() == 0) return {};  // the empty product is the constant 1
    const TensorList terms = taylor::terms(x0, cast(x[0], x0.dtype()));
    TensorList coefficients = whole_product_terms(terms);
    coefficients[1] = whole_prod_jvp(terms[1], x0);
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
    return (tangent * prod_others(x, {}, d)).sum({d}, p.attrs().keepdim);
  }
  static Tensor curvature(const Primal<ProdDimRecord>& p, const TensorList& g) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    if (x.dim() == 0 || !g[0].defined()) return {};
    const int64_t d = p.attrs().dim - x.dim();
    if (x.size(d) <= 1) return {};  // a constant or linear
    const Tensor gx = cast(g[0], x.dtype());
    return (gx * prod_others(x, {gx}, d)).sum({d}, p.attrs().keepdim).sum({0});
  }
  static Tensor taylor(const Primal<ProdDimRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Tensor x0 = cast(p.input(0), p.output().dtype());
    const Tensor stack = cast(x[0], x0.dtype());
    if (x0.dim() == 0) return stack;
    const int64_t d = p.attrs().dim - x0.dim();
    if (x0.size(d) == 0) return {};
    const bool keep = p.attrs().keepdim;
    const TensorList terms = taylor::terms(x0, stack);
    TensorList coefficients = product_terms_along(terms, d);
    coefficients[1] = (terms[1] * prod_others(x0, {}, d)).sum({d}, true);
    if (!keep)
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

Tensor prod_others(const Tensor& x, const TensorList& tangents, int64_t dim) {
  TensorList inputs{x};
  inputs.insert(inputs.end(), tangents.begin(), tangents.end());
  if (vmap::active() && vmap::any_batched(inputs)) [[unlikely]] {
    // Every input laid out against the samples with the batch in front; dim, counted from the end,
    // is the same dim of the batch.
    const uint32_t level = vmap::top_level(inputs);
    int64_t rank = 0;
    for (const Tensor& t : inputs) {
      const vmap::Arg a = vmap::unwrap(t, level);
      rank = std::max<int64_t>(rank, a.value.dim() - (a.bdim ? 1 : 0));
    }
    TensorList values;
    for (const Tensor& t : inputs) values.push_back(vmap::align_to(t, level, rank, 0));
    return vmap::wrap(prod_others(values[0], TensorList(values.begin() + 1, values.end()), dim), 0, level);
  }
  const int m = static_cast<int>(tangents.size());
  DYDX_CHECK(tangents.size() <= static_cast<size_t>(cpu::kMaxOthersTangents), "prod: derivatives of order above ",
             cpu::kMaxOthersTangents + 1, " are not supported (", tangents.size() + 1, " asked for)");
  Dims shape(x.sizes().begin(), x.sizes().end());
  ScalarType dtype = x.dtype();
  for (const Tensor& t : tangents) {
    shape = detail::broadcast_shapes(shape, t.sizes(), "prod");
    dtype = promote_types(dtype, t.dtype());
  }
  const int64_t rank = static_cast<int64_t>(shape.size());
  DYDX_CHECK(is_floating_point(dtype), "prod: the products of the others take floating tensors, not ", dtype);
  DYDX_CHECK(dim < 0 && dim >= -rank, "prod: the products of the others along dim ", dim, " of a tensor of shape ",
             IntArrayRef(shape));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < rank + dim) outer *= shape[d];
    if (d > rank + dim) inner *= shape[d];
  }
  const int64_t n = shape[rank + dim];
  TensorList dense;
  {
    NoGradGuard no_grad;
    for (const Tensor& t : inputs) dense.push_back(cast(t.detach(), dtype).expand(shape).contiguous());
  }
  Tensor out = detail::make_empty(shape, dtype);
  cpu::dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* rows[cpu::kMaxOthersTangents];
    for (int k = 0; k < m; ++k) rows[k] = dense[k + 1].data_ptr<T>();
    cpu::others_along<T>(dense[0].data_ptr<T>(), rows, m, out.data_ptr<T>(), outer, n, inner);
  });
  finish<ProdOthersRecord>(inputs, out, {dim});
  return out;
}

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
