// Unary elementwise kernel that hands contiguous runs to an array function (SIMD math with fix-ups).
#pragma once

#include "cpu/cpu_kernels.hpp"

namespace dydx::cpu {

/// out[i] = f(a[i]); a broadcasts to out. f_array(x, y, n) must compute f on n contiguous
/// elements bit for bit as f does, so that the result does not depend on the layout. Out must not
/// overlap a.
template <class T, class F, class FArray>
void map1_array(const Tensor& out, const Tensor& a, F f, FArray f_array) {
  const auto& o = *out.impl();
  if (is_flat(o, o.sizes) && is_flat(*a.impl(), o.sizes)) {
    const T* pa = flat_data<const T>(a);
    T* po = flat_data<T>(out);
    parallel_for(o.numel, kElementwiseGrain, [&](int64_t begin, int64_t end) { f_array(pa + begin, po + begin, end - begin); });
    return;
  }
  auto geo = make_geometry<2>(out, {&a});
  parallel_for_each_run<2>(geo, {out.impl()->data_bytes(), a.impl()->data_bytes()}, {sizeof(T), sizeof(T)}, 0,
                  kElementwiseGrain,
                  [&](int64_t n, std::array<char*, 2> p, std::array<int64_t, 2> s) {
                    auto* y = reinterpret_cast<T*>(p[0]);
                    const auto* x = reinterpret_cast<const T*>(p[1]);
                    if (s[0] == 1 && s[1] == 1) {
                      f_array(x, y, n);
                    } else if (s[1] == 0) {
                      const T v = f(x[0]);
                      for (int64_t i = 0; i < n; ++i) y[i * s[0]] = v;
                    } else {
                      for (int64_t i = 0; i < n; ++i) y[i * s[0]] = f(x[i * s[1]]);
                    }
                  });
}

}  // namespace dydx::cpu
