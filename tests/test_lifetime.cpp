// Lifetimes: graphs a million ops deep (released, differentiated and printed without recursion),
// hooks that change the hook lists during backward, printing huge views, and the large-buffer cache.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace dydx {
namespace {

using testing::HasValues;

// Each depth overflowed the stack in ~Node before the fix: recursion costs several hundred bytes a
// level, and the stack is 8 MiB. Sanitizer builds have larger frames but run ops about ten times
// slower, so they use a fifth of the depth, which still needs over 8 MiB of frames.
#ifdef DYDX_SANITIZED
constexpr int kDeep = 200'000;
#else
constexpr int kDeep = 1'000'000;
#endif
// The other shapes of chain run a quarter as deep, which still overflowed, to keep the suite quick.
constexpr int kAlsoDeep = kDeep / 4;

TEST(DeepGraph, ChainOfAddsIsReleasedAndDifferentiated) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor y = x;
  for (int i = 0; i < kDeep; ++i) y = y + 1.0;
  EXPECT_EQ(std::string(y.grad_fn()->name()), "AddBackward0");
  EXPECT_NE(to_string(y).find("grad_fn=<AddBackward0>"), std::string::npos);
  y.backward({}, /*retain_graph=*/true);
  EXPECT_TRUE(HasValues(x.grad(), {1.0}));
  y.backward();
  EXPECT_TRUE(HasValues(x.grad(), {2.0}));
  y = Tensor();  // releases the whole chain
  EXPECT_EQ(x.grad_fn(), nullptr);
}

// MulBackward0 saves its input, whose grad_fn is the previous node: the chain also runs through
// saved tensors, not only through the edges.
TEST(DeepGraph, ChainThroughSavedTensorsIsReleased) {
  Tensor x = tensor({1.0}, kFloat64).requires_grad_(true);
  Tensor w = tensor({1.0}, kFloat64).requires_grad_(true);
  Tensor y = x;
  for (int i = 0; i < kDeep; ++i) y = y * w;
  auto g = grad({y}, {x, w});
  EXPECT_TRUE(HasValues(g[0], {1.0}));
  EXPECT_TRUE(HasValues(g[1], {double(kDeep)}, 1e-9));
}

TEST(DeepGraph, UnusedChainIsReleasedWithoutBackward) {
  Tensor x = tensor({2.0}).requires_grad_(true);
  {
    Tensor y = x;
    for (int i = 0; i < kDeep; ++i) y = y.sin();
  }
  Tensor z = x * 3.0;  // the library still works afterwards
  z.backward();
  EXPECT_TRUE(HasValues(x.grad(), {3.0}));
}

TEST(DeepGraph, LongInPlaceChainIsReleasedAndDifferentiated) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x.clone();
  for (int i = 0; i < kAlsoDeep; ++i) y.add_(1.0);
  EXPECT_TRUE(HasValues(y.detach(), {1.0 + kAlsoDeep, 2.0 + kAlsoDeep}, 1e-6));
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1.0, 1.0}));
}

// In-place writes through a view rebase the base's history through CopySlices, once per write.
TEST(DeepGraph, LongInPlaceChainThroughViewsIsReleased) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x.clone();
  for (int i = 0; i < kAlsoDeep; ++i) y[i % 2].mul_(1.0);
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1.0, 1.0}));
}

TEST(DeepGraph, ViewOfViewChainIsReleasedAndDifferentiated) {
  Tensor x = tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_(true);
  Tensor v = x * 1.0;
  for (int i = 0; i < kAlsoDeep; ++i) v = v.t();
  v.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 1, 1, 1}));
}

