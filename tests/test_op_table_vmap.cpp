// vmap's batching rules, driven by the op table: every row's op under vmap equals the op applied to
// each sample and stacked, for batch dims in every position, nested, and under grad and jvp; and no
// op takes the per-sample fallback.
#include <gtest/gtest.h>

#include <random>

#include "op_table.hpp"
#include "vmap/batched.hpp"

namespace dydx::testing {
namespace {

constexpr int64_t kBatch = 3;

// One way of batching a row's inputs: each input's batch dim, or none.
using Placement = func::BatchDims;

// The placements checked for a sample of `ranks`: every input batched in front, every input batched
// last, each input batched at every position of its dims with the others in front, and each input
// alone batched in the middle of its dims (the others shared).
std::vector<Placement> placements(const std::vector<int64_t>& ranks) {
  std::vector<Placement> out;
  Placement front, back;
  for (int64_t r : ranks) {
    front.push_back(0);
    back.push_back(r);
  }
  out.push_back(front);
  out.push_back(back);
  for (size_t i = 0; i < ranks.size(); ++i)
    for (int64_t d = 1; d < ranks[i]; ++d) {
      Placement moved = front;
      moved[i] = d;
      out.push_back(moved);
    }
  if (ranks.size() > 1)
    for (size_t i = 0; i < ranks.size(); ++i) {
      Placement alone(ranks.size(), std::nullopt);
      alone[i] = ranks[i] / 2;
      out.push_back(alone);
    }
  return out;
}

std::string describe(const Shapes& shapes, const Placement& p) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) {
    s += "[";
    for (size_t j = 0; j < shapes[i].size(); ++j) s += (j ? "," : "") + std::to_string(shapes[i][j]);
    s += "]@" + (p[i] ? std::to_string(*p[i]) : std::string("None")) + " ";
  }
  return s;
}

// Inputs of the sample shapes with a batch of kBatch inserted at each placement.
TensorList batched_inputs(const OpRow& row, const Shapes& shapes, const Placement& p, std::mt19937_64& rng,
                          int64_t batch = kBatch) {
  TensorList out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::vector<int64_t> shape = shapes[i];
    if (p[i]) shape.insert(shape.begin() + *p[i], batch);
    out.push_back(random_tensor(shape, row.domain, kFloat64, rng));
  }
  return out;
}

Tensor loop(const func::Function& f, const TensorList& inputs, const Placement& p, int64_t batch = kBatch) {
  TensorList samples;
  for (int64_t b = 0; b < batch; ++b) {
    TensorList sample;
    for (size_t i = 0; i < inputs.size(); ++i) sample.push_back(p[i] ? inputs[i].select(*p[i], b) : inputs[i]);
    samples.push_back(f(sample)[0]);
  }
  return stack(samples, 0);
}

void expect_close(const Tensor& actual, const Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  ASSERT_EQ(actual.dtype(), expected.dtype());
  if (expected.is_floating_point()) EXPECT_TRUE(allclose(actual, expected, 1e-10, 1e-12)) << actual << "\n" << expected;
  else EXPECT_TRUE(equal(actual, expected));
}

class VmapOpTable : public ::testing::TestWithParam<size_t> {
 protected:
  const OpRow& row() const { return op_table()[GetParam()]; }
  func::Function fn() const {
    return [f = row().fn](const TensorList& in) { return TensorList{f(in)}; };
  }
  void SetUp() override { vmap::clear_fallback_ops(); }
  // The acceptance of the vmap issue: every op has a rule, so none runs once per sample.
  void TearDown() override {
    std::vector<std::string> slow = vmap::fallback_ops();
    EXPECT_TRUE(slow.empty()) << row().name << " ran ops without a batching rule: " << ::testing::PrintToString(slow);
  }
};

std::vector<int64_t> ranks_of(const Shapes& shapes) {
  std::vector<int64_t> r;
  for (const auto& s : shapes) r.push_back(static_cast<int64_t>(s.size()));
  return r;
}

// Rows that write in place into a tensor made from their first input alone (copy_ into in[0] * 2,
// mul_ into a view of in[0] * 1): with only another input batched, they write a batched value into
// an unbatched tensor, which functorch refuses (vmap::check_inplace); the test asserts that error,
// naming vmap and the op, instead of a result.
const char* writes_into_first_input(const std::string& row) {
  if (row == "copy") return "copy_";
  if (row == "copy_slices") return "mul_";
  return nullptr;
}

