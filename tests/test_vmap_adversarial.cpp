// vmap attacked where the other vmap tests do not reach: tensors batched by a vmap that is not running
// on this thread (escaped, or from another thread's vmap), errors of broadcasting ops, cat, view and
// index_select naming the sample's shapes and dims (not the batch's), writes through views of views
// and into expanded batches, duplicate indices with accumulate, transforms with some inputs batched,
// three nested levels with a different in_dim each, and concurrent vmaps on several threads.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "vmap_test_util.hpp"

#include <string>
#include <thread>
#include <vector>

namespace dydx {
namespace {

using vmap_test::error_of;

using func::BatchDims;
using func::Function;


Function binary(Tensor (*op)(const Tensor&, const Tensor&)) {
  return [op](const TensorList& in) { return TensorList{op(in[0], in[1])}; };
}

// Levels used to be counted per thread: a tensor batched by the main thread's first vmap passed, in
// another thread's first vmap, for that vmap's batch of the same level, and mixed samples silently.
TEST(VmapAdversarial, TensorsBatchedOnAnotherThreadRaise) {
  const Tensor x = arange(6, kFloat64).reshape({3, 2});
  std::string error;
  func::vmap([&](const Tensor& s) {
    std::thread other([&] { error = error_of([&] { func::vmap([&](const Tensor& t) { return t + s; })(x); }); });
    other.join();
    return s;
  })(x);
  EXPECT_NE(error.find("another thread"), std::string::npos) << error;
}

// A tensor that escaped its vmap raises at the first op using it inside a later vmap, not only when
// its data is read after the later vmap returned it as a batched tensor.
TEST(VmapAdversarial, EscapedTensorRaisesAtItsFirstUse) {
  const Tensor x = arange(6, kFloat64).reshape({3, 2});
  Tensor escaped;
  func::vmap([&](const Tensor& s) {
    escaped = s;
    return s;
  })(x);
  const std::string error = error_of([&] { func::vmap([&](const Tensor& t) { return t * 2.0 + escaped; })(x); });
  EXPECT_NE(error.find("escaped"), std::string::npos) << error;
  // The failed call left nothing running: the next vmap works.
  EXPECT_TRUE(equal(func::vmap([](const Tensor& t) { return t * 2.0; })(x), x * 2.0));
}

TEST(VmapAdversarial, BroadcastingErrorsNameTheSamplesShapes) {
  const Tensor a = randn({4, 2}, kFloat64), b = randn({4, 3}, kFloat64);
  const std::vector<std::pair<std::string, Function>> ops{
      {"add", binary([](const Tensor& x, const Tensor& y) { return x + y; })},
      {"sub", binary([](const Tensor& x, const Tensor& y) { return x - y; })},
      {"mul", binary([](const Tensor& x, const Tensor& y) { return x * y; })},
      {"pow", binary([](const Tensor& x, const Tensor& y) { return pow(x, y); })},
      {"eq", binary([](const Tensor& x, const Tensor& y) { return eq(x, y); })},
      {"where", binary([](const Tensor& x, const Tensor& y) { return where(x > 0.0, x, y); })},
      {"masked_fill", binary([](const Tensor& x, const Tensor& y) { return masked_fill(x, y > 0.0, 1.0); })},
  };
  for (const auto& op : ops) {
    SCOPED_TRACE(op.first);
    for (const BatchDims& dims : {BatchDims{0, 0}, BatchDims{0, std::nullopt}}) {
      const Tensor second = dims[1] ? b : b.select(0, 0);
      const std::string error = error_of([&] { func::vmap(op.second, dims)({a, second}); });
      EXPECT_NE(error.find(op.first), std::string::npos) << error;
      EXPECT_NE(error.find("[2] and [3]"), std::string::npos) << error;
    }
  }
  const Tensor ints = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}).reshape({4, 2});
  const Tensor other = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}).reshape({4, 3});
  const std::string error = error_of([&] { func::vmap(binary(bitwise_and))({ints, other}); });
  EXPECT_NE(error.find("[2] and [3]"), std::string::npos) << error;
}

