# Prints the bench/compare markdown tables from the JSON files that run.sh leaves in its results folder.
"""Usage: table.py RESULTS_DIR [ELAPSED_S]. Standard library only. Reads TOOL.FAMILY.json for the four tools,
threads{1,2}.FAMILY.json, memory.*.{json,time}, limits.*.json and meta.json. A file holding {"missing": why} prints
"missing" in that tool's cells; a case holding {"failed": why} or {"skipped": why} prints that. Ratios are
peer median / dydx median (> 1: dydx is faster); dydx/floor is dydx's median over the floor of the model below."""
import glob
import json
import os
import re
import statistics
import sys

TOOLS = [("libtorch", "libtorch (C++)"), ("torch", "PyTorch"), ("jax", "JAX (jit)")]
FAMILIES = ["perop", "seed", "mlp", "kernels", "conv", "train", "vmap", "taylor"]
SEED_SHAPES = [(2, 2), (1000, 16), (100000, 64), (1000000, 64)]
MLP_WHAT = [("forward", "forward"), ("jacobian", "per-sample jacobian [B,3,2]"), ("laplacian", "Laplacian [B,3]"),
            ("train", "training step: grad of mean((lap-target)^2) w.r.t. weights")]
WORKLOADS = ([("perop", "per-op: ((a*b+a).sin()*b).sum() fwd+bwd, 1 elem")]
             + [(f"seed/{dt}/{m}x{n}", f"seed y=(x^3)W per-sample jacobian {dt}, m={m} n={n}")
                for dt in ("f32", "f64") for m, n in SEED_SHAPES]
             + [(f"mlp/{w}/{B}", f"MLP 2-64-64-64-3 tanh {label}, B={B}") for B in (10000, 100000) for w, label in MLP_WHAT]
             + [("pinn/f64/step", "PINN training step (examples/pinn_poisson): 2-32-32-1 tanh f64, 1024+128 points, "
                                  "Laplacian loss, backward, Adam")]
             + [("chain", "10-op elementwise chain, 2^24 f32")]
             + [(f"act/{f}", f"{f}{' of abs(x)' if f == 'log1p' else ''} on [10^4, 64] f32, x in [-3, 3]")
                for f in ("exp", "expm1", "log1p", "sin", "tan", "tanh", "sigmoid", "silu", "softplus", "gelu", "erf")]
             + [(f"act/{f}", f"{f} along dim 1 of [10^4, 64] f32, x in [-3, 3]")
                for f in ("softmax", "log_softmax", "logsumexp")]
             + [(f"grad/{g}", f"d/dx of {label}, x [10^4, 64] f32 in [-3, 3], fwd+bwd")
                for g, label in (("silu", "silu(x).sum()"), ("gelu", "gelu(x).sum()"), ("tanh", "tanh(x).sum()"),
                                 ("sigmoid", "sigmoid(x).sum()"), ("softplus", "softplus(x).sum()"),
                                 ("clamp", "clamp(x, -1, 1).sum()"), ("square", "pow(x, 2).sum()"),
                                 ("mse_loss", "mse_loss(x, target)"), ("cross_entropy", "cross_entropy(x, labels)"),
                                 ("layer_norm", "(layer_norm(x, [64]) * target).sum()"))]
             + [(f"{op}/dim{d}", f"{op} over dim {d} of [4096,4096] f32") for op in ("sum", "mean") for d in (0, 1)]
             + [("gemm/f32", "sgemm 2048^3"), ("gemm/f64", "dgemm 2048^3")]
             + [(f"conv/{c}x{oc}x{hw}", f"conv2d fwd+bwd f32, batch 32, {c}->{oc} ch, {hw}x{hw}, k3 pad1")
                for c, oc, hw in ((1, 16, 28), (16, 32, 14))]
             + [("train/cnn", "CNN training step f32: conv 1->16, relu, maxpool, conv 16->32, relu, maxpool, linear "
                              "1568->10 on [32,1,28,28]; cross_entropy, backward, Adam"),
                ("train/mlp", "MLP training step f32: 784-256-256-10 relu on [128,784]; cross_entropy, backward, "
                              "Adam")]
             + [(f"persample/{net}/B{B}", f"per-sample gradients f32, vmap(grad(loss)) w.r.t. all parameters: {what}, "
                                          f"B={B}")
                for net, what in (("mlp", "MLP 784-128-relu-10"),
                                  ("cnn", "CNN conv 1->8 3x3 pad 1, relu, maxpool 2, linear 1568->10 on [1,28,28]"))
                for B in (64, 1024)]
             + [("ntk/mlp", "empirical NTK f32, vmap(jacrev) w.r.t. all parameters + contraction: MLP 16-64-64-10 "
                            "tanh, [32,16] x [16,16] -> [32,16,10,10]")]
             + [(f"vmap_vs_batch_jacobian/{f}", f"dydx only: vmap(jacrev(f)), vmap(jacfwd(f)) and batch_jacobian(f, x), "
                                                f"{what}")
                for f, what in (("mlp/10000", "MLP 2-64-64-64-3 tanh, B=10000"),
                                ("mlp/100000", "MLP 2-64-64-64-3 tanh, B=100000"),
                                ("seed/100000x64", "seed y=(x^3)W f32, m=100000 n=64"))])
