// cumsum and cumprod: inclusive scans along a dim, with their rules (the in-place forms are in
// inplace.cpp).
//
// Rules work along the dim counted from the end (dim - rank), which names the same dim of a cotangent
// or tangent that carries leading batch dims. A 0-d input is its own scan.
//   cumsum is linear: its transpose is the reversed running sum (flip, cumsum, flip).
//   cumprod's derivatives are products of the other elements up to each position, which the rules
//   form without dividing by x wherever x has zeros (cumprod_vjp: a scan of a linear recurrence; the
//   JVP, second-order and Taylor rules multiply the elements' series along the dim, product_scan).
#include "ops/scan.hpp"

#include <limits>

#include "autograd/forward_mode.hpp"
#include "cpu/cpu_kernels.hpp"
#include "cpu/scan_kernels.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {

ScalarType scan_dtype(const Tensor& x, std::optional<ScalarType> dtype) {
  if (dtype) return *dtype;
  return x.dtype() == kBool ? kInt64 : x.dtype();
}

Tensor near_zero(const Tensor& x) {
  const double smallest_normal = x.dtype() == kFloat32 ? std::numeric_limits<float>::min() : std::numeric_limits<double>::min();
  return lt(abs(x.detach()), smallest_normal);
}

bool values_readable(const Tensor& x) { return !compile::detail::recording() && !vmap::takes_rule(x); }

bool has_near_zero(const Tensor& x) {
  if (!values_readable(x)) [[unlikely]] return true;
  NoGradGuard no_grad;
  return near_zero(x).any().item<bool>();
}

Tensor reverse_cumsum(const Tensor& t, int64_t dim) { return t.flip({dim}).cumsum(dim).flip({dim}); }

TensorList product_scan(TensorList terms, int64_t dim) {
  const int64_t n = terms[0].size(dim);
  const auto mul = [](const Tensor& a, const Tensor& b) { return a * b; };
  for (int64_t shift = 1; shift < n; shift *= 2) {
    TensorList earlier(terms.size()), later(terms.size());
    for (size_t k = 0; k < terms.size(); ++k) {
      earlier[k] = terms[k].narrow(dim, 0, n - shift);
      later[k] = terms[k].narrow(dim, shift, n - shift);
    }
    const TensorList combined = taylor::product_terms(earlier, later, mul);
    for (size_t k = 0; k < terms.size(); ++k) terms[k] = cat({terms[k].narrow(dim, 0, shift), combined[k]}, dim);
  }
  return terms;
}

TensorList defined_terms(const Tensor& x0, const TensorList& coefficients) {
  Tensor like;
  for (const Tensor& c : coefficients)
    if (c.defined()) like = c;
  if (!like.defined()) return {};
  TensorList terms{x0};
  for (const Tensor& c : coefficients) terms.push_back(c.defined() ? c : zeros_like(like));
  return terms;
}

