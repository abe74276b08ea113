"""Shared helpers: PyTorch 1.13 (Debian's python3-torch) is the oracle every test compares with."""

import numpy as np
import pytest
import torch

import dydx

TORCH_DTYPE = {dydx.float32: torch.float32, dydx.float64: torch.float64, dydx.int64: torch.int64, dydx.bool: torch.bool}


def dydx_and_torch(array, requires_grad=False):
    """The same values as a dydx tensor and a torch tensor, each its own copy of the NumPy array."""
    x, t = dydx.from_numpy(array.copy()), torch.from_numpy(array.copy())
    if requires_grad:
        x.requires_grad_()
        t.requires_grad_()
    return x, t


def to_torch(t):
    """A copy of a dydx tensor as a torch tensor (through NumPy, not DLPack, so it checks something else)."""
    return torch.from_numpy(np.array(t.detach().numpy()))


def assert_matches(actual, expected, rtol=1e-6, atol=1e-6):
    """dydx's result has torch's shape, dtype and values."""
    assert isinstance(actual, dydx.Tensor), type(actual)
    assert tuple(actual.shape) == tuple(expected.shape)
    assert TORCH_DTYPE[actual.dtype] == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual.detach().numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def grad_mode_is_restored():
    """Every test leaves grad mode as it found it (on), whatever it raised on the way."""
    assert dydx.is_grad_enabled()
    yield
    assert dydx.is_grad_enabled()
