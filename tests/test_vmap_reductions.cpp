// vmap's batching rules of the reductions and normalisations (sum, mean, max/min, softmax, logsumexp,
// var/std, norms, layer_norm, any/all) on what the op table does not reach: keepdim and negative
// dims, 0-d samples, empty dims lists, empty batches, int64 and bool inputs, batch dims in every
// position of strided and expanded values, per-sample layer_norm weights, both results of max/min,
// composition with grad and jvp, and errors that name the sample's shapes.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "vmap_test_util.hpp"

#include <cmath>
#include <string>

#include "vmap/batched.hpp"

namespace dydx {
namespace {

using vmap_test::expect_same;
using vmap_test::loop_all;

using func::BatchDims;
using func::Function;



// vmap(f) equals the loop over samples, output by output, and no op ran once per sample.
void expect_vmap_equals_loop(const Function& f, const TensorList& inputs, const BatchDims& in_dims) {
  vmap::clear_fallback_ops();
  TensorList got = func::vmap(f, in_dims)(inputs);
  EXPECT_TRUE(vmap::fallback_ops().empty()) << ::testing::PrintToString(vmap::fallback_ops());
  TensorList want = loop_all(f, inputs, in_dims);
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    SCOPED_TRACE("output " + std::to_string(k));
    expect_same(got[k], want[k]);
  }
}

// The reductions on a sample of rank 3, with keepdim and negative dims; every result of max/min.
Function rank3_reductions() {
  return [](const TensorList& in) {
    const Tensor& x = in[0];
    auto [max_values, max_indices] = x.max(-1, true);
    auto [min_values, min_indices] = min(x, 0);
    auto [v, m] = var_mean(x, {-3, -1}, false, true);
    auto [s, sm] = std_mean(x, {1}, true, false);
    return TensorList{x.sum({-1}, true), x.sum({0, -2}), x.mean({-1}, true), x.var({-3, -1}, true, true),
                      dydx::std(x, {1}, std::optional<int64_t>(0), true), x.norm(3, {-1}, true),
                      linalg::vector_norm(x, INFINITY, {0, 2}), linalg::vector_norm(x, 0, {-2}, true),
                      x.logsumexp({-2}, true), max_values, max_indices, min_values, min_indices,
                      softmax(x, -2), log_softmax(x, -1), x.any(-1, true), x.all(0), sum_to(x, {4, 1}),
                      x.max(), x.min(), x.sum(), x.mean(), x.var(), x.std(false), x.norm(), x.logsumexp({}),
                      v, m, s, sm};
  };
}

TEST(VmapReductions, KeepdimAndNegativeDimsWithTheBatchDimAnywhere) {
  manual_seed(0);
  for (int64_t d = 0; d <= 3; ++d) {
    SCOPED_TRACE("batch dim " + std::to_string(d));
    std::vector<int64_t> shape{3, 4, 2};
    shape.insert(shape.begin() + d, 5);
    Tensor x = randn(shape, kFloat64);
    x.select(d, 2).select(0, 1).fill_(0);  // zeros for any/all and the 0-norm
    expect_vmap_equals_loop(rank3_reductions(), {x}, {d});
  }
}

TEST(VmapReductions, StridedAndExpandedBatches) {
  manual_seed(1);
  // A transposed batch (no dim contiguous), a batch expanded from one sample (stride 0), and a
  // sample expanded along its own dim.
  Tensor transposed = randn({2, 4, 5, 3}, kFloat64).permute({3, 1, 2, 0}).select(3, 1);  // [3, 4, 5] batch at 2
  expect_vmap_equals_loop(rank3_reductions(), {transposed.unsqueeze(-1).expand({3, 4, 5, 2})}, {2});
  Tensor one = randn({3, 4, 2}, kFloat64);
  expect_vmap_equals_loop(rank3_reductions(), {one.unsqueeze(0).expand({6, 3, 4, 2})}, {0});
  expect_vmap_equals_loop(rank3_reductions(), {randn({5, 1, 4, 2}, kFloat64).expand({5, 3, 4, 2})}, {0});
}

TEST(VmapReductions, ZeroDimSamples) {
  manual_seed(2);
  Tensor x = randn({5}, kFloat64);
  x.select(0, 3).fill_(0);
  Function f = [](const TensorList& in) {
    const Tensor& s = in[0];
    auto [values, indices] = s.max(0);
    auto [low, at] = min(s, -1, true);
    return TensorList{s.sum(), s.sum({0}), s.sum({-1}, true), s.mean(), s.mean({0}, true), s.max(), s.min(),
                      values, indices, low, at, softmax(s, 0), log_softmax(s, -1), s.logsumexp({}),
                      s.logsumexp({0}, true), s.var(false), dydx::std(s, {0}, std::optional<int64_t>(0)),
                      s.var(true), s.norm(), s.norm(1, {0}, true), linalg::vector_norm(s, 0), s.any(), s.all(),
                      s.any(0), s.all(-1, true), layer_norm(s.unsqueeze(0), {1})};
  };
  expect_vmap_equals_loop(f, {x}, {0});
  TensorList out = func::vmap(f)({x});
  EXPECT_EQ(out[0].sizes(), IntArrayRef({5}));  // 0-d per sample
  EXPECT_EQ(out[8].dtype(), kInt64);
}

TEST(VmapReductions, AnEmptyDimsListReducesEverySampleDimAndNotTheBatch) {
  manual_seed(3);
  Tensor x = randn({3, 5, 4}, kFloat64);  // samples [3, 4] batched along dim 1
  Function f = [](const TensorList& in) {
    const Tensor& s = in[0];
    return TensorList{sum(s, {}), sum(s, {}, true), mean(s, {}), s.var({}, true, true), s.std({}),
                      norm(s, 2, {}), linalg::vector_norm(s, 1, {}, true), logsumexp(s, {}, true)};
  };
  expect_vmap_equals_loop(f, {x}, {1});
  TensorList out = func::vmap(f, {1})({x});
  EXPECT_EQ(out[0].sizes(), IntArrayRef({5}));
  EXPECT_EQ(out[1].sizes(), IntArrayRef({5, 1, 1}));
}

TEST(VmapReductions, EmptyBatchesAndEmptySamples) {
  Function f = [](const TensorList& in) {
    const Tensor& s = in[0];
    return TensorList{s.sum(), s.sum({1}, true), s.mean({0}), s.max(), std::get<1>(s.max(1)), softmax(s, -1),
                      s.logsumexp({1}), s.var({1}), s.norm(), s.any(), s.all(1),
                      layer_norm(s, {4}, ones({4}, kFloat64), zeros({4}, kFloat64))};
  };
  // No samples: every result has a batch of 0 and the sample's result shape.
  Tensor none = zeros({3, 0, 4}, kFloat64);
  TensorList out = func::vmap(f, {1})({none});
  const std::vector<Dims> shapes = {{0}, {0, 3, 1}, {0, 4}, {0}, {0, 3}, {0, 3, 4}, {0, 3}, {0, 3}, {0}, {0}, {0, 3},
                                    {0, 3, 4}};
  ASSERT_EQ(out.size(), shapes.size());
  for (size_t k = 0; k < out.size(); ++k) EXPECT_EQ(out[k].sizes(), IntArrayRef(shapes[k])) << "output " << k;
  EXPECT_EQ(out[4].dtype(), kInt64);
  EXPECT_EQ(out[9].dtype(), kBool);
  // Samples with no elements: sums are 0, means nan, any false and all true, as each sample's.
  Function empty_ok = [](const TensorList& in) {
    const Tensor& s = in[0];
    return TensorList{s.sum(), s.sum({0}), s.mean(), s.norm(), s.any(), s.all(), s.logsumexp({0}), s.var({0}),
                      softmax(s, 0)};
  };
  expect_vmap_equals_loop(empty_ok, {zeros({2, 0, 3}, kFloat64)}, {0});
}

TEST(VmapReductions, Int64AndBoolInputsKeepTheSamplesDtypes) {
  Tensor counts = arange(0, 24, 1, kInt64).reshape({4, 3, 2}) % 5;
  Tensor flags = ne(counts, 0);
  Function f = [](const TensorList& in) {
    const Tensor& s = in[0];
    auto [values, indices] = s.max(1, true);
    return TensorList{s.sum(), s.sum({0}), s.max(), s.min(), values, indices, s.any(), s.all(), s.any(0), s.all(-1),
                      s.logsumexp({1})};
  };
  for (const Tensor& x : {counts, flags})
    for (int64_t d = 0; d < 3; ++d) {
      SCOPED_TRACE(::testing::PrintToString(x.dtype()) + " batch dim " + std::to_string(d));
      expect_vmap_equals_loop(f, {x.movedim(0, d)}, {d});
      TensorList out = func::vmap(f, {d})({x.movedim(0, d)});
      EXPECT_EQ(out[0].dtype(), kInt64);  // bool sums count, as PyTorch's
      EXPECT_EQ(out[2].dtype(), x.dtype());
      EXPECT_EQ(out[6].dtype(), kBool);
      EXPECT_EQ(out[10].dtype(), kFloat32);  // integers' logsumexp in the default dtype
    }
  // nan is nonzero: any is true and all holds for a sample of nans.
  Tensor nans = full({2, 3}, NAN, kFloat64);
  nans.select(0, 0).fill_(0);
  TensorList anyall = func::vmap([](const TensorList& in) { return TensorList{in[0].any(), in[0].all()}; })({nans});
  EXPECT_TRUE(equal(anyall[0], tensor(std::vector<bool>{false, true})));
  EXPECT_TRUE(equal(anyall[1], tensor(std::vector<bool>{false, true})));
}

TEST(VmapReductions, LayerNormWithTheBatchDimAnywhereAndPerSampleAffine) {
  manual_seed(4);
  Function with_affine = [](const TensorList& in) { return TensorList{layer_norm(in[0], {3, 4}, in[1], in[2], 1e-3)}; };
  Tensor w = randn({3, 4}, kFloat64), b = randn({3, 4}, kFloat64);
  for (int64_t d = 0; d <= 3; ++d) {  // 2 and 3 lie among the normalised dims
    SCOPED_TRACE("batch dim " + std::to_string(d));
    std::vector<int64_t> shape{2, 3, 4};
    shape.insert(shape.begin() + d, 5);
    Tensor x = randn(shape, kFloat64);
    expect_vmap_equals_loop(with_affine, {x, w, b}, {d, std::nullopt, std::nullopt});
    expect_vmap_equals_loop(with_affine, {x, randn({3, 4, 5}, kFloat64), b}, {d, 2, std::nullopt});
    expect_vmap_equals_loop(with_affine, {x, w, randn({5, 3, 4}, kFloat64)}, {d, std::nullopt, 0});
  }
  // A shared input with per-sample weights, and a weight without a bias.
  Tensor x = randn({2, 3, 4}, kFloat64);
  expect_vmap_equals_loop(with_affine, {x, randn({5, 3, 4}, kFloat64), randn({3, 4, 5}, kFloat64)}, {std::nullopt, 0, 2});
  Function weight_only = [](const TensorList& in) { return TensorList{layer_norm(in[0], {4}, in[1])}; };
  expect_vmap_equals_loop(weight_only, {randn({5, 3, 4}, kFloat64), randn({4, 5}, kFloat64)}, {0, 1});
}

TEST(VmapReductions, NestedWithTheInnerBatchAnywhere) {
  manual_seed(5);
  // Outer batch (2) at dim 2, inner batch (5) at dim 1 of what is left: samples [3, 4, 2].
  Tensor y = randn({3, 5, 2, 4, 2}, kFloat64);
  y.select(2, 1).select(1, 3).select(0, 0).fill_(0);
  Function inner = func::vmap(rank3_reductions(), {1});
  vmap::clear_fallback_ops();
  TensorList got = func::vmap(inner, {2})({y});
  EXPECT_TRUE(vmap::fallback_ops().empty());
  TensorList want = loop_all([&](const TensorList& in) { return loop_all(rank3_reductions(), in, {1}); }, {y}, {2});
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) expect_same(got[k], want[k]);
}

