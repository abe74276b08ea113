// Autograd as in PyTorch 1.13: leaves, .grad, grad_fn names, grad modes, hooks, grad(), in-place ops, higher orders.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include "test_util.hpp"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

using namespace dydx;
using dydx::indexing::Slice;

namespace {

using dydx::testing::HasValues;

std::vector<int64_t> Shape(const Tensor& t) { return t.sizes().vec(); }

std::string NodeName(const Tensor& t) { return t.grad_fn() ? t.grad_fn()->name() : "<none>"; }

// The message of the dydx::Error that f throws, or "" when it throws nothing.
std::string ErrorMessage(const std::function<void()>& f) {
  try {
    f();
  } catch (const dydx::Error& e) {
    return e.what();
  }
  return "";
}

Tensor Leaf(const NestedList& values, ScalarType dtype = kFloat32) { return tensor(values, dtype).requires_grad_(); }

}  // namespace

// ---- leaves, results and detached tensors ---------------------------------------------------------

TEST(LeafState, FreshTensorIsLeafWithoutGrad) {
  Tensor x = tensor({1.0, 2.0});
  EXPECT_FALSE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.grad_fn(), nullptr);
  EXPECT_FALSE(x.grad().defined());
}

TEST(LeafState, RequiresGradUnderscoreMarksLeafAndReturnsSelf) {
  Tensor x = tensor({1.0, 2.0});
  Tensor& same = x.requires_grad_();
  EXPECT_EQ(&same, &x);
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  x.requires_grad_(false);
  EXPECT_FALSE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
}

TEST(LeafState, CreationOptionRequiresGrad) {
  Tensor x = ones({2}, dtype(kFloat64).requires_grad(true));
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.dtype(), kFloat64);
}

TEST(LeafState, ResultOfOpOnRequiringLeafIsNonLeaf) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x * 2;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_NE(y.grad_fn(), nullptr);
  EXPECT_FALSE(y.retains_grad());
}

TEST(LeafState, ResultOfOpOnPlainTensorsIsLeafWithoutGrad) {
  Tensor a = tensor({1.0});
  Tensor b = a * 2;
  EXPECT_TRUE(b.is_leaf());
  EXPECT_FALSE(b.requires_grad());
  EXPECT_EQ(b.grad_fn(), nullptr);
}

TEST(LeafState, DetachedTensorIsLeafWithoutGrad) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor d = (x * 2).detach();
  EXPECT_TRUE(d.is_leaf());
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.grad_fn(), nullptr);
}

TEST(LeafState, DetachInPlaceTurnsResultIntoLeaf) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x * 2;
  y.detach_();
  EXPECT_TRUE(y.is_leaf());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(HasValues(y, {2, 4}));
}

// ---- .grad accumulation and retain_grad -----------------------------------------------------------

TEST(GradAccumulation, LeafGradAccumulatesAcrossBackwardCalls) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  (x * x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 4, 6}));
  (x * x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {4, 8, 12}));
  EXPECT_EQ(Shape(x.grad()), Shape(x));
  EXPECT_FALSE(x.grad().requires_grad());
}

TEST(GradAccumulation, SetGradUndefinedResetsAccumulation) {
  Tensor x = Leaf({1.0, 2.0});
  (x * 3).sum().backward();
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
  (x * 5).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {5, 5}));
}

TEST(GradAccumulation, LeafUsedTwiceSumsBothPaths) {
  Tensor x = Leaf({2.0});
  (x * x + x * 3).sum().backward();  // d/dx (x^2 + 3x) = 2x + 3
  EXPECT_TRUE(HasValues(x.grad(), {7}));
}

TEST(GradAccumulation, NonLeafGradUndefinedWithoutRetainGrad) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x * 3;
  (y * y).sum().backward();
  EXPECT_FALSE(y.grad().defined());
  EXPECT_TRUE(HasValues(x.grad(), {18, 36}));
}

TEST(GradAccumulation, RetainGradOnNonLeafAccumulates) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * 3;
  y.retain_grad();
  EXPECT_TRUE(y.retains_grad());
  Tensor z = (y * y).sum();
  z.backward({}, /*retain_graph=*/true);
  EXPECT_TRUE(HasValues(y.grad(), {6, 12, 18}));
  z.backward();
  EXPECT_TRUE(HasValues(y.grad(), {12, 24, 36}));
  EXPECT_TRUE(HasValues(x.grad(), {36, 72, 108}));
}

TEST(GradAccumulation, RetainGradOnLeafIsHarmless) {
  Tensor x = Leaf({1.0, 2.0});
  x.retain_grad();
  (x * 4).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {4, 4}));
}

// ---- grad_fn names --------------------------------------------------------------------------------

struct NameCase {
  const char* label;
  std::function<Tensor()> make;
  const char* expected;  // type(t.grad_fn).__name__ in PyTorch 1.13
};

