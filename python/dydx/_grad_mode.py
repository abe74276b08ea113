"""Grad mode as PyTorch's context managers and decorators: no_grad, enable_grad, set_grad_enabled."""

import functools
import inspect

from . import _core


def _decorate(make_mode, fn):
    """fn run in the mode that make_mode() enters; a generator function is resumed in it each time, with
    the caller's mode back between its steps, as torch's decorators do (a plain wrapper would only set
    the mode while the generator object is created, and its body would run in the caller's mode)."""
    if not inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with make_mode():
                return fn(*args, **kwargs)
        return wrapper

    @functools.wraps(fn)
    def generator(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with make_mode():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_mode():
                        gen.close()
                    raise
                except BaseException as error:
                    with make_mode():
                        response = gen.throw(error)
                else:
                    with make_mode():
                        response = gen.send(request)
        except StopIteration as done:
            return done.value
    return generator


class _GradMode:
    """Sets grad mode on entry and restores the previous mode on exit, even when the body raises."""

    _mode = None

    def __enter__(self):
        self._previous = _core.is_grad_enabled()
        _core._set_grad_enabled(self._mode)
        return None

    def __exit__(self, *exc):
        _core._set_grad_enabled(self._previous)
        return False

    def __call__(self, fn):
        return _decorate(self.__class__, fn)


class no_grad(_GradMode):
    """Ops inside record no history (torch.no_grad)."""

    _mode = False


class enable_grad(_GradMode):
    """Ops inside record history, even within no_grad (torch.enable_grad)."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Sets grad mode at once, and restores it when used as a context manager (torch.set_grad_enabled)."""

    def __init__(self, mode):
        self._mode = mode
        self._previous = _core.is_grad_enabled()
        _core._set_grad_enabled(mode)

    def __enter__(self):
        return None

    def __call__(self, fn):
        _core._set_grad_enabled(self._previous)
        mode = self._mode
        return _decorate(lambda: set_grad_enabled(mode), fn)
