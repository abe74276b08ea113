// Uses the installed dydx: differentiates x^3 and checks the result.
#include <dydx/dydx.hpp>

#include <iostream>

int main() {
  dydx::Tensor x = dydx::tensor({2.0}).requires_grad_(true);
  x.pow(3).sum().backward();
  const double g = x.grad().item<double>();
  std::cout << "d/dx x^3 at 2 = " << g << "\n";
  return g == 12.0 ? 0 : 1;
}
