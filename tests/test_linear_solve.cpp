// linalg::solve and linalg::inv beyond what the op table checks (values, every derivative, vmap,
// compile): PyTorch 1.13's errors and shapes, inputs of any layout left unchanged, singular matrices,
// empty batches and matrices, non-finite values, and batches split across threads.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace dydx;
using dydx::testing::HasValues;
using dydx::testing::ThreadCount;

namespace {

Tensor matrix3() { return tensor({4.0, 1.0, 0.5, 0.2, 3.0, 0.1, 0.3, 0.7, 5.0}, kFloat64).reshape({3, 3}); }

// The largest |A X - B| over every element: the residual of a solve.
double residual(const Tensor& a, const Tensor& x, const Tensor& b) { return (matmul(a, x) - b).abs().max().item<double>(); }

TEST(LinearSolve, SolvesMatricesVectorsAndBroadcastBatches) {
  const Tensor a = matrix3();
  const Tensor b = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, kFloat64).reshape({3, 2});
  const Tensor x = linalg::solve(a, b);
  EXPECT_EQ(x.sizes().vec(), (std::vector<int64_t>{3, 2}));
  EXPECT_LT(residual(a, x, b), 1e-14);
  // A vector: B of one dim, or with A's batch dims and n (PyTorch's rule).
  const Tensor v = tensor({1.0, -2.0, 0.5}, kFloat64);
  EXPECT_LT(residual(a, linalg::solve(a, v).unsqueeze(-1), v.unsqueeze(-1)), 1e-14);
  const Tensor batch = stack({a, a * 2.0});
  const Tensor vs = stack({v, v * 3.0});
  const Tensor xv = linalg::solve(batch, vs);
  EXPECT_EQ(xv.sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_LT(residual(batch, xv.unsqueeze(-1), vs.unsqueeze(-1)), 1e-14);
  // Batch dims broadcast both ways: [5, 1, 3, 3] with [2, 3, 2] gives [5, 2, 3, 2].
  const Tensor wide = stack({a, a + 1.0, a * 0.5, a - 0.25, a * 3.0}).unsqueeze(1);
  const Tensor rhs = stack({b, b * -1.0});
  const Tensor xw = linalg::solve(wide, rhs);
  EXPECT_EQ(xw.sizes().vec(), (std::vector<int64_t>{5, 2, 3, 2}));
  EXPECT_LT(residual(wide, xw, rhs), 1e-13);
  // float32 solves in float32.
  const Tensor x32 = linalg::solve(a.to(kFloat32), b.to(kFloat32));
  EXPECT_EQ(x32.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(x32, x.to_vector<double>(), 1e-6));
}

TEST(LinearSolve, LeftFalseSolvesXATimesEqualsB) {
  const Tensor a = matrix3();
  const Tensor b = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, kFloat64).reshape({2, 3});
  const Tensor x = linalg::solve(a, b, false);
  EXPECT_EQ(x.sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_LT((matmul(x, a) - b).abs().max().item<double>(), 1e-14);
  EXPECT_DYDX_ERROR(linalg::solve(a, tensor({1.0, 2.0, 3.0}, kFloat64), false),
                    "linalg.solve: Incompatible shapes of A and B for the equation XA = B (3x3 and 3x1)");
  EXPECT_DYDX_ERROR(linalg::solve(a, b.t(), false), "XA = B (3x3 and 3x2)");
}

TEST(LinearSolve, InverseIsTheSolveWithTheIdentity) {
  const Tensor a = matrix3();
  const Tensor y = linalg::inv(a);
  EXPECT_LT((matmul(a, y) - eye(3, TensorOptions().dtype(kFloat64))).abs().max().item<double>(), 1e-15);
  EXPECT_TRUE(HasValues(inverse(a), y.to_vector<double>(), 0));
  EXPECT_TRUE(HasValues(a.inverse(), y.to_vector<double>(), 0));
  const Tensor leaf = matrix3().requires_grad_();
  EXPECT_EQ(std::string(linalg::inv(leaf).grad_fn()->name()), "LinalgInvExBackward0");
  EXPECT_EQ(std::string(linalg::solve(leaf, a).grad_fn()->name()), "LinalgSolveExBackward0");
}

// LAPACK overwrites what it factors: the copies it gets must never be the caller's storage, whatever
// the layout (a column-major view is already "contiguous" once transposed).
TEST(LinearSolve, LeavesInputsOfEveryLayoutUnchanged) {
  const Tensor dense = matrix3();
  const Tensor column_major = dense.t().contiguous().t();  // the same values, column-major strides
  const Tensor b = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, kFloat64).reshape({2, 3}).t();  // a transposed view
  const std::vector<double> a_before = column_major.contiguous().to_vector<double>();
  const std::vector<double> b_before = b.contiguous().to_vector<double>();
  const Tensor x = linalg::solve(column_major, b);
  const Tensor y = linalg::inv(column_major);
  EXPECT_TRUE(HasValues(column_major, a_before, 0));
  EXPECT_TRUE(HasValues(b, b_before, 0));
  EXPECT_TRUE(HasValues(x, linalg::solve(dense, b.contiguous()).to_vector<double>(), 1e-15));
  EXPECT_TRUE(HasValues(y, linalg::inv(dense).to_vector<double>(), 1e-15));
  // An expanded A (one matrix for a batch) is read, not written.
  const Tensor shared = dense.expand({4, 3, 3});
  const Tensor xs = linalg::solve(shared, b.expand({4, 3, 2}));
  EXPECT_LT(residual(shared, xs, b.expand({4, 3, 2})), 1e-14);
  EXPECT_TRUE(HasValues(dense, matrix3().to_vector<double>(), 0));
}

