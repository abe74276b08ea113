#!/usr/bin/env bash
# Builds and runs every test: the Release suite built by GCC (with an install-and-consume check),
# the Python package's pytest suite,
# then the whole suite again built by clang under AddressSanitizer and UndefinedBehaviorSanitizer in
# build-asan-clang/, then the concurrency tests (and dydx's thread pool) under ThreadSanitizer in
# build-tsan/. Two compilers, since GCC accepts code that clang rejects and users build with both;
# clang for the sanitizers, since its UBSan checks pointer arithmetic that GCC's lets pass.
set -euo pipefail
cd "$(dirname "$0")/.."
# clang's sanitizer runtimes come in libclang-rt-14-dev, which clang only recommends. Open MPI
# (libopenmpi-dev, and mpirun from openmpi-bin) for dydx::distributed, whose tests ctest runs under
# mpirun -np 2 and -np 4 --oversubscribe on shared memory (tests/distributed/CMakeLists.txt). python3-dev
# and python3-torch for the Python package (scripts/test_python.sh): its headers, and PyTorch 1.13 (with
# NumPy 1.24) as the oracle its tests compare with.
scripts/install_deps.sh clang libclang-rt-14-dev libopenmpi-dev openmpi-bin python3-dev python3-torch
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYDX_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
# MPI is installed above, so the distributed tests must have been among them.
ctest --test-dir build -N -L distributed | grep -q "Total Tests: [1-9]" ||
  { echo "dydx::distributed was not built: is MPI installed?" >&2; exit 1; }

# The Python package, built into a venv and tested against PyTorch (its test of the BLAS kernel
# choice compares with build/libdydx.so, built just above).
scripts/test_python.sh

# Debug (assertions on) at -O1: the heaviest tests run 2.5 to 3 times faster than at -O0, and the stacks
# still name every frame and line (frame pointers kept; inlined frames come from the line tables, all
# of the debug info a sanitizer's report reads, and an eighth less compile time than full -g). The
# tests' own code compiles at -O0 here, and each test program is one ctest test (tests/CMakeLists.txt
# says why). The library's sources compile in batches (DYDX_UNITY_BUILD: a quarter less compile time
# from scratch); the Release build above compiles them one by one, as a developer's build does, so the
# same tests pass both ways.
# dydx::distributed's tests run here too, under mpirun; Open MPI's own leaks are suppressed for them
# (tests/distributed/lsan_open_mpi.supp, set in tests/distributed/CMakeLists.txt).
CXX=clang++ cmake -S . -B build-asan-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" \
  -DDYDX_UNITY_BUILD=ON -DDYDX_SANITIZE=ON -DDYDX_BUILD_BENCHMARKS=OFF -DDYDX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-asan-clang -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan-clang --output-on-failure -j "$jobs" -E install_and_consume

# OpenBLAS's own threads are not instrumented, so the products run on the calling thread here.
# -O1 as above: at -O0 the overlap differential test (every op on 1, 2, 4 and 8 threads) took 6 of
# CI's 24 minutes; at -O1 it needs 2.8 CPU-minutes, every access still instrumented.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DDYDX_SANITIZE_THREAD=ON \
  -DDYDX_UNITY_BUILD=ON -DDYDX_BUILD_BENCHMARKS=OFF -DDYDX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-tsan -j "$jobs" --target test_reliability test_threads test_overlap test_concurrency test_vmap \
  test_vmap_adversarial test_compile test_compile_adversarial
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_reliability --gtest_filter='Threads.*'
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_threads
# Overlapping writes on 2, 4 and 8 threads: the short stress and the short differential test
# (DYDX_LONG_STRESS=1 runs the long ones; see tests/test_overlap.cpp). The differential's parts take
# most of this run's time, each mostly on one core, so they go two at a time (xargs -P 2), the rest
# of test_overlap beside them.
tsan_overlap() { OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_overlap "$@"; }
export -f tsan_overlap
# The parts by their full names, as gtest lists them (a pattern that matched nothing would pass).
parts=$(build-tsan/tests/test_overlap --gtest_list_tests --gtest_filter='RowsInParts/*' |
  awk '/^[^ ]/ { suite = $1 } /^  / { print suite $1 }')
[[ -n $parts ]] || { echo "test_overlap lists no parts of its differential test" >&2; exit 1; }
{ echo "-RowsInParts/*"; echo "$parts"; } | xargs -P 2 -I{} bash -c 'tsan_overlap --gtest_filter="$1"' _ {}
# Less the test that forks and starts threads in the child, which TSan does not support.
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_concurrency \
  --gtest_filter=-ThreadPool.FailingToStartWorkersDegradesToFewerThreads
# vmap on several threads at once: each thread its own levels, batched tensors of another thread refused.
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_vmap --gtest_filter='*Concurrent*'
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_vmap_adversarial \
  --gtest_filter='*Thread*:*Concurrent*'
# func::compile called from six threads at once (one cache of recordings, shared programs), and
# recordings while other threads make tensors.
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_compile --gtest_filter='*Concurrent*'
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_compile_adversarial \
  --gtest_filter='*Thread*:*Concurrent*'
