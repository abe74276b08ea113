// func::vmap: semantics, composition with the other transforms, and bad input.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "vmap_test_util.hpp"

#include <thread>


namespace dydx {
namespace {

using vmap_test::error_of;
using vmap_test::expect_same;
using vmap_test::loop_all;

using func::BatchDims;
using func::Function;



TEST(Vmap, ElementwiseAndBroadcasting) {
  manual_seed(0);
  Tensor x = randn({5, 3, 4}, kFloat64), w = randn({4}, kFloat64);
  Function f = [](const TensorList& in) { return TensorList{tanh(in[0]) * in[1] + exp(in[0]).pow(2) - 1.5}; };
  for (int64_t d = 0; d < 3; ++d) {
    Tensor xd = x.movedim(0, d);
    expect_same(func::vmap(f, {d, std::nullopt})({xd, w})[0], loop_all(f, {xd, w}, {d, std::nullopt})[0]);
  }
  Tensor y = randn({4, 5}, kFloat64);  // samples of shape [4], batched along dim 1
  expect_same(func::vmap(f, {0, 1})({x, y})[0], loop_all(f, {x, y}, {0, 1})[0]);
}

TEST(Vmap, UnaryFormAndOutDims) {
  manual_seed(1);
  Tensor x = randn({4, 3}, kFloat64);
  auto f = [](const Tensor& v) { return v.unsqueeze(0) * v.unsqueeze(1); };  // outer product, [3, 3]
  Tensor out = func::vmap(f)(x);
  expect_same(out, loop_all([&](const TensorList& in) { return TensorList{f(in[0])}; }, {x}, {0})[0]);
  Tensor moved = func::vmap(f, 0, 2)(x);
  expect_same(moved, out.movedim(0, 2));
}

// A per-sample loss of weights w [3, 2] and bias b [2] on one sample x [3], target y [2].
Tensor sample_loss(const Tensor& w, const Tensor& b, const Tensor& x, const Tensor& y) {
  Tensor h = tanh(matmul(x, w) + b);
  return ((h - y) * (h - y)).sum();
}

TEST(VmapComposition, PerSampleGradientsOfSharedWeights) {
  manual_seed(3);
  Tensor w = randn({3, 2}, kFloat64), b = randn({2}, kFloat64);
  Tensor xs = randn({5, 3}, kFloat64), ys = randn({5, 2}, kFloat64);
  Function loss = [](const TensorList& in) { return TensorList{sample_loss(in[0], in[1], in[2], in[3])}; };
  Function per_sample = func::vmap(func::grad(loss, {0, 1}), {std::nullopt, std::nullopt, 0, 0});
  TensorList grads = per_sample({w, b, xs, ys});
  ASSERT_EQ(grads.size(), 2u);
  TensorList expected = loop_all(func::grad(loss, {0, 1}), {w, b, xs, ys}, {std::nullopt, std::nullopt, 0, 0});
  expect_same(grads[0], expected[0]);
  expect_same(grads[1], expected[1]);
  EXPECT_EQ(grads[0].sizes().vec(), std::vector<int64_t>({5, 3, 2}));
}

TEST(VmapComposition, GradOfCapturedBatchedTensor) {
  // grad inside vmap of a function that closes over the batched sample: per-sample, as functorch.
  manual_seed(4);
  Tensor xs = randn({4, 3}, kFloat64), w = randn({3}, kFloat64);
  auto per_sample = func::vmap([w](const Tensor& x) {
    return func::grad([x](const Tensor& v) { return (v * x).sin().sum(); })(w);
  });
  Tensor expected = stack({cos(w * xs[0]) * xs[0], cos(w * xs[1]) * xs[1], cos(w * xs[2]) * xs[2], cos(w * xs[3]) * xs[3]});
  expect_same(per_sample(xs), expected);
}

// Functions of one sample x [3] built from elementwise ops and views only.
Tensor coupled(const Tensor& x) { return sin(x) * x.select(0, 1) + x.pow(2) * x.select(0, 2); }
Tensor coupled_scalar(const Tensor& x) { return x.select(0, 0) * sin(x.select(0, 1)) * x.select(0, 2).exp(); }

TEST(VmapComposition, ElementwiseOnlyGradJacobiansHessians) {
  manual_seed(5);
  Tensor xs = randn({4, 3}, kFloat64);
  auto per_row = [&](func::UnaryFunction t) {
    TensorList rows;
    for (int64_t b = 0; b < 4; ++b) rows.push_back(t(xs[b]));
    return stack(rows);
  };
  expect_same(func::vmap(func::grad(coupled_scalar))(xs), per_row(func::grad(coupled_scalar)));
  expect_same(func::vmap(func::jacrev(coupled))(xs), per_row(func::jacrev(coupled)));
  expect_same(func::vmap(func::jacfwd(coupled))(xs), per_row(func::jacfwd(coupled)));
  expect_same(func::vmap(func::hessian(coupled_scalar))(xs), per_row(func::hessian(coupled_scalar)));
  expect_same(func::vmap(func::jacrev(coupled, 2))(xs), per_row(func::jacrev(coupled)));
  // In the other order the batch is a plain dim: the Jacobian of the batch is block diagonal.
  Tensor full = func::jacrev(func::vmap(coupled))(xs);
  EXPECT_EQ(full.sizes().vec(), std::vector<int64_t>({4, 3, 4, 3}));
  for (int64_t b = 0; b < 4; ++b) expect_same(full.select(0, b).select(1, b), func::jacrev(coupled)(xs[b]));
  // vjp and jvp inside vmap, with batched cotangents and tangents.
  Tensor vs = randn({4, 3}, kFloat64);
  Tensor vjps = func::vmap([](const TensorList& in) { return TensorList{func::vjp(coupled, in[0]).second(in[1])}; },
                           {0, 0})({xs, vs})[0];
  Tensor jvps = func::vmap([](const TensorList& in) { return TensorList{func::jvp(coupled, in[0], in[1]).second}; },
                           {0, 0})({xs, vs})[0];
  for (int64_t b = 0; b < 4; ++b) {
    Tensor j = func::jacrev(coupled)(xs[b]);
    expect_same(vjps[b], (j * vs[b].unsqueeze(1)).sum({0}));
    expect_same(jvps[b], (j * vs[b].unsqueeze(0)).sum({1}));
  }
  // Nested: vmap(vmap(grad)).
  Tensor xss = randn({2, 4, 3}, kFloat64);
  Tensor nested = func::vmap(func::vmap(func::grad(coupled_scalar)))(xss);
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 4; ++b) expect_same(nested[a][b], func::grad(coupled_scalar)(xss[a][b]));
}


TEST(VmapErrors, BadDimsAndSizesNameVmapAndTheArgument) {
  Tensor x = ones({3, 2}), y = ones({4, 2});
  Function add2 = [](const TensorList& in) { return TensorList{in[0] + in[1]}; };
  EXPECT_NE(error_of([&] { func::vmap(add2)({x, y}); }).find("vmap: Expected all tensors to have the same size in the "
                                                              "mapped dimension, got sizes [3,4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap(add2, {0, 2})({x, x}); }).find("Got in_dim=2 for input 1"), std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap(add2, {0, -3})({x, x}); }).find("-2 <= in_dim < 2"), std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap(add2, {0, 0, 0})({x, x}); }).find("in_dims has 3 entries but f was given 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap(add2, {std::nullopt})({x, x}); }).find("at least one input must be batched"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap(add2)({}); }).find("vmap"), std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap(add2, {0})({x, Tensor()}); }).find("input 1 is undefined"), std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap(add2, {0}, {0}, {.chunk_size = -1}); }).find("chunk_size"), std::string::npos);
  // A 0-d input has no dim to map over.
  EXPECT_NE(error_of([&] { func::vmap([](const Tensor& t) { return t; })(tensor(1.0)); }).find("dimensionality 0"),
            std::string::npos);
}

