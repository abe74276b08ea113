// softmax, log_softmax and logsumexp: normalising exponentials along dims, with their rules; and
// cross_entropy of logits [N, C] with class indices as one op (CrossEntropyRecord, below).
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
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/extreme_kernels.hpp"
#include "cpu/lane_sums.hpp"
#include "cpu/parallel.hpp"
#include "cpu/vec_math.hpp"
#include "ops/cross_entropy_rows.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/reduce_runs.hpp"
#include "ops/taylor.hpp"
#include "vmap/batched.hpp"
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

// Row kernels, vectorised across a row (inner == 1) or across the inner dim (rows inner apart): the
// exponentials are vec_math's in double lanes (SIMD; libm's std::exp kept each loop scalar, 5x slower
// than PyTorch's softmax); a row's sum and maximum go through vectors of partial results
// (cpu::sum_in_lanes, cpu::extreme_in_vectors), as GCC does not vectorise a floating-point reduction
// itself. Sums accumulate in double.

// v if it is larger than m or nan, else m: a running maximum that keeps the first nan it meets.
// (A bit-mask select: with || or a ternary GCC branches, and the loops stay scalar.)
template <class T>
[[gnu::always_inline]] inline T larger_or_nan(T v, T m) {
  return cpu::vec::detail::select((v > m) | (v != v), v, m);
}

