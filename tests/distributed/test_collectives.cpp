// Each collective against the reference every rank computes from every rank's input: every dtype,
// strided, 0-size and 0-d tensors, leaves that require grad, and the errors that mismatched or invalid
// calls raise on every rank without changing any tensor.
#include <gtest/gtest.h>
#include <mpi.h>

#include "distributed_test_util.hpp"

using dydx::Tensor;

namespace {

const std::vector<dydx::ScalarType> kDtypes{dydx::kFloat32, dydx::kFloat64, dydx::kInt64};

// The message of the dydx::Error that call throws, or "" if it throws none.
template <class F>
std::string error_of(F call) {
  try {
    call();
  } catch (const dydx::Error& e) {
    return e.what();
  }
  return "";
}

Tensor reference_reduce(dydx::IntArrayRef sizes, dydx::ScalarType dtype, dist::ReduceOp op) {
  Tensor r = input_of(0, sizes, dtype);
  for (int k = 1; k < dist::world_size(); ++k) {
    Tensor x = input_of(k, sizes, dtype);
    if (op == dist::ReduceOp::sum || op == dist::ReduceOp::mean) r = r + x;
    if (op == dist::ReduceOp::max) r = dydx::maximum(r, x);
    if (op == dist::ReduceOp::min) r = dydx::minimum(r, x);
  }
  return op == dist::ReduceOp::mean ? r / static_cast<double>(dist::world_size()) : r;
}

}  // namespace

TEST(Collectives, RankAndWorldSize) {
  EXPECT_GE(dist::world_size(), 2);  // ctest runs these under mpirun -np 2 and 4
  EXPECT_GE(dist::rank(), 0);
  EXPECT_LT(dist::rank(), dist::world_size());
  // Every rank names itself once.
  Tensor ranks = dydx::zeros({dist::world_size()}, dydx::kInt64);
  ranks.index_put_({dist::rank()}, 1);
  dist::all_reduce(ranks);
  EXPECT_TRUE(same(ranks, dydx::ones({dist::world_size()}, dydx::kInt64)));
}

TEST(Collectives, AllReduceEveryOpAndDtype) {
  for (auto dtype : kDtypes)
    for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::mean, dist::ReduceOp::max, dist::ReduceOp::min}) {
      if (op == dist::ReduceOp::mean && dtype == dydx::kInt64) continue;
      Tensor t = input_of(dist::rank(), {3, 5}, dtype);
      dist::all_reduce(t, op);
      EXPECT_TRUE(same(t, reference_reduce({3, 5}, dtype, op))) << dydx::dtype_name(dtype) << " " << dist::to_string(op);
    }
}

TEST(Collectives, LargeBuffersEveryOp) {
  // Beyond Open MPI's small-message algorithms (on 2 and 3 ranks dydx asks for its ring), with counts that
  // do not divide by the ranks.
  for (auto dtype : kDtypes)
    for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::max, dist::ReduceOp::mean}) {
      if (op == dist::ReduceOp::mean && dtype == dydx::kInt64) continue;
      for (int64_t n : {int64_t{4096}, int64_t{20011}}) {
        Tensor t = input_of(dist::rank(), {n}, dtype);
        dist::all_reduce(t, op);
        EXPECT_TRUE(same(t, reference_reduce({n}, dtype, op))) << dydx::dtype_name(dtype) << " " << n;
      }
    }
}

TEST(Collectives, Int64SumsAreExactBeyondDoublePrecision) {
  const int64_t big = (int64_t{1} << 53) + 1;  // not a double
  Tensor t = dydx::tensor(std::vector<int64_t>{big + dist::rank()});
  dist::all_reduce(t);
  const int64_t n = dist::world_size();
  EXPECT_EQ(t.item<int64_t>(), n * big + n * (n - 1) / 2);
}

TEST(Collectives, MeanOfInt64IsRefusedAndChangesNothing) {
  Tensor t = input_of(dist::rank(), {4}, dydx::kInt64);
  const Tensor before = t.clone();
  EXPECT_EQ(error_of([&] { dist::all_reduce(t, dist::ReduceOp::mean); }),
            "all_reduce: rank 0 asks for the mean of int64 tensors, which would truncate; reduce with sum and divide "
            "as you mean to");
  EXPECT_TRUE(same(t, before));
}

TEST(Collectives, AllReduceOfStridedViewsWritesOnlyTheView) {
  for (auto dtype : kDtypes) {
    Tensor base = input_of(dist::rank(), {4, 6}, dtype);
    const Tensor untouched = base.clone();
    Tensor view = base.t().slice(0, 0, 6, 2);  // [3, 4], strides (2, 6)
    ASSERT_FALSE(view.is_contiguous());
    dist::all_reduce(view);
    Tensor expected = reference_reduce({4, 6}, dtype, dist::ReduceOp::sum).t().slice(0, 0, 6, 2);
    EXPECT_TRUE(same(view, expected)) << dydx::dtype_name(dtype);
    // The columns the view skips keep this rank's values.
    EXPECT_TRUE(same(base.slice(1, 1, 6, 2), untouched.slice(1, 1, 6, 2))) << dydx::dtype_name(dtype);
  }
}

