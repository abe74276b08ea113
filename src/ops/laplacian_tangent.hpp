// The forward Laplacian's step through an activation as one differentiable op (issue 12).
//
// At a forward-Laplacian level (func::laplacian), an activation f maps the d + 1 stacked tangents t
// of its input (d directional derivatives, then the Laplacian) to those of its result:
//   r_k = f'(x) t_k  (k < d),    r_d = f'(x) t_d + f''(x) S,    S = sum_{k<d} t_k^2.
// Composed of the JVP and curvature rules this is about ten elementwise ops, and in training (the
// weights need gradients, so every tangent carries derivatives) each is recorded and run backward
// too. LaplacianTangentRecord<Op> is the same map as one op of (t, v), v being the value f's
// derivatives are written in (the input x, or the result out for tanh, sigmoid and exp): one pass
// forward, and one pass for its VJP when nothing needs a graph of the gradient. Its rules are
// composed of differentiable ops otherwise (create_graph, forward over reverse), and it has JVP and
// curvature rules like any op, checked by the op table.
//
// An activation takes part by giving laplacian_coefficients(v): f', f'' and their first and second
// derivatives along v, written once for one element (float, double) and for tensors.
#pragma once

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>
#include <type_traits>

#include "ops/op_record.hpp"
#include "ops/op_util.hpp"
#include "ops/taylor.hpp"

