# examples/pinn_poisson.cpp in PyTorch 1.13, for comparison: the same problem, points, network, initial weights,
# loss and schedule (Adam, then torch.optim.LBFGS with line_search_fn="strong_wolfe"), the Laplacian by nested
# torch.autograd.grad with create_graph=True, as PyTorch PINN code computes it.
"""Usage: /usr/bin/python3 examples/pinn_poisson_torch.py [--adam N] [--lbfgs N] [--interior N]   (python3-torch)
Prints the time per Adam step and per L-BFGS loss evaluation and the relative L2 error on a 201 x 201 grid."""
import argparse
import math
import time

import torch

LAYER_SIZES = [2, 32, 32, 1]
BOUNDARY_WEIGHT = 100.0  # as kBoundaryWeight in examples/pinn/poisson_problem.hpp
MASK = (1 << 64) - 1


def uniform_splitmix(shape, bound, seed):
    """The numbers of pinn::uniform_splitmix: SplitMix64 from `seed`, mapped to [-bound, bound)."""
    values, state = [], seed
    for _ in range(math.prod(shape)):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        values.append(bound * (2 * ((z >> 11) * 2.0 ** -53) - 1))
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def make_model():
    layers = []
    for l in range(3):
        lin = torch.nn.Linear(LAYER_SIZES[l], LAYER_SIZES[l + 1]).double()
        bound = 1 / math.sqrt(LAYER_SIZES[l])
        with torch.no_grad():
            lin.weight.copy_(uniform_splitmix(lin.weight.shape, bound, 2 * l + 1))
            lin.bias.copy_(uniform_splitmix(lin.bias.shape, bound, 2 * l + 2))
        layers += [lin, torch.nn.Tanh()] if l < 2 else [lin]
    return torch.nn.Sequential(*layers)


def interior_points(n):
    c = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return torch.stack([c.unsqueeze(1).expand(n, n).reshape(-1), c.unsqueeze(0).expand(n, n).reshape(-1)], 1)


def boundary_points(n):
    c = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    zero, one = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    return torch.cat([torch.stack(p, 1) for p in ((c, zero), (c, one), (zero, c), (one, c))], 0)


def exact_solution(x):
    return (torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])).unsqueeze(1)


def laplacian(model, x):
    x = x.detach().requires_grad_(True)
    u = model(x)
    du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    return sum(torch.autograd.grad(du[:, k].sum(), x, create_graph=True)[0][:, k:k + 1] for k in range(2))


def source_term(x):
    return exact_solution(x) * (2 * math.pi ** 2)


def pinn_loss(model, interior, f, boundary):
    residual = laplacian(model, interior) + f
    return residual.pow(2).mean() + model(boundary).pow(2).mean() * BOUNDARY_WEIGHT


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--adam", type=int, default=1000)
    parser.add_argument("--lbfgs", type=int, default=50)
    parser.add_argument("--interior", type=int, default=32, help="an N x N grid of interior points")
    args = parser.parse_args()
    model = make_model()
    interior, boundary = interior_points(args.interior), boundary_points(32)
    f = source_term(interior)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    losses = []

    def closure(opt):
        opt.zero_grad()
        loss = pinn_loss(model, interior, f, boundary)
        loss.backward()
        losses.append(loss.item())
        return loss

    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for step in range(1, args.adam + 1):
        closure(adam)
        adam.step()
        if step % max(args.adam // 10, 1) == 0:
            print(f"adam   step {step:6d}/{args.adam}  loss {losses[-1]:.3e}", flush=True)
    adam_seconds = time.perf_counter() - start

    lbfgs = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=20, history_size=100, line_search_fn="strong_wolfe")
    evals_before, start = len(losses), time.perf_counter()
    for step in range(1, args.lbfgs + 1):
        lbfgs.step(lambda: closure(lbfgs))
        if step % max(args.lbfgs // 10, 1) == 0:
            print(f"lbfgs  step {step:6d}/{args.lbfgs}  loss {losses[-1]:.3e}", flush=True)
    lbfgs_seconds, lbfgs_evals = time.perf_counter() - start, len(losses) - evals_before

    n = 201
    g = torch.linspace(0, 1, n, dtype=torch.float64)
    grid = torch.stack([g.unsqueeze(0).expand(n, n).reshape(-1), g.unsqueeze(1).expand(n, n).reshape(-1)], 1)
    with torch.no_grad():
        learned, exact = model(grid), exact_solution(grid)
    rel_l2 = ((learned - exact).pow(2).sum() / exact.pow(2).sum()).sqrt().item()
    adam_ms = adam_seconds / max(args.adam, 1) * 1e3
    print(f"adam:  {args.adam} steps in {adam_seconds:.2f} s, {adam_ms:.3f} ms/step ({1e3 / adam_ms:.0f} steps/s)")
    print(f"lbfgs: {args.lbfgs} steps, {lbfgs_evals} loss evaluations in {lbfgs_seconds:.2f} s, "
          f"{lbfgs_seconds / max(lbfgs_evals, 1) * 1e3:.3f} ms/evaluation")
    print(f"final loss {losses[-1]:.3e}")
    print(f"relative L2 error vs the exact solution on a {n}x{n} grid: {rel_l2:.3e} (target 1e-03)")


if __name__ == "__main__":
    main()