TEST(VmapErrors, OutDims) {
  Tensor x = ones({3, 2});
  // A batched output promised to be the same for every sample.
  EXPECT_NE(error_of([&] { func::vmap([](const Tensor& t) { return t * 2; }, 0, std::nullopt)(x); })
                .find("output 0 is batched (it depends on a batched input) but its out_dim is std::nullopt"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap([](const Tensor& t) { return t * 2; }, 0, 2)(x); }).find("out_dim 2 for output 0"),
            std::string::npos);
  Function two = [](const TensorList& in) { return TensorList{in[0], in[0] * 2}; };
  EXPECT_NE(error_of([&] { func::vmap(two, {0}, {0, 1, 0})({x}); }).find("f returned 2 tensors but out_dims has 3"),
            std::string::npos);
  // An unbatched output with out_dims std::nullopt is returned as it is; with an out_dim it is
  // broadcast over the batch, as functorch.
  Tensor c = ones({2});
  Function shared = [c](const TensorList&) { return TensorList{c}; };
  EXPECT_EQ(func::vmap(shared, {0}, {std::nullopt})({x})[0].impl(), c.impl());
  Tensor broadcast = func::vmap(shared, {0}, {1})({x})[0];
  EXPECT_EQ(broadcast.sizes().vec(), std::vector<int64_t>({2, 3}));
}

