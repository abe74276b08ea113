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


class compile:  # noqa: N801 (torch.compile's name)
    """func::compile for a Python function of tensors: recorded once per input signature, then replayed
    without calling it (no interpreter per op), with elementwise runs fused into single passes and
    activations fused into the products before them. The same contract as jax.jit: value-dependent
    control flow and non-tensor values are fixed at recording; calls that need autograd history, and
    functions whose recording cannot be replayed (in-place writes into inputs or views, ...), run the
    function itself;
    random draws (``rand``, ``dropout``, ...) draw again at each call, as the function would; ``stats()`` says which and why. Transforms called inside the function
    (``dydx.func.batch_jacobian``, ``laplacian``, ``vmap``) are recorded too.
    """

    def __init__(self, func, max_signatures=64):
        if not callable(func):
            raise TypeError(f"dydx.func.compile: expected a callable, not {type(func).__name__}")
        self._func = func  # held here, where the cycle collector sees it
        self._compiled = _core_func.Compiled(max_signatures)
        functools.update_wrapper(self, func)

    def __call__(self, *inputs):
        return self._compiled(self._func, *inputs)

    def stats(self):
        return self._compiled.stats()

    def reset(self):
        self._compiled.reset()