TEST(VmapReductions, GradientsAndTangentsThroughTheBatch) {
  manual_seed(6);
  // A loss built of every differentiable reduction: the gradient of the batch's summed losses (grad
  // of vmap) holds each sample's gradient in its place, and jvp of vmap each sample's jvp.
  auto loss = [](const Tensor& s) {
    auto [m, i] = s.max(-1);
    return s.logsumexp({1}).sum() + (softmax(s, 0) * s).mean() + s.var({0}, true, true).sum() + s.std() +
           s.norm(3) + m.sum() + s.min() + layer_norm(s, {4}).pow(3).sum() + log_softmax(s, -2).sum({-1}).mean() +
           linalg::vector_norm(s, 1.5, {0}).sum() + s.mean({1}, true).pow(2).sum();
  };
  Tensor x = randn({3, 5, 4}, kFloat64), t = randn({3, 5, 4}, kFloat64);  // samples [3, 4] batched at 1
  Tensor whole = func::grad([&](const Tensor& b) { return func::vmap(loss, 1)(b).sum(); })(x);
  Function each_grad = [&](const TensorList& in) { return TensorList{func::grad(loss)(in[0])}; };
  EXPECT_TRUE(allclose(whole, loop_all(each_grad, {x}, {1})[0].movedim(0, 1), 1e-12, 1e-12));
  Tensor tangent = func::jvp(func::vmap(loss, 1), x, t).second;
  Function each_jvp = [&](const TensorList& in) { return TensorList{func::jvp(loss, in[0], in[1]).second}; };
  EXPECT_TRUE(allclose(tangent, loop_all(each_jvp, {x, t}, {1, 1})[0], 1e-12, 1e-12));
}

