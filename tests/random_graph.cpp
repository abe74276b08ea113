// The random program generator: choosing steps that keep shapes and domains valid, and running them.
#include "random_graph.hpp"

#include <sstream>

namespace dydx::testing {

namespace {

using Shape = std::vector<int64_t>;
const std::vector<Shape> kInputShapes = {{3, 4}, {4}, {3, 1}, {1, 4}, {}};

Shape broadcast_of(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t sa = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t sb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

// Step kinds. Each keeps values smooth and in their ops' domains.
enum Kind {
  kSin, kTanh, kExpOfTanh, kLogOfSquarePlusOne, kSqrtOfSquarePlusOne, kSigmoid,
  kAdd, kSub, kMul, kDivBySquarePlusOne, kPowOfSquarePlusOne,
  kSumKeepdim, kMeanKeepdim, kSumAll,
  kTransposeTwice, kReshapeRoundTrip, kNarrowCat, kStackSelect, kExpandSum,
  kMatmulColumn, kInPlaceMul, kInPlaceAddThroughView,
  kSelectRow, kWhere, kCopyInto, kMaxKeepdim, kAbsPlusRelu, kBmm,
  kKindCount
};
const char* const kNames[] = {"sin", "tanh", "exp(tanh)", "log(x*x+1)", "sqrt(x*x+1)", "sigmoid",
                              "add", "sub", "mul", "div(a, b*b+1)", "pow(a*a+1, b)",
                              "sum(dim, keepdim)", "mean(dim, keepdim)", "sum()",
                              "t().t()", "reshape round trip", "narrow + cat", "stack + select", "expand + sum",
                              "matmul(a, b) as a column", "clone().mul_(b)", "clone(); view.add_(b)",
                              "select(0, param)", "where(a > b, a, b)", "clone().copy_(b)", "max(dim, keepdim)",
                              "abs(a) + relu(a)", "bmm(a, a^T) @ column"};

}  // namespace

RandomGraph::RandomGraph(const ChoiceSource& choose) {
  const int inputs = 2 + static_cast<int>(choose(2));
  for (int i = 0; i < inputs; ++i) {
    // The first input is [3,4], so the program always has something to broadcast against.
    input_shapes_.push_back(i == 0 ? Shape{3, 4} : kInputShapes[choose(kInputShapes.size())]);
  }
  shapes_ = input_shapes_;
  const int depth = 3 + static_cast<int>(choose(6));
  for (int s = 0; s < depth; ++s) {
    const int n = static_cast<int>(shapes_.size());
    Step step{static_cast<int>(choose(kKindCount)), static_cast<int>(choose(n)), static_cast<int>(choose(n)),
              static_cast<int>(choose(2))};
    const Shape& a = shapes_[step.a];
    const Shape& b = shapes_[step.b];
    const bool a_full = a == Shape{3, 4};
    Shape out = a;
    switch (step.kind) {
      case kAdd: case kSub: case kMul: case kDivBySquarePlusOne: case kPowOfSquarePlusOne:
        out = broadcast_of(a, b);
        break;
      case kSumKeepdim: case kMeanKeepdim:
        if (a.size() == 2) out[step.param] = 1;
        else out = {};  // reduced whole (found by fuzz/: this once disagreed with run())
        break;
      case kSumAll:
        out = {};
        break;
      case kTransposeTwice: case kNarrowCat: case kExpandSum:
        if (!a_full) step.kind = kTanh;
        break;
      case kMatmulColumn:
        // [3,4] @ [4] -> [3], shown as [3,1]; b must have 4 elements in a row.
        if (!a_full || !(b == Shape{4} || b == Shape{1, 4})) step.kind = kSin;
        else out = {3, 1};
        break;
      case kInPlaceMul:
        if (broadcast_of(a, b) != a) step.kind = kSigmoid;
        break;
      case kInPlaceAddThroughView:
        if (!a_full || !(b == Shape{4} || b == Shape{1, 4} || b.empty())) step.kind = kExpOfTanh;
        break;
      case kSelectRow:
        if (a_full) out = {4};
        else step.kind = kSin;
        break;
      case kWhere:
        out = broadcast_of(a, b);
        break;
      case kCopyInto:
        if (broadcast_of(a, b) != a) step.kind = kTanh;
        break;
      case kMaxKeepdim:
        if (a_full) out[step.param] = 1;
        else step.kind = kSigmoid;
        break;
      case kBmm:
        // [3,4] -> bmm([1,3,4], [1,4,3]) -> [1,3,3] -> matmul with a column of ones -> [3,1]
        if (a_full) out = {3, 1};
        else step.kind = kSin;
        break;
      default:
        break;
    }
    steps_.push_back(step);
    shapes_.push_back(out);
  }
}

Tensor RandomGraph::run(const TensorList& inputs) const {
  TensorList values = inputs;
  for (const Step& s : steps_) {
    const Tensor& a = values[s.a];
    const Tensor& b = values[s.b];
    Tensor out;
    switch (s.kind) {
      case kSin: out = sin(a); break;
      case kTanh: out = tanh(a); break;
      case kExpOfTanh: out = exp(tanh(a)); break;
      case kLogOfSquarePlusOne: out = log(a * a + 1.0); break;
      case kSqrtOfSquarePlusOne: out = sqrt(a * a + 1.0); break;
      case kSigmoid: out = sigmoid(a); break;
      case kAdd: out = a + b; break;
      case kSub: out = a - b; break;
      case kMul: out = a * b; break;
      case kDivBySquarePlusOne: out = a / (b * b + 1.0); break;
      case kPowOfSquarePlusOne: out = pow(a * a + 1.0, tanh(b)); break;
      case kSumKeepdim: out = a.dim() == 2 ? a.sum({s.param}, true) : a.sum(); break;
      case kMeanKeepdim: out = a.dim() == 2 ? a.mean({s.param}, true) : a.mean(); break;
      case kSumAll: out = a.sum(); break;
      case kTransposeTwice: out = a.t().contiguous().t(); break;
      case kReshapeRoundTrip: out = a.reshape({-1}).reshape(a.sizes()); break;
      case kNarrowCat: out = cat({a.narrow(1, 2, 2), a.narrow(1, 0, 2)}, 1) * a; break;
      case kStackSelect: out = stack({a, a * 2.0}, 0).select(0, 1 - s.param); break;
      case kExpandSum: out = a.unsqueeze(0).expand({2, 3, 4}).sum({0}); break;
      case kMatmulColumn: out = matmul(a, b.reshape({4})).unsqueeze(1); break;
      case kInPlaceMul: {
        out = a.clone();
        out.mul_(b);
        break;
      }
      case kInPlaceAddThroughView: {
        out = a.clone();
        out.select(0, s.param).add_(b.dim() == 2 ? b.squeeze(0) : b);
        break;
      }
      case kSelectRow: out = a.select(0, s.param); break;
      // The condition is data, not a function of the inputs: its derivative is zero almost everywhere.
      case kWhere: out = where(gt(a.detach(), b.detach()), a, b); break;
      case kCopyInto: {
        out = a.clone();
        out.copy_(b);
        out = out * a;
        break;
      }
      case kMaxKeepdim: out = std::get<0>(a.max(s.param, true)); break;
      case kAbsPlusRelu: out = abs(a) + relu(a); break;
      case kBmm: {
        Tensor batched = a.unsqueeze(0);
        out = matmul(bmm(batched, batched.transpose(1, 2)).squeeze(0), ones({3, 1}, a.dtype()));
        break;
      }
    }
    values.push_back(out);
  }
  return values.back();
}

RandomGraph RandomGraph::prefix(size_t steps) const {
  RandomGraph cut = *this;
  cut.steps_.resize(std::min(steps, steps_.size()));
  cut.shapes_.resize(input_shapes_.size() + cut.steps_.size());
  return cut;
}

std::string RandomGraph::describe() const {
  std::ostringstream os;
  auto shape = [](const Shape& s) {
    std::ostringstream o;
    o << "[";
    for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
    return o.str() + "]";
  };
  for (size_t i = 0; i < input_shapes_.size(); ++i) os << "v" << i << " = input " << shape(input_shapes_[i]) << "\n";
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    os << "v" << input_shapes_.size() + i << " = " << kNames[s.kind] << "(a=v" << s.a << ", b=v" << s.b
       << ", param=" << s.param << ") " << shape(shapes_[input_shapes_.size() + i]) << "\n";
  }
  return os.str();
}

}  // namespace dydx::testing
