// vmap's batching rules of the products, convolutions, pools and einsum (src/ops/linalg.cpp, conv.cpp,
// pool.cpp, unfold.cpp, einsum.cpp) beyond the op table: every matmul rank combination with every
// batched subset and batch position, linear and conv with batched weights and biases, expanded
// (stride 0) weights, empty batches, gradients through the rules, and errors naming the samples' shapes.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

namespace dydx {
namespace {

using func::BatchDims;
using func::Function;
namespace F = nn::functional;

constexpr int64_t kBatch = 3;

// f applied to each sample (slices along in_dims; std::nullopt inputs whole), stacked along dim 0.
Tensor loop(const Function& f, const TensorList& inputs, const BatchDims& in_dims, int64_t size = kBatch) {
  TensorList samples;
  for (int64_t b = 0; b < size; ++b) {
    TensorList sample;
    for (size_t i = 0; i < inputs.size(); ++i) sample.push_back(in_dims[i] ? inputs[i].select(*in_dims[i], b) : inputs[i]);
    samples.push_back(f(sample)[0]);
  }
  return stack(samples, 0);
}

// The inputs of the sample shapes with a batch of `size` inserted at each in_dim.
TensorList batched(const std::vector<Dims>& shapes, const BatchDims& in_dims, int64_t size = kBatch) {
  TensorList out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Dims shape = shapes[i];
    if (in_dims[i]) shape.insert_at(static_cast<size_t>(*in_dims[i]), size);
    out.push_back(randn(shape, kFloat64));
  }
  return out;
}

std::string describe(const std::vector<Dims>& shapes, const BatchDims& in_dims) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::ostringstream os;
    os << shapes[i];
    s += os.str() + "@" + (in_dims[i] ? std::to_string(*in_dims[i]) : std::string("None")) + " ";
  }
  return s;
}

// vmap(f) equals the loop over samples.
void expect_matches_loop(const Function& f, const TensorList& inputs, const BatchDims& in_dims) {
  Tensor expected = loop(f, inputs, in_dims);
  Tensor actual = func::vmap(f, in_dims)(inputs)[0];
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(allclose(actual, expected, 1e-12, 1e-12)) << actual << "\n" << expected;
}

// Every way of batching inputs of these sample ranks: each input unbatched or batched at each of its
// positions, at least one batched.
std::vector<BatchDims> all_in_dims(const std::vector<int64_t>& ranks) {
  std::vector<BatchDims> out{{}};
  for (int64_t r : ranks) {
    std::vector<BatchDims> next;
    for (const BatchDims& prefix : out) {
      BatchDims none = prefix;
      none.push_back(std::nullopt);
      next.push_back(none);
      for (int64_t d = 0; d <= r; ++d) {
        BatchDims at = prefix;
        at.push_back(d);
        next.push_back(at);
      }
    }
    out = next;
  }
  out.erase(out.begin());  // all unbatched
  return out;
}

// Every matmul rank combination (1-D to 4-D, with broadcasting batch dims), every batched subset, every
// batch position.
TEST(VmapLinalg, MatmulEveryRankCombinationAndBatchPosition) {
  manual_seed(1);
  const std::vector<Dims> lhs = {{3}, {2, 3}, {5, 2, 3}, {1, 5, 2, 3}};
  const std::vector<Dims> rhs = {{3}, {3, 4}, {5, 3, 4}, {2, 1, 3, 4}};
  const Function f = [](const TensorList& in) { return TensorList{matmul(in[0], in[1])}; };
  for (const Dims& a : lhs)
    for (const Dims& b : rhs)
      for (const BatchDims& in_dims : all_in_dims({static_cast<int64_t>(a.size()), static_cast<int64_t>(b.size())})) {
        SCOPED_TRACE(describe({a, b}, in_dims));
        expect_matches_loop(f, batched({a, b}, in_dims), in_dims);
      }
}