namespace dydx::ops {

/// f' and f'' at v, and their first and second derivatives along v (d/dv, not d/dx, where v is
/// the result: tanh's f' = 1 - v^2 has d f'/dv = -2 v).
template <class V>
struct LaplacianCoefficients {
  V first, second;
  V first_dv, second_dv;
  V first_dv2, second_dv2;
};

/// The scalar type that multiplies a V: V itself for one element, double for a tensor.
template <class V>
using ScalarOf = std::conditional_t<std::is_same_v<V, Tensor>, double, V>;

/// A coefficient that does not depend on v (tanh's d2 f'/dv2 = -2), as a V.
template <class V>
V constant_like(const V&, double c) {
  return static_cast<V>(c);
}
inline Tensor constant_like(const Tensor& v, double c) { return scalar_tensor(c, v.dtype()); }

template <class Op>
concept HasLaplacianCoefficients = requires(double v) { Op::laplacian_coefficients(v); };

namespace laplacian_detail {

// Blocks small enough to stay in L1, with unit-stride inner loops the compiler vectorises.
constexpr int64_t kBlock = 256;

// How the step reads t [d + 1, ...v's shape]: as [d + 1, rows, row_numel] with unit stride within a
// row, slice k at k * slice_stride. Dense t has one row of v.numel(); t that repeats one row
// across v's leading dims (stride 0 there: a first layer's tangents at func::laplacian, see
// tangent_product) is read as that row, rows times over, never copied.
struct StepLayout {
  int64_t rows, row_numel, slice_stride, row_stride;
};

inline std::optional<StepLayout> step_layout(const Tensor& t, const Tensor& v) {
  if (!v.is_contiguous()) return std::nullopt;
  if (t.is_contiguous()) return StepLayout{1, v.numel(), v.numel(), 0};
  int64_t repeated = 0;  // v's leading dims along which t repeats
  while (repeated < v.dim() && (t.stride(repeated + 1) == 0 || t.size(repeated + 1) == 1)) ++repeated;
  Tensor once = t;
  for (int64_t i = 1; i <= repeated; ++i) once = once.narrow(i, 0, 1);
  if (repeated == 0 || !once.is_contiguous()) return std::nullopt;
  const int64_t row_numel = dydx::detail::product(IntArrayRef(v.sizes().data() + repeated, v.dim() - repeated));
  return StepLayout{v.numel() / std::max<int64_t>(row_numel, 1), row_numel, row_numel, 0};
}

// Whether a kernel (this step's, and the biharmonic step's) reads t well as `layout` says: rows
// repeated only when they are a few vectors long, since each row is read in blocks of its own (x [B, 1]
// through an activation would take B blocks of one element; its stack is better copied dense). A layer
// of 64 reads well as it is: the copy of its repeated stack ([3, B, 64] for x [B, 2]) ran on one thread
// and was a tenth of what kept the Laplacian of bench/compare's MLP from scaling to two.
constexpr int64_t kShortestRepeatedRow = 64;
inline bool reads_well(const std::optional<StepLayout>& layout) {
  return layout && (layout->rows == 1 || layout->row_numel >= kShortestRepeatedRow);
}

// r [d + 1, n] (dense) from t (read as `layout` says) and v [n], of one dtype. Squares accumulate
// in double, as float32 sums across rows do (see sum_values).
template <class Op>
void forward_kernel(const Tensor& t, const StepLayout& layout, const Tensor& v, const Tensor& r) {
  const int64_t d = t.size(0) - 1, n = v.numel(), row_numel = layout.row_numel;
  if (n == 0) return;
  cpu::dispatch_floating(v.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pt = t.data_ptr<T>();
    const T* pv = v.data_ptr<T>();
    T* pr = r.data_ptr<T>();
    const int64_t per_row = (row_numel + kBlock - 1) / kBlock, block_numel = std::min(kBlock, row_numel);
    const int64_t grain = cpu::kElementwiseGrain / (block_numel * (d + 1)) + 1;
    cpu::parallel_for(layout.rows * per_row, grain, [&](int64_t first_block, int64_t end_block) {
      T first[kBlock], second[kBlock];
      double squares[kBlock];
      for (int64_t block = first_block; block < end_block; ++block) {
        const int64_t row = block / per_row, column = (block % per_row) * kBlock;
        const int64_t start = row * row_numel + column, m = std::min(kBlock, row_numel - column);
        const T* in = pt + row * layout.row_stride + column;
        for (int64_t i = 0; i < m; ++i) {
          const auto c = Op::laplacian_coefficients(pv[start + i]);
          first[i] = c.first;
          second[i] = c.second;
          squares[i] = 0;
        }
        for (int64_t k = 0; k < d; ++k) {
          const T* g = in + k * layout.slice_stride;
          T* out = pr + k * n + start;
          for (int64_t i = 0; i < m; ++i) {
            out[i] = g[i] * first[i];
            squares[i] += static_cast<double>(g[i] * g[i]);
          }
        }
        const T* l = in + d * layout.slice_stride;
        T* out = pr + d * n + start;
        for (int64_t i = 0; i < m; ++i) out[i] = l[i] * first[i] + second[i] * static_cast<T>(squares[i]);
      }
    });
  });
}

// The VJP in one pass, for a cotangent g shaped like t: grad_t (if wanted) and grad_v (if wanted):
//   grad_t_k = g_k f' + 2 g_d f'' t_k (k < d),  grad_t_d = g_d f',
//   grad_v = d f'/dv sum_{k<=d} g_k t_k + g_d d f''/dv S.
template <class Op>
void backward_kernel(const Tensor& g, const Tensor& t, const Tensor& v, const Tensor& grad_t, const Tensor& grad_v) {
  const int64_t d = t.size(0) - 1, n = v.numel();
  cpu::dispatch_floating(v.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data_ptr<T>();
    const T* pt = t.data_ptr<T>();
    const T* pv = v.data_ptr<T>();
    T* pgt = grad_t.defined() ? grad_t.data_ptr<T>() : nullptr;
    T* pgv = grad_v.defined() ? grad_v.data_ptr<T>() : nullptr;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    cpu::parallel_for(blocks, cpu::kElementwiseGrain / (kBlock * 2 * (d + 1)) + 1, [&](int64_t first_block, int64_t end_block) {
      T first[kBlock], twice_second_g[kBlock], first_dv[kBlock], second_dv[kBlock];
      double squares[kBlock], products[kBlock];
      for (int64_t start = first_block * kBlock; start < std::min(n, end_block * kBlock); start += kBlock) {
        const int64_t m = std::min(kBlock, n - start);
        const T* gl = pg + d * n + start;
        for (int64_t i = 0; i < m; ++i) {
          const auto c = Op::laplacian_coefficients(pv[start + i]);
          first[i] = c.first;
          twice_second_g[i] = 2 * c.second * gl[i];
          first_dv[i] = c.first_dv;
          second_dv[i] = c.second_dv;
          squares[i] = 0;
          products[i] = 0;
        }
        for (int64_t k = 0; k < d; ++k) {
          const T* __restrict gk = pg + k * n + start;
          const T* __restrict tk = pt + k * n + start;
          T* __restrict out = pgt ? pgt + k * n + start : nullptr;
          if (pgt && pgv) {
            for (int64_t i = 0; i < m; ++i) {
              out[i] = gk[i] * first[i] + twice_second_g[i] * tk[i];
              squares[i] += static_cast<double>(tk[i] * tk[i]);
              products[i] += static_cast<double>(gk[i] * tk[i]);
            }
          } else if (pgt) {
            for (int64_t i = 0; i < m; ++i) out[i] = gk[i] * first[i] + twice_second_g[i] * tk[i];
          } else {
            for (int64_t i = 0; i < m; ++i) {
              squares[i] += static_cast<double>(tk[i] * tk[i]);
              products[i] += static_cast<double>(gk[i] * tk[i]);
            }
          }
        }
        const T* tl = pt + d * n + start;
        if (pgt) {
          T* out = pgt + d * n + start;
          for (int64_t i = 0; i < m; ++i) out[i] = gl[i] * first[i];
        }
        if (pgv) {
          T* out = pgv + start;
          for (int64_t i = 0; i < m; ++i)
            out[i] = first_dv[i] * static_cast<T>(products[i] + static_cast<double>(gl[i] * tl[i])) +
                     gl[i] * second_dv[i] * static_cast<T>(squares[i]);
        }
      }
    });
  });
}