TEST(VmapErrors, FailuresInsideLeaveNoLevelBehind) {
  Tensor x = ones({3, 2});
  EXPECT_NE(error_of([&] {
              func::vmap([](const Tensor& t) -> Tensor { throw Error("from f"); })(x);
            }).find("from f"),
            std::string::npos);
  // A batched tensor that escapes its call cannot be used afterwards.
  Tensor escaped;
  func::vmap([&escaped](const Tensor& t) {
    escaped = t;
    return t;
  })(x);
  EXPECT_NE(error_of([&] { (void)(escaped + 1); }).find("escaped"), std::string::npos);
  EXPECT_NE(error_of([&] { (void)escaped.to_vector<float>(); }).find("vmap"), std::string::npos);
  // vmap works again afterwards.
  expect_same(func::vmap([](const Tensor& t) { return t * 3; })(x), x * 3);
}

TEST(Vmap, ChunkSizeGivesTheSameResult) {
  manual_seed(7);
  Tensor x = randn({7, 3}, kFloat64);
  auto f = [](const Tensor& v) { return sin(v) * v.select(0, 2); };
  Tensor whole = func::vmap(f)(x);
  for (int64_t chunk : {1, 2, 3, 7, 100}) expect_same(func::vmap(f, 0, 0, {.chunk_size = chunk})(x), whole);
  expect_same(func::vmap(f, 1, 1, {.chunk_size = 2})(x.t()), whole.t());
}

TEST(Vmap, EmptyBatchAndZeroSizeSamples) {
  Tensor none = ones({0, 3});
  EXPECT_EQ(func::vmap([](const Tensor& v) { return v * 2; })(none).sizes().vec(), std::vector<int64_t>({0, 3}));
  Tensor empty_samples = ones({4, 0});
  EXPECT_EQ(func::vmap([](const Tensor& v) { return exp(v); })(empty_samples).sizes().vec(),
            std::vector<int64_t>({4, 0}));
}

TEST(Vmap, IntegerAndBoolInputs) {
  Tensor i = arange(6).reshape({2, 3});
  expect_same(func::vmap([](const Tensor& v) { return v * 2 + 1; })(i), i * 2 + 1);
  expect_same(func::vmap([](const Tensor& v) { return v > 2; })(i), i > 2);
  expect_same(func::vmap([](const Tensor& v) { return logical_not(v > 2); })(i), logical_not(i > 2));
}

TEST(Vmap, ItemAndPrintingInside) {
  Tensor x = arange(6, kFloat64).reshape({3, 2});
  EXPECT_NE(error_of([&] { func::vmap([](const Tensor& v) { return v * v.select(0, 0).item<double>(); })(x); })
                .find("vmap: item() was called on a tensor inside vmap (shape [])"),
            std::string::npos);
  std::string printed;
  func::vmap([&printed](const Tensor& v) {
    printed = to_string(v);
    return v;
  })(x);
  EXPECT_EQ(printed.rfind("BatchedTensor(lvl=", 0), 0u) << printed;
  EXPECT_NE(printed.find("bdim=0, value=\ntensor([[0., 1.],"), std::string::npos) << printed;
}

TEST(Vmap, DualTensorsInsideVmapCarryPerSampleTangents) {
  manual_seed(8);
  Tensor xs = randn({4, 3}, kFloat64), ts = randn({4, 3}, kFloat64);
  // forward_ad used directly inside f: the tangent travels with the batch.
  Function f = [](const TensorList& in) {
    forward_ad::DualLevel level;
    Tensor dual = forward_ad::make_dual(in[0], in[1]);
    Tensor out = coupled(dual);
    return TensorList{forward_ad::unpack_dual(out).tangent};
  };
  Tensor tangents = func::vmap(f, {0, 0})({xs, ts})[0];
  for (int64_t b = 0; b < 4; ++b) expect_same(tangents[b], func::jvp(coupled, xs[b], ts[b]).second);
  // A shared tangent for every sample.
  Tensor shared = func::vmap(f, {0, std::nullopt})({xs, ts[0]})[0];
  for (int64_t b = 0; b < 4; ++b) expect_same(shared[b], func::jvp(coupled, xs[b], ts[0]).second);
}