# The taylor family's operators; its keys add the batch, taylor/OP/B<rows> (the batches are harness.hpp's
# kTaylor*Batches or DYDX_TAYLOR_BATCHES), so its rows are the keys found in the results (taylor_workloads).
TAYLOR_OPS = [("laplacian/D50",
               "Laplacian per row, MLP tanh 50-768-768-512-512-1 f32 (Dangel et al. 2025), x [{B},50]"),
              ("weighted_laplacian/D50", "tr(sigma sigma^T Hessian) per row, sigma [50,25], same MLP, x [{B},50]"),
              ("biharmonic/D5", "biharmonic per row, MLP tanh 5-768-768-512-512-1 f32, x [{B},5]")]
ALL_WORKLOADS = list(WORKLOADS)  # the threads section's rows, whichever families the main table ran

# MLP matmul FLOPs per sample in the forward pass: 2 * (2*64 + 64*64 + 64*64 + 64*3).
MLP_FLOPS_PER_SAMPLE = 2 * (2 * 64 + 64 * 64 + 64 * 64 + 64 * 3)
# Passes of that work each MLP workload needs at least (README: the floor model).
MLP_PASSES = {"forward": 1, "jacobian": 3, "laplacian": 4, "train": 12}
CHAIN_BYTES = (1 << 24) * (7 * 8 + 3 * 12)  # 7 unary ops read 4 B and write 4 B, 3 binary ops read 8 B, write 4 B
REDUCE_BYTES = 4096 * 4096 * 4 + 4096 * 4  # read the matrix once, write one row or column
# Forward FLOPs of each product of the train family's models (2 * batch * in * out * kernel area * output area).
TRAIN_LAYER_FLOPS = {"train/cnn": [2 * 32 * 1 * 16 * 9 * 28 * 28, 2 * 32 * 16 * 32 * 9 * 14 * 14, 2 * 32 * 1568 * 10],
                     "train/mlp": [2 * 128 * 784 * 256, 2 * 128 * 256 * 256, 2 * 128 * 256 * 10]}


def floor(key, lim):
    """(seconds, model) the workload needs at least on this machine, or (None, why)."""
    if "missing" in lim:
        return None, "limits missing"
    bw, sg, dg = lim["triad_gbs"] * 1e9, lim["sgemm_gflops"] * 1e9, lim["dgemm_gflops"] * 1e9
    if key.startswith("seed/"):
        _, dt, shape = key.split("/")
        m, n = map(int, shape.split("x"))
        size = 4 if dt == "f32" else 8
        return size * (m + n + m * n) / bw, "bytes"
    if key.startswith("mlp/"):
        _, what, B = key.split("/")
        return MLP_PASSES[what] * MLP_FLOPS_PER_SAMPLE * int(B) / sg, "flops"
    if key == "chain":
        return CHAIN_BYTES / bw, "bytes"
    if key.startswith(("sum/", "mean/")):
        return REDUCE_BYTES / bw, "bytes"
    if key.startswith("gemm/"):
        return 2 * 2048 ** 3 / (sg if key.endswith("f32") else dg), "flops"
    if key in TRAIN_LAYER_FLOPS:  # forward, weight gradients, input gradients (none for the input itself)
        layers = TRAIN_LAYER_FLOPS[key]
        return (3 * sum(layers) - layers[0]) / sg, "flops"
    return None, "none"


