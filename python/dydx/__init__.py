"""dydx: automatic differentiation of tensor functions, with PyTorch's Python surface.

The tensors, ops and transforms are dydx's C++ library (the extension module dydx._core); this file
adds what is most naturally Python: the grad-mode context managers, torch.Size's counterpart, the
free-function spellings of the methods (dydx.exp(x) is x.exp()), and iteration.
"""

from . import _core
from ._core import (  # noqa: F401
    Error, Tensor, dtype, float32, float64, int64, bool, float, double, long,
    tensor, zeros, ones, empty, full, zeros_like, ones_like, empty_like, full_like, arange, linspace, eye,
    manual_seed, rand, randn, randint, randperm,
    from_numpy, from_dlpack, is_grad_enabled, blas_kernel, get_num_threads, set_num_threads,
    autograd, optim, linalg,
)
from ._grad_mode import no_grad, enable_grad, set_grad_enabled  # noqa: F401
from . import return_types  # noqa: E402,F401
from ._functions import *  # noqa: F401,F403,E402
from . import func  # noqa: E402,F401
from . import nn  # noqa: E402,F401


class Size(tuple):
    """A tensor's shape, printed as PyTorch prints torch.Size: dydx.Size([2, 3])."""

    def __repr__(self):
        return f"dydx.Size([{', '.join(str(s) for s in self)}])"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


def _iterate(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.size(0)))


Tensor.__iter__ = _iterate
Tensor.__str__ = Tensor.__repr__
