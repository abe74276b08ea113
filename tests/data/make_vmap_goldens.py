# Writes vmap_goldens.txt: functorch's vmap (PyTorch 1.13's functorch.vmap) composed with grad,
# jacrev, jacfwd, hessian and with itself, on fixed float64 inputs: per-sample gradients of a small
# MLP's and a small convolution's loss with respect to weights every sample shares, per-sample
# Jacobians and Hessians of row-wise functions, nested vmap with batch dims in front, in the middle,
# last and absent (in_dims None), out_dims other than 0, and the Jacobian of a whole vmapped batch.
# Run with a Python that has torch 1.13 and functorch:
#   PYTHONPATH=/tmp/numerics_torch /usr/bin/python3 tests/data/make_vmap_goldens.py
# test_vmap_goldens.cpp reads it and builds the same composition of dydx::func transforms for each
# case name (the functions, in_dims and out_dims are written in both files, case by case).
#
# Line format, one case per line:
#   <case> in <shape> <v,...> [in ...] out <shape> <v,...> [out ...]
# the inputs in the order the case's function takes them, then its outputs in order; a shape is
# written as 3x4.
import sys

import torch
import torch.nn.functional as F
from functorch import grad, hessian, jacfwd, jacrev, vmap

from make_edge_cases import fmt

g = torch.Generator().manual_seed(1313)


