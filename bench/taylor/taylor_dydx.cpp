// Within dydx: the Taylor operators against nested AD on the collapsed-Taylor paper's MLP (tanh D -> 768 -> 768
// -> 512 -> 512 -> 1, float32, random weights), per row of x [64, D], in time (best of 5, 2 for the slow ones) and
// in peak tensor memory; the estimators too. bench/compare's taylor family times the same operators against
// functorch and JAX side by side. Usage: taylor_dydx [profile]
#include <dydx/dydx.hpp>
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <string>
using namespace dydx;
struct Mlp {
  TensorList w, b;
  explicit Mlp(int64_t d) {
    manual_seed(0);
    const int64_t sizes[] = {d, 768, 768, 512, 512, 1};
    for (int l = 0; l < 5; ++l) { w.push_back(randn({sizes[l + 1], sizes[l]}) / std::sqrt(double(sizes[l]))); b.push_back(zeros({sizes[l + 1]})); }
  }
  Tensor operator()(const Tensor& x) const { Tensor h = x; for (int l = 0; l < 5; ++l) { h = linear(h, w[l], b[l]); if (l < 4) h = tanh(h); } return h; }
};
// Peak tensor memory of one call beyond what was live before it, in MiB.
template <class F> double peak_mib(F f) { reset_peak_memory(); const int64_t before = memory_stats().live_bytes; f(); return double(memory_stats().peak_bytes - before) / (1 << 20); }
template <class F> double ms(F f, int reps = 5) { f(); double best = 1e9; for (int r = 0; r < reps; ++r) { auto t0 = std::chrono::steady_clock::now(); f(); best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()); } return best * 1e3; }
int main(int argc, char** argv) {
  const int64_t B = 64;
  // `taylor_dydx profile`: only the Laplacian at D = 50, 60 calls, for perf.
  if (argc > 1 && std::string(argv[1]) == "profile") {
    const Mlp f(50);
    const Tensor x = randn({B, 50});
    for (int i = 0; i < 60; ++i) func::laplacian(f, x);
    return 0;
  }
  { const Mlp f(50); const Tensor x = randn({B, 50});
    printf("laplacian D=50 B=%lld\n", (long long)B);
    printf("  forward Laplacian (func::laplacian)      %8.1f ms\n", ms([&] { func::laplacian(f, x); }));
    printf("  collapsed Taylor (weighted_laplacian I) %8.1f ms\n", ms([&] { func::weighted_laplacian(f, x, eye(50)); }));
    printf("  nested fwd (batch_hessian_diagonal sum) %8.1f ms\n", ms([&] { func::batch_hessian_diagonal(f, x).sum({-1}); }, 2));
    printf("  nested rev/fwd (trace of batch_hessian) %8.1f ms\n", ms([&] { func::batch_hessian(f, x); }, 2));
    printf("  peak memory: laplacian %.0f MiB, batch_hessian %.0f MiB\n", peak_mib([&] { func::laplacian(f, x); }),
           peak_mib([&] { func::batch_hessian(f, x); }));
    printf("  Hutchinson, 8 samples                   %8.1f ms\n", ms([&] { func::weighted_laplacian(f, x, eye(50), {}, {.samples = 8, .seed = 1}); }));
  }
  { const Mlp f(5); const Tensor x = randn({B, 5});
    printf("biharmonic D=5 B=%lld\n", (long long)B);
    printf("  biharmonic level (func::biharmonic)     %8.1f ms\n", ms([&] { func::biharmonic(f, x); }));
    const func::UnaryFunction lap = [&](const Tensor& z) { return func::laplacian(f, z); };
    printf("  nested: laplacian of forward Laplacian  %8.1f ms\n", ms([&] { func::laplacian(lap, x); }, 2));
    printf("  nested: trace of batch_hessian(lap)     %8.1f ms\n", ms([&] { func::batch_hessian(lap, x); }, 2));
    printf("  peak memory: biharmonic %.0f MiB, batch_hessian(lap) %.0f MiB\n", peak_mib([&] { func::biharmonic(f, x); }),
           peak_mib([&] { func::batch_hessian(lap, x); }));
    printf("  Gaussian estimate, 8 samples            %8.1f ms\n", ms([&] { func::biharmonic(f, x, {}, {.samples = 8, .seed = 1}); }));
  }
}
