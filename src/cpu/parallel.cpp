// The thread pool behind parallel_for: fork-join, one job at a time, the caller works too.
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
  explicit ThreadPool(int threads) {
    workers_.reserve(static_cast<size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) {
      try {
        workers_.emplace_back([this] { work(); });
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
    // A few pieces per thread even out a core that is busy with something else.
    const int64_t threads = static_cast<int64_t>(workers_.size()) + 1;
    Job job{f, n, 0, std::max<int64_t>(1, std::min(n / grain, threads * 4)), dydx::detail::recording_id};
    job.piece_size = (n + job.pieces - 1) / job.pieces;
    job.pieces = (n + job.piece_size - 1) / job.piece_size;
    {
      std::unique_lock lock(mutex_);
      // A worker that woke late for the previous job may still be leaving it.
      done_.wait(lock, [&] { return active_.load(std::memory_order_acquire) == 0; });
      job_ = job;
      error_ = nullptr;
      next_piece_.store(0, std::memory_order_relaxed);
      unfinished_.store(job.pieces, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    take_pieces(job);
    // Wait until every piece is done and no worker is still inside this job.
    auto finished = [&] {
      return unfinished_.load(std::memory_order_acquire) == 0 && active_.load(std::memory_order_acquire) == 0;
    };
    for (int spin = 0; !finished() && spin < kSpins; ++spin) __builtin_ia32_pause();
    std::unique_lock lock(mutex_);
    done_.wait(lock, finished);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  struct Job {
    RangeFunction f;
    int64_t n, piece_size, pieces;
    uint32_t recording;  // the caller's func::compile recording, which tensors made in the pieces belong to
  };
  static constexpr int kSpins = 4000;  // pause takes about 23 ns here: some 90 microseconds

  void take_pieces(const Job& job) {
    const bool was_inside = in_parallel_region;
    in_parallel_region = true;
    const uint32_t was_recording = dydx::detail::recording_id;
    dydx::detail::recording_id = job.recording;
    int64_t piece;
    while ((piece = next_piece_.fetch_add(1, std::memory_order_relaxed)) < job.pieces) {
      const int64_t begin = piece * job.piece_size;
      try {
        job.f.call(job.f.object, begin, std::min(job.n, begin + job.piece_size));
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

  void work() {
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
      take_pieces(job);
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
  std::atomic<int64_t> next_piece_{0}, unfinished_{0};
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
