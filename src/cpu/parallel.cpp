// The thread pool behind parallel_for: fork-join, one job at a time, the caller works too.
//
// Each thread owns a contiguous share of every job's pieces (the caller the first) and takes the
// pieces of others, from their far end, only when its own are done. Consecutive ops over tensors of
// one shape then give each thread the same part of the data, which stays in its core's caches: where
// the pieces went to whichever thread asked first, the next op read half of its input from the
// other core, and on a Zen 5 VM, where that is dear, an MLP's forward Laplacian on two threads was
// slower than on one (BENCHMARKS.md, 2026-12-05).
//
// Workers spin briefly after a job before sleeping, because ops come in bursts (a forward pass is
// many kernels microseconds apart) and a condition-variable wake-up costs more than a short op.
//
// Starting a worker can fail (a process or user limit on tasks, RLIMIT_NPROC): the pool then runs
// with the workers it has, and get_num_threads() reports the smaller count. The caller always
// takes pieces itself, so a job finishes even with no worker at all.
#include "cpu/parallel.hpp"

#include "dydx/detail/tensor_impl.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "dydx/error.hpp"
#include "dydx/threads.hpp"

namespace dydx::cpu {

namespace threading {

namespace {

int cores_available() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int default_num_threads() {
  const char* env = std::getenv("DYDX_NUM_THREADS");
  if (env == nullptr || *env == '\0') return std::min(cores_available(), max_num_threads());
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  DYDX_CHECK(*end == '\0' && n >= 1 && n <= max_num_threads(), "DYDX_NUM_THREADS: expected an integer from 1 to ",
             max_num_threads(), ", got '", env, "'");
  return static_cast<int>(n);
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : shares_(static_cast<size_t>(threads)) {
    workers_.reserve(static_cast<size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) {
      try {
        workers_.emplace_back([this, i] { work(static_cast<size_t>(i)); });
      } catch (const std::system_error&) {
        break;  // out of tasks or memory for stacks: run with the workers started so far
      }
    }
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

  // Returns false when another thread's job holds the pool; the caller then runs serially.
  bool run(int64_t n, int64_t grain, RangeFunction f) {
    std::unique_lock job_lock(job_mutex_, std::try_to_lock);
    if (!job_lock.owns_lock()) return false;
    // A few pieces per thread even out a core that is busy with something else; a whole number of them per
    // thread, of sizes that differ by one at most, so that every thread's share is the same part of the
    // range. (Fewer pieces than threads where the range holds fewer than `threads` grains; the caller's
    // share is never the empty one.)
    const int64_t threads = static_cast<int64_t>(workers_.size()) + 1;
    const int64_t grains = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
    const Job job{f, n, grains < threads ? grains : threads * std::min<int64_t>(grains / threads, 4),
                  dydx::detail::recording_id};
    {
      std::unique_lock lock(mutex_);
      // A worker that woke late for the previous job may still be leaving it (and taking pieces).
      done_.wait(lock, [&] { return active_.load(std::memory_order_acquire) == 0; });
      auto share_start = [&](int64_t t) { return (t * job.pieces + threads - 1) / threads; };
      for (int64_t t = 0; t < threads; ++t)
        shares_[static_cast<size_t>(t)].pieces.store(Share::pack(share_start(t), share_start(t + 1)),
                                                     std::memory_order_relaxed);
      job_ = job;
      error_ = nullptr;
      unfinished_.store(job.pieces, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    take_pieces(job, 0);
    // Wait until every piece is done and no worker is still inside this job.
    auto finished = [&] {
      return unfinished_.load(std::memory_order_acquire) == 0 && active_.load(std::memory_order_acquire) == 0;
    };
    for (int spin = 0; !finished() && spin < kSpins; ++spin) __builtin_ia32_pause();
    std::unique_lock lock(mutex_);
    done_.wait(lock, finished);
    if (error_) {
      // Raised on a worker, which no func::compile recording sees: told on the caller's thread.
      dydx::detail::note_error();
      std::rethrow_exception(error_);
    }
    return true;
  }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  struct Job {
    RangeFunction f;
    int64_t n, pieces;
    uint32_t recording;  // the caller's func::compile recording, which tensors made in the pieces belong to
    // Piece p: [start(p), start(p + 1)), n / pieces long or one more.
    int64_t start(int64_t p) const { return p * (n / pieces) + std::min(p, n % pieces); }
  };
  static constexpr int kSpins = 4000;  // pause takes about 23 ns here: some 90 microseconds

  // A thread's share of the job's pieces, [first, end), packed in one word so that its owner (taking
  // from the front) and a thief (from the back) never take the same piece.
  struct alignas(64) Share {
    std::atomic<uint64_t> pieces{0};
    static uint64_t pack(int64_t first, int64_t end) {
      return static_cast<uint64_t>(first) | (static_cast<uint64_t>(end) << 32);
    }
    // The next piece from the front (the owner) or the back (a thief), or -1 when none is left.
    int64_t take(bool from_back) {
      uint64_t word = pieces.load(std::memory_order_relaxed);
      while (true) {
        const int64_t first = static_cast<int64_t>(word & 0xffffffffu), end = static_cast<int64_t>(word >> 32);
        if (first >= end) return -1;
        const uint64_t rest = from_back ? pack(first, end - 1) : pack(first + 1, end);
        if (pieces.compare_exchange_weak(word, rest, std::memory_order_relaxed)) return from_back ? end - 1 : first;
      }
    }
  };

  // The next piece for thread `self`: its own share's first, else the last of another's.
  int64_t next_piece(size_t self) {
    const size_t threads = shares_.size();
    for (size_t i = 0; i < threads; ++i) {
      const size_t owner = (self + i) % threads;
      const int64_t piece = shares_[owner].take(/*from_back=*/i != 0);
      if (piece >= 0) return piece;
    }
    return -1;
  }

  void take_pieces(const Job& job, size_t self) {
    const bool was_inside = in_parallel_region;
    in_parallel_region = true;
    const uint32_t was_recording = dydx::detail::recording_id;
    dydx::detail::recording_id = job.recording;
    int64_t piece;
    while ((piece = next_piece(self)) >= 0) {
      try {
        job.f.call(job.f.object, job.start(piece), job.start(piece + 1));
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (unfinished_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex_);
        done_.notify_all();
      }
    }
    in_parallel_region = was_inside;
    dydx::detail::recording_id = was_recording;
  }

  void work(size_t self) {
    uint64_t seen = 0;
    while (true) {
      for (int spin = 0; generation_.load(std::memory_order_acquire) == seen && spin < kSpins; ++spin)
        __builtin_ia32_pause();
      Job job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        if (stop_) return;
        job = job_;
        active_.fetch_add(1, std::memory_order_acq_rel);
      }
      take_pieces(job, self);
      {
        std::lock_guard lock(mutex_);
        active_.fetch_sub(1, std::memory_order_acq_rel);
        done_.notify_all();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;  // one job at a time
  std::mutex mutex_;      // guards job_, error_, stop_ and the waits
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  Job job_{};
  std::vector<Share> shares_;  // one per thread, the caller's first; sized before any worker starts
  std::atomic<int64_t> unfinished_{0};
  std::atomic<int> active_{0};
  std::exception_ptr error_;
};

std::mutex pool_mutex;
std::shared_ptr<ThreadPool> pool;  // made on first use, remade when the thread count changes

// A child made by fork() has only the thread that forked: the pool's workers are gone, and its
// locks may be held by threads that no longer exist. The child leaks the old pool (destroying it
// would join threads that are not there) and makes a fresh one on first use. pool_mutex is held
// across fork() so that the child never inherits it locked.
void lock_pool_for_fork() { pool_mutex.lock(); }
void unlock_pool_after_fork() { pool_mutex.unlock(); }
void forget_pool_in_child() {
  new std::shared_ptr<ThreadPool>(std::move(pool));  // leaked on purpose
  pool_mutex.unlock();
}
[[maybe_unused]] const bool fork_handlers_installed = [] {
  return pthread_atfork(lock_pool_for_fork, unlock_pool_after_fork, forget_pool_in_child) == 0;
}();

}  // namespace

std::atomic<int> num_threads{0};  // 0: not decided yet
thread_local bool in_parallel_region = false;

int resolved_num_threads() {
  int n = num_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    // Read the environment on first use rather than at load time, where an error could not be caught.
    int expected = 0;
    num_threads.compare_exchange_strong(expected, default_num_threads(), std::memory_order_relaxed);
    n = num_threads.load(std::memory_order_relaxed);
  }
  return n;
}

void run_parallel(int64_t n, int64_t grain, RangeFunction f) {
  const int wanted = resolved_num_threads();
  std::shared_ptr<ThreadPool> p;
  if (wanted > 1) {
    std::lock_guard lock(pool_mutex);
    if (!pool || pool->size() != wanted) {
      pool.reset();  // its workers end first (unless a running job holds it): they count against limits
      pool = std::make_shared<ThreadPool>(wanted);
      // Fewer workers started than asked for: that is the count from now on (unless the count
      // was changed meanwhile), so that the pool is not remade, and fails again, on every call.
      int expected = wanted;
      if (pool->size() < wanted) num_threads.compare_exchange_strong(expected, pool->size());
    }
    p = pool;
  }
  if (!p || !p->run(n, grain, f)) f.call(f.object, 0, n);
}

}  // namespace threading

}  // namespace dydx::cpu

namespace dydx {

int get_num_threads() { return cpu::threading::resolved_num_threads(); }

// More threads than cores never speeds up these kernels; the bound exists so that a typo cannot
// take every task the machine allows (each thread is a task with its own stack). 256 lets tests
// force many threads on a small machine; twice the hardware threads leaves room on a large one.
int max_num_threads() {
  static const int bound = std::max(256, 2 * static_cast<int>(std::thread::hardware_concurrency()));
  return bound;
}

void set_num_threads(int n) {
  DYDX_CHECK(n >= 1 && n <= max_num_threads(), "set_num_threads: expected a number of threads from 1 to ",
             max_num_threads(), ", got ", n);
  cpu::threading::num_threads.store(n, std::memory_order_relaxed);
}

}  // namespace dydx
