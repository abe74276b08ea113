// dydx's own threads: kernels split across the pool give the same bits as on one thread, the
// pool is safe to share between user threads, and the large-buffer cache hands back clean memory.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "cpu/cpu_blas.hpp"
#include "cpu/skinny_gemm.hpp"

#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace dydx {
namespace {

using testing::ThreadCount;

using indexing::Slice;

// Whether this build has dydx's own kernel for short, narrow products (AVX2 or AVX-512); without it
// they go to BLAS, whose bits may depend on how the rows are split.
constexpr bool kSkinnyKernel = cpu::kSkinnyVectorBytes > 0;


std::vector<char> bytes_of(const Tensor& t) {
  Tensor c = t.contiguous();
  std::vector<char> out(static_cast<size_t>(c.numel()) * element_size(c.dtype()));
  if (!out.empty()) std::memcpy(out.data(), c.dtype() == kFloat32 ? static_cast<const void*>(c.data_ptr<float>())
                                                               : static_cast<const void*>(c.data_ptr<double>()),
                out.size());
  return out;
}

struct Case {
  const char* name;
  std::function<Tensor(const Tensor& x, const Tensor& y)> f;
  // Products are split by rows into separate BLAS calls, and OpenBLAS picks its kernels by shape, so
  // their last bits may depend on the thread count (as with OpenBLAS's own threads); they are
  // compared to rounding instead.
  bool bit_exact = true;
};

// Big enough to be split (well over two grains of 32K elements), with odd sizes so that pieces
// end mid-row, and with every loop shape: flat, broadcast, transposed, stepped, reduced, in place.
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"exp", [](const Tensor& x, const Tensor&) { return exp(x); }},
      {"tanh", [](const Tensor& x, const Tensor&) { return tanh(x); }},
      {"sin of transposed", [](const Tensor& x, const Tensor&) { return sin(x.t()); }},
      {"mul", [](const Tensor& x, const Tensor& y) { return x * y; }},
      {"add row broadcast", [](const Tensor& x, const Tensor& y) { return x + y.index({0}); }},
      {"div column broadcast", [](const Tensor& x, const Tensor& y) { return x / (y.index({Slice(), 0}).unsqueeze(1).abs() + 1.0); }},
      {"pow scalar", [](const Tensor& x, const Tensor&) { return x.abs().pow(1.5); }},
      {"transposed operands", [](const Tensor& x, const Tensor& y) { return x.t() * y.t(); }},
      {"stepped slice", [](const Tensor& x, const Tensor& y) { return x.index({Slice(0, 600, 2)}) - y.index({Slice(1, 601, 2)}); }},
      {"sum dim 0", [](const Tensor& x, const Tensor&) { return x.sum({0}); }},
      {"sum dim 1", [](const Tensor& x, const Tensor&) { return x.sum({1}); }},
      // A few long rows: tiles of columns summed in parallel.
      {"sum of 3 long rows", [](const Tensor& x, const Tensor&) { return x.reshape({-1}).narrow(0, 0, 183000).reshape({3, 61000}).sum({0}); }},
      {"mean dim 0 of transposed", [](const Tensor& x, const Tensor&) { return x.t().mean({0}); }},
      {"sum all", [](const Tensor& x, const Tensor&) { return x.sum(); }},
      {"contiguous of transposed", [](const Tensor& x, const Tensor&) { return x.t().contiguous(); }},
      // Products split their rows across the pool (OpenBLAS on one thread each).
      {"matmul", [](const Tensor& x, const Tensor& y) { return matmul(x, y.t()); }, false},
      {"matmul of transposed", [](const Tensor& x, const Tensor& y) { return matmul(x.t(), y); }, false},
      {"outer product", [](const Tensor& x, const Tensor& y) { return matmul(x.index({Slice(), Slice(0, 1)}), y.index({Slice(0, 1)})); }},
      // Fewer rows than columns: pieces of columns, each packing all of A's few rows, with B read
      // transposed, as it is, and under a layer's bias.
      {"fewer rows by transposed", [](const Tensor& x, const Tensor& y) { return matmul(x.narrow(0, 0, 100), y.t()); }, false},
      {"few rows by row-major", [](const Tensor& x, const Tensor& y) { return matmul(x.narrow(0, 0, 40), y.narrow(0, 0, 307)); }, false},
      // At most 64 rows against B stored transposed: dydx's dot kernel, whose entries do not depend on the split.
      {"few rows by transposed", [](const Tensor& x, const Tensor& y) { return matmul(x.narrow(0, 0, 40), y.t()); }, kSkinnyKernel},
      {"few rows through a layer", [](const Tensor& x, const Tensor& y) { return linear(x.narrow(0, 0, 51), y.narrow(0, 0, 300), y.select(1, 0).narrow(0, 0, 300)); }, kSkinnyKernel},
      // Short inner dimension and narrow result: dydx's own kernel, whose rows do not depend on the split.
      {"skinny matmul", [](const Tensor& x, const Tensor& y) { return matmul(x.index({Slice(), Slice(0, 64)}), y.index({Slice(0, 64), Slice(0, 100)})); }, kSkinnyKernel},
      // A stack [S, R, k] folded into rows by matmul: the same kernel, each thread taking the same rows of
      // every stack (cpu::StackedRows), R a multiple of its 6-row blocks and not.
      {"skinny matmul of a stack", [](const Tensor& x, const Tensor& y) { return matmul(x.narrow(0, 0, 600).narrow(1, 0, 64).reshape({3, 200, 64}), y.index({Slice(0, 64), Slice(0, 100)})); }, kSkinnyKernel},
      {"skinny matmul of a stack of 199 rows", [](const Tensor& x, const Tensor& y) { return matmul(x.narrow(0, 0, 597).narrow(1, 0, 64).reshape({3, 199, 64}), y.index({Slice(0, 64), Slice(0, 100)})); }, kSkinnyKernel},
      // A weight gradient, x^T g with a long inner dimension: the same kernel, A read transposed.
      {"skinny matmul of transposed", [](const Tensor& x, const Tensor& y) { return matmul(x.index({Slice(), Slice(0, 32)}).t(), y.index({Slice(), Slice(0, 40)})); }, kSkinnyKernel},
      {"in-place add through a transposed view",
       [](const Tensor& x, const Tensor& y) {
         Tensor z = x.clone();
         z.t().add_(y.t());
         return z;
       }},
      {"backward of a product",
       [](const Tensor& x, const Tensor& y) {
         Tensor leaf = x.detach().requires_grad_(true);
         return grad({(tanh(leaf) * y).sum()}, {leaf})[0];
       }},
  };
  return all;
}

