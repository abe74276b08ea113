// The function transforms' API: per-sample derivatives, mode choice, composition and errors.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>

namespace dydx {
namespace {

using indexing::Slice;

Tensor seed_function(const Tensor& x) { return matmul(x.pow(3), tensor({{2.0, 4.0}}, x.dtype())); }

// A small per-sample network, 3 -> 4 -> 2 with tanh, so that rows are independent.
struct TinyMlp {
  Tensor w1 = randn({3, 4}, kFloat64), b1 = randn({4}, kFloat64);
  Tensor w2 = randn({4, 2}, kFloat64), b2 = randn({2}, kFloat64);
  Tensor operator()(const Tensor& x) const { return matmul(tanh(matmul(x, w1) + b1), w2) + b2; }
};

TEST(BatchJacobian, SeedInOneCall) {
  Tensor x = tensor({{4.0}, {1.0}});
  Tensor j = func::batch_jacobian(seed_function, x);
  EXPECT_EQ(j.sizes().vec(), std::vector<int64_t>({2, 2, 1}));
  EXPECT_EQ(j.to_vector<float>(), std::vector<float>({96, 192, 6, 12}));
}

TEST(BatchJacobian, EqualsTheSeedLoopOfGrad) {
  manual_seed(1);
  Tensor x = randn({50, 1}, kFloat64).requires_grad_(true);
  Tensor y = seed_function(x);
  TensorList columns;
  for (int64_t j = 0; j < y.size(1); ++j)
    columns.push_back(grad({y.index({Slice(), j})}, {x}, {ones({50}, kFloat64)}, true)[0]);
  Tensor j = func::batch_jacobian(seed_function, x.detach());
  EXPECT_TRUE(allclose(j.squeeze(-1), cat(columns, 1), 1e-12, 0));
}

TEST(BatchJacobian, EqualsDiagonalBlocksOfTheFullJacobian) {
  manual_seed(2);
  TinyMlp f;
  Tensor x = randn({5, 3}, kFloat64);
  Tensor full = func::jacrev(func::UnaryFunction(f))(x);  // [5, 2, 5, 3]
  Tensor per_sample = func::batch_jacobian(f, x);         // [5, 2, 3]
  ASSERT_EQ(per_sample.sizes().vec(), std::vector<int64_t>({5, 2, 3}));
  for (int64_t b = 0; b < 5; ++b)
    EXPECT_TRUE(allclose(per_sample.select(0, b), full.select(0, b).select(1, b), 1e-12, 1e-14)) << "row " << b;
}

TEST(BatchJacobian, ForwardAndReverseModesAgree) {
  manual_seed(3);
  TinyMlp f;
  Tensor x = randn({4, 3}, kFloat64);
  // 3 inputs, 6 outputs per row: forward mode; the transposed problem uses reverse mode.
  auto wide = [&](const Tensor& z) { return cat({f(z), sin(z)}, 1); };  // [B, 5]
  Tensor j = func::batch_jacobian(wide, x);
  for (int64_t b = 0; b < 4; ++b) {
    Tensor row = x.select(0, b).unsqueeze(0);
    Tensor expected = func::jacfwd([&](const Tensor& r) { return wide(r).squeeze(0); })(row).squeeze(1);
    EXPECT_TRUE(allclose(j.select(0, b), expected, 1e-12, 1e-14)) << "row " << b;
  }
}

TEST(BatchJacobian, ReverseModeForWideRows) {
  manual_seed(4);
  // 12 inputs and 2 outputs per row: past the few inputs pushed forward at once, so reverse mode.
  Tensor w = randn({12, 2}, kFloat64);
  auto f = [&](const Tensor& z) { return tanh(matmul(z.pow(2), w)); };
  Tensor x = randn({6, 12}, kFloat64);
  Tensor j = func::batch_jacobian(f, x);
  ASSERT_EQ(j.sizes().vec(), std::vector<int64_t>({6, 2, 12}));
  for (int64_t b = 0; b < 6; ++b) {
    Tensor row = x.select(0, b).unsqueeze(0);
    Tensor expected = func::jacfwd([&](const Tensor& r) { return f(r).squeeze(0); })(row).squeeze(1);
    EXPECT_TRUE(allclose(j.select(0, b), expected, 1e-12, 1e-14)) << "row " << b;
  }
}

TEST(BatchJacobian, ChunksGiveTheWholeBatchResult) {
  manual_seed(5);
  TinyMlp mlp;
  Tensor w = randn({12, 2}, kFloat64);
  const std::vector<std::pair<const char*, func::UnaryFunction>> functions = {
      {"seed (1 input)", [](const Tensor& z) { return seed_function(z); }},
      {"mlp (3 inputs)", [&](const Tensor& z) { return mlp(z); }},
      {"wide rows (reverse mode)", [&](const Tensor& z) { return tanh(matmul(z.pow(2), w)); }},
  };
  for (const auto& [name, f] : functions) {
    const int64_t in = std::string(name).rfind("seed", 0) == 0 ? 1 : std::string(name).rfind("mlp", 0) == 0 ? 3 : 12;
    Tensor x = randn({37, in}, kFloat64);
    Tensor whole = func::batch_jacobian(f, x);
    for (int64_t chunk : {1, 8, 36, 37, 100}) {
      func::BatchOptions options;
      options.chunk_size = chunk;
      Tensor chunked = func::batch_jacobian(f, x, options);
      ASSERT_EQ(chunked.sizes().vec(), whole.sizes().vec()) << name << ", chunk " << chunk;
      EXPECT_TRUE(allclose(chunked, whole, 1e-13, 1e-15)) << name << ", chunk " << chunk;
    }
  }
}

TEST(BatchJacobian, ChunksStayDifferentiable) {
  manual_seed(6);
  Tensor w = randn({1, 3}, kFloat64).requires_grad_(true);
  Tensor x = randn({10, 1}, kFloat64);
  auto f = [&](const Tensor& z) { return sin(matmul(z.pow(3), w)); };
  func::BatchOptions options;
  options.chunk_size = 3;
  Tensor chunked = grad({func::batch_jacobian(f, x, options).pow(2).sum()}, {w})[0];
  Tensor whole = grad({func::batch_jacobian(f, x).pow(2).sum()}, {w})[0];
  EXPECT_TRUE(allclose(chunked, whole, 1e-13, 1e-15));
}

TEST(BatchJacobian, ChunksKeepPeakMemoryNearTheResult) {
  manual_seed(7);
  const int64_t m = 20000, n = 64;
  Tensor x = randn({m, 1}, kFloat64), w = randn({1, n}, kFloat64);
  auto f = [&](const Tensor& z) { return matmul(z.pow(3), w); };
  const double result_bytes = static_cast<double>(m * n * 8);
  auto peak_of = [&](int64_t chunk) {
    func::BatchOptions options;
    options.chunk_size = chunk;
    const int64_t start = memory_stats().live_bytes;
    reset_peak_memory();
    Tensor j = func::batch_jacobian(f, x, options);
    return static_cast<double>(memory_stats().peak_bytes - start);
  };
  // The whole batch holds f's [m, n] output beside the [m, n, 1] Jacobian; slices of 1000 rows
  // hold the Jacobian and one slice's intermediates.
  EXPECT_GE(peak_of(0), 1.9 * result_bytes);
  EXPECT_LE(peak_of(1000), 1.2 * result_bytes);
}

TEST(Jacobians, ChunksKeepTheBasisToOneChunk) {
  // jacrev chunks the output's 2048 elements, jacfwd the input's: a chunk of 16 basis directions
  // is 256 KiB, where the identity over all of them would be 32 MiB.
  const int64_t n = 2048;
  manual_seed(8);
  Tensor w = randn({n}, kFloat64), one = randn({1}, kFloat64), many = randn({n}, kFloat64);
  func::UnaryFunction spread = [&](const Tensor& z) { return sin(z * w); };          // 1 -> n: jacrev's rows
  func::UnaryFunction gather = [&](const Tensor& z) { return (sin(z) * w).sum(); };  // n -> 1: jacfwd's columns
  auto peak_of = [&](const std::function<Tensor()>& run) {
    const int64_t start = memory_stats().live_bytes;
    reset_peak_memory();
    Tensor j = run();
    return static_cast<double>(memory_stats().peak_bytes - start);
  };
  const double identity_bytes = static_cast<double>(n * n * 8);
  EXPECT_GE(peak_of([&] { return func::jacrev(spread)(one); }), identity_bytes);
  EXPECT_LE(peak_of([&] { return func::jacrev(spread, 16)(one); }), 0.05 * identity_bytes);
  EXPECT_GE(peak_of([&] { return func::jacfwd(gather)(many); }), identity_bytes);
  EXPECT_LE(peak_of([&] { return func::jacfwd(gather, 16)(many); }), 0.05 * identity_bytes);
}

TEST(BatchJacobian, IndependenceCheckCatchesCoupledRows) {
  Tensor x = randn({4, 3}, kFloat64);
  auto coupled = [](const Tensor& z) { return z + z.sum(std::vector<int64_t>{0}, true); };
  EXPECT_NO_THROW(func::batch_jacobian(coupled, x));  // off by default: the caller's promise
  try {
    func::batch_jacobian(coupled, x, {.check_independence = true});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_jacobian: row"), std::string::npos) << e.what();
  }
  TinyMlp f;
  EXPECT_NO_THROW(func::batch_jacobian(f, x, {.check_independence = true}));
}

TEST(BatchHessian, MatchesPerSampleHessians) {
  manual_seed(4);
  TinyMlp f;
  Tensor x = randn({3, 3}, kFloat64);
  Tensor h = func::batch_hessian(f, x);  // [3, 2, 3, 3]
  ASSERT_EQ(h.sizes().vec(), std::vector<int64_t>({3, 2, 3, 3}));
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t j = 0; j < 2; ++j) {
      auto yj = [&](const Tensor& r) { return f(r.unsqueeze(0)).select(0, 0).select(0, j); };
      Tensor expected = func::hessian(yj)(x.select(0, b));
      EXPECT_TRUE(allclose(h.select(0, b).select(0, j), expected, 1e-10, 1e-12)) << b << "," << j;
    }
}

TEST(Laplacian, EqualsTheTraceOfBatchHessian) {
  manual_seed(5);
  TinyMlp f;
  Tensor x = randn({6, 3}, kFloat64);
  Tensor h = func::batch_hessian(f, x);
  Tensor trace = zeros({6, 2}, kFloat64);
  for (int64_t k = 0; k < 3; ++k) trace = trace + h.select(-1, k).select(-1, k);
  EXPECT_TRUE(allclose(func::laplacian(f, x), trace, 1e-10, 1e-12));
  Tensor diagonal = func::batch_hessian_diagonal(f, x);
  ASSERT_EQ(diagonal.sizes().vec(), std::vector<int64_t>({6, 2, 3}));
  EXPECT_TRUE(allclose(diagonal.select(-1, 1), h.select(-1, 1).select(-1, 1), 1e-10, 1e-12));
}

TEST(Laplacian, IsDifferentiableWithRespectToWeights) {
  // The physics-informed training step: the gradient of a loss built from the Laplacian.
  manual_seed(6);
  TinyMlp f;
  f.w1.requires_grad_(true);
  Tensor x = randn({4, 3}, kFloat64);
  Tensor loss = func::laplacian(f, x).pow(2).mean();
  Tensor g = grad({loss}, {f.w1})[0];
  // Finite differences on one weight.
  const double step = 1e-6;
  auto loss_at = [&](double delta) {
    TinyMlp moved = f;
    moved.w1 = f.w1.detach().clone();
    moved.w1.select(0, 1).select(0, 2).add_(delta);
    return func::laplacian(moved, x).pow(2).mean().item<double>();
  };
  EXPECT_NEAR(g.select(0, 1).select(0, 2).item<double>(), (loss_at(step) - loss_at(-step)) / (2 * step), 1e-5);
}

// A tanh network like the benchmark's (2 -> 16 -> 16 -> 16 -> 3), smaller, in any dtype.
struct Mlp {
  TensorList weights, biases;
  explicit Mlp(ScalarType dtype, std::vector<int64_t> sizes = {2, 16, 16, 16, 3}) {
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      weights.push_back(randn({sizes[i], sizes[i + 1]}, dtype) * (1.0 / std::sqrt(static_cast<double>(sizes[i]))));
      biases.push_back(randn({sizes[i + 1]}, dtype) * 0.1);
    }
  }
  Tensor operator()(const Tensor& x) const {
    Tensor h = x;
    for (size_t i = 0; i < weights.size(); ++i) {
      h = matmul(h, weights[i]) + biases[i];
      if (i + 1 < weights.size()) h = tanh(h);
    }
    return h;
  }
  TensorList parameters() const {
    TensorList all = weights;
    all.insert(all.end(), biases.begin(), biases.end());
    return all;
  }
};

