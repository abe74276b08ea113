// Which OpenBLAS kernels dydx's products run, chosen from the CPU's features rather than its model.
#pragma once

#include <string>
#include <string_view>

namespace dydx::cpu {

/// Once per process, before the first product: OpenBLAS (a DYNAMIC_ARCH build, as Debian's) picks
/// its kernels by CPU model, and one older than the CPU falls back to kernels far below what the
/// CPU can do (Debian's 0.3.21 runs SSE3 "Prescott" kernels on an AVX-512 Xeon of model 207; on AMD
/// Zen 5 it picks its AVX-512 "Cooperlake" ones). Where the CPU's features allow a better set than
/// the one picked, dydx has OpenBLAS initialise again with it: SkylakeX for AVX-512 (F, BW, DQ, VL),
/// Haswell for AVX2 with FMA, Sandybridge for AVX. DYDX_BLAS_CORE=keep leaves OpenBLAS's choice,
/// DYDX_BLAS_CORE=<name> forces an OpenBLAS core name, DYDX_BLAS_CORE=auto chooses even where
/// OPENBLAS_CORETYPE is set. Otherwise OPENBLAS_CORETYPE is respected, even where it names narrower
/// kernels than the CPU allows (a Zen 5 VM seen here sets OPENBLAS_CORETYPE=Haswell for every
/// process, half its sgemm speed): it is how a host avoids a kernel it does not trust, or gets the
/// same bits on all of its machines, and numbers come before speed. The choice is OpenBLAS's own
/// global state, so it also holds for other users of OpenBLAS in the process.
void choose_blas_core();

/// The OpenBLAS core of the widest kernels this CPU (and the OS, which must save the wide registers)
/// supports: "SkylakeX" (AVX-512 F, BW, DQ, VL), "Haswell" (AVX2, FMA), "Sandybridge" (AVX), or "".
std::string_view widest_supported_core();

/// Stops OpenBLAS's worker threads, for a process whose products dydx splits with OpenBLAS on one thread.
/// OpenBLAS starts them when it loads, and each spins in sched_yield for about 0.1 s (2^28 TSC ticks) before
/// it sleeps: over the first 0.1 s of every process they took a core from dydx's threads, and an MLP's
/// forward pass at 10^4 rows took 1.7-1.9 ms there against 0.76 ms after (Zen 5 VM, 2 cores). OpenBLAS
/// starts them again if a product later runs on more than one of its threads. Done only where no thread
/// but the caller and OpenBLAS's own exists (at load, in a program linked with dydx); returns whether it was.
bool stop_idle_blas_workers();

/// Whether OpenBLAS's kernels (after choose_blas_core) are narrower than AVX-512: a core of AVX2 or
/// less that dydx knows; false for a name it does not know.
bool openblas_narrower_than_avx512();

/// What choose_blas_core found and did, and whether dydx's own kernel runs the large products, for
/// dydx::blas_kernel().
std::string blas_core_report();

}  // namespace dydx::cpu