TEST(VmapLinalg, MmBmmAndAddmmEveryBatchPosition) {
  manual_seed(2);
  const Function mm_f = [](const TensorList& in) { return TensorList{mm(in[0], in[1])}; };
  for (const BatchDims& in_dims : all_in_dims({2, 2})) {
    SCOPED_TRACE(describe({{2, 3}, {3, 4}}, in_dims));
    expect_matches_loop(mm_f, batched({{2, 3}, {3, 4}}, in_dims), in_dims);
  }
  const Function bmm_f = [](const TensorList& in) { return TensorList{bmm(in[0], in[1])}; };
  for (const BatchDims& in_dims : all_in_dims({3, 3})) {
    SCOPED_TRACE(describe({{2, 2, 3}, {2, 3, 4}}, in_dims));
    expect_matches_loop(bmm_f, batched({{2, 2, 3}, {2, 3, 4}}, in_dims), in_dims);
  }
  // addmm with each input shape it broadcasts, beta 0 (input ignored, nan included) and integers.
  for (const Dims& input : std::vector<Dims>{{2, 4}, {1, 4}, {4}, {}}) {
    for (const auto& scalars : std::vector<std::pair<double, double>>{{1, 1}, {0.5, -2}, {0, 3}}) {
      const Function f = [scalars](const TensorList& in) {
        return TensorList{addmm(in[0], in[1], in[2], scalars.first, scalars.second)};
      };
      for (const BatchDims& in_dims : all_in_dims({static_cast<int64_t>(input.size()), 2, 2})) {
        SCOPED_TRACE(describe({input, {2, 3}, {3, 4}}, in_dims) + " beta " + std::to_string(scalars.first));
        TensorList inputs = batched({input, {2, 3}, {3, 4}}, in_dims);
        if (scalars.first == 0) inputs[0] = full_like(inputs[0], std::nan(""));
        expect_matches_loop(f, inputs, in_dims);
      }
    }
  }
  Tensor ints = randint(-5, 5, {kBatch, 2, 3}, TensorOptions().dtype(kInt64));
  Tensor w = randint(-5, 5, {3, 4}, TensorOptions().dtype(kInt64)), c = randint(-5, 5, {4}, TensorOptions().dtype(kInt64));
  const Function int_f = [](const TensorList& in) { return TensorList{addmm(in[0], in[1], in[2], 2, -3)}; };
  Tensor actual = func::vmap(int_f, {std::nullopt, 0, std::nullopt})({c, ints, w})[0];
  EXPECT_EQ(actual.dtype(), kInt64);
  EXPECT_TRUE(equal(actual, loop(int_f, {c, ints, w}, {std::nullopt, 0, std::nullopt})));
}

// linear with every batched subset of input, weight and bias, with and without a bias, 1-D and 2-D
// samples.
TEST(VmapLinalg, LinearEveryBatchedSubset) {
  manual_seed(3);
  for (const Dims& x : std::vector<Dims>{{3}, {2, 3}}) {
    const Function with_bias = [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2])}; };
    for (const BatchDims& in_dims : all_in_dims({static_cast<int64_t>(x.size()), 2, 1})) {
      SCOPED_TRACE(describe({x, {4, 3}, {4}}, in_dims));
      expect_matches_loop(with_bias, batched({x, {4, 3}, {4}}, in_dims), in_dims);
    }
    const Function no_bias = [](const TensorList& in) { return TensorList{linear(in[0], in[1])}; };
    for (const BatchDims& in_dims : all_in_dims({static_cast<int64_t>(x.size()), 2})) {
      SCOPED_TRACE(describe({x, {4, 3}}, in_dims));
      expect_matches_loop(no_bias, batched({x, {4, 3}}, in_dims), in_dims);
    }
  }
}

