"""The arranging ops (broadcast_to, broadcast_tensors, atleast_Nd, hstack/vstack/row_stack/dstack/
column_stack, swapaxes/swapdims, moveaxis, fliplr/flipud, tile, tensor_split, take_along_dim) against
torch's: shapes, values, dtypes, gradients, which results are views, and the same kind of error for the
same bad call."""

import numpy as np
import pytest
import torch

import dydx
from conftest import assert_matches, dydx_and_torch

rng = np.random.default_rng(7)


def floats(*shape):
    return rng.uniform(-2, 2, size=shape)


def both(*shape):
    return dydx_and_torch(floats(*shape), requires_grad=True)


def check(dydx_result, torch_result):
    """Equal values (a tensor or a tuple of them), and equal gradients of a random weighting of them."""
    if isinstance(torch_result, torch.Tensor):
        dydx_result, torch_result = (dydx_result,), (torch_result,)
    assert isinstance(dydx_result, tuple) and len(dydx_result) == len(torch_result)
    for a, b in zip(dydx_result, torch_result):
        assert_matches(a, b, rtol=0, atol=0)
    return dydx_result, torch_result


def grads_match(x, t, dydx_result, torch_result):
    dydx_result, torch_result = check(dydx_result, torch_result)
    weights = [floats(*r.shape) for r in torch_result]
    loss = sum((r * dydx.from_numpy(w.copy())).sum() for r, w in zip(dydx_result, weights))
    torch_loss = sum((r * torch.from_numpy(w)).sum() for r, w in zip(torch_result, weights))
    (g,) = dydx.autograd.grad(loss, x, allow_unused=True)
    (tg,) = torch.autograd.grad(torch_loss, t, allow_unused=True)
    if tg is None:
        assert g is None or not g.numpy().any()
    else:
        assert_matches(g, tg, rtol=1e-14, atol=1e-14)


def same_error(call_dydx, call_torch):
    """Both raise, dydx an exception of torch's kind (dydx.Error is a RuntimeError; IndexError and
    TypeError as torch's)."""
    with pytest.raises(Exception) as theirs:
        call_torch()
    with pytest.raises(Exception) as ours:
        call_dydx()
    expected = theirs.type if theirs.type in (TypeError, IndexError) else RuntimeError
    assert isinstance(ours.value, expected), (ours.value, theirs.value)


SHAPES = [(), (3,), (2, 3), (2, 1, 3), (0,), (2, 0)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["atleast_1d", "atleast_2d", "atleast_3d"])
def test_atleast(name, shape):
    x, t = both(*shape)
    grads_match(x, t, getattr(dydx, name)(x), getattr(torch, name)(t))
    check(getattr(dydx, name)(x, x * 2), getattr(torch, name)(t, t * 2))
    check(getattr(dydx, name)([x]), getattr(torch, name)([t]))


STACK_CASES = [[(), (2,)], [(3,), (3,)], [(2, 1), (2, 3)], [(2, 3), (2, 3), (2, 3)], [(), (1,), (1, 2)], [(4, 2, 3), (4, 2, 1)],
               [(0,), (2,)], [(2, 3, 1), (2, 3, 2)]]


@pytest.mark.parametrize("shapes", STACK_CASES)
@pytest.mark.parametrize("name", ["hstack", "vstack", "row_stack", "dstack", "column_stack"])
def test_stacks_match_torch_or_raise_alike(name, shapes):
    pairs = [both(*s) for s in shapes]
    xs, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    try:
        expected = getattr(torch, name)(ts)
    except RuntimeError:
        same_error(lambda: getattr(dydx, name)(xs), lambda: getattr(torch, name)(ts))
        return
    result = getattr(dydx, name)(xs)
    grads_match(xs[0], ts[0], result, expected)


