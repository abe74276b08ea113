"""diagonal, diag, trace, tril, triu and tril_/triu_ against PyTorch: values, dtypes, views, gradients, errors."""

import numpy as np
import pytest
import torch

import dydx
from conftest import assert_matches

RNG = np.random.default_rng(7)


def both(shape, dtype=np.float64):
    values = RNG.standard_normal(shape).astype(dtype) if dtype != np.int64 else RNG.integers(-9, 9, shape)
    return dydx.from_numpy(values.copy()), torch.from_numpy(values.copy())


@pytest.mark.parametrize("shape,offset,dim1,dim2", [
    ((3, 4), 0, 0, 1), ((3, 4), 2, 0, 1), ((3, 4), -1, 0, 1), ((3, 4), 7, 0, 1), ((3, 4), -7, 0, 1),
    ((2, 3, 4), 0, 1, 2), ((2, 3, 4), 1, 0, 2), ((2, 3, 4), -1, -1, 0), ((4, 2, 3, 5), 1, 3, 1), ((2, 0, 3), 0, 1, 2),
])
def test_diagonal_is_torchs_view(shape, offset, dim1, dim2):
    x, ref = both(shape)
    ours, theirs = x.diagonal(offset, dim1, dim2), ref.diagonal(offset, dim1, dim2)
    assert_matches(ours, theirs, rtol=0, atol=0)
    # (An empty array's strides are NumPy's own choice, which each library keeps differently.)
    if x.stride() == ref.stride():
        assert ours.stride() == theirs.stride()
    assert ours.storage_offset() == theirs.storage_offset()
    assert_matches(dydx.diagonal(x, offset=offset, dim1=dim1, dim2=dim2), theirs, rtol=0, atol=0)


def test_diagonal_writes_reach_the_base_and_gradients_match():
    x, ref = both((3, 3))
    version = x._version
    x.diagonal().fill_(5.0)
    ref.diagonal().fill_(5.0)
    assert x._version > version
    assert_matches(x, ref, rtol=0, atol=0)
    ours, theirs = dydx.ones((3, 4), requires_grad=True), torch.ones(3, 4, requires_grad=True)
    weights = RNG.standard_normal(2)
    (ours.diagonal(-1) * dydx.from_numpy(weights.copy())).sum().backward()
    (theirs.diagonal(-1) * torch.from_numpy(weights.copy())).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)
    assert ours.diagonal().grad_fn.name() == "DiagonalBackward0"


