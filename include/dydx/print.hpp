// Printing tensors exactly as PyTorch's print(tensor) does.
#pragma once

#include <ostream>
#include <string>

#include "dydx/tensor.hpp"

namespace dydx {

/// The text Python's print(t) shows in PyTorch, e.g. "tensor([[4.],\n        [1.]], requires_grad=True)".
std::string to_string(const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace dydx