def load_limits(out):
    """The median of the limit samples taken across the run (each figure on its own), with their ranges."""
    samples = [load(p) for p in sorted(glob.glob(os.path.join(out, "limits.*.json")))]
    good = [s for s in samples if "missing" not in s]
    if not good:
        return samples[0] if samples else {"missing": "no limits sample"}
    lim = dict(good[0])
    for name in ("triad_gbs", "triad_best_gbs", "sgemm_gflops", "dgemm_gflops"):
        values = sorted(s[name] for s in good)
        lim[name] = statistics.median(values)
        lim[name + "_range"] = (values[0], values[-1])
    lim["samples"] = len(good)
    return lim


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"missing": f"{os.path.basename(path)}: {e}"}


def load_tool(out, name):
    """Cases of all families merged; missing[family] = why, for families whose file says missing."""
    cases, missing, meta = {}, {}, {}
    for family in FAMILIES:
        d = load(os.path.join(out, f"{name}.{family}.json"))
        if "missing" in d:
            missing[family] = d["missing"]
            continue
        cases.update(d.get("cases", {}))
        meta.update({k: v for k, v in d.items() if k != "cases"})
    return {"cases": cases, "missing": missing, "meta": meta}


def family_of(key):
    return {"perop": "perop", "seed": "seed", "mlp": "mlp", "pinn": "mlp", "conv": "conv", "train": "train",
            "persample": "vmap", "ntk": "vmap", "vmap_vs_batch_jacobian": "vmap",
            "taylor": "taylor"}.get(key.split("/")[0], "kernels")


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


def best(tool, key, eager_only=True):
    """(median, method, cell text) of the fastest method that ran; the cell says missing/failed/skipped otherwise.
    dydx's func::compile rows ("compiled") are left to compile_targets unless eager_only is False."""
    if family_of(key) in tool["missing"]:
        return None, None, "missing"
    methods = tool["cases"].get(key)
    if not methods:
        return None, None, "not measured"
    ran = {m: r for m, r in methods.items() if "median_s" in r and (m != "compiled" or not eager_only)}
    if not ran:
        return None, None, "; ".join(f"{m}: FAILED ({r['failed']})" if "failed" in r else f"{m}: skipped ({r['skipped']})"
                                     for m, r in methods.items())
    m = min(ran, key=lambda k: ran[k]["median_s"])
    return ran[m]["median_s"], m, f"{fmt(ran[m]['median_s'])} ({m})"


def check_cell(r, ref, key):
    """The method's checksum against dydx's: sums of |result| over the same inputs (harness.hpp)."""
    if ref is None or "check" not in r:
        return ""
    rel = abs(r["check"] - ref) / max(abs(ref), 1e-30)
    tol = 1e-6 if "/f64" in key else 1e-3
    return f"{rel:.0e} {'ok' if rel <= tol else 'DIFFERS'}"


def same_method(tool, key, method):
    """(median, cell text) of one method of a workload."""
    if family_of(key) in tool["missing"]:
        return None, "missing"
    r = tool["cases"].get(key, {}).get(method)
    if r is None:
        return None, "not measured"
    return (r["median_s"], "") if "median_s" in r else (None, "FAILED" if "failed" in r else "skipped")