// The largest of n contiguous values, nan if any is: machine vectors of running maxima (max's own
// kernel), then the tail.
template <class T>
T row_max(const T* p, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  bool any_nan = false;
  for (int64_t k = cpu::extreme_in_vectors<true>(p, n, m, any_nan); k < n; ++k) m = larger_or_nan(p[k], m);
  return any_nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

// e^d in double for a difference d = x - shift <= 0 (or nan) taken in T: for double, vec::exp; for
// float, the float exponential's double core (within about 2^-48, shorter than double's), d clamped
// to -708 where 2^k stays a normal double (e^-708 rounds to a float 0 however it is divided and adds
// nothing to a sum of at least 1). The clamp is a float select, before the widening: on a float
// comparison, a select in double lanes costs GCC a dozen instructions to widen its mask.
template <class T>
[[gnu::always_inline]] inline double exp_of_difference(T d) {
  if constexpr (std::is_same_v<T, float>) {
    return cpu::vec::detail::exp_float(cpu::vec::detail::select(d < -708.0f, -708.0f, d));
  } else {
    return cpu::vec::exp(d);
  }
}

// e[k] = exp(p[k] - shift) in double (the difference taken in T, as PyTorch's), for shift the row's
// maximum, and their sum.
template <class T>
double exp_shifted(const T* p, int64_t n, T shift, double* e) {
  for (int64_t k = 0; k < n; ++k) e[k] = exp_of_difference<T>(p[k] - shift);
  return cpu::sum_in_lanes<cpu::LaneTerm::Value>(e, n);
}

// sum_k exp(p[k] - shift) in double without keeping the exponentials: blocks of kBlockExp through
// exp_shifted, on the stack (no allocation, whatever n).
constexpr int64_t kBlockExp = 256;
template <class T>
double sum_exp_shifted(const T* p, int64_t n, T shift) {
  double e[kBlockExp];
  double total = 0;
  for (int64_t k = 0; k < n; k += kBlockExp) total += exp_shifted(p + k, std::min(kBlockExp, n - k), shift, e);
  return total;
}

// Rows are taken in groups of up to kGroup rows and kGroupValues values (or one longer row): a loop
// per row of 64 values is 8 steps of exponentials, which spend as long setting up their constants and
// filling the pipeline as computing, so a group's differences go through one loop.
constexpr int64_t kGroup = 8;
constexpr int64_t kGroupValues = 512;
int64_t rows_per_group(int64_t n) {
  return n <= kGroupValues ? std::min(kGroup, kGroupValues / std::max<int64_t>(n, 1)) : 1;
}

// For a group of `count` contiguous rows of n: each row's maximum m[j] and total[j] = sum_k exp(p[j n
// + k] - m[j]), the exponentials kept in e (count * n doubles) when it is given. The same values and
// the same sums, in any grouping.
template <class T>
void shifted_exp_sums(const T* p, int64_t n, int64_t count, T* m, double* total, double* e) {
  for (int64_t j = 0; j < count; ++j) m[j] = row_max(p + j * n, n);
  if (count * n > kGroupValues) {  // one long row
    total[0] = e ? exp_shifted(p, n, m[0], e) : sum_exp_shifted(p, n, m[0]);
    return;
  }
  double kept[kGroupValues];
  if (!e) e = kept;
  T d[kGroupValues];
  for (int64_t j = 0; j < count; ++j)
    for (int64_t k = 0; k < n; ++k) d[j * n + k] = p[j * n + k] - m[j];
  for (int64_t i = 0; i < count * n; ++i) e[i] = exp_of_difference<T>(d[i]);
  for (int64_t j = 0; j < count; ++j) total[j] = cpu::sum_in_lanes<cpu::LaneTerm::Value>(e + j * n, n);
}

// softmax's values q = e / total of `count` contiguous rows of n from their exponentials e and sums
// total: for float the product by 1 / total (within 2^-52 of e / total before the float rounding: the
// same float but where it lies that close to a midpoint; a product instead of a division per
// element), for double the quotient. cross_entropy's kept probabilities are these too.
template <class T>
void quotients(const double* e, const double* total, int64_t n, int64_t count, T* q) {
  for (int64_t j = 0; j < count; ++j) {
    if constexpr (std::is_same_v<T, float>) {
      const double reciprocal = 1.0 / total[j];
      for (int64_t k = 0; k < n; ++k) q[j * n + k] = static_cast<T>(e[j * n + k] * reciprocal);
    } else {
      for (int64_t k = 0; k < n; ++k) q[j * n + k] = static_cast<T>(e[j * n + k] / total[j]);
    }
  }
}

// softmax or log_softmax of a group of `count` contiguous rows of n. e holds count * n doubles, the
// exponentials kept for softmax's quotients, or is null: then they are computed again. The rows'
// logarithms (or reciprocals) are taken together, in vector lanes.
template <class T>
void normalise_rows(const T* p, T* q, int64_t n, int64_t count, bool log, double* e) {
  T m[kGroup];
  double total[kGroup];
  for (int64_t j = 0; j < kGroup; ++j) total[j] = 1;
  shifted_exp_sums(p, n, count, m, total, e);
  if (!e && !log) {
    for (int64_t j = 0; j < count; ++j)
      for (int64_t k = 0; k < n; ++k)
        q[j * n + k] = static_cast<T>(exp_of_difference<T>(p[j * n + k] - m[j]) / total[j]);
    return;
  }
  if (log) {
    for (int64_t j = 0; j < kGroup; ++j) total[j] = cpu::vec::log(total[j]);
    for (int64_t j = 0; j < count; ++j)
      for (int64_t k = 0; k < n; ++k) q[j * n + k] = static_cast<T>((p[j * n + k] - m[j]) - total[j]);
  } else {
    quotients(e, total, n, count, q);
  }
}

// The same for `width` rows side by side, inner apart (x [n, inner] seen from column c), each step
// across the columns; m and total hold width values each.
template <class T>
void normalise_columns(const T* p, T* q, int64_t n, int64_t inner, int64_t width, bool log, T* m, double* total) {
  for (int64_t j = 0; j < width; ++j) m[j] = -std::numeric_limits<T>::infinity(), total[j] = 0;
  for (int64_t k = 0; k < n; ++k) {
    const T* row = p + k * inner;
    for (int64_t j = 0; j < width; ++j) m[j] = larger_or_nan(row[j], m[j]);
  }
  for (int64_t k = 0; k < n; ++k) {
    const T* row = p + k * inner;
    for (int64_t j = 0; j < width; ++j) total[j] += exp_of_difference<T>(row[j] - m[j]);
  }
  if (log) {
    for (int64_t j = 0; j < width; ++j) total[j] = std::log(total[j]);
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < width; ++j) q[k * inner + j] = static_cast<T>((p[k * inner + j] - m[j]) - total[j]);
  } else {
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < width; ++j)
        q[k * inner + j] = static_cast<T>(exp_of_difference<T>(p[k * inner + j] - m[j]) / total[j]);
  }
}

