#!/usr/bin/env bash
# Builds and runs every test: the Release suite (with an install-and-consume check), then the
# whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/, then the
# concurrency tests (and dydx's thread pool) under ThreadSanitizer in build-tsan/, then the suite
# built by clang in build-clang/ (GCC accepts code that clang rejects, and users build with both).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh clang
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYDX_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDYDX_SANITIZE=ON -DDYDX_BUILD_BENCHMARKS=OFF \
  -DDYDX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -E install_and_consume

# OpenBLAS's own threads are not instrumented, so the products run on the calling thread here.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDYDX_SANITIZE_THREAD=ON -DDYDX_BUILD_BENCHMARKS=OFF \
  -DDYDX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-tsan -j "$jobs" --target test_reliability test_threads test_overlap test_concurrency
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_reliability --gtest_filter='Threads.*'
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_threads
# Overlapping writes on 2, 4 and 8 threads: the short stress and the short differential test
# (DYDX_LONG_STRESS=1 runs the long ones; see tests/test_overlap.cpp).
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_overlap
# Less the test that forks and starts threads in the child, which TSan does not support.
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_concurrency \
  --gtest_filter=-ThreadPool.FailingToStartWorkersDegradesToFewerThreads

CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYDX_BUILD_BENCHMARKS=OFF \
  -DDYDX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-clang -j "$jobs"
ctest --test-dir build-clang --output-on-failure -j "$jobs" -E install_and_consume