TEST(Threads, KernelsGiveTheSameBitsOnAnyThreadCount) {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    manual_seed(7);
    Tensor x = randn({601, 307}, dtype), y = randn({601, 307}, dtype);
    for (const Case& c : cases()) {
      Tensor serial;
      {
        ThreadCount one(1);
        serial = c.f(x, y);
      }
      for (int n : {2, 3, 5}) {
        ThreadCount many(n);
        Tensor parallel = c.f(x, y);
        if (c.bit_exact) {
          EXPECT_EQ(bytes_of(parallel), bytes_of(serial)) << c.name << ", " << dtype << ", " << n << " threads";
        } else {
          // Entries are sums of about 300 products of unit normals: rounding of order k * eps * 300.
          const double atol = dtype == kFloat32 ? 1e-3 : 1e-11;
          EXPECT_TRUE(allclose(parallel, serial, 0, atol)) << c.name << ", " << dtype << ", " << n << " threads";
          EXPECT_FALSE(allclose(parallel, zeros_like(parallel), 0, 1.0)) << c.name;
        }
      }
    }
  }
}

// A stack [S, R, k] times [k, m] through matmul splits R's rows across threads, the same rows of every stack
// (cpu::StackedRows); mm of the same rows as one [S R, k] matrix splits them flat. Each row's bits are its own in
// dydx's skinny kernel, so the two agree on any thread count, R a multiple of its 6-row blocks or not, and
// R below and above the least that the stacked split takes.
TEST(Threads, StackedProductsGiveTheFlatProductsBits) {
  for (ScalarType dtype : {kFloat32, kFloat64})
    for (int64_t stacks : {2, 3, 7})
      for (int64_t rows : {24, 25, 199, 200, 203}) {
        manual_seed(11);
        const Tensor a = randn({stacks, rows, 40}, dtype), b = randn({40, 56}, dtype);
        Tensor flat;
        {
          ThreadCount one(1);
          flat = mm(a.reshape({stacks * rows, 40}), b).reshape({stacks, rows, 56});
        }
        for (int threads : {1, 2, 3, 5}) {
          ThreadCount count(threads);
          const Tensor stacked = matmul(a, b);
          if (kSkinnyKernel)
            EXPECT_EQ(bytes_of(stacked), bytes_of(flat)) << stacks << " x " << rows << ", " << dtype << ", " << threads << " threads";
          else
            EXPECT_TRUE(allclose(stacked, flat, 1e-5, 1e-5)) << stacks << " x " << rows << ", " << dtype;
        }
      }
}

