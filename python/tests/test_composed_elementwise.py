"""clamp with tensor bounds, round(decimals=), lerp, logaddexp, logaddexp2, xlogy, logit, the shifts, diff, kron
and cdist against torch's: values (special ones included), dtypes, first and second derivatives, in-place forms,
and the same kind of error for the same bad call."""

import math

import numpy as np
import pytest
import torch

import dydx
from conftest import assert_matches, dydx_and_torch

rng = np.random.default_rng(11)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 100.0, -100.0, 1e-300, math.inf, -math.inf, math.nan]


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def floats(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


def pairs_of_special():
    """Every pair of special values, as two float64 arrays."""
    a = np.array([x for x in SPECIAL for _ in SPECIAL])
    b = np.array([y for _ in SPECIAL for y in SPECIAL])
    return a, b


def leaves(*arrays):
    return [dydx_and_torch(a, requires_grad=True) for a in arrays]


def grads_agree(dydx_out, torch_out, dydx_in, torch_in, rtol=1e-12, atol=1e-12, second=True):
    """The gradients of a random weighting of the output agree; so do those of the sum of the first
    gradients (double backward) where second is set."""
    w = floats(*torch_out.shape)
    loss = (dydx_out * dydx.from_numpy(w.copy())).sum()
    torch_loss = (torch_out * torch.from_numpy(w)).sum()
    g = dydx.autograd.grad(loss, dydx_in, create_graph=second, allow_unused=True)
    tg = torch.autograd.grad(torch_loss, torch_in, create_graph=second, allow_unused=True)
    for a, b in zip(g, tg):
        if b is None:
            assert a is None or not np.any(a.detach().numpy())
            continue
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol)
    if not second:
        return
    used = [(a, x, b, t) for a, x, b, t in zip(g, dydx_in, tg, torch_in) if b is not None and b.requires_grad]
    if not used:
        return
    g2 = dydx.autograd.grad(sum(a.sum() for a, *_ in used), [x for _, x, *_ in used], allow_unused=True)
    tg2 = torch.autograd.grad(sum(b.sum() for *_, b, _ in used), [t for *_, t in used], allow_unused=True)
    for a, b in zip(g2, tg2):
        if b is None:
            assert a is None or not np.any(a.detach().numpy())
        else:
            np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=rtol, atol=atol)


def same_error(dydx_call, torch_call):
    with pytest.raises(Exception) as torch_error:
        torch_call()
    with pytest.raises(Exception) as dydx_error:
        dydx_call()
    kind = type(torch_error.value)
    assert isinstance(dydx_error.value, (kind, dydx.Error)), (dydx_error.value, torch_error.value)
    return str(dydx_error.value)


# ---- clamp with tensor bounds -------------------------------------------------------------------------------

def test_clamp_tensor_bounds_values_and_gradients():
    x = floats(200)
    lo = floats(200)
    hi = floats(200)
    # Ties and crossings on purpose: x at a bound, a bound at the other, and min > max.
    x[:10] = lo[:10]
    x[10:20] = hi[10:20]
    lo[20:30] = hi[20:30]
    lo[30:40] = hi[30:40] + 0.5
    (dx, tx), (dl, tl), (dh, th) = leaves(x, lo, hi)
    out, tout = dydx.clamp(dx, dl, dh), torch.clamp(tx, tl, th)
    assert_matches(out, tout, rtol=0, atol=0)
    grads_agree(out, tout, [dx, dl, dh], [tx, tl, th])
    for args in [(dl, None), (None, dh)]:
        targs = tuple(None if a is None else t for a, t in zip(args, (tl, th)))
        out, tout = dx.clamp(*args), tx.clamp(*targs)
        assert_matches(out, tout, rtol=0, atol=0)
        grads_agree(out, tout, [dx] + [a for a in args if a is not None], [tx] + [t for t in targs if t is not None])


