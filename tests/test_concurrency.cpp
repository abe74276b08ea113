// Concurrency: threads sharing one graph, one leaf, one view or hooks; the thread pool under
// failure, misuse and oversubscription; dual levels used across threads. scripts/run_tests.sh runs
// it under ThreadSanitizer too (all but the test that forks).
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "autograd/forward_mode.hpp"  // forward::active, the count of levels open anywhere
#include "cpu/parallel.hpp"

#include <dirent.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace dydx {
namespace {

using testing::ThreadCount;

// Runs body(i) on n threads released together (they spin until all have started, since a sleeping
// wait would wake them one by one), so that their work overlaps as much as it can.
template <class Body>
void run_together(int n, Body body) {
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      ++started;
      while (started.load() < n) std::this_thread::yield();
      body(i);
    });
  for (auto& t : threads) t.join();
}


bool is_second_backward_error(const Error& e) {
  return std::string(e.what()).find("Trying to backward through the graph a second time") != std::string::npos;
}

// A graph whose every node saves tensors, big enough that the matmul's backward takes a while.
Tensor shared_loss(const Tensor& x) { return exp(tanh(matmul(x, x)) * x).sum(); }

Tensor reference_grad(const Tensor& x) {
  Tensor fresh = x.detach().requires_grad_(true);
  return grad({shared_loss(fresh)}, {fresh})[0];
}

// Issue 10, item 10: eight threads backward through one graph without retain_graph. It was a
// use-after-free of the saved tensors (segfault, ASan); now, as in PyTorch, one thread gets the
// gradient and every other one a clean "second time" error.
TEST(SharedGraph, BackwardWithoutRetainGraphLetsExactlyOneThreadThrough) {
  for (int64_t n : {8, 200}) {
    for (int rep = 0; rep < 40; ++rep) {
      Tensor x = randn({n, n}, kFloat64).requires_grad_(true);
      const Tensor expected = reference_grad(x);
      Tensor loss = shared_loss(x);
      std::atomic<int> passed{0}, refused{0}, other{0};
      run_together(8, [&](int) {
        try {
          loss.backward();
          ++passed;
        } catch (const Error& e) {
          ++(is_second_backward_error(e) ? refused : other);
        }
      });
      ASSERT_EQ(passed.load(), 1) << "n = " << n << ", rep " << rep;
      ASSERT_EQ(refused.load(), 7);
      ASSERT_EQ(other.load(), 0);
      EXPECT_TRUE(allclose(x.grad(), expected, 1e-12, 1e-12));
      EXPECT_THROW(loss.backward(), Error);  // still released afterwards
    }
  }
}

TEST(SharedGraph, GradWithoutRetainGraphLetsExactlyOneThreadThrough) {
  for (int rep = 0; rep < 25; ++rep) {
    Tensor x = randn({160, 160}, kFloat64).requires_grad_(true);
    const Tensor expected = reference_grad(x);
    Tensor loss = shared_loss(x);
    std::vector<Tensor> results(8);
    std::atomic<int> refused{0};
    run_together(8, [&](int i) {
      try {
        results[static_cast<size_t>(i)] = grad({loss}, {x})[0];
      } catch (const Error& e) {
        if (is_second_backward_error(e)) ++refused;
      }
    });
    int passed = 0;
    for (const Tensor& r : results)
      if (r.defined()) {
        ++passed;
        EXPECT_TRUE(allclose(r, expected, 1e-12, 1e-12));
      }
    ASSERT_EQ(passed, 1);
    ASSERT_EQ(refused.load(), 7);
    EXPECT_FALSE(x.grad().defined());  // grad() never touches .grad
  }
}

// With retain_graph every thread gets the gradient, and their sums into one leaf's .grad add up.
TEST(SharedGraph, RetainedGraphServesManyThreadsAtOnce) {
  Tensor x = randn({32, 32}, kFloat64).requires_grad_(true);
  const Tensor expected = reference_grad(x);
  Tensor loss = shared_loss(x);
  constexpr int kThreads = 8, kIterations = 20;
  std::atomic<int> wrong{0};
  run_together(kThreads, [&](int i) {
    for (int k = 0; k < kIterations; ++k) {
      if (i % 2 == 0) {
        if (!allclose(grad({loss}, {x}, {}, /*retain_graph=*/true)[0], expected, 1e-12, 1e-12)) ++wrong;
      } else {
        loss.backward({}, /*retain_graph=*/true);
      }
    }
  });
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_TRUE(allclose(x.grad(), expected * double(kThreads / 2 * kIterations), 1e-10, 1e-10));
  loss.backward();  // the graph is still whole
  EXPECT_THROW(loss.backward(), Error);
}

