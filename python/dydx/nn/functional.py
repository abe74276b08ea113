"""dydx.nn.functional, as torch.nn.functional: the losses, convolutions, pooling, normalisation,
dropout and padding are dydx's C++ nn::functional (bound in python/src/nn.cpp); the activations,
softmax and linear are the ops dydx already has, given torch.nn.functional's signatures here."""

from typing import Optional

from .. import _core
from .._core import Tensor, dtype

_compiled = _core.nn.functional
mse_loss = _compiled.mse_loss
l1_loss = _compiled.l1_loss
smooth_l1_loss = _compiled.smooth_l1_loss
huber_loss = _compiled.huber_loss
binary_cross_entropy = _compiled.binary_cross_entropy
binary_cross_entropy_with_logits = _compiled.binary_cross_entropy_with_logits
nll_loss = _compiled.nll_loss
cross_entropy = _compiled.cross_entropy
one_hot = _compiled.one_hot
dropout = _compiled.dropout
conv1d = _compiled.conv1d
conv2d = _compiled.conv2d
max_pool2d = _compiled.max_pool2d
avg_pool2d = _compiled.avg_pool2d
layer_norm = _compiled.layer_norm
batch_norm = _compiled.batch_norm
pad = _compiled.pad
linear = _core.linear


# inplace=True calls the op's in-place form, as torch's functions do: it writes input, returns it (the
# same object) and records the op's own node. (Computing the result out of place and copying it into
# input instead records CopyBackwards over a node whose saved input the copy overwrote: backward then
# raised for silu, elu, leaky_relu and mish.)
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else input.relu()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return _core.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _core.silu_(input) if inplace else _core.silu(input)


def softplus(input: Tensor, beta: float = 1, threshold: float = 20) -> Tensor:
    return _core.softplus(input, beta, threshold)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _core.elu_(input, alpha) if inplace else _core.elu(input, alpha)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _core.leaky_relu_(input, negative_slope) if inplace else _core.leaky_relu(input, negative_slope)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    return _core.hardtanh_(input, min_val, max_val) if inplace else _core.hardtanh(input, min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return _core.relu6_(input) if inplace else _core.relu6(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return _core.hardsigmoid_(input) if inplace else _core.hardsigmoid(input)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _core.hardswish_(input) if inplace else _core.hardswish(input)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _core.selu_(input) if inplace else _core.selu(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return _core.mish_(input) if inplace else _core.mish(input)


def logsigmoid(input: Tensor) -> Tensor:
    return _core.logsigmoid(input)


def _softmax_dim(name: str, dim: Optional[int]) -> int:
    # torch 1.13 guesses a dim when none is given (with a deprecation warning); here it must be named.
    if dim is None:
        raise TypeError(f"{name}(): the dim argument is required")
    return dim


def softmax(input: Tensor, dim: Optional[int] = None, dtype: Optional[dtype] = None) -> Tensor:
    dim = _softmax_dim("softmax", dim)
    return (input if dtype is None else input.to(dtype)).softmax(dim)


def log_softmax(input: Tensor, dim: Optional[int] = None, dtype: Optional[dtype] = None) -> Tensor:
    dim = _softmax_dim("log_softmax", dim)
    return (input if dtype is None else input.to(dtype)).log_softmax(dim)


__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "nll_loss", "cross_entropy", "one_hot", "dropout", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "layer_norm",
    "batch_norm", "pad", "linear", "relu", "tanh", "sigmoid", "gelu", "silu", "softplus", "elu", "leaky_relu",
    "hardtanh", "relu6", "hardsigmoid", "hardswish", "selu", "mish", "logsigmoid", "softmax", "log_softmax",
]


# torch.nn.functional's spellings of the in-place forms (F.relu_(x) is F.relu(x, inplace=True)).
def relu_(input: Tensor) -> Tensor:
    return input.relu_()


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return _core.elu_(input, alpha)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return _core.leaky_relu_(input, negative_slope)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return _core.hardtanh_(input, min_val, max_val)


def selu_(input: Tensor) -> Tensor:
    return _core.selu_(input)