// softmax (or log_softmax) of every row of a floating tensor along dim.
Tensor normalise_along(const Tensor& input, int64_t dim, bool log) {
  const Tensor x = input.contiguous();
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  const Rows r = rows_along(x, dim);
  if (x.numel() == 0) return out;
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_ptr<T>();
    T* py = out.data_ptr<T>();
    if (r.inner == 1) {
      // Rows of up to kGroupValues go in groups whose exponentials (4 KiB) are kept in L1 for the
      // quotients. Longer ones go alone: log_softmax keeps none, softmax keeps a row's in a buffer of
      // dydx's allocator (seen by memory_stats(), given back to its cache), or computes them again
      // where that buffer cannot be had.
      const bool short_rows = r.n <= kGroupValues;
      const int64_t group = rows_per_group(r.n);
      cpu::parallel_for(r.outer, std::max<int64_t>(1, 4096 / r.n), [&](int64_t begin, int64_t end) {
        std::vector<double> kept(short_rows ? static_cast<size_t>(group * r.n) : 0);
        Tensor long_row;
        if (!short_rows && !log) {
          try {
            long_row = detail::make_empty({r.n}, kFloat64);
          } catch (const std::exception&) {  // out of memory: compute the exponentials again
          }
        }
        double* e = short_rows ? kept.data() : long_row.defined() ? long_row.data_ptr<double>() : nullptr;
        for (int64_t row = begin; row < end; row += group)
          normalise_rows(px + row * r.n, py + row * r.n, r.n, std::min(group, end - row), log, e);
      });
      return;
    }
    // Rows inner apart: blocks of up to kBlock columns of one outer slice at a time.
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (r.inner + kBlock - 1) / kBlock;
    const int64_t grain = std::max<int64_t>(1, 16 / std::max<int64_t>(r.n / 256, 1));
    cpu::parallel_for(r.outer * blocks, grain, [&](int64_t begin, int64_t end) {
      T m[kBlock];
      double total[kBlock];
      for (int64_t b = begin; b < end; ++b) {
        const int64_t o = b / blocks, c = (b % blocks) * kBlock;
        const int64_t offset = o * r.n * r.inner + c;
        normalise_columns(px + offset, py + offset, r.n, r.inner, std::min(kBlock, r.inner - c), log, m, total);
      }
    });
  });
  return out;
}

Tensor logsumexp_values(const Tensor& x, const Dims& dims, bool keepdim) {
  return reduce_run_groups<kGroup>(x, dims, keepdim, []<class T>(const T* p, int64_t n, int64_t count, T* out) {
    const int64_t group = rows_per_group(n);
    for (int64_t first = 0; first < count; first += group) {
      const int64_t rows = std::min(group, count - first);
      T m[kGroup];
      double total[kGroup];
      shifted_exp_sums(p + first * n, n, rows, m, total, nullptr);
      // A row of -infs gives -inf, and one holding +inf gives inf (rather than inf - inf); a nan, nan.
      for (int64_t j = 0; j < rows; ++j)
        out[first + j] = std::isinf(m[j]) ? m[j] : static_cast<T>(std::log(total[j]) + m[j]);
    }
  });
}

// The maximum over dims, kept, as a plain value (no derivatives: the rules use it as a shift that
// cancels).
Tensor max_kept(const Tensor& x, const Dims& dims) {
  return reduce_runs(x, dims, true, []<class T>(const T* p, int64_t n) { return row_max(p, n); });
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

// The backward of softmax (dx = y (g - sum(y g))) or log_softmax (dx = g - e^y sum(g)) along the last
// dim, one row at a time while it is in cache: a row's sum in double lanes, then the row. The
// composed rules make four passes over the whole tensor with a temporary each. Undefined (the
// composed rule runs) where the gradient itself needs derivatives, under vmap, with batch dims in
// front of g, or along another dim.
Tensor fused_row_vjp(const Tensor& y, const Tensor& g, int64_t dim, int64_t batch_dims, bool log) {
  if (batch_dims != 0 || y.dim() == 0 || dim != y.dim() - 1 || !y.is_contiguous() || g.sizes() != y.sizes() ||
      g.dtype() != y.dtype() || forward::carries_derivatives(g) || forward::carries_derivatives(y) ||
      vmap::takes_rule({&g, &y}))
    return {};
  const Tensor gc = g.contiguous();
  Tensor dx = detail::make_empty(y.sizes(), y.dtype());
  const int64_t n = y.size(-1), rows = n == 0 ? 0 : y.numel() / n;
  cpu::dispatch_floating(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* py = y.data_ptr<T>();
    const T* pg = gc.data_ptr<T>();
    T* pd = dx.data_ptr<T>();
    cpu::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
      constexpr int64_t kBlock = 256;
      T products[kBlock];
      for (int64_t row = begin; row < end; ++row) {
        const T* yr = py + row * n;
        const T* gr = pg + row * n;
        T* out = pd + row * n;
        if (log) {
          const T total = static_cast<T>(cpu::sum_in_lanes<cpu::LaneTerm::Value>(gr, n));
          for (int64_t k = 0; k < n; ++k) out[k] = gr[k] - cpu::vec::exp(yr[k]) * total;
        } else {
          // sum(y g) of the products in T, as the composed rule's (y * g).sum(), in blocks on the stack.
          double sum = 0;
          for (int64_t k = 0; k < n; k += kBlock) {
            const int64_t m = std::min(kBlock, n - k);
            for (int64_t j = 0; j < m; ++j) products[j] = yr[k + j] * gr[k + j];
            sum += cpu::sum_in_lanes<cpu::LaneTerm::Value>(products, m);
          }
          const T total = static_cast<T>(sum);
          for (int64_t k = 0; k < n; ++k) out[k] = yr[k] * (gr[k] - total);
        }
      }
    });
  });
  return dx;
}

