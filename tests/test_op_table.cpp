// Generic checks driven by the op table: every row, both dtypes, four input layouts.
//
// How to add an op: see the top of op_table.cpp. Each row is checked for
//   - its forward pass against the naive reference (float32 and float64);
//   - its VJP against central finite differences in float64, along random directions;
//   - its second derivative the same way, through create_graph;
//   - its float32 gradient against its float64 gradient;
//   - its JVP (forward mode) against finite differences and against its VJP (<u, J v> both ways);
//   - forward-over-forward, forward-over-reverse (Hessian-vector products) and reverse-over-forward
//     against finite differences;
//   - the transforms: func::jvp and func::vjp against finite differences, jacfwd against jacrev
//     (and chunked jacrev), and the Hessian for symmetry and against finite differences of grad;
//   - the forward Laplacian (its curvature rule) against the nested forward-over-forward diagonal;
// over contiguous, transposed, sliced and expanded inputs. Every registered op must have a row.
// EdgeValues (at the end) checks every arithmetic op's value and first and second derivatives at
// 0, -0, +-inf, nan and its domain edges against PyTorch's own numbers (tests/data/edge_cases.txt,
// from make_edge_cases.py); deliberate differences are listed, with reasons, in op_table.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "autograd/op_info.hpp"
#include "golden_text.hpp"
#include "op_table.hpp"
// For make_batched_dual, which jacfwd uses and the public API does not expose.
#include "autograd/forward_mode.hpp"
#include "transforms/rows.hpp"

namespace dydx::testing {
namespace {

// How a test input of a given logical shape is laid out in memory. The leaf is what gradients
// are taken with respect to; the input is the view of it that the op sees.
struct Layout {
  const char* name;
  std::function<std::vector<int64_t>(const std::vector<int64_t>&)> leaf_shape;
  std::function<Tensor(const Tensor&)> view;
};

std::vector<int64_t> reversed(std::vector<int64_t> shape) { return {shape.rbegin(), shape.rend()}; }

const std::vector<Layout>& layouts() {
  static const std::vector<Layout> all = {
      {"contiguous", [](const auto& s) { return s; }, [](const Tensor& leaf) { return leaf; }},
      {"transposed", [](const auto& s) { return reversed(s); },
       [](const Tensor& leaf) {
         std::vector<int64_t> dims;
         for (int64_t d = leaf.dim() - 1; d >= 0; --d) dims.push_back(d);
         return leaf.permute(dims);
       }},
      {"sliced",
       [](auto s) {
         if (!s.empty()) s.back() *= 2;
         return s;
       },
       [](const Tensor& leaf) { return leaf.dim() == 0 ? leaf : leaf.slice(-1, 0, std::nullopt, 2); }},
      {"expanded",
       [](auto s) {
         for (auto& size : s)
           if (size > 1) {
             size = 1;
             break;
           }
         return s;
       },
       [](const Tensor& leaf) { return leaf; }},  // expanded to the logical shape in make_inputs
  };
  return all;
}

struct Case {
  const OpRow* row;
  Shapes shapes;
  const Layout* layout;
};

TensorList inputs_from(const Case& c, const TensorList& leaves) {
  TensorList inputs;
  for (size_t i = 0; i < leaves.size(); ++i) {
    Tensor input = c.layout->view(leaves[i]);
    if (std::string(c.layout->name) == "expanded") input = input.expand(c.shapes[i]);
    inputs.push_back(input);
  }
  return inputs;
}

TensorList make_leaves(const Case& c, ScalarType dtype, std::mt19937_64& rng) {
  TensorList leaves;
  for (const auto& shape : c.shapes) leaves.push_back(random_tensor(c.layout->leaf_shape(shape), c.row->domain, dtype, rng));
  return leaves;
}

double inner_product(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return 0;
  NoGradGuard no_grad;
  return (a.to(kFloat64) * b.to(kFloat64)).sum().item<double>();
}

TensorList with_grad(const TensorList& leaves) {
  TensorList out;
  for (const Tensor& t : leaves) out.push_back(t.detach().clone().requires_grad_(true));
  return out;
}

// One random direction per tensor, shaped like it.
TensorList random_like(const TensorList& tensors, std::mt19937_64& rng) {
  TensorList out;
  for (const Tensor& t : tensors) out.push_back(random_tensor(t.sizes().vec(), Domain::Real, kFloat64, rng));
  return out;
}

// Duals of primals with the given tangents at the innermost open level.
TensorList duals_of(const TensorList& primals, const TensorList& tangents) {
  TensorList duals;
  for (size_t i = 0; i < primals.size(); ++i) duals.push_back(forward_ad::make_dual(primals[i], tangents[i]));
  return duals;
}

// Evaluates the row at leaves + step * direction. Grad mode stays on: some rows differentiate inside.
Tensor evaluate_at(const Case& c, const TensorList& leaves, const TensorList& direction, double step) {
  TensorList moved;
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < leaves.size(); ++i) moved.push_back(leaves[i].detach() + direction[i] * step);
  }
  return c.row->fn(inputs_from(c, moved)).detach();
}

// The scalar <u, f(x)> where f is the row; its gradient is the VJP with u.
double project(const Case& c, const TensorList& leaves, const TensorList& direction, double step, const Tensor& u) {
  return inner_product(u, evaluate_at(c, leaves, direction, step));
}

constexpr double kStep = 1e-6;

std::string case_name(const Case& c, ScalarType dtype) {
  std::string shapes;
  for (const auto& s : c.shapes) {
    shapes += "[";
    for (size_t i = 0; i < s.size(); ++i) shapes += (i ? "," : "") + std::to_string(s[i]);
    shapes += "]";
  }
  return c.row->name + " " + shapes + " " + c.layout->name + " " + dtype_name(dtype);
}

std::vector<Case> cases_of(const OpRow& row) {
  std::vector<Case> cases;
  for (const auto& shapes : row.samples)
    for (const auto& layout : layouts()) cases.push_back({&row, shapes, &layout});
  return cases;
}

class OpTableTest : public ::testing::TestWithParam<size_t> {
 protected:
  const OpRow& row() const { return op_table()[GetParam()]; }
};

TEST_P(OpTableTest, ForwardMatchesNaiveReference) {
  for (const Case& c : cases_of(row()))
    for (ScalarType dtype : {kFloat32, kFloat64}) {
      SCOPED_TRACE(case_name(c, dtype));
      std::mt19937_64 rng(GetParam() * 7919 + 1);
      TensorList inputs = inputs_from(c, make_leaves(c, dtype, rng));
      Tensor out = row().fn(inputs);
      std::vector<Naive> naive_inputs;
      for (const Tensor& t : inputs) naive_inputs.push_back(Naive::of(t));
      Naive expected = row().reference(naive_inputs);
      ASSERT_EQ(out.sizes().vec(), expected.shape);
      EXPECT_EQ(out.dtype(), dtype);
      Naive actual = Naive::of(out);
      const double rtol = dtype == kFloat32 ? std::max(row().tolerance, 1e-6) : 1e-12;
      for (size_t i = 0; i < actual.values.size(); ++i)
        ASSERT_NEAR(actual.values[i], expected.values[i], rtol * (1 + std::abs(expected.values[i]))) << "element " << i;
    }
}

