"""sort, argsort, msort, topk, kthvalue, median and nanmedian against PyTorch 1.13: values, indices
(where PyTorch's are deterministic: its stable sort), named results, gradients of first and second
order, and errors, on rows with ties, nans, 0 and -0."""

import numpy as np
import pytest
import torch

import dydx
from conftest import assert_matches, dydx_and_torch as both

rng = np.random.default_rng(11)
NAN = float("nan")


def rows_with_ties(*shape, nans=True):
    """Values from a handful, so rows have ties, with nans, 0 and -0 among them."""
    choices = np.array([-2.0, -0.0, 0.0, 1.5, 3.0] + ([NAN] if nans else []))
    return choices[rng.integers(0, len(choices), size=shape)]


def same_bits(actual, expected, zero_signs=True):
    """The same values, nans in the same places, and (where zero_signs) the same signs of zeros."""
    a, e = actual.detach().numpy(), expected.detach().numpy()
    assert a.shape == e.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
    np.testing.assert_array_equal(np.where(np.isnan(a), 0, a), np.where(np.isnan(e), 0, e))
    if zero_signs:
        np.testing.assert_array_equal(np.signbit(a), np.signbit(e))


def same_values(actual, expected):
    """As same_bits, but 0 and -0 alike: of equal values torch's selections pick any (dydx the first)."""
    same_bits(actual, expected, zero_signs=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((4, 9), 1), ((4, 9), 0), ((3, 5, 6), 1), ((3, 5, 6), -1)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torchs_stable_sort(dtype, shape, dim, descending):
    x, t = both(rows_with_ties(*shape).astype(dtype))
    values, indices = dydx.sort(x, dim, descending)
    want = torch.sort(t, dim=dim, descending=descending, stable=True)
    same_bits(values, want.values)
    np.testing.assert_array_equal(indices.numpy(), want.indices.numpy())
    np.testing.assert_array_equal(x.argsort(dim, descending).numpy(), want.indices.numpy())
    named = x.sort(dim=dim, descending=descending, stable=True)
    assert named.values is not None and named.indices.dtype == dydx.int64


@pytest.mark.parametrize("shape,dim", [((9,), 0), ((4, 9), 1), ((3, 5, 6), 0)])
def test_selections_pick_torchs_values(shape, dim):
    x, t = both(rows_with_ties(*shape))
    n = shape[dim]
    for k in (1, 3, n):
        for largest in (True, False):
            same_values(x.topk(k, dim, largest).values, torch.topk(t, k, dim, largest).values)
        same_values(x.kthvalue(k, dim).values, torch.kthvalue(t, k, dim).values)
    # median along dim: nan where the row has one, at its first nan (as torch).
    got, want = x.median(dim, keepdim=True), torch.median(t, dim, keepdim=True)
    same_values(got.values, want.values)
    has_nan = np.isnan(want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy()[has_nan], want.indices.numpy()[has_nan])
    same_values(x.nanmedian(dim).values, torch.nanmedian(t, dim).values)
    same_values(x.median(), torch.median(t))
    same_values(x.nanmedian(), torch.nanmedian(t))
    same_values(dydx.msort(x), torch.msort(t))


def test_named_results_print_and_unpack_as_torchs():
    x = dydx.tensor([3.0, 1.0, 2.0])
    result = x.topk(2)
    values, indices = result
    assert repr(result).startswith("dydx.return_types.topk(\nvalues=")
    assert result.values is values and result.indices is indices
    assert type(dydx.max(x, 0)).__name__ == "max" and dydx.max(x, 0).indices.item() == 0
    assert isinstance(dydx.median(x), dydx.Tensor)
    assert dydx.median(x, 0).values.item() == 2.0


@pytest.mark.parametrize("op", ["sort", "sort_desc", "topk", "topk_small", "kthvalue", "median_dim", "nanmedian_dim",
                                "median", "nanmedian", "msort"])
def test_gradients_of_first_and_second_order_match_torch(op):
    # Distinct values, so no tie decides where a gradient goes (ties are checked against torch's picks above).
    array = rng.permutation(20).reshape(4, 5).astype(np.float64) + 0.5  # positive: distinct squares too
    x, t = both(array, requires_grad=True)
    weight = rng.standard_normal(size=(4, 5))

    def f(lib, v):
        return {"sort": lambda: lib.sort(v, 1)[0], "sort_desc": lambda: lib.sort(v, 0, True)[0],
                "topk": lambda: lib.topk(v, 2)[0], "topk_small": lambda: lib.topk(v, 3, 0, False)[0],
                "kthvalue": lambda: lib.kthvalue(v, 2, 1, True)[0], "median_dim": lambda: lib.median(v, 0)[0],
                "nanmedian_dim": lambda: lib.nanmedian(v, 1, True)[0], "median": lambda: lib.median(v),
                "nanmedian": lambda: lib.nanmedian(v), "msort": lambda: lib.msort(v)}[op]()

    def loss(lib, v, w):
        y = f(lib, v * v)  # a second order that is not zero
        return (y * y * w[: y.numel()].reshape(y.shape) if y.dim() else y * y * w[0]).sum()

    wx, wt = dydx.from_numpy(weight.reshape(-1).copy()), torch.from_numpy(weight.reshape(-1).copy())
    (gx,) = dydx.autograd.grad(loss(dydx, x, wx), [x], create_graph=True)
    (gt,) = torch.autograd.grad(loss(torch, t, wt), [t], create_graph=True)
    assert_matches(gx, gt, rtol=1e-12, atol=1e-12)
    (hx,) = dydx.autograd.grad((gx * gx).sum(), [x])
    (ht,) = torch.autograd.grad((gt * gt).sum(), [t])
    assert_matches(hx, ht, rtol=1e-12, atol=1e-12)


def test_median_shares_its_gradient_between_ties_as_torch():
    for array in ([1.0, 2.0, 2.0, 3.0], [1.0, NAN, 2.0, NAN], [NAN, 2.0, 2.0, 5.0, 1.0]):
        for name in ("median", "nanmedian"):
            x, t = both(np.array(array), requires_grad=True)
            getattr(dydx, name)(x).backward()
            getattr(torch, name)(t).backward()
            assert_matches(x.grad, t.grad, rtol=0, atol=0)


@pytest.mark.parametrize("call,message", [
    (lambda m: m.topk(m.zeros(3), 4), "selected index k out of range"),
    (lambda m: m.kthvalue(m.zeros(2, 3), 4, 1), "kthvalue(): selected number k out of range for dimension 1"),
    (lambda m: m.kthvalue(m.zeros(0), 1), "kthvalue(): Expected reduction dim 0 to have non-zero size"),
    (lambda m: m.median(m.zeros(3, 0), 1), "median(): Expected reduction dim 1 to have non-zero size"),
    (lambda m: m.topk(m.tensor([True, False]), 1), "\"topk_cpu\" not implemented for 'Bool'"),
    (lambda m: m.sort(m.zeros(2, 3), 2), "out of range"),
])
def test_errors_say_what_torchs_say(call, message):
    with pytest.raises(Exception) as torch_error:
        call(torch)
    assert message in str(torch_error.value)
    with pytest.raises(Exception) as dydx_error:
        call(dydx)
    assert message in str(dydx_error.value)


def test_arguments_are_parsed_as_torchs():
    x = dydx.tensor([3.0, 1.0, 2.0])
    # A bool is no int: x.sort(True) is not a descending sort along dim 1, x.topk(True) no k of 1.
    for call, name in [(lambda: x.sort(True), "dim"), (lambda: x.argsort(True), "dim"), (lambda: x.topk(True), "k"),
                       (lambda: x.kthvalue(True), "k"), (lambda: x.median(True), "dim")]:
        with pytest.raises(TypeError, match=f"argument '{name}'.*must be int, not bool"):
            call()
    with pytest.raises(TypeError):
        torch.tensor([3.0, 1.0]).topk(True)
    # An integer tensor of one element is an int, as torch's __index__ takes it; a float is not.
    assert x.topk(dydx.tensor(2)).values.tolist() == [3.0, 2.0]
    assert x.kthvalue(dydx.tensor(1)).values.item() == 1.0
    assert x.topk(np.int64(1)).values.tolist() == [3.0]
    for bad, kind in [(1.5, "float"), (dydx.tensor(2.0), "Tensor"), (dydx.tensor([1, 2]), "Tensor"),
                      (dydx.tensor([1]), "Tensor"), (np.bool_(True), "numpy.bool_")]:
        with pytest.raises(TypeError, match=f"argument 'k' \\(position 1\\) must be int, not {kind}"):
            x.topk(bad)
        with pytest.raises(TypeError, match=f"must be int, not {kind}"):
            torch.tensor([3.0, 1.0]).topk(bad if not isinstance(bad, dydx.Tensor) else torch.tensor(bad.tolist()))
    with pytest.raises(RuntimeError, match="Overflow when unpacking long"):
        x.topk(2**70)
    with pytest.raises(RuntimeError, match="Overflow when unpacking long"):
        torch.tensor([3.0]).topk(2**70)
    # max and min along a dim, and the transforms' int arguments, the same way (a float was std::bad_cast).
    for bad in (1.5, True):
        with pytest.raises(TypeError, match="argument 'dim'"):
            x.max(bad)
        with pytest.raises(TypeError):
            torch.tensor([3.0]).max(bad)
    with pytest.raises(TypeError, match="argnums"):
        dydx.func.grad(lambda t: t.sum(), argnums=1.5)(x)
    with pytest.raises(TypeError, match="high"):
        dydx.randint(0, 2.5, (2,))
    assert dydx.randint(5, size=(3,)).shape == (3,)
    # max and min take a tensor as `other` only alone and by position (or by its keyword).
    m = dydx.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    tm = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    assert m.max(dim=dydx.tensor(1)).values.tolist() == tm.max(dim=torch.tensor(1)).values.tolist() == [3.0, 5.0]
    assert m.min(dydx.tensor(1), True).values.tolist() == [[1.0], [0.0]]
    assert m.max(dydx.tensor(1.0)).tolist() == tm.max(torch.tensor(1.0)).tolist()
    assert m.max(other=dydx.tensor(1.0)).tolist() == tm.max(other=torch.tensor(1.0)).tolist()
    with pytest.raises(TypeError):
        m.max(dim=dydx.tensor(1.5))
    with pytest.raises(TypeError):
        m.max(keepdim=True)
    # keepdim without a dim is no median over dims.
    with pytest.raises(TypeError):
        x.median(keepdim=True)
    with pytest.raises(TypeError):
        torch.tensor([3.0]).median(keepdim=True)
    # stable is keyword-only, as torch's.
    with pytest.raises(TypeError):
        x.sort(0, False, True)
    assert x.sort(stable=True, descending=True).values.tolist() == [3.0, 2.0, 1.0]
    # A 0-d bool is its own topk and kthvalue, as torch's.
    assert dydx.tensor(True).topk(1).values.item() is True


def test_named_results_come_back_named_through_the_transforms():
    x = dydx.tensor([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]])
    mapped = dydx.func.vmap(lambda t: t.sort())(x)
    assert type(mapped).__name__ == "sort" and mapped.values.tolist() == [[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]]
    compiled = dydx.func.compile(lambda t: t.topk(2))
    for _ in range(2):  # the recording, then a replay
        result = compiled(x)
        assert type(result).__name__ == "topk" and result.indices.tolist() == [[0, 2], [2, 0]]
    out, tangent = dydx.func.jvp(lambda t: t.max(1), (x,), (dydx.ones_like(x),))
    assert out.values.tolist() == [3.0, 4.0] and tangent.values.tolist() == [1.0, 1.0]
    # A function that returns a Tensor after one that returned a named tuple gives a Tensor.
    assert isinstance(dydx.func.vmap(lambda t: t.sum())(x), dydx.Tensor)


