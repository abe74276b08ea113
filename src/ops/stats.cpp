// var, std and vector norms: reductions with kernels of their own (double accumulators, one
// contiguous run per result) and rules written with differentiable ops.
//
// Rules, with n the count reduced, div = max(0, n - correction), xc = x - mean(x) over the dims:
//   var: D var[t] = 2/div sum(xc t); D2 var[t, t] = 2/div sum((t - mean t)^2).
//   std = sqrt(var): D std[t] = D var[t] / (2 std), zero where std is 0 (PyTorch 1.13 masks it so);
//     D2 std[t, t] = D2 var[t, t] / (2 std) - D var[t]^2 / (4 std^3).
//   norm_p = (sum |x|^p)^(1/p) = f: D f[t] = sum w t with w = sign(x) |x|^(p-1) / f^(p-1) (PyTorch's
//     masks: w = 0 where f = 0 for p >= 1, and where x = 0 for p < 1); p = 1: w = sign(x); p = inf or
//     -inf: sign(x) on the elements at the extreme (and the nans), split evenly among them; p = 0: 0.
//     D2 f[t, t] = (p - 1) (f^(1-p) sum |x|^(p-2) t^2 - f^(1-2p) (sum |x|^(p-2) x t)^2), zero for the
//     piecewise-linear p = 0, 1, +-inf.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/lane_sums.hpp"
#include "cpu/parallel.hpp"
#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/reduce_runs.hpp"
#include "ops/row_moments.hpp"
#include "ops/taylor.hpp"
#include "vmap/reduction.hpp"

namespace dydx {
namespace ops {
namespace {

// The reduced dims, non-negative and ascending (none for a 0-D input); empty `dims` means all.
Dims reduced_dims(const Tensor& x, IntArrayRef dims, const char* op) {
  Dims out;
  for (int64_t d : dims) {
    const int64_t w = detail::wrap_dim(d, x.dim(), op);
    DYDX_CHECK(std::find(out.begin(), out.end(), w) == out.end(), op, ": dim ", w,
               " appears multiple times in the list of dims (shape ", x.sizes(), ")");
    out.push_back(w);
  }
  if (x.dim() == 0) out.clear();  // its one dim (0 or -1) checked above, reducing nothing
  if (dims.empty())
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
  std::sort(out.begin(), out.end());
  return out;
}

int64_t count_of(const Tensor& x, const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  return n;
}

// The p-norm of a run, in double; an empty run's norm is 0 for every p, as PyTorch 1.13 gives.
template <class T>
double run_norm(const T* v, int64_t n, double p) {
  if (n == 0) return 0;
  if (std::isinf(p)) {
    double best = std::abs(static_cast<double>(v[0]));
    for (int64_t i = 0; i < n; ++i) {
      const double a = std::abs(static_cast<double>(v[i]));
      if (a != a) return a;
      if (p > 0 ? a > best : a < best) best = a;
    }
    return best;
  }
  if (p == 0) {
    double nonzero = 0;
    for (int64_t i = 0; i < n; ++i) nonzero += v[i] != T(0);
    return nonzero;
  }
  if (p == 1) return cpu::sum_in_lanes<cpu::LaneTerm::Magnitude>(v, n);
  if (p == 2) {
    const double total = cpu::sum_in_lanes<cpu::LaneTerm::Square>(v, n);
    if (std::isfinite(total) && total > 0x1p-900) return std::sqrt(total);
    // The squares overflowed or underflowed double (float64 data beyond 1e154 or below 1e-154):
    // again, scaled by the largest magnitude.
    double scale = 0;
    for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(static_cast<double>(v[i])));
    if (!(scale > 0) || std::isinf(scale)) return std::sqrt(total);
    double scaled = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double s = v[i] / scale;
      scaled += s * s;
    }
    return scale * std::sqrt(scaled);
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += std::pow(std::abs(static_cast<double>(v[i])), p);
  return std::pow(total, 1 / p);
}

// Whether x is contiguous and reduces exactly its leading dims, some but not all (a batch's
// statistics per feature): then each result is a column, read in place rather than transposed.
bool reduces_leading_dims(const Tensor& x, const Dims& dims) {
  if (x.dim() < 2 || dims.empty() || static_cast<int64_t>(dims.size()) == x.dim() || !x.is_contiguous()) return false;
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != static_cast<int64_t>(i)) return false;
  return x.numel() > 0;
}

// finish(m2) of every column of x seen as [rows, cols] (rows = the leading reduced dims), by the
// corrected two-pass algorithm with a double accumulator per column; the inner loops run along a row.
template <class F>
Tensor reduce_columns(const Tensor& x, const Dims& dims, bool keepdim, F finish_value) {
  Dims out_shape;
  int64_t rows = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < static_cast<int64_t>(dims.size())) {
      rows *= x.size(d);
      if (keepdim) out_shape.push_back(1);
    } else {
      out_shape.push_back(x.size(d));
    }
  }
  const int64_t cols = x.numel() / rows;
  Tensor out = detail::make_empty(out_shape, x.dtype());
  cpu::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_ptr<T>();
    T* py = out.data_ptr<T>();
    cpu::parallel_for(cols, 256, [&](int64_t begin, int64_t end) {
      const int64_t width = end - begin;
      std::vector<double> mean(width, 0.0), m2(width, 0.0), drift(width, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = px + r * cols + begin;
        for (int64_t c = 0; c < width; ++c) mean[c] += row[c];
      }
      for (int64_t c = 0; c < width; ++c) mean[c] /= static_cast<double>(rows);
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = px + r * cols + begin;
        for (int64_t c = 0; c < width; ++c) {
          const double dev = row[c] - mean[c];
          m2[c] += dev * dev;
          drift[c] += dev;
        }
      }
      for (int64_t c = 0; c < width; ++c)
        py[begin + c] = static_cast<T>(finish_value(corrected_squares(m2[c], drift[c], rows)));
    });
  });
  return out;
}

