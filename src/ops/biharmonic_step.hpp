// Steps through nonlinear ops at a biharmonic level (forward::make_biharmonic_level, func::biharmonic).
//
// A tangent there is a stack [S, ...shape] of a tensor's derivatives along d directions: g_i, the
// second derivatives H_ij (i <= j, row-major), T_k = d_k of its Laplacian L = sum_i H_ii, and its
// biharmonic Q. Through y = phi(z), elementwise, with phi's derivatives phi1..phi4 at z (Faa di Bruno,
// contracted; checked against d = 1, where it is the chain rule for the fourth derivative):
//   g'_i  = phi1 g_i
//   H'_ij = phi1 H_ij + phi2 g_i g_j
//   T'_k  = phi1 T_k + phi2 (g_k L + 2 (H g)_k) + phi3 g_k |g|^2
//   Q'    = phi1 Q + phi2 (4 g.T + L^2 + 2 |H|_F^2) + phi3 (2 |g|^2 L + 4 g^T H g) + phi4 |g|^4
// and through y = a b (Leibniz; a quotient y = a / b solves a = y b for y's stack order by order):
//   g' = a g^b + b g^a,  H'_ij = a H^b_ij + b H^a_ij + g^a_i g^b_j + g^a_j g^b_i,
//   T'_k = a T^b_k + b T^a_k + g^a_k L^b + g^b_k L^a + 2 ((H^a g^b)_k + (H^b g^a)_k),
//   Q' = a Q^b + b Q^a + 4 (g^a.T^b + g^b.T^a) + 2 L^a L^b + 4 <H^a, H^b>_F.
// Nothing of third order beyond T is needed, which is why the stack is so much smaller than the
// nested forward Laplacian's. The steps are composed of differentiable ops (training, outer levels);
// the elementwise one also has a one-pass kernel for when nothing needs derivatives of it.
#pragma once

#include <tuple>
#include <utility>
#include <vector>

#include "ops/laplacian_tangent.hpp"
#include "ops/op_util.hpp"

