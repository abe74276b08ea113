# Writes index_goldens.txt: advanced indexing (int64 and mask indices with slices, None, Ellipsis and
# integers between them), index_put with and without accumulate, scatter, scatter_add with a src
# larger than its index, masked_select and nonzero, as PyTorch 1.13 computes their values and the
# gradients of sum(out * w) for w = 1, 2, 3, ... (so that duplicate indices show how they add up).
# Run with a Python that has torch 1.13:
#   PYTHONPATH=/tmp/numerics_torch /usr/bin/python3 tests/data/make_index_goldens.py
# test_advanced_indexing.cpp (IndexGoldens) reads it and applies the op its case name stands for.
#
# Line format, one case per line:  <case> <field> <shape> <v,...> ...
# Fields: x, v, src (float64 inputs), i0, i1 (int64 indices), m0 (a mask; a float64 0/1 tensor for
# dydx, a bool tensor for PyTorch), out, and grad_x, grad_v, grad_src. A shape is written as 3x4
# (a 0-D shape as "scalar"); "-" stands for no values.
import sys

import torch

from make_edge_cases import fmt  # one spelling of values for every golden file (nan, inf, -0)


def fmt_tensor(t):
    shape = "x".join(str(s) for s in t.shape) or "scalar"
    values = t.detach().reshape(-1).tolist()
    if t.dtype in (torch.int64, torch.bool):
        return shape + " " + (",".join(str(int(v)) for v in values) or "-")
    return shape + " " + (",".join(fmt(float(v)) for v in values) or "-")


def long(v):
    return torch.tensor(v, dtype=torch.int64)


