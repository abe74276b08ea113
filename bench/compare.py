#!/usr/bin/env python3
"""Prints a side-by-side table of dydx and libtorch medians from Google Benchmark JSON files."""
import argparse
import json
import re
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Readable workload names; the keys are run names with Google Benchmark's option suffixes removed.
LABELS = {
    "BM_PerOpOverhead": "per-op: ((a*b+a).sin()*b).sum() fwd+bwd, 1 elem",
    "BM_SeedMethod1/m:2/n:2": "seed method 1, m=2 n=2",
    "BM_SeedMethod1/m:1000/n:16": "seed method 1, m=1000 n=16",
    "BM_SeedMethod1/m:100000/n:64": "seed method 1, m=100000 n=64",
    "BM_Matmul": "matmul 1024x1024 f32",
    "BM_ElementwiseChain": "10-op elementwise chain, 2^24 f32",
}

# Counters worth a column of their own, with how to print them.
COUNTERS = {
    "per_op": ("per op", lambda v: fmt_time(v * 1e9)),
    "per_column": ("per column", lambda v: fmt_time(v * 1e9)),
    "FLOPS": ("GFLOP/s", lambda v: f"{v / 1e9:.1f}"),
    "bytes_per_second": ("GB/s", lambda v: f"{v / 1e9:.2f}"),
}


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.0f} {unit}"
    return f"{ns:.3g} ns"


def workload_key(run_name):
    return re.sub(r"/(iterations:\d+|min_time:[\d.]+|real_time|repeats:\d+)", "", run_name)


def load_medians(paths, suffix=""):
    """Maps workload key -> (median real time in ns, cv of real time, {counter: median}) over all files;
    files that are absent (e.g. libtorch not built) are skipped. Also returns the first file's context."""
    out, context = {}, {}
    for path in paths or []:
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            continue
        context = context or data.get("context", {})
        cvs = {}
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "cv":
                cvs[workload_key(b["run_name"])] = b["real_time"]
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "aggregate" or b.get("aggregate_name") != "median":
                continue
            key = workload_key(b["run_name"])
            counters = {name: b[name] for name in COUNTERS if name in b}
            out[key + suffix] = (b["real_time"] * UNIT_NS[b["time_unit"]], cvs.get(key), counters)
    return out, context


def table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dydx", nargs="+", required=True, help="JSON files from bench_dydx with default threads")
    p.add_argument("--libtorch", nargs="*", help="JSON files from bench_libtorch with default threads")
    p.add_argument("--dydx-1t", nargs="*", help="JSON files from bench_dydx run with one BLAS/OpenMP thread")
    p.add_argument("--libtorch-1t", nargs="*", help="JSON files from bench_libtorch run with one BLAS/OpenMP thread")
    a = p.parse_args()

    dydx, dctx = load_medians(a.dydx)
    torch, tctx = load_medians(a.libtorch)
    dydx.update(load_medians(a.dydx_1t, " [1 thread]")[0])
    torch.update(load_medians(a.libtorch_1t, " [1 thread]")[0])
    if not dydx:
        sys.exit(f"no medians in {a.dydx}")

    def label(key):
        base, _, tag = key.partition(" [")
        return LABELS.get(base, base) + (" [" + tag if tag else "")

    def ratio(t, d):
        return f"{t / d:.2f}x" if t and d else "n/a"

    def cv(c):
        return f"{100 * c:.1f}%" if c is not None else "n/a"

    rows = [["workload", "dydx median", "cv", "libtorch median", "cv", "libtorch/dydx"]]
    extra = [["workload", "counter", "dydx", "libtorch", "libtorch/dydx"]]

    def order(key):
        base, _, tag = key.partition(" [")
        return (tag, list(LABELS).index(base) if base in LABELS else len(LABELS), key)

    for key in sorted(set(dydx) | set(torch), key=order):
        d, dcv, dc = dydx.get(key, (None, None, {}))
        t, tcv, tc = torch.get(key, (None, None, {}))
        rows.append([label(key), fmt_time(d) if d else "n/a", cv(dcv), fmt_time(t) if t else "n/a", cv(tcv),
                     ratio(t, d)])
        for name, (title, show) in COUNTERS.items():
            if name in dc or name in tc:
                dv, tv = dc.get(name), tc.get(name)
                # For throughputs a higher number is better, so the ratio is flipped to keep >1 meaning dydx wins.
                r = ratio(tv, dv) if name in ("per_op", "per_column") else ratio(dv, tv)
                extra.append([label(key), title, show(dv) if dv else "n/a", show(tv) if tv else "n/a", r])

    print("Median wall time per iteration over the repetitions, with the coefficient of variation (ratio > 1: dydx is faster)\n")
    print(table(rows))
    print("\nMedian counters (ratio > 1: dydx is better)\n")
    print(table(extra))

    per_op = "BM_PerOpOverhead"
    if per_op in dydx and per_op in torch:
        r = torch[per_op][0] / dydx[per_op][0]
        print(f"\nPer-op overhead target (libtorch/dydx >= 5x): {r:.2f}x -> {'MET' if r >= 5 else 'NOT MET'}")
    if "torch_num_threads" in tctx:
        print(f"libtorch intra-op threads (at::get_num_threads, default run): {tctx['torch_num_threads']}")
    if dctx.get("library_build_type") == "debug":
        print("note: the installed Google Benchmark library reports a debug build; this affects the harness, not the measured code")


if __name__ == "__main__":
    main()