// The reference: the nested forward-over-forward diagonal, summed over the row's input dims.
Tensor laplacian_from_diagonal(const func::UnaryFunction& f, const Tensor& x) {
  Tensor diagonal = func::batch_hessian_diagonal(f, x);
  std::vector<int64_t> dims;
  for (int64_t d = diagonal.dim() - (x.dim() - 1); d < diagonal.dim(); ++d) dims.push_back(d);
  return diagonal.sum(dims);
}

TEST(Laplacian, MlpMatchesNestedDiagonalAndSecondDifferences) {
  manual_seed(7);
  Mlp f(kFloat64);
  Tensor x = randn({5, 2}, kFloat64);
  Tensor actual = func::laplacian(f, x);
  ASSERT_EQ(actual.sizes().vec(), std::vector<int64_t>({5, 3}));
  EXPECT_TRUE(allclose(actual, laplacian_from_diagonal(f, x), 1e-10, 1e-10));
  const double h = 1e-4;
  Tensor numeric = zeros({5, 3}, kFloat64);
  for (int64_t k = 0; k < 2; ++k) {
    Tensor e = zeros({5, 2}, kFloat64);
    e.select(1, k).fill_(h);
    numeric = numeric + (f(x + e) - f(x) * 2.0 + f(x - e)) / (h * h);
  }
  EXPECT_TRUE(allclose(actual, numeric, 1e-5, 1e-5)) << actual << "\n" << numeric;
}

