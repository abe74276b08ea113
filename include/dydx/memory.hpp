// Statistics of the memory dydx allocates for tensor storage.
#pragma once

#include <cstdint>

namespace dydx {

struct MemoryStats {
  int64_t live_bytes = 0;         // bytes of tensor storage allocated by dydx and not yet freed
  int64_t peak_bytes = 0;         // the most live_bytes has been since the last reset_peak_memory()
  int64_t live_allocations = 0;   // storages alive (user memory wrapped by from_blob is not counted)
  int64_t total_allocations = 0;  // storages ever allocated
  int64_t cached_bytes = 0;       // freed large buffers (64 KiB and up) kept for reuse, see empty_cache()
  int64_t cache_limit_bytes = 0;  // the most cached_bytes may reach, see set_cache_limit()
};

/// A snapshot of the process-wide counters. Exact for the calling thread's own allocations; each
/// other running thread may not yet have published up to 1 MiB and 1024 allocations of its own
/// (threads publish in batches because shared counters on every allocation were slow), and
/// peak_bytes is sampled when a thread publishes.
MemoryStats memory_stats();
/// Sets peak_bytes to the current live_bytes.
void reset_peak_memory();
/// Returns the cached large buffers to the operating system. dydx keeps freed buffers of 64 KiB and
/// more, up to cache_limit() bytes, because reusing one is much cheaper than faulting in fresh
/// pages; call this when a phase that used large tensors is over. The cache is also emptied when an
/// allocation fails, before it is retried.
void empty_cache();
/// The most bytes of freed buffers the cache keeps. By default 1 GiB (a quarter of physical memory
/// where that is less), or the environment variable DYDX_CACHE_LIMIT_BYTES, a number of bytes, read
/// when the first large buffer is allocated. When a freed buffer would exceed it, the least recently
/// freed buffers are released, so an earlier phase's buffers give way to the current one's.
int64_t cache_limit();
/// Sets that bound (0 turns caching off) and releases cached buffers beyond it at once.
/// Errors for a negative limit.
void set_cache_limit(int64_t bytes);

}  // namespace dydx