TEST(DeepGraph, CreateGraphThroughDeepChain) {
  Tensor x = tensor({0.5}, kFloat64).requires_grad_(true);
  Tensor y = x;
  for (int i = 0; i < kAlsoDeep; ++i) y = y * 1.0 + 0.0;
  Tensor y3 = y * y * y;  // x^3
  Tensor g = grad({y3}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_TRUE(HasValues(g.detach(), {3 * 0.25}, 1e-9));
  Tensor gg = grad({g}, {x})[0];
  EXPECT_TRUE(HasValues(gg, {6 * 0.5}, 1e-9));
}

// Forward over reverse: y = x w^n has tangent w^n, whose history is as deep as y's.
TEST(DeepGraph, ForwardModeTangentChainIsReleased) {
  Tensor x = tensor({0.5}, kFloat64);
  Tensor w = tensor({1.0}, kFloat64).requires_grad_(true);
  Tensor tangent;
  {
    forward_ad::DualLevel level;
    Tensor y = forward_ad::make_dual(x, tensor({1.0}, kFloat64));
    for (int i = 0; i < kAlsoDeep; ++i) y = y * w;
    tangent = forward_ad::unpack_dual(y).tangent;
    EXPECT_TRUE(HasValues(tangent.detach(), {1.0}));
    Tensor dt = grad({tangent}, {w}, {}, /*retain_graph=*/true)[0];
    EXPECT_TRUE(HasValues(dt, {double(kAlsoDeep)}, 1e-9));
  }
  tangent = Tensor();
}

// Another thread runs the same release loop on its own, and a graph a static holds is released
// after main returns, when this thread's other state may already be gone.
TEST(DeepGraph, ReleasedOnAnotherThreadAndAtExit) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  auto chain = [&x] {
    Tensor y = x;
    for (int i = 0; i < kAlsoDeep; ++i) y = y * 1.0;
    return y;
  };
  std::thread([&] { Tensor y = chain(); }).join();
  Tensor y = chain();
  std::thread([y = std::move(y)]() mutable { y = Tensor(); }).join();
  static Tensor held_until_exit;
  held_until_exit = chain();
  EXPECT_TRUE(held_until_exit.requires_grad());
}

// ---- hooks that change the hook lists during backward ----------------------------------------
// PyTorch runs a tensor's hooks from a snapshot of its hook dict (python_hook.cpp, "Extend Hook
// Lifetime"): hooks removed during backward still run in that pass, hooks added to the same tensor
// run from the next one, and hooks added to a tensor whose gradient is still to come run in this one.

// Hooks run from a snapshot of the list, but the snapshot holds the registered hooks themselves: a
// hook's own state (a mutable lambda's captures) persists from one backward to the next, as in PyTorch.
TEST(Hooks, AHooksOwnStatePersistsAcrossBackwardPasses) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x * 2.0;
  std::vector<int> seen;
  y.register_hook(TensorHook([&seen, calls = 0](const Tensor& g) mutable {
    seen.push_back(++calls);
    return g * static_cast<double>(calls);
  }));
  x.register_hook(TensorHook([&seen, calls = 10](const Tensor&) mutable {
    seen.push_back(++calls);
    return Tensor();
  }));
  for (int pass = 0; pass < 3; ++pass) y.sum().backward({}, /*retain_graph=*/true);
  EXPECT_EQ(seen, (std::vector<int>{1, 11, 2, 12, 3, 13}));
  EXPECT_TRUE(HasValues(x.grad(), {2 * (1 + 2 + 3), 2 * (1 + 2 + 3)}));
}

// An in-place write gives y a new grad_fn; the hook registered before it stays with the old value's
// node (it sees that value's gradient) and its handle still removes it there. PyTorch 1.13: [2., 2.]
// with the handle removed, [6., 6.] without; the same through a view of a non-leaf.
TEST(Hooks, RemovingAHookAfterAnInPlaceWriteFindsIt) {
  for (bool remove : {true, false}) {
    Tensor x = ones({2}).requires_grad_(true);
    Tensor y = x * 2.0;
    unsigned handle = y.register_hook([](const Tensor& g) { return g * 3.0; });
    y.mul_(1.0);
    if (remove) y.remove_hook(handle);
    y.sum().backward();
    EXPECT_TRUE(HasValues(x.grad(), remove ? std::vector<double>{2, 2} : std::vector<double>{6, 6}));
  }
  Tensor x = ones({2}).requires_grad_(true);
  Tensor b = x * 2.0;
  Tensor v = b.narrow(0, 0, 1);
  unsigned handle = v.register_hook([](const Tensor& g) { return g * 3.0; });
  v.mul_(1.0);
  v.remove_hook(handle);
  b.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2, 2}));
}

