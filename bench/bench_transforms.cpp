// Google Benchmark timings of the per-sample derivative transforms against the PyTorch-style ways.
//
// The seed workload y = (x^3) W, x [m,1], W [1,n], three ways: the seed's loop of one grad per
// output column, the seed's "expand" trick (x widened to [m,n], an elementwise product, one grad),
// and batch_jacobian. And the per-sample MLP of physics-informed networks, 2 -> 64 -> 64 -> 64 -> 3
// with tanh: its forward pass, its batch_jacobian and its Laplacian.
#include <dydx/dydx.hpp>

#include <benchmark/benchmark.h>

#include <cmath>

using namespace dydx;
using dydx::indexing::Slice;

namespace {

Tensor seed_x(int64_t m) {
  manual_seed(0);
  return randn({m, 1});
}
Tensor seed_w(int64_t n) {
  manual_seed(1);
  return randn({1, n});
}

void BM_SeedGradLoop(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1);
  Tensor W = seed_w(n);
  // x is drawn once, outside the timed loop, for every method: drawing 10^5 normals took about 1.6 ms,
  // more than batch_jacobian itself. grad() leaves X.grad alone, so the leaf can be reused.
  Tensor X = seed_x(m).requires_grad_(true);
  for (auto _ : state) {
    Tensor y = matmul(X.pow(3), W);
    TensorList columns;
    for (int64_t j = 0; j < n; ++j)
      columns.push_back(grad({y.index({Slice(), j})}, {X}, {ones({m})}, std::nullopt, /*create_graph=*/true)[0]);
    Tensor J = cat(columns, 1);
    benchmark::DoNotOptimize(J.data_ptr<float>());
  }
}

void BM_SeedExpandTrick(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1);
  Tensor W = seed_w(n);
  Tensor x = seed_x(m);
  for (auto _ : state) {
    Tensor X = x.expand({m, n}).contiguous().requires_grad_(true);
    Tensor y = X.pow(3) * W;
    Tensor J = grad({y}, {X}, {ones_like(y)}, std::nullopt, /*create_graph=*/true)[0];
    benchmark::DoNotOptimize(J.data_ptr<float>());
  }
}

void BM_SeedBatchJacobian(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1);
  Tensor W = seed_w(n);
  auto f = [&](const Tensor& x) { return matmul(x.pow(3), W); };
  Tensor x = seed_x(m);
  for (auto _ : state) {
    Tensor J = func::batch_jacobian(f, x);
    benchmark::DoNotOptimize(J.data_ptr<float>());
  }
}

void seed_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "n"})->Unit(benchmark::kMillisecond)->UseRealTime();
  b->Args({1000, 16})->Args({100000, 64});
}
void seed_huge(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "n"})->Unit(benchmark::kMillisecond)->UseRealTime()->Args({1000000, 64})->Iterations(2);
}

BENCHMARK(BM_SeedGradLoop)->Apply(seed_shapes);
BENCHMARK(BM_SeedGradLoop)->Apply(seed_huge);
BENCHMARK(BM_SeedExpandTrick)->Apply(seed_shapes);
BENCHMARK(BM_SeedExpandTrick)->Apply(seed_huge);
BENCHMARK(BM_SeedBatchJacobian)->Apply(seed_shapes);
BENCHMARK(BM_SeedBatchJacobian)->Apply(seed_huge);

struct Mlp {
  TensorList weights, biases;
  Mlp() {
    manual_seed(2);
    const int64_t sizes[] = {2, 64, 64, 64, 3};
    for (int i = 0; i < 4; ++i) {
      weights.push_back(randn({sizes[i], sizes[i + 1]}) * (1.0 / std::sqrt(static_cast<double>(sizes[i]))));
      biases.push_back(zeros({sizes[i + 1]}));
    }
  }
  Tensor operator()(const Tensor& x) const {
    Tensor h = x;
    for (int i = 0; i < 4; ++i) {
      h = linear(h, weights[i].t(), biases[i]);
      if (i < 3) h = tanh(h);
    }
    return h;
  }
};

void mlp_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B"})->Unit(benchmark::kMillisecond)->UseRealTime()->Arg(10000)->Arg(100000);
}

// Times transform(f, x) for the MLP f and a batch x of state.range(0) samples.
template <class Transform>
void time_mlp(benchmark::State& state, Transform transform) {
  Mlp f;
  manual_seed(3);
  Tensor x = randn({state.range(0), 2});
  for (auto _ : state) {
    Tensor result = transform(f, x);
    benchmark::DoNotOptimize(result.data_ptr<float>());
  }
}

void BM_MlpForward(benchmark::State& state) {
  time_mlp(state, [](const Mlp& f, const Tensor& x) {
    NoGradGuard no_grad;
    return f(x);
  });
}
BENCHMARK(BM_MlpForward)->Apply(mlp_sizes);

void BM_MlpBatchJacobian(benchmark::State& state) {
  time_mlp(state, [](const Mlp& f, const Tensor& x) { return func::batch_jacobian(f, x); });
}
BENCHMARK(BM_MlpBatchJacobian)->Apply(mlp_sizes);

void BM_MlpLaplacian(benchmark::State& state) {
  time_mlp(state, [](const Mlp& f, const Tensor& x) { return func::laplacian(f, x); });
}
BENCHMARK(BM_MlpLaplacian)->Apply(mlp_sizes);

// What laplacian cost before the forward Laplacian: one nested pair of dual levels per input dim.
void BM_MlpHessianDiagonal(benchmark::State& state) {
  time_mlp(state, [](const Mlp& f, const Tensor& x) { return func::batch_hessian_diagonal(f, x).sum({-1}); });
}
BENCHMARK(BM_MlpHessianDiagonal)->Apply(mlp_sizes);

}  // namespace

BENCHMARK_MAIN();