TEST_P(OpTableTest, GradientMatchesFiniteDifferences) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 104729 + 3);
    TensorList leaves = with_grad(make_leaves(c, kFloat64, rng));
    Tensor out = row().fn(inputs_from(c, leaves));
    ASSERT_TRUE(out.requires_grad());
    for (int trial = 0; trial < 2; ++trial) {
      Tensor u = random_tensor(out.sizes().vec(), Domain::Real, kFloat64, rng);
      TensorList v = random_like(leaves, rng);
      TensorList vjp = grad({out}, leaves, {u}, /*retain_graph=*/true, false, /*allow_unused=*/true);
      double reverse = 0;
      for (size_t i = 0; i < leaves.size(); ++i) reverse += inner_product(vjp[i], v[i]);
      double numeric = (project(c, leaves, v, kStep, u) - project(c, leaves, v, -kStep, u)) / (2 * kStep);
      EXPECT_NEAR(reverse, numeric, 1e-5 * (1 + std::abs(numeric))) << "trial " << trial;
    }
  }
}

TEST_P(OpTableTest, SecondDerivativeMatchesFiniteDifferences) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 15485863 + 5);
    TensorList leaves = with_grad(make_leaves(c, kFloat64, rng));
    Tensor out = row().fn(inputs_from(c, leaves));
    Tensor u = random_tensor(out.sizes().vec(), Domain::Real, kFloat64, rng);
    TensorList w = random_like(leaves, rng), v = random_like(leaves, rng);
    // g(x) = <J(x)^T u, w>; its gradient along v is the second derivative being checked.
    auto first_order = [&](const TensorList& at, bool create_graph) {
      Tensor y = row().fn(inputs_from(c, at));
      TensorList vjp = grad({y}, at, {u}, true, create_graph, true);
      Tensor total = zeros({}, kFloat64);
      for (size_t i = 0; i < at.size(); ++i)
        if (vjp[i].defined()) total = total + (vjp[i] * w[i]).sum();
      return total;
    };
    Tensor g = first_order(leaves, true);
    double reverse = 0;
    if (g.requires_grad()) {
      TensorList second = grad({g}, leaves, {}, true, false, true);
      for (size_t i = 0; i < leaves.size(); ++i) reverse += inner_product(second[i], v[i]);
    }
    auto g_at = [&](double step) {
      TensorList moved;
      {
        NoGradGuard no_grad;
        for (size_t i = 0; i < leaves.size(); ++i) moved.push_back(leaves[i].detach() + v[i] * step);
      }
      return first_order(with_grad(moved), false).item<double>();
    };
    double numeric = (g_at(kStep) - g_at(-kStep)) / (2 * kStep);
    EXPECT_NEAR(reverse, numeric, 1e-4 * (1 + std::abs(numeric)));
  }
}

TEST_P(OpTableTest, Float32GradientMatchesFloat64) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat32));
    std::mt19937_64 rng(GetParam() * 31 + 11);
    TensorList leaves32 = with_grad(make_leaves(c, kFloat32, rng));
    TensorList leaves64;
    for (const Tensor& t : leaves32) leaves64.push_back(t.detach().to(kFloat64).requires_grad_(true));
    Tensor out32 = row().fn(inputs_from(c, leaves32));
    Tensor out64 = row().fn(inputs_from(c, leaves64));
    Tensor u = random_tensor(out64.sizes().vec(), Domain::Real, kFloat32, rng);
    TensorList g32 = grad({out32}, leaves32, {u}, std::nullopt, false, true);
    TensorList g64 = grad({out64}, leaves64, {u.to(kFloat64)}, std::nullopt, false, true);
    for (size_t i = 0; i < leaves32.size(); ++i) {
      ASSERT_EQ(g32[i].defined(), g64[i].defined());
      if (!g32[i].defined()) continue;
      EXPECT_EQ(g32[i].dtype(), kFloat32);
      EXPECT_TRUE(allclose(g32[i].to(kFloat64), g64[i], 1e-4, 1e-5)) << "input " << i;
    }
  }
}

// Tangent of f at leaves along v at a fresh dual level, projected on u (an undefined tangent is zero).
double projected_jvp(const Case& c, const TensorList& leaves, const TensorList& v, const Tensor& u) {
  forward_ad::DualLevel level;
  TensorList duals = duals_of(leaves, v);
  return inner_product(u, forward_ad::unpack_dual(c.row->fn(inputs_from(c, duals))).tangent);
}

TEST_P(OpTableTest, ForwardModeMatchesFiniteDifferencesAndReverseMode) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 7727 + 13);
    TensorList leaves = with_grad(make_leaves(c, kFloat64, rng));
    Tensor out = row().fn(inputs_from(c, leaves));
    Tensor u = random_tensor(out.sizes().vec(), Domain::Real, kFloat64, rng);
    TensorList v = random_like(leaves, rng);
    const double forward = projected_jvp(c, leaves, v, u);
    const double numeric = (project(c, leaves, v, kStep, u) - project(c, leaves, v, -kStep, u)) / (2 * kStep);
    EXPECT_NEAR(forward, numeric, 1e-5 * (1 + std::abs(numeric)));
    // <u, J v> computed both ways.
    TensorList vjp = grad({out}, leaves, {u}, std::nullopt, false, true);
    double reverse = 0;
    for (size_t i = 0; i < leaves.size(); ++i) reverse += inner_product(vjp[i], v[i]);
    EXPECT_NEAR(forward, reverse, 1e-10 * (1 + std::abs(reverse)));
  }
}

TEST_P(OpTableTest, ForwardOverForwardMatchesFiniteDifferences) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 3571 + 17);
    TensorList leaves = make_leaves(c, kFloat64, rng);
    Tensor out = row().fn(inputs_from(c, leaves));
    Tensor u = random_tensor(out.sizes().vec(), Domain::Real, kFloat64, rng);
    TensorList v = random_like(leaves, rng), w = random_like(leaves, rng);
    // Outer level along v, inner level along w: the inner tangent's outer tangent is d2f[v, w].
    double nested = 0;
    {
      forward_ad::DualLevel outer;
      TensorList duals = duals_of(leaves, v);
      forward_ad::DualLevel inner;
      for (size_t i = 0; i < leaves.size(); ++i) duals[i] = forward_ad::make_dual(duals[i], w[i]);
      Tensor inner_tangent = forward_ad::unpack_dual(c.row->fn(inputs_from(c, duals))).tangent;
      if (inner_tangent.defined()) nested = inner_product(u, forward_ad::unpack_dual(inner_tangent, outer.level()).tangent);
    }
    auto jvp_at = [&](double step) {
      TensorList moved;
      for (size_t i = 0; i < leaves.size(); ++i) moved.push_back(leaves[i] + v[i] * step);
      return projected_jvp(c, moved, w, u);
    };
    const double numeric = (jvp_at(kStep) - jvp_at(-kStep)) / (2 * kStep);
    EXPECT_NEAR(nested, numeric, 1e-4 * (1 + std::abs(numeric)));
  }
}

