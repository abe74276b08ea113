// softmax, log_softmax and logsumexp: normalising exponentials along dims, with their rules.
//
// Forwards subtract each row's maximum before exponentiating, so no finite input overflows; sums
// accumulate in double. Edge values follow PyTorch 1.13: a nan anywhere in a row makes the row nan;
// softmax and log_softmax of a row whose maximum is infinite are nan (inf - inf); logsumexp of a
// row of -infs is -inf and of a row holding +inf is inf (it shifts by the maximum only when that
// is finite).
//
// Second order (the forward Laplacian's sum_k D2f[g_k, g_k]), with s = softmax(x) along the dims
// and <a> = sum(s * a) along them (the s-weighted mean):
//   logsumexp: D lse[t] = <t>, D2 lse[t, t] = <t^2> - <t>^2 = <u^2>, with u = t - <t>;
//   log_softmax = x - lse(x): D2[t, t] = -<u^2> (the same along every element of the row);
//   softmax = exp(log_softmax): Ds[t] = s * u, and differentiating s * (t - <t>) once more along t
//   gives s * u^2 - s * <u * t> = s * (u^2 - <u^2>) (as <u> = 0, <u * t> = <u^2>).
#include <cmath>
#include <limits>

#include "cpu/parallel.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/reduce_runs.hpp"
#include "ops/taylor.hpp"
#include "vmap/reduction.hpp"

namespace dydx {
namespace ops {
namespace {

// A contiguous tensor seen as outer x n x inner: rows of n values, inner apart.
struct Rows {
  int64_t outer, n, inner;
};

Rows rows_along(const Tensor& x, int64_t dim) {
  Rows r{1, 1, 1};
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) r.outer *= x.size(d);
    else if (d == dim) r.n = x.size(d);
    else r.inner *= x.size(d);
  }
  return r;
}

// The largest of n strided values, nan if any is.
template <class T>
T row_max(const T* p, int64_t n, int64_t stride) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t k = 0; k < n; ++k) {
    const T v = p[k * stride];
    if (v != v) return v;
    if (v > m) m = v;
  }
  return m;
}

// sum_k exp(p_k - shift), in double.
template <class T>
double row_sum_exp(const T* p, int64_t n, int64_t stride, T shift) {
  double total = 0;
  for (int64_t k = 0; k < n; ++k) total += std::exp(static_cast<double>(p[k * stride] - shift));
  return total;
}

// softmax (or log_softmax) of every row of a floating tensor along dim.
Tensor normalise_along(const Tensor& input, int64_t dim, bool log) {
  const Tensor x = input.contiguous();
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  const Rows r = rows_along(x, dim);
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_ptr<T>();
    T* py = out.data_ptr<T>();
    cpu::parallel_for(r.outer * r.inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(r.n, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t base = (row / r.inner) * r.n * r.inner + row % r.inner;
        const T* p = px + base;
        T* q = py + base;
        const T m = row_max(p, r.n, r.inner);
        const double total = row_sum_exp(p, r.n, r.inner, m);
        if (log) {
          const double log_total = std::log(total);
          for (int64_t k = 0; k < r.n; ++k) q[k * r.inner] = static_cast<T>((p[k * r.inner] - m) - log_total);
        } else {
          for (int64_t k = 0; k < r.n; ++k)
            q[k * r.inner] = static_cast<T>(std::exp(static_cast<double>(p[k * r.inner] - m)) / total);
        }
      }
    });
  });
  return out;
}

Tensor logsumexp_values(const Tensor& x, const Dims& dims, bool keepdim) {
  return reduce_runs(x, dims, keepdim, []<class T>(const T* p, int64_t n) {
    T m = row_max(p, n, 1);
    if (std::isinf(m)) m = 0;  // all -inf stays -inf, and a +inf gives inf, rather than inf - inf
    return static_cast<T>(std::log(row_sum_exp(p, n, 1, m)) + m);
  });
}

// The maximum over dims, kept, as a plain value (no derivatives: the rules use it as a shift that
// cancels).
Tensor max_kept(const Tensor& x, const Dims& dims) {
  return reduce_runs(x, dims, true, []<class T>(const T* p, int64_t n) { return row_max(p, n, 1); });
}

// The dims a rule reduces along: {dim} moved past nb batch dims, none for a 0-D input (whose one
// element is its own row; sum_over leaves it as it is).
std::vector<int64_t> along(int64_t dim, int64_t rank, int64_t nb) {
  if (rank == 0) return {};
  return {dim + nb};
}

// sum(s * a) along the row's dims, kept: the s-weighted mean of a.
Tensor weighted_mean(const Tensor& s, const Tensor& a, const std::vector<int64_t>& dims) {
  return sum_over(s * a, dims, true);
}