TEST(GradFnNames, MatchPyTorch) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  Tensor v = Leaf({1.0, 2.0});
  Tensor b3 = randn({2, 2, 2}, requires_grad());
  Tensor mask = gt(x.detach(), full({}, 2.0));
  const std::vector<NameCase> cases = {
      {"mm", [&] { return mm(x, x); }, "MmBackward0"},
      {"matmul 2-D", [&] { return matmul(x, x); }, "MmBackward0"},
      {"matmul 1-D by 1-D", [&] { return matmul(v, v); }, "DotBackward0"},
      {"matmul 2-D by 1-D", [&] { return matmul(x, v); }, "MvBackward0"},
      {"dot", [&] { return dot(v, v); }, "DotBackward0"},
      {"mv", [&] { return x.mv(v); }, "MvBackward0"},
      {"bmm", [&] { return bmm(b3, b3); }, "BmmBackward0"},
      {"pow scalar exponent", [&] { return x.pow(3); }, "PowBackward0"},
      {"pow tensor exponent", [&] { return x.pow(x); }, "PowBackward1"},
      {"mul", [&] { return x * x; }, "MulBackward0"},
      {"mul scalar", [&] { return x * 2; }, "MulBackward0"},
      {"add", [&] { return x + x; }, "AddBackward0"},
      {"add scalar", [&] { return x + 1; }, "AddBackward0"},
      {"sub", [&] { return x - x; }, "SubBackward0"},
      {"sub scalar", [&] { return x - 1; }, "SubBackward0"},
      {"div", [&] { return x / x; }, "DivBackward0"},
      {"div scalar", [&] { return x / 2; }, "DivBackward0"},
      {"neg", [&] { return -x; }, "NegBackward0"},
      {"cat", [&] { return cat({x, x}); }, "CatBackward0"},
      {"stack", [&] { return stack({x, x}); }, "StackBackward0"},
      {"select", [&] { return x.select(0, 0); }, "SelectBackward0"},
      {"operator[]", [&] { return x[1]; }, "SelectBackward0"},
      {"index integer", [&] { return x.index({0}); }, "SelectBackward0"},
      {"slice", [&] { return x.slice(0, 0, 1); }, "SliceBackward0"},
      {"index Slice", [&] { return x.index({Slice(0, 1)}); }, "SliceBackward0"},
      {"index Slice step", [&] { return x.index({Slice(indexing::None, indexing::None, 2)}); }, "SliceBackward0"},
      {"narrow", [&] { return x.narrow(0, 0, 1); }, "SliceBackward0"},
      {"split", [&] { return x.split(1)[0]; }, "SplitBackward0"},
      {"chunk", [&] { return x.chunk(2)[1]; }, "SplitBackward0"},
      {"split sizes", [&] { return x.split({1, 1})[1]; }, "SplitWithSizesBackward0"},
      {"unbind", [&] { return x.unbind(1)[0]; }, "UnbindBackward0"},
      {"expand", [&] { return v.expand({3, 2}); }, "ExpandBackward0"},
      {"permute", [&] { return x.permute({1, 0}); }, "PermuteBackward0"},
      {"transpose", [&] { return x.transpose(0, 1); }, "TransposeBackward0"},
      {"t", [&] { return x.t(); }, "TBackward0"},
      {"view", [&] { return x.view({4}); }, "ViewBackward0"},
      {"unsqueeze", [&] { return x.unsqueeze(0); }, "UnsqueezeBackward0"},
      {"index None", [&] { return x.index({indexing::None}); }, "UnsqueezeBackward0"},
      {"squeeze", [&] { return x.unsqueeze(0).squeeze(); }, "SqueezeBackward0"},
      {"squeeze dim", [&] { return x.unsqueeze(0).squeeze(0); }, "SqueezeBackward1"},
      {"sum", [&] { return x.sum(); }, "SumBackward0"},
      {"sum dim", [&] { return x.sum({0}); }, "SumBackward1"},
      {"mean", [&] { return x.mean(); }, "MeanBackward0"},
      {"mean dim", [&] { return x.mean({0}); }, "MeanBackward1"},
      {"max", [&] { return x.max(); }, "MaxBackward1"},
      {"max dim", [&] { return std::get<0>(x.max(0)); }, "MaxBackward0"},
      {"min", [&] { return x.min(); }, "MinBackward1"},
      {"min dim", [&] { return std::get<0>(x.min(0)); }, "MinBackward0"},
      {"exp", [&] { return x.exp(); }, "ExpBackward0"},
      {"log", [&] { return x.log(); }, "LogBackward0"},
      {"sqrt", [&] { return x.sqrt(); }, "SqrtBackward0"},
      {"sin", [&] { return x.sin(); }, "SinBackward0"},
      {"cos", [&] { return x.cos(); }, "CosBackward0"},
      {"tan", [&] { return x.tan(); }, "TanBackward0"},
      {"tanh", [&] { return x.tanh(); }, "TanhBackward0"},
      {"sigmoid", [&] { return x.sigmoid(); }, "SigmoidBackward0"},
      {"relu", [&] { return x.relu(); }, "ReluBackward0"},
      {"abs", [&] { return x.abs(); }, "AbsBackward0"},
      {"where", [&] { return where(mask, x, x * 0); }, "WhereBackward0"},
      {"clone", [&] { return x.clone(); }, "CloneBackward0"},
      {"contiguous of non-contiguous", [&] { return x.t().contiguous(); }, "CloneBackward0"},
      {"to float64", [&] { return x.to(kFloat64); }, "ToCopyBackward0"},
      {"as_strided", [&] { return x.as_strided({2}, {1}); }, "AsStridedBackward0"},
  };
  for (const NameCase& c : cases) EXPECT_EQ(NodeName(c.make()), c.expected) << c.label;
}

TEST(GradFnNames, InPlaceOpsMatchPyTorch) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  Tensor y = x * 2;
  y.mul_(3);
  EXPECT_EQ(NodeName(y), "MulBackward0");
  y = x * 2;
  y.add_(1);
  EXPECT_EQ(NodeName(y), "AddBackward0");
  y = x * 2;
  y.zero_();
  EXPECT_EQ(NodeName(y), "ZeroBackward0");
  y = x * 2;
  y.copy_(x);
  EXPECT_EQ(NodeName(y), "CopyBackwards");
  y = zeros({2, 2});
  y.copy_(x);
  EXPECT_EQ(NodeName(y), "CopyBackwards");
  y = x.clone();
  y.select(0, 0).mul_(2);
  EXPECT_EQ(NodeName(y), "CopySlices");
}

TEST(GradFnNames, InPlaceFillMatchesPyTorch) {
  // torch: y = x*2; y.fill_(1); type(y.grad_fn).__name__ == "FillBackward2" (fill_.Scalar).
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x * 2;
  y.fill_(1);
  EXPECT_EQ(NodeName(y), "FillBackward2");
}

TEST(GradFnNames, NextFunctionsReachAccumulateGrad) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x * 2;
  ASSERT_NE(y.grad_fn(), nullptr);
  const auto& next = y.grad_fn()->next_functions();
  ASSERT_EQ(next.size(), 2u);
  ASSERT_NE(next[0], nullptr);
  EXPECT_STREQ(next[0]->name(), "AccumulateGrad");
  EXPECT_EQ(next[1], nullptr);  // the scalar 2 needs no gradient
}

// ---- detach and grad modes ------------------------------------------------------------------------

TEST(Detach, SharesStorageAndHasNoHistory) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor d = x.detach();
  EXPECT_EQ(d.data_ptr<float>(), x.data_ptr<float>());
  EXPECT_FALSE(d.requires_grad());
  EXPECT_FALSE(d.grad().defined());
  d.data_ptr<float>()[1] = 20;
  EXPECT_TRUE(HasValues(x, {1, 20, 3}));
}

TEST(Detach, InPlaceWriteThroughDetachedSharesVersionCounter) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x.exp();  // saves its output
  Tensor d = y.detach();
  const int64_t before = y._version();
  d.zero_();
  EXPECT_EQ(y._version(), before + 1);
  const std::string message = ErrorMessage([&] { y.sum().backward(); });
  EXPECT_NE(message.find("modified by an inplace operation"), std::string::npos) << message;
}

TEST(GradMode, EnabledByDefault) { EXPECT_TRUE(is_grad_enabled()); }

TEST(GradMode, NoGradGuardAndAutoGradModeNestAndRestore) {
  Tensor x = Leaf({1.0, 2.0});
  ASSERT_TRUE(is_grad_enabled());
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(is_grad_enabled());
    Tensor y = x * 2;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    EXPECT_EQ(y.grad_fn(), nullptr);
    {
      AutoGradMode enable(true);
      EXPECT_TRUE(is_grad_enabled());
      Tensor z = x * 2;
      EXPECT_TRUE(z.requires_grad());
      EXPECT_EQ(NodeName(z), "MulBackward0");
      {
        AutoGradMode disable(false);
        EXPECT_FALSE(is_grad_enabled());
        EXPECT_FALSE((x.exp()).requires_grad());
      }
      EXPECT_TRUE(is_grad_enabled());
    }
    EXPECT_FALSE(is_grad_enabled());
    {
      NoGradGuard again;
      EXPECT_FALSE(is_grad_enabled());
    }
    EXPECT_FALSE(is_grad_enabled());
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE((x * 2).requires_grad());
}

TEST(GradMode, SetGradEnabledToggles) {
  set_grad_enabled(false);
  EXPECT_FALSE(is_grad_enabled());
  Tensor x = Leaf({1.0});
  EXPECT_FALSE((x + 1).requires_grad());
  set_grad_enabled(true);
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE((x + 1).requires_grad());
}

