# PyTorch 1.13 + functorch on the bench/compare workloads, under the keys of compare_dydx.cpp; prints JSON.
"""Usage: /usr/bin/python3 peers_torch.py FAMILY [KEY_REGEX], FAMILY one of perop, seed, mlp, kernels, conv, train, vmap
(Debian's python3-torch). Threads: torch's defaults (torch.get_num_threads() is recorded, not set). Timing: measure(),
the rule of harness.hpp."""
import json
import math
import sys

import torch
import functorch
import torch.autograd.forward_ad as fwAD

from peer_report import Report, taylor_batches

DET_STEP = 0.37
MLP_SIZES = [2, 64, 64, 64, 3]
SEED_GRAD_LOOP_MAX_M = 100000


def det(shape, offset, dtype=torch.float32):
    """sin(0.37 i + offset) in row-major order: the inputs every tool builds alike (harness.hpp)."""
    return (torch.arange(math.prod(shape), dtype=dtype) * DET_STEP + offset).sin().reshape(shape)


def checksum(t):
    return t.abs().sum(dtype=torch.float64).item()


def checked(got, want, rtol):
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol)
    return checksum(got)


def perop(r):
    a = torch.tensor([1.5], requires_grad=True)
    b = torch.tensor([0.5], requires_grad=True)

    def fwd_bwd(check):
        a.grad = None
        b.grad = None
        ((a * b + a).sin() * b).sum().backward()
        return checksum(a.grad) + checksum(b.grad) if check else 0

    r.run("perop", "fwd_bwd", fwd_bwd)


def seed(r):
    for dtype, name, rtol in ((torch.float32, "f32", 1e-4), (torch.float64, "f64", 1e-10)):
        for m, n in ((2, 2), (1000, 16), (100000, 64), (1000000, 64)):
            key = f"seed/{name}/{m}x{n}"
            if not r.wants(key):
                continue
            x0, W = det((m, 1), 0, dtype), det((1, n), 1, dtype)
            want = x0.pow(2) * W * 3

            def grad_loop(check):  # the seed's way: one reverse pass per output column
                x = x0.clone().requires_grad_(True)
                y = x.pow(3) @ W
                ones = torch.ones(m, dtype=dtype)
                J = torch.cat([torch.autograd.grad(y[:, j], x, ones, retain_graph=True)[0] for j in range(n)], 1)
                return checked(J, want, rtol) if check else 0

            def expand_trick(check):  # x widened to [m,n], an elementwise product, one reverse pass
                x = x0.expand(m, n).contiguous().requires_grad_(True)
                y = x.pow(3) * W
                J = torch.autograd.grad(y, x, torch.ones_like(y))[0]
                return checked(J, want, rtol) if check else 0

            def forward_ad(check):  # one forward-mode pass with tangent 1 per row
                with fwAD.dual_level():
                    y = fwAD.make_dual(x0, torch.ones_like(x0)).pow(3) @ W
                    J = fwAD.unpack_dual(y).tangent
                return checked(J, want, rtol) if check else 0

            jac = functorch.vmap(functorch.jacfwd(lambda xi: xi.pow(3) @ W))  # xi [1] -> [n]; J [m,n,1]

            def vmap_jacfwd(check):
                J = jac(x0)
                return checked(J.reshape(m, n), want, rtol) if check else 0

            if m > SEED_GRAD_LOOP_MAX_M:
                r.skip(key, "grad_loop", "over 5 s per call: n reverse passes over [m,n]")
            else:
                r.run(key, "grad_loop", grad_loop)
            r.run(key, "expand_trick", expand_trick)
            r.run(key, "forward_ad", forward_ad)
            r.run(key, "vmap_jacfwd", vmap_jacfwd)