TEST(LinearSolve, ErrorsAreTorchs) {
  const Tensor a = matrix3();
  EXPECT_DYDX_ERROR(linalg::inv(tensor({1.0, 2.0, 3.0}, kFloat64)), "linalg.inv: The input tensor A must have at least 2 dimensions.");
  EXPECT_DYDX_ERROR(linalg::inv(ones({2, 3}, TensorOptions().dtype(kFloat64))),
                    "linalg.inv: A must be batches of square matrices, but they are 2 by 3 matrices");
  EXPECT_DYDX_ERROR(linalg::inv(ones({3, 3}, TensorOptions().dtype(kInt64))),
                    "linalg.inv: Expected a floating point or complex tensor as input. Got Long");
  EXPECT_DYDX_ERROR(linalg::solve(a, ones({4}, TensorOptions().dtype(kFloat64))),
                    "linalg.solve: Incompatible shapes of A and B for the equation AX = B (3x3 and 4x1)");
  EXPECT_DYDX_ERROR(linalg::solve(a, ones({4, 3}, TensorOptions().dtype(kFloat64))),
                    "linalg.solve: Incompatible shapes of A and B for the equation AX = B (3x3 and 4x3)");
  EXPECT_DYDX_ERROR(linalg::solve(a, ones({3, 2})),
                    "linalg.solve: Expected A and B to have the same dtype, but found A of type Double and B of type Float instead");
  EXPECT_DYDX_ERROR(linalg::solve(a, tensor(1.0, kFloat64)), "linalg.solve: The input tensor B must have at least 2 dimensions.");
  EXPECT_DYDX_ERROR(linalg::solve(ones({2, 3}, TensorOptions().dtype(kFloat64)), ones({2}, TensorOptions().dtype(kFloat64))),
                    "linalg.solve: A must be batches of square matrices, but they are 2 by 3 matrices");
  EXPECT_DYDX_ERROR(linalg::solve(a.expand({2, 3, 3}), ones({3, 3, 2}, TensorOptions().dtype(kFloat64))), "linalg.solve");
}

