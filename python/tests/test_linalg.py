"""dydx.linalg.solve and dydx.linalg.inv against torch.linalg (PyTorch 1.13): values, gradients of first
and second order, PyTorch's shapes (its vector rule, broadcast batch dims, left=False) and its errors."""

import numpy as np
import pytest
import torch

import dydx
from conftest import assert_matches, dydx_and_torch as both

rng = np.random.default_rng(5)


def well_conditioned(*shape):
    n = shape[-1]
    return rng.uniform(-1.0, 1.0, size=shape) + 4.0 * np.eye(n)


SOLVE_SHAPES = [((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (3, 1)), ((4, 1, 3, 3), (2, 3, 2)),
                ((1, 1), (1, 5)), ((3, 3), (2, 3, 4))]


@pytest.mark.parametrize("a_shape,b_shape", SOLVE_SHAPES)
def test_solve_values_and_gradients_match_torch(a_shape, b_shape):
    a, ta = both(well_conditioned(*a_shape), True)
    b, tb = both(rng.standard_normal(b_shape), True)
    x, tx = dydx.linalg.solve(a, b), torch.linalg.solve(ta, tb)
    assert_matches(x, tx, rtol=1e-12, atol=1e-13)
    assert x.grad_fn.name() == tx.grad_fn.name() == "LinalgSolveExBackward0"
    w = rng.standard_normal(tuple(tx.shape))
    # Without create_graph the gradient's solve reuses the forward's LU factors; with it, it is composed.
    plain = dydx.autograd.grad((x * dydx.from_numpy(w.copy())).sum(), (a, b), retain_graph=True)
    ga, gb = dydx.autograd.grad((x * dydx.from_numpy(w.copy())).sum(), (a, b), create_graph=True)
    tga, tgb = torch.autograd.grad((tx * torch.from_numpy(w)).sum(), (ta, tb), create_graph=True)
    assert_matches(ga, tga, rtol=1e-11, atol=1e-12)
    assert_matches(gb, tgb, rtol=1e-11, atol=1e-12)
    assert_matches(plain[0], tga, rtol=1e-11, atol=1e-12)
    assert_matches(plain[1], tgb, rtol=1e-11, atol=1e-12)
    # Second order: the gradient of a scalar of the first gradients (double backward).
    (h,) = dydx.autograd.grad((ga * ga).sum() + (gb * gb).sum(), (a,))
    (th,) = torch.autograd.grad((tga * tga).sum() + (tgb * tgb).sum(), (ta,))
    assert_matches(h, th, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1), (0, 0), (0, 2, 2)])
def test_inv_values_and_gradients_match_torch(shape):
    a, ta = both(well_conditioned(*shape) if 0 not in shape else np.zeros(shape), True)
    y, ty = dydx.linalg.inv(a), torch.linalg.inv(ta)
    assert_matches(y, ty, rtol=1e-12, atol=1e-13)
    assert_matches(dydx.inverse(a), ty, rtol=1e-12, atol=1e-13)
    assert_matches(a.inverse(), ty, rtol=1e-12, atol=1e-13)
    if y.numel() == 0:
        return
    assert y.grad_fn.name() == ty.grad_fn.name()
    (g,) = dydx.autograd.grad((y * y).sum(), (a,), create_graph=True)
    (tg,) = torch.autograd.grad((ty * ty).sum(), (ta,), create_graph=True)
    assert_matches(g, tg, rtol=1e-11, atol=1e-12)
    (h,) = dydx.autograd.grad(g.sum(), (a,))
    (th,) = torch.autograd.grad(tg.sum(), (ta,))
    assert_matches(h, th, rtol=1e-10, atol=1e-11)


def test_solve_left_false_and_float32_match_torch():
    a, ta = both(well_conditioned(3, 3))
    b, tb = both(rng.standard_normal((2, 3)))
    assert_matches(dydx.linalg.solve(a, b, left=False), torch.linalg.solve(ta, tb, left=False), rtol=1e-12, atol=1e-13)
    a32, b32 = a.to(dydx.float32), b.to(dydx.float32)
    x32 = dydx.linalg.solve(a32, b32, left=False)
    assert x32.dtype == dydx.float32
    assert_matches(x32, torch.linalg.solve(ta.float(), tb.float(), left=False), rtol=1e-5, atol=1e-6)


