"""dydx.nn.Parameter, as torch.nn.Parameter: a Tensor that a Module registers when it is assigned
as an attribute. It shares its storage with the tensor it is made from, detached from its history."""

from typing import Optional

from .. import _core


class Parameter(_core.Tensor):
    def __init__(self, data: Optional[_core.Tensor] = None, requires_grad: bool = True) -> None:
        if data is None:
            data = _core.empty(0)
        if not isinstance(data, _core.Tensor):
            raise TypeError(f"Parameter(): data must be a dydx.Tensor, not {type(data).__name__}")
        super().__init__(data)
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__