TEST(Hooks, NonLeafHookRemovesItself) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x * 2.0;
  int calls = 0;
  unsigned self = 0;
  self = y.register_hook([&](const Tensor& g) {
    ++calls;
    y.remove_hook(self);
    return g * 3.0;
  });
  y.register_hook([](const Tensor& g) { return g * 5.0; });  // registered after it: still runs
  y.sum().backward({}, /*retain_graph=*/true);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(HasValues(x.grad(), {30, 30}));
  x.set_grad({});
  y.sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(HasValues(x.grad(), {10, 10}));
}

TEST(Hooks, LeafHookRemovesItself) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  int calls = 0;
  unsigned self = 0;
  self = x.register_hook([&](const Tensor& g) {
    ++calls;
    x.remove_hook(self);
    return g * 3.0;
  });
  (x * 2.0).sum().backward();
  (x * 2.0).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(HasValues(x.grad(), {8, 8}));
}

TEST(Hooks, HookRegisteringHooksOnItsOwnTensorRunsThemFromTheNextPass) {
  for (bool leaf : {false, true}) {
    Tensor x = tensor({1.0}).requires_grad_(true);
    Tensor y = leaf ? x : x * 1.0;
    std::vector<std::string> calls;
    y.register_hook([&](const Tensor&) {
      calls.push_back("first");
      for (int i = 0; i < 20; ++i)  // enough to reallocate the list under the running hook
        y.register_hook([&](const Tensor& g) {
          calls.push_back("added");
          return g * 1.0;
        });
    });
    (y * 2.0).sum().backward({}, /*retain_graph=*/true);
    EXPECT_EQ(calls, std::vector<std::string>{"first"}) << "leaf " << leaf;
    calls.clear();
    (y * 2.0).sum().backward();
    EXPECT_EQ(calls.size(), 21u) << "leaf " << leaf;
    EXPECT_TRUE(HasValues(x.grad(), {4}));
  }
}

TEST(Hooks, HookRemovingALaterHookStillRunsItInThisPass) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor y = x * 1.0;
  unsigned later = 0;
  y.register_hook([&](const Tensor&) { y.remove_hook(later); });
  later = y.register_hook([](const Tensor& g) { return g * 7.0; });
  y.sum().backward({}, /*retain_graph=*/true);
  EXPECT_TRUE(HasValues(x.grad(), {7}));
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {8}));
}

TEST(Hooks, HookAddedToATensorStillToComeRunsInThisPass) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor z = x * 3.0;
  Tensor y = z * 2.0;
  y.register_hook([&](const Tensor&) { z.register_hook([](const Tensor& g) { return g * 10.0; }); });
  x.register_hook([&](const Tensor&) { x.register_hook([](const Tensor& g) { return g * 100.0; }); });
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {60}));  // z's new hook ran, x's own new one did not
}

TEST(Hooks, ThrowingHookPropagatesAndLeavesTheLibraryUsable) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor y = x * 2.0;
  const unsigned h = y.register_hook([](const Tensor&) -> Tensor { throw std::runtime_error("hook failed"); });
  EXPECT_THROW(y.sum().backward({}, /*retain_graph=*/true), std::runtime_error);
  y.remove_hook(h);
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {2}));
}

