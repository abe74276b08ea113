// The op table: one row per differentiable op, driving the generic forward and derivative checks.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "naive.hpp"

namespace dydx::testing {

/// Where inputs are drawn from, keeping each op away from its poles and kinks.
enum class Domain { Real, Positive, AwayFromZero, Small };

using Shapes = std::vector<std::vector<int64_t>>;

struct OpRow {
  std::string name;                                         // the OpInfo name, as registered_ops() lists it
  std::vector<Shapes> samples;                              // input shapes, broadcast and batched ones included
  Domain domain;
  std::function<Tensor(const TensorList&)> fn;              // the op applied to the inputs
  std::function<Naive(const std::vector<Naive>&)> reference;  // the same, on plain arrays of doubles
  double tolerance;                                         // relative, for float32 against the reference
};

const std::vector<OpRow>& op_table();

}  // namespace dydx::testing
