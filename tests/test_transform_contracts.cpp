// The function transforms' contracts: what their results keep of autograd history (torch.func's
// levels), which arguments they differentiate, and what they accept of f and of their arguments.
//
// To add a transform: give it a row in every_transform() below; the history, exception-safety
// and bad-output tests then run over it.
#include <dydx/detail/node.hpp>
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace dydx {
namespace {

using Node = autograd::Node;

// Expects f to throw a dydx::Error whose message contains every one of parts.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing \"" << parts.at(0) << "\"";
  } catch (const Error& e) {
    for (const std::string& part : parts)
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << "\"" << part << "\" not in: " << e.what();
  }
}

Dims concat(IntArrayRef a, IntArrayRef b) {
  Dims out = a.dims();
  for (int64_t s : b) out.push_back(s);
  return out;
}

bool plain(const Tensor& t) { return t.defined() && !t.requires_grad() && t.grad_fn() == nullptr; }

// A row-wise, non-linear f of x [B, n] (every transform's reverse pass builds a graph for it), that
// records a weak reference to one node of its graph.
struct Watched {
  std::shared_ptr<std::weak_ptr<Node>> node = std::make_shared<std::weak_ptr<Node>>();
  Tensor operator()(const Tensor& x) const {
    Tensor inner = sin(x) * x;
    if (inner.grad_fn()) *node = inner.grad_fn();
    return inner.pow(2) + x;
  }
};

// Each transform, applied to a function of one tensor and reduced to the tensors it returns.
struct TransformRow {
  const char* name;
  std::function<TensorList(const func::UnaryFunction&, const Tensor&)> apply;
};

std::vector<TransformRow> every_transform() {
  auto sum_of = [](const func::UnaryFunction& f) { return [f](const Tensor& z) { return f(z).sum(); }; };
  return {
      {"jvp", [](auto f, const Tensor& x) { auto [y, t] = func::jvp(f, x, ones_like(x)); return TensorList{y, t}; }},
      {"vjp", [](auto f, const Tensor& x) { auto [y, pb] = func::vjp(f, x); return TensorList{y, pb(ones_like(y))}; }},
      {"linearize", [](auto f, const Tensor& x) { auto [y, push] = func::linearize(f, x); return TensorList{y, push(ones_like(x))}; }},
      {"jacrev", [](auto f, const Tensor& x) { return TensorList{func::jacrev(f)(x)}; }},
      {"jacrev chunked", [](auto f, const Tensor& x) { return TensorList{func::jacrev(f, 2)(x)}; }},
      {"jacfwd", [](auto f, const Tensor& x) { return TensorList{func::jacfwd(f)(x)}; }},
      {"jacfwd chunked", [](auto f, const Tensor& x) { return TensorList{func::jacfwd(f, 2)(x)}; }},
      {"jacobian", [](auto f, const Tensor& x) { return TensorList{func::jacobian(f, x)}; }},
      {"grad", [sum_of](auto f, const Tensor& x) { return TensorList{func::grad(sum_of(f))(x)}; }},
      {"grad_and_value", [sum_of](auto f, const Tensor& x) { auto [g, v] = func::grad_and_value(sum_of(f))(x); return TensorList{g, v}; }},
      {"hessian", [sum_of](auto f, const Tensor& x) { return TensorList{func::hessian(sum_of(f))(x)}; }},
      {"hessian argnums", [sum_of](auto f, const Tensor& x) {
         auto g = sum_of(f);
         return func::hessian(func::Function([g](const TensorList& in) { return TensorList{g(in[0])}; }), {0})({x});
       }},
      {"batch_jacobian", [](auto f, const Tensor& x) { return TensorList{func::batch_jacobian(f, x)}; }},
      {"batch_jacobian reverse", [](auto f, const Tensor& x) {
         return TensorList{func::batch_jacobian([f](const Tensor& z) { return f(z).sum({1}, true); }, x)};
       }},
      {"batch_jacobian chunked", [](auto f, const Tensor& x) { return TensorList{func::batch_jacobian(f, x, {.chunk_size = 1})}; }},
      {"batch_hessian", [](auto f, const Tensor& x) { return TensorList{func::batch_hessian(f, x)}; }},
      {"batch_hessian_diagonal", [](auto f, const Tensor& x) { return TensorList{func::batch_hessian_diagonal(f, x)}; }},
      {"laplacian", [](auto f, const Tensor& x) { return TensorList{func::laplacian(f, x)}; }},
  };
}

// x [3, 10]: wide enough rows that batch_jacobian's reverse mode runs for a narrow f.
Tensor row_input(bool requires_grad = false) {
  manual_seed(21);
  return randn({3, 10}, kFloat64).requires_grad_(requires_grad);
}

// ---- item 5: results carry history only from outside -----------------------------------------

TEST(TransformHistory, ResultsOfPlainInputsArePlainAndFreeTheGraph) {
  for (const TransformRow& row : every_transform()) {
    Watched f;
    TensorList results = row.apply(f, row_input());
    for (size_t i = 0; i < results.size(); ++i)
      EXPECT_TRUE(plain(results[i])) << row.name << " result " << i << " keeps history ("
                                     << (results[i].grad_fn() ? results[i].grad_fn()->name() : "a leaf") << ")";
    // The results are alive; the transform's own graph must not be.
    EXPECT_TRUE(f.node->expired()) << row.name << " keeps its graph alive through its results";
  }
}

TEST(TransformHistory, VjpKeepsTheGraphOnlyWhileThePullbackLives) {
  Watched f;
  Tensor y;
  {
    auto [out, pullback] = func::vjp(func::UnaryFunction(f), row_input());
    y = out;
    EXPECT_FALSE(f.node->expired());  // the pullback needs it
    EXPECT_TRUE(plain(pullback(ones_like(out))));
    EXPECT_TRUE(plain(pullback(ones_like(out))));  // and can be called again
  }
  EXPECT_TRUE(plain(y));
  EXPECT_TRUE(f.node->expired());
}

