"""dydx.nn.init, as torch.nn.init: in-place initialisers drawing from dydx's generator (dydx.manual_seed),
without recording autograd history (dydx's C++ nn::init, bound in python/src/nn.cpp)."""

from .. import _core

_compiled = _core.nn.init
calculate_gain = _compiled.calculate_gain
_calculate_fan_in_and_fan_out = _compiled._calculate_fan_in_and_fan_out
uniform_ = _compiled.uniform_
normal_ = _compiled.normal_
constant_ = _compiled.constant_
zeros_ = _compiled.zeros_
ones_ = _compiled.ones_
eye_ = _compiled.eye_
xavier_uniform_ = _compiled.xavier_uniform_
xavier_normal_ = _compiled.xavier_normal_
kaiming_uniform_ = _compiled.kaiming_uniform_
kaiming_normal_ = _compiled.kaiming_normal_

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]
