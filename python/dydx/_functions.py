"""The free-function spellings of ops: dydx.exp(x) is x.exp(), as torch.exp(x) is x.exp().
Ops with no method (cat, stack, where, einsum, ...) come from the module itself."""

from . import _core

_METHODS = [
    "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "abs", "neg", "negative", "log1p", "expm1",
    "erf", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "reciprocal", "rsqrt", "log2", "log10",
    "exp2", "erfc", "floor", "ceil", "round", "trunc", "frac", "sign", "square", "clamp", "clamp_min", "clamp_max", "clip", "nan_to_num", "pow", "atan2", "hypot", "maximum", "minimum", "fmod", "remainder",
    "addcmul", "addcdiv", "matmul", "mm", "dot", "mv", "outer", "inverse", "softmax", "log_softmax", "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian", "prod", "cumsum", "cumprod", "var", "std", "norm",
    "logsumexp", "any", "all", "gather", "scatter_add", "index_select", "masked_fill", "scatter", "masked_select",
    "nonzero", "isnan", "isinf", "isfinite", "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_not",
    "eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul", "div", "floor_divide", "reshape", "flatten", "unflatten", "movedim",
    "transpose", "permute", "flip", "squeeze", "unsqueeze", "narrow", "select", "t", "clone", "detach", "numel",
    "split", "split_with_sizes", "chunk", "unbind", "roll", "moveaxis", "swapaxes", "swapdims", "broadcast_to", "fliplr",
    "flipud", "tile", "tensor_split", "take_along_dim",
    "diagonal", "diag", "trace", "tril", "triu", "lerp", "logaddexp", "logaddexp2", "logit", "bitwise_left_shift",
    "bitwise_right_shift", "diff", "kron",
]


def _free_function(name):
    method = getattr(_core.Tensor, name)

    def function(input, *args, **kwargs):
        return method(input, *args, **kwargs)

    function.__name__ = name
    function.__qualname__ = name
    function.__doc__ = f"dydx.{name}(input, ...) is input.{name}(...)."
    return function


for _name in _METHODS:
    globals()[_name] = _free_function(_name)

from ._core import cat, stack, where, einsum, bmm, addmm, linear, allclose, equal, isclose, silu, softplus, gelu, elu, leaky_relu  # noqa: E402,F401
from ._core import xlogy, cdist  # noqa: E402,F401
from ._core import broadcast_tensors, atleast_1d, atleast_2d, atleast_3d, hstack, vstack, row_stack, dstack, column_stack  # noqa: E402,F401

__all__ = _METHODS + ["cat", "stack", "where", "einsum", "bmm", "addmm", "linear", "allclose", "equal", "isclose",
                      "silu", "softplus", "gelu", "elu", "leaky_relu", "broadcast_tensors", "atleast_1d", "atleast_2d",
                      "atleast_3d", "hstack", "vstack", "row_stack", "dstack", "column_stack", "xlogy", "cdist"]
