# JAX (CPU, every function under jax.jit) on the bench/compare workloads, under the keys of compare_dydx.cpp; prints JSON.
"""Usage: JAX_VENV/bin/python peers_jax.py FAMILY [KEY_REGEX], FAMILY one of perop, seed, mlp, kernels, conv, train, vmap
(perop is recorded as skipped: jit would fuse the five ops into one kernel, which is not the overhead being measured).
float64 is enabled so that the f64 seed and dgemm run in f64; every array's dtype is given explicitly. Each function
is compiled by the checked call before timing (compile time excluded); every call ends in block_until_ready.
Timing: measure(), the rule of harness.hpp."""
import functools
import json
import math
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402  (after the x64 switch)
import jax.scipy.special  # noqa: E402,F401  (jax.scipy.special.erf below)
import numpy as np  # noqa: E402

from peer_report import Report, taylor_batches  # noqa: E402

DET_STEP = 0.37
MLP_SIZES = [2, 64, 64, 64, 3]


def jitted_case(jitted, *args, want=None, rtol=None):
    """A case for Report.run: each call runs jitted(*args) to completion; the first, checked call (which also
    compiles) compares the result with want when given, and checksums it."""
    def call(check):
        out = jax.block_until_ready(jitted(*args))
        if not check:
            return 0
        if want is not None:
            np.testing.assert_allclose(np.asarray(out).reshape(want.shape), want, rtol=rtol, atol=rtol)
        return sum(np.abs(np.asarray(leaf, dtype=np.float64)).sum() for leaf in jax.tree_util.tree_leaves(out))

    def memory_extra():
        """For the memory mode (peer_report.py): XLA's own account of the compiled call's buffers."""
        m = jitted.lower(*args).compile().memory_analysis()
        if m is None:
            return {"xla_memory_analysis": None}
        return {"xla_temp_bytes": m.temp_size_in_bytes, "xla_output_bytes": m.output_size_in_bytes,
                "xla_argument_bytes": m.argument_size_in_bytes}
    call.memory_extra = memory_extra
    return call


def det(shape, offset, dtype=jnp.float32):
    """sin(0.37 i + offset) in row-major order: the inputs every tool builds alike (harness.hpp)."""
    i = jnp.arange(math.prod(shape), dtype=dtype)
    return jnp.sin(i * jnp.asarray(DET_STEP, dtype) + jnp.asarray(offset, dtype)).reshape(shape)


def perop(r):
    r.skip("perop", "jit", "jit fuses the five ops into one kernel: not the per-op overhead in question")


def seed(r):
    for dtype, name, rtol in ((jnp.float32, "f32", 1e-4), (jnp.float64, "f64", 1e-10)):
        for m, n in ((2, 2), (1000, 16), (100000, 64), (1000000, 64)):
            key = f"seed/{name}/{m}x{n}"
            if not r.wants(key):
                continue
            x, W = det((m, 1), 0, dtype), det((1, n), 1, dtype)
            want = 3 * np.asarray(x) ** 2 * np.asarray(W)
            # xi [1] -> [n]; the forward pass is part of jacfwd. W is an argument, not a baked-in constant.
            jac = jax.jit(jax.vmap(jax.jacfwd(lambda xi, W: (xi ** 3) @ W), in_axes=(0, None)))
            r.run(key, "vmap_jacfwd", jitted_case(jac, x, W, want=want, rtol=rtol))