TEST(Collectives, ZeroSizeAndZeroDimTensors) {
  Tensor empty = dydx::zeros({0, 3});
  dist::all_reduce(empty);
  EXPECT_EQ(empty.sizes(), (std::vector<int64_t>{0, 3}));
  dist::broadcast(empty, 0);
  EXPECT_EQ(dist::all_gather(empty).size(), static_cast<size_t>(dist::world_size()));
  EXPECT_EQ(dist::all_gather_concat(empty).sizes(), (std::vector<int64_t>{0, 3}));

  Tensor scalar = dydx::tensor(static_cast<double>(dist::rank() + 1));
  dist::all_reduce(scalar, dist::ReduceOp::max);
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<double>(), dist::world_size());
  const auto gathered = dist::all_gather(dydx::tensor(static_cast<double>(dist::rank())));
  for (int r = 0; r < dist::world_size(); ++r) EXPECT_EQ(gathered[r].item<double>(), r);
}

TEST(Collectives, ALeafThatRequiresGradIsReducedAsDataOutsideAutograd) {
  Tensor w = input_of(dist::rank(), {2, 2}, dydx::kFloat64).requires_grad_();
  const int64_t version = w._version();
  dist::all_reduce(w);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
  EXPECT_GT(w._version(), version);  // an in-place write, as autograd must see it
  EXPECT_TRUE(same(w.detach(), reference_reduce({2, 2}, dydx::kFloat64, dist::ReduceOp::sum)));
}

// dydx runs its collectives on a communicator of its own: the application's MPI_COMM_WORLD keeps its
// error handler (dydx had set MPI_ERRORS_RETURN on it, so the application's unchecked calls stopped
// aborting). A view made in the call is reduced where it lies.
TEST(Collectives, OwnCommunicatorAndViewsAsArguments) {
  MPI_Errhandler handler;
  MPI_Comm_get_errhandler(MPI_COMM_WORLD, &handler);
  EXPECT_EQ(handler, MPI_ERRORS_ARE_FATAL);
  MPI_Errhandler_free(&handler);
  Tensor x = dydx::zeros({4}, dydx::kFloat64) + static_cast<double>(dist::rank());
  dist::all_reduce(x.narrow(0, 1, 2));
  const double sum = dist::world_size() * (dist::world_size() - 1) / 2.0;
  const double r = dist::rank();
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{r, sum, sum, r}));
}

TEST(Collectives, BroadcastFromEachRoot) {
  for (int root = 0; root < dist::world_size(); ++root)
    for (auto dtype : kDtypes) {
      Tensor base = input_of(dist::rank(), {5, 2}, dtype);
      Tensor column = base.select(1, 1);  // strided
      dist::broadcast(column, root);
      EXPECT_TRUE(same(column, input_of(root, {5, 2}, dtype).select(1, 1))) << root << " " << dydx::dtype_name(dtype);
      EXPECT_TRUE(same(base.select(1, 0), input_of(dist::rank(), {5, 2}, dtype).select(1, 0)));
    }
}

TEST(Collectives, AllGatherInRankOrder) {
  for (auto dtype : kDtypes) {
    const Tensor mine = input_of(dist::rank(), {2, 3}, dtype).t();  // strided
    const auto all = dist::all_gather(mine);
    ASSERT_EQ(all.size(), static_cast<size_t>(dist::world_size()));
    for (int r = 0; r < dist::world_size(); ++r)
      EXPECT_TRUE(same(all[r], input_of(r, {2, 3}, dtype).t())) << r << " " << dydx::dtype_name(dtype);
  }
}

TEST(Collectives, AllGatherConcatTakesUnevenRows) {
  for (auto dtype : kDtypes) {
    // Rank r holds r rows (rank 0 none) of 3.
    const Tensor mine = input_of(dist::rank(), {dist::rank(), 3}, dtype);
    std::vector<Tensor> parts;
    for (int r = 0; r < dist::world_size(); ++r) parts.push_back(input_of(r, {r, 3}, dtype));
    EXPECT_TRUE(same(dist::all_gather_concat(mine), dydx::cat(parts, 0))) << dydx::dtype_name(dtype);
  }
}

TEST(Collectives, ReduceScatterGivesEachRankItsChunk) {
  const int n = dist::world_size();
  for (auto dtype : kDtypes)
    for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::max, dist::ReduceOp::mean}) {
      if (op == dist::ReduceOp::mean && dtype == dydx::kInt64) continue;
      const Tensor chunk = dist::reduce_scatter(input_of(dist::rank(), {2 * n, 3}, dtype), op);
      const Tensor expected = reference_reduce({2 * n, 3}, dtype, op).narrow(0, 2 * dist::rank(), 2);
      EXPECT_TRUE(same(chunk, expected)) << dydx::dtype_name(dtype) << " " << dist::to_string(op);
    }
}

