"""Grad mode as PyTorch's context managers and decorators: no_grad, enable_grad, set_grad_enabled."""

import functools

from . import _core


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
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


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

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
