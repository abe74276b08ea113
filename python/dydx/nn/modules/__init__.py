"""The module classes of dydx.nn, written in Python over dydx.nn.functional."""

from .activation import (ELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax,  # noqa: F401
                         Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Tanh)
from .container import Sequential  # noqa: F401
from .conv import Conv1d, Conv2d  # noqa: F401
from .dropout import Dropout  # noqa: F401
from .linear import Flatten, Identity, Linear  # noqa: F401
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss,  # noqa: F401
                   SmoothL1Loss)
from .module import Module  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm  # noqa: F401
from .pooling import AvgPool2d, MaxPool2d  # noqa: F401

__all__ = [
    "Module", "Linear", "Identity", "Flatten", "Sequential", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d",
    "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Dropout", "ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Softplus", "ELU",
    "LeakyReLU", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "SELU", "Mish", "LogSigmoid", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss",
    "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss",
]
