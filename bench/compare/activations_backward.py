"""Each activation's backward (and forward) on one [1000, 1000] tensor, dydx against PyTorch 1.13 in one
process, both on one thread: the best of REPEATS calls in milliseconds, and dydx's time over PyTorch's
(a ratio above 1.00 is a workload where dydx is behind). The backward is autograd.grad of the kept
graph for one fixed cotangent, inputs uniform in (-5, 5), so every kink is crossed.

Run with the Python package's venv, which sees Debian's python3-torch (scripts/test_python.sh builds it):
    build-python/venv/bin/python bench/compare/activations_backward.py [REPEATS] [name,name,...] [dydx_dir]
dydx_dir, if given, goes first on sys.path: an older build's installed package (its site-packages/dydx
copied aside) times the library before a change in the same conditions.
"""

import sys

if len(sys.argv) > 3:
    sys.path.insert(0, sys.argv[3])

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import dydx  # noqa: E402
import dydx.nn.functional as F  # noqa: E402
import timing  # noqa: E402

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
NAMES = sys.argv[2].split(",") if len(sys.argv) > 2 else [
    "hardswish", "hardsigmoid", "hardtanh", "relu6", "leaky_relu", "mish", "selu", "logsigmoid", "silu", "elu"]


def best_ms(f):
    return timing.best_ms(f, REPEATS)


def main():
    torch.set_num_threads(1)
    dydx.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"dydx from {dydx.__file__}")
    print(f"{'op':12s} {'dtype':8s} {'dydx bwd':>9s} {'torch bwd':>10s} {'ratio':>6s}   {'dydx fwd':>9s} {'torch fwd':>10s}")
    for name in NAMES:
        for dtype in ("float32", "float64"):
            a = rng.uniform(-5, 5, size=(1000, 1000)).astype(dtype)
            g = rng.standard_normal((1000, 1000)).astype(dtype)
            x, tx = dydx.from_numpy(a.copy()).requires_grad_(), torch.from_numpy(a.copy()).requires_grad_()
            cotangent, torch_cotangent = dydx.from_numpy(g.copy()), torch.from_numpy(g.copy())
            y, ty = getattr(F, name)(x), getattr(TF, name)(tx)
            backward = best_ms(lambda: dydx.autograd.grad([y], [x], [cotangent], retain_graph=True))
            torch_backward = best_ms(lambda: torch.autograd.grad([ty], [tx], [torch_cotangent], retain_graph=True))
            with dydx.no_grad():
                forward = best_ms(lambda: getattr(F, name)(x))
            with torch.no_grad():
                torch_forward = best_ms(lambda: getattr(TF, name)(tx))
            print(f"{name:12s} {dtype:8s} {backward:9.3f} {torch_backward:10.3f} {backward / torch_backward:6.2f}   "
                  f"{forward:9.3f} {torch_forward:10.3f}")


if __name__ == "__main__":
    main()
