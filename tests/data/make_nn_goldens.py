# Writes nn_goldens.txt: forward values and gradients of small torch.nn networks (PyTorch 1.13,
# float64), with the networks' weights, so that test_nn_layers.cpp (NnGoldens) loads the same
# weights into the same networks built with dydx::nn and compares.
# Run with a Python that has torch 1.13:
#   PYTHONPATH=/tmp/numerics_torch /usr/bin/python3 tests/data/make_nn_goldens.py
#
# Format, one record per line (shapes as 2x3, a 0-d shape as "scalar"):
#   case <name> <train|eval>           the network test_nn_layers.cpp builds under this name
#   param <dotted name> <shape> <v,...>      its weights, as named_parameters() lists them
#   buffer <dotted name> <shape> <v,...>     its buffers before the forward
#   input <shape> <v,...>
#   cotangent <shape> <v,...>          the loss is sum(output * cotangent)
#   output <shape> <v,...>
#   grad_input <shape> <v,...>
#   grad <dotted name> <shape> <v,...>       the loss's gradient for each parameter
#   buffer_after <dotted name> <shape> <v,...>   the buffers after the forward (running stats)
#   end
import math
import os

import torch
from torch import nn


def fmt(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def shape(t):
    return "x".join(str(s) for s in t.shape) if t.dim() > 0 else "scalar"


def values(t):
    return ",".join(fmt(v) for v in t.detach().double().reshape(-1).tolist())


def line(kind, t, name=None):
    head = kind if name is None else f"{kind} {name}"
    return f"{head} {shape(t)} {values(t)}"


def cases():
    yield "mlp", True, nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh()), [5, 4]
    yield "activations", True, nn.Sequential(
        nn.Linear(3, 6), nn.GELU(), nn.Linear(6, 6), nn.GELU(approximate="tanh"), nn.Linear(6, 6), nn.SiLU(),
        nn.Linear(6, 6), nn.ELU(alpha=0.5), nn.Linear(6, 6), nn.LeakyReLU(0.2), nn.Linear(6, 6),
        nn.Softplus(beta=2, threshold=1), nn.Linear(6, 6), nn.Sigmoid(), nn.Linear(6, 4), nn.Softmax(dim=1),
        nn.Linear(4, 4, bias=False), nn.LogSoftmax(dim=-1)), [4, 3]
    yield "cnn", True, nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1, groups=2),
        nn.Tanh(), nn.Conv2d(4, 3, (2, 3), stride=(1, 2), bias=False), nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten(),
        nn.Linear(6, 2)), [2, 2, 8, 8]
    yield "cnn_avgpool", True, nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, dilation=1), nn.AvgPool2d(2), nn.Conv2d(2, 2, 2, dilation=2),
        nn.MaxPool2d(2, stride=1), nn.Flatten(start_dim=0)), [1, 1, 10, 10]
    yield "conv1d", True, nn.Sequential(
        nn.Conv1d(3, 4, 3, stride=2, padding=1), nn.Tanh(), nn.Conv1d(4, 2, 2, dilation=2), nn.Flatten(),
        nn.Linear(6, 2)), [2, 3, 9]
    yield "layernorm", True, nn.Sequential(
        nn.Linear(5, 6), nn.LayerNorm([6]), nn.Tanh(), nn.Linear(6, 6), nn.LayerNorm([6], elementwise_affine=False),
        nn.Unflatten(1, (2, 3)), nn.LayerNorm([2, 3], eps=1e-3)), [3, 5]
    yield "batchnorm1d_train", True, nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh()), [6, 4]
    yield "batchnorm1d_3d_train", True, nn.Sequential(nn.BatchNorm1d(3, momentum=None, affine=False)), [2, 3, 4]
    yield "batchnorm2d_train", True, nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=0.3)), [2, 2, 5, 5]
    yield "batchnorm1d_eval", False, nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, eps=1e-3)), [3, 3]
    yield "batchnorm2d_no_stats", True, nn.Sequential(nn.BatchNorm2d(2, track_running_stats=False)), [3, 2, 2, 2]


def main():
    torch.manual_seed(0)
    out = []
    for name, train, net, in_shape in cases():
        net = net.double()
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p) * 0.7)  # not the default init: every weight matters
            for bname, b in net.named_buffers():
                if bname.endswith("running_mean"):
                    b.copy_(torch.randn_like(b) * 0.3)
                elif bname.endswith("running_var"):
                    b.copy_(torch.rand_like(b) + 0.5)
        net.train(train)
        out.append(f"case {name} {'train' if train else 'eval'}")
        for pname, p in net.named_parameters():
            out.append(line("param", p, pname))
        for bname, b in net.named_buffers():
            out.append(line("buffer", b, bname))
        x = torch.randn(*in_shape, dtype=torch.float64, requires_grad=True)
        y = net(x)
        c = torch.randn_like(y)
        (y * c).sum().backward()
        out.append(line("input", x))
        out.append(line("cotangent", c))
        out.append(line("output", y))
        out.append(line("grad_input", x.grad))
        for pname, p in net.named_parameters():
            out.append(line("grad", p.grad, pname))
        for bname, b in net.named_buffers():
            out.append(line("buffer_after", b, bname))
        out.append("end")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_goldens.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
