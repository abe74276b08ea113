// cumsum: the inclusive running sum along a dim, with its rules (the in-place form is in inplace.cpp).
//
// Rules work along the dim counted from the end (dim - rank), which names the same dim of a cotangent
// or tangent that carries leading batch dims. A 0-d input is its own scan. cumsum is linear: its
// transpose is the reversed running sum (flip, cumsum, flip).
#include "ops/scan.hpp"

#include <optional>

#include "cpu/cpu_kernels.hpp"
#include "cpu/scan_kernels.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
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

// The scan of x along dim (wrapped) in dtype, from the kernel: x cast and made dense first.
Tensor scan_values(const Tensor& x, int64_t dim, ScalarType dtype) {
  DYDX_CHECK(dtype != kBool, "cumsum: \"cumsum_out_cpu\" not implemented for 'Bool' (shape ", x.sizes(), ")");
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
    cpu::scan_along<T>(dense.data_ptr<T>(), out.data_ptr<T>(), outer, n, inner, [](auto a, auto b) { return a + b; }, T(0));
  });
  return out;
}

// An integer result (int64 for an integer or bool input, or a dtype asked for) has no history and no
// tangent, as PyTorch's: its values are not differentiable in x.
Tensor scan(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) {
  dim = detail::wrap_dim(dim, x.dim(), "cumsum");
  if (vmap::takes_rule(x)) [[unlikely]] {
    // A 0-d sample scans along a dim of size 1 of its own, after the batch's.
    if (x.dim() == 0) return vmap::elementwise(x, [&](const Tensor& v) { return scan(v.unsqueeze(-1), -1, dtype).squeeze(-1); });
    const int64_t physical = vmap::physical_dim(dim, vmap::batched(x)->bdim);
    return vmap::elementwise(x, [&](const Tensor& v) { return scan(v, physical, dtype); });
  }
  const ScalarType out_dtype = scan_dtype(x, dtype);
  Tensor out = scan_values(x, dim, out_dtype);
  if (is_floating_point(out_dtype)) {
    finish<CumsumRecord>({&x}, out, {dim, dtype});
  } else if (compile::detail::recording()) [[unlikely]] {
    // No node and no tangent (as copy.cpp's integer casts), but a step of the recording all the same.
    compile::detail::note_kernel("cumsum", {&x}, out, [dim, dtype](const TensorList& in) { return cumsum(in[0], dim, dtype); });
  }
  return out;
}

}  // namespace

}  // namespace ops

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype) { return ops::scan(x, dim, dtype); }
Tensor Tensor::cumsum(int64_t dim, std::optional<ScalarType> dtype) const { return dydx::cumsum(*this, dim, dtype); }

}  // namespace dydx