TEST(TransformHistory, MemoryReturnsToTheResultsAlone) {
  // Intermediates of 8 MB each; the Jacobian of a sum is 8 MB too.
  const int64_t n = 1 << 20;
  Tensor x = randn({n}, kFloat64);
  auto f = [](const Tensor& z) { return (exp(sin(z)) * cos(z)).sum(); };
  const int64_t start = memory_stats().live_bytes;
  {
    Tensor g = func::grad(f)(x);
    Tensor j = func::jacrev(func::UnaryFunction(f))(x);
    EXPECT_LE(memory_stats().live_bytes - start, 2 * n * 8 + (1 << 16));
  }
  EXPECT_LE(memory_stats().live_bytes - start, 1 << 16);
}

TEST(TransformHistory, TensorsRequiringGradOutsideKeepTheirHistory) {
  // f closes over w, which requires grad: every result depending on w must lead back to it, and
  // its gradient must be what differentiating the result by hand gives.
  manual_seed(22);
  Tensor w = randn({10}, kFloat64).requires_grad_(true);
  auto f = [&](const Tensor& x) { return sin(x * w) * w; };
  Tensor x = randn({3, 10}, kFloat64);
  for (const TransformRow& row : every_transform()) {
    TensorList results = row.apply(f, x);
    Tensor total = zeros({}, kFloat64);
    for (const Tensor& r : results) total = total + r.sum();
    ASSERT_TRUE(total.requires_grad()) << row.name << " lost the history to w";
    Tensor analytic = grad({total}, {w})[0];
    // Central differences along a random direction of w.
    Tensor v = randn({10}, kFloat64);
    const double step = 1e-6;
    auto at = [&](double s) {
      NoGradGuard no_grad;
      Tensor moved = (w.detach() + v * s);
      auto g = [&](const Tensor& z) { return sin(z * moved) * moved; };
      TensorList rs = row.apply(g, x);
      double sum = 0;
      for (const Tensor& r : rs) sum += r.sum().item<double>();
      return sum;
    };
    const double numeric = (at(step) - at(-step)) / (2 * step);
    EXPECT_NEAR((analytic * v).sum().item<double>(), numeric, 1e-5 * (1 + std::abs(numeric))) << row.name;
  }
}

TEST(TransformHistory, PrimalsRequiringGradKeepTheirHistory) {
  // d/dx of sum(grad(f)(x)) for f = sum(x^3) is 6x; of the Jacobian of x^3, 6x too (its diagonal).
  Tensor x = tensor({0.5, -1.5, 2.0}, kFloat64).requires_grad_(true);
  auto cube_sum = [](const Tensor& z) { return z.pow(3).sum(); };
  auto cube = [](const Tensor& z) { return z.pow(3); };
  Tensor six_x = (x * 6).detach();
  EXPECT_TRUE(allclose(grad({func::grad(cube_sum)(x).sum()}, {x})[0], six_x));
  EXPECT_TRUE(allclose(grad({func::jacrev(cube)(x).sum()}, {x})[0], six_x));
  EXPECT_TRUE(allclose(grad({func::jacfwd(cube)(x).sum()}, {x})[0], six_x));
  EXPECT_TRUE(allclose(grad({func::jvp(cube, x, ones_like(x)).second.sum()}, {x})[0], six_x));
  auto [out, pullback] = func::vjp(cube, x);
  EXPECT_TRUE(out.requires_grad());
  EXPECT_TRUE(allclose(grad({pullback(ones_like(out)).sum()}, {x})[0], six_x));
  // A tangent requiring grad: the output tangent 3 x^2 t is linear in it.
  Tensor plain_x = x.detach(), t = ones({3}, kFloat64).requires_grad_(true);
  Tensor tangent_out = func::jvp(cube, plain_x, t).second;
  ASSERT_TRUE(tangent_out.requires_grad());
  EXPECT_TRUE(allclose(grad({tangent_out.sum()}, {t})[0], plain_x.pow(2) * 3));
  EXPECT_TRUE(plain(func::jvp(cube, plain_x, t).first));  // the value does not depend on t
  // hessian of sum(x^3) is diag(6x); its derivative is diag(6).
  EXPECT_TRUE(allclose(grad({func::hessian(cube_sum)(x).sum()}, {x})[0], full({3}, 6.0, kFloat64)));
}

TEST(TransformHistory, CotangentsRequiringGradKeepTheirHistory) {
  // The pullback is linear in the cotangent: d/dc sum(vjp(c)) = J^T 1 summed... = rows of J summed.
  Tensor x = tensor({1.0, 2.0}, kFloat64);
  auto f = [](const Tensor& z) { return z * z; };
  auto [out, pullback] = func::vjp(f, x);
  Tensor c = ones({2}, kFloat64).requires_grad_(true);
  Tensor g = pullback(c);
  ASSERT_TRUE(g.requires_grad());
  EXPECT_TRUE(allclose(grad({g.sum()}, {c})[0], tensor({2.0, 4.0}, kFloat64)));
}

TEST(TransformHistory, NoGradGuardOutsideGivesPlainResults) {
  Tensor x = tensor({0.5, 2.0}, kFloat64).requires_grad_(true);
  NoGradGuard no_grad;
  auto f = [](const Tensor& z) { return z.pow(3).sum(); };
  Tensor g = func::grad(f)(x);
  EXPECT_TRUE(plain(g));
  EXPECT_TRUE(allclose(g, tensor({0.75, 12.0}, kFloat64)));
  EXPECT_TRUE(plain(func::hessian(f)(x)));
  EXPECT_TRUE(plain(func::jacrev([](const Tensor& z) { return z.pow(3); })(x)));
}