TEST(Laplacian, Float32MatchesFloat64) {
  // float32 takes the fused paths (sum over directions, the curvature added in place).
  manual_seed(8);
  Mlp f64(kFloat64);
  Mlp f32 = f64;
  for (Tensor& w : f32.weights) w = w.to(kFloat32);
  for (Tensor& b : f32.biases) b = b.to(kFloat32);
  Tensor x = randn({64, 2}, kFloat64);
  Tensor expected = func::laplacian(f64, x);
  Tensor actual = func::laplacian(f32, x.to(kFloat32));
  EXPECT_EQ(actual.dtype(), kFloat32);
  EXPECT_TRUE(allclose(actual.to(kFloat64), expected, 1e-4, 1e-4));
}

TEST(Laplacian, FusedPathsMatchTheComposedRules) {
  // With the weights requiring grad, tanh's and sigmoid's step is the differentiable op
  // LaplacianTangentRecord and the other rules run as differentiable ops; without, the fused
  // paths run (the same op, unrecorded, the sum over directions, the in-place add).
  manual_seed(9);
  Mlp f(kFloat32);
  Tensor x = randn({32, 2});
  Tensor fused = func::laplacian(f, x);
  for (Tensor& w : f.weights) w.requires_grad_(true);
  Tensor composed = func::laplacian(f, x);
  EXPECT_TRUE(composed.requires_grad());
  EXPECT_TRUE(allclose(fused, composed.detach(), 1e-5, 1e-6));
  // sigmoid has a fused rule too.
  Tensor w = randn({2, 8}), v = randn({8, 2});
  auto g = [&](const Tensor& z) { return matmul(sigmoid(matmul(z, w)), v); };
  Tensor fused_sigmoid = func::laplacian(g, x);
  w.requires_grad_(true);
  Tensor composed_sigmoid = func::laplacian(g, x);
  EXPECT_TRUE(composed_sigmoid.requires_grad());
  EXPECT_TRUE(allclose(fused_sigmoid, composed_sigmoid.detach(), 1e-5, 1e-6));
  EXPECT_FALSE(allclose(fused_sigmoid, zeros_like(fused_sigmoid), 0, 1e-3));
}