// A 0/1 mask of the zeros of t.
Tensor zeros_of(const Tensor& t) { return eq(t, 0); }

struct MomentAttrs {
  Dims dims;       // reduced, non-negative, ascending
  bool keepdim;
  double divisor;  // max(0, n - correction)
};

// x minus its mean over the reduced dims (kept), differentiable.
Tensor centered(const Tensor& x, const Dims& dims) {
  return x - mean_over(x, shifted(dims, 0), true);
}

// var's tangent along t (which has nb batch dims), in the output's shape.
Tensor var_jvp(const Tensor& x, const Tensor& t, const MomentAttrs& a, int64_t nb) {
  return sum_over(centered(x, a.dims) * t, shifted(a.dims, nb), a.keepdim) * (2 / a.divisor);
}

// sum_k D2 var[g_k, g_k] for directions g (the batch dim in front).
Tensor var_curvature(const Tensor& g, const MomentAttrs& a) {
  const Tensor u = g - mean_over(g, shifted(a.dims, 1), true);
  return sum_over((u * u).sum({0}), shifted(a.dims, 0), a.keepdim) * (2 / a.divisor);
}

// var's Taylor terms 1..K (term 0 left undefined): c = x - mean is linear in x, and var = sum(c^2) /
// divisor a Cauchy product of c with itself, summed.
TensorList var_terms(const Tensor& x0, const Tensor& stack, const MomentAttrs& a) {
  const std::vector<int64_t> dims = shifted(a.dims, forward::batch_dims() - 1);  // a coefficient's
  TensorList c{centered(x0, a.dims)};
  for (int64_t k = 1; k <= forward::taylor_order(); ++k) {
    const Tensor xk = taylor::coefficient(stack, k);
    c.push_back(xk - mean_over(xk, dims, true));
  }
  TensorList squares = taylor::product_terms(c, c, [](const Tensor& l, const Tensor& r) { return l * r; });
  squares[0] = Tensor();
  for (size_t k = 1; k < squares.size(); ++k) squares[k] = sum_over(squares[k], dims, a.keepdim) * (1 / a.divisor);
  return squares;
}

// The correction that gives a.divisor for x (divisor = max(0, n - correction)): a func::compile replay
// calls var or std with it.
std::optional<int64_t> correction_of(const Tensor& x, const MomentAttrs& a) {
  const int64_t n = count_of(x, a.dims);
  return a.divisor > 0 ? n - static_cast<int64_t>(a.divisor) : n;
}