namespace dydx::ops::biharmonic {

/// Where each quantity sits in the stack for d directions.
struct Stack {
  int64_t d;
  int64_t pairs() const { return d * (d + 1) / 2; }
  int64_t first_t() const { return d + pairs(); }
  int64_t q() const { return 2 * d + pairs(); }
  int64_t slices() const { return q() + 1; }
  // H_ij's slice offset within the H block, for any order of i and j.
  int64_t pair(int64_t i, int64_t j) const {
    if (i > j) std::swap(i, j);
    return i * d - i * (i - 1) / 2 + (j - i);
  }
};

// A stack's parts, with the H block also as a full symmetric [d, d, ...] and its trace L.
struct Parts {
  Tensor g, h, t, q;  // [d, ...], [pairs, ...], [d, ...], [...]
  Tensor h_full, laplacian;
};

inline Tensor indices(const std::vector<int64_t>& values) { return tensor(values, kInt64); }

// An H block [pairs, ...] as the full symmetric [d, d, ...], and its trace.
inline std::pair<Tensor, Tensor> full_and_trace(const Tensor& h, const Stack& s) {
  std::vector<int64_t> full, diagonal;
  for (int64_t i = 0; i < s.d; ++i) {
    diagonal.push_back(s.pair(i, i));
    for (int64_t j = 0; j < s.d; ++j) full.push_back(s.pair(i, j));
  }
  Dims shape{s.d, s.d};
  for (int64_t k = 1; k < h.dim(); ++k) shape.push_back(h.size(k));
  return {h.index_select(0, indices(full)).reshape(shape), h.index_select(0, indices(diagonal)).sum({0})};
}

inline Parts parts_of(const Tensor& stack, const Stack& s) {
  Parts p{stack.narrow(0, 0, s.d), stack.narrow(0, s.d, s.pairs()), stack.narrow(0, s.first_t(), s.d),
          stack.select(0, s.q()), {}, {}};
  std::tie(p.h_full, p.laplacian) = full_and_trace(p.h, s);
  return p;
}

// times(u_i, v_j) over the pairs i <= j, or times(u_j, v_i) when swapped: [pairs, ...].
template <class Times>
Tensor pair_products(const Tensor& u, const Tensor& v, const Stack& s, Times times, bool swapped = false) {
  std::vector<int64_t> first, second;
  for (int64_t i = 0; i < s.d; ++i)
    for (int64_t j = i; j < s.d; ++j) {
      first.push_back(swapped ? j : i);
      second.push_back(swapped ? i : j);
    }
  return times(u.index_select(0, indices(first)), v.index_select(0, indices(second)));
}
inline Tensor elementwise_times(const Tensor& a, const Tensor& b) { return a * b; }

inline Tensor stacked(const Tensor& g, const Tensor& h, const Tensor& t, const Tensor& q) {
  return cat({g, h, t, q.unsqueeze(0)});
}

/// The step of an op through an input it is linear in: its JVP, or a zero stack where that gives
/// none (undefined means "no rule" to the level).
inline Tensor linear_step(const Tensor& jvp, const Tensor& out, int64_t d) {
  if (jvp.defined()) return jvp;
  Dims shape{Stack{d}.slices()};
  for (int64_t s : out.sizes()) shape.push_back(s);
  return zeros(shape, out.dtype());
}

/// y = phi(z) from z's stack and phi1..phi4 (shaped like z, or broadcasting to it), composed.
inline Tensor unary_composed(const Tensor& stack, const TensorList& phi, int64_t d) {
  const Stack s{d};
  const Parts z = parts_of(stack, s);
  const Tensor squares = (z.g * z.g).sum({0});                // |g|^2
  const Tensor h_g = (z.h_full * z.g.unsqueeze(1)).sum({0});  // (H g)_k
  const Tensor g = phi[0] * z.g;
  const Tensor h = phi[0] * z.h + phi[1] * pair_products(z.g, z.g, s, elementwise_times);
  const Tensor t = phi[0] * z.t + phi[1] * (z.g * z.laplacian + 2.0 * h_g) + phi[2] * z.g * squares;
  const Tensor q = phi[0] * z.q +
                   phi[1] * (4.0 * (z.g * z.t).sum({0}) + z.laplacian * z.laplacian + 2.0 * (z.h_full * z.h_full).sum({0, 1})) +
                   phi[2] * (2.0 * squares * z.laplacian + 4.0 * (z.g * h_g).sum({0})) + phi[3] * squares * squares;
  return stacked(g, h, t, q);
}

/// y = a b from a's and b's stacks (either undefined for one that does not move), composed. times
/// is the product (elementwise, or a matrix product), broadcasting over the stack's leading dims.
template <class Times>
Tensor product_composed(const Tensor& a, const Tensor& sa, const Tensor& b, const Tensor& sb, int64_t d, Times times) {
  if (!sa.defined()) return times(a, sb);
  if (!sb.defined()) return times(sa, b);
  const Stack s{d};
  const Parts x = parts_of(sa, s), y = parts_of(sb, s);
  auto contract = [&](const Tensor& u, const Tensor& v) { return times(u, v).sum({0}); };  // sum_i u_i v_i
  const Tensor g = times(a, y.g) + times(x.g, b);
  const Tensor h = times(a, y.h) + times(x.h, b) + pair_products(x.g, y.g, s, times) +
                   pair_products(x.g, y.g, s, times, true);
  const Tensor t = times(a, y.t) + times(x.t, b) + times(x.g, y.laplacian) + times(x.laplacian, y.g) +
                   2.0 * (times(x.h_full, y.g.unsqueeze(1)).sum({0}) + times(x.g.unsqueeze(1), y.h_full).sum({0}));
  const Tensor q = times(a, y.q) + times(x.q, b) + 4.0 * (contract(x.g, y.t) + contract(x.t, y.g)) +
                   2.0 * times(x.laplacian, y.laplacian) + 4.0 * times(x.h_full, y.h_full).sum({0, 1});
  return stacked(g, h, t, q);
}

/// y = a / b from a's and b's stacks (a's undefined for a constant a), y being the quotient: from
/// a = y b by Leibniz's rule solved order by order, dividing by b only, as div's own rules do; the
/// product a (1 / b) would need 1 / b^5, which overflows in float32 for |b| < 1e-8 and gives inf * 0.
inline Tensor quotient_composed(const Tensor& sa, const Tensor& b, const Tensor& sb, const Tensor& y, int64_t d) {
  const Stack s{d};
  const Parts w = parts_of(sb, s);
  auto part = [&](int64_t start, int64_t length) { return sa.defined() ? sa.narrow(0, start, length) : Tensor(); };
  auto minus = [](const Tensor& x, const Tensor& v) { return x.defined() ? x - v : -v; };
  const Tensor g = minus(part(0, d), y * w.g) / b;
  const Tensor h = minus(part(d, s.pairs()), y * w.h + pair_products(g, w.g, s, elementwise_times) +
                                                 pair_products(g, w.g, s, elementwise_times, true)) / b;
  // The quotient's own H in full, and its trace, for the third and fourth orders.
  const auto [h_full, laplacian] = full_and_trace(h, s);
  const Tensor t = minus(part(s.first_t(), d), y * w.t + g * w.laplacian + w.g * laplacian +
                                                  2.0 * ((h_full * w.g.unsqueeze(1)).sum({0}) + (w.h_full * g.unsqueeze(1)).sum({0}))) / b;
  const Tensor qa = sa.defined() ? sa.select(0, s.q()) : Tensor();
  const Tensor q = minus(qa, y * w.q + 4.0 * ((g * w.t).sum({0}) + (w.g * t).sum({0})) + 2.0 * laplacian * w.laplacian +
                                 4.0 * (h_full * w.h_full).sum({0, 1})) / b;
  return stacked(g, h, t, q);
}

// The elementwise step in one pass, for when nothing needs derivatives of it: z's stack read as
// `layout` says (dense, or one row repeated), phi1..phi4 dense and shaped like z, into a dense
// result. Sums in double, as the forward Laplacian's kernel does.
constexpr int64_t kBlock = 128;
template <class T>
void unary_kernel(const Tensor& stack, const laplacian_detail::StepLayout& layout, const TensorList& phi,
                  const Tensor& result, int64_t d) {
  const Stack s{d};
  const int64_t n = phi[0].numel(), row_numel = layout.row_numel;
  if (n == 0) return;
  const T* pt = stack.data_ptr<T>();
  T* pr = result.data_ptr<T>();
  const T *f1 = phi[0].data_ptr<T>(), *f2 = phi[1].data_ptr<T>(), *f3 = phi[2].data_ptr<T>(), *f4 = phi[3].data_ptr<T>();
  const int64_t per_row = (row_numel + kBlock - 1) / kBlock, block_numel = std::min(kBlock, row_numel);
  const int64_t grain = cpu::kElementwiseGrain / (block_numel * 2 * s.slices()) + 1;
  cpu::parallel_for(layout.rows * per_row, grain, [&](int64_t first, int64_t end) {
    std::vector<double> scratch(static_cast<size_t>((5 + d) * kBlock));
    double *laplacian = scratch.data(), *squares = laplacian + kBlock, *g_t = squares + kBlock;
    double *frobenius = g_t + kBlock, *g_h_g = frobenius + kBlock, *h_g = g_h_g + kBlock;  // h_g: d blocks
    for (int64_t block = first; block < end; ++block) {
      const int64_t row = block / per_row, column = (block % per_row) * kBlock;
      const int64_t start = row * row_numel + column, m = std::min(kBlock, row_numel - column);
      const T* in = pt + row * layout.row_stride + column;
      auto slice = [&](int64_t k) { return in + k * layout.slice_stride; };
      auto out = [&](int64_t k) { return pr + k * n + start; };
      for (int64_t part = 0; part < 5 + d; ++part) std::fill_n(scratch.data() + part * kBlock, m, 0.0);
      for (int64_t i = 0; i < d; ++i) {
        const T *g = slice(i), *t = slice(s.first_t() + i);
        for (int64_t e = 0; e < m; ++e) {
          squares[e] += static_cast<double>(g[e]) * g[e];
          g_t[e] += static_cast<double>(g[e]) * t[e];
        }
      }
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = i; j < d; ++j) {
          const T *h = slice(d + s.pair(i, j)), *gi = slice(i), *gj = slice(j);
          double *hg_i = h_g + i * kBlock, *hg_j = h_g + j * kBlock;
          const double weight = i == j ? 1 : 2;
          for (int64_t e = 0; e < m; ++e) {
            frobenius[e] += weight * static_cast<double>(h[e]) * h[e];
            hg_j[e] += static_cast<double>(h[e]) * gi[e];
            if (i != j) hg_i[e] += static_cast<double>(h[e]) * gj[e];
          }
          if (i == j)
            for (int64_t e = 0; e < m; ++e) laplacian[e] += h[e];
        }
      for (int64_t k = 0; k < d; ++k) {
        const T* g = slice(k);
        const double* hg = h_g + k * kBlock;
        for (int64_t e = 0; e < m; ++e) g_h_g[e] += static_cast<double>(g[e]) * hg[e];
      }
      const T *a = f1 + start, *b = f2 + start, *c = f3 + start, *w = f4 + start;
      for (int64_t i = 0; i < d; ++i) {
        const T* g = slice(i);
        T* o = out(i);
        for (int64_t e = 0; e < m; ++e) o[e] = a[e] * g[e];
      }
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = i; j < d; ++j) {
          const T *h = slice(d + s.pair(i, j)), *gi = slice(i), *gj = slice(j);
          T* o = out(d + s.pair(i, j));
          for (int64_t e = 0; e < m; ++e) o[e] = a[e] * h[e] + b[e] * gi[e] * gj[e];
        }
      for (int64_t k = 0; k < d; ++k) {
        const T *t = slice(s.first_t() + k), *g = slice(k);
        const double* hg = h_g + k * kBlock;
        T* o = out(s.first_t() + k);
        for (int64_t e = 0; e < m; ++e)
          o[e] = static_cast<T>(a[e] * static_cast<double>(t[e]) + b[e] * (g[e] * laplacian[e] + 2 * hg[e]) +
                                c[e] * g[e] * squares[e]);
      }
      const T* q = slice(s.q());
      T* o = out(s.q());
      for (int64_t e = 0; e < m; ++e)
        o[e] = static_cast<T>(a[e] * static_cast<double>(q[e]) +
                              b[e] * (4 * g_t[e] + laplacian[e] * laplacian[e] + 2 * frobenius[e]) +
                              c[e] * (2 * squares[e] * laplacian[e] + 4 * g_h_g[e]) + w[e] * squares[e] * squares[e]);
    }
  });
}