TEST_P(OpTableTest, ForwardOverReverseGivesHessianVectorProducts) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 6151 + 19);
    TensorList leaves = with_grad(make_leaves(c, kFloat64, rng));
    Tensor out = row().fn(inputs_from(c, leaves));
    Tensor u = random_tensor(out.sizes().vec(), Domain::Real, kFloat64, rng);
    TensorList v = random_like(leaves, rng), w = random_like(leaves, rng);
    // <J(x)^T u, w> differentiated along v in forward mode, through a recorded backward pass.
    auto vjp_dot_w = [&](const TensorList& at) {
      TensorList vjp = grad({c.row->fn(inputs_from(c, at))}, at, {u}, std::nullopt, true, true);
      Tensor total = zeros({}, kFloat64);
      for (size_t i = 0; i < at.size(); ++i)
        if (vjp[i].defined()) total = total + (vjp[i] * w[i]).sum();
      return total;
    };
    double hvp = 0;
    {
      forward_ad::DualLevel level;
      TensorList duals = duals_of(leaves, v);
      Tensor tangent = forward_ad::unpack_dual(vjp_dot_w(duals)).tangent;
      if (tangent.defined()) hvp = tangent.item<double>();
    }
    auto at = [&](double step) {
      TensorList moved;
      {
        NoGradGuard no_grad;
        for (size_t i = 0; i < leaves.size(); ++i) moved.push_back(leaves[i] + v[i] * step);
      }
      return vjp_dot_w(with_grad(moved)).item<double>();
    };
    const double numeric = (at(kStep) - at(-kStep)) / (2 * kStep);
    EXPECT_NEAR(hvp, numeric, 1e-4 * (1 + std::abs(numeric)));
  }
}

TEST_P(OpTableTest, ReverseOverForwardMatchesFiniteDifferences) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 5711 + 37);
    TensorList leaves = with_grad(make_leaves(c, kFloat64, rng));
    Tensor out = row().fn(inputs_from(c, leaves));
    Tensor u = random_tensor(out.sizes().vec(), Domain::Real, kFloat64, rng);
    TensorList v = random_like(leaves, rng), w = random_like(leaves, rng);
    // s(x) = <u, J(x) v>, computed in forward mode with grad mode on, then differentiated in reverse.
    Tensor s;
    {
      forward_ad::DualLevel level;
      TensorList duals = duals_of(leaves, v);
      Tensor tangent = forward_ad::unpack_dual(c.row->fn(inputs_from(c, duals))).tangent;
      s = tangent.defined() ? (tangent * u).sum() : Tensor();
    }
    double reverse = 0;
    if (s.defined() && s.requires_grad()) {
      TensorList g = grad({s}, leaves, {}, std::nullopt, false, true);
      for (size_t i = 0; i < leaves.size(); ++i) reverse += inner_product(g[i], w[i]);
    }
    auto s_at = [&](double step) {
      TensorList moved;
      for (size_t i = 0; i < leaves.size(); ++i) moved.push_back(leaves[i].detach() + w[i] * step);
      return projected_jvp(c, moved, v, u);
    };
    const double numeric = (s_at(kStep) - s_at(-kStep)) / (2 * kStep);
    EXPECT_NEAR(reverse, numeric, 1e-4 * (1 + std::abs(numeric)));
  }
}

TEST_P(OpTableTest, BatchedVjpEqualsStackedVjps) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 8111 + 41);
    TensorList leaves = with_grad(make_leaves(c, kFloat64, rng));
    Tensor out = row().fn(inputs_from(c, leaves));
    std::vector<int64_t> batch_shape = out.sizes().vec();
    batch_shape.insert(batch_shape.begin(), 3);
    Tensor cotangents = random_tensor(batch_shape, Domain::Real, kFloat64, rng);
    TensorList batched = grad({out}, leaves, {cotangents}, true, false, true, /*is_grads_batched=*/true);
    for (size_t i = 0; i < leaves.size(); ++i) {
      TensorList rows;
      for (int64_t n = 0; n < 3; ++n) {
        Tensor g = grad({out}, {leaves[i]}, {cotangents.select(0, n)}, true, false, true)[0];
        rows.push_back(g.defined() ? g : zeros_like(leaves[i]));
      }
      Tensor expected = stack(rows);
      Tensor actual = batched[i].defined() ? batched[i] : zeros_like(expected);
      ASSERT_EQ(actual.sizes().vec(), expected.sizes().vec()) << "input " << i;
      EXPECT_TRUE(allclose(actual, expected, 1e-12, 1e-14)) << "input " << i;
    }
  }
}

TEST_P(OpTableTest, BatchedJvpEqualsStackedJvps) {
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 6563 + 43);
    TensorList leaves = make_leaves(c, kFloat64, rng);
    TensorList directions;  // [3] + each leaf's shape
    for (const Tensor& leaf : leaves) {
      std::vector<int64_t> shape = leaf.sizes().vec();
      shape.insert(shape.begin(), 3);
      directions.push_back(random_tensor(shape, Domain::Real, kFloat64, rng));
    }
    Tensor batched;
    {
      forward_ad::DualLevel level;
      TensorList duals;
      for (size_t i = 0; i < leaves.size(); ++i) duals.push_back(forward::make_batched_dual(leaves[i], directions[i]));
      batched = forward_ad::unpack_dual(c.row->fn(inputs_from(c, duals))).tangent;
    }
    TensorList rows;
    for (int64_t n = 0; n < 3; ++n) {
      forward_ad::DualLevel level;
      TensorList duals;
      for (size_t i = 0; i < leaves.size(); ++i) duals.push_back(forward_ad::make_dual(leaves[i], directions[i].select(0, n)));
      Tensor out = c.row->fn(inputs_from(c, duals));
      Tensor t = forward_ad::unpack_dual(out).tangent;
      rows.push_back(t.defined() ? t : zeros_like(out));
    }
    Tensor expected = stack(rows);
    Tensor actual = batched.defined() ? batched : zeros_like(expected);
    ASSERT_EQ(actual.sizes().vec(), expected.sizes().vec());
    EXPECT_TRUE(allclose(actual, expected, 1e-12, 1e-14));
  }
}

// ---- the function transforms, on every row --------------------------------------------------

func::Function as_function(const Case& c) {
  return [&c](const TensorList& leaves) { return TensorList{c.row->fn(inputs_from(c, leaves))}; };
}

// The contiguous and transposed layouts are enough here: the transforms add no layout handling.
std::vector<Case> transform_cases_of(const OpRow& row) {
  std::vector<Case> cases;
  for (const Case& c : cases_of(row))
    if (std::string(c.layout->name) == "contiguous" || std::string(c.layout->name) == "transposed") cases.push_back(c);
  return cases;
}

