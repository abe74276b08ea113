// OpenBLAS's kernels chosen by the CPU's features (see blas_core.hpp).
#include "cpu/blas_core.hpp"

#include <cblas.h>
#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>

#include "cpu/packed_gemm.hpp"
#include "dydx/blas.hpp"

// OpenBLAS's DYNAMIC_ARCH entry points, exported but in no header: the first drops the kernel table
// it chose, the second chooses again, reading OPENBLAS_CORETYPE. Weak, so that a build against an
// OpenBLAS without them (one target only) links and keeps its kernels.
extern "C" void gotoblas_dynamic_quit(void) __attribute__((weak));
extern "C" void gotoblas_dynamic_init(void) __attribute__((weak));
// Its thread server's: stops the workers (OpenBLAS starts them again when a product next wants them), and how
// many threads it runs products on, its workers and the caller.
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));
extern "C" int blas_num_threads __attribute__((weak));

namespace dydx::cpu {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// How wide the kernels of an OpenBLAS core are: 3 for AVX-512, 2 for AVX2 with FMA, 1 for AVX, 0 for
// the SSE-only ones (OpenBLAS 0.3.21's names, as openblas_get_corename() gives them, in any case:
// single-target builds spell them in capitals). -1 for a name not listed, a newer OpenBLAS's, which
// is kept: dydx only replaces choices it knows to be narrower.
int width_rank(std::string_view core) {
  for (std::string_view name : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    if (same_name(core, name)) return 3;
  for (std::string_view name : {"Haswell", "Zen", "Excavator"})
    if (same_name(core, name)) return 2;
  for (std::string_view name : {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller"})
    if (same_name(core, name)) return 1;
  for (std::string_view name : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Nano", "Opteron",
                                "Opteron(SSE3)", "Barcelona", "Bobcat", "Athlon", "Katmai", "Coppermine", "Northwood", "Banias"})
    if (same_name(core, name)) return 0;
  return -1;
}

std::string current_core() {
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "";
}

// OpenBLAS chooses again with OPENBLAS_CORETYPE = core; the variable is put back as it was. Between
// the two calls OpenBLAS has no kernel table: this runs when dydx loads, before any thread of dydx's
// exists, but another library's thread inside OpenBLAS at that moment, or one reading the
// environment, would race; DYDX_BLAS_CORE=keep is the way out for such a host.
void reinitialise_with(const std::string& core) {
  const char* previous = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = previous != nullptr ? previous : "";
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if (previous != nullptr) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else unsetenv("OPENBLAS_CORETYPE");
}

std::once_flag chosen;
// What was found and done; a function's static, so that no initialiser of another file can run first.
std::string& report() {
  static std::string text;
  return text;
}

void choose() {
  std::string& report = dydx::cpu::report();
  const std::string picked = current_core();
  const char* setting = std::getenv("DYDX_BLAS_CORE");
  const std::string_view mode = setting != nullptr ? setting : "";
  const bool can_switch = gotoblas_dynamic_quit != nullptr && gotoblas_dynamic_init != nullptr;
  std::string target, why = "chosen by dydx from the CPU's features";
  // OpenBLAS ignores an OPENBLAS_CORETYPE that names none of its cores and detects the CPU as if
  // it were unset; then so does dydx, and the report says why.
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::string unknown_coretype;
  if (coretype != nullptr && *coretype && !same_name(coretype, picked))
    unknown_coretype = std::string("; OPENBLAS_CORETYPE=") + coretype + " names no core OpenBLAS knows";
  if (same_name(mode, "keep")) {
    report = "OpenBLAS " + picked + " (OpenBLAS's choice, kept: DYDX_BLAS_CORE=keep" + unknown_coretype + ")";
    return;
  }
  if (!mode.empty() && !same_name(mode, "auto")) {
    target = std::string(mode);
    why = "DYDX_BLAS_CORE's choice";
  } else if (mode.empty() && coretype != nullptr && *coretype && unknown_coretype.empty()) {
    report = "OpenBLAS " + picked + " (OPENBLAS_CORETYPE's choice)";
    return;
  } else {
    const std::string_view widest = widest_supported_core();
    if (width_rank(picked) < 0) {
      report = "OpenBLAS " + picked + " (OpenBLAS's choice, of a width dydx does not know, kept" + unknown_coretype + ")";
      return;
    }
    if (widest.empty() || width_rank(picked) >= width_rank(widest)) {
      report = "OpenBLAS " + picked + " (OpenBLAS's choice, as wide as the CPU allows" + unknown_coretype + ")";
      return;
    }
    target = std::string(widest);
    why += unknown_coretype;
  }
  if (!can_switch) {
    report = "OpenBLAS " + picked + " (this OpenBLAS cannot change its kernels; " + target + " wanted)";
    return;
  }
  reinitialise_with(target);
  const std::string now = current_core();
  report = "OpenBLAS " + now + " (" + why + "; OpenBLAS had picked " + picked + ")";
  if (!same_name(now, target)) report += "; " + target + " was asked for";
}

}  // namespace

std::string_view widest_supported_core() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  if (__builtin_cpu_supports("avx")) return "Sandybridge";
  return "";
}

void choose_blas_core() { std::call_once(chosen, choose); }

namespace {
// At load, before any thread of dydx's can be inside OpenBLAS while its kernel table changes.
[[maybe_unused]] const bool chosen_at_load = (choose_blas_core(), true);
}  // namespace

namespace {
// Threads in this process, from /proc/self/task; 0 where that cannot be read.
int threads_in_process() {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  int count = 0;
  while (const dirent* entry = readdir(tasks))
    if (entry->d_name[0] != '.') ++count;
  closedir(tasks);
  return count;
}
}  // namespace

bool stop_idle_blas_workers() {
  if (blas_thread_shutdown_ == nullptr || &blas_num_threads == nullptr || blas_num_threads <= 1) return false;
  // Only where every thread of the process is this one or one of OpenBLAS's workers: another thread could be
  // inside OpenBLAS, and stopping the workers under its product could lose the product's pieces.
  if (threads_in_process() != blas_num_threads) return false;
  blas_thread_shutdown_();
  return true;
}

bool openblas_narrower_than_avx512() {
  choose_blas_core();
  const int rank = width_rank(current_core());
  return rank >= 0 && rank < 3;
}

std::string blas_core_report() {
  choose_blas_core();
  if (packed_gemm_in_use())
    return "dydx's packed AVX-512 kernel for large products (DYDX_GEMM=openblas for OpenBLAS's); " + report();
  return report();
}

}  // namespace dydx::cpu

namespace dydx {
std::string blas_kernel() { return cpu::blas_core_report(); }
}  // namespace dydx