@pytest.mark.parametrize("name", ["hstack", "vstack", "row_stack", "dstack", "column_stack"])
def test_stacks_of_nothing_and_mixed_dtypes(name):
    same_error(lambda: getattr(dydx, name)([]), lambda: getattr(torch, name)([]))
    a, ta = dydx_and_torch(np.arange(3.0))
    b, tb = dydx_and_torch(np.arange(3))
    check(getattr(dydx, name)((a, b)), getattr(torch, name)((ta, tb)))


@pytest.mark.parametrize("shape,target", [((3,), (2, 3)), ((3, 1), (3, 4)), ((1,), (2, 0)), ((), (2, 2)), ((2, 3), (-1, 3)),
                                          ((3,), (4, 3))])
def test_broadcast_to_is_a_view(shape, target):
    x, t = both(*shape)
    grads_match(x, t, dydx.broadcast_to(x, target), torch.broadcast_to(t, target))
    check(x.broadcast_to(target), t.broadcast_to(target))
    y = x.detach()
    view = y.broadcast_to(target)
    y.add_(1.0)  # seen through the view
    np.testing.assert_array_equal(view.numpy(), np.broadcast_to(y.numpy(), view.shape))


def test_broadcast_to_and_tensors_raise_alike():
    x, t = both(2, 3)
    same_error(lambda: dydx.broadcast_to(x, (3, 3)), lambda: torch.broadcast_to(t, (3, 3)))
    same_error(lambda: dydx.broadcast_to(x, (3,)), lambda: torch.broadcast_to(t, (3,)))
    y, u = both(3, 2)
    same_error(lambda: dydx.broadcast_tensors(x, y), lambda: torch.broadcast_tensors(t, u))


def test_broadcast_tensors():
    (x, t), (y, u), (z, v) = both(2, 1), both(3), both()
    grads_match(x, t, dydx.broadcast_tensors(x, y, z), torch.broadcast_tensors(t, u, v))
    grads_match(y, u, dydx.broadcast_tensors([x, y]), torch.broadcast_tensors(*[t, u]))


@pytest.mark.parametrize("dims", [(0, 2), (-1, 1), (1, 1)])
def test_swapaxes_swapdims_moveaxis(dims):
    x, t = both(2, 3, 4)
    grads_match(x, t, dydx.swapaxes(x, *dims), torch.swapaxes(t, *dims))
    check(x.swapdims(*dims), t.swapdims(*dims))
    check(x.moveaxis(*dims), t.moveaxis(*dims))
    check(dydx.moveaxis(x, (0, 1), (2, 0)), torch.moveaxis(t, (0, 1), (2, 0)))
    same_error(lambda: x.swapaxes(0, 3), lambda: t.swapaxes(0, 3))


@pytest.mark.parametrize("shape", SHAPES + [(3, 4, 2)])
def test_fliplr_flipud(shape):
    x, t = both(*shape)
    for name in ("fliplr", "flipud"):
        try:
            expected = getattr(torch, name)(t)
        except RuntimeError:
            same_error(lambda: getattr(dydx, name)(x), lambda: getattr(torch, name)(t))
            continue
        grads_match(x, t, getattr(dydx, name)(x), expected)
        check(getattr(x, name)(), getattr(t, name)())


@pytest.mark.parametrize("shape,reps", [((2, 3), (2,)), ((3,), (2, 2)), ((), ()), ((), (3,)), ((2, 3), (0, 2)), ((2, 1, 3), (1, 2, 1, 2)),
                                        ((0, 2), (3, 1))])
def test_tile(shape, reps):
    x, t = both(*shape)
    grads_match(x, t, dydx.tile(x, reps), torch.tile(t, reps))
    if reps:
        check(x.tile(*reps), t.tile(*reps))
    same_error(lambda: x.tile((-1,) * max(1, len(shape))), lambda: t.tile((-1,) * max(1, len(shape))))