def test_hessian_and_jacfwd_through_solve_match_torch():
    a0 = well_conditioned(3, 3)
    b0 = rng.standard_normal(3)

    def f(lib, flat):
        return (lib.linalg.solve(flat.reshape(3, 3), lib.from_numpy(b0.copy()) if lib is dydx else torch.from_numpy(b0)) ** 3).sum()

    h = dydx.func.hessian(lambda v: f(dydx, v))(dydx.from_numpy(a0.reshape(9).copy()))
    th = torch.func.hessian(lambda v: f(torch, v))(torch.from_numpy(a0.reshape(9).copy())) if hasattr(torch, "func") else \
        torch.autograd.functional.hessian(lambda v: f(torch, v), torch.from_numpy(a0.reshape(9).copy()))
    assert_matches(h, th, rtol=1e-10, atol=1e-11)
    j = dydx.func.jacfwd(lambda m: dydx.linalg.inv(m))(dydx.from_numpy(a0.copy()))
    tj = torch.autograd.functional.jacobian(torch.linalg.inv, torch.from_numpy(a0.copy()))
    assert_matches(j, tj, rtol=1e-12, atol=1e-13)


def test_vmap_over_solve_and_inv_is_the_loop():
    a, ta = both(well_conditioned(5, 3, 3))
    b, tb = both(rng.standard_normal((5, 3)))
    x = dydx.func.vmap(dydx.linalg.solve)(a, b)
    y = dydx.func.vmap(dydx.linalg.inv)(a)
    for i in range(5):
        assert_matches(x[i], torch.linalg.solve(ta[i], tb[i]), rtol=1e-13, atol=1e-14)
        assert_matches(y[i], torch.linalg.inv(ta[i]), rtol=1e-13, atol=1e-14)


ERRORS = [
    (lambda lib: lib.linalg.inv(lib.ones(3)), "must have at least 2 dimensions"),
    (lambda lib: lib.linalg.inv(lib.ones(2, 3)), "A must be batches of square matrices, but they are 2 by 3 matrices"),
    (lambda lib: lib.linalg.inv(lib.ones(3, 3, dtype=lib.int64)), "Expected a floating point or complex tensor as input. Got Long"),
    (lambda lib: lib.linalg.inv(lib.zeros(3, 3)), "The diagonal element 1 is zero, the inversion could not be completed"),
    (lambda lib: lib.linalg.inv(lib.zeros(2, 3, 3)), r"\(Batch element 0\): The diagonal element 1 is zero"),
    (lambda lib: lib.linalg.solve(lib.zeros(3, 3), lib.ones(3)), "The solver failed because the input matrix is singular"),
    (lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(4)), r"Incompatible shapes of A and B for the equation AX = B \(3x3 and 4x1\)"),
    (lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(4, 3)), r"AX = B \(3x3 and 4x3\)"),
    (lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(3, 2, dtype=lib.float64)),
     "Expected A and B to have the same dtype, but found A of type Float and B of type Double instead"),
    (lambda lib: lib.linalg.solve(lib.eye(3), lib.tensor(1.0)), "The input tensor B must have at least 2 dimensions"),
    (lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(3), left=False), r"XA = B \(3x3 and 3x1\)"),
]


@pytest.mark.parametrize("call,message", ERRORS)
def test_errors_match_torch(call, message):
    with pytest.raises(RuntimeError, match=message):
        call(torch)
    with pytest.raises(RuntimeError, match=message):
        call(dydx)


def test_inputs_are_never_written():
    base = well_conditioned(3, 3)
    a = dydx.from_numpy(base.T.copy()).t()  # a column-major view
    before = a.tolist()
    dydx.linalg.inv(a)
    dydx.linalg.solve(a, dydx.from_numpy(rng.standard_normal((3, 2))))
    assert a.tolist() == before


def test_singular_matrices_raise_linalg_error_as_torch():
    for lib in (torch, dydx):
        with pytest.raises(lib.linalg.LinAlgError, match="singular"):
            lib.linalg.inv(lib.zeros(2, 2))
        with pytest.raises(lib.linalg.LinAlgError, match="singular"):
            lib.linalg.solve(lib.zeros(2, 2), lib.ones(2))
        with pytest.raises(RuntimeError):  # a kind of RuntimeError, as torch's
            lib.linalg.inv(lib.zeros(2, 2))
    assert issubclass(dydx.linalg.LinAlgError, dydx.Error)
    with pytest.raises(TypeError, match="takes 2 positional arguments but 3 were given"):
        dydx.linalg.solve(dydx.eye(2), dydx.ones(2), False)
    with pytest.raises(TypeError, match="takes 2 positional arguments but 3 were given"):
        torch.linalg.solve(torch.eye(2), torch.ones(2), False)


@pytest.mark.parametrize("call,message", [
    (lambda lib: lib.linalg.solve(lib.eye(2), 3.0), r"argument 'B' \(position 2\) must be Tensor, not float"),
    (lambda lib: lib.linalg.solve(lib.eye(2)), "missing 1 required positional argument"),
    (lambda lib: lib.linalg.solve(lib.eye(2), lib.ones(2), foo=1), "unexpected keyword argument 'foo'"),
])
def test_solve_argument_errors_as_torch(call, message):
    with pytest.raises(TypeError):
        call(torch)
    with pytest.raises(TypeError, match=message):
        call(dydx)
