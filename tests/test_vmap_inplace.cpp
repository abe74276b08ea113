// vmap's rules for in-place ops, *_like creation and random ops: writes into a batched self (the
// other arguments batched or shared, the batch dim anywhere), writes through views of batched
// tensors, functorch's error for a batched value written into an unbatched tensor, batched
// zeros_like, and the three randomness modes.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "vmap_test_util.hpp"

#include <string>

namespace dydx {
namespace {

using vmap_test::error_of;
using vmap_test::expect_same;
using vmap_test::loop;

using func::BatchDims;
using func::Function;
using func::Randomness;
using func::VmapOptions;




// f(self, other) with self batched at every dim and other batched at every dim or shared.
void check_self_batched(const Function& f, const Tensor& self_batch, const Tensor& other_batch) {
  for (int64_t s = 0; s < self_batch.dim(); ++s)
    for (int64_t o = -1; o < other_batch.dim(); ++o) {
      SCOPED_TRACE("self at " + std::to_string(s) + ", other at " + std::to_string(o));
      const BatchDims dims{s, o < 0 ? std::nullopt : std::optional<int64_t>(o)};
      const TensorList inputs{self_batch.movedim(0, s), o < 0 ? other_batch.select(0, 1) : other_batch.movedim(0, o)};
      expect_same(func::vmap(f, dims)(inputs)[0], loop(f, inputs, dims));
    }
}

TEST(VmapInplace, BinaryOpsIntoBatchedSelf) {
  manual_seed(0);
  const Tensor self = randn({3, 2, 4}, kFloat64), other = randn({3, 2, 4}, kFloat64) + 3.0, row = randn({3, 4}, kFloat64);
  const std::vector<std::function<void(Tensor&, const Tensor&)>> writes = {
      [](Tensor& s, const Tensor& o) { s.add_(o, 2.5); },
      [](Tensor& s, const Tensor& o) { s.sub_(o); },
      [](Tensor& s, const Tensor& o) { s.mul_(o); },
      [](Tensor& s, const Tensor& o) { s.div_(o); },
      [](Tensor& s, const Tensor& o) { s.addcmul_(o, o.exp(), 0.5); },
      [](Tensor& s, const Tensor& o) { s.addcdiv_(s * 1.0, o, -2.0); },
      [](Tensor& s, const Tensor& o) { s.copy_(o); },
      [](Tensor& s, const Tensor&) { s.add_(1.5); },
      [](Tensor& s, const Tensor&) { s.mul_(-3); },
  };
  for (size_t k = 0; k < writes.size(); ++k) {
    SCOPED_TRACE("write " + std::to_string(k));
    const auto& write = writes[k];
    const Function f = [&](const TensorList& in) {
      Tensor y = in[0] * 1.0;
      write(y, in[1]);
      return TensorList{y * 2.0};  // the written value is read back through the batch
    };
    check_self_batched(f, self, other);
    check_self_batched(f, self, row);  // other of lower rank broadcasts
  }
}

TEST(VmapInplace, UnaryFillZeroAndInts) {
  manual_seed(1);
  const Tensor self = rand({3, 2, 4}, kFloat64) + 0.5;
  const std::vector<std::function<void(Tensor&)>> writes = {
      [](Tensor& s) { s.exp_(); },  [](Tensor& s) { s.log_(); },  [](Tensor& s) { s.sqrt_(); },
      [](Tensor& s) { s.sin_(); },  [](Tensor& s) { s.tanh_(); }, [](Tensor& s) { s.sigmoid_(); },
      [](Tensor& s) { s.neg_(); },  [](Tensor& s) { s.clamp_(0.7, 1.2); },
      [](Tensor& s) { s.fill_(2.5); }, [](Tensor& s) { s.zero_(); },
  };
  for (size_t k = 0; k < writes.size(); ++k) {
    SCOPED_TRACE("write " + std::to_string(k));
    const auto& write = writes[k];
    const Function f = [&](const TensorList& in) {
      Tensor y = in[0] * 1.0;
      write(y);
      return TensorList{y + in[1]};
    };
    check_self_batched(f, self, self);
  }
  // int64 self: add_ of int64, and a float result refused as outside vmap.
  const Function ints = [](const TensorList& in) {
    Tensor y = in[0] * 1;
    y.add_(in[1], 3);
    return TensorList{y};
  };
  check_self_batched(ints, randint(9, {3, 4}), randint(9, {3, 4}));
  const std::string message = error_of([] {
    func::vmap([](const Tensor& x) {
      Tensor y = x * 1;
      return y.exp_();
    })(randint(9, {3, 4}));
  });
  EXPECT_NE(message.find("exp_: result type"), std::string::npos) << message;
}

TEST(VmapInplace, ViewsWriteThroughToTheBatch) {
  manual_seed(2);
  const Tensor x = randn({3, 4, 5}, kFloat64), v = randn({3, 5}, kFloat64);
  const std::vector<std::function<void(Tensor&, const Tensor&)>> writes = {
      [](Tensor& y, const Tensor& o) { y.select(0, 2).mul_(o); },
      [](Tensor& y, const Tensor& o) { y.slice(1, 1, 4).add_(o.slice(0, 0, 3)); },
      [](Tensor& y, const Tensor& o) { y.transpose(0, 1).select(1, 0).copy_(o); },
      [](Tensor& y, const Tensor&) { y.select(1, 3).zero_(); },
      [](Tensor& y, const Tensor& o) { y.narrow(0, 1, 2).index_put_({tensor({0}, dtype(kInt64))}, o); },
      [](Tensor& y, const Tensor& o) { y.select(1, 1).scatter_(0, tensor({3, 0}, dtype(kInt64)), o.narrow(0, 1, 2)); },
      [](Tensor& y, const Tensor&) { y.select(1, 4).scatter_(0, tensor({1, 2}, dtype(kInt64)), -1.5); },
  };
  for (size_t k = 0; k < writes.size(); ++k) {
    SCOPED_TRACE("write " + std::to_string(k));
    const auto& write = writes[k];
    const Function f = [&](const TensorList& in) {
      Tensor y = in[0] * 1.0;
      write(y, in[1]);
      return TensorList{y};
    };
    check_self_batched(f, x, v);
  }
}

TEST(VmapInplace, GradientsThroughInPlaceWrites) {
  manual_seed(3);
  // A function that writes into views of its intermediates.
  const Function f = [](const TensorList& in) {
    Tensor y = in[0] * 2.0;  // (exp would save y, which the writes below overwrite: an error outside vmap too)
    y.select(0, 1).mul_(in[1]);
    y.slice(0, 0, 1).sin_();
    y.add_(in[1] * in[0], 0.5);
    return TensorList{y.pow(2)};
  };
  // backward through vmap(f) equals backward through the loop, for both inputs.
  const Tensor x = randn({3, 2, 4}, kFloat64).requires_grad_(true), w = randn({3, 4}, kFloat64).requires_grad_(true);
  const Tensor weights = randn({3, 2, 4}, kFloat64);
  const BatchDims dims{1, std::nullopt};
  const TensorList inputs{x.movedim(0, 1), w.select(0, 0)};
  const Tensor batched = func::vmap(f, dims)(inputs)[0], looped = loop(f, inputs, dims);
  expect_same(batched, looped);
  const TensorList gb = grad({batched}, {x, w}, {weights}), gl = grad({looped}, {x, w}, {weights});
  expect_same(gb[0], gl[0]);
  expect_same(gb[1], gl[1]);
}

TEST(VmapInplace, BatchedIntoUnbatchedRaises) {
  const std::vector<std::pair<std::string, std::function<void(Tensor&, const Tensor&)>>> writes = {
      {"add_", [](Tensor& s, const Tensor& o) { s.add_(o); }},
      {"mul_", [](Tensor& s, const Tensor& o) { s.mul_(o); }},
      {"copy_", [](Tensor& s, const Tensor& o) { s.copy_(o); }},
      {"addcmul_", [](Tensor& s, const Tensor& o) { s.addcmul_(o, o); }},
      {"index_put_", [](Tensor& s, const Tensor& o) { s.index_put_({tensor({1}, dtype(kInt64))}, o); }},
      {"scatter_", [](Tensor& s, const Tensor& o) { s.scatter_(0, tensor({2, 0}, dtype(kInt64)), o); }},
  };
  for (const auto& [name, write] : writes) {
    SCOPED_TRACE(name);
    Tensor shared = zeros({4});
    const Tensor before = shared.clone();
    const std::string message = error_of([&, w = write] {
      func::vmap([&](const Tensor& x) {
        w(shared, x);
        return x;
      })(ones({3, 4}));
    });
    EXPECT_NE(message.find("vmap: " + name + ": cannot write a batched value into a tensor that is not batched (self is "
                           "not batched"),
              std::string::npos)
        << message;
    expect_same(shared, before);  // nothing written
  }
  // self batched only at the outer level, the value at the inner one.
  const std::string nested = error_of([] {
    func::vmap([](const Tensor& outer) {
      Tensor y = outer * 1.0;
      return func::vmap([&](const Tensor& inner) {
        y.add_(inner);
        return inner;
      })(ones({2, 4}));
    })(ones({3, 4}));
  });
  EXPECT_NE(nested.find("vmap: add_: cannot write a batched value into a tensor that is not batched (self is batched "
                        "only at an outer vmap"),
            std::string::npos)
      << nested;
  // The other way round is fine: an unbatched value written into every sample.
  Tensor out = func::vmap([](const Tensor& x) {
    Tensor y = x * 1.0;
    return y.copy_(tensor({1.0, 2.0}, dtype(kFloat64)));
  })(zeros({3, 2}, kFloat64));
  expect_same(out, tensor({1.0, 2.0}, dtype(kFloat64)).expand({3, 2}).contiguous());
}

TEST(VmapInplace, LikeCreationIsBatched) {
  manual_seed(4);
  const Tensor x = randn({3, 4}, kFloat64);
  // zeros_like(x) inside vmap is batched, so writing the batched x into it works (functorch).
  const Function f = [](const TensorList& in) {
    Tensor z = zeros_like(in[0]);
    z.copy_(in[0] * 2.0);
    Tensor o = ones_like(in[0], kInt64);
    Tensor full = full_like(in[0], 1.5);
    full.mul_(in[0]);
    Tensor e = empty_like(in[0]);
    e.fill_(0.25);
    return TensorList{z + o.to(kFloat64) + full + e};
  };
  for (int64_t d : {0, 1}) expect_same(func::vmap(f, {d})({x.movedim(0, d)})[0], loop(f, {x.movedim(0, d)}, {d}));
  Tensor o = func::vmap([](const Tensor& v) { return ones_like(v, kInt64); })(x);
  EXPECT_EQ(o.dtype(), kInt64);
  EXPECT_EQ(o.size(0), 3);
}

VmapOptions randomness(Randomness r) {
  VmapOptions o;
  o.randomness = r;
  return o;
}

TEST(VmapRandom, ErrorModeRaises) {
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
      {"rand", [](const Tensor& x) { return rand({4}, kFloat64) + x; }},
      {"randn", [](const Tensor& x) { return randn({4}, kFloat64) + x; }},
      {"randint", [](const Tensor& x) { return randint(5, {4}) + x; }},
      {"randperm", [](const Tensor& x) { return randperm(4) + x; }},
      {"bernoulli", [](const Tensor& x) { return bernoulli(x.sigmoid()); }},
      {"bernoulli", [](const Tensor& x) { return dropout(x, 0.5, true); }},
      {"bernoulli_", [](const Tensor& x) { return (x * 1.0).bernoulli_(0.5); }},
  };
  for (const auto& [name, op] : ops) {
    const std::string message = error_of([&, f = op] { func::vmap(f)(zeros({3, 4}, kFloat64)); });
    EXPECT_NE(message.find("vmap: called random operation " + name + " while in randomness error mode"),
              std::string::npos)
        << message;
  }
}

// Rows of a [3, 4] result, pairwise equal (same) or pairwise different (different).
void expect_rows(const Tensor& t, bool equal_rows) {
  for (int64_t a = 0; a < t.size(0); ++a)
    for (int64_t b = a + 1; b < t.size(0); ++b) EXPECT_EQ(equal(t.select(0, a), t.select(0, b)), equal_rows) << t;
}

TEST(VmapRandom, DifferentAndSame) {
  manual_seed(5);
  const Tensor x = zeros({3, 64}, kFloat64);
  const std::vector<std::function<Tensor(const Tensor&)>> ops = {
      [](const Tensor& v) { return rand({64}, kFloat64) + v; },
      [](const Tensor& v) { return randn({64}, kFloat64) + v; },
      [](const Tensor& v) { return randint(1000, {64}).to(kFloat64) + v; },
      [](const Tensor& v) { return randperm(64).to(kFloat64) + v; },
      [](const Tensor& v) { return bernoulli(full({64}, 0.5, kFloat64)) + v; },
      [](const Tensor& v) { return dropout(v + 1.0, 0.5, true); },
  };
  for (size_t k = 0; k < ops.size(); ++k) {
    SCOPED_TRACE("op " + std::to_string(k));
    expect_rows(func::vmap(ops[k], 0, 0, randomness(Randomness::different))(x), false);
    expect_rows(func::vmap(ops[k], 0, 0, randomness(Randomness::same))(x), true);
  }
  // randperm's rows are permutations.
  Tensor perms = func::vmap([](const Tensor& v) { return randperm(64) + v.to(kInt64); }, 0, 0,
                            randomness(Randomness::different))(zeros({3, 64}));
  for (int64_t b = 0; b < 3; ++b)
    expect_same(scatter(zeros({64}, kFloat64), 0, perms.select(0, b), 1.0), ones({64}, kFloat64));
  // A batched input: each sample draws from its own probabilities under 'different' (p = 0 or 1
  // per sample makes the draw exact); 'same' refuses it, as functorch.
  Tensor p = tensor({0.0, 1.0, 0.0}, dtype(kFloat64)).unsqueeze(1).expand({3, 5}).contiguous();
  expect_same(func::vmap([](const Tensor& q) { return bernoulli(q); }, 0, 0, randomness(Randomness::different))(p), p);
  const std::string same = error_of([&] {
    func::vmap([](const Tensor& q) { return bernoulli(q); }, 0, 0, randomness(Randomness::same))(p);
  });
  EXPECT_NE(same.find("vmap: bernoulli: Vmap does not currently support same randomness with a batched tensor input"),
            std::string::npos)
      << same;
  // bernoulli_: 'same' copies one draw into every sample; 'different' needs a batched self.
  expect_rows(func::vmap([](const Tensor& v) { return (v * 1.0).bernoulli_(0.5); }, 0, 0,
                         randomness(Randomness::same))(x),
              true);
  expect_rows(func::vmap([](const Tensor& v) { return (v * 1.0).bernoulli_(0.5); }, 0, 0,
                         randomness(Randomness::different))(x),
              false);
  const std::string unbatched = error_of([&] {
    func::vmap([](const Tensor& v) { return zeros({64}, kFloat64).bernoulli_(0.5) + v; }, 0, 0,
               randomness(Randomness::different))(x);
  });
  EXPECT_NE(unbatched.find("vmap: bernoulli_: Cannot ask for different inplace randomness on an unbatched tensor"),
            std::string::npos)
      << unbatched;
}

TEST(VmapRandom, NestedLevels) {
  // Outer 'different', inner 'same': rows differ across the outer batch, agree across the inner.
  Tensor out = func::vmap(
      [](const Tensor& outer) {
        return func::vmap([](const Tensor& inner) { return rand({8}, kFloat64) + inner; }, 0, 0,
                          randomness(Randomness::same))(outer);
      },
      0, 0, randomness(Randomness::different))(zeros({2, 3, 8}, kFloat64));
  ASSERT_EQ(out.dim(), 3);
  expect_rows(out.select(1, 0), false);
  for (int64_t a = 0; a < 2; ++a) expect_rows(out.select(0, a), true);
  // Both 'different', with an input batched at the inner level only: the outer level draws for it too.
  const Tensor half = full({3, 64}, 0.5, kFloat64);
  Tensor probs = func::vmap(
      [&](const Tensor& outer) {
        return func::vmap([](const Tensor& inner) { return bernoulli(inner); }, 0, 0,
                          randomness(Randomness::different))(half) + outer;
      },
      0, 0, randomness(Randomness::different))(zeros({2, 1, 1}, kFloat64));
  ASSERT_EQ(probs.dim(), 3);  // [outer, inner, 64]
  EXPECT_EQ(probs.size(0), 2);
  expect_rows(probs.select(0, 0), false);
  EXPECT_FALSE(equal(probs.select(0, 0), probs.select(0, 1)));
}

}  // namespace
}  // namespace dydx