def test_compile_gives_back_each_recordings_own_output_form():
    def f(t):
        if t.shape[-1] == 4:
            return t * 2
        return t.sort() if t.is_contiguous() else (t * 2, t + 1)

    compiled = dydx.func.compile(f)
    a = dydx.randn(5, 5)
    for x in (dydx.randn(3, 4), a, a.t(), dydx.randn(3, 4), a, a.t()):  # recordings, then replays
        got, want = compiled(x), f(x)
        assert type(got) is type(want)
        if isinstance(want, tuple):
            for g, w in zip(got, want):
                assert g.tolist() == w.tolist()
        else:
            assert got.tolist() == want.tolist()


def test_compile_output_forms_hold_across_threads():
    import threading

    def h(t):
        n = t.shape[0]
        return t.sort() if n % 3 == 0 else ((t + 1,) if n % 3 == 1 else t * 2)

    compiled, errors = dydx.func.compile(h), []

    def worker(seed):
        try:
            for i in range(60):
                n = 1 + (seed * 7 + i) % 12
                got, want = compiled(dydx.ones(n)), h(dydx.ones(n))
                assert type(got) is type(want), (n, type(got), type(want))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def test_max_and_min_refuse_what_torch_refuses():
    x = dydx.tensor([[3.0, 1.0], [0.0, 5.0]])
    for call in (lambda m: m.max(0, 1), lambda m: m.max(0, None), lambda m: m.min(0, keepdim=0.5),
                 lambda m: m.max(other=1), lambda m: m.max(other=2.0)):
        with pytest.raises(TypeError):
            call(x)
        with pytest.raises(TypeError):
            call(torch.tensor([[3.0, 1.0], [0.0, 5.0]]))


