// Large tensor buffers: huge-page backed, and kept for reuse instead of going back to the kernel.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dydx::detail {

/// Buffers of at least this many bytes come from large_allocate. Not higher: glibc gives the top of
/// its heap back to the kernel whenever a free leaves 128 KiB there, so a loop that allocates and
/// frees buffers of 64-256 KiB (a vmap(jacrev)'s cotangent rows, a small product's result) paid a
/// brk, TLB shootdowns on the other cores and the page faults to refill it, every iteration: 30% of
/// a per-sample Jacobian of an MLP's weights at batch 32 (perf).
constexpr size_t kLargeBlockBytes = size_t{64} << 10;

/// A page-aligned buffer of at least nbytes (rounded up to 16 KiB below 256 KiB, to 64 KiB below
/// 2 MiB, or to whole 2 MiB pages, 2 MiB aligned, from 2 MiB up), from the cache when one of that rounded size is free, else fresh from
/// the kernel. Null when out of memory.
void* large_allocate(size_t nbytes);
/// Returns a buffer from large_allocate (of the same nbytes) to the cache, which gives back blocks of
/// other sizes to make room for it, or to the kernel when it is larger than the cache's limit.
void large_free(void* data, size_t nbytes);
/// Bytes held by the cache, not by any tensor.
int64_t large_cached_bytes();
/// Gives every cached buffer back to the kernel.
void large_release_cache();
/// Gives cached buffers back to the kernel until the cache holds at most target bytes.
void large_trim_cache(size_t target);
/// The most bytes the cache keeps; see dydx::set_cache_limit.
int64_t large_cache_limit();
/// Sets that bound, and trims the cache to it.
void set_large_cache_limit(size_t bytes);

}  // namespace dydx::detail