// Threads that retain the graph and threads that release it, racing: each either computes the
// right gradient or gets the clean error, and exactly one of the releasing threads gets through
// (the first to finish the first node that saves tensors; every thread visits nodes in one order).
TEST(SharedGraph, RetainingAndReleasingThreadsRace) {
  for (int rep = 0; rep < 25; ++rep) {
    Tensor x = randn({160, 160}, kFloat64).requires_grad_(true);
    const Tensor expected = reference_grad(x);
    Tensor loss = shared_loss(x);
    std::atomic<int> releasing_passed{0}, wrong{0}, other{0};
    run_together(8, [&](int i) {
      const bool retain = i % 2 == 0;
      try {
        Tensor g = grad({loss}, {x}, {}, retain)[0];
        if (!allclose(g, expected, 1e-12, 1e-12)) ++wrong;
        if (!retain) ++releasing_passed;
      } catch (const Error& e) {
        if (!is_second_backward_error(e)) ++other;
      }
    });
    ASSERT_EQ(releasing_passed.load(), 1);
    ASSERT_EQ(wrong.load(), 0);
    ASSERT_EQ(other.load(), 0);
  }
}

// Hooks run on every thread that backpropagates, each call seeing its own gradient.
TEST(SharedGraph, HooksRunOnEveryThread) {
  Tensor x = randn({16, 16}, kFloat64).requires_grad_(true);
  const Tensor expected = reference_grad(x);
  Tensor hidden = tanh(matmul(x, x));
  std::atomic<int> leaf_calls{0}, hidden_calls{0};
  x.register_hook([&](const Tensor& g) {
    ++leaf_calls;
    return g * 2.0;
  });
  hidden.register_hook([&](const Tensor&) { ++hidden_calls; });
  Tensor loss = exp(hidden * x).sum();
  constexpr int kThreads = 8, kIterations = 25;
  std::atomic<int> wrong{0};
  run_together(kThreads, [&](int) {
    for (int k = 0; k < kIterations; ++k)
      if (!allclose(grad({loss}, {x}, {}, true)[0], expected * 2.0, 1e-12, 1e-12)) ++wrong;
  });
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(leaf_calls.load(), kThreads * kIterations);
  EXPECT_EQ(hidden_calls.load(), kThreads * kIterations);
}

// Hooks registered and removed on one thread while others backpropagate through the same tensors:
// the list is never read while it is being changed (ThreadSanitizer runs this in CI), and every
// pass sees the gradient doubled by the hook that stays for the whole run.
TEST(SharedGraph, HooksChangedWhileOtherThreadsBackpropagate) {
  Tensor x = randn({16, 16}, kFloat64).requires_grad_(true);
  const Tensor expected = reference_grad(x);
  Tensor hidden = tanh(matmul(x, x));
  Tensor loss = exp(hidden * x).sum();
  x.register_hook([](const Tensor& g) { return g * 2.0; });
  constexpr int kThreads = 4, kIterations = 30;
  std::atomic<int> wrong{0};
  run_together(kThreads, [&](int id) {
    for (int k = 0; k < kIterations; ++k) {
      if (id == 0) {  // identity hooks come and go on the leaf and on the non-leaf
        const unsigned a = x.register_hook([](const Tensor&) {});
        const unsigned b = hidden.register_hook([](const Tensor&) {});
        x.remove_hook(a);
        hidden.remove_hook(b);
      } else if (!allclose(grad({loss}, {x}, {}, true)[0], expected * 2.0, 1e-12, 1e-12)) {
        ++wrong;
      }
    }
  });
  EXPECT_EQ(wrong.load(), 0);
}

// Separate graphs over one leaf: every thread's backward adds into its .grad, none is lost.
TEST(SharedLeaf, GradAccumulatesFromManyGraphsAtOnce) {
  Tensor w = randn({8, 8}, kFloat64).requires_grad_(true);
  const Tensor expected = reference_grad(w);
  constexpr int kThreads = 8, kIterations = 40;
  run_together(kThreads, [&](int) {
    for (int k = 0; k < kIterations; ++k) shared_loss(w).backward();
  });
  EXPECT_TRUE(allclose(w.grad(), expected * double(kThreads * kIterations), 1e-10, 1e-10));
}