/// backward_kernel's gradients (those wanted) one after the other in one buffer, t's then v's: under
/// a func::compile recording, a step whose replay runs the kernel once for both.
template <class Op>
Tensor backward_buffer(const Tensor& g, const Tensor& t, const Tensor& v, bool want_t, bool want_v) {
  const int64_t nt = want_t ? t.numel() : 0, nv = want_v ? v.numel() : 0;
  const Tensor buffer = detail::make_empty({nt + nv}, v.dtype());
  Tensor grad_t, grad_v;
  {
    const compile::detail::PauseRecording pause;  // the views the kernel writes through are not f's steps
    if (want_t) grad_t = buffer.narrow(0, 0, nt).view(t.sizes());
    if (want_v) grad_v = buffer.narrow(0, nt, nv).view(v.sizes());
  }
  backward_kernel<Op>(g, t, v, grad_t, grad_v);
  compile::detail::note_kernel(Op::name, {&g, &t, &v}, buffer, [want_t, want_v](const TensorList& in) {
    return backward_buffer<Op>(in[0].contiguous(), in[1].contiguous(), in[2].contiguous(), want_t, want_v);
  });
  return buffer;
}

// The d directions of x along axis, its last slice (the Laplacian's), and x with extra added to
// that slice, for the composed rules.
inline Tensor directions(const Tensor& x, int64_t axis, int64_t d) { return x.narrow(axis, 0, d); }
inline Tensor laplacian_part(const Tensor& x, int64_t axis, int64_t d) { return x.select(axis, d); }
inline Tensor add_to_laplacian_part(const Tensor& x, const Tensor& extra, int64_t axis, int64_t d) {
  if (!extra.defined()) return x;
  return cat({directions(x, axis, d), (laplacian_part(x, axis, d) + extra).unsqueeze(axis)}, axis);
}

}  // namespace laplacian_detail

/// The record of the forward Laplacian's step through activation Op, as one op of (t, v).
template <class Op>
Tensor laplacian_tangent(const Tensor& t, const Tensor& v);

template <class Op>
struct LaplacianTangentRecord {
  static constexpr const char* name = Op::laplacian_tangent_name;
  static constexpr const char* node = "LaplacianTangentBackward0";
  static constexpr Saves saves{.inputs = input_bits(0, 1)};
  static Tensor replay(const TensorList& in, NoAttrs) { return laplacian_tangent<Op>(in[0], in[1]); }

