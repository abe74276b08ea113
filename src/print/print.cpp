// dydx::to_string and operator<< for Tensor: reads a tensor out and hands it to format_tensor.
#include "dydx/print.hpp"

#include "vmap/batched.hpp"

#include "compile/trace.hpp"
#include "dydx/autograd.hpp"
#include "dydx/detail/node.hpp"
#include "print/format.hpp"

namespace dydx {
namespace {

/// The elements a print shows, as a small tensor: all of them, or for a summarised tensor the first
/// and last edge items of every longer dim. They are read through one view that splits each such dim
/// of size s into [2, 3] (the second block s - 3 positions on), so only they are copied: an expanded
/// tensor of terabytes used to be read out whole, which threw std::bad_alloc.
Tensor shown_elements(const Tensor& t) {
  if (t.numel() <= detail::kPrintThreshold) return t;
  constexpr int64_t edge = detail::kPrintEdgeItems;
  Dims sizes, strides, shown;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t size = t.size(d), stride = t.stride(d);
    if (size > 2 * edge) {
      sizes.push_back(2);
      sizes.push_back(edge);
      strides.push_back((size - edge) * stride);
      strides.push_back(stride);
      shown.push_back(2 * edge);
    } else {
      sizes.push_back(size);
      strides.push_back(stride);
      shown.push_back(size);
    }
  }
  NoGradGuard no_grad;
  return t.detach().as_strided(sizes, strides, t.storage_offset()).reshape(shown);
}

/// The parts of a tensor that its printed text depends on.
detail::PrintInput print_input(const Tensor& t) {
  // Printing inside a func::compile recording shows the recording's values; what it reads and the
  // ops it runs to summarise are no steps of f (a replay prints nothing, as jax.jit's trace).
  compile::detail::PauseRecording not_a_step;
  detail::PrintInput in;
  const IntArrayRef sizes = t.sizes();
  in.sizes.assign(sizes.begin(), sizes.end());
  in.is_float64 = t.dtype() == kFloat64;
  in.is_int64 = t.dtype() == kInt64;
  in.is_bool = t.dtype() == kBool;
  // Float32 elements widen to double exactly, which is the value Python formats; int64 ones stay int64.
  const Tensor shown = shown_elements(t);
  if (in.is_int64 || in.is_bool) in.int_values = shown.to_vector<int64_t>();
  else in.values = shown.to_vector<double>();
  if (!t.is_leaf()) {
    in.grad_fn = t.grad_fn()->name();
  } else {
    in.requires_grad_leaf = t.requires_grad();
  }
  return in;
}

}  // namespace

std::string to_string(const Tensor& t) {
  // Inside vmap: the batch it stands for, as functorch prints a BatchedTensor.
  if (const auto* b = t.defined() ? t.impl()->batched.get() : nullptr)
    return "BatchedTensor(lvl=" + std::to_string(b->level) + ", bdim=" + std::to_string(b->bdim) +
           ", value=\n" + to_string(b->value) + "\n)";
  if (!t.defined()) return "[ Tensor (undefined) ]";
  return detail::format_tensor(print_input(t));
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace dydx
