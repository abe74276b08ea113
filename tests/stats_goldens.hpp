// stats_goldens.txt (from tests/data/make_stats_goldens.py): PyTorch 1.13's values and gradients for
// var, std, norm, einsum, addcmul/addcdiv, layer_norm and batch_norm, the dydx call each key names,
// the comparison, and a finite-difference check of first and second derivatives in both modes.
#pragma once

#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include "golden_text.hpp"

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace dydx::testing {

struct StatsCase {
  std::string key;
  TensorList in, aux, grad, after;
  Tensor out;
};

/// The cases whose key starts with one of prefixes.
inline std::vector<StatsCase> stats_cases(const std::vector<std::string>& prefixes) {
  std::vector<StatsCase> cases;
  for (const std::string& line : golden_lines("stats_goldens.txt")) {
    std::stringstream words(line);
    StatsCase c;
    words >> c.key;
    bool wanted = false;
    for (const std::string& p : prefixes) wanted = wanted || c.key.rfind(p, 0) == 0;
    if (!wanted) continue;
    for (std::string field, shape, values; words >> field >> shape >> values;) {
      Tensor t = golden_tensor(shape, values);
      if (field == "in") c.in.push_back(t);
      else if (field == "aux") c.aux.push_back(t);
      else if (field == "out") c.out = t;
      else if (field == "grad") c.grad.push_back(t);
      else if (field == "after") c.after.push_back(t);
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

inline std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t begin = 0;
  // The einsum key holds the equation after the first ':', which may contain ',' but never ':'.
  while (true) {
    const size_t colon = key.find(':', begin);
    parts.push_back(key.substr(begin, colon - begin));
    if (colon == std::string::npos) break;
    begin = colon + 1;
  }
  return parts;
}

/// The dydx call a key names, applied to the inputs (and aux, which batch_norm updates in place).
inline Tensor apply_stats(const std::string& key, const TensorList& in, TensorList& aux) {
  const std::vector<std::string> k = split_key(key);
  const std::string& op = k[0];
  if (op == "var" || op == "std") {
    const bool is_var = op == "var";
    const Tensor& x = in[0];
    const std::string& v = k[1];
    auto moment = [&](IntArrayRef dims, std::optional<int64_t> c, bool keep) {
      return is_var ? var(x, dims, c, keep) : dydx::std(x, dims, c, keep);
    };
    if (v == "all") return is_var ? x.var() : x.std();
    if (v == "biased") return is_var ? var(x, false) : dydx::std(x, false);
    if (v == "dim1") return is_var ? x.var({1}) : x.std({1});
    if (v == "dim0") return is_var ? var(x, {0}) : dydx::std(x, {0});
    if (v == "dim0_biased_keep") return is_var ? x.var({0}, false, true) : x.std({0}, false, true);
    if (v == "dims01_c2") return moment({0, 1}, 2, false);
    if (v == "dims01_c3") return moment({0, 1}, 3, false);
    if (v == "dim1_c4") return moment({1}, 4, false);
    if (v == "dimlast_c0_keep") return moment({-1}, 0, true);
  }
  if (op == "norm" || op == "vector_norm") {
    const double p = golden_value(k[1]);
    const std::string& v = k[2];
    if (op == "vector_norm") return linalg::vector_norm(in[0], p, {1});
    if (v == "all") return p == 2 ? in[0].norm() : norm(in[0], p);
    if (v == "dim1") return in[0].norm(p, {1});
    if (v == "dim0_keep") return norm(in[0], p, {0}, true);
  }
  if (op == "einsum") return einsum(key.substr(7), in);
  if (op == "addcmul") return addcmul(in[0], in[1], in[2], std::stod(k[1]));
  if (op == "addcdiv") return in[0].addcdiv(in[1], in[2], std::stod(k[1]));
  if (op == "addcmul_") return (in[0] * 1.0).addcmul_(in[1], in[2], std::stod(k[1]));
  if (op == "addcdiv_") return (in[0] * 1.0).addcdiv_(in[1], in[2], std::stod(k[1]));
  if (op == "layer_norm") {
    std::vector<int64_t> shape;
    for (char c : k[1]) shape.push_back(c - '0');
    const bool eps = key.find(":eps") != std::string::npos;
    auto options = nn::functional::LayerNormFuncOptions(shape).eps(eps ? 1e-3 : 1e-5);
    if (in.size() > 1) options.weight(in[1]);
    if (in.size() > 2) options.bias(in[2]);
    if (in.size() == 3 && !eps) return layer_norm(in[0], shape, in[1], in[2]);  // the top-level spelling
    return nn::functional::layer_norm(in[0], options);
  }
  if (op == "batch_norm") {
    const std::string& mode = k[1];
    const Tensor rm = aux.empty() ? Tensor() : aux[0], rv = aux.empty() ? Tensor() : aux[1];
    const Tensor w = in.size() > 1 ? in[1] : Tensor(), b = in.size() > 2 ? in[2] : Tensor();
    if (mode == "train_m03_eps") return batch_norm(in[0], w, b, rm, rv, true, 0.3, 1e-3);
    auto options = nn::functional::BatchNormFuncOptions().weight(w).bias(b).training(mode != "eval");
    return nn::functional::batch_norm(in[0], rm, rv, options);
  }
  throw std::runtime_error("stats_goldens.txt names an unknown case: " + key);
}

/// The fixed cotangent of the goldens: c[i] = sin(i + 1), in out's shape.
inline Tensor golden_cotangent(const Tensor& out) {
  return sin(arange(out.numel(), kFloat64) + 1.0).reshape(out.sizes()).to(out.dtype());
}

/// t with the same values in a non-contiguous layout (every other element of a wider tensor's last dim).
inline Tensor strided_copy(const Tensor& t) {
  if (t.dim() == 0) return t;
  std::vector<int64_t> wide(t.sizes().begin(), t.sizes().end());
  wide.back() *= 2;
  Tensor w = zeros(wide, t.dtype());
  Tensor view = w.slice(-1, 0, std::nullopt, 2);
  view.copy_(t);
  return view;
}

/// Elementwise within rtol/atol, nan matching nan and infinities matching exactly.
inline ::testing::AssertionResult MatchesGolden(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (!got.defined()) return ::testing::AssertionFailure() << "undefined result";
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << got.shape_string() << " != " << want.shape_string();
  const std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    const bool ok = (std::isnan(a[i]) && std::isnan(b[i])) || a[i] == b[i] ||
                    (std::isfinite(b[i]) && std::abs(a[i] - b[i]) <= atol + rtol * std::abs(b[i]));
    if (!ok) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " != PyTorch's " << b[i];
  }
  return ::testing::AssertionSuccess();
}

/// Runs a case in dtype (inputs contiguous or strided) and compares value, gradients and updated aux.
inline void check_stats_case(const StatsCase& c, ScalarType dtype, bool strided, double rtol, double atol) {
  SCOPED_TRACE(c.key + (dtype == kFloat32 ? " float32" : " float64") + (strided ? " strided" : ""));
  TensorList in, aux;
  for (const Tensor& t : c.in) {
    Tensor x = t.to(dtype);
    if (strided) x = strided_copy(x);
    in.push_back(x.detach().requires_grad_());
  }
  for (const Tensor& t : c.aux) aux.push_back(strided ? strided_copy(t.to(dtype)) : t.to(dtype).clone());
  const Tensor out = apply_stats(c.key, in, aux);
  EXPECT_EQ(out.dtype(), dtype);
  EXPECT_TRUE(MatchesGolden(out, c.out, rtol, atol)) << "value";
  if (out.requires_grad()) {
    const TensorList grads = grad({(out * golden_cotangent(out)).sum()}, in, {}, std::nullopt, false, true);
    for (size_t i = 0; i < in.size(); ++i) {
      const Tensor g = grads[i].defined() ? grads[i] : zeros_like(in[i]);
      EXPECT_TRUE(MatchesGolden(g, c.grad[i], rtol, atol)) << "gradient " << i;
    }
  }
  for (size_t i = 0; i < c.after.size(); ++i) EXPECT_TRUE(MatchesGolden(aux[i], c.after[i], rtol, atol)) << "aux " << i;
}

inline double golden_dot(const Tensor& a, const Tensor& b) {
  return (a.to(kFloat64) * b.to(kFloat64)).sum().item<double>();
}

/// First and second derivatives of <c, f(inputs)> for a random cotangent c along random directions,
/// in float64: reverse mode, forward mode, double backward and forward over reverse, each against
/// central differences.
inline void check_fd_derivatives(const std::function<Tensor(const TensorList&)>& f, const TensorList& x0, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  auto random_like = [&](const Tensor& t) {
    std::vector<double> values(t.numel());
    for (double& v : values) v = normal(rng);
    return tensor(values, kFloat64).reshape(t.sizes());
  };
  const Tensor c = random_like(f(x0));
  TensorList v;
  for (const Tensor& x : x0) v.push_back(random_like(x));
  const double h = 1e-5;
  auto moved = [&](double s) {
    TensorList out;
    for (size_t i = 0; i < x0.size(); ++i) out.push_back(x0[i] + v[i] * s);
    return out;
  };
  const double fd = (golden_dot(c, f(moved(h))) - golden_dot(c, f(moved(-h)))) / (2 * h);
  auto gradient = [&](const TensorList& x, bool create) {
    TensorList leaves;
    for (const Tensor& t : x) leaves.push_back(t.detach().requires_grad_());
    TensorList g = grad({(f(leaves) * c).sum()}, leaves, {}, std::nullopt, create, true);
    for (size_t i = 0; i < g.size(); ++i)
      if (!g[i].defined()) g[i] = zeros_like(leaves[i]);
    return std::make_pair(leaves, g);
  };
  double vjp = 0;
  const TensorList g0 = gradient(x0, false).second;
  for (size_t i = 0; i < x0.size(); ++i) vjp += golden_dot(g0[i], v[i]);
  EXPECT_NEAR(vjp, fd, 1e-6 * (1 + std::abs(fd))) << "VJP";
  {
    forward_ad::DualLevel level;
    TensorList duals;
    for (size_t i = 0; i < x0.size(); ++i) duals.push_back(forward_ad::make_dual(x0[i], v[i]));
    const Tensor t = forward_ad::unpack_dual(f(duals)).tangent;
    EXPECT_NEAR(t.defined() ? golden_dot(c, t) : 0.0, fd, 1e-6 * (1 + std::abs(fd))) << "JVP";
  }
  const TensorList gp = gradient(moved(h), false).second, gm = gradient(moved(-h), false).second;
  auto [leaves, g] = gradient(x0, true);
  Tensor gv = zeros({}, kFloat64);
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i].requires_grad()) gv = gv + (g[i] * v[i]).sum();
  TensorList hv = gv.requires_grad() ? grad({gv}, leaves, {}, std::nullopt, false, true) : TensorList(leaves.size());
  {
    forward_ad::DualLevel level;
    TensorList primals, duals;
    for (size_t i = 0; i < x0.size(); ++i) {
      primals.push_back(x0[i].detach().requires_grad_());
      duals.push_back(forward_ad::make_dual(primals[i], v[i]));
    }
    const TensorList gd = grad({(f(duals) * c).sum()}, duals, {}, std::nullopt, false, true);
    for (size_t i = 0; i < x0.size(); ++i) {
      const Tensor hv_fd = (gp[i] - gm[i]) / (2 * h);
      const Tensor rr = hv[i].defined() ? hv[i] : zeros_like(x0[i]);
      EXPECT_TRUE(allclose(rr, hv_fd, 1e-5, 1e-6)) << "double backward, input " << i << "\n" << rr << "\n" << hv_fd;
      Tensor t = gd[i].defined() ? forward_ad::unpack_dual(gd[i]).tangent : Tensor();
      if (!t.defined()) t = zeros_like(x0[i]);
      EXPECT_TRUE(allclose(t, hv_fd, 1e-5, 1e-6)) << "forward over reverse, input " << i << "\n" << t << "\n" << hv_fd;
    }
  }
}

}  // namespace dydx::testing
