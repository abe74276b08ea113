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

# Extra arguments go to every benchmark run (e.g. --benchmark_min_time=0.05 for a quick check).
common=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true --benchmark_out_format=json "$@")
one_thread_filter='^BM_(Matmul|ElementwiseChain)/'

run() {  # run NAME SUFFIX [ENV...] -- [EXTRA ARGS...]
  local exe=$build/bench/$1 json=$out/$1$2.json
  shift 2
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  echo "== $(basename "$exe")${envs:+ (${envs[*]})}" >&2
  env ${envs[@]+"${envs[@]}"} "$exe" "${common[@]}" --benchmark_out="$json" "$@"
}

have_torch=0
[[ -x $build/bench/bench_libtorch ]] && have_torch=1

# Defaults first: whatever thread counts each library picks by itself.
run bench_dydx "" --
(( have_torch )) && run bench_libtorch "" --
# Then matmul and the elementwise chain pinned to one thread, through the variables both OpenBLAS and OpenMP read at start.
one=(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)
run bench_dydx _1t "${one[@]}" -- --benchmark_filter="$one_thread_filter"
(( have_torch )) && run bench_libtorch _1t "${one[@]}" -- --benchmark_filter="$one_thread_filter"
(( have_torch )) || echo "bench_libtorch was not built (libtorch not found); its column will read n/a" >&2

echo
python3 "$root/bench/compare.py" --dydx "$out/bench_dydx.json" --libtorch "$out/bench_libtorch.json" \
  --dydx-1t "$out/bench_dydx_1t.json" --libtorch-1t "$out/bench_libtorch_1t.json"
