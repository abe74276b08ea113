"""Every elementwise function and reduction that dydx and PyTorch both have, timed side by side in one
process on one thread: 640,000 elements (reductions: [800, 800], along dim 1 for softmax, log_softmax,
logsumexp and argmax; sum_column: [640000, 1] over dim 0; the SHAPED rows as they say), float32 and float64, inputs uniform in (0.05, 0.95) (acosh: 1.05 to 1.95).
Prints PyTorch's time over dydx's, slowest first: a row below 1.00x is a workload where dydx is behind.

Run with the Python package's venv, which sees Debian's python3-torch (scripts/test_python.sh builds it):
    build-python/venv/bin/python bench/compare/elementwise_sweep.py [name ...]
(names: only those rows, e.g. `asin acos`).
"""

import sys
import time

import numpy as np
import torch

import dydx

UNARY = ("abs neg exp exp2 expm1 log log2 log10 log1p sqrt rsqrt reciprocal sin cos tan asin acos atan sinh cosh tanh "
         "asinh acosh atanh sigmoid erf erfc floor ceil round trunc frac sign relu square nan_to_num").split()
BINARY = "add sub mul div pow atan2 hypot fmod remainder maximum minimum".split()
REDUCTIONS = "sum mean max min amax amin norm var std logsumexp softmax log_softmax argmax".split()
# Rows of their own, each a function of the [800, 800] input (torch's or dydx's).
SHAPED = {
    "amax_dim0": lambda t: t.amax(0),  # columns: a dim before others
    "cumsum": lambda t: t.cumsum(1),
    "flip": lambda t: t.flip(1),
    "flip_pairs": lambda t: t.reshape(N // 2, 2).flip(1),  # rows of two, reversed
    "transpose_copy": lambda t: t.t().contiguous(),  # [800, 800] transposed into rows
    "transpose_batch": lambda t: t.reshape(64, 100, 100).transpose(1, 2).contiguous(),
    "sort": lambda t: t.sort(1),  # 800 rows of 800
    "sort_dim0": lambda t: t.sort(0),  # down the columns
    "sort_flat": lambda t: t.reshape(-1).sort(),  # one row of 640,000
    "topk": lambda t: t.topk(10, 1),
    "kthvalue": lambda t: t.kthvalue(400, 1),
    "median_dim": lambda t: t.median(1),
    "median": lambda t: t.median(),
}
ALONG_DIM_1 = {"softmax", "log_softmax", "logsumexp", "argmax"}
N = 640000


def seconds_per_call(f):
    """The mean over at least 0.15 s and 3 calls, after one call to warm up."""
    f()
    start, calls = time.perf_counter(), 0
    while True:
        f()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed > 0.15 and calls >= 3:
            return elapsed / calls


def main():
    torch.set_num_threads(1)
    dydx.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for dtype in ("float32", "float64"):
        a = (rng.random(N) * 0.9 + 0.05).astype(dtype)
        b = (rng.random(N) * 0.9 + 0.05).astype(dtype)
        ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
        da, db = dydx.from_numpy(a.copy()), dydx.from_numpy(b.copy())
        ta2, da2 = ta.reshape(800, 800), da.reshape([800, 800])
        for name in UNARY + BINARY + REDUCTIONS + list(SHAPED) + ["sum_column"]:
            if sys.argv[1:] and name not in sys.argv[1:]:
                continue
            if name == "sum_column":  # a [640000, 1] column summed over its rows
                tc, dc = ta.reshape(N, 1), da.reshape([N, 1])
                theirs, ours = (lambda: tc.sum(0)), (lambda: dc.sum(0))
            elif name in SHAPED:
                theirs, ours = (lambda: SHAPED[name](ta2)), (lambda: SHAPED[name](da2))
            elif name in BINARY:
                theirs, ours = (lambda: getattr(torch, name)(ta, tb)), (lambda: getattr(da, name)(db))
            elif name in REDUCTIONS:
                args = (1,) if name in ALONG_DIM_1 else ()
                theirs, ours = (lambda: getattr(ta2, name)(*args)), (lambda: getattr(da2, name)(*args))
            else:
                x = a + 1.0 if name == "acosh" else a
                tx, dx = torch.from_numpy(x.copy()), dydx.from_numpy(x.copy())
                theirs, ours = (lambda: getattr(tx, name)()), (lambda: getattr(dx, name)())
            t_dydx, t_torch = seconds_per_call(ours), seconds_per_call(theirs)
            rows.append((t_torch / t_dydx, name, dtype, t_dydx * 1e6, t_torch * 1e6))
    print(f"PyTorch {torch.__version__}, dydx, one thread each, {N} elements")
    for ratio, name, dtype, ours, theirs in sorted(rows):
        print(f"{ratio:6.2f}x  {name:12s} {dtype:8s} dydx {ours:9.1f} us  PyTorch {theirs:9.1f} us")


if __name__ == "__main__":
    main()