TEST(TransformHistory, NestedTransformsGiveHigherDerivativesAndPlainResults) {
  // f(x) = sum(x^4): grad 4x^3, hessian diag(12x^2), third derivative along e_i e_i: 24x.
  Tensor x = tensor({0.5, -1.0, 2.0}, kFloat64);
  auto f = [](const Tensor& z) { return z.pow(4).sum(); };
  auto g = func::grad(f);
  Tensor diag12 = diag(x.pow(2) * 12);
  Tensor gg = func::grad([&](const Tensor& z) { return g(z).sum(); })(x);
  EXPECT_TRUE(plain(gg));
  EXPECT_TRUE(allclose(gg, x.pow(2) * 12));
  for (auto [name, h] : std::vector<std::pair<const char*, Tensor>>{
           {"jacrev(grad)", func::jacrev(g)(x)},
           {"jacfwd(grad)", func::jacfwd(g)(x)},
           {"jacrev(jacfwd)", func::jacrev(func::jacfwd(f))(x)},
           {"jacfwd(jacrev)", func::jacfwd(func::jacrev(f))(x)},
           {"jacrev(jacrev)", func::jacrev(func::jacrev(f))(x)},
           {"jacfwd(jacfwd)", func::jacfwd(func::jacfwd(f))(x)},
           {"hessian", func::hessian(f)(x)}}) {
    EXPECT_TRUE(plain(h)) << name;
    EXPECT_TRUE(allclose(h, diag12, 1e-12, 1e-12)) << name << "\n" << h;
  }
  // Third derivatives: 24 x_i where all three indices are i, zero elsewhere.
  Tensor third_expected = zeros({3, 3, 3}, kFloat64);
  for (int64_t i = 0; i < 3; ++i) third_expected.index({i, i, i}).copy_(x.index({i}) * 24);
  for (auto [name, t] : std::vector<std::pair<const char*, Tensor>>{
           {"jacrev(jacfwd(grad))", func::jacrev(func::jacfwd(g))(x)},
           {"jacfwd(jacrev(grad))", func::jacfwd(func::jacrev(g))(x)},
           {"jacrev(hessian)", func::jacrev(func::hessian(f))(x)},
           {"jacfwd(hessian)", func::jacfwd(func::hessian(f))(x)}}) {
    EXPECT_TRUE(plain(t)) << name;
    EXPECT_TRUE(allclose(t, third_expected, 1e-12, 1e-12)) << name << "\n" << t;
  }
}

// ---- item 15: argnums --------------------------------------------------------------------------

func::Function three_args() {
  return [](const TensorList& in) { return TensorList{(in[0] * in[1] * in[2].pow(2)).sum()}; };
}

TEST(TransformArgnums, NegativeCountFromTheEndAndBracedListsCompile) {
  TensorList p = {tensor({1.0, 2.0}, kFloat64), tensor({3.0, 4.0}, kFloat64), tensor({5.0, 6.0}, kFloat64)};
  // d/dz sum(x y z^2) = 2 x y z
  Tensor expected = tensor({30.0, 96.0}, kFloat64);
  EXPECT_TRUE(allclose(func::jacrev(three_args(), {2})(p)[0], expected));
  EXPECT_TRUE(allclose(func::jacrev(three_args(), {-1})(p)[0], expected));
  EXPECT_TRUE(allclose(func::jacfwd(three_args(), {-1})(p)[0], expected));
  EXPECT_TRUE(allclose(func::jacrev(three_args(), p, {-1})[0], expected));
  EXPECT_TRUE(allclose(func::grad(three_args(), {-1})(p)[0], expected));
  EXPECT_TRUE(allclose(func::jacrev(three_args(), {0})(p)[0], tensor({75.0, 144.0}, kFloat64)));
  TensorList both = func::jacrev(three_args(), {-1, 0})(p);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_TRUE(allclose(both[0], expected));
  EXPECT_TRUE(allclose(both[1], tensor({75.0, 144.0}, kFloat64)));
}

TEST(TransformArgnums, HessianTakesArgnums) {
  TensorList p = {tensor({1.0, 2.0}, kFloat64), tensor({3.0, 4.0}, kFloat64), tensor({5.0, 6.0}, kFloat64)};
  // d2/dz2 sum(x y z^2) = diag(2 x y); d2/dz dx = diag(2 y z).
  TensorList h = func::hessian(three_args(), {2})(p);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_TRUE(allclose(h[0], diag(tensor({6.0, 16.0}, kFloat64))));
  TensorList hz_x = func::hessian(three_args(), {-1, 0})(p);
  ASSERT_EQ(hz_x.size(), 4u);
  EXPECT_TRUE(allclose(hz_x[0], diag(tensor({6.0, 16.0}, kFloat64))));   // d/dz d/dz
  EXPECT_TRUE(allclose(hz_x[1], diag(tensor({30.0, 48.0}, kFloat64))));   // d/dx d/dz
  EXPECT_TRUE(allclose(hz_x[2], diag(tensor({30.0, 48.0}, kFloat64))));   // d/dz d/dx
  EXPECT_TRUE(allclose(hz_x[3], zeros({2, 2}, kFloat64)));                // d/dx d/dx
  for (const Tensor& t : hz_x) EXPECT_TRUE(plain(t));
}

TEST(TransformArgnums, BadArgnumsAreClearErrors) {
  TensorList p = {ones({2}, kFloat64), ones({2}, kFloat64), ones({2}, kFloat64)};
  const std::vector<std::pair<const char*, std::function<void(std::vector<int64_t>)>>> transforms = {
      {"jacrev", [&](std::vector<int64_t> a) { func::jacrev(three_args(), p, a); }},
      {"jacfwd", [&](std::vector<int64_t> a) { func::jacfwd(three_args(), p, a); }},
      {"grad", [&](std::vector<int64_t> a) { func::grad(three_args(), a)(p); }},
      {"hessian", [&](std::vector<int64_t> a) { func::hessian(three_args(), a)(p); }},
  };
  // The lambdas below capture structured bindings by init-capture: clang 14 cannot capture them directly.
  for (const auto& [name, call] : transforms) {
    expect_error([&, &call = call] { call({3}); }, {name, "got argnum=3, but only 3 positional inputs"});
    expect_error([&, &call = call] { call({-4}); }, {name, "got argnum=-4"});
    expect_error([&, &call = call] { call({0, -3}); }, {name, "argnums elements must be unique, got [0, -3]"});
    expect_error([&, &call = call] { call({}); }, {name, "argnums must be non-empty"});
  }
  expect_error([&] { func::jacrev(three_args(), TensorList{}, {0}); }, {"jacrev", "only 0 positional inputs"});
}

