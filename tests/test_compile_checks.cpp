// Values a compiled f checks or reads: every check of values runs at every replay, whether or not an
// output needs the op that checks (a call raises wherever f raises); a kernel's reading of values
// (any, all) is a step, not a constant; values read into C++ (to_vector, item) make f run itself;
// printing shows the recording's values and does not stop the replays.
#include <gtest/gtest.h>

#include <functional>
#include <sstream>
#include <string>

#include "compile_testing.hpp"

namespace dydx::testing {
namespace {

using func::compile;
using Fn = std::function<TensorList(const TensorList&)>;

TEST(CompileChecks, AChecksStepRunsWhenNoOutputNeedsIt) {
  namespace F = nn::functional;
  const std::vector<int64_t> good = {0, 2, 1}, bad = {0, 7, 1};
  auto longs = [](const std::vector<int64_t>& v) { return tensor(v).to(kInt64); };
  struct Case {
    std::string name;
    Fn f;
    TensorList good, bad;
  };
  const Tensor x = randn({3, 4});
  const std::vector<Case> cases = {
      {"integer remainder by zero",
       [](const TensorList& in) {
         (void)(in[0] % in[1]);
         return TensorList{in[0] * 2};
       },
       {longs({5, 7, 9}), longs({2, 3, 4})}, {longs({5, 7, 9}), longs({2, 0, 4})}},
      {"integer fmod by zero",
       [](const TensorList& in) {
         (void)in[0].fmod(in[1]);
         return TensorList{in[0] + 1};
       },
       {longs({5, 7, 9}), longs({2, 3, 4})}, {longs({5, 7, 9}), longs({0, 3, 4})}},
      {"index out of range",
       [x](const TensorList& in) {
         (void)x.index({in[0]});
         return TensorList{x * 2.0};
       },
       {longs({0, 2, 1})}, {longs({0, 3, 1})}},
      {"gather", [x](const TensorList& in) {
         (void)x.gather(1, in[0].reshape({3, 1}));
         return TensorList{x + 1.0};
       },
       {longs(good)}, {longs(bad)}},
      {"index_select", [x](const TensorList& in) {
         (void)x.index_select(1, in[0]);
         return TensorList{x + 1.0};
       },
       {longs(good)}, {longs(bad)}},
      {"scatter of a value", [x](const TensorList& in) {
         (void)x.scatter(1, in[0].reshape({3, 1}), 1.0);
         return TensorList{x + 1.0};
       },
       {longs(good)}, {longs(bad)}},
      {"scatter_add", [x](const TensorList& in) {
         (void)x.scatter_add(1, in[0].reshape({3, 1}), ones({3, 1}));
         return TensorList{x + 1.0};
       },
       {longs(good)}, {longs(bad)}},
      {"cross_entropy's class indices, loss unused",
       [x](const TensorList& in) {
         (void)F::cross_entropy(x, in[0]);
         return TensorList{x * 3.0};
       },
       {longs(good)}, {longs({0, 4, 1})}},
      {"nll_loss's class indices, negative",
       [x](const TensorList& in) { return TensorList{F::nll_loss(x.log_softmax(1), in[0])}; },
       {longs(good)}, {longs({0, -2, 1})}},
      {"one_hot with a count of classes, unused",
       [x](const TensorList& in) {
         (void)F::one_hot(in[0], 4);
         return TensorList{x * 2.0};
       },
       {longs(good)}, {longs({0, 4, 1})}},
      {"one_hot with a count of classes, used",
       [](const TensorList& in) { return TensorList{F::one_hot(in[0], 4).sum(0)}; },
       {longs(good)}, {longs({0, -1, 1})}},
      {"binary_cross_entropy's input range, loss unused",
       [](const TensorList& in) {
         (void)F::binary_cross_entropy(in[0], in[0] * 0.0);
         return TensorList{in[0] * 2.0};
       },
       {tensor({0.25, 0.5})}, {tensor({0.25, 1.5})}},
  };
  for (const Case& c : cases) {
    NoGradGuard no_grad;
    auto compiled = compile(c.f);
    for (int k = 0; k < 2; ++k) expect_call_same(compiled, c.f, c.good, c.name);
    EXPECT_EQ(compiled.stats().replays, 1) << c.name << ": " << compiled.stats().eager_reason;
    EXPECT_THROW(c.f(c.bad), Error) << c.name;
    EXPECT_THROW(compiled(c.bad), Error) << c.name << " did not raise at a replay";
    expect_call_same(compiled, c.f, c.good, c.name + ", after the error");
    EXPECT_EQ(compiled.stats().replays, 3) << c.name;
  }
}

// An error f catches and goes on from: its branch would be fixed in the recording (the catch at
// every call, or never), so a recording during which one was raised is not replayed.
TEST(CompileChecks, AnErrorFCatchesRunsF) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) {
    try {
      return TensorList{nn::functional::cross_entropy(in[0], in[1])};
    } catch (const Error&) {
      return TensorList{zeros({})};
    }
  };
  const Tensor logits = randn({4, 3});
  const Tensor good = tensor(std::vector<int64_t>{0, 1, 2, 2}), bad = tensor(std::vector<int64_t>{0, 1, 5, 2});
  for (const auto& order : {std::vector<Tensor>{bad, good, good, bad}, std::vector<Tensor>{good, good, bad, good}}) {
    auto compiled = compile(f);
    for (const Tensor& target : order) expect_call_same(compiled, f, {logits, target}, "target");
  }
}

