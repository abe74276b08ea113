"""sort, topk, kthvalue and median against PyTorch in one process, one thread each: the best of 15 calls
(the sweep's means move with the shared VM's load). Inputs [800, 800], standard normal or uniform.

    build-python/venv/bin/python bench/compare/selections.py
"""

import numpy as np
import torch

import dydx
from timing import best_ms

CASES = {
    "sort(1)": lambda t: t.sort(1),
    "sort(0)": lambda t: t.sort(0),
    "topk(10, 1)": lambda t: t.topk(10, 1),
    "topk(10, 1, smallest)": lambda t: t.topk(10, 1, False),
    "kthvalue(400, 1)": lambda t: t.kthvalue(400, 1),
    "median(1)": lambda t: t.median(1),
    "median()": lambda t: t.median(),
}


def main():
    torch.set_num_threads(1)
    dydx.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"PyTorch {torch.__version__}, dydx, one thread each, [800, 800]; PyTorch's time over dydx's")
    for dtype in (np.float32, np.float64):
        for data in ("normal", "uniform"):
            a = (rng.standard_normal((800, 800)) if data == "normal" else rng.random((800, 800))).astype(dtype)
            ours, theirs = dydx.from_numpy(a.copy()), torch.from_numpy(a.copy())
            for name, f in CASES.items():
                d, t = best_ms(lambda: f(ours), 15), best_ms(lambda: f(theirs), 15)
                print(f"  {t / d:5.2f}x  {name:22s} {dtype.__name__:8s} {data:8s} dydx {d:8.3f} ms  PyTorch {t:8.3f} ms")


if __name__ == "__main__":
    main()
