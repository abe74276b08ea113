// The op table's rows. How to add an op: declare its record in src/ops/ (op_record.hpp), then add one row here
// with its sample shapes, its input domain, the op itself and a naive reference; the generic tests
// in test_op_table.cpp then check its forward, its gradient and its second derivative.
#include "op_table.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>

#include "ops/laplacian_tangent.hpp"
#include "ops/product_rules.hpp"

namespace dydx::testing {

namespace {

using Fn = std::function<Tensor(const TensorList&)>;
using Ref = std::function<Naive(const std::vector<Naive>&)>;
using Index = std::vector<int64_t>;

const std::vector<Shapes> kUnaryShapes = {{{3, 4}}, {{}}, {{2, 3, 2}}};
const std::vector<Shapes> kBinaryShapes = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 3}, {4, 1}}, {{}, {2, 3}}};

OpRow unary(std::string name, Domain domain, Fn fn, double (*f)(double)) {
  return {name, kUnaryShapes, domain, fn, [f](const auto& in) { return map(in[0], f); }, 1e-5};
}

OpRow binary(std::string name, Domain domain, Fn fn, std::function<double(double, double)> f) {
  return {name, kBinaryShapes, domain, fn, [f](const auto& in) { return zip(in[0], in[1], f); }, 1e-5};
}

// A view's reference: out[i] = x[source(i)].
Ref gather(std::function<Index(const Naive&)> out_shape, std::function<Index(const Index&)> source) {
  return [=](const auto& in) {
    return Naive::build(out_shape(in[0]), [&](const Index& i) { return in[0].at(source(i)); });
  };
}

// Naive window arithmetic for the convolution and pooling rows: plain loops over every position.
using Pair = std::array<int64_t, 2>;

int64_t windows_along(int64_t in, int64_t k, int64_t d, int64_t p, int64_t s) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

/// x [N, C, H, W] (or [C, H, W]) unfolded into [N, C kh kw, L].
Naive naive_unfold(const Naive& x_in, Pair k, Pair d, Pair p, Pair s) {
  const bool batched = x_in.shape.size() == 4;
  Naive x = x_in;
  if (!batched) x.shape.insert(x.shape.begin(), 1);
  const int64_t c = x.shape[1], h = x.shape[2], w = x.shape[3];
  const int64_t oh = windows_along(h, k[0], d[0], p[0], s[0]), ow = windows_along(w, k[1], d[1], p[1], s[1]);
  Naive out = Naive::build({x.shape[0], c * k[0] * k[1], oh * ow}, [&](const Index& i) {
    const int64_t ch = i[1] / (k[0] * k[1]), ki = i[1] / k[1] % k[0], kj = i[1] % k[1];
    const int64_t r = i[2] / ow * s[0] - p[0] + ki * d[0], q = i[2] % ow * s[1] - p[1] + kj * d[1];
    return r < 0 || r >= h || q < 0 || q >= w ? 0.0 : x.at({i[0], ch, r, q});
  });
  if (!batched) out.shape.erase(out.shape.begin());
  return out;
}

/// cols [N, C kh kw, L] (or unbatched) summed back into [N, C, size].
Naive naive_fold(const Naive& cols_in, Pair size, Pair k, Pair d, Pair p, Pair s) {
  const bool batched = cols_in.shape.size() == 3;
  Naive cols = cols_in;
  if (!batched) cols.shape.insert(cols.shape.begin(), 1);
  const int64_t c = cols.shape[1] / (k[0] * k[1]), ow = windows_along(size[1], k[1], d[1], p[1], s[1]);
  Naive out = Naive::build({cols.shape[0], c, size[0], size[1]}, [&](const Index& i) {
    double v = 0;
    for (int64_t row = i[1] * k[0] * k[1]; row < (i[1] + 1) * k[0] * k[1]; ++row)
      for (int64_t l = 0; l < cols.shape[2]; ++l) {
        const int64_t ki = row / k[1] % k[0], kj = row % k[1];
        if (l / ow * s[0] - p[0] + ki * d[0] == i[2] && l % ow * s[1] - p[1] + kj * d[1] == i[3]) v += cols.at({i[0], row, l});
      }
    return v;
  });
  if (!batched) out.shape.erase(out.shape.begin());
  return out;
}

/// X with A X = B by Gaussian elimination with partial pivoting in double, for A [..., n, n] and
/// B [..., n, k] (or B [..., n], a vector, where `vector`), batch dims broadcast.
Naive naive_solve(const Naive& a, const Naive& b_in, bool vector) {
  Naive b = b_in;
  if (vector) b.shape.push_back(1);
  const int64_t n = a.shape.back(), k = b.shape.back();
  std::vector<int64_t> batch = broadcast(std::vector<int64_t>(a.shape.begin(), a.shape.end() - 2),
                                         std::vector<int64_t>(b.shape.begin(), b.shape.end() - 2));
  std::vector<int64_t> out_shape = batch;
  out_shape.push_back(n);
  out_shape.push_back(k);
  Naive out = Naive::build(out_shape, [](const Index&) { return 0.0; });
  int64_t systems = 1;
  for (int64_t s : batch) systems *= s;
  for (int64_t sys = 0; sys < systems; ++sys) {
    Index at(batch.size() + 2, 0);
    for (int64_t rem = sys, d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      at[d] = rem % batch[d];
      rem /= batch[d];
    }
    std::vector<std::vector<double>> m(n, std::vector<double>(n + k));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < n + k; ++c) {
        at[batch.size()] = r;
        at[batch.size() + 1] = c < n ? c : c - n;
        m[r][c] = c < n ? a.broadcast_at(at) : b.broadcast_at(at);
      }
    for (int64_t col = 0; col < n; ++col) {
      int64_t pivot = col;
      for (int64_t r = col + 1; r < n; ++r)
        if (std::abs(m[r][col]) > std::abs(m[pivot][col])) pivot = r;
      std::swap(m[col], m[pivot]);
      for (int64_t r = 0; r < n; ++r) {
        if (r == col) continue;
        const double f = m[r][col] / m[col][col];
        for (int64_t c = col; c < n + k; ++c) m[r][c] -= f * m[col][c];
      }
    }
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) out.values[(sys * n + r) * k + c] = m[r][n + c] / m[r][r];
  }
  if (vector) out.shape.pop_back();
  return out;
}

/// A [..., n, n] + shift I, as plain arrays: the op-table rows' well-conditioned matrices.
Naive naive_shifted(const Naive& a, double shift) {
  return Naive::build(a.shape, [&](const Index& i) { return a.at(i) + (i[i.size() - 1] == i[i.size() - 2] ? shift : 0.0); });
}

/// conv2d of x [N, C, H, W] (or [C, H, W]) with w [OC, C / groups, kh, kw] and an optional bias.
Naive naive_conv(const Naive& x_in, const Naive& w, const Naive* bias, Pair s, Pair p, Pair d, int64_t groups) {
  const bool batched = x_in.shape.size() == 4;
  Naive x = x_in;
  if (!batched) x.shape.insert(x.shape.begin(), 1);
  const int64_t h = x.shape[2], wd = x.shape[3], oc = w.shape[0], cg = w.shape[1];
  const int64_t oh = windows_along(h, w.shape[2], d[0], p[0], s[0]), ow = windows_along(wd, w.shape[3], d[1], p[1], s[1]);
  Naive out = Naive::build({x.shape[0], oc, oh, ow}, [&](const Index& i) {
    double v = bias != nullptr ? bias->at({i[1]}) : 0.0;
    const int64_t group = i[1] / (oc / groups);
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t a = 0; a < w.shape[2]; ++a)
        for (int64_t b = 0; b < w.shape[3]; ++b) {
          const int64_t r = i[2] * s[0] - p[0] + a * d[0], q = i[3] * s[1] - p[1] + b * d[1];
          if (r >= 0 && r < h && q >= 0 && q < wd) v += x.at({i[0], group * cg + c, r, q}) * w.at({i[1], c, a, b});
        }
    return v;
  });
  if (!batched) out.shape.erase(out.shape.begin());
  return out;
}

enum class PoolKind { max, mean, mean_with_pad };

/// max or average pooling of x [..., H, W] by PyTorch's rules (ceil_mode's last window starts inside
/// the input or its left padding; mean_with_pad divides by the window clipped to the padded input).
Naive naive_pool(const Naive& x, Pair k, Pair s, Pair p, Pair d, bool ceil_mode, PoolKind kind) {
  const size_t rank = x.shape.size();
  const int64_t h = x.shape[rank - 2], w = x.shape[rank - 1];
  auto out_size = [&](int64_t in, int dim) {
    const int64_t num = in + 2 * p[dim] - d[dim] * (k[dim] - 1) - 1 + (ceil_mode ? s[dim] - 1 : 0);
    int64_t out = num / s[dim] + 1;
    if (ceil_mode && (out - 1) * s[dim] >= in + p[dim]) --out;
    return out;
  };
  Index shape = x.shape;
  shape[rank - 2] = out_size(h, 0);
  shape[rank - 1] = out_size(w, 1);
  return Naive::build(shape, [&](const Index& i) {
    double best = -INFINITY, sum = 0;
    int64_t count = 0;
    const int64_t r0 = i[rank - 2] * s[0] - p[0], q0 = i[rank - 1] * s[1] - p[1];
    for (int64_t a = 0; a < k[0]; ++a)
      for (int64_t b = 0; b < k[1]; ++b) {
        const int64_t r = r0 + a * d[0], q = q0 + b * d[1];
        if (r < 0 || r >= h || q < 0 || q >= w) continue;
        Index at = i;
        at[rank - 2] = r;
        at[rank - 1] = q;
        best = std::max(best, x.at(at));
        sum += x.at(at);
        ++count;
      }
    if (kind == PoolKind::max) return best;
    if (kind == PoolKind::mean) return sum / static_cast<double>(count);
    const int64_t rows = std::min(r0 + k[0], h + p[0]) - r0, cols = std::min(q0 + k[1], w + p[1]) - q0;
    return sum / static_cast<double>(rows * cols);
  });
}

/// adaptive average pooling of x [..., H, W] to [..., oh, ow].
Naive naive_adaptive_mean(const Naive& x, int64_t oh, int64_t ow) {
  const size_t rank = x.shape.size();
  const int64_t h = x.shape[rank - 2], w = x.shape[rank - 1];
  Index shape = x.shape;
  shape[rank - 2] = oh;
  shape[rank - 1] = ow;
  return Naive::build(shape, [&](const Index& i) {
    const int64_t r0 = i[rank - 2] * h / oh, r1 = ((i[rank - 2] + 1) * h + oh - 1) / oh;
    const int64_t q0 = i[rank - 1] * w / ow, q1 = ((i[rank - 1] + 1) * w + ow - 1) / ow;
    double sum = 0;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t q = q0; q < q1; ++q) {
        Index at = i;
        at[rank - 2] = r;
        at[rank - 1] = q;
        sum += x.at(at);
      }
    return sum / static_cast<double>((r1 - r0) * (q1 - q0));
  });
}

// The forward Laplacian's step through an activation whose derivatives at v are first(v) and
// second(v): r_k = f' t_k for k < d, r_d = f' t_d + f'' sum_{k<d} t_k^2, for t [d + 1, ...v's shape].
OpRow laplacian_tangent(const std::string& activation, Domain domain, double (*first)(double), double (*second)(double)) {
  return {"laplacian_tangent." + activation,
          {{{3, 4}, {4}}, {{4, 2, 3}, {2, 3}}, {{1, 2}, {2}}, {{2}, {}}},
          domain,
          [activation](const auto& in) { return ops::laplacian_tangent_of(activation, in[0], in[1]); },
          [first, second](const auto& in) {
            const Naive &t = in[0], &v = in[1];
            const int64_t d = t.shape[0] - 1;
            return Naive::build(t.shape, [&](const Index& i) {
              const double x = v.at(Index(i.begin() + 1, i.end()));
              double r = first(x) * t.at(i);
              for (int64_t k = 0; i[0] == d && k < d; ++k) {
                Index j = i;
                j[0] = k;
                r += second(x) * t.at(j) * t.at(j);
              }
              return r;
            });
          },
          1e-5};
}