TEST(GradMode, InPlaceOnLeafAllowedUnderNoGrad) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  {
    NoGradGuard no_grad;
    x.mul_(2);
  }
  EXPECT_TRUE(HasValues(x, {2, 4, 6}));
  EXPECT_EQ(x._version(), 1);
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
}

// ---- hooks ----------------------------------------------------------------------------------------

TEST(Hooks, ObservingHookOnLeafSeesItsGradient) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  std::vector<Tensor> seen;
  x.register_hook([&](const Tensor& g) { seen.push_back(g.clone()); });
  (x * x).sum().backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(HasValues(seen[0], {2, 4, 6}));
  EXPECT_TRUE(HasValues(x.grad(), {2, 4, 6}));
}

// register_post_accumulate_grad_hook (torch >= 2.1): the hook sees the leaf after its .grad holds the
// sum, in passes that accumulate only; removed by remove_hook; refused on non-leaves.
TEST(Hooks, PostAccumulateGradHookSeesTheSummedGrad) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  x.set_grad(Leaf({10.0, 10.0, 10.0}).detach());
  std::vector<Tensor> seen;
  const unsigned handle = x.register_post_accumulate_grad_hook([&](const Tensor& t) {
    EXPECT_EQ(t.impl(), x.impl());
    seen.push_back(t.grad().clone());
  });
  (x * x).sum().backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(HasValues(seen[0], {12, 14, 16}));
  grad({(x * x).sum()}, {x});  // grad() accumulates nothing: no call
  EXPECT_EQ(seen.size(), 1u);
  x.remove_hook(handle);
  (x * x).sum().backward();
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_THROW((x * 2.0).register_post_accumulate_grad_hook([](const Tensor&) {}), dydx::Error);
  EXPECT_THROW(Tensor(zeros({2})).register_post_accumulate_grad_hook([](const Tensor&) {}), dydx::Error);
}

// autograd::queue_callback: callbacks run after every node of the pass, in order, may queue more,
// see a nested pass's callbacks run at the end of that pass, and are dropped by a pass that raises.
TEST(Hooks, QueuedCallbacksRunWhenThePassEnds) {
  Tensor x = Leaf({1.0, 2.0}), w = Leaf({3.0, 4.0});
  std::vector<std::string> order;
  w.register_hook([&](const Tensor&) {
    order.push_back("hook w");
    autograd::queue_callback([&] {
      order.push_back("first callback, x.grad set: " + std::to_string(x.grad().defined()));
      autograd::queue_callback([&] { order.push_back("queued by a callback"); });
    });
    autograd::queue_callback([&] {
      Tensor z = Leaf({5.0});
      z.register_hook([&](const Tensor&) { autograd::queue_callback([&] { order.push_back("nested pass"); }); });
      (z * z).sum().backward();
      order.push_back("after nested backward");
    });
  });
  (x * w).sum().backward();
  const std::vector<std::string> want = {"hook w", "first callback, x.grad set: 1", "nested pass",
                                         "after nested backward", "queued by a callback"};
  EXPECT_EQ(order, want);
  EXPECT_THROW(autograd::queue_callback([] {}), dydx::Error);  // no pass running
  // A pass that raises drops what it queued; the next pass starts clean.
  Tensor y = Leaf({1.0});
  bool ran = false;
  y.register_hook([&](const Tensor&) -> Tensor {
    autograd::queue_callback([&] { ran = true; });
    throw std::runtime_error("hook fails");
  });
  EXPECT_THROW((y * 2.0).sum().backward(), std::runtime_error);
  (x * 2.0).sum().backward();
  EXPECT_FALSE(ran);
}

TEST(Hooks, ObservingHookOnLeafRegisteredAfterUse) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor loss = (x * x).sum();
  int calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    EXPECT_TRUE(HasValues(g, {2, 4, 6}));
  });
  loss.backward();
  EXPECT_EQ(calls, 1);
}

TEST(Hooks, ReplacingHookOnLeafChangesAccumulatedGrad) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  x.register_hook([](const Tensor& g) { return g * 2; });
  (x * x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {4, 8, 12}));
}

TEST(Hooks, HooksOnNonLeafObserveAndReplaceDownstreamGradient) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * 2;
  std::vector<Tensor> seen;
  y.register_hook([&](const Tensor& g) { seen.push_back(g.clone()); });
  y.register_hook([](const Tensor& g) { return g * 10; });
  (y * y).sum().backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(HasValues(seen[0], {4, 8, 12}));
  EXPECT_TRUE(HasValues(x.grad(), {80, 160, 240}));  // torch: 2 * 10 * 2y
}

TEST(Hooks, HooksRunInRegistrationOrderAndChain) {
  Tensor x = Leaf({1.0});
  Tensor y = x * 1;
  y.register_hook([](const Tensor& g) { return g + 1; });  // 1 -> 2
  y.register_hook([](const Tensor& g) { return g * 3; });  // 2 -> 6
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {6}));
}

TEST(Hooks, RemovedHookIsNotCalled) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * 2;
  int calls = 0;
  unsigned handle = y.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 100;
  });
  y.remove_hook(handle);
  y.sum().backward();
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(HasValues(x.grad(), {2, 2, 2}));
}

TEST(Hooks, RemovedLeafHookIsNotCalled) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor loss = (x * 3).sum();
  int calls = 0;
  unsigned handle = x.register_hook([&](const Tensor&) { ++calls; });
  x.remove_hook(handle);
  loss.backward();
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(HasValues(x.grad(), {3, 3}));
}

TEST(Hooks, LeafHookRegisteredBeforeAnyUseIsCalled) {
  // torch: x.register_hook(f) before x is used in any op still fires on the later backward.
  Tensor x = Leaf({1.0, 2.0, 3.0});
  int calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 2;
  });
  (x * x).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(HasValues(x.grad(), {4, 8, 12}));
}

// ---- Tensor::backward and dydx::backward ----------------------------------------------------------

TEST(Backward, ExplicitGradientWeightsTheVjp) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * x;
  y.backward(tensor({1.0, 0.5, 2.0}));
  EXPECT_TRUE(HasValues(x.grad(), {2, 2, 12}));
}

TEST(Backward, InputsRestrictAccumulationToListedLeaves) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor w = Leaf({3.0, 4.0});
  (x * w).sum().backward({}, std::nullopt, false, {x});
  EXPECT_TRUE(HasValues(x.grad(), {3, 4}));
  EXPECT_FALSE(w.grad().defined());
}