def compile_targets(dydx, peers):
    """Issue 16's func::compile targets, from this run: each workload dydx also ran compiled, against eager dydx
    and the best JAX method (every main-table row >= 1.0x JAX; the MLP per-sample Jacobian at B = 10^4 >= 1.5x;
    the seed at (10^5, 64) f32 >= 1.2x; the 10-op chain >= 2x eager)."""
    rows = [(key, label) for key, label in WORKLOADS if "compiled" in dydx["cases"].get(key, {})]
    if not rows:
        return
    targets = {"mlp/jacobian/10000": ("JAX", 1.5), "seed/f32/100000x64": ("JAX", 1.2), "chain": ("eager", 2.0)}
    print("func::compile (issue 16, same run): dydx eager (its best method), dydx compiled, and the best JAX method:")
    print()
    print("| workload | dydx eager | dydx compiled | eager/compiled | JAX | JAX/compiled | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for key, label in rows:
        e, _, ecell = best(dydx, key)
        c, ccell = same_method(dydx, key, "compiled")
        j, _, jcell = best(peers["jax"], key) if "jax" in peers else (None, None, "missing")
        what, goal = targets.get(key, ("JAX", 1.0))
        got = (e / c if e and c else None) if what == "eager" else (j / c if j and c else None)
        verdict = "n/a" if got is None else f"{what}/compiled >= {goal}x: {'met' if got >= goal else 'NOT met'}"
        print(f"| {label} | {fmt(e) if e else ecell} | {fmt(c) if c else ccell} | {ratio(e, c) if e and c else 'n/a'} | "
              f"{jcell} | {ratio(j, c) if j and c else 'n/a'} | {verdict} |")
    print()


def python_targets(out, dydx, peers):
    """Issue 15's targets, from this run: the per-op overhead of dydx called from Python at least 1.5x lower than
    PyTorch's from Python, and batch_jacobian on the seed at (10^5, 64) from Python within 10% of the C++ call."""
    py = load_tool(out, "dydx_py")
    if not py["cases"] and not py["missing"]:
        return
    print()
    print("dydx from Python (the package in build-python/venv; same keys as the C++ program; targets: PyTorch/dydx "
          "(Python) >= 1.5x on perop, dydx (Python)/dydx (C++) <= 1.10x on seed/f32/100000x64):")
    print()
    print("| workload | dydx (C++) | dydx (Python) | PyTorch | PyTorch/dydx (Python) | dydx (Python)/dydx (C++) |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, _ in WORKLOADS:
        if family_of(key) not in ("perop", "seed"):
            continue
        # The same method in both of dydx's columns (C++ runs more methods on the seed than Python does).
        method = "fwd_bwd" if key == "perop" else "batch_jacobian"
        d, dcell = same_method(dydx, key, method)
        p, pcell = same_method(py, key, method)
        t, _, tcell = best(peers["torch"], key)
        show = lambda v, cell: fmt(v) if v is not None else cell  # noqa: E731
        print(f"| {key} | {show(d, dcell)} | {show(p, pcell)} | {show(t, tcell)} | "
              f"{ratio(t, p) if t is not None and p is not None else 'n/a'} | "
              f"{ratio(p, d) if p is not None and d is not None else 'n/a'} |")
    for family, why in py["missing"].items():
        print(f"- dydx (Python) missing for {family}: {why}")


def vmap_targets(dydx, peers):
    """Issue 13's targets, from this run: per-sample gradients and the NTK at least 1.5x faster than functorch and
    at least as fast as JAX; vmap(jacrev or jacfwd) of a row-wise f within 10% of batch_jacobian's time."""
    print()
    print("vmap targets (same run; ratio = peer median / dydx median, target >= 1.5x against PyTorch (functorch) and "
          ">= 1.0x against JAX):")
    print()
    print("| workload | dydx | PyTorch/dydx | JAX/dydx |")
    print("|---|---:|---:|---:|")
    for key, _ in WORKLOADS:
        if not key.startswith(("persample/", "ntk/")):
            continue
        d, _, dcell = best(dydx, key)
        cells = []
        for name in ("torch", "jax"):
            t, _, cell = best(peers[name], key)
            cells.append(ratio(t, d) if t is not None and d is not None else cell if t is None else "dydx n/a")
        print(f"| {key} | {fmt(d) if d is not None else dcell} | " + " | ".join(cells) + " |")
    print()
    print("vmap against batch_jacobian, the same Jacobian of the same row-wise f and x (dydx; target: vmap within 10% "
          "of batch_jacobian, ratio <= 1.10x):")
    print()
    print("| workload | batch_jacobian | vmap(jacrev) | vmap(jacfwd) | jacrev/batch_jacobian | jacfwd/batch_jacobian |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, _ in WORKLOADS:
        if not key.startswith("vmap_vs_batch_jacobian/"):
            continue
        methods = dydx["cases"].get(key, {})
        t = {m: methods.get(m, {}).get("median_s") for m in ("batch_jacobian", "vmap_jacrev", "vmap_jacfwd")}
        cell = lambda m: fmt(t[m]) if t[m] is not None else ("FAILED" if "failed" in methods.get(m, {}) else "missing")
        print(f"| {key} | {cell('batch_jacobian')} | {cell('vmap_jacrev')} | {cell('vmap_jacfwd')} | "
              f"{ratio(t['vmap_jacrev'], t['batch_jacobian'])} | {ratio(t['vmap_jacfwd'], t['batch_jacobian'])} |")


# The methods of the taylor family that are nested first-order AD (the others are Taylor mode: dydx's operators,
# JAX's jet, folx's forward Laplacian).
NESTED_AD = {"nested_hessian_trace", "vmap_hessian_trace", "vmap_nested_hessian_trace", "hessian_trace", "hvp_trace"}


def taylor_workloads(tools):
    """(key, label) of every taylor key in any tool's results, by operator, then batch."""
    keys = {key for tool in tools for key in tool["cases"] if key.startswith("taylor/")}
    rows = []
    for op, label in TAYLOR_OPS:
        batches = sorted(int(k.rsplit("/B", 1)[1]) for k in keys if k.startswith(f"taylor/{op}/B"))
        rows += [(f"taylor/{op}/B{B}", label.format(B=B)) for B in batches]
    return rows


def taylor_targets(dydx, peers):
    """Issue 14's targets, from this run: the exact operators at most 0.5x the time of the best nested first-order
    AD method of any tool (dydx's own included) and at least 2x faster than the best JAX method (jet and folx
    included)."""
    print()
    print("Taylor-mode targets (same run; dydx's operator against the best nested-AD method of any tool, target <= 0.5x; "
          "the best JAX method (jet and folx included) against dydx, target >= 2x):")
    print()
    print("| workload | dydx operator | best nested AD | operator / nested AD | best JAX | JAX / dydx |")
    print("|---|---:|---:|---:|---:|---:|")
    tools = {"dydx": dydx, **peers}
    for key, _ in WORKLOADS:
        if not key.startswith("taylor/"):
            continue
        operator = {"laplacian", "weighted_laplacian", "biharmonic"}
        d = [r["median_s"] for m, r in dydx["cases"].get(key, {}).items() if m in operator and "median_s" in r]
        nested = [(r["median_s"], f"{name} {m}") for name, tool in tools.items()
                  for m, r in tool["cases"].get(key, {}).items() if m in NESTED_AD and "median_s" in r]
        j, jm, jcell = best(peers["jax"], key)
        dt = d[0] if d else None
        nt, nm = min(nested) if nested else (None, "missing")
        print(f"| {key} | {fmt(dt)} | {fmt(nt)} ({nm}) | {ratio(dt, nt)} | {jcell} | {ratio(j, dt)} |")


def main():
    out = sys.argv[1]
    elapsed = sys.argv[2] if len(sys.argv) > 2 else None
    meta, lim = load(os.path.join(out, "meta.json")), load_limits(out)
    # Only the families this run ran (run.sh FAMILY... runs some): those with a dydx file, whatever it holds.
    ran = [f for f in FAMILIES if os.path.exists(os.path.join(out, f"dydx.{f}.json"))]
    FAMILIES[:] = ran
    WORKLOADS[:] = [(key, label) for key, label in WORKLOADS if family_of(key) in ran]
    dydx = load_tool(out, "dydx")
    peers = {name: load_tool(out, name) for name, _ in TOOLS}
    if "taylor" in ran:
        WORKLOADS.extend(taylor_workloads([dydx, *peers.values()]))

    print(f"Run {meta.get('date', '?')}, dydx at {meta.get('commit', '?')}{' (uncommitted changes)' if meta.get('dirty') else ''}"
          f" (\"{meta.get('subject', '')}\"); {meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs"
          + (f"; whole run {elapsed} s" if elapsed else "") + ".")
    print()
    header = "| workload | dydx | dydx/floor | " + " | ".join(label for _, label in TOOLS) + " | " + \
             " | ".join(f"{label.split(' ')[0]}/dydx" for _, label in TOOLS) + " |"
    print(header)
    print("|---|---:|---:|" + "---:|" * (2 * len(TOOLS)))
    dydx_median = {}
    for key, label in WORKLOADS:
        d, dm, dcell = best(dydx, key)
        if d is None and key in dydx["cases"]:
            dcell = "FAILED: " + "; ".join(r.get("failed", r.get("skipped", "")) for r in dydx["cases"][key].values())
        dydx_median[key] = d
        f, _ = floor(key, lim)
        cells, ratios = [], []
        for name, _ in TOOLS:
            t, _, cell = best(peers[name], key)
            cells.append("dydx only" if key.startswith("vmap_vs_batch_jacobian/") and t is None else cell)
            ratios.append(ratio(t, d) if t is not None else ("missing" if cell == "missing" else "n/a"))
        dshow = fmt(d) if d is not None else dcell
        print(f"| {label} | {dshow} | {ratio(d, f) if f else 'n/a'} | " + " | ".join(cells) + " | " +
              " | ".join(ratios) + " |")
    print()
    for name, label in [("dydx", "dydx")] + TOOLS:
        tool = dydx if name == "dydx" else peers[name]
        for family, why in tool["missing"].items():
            print(f"- {label} missing for {family}: {why}")

    print()
    print("Every method (median of the repetitions; /dydx = method median / dydx median; check = relative difference "
          "of the result's checksum from dydx's):")
    print()
    print("| workload | tool | method | median | min..max | reps x calls | /dydx | check |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for key, _ in WORKLOADS:
        dref = next((r.get("check") for r in dydx["cases"].get(key, {}).values() if "check" in r), None)
        for name, label in [("dydx", "dydx")] + TOOLS:
            tool = dydx if name == "dydx" else peers[name]
            if family_of(key) in tool["missing"]:
                print(f"| {key} | {label} | missing | | | | | |")
                continue
            methods = tool["cases"].get(key, {})
            for m, r in sorted(methods.items(), key=lambda kv: kv[1].get("median_s", float("inf"))):
                if "median_s" not in r:
                    state = "FAILED" if "failed" in r else "skipped"
                    print(f"| {key} | {label} | {m} | {state} ({r.get('failed', r.get('skipped'))}) | | | | |")
                    continue
                print(f"| {key} | {label} | {m} | {fmt(r['median_s'])} | {fmt(r['min_s'])}..{fmt(r['max_s'])} | "
                      f"{r['reps']} x {r['calls_per_rep']} | {ratio(r['median_s'], dydx_median[key])} | "
                      f"{check_cell(r, dref, key)} |")

    print()
    compile_targets(dydx, peers)
    if "vmap" in ran:
        vmap_targets(dydx, peers)
    if "perop" in ran or "seed" in ran:
        python_targets(out, dydx, peers)
    if "taylor" in ran:
        taylor_targets(dydx, peers)

    print()
    if "missing" in lim:
        print(f"Machine limits: missing ({lim['missing']})")
    else:
        span = lambda name: "{:.1f}..{:.1f}".format(*lim[name + "_range"])
        print(f"Machine limits, the median of {lim['samples']} samples taken before the first family and after each "
              f"(range in parentheses): triad a = b + s*c on 2^25 floats, {lim['omp_threads']} OpenMP threads: "
              f"{lim['triad_gbs']:.1f} GB/s ({span('triad_gbs')}), counted as STREAM does "
              f"(12 B per element, no write-allocate); OpenBLAS {lim['gemm_n']}^3 ({lim['openblas_threads']} threads): "
              f"sgemm {lim['sgemm_gflops']:.1f} GFLOP/s ({span('sgemm_gflops')}), dgemm {lim['dgemm_gflops']:.1f} "
              f"GFLOP/s ({span('dgemm_gflops')}); OpenBLAS's own kernels here (libtorch's and PyTorch's): "
              f"{lim.get('openblas_core', '?')}, dydx's: {dydx['meta'].get('blas_kernel', '?')}. "
              "Floors (bench/compare/README.md): seed = (m + n + m*n) elements / triad; MLP = k * 17024 * B flops / "
              "sgemm, k = 1 forward, 3 jacobian, 4 Laplacian, 12 training step; chain = 92 B per element / triad; "
              "sum and mean = 64 MiB / triad; gemm = 2n^3 / gemm rate; "
              "train = the products' flops (forward, weight gradients, input gradients but the first layer's) / sgemm.")

    print()
    print("dydx threads (DYDX_NUM_THREADS = 1, then 2, OPENBLAS_NUM_THREADS unset so that dydx splits products; target: speedup "
          ">= 1.7x on the large workloads, and no slowdown (>= 1.0x within noise) on the tiny ones, the first rows):")
    print()
    print("| workload | 1 thread | 2 threads | speedup |")
    print("|---|---:|---:|---:|")
    t1, t2 = ({}, {})
    for threads, into in ((1, t1), (2, t2)):
        for path in glob.glob(os.path.join(out, f"threads{threads}.*.json")):
            d = load(path)
            for key, methods in d.get("cases", {}).items():
                into[key] = next((r for r in methods.values()), {})
    for key, label in ALL_WORKLOADS:
        if key not in t1 and key not in t2:
            continue
        a, b = t1.get(key, {}).get("median_s"), t2.get(key, {}).get("median_s")
        cell = lambda r, v: fmt(v) if v is not None else ("FAILED" if "failed" in r else "missing")
        print(f"| {label} | {cell(t1.get(key, {}), a)} | {cell(t2.get(key, {}), b)} | {ratio(a, b)} |")

    print()
    mem = {}
    for mode in ("baseline", "jacobian", "chunked"):
        d = load(os.path.join(out, f"memory.{mode}.json"))
        rss = None
        try:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(os.path.join(out, f"memory.{mode}.time")).read())
            rss = int(m.group(1)) * 1024 if m else None
        except OSError:
            pass
        mem[mode] = (d, rss)
    brss = mem["baseline"][1]
    base = f"{brss / 1e6:.1f} MB" if brss else "missing"
    print(f"Memory (/usr/bin/time -v, peak RSS, nothing subtracted; the same program building only x: {base}):")
    print()
    for mode, label in (("jacobian", "func::batch_jacobian(f, x)"),
                        ("chunked", "func::batch_jacobian(f, x, {.chunk_size = 16384})")):
        d, rss = mem[mode]
        if "missing" in d or rss is None:
            print(f"- {label}: missing ({d.get('missing', f'no peak RSS in memory.{mode}.time')})")
            continue
        size = d["output_plus_input_bytes"]
        print(f"- {label} at (10^6, 64) f32: {rss / 1e6:.1f} MB; output [m,n,1] plus input [m,1] {size / 1e6:.1f} MB; "
              f"ratio {rss / size:.2f}x (target <= 1.5x)")

    print()
    threads = [f"libtorch {peers['libtorch']['meta'].get('version', '?')} get_num_threads() = "
               f"{peers['libtorch']['meta'].get('num_threads', '?')}",
               f"PyTorch {peers['torch']['meta'].get('version', '?')} get_num_threads() = "
               f"{peers['torch']['meta'].get('num_threads', '?')}",
               f"JAX {peers['jax']['meta'].get('version', '?')} on {peers['jax']['meta'].get('devices', '?')}"]
    print("Threads in the main table: every tool's defaults, nothing set (" + "; ".join(threads) + "; dydx "
          f"DYDX_NUM_THREADS='{dydx['meta'].get('DYDX_NUM_THREADS', '')}', OpenBLAS default).")


if __name__ == "__main__":
    main()
