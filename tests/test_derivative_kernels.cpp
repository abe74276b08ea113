// The one-pass kernels of backward passes: an elementwise function's t * f'(v) (src/ops/
// elementwise_unary.cpp, fused_derivative_product) against its composed rule, which runs where the
// gradient itself needs derivatives; where() and masked_fill over every layout of their operands
// (the unit-stride and broadcast loops of cpu::map3 and map2_typed) against a plain loop; the clamp
// gradient's mask; layer_norm's fused backward against its composed rule. Special values everywhere,
// both float dtypes, several thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <dydx/dydx.hpp>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace dydx;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// Ordinary values, each function's interesting points (gelu's and silu's zeros of f', softplus's
// threshold, tan's poles) and the special values, in a length that leaves vector tails.
std::vector<double> sample_values() {
  std::vector<double> v = {kNan,      kInf,       -kInf, 0.0,        -0.0,       1e-30,  -1e-30, 4e-320, 1e30,
                           -1e30,     3.0,        -3.0,  -0.7517915, -1.2784645, 20.0,   19.999, 10.0,   10.001,
                           1.5707963, -1.5707963, 88.0,  -88.0,      700.0,      -700.0, 1e-8,   0.5};
  for (int k = 0; v.size() < 203; ++k) v.push_back(std::sin(0.37 * k) * (k % 5 == 0 ? 30.0 : 4.0));
  return v;
}

struct UnaryCase {
  std::string name;
  std::function<Tensor(const Tensor&)> f;
};

