# Writes loss_goldens.txt: each loss of torch.nn.functional that dydx::nn::functional has, with each
# reduction and option, on fixed float64 inputs (edge values among them), as PyTorch 1.13 computes
# its value and its gradient with respect to the input (for an all-ones cotangent).
# Run with a Python that has torch 1.13:
#   PYTHONPATH=/tmp/numerics_torch /usr/bin/python3 tests/data/make_loss_goldens.py
# test_losses.cpp (LossGoldens) reads it and calls the same losses with dydx.
#
# Line format, one case per line:
#   <loss>:<reduction>[:<option>=<value>...] <field> <shape> <v,...> ... out <shape> <v,...> grad <shape> <v,...>
# with fields input, target (or target_int64: class indices), weight and pos_weight; a shape is
# written as 3x4 (a 0-D shape as "scalar").
import math
import warnings
import sys

import torch
import torch.nn.functional as F

from make_edge_cases import fmt  # one spelling of values for every golden file (nan, inf, -0)

REDUCTIONS = ["none", "mean", "sum"]


def fmt_tensor(t):
    shape = "x".join(str(s) for s in t.shape) or "scalar"
    values = t.detach().reshape(-1).tolist()
    if t.dtype == torch.int64:
        return shape + " " + (",".join(str(v) for v in values) or "-")
    return shape + " " + (",".join(fmt(float(v)) for v in values) or "-")