@pytest.mark.parametrize("arg", [1, 2, 3, 7, 9, [1, 5, 9, 2], [-2], [], (0, 0), [3, 1], torch.tensor(3), torch.tensor([2, 4])])
@pytest.mark.parametrize("dim", [0, -1])
def test_tensor_split(arg, dim):
    x, t = both(7, 7)
    dydx_arg = dydx.from_numpy(arg.numpy().copy()) if isinstance(arg, torch.Tensor) else arg
    grads_match(x, t, dydx.tensor_split(x, dydx_arg, dim), torch.tensor_split(t, arg, dim))
    check(x.tensor_split(dydx_arg, dim=dim), t.tensor_split(arg, dim=dim))


def test_tensor_split_pieces_are_views_and_errors():
    x = dydx.arange(10.0)
    pieces = x.tensor_split(3)
    pieces[1][0] = 100.0
    assert x[4].item() == 100.0
    t = torch.arange(10.0)
    for arg in (0, -1):
        same_error(lambda: x.tensor_split(arg), lambda: t.tensor_split(arg))
    same_error(lambda: x.tensor_split(2, 1), lambda: t.tensor_split(2, 1))
    same_error(lambda: dydx.tensor(1.0).tensor_split(2), lambda: torch.tensor(1.0).tensor_split(2))
    same_error(lambda: x.tensor_split(dydx.tensor([1.0])), lambda: t.tensor_split(torch.tensor([1.0])))
    same_error(lambda: x.tensor_split(dydx.tensor([[1]])), lambda: t.tensor_split(torch.tensor([[1]])))
    same_error(lambda: x.tensor_split(2.0), lambda: t.tensor_split(2.0))


@pytest.mark.parametrize("shape,index_shape,dim", [((3, 4), (3, 2), 1), ((3, 4), (1, 5), 1), ((1, 4), (3, 2), 1), ((3, 4), (5, 4), 0),
                                                   ((2, 3, 4), (2, 1, 6), -1), ((3, 4), (7,), None), ((3, 4), (2, 2), None),
                                                   ((3, 0), (3, 0), 1), ((), (), 0)])
def test_take_along_dim(shape, index_shape, dim):
    x, t = both(*shape)
    size = (int(np.prod(shape)) if dim is None else (shape[dim] if shape else 1))
    idx = rng.integers(0, max(size, 1), size=index_shape) if size else np.zeros(index_shape, dtype=np.int64)
    d_idx, t_idx = dydx_and_torch(idx)
    if not shape and dim is not None:  # torch's take_along_dim refuses a 0-d tensor's dim
        same_error(lambda: dydx.take_along_dim(x, d_idx, dim), lambda: torch.take_along_dim(t, t_idx, dim))
        return
    grads_match(x, t, dydx.take_along_dim(x, d_idx, dim), torch.take_along_dim(t, t_idx, dim))
    check(x.take_along_dim(d_idx, dim=dim), t.take_along_dim(t_idx, dim=dim))


def test_take_along_dim_with_argsort_and_errors():
    x, t = both(4, 5)
    check(dydx.take_along_dim(x, x.argsort(1), 1), torch.take_along_dim(t, t.argsort(1), 1))
    i, ti = dydx_and_torch(np.zeros((4,), dtype=np.int64))
    same_error(lambda: dydx.take_along_dim(x, i, 1), lambda: torch.take_along_dim(t, ti, 1))
    f, tf = dydx_and_torch(np.zeros((4, 1)))
    same_error(lambda: dydx.take_along_dim(x, f, 1), lambda: torch.take_along_dim(t, tf, 1))
    big, tbig = dydx_and_torch(np.full((4, 1), 5, dtype=np.int64))
    same_error(lambda: dydx.take_along_dim(x, big, 1), lambda: torch.take_along_dim(t, tbig, 1))
    same_error(lambda: dydx.take_along_dim(x, big, 2), lambda: torch.take_along_dim(t, tbig, 2))
    odd, todd = dydx_and_torch(np.zeros((3, 2), dtype=np.int64))
    same_error(lambda: dydx.take_along_dim(x, odd, 1), lambda: torch.take_along_dim(t, todd, 1))