TEST(Backward, InputsNonLeafWithRetainGrad) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor w = Leaf({3.0, 4.0});
  Tensor y = x * 2;
  y.retain_grad();
  (y * w).sum().backward({}, std::nullopt, false, {y});
  EXPECT_TRUE(HasValues(y.grad(), {3, 4}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(Backward, InputsNonLeafWithoutRetainGradStillGetsGrad) {
  // torch: y = x*2; (y*w).sum().backward(inputs=[y]) fills y.grad = w, leaves x.grad and w.grad None.
  Tensor x = Leaf({1.0, 2.0});
  Tensor w = Leaf({3.0, 4.0});
  Tensor y = x * 2;
  (y * w).sum().backward({}, std::nullopt, false, {y});
  EXPECT_TRUE(HasValues(y.grad(), {3, 4}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(Backward, FreeFunctionSumsSeveralOutputs) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  backward({(x * 2).sum(), (x * x).sum()});
  EXPECT_TRUE(HasValues(x.grad(), {4, 6, 8}));
}

TEST(Backward, CreateGraphMakesLeafGradDifferentiable) {
  Tensor x = Leaf({1.0, 2.0});
  x.pow(3).sum().backward({}, std::nullopt, /*create_graph=*/true);
  EXPECT_TRUE(HasValues(x.grad(), {3, 12}));
  EXPECT_TRUE(x.grad().requires_grad());
  TensorList gg = grad({x.grad().sum()}, {x});
  EXPECT_TRUE(HasValues(gg[0], {6, 12}));
  x.set_grad(Tensor());  // as PyTorch advises: the grad's graph refers back to x, a reference cycle
}

// ---- dydx::grad -----------------------------------------------------------------------------------

TEST(GradFunction, MultipleOutputsSumTheirVjps) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  TensorList g = grad({(x * 2).sum(), (x * x).sum()}, {x});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_TRUE(HasValues(g[0], {4, 6, 8}));
  EXPECT_FALSE(x.grad().defined());  // grad() never accumulates into .grad
}

TEST(GradFunction, MultipleInputs) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor w = Leaf({4.0, 5.0, 6.0});
  TensorList g = grad({(x * w).sum()}, {x, w});
  ASSERT_EQ(g.size(), 2u);
  EXPECT_TRUE(HasValues(g[0], {4, 5, 6}));
  EXPECT_TRUE(HasValues(g[1], {1, 2, 3}));
}

TEST(GradFunction, GradOutputsWeightTheVjp) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  TensorList g = grad({x * x}, {x}, {tensor({1.0, 0.5, 2.0})});
  EXPECT_TRUE(HasValues(g[0], {2, 2, 12}));
}

TEST(GradFunction, UnusedInputWithAllowUnusedIsUndefined) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor u = Leaf({1.0});
  TensorList g = grad({(x * 2).sum()}, {x, u}, {}, std::nullopt, false, /*allow_unused=*/true);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_TRUE(HasValues(g[0], {2, 2, 2}));
  EXPECT_FALSE(g[1].defined());
}

TEST(GradFunction, GradWithRespectToNonLeafIntermediate) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * 2;
  Tensor z = (y * y).sum();
  TensorList g = grad({z}, {y});
  EXPECT_TRUE(HasValues(g[0], {4, 8, 12}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(y.grad().defined());
}

TEST(GradFunction, ResultHasNoHistoryWithoutCreateGraph) {
  Tensor x = Leaf({1.0, 2.0});
  TensorList g = grad({x.pow(3).sum()}, {x});
  EXPECT_FALSE(g[0].requires_grad());
  EXPECT_EQ(g[0].grad_fn(), nullptr);
}

// Graphs far larger than the engine's inline tables (16 nodes), with every node also reading the
// leaf, so that dependency counts and the order of the walk matter: y_{k+1} = c*y_k + x.
TEST(Grad, LongChainWithFanOutMatchesClosedForm) {
  const double c = 0.99, x0 = 0.3;
  const int n = 300;
  Tensor x = Leaf({x0}, kFloat64);
  Tensor y = x;
  Tensor middle;
  for (int k = 0; k < n; ++k) {
    y = y * c + x;
    if (k == n / 2 - 1) middle = y;  // y_{n/2}
  }
  // dy_n/dx = c^n + (1 - c^n) / (1 - c); dy_n/dy_{n/2} = c^(n/2).
  const double expected = std::pow(c, n) + (1 - std::pow(c, n)) / (1 - c);
  auto grads = grad({y.sum()}, {x, middle}, {}, true);
  EXPECT_NEAR(grads[0].item<double>(), expected, 1e-12 * expected);
  EXPECT_NEAR(grads[1].item<double>(), std::pow(c, n / 2), 1e-15);
  y.sum().backward();
  EXPECT_NEAR(x.grad().item<double>(), expected, 1e-12 * expected);
}

// ---- freed graphs ---------------------------------------------------------------------------------

TEST(RetainGraph, SecondBackwardWithoutRetainGraphFails) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = (x * x).sum();
  y.backward();
  const std::string message = ErrorMessage([&] { y.backward(); });
  EXPECT_NE(message.find("second time"), std::string::npos) << message;
  EXPECT_THROW(y.backward(), dydx::Error);
}

TEST(RetainGraph, SecondGradWithoutRetainGraphFails) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x.exp().sum();
  grad({y}, {x});
  const std::string message = ErrorMessage([&] { grad({y}, {x}); });
  EXPECT_NE(message.find("second time"), std::string::npos) << message;
}

TEST(RetainGraph, RetainGraphAllowsRepeatedBackward) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = (x * x).sum();
  y.backward({}, /*retain_graph=*/true);
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_TRUE(HasValues(x.grad(), {6, 12}));
}

TEST(RetainGraph, GraphWithoutSavedTensorsCanBeRerun) {
  // torch allows s.backward() twice when no node saved anything: (x+1).sum().
  Tensor x = Leaf({1.0, 2.0});
  Tensor s = (x + 1).sum();
  s.backward();
  EXPECT_NO_THROW(s.backward());
  EXPECT_TRUE(HasValues(x.grad(), {2, 2}));
}

// ---- GradOptions and BackwardOptions: the keyword arguments by name ------------------------------

// libtorch's positional calls with a braced 4th argument still compile (and mean what they mean there).
TEST(GradOptions, BracedPositionalArgumentsStillPickTheLibtorchOverload) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_();
  Tensor y = (x * x).sum();
  EXPECT_TRUE(equal(grad({y}, {x}, {}, {true})[0], 2 * x.detach()));  // retain_graph = true
  EXPECT_TRUE(equal(grad({y}, {x}, {}, {})[0], 2 * x.detach()));      // retain_graph unset: freed
  EXPECT_THROW(grad({y}, {x}), Error);
  Tensor z = (x * x).sum();
  backward({z}, {}, {});
  EXPECT_TRUE(equal(x.grad(), 2 * x.detach()));
}

TEST(GradOptions, DefaultsMatchPositionalDefaults) {
  Tensor x = Leaf({1.0, 2.0, 3.0}, kFloat64);
  Tensor y = x.pow(3) * 2;
  Tensor u = tensor({1.0, -0.5, 2.0}, kFloat64);
  Tensor by_name = grad({y}, {x}, {u}, GradOptions{.retain_graph = true})[0];
  Tensor by_position = grad({y}, {x}, {u}, /*retain_graph=*/true)[0];
  EXPECT_TRUE(equal(by_name, by_position));
  EXPECT_TRUE(HasValues(by_name, {6, -12, 108}));
  EXPECT_FALSE(by_name.requires_grad());
}