TEST(Collectives, BarrierReturnsOnEveryRank) {
  for (int k = 0; k < 3; ++k) dist::barrier();
  SUCCEED();
}

// ---- errors: the same message on every rank, and no tensor changed ---------------------------------

TEST(CollectiveErrors, ShapeMismatchNamesTheRanksAndShapes) {
  const bool odd = dist::rank() == 1;
  Tensor t = dydx::ones(odd ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{2, 3});
  const Tensor before = t.clone();
  EXPECT_EQ(error_of([&] { dist::all_reduce(t); }), "all_reduce: rank 1 has shape [3,2] but rank 0 has [2,3]");
  EXPECT_TRUE(same(t, before));
  EXPECT_EQ(error_of([&] { dist::all_gather(t); }), "all_gather: rank 1 has shape [3,2] but rank 0 has [2,3]");
  EXPECT_EQ(error_of([&] { dist::all_gather_concat(t); }),
            "all_gather_concat: rank 1 has shape [3,2] but rank 0 has [2,3] (only dim 0 may differ)");
  // The ranks still agree afterwards.
  Tensor fine = dydx::ones({2});
  dist::all_reduce(fine);
  EXPECT_EQ(fine.sum().item<double>(), 2.0 * dist::world_size());
}

TEST(CollectiveErrors, SameNumelOtherShapeAndLongShapesAreCaught) {
  // Equal in the first dims that are printed, different beyond them: compared by hash.
  std::vector<int64_t> sizes(11, 1);
  if (dist::rank() == dist::world_size() - 1) sizes.back() = 2;
  Tensor t = dydx::zeros(sizes);
  const std::string message = error_of([&] { dist::broadcast(t, 0); });
  EXPECT_NE(message.find("broadcast: rank " + std::to_string(dist::world_size() - 1) + " has shape [1,1,1,1,1,1,1,1,1,...]"),
            std::string::npos) << message;
}

TEST(CollectiveErrors, DtypeMismatch) {
  Tensor t = dydx::ones({2}, dist::rank() == 1 ? dydx::kFloat64 : dydx::kFloat32);
  EXPECT_EQ(error_of([&] { dist::all_reduce(t); }), "all_reduce: rank 1 has dtype float64 but rank 0 has float32");
}

TEST(CollectiveErrors, UnsupportedDtypeOnOneRankFailsEveryRank) {
  Tensor t = dist::rank() == 1 ? dydx::ones({2}, dydx::kBool) : dydx::ones({2});
  EXPECT_EQ(error_of([&] { dist::all_reduce(t); }),
            "all_reduce: rank 1 has a tensor of dtype bool; collectives take float32, float64 and int64");
}

TEST(CollectiveErrors, ExpandedTensorCannotBeWrittenInPlace) {
  Tensor t = dydx::ones({1, 3}).expand({2, 3});
  EXPECT_EQ(error_of([&] { dist::all_reduce(t); }),
            "all_reduce: rank 0 has a tensor of shape [2,3] whose elements share memory (an expanded tensor); it "
            "cannot be written in place, pass a contiguous copy");
  // Read-only collectives take it.
  EXPECT_EQ(dist::all_gather_concat(t).size(0), 2 * dist::world_size());
}

TEST(CollectiveErrors, DifferentCollectivesOrOpsAreReported) {
  Tensor t = dydx::ones({2});
  const auto op = dist::rank() == 0 ? dist::ReduceOp::sum : dist::ReduceOp::max;
  EXPECT_EQ(error_of([&] { dist::all_reduce(t, op); }),
            "all_reduce: the ranks call different collectives: rank 0 calls all_reduce(sum) but rank 1 calls "
            "all_reduce(max)");
  const std::string message = error_of([&] {
    if (dist::rank() == 0) dist::barrier();
    else dist::broadcast(t, 0);
  });
  EXPECT_NE(message.find("the ranks call different collectives: rank 0 calls barrier but rank 1 calls broadcast(root 0)"),
            std::string::npos) << message;
}

TEST(CollectiveErrors, BadRootAndIndivisibleScatter) {
  Tensor t = dydx::ones({2});
  EXPECT_EQ(error_of([&] { dist::broadcast(t, dist::world_size()); }),
            "broadcast: rank 0 names root " + std::to_string(dist::world_size()) + ", but the ranks are 0 to " +
                std::to_string(dist::world_size() - 1));
  const Tensor rows = dydx::ones({dist::world_size() + 1, 2});
  EXPECT_EQ(error_of([&] { dist::reduce_scatter(rows); }),
            "reduce_scatter: rank 0 has shape [" + std::to_string(dist::world_size() + 1) +
                ",2], whose dim 0 does not divide into " + std::to_string(dist::world_size()) + " ranks");
}

TEST(CollectiveErrors, TimeoutMustBePositive) {
  EXPECT_EQ(error_of([] { dist::set_timeout(std::chrono::milliseconds(0)); }),
            "distributed::set_timeout: the timeout must be positive, got 0 ms");
}