std::vector<UnaryCase> fused_cases() {
  return {
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
      {"softplus", [](const Tensor& x) { return softplus(x); }},
      {"softplus_beta", [](const Tensor& x) { return softplus(x, 2.0, 5.0); }},
      {"elu", [](const Tensor& x) { return elu(x, 0.5); }},
      {"erf", [](const Tensor& x) { return erf(x); }},
      {"expm1", [](const Tensor& x) { return expm1(x); }},
      {"tan", [](const Tensor& x) { return tan(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x.abs()); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
  };
}

// a and b agree: nan where the other is nan, the same infinity, otherwise within 16 rounding
// errors of the size of the terms (the one-pass form may contract a * b + c into one rounding).
::testing::AssertionResult Agree(const Tensor& fused, const Tensor& composed, const Tensor& t, double eps) {
  const auto a = fused.to(kFloat64).contiguous().to_vector<double>();
  const auto b = composed.to(kFloat64).contiguous().to_vector<double>();
  const auto w = t.to(kFloat64).contiguous().to_vector<double>();
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes " << a.size() << " and " << b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    const bool same = std::isnan(a[i]) ? std::isnan(b[i])
                      : std::isinf(b[i])
                          ? a[i] == b[i]
                          : std::abs(a[i] - b[i]) <= 16 * eps * (1 + std::abs(b[i])) * (1 + std::abs(w[i % w.size()]));
    if (!same) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " against " << b[i];
  }
  return ::testing::AssertionSuccess();
}

// The first-order gradient (the one-pass kernel) against create_graph's (the composed rule, which
// must stay differentiable), for t one value broadcast (a sum's gradient) and t dense.
TEST(FusedDerivativeProduct, EqualsTheComposedRuleOnEveryValue) {
  const std::vector<double> values = sample_values();
  const int64_t n = static_cast<int64_t>(values.size());
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const double eps = dtype == kFloat32 ? 0x1p-24 : 0x1p-53;
    const Tensor weights = sin(arange(n, kFloat64) * 0.7).to(dtype) * 2.0;
    for (const auto& c : fused_cases()) {
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        SCOPED_TRACE(c.name + " " + std::string(dtype == kFloat32 ? "float32" : "float64") + " threads " +
                     std::to_string(threads));
        Tensor x = tensor(values, kFloat64).to(dtype).requires_grad_();
        const Tensor fused_sum = grad({c.f(x).sum()}, {x})[0];
        const Tensor composed_sum = grad({c.f(x).sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
        EXPECT_TRUE(composed_sum.requires_grad());
        EXPECT_FALSE(fused_sum.requires_grad());
        EXPECT_TRUE(Agree(fused_sum, composed_sum, ones({1}, dtype), eps));
        const Tensor fused_dense = grad({(c.f(x) * weights).sum()}, {x})[0];
        const Tensor composed_dense =
            grad({(c.f(x) * weights).sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
        EXPECT_TRUE(Agree(fused_dense, composed_dense, weights, eps));
      }
    }
  }
  set_num_threads(2);
}

// The tangent rule takes the same kernel, with t's leading copies (jacfwd's basis) over one v.
TEST(FusedDerivativeProduct, TangentsWithLeadingCopiesMatchTheGradient) {
  Tensor x = tensor({-2.0, -0.75, 0.0, 0.3, 1.5, 4.0, kNan}, kFloat64);
  for (const auto& c : fused_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor jacobian = func::jacfwd(c.f)(x);  // diag(f'(x))
    Tensor leaf = x.clone().requires_grad_();
    const Tensor gradient = grad({c.f(leaf).sum()}, {leaf}, {}, true, true)[0];
    const int64_t n = x.numel();
    const auto entries = jacobian.contiguous().to_vector<double>();
    std::vector<double> diagonal;
    for (int64_t i = 0; i < n; ++i) {
      diagonal.push_back(entries[i * (n + 1)]);
      for (int64_t j = 0; j < n; ++j)  // off the diagonal: 0, or nan where f' is (a nan tangent times 0)
        if (j != i) EXPECT_TRUE(entries[i * n + j] == 0 || std::isnan(entries[i * n + j])) << i << ", " << j;
    }
    EXPECT_TRUE(Agree(tensor(diagonal, kFloat64), gradient, ones({1}, kFloat64), 0x1p-53));
  }
}

// A second derivative through the first-order gradient: create_graph keeps the composed rule.
TEST(FusedDerivativeProduct, CreateGraphStaysDifferentiable) {
  Tensor x = tensor({-1.0, 0.5, 2.0}, kFloat64).requires_grad_();
  const Tensor g = grad({silu(x).sum()}, {x}, {}, true, true)[0];
  const Tensor h = grad({g.sum()}, {x})[0];
  const auto hv = h.to_vector<double>();
  const auto xv = x.detach().to_vector<double>();
  for (size_t i = 0; i < hv.size(); ++i) {
    const double s = 1 / (1 + std::exp(-xv[i]));
    EXPECT_NEAR(hv[i], s * (1 - s) * (2 + xv[i] * (1 - 2 * s)), 1e-14);
  }
}

// ---- where and masked_fill over every layout --------------------------------------------------

// The layouts an operand of shape [rows, cols] may come in: dense, a transposed view, every other
// column of a wider tensor, a row expanded down, one value expanded, and a 0-d tensor.
std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> layouts() {
  return {
      {"dense", [](const Tensor& t) { return t.contiguous(); }},
      {"transposed", [](const Tensor& t) { return t.t().contiguous().t(); }},
      {"strided",
       [](const Tensor& t) {
         return stack({t, t}, 2).select(2, 1);
       }},
      {"row_expanded", [](const Tensor& t) { return t.narrow(0, 0, 1).expand(t.sizes()); }},
      {"one_value",
       [](const Tensor& t) {
         return t.reshape({-1}).narrow(0, 1, 1).reshape({1, 1}).expand(t.sizes());
       }},
      {"zero_d", [](const Tensor& t) { return t.reshape({-1}).select(0, 2); }},
  };
}

std::vector<double> plain(const Tensor& t, IntArrayRef shape) {
  return t.expand(shape).contiguous().to(kFloat64).to_vector<double>();
}

bool same_value(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
}

TEST(WhereKernels, EveryLayoutOfEveryOperandAsAPlainLoop) {
  const int64_t rows = 5, cols = 67;  // a tail past every vector width
  const Dims shape{rows, cols};
  const Tensor base_x = sin(arange(rows * cols, kFloat64) * 0.37).reshape({rows, cols});
  Tensor special_x = base_x.clone();
  special_x.reshape({-1}).narrow(0, 3, 4).copy_(tensor({kNan, -0.0, kInf, -kInf}, kFloat64));
  const Tensor base_y = cos(arange(rows * cols, kFloat64) * 0.11).reshape({rows, cols}) * 5.0;
  const Tensor base_cond = sin(arange(rows * cols, kFloat64) * 1.3).reshape({rows, cols}) > 0.1;
  for (ScalarType dtype : {kFloat32, kFloat64, kInt64, kBool}) {
    // (nan and inf have no int64 value: the integers take the ordinary values, scaled.)
    const Tensor x = dtype == kBool    ? special_x > 0
                     : dtype == kInt64 ? (base_x * 100.0).to(dtype)
                                       : special_x.to(dtype);
    const Tensor y = dtype == kBool ? base_y > 0 : base_y.to(dtype);
    for (const auto& [cond_name, cond_layout] : layouts()) {
      for (const auto& [x_name, x_layout] : layouts()) {
        for (const auto& [y_name, y_layout] : layouts()) {
          for (int threads : {1, 3}) {
            set_num_threads(threads);
            SCOPED_TRACE(cond_name + " " + x_name + " " + y_name + " threads " + std::to_string(threads));
            const Tensor c = cond_layout(base_cond), a = x_layout(x), b = y_layout(y);
            if (c.dim() == 0 && a.dim() == 0 && b.dim() == 0) continue;  // a 0-d result: not this test's
            const Tensor out = where(c, a, b);
            ASSERT_EQ(out.sizes(), (Dims{rows, cols}));
            ASSERT_EQ(out.dtype(), dtype);
            const auto cv = plain(c, shape), av = plain(a, shape), bv = plain(b, shape), ov = plain(out, shape);
            for (size_t i = 0; i < ov.size(); ++i)
              ASSERT_TRUE(same_value(ov[i], cv[i] != 0 ? av[i] : bv[i])) << "element " << i;
            if (b.dim() == 0 || y_name == "one_value") {
              const Tensor value = b.reshape({-1})[0];
              const Scalar fill = dtype == kBool    ? Scalar(value.item<bool>())
                                  : dtype == kInt64 ? Scalar(value.item<int64_t>())
                                                    : Scalar(value.item<double>());
              const Tensor filled = masked_fill(a, c, fill);
              const auto fv = plain(filled, shape);
              for (size_t i = 0; i < fv.size(); ++i)
                ASSERT_TRUE(same_value(fv[i], cv[i] != 0 ? bv[i] : av[i])) << "masked_fill element " << i;
            }
          }
        }
      }
    }
  }
  set_num_threads(2);
}

// The masked gradients that reach where() with an expanded gradient: clamp's, masked_fill's.
TEST(WhereKernels, MaskedGradientsOfASum) {
  Tensor x = tensor({-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, kNan, kInf, -kInf, -0.0}, kFloat64).requires_grad_();
  EXPECT_EQ(grad({clamp(x, -1.0, 1.0).sum()}, {x})[0].to_vector<double>(),
            (std::vector<double>{0, 1, 1, 1, 1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(grad({clamp(x, -1.0).sum()}, {x})[0].to_vector<double>(),  // only a lower bound: nan still stops
            (std::vector<double>{0, 1, 1, 1, 1, 1, 0, 1, 0, 1}));
  EXPECT_EQ(grad({clamp(x, std::nullopt, 0.5).sum()}, {x})[0].to_vector<double>(),
            (std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(grad({clamp(x, kNan).sum()}, {x})[0].to_vector<double>(), std::vector<double>(10, 0.0));
  Tensor f = x.to(kFloat32).detach().requires_grad_();
  EXPECT_EQ(grad({clamp(f, -1.0, 1.0).sum()}, {f})[0].to_vector<float>(),
            (std::vector<float>{0, 1, 1, 1, 1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(grad({masked_fill(x, x.detach() > 0, 3.0).sum() * 2.0}, {x})[0].to_vector<double>(),
            (std::vector<double>{2, 2, 2, 0, 0, 0, 2, 0, 2, 2}));
}

// A binary op whose operands both broadcast along the loop's run (the gradient of a mean: one value
// expanded, divided by the count) fills one value in; every element gets it.
TEST(BinaryKernels, BothOperandsBroadcastAlongTheRun) {
  const Tensor g = full({}, 3.0, kFloat64).expand({4, 70});
  EXPECT_EQ((g / 7.0).contiguous().to_vector<double>(), std::vector<double>(280, 3.0 / 7.0));
  const Tensor column = tensor({1.0, 2.0, 3.0, 4.0}, kFloat64).reshape({4, 1});
  const auto v = (column.expand({4, 70}) * full({}, -0.5, kFloat64)).contiguous().to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i], -0.5 * static_cast<double>(1 + i / 70)) << i;
  Tensor x = tensor({1.0, 2.0, 3.0}, kFloat64).requires_grad_();
  EXPECT_EQ(grad({x.mean() * 6.0}, {x})[0].to_vector<double>(), (std::vector<double>{2, 2, 2}));
}

}  // namespace

namespace {

// layer_norm's backward without create_graph (one fused pass per row, in double) against its composed
// rule (create_graph), for the input, the weight and the bias, with and without the affine
// parameters, over one and two normalised dims, a transposed input, an expanded gradient, nan and
// inf in a row, both dtypes and several thread counts.
TEST(LayerNormBackward, FusedEqualsTheComposedRule) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const double eps = dtype == kFloat32 ? 0x1p-24 : 0x1p-53;
    for (int64_t k : {1, 2}) {
      for (bool affine : {false, true}) {
        for (bool transposed : {false, true}) {
          // (The special values make the weight's and bias's gradients nan or inf throughout: the plain
          // input checks those.)
          for (bool special : {false, true}) {
            for (int threads : {1, 3}) {
              set_num_threads(threads);
              SCOPED_TRACE(std::string(dtype == kFloat32 ? "float32" : "float64") + " dims " + std::to_string(k) +
                           (affine ? " affine" : "") + (transposed ? " transposed" : "") +
                           (special ? " nan, inf" : "") + " threads " + std::to_string(threads));
              Tensor base = (sin(arange(7 * 6 * 37, kFloat64) * 0.37) * 3.0 + 0.5).reshape({7, 6, 37}).to(dtype);
              if (special) {
                base.select(0, 2).select(0, 1).narrow(0, 3, 1).fill_(kNan);  // in one row (k = 1) or slab (k = 2)
                base.select(0, 4).select(0, 5).narrow(0, 0, 1).fill_(kInf);
              }
              Tensor x =
                  (transposed ? base.transpose(0, 1).contiguous().transpose(0, 1) : base).detach().requires_grad_();
              const Dims normalized = k == 1 ? Dims{37} : Dims{6, 37};
              Tensor w =
                  affine
                      ? (cos(arange(k == 1 ? 37 : 222, kFloat64)) + 1.5).reshape(normalized).to(dtype).requires_grad_()
                      : Tensor();
              Tensor b = affine
                             ? sin(arange(k == 1 ? 37 : 222, kFloat64)).reshape(normalized).to(dtype).requires_grad_()
                             : Tensor();
              const Tensor weights = cos(arange(7 * 6 * 37, kFloat64) * 0.91).reshape({7, 6, 37}).to(dtype);
              TensorList inputs{x};
              if (affine) inputs.push_back(w), inputs.push_back(b);
              auto loss = [&] { return (layer_norm(x, normalized, w, b, 1e-5) * weights).sum(); };
              const TensorList fused = grad({loss()}, inputs);
              const TensorList composed = grad({loss()}, inputs, {}, true, /*create_graph=*/true);
              for (size_t i = 0; i < inputs.size(); ++i) {
                EXPECT_FALSE(fused[i].requires_grad());
                EXPECT_TRUE(Agree(fused[i], composed[i], ones({1}, dtype), 4 * eps)) << "input " << i;
              }
              // An expanded gradient (a plain sum's) reaches the same kernel.
              const Tensor fused_sum = grad({layer_norm(x, normalized, w, b, 1e-5).sum()}, {x})[0];
              const Tensor composed_sum = grad({layer_norm(x, normalized, w, b, 1e-5).sum()}, {x}, {}, true, true)[0];
              EXPECT_TRUE(Agree(fused_sum, composed_sum, ones({1}, dtype), 4 * eps));
            }
          }
        }
      }
    }
  }
  set_num_threads(2);
}

}  // namespace

namespace {

// softmax's and log_softmax's backward along the last dim (one fused pass per row) against their
// composed rules: rows shorter and longer than the kernel's block of 256 products, rows with nan,
// +-inf and -inf throughout, an expanded gradient, both dtypes and several thread counts.
TEST(SoftmaxBackward, FusedEqualsTheComposedRule) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const double eps = dtype == kFloat32 ? 0x1p-24 : 0x1p-53;
    for (int64_t n : {1, 7, 64, 300, 513}) {
      for (bool log : {false, true}) {
        for (int threads : {1, 3}) {
          set_num_threads(threads);
          SCOPED_TRACE(std::string(dtype == kFloat32 ? "float32" : "float64") + " n " + std::to_string(n) +
                       (log ? " log_softmax" : " softmax") + " threads " + std::to_string(threads));
          const int64_t rows = 9;
          Tensor base = (sin(arange(rows * n, kFloat64) * 0.37) * 6.0).reshape({rows, n}).to(dtype);
          base.select(0, 2).narrow(0, n / 2, 1).fill_(kNan);
          base.select(0, 4).narrow(0, 0, 1).fill_(kInf);
          base.select(0, 5).narrow(0, n - 1, 1).fill_(-kInf);
          base.select(0, 6).fill_(-kInf);
          Tensor x = base.detach().requires_grad_();
          const Tensor weights = cos(arange(rows * n, kFloat64) * 0.91).reshape({rows, n}).to(dtype);
          auto f = [&](const Tensor& t) { return log ? log_softmax(t, 1) : softmax(t, 1); };
          const Tensor fused = grad({(f(x) * weights).sum()}, {x})[0];
          const Tensor composed = grad({(f(x) * weights).sum()}, {x}, {}, true, /*create_graph=*/true)[0];
          EXPECT_FALSE(fused.requires_grad());
          EXPECT_TRUE(Agree(fused, composed, ones({1}, dtype), 4 * eps));
          const Tensor fused_sum = grad({f(x).sum()}, {x})[0];  // an expanded gradient
          const Tensor composed_sum = grad({f(x).sum()}, {x}, {}, true, true)[0];
          EXPECT_TRUE(Agree(fused_sum, composed_sum, ones({1}, dtype), 4 * eps));
          // Along dim 0 of the transpose (the same rows) the composed rule runs: the same gradient.
          auto f0 = [&](const Tensor& t) { return log ? log_softmax(t, 0) : softmax(t, 0); };
          const Tensor along_rows = grad({(f0(x.t()) * weights.t()).sum()}, {x})[0];
          EXPECT_TRUE(Agree(along_rows, composed, ones({1}, dtype), 4 * eps));
        }
      }
    }
  }
  set_num_threads(2);
}

}  // namespace

namespace {

// gather's and index_select's backward without create_graph (zeros with g added at the index, by
// the plain kernels) against create_graph's (scatter_add), along every dim, with repeated indices
// (which add up in index order), an empty index, a 0-d gather, both dtypes and several thread counts.
TEST(IndexBackward, PlainKernelsEqualTheComposedRule) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const Tensor base = (sin(arange(5 * 6 * 70, kFloat64) * 0.37) * 3.0).reshape({5, 6, 70}).to(dtype);
    for (int64_t dim : {0, 1, 2}) {
      for (int threads : {1, 3}) {
        set_num_threads(threads);
        SCOPED_TRACE(std::string(dtype == kFloat32 ? "float32" : "float64") + " dim " + std::to_string(dim) +
                     " threads " + std::to_string(threads));
        const int64_t size = base.size(dim);
        Tensor x = base.detach().requires_grad_();
        // index_select: every position, some twice, in a scrambled order; and an empty index.
        for (const Tensor& index : {tensor(std::vector<int64_t>{3 % size, 0, size - 1, 0, 1 % size, size - 1, 0}),
                                    tensor(std::vector<int64_t>{}, kInt64)}) {
          const Tensor weights = cos(arange(x.index_select(dim, index).numel(), kFloat64))
                                     .to(dtype)
                                     .reshape(x.index_select(dim, index).sizes());
          const Tensor plain = grad({(x.index_select(dim, index) * weights).sum()}, {x})[0];
          const Tensor composed = grad({(x.index_select(dim, index) * weights).sum()}, {x}, {}, true, true)[0];
          EXPECT_FALSE(plain.requires_grad());
          EXPECT_TRUE(Agree(plain, composed, ones({1}, dtype), 0));  // the same adds in the same order
        }
        // gather: an index of x's shape but 2 along dim, drawn with repeats.
        Dims shape(base.sizes().begin(), base.sizes().end());
        shape[dim] = 2;
        int64_t count = 1;
        for (int64_t s : shape) count *= s;
        const Tensor index = (arange(count, kInt64) * 7).fmod(size).reshape(shape);
        const Tensor weights = cos(arange(count, kFloat64)).to(dtype).reshape(shape);
        const Tensor plain = grad({(x.gather(dim, index) * weights).sum()}, {x})[0];
        const Tensor composed = grad({(x.gather(dim, index) * weights).sum()}, {x}, {}, true, true)[0];
        EXPECT_TRUE(Agree(plain, composed, ones({1}, dtype), 0));
      }
    }
  }
  set_num_threads(2);
  Tensor scalar = tensor({2.5}, kFloat64).reshape({}).requires_grad_();
  EXPECT_EQ(grad({scalar.gather(0, zeros({}, kInt64)) * 3.0}, {scalar})[0].item<double>(), 3.0);
}

// A saved index written out of bounds after the forward: the backward raises (the version check, or
// for a write through the tensor's memory the kernels' own range check), never writes out of bounds.
TEST(IndexBackward, AnIndexWrittenAfterTheForwardRaises) {
  Tensor x = ones({4, 5}, kFloat64).requires_grad_();
  Tensor index = tensor(std::vector<int64_t>{0, 2, 3});
  Tensor y = x.index_select(0, index).sum();
  index.fill_(100);
  EXPECT_THROW(grad({y}, {x}), Error);
  Tensor gather_index = zeros({4, 2}, kInt64);
  Tensor z = x.gather(1, gather_index).sum();
  gather_index.fill_(-1);
  EXPECT_THROW(grad({z}, {x}), Error);
  // Written through its memory, which bumps no version: the kernels' range check raises.
  Tensor raw_index = tensor(std::vector<int64_t>{0, 2, 3});
  Tensor w = x.index_select(0, raw_index).sum();
  raw_index.data_ptr<int64_t>()[1] = 4;
  EXPECT_THROW(grad({w}, {x}), Error);
  Tensor raw_gather = zeros({4, 2}, kInt64);
  Tensor v = x.gather(1, raw_gather).sum();
  raw_gather.data_ptr<int64_t>()[3] = -1;
  EXPECT_THROW(grad({v}, {x}), Error);
}

}  // namespace

namespace {

// Rules that route a cotangent or tangent to some elements and zero to the others select it (as
// PyTorch's threshold_backward, scatter and gather do) rather than multiply by a 0/1 mask: an
// infinite or nan cotangent stays where it goes, and the others get 0 (the product gave inf * 0 = nan).
// Values from PyTorch 1.13.
TEST(MaskedRules, InfiniteAndNanCotangentsStayWhereTheyGo) {
  const double inf = std::numeric_limits<double>::infinity();
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    Tensor x = tensor({-2.0, -0.5, 0.0, 0.5, 2.0, 3.0}, kFloat64).to(dtype).requires_grad_();
    const auto relu_inf = grad({relu(x)}, {x}, {full({6}, inf, dtype)})[0].to_vector<double>();
    EXPECT_EQ(relu_inf, (std::vector<double>{0, 0, 0, inf, inf, inf}));
    const auto relu_nan = grad({relu(x)}, {x}, {full({6}, kNan, dtype)})[0].to_vector<double>();
    for (size_t i = 0; i < 6; ++i) EXPECT_TRUE(i < 3 ? relu_nan[i] == 0 : std::isnan(relu_nan[i])) << i;
    // The composed form (create_graph) selects too.
    const auto relu_graph = grad({relu(x)}, {x}, {full({6}, inf, dtype)}, true, true)[0].to_vector<double>();
    EXPECT_EQ(relu_graph, (std::vector<double>{0, 0, 0, inf, inf, inf}));

    Tensor m = tensor({1.0, 3.0, 2.0, 5.0, 4.0, 0.0}, kFloat64).to(dtype).reshape({2, 3}).requires_grad_();
    const Tensor cotangent = tensor({inf, kNan}, kFloat64).to(dtype);
    const auto max_grad = grad({std::get<0>(m.max(1))}, {m}, {cotangent})[0].to(kFloat64).to_vector<double>();
    EXPECT_EQ(max_grad[0], 0);
    EXPECT_EQ(max_grad[1], inf);
    EXPECT_EQ(max_grad[2], 0);
    EXPECT_TRUE(std::isnan(max_grad[3]));
    EXPECT_EQ(max_grad[4], 0);
    EXPECT_EQ(max_grad[5], 0);
    const auto min_grad =
        grad({std::get<0>(m.min(1, true))}, {m}, {cotangent.reshape({2, 1})})[0].to(kFloat64).to_vector<double>();
    EXPECT_EQ(min_grad[0], inf);
    EXPECT_EQ(min_grad[1], 0);
    EXPECT_TRUE(std::isnan(min_grad[5]));
    // Forward mode: the chosen tangent, exactly (-0 kept), whatever the others are.
    Tensor tangent = tensor({kNan, -0.0, inf, inf, kNan, -inf}, kFloat64).to(dtype).reshape({2, 3});
    const auto [value, max_tangent] =
        func::jvp([](const Tensor& t) { return std::get<0>(t.max(1)); }, m.detach(), tangent);
    const auto mt = max_tangent.to(kFloat64).to_vector<double>();
    EXPECT_TRUE(mt[0] == 0 && std::signbit(mt[0])) << mt[0];
    EXPECT_EQ(mt[1], inf);
  }
}

}  // namespace
