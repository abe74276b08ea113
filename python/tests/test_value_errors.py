"""Argument values PyTorch's Python API refuses with ValueError (optimizer options, vmap's in_dims and batch
sizes, an empty parameter list) raise dydx.ValueError, which is a dydx.Error and a ValueError; vmap's out_dims out
of range an IndexError. Each against torch (functorch for vmap)."""

import functorch
import pytest
import torch

import dydx

P, TP = dydx.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)

CASES = [
    (lambda: dydx.optim.SGD([P], lr=-1), lambda: torch.optim.SGD([TP], lr=-1)),
    (lambda: dydx.optim.SGD([P], lr=0.1, momentum=-1), lambda: torch.optim.SGD([TP], lr=0.1, momentum=-1)),
    (lambda: dydx.optim.SGD([P], lr=0.1, weight_decay=-1), lambda: torch.optim.SGD([TP], lr=0.1, weight_decay=-1)),
    (lambda: dydx.optim.SGD([P], lr=0.1, nesterov=True), lambda: torch.optim.SGD([TP], lr=0.1, nesterov=True)),
    (lambda: dydx.optim.Adam([P], lr=0.1, eps=-1), lambda: torch.optim.Adam([TP], lr=0.1, eps=-1)),
    (lambda: dydx.optim.Adam([P], lr=0.1, betas=(1.0, 0.9)), lambda: torch.optim.Adam([TP], lr=0.1, betas=(1.0, 0.9))),
    (lambda: dydx.optim.AdamW([P], lr=0.1, weight_decay=-1), lambda: torch.optim.AdamW([TP], lr=0.1, weight_decay=-1)),
    (lambda: dydx.optim.RMSprop([P], lr=0.1, alpha=-1), lambda: torch.optim.RMSprop([TP], lr=0.1, alpha=-1)),
    (lambda: dydx.optim.Adam([], lr=0.1), lambda: torch.optim.Adam([], lr=0.1)),
    (lambda: dydx.optim.SGD([], lr=0.1), lambda: torch.optim.SGD([], lr=0.1)),
    (lambda: dydx.func.vmap(lambda x: x, in_dims=5)(dydx.zeros(2)),
     lambda: functorch.vmap(lambda x: x, in_dims=5)(torch.zeros(2))),
    (lambda: dydx.func.vmap(lambda x, y: x + y)(dydx.zeros(2), dydx.zeros(3)),
     lambda: functorch.vmap(lambda x, y: x + y)(torch.zeros(2), torch.zeros(3))),
    (lambda: dydx.func.vmap(lambda x, y: x, in_dims=(0,))(dydx.zeros(2), dydx.zeros(2)),
     lambda: functorch.vmap(lambda x, y: x, in_dims=(0,))(torch.zeros(2), torch.zeros(2))),
    (lambda: dydx.func.vmap(lambda x: x, out_dims=3)(dydx.zeros(2)),
     lambda: functorch.vmap(lambda x: x, out_dims=3)(torch.zeros(2))),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_same_exception_kind_as_torch(case):
    dydx_call, torch_call = CASES[case]
    with pytest.raises(Exception) as torch_error:
        torch_call()
    with pytest.raises(Exception) as dydx_error:
        dydx_call()
    kind = type(torch_error.value)
    assert kind in (ValueError, IndexError)
    assert isinstance(dydx_error.value, kind), (dydx_error.value, torch_error.value)


def test_value_error_is_a_dydx_error():
    with pytest.raises(dydx.Error):
        dydx.optim.SGD([P], lr=-1)
    assert issubclass(dydx._core.ValueError, ValueError) and issubclass(dydx._core.ValueError, dydx.Error)
    # A tuple of in_dims of the right length still maps each input its own way.
    out = dydx.func.vmap(lambda x, y: x + y, in_dims=(0, None))(dydx.ones(3, 2), dydx.ones(2))
    assert tuple(out.shape) == (3, 2)