def cases():
    g = torch.Generator().manual_seed(13)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    x = randn(4, 5, 3)
    mask45 = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 0, 0, 1], [0, 0, 0, 1, 0]], dtype=torch.bool)
    mask53 = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.bool)
    mask4 = torch.tensor([0, 1, 0, 1], dtype=torch.bool)
    # Reads: (case, inputs, function of the inputs).
    yield "t", {"x": x, "i0": long([3, 0, 3, -1])}, lambda a: a["x"][a["i0"]]
    yield "t2d", {"x": x, "i0": long([[0, 2], [3, 3]])}, lambda a: a["x"][a["i0"]]
    yield "s_t", {"x": x, "i0": long([4, 0, -2, 4])}, lambda a: a["x"][:, a["i0"]]
    yield "t_t", {"x": x, "i0": long([0, 2, 3]), "i1": long([1, 1, 4])}, lambda a: a["x"][a["i0"], a["i1"]]
    yield "s_t_t", {"x": x, "i0": long([[0], [4]]), "i1": long([0, 2])}, lambda a: a["x"][:, a["i0"], a["i1"]]
    yield "t_s_t", {"x": x, "i0": long([1, 3]), "i1": long([0, 2])}, lambda a: a["x"][a["i0"], :, a["i1"]]
    yield "int_s_t", {"x": x, "i0": long([2, 0])}, lambda a: a["x"][1, :, a["i0"]]
    yield "t_int_t", {"x": x, "i0": long([2, 0]), "i1": long([1, 1])}, lambda a: a["x"][a["i0"], 1, a["i1"]]
    yield "m", {"x": x, "m0": mask45}, lambda a: a["x"][a["m0"]]
    yield "s_m", {"x": x, "m0": mask53}, lambda a: a["x"][:, a["m0"]]
    yield "m_t", {"x": x, "m0": mask4, "i0": long([4, 1])}, lambda a: a["x"][a["m0"], a["i0"]]
    yield "e_t", {"x": x, "i0": long([2, 0, 2])}, lambda a: a["x"][..., a["i0"]]
    yield "n_t", {"x": x, "i0": long([2, 0])}, lambda a: a["x"][None, a["i0"]]
    yield "t_n_t", {"x": x, "i0": long([2, 0]), "i1": long([1, 4])}, lambda a: a["x"][a["i0"], None, a["i1"]]
    yield "sstep_t", {"x": x, "i0": long([0, 1, 0])}, lambda a: a["x"][1::2, :, a["i0"]]
    yield "t0d", {"x": x, "i0": long(2)}, lambda a: a["x"][a["i0"]]
    yield "empty", {"x": x, "i0": long([]).reshape(0)}, lambda a: a["x"][a["i0"]]
    xt = x.transpose(0, 2)  # a non-contiguous input, [3, 5, 4]
    yield "T_s_t", {"x": xt, "i0": long([3, 3, 0])}, lambda a: a["x"].transpose(0, 2).transpose(0, 2)[:, :, a["i0"]]

    # Writes.
    def put(acc):
        return lambda a: torch.index_put(a["x"], (a["i0"],), a["v"], accumulate=acc)

    yield "put_t", {"x": x, "i0": long([3, 0]), "v": randn(5, 3)}, put(False)
    yield "put_t_acc", {"x": x, "i0": long([3, 0, 3, -1]), "v": randn(4, 5, 3)}, put(True)
    yield "put_t_acc_bcast", {"x": x, "i0": long([1, 1, 2]), "v": randn(3)}, put(True)
    yield "put_m", {"x": x, "m0": mask45, "v": randn(1)}, lambda a: torch.index_put(a["x"], (a["m0"],), a["v"])
    yield "put_t_t_acc", {"x": x, "i0": long([0, 0, 2]), "i1": long([1, 1, 4]), "v": randn(3, 3)}, \
        lambda a: torch.index_put(a["x"], (a["i0"], a["i1"]), a["v"], accumulate=True)

    def set_s_t(a):
        y = a["x"].clone()
        y[:, a["i0"]] = a["v"]
        return y

    yield "set_s_t", {"x": x, "i0": long([4, 1]), "v": randn(4, 2, 3)}, set_s_t

    def set_t_s_t(a):
        y = a["x"].clone()
        y[a["i0"], :, a["i1"]] = a["v"]
        return y

    yield "set_t_s_t", {"x": x, "i0": long([1, 3]), "i1": long([0, 2]), "v": randn(2, 5)}, set_t_s_t

    # scatter, scatter_add, masked_select, nonzero.
    y = randn(3, 4)
    yield "scatter", {"x": y, "i0": long([[3, 0, 1], [2, 1, 0]]), "src": randn(2, 3)}, \
        lambda a: a["x"].scatter(1, a["i0"], a["src"])
    # A src larger than its index: only its index-shaped corner is read. PyTorch 1.13's backward
    # raises there ("ScatterBackward0 returned an invalid gradient"), so these lines have no grad_
    # fields; dydx gives the rest of src a zero gradient (the op table checks it).
    yield "scatter_big_src", {"x": y, "i0": long([[3, 0, 1], [2, 1, 0]]), "src": randn(3, 5)}, \
        lambda a: a["x"].scatter(1, a["i0"], a["src"])
    yield "scatter_dim0", {"x": y, "i0": long([[2, 0, 1, 1], [0, 2, 2, 0]]), "src": randn(2, 4)}, \
        lambda a: torch.scatter(a["x"], 0, a["i0"], a["src"])
    yield "scatter_value", {"x": y, "i0": long([[3, 0, 1], [2, 1, 0]])}, lambda a: a["x"].scatter(1, a["i0"], 2.5)
    yield "scatter_add_big_src", {"x": y, "i0": long([[3, 3, 1], [2, 1, 2]]), "src": randn(3, 5)}, \
        lambda a: a["x"].scatter_add(1, a["i0"], a["src"])
    yield "masked_select", {"x": x, "m0": mask53}, lambda a: torch.masked_select(a["x"], a["m0"])
    yield "masked_select_bcast", {"x": randn(5, 1), "m0": mask53}, lambda a: torch.masked_select(a["x"], a["m0"])


def main():
    out = [f"# Generated by make_index_goldens.py from PyTorch {torch.__version__}; do not edit."]
    for name, inputs, f in cases():
        inputs = {k: (v.clone().requires_grad_(True) if v.dtype == torch.float64 else v) for k, v in inputs.items()}
        result = f(inputs)
        w = torch.arange(1, result.numel() + 1, dtype=torch.float64).reshape(result.shape)
        floats = [k for k in inputs if inputs[k].dtype == torch.float64]
        try:
            grads = torch.autograd.grad((result * w).sum(), [inputs[k] for k in floats], allow_unused=True)
        except RuntimeError:
            grads = []
        fields = [f"{k} {fmt_tensor(v)}" for k, v in inputs.items()]
        fields.append(f"out {fmt_tensor(result)}")
        for k, gk in zip(floats, grads):
            fields.append(f"grad_{k} {fmt_tensor(gk if gk is not None else torch.zeros_like(inputs[k]))}")
        out.append(name + " " + " ".join(fields))
    m = torch.tensor([[0.0, 1.5, 0.0], [-2.0, 0.0, float("nan")]], dtype=torch.float64)
    out.append(f"nonzero x {fmt_tensor(m)} out {fmt_tensor(torch.nonzero(m))}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