// ---- item 16: only the argnums primals are differentiated ---------------------------------------

TEST(TransformArgnums, OnlyTheArgnumsPrimalsAreDifferentiated) {
  // f sees the primals not in argnums exactly as given: no leaf, no graph, no Jacobian for them.
  Tensor big = randn({512, 512}, kFloat64), x = randn({512}, kFloat64);
  std::vector<bool> big_requires_grad;
  func::Function f = [&](const TensorList& in) {
    big_requires_grad.push_back(in[1].requires_grad());
    return TensorList{tanh(matmul(in[1], in[0]))};
  };
  auto differentiated_big = [&](const char* name, const std::function<void()>& call) {
    big_requires_grad.clear();
    call();
    EXPECT_FALSE(big_requires_grad.empty()) << name;
    bool any = false;
    for (bool b : big_requires_grad) any = any || b;
    return any;
  };
  TensorList j;
  EXPECT_FALSE(differentiated_big("jacrev", [&] { j = func::jacrev(f, {x, big}, {0}); }));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].sizes().vec(), std::vector<int64_t>({512, 512}));
  EXPECT_FALSE(differentiated_big("grad", [&] {
    func::grad([&](const TensorList& in) { return TensorList{f(in)[0].sum()}; }, {0})({x, big});
  }));
  EXPECT_FALSE(differentiated_big("jacfwd", [&] { func::jacfwd(f, {x, big}, {0}, 128); }));
  EXPECT_FALSE(differentiated_big("hessian", [&] {
    func::hessian([&](const TensorList& in) { return TensorList{f(in)[0].sum()}; }, {0})({x, big});
  }));
  // vjp differentiates every primal, by definition.
  EXPECT_TRUE(differentiated_big("vjp", [&] { func::vjp(f, {x, big}); }));
  // The value is right: d tanh(B x)/dx = diag(1 - tanh^2) B.
  Tensor expected = (1 - tanh(matmul(big, x)).pow(2)).unsqueeze(1) * big;
  EXPECT_TRUE(allclose(j[0], expected, 1e-12, 1e-12));
}

// ---- item 9: what f returns is checked ---------------------------------------------------------

TEST(TransformOutputs, JacfwdRejectsAnOutputThatChangesShapeBetweenChunks) {
  // Each call returns one more element: writing chunk 2 into chunk 1's shape overflowed the heap.
  auto calls = std::make_shared<int>(0);
  auto growing = [calls](const Tensor& x) { return cat({x, zeros({++*calls}, x.dtype())}); };
  expect_error([&] { func::jacfwd(growing, 1)(ones({4}, kFloat64)); },
               {"jacfwd", "shape [5] on its first call but [6] on a later one"});
  *calls = 0;
  auto counting = [calls](const TensorList& in) {
    return ++*calls == 1 ? TensorList{in[0]} : TensorList{in[0], in[0]};
  };
  expect_error([&] { func::jacfwd(counting, {ones({4}, kFloat64)}, {0}, 2); },
               {"jacfwd", "1 outputs on its first call but 2"});
  *calls = 0;
  auto retyped = [calls](const Tensor& x) { return ++*calls == 1 ? x : x.to(kFloat32); };
  expect_error([&] { func::jacfwd(retyped, 2)(ones({4}, kFloat64)); }, {"jacfwd", "dtype"});
  // Across argnums too: f runs once per argnum.
  *calls = 0;
  auto per_argnum = [calls](const TensorList& in) {
    return TensorList{++*calls == 1 ? in[0] * in[1] : (in[0] * in[1]).sum()};
  };
  expect_error([&] { func::jacfwd(per_argnum, {ones({3}, kFloat64), ones({3}, kFloat64)}, {0, 1}); },
               {"jacfwd", "shape [3] on its first call but []"});
}

TEST(TransformOutputs, BatchJacobianRejectsAnOutputThatChangesBetweenPasses) {
  // Rows of 10 go through two passes in forward mode (first direction, then the rest).
  auto calls = std::make_shared<int>(0);
  auto wide = [calls](const Tensor& x) { return ++*calls == 1 ? cat({x, x}, 1) : cat({x, x, x}, 1); };
  expect_error([&] { func::batch_jacobian(wide, ones({2, 10}, kFloat64)); },
               {"batch_jacobian", "shape [2,20] (float64) on its first call but [2,30]"});
  *calls = 0;
  auto shrinking = [calls](const Tensor& x) { return x.narrow(1, 0, 4 - ++*calls % 2); };
  expect_error([&] { func::batch_hessian_diagonal(shrinking, ones({2, 4}, kFloat64)); },
               {"batch_hessian_diagonal", "[2,3] (float64) on its first call but [2,4]"});
  *calls = 0;
  auto narrow = [calls](const Tensor& x) { return ++*calls == 1 ? x.sum({1}, true) : x.narrow(1, 0, 2); };
  expect_error([&] { func::batch_jacobian(narrow, ones({2, 10}, kFloat64)); }, {"batch_jacobian", "[2,1] (float64) on its first call but [2,2]"});
}

TEST(TransformOutputs, LinearizeAndTheIndependenceCheckRejectAnOutputThatChanges) {
  auto calls = std::make_shared<int>(0);
  auto growing = [calls](const Tensor& x) { return cat({x, zeros({++*calls}, x.dtype())}); };
  auto [out, push] = func::linearize(growing, ones({2}, kFloat64));
  EXPECT_EQ(out.sizes().vec(), std::vector<int64_t>({3}));
  expect_error([&, &push = push] { push(ones({2}, kFloat64)); }, {"linearize", "shape [3] on its first call but [4]"});
  // Rows of 3 in one forward pass, then the check's own pass.
  *calls = 0;
  auto rows = [calls](const Tensor& x) { return ++*calls == 1 ? x * 2 : cat({x, x}, 1); };
  expect_error([&] { func::batch_jacobian(rows, ones({2, 3}, kFloat64), {.check_independence = true}); },
               {"batch_jacobian: f returned shape [2,6] on the independence check's call but 3 elements per row"});
}