def test_under_vmap_as_per_sample_torch():
    """functorch has no batching rule for column_stack: the oracle is torch per sample."""
    xs, ts = dydx_and_torch(floats(5, 3, 4))
    idx = rng.integers(0, 4, size=(3, 2))

    def f(lib, take):
        def g(x):
            return lib.column_stack([lib.fliplr(x).tile(1, 2), take(x)]).swapaxes(0, 1)
        return g

    ours = dydx.func.vmap(f(dydx, lambda x: dydx.take_along_dim(x, dydx.from_numpy(idx.copy()), 1)))(xs)
    theirs = torch.stack([f(torch, lambda x: torch.take_along_dim(x, torch.from_numpy(idx), 1))(t) for t in ts])
    assert_matches(ours, theirs, rtol=0, atol=0)


def test_dims_and_indices_out_of_range_are_index_errors():
    """As PyTorch's: IndexError (and dydx.Error) for a dim or an index out of range."""
    x = dydx.zeros(2, 3)
    for call in (lambda: x.sum(5), lambda: x.transpose(0, 2), lambda: x.select(0, 2), lambda: x.swapaxes(-3, 0),
                 lambda: dydx.stack([x, x], 4), lambda: x.tensor_split(2, 2), lambda: x.amax(-3), lambda: x.unsqueeze(3)):
        with pytest.raises(IndexError) as info:
            call()
        assert isinstance(info.value, dydx.Error)
    with pytest.raises(IndexError):  # (Python's own, which iteration relies on)
        x[5]
    # And where torch raises IndexError for a 0-d tensor, a matrix op on a vector, too many indices, an
    # index_select or a target out of range (gather's stays a RuntimeError, as torch's).
    s, v, t = dydx.tensor(1.0), dydx.zeros(3), torch.zeros(3)
    for call, torch_call in ((lambda: s.select(0, 0), lambda: torch.tensor(1.0).select(0, 0)),
                             (lambda: s.unbind(0), lambda: torch.tensor(1.0).unbind(0)),
                             (lambda: s.size(0), lambda: torch.tensor(1.0).size(0)),
                             (lambda: v.tril(), lambda: t.tril()),
                             (lambda: v[0, 0], lambda: t[0, 0]),
                             (lambda: v.index_select(0, dydx.tensor([5])), lambda: t.index_select(0, torch.tensor([5]))),
                             (lambda: dydx.nn.functional.cross_entropy(dydx.zeros(2, 2), dydx.tensor([0, 5])),
                              lambda: torch.nn.functional.cross_entropy(torch.zeros(2, 2), torch.tensor([0, 5]))),
                             (lambda: v.gather(0, dydx.tensor([5])), lambda: t.gather(0, torch.tensor([5])))):
        same_error(call, torch_call)


def test_keyword_spellings_are_torchs():
    x, t = dydx.arange(7.0), torch.arange(7.0)
    for kwargs in (dict(sections=3), dict(indices=[1, 4]), dict(sections=2, dim=0)):
        assert [p.shape for p in dydx.tensor_split(x, **kwargs)] == [p.shape for p in torch.tensor_split(t, **kwargs)]
    assert [p.shape for p in x.tensor_split(tensor_indices_or_sections=dydx.tensor(2))] == \
        [p.shape for p in t.tensor_split(tensor_indices_or_sections=torch.tensor(2))]
    for call in (lambda m: m.tensor_split(indices_or_sections=2), lambda m: m.tensor_split(2, bogus=1),
                 lambda m: m.tensor_split(2, 0, 1)):
        same_error(lambda: call(x), lambda: call(t))
    assert x.tile(dims=(2,)).shape == t.tile(dims=(2,)).shape
    assert tuple(x.broadcast_to(2, 7).shape) == tuple(t.broadcast_to(2, 7).shape)
    assert tuple(x.broadcast_to(size=(2, 7)).shape) == tuple(t.broadcast_to(size=(2, 7)).shape)
    for call in (lambda m: m.roll(1, 5), lambda m: m.narrow(0, 9, 1)):
        same_error(lambda: call(x), lambda: call(t))
