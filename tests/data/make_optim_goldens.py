# Writes optim_goldens.txt: trajectories of torch.optim.SGD, Adam, AdamW and RMSprop (foreach=False, as
# PyTorch 1.13 computes them on the CPU) over 5 steps on a Rosenbrock-like loss, for each option
# combination that changes the arithmetic, in float64 and float32.
# Run with a Python that has torch 1.13:
#   /usr/bin/python3 tests/data/make_optim_goldens.py
# RMSprop's float32 cases are compared to a few ulps: PyTorch's float32 sqrt is MKL's vsSqrt,
# which rounds some results one ulp off the correctly rounded root (float64 is bit for bit).
# test_optim.cpp (OptimGoldens) reads it, sets the same gradients and steps dydx's optimizers.
#
# Format, one record per line:
#   case <name> <SGD|Adam|AdamW|RMSprop> <float32|float64> <option>=<value> ...
#   param <i> <shape> <v,...>        the initial values (shape as 4x5)
#   grad <i> <v,...|none>            the gradient set before a step (none: .grad is None)
#   after <i> <v,...>                the parameter after that step
#   end
# Parameter 1 has no gradient on step 2 (it is skipped, its state does not advance) and parameter
# 2 never has one.
import math

import torch

STEPS = 5


def fmt(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def values(t):
    return ",".join(fmt(v) for v in t.detach().reshape(-1).tolist())


def loss_of(p0, p1):
    x = p0.reshape(-1)
    rosenbrock = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
    return rosenbrock + (p1 ** 4 - p1).sum()


def cases():
    sgd = [
        ("plain", {"lr": 1e-3}),
        ("momentum", {"lr": 1e-3, "momentum": 0.9}),
        ("dampening", {"lr": 1e-3, "momentum": 0.9, "dampening": 0.5}),
        ("nesterov", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
        ("weight_decay", {"lr": 1e-3, "weight_decay": 0.1}),
        ("momentum_weight_decay", {"lr": 1e-3, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.01}),
        ("nesterov_weight_decay", {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.1, "nesterov": True}),
    ]
    adam = [
        ("default", {"lr": 1e-2}),
        ("amsgrad", {"lr": 1e-2, "amsgrad": True}),
        ("weight_decay", {"lr": 1e-2, "weight_decay": 0.1}),
        ("amsgrad_weight_decay", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
        ("betas_eps", {"lr": 3e-2, "betas": (0.5, 0.9), "eps": 1e-3}),
    ]
    adamw = [
        ("default", {"lr": 1e-2}),
        ("amsgrad", {"lr": 1e-2, "amsgrad": True}),
        ("no_weight_decay", {"lr": 1e-2, "weight_decay": 0.0}),
        ("betas_weight_decay", {"lr": 3e-2, "betas": (0.8, 0.99), "weight_decay": 0.5, "amsgrad": True}),
    ]
    rmsprop = [
        ("default", {"lr": 1e-2}),
        ("momentum", {"lr": 1e-2, "momentum": 0.9}),
        ("centered", {"lr": 1e-2, "centered": True}),
        ("centered_momentum", {"lr": 1e-2, "momentum": 0.5, "centered": True}),
        ("weight_decay", {"lr": 1e-2, "weight_decay": 0.1}),
        ("everything", {"lr": 3e-2, "alpha": 0.9, "eps": 1e-3, "weight_decay": 0.05, "momentum": 0.8,
                        "centered": True}),
    ]
    for name, opts in sgd:
        yield "sgd_" + name, "SGD", torch.optim.SGD, opts
    for name, opts in adam:
        yield "adam_" + name, "Adam", torch.optim.Adam, opts
    for name, opts in adamw:
        yield "adamw_" + name, "AdamW", torch.optim.AdamW, opts
    for name, opts in rmsprop:
        yield "rmsprop_" + name, "RMSprop", torch.optim.RMSprop, opts


def option_text(opts):
    parts = []
    for k, v in opts.items():
        if k == "betas":
            parts += ["beta1=" + fmt(v[0]), "beta2=" + fmt(v[1])]
        elif isinstance(v, bool):
            parts.append(k + "=" + str(int(v)))
        else:
            parts.append(k + "=" + fmt(v))
    return " ".join(parts)


def main():
    lines = []
    for dtype_name, dtype in [("float64", torch.float64), ("float32", torch.float32)]:
        for name, kind, cls, opts in cases():
            g = torch.Generator().manual_seed(13)
            params = [(torch.randn(4, 5, generator=g, dtype=torch.float64) * 0.5 + 0.5).to(dtype),
                      torch.randn(3, generator=g, dtype=torch.float64).to(dtype),
                      torch.randn(2, generator=g, dtype=torch.float64).to(dtype)]
            for p in params:
                p.requires_grad_(True)
            opt = cls(params, foreach=False, **opts)
            lines.append(f"case {name} {kind} {dtype_name} {option_text(opts)}")
            for i, p in enumerate(params):
                lines.append(f"param {i} {'x'.join(str(s) for s in p.shape)} {values(p)}")
            for step in range(STEPS):
                opt.zero_grad(set_to_none=True)
                loss_of(params[0], params[1]).backward()
                if step == 2:
                    params[1].grad = None
                for i, p in enumerate(params):
                    lines.append(f"grad {i} {values(p.grad) if p.grad is not None else 'none'}")
                opt.step()
                for i, p in enumerate(params):
                    lines.append(f"after {i} {values(p)}")
            lines.append("end")
    path = __file__.rsplit("/", 1)[0] + "/optim_goldens.txt"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
