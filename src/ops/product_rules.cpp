// The ops of the product rules: prod_others, cumprod_tangents and cumprod_adjoint (product_rules.hpp
// says what each computes), which prod's and cumprod's rules are written with.
//
// Each is F(x; L): affine in each element of x (f_i holds x_i once) and linear in each tensor of L (the
// tangents a_k, and cumprod_adjoint's g). So every rule of theirs is one of them again:
//   along x, one more tangent (the derivative of prod_{i in S} f_i along t is the same product with
//   t as one more tangent); along a tensor of L, that tensor replaced by the tangent;
//   the transposes: prod_others is its own (its Jacobian in x is symmetric in the two places); that
//   of cumprod_tangents is cumprod_adjoint and back (the cotangent takes g's place, or the place of
//   the last product's end);
//   the second derivative: two more tangents along x, one along x and one replaced in L, or two
//   replaced; the Taylor coefficients: the expansion in x ends (multiaffine_taylor).
// Nothing is divided, so every derivative is exact at zeros, and the kernel carries exponents apart
// (cpu/product_rule_kernels.hpp), so every one is in range where the exact one is.
#include "ops/product_rules.hpp"

#include "cpu/cpu_kernels.hpp"
#include "cpu/product_rule_kernels.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {

TensorList multiaffine_taylor(const TensorList& x_terms, const std::vector<TensorList>& linear_terms, const MultiAffine& call) {
  const int64_t order = static_cast<int64_t>(x_terms.size()) - 1;
  const size_t m = linear_terms.size();
  TensorList coefficients(static_cast<size_t>(order) + 1);
  std::vector<int64_t> linear_orders(m, 0);
  for (int64_t total = 1; total <= order; ++total) {
    Tensor& coefficient = coefficients[static_cast<size_t>(total)];
    // The ordered orders (each >= 1) of the copies of d that add to `rest`, after L's terms.
    std::function<void(const TensorList&, TensorList&, int64_t, double)> over_d = [&](const TensorList& linear, TensorList& more,
                                                                                      int64_t rest, double factorial) {
      if (rest == 0) {
        const Tensor value = call(linear, more);
        coefficient = taylor::plus(coefficient, factorial == 1 ? value : value * (1.0 / factorial));
        return;
      }
      const double next = factorial * static_cast<double>(more.size() + 1);
      for (int64_t i = 1; i <= rest; ++i) {
        if (!x_terms[static_cast<size_t>(i)].defined()) continue;  // a zero term
        more.push_back(x_terms[static_cast<size_t>(i)]);
        over_d(linear, more, rest - i, next);
        more.pop_back();
      }
    };
    // The orders of L's terms, each >= 0, then d's with what is left.
    std::function<void(size_t, int64_t)> over_linear = [&](size_t j, int64_t left) {
      if (j < m) {
        for (int64_t i = 0; i <= left; ++i) {
          linear_orders[j] = i;
          over_linear(j + 1, left - i);
        }
        return;
      }
      TensorList linear;
      for (size_t k = 0; k < m; ++k) {
        const Tensor& term = linear_terms[k][static_cast<size_t>(linear_orders[k])];
        if (!term.defined()) return;
        linear.push_back(term);
      }
      TensorList more;
      over_d(linear, more, left, 1.0);
    };
    over_linear(0, total);
  }
  return coefficients;
}

namespace {

// The rules' dim, counted from the end (< 0), which names the same dim of a cotangent or tangent
// with leading batch dims.
struct RuleAttrs {
  int64_t dim;
};

TensorList with_more(TensorList list, const TensorList& more) {
  list.insert(list.end(), more.begin(), more.end());
  return list;
}
TensorList with_replaced(TensorList list, size_t k, const Tensor& t) {
  list[k] = t;
  return list;
}
TensorList without(TensorList list, size_t k) {
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(k));
  return list;
}

