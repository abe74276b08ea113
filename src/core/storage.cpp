// Storage allocation: 64-byte aligned buffers so kernels can use aligned vector loads.
#include <cstdlib>
#include <new>

#include "core/block_cache.hpp"
#include "core/object_pool.hpp"
#include "dydx/detail/tensor_impl.hpp"
#include "dydx/error.hpp"
#include "dydx/memory.hpp"

namespace dydx::detail {

namespace {
constexpr size_t kAlignment = 64;

// Process-wide totals, plus a per-thread tally of what this thread has not yet added to them.
// Updating four shared atomics on every allocation and free cost 11% of the per-op benchmark's
// time; a thread now publishes once its tally reaches a megabyte or a thousand allocations, on
// memory_stats(), and when it exits.
std::atomic<int64_t> live_bytes{0}, peak_bytes{0}, live_allocations{0}, total_allocations{0};

void publish(int64_t bytes, int64_t allocations, int64_t total) {
  const int64_t now = live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  live_allocations.fetch_add(allocations, std::memory_order_relaxed);
  total_allocations.fetch_add(total, std::memory_order_relaxed);
  int64_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

struct ThreadTally {
  int64_t bytes = 0, allocations = 0, total = 0;
  bool exited = false;  // tensors freed during thread or program exit publish directly

  void add(int64_t b, int64_t a, int64_t t) {
    if (exited) {
      publish(b, a, t);
      return;
    }
    bytes += b;
    allocations += a;
    total += t;
    if (bytes >= kPublishBytes || bytes <= -kPublishBytes || total >= kPublishCount ||
        allocations <= -kPublishCount)
      flush();
  }
  void flush() {
    publish(bytes, allocations, total);
    bytes = allocations = total = 0;
  }
  ~ThreadTally() {
    flush();
    exited = true;
  }
  static constexpr int64_t kPublishBytes = int64_t{1} << 20, kPublishCount = 1024;
};
thread_local ThreadTally tally;

void count_allocation(size_t nbytes) { tally.add(static_cast<int64_t>(nbytes), 1, 1); }

// Below this, malloc's 16-byte alignment is as good as any: no vector loop spans a cache line
// more than once. glibc's aligned_alloc costs over ten times malloc, which tiny tensors would feel.
constexpr size_t kAlignedFrom = 4096;
}  // namespace

Storage::~Storage() {
  if (deleter) {
    deleter(data);
    return;
  }
  tally.add(-static_cast<int64_t>(nbytes), -1, 0);
  // No data: allocate() ran out of memory, and the cache must not be handed a null block.
  if (data == nullptr || data == inline_data) return;
  if (nbytes >= kLargeBlockBytes)
    large_free(data, nbytes);
  else
    std::free(data);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto storage = make_pooled<Storage>(nullptr, nbytes);
  count_allocation(nbytes);
  if (nbytes <= kInlineBytes) {
    storage->data = storage->inline_data;
    return storage;
  }
  auto attempt = [nbytes] {
    return nbytes < kAlignedFrom      ? std::malloc(nbytes)
           : nbytes < kLargeBlockBytes ? std::aligned_alloc(kAlignment, (nbytes + kAlignment - 1) / kAlignment * kAlignment)
                                       : large_allocate(nbytes);
  };
  void* data = attempt();
  if (data == nullptr) {
    // Under memory pressure the buffers kept for reuse may be what is missing (large_allocate
    // already gives them back before it fails).
    large_release_cache();
    data = attempt();
  }
  DYDX_CHECK(data != nullptr, "allocate: out of memory allocating ", nbytes, " bytes");
  storage->data = data;
  return storage;
}

}  // namespace dydx::detail

namespace dydx {

MemoryStats memory_stats() {
  using namespace detail;
  tally.flush();
  return {live_bytes.load(std::memory_order_relaxed), peak_bytes.load(std::memory_order_relaxed),
          live_allocations.load(std::memory_order_relaxed), total_allocations.load(std::memory_order_relaxed),
          large_cached_bytes(), large_cache_limit()};
}

void empty_cache() { detail::large_release_cache(); }

int64_t cache_limit() { return detail::large_cache_limit(); }

void set_cache_limit(int64_t bytes) {
  DYDX_CHECK(bytes >= 0, "set_cache_limit: the limit must be a number of bytes >= 0, got ", bytes);
  detail::set_large_cache_limit(static_cast<size_t>(bytes));
}

void reset_peak_memory() {
  detail::tally.flush();
  detail::peak_bytes.store(detail::live_bytes.load(std::memory_order_relaxed));
}

}  // namespace dydx
