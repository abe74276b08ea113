#!/usr/bin/env bash
# Runs bench_transforms (Release) and prints the medians with the transforms issue's ratios from the same run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${DYDX_BENCH_BUILD_DIR:-$root/build-bench}
reps=${DYDX_BENCH_REPETITIONS:-5}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDYDX_BUILD_BENCHMARKS=ON -DDYDX_BUILD_TESTS=OFF -DDYDX_BUILD_EXAMPLES=OFF >/dev/null
ninja -C "$build" bench_transforms >/dev/null
mkdir -p "$build/bench-results"
json=$build/bench-results/bench_transforms.json
"$build/bench/bench_transforms" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_out_format=json --benchmark_out="$json" "$@" >&2
python3 "$root/bench/transforms_table.py" "$json"