def randn(*shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def fmt_tensor(t):
    return "x".join(str(s) for s in t.shape) + " " + (",".join(fmt(float(v)) for v in t.detach().reshape(-1).tolist()) or "-")


# ---- the per-sample functions (test_vmap_goldens.cpp spells each the same way) ----

def mlp_loss(w1, b1, w2, b2, x, y):
    # One sample: x [3], y [2]; the weights are shared by every sample.
    return F.mse_loss(torch.matmul(torch.tanh(torch.matmul(x, w1) + b1), w2) + b2, y)


def row_map(x, a):
    # x [4], a [4, 3] -> [3]: a product, then reductions that couple the row's elements.
    return torch.softmax(torch.tanh(torch.matmul(x, a)), -1) * torch.exp(torch.sin(x).sum())


def row_scalar(x, a):
    # x [4], a [4, 3] -> a scalar with a full Hessian. No softmax: functorch 1.13's hessian (forward
    # over reverse) has no forward derivative of softmax's backward.
    return torch.exp(torch.matmul(torch.sin(x), a)).sum() + (torch.tanh(x) * x).sum()


def softmax_scalar(x, a):
    # The same with softmax and log_softmax, whose Hessian functorch gives only as jacrev(jacrev).
    return (torch.softmax(torch.matmul(x, a), -1) * torch.log_softmax(torch.matmul(torch.sin(x), a), -1)).sum()


def elementwise_map(x):
    # x [4] -> [4] without a product: elementwise ops, sum and log_softmax.
    return torch.log_softmax(torch.tanh(x) * torch.sin(x), -1) * torch.exp(x).sum()


def elementwise_scalar(x):
    return (torch.tanh(x) * torch.exp(torch.sin(x))).sum() * (x * x).sum()


def pair_scalar(x, w):
    # x [4], w [4]: each of the two nested levels batches a different input.
    return (torch.tanh(x * w) * torch.sin(w)).sum() + (torch.log_softmax(x + w, -1) ** 2).sum()


def pair_map(a, b):
    return torch.tanh(a) * torch.sin(b) + torch.softmax(a * b, -1)


def conv_loss(w, b, x):
    # One image x [2, 5, 5]; w [3, 2, 3, 3] and b [3] are shared.
    return torch.relu(F.conv2d(x.unsqueeze(0), w, b)).mean()


def cases():
    w1, b1, w2, b2 = randn(3, 4), randn(4), randn(4, 2), randn(2)
    xs, ys = randn(5, 3), randn(5, 2)
    mlp_grads = grad(mlp_loss, argnums=(0, 1, 2, 3))
    yield "mlp_per_sample_grad", [w1, b1, w2, b2, xs, ys], vmap(mlp_grads, in_dims=(None, None, None, None, 0, 0))
    # The same with the samples along dim 1 of x and last of y, and each gradient's batch dim elsewhere.
    yield ("mlp_per_sample_grad_moved", [w1, b1, w2, b2, xs.t().contiguous(), ys.t().contiguous()],
           vmap(mlp_grads, in_dims=(None, None, None, None, 1, -1), out_dims=(1, 0, -1, 0)))

    x, a = randn(5, 4), randn(4, 3)
    yield "jacrev_row_map", [x, a], vmap(jacrev(row_map), in_dims=(0, None))
    yield "jacfwd_row_map", [x, a], vmap(jacfwd(row_map), in_dims=(0, None))
    # Per-sample Jacobians with respect to the shared a too.
    yield "jacrev_row_map_both", [x, a], vmap(jacrev(row_map, argnums=(0, 1)), in_dims=(0, None))
    yield "jacfwd_row_map_both", [x, a], vmap(jacfwd(row_map, argnums=(0, 1)), in_dims=(0, None))
    # The batch along dim 1 of x, the Jacobians' batch dim last.
    yield "jacfwd_row_map_dim1", [x.t().contiguous(), a], vmap(jacfwd(row_map), in_dims=(1, None), out_dims=-1)
    yield "jacrev_row_map_dim1", [x.t().contiguous(), a], vmap(jacrev(row_map), in_dims=(1, None), out_dims=1)
    yield "hessian_row_scalar", [x, a], vmap(hessian(row_scalar), in_dims=(0, None))
    # dydx's hessian (jacfwd of jacrev) against functorch's jacrev of jacrev: the same matrix.
    yield "hessian_softmax_scalar", [x, a], vmap(jacrev(jacrev(softmax_scalar)), in_dims=(0, None))
    yield "grad_row_scalar_both", [x, a], vmap(grad(row_scalar, argnums=(0, 1)), in_dims=(0, None))

    e = randn(5, 4)
    yield "jacrev_elementwise_map", [e], vmap(jacrev(elementwise_map))
    yield "jacfwd_elementwise_map", [e], vmap(jacfwd(elementwise_map))
    yield "hessian_elementwise_scalar", [e], vmap(hessian(elementwise_scalar))
    yield "grad_elementwise_scalar_last", [e.t().contiguous()], vmap(grad(elementwise_scalar), in_dims=-1)

    # Nested: the outer level along x's last dim (3), the inner one along the outer sample's dim 1 (2).
    xn = randn(4, 2, 3)
    inner = vmap(row_map, in_dims=(1, None), out_dims=1)
    yield "nested_row_map", [xn, a], vmap(inner, in_dims=(-1, None), out_dims=0)
    inner_e = vmap(elementwise_map, in_dims=1, out_dims=-1)
    yield "nested_elementwise_map", [xn.permute(1, 0, 2).contiguous()], vmap(inner_e, in_dims=-1, out_dims=1)
    # Nested per-sample gradients: x batched at both levels, w only at the outer one.
    xg, wg = randn(2, 3, 4), randn(3, 4)
    inner_g = vmap(grad(pair_scalar, argnums=(0, 1)), in_dims=(0, None))
    yield "nested_grad_pair", [xg, wg], vmap(inner_g, in_dims=(1, 0), out_dims=(0, -1))
    # Each level batches one input only: an outer product of the batches.
    pa, pb = randn(3, 4), randn(2, 4)
    yield "nested_pair_map_outer", [pa, pb], vmap(vmap(pair_map, in_dims=(None, 0)), in_dims=(0, None))
    yield "nested_hessian_elementwise", [randn(2, 3, 4)], vmap(vmap(hessian(elementwise_scalar)))

    # The Jacobian of the whole batch: block diagonal, [B, out, B, in].
    yield "jacrev_of_vmap_row_map", [x, a], jacrev(vmap(row_map, in_dims=(0, None)))
    yield "jacfwd_of_vmap_elementwise_map", [e], jacfwd(vmap(elementwise_map))

    cw, cb, cx = randn(3, 2, 3, 3), randn(3), randn(3, 2, 5, 5)
    yield "conv_per_sample_grad", [cw, cb, cx], vmap(grad(conv_loss, argnums=(0, 1)), in_dims=(None, None, 0))


def main():
    assert torch.__version__.startswith("1.13"), "the oracle is PyTorch 1.13, not " + torch.__version__
    lines = []
    for name, inputs, f in cases():
        out = f(*inputs)
        outs = list(out) if isinstance(out, tuple) else [out]
        fields = [name] + ["in " + fmt_tensor(t) for t in inputs] + ["out " + fmt_tensor(t) for t in outs]
        lines.append(" ".join(fields))
    path = sys.argv[1] if len(sys.argv) > 1 else __file__.replace("make_vmap_goldens.py", "vmap_goldens.txt")
    with open(path, "w") as file:
        file.write("# Generated by make_vmap_goldens.py from PyTorch " + torch.__version__ + " (functorch); do not edit.\n")
        file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