std::vector<OpRow> build_table() {
  std::vector<OpRow> rows;
  auto row = [&](OpRow r) { rows.push_back(std::move(r)); };

  // Elementwise.
  row(unary("exp", Domain::Real, [](const auto& in) { return exp(in[0]); }, [](double x) { return std::exp(x); }));
  row(unary("log", Domain::Positive, [](const auto& in) { return log(in[0]); }, [](double x) { return std::log(x); }));
  row(unary("sqrt", Domain::Positive, [](const auto& in) { return sqrt(in[0]); }, [](double x) { return std::sqrt(x); }));
  row(unary("sin", Domain::Real, [](const auto& in) { return sin(in[0]); }, [](double x) { return std::sin(x); }));
  row(unary("cos", Domain::Real, [](const auto& in) { return cos(in[0]); }, [](double x) { return std::cos(x); }));
  row(unary("tan", Domain::Small, [](const auto& in) { return tan(in[0]); }, [](double x) { return std::tan(x); }));
  row(unary("tanh", Domain::Real, [](const auto& in) { return tanh(in[0]); }, [](double x) { return std::tanh(x); }));
  row(unary("sigmoid", Domain::Real, [](const auto& in) { return sigmoid(in[0]); },
            [](double x) { return 1 / (1 + std::exp(-x)); }));
  row(unary("relu", Domain::AwayFromZero, [](const auto& in) { return relu(in[0]); },
            [](double x) { return x > 0 ? x : 0.0; }));
  row(unary("abs", Domain::AwayFromZero, [](const auto& in) { return abs(in[0]); }, [](double x) { return std::abs(x); }));
  row(unary("sign", Domain::AwayFromZero, [](const auto& in) { return sign(in[0]); },
            [](double x) { return x > 0 ? 1.0 : -1.0; }));
  row(unary("neg", Domain::Real, [](const auto& in) { return -in[0]; }, [](double x) { return -x; }));
  row(unary("log1p", Domain::Positive, [](const auto& in) { return log1p(in[0]); }, [](double x) { return std::log1p(x); }));
  row(unary("expm1", Domain::Real, [](const auto& in) { return expm1(in[0]); }, [](double x) { return std::expm1(x); }));
  row(unary("erf", Domain::Real, [](const auto& in) { return erf(in[0]); }, [](double x) { return std::erf(x); }));
  // Inside each domain's open interval: the inverse sine and cosine and atanh on (-0.6, 0.6), acosh
  // on (2, 3.5); the rounding functions scaled so that no draw sits next to a jump.
  row(unary("asin", Domain::Small, [](const auto& in) { return asin(in[0] * 0.5); }, [](double x) { return std::asin(x * 0.5); }));
  row(unary("acos", Domain::Small, [](const auto& in) { return acos(in[0] * 0.5); }, [](double x) { return std::acos(x * 0.5); }));
  row(unary("atan", Domain::Real, [](const auto& in) { return atan(in[0]); }, [](double x) { return std::atan(x); }));
  row(unary("sinh", Domain::Real, [](const auto& in) { return sinh(in[0]); }, [](double x) { return std::sinh(x); }));
  row(unary("cosh", Domain::Real, [](const auto& in) { return cosh(in[0]); }, [](double x) { return std::cosh(x); }));
  row(unary("asinh", Domain::Real, [](const auto& in) { return asinh(in[0]); }, [](double x) { return std::asinh(x); }));
  row(unary("acosh", Domain::Positive, [](const auto& in) { return acosh(in[0] + 1.5); },
            [](double x) { return std::acosh(x + 1.5); }));
  row(unary("atanh", Domain::Small, [](const auto& in) { return atanh(in[0] * 0.5); }, [](double x) { return std::atanh(x * 0.5); }));
  row(unary("reciprocal", Domain::AwayFromZero, [](const auto& in) { return reciprocal(in[0]); }, [](double x) { return 1 / x; }));
  row(unary("rsqrt", Domain::Positive, [](const auto& in) { return rsqrt(in[0]); }, [](double x) { return 1 / std::sqrt(x); }));
  row(unary("pow.Scalar", Domain::Real, [](const auto& in) { return square(in[0]); }, [](double x) { return x * x; }));
  row(unary("log2", Domain::Positive, [](const auto& in) { return log2(in[0]); }, [](double x) { return std::log2(x); }));
  row(unary("log10", Domain::Positive, [](const auto& in) { return log10(in[0]); }, [](double x) { return std::log10(x); }));
  row(unary("exp2", Domain::Real, [](const auto& in) { return exp2(in[0]); }, [](double x) { return std::exp2(x); }));
  row(unary("erfc", Domain::Real, [](const auto& in) { return erfc(in[0]); }, [](double x) { return std::erfc(x); }));
  row(unary("floor", Domain::AwayFromZero, [](const auto& in) { return floor(in[0] * 0.4); },
            [](double x) { return std::floor(x * 0.4); }));
  row(unary("ceil", Domain::AwayFromZero, [](const auto& in) { return ceil(in[0] * 0.4); },
            [](double x) { return std::ceil(x * 0.4); }));
  row(unary("round", Domain::AwayFromZero, [](const auto& in) { return round(in[0] * 0.3); },
            [](double x) { return std::nearbyint(x * 0.3); }));
  row(unary("trunc", Domain::AwayFromZero, [](const auto& in) { return trunc(in[0] * 0.4); },
            [](double x) { return std::trunc(x * 0.4); }));
  row(unary("frac", Domain::AwayFromZero, [](const auto& in) { return frac(in[0] * 0.4); },
            [](double x) { return x * 0.4 - std::trunc(x * 0.4); }));
  row(unary("silu", Domain::Real, [](const auto& in) { return silu(in[0]); },
            [](double x) { return x / (1 + std::exp(-x)); }));
  row(unary("softplus", Domain::Real, [](const auto& in) { return softplus(in[0]); },
            [](double x) { return std::log1p(std::exp(x)); }));
  // beta = 2 and a threshold of 5 that normal draws almost never reach (the cut-off at x = 2.5 is a
  // jump of 1e-3 / 2, which finite differences across it would see).
  row(unary("softplus", Domain::Real, [](const auto& in) { return softplus(in[0], 2.0, 5.0); },
            [](double x) { return 2 * x > 5 ? x : std::log1p(std::exp(2 * x)) / 2; }));
  row(unary("gelu", Domain::Real, [](const auto& in) { return gelu(in[0]); },
            [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }));
  row(unary("gelu", Domain::Real, [](const auto& in) { return gelu(in[0], "tanh"); }, [](double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  }));
  // Away from the kink at 0, where the second derivative jumps (and, for alpha != 1, the first).
  row(unary("elu", Domain::AwayFromZero, [](const auto& in) { return elu(in[0]); },
            [](double x) { return x > 0 ? x : std::expm1(x); }));
  row(unary("elu", Domain::AwayFromZero, [](const auto& in) { return elu(in[0], 0.5); },
            [](double x) { return x > 0 ? x : 0.5 * std::expm1(x); }));
  row(unary("leaky_relu", Domain::AwayFromZero, [](const auto& in) { return leaky_relu(in[0], 0.2); },
            [](double x) { return x > 0 ? x : 0.2 * x; }));
  // hardtanh's kinks at its bounds: draws scaled by 2 cross -1 and 1 (no draw lands on them), and
  // relu6's at 0 and 6, which draws scaled by 4 away from zero reach.
  row(unary("hardtanh", Domain::AwayFromZero, [](const auto& in) { return hardtanh(in[0] * 2.0); },
            [](double x) { return std::clamp(x * 2, -1.0, 1.0); }));
  row(unary("hardtanh", Domain::AwayFromZero, [](const auto& in) { return relu6(in[0] * 4.0); },
            [](double x) { return std::clamp(x * 4, 0.0, 6.0); }));
  // hardsigmoid's and hardswish's kinks at +-3, which draws scaled by 2 cross.
  row(unary("hardsigmoid", Domain::Real, [](const auto& in) { return hardsigmoid(in[0] * 2.0); },
            [](double x) { return std::clamp(x * 2 + 3, 0.0, 6.0) / 6; }));
  row(unary("hardswish", Domain::Real, [](const auto& in) { return hardswish(in[0] * 2.0); },
            [](double x) { return x * 2 * std::clamp(x * 2 + 3, 0.0, 6.0) / 6; }));
  row(unary("elu", Domain::AwayFromZero, [](const auto& in) { return selu(in[0]); }, [](double x) {
    return 1.0507009873554804934193349852946 * (x > 0 ? x : 1.6732632423543772848170429916717 * std::expm1(x));
  }));
  row(unary("mish", Domain::Real, [](const auto& in) { return mish(in[0]); },
            [](double x) { return x * std::tanh(std::log1p(std::exp(x))); }));
  row(unary("log_sigmoid", Domain::Real, [](const auto& in) { return logsigmoid(in[0]); },
            [](double x) { return -std::log1p(std::exp(-x)); }));
  // clamp's kinks are its bounds: one bound at 0 away from zero (both sides), then bounds no
  // draw crosses, with every element inside or every element outside.
  row(unary("clamp", Domain::AwayFromZero, [](const auto& in) { return clamp(in[0], 0); },
            [](double x) { return std::max(x, 0.0); }));
  row(unary("clamp", Domain::AwayFromZero, [](const auto& in) { return in[0].clamp(std::nullopt, 0); },
            [](double x) { return std::min(x, 0.0); }));
  row(unary("clamp", Domain::AwayFromZero, [](const auto& in) { return clip(in[0], -1.5, 1.5); },
            [](double x) { return x; }));
  row(unary("clamp", Domain::AwayFromZero, [](const auto& in) { return clamp(in[0], -0.25, 0.25); },
            [](double x) { return x > 0 ? 0.25 : -0.25; }));
  // clamp_min and clamp_max: the same kink at the bound, which the AwayFromZero draws never touch.
  row(unary("clamp_min", Domain::AwayFromZero, [](const auto& in) { return clamp_min(in[0], 0); },
            [](double x) { return std::max(x, 0.0); }));
  row(unary("clamp_max", Domain::AwayFromZero, [](const auto& in) { return in[0].clamp_max(0.0); },
            [](double x) { return std::min(x, 0.0); }));
  // The forward Laplacian through activations as one op (laplacian_tangent.hpp): v is the result of
  // tanh, sigmoid and exp, the input of sin, cos and silu.
  row(laplacian_tangent("tanh", Domain::Small, [](double y) { return 1 - y * y; },
                        [](double y) { return -2 * y * (1 - y * y); }));
  row(laplacian_tangent("sigmoid", Domain::Small, [](double y) { return y * (1 - y); },
                        [](double y) { return y * (1 - y) * (1 - 2 * y); }));
  row(laplacian_tangent("exp", Domain::Positive, [](double y) { return y; }, [](double y) { return y; }));
  row(laplacian_tangent("sin", Domain::Real, [](double x) { return std::cos(x); }, [](double x) { return -std::sin(x); }));
  row(laplacian_tangent("cos", Domain::Real, [](double x) { return -std::sin(x); }, [](double x) { return -std::cos(x); }));
  row(laplacian_tangent(
      "silu", Domain::Real,
      [](double x) {
        const double s = 1 / (1 + std::exp(-x));
        return s * (1 + x * (1 - s));
      },
      [](double x) {
        const double s = 1 / (1 + std::exp(-x));
        return s * (1 - s) * (2 + x * (1 - 2 * s));
      }));
  row({"pow.Scalar", kUnaryShapes, Domain::Positive, [](const auto& in) { return in[0].pow(2.5); },
       [](const auto& in) { return map(in[0], [](double x) { return std::pow(x, 2.5); }); }, 1e-5});
  row({"pow.Scalar", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].pow(3); },
       [](const auto& in) { return map(in[0], [](double x) { return x * x * x; }); }, 1e-5});

  row(unary("rsub", Domain::Real, [](const auto& in) { return 1.5 - in[0]; }, [](double x) { return 1.5 - x; }));
  row(unary("pow.ScalarBase", Domain::Real, [](const auto& in) { return pow(2.5, in[0]); },
            [](double x) { return std::pow(2.5, x); }));
  row(binary("add", Domain::Real, [](const auto& in) { return dydx::add(in[0], in[1], 2.0); },
             [](double x, double y) { return x + 2 * y; }));
  row(binary("sub", Domain::Real, [](const auto& in) { return in[0] - in[1]; }, [](double x, double y) { return x - y; }));
  row(binary("mul", Domain::Real, [](const auto& in) { return in[0] * in[1]; }, [](double x, double y) { return x * y; }));
  row(binary("div", Domain::AwayFromZero, [](const auto& in) { return in[0] / in[1]; },
             [](double x, double y) { return x / y; }));
  row(binary("pow.Tensor", Domain::Positive, [](const auto& in) { return pow(in[0], in[1]); },
             [](double x, double y) { return std::pow(x, y); }));
  row(binary("atan2", Domain::Real, [](const auto& in) { return atan2(in[0], in[1]); },
             [](double x, double y) { return std::atan2(x, y); }));
  row(binary("hypot", Domain::Real, [](const auto& in) { return hypot(in[0], in[1]); },
             [](double x, double y) { return std::hypot(x, y); }));
  row(binary("xlogy", Domain::Positive, [](const auto& in) { return xlogy(in[0], in[1]); },
             [](double x, double y) { return x * std::log(y); }));
  row(binary("maximum", Domain::Real, [](const auto& in) { return maximum(in[0], in[1]); },
             [](double x, double y) { return std::max(x, y); }));
  row(binary("minimum", Domain::Real, [](const auto& in) { return minimum(in[0], in[1]); },
             [](double x, double y) { return std::min(x, y); }));
  row(binary("fmod", Domain::AwayFromZero, [](const auto& in) { return fmod(in[0], in[1]); },
             [](double x, double y) { return std::fmod(x, y); }));
  row(binary("remainder", Domain::AwayFromZero, [](const auto& in) { return remainder(in[0], in[1]); },
             [](double x, double y) { return x - std::floor(x / y) * y; }));
  // Piecewise constant: every derivative zero (DivBackward2); the seeded draws cross no jump.
  row(binary("div.floor", Domain::AwayFromZero, [](const auto& in) { return div(in[0], in[1], "floor"); },
             [](double x, double y) { return std::floor(x / y); }));
  row(binary("div.trunc", Domain::AwayFromZero, [](const auto& in) { return div(in[0], in[1], "trunc"); },
             [](double x, double y) { return std::trunc(x / y); }));
  row({"where", kBinaryShapes, Domain::Real,
       [](const auto& in) {
         Tensor cond = gt(in[0].detach(), in[1].detach());
         return where(cond, in[0], in[1]);
       },
       [](const auto& in) { return zip(in[0], in[1], [](double x, double y) { return x > y ? x : y; }); }, 1e-6});

  // Linear algebra.
  row({"mm", {{{3, 4}, {4, 2}}, {{1, 5}, {5, 1}}, {{3, 1}, {1, 4}}}, Domain::Real, [](const auto& in) { return mm(in[0], in[1]); },
       [](const auto& in) { return matmul(in[0], in[1]); }, 1e-5});
  row({"bmm", {{{2, 3, 4}, {2, 4, 2}}}, Domain::Real, [](const auto& in) { return bmm(in[0], in[1]); },
       [](const auto& in) { return matmul(in[0], in[1]); }, 1e-5});
  // dot and mv: sums of products, element by element.
  row({"dot", {{{5}, {5}}, {{1}, {1}}}, Domain::Real, [](const auto& in) { return dot(in[0], in[1]); },
       [](const auto& in) {
         return Naive::build({}, [&](const Index&) {
           double acc = 0;
           for (int64_t p = 0; p < in[0].shape[0]; ++p) acc += in[0].at({p}) * in[1].at({p});
           return acc;
         });
       },
       1e-5});
  row({"mv", {{{3, 4}, {4}}, {{1, 2}, {2}}}, Domain::Real, [](const auto& in) { return mv(in[0], in[1]); },
       [](const auto& in) {
         return Naive::build({in[0].shape[0]}, [&](const Index& i) {
           double acc = 0;
           for (int64_t p = 0; p < in[0].shape[1]; ++p) acc += in[0].at({i[0], p}) * in[1].at({p});
           return acc;
         });
       },
       1e-5});
  // A bias row (the fused path), a full input, a column and a scalar; then beta and alpha.
  const std::vector<Shapes> addmm_shapes = {
      {{4}, {3, 5}, {5, 4}}, {{1, 4}, {3, 2}, {2, 4}}, {{3, 4}, {3, 5}, {5, 4}}, {{3, 1}, {3, 5}, {5, 4}}, {{}, {2, 3}, {3, 2}}};
  row({"addmm", addmm_shapes, Domain::Real, [](const auto& in) { return addmm(in[0], in[1], in[2]); },
       [](const auto& in) { return zip(in[0], matmul(in[1], in[2]), [](double c, double p) { return c + p; }); }, 1e-5});
  row({"addmm", addmm_shapes, Domain::Real, [](const auto& in) { return addmm(in[0], in[1], in[2], 0.5, -2.0); },
       [](const auto& in) {
         return zip(in[0], matmul(in[1], in[2]), [](double c, double p) { return 0.5 * c - 2.0 * p; });
       },
       1e-5});

  // Convolution, im2col and pooling (src/ops/unfold.cpp, conv.cpp, pool.cpp), on small odd shapes
  // with every window option off its default.
  namespace F = nn::functional;
  const auto unfold_options = F::UnfoldFuncOptions({2, 3}).dilation({1, 2}).padding({0, 1}).stride({2, 1});
  row({"im2col", {{{2, 3, 5, 4}}, {{3, 4, 5}}}, Domain::Real, [=](const auto& in) { return F::unfold(in[0], unfold_options); },
       [](const auto& in) { return naive_unfold(in[0], {2, 3}, {1, 2}, {0, 1}, {2, 1}); }, 1e-6});
  // fold's input [N, C kh kw, L] for output 5 x 4 with unfold_options' window (L = 2 x 2).
  const auto fold_options = F::FoldFuncOptions({5, 4}, {2, 3}).dilation({1, 2}).padding({0, 1}).stride({2, 1});
  row({"col2im", {{{2, 12, 4}}, {{6, 4}}}, Domain::Real, [=](const auto& in) { return F::fold(in[0], fold_options); },
       [](const auto& in) { return naive_fold(in[0], {5, 4}, {2, 3}, {1, 2}, {0, 1}, {2, 1}); }, 1e-6});
  row({"convolution", {{{2, 4, 5, 5}, {6, 2, 3, 2}, {6}}, {{4, 5, 5}, {6, 2, 3, 2}, {6}}, {{2, 4, 5, 5}, {6, 2, 3, 2}}},
       Domain::Real,
       [](const auto& in) {
         return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), {2, 1}, {1, 0}, {1, 2}, 2);
       },
       [](const auto& in) {
         return naive_conv(in[0], in[1], in.size() > 2 ? &in[2] : nullptr, {2, 1}, {1, 0}, {1, 2}, 2);
       },
       1e-5});
  row({"convolution", {{{2, 3, 7}, {4, 3, 3}, {4}}}, Domain::Real,
       [](const auto& in) { return F::conv1d(in[0], in[1], F::Conv1dFuncOptions().bias(in[2]).stride(2).padding(1)); },
       [](const auto& in) {
         auto unsqueeze = [](Naive t, size_t at) {
           t.shape.insert(t.shape.begin() + static_cast<int64_t>(at), 1);
           return t;
         };
         Naive y = naive_conv(unsqueeze(in[0], 2), unsqueeze(in[1], 2), &in[2], {1, 2}, {0, 1}, {1, 1}, 1);
         y.shape.erase(y.shape.begin() + 2);
         return y;
       },
       1e-5});
  row({"convolution", {{{1, 2, 4, 5}, {3, 2, 2, 2}}}, Domain::Real,
       [](const auto& in) { return F::conv2d(in[0], in[1], F::Conv2dFuncOptions().padding(kSame)); },
       [](const auto& in) {
         Naive y = naive_conv(in[0], in[1], nullptr, {1, 1}, {1, 1}, {1, 1}, 1);  // then drop row 0 and column 0
         return Naive::build({1, 3, 4, 5}, [&](const Index& i) { return y.at({i[0], i[1], i[2] + 1, i[3] + 1}); });
       },
       1e-5});
  // Random normal inputs have no ties, so the maxima stay put under finite differences.
  row({"max_pool2d", {{{2, 3, 5, 5}}, {{2, 6, 7}}}, Domain::Real,
       [](const auto& in) { return F::max_pool2d(in[0], F::MaxPool2dFuncOptions(3).stride(2).padding(1).ceil_mode(true)); },
       [](const auto& in) { return naive_pool(in[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, PoolKind::max); }, 0});
  row({"max_pool2d", {{{1, 2, 6, 7}}}, Domain::Real,
       [](const auto& in) { return max_pool2d(in[0], {2, 3}, {1, 2}, {1, 0}, {2, 1}); },
       [](const auto& in) { return naive_pool(in[0], {2, 3}, {1, 2}, {1, 0}, {2, 1}, false, PoolKind::max); }, 0});
  row({"avg_pool2d", {{{2, 3, 5, 5}}, {{2, 6, 7}}}, Domain::Real,
       [](const auto& in) {
         return F::avg_pool2d(in[0], F::AvgPool2dFuncOptions(3).stride(2).padding(1).ceil_mode(true));
       },
       [](const auto& in) { return naive_pool(in[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, PoolKind::mean_with_pad); },
       1e-6});
  row({"avg_pool2d", {{{1, 2, 6, 7}}}, Domain::Real,
       [](const auto& in) { return avg_pool2d(in[0], {2, 3}, {2, 2}, {1, 1}, true, false); },
       [](const auto& in) { return naive_pool(in[0], {2, 3}, {2, 2}, {1, 1}, {1, 1}, true, PoolKind::mean); }, 1e-6});
  row({"adaptive_avg_pool2d", {{{2, 3, 5, 7}}, {{2, 4, 4}}}, Domain::Real,
       [](const auto& in) { return F::adaptive_avg_pool2d(in[0], F::AdaptiveAvgPool2dFuncOptions({3, 2})); },
       [](const auto& in) { return naive_adaptive_mean(in[0], 3, 2); }, 1e-6});
  // avg_pool2d's VJP as an op of its own: what a double backward through the pool runs.
  row({"avg_pool2d_backward", {{{2, 2, 3, 3}}}, Domain::Real,
       [](const auto& in) {
         Tensor x = zeros({2, 2, 5, 5}, in[0].dtype()).requires_grad_();
         Tensor y = avg_pool2d(x, 3, 2, 1, true, false);
         return dydx::grad({y}, {x}, {in[0]}, {.create_graph = true})[0];
       },
       [](const auto& in) {
         // <adjoint(g), e_i> = <g, pool(e_i)>: the pool of each unit input, read against g.
         return Naive::build({2, 2, 5, 5}, [&](const Index& i) {
           Naive unit = Naive::build({1, 1, 5, 5}, [&](const Index& j) { return j[2] == i[2] && j[3] == i[3] ? 1.0 : 0.0; });
           Naive pooled = naive_pool(unit, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, PoolKind::mean);
           double v = 0;
           for (int64_t a = 0; a < 3; ++a)
             for (int64_t b = 0; b < 3; ++b) v += pooled.at({0, 0, a, b}) * in[0].at({i[0], i[1], a, b});
           return v;
         });
       },
       1e-6});

  // Reductions.
  auto sum_of = [](double a, double b) { return a + b; };
  auto max_of = [](double a, double b) { return std::max(a, b); };
  auto min_of = [](double a, double b) { return std::min(a, b); };
  row({"sum", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].sum(); },
       [=](const auto& in) { return reduce(in[0], {}, false, sum_of); }, 1e-5});
  row({"sum.dim", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].sum({0, -1}, true); },
       [=](const auto& in) { return reduce(in[0], {0, -1}, true, sum_of); }, 1e-5});
  row({"sum.dim", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].sum({1}); },
       [=](const auto& in) { return reduce(in[0], {1}, false, sum_of); }, 1e-5});
  row({"mean", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].mean(); },
       [=](const auto& in) {
         Naive s = reduce(in[0], {}, false, sum_of);
         return map(s, [n = static_cast<double>(in[0].values.size())](double v) { return v / n; });
       },
       1e-5});
  row({"mean.dim", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].mean({0}); },
       [=](const auto& in) {
         Naive s = reduce(in[0], {0}, false, sum_of);
         return map(s, [n = static_cast<double>(in[0].shape[0])](double v) { return v / n; });
       },
       1e-5});
  row({"max", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].max(); },
       [=](const auto& in) { return reduce(in[0], {}, false, max_of); }, 1e-6});
  row({"min", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].min(); },
       [=](const auto& in) { return reduce(in[0], {}, false, min_of); }, 1e-6});
  row({"max.dim", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return std::get<0>(in[0].max(1)); },
       [=](const auto& in) { return reduce(in[0], {1}, false, max_of); }, 1e-6});
  row({"min.dim", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real,
       [](const auto& in) { return std::get<0>(in[0].min(-1, true)); },
       [=](const auto& in) { return reduce(in[0], {-1}, true, min_of); }, 1e-6});
  // nan_to_num: the identity on finite values (its replacements are checked against PyTorch's by the
  // edge cases).
  row({"nan_to_num", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].nan_to_num(1.0, 2.0, -3.0); },
       [](const auto& in) { return in[0]; }, 1e-6});
  // amax and amin over dims: consecutive ones of a dense input (read in place), dims apart (a permuted
  // copy), and every dim.
  row({"amax", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].amax({0, -1}, true); },
       [=](const auto& in) { return reduce(in[0], {0, -1}, true, max_of); }, 1e-6});
  row({"amax", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].amax(); },
       [=](const auto& in) { return reduce(in[0], {}, false, max_of); }, 1e-6});
  row({"amin", {{{2, 3, 2}}}, Domain::Real, [](const auto& in) { return amin(in[0], {0, 2}); },
       [=](const auto& in) { return reduce(in[0], {0, 2}, false, min_of); }, 1e-6});
  row({"amin", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].amin({1}, true); },
       [=](const auto& in) { return reduce(in[0], {1}, true, min_of); }, 1e-6});

  // Scans: the running value along dim at each position.
  auto scan_along = [](const Naive& x, int64_t dim, const std::function<double(double, double)>& combine) {
    if (x.shape.empty()) return x;
    const int64_t d = dim < 0 ? dim + static_cast<int64_t>(x.shape.size()) : dim;
    return Naive::build(x.shape, [&](const Index& i) {
      Index j = i;
      j[d] = 0;
      double acc = x.at(j);
      for (j[d] = 1; j[d] <= i[d]; ++j[d]) acc = combine(acc, x.at(j));
      return acc;
    });
  };
  row({"cumsum", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].cumsum(-1); },
       [=](const auto& in) { return scan_along(in[0], -1, sum_of); }, 1e-5});
  row({"cumsum", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return cumsum(in[0], 0); },
       [=](const auto& in) { return scan_along(in[0], 0, sum_of); }, 1e-5});

  // Normalising exponentials: log(e^a + e^b) folded along the dims, as a max plus a log1p.
  auto log_add_exp = [](double a, double b) {
    const double m = std::max(a, b);
    return m + std::log1p(std::exp(std::min(a, b) - m));
  };
  auto softmax_ref = [=](int64_t dim, bool log) {
    return [=](const std::vector<Naive>& in) {
      Naive lse = in[0].shape.empty() ? in[0] : reduce(in[0], {dim}, true, log_add_exp);
      return zip(in[0], lse, [log](double x, double l) { return log ? x - l : std::exp(x - l); });
    };
  };
  row({"softmax", kUnaryShapes, Domain::Real, [](const auto& in) { return softmax(in[0], -1); }, softmax_ref(-1, false), 1e-5});
  row({"softmax", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].softmax(0); },
       softmax_ref(0, false), 1e-5});
  row({"log_softmax", kUnaryShapes, Domain::Real, [](const auto& in) { return log_softmax(in[0], -1); },
       softmax_ref(-1, true), 1e-5});
  row({"log_softmax", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].log_softmax(1); },
       softmax_ref(1, true), 1e-5});
  row({"logsumexp", kUnaryShapes, Domain::Real, [](const auto& in) { return logsumexp(in[0], {}); },
       [=](const auto& in) { return reduce(in[0], {}, false, log_add_exp); }, 1e-5});
  row({"logsumexp", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].logsumexp({0, -1}, true); },
       [=](const auto& in) { return reduce(in[0], {0, -1}, true, log_add_exp); }, 1e-5});
  row({"logsumexp", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].logsumexp({1}); },
       [=](const auto& in) { return reduce(in[0], {1}, false, log_add_exp); }, 1e-5});
  // cross_entropy with class indices, each row's loss: w[t] (logsumexp of the row - x[n, t]), 0 where t
  // is ignored (-100). The weight is a constant: one that is differentiated takes the composed ops.
  auto cross_entropy_ref = [=](std::vector<int64_t> target, std::vector<double> weight) {
    return [=](const std::vector<Naive>& in) {
      const Naive lse = reduce(in[0], {1}, false, log_add_exp);
      return Naive::build({in[0].shape[0]}, [&](const Index& i) {
        const int64_t t = target[i[0]];
        return t < 0 ? 0.0 : weight[t] * (lse.at({i[0]}) - in[0].at({i[0], t}));
      });
    };
  };
  row({"cross_entropy", {{{3, 4}}}, Domain::Real,
       [](const auto& in) {
         return nn::functional::cross_entropy(in[0], tensor({2, 0, 3}, dtype(kInt64)),
                                              nn::functional::CrossEntropyFuncOptions().reduction(kNone));
       },
       cross_entropy_ref({2, 0, 3}, {1, 1, 1, 1}), 1e-5});
  row({"cross_entropy", {{{4, 3}}}, Domain::Real,
       [](const auto& in) {
         return nn::functional::cross_entropy(
             in[0], tensor({1, -100, 2, 1}, dtype(kInt64)),
             nn::functional::CrossEntropyFuncOptions().reduction(kNone).weight(tensor({0.5, 2.0, 1.5}, in[0].dtype())));
       },
       cross_entropy_ref({1, -100, 2, 1}, {0.5, 2.0, 1.5}), 1e-5});

  // Moments and norms: the reference folds sums, then finishes the statistic.
  auto naive_var = [=](const Naive& x, std::vector<int64_t> dims, bool keepdim, double correction) {
    const Naive total = reduce(x, dims, true, sum_of);
    const double n = static_cast<double>(x.values.size()) / static_cast<double>(total.values.size());
    const Naive deviations = zip(x, map(total, [n](double t) { return t / n; }), [](double a, double m) { return (a - m) * (a - m); });
    return map(reduce(deviations, dims, keepdim, sum_of), [=](double s) { return s / (n - correction); });
  };
  auto naive_norm = [=](const Naive& x, std::vector<int64_t> dims, bool keepdim, double p) {
    if (std::isinf(p)) return reduce(map(x, [](double a) { return std::abs(a); }), dims, keepdim, p > 0 ? max_of : min_of);
    const Naive powers = map(x, [p](double a) { return p == 0 ? double(a != 0) : std::pow(std::abs(a), p); });
    return map(reduce(powers, dims, keepdim, sum_of), [p](double s) { return p == 0 ? s : std::pow(s, 1 / p); });
  };
  row({"var", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].var(false); },
       [=](const auto& in) { return naive_var(in[0], {}, false, 0); }, 1e-5});
  row({"var", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].var({0, -1}, true, true); },
       [=](const auto& in) { return naive_var(in[0], {0, -1}, true, 1); }, 1e-5});
  row({"var", {{{3, 4}}, {{2, 5, 2}}}, Domain::Real, [](const auto& in) { return var(in[0], {1}, std::optional<int64_t>(2)); },
       [=](const auto& in) { return naive_var(in[0], {1}, false, 2); }, 1e-5});
  auto naive_sqrt = [](const Naive& v) { return map(v, [](double a) { return std::sqrt(a); }); };
  // Not 0-D: the std of one element is 0, where (as in PyTorch) the masked first derivative has nan derivatives.
  row({"std", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return in[0].std(false); },
       [=](const auto& in) { return naive_sqrt(naive_var(in[0], {}, false, 0)); }, 1e-5});
  // (Over a last dim of 5, not 2: the order-4 Taylor coefficients of the std of two random values,
  // divided by powers of a spread that may be tiny, lose 3% in float32 for some draws of the inputs.)
  row({"std", {{{3, 4}}, {{2, 3, 5}}}, Domain::Real, [](const auto& in) { return in[0].std({-1}, true, true); },
       [=](const auto& in) { return naive_sqrt(naive_var(in[0], {-1}, true, 1)); }, 1e-5});
  row({"std", {{{3, 4}}}, Domain::Real, [](const auto& in) { return dydx::std(in[0], {0, 1}, std::optional<int64_t>(0)); },
       [=](const auto& in) { return naive_sqrt(naive_var(in[0], {0, 1}, false, 0)); }, 1e-5});
  // Away from zero: the p-norms' kinks (p <= 1) and poles (p < 2 in the second derivative) lie there.
  row({"norm", kUnaryShapes, Domain::AwayFromZero, [](const auto& in) { return in[0].norm(); },
       [=](const auto& in) { return naive_norm(in[0], {}, false, 2); }, 1e-5});
  for (double p : {1.0, 3.0, 0.5, -1.5, 1.5, 0.0, double(INFINITY), -double(INFINITY)})
    row({"norm", {{{3, 4}}, {{2, 3, 2}}}, Domain::AwayFromZero, [p](const auto& in) { return in[0].norm(p, {1}, p > 1); },
         [=](const auto& in) { return naive_norm(in[0], {1}, p > 1, p); }, 1e-5});
  row({"norm", {{{3, 4}}}, Domain::AwayFromZero, [](const auto& in) { return norm(in[0], 2, {0, 1}, true); },
       [=](const auto& in) { return naive_norm(in[0], {0, 1}, true, 2); }, 1e-5});
  row({"linalg_vector_norm", {{{3, 4}}, {{2, 3, 2}}}, Domain::AwayFromZero,
       [](const auto& in) { return linalg::vector_norm(in[0], 2.5, {-1}); },
       [=](const auto& in) { return naive_norm(in[0], {-1}, false, 2.5); }, 1e-5});
  row({"linalg_vector_norm", kUnaryShapes, Domain::AwayFromZero, [](const auto& in) { return linalg::vector_norm(in[0]); },
       [=](const auto& in) { return naive_norm(in[0], {}, false, 2); }, 1e-5});

  // layer_norm: (x - mean) / sqrt(var + 1e-5) over the trailing dims, then * weight + bias.
  auto naive_layer_norm = [=](const std::vector<Naive>& in, std::vector<int64_t> dims) {
    const Naive total = reduce(in[0], dims, true, sum_of);
    const double n = static_cast<double>(in[0].values.size()) / static_cast<double>(total.values.size());
    const Naive centered = zip(in[0], map(total, [n](double t) { return t / n; }), [](double a, double m) { return a - m; });
    const Naive v = naive_var(in[0], dims, true, 0);
    Naive out = zip(centered, v, [](double c, double var) { return c / std::sqrt(var + 1e-5); });
    if (in.size() > 1) out = zip(out, in[1], [](double a, double w) { return a * w; });
    if (in.size() > 2) out = zip(out, in[2], [](double a, double b) { return a + b; });
    return out;
  };
  row({"layer_norm", {{{2, 3, 4}, {4}, {4}}, {{3, 5}, {5}, {5}}}, Domain::Real,
       [](const auto& in) { return layer_norm(in[0], {in[0].size(-1)}, in[1], in[2]); },
       [=](const auto& in) { return naive_layer_norm(in, {-1}); }, 1e-4});
  row({"layer_norm", {{{2, 3, 4}, {3, 4}}}, Domain::Real, [](const auto& in) { return layer_norm(in[0], {3, 4}, in[1]); },
       [=](const auto& in) { return naive_layer_norm(in, {-2, -1}); }, 1e-4});
  row({"layer_norm", {{{3, 4}}, {{2, 2, 3}}}, Domain::Real, [](const auto& in) { return layer_norm(in[0], {in[0].size(-1)}); },
       [=](const auto& in) { return naive_layer_norm(in, {-1}); }, 1e-4});

  // Joining.
  row({"cat", {{{2, 3}, {4, 3}}}, Domain::Real, [](const auto& in) { return cat({in[0], in[1]}, 0); },
       [](const auto& in) {
         return Naive::build({in[0].shape[0] + in[1].shape[0], 3}, [&](const Index& i) {
           return i[0] < in[0].shape[0] ? in[0].at(i) : in[1].at({i[0] - in[0].shape[0], i[1]});
         });
       },
       1e-6});
  row({"stack", {{{2, 3}, {2, 3}}}, Domain::Real, [](const auto& in) { return stack({in[0], in[1]}, 1); },
       [](const auto& in) {
         return Naive::build({2, 2, 3}, [&](const Index& i) { return in[i[1]].at({i[0], i[2]}); });
       },
       1e-6});

  // flip copies with the order reversed along its dims.
  row({"flip", {{{2, 3, 4}}}, Domain::Real, [](const auto& in) { return in[0].flip({0, -1}); },
       gather([](const Naive& x) { return x.shape; }, [](const Index& i) { return Index{1 - i[0], i[1], 3 - i[2]}; }), 0});
  row({"flip", {{{3, 4}}, {{}}}, Domain::Real, [](const auto& in) { return flip(in[0], {0}); },
       gather([](const Naive& x) { return x.shape; },
              [](const Index& i) { return i.empty() ? i : Index{2 - i[0], i[1]}; }), 0});
  // Copies that move values: repeat (a new leading dim, a zero-free tiling) and roll (along dims,
  // repeated and negative ones included, and flattened).
  row({"repeat", {{{2, 3}}, {{}}}, Domain::Real, [](const auto& in) { return in[0].repeat({2, 1, 3}); },
       [](const auto& in) {
         const Naive& x = in[0];
         const Index shape = x.shape.empty() ? Index{2, 1, 3} : Index{2, x.shape[0], 3 * x.shape[1]};
         return Naive::build(shape, [&](const Index& i) {
           return x.shape.empty() ? x.at({}) : x.at({i[1], i[2] % x.shape[1]});
         });
       },
       0});
  row({"roll", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].roll({1, -5, 2}, {0, 1, -1}); },
       gather([](const Naive&) { return Index{3, 4}; }, [](const Index& i) { return Index{(i[0] + 2) % 3, (i[1] + 3) % 4}; }),
       0});
  // Dims that move nothing dropped: a size-1 dim, and dim 0, whose shifts -2^63 (1 modulo 3, reduced
  // without overflow) and 2 add up to its size; dim 2's 3 and -1 add up to 2. A transposed input tiled.
  row({"roll", {{{3, 1, 4}}}, Domain::Real,
       [](const auto& in) { return in[0].roll({std::numeric_limits<int64_t>::min(), 5, 3, -1, 2}, {0, 1, 2, -1, 0}); },
       gather([](const Naive&) { return Index{3, 1, 4}; },
              [](const Index& i) { return Index{i[0], 0, (i[2] + 2) % 4}; }),
       0});
  row({"repeat", {{{2, 3}}}, Domain::Real, [](const auto& in) { return in[0].t().repeat({2, 1}); },
       gather([](const Naive&) { return Index{6, 2}; }, [](const Index& i) { return Index{i[1], i[0] % 3}; }), 0});
  row({"roll", {{{2, 3}}, {{}}}, Domain::Real, [](const auto& in) { return roll(in[0], -7); },
       [](const auto& in) {
         const Naive& x = in[0];
         return Naive::build(x.shape, [&](const Index& i) {
           if (x.shape.empty()) return x.at({});
           const int64_t flat = (i[0] * 3 + i[1] + 7) % 6;
           return x.at({flat / 3, flat % 3});
         });
       },
       0});

  // Views.
  row({"select", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].select(1, -2); },
       gather([](const Naive& x) { return Index{x.shape[0]}; }, [](const Index& i) { return Index{i[0], 2}; }), 0});
  row({"slice", {{{5, 4}}}, Domain::Real, [](const auto& in) { return in[0].slice(0, 1, 5, 2); },
       gather([](const Naive&) { return Index{2, 4}; }, [](const Index& i) { return Index{1 + 2 * i[0], i[1]}; }), 0});
  // split, chunk and split_with_sizes: a middle piece and a last, shorter one; unbind: one piece.
  row({"split", {{{7, 3}}}, Domain::Real, [](const auto& in) { return in[0].split(3, 0)[1]; },
       gather([](const Naive&) { return Index{3, 3}; }, [](const Index& i) { return Index{3 + i[0], i[1]}; }), 0});
  row({"split", {{{3, 7}}}, Domain::Real, [](const auto& in) { return in[0].chunk(3, -1)[2]; },
       gather([](const Naive&) { return Index{3, 1}; }, [](const Index& i) { return Index{i[0], 6}; }), 0});
  row({"split_with_sizes", {{{2, 6}}}, Domain::Real, [](const auto& in) { return in[0].split({1, 0, 4, 1}, 1)[2]; },
       gather([](const Naive&) { return Index{2, 4}; }, [](const Index& i) { return Index{i[0], 1 + i[1]}; }), 0});
  row({"unbind", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].unbind(1)[2]; },
       gather([](const Naive& x) { return Index{x.shape[0]}; }, [](const Index& i) { return Index{i[0], 2}; }), 0});
  row({"permute", {{{2, 3, 4}}}, Domain::Real, [](const auto& in) { return in[0].permute({2, 0, 1}); },
       gather([](const Naive&) { return Index{4, 2, 3}; }, [](const Index& i) { return Index{i[1], i[2], i[0]}; }), 0});
  row({"transpose", {{{2, 3, 4}}}, Domain::Real, [](const auto& in) { return in[0].transpose(0, 2); },
       gather([](const Naive&) { return Index{4, 3, 2}; }, [](const Index& i) { return Index{i[2], i[1], i[0]}; }), 0});
  row({"t", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].t(); },
       gather([](const Naive&) { return Index{4, 3}; }, [](const Index& i) { return Index{i[1], i[0]}; }), 0});
  row({"expand", {{{3, 1}}}, Domain::Real, [](const auto& in) { return in[0].expand({2, 3, 4}); },
       gather([](const Naive&) { return Index{2, 3, 4}; }, [](const Index& i) { return Index{i[1], 0}; }), 0});
  row({"unsqueeze", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].unsqueeze(1); },
       gather([](const Naive&) { return Index{3, 1, 4}; }, [](const Index& i) { return Index{i[0], i[2]}; }), 0});
  row({"squeeze", {{{3, 1, 4}}}, Domain::Real, [](const auto& in) { return in[0].squeeze(); },
       gather([](const Naive&) { return Index{3, 4}; }, [](const Index& i) { return Index{i[0], 0, i[1]}; }), 0});
  row({"squeeze.dim", {{{3, 1, 4}}}, Domain::Real, [](const auto& in) { return in[0].squeeze(1); },
       gather([](const Naive&) { return Index{3, 4}; }, [](const Index& i) { return Index{i[0], 0, i[1]}; }), 0});
  row({"view", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].reshape({2, 6}); },
       gather([](const Naive&) { return Index{2, 6}; },
              [](const Index& i) {
                const int64_t flat = i[0] * 6 + i[1];
                return Index{flat / 4, flat % 4};
              }),
       0});
  row({"as_strided", {{{3, 4}}}, Domain::Real,
       [](const auto& in) {
         Tensor x = in[0].contiguous();
         return x.as_strided({2, 2}, {4, 1}, x.storage_offset() + 1);
       },
       gather([](const Naive&) { return Index{2, 2}; }, [](const Index& i) { return Index{i[0], i[1] + 1}; }), 0});
  // The block x[0:2, 1:3] through the input's own strides, so that every layout (transposed,
  // sliced, expanded) is differentiated through as_strided itself, as PyTorch does.
  row({"as_strided", {{{3, 4}}}, Domain::Real,
       [](const auto& in) {
         const Tensor& x = in[0];
         return x.as_strided({2, 2}, {x.stride(0), x.stride(1)}, x.storage_offset() + x.stride(1));
       },
       gather([](const Naive&) { return Index{2, 2}; }, [](const Index& i) { return Index{i[0], i[1] + 1}; }), 0});
  row({"as_strided_scatter", {{{2, 2}}}, Domain::Real,
       [](const auto& in) {
         // The gradient of an overlapping as_strided view is an as_strided_scatter.
         Tensor base = zeros({3, 3}, in[0].dtype()).requires_grad_(true);
         Tensor view = base.as_strided({2, 2}, {3, 1}, 1);
         return grad({view}, {base}, {in[0]}, std::nullopt, true)[0];
       },
       [](const auto& in) {
         return Naive::build({3, 3}, [&](const Index& i) {
           const int64_t flat = i[0] * 3 + i[1] - 1;
           return flat >= 0 && flat % 3 < 2 && flat / 3 < 2 ? in[0].at({flat / 3, flat % 3}) : 0.0;
         });
       },
       1e-6});

  // Matrix structure: diagonal is a view (the diagonal becomes the last dim); diag, trace, tril and
  // triu copy. Offsets above, below and beyond the matrix, batched and non-square shapes.
  row({"diagonal", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].diagonal(1); },
       gather([](const Naive&) { return Index{3}; }, [](const Index& i) { return Index{i[0], i[0] + 1}; }), 0});
  // dims (2, 0) of [3, 2, 4] at offset -1: element i is x[i, k, i + 1], dim 1 (k) stays in front.
  row({"diagonal", {{{3, 2, 4}}}, Domain::Real, [](const auto& in) { return diagonal(in[0], -1, 2, -3); },
       gather([](const Naive&) { return Index{2, 3}; }, [](const Index& i) { return Index{i[1], i[0], i[1] + 1}; }), 0});
  row({"diag", {{{4}}}, Domain::Real, [](const auto& in) { return diag(in[0], -1); },
       [](const auto& in) {
         return Naive::build({5, 5}, [&](const Index& i) { return i[0] - i[1] == 1 ? in[0].at({i[1]}) : 0.0; });
       },
       0});
  row({"diag", {{{3, 4}}}, Domain::Real, [](const auto& in) { return in[0].diag(1); },
       gather([](const Naive&) { return Index{3}; }, [](const Index& i) { return Index{i[0], i[0] + 1}; }), 0});
  row({"diag", {{{4, 3}}}, Domain::Real, [](const auto& in) { return diag(in[0], -2); },
       gather([](const Naive&) { return Index{2}; }, [](const Index& i) { return Index{i[0] + 2, i[0]}; }), 0});
  auto naive_trace = [](const auto& in) {
    double sum = 0;
    for (int64_t i = 0; i < std::min(in[0].shape[0], in[0].shape[1]); ++i) sum += in[0].at({i, i});
    return Naive{{}, {sum}};
  };
  row({"trace", {{{3, 4}}, {{4, 4}}, {{5, 2}}}, Domain::Real, [](const auto& in) { return trace(in[0]); }, naive_trace,
       1e-6});
  // The band of each matrix of x: kept where keep(row, col), zero elsewhere.
  auto band = [](std::function<bool(int64_t, int64_t)> keep) {
    return [=](const auto& in) {
      return Naive::build(in[0].shape, [&](const Index& i) {
        const size_t r = i.size();
        return keep(i[r - 2], i[r - 1]) ? in[0].at(i) : 0.0;
      });
    };
  };
  row({"tril", {{{3, 4}}, {{2, 3, 4}}}, Domain::Real, [](const auto& in) { return tril(in[0]); },
       band([](int64_t i, int64_t j) { return j <= i; }), 0});
  row({"tril", {{{4, 3}}, {{2, 1, 3, 3}}}, Domain::Real, [](const auto& in) { return in[0].tril(-1); },
       band([](int64_t i, int64_t j) { return j <= i - 1; }), 0});
  row({"tril", {{{3, 4}}}, Domain::Real, [](const auto& in) { return tril(in[0], 2); },
       band([](int64_t i, int64_t j) { return j <= i + 2; }), 0});
  row({"triu", {{{3, 4}}, {{2, 3, 4}}}, Domain::Real, [](const auto& in) { return triu(in[0]); },
       band([](int64_t i, int64_t j) { return j >= i; }), 0});
  row({"triu", {{{4, 3}}, {{2, 1, 3, 3}}}, Domain::Real, [](const auto& in) { return in[0].triu(1); },
       band([](int64_t i, int64_t j) { return j >= i + 1; }), 0});
  row({"triu", {{{3, 4}}}, Domain::Real, [](const auto& in) { return triu(in[0], -2); },
       band([](int64_t i, int64_t j) { return j >= i - 2; }), 0});

  // Indexing: fixed int64 indices, duplicates included (their gradients add up), captured by each row.
  const Tensor gather_cols = tensor({{0, 3, 3}, {2, 0, 1}}, dtype(kInt64));        // dim 1 of [3, 4]
  const Tensor gather_rows = tensor({{2, 0, 1, 1}, {0, 0, 2, 1}}, dtype(kInt64));  // dim 0 of [3, 4]
  auto index_at = [](const Tensor& index, int64_t i, int64_t j) { return index.select(0, i).select(0, j).item<int64_t>(); };
  row({"gather", {{{3, 4}}}, Domain::Real, [=](const auto& in) { return in[0].gather(1, gather_cols); },
       [=](const auto& in) {
         return Naive::build({2, 3}, [&](const Index& i) { return in[0].at({i[0], index_at(gather_cols, i[0], i[1])}); });
       },
       0});
  row({"gather", {{{3, 4}}}, Domain::Real, [=](const auto& in) { return gather(in[0], -2, gather_rows); },
       [=](const auto& in) {
         return Naive::build({2, 4}, [&](const Index& i) { return in[0].at({index_at(gather_rows, i[0], i[1]), i[1]}); });
       },
       0});
  // src as large as the index, and larger (its elements past the index get no gradient).
  row({"scatter_add", {{{3, 4}, {2, 3}}, {{3, 4}, {3, 5}}}, Domain::Real,
       [=](const auto& in) { return in[0].scatter_add(1, gather_cols, in[1]); },
       [=](const auto& in) {
         return Naive::build({3, 4}, [&](const Index& i) {
           double v = in[0].at(i);
           for (int64_t j = 0; j < 3 && i[0] < 2; ++j)
             if (index_at(gather_cols, i[0], j) == i[1]) v += in[1].at({i[0], j});
           return v;
         });
       },
       1e-6});
  row({"scatter_add", {{{3, 4}, {2, 4}}}, Domain::Real,
       [=](const auto& in) { return scatter_add(in[0], 0, gather_rows, in[1]); },
       [=](const auto& in) {
         return Naive::build({3, 4}, [&](const Index& i) {
           double v = in[0].at(i);
           for (int64_t r = 0; r < 2; ++r)
             if (index_at(gather_rows, r, i[1]) == i[0]) v += in[1].at({r, i[1]});
           return v;
         });
       },
       1e-6});
  const std::vector<int64_t> picks = {3, 0, 3};
  row({"index_select", {{{3, 4}}, {{2, 4, 2}}}, Domain::Real,
       [=](const auto& in) { return in[0].index_select(1, tensor(picks, dtype(kInt64))); },
       [=](const auto& in) {
         Index shape = in[0].shape;
         shape[1] = 3;
         return Naive::build(shape, [&](const Index& i) {
           Index source = i;
           source[1] = picks[i[1]];
           return in[0].at(source);
         });
       },
       0});
  // The mask [3, 1] broadcasts with each input, and over a smaller one (whose gradient sums down).
  const Tensor fill_mask = tensor({{true}, {false}, {true}});
  row({"masked_fill", {{{3, 4}}, {{4}}, {{}}}, Domain::Real, [=](const auto& in) { return in[0].masked_fill(fill_mask, 2.5); },
       [](const auto& in) {
         return Naive::build(broadcast(in[0].shape, {3, 1}), [&](const Index& i) {
           return i[i.size() - 2] != 1 ? 2.5 : in[0].broadcast_at(i);
         });
       },
       0});

  // scatter: no index repeats within a line, so every written value survives and its gradient is exact.
  const Tensor scatter_cols = tensor({{3, 0, 1}, {2, 1, 0}}, dtype(kInt64));  // dim 1 of [3, 4]
  auto scattered = [=](const Naive& self, std::function<double(int64_t, int64_t)> src) {
    return Naive::build({3, 4}, [&](const Index& i) {
      for (int64_t j = 0; j < 3 && i[0] < 2; ++j)
        if (index_at(scatter_cols, i[0], j) == i[1]) return src(i[0], j);
      return self.at(i);
    });
  };
  // src as large as the index, and larger (its elements past the index get no gradient).
  row({"scatter", {{{3, 4}, {2, 3}}, {{3, 4}, {3, 5}}}, Domain::Real,
       [=](const auto& in) { return in[0].scatter(1, scatter_cols, in[1]); },
       [=](const auto& in) { return scattered(in[0], [&](int64_t r, int64_t j) { return in[1].at({r, j}); }); }, 0});
  row({"scatter.value", {{{3, 4}}}, Domain::Real, [=](const auto& in) { return scatter(in[0], -1, scatter_cols, -1.5); },
       [=](const auto& in) { return scattered(in[0], [](int64_t, int64_t) { return -1.5; }); }, 0});

  // Advanced indexing: a repeated and a negative index (gradients add up), tensor indices split by a
  // slice (the indexed dim goes first), and a mask.
  const std::vector<int64_t> cols = {4, 0, 4, -1};
  row({"index", {{{4, 5}}}, Domain::Real,
       [=](const auto& in) { return in[0].index({indexing::Slice(), tensor(cols, dtype(kInt64))}); },
       [=](const auto& in) {
         return Naive::build({4, 4}, [&](const Index& i) { return in[0].at({i[0], (cols[i[1]] + 5) % 5}); });
       },
       0});
  row({"index", {{{2, 3, 4}}}, Domain::Real,
       [=](const auto& in) {
         return in[0].index({tensor({1, 0}, dtype(kInt64)), indexing::Slice(), tensor({3, 3}, dtype(kInt64))});
       },
       [=](const auto& in) {
         return Naive::build({2, 3}, [&](const Index& i) { return in[0].at({1 - i[0], i[1], 3}); });
       },
       0});
  const Tensor row_mask = tensor({false, true, true, false});
  row({"index", {{{4, 2}}}, Domain::Real, [=](const auto& in) { return in[0].index({row_mask}); },
       [=](const auto& in) { return Naive::build({2, 2}, [&](const Index& i) { return in[0].at({i[0] + 1, i[1]}); }); },
       0});
  // index_put: written without repeats (the values survive), and accumulated with a repeat; values
  // of the indexed shape and broadcast ones (whose gradients sum down).
  row({"index_put", {{{4, 5}, {2, 5}}, {{4, 5}, {5}}}, Domain::Real,
       [=](const auto& in) { return index_put(in[0], {tensor({3, -3}, dtype(kInt64))}, in[1]); },
       [=](const auto& in) {
         return Naive::build({4, 5}, [&](const Index& i) {
           if (i[0] == 3) return in[1].broadcast_at({0, i[1]});
           if (i[0] == 1) return in[1].broadcast_at({1, i[1]});
           return in[0].at(i);
         });
       },
       0});
  row({"index_put", {{{4, 5}, {3, 5}}, {{4, 5}, {1}}}, Domain::Real,
       [=](const auto& in) { return index_put(in[0], {tensor({3, 1, 3}, dtype(kInt64))}, in[1], true); },
       [=](const auto& in) {
         return Naive::build({4, 5}, [&](const Index& i) {
           double v = in[0].at(i);
           const int64_t picks[3] = {3, 1, 3};
           for (int64_t r = 0; r < 3; ++r)
             if (picks[r] == i[0]) v += in[1].broadcast_at({r, i[1]});
           return v;
         });
       },
       1e-6});

  // Copies.
  row({"clone", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].clone(); },
       [](const auto& in) { return in[0]; }, 0});
  // float32 inputs round-trip through float64 exactly. A float64 input cannot round-trip through
  // float32 without rounding, which finite differences cannot see through, so it is passed as is;
  // the float32 gradient test then checks ToCopyBackward0 against that plain float64 gradient.
  row({"to", kUnaryShapes, Domain::Real,
       [](const auto& in) { return in[0].dtype() == kFloat32 ? in[0].to(kFloat64).to(kFloat32) : in[0].to(kFloat64); },
       [](const auto& in) { return in[0]; }, 0});

  // In place: each starts from a non-leaf copy, since in-place ops on leaves requiring grad are errors.
  row({"fill", kUnaryShapes, Domain::Real, [](const auto& in) { return (in[0] * 1.0).fill_(2.5); },
       [](const auto& in) { return map(in[0], [](double) { return 2.5; }); }, 0});
  row({"zero", kUnaryShapes, Domain::Real, [](const auto& in) { return (in[0] * 1.0).zero_() + in[0]; },
       [](const auto& in) { return in[0]; }, 1e-6});
  row({"copy", {{{3, 4}, {3, 4}}, {{3, 4}, {4}}}, Domain::Real,
       [](const auto& in) { return (in[0] * 2.0).copy_(in[1]) * in[0]; },
       [](const auto& in) { return zip(in[0], in[1], [](double x, double y) { return y * x; }); }, 1e-5});
  row({"copy_slices", {{{3, 4}, {4}}}, Domain::Real,
       [](const auto& in) {
         Tensor y = in[0] * 1.0;
         y.select(0, 1).mul_(in[1]);
         return y;
       },
       [](const auto& in) {
         return Naive::build(in[0].shape, [&](const Index& i) { return in[0].at(i) * (i[0] == 1 ? in[1].at({i[1]}) : 1.0); });
       },
       1e-5});

  // Linear systems: inputs of Domain::Small (|x| <= 1.2) plus 4 I are diagonally dominant, so well
  // conditioned; B as matrices, as vectors (one dim, and A's batch dims with n), with batch dims that
  // broadcast either way.
  const auto shifted = [](const Tensor& a) { return a + eye(a.size(-1), TensorOptions().dtype(a.dtype())) * 4.0; };
  row({"linalg_inv", {{{3, 3}}, {{2, 3, 3}}, {{1, 1}}}, Domain::Small, [shifted](const auto& in) { return linalg::inv(shifted(in[0])); },
       [](const auto& in) {
         const int64_t n = in[0].shape.back();
         const Naive identity = Naive::build({n, n}, [](const Index& i) { return i[0] == i[1] ? 1.0 : 0.0; });
         return naive_solve(naive_shifted(in[0], 4.0), identity, false);
       },
       1e-5});
  row({"linalg_solve", {{{3, 3}, {3, 2}}, {{3, 3}, {3}}, {{2, 3, 3}, {3, 1}}, {{3, 3}, {2, 3, 2}}, {{2, 3, 3}, {2, 3}}},
       Domain::Small, [shifted](const auto& in) { return linalg::solve(shifted(in[0]), in[1]); },
       [](const auto& in) {
         const bool vector = in[1].shape.size() == 1 || (in[1].shape.size() == in[0].shape.size() - 1 &&
                                                          std::equal(in[1].shape.begin(), in[1].shape.end(), in[0].shape.begin()));
         return naive_solve(naive_shifted(in[0], 4.0), in[1], vector);
       },
       1e-5});

  // Selections along a dim: x's values in a stable sorted order (values drawn from a continuous
  // distribution, so no ties and no kinks near them), of which sort keeps the row, topk its first k,
  // kthvalue and median one.
  const auto sorted_rows = [](const Naive& x, int64_t dim, bool descending, int64_t first, int64_t kept, bool keepdim) {
    std::vector<int64_t> shape = x.shape;
    if (shape.empty()) return x;
    if (dim < 0) dim += static_cast<int64_t>(shape.size());
    if (keepdim)
      shape[dim] = kept;
    else
      shape.erase(shape.begin() + dim);
    return Naive::build(shape, [&](const Index& at) {
      Index i = at;
      if (!keepdim) i.insert(i.begin() + dim, 0);
      std::vector<double> row;
      for (int64_t j = 0; j < x.shape[dim]; ++j) {
        i[dim] = j;
        row.push_back(x.at(i));
      }
      std::stable_sort(row.begin(), row.end(), [&](double a, double b) { return descending ? a > b : a < b; });
      return row[first + (keepdim ? at[dim] : 0)];
    });
  };
  row({"sort", {{{3, 4}}, {{2, 3, 2}}, {{}}}, Domain::Real, [](const auto& in) { return std::get<0>(in[0].sort()); },
       [=](const auto& in) { return sorted_rows(in[0], -1, false, 0, in[0].shape.empty() ? 1 : in[0].shape.back(), true); },
       1e-6});
  row({"sort", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return std::get<0>(in[0].sort(0, true)); },
       [=](const auto& in) { return sorted_rows(in[0], 0, true, 0, in[0].shape[0], true); }, 1e-6});
  row({"topk", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return std::get<0>(in[0].topk(2)); },
       [=](const auto& in) { return sorted_rows(in[0], -1, true, 0, 2, true); }, 1e-6});
  row({"topk", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return std::get<0>(in[0].topk(2, 0, false)); },
       [=](const auto& in) { return sorted_rows(in[0], 0, false, 0, 2, true); }, 1e-6});
  row({"kthvalue", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return std::get<0>(in[0].kthvalue(2, 1)); },
       [=](const auto& in) { return sorted_rows(in[0], 1, false, 1, 1, false); }, 1e-6});
  row({"median.dim", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real, [](const auto& in) { return std::get<0>(in[0].median(1, true)); },
       [=](const auto& in) { return sorted_rows(in[0], 1, false, (in[0].shape[1] - 1) / 2, 1, true); }, 1e-6});
  row({"nanmedian.dim", {{{3, 4}}, {{2, 3, 2}}}, Domain::Real,
       [](const auto& in) { return std::get<0>(in[0].nanmedian(0)); },
       [=](const auto& in) { return sorted_rows(in[0], 0, false, (in[0].shape[0] - 1) / 2, 1, false); }, 1e-6});
  const auto flat = [](const Naive& x) { return Naive{{static_cast<int64_t>(x.values.size())}, x.values}; };
  row({"median", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].median(); },
       [=](const auto& in) {
         const Naive m = sorted_rows(flat(in[0]), 0, false, (static_cast<int64_t>(in[0].values.size()) - 1) / 2, 1, false);
         return m;
       },
       1e-6});
  row({"nanmedian", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].nanmedian(); },
       [=](const auto& in) {
         return sorted_rows(flat(in[0]), 0, false, (static_cast<int64_t>(in[0].values.size()) - 1) / 2, 1, false);
       },
       1e-6});
  // Products: prod of everything or along a dim, cumprod, and the ops of their rules (product_rules.hpp:
  // the coefficient of e_1 ... e_m in the products of f_i = x_i + e_1 a_1i + ... of the others of each
  // place, of the places up to each, and cumprod's transpose), against those sums written out.
  auto product_of = [](double a, double b) { return a * b; };
  row({"prod", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].prod(); },
       [=](const auto& in) { return reduce(in[0], {}, false, product_of); }, 1e-5});
  row({"prod.dim_int", {{{3, 4}}, {{2, 5, 2}}}, Domain::Real, [](const auto& in) { return in[0].prod(1); },
       [=](const auto& in) { return reduce(in[0], {1}, false, product_of); }, 1e-5});
  row({"prod.dim_int", {{{3, 4}}, {{}}}, Domain::Real, [](const auto& in) { return prod(in[0], -1, true); },
       [=](const auto& in) { return in[0].shape.empty() ? in[0] : reduce(in[0], {-1}, true, product_of); }, 1e-5});
  row({"cumprod", kUnaryShapes, Domain::Real, [](const auto& in) { return in[0].cumprod(-1); },
       [=](const auto& in) { return scan_along(in[0], -1, product_of); }, 1e-5});
  row({"cumprod", {{{3, 4}}, {{2, 5, 2}}}, Domain::Real, [](const auto& in) { return cumprod(in[0], 1); },
       [=](const auto& in) { return scan_along(in[0], 1, product_of); }, 1e-5});
  // sum over places p_1 .. p_m for the m tangents, distinct and in `allowed` (the tangents' values
  // there times x at the rest of `allowed`); in[first..] are the tangents.
  const auto tangent_sum = [](const std::vector<Naive>& in, size_t first, size_t count, int64_t dim, const Index& at,
                              const std::vector<bool>& allowed) {
    const Naive& x = in[0];
    const int64_t n = static_cast<int64_t>(allowed.size());
    std::vector<bool> used(allowed.size(), false);
    const auto value = [&](const Naive& t, int64_t i) {
      Index j = at;
      j[dim] = i;
      return t.at(j);
    };
    std::function<double(size_t)> sum = [&](size_t k) {
      if (k == count) {
        double p = 1;
        for (int64_t i = 0; i < n; ++i)
          if (allowed[i] && !used[i]) p *= value(x, i);
        return p;
      }
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (!allowed[i] || used[i]) continue;
        used[i] = true;
        total += value(in[first + k], i) * sum(k + 1);
        used[i] = false;
      }
      return total;
    };
    return sum(0);
  };
  // kind 0: the others of each place; 1: the places up to each; 2: cumprod's transpose with g last.
  const auto naive_rule = [=](const std::vector<Naive>& in, int64_t dim, int kind) {
    const Naive& x = in[0];
    if (dim < 0) dim += static_cast<int64_t>(x.shape.size());
    const size_t tangents = in.size() - 1 - (kind == 2 ? 1 : 0);
    return Naive::build(x.shape, [&](const Index& at) {
      const int64_t n = x.shape[dim], l = at[dim];
      std::vector<bool> allowed(static_cast<size_t>(n));
      if (kind != 2) {
        for (int64_t i = 0; i < n; ++i) allowed[i] = kind == 0 ? i != l : i <= l;
        return tangent_sum(in, 1, tangents, dim, at, allowed);
      }
      double total = 0;
      for (int64_t k = l; k < n; ++k) {
        for (int64_t i = 0; i < n; ++i) allowed[i] = i <= k && i != l;
        Index gk = at;
        gk[dim] = k;
        total += in.back().at(gk) * tangent_sum(in, 1, tangents, dim, at, allowed);
      }
      return total;
    });
  };
  row({"prod_others", {{{3, 4}}, {{2, 5, 2}}}, Domain::Real, [](const auto& in) { return ops::prod_others(in[0], {}, -1); },
       [=](const auto& in) { return naive_rule(in, -1, 0); }, 1e-5});
  row({"prod_others", {{{3, 4}, {3, 4}}, {{2, 5, 2}, {2, 5, 2}}}, Domain::Real,
       [](const auto& in) { return ops::prod_others(in[0], {in[1]}, -2); },
       [=](const auto& in) { return naive_rule(in, -2, 0); }, 1e-5});
  row({"prod_others", {{{2, 5}, {2, 5}, {2, 5}}, {{4, 3}, {4, 3}, {4, 3}}}, Domain::Real,
       [](const auto& in) { return ops::prod_others(in[0], {in[1], in[2]}, -1); },
       [=](const auto& in) { return naive_rule(in, -1, 0); }, 1e-5});
  row({"cumprod_tangents", {{{3, 4}}, {{2, 5, 2}}}, Domain::Real, [](const auto& in) { return ops::cumprod_tangents(in[0], {}, -1); },
       [=](const auto& in) { return naive_rule(in, -1, 1); }, 1e-5});
  row({"cumprod_tangents", {{{3, 4}, {3, 4}}, {{2, 5, 2}, {2, 5, 2}}}, Domain::Real,
       [](const auto& in) { return ops::cumprod_tangents(in[0], {in[1]}, -2); },
       [=](const auto& in) { return naive_rule(in, -2, 1); }, 1e-5});
  row({"cumprod_tangents", {{{2, 5}, {2, 5}, {2, 5}}}, Domain::Real,
       [](const auto& in) { return ops::cumprod_tangents(in[0], {in[1], in[2]}, -1); },
       [=](const auto& in) { return naive_rule(in, -1, 1); }, 1e-5});
  row({"cumprod_adjoint", {{{3, 4}, {3, 4}}, {{2, 5, 2}, {2, 5, 2}}}, Domain::Real,
       [](const auto& in) { return ops::cumprod_adjoint(in[0], {}, in[1], -1); },
       [=](const auto& in) { return naive_rule(in, -1, 2); }, 1e-5});
  row({"cumprod_adjoint", {{{3, 4}, {3, 4}, {3, 4}}, {{2, 5, 2}, {2, 5, 2}, {2, 5, 2}}}, Domain::Real,
       [](const auto& in) { return ops::cumprod_adjoint(in[0], {in[1]}, in[2], -2); },
       [=](const auto& in) { return naive_rule(in, -2, 2); }, 1e-5});
  row({"cumprod_adjoint", {{{2, 5}, {2, 5}, {2, 5}, {2, 5}}}, Domain::Real,
       [](const auto& in) { return ops::cumprod_adjoint(in[0], {in[1], in[2]}, in[3], -1); },
       [=](const auto& in) { return naive_rule(in, -1, 2); }, 1e-5});
  return rows;
}

}  // namespace

