// A batch split by rank: the rows each rank takes, and per-sample derivatives over the shards against
// the same operator over the whole batch in one process.
#include <gtest/gtest.h>

#include "distributed_test_util.hpp"

using dydx::Tensor;

namespace {

Tensor weights() {
  dydx::manual_seed(11);
  return dydx::randn({3, 5}, dydx::kFloat64);
}

// Row by row: tanh(x W) summed against a fixed vector, so rows never mix.
dydx::func::UnaryFunction network() {
  const Tensor w = weights();
  return [w](const Tensor& x) { return dydx::tanh(x.matmul(w)).pow(2).sum({1}, true) + x.pow(3); };
}

Tensor batch(int64_t rows) {
  dydx::manual_seed(5);
  return dydx::rand({rows, 3}, dydx::kFloat64) * 2 - 1;
}

}  // namespace

TEST(Sharding, RowsCoverTheBatchOnceAndEvenly) {
  for (int world : {1, 2, 3, 4, 7})
    for (int64_t rows : {0, 1, 5, 16, 17}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const auto range = dist::rows_of(rows, r, world);
        EXPECT_EQ(range.begin, next);
        const int64_t n = range.end - range.begin;
        EXPECT_TRUE(n == rows / world || n == rows / world + 1) << rows << " over " << world;
        next = range.end;
      }
      EXPECT_EQ(next, rows);
    }
  EXPECT_THROW(dist::rows_of(4, 2, 2), dydx::Error);
}

TEST(Sharding, ShardThenUnshardGivesTheBatchBack) {
  const Tensor x = batch(7);  // uneven over 2 and 4 ranks
  const Tensor mine = dist::shard(x);
  const auto range = dist::my_rows(7);
  EXPECT_EQ(mine.size(0), range.end - range.begin);
  EXPECT_TRUE(dydx::equal(dist::unshard(mine), x));
}

TEST(Sharding, BatchJacobianOverShardsMatchesOneProcess) {
  const Tensor x = batch(9);
  const Tensor whole = dydx::func::batch_jacobian(network(), x);
  const Tensor mine = dist::batch_jacobian(network(), dist::shard(x));
  EXPECT_TRUE(dydx::allclose(mine, dist::shard(whole), 1e-13, 1e-15));
  const Tensor gathered = dist::batch_jacobian(network(), dist::shard(x), dist::Result::gathered);
  EXPECT_EQ(gathered.sizes(), whole.sizes());
  EXPECT_TRUE(dydx::allclose(gathered, whole, 1e-13, 1e-15));
}

TEST(Sharding, LaplacianAndBiharmonicOverShardsMatchOneProcess) {
  const Tensor x = batch(10);
  const Tensor laplacian = dist::laplacian(network(), dist::shard(x), dist::Result::gathered);
  EXPECT_TRUE(dydx::allclose(laplacian, dydx::func::laplacian(network(), x), 1e-13, 1e-15));
  const Tensor biharmonic = dist::biharmonic(network(), dist::shard(x), dist::Result::gathered);
  EXPECT_TRUE(dydx::allclose(biharmonic, dydx::func::biharmonic(network(), x), 1e-12, 1e-13));
}

TEST(Sharding, ALossOverShardedLaplaciansTrainsAsTheWholeBatch) {
  // The physics-informed pattern: a loss over each rank's collocation points, summed over ranks.
  const Tensor x = batch(8);
  Tensor w = weights().requires_grad_();
  auto f = [&w](const Tensor& rows) { return dydx::tanh(rows.matmul(w)).sum({1}, true); };
  Tensor local = dist::laplacian(f, dist::shard(x)).pow(2).sum();
  local.backward();
  Tensor grad = w.grad().clone();
  dist::all_reduce(grad);
  w.set_grad(Tensor());
  dydx::func::laplacian(f, x).pow(2).sum().backward();
  EXPECT_TRUE(dydx::allclose(grad, w.grad(), 1e-12, 1e-14));
}