// logsumexp's Taylor terms 1..K (term 0 left undefined) from the input's terms x and s_0 = exp(x_0 -
// shift), for any shift constant in t (the rules pass a normalised s_0): s(t) = exp(x(t) - shift) by
// exp's recurrence, its sum along the dims (primal_dims for s_0, coefficient_dims for the others) is
// linear, and lse = log(sum) + shift by log's.
TensorList lse_terms(const TensorList& x, const Tensor& s0, const std::vector<int64_t>& primal_dims,
                     const std::vector<int64_t>& coefficient_dims, bool keepdim) {
  const TensorList s = taylor::exp_terms(s0, x);
  TensorList total{sum_over(s0, primal_dims, keepdim)};
  for (size_t k = 1; k < s.size(); ++k)
    total.push_back(s[k].defined() ? sum_over(s[k], coefficient_dims, keepdim) : Tensor());
  return taylor::log_terms(Tensor(), total);
}

struct SoftmaxRecord : Named<"softmax", "SoftmaxBackward0"> {
  struct Attrs {
    int64_t dim;  // non-negative (0 for a 0-D input)
  };
  static Tensor replay(const TensorList& in, const Attrs& a) { return softmax(in[0], a.dim); }
  static constexpr Saves saves{.output = true};
  // softmax's Jacobian, diag(y) - y y^T along the dim, is symmetric: one product serves both modes.
  static Tensor jacobian_times(const Tensor& y, const Tensor& v, int64_t dim, int64_t nb) {
    return y * (v - weighted_mean(y, v, along(dim, y.dim(), nb)));
  }
  static void vjp(const Backward<SoftmaxRecord>& b, const Tensor& g, Tensor* grads) {
    grads[0] = jacobian_times(b.output(), g, b.attrs().dim, b.batch_dims(g));
  }
  static Tensor jvp(const Primal<SoftmaxRecord>& p, const TensorList& t) {
    return jacobian_times(p.output(), t[0], p.attrs().dim, p.batch_dims());
  }
  static Tensor curvature(const Primal<SoftmaxRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const Tensor& y = p.output();
    const Tensor u = g[0] - weighted_mean(y, g[0], along(p.attrs().dim, y.dim(), 1));
    const Tensor u2 = (u * u).sum({0});
    return y * (u2 - weighted_mean(y, u2, along(p.attrs().dim, y.dim(), 0)));
  }
  // softmax = exp(log_softmax), log_softmax's terms being x_k - lse_k: exp's recurrence from y.
  static Tensor taylor(const Primal<SoftmaxRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Tensor& y = p.output();
    const int64_t dim = p.attrs().dim, nb = forward::batch_dims() - 1;  // a coefficient's batch dims
    const TensorList xs = taylor::terms(p.input(0), x[0]);
    const TensorList lse = lse_terms(xs, y, along(dim, y.dim(), 0), along(dim, y.dim(), nb), true);
    TensorList log_y(xs.size());
    for (size_t k = 1; k < xs.size(); ++k) log_y[k] = taylor::plus(xs[k], lse[k].defined() ? -lse[k] : Tensor());
    return taylor::stacked_terms(taylor::exp_terms(y, log_y));
  }
};

struct LogSoftmaxRecord : Named<"log_softmax", "LogSoftmaxBackward0"> {
  struct Attrs {
    int64_t dim;  // non-negative (0 for a 0-D input)
  };
  static Tensor replay(const TensorList& in, const Attrs& a) { return log_softmax(in[0], a.dim); }
  static constexpr Saves saves{.output = true};
  static void vjp(const Backward<LogSoftmaxRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor y = b.output();
    grads[0] = g - exp(y) * sum_over(g, along(b.attrs().dim, y.dim(), b.batch_dims(g)), true);
  }
  static Tensor jvp(const Primal<LogSoftmaxRecord>& p, const TensorList& t) {
    const Tensor& y = p.output();
    return t[0] - weighted_mean(exp(y), t[0], along(p.attrs().dim, y.dim(), p.batch_dims()));
  }
  static Tensor curvature(const Primal<LogSoftmaxRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const Tensor s = exp(p.output());
    const Tensor u = g[0] - weighted_mean(s, g[0], along(p.attrs().dim, s.dim(), 1));
    return -weighted_mean(s, (u * u).sum({0}), along(p.attrs().dim, s.dim(), 0));
  }
  // x - lse(x): the input's terms less logsumexp's.
  static Tensor taylor(const Primal<LogSoftmaxRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Tensor& y = p.output();
    const int64_t dim = p.attrs().dim, nb = forward::batch_dims() - 1;  // a coefficient's batch dims
    const TensorList xs = taylor::terms(p.input(0), x[0]);
    const TensorList lse = lse_terms(xs, exp(y), along(dim, y.dim(), 0), along(dim, y.dim(), nb), true);
    TensorList out(xs.size());
    for (size_t k = 1; k < xs.size(); ++k) out[k] = taylor::plus(xs[k], lse[k].defined() ? -lse[k] : Tensor());
    return taylor::stacked_terms(out);
  }
};

// g (after nb batch dims) with the reduced dims re-inserted as size 1, when they were not kept.
Tensor unsqueeze_reduced(Tensor g, const Dims& dims, bool keepdim, int64_t nb) {
  if (keepdim) return g;
  for (int64_t d : dims) g = g.unsqueeze(d + nb);
  return g;
}

