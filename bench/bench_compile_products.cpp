// func::compile of a layer, relu(linear(x, W, b)), against the layer eager: a product whose epilogue a compiled
// pass may fuse (a small W, many rows) and one it leaves whole (W of 800 KB over four blocks of rows).
// `build-bench/bench/bench_compile_products`; BENCHMARKS.md compares builds through LD_LIBRARY_PATH.
#include <dydx/dydx.hpp>

#include <benchmark/benchmark.h>

namespace {

using dydx::Tensor;

void layer(benchmark::State& state, bool compiled) {
  dydx::manual_seed(0);
  const int64_t rows = state.range(0), k = state.range(1), m = state.range(2);
  const Tensor x = dydx::randn({rows, k}), W = dydx::randn({m, k}) * 0.03, b = dydx::randn({m});
  dydx::NoGradGuard no_grad;
  auto f = [&](const Tensor& in) { return dydx::relu(dydx::linear(in, W, b)); };
  const dydx::func::Compiled c = dydx::func::compile(f);
  for (auto _ : state) benchmark::DoNotOptimize((compiled ? c(x) : f(x)).data_ptr<float>());
  state.counters["fused_products"] = static_cast<double>(c.stats().fused_products);
}

void eager(benchmark::State& state) { layer(state, false); }
void compiled(benchmark::State& state) { layer(state, true); }

}  // namespace

BENCHMARK(eager)->Args({128, 784, 256})->Args({10000, 64, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK(compiled)->Args({128, 784, 256})->Args({10000, 64, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
