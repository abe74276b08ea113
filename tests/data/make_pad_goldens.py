# Writes pad_goldens.txt: F.pad in every mode (constant with a value, reflect, replicate, circular)
# over 1 to 3 padded dims, negative pads (crops) included, and nn.Conv1d/Conv2d with a padding_mode
# other than zeros, on fixed float64 inputs, as PyTorch 1.13 computes the value and the gradient of
# sum(out * gout) for a fixed cotangent gout. Run with a Python that has torch 1.13:
#   PYTHONPATH=/tmp/numerics_torch /usr/bin/python3 tests/data/make_pad_goldens.py
# test_pad.cpp (PadGoldens) reads it and calls the same functions with dydx.
#
# Line format, one case per line:
#   pad;mode=<mode>;pad=<ints>[;value=<v>] x <shape> <v,...> gout ... out ... gx ...
#   conv<1|2>d;mode=<mode>;padding=<ints or same>;dilation=<ints> x ... w ... b ... gout ... out ... gx ... gw ... gb ...
# with a shape written as 3x4 and values separated by commas.
import os

import torch
import torch.nn.functional as F

from make_edge_cases import fmt

g = torch.Generator().manual_seed(1203)


def randn(*shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def fmt_tensor(t):
    return "x".join(str(s) for s in t.shape) + " " + (",".join(fmt(float(v)) for v in t.detach().reshape(-1).tolist()) or "-")


def ints(values):
    return ",".join(str(v) for v in values)


def with_gradients(head, f, **inputs):
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    out = f(**leaves)
    gout = randn(*out.shape)
    grads = torch.autograd.grad(out, list(leaves.values()), gout)
    fields = [head]
    for k, v in inputs.items():
        fields += [k, fmt_tensor(v)]
    fields += ["gout", fmt_tensor(gout), "out", fmt_tensor(out)]
    for k, gr in zip(inputs, grads):
        fields += ["g" + k, fmt_tensor(gr)]
    return " ".join(fields)


def pad_case(shape, pad, mode, value=None):
    head = f"pad;mode={mode};pad={ints(pad)}" + ("" if value is None else f";value={value}")
    kwargs = {} if value is None else {"value": value}
    return with_gradients(head, lambda x: F.pad(x, pad, mode=mode, **kwargs), x=randn(*shape))


def conv_case(dims, mode, padding, dilation=1):
    conv = torch.nn.Conv1d if dims == 1 else torch.nn.Conv2d
    shape = (2, 3, 7) if dims == 1 else (2, 3, 6, 5)
    m = conv(3, 4, 3, padding=padding, dilation=dilation, padding_mode=mode).double()
    w, b = randn(*m.weight.shape), randn(4)
    padding_text = padding if isinstance(padding, str) else ints([padding] * dims if isinstance(padding, int) else padding)
    head = f"conv{dims}d;mode={mode};padding={padding_text};dilation={dilation}"

    def f(x, w, b):
        return torch.nn.utils.stateless.functional_call(m, {"weight": w, "bias": b}, (x,))

    return with_gradients(head, f, x=randn(*shape), w=w, b=b)


lines = []
for shape, pad, value in [((2, 5), (1, 2), None), ((2, 3, 4), (2, 0, 1, 3), 1.5), ((1, 2, 3), (-1, 2), 7.0),
                          ((3, 4), (-1, -2), None), ((2, 2, 3), (0, 0, -1, 1, 2, -1), -0.5), ((2, 3), (), None)]:
    lines.append(pad_case(shape, pad, "constant", value))
for mode in ["reflect", "replicate", "circular"]:
    lines.append(pad_case((2, 3, 5), (2, 1), mode))
    if mode != "circular":  # PyTorch 1.13 wraps batched inputs only (2.x and dydx take both)
        lines.append(pad_case((3, 4), (3, 0), mode))
    lines.append(pad_case((2, 1, 4, 5), (1, 2, 3, 0), mode))
    lines.append(pad_case((1, 2, 3, 4, 5), (1, 0, 2, 1, 0, 2), mode))
    lines.append(pad_case((2, 3, 5), (-1, 2), mode))
    lines.append(pad_case((1, 2, 4, 6), (2, -3, -1, 1), mode))
for mode in ["reflect", "replicate", "circular"]:
    lines.append(conv_case(2, mode, 1))
    lines.append(conv_case(2, mode, (2, 1)))
    lines.append(conv_case(1, mode, 2))
    lines.append(conv_case(2, mode, "same", dilation=2))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pad_goldens.txt")
with open(path, "w") as out:
    out.write("# Written by make_pad_goldens.py from PyTorch " + torch.__version__ + "; do not edit.\n")
    out.write("\n".join(lines) + "\n")
