#!/usr/bin/env bash
# One command for the speed comparison: dydx, libtorch, PyTorch (functorch) and JAX on the same workloads, the
# machine's triad and gemm limits, dydx at 1 and 2 threads, and batch_jacobian's peak memory; prints markdown tables.
# Usage: bench/compare/run.sh [FAMILY...]  (default: perop seed mlp kernels conv train vmap taylor; the threads and memory
# sections always run)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DYDX_BENCH_BUILD_DIR:-$root/build-bench}
out=$build/compare-results
families=("$@")
(( ${#families[@]} )) || families=(perop seed mlp kernels conv train vmap taylor)
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.err "$out"/*.time
log() { echo "[compare $(date -u +%H:%M:%S)] $*" >&2; }
# A tool that cannot run leaves {"missing": why} where its results would be, so the table says so.
missing() { python3 -c 'import json,sys; print(json.dumps({"missing": sys.argv[1]}))' "$1" > "$2"; }
start=$(date +%s)

log "building in $build (Release, benchmarks only)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDYDX_BUILD_BENCHMARKS=ON -DDYDX_BUILD_TESTS=OFF -DDYDX_BUILD_EXAMPLES=OFF >/dev/null || exit 1
targets=(compare_dydx compare_memory)
ninja -C "$build" -t query compare_libtorch >/dev/null 2>&1 && targets+=(compare_libtorch)
ninja -C "$build" "${targets[@]}" >/dev/null || exit 1

python3 - "$out/meta.json" "$root" <<'EOF'
import datetime, json, os, platform, subprocess, sys
git = lambda *a: subprocess.run(["git", "-C", sys.argv[2], *a], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({"date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%MZ"), "commit": git("rev-parse", "--short", "HEAD"),
           "subject": git("log", "-1", "--format=%s"), "dirty": bool(git("status", "--porcelain")),
           "cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release()}, open(sys.argv[1], "w"))
EOF

# The machine's limits, sampled before the first family and after each one: on this shared VM the triad has read
# 37.9 to 83.4 GB/s minutes apart, so the floors use the median sample and the table shows the range.
log "machine limits (limits.cpp: g++ -O3 -march=native -fopenmp, OpenBLAS)"
g++ -O3 -march=native -fopenmp -I/usr/include/x86_64-linux-gnu/openblas-pthread "$here/limits.cpp" \
  -o "$build/compare_limits" -lopenblas || rm -f "$build/compare_limits"
sample_limits() {  # sample_limits K
  if [[ -x $build/compare_limits ]]; then
    "$build/compare_limits" > "$out/limits.$1.json" || missing "limits run failed" "$out/limits.$1.json"
  else
    missing "limits.cpp did not build" "$out/limits.$1.json"
  fi
}
sample_limits 0

venv=$build/jax-venv
if ! "$venv/bin/python" -c 'import jax' 2>/dev/null; then
  log "installing jax[cpu] into $venv"
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q "jax[cpu]"; } > "$out/jax-install.log" 2>&1 \
    || log "jax install failed, see $out/jax-install.log"
fi
# folx (JAX's forward Laplacian, a peer of the taylor family): without its dependencies, which would pin another
# jax; jaxtyping is the one it imports.
if [[ -x $venv/bin/python ]] && ! "$venv/bin/python" -c 'import folx' 2>/dev/null; then
  log "installing folx into $venv"
  "$venv/bin/pip" install -q --no-deps folx >> "$out/jax-install.log" 2>&1 \
    && "$venv/bin/pip" install -q jaxtyping >> "$out/jax-install.log" 2>&1 \
    || log "folx install failed, see $out/jax-install.log (the taylor family records folx as skipped)"
fi

# dydx from Python (the perop and seed families): the package in build-python/venv, installed there by
# scripts/test_python.sh when missing.
pyvenv=$root/build-python/venv
if ! "$pyvenv/bin/python" -c 'import dydx' 2>/dev/null; then
  log "installing the dydx Python package into $pyvenv"
  "$root/scripts/test_python.sh" --install-only > "$out/python-install.log" 2>&1 \
    || log "the Python package did not install, see $out/python-install.log"
fi

# Each tool and family runs in a fresh process (a process's heap history changes large-buffer timings), the
# tools one after another per family so that slow drift in machine load hits all of them alike.
run_tool() {  # run_tool NAME FAMILY COMMAND...
  local name=$1 family=$2
  shift 2
  log "$name $family"
  "$@" "$family" > "$out/$name.$family.json" 2> "$out/$name.$family.err" \
    || missing "$name failed on $family: $(tail -n 1 "$out/$name.$family.err")" "$out/$name.$family.json"
}
for family in "${families[@]}"; do
  run_tool dydx "$family" "$build/bench/compare_dydx"
  if [[ $family == vmap || $family == taylor ]]; then  # vmap and the transforms exist only in Python (functorch)
    missing "libtorch 1.13's C++ API has no vmap or function transforms (functorch is Python only)" \
      "$out/libtorch.$family.json"
  elif [[ -x $build/bench/compare_libtorch ]]; then
    run_tool libtorch "$family" "$build/bench/compare_libtorch"
  else
    missing "libtorch not found by CMake's find_package(Torch) (Debian: apt-get install libtorch-dev)" \
      "$out/libtorch.$family.json"
  fi
  if /usr/bin/python3 -c 'import torch, functorch' 2>/dev/null; then
    run_tool torch "$family" /usr/bin/python3 "$here/peers_torch.py"
  else
    missing "/usr/bin/python3 cannot import torch and functorch (Debian: apt-get install python3-torch)" \
      "$out/torch.$family.json"
  fi
  if [[ $family == perop || $family == seed ]]; then
    if "$pyvenv/bin/python" -c 'import dydx' 2>/dev/null; then
      run_tool dydx_py "$family" "$pyvenv/bin/python" "$here/peers_dydx_python.py"
    else
      missing "the dydx Python package is not installed in $pyvenv (see $out/python-install.log)" \
        "$out/dydx_py.$family.json"
    fi
  fi
  if "$venv/bin/python" -c 'import jax' 2>/dev/null; then
    run_tool jax "$family" "$venv/bin/python" "$here/peers_jax.py"
  else
    missing "jax[cpu] could not be installed into $venv (see $out/jax-install.log)" "$out/jax.$family.json"
  fi
  log "machine limits, again"
  sample_limits "$family"
done

# dydx with 1 and with 2 threads (DYDX_NUM_THREADS; dydx also splits matrix products across its pool, with OpenBLAS on
# one thread, as long as OPENBLAS_NUM_THREADS is unset, so that is left alone): the large workloads, which should
# speed up, and the tiny ones, which should not slow down.
large='chain|sum/dim[01]|mean/dim[01]|seed/f32/(100000|1000000)x64|mlp/(forward|jacobian|laplacian)/100000'
tiny='perop|seed/f32/(2x2|1000x16)|pinn/f64/step'
for family in perop seed mlp kernels; do  # 1 then 2 threads per family, so that drift in load hits both alike
  for threads in 1 2; do
    log "dydx $family, $threads thread(s)"
    DYDX_NUM_THREADS=$threads "$build/bench/compare_dydx" "$family" "^($large|$tiny)\$" > "$out/threads$threads.$family.json" \
      2> "$out/threads$threads.$family.err" \
      || missing "compare_dydx failed: $(tail -n 1 "$out/threads$threads.$family.err")" "$out/threads$threads.$family.json"
  done
done

# Peak resident memory of batch_jacobian at (10^6, 64) f32, whole batch and in slices of 16384 rows, and of the
# same program that only builds x.
if [[ ! -x /usr/bin/time ]] && (( EUID == 0 )); then
  log "installing GNU time (apt-get install time)"
  apt-get install -y -qq time > "$out/time-install.log" 2>&1
fi
for mode in baseline jacobian chunked; do
  if [[ -x /usr/bin/time ]]; then
    log "memory: compare_memory $mode"
    /usr/bin/time -v "$build/bench/compare_memory" "$mode" > "$out/memory.$mode.json" 2> "$out/memory.$mode.time" \
      || missing "compare_memory $mode failed" "$out/memory.$mode.json"
  else
    missing "/usr/bin/time is not installed (apt-get install time)" "$out/memory.$mode.json"
  fi
done

log "done in $(( $(date +%s) - start )) s"
python3 "$here/table.py" "$out" "$(( $(date +%s) - start ))" | tee "$out/table.md"
