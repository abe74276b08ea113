// A pure tensor-to-text formatter that reproduces PyTorch 1.13's repr(tensor), independent of Tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dydx::detail {

/// PyTorch's default print options: a tensor of more elements than this is summarised, showing the
/// first and last kPrintEdgeItems positions of every longer dim.
constexpr int64_t kPrintThreshold = 1000;
constexpr int64_t kPrintEdgeItems = 3;

/// Everything repr(tensor) depends on, with the elements already read out.
struct PrintInput {
  /// The shape; empty for a 0-D tensor.
  std::vector<int64_t> sizes;
  /// All elements in row-major order, or, for a summarised tensor, only the shown ones: those at the
  /// first and last kPrintEdgeItems positions of every dim longer than twice that (in row-major
  /// order), so that a huge tensor is never read out whole. For a floating tensor; float32 elements
  /// are given as their exact double values.
  std::vector<double> values;
  /// The same elements for an int64 or bool tensor (is_int64 or is_bool; values is then unused): a
  /// double would hold only 53 of their bits.
  std::vector<int64_t> int_values;
  /// Adds the ", dtype=torch.float64" suffix.
  bool is_float64 = false;
  /// Formats elements as integers. PyTorch shows no dtype for int64 unless the tensor is empty.
  bool is_int64 = false;
  /// Formats elements (held in int_values as 0 and 1) as True and False; no dtype unless empty.
  bool is_bool = false;
  /// Non-empty: adds ", grad_fn=<grad_fn>".
  std::string grad_fn;
  /// Adds ", requires_grad=True" when grad_fn is empty.
  bool requires_grad_leaf = false;
};

/// The exact text of PyTorch 1.13's print(tensor) for the described tensor, with default print options.
std::string format_tensor(const PrintInput& in);

}  // namespace dydx::detail
