// Writes through layouts that overlap themselves, and every op on 1 thread against 2, 4 and 8.
//
// The gradient of an overlapping view (the im2col of a hand-written conv2d) accumulates into an
// overlapping view of zeros; split across threads, two pieces once added into one element at
// the same time and lost one of the additions. In-place writes into a tensor whose elements
// share memory raise, as in PyTorch.
//
// The differential test runs every row of the op table (tests/op_table.cpp) over expanded,
// overlapping and as_strided inputs, and compares its forward, its VJP and its JVP on 1 thread
// with the same on 2, 4 and 8 (forced, whatever the number of cores). Cotangents and tangents come
// in large batches (is_grads_batched, batched duals) so that every rule's kernels are long enough
// to be split across the pool.
//
// The default suite (and scripts/run_tests.sh under TSan) runs a short version: 20 backward passes
// per im2col and thread count, and each row's first sample on one of the three layouts, the rows
// taking them in turn. DYDX_LONG_STRESS=1 runs the long one by hand: 10^4 backward passes per
// im2col and thread count, and every sample of every row on every layout, 5 times.
//     DYDX_LONG_STRESS=1 build/tests/test_overlap --gtest_filter='*Stress*:*Differential*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "autograd/forward_mode.hpp"  // make_batched_dual
#include "core/overlap.hpp"
#include "cpu/cpu_loops.hpp"
#include "op_table.hpp"
#include "test_util.hpp"

