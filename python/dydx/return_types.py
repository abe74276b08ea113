"""The named results of the ops that give values and their indices, as torch.return_types:
x.sort().values, x.topk(2).indices, and still values, indices = x.max(0)."""

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


def _name_results(tensor_type):
    """Makes the methods of tensor_type that return a (values, indices) pair return them named."""
    for name in ("max", "min", "sort", "topk", "kthvalue", "median", "nanmedian"):
        method, result = getattr(tensor_type, name), globals()[name]

        def named(self, *args, _method=method, _result=result, **kwargs):
            out = _method(self, *args, **kwargs)
            return _result(*out) if type(out) is tuple else out

        named.__name__ = named.__qualname__ = name
        named.__doc__ = method.__doc__
        setattr(tensor_type, name, named)
