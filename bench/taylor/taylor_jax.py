"""JAX (jit) on bench/taylor/taylor_dydx.cpp's workloads: the Laplacian of the MLP tanh D -> 768 -> 768 -> 512 -> 512 -> 1
(float32) per row of x [64, D] at D = 50 by the Hessian's trace, by vmap(jvp(grad)) over the basis and by
jax.experimental.jet over the basis; the biharmonic at D = 5 by a nested Hessian. Best of 5, compile excluded.
Usage: build-bench/jax-venv/bin/python bench/taylor/taylor_jax.py"""
import time, jax, jax.numpy as jnp, numpy as np
from jax.experimental import jet
def mlp_params(d, key=0):
    rng = np.random.default_rng(key); sizes = [d, 768, 768, 512, 512, 1]
    return [(jnp.asarray(rng.standard_normal((sizes[l+1], sizes[l])).astype(np.float32) / np.sqrt(sizes[l])), jnp.zeros(sizes[l+1], jnp.float32)) for l in range(5)]
def f(ps, x):  # one row [d] -> scalar
    h = x
    for l, (w, b) in enumerate(ps):
        h = w @ h + b
        if l < 4: h = jnp.tanh(h)
    return h[0]
def t(fn, *a, reps=5):
    jax.block_until_ready(fn(*a)); best = 1e9
    for _ in range(reps):
        t0 = time.perf_counter(); jax.block_until_ready(fn(*a)); best = min(best, time.perf_counter() - t0)
    return best * 1e3
B = 64
for d in (50,):
    ps = mlp_params(d); x = jnp.asarray(np.random.default_rng(1).standard_normal((B, d)).astype(np.float32))
    hess_trace = jax.jit(jax.vmap(lambda z: jnp.trace(jax.hessian(f, argnums=1)(ps, z))))
    def hvp_trace(z):
        g = lambda u: jax.grad(f, argnums=1)(ps, u)
        return jnp.sum(jax.vmap(lambda e: jnp.dot(e, jax.jvp(g, (z,), (e,))[1]))(jnp.eye(d, dtype=z.dtype)))
    hvp_trace = jax.jit(jax.vmap(hvp_trace))
    def jet_lap(z):
        def one(e):
            _, (y1, y2) = jet.jet(lambda u: f(ps, u), (z,), ((e, jnp.zeros_like(e)),))
            return y2
        return jnp.sum(jax.vmap(one)(jnp.eye(d, dtype=z.dtype)))
    jet_lap = jax.jit(jax.vmap(jet_lap))
    print(f"laplacian D={d} B={B}: jit hessian trace {t(hess_trace, x):.1f} ms, jit vmap(jvp(grad)) trace {t(hvp_trace, x):.1f} ms, jit jet {t(jet_lap, x):.1f} ms")
d = 5
ps = mlp_params(d); x = jnp.asarray(np.random.default_rng(1).standard_normal((B, d)).astype(np.float32))
lap = lambda z: jnp.trace(jax.hessian(f, argnums=1)(ps, z))
bih_nested = jax.jit(jax.vmap(lambda z: jnp.trace(jax.hessian(lap)(z))))
print(f"biharmonic D=5 B={B}: jit nested hessian of hessian trace {t(bih_nested, x):.1f} ms")
