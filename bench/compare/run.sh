#!/usr/bin/env bash
# One command: times the per-sample-derivative workloads through dydx, PyTorch and JAX plus the machine's limits, prints a markdown table.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DYDX_BENCH_BUILD_DIR:-$root/build-bench}
reps=${DYDX_BENCH_REPETITIONS:-5}
out=$build/compare-results
mkdir -p "$out"
log() { echo "[compare] $*" >&2; }
missing() { python3 -c 'import json,sys; print(json.dumps({"missing": sys.argv[1]}))' "$1" > "$2"; }

log "building bench_transforms (Release) in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDYDX_BUILD_BENCHMARKS=ON -DDYDX_BUILD_TESTS=OFF -DDYDX_BUILD_EXAMPLES=OFF >/dev/null || exit 1
ninja -C "$build" bench_transforms >/dev/null || exit 1

log "building limits (g++ -O3 -march=native -fopenmp, OpenBLAS)"
if g++ -O3 -march=native -fopenmp -I/usr/include/x86_64-linux-gnu/openblas-pthread "$here/limits.cpp" \
     -o "$build/compare_limits" -lopenblas; then
  "$build/compare_limits" > "$out/limits.json" || missing "limits run failed" "$out/limits.json"
else
  missing "limits.cpp did not build" "$out/limits.json"
fi

venv=$build/jax-venv
if ! "$venv/bin/python" -c 'import jax' 2>/dev/null; then
  log "installing jax[cpu] into $venv"
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q "jax[cpu]"; } > "$out/jax-install.log" 2>&1 \
    || log "jax install failed, see $out/jax-install.log"
fi

log "dydx: bench_transforms ($reps repetitions)"
"$build/bench/bench_transforms" \
  --benchmark_filter='BM_SeedBatchJacobian/m:(1000|100000)/|BM_Mlp(Forward|BatchJacobian|Laplacian)/B:10000/' \
  --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true --benchmark_format=json \
  > "$out/dydx.json" 2> "$out/dydx.err" || missing "bench_transforms failed" "$out/dydx.json"

log "PyTorch (/usr/bin/python3)"
/usr/bin/python3 "$here/peers_torch.py" > "$out/torch.json" 2> "$out/torch.err" \
  || missing "peers_torch.py failed: $(tail -n 1 "$out/torch.err")" "$out/torch.json"

log "JAX ($venv)"
if "$venv/bin/python" -c 'import jax' 2>/dev/null; then
  "$venv/bin/python" "$here/peers_jax.py" > "$out/jax.json" 2> "$out/jax.err" \
    || missing "peers_jax.py failed: $(tail -n 1 "$out/jax.err")" "$out/jax.json"
else
  missing "jax[cpu] could not be installed into $venv (see $out/jax-install.log)" "$out/jax.json"
fi

python3 "$here/table.py" "$out/dydx.json" "$out/torch.json" "$out/jax.json" "$out/limits.json"
