// dydx::to_string and operator<< for Tensor: reads a tensor out and hands it to format_tensor.
#include "dydx/print.hpp"

#include "dydx/detail/node.hpp"
#include "print/format.hpp"

namespace dydx {
namespace {

/// The parts of a tensor that its printed text depends on.
detail::PrintInput print_input(const Tensor& t) {
  detail::PrintInput in;
  const IntArrayRef sizes = t.sizes();
  in.sizes.assign(sizes.begin(), sizes.end());
  in.is_float64 = t.dtype() == kFloat64;
  in.is_int64 = t.dtype() == kInt64;
  // Float32 elements widen to double exactly, which is the value Python formats; int64 ones stay int64.
  if (in.is_int64) in.int_values = t.to_vector<int64_t>();
  else in.values = t.to_vector<double>();
  if (!t.is_leaf()) {
    in.grad_fn = t.grad_fn()->name();
  } else {
    in.requires_grad_leaf = t.requires_grad();
  }
  return in;
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "[ Tensor (undefined) ]";
  return detail::format_tensor(print_input(t));
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace dydx