// The JVP, second-order and Taylor rules every product rule shares, from Record::call(x, L, more,
// dim): F at x with linear inputs L and more tangents along x. Inputs are x, then L.
template <class Record>
struct MultiAffineRules {
  using Attrs = RuleAttrs;
  static constexpr bool broadcasts = true;
  static constexpr Saves saves{.inputs = (1u << (cpu::kMaxProductTangents + 2)) - 1};

  static TensorList linear_of(const Primal<Record>& p, size_t inputs) {
    TensorList linear;
    for (size_t k = 1; k < inputs; ++k) linear.push_back(p.input(k));
    return linear;
  }
  static Tensor jvp(const Primal<Record>& p, const TensorList& t) {
    const TensorList linear = linear_of(p, t.size());
    const int64_t dim = p.attrs().dim;
    Tensor out;
    if (t[0].defined()) out = Record::call(p.input(0), linear, {t[0]}, dim);
    for (size_t k = 0; k < linear.size(); ++k)
      if (t[k + 1].defined()) out = taylor::plus(out, Record::call(p.input(0), with_replaced(linear, k, t[k + 1]), {}, dim));
    return out;
  }
  // D2[g, g] for each direction (g's leading dim), summed: x twice, x and one of L, two of L (each
  // of L linear alone).
  static Tensor curvature(const Primal<Record>& p, const TensorList& g) {
    const TensorList linear = linear_of(p, g.size());
    const int64_t dim = p.attrs().dim;
    const Tensor& x = p.input(0);
    Tensor out;
    if (g[0].defined()) out = Record::call(x, linear, {g[0], g[0]}, dim);
    for (size_t k = 0; k < linear.size(); ++k) {
      if (!g[k + 1].defined()) continue;
      const TensorList replaced = with_replaced(linear, k, g[k + 1]);
      if (g[0].defined()) out = taylor::plus(out, Record::call(x, replaced, {g[0]}, dim) * 2.0);
      for (size_t j = k + 1; j < linear.size(); ++j)
        if (g[j + 1].defined()) out = taylor::plus(out, Record::call(x, with_replaced(replaced, j, g[j + 1]), {}, dim) * 2.0);
    }
    return out.defined() ? out.sum({0}) : out;
  }
  static Tensor taylor(const Primal<Record>& p, const TensorList& stacks) {
    int64_t order = 0;
    for (const Tensor& stack : stacks)
      if (stack.defined()) order = stack.size(0);
    if (order == 0) return {};
    const auto terms_of = [&](size_t i) {
      TensorList terms{p.input(i)};
      for (int64_t k = 1; k <= order; ++k) terms.push_back(taylor::coefficient(stacks[i], k));
      return terms;
    };
    std::vector<TensorList> linear_terms;
    for (size_t i = 1; i < stacks.size(); ++i) linear_terms.push_back(terms_of(i));
    const Tensor& x = p.input(0);
    const int64_t dim = p.attrs().dim;
    const TensorList coefficients = multiaffine_taylor(terms_of(0), linear_terms, [&](const TensorList& linear, const TensorList& more) {
      return Record::call(x, linear, more, dim);
    });
    return taylor::stacked_terms(coefficients);
  }
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return Record::call(in[0], TensorList(in.begin() + 1, in.end()), {}, a.dim);
  }
  static TensorList linear_of(const Backward<Record>& b) {
    TensorList linear;
    for (size_t k = 1; k < b.num_inputs(); ++k) linear.push_back(b.input(k));
    return linear;
  }
};

struct ProdOthersRecord : MultiAffineRules<ProdOthersRecord>, Named<"prod_others", "ProdOthersBackward0"> {
  static Tensor call(const Tensor& x, const TensorList& linear, const TensorList& more, int64_t dim) {
    return prod_others(x, with_more(linear, more), dim);
  }
  // Its own transpose: the cotangent's place is one more place the tangents skip.
  static void vjp(const Backward<ProdOthersRecord>& b, const Tensor& h, Tensor* grads) {
    const TensorList tangents = linear_of(b);
    const int64_t dim = b.attrs().dim;
    if (b.needs_grad(0)) grads[0] = prod_others(b.input(0), with_more(tangents, {h}), dim);
    for (size_t k = 0; k < tangents.size(); ++k)
      if (b.needs_grad(k + 1)) grads[k + 1] = prod_others(b.input(0), with_replaced(tangents, k, h), dim);
  }
};

