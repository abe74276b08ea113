// The example's problem, shared by examples/pinn_poisson.cpp and the bench/compare PINN row: Poisson's
// equation -laplacian(u) = f on the unit square with u = 0 on its boundary, whose solution is
// u(x, y) = sin(pi x) sin(pi y) for f = 2 pi^2 sin(pi x) sin(pi y); and the network that learns u, a
// 2 -> 32 -> 32 -> 1 tanh MLP with weights stored as libtorch's Linear stores them ([out, in]).
// examples/pinn_poisson_torch.py builds the same points and the same initial weights in PyTorch.
#pragma once

#include <cstdint>

#include <dydx/dydx.hpp>

namespace pinn {

inline constexpr int64_t kLayerSizes[] = {2, 32, 32, 1};

/// Uniform values in [-bound, bound) from SplitMix64 seeded with `seed`: the same numbers in C++ and in
/// Python, so the two programs start from the same weights.
dydx::Tensor uniform_splitmix(dydx::IntArrayRef shape, double bound, uint64_t seed, dydx::ScalarType dtype);

/// The MLP's weights and biases (W0, b0, W1, b1, W2, b2), each uniform in +-1/sqrt(fan_in) as
/// torch.nn.Linear's default initialisation draws them, but from uniform_splitmix, and requiring grad.
dydx::TensorList initial_parameters(dydx::ScalarType dtype);

/// The MLP on points x [B, 2]: [B, 1].
dydx::Tensor mlp(const dydx::TensorList& params, const dydx::Tensor& x);

/// Collocation points: the centres of an n x n grid of cells inside the square, [n*n, 2].
dydx::Tensor interior_points(int64_t n, dydx::ScalarType dtype);
/// n points on each edge, at the centres of n equal segments, [4n, 2].
dydx::Tensor boundary_points(int64_t n, dydx::ScalarType dtype);

/// The exact solution sin(pi x) sin(pi y) at x [B, 2]: [B, 1].
dydx::Tensor exact_solution(const dydx::Tensor& x);

/// The boundary term's weight in the loss. A small error e in u makes a residual of about 2 pi^2 e inside
/// (the solution's Laplacian is 2 pi^2 times its size) but only e on the boundary; at weight 1 the boundary
/// would count (2 pi^2)^2 ~ 390 times less, and its error dominates the result.
inline constexpr double kBoundaryWeight = 100;

/// The source term f = 2 pi^2 sin(pi x) sin(pi y) at x [B, 2]: [B, 1].
dydx::Tensor source_term(const dydx::Tensor& x);

/// The loss: the mean squared residual laplacian(u) + f at the interior points (the Laplacian by
/// func::laplacian, the forward Laplacian; f = source_term(interior), computed once by the caller) plus
/// kBoundaryWeight times the mean squared u at the boundary points.
dydx::Tensor pinn_loss(const dydx::func::UnaryFunction& u, const dydx::Tensor& interior, const dydx::Tensor& f,
                       const dydx::Tensor& boundary);

}  // namespace pinn