TEST(BatchJacobian, FusedActivationRulesMatchTheComposedRules) {
  // tanh's and sigmoid's t * f'(out) run in one pass unless something needs derivatives of the
  // result; requiring grad on the weights (JVP) or create_graph (VJP) runs the composed ops.
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const double rtol = dtype == kFloat32 ? 1e-6 : 1e-14;
    manual_seed(11);
    Tensor w = randn({3, 8}, dtype), v = randn({8, 2}, dtype);
    Tensor x = randn({40, 3}, dtype);
    auto f = [&](const Tensor& z) { return matmul(tanh(matmul(z, w)) * sigmoid(matmul(z, w) * 0.5), v); };
    Tensor fused = func::batch_jacobian(f, x);  // forward mode: 3 inputs
    w.requires_grad_(true);
    Tensor composed = func::batch_jacobian(f, x);
    EXPECT_TRUE(composed.requires_grad());
    EXPECT_TRUE(allclose(fused, composed.detach(), rtol, rtol)) << dtype;
    Tensor leaf = x.clone().requires_grad_(true);
    Tensor y = f(leaf);
    Tensor cotangent = randn(y.sizes(), dtype);
    Tensor fused_grad = grad({y}, {leaf}, {cotangent}, true)[0];
    Tensor composed_grad = grad({y}, {leaf}, {cotangent}, true, /*create_graph=*/true)[0];
    EXPECT_TRUE(composed_grad.requires_grad());
    EXPECT_TRUE(allclose(fused_grad, composed_grad.detach(), rtol, rtol)) << dtype;
    w.requires_grad_(false);
  }
}

