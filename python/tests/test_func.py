"""dydx.func's transforms taking Python callables, against functorch (PyTorch 1.13's torch.func)."""

import functorch
import pytest
import torch

import dydx
from conftest import assert_matches

X = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]


def f(x):
    return (x.sin() * x.exp()).sum(-1)


def scalar_f(x):
    return (x.tanh() * x).sum()


def pair(x, y):
    return x * y.sin(), (x + y).sum()


def test_vjp():
    out, vjp_fn = dydx.func.vjp(f, dydx.tensor(X))
    tout, tvjp_fn = functorch.vjp(f, torch.tensor(X))
    assert_matches(out, tout, rtol=1e-5)
    (g,) = vjp_fn(dydx.tensor([1.0, 2.0]))
    (tg,) = tvjp_fn(torch.tensor([1.0, 2.0]))
    assert_matches(g, tg, rtol=1e-5)


def test_jvp_with_two_outputs():
    args = [dydx.tensor([1.0, 2.0]), dydx.tensor([0.5, -1.0])]
    targs = [torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])]
    out, tangent = dydx.func.jvp(pair, args, [dydx.ones(2), dydx.zeros(2)])
    tout, ttangent = functorch.jvp(pair, tuple(targs), (torch.ones(2), torch.zeros(2)))
    for a, b in zip(out + tangent, tout + ttangent):
        assert_matches(a, b, rtol=1e-5)


@pytest.mark.parametrize("transform", ["grad", "jacrev", "jacfwd", "hessian"])
def test_transforms_of_one_argument(transform):
    g = getattr(dydx.func, transform)(scalar_f if transform in ("grad", "hessian") else f)
    tg = getattr(functorch, transform)(scalar_f if transform in ("grad", "hessian") else f)
    assert_matches(g(dydx.tensor(X)), tg(torch.tensor(X)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_jacobians_with_tuple_argnums_and_tuple_outputs(transform):
    args = [dydx.tensor([1.0, 2.0]), dydx.tensor([0.5, -1.0])]
    targs = [torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])]
    got = getattr(dydx.func, transform)(pair, argnums=(0, 1))(*args)
    expected = getattr(functorch, transform)(pair, argnums=(0, 1))(*targs)
    assert len(got) == len(expected) == 2
    for per_output, tper_output in zip(got, expected):
        for a, b in zip(per_output, tper_output):
            assert_matches(a, b, rtol=1e-5)


def test_grad_with_argnums():
    got = dydx.func.grad(lambda x, y: (x * y.exp()).sum(), argnums=(0, 1))(dydx.tensor([1.0, 2.0]), dydx.tensor([0.5, 0.0]))
    expected = functorch.grad(lambda x, y: (x * y.exp()).sum(), argnums=(0, 1))(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.0]))
    for a, b in zip(got, expected):
        assert_matches(a, b, rtol=1e-6)


def test_vmap_of_grad_gives_per_sample_gradients():
    got = dydx.func.vmap(dydx.func.grad(scalar_f))(dydx.tensor(X))
    expected = functorch.vmap(functorch.grad(scalar_f))(torch.tensor(X))
    assert_matches(got, expected, rtol=1e-5)


def test_vmap_in_dims_none():
    got = dydx.func.vmap(lambda x, w: x @ w, in_dims=(0, None))(dydx.tensor(X), dydx.tensor([1.0, 2.0, 3.0]))
    expected = functorch.vmap(lambda x, w: x @ w, in_dims=(0, None))(torch.tensor(X), torch.tensor([1.0, 2.0, 3.0]))
    assert_matches(got, expected, rtol=1e-6)


def test_batch_jacobian_and_laplacian_against_functorch():
    x, tx = dydx.tensor(X), torch.tensor(X)
    row = lambda v: torch.stack([(v.sin() * v.exp()).sum(), (v * v).sum()])  # noqa: E731
    batched = lambda v: dydx.stack([(v.sin() * v.exp()).sum(-1), (v * v).sum(-1)], 1)  # noqa: E731
    assert_matches(dydx.func.batch_jacobian(batched, x), functorch.vmap(functorch.jacrev(row))(tx), rtol=1e-5)
    hess = functorch.vmap(functorch.hessian(row))(tx)
    expected_laplacian = hess.diagonal(dim1=-2, dim2=-1).sum(-1)
    assert_matches(dydx.func.laplacian(batched, x), expected_laplacian, rtol=1e-5, atol=1e-5)


