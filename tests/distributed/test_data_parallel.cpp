// DataParallel: the parameters start equal on every rank, a step over each rank's share of the batch
// gives what one process computes over the whole batch, and the ranks stay equal bit for bit.
#include <gtest/gtest.h>

#include "distributed_test_util.hpp"

using dydx::Tensor;

namespace {

// A small network as plain tensors: tanh(x W1 + b1) W2 + b2.
struct Mlp {
  std::vector<Tensor> p;
  explicit Mlp(uint64_t seed, int64_t hidden = 32) {
    dydx::manual_seed(seed);
    p = {dydx::randn({3, hidden}, dydx::kFloat64) * 0.5, dydx::randn({hidden}, dydx::kFloat64) * 0.1,
         dydx::randn({hidden, 1}, dydx::kFloat64) * 0.5, dydx::randn({1}, dydx::kFloat64) * 0.1};
    for (Tensor& t : p) t.requires_grad_();
  }
  Mlp(const Mlp& other) {
    for (const Tensor& t : other.p) p.push_back(t.detach().clone().requires_grad_());
  }
  Tensor forward(const Tensor& x) const { return dydx::tanh(x.matmul(p[0]) + p[1]).matmul(p[2]) + p[3]; }
  void sgd_step(double lr) {
    dydx::NoGradGuard no_grad;
    for (Tensor& t : p) {
      t.sub_(t.grad() * lr);
      t.set_grad(Tensor());
    }
  }
};

// The same batch on every rank: rows of 3 inputs and a target.
std::pair<Tensor, Tensor> global_batch(int64_t rows) {
  dydx::manual_seed(123);
  Tensor x = dydx::rand({rows, 3}, dydx::kFloat64) * 2 - 1;
  return {x, dydx::sin(x.sum({1}, true) * 2)};
}

Tensor mse(const Tensor& prediction, const Tensor& target) { return (prediction - target).pow(2).mean(); }

// Whether every rank holds exactly rank 0's t.
bool equal_on_every_rank(const Tensor& t) {
  const auto all = dist::all_gather(t.detach());
  for (const Tensor& other : all)
    if (!dydx::equal(other, all[0])) return false;
  return true;
}

}  // namespace

TEST(DataParallel, BroadcastsRankZerosParametersAtConstruction) {
  Mlp model(100 + dist::rank());  // different on every rank
  ASSERT_FALSE(equal_on_every_rank(model.p[0]));
  const Mlp rank0(100);
  dist::DataParallel ddp(model.p);
  for (size_t k = 0; k < model.p.size(); ++k) {
    EXPECT_TRUE(equal_on_every_rank(model.p[k])) << k;
    EXPECT_TRUE(dydx::equal(model.p[k].detach(), rank0.p[k].detach())) << k;
  }
}

TEST(DataParallel, StepsOverShardsMatchOneProcessOverTheWholeBatch) {
  Mlp model(7 + dist::rank());
  // Small buckets: several of them, so that some go out while backward still runs.
  dist::DataParallel ddp(model.p, {.bucket_bytes = 512});
  Mlp reference(model);  // rank 0's parameters after the broadcast
  EXPECT_GT(ddp.bucket_count(), 2);
  // 12 rows split evenly over 2, 3 or 4 ranks: the mean of the ranks' mean losses is the whole batch's mean.
  const auto [x, y] = global_batch(12);
  for (int step = 0; step < 5; ++step) {
    mse(model.forward(dist::shard(x)), dist::shard(y)).backward();
    ddp.synchronize();
    EXPECT_GE(ddp.buckets_started_in_backward(), 1) << "no bucket overlapped backward";
    model.sgd_step(0.1);

    mse(reference.forward(x), y).backward();
    reference.sgd_step(0.1);
  }
  for (size_t k = 0; k < model.p.size(); ++k) {
    EXPECT_TRUE(dydx::allclose(model.p[k], reference.p[k], 1e-12, 1e-14)) << k;
    EXPECT_TRUE(equal_on_every_rank(model.p[k])) << k;
  }
}

