"""dydx.func: the function transforms, as torch.func.

The transforms themselves are dydx._core.func's. Those that return a function (grad, jacrev, jacfwd,
hessian, vmap) are given back here as Python closures, so that Python's cycle collector sees what
they hold: a transform's result kept where its own function can reach it (self.g = grad(self.f), a
bound method holding self) made a cycle through C++ that was never freed. The C++ transform is built
once up front, so that bad arguments raise where the transform is made, as in torch.func, and then
again for each call, which costs about a microsecond.
"""

import functools

from ._core import func as _core_func
from ._core.func import (  # noqa: F401
    batch_hessian, batch_hessian_diagonal, batch_jacobian, hessian_diagonal, jacobian, jvp, laplacian,
    linearize, vjp,
)


def _returns_a_function(transform):
    @functools.wraps(transform)
    def make(func, *args, **kwargs):
        transform(func, *args, **kwargs)  # checks the arguments now, and is dropped at once

        @functools.wraps(func)
        def transformed(*inputs):
            return transform(func, *args, **kwargs)(*inputs)

        return transformed

    return make


grad = _returns_a_function(_core_func.grad)
jacrev = _returns_a_function(_core_func.jacrev)
jacfwd = _returns_a_function(_core_func.jacfwd)
hessian = _returns_a_function(_core_func.hessian)
vmap = _returns_a_function(_core_func.vmap)