@pytest.mark.parametrize("shape,offset", [((4,), 0), ((4,), 2), ((4,), -3), ((0,), 1), ((3, 4), 0), ((3, 4), 1),
                                          ((3, 4), -2), ((5, 2), -1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_diag_matches_torch(shape, offset, dtype):
    x, ref = both(shape, dtype)
    assert_matches(dydx.diag(x, offset), torch.diag(ref, offset), rtol=0, atol=0)
    assert_matches(x.diag(diagonal=offset), ref.diag(diagonal=offset), rtol=0, atol=0)


def test_diag_of_bool_and_its_gradient():
    flags = [True, False, True]
    assert_matches(dydx.diag(dydx.tensor(flags)), torch.diag(torch.tensor(flags)), rtol=0, atol=0)
    values = RNG.standard_normal((3, 4))
    x = dydx.from_numpy(values.copy()).requires_grad_(True)
    ref = torch.from_numpy(values.copy()).requires_grad_(True)
    out, theirs = dydx.diag(x, 1), torch.diag(ref, 1)
    assert out.grad_fn.name() == "DiagBackward0"
    (out * out).sum().backward()
    (theirs * theirs).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ref.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (5, 5), (0, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_trace_matches_torch(shape, dtype):
    x, ref = both(shape, dtype)
    assert_matches(dydx.trace(x), torch.trace(ref), rtol=1e-6, atol=0)
    assert_matches(x.trace(), ref.trace(), rtol=1e-6, atol=0)


def test_trace_gradient_is_the_identity_pattern():
    x = dydx.zeros((3, 4), requires_grad=True)
    t = dydx.trace(x)
    assert t.grad_fn.name() == "TraceBackward0"
    t.backward()
    ref = torch.zeros(3, 4, requires_grad=True)
    torch.trace(ref).backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.grad.numpy())


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (2, 3, 5), (2, 1, 4, 4), (2, 0, 3)])
@pytest.mark.parametrize("offset", [0, 1, -1, 3, -4, 100, -100])
def test_tril_triu_match_torch(name, shape, offset):
    x, ref = both(shape)
    assert_matches(getattr(dydx, name)(x, offset), getattr(torch, name)(ref, offset), rtol=0, atol=0)
    assert_matches(getattr(x, name)(diagonal=offset), getattr(ref, name)(diagonal=offset), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu_dtypes_layouts_and_in_place(name):
    for dtype in (np.int64, np.float32):
        x, ref = both((3, 4), dtype)
        assert_matches(getattr(x.t(), name)(1), getattr(ref.t(), name)(1), rtol=0, atol=0)
    flags = [[True, True, True], [True, True, True]]
    assert_matches(getattr(dydx.tensor(flags), name)(), getattr(torch.tensor(flags), name)(), rtol=0, atol=0)
    # In place through a transposed and a sliced view: the base changes as torch's does.
    x, ref = both((4, 5))
    returned = getattr(x.t(), name + "_")(1)
    getattr(ref.t(), name + "_")(1)
    assert_matches(x, ref, rtol=0, atol=0)
    assert_matches(returned, ref.t(), rtol=0, atol=0)
    x, ref = both((2, 4, 5))
    getattr(x[:, 1:, ::2], name + "_")(-1)
    getattr(ref[:, 1:, ::2], name + "_")(-1)
    assert_matches(x, ref, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu_gradients_and_in_place_history(name):
    values = RNG.standard_normal((3, 4))
    weights = RNG.standard_normal((3, 4))
    x = dydx.from_numpy(values.copy()).requires_grad_(True)
    ref = torch.from_numpy(values.copy()).requires_grad_(True)
    out = getattr(dydx, name)(x, -1)
    assert out.grad_fn.name() == name.capitalize() + "Backward0"
    (out * dydx.from_numpy(weights.copy())).sum().backward()
    (getattr(torch, name)(ref, -1) * torch.from_numpy(weights.copy())).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.grad.numpy())
    x.grad = None
    ref.grad = None
    y, theirs = x * 2, ref * 2
    getattr(y[1:], name + "_")()
    getattr(theirs[1:], name + "_")()
    assert y.grad_fn.name() == "CopySlices"  # torch's is "torch::autograd::CopySlices"
    (y * dydx.from_numpy(weights.copy())).sum().backward()
    (theirs * torch.from_numpy(weights.copy())).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.grad.numpy())


def test_errors_raise_and_change_nothing():
    matrix = dydx.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match="diagonal.*cannot be identical"):
        matrix.diagonal(0, 1, 1)
    with pytest.raises(RuntimeError, match="diagonal"):
        matrix.diagonal(0, 0, 2)
    with pytest.raises(RuntimeError, match="diag.*matrix or a vector expected"):
        dydx.diag(dydx.zeros((2, 2, 2)))
    with pytest.raises(RuntimeError, match="trace.*expected a matrix"):
        dydx.trace(dydx.zeros((3,)))
    with pytest.raises(RuntimeError, match="trace.*bool"):
        dydx.trace(dydx.tensor([[True]]))
    vector = dydx.tensor([1.0, 2.0])
    for name in ("tril", "triu"):
        with pytest.raises(RuntimeError, match=name + ".*at least 2 dimensions"):
            getattr(dydx, name)(vector)
        with pytest.raises(RuntimeError, match=name + "_.*at least 2 dimensions"):
            getattr(vector, name + "_")()
    assert vector.tolist() == [1.0, 2.0]
