// cross_entropy's one op for logits [N, C] and class indices (CrossEntropyRecord in src/ops/
// softmax.cpp): its losses against the composed nll_loss(log_softmax(x)) bit for bit; its one-pass
// backward against its own composed rule (the one create_graph runs) bit for bit, and against the
// composed ops' gradient within rounding; rows of every length (groups of short rows, long rows),
// ignored targets, class weights, special values, strided logits, thread counts; under func::compile.
#include <gtest/gtest.h>

#include <cmath>
#include <dydx/dydx.hpp>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace dydx;
namespace F = dydx::nn::functional;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// Equal values with equal signs, nan equal to nan.
bool same_values(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  const std::vector<double> x = a.to(kFloat64).contiguous().to_vector<double>();
  const std::vector<double> y = b.to(kFloat64).contiguous().to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::isnan(x[i]) && std::isnan(y[i])) && (x[i] != y[i] || std::signbit(x[i]) != std::signbit(y[i])))
      return false;
  return true;
}

struct Case {
  int64_t rows, classes;
  bool weighted, specials;
};

// Logits with, where asked, a row of each special value in a few places; targets with some ignored
// (-100) and the rest spread over the classes.
std::pair<Tensor, Tensor> make_inputs(const Case& c, ScalarType type, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 3.0);
  std::vector<double> x(c.rows * c.classes);
  for (double& v : x) v = normal(rng);
  if (c.specials && c.rows > 3 && c.classes > 1) {
    x[0] = kNan;
    x[c.classes + 1] = kInf;
    x[2 * c.classes] = -kInf;
    x[3 * c.classes + c.classes - 1] = 1e30;
  }
  std::vector<int64_t> t(c.rows);
  for (int64_t i = 0; i < c.rows; ++i) t[i] = i % 7 == 3 ? -100 : static_cast<int64_t>((i * 5 + 1) % c.classes);
  return {tensor(x, type).reshape({c.rows, c.classes}), tensor(t, dtype(kInt64))};
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {{1, 1, false, false},   {5, 3, true, false},   {37, 64, false, true},
                                        {37, 64, true, false},  {64, 8, true, true},   {9, 700, false, true},
                                        {3, 513, true, false},  {200, 10, false, false}, {13, 512, false, true}};
  return all;
}

F::CrossEntropyFuncOptions options_for(const Case& c, const Tensor& x, int reduction) {
  F::CrossEntropyFuncOptions o;
  if (reduction == 0) o.reduction(kNone);
  if (reduction == 1) o.reduction(kSum);
  if (c.weighted) o.weight(arange(c.classes, x.dtype()) * 0.25 + 0.5);
  return o;
}

F::NLLLossFuncOptions nll_options(const F::CrossEntropyFuncOptions& o) {
  return F::NLLLossFuncOptions().weight(o.weight()).ignore_index(o.ignore_index()).reduction(o.reduction());
}

TEST(CrossEntropyRows, LossesEqualTheComposedOpsBitForBit) {
  std::mt19937_64 rng(7);
  for (const Case& c : cases())
    for (ScalarType dtype : {kFloat32, kFloat64})
      for (int reduction : {0, 1, 2})
        for (bool with_grad : {false, true}) {
          SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.classes) + " reduction " +
                       std::to_string(reduction) + (with_grad ? " requiring grad" : ""));
          auto [x, t] = make_inputs(c, dtype, rng);
          if (with_grad) x.requires_grad_();
          const auto o = options_for(c, x, reduction);
          const Tensor fused = F::cross_entropy(x, t, o);
          const Tensor composed = F::nll_loss(log_softmax(x, 1), t, nll_options(o));
          EXPECT_TRUE(same_values(fused, composed)) << fused << composed;
        }
}