TEST(LinearSolve, SingularMatricesRaiseNamingTheBatchElementAndPivot) {
  const Tensor singular = tensor({1.0, 2.0, 2.0, 4.0}, kFloat64).reshape({2, 2});
  EXPECT_DYDX_ERROR(linalg::inv(zeros({3, 3}, TensorOptions().dtype(kFloat64))),
                    "linalg.inv: The diagonal element 1 is zero, the inversion could not be completed because the input "
                    "matrix is singular.");
  EXPECT_DYDX_ERROR(linalg::inv(singular), "linalg.inv: The diagonal element 2 is zero");
  const Tensor batch = stack({eye(2, TensorOptions().dtype(kFloat64)), singular, zeros({2, 2}, TensorOptions().dtype(kFloat64))});
  EXPECT_DYDX_ERROR(linalg::inv(batch), "linalg.inv: (Batch element 1): The diagonal element 2 is zero");
  EXPECT_DYDX_ERROR(linalg::solve(singular, ones({2}, TensorOptions().dtype(kFloat64))),
                    "torch.linalg.solve: The solver failed because the input matrix is singular.");
  EXPECT_DYDX_ERROR(linalg::solve(batch, ones({3, 2, 1}, TensorOptions().dtype(kFloat64))),
                    "torch.linalg.solve: (Batch element 1): The solver failed because the input matrix is singular.");
  // The first singular system is named on any number of threads (the batch splits across them).
  for (int threads : {1, 2, 3, 8}) {
    ThreadCount scope(threads);
    Tensor many = eye(2, TensorOptions().dtype(kFloat64)).expand({4000, 2, 2}).clone();
    many.select(0, 2999).zero_();
    many.select(0, 3999).zero_();
    EXPECT_DYDX_ERROR(linalg::inv(many), "(Batch element 2999)");
  }
}