def mlp(r):
    def make_params(requires_grad):
        ps = []
        for l in range(4):
            i, o = MLP_SIZES[l], MLP_SIZES[l + 1]
            ps += [(det((i, o), l + 1) / i ** 0.5).requires_grad_(requires_grad),
                   (det((o,), l + 11) * 0.1).requires_grad_(requires_grad)]
        return ps

    def f_with(ps):
        def f(h):  # one sample [2] -> [3], or a batch [B,2] -> [B,3]
            for l in range(4):
                h = torch.nn.functional.linear(h, ps[2 * l].T, ps[2 * l + 1])  # each tool's fused layer
                if l < 3:
                    h = torch.tanh(h)
            return h
        return f

    f, trained = f_with(make_params(False)), make_params(True)
    ft = f_with(trained)

    def hessian_trace(g, x):  # [B,3]: trace of the per-sample Hessian [B,3,2,2]
        return functorch.vmap(functorch.hessian(g))(x).diagonal(dim1=-2, dim2=-1).sum(-1)

    def nested_laplacian(g, x0, create_graph):  # as nested_laplacian in compare_libtorch.cpp
        x = x0.detach().requires_grad_(True)
        y = g(x)
        ones = torch.ones(x.shape[0])
        cols = []
        for j in range(3):
            d = torch.autograd.grad(y[:, j], x, ones, create_graph=True)[0]
            cols.append(sum(torch.autograd.grad(d[:, k], x, ones, retain_graph=True, create_graph=create_graph)[0][:, k]
                            for k in range(2)))
        return torch.stack(cols, 1)

    def weight_grads(loss):  # the last bias does not change a Laplacian: allow_unused, counted as zero
        return sum(checksum(g) for g in torch.autograd.grad(loss, trained, allow_unused=True) if g is not None)

    for B in (10000, 100000):
        x = det((B, 2), 0)
        target = det((B, 3), 5)

        def forward(check):
            with torch.no_grad():
                y = f(x)
            return checksum(y) if check else 0

        jacrev, jacfwd = functorch.vmap(functorch.jacrev(f)), functorch.vmap(functorch.jacfwd(f))

        def train_hessian(check):
            loss = (hessian_trace(ft, x) - target).pow(2).mean()
            return weight_grads(loss) if check else torch.autograd.grad(loss, trained, allow_unused=True)

        def train_nested(check):
            loss = (nested_laplacian(ft, x, True) - target).pow(2).mean()
            return weight_grads(loss) if check else torch.autograd.grad(loss, trained, allow_unused=True)

        r.run(f"mlp/forward/{B}", "forward", forward)
        r.run(f"mlp/jacobian/{B}", "vmap_jacrev", lambda check: checksum(jacrev(x)) if check else jacrev(x))
        r.run(f"mlp/jacobian/{B}", "vmap_jacfwd", lambda check: checksum(jacfwd(x)) if check else jacfwd(x))
        r.run(f"mlp/laplacian/{B}", "vmap_hessian_trace",
              lambda check: checksum(hessian_trace(f, x)) if check else hessian_trace(f, x))
        r.run(f"mlp/laplacian/{B}", "nested_grad",
              lambda check: checksum(nested_laplacian(f, x, False)) if check else nested_laplacian(f, x, False))
        r.run(f"mlp/train/{B}", "vmap_hessian_trace", train_hessian)
        r.run(f"mlp/train/{B}", "nested_grad", train_nested)


def pinn(r):
    """One training step of examples/pinn_poisson.cpp's physics-informed network, as pinn() in compare_dydx.cpp; the
    Laplacian by nested torch.autograd.grad with create_graph=True, as PINN code in PyTorch computes it."""
    if not r.wants("pinn/f64/step"):
        return
    sizes, n, f64 = [2, 32, 32, 1], 32, torch.float64
    params = []
    for l in range(3):
        params += [(det((sizes[l + 1], sizes[l]), l + 1, f64) / math.sqrt(sizes[l])).requires_grad_(True),
                   (det((sizes[l + 1],), l + 11, f64) * 0.1).requires_grad_(True)]

    def u(h):
        for l in range(3):
            h = torch.nn.functional.linear(h, params[2 * l], params[2 * l + 1])
            if l < 2:
                h = torch.tanh(h)
        return h

    c = (torch.arange(n, dtype=f64) + 0.5) / n
    zero, one = torch.zeros(n, dtype=f64), torch.ones(n, dtype=f64)
    interior = torch.stack([c.unsqueeze(1).expand(n, n).reshape(-1), c.unsqueeze(0).expand(n, n).reshape(-1)], 1)
    boundary = torch.cat([torch.stack(p, 1) for p in ((c, zero), (c, one), (zero, c), (one, c))], 0)
    f = ((interior[:, 0] * math.pi).sin() * (interior[:, 1] * math.pi).sin() * (2 * math.pi ** 2)).unsqueeze(1)
    adam = torch.optim.Adam(params, lr=1e-3)

    def step(check):
        adam.zero_grad()
        x = interior.detach().requires_grad_(True)
        du = torch.autograd.grad(u(x).sum(), x, create_graph=True)[0]
        lap = sum(torch.autograd.grad(du[:, k].sum(), x, create_graph=True)[0][:, k:k + 1] for k in range(2))
        loss = (lap + f).pow(2).mean() + u(boundary).pow(2).mean() * 100
        loss.backward()
        adam.step()
        return loss.item() if check else 0

    r.run("pinn/f64/step", "nested_grad_adam", step)


