"""dydx.optim against torch.optim: the same parameters after the same steps on the same loss."""

import pytest
import torch

import dydx
from conftest import assert_matches

START = [[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]]


def loss(w):
    return ((w.sin() * w).sum(1) ** 2).sum() + (w * w).sum() * 0.1


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
])
def test_steps_match_torch(name, kwargs):
    w = dydx.tensor(START, dtype=dydx.float64, requires_grad=True)
    tw = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = getattr(dydx.optim, name)([w], **kwargs)
    topt = getattr(torch.optim, name)([tw], **kwargs)
    for _ in range(5):
        opt.zero_grad()
        topt.zero_grad()
        loss(w).backward()
        loss(tw).backward()
        opt.step()
        topt.step()
    assert_matches(w, tw, rtol=1e-12, atol=1e-12)


def test_step_with_a_closure_returns_its_loss():
    w = dydx.tensor([1.0, -2.0], requires_grad=True)
    opt = dydx.optim.SGD([w], lr=0.5)

    def closure():
        opt.zero_grad(set_to_none=True)
        value = (w * w).sum()
        value.backward()
        return value

    assert opt.step(closure).item() == 5.0
    assert w.tolist() == [0.0, 0.0]
    with pytest.raises(ZeroDivisionError):
        opt.step(lambda: 1 / 0)