TEST(VmapReductions, WholeSampleMaxAndMinShareTheGradientAmongTies) {
  // As each sample's max and min (and PyTorch's): tied extremes share the gradient evenly, in both
  // modes; the values stay exact, the sign of a zero included, with and without a derivative.
  Tensor x = tensor({{1.0, 3.0, 3.0, -2.0}, {2.0, 2.0, 2.0, -1.0}, {-0.0, -5.0, -0.0, -5.0}}, kFloat64);  // ties for max in every sample, for min in the last
  for (bool is_max : {true, false}) {
    SCOPED_TRACE(is_max ? "max" : "min");
    auto extreme = [is_max](const Tensor& s) { return is_max ? s.max() : s.min(); };
    const Tensor weights = tensor({1.0, 2.0, 3.0}, kFloat64);
    Tensor g = func::grad([&](const Tensor& b) { return (func::vmap(extreme)(b) * weights).sum(); })(x);
    Tensor want = stack({func::grad(extreme)(x[0]), func::grad(extreme)(x[1]) * 2, func::grad(extreme)(x[2]) * 3}, 0);
    EXPECT_TRUE(equal(g, want)) << g << want;
    Tensor t = tensor({{0.5, -1.0, 2.0, 0.25}, {1.5, 3.0, -2.0, 1.0}, {-1.0, 4.0, 0.5, -3.0}}, kFloat64);
    Tensor tangent = func::jvp(func::vmap(extreme), x, t).second;
    Tensor each = stack({func::jvp(extreme, x[0], t[0]).second, func::jvp(extreme, x[1], t[1]).second,
                         func::jvp(extreme, x[2], t[2]).second}, 0);
    EXPECT_TRUE(allclose(tangent, each, 1e-15, 1e-15)) << tangent << each;
    Tensor plain = func::vmap(extreme)(x), tracked = func::vmap(extreme)(x.detach().requires_grad_(true));
    EXPECT_TRUE(equal(plain, tracked.detach()));
    EXPECT_TRUE(equal(plain, loop_all([&](const TensorList& in) { return TensorList{extreme(in[0])}; }, {x}, {0})[0]));
  }
  Tensor zero_max = func::vmap([](const Tensor& s) { return s.max(); })(tensor({{-0.0, -1.0}}, kFloat64).requires_grad_(true));
  EXPECT_TRUE(std::signbit(zero_max.item<double>()));
}

