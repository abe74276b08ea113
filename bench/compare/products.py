"""prod and cumprod against PyTorch 1.13 in one process, one thread each: the best of 15 calls of the
forward pass and of forward and backward (a leaf, the op, autograd.grad of ones), and PyTorch's time over
dydx's (above 1: dydx is ahead). Inputs [1000, 1000] of uniform(0.5, 1.5) along each dim, and the cases
that choose PyTorch's rules: rows of two, a row of a million with one zero, rows that each have a zero,
1% zeros under create_graph, and log-normal factors (exp(N(0, 3))). Then forward mode, float64: the JVP along
ones of cumprod(1) and prod(1) on [1000, 1000] (PyTorch's forward AD), and the Hessian of prod(1).sum() on
[100, 50] (functorch's, best of 3).

    build-python/venv/bin/python bench/compare/products.py
"""

import functorch
import numpy as np
import torch
import torch.autograd.forward_ad as fwAD

import dydx
from timing import best_ms

REPEATS = 15


def forward(x, op, args):
    return lambda: getattr(x, op)(*args)


def forward_backward(lib, x, op, args, create_graph=False):
    def run():
        leaf = x.detach().requires_grad_()
        y = getattr(leaf, op)(*args)
        lib.autograd.grad(y, leaf, lib.ones_like(y), create_graph=create_graph)
    return run


def main():
    dydx.set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    square = rng.random((1000, 1000)) + 0.5
    pairs = rng.random((1_000_000, 2)) + 0.5
    one_zero = rng.random(1_000_000) + 0.5
    one_zero[500_000] = 0
    zero_rows = square.copy()
    zero_rows[:, 0] = 0
    some_zeros = square.copy()
    some_zeros[rng.random(square.shape) < 0.01] = 0
    log_normal = np.exp(rng.normal(0, 3, (1000, 1000)))
    cases = [
        ("prod() [1000, 1000]", square, "prod", (), False),
        ("prod(1) [1000, 1000]", square, "prod", (1,), False),
        ("prod(0) [1000, 1000]", square, "prod", (0,), False),
        ("cumprod(1) [1000, 1000]", square, "cumprod", (1,), False),
        ("cumprod(0) [1000, 1000]", square, "cumprod", (0,), False),
        ("prod(1) [1M, 2]", pairs, "prod", (1,), False),
        ("prod() [1M], one zero", one_zero, "prod", (), False),
        ("cumprod(0) [1M], one zero", one_zero, "cumprod", (0,), False),
        ("prod(1) [1000, 1000], a zero in every row", zero_rows, "prod", (1,), False),
        ("cumprod(1) [1000, 1000], a zero in every row", zero_rows, "cumprod", (1,), False),
        ("prod(1) [1000, 1000], 1% zeros, create_graph", some_zeros, "prod", (1,), True),
        ("cumprod(1) [1000, 1000], 1% zeros, create_graph", some_zeros, "cumprod", (1,), True),
        ("prod(1) [1000, 1000], log-normal", log_normal, "prod", (1,), False),
        ("cumprod(1) [1000, 1000], log-normal", log_normal, "cumprod", (1,), False),
    ]
    print(f"PyTorch {torch.__version__}, dydx, one thread each; PyTorch's time over dydx's")
    print(f"{'case':50s} {'dtype':8s} {'forward':>8s} {'dydx ms':>8s} {'torch':>8s}   {'f + b':>6s} {'dydx ms':>8s} {'torch':>8s}")
    for name, values, op, args, create_graph in cases:
        for dtype in ("float32", "float64"):
            a = values.astype(dtype)
            x, t = dydx.from_numpy(a.copy()), torch.from_numpy(a.copy())
            f = (best_ms(forward(x, op, args), REPEATS), best_ms(forward(t, op, args), REPEATS))
            fb = (best_ms(forward_backward(dydx, x, op, args, create_graph), REPEATS),
                  best_ms(forward_backward(torch, t, op, args, create_graph), REPEATS))
            print(f"{name:50s} {dtype:8s} {f[1] / f[0]:7.2f}x {f[0]:8.2f} {f[1]:8.2f}   {fb[1] / fb[0]:5.2f}x {fb[0]:8.2f} {fb[1]:8.2f}")

    a = square
    x, t = dydx.from_numpy(a.copy()), torch.from_numpy(a.copy())
    for name, op in (("cumprod(1)", lambda u: u.cumprod(1)), ("prod(1)", lambda u: u.prod(1))):
        ours = best_ms(lambda: dydx.func.jvp(op, (x,), (dydx.ones_like(x),)), REPEATS)

        def theirs_once():
            with fwAD.dual_level():
                fwAD.unpack_dual(op(fwAD.make_dual(t, torch.ones_like(t)))).tangent
        theirs = best_ms(theirs_once, REPEATS)
        print(f"{'JVP of ' + name + ' [1000, 1000]':50s} {'float64':8s} {theirs / ours:7.2f}x {ours:8.2f} {theirs:8.2f}")
    small = a[:100, :50].copy()
    total = lambda u: u.prod(1).sum()  # noqa: E731
    ours = best_ms(lambda: dydx.func.hessian(total)(dydx.from_numpy(small.copy())), 3)
    theirs = best_ms(lambda: functorch.hessian(total)(torch.from_numpy(small.copy())), 3)
    print(f"{'Hessian of prod(1).sum() [100, 50]':50s} {'float64':8s} {theirs / ours:7.2f}x {ours:8.2f} {theirs:8.2f}")


if __name__ == "__main__":
    main()