struct VarRecord : Named<"var", "VarBackward0"> {
  using Attrs = MomentAttrs;
  static constexpr Saves saves{.inputs = input_bits(0)};
  static Tensor replay(const TensorList& in, const Attrs& a) { return var(in[0], a.dims, correction_of(in[0], a), a.keepdim); }
  static void vjp(const Backward<VarRecord>& b, const Tensor& g, Tensor* grads) {
    const MomentAttrs& a = b.attrs();
    grads[0] = unsqueeze_reduced(g, a.dims, a.keepdim, b.batch_dims(g)) * centered(b.input(0), a.dims) * (2 / a.divisor);
  }
  static Tensor jvp(const Primal<VarRecord>& p, const TensorList& t) {
    return var_jvp(p.input(0), t[0], p.attrs(), p.batch_dims());
  }
  static Tensor curvature(const Primal<VarRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    return var_curvature(g[0], p.attrs());
  }
  static Tensor taylor(const Primal<VarRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    return taylor::stacked_terms(var_terms(p.input(0), x[0], p.attrs()));
  }
};

// v / (2 std), zero where std is 0, as PyTorch 1.13's std_backward masks it.
Tensor over_twice_std(const Tensor& v, const Tensor& std_value) {
  return masked_fill(v / (2 * std_value), zeros_of(std_value), 0);
}

struct StdRecord : Named<"std", "StdBackward0"> {
  using Attrs = MomentAttrs;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return dydx::std(in[0], a.dims, correction_of(in[0], a), a.keepdim);
  }
  static void vjp(const Backward<StdRecord>& b, const Tensor& g, Tensor* grads) {
    const MomentAttrs& a = b.attrs();
    const Tensor out = unsqueeze_reduced(b.output(), a.dims, a.keepdim, 0);
    const Tensor gk = unsqueeze_reduced(g, a.dims, a.keepdim, b.batch_dims(g));
    grads[0] = over_twice_std(gk, out) * centered(b.input(0), a.dims) * (2 / a.divisor);
  }
  static Tensor jvp(const Primal<StdRecord>& p, const TensorList& t) {
    return over_twice_std(var_jvp(p.input(0), t[0], p.attrs(), p.batch_dims()), p.output());
  }
  static Tensor curvature(const Primal<StdRecord>& p, const TensorList& g) {
    if (!g[0].defined()) return {};
    const MomentAttrs& a = p.attrs();
    const Tensor& s = p.output();
    const Tensor dv = var_jvp(p.input(0), g[0], a, 1);
    const Tensor second = var_curvature(g[0], a) / (2 * s) - (dv * dv).sum({0}) / (4 * s * s * s);
    return masked_fill(second, zeros_of(s), 0);
  }
  // sqrt's recurrence on var's terms; zero where std is, as the JVP.
  static Tensor taylor(const Primal<StdRecord>& p, const TensorList& x) {
    if (!x[0].defined()) return {};
    const Tensor& s = p.output();
    TensorList out = taylor::sqrt_terms(s, var_terms(p.input(0), x[0], p.attrs()));
    for (size_t k = 1; k < out.size(); ++k) out[k] = masked_fill(out[k], zeros_of(s), 0);
    return taylor::stacked_terms(out);
  }
};

struct NormAttrs {
  double p;
  Dims dims;  // reduced, non-negative, ascending
  bool keepdim;
};

// d norm / dx in the input's shape (PyTorch 1.13's masks, above), or undefined where it is zero (p = 0).
Tensor norm_weight(const Tensor& x, const Tensor& kept_out, const NormAttrs& a) {
  const double p = a.p;
  if (p == 0) return {};
  if (p == 1) return sign(x);
  if (std::isinf(p)) {
    // The elements at the extreme, and the nans (where the norm is nan), share the gradient evenly.
    const Tensor ax = abs(x);
    const Tensor at_extreme = logical_or(eq(ax, kept_out), isnan(x)).to(x.dtype());
    return sign(x) * at_extreme / sum_over(at_extreme, shifted(a.dims, 0), true);
  }
  if (p == 2) return masked_fill(x / kept_out, zeros_of(kept_out), 0);
  Tensor scaled = p < 2 ? sign(x) * abs(x).pow(p - 1) : x * abs(x).pow(p - 2);
  if (p < 1) scaled = masked_fill(scaled, zeros_of(x), 0);
  Tensor scale = 1.0 / kept_out.pow(p - 1);
  if (p >= 1) scale = masked_fill(scale, zeros_of(kept_out), 0);
  return scaled * scale;
}