# The act/ cases (harness.hpp's kActivations): name, whether the input is |x|, the function.
ACTIVATIONS = [("exp", False, torch.exp), ("expm1", False, torch.expm1), ("log1p", True, torch.log1p),
               ("sin", False, torch.sin), ("tan", False, torch.tan), ("tanh", False, torch.tanh), ("sigmoid", False, torch.sigmoid),
               ("silu", False, torch.nn.functional.silu), ("softplus", False, torch.nn.functional.softplus),
               ("gelu", False, torch.nn.functional.gelu), ("erf", False, torch.erf),
               ("softmax", False, lambda x: torch.softmax(x, 1)), ("log_softmax", False, lambda x: torch.log_softmax(x, 1)),
               ("logsumexp", False, lambda x: torch.logsumexp(x, 1))]


# The grad/ cases (harness.hpp's kGradients): the loss whose gradient with respect to x is timed.
GRADIENTS = ["silu", "gelu", "tanh", "sigmoid", "softplus", "clamp", "square", "mse_loss", "cross_entropy", "layer_norm"]


def gradient_loss(name, x, target, labels):
    F = torch.nn.functional
    elementwise = {"silu": F.silu, "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus,
                   "clamp": lambda t: t.clamp(-1.0, 1.0), "square": lambda t: t.pow(2)}
    if name in elementwise:
        return elementwise[name](x).sum()
    if name == "mse_loss":
        return F.mse_loss(x, target)
    if name == "cross_entropy":
        return F.cross_entropy(x, labels)
    return (F.layer_norm(x, [64]) * target).sum()


def kernels(r):
    torch.set_grad_enabled(False)
    if r.wants("chain"):
        x = (det((1 << 24,), 0) + 1) * 0.5

        def chain(check):
            t = x.exp()
            t = t.sin()
            t = t * x
            t = t + x
            t = t.tanh()
            t = t.sigmoid()
            t = t.cos()
            t = t - x
            t = t.abs()
            t = t.sqrt()
            return checksum(t) if check else 0

        r.run("chain", "eager", chain)
    for name, positive, f in ACTIVATIONS:
        if r.wants(f"act/{name}"):
            x = det((10000, 64), 0) * 3.0  # harness.hpp's kActivationShape and kActivationScale
            x = x.abs() if positive else x

            def act(check, f=f, x=x):
                y = f(x)
                return checksum(y) if check else 0

            r.run(f"act/{name}", "eager", act)
    for name in GRADIENTS:
        if r.wants(f"grad/{name}"):
            x = (det((10000, 64), 0) * 3.0).requires_grad_()  # harness.hpp's kGradients
            target = det((10000, 64), 1)
            labels = torch.arange(10000) % 64

            def backward(check, name=name, x=x, target=target, labels=labels):
                with torch.enable_grad():
                    dx = torch.autograd.grad(gradient_loss(name, x, target, labels), x)[0]
                return checksum(dx) if check else 0

            r.run(f"grad/{name}", "backward", backward)
    if any(r.wants(f"{op}/dim{d}") for op in ("sum", "mean") for d in (0, 1)):
        A = det((4096, 4096), 0)
        for dim in (0, 1):
            r.run(f"sum/dim{dim}", "sum", lambda check: checksum(A.sum(dim)) if check else A.sum(dim))
            r.run(f"mean/dim{dim}", "mean", lambda check: checksum(A.mean(dim)) if check else A.mean(dim))
    for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
        if r.wants(f"gemm/{name}"):
            A, B = det((2048, 2048), 0, dtype), det((2048, 2048), 1, dtype)
            r.run(f"gemm/{name}", "matmul", lambda check: checksum(A @ B) if check else A @ B)