TEST(VmapReductions, LossesUnderVmap) {
  manual_seed(7);
  namespace F = nn::functional;
  Tensor logits = randn({5, 3, 4}, kFloat64), probs = softmax(randn({5, 3, 4}, kFloat64), -1);
  Tensor classes = tensor({int64_t{0}, 3, 1});
  Tensor per_sample_classes = (arange(0, 15, 1, kInt64).reshape({5, 3}) * 7) % 4;
  Function losses = [&](const TensorList& in) {
    return TensorList{F::mse_loss(in[0], in[1]), F::l1_loss(in[0], in[1], kSum), F::smooth_l1_loss(in[0], in[1]),
                      F::huber_loss(in[0], in[1]), F::binary_cross_entropy(sigmoid(in[0]), in[1]),
                      F::binary_cross_entropy_with_logits(in[0], in[1]), F::cross_entropy(in[0], in[1])};
  };
  expect_vmap_equals_loop(losses, {logits, probs}, {0, 0});
  expect_vmap_equals_loop(losses, {logits, probs[0]}, {0, std::nullopt});
  Function class_losses = [&](const TensorList& in) {
    return TensorList{F::cross_entropy(in[0], in[1]), F::nll_loss(log_softmax(in[0], 1), in[1], kSum),
                      F::cross_entropy(in[0], in[1], F::CrossEntropyFuncOptions().ignore_index(1).label_smoothing(0.2))};
  };
  expect_vmap_equals_loop(class_losses, {logits, classes}, {0, std::nullopt});
  expect_vmap_equals_loop(class_losses, {logits, per_sample_classes}, {0, 0});
  // Value checks see every sample's values: one sample's bad class or probability raises, naming the
  // sample's shapes.
  Tensor bad_classes = per_sample_classes.clone();
  bad_classes.select(0, 3).select(0, 2).fill_(4);
  try {
    func::vmap(class_losses, {0, 0})({logits, bad_classes});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target 4 is out of bounds for 4 classes (input shape [3,4], target shape [3])"),
              std::string::npos)
        << e.what();
  }
  Tensor bad_probs = probs.clone();
  bad_probs.select(0, 4).select(0, 1).select(0, 0).fill_(1.5);
  Function bce = [](const TensorList& in) { return TensorList{F::binary_cross_entropy(in[0], in[1])}; };
  EXPECT_THROW(func::vmap(bce, {0, std::nullopt})({bad_probs, probs[0]}), Error);
}