TEST(GradOptions, CreateGraphAndAllowUnusedMatchPositional) {
  Tensor x = Leaf({0.5, -1.0}, kFloat64);
  Tensor unused = Leaf({3.0}, kFloat64);
  Tensor y = (x.sin() * x).sum();
  TensorList by_name = grad({y}, {x, unused}, {}, {.create_graph = true, .allow_unused = true});
  TensorList by_position = grad({y}, {x, unused}, {}, std::nullopt, /*create_graph=*/true, /*allow_unused=*/true);
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_TRUE(equal(by_name[0], by_position[0]));
  EXPECT_FALSE(by_name[1].defined());
  EXPECT_FALSE(by_position[1].defined());
  // create_graph took effect: the gradient is differentiable, and its own gradient matches.
  ASSERT_TRUE(by_name[0].requires_grad());
  // The two gradients' graphs share y's nodes, so the first second-order pass keeps them.
  Tensor second_by_name = grad({by_name[0].sum()}, {x}, {}, {.retain_graph = true})[0];
  Tensor second_by_position = grad({by_position[0].sum()}, {x})[0];
  EXPECT_TRUE(equal(second_by_name, second_by_position));
}

TEST(GradOptions, AllowUnusedFalseRaisesForAnUnusedInput) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor unused = Leaf({1.0});
  Tensor y = (x * 2).sum();
  const std::string message =
      ErrorMessage([&] { grad({y}, {x, unused}, {}, {.retain_graph = true, .allow_unused = false}); });
  EXPECT_NE(message.find("appears to not have been used in the graph"), std::string::npos) << message;
  EXPECT_NE(message.find("input 1"), std::string::npos) << message;
  TensorList g = grad({y}, {x, unused}, {}, {.allow_unused = true});
  EXPECT_TRUE(HasValues(g[0], {2, 2}));
  EXPECT_FALSE(g[1].defined());
}

TEST(GradOptions, RetainGraphDecidesWhetherTheGraphIsFreed) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x.exp().sum();
  Tensor first = grad({y}, {x}, {}, {.retain_graph = true})[0];
  Tensor second = grad({y}, {x}, {}, {.retain_graph = false})[0];
  EXPECT_TRUE(equal(first, second));
  const std::string message = ErrorMessage([&] { grad({y}, {x}, {}, GradOptions{}); });
  EXPECT_NE(message.find("second time"), std::string::npos) << message;
}

TEST(GradOptions, RetainGraphDefaultsToCreateGraph) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x.exp().sum();
  grad({y}, {x}, {}, {.create_graph = true});  // retains the graph, as create_graph=True does in PyTorch
  EXPECT_NO_THROW(grad({y}, {x}, {}, {.retain_graph = false, .create_graph = true}));
  const std::string message = ErrorMessage([&] { grad({y}, {x}, {}, {.create_graph = true}); });
  EXPECT_NE(message.find("second time"), std::string::npos) << message;
}

TEST(GradOptions, IsGradsBatchedMatchesPositionalAndOneRowAtATime) {
  Tensor x = Leaf({1.0, 2.0, 3.0}, kFloat64);
  Tensor y = x * x;
  Tensor rows = eye(3, kFloat64);
  Tensor by_name = grad({y}, {x}, {rows}, {.retain_graph = true, .is_grads_batched = true})[0];
  Tensor by_position = grad({y}, {x}, {rows}, true, false, false, /*is_grads_batched=*/true)[0];
  EXPECT_TRUE(equal(by_name, by_position));
  ASSERT_EQ(Shape(by_name), (std::vector<int64_t>{3, 3}));
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_TRUE(equal(by_name[i], grad({y}, {x}, {rows[i]}, {.retain_graph = true})[0])) << "row " << i;
}

TEST(BackwardOptions, DefaultsMatchPositionalBackward) {
  Tensor a = Leaf({1.0, 2.0}, kFloat64);
  Tensor b = Leaf({1.0, 2.0}, kFloat64);
  backward({(a * a * 3).sum()}, {}, BackwardOptions{});
  backward({(b * b * 3).sum()});
  EXPECT_TRUE(equal(a.grad(), b.grad()));
  EXPECT_TRUE(HasValues(a.grad(), {6, 12}));
  EXPECT_FALSE(a.grad().requires_grad());
}

TEST(BackwardOptions, RetainGraphFalseFreesTheGraph) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = (x * x).sum();
  backward({y}, {}, {.retain_graph = true});
  backward({y}, {}, {.retain_graph = false});
  EXPECT_TRUE(HasValues(x.grad(), {4, 8}));
  const std::string message = ErrorMessage([&] { backward({y}, {}, {.retain_graph = false}); });
  EXPECT_NE(message.find("second time"), std::string::npos) << message;
  EXPECT_NE(message.find("retain_graph=true"), std::string::npos) << message;
}

TEST(BackwardOptions, CreateGraphMakesGradDifferentiable) {
  Tensor x = Leaf({1.0, 2.0}, kFloat64);
  backward({x.pow(3).sum()}, {}, {.create_graph = true});
  ASSERT_TRUE(x.grad().requires_grad());
  EXPECT_TRUE(HasValues(x.grad(), {3, 12}));
  Tensor second = grad({x.grad().sum()}, {x})[0];
  EXPECT_TRUE(HasValues(second, {6, 12}));
  x.set_grad(Tensor());  // as PyTorch advises: the grad's graph refers back to x, a reference cycle
}

TEST(BackwardOptions, InputsRestrictWhichTensorsGetGrad) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor w = Leaf({3.0, 4.0});
  Tensor x2 = Leaf({1.0, 2.0});
  Tensor w2 = Leaf({3.0, 4.0});
  backward({(x * w).sum()}, {}, {.inputs = {w}});
  backward({(x2 * w2).sum()}, {}, std::nullopt, false, {w2});
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(HasValues(w.grad(), {1, 2}));
  EXPECT_FALSE(x2.grad().defined());
  EXPECT_TRUE(equal(w.grad(), w2.grad()));
}

// ---- version counter and in-place ops -------------------------------------------------------------

TEST(InPlace, VersionCounterIncrementsPerInPlaceOp) {
  Tensor z = zeros({3});
  EXPECT_EQ(z._version(), 0);
  z.add_(tensor({1.0, 2.0, 3.0}), 2);
  EXPECT_EQ(z._version(), 1);
  z.mul_(2);
  EXPECT_EQ(z._version(), 2);
  z.fill_(7);
  EXPECT_EQ(z._version(), 3);
  z.zero_();
  EXPECT_EQ(z._version(), 4);
  z.copy_(tensor({1, 2, 3}));
  EXPECT_EQ(z._version(), 5);
  Tensor view = z.select(0, 1);
  view.mul_(2);
  EXPECT_EQ(z._version(), 6);  // views share the counter
  EXPECT_EQ(view._version(), 6);
}

TEST(InPlace, ModifyingSavedTensorMakesBackwardFail) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor a = x * 2;
  Tensor b = a * a;  // saves a
  EXPECT_EQ(a._version(), 0);
  a.add_(1);
  EXPECT_EQ(a._version(), 1);
  const std::string message = ErrorMessage([&] { b.sum().backward(); });
  EXPECT_NE(message.find("modified by an inplace operation"), std::string::npos) << message;
}

