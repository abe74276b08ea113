"""dydx.nn.init against torch.nn.init: the same gains and fans, and draws within torch's bounds."""

import math

import numpy as np
import pytest
import torch

import dydx
import dydx.nn as nn


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2)])
def test_calculate_gain_is_torchs(name, param):
    assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


SHAPE = (20, 3, 4)
FAN_IN, FAN_OUT = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(SHAPE))


def test_fans_are_torchs():
    assert nn.init._calculate_fan_in_and_fan_out(dydx.empty(*SHAPE)) == (FAN_IN, FAN_OUT)


@pytest.mark.parametrize("init,bound", [
    (lambda t: nn.init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(FAN_IN)),
    (lambda t: nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2) * math.sqrt(3 / FAN_OUT)),
    (lambda t: nn.init.uniform_(t, -0.5, 0.25), 0.5),
])
def test_uniform_draws_fill_torchs_range_in_place(init, bound):
    t = dydx.zeros(*SHAPE, dtype=dydx.float64)
    init(t)
    largest = np.abs(np.array(t.numpy())).max()
    assert 0.8 * bound < largest <= bound


def test_constant_initialisers_and_errors():
    t = dydx.empty(2, 3)
    assert nn.init.constant_(t, 1.5).tolist() == [[1.5] * 3] * 2
    assert nn.init.eye_(t).tolist() == torch.nn.init.eye_(torch.empty(2, 3)).tolist()
    assert nn.init.zeros_(t).tolist() == [[0.0] * 3] * 2
    with pytest.raises(ValueError):
        nn.init.kaiming_uniform_(t, mode="fan_middle")
    with pytest.raises(ValueError):
        nn.init.calculate_gain("swish")
    with pytest.raises(dydx.Error):
        nn.init.xavier_uniform_(dydx.empty(3))
