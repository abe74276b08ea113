// Row-wise ops of a classifier's last layer and an embedding lookup, on dydx's default threads:
// index_select of rows (an embedding-like table, and half the rows of [10^4, 64]) and cross_entropy with
// class targets on [10^4, 64] logits, forward and forward + backward. `build-bench/bench/bench_rows`;
// BENCHMARKS.md compares builds through LD_LIBRARY_PATH.
#include <dydx/dydx.hpp>

#include <benchmark/benchmark.h>

namespace {

using dydx::Tensor;

void index_select_rows(benchmark::State& state) {
  dydx::manual_seed(0);
  const Tensor x = dydx::randn({10000, 64}), picks = dydx::randint(0, 10000, {5000});
  for (auto _ : state) benchmark::DoNotOptimize(x.index_select(0, picks).data_ptr<float>());
}

void embedding_lookup(benchmark::State& state) {
  dydx::manual_seed(0);
  const Tensor table = dydx::randn({50000, 128}), tokens = dydx::randint(0, 50000, {4096});
  for (auto _ : state) benchmark::DoNotOptimize(table.index_select(0, tokens).data_ptr<float>());
}

void cross_entropy_forward(benchmark::State& state) {
  dydx::manual_seed(0);
  const Tensor logits = dydx::randn({10000, 64}), targets = dydx::randint(0, 64, {10000});
  dydx::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(dydx::nn::functional::cross_entropy(logits, targets).data_ptr<float>());
}

void cross_entropy_backward(benchmark::State& state) {
  dydx::manual_seed(0);
  const Tensor logits = dydx::randn({10000, 64}).requires_grad_(true), targets = dydx::randint(0, 64, {10000});
  for (auto _ : state) {
    dydx::nn::functional::cross_entropy(logits, targets).backward();
    benchmark::DoNotOptimize(logits.grad().data_ptr<float>());
  }
}

BENCHMARK(index_select_rows)->Unit(benchmark::kMicrosecond);
BENCHMARK(embedding_lookup)->Unit(benchmark::kMicrosecond);
BENCHMARK(cross_entropy_forward)->Unit(benchmark::kMicrosecond);
BENCHMARK(cross_entropy_backward)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