// The rules of both norm records (torch.norm's NormBackward1, linalg.vector_norm's own node).
struct NormRules {
  using Attrs = NormAttrs;
  static constexpr Saves saves{.inputs = input_bits(0), .output = true};
  template <class Call>
  static void vjp(const Call& b, const Tensor& g, Tensor* grads) {
    const NormAttrs& a = b.attrs();
    const int64_t nb = b.batch_dims(g);
    const Tensor w = norm_weight(b.input(0), unsqueeze_reduced(b.output(), a.dims, a.keepdim, 0), a);
    if (w.defined()) grads[0] = unsqueeze_reduced(g, a.dims, a.keepdim, nb) * w;
    else grads[0] = zeros(with_batch(g, nb, b.input_sizes(0)), g.dtype());
  }
  template <class Call>
  static Tensor jvp(const Call& p, const TensorList& t) {
    const NormAttrs& a = p.attrs();
    const Tensor w = norm_weight(p.input(0), unsqueeze_reduced(p.output(), a.dims, a.keepdim, 0), a);
    if (!w.defined()) return {};
    return sum_over(w * t[0], shifted(a.dims, p.batch_dims()), a.keepdim);
  }
  template <class Call>
  static Tensor curvature(const Call& c, const TensorList& g) {
    const NormAttrs& a = c.attrs();
    const double p = a.p;
    if (!g[0].defined() || p == 0 || p == 1 || std::isinf(p)) return {};
    const Tensor& x = c.input(0);
    const Tensor& f = c.output();
    const Tensor weight = abs(x).pow(p - 2);
    const Tensor along = sum_over(weight * x * g[0], shifted(a.dims, 1), a.keepdim);
    const Tensor across = sum_over(weight * (g[0] * g[0]).sum({0}), shifted(a.dims, 0), a.keepdim);
    return (p - 1) * (f.pow(1 - p) * across - f.pow(1 - 2 * p) * (along * along).sum({0}));
  }
  // The 0-, 1- and inf-norms are piecewise linear (or constant): their JVP carries every
  // coefficient. Otherwise (sum |x|^p)^(1/p): |x| takes x's terms times sign(x_0), and both powers
  // come by the power recurrence, around a sum that is linear.
  template <class Call>
  static Tensor taylor(const Call& c, const TensorList& x) {
    const NormAttrs& a = c.attrs();
    const double p = a.p;
    if (!x[0].defined() || p == 0) return {};
    if (p == 1 || std::isinf(p)) return jvp(c, x);
    const Tensor& x0 = c.input(0);
    const Tensor sign0 = sign(x0), abs0 = abs(x0);
    const std::vector<int64_t> dims = shifted(a.dims, forward::batch_dims() - 1);  // a coefficient's
    TensorList magnitude{abs0};
    for (int64_t k = 1; k <= forward::taylor_order(); ++k) magnitude.push_back(sign0 * taylor::coefficient(x[0], k));
    const TensorList powered = taylor::power_terms(abs0.pow(p), magnitude, p);
    TensorList total{sum_over(powered[0], shifted(a.dims, 0), a.keepdim)};
    for (size_t k = 1; k < powered.size(); ++k) total.push_back(sum_over(powered[k], dims, a.keepdim));
    return taylor::stacked_terms(taylor::power_terms(c.output(), total, 1 / p));
  }
};
struct NormRecord : NormRules, Named<"norm", "NormBackward1"> {
  static Tensor replay(const TensorList& in, const Attrs& a) { return norm(in[0], a.p, a.dims, a.keepdim); }
};
struct VectorNormRecord : NormRules, Named<"linalg_vector_norm", "LinalgVectorNormBackward0"> {
  static Tensor replay(const TensorList& in, const Attrs& a) {
    return linalg::vector_norm(in[0], a.p, a.dims, a.keepdim);
  }
};

void check_floating(const Tensor& x, const char* op, const char* what) {
  DYDX_CHECK(x.defined(), op, ": called on an undefined tensor");
  DYDX_CHECK(x.is_floating_point(), op, ": ", what, ", got ", x.dtype(), " (shape ", x.sizes(), ")");
}

