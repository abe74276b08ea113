// What every transform checks of its arguments and of what f returns, before using either.
#pragma once

#include <cstdint>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx::func::detail {

/// argnums as indices into count primals: negative ones count from the end, as in torch.func.
/// Empty, out-of-range and repeated argnums are errors naming op.
std::vector<size_t> normalize_argnums(const std::vector<int64_t>& argnums, size_t count, const char* op);

/// The primals to differentiate must be defined and floating point.
void check_differentiable(const TensorList& primals, const std::vector<size_t>& argnums, const char* op);

/// What one call of f returned: enough to check that later calls return the same.
struct OutputSignature {
  std::vector<Dims> shapes;
  std::vector<ScalarType> dtypes;
};

/// Checks that f returned only defined tensors, and records their shapes and dtypes.
OutputSignature check_outputs(const TensorList& outputs, const char* op);
/// Reverse mode differentiates every output: they must be floating point (torch.func's vjp rule).
void check_floating_outputs(const TensorList& outputs, const char* op);
/// Checks that a later call of f returned what the first did (count, shapes, dtypes): a transform
/// that calls f more than once (in chunks, per argnum) writes every call's result into one tensor.
void check_same_outputs(const OutputSignature& first, const TensorList& outputs, const char* op);

}  // namespace dydx::func::detail