std::function<Tensor(const TensorList&)> edge_op(const std::string& key) {
  auto matrix = [](const Tensor& t) { return t.reshape({1, 1}); };
  static const std::map<std::string, Fn> fixed = {
      {"exp", [](const auto& in) { return exp(in[0]); }},
      {"log", [](const auto& in) { return log(in[0]); }},
      {"sqrt", [](const auto& in) { return sqrt(in[0]); }},
      {"sin", [](const auto& in) { return sin(in[0]); }},
      {"cos", [](const auto& in) { return cos(in[0]); }},
      {"tan", [](const auto& in) { return tan(in[0]); }},
      {"tanh", [](const auto& in) { return tanh(in[0]); }},
      {"sigmoid", [](const auto& in) { return sigmoid(in[0]); }},
      {"relu", [](const auto& in) { return relu(in[0]); }},
      {"abs", [](const auto& in) { return abs(in[0]); }},
      {"sign", [](const auto& in) { return sign(in[0]); }},
      {"neg", [](const auto& in) { return -in[0]; }},
      {"log1p", [](const auto& in) { return log1p(in[0]); }},
      {"expm1", [](const auto& in) { return expm1(in[0]); }},
      {"erf", [](const auto& in) { return erf(in[0]); }},
      {"asin", [](const auto& in) { return asin(in[0]); }},
      {"acos", [](const auto& in) { return acos(in[0]); }},
      {"acosh", [](const auto& in) { return acosh(in[0]); }},
      {"atanh", [](const auto& in) { return atanh(in[0]); }},
      {"floor", [](const auto& in) { return floor(in[0]); }},
      {"ceil", [](const auto& in) { return ceil(in[0]); }},
      {"round", [](const auto& in) { return round(in[0]); }},
      {"trunc", [](const auto& in) { return trunc(in[0]); }},
      {"frac", [](const auto& in) { return frac(in[0]); }},
      {"silu", [](const auto& in) { return silu(in[0]); }},
      {"softplus", [](const auto& in) { return softplus(in[0]); }},
      {"softplus:beta=2,threshold=1", [](const auto& in) { return softplus(in[0], 2.0, 1.0); }},
      {"gelu", [](const auto& in) { return gelu(in[0]); }},
      {"gelu:tanh", [](const auto& in) { return gelu(in[0], "tanh"); }},
      {"elu", [](const auto& in) { return elu(in[0]); }},
      {"elu:alpha=0.5", [](const auto& in) { return elu(in[0], 0.5); }},
      {"leaky_relu", [](const auto& in) { return leaky_relu(in[0]); }},
      {"leaky_relu:negative_slope=0.2", [](const auto& in) { return leaky_relu(in[0], 0.2); }},
      {"hardtanh", [](const auto& in) { return hardtanh(in[0]); }},
      {"hardtanh:min_val=-2,max_val=3", [](const auto& in) { return hardtanh(in[0], -2.0, 3.0); }},
      {"relu6", [](const auto& in) { return relu6(in[0]); }},
      {"hardsigmoid", [](const auto& in) { return hardsigmoid(in[0]); }},
      {"hardswish", [](const auto& in) { return hardswish(in[0]); }},
      {"selu", [](const auto& in) { return selu(in[0]); }},
      {"mish", [](const auto& in) { return mish(in[0]); }},
      {"log_sigmoid", [](const auto& in) { return logsigmoid(in[0]); }},
      {"clamp:-2.5,2.5", [](const auto& in) { return clamp(in[0], -2.5, 2.5); }},
      {"clamp:-2.5,None", [](const auto& in) { return clamp(in[0], -2.5); }},
      {"clamp:None,2.5", [](const auto& in) { return clamp(in[0], std::nullopt, 2.5); }},
      {"clamp:1,-1", [](const auto& in) { return clamp(in[0], 1, -1); }},
      {"clamp:nan,nan", [](const auto& in) { return clamp(in[0], NAN, NAN); }},
      {"clamp:nan,None", [](const auto& in) { return clamp(in[0], NAN); }},
      {"clamp_min:-2.5", [](const auto& in) { return clamp_min(in[0], -2.5); }},
      {"clamp_max:2.5", [](const auto& in) { return clamp_max(in[0], 2.5); }},
      {"clamp_min:nan", [](const auto& in) { return clamp_min(in[0], NAN); }},
      {"clamp_max:nan", [](const auto& in) { return clamp_max(in[0], NAN); }},
      {"add", [](const auto& in) { return add(in[0], in[1], 2.0); }},
      {"sub", [](const auto& in) { return in[0] - in[1]; }},
      {"mul", [](const auto& in) { return in[0] * in[1]; }},
      {"div", [](const auto& in) { return in[0] / in[1]; }},
      {"pow.Tensor", [](const auto& in) { return pow(in[0], in[1]); }},
      {"where", [](const auto& in) { return where(gt(in[0].detach(), in[1].detach()), in[0], in[1]); }},
      {"sum", [](const auto& in) { return in[0].sum(); }},
      {"mean", [](const auto& in) { return in[0].mean(); }},
      {"sum.dim", [](const auto& in) { return in[0].sum({0}); }},
      {"mean.dim", [](const auto& in) { return in[0].mean({0}); }},
      {"max", [](const auto& in) { return in[0].max(); }},
      {"min", [](const auto& in) { return in[0].min(); }},
      {"max.dim", [](const auto& in) { return std::get<0>(in[0].max(0)); }},
      {"cumsum", [](const auto& in) { return in[0].cumsum(0); }},
      {"prod", [](const auto& in) { return in[0].prod(); }},
      {"prod.dim_int", [](const auto& in) { return in[0].prod(0); }},
      {"cumprod", [](const auto& in) { return in[0].cumprod(0); }},
      {"min.dim", [](const auto& in) { return std::get<0>(in[0].min(0)); }},
      {"amax", [](const auto& in) { return in[0].amax({0}); }},
      {"sort", [](const auto& in) { return std::get<0>(in[0].sort()); }},
      {"sort:descending", [](const auto& in) { return std::get<0>(in[0].sort(-1, true)); }},
      {"topk", [](const auto& in) { return std::get<0>(in[0].topk(1)); }},
      {"topk:smallest", [](const auto& in) { return std::get<0>(in[0].topk(1, -1, false)); }},
      {"kthvalue", [](const auto& in) { return std::get<0>(in[0].kthvalue(2)); }},
      {"median.dim", [](const auto& in) { return std::get<0>(in[0].median(0)); }},
      {"nanmedian.dim", [](const auto& in) { return std::get<0>(in[0].nanmedian(0)); }},
      {"median", [](const auto& in) { return in[0].median(); }},
      {"nanmedian", [](const auto& in) { return in[0].nanmedian(); }},
      {"nan_to_num", [](const auto& in) { return nan_to_num(in[0]); }},
      {"nan_to_num:2,3,-4", [](const auto& in) { return in[0].nan_to_num(2.0, 3.0, -4.0); }},
      {"amin", [](const auto& in) { return in[0].amin({0}); }},
      {"softmax", [](const auto& in) { return softmax(in[0], 0); }},
      {"log_softmax", [](const auto& in) { return log_softmax(in[0], 0); }},
      {"logsumexp", [](const auto& in) { return logsumexp(in[0], {0}); }},
      {"var", [](const auto& in) { return in[0].var(); }},
      {"std", [](const auto& in) { return in[0].std(); }},
      {"norm", [](const auto& in) { return in[0].norm(); }},
      {"linalg_vector_norm", [](const auto& in) { return linalg::vector_norm(in[0]); }},
      {"layer_norm", [](const auto& in) { return layer_norm(in[0], {2}); }},
      {"cross_entropy",
       [](const auto& in) {
         return nn::functional::cross_entropy(in[0].reshape({1, 2}), tensor({1}, dtype(kInt64)),
                                              nn::functional::CrossEntropyFuncOptions().reduction(kNone));
       }},
      {"trace", [](const auto& in) { return trace(diag(in[0])); }},
      {"scatter_add", [](const auto& in) { return in[0].scatter_add(0, tensor({0}, dtype(kInt64)), in[1]); }},
      {"convolution", [](const auto& in) { return conv2d(in[0].reshape({1, 1, 1, 1}), in[1].reshape({1, 1, 1, 1})); }},
      {"col2im", [](const auto& in) { return nn::functional::fold(in[0].reshape({1, 1, -1}), nn::functional::FoldFuncOptions({1, in[0].numel()}, 1)); }},
      {"max_pool2d", [](const auto& in) { return max_pool2d(in[0].reshape({1, 1, -1}), 1); }},
      {"avg_pool2d", [](const auto& in) { return avg_pool2d(in[0].reshape({1, 1, -1}), 1); }},
      {"adaptive_avg_pool2d", [](const auto& in) { return adaptive_avg_pool2d(in[0].reshape({1, 1, -1}), {1, in[0].numel()}); }},
      {"avg_pool2d_backward",
       [](const auto& in) {
         Tensor x = zeros({1, 1, in[0].numel()}, in[0].dtype()).requires_grad_();
         return dydx::grad({avg_pool2d(x, 1)}, {x}, {in[0].reshape({1, 1, -1})}, {.create_graph = true})[0];
       }},
      {"index_put", [](const auto& in) { return index_put(in[0], {tensor({0}, dtype(kInt64))}, in[1], true); }},
      // Functions composed of recorded ops (src/ops/composed_elementwise.cpp, differences.cpp, kron).
      {"logaddexp", [](const auto& in) { return logaddexp(in[0], in[1]); }},
      {"logaddexp2", [](const auto& in) { return logaddexp2(in[0], in[1]); }},
      {"logit", [](const auto& in) { return logit(in[0]); }},
      {"logit:0.25", [](const auto& in) { return logit(in[0], 0.25); }},
      {"lerp:0.25", [](const auto& in) { return lerp(in[0], in[1], 0.25); }},
      {"lerp:0.75", [](const auto& in) { return lerp(in[0], in[1], 0.75); }},
      {"clamp.Tensor:min", [](const auto& in) { return clamp(in[0], in[1]); }},
      {"clamp.Tensor:max", [](const auto& in) { return clamp(in[0], std::nullopt, in[1]); }},
      {"round:decimals=1", [](const auto& in) { return round(in[0], 1); }},
      {"kron", [](const auto& in) { return kron(in[0], in[1]); }},
      {"diff", [](const auto& in) { return diff(in[0]); }},
  };
  if (auto it = fixed.find(key); it != fixed.end()) return it->second;
  const size_t colon = key.find(':');
  const std::string name = key.substr(0, colon);
  const double c = colon == std::string::npos ? 0.0 : std::stod(key.substr(colon + 1));
  if (name == "rsub") return [c](const auto& in) { return c - in[0]; };
  if (name == "pow.Scalar") return [c](const auto& in) { return in[0].pow(c); };
  if (name == "pow.ScalarBase") return [c](const auto& in) { return pow(c, in[0]); };
  if (name == "mm") return [matrix](const auto& in) { return mm(matrix(in[0]), matrix(in[1])); };
  if (name == "bmm") return [](const auto& in) { return bmm(in[0].reshape({1, 1, 1}), in[1].reshape({1, 1, 1})); };
  if (name == "dot") return [](const auto& in) { return dot(in[0].reshape({1}), in[1].reshape({1})); };
  if (name == "mv") return [matrix](const auto& in) { return mv(matrix(in[0]), in[1].reshape({1})); };
  // Batches of 1 x 1 systems, so that a run of many edge values is one batched solve.
  if (name == "linalg_inv") return [](const auto& in) { return linalg::inv(in[0].reshape({-1, 1, 1})).reshape(in[0].sizes()); };
  if (name == "linalg_solve")
    return [](const auto& in) { return linalg::solve(in[0].reshape({-1, 1, 1}), in[1].reshape({-1, 1, 1})).reshape(in[0].sizes()); };
  if (name == "addmm")
    return [matrix](const auto& in) { return addmm(matrix(in[0]), matrix(in[1]), full({1, 1}, 2.0, in[1].dtype())); };
  // An op whose table row applies it to its inputs as they come (most binary ops) needs no entry.
  if (colon == std::string::npos)
    for (const OpRow& row : op_table())
      if (row.name == key) return row.fn;
  return {};
}

