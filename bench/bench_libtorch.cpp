// Google Benchmark timings of libtorch on the workloads in workloads.hpp, line for line as in bench_dydx.cpp.
#include <torch/torch.h>

#include <benchmark/benchmark.h>

#include "workloads.hpp"

using torch::indexing::Slice;

namespace {

void BM_PerOpOverhead(benchmark::State& state) {
  torch::Tensor a = torch::tensor({1.5f});
  torch::Tensor b = torch::tensor({0.5f});
  a.requires_grad_(true);
  b.requires_grad_(true);
  for (auto _ : state) {
    a.mutable_grad().reset();
    b.mutable_grad().reset();
    torch::Tensor loss = ((a * b + a).sin() * b).sum();
    loss.backward();
    benchmark::DoNotOptimize(a.grad().data_ptr());
  }
  state.counters["per_op"] = bench::per_item(bench::kPerOpOps);
}
BENCHMARK(BM_PerOpOverhead)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_SeedMethod1(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1);
  torch::manual_seed(0);
  torch::Tensor X = torch::randn({m, 1});
  X.requires_grad_(true);
  torch::Tensor W = torch::randn({1, n});
  for (auto _ : state) {
    torch::Tensor y = torch::matmul(X.pow(3), W);
    std::vector<torch::Tensor> columns;
    columns.reserve(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j)
      columns.push_back(torch::autograd::grad({y.index({Slice(), j})}, {X}, {torch::ones({m})}, c10::nullopt,
                                              /*create_graph=*/true)[0]);
    benchmark::DoNotOptimize(columns.back().data_ptr());
  }
  state.counters["per_column"] = bench::per_item(static_cast<double>(n));
}
BENCHMARK(BM_SeedMethod1)->Apply(bench::seed_small_shapes);
BENCHMARK(BM_SeedMethod1)->Apply(bench::seed_large_shape);

void BM_Matmul(benchmark::State& state) {
  const int64_t N = bench::kMatmulN;
  torch::manual_seed(0);
  torch::Tensor A = torch::randn({N, N});
  torch::Tensor B = torch::randn({N, N});
  for (auto _ : state) {
    torch::Tensor C = torch::matmul(A, B);
    benchmark::DoNotOptimize(C.data_ptr());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * N * N * N, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Matmul)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ElementwiseChain(benchmark::State& state) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  torch::Tensor x = torch::rand({bench::kChainNumel});
  for (auto _ : state) {
    torch::Tensor t = x.exp();
    t = t.sin();
    t = t * x;
    t = t + x;
    t = t.tanh();
    t = t.sigmoid();
    t = t.cos();
    t = t - x;
    t = t.abs();
    t = t.sqrt();
    benchmark::DoNotOptimize(t.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * bench::kChainNumel * bench::kChainBytesPerElement);
  state.counters["per_op"] = bench::per_item(bench::kChainOps);
}
BENCHMARK(BM_ElementwiseChain)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

// Reports libtorch's thread setting with the results, since its defaults differ from dydx's single thread.
int main(int argc, char** argv) {
  benchmark::AddCustomContext("torch_num_threads", std::to_string(torch::get_num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
