# JAX (CPU, jitted) timings of the bench/compare workloads (seed per-sample derivative, MLP), printed as JSON.
"""Run with the venv python from run.sh. float32 (JAX's default). Every function is jax.jit-compiled once before
timing (compile time excluded); each call ends in block_until_ready. Timing as in peers_torch.py: warm-up calls,
then repetitions of enough back-to-back calls (time.perf_counter) to last >= min_rep_s; median per-call time."""
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


def measure(fn, reps=5, min_rep_s=0.05, warmup=2):
    for _ in range(warmup):
        fn().block_until_ready()
    t0 = time.perf_counter()
    fn().block_until_ready()
    one = time.perf_counter() - t0
    calls = max(1, int(min_rep_s / max(one, 1e-9)))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn().block_until_ready()
        times.append((time.perf_counter() - t0) / calls)
    return {"median_s": statistics.median(times), "reps": reps, "calls_per_rep": calls,
            "min_s": min(times), "max_s": max(times)}


def seed_case(m, n):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((m, 1), dtype=np.float32))
    W = jnp.asarray(np.random.default_rng(1).standard_normal((1, n), dtype=np.float32))
    f = lambda xi: (xi ** 3) @ W  # xi [1] -> [n]
    jac = jax.jit(jax.vmap(jax.jacfwd(f)))  # [m,n,1]; the forward is part of jacfwd
    J = np.asarray(jac(x)).reshape(m, n)
    np.testing.assert_allclose(J, 3 * np.asarray(x) ** 2 * np.asarray(W), rtol=1e-4, atol=1e-4)
    return {"vmap_jacfwd": measure(lambda: jac(x))}


def mlp_cases(B):
    rng = np.random.default_rng(2)
    sizes = [2, 64, 64, 64, 3]
    Ws = [jnp.asarray(rng.standard_normal((sizes[i], sizes[i + 1]), dtype=np.float32) / np.float32(sizes[i] ** 0.5))
          for i in range(4)]
    bs = [jnp.zeros(sizes[i + 1], jnp.float32) for i in range(4)]

    def f(h):  # one sample [2] -> [3], or a batch [B,2] -> [B,3]
        for i in range(4):
            h = h @ Ws[i] + bs[i]
            if i < 3:
                h = jnp.tanh(h)
        return h

    x = jnp.asarray(np.random.default_rng(3).standard_normal((B, 2), dtype=np.float32))
    fwd = jax.jit(f)
    jac = jax.jit(jax.vmap(jax.jacfwd(f)))  # [B,3,2]
    lap = jax.jit(lambda x: jnp.trace(jax.vmap(jax.hessian(f))(x), axis1=-2, axis2=-1))  # [B,3]
    assert jac(x).shape == (B, 3, 2) and lap(x).shape == (B, 3)
    return {"forward": {"jit": measure(lambda: fwd(x))},
            "jacobian": {"vmap_jacfwd": measure(lambda: jac(x))},
            "laplacian": {"vmap_hessian_trace": measure(lambda: lap(x))}}


def main():
    res = {"library": "jax", "version": jax.__version__, "devices": [str(d) for d in jax.devices()],
           "xla_flags": os.environ.get("XLA_FLAGS", ""), "cases": {}}
    for m, n in ((2, 2), (1000, 16), (100000, 64)):
        res["cases"][f"seed/{m}/{n}"] = seed_case(m, n)
    for k, v in mlp_cases(10000).items():
        res["cases"][f"mlp_{k}/10000"] = v
    print("jax done", file=sys.stderr)
    json.dump(res, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