  static void vjp(const Backward<LaplacianTangentRecord>& b, const Tensor& g, Tensor* grads) {
    using namespace laplacian_detail;
    const Tensor t = b.input(0), v = b.input(1);
    const int64_t d = t.size(0) - 1, nb = b.batch_dims(g);
    // One pass when the gradient needs no graph of its own.
    if (nb == 0 && g.sizes() == t.sizes() && g.dtype() == t.dtype() && g.is_contiguous() && v.is_contiguous() &&
        !forward::carries_derivatives(g) && !forward::carries_derivatives(t) && !forward::carries_derivatives(v)) {
      // A t that repeats a row (see step_layout) is read dense here; the pass writes grads that size anyway.
      const Tensor dense_t = t.is_contiguous() ? t : t.contiguous();
      if (compile::detail::recording()) [[unlikely]] {
        // func::compile replays the kernel as one step, the gradients being views of its buffer.
        const bool want_t = b.needs_grad(0), want_v = b.needs_grad(1);
        const Tensor buffer = backward_buffer<Op>(g, dense_t, v, want_t, want_v);
        const int64_t nt = want_t ? t.numel() : 0;
        if (want_t) grads[0] = buffer.narrow(0, 0, nt).view(t.sizes());
        if (want_v) grads[1] = buffer.narrow(0, nt, v.numel()).view(v.sizes());
        return;
      }
      if (b.needs_grad(0)) grads[0] = detail::make_empty(t.sizes(), t.dtype());
      if (b.needs_grad(1)) grads[1] = detail::make_empty(v.sizes(), v.dtype());
      backward_kernel<Op>(g, dense_t, v, grads[0], grads[1]);
      return;
    }
    const auto c = Op::laplacian_coefficients(v);
    const Tensor g_last = laplacian_part(g, nb, d), t_dirs = directions(t, 0, d);
    if (b.needs_grad(0))
      grads[0] = cat({directions(g, nb, d) * c.first + 2.0 * (g_last * c.second).unsqueeze(nb) * t_dirs,
                      (g_last * c.first).unsqueeze(nb)},
                     nb);
    if (b.needs_grad(1))
      grads[1] = c.first_dv * (g * t).sum({nb}) + g_last * c.second_dv * (t_dirs * t_dirs).sum({0});
  }

  // Along dt (shaped like t) and dv: dr = f' dt + d f'/dv dv t, plus 2 f'' sum_k t_k dt_k + d f''/dv dv S
  // in the Laplacian's slice.
  static Tensor jvp(const Primal<LaplacianTangentRecord>& p, const TensorList& tangents) {
    using namespace laplacian_detail;
    const Tensor &t = p.input(0), &v = p.input(1), &dt = tangents[0], &dv = tangents[1];
    const int64_t d = t.size(0) - 1, nb = p.batch_dims();
    const auto c = Op::laplacian_coefficients(v);
    const Tensor t_dirs = directions(t, 0, d);
    Tensor out, extra;
    if (dt.defined()) {
      out = dt * c.first;
      extra = 2.0 * c.second * (t_dirs * directions(dt, nb, d)).sum({nb});
    }
    if (dv.defined()) {
      out = sum_terms(out, c.first_dv * dv.unsqueeze(nb) * t);
      extra = sum_terms(extra, c.second_dv * dv * (t_dirs * t_dirs).sum({0}));
    }
    return add_to_laplacian_part(out, extra, nb, d);
  }