/// y = phi(z) at a biharmonic level with d directions, from z's stack and phi1..phi4 at z (undefined
/// for zero): one pass when nothing needs derivatives of the step, composed otherwise.
inline Tensor unary_step(const Tensor& stack, const Tensor& z, TensorList phi, int64_t d) {
  const Stack s{d};
  bool one_pass = stack.is_floating_point() && stack.dim() == z.dim() + 1 && stack.size(0) == s.slices() &&
                  IntArrayRef(stack.sizes().data() + 1, z.dim()) == z.sizes() && !forward::carries_derivatives(stack);
  for (Tensor& f : phi) {
    if (!f.defined()) f = zeros_like(z);  // a derivative that vanishes (x^2's third)
    one_pass = one_pass && f.defined() && f.dtype() == stack.dtype() && !forward::carries_derivatives(f);
    if (one_pass && !(f.sizes() == z.sizes() && f.is_contiguous())) f = f.expand(z.sizes()).contiguous();
  }
  if (!one_pass) return unary_composed(stack, phi, d);
  auto layout = laplacian_detail::step_layout(stack, phi[0]);
  const bool as_is = laplacian_detail::reads_well(layout);
  const Tensor read = as_is ? stack : stack.contiguous();
  if (!as_is) layout = laplacian_detail::step_layout(read, phi[0]);
  Tensor result = detail::make_empty(stack.sizes(), stack.dtype());
  cpu::dispatch_floating(stack.dtype(), [&](auto tag) { unary_kernel<decltype(tag)>(read, *layout, phi, result, d); });
  return result;
}

}  // namespace dydx::ops::biharmonic