def mlp(r):
    params = []
    for l in range(4):
        i, o = MLP_SIZES[l], MLP_SIZES[l + 1]
        params += [det((i, o), l + 1) / jnp.float32(i ** 0.5), det((o,), l + 11) * jnp.float32(0.1)]

    def f(ps, h):  # one sample [2] -> [3], or a batch [B,2] -> [B,3]
        for l in range(4):
            h = h @ ps[2 * l] + ps[2 * l + 1]
            if l < 3:
                h = jnp.tanh(h)
        return h

    def laplacian(ps, x):  # [B,3]: trace of the per-sample Hessian [B,3,2,2]
        hess = jax.vmap(jax.hessian(lambda xi: f(ps, xi)))(x)
        return jnp.trace(hess, axis1=-2, axis2=-1)

    forward = jax.jit(f)
    jacobian = jax.jit(lambda ps, x: jax.vmap(jax.jacfwd(lambda xi: f(ps, xi)))(x))  # [B,3,2]
    lap = jax.jit(laplacian)
    train = jax.jit(jax.grad(lambda ps, x, target: jnp.mean((laplacian(ps, x) - target) ** 2)))
    for B in (10000, 100000):
        x, target = det((B, 2), 0), det((B, 3), 5)
        r.run(f"mlp/forward/{B}", "jit", jitted_case(forward, params, x))
        r.run(f"mlp/jacobian/{B}", "vmap_jacfwd", jitted_case(jacobian, params, x))
        r.run(f"mlp/laplacian/{B}", "vmap_hessian_trace", jitted_case(lap, params, x))
        r.run(f"mlp/train/{B}", "grad_hessian_trace", jitted_case(train, params, x, target))


def pinn(r):
    """One training step of examples/pinn_poisson.cpp's physics-informed network, as pinn() in compare_dydx.cpp:
    loss, gradient and Adam update (torch.optim.Adam's arithmetic, written out) in one jitted function; the
    Laplacian as the trace of the per-point Hessian under vmap."""
    if not r.wants("pinn/f64/step"):
        return
    sizes, n, f64 = [2, 32, 32, 1], 32, jnp.float64
    params = []
    for l in range(3):
        params += [det((sizes[l + 1], sizes[l]), l + 1, f64) / math.sqrt(sizes[l]), det((sizes[l + 1],), l + 11, f64) * 0.1]

    def u(ps, h):
        for l in range(3):
            h = h @ ps[2 * l].T + ps[2 * l + 1]
            if l < 2:
                h = jnp.tanh(h)
        return h

    c = (jnp.arange(n, dtype=f64) + 0.5) / n
    zero, one = jnp.zeros(n, f64), jnp.ones(n, f64)
    interior = jnp.stack([jnp.repeat(c, n), jnp.tile(c, n)], 1)
    boundary = jnp.concatenate([jnp.stack(p, 1) for p in ((c, zero), (c, one), (zero, c), (one, c))], 0)
    f = jnp.sin(interior[:, 0] * math.pi) * jnp.sin(interior[:, 1] * math.pi) * (2 * math.pi ** 2)

    def loss_fn(ps):
        lap = jax.vmap(lambda xi: jnp.trace(jax.hessian(lambda z: u(ps, z)[0])(xi)))(interior)
        return jnp.mean((lap + f) ** 2) + jnp.mean(u(ps, boundary) ** 2) * 100

    @jax.jit
    def step(ps, m, v, t):
        loss, g = jax.value_and_grad(loss_fn)(ps)
        t = t + 1
        m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m, g)]
        v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v, g)]
        step_size = 1e-3 / (1 - 0.9 ** t)
        ps = [p - step_size * mi / (jnp.sqrt(vi) / jnp.sqrt(1 - 0.999 ** t) + 1e-8) for p, mi, vi in zip(ps, m, v)]
        return ps, m, v, t, loss

    state = [params, [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params], jnp.asarray(0.0, f64)]

    def call(check):
        out = jax.block_until_ready(step(*state))
        state[:] = out[:4]
        return float(out[4]) if check else 0

    r.run("pinn/f64/step", "jit_vmap_hessian_trace_adam", call)