def test_clamp_tensor_bounds_at_special_values():
    a, b = pairs_of_special()
    x = np.concatenate([a, b, a])
    lo = np.concatenate([b, a, np.full_like(a, -1.0)])
    hi = np.concatenate([np.full_like(a, 1.0), np.full_like(a, 2.5), b])
    (dx, tx), (dl, tl), (dh, th) = leaves(x, lo, hi)
    out, tout = dydx.clamp(dx, dl, dh), torch.clamp(tx, tl, th)
    assert_matches(out, tout, rtol=0, atol=0)
    # Gradients as torch's, but where the result is nan (torch still gives max's gradient there).
    finite = ~np.isnan(tout.detach().numpy())
    g = dydx.autograd.grad(out.sum(), [dx, dl, dh])
    tg = torch.autograd.grad(tout.sum(), [tx, tl, th])
    for a_, b_ in zip(g, tg):
        np.testing.assert_array_equal(a_.numpy()[finite], b_.numpy()[finite])
        assert not np.any(a_.numpy()[~finite])
    for bound in ["min", "max"]:
        (dx, tx), (dl, tl) = leaves(np.concatenate([a, b]), np.concatenate([b, a]))
        out, tout = dx.clamp(**{bound: dl}), tx.clamp(**{bound: tl})
        assert_matches(out, tout, rtol=0, atol=0)
        finite = ~np.isnan(tout.detach().numpy())
        g = dydx.autograd.grad(out.sum(), [dx, dl])
        tg = torch.autograd.grad(tout.sum(), [tx, tl])
        for a_, b_ in zip(g, tg):
            np.testing.assert_array_equal(a_.numpy()[finite], b_.numpy()[finite])


@pytest.mark.parametrize("case", ["int_x_float_bound", "int_all", "number_beside_tensor", "broadcast", "float32_x_double_bound",
                                  "zero_dim_bounds_of_two_floats", "bool_x_zero_dim_bounds", "bool_min", "bool_max"])
def test_clamp_tensor_bounds_dtypes_and_shapes(case):
    if case == "int_x_float_bound":
        x, lo, hi = np.array([1, 5, 9]), np.array([2.5]), None
    elif case == "int_all":
        x, lo, hi = np.array([1, 5, 9]), np.array([2, 2, 2]), np.array(6)
    elif case == "number_beside_tensor":
        x, lo, hi = np.array([1.0, 5.0, 9.0]), 2, np.array(6.0)
    elif case == "broadcast":
        x, lo, hi = floats(3), floats(2, 1), floats(1, 3)
    elif case == "zero_dim_bounds_of_two_floats":
        x, lo, hi = np.array([0, 1, 3]), np.array(1.0, dtype=np.float32), np.array(2.0)
    elif case == "bool_min":
        x, lo, hi = np.array([True, False, False]), np.array([False, True, False]), None
    elif case == "bool_max":
        x, lo, hi = np.array([True, False, True]), None, np.array([False, True, True])
    elif case == "bool_x_zero_dim_bounds":
        x, lo, hi = np.array([True, False]), np.array(1), np.array(2.0, dtype=np.float32)
    else:
        x, lo, hi = floats(4).astype(np.float32), floats(4), None

    def make(lib, v):
        if v is None or not isinstance(v, np.ndarray):
            return v
        return dydx.from_numpy(v.copy()) if lib is dydx else torch.from_numpy(v.copy())

    out = dydx.clamp(make(dydx, x), make(dydx, lo), make(dydx, hi))
    tout = torch.clamp(make(torch, x), make(torch, lo), make(torch, hi))
    assert_matches(out, tout, rtol=0, atol=0)


