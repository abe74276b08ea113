#include "poisson_problem.hpp"

#include <cmath>
#include <numbers>
#include <vector>

using namespace dydx;

namespace pinn {

Tensor uniform_splitmix(IntArrayRef shape, double bound, uint64_t seed, ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  std::vector<double> values(numel);
  uint64_t state = seed;
  for (double& v : values) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v = bound * (2 * (static_cast<double>(z >> 11) * 0x1.0p-53) - 1);
  }
  return tensor(values, kFloat64).reshape(shape).to(dtype);
}

TensorList initial_parameters(ScalarType dtype) {
  TensorList params;
  for (int l = 0; l < 3; ++l) {
    const int64_t in = kLayerSizes[l], out = kLayerSizes[l + 1];
    const double bound = 1 / std::sqrt(static_cast<double>(in));
    params.push_back(uniform_splitmix({out, in}, bound, 2 * l + 1, dtype).requires_grad_(true));
    params.push_back(uniform_splitmix({out}, bound, 2 * l + 2, dtype).requires_grad_(true));
  }
  return params;
}

Tensor mlp(const TensorList& params, const Tensor& x) {
  Tensor h = x;
  for (size_t l = 0; l + 1 < params.size(); l += 2) {
    h = linear(h, params[l], params[l + 1]);
    if (l + 2 < params.size()) h = tanh(h);
  }
  return h;
}

Tensor interior_points(int64_t n, ScalarType dtype) {
  Tensor c = (arange(n, kFloat64) + 0.5) / static_cast<double>(n);
  Tensor xs = c.unsqueeze(1).expand({n, n}).reshape({-1}), ys = c.unsqueeze(0).expand({n, n}).reshape({-1});
  return stack({xs, ys}, 1).to(dtype);
}

Tensor boundary_points(int64_t n, ScalarType dtype) {
  Tensor c = (arange(n, kFloat64) + 0.5) / static_cast<double>(n);
  Tensor zero = zeros({n}, kFloat64), one = ones({n}, kFloat64);
  return cat({stack({c, zero}, 1), stack({c, one}, 1), stack({zero, c}, 1), stack({one, c}, 1)}, 0).to(dtype);
}

Tensor exact_solution(const Tensor& x) {
  const double pi = std::numbers::pi;
  return ((x.select(1, 0) * pi).sin() * (x.select(1, 1) * pi).sin()).unsqueeze(1);
}

Tensor source_term(const Tensor& x) { return exact_solution(x) * (2 * std::numbers::pi * std::numbers::pi); }

Tensor pinn_loss(const func::UnaryFunction& u, const Tensor& interior, const Tensor& f, const Tensor& boundary) {
  Tensor residual = func::laplacian(u, interior) + f;
  return residual.pow(2).mean() + u(boundary).pow(2).mean() * kBoundaryWeight;
}

}  // namespace pinn