namespace {

// The dim scanned, wrapped (0 for a 0-d input), and the dtype asked for, if any.
struct ScanAttrs {
  int64_t dim;
  std::optional<ScalarType> dtype;
};

// dim counted from the end of a tensor of x's rank; nullopt for a 0-d x, which has nothing to scan.
std::optional<int64_t> from_end(int64_t dim, int64_t rank) {
  if (rank == 0) return std::nullopt;
  return dim - rank;
}

struct CumsumRecord : Named<"cumsum", "CumsumBackward0">, Linear {
  using Attrs = ScanAttrs;
  static Tensor replay(const TensorList& in, const Attrs& a) { return cumsum(in[0], a.dim, a.dtype); }
  static void vjp(const Backward<CumsumRecord>& b, const Tensor& g, Tensor* grads) {
    const auto d = from_end(b.attrs().dim, static_cast<int64_t>(b.input_sizes(0).size()));
    grads[0] = d ? reverse_cumsum(g, *d) : g;
  }
  static Tensor jvp(const Primal<CumsumRecord>& p, const TensorList& t) {
    const auto d = from_end(p.attrs().dim, p.input(0).dim());
    const Tensor tangent = cast(t[0], p.output().dtype());
    return d ? tangent.cumsum(*d) : tangent;
  }
};

// R_i = sum_{j >= i} g_j prod_{i < k <= j} x_k along dim (< 0): the recurrence R_i = g_i + x_{i+1} R_{i+1},
// run as Hillis and Steele's scan of its affine maps (ceil(log2 n) steps of a few elementwise ops),
// so that it divides by nothing. Flipped, the recurrence runs forward, h_m = a_m h_(m-1) + b_m, with
// b the flipped g and a_m the flipped x at m - 1 (a_0 = 0: nothing comes before). After the step of
// a shift s, position m holds the map of positions m - 2s + 1 .. m: (a, b) composed with the earlier
// map at m - s as (a a', a b' + b).
Tensor reverse_weighted_sums(const Tensor& g, const Tensor& x, int64_t dim) {
  const int64_t n = x.size(dim);
  if (n == 0) return g;
  Tensor b = g.flip({dim});
  Tensor a = cat({zeros_like(x.narrow(dim, 0, 1)), x.flip({dim}).narrow(dim, 0, n - 1)}, dim);
  for (int64_t shift = 1; shift < n; shift *= 2) {
    const Tensor a_now = a.narrow(dim, shift, n - shift), a_before = a.narrow(dim, 0, n - shift);
    b = cat({b.narrow(dim, 0, shift), a_now * b.narrow(dim, 0, n - shift) + b.narrow(dim, shift, n - shift)}, dim);
    if (2 * shift < n) a = cat({a.narrow(dim, 0, shift), a_now * a_before}, dim);
  }
  return b.flip({dim});
}

// The gradient of cumprod along dim (< 0) of x, whose cumprod is out, for cotangent g:
//   G_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k = L_i R_i,
// with L_i the product of the elements before i (an exclusive cumprod) and R as above. Where x has
// no element that is zero or subnormal (and its values may be read) G is the reversed running sum of
// g * out over x, in five passes, as PyTorch computes it; otherwise L R, which divides by nothing and
// is G itself around x (not its value only), so double backward and forward over reverse are exact
// at zeros too.
Tensor cumprod_vjp(const Tensor& g, const Tensor& x, const Tensor& out, int64_t dim) {
  if (!has_near_zero(x)) return reverse_cumsum(g * out, dim) / x;
  const int64_t n = x.size(dim);
  const Tensor before = cat({ones_like(x.narrow(dim, 0, 1)), x.narrow(dim, 0, n - 1).cumprod(dim)}, dim);
  return before * reverse_weighted_sums(g, x, dim);
}

// cumprod's series: the running Cauchy product of x's series (product_scan), coefficients 1..K.
TensorList cumprod_series(const Tensor& x0, const TensorList& coefficients, int64_t dim) {
  TensorList terms = defined_terms(x0, coefficients);
  if (terms.empty()) return {};
  return product_scan(terms, dim);
}

struct CumprodRecord : Named<"cumprod", "CumprodBackward0"> {
  using Attrs = ScanAttrs;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  static Tensor replay(const TensorList& in, const Attrs& a) { return cumprod(in[0], a.dim, a.dtype); }
  static void vjp(const Backward<CumprodRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor out = b.output();
    const auto d = from_end(b.attrs().dim, out.dim());
    if (!d) {
      grads[0] = g;
      return;
    }
    const Tensor x = cast(b.input(0), out.dtype());
    grads[0] = x.size(*d) == 0 ? g : cumprod_vjp(g, x, out, *d);
  }
  // out times the running sum of t / x where x has no zeros (PyTorch's form, one pass each);
  // otherwise the running product of x + t eps to first order in eps, which divides by nothing.
  static Tensor jvp(const Primal<CumprodRecord>& p, const TensorList& t) {
    const Tensor& out = p.output();
    const auto d = from_end(p.attrs().dim, out.dim());
    const Tensor x = cast(p.input(0), out.dtype()), tangent = cast(t[0], out.dtype());
    if (!d) return tangent;
    if (!has_near_zero(x)) return (tangent / x).cumsum(*d) * out;
    return cumprod_series(x, {tangent}, *d)[1];
  }
  // D2[g, g] is twice the second coefficient of the running product of x + g eps.
  static Tensor curvature(const Primal<CumprodRecord>& p, const TensorList& g) {
    const Tensor& out = p.output();
    const auto d = from_end(p.attrs().dim, out.dim());
    if (!d || !g[0].defined()) return {};
    const TensorList terms = cumprod_series(cast(p.input(0), out.dtype()), {cast(g[0], out.dtype()), Tensor()}, *d);
    return terms[2].sum({0}) * 2.0;
  }
  static Tensor taylor(const Primal<CumprodRecord>& p, const TensorList& x) {
    const Tensor& out = p.output();
    const auto d = from_end(p.attrs().dim, out.dim());
    if (!x[0].defined()) return {};
    if (!d) return cast(x[0], out.dtype());
    TensorList coefficients;
    for (int64_t k = 1; k <= forward::taylor_order(); ++k) coefficients.push_back(cast(taylor::coefficient(x[0], k), out.dtype()));
    return taylor::stacked_terms(cumprod_series(cast(p.input(0), out.dtype()), coefficients, *d));
  }
};

// The scan of x along dim (wrapped) in dtype, from the kernel: x cast and made dense first.
Tensor scan_values(const Tensor& x, int64_t dim, ScalarType dtype, bool product) {
  DYDX_CHECK(dtype != kBool, product ? "cumprod" : "cumsum", ": \"", product ? "cumprod" : "cumsum",
             "_out_cpu\" not implemented for 'Bool' (shape ", x.sizes(), ")");
  Tensor dense;
  {
    NoGradGuard no_grad;
    dense = cast(x.detach(), dtype).contiguous();
  }
  Tensor out = detail::make_empty(x.sizes(), dtype);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t n = x.dim() == 0 ? 1 : x.size(dim);
  cpu::dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (product)
      cpu::scan_along<T>(dense.data_ptr<T>(), out.data_ptr<T>(), outer, n, inner, [](auto a, auto b) { return a * b; }, T(1));
    else
      cpu::scan_along<T>(dense.data_ptr<T>(), out.data_ptr<T>(), outer, n, inner, [](auto a, auto b) { return a + b; }, T(0));
  });
  return out;
}

