"""The named results of the ops that give values and their indices, as torch.return_types:
x.sort().values, x.topk(2).indices, and still values, indices = x.max(0). The extension makes them
(python/src/tensor_methods.cpp's named_pair) as tuples of these types."""

from collections import namedtuple


def _values_and_indices(name):
    base = namedtuple(name, ["values", "indices"])

    def __repr__(self):
        return f"dydx.return_types.{name}(\nvalues={self.values!r},\nindices={self.indices!r})"

    result = type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__module__": __name__})
    result.__qualname__ = name
    return result


max = _values_and_indices("max")
min = _values_and_indices("min")
sort = _values_and_indices("sort")
topk = _values_and_indices("topk")
kthvalue = _values_and_indices("kthvalue")
median = _values_and_indices("median")
nanmedian = _values_and_indices("nanmedian")

