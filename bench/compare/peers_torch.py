# PyTorch 1.13 + functorch timings of the bench/compare workloads (seed per-sample derivative, MLP), printed as JSON.
"""Run with Debian's /usr/bin/python3 (python3-torch 1.13). Threads: torch's defaults (torch.get_num_threads() is
recorded, not set). Each case: warm-up calls, then `reps` repetitions, each timing enough back-to-back calls with
time.perf_counter to last >= min_rep_s; the per-call time of each repetition is kept and the median reported."""
import json
import statistics
import sys
import time

import torch
import functorch
import torch.autograd.forward_ad as fwAD


def measure(fn, reps=5, min_rep_s=0.05, warmup=2, max_calls=None):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    calls = max(1, int(min_rep_s / max(one, 1e-9)))
    if max_calls:
        calls = min(calls, max_calls)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls)
    return {"median_s": statistics.median(times), "reps": reps, "calls_per_rep": calls,
            "min_s": min(times), "max_s": max(times)}


def seed_cases(m, n, slow):
    torch.manual_seed(0)
    x0 = torch.randn(m, 1)
    torch.manual_seed(1)
    W = torch.randn(1, n)

    def grad_loop():  # the seed's way: one reverse pass per output column, columns concatenated
        x = x0.clone().requires_grad_(True)
        y = x.pow(3) @ W
        cols = [torch.autograd.grad(y[:, j], x, torch.ones(m), retain_graph=True)[0] for j in range(n)]
        return torch.cat(cols, 1)

    def expand_trick():  # x widened to [m,n], elementwise product, one reverse pass
        x = x0.expand(m, n).contiguous().requires_grad_(True)
        y = x.pow(3) * W
        return torch.autograd.grad(y, x, torch.ones_like(y))[0]

    def forward_dual():  # one forward-mode pass with tangent 1 per sample gives all n columns
        with fwAD.dual_level():
            x = fwAD.make_dual(x0, torch.ones_like(x0))
            y = x.pow(3) @ W
            return fwAD.unpack_dual(y).tangent

    jac = functorch.vmap(functorch.jacfwd(lambda xi: xi.pow(3) @ W))  # xi [1] -> [n]; J [m,n,1]

    def vmap_jacfwd():
        return jac(x0)

    ref = expand_trick()
    for name, f in (("grad_loop", grad_loop), ("forward_ad", forward_dual), ("vmap_jacfwd", vmap_jacfwd)):
        torch.testing.assert_close(f().reshape(m, n), ref, rtol=1e-4, atol=1e-4, msg=name)
    out = {}
    for name, f in (("grad_loop", grad_loop), ("expand_trick", expand_trick), ("forward_ad", forward_dual),
                    ("vmap_jacfwd", vmap_jacfwd)):
        if name == "grad_loop" and slow:
            out[name] = measure(f, reps=3, warmup=1, max_calls=1)
        else:
            out[name] = measure(f, reps=5)
    return out


def mlp_cases(B):
    torch.manual_seed(2)
    sizes = [2, 64, 64, 64, 3]
    Ws = [torch.randn(sizes[i], sizes[i + 1]) / sizes[i] ** 0.5 for i in range(4)]
    bs = [torch.zeros(sizes[i + 1]) for i in range(4)]

    def f(h):  # works for one sample [2] and for a batch [B,2]
        for i in range(4):
            h = h @ Ws[i] + bs[i]
            if i < 3:
                h = torch.tanh(h)
        return h

    torch.manual_seed(3)
    x = torch.randn(B, 2)

    def forward():
        with torch.no_grad():
            return f(x)

    jacrev = functorch.vmap(functorch.jacrev(f))
    jacfwd = functorch.vmap(functorch.jacfwd(f))
    hess = functorch.vmap(functorch.hessian(f))  # [B,3,2,2]

    def laplacian():
        return hess(x).diagonal(dim1=-2, dim2=-1).sum(-1)  # [B,3]

    torch.testing.assert_close(jacrev(x), jacfwd(x), rtol=1e-4, atol=1e-5)
    return {"forward": {"forward": measure(forward)},
            "jacobian": {"vmap_jacrev": measure(lambda: jacrev(x)), "vmap_jacfwd": measure(lambda: jacfwd(x))},
            "laplacian": {"vmap_hessian_trace": measure(laplacian)}}


def main():
    res = {"library": "torch", "version": torch.__version__, "functorch": functorch.__version__,
           "num_threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
           "cases": {}}
    for m, n in ((2, 2), (1000, 16), (100000, 64)):
        res["cases"][f"seed/{m}/{n}"] = seed_cases(m, n, slow=m >= 100000)
        print(f"torch seed {m} {n} done", file=sys.stderr)
    for k, v in mlp_cases(10000).items():
        res["cases"][f"mlp_{k}/10000"] = v
    print("torch mlp done", file=sys.stderr)
    json.dump(res, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
