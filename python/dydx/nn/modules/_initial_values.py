"""torch's default initialisation of Linear's and Conv's weight and bias, from dydx's generator."""

import math

from .. import init


def reset_weight_and_bias(weight, bias):
    # kaiming_uniform_(a=sqrt(5)) is uniform on +-1/sqrt(fan_in), as the bias is: torch's defaults.
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