TEST(InPlace, ModifyingSavedLeafUnderNoGradMakesBackwardFail) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = x.sin();  // saves x
  {
    NoGradGuard no_grad;
    x.add_(1);
  }
  EXPECT_THROW(y.sum().backward(), dydx::Error);
}

TEST(InPlace, OnLeafRequiringGradThrows) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  const std::string message = ErrorMessage([&] { x.mul_(2); });
  EXPECT_NE(message.find("leaf Variable that requires grad"), std::string::npos) << message;
  EXPECT_TRUE(HasValues(x, {1, 2, 3}));  // unchanged
  EXPECT_THROW(x.add_(1), dydx::Error);
  EXPECT_THROW(x.zero_(), dydx::Error);
  EXPECT_THROW(x.fill_(3), dydx::Error);
  EXPECT_THROW(x.copy_(tensor({4.0, 5.0, 6.0})), dydx::Error);
}

TEST(InPlace, OnViewOfLeafRequiringGradThrows) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  const std::string message = ErrorMessage([&] { x.select(0, 0).mul_(2); });
  EXPECT_NE(message.find("view of a leaf Variable"), std::string::npos) << message;
  EXPECT_THROW(x.index({Slice(), 1}).zero_(), dydx::Error);
  EXPECT_TRUE(HasValues(x, {1, 2, 3, 4}));
}

// A leaf that is itself a view (reshape of a tensor that does not require grad): a write through a
// view of it is refused as PyTorch refuses it. Its views had the root as their base, so the write
// passed for a write into the root and rewrote the leaf's history (grad [[0,200],[0,0],[0,0]] for 2w).
TEST(InPlace, OnViewOfALeafThatIsItselfAViewThrows) {
  Tensor w = arange(6, kFloat64).reshape({3, 2}).requires_grad_(true);
  for (const auto& write : std::vector<std::function<void()>>{
           [&] { w.select(0, 0).mul_(10); }, [&] { w.t().select(0, 1).add_(1); }, [&] { w.index({Slice(), 1}).zero_(); },
           [&] { w.view({6}).narrow(0, 2, 2).fill_(3); }}) {
    const std::string message = ErrorMessage(write);
    EXPECT_NE(message.find("view of a leaf Variable"), std::string::npos) << message;
  }
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(HasValues(w, {0, 1, 2, 3, 4, 5}));
  (w * w).sum().backward();
  EXPECT_TRUE(HasValues(w.grad(), {0, 2, 4, 6, 8, 10}));
  // Under no_grad the write is allowed, as in PyTorch, and reaches the shared memory.
  Tensor root = zeros({4}, kFloat64);
  Tensor v = root.view({2, 2}).requires_grad_(true);
  {
    NoGradGuard no_grad;
    v.select(0, 1).fill_(7);
  }
  EXPECT_TRUE(HasValues(root, {0, 0, 7, 7}));
  EXPECT_TRUE(v.is_leaf());
}

TEST(InPlace, MulOnNonLeafGivesPyTorchGradient) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * 2;
  y.mul_(3);
  EXPECT_TRUE(HasValues(y, {6, 12, 18}));
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {6, 6, 6}));
}

TEST(InPlace, ThroughViewOfNonLeafRewritesBaseHistory) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  Tensor y = x.clone();
  y.select(0, 0).mul_(2);
  EXPECT_EQ(NodeName(y), "CopySlices");
  EXPECT_TRUE(HasValues(y, {2, 4, 3, 4}));
  (y * y).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {8, 16, 6, 8}));  // torch
}

TEST(InPlace, ThroughViewWithRequiringOperandGivesBothGradients) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  Tensor w = Leaf({5.0, 6.0});
  Tensor y = x.clone();
  y[1].mul_(w);
  EXPECT_TRUE(HasValues(y, {1, 2, 15, 24}));
  (y * y).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 4, 150, 288}));
  EXPECT_TRUE(HasValues(w.grad(), {90, 192}));
}

TEST(InPlace, ViewOfUntrackedTensorBecomesTrackedByCopy) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor buffer = zeros({2, 2});
  buffer.select(0, 1).copy_(x * 3);
  EXPECT_TRUE(buffer.requires_grad());
  EXPECT_EQ(NodeName(buffer), "CopySlices");
  EXPECT_TRUE(HasValues(buffer, {0, 0, 3, 6}));
  buffer.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {3, 3}));
}

// ---- copy_, fill_, zero_, add_, mul_ --------------------------------------------------------------

TEST(InPlaceOps, ValuesWithoutAutograd) {
  Tensor z = zeros({3});
  z.add_(tensor({1.0, 2.0, 3.0}), 2);
  EXPECT_TRUE(HasValues(z, {2, 4, 6}));
  z.mul_(2);
  EXPECT_TRUE(HasValues(z, {4, 8, 12}));
  z.fill_(7);
  EXPECT_TRUE(HasValues(z, {7, 7, 7}));
  z.zero_();
  EXPECT_TRUE(HasValues(z, {0, 0, 0}));
  z.copy_(tensor({1, 2, 3}));  // int64 source, float32 destination
  EXPECT_EQ(z.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(z, {1, 2, 3}));
  z.add_(1);
  z.mul_(2.5);
  EXPECT_TRUE(HasValues(z, {5, 7.5, 10}));
  z.sub_(tensor({1.0, 1.0, 1.0}), 2);
  EXPECT_TRUE(HasValues(z, {3, 5.5, 8}));
  z.div_(tensor({3.0, 5.5, 8.0}));
  EXPECT_TRUE(HasValues(z, {1, 1, 1}));
}

TEST(InPlaceOps, CopyBroadcastsSource) {
  Tensor z = zeros({2, 3});
  z.copy_(tensor({1.0, 2.0, 3.0}));
  EXPECT_TRUE(HasValues(z, {1, 2, 3, 1, 2, 3}));
}

TEST(InPlaceOps, CompoundAssignmentOperators) {
  Tensor z = ones({2});
  z += tensor({1.0, 2.0});
  z *= 3;
  z -= tensor({1.0, 1.0});
  z /= tensor({5.0, 8.0});
  EXPECT_TRUE(HasValues(z, {1, 1}));
  EXPECT_EQ(z._version(), 4);
}

TEST(InPlaceOps, InPlaceOnPlainTensorWithRequiringOperandRecordsHistory) {
  Tensor w = Leaf({1.0, 2.0});
  Tensor z = ones({2});
  z.mul_(w);
  EXPECT_TRUE(z.requires_grad());
  EXPECT_FALSE(z.is_leaf());
  z.sum().backward();
  EXPECT_TRUE(HasValues(w.grad(), {1, 1}));
}

TEST(InPlaceOps, CopyGradientGoesToSourceOnly) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor w = Leaf({4.0, 5.0, 6.0});
  Tensor y = x * 1;
  y.copy_(w);
  EXPECT_TRUE(HasValues(y, {4, 5, 6}));
  (y * y).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 0, 0}));
  EXPECT_TRUE(HasValues(w.grad(), {8, 10, 12}));
}

TEST(InPlaceOps, FillCutsGradientToOverwrittenTensor) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * 2;
  y.fill_(5);
  EXPECT_TRUE(HasValues(y, {5, 5, 5}));
  (y * x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {5, 5, 5}));  // only the direct path through x
}