TEST(TransformOutputs, UndefinedOutputsAreErrorsNamingTheTransform) {
  auto undefined = [](const Tensor&) { return Tensor(); };
  for (const TransformRow& row : every_transform()) {
    const std::string name = row.name;
    // The transforms built on another name it (hessian is jacfwd of jacrev, grad is vjp...).
    try {
      row.apply(undefined, row_input());
      ADD_FAILURE() << name << " accepted an undefined output";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("undefined"), std::string::npos) << name << ": " << e.what();
    }
  }
  expect_error([&] { func::jacrev(undefined)(ones({2})); }, {"jacrev: f returned an undefined tensor as output 0"});
  expect_error([&] { func::jacfwd(undefined)(ones({2})); }, {"jacfwd: f returned an undefined tensor as output 0"});
  expect_error([&] { func::vjp(undefined, ones({2})); }, {"vjp: f returned an undefined tensor"});
  expect_error([&] { func::jvp(undefined, ones({2}), ones({2})); }, {"jvp: f returned an undefined tensor"});
  expect_error([&] { func::grad(undefined)(ones({2})); }, {"grad: f returned an undefined tensor"});
  expect_error([&] { func::batch_jacobian(undefined, ones({2, 2})); }, {"batch_jacobian: f returned an undefined"});
  expect_error([&] { func::laplacian(undefined, ones({2, 2})); }, {"laplacian: f returned an undefined"});
}

TEST(TransformOutputs, AThrowingFLeavesNoStateBehind) {
  auto throwing = [](const Tensor& x) -> Tensor {
    if (x.defined()) throw Error("f failed");  // after the transform set up its levels and leaves
    return x;
  };
  for (const TransformRow& row : every_transform()) {
    EXPECT_THROW(row.apply(throwing, row_input()), Error) << row.name;
    EXPECT_TRUE(is_grad_enabled()) << row.name;
    // No dual level is left open: unpack_dual outside any level is an error.
    EXPECT_THROW(forward_ad::unpack_dual(ones({1})), Error) << row.name;
    NoGradGuard no_grad;
    EXPECT_THROW(row.apply(throwing, row_input()), Error) << row.name;
    EXPECT_FALSE(is_grad_enabled()) << row.name;
  }
  // Later calls work, and their results are plain.
  for (const TransformRow& row : every_transform())
    for (const Tensor& t : row.apply(Watched(), row_input())) EXPECT_TRUE(plain(t)) << row.name;
}

