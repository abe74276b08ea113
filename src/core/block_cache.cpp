// Large buffers straight from mmap, and a cache of freed ones keyed by size.
//
// Why: a fresh 64 MiB buffer from malloc is a fresh mmap whose 16384 4 KiB pages each fault
// on first touch, and free() unmaps it again. perf showed page faults and munmap at about 37% of a
// chain of elementwise ops on 2^24 floats. Buffers of a few MiB fared no better: glibc returned
// them to the kernel too (its heap trims), and page faults were a fifth of an MLP's forward pass at
// B = 10^4, whose activations are 2.5 MiB. The cache removes the faults for the buffers that a loop
// (a training step, a benchmark) allocates again and again. The 2 MiB alignment lets a kernel with
// transparent huge pages always on back them with huge pages. We do not madvise(MADV_HUGEPAGE):
// with this machine's defrag=madvise setting, faults in such regions stalled for compaction, and a
// first batch_jacobian at (10^6, 64) took 0.19-1.4 s instead of a steady 0.39 s.
#include "core/block_cache.hpp"

#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace dydx::detail {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

constexpr size_t kGranule = size_t{64} << 10;

// Coarse sizes let a cached block serve tensors of nearby shapes; the waste stays under 1/4 (16 KiB
// granules from 64 KiB, 64 KiB granules from 256 KiB, huge pages from 2 MiB).
size_t rounded(size_t nbytes) {
  const size_t unit = nbytes < 4 * kGranule ? kGranule / 4 : nbytes < kHugePage ? kGranule : kHugePage;
  return (nbytes + unit - 1) / unit * unit;
}

// The default bound: 1 GiB, or a quarter of physical memory where that is less. It holds the
// working sets the cache exists for (the chain of ops on 2^24 floats recycles 64 MiB buffers, an MLP
// step at B = 10^4 a few dozen of 2.5 MiB, batch_jacobian at (10^6, 64) a few of 256 MiB), while a
// phase of larger tensors can no longer leave gigabytes behind: a quarter of physical memory let
// one program keep 4.9 GiB after its large phase, memory that neither it nor any other process got.
size_t default_cache_limit() {
  constexpr size_t kDefault = size_t{1} << 30;
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return kDefault;
  return std::min(kDefault, static_cast<size_t>(pages) * static_cast<size_t>(page_size) / 4);
}

// DYDX_CACHE_LIMIT_BYTES, a number of bytes (0 turns caching off), overrides the default. Read once,
// when the first large buffer is allocated; an unreadable value is reported and ignored, since a
// library must not fail every large allocation over a typo in the environment.
size_t initial_cache_limit() {
  const char* text = std::getenv("DYDX_CACHE_LIMIT_BYTES");
  if (text == nullptr || *text == '\0') return default_cache_limit();
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || text[0] == '-' || value > static_cast<unsigned long long>(INT64_MAX)) {
    std::fprintf(stderr, "dydx: ignoring DYDX_CACHE_LIMIT_BYTES=\"%s\": expected a number of bytes\n", text);
    return default_cache_limit();
  }
  return static_cast<size_t>(value);
}

void* map_aligned(size_t size) {
  if (size < kHugePage) {
    void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return block == MAP_FAILED ? nullptr : block;
  }
  // Map one huge page more than needed and trim the ends, so the block starts on a 2 MiB boundary.
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t tail = start + size + kHugePage - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  return reinterpret_cast<void*>(aligned);
}

struct Block {
  void* data;
  size_t size;
};

struct Cached {
  void* data;
  uint64_t freed_at;  // the cache's clock when it was freed
};

struct Cache {
  std::mutex mutex;
  // Rounded size -> its blocks, the least recently freed first. A size's entry stays while its loop
  // takes and frees its block (no allocation of the map's or a container's memory per call); the rare
  // evictions drop the empty ones.
  std::unordered_map<size_t, std::vector<Cached>> free_blocks;
  size_t cached = 0;
  uint64_t clock = 0;  // blocks freed into the cache so far
  size_t limit = initial_cache_limit();

