// Reductions of a [4096, 4096] float32 matrix (64 MiB, read once): sum, max and min over each dim and over
// everything, the 1- and 2-norms, and softmax, log_softmax and logsumexp along rows, on dydx's default
// threads. `build-bench/bench/bench_reductions`; BENCHMARKS.md compares
// builds through LD_LIBRARY_PATH.
#include <dydx/dydx.hpp>

#include <benchmark/benchmark.h>

#include <functional>

namespace {

using dydx::Tensor;

const Tensor& matrix() {
  static const Tensor x = dydx::randn({4096, 4096});
  return x;
}

void run(benchmark::State& state, const std::function<Tensor(const Tensor&)>& f) {
  const Tensor& x = matrix();
  for (auto _ : state) benchmark::DoNotOptimize(f(x).data_ptr<float>());
  state.SetBytesProcessed(state.iterations() * x.numel() * static_cast<int64_t>(sizeof(float)));
}

void sum_dim0(benchmark::State& s) { run(s, [](const Tensor& x) { return x.sum({0}); }); }
void sum_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return x.sum({1}); }); }
void sum_all(benchmark::State& s) { run(s, [](const Tensor& x) { return x.sum(); }); }
void max_dim0(benchmark::State& s) { run(s, [](const Tensor& x) { return std::get<0>(x.max(0)); }); }
void max_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return std::get<0>(x.max(1)); }); }
void max_all(benchmark::State& s) { run(s, [](const Tensor& x) { return x.max(); }); }
void min_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return std::get<0>(x.min(1)); }); }
void norm_all(benchmark::State& s) { run(s, [](const Tensor& x) { return x.norm(); }); }
void norm_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return x.norm(2, {1}); }); }
void norm1_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return x.norm(1, {1}); }); }
void softmax_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return dydx::softmax(x, 1); }); }
void log_softmax_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return dydx::log_softmax(x, 1); }); }
void logsumexp_dim1(benchmark::State& s) { run(s, [](const Tensor& x) { return dydx::logsumexp(x, {1}); }); }

BENCHMARK(sum_dim0)->Unit(benchmark::kMillisecond);
BENCHMARK(sum_dim1)->Unit(benchmark::kMillisecond);
BENCHMARK(sum_all)->Unit(benchmark::kMillisecond);
BENCHMARK(max_dim0)->Unit(benchmark::kMillisecond);
BENCHMARK(max_dim1)->Unit(benchmark::kMillisecond);
BENCHMARK(max_all)->Unit(benchmark::kMillisecond);
BENCHMARK(min_dim1)->Unit(benchmark::kMillisecond);
BENCHMARK(norm_all)->Unit(benchmark::kMillisecond);
BENCHMARK(norm_dim1)->Unit(benchmark::kMillisecond);
BENCHMARK(norm1_dim1)->Unit(benchmark::kMillisecond);
BENCHMARK(softmax_dim1)->Unit(benchmark::kMillisecond);
BENCHMARK(log_softmax_dim1)->Unit(benchmark::kMillisecond);
BENCHMARK(logsumexp_dim1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