// A view whose base was written in place takes its new history on first use; threads that use it
// at once used to rewrite that history concurrently (a data race on its grad_fn under TSan).
TEST(SharedView, HistoryAfterAnInPlaceWriteIsRefreshedOnce) {
  Tensor a = randn({16}, kFloat64).requires_grad_(true);
  for (int rep = 0; rep < 40; ++rep) {
    Tensor b = a * 2.0;
    Tensor v = b.narrow(0, 0, 8);
    b.add_(1.0);  // v's history now goes through the add
    const Tensor expected = cat({(a.detach().narrow(0, 0, 8) * 2.0 + 1.0) * 4.0, zeros({8}, kFloat64)});
    std::atomic<int> wrong{0};
    run_together(4, [&](int) {
      if (!allclose(grad({(v * v).sum()}, {a}, {}, true)[0], expected, 1e-12, 1e-12)) ++wrong;
    });
    ASSERT_EQ(wrong.load(), 0);
  }
}

// Issue 10, item 12: the thread count has a documented bound, and nothing beyond it is accepted.
TEST(ThreadPool, TheThreadCountIsBounded) {
  const int before = get_num_threads();
  EXPECT_GE(max_num_threads(), 256);
  EXPECT_GE(max_num_threads(), 2 * static_cast<int>(std::thread::hardware_concurrency()));
  for (int n : {max_num_threads() + 1, 40000, 0, -1}) {
    try {
      set_num_threads(n);
      ADD_FAILURE() << "set_num_threads(" << n << ") was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("set_num_threads: expected a number of threads from 1 to " +
                                           std::to_string(max_num_threads()) + ", got " + std::to_string(n)),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(get_num_threads(), before);  // a rejected count changes nothing
  }
  // The bound itself works, even on a small machine.
  Tensor x = randn({1 << 20}, kFloat64);
  const Tensor serial = [&] {
    ThreadCount one(1);
    return exp(x);
  }();
  ThreadCount most(max_num_threads());
  EXPECT_TRUE(equal(exp(x), serial));
}

// DYDX_NUM_THREADS has the same bound. It is read once per process, so a fresh one reads it here
// (the death test's "threadsafe" style runs the statement in a newly started copy of this program).
TEST(ThreadPoolDeathTest, TheEnvironmentCountIsBounded) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string over = std::to_string(max_num_threads() + 1);  // accepted up to 4096 before
  ASSERT_EQ(setenv("DYDX_NUM_THREADS", over.c_str(), 1), 0);
  EXPECT_EXIT(
      {
        try {
          get_num_threads();
        } catch (const Error& e) {
          std::fprintf(stderr, "%s\n", e.what());
          std::_Exit(3);
        }
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(3),
      "DYDX_NUM_THREADS: expected an integer from 1 to " + std::to_string(max_num_threads()) + ", got '" + over + "'");
  unsetenv("DYDX_NUM_THREADS");
}

// Far more threads than cores: same bits as one thread (the differential tests force 8 to 64).
TEST(ThreadPool, ManyMoreThreadsThanCores) {
  Tensor x = randn({1000, 700}, kFloat64);
  Tensor serial_map, serial_sum;
  {
    ThreadCount one(1);
    serial_map = sin(x) * x;
    serial_sum = x.sum({1});
  }
  for (int n : {3, 8, 64}) {
    ThreadCount many(n);
    EXPECT_TRUE(equal(sin(x) * x, serial_map)) << n << " threads";
    EXPECT_TRUE(equal(x.sum({1}), serial_sum)) << n << " threads";
  }
}