TEST(Threads, UserThreadsShareThePool) {
  ThreadCount two(2);
  manual_seed(3);
  Tensor x = randn({401, 509}), y = randn({401, 509});
  auto work = [&] { return (exp(x.t()) * y.t()).sum({1}) + tanh(x).sum({0}); };
  const std::vector<char> expected = bytes_of(work());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i)
        if (bytes_of(work()) != expected) ++mismatches[t];
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(Threads, TheCountIsValidated) {
  ThreadCount keep(get_num_threads());
  EXPECT_GE(get_num_threads(), 1);
  set_num_threads(3);
  EXPECT_EQ(get_num_threads(), 3);
  EXPECT_THROW(set_num_threads(0), Error);
  EXPECT_THROW(set_num_threads(-2), Error);
  EXPECT_EQ(get_num_threads(), 3);
}

TEST(LargeBuffers, AreCachedReusedAndReleased) {
  empty_cache();
  EXPECT_EQ(memory_stats().cached_bytes, 0);
  const int64_t n = 3 << 20;  // 12 MiB of float32, above the 256 KiB threshold
  const void* first;
  {
    Tensor a = full({n}, 5.0);
    first = a.data_ptr<float>();
  }
  EXPECT_GE(memory_stats().cached_bytes, n * 4);
  // The cached block comes back, and zeros() must not trust it to be zero.
  Tensor b = zeros({n});
  EXPECT_EQ(b.data_ptr<float>(), first);
  EXPECT_EQ(memory_stats().cached_bytes, 0);
  EXPECT_EQ(b.abs().sum().item<double>(), 0.0);
  // A different size takes a different block.
  Tensor c = ones({n + (1 << 20)});
  EXPECT_NE(c.data_ptr<float>(), first);
  EXPECT_EQ(c.sum().item<double>(), static_cast<double>(n + (1 << 20)));
  b = Tensor();
  c = Tensor();
  EXPECT_GT(memory_stats().cached_bytes, 0);
  empty_cache();
  EXPECT_EQ(memory_stats().cached_bytes, 0);
  // Below 2 MiB blocks come in 64 KiB granules: 100000 and 101000 floats share one.
  const void* small;
  {
    Tensor a = ones({100000});
    small = a.data_ptr<float>();
  }
  Tensor d = zeros({101000});
  EXPECT_EQ(d.data_ptr<float>(), small);
  EXPECT_EQ(d.abs().sum().item<double>(), 0.0);
  d = Tensor();
  empty_cache();
}

