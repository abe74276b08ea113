"""dydx.func: the function transforms, as torch.func.

The transforms themselves are dydx._core.func's. Those that return a function (grad, jacrev, jacfwd,
hessian, vmap) are given back here as Python closures, so that Python's cycle collector sees what
they hold: a transform's result kept where its own function can reach it (self.g = grad(self.f), a
bound method holding self) made a cycle through C++ that was never freed. The C++ transform is built
once up front, so that bad arguments raise where the transform is made, as in torch.func, and then
again for each call, which costs about a microsecond.
"""

import functools

from . import _core
from ._core import func as _core_func
from ._core.func import (  # noqa: F401
    batch_hessian, batch_hessian_diagonal, batch_jacobian, hessian_diagonal, jacobian, laplacian, linearize,
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


hessian = _returns_a_function(_core_func.hessian)
_vmap = _returns_a_function(_core_func.vmap)


def vmap(func, in_dims=0, out_dims=0, randomness="error", chunk_size=None):
    """torch.func.vmap: func mapped over a dim of its inputs. in_dims is one dim (or None) for every input, or a
    tuple or list with one entry per input; a sequence of another length is torch's ValueError."""
    mapped = _vmap(func, in_dims, out_dims, randomness, chunk_size)
    if not isinstance(in_dims, (tuple, list)):
        return mapped

    @functools.wraps(func)
    def checked(*inputs):
        if len(in_dims) != len(inputs):
            raise ValueError(f"vmap(f, in_dims={tuple(in_dims)}, ...)(<inputs>): in_dims is not compatible with the "
                             f"structure of `inputs`: {len(in_dims)} in_dims for {len(inputs)} inputs")
        return mapped(*inputs)

    return checked


_grad = _returns_a_function(_core_func.grad)
_jacrev = _returns_a_function(_core_func.jacrev)
_jacfwd = _returns_a_function(_core_func.jacfwd)


# has_aux, as torch.func's: func returns (output, aux); the transform differentiates output and returns aux
# beside its result, unwrapped from the transform's own level only: it stays differentiable for an outer
# transform or autograd, as torch's aux is. A reverse transform (grad, jacrev, vjp) gives func fresh leaves
# for inputs that do not require grad, and a view of those that do; so aux is detached where no input
# requires grad (its history would reach only those leaves) and kept as it is otherwise. Forward transforms
# keep it as it is (their level's tangents end with the level). Each call has its own box, so that calls on
# other threads, or nested ones, keep their own aux.
class _AuxBox:
    def __init__(self, func, transform):
        self.func, self.transform, self.aux, self.seen = func, transform, None, False

    def __call__(self, *args):
        result = self.func(*args)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise RuntimeError(f"{self.transform}(f, ...)(*args): output of function f should be a tuple: "
                               "(output, aux) if has_aux is True")
        output, aux = result
        if not self.seen:  # the first call's: a transform may call func again (chunks), with the same aux
            self.aux, self.seen = aux, True
        return output


def _detached(tree):
    if isinstance(tree, _core.Tensor):
        return tree.detach()
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_detached(v) for v in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(_detached(v) for v in tree)
    if isinstance(tree, dict):
        return {k: _detached(v) for k, v in tree.items()}
    return tree


def _unwrapped(aux, inputs, reverse):
    """aux as a reverse transform over inputs returns it (see above)."""
    if not reverse:
        return aux
    records = _core.is_grad_enabled() and any(isinstance(t, _core.Tensor) and t.requires_grad for t in inputs)
    return aux if records else _detached(aux)


def _with_aux(plain, name):
    """plain (grad, jacrev or jacfwd) with torch.func's has_aux keyword."""
    @functools.wraps(plain)
    def make(func, *args, has_aux=False, **kwargs):
        if not has_aux:
            return plain(func, *args, **kwargs)
        plain(_AuxBox(func, name), *args, **kwargs)  # checks the arguments now

        @functools.wraps(func)
        def with_aux(*inputs):
            box = _AuxBox(func, name)
            result = plain(box, *args, **kwargs)(*inputs)
            return result, _unwrapped(box.aux, inputs, reverse=name != "jacfwd")

        return with_aux

    return make


grad = _with_aux(_grad, "grad")
jacrev = _with_aux(_jacrev, "jacrev")
jacfwd = _with_aux(_jacfwd, "jacfwd")


def vjp(func, *primals, has_aux=False):
    """torch.func.vjp: (output, vjp_fn), and aux third with has_aux."""
    if not has_aux:
        return _core_func.vjp(func, *primals)
    box = _AuxBox(func, "vjp")
    output, vjp_fn = _core_func.vjp(box, *primals)
    return output, vjp_fn, _unwrapped(box.aux, primals, reverse=True)


def jvp(func, primals, tangents, *, has_aux=False):
    """torch.func.jvp: (output, jvp_out), and aux third with has_aux."""
    if not has_aux:
        return _core_func.jvp(func, primals, tangents)
    box = _AuxBox(func, "jvp")
    output, tangent = _core_func.jvp(box, primals, tangents)
    return output, tangent, box.aux


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