// Without create_graph the backward is one pass over the kept probabilities; with it, the composed
// rule g w (softmax(x) - onehot). The two give the same bits, on any number of threads; the composed
// ops' gradient (through log_softmax's exponentials again) agrees to rounding.
TEST(CrossEntropyRows, OnePassBackwardEqualsItsComposedRule) {
  std::mt19937_64 rng(11);
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (const Case& c : cases())
      for (ScalarType dtype : {kFloat32, kFloat64})
        for (int reduction : {0, 2}) {
          SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.classes) + " threads " + std::to_string(threads));
          auto [x, t] = make_inputs(c, dtype, rng);
          x.requires_grad_();
          const auto o = options_for(c, x, reduction);
          const Tensor loss = F::cross_entropy(x, t, o);
          const Tensor g = reduction == 0 ? arange(c.rows, dtype) - 2.5 : ones({}, dtype);
          const Tensor fused = grad({loss}, {x}, {g}, true)[0];
          const Tensor composed_rule = grad({loss}, {x}, {g}, true, true)[0];
          EXPECT_TRUE(same_values(fused, composed_rule));
          const Tensor composed_ops = grad({F::nll_loss(log_softmax(x, 1), t, nll_options(o))}, {x}, {g})[0];
          if (!c.specials) {
            const double tol = dtype == kFloat32 ? 1e-6 : 1e-14;
            EXPECT_TRUE(allclose(fused, composed_ops, tol, tol)) << (fused - composed_ops).abs().max();
          }
        }
  }
  set_num_threads(2);
}

// Rows of 1000 classes (long rows, one at a time, past the groups of short ones): the one-pass
// backward has the composed rule's bits and those of a small batch of the same rows.
TEST(CrossEntropyRows, LongRowsGiveTheBitsOfTheirRowsAlone) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const int64_t classes = 1000, rows = 300;
    const Tensor values = sin(arange(rows * classes, kFloat64) * 0.37).reshape({rows, classes}).to(dtype) * 4.0;
    const Tensor target = arange(rows, kInt64).fmod(classes);
    const auto none = F::CrossEntropyFuncOptions().reduction(kNone);
    const Tensor g = cos(arange(rows, kFloat64)).to(dtype);
    const Tensor x = values.clone().requires_grad_();
    const Tensor loss = F::cross_entropy(x, target, none);
    const Tensor fused = grad({loss}, {x}, {g}, true)[0];
    EXPECT_TRUE(same_values(fused, grad({loss}, {x}, {g}, true, true)[0]));
    const Tensor few = values.narrow(0, 0, 7).clone().requires_grad_();
    const Tensor few_grad = grad({F::cross_entropy(few, target.narrow(0, 0, 7), none)}, {few}, {g.narrow(0, 0, 7)})[0];
    EXPECT_TRUE(same_values(fused.narrow(0, 0, 7), few_grad));
  }
}

// The loss keeps softmax(x), not x (PyTorch's keeps log_softmax's output): logits written in place
// after the forward change neither the gradient nor, through create_graph, the second derivative.
TEST(CrossEntropyRows, LogitsWrittenInPlaceAfterTheForward) {
  std::mt19937_64 rng(13);
  const auto inputs = make_inputs({5, 4, true, false}, kFloat64, rng);
  const Tensor values = inputs.first, t = inputs.second;
  const auto o = options_for({5, 4, true, false}, values, 2);
  auto gradient_and_hvp = [&](bool write) {
    const Tensor x = values.clone().requires_grad_();
    Tensor y = x * 1;
    const Tensor loss = F::cross_entropy(y, t, o);
    if (write) y.mul_(2);
    const Tensor g = grad({loss}, {x}, {}, true, true)[0];
    const Tensor hvp = grad({(g * cos(values)).sum()}, {x})[0];
    return std::pair{g.detach(), hvp};
  };
  const auto [g0, h0] = gradient_and_hvp(false);
  const auto [g1, h1] = gradient_and_hvp(true);
  EXPECT_TRUE(same_values(g0, g1));
  EXPECT_TRUE(same_values(h0, h1));
  const Tensor x = values.clone().requires_grad_();
  Tensor y = x * 1;
  const Tensor loss = F::cross_entropy(y, t, o);
  y.mul_(2);
  EXPECT_TRUE(same_values(grad({loss}, {x})[0], g0));
}