TEST(FastPaths, StreamingOuterProductEqualsTheElementwiseProduct) {
  // An outer product larger than the last-level cache is written with streaming stores, a smaller
  // one by a plain loop; the broadcast elementwise product computes the same single rounding of each
  // x[i] * w[j] through the ordinary kernels. Some products underflow: a negative one is -0 in all
  // three (0 + a b rounded once, as BLAS's fused multiply-adds give it), which a streaming loop that
  // rounded a b and then added 0 made +0 (clang does not fuse intrinsics).
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    manual_seed(13);
    const int64_t row_bytes = 64 * static_cast<int64_t>(element_size(dtype));
    const double tiny = dtype == kFloat32 ? 1e-30 : 1e-170;
    for (int64_t rows : {int64_t{1000}, static_cast<int64_t>(cpu::streaming_store_bytes()) / row_bytes + 1000}) {
      Tensor x = randn({rows, 1}, dtype), w = randn({1, 64}, dtype);
      x.narrow(0, 0, rows / 3).mul_(-tiny);
      w.narrow(1, 0, 8).mul_(tiny);
      const Tensor product = matmul(x, w);
      ASSERT_TRUE(product.index({0, 0}).item<double>() == 0);
      EXPECT_TRUE(std::signbit(product.index({0, 0}).item<double>()) == std::signbit(x.index({0, 0}).item<double>() * w.index({0, 0}).item<double>()));
      EXPECT_EQ(bytes_of(product), bytes_of(x * w)) << dtype << ", " << rows << " rows";
      // Odd row lengths cannot stream (rows would not stay 16-byte aligned) and take the plain loop.
      Tensor w_odd = randn({1, 61}, dtype);
      w_odd.narrow(1, 0, 8).mul_(tiny);
      EXPECT_EQ(bytes_of(matmul(x.narrow(0, 0, rows / 2), w_odd)), bytes_of(x.narrow(0, 0, rows / 2) * w_odd)) << dtype;
    }
  }
}

// add and sub with an alpha other than +-1 round x + alpha y once where the CPU fuses a multiply-add,
// as PyTorch's kernels do, whether y is a tensor, a broadcast scalar or an expanded one, eager, in
// place or replayed by func::compile (a scalar's alpha y was hoisted out of the loop and rounded on
// its own, a tensor's fused).
TEST(FastPaths, AddWithAlphaRoundsOnceWhateverTheLayout) {
  manual_seed(7);
  const Tensor x = randn({1027}, kFloat64) * 3.0;
  const Tensor s = full({}, 3.1453551015956829, kFloat64);
  const Tensor y = s.expand_as(x).contiguous();
  const Tensor want = add(x, y, 0.75);
#ifdef __FMA__
  const double* px = x.data_ptr<double>();
  const double* pw = want.data_ptr<double>();
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(pw[i], std::fma(0.75, 3.1453551015956829, px[i])) << i;
#endif
  EXPECT_EQ(bytes_of(add(x, s, 0.75)), bytes_of(want));
  EXPECT_EQ(bytes_of(add(x, s.expand_as(x), 0.75)), bytes_of(want));
  EXPECT_EQ(bytes_of(sub(x, s, -0.75)), bytes_of(want));
  Tensor in_place = x.clone();
  in_place.add_(s, 0.75);
  EXPECT_EQ(bytes_of(in_place), bytes_of(want));
  const auto compiled = func::compile([](const TensorList& in) { return TensorList{add(in[0], in[1].expand_as(in[0]), 0.75).neg()}; });
  for (int call = 0; call < 2; ++call) EXPECT_EQ(bytes_of(compiled(TensorList{x, s})[0]), bytes_of(want.neg()));
}