// A weight shared by every sample but batched as an expanded (stride 0) tensor, as per-sample
// gradients with respect to shared weights see it: the same results, and gradients that flow back
// to the one weight as the sum over samples.
TEST(VmapLinalg, ExpandedWeightsAndGradientsThroughTheRules) {
  manual_seed(4);
  Tensor w = randn({4, 3}, kFloat64).requires_grad_(), b = randn({4}, kFloat64).requires_grad_();
  const Function f = [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2]).tanh()}; };
  Tensor ws = w.unsqueeze(0).expand({kBatch, 4, 3}), bs = b.unsqueeze(0).expand({kBatch, 4});
  // Samples of one row and of two, batched in front (rows one run: one product of all rows) and in
  // the middle (rows apart: one product per sample).
  for (const auto& [shape, in_dim] : std::vector<std::pair<Dims, int64_t>>{{{kBatch, 3}, 0}, {{kBatch, 2, 3}, 0}, {{2, kBatch, 3}, 1}}) {
    SCOPED_TRACE(in_dim);
    Tensor x = randn(shape, kFloat64);
    Tensor y = func::vmap(f, {in_dim, 0, 0})({x, ws, bs})[0];
    Tensor expected = loop(f, {x, w, b}, {in_dim, std::nullopt, std::nullopt});
    EXPECT_TRUE(allclose(y, expected, 1e-12, 1e-12));
    TensorList g = dydx::grad({y.sum()}, {w, b});
    TensorList g_expected = dydx::grad({expected.sum()}, {w, b});
    EXPECT_TRUE(allclose(g[0], g_expected[0], 1e-12, 1e-12));
    EXPECT_TRUE(allclose(g[1], g_expected[1], 1e-12, 1e-12));
  }

  // Gradients of a batch of inputs through matmul and conv rules, against the loop's.
  Tensor xs = randn({kBatch, 2, 3}, kFloat64).requires_grad_(), m = randn({kBatch, 3, 4}, kFloat64).requires_grad_();
  const Function mf = [](const TensorList& in) { return TensorList{matmul(in[0], in[1]).sin()}; };
  for (const BatchDims& in_dims : std::vector<BatchDims>{{0, 0}, {0, std::nullopt}}) {
    Tensor rhs = in_dims[1] ? m : m.select(0, 0);
    TensorList got = dydx::grad({func::vmap(mf, in_dims)({xs, rhs})[0].sum()}, {xs, m});
    TensorList want = dydx::grad({loop(mf, {xs, rhs}, in_dims).sum()}, {xs, m});
    EXPECT_TRUE(allclose(got[0], want[0], 1e-12, 1e-12));
    EXPECT_TRUE(allclose(got[1], want[1], 1e-12, 1e-12));
  }
}

// conv2d with every batched subset of input, weight and bias, groups 1 and 2, 3-D and 4-D samples;
// conv1d and padding 'same' through the same rule.
TEST(VmapLinalg, ConvWithBatchedInputWeightAndBias) {
  manual_seed(5);
  for (int64_t groups : {1, 2}) {
    const Function f = [groups](const TensorList& in) {
      return TensorList{conv2d(in[0], in[1], in[2], {2, 1}, {1, 0}, {1, 2}, groups)};
    };
    for (const Dims& x : std::vector<Dims>{{2, 4, 5, 5}, {4, 5, 5}}) {
      const std::vector<Dims> shapes = {x, {6, 4 / groups, 3, 2}, {6}};
      for (const BatchDims& in_dims : all_in_dims({static_cast<int64_t>(x.size()), 4, 1})) {
        SCOPED_TRACE(describe(shapes, in_dims) + " groups " + std::to_string(groups));
        expect_matches_loop(f, batched(shapes, in_dims), in_dims);
      }
    }
  }
  const Function no_bias = [](const TensorList& in) { return TensorList{conv2d(in[0], in[1])}; };
  for (const BatchDims& in_dims : all_in_dims({4, 4})) {
    SCOPED_TRACE(describe({{1, 2, 4, 5}, {3, 2, 2, 2}}, in_dims));
    expect_matches_loop(no_bias, batched({{1, 2, 4, 5}, {3, 2, 2, 2}}, in_dims), in_dims);
  }
  const Function conv1 = [](const TensorList& in) {
    return TensorList{F::conv1d(in[0], in[1], F::Conv1dFuncOptions().bias(in[2]).stride(2).padding(1))};
  };
  for (const BatchDims& in_dims : std::vector<BatchDims>{{0, 0, 0}, {3, std::nullopt, 1}, {std::nullopt, 2, std::nullopt}}) {
    SCOPED_TRACE(describe({{2, 3, 7}, {4, 3, 3}, {4}}, in_dims));
    expect_matches_loop(conv1, batched({{2, 3, 7}, {4, 3, 3}, {4}}, in_dims), in_dims);
  }
  const Function same = [](const TensorList& in) {
    return TensorList{F::conv2d(in[0], in[1], F::Conv2dFuncOptions().padding(kSame))};
  };
  for (const BatchDims& in_dims : std::vector<BatchDims>{{0, 0}, {4, std::nullopt}, {std::nullopt, 1}}) {
    SCOPED_TRACE(describe({{1, 2, 4, 5}, {3, 2, 2, 2}}, in_dims));
    expect_matches_loop(same, batched({{1, 2, 4, 5}, {3, 2, 2, 2}}, in_dims), in_dims);
  }
}

