# Prints the bench/compare markdown tables from the dydx (Google Benchmark), PyTorch, JAX and limits JSON files.
"""Usage: table.py DYDX_JSON TORCH_JSON JAX_JSON LIMITS_JSON. A peer file that is absent or holds
{"missing": "..."} prints "missing" in its columns. Ratios are peer median / dydx median (> 1: dydx is faster)."""
import json
import sys

WORKLOADS = [  # (key in the peer JSON, Google Benchmark run_name prefix or None, label)
    ("seed/2/2", None, "seed y=(x^3)W per-sample jacobian, m=2 n=2"),
    ("seed/1000/16", "BM_SeedBatchJacobian/m:1000/n:16/", "seed y=(x^3)W per-sample jacobian, m=1000 n=16"),
    ("seed/100000/64", "BM_SeedBatchJacobian/m:100000/n:64/", "seed y=(x^3)W per-sample jacobian, m=100000 n=64"),
    ("mlp_forward/10000", "BM_MlpForward/B:10000/", "MLP 2-64-64-64-3 tanh forward, B=10^4"),
    ("mlp_jacobian/10000", "BM_MlpBatchJacobian/B:10000/", "MLP per-sample jacobian [B,3,2], B=10^4"),
    ("mlp_laplacian/10000", "BM_MlpLaplacian/B:10000/", "MLP Laplacian [B,3], B=10^4"),
]
SCALE = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"missing": f"{path}: {e}"}


def fmt(s):
    if s is None:
        return "n/a"
    for unit, k in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= k:
            v = s / k
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{s:.3g} s"


def ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}x"


def dydx_medians(d):
    out = {}
    for b in d.get("benchmarks", []):
        if b.get("aggregate_name") == "median" or (b.get("run_type") == "iteration" and b["run_name"] not in out):
            out[b["run_name"].rsplit("real_time", 1)[0]] = b["real_time"] * SCALE[b["time_unit"]]
    return out


def best(peer, key):
    cases = peer.get("cases", {}).get(key)
    if not cases:
        return None, None
    name = min(cases, key=lambda k: cases[k]["median_s"])
    return name, cases[name]["median_s"]


def main():
    dj, tj, jj, lj = (load(p) for p in sys.argv[1:5])
    dy = dydx_medians(dj)
    tmiss, jmiss = "missing" in tj, "missing" in jj
    rows = []
    print("| workload | dydx median | PyTorch best median (method) | JAX median (method) | PyTorch/dydx | JAX/dydx |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, bm, label in WORKLOADS:
        d = dy.get(bm) if bm else None
        tn, t = best(tj, key)
        jn, j = best(jj, key)
        tcell = "missing" if tmiss else f"{fmt(t)} ({tn})"
        jcell = "missing" if jmiss else f"{fmt(j)} ({jn})"
        print(f"| {label} | {fmt(d)} | {tcell} | {jcell} | "
              f"{'missing' if tmiss else ratio(t, d)} | {'missing' if jmiss else ratio(j, d)} |")
        rows.append((key, d))
    print()
    print("Every peer method (median; ratio = method / dydx):")
    print()
    print("| workload | library | method | median | min..max | reps x calls | /dydx |")
    print("|---|---|---|---:|---:|---:|---:|")
    for key, bm, label in WORKLOADS:
        d = dy.get(bm) if bm else None
        for lib, peer in (("PyTorch", tj), ("JAX", jj)):
            if "missing" in peer:
                print(f"| {key} | {lib} | missing | | | | |")
                continue
            for name, r in sorted(peer.get("cases", {}).get(key, {}).items(), key=lambda kv: kv[1]["median_s"]):
                print(f"| {key} | {lib} | {name} | {fmt(r['median_s'])} | {fmt(r['min_s'])}..{fmt(r['max_s'])} | "
                      f"{r['reps']} x {r['calls_per_rep']} | {ratio(r['median_s'], d)} |")
    print()
    if "missing" in lj:
        print(f"Machine limits: missing ({lj['missing']})")
    else:
        print(f"Machine limits: triad a = b + s*c on 2^25 floats, {lj['omp_threads']} OpenMP threads: "
              f"{lj['triad_gbs']:.1f} GB/s median ({lj['triad_best_gbs']:.1f} best), counted as STREAM does "
              f"(12 B per element: read b, read c, write a; no write-allocate); OpenBLAS sgemm 2048^3 "
              f"({lj['openblas_threads']} threads): {lj['sgemm_gflops']:.1f} GFLOP/s.")
        m, n = 100000, 64
        d = dy.get("BM_SeedBatchJacobian/m:100000/n:64/")
        floor = 2 * m * n * 4 / (lj["triad_gbs"] * 1e9)
        line = (f"Bandwidth floor of seed m={m} n={n}: 2*m*n*4 B = {2 * m * n * 4 / 1e6:.1f} MB written "
                f"(the [m,n] Jacobian and the [m,n] primal y), / triad bandwidth = {fmt(floor)}; ")
        line += f"dydx median {fmt(d)} = {d / floor:.1f}x the floor." if d else "dydx: n/a."
        _, j = best(jj, "seed/100000/64")
        if j:
            line += f" JAX (which writes only the Jacobian, since XLA drops the unused primal) = {j / floor:.2f}x."
        print()
        print(line)
    print()
    print(f"Threads: PyTorch {tj.get('version', '?')} torch.get_num_threads() = {tj.get('num_threads', '?')} "
          f"(default, not set); JAX {jj.get('version', '?')} on {jj.get('devices', '?')} with XLA defaults; "
          f"dydx: bench_transforms defaults.")
    if tmiss:
        print(f"PyTorch missing: {tj['missing']}")
    if jmiss:
        print(f"JAX missing: {jj['missing']}")


if __name__ == "__main__":
    main()
