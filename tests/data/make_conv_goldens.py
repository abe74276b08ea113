# Writes conv_goldens.txt: conv2d, conv1d, unfold, fold, max_pool2d, avg_pool2d and adaptive_avg_pool2d
# over stride, padding, dilation, groups, ceil_mode and the other options, on fixed float64 inputs, as
# PyTorch 1.13 computes their value and the gradient of sum(out * gout) for a fixed cotangent gout.
# Run with a Python that has torch 1.13:
#   PYTHONPATH=/tmp/numerics_torch /usr/bin/python3 tests/data/make_conv_goldens.py
# test_conv.cpp (ConvGoldens) reads it and calls the same ops with dydx.
#
# Line format, one case per line:
#   <op>[;<option>=<value>...] x <shape> <v,...> [w ... b ...] gout ... out ... gx ... [gw ... gb ...]
# with an option's value a comma-separated list of ints (or a word: padding=same); a shape is
# written as 3x4.
import math

import torch
import torch.nn.functional as F

from make_edge_cases import fmt

g = torch.Generator().manual_seed(1213)


def randn(*shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def fmt_tensor(t):
    return "x".join(str(s) for s in t.shape) + " " + (",".join(fmt(float(v)) for v in t.detach().reshape(-1).tolist()) or "-")


def options_text(options):
    parts = []
    for k, v in options.items():
        if isinstance(v, bool):
            v = int(v)
        parts.append(f"{k}=" + (",".join(str(i) for i in v) if isinstance(v, tuple) else str(v)))
    return "".join(";" + p for p in parts)


def case(op, f, options, **inputs):
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    out = f(**leaves, **options)
    gout = randn(*out.shape)
    grads = torch.autograd.grad(out, list(leaves.values()), gout, allow_unused=True)
    fields = [op + options_text(options)]
    for k, v in inputs.items():
        fields += [k, fmt_tensor(v)]
    fields += ["gout", fmt_tensor(gout), "out", fmt_tensor(out)]
    for k, gr in zip(inputs, grads):
        fields += ["g" + k, fmt_tensor(torch.zeros_like(inputs[k]) if gr is None else gr)]
    return " ".join(fields)


def conv2d(x, w, b=None, **o):
    return F.conv2d(x, w, b, **o)


def conv1d(x, w, b=None, **o):
    return F.conv1d(x, w, b, **o)


def lines():
    yield case("conv2d", conv2d, {}, x=randn(2, 3, 6, 5), w=randn(4, 3, 3, 3), b=randn(4))
    yield case("conv2d", conv2d, {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}, x=randn(2, 3, 6, 7),
               w=randn(4, 3, 3, 2), b=randn(4))
    yield case("conv2d", conv2d, {"stride": (2, 2), "padding": (1, 1), "groups": 2}, x=randn(2, 4, 5, 5),
               w=randn(6, 2, 3, 2), b=randn(6))
    yield case("conv2d", conv2d, {"padding": (1, 1), "groups": 3}, x=randn(1, 3, 5, 5), w=randn(3, 1, 3, 3))
    yield case("conv2d", conv2d, {"padding": "same"}, x=randn(2, 2, 5, 6), w=randn(3, 2, 2, 3), b=randn(3))
    yield case("conv2d", conv2d, {"padding": "same", "dilation": (2, 1)}, x=randn(1, 2, 6, 5), w=randn(2, 2, 3, 2))
    yield case("conv2d", conv2d, {"padding": "valid", "stride": (1, 2)}, x=randn(2, 2, 4, 6), w=randn(3, 2, 2, 2))
    yield case("conv2d", conv2d, {"padding": (2, 1), "stride": (3, 2)}, x=randn(3, 6, 5), w=randn(2, 3, 3, 3), b=randn(2))
    yield case("conv2d", conv2d, {}, x=randn(2, 3, 4, 4), w=randn(5, 3, 1, 1), b=randn(5))
    yield case("conv2d", conv2d, {"stride": (2, 2)}, x=randn(2, 3, 5, 5), w=randn(4, 3, 1, 1))
    yield case("conv2d", conv2d, {"padding": (1, 1)}, x=randn(2, 1, 7, 7), w=randn(4, 1, 3, 3), b=randn(4))
    yield case("conv1d", conv1d, {"stride": (2,), "padding": (1,), "dilation": (2,)}, x=randn(2, 3, 9), w=randn(4, 3, 3),
               b=randn(4))
    yield case("conv1d", conv1d, {"groups": 3}, x=randn(2, 3, 7), w=randn(6, 1, 2))
    yield case("conv1d", conv1d, {"padding": "same"}, x=randn(3, 8), w=randn(2, 3, 4), b=randn(2))
    for k, s, p, d, ceil, shape in [((3, 3), (2, 2), (1, 1), (1, 1), True, (2, 3, 7, 6)),
                                    ((2, 2), (2, 2), (0, 0), (1, 1), False, (2, 2, 5, 5)),
                                    ((2, 3), (1, 2), (1, 0), (2, 1), False, (1, 2, 6, 7)),
                                    ((3, 3), (3, 3), (0, 0), (1, 1), True, (1, 2, 8, 8)),
                                    ((3, 2), (2, 2), (1, 1), (1, 1), True, (2, 5, 5))]:
        o = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": ceil}
        yield case("max_pool2d", lambda x, **o: F.max_pool2d(x, **o), o, x=randn(*shape))
    special = randn(1, 1, 4, 4)
    special[0, 0, 0, 1] = math.nan
    special[0, 0, 2, 2] = -math.inf
    special[0, 0, 3, 3] = math.inf
    special[0, 0, 3, 0] = math.nan
    yield case("max_pool2d", lambda x, **o: F.max_pool2d(x, **o), {"kernel_size": (2, 2), "stride": (1, 1)}, x=special)
    for k, s, p, ceil, include, divisor, shape in [((3, 3), (2, 2), (1, 1), True, True, None, (2, 3, 7, 6)),
                                                   ((3, 3), (2, 2), (1, 1), True, False, None, (2, 3, 7, 6)),
                                                   ((2, 3), (2, 1), (1, 1), False, True, 5, (1, 2, 5, 6)),
                                                   ((2, 2), (2, 2), (0, 0), False, True, None, (2, 2, 5, 5)),
                                                   ((3, 3), (3, 3), (1, 1), True, False, None, (2, 7, 8))]:
        o = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil, "count_include_pad": include}
        if divisor is not None:
            o["divisor_override"] = divisor
        yield case("avg_pool2d", lambda x, **o: F.avg_pool2d(x, **o), o, x=randn(*shape))
    for out, shape in [((3, 4), (2, 3, 5, 7)), ((2, 2), (1, 2, 5, 7)), ((1, 1), (2, 3, 4, 4)), ((4, 3), (2, 6, 5)),
                       ((5, 5), (1, 1, 3, 3))]:
        yield case("adaptive_avg_pool2d", lambda x, **o: F.adaptive_avg_pool2d(x, **o), {"output_size": out}, x=randn(*shape))
    uo = {"kernel_size": (2, 3), "dilation": (1, 2), "padding": (0, 1), "stride": (2, 1)}
    yield case("unfold", lambda x, **o: F.unfold(x, **o), uo, x=randn(2, 3, 5, 4))
    yield case("unfold", lambda x, **o: F.unfold(x, **o), {"kernel_size": (2, 2)}, x=randn(2, 4, 3))
    yield case("fold", lambda x, **o: F.fold(x, **o), {"output_size": (5, 4), **uo}, x=randn(2, 12, 4))
    yield case("fold", lambda x, **o: F.fold(x, **o), {"output_size": (4, 5), "kernel_size": (2, 2)}, x=randn(8, 12))


def main():
    assert torch.__version__.startswith("1.13"), "the oracle is PyTorch 1.13, not " + torch.__version__
    text = "# Generated by make_conv_goldens.py from PyTorch " + torch.__version__ + "; do not edit.\n"
    text += "".join(line + "\n" for line in lines())
    with open(__file__.replace("make_conv_goldens.py", "conv_goldens.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
