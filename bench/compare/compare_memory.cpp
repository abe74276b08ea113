// Peak memory of func::batch_jacobian on the seed at (10^6, 64) f32, measured from outside with /usr/bin/time -v.
// Usage: compare_memory baseline|jacobian|chunked. "baseline" only builds x, to show the process's fixed resident
// size; "chunked" passes BatchOptions::chunk_size = 16384, so f runs on slices of rows written into one result.
#include <dydx/dydx.hpp>

#include <cstdio>
#include <string>

using namespace dydx;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "jacobian" && mode != "baseline" && mode != "chunked") {
    std::fprintf(stderr, "usage: compare_memory baseline|jacobian|chunked\n");
    return 2;
  }
  const int64_t m = 1000000, n = 64;
  // The same inputs as compare_dydx's seed case: sin(0.37 i), sin(0.37 i + 1).
  Tensor x = (arange(m) * 0.37).sin().reshape({m, 1});
  Tensor W = (arange(n) * 0.37 + 1.0).sin().reshape({1, n});
  double check = x.sum().item<float>();
  if (mode != "baseline") {
    func::BatchOptions options;
    if (mode == "chunked") options.chunk_size = 16384;
    Tensor J = func::batch_jacobian([&](const Tensor& xi) { return matmul(xi.pow(3), W); }, x, options);
    check = J.sum().item<float>();
  }
  // Output and input bytes: J [m, n, 1] and x [m, 1] in float32.
  std::printf("{\"mode\": \"%s\", \"output_plus_input_bytes\": %lld, \"check\": %g}\n", mode.c_str(),
              static_cast<long long>((m * n + m) * 4), check);
  return 0;
}
