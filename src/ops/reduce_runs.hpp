// reduce_runs: the strided reductions over a set of dims that compute each result from one
// contiguous run of values (var/std's, norm's, softmax's row maxima and logsumexp).
#pragma once

#include <algorithm>

#include "cpu/parallel.hpp"
#include "ops/op_util.hpp"

namespace dydx::ops {

// f(runs, n, count, results) for the runs of x over dims (non-negative, ascending), up to Group
// consecutive runs at a time, writing their count results: the reduced dims go last (a copy unless
// they already are), so that each result reads one contiguous run of n values, and a group is one
// block of count * n.
template <int64_t Group, class F>
Tensor reduce_run_groups(const Tensor& x, const Dims& dims, bool keepdim, F f) {
  Dims order, out_shape;
  int64_t n = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced) order.push_back(d), out_shape.push_back(x.size(d));
    else if (keepdim) out_shape.push_back(1);
  }
  for (int64_t d : dims) order.push_back(d), n *= x.size(d);
  const Tensor runs = x.dim() == 0 ? x.contiguous() : x.permute(order).contiguous();
  Tensor out = detail::make_empty(out_shape, x.dtype());
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = runs.data_ptr<T>();
    T* py = out.data_ptr<T>();
    cpu::parallel_for(out.numel(), std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; i += Group) f(px + i * n, n, std::min(Group, end - i), py + i);
    });
  });
  return out;
}

// f(run, n) for each run of x over dims (non-negative, ascending), as the result of that run.
template <class F>
Tensor reduce_runs(const Tensor& x, const Dims& dims, bool keepdim, F f) {
  return reduce_run_groups<1>(x, dims, keepdim, [&f]<class T>(const T* run, int64_t n, int64_t, T* result) {
    *result = static_cast<T>(f(run, n));
  });
}

}  // namespace dydx::ops