def test_clamp_tensor_bounds_in_place_and_errors():
    x = floats(6)
    lo, hi = floats(6), floats(1)
    (dx, tx) = dydx_and_torch(x)
    result = dx.clamp_(dydx.from_numpy(lo.copy()), dydx.from_numpy(hi.copy()))
    assert result is dx
    tx.clamp_(torch.from_numpy(lo), torch.from_numpy(hi))
    assert_matches(dx, tx, rtol=0, atol=0)
    dx.clamp_min_(dydx.from_numpy(lo.copy()))
    tx.clamp_min_(torch.from_numpy(lo))
    dx.clamp_max_(dydx.from_numpy(hi.copy()))
    tx.clamp_max_(torch.from_numpy(hi))
    assert_matches(dx, tx, rtol=0, atol=0)
    # An in-place clamp that raises writes nothing: a float bound for an int64 tensor, a bound that
    # broadcasts x to a larger shape.
    i, ti = dydx_and_torch(np.array([1, 5, 9]))
    same_error(lambda: i.clamp_(dydx.tensor([2.5])), lambda: ti.clamp_(torch.tensor([2.5])))
    assert i.tolist() == [1, 5, 9]
    f, tf = dydx_and_torch(np.array([1.0, 5.0, 9.0]))
    same_error(lambda: f.clamp_(dydx.zeros(2, 3, dtype=dydx.float64)), lambda: tf.clamp_(torch.zeros(2, 3, dtype=torch.float64)))
    assert f.tolist() == [1.0, 5.0, 9.0]
    same_error(lambda: dydx.clamp(f, dydx.ones(2, dtype=dydx.float64)), lambda: torch.clamp(tf, torch.ones(2, dtype=torch.float64)))
    same_error(lambda: dydx.clamp(f), lambda: torch.clamp(tf))
    # Through autograd: the in-place clamp of a non-leaf is differentiated as torch's.
    (dx, tx), (dl, tl) = leaves(floats(5), floats(5))
    y, ty = dx * 1.0, tx * 1.0
    y.clamp_(dl)
    ty.clamp_(tl)
    grads_agree(y, ty, [dx, dl], [tx, tl], second=False)


# ---- round(decimals=) ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decimals", [-3, -1, 0, 1, 2, 5])
def test_round_decimals(dtype, decimals):
    x = np.concatenate([floats(300, low=-2000, high=2000), np.array(SPECIAL), np.array([0.125, 0.375, -2.5, 1234.5, 1e38])])
    x = x.astype(dtype)
    (dx, tx) = dydx_and_torch(x, requires_grad=True)
    out, tout = dx.round(decimals=decimals), torch.round(tx, decimals=decimals)
    assert_matches(out, tout, rtol=0, atol=0)
    (g,) = dydx.autograd.grad(out.sum(), dx)
    assert not np.any(g.numpy())
    assert_matches(dydx.round(dx, decimals=decimals), tout, rtol=0, atol=0)


def test_round_decimals_refuses_integers():
    same_error(lambda: dydx.tensor([15, 25]).round(decimals=1), lambda: torch.tensor([15, 25]).round(decimals=1))
    assert dydx.tensor([15, 25]).round().tolist() == [15, 25]


# ---- lerp ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weight", [0.25, 0.5, 0.75, 1.0, -0.3, 1.7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lerp_scalar_weight(weight, dtype):
    (ds, ts), (de, te) = leaves(floats(50).astype(dtype), floats(50).astype(dtype))
    out, tout = dydx.lerp(ds, de, weight), torch.lerp(ts, te, weight)
    # Within an ulp: PyTorch's kernel fuses the multiply-add (one rounding), dydx's product and sum round each.
    ulp = np.finfo(dtype).eps
    assert_matches(out, tout, rtol=ulp, atol=ulp)
    if weight == 1.0:
        assert_matches(out, te, rtol=0, atol=0)
    grads_agree(out, tout, [ds, de], [ts, te], rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-6)


def test_lerp_tensor_weight_with_special_values():
    a, b = pairs_of_special()
    w = np.concatenate([floats(a.size, low=-1, high=2), np.array(SPECIAL * len(SPECIAL))])
    start, end = np.concatenate([a, b]), np.concatenate([b, a])
    (ds, ts), (de, te), (dw, tw) = leaves(start, end, w)
    out, tout = dydx.lerp(ds, de, dw), torch.lerp(ts, te, tw)
    assert_matches(out, tout, rtol=1e-15, atol=1e-300)
    g = dydx.autograd.grad(out.sum(), [ds, de, dw])
    tg = torch.autograd.grad(tout.sum(), [ts, te, tw])
    for a_, b_ in zip(g, tg):
        np.testing.assert_array_equal(a_.numpy(), b_.numpy())
    (ds, ts), (de, te), (dw, tw) = leaves(floats(4, 3), floats(3), floats(2, 1, 1))
    out, tout = ds.lerp(de, dw), ts.lerp(te, tw)
    assert_matches(out, tout, rtol=1e-15, atol=1e-15)
    grads_agree(out, tout, [ds, de, dw], [ts, te, tw])