template <class Record, bool Product = std::is_same_v<Record, CumprodRecord>>
Tensor scan(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) {
  const char* op = Product ? "cumprod" : "cumsum";
  dim = detail::wrap_dim(dim, x.dim(), op);
  if (vmap::takes_rule(x)) [[unlikely]] {
    // A 0-d sample scans along a dim of size 1 of its own, after the batch's.
    if (x.dim() == 0)
      return vmap::elementwise(x, [&](const Tensor& v) { return scan<Record>(v.unsqueeze(-1), -1, dtype).squeeze(-1); });
    const int64_t physical = vmap::physical_dim(dim, vmap::batched(x)->bdim);
    return vmap::elementwise(x, [&](const Tensor& v) { return scan<Record>(v, physical, dtype); });
  }
  Tensor out = scan_values(x, dim, scan_dtype(x, dtype), Product);
  finish<Record>({&x}, out, {dim, dtype});
  return out;
}

}  // namespace

}  // namespace ops

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) { return ops::scan<ops::CumsumRecord>(x, dim, dtype); }
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) { return ops::scan<ops::CumprodRecord>(x, dim, dtype); }
Tensor Tensor::cumsum(int64_t dim, std::optional<ScalarType> dtype) const { return dydx::cumsum(*this, dim, dtype); }
Tensor Tensor::cumprod(int64_t dim, std::optional<ScalarType> dtype) const { return dydx::cumprod(*this, dim, dtype); }

}  // namespace dydx