def test_a_compiled_function_inside_another_still_replays():
    inner = dydx.func.compile(lambda x: (x * 3).sort())
    outer = dydx.func.compile(lambda x: inner(x).values + 1)
    x = dydx.randn(4)
    for _ in range(3):
        assert outer(x).tolist() == ((x * 3).sort().values + 1).tolist()
    assert outer.stats()["replays"] == 2 and outer.stats()["eager_calls"] == 0


def test_named_tuple_types_made_anew_each_call_do_not_pile_up():
    import collections
    import gc
    import weakref

    refs = []

    def f(t):
        kind = collections.namedtuple("Kind", ["a"])
        refs.append(weakref.ref(kind))
        return kind(t * float(t.sum()))  # reads a value: every call runs f itself

    compiled = dydx.func.compile(f)
    for _ in range(50):
        assert compiled(dydx.ones(3)).a.tolist() == [3.0, 3.0, 3.0]
    gc.collect()
    assert sum(r() is not None for r in refs) <= 2


def test_compiled_functions_keep_their_own_named_types():
    import collections

    def kind(scale):
        class R(collections.namedtuple("R", "a b")):
            __slots__ = ()

            @property
            def total(self):
                return self.a * scale

        return R

    r1, r2 = kind(1), kind(100)
    f1, f2 = dydx.func.compile(lambda a: r1(a, a)), dydx.func.compile(lambda a: r2(a, a))
    x = dydx.ones(3)
    for _ in range(3):  # recordings, then replays, interleaved
        assert type(f1(x)) is r1 and type(f2(x)) is r2
    assert f1(x).total.tolist() == [1.0, 1.0, 1.0] and f2(x).total.tolist() == [100.0, 100.0, 100.0]