TEST(Hooks, HookChangingSizeOrTypeIsAClearError) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor y = x * 2.0;
  const unsigned size_hook = y.register_hook([](const Tensor&) { return ones({3}); });
  try {
    y.sum().backward({}, true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has changed the size of value (was [2] got [3])"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("MulBackward0"), std::string::npos) << e.what();
  }
  y.remove_hook(size_hook);
  y.register_hook([](const Tensor& g) { return g.to(kFloat64); });
  try {
    y.sum().backward({}, true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has changed the type of value (was float32 got float64)"),
              std::string::npos)
        << e.what();
  }
  x.register_hook([](const Tensor&) { return ones({2, 1}); });
  EXPECT_THROW((x * 2.0).sum().backward(), Error);
  EXPECT_FALSE(x.grad().defined());
}

TEST(Hooks, HookCallingBackwardRecursively) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor w = tensor({3.0}).requires_grad_(true);
  Tensor y = x * 2.0;
  y.register_hook([&](const Tensor& g) {
    (w * w).sum().backward();  // another graph: d(w^2)/dw = 6
    return g;
  });
  y.sum().backward({}, /*retain_graph=*/true);
  EXPECT_TRUE(HasValues(w.grad(), {6}));
  EXPECT_TRUE(HasValues(x.grad(), {2}));
  // The same graph, from inside its own backward, without retain_graph: the outer pass then finds
  // the graph freed, and says so.
  Tensor v = x * 2.0;
  Tensor u = v * v;
  bool inner = false;
  v.register_hook([&](const Tensor& g) {
    if (!inner) {
      inner = true;
      u.sum().backward();
    }
    return g;
  });
  EXPECT_THROW(u.sum().backward(), Error);
}

// retain_grad stores the gradient after every hook has run, as PyTorch 2 does ("retains_grad
// hooks are always executed last"); a retain_grad() called by a hook takes effect in the same pass.
TEST(Hooks, RetainGradSeesTheHookedGradient) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor y = x * 2.0;
  y.retain_grad();
  y.register_hook([](const Tensor& g) { return g * 2.0; });
  y.sum().backward();
  EXPECT_TRUE(HasValues(y.grad(), {2}));
  EXPECT_TRUE(HasValues(x.grad(), {4}));
  Tensor z = x * 2.0;
  z.register_hook([&](const Tensor&) { z.retain_grad(); });
  z.sum().backward();
  EXPECT_TRUE(HasValues(z.grad(), {1}));
}

// ---- printing huge tensors ----------------------------------------------------------------------
// A summarised print reads only the elements it shows; printing an expanded tensor of terabytes
// used to copy it out whole (std::bad_alloc).