TEST(TransformOutputs, OutputsNotDependingOnTheInputGiveZeros) {
  auto constant = [](const Tensor& x) { return ones({2, 3}, x.dtype()); };
  Tensor x = tensor({1.0, 2.0}, kFloat64);
  for (Tensor j : {func::jacrev(constant)(x), func::jacfwd(constant)(x), func::jacobian(constant, x)}) {
    EXPECT_EQ(j.sizes().vec(), std::vector<int64_t>({2, 3, 2}));
    EXPECT_TRUE(plain(j));
    EXPECT_EQ(j.abs().sum().item<double>(), 0.0);
  }
  auto [out, pullback] = func::vjp(constant, x);
  EXPECT_TRUE(allclose(pullback(ones({2, 3}, kFloat64)), zeros({2}, kFloat64)));
  EXPECT_TRUE(allclose(func::jvp(constant, x, x).second, zeros({2, 3}, kFloat64)));
  EXPECT_EQ(func::grad([](const Tensor& z) { return ones({}, z.dtype()); })(x).abs().sum().item<double>(), 0.0);
  auto rows_constant = [](const Tensor& z) { return ones({z.size(0), 2}, z.dtype()); };
  EXPECT_EQ(func::batch_jacobian(rows_constant, ones({3, 10}, kFloat64)).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(func::laplacian(rows_constant, ones({3, 10}, kFloat64)).abs().sum().item<double>(), 0.0);
}

// f linear in x has the same Jacobian in every row, which the repeated tangents of the first product
// carry as one row expanded (stride 0). The caller gets its own dense result, as from PyTorch: one
// expanded over the batch raised on any in-place write, and read past its memory through data_ptr.
TEST(TransformOutputs, JacobiansOfAffineFunctionsAreDenseAndWritable) {
  const Tensor w = randn({4, 3}, kFloat64), b = randn({4}, kFloat64), x = randn({5, 3}, kFloat64);
  const func::UnaryFunction affine[] = {[&](const Tensor& z) { return linear(z, w); },
                                        [&](const Tensor& z) { return linear(z, w, b); },
                                        [&](const Tensor& z) { return addmm(b, z, w.t()); }};
  for (const auto& f : affine) {
    Tensor j = func::batch_jacobian(f, x);
    EXPECT_TRUE(j.is_contiguous()) << j.strides();
    EXPECT_TRUE(equal(j, w.expand({5, 4, 3})));
    j.index_put_({0, 0, 0}, 1234.0);
    EXPECT_EQ(j.ne(w.expand({5, 4, 3})).sum().item<int64_t>(), 1);  // that element alone
  }
}

TEST(TransformOutputs, IntegerOutputsAndPrimals) {
  // As torch.func: reverse mode rejects integer outputs, forward mode gives them zero tangents.
  auto to_int = [](const Tensor& x) { return (x * 10).to(kInt64); };
  Tensor x = tensor({1.5, 2.5}, kFloat64);
  Tensor jf = func::jacfwd(to_int)(x);
  EXPECT_EQ(jf.sizes().vec(), std::vector<int64_t>({2, 2}));
  EXPECT_EQ(jf.dtype(), kInt64);
  EXPECT_EQ(jf.abs().sum().item<double>(), 0.0);
  const char* message = ": all outputs of f must be floating-point tensors, but output 0 has dtype int64";
  expect_error([&] { func::jacrev(to_int)(x); }, {std::string("jacrev") + message});
  expect_error([&] { func::vjp(to_int, x); }, {std::string("vjp") + message});
  expect_error([&] { func::jacobian(to_int, x); }, {std::string("jacobian") + message});
  expect_error([&] { func::grad([&](const Tensor& z) { return to_int(z).sum(); })(x); },
               {std::string("grad") + message});
  Tensor ints = tensor({1.0, 2.0}).to(kInt64);
  auto f = [](const Tensor& z) { return z * 2; };
  expect_error([&] { func::jacrev(f)(ints); }, {"jacrev: primal 0 has dtype int64", "floating-point"});
  expect_error([&] { func::jacfwd(f)(ints); }, {"jacfwd: primal 0 has dtype int64"});
  expect_error([&] { func::jacobian(f, ints); }, {"jacobian: primal 0 has dtype int64"});
  expect_error([&] { func::vjp(f, ints); }, {"vjp: primal 0 has dtype int64"});
  expect_error([&] { func::jvp(f, ints, ints); }, {"jvp: primal 0 has dtype int64"});
  expect_error([&] { func::grad([](const Tensor& z) { return z.sum(); })(ints); }, {"grad: primal 0 has dtype int64"});
  expect_error([&] { func::hessian([](const Tensor& z) { return z.sum(); })(ints); }, {"primal 0 has dtype int64"});
  expect_error([&] { func::linearize(f, ints); }, {"linearize: primal 0 has dtype int64"});
  expect_error([&] { func::batch_jacobian(f, ones({2, 2}, kInt64)); }, {"batch_jacobian", "floating point"});
  // An integer primal outside argnums is passed through as it is.
  func::Function scaled = [](const TensorList& in) { return TensorList{in[0] * in[1]}; };
  EXPECT_TRUE(allclose(func::jacrev(scaled, {x, ints}, {0})[0], diag(tensor({1.0, 2.0}, kFloat64))));
}

// ---- item 17 and chunk_size everywhere -------------------------------------------------------

// Every function that takes BatchOptions, by name.
using Batch = Tensor (*)(const func::UnaryFunction&, const Tensor&, func::BatchOptions);
std::vector<std::pair<const char*, Batch>> every_batch_function() {
  return {{"batch_jacobian", func::batch_jacobian},
          {"batch_hessian", func::batch_hessian},
          {"batch_hessian_diagonal", func::batch_hessian_diagonal},
          {"laplacian", func::laplacian}};
}

TEST(TransformChunks, EveryBatchFunctionChunksToTheWholeBatchResult) {
  manual_seed(23);
  Tensor w = randn({3, 2}, kFloat64);
  auto f = [&](const Tensor& z) { return tanh(matmul(z, w)) * z.sum({1}, true); };
  Tensor x = randn({7, 3}, kFloat64);
  for (auto [name, transform] : every_batch_function()) {
    Tensor whole = transform(f, x, {});
    for (int64_t chunk : {1, 2, 3, 6, 7, 50}) {
      Tensor chunked = transform(f, x, {.chunk_size = chunk});
      ASSERT_EQ(chunked.sizes().vec(), whole.sizes().vec()) << name << " chunk " << chunk;
      EXPECT_TRUE(allclose(chunked, whole, 1e-13, 1e-14)) << name << " chunk " << chunk;
    }
    expect_error([&, &transform = transform] { transform(f, x, {.chunk_size = -1}); }, {name, "chunk_size must be positive"});
  }
  expect_error([&] { func::jacrev(func::UnaryFunction(f), -2); }, {"jacrev: chunk_size must be positive"});
  expect_error([&] { func::jacfwd(func::UnaryFunction(f), -2); }, {"jacfwd: chunk_size must be positive"});
}

TEST(TransformChunks, AnOutputShapedByTheBatchSizeIsRejected) {
  // x @ x.T: [B, B]. Chunks of 2 rows of a batch of 4 would each give [2, 2] rows of "Jacobian".
  auto gram = [](const Tensor& x) { return matmul(x, x.t()); };
  Tensor x = randn({4, 3}, kFloat64);
  for (auto [name, transform] : every_batch_function())
    for (int64_t chunk : {1, 2, 3})
      expect_error([&, &transform = transform] { transform(gram, x, {.chunk_size = chunk}); },
                   {name, "must map each row by itself", "[1] for 1 row and [2] for 2 rows"});
}

TEST(TransformChunks, JacrevAndJacfwdChunksGiveTheUnchunkedJacobians) {
  manual_seed(25);
  // Two primals of 5 and 6 elements, two outputs of 4 elements: chunks of 3 and 4 divide some of
  // them and not others, 100 is larger than all.
  Tensor w = randn({6, 4}, kFloat64);
  func::Function f = [&](const TensorList& in) {
    Tensor mixed = tanh(matmul(in[1].reshape({6}), w)) * in[0].narrow(0, 0, 4);
    return TensorList{mixed, (sin(in[0]).sum() * in[1].narrow(1, 0, 2)).reshape({2, 2})};
  };
  const TensorList primals{randn({5}, kFloat64), randn({2, 3}, kFloat64)};
  func::UnaryFunction unary = [&](const Tensor& z) { return tanh(matmul(z.reshape({6}), w)) * z.sum(); };
  const Tensor y = primals[1];
  for (const auto& argnums : std::vector<std::vector<int64_t>>{{0}, {1}, {0, 1}, {-1, 0}}) {
    const TensorList rev = func::jacrev(f, primals, argnums), fwd = func::jacfwd(f, primals, argnums);
    for (int64_t chunk : {1, 2, 3, 4, 100}) {
      for (auto [name, got, whole] : std::vector<std::tuple<const char*, TensorList, TensorList>>{
               {"jacrev", func::jacrev(f, primals, argnums, chunk), rev},
               {"jacfwd", func::jacfwd(f, primals, argnums, chunk), fwd},
               {"jacrev(f, argnums)", func::jacrev(f, argnums, chunk)(primals), rev},
               {"jacfwd(f, argnums)", func::jacfwd(f, argnums, chunk)(primals), fwd}}) {
        ASSERT_EQ(got.size(), whole.size()) << name;
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_TRUE(equal(got[i], whole[i])) << name << " chunk " << chunk << " result " << i;
      }
    }
  }
  for (int64_t chunk : {1, 2, 4, 5, 100}) {
    EXPECT_TRUE(equal(func::jacrev(unary, chunk)(y), func::jacrev(unary)(y))) << "jacrev chunk " << chunk;
    EXPECT_TRUE(equal(func::jacfwd(unary, chunk)(y), func::jacfwd(unary)(y))) << "jacfwd chunk " << chunk;
  }
  // Every form rejects a negative chunk_size with the same message, as soon as it is given.
  const std::string message = ": chunk_size must be positive (or 0 for a single chunk), got -1";
  expect_error([&] { func::jacrev(f, primals, {0}, -1); }, {"jacrev" + message});
  expect_error([&] { func::jacfwd(f, primals, {0}, -1); }, {"jacfwd" + message});
  expect_error([&] { func::jacrev(f, std::vector<int64_t>{0}, -1); }, {"jacrev" + message});
  expect_error([&] { func::jacfwd(f, std::vector<int64_t>{0}, -1); }, {"jacfwd" + message});
  expect_error([&] { func::jacrev(f, {0, 1}, -1); }, {"jacrev" + message});
  expect_error([&] { func::jacfwd(f, {0, 1}, -1); }, {"jacfwd" + message});
  expect_error([&] { func::jacrev(unary, -1); }, {"jacrev" + message});
  expect_error([&] { func::jacfwd(unary, -1); }, {"jacfwd" + message});
  expect_error([&] { func::batch_jacobian(unary, ones({2, 6}, kFloat64), {.chunk_size = -1}); },
               {"batch_jacobian" + message});
}

TEST(TransformChunks, TheIndependenceCheckTakesItsJacobianInChunksToo) {
  manual_seed(26);
  Tensor w = randn({3, 2}, kFloat64);
  Tensor x = randn({7, 3}, kFloat64);
  const int64_t chunk = 2;
  for (auto [name, transform] : every_batch_function()) {
    // f on more than chunk rows: only the two probes of the independence check need the whole batch (a JVP, and a
    // finite step of some rows).
    int wider_calls = 0;
    func::UnaryFunction f = [&](const Tensor& z) {
      if (z.size(0) > chunk) ++wider_calls;
      return tanh(matmul(z, w)) * z.sum({1}, true);
    };
    const Tensor whole = transform(f, x, {});
    wider_calls = 0;
    const Tensor chunked = transform(f, x, {.check_independence = true, .chunk_size = chunk});
    EXPECT_EQ(wider_calls, 2) << name;
    EXPECT_TRUE(allclose(chunked, whole, 1e-13, 1e-14)) << name;
    // Rows coupled across slices are still caught.
    auto coupled = [](const Tensor& z) { return z * z + z.sum(std::vector<int64_t>{0}, true); };
    for (int64_t c : {1, 2, 3, 50})
      expect_error(
          [&, &transform = transform] { transform(coupled, x, {.check_independence = true, .chunk_size = c}); },
          {name, "depends on other rows of x"});
  }
}

// ---- hostile arguments -----------------------------------------------------------------------

TEST(TransformArguments, EmptyPrimalListsZeroSizeAnd0d) {
  func::Function none = [](const TensorList&) { return TensorList{ones({2}, kFloat64)}; };
  // torch.func.jvp raises on empty primals ("Expected primals to contain at least one Tensor"); its vjp does not.
  expect_error([&] { func::jvp(none, {}, {}); }, {"jvp", "at least one tensor"});
  auto [out, pullback] = func::vjp(none, {});
  EXPECT_TRUE(pullback({ones({2}, kFloat64)}).empty());
  expect_error([&] { func::jacfwd(none, TensorList{}, {0}); }, {"jacfwd", "only 0 positional inputs"});
  expect_error([&] { func::grad(none, {0})({}); }, {"grad", "only 0 positional inputs"});
  // Zero-size inputs and outputs: empty Jacobians of the right shape.
  auto f = [](const Tensor& z) { return z * 2; };
  for (Tensor x : {zeros({0}, kFloat64), zeros({2, 0}, kFloat64)}) {
    Dims expected = concat(x.sizes(), x.sizes());
    for (Tensor j : {func::jacrev(f)(x), func::jacfwd(f)(x), func::jacobian(f, x), func::hessian([](const Tensor& z) { return z.sum(); })(x)}) {
      EXPECT_EQ(j.sizes(), IntArrayRef(expected));
      EXPECT_TRUE(plain(j));
    }
  }
  EXPECT_EQ(func::batch_jacobian(f, zeros({0, 3}, kFloat64)).sizes().vec(), std::vector<int64_t>({0, 3, 3}));
  EXPECT_EQ(func::batch_jacobian(f, zeros({3, 0}, kFloat64)).sizes().vec(), std::vector<int64_t>({3, 0, 0}));
  EXPECT_EQ(func::laplacian(f, zeros({0, 3}, kFloat64)).sizes().vec(), std::vector<int64_t>({0, 3}));
  // Zero-size outputs of non-empty inputs.
  auto nothing = [](const Tensor& z) { return z.narrow(-1, 0, 0) * 2; };
  Tensor y = tensor({1.0, 2.0}, kFloat64);
  for (Tensor j : {func::jacrev(nothing)(y), func::jacfwd(nothing)(y), func::jacobian(nothing, y)})
    EXPECT_EQ(j.sizes().vec(), std::vector<int64_t>({0, 2}));
  auto [empty_out, empty_pullback] = func::vjp(nothing, y);
  EXPECT_TRUE(allclose(empty_pullback(zeros({0}, kFloat64)), zeros({2}, kFloat64)));
  EXPECT_EQ(func::batch_jacobian(nothing, ones({3, 10}, kFloat64)).sizes().vec(), std::vector<int64_t>({3, 0, 10}));
  EXPECT_EQ(func::batch_jacobian(nothing, ones({3, 2}, kFloat64)).sizes().vec(), std::vector<int64_t>({3, 0, 2}));
  EXPECT_EQ(func::laplacian(nothing, ones({3, 2}, kFloat64)).sizes().vec(), std::vector<int64_t>({3, 0}));
  EXPECT_EQ(func::batch_hessian(nothing, ones({3, 2}, kFloat64)).sizes().vec(), std::vector<int64_t>({3, 0, 2, 2}));
  // 0-d in, 0-d out.
  Tensor s = tensor(3.0, kFloat64);
  auto cube = [](const Tensor& z) { return z.pow(3); };
  for (Tensor d : {func::jacrev(cube)(s), func::jacfwd(cube)(s), func::grad(cube)(s)}) {
    EXPECT_EQ(d.dim(), 0);
    EXPECT_DOUBLE_EQ(d.item<double>(), 27.0);
  }
  EXPECT_DOUBLE_EQ(func::hessian(cube)(s).item<double>(), 18.0);
}

TEST(TransformArguments, TangentsAndCotangentsOfAnotherDtypeAreCast) {
  // As torch.func: a float32 tangent or cotangent for float64 values gives float64 results.
  Tensor x = tensor({1.0, 2.0}, kFloat64);
  auto f = [](const Tensor& z) { return z * z; };
  auto [out, pullback] = func::vjp(f, x);
  Tensor g = pullback(ones({2}, kFloat32));
  EXPECT_EQ(g.dtype(), kFloat64);
  EXPECT_TRUE(allclose(g, tensor({2.0, 4.0}, kFloat64)));
  Tensor t = func::jvp(f, x, ones({2}, kFloat32)).second;
  EXPECT_EQ(t.dtype(), kFloat64);
  EXPECT_TRUE(allclose(t, tensor({2.0, 4.0}, kFloat64)));
  expect_error([&, &pullback = pullback] { pullback(ones({3}, kFloat64)); }, {"vjp: cotangent 0 has shape [3] but output 0 has shape [2]"});
  expect_error([&, &pullback = pullback] { pullback({}); }, {"vjp: cotangent 0 has shape (undefined)"});
  auto [outs, pullbacks] = func::vjp(func::Function([](const TensorList& in) { return in; }), {x});
  expect_error([&, &pullbacks = pullbacks] { pullbacks({x, x}); }, {"vjp: got 2 cotangents for 1 outputs"});
}

TEST(TransformArguments, IdentityViewsAndExpandedInputs) {
  auto identity = [](const Tensor& z) { return z; };
  Tensor base = arange(0, 6, 1, kFloat64).reshape({2, 3});
  for (Tensor x : {base, base.t(), base.select(1, 1), base.select(0, 0).unsqueeze(0).expand({4, 3})}) {
    Tensor eye_x = eye(x.numel(), kFloat64).reshape(concat(x.sizes(), x.sizes()));
    for (Tensor j : {func::jacrev(identity)(x), func::jacfwd(identity)(x), func::jacobian(identity, x)}) {
      EXPECT_TRUE(plain(j));
      EXPECT_TRUE(allclose(j, eye_x)) << x.sizes();
    }
    auto [out, pullback] = func::vjp(identity, x);
    EXPECT_TRUE(plain(out));
    EXPECT_TRUE(allclose(out, x));
    EXPECT_TRUE(allclose(pullback(ones_like(x)), ones_like(x)));
    auto [value, tangent] = func::jvp(identity, x, ones_like(x));
    EXPECT_TRUE(plain(value) && plain(tangent));
    // The caller's tensor is untouched: still plain, no tangent.
    EXPECT_TRUE(plain(x));
  }
  // f returning its input when the input requires grad gives the input's history, not a copy.
  Tensor w = ones({2}, kFloat64).requires_grad_(true);
  auto [out, pullback] = func::vjp(identity, w);
  EXPECT_TRUE(out.requires_grad());
  EXPECT_TRUE(allclose(grad({(out * 3).sum()}, {w})[0], full({2}, 3.0, kFloat64)));
}

TEST(TransformArguments, BatchFunctionsOnViewsAndExpandedInputsMatchContiguousCopies) {
  manual_seed(24);
  Tensor w = randn({3, 2}, kFloat64);
  auto f = [&](const Tensor& z) { return tanh(matmul(z, w)) * z.pow(2).sum({1}, true); };
  auto narrow = [&](const Tensor& z) { return sin(z).sum({1}, true) * z.select(1, 0).unsqueeze(1); };  // reverse
  Tensor base = randn({3, 5}, kFloat64);
  // Rows of 3 go through forward mode; rows of 10 through reverse mode for narrow.
  Tensor wide = randn({12, 4}, kFloat64);
  for (Tensor x : {base.t().narrow(1, 0, 3), randn({1, 3}, kFloat64).expand({4, 3}), base.narrow(1, 1, 3),
                   wide.t().narrow(1, 1, 10), randn({1, 10}, kFloat64).expand({3, 10})})
    for (auto [name, transform] : every_batch_function())
      for (const func::UnaryFunction& g : x.size(1) == 3 ? std::vector<func::UnaryFunction>{f, narrow}
                                                         : std::vector<func::UnaryFunction>{narrow}) {
        Tensor expected = transform(g, x.contiguous(), {});
        for (int64_t chunk : {0, 2}) {
          Tensor got = transform(g, x, {.chunk_size = chunk});
          EXPECT_TRUE(plain(got)) << name;
          EXPECT_TRUE(allclose(got, expected, 1e-13, 1e-14)) << name << " " << x.sizes() << " chunk " << chunk;
        }
      }
}

TEST(TransformArguments, ConcurrentCallsFromTwoThreads) {
  // Grad mode and dual levels are per thread: two threads nesting transforms do not meet.
  auto f = [](const Tensor& z) { return (z.pow(3) * sin(z)).sum(); };
  Tensor x = tensor({0.3, -0.7, 1.1}, kFloat64);
  const Tensor expected_h = func::hessian(f)(x), expected_g = func::grad(f)(x);
  std::atomic<int> wrong{0};
  auto work = [&](int seed) {
    for (int i = 0; i < 50; ++i) {
      Tensor h = (i + seed) % 2 ? func::hessian(f)(x) : func::jacrev(func::jacfwd(f))(x);
      Tensor g = func::grad(f)(x);
      if (!allclose(h, expected_h, 1e-12, 1e-12) || !allclose(g, expected_g, 1e-14, 0) || !plain(h) || !plain(g))
        ++wrong;
    }
  };
  std::thread a(work, 0), b(work, 1);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace dydx
