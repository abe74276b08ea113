# Writes pinn_lbfgs_goldens.txt: trajectories of torch.optim.LBFGS (PyTorch 1.13) on the extended Rosenbrock
# function in float64, with and without the strong-Wolfe line search, with a short history (so that old pairs
# are dropped) and the defaults. test_pinn_lbfgs.cpp steps the physics-informed network example's fallback L-BFGS
# (examples/pinn/lbfgs.hpp) the same way and compares.
# Run with a Python that has torch 1.13:
#   /usr/bin/python3 tests/data/make_pinn_lbfgs_goldens.py
#
# Format, one record per line:
#   case <name> strong_wolfe=<0|1> lr=<v> max_iter=<n> history_size=<n> steps=<n>
#   start <v,...>                  the initial point
#   step <k> <loss> <v,...>        step() k's return value (the loss before it) and the point after it
#   end
import math

import torch


def fmt(v):
    return repr(float(v))


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


CASES = [
    ("wolfe_defaults_2d", True, 1.0, 20, 100, 4, [-1.5, 2.0]),
    ("wolfe_history3_6d", True, 1.0, 10, 3, 5, [-1.2, 1.0, -0.5, 0.8, 1.3, -0.7]),
    ("fixed_step_6d", False, 0.05, 8, 4, 4, [0.5, 0.8, 0.9, 1.1, 0.7, 0.6]),
]


def main():
    lines = []
    for name, wolfe, lr, max_iter, history, steps, start in CASES:
        x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=max_iter, history_size=history,
                                line_search_fn="strong_wolfe" if wolfe else None)

        def closure():
            opt.zero_grad()
            loss = rosenbrock(x)
            loss.backward()
            return loss

        lines.append(f"case {name} strong_wolfe={int(wolfe)} lr={fmt(lr)} max_iter={max_iter} history_size={history} "
                     f"steps={steps}")
        lines.append("start " + ",".join(fmt(v) for v in start))
        for k in range(steps):
            loss = opt.step(closure)
            assert math.isfinite(loss.item())
            lines.append(f"step {k} {fmt(loss.item())} " + ",".join(fmt(v) for v in x.detach().tolist()))
        lines.append("end")
    with open(__file__.replace("make_pinn_lbfgs_goldens.py", "pinn_lbfgs_goldens.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