namespace dydx::testing {
namespace {

bool long_stress() {
  const char* env = std::getenv("DYDX_LONG_STRESS");
  return env != nullptr && std::string(env) == "1";
}


constexpr int kThreadCounts[] = {2, 4, 8};

// ---- the overlap test itself --------------------------------------------------------------

TEST(InternalOverlap, DenseStridedAndExpandedLayouts) {
  using detail::has_internal_overlap;
  EXPECT_FALSE(has_internal_overlap({3, 4}, {4, 1}));
  EXPECT_FALSE(has_internal_overlap({3, 4}, {1, 3}));   // transposed
  EXPECT_FALSE(has_internal_overlap({3, 4}, {8, 2}));   // stepped
  EXPECT_FALSE(has_internal_overlap({0, 4}, {0, 0}));   // empty
  EXPECT_FALSE(has_internal_overlap({1, 4}, {0, 1}));   // size-1 dims have any stride
  EXPECT_TRUE(has_internal_overlap({3, 4}, {0, 1}));    // expanded
  EXPECT_TRUE(has_internal_overlap({2, 2}, {1, 1}));    // sliding windows
  EXPECT_TRUE(has_internal_overlap({4, 3, 3}, {1, 4, 1}));
}

TEST(InternalOverlap, IrregularLayoutsAreDecidedExactly) {
  using detail::has_internal_overlap;
  using detail::surely_no_internal_overlap;
  // Offsets 2i + 3j: 0 2 4 3 5 7 and 0 2 4 3 5 7 6 8 10 are distinct, but the cheap test can't tell.
  EXPECT_FALSE(surely_no_internal_overlap({3, 2}, {2, 3}));
  EXPECT_FALSE(has_internal_overlap({3, 2}, {2, 3}));
  EXPECT_FALSE(has_internal_overlap({3, 3}, {2, 3}));
  // 2 * 3 == 3 * 2: offset 6 twice.
  EXPECT_TRUE(has_internal_overlap({4, 3}, {2, 3}));
  EXPECT_FALSE(has_internal_overlap({4, 2}, {2, 3}));  // 0 3 2 5 4 7 6 9
}

TEST(InternalOverlap, SharedMemoryOfTwoLayouts) {
  using detail::layouts_share_memory;
  // Even and odd columns of a [3, 4] tensor interleave without meeting.
  EXPECT_FALSE(layouts_share_memory({3, 2}, {4, 2}, 0, {3, 2}, {4, 2}, 1));
  // A row and a column meet at one element.
  EXPECT_TRUE(layouts_share_memory({4}, {1}, 4, {3}, {4}, 1));
  EXPECT_FALSE(layouts_share_memory({4}, {1}, 0, {4}, {1}, 4));
  EXPECT_FALSE(layouts_share_memory({0}, {1}, 0, {4}, {1}, 0));
}

TEST(InternalOverlap, ElementwiseLoopsSplitOnlyAlongDisjointDims) {
  // An im2col [Ho, Wo, kh, kw] over one 34 x 34 image: every dim meets another, so no split.
  cpu::LoopGeometry<1> image;
  image.sizes = {32, 32, 3, 3};
  image.strides[0] = {34, 1, 34, 1};
  EXPECT_EQ(cpu::disjoint_split_dim(image), -1);
  // With 6 such images in front, whole images go to different threads.
  cpu::LoopGeometry<1> batch;
  batch.sizes = {6, 32, 32, 3, 3};
  batch.strides[0] = {34 * 34, 34, 1, 34, 1};
  EXPECT_EQ(cpu::disjoint_split_dim(batch), 0);
  // A dim that clears the rest need not come first.
  cpu::LoopGeometry<1> inner;
  inner.sizes = {32, 6, 3};
  inner.strides[0] = {1, 64, 1};
  EXPECT_EQ(cpu::disjoint_split_dim(inner), 1);
  cpu::LoopGeometry<1> dense;
  dense.sizes = {5, 7};
  dense.strides[0] = {1, 5};
  EXPECT_EQ(cpu::disjoint_split_dim(dense), 0);
}

// ---- in-place writes into tensors whose elements share memory ---------------------------------

template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

const char kSelfOverlap[] = "unsupported operation: more than one element of the written-to tensor refers to a single memory location";
const char kSourceOverlap[] = "unsupported operation: some elements of the input tensor and the written-to tensor refer to a single memory location";

TEST(InPlaceOverlap, WritesIntoExpandedOrOverlappingTensorsRaiseAndChangeNothing) {
  const std::vector<double> before = {1, 2, 3, 4, 5};
  Tensor base = tensor(before, kFloat64);
  std::vector<std::pair<std::string, Tensor>> targets = {
      {"expanded", base.narrow(0, 0, 1).expand({3, 4})},
      {"sliding windows", base.as_strided({3, 3}, {1, 1}, 0)},
      {"irregular, overlapping", base.as_strided({2, 2}, {2, 2}, 0)},  // offsets 0 2 2 4
  };
  // The lambdas below capture structured bindings by init-capture: clang 14 cannot capture them directly.
  for (auto& [name, target] : targets) {
    SCOPED_TRACE(name);
    Tensor other = ones(target.sizes(), kFloat64);
    expect_error([&, &target = target] { target.add_(other); }, kSelfOverlap);
    expect_error([&, &target = target] { target += 1.0; }, kSelfOverlap);
    expect_error([&, &target = target] { target.sub_(other); }, kSelfOverlap);
    expect_error([&, &target = target] { target.mul_(other); }, kSelfOverlap);
    expect_error([&, &target = target] { target.div_(other); }, kSelfOverlap);
    if (name != "expanded") {  // an expanded tensor can be filled (below)
      expect_error([&, &target = target] { target.fill_(7.0); }, kSelfOverlap);
      expect_error([&, &target = target] { target.zero_(); }, kSelfOverlap);
    }
    expect_error([&, &target = target] { target.copy_(other); }, kSelfOverlap);
    EXPECT_TRUE(HasValues(base, before, 0));
  }
  // fill_ and zero_ of an expanded tensor write each address once, as PyTorch's do: every element gets
  // the same value, so the order of the writes cannot matter.
  Tensor expanded = base.narrow(0, 1, 2).unsqueeze(0).expand({4, 2});
  expanded.fill_(7.0);
  EXPECT_TRUE(HasValues(base, {1, 7, 7, 4, 5}, 0));
  EXPECT_TRUE(HasValues(expanded, std::vector<double>(8, 7.0), 0));
  const int64_t version = base._version();
  base.narrow(0, 3, 1).expand({1000}).zero_();
  EXPECT_GT(base._version(), version);
  EXPECT_TRUE(HasValues(base, {1, 7, 7, 0, 5}, 0));
  base.copy_(tensor(before, kFloat64));
  // With history to record too.
  Tensor leaf = ones({5}, kFloat64).requires_grad_(true);
  Tensor y = leaf * 1.0;
  expect_error([&] { y.as_strided({3, 3}, {1, 1}, 0).mul_(2.0); }, kSelfOverlap);
  EXPECT_TRUE(HasValues(y, {1, 1, 1, 1, 1}, 0));
}

// The in-place ops that compute their result first and copy_ it in name themselves, not copy_.
TEST(InPlaceOverlap, ScatterAndIndexPutIntoAnExpandedTensorNameThemselves) {
  Tensor base = zeros({1, 3}, kFloat64);
  Tensor expanded = base.expand({2, 3});
  Tensor index = tensor(std::vector<int64_t>{0, 1}, kInt64).view({2, 1});
  EXPECT_TRUE(ThrowsWith([&] { expanded.scatter_(1, index, 5.0); }, {"scatter_:", "single memory location"}));
  EXPECT_TRUE(ThrowsWith([&] { expanded.scatter_(1, index, ones({2, 1}, kFloat64)); }, {"scatter_:"}));
  EXPECT_TRUE(ThrowsWith([&] { expanded.index_put_({tensor(std::vector<int64_t>{0}, kInt64)}, ones({3}, kFloat64)); },
                         {"index_put_:", "single memory location"}));
  EXPECT_TRUE(HasValues(base, {0, 0, 0}, 0));
}

TEST(InPlaceOverlap, IrregularLayoutsThatDoNotOverlapAreWritten) {
  // Offsets 2i + 3j of a [3, 2] view: 0 3 2 5 4 7, all distinct.
  Tensor base = zeros({8}, kFloat64);
  Tensor view = base.as_strided({3, 2}, {2, 3}, 0);
  view.add_(tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, kFloat64));
  EXPECT_TRUE(HasValues(base, {1, 0, 3, 2, 5, 4, 0, 6}, 0));
}

TEST(InPlaceOverlap, SourcesMayInterleaveButNotMeet) {
  // Even columns from odd columns: interleaved in memory, but no element is both read and written.
  Tensor x = arange(12, kFloat64).reshape({3, 4});
  x.index({indexing::Slice(), indexing::Slice(0, std::nullopt, 2)})
      .copy_(x.index({indexing::Slice(), indexing::Slice(1, std::nullopt, 2)}));
  EXPECT_TRUE(HasValues(x, {1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11}, 0));
  // A transposed source reads what the loop has already written; PyTorch raises too.
  Tensor square = arange(9, kFloat64).reshape({3, 3});
  expect_error([&] { square.copy_(square.t()); }, kSourceOverlap);
  expect_error([&] { square.add_(square.select(0, 1)); }, kSourceOverlap);
  EXPECT_TRUE(HasValues(square, {0, 1, 2, 3, 4, 5, 6, 7, 8}, 0));
  // Element for element is fine.
  square.mul_(square);
  EXPECT_TRUE(HasValues(square, {0, 1, 4, 9, 16, 25, 36, 49, 64}, 0));
}

TEST(InPlaceOverlap, GradientAccumulatesIntoAnExpandedGradSetByTheUser) {
  Tensor x = ones({3}, kFloat64).requires_grad_(true);
  x.set_grad(tensor({10.0}, kFloat64).expand({3}));
  (x * tensor({1.0, 2.0, 3.0}, kFloat64)).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {11, 12, 13}, 0));
  (x * tensor({1.0, 2.0, 3.0}, kFloat64)).sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {12, 14, 16}, 0));
}