# The act/ cases (harness.hpp's kActivations): name, whether the input is |x|, the function.
ACTIVATIONS = [("exp", False, jnp.exp), ("expm1", False, jnp.expm1), ("log1p", True, jnp.log1p),
               ("sin", False, jnp.sin), ("tan", False, jnp.tan), ("tanh", False, jnp.tanh), ("sigmoid", False, jax.nn.sigmoid),
               ("silu", False, jax.nn.silu), ("softplus", False, jax.nn.softplus),
               ("gelu", False, lambda x: jax.nn.gelu(x, approximate=False)), ("erf", False, jax.scipy.special.erf),
               ("softmax", False, lambda x: jax.nn.softmax(x, axis=1)),
               ("log_softmax", False, lambda x: jax.nn.log_softmax(x, axis=1)),
               ("logsumexp", False, lambda x: jax.scipy.special.logsumexp(x, axis=1))]


# The grad/ cases (harness.hpp's kGradients): the loss whose gradient with respect to x is timed, written as
# PyTorch computes each (mean of squares; cross_entropy as the mean of -log_softmax at the label; layer_norm
# without affine parameters, eps 1e-5, the biased variance).
GRADIENTS = ["silu", "gelu", "tanh", "sigmoid", "softplus", "clamp", "square", "mse_loss", "cross_entropy", "layer_norm"]


def gradient_loss(name, x, target, labels):
    elementwise = {"silu": jax.nn.silu, "gelu": lambda t: jax.nn.gelu(t, approximate=False), "tanh": jnp.tanh,
                   "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus, "clamp": lambda t: jnp.clip(t, -1.0, 1.0),
                   "square": lambda t: t ** 2}
    if name in elementwise:
        return jnp.sum(elementwise[name](x))
    if name == "mse_loss":
        return jnp.mean((x - target) ** 2)
    if name == "cross_entropy":
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(x, axis=1), labels[:, None], axis=1))
    mean = jnp.mean(x, axis=1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=1, keepdims=True)
    return jnp.sum((x - mean) / jnp.sqrt(var + 1e-5) * target)


def kernels(r):
    if r.wants("chain"):
        def chain(x):  # jit fuses the ten ops into one pass; see the README on the floor
            t = jnp.exp(x)
            t = jnp.sin(t)
            t = t * x
            t = t + x
            t = jnp.tanh(t)
            t = jax.nn.sigmoid(t)
            t = jnp.cos(t)
            t = t - x
            t = jnp.abs(t)
            return jnp.sqrt(t)

        r.run("chain", "jit", jitted_case(jax.jit(chain), (det((1 << 24,), 0) + 1) * jnp.float32(0.5)))
    for name, positive, f in ACTIVATIONS:
        if r.wants(f"act/{name}"):
            x = det((10000, 64), 0) * jnp.float32(3.0)  # harness.hpp's kActivationShape and kActivationScale
            r.run(f"act/{name}", "jit", jitted_case(jax.jit(f), jnp.abs(x) if positive else x))
    for name in GRADIENTS:
        if r.wants(f"grad/{name}"):
            x = det((10000, 64), 0) * jnp.float32(3.0)  # harness.hpp's kGradients
            target = det((10000, 64), 1)
            labels = jnp.arange(10000) % 64
            loss = functools.partial(gradient_loss, name, target=target, labels=labels)
            r.run(f"grad/{name}", "jit_grad", jitted_case(jax.jit(jax.grad(loss)), x))
    if any(r.wants(f"{op}/dim{d}") for op in ("sum", "mean") for d in (0, 1)):
        A = det((4096, 4096), 0)
        for dim in (0, 1):
            r.run(f"sum/dim{dim}", "jit", jitted_case(jax.jit(lambda a, d=dim: jnp.sum(a, axis=d)), A))
            r.run(f"mean/dim{dim}", "jit", jitted_case(jax.jit(lambda a, d=dim: jnp.mean(a, axis=d)), A))
    for dtype, name in ((jnp.float32, "f32"), (jnp.float64, "f64")):
        if r.wants(f"gemm/{name}"):
            r.run(f"gemm/{name}", "jit",
                  jitted_case(jax.jit(jnp.matmul), det((2048, 2048), 0, dtype), det((2048, 2048), 1, dtype)))


