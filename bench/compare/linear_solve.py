"""linalg.solve and linalg.inv, dydx against PyTorch 1.13 in one process, on one thread and on every
core: the best of REPEATS calls in milliseconds, and dydx's time over PyTorch's (a ratio above 1.00 is
a workload where dydx is behind). Large systems (LAPACK's blocked LU dominates), batches of small ones
(per-system overhead dominates), and the backward of a solve (one more solve with A^T).

Run with the Python package's venv, which sees Debian's python3-torch (scripts/test_python.sh builds it):
    build-python/venv/bin/python bench/compare/linear_solve.py [REPEATS]
"""

import os
import sys

import numpy as np
import torch

import dydx
import timing

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
CORES = os.cpu_count()


def best_ms(f):
    return timing.best_ms(f, REPEATS)


def systems(rng, batch, n, k, dtype):
    a = rng.uniform(-1, 1, size=batch + (n, n)) + n ** 0.5 * np.eye(n)
    b = rng.standard_normal(batch + ((n, k) if k else (n,)))
    return a.astype(dtype), b.astype(dtype)


CASES = [
    ("inv 512", (), 512, None), ("solve 1024, 16 rhs", (), 1024, 16), ("inv 10^4 x 4x4", (10000,), 4, None),
    ("solve 10^4 x 3x3, vector", (10000,), 3, 0), ("solve 100 x 32x32, 8 rhs", (100,), 32, 8),
]


def main():
    rng = np.random.default_rng(0)
    print(f"dydx from {dydx.__file__}; dydx BLAS kernel {dydx.blas_kernel()}")
    print(f"{'case':28s} {'dtype':8s} {'thr':>3s} {'dydx':>9s} {'torch':>9s} {'ratio':>6s}   "
          f"{'dydx bwd':>9s} {'torch bwd':>9s} {'ratio':>6s}")
    for threads in (1, CORES):
        torch.set_num_threads(threads)
        dydx.set_num_threads(threads)
        for name, batch, n, k in CASES:
            for dtype in ("float32", "float64"):
                a, b = systems(rng, batch, n, k, dtype)
                x, tx = dydx.from_numpy(a.copy()).requires_grad_(), torch.from_numpy(a.copy()).requires_grad_()
                if k is None:
                    run, trun = (lambda: dydx.linalg.inv(x)), (lambda: torch.linalg.inv(tx))
                else:
                    rhs, trhs = dydx.from_numpy(b.copy()), torch.from_numpy(b.copy())
                    run, trun = (lambda: dydx.linalg.solve(x, rhs)), (lambda: torch.linalg.solve(tx, trhs))
                with dydx.no_grad():
                    forward = best_ms(run)
                with torch.no_grad():
                    torch_forward = best_ms(trun)
                y, ty = run(), trun()
                g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
                cot, tcot = dydx.from_numpy(g.copy()), torch.from_numpy(g.copy())
                backward = best_ms(lambda: dydx.autograd.grad([y], [x], [cot], retain_graph=True))
                torch_backward = best_ms(lambda: torch.autograd.grad([ty], [tx], [tcot], retain_graph=True))
                print(f"{name:28s} {dtype:8s} {threads:3d} {forward:9.3f} {torch_forward:9.3f} {forward / torch_forward:6.2f}   "
                      f"{backward:9.3f} {torch_backward:9.3f} {backward / torch_backward:6.2f}")


if __name__ == "__main__":
    main()
