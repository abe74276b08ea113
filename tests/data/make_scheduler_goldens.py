# Writes scheduler_goldens.txt: the learning rates PyTorch 1.13's torch.optim.lr_scheduler sets,
# step by step, for StepLR, ExponentialLR, CosineAnnealingLR (whose recursive form PyTorch's
# get_lr computes, also after the rate is set by hand) and ReduceLROnPlateau.
# Run with a Python that has torch 1.13:
#   /usr/bin/python3 tests/data/make_scheduler_goldens.py
# test_schedulers.cpp reads it and drives dydx's schedulers over an SGD optimizer the same way.
#
# Format, one record per line:
#   case <name> <StepLR|ExponentialLR|CosineAnnealingLR|ReduceLROnPlateau> lr=<v> <option>=<value> ...
#   step <lr after the step>                     (the epoch schedulers)
#   step <metric> <lr after the step>            (ReduceLROnPlateau)
#   set <lr>                                     the rate set by hand on the optimizer
#   end
import math

import torch
from torch.optim import lr_scheduler

from make_edge_cases import fmt


def epoch_cases():
    yield "step_3_half", "StepLR", 0.1, {"step_size": 3, "gamma": 0.5}, 14, {}
    yield "step_1", "StepLR", 0.3, {"step_size": 1, "gamma": 0.9}, 20, {}
    yield "step_set_by_hand", "StepLR", 0.1, {"step_size": 2, "gamma": 0.1}, 10, {5: 0.7}
    yield "exponential", "ExponentialLR", 0.2, {"gamma": 0.95}, 30, {}
    yield "exponential_set_by_hand", "ExponentialLR", 0.2, {"gamma": 0.5}, 8, {3: 1.0}
    yield "cosine_10", "CosineAnnealingLR", 0.1, {"T_max": 10, "eta_min": 0.001}, 45, {}
    yield "cosine_7_zero", "CosineAnnealingLR", 0.05, {"T_max": 7, "eta_min": 0.0}, 30, {}
    yield "cosine_1", "CosineAnnealingLR", 0.05, {"T_max": 1, "eta_min": 0.01}, 6, {}
    yield "cosine_set_by_hand", "CosineAnnealingLR", 0.1, {"T_max": 6, "eta_min": 0.002}, 20, {4: 0.5, 13: 0.01}


def plateau_cases():
    falling = [10.0, 9.0, 8.0, 8.0, 8.0, 8.0, 7.99999, 8.5, 9.0, 9.0, 9.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 6.0]
    rising = [0.1, 0.2, 0.2, 0.2, 0.25, 0.25, 0.25, 0.25, 0.3, 0.3, 0.3, 0.3]
    with_nan = [1.0, float("nan"), float("nan"), 0.5, float("nan"), float("nan"), float("nan"), 0.4, 0.4]
    long_plateau = [1.0] * 40
    yield "min_rel", 0.1, {"patience": 2}, falling
    yield "min_abs_cooldown", 0.1, {"patience": 1, "threshold": 0.5, "threshold_mode": "abs", "cooldown": 2}, falling
    yield "max_rel", 1.0, {"mode": "max", "patience": 1, "factor": 0.5}, rising
    yield "max_abs", 1.0, {"mode": "max", "patience": 0, "threshold": 0.01, "threshold_mode": "abs"}, rising
    yield "nan_metrics", 0.1, {"patience": 1, "factor": 0.5}, with_nan
    yield "min_lr_floor", 0.1, {"patience": 0, "factor": 0.3, "min_lr": 0.001}, long_plateau
    yield "eps_stops", 1e-7, {"patience": 0, "factor": 0.5, "eps": 1e-8}, long_plateau


def option_text(opts):
    return " ".join(f"{k}={v if isinstance(v, str) else fmt(v)}" for k, v in opts.items())


def main():
    lines = []
    for name, kind, lr, opts, steps, by_hand in epoch_cases():
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sched = getattr(lr_scheduler, kind)(opt, **opts)
        lines.append(f"case {name} {kind} lr={fmt(lr)} {option_text(opts)}")
        for epoch in range(1, steps + 1):
            if epoch in by_hand:
                opt.param_groups[0]["lr"] = by_hand[epoch]
                lines.append(f"set {fmt(by_hand[epoch])}")
            sched.step()
            assert sched.get_last_lr()[0] == opt.param_groups[0]["lr"]
            lines.append(f"step {fmt(sched.get_last_lr()[0])}")
        lines.append("end")
    for name, lr, opts, metrics in plateau_cases():
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sched = lr_scheduler.ReduceLROnPlateau(opt, **opts)
        lines.append(f"case {name} ReduceLROnPlateau lr={fmt(lr)} {option_text(opts)}")
        for m in metrics:
            sched.step(m)
            lines.append(f"step {fmt(m)} {fmt(opt.param_groups[0]['lr'])}")
        lines.append("end")
    path = __file__.rsplit("/", 1)[0] + "/scheduler_goldens.txt"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