struct CumprodTangentsRecord : MultiAffineRules<CumprodTangentsRecord>, Named<"cumprod_tangents", "CumprodTangentsBackward0"> {
  static Tensor call(const Tensor& x, const TensorList& linear, const TensorList& more, int64_t dim) {
    return cumprod_tangents(x, with_more(linear, more), dim);
  }
  // The transpose is cumprod_adjoint with the cotangent as its g (along a_k, without a_k).
  static void vjp(const Backward<CumprodTangentsRecord>& b, const Tensor& h, Tensor* grads) {
    const TensorList tangents = linear_of(b);
    const int64_t dim = b.attrs().dim;
    if (b.needs_grad(0)) grads[0] = cumprod_adjoint(b.input(0), tangents, h, dim);
    for (size_t k = 0; k < tangents.size(); ++k)
      if (b.needs_grad(k + 1)) grads[k + 1] = cumprod_adjoint(b.input(0), without(tangents, k), h, dim);
  }
};

// Inputs x, a_1 .. a_m, g: L is the tangents and g.
struct CumprodAdjointRecord : MultiAffineRules<CumprodAdjointRecord>, Named<"cumprod_adjoint", "CumprodAdjointBackward0"> {
  static Tensor call(const Tensor& x, const TensorList& linear, const TensorList& more, int64_t dim) {
    return cumprod_adjoint(x, with_more(TensorList(linear.begin(), linear.end() - 1), more), linear.back(), dim);
  }
  // Along x and a_k as prod_others' (the cotangent one more place, or a_k's); along g, the running
  // products with the cotangent as one more tangent.
  static void vjp(const Backward<CumprodAdjointRecord>& b, const Tensor& h, Tensor* grads) {
    TensorList tangents = linear_of(b);
    const Tensor g = tangents.back();
    tangents.pop_back();
    const int64_t dim = b.attrs().dim;
    if (b.needs_grad(0)) grads[0] = cumprod_adjoint(b.input(0), with_more(tangents, {h}), g, dim);
    for (size_t k = 0; k < tangents.size(); ++k)
      if (b.needs_grad(k + 1)) grads[k + 1] = cumprod_adjoint(b.input(0), with_replaced(tangents, k, h), g, dim);
    if (b.needs_grad(tangents.size() + 1)) grads[tangents.size() + 1] = cumprod_tangents(b.input(0), with_more(tangents, {h}), dim);
  }
};

// How many distinct rows e (expanded to the op's shape) has when its dims from `row_dim` on are dense
// and the dims before are broadcast (stride 0) up to some dim and dense after it, so that row o lies
// at (o % rows) row lengths from its data: then the kernel reads it there. 0 where its layout is
// otherwise and it must be copied.
int64_t rows_in_place(const Tensor& e, int64_t row_dim) {
  int64_t expected = 1, rows = 1;
  for (int64_t d = e.dim() - 1; d >= 0; --d) {
    const int64_t size = e.size(d);
    if (size == 1) continue;
    if (e.stride(d) == expected) {
      expected *= size;
      if (d < row_dim) rows *= size;
      continue;
    }
    if (d >= row_dim || e.stride(d) != 0) return 0;
    // Broadcast from here on out: every dim before this one must be broadcast too.
    for (int64_t before = d - 1; before >= 0; --before)
      if (e.size(before) != 1 && e.stride(before) != 0) return 0;
    return rows;
  }
  return rows;
}