class Boom(Exception):
    pass


def explode(x):
    raise Boom("from inside the transform")


@pytest.mark.parametrize("call", [
    lambda: dydx.func.vjp(explode, dydx.ones(2)),
    lambda: dydx.func.jvp(explode, [dydx.ones(2)], [dydx.ones(2)]),
    lambda: dydx.func.grad(explode)(dydx.ones(2)),
    lambda: dydx.func.jacrev(explode)(dydx.ones(2)),
    lambda: dydx.func.jacfwd(explode)(dydx.ones(2)),
    lambda: dydx.func.hessian(explode)(dydx.ones(2)),
    lambda: dydx.func.vmap(explode)(dydx.ones(2, 2)),
    lambda: dydx.func.batch_jacobian(explode, dydx.ones(2, 2)),
    lambda: dydx.func.laplacian(explode, dydx.ones(2, 2)),
    lambda: dydx.func.vmap(dydx.func.jacrev(explode))(dydx.ones(2, 2)),
])
def test_an_exception_in_the_callable_propagates_with_its_traceback_and_state_is_restored(call):
    with pytest.raises(Boom) as info:
        call()
    assert any(entry.name == "explode" for entry in info.traceback)
    # Grad mode is back on (the fixture checks) and transforms work as before.
    assert_matches(dydx.func.jacfwd(f)(dydx.tensor(X)), functorch.jacfwd(f)(torch.tensor(X)), rtol=1e-5)
    x = dydx.tensor([1.0], requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0]


def test_a_callable_returning_a_non_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="must return a Tensor"):
        dydx.func.jacrev(lambda x: 3.0)(dydx.ones(2))
    with pytest.raises(TypeError, match="expected a callable"):
        dydx.func.grad(42)


def test_transform_errors_from_dydx_are_dydx_errors():
    with pytest.raises(dydx.Error):
        dydx.func.grad(lambda x: x * 2)(dydx.ones(3))  # not a scalar


def test_hessian_of_several_outputs_and_of_none_as_torch_func():
    def two(x):
        return (x * x).sum(), (x ** 3).sum()

    def one_in_a_list(x):
        return [(x * x).sum()]

    x, tx = dydx.tensor([1.0, 2.0], dtype=dydx.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)
    mine, theirs = dydx.func.hessian(two)(x), functorch.hessian(two)(tx)
    assert isinstance(mine, tuple) and len(mine) == len(theirs) == 2
    for m, t in zip(mine, theirs):
        assert_matches(m, t)
    mine, theirs = dydx.func.hessian(one_in_a_list)(x), functorch.hessian(one_in_a_list)(tx)
    assert isinstance(mine, tuple) and len(mine) == 1
    assert_matches(mine[0], theirs[0])
    # Two argnums and two outputs: per output, rows over the argnums.
    mine = dydx.func.hessian(lambda a, b: ((a * b).sum(), (a * a * b).sum()), argnums=(0, 1))(x, x)
    theirs = functorch.hessian(lambda a, b: ((a * b).sum(), (a * a * b).sum()), argnums=(0, 1))(tx, tx)
    for o in range(2):
        for i in range(2):
            for j in range(2):
                assert_matches(mine[o][i][j], theirs[o][i][j])
    assert dydx.func.hessian(lambda x: ())(x) == ()


def test_a_transform_kept_where_its_function_reaches_it_is_collected():
    # model -> g (the transform's result) -> model.energy (a bound method) -> model: a cycle that
    # Python's cycle collector must see, as it sees torch.func's closures.
    import gc
    import weakref

    class Model:
        def __init__(self):
            self.w = dydx.ones(3)
            self.force = dydx.func.grad(self.energy)
            self.jac = dydx.func.jacrev(self.energy)

        def energy(self, x):
            return (self.w * x * x).sum()

    model = Model()
    assert model.force(dydx.tensor([1.0, 2.0, 3.0])).tolist() == [2.0, 4.0, 6.0]
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
    with pytest.raises(TypeError, match="callable"):
        dydx.func.grad(3)  # bad arguments still raise where the transform is made