template <class Record>
Tensor moment(const Tensor& x, IntArrayRef dims, std::optional<int64_t> correction, bool keepdim, const char* op) {
  check_floating(x, op, "std and var only support floating point dtypes");
  MomentAttrs a{reduced_dims(x, dims, op), keepdim, 0};
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, a.dims, keepdim);
    const Tensor out = std::is_same_v<Record, StdRecord> ? dydx::std(r.value, r.dims, correction, r.keepdim)
                                                         : dydx::var(r.value, r.dims, correction, r.keepdim);
    return vmap::wrap(out, r.bdim, r.level);
  }
  const int64_t n = count_of(x, a.dims);
  a.divisor = std::max<double>(0, static_cast<double>(n - correction.value_or(1)));
  constexpr bool is_std = std::is_same_v<Record, StdRecord>;
  const double divisor = a.divisor;
  auto finish_value = [divisor](double m2) {
    const double v = m2 / divisor;
    return is_std ? std::sqrt(v) : v;
  };
  Tensor out = reduces_leading_dims(x, a.dims)
                   ? reduce_columns(x, a.dims, keepdim, finish_value)
                   : reduce_runs(x, a.dims, keepdim, [&]<class T>(const T* p, int64_t len) {
                       return finish_value(row_moments(p, len).m2);
                     });
  finish<Record>({&x}, out, a);
  return out;
}

template <class Record>
Tensor vector_norm(const Tensor& x, double p, IntArrayRef dims, bool keepdim, const char* op) {
  check_floating(x, op, "expected a floating point input");
  DYDX_CHECK(!std::isnan(p), op, ": the order p must not be nan");
  NormAttrs a{p, reduced_dims(x, dims, op), keepdim};
  if (vmap::takes_rule(x)) [[unlikely]] {
    const vmap::BatchReduction r = vmap::reduce_batch(x, a.dims, keepdim);
    const Tensor out = std::is_same_v<Record, NormRecord> ? dydx::norm(r.value, p, r.dims, r.keepdim)
                                                          : dydx::linalg::vector_norm(r.value, p, r.dims, r.keepdim);
    return vmap::wrap(out, r.bdim, r.level);
  }
  Tensor out = reduce_runs(x, a.dims, keepdim, [p]<class T>(const T* v, int64_t n) { return run_norm(v, n, p); });
  finish<Record>({&x}, out, a);
  return out;
}

}  // namespace
}  // namespace ops

Tensor var(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return ops::moment<ops::VarRecord>(x, dims, unbiased ? 1 : 0, keepdim, "var");
}
Tensor var(const Tensor& x, IntArrayRef dims, std::optional<int64_t> correction, bool keepdim) {
  return ops::moment<ops::VarRecord>(x, dims, correction, keepdim, "var");
}
Tensor std(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return ops::moment<ops::StdRecord>(x, dims, unbiased ? 1 : 0, keepdim, "std");
}
Tensor std(const Tensor& x, IntArrayRef dims, std::optional<int64_t> correction, bool keepdim) {
  return ops::moment<ops::StdRecord>(x, dims, correction, keepdim, "std");
}
std::tuple<Tensor, Tensor> var_mean(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return {var(x, dims, unbiased, keepdim), mean(x, dims, keepdim)};
}
std::tuple<Tensor, Tensor> std_mean(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return {std(x, dims, unbiased, keepdim), mean(x, dims, keepdim)};
}

Tensor norm(const Tensor& x, Scalar p) { return ops::vector_norm<ops::NormRecord>(x, p.to_double(), {}, false, "norm"); }
Tensor norm(const Tensor& x, Scalar p, IntArrayRef dims, bool keepdim) {
  return ops::vector_norm<ops::NormRecord>(x, p.to_double(), dims, keepdim, "norm");
}

namespace linalg {
Tensor vector_norm(const Tensor& x, Scalar ord, IntArrayRef dims, bool keepdim) {
  return ops::vector_norm<ops::VectorNormRecord>(x, ord.to_double(), dims, keepdim, "linalg.vector_norm");
}
}  // namespace linalg

Tensor Tensor::var(IntArrayRef dims, bool unbiased, bool keepdim) const { return dydx::var(*this, dims, unbiased, keepdim); }
Tensor Tensor::var(IntArrayRef dims, std::optional<int64_t> correction, bool keepdim) const {
  return dydx::var(*this, dims, correction, keepdim);
}
Tensor Tensor::std(IntArrayRef dims, bool unbiased, bool keepdim) const { return dydx::std(*this, dims, unbiased, keepdim); }
Tensor Tensor::std(IntArrayRef dims, std::optional<int64_t> correction, bool keepdim) const {
  return dydx::std(*this, dims, correction, keepdim);
}
Tensor Tensor::norm(Scalar p) const { return dydx::norm(*this, p); }
Tensor Tensor::norm(Scalar p, IntArrayRef dims, bool keepdim) const { return dydx::norm(*this, p, dims, keepdim); }

}  // namespace dydx