TEST(VmapLinalg, PoolsAndFoldWithTheBatchAnywhere) {
  manual_seed(6);
  const Function with_indices = [](const TensorList& in) {
    auto [out, index] = max_pool2d_with_indices(in[0], {2, 2}, {1, 2}, {1, 0}, {1, 1}, false);
    return TensorList{out + index.to(kFloat64)};
  };
  for (int64_t d = 0; d <= 4; ++d) {
    SCOPED_TRACE(d);
    expect_matches_loop(with_indices, batched({{2, 3, 5, 4}}, {d}), {d});
  }
  const Function pools = [](const TensorList& in) {
    return TensorList{avg_pool2d(in[0], 3, 2, 1, true, false) + adaptive_avg_pool2d(in[0], {3, 3})};
  };
  for (int64_t d = 0; d <= 3; ++d) {
    SCOPED_TRACE(d);
    expect_matches_loop(pools, batched({{3, 5, 5}}, {d}), {d});
  }
  const auto fold_options = F::FoldFuncOptions({5, 4}, {2, 3}).dilation({1, 2}).padding({0, 1}).stride({2, 1});
  const Function fold_f = [fold_options](const TensorList& in) { return TensorList{F::fold(in[0], fold_options)}; };
  for (int64_t d = 0; d <= 3; ++d) {
    SCOPED_TRACE(d);
    expect_matches_loop(fold_f, batched({{2, 12, 4}}, {d}), {d});
  }
}

TEST(VmapLinalg, Einsum) {
  manual_seed(7);
  struct Case {
    std::string equation;
    std::vector<Dims> shapes;
  };
  const std::vector<Case> cases = {{"ij,jk->ik", {{2, 3}, {3, 4}}},   {"ij,jk", {{2, 3}, {3, 4}}},
                                   {"ii->i", {{3, 3}}},                {"ii", {{3, 3}}},
                                   {"...ij,...jk->...ik", {{5, 2, 3}, {3, 4}}}, {"bij,bjk", {{5, 2, 3}, {5, 3, 4}}},
                                   {"i,i->", {{3}, {3}}},              {"ij,k->jki", {{2, 3}, {4}}},
                                   {"i...j->j...", {{2, 5, 1, 3}}}};
  for (const Case& c : cases) {
    const Function f = [&c](const TensorList& in) { return TensorList{einsum(c.equation, in)}; };
    std::vector<int64_t> ranks;
    for (const Dims& s : c.shapes) ranks.push_back(static_cast<int64_t>(s.size()));
    for (const BatchDims& in_dims : all_in_dims(ranks)) {
      SCOPED_TRACE(c.equation + " " + describe(c.shapes, in_dims));
      expect_matches_loop(f, batched(c.shapes, in_dims), in_dims);
    }
  }
}

// vmap of vmap: each rule runs once per level, the inner level's on values batched at the outer one.
TEST(VmapLinalg, NestedEqualsTheDoubleLoop) {
  manual_seed(8);
  struct Case {
    std::string name;
    Function f;
    std::vector<Dims> shapes;
  };
  const std::vector<Case> cases = {
      {"linear", [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2])}; }, {{2, 3}, {4, 3}, {4}}},
      {"matmul", [](const TensorList& in) { return TensorList{matmul(in[0], in[1])}; }, {{3}, {2, 3, 4}}},
      {"conv2d",
       [](const TensorList& in) { return TensorList{conv2d(in[0], in[1], in[2], 1, 1, 1, 2)}; },
       {{1, 4, 4, 5}, {6, 2, 3, 3}, {6}}},
      {"einsum", [](const TensorList& in) { return TensorList{einsum("ii,ij->j", in)}; }, {{3, 3}, {3, 2}}},
      {"max_pool2d", [](const TensorList& in) { return TensorList{max_pool2d(in[0], 2)}; }, {{2, 4, 4}}}};
  for (const Case& c : cases) {
    // The outer batch (2) in front of every input; the inner one (kBatch) last on the first input,
    // in front on the others, none on the last when there are three.
    BatchDims inner, outer(c.shapes.size(), 0);
    for (size_t i = 0; i < c.shapes.size(); ++i)
      inner.push_back(i == 0 ? std::optional<int64_t>(c.shapes[0].size()) : i == 2 ? std::nullopt : std::optional<int64_t>(0));
    TensorList inputs;
    for (size_t i = 0; i < c.shapes.size(); ++i) {
      Dims shape = c.shapes[i];
      if (inner[i]) shape.insert_at(static_cast<size_t>(*inner[i]), kBatch);
      shape.insert_at(0, 2);
      inputs.push_back(randn(shape, kFloat64));
    }
    SCOPED_TRACE(c.name);
    const Function f = c.f;
    Tensor expected = loop([&](const TensorList& in) { return TensorList{loop(f, in, inner)}; }, inputs, outer, 2);
    Tensor actual = func::vmap(func::vmap(f, inner), outer)(inputs)[0];
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_TRUE(allclose(actual, expected, 1e-12, 1e-12));
  }
}

