// cumsum and cumprod: inclusive scans along a dim, with their rules (the in-place forms are in
// inplace.cpp).
//
// Rules work along the dim counted from the end (dim - rank), which names the same dim of a cotangent
// or tangent that carries leading batch dims. A 0-d input is its own scan.
//   cumsum is linear: its transpose is the reversed running sum (flip, cumsum, flip).
//   cumprod's rules are the product rules' (product_rules.hpp), which divide by nothing: its
//   gradient is cumprod_adjoint(x, g), its JVP cumprod_tangents(x; t), its second derivative along g
//   cumprod_tangents(x; g, g), and its Taylor coefficients those of a function affine in each element.
//   PyTorch 1.13 divides (reverse_cumsum(g out) / x where x has no zero: nan at an infinity, and not
//   the derivative where out underflows), and takes an O(n^2) form with zeros under create_graph.
// A floating cumprod is itself the product rules' running product: each partial product carries its
// exponent apart, so a running product that comes back into range after leaving it is exact.
#include "ops/scan.hpp"

#include <optional>

#include "cpu/cpu_kernels.hpp"
#include "cpu/scan_kernels.hpp"
#include "ops/op_record.hpp"
#include "cpu/product_rule_kernels.hpp"
#include "ops/op_util.hpp"
#include "ops/product_rules.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"

namespace dydx {
namespace ops {

ScalarType scan_dtype(const Tensor& x, std::optional<ScalarType> dtype) {
  if (dtype) return *dtype;
  return x.dtype() == kBool ? kInt64 : x.dtype();
}

Tensor reverse_cumsum(const Tensor& t, int64_t dim) { return t.flip({dim}).cumsum(dim).flip({dim}); }

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

struct CumprodRecord : Named<"cumprod", "CumprodBackward0"> {
  using Attrs = ScanAttrs;
  static constexpr Saves saves{.inputs = input_bits(0)};
  static Tensor replay(const TensorList& in, const Attrs& a) { return cumprod(in[0], a.dim, a.dtype); }
  static void vjp(const Backward<CumprodRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor x = cast(b.input(0), g.dtype());
    const auto d = from_end(b.attrs().dim, x.dim());
    grads[0] = d ? cumprod_adjoint(x, {}, g, *d) : g;
  }
  static Tensor jvp(const Primal<CumprodRecord>& p, const TensorList& t) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    const auto d = from_end(p.attrs().dim, x.dim());
    const Tensor tangent = cast(t[0], x.dtype());
    return d ? cumprod_tangents(x, {tangent}, *d) : tangent;
  }
  // D2[g, g] per direction (g's leading dim), summed.
  static Tensor curvature(const Primal<CumprodRecord>& p, const TensorList& g) {
    const Tensor x = cast(p.input(0), p.output().dtype());
    const auto d = from_end(p.attrs().dim, x.dim());
    if (!d || !g[0].defined() || x.size(*d) <= 1) return {};  // linear
    const Tensor gx = cast(g[0], x.dtype());
    return cumprod_tangents(x, {gx, gx}, *d).sum({0});
  }
  static Tensor taylor(const Primal<CumprodRecord>& p, const TensorList& stacks) {
    if (!stacks[0].defined()) return {};
    const Tensor x0 = cast(p.input(0), p.output().dtype());
    const Tensor stack = cast(stacks[0], x0.dtype());
    const auto d = from_end(p.attrs().dim, x0.dim());
    if (!d) return stack;
    return taylor::stacked_terms(multiaffine_taylor(taylor::terms(x0, stack), {}, [&](const TensorList&, const TensorList& more) {
      return cumprod_tangents(x0, more, *d);
    }));
  }
};

// The scan of x along dim (wrapped) in dtype, from the kernel: x cast and made dense first. A
// floating product is the product rules' running product; an integer one wraps (in uint64, where
// int64's overflow would be undefined).
template <bool Product>
Tensor scan_values(const Tensor& x, int64_t dim, ScalarType dtype) {
  constexpr const char* op = Product ? "cumprod" : "cumsum";
  DYDX_CHECK(dtype != kBool, op, ": \"", op, "_out_cpu\" not implemented for 'Bool' (shape ", x.sizes(), ")");
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
    if constexpr (!Product) {
      cpu::scan_along<T>(dense.data_ptr<T>(), out.data_ptr<T>(), outer, n, inner, [](auto a, auto b) { return a + b; }, T(0));
    } else if constexpr (std::is_floating_point_v<T>) {
      cpu::product_rule_along<T>(cpu::ProductRule::running, cpu::ProductOperand<T>{dense.data_ptr<T>(), std::max<int64_t>(outer, 1)},
                                 nullptr, 0, cpu::ProductOperand<T>{}, out.data_ptr<T>(), outer, n, inner);
    } else {
      const auto times = [](auto a, auto b) {
        return static_cast<T>(static_cast<uint64_t>(static_cast<int64_t>(a)) * static_cast<uint64_t>(static_cast<int64_t>(b)));
      };
      cpu::scan_along<T>(dense.data_ptr<T>(), out.data_ptr<T>(), outer, n, inner, times, T(1));
    }
  });
  return out;
}

// An integer result (int64 for an integer or bool input, or a dtype asked for) has no history and no
// tangent, as PyTorch's: its values are not differentiable in x.
template <class Record, bool Product = std::is_same_v<Record, CumprodRecord>>
Tensor scan(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) {
  constexpr const char* op = Product ? "cumprod" : "cumsum";
  dim = detail::wrap_dim(dim, x.dim(), op);
  if (vmap::takes_rule(x)) [[unlikely]] {
    // A 0-d sample scans along a dim of size 1 of its own, after the batch's.
    if (x.dim() == 0)
      return vmap::elementwise(x, [&](const Tensor& v) { return scan<Record>(v.unsqueeze(-1), -1, dtype).squeeze(-1); });
    const int64_t physical = vmap::physical_dim(dim, vmap::batched(x)->bdim);
    return vmap::elementwise(x, [&](const Tensor& v) { return scan<Record>(v, physical, dtype); });
  }
  const ScalarType out_dtype = scan_dtype(x, dtype);
  Tensor out = scan_values<Product>(x, dim, out_dtype);
  if (is_floating_point(out_dtype)) {
    finish<Record>({&x}, out, {dim, dtype});
  } else if (compile::detail::recording()) [[unlikely]] {
    // No node and no tangent (as copy.cpp's integer casts), but a step of the recording all the same.
    compile::detail::note_kernel(op, {&x}, out, [dim, dtype](const TensorList& in) {
      return Product ? cumprod(in[0], dim, dtype) : cumsum(in[0], dim, dtype);
    });
  }
  return out;
}

}  // namespace

}  // namespace ops

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) { return ops::scan<ops::CumsumRecord>(x, dim, dtype); }
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) { return ops::scan<ops::CumprodRecord>(x, dim, dtype); }
Tensor Tensor::cumsum(int64_t dim, std::optional<ScalarType> dtype) const { return dydx::cumsum(*this, dim, dtype); }
Tensor Tensor::cumprod(int64_t dim, std::optional<ScalarType> dtype) const { return dydx::cumprod(*this, dim, dtype); }

}  // namespace dydx
