// Random computation graphs drawn from dydx's ops, for differential testing and fuzzing.
#pragma once

#include <dydx/dydx.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dydx::testing {

/// Where the generator's choices come from: a seeded generator in tests, fuzzer bytes in fuzz/.
using ChoiceSource = std::function<uint32_t(uint32_t bound)>;  // a value in [0, bound)

/// A small random program over a pool of values: 2 or 3 inputs with shapes that broadcast to
/// [3,4], then steps that each apply one op (elementwise, broadcasting, where, reductions with
/// keepdim, max along a dim, views and joins, matmul and bmm, in-place writes, through views too,
/// copy_) to earlier values, keeping every value's shape in {[3,4], [3,1], [1,4], [4], []} and
/// every input of log, sqrt, div and pow in its domain. abs, relu, max and where have kinks, met
/// with probability zero by random inputs.
class RandomGraph {
 public:
  explicit RandomGraph(const ChoiceSource& choose);

  const std::vector<std::vector<int64_t>>& input_shapes() const { return input_shapes_; }
  /// Runs the program on inputs (one per input shape, any layout) and returns its last value.
  Tensor run(const TensorList& inputs) const;
  /// The program as C++-like text, to paste into a reproducer.
  std::string describe() const;
  size_t num_steps() const { return steps_.size(); }
  /// The same program cut after its first `steps` steps: a failing graph's shortest failing prefix
  /// is the minimal reproducer the tests print.
  RandomGraph prefix(size_t steps) const;

 private:
  struct Step {
    int kind;
    int a, b;
    int param;
  };
  std::vector<std::vector<int64_t>> input_shapes_;
  std::vector<std::vector<int64_t>> shapes_;  // of every value: inputs, then one per step
  std::vector<Step> steps_;
};

}  // namespace dydx::testing
