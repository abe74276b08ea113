// Google Benchmark timings of dydx on the workloads in workloads.hpp (mirrored by bench_libtorch.cpp).
#include <dydx/dydx.hpp>

#include <benchmark/benchmark.h>

#include "workloads.hpp"

using namespace dydx;
using dydx::indexing::Slice;

namespace {

// Five tiny ops forward and backward: the time is almost all framework overhead, not arithmetic.
void BM_PerOpOverhead(benchmark::State& state) {
  Tensor a = tensor({1.5});
  Tensor b = tensor({0.5});
  a.requires_grad_(true);
  b.requires_grad_(true);
  for (auto _ : state) {
    // Dropping the old grads (as zero_grad(set_to_none=True)) keeps every iteration identical.
    a.set_grad(Tensor());
    b.set_grad(Tensor());
    Tensor loss = ((a * b + a).sin() * b).sum();
    loss.backward();
    benchmark::DoNotOptimize(a.grad().impl().get());
  }
  state.counters["per_op"] = bench::per_item(bench::kPerOpOps);
}
BENCHMARK(BM_PerOpOverhead)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The seed document's method 1: one create_graph grad per output column of y = X^3 W, forward included.
void BM_SeedMethod1(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1);
  manual_seed(0);
  Tensor X = randn({m, 1});
  X.requires_grad_(true);
  Tensor W = randn({1, n});
  for (auto _ : state) {
    Tensor y = matmul(X.pow(3), W);
    TensorList columns;
    columns.reserve(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j)
      columns.push_back(grad({y.index({Slice(), j})}, {X}, {ones({m})}, std::nullopt, /*create_graph=*/true)[0]);
    benchmark::DoNotOptimize(columns.back().impl().get());
  }
  state.counters["per_column"] = bench::per_item(static_cast<double>(n));
}
BENCHMARK(BM_SeedMethod1)->Apply(bench::seed_small_shapes);
BENCHMARK(BM_SeedMethod1)->Apply(bench::seed_large_shape);

void BM_Matmul(benchmark::State& state) {
  const int64_t N = bench::kMatmulN;
  manual_seed(0);
  Tensor A = randn({N, N});
  Tensor B = randn({N, N});
  for (auto _ : state) {
    Tensor C = matmul(A, B);
    benchmark::DoNotOptimize(C.data_ptr<float>());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * N * N * N, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Matmul)->Unit(benchmark::kMillisecond)->UseRealTime();

// Bandwidth-bound elementwise ops: allocation, loop and transcendental costs at scale.
void BM_ElementwiseChain(benchmark::State& state) {
  NoGradGuard no_grad;
  manual_seed(0);
  Tensor x = rand({bench::kChainNumel});
  for (auto _ : state) {
    Tensor t = x.exp();
    t = t.sin();
    t = t * x;
    t = t + x;
    t = t.tanh();
    t = t.sigmoid();
    t = t.cos();
    t = t - x;
    t = t.abs();
    t = t.sqrt();
    benchmark::DoNotOptimize(t.data_ptr<float>());
  }
  state.SetBytesProcessed(state.iterations() * bench::kChainNumel * bench::kChainBytesPerElement);
  state.counters["per_op"] = bench::per_item(bench::kChainOps);
}
BENCHMARK(BM_ElementwiseChain)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
