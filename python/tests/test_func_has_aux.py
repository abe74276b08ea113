"""has_aux in dydx.func's grad, jacrev, jacfwd, vjp and jvp, against functorch's (PyTorch 1.13's torch.func):
f returns (output, aux); the transform differentiates the output and returns aux beside its result, detached."""

import functorch
import numpy as np
import pytest
import torch

import dydx
from conftest import assert_matches, dydx_and_torch

rng = np.random.default_rng(5)


def f_of(lib):
    def f(x, w):
        y = (x * w).sin()
        return y.sum(), {"y": y, "pair": (x * 2, w * 3)}

    return f


def g_of(lib):
    def g(x):
        y = x.tanh() * x
        return y, [y.sum(), y * 2]

    return g


def check_aux(aux, taux):
    assert_matches(aux["y"], taux["y"], rtol=1e-15, atol=0)
    assert_matches(aux["pair"][0], taux["pair"][0], rtol=0, atol=0)
    assert_matches(aux["pair"][1], taux["pair"][1], rtol=0, atol=0)
    assert isinstance(aux["pair"], tuple)
    for t in (aux["y"], aux["pair"][0], aux["pair"][1]):
        assert not t.requires_grad and t.grad_fn is None


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_grad_has_aux(argnums):
    (x, tx), (w, tw) = dydx_and_torch(rng.normal(size=4)), dydx_and_torch(rng.normal(size=4))
    g, aux = dydx.func.grad(f_of(dydx), argnums=argnums, has_aux=True)(x, w)
    tg, taux = functorch.grad(f_of(torch), argnums=argnums, has_aux=True)(tx, tw)
    for a, b in zip(g if isinstance(g, tuple) else (g,), tg if isinstance(tg, tuple) else (tg,)):
        assert_matches(a, b, rtol=1e-14, atol=1e-15)
    check_aux(aux, taux)


@pytest.mark.parametrize("name", ["jacrev", "jacfwd"])
def test_jacobians_has_aux(name):
    x, tx = dydx_and_torch(rng.normal(size=3))
    jac, aux = getattr(dydx.func, name)(g_of(dydx), has_aux=True)(x)
    tjac, taux = getattr(functorch, name)(g_of(torch), has_aux=True)(tx)
    assert_matches(jac, tjac, rtol=1e-14, atol=1e-15)
    assert_matches(aux[0], taux[0], rtol=1e-15, atol=0)
    assert_matches(aux[1], taux[1], rtol=1e-15, atol=0)
    assert isinstance(aux, list)
    assert not aux[0].requires_grad


def test_vjp_and_jvp_has_aux():
    x, tx = dydx_and_torch(rng.normal(size=3))
    out, vjp_fn, aux = dydx.func.vjp(g_of(dydx), x, has_aux=True)
    tout, tvjp_fn, taux = functorch.vjp(g_of(torch), tx, has_aux=True)
    assert_matches(out, tout, rtol=1e-15, atol=0)
    v = rng.normal(size=3)
    assert_matches(vjp_fn(dydx.from_numpy(v.copy()))[0], tvjp_fn(torch.from_numpy(v))[0], rtol=1e-14, atol=1e-15)
    assert_matches(aux[0], taux[0], rtol=1e-15, atol=0)
    out, tangent, aux = dydx.func.jvp(g_of(dydx), (x,), (dydx.ones(3, dtype=dydx.float64),), has_aux=True)
    tout, ttangent, taux = functorch.jvp(g_of(torch), (tx,), (torch.ones(3, dtype=torch.float64),), has_aux=True)
    assert_matches(tangent, ttangent, rtol=1e-14, atol=1e-15)
    assert_matches(aux[0], taux[0], rtol=1e-15, atol=0)
    assert not aux[0].requires_grad


def test_aux_may_hold_anything():
    # functorch 1.13 takes tensors only in aux; dydx passes other values through unchanged.
    g, aux = dydx.func.grad(lambda t: ((t * t).sum(), {"label": "x", "n": 3, "t": t}), has_aux=True)(dydx.ones(2))
    assert aux["label"] == "x" and aux["n"] == 3 and not aux["t"].requires_grad
    assert g.tolist() == [2.0, 2.0]


def test_has_aux_needs_a_pair():
    x = dydx.ones(2)
    for transform in (dydx.func.grad, dydx.func.jacrev, dydx.func.jacfwd):
        with pytest.raises(RuntimeError, match="should be a tuple"):
            transform(lambda t: t.sum(), has_aux=True)(x)
    with pytest.raises(RuntimeError, match="should be a tuple"):
        dydx.func.vjp(lambda t: (t, t, t), x, has_aux=True)
    # The transform still works afterwards, and an aux never leaks into the next call.
    g = dydx.func.grad(lambda t: ((t * t).sum(), t.sum()), has_aux=True)
    for k in range(3):
        _, aux = g(dydx.ones(2) * k)
        assert aux.item() == 2 * k


def test_aux_stays_differentiable_for_an_outer_transform():
    # Only the inner transform's level is taken off aux: an outer grad, jvp or autograd sees through it.
    x, tx = dydx_and_torch(np.array([1.0, 2.0, 3.0]))

    def inner(lib_func):
        return lambda a: lib_func.grad(lambda b: ((b ** 2).sum(), b ** 3), has_aux=True)(a)[1].sum()

    assert_matches(dydx.func.grad(inner(dydx.func))(x), functorch.grad(inner(functorch))(tx), rtol=1e-15, atol=0)
    for name in ("jacrev", "jacfwd"):
        def outer(lib_func, name=name):
            return lambda a: getattr(lib_func, name)(lambda b: (b.sin(), (b ** 3).sum()), has_aux=True)(a)[1]

        assert_matches(dydx.func.grad(outer(dydx.func))(x), functorch.grad(outer(functorch))(tx), rtol=1e-15, atol=0)
    leaf = dydx.tensor([1.0, 2.0, 3.0], requires_grad=True)
    _, aux = dydx.func.grad(lambda b: ((b ** 2).sum(), b ** 3), has_aux=True)(leaf)
    assert aux.requires_grad
    (g,) = dydx.autograd.grad(aux.sum(), leaf)
    assert g.tolist() == [3.0, 12.0, 27.0]
    _, tangent = dydx.func.jvp(lambda a: dydx.func.jvp(lambda b: (b.sum(), b ** 3), (a,), (dydx.ones(3, dtype=dydx.float64),),
                                                       has_aux=True)[2].sum(), (x,), (dydx.ones(3, dtype=dydx.float64),))
    assert tangent.item() == 3.0 * (1 + 4 + 9)


def test_aux_of_concurrent_calls_stays_with_its_call():
    import threading

    g = dydx.func.grad(lambda a: ((a ** 2).sum(), a.sum()), has_aux=True)
    wrong = []

    def work(k):
        for _ in range(30):
            _, aux = g(dydx.full((20000,), float(k)))
            if aux.item() != 20000 * k:
                wrong.append((k, aux.item()))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