TEST(PrintHuge, ExpandedTensorOfTerabytesPrintsFromTheView) {
  Tensor row = arange(0, 20, 1, kFloat64).reshape({4, 1, 5});
  reset_peak_memory();
  const int64_t before = memory_stats().peak_bytes;
  const std::string huge = to_string(row.expand({4, int64_t{40'000'000'000}, 5}));  // 6.4 TB as float64
  EXPECT_LT(memory_stats().peak_bytes - before, 1 << 20);
  // The shown elements, and so the text, are those of a smaller tensor that is summarised too.
  EXPECT_EQ(huge, to_string(row.expand({4, 1000, 5})));
  EXPECT_NE(huge.find("[ 0.,  1.,  2.,  3.,  4.],\n         ...,"), std::string::npos) << huge;
  // The size the issue reported: 0xba43b74000 bytes.
  Tensor ones_huge = ones({1}).expand({int64_t{0xba43b74000} / 4});
  EXPECT_EQ(to_string(ones_huge), "tensor([1., 1., 1.,  ..., 1., 1., 1.])");
}

TEST(PrintHuge, SummaryReadsThroughStrides) {
  Tensor a = arange(0, 3000, 1, kFloat32).reshape({1000, 3}).t();
  EXPECT_EQ(to_string(a),
            "tensor([[0.0000e+00, 3.0000e+00, 6.0000e+00,  ..., 2.9910e+03, 2.9940e+03,\n"
            "         2.9970e+03],\n"
            "        [1.0000e+00, 4.0000e+00, 7.0000e+00,  ..., 2.9920e+03, 2.9950e+03,\n"
            "         2.9980e+03],\n"
            "        [2.0000e+00, 5.0000e+00, 8.0000e+00,  ..., 2.9930e+03, 2.9960e+03,\n"
            "         2.9990e+03]])");
  // Every layout prints as its contiguous copy does.
  Tensor base = arange(0, 9 * 8 * 7 * 6, 1, kFloat32).reshape({9, 8, 7, 6});
  for (const Tensor& t : {base.slice(1, 0, 8, 3) * 0.5, base.permute({3, 1, 0, 2}), base.select(2, 4).transpose(0, 2),
                          base.narrow(0, 2, 7).slice(3, 1, 6, 2), base[0][0].expand({300, 7, 6})})
    EXPECT_EQ(to_string(t), to_string(t.contiguous()));
  // History and requires_grad suffixes survive.
  Tensor x = ones({1}).requires_grad_(true);
  EXPECT_NE(to_string(x * 2.0).find("grad_fn=<MulBackward0>"), std::string::npos);
  EXPECT_NE(to_string(x.expand({int64_t{1} << 40})).find("grad_fn=<ExpandBackward0>"), std::string::npos);
}

// ---- the large-buffer cache is bounded ---------------------------------------------------------

/// Restores the cache's limit on scope exit.
class CacheLimit {
 public:
  explicit CacheLimit(int64_t bytes) : previous_(cache_limit()) { set_cache_limit(bytes); }
  ~CacheLimit() { set_cache_limit(previous_); }

 private:
  int64_t previous_;
};

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(BlockCache, IsBoundedByDefaultAndReportsItsLimit) {
  const MemoryStats stats = memory_stats();
  EXPECT_EQ(stats.cache_limit_bytes, cache_limit());
  if (std::getenv("DYDX_CACHE_LIMIT_BYTES") == nullptr) {
    EXPECT_GT(stats.cache_limit_bytes, 0);
    EXPECT_LE(stats.cache_limit_bytes, int64_t{1} << 30);
  }
  // A large phase leaves at most the limit behind: 24 buffers of 64 MiB are 1.5 GiB.
  empty_cache();
  {
    CacheLimit limit(256 * kMiB);
    {
      std::vector<Tensor> phase;
      for (int i = 0; i < 24; ++i) phase.push_back(empty({16 * kMiB}));  // 64 MiB of float32 each
    }
    EXPECT_LE(memory_stats().cached_bytes, 256 * kMiB);
    EXPECT_GT(memory_stats().cached_bytes, 0);
  }
  empty_cache();
}

TEST(BlockCache, LimitIsSettableAndTrimsAtOnce) {
  empty_cache();
  CacheLimit limit(64 * kMiB);
  EXPECT_EQ(cache_limit(), 64 * kMiB);
  EXPECT_EQ(memory_stats().cache_limit_bytes, 64 * kMiB);
  {
    std::vector<Tensor> phase;
    for (int i = 0; i < 6; ++i) phase.push_back(empty({2 * kMiB}));  // 8 MiB each
  }
  EXPECT_EQ(memory_stats().cached_bytes, 48 * kMiB);
  set_cache_limit(20 * kMiB);
  EXPECT_LE(memory_stats().cached_bytes, 20 * kMiB);
  EXPECT_GE(memory_stats().cached_bytes, 16 * kMiB);  // trimmed to the limit, not emptied
  set_cache_limit(0);  // caching off
  EXPECT_EQ(memory_stats().cached_bytes, 0);
  { Tensor t = empty({2 * kMiB}); }
  EXPECT_EQ(memory_stats().cached_bytes, 0);
  EXPECT_THROW(set_cache_limit(-1), Error);
  EXPECT_EQ(cache_limit(), 0);  // a rejected call changes nothing
}

// Buffers of an earlier phase give way to those of the current one instead of keeping it from
// being cached at all.
TEST(BlockCache, OldSizesMakeRoomForTheCurrentPhase) {
  empty_cache();
  CacheLimit limit(32 * kMiB);
  {
    std::vector<Tensor> old_phase;
    for (int i = 0; i < 4; ++i) old_phase.push_back(empty({2 * kMiB}));  // 4 x 8 MiB: fills the cache
  }
  EXPECT_EQ(memory_stats().cached_bytes, 32 * kMiB);
  const void* reused;
  {
    Tensor t = empty({3 * kMiB});  // 12 MiB
    reused = t.data_ptr<float>();
  }
  EXPECT_LE(memory_stats().cached_bytes, 32 * kMiB);
  Tensor again = empty({3 * kMiB});
  EXPECT_EQ(again.data_ptr<float>(), reused);
}

// When the cache is full, the least recently freed blocks go first: a loop's blocks of several
// sizes stay cached while an earlier phase's give way, whatever their sizes.
TEST(BlockCache, TheLeastRecentlyFreedBlocksGoFirst) {
  empty_cache();
  CacheLimit limit(32 * kMiB);
  {
    std::vector<Tensor> old_phase;
    for (int i = 0; i < 2; ++i) old_phase.push_back(empty({2 * kMiB}));  // 2 x 8 MiB
  }
  EXPECT_EQ(memory_stats().cached_bytes, 16 * kMiB);
  for (int step = 0; step < 3; ++step) {
    // The loop's working set, 12 + 6 MiB: with the old phase's 16 MiB it is over the limit, so
    // freeing it at the first step evicts one old 8 MiB block, and later steps reuse both.
    Tensor a = empty({3 * kMiB}), b = empty({3 * kMiB / 2});
    if (step > 0) EXPECT_EQ(memory_stats().cached_bytes, 8 * kMiB) << "step " << step;
  }
  EXPECT_EQ(memory_stats().cached_bytes, 26 * kMiB);
  empty_cache();
}

TEST(BlockCache, LimitFromTheEnvironment) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process, whose cache reads the variable
  ::setenv("DYDX_CACHE_LIMIT_BYTES", "12345678", 1);
  EXPECT_EXIT(
      {
        { Tensor t = empty({kMiB}); }
        std::exit(memory_stats().cache_limit_bytes == 12345678 && memory_stats().cached_bytes == 4 * kMiB ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  ::setenv("DYDX_CACHE_LIMIT_BYTES", "lots", 1);
  EXPECT_EXIT(
      {
        { Tensor t = empty({kMiB}); }
        std::exit(memory_stats().cache_limit_bytes > 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "ignoring DYDX_CACHE_LIMIT_BYTES=\"lots\"");
  ::unsetenv("DYDX_CACHE_LIMIT_BYTES");
}

#ifndef DYDX_SANITIZED  // the sanitizers reserve terabytes of address space, which the limit would forbid
// Under memory pressure the cache is given back before an allocation fails.
TEST(BlockCache, IsReleasedWhenAnAllocationWouldFail) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        set_cache_limit(int64_t{1} << 30);
        { std::vector<Tensor> phase(8, Tensor()); for (auto& t : phase) t = empty({8 * kMiB}); }  // 256 MiB cached
        if (memory_stats().cached_bytes != 256 * kMiB) std::exit(2);
        // Address space for what is mapped now and 64 MiB more: a 128 MiB buffer fits only
        // once the cache has given its 256 MiB back.
        long pages = 0;
        if (FILE* f = std::fopen("/proc/self/statm", "r")) {
          if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
          std::fclose(f);
        }
        rlimit limit{};
        limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGE_SIZE)) + 64 * kMiB;
        if (pages == 0 || setrlimit(RLIMIT_AS, &limit) != 0) std::exit(3);
        Tensor big = full({32 * kMiB}, 1.0);  // 128 MiB
        std::exit(big.sum().item<double>() == 32.0 * kMiB && memory_stats().cached_bytes == 0 ? 0 : 4);
      },
      ::testing::ExitedWithCode(0), "");
}
#endif

}  // namespace
}  // namespace dydx
