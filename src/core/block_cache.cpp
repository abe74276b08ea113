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

#include <mutex>
#include <unordered_map>
#include <vector>

namespace dydx::detail {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

constexpr size_t kGranule = size_t{64} << 10;

// Coarse sizes let a cached block serve tensors of nearby shapes; the waste stays under 1/4 (64 KiB
// granules from 256 KiB, huge pages from 2 MiB).
size_t rounded(size_t nbytes) {
  const size_t unit = nbytes < kHugePage ? kGranule : kHugePage;
  return (nbytes + unit - 1) / unit * unit;
}

// A quarter of physical memory: enough to hold a training step's working set, small enough that
// a process with several large models does not hoard what others need.
size_t cache_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return size_t{1} << 30;
  return static_cast<size_t>(pages) * static_cast<size_t>(page_size) / 4;
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

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  size_t cached = 0;
  const size_t limit = cache_limit();

  void release_all() {
    for (auto& [size, blocks] : free_blocks)
      for (void* block : blocks) {
        ASAN_UNPOISON_MEMORY_REGION(block, size);
        munmap(block, size);
      }
    free_blocks.clear();
    cached = 0;
  }
};

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
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* block = it->second.back();
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
  {
    std::lock_guard lock(c.mutex);
    if (c.cached + size <= c.limit) {
      ASAN_POISON_MEMORY_REGION(data, size);
      c.free_blocks[size].push_back(data);
      c.cached += size;
      return;
    }
  }
  ASAN_UNPOISON_MEMORY_REGION(data, size);
  munmap(data, size);
}

int64_t large_cached_bytes() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  return static_cast<int64_t>(c.cached);
}

void large_release_cache() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  c.release_all();
}

}  // namespace dydx::detail