TEST_P(OpTableTest, FuncJvpAndVjpMatchFiniteDifferences) {
  for (const Case& c : transform_cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 4409 + 23);
    TensorList leaves = make_leaves(c, kFloat64, rng);
    TensorList v = random_like(leaves, rng);
    auto [values, tangents] = func::jvp(as_function(c), leaves, v);
    Tensor u = random_tensor(values[0].sizes().vec(), Domain::Real, kFloat64, rng);
    auto [outputs, pullback] = func::vjp(as_function(c), leaves);
    TensorList cotangent_grads = pullback({u});
    double reverse = 0;
    for (size_t i = 0; i < leaves.size(); ++i) reverse += inner_product(cotangent_grads[i], v[i]);
    const double forward = inner_product(u, tangents[0]);
    const double numeric = (project(c, leaves, v, kStep, u) - project(c, leaves, v, -kStep, u)) / (2 * kStep);
    EXPECT_NEAR(forward, numeric, 1e-5 * (1 + std::abs(numeric)));
    EXPECT_NEAR(reverse, numeric, 1e-5 * (1 + std::abs(numeric)));
    EXPECT_NEAR(forward, reverse, 1e-10 * (1 + std::abs(reverse)));
    EXPECT_TRUE(allclose(values[0], outputs[0], 0, 0));
  }
}

TEST_P(OpTableTest, JacfwdEqualsJacrev) {
  for (const Case& c : transform_cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 2203 + 29);
    TensorList leaves = make_leaves(c, kFloat64, rng);
    std::vector<int64_t> argnums;
    for (size_t i = 0; i < leaves.size(); ++i) argnums.push_back(static_cast<int64_t>(i));
    TensorList forward = func::jacfwd(as_function(c), leaves, argnums);
    TensorList reverse = func::jacrev(as_function(c), leaves, argnums);
    TensorList chunked = func::jacrev(as_function(c), leaves, argnums, /*chunk_size=*/2);
    TensorList chunked_forward = func::jacfwd(as_function(c), leaves, argnums, /*chunk_size=*/2);
    ASSERT_EQ(forward.size(), leaves.size());
    ASSERT_EQ(reverse.size(), leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      Tensor out = c.row->fn(inputs_from(c, leaves));
      std::vector<int64_t> shape = out.sizes().vec();
      for (int64_t s : leaves[i].sizes()) shape.push_back(s);
      EXPECT_EQ(forward[i].sizes().vec(), shape);
      EXPECT_TRUE(allclose(forward[i], reverse[i], 1e-10, 1e-12)) << "argnum " << i;
      EXPECT_TRUE(allclose(chunked[i], reverse[i], 0, 0)) << "argnum " << i;
      EXPECT_TRUE(allclose(chunked_forward[i], forward[i], 0, 0)) << "argnum " << i;
    }
  }
}

TEST_P(OpTableTest, HessianIsSymmetricAndMatchesFiniteDifferencesOfGrad) {
  for (const Case& c : transform_cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 9973 + 31);
    TensorList leaves = make_leaves(c, kFloat64, rng);
    Tensor u = random_tensor(c.row->fn(inputs_from(c, leaves)).sizes().vec(), Domain::Real, kFloat64, rng);
    // A scalar function of the first input, the others held fixed.
    func::UnaryFunction g = [&](const Tensor& x) {
      TensorList at = leaves;
      at[0] = x;
      return (c.row->fn(inputs_from(c, at)) * u).sum();
    };
    const Tensor& x = leaves[0];
    const int64_t n = x.numel();
    Tensor h = func::hessian(g)(x);
    ASSERT_EQ(h.numel(), n * n);
    Tensor square = h.reshape({n, n});
    EXPECT_TRUE(allclose(square, square.t(), 1e-9, 1e-10));
    auto gradient = func::grad(g);
    for (int64_t k = 0; k < n; ++k) {
      Tensor e = zeros({n}, kFloat64);
      e.select(0, k).fill_(1.0);
      e = e.view(x.sizes());
      Tensor column = (gradient(x + e * kStep) - gradient(x - e * kStep)) / (2 * kStep);
      EXPECT_TRUE(allclose(square.select(1, k), column.reshape({n}), 1e-4, 1e-5)) << "column " << k;
    }
  }
}

// ---- the forward Laplacian, on every row -----------------------------------------------------

// The row as a row-wise function of x [2, n], n being the number of input elements: row b mixes
// its n values by a random matrix m into z and moves each input by z + z^2 / 2 along its own slice
// of z, so that every input carries directional derivatives that are not basis vectors and a
// nonzero Laplacian of its own. Inputs not in moving stay constant. The rows' outputs are
// flattened and stacked.
func::UnaryFunction row_wise(const Case& c, const TensorList& leaves, const Tensor& m, std::vector<bool> moving) {
  return [&c, leaves, m, moving](const Tensor& x) {
    TensorList rows;
    for (int64_t b = 0; b < x.size(0); ++b) {
      Tensor z = matmul(x.select(0, b), m);
      TensorList moved;
      int64_t offset = 0;
      for (size_t i = 0; i < leaves.size(); ++i) {
        const Tensor& leaf = leaves[i];
        Tensor part = z.narrow(0, offset, leaf.numel()).reshape(leaf.sizes());
        moved.push_back(moving[i] ? leaf + part + part.pow(2) * 0.5 : leaf);
        offset += leaf.numel();
      }
      rows.push_back(c.row->fn(inputs_from(c, moved)).reshape({-1}));
    }
    return stack(rows, 0);
  };
}

TEST_P(OpTableTest, ForwardLaplacianEqualsNestedForwardDiagonal) {
  for (const Case& c : transform_cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 6007 + 37);
    TensorList leaves = make_leaves(c, kFloat64, rng);
    int64_t n = 0;
    for (const Tensor& leaf : leaves) n += leaf.numel();
    Tensor m = random_tensor({n, n}, Domain::Real, kFloat64, rng) / std::sqrt(static_cast<double>(n));
    Tensor x = random_tensor({2, n}, Domain::Real, kFloat64, rng) * 0.1;
    // Every input moving, then (for several inputs) each alone, so that the curvature rules also
    // see inputs without directional derivatives.
    std::vector<std::vector<bool>> movings = {std::vector<bool>(leaves.size(), true)};
    for (size_t i = 0; leaves.size() > 1 && i < leaves.size(); ++i) {
      movings.emplace_back(leaves.size(), false);
      movings.back()[i] = true;
    }
    for (const auto& moving : movings) {
      func::UnaryFunction f = row_wise(c, leaves, m, moving);
      Tensor expected = func::batch_hessian_diagonal(f, x).sum({-1});
      Tensor actual = func::laplacian(f, x);
      ASSERT_EQ(actual.sizes().vec(), expected.sizes().vec());
      EXPECT_TRUE(allclose(actual, expected, 1e-10, 1e-10)) << actual << "\n" << expected;
    }
  }
}

