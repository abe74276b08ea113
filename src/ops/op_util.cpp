// The helpers op_util.hpp declares: dtype promotion, scalar wrapping, and the forward Laplacian's
// sum over directions.
#include "ops/op_util.hpp"

#include "core/overlap.hpp"

#include <algorithm>

namespace dydx::ops {

namespace {
// PyTorch's categories for type promotion: a 0-d tensor or a C++ scalar promotes a dimensioned
// tensor only when its category is higher (bool < integer < floating).
int category(ScalarType t) { return t == kBool ? 0 : t == kInt64 ? 1 : 2; }
}  // namespace

ScalarType result_type(const Tensor& a, const Tensor& b) {
  const bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote_types(a.dtype(), b.dtype());
  const Tensor& dimensioned = a0 ? b : a;
  const Tensor& zero_dim = a0 ? a : b;
  if (category(zero_dim.dtype()) > category(dimensioned.dtype())) return zero_dim.dtype();
  return dimensioned.dtype();
}

ScalarType result_type(const Tensor& t, Scalar s) {
  if (t.is_floating_point()) return t.dtype();
  if (!s.is_integral()) return kDefaultDtype;
  if (t.dtype() == kBool && !s.is_boolean()) return kInt64;
  return t.dtype();
}

Tensor scalar_tensor(Scalar s, ScalarType dtype) { return full({}, s, dtype); }

Tensor sum_over_directions(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return {};
  // Dense directions that carry no derivatives of their own (the usual case: no outer level, no
  // reverse pass through the Laplacian) are reduced in one pass rather than a product and a sum.
  if (a.sizes() == b.sizes() && a.dtype() == b.dtype() && a.is_contiguous() && b.is_contiguous() &&
      a.is_floating_point() && !forward::carries_derivatives(a) && !forward::carries_derivatives(b)) {
    // n from the output's own shape: with no directions (d = 0) the sums are zeros, still written.
    const int64_t d = a.size(0);
    Tensor out = detail::make_empty(Dims(a.sizes().begin() + 1, a.sizes().end()), a.dtype());
    const int64_t n = out.numel();
    cpu::dispatch_floating(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data_ptr<T>();
      const T* pb = b.data_ptr<T>();
      T* po = out.data_ptr<T>();
      // In double, as float32 sums across rows are (see sum_values), in blocks that stay in L1.
      constexpr int64_t kBlock = 256;
      double sums[kBlock];
      for (int64_t start = 0; start < n; start += kBlock) {
        const int64_t m = std::min(kBlock, n - start);
        std::fill_n(sums, m, 0.0);
        for (int64_t k = 0; k < d; ++k)
          for (int64_t i = 0; i < m; ++i) sums[i] += static_cast<double>(pa[k * n + start + i] * pb[k * n + start + i]);
        for (int64_t i = 0; i < m; ++i) po[start + i] = static_cast<T>(sums[i]);
      }
    });
    return out;
  }
  return (a * b).sum({0});
}

void check_writable(const Tensor& self, const char* op) {
  DYDX_CHECK(self.numel() <= 1 || self.is_contiguous() || !detail::has_internal_overlap(self.sizes(), self.strides()),
             op, ": unsupported operation: more than one element of the written-to tensor refers to a single memory "
             "location. Please clone() the tensor before performing the operation (shape ", self.sizes(),
             ", strides ", self.strides(), ")");
}

}  // namespace dydx::ops