// The gradient of softmax (log = false) or log_softmax in y along dim: fused_row_vjp where it
// applies (noted for func::compile, whose replay takes this again), the composed rule elsewhere.
Tensor row_vjp(const Tensor& y, const Tensor& g, int64_t dim, int64_t batch_dims, bool log) {
  Tensor dx = fused_row_vjp(y, g, dim, batch_dims, log);
  if (dx.defined()) {
    compile::detail::note_kernel(log ? "log_softmax_backward" : "softmax_backward", {&y, &g}, dx,
                                 [dim, log](const TensorList& in) { return row_vjp(in[0], in[1], dim, 0, log); });
    return dx;
  }
  const std::vector<int64_t> dims = along(dim, y.dim(), batch_dims);
  if (log) return g - exp(y) * sum_over(g, dims, true);
  return y * (g - weighted_mean(y, g, dims));
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
    grads[0] = row_vjp(b.output(), g, b.attrs().dim, b.batch_dims(g), /*log=*/false);
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
    grads[0] = row_vjp(b.output(), g, b.attrs().dim, b.batch_dims(g), /*log=*/true);
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

struct LogsumexpRecord : Named<"logsumexp", "LogsumexpBackward0"> {
  struct Attrs {
    Dims dims;  // non-negative, ascending; none for a 0-D input
    bool keepdim;
  };
  static Tensor replay(const TensorList& in, const Attrs& a) { return logsumexp(in[0], a.dims, a.keepdim); }
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

// ---- cross_entropy with class indices: log_softmax and each row's pick of its class, one op.
//
// For logits x [N, C], target t and weights w (w[n] = weight[t[n]], 1 without a weight, 0 where t[n]
// is ignored), the row losses are l[n] = -w[n] y[n], y[n] = log_softmax(x)[n, t[n]] (0 where ignored).
// Where a backward will follow, the forward also gives p = softmax(x) as the output of a softmax node of
// x, and the loss's node saves p, not x (as PyTorch's saves log_softmax's output): the backward,
// dl/dx[n, c] = g[n] w[n] (p[n, c] - [c = t[n]]), is then one pass with no exponential (composed, the
// backward took them again from log_softmax's output, and wrote a scatter into zeros between), its
// composed form under create_graph differentiates through p's node, and x may be written in place after
// the forward.

// 1 where the row's target is c, in like's dtype ([N, C]); an ignored target's row is 0.
Tensor class_mask(const Tensor& target, const Tensor& like) {
  return eq(arange(like.size(-1), kInt64), target.unsqueeze(1)).to(like.dtype());
}

Tensor is_kept(const Tensor& target, int64_t ignore_index) { return ne(target, ignore_index); }

// l[n] = -y[n] w[n] where kept, else 0 (PyTorch's +0), as the composed nll_loss's where(kept, -picked *
// weights, 0).
template <class T>
void row_losses(const int64_t* t, const T* y, const T* w, int64_t n, int64_t ignore_index, T* l) {
  for (int64_t i = 0; i < n; ++i) l[i] = t[i] != ignore_index ? -y[i] * w[i] : T(0);
}

Tensor row_losses(const Tensor& target, const Tensor& picked, const Tensor& weights, int64_t ignore_index) {
  const Tensor t = target.contiguous();
  Tensor out = detail::make_empty(picked.sizes(), picked.dtype());
  cpu::dispatch_floating(picked.dtype(), [&](auto tag) {
    using T = decltype(tag);
    row_losses(t.data_ptr<int64_t>(), picked.data_ptr<T>(), weights.data_ptr<T>(), picked.numel(), ignore_index,
               out.data_ptr<T>());
  });
  return out;
}

// The forward's values in one buffer of x's dtype: softmax(x) (N * C, where kept), then each row's
// log-probability at its class (N), then each row's weight (N). Each value is the one softmax and
// log_softmax give: the same maxima, sums and roundings.
Tensor cross_entropy_values(const Tensor& x, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                            bool keep_probabilities) {
  const int64_t rows = x.size(0), n = x.size(1);
  const int64_t kept_values = keep_probabilities ? rows * n : 0;
  Tensor buffer = detail::make_empty({kept_values + 2 * rows}, x.dtype());
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_ptr<T>();
    const int64_t* pt = target.data_ptr<int64_t>();
    const T* pw = weight.defined() ? weight.data_ptr<T>() : nullptr;
    T* probabilities = keep_probabilities ? buffer.data_ptr<T>() : nullptr;
    T* picked = buffer.data_ptr<T>() + kept_values;
    T* weights = picked + rows;
    const int64_t group = rows_per_group(n);
    cpu::parallel_for(rows, std::max<int64_t>(1, 4096 / n), [&](int64_t begin, int64_t end) {
      // A group's exponentials, for the probabilities (a long row's alone).
      std::vector<double> e(keep_probabilities ? static_cast<size_t>(group * n) : 0);
      for (int64_t first = begin; first < end; first += group) {
        const int64_t count = std::min(group, end - first);
        T m[kGroup];
        double total[kGroup];
        shifted_exp_sums(px + first * n, n, count, m, total, keep_probabilities ? e.data() : nullptr);
        for (int64_t j = 0; j < count; ++j) {
          const int64_t row = first + j, t = pt[row];
          const bool kept = t != ignore_index;
          picked[row] = kept ? static_cast<T>((px[row * n + t] - m[j]) - cpu::vec::log(total[j])) : T(0);
          weights[row] = kept ? (pw ? pw[t] : T(1)) : T(0);
          if (probabilities) quotients(e.data() + j * n, total + j, n, 1, probabilities + row * n);
        }
      }
    });
  });
  return buffer;
}