def conv(r):
    """A small CNN's two convolutions forward and backward (the gradients of sum(conv) by jax.grad, jitted)."""
    for c, oc, hw in ((1, 16, 28), (16, 32, 14)):
        key = f"conv/{c}x{oc}x{hw}"
        if not r.wants(key):
            continue

        def loss(x, w, b):
            y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return jnp.sum(y + b[None, :, None, None])

        argnums = (0, 1, 2) if c > 1 else (1, 2)
        r.run(key, "jit", jitted_case(jax.jit(jax.grad(loss, argnums=argnums)), det((32, c, hw, hw), 0),
                                      det((oc, c, 3, 3), 1) * jnp.float32(0.3), det((oc,), 2) * jnp.float32(0.1)))


def train(r):
    """One classification training step of a small CNN and of an MLP, as train() in compare_dydx.cpp, written
    functionally: parameters [W, b, ...] in torch's layout (W [out, in], conv weights OIHW, activations NCHW) and
    from the same det() values; cross_entropy as the mean of -log_softmax at the labels i % 10; loss, gradient and
    Adam update (torch.optim.Adam's arithmetic, written out) in one jitted function. The checksum is the first
    loss plus the sum of |gradient| over all parameters, from a separate jitted value_and_grad at the start."""
    def conv(h, w, b):
        y = jax.lax.conv_general_dilated(h, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    def max_pool(h):  # 2x2, stride 2
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def cnn(ps, h):
        h = max_pool(jax.nn.relu(conv(h, ps[0], ps[1])))
        h = max_pool(jax.nn.relu(conv(h, ps[2], ps[3])))
        return h.reshape(h.shape[0], -1) @ ps[4].T + ps[5]

    def mlp(ps, h):
        for l in range(3):
            h = h @ ps[2 * l].T + ps[2 * l + 1]
            if l < 2:
                h = jax.nn.relu(h)
        return h

    models = {
        "train/cnn": (cnn, (32, 1, 28, 28), [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (10, 32 * 7 * 7), (10,)]),
        "train/mlp": (mlp, (128, 784), [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]),
    }
    for key, (net, shape, shapes) in models.items():
        if not r.wants(key):
            continue
        params = [det(s, 21 + i) * jnp.float32(1 / math.sqrt(math.prod(s[1:])) if len(s) > 1 else 0.1)
                  for i, s in enumerate(shapes)]
        x, labels = det(shape, 0), jnp.arange(shape[0]) % 10

        def loss_fn(ps, x, labels, net=net):
            logp = jax.nn.log_softmax(net(ps, x), axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

        value_and_grad = jax.jit(jax.value_and_grad(loss_fn))

        @jax.jit
        def step(ps, m, v, t, x, labels, value_and_grad=value_and_grad):
            loss, g = value_and_grad(ps, x, labels)
            t = t + 1
            m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m, g)]
            v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v, g)]
            step_size = 1e-3 / (1 - 0.9 ** t)
            bias2 = jnp.sqrt(1 - 0.999 ** t)
            ps = [p - step_size * mi / (jnp.sqrt(vi) / bias2 + 1e-8) for p, mi, vi in zip(ps, m, v)]
            return ps, m, v, t, loss

        state = [params, [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params],
                 jnp.asarray(0, jnp.float32)]  # f32 step count: 0.9 ** t stays f32 under x64

        def call(check, state=state, x=x, labels=labels, value_and_grad=value_and_grad, step=step):
            total = 0
            if check:
                loss, g = value_and_grad(state[0], x, labels)
                total = float(loss) + sum(float(np.abs(np.asarray(gi, dtype=np.float64)).sum()) for gi in g)
            state[:4] = jax.block_until_ready(step(*state, x, labels))[:4]
            return total

        r.run(key, "jit_adam", call)