// One of the three: x, the tangents and (reverse) g read in place or made dense, the kernel, the record.
template <class Record>
Tensor product_rule(cpu::ProductRule rule, const Tensor& x, const TensorList& tangents, const Tensor* g, int64_t dim) {
  TensorList inputs{x};
  inputs.insert(inputs.end(), tangents.begin(), tangents.end());
  if (g) inputs.push_back(*g);
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
    const TensorList physical_tangents(values.begin() + 1, values.begin() + 1 + static_cast<std::ptrdiff_t>(tangents.size()));
    return vmap::wrap(product_rule<Record>(rule, values[0], physical_tangents, g ? &values.back() : nullptr, dim), 0, level);
  }
  const char* op = Record::name;
  DYDX_CHECK(tangents.size() <= static_cast<size_t>(cpu::kMaxProductTangents), op, ": derivatives of order above ",
             cpu::kMaxProductTangents + 1, " are not supported (", tangents.size() + 1, " asked for)");
  Dims shape(x.sizes().begin(), x.sizes().end());
  ScalarType dtype = x.dtype();
  for (size_t i = 1; i < inputs.size(); ++i) {
    shape = detail::broadcast_shapes(shape, inputs[i].sizes(), op);
    dtype = promote_types(dtype, inputs[i].dtype());
  }
  const int64_t rank = static_cast<int64_t>(shape.size());
  DYDX_CHECK(is_floating_point(dtype), op, ": takes floating tensors, not ", dtype);
  DYDX_CHECK(dim < 0 && dim >= -rank, op, ": dim ", dim, " is not a dim counted from the end of shape ", IntArrayRef(shape));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < rank + dim) outer *= shape[d];
    if (d > rank + dim) inner *= shape[d];
  }
  const int64_t n = shape[rank + dim];
  // Each operand where it lies when its rows are dense and it is broadcast along leading dims only
  // (x under vmap, when only the tangents or g carry the batch: the Hessian of prod(1).sum() over
  // [100, 50] copied x 5000 times), else cast and made dense.
  TensorList kept;
  std::vector<int64_t> periods;
  {
    NoGradGuard no_grad;
    for (const Tensor& t : inputs) {
      Tensor e = cast(t.detach(), dtype).expand(shape);
      int64_t rows = rows_in_place(e, rank + dim);
      // Along the last dim the kernel runs four consecutive rows side by side only where each operand
      // has them one after another: fewer than four distinct rows are copied out instead (a row shared
      // by every sample would otherwise run one lane at a time, 4x slower).
      if (inner == 1 && rows < 4 && rows < outer) rows = 0;
      if (rows == 0) e = e.contiguous();
      periods.push_back(rows == 0 ? outer : rows);
      kept.push_back(std::move(e));
    }
  }
  Tensor out = detail::make_empty(shape, dtype);
  const int m = static_cast<int>(tangents.size());
  cpu::dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto operand = [&](size_t i) { return cpu::ProductOperand<T>{kept[i].data_ptr<T>(), periods[i]}; };
    cpu::ProductOperand<T> rows[cpu::kMaxProductTangents];
    for (int k = 0; k < m; ++k) rows[k] = operand(static_cast<size_t>(k) + 1);
    cpu::product_rule_along<T>(rule, operand(0), rows, m, g ? operand(kept.size() - 1) : cpu::ProductOperand<T>{}, out.data_ptr<T>(),
                               outer, n, inner);
  });
  finish<Record>(inputs, out, {dim});
  return out;
}

}  // namespace

Tensor prod_others(const Tensor& x, const TensorList& tangents, int64_t dim) {
  return product_rule<ProdOthersRecord>(cpu::ProductRule::others, x, tangents, nullptr, dim);
}
Tensor cumprod_tangents(const Tensor& x, const TensorList& tangents, int64_t dim) {
  return product_rule<CumprodTangentsRecord>(cpu::ProductRule::running, x, tangents, nullptr, dim);
}
Tensor cumprod_adjoint(const Tensor& x, const TensorList& tangents, const Tensor& g, int64_t dim) {
  return product_rule<CumprodAdjointRecord>(cpu::ProductRule::reverse, x, tangents, &g, dim);
}

}  // namespace ops
}  // namespace dydx
