// libFuzzer target: fuzzer bytes choose a random graph (tests/random_graph.hpp) and its inputs; the
// target aborts when reverse mode, forward mode and finite differences disagree, or on any crash.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "random_graph.hpp"

using namespace dydx;

namespace {

struct Bytes {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  uint32_t next() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | (at < size ? data[at++] : 0);
    return v;
  }
};

double dot(const Tensor& a, const Tensor& b) {
  NoGradGuard no_grad;
  return a.defined() && b.defined() ? (a * b).sum().item<double>() : 0.0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes bytes{data, size};
  testing::RandomGraph graph([&](uint32_t bound) { return bytes.next() % bound; });
  manual_seed(bytes.next());
  TensorList x, v;
  for (const auto& shape : graph.input_shapes()) {
    x.push_back(randn(shape, kFloat64).requires_grad_(true));
    v.push_back(randn(shape, kFloat64));
  }
  Tensor out = graph.run(x);
  Tensor u = randn(out.sizes(), kFloat64);
  TensorList vjp = grad({out}, x, {u}, true, false, true);
  double reverse = 0;
  for (size_t k = 0; k < x.size(); ++k) reverse += dot(vjp[k], v[k]);
  TensorList detached;
  for (const Tensor& t : x) detached.push_back(t.detach());
  auto [value, tangent] = func::jvp([&](const TensorList& in) { return TensorList{graph.run(in)}; }, detached, v);
  const double forward = dot(u, tangent[0]);
  auto at = [&](double step) {
    TensorList moved;
    for (size_t k = 0; k < x.size(); ++k) moved.push_back(detached[k] + v[k] * step);
    return dot(u, graph.run(moved));
  };
  const double numeric = (at(1e-6) - at(-1e-6)) / 2e-6;
  const double scale = 1 + std::abs(numeric);
  // Deep chains (pow of pow of pow) curve so sharply that a central difference is itself off by
  // more than the tolerance; when two step sizes disagree, finite differences cannot judge.
  const double coarser = (at(2e-6) - at(-2e-6)) / 4e-6;
  const bool differences_trustworthy = std::abs(coarser - numeric) <= 1e-6 * scale;
  // Forward and reverse mode are both exact: they agree relative to their own size, whatever the differences
  // say (sin of pow of pow of pow reached 2.7e18, 2 ulps apart, where the central difference read -8.6e5).
  const double exact_scale = 1 + std::max(std::abs(forward), std::abs(reverse));
  if ((differences_trustworthy && !(std::abs(reverse - numeric) <= 1e-5 * scale)) ||
      !(std::abs(forward - reverse) <= 1e-9 * exact_scale)) {
    std::fprintf(stderr, "mismatch: reverse %.17g forward %.17g numeric %.17g\n%s", reverse, forward, numeric,
                 graph.describe().c_str());
    std::abort();
  }
  return 0;
}