def vmap_family(r):
    """As vmap_family() in compare_dydx.cpp: per-sample gradients by jit(vmap(grad(loss), in_axes=(None x 4, 0, 0))),
    the empirical NTK by vmap(jacrev) and a contraction (functorch's NTK tutorial, in one jit). Parameters in torch's
    layout (W [out, in], conv weights OIHW) from the same det() values; the per-sample loss -sum(onehot *
    log_softmax(logits)). vmap_vs_batch_jacobian is dydx's own comparison and has no peer."""
    def det_params(shapes):
        return [det(s, 21 + i) * jnp.float32(1 / math.sqrt(math.prod(s[1:])) if len(s) > 1 else 0.1)
                for i, s in enumerate(shapes)]

    def persample_mlp(p, x):  # one sample [784] -> logits [10]
        return jax.nn.relu(x @ p[0].T + p[1]) @ p[2].T + p[3]

    def persample_cnn(p, x):  # one sample [1, 28, 28] -> logits [10]; lax's convolution takes a batch dim
        y = jax.lax.conv_general_dilated(x[None], p[0], (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))[0]
        h = jax.nn.relu(y + p[1][:, None, None])
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2), (1, 2, 2), "VALID")  # 2x2 max pool
        return h.reshape(-1) @ p[2].T + p[3]

    for net, logits, shapes, sample in (
            ("mlp", persample_mlp, [(128, 784), (128,), (10, 128), (10,)], (784,)),
            ("cnn", persample_cnn, [(8, 1, 3, 3), (8,), (10, 8 * 14 * 14), (10,)], (1, 28, 28))):
        for B in (64, 1024):
            key = f"persample/{net}/B{B}"
            if not r.wants(key):
                continue
            params, x = det_params(shapes), det((B,) + sample, 0)
            t = (jnp.arange(10)[None, :] == (jnp.arange(B) % 10)[:, None]).astype(jnp.float32)

            def loss(w0, b0, w1, b1, x, t, logits=logits):
                return -jnp.sum(jax.nn.log_softmax(logits((w0, b0, w1, b1), x), axis=-1) * t)

            per_sample = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1, 2, 3)), in_axes=(None,) * 4 + (0, 0)))
            r.run(key, "jit_vmap_grad", jitted_case(per_sample, *params, x, t))

    if r.wants("ntk/mlp"):
        params = det_params([(64, 16), (64,), (64, 64), (64,), (10, 64), (10,)])
        N, M, out = 32, 16, 10

        def f(*args):
            h = args[6]
            for l in range(3):
                h = h @ args[2 * l].T + args[2 * l + 1]
                if l < 2:
                    h = jnp.tanh(h)
            return h

        jac = jax.vmap(jax.jacrev(f, argnums=tuple(range(6))), in_axes=(None,) * 6 + (0,))

        @jax.jit
        def ntk(params, x1, x2):
            j1, j2 = jac(*params, x1), jac(*params, x2)
            K = sum(a.reshape(N * out, -1) @ b.reshape(M * out, -1).T for a, b in zip(j1, j2))
            return K.reshape(N, out, M, out).transpose(0, 2, 1, 3)

        r.run("ntk/mlp", "jit_vmap_jacrev", jitted_case(ntk, params, det((N, 16), 0), det((M, 16), 1)))