// The whole tensor's any and all are steps: a replay computes them from its own input.
TEST(CompileChecks, AnyAndAllOfTheWholeTensorReplay) {
  NoGradGuard no_grad;
  auto f = [](const TensorList& in) { return TensorList{any(in[0] > 0), all(in[0] > 0), any(in[0]).to(kInt64) + 1}; };
  auto compiled = compile(f);
  for (const auto& values : std::vector<std::vector<double>>{{1, 2}, {-1, -2}, {1, -2}, {0, 0}, {2, 3}}) {
    const Tensor x = tensor(values);
    const TensorList got = compiled(TensorList{x}), want = f({x});
    for (size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(equal(got[k], want[k])) << values[0] << " " << k;
  }
  EXPECT_EQ(compiled.stats().replays, 4) << compiled.stats().eager_reason;
}

// Values read into C++ steer what f computes as they were at the recording: f runs itself. Printing
// reads them too, for show only: the replays go on (and print nothing).
TEST(CompileChecks, ValuesReadIntoCppRunFAndPrintingDoesNot) {
  NoGradGuard no_grad;
  auto read = [](const TensorList& in) {
    const std::vector<double> v = in[0].to_vector<double>();
    return TensorList{in[0] * (v[0] > 0 ? 2.0 : -2.0)};
  };
  // one_hot that infers its count of classes: the result's shape is data.
  auto inferred = [](const TensorList& in) { return TensorList{nn::functional::one_hot(in[0]) * 2}; };
  auto compiled_inferred = compile(inferred);
  for (int64_t top : {2, 5, 3}) {
    const Tensor labels = tensor(std::vector<int64_t>{0, top, 1});
    EXPECT_TRUE(equal(compiled_inferred(TensorList{labels})[0], inferred({labels})[0])) << top;
  }
  EXPECT_EQ(compiled_inferred.stats().replays, 0);
  auto compiled_read = compile(read);
  for (double first : {1.0, -1.0, 3.0}) {
    const Tensor x = tensor({first, 0.5});
    expect_same(compiled_read(TensorList{x})[0], read({x})[0], true, "to_vector");
  }
  EXPECT_EQ(compiled_read.stats().replays, 0);
  EXPECT_NE(compiled_read.stats().eager_reason.find("to_vector"), std::string::npos);
  std::ostringstream shown;
  auto printed = [&shown](const TensorList& in) {
    const Tensor y = in[0].exp();
    shown << y;
    return TensorList{y + 1.0};
  };
  auto compiled_print = compile(printed);
  for (int k = 0; k < 3; ++k) {
    const Tensor x = randn({2, 3}, kFloat64);
    expect_same(compiled_print(TensorList{x})[0], printed({x})[0], true, "printed");
  }
  EXPECT_EQ(compiled_print.stats().replays, 2) << compiled_print.stats().eager_reason;
  EXPECT_NE(shown.str().find("tensor("), std::string::npos);
}

}  // namespace
}  // namespace dydx::testing
