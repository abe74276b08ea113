#!/usr/bin/env bash
# Builds the benchmarks in Release, runs dydx and libtorch on the same workloads and prints their medians side by side.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${DYDX_BENCH_BUILD_DIR:-$root/build-bench}
out=$build/bench-results
reps=${DYDX_BENCH_REPETITIONS:-5}

# Tests and examples are off so that the comparison depends only on the library and bench/.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDYDX_BUILD_BENCHMARKS=ON -DDYDX_BUILD_TESTS=OFF -DDYDX_BUILD_EXAMPLES=OFF >/dev/null
ninja -C "$build"
mkdir -p "$out"
rm -f "$out"/*.json

have_torch=0
[[ -x $build/bench/bench_libtorch ]] && have_torch=1
(( have_torch )) || echo "bench_libtorch was not built (libtorch not found); its column will read n/a" >&2

# Extra arguments go to every benchmark run (e.g. --benchmark_min_time=0.05 for a quick check).
common=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true --benchmark_out_format=json "$@")

run() {  # run EXE FAMILY TAG [VAR=VALUE...]
  local exe=$1 family=$2 tag=$3
  shift 3
  echo "== $exe $family${*:+ ($*)}" >&2
  env "$@" "$build/bench/$exe" "${common[@]}" --benchmark_filter="^BM_$family/" \
    --benchmark_out="$out/$exe.$family$tag.json" >&2
}

# One process per workload family: glibc's heap state after one workload (whether a later 64 MiB buffer comes from
# already-faulted heap memory or from a fresh mmap) otherwise changes the elementwise timings by up to 4x.
# The two libraries alternate so that slow drift in machine load hits both alike.
one_thread=(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)
for family in PerOpOverhead SeedMethod1 Matmul ElementwiseChain; do
  run bench_dydx "$family" _default
  if (( have_torch )); then run bench_libtorch "$family" _default; fi
done
# The same two throughput workloads pinned to one thread, through the variables OpenBLAS and OpenMP read at start.
for family in Matmul ElementwiseChain; do
  run bench_dydx "$family" _1t "${one_thread[@]}"
  if (( have_torch )); then run bench_libtorch "$family" _1t "${one_thread[@]}"; fi
done

echo
shopt -s nullglob
python3 "$root/bench/compare.py" \
  --dydx "$out"/bench_dydx.*_default.json --libtorch "$out"/bench_libtorch.*_default.json \
  --dydx-1t "$out"/bench_dydx.*_1t.json --libtorch-1t "$out"/bench_libtorch.*_1t.json
