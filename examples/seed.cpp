// The seed document's computation in C++: per-column derivatives of y [m,n] = f(x [m,1]), three ways.
#include <dydx/dydx.hpp>

#include <iostream>

using namespace dydx;
using dydx::indexing::Slice;

// y = (X^3) W: each output column j depends on x through W[0, j].
Tensor gra_fun(const Tensor& X) {
  Tensor W = tensor({{2.0, 4.0}});
  return matmul(X.pow(3), W);
}

// Same values with X already expanded to [m, n] and an elementwise product.
Tensor gra_fun2(const Tensor& X) {
  Tensor W = tensor({{2.0, 4.0}});
  return X.pow(3) * W;
}

int main() {
  // Method 1: one grad per output column, with create_graph so the result stays differentiable.
  Tensor X = tensor({{4.0}, {1.0}});
  X.requires_grad_(true);
  Tensor y = gra_fun(X);
  std::cout << X << "\n" << y << "\n";
  TensorList columns;
  for (int64_t ii = 0; ii < y.size(1); ++ii)
    columns.push_back(grad({y.index({Slice(), ii})}, {X}, {tensor({1.0, 1.0})},
                           /*retain_graph=*/std::nullopt, /*create_graph=*/true, /*allow_unused=*/true)[0]);
  std::cout << cat(columns, 1) << "\n";

  // The plain backward sums the columns: dy1/dx + dy2/dx.
  y.backward(ones_like(y));
  std::cout << X.grad() << "\n";

  // Method 2: X expanded to [m, n], elementwise product, one grad.
  Tensor X2 = tensor({{4.0, 4.0}, {1.0, 1.0}});
  X2.requires_grad_(true);
  Tensor y2 = gra_fun2(X2);
  std::cout << X2 << "\n" << y2 << "\n";
  Tensor gradients = ones_like(y2);
  std::cout << grad({y2}, {X2}, {gradients}, std::nullopt, /*create_graph=*/true, /*allow_unused=*/true)[0] << "\n";
  y2.backward(gradients);
  std::cout << X2.grad() << "\n";

  // dydx's answer: every column's derivative for every sample in one call, from one forward-mode pass.
  Tensor J = func::batch_jacobian(gra_fun, X.detach());  // [m, n, 1]
  std::cout << J << "\n";
  std::cout << "batch_jacobian equals method 1: " << std::boolalpha << equal(J.squeeze(-1), cat(columns, 1))
            << "\nbatch_jacobian equals method 2: " << equal(J.squeeze(-1), X2.grad()) << "\n";
  return 0;
}
