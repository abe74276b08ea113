# Writes lbfgs_goldens.txt: trajectories of PyTorch 1.13's torch.optim.LBFGS, with and without
# the strong-Wolfe line search, on Rosenbrock's function and on a small least-squares model
# (weights and bias), in float64 (and one float32 case). Each step(closure) is recorded with the
# loss it returns, the counters of its state and the parameters after it.
# Run with a Python that has torch 1.13:
#   /usr/bin/python3 tests/data/make_lbfgs_goldens.py
# test_lbfgs.cpp reads it. PyTorch's dot products come from its BLAS, whose summation order
# dydx does not share, so the test compares to a stated tolerance rather than bit for bit.
#
# Format, one record per line:
#   case <name> <rosenbrock|lstsq> <float32|float64> <option>=<value> ...
#   param <i> <shape> <v,...>      the initial values (shape as 3x4; a 0-d shape is "-")
#   data <X|Y> <shape> <v,...>     lstsq's inputs and targets
#   step <loss> <func_evals> <n_iter>
#   after <i> <v,...>
#   end
import torch

from make_edge_cases import fmt


def values(t):
    return ",".join(fmt(v) for v in t.detach().reshape(-1).tolist())


def shape(t):
    return "x".join(str(s) for s in t.shape) if t.dim() else "-"


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def cases():
    # name, problem, dtype, options, steps
    yield "rosen2_wolfe", "rosenbrock", torch.float64, {"lr": 1.0, "line_search_fn": "strong_wolfe"}, 4, [-1.5, 2.0]
    yield "rosen2_fixed", "rosenbrock", torch.float64, {"lr": 0.05, "max_iter": 10}, 4, [-1.5, 2.0]
    yield "rosen6_wolfe_history", "rosenbrock", torch.float64, {"lr": 1.0, "line_search_fn": "strong_wolfe",
                                                                 "history_size": 3, "max_iter": 15}, 5, \
        [-1.2, 1.0, -0.5, 0.3, 1.4, 0.9]
    yield "rosen2_wolfe_max_eval", "rosenbrock", torch.float64, {"lr": 1.0, "line_search_fn": "strong_wolfe",
                                                                  "max_iter": 30, "max_eval": 12}, 3, [0.5, -0.7]
    yield "lstsq_wolfe", "lstsq", torch.float64, {"lr": 1.0, "line_search_fn": "strong_wolfe", "max_iter": 8}, 4, None
    yield "lstsq_fixed_history", "lstsq", torch.float64, {"lr": 0.5, "history_size": 2, "max_iter": 6}, 4, None
    yield "lstsq_converges", "lstsq", torch.float64, {"lr": 1.0, "line_search_fn": "strong_wolfe",
                                                      "tolerance_grad": 1e-5}, 3, None
    yield "lstsq_wolfe_float32", "lstsq", torch.float32, {"lr": 1.0, "line_search_fn": "strong_wolfe", "max_iter": 5}, 2, None


def option_text(opts):
    parts = []
    for k, v in opts.items():
        if k == "line_search_fn":
            parts.append("strong_wolfe=1")
        else:
            parts.append(f"{k}={fmt(float(v))}")
    return " ".join(parts)


def main():
    lines = []
    for name, problem, dtype, opts, steps, start in cases():
        dtype_name = "float64" if dtype == torch.float64 else "float32"
        g = torch.Generator().manual_seed(5)
        data = []
        if problem == "rosenbrock":
            params = [torch.tensor(start, dtype=dtype)]
        else:
            X = torch.randn(10, 4, generator=g, dtype=torch.float64).to(dtype)
            Y = (torch.randn(10, 3, generator=g, dtype=torch.float64) * 2).to(dtype)
            params = [torch.randn(3, 4, generator=g, dtype=torch.float64).to(dtype),
                      torch.zeros(3, dtype=dtype)]
            data = [("X", X), ("Y", Y)]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.LBFGS(params, **opts)

        def closure():
            opt.zero_grad()
            if problem == "rosenbrock":
                loss = rosenbrock(params[0])
            else:
                loss = ((X.matmul(params[0].t()) + params[1] - Y) ** 2).mean()
            loss.backward()
            return loss

        lines.append(f"case {name} {problem} {dtype_name} {option_text(opts)}")
        for i, p in enumerate(params):
            lines.append(f"param {i} {shape(p)} {values(p)}")
        for key, t in data:
            lines.append(f"data {key} {shape(t)} {values(t)}")
        for _ in range(steps):
            loss = opt.step(closure)
            state = opt.state[params[0]]
            lines.append(f"step {fmt(loss.item())} {state['func_evals']} {state['n_iter']}")
            for i, p in enumerate(params):
                lines.append(f"after {i} {values(p)}")
        lines.append("end")
    path = __file__.rsplit("/", 1)[0] + "/lbfgs_goldens.txt"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