// dl/dx without create_graph: g[n] w[n] (p[n, c] - [c = t[n]]) in one pass, 0 where ignored; the
// composed rule's values, bit for bit.
Tensor cross_entropy_gradient(const Tensor& g, const Tensor& probabilities, const Tensor& target,
                              const Tensor& weights, int64_t ignore_index) {
  const Tensor gc = g.contiguous(), pc = probabilities.contiguous(), tc = target.contiguous();
  Tensor dx = detail::make_empty(pc.sizes(), pc.dtype());
  const int64_t rows = dx.size(0), n = dx.size(1);
  cpu::dispatch_floating(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *pg = gc.data_ptr<T>(), *pp = pc.data_ptr<T>(), *pw = weights.data_ptr<T>();
    const int64_t* pt = tc.data_ptr<int64_t>();
    T* pd = dx.data_ptr<T>();
    cpu::parallel_for(rows, std::max<int64_t>(1, 4096 / n), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t t = pt[row];
        const bool kept = t != ignore_index;
        const T scale = kept ? pg[row] * pw[row] : T(0);
        const T* p = pp + row * n;
        T* out = pd + row * n;
        for (int64_t k = 0; k < n; ++k) out[k] = scale * p[k];
        if (kept) out[t] = scale * (p[t] - T(1));
      }
    });
  });
  compile::detail::note_kernel("cross_entropy_backward", {&g, &probabilities, &target, &weights}, dx,
                               [ignore_index](const TensorList& in) {
                                 return cross_entropy_gradient(in[0], in[1], in[2], in[3], ignore_index);
                               });
  return dx;
}