// A row-wise f of x [2, 3] for the biharmonic level: each moving input is leaf + p(z) with p(z) =
// z + z^2/2 + z^3/6 + z^4/24 and z = x_b m reshaped like the leaf, so that every input carries
// nonzero derivatives of all four orders along the 3 axes; the op's floating result then goes
// through sin, whose step reads every slice of the op's stack (g, H, T and Q), not only Q.
func::UnaryFunction quartic_row_wise(const Case& c, const TensorList& leaves, const Tensor& m, std::vector<bool> moving) {
  return [&c, leaves, m, moving](const Tensor& x) {
    TensorList rows;
    for (int64_t b = 0; b < x.size(0); ++b) {
      const Tensor z = matmul(x.select(0, b), m);
      TensorList moved;
      int64_t offset = 0;
      for (size_t i = 0; i < leaves.size(); ++i) {
        const Tensor& leaf = leaves[i];
        const Tensor part = z.narrow(0, offset, leaf.numel()).reshape(leaf.sizes());
        const Tensor square = part * part;
        moved.push_back(moving[i] ? leaf + part + square * 0.5 + square * part * (1.0 / 6) + square * square * (1.0 / 24) : leaf);
        offset += leaf.numel();
      }
      const Tensor out = c.row->fn(inputs_from(c, moved)).reshape({-1});
      rows.push_back(out.is_floating_point() ? sin(out) : out);
    }
    return stack(rows, 0);
  };
}

// Ops with a second derivative but no rule at a biharmonic level (func::biharmonic takes two nested
// forward-Laplacian levels where f has one); each is checked to raise forward::NoBiharmonicRule there.
const std::set<std::string>& ops_without_biharmonic_rule() {
  static const std::set<std::string> names = {
      "atan2", "hypot", "xlogy", "pow.Tensor", "softmax", "log_softmax", "logsumexp", "var", "std", "norm", "linalg_vector_norm",
      "layer_norm", "cross_entropy", "linalg_inv", "linalg_solve", "prod", "prod.dim_int", "cumprod",
      // The product rules' own ops.
      "prod_others", "cumprod_tangents", "cumprod_adjoint",
      // The forward Laplacian's own steps, which only its level makes.
      "laplacian_tangent.tanh", "laplacian_tangent.sigmoid", "laplacian_tangent.exp", "laplacian_tangent.sin",
      "laplacian_tangent.cos", "laplacian_tangent.silu"};
  return names;
}

// One pass at a biharmonic level (forward::make_biharmonic_level) gives the Laplacian of the
// Laplacian that two nested forward-Laplacian levels give, for every op, with every input moving and
// each alone; or it raises NoBiharmonicRule, for the listed ops only.
TEST_P(OpTableTest, BiharmonicLevelMatchesNestedForwardLaplacians) {
  const bool listed = ops_without_biharmonic_rule().count(row().name) > 0;
  bool raised = false;
  for (const Case& c : transform_cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 4463 + 11);
    const TensorList leaves = make_leaves(c, kFloat64, rng);
    int64_t n = 0;
    for (const Tensor& leaf : leaves) n += leaf.numel();
    const Tensor m = random_tensor({3, n}, Domain::Real, kFloat64, rng) * 0.5;
    const Tensor x = random_tensor({2, 3}, Domain::Real, kFloat64, rng) * 0.2;
    std::vector<std::vector<bool>> movings = {std::vector<bool>(leaves.size(), true)};
    for (size_t i = 0; leaves.size() > 1 && i < leaves.size(); ++i) {
      movings.emplace_back(leaves.size(), false);
      movings.back()[i] = true;
    }
    for (const auto& moving : movings) {
      const func::UnaryFunction f = quartic_row_wise(c, leaves, m, moving);
      const func::UnaryFunction laplacian_of_f = [&f](const Tensor& z) { return func::laplacian(f, z); };
      const Tensor want = func::laplacian(laplacian_of_f, x);
      Tensor got;
      try {
        got = func::detail::biharmonic_in_one_pass(f, x);
      } catch (const forward::NoBiharmonicRule& e) {
        raised = true;
        EXPECT_NE(std::string(e.what()).find(row().name), std::string::npos) << e.what();
        continue;
      }
      ASSERT_EQ(got.sizes().vec(), want.sizes().vec());
      EXPECT_TRUE(allclose(got, want, 1e-9, 1e-9, true)) << got << "\n" << want;
      // With x needing grad every stack carries derivatives: the composed steps, not the kernels.
      const Tensor composed = func::detail::biharmonic_in_one_pass(f, x.detach().requires_grad_(true));
      EXPECT_TRUE(allclose(composed.detach(), want, 1e-9, 1e-9, true)) << "composed steps\n" << composed << "\n" << want;
    }
  }
  EXPECT_EQ(raised, listed) << row().name
                            << (listed ? " has a biharmonic rule: take it off ops_without_biharmonic_rule()"
                                       : " raised NoBiharmonicRule: give it a rule, or list it in ops_without_biharmonic_rule()");
}

// Ops whose records have no Taylor rule yet (func::jet raises on them, naming the op). Each entry is
// checked to raise; adding a rule to an op means taking it off this list, and an op added without a
// rule must be put on it.
const std::set<std::string>& ops_without_taylor_rule() {
  static const std::set<std::string> names = {};
  return names;
}

std::vector<int64_t> concat_shape(std::vector<int64_t> front, const std::vector<int64_t>& back) {
  front.insert(front.end(), back.begin(), back.end());
  return front;
}

const autograd::OpInfo* registered(const std::string& name) {
  for (const autograd::OpInfo* op : autograd::registered_ops())
    if (name == op->name) return op;
  return nullptr;
}

constexpr int64_t kTaylorOrder = 4;

// d^k/dt^k of the row along x(t) = leaves + sum_k series[k-1] t^k / k!, at t = 0, for k = 1..K, by k
// nested jacfwd over the scalar t: what func::jet must give, computed without any Taylor rule.
TensorList nested_curve_derivatives(const Case& c, const TensorList& leaves, const std::vector<TensorList>& series) {
  const func::Function curve = [&c, &leaves, &series](const TensorList& in) {
    const Tensor& t = in[0];
    TensorList moved;
    for (size_t i = 0; i < leaves.size(); ++i) {
      Tensor x = leaves[i], power;
      double factorial = 1;
      for (int64_t k = 1; k <= kTaylorOrder; ++k) {
        factorial *= static_cast<double>(k);
        power = k == 1 ? t : power * t;
        x = x + series[i][k - 1] * (power / factorial);
      }
      moved.push_back(x);
    }
    return TensorList{c.row->fn(inputs_from(c, moved))};
  };
  TensorList derivatives;
  func::Function d = curve;
  for (int64_t k = 1; k <= kTaylorOrder; ++k) {
    d = func::jacfwd(d, {0});
    derivatives.push_back(d({zeros({}, kFloat64)})[0]);
  }
  return derivatives;
}