TEST(InPlaceOps, ZeroCutsGradientToOverwrittenTensor) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor y = x * 2;
  y.zero_();
  (y + x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 1, 1}));
}

TEST(InPlaceOps, AddWithAlphaGradients) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor w = Leaf({4.0, 5.0, 6.0});
  Tensor y = x * 1;
  y.add_(w, 3);
  EXPECT_TRUE(HasValues(y, {13, 17, 21}));
  (y * y).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {26, 34, 42}));
  EXPECT_TRUE(HasValues(w.grad(), {78, 102, 126}));
}

TEST(InPlaceOps, MulByTensorGradients) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor w = Leaf({4.0, 5.0, 6.0});
  Tensor y = x * 1;
  y.mul_(w);
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {4, 5, 6}));
  EXPECT_TRUE(HasValues(w.grad(), {1, 2, 3}));
}

// ---- higher-order derivatives ---------------------------------------------------------------------

TEST(HigherOrder, CubeFirstSecondAndThirdDerivative) {
  Tensor x = Leaf({2.0});
  Tensor y = x.pow(3);
  Tensor g1 = grad({y.sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_TRUE(HasValues(g1, {12}));
  EXPECT_TRUE(g1.requires_grad());
  Tensor g2 = grad({g1.sum()}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(HasValues(g2, {12}));  // 6x
  EXPECT_TRUE(g2.requires_grad());
  Tensor g3 = grad({g2.sum()}, {x})[0];
  EXPECT_TRUE(HasValues(g3, {6}));
  EXPECT_FALSE(g3.requires_grad());
}

TEST(HigherOrder, SecondDerivativeOfCubeIsSixX) {
  Tensor x = Leaf({-1.5, 0.5, 3.0}, kFloat64);
  Tensor g1 = grad({x.pow(3).sum()}, {x}, {}, std::nullopt, true)[0];
  Tensor g2 = grad({g1.sum()}, {x})[0];
  EXPECT_TRUE(HasValues(g2, {-9, 3, 18}));
}

TEST(HigherOrder, HessianVectorProduct) {
  // f = x0^2 * x1^3 at (1, 2): grad (16, 12), H = [[16, 24], [24, 12]], H v for v = (0.5, -1) is (-16, 0).
  Tensor x = Leaf({1.0, 2.0});
  Tensor v = tensor({0.5, -1.0});
  Tensor f = x[0].pow(2) * x[1].pow(3);
  Tensor g = grad({f}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(HasValues(g, {16, 12}));
  Tensor hv = grad({(g * v).sum()}, {x})[0];
  EXPECT_TRUE(HasValues(hv, {-16, 0}));
}

TEST(HigherOrder, MatmulHessianVectorProduct) {
  // f = x^T A x: grad = (A + A^T) x, Hessian = A + A^T.
  Tensor A = tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64);
  Tensor x = Leaf({1.0, -1.0}, kFloat64);
  Tensor v = tensor({2.0, 1.0}, kFloat64);
  Tensor f = matmul(x, matmul(A, x));
  Tensor g = grad({f}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(HasValues(g, {-3, -3}));  // (A+A^T) x = [[2,5],[5,8]] [1,-1]
  Tensor hv = grad({matmul(g, v)}, {x})[0];
  EXPECT_TRUE(HasValues(hv, {9, 18}));
}

struct SecondOrderCase {
  const char* label;
  std::function<Tensor(const Tensor&)> f;
  std::function<double(double)> d1, d2;
};

TEST(HigherOrder, ElementwiseSecondDerivativesMatchClosedForms) {
  const std::vector<double> points = {0.3, 0.7, 1.2};
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  const std::vector<SecondOrderCase> cases = {
      {"sin", [](const Tensor& x) { return x.sin(); }, [](double v) { return std::cos(v); },
       [](double v) { return -std::sin(v); }},
      {"cos", [](const Tensor& x) { return x.cos(); }, [](double v) { return -std::sin(v); },
       [](double v) { return -std::cos(v); }},
      {"exp", [](const Tensor& x) { return x.exp(); }, [](double v) { return std::exp(v); },
       [](double v) { return std::exp(v); }},
      {"log", [](const Tensor& x) { return x.log(); }, [](double v) { return 1 / v; },
       [](double v) { return -1 / (v * v); }},
      {"sqrt", [](const Tensor& x) { return x.sqrt(); }, [](double v) { return 0.5 / std::sqrt(v); },
       [](double v) { return -0.25 * std::pow(v, -1.5); }},
      {"tan", [](const Tensor& x) { return x.tan(); }, [](double v) { return 1 + std::tan(v) * std::tan(v); },
       [](double v) { return 2 * std::tan(v) * (1 + std::tan(v) * std::tan(v)); }},
      {"tanh", [](const Tensor& x) { return x.tanh(); }, [](double v) { return 1 - std::tanh(v) * std::tanh(v); },
       [](double v) { return -2 * std::tanh(v) * (1 - std::tanh(v) * std::tanh(v)); }},
      {"sigmoid", [](const Tensor& x) { return x.sigmoid(); }, [&](double v) { return sig(v) * (1 - sig(v)); },
       [&](double v) { return sig(v) * (1 - sig(v)) * (1 - 2 * sig(v)); }},
      {"pow 2.5", [](const Tensor& x) { return x.pow(2.5); }, [](double v) { return 2.5 * std::pow(v, 1.5); },
       [](double v) { return 3.75 * std::pow(v, 0.5); }},
      {"reciprocal via div", [](const Tensor& x) { return 1.0 / x; }, [](double v) { return -1 / (v * v); },
       [](double v) { return 2 / (v * v * v); }},
      {"x * exp(x)", [](const Tensor& x) { return x * x.exp(); }, [](double v) { return (1 + v) * std::exp(v); },
       [](double v) { return (2 + v) * std::exp(v); }},
  };
  for (const SecondOrderCase& c : cases) {
    Tensor x = tensor(std::vector<double>(points), kFloat64).requires_grad_();
    Tensor g1 = grad({c.f(x).sum()}, {x}, {}, std::nullopt, true)[0];
    std::vector<double> e1, e2;
    for (double p : points) {
      e1.push_back(c.d1(p));
      e2.push_back(c.d2(p));
    }
    EXPECT_TRUE(HasValues(g1, e1, 1e-10)) << c.label;
    ASSERT_TRUE(g1.requires_grad()) << c.label;
    Tensor g2 = grad({g1.sum()}, {x})[0];
    EXPECT_TRUE(HasValues(g2, e2, 1e-10)) << c.label;
  }
}

TEST(HigherOrder, ReluFirstDerivativeStaysDifferentiable) {
  // torch: g1 = grad(x.relu().sum(), x, create_graph=True) has grad_fn ThresholdBackwardBackward0,
  // and grad(g1.sum(), x, allow_unused=True) gives zeros.
  Tensor x = Leaf({0.3, 0.7}, kFloat64);
  Tensor g1 = grad({x.relu().sum()}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(HasValues(g1, {1, 1}));
  EXPECT_TRUE(g1.requires_grad());
  Tensor g2;
  EXPECT_NO_THROW(g2 = grad({g1.sum()}, {x}, {}, std::nullopt, false, /*allow_unused=*/true)[0]);
  ASSERT_TRUE(g2.defined());
  EXPECT_TRUE(HasValues(g2, {0, 0}));
}

TEST(HigherOrder, MixedSecondDerivativeOfProduct) {
  Tensor x = Leaf({2.0}, kFloat64);
  Tensor y = Leaf({3.0}, kFloat64);
  Tensor f = (x * x * y).sum();                                     // f_x = 2xy, f_xy = 2x
  Tensor fx = grad({f}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(HasValues(fx, {12}));
  Tensor fxy = grad({fx.sum()}, {y})[0];
  EXPECT_TRUE(HasValues(fxy, {4}));
}

TEST(HigherOrder, DoubleBackwardThroughViewsAndReductions) {
  // f = sum(cat(x, x^2)) * mean(x^3): check d2f/dx2 for x = (1, 2) against PyTorch-computed values.
  Tensor x = Leaf({1.0, 2.0}, kFloat64);
  Tensor f = cat({x, x.pow(2)}).sum() * x.pow(3).mean();
  Tensor g = grad({f}, {x}, {}, std::nullopt, true)[0];
  // g_i = (1 + 2 x_i) * m + s * 1.5 x_i^2 with s = 8, m = 4.5
  EXPECT_TRUE(HasValues(g, {25.5, 70.5}));
  Tensor h = grad({g.sum()}, {x})[0];
  EXPECT_TRUE(HasValues(h, {67.5, 142.5}));  // torch: H summed over rows
}

// ---- gradients through broadcasting, dtypes, views and reductions (values from PyTorch) ------------

TEST(GradientValues, BroadcastOperandGradIsSummed) {
  Tensor x = Leaf({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  Tensor b = Leaf({1.0, 2.0, 3.0});
  ((x + b) * (x - b)).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(Shape(b.grad()), std::vector<int64_t>{3});
  EXPECT_TRUE(HasValues(b.grad(), {-4, -8, -12}));
}

TEST(GradientValues, GradKeepsEachLeafsDtype) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor d = Leaf({3.0, 4.0}, kFloat64);
  (x * d).sum().backward();
  EXPECT_EQ(x.grad().dtype(), kFloat32);
  EXPECT_EQ(d.grad().dtype(), kFloat64);
  EXPECT_TRUE(HasValues(x.grad(), {3, 4}));
  EXPECT_TRUE(HasValues(d.grad(), {1, 2}));
}

TEST(GradientValues, ThroughReshapeOfNonContiguous) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  (x.t().reshape({4}) * arange(4).to(kFloat32)).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 2, 1, 3}));
}

TEST(GradientValues, ThroughMatrixVectorProduct) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  Tensor v = Leaf({1.0, -1.0});
  matmul(x, v).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, -1, 1, -1}));
  EXPECT_TRUE(HasValues(v.grad(), {4, 6}));
}

