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
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.05)),
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


@pytest.mark.parametrize("kwargs", [dict(lr=0.5), dict(lr=1, max_iter=7, history_size=3, line_search_fn="strong_wolfe")])
def test_lbfgs_steps_with_a_closure_match_torch(kwargs):
    w = dydx.tensor(START, dtype=dydx.float64, requires_grad=True)
    tw = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt, topt = dydx.optim.LBFGS([w], **kwargs), torch.optim.LBFGS([tw], **kwargs)

    def closure(param, optimizer):
        def evaluate():
            optimizer.zero_grad()
            value = loss(param)
            value.backward()
            return value
        return evaluate

    for _ in range(3):
        mine, theirs = opt.step(closure(w, opt)), topt.step(closure(tw, topt))
        assert mine.item() == pytest.approx(theirs.item(), rel=1e-10)
    # Up to 60 quasi-Newton iterations, each with dot products summed in another order than torch's: the
    # parameters agree to about 1e-8 (the loss values above to 1e-10).
    assert_matches(w, tw, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,args", [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),
])
def test_schedulers_give_torchs_rates(name, args):
    w, tw = dydx.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt, topt = dydx.optim.SGD([w], lr=0.1), torch.optim.SGD([tw], lr=0.1)
    sched = getattr(dydx.optim.lr_scheduler, name)(opt, **args)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **args)
    for _ in range(10):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
    assert sched.last_epoch == tsched.last_epoch


def test_reduce_lr_on_plateau_gives_torchs_rates():
    w, tw = dydx.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt, topt = dydx.optim.SGD([w], lr=1.0), torch.optim.SGD([tw], lr=1.0)
    kwargs = dict(mode="max", factor=0.5, patience=1, threshold=0.01, threshold_mode="abs", cooldown=1, min_lr=0.1)
    sched = dydx.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    for metric in [1.0, 1.005, 0.9, 0.8, 2.0, 2.001, 1.0, 1.0, 1.0, 1.0, 1.0]:
        sched.step(dydx.tensor(metric))
        tsched.step(metric)
        assert opt.lr == topt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="unknown"):
        dydx.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="up")
