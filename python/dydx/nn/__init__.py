"""dydx.nn, as torch.nn: Module and Parameter with torch's semantics, the layers and losses (Python
classes over dydx.nn.functional, which is dydx's C++ nn::functional), and nn.init."""

from . import functional, init  # noqa: F401
from .modules import *  # noqa: F401,F403
from .parameter import Parameter  # noqa: F401
