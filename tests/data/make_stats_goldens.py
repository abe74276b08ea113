# Writes stats_goldens.txt: var, std, norm, linalg.vector_norm, einsum, layer_norm, batch_norm, addcmul
# and addcdiv on fixed float64 inputs (edge values among them), as PyTorch 1.13 computes their values
# and the gradients of sum(out * c) with respect to every differentiable input, where c is the fixed
# cotangent c[i] = sin(i + 1) over the output's elements in row-major order (all ones would make
# the normalisations' gradients vanish).
# Run with a Python that has torch 1.13:
#   PYTHONPATH=/tmp/numerics_torch /usr/bin/python3 tests/data/make_stats_goldens.py
# test_stats.cpp and test_normalization.cpp (StatsGoldens) read it and call the same ops with dydx,
# which they find by the case's key.
#
# Line format, one case per line:
#   <key> in <shape> <v,...> ... [aux <shape> <v,...> ...] out <shape> <v,...> grad <shape> <v,...> ...
#     [after <shape> <v,...> ...]
# in: the differentiable inputs, in order; aux: other tensor arguments (batch_norm's running stats);
# grad: one per input (zeros where PyTorch leaves it undefined); after: the aux tensors after the
# call (batch_norm updates its running stats). A shape is written as 3x4 (a 0-D shape as "scalar"),
# an empty tensor's values as "-".
import math
import sys

import torch
import torch.nn.functional as F

from make_edge_cases import fmt  # one spelling of values for every golden file (nan, inf, -0)

INF, NAN = math.inf, math.nan


def fmt_tensor(t):
    shape = "x".join(str(s) for s in t.shape) or "scalar"
    values = t.detach().reshape(-1).tolist()
    return shape + " " + (",".join(fmt(float(v)) for v in values) or "-")


def t64(values):
    return torch.tensor(values, dtype=torch.float64)