// ---- the gradient of an overlapping view, on many threads -----------------------------------

// The patches of a hand-written conv2d: [N, C, H', W', k, k] over [N, C, H, W].
struct Im2col {
  int64_t n, c, h, w, k;
  int64_t ho() const { return h - k + 1; }
  int64_t wo() const { return w - k + 1; }
  Dims sizes() const { return {n, c, ho(), wo(), k, k}; }
  Tensor patches(const Tensor& x) const { return x.as_strided(sizes(), {c * h * w, h * w, w, 1, w, 1}); }
  // The gradient summed by hand: input element (y, x) gets u at every (i, j, p, q) with i + p = y, j + q = x.
  std::vector<double> naive_gradient(const Tensor& u) const {
    std::vector<double> g(static_cast<size_t>(n * c * h * w), 0.0), uv = u.to_vector<double>();
    size_t at = 0;
    for (int64_t b = 0; b < n * c; ++b)
      for (int64_t i = 0; i < ho(); ++i)
        for (int64_t j = 0; j < wo(); ++j)
          for (int64_t p = 0; p < k; ++p)
            for (int64_t q = 0; q < k; ++q) g[static_cast<size_t>(b * h * w + (i + p) * w + j + q)] += uv[at++];
    return g;
  }
};

Tensor patches_gradient(const Im2col& conv, const Tensor& x, const Tensor& u) {
  Tensor leaf = x.detach().requires_grad_(true);
  return grad({conv.patches(leaf)}, {leaf}, {u})[0];
}

bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
}

// Counts the backward passes on each thread count whose gradient differs from one thread's.
void stress_patches(const Im2col& conv, ScalarType dtype, int repetitions) {
  manual_seed(7);
  Tensor x = randn({conv.n, conv.c, conv.h, conv.w}, dtype), u = randn(conv.sizes(), dtype);
  Tensor reference;
  {
    ThreadCount one(1);
    reference = patches_gradient(conv, x, u);
  }
  EXPECT_TRUE(HasValues(reference, conv.naive_gradient(u), dtype == kFloat32 ? 1e-5 : 1e-12));
  for (int threads : kThreadCounts) {
    ThreadCount count(threads);
    int wrong = 0;
    double worst = 0;
    for (int r = 0; r < repetitions; ++r) {
      Tensor g = patches_gradient(conv, x, u);
      if (!same_bits(g, reference)) {
        ++wrong;
        worst = std::max(worst, (g - reference).abs().max().item<double>());
      }
    }
    EXPECT_EQ(wrong, 0) << threads << " threads: " << wrong << " of " << repetitions
                        << " backward passes differ from one thread's, by up to " << worst;
    if (long_stress())
      std::printf("[ stress   ] im2col [%lld,%lld,%lld,%lld,%lld,%lld] %s, %d threads: %d of %d passes differ\n",
                  static_cast<long long>(conv.n), static_cast<long long>(conv.c), static_cast<long long>(conv.ho()),
                  static_cast<long long>(conv.wo()), static_cast<long long>(conv.k), static_cast<long long>(conv.k),
                  dtype_name(dtype), threads, wrong, repetitions);
  }
}

int stress_repetitions() { return long_stress() ? 10000 : 20; }

TEST(OverlapStress, Im2colOfOneImageAccumulatesSerially) {
  // No dim of the patches clears the others: the accumulation cannot be split at all.
  stress_patches({1, 1, 100, 100, 3}, kFloat64, stress_repetitions());
}

TEST(OverlapStress, Im2colOfABatchSplitsByImage) {
  stress_patches({4, 3, 40, 40, 3}, kFloat64, stress_repetitions());
  stress_patches({2, 2, 60, 60, 5}, kFloat32, stress_repetitions() / 4 + 1);
}

TEST(OverlapStress, SlidingWindowsOfASequenceAndTheirTangents) {
  // [n, k] windows with strides [1, 1]: a 1-D convolution's patches. Forward mode scatters too.
  const int64_t n = 40000, k = 4;
  manual_seed(11);
  Tensor x = randn({n + k - 1}, kFloat64), u = randn({n, k}, kFloat64), t = randn({n + k - 1}, kFloat64);
  auto run = [&] {
    Tensor leaf = x.detach().requires_grad_(true);
    Tensor windows = leaf.as_strided({n, k}, {1, 1}, 0);
    Tensor g = grad({windows}, {leaf}, {u})[0];
    // The tangent of the gradient, as the VJP of a dual: as_strided_scatter's forward rule.
    forward_ad::DualLevel level;
    Tensor dual_u = forward_ad::make_dual(u, u * 2.0);
    Tensor leaf2 = x.detach().requires_grad_(true);
    Tensor g2 = grad({leaf2.as_strided({n, k}, {1, 1}, 0)}, {leaf2}, {dual_u})[0];
    return std::make_pair(g, forward_ad::unpack_dual(g2).tangent);
  };
  std::vector<double> expected(static_cast<size_t>(n + k - 1), 0.0), uv = u.to_vector<double>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) expected[static_cast<size_t>(i + j)] += uv[static_cast<size_t>(i * k + j)];
  std::pair<Tensor, Tensor> reference;
  {
    ThreadCount one(1);
    reference = run();
  }
  EXPECT_TRUE(HasValues(reference.first, expected, 1e-12));
  EXPECT_TRUE(allclose(reference.second, reference.first * 2.0, 1e-12, 1e-12));
  for (int threads : kThreadCounts) {
    ThreadCount count(threads);
    for (int r = 0; r < std::max(2, stress_repetitions() / 10); ++r) {
      auto [g, tangent] = run();
      ASSERT_TRUE(same_bits(g, reference.first)) << threads << " threads";
      ASSERT_TRUE(same_bits(tangent, reference.second)) << threads << " threads";
    }
  }
}

// ---- every op of the table, on 1 thread against 2, 4 and 8 ----------------------------------