def test_lerp_in_place_and_errors():
    (ds, ts), (de, te) = dydx_and_torch(floats(5)), dydx_and_torch(floats(5))
    assert ds.lerp_(de, 0.9) is ds
    ts.lerp_(te, 0.9)
    assert_matches(ds, ts, rtol=2.3e-16, atol=2.3e-16)  # an ulp: PyTorch fuses the multiply-add
    same_error(lambda: dydx.lerp(dydx.tensor([1, 2]), dydx.tensor([3, 4]), 0.5), lambda: torch.lerp(torch.tensor([1, 2]), torch.tensor([3, 4]), 0.5))
    same_error(lambda: dydx.lerp(dydx.tensor([1.0]), dydx.tensor([3.0], dtype=dydx.float64), 0.5),
               lambda: torch.lerp(torch.tensor([1.0]), torch.tensor([3.0], dtype=torch.float64), 0.5))
    same_error(lambda: dydx.lerp(dydx.ones(2), dydx.ones(3), 0.5), lambda: torch.lerp(torch.ones(2), torch.ones(3), 0.5))
    small = dydx.ones(3)
    same_error(lambda: small.lerp_(dydx.ones(2, 3), 0.5), lambda: torch.ones(3).lerp_(torch.ones(2, 3), 0.5))
    assert small.tolist() == [1.0, 1.0, 1.0]


# ---- logaddexp, logaddexp2, xlogy, logit ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp(name):
    (da, ta), (db, tb) = leaves(floats(100, low=-50, high=50), floats(100, low=-50, high=50))
    out, tout = getattr(dydx, name)(da, db), getattr(torch, name)(ta, tb)
    assert_matches(out, tout, rtol=1e-15, atol=0)
    grads_agree(out, tout, [da, db], [ta, tb], rtol=1e-13, atol=1e-15)
    a, b = pairs_of_special()
    (da, ta), (db, tb) = leaves(a, b)
    out, tout = getattr(da, name)(db), getattr(ta, name)(tb)
    # atol: logaddexp(0, -100) is e^-100 = 3.7e-44; PyTorch's vectorised kernel gives 0 there (its scalar path
    # gives 3.7e-44, as dydx).
    assert_matches(out, tout, rtol=1e-15, atol=1e-29)
    g = dydx.autograd.grad(out.sum(), [da, db])
    tg = torch.autograd.grad(tout.sum(), [ta, tb])
    for a_, b_ in zip(g, tg):
        # logaddexp2's are sigmoid((b - a) ln 2) here, 1 / (1 + 2^(b - a)) in PyTorch: a few ulps apart.
        np.testing.assert_allclose(a_.numpy(), b_.numpy(), rtol=1e-14)
    same_error(lambda: getattr(dydx, name)(dydx.tensor([1, 2]), dydx.tensor([3, 4])),
               lambda: getattr(torch, name)(torch.tensor([1, 2]), torch.tensor([3, 4])))


def test_xlogy():
    (dx, tx), (dy, ty) = leaves(floats(100), floats(100, low=0.1, high=3))
    out, tout = dydx.xlogy(dx, dy), torch.xlogy(tx, ty)
    assert_matches(out, tout, rtol=1e-15, atol=0)
    grads_agree(out, tout, [dx, dy], [tx, ty], rtol=1e-13, atol=1e-15)
    a, b = pairs_of_special()
    (dx, tx), (dy, ty) = leaves(a, b)
    out, tout = dx.xlogy(dy), tx.xlogy(ty)
    assert_matches(out, tout, rtol=0, atol=0)
    g = dydx.autograd.grad(out.sum(), [dx, dy])
    tg = torch.autograd.grad(tout.sum(), [tx, ty])
    np.testing.assert_array_equal(g[0].numpy(), tg[0].numpy())
    np.testing.assert_array_equal(g[1].numpy(), tg[1].numpy())
    # Second order too, at x = 0 among the rest (x log y is smooth there for y > 0).
    (dx, tx), (dy, ty) = leaves(np.array([0.0, 0.0, 1.5, -2.0]), np.array([2.0, 0.5, 3.0, 0.25]))
    grads_agree(dydx.xlogy(dx, dy), torch.xlogy(tx, ty), [dx, dy], [tx, ty], rtol=1e-14, atol=1e-15)
    assert_matches(dydx.xlogy(2.0, dydx.tensor([3.0])), torch.xlogy(2.0, torch.tensor([3.0])), rtol=0, atol=0)
    assert_matches(dydx.xlogy(dydx.tensor([3.0]), 2), torch.xlogy(torch.tensor([3.0]), 2), rtol=0, atol=0)
    assert_matches(dydx.xlogy(dydx.tensor([0, 1, 2]), dydx.tensor([0, 3, 4])),
                   torch.xlogy(torch.tensor([0, 1, 2]), torch.tensor([0, 3, 4])), rtol=1e-7, atol=0)


