"""dydx.nn's modules against torch.nn's: the same model, with torch's weights copied in through
load_state_dict, gives the same outputs, gradients, training steps, state_dict keys and repr."""

import math
from collections import OrderedDict

import functorch
import numpy as np
import pytest
import torch

import dydx
import dydx.nn as nn
from conftest import assert_matches

rng = np.random.default_rng(1)


@pytest.fixture(autouse=True)
def same_draws_whatever_ran_before():
    """Each test draws the same weights and data however many draws the tests before it took: torch's
    generator (which makes the weights) and this module's are seeded afresh for every test."""
    global rng
    torch.manual_seed(0)
    rng = np.random.default_rng(1)


def floats(*shape):
    return rng.uniform(-1.5, 1.5, size=shape)


def dydx_copy(t):
    return dydx.from_numpy(np.array(t.detach().numpy()))


def load_torch_weights(model, torch_model):
    """The torch model's parameters and buffers, copied into the dydx model in place."""
    result = model.load_state_dict({k: dydx_copy(v) for k, v in torch_model.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []


def both_models(build):
    """build(lib) with lib dydx.nn or torch.nn, in float64, the dydx one holding torch's weights."""
    torch_model = build(torch.nn).double()
    model = build(nn).double()
    load_torch_weights(model, torch_model)
    return model, torch_model


def mlp(lib):
    return lib.Sequential(lib.Linear(4, 8), lib.Tanh(), lib.Linear(8, 8), lib.GELU(), lib.Linear(8, 8), lib.SiLU(),
                          lib.Linear(8, 3, bias=False), lib.Softplus(beta=2))


def convnet(lib):
    return lib.Sequential(lib.Conv2d(2, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.Conv2d(4, 3, 3, stride=2),
                          lib.Flatten(), lib.LayerNorm(12), lib.Dropout(0.0), lib.Linear(12, 5))


def conv1d_net(lib):
    return lib.Sequential(lib.Conv1d(3, 4, 3, padding="same", padding_mode="zeros"), lib.BatchNorm1d(4),
                          lib.Conv1d(4, 2, 2, dilation=2, padding=1, padding_mode="circular", bias=False),
                          lib.Flatten(), lib.Sigmoid())


class TwoHeads:
    """A Module subclass with attributes assigned in __init__, for either library."""

    @staticmethod
    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.body = lib.Linear(4, 6)
                self.scale = lib.Parameter(torch.ones(6) if lib is torch.nn else dydx.ones(6))
                self.heads = lib.Sequential(lib.Linear(6, 2), lib.ReLU())

            def forward(self, x):
                return self.heads(self.body(x).tanh() * self.scale)

        return Net()


CASES = [(mlp, (5, 4)), (convnet, (3, 2, 6, 6)), (conv1d_net, (3, 3, 7)), (TwoHeads.build, (5, 4))]


@pytest.mark.parametrize("build,shape", CASES)
@pytest.mark.parametrize("training", [True, False])
def test_outputs_and_gradients_match_torch(build, shape, training):
    model, torch_model = both_models(build)
    model.train(training)
    torch_model.train(training)
    x = floats(*shape)
    dx, tx = dydx.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    out, expected = model(dx), torch_model(tx)
    assert_matches(out, expected, rtol=1e-10, atol=1e-10)
    (out * out).sum().backward()
    (expected * expected).sum().backward()
    assert_matches(dx.grad, tx.grad, rtol=1e-9, atol=1e-9)
    named, torch_named = dict(model.named_parameters()), dict(torch_model.named_parameters())
    assert list(named) == list(torch_named)
    for name, param in named.items():
        assert_matches(param.grad, torch_named[name].grad, rtol=1e-9, atol=1e-9)
    for (name, buffer), (torch_name, torch_buffer) in zip(model.named_buffers(), torch_model.named_buffers()):
        assert name == torch_name
        assert_matches(buffer, torch_buffer, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("optimizer,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01))])
def test_training_steps_match_torch(optimizer, kwargs):
    model, torch_model = both_models(convnet)
    opt = getattr(dydx.optim, optimizer)(list(model.parameters()), **kwargs)
    torch_opt = getattr(torch.optim, optimizer)(torch_model.parameters(), **kwargs)
    loss_fn, torch_loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    for _ in range(4):
        x, y = floats(3, 2, 6, 6), rng.integers(0, 5, size=3)
        opt.zero_grad()
        torch_opt.zero_grad()
        loss = loss_fn(model(dydx.from_numpy(x.copy())), dydx.from_numpy(y.copy()))
        torch_loss = torch_loss_fn(torch_model(torch.from_numpy(x)), torch.from_numpy(y))
        assert_matches(loss, torch_loss, rtol=1e-9, atol=1e-9)
        loss.backward()
        torch_loss.backward()
        opt.step()
        torch_opt.step()
    # The first convolution's bias sits ahead of BatchNorm, which subtracts each channel's mean: its gradient
    # is 0 exactly, and in either library rounding noise of order 1e-16. Adam divides the gradient by
    # sqrt(v) + eps, so that noise moves the bias by up to lr / eps times itself per step (10^6 here), the
    # same in both libraries only to that bound: it is compared at 4 steps x lr / eps x 1e-14.
    noise_only = {"0.bias": 4 * kwargs["lr"] / 1e-8 * 1e-14 if optimizer == "Adam" else 1e-9}
    for (name, value), (torch_name, torch_value) in zip(model.state_dict().items(), torch_model.state_dict().items()):
        assert name == torch_name
        assert_matches(value, torch_value, rtol=1e-8, atol=noise_only.get(name, 1e-9))


def test_mse_loss_module_and_reductions():
    model, torch_model = both_models(mlp)
    x, y = floats(6, 4), floats(6, 3)
    for reduction in ("mean", "sum", "none"):
        loss = nn.MSELoss(reduction=reduction)(model(dydx.from_numpy(x.copy())), dydx.from_numpy(y.copy()))
        expected = torch.nn.MSELoss(reduction=reduction)(torch_model(torch.from_numpy(x)), torch.from_numpy(y))
        assert_matches(loss, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("build", [mlp, convnet, conv1d_net, TwoHeads.build,
                                   lambda lib: lib.Sequential(lib.Conv2d(2, 4, (3, 1), groups=2, bias=False,
                                                                         padding_mode="reflect", padding=1),
                                                              lib.MaxPool2d(2), lib.AvgPool2d(3, stride=1),
                                                              lib.LayerNorm([2, 3], elementwise_affine=False),
                                                              lib.BatchNorm1d(3, momentum=None, affine=False),
                                                              lib.MSELoss(), lib.CrossEntropyLoss(),
                                                              lib.Identity(), lib.LeakyReLU(0.2), lib.ELU(),
                                                              lib.ReLU(inplace=True), lib.Dropout(p=0.25)),
                                   lambda lib: lib.Sequential(lib.Hardtanh(), lib.Hardtanh(-2, 3, True), lib.ReLU6(),
                                                              lib.ReLU6(inplace=True), lib.Hardsigmoid(True),
                                                              lib.Hardswish(), lib.SELU(), lib.SELU(inplace=True),
                                                              lib.Mish(), lib.Mish(True), lib.LogSigmoid()),
                                   lambda lib: lib.Sequential(lib.Hardtanh(min_val=0.1, max_val=1e20),
                                                              lib.Hardtanh(-1.0 / 3, 123456789.0, inplace=True),
                                                              lib.Hardswish(inplace=True), lib.Hardsigmoid(),
                                                              lib.ELU(0.5, True), lib.LeakyReLU(0.2, True),
                                                              lib.SiLU(True), lib.SiLU(), lib.ReLU6(False))])
def test_repr_is_torchs(build):
    assert repr(build(nn)) == repr(build(torch.nn))


@pytest.mark.parametrize("build", [
    lambda lib: lib.Sequential(lib.Linear(4, 5), lib.Hardtanh(-0.5, 0.5, inplace=True), lib.Linear(5, 5),
                               lib.ReLU6(inplace=True), lib.Linear(5, 5), lib.Hardswish(inplace=True), lib.Linear(5, 5),
                               lib.Hardsigmoid(inplace=True), lib.Linear(5, 5), lib.SELU(inplace=True), lib.Linear(5, 5),
                               lib.Mish(inplace=True), lib.Linear(5, 5), lib.SiLU(inplace=True), lib.Linear(5, 5),
                               lib.ELU(0.5, inplace=True), lib.Linear(5, 5), lib.LeakyReLU(0.2, inplace=True),
                               lib.Linear(5, 5), lib.ReLU(inplace=True), lib.Linear(5, 1), lib.LogSigmoid()),
])
def test_in_place_activation_modules_train_as_torchs(build):
    """Every activation module with inplace=True inside a network: the same loss and parameter gradients
    as torch's (each writes the previous layer's output, a non-leaf that requires grad)."""
    model, torch_model = both_models(build)
    x = np.random.default_rng(1).uniform(-3, 3, size=(7, 4))
    loss = model(dydx.from_numpy(x.copy())).sum()
    torch_loss = torch_model(torch.from_numpy(x.copy())).sum()
    assert_matches(loss, torch_loss, rtol=1e-10, atol=1e-10)
    loss.backward()
    torch_loss.backward()
    for (name, p), (torch_name, tp) in zip(model.named_parameters(), torch_model.named_parameters()):
        assert name == torch_name
        assert_matches(p.grad, tp.grad, rtol=1e-9, atol=1e-10)


def test_state_dict_keys_and_round_trip():
    model, torch_model = both_models(convnet)
    state = model.state_dict()
    assert list(state) == list(torch_model.state_dict())
    assert all(not value.requires_grad for value in state.values())
    fresh = convnet(nn).double()
    fresh.load_state_dict(state)
    x = dydx.from_numpy(floats(2, 2, 6, 6))
    model.eval()
    fresh.eval()
    assert dydx.allclose(fresh(x), model(x))


def test_load_state_dict_reports_missing_unexpected_and_mismatched_keys():
    model = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        model.load_state_dict({"weight": dydx.zeros(2, 3)})
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "extra"'):
        model.load_state_dict({"weight": dydx.zeros(2, 3), "bias": dydx.zeros(2), "extra": dydx.zeros(1)})
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        model.load_state_dict({"weight": dydx.zeros(3, 2), "bias": dydx.zeros(2)})
    result = model.load_state_dict({"weight": dydx.ones(2, 3)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == []
    assert model.weight.tolist() == [[1.0] * 3] * 2


def test_batch_norm_running_stats_and_eval_match_torch():
    for momentum in (0.1, None):
        model, torch_model = both_models(lambda lib: lib.BatchNorm1d(3, momentum=momentum))
        for _ in range(3):
            x = floats(8, 3)
            model(dydx.from_numpy(x.copy()))
            torch_model(torch.from_numpy(x))
        for name, value in torch_model.state_dict().items():
            assert_matches(model.state_dict()[name], value, rtol=1e-12, atol=1e-12)
        model.eval()
        torch_model.eval()
        x = floats(4, 3)
        assert_matches(model(dydx.from_numpy(x.copy())), torch_model(torch.from_numpy(x)), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(dydx.randn(2, 3))


def test_registration_train_eval_and_zero_grad():
    model = TwoHeads.build(nn)
    assert [name for name, _ in model.named_parameters()] == [
        "scale", "body.weight", "body.bias", "heads.0.weight", "heads.0.bias"]
    assert [type(child).__name__ for child in model.children()] == ["Linear", "Sequential"]
    assert len(list(model.modules())) == 5
    assert all(isinstance(p, nn.Parameter) and isinstance(p, dydx.Tensor) and p.requires_grad
               for p in model.parameters())
    assert model.eval() is model and not any(m.training for m in model.modules())
    assert all(m.training for m in model.train().modules())
    model(dydx.randn(2, 4, dtype=dydx.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        model.scale = dydx.ones(6)
    model.scale = None
    assert "scale" not in dict(model.named_parameters())
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        model.missing  # noqa: B018
    with pytest.raises(ValueError):
        model.train("yes")


def test_parameter_shares_storage_and_prints_as_torch():
    data = dydx.zeros(3)
    param = nn.Parameter(data)
    assert param.requires_grad and param.is_leaf and not data.requires_grad
    data.fill_(2.0)
    assert param.tolist() == [2.0, 2.0, 2.0]
    assert repr(param).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(dydx.ones(2), requires_grad=False).requires_grad
    with pytest.raises(TypeError):
        nn.Parameter([1.0, 2.0])


def test_default_initialisation_is_torchs_bounds_and_seeded():
    dydx.manual_seed(7)
    first = nn.Conv2d(3, 8, 5)
    bound = 1 / math.sqrt(3 * 5 * 5)
    for param in (first.weight, first.bias):
        values = np.array(param.detach().numpy())
        assert values.min() >= -bound and values.max() <= bound
        assert values.max() - values.min() > bound  # spread over the range, not constant
    dydx.manual_seed(7)
    assert dydx.equal(nn.Conv2d(3, 8, 5).weight, first.weight)
    assert nn.LayerNorm(4).weight.tolist() == [1.0] * 4


def test_to_dtype_converts_parameters_and_buffers():
    model = convnet(nn).to(dydx.float64)
    assert all(p.dtype == dydx.float64 and isinstance(p, nn.Parameter) for p in model.parameters())
    assert model[1].running_mean.dtype == dydx.float64
    assert model[1].num_batches_tracked.dtype == dydx.int64


def test_func_transforms_over_a_model():
    model, torch_model = both_models(lambda lib: lib.Sequential(lib.Linear(3, 5), lib.Tanh(), lib.Linear(5, 2)))
    x = floats(4, 3)
    dx, tx = dydx.from_numpy(x.copy()), torch.from_numpy(x.copy())
    assert_matches(dydx.func.vmap(model)(dx), torch_model(tx), rtol=1e-10, atol=1e-10)
    assert_matches(dydx.func.batch_jacobian(model, dx), functorch.vmap(functorch.jacrev(torch_model))(tx),
                   rtol=1e-10, atol=1e-10)
    scalar = lambda v: model(v).sum(-1)  # noqa: E731
    torch_scalar = lambda v: torch_model(v).sum(-1)  # noqa: E731
    hessians = functorch.vmap(functorch.hessian(torch_scalar))(tx)
    assert_matches(dydx.func.laplacian(scalar, dx), hessians.diagonal(dim1=-2, dim2=-1).sum(-1),
                   rtol=1e-9, atol=1e-9)
    assert_matches(dydx.func.grad(lambda v: model(v).pow(2).sum())(dx),
                   functorch.grad(lambda v: torch_model(v).pow(2).sum())(tx), rtol=1e-10, atol=1e-10)


def test_sequential_indexing_and_ordered_dict():
    seq = nn.Sequential(OrderedDict([("first", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert [name for name, _ in seq.named_children()] == ["first", "act"]
    assert isinstance(seq[-1], nn.ReLU) and len(seq) == 2 and len(seq[:1]) == 1
    with pytest.raises(IndexError):
        seq[2]  # noqa: B018


@pytest.mark.parametrize("make", [
    lambda lib: lib.Conv2d(3, 4, 3, groups=2),
    lambda lib: lib.Conv2d(4, 4, 3, padding_mode="mirror"),
    lambda lib: lib.Conv1d(2, 2, 3, stride=2, padding="same"),
    lambda lib: lib.Dropout(p=1.5),
])
def test_bad_module_arguments_are_value_errors_as_in_torch(make):
    with pytest.raises(ValueError):
        make(torch.nn)
    with pytest.raises(ValueError):
        make(nn)


def test_what_the_library_rejects_is_a_dydx_error():
    with pytest.raises(dydx.Error):
        nn.Linear(3, 2)(dydx.randn(4, 5))
    with pytest.raises(dydx.Error):
        nn.Conv2d(3, 4, 3)(dydx.randn(1, 2, 5, 5))
    with pytest.raises(dydx.Error):
        nn.CrossEntropyLoss()(dydx.randn(2, 3), dydx.tensor([0, 3]))