TEST(Laplacian, BroadcastingOperands) {
  // Parameters broadcast against rows, and a row's [B, 1] summary against the row itself, so
  // that mul and div see two operands with directional derivatives of different shapes.
  manual_seed(10);
  Tensor scale = randn({3}, kFloat64);
  auto f = [&](const Tensor& x) {
    Tensor summary = x.sum({1}, true);  // [B, 1]
    return sin(x * scale) * exp(summary * 0.3) + x.pow(2) / (summary.pow(2) + 1.0);
  };
  Tensor x = randn({4, 3}, kFloat64);
  EXPECT_TRUE(allclose(func::laplacian(f, x), laplacian_from_diagonal(f, x), 1e-10, 1e-10));
}

TEST(Laplacian, OperandsWithoutDerivatives) {
  // Binary ops with one operand constant, whose curvature rules see one undefined direction batch.
  manual_seed(15);
  Tensor c = rand({4, 3}, kFloat64) + 0.5;
  Tensor m = randn({4, 3, 3}, kFloat64);
  auto f = [&](const Tensor& x) {
    Tensor positive = x.pow(2) + 1.0;
    return 1.0 / positive + c / positive + positive / c + pow(positive, c) + pow(c, x) + pow(2.5, x) +
           x * c + where(gt(x.detach(), zeros({}, kFloat64)), x.pow(3), c) + matmul(x.unsqueeze(1), m).squeeze(1);
  };
  Tensor x = randn({4, 3}, kFloat64);
  EXPECT_TRUE(allclose(func::laplacian(f, x), laplacian_from_diagonal(f, x), 1e-10, 1e-10));
}

TEST(Laplacian, MultiDimensionalRows) {
  // Rows of shape [2, 3]; bmm of two operands that both depend on x.
  manual_seed(11);
  auto f = [](const Tensor& x) { return matmul(tanh(x), x.transpose(1, 2)) * exp(x.mean({1, 2}, true)); };
  Tensor x = randn({4, 2, 3}, kFloat64);
  Tensor actual = func::laplacian(f, x);
  ASSERT_EQ(actual.sizes().vec(), std::vector<int64_t>({4, 2, 2}));
  EXPECT_TRUE(allclose(actual, laplacian_from_diagonal(f, x), 1e-10, 1e-10));
}

TEST(Laplacian, EmptyBatchEmptyRowsAndConstantFunctions) {
  manual_seed(12);
  TinyMlp f;
  Tensor none = func::laplacian(f, zeros({0, 3}, kFloat64));
  EXPECT_EQ(none.sizes().vec(), std::vector<int64_t>({0, 2}));
  auto sum_plus_one = [](const Tensor& x) { return x.sum({1}, true) + 1.0; };
  Tensor empty_rows = func::laplacian(sum_plus_one, zeros({4, 0}, kFloat64));
  EXPECT_EQ(empty_rows.sizes().vec(), std::vector<int64_t>({4, 1}));
  EXPECT_EQ(empty_rows.abs().sum().item<double>(), 0.0);
  auto constant = [](const Tensor& x) { return ones({x.size(0), 2}, kFloat64); };
  Tensor flat = func::laplacian(constant, randn({3, 2}, kFloat64));
  EXPECT_EQ(flat.sizes().vec(), std::vector<int64_t>({3, 2}));
  EXPECT_EQ(flat.abs().sum().item<double>(), 0.0);
}