// How an input of a given logical shape is laid out: the leaf is what derivatives are taken with
// respect to, the input is the view of it that the op sees.
struct Layout {
  const char* name;
  std::function<std::vector<int64_t>(const std::vector<int64_t>&)> leaf_shape;
  std::function<Tensor(const Tensor& leaf, const std::vector<int64_t>& shape)> view;
};

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

const std::vector<Layout>& layouts() {
  static const std::vector<Layout> all = {
      // A size-1 leaf dim expanded (stride 0).
      {"expanded",
       [](auto s) {
         for (auto& size : s)
           if (size > 1) {
             size = 1;
             break;
           }
         return s;
       },
       [](const Tensor& leaf, const std::vector<int64_t>& shape) { return leaf.expand(shape); }},
      // Every stride 1: neighbouring rows share all but one element (sliding windows). A 1-D
      // shape overlaps only with stride 0.
      {"overlapping",
       [](const auto& s) {
         int64_t n = 1;
         for (int64_t size : s) n += size - 1;
         return std::vector<int64_t>{s.size() == 1 ? 1 : n};
       },
       [](const Tensor& leaf, const std::vector<int64_t>& shape) {
         return leaf.as_strided(shape, std::vector<int64_t>(shape.size(), shape.size() == 1 ? 0 : 1), 0);
       }},
      // Column-major with gaps, one element in: strided but no overlap.
      {"as_strided", [](const auto& s) { return std::vector<int64_t>{2 * numel_of(s) + 1}; },
       [](const Tensor& leaf, const std::vector<int64_t>& shape) {
         std::vector<int64_t> strides;
         int64_t stride = 2;
         for (int64_t size : shape) {
           strides.push_back(stride);
           stride *= size;
         }
         return leaf.as_strided(shape, strides, 1);
       }},
  };
  return all;
}

// Results of one row on one layout: the output, and the batched VJP and JVP, all in float64.
struct Results {
  Tensor out;
  TensorList vjp;
  Tensor jvp;
};

// A batch that makes every derivative kernel long enough to split across threads (at least two
// grains of 32K elements): 96K elements in the smallest batched tensor, 128K in the long run.
int64_t batch_for(const TensorList& leaves, const Tensor& out) {
  int64_t smallest = std::max<int64_t>(1, out.numel());
  for (const Tensor& leaf : leaves) smallest = std::min(smallest, std::max<int64_t>(1, leaf.numel()));
  const int64_t elements = long_stress() ? int64_t{1} << 17 : 3 * (int64_t{1} << 15);
  return std::max<int64_t>(8, (elements + smallest - 1) / smallest);
}

std::vector<int64_t> batched(int64_t b, std::vector<int64_t> shape) {
  shape.insert(shape.begin(), b);
  return shape;
}

Results run_row(const OpRow& row, const Shapes& shapes, const Layout& layout, const TensorList& leaves,
                const Tensor& cotangents, const TensorList& directions) {
  auto inputs_of = [&](const TensorList& from) {
    TensorList inputs;
    for (size_t i = 0; i < from.size(); ++i) inputs.push_back(layout.view(from[i], shapes[i]));
    return inputs;
  };
  Results r;
  TensorList with_grad;
  for (const Tensor& leaf : leaves) with_grad.push_back(leaf.detach().requires_grad_(true));
  r.out = row.fn(inputs_of(with_grad));
  TensorList vjp = grad({r.out}, with_grad, {cotangents}, true, false, /*allow_unused=*/true, /*is_grads_batched=*/true);
  for (size_t i = 0; i < vjp.size(); ++i)
    r.vjp.push_back(vjp[i].defined() ? vjp[i] : zeros(batched(cotangents.size(0), leaves[i].sizes().vec()), kFloat64));
  forward_ad::DualLevel level;
  TensorList duals;
  for (size_t i = 0; i < leaves.size(); ++i) duals.push_back(forward::make_batched_dual(leaves[i], directions[i]));
  Tensor tangent = forward_ad::unpack_dual(row.fn(inputs_of(duals))).tangent;
  r.jvp = tangent.defined() ? tangent : zeros(batched(directions[0].size(0), r.out.sizes().vec()), kFloat64);
  return r;
}