TEST(VmapAdversarial, CatViewAndIndexSelectErrorsNameTheSample) {
  const Tensor x = randn({4, 2, 3}, kFloat64), y = randn({4, 2, 4}, kFloat64);
  std::string error = error_of([&] {
    func::vmap([](const TensorList& in) { return TensorList{cat({in[0], in[1]}, 0)}; })({x, y});
  });
  EXPECT_NE(error.find("except in dimension 0"), std::string::npos) << error;
  EXPECT_NE(error.find("[2,3] and [2,4]"), std::string::npos) << error;
  error = error_of([&] { func::vmap([](const Tensor& s) { return s.view({6}); })(x.transpose(1, 2)); });
  EXPECT_NE(error.find("size [3,2]"), std::string::npos) << error;
  error = error_of([&] {
    func::vmap([](const Tensor& s) { return s.index_select(0, tensor(std::vector<int64_t>{5})); })(x);
  });
  EXPECT_NE(error.find("dimension 0 with size 2"), std::string::npos) << error;
  // Advanced indexing and index_put, with shared and per-sample indices.
  const Tensor five = tensor(std::vector<int64_t>{5});
  for (const BatchDims& dims : {BatchDims{0, std::nullopt}, BatchDims{0, 0}}) {
    const Tensor index = dims[1] ? five.expand({4, 1}) : five;
    error = error_of([&] {
      func::vmap([](const TensorList& in) { return TensorList{in[0].index({in[1]})}; }, dims)({x, index});
    });
    EXPECT_NE(error.find("index: index 5 is out of bounds for dimension 0 with size 2"), std::string::npos) << error;
    error = error_of([&] {
      func::vmap([](const TensorList& in) { return TensorList{in[0].index({indexing::Slice(), in[1]})}; }, dims)({x, index});
    });
    EXPECT_NE(error.find("dimension 1 with size 3"), std::string::npos) << error;
    error = error_of([&] {
      func::vmap([](const TensorList& in) { return TensorList{in[0].index_put({in[1]}, zeros({3}, kFloat64))}; }, dims)(
          {x, index});
    });
    EXPECT_NE(error.find("dimension 0 with size 2"), std::string::npos) << error;
  }
  // In range, the rules still give the loop's results.
  const Tensor picked = func::vmap([](const Tensor& s) { return s.index_select(1, tensor(std::vector<int64_t>{2, 0})); })(x);
  EXPECT_TRUE(equal(picked, x.index_select(2, tensor(std::vector<int64_t>{2, 0}))));
  EXPECT_TRUE(equal(func::vmap([](const Tensor& s) { return s.view({6}); })(x), x.reshape({4, 6})));
}

// Writes through a view of a view of a sample whose batch dim is last land in the batch.
TEST(VmapAdversarial, WritesThroughViewsOfViewsAndExpandedBatches) {
  Tensor base = arange(24, kFloat64).reshape({2, 3, 4});
  Tensor expected = base.clone();
  expected.select(0, 0).narrow(0, 1, 2).zero_();  // each sample s: s.t()[1:3, 0] is s[0, 1:3]
  const Tensor out = func::vmap([](const Tensor& s) {
    Tensor v = s.t().narrow(0, 1, 2).select(1, 0);
    v.zero_();
    return s;
  }, 2, 0)(base);
  EXPECT_TRUE(equal(base, expected));
  EXPECT_TRUE(equal(out, expected.movedim(2, 0)));
  // A batch of stride 0 (one sample expanded) cannot be written, as outside vmap.
  const Tensor shared = arange(3, kFloat64);
  const std::string error = error_of([&] {
    func::vmap([](const Tensor& s) {
      Tensor t = s;
      t.add_(1.0);
      return t;
    })(shared.unsqueeze(0).expand({4, 3}));
  });
  EXPECT_NE(error.find("single memory location"), std::string::npos) << error;
  EXPECT_TRUE(equal(shared, arange(3, kFloat64)));
}

TEST(VmapAdversarial, IndexPutAccumulateWithDuplicateIndices) {
  Tensor self = zeros({2, 4}, kFloat64);
  const Tensor idx = tensor(std::vector<int64_t>{0, 0, 3, 1, 1, 1}).reshape({2, 3});
  const Tensor values = arange(6, kFloat64).reshape({2, 3}) + 1.0;
  func::vmap([](const TensorList& in) {
    Tensor t = in[0];
    t.index_put_({in[1]}, in[2], true);
    return TensorList{t};
  })({self, idx, values});
  EXPECT_TRUE(equal(self, tensor(std::vector<double>{3, 0, 0, 3, 0, 15, 0, 0}, kFloat64).reshape({2, 4})));
  // Shared indices, batched values.
  Tensor other = zeros({2, 4}, kFloat64);
  func::vmap([](const TensorList& in) {
    Tensor t = in[0];
    t.index_put_({in[1]}, in[2], true);
    return TensorList{t};
  }, BatchDims{0, std::nullopt, 0})({other, idx.select(0, 0), values});
  EXPECT_TRUE(equal(other, tensor(std::vector<double>{3, 0, 0, 3, 9, 0, 0, 6}, kFloat64).reshape({2, 4})));
}