TEST(Laplacian, TrainingStepGradientMatchesFiniteDifferences) {
  // The physics-informed step: loss = mean((laplacian(f, x) - target)^2), differentiated with
  // respect to every weight and bias, against central differences on each of them.
  manual_seed(13);
  Mlp f(kFloat64, {2, 5, 5, 1});
  Tensor x = randn({6, 2}, kFloat64);
  Tensor target = randn({6, 1}, kFloat64);
  TensorList parameters = f.parameters();
  for (Tensor& p : parameters) p.requires_grad_(true);
  auto loss_of = [&](const Mlp& net) { return (func::laplacian(net, x) - target).pow(2).mean(); };
  // The last bias shifts f, not its Laplacian: its gradient is zero (undefined, as unused).
  TensorList grads = grad({loss_of(f)}, parameters, {}, std::nullopt, false, /*allow_unused=*/true);
  EXPECT_FALSE(grads.back().defined());
  const double step = 1e-6;
  for (size_t i = 0; i < parameters.size(); ++i)
    for (int64_t j = 0; j < parameters[i].numel(); ++j) {
      auto loss_at = [&](double delta) {
        NoGradGuard no_grad;
        Mlp moved = f;
        TensorList* lists[] = {&moved.weights, &moved.biases};
        const size_t n = f.weights.size();
        Tensor& p = (*lists[i < n ? 0 : 1])[i < n ? i : i - n];
        p = p.detach().clone();
        p.view({-1}).select(0, j).add_(delta);
        return loss_of(moved).item<double>();
      };
      const double numeric = (loss_at(step) - loss_at(-step)) / (2 * step);
      const double analytic = grads[i].defined() ? grads[i].reshape({-1}).select(0, j).item<double>() : 0.0;
      EXPECT_NEAR(analytic, numeric, 1e-6 * (1 + std::abs(numeric)))
          << "parameter " << i << " element " << j;
    }
}

TEST(Laplacian, NestsInsideGradJacrevJvpBatchJacobianAndItself) {
  manual_seed(14);
  TinyMlp f;
  Tensor x = randn({3, 3}, kFloat64);
  auto total = [&](const Tensor& z) { return func::laplacian(f, z).sum(); };
  Tensor g = func::grad(total)(x);
  Tensor v = randn({3, 3}, kFloat64);
  auto [value, tangent] = func::jvp([&](const Tensor& z) { return func::laplacian(f, z); }, x, v);
  const double step = 1e-6;
  for (int64_t j = 0; j < x.numel(); ++j) {
    Tensor e = zeros({x.numel()}, kFloat64);
    e.select(0, j).fill_(step);
    e = e.view(x.sizes());
    const double numeric = (total(x + e).item<double>() - total(x - e).item<double>()) / (2 * step);
    EXPECT_NEAR(g.reshape({-1}).select(0, j).item<double>(), numeric, 1e-6 * (1 + std::abs(numeric))) << j;
  }
  // jacrev (reverse) and batch_jacobian (batched tangents at an outer level) of the Laplacian.
  auto per_row = [&](const Tensor& z) { return func::laplacian(f, z); };
  Tensor full_jacobian = func::jacrev(per_row)(x);  // [3, 2, 3, 3]
  EXPECT_TRUE(allclose(full_jacobian.sum({0, 1}), g, 1e-12, 1e-12));
  Tensor rows = func::batch_jacobian(per_row, x);  // [3, 2, 3]
  for (int64_t b = 0; b < 3; ++b)
    EXPECT_TRUE(allclose(rows.select(0, b), full_jacobian.select(0, b).select(1, b), 1e-12, 1e-12)) << b;
  Tensor numeric_tangent = (func::laplacian(f, x + v * step) - func::laplacian(f, x - v * step)) / (2 * step);
  EXPECT_TRUE(allclose(tangent, numeric_tangent, 1e-6, 1e-6));
  // Under jvp's level the rules run as differentiable ops; alone, tanh's fused rule runs, which
  // may round differently (contracted multiply-adds) by an ulp or so.
  EXPECT_TRUE(allclose(value, func::laplacian(f, x), 1e-14, 1e-14));
  // The Laplacian of the Laplacian, the biharmonic: for sum_k x_k^4 + x_0^2 x_1^2 over 3 dims it
  // is 24 * 3 + 8 = 80 everywhere.
  auto quartic = [](const Tensor& z) {
    return z.pow(4).sum({1}, true) + (z.select(1, 0) * z.select(1, 1)).pow(2).unsqueeze(1);
  };
  Tensor biharmonic = func::laplacian([&](const Tensor& z) { return func::laplacian(quartic, z); }, x);
  EXPECT_TRUE(allclose(biharmonic, full({3, 1}, 80.0, kFloat64), 1e-12, 1e-12)) << biharmonic;
}