TEST_P(VmapOpTable, EqualsTheLoopOverSamples) {
  std::mt19937_64 rng(GetParam() * 977 + 5);
  for (const Shapes& shapes : row().samples)
    for (const Placement& p : placements(ranks_of(shapes))) {
      SCOPED_TRACE(describe(shapes, p));
      TensorList inputs = batched_inputs(row(), shapes, p, rng);
      if (const char* op = writes_into_first_input(row().name); op && !p[0]) {
        try {
          func::vmap(fn(), p)(inputs);
          ADD_FAILURE() << op << " wrote a batched value into an unbatched tensor without raising";
        } catch (const Error& e) {
          const std::string what = e.what();
          EXPECT_NE(what.find(std::string("vmap: ") + op + ": cannot write a batched value into a tensor that is not "
                              "batched"), std::string::npos) << what;
        }
        continue;
      }
      Tensor expected = loop(fn(), inputs, p);
      expect_close(func::vmap(fn(), p)(inputs)[0], expected);
    }
}

TEST_P(VmapOpTable, NestedEqualsTheDoubleLoop) {
  std::mt19937_64 rng(GetParam() * 977 + 6);
  for (const Shapes& shapes : row().samples) {
    // Outer batch of 2 in front of every input, inner batch of kBatch last.
    const std::vector<int64_t> ranks = ranks_of(shapes);
    Placement inner, outer(shapes.size(), 0);
    for (int64_t r : ranks) inner.push_back(r);
    SCOPED_TRACE(describe(shapes, inner));
    TensorList inner_batched = batched_inputs(row(), shapes, inner, rng);
    TensorList inputs;
    for (const Tensor& t : inner_batched) inputs.push_back(stack({t, t * 0.5 + 0.25}, 0));
    func::Function nested = func::vmap(func::vmap(fn(), inner), outer);
    Tensor expected = loop([&](const TensorList& in) { return TensorList{loop(fn(), in, inner)}; }, inputs, outer, 2);
    expect_close(nested(inputs)[0], expected);
  }
}

// Per-sample VJPs and JVPs: vmap(vjp(op)) with a batched cotangent and vmap(jvp(op)) with batched
// tangents, against each sample's own.
TEST_P(VmapOpTable, UnderVjpAndJvpEqualsTheLoop) {
  std::mt19937_64 rng(GetParam() * 977 + 7);
  const func::Function op = fn();
  for (const Shapes& shapes : row().samples) {
    Placement front(shapes.size(), 0);
    SCOPED_TRACE(describe(shapes, front));
    TensorList inputs = batched_inputs(row(), shapes, front, rng);
    const Tensor out = func::vmap(op, front)(inputs)[0];
    if (!out.is_floating_point()) continue;
    const size_t n = inputs.size();
    Tensor cotangent = random_tensor(out.sizes().vec(), Domain::Real, kFloat64, rng);
    TensorList tangents;
    for (const Tensor& t : inputs) tangents.push_back(random_tensor(t.sizes().vec(), Domain::Real, kFloat64, rng));
    // [inputs..., cotangent] -> the VJP with respect to every input.
    func::Function pull = [op, n](const TensorList& in) {
      TensorList primals(in.begin(), in.begin() + n);
      return func::vjp(op, primals).second({in[n]});
    };
    // [inputs..., tangents...] -> the JVP.
    func::Function push = [op, n](const TensorList& in) {
      TensorList primals(in.begin(), in.begin() + n), t(in.begin() + n, in.end());
      return func::jvp(op, primals, t).second;
    };
    TensorList pull_in = inputs, push_in = inputs;
    pull_in.push_back(cotangent);
    for (const Tensor& t : tangents) push_in.push_back(t);
    const Placement all_front(n + 1, 0), push_front(2 * n, 0);
    TensorList vjps = func::vmap(pull, all_front)(pull_in);
    for (size_t i = 0; i < n; ++i) {
      func::Function pull_i = [pull, i](const TensorList& in) { return TensorList{pull(in)[i]}; };
      expect_close(vjps[i], loop(pull_i, pull_in, all_front));
    }
    expect_close(func::vmap(push, push_front)(push_in)[0], loop(push, push_in, push_front));
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, VmapOpTable, ::testing::Range<size_t>(0, op_table().size()),
                         [](const auto& info) {
                           std::string name = op_table()[info.param].name;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name + "_" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace dydx::testing
