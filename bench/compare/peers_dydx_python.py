"""Usage: PYTHON peers_dydx_python.py FAMILY [KEY_REGEX], FAMILY perop or seed, PYTHON a venv's interpreter with the
dydx package installed (scripts/test_python.sh makes build-python/venv). dydx called from Python, with the same keys
and methods as compare_dydx.cpp, so that table.py can put the cost of the Python layer beside the C++ call and
PyTorch's own Python. Timing: measure(), the rule of harness.hpp."""
import json
import math
import sys

import dydx

from peer_report import Report

DET_STEP = 0.37


def det(shape, offset, dtype=dydx.float32):
    """sin(0.37 i + offset) in row-major order: the inputs every tool builds alike (harness.hpp)."""
    return (dydx.arange(math.prod(shape), dtype=dtype) * DET_STEP + offset).sin().reshape(*shape)


def checksum(t):
    return t.abs().sum().double().item()


def perop(r):
    a = dydx.tensor([1.5], requires_grad=True)
    b = dydx.tensor([0.5], requires_grad=True)

    def fwd_bwd(check):
        a.grad = None
        b.grad = None
        ((a * b + a).sin() * b).sum().backward()
        return checksum(a.grad) + checksum(b.grad) if check else 0

    r.run("perop", "fwd_bwd", fwd_bwd)


def seed(r):
    for dtype, name, rtol in ((dydx.float32, "f32", 1e-4), (dydx.float64, "f64", 1e-10)):
        for m, n in ((2, 2), (1000, 16), (100000, 64), (1000000, 64)):
            key = f"seed/{name}/{m}x{n}"
            if not r.wants(key):
                continue
            x, W = det((m, 1), 0, dtype), det((1, n), 1, dtype)
            want = x.pow(2) * W * 3

            def batch_jacobian(check, x=x, W=W, want=want, m=m, n=n, rtol=rtol):
                J = dydx.func.batch_jacobian(lambda xi: dydx.matmul(xi.pow(3), W), x)  # [m, n, 1]
                if check:
                    err = ((J.reshape(m, n) - want).abs().max() / want.abs().max()).item()
                    if err > rtol:
                        raise AssertionError(f"relative error {err} > {rtol}")
                    return checksum(J)
                return 0

            r.run(key, "batch_jacobian", batch_jacobian)


def main():
    family = sys.argv[1]
    r = Report("dydx_py", sys.argv[2] if len(sys.argv) > 2 else ".")
    {"perop": perop, "seed": seed}[family](r)
    json.dump({"library": "dydx (Python)", "blas_kernel": dydx.blas_kernel(), "num_threads": dydx.get_num_threads(),
               "cases": r.cases}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
