// In-place writes inside a compiled f: a write into a tensor f made, which no other tensor aliases,
// with no autograd history or tangent to carry, is a step (the same write on a copy of the old
// value at each replay); every other write makes f run itself. Either way a compiled f gives what f
// gives, bit for bit.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "compile_testing.hpp"

namespace dydx::testing {
namespace {

using func::compile;
using Fn = std::function<TensorList(const TensorList&)>;

/// Calls f and its compiled form on `calls` fresh inputs (each given a copy, as f may write into
/// its inputs): the same values bit for bit, and the same writes into the inputs. Returns the stats.
func::CompileStats expect_same_calls(const Fn& f, const std::function<TensorList()>& inputs, int calls,
                                     const std::string& what) {
  auto compiled = compile(f);
  for (int k = 0; k < calls; ++k) {
    const TensorList in = inputs();
    TensorList mine, theirs;
    for (const Tensor& t : in) mine.push_back(t.clone()), theirs.push_back(t.clone());
    const TensorList want = f(theirs);
    const TensorList got = compiled(mine);
    EXPECT_EQ(got.size(), want.size()) << what;
    for (size_t j = 0; j < got.size() && j < want.size(); ++j)
      expect_same(got[j], want[j], true, what + ", call " + std::to_string(k) + ", output " + std::to_string(j));
    for (size_t j = 0; j < in.size(); ++j)
      expect_same(mine[j], theirs[j], true, what + ", call " + std::to_string(k) + ", input " + std::to_string(j));
  }
  return compiled.stats();
}

TEST(CompileInPlace, WritesIntoTensorsFMadeReplay) {
  NoGradGuard no_grad;
  auto floats = [] { return TensorList{randn({4, 3}), randn({4, 3}, kFloat64), randn({3}).abs() + 0.5}; };
  const std::vector<std::pair<std::string, Fn>> fs = {
      {"binary ops, tensor and scalar", [](const TensorList& in) {
         Tensor h = in[0] * 2.0;
         h.add_(in[2]).sub_(in[0], 0.5).mul_(in[2]).div_(in[2] + 1.0);
         h.add_(1.5).mul_(-3).div_(full({}, 7.0));
         return TensorList{h};
       }},
      {"every unary op", [](const TensorList& in) {
         Tensor h = in[0].tanh();
         h.exp_().log_().sqrt_().sin_().cos_().tan_().tanh_().sigmoid_().relu_().neg_().abs_().log1p_().expm1_();
         h.erf_().clamp_(0.1, 0.9).clip_(std::nullopt, 0.5);
         return TensorList{h};
       }},
      {"addcmul_ and addcdiv_", [](const TensorList& in) {
         Tensor h = in[0] + 1.0;
         h.addcmul_(in[0], in[2], 0.5).addcdiv_(in[0], in[2], -2.0);
         return TensorList{h};
       }},
      {"fill_, zero_ and copy_ with broadcasting and a cast", [](const TensorList& in) {
         Tensor a = in[0].exp(), b = in[0].sin(), c = in[0].cos();
         a.fill_(2.5);
         b.zero_();
         c.copy_(in[1][0]);  // float64 [3] into float32 [4, 3]
         return TensorList{a + b, c};
       }},
      {"a float64 operand into float32, as the eager kernel rounds", [](const TensorList& in) {
         Tensor h = in[0] * 1.0;
         h.add_(in[1] * 1e-3).mul_(in[1]);
         return TensorList{h};
       }},
      {"x.mul_(x)", [](const TensorList& in) {
         Tensor h = in[0] + 0.25;
         h.mul_(h).add_(h);
         return TensorList{h};
       }},
      {"an accumulator made from no values", [](const TensorList& in) {
         Tensor total = zeros({4, 3});
         for (int k = 0; k < 4; ++k) total.add_(in[0] * static_cast<double>(k));
         Tensor count = zeros({}, kInt64);
         count.add_(3).mul_(2);
         return TensorList{total, count};
       }},
      {"the value read before the write stays the old one", [](const TensorList& in) {
         Tensor a = in[0] * 2.0;
         const Tensor b = a + 1.0;        // reads a before the write
         const Tensor s = a.sum();        // and its sum
         a.mul_(3.0);
         const Tensor v = a.t() * 1.0;    // a view taken after it reads the new value
         return TensorList{a, b, s, v, a.sum()};
       }},
      {"integers and bools", [](const TensorList& in) {
         Tensor n = (in[0] * 10).to(kInt64);
         n.add_(7).mul_(3).sub_(n.remainder(4));
         Tensor m = in[0] > 0;
         m.mul_(in[2] > 1.0).add_(in[0] < -1);
         return TensorList{n, m};
       }},
      {"the written tensor returned twice, and a fused run around the write", [](const TensorList& in) {
         Tensor h = (in[0] * 2.0).tanh();
         h.mul_(in[0]).add_(1.0);
         const Tensor after = (h * h).exp();
         return TensorList{h, after, h};
       }},
  };
  for (const auto& [name, f] : fs) {
    const func::CompileStats s = expect_same_calls(f, floats, 3, name);
    EXPECT_EQ(s.recordings, 1) << name;
    EXPECT_EQ(s.replays, 2) << name << ": " << s.eager_reason;
  }
}

// A write another tensor could see, or f's caller could, runs f: into an input or a captured tensor
// (f's caller sees it), into a view or a tensor a live view shares (the view sees it), into a tensor f
// keeps beyond the call (its next call reads it), and a write with autograd history to record.
TEST(CompileInPlace, WritesOthersCouldSeeRunF) {
  auto inputs = [] { return TensorList{randn({4, 3}), randn({3})}; };
  const Tensor captured = randn({4, 3});
  const Tensor w = randn({3}).requires_grad_();
  const std::vector<std::pair<std::string, Fn>> fs = {
      {"into an input", [](const TensorList& in) {
         Tensor x = in[0];
         x.add_(1.0);
         return TensorList{x * 2.0};
       }},
      {"into a captured tensor", [captured](const TensorList& in) {
         Tensor c = captured;
         c.mul_(1.0);
         return TensorList{c + in[0]};
       }},

      {"into a view", [](const TensorList& in) {
         Tensor h = in[0] * 2.0;
         h[0].add_(in[1]);
         return TensorList{h};
       }},
      {"into a tensor a live view shares", [](const TensorList& in) {
         Tensor h = in[0] * 2.0;
         const Tensor view = h.t();
         h.add_(1.0);
         return TensorList{view * 1.0};
       }},
      {"with history to record", [&w](const TensorList& in) {
         Tensor h = in[0] * w;
         h.mul_(2.0);
         return TensorList{dydx::grad({h.sum()}, {w})[0]};
       }},
  };
  for (const auto& [name, f] : fs) {
    const func::CompileStats s = expect_same_calls(f, inputs, 3, name);
    EXPECT_EQ(s.replays, 0) << name;
    EXPECT_FALSE(s.eager_reason.empty()) << name;
  }
  // Into a tensor f keeps beyond the call (a running sum): f and the compiled f, each with its own.
  auto keeper = [] {
    return [kept = std::make_shared<Tensor>()](const TensorList& in) {
      NoGradGuard no_grad;
      if (!kept->defined()) *kept = in[0] * 0.0;
      kept->add_(in[0]);
      return TensorList{*kept * 1.0};
    };
  };
  auto f = keeper();
  auto compiled = compile(keeper());
  for (int k = 0; k < 4; ++k) {
    const Tensor x = randn({4, 3});
    expect_same(compiled(TensorList{x})[0], f({x})[0], true, "running sum, call " + std::to_string(k));
  }
  EXPECT_EQ(compiled.stats().replays, 0);
  // Into a captured tensor that f read before the write: f and the compiled f, each with its own.
  const Tensor start = randn({3});
  auto flipper = [&start] {
    return [c = start.clone()](const TensorList& in) {
      NoGradGuard no_grad;
      Tensor mine = c;
      const Tensor y = mine + in[0];
      mine.mul_(-2.0);
      return TensorList{y, mine * 1.0};
    };
  };
  auto flip = flipper();
  auto compiled_flip = compile(flipper());
  for (int k = 0; k < 3; ++k) {
    const Tensor x = randn({3});
    const TensorList got = compiled_flip(TensorList{x}), want = flip({x});
    expect_same(got[0], want[0], true, "captured, read before, call " + std::to_string(k));
    expect_same(got[1], want[1], true, "captured, written, call " + std::to_string(k));
  }
  EXPECT_EQ(compiled_flip.stats().replays, 0);
  // Into an input that requires grad, which a call without grad mode gives f as itself (no alias).
  auto write_input = [](const TensorList& in) {
    NoGradGuard no_grad;
    Tensor x = in[0];
    x.mul_(2.0);
    return TensorList{x + 1.0};
  };
  auto compiled_write = compile(write_input);
  for (int k = 0; k < 3; ++k) {
    const Tensor a = randn({3}).requires_grad_(), b = a.detach().clone().requires_grad_();
    NoGradGuard no_grad;
    expect_same(compiled_write(TensorList{a})[0], write_input({b})[0], true, "input as itself, output");
    expect_same(a, b, true, "input as itself, written");
  }
  EXPECT_EQ(compiled_write.stats().replays, 0);
}

// A write that raises (a shape that does not broadcast) raises while recording, as f does, and leaves
// the recording to the next call.
TEST(CompileInPlace, AWriteThatRaisesRaises) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) {
    Tensor h = in[0] * 2.0;
    h.add_(in[1]);
    return TensorList{h};
  };
  auto compiled = compile(f);
  EXPECT_THROW(compiled({randn({4, 3}), randn({4, 4})}), Error);
  EXPECT_THROW(f({randn({4, 3}), randn({4, 4})}), Error);
  const TensorList in = {randn({4, 3}), randn({3})};
  expect_same(compiled(in)[0], f(in)[0], true, "after the error");
  expect_same(compiled(in)[0], f(in)[0], true, "replayed");
  EXPECT_EQ(compiled.stats().replays, 1) << compiled.stats().eager_reason;
}

}  // namespace
}  // namespace dydx::testing