// An exception thrown in a parallel_for body on any thread, workers included, reaches the caller
// as itself, after every piece has finished; the pool works normally afterwards.
TEST(ThreadPool, ExceptionsFromWorkerBodiesReachTheCaller) {
  ThreadCount four(4);
  for (int rep = 0; rep < 50; ++rep) {
    const bool dydx_error = rep % 2 == 0;
    try {
      // Every piece but the first throws, so some throw on the caller and most on workers.
      cpu::parallel_for(1 << 16, 1024, [&](int64_t begin, int64_t) {
        if (begin == 0) return;
        DYDX_CHECK(!dydx_error, "piece at ", begin, " failed");
        throw std::runtime_error("not a dydx error");
      });
      ADD_FAILURE() << "no exception";
    } catch (const Error& e) {
      EXPECT_TRUE(dydx_error);
      EXPECT_NE(std::string(e.what()).find("failed"), std::string::npos);
    } catch (const std::runtime_error& e) {
      EXPECT_FALSE(dydx_error);
      EXPECT_STREQ(e.what(), "not a dydx error");
    }
    std::vector<int> seen(1 << 16, 0);
    cpu::parallel_for(1 << 16, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) ++seen[static_cast<size_t>(i)];
    });
    for (int s : seen) ASSERT_EQ(s, 1);
  }
}

// A parallel_for inside a parallel_for body runs on the thread of that piece: every index is
// visited exactly once and nothing waits for a pool that is busy with the outer loop.
TEST(ThreadPool, NestedParallelForVisitsEveryIndexOnce) {
  ThreadCount four(4);
  constexpr int64_t kOuter = 64, kInner = 4096;
  std::vector<std::atomic<int>> seen(kOuter * kInner);
  cpu::parallel_for(kOuter, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o)
      cpu::parallel_for(kInner, 256, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) ++seen[static_cast<size_t>(o * kInner + i)];
      });
  });
  for (const auto& s : seen) ASSERT_EQ(s.load(), 1);
}

// Each thread owns a share of a job's pieces and takes others' only once its own are done: whatever
// the sizes and however slow one thread is, every index is visited exactly once.
TEST(ThreadPool, EveryIndexOnceWhenSharesAreTaken) {
  for (int threads : {2, 3, 4, 7}) {
    ThreadCount count(threads);
    for (const auto& [range, range_grain] : {std::pair<int64_t, int64_t>{2, 1}, {5, 2}, {10, 1}, {1000, 1}, {1000, 333}, {4097, 64}}) {
      const int64_t n = range, grain = range_grain;  // (clang 14 captures no structured binding)
      for (int slow : {-1, 0, 1}) {  // no thread slowed, the caller (it runs piece 0), or the thread that runs the last piece
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        std::atomic<int64_t> shortest{n};
        const std::thread::id caller = std::this_thread::get_id();
        cpu::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
          int64_t was = shortest.load();
          while (end - begin < was && !shortest.compare_exchange_weak(was, end - begin)) {
          }
          const bool is_caller = std::this_thread::get_id() == caller;
          if ((slow == 0 && is_caller && begin == 0) || (slow == 1 && end == n))
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          for (int64_t i = begin; i < end; ++i) ++seen[static_cast<size_t>(i)];
        });
        for (const auto& s : seen) ASSERT_EQ(s.load(), 1) << threads << " threads, n " << n << ", grain " << grain << ", slow " << slow;
        EXPECT_GE(shortest.load(), grain) << threads << " threads, n " << n << ": every piece is at least a grain";
      }
    }
  }
}