// As DDP: the end of backward leaves the averaged .grad, with no call after it (a callback that the
// first gradient hook queues); dydx::grad(), which writes no .grad, takes no part.
TEST(DataParallel, GradientsAreReducedByTheEndOfBackward) {
  Mlp model(11);
  dist::DataParallel ddp(model.p, {.bucket_bytes = 512});
  Mlp reference(model);
  const auto [x, y] = global_batch(12);
  mse(model.forward(dist::shard(x)), dist::shard(y)).backward();
  mse(reference.forward(x), y).backward();
  for (size_t k = 0; k < model.p.size(); ++k) {
    EXPECT_TRUE(dydx::allclose(model.p[k].grad(), reference.p[k].grad(), 1e-12, 1e-14)) << k;
    EXPECT_TRUE(equal_on_every_rank(model.p[k].grad())) << k;
  }
  ddp.synchronize();  // nothing left to do: .grad stays as it is
  for (size_t k = 0; k < model.p.size(); ++k)
    EXPECT_TRUE(dydx::allclose(model.p[k].grad(), reference.p[k].grad(), 1e-12, 1e-14)) << k;
  // Each rank's own gradient, untouched by the other ranks.
  const Tensor local = dydx::grad({mse(model.forward(dist::shard(x)), dist::shard(y))}, {model.p[3]})[0];
  Mlp alone(model);
  mse(alone.forward(dist::shard(x)), dist::shard(y)).backward();
  EXPECT_TRUE(dydx::allclose(local, alone.p[3].grad(), 1e-12, 1e-14));
}

TEST(DataParallel, OneLargeBucketAndSumReduction) {
  Mlp model(3);
  dist::DataParallel ddp(model.p, {.reduction = dist::ReduceOp::sum});
  EXPECT_EQ(ddp.bucket_count(), 1);
  const auto [x, y] = global_batch(12);
  // Each rank's loss is its share of the whole batch's sum, so the summed gradients are the whole batch's.
  (model.forward(dist::shard(x)) - dist::shard(y)).pow(2).sum().backward();
  ddp.synchronize();
  Mlp reference(model);
  (reference.forward(x) - y).pow(2).sum().backward();
  for (size_t k = 0; k < model.p.size(); ++k)
    EXPECT_TRUE(dydx::allclose(model.p[k].grad(), reference.p[k].grad(), 1e-12, 1e-14)) << k;
}

TEST(DataParallel, AccumulatesOverBackwardsAsDdpDoes) {
  // Two backwards without zeroing: .grad holds the average of the accumulated gradients.
  Mlp model(5);
  dist::DataParallel ddp(model.p, {.bucket_bytes = 256});
  Mlp reference(model);
  const auto [x, y] = global_batch(12);
  for (int k = 0; k < 2; ++k) {
    mse(model.forward(dist::shard(x)) * (k + 1), dist::shard(y)).backward();
    ddp.synchronize();
    mse(reference.forward(x) * (k + 1), y).backward();
  }
  for (size_t k = 0; k < model.p.size(); ++k)
    EXPECT_TRUE(dydx::allclose(model.p[k].grad(), reference.p[k].grad(), 1e-12, 1e-14)) << k;
}

TEST(DataParallel, AParameterWithoutGradientStillTakesPart) {
  Mlp model(9);
  Tensor unused = dydx::ones({4}, dydx::kFloat64).requires_grad_();
  std::vector<Tensor> parameters = model.p;
  parameters.push_back(unused);
  dist::DataParallel ddp(parameters, {.bucket_bytes = 256});
  const auto [x, y] = global_batch(12);
  mse(model.forward(dist::shard(x)), dist::shard(y)).backward();
  // No rank gave it a gradient: its .grad stays undefined, as DDP leaves an unused parameter's.
  EXPECT_FALSE(unused.grad().defined());
  EXPECT_TRUE(equal_on_every_rank(model.p[0].grad()));
  // Used on rank 0 alone: every rank gets the mean, rank 0's gradient over the world size.
  (unused * (dist::rank() == 0 ? 2.0 : 0.0)).sum().backward();
  ASSERT_TRUE(unused.grad().defined());
  EXPECT_TRUE(dydx::allclose(unused.grad(), dydx::full({4}, 2.0 / dist::world_size(), dydx::kFloat64)));
}