@pytest.mark.parametrize("eps", [None, 0.0, 0.1, 0.5, 0.7, -1.0])
def test_logit(eps):
    x = np.concatenate([floats(100, low=-0.2, high=1.2), np.array(SPECIAL), np.array([0.1, 0.9, 0.3, 0.7])])
    (dx, tx) = dydx_and_torch(x, requires_grad=True)
    out, tout = dx.logit(eps), tx.logit(eps)
    if eps == 0.7:
        # An empty interval: PyTorch's vectorised kernel moves every number to 1 - eps (and a nan too, its max(nan,
        # eps) being eps), its scalar loop over the last elements to eps; dydx moves every number to 1 - eps.
        values = out.detach().numpy()
        assert np.all(values[~np.isnan(x)] == math.log(0.3 / 0.7)) or np.allclose(values[~np.isnan(x)], math.log(0.3 / 0.7))
        assert np.all(np.isnan(values[np.isnan(x)]))
        return
    # atol: near 1/2 the result is near 0, and log(x) - log1p(-x) and PyTorch's log(x / (1 - x)) each round to
    # within an ulp of 1.
    assert_matches(out, tout, rtol=2e-15, atol=4.5e-16)
    (g,) = dydx.autograd.grad(out.sum(), dx)
    (tg,) = torch.autograd.grad(tout.sum(), tx)
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-14)
    inside = (x > 0.05) & (x < 0.95)
    (dx, tx) = dydx_and_torch(x[inside], requires_grad=True)
    grads_agree(dydx.logit(dx, eps), torch.logit(tx, eps), [dx], [tx], rtol=1e-12, atol=0)
    assert_matches(dydx.logit(dydx.tensor([0, 1])), torch.logit(torch.tensor([0, 1])), rtol=0, atol=0)


# ---- shifts -------------------------------------------------------------------------------------------------

def test_shifts_in_range_match_torch():
    a = rng.integers(-(2**62), 2**62, size=200)
    b = rng.integers(0, 63, size=200)
    (da, ta), (db, tb) = dydx_and_torch(a), dydx_and_torch(b)
    assert_matches(da << db, ta << tb, rtol=0, atol=0)
    assert_matches(da >> db, ta >> tb, rtol=0, atol=0)
    assert_matches(dydx.bitwise_left_shift(da, db), torch.bitwise_left_shift(ta, tb), rtol=0, atol=0)
    assert_matches(da.bitwise_right_shift(3), ta.bitwise_right_shift(3), rtol=0, atol=0)
    assert_matches(3 << dydx.tensor([1, 2]), 3 << torch.tensor([1, 2]), rtol=0, atol=0)
    assert_matches(1000 >> dydx.tensor([1, 2]), 1000 >> torch.tensor([1, 2]), rtol=0, atol=0)
    assert_matches(dydx.tensor([True, False]) << 1, torch.tensor([True, False]) << 1, rtol=0, atol=0)
    x, tx = dydx.tensor([1, -8, 5]), torch.tensor([1, -8, 5])
    alias = x
    x <<= 2
    tx <<= 2
    assert alias is x
    assert x.tolist() == tx.tolist()
    x >>= dydx.tensor([1, 1, 2])
    tx >>= torch.tensor([1, 1, 2])
    assert x.tolist() == tx.tolist()


def test_shifts_out_of_range_are_defined():
    a = dydx.tensor([1, -8, 5, -1, 2**62, -(2**63)])
    # Left by 64 or more, or by a negative amount: 0. Right: the sign, 0 or -1.
    assert (a << dydx.tensor([64, 100, -1, 63, 1, 0])).tolist() == [0, 0, 0, -(2**63), -(2**63), -(2**63)]
    assert (a >> dydx.tensor([64, 100, -1, 70, 63, 1])).tolist() == [0, -1, 0, -1, 0, -(2**62)]