TEST(Laplacian, Errors) {
  // Coupled rows, with the check asked for.
  auto coupled = [](const Tensor& x) { return x * x.sum(0); };
  try {
    func::laplacian(coupled, randn({3, 2}, kFloat64), {.check_independence = true});
    ADD_FAILURE() << "coupled rows were not caught";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("laplacian: row"), std::string::npos) << e.what();
  }
  // Tangents of one's own inside f need a level of their own, not laplacian's.
  auto own_tangent = [](const Tensor& x) { return forward_ad::make_dual(x, ones_like(x)) * 2.0; };
  try {
    func::laplacian(own_tangent, randn({3, 2}, kFloat64));
    ADD_FAILURE() << "make_dual at laplacian's level was allowed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("func::laplacian"), std::string::npos) << e.what();
  }
  EXPECT_THROW(func::laplacian([](const Tensor& x) { return x.sum(); }, ones({3, 2}, kFloat64)), Error);
  EXPECT_THROW(func::laplacian([](const Tensor& x) { return x; }, ones({3, 2}, kInt64)), Error);
}

TEST(Transforms, GradAndValue) {
  auto f = [](const Tensor& x) { return (x * x).sum(); };
  auto [g, value] = func::grad_and_value(f)(tensor({1.0, 2.0}, kFloat64));
  EXPECT_EQ(g.to_vector<double>(), std::vector<double>({2, 4}));
  EXPECT_EQ(value.item<double>(), 5.0);
  TensorList gs = func::grad([](const TensorList& in) { return TensorList{(in[0] * in[1]).sum()}; }, {1})(
      {tensor({1.0, 2.0}, kFloat64), tensor({3.0, 4.0}, kFloat64)});
  EXPECT_EQ(gs[0].to_vector<double>(), std::vector<double>({1, 2}));
}

TEST(Transforms, GradOfGradIsTheSecondDerivative) {
  auto f = [](const Tensor& x) { return x.pow(3).sum(); };
  auto second = func::grad([f](const Tensor& x) { return func::grad(f)(x).sum(); });
  EXPECT_EQ(second(tensor({2.0}, kFloat64)).item<double>(), 12.0);
}

TEST(Transforms, LinearizeMatchesJvp) {
  auto f = [](const Tensor& x) { return sin(x) * x; };
  Tensor x = tensor({0.5, 1.5}, kFloat64), t = tensor({1.0, -2.0}, kFloat64);
  auto [out, push] = func::linearize(f, x);
  EXPECT_TRUE(allclose(out, f(x)));
  EXPECT_TRUE(allclose(push(t), func::jvp(f, x, t).second, 1e-14, 0));
}

TEST(Transforms, JacobianPicksAModeAndAgreesWithBoth) {
  auto wide = [](const Tensor& x) { return cat({x.exp(), x.sin(), x * x}); };  // 2 -> 6: forward
  auto narrow = [](const Tensor& x) { return x.sum(std::vector<int64_t>{0}, true) * x.select(0, 0); };  // 3 -> 1
  Tensor a = tensor({0.3, 0.7}, kFloat64), b = tensor({0.1, 0.2, 0.3}, kFloat64);
  EXPECT_TRUE(allclose(func::jacobian(wide, a), func::jacrev(wide)(a), 1e-12, 0));
  EXPECT_TRUE(allclose(func::jacobian(narrow, b), func::jacfwd(narrow)(b), 1e-12, 0));
}