// func::jet to order 4 through the row, in both dtypes and over every layout, against nested forward
// mode in float64; an op without a Taylor rule must raise naming it.
TEST_P(OpTableTest, TaylorCoefficientsMatchNestedForwardMode) {
  const autograd::OpInfo* info = registered(row().name);
  ASSERT_NE(info, nullptr);
  const bool listed = ops_without_taylor_rule().count(row().name) > 0;
  EXPECT_EQ(listed, info->taylor == autograd::TaylorKind::none)
      << row().name << (listed ? " has a Taylor rule: take it off ops_without_taylor_rule()"
                               : " has no Taylor rule: give it one, or list it in ops_without_taylor_rule()");
  for (const Case& c : cases_of(row())) {
    for (ScalarType dtype : {kFloat64, kFloat32}) {
      SCOPED_TRACE(case_name(c, dtype));
      std::mt19937_64 rng(GetParam() * 7919 + 3);
      const TensorList leaves = make_leaves(c, dtype, rng);
      std::vector<TensorList> series(leaves.size());
      for (size_t i = 0; i < leaves.size(); ++i)
        for (int64_t k = 0; k < kTaylorOrder; ++k)
          series[i].push_back(random_tensor(leaves[i].sizes().vec(), Domain::Real, dtype, rng) * 0.3);
      const func::Function f = as_function(c);
      if (info->taylor == autograd::TaylorKind::none) {
        try {
          func::jet(f, leaves, series);
          ADD_FAILURE() << "jet through " << row().name << " did not raise";
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find(row().name), std::string::npos) << e.what();
        }
        return;
      }
      const func::JetResult got = func::jet(f, leaves, series);
      ASSERT_EQ(got.series_out.size(), 1u);
      ASSERT_EQ(got.series_out[0].size(), static_cast<size_t>(kTaylorOrder));
      const Tensor value = row().fn(inputs_from(c, leaves));
      EXPECT_TRUE(allclose(got.primals_out[0].to(kFloat64), value.to(kFloat64), 0, 0, true));
      if (!value.is_floating_point()) {
        for (const Tensor& term : got.series_out[0]) EXPECT_FALSE(term.to(kFloat64).ne(0).any().item<bool>());
        continue;
      }
      TensorList leaves64;
      std::vector<TensorList> series64(leaves.size());
      for (size_t i = 0; i < leaves.size(); ++i) {
        leaves64.push_back(leaves[i].to(kFloat64));
        for (const Tensor& term : series[i]) series64[i].push_back(term.to(kFloat64));
      }
      const TensorList want = nested_curve_derivatives(c, leaves64, series64);
      for (int64_t k = 0; k < kTaylorOrder; ++k) {
        const Tensor term = got.series_out[0][k];
        EXPECT_EQ(term.dtype(), dtype);
        const double tol = dtype == kFloat64 ? 1e-9 : std::max(row().tolerance, 1e-4) * 10;
        EXPECT_TRUE(allclose(term.to(kFloat64), want[k], tol, tol, true)) << "order " << k + 1 << "\n" << term << "\n" << want[k];
      }
    }
  }
}

// A collapsed Taylor level (forward::make_collapsed_taylor_level) gives each direction's lower
// coefficients and the weighted sum of their K-th, as an ordinary Taylor level with every direction
// does: checked for every op with a Taylor rule, order 3, two directions, over every layout.
TEST_P(OpTableTest, CollapsedTaylorEqualsTheWeightedSumOfEveryDirection) {
  const autograd::OpInfo* info = registered(row().name);
  ASSERT_NE(info, nullptr);
  if (info->taylor == autograd::TaylorKind::none) return;  // TaylorCoefficientsMatchNestedForwardMode checks it raises
  constexpr int64_t order = 3, directions = 2;
  const Tensor weights = tensor(std::vector<double>{0.7, -1.3}, kFloat64);
  for (const Case& c : cases_of(row())) {
    SCOPED_TRACE(case_name(c, kFloat64));
    std::mt19937_64 rng(GetParam() * 4241 + 5);
    const TensorList leaves = make_leaves(c, kFloat64, rng);
    TensorList full, collapsed;  // per leaf: [K, R, ...] and [(K - 1) R + 1, ...]
    for (const Tensor& leaf : leaves) {
      const Tensor coefficients =
          random_tensor(concat_shape({order, directions}, leaf.sizes().vec()), Domain::Real, kFloat64, rng) * 0.3;
      full.push_back(coefficients);
      const Tensor top = (coefficients.select(0, order - 1) *
                          weights.reshape(concat_shape({directions}, std::vector<int64_t>(leaf.dim(), 1))))
                             .sum({0}, true);
      collapsed.push_back(cat({coefficients.narrow(0, 0, order - 1).reshape(concat_shape({(order - 1) * directions}, leaf.sizes().vec())), top}));
    }
    auto run = [&](const TensorList& tangents, bool collapse) {
      forward_ad::DualLevel level;
      if (collapse) forward::make_collapsed_taylor_level(level.level(), order, weights);
      else forward::make_taylor_level(level.level(), order);
      TensorList duals;
      for (size_t i = 0; i < leaves.size(); ++i) duals.push_back(forward::make_batched_dual(leaves[i], tangents[i]));
      const Tensor out = row().fn(inputs_from(c, duals));
      return forward_ad::unpack_dual(out, level.level()).tangent;
    };
    const Tensor want = run(full, false), got = run(collapsed, true);
    if (!want.defined()) {
      EXPECT_TRUE(!got.defined() || !got.ne(0).any().item<bool>());
      continue;
    }
    ASSERT_TRUE(got.defined());
    const Tensor want_lower = want.narrow(0, 0, order - 1).reshape(got.narrow(0, 0, (order - 1) * directions).sizes());
    const Tensor want_top = (want.select(0, order - 1) *
                             weights.reshape(concat_shape({directions}, std::vector<int64_t>(want.dim() - 2, 1))))
                                .sum({0});
    EXPECT_TRUE(allclose(got.narrow(0, 0, (order - 1) * directions), want_lower, 1e-10, 1e-10));
    EXPECT_TRUE(allclose(got.select(0, (order - 1) * directions), want_top, 1e-10, 1e-10))
        << got.select(0, (order - 1) * directions) << "\n" << want_top;
  }
}

std::string row_test_name(const ::testing::TestParamInfo<size_t>& info) {
  std::string name = op_table()[info.param].name + "_" + std::to_string(info.param);
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTableTest, ::testing::Range<size_t>(0, op_table().size()), row_test_name);

TEST(OpTable, EveryRegisteredOpHasARow) {
  std::set<std::string> covered;
  for (const OpRow& row : op_table()) covered.insert(row.name);
  // Creating a tensor that needs grad makes sure the engine's own AccumulateGrad is registered too.
  for (const autograd::OpInfo* op : autograd::registered_ops()) {
    if (std::string(op->name) == "AccumulateGrad") continue;
    EXPECT_TRUE(covered.count(op->name)) << "op '" << op->name << "' (" << op->node_name
                                         << ") has no row in tests/op_table.cpp";
  }
  EXPECT_GE(covered.size(), 45u);
}