def test_shifts_refuse_floats_and_bools():
    same_error(lambda: dydx.tensor([1.5]) << 2, lambda: torch.tensor([1.5]) << 2)
    same_error(lambda: dydx.tensor([4]) >> 1.5, lambda: torch.tensor([4]) >> 1.5)
    same_error(lambda: dydx.tensor([4]) << dydx.tensor([1.0]), lambda: torch.tensor([4]) << torch.tensor([1.0]))
    b = dydx.tensor([True])
    with pytest.raises(dydx.Error):
        b <<= 1
    assert b.tolist() == [True]


# ---- diff, kron, cdist --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,dim", [(1, -1), (2, 0), (3, 1), (6, -1), (0, 1), (-1, 0)])
def test_diff(n, dim):
    (dx, tx) = dydx_and_torch(floats(4, 5), requires_grad=True)
    out, tout = dx.diff(n, dim), tx.diff(n, dim)
    assert_matches(out, tout, rtol=0, atol=0)
    if tout.numel() and tout.requires_grad:
        grads_agree(out, tout, [dx], [tx])
    (dp, tp) = dydx_and_torch(floats(2, 5) if dim == 0 else floats(4, 2), requires_grad=True)
    (da, ta) = dydx_and_torch(floats(1, 5) if dim == 0 else floats(4, 1))
    out, tout = dydx.diff(dx, n, dim, prepend=dp, append=da), torch.diff(tx, n, dim, prepend=tp, append=ta)
    assert_matches(out, tout, rtol=0, atol=0)
    if tout.numel() and tout.requires_grad:
        grads_agree(out, tout, [dx, dp], [tx, tp])


def test_diff_dtypes_and_errors():
    assert_matches(dydx.tensor([True, False, False]).diff(), torch.tensor([True, False, False]).diff(), rtol=0, atol=0)
    assert_matches(dydx.tensor([1, 5, 2]).diff(), torch.tensor([1, 5, 2]).diff(), rtol=0, atol=0)
    assert_matches(dydx.diff(dydx.tensor([True, False]), prepend=dydx.tensor([1])),
                   torch.diff(torch.tensor([True, False]), prepend=torch.tensor([1])), rtol=0, atol=0)
    x, tx = dydx.zeros(2, 5), torch.zeros(2, 5)
    same_error(lambda: x.diff(dim=2), lambda: tx.diff(dim=2))
    same_error(lambda: x.diff(prepend=dydx.zeros(3, 1)), lambda: tx.diff(prepend=torch.zeros(3, 1)))
    same_error(lambda: x.diff(prepend=dydx.zeros(2)), lambda: tx.diff(prepend=torch.zeros(2)))
    same_error(lambda: dydx.tensor(1.0).diff(), lambda: torch.tensor(1.0).diff())


@pytest.mark.parametrize("shapes", [((2, 2), (2, 2)), ((2,), (2, 3)), ((2, 3, 1), (4,)), ((3,), (4,)), ((0, 2), (3, 1)), ((), (2, 2))])
def test_kron(shapes):
    (da, ta), (db, tb) = leaves(floats(*shapes[0]), floats(*shapes[1]))
    out, tout = dydx.kron(da, db), torch.kron(ta, tb)
    assert_matches(out, tout, rtol=0, atol=0)
    if tout.numel():
        grads_agree(out, tout, [da, db], [ta, tb])
    assert_matches(dydx.tensor([[1, 2], [3, 4]]).kron(dydx.tensor([[0, 1], [1, 0]])),
                   torch.kron(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[0, 1], [1, 0]])), rtol=0, atol=0)