std::vector<int64_t> shifted(const Dims& dims, int64_t nb) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(d + nb);
  return out;
}

struct LogsumexpRecord : Named<"logsumexp", "LogsumexpBackward0"> {
  struct Attrs {
    Dims dims;  // non-negative, ascending; none for a 0-D input
    bool keepdim;
  };
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  // softmax of the input over the reduced dims, in the input's shape. The VJP takes it as
  // exp(x - out), as PyTorch does; the forward rules shift by the maximum instead (as PyTorch's
  // logsumexp_jvp), which keeps its relative accuracy where out is large (x - out loses |out| ulps).
  static Tensor weights(const Primal<LogsumexpRecord>& p) {
    const Tensor e = exp(p.input(0) - max_kept(p.input(0), p.attrs().dims));
    return e / sum_over(e, shifted(p.attrs().dims, 0), true);
  }
  static void vjp(const Backward<LogsumexpRecord>& b, const Tensor& g, Tensor* grads) {
    const Tensor out = unsqueeze_reduced(b.output(), b.attrs().dims, b.attrs().keepdim, 0);
    grads[0] = unsqueeze_reduced(g, b.attrs().dims, b.attrs().keepdim, b.batch_dims(g)) * exp(b.input(0) - out);
  }
  static Tensor jvp(const Primal<LogsumexpRecord>& p, const TensorList& t) {
    return sum_over(weights(p) * t[0], shifted(p.attrs().dims, p.batch_dims()), p.attrs().keepdim);
  }
  static Tensor curvature(const Primal<LogsumexpRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const Tensor s = weights(p);
    const Tensor u = g[0] - weighted_mean(s, g[0], shifted(p.attrs().dims, 1));
    return sum_over(s * (u * u).sum({0}), shifted(p.attrs().dims, 0), p.attrs().keepdim);
  }
  static Tensor taylor(const Primal<LogsumexpRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Dims& dims = p.attrs().dims;
    return taylor::stacked_terms(lse_terms(taylor::terms(p.input(0), x[0]), weights(p), shifted(dims, 0),
                                           shifted(dims, forward::batch_dims() - 1), p.attrs().keepdim));
  }
};

void check_floating(const Tensor& x, const char* op) {
  DYDX_CHECK(x.is_floating_point(), op, ": expected a floating point input, got ", x.dtype(), " (shape ", x.sizes(),
             ")");
}

template <class Record>
Tensor normalise(const Tensor& x, int64_t dim, bool log, const char* op) {
  check_floating(x, op);
  dim = detail::wrap_dim(dim, x.dim(), op);
  if (x.dim() == 0) dim = 0;
  if (vmap::takes_rule(x)) [[unlikely]] {
    // Along the sample's dim in the batch; a 0-d sample normalises alone, as a sample of shape [1].
    const auto* b = vmap::batched(x);
    auto op = [log](const Tensor& v, int64_t d) { return log ? log_softmax(v, d) : softmax(v, d); };
    if (x.dim() == 0) return vmap::wrap(op(b->value.unsqueeze(1), 1).squeeze(1), 0, b->level);
    return vmap::elementwise(x, [&](const Tensor& v) { return op(v, vmap::physical_dim(dim, b->bdim)); });
  }
  Tensor out = normalise_along(x, dim, log);
  finish<Record>({&x}, out, {dim});
  return out;
}

}  // namespace
}  // namespace ops

Tensor softmax(const Tensor& x, int64_t dim) { return ops::normalise<ops::SoftmaxRecord>(x, dim, false, "softmax"); }

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return ops::normalise<ops::LogSoftmaxRecord>(x, dim, true, "log_softmax");
}

Tensor logsumexp(const Tensor& input, IntArrayRef dims, bool keepdim) {
  // Integers compute in the default float dtype, as in PyTorch.
  const Tensor x = ops::to_floating(input);
  Dims wrapped;
  for (int64_t d : dims) {
    const int64_t w = detail::wrap_dim(d, x.dim(), "logsumexp");
    if (x.dim() == 0) continue;
    DYDX_CHECK(std::find(wrapped.begin(), wrapped.end(), w) == wrapped.end(), "logsumexp: dim ", w,
               " appears multiple times in the list of dims (shape ", x.sizes(), ")");
    wrapped.push_back(w);
  }
  if (dims.empty())  // every dim, as sum's empty list means
    for (int64_t d = 0; d < x.dim(); ++d) wrapped.push_back(d);
  std::sort(wrapped.begin(), wrapped.end());
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, wrapped, keepdim);
    return vmap::wrap(logsumexp(r.value, r.dims, r.keepdim), r.bdim, r.level);
  }
  Tensor out = ops::logsumexp_values(x, wrapped, keepdim);
  ops::finish<ops::LogsumexpRecord>({&x}, out, {wrapped, keepdim});
  return out;
}

}  // namespace dydx