// Every op's record declares each rule, or a mark from which it follows; the op-table tests above
// then check that the rules are right. (Records that leave one out do not compile; this checks what
// the op table itself was told.)
TEST(OpTable, EveryRegisteredOpDeclaresEveryRule) {
  for (const autograd::OpInfo* op : autograd::registered_ops()) {
    if (std::string(op->name) == "AccumulateGrad") continue;
    EXPECT_NE(op->vjp, nullptr) << op->name << " has no VJP rule";
    EXPECT_NE(op->jvp, autograd::JvpKind::none) << op->name << " declares no JVP rule";
    EXPECT_NE(op->second_order, autograd::SecondOrderKind::none) << op->name << " declares no second-order rule";
  }
}

TEST(OpTable, EveryRowNamesARegisteredOp) {
  std::set<std::string> registered;
  for (const autograd::OpInfo* op : autograd::registered_ops()) registered.insert(op->name);
  for (const OpRow& row : op_table()) EXPECT_TRUE(registered.count(row.name)) << row.name;
}

}  // namespace
}  // namespace dydx::testing

// ---- edge values: every arithmetic op at 0, -0, +-inf, nan and its domain edges, against PyTorch ----

namespace dydx::testing {
namespace {

// One line of edge_cases.txt: an op's inputs and PyTorch 1.13's value, VJP and JVP there.
struct EdgeCase {
  std::string key, dtype, inputs;  // inputs as written in the file, to name the case
  std::vector<std::vector<double>> in, out, vjp, jvp, vjp2, fwr;
};

std::vector<EdgeCase> edge_cases() {
  std::vector<EdgeCase> cases;
  for (const std::string& line : golden_lines("edge_cases.txt")) {
    std::stringstream words(line);
    EdgeCase c;
    words >> c.key >> c.dtype;
    std::vector<std::vector<double>>* field = nullptr;
    for (std::string word; words >> word;) {
      if (word == "in") field = &c.in;
      else if (word == "out") field = &c.out;
      else if (word == "vjp") field = &c.vjp;
      else if (word == "jvp") field = &c.jvp;
      else if (word == "vjp2") field = &c.vjp2;
      else if (word == "fwr") field = &c.fwr;
      else {
        if (field == &c.in) c.inputs += (c.inputs.empty() ? "" : " ") + word;
        field->push_back(golden_values(word));
      }
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  std::ostringstream s;
  s << std::setprecision(17) << v;
  return s.str();
}

std::string format_values(const std::vector<double>& values) {
  std::string text;
  for (double v : values) text += (text.empty() ? "" : ",") + format_value(v);
  return text;
}

// nan, each infinity and each signed zero are classes of their own; finite values agree to rounding.
// Two values below residue_floor (see edge_residue_floor) are both rounding residue of a zero.
bool same_value(double got, double want, double rtol, double residue_floor = 0) {
  if (residue_floor > 0 && std::abs(got) <= residue_floor && std::abs(want) <= residue_floor) return true;
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want) || want == 0) return got == want && std::signbit(got) == std::signbit(want);
  return std::abs(got - want) <= rtol * std::abs(want);
}

std::vector<double> values_or_zeros(const Tensor& t, const Tensor& like) {
  return t.defined() ? t.to(kFloat64).to_vector<double>() : std::vector<double>(like.numel(), 0.0);
}

// What dydx gives for one case, in the file's fields: out, vjp<i>, jvp<i>.
std::vector<std::pair<std::string, std::vector<double>>> evaluate_edge(const EdgeCase& c) {
  const auto fn = edge_op(c.key);
  const ScalarType dtype = c.dtype == "float32" ? kFloat32 : kFloat64;
  std::vector<std::pair<std::string, std::vector<double>>> got;
  TensorList leaves;
  for (const auto& values : c.in) leaves.push_back(tensor(values, dtype).requires_grad_());
  Tensor out = fn(leaves);
  got.emplace_back("out", out.to(kFloat64).to_vector<double>());
  TensorList grads = grad({out}, leaves, {ones_like(out)}, std::nullopt, /*create_graph=*/true, /*allow_unused=*/true);
  for (size_t i = 0; i < leaves.size(); ++i) got.emplace_back("vjp" + std::to_string(i), values_or_zeros(grads[i], leaves[i]));
  // Double backward: the gradient of the sum of those gradients.
  Tensor total;
  for (const Tensor& g : grads)
    if (g.defined() && g.requires_grad()) total = total.defined() ? total + g.sum() : g.sum();
  TensorList second(leaves.size());
  if (total.defined()) second = grad({total}, leaves, {}, std::nullopt, false, /*allow_unused=*/true);
  for (size_t i = 0; i < c.in.size(); ++i) {
    forward_ad::DualLevel level;
    TensorList inputs;
    for (const auto& values : c.in) inputs.push_back(tensor(values, dtype));
    inputs[i] = forward_ad::make_dual(inputs[i], ones_like(inputs[i]));
    Tensor dual_out = fn(inputs);
    got.emplace_back("jvp" + std::to_string(i), values_or_zeros(forward_ad::unpack_dual(dual_out).tangent, dual_out));
  }
  for (size_t i = 0; i < leaves.size(); ++i) got.emplace_back("vjp2_" + std::to_string(i), values_or_zeros(second[i], leaves[i]));
  // Forward over reverse: the tangents of the gradients when input i alone has a tangent.
  for (size_t i = 0; i < c.in.size(); ++i) {
    forward_ad::DualLevel level;
    TensorList plain, duals;
    for (const auto& values : c.in) plain.push_back(tensor(values, dtype).requires_grad_());
    duals = plain;
    duals[i] = forward_ad::make_dual(plain[i], ones_like(plain[i]));
    Tensor y = fn(duals);
    TensorList gs = grad({y}, duals, {ones_like(y)}, std::nullopt, false, /*allow_unused=*/true);
    for (size_t j = 0; j < gs.size(); ++j)
      got.emplace_back("fwr" + std::to_string(i) + std::to_string(j),
                       values_or_zeros(gs[j].defined() ? forward_ad::unpack_dual(gs[j]).tangent : Tensor(), plain[j]));
  }
  return got;
}

const EdgeDeviation* deviation_for(const EdgeCase& c, const std::string& field, const std::string& pytorch,
                                   const std::string& dydx) {
  for (const EdgeDeviation& d : edge_deviations())
    if (d.key == c.key && field.rfind(d.field, 0) == 0 && d.pytorch == pytorch && (d.dydx.empty() || d.dydx == dydx))
      return &d;
  return nullptr;
}

TEST(EdgeValues, EveryOpMatchesPyTorchAtSpecialValues) {
  const std::vector<EdgeCase> cases = edge_cases();
  ASSERT_GT(cases.size(), 2000u);
  std::set<const EdgeDeviation*> used;
  std::string failures;
  int failed = 0;
  for (const EdgeCase& c : cases) {
    ASSERT_TRUE(edge_op(c.key)) << "edge_cases.txt names op '" << c.key << "', which edge_op() lacks";
    // Second-order fields (vjp2, fwr) come out of several float32 roundings in each library, whose
    // order differs (and, within a kernel, with the compiler's contraction into fused multiply-adds:
    // clang's build gave atan2's vjp2 3e-6 from PyTorch's where GCC's matched), so they get 1e-5.
    const double first_order_rtol = c.dtype == "float32" ? 2e-6 : 1e-13;
    const double second_order_rtol = c.dtype == "float32" ? 1e-5 : 1e-13;
    const double floor = edge_residue_floor(c.key, c.dtype == "float32" ? kFloat32 : kFloat64);
    std::vector<std::pair<std::string, std::vector<double>>> got;
    try {
      got = evaluate_edge(c);
    } catch (const std::exception& e) {
      failures += c.key + " " + c.dtype + " at " + c.inputs + ": threw " + e.what() + "\n";
      ++failed;
      continue;
    }
    std::vector<std::pair<std::string, std::vector<double>>> want = {{"out", c.out[0]}};
    for (size_t i = 0; i < c.vjp.size(); ++i) want.emplace_back("vjp" + std::to_string(i), c.vjp[i]);
    for (size_t i = 0; i < c.jvp.size(); ++i) want.emplace_back("jvp" + std::to_string(i), c.jvp[i]);
    for (size_t i = 0; i < c.vjp2.size(); ++i) want.emplace_back("vjp2_" + std::to_string(i), c.vjp2[i]);
    for (size_t k = 0; k < c.fwr.size(); ++k)
      want.emplace_back("fwr" + std::to_string(k / c.in.size()) + std::to_string(k % c.in.size()), c.fwr[k]);
    ASSERT_EQ(got.size(), want.size()) << c.key;
    for (size_t f = 0; f < want.size(); ++f) {
      const auto& [field, expected] = want[f];
      const std::vector<double>& actual = got[f].second;
      const bool second_order = field.rfind("vjp2", 0) == 0 || field.rfind("fwr", 0) == 0;
      const double rtol = second_order ? second_order_rtol : first_order_rtol;
      bool same = actual.size() == expected.size();
      for (size_t k = 0; same && k < expected.size(); ++k) same = same_value(actual[k], expected[k], rtol, floor);
      if (same) continue;
      if (const EdgeDeviation* d = deviation_for(c, field, format_values(expected), format_values(actual))) {
        used.insert(d);
        continue;
      }
      failures += c.key + " " + c.dtype + " at " + c.inputs + ": " + field + " is " + format_values(actual) +
                  ", PyTorch's is " + format_values(expected) + "\n";
      ++failed;
    }
  }
  EXPECT_EQ(failed, 0) << failures;
  for (const EdgeDeviation& d : edge_deviations())
    EXPECT_TRUE(used.count(&d)) << "deviation no longer happens (remove it): " << d.key << " " << d.field << " "
                                << d.pytorch;
}

// The same cases for elementwise unary ops, all at once in one long tensor: contiguous runs take the
// SIMD kernels (cpu/vec_math.hpp), whose lanes must treat edge values as the scalar path does.
TEST(EdgeValues, VectorisedPathsMatchPyTorchToo) {
  std::map<std::string, std::vector<EdgeCase>> runs;  // key and dtype -> its one-input cases
  for (EdgeCase& c : edge_cases())
    if (c.in.size() == 1 && c.in[0].size() == 1) runs[c.key + " " + c.dtype].push_back(std::move(c));
  ASSERT_GT(runs.size(), 40u);
  constexpr int kCopies = 37;  // long enough for full vectors and a tail, at odd offsets
  std::string failures;
  for (const auto& [name, cases] : runs) {
    std::vector<double> values;
    for (int copy = 0; copy < kCopies; ++copy)
      for (const EdgeCase& c : cases) values.push_back(c.in[0][0]);
    const ScalarType dtype = cases[0].dtype == "float32" ? kFloat32 : kFloat64;
    const double rtol = dtype == kFloat32 ? 2e-6 : 1e-13;
    const auto fn = edge_op(cases[0].key);
    Tensor x = tensor(values, dtype).requires_grad_();
    Tensor out = fn({x});
    Tensor g = grad({out}, {x}, {ones_like(out)}, std::nullopt, false, true)[0];
    Tensor t;
    {
      forward_ad::DualLevel level;
      t = forward_ad::unpack_dual(fn({forward_ad::make_dual(tensor(values, dtype), ones_like(x))})).tangent;
    }
    const std::vector<std::pair<std::string, std::vector<double>>> got = {
        {"out", out.to(kFloat64).to_vector<double>()}, {"vjp0", values_or_zeros(g, x)}, {"jvp0", values_or_zeros(t, x)}};
    for (size_t i = 0; i < values.size(); ++i) {
      const EdgeCase& c = cases[i % cases.size()];
      const double want[] = {c.out[0][0], c.vjp[0][0], c.jvp[0][0]};
      for (size_t f = 0; f < got.size(); ++f)
        if (!same_value(got[f].second[i], want[f], rtol) &&
            !deviation_for(c, got[f].first, format_value(want[f]), format_value(got[f].second[i])))
          failures += name + " at " + c.inputs + ", element " + std::to_string(i) + ": " + got[f].first + " is " +
                      format_value(got[f].second[i]) + ", PyTorch's is " + format_value(want[f]) + "\n";
    }
  }
  EXPECT_TRUE(failures.empty()) << failures;
}

// Ops that only move or copy values (views, joins, copies, fills) do no arithmetic on them, so an
// edge value passes through unchanged; every other registered op must have edge cases.
TEST(EdgeValues, EveryArithmeticOpHasEdgeCases) {
  const std::set<std::string> moves_values = {"as_strided", "as_strided_scatter", "cat", "clone", "copy", "copy_slices",
                                              "diag", "diagonal", "expand", "fill", "flip", "gather", "im2col", "index",
                                              "index_select", "scatter", "scatter.value", "masked_fill", "permute", "repeat", "roll",
                                              "select", "slice", "split", "split_with_sizes", "squeeze", "squeeze.dim",
                                              "stack", "t", "to", "transpose", "tril", "triu", "unbind", "unsqueeze",
                                              "view", "zero", "AccumulateGrad"};
  // The steps of transforms as ops of their own (the forward Laplacian through an activation,
  // laplacian_tangent.hpp) have no PyTorch counterpart: a "PyTorch value" would be our own formula
  // transcribed, and PyTorch's differentiation of it rearranges the terms, so signed zeros and
  // inf against nan differ by construction. Their rows in the op table check their rules.
  // The product rules' ops (product_rules.hpp) are such formulas too; their rows check them against the sums
  // they stand for.
  auto is_transform_step = [](const std::string& name) {
    return name.rfind("laplacian_tangent.", 0) == 0 || name == "prod_others" || name == "cumprod_tangents" ||
           name == "cumprod_adjoint";
  };
  std::set<std::string> covered;
  for (const EdgeCase& c : edge_cases()) covered.insert(c.key.substr(0, c.key.find(':')));
  for (const autograd::OpInfo* op : autograd::registered_ops())
    if (!moves_values.count(op->name) && !is_transform_step(op->name))
      EXPECT_TRUE(covered.count(op->name)) << "op '" << op->name << "' has no cases in tests/data/edge_cases.txt";
}

}  // namespace
}  // namespace dydx::testing