def cases():
    g = torch.Generator().manual_seed(12)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    x, y = randn(3, 4), randn(3, 4)
    special = torch.tensor([[0.5, math.inf, -1.0, math.nan], [2.0, -math.inf, 0.0, 1.0]], dtype=torch.float64)
    for r in REDUCTIONS:
        for name, f, opts in [("mse_loss", F.mse_loss, {}), ("l1_loss", F.l1_loss, {}),
                              ("smooth_l1_loss", F.smooth_l1_loss, {"beta": 1.0}),
                              ("smooth_l1_loss", F.smooth_l1_loss, {"beta": 0.5}),
                              ("smooth_l1_loss", F.smooth_l1_loss, {"beta": 0.0}),
                              ("huber_loss", F.huber_loss, {"delta": 1.0}),
                              ("huber_loss", F.huber_loss, {"delta": 0.3})]:
            yield name, r, opts, {"input": x, "target": y}, f
            yield name, r, opts, {"input": x, "target": y[0]}, f  # a broadcast target
            yield name, r, opts, {"input": special, "target": torch.zeros(2, 4, dtype=torch.float64)}, f
    p, q, w = torch.sigmoid(randn(3, 4)), rand(3, 4), rand(4) + 0.5
    edge_p = torch.tensor([0.0, 1.0, 0.5, 1e-300], dtype=torch.float64)
    edge_q = torch.tensor([0.0, 1.0, 0.25, 1.0], dtype=torch.float64)
    logits, pos_weight = randn(3, 4) * 3, rand(4) + 0.5
    edge_logits = torch.tensor([100.0, -100.0, 0.0, math.inf], dtype=torch.float64)
    for r in REDUCTIONS:
        yield "binary_cross_entropy", r, {}, {"input": p, "target": q}, F.binary_cross_entropy
        yield "binary_cross_entropy", r, {}, {"input": p, "target": q, "weight": w}, F.binary_cross_entropy
        yield "binary_cross_entropy", r, {}, {"input": edge_p, "target": edge_q}, F.binary_cross_entropy
        bce_logits = F.binary_cross_entropy_with_logits
        yield "binary_cross_entropy_with_logits", r, {}, {"input": logits, "target": q}, bce_logits
        yield "binary_cross_entropy_with_logits", r, {}, {"input": logits, "target": q, "weight": w}, bce_logits
        yield "binary_cross_entropy_with_logits", r, {}, {"input": logits, "target": q, "pos_weight": pos_weight}, bce_logits
        yield ("binary_cross_entropy_with_logits", r, {},
               {"input": logits, "target": q, "weight": w, "pos_weight": pos_weight}, bce_logits)
        yield "binary_cross_entropy_with_logits", r, {}, {"input": edge_logits, "target": edge_q}, bce_logits
    scores = randn(5, 3)
    log_p = torch.log_softmax(scores, 1)
    classes = torch.tensor([0, 2, 1, 2, -100])
    classes_ignoring_1 = torch.tensor([0, 2, 1, 2, 1])
    class_weight = rand(3) + 0.5
    images = randn(2, 3, 4)
    pixel_classes = torch.tensor([[0, 1, 2, 1], [2, 2, 0, -100]])
    one = randn(3)
    with_inf = torch.tensor([[1.0, math.inf, 0.0], [2.0, -math.inf, 0.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
    with_inf_classes = torch.tensor([0, 0, 2])
    for r in REDUCTIONS:
        yield "nll_loss", r, {}, {"input": log_p, "target_int64": classes}, F.nll_loss
        yield "nll_loss", r, {}, {"input": log_p, "target_int64": classes, "weight": class_weight}, F.nll_loss
        yield "nll_loss", r, {"ignore_index": 1}, {"input": log_p, "target_int64": classes_ignoring_1}, F.nll_loss
        yield ("nll_loss", r, {"ignore_index": 1},
               {"input": log_p, "target_int64": classes_ignoring_1, "weight": class_weight}, F.nll_loss)
        yield "nll_loss", r, {}, {"input": images, "target_int64": pixel_classes}, F.nll_loss
        yield "nll_loss", r, {}, {"input": one, "target_int64": torch.tensor(1)}, F.nll_loss
        for smoothing in [0.0, 0.1]:
            o = {"label_smoothing": smoothing}
            yield "cross_entropy", r, o, {"input": scores, "target_int64": classes}, F.cross_entropy
            yield "cross_entropy", r, o, {"input": scores, "target_int64": classes, "weight": class_weight}, F.cross_entropy
            yield ("cross_entropy", r, dict(o, ignore_index=1),
                   {"input": scores, "target_int64": classes_ignoring_1, "weight": class_weight}, F.cross_entropy)
            yield "cross_entropy", r, o, {"input": images, "target_int64": pixel_classes}, F.cross_entropy
            yield "cross_entropy", r, o, {"input": one, "target_int64": torch.tensor(2)}, F.cross_entropy
            yield "cross_entropy", r, o, {"input": with_inf, "target_int64": with_inf_classes}, F.cross_entropy
            probabilities = torch.softmax(randn(5, 3), 1)
            yield "cross_entropy", r, o, {"input": scores, "target": probabilities}, F.cross_entropy
            yield "cross_entropy", r, o, {"input": scores, "target": probabilities, "weight": class_weight}, F.cross_entropy
            yield "cross_entropy", r, o, {"input": images, "target": torch.softmax(randn(2, 3, 4), 1)}, F.cross_entropy


def main():
    warnings.simplefilter("ignore")  # PyTorch warns of the broadcast targets, which are on purpose
    assert torch.__version__.startswith("1.13"), "the oracle is PyTorch 1.13, not " + torch.__version__
    lines = []
    for name, reduction, opts, tensors, f in cases():
        inputs = {k.replace("_int64", ""): v for k, v in tensors.items()}
        x = inputs.pop("input").clone().requires_grad_(True)
        out = f(x, **inputs, reduction=reduction, **opts)
        (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
        key = ":".join([name, reduction] + [f"{k}={v:g}" for k, v in opts.items()])
        fields = [key] + [f"{k} {fmt_tensor(v)}" for k, v in tensors.items()]
        fields += ["out " + fmt_tensor(out), "grad " + fmt_tensor(grad)]
        lines.append(" ".join(fields))
    path = sys.argv[1] if len(sys.argv) > 1 else __file__.replace("make_loss_goldens.py", "loss_goldens.txt")
    with open(path, "w") as out:
        out.write("# Generated by make_loss_goldens.py from PyTorch " + torch.__version__ + "; do not edit.\n")
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