def taylor_family(r):
    """As taylor_family() in compare_dydx.cpp: the Laplacian (D = 50) and the biharmonic (D = 5) of the MLP tanh
    D -> 768 -> 768 -> 512 -> 512 -> 1 per row of x [B, D] for each batch of taylor_batches(), each under jit(vmap)
    over rows: the Laplacian as the Hessian's trace, as the trace of vmap(jvp(grad)) over the basis, by
    jax.experimental.jet over the basis and by folx's forward Laplacian; the biharmonic as the trace of the Hessian
    of the Hessian's trace and as folx's forward Laplacian of its forward Laplacian."""
    from jax.experimental import jet
    # folx (PyPI), JAX's forward Laplacian, where it installs (run.sh installs it with --no-deps, keeping jax).
    try:
        from folx import forward_laplacian

        def folx_laplacian(g):
            return lambda u: forward_laplacian(g)(u).laplacian
        folx_missing = None
    except ImportError as e:
        folx_laplacian, folx_missing = None, f"folx is not installed: {e}"

    def mlp_params(d):
        sizes = [d, 768, 768, 512, 512, 1]
        out = []
        for l in range(5):
            for i, shape in enumerate([(sizes[l + 1], sizes[l]), (sizes[l + 1],)]):
                k = 2 * l + i
                out.append(det(shape, 21 + k) * jnp.float32(1 / math.sqrt(math.prod(shape[1:])) if len(shape) > 1
                                                             else 0.1))
        return out

    def row_fn(ps):
        def f(u):  # one row [D] -> scalar
            h = u
            for l in range(5):
                h = ps[2 * l] @ h + ps[2 * l + 1]
                if l < 4:
                    h = jnp.tanh(h)
            return h[0]
        return f

    def trace_of_hessian(g):
        return lambda u: jnp.trace(jax.hessian(g)(u))

    f50, f5 = row_fn(mlp_params(50)), row_fn(mlp_params(5))
    basis = jnp.eye(50, dtype=jnp.float32)
    sigma = det((50, 25), 7) * jnp.float32(0.2)
    z0 = jnp.zeros(25, jnp.float32)

    def hvp_trace(u):
        return jnp.sum(jax.vmap(lambda e: jnp.dot(e, jax.jvp(jax.grad(f50), (u,), (e,))[1]))(basis))

    def jet_trace(u):
        def second(e):
            _, (_, y2) = jet.jet(f50, (u,), ((e, jnp.zeros_like(e)),))
            return y2
        return jnp.sum(jax.vmap(second)(basis))

    def weighted_hvp(u):  # sum over sigma's columns s of s^T H s
        return jnp.sum(jax.vmap(lambda c: jnp.dot(c, jax.jvp(jax.grad(f50), (u,), (c,))[1]))(sigma.T))

    laplacian = [("hessian_trace", trace_of_hessian(f50)), ("hvp_trace", hvp_trace), ("jet", jet_trace)]
    weighted = [("hvp_trace", weighted_hvp),
                ("hessian_trace", lambda u: trace_of_hessian(lambda z: f50(u + sigma @ z))(z0))]
    biharmonic = [("nested_hessian_trace", trace_of_hessian(trace_of_hessian(f5)))]
    if folx_laplacian is not None:
        laplacian.append(("folx", folx_laplacian(f50)))
        weighted.append(("folx", lambda u: folx_laplacian(lambda z: f50(u + sigma @ z))(z0)))
        biharmonic.append(("folx", folx_laplacian(folx_laplacian(f5))))  # its forward Laplacian of its own

    def rows(key, methods, x):
        if not r.wants(key):
            return
        for name, fn in methods:
            r.run(key, name, jitted_case(jax.jit(jax.vmap(fn)), x))
        if folx_laplacian is None:
            r.skip(key, "folx", folx_missing)
    for B in taylor_batches(False):
        rows(f"taylor/laplacian/D50/B{B}", laplacian, det((B, 50), 3))
        rows(f"taylor/weighted_laplacian/D50/B{B}", weighted, det((B, 50), 3))
    for B in taylor_batches(True):
        rows(f"taylor/biharmonic/D5/B{B}", biharmonic, det((B, 5), 3))


def main():
    family = sys.argv[1]
    r = Report("jax", sys.argv[2] if len(sys.argv) > 2 else ".")
    {"perop": perop, "seed": seed, "mlp": lambda r: (mlp(r), pinn(r)), "kernels": kernels, "conv": conv,
     "train": train, "vmap": vmap_family, "taylor": taylor_family}[family](r)
    json.dump({"library": "jax", "version": jax.__version__, "devices": [str(d) for d in jax.devices()],
               "xla_flags": os.environ.get("XLA_FLAGS", ""), "cases": r.cases}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
