// The op table: one row per differentiable op, driving the generic forward and derivative checks.
#pragma once

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "naive.hpp"

namespace dydx::testing {

/// Where inputs are drawn from, keeping each op away from its poles and kinks.
enum class Domain { Real, Positive, AwayFromZero, Small };

/// One value from the domain.
inline double draw(Domain domain, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  switch (domain) {
    case Domain::Real: return normal(rng);
    case Domain::Positive: return 0.5 + 1.5 * uniform(rng);
    case Domain::AwayFromZero: return (uniform(rng) < 0.5 ? -1 : 1) * (0.5 + uniform(rng));
    case Domain::Small: return 1.2 * (2 * uniform(rng) - 1);
  }
  return 0;
}

/// A tensor of the shape, its values drawn from the domain in float64 and then cast to dtype.
inline Tensor random_tensor(const std::vector<int64_t>& shape, Domain domain, ScalarType dtype, std::mt19937_64& rng) {
  Tensor t = zeros(shape, kFloat64);
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = draw(domain, rng);
  return t.to(dtype);
}

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

/// An op as tests/data/edge_cases.txt names it (its OpInfo name, then ":" and a scalar argument for
/// pow.Scalar, pow.ScalarBase and rsub, or the attributes that differ from the defaults, as in
/// "gelu:tanh" and "clamp:-2.5,2.5"), applied to inputs of the special values that
/// make_edge_cases.py feeds PyTorch: 1-element tensors, or one 2-element tensor for reductions.
/// Undefined for a key that has no edge-value form.
std::function<Tensor(const TensorList&)> edge_op(const std::string& key);

/// A deliberate difference from PyTorch at edge values, and why: wherever op `key` gives, in a field
/// starting with `field` ("out", "vjp", "jvp"), `dydx` (any value if empty) where PyTorch gives `pytorch`.
struct EdgeDeviation {
  std::string key, field, pytorch, dydx;  // values as edge_cases.txt writes them: "nan", "-0", "2.5"
  std::string why;
};
const std::vector<EdgeDeviation>& edge_deviations();

/// Below this magnitude (0 for none), a value of op `key` at edge values is rounding residue: where the
/// exact derivative is zero by cancellation (softmax's outputs sum to 1 only to rounding), each library
/// leaves a residue of an ulp or two of 1, or a zero of either sign, that follows its own rounding.
/// EdgeValues counts two such residues as equal.
double edge_residue_floor(const std::string& key, ScalarType dtype);

}  // namespace dydx::testing