// Products with a short inner dimension (k <= 128) and a narrow result (m <= 256) take dydx's own
// register-blocked kernel, and so do those of few rows with A stored transposed and any k (weight
// gradients); every layout, tail, row remainder and panel count is checked against a float64 sum.
TEST(FastPaths, SkinnyProductsMatchAFloat64Reference) {
  struct Shape {
    int64_t n, k, m;
  };
  const std::vector<Shape> shapes = {{1, 2, 1},    {5, 2, 64},  {6, 3, 3},     {7, 64, 64},  {13, 64, 15},
                                     {13, 64, 16}, {13, 17, 17}, {1000, 64, 64}, {997, 128, 65}, {301, 33, 100},
                                     {50, 64, 256}, {50, 129, 64}, {50, 64, 257}, {32, 3072, 32}, {2, 3072, 32},
                                     {32, 3072, 1}, {13, 257, 1}, {11, 500, 9}, {64, 700, 17}, {65, 300, 8}};
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    manual_seed(21);
    for (const Shape& s : shapes) {
      // A with a row stride wider than k; B as is and as the transpose of a row-major [m, k].
      // A also stored transposed, as x^T in a weight gradient.
      Tensor a_wide = randn({s.n, s.k + 5}, dtype), b = randn({s.k, s.m}, dtype), bt = randn({s.m, s.k}, dtype);
      Tensor a_stored_transposed = randn({s.k, s.n}, dtype).t();
      for (const Tensor& a : {a_wide.narrow(1, 2, s.k), a_stored_transposed}) {
        for (const Tensor& rhs : {b, bt.t()}) {
          Tensor c = matmul(a, rhs);
          ASSERT_EQ(c.sizes().vec(), (std::vector<int64_t>{s.n, s.m}));
          const auto av = a.contiguous().to(kFloat64).to_vector<double>();
          const auto bv = rhs.contiguous().to(kFloat64).to_vector<double>();
          const auto cv = c.to(kFloat64).to_vector<double>();
          const double eps = dtype == kFloat32 ? 1.2e-7 : 2.3e-16;
          for (int64_t i = 0; i < s.n; ++i)
            for (int64_t j = 0; j < s.m; ++j) {
              double exact = 0, magnitude = 0;
              for (int64_t p = 0; p < s.k; ++p) {
                exact += av[i * s.k + p] * bv[p * s.m + j];
                magnitude += std::abs(av[i * s.k + p] * bv[p * s.m + j]);
              }
              // A sum of k products in this precision: error at most about k * eps * sum |a_p b_p|.
              ASSERT_NEAR(cv[i * s.m + j], exact, 2 * s.k * eps * magnitude + 1e-300)
                  << dtype << " n=" << s.n << " k=" << s.k << " m=" << s.m << " at (" << i << ", " << j << ")";
            }
        }
      }
    }
    // Batched, with B broadcast across the batch (a tangent's directions against one weight): the
    // kernel's rows do not depend on how many rows share a call.
    Tensor t = randn({3, 40, 64}, dtype), w = randn({64, 64}, dtype);
    Tensor batched = matmul(t, w);
    for (int64_t d = 0; d < 3; ++d) {
      if (kSkinnyKernel)
        EXPECT_EQ(bytes_of(batched.index({d})), bytes_of(matmul(t.index({d}), w))) << dtype;
      else
        EXPECT_TRUE(allclose(batched.index({d}), matmul(t.index({d}), w), 0, dtype == kFloat32 ? 1e-4 : 1e-12)) << dtype;
    }
  }
}

TEST(LargeBuffers, OutOfMemoryIsAnErrorAndLeavesTheCacheAlone) {
  empty_cache();
  const MemoryStats before = memory_stats();
  // 4 EiB: the size fits int64, no address space does.
  EXPECT_THROW(zeros({int64_t(1) << 60}), Error);
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.cached_bytes, before.cached_bytes);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
  Tensor ok = ones({int64_t(1) << 20});
  EXPECT_EQ(ok.sum().item<double>(), static_cast<double>(int64_t(1) << 20));
}

// The process's current address-space size, from /proc/self/status (VmSize, in kB).
uint64_t address_space_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  return 0;
}