def conv(r):
    """A small CNN's two convolutions forward and backward, as conv() in compare_dydx.cpp."""
    for c, oc, hw in ((1, 16, 28), (16, 32, 14)):
        key = f"conv/{c}x{oc}x{hw}"
        if not r.wants(key):
            continue
        x = det((32, c, hw, hw), 0).requires_grad_(c > 1)
        w = (det((oc, c, 3, 3), 1) * 0.3).requires_grad_()
        b = (det((oc,), 2) * 0.1).requires_grad_()

        def fwd_bwd(check, x=x, w=w, b=b, c=c):
            for t in (x, w, b):
                t.grad = None
            torch.conv2d(x, w, b, 1, 1).sum().backward()
            if not check:
                return 0
            return checksum(w.grad) + checksum(b.grad) + (checksum(x.grad) if c > 1 else 0)

        r.run(key, "fwd_bwd", fwd_bwd)


def train(r):
    """One classification training step of a small CNN and of an MLP, as train() in compare_dydx.cpp: torch.nn
    modules in nn.Sequential, weights from det() (parameter i: det(shape, 21 + i) times 1/sqrt(fan_in) for weights,
    0.1 for biases), F.cross_entropy on labels i % 10, backward, torch.optim.Adam (lr 1e-3). The checksum is the
    first call's loss plus the sum of |gradient| over all parameters."""
    nn = torch.nn
    models = {
        "train/cnn": (lambda: nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                            nn.Flatten(), nn.Linear(32 * 7 * 7, 10)), (32, 1, 28, 28)),
        "train/mlp": (lambda: nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                            nn.Linear(256, 10)), (128, 784)),
    }
    for key, (make, shape) in models.items():
        if not r.wants(key):
            continue
        model, x = make(), det(shape, 0)
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(det(p.shape, 21 + i) * (1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.1))
        labels = torch.arange(shape[0]).fmod(10)
        adam = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(check, model=model, x=x, labels=labels, adam=adam):
            adam.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), labels)
            loss.backward()
            total = loss.item() + sum(checksum(p.grad) for p in model.parameters()) if check else 0
            adam.step()
            return total

        r.run(key, "module_adam", step)


def det_params(shapes):
    """[W, b, ...] in torch's layout, as the train family sets them: det(shape, 21 + i) times 1/sqrt(fan_in) for
    weights, 0.1 for biases."""
    return [det(s, 21 + i) * (1 / math.sqrt(math.prod(s[1:])) if len(s) > 1 else 0.1) for i, s in enumerate(shapes)]


def one_hot_labels(B):
    """Labels i % 10 as one-hot float rows [B, 10]: -sum(onehot * log_softmax) is the cross-entropy at the label."""
    return (torch.arange(10).unsqueeze(0) == torch.arange(B).fmod(10).unsqueeze(1)).float()


def persample_mlp(p, x):  # one sample [784] -> logits [10]
    F = torch.nn.functional
    return F.linear(F.relu(F.linear(x, p[0], p[1])), p[2], p[3])


def persample_cnn(p, x):  # one sample [1, 28, 28] -> logits [10]
    F = torch.nn.functional
    h = F.max_pool2d(F.relu(F.conv2d(x, p[0], p[1], 1, 1)), 2)
    return F.linear(h.reshape(-1), p[2], p[3])


