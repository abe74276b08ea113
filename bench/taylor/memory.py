# Peak memory of every method of bench/compare's taylor family (dydx, functorch, JAX, folx), each in a fresh process.
"""Usage: python3 bench/taylor/memory.py [--tools=dydx,torch,jax] [LAPLACIAN_B [BIHARMONIC_B]]  (defaults 455 and
228, the largest batches run.sh times). Standard library only. Needs build-bench/bench/compare_dydx (bench/compare/run.sh
builds it), /usr/bin/python3 with torch and functorch, and build-bench/jax-venv (run.sh installs jax and folx
there); DYDX_BENCH_BUILD_DIR overrides build-bench.

Every method runs in a process of its own, started with COMPARE_MEMORY_METHOD=METHOD (harness.hpp's memory mode,
also in peer_report.py): the process builds the MLP and x, makes one checked call (the warm-up: it compiles under
JAX, fills dydx's block cache and lets every lazy initialisation happen), then hands back what its allocators keep
(dydx's empty_cache(), Python's gc, glibc's malloc_trim), reads VmRSS, resets VmHWM (echo 5 > /proc/self/clear_refs),
makes one more call and reads VmHWM. "peak over before" = VmHWM - VmRSS: the resident memory one call needs beyond
what was resident before it, whatever allocated it (tensors, BLAS buffers, an allocator's slack), measured the same
way in every tool. Cross-checks: dydx's exact peak of live tensor bytes over those live before the call
(memory_stats().peak_bytes), and XLA's compiled memory analysis (temp + output bytes) for JAX. The results go to
BUILD/compare-results/taylor-memory.json; the table to stdout."""
import json
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
compare = os.path.join(root, "bench", "compare")
sys.path.insert(0, compare)
from table import NESTED_AD  # noqa: E402  (the methods that are nested first-order AD)

build = os.environ.get("DYDX_BENCH_BUILD_DIR", os.path.join(root, "build-bench"))
TOOLS = [("dydx", [os.path.join(build, "bench", "compare_dydx")]),
         ("torch", ["/usr/bin/python3", os.path.join(compare, "peers_torch.py")]),
         ("jax", [os.path.join(build, "jax-venv", "bin", "python"), os.path.join(compare, "peers_jax.py")])]
MiB = 1 << 20


def run(tool, command, key, batch, method):
    """The cases of one fresh process (COMPARE_MEMORY_METHOD=method) for key, or {"failed": why}."""
    env = dict(os.environ, COMPARE_MEMORY_METHOD=method, DYDX_TAYLOR_BATCHES=str(batch))
    p = subprocess.run(command + ["taylor", f"^{key}$"], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or [""])[-1]
        return {"failed": f"{tool} exited {p.returncode}: {last}"}
    return json.loads(p.stdout)["cases"].get(key, {})


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--tools=")]
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--tools=")), None)
    tools = [(name, command) for name, command in TOOLS if only is None or name in only]
    lap_b = int(args[0]) if len(args) > 0 else 455
    bih_b = int(args[1]) if len(args) > 1 else 228
    keys = [(f"taylor/laplacian/D50/B{lap_b}", lap_b), (f"taylor/weighted_laplacian/D50/B{lap_b}", lap_b),
            (f"taylor/biharmonic/D5/B{bih_b}", bih_b)]
    results = {}
    for key, batch in keys:
        for tool, command in tools:
            listed = run(tool, command, key, batch, "?")
            if "failed" in listed:
                results.setdefault(key, {})[(tool, "?")] = listed
                continue
            for method, entry in listed.items():
                if "listed" not in entry:  # skipped (folx not installed)
                    results.setdefault(key, {})[(tool, method)] = entry
                    continue
                print(f"[memory] {key} {tool} {method}", file=sys.stderr, flush=True)
                results.setdefault(key, {})[(tool, method)] = run(tool, command, key, batch, method).get(
                    method, {"failed": "no result"})

    out = os.path.join(build, "compare-results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "taylor-memory.json"), "w") as f:
        json.dump({key: {f"{t}/{m}": e for (t, m), e in rows.items()} for key, rows in results.items()}, f, indent=1)

    print("Peak memory of one call beyond what was resident before it (VmHWM - VmRSS, in a fresh process after one "
          "warm-up call, allocators' caches handed back first; bench/taylor/memory.py), MiB. Cross-checks: dydx's "
          "exact peak of live tensor bytes over those live before (memory_stats), XLA's compiled temp + output "
          "bytes (memory_analysis).")
    print()
    print("| workload | tool | method | kind | peak over before | resident before | cross-check | call |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    summary = []
    for key, _ in keys:
        peak = {}
        for (tool, method), e in results.get(key, {}).items():
            kind = "nested AD" if method in NESTED_AD else "Taylor mode"
            if "peak_over_before_bytes" not in e:
                state = e.get("failed", e.get("skipped", "?"))
                print(f"| {key} | {tool} | {method} | {kind} | {'FAILED' if 'failed' in e else 'skipped'}: {state} "
                      f"| | | |")
                continue
            peak[(tool, method)] = e["peak_over_before_bytes"]
            cross = ("dydx live " + f"{e['dydx_peak_bytes'] / MiB:.1f}" if "dydx_peak_bytes" in e
                     else "XLA " + f"{(e['xla_temp_bytes'] + e['xla_output_bytes']) / MiB:.1f}"
                     if e.get("xla_temp_bytes") is not None else "")
            print(f"| {key} | {tool} | {method} | {kind} | {e['peak_over_before_bytes'] / MiB:.1f} | "
                  f"{e['rss_before_bytes'] / MiB:.1f} | {cross} | {e['call_s'] * 1e3:.0f} ms |")
        summary.append((key, peak))

    print()
    print("Ratios (peak over before): each tool's best Taylor-mode method over its best nested-AD method, and dydx's "
          "operator over the best nested-AD method of the peers (issue 14's target: <= 0.5x).")
    print()
    print("| workload | dydx operator / dydx nested | JAX best Taylor mode (jet, folx) / JAX best nested | "
          "dydx operator / best nested peer (which) |")
    print("|---|---:|---:|---:|")
    for key, peak in summary:
        def best(tool, nested):
            v = [(b, m) for (t, m), b in peak.items() if t == tool and (m in NESTED_AD) == nested]
            return min(v) if v else (None, None)

        def ratio(a, b):
            return "n/a" if a is None or b is None else f"{a / b:.2f}x"
        d_op, d_nest = best("dydx", False)[0], best("dydx", True)[0]
        j_op, j_nest = best("jax", False)[0], best("jax", True)[0]
        peers = [(b, f"{t} {m}") for (t, m), b in peak.items() if t != "dydx" and m in NESTED_AD]
        p, pm = min(peers) if peers else (None, "missing")
        print(f"| {key} | {ratio(d_op, d_nest)} | {ratio(j_op, j_nest)} | {ratio(d_op, p)} ({pm}) |")


if __name__ == "__main__":
    main()