// OpenBLAS starts its worker threads when it is loaded, and each maps its 128 MiB buffer the first
// time the scheduler runs it, whenever that is. Under a lowered address-space limit that mapping
// fails and OpenBLAS aborts the process (under AddressSanitizer, its fallback malloc does). A product
// that OpenBLAS splits across all of them returns only once every one has run, buffer mapped.
void let_openblas_workers_map_their_buffers() {
  // On one thread (OPENBLAS_NUM_THREADS=1, as under ThreadSanitizer) OpenBLAS starts no workers.
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  if (env != nullptr && std::string(env) == "1") return;
  const int saved = openblas_get_num_threads();
  openblas_set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const int n = 1024;  // big enough that every worker gets rows, however many cores
  std::vector<double> a(n * n, 1.0), b(n * n, 1.0), c(n * n);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n);
  openblas_set_num_threads(saved);
  ASSERT_EQ(c[0], n);
}

// The CPU time this process has used, all threads, in milliseconds.
double process_cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
}

// OpenBLAS starts its workers when it loads, and each spins in sched_yield for about 0.1 s before it sleeps,
// taking a core from dydx's threads. Where dydx splits products itself (OPENBLAS_NUM_THREADS unset), it stops
// them at load: this process (ctest runs each case in its own) then uses no CPU while it sleeps, where one
// spinning worker used all of the 80 ms. Where OPENBLAS_NUM_THREADS is set, dydx leaves OpenBLAS alone.
TEST(OpenBlasWorkers, NoneSpinsAfterLoadWhereDydxSplitsProducts) {
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  if (env != nullptr) {
    EXPECT_EQ(openblas_get_num_threads(), std::max(1, std::atoi(env)));
    return;
  }
  EXPECT_EQ(openblas_get_num_threads(), 1);
  const double before = process_cpu_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  EXPECT_LT(process_cpu_ms() - before, 20.0);
}

// A program that asks OpenBLAS for more threads after dydx stopped its workers (OpenBLAS starts them again itself)
// gets right products from OpenBLAS and from dydx.
TEST(OpenBlasWorkers, StartAgainWhenAProgramAsksForThem) {
  const int saved = openblas_get_num_threads();
  const int want = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  openblas_set_num_threads(want);
  const int n = 512;
  std::vector<double> a(n * n, 1.0), b(n * n, 2.0), c(n * n, -1.0);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n);
  openblas_set_num_threads(saved);
  EXPECT_TRUE(std::all_of(c.begin(), c.end(), [&](double v) { return v == 2.0 * n; }));
  // And dydx's own products are unchanged.
  const Tensor x = ones({300, 200}, kFloat64), w = full({200, 300}, 2.0, kFloat64);
  EXPECT_TRUE(equal(mm(x, w), full({300, 300}, 400.0, kFloat64)));
}

TEST(LargeBuffers, AFailedAllocationDoesNotPoisonTheCache) {
  // A 64 MiB request refused by the kernel (the address-space limit is lowered to what the process
  // already uses), then the same request once the limit is back: it must get real memory, not a
  // null block that the failed attempt left in the cache.
  let_openblas_workers_map_their_buffers();
  empty_cache();
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &saved), 0);
  const uint64_t used = address_space_bytes();
  ASSERT_GT(used, 0u);
  rlimit tight = saved;
  tight.rlim_cur = used + (uint64_t{8} << 20);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
  bool refused = false;
  try {
    Tensor t = empty({int64_t{16} << 20}, kFloat32);
  } catch (const Error&) {
    refused = true;
  }
  ASSERT_EQ(setrlimit(RLIMIT_AS, &saved), 0);
  EXPECT_TRUE(refused);
  Tensor t = full({int64_t{16} << 20}, 2.0);
  EXPECT_EQ(t.sum().item<double>(), 2.0 * (int64_t{16} << 20));
  EXPECT_EQ(memory_stats().cached_bytes, 0);
}

TEST(LargeBuffers, LiveBytesCountWhatTensorsHoldNotTheCache) {
  empty_cache();
  const int64_t start = memory_stats().live_bytes;
  {
    Tensor a = empty({5 << 20}, kFloat32);
    EXPECT_EQ(memory_stats().live_bytes - start, int64_t{20} << 20);
  }
  EXPECT_EQ(memory_stats().live_bytes, start);
  empty_cache();
}

}  // namespace
}  // namespace dydx
