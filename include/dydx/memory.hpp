// Statistics of the memory dydx allocates for tensor storage.
#pragma once

#include <cstdint>

namespace dydx {

struct MemoryStats {
  int64_t live_bytes = 0;         // bytes of tensor storage allocated by dydx and not yet freed
  int64_t peak_bytes = 0;         // the most live_bytes has been since the last reset_peak_memory()
  int64_t live_allocations = 0;   // storages alive (user memory wrapped by from_blob is not counted)
  int64_t total_allocations = 0;  // storages ever allocated
};

/// A snapshot of the process-wide counters.
MemoryStats memory_stats();
/// Sets peak_bytes to the current live_bytes.
void reset_peak_memory();

}  // namespace dydx
