// The per-op workload, ((a*b+a).sin()*b).sum() forward and backward on one-element tensors, run a
// fixed number of times: for instruction counts, which need the same work in every run
// (valgrind --tool=callgrind bench/perop_loop 20000; see BENCHMARKS.md).
#include <dydx/dydx.hpp>

#include <cstdlib>

int main(int argc, char** argv) {
  using namespace dydx;
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
  Tensor a = tensor({1.5}).requires_grad_(true), b = tensor({0.5}).requires_grad_(true);
  for (long i = 0; i < iterations; ++i) {
    a.set_grad(Tensor());
    b.set_grad(Tensor());
    ((a * b + a).sin() * b).sum().backward();
  }
  return 0;
}
