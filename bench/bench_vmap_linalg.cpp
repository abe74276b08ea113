// Google Benchmark timings of vmap's product and convolution rules against the same work written on
// the batch by hand (the floor: one gemm, one convolution) and, for batched weights, against a loop
// of one call per sample. Same run, interleaved (--benchmark_repetitions), ratios quoted in BENCHMARKS.md.
#include <benchmark/benchmark.h>
#include <dydx/dydx.hpp>

namespace {

using namespace dydx;
using func::Function;

constexpr int64_t kWidth = 64;  // an MLP layer 64 -> 64

// B samples [64] through one shared layer: vmap (the batch folded into the rows of one gemm) ...
void BM_LinearVmap(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, kWidth}), w = randn({kWidth, kWidth}), bias = randn({kWidth});
  const Function f = [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2])}; };
  const Function mapped = func::vmap(f, {0, std::nullopt, std::nullopt});
  for (auto _ : state) benchmark::DoNotOptimize(mapped({x, w, bias})[0]);
}
// ... against linear on the batch itself.
void BM_LinearBatch(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, kWidth}), w = randn({kWidth, kWidth}), bias = randn({kWidth});
  for (auto _ : state) benchmark::DoNotOptimize(linear(x, w, bias));
}
// The shared layer's weight and bias given as expanded (stride 0) batches, as per-sample gradients
// see them: a bmm reading the one weight for every sample, no copy of it.
void BM_LinearVmapExpandedWeight(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, kWidth}), w = randn({kWidth, kWidth}).unsqueeze(0).expand({b, kWidth, kWidth});
  Tensor bias = randn({kWidth}).unsqueeze(0).expand({b, kWidth});
  const Function f = [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2])}; };
  const Function mapped = func::vmap(f, {0, 0, 0});
  for (auto _ : state) benchmark::DoNotOptimize(mapped({x, w, bias})[0]);
}
// The same with the weights copied per sample (what materialising the expanded batch would cost).
void BM_LinearVmapCopiedWeight(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, kWidth}), w = randn({kWidth, kWidth}).unsqueeze(0).expand({b, kWidth, kWidth});
  Tensor bias = randn({kWidth}).unsqueeze(0).expand({b, kWidth});
  const Function f = [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2])}; };
  const Function mapped = func::vmap(f, {0, 0, 0});
  for (auto _ : state) benchmark::DoNotOptimize(mapped({x, w.contiguous(), bias.contiguous()})[0]);
}

// B images [3, 32, 32] through one shared 3x3 convolution to 16 channels: vmap (B images as one
// convolution's N) against conv2d on the batch.
void BM_ConvVmap(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, 3, 32, 32}), w = randn({16, 3, 3, 3}), bias = randn({16});
  const Function f = [](const TensorList& in) { return TensorList{conv2d(in[0], in[1], in[2], 1, 1)}; };
  const Function mapped = func::vmap(f, {0, std::nullopt, std::nullopt});
  for (auto _ : state) benchmark::DoNotOptimize(mapped({x, w, bias})[0]);
}
void BM_ConvBatch(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, 3, 32, 32}), w = randn({16, 3, 3, 3}), bias = randn({16});
  for (auto _ : state) benchmark::DoNotOptimize(conv2d(x, w, bias, 1, 1));
}
// A weight per sample: one grouped convolution (functorch's trick) against one conv2d per sample.
void BM_ConvVmapBatchedWeight(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, 3, 32, 32}), w = randn({b, 16, 3, 3, 3}), bias = randn({b, 16});
  const Function f = [](const TensorList& in) { return TensorList{conv2d(in[0], in[1], in[2], 1, 1)}; };
  const Function mapped = func::vmap(f, {0, 0, 0});
  for (auto _ : state) benchmark::DoNotOptimize(mapped({x, w, bias})[0]);
}
void BM_ConvLoopBatchedWeight(benchmark::State& state) {
  const int64_t b = state.range(0);
  Tensor x = randn({b, 3, 32, 32}), w = randn({b, 16, 3, 3, 3}), bias = randn({b, 16});
  for (auto _ : state) {
    TensorList outs;
    for (int64_t i = 0; i < b; ++i) outs.push_back(conv2d(x[i], w[i], bias[i], 1, 1));
    benchmark::DoNotOptimize(stack(outs, 0));
  }
}

BENCHMARK(BM_LinearVmap)->Arg(256)->Arg(4096);
BENCHMARK(BM_LinearBatch)->Arg(256)->Arg(4096);
BENCHMARK(BM_LinearVmapExpandedWeight)->Arg(256)->Arg(4096);
BENCHMARK(BM_LinearVmapCopiedWeight)->Arg(256)->Arg(4096);
BENCHMARK(BM_ConvVmap)->Arg(64);
BENCHMARK(BM_ConvBatch)->Arg(64);
BENCHMARK(BM_ConvVmapBatchedWeight)->Arg(64);
BENCHMARK(BM_ConvLoopBatchedWeight)->Arg(64);

}  // namespace

BENCHMARK_MAIN();