struct CrossEntropyRecord : Named<"cross_entropy", "NllLossBackward0"> {
  struct Attrs {
    int64_t ignore_index;
    bool has_weight;  // extra 4 is the class weight (read so that a change to it is caught), else a stand-in
  };
  // Extras: the target, p = softmax(x) (the output of p's softmax node; a stand-in where no backward
  // follows), the picked log-probabilities, the row weights, the class weight. Not x itself.
  static constexpr Saves saves{.extras = 5};
  static Tensor replay(const TensorList& in, const Attrs& a) { return row_losses(in[1], in[3], in[4], a.ignore_index); }
  static Tensor weighted(const Tensor& target, int64_t ignore_index, const Tensor& v, const Tensor& weights) {
    return where(is_kept(target, ignore_index), v, zeros({}, v.dtype())) * weights;
  }
  static void vjp(const Backward<CrossEntropyRecord>& b, const Tensor& g, Tensor* grads) {
    const Attrs& a = b.attrs();
    // Reading the target and the class weight checks that neither was written in place since the
    // forward (the row weights are values the forward took from them).
    const Tensor target = b.extra(0), p = b.extra(1), weights = b.extra(3);
    if (a.has_weight) (void)b.extra(4);
    const bool differentiable = is_grad_enabled() || forward::active();
    if (!differentiable && b.batch_dims(g) == 0 && g.dtype() == p.dtype() && !vmap::takes_rule({&g})) {
      grads[0] = cross_entropy_gradient(g, p, target, weights, a.ignore_index);
      return;
    }
    grads[0] = weighted(target, a.ignore_index, g, weights).unsqueeze(-1) * (p - class_mask(target, p));
  }
  // dy[n] = sum_c ([c = t[n]] - softmax(x)[n, c]) t[n, c].
  static Tensor jvp(const Primal<CrossEntropyRecord>& p, const TensorList& t) {
    const Tensor& x = p.input(0);
    const Tensor change = ((class_mask(p.extra(0), x) - softmax(x, 1)) * t[0]).sum({-1});
    return -weighted(p.extra(0), p.attrs().ignore_index, change, p.extra(3));
  }
  // log_softmax's D2 y[u, u] = -<u^2> (the file's first comment), so D2 l[u, u] = w <u^2>.
  static Tensor curvature(const Primal<CrossEntropyRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const Tensor s = softmax(p.input(0), 1);
    const Tensor u = g[0] - weighted_mean(s, g[0], {2});
    return weighted(p.extra(0), p.attrs().ignore_index, (s * (u * u).sum({0})).sum({1}), p.extra(3));
  }
  // y = x[t] - lse(x): the picked input terms less logsumexp's.
  static Tensor taylor(const Primal<CrossEntropyRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Tensor& x0 = p.input(0);
    const int64_t nb = forward::batch_dims() - 1;  // a coefficient's batch dims
    const TensorList xs = taylor::terms(x0, x[0]);
    const TensorList lse = lse_terms(xs, softmax(x0, 1), {1}, {1 + nb}, false);
    const Tensor mask = class_mask(p.extra(0), x0);
    TensorList out(xs.size());
    for (size_t k = 1; k < xs.size(); ++k) {
      const Tensor y = taylor::plus(xs[k].defined() ? (xs[k] * mask).sum({-1}) : Tensor(),
                                    lse[k].defined() ? -lse[k] : Tensor());
      if (y.defined()) out[k] = -weighted(p.extra(0), p.attrs().ignore_index, y, p.extra(3));
    }
    return taylor::stacked_terms(out);
  }
};

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

CrossEntropyRows cross_entropy_rows(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                    int64_t ignore_index) {
  const Tensor x = logits.contiguous(), t = target.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous() : weight;
  const int64_t classes = x.size(1);
  // softmax(x) only where a backward will follow: the one [N, C] tensor the loss's node keeps.
  const bool keep = is_grad_enabled() && logits.requires_grad();
  const Tensor values = cross_entropy_values(x, t, w, ignore_index, keep);
  compile::detail::note_kernel("cross_entropy_values", {&x, &t, &w}, values, [ignore_index, keep](const TensorList& in) {
    return cross_entropy_values(in[0], in[1], in[2], ignore_index, keep);
  });
  const int64_t rows = x.size(0), kept_values = keep ? rows * classes : 0;
  const Tensor picked = values.narrow(0, kept_values, rows), weights = values.narrow(0, kept_values + rows, rows);
  const Tensor probabilities = keep ? values.narrow(0, 0, kept_values).view({rows, classes}) : picked;
  // p's own node, softmax of the logits. A func::compile recording knows its values as a view of the
  // step above: no step of its own (which would compute the softmax again), but its saved value and
  // tangents are recorded as any op's.
  if (keep) finish<SoftmaxRecord>({&logits}, probabilities, {1}, {}, /*as_step=*/false);
  Tensor losses = row_losses(t, picked, weights, ignore_index);
  finish<CrossEntropyRecord>({&logits}, losses, {ignore_index, weight.defined()},
                             {&target, &probabilities, &picked, &weights, weight.defined() ? &weight : &weights});
  return {losses, weights};
}
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
    DYDX_CHECK(std::find(wrapped.begin(), wrapped.end(), w) == wrapped.end(), "logsumexp: dim ", w,
               " appears multiple times in the list of dims (shape ", x.sizes(), ")");
    wrapped.push_back(w);
  }
  if (x.dim() == 0) wrapped.clear();  // its one dim (0 or -1) checked above, reducing nothing
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