def cases():
    g = torch.Generator().manual_seed(1213)

    def randn(*shape):
        return torch.randn(tuple(shape), generator=g, dtype=torch.float64)

    x = randn(3, 4)
    special = t64([[0.5, INF, -1.0, NAN], [2.0, -INF, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    shifted = randn(2, 5) + 1e8  # a large mean over a small spread: naive sums of squares lose it all
    ties = t64([[1.0, -3.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.0], [-2.0, 2.0, 1.0, -2.0]])
    zeros = torch.zeros(2, 3, dtype=torch.float64)
    for name, f in [("var", torch.var), ("std", torch.std)]:
        for tag, data in [("x", x), ("special", special), ("shifted", shifted), ("ties", ties), ("zeros", zeros)]:
            yield f"{name}:all:{tag}", [data], [], lambda a, f=f: f(a[0])
            yield f"{name}:biased:{tag}", [data], [], lambda a, f=f: f(a[0], unbiased=False)
            yield f"{name}:dim1:{tag}", [data], [], lambda a, f=f: f(a[0], 1)
            yield f"{name}:dim0_biased_keep:{tag}", [data], [], lambda a, f=f: f(a[0], 0, False, True)
            yield f"{name}:dims01_c2:{tag}", [data], [], lambda a, f=f: f(a[0], [0, 1], correction=2)
            yield f"{name}:dimlast_c0_keep:{tag}", [data], [], lambda a, f=f: f(a[0], [-1], correction=0, keepdim=True)
        yield f"{name}:biased:scalar", [t64(2.5)], [], lambda a, f=f: f(a[0], unbiased=False)
        yield f"{name}:dim0:empty", [torch.zeros(0, 3, dtype=torch.float64)], [], lambda a, f=f: f(a[0], 0)
        yield f"{name}:dims01_c3:x", [x], [], lambda a, f=f: f(a[0], [0, 1], correction=3)
        yield f"{name}:dim1_c4:x", [x], [], lambda a, f=f: f(a[0], [1], correction=4)  # n - correction = 0
    for p in [2, 1, INF, -INF, 0, 3, 0.5, -1.5, 1.5]:
        for tag, data in [("x", x), ("special", special), ("ties", ties), ("zeros", zeros)]:
            yield f"norm:{fmt(p)}:all:{tag}", [data], [], lambda a, p=p: torch.norm(a[0], p)
            yield f"norm:{fmt(p)}:dim1:{tag}", [data], [], lambda a, p=p: torch.norm(a[0], p, dim=1)
            yield f"norm:{fmt(p)}:dim0_keep:{tag}", [data], [], lambda a, p=p: torch.norm(a[0], p, dim=[0], keepdim=True)
            yield f"vector_norm:{fmt(p)}:dim1:{tag}", [data], [], \
                lambda a, p=p: torch.linalg.vector_norm(a[0], p, dim=[1])
        yield f"norm:{fmt(p)}:all:empty", [torch.zeros(0, 3, dtype=torch.float64)], [], lambda a, p=p: torch.norm(a[0], p)
    yield "norm:2:all:huge", [t64([3e200, 4e200])], [], lambda a: torch.norm(a[0])
    yield "norm:2:all:tiny", [t64([3e-200, 4e-200])], [], lambda a: torch.norm(a[0])

    for eq, shapes in [("ij,jk->ik", [(3, 4), (4, 2)]), ("ij,jk", [(3, 4), (4, 2)]), ("ii->i", [(3, 3)]),
                       ("ii", [(3, 3)]), ("iij->ij", [(2, 2, 3)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                       ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("...ij,...jk", [(2, 3, 4), (4, 2)]),
                       ("i,j->ij", [(3,), (4,)]), ("ijk->kji", [(2, 3, 4)]), ("ij->", [(3, 4)]), ("i,i->", [(5,), (5,)]),
                       ("i,i->i", [(1,), (3,)]), ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
                       ("ab...,b->a...", [(2, 3, 4, 5), (3,)]), ("ijk,ikl,ilm->jm", [(2, 3, 4), (2, 4, 5), (2, 5, 3)]),
                       ("Ab,bA->", [(2, 3), (3, 2)]), ("i...->...", [(3, 2, 2)]), ("ij,ij->ij", [(3, 4), (3, 4)]),
                       ("ij,kl->ijkl", [(2, 3), (1, 2)]), ("ii,ij->j", [(3, 3), (3, 2)]), ("", [()]),
                       ("i,ij,j", [(3,), (3, 4), (4,)]), ("ji,kj->ik", [(4, 3), (2, 4)]), ("ij,jk->ik", [(0, 4), (4, 2)]),
                       ("ij,jk->ik", [(3, 0), (0, 2)])]:
        yield f"einsum:{eq}", [randn(*s) for s in shapes], [], lambda a, eq=eq: torch.einsum(eq, *a)

    lx = randn(2, 3, 4)
    w4, b4, w34, b34 = randn(4), randn(4), randn(3, 4), randn(3, 4)
    yield "layer_norm:4:affine", [lx, w4, b4], [], lambda a: F.layer_norm(a[0], [4], a[1], a[2])
    yield "layer_norm:4", [lx], [], lambda a: F.layer_norm(a[0], [4])
    yield "layer_norm:34:affine:eps", [lx, w34, b34], [], lambda a: F.layer_norm(a[0], [3, 4], a[1], a[2], eps=1e-3)
    yield "layer_norm:34:weight", [lx, w34], [], lambda a: F.layer_norm(a[0], [3, 4], a[1])
    yield "layer_norm:4:special", [special], [], lambda a: F.layer_norm(a[0], [4])
    yield "layer_norm:4:constant", [torch.ones(2, 4, dtype=torch.float64)], [], lambda a: F.layer_norm(a[0], [4])

    def bn(training, momentum=0.1, eps=1e-5, affine=True):
        def run(a, aux):
            w, b = (a[1], a[2]) if affine else (None, None)
            rm, rv = (aux[0], aux[1]) if aux else (None, None)
            return F.batch_norm(a[0], rm, rv, w, b, training=training, momentum=momentum, eps=eps)
        return run

    for shape in [(4, 3), (2, 3, 5), (2, 3, 2, 2)]:
        tag = "x".join(map(str, shape))
        stats = lambda: [randn(3) * 0.1, torch.rand(3, generator=g, dtype=torch.float64) + 0.5]
        bx, bw, bb = randn(*shape), randn(3), randn(3)
        yield f"batch_norm:train:{tag}", [bx, bw, bb], stats(), bn(True)
        yield f"batch_norm:train_m03_eps:{tag}", [bx, bw, bb], stats(), bn(True, 0.3, 1e-3)
        yield f"batch_norm:eval:{tag}", [bx, bw, bb], stats(), bn(False)
        yield f"batch_norm:train_nostats:{tag}", [bx, bw, bb], [], bn(True)
        yield f"batch_norm:train_plain:{tag}", [bx], stats(), bn(True, affine=False)

    s, t1, t2 = randn(3, 4), randn(3, 4), randn(4) + 3
    yield "addcmul:0.5", [s, t1, t2], [], lambda a: torch.addcmul(a[0], a[1], a[2], value=0.5)
    yield "addcdiv:-2", [s, t1, t2], [], lambda a: torch.addcdiv(a[0], a[1], a[2], value=-2)
    yield "addcmul_:1", [s, t1, t2], [], lambda a: (a[0] * 1).addcmul_(a[1], a[2])
    yield "addcdiv_:0.5", [s, t1, t2], [], lambda a: (a[0] * 1).addcdiv_(a[1], a[2], value=0.5)


def main():
    assert torch.__version__.startswith("1.13"), "the oracle is PyTorch 1.13, not " + torch.__version__
    lines = []
    for key, inputs, aux, f in cases():
        inputs = [t.clone().requires_grad_(True) for t in inputs]
        aux_in = [t.clone() for t in aux]
        out = f(inputs, aux_in) if key.startswith("batch_norm") else f(inputs)
        c = torch.sin(torch.arange(out.numel(), dtype=torch.float64) + 1).reshape(out.shape)
        grads = torch.autograd.grad((out * c).sum(), inputs, allow_unused=True) if out.requires_grad else [None] * len(inputs)
        grads = [torch.zeros_like(x) if gr is None else gr for gr, x in zip(grads, inputs)]
        fields = [key] + [f"in {fmt_tensor(t)}" for t in inputs] + [f"aux {fmt_tensor(t)}" for t in aux]
        fields += [f"out {fmt_tensor(out)}"] + [f"grad {fmt_tensor(gr)}" for gr in grads]
        if key.startswith("batch_norm"):
            fields += [f"after {fmt_tensor(t)}" for t in aux_in]
        lines.append(" ".join(fields))
    path = sys.argv[1] if len(sys.argv) > 1 else __file__.replace("make_stats_goldens.py", "stats_goldens.txt")
    with open(path, "w") as out:
        out.write("# Generated by make_stats_goldens.py from PyTorch " + torch.__version__ + "; do not edit.\n")
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