TEST(VmapErrors, EagerAutogradInsideVmap) {
  Tensor x = ones({3, 2});
  EXPECT_NE(error_of([&] { func::vmap([](const Tensor& v) { return v.detach().requires_grad_(); })(x); })
                .find("vmap: requires_grad_() is not supported on a tensor inside vmap"),
            std::string::npos);
  // A gradient with respect to a tensor every sample shares would be the sum of the samples'.
  Tensor w = ones({2}, kFloat32).requires_grad_();
  EXPECT_NE(error_of([&] {
              func::vmap([&w](const Tensor& v) { return grad({(v * w).select(0, 0)}, {w}, {tensor(1.0f)})[0]; })(x);
            }).find("inputs[0] (shape [2]) is shared by every sample"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              func::vmap([&w](const Tensor& v) {
                backward({(v * w).select(0, 0)}, {tensor(1.0f)});
                return v;
              })(x);
            }).find("vmap: backward() is not supported on tensors inside vmap"),
            std::string::npos);
}

TEST(Vmap, EagerGradInsideVmapIsPerSample) {
  manual_seed(9);
  // Outputs and inputs batched: the gradient of each sample's output with respect to its input.
  Tensor xs = randn({4, 3}, kFloat64).requires_grad_();
  Tensor per_sample = func::vmap([](const Tensor& x) {
    return grad({coupled_scalar(x)}, {x}, {tensor(1.0, kFloat64)}, std::nullopt, /*create_graph=*/true)[0];
  })(xs);
  for (int64_t b = 0; b < 4; ++b) expect_same(per_sample[b], func::grad(coupled_scalar)(xs[b].detach()));
  // Differentiable: the sum of per-sample gradients differentiated again is each sample's Hessian row sum.
  Tensor second = grad({per_sample.sum()}, {xs})[0];
  for (int64_t b = 0; b < 4; ++b) expect_same(second[b], func::hessian(coupled_scalar)(xs[b].detach()).sum({0}), 1e-10);
  // Only the cotangents batched: a batch of vector-Jacobian products of one shared graph.
  Tensor w = randn({3}, kFloat64).requires_grad_();
  Tensor y = coupled(w);
  Tensor cots = randn({5, 3}, kFloat64);
  Tensor vjps = func::vmap([&](const Tensor& c) { return grad({y}, {w}, {c}, /*retain_graph=*/true)[0]; })(cots);
  Tensor j = func::jacrev(coupled)(w.detach());
  for (int64_t b = 0; b < 5; ++b) expect_same(vjps[b], matmul(cots[b], j));
}

// batch_jacobian and its kin inside vmap: each sample's rows, as outside.
TEST(VmapComposition, PerSampleTransformsOfRowsInsideVmap) {
  manual_seed(10);
  Tensor xs = randn({3, 4, 2}, kFloat64);  // 3 samples of 4 rows of 2
  auto f = [](const Tensor& r) { return cat({sin(r) * r.sum(-1, true), r.pow(3)}, -1); };  // [R, 2] -> [R, 4]
  auto g = [](const Tensor& r) { return tanh(r) * r.select(-1, 0).unsqueeze(-1); };          // [R, 2] -> [R, 2]
  for (int64_t b = 0; b < 3; ++b) {
    expect_same(func::vmap([&](const Tensor& x) { return func::batch_jacobian(f, x); })(xs)[b],
                func::batch_jacobian(f, xs[b]));
    expect_same(func::vmap([&](const Tensor& x) { return func::batch_hessian(g, x); })(xs)[b],
                func::batch_hessian(g, xs[b]));
    expect_same(func::vmap([&](const Tensor& x) { return func::batch_hessian_diagonal(g, x); })(xs)[b],
                func::batch_hessian_diagonal(g, xs[b]));
    expect_same(func::vmap([&](const Tensor& x) { return func::laplacian(g, x); })(xs)[b], func::laplacian(g, xs[b]));
  }
  EXPECT_NE(error_of([&] {
              func::vmap([&](const Tensor& x) { return func::batch_jacobian(f, x, {.check_independence = true}); })(xs);
            }).find("check_independence is not supported inside vmap"),
            std::string::npos);
}