TEST(Transforms, Errors) {
  auto f = [](const Tensor& x) { return x * 2.0; };
  EXPECT_THROW(func::jvp(f, ones({2}), ones({3})), Error);
  EXPECT_THROW(func::grad(f)(ones({2})), Error);  // not scalar
  auto [out, pullback] = func::vjp(f, ones({2}));
  EXPECT_THROW(pullback(ones({3})), Error);
  EXPECT_THROW(func::jacrev(func::Function([](const TensorList& in) { return in; }), {ones({2})}, {1}), Error);
  EXPECT_THROW(func::jacrev(func::UnaryFunction(f), -1)(ones({2})), Error);
  EXPECT_THROW(func::batch_jacobian(f, tensor(1.0)), Error);  // no batch dim
  EXPECT_THROW(func::batch_jacobian([](const Tensor& x) { return x.sum(); }, ones({3, 2})), Error);
  func::BatchOptions negative_chunk;
  negative_chunk.chunk_size = -1;
  EXPECT_THROW(func::batch_jacobian(f, ones({3, 2}), negative_chunk), Error);
  try {
    func::jvp(f, ones({2}), ones({3}));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("jvp: tangent 0 has shape [3]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dydx

namespace dydx {
namespace {

TEST(Transforms, WrapTakesSeveralTensorsAndTuples) {
  // f(x, y) = (x * y, x + y): Jacobians with respect to both arguments, output-major.
  auto f = func::wrap<2>([](const Tensor& x, const Tensor& y) { return std::make_tuple(x * y, x + y); });
  Tensor x = tensor({1.0, 2.0}, kFloat64), y = tensor({3.0, 4.0}, kFloat64);
  TensorList j = func::jacrev(f, {0, 1})({x, y});
  ASSERT_EQ(j.size(), 4u);
  EXPECT_TRUE(allclose(j[0], tensor({{3.0, 0.0}, {0.0, 4.0}}, kFloat64)));  // d(xy)/dx
  EXPECT_TRUE(allclose(j[1], tensor({{1.0, 0.0}, {0.0, 2.0}}, kFloat64)));  // d(xy)/dy
  EXPECT_TRUE(allclose(j[2], eye(2, kFloat64)));                             // d(x+y)/dx
  TensorList forward = func::jacfwd(f, {0, 1}, /*chunk_size=*/1)({x, y});
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(allclose(forward[i], j[i], 1e-14, 0)) << i;
  EXPECT_THROW(f({x}), Error);
}

}  // namespace
}  // namespace dydx

namespace dydx {
namespace {

// torch.func: x * grad(lambda y: x * y)(1) = x^2, whose derivative at 3 is 6: the inner grad must
// stay differentiable with respect to the x it closes over.
TEST(Transforms, InnerGradStaysDifferentiableInTheTensorsItClosesOver) {
  Tensor y0 = tensor(1.0, kFloat64);
  auto outer = [&](const Tensor& x) { return x * func::grad([&](const Tensor& y) { return x * y; })(y0); };
  EXPECT_DOUBLE_EQ(func::grad(outer)(tensor(3.0, kFloat64)).item<double>(), 6.0);
  EXPECT_DOUBLE_EQ(func::jacfwd(outer)(tensor(3.0, kFloat64)).item<double>(), 6.0);
}

TEST(Transforms, WorkInsideNoGradGuard) {
  NoGradGuard no_grad;
  auto f = [](const Tensor& v) { return v.pow(2).sum(); };
  EXPECT_EQ(func::grad(f)(tensor({0.5, -1.0}, kFloat64)).to_vector<double>(), std::vector<double>({1, -2}));
  EXPECT_TRUE(allclose(func::jacrev([](const Tensor& v) { return v * 3.0; })(tensor({1.0, 2.0}, kFloat64)),
                       eye(2, kFloat64) * 3.0));
  auto rows = [](const Tensor& z) { return z.pow(2); };  // [B,3] -> [B,3], reverse mode is not chosen...
  auto narrow = [](const Tensor& z) { return z.pow(2).sum(std::vector<int64_t>{1}, true); };  // ...this is
  Tensor x = tensor({{1.0, 2.0, 3.0}}, kFloat64);
  EXPECT_TRUE(allclose(func::batch_jacobian(narrow, x), tensor({{{2.0, 4.0, 6.0}}}, kFloat64)));
  EXPECT_TRUE(allclose(func::batch_jacobian(rows, x).select(0, 0), tensor({{2.0, 0.0, 0.0}, {0.0, 4.0, 0.0}, {0.0, 0.0, 6.0}}, kFloat64)));
}

TEST(Transforms, HighRankResultsReduceCorrectly) {
  // batch_hessian of [1,2,3] -> [1,2] is [1,2,2,3,2,3]: rank 6; one more dim makes 7.
  Tensor big = arange(0, 128, 1, kFloat64).reshape({2, 2, 2, 2, 2, 2, 2});
  EXPECT_EQ(big.sum().dim(), 0);
  EXPECT_EQ(big.sum().item<double>(), 127.0 * 128.0 / 2.0);
  EXPECT_EQ(std::get<0>(big.max(0)).sizes().vec(), std::vector<int64_t>({2, 2, 2, 2, 2, 2}));
}

}  // namespace
}  // namespace dydx