// Equal up to the rounding of a sum taken in another order (products split by rows, say).
::testing::AssertionResult equal_to_rounding(const Tensor& a, const Tensor& b) {
  if (!(a.sizes() == b.sizes())) return ::testing::AssertionFailure() << "shapes " << a.sizes() << " and " << b.sizes();
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::abs(x[i] - y[i]) <= 1e-12 * (1 + std::abs(y[i])) || (std::isnan(x[i]) && std::isnan(y[i]))))
      return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " != " << y[i];
  return ::testing::AssertionSuccess();
}

// The op table's rows in parts (row r in part r % kDifferentialParts), each part a test of its own, so that
// ctest, and the TSan run in scripts/run_tests.sh (two parts at a time, xargs -P 2), take them on both
// cores: as one test on one core it took three of CI's minutes under TSan.
constexpr int kDifferentialParts = 8;

void differential_pass(std::mt19937_64& rng, int part, int* cases_run) {
  std::normal_distribution<double> normal;
  auto random = [&](const std::vector<int64_t>& shape, Domain domain) {
    Tensor t = zeros(shape, kFloat64);
    double* p = t.data_ptr<double>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double v = normal(rng);
      switch (domain) {
        case Domain::Real: p[i] = v; break;
        case Domain::Positive: p[i] = 0.5 + std::abs(v); break;
        case Domain::AwayFromZero: p[i] = (v < 0 ? -1 : 1) * (0.5 + std::abs(v)); break;
        case Domain::Small: p[i] = std::tanh(v); break;
      }
    }
    return t;
  };
  const size_t layout_count = layouts().size();
  for (size_t r = static_cast<size_t>(part); r < op_table().size(); r += kDifferentialParts) {
    const OpRow& row = op_table()[r];
    // The short run (in the default suite and under TSan) takes each row's first sample on one
    // layout, the rows taking the layouts in turn; the long run takes every sample on every layout.
    const size_t samples = long_stress() ? row.samples.size() : 1;
    for (size_t sample = 0; sample < samples; ++sample)
      for (size_t l = 0; l < layout_count; ++l) {
        if (!long_stress() && l != r % layout_count) continue;
        const Layout& layout = layouts()[l];
        const Shapes& shapes = row.samples[sample];
        SCOPED_TRACE(row.name + " on " + layout.name);
        TensorList leaves;
        for (const auto& shape : shapes) leaves.push_back(random(layout.leaf_shape(shape), row.domain));
        // The output's shape, from a run without derivatives.
        TensorList inputs;
        for (size_t i = 0; i < leaves.size(); ++i) inputs.push_back(layout.view(leaves[i], shapes[i]));
        const Tensor probe = row.fn(inputs);
        const int64_t b = batch_for(leaves, probe);
        Tensor cotangents = random(batched(b, probe.sizes().vec()), Domain::Real);
        TensorList directions;
        for (const Tensor& leaf : leaves) directions.push_back(random(batched(b, leaf.sizes().vec()), Domain::Real));
        Results one;
        {
          ThreadCount count(1);
          one = run_row(row, shapes, layout, leaves, cotangents, directions);
        }
        for (int threads : kThreadCounts) {
          ThreadCount count(threads);
          Results many = run_row(row, shapes, layout, leaves, cotangents, directions);
          EXPECT_TRUE(equal_to_rounding(many.out, one.out)) << threads << " threads, forward";
          for (size_t i = 0; i < one.vjp.size(); ++i)
            EXPECT_TRUE(equal_to_rounding(many.vjp[i], one.vjp[i])) << threads << " threads, VJP of input " << i;
          EXPECT_TRUE(equal_to_rounding(many.jvp, one.jvp)) << threads << " threads, JVP";
        }
        ++*cases_run;
      }
  }
}

class OverlapDifferential : public ::testing::TestWithParam<int> {};

TEST_P(OverlapDifferential, EveryOpOnOneThreadAgainstTwoFourAndEight) {
  const int part = GetParam();
  std::mt19937_64 rng(2024 + static_cast<uint64_t>(part));
  const int passes = long_stress() ? 5 : 1;
  int cases = 0;
  for (int pass = 0; pass < passes; ++pass) differential_pass(rng, part, &cases);
  EXPECT_GT(cases, 0);
  if (long_stress())
    std::printf("[ stress   ] differential, part %d: %d cases, each on 1, 2, 4 and 8 threads\n", part, cases);
}
INSTANTIATE_TEST_SUITE_P(RowsInParts, OverlapDifferential, ::testing::Range(0, kDifferentialParts));

}  // namespace
}  // namespace dydx::testing