def vmap_family(r):
    """As vmap_family() in compare_dydx.cpp: per-sample gradients by functorch.vmap(functorch.grad(loss)), the
    empirical NTK by vmap(jacrev) and a contraction (functorch's NTK tutorial). vmap_vs_batch_jacobian is dydx's
    own comparison and has no peer."""
    for net, logits, shapes, sample in (
            ("mlp", persample_mlp, [(128, 784), (128,), (10, 128), (10,)], (784,)),
            ("cnn", persample_cnn, [(8, 1, 3, 3), (8,), (10, 8 * 14 * 14), (10,)], (1, 28, 28))):
        for B in (64, 1024):
            key = f"persample/{net}/B{B}"
            if not r.wants(key):
                continue
            params, x, t = det_params(shapes), det((B,) + sample, 0), one_hot_labels(B)

            def loss(w0, b0, w1, b1, x, t, logits=logits):
                return -(torch.log_softmax(logits((w0, b0, w1, b1), x), -1) * t).sum()

            per_sample = functorch.vmap(functorch.grad(loss, argnums=(0, 1, 2, 3)), in_dims=(None,) * 4 + (0, 0))

            def call(check, per_sample=per_sample, params=params, x=x, t=t):
                g = per_sample(*params, x, t)
                return sum(checksum(gi) for gi in g) if check else 0

            r.run(key, "vmap_grad", call)

    if r.wants("ntk/mlp"):
        params = det_params([(64, 16), (64,), (64, 64), (64,), (10, 64), (10,)])
        N, M, out = 32, 16, 10
        x1, x2 = det((N, 16), 0), det((M, 16), 1)

        def f(*args):
            h = args[6]
            for l in range(3):
                h = torch.nn.functional.linear(h, args[2 * l], args[2 * l + 1])
                if l < 2:
                    h = torch.tanh(h)
            return h

        jac = functorch.vmap(functorch.jacrev(f, argnums=tuple(range(6))), in_dims=(None,) * 6 + (0,))

        def ntk(check):
            j1, j2 = jac(*params, x1), jac(*params, x2)
            K = sum(a.reshape(N * out, -1) @ b.reshape(M * out, -1).T for a, b in zip(j1, j2))
            K = K.reshape(N, out, M, out).permute(0, 2, 1, 3)
            return checksum(K) if check else 0

        r.run("ntk/mlp", "vmap_jacrev", ntk)


def taylor_family(r):
    """As taylor_family() in compare_dydx.cpp: the Laplacian (D = 50) and the biharmonic (D = 5) of the MLP tanh
    D -> 768 -> 768 -> 512 -> 512 -> 1 per row of x [B, D] for each batch of taylor_batches(), by functorch's nested
    first-order AD: vmap over rows of the trace of hessian(f), and of hessian of that."""
    def mlp_params(d):
        sizes = [d, 768, 768, 512, 512, 1]
        shapes = []
        for l in range(5):
            shapes += [(sizes[l + 1], sizes[l]), (sizes[l + 1],)]
        return det_params(shapes)

    def row_fn(ps):
        def f(u):  # one row [D] -> [1]
            h = u
            for l in range(5):
                h = torch.nn.functional.linear(h, ps[2 * l], ps[2 * l + 1])
                if l < 4:
                    h = torch.tanh(h)
            return h
        return f

    def trace_of_hessian(g):
        return lambda u: functorch.hessian(g)(u).diagonal(dim1=-2, dim2=-1).sum(-1)

    def case(fn, x):
        def call(check):
            out = fn(x)
            return checksum(out) if check else 0
        return call

    f50, f5 = row_fn(mlp_params(50)), row_fn(mlp_params(5))
    sigma = det((50, 25), 7) * 0.2
    lap = functorch.vmap(trace_of_hessian(f50))
    weighted = functorch.vmap(lambda u: trace_of_hessian(lambda z: f50(u + sigma @ z))(torch.zeros(25)))
    bih = functorch.vmap(trace_of_hessian(trace_of_hessian(f5)))
    for B in taylor_batches(False):
        if r.wants(f"taylor/laplacian/D50/B{B}"):
            r.run(f"taylor/laplacian/D50/B{B}", "vmap_hessian_trace", case(lap, det((B, 50), 3)))
        if r.wants(f"taylor/weighted_laplacian/D50/B{B}"):
            r.run(f"taylor/weighted_laplacian/D50/B{B}", "vmap_hessian_trace", case(weighted, det((B, 50), 3)))
    for B in taylor_batches(True):
        if r.wants(f"taylor/biharmonic/D5/B{B}"):
            r.run(f"taylor/biharmonic/D5/B{B}", "vmap_nested_hessian_trace", case(bih, det((B, 5), 3)))


def main():
    family = sys.argv[1]
    r = Report("torch", sys.argv[2] if len(sys.argv) > 2 else ".")
    {"perop": perop, "seed": seed, "mlp": lambda r: (mlp(r), pinn(r)), "kernels": kernels, "conv": conv,
     "train": train, "vmap": vmap_family, "taylor": taylor_family}[family](r)
    json.dump({"library": "torch", "version": torch.__version__, "functorch": functorch.__version__,
               "num_threads": torch.get_num_threads(), "cases": r.cases}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