// A backward with create_graph=True gives .grad a graph that the reduced (plain) gradients would lose:
// refused with a clear error on every rank, not silently made constant.
TEST(DataParallel, RefusesGradientsWithAGraph) {
  Mlp model(13);
  dist::DataParallel ddp(model.p);
  const auto [x, y] = global_batch(12);
  try {
    mse(model.forward(dist::shard(x)), dist::shard(y)).backward({}, std::nullopt, /*create_graph=*/true);
    ADD_FAILURE() << "no error";
  } catch (const dydx::Error& e) {
    EXPECT_NE(std::string(e.what()).find("create_graph=True"), std::string::npos) << e.what();
  }
  // A .grad with a graph holds its parameter through that graph (a cycle, as in PyTorch, which warns
  // of it): dropped here, or LeakSanitizer sees it at exit.
  for (Tensor& p : model.p) p.set_grad(Tensor());
}

TEST(DataParallel, TakesAModulesParameters) {
  dydx::manual_seed(1 + dist::rank());
  dydx::nn::Linear layer(4, 3);
  dist::DataParallel ddp(*layer);
  for (const Tensor& p : layer->parameters()) EXPECT_TRUE(equal_on_every_rank(p));
  // The holder itself, as DDP(model) takes it.
  dydx::manual_seed(10 + dist::rank());
  dydx::nn::Linear other(2, 2);
  dist::DataParallel from_holder(other);
  for (const Tensor& p : other->parameters()) EXPECT_TRUE(equal_on_every_rank(p));
}

// A backward that raises (a hook of the user's, on every rank) after buckets went out leaves them in
// flight: the next backward is refused until synchronize(), and a DataParallel destroyed then waits for
// them before their memory goes.
TEST(DataParallel, ABackwardThatRaisesLeavesBucketsThatSynchronizeOrTheDestructorFinish) {
  Mlp model(4);
  const auto [x, y] = global_batch(12);
  {
    dist::DataParallel ddp(model.p, {.bucket_bytes = 256});
    EXPECT_GE(ddp.bucket_count(), 2);
    // The first parameter is reached last: by then the later parameters' buckets are out.
    const unsigned hook = model.p[0].register_hook([](const Tensor&) -> Tensor { throw std::runtime_error("stop"); });
    EXPECT_THROW(mse(model.forward(dist::shard(x)), dist::shard(y)).backward(), std::runtime_error);
    model.p[0].remove_hook(hook);
    try {
      mse(model.forward(dist::shard(x)), dist::shard(y)).backward();
      ADD_FAILURE() << "a second backward before synchronize() went through";
    } catch (const dydx::Error& e) {
      EXPECT_NE(std::string(e.what()).find("call synchronize()"), std::string::npos) << e.what();
    }
    ddp.synchronize();
    for (Tensor& p : model.p) p.set_grad(Tensor());
    mse(model.forward(dist::shard(x)), dist::shard(y)).backward();
    EXPECT_TRUE(equal_on_every_rank(model.p[2].grad()));
    model.p[0].register_hook([](const Tensor&) -> Tensor { throw std::runtime_error("stop"); });
    for (Tensor& p : model.p) p.set_grad(Tensor());
    EXPECT_THROW(mse(model.forward(dist::shard(x)), dist::shard(y)).backward(), std::runtime_error);
  }  // buckets of the raised backward still out in MPI: waited for before their memory goes
  // The ranks still agree on what comes next.
  Tensor t = dydx::ones({3});
  dist::all_reduce(t);
  EXPECT_TRUE(dydx::equal(t, dydx::full({3}, static_cast<double>(dist::world_size()), dydx::kFloat32)));
}

TEST(DataParallel, DifferentParametersOnOneRankAreReported) {
  std::vector<Tensor> parameters{dydx::zeros({dist::rank() == 1 ? 3 : 2}).requires_grad_()};
  try {
    dist::DataParallel ddp(parameters);
    ADD_FAILURE() << "no error";
  } catch (const dydx::Error& e) {
    EXPECT_STREQ(e.what(), "DataParallel: rank 1 has other parameters (count, dtypes or shapes) or options "
                           "(bucket_bytes, reduction) than rank 0");
  }
  // The same parameters with another bucket size on one rank would make buckets of other sizes.
  std::vector<Tensor> same{dydx::zeros({64}).requires_grad_(), dydx::zeros({64}).requires_grad_()};
  try {
    dist::DataParallel ddp(same, {.bucket_bytes = dist::rank() == 1 ? 256 : 512});
    ADD_FAILURE() << "no error";
  } catch (const dydx::Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 has other parameters"), std::string::npos) << e.what();
  }
}
