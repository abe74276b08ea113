// Timing and JSON output shared by compare_dydx.cpp and compare_libtorch.cpp. The timing rule is the one of
// measure() in peers_torch.py and peers_jax.py, so that all four tools are timed the same way.
#pragma once

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace harness {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A case is one call of the workload. Called with check = true (once, untimed, as the warm-up) it returns a
// checksum of its result, and throws if the result is wrong; timed calls pass false and get 0 back.
using Case = std::function<double(bool check)>;

struct Timing {
  double median_s, min_s, max_s;
  int reps;
  long calls_per_rep;
};

// After the warm-up: one timed call to size the repetitions. Calls over 0.2 s get 3 repetitions of one call each,
// that call being the first (the largest cases would otherwise dominate the run), and calls over 5 s only that one;
// shorter ones get 5 repetitions of enough back-to-back calls to last 50 ms, which keeps timer resolution and
// per-call noise out of the median.
inline Timing measure(const Case& fn) {
  double t0 = now();
  fn(false);
  const double one = now() - t0;
  const int reps = one > 5 ? 1 : one > 0.2 ? 3 : 5;
  const long calls = one > 0.2 ? 1 : std::max(1L, static_cast<long>(0.05 / std::max(one, 1e-9)));
  std::vector<double> per_call;
  if (one > 0.2) per_call.push_back(one);
  while (static_cast<int>(per_call.size()) < reps) {
    t0 = now();
    for (long c = 0; c < calls; ++c) fn(false);
    per_call.push_back((now() - t0) / static_cast<double>(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  return {per_call[per_call.size() / 2], per_call.front(), per_call.back(), reps, calls};
}

// A field of /proc/self/status in bytes (VmRSS, VmHWM: given there in kB), or -1 where it cannot be read.
inline long long proc_status_bytes(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long long kib = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') kib = std::atoll(line + n + 1);
  std::fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}

// Resets VmHWM (the peak resident set size) to the current VmRSS: Linux's "echo 5 > /proc/PID/clear_refs".
inline bool reset_peak_rss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

inline std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c == '\n' || c == '\t') ? ' ' : c;
  }
  return out + "\"";
}

inline std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Collects the cases of one process and prints them as the python peers do:
// {"library": ..., <meta>, "cases": {key: {method: {median_s, ...} | {"failed": why} | {"skipped": why}}}}.
//
// Memory mode, for bench/taylor/memory.py: with COMPARE_MEMORY_METHOD=NAME in the environment, only the methods named
// NAME run, each once as the warm-up (checked) and once measured: before the measured call every allocator gives back
// what it keeps (the release hook, then glibc's malloc_trim), VmRSS is read and VmHWM reset; after it, VmHWM is
// read. The entry holds both, and their difference: the peak resident memory of one call beyond what was resident
// before it. COMPARE_MEMORY_METHOD=? lists the methods that would run, running none.
class Report {
 public:
  // only: a regular expression; cases whose key does not match it are not run.
  Report(std::string library, std::string only) : library_(std::move(library)), only_(std::move(only)) {
    if (const char* m = std::getenv("COMPARE_MEMORY_METHOD")) memory_method_ = m;
  }

  // Memory mode's hooks: release() runs before the measured call (a library's own cache, its peak counter);
  // extra() after it returns more JSON fields, each starting with ", ".
  void memory_hooks(std::function<void()> release, std::function<std::string()> extra) {
    release_ = std::move(release);
    extra_ = std::move(extra);
  }

  void meta(const std::string& name, const std::string& json_value) { meta_.emplace_back(name, json_value); }

  // Whether this is memory mode (one call per method is measured, so slow methods need not be skipped).
  bool memory_mode() const { return !memory_method_.empty(); }

  // Whether any method of a key would run, so that callers can skip building large inputs for nothing.
  bool wants(const std::string& key) const { return std::regex_search(key, only_); }

  void run(const std::string& key, const std::string& method, const Case& fn) {
    if (!wants(key)) return;
    if (!memory_method_.empty()) return run_memory(key, method, fn);
    std::fprintf(stderr, "  %s %s %s ... ", library_.c_str(), key.c_str(), method.c_str());
    std::string entry;
    try {
      const double check = fn(true);
      const Timing t = measure(fn);
      entry = "{\"median_s\": " + number(t.median_s) + ", \"min_s\": " + number(t.min_s) +
              ", \"max_s\": " + number(t.max_s) + ", \"reps\": " + std::to_string(t.reps) +
              ", \"calls_per_rep\": " + std::to_string(t.calls_per_rep) + ", \"check\": " + number(check) + "}";
      std::fprintf(stderr, "%.4g s\n", t.median_s);
    } catch (const std::exception& e) {
      // A workload the library cannot do today is a result to report, not a reason to stop the run.
      entry = "{\"failed\": " + quoted(e.what()) + "}";
      std::fprintf(stderr, "FAILED: %s\n", e.what());
    }
    cases_[key].emplace_back(method, entry);
  }

  void skip(const std::string& key, const std::string& method, const std::string& why) {
    if (wants(key)) cases_[key].emplace_back(method, "{\"skipped\": " + quoted(why) + "}");
  }

  void print() const {
    std::printf("{\"library\": %s", quoted(library_).c_str());
    for (const auto& [name, value] : meta_) std::printf(", %s: %s", quoted(name).c_str(), value.c_str());
    std::printf(", \"cases\": {");
    const char* sep = "";
    for (const auto& [key, methods] : cases_) {
      std::printf("%s\n %s: {", sep, quoted(key).c_str());
      const char* msep = "";
      for (const auto& [method, entry] : methods) {
        std::printf("%s%s: %s", msep, quoted(method).c_str(), entry.c_str());
        msep = ", ";
      }
      std::printf("}");
      sep = ",";
    }
    std::printf("}}\n");
  }

 private:
  void run_memory(const std::string& key, const std::string& method, const Case& fn) {
    if (memory_method_ == "?") {
      cases_[key].emplace_back(method, "{\"listed\": true}");
      return;
    }
    if (method != memory_method_) return;
    std::fprintf(stderr, "  memory: %s %s %s ... ", library_.c_str(), key.c_str(), method.c_str());
    std::string entry;
    try {
      const double check = fn(true);
      if (release_) release_();
      malloc_trim(0);
      const long long before = proc_status_bytes("VmRSS");
      if (!reset_peak_rss()) throw std::runtime_error("cannot write /proc/self/clear_refs");
      const double t0 = now();
      fn(false);
      const double seconds = now() - t0;
      const long long peak = proc_status_bytes("VmHWM");
      entry = "{\"rss_before_bytes\": " + std::to_string(before) + ", \"peak_rss_bytes\": " + std::to_string(peak) +
              ", \"peak_over_before_bytes\": " + std::to_string(peak - before) + ", \"call_s\": " +
              number(seconds) + ", \"check\": " + number(check) + (extra_ ? extra_() : "") + "}";
      std::fprintf(stderr, "%.1f MiB over %.1f MiB\n", double(peak - before) / (1 << 20), double(before) / (1 << 20));
    } catch (const std::exception& e) {
      entry = "{\"failed\": " + quoted(e.what()) + "}";
      std::fprintf(stderr, "FAILED: %s\n", e.what());
    }
    cases_[key].emplace_back(method, entry);
  }

  std::string library_;
  std::regex only_;
  std::string memory_method_;
  std::function<void()> release_;
  std::function<std::string()> extra_;
  std::vector<std::pair<std::string, std::string>> meta_;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> cases_;
};

// Inputs every tool can build bit for bit alike without sharing a random generator: sin(0.37 * i + offset) over the
// elements in row-major order. The same inputs everywhere let run.sh compare the tools' checksums.
inline constexpr double kDetStep = 0.37;

// Sizes of the workloads, as in the python peers.
inline constexpr long kChainNumel = 1L << 24;
// The act/ cases: one elementwise function, or softmax, log_softmax or logsumexp along dim 1, on
// det(kActivationShape, 0) * kActivationScale (an MLP hidden layer's pre-activations at B = 10^4, values in
// [-3, 3]), its absolute value where positive is set.
inline constexpr int64_t kActivationShape[] = {10000, 64};
inline constexpr double kActivationScale = 3.0;
struct Activation {
  const char* name;
  bool positive;
};
inline constexpr Activation kActivations[] = {{"exp", false},  {"expm1", false},    {"log1p", true},
                                              {"sin", false},  {"tan", false},      {"tanh", false},
                                              {"sigmoid", false},
                                              {"silu", false}, {"softplus", false}, {"gelu", false},
                                              {"erf", false},  {"softmax", false},  {"log_softmax", false},
                                              {"logsumexp", false}};
// The grad/ cases: the gradient of a scalar loss of x = det(kActivationShape, 0) * kActivationScale with respect
// to x, forward and backward (a network's last steps): F(x).sum() for the elementwise F (clamp to [-1, 1], the
// square as pow(x, 2)); mse_loss(x, target); cross_entropy(x, labels i % 64); (layer_norm(x, [64]) * target).sum()
// (a layer norm's plain sum has no gradient), with target = det(kActivationShape, 1).
inline constexpr const char* kGradients[] = {"silu", "gelu",     "tanh",          "sigmoid",   "softplus",
                                             "clamp", "square", "mse_loss", "cross_entropy", "layer_norm"};
inline constexpr long kReduceN = 4096;
inline constexpr long kGemmN = 2048;
inline constexpr long kMlpSizes[] = {2, 64, 64, 64, 3};
// The taylor family's batches: rows of x for the collapsed-Taylor paper's MLP (D -> 768 -> 768 -> 512 -> 512 -> 1).
// The paper's figures vary the batch over linspace(1, 2048, 10) for the Laplacians (1, 228, 455, ..., 2048) and
// over linspace(1, 1024, 10) for the biharmonic (1, 114, 228, ..., 1024) (f-dangel/torch-jet,
// jet/exp/exp01_benchmark_laplacian/run.py). run.sh times the first three of each: on the 2-core VM the nested
// methods take 6-20 s a call at 2048 rows, and all of them together several minutes.
// DYDX_TAYLOR_BATCHES="1,228,2048" replaces both lists (the python peers read it too).
inline constexpr long kTaylorLaplacianBatches[] = {1, 228, 455};
inline constexpr long kTaylorBiharmonicBatches[] = {1, 114, 228};

// Batches above which dydx's nested biharmonic (batch_hessian of the trace of batch_hessian, never the fastest
// nested method: 5-8x functorch's) is skipped: 3.4-7.5 s a call at 114 rows, 12.6-15.6 s at 228 on the 2-core VM.
inline constexpr long kTaylorNestedBiharmonicMaxB = 114;

inline std::vector<long> taylor_batches(bool biharmonic) {
  if (const char* env = std::getenv("DYDX_TAYLOR_BATCHES")) {
    std::vector<long> out;
    std::stringstream in(env);
    for (std::string item; std::getline(in, item, ',');)
      if (!item.empty()) out.push_back(std::stol(item));
    return out;
  }
  if (biharmonic) return {std::begin(kTaylorBiharmonicBatches), std::end(kTaylorBiharmonicBatches)};
  return {std::begin(kTaylorLaplacianBatches), std::end(kTaylorLaplacianBatches)};
}
// A small CNN's convolutions (conv family): batch 32, kernel 3, padding 1; in -> out channels on size x size.
struct ConvLayer {
  long channels, out_channels, size;
};
inline constexpr long kConvBatch = 32;
inline constexpr ConvLayer kConvLayers[] = {{1, 16, 28}, {16, 32, 14}};
// The train family's classification steps (10 classes, labels i % 10): a small CNN on batch 32 of [1,28,28]
// (conv 1->16 and 16->32 as in the conv family, each followed by ReLU and 2x2 max pooling, then Linear 32*7*7 -> 10),
// and an MLP 784 -> 256 -> 256 -> 10 with ReLU on batch 128.
inline constexpr long kClasses = 10;
inline constexpr long kTrainCnnBatch = 32;
inline constexpr long kTrainMlpBatch = 128;
inline constexpr long kTrainMlpSizes[] = {784, 256, 256, 10};
// The vmap family. Per-sample gradients (persample/{mlp,cnn}/B) of a classifier's loss, -sum(onehot * log_softmax),
// w.r.t. all its parameters, for batches of 64 and 1024 samples (labels i % 10): an MLP 784 -> 128 -> relu -> 10 on
// [784] samples, and a CNN conv 1 -> 8 (3x3, padding 1) -> relu -> 2x2 max pool -> linear 8*14*14 -> 10 on [1,28,28].
inline constexpr long kPerSampleBatches[] = {64, 1024};
inline constexpr long kPerSampleMlpSizes[] = {784, 128, 10};
inline constexpr long kPerSampleCnnChannels = 8;
// The empirical NTK (ntk/mlp) of an MLP 16 -> 64 -> tanh -> 64 -> tanh -> 10 between batches of 32 and 16 inputs:
// per-sample Jacobians w.r.t. all parameters (vmap of jacrev), contracted over the parameters: [32, 16, 10, 10].
inline constexpr long kNtkSizes[] = {16, 64, 64, 10};
inline constexpr long kNtkBatch1 = 32, kNtkBatch2 = 16;
// m values of the seed at which the loop of one grad per column would take more than ~5 s per call.
inline constexpr long kSeedGradLoopMaxM = 100000;

}  // namespace harness