// On two threads the calling thread's share is the first half of the range, which it takes from the
// start, and the worker's the second: consecutive ops over one shape give each thread the same part of
// the data (where pieces went to whichever thread asked first, the two alternated). A piece goes to the
// other thread only when its owner comes to it late (descheduled, or a worker asleep), which on a loaded
// machine may happen in a few of the jobs, never in most.
TEST(ThreadPool, EachThreadTakesItsOwnHalfOfTheRange) {
  ThreadCount two(2);
  const std::thread::id caller = std::this_thread::get_id();
  int caller_took_its_start = 0, worker_took_its_start = 0;
  constexpr int kJobs = 100;
  for (int job = 0; job < kJobs; ++job) {
    std::atomic<bool> on_caller[8];
    cpu::parallel_for(8, 1, [&](int64_t begin, int64_t) {
      on_caller[begin] = std::this_thread::get_id() == caller;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
    caller_took_its_start += on_caller[0] && on_caller[1];
    worker_took_its_start += !on_caller[4];
  }
  EXPECT_GE(caller_took_its_start, kJobs * 9 / 10);
  EXPECT_GE(worker_took_its_start, kJobs / 2);
}

// Changing the thread count while other threads run ops: every result keeps the bits of one
// thread (pools are swapped, never torn down under a running job).
TEST(ThreadPool, SetNumThreadsWhileOpsRun) {
  ThreadCount restore(get_num_threads());
  Tensor x = randn({256, 300}, kFloat64);  // over two grains, so that it is split
  Tensor expected_map, expected_sum;
  {
    ThreadCount one(1);
    expected_map = exp(x) * x;
    expected_sum = x.sum({0});
  }
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread changer([&] {
    const int counts[] = {1, 2, 3, 8, 5, 16};
    for (int k = 0; !stop.load(); ++k) {
      set_num_threads(counts[k % 6]);
      std::this_thread::yield();
    }
  });
  run_together(4, [&](int) {
    for (int k = 0; k < 30; ++k) {
      if (!equal(exp(x) * x, expected_map)) ++wrong;
      if (!equal(x.sum({0}), expected_sum)) ++wrong;
    }
  });
  stop = true;
  changer.join();
  EXPECT_EQ(wrong.load(), 0);
}

// How many tasks (threads) the user uid runs now, from /proc.
int tasks_of_user(uid_t uid) {
  int count = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream status(std::string("/proc/") + entry->d_name + "/status");
    std::string line;
    bool mine = false;
    while (std::getline(status, line)) {
      if (line.rfind("Uid:", 0) == 0) mine = std::stoul(line.substr(4)) == uid;
      if (mine && line.rfind("Threads:", 0) == 0) count += std::stoi(line.substr(8));
    }
  }
  closedir(proc);
  return count;
}

// Issue 10, item 12: starting workers fails for real, under a lowered RLIMIT_NPROC in a forked
// child. It used to throw std::system_error from the first op, or terminate ("terminate called
// without an active exception") when it failed midway; now the pool runs with the workers it got
// and get_num_threads() says how many. Root ignores RLIMIT_NPROC, so as root the child becomes
// user nobody, whose limit then lets it start 2 workers of 7: the failure comes midway.
// Without root no worker can start. The child reports through its exit code; alarm() turns a
// hang into a failure.
TEST(ThreadPool, FailingToStartWorkersDegradesToFewerThreads) {
  Tensor x = randn({1 << 20}, kFloat64);
  ThreadCount restore(1);
  const double expected = exp(x).sum().item<double>();
  set_num_threads(2);
  exp(x).sum();  // the parent has a pool of its own, whose workers the child does not have
  const bool root = geteuid() == 0;
  constexpr uid_t kNobody = 65534;
  const int workers_allowed = root ? 2 : 0;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(60);
    if (root && (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0)) _exit(10);
    // The child itself is one of the user's tasks already.
    const rlim_t limit = root ? static_cast<rlim_t>(tasks_of_user(kNobody) + workers_allowed) : 0;
    const rlimit lowered{limit, limit};
    if (setrlimit(RLIMIT_NPROC, &lowered) != 0) _exit(11);
    try {
      for (int attempt = 0; attempt < 3; ++attempt) {
        set_num_threads(8);
        if (exp(x).sum().item<double>() != expected) _exit(12);
        if (get_num_threads() != 1 + workers_allowed) _exit(13);
      }
    } catch (...) {
      _exit(14);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10-11: setup failed, 12: wrong sum, 13: wrong thread count, 14: threw";
}

// Issue 10, item 18: a dual level belongs to the thread that opened it. Its dual tensors used to
// lose their tangents silently on other threads, and a level destroyed on another thread broke
// forward mode on that thread for good (its count of open levels went negative); both raise now.
TEST(DualLevels, DestroyingALevelOnAnotherThreadRaisesAndBreaksNothing) {
  Tensor p = tensor({1.0, 2.0}, kFloat64), t = tensor({1.0, 1.0}, kFloat64);
  std::unique_ptr<forward_ad::DualLevel> foreign;
  Tensor dual;
  std::thread([&] {
    foreign = std::make_unique<forward_ad::DualLevel>();
    dual = forward_ad::make_dual(p, t);
  }).join();
  try {
    delete foreign.release();
    ADD_FAILURE() << "destroyed on another thread without an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("on a thread other than the one that opened it"), std::string::npos) << e.what();
  }
  // This thread's forward mode still works.
  {
    forward_ad::DualLevel mine;
    Tensor y = exp(forward_ad::make_dual(p, t));
    Tensor tangent = forward_ad::unpack_dual(y).tangent;
    ASSERT_TRUE(tangent.defined());
    EXPECT_TRUE(allclose(tangent, exp(p)));
  }
  // The level is still open on its (finished) thread: its dual is refused here, not stripped.
  EXPECT_THROW(exp(dual), Error);
}

// Issue 11: one list of level records per thread. A DualLevel destroyed on another thread raises
// before touching anything, so its level stays open, and counted, on its own thread, which keeps
// computing with it; closing levels on their own thread, in any order, brings the count back.
TEST(DualLevels, ALevelDestroyedOnAnotherThreadStaysOpenAndCountedOnItsOwnThread) {
  const auto anywhere = [] { return forward::detail::levels_open_anywhere.load(); };
  const int before = anywhere();
  {
    auto outer = std::make_unique<forward_ad::DualLevel>();
    auto inner = std::make_unique<forward_ad::DualLevel>();
    EXPECT_EQ(anywhere(), before + 2);
    outer.reset();  // out of order
    EXPECT_TRUE(forward::active());
    inner.reset();
    EXPECT_FALSE(forward::active());
    EXPECT_EQ(anywhere(), before);
  }
  Tensor p = tensor({1.0, 2.0}, kFloat64), t = tensor({3.0, 4.0}, kFloat64);
  std::unique_ptr<forward_ad::DualLevel> level;
  std::promise<void> opened, destroyed;
  std::vector<std::string> errors;
  std::thread owner([&] {
    level = std::make_unique<forward_ad::DualLevel>();
    const uint32_t id = level->level();
    opened.set_value();
    destroyed.get_future().wait();
    if (!forward::active()) errors.push_back("the level is no longer open on its thread");
    try {
      Tensor tangent = forward_ad::unpack_dual(exp(forward_ad::make_dual(p, t, id)), id).tangent;
      if (!tangent.defined() || !allclose(tangent, exp(p) * t)) errors.push_back("wrong tangent at the level");
      forward_ad::DualLevel nested;
      if (!forward_ad::unpack_dual(forward_ad::make_dual(p, t) * 2.0).tangent.defined())
        errors.push_back("no tangent at a level opened after it");
    } catch (const Error& e) {
      errors.push_back(e.what());
    }
  });
  opened.get_future().wait();
  EXPECT_EQ(anywhere(), before + 1);
  try {
    delete level.release();
    ADD_FAILURE() << "destroyed on another thread without an error";
  } catch (const Error&) {
  }
  EXPECT_EQ(anywhere(), before + 1);  // still open on its thread
  EXPECT_FALSE(forward::active());
  destroyed.set_value();
  owner.join();
  for (const auto& e : errors) ADD_FAILURE() << e;
  EXPECT_EQ(anywhere(), before + 1);  // and for good, its thread having ended without closing it
}

TEST(DualLevels, DualTensorsAreRefusedOnOtherThreads) {
  Tensor p = tensor({1.0, 2.0}, kFloat64), t = tensor({3.0, 4.0}, kFloat64);
  forward_ad::DualLevel level;
  Tensor dual = forward_ad::make_dual(p, t);
  std::vector<std::string> errors;
  std::thread([&] {
    auto expect_refused = [&](const char* what, auto f) {
      try {
        f();
        errors.push_back(std::string(what) + ": no error");
      } catch (const Error& e) {
        if (std::string(e.what()).find("is used on a thread where that level is not open") == std::string::npos)
          errors.push_back(std::string(what) + ": " + e.what());
      }
    };
    expect_refused("exp", [&] { exp(dual); });
    expect_refused("add", [&] { p + dual; });
    expect_refused("matmul", [&] { matmul(dual.unsqueeze(0), p.unsqueeze(1)); });
    expect_refused("cat", [&] { cat({p, dual}); });
    expect_refused("mul_", [&] { dual.mul_(2.0); });
    expect_refused("copy_ from it", [&] { p.clone().copy_(dual); });
    expect_refused("unpack_dual", [&] { forward_ad::unpack_dual(dual, level.level()); });
    forward_ad::DualLevel own;  // a level of this thread does not make the other one visible
    expect_refused("exp inside another level", [&] { exp(dual); });
  }).join();
  for (const auto& e : errors) ADD_FAILURE() << e;
  EXPECT_TRUE(equal(dual, p));  // the refused in-place op wrote nothing
  // On its own thread it is still a dual with its tangent.
  EXPECT_TRUE(allclose(forward_ad::unpack_dual(exp(dual)).tangent, exp(p) * t));
}

}  // namespace
}  // namespace dydx