TEST(GradientValues, ThroughBroadcastBatchedMatmul) {
  // d/dA sum(A @ B) = ones @ B^T summed over the broadcast batch; d/dB = A^T @ ones summed likewise.
  Tensor A = Leaf({{{1.0, 2.0}, {3.0, 4.0}}});   // [1,2,2]
  Tensor B = Leaf({{{1.0, 0.0}, {0.0, 1.0}}, {{2.0, 1.0}, {1.0, 2.0}}});  // [2,2,2]
  matmul(A, B).sum().backward();
  EXPECT_EQ(Shape(A.grad()), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_TRUE(HasValues(A.grad(), {4, 4, 4, 4}));
  EXPECT_TRUE(HasValues(B.grad(), {4, 4, 6, 6, 4, 4, 6, 6}));
}

TEST(GradientValues, ThroughSelectExpandAndStack) {
  Tensor x = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  Tensor y = x.index({Slice(), 1});
  (y * y).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 4, 0, 8}));

  Tensor e = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  (e.expand({3, 2, 2}) * arange(12).to(kFloat32).view({3, 2, 2})).sum().backward();
  EXPECT_TRUE(HasValues(e.grad(), {12, 15, 18, 21}));

  Tensor s = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  (stack({s, s * 2}, 1).sum({0, 2}) * tensor({1.0, 10.0})).sum().backward();
  EXPECT_TRUE(HasValues(s.grad(), {21, 21, 21, 21}));
}

TEST(GradientValues, PowWithTensorExponentAndBase) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  x.pow(tensor({2.0, 0.0, 1.0})).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 0, 1}));
  Tensor e = Leaf({0.0, 1.0, 2.0});
  pow(tensor({0.0, 2.0, 3.0}), e).sum().backward();
  EXPECT_TRUE(HasValues(e.grad(), {0, 2 * std::log(2.0), 9 * std::log(3.0)}));
}

TEST(GradientValues, AbsAndReluAtZeroGiveZero) {
  Tensor x = Leaf({0.0, 1.0, -2.0});
  x.abs().sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {0, 1, -1}));
  Tensor y = Leaf({0.0, 1.0, -2.0});
  y.relu().sum().backward();
  EXPECT_TRUE(HasValues(y.grad(), {0, 1, 0}));
}

TEST(GradientValues, WhereRoutesGradient) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  where(gt(x.detach(), full({}, 1.5)), x * x, -x).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {-1, 4, 6}));
}

TEST(GradientValues, MinAlongDimAndMeanKeepdim) {
  Tensor x = Leaf({{1.0, 5.0}, {7.0, 3.0}});
  std::get<0>(x.min(0)).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 0, 0, 1}));
  Tensor y = Leaf({{1.0, 2.0}, {3.0, 4.0}});
  y.mean({1}, true).pow(2).sum().backward();
  EXPECT_TRUE(HasValues(y.grad(), {1.5, 1.5, 3.5, 3.5}));
}

TEST(GradientValues, InPlaceAddOfItsOwnSource) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor a = x.clone();
  a.add_(x);
  a.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 2}));
}

// torch: x leaf; y = x*1; v = y[0]; y.mul_(2) -> v.grad_fn is AsStridedBackward0 and
// v.sum().backward() gives x.grad = [[2,2,2],[0,0,0]].
TEST(InPlace, OlderViewsTakeTheirBaseNewHistory) {
  Tensor x = ones({2, 3}, kFloat64).requires_grad_(true);
  Tensor y = x * 1.0;
  Tensor v = y.select(0, 0);
  y.mul_(2.0);
  EXPECT_STREQ(v.grad_fn()->name(), "AsStridedBackward0");
  EXPECT_EQ(v.to_vector<double>(), std::vector<double>({2, 2, 2}));
  v.sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), std::vector<double>({2, 2, 2, 0, 0, 0}));
}

// torch: y = x*1; a = y[0]; b = y[1]; a.mul_(3) -> b's history passes through CopySlices.
TEST(InPlace, WriteThroughOneViewRefreshesSiblingViews) {
  Tensor x = ones({2, 2}, kFloat64).requires_grad_(true);
  Tensor y = x * 1.0;
  Tensor a = y.select(0, 0), b = y.select(0, 1);
  a.mul_(3.0);
  (a.sum() + 2.0 * b.sum()).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), std::vector<double>({3, 3, 2, 2}));
}