@pytest.mark.parametrize("p", [0.0, 1.0, 1.5, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("rows", [(3, 4), (30, 5)])
def test_cdist(p, rows):
    (da, ta), (db, tb) = leaves(floats(2, rows[0], 4), floats(rows[1], 4))
    out, tout = dydx.cdist(da, db, p), torch.cdist(ta, tb, p)
    assert_matches(out, tout, rtol=1e-12, atol=1e-12)
    assert out.requires_grad
    # First order only: PyTorch 1.13 has no derivative of _cdist_backward (the C++ tests check dydx's second
    # derivatives against finite differences).
    grads_agree(out, tout, [da, db], [ta, tb], rtol=1e-9, atol=1e-9, second=False)


@pytest.mark.parametrize("mode", [None, "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"])
def test_cdist_zero_distances_have_zero_gradients(mode):
    x = floats(4, 3)
    (da, ta), (db, tb) = leaves(x, x[::-1].copy())
    kwargs = {} if mode is None else {"compute_mode": mode}  # torch 1.13 refuses an explicit None
    out, tout = dydx.cdist(da, db, **kwargs), torch.cdist(ta, tb, **kwargs)
    assert_matches(out, tout, rtol=1e-7, atol=1e-7)
    g = dydx.autograd.grad(out.sum(), [da, db])
    tg = torch.autograd.grad(tout.sum(), [ta, tb])
    for a_, b_ in zip(g, tg):
        assert np.all(np.isfinite(a_.numpy()))
        np.testing.assert_allclose(a_.numpy(), b_.numpy(), rtol=1e-6, atol=1e-6)


def test_cdist_nan_and_overflow_stay_nan():
    x1 = floats(30, 3)
    x1[0, 0] = math.nan
    x2 = floats(2, 3)
    for mode in ["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"]:
        out = dydx.cdist(dydx.from_numpy(x1.copy()), dydx.from_numpy(x2.copy()), compute_mode=mode)
        tout = torch.cdist(torch.from_numpy(x1), torch.from_numpy(x2), compute_mode=mode)
        assert_matches(out, tout, rtol=1e-12, atol=1e-12)
        assert np.all(np.isnan(out.numpy()[0]))
    big = dict(compute_mode="use_mm_for_euclid_dist")
    out = dydx.cdist(dydx.tensor([[1e200, 0.0]], dtype=dydx.float64), dydx.tensor([[1e200, 1.0]], dtype=dydx.float64), **big)
    tout = torch.cdist(torch.tensor([[1e200, 0.0]], dtype=torch.float64), torch.tensor([[1e200, 1.0]], dtype=torch.float64), **big)
    assert np.isnan(out.item()) and np.isnan(tout.item())


def test_cdist_zero_norm_counts_like_torch():
    x1, x2 = floats(3, 4), floats(5, 4)
    x1[0, 0], x1[1, 1], x2[2, 2] = math.nan, math.inf, -math.inf
    x2[3] = x1[2]
    out = dydx.cdist(dydx.from_numpy(x1.copy()), dydx.from_numpy(x2.copy()), 0.0)
    tout = torch.cdist(torch.from_numpy(x1), torch.from_numpy(x2), 0.0)
    assert_matches(out, tout, rtol=0, atol=0)


def test_cdist_errors():
    a, ta = dydx.zeros(3, 4, dtype=dydx.float64), torch.zeros(3, 4, dtype=torch.float64)
    same_error(lambda: dydx.cdist(a, dydx.zeros(5, 3, dtype=dydx.float64)), lambda: torch.cdist(ta, torch.zeros(5, 3, dtype=torch.float64)))
    same_error(lambda: dydx.cdist(a[0], a), lambda: torch.cdist(ta[0], ta))
    same_error(lambda: dydx.cdist(a, a, p=-1), lambda: torch.cdist(ta, ta, p=-1))
    same_error(lambda: dydx.cdist(a.long(), a.long()), lambda: torch.cdist(ta.long(), ta.long()))
    same_error(lambda: dydx.cdist(a, a.float()), lambda: torch.cdist(ta, ta.float()))
    assert tuple(dydx.cdist(dydx.zeros(0, 4), dydx.zeros(3, 4)).shape) == (0, 3)
    assert dydx.cdist(dydx.zeros(2, 0), dydx.zeros(3, 0)).tolist() == [[0.0] * 3] * 2


@pytest.mark.parametrize("name", ["fill_", "zero_"])
def test_fill_of_an_expanded_view_writes_each_address(name):
    base, tbase = dydx.zeros(3, dtype=dydx.float64), torch.zeros(3, dtype=torch.float64)
    args = (5.0,) if name == "fill_" else ()
    getattr(base[1:].unsqueeze(0).expand(4, 2), name)(*args)
    getattr(tbase[1:].unsqueeze(0).expand(4, 2), name)(*args)
    assert_matches(base, tbase, rtol=0, atol=0)