// A target (even a strided one, which the forward copied) or a class weight written in place after
// the forward makes the backward raise, as PyTorch's; an ignored row's loss is +0, as PyTorch's.
TEST(CrossEntropyRows, TargetOrWeightWrittenAfterTheForwardRaises) {
  const Tensor x = sin(arange(12, kFloat64)).reshape({3, 4}).requires_grad_();
  Tensor every = tensor({0, 9, 1, 9, -100, 9}, dtype(kInt64));
  const Tensor strided = every.slice(0, 0, 6, 2);
  const auto none = F::CrossEntropyFuncOptions().reduction(kNone);
  const Tensor loss = F::cross_entropy(x, strided, none);
  EXPECT_FALSE(std::signbit(loss[2].item<double>()));
  EXPECT_EQ(loss[2].item<double>(), 0.0);
  every.fill_(3);
  EXPECT_THROW(grad({loss.sum()}, {x}), Error);
  Tensor weight = ones({4}, kFloat64);
  const Tensor weighted = F::cross_entropy(x, tensor({0, 1, 2}, dtype(kInt64)), F::CrossEntropyFuncOptions().weight(weight));
  weight.mul_(2);
  EXPECT_THROW(grad({weighted}, {x}), Error);
}

TEST(CrossEntropyRows, StridedLogitsGiveTheContiguousResult) {
  std::mt19937_64 rng(5);
  auto [x, t] = make_inputs({6, 9, true, false}, kFloat32, rng);
  const Tensor strided = x.t().contiguous().t().requires_grad_();  // column-major storage
  const Tensor plain = x.clone().requires_grad_();
  const auto o = options_for({6, 9, true, false}, x, 2);
  EXPECT_TRUE(same_values(F::cross_entropy(strided, t, o), F::cross_entropy(plain, t, o)));
  EXPECT_TRUE(same_values(grad({F::cross_entropy(strided, t, o)}, {strided})[0],
                          grad({F::cross_entropy(plain, t, o)}, {plain})[0]));
}

TEST(CrossEntropyRows, CompiledLossAndGradientEqualEager) {
  std::mt19937_64 rng(3);
  for (const Case& c : {Case{37, 64, true, false}, Case{9, 700, false, true}}) {
    auto [x, t] = make_inputs(c, kFloat32, rng);
    auto f = [t = t, w = options_for(c, x, 2)](const TensorList& in) {
      Tensor v = in[0].detach().requires_grad_();
      Tensor loss = F::cross_entropy(v, t, w);
      return TensorList{loss.detach(), grad({loss}, {v})[0]};
    };
    auto compiled = func::compile(f);
    for (int call = 0; call < 3; ++call) {
      const TensorList want = f(TensorList{x}), got = compiled(TensorList{x});
      EXPECT_TRUE(same_values(got[0], want[0]));
      EXPECT_TRUE(same_values(got[1], want[1]));
      x = x * 0.5 + 1;
    }
    EXPECT_EQ(compiled.stats().replays, 2) << compiled.stats().eager_reason;
  }
}

// Second derivatives through the op under func::compile replay (p's node is known to the recording
// through the forward's step: its saved value and its tangents), with eager's bits.
TEST(CrossEntropyRows, CompiledSecondDerivativesReplay) {
  std::mt19937_64 rng(17);
  auto [x, t] = make_inputs({8, 10, true, false}, kFloat64, rng);
  const Tensor v = cos(arange(80, kFloat64)).reshape({8, 10});
  const auto o = options_for({8, 10, true, false}, x, 2);
  auto loss = [t = t, o](const Tensor& y) { return F::cross_entropy(y, t, o); };
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> cases = {
      {"jvp of grad", [&](const Tensor& y) { return func::jvp(func::grad(loss), y, v).second; }},
      {"hessian", [&](const Tensor& y) { return func::hessian(loss)(y); }},
      {"double backward", [&](const Tensor& y) {
         const Tensor leaf = y.detach().requires_grad_();
         const Tensor g = grad({loss(leaf)}, {leaf}, {}, true, true)[0];
         return grad({(g * v).sum()}, {leaf})[0];
       }}};
  for (const auto& [name, f] : cases) {
    const func::Compiled compiled = func::compile(f);
    for (int call = 0; call < 3; ++call) EXPECT_TRUE(same_values(compiled(x), f(x))) << name;
    EXPECT_EQ(compiled.stats().replays, 2) << name << ": " << compiled.stats().eager_reason;
  }
}

// A target out of range raises before anything is written, naming the target and the shape.
TEST(CrossEntropyRows, TargetOutOfRangeRaises) {
  const Tensor x = zeros({2, 3}).requires_grad_();
  try {
    F::cross_entropy(x, tensor({1, 3}, dtype(kInt64)));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target 3 is out of bounds for 3 classes"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(x.grad().defined());
}

}  // namespace
