// Google Benchmark timings of the elementwise activations through the library, one thread, on the MLP
// benchmark's hidden-layer size ([10^4, 64], in L2) and on 2^22 elements (in memory): tanh,
// sigmoid, exp, silu, elu, leaky_relu, clamp, softplus, gelu (both forms), log1p, expm1, erf, atan2, hypot, fmod and
// remainder in float32 and float64. Items per second are elements.
//
// Run: ninja -C build-bench bench_activations && DYDX_NUM_THREADS=1 build-bench/bench/bench_activations --benchmark_min_time=0.2
#include <dydx/dydx.hpp>

#include <benchmark/benchmark.h>

using namespace dydx;

namespace {

using Activation = Tensor (*)(const Tensor&);

// positive: inputs in log1p's domain.
template <Activation f, bool positive = false>
void BM_Activation(benchmark::State& state) {
  NoGradGuard no_grad;
  manual_seed(0);
  // Pre-activations of a tanh MLP's hidden layers mostly lie within a few units of 0.
  Tensor x = randn({state.range(0)}, state.range(1) == 32 ? kFloat32 : kFloat64) * 2.0;
  if (positive) x = x.abs();
  for (auto _ : state) {
    Tensor y = f(x);
    benchmark::DoNotOptimize(y.impl().get());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// f(y, x) of two such tensors: atan2 (an angle from two coordinates), hypot, fmod, remainder.
using Binary = Tensor (*)(const Tensor&, const Tensor&);
template <Binary f>
void BM_Binary(benchmark::State& state) {
  NoGradGuard no_grad;
  manual_seed(0);
  const ScalarType dtype = state.range(1) == 32 ? kFloat32 : kFloat64;
  Tensor y = randn({state.range(0)}, dtype) * 2.0, x = randn({state.range(0)}, dtype) * 2.0;
  for (auto _ : state) {
    Tensor out = f(y, x);
    benchmark::DoNotOptimize(out.impl().get());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t bits : {32, 64})
    for (int64_t n : {int64_t{640000}, int64_t{1} << 22}) b->Args({n, bits});
  b->ArgNames({"n", "bits"});
}

Tensor tanh_op(const Tensor& x) { return tanh(x); }
Tensor sigmoid_op(const Tensor& x) { return sigmoid(x); }
Tensor exp_op(const Tensor& x) { return exp(x); }
Tensor silu_op(const Tensor& x) { return silu(x); }
Tensor elu_op(const Tensor& x) { return elu(x); }
Tensor leaky_relu_op(const Tensor& x) { return leaky_relu(x); }
Tensor clamp_op(const Tensor& x) { return clamp(x, -1.0, 1.0); }
Tensor softplus_op(const Tensor& x) { return softplus(x); }
Tensor gelu_op(const Tensor& x) { return gelu(x); }
Tensor gelu_tanh_op(const Tensor& x) { return gelu(x, "tanh"); }
Tensor log1p_op(const Tensor& x) { return log1p(x); }
Tensor expm1_op(const Tensor& x) { return expm1(x); }
Tensor erf_op(const Tensor& x) { return erf(x); }
Tensor atan2_op(const Tensor& y, const Tensor& x) { return atan2(y, x); }
Tensor hypot_op(const Tensor& y, const Tensor& x) { return hypot(y, x); }
Tensor fmod_op(const Tensor& y, const Tensor& x) { return fmod(y, x); }
Tensor remainder_op(const Tensor& y, const Tensor& x) { return remainder(y, x); }

BENCHMARK(BM_Activation<tanh_op>)->Name("tanh")->Apply(sizes);
BENCHMARK(BM_Activation<sigmoid_op>)->Name("sigmoid")->Apply(sizes);
BENCHMARK(BM_Activation<exp_op>)->Name("exp")->Apply(sizes);
BENCHMARK(BM_Activation<silu_op>)->Name("silu")->Apply(sizes);
BENCHMARK(BM_Activation<elu_op>)->Name("elu")->Apply(sizes);
BENCHMARK(BM_Activation<leaky_relu_op>)->Name("leaky_relu")->Apply(sizes);
BENCHMARK(BM_Activation<clamp_op>)->Name("clamp")->Apply(sizes);
BENCHMARK(BM_Activation<softplus_op>)->Name("softplus")->Apply(sizes);
BENCHMARK(BM_Activation<gelu_op>)->Name("gelu")->Apply(sizes);
BENCHMARK(BM_Activation<gelu_tanh_op>)->Name("gelu_tanh")->Apply(sizes);
BENCHMARK(BM_Activation<log1p_op, true>)->Name("log1p")->Apply(sizes);
BENCHMARK(BM_Activation<expm1_op>)->Name("expm1")->Apply(sizes);
BENCHMARK(BM_Activation<erf_op>)->Name("erf")->Apply(sizes);
BENCHMARK(BM_Binary<atan2_op>)->Name("atan2")->Apply(sizes);
BENCHMARK(BM_Binary<hypot_op>)->Name("hypot")->Apply(sizes);
BENCHMARK(BM_Binary<fmod_op>)->Name("fmod")->Apply(sizes);
BENCHMARK(BM_Binary<remainder_op>)->Name("remainder")->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