TEST(VmapLinalg, EmptyBatches) {
  const Function mf = [](const TensorList& in) { return TensorList{matmul(in[0], in[1])}; };
  Tensor out = func::vmap(mf, {0, 0})({zeros({0, 2, 3}, kFloat64), zeros({0, 3, 4}, kFloat64)})[0];
  EXPECT_EQ(out.sizes(), Dims({0, 2, 4}));
  out = func::vmap(mf, {0, std::nullopt})({zeros({0, 3}, kFloat64), zeros({3, 4}, kFloat64)})[0];
  EXPECT_EQ(out.sizes(), Dims({0, 4}));
  const Function lf = [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2])}; };
  out = func::vmap(lf, {0, 0, std::nullopt})({zeros({0, 3}, kFloat64), zeros({0, 4, 3}, kFloat64), zeros({4}, kFloat64)})[0];
  EXPECT_EQ(out.sizes(), Dims({0, 4}));
  const Function cf = [](const TensorList& in) { return TensorList{conv2d(in[0], in[1])}; };
  out = func::vmap(cf, {0, 0})({zeros({0, 1, 2, 4, 4}, kFloat64), zeros({0, 3, 2, 2, 2}, kFloat64)})[0];
  EXPECT_EQ(out.sizes(), Dims({0, 1, 3, 3, 3}));
  out = func::vmap(cf, {0, std::nullopt})({zeros({0, 1, 2, 4, 4}, kFloat64), zeros({3, 2, 2, 2}, kFloat64)})[0];
  EXPECT_EQ(out.sizes(), Dims({0, 1, 3, 3, 3}));
  const Function pf = [](const TensorList& in) { return TensorList{max_pool2d(in[0], 2)}; };
  out = func::vmap(pf, {0})({zeros({0, 2, 4, 4}, kFloat64)})[0];
  EXPECT_EQ(out.sizes(), Dims({0, 2, 2, 2}));
}

// Errors under vmap name the op and the samples' shapes, not the batch's.
TEST(VmapLinalg, ErrorsNameTheSamplesShapes) {
  auto message = [](const Function& f, const TensorList& in, const BatchDims& in_dims) {
    try {
      func::vmap(f, in_dims)(in);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const Function mf = [](const TensorList& in) { return TensorList{matmul(in[0], in[1])}; };
  std::string m = message(mf, {zeros({7, 2, 3}), zeros({4, 5})}, {0, std::nullopt});
  EXPECT_NE(m.find("matmul: cannot multiply [2,3] by [4,5]"), std::string::npos) << m;
  m = message(mf, {zeros({2, 3, 7}), zeros({7, 4, 5})}, {2, 0});
  EXPECT_NE(m.find("matmul: cannot multiply [2,3] by [4,5]"), std::string::npos) << m;
  const Function mmf = [](const TensorList& in) { return TensorList{mm(in[0], in[1])}; };
  m = message(mmf, {zeros({7, 2, 3}), zeros({7, 4, 5})}, {0, 0});
  EXPECT_NE(m.find("mm: cannot multiply [2,3] by [4,5]"), std::string::npos) << m;
  const Function lf = [](const TensorList& in) { return TensorList{linear(in[0], in[1])}; };
  m = message(lf, {zeros({7, 3}), zeros({4, 5})}, {0, std::nullopt});
  EXPECT_NE(m.find("linear: input of shape [3] does not end in the weight's in_features (weight shape [4,5])"),
            std::string::npos)
      << m;
  const Function cf = [](const TensorList& in) { return TensorList{conv2d(in[0], in[1])}; };
  m = message(cf, {zeros({7, 1, 3, 5, 5}), zeros({4, 2, 2, 2})}, {0, std::nullopt});
  EXPECT_NE(m.find("expected input[1,3,5,5] to have 2 channels, but got 3 channels"), std::string::npos) << m;
  const Function ef = [](const TensorList& in) { return TensorList{einsum("ij,jk->ik", in)}; };
  m = message(ef, {zeros({7, 2, 3}), zeros({4, 5})}, {0, std::nullopt});
  EXPECT_NE(m.find("subscript j has size 4 for operand 1 which does not broadcast with previously seen size 3"),
            std::string::npos)
      << m;
}

}  // namespace
}  // namespace dydx