const std::vector<EdgeDeviation>& edge_deviations() {
  static const std::string kZeroTangent =
      "an input without a tangent contributes nothing, as in PyTorch's own elementwise rules (mul's JVP "
      "at 0 * inf is 0 there too); PyTorch's mm/bmm/addmm JVPs multiply a materialised zero tangent by the "
      "other operand's inf or nan (convolution's and mv's too)";
  static const std::string kNanMaximum =
      "at a nan maximum dydx's JVP follows the nan elements, as both libraries' VJPs do, so <u, J v> agrees "
      "both ways; PyTorch 1.13's evenly_read_jvp counts x == nan, finds none and divides by that 0";
  static const std::string kZeroTie =
      "which of two equal zeros a whole-tensor max/min returns: PyTorch's vectorised reduction takes the "
      "later, while its max.dim/min.dim and dydx take the first";
  static const std::string kBlasZero =
      "the sign of a zero sum inside BLAS: OpenBLAS's float32 kernel sums the product from +0 before adding "
      "the bias (-0 + +0 is +0); PyTorch's MKL adds it onto the -0 bias";
  static const std::string kZeroTerm =
      "the sign of a zero JVP: PyTorch adds the term of the input without a tangent (+0) to x^y log x's -0; "
      "dydx leaves that term out";
  static const std::string kSubnormal =
      "dydx's float32 sigmoid keeps sigmoid(-100) = 3.8e-44 (subnormal, the true value); PyTorch's "
      "1 / (1 + exp(100)) overflows exp and gives 0";
  static const std::string kSecondOrderZeroSign =
      "the sign of a zero forward-over-reverse product, which follows the order in which each library's "
      "rule adds its zero terms (the double backward, vjp2, has PyTorch's sign at these points)";
  static const std::string kNanPair =
      "at a nan, maximum/minimum give the tangent of both inputs, as both libraries' VJPs give the gradient to "
      "both (one partial for both modes); PyTorch 1.13's own JVP gives b's tangent only";
  static const std::string kQuotientTangent =
      "forward over reverse through the VJP's quotient t a / out: dydx's JVP of a / b adds t_a / b and "
      "-t_b (a / b) / b, PyTorch's (t_a - t_b out) / b cancels first; where the second derivative is a "
      "difference of nearly equal terms (or a subnormal out overflows one of them) the roundings differ";
  static const std::string kCancellation =
      "the second derivative at a == b is (b^2 - a^2) / r^2 = 0 exactly in dydx; PyTorch's float32 "
      "rounding of the same difference leaves 3.6e-12";
  static const std::string kSubnormalInside =
      "dydx's float32 sigmoid keeps sigmoid(-100) = 3.8e-44 (subnormal, the true value) inside silu's derivative "
      "and softplus's (and log_sigmoid's) second derivative; PyTorch's 1 / (1 + exp(100)) overflows exp and gives 0";
  static const std::string kFloat32Norm =
      "dydx's float32 norms square in double, so the 2-norm of 1e-40 (subnormal) is 1e-40 with gradient x / norm; "
      "PyTorch 1.13 squares in float32, underflows to a norm of 0 and masks the gradient to 0. dydx's second "
      "derivative there, of order 1 / norm, overflows float32";
  static const std::string kNormHessianRounding =
      "at x = (1e-40, 1e-40) the second derivative (|t|^2 - (x.t)^2 / f^2) / f is a difference of two terms near "
      "7e39 that cancel exactly; each library keeps a different rounding residue of them (1 ulp of 7e39 is 1e24)";
  static const std::vector<EdgeDeviation> norm_deviations = [] {
    std::vector<EdgeDeviation> out;
    const std::vector<std::array<std::string, 3>> fields = {
        {"vjp", "0,0", "0,1"}, {"vjp", "0,0", "-0,1"}, {"vjp", "0,0", "1,0"}, {"vjp", "0,0", "1,-0"},
        {"vjp", "0,0", "0.7071075439453125,0.7071075439453125"}, {"jvp", "0", "1"}, {"jvp", "0", "1.414215087890625"},
        {"fwr", "0,0", "inf,nan"}, {"fwr", "0,0", "nan,inf"}, {"fwr", "0,0", "nan,nan"}};
    for (const std::string key : {"norm", "linalg_vector_norm"}) {
      for (const auto& [field, pytorch, dydx] : fields) out.push_back({key, field, pytorch, dydx, kFloat32Norm});
      out.push_back({key, "fwr", "-1.5700924586837751e+24,-1.5700924586837751e+24",
                     "-2.4178516392292583e+24,-2.4178516392292583e+24", kNormHessianRounding});
    }
    static const std::string kConstantRow =
        "layer_norm of a row of equal values: dydx computes (x - mean) r, exactly 0 (keeping x - mean's sign of "
        "zero); PyTorch computes x r + (-mean r), whose roundings leave a residue (1e-3 in float32 at 100)";
    for (const std::string dydx : {"0,-0", "-0,0", "-0,-0"}) out.push_back({"layer_norm", "out", "0,0", dydx, kConstantRow});
    for (const std::string pytorch : {"0.0009765625,0.0009765625", "-0.0009765625,-0.0009765625",
                                      "-1.4012984643248171e-45,-1.4012984643248171e-45",
                                      "-1.8189894035458565e-12,-1.8189894035458565e-12",
                                      "1.8189894035458565e-12,1.8189894035458565e-12",
                                      "2.4992223662305258e-54,2.4992223662305258e-54"})
      out.push_back({"layer_norm", "out", pytorch, "0,0", kConstantRow});
    out.push_back({"layer_norm", "fwr", "0,0", "-0,-0",
                   "the sign of a zero forward-over-reverse product, which follows the order in which each library's "
                   "rule adds its zero terms"});
    return out;
  }();
  static const std::string kMishSubnormal =
      "dydx's float32 sigmoid keeps sigmoid(-100) = 3.8e-44 inside mish's derivative, whose x sigmoid(x) (1 - t^2) "
      "term then gives the true -3.7e-42; PyTorch's 1 / (1 + exp(100)) overflows exp, gives 0 and leaves t = 3.9e-44";
  static const std::string kSubnormalExp =
      "log_sigmoid(100) in float32 is -log1p(e^-100): dydx's exp gives the nearest subnormal to e^-100 (27 units of "
      "2^-149; the true value is 26.5), PyTorch's vectorised exp one unit more";
  static const std::string kLogSigmoidSecond =
      "log_sigmoid's second derivative from 0 up is dydx's derivative of sigmoid(-x) (PyTorch's first derivative "
      "there), -e^-x to rounding (-3.7e-44 at 100, -0 at inf); PyTorch's double backward (sigmoid(x) - 1) sigmoid(x) "
      "rounds sigmoid(x) to 1 and gives +0";
  static const std::string kClampTensorJvp =
      "PyTorch 1.13's clamp_jvp gives the bound's tangent where x equals the bound or an operand is nan, while its "
      "VJP gives x's gradient at the tie and nobody's at a nan; dydx's JVP is its own VJP's transpose";
  static const std::string kLogAddExpLimits =
      "at an infinite operand PyTorch's second derivatives, formed from exp(a - out), meet inf - inf and give nan; "
      "dydx's (softplus's of the difference) are their limits, 0 (a subnormal in float32 at +-100)";
  static const std::string kEqualInfinities =
      "at equal infinities the value is that infinity: PyTorch's tangent is exp(inf - inf) = nan, dydx's the "
      "first operand's (its VJP is nan there, as PyTorch's)";
  static const std::string kXlogyZeroTerm =
      "the sign of a zero JVP: PyTorch adds the term of the input without a tangent (+0) to t a / b's -0; dydx "
      "leaves that term out";
  static const std::string kLogitEdges =
      "logit's second derivative: at 0 and 1 dydx's is the limit +-inf, PyTorch's inf - inf = nan; outside [0, 1] "
      "PyTorch's slope is a nan constant (second derivative 0), dydx's is nan through log's, and so is its derivative";
  static const std::string kLogitOutside =
      "with eps the slope is 0 outside [eps, 1 - eps], so dydx's second derivative is 0 there; PyTorch's double "
      "backward multiplies its masked zero by 1 / x^2 terms (nan at 0, a -0 elsewhere)";
  static const std::vector<EdgeDeviation> deviations = {
      {"mish", "vjp", "3.9236357001094878e-44", "-3.745670795140236e-42", kMishSubnormal},
      {"mish", "jvp", "3.9236357001094878e-44", "-3.745670795140236e-42", kMishSubnormal},
      {"mish", "vjp2", "3.7835058536770061e-44", "-3.707835736603466e-42", kMishSubnormal},
      {"mish", "fwr", "3.7835058536770061e-44", "-3.707835736603466e-42", kMishSubnormal},
      {"log_sigmoid", "out", "-3.9236357001094878e-44", "-3.7835058536770061e-44", kSubnormalExp},
      {"log_sigmoid", "vjp2", "-0", "-3.7835058536770061e-44", kSubnormalInside},
      {"log_sigmoid", "fwr", "-0", "-3.7835058536770061e-44", kSubnormalInside},
      {"log_sigmoid", "vjp2", "0", "-3.7835058536770061e-44", kLogSigmoidSecond},
      {"log_sigmoid", "fwr", "0", "-3.7835058536770061e-44", kLogSigmoidSecond},
      {"log_sigmoid", "vjp2", "0", "-3.7200759760208361e-44", kLogSigmoidSecond},
      {"log_sigmoid", "fwr", "0", "-3.7200759760208361e-44", kLogSigmoidSecond},
      {"log_sigmoid", "vjp2", "0", "-0", kLogSigmoidSecond},
      {"log_sigmoid", "fwr", "0", "-0", kLogSigmoidSecond},
      {"silu", "vjp", "-0", "-3.745670795140236e-42", kSubnormalInside},
      {"silu", "jvp", "-0", "-3.745670795140236e-42", kSubnormalInside},
      {"silu", "vjp2", "0", "-3.707835736603466e-42", kSubnormalInside},
      {"silu", "fwr", "0", "-3.707835736603466e-42", kSubnormalInside},
      {"softplus", "vjp2", "0", "3.7835058536770061e-44", kSubnormalInside},
      {"softplus", "fwr", "0", "3.7835058536770061e-44", kSubnormalInside},
      {"maximum", "jvp", "0", "1", kNanPair},
      {"minimum", "jvp", "0", "1", kNanPair},
      {"fmod", "fwr", "-0", "0", kSecondOrderZeroSign},
      {"remainder", "fwr", "-0", "0", kSecondOrderZeroSign},
      {"atan2", "fwr", "-3.637978807091713e-12", "0", kCancellation},
      {"atan2", "fwr", "3.637978807091713e-12", "0", kCancellation},
      {"hypot", "fwr", "6.2434241954179015e-06", "6.243586540222168e-06", kQuotientTangent},
      {"hypot", "fwr", "6.2441451993023563e-06", "6.2441451993012348e-06", kQuotientTangent},
      {"hypot", "fwr", "9.9892395155620761e-07", "9.9930912256240845e-07", kQuotientTangent},
      {"hypot", "fwr", "9.9985001874686866e-07", "9.9985001874615398e-07", kQuotientTangent},
      {"hypot", "fwr", "0", "nan", kQuotientTangent},
      {"hypot", "fwr", "inf", "nan", kQuotientTangent},
      {"mm", "fwr", "nan", "", kZeroTangent},
      {"mv", "fwr", "nan", "", kZeroTangent},
      {"convolution", "fwr", "nan", "", kZeroTangent},
      {"convolution", "jvp", "nan", "", kZeroTangent},
      {"bmm", "fwr", "nan", "", kZeroTangent},
      {"tanh", "fwr", "0", "-0", kSecondOrderZeroSign},
      {"atanh", "fwr", "-0", "0", kSecondOrderZeroSign},
      {"pow.Tensor", "fwr", "-0", "0", kSecondOrderZeroSign},
      {"addmm", "out", "-0", "0", kBlasZero},
      {"pow.Tensor", "jvp", "0", "-0", kZeroTerm},
      {"sigmoid", "", "0", "3.7835058536770061e-44", kSubnormal},
      {"linalg_solve", "jvp", "nan", "", kZeroTangent},
      {"linalg_solve", "fwr", "0", "-0", "at A = +-inf the Hessian-vector product is a zero whose sign follows the order of "
       "operations (PyTorch's reverse over reverse here: its forward over reverse is wrong, see make_edge_cases.py)"},
      {"linalg_solve", "fwr", "-0", "0", "at A = +-inf the Hessian-vector product is a zero whose sign follows the order of "
       "operations (PyTorch's reverse over reverse here: its forward over reverse is wrong, see make_edge_cases.py)"},
      {"linalg_inv", "fwr", "nan", "inf", "at a subnormal float32 A the exact 2 / A^3 is past float32's range: dydx's "
       "2 Y H Y H Y overflows to inf, PyTorch's forward over reverse forms nan"},
      {"mm", "jvp", "nan", "", kZeroTangent},   {"bmm", "jvp", "nan", "", kZeroTangent},
      {"addmm", "jvp", "nan", "", kZeroTangent}, {"mv", "jvp", "nan", "", kZeroTangent}, {"max", "jvp", "nan", "1", kNanMaximum},
      {"min", "jvp", "nan", "1", kNanMaximum},  {"max", "out", "-0", "0", kZeroTie},
      {"max", "out", "0", "-0", kZeroTie},      {"min", "out", "-0", "0", kZeroTie},
      {"min", "out", "0", "-0", kZeroTie},
      // The composed functions (src/ops/composed_elementwise.cpp) and xlogy.
      {"clamp.Tensor:min", "jvp", "1", "0", kClampTensorJvp}, {"clamp.Tensor:min", "jvp", "0", "1", kClampTensorJvp},
      {"clamp.Tensor:max", "jvp", "1", "0", kClampTensorJvp}, {"clamp.Tensor:max", "jvp", "0", "1", kClampTensorJvp},
      {"logaddexp", "vjp2", "nan", "", kLogAddExpLimits},      {"logaddexp", "fwr", "nan", "", kLogAddExpLimits},
      {"logaddexp2", "vjp2", "nan", "", kLogAddExpLimits},     {"logaddexp2", "fwr", "nan", "", kLogAddExpLimits},
      {"logaddexp", "jvp", "nan", "", kEqualInfinities},       {"logaddexp2", "jvp", "nan", "", kEqualInfinities},
      {"xlogy", "jvp1", "0", "-0", kXlogyZeroTerm},            {"xlogy", "fwr10", "0", "-0", kXlogyZeroTerm},
      {"logit", "vjp2", "nan", "", kLogitEdges},               {"logit", "fwr", "nan", "", kLogitEdges},
      {"logit", "vjp2", "0", "nan", kLogitEdges},              {"logit", "fwr", "0", "nan", kLogitEdges},
      {"logit", "vjp2", "-0", "nan", kLogitEdges},             {"logit", "fwr", "-0", "nan", kLogitEdges},
      {"logit:0.25", "vjp2", "nan", "0", kLogitOutside},       {"logit:0.25", "fwr", "nan", "0", kLogitOutside},
      {"logit:0.25", "vjp2", "-0", "0", kLogitOutside},        {"logit:0.25", "fwr", "-0", "0", kLogitOutside},
  };
  static const std::vector<EdgeDeviation> all = [] {
    std::vector<EdgeDeviation> out = deviations;
    out.insert(out.end(), norm_deviations.begin(), norm_deviations.end());
    return out;
  }();
  return all;
}

double edge_residue_floor(const std::string& key, ScalarType dtype) {
  // The 2-norm's second derivative along x itself is zero by cancellation ((|x|^2 - (x.x)^2 / f^2) / f).
  // logaddexp's and logaddexp2's gradients sum to 1 (in base e terms), so vjp2, the derivative of that sum, is
  // zero: PyTorch's is what is left of exp(a - out) + exp(b - out) - 1's roundings.
  if (key != "softmax" && key != "log_softmax" && key != "logsumexp" && key != "norm" && key != "linalg_vector_norm" &&
      key != "cross_entropy" && key != "logaddexp" && key != "logaddexp2")
    return 0;
  return dtype == kFloat32 ? 0x1p-22 : 0x1p-51;  // two ulps of 1: PyTorch's residues reach 1.05e-7 (float32)
}

const std::vector<OpRow>& op_table() {
  static const std::vector<OpRow> rows = build_table();
  return rows;
}

}  // namespace dydx::testing