  // sum_j D2 r[(a_j, b_j), (a_j, b_j)] over the outer directions j (dim 0), a along t and b along v:
  //   2 d f'/dv b a + d2 f'/dv2 b^2 t, plus in the Laplacian's slice
  //   2 f'' sum_{k<d} a_k^2 + 4 d f''/dv b sum_{k<d} t_k a_k + d2 f''/dv2 b^2 S.
  static Tensor curvature(const Primal<LaplacianTangentRecord>& p, const TensorList& g) {
    using namespace laplacian_detail;
    const Tensor &t = p.input(0), &v = p.input(1), &a = g[0], &b = g[1];
    const int64_t d = t.size(0) - 1, axis = p.batch_dims();
    const auto c = Op::laplacian_coefficients(v);
    const Tensor t_dirs = directions(t, 0, d);
    Tensor out, extra;
    if (a.defined()) {
      const Tensor a_dirs = directions(a, axis, d);
      extra = 2.0 * c.second * (a_dirs * a_dirs).sum({0, axis});
    }
    if (b.defined()) {
      const Tensor b_squared = (b * b).sum({0});
      out = c.first_dv2 * b_squared.unsqueeze(axis - 1) * t;
      extra = sum_terms(extra, c.second_dv2 * b_squared * (t_dirs * t_dirs).sum({0}));
      if (a.defined()) {
        out = out + 2.0 * c.first_dv * (b.unsqueeze(axis) * a).sum({0});
        extra = extra + 4.0 * c.second_dv * (b.unsqueeze(axis) * directions(a, axis, d) * t_dirs).sum({0, axis});
      }
    }
    if (!out.defined() && !extra.defined()) return {};
    if (!out.defined()) {
      // Shaped as the terms are: the outer directions' other batch dims, then t's shape.
      const Tensor& any = a.defined() ? a : b;
      Dims shape(any.sizes().begin() + 1, any.sizes().begin() + axis);
      for (int64_t s : t.sizes()) shape.push_back(s);
      out = zeros(shape, t.dtype());
    }
    return add_to_laplacian_part(out, extra, axis - 1, d);
  }

  // F1 = f' and F2 = f'' as functions of v, and their derivatives along v to the given order. Where v
  // is the result (tanh, sigmoid, exp), f' = q(v) and f'' = q'(v) q(v) are polynomials in v
  // (taylor::value_polynomials), differentiated as such; where v is the input (sin, cos, silu), they
  // are f's own: F1^(j) = f^(j+1), F2^(j) = f^(j+2).
  static std::array<TensorList, 2> derivatives_along_v(const Tensor& v, int64_t order) {
    std::array<TensorList, 2> out;
    if constexpr (requires { Op::value_derivative(); }) {
      const std::vector<std::vector<double>> p = taylor::value_polynomials(Op::value_derivative(), 2);
      for (size_t i = 0; i < 2; ++i) {
        std::vector<double> polynomial = p[i];
        for (int64_t j = 1; j <= order; ++j) {
          std::vector<double> next;
          for (size_t n = 1; n < polynomial.size(); ++n) next.push_back(static_cast<double>(n) * polynomial[n]);
          polynomial = next;
          out[i].push_back(taylor::evaluate(polynomial, v));  // undefined (zero) once the polynomial is
        }
      }
    } else {
      const TensorList f = Op::taylor_derivatives(v, v, order + 2);
      for (int64_t j = 1; j <= order; ++j) {
        out[0].push_back(f[j]);
        out[1].push_back(f[j + 1]);
      }
    }
    return out;
  }

  // func::jet through the step: r = F1(v) t, plus F2(v) S in the Laplacian's slice. F1's and F2's
  // terms come by Faa di Bruno from their derivatives along v, S = sum_{k<d} t_k^2 by a Cauchy
  // product, and r by two more. A term k >= 1 carries the stack's batch dims (nb) in front, where
  // t's directions dim is nb rather than 0, so v's terms are lifted past it to multiply t's.
  static Tensor taylor(const Primal<LaplacianTangentRecord>& p, const TensorList& x) {
    using namespace laplacian_detail;
    const Tensor &t = p.input(0), &v = p.input(1);
    const int64_t d = t.size(0) - 1, nb = forward::batch_dims() - 1, order = forward::taylor_order();
    const auto c = Op::laplacian_coefficients(v);
    const std::array<TensorList, 2> along_v = derivatives_along_v(v, order);
    const TensorList first = taylor::terms(c.first, taylor::compose(x[1], along_v[0]));
    const TensorList second = taylor::terms(c.second, taylor::compose(x[1], along_v[1]));
    const TensorList ts = taylor::terms(t, x[0]);
    const auto axis = [nb](size_t k) { return k == 0 ? int64_t{0} : nb; };
    const auto times = [](const Tensor& l, const Tensor& r) { return l * r; };
    TensorList lifted(first.size()), dirs(ts.size());
    for (size_t k = 0; k < first.size(); ++k) {
      if (first[k].defined()) lifted[k] = k == 0 ? first[k] : first[k].unsqueeze(nb);
      if (ts[k].defined()) dirs[k] = directions(ts[k], axis(k), d);
    }
    const TensorList r = taylor::product_terms(lifted, ts, times);
    TensorList squares = taylor::product_terms(dirs, dirs, times);
    for (size_t k = 0; k < squares.size(); ++k)
      if (squares[k].defined()) squares[k] = squares[k].sum({axis(k)});
    const TensorList extra = taylor::product_terms(second, squares, times);
    TensorList out(r.size());
    for (size_t k = 1; k < r.size(); ++k) {
      Tensor rk = r[k];
      if (!rk.defined() && !extra[k].defined()) continue;
      if (!rk.defined()) {
        Dims shape(extra[k].sizes().begin(), extra[k].sizes().end());
        shape.insert_at(static_cast<size_t>(nb), d + 1);
        rk = zeros(shape, t.dtype());
      }
      out[k] = add_to_laplacian_part(rk, extra[k], nb, d);
    }
    return taylor::stacked_terms(out);
  }
};

