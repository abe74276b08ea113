"""dydx.func.compile: recorded once per signature and replayed without calling the Python function,
against the function itself, and against torch for the values."""

import gc
import weakref

import numpy as np
import pytest

import dydx
from dydx import func


def chain(x):
    t = x.exp().sin() * x + x
    return (t.tanh().sigmoid().cos() - x).abs().sqrt()


def test_replays_equal_the_function_bit_for_bit():
    compiled = func.compile(chain)
    for n in (1, 7, 5000):
        x = dydx.rand(n) + 0.5
        assert np.array_equal(np.asarray(compiled(x)), np.asarray(chain(x)))
        y = dydx.rand(n) + 0.5
        assert np.array_equal(np.asarray(compiled(y)), np.asarray(chain(y)))
    s = compiled.stats()
    assert s["recordings"] == 3 and s["replays"] == 3 and s["eager_calls"] == 0
    assert s["fused_passes"] == 1 and s["fused_ops"] == 10 and s["uniform_ops"] == 0


def test_the_function_is_not_called_in_replays():
    calls = []

    def f(x, w):
        calls.append(1)
        return dydx.tanh(x @ w + 1.0), x * 2.0

    compiled = func.compile(f)
    x, w = dydx.randn(5, 3), dydx.randn(3, 4)
    out = compiled(x, w)
    assert isinstance(out, tuple) and len(out) == 2
    x2, w2 = dydx.randn(5, 3), dydx.randn(3, 4)
    out2 = compiled(x2, w2)
    assert len(calls) == 1
    want = f(x2, w2)
    for a, b in zip(out2, want):
        assert np.allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def test_values_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float64)
    compiled = func.compile(lambda t: (t.sin() * 3.0 + t.exp()).tanh().sum(1))
    compiled(dydx.from_numpy(x))
    got = np.asarray(compiled(dydx.from_numpy(x)))
    t = torch.from_numpy(x)
    want = (t.sin() * 3.0 + t.exp()).tanh().sum(1).numpy()
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_an_exception_in_the_function_propagates_and_leaves_nothing_behind():
    state = {"fail": True}

    def f(x):
        if state["fail"]:
            raise KeyError("from f")
        return x * 2.0

    compiled = func.compile(f)
    with pytest.raises(KeyError):
        compiled(dydx.ones(3))
    state["fail"] = False
    assert np.array_equal(np.asarray(compiled(dydx.ones(3))), [2.0, 2.0, 2.0])
    assert compiled.stats()["recordings"] == 1
    with pytest.raises(TypeError):
        func.compile(3)
    with pytest.raises(TypeError):
        func.compile(lambda x: 3.0)(dydx.ones(2))


def test_autograd_runs_the_function_and_transforms_inside_replay():
    w = dydx.randn(2, 3, requires_grad=True)
    compiled = func.compile(lambda x: (x @ w).tanh().sum())
    compiled(dydx.randn(4, 2)).backward()
    assert w.grad is not None
    assert "grad" in compiled.stats()["eager_reason"]

    v = dydx.randn(2, 3)
    jac = func.compile(lambda x: func.batch_jacobian(lambda z: (z @ v).tanh(), x))
    x = dydx.randn(6, 2)
    jac(x)
    got = jac(x)
    want = func.batch_jacobian(lambda z: (z @ v).tanh(), x)
    assert np.allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)
    assert jac.stats()["replays"] == 1


def test_a_function_that_refers_to_its_compiled_self_is_collected():
    class Model:
        def __init__(self):
            self.w = dydx.randn(3)
            self.forward = func.compile(self.run)  # a cycle: self -> compiled -> bound method -> self

        def run(self, x):
            return x * self.w

    m = Model()
    m.forward(dydx.ones(3))
    m.forward(dydx.ones(3))
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


def test_gradients_inside_the_function_replay():
    """A training step's loss and gradients in captured parameters, and func.grad, compiled: the backward pass
    replays with the forward (no Python runs), and the values match torch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 4))
    w = dydx.from_numpy(w0.copy()).requires_grad_()

    def step(x):
        loss = (x @ w).tanh().pow(2).sum()
        (g,) = dydx.autograd.grad(loss, [w])
        return loss.detach(), g

    compiled = func.compile(step)
    tw = torch.from_numpy(w0.copy()).requires_grad_()
    for _ in range(3):
        x = rng.standard_normal((5, 3))
        loss, g = compiled(dydx.from_numpy(x))
        tloss = (torch.from_numpy(x) @ tw).tanh().pow(2).sum()
        (tg,) = torch.autograd.grad(tloss, [tw])
        assert np.allclose(np.asarray(loss), tloss.item(), rtol=1e-12)
        assert np.allclose(np.asarray(g), tg.numpy(), rtol=1e-12, atol=1e-12)
        assert not g.requires_grad
    s = compiled.stats()
    assert s["recordings"] == 1 and s["replays"] == 2, s["eager_reason"]

    gradient = func.compile(func.grad(lambda x: dydx.nn.functional.softplus(x).sum()))
    x = dydx.randn(64, 8, dtype=dydx.float64)
    gradient(x)
    assert np.allclose(np.asarray(gradient(x)), np.asarray(dydx.sigmoid(x)), rtol=1e-12, atol=1e-14)
    assert gradient.stats()["replays"] == 1


def test_draws_and_in_place_writes_replay():
    """A dropout mask and rand draw again at each call (the numbers the function draws from the same
    seed), and in-place writes into tensors the function made are steps: the calls replay."""
    F = dydx.nn.functional

    def f(x):
        h = x * 2.0
        h += 1.0
        h.mul_(0.5)
        return F.dropout(h, 0.3, True) + dydx.rand(3)

    compiled = func.compile(f)
    for _ in range(3):
        x = dydx.randn(4, 3)
        dydx.manual_seed(5)
        want = np.asarray(f(x))
        dydx.manual_seed(5)
        got = np.asarray(compiled(x))
        assert np.array_equal(got, want)
    s = compiled.stats()
    assert s["recordings"] == 1 and s["replays"] == 2, s
