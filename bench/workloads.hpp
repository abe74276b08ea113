// Sizes and registration shared by bench_dydx and bench_libtorch, so both time exactly the same workloads.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

// Every benchmark uses wall time (UseRealTime): OpenBLAS worker threads are invisible to the main thread's CPU timer.
namespace bench {

// Ops in ((a*b+a).sin()*b).sum(): mul, add, sin, mul, sum.
inline constexpr int64_t kPerOpOps = 5;
inline constexpr int64_t kMatmulN = 1024;
inline constexpr int64_t kChainNumel = int64_t{1} << 24;
inline constexpr int64_t kChainOps = 10;
// Logical bytes the chain moves per element: 7 unary ops read 4 B and write 4 B, 3 binary ops read 8 B and write 4 B.
inline constexpr int64_t kChainBytesPerElement = 7 * 8 + 3 * 12;

// Cost per item (op, column) in seconds: the iteration time divided by the item count (Google Benchmark inverts the rate).
inline benchmark::Counter per_item(double items_per_iteration) {
  return benchmark::Counter(items_per_iteration,
                            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

inline void seed_small_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "n"})->Args({2, 2})->Args({1000, 16})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

// The largest seed shape takes a large fraction of a second per iteration, so it gets a fixed small count
// to keep the whole comparison within a few minutes on two cores.
inline constexpr int64_t kSeedLargeIterations = 3;
inline void seed_large_shape(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "n"})->Args({100000, 64})->Iterations(kSeedLargeIterations);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace bench
