// parallel_for: splits a range of independent work across dydx's thread pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace dydx::cpu {

namespace threading {
/// A non-owning reference to a callable taking (begin, end); valid during one parallel_for.
struct RangeFunction {
  void* object;
  void (*call)(void* object, int64_t begin, int64_t end);
};
void run_parallel(int64_t n, int64_t grain, RangeFunction f);
int resolved_num_threads();
extern std::atomic<int> num_threads;  // 0 until first resolved
extern thread_local bool in_parallel_region;
}  // namespace threading

/// Below this many elements a cheap elementwise op is not worth waking a thread for: a wake-up
/// costs a few microseconds, which is about the time to stream 32K floats.
constexpr int64_t kElementwiseGrain = 32768;

/// Calls f(begin, end) on disjoint pieces that cover [0, n), each at least `grain` long (except
/// possibly the last), possibly on several threads at once. Small ranges, single-threaded
/// settings and calls from inside another parallel_for run f(0, n) on the calling thread, so tiny
/// tensors never pay for threading. An exception from f is rethrown on the calling thread.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  if (n < 2 * grain || threading::num_threads.load(std::memory_order_relaxed) == 1 || threading::in_parallel_region) {
    f(int64_t{0}, n);
    return;
  }
  threading::RangeFunction ref{const_cast<void*>(static_cast<const void*>(&f)), [](void* object, int64_t b, int64_t e) {
                              (*static_cast<std::remove_reference_t<F>*>(object))(b, e);
                            }};
  threading::run_parallel(n, grain, ref);
}

}  // namespace dydx::cpu