TEST(VmapReductions, BatchNormOfEachSample) {
  manual_seed(8);
  // Each sample is a whole [N, C, L] input: training statistics over its own N and L, or given
  // running statistics (shared, or one set per sample) in evaluation.
  Tensor x = randn({4, 3, 2, 5}, kFloat64), w = randn({2}, kFloat64), b = randn({2}, kFloat64);
  Tensor mean = randn({2}, kFloat64), var = rand({2}, kFloat64) + 0.5;
  Function train = [](const TensorList& in) {
    return TensorList{batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1, 1e-5)};
  };
  expect_vmap_equals_loop(train, {x, w, b}, {1, std::nullopt, std::nullopt});
  expect_vmap_equals_loop(train, {x, randn({3, 2}, kFloat64), b}, {1, 0, std::nullopt});
  Function eval = [](const TensorList& in) {
    return TensorList{batch_norm(in[0], in[1], in[2], in[3], in[4], false, 0.1, 1e-5)};
  };
  expect_vmap_equals_loop(eval, {x, w, b, mean, var}, {0, std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  expect_vmap_equals_loop(eval, {x, w, b, randn({2, 3}, kFloat64), rand({3, 2}, kFloat64) + 0.5},
                          {1, std::nullopt, std::nullopt, 1, 0});
}

// The message of the dydx::Error f raises under vmap (and checks one was raised).
std::string vmap_error(const Function& f, const TensorList& inputs, const BatchDims& in_dims) {
  try {
    func::vmap(f, in_dims)(inputs);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

void expect_names(const std::string& message, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
}

TEST(VmapReductions, ErrorsNameTheOpAndTheSamplesShapes) {
  Tensor x = randn({5, 3, 4}, kFloat64);  // samples [3, 4]
  auto one = [](std::function<Tensor(const Tensor&)> op) {
    return Function([op](const TensorList& in) { return TensorList{op(in[0])}; });
  };
  // Dims are checked against the sample's rank, 2, not the batch's.
  expect_names(vmap_error(one([](const Tensor& s) { return s.sum({2}); }), {x}, {0}), {"sum", "dim 2", "rank 2"});
  expect_names(vmap_error(one([](const Tensor& s) { return std::get<0>(s.max(-3)); }), {x}, {2}), {"max", "dim -3", "rank 2"});
  expect_names(vmap_error(one([](const Tensor& s) { return s.var({1, -1}); }), {x}, {1}),
               {"var", "appears multiple times", "[5,4]"});
  expect_names(vmap_error(one([](const Tensor& s) { return s.logsumexp({0, 0}); }), {x}, {0}),
               {"logsumexp", "[3,4]"});
  expect_names(vmap_error(one([](const Tensor& s) { return layer_norm(s, {3}); }), {x}, {0}),
               {"layer_norm", "[3]", "[3,4]"});
  expect_names(vmap_error(one([](const Tensor& s) { return layer_norm(s, {4}, ones({3})); }), {x}, {0}),
               {"layer_norm", "weight", "[3]"});
  expect_names(vmap_error(one([](const Tensor& s) { return s.norm(NAN); }), {x}, {0}), {"norm", "nan"});
  Tensor empty_rows = zeros({5, 3, 0}, kFloat64);
  expect_names(vmap_error(one([](const Tensor& s) { return std::get<0>(s.min(1)); }), {empty_rows}, {0}),
               {"min", "[3,0]"});
  expect_names(vmap_error(one([](const Tensor& s) { return s.max(); }), {empty_rows}, {0}), {"max", "numel() == 0"});
  Tensor ints = zeros({5, 3}, kInt64);
  expect_names(vmap_error(one([](const Tensor& s) { return s.mean(); }), {ints}, {0}), {"mean", "int64"});
  expect_names(vmap_error(one([](const Tensor& s) { return softmax(s, 0); }), {ints}, {0}), {"softmax", "[3]"});
  expect_names(vmap_error(one([](const Tensor& s) { return s.std(); }), {ints}, {0}), {"std", "[3]"});
  // None of them names the batch's shape.
  EXPECT_EQ(vmap_error(one([](const Tensor& s) { return layer_norm(s, {3}); }), {x}, {0}).find("5"), std::string::npos);
}

}  // namespace
}  // namespace dydx