TEST(LinearSolve, EmptyMatricesAndBatchesAndNonFiniteValues) {
  const TensorOptions f64 = TensorOptions().dtype(kFloat64);
  EXPECT_EQ(linalg::inv(zeros({0, 0}, f64)).sizes().vec(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(linalg::inv(zeros({0, 3, 3}, f64)).sizes().vec(), (std::vector<int64_t>{0, 3, 3}));
  EXPECT_EQ(linalg::solve(matrix3(), zeros({3, 0}, f64)).sizes().vec(), (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(linalg::solve(zeros({2, 0, 0}, f64), zeros({2, 0}, f64)).sizes().vec(), (std::vector<int64_t>{2, 0}));
  // nan propagates (no pivot is exactly zero), as PyTorch's: every element nan.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor with_nan = tensor({1.0, nan, 0.0, 1.0}, kFloat64).reshape({2, 2});
  const Tensor y = linalg::inv(with_nan);
  EXPECT_TRUE(y.isnan().any().item<bool>());
  // 1 x 1 systems of inf: 1 / inf = 0.
  EXPECT_TRUE(HasValues(linalg::inv(full({1, 1}, std::numeric_limits<double>::infinity(), f64)), {0.0}, 0));
}

// Many small systems split across threads, each thread with its own pivots: every count gives the
// one-thread answer bit for bit, with gradients.
TEST(LinearSolve, BatchesSplitAcrossThreadsGiveTheSameBits) {
  manual_seed(3);
  const Tensor a = (randn({3000, 4, 4}, TensorOptions().dtype(kFloat64)) * 0.3 + eye(4, TensorOptions().dtype(kFloat64)) * 3.0);
  const Tensor b = randn({3000, 4, 2}, TensorOptions().dtype(kFloat64));
  std::vector<double> reference, reference_grad;
  for (int threads : {1, 2, 3, 7}) {
    ThreadCount scope(threads);
    const Tensor leaf = a.detach().requires_grad_();
    const Tensor x = linalg::solve(leaf, b);
    const Tensor g = grad({(x * x).sum()}, {leaf})[0];
    if (threads == 1) {
      reference = x.to_vector<double>();
      reference_grad = g.to_vector<double>();
      EXPECT_LT(residual(a, x, b), 1e-13);
    } else {
      EXPECT_TRUE(HasValues(x, reference, 0)) << threads << " threads";
      EXPECT_TRUE(HasValues(g, reference_grad, 0)) << threads << " threads";
    }
  }
}

// The gradient without a graph of it solves with the factors the forward kept; with create_graph it
// is composed of differentiable solves. Both are A^{-T} g and -A^{-T} g X^T, to rounding, for
// matrices, vectors and broadcast batches (the kept factors are the broadcast batch's).
TEST(LinearSolve, KeptFactorsGiveTheComposedGradient) {
  manual_seed(11);
  const TensorOptions f64 = TensorOptions().dtype(kFloat64);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{5, 5}, {5, 3}}, {{5, 5}, {5}}, {{2, 5, 5}, {5, 1}}, {{5, 5}, {3, 5, 2}}, {{4, 1, 5, 5}, {2, 5, 2}}};
  for (const auto& [a_shape, b_shape] : shapes) {
    const Tensor a0 = randn(a_shape, f64) * 0.3 + eye(5, f64) * 3.0, b0 = randn(b_shape, f64);
    std::vector<double> plain, composed;
    for (bool create_graph : {false, true}) {
      const Tensor a = a0.detach().requires_grad_(), b = b0.detach().requires_grad_();
      const Tensor x = linalg::solve(a, b);
      const Tensor w = cos(arange(x.numel(), f64)).reshape(x.sizes());
      const TensorList g = grad({(x * w).sum()}, {a, b}, {}, std::nullopt, create_graph);
      std::vector<double>& out = create_graph ? composed : plain;
      for (const Tensor& t : g) {
        const auto v = t.detach().to_vector<double>();
        out.insert(out.end(), v.begin(), v.end());
      }
    }
    ASSERT_EQ(plain.size(), composed.size());
    for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(plain[i], composed[i], 1e-13 * (1 + std::abs(composed[i])));
  }
}

// The derivatives the op table checks with finite differences, here against their closed forms on
// one matrix: d inv(A)[H] = -Y H Y, and the Hessian of a scalar of solve through func::hessian is
// symmetric.
TEST(LinearSolve, DerivativesHaveTheirClosedForms) {
  const Tensor a = matrix3();
  const Tensor h = tensor({0.1, -0.2, 0.3, 0.0, 0.5, -0.1, 0.2, 0.1, -0.4}, kFloat64).reshape({3, 3});
  const Tensor y = linalg::inv(a);
  const auto [value, tangent] = func::jvp([](const TensorList& in) { return TensorList{linalg::inv(in[0])}; }, {a}, {h});
  EXPECT_TRUE(HasValues(tangent[0], (-matmul(matmul(y, h), y)).to_vector<double>(), 1e-15));
  const Tensor b = tensor({1.0, -1.0, 2.0}, kFloat64);
  const Tensor hess = func::hessian([&](const Tensor& m) { return linalg::solve(m.reshape({3, 3}), b).pow(2).sum(); })(a.reshape({9}));
  EXPECT_LT((hess - hess.t()).abs().max().item<double>(), 1e-12);
}

}  // namespace

namespace {

// One A for a whole batch of B is factored once (its factors kept once for the gradient), and gives
// what the per-system solves give, with gradients, for A of no batch dims and of size-1 batch dims.
TEST(LinearSolve, OneMatrixForABatchIsFactoredOnce) {
  manual_seed(5);
  const TensorOptions f64 = TensorOptions().dtype(kFloat64);
  for (const std::vector<int64_t>& a_shape : {std::vector<int64_t>{4, 4}, std::vector<int64_t>{1, 1, 4, 4}}) {
    const Tensor a0 = randn(a_shape, f64) * 0.3 + eye(4, f64) * 3.0;
    const Tensor b0 = randn({6, 4, 3}, f64);
    const Tensor a = a0.detach().requires_grad_(), b = b0.detach().requires_grad_();
    const Tensor x = linalg::solve(a, b);
    const Tensor a_each = a0.reshape({4, 4}).expand({6, 4, 4}).contiguous().requires_grad_();
    const Tensor x_each = linalg::solve(a_each, b0);
    EXPECT_TRUE(HasValues(x.reshape({6, 4, 3}), x_each.to_vector<double>(), 1e-14));
    const Tensor w = sin(arange(72, f64)).reshape({6, 4, 3});
    const TensorList g = grad({(x.reshape({6, 4, 3}) * w).sum()}, {a, b});
    const TensorList g_each = grad({(x_each * w).sum()}, {a_each});
    EXPECT_TRUE(HasValues(g[0].reshape({4, 4}), g_each[0].sum({0}).to_vector<double>(), 1e-13));
  }
}

// The factors the node keeps go with its saved tensors after a backward without retain_graph, and a
// singular A raises even with no right-hand side (PyTorch's behaviour for both).
TEST(LinearSolve, FactorsFreedAfterBackwardAndSingularWithoutRightHandSides) {
  const TensorOptions f64 = TensorOptions().dtype(kFloat64);
  const Tensor a = (eye(300, f64) * 2.0).requires_grad_();
  const int64_t before = memory_stats().live_bytes;
  Tensor x = linalg::solve(a, ones({300, 1}, f64));
  x.sum().backward();
  // x alive, its node's saved A, X and LU released: what stays is x and a's gradient (300 x 300).
  EXPECT_LT(memory_stats().live_bytes - before, 300 * 300 * 8 + 300 * 8 + 4096);
  EXPECT_DYDX_ERROR(linalg::solve(zeros({3, 3}, f64), ones({3, 0}, f64)), "The solver failed because the input matrix is singular");
  EXPECT_DYDX_ERROR(linalg::solve(ones({1, 1}, f64), ones({1}, f64), false),
                    "linalg.solve: Vector broadcasting of the left hand side is not supported for left=False");
}

// copy_ from a transposed source broadcasts it to every matrix of the destination (the transposed
// copy's fast path is for same-shape copies only).
TEST(LinearSolve, BroadcastCopyOfATransposeFillsEveryMatrix) {
  const Tensor src = arange(256, TensorOptions().dtype(kFloat32)).reshape({16, 16});
  Tensor dst = zeros({3, 16, 16});
  dst.copy_(src.t());
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(HasValues(dst[i], src.t().contiguous().to_vector<double>(), 0)) << i;
}

}  // namespace

namespace {

// Each of A's own matrices is factored once, whatever the batch of B it broadcasts over: A [2, 1, n, n]
// against B [2, 5, n, 1] gives the per-system solves' bits, and a singular matrix is named by its index
// in A's batch (PyTorch's), with no index where A has no batch dims.
TEST(LinearSolve, PartlyBroadcastAIsFactoredPerOwnMatrix) {
  manual_seed(8);
  const TensorOptions f64 = TensorOptions().dtype(kFloat64);
  const Tensor a = randn({2, 1, 6, 6}, f64) * 0.3 + eye(6, f64) * 3.0;
  const Tensor b = randn({2, 5, 6, 1}, f64);
  const Tensor x = linalg::solve(a, b);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j)
      EXPECT_TRUE(HasValues(x[i][j], linalg::solve(a[i][0], b[i][j]).to_vector<double>(), 0)) << i << " " << j;
  Tensor singular = a.clone();
  singular[1].zero_();
  EXPECT_DYDX_ERROR(linalg::solve(singular, randn({2, 4, 6, 1}, f64)), "torch.linalg.solve: (Batch element 1): The solver failed");
  EXPECT_DYDX_ERROR(linalg::solve(zeros({3, 3}, f64), ones({4, 3, 2}, f64)),
                    "torch.linalg.solve: The solver failed because the input matrix is singular.");
  EXPECT_DYDX_ERROR(linalg::solve(zeros({3, 3}, f64), ones({0, 3, 2}, f64)), "singular");
}

// Batched 4 x 4 products sum each element by one chain of fused multiply-adds: A A^T is exactly
// symmetric, and a matrix has the same bits alone and in a batch.
TEST(LinearSolve, TinyBatchedProductsAreOneChainPerElement) {
  manual_seed(9);
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const Tensor a = randn({50, 4, 4}, TensorOptions().dtype(dtype));
    const Tensor gram = bmm(a, a.transpose(1, 2));
    EXPECT_TRUE(equal(gram, gram.transpose(1, 2))) << dtype;
    EXPECT_TRUE(equal(gram.narrow(0, 7, 1), bmm(a.narrow(0, 7, 1), a.narrow(0, 7, 1).transpose(1, 2)))) << dtype;
    EXPECT_TRUE(equal(gram.narrow(0, 7, 2), bmm(a.narrow(0, 7, 2), a.narrow(0, 7, 2).transpose(1, 2)))) << dtype;
  }
}

}  // namespace