// A 0-d sample promotes as a 0-d tensor does, not as its batch (which has a dim) would.
TEST(Vmap, ZeroDimSamplesPromoteAsZeroDimTensors) {
  Tensor s = tensor({0.1, 2.5}, kFloat64);  // samples of shape []
  Tensor y = tensor({0.1f, 1.0f, 2.5f});
  Function times = [](const TensorList& in) { return TensorList{in[0] * in[1]}; };
  Function equal = [](const TensorList& in) { return TensorList{eq(in[0], in[1])}; };
  Function choose = [](const TensorList& in) { return TensorList{where(in[1] > 1.0f, in[0], in[1])}; };
  for (const Function& f : {times, equal, choose}) {
    Tensor batched = func::vmap(f, {0, std::nullopt})({s, y})[0];
    Tensor looped = loop_all(f, {s, y}, {0, std::nullopt})[0];
    EXPECT_EQ(batched.dtype(), looped.dtype());
    expect_same(batched, looped);
  }
  EXPECT_EQ(func::vmap(times, {0, std::nullopt})({s, y})[0].dtype(), kFloat32);
  // An int64 0-d sample against float32 samples: float32, both ways.
  expect_same(func::vmap(times, {0, std::nullopt})({arange(2), y})[0], loop_all(times, {arange(2), y}, {0, std::nullopt})[0]);
}

TEST(VmapErrors, BroadcastErrorsNameTheSamplesShapes) {
  Tensor x = ones({2, 3}), z = ones({4});
  EXPECT_NE(error_of([&] { func::vmap([&z](const Tensor& v) { return v + z; })(x); }).find("[3] and [4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { func::vmap([&z](const Tensor& v) { return where(v > 0, v, z); })(x); }).find("[4]"),
            std::string::npos);
  const std::string message = error_of([&] { func::vmap([&z](const Tensor& v) { return v + z; })(x); });
  EXPECT_EQ(message.find("[2,3]"), std::string::npos) << message;
}

TEST(Vmap, ChunkedSameRandomnessSharesOneDraw) {
  manual_seed(11);
  Tensor x = zeros({5, 3});
  Tensor out = func::vmap([](const Tensor& v) { return v + randn({3}); }, 0, 0,
                          {.randomness = func::Randomness::same, .chunk_size = 2})(x);
  for (int64_t b = 1; b < 5; ++b) expect_same(out[b], out[0]);
  Tensor different = func::vmap([](const Tensor& v) { return v + randn({3}); }, 0, 0,
                                {.randomness = func::Randomness::different, .chunk_size = 2})(x);
  EXPECT_FALSE(allclose(different[0], different[1]));
  EXPECT_FALSE(allclose(different[1], different[2]));
}

TEST(VmapComposition, VmapOverAPullbackInsideVmap) {
  // functorch's per-sample Jacobian: vmap over the pullback of each sample's vjp.
  manual_seed(12);
  Tensor xs = randn({4, 3}, kFloat64);
  Tensor basis = eye(3, kFloat64);
  Tensor jac = func::vmap([&basis](const Tensor& x) {
    auto pullback = func::vjp(coupled, x).second;
    return func::vmap(pullback)(basis);
  })(xs);
  for (int64_t b = 0; b < 4; ++b) expect_same(jac[b], func::jacrev(coupled)(xs[b]));
}

TEST(VmapErrors, AnEscapedTensorRaisesInsideALaterVmap) {
  Tensor x = ones({2, 3});
  Tensor leaked;
  func::vmap([&leaked](const Tensor& v) {
    leaked = v;
    return v;
  })(x);
  EXPECT_NE(error_of([&] { func::vmap([&leaked](const Tensor& v) { return v + leaked.sin(); })(ones({5, 3})); })
                .find("escaped"),
            std::string::npos);
}

TEST(Vmap, ConcurrentCallsKeepTheirOwnLevels) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &ok] {
      Tensor x = full({3, 2}, static_cast<double>(t), kFloat64);
      for (int i = 0; i < 50; ++i) {
        Tensor y = func::vmap(func::vmap([](const Tensor& v) { return v * 2 + 1; }))(x.unsqueeze(0).expand({2, 3, 2}));
        if (!allclose(y, full({2, 3, 2}, 2.0 * t + 1, kFloat64))) return;
      }
      ok[t] = 1;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

// Arguments PyTorch's vmap refuses with ValueError (in_dims that do not fit an input, batch sizes that
// differ) throw dydx::ValueError; an out_dim out of range dydx::IndexError, as PyTorch's.
TEST(Vmap, BadArgumentsRaiseTheKindsPyTorchRaises) {
  const auto id = [](const Tensor& x) { return x; };
  EXPECT_THROW(func::vmap(id, 5)(zeros({2})), ValueError);
  EXPECT_THROW(func::vmap(Function([](const TensorList& in) { return TensorList{in[0] + in[1]}; }))({zeros({2}), zeros({3})}),
               ValueError);
  EXPECT_THROW(func::vmap(id, 0, 3)(zeros({2})), IndexError);
}

}  // namespace
}  // namespace dydx
