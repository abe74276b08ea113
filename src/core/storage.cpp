// Storage allocation: 64-byte aligned buffers so kernels can use aligned vector loads.
#include <cstdlib>
#include <new>

#include "core/block_cache.hpp"
#include "dydx/detail/tensor_impl.hpp"
#include "dydx/error.hpp"
#include "dydx/memory.hpp"

namespace dydx::detail {

namespace {
constexpr size_t kAlignment = 64;

// Relaxed atomics: the counters are statistics, read as a snapshot, and must stay cheap per op.
std::atomic<int64_t> live_bytes{0}, peak_bytes{0}, live_allocations{0}, total_allocations{0};

void count_allocation(size_t nbytes) {
  const int64_t now = live_bytes.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed) + nbytes;
  live_allocations.fetch_add(1, std::memory_order_relaxed);
  total_allocations.fetch_add(1, std::memory_order_relaxed);
  int64_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
// Below this, malloc's 16-byte alignment is as good as any: no vector loop spans a cache line
// more than once. glibc's aligned_alloc costs over ten times malloc, which tiny tensors would feel.
constexpr size_t kAlignedFrom = 4096;
}  // namespace

Storage::~Storage() {
  if (deleter) {
    deleter(data);
    return;
  }
  live_bytes.fetch_sub(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
  live_allocations.fetch_sub(1, std::memory_order_relaxed);
  if (data == inline_data) return;
  if (nbytes >= kLargeBlockBytes)
    large_free(data, nbytes);
  else
    std::free(data);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto storage = std::make_shared<Storage>(nullptr, nbytes, std::function<void(void*)>());
  count_allocation(nbytes);
  if (nbytes <= kInlineBytes) {
    storage->data = storage->inline_data;
    return storage;
  }
  void* data = nbytes < kAlignedFrom      ? std::malloc(nbytes)
               : nbytes < kLargeBlockBytes ? std::aligned_alloc(kAlignment, (nbytes + kAlignment - 1) / kAlignment * kAlignment)
                                           : large_allocate(nbytes);
  DYDX_CHECK(data != nullptr, "allocate: out of memory allocating ", nbytes, " bytes");
  storage->data = data;
  return storage;
}

}  // namespace dydx::detail

namespace dydx {

MemoryStats memory_stats() {
  using namespace detail;
  return {live_bytes.load(std::memory_order_relaxed), peak_bytes.load(std::memory_order_relaxed),
          live_allocations.load(std::memory_order_relaxed), total_allocations.load(std::memory_order_relaxed),
          large_cached_bytes()};
}

void empty_cache() { detail::large_release_cache(); }

void reset_peak_memory() { detail::peak_bytes.store(detail::live_bytes.load(std::memory_order_relaxed)); }

}  // namespace dydx
