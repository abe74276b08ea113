// The README's quick start, built with the examples so that it always compiles and runs.
#include <dydx/dydx.hpp>
#include <iostream>
using namespace dydx;
using indexing::Slice;

int main() {
  Tensor X = tensor({{4.0}, {1.0}}).requires_grad_(true);
  Tensor y = matmul(X.pow(3), tensor({{2.0, 4.0}}));      // y [2,2]
  TensorList columns;                                     // dy[:,j]/dX, one grad per column
  for (int64_t j = 0; j < y.size(1); ++j)
    columns.push_back(grad({y.index({Slice(), j})}, {X}, {ones({2})}, std::nullopt, true)[0]);
  std::cout << cat(columns, 1) << "\n";   // tensor([[ 96., 192.], [  6.,  12.]], grad_fn=<CatBackward0>)
  y.backward(ones_like(y));               // a plain backward sums the columns
  std::cout << X.grad() << "\n";          // tensor([[288.], [ 18.]])
}