TEST(VmapAdversarial, TransformsWithOnlySomeInputsBatched) {
  manual_seed(0);
  const auto f = [](const Tensor& x) { return x.sin() * x; };
  const auto df = [](const Tensor& x) { return x.cos() * x + x.sin(); };
  const Tensor batch = randn({3, 4}, kFloat64), one = randn({4}, kFloat64);
  const Function jvp_of = [&](const TensorList& in) {
    auto r = func::jvp(f, in[0], in[1]);
    return TensorList{r.first, r.second};
  };
  TensorList r = func::vmap(jvp_of, BatchDims{std::nullopt, 0})({one, batch});
  EXPECT_TRUE(allclose(r[1], batch * df(one)));
  EXPECT_TRUE(allclose(r[0], f(one).expand({3, 4})));
  r = func::vmap(jvp_of, BatchDims{0, std::nullopt})({batch, one});
  EXPECT_TRUE(allclose(r[1], one * df(batch)));
  const Function vjp_of = [&](const TensorList& in) { return TensorList{func::vjp(f, in[0]).second(in[1])}; };
  EXPECT_TRUE(allclose(func::vmap(vjp_of, BatchDims{std::nullopt, 0})({one, batch})[0], batch * df(one)));
  EXPECT_TRUE(allclose(func::vmap(vjp_of, BatchDims{0, std::nullopt})({batch, one})[0], one * df(batch)));
  const Function linearized = [&](const TensorList& in) { return TensorList{func::linearize(f, in[0]).second(in[1])}; };
  EXPECT_TRUE(allclose(func::vmap(linearized)({batch, (batch * 0.5 + 1.0)})[0], (batch * 0.5 + 1.0) * df(batch)));
}

TEST(VmapAdversarial, ThreeLevelsWithADifferentInDimEach) {
  manual_seed(1);
  const Tensor x = randn({2, 3, 4, 5}, kFloat64);
  const auto f = [](const Tensor& s) { return s.sin().sum() * s.select(0, 0) + s.select(0, 2); };
  const Tensor r = func::vmap(func::vmap(func::vmap(f, 1, 0), 0, 0), 3, 0)(x);
  ASSERT_EQ(r.sizes(), IntArrayRef({5, 2, 4}));
  for (int64_t a = 0; a < 5; ++a)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t c = 0; c < 4; ++c)
        EXPECT_NEAR(r.index({a, b, c}).item<double>(), f(x.select(3, a).select(0, b).select(1, c)).item<double>(), 1e-12);
}

TEST(VmapAdversarial, ConcurrentVmapsOnSeveralThreads) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (size_t i = 0; i < ok.size(); ++i)
    threads.emplace_back([&ok, i] {
      for (int k = 0; k < 50; ++k) {
        const Tensor x = randn({5, 3}, kFloat64);
        const Tensor r = func::vmap(func::vmap([](const Tensor& s) { return s.exp().sum() * s; }))(
            x.unsqueeze(0).expand({2, 5, 3}));
        ok[i] += allclose(r.select(0, 1), x.exp().sum(1, true) * x);
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, std::vector<int>(4, 50));
}

// Randomness::same is one draw for the whole batch, also when chunk_size splits it: each chunk used
// to draw afresh, so samples in different chunks got different numbers.
TEST(VmapAdversarial, RandomnessSameIsOneDrawAcrossChunks) {
  const Tensor x = arange(20, kFloat64).reshape({5, 4});
  const auto noisy = [](const Tensor& s) { return s + randn({4}, kFloat64); };
  manual_seed(3);
  const Tensor whole = func::vmap(noisy, 0, 0, {.randomness = func::Randomness::same})(x);
  const Tensor after_whole = randn({2}, kFloat64);
  manual_seed(3);
  const Tensor chunked = func::vmap(noisy, 0, 0, {.randomness = func::Randomness::same, .chunk_size = 2})(x);
  const Tensor after_chunked = randn({2}, kFloat64);
  EXPECT_TRUE(equal(chunked, whole));
  EXPECT_TRUE(equal(after_chunked, after_whole));  // the stream moved on by one draw, as unchunked
  // Randomness::different still draws per sample in every chunk.
  const Tensor different = func::vmap(noisy, 0, 0, {.randomness = func::Randomness::different, .chunk_size = 2})(x) - x;
  EXPECT_FALSE(equal(different.select(0, 0), different.select(0, 2)));
}

}  // namespace
}  // namespace dydx
