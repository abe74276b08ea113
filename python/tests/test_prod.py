"""prod and cumprod against PyTorch 1.13: values (with torch's dtypes, keepdim, empty and strided inputs,
wrapping int64), argument parsing, and derivatives against functorch's where its are exact, and against
exact values where they are not (PyTorch's rules divide, which gives nan at an infinity and 0 where a
product underflows; dydx's divide by nothing)."""

import functorch
import numpy as np
import pytest
import torch

import dydx
from conftest import assert_matches, dydx_and_torch as both

rng = np.random.default_rng(5)


def with_zeros(*shape):
    """Values around 1 with some exact zeros (and a -0), so rows have none, one and two zeros."""
    v = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    v[rng.uniform(size=shape) < 0.2] = 0.0
    v.flat[0] = -0.0
    return v


def close(actual, expected, rtol=1e-12, atol=0.0):
    a, e = np.asarray(actual.detach().numpy()), expected.detach().numpy()
    assert a.shape == e.shape, (a.shape, e.shape)
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((7,), None), ((4, 9), 1), ((4, 9), 0), ((3, 5, 6), 1), ((3, 5, 6), -1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_values_match_torch(dtype, shape, dim, keepdim):
    x, t = both(with_zeros(*shape).astype(dtype))
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    if dim is None:
        assert_matches(x.prod(), t.prod(), rtol=rtol, atol=0)
        assert_matches(dydx.prod(x), torch.prod(t), rtol=rtol, atol=0)
    else:
        assert_matches(x.prod(dim, keepdim), t.prod(dim, keepdim), rtol=rtol, atol=0)
        assert_matches(x.prod(dim=dim, keepdim=keepdim), t.prod(dim=dim, keepdim=keepdim), rtol=rtol, atol=0)
    assert_matches(x.t().prod(0) if len(shape) == 2 else x.prod(dtype=dydx.float64), t.t().prod(0) if len(shape) == 2 else t.prod(dtype=torch.float64), rtol=rtol, atol=0)


def test_integers_empty_and_dtypes_as_torch():
    big = np.array([3486784401, 3486784401, 243], dtype=np.int64)
    x, t = both(big)
    assert x.prod().item() == t.prod().item() == 2833654757305440083
    b, tb = both(np.array([True, False, True]))
    assert_matches(b.prod(), tb.prod())
    assert_matches(b.prod(0, dtype=dydx.bool), tb.prod(0, dtype=torch.bool))
    e, te = both(np.ones((0, 3)))
    assert_matches(e.prod(), te.prod())
    assert_matches(e.prod(0), te.prod(0))
    f, tf = both(np.array([1.5, 2.5], dtype=np.float32))
    assert_matches(f.prod(dtype=dydx.float64), tf.prod(dtype=torch.float64))
    assert_matches(f.prod(0, True, dtype=dydx.int64), tf.prod(0, True, dtype=torch.int64))


def test_arguments_as_torch():
    x, t = both(np.arange(1.0, 7.0).reshape(2, 3))
    assert_matches(x.prod(dydx.tensor(1)), t.prod(torch.tensor(1)))  # a 0-d int64 tensor is an int
    for bad in [lambda v: v.prod(keepdim=True), lambda v: v.prod(True), lambda v: v.prod(1.0),
                lambda v: v.prod(1, 2), lambda v: v.prod(1, True, torch.float64 if isinstance(v, torch.Tensor) else dydx.float64)]:
        with pytest.raises(TypeError):
            bad(t)
        with pytest.raises(TypeError):
            bad(x)
    with pytest.raises(Exception, match="out of range"):
        x.prod(2)


def functorch_gradient(array, dim):
    f = (lambda v: v.prod()) if dim is None else (lambda v: v.prod(dim).sum())
    return functorch.grad(f)(torch.from_numpy(array))


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_gradients_and_hessians_match_functorch(dim):
    for _ in range(5):
        v = with_zeros(4, 5)
        x = dydx.from_numpy(v.copy())
        f = (lambda u: u.prod()) if dim is None else (lambda u: u.prod(dim).sum())
        close(dydx.func.grad(f)(x), functorch_gradient(v, dim))
        leaf = dydx.from_numpy(v.copy()).requires_grad_()
        close(dydx.autograd.grad(f(leaf), leaf)[0], functorch_gradient(v, dim))
        small = v[:2, :3].copy()
        g = (lambda u: u.prod()) if dim is None else (lambda u: u.prod(min(dim, 1)).sum())
        close(dydx.func.hessian(g)(dydx.from_numpy(small.copy())), functorch.hessian(g)(torch.from_numpy(small)))


def test_gradients_in_range_where_torch_underflows_or_overflows():
    # Eager torch: out / x = 0 (out underflows); functorch and dydx: the products of the others.
    v = np.array([1e-200, 1e-200, 3.0])
    got = dydx.func.grad(lambda u: u.prod())(dydx.from_numpy(v.copy()))
    np.testing.assert_array_equal(got.numpy(), functorch_gradient(v, None).numpy())
    # A plain suffix product overflows (functorch: inf and nan); dydx's are the exact 2e300, 2e300, 1, 2e-300, 2e-300.
    w = np.array([1e-300, 1e-300, 2.0, 1e300, 1e300])
    got = dydx.func.grad(lambda u: u.prod())(dydx.from_numpy(w.copy())).numpy()
    np.testing.assert_allclose(got, [2e300, 2e300, 1.0, 2e-300, 2e-300], rtol=1e-14)
    assert not np.isfinite(functorch_gradient(w, None).numpy()).all()


def test_per_sample_gradients_under_vmap_are_each_samples_own():
    batch = np.array([[0.0, 1.0, 1.0], [1e-200, 1e-200, 3.0], [2.0, 0.0, 0.0], [0.5, 2.0, -4.0]])
    per_sample = dydx.func.vmap(dydx.func.grad(lambda u: u.prod()))(dydx.from_numpy(batch.copy()))
    want = functorch.vmap(functorch.grad(lambda u: u.prod()))(torch.from_numpy(batch))
    np.testing.assert_array_equal(per_sample.numpy(), want.numpy())
    hessians = dydx.func.vmap(dydx.func.hessian(lambda u: u.prod()))(dydx.from_numpy(batch.copy()))
    # (functorch's Hessian of the tiny sample has 0 for its exact 1e-200 entries: an atol of 2e-200.)
    close(hessians, functorch.vmap(functorch.hessian(lambda u: u.prod()))(torch.from_numpy(batch)), atol=2e-200)
    np.testing.assert_allclose(hessians.numpy()[1], [[0, 3, 1e-200], [3, 0, 1e-200], [1e-200, 1e-200, 0]], rtol=1e-15)


def test_compiled_gradients_replay_as_eager():
    step = dydx.func.compile(dydx.func.grad(lambda u: u.prod(1).sum()))
    for _ in range(3):
        v = with_zeros(3, 4)
        close(step(dydx.from_numpy(v.copy())), functorch_gradient(v, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((4, 9), 1), ((4, 9), 0), ((3, 5, 6), -1)])
def test_cumprod_values_match_torch(dtype, shape, dim):
    x, t = both(with_zeros(*shape).astype(dtype))
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    assert_matches(x.cumprod(dim), t.cumprod(dim), rtol=rtol, atol=0)
    assert_matches(dydx.cumprod(x, dim, dtype=dydx.float64), torch.cumprod(t, dim, dtype=torch.float64), rtol=rtol, atol=0)
    y, u = x.clone(), t.clone()
    y.cumprod_(dim)
    u.cumprod_(dim)
    assert_matches(y, u, rtol=rtol, atol=0)


def test_cumprod_integers_and_arguments_as_torch():
    big = np.array([3486784401, 3486784401, 243], dtype=np.int64)
    x, t = both(big)
    np.testing.assert_array_equal(x.cumprod(0).numpy(), t.cumprod(0).numpy())
    np.testing.assert_array_equal(x.cumprod(np.int64(0)).numpy(), t.cumprod(np.int64(0)).numpy())
    np.testing.assert_array_equal(x.cumsum(dydx.tensor(0)).numpy(), t.cumsum(torch.tensor(0)).numpy())
    b, tb = both(np.array([True, False, True]))
    assert_matches(b.cumprod(0), tb.cumprod(0))
    # (cumsum shares cumprod's parsing: x.cumsum(True) once meant dim 1.)
    for bad in [lambda v: v.cumprod(True), lambda v: v.cumprod(0.0), lambda v: v.cumprod(), lambda v: v.cumsum(True),
                lambda v: v.cumsum(dim=1.0), lambda v: v.cumsum_(False), lambda v: v.cumprod_(0.0),
                lambda v: v.cumsum(0, torch.float64 if isinstance(v, torch.Tensor) else dydx.float64)]:
        with pytest.raises(TypeError):
            bad(t)
        with pytest.raises(TypeError):
            bad(x)


@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_gradients_and_hessians_match_functorch(dim):
    for _ in range(5):
        v = with_zeros(4, 5)
        f = lambda u: u.cumprod(dim).sum()  # noqa: E731
        close(dydx.func.grad(f)(dydx.from_numpy(v.copy())), functorch.grad(f)(torch.from_numpy(v)))
        small = v[:3, :3].copy()
        close(dydx.func.hessian(f)(dydx.from_numpy(small.copy())), functorch.hessian(f)(torch.from_numpy(small)))
        # Forward mode: the JVP along a random direction.
        d = rng.normal(size=v.shape)
        _, got = dydx.func.jvp(lambda u: u.cumprod(dim), (dydx.from_numpy(v.copy()),), (dydx.from_numpy(d.copy()),))
        _, want = functorch.jvp(lambda u: u.cumprod(dim), (torch.from_numpy(v),), (torch.from_numpy(d),))
        close(got, want, rtol=1e-12, atol=1e-15)