  // Takes the least recently freed blocks out of the cache until cached + room <= limit, and
  // returns them, so that they are unmapped after the lock is released. Oldest first: the blocks a
  // loop frees come back at every step, while an earlier phase's were last freed before it began.
  // (Evicting the blocks of any other size than the one freed, as this cache did, let a per-sample
  // gradient phase's 400 MB blocks outlive those of a batch_jacobian loop that came after it, which
  // were unmapped and faulted in again at every call: 57 -> 85 ms a call.)
  std::vector<Block> evict_for(size_t room) {
    std::vector<Block> out;
    while (cached + room > limit) {
      auto oldest = free_blocks.end();
      for (auto it = free_blocks.begin(); it != free_blocks.end();) {
        if (it->second.empty()) {
          it = free_blocks.erase(it);
          continue;
        }
        if (oldest == free_blocks.end() || it->second.front().freed_at < oldest->second.front().freed_at) oldest = it;
        ++it;
      }
      if (oldest == free_blocks.end()) break;
      out.push_back({oldest->second.front().data, oldest->first});
      cached -= oldest->first;
      oldest->second.erase(oldest->second.begin());
    }
    return out;
  }
};

void unmap(const std::vector<Block>& blocks) {
  for (const Block& b : blocks) {
    ASAN_UNPOISON_MEMORY_REGION(b.data, b.size);
    munmap(b.data, b.size);
  }
}

// Never destroyed: tensors held by static objects may be freed after this file's statics are.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

// Under AddressSanitizer, the rounding slack and cached blocks are poisoned, so a kernel that reads
// past a tensor's end or a use after free is still caught although the memory stays mapped.
void* hand_out(void* block, size_t nbytes, size_t size) {
  ASAN_UNPOISON_MEMORY_REGION(block, nbytes);
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(block) + nbytes, size - nbytes);
  return block;
}

}  // namespace

void* large_allocate(size_t nbytes) {
  const size_t size = rounded(nbytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    // The most recently freed block of the size: the likeliest to be still in cache.
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* block = it->second.back().data;
      it->second.pop_back();
      c.cached -= size;
      return hand_out(block, nbytes, size);
    }
  }
  void* block = map_aligned(size);
  if (block == nullptr) {
    // Out of address space or memory: what the cache holds may be what is missing.
    large_release_cache();
    block = map_aligned(size);
  }
  return block ? hand_out(block, nbytes, size) : nullptr;
}

void large_free(void* data, size_t nbytes) {
  const size_t size = rounded(nbytes);
  Cache& c = cache();
  std::vector<Block> evicted;
  bool kept = false;
  {
    std::lock_guard lock(c.mutex);
    if (size <= c.limit) {
      // The block just freed is the likeliest to be wanted again (the loop that freed it runs
      // again); the least recently freed blocks make room for it.
      evicted = c.evict_for(size);
      ASAN_POISON_MEMORY_REGION(data, size);
      c.free_blocks[size].push_back({data, c.clock++});
      c.cached += size;
      kept = true;
    }
  }
  unmap(evicted);
  if (!kept) unmap({{data, size}});
}

int64_t large_cached_bytes() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  return static_cast<int64_t>(c.cached);
}

void large_release_cache() { large_trim_cache(0); }

void large_trim_cache(size_t target) {
  Cache& c = cache();
  std::vector<Block> evicted;
  {
    std::lock_guard lock(c.mutex);
    const size_t saved_limit = c.limit;
    c.limit = target;
    evicted = c.evict_for(0);
    c.limit = saved_limit;
  }
  unmap(evicted);
}

int64_t large_cache_limit() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  return static_cast<int64_t>(c.limit);
}

void set_large_cache_limit(size_t bytes) {
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    c.limit = bytes;
  }
  large_trim_cache(bytes);
}

}  // namespace dydx::detail