/// Whether the record applies at a forward-Laplacian level with d directions: t is [d + 1, ...v's
/// shape], both dense and of v's floating dtype, and neither has a tangent at an outer level
/// (nested levels keep the JVP and curvature rules, whose outer tangents they carry).
inline bool laplacian_tangent_applies(const Tensor& t, const Tensor& v, int64_t d) {
  return t.dim() == v.dim() + 1 && t.size(0) == d + 1 && IntArrayRef(t.sizes().data() + 1, v.dim()) == v.sizes() &&
         t.dtype() == v.dtype() && v.is_floating_point() && laplacian_detail::step_layout(t, v).has_value() &&
         !forward::has_tangent(t) && !forward::has_tangent(v);
}

/// The op by the activation's name ("tanh", "sigmoid", "exp": v is its result; "sin", "cos", "silu":
/// v is its input), for t [d + 1, ...v's shape] of v's floating dtype, in any layout: for tests, which
/// call it directly. Raises otherwise.
Tensor laplacian_tangent_of(std::string_view activation, const Tensor& t, const Tensor& v);

/// r from t [d + 1, ...] and v (any layout, checked by the caller), recorded as the op.
template <class Op>
Tensor laplacian_tangent(const Tensor& t, const Tensor& v) {
  if (vmap::takes_rule({&t, &v})) [[unlikely]] {
    // Elementwise over v, t's dim 0 the directions: one call on the values once v's batch dim and
    // t's (one further on, past the directions) line up; an unbatched one is expanded, no copy.
    const uint32_t level = vmap::top_level({&t, &v});
    const vmap::Arg tb = vmap::unwrap(t, level), vb = vmap::unwrap(v, level);
    const int64_t vdim = vb.bdim ? *vb.bdim : (tb.bdim && *tb.bdim > 0 ? *tb.bdim - 1 : 0);
    auto batched_at = [&](const vmap::Arg& a, const Tensor& sample, int64_t d) {
      if (a.bdim) return *a.bdim == d ? a.value : a.value.movedim(*a.bdim, d);
      Dims sizes(sample.sizes().begin(), sample.sizes().end());
      sizes.insert_at(static_cast<size_t>(d), vmap::level_info(level).size);
      return sample.unsqueeze(d).expand(sizes);
    };
    return vmap::wrap(laplacian_tangent<Op>(batched_at(tb, t, vdim + 1), batched_at(vb, v, vdim)), vdim + 1, level);
  }
  const Tensor dense_v = v.is_contiguous() ? v : v.detach().contiguous();
  std::optional<laplacian_detail::StepLayout> layout = laplacian_detail::step_layout(t, dense_v);
  const bool as_is = laplacian_detail::reads_well(layout);
  const Tensor read_t = as_is ? t : t.detach().contiguous();
  if (!as_is) layout = laplacian_detail::step_layout(read_t, dense_v);
  Tensor out = detail::make_empty(t.sizes(), t.dtype());
  laplacian_detail::forward_kernel<Op>(read_t, *layout, dense_v, out);
  finish<LaplacianTangentRecord<Op>>({&t, &v}, out);
  return out;
}

}  // namespace dydx::ops
