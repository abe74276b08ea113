"""dydx.nn.functional against torch.nn.functional: the same values and gradients (float64) from the
same inputs and keyword arguments, and the same kinds of errors for bad arguments."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import dydx
import dydx.nn.functional as F
from conftest import assert_matches

rng = np.random.default_rng(0)


def floats(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


def classes(n, *shape):
    return rng.integers(0, n, size=shape).astype(np.int64)


class Fixed:
    """An input that does not require grad (class weights: torch refuses to differentiate those)."""

    def __init__(self, array):
        self.array = array


def both(array):
    """A dydx and a torch tensor of the same values; floating ones require grad unless Fixed."""
    fixed = isinstance(array, Fixed)
    array = array.array if fixed else array
    d, t = dydx.from_numpy(array.copy()), torch.from_numpy(array.copy())
    if array.dtype == np.float64 and not fixed:
        d.requires_grad_()
        t.requires_grad_()
    return d, t


def check(name, arrays, kwargs=None, rtol=1e-10, atol=1e-10):
    """F.name(*arrays, **kwargs) matches torch's, and so do the gradients of every floating input."""
    kwargs = kwargs or {}
    pairs = [both(a) for a in arrays]
    out = getattr(F, name)(*[d for d, _ in pairs], **kwargs)
    # torch 1.13 deprecates F.tanh and F.sigmoid (with a warning) for torch.tanh and torch.sigmoid.
    torch_function = getattr(torch, name) if name in ("tanh", "sigmoid") else getattr(TF, name)
    expected = torch_function(*[t for _, t in pairs], **kwargs)
    assert_matches(out, expected, rtol=rtol, atol=atol)
    if not expected.requires_grad:
        return
    cotangent = floats(*expected.shape)
    (out * dydx.from_numpy(cotangent.copy())).sum().backward()
    (expected * torch.from_numpy(cotangent)).sum().backward()
    for d, t in pairs:
        if d.requires_grad:
            assert_matches(d.grad, t.grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,kwargs", [
    ("relu", {}), ("tanh", {}), ("sigmoid", {}), ("gelu", {}), ("gelu", dict(approximate="tanh")), ("silu", {}),
    ("softplus", {}), ("softplus", dict(beta=2, threshold=1)), ("elu", {}), ("elu", dict(alpha=0.5)),
    ("leaky_relu", {}), ("leaky_relu", dict(negative_slope=0.2)), ("softmax", dict(dim=1)),
    ("log_softmax", dict(dim=0)),
    ("hardtanh", {}), ("hardtanh", dict(min_val=-0.5, max_val=1.5)), ("relu6", {}), ("hardsigmoid", {}),
    ("hardswish", {}), ("selu", {}), ("mish", {}), ("logsigmoid", {}),
])
def test_activations(name, kwargs):
    check(name, [floats(4, 5)], kwargs)


@pytest.mark.parametrize("name,kwargs", [
    ("hardtanh", {}), ("relu6", {}), ("hardsigmoid", {}), ("hardswish", {}), ("selu", {}), ("mish", {}),
    ("logsigmoid", {}),
])
def test_activations_across_their_kinks(name, kwargs):
    # -4..8 crosses hardtanh's and relu6's bounds and hardsigmoid's and hardswish's +-3.
    check(name, [floats(6, 5, low=-4.0, high=8.0)], kwargs)


# Every activation with inplace=True. torch's elu_, selu_ and leaky_relu_ record a node of their own
# that reads the result (EluBackward1, LeakyReluBackward1); dydx's record the out-of-place op's node
# over a copy of the input, and the gradients agree to rounding.
IN_PLACE = [
    ("relu", {}), ("silu", {}), ("elu", {}), ("elu", dict(alpha=0.5)), ("leaky_relu", {}),
    ("leaky_relu", dict(negative_slope=0.2)), ("hardtanh", dict(min_val=-0.5, max_val=0.5)), ("hardtanh", {}),
    ("relu6", {}), ("hardsigmoid", {}), ("hardswish", {}), ("selu", {}), ("mish", {}),
]
OWN_IN_PLACE_NODE = {"elu", "selu", "leaky_relu"}


@pytest.mark.parametrize("name,kwargs", IN_PLACE)
def test_in_place_activations_are_torchs(name, kwargs):
    """inplace=True on a non-leaf writes the input, returns it (the same object) and records the op's
    own node, whose gradient is torch's: backward through the write works, for every activation."""
    x = floats(3, 4, low=-4.0, high=8.0)
    leaf, torch_leaf = dydx.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    y, torch_y = leaf * 1.0, torch_leaf * 1.0
    out = getattr(F, name)(y, inplace=True, **kwargs)
    torch_out = getattr(TF, name)(torch_y, inplace=True, **kwargs)
    assert out is y and torch_out is torch_y
    assert_matches(y, torch_y, rtol=1e-12, atol=1e-12)  # the input itself was written
    if name not in OWN_IN_PLACE_NODE:
        assert y.grad_fn.name() == torch_y.grad_fn.name()
    cotangent = floats(3, 4)
    (y * dydx.from_numpy(cotangent.copy())).sum().backward()
    (torch_y * torch.from_numpy(cotangent)).sum().backward()
    assert_matches(leaf.grad, torch_leaf.grad, rtol=1e-12, atol=1e-12)
    # Twice in a row on one tensor, then an op that reads it: each node saw its own input, so the
    # gradient is that of f(f(2x))^2 out of place. (torch raises here for the ops whose in-place node
    # reads the result, which the second write overwrites.)
    leaf2, torch_leaf2 = dydx.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    y2 = getattr(F, name)(getattr(F, name)(leaf2 * 2.0, inplace=True, **kwargs), inplace=True, **kwargs)
    torch_y2 = getattr(TF, name)(getattr(TF, name)(torch_leaf2 * 2.0, **kwargs), **kwargs)
    (y2 * y2).sum().backward()
    (torch_y2 * torch_y2).sum().backward()
    assert_matches(leaf2.grad, torch_leaf2.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,args", [("relu_", ()), ("elu_", ()), ("elu_", (0.5,)), ("leaky_relu_", ()),
                                       ("leaky_relu_", (0.2,)), ("hardtanh_", ()), ("hardtanh_", (-0.5, 2.0)),
                                       ("selu_", ())])
def test_functional_in_place_spellings_are_torchs(name, args):
    """F.elu_(x) and its kin, torch.nn.functional's names of the in-place forms: each writes x, returns
    it and is differentiable through the write, with torch's values and gradients."""
    x = floats(3, 4, low=-4.0, high=4.0)
    leaf, torch_leaf = dydx.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    y, torch_y = leaf * 1.0, torch_leaf * 1.0
    assert getattr(F, name)(y, *args) is y
    getattr(TF, name)(torch_y, *args)
    assert_matches(y, torch_y, rtol=1e-12, atol=1e-12)
    cotangent = floats(3, 4)
    (y * dydx.from_numpy(cotangent.copy())).sum().backward()
    (torch_y * torch.from_numpy(cotangent)).sum().backward()
    assert_matches(leaf.grad, torch_leaf.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", IN_PLACE)
def test_in_place_activations_refuse_a_leaf_that_requires_grad(name, kwargs):
    x = floats(5)
    leaf, torch_leaf = dydx.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        getattr(TF, name)(torch_leaf, inplace=True, **kwargs)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(F, name)(leaf, inplace=True, **kwargs)
    assert leaf.tolist() == x.tolist() and leaf._version == 0  # nothing written
    with dydx.no_grad():  # under no_grad a leaf may be written, as torch's
        assert getattr(F, name)(leaf, inplace=True, **kwargs) is leaf
    with torch.no_grad():
        getattr(TF, name)(torch_leaf, inplace=True, **kwargs)
    assert_matches(leaf, torch_leaf, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", [("elu", dict(alpha=-0.5)), ("leaky_relu", dict(negative_slope=-0.1))])
def test_in_place_with_a_negative_slope_gives_the_gradient(name, kwargs):
    """torch 1.13's backward raises here (its in-place node reads the result, which a negative slope
    cannot invert); dydx's reads a copy of the input and gives the out-of-place op's gradient."""
    x = floats(3, 4, low=-4.0, high=4.0)
    leaf, torch_leaf = dydx.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    torch_y = getattr(TF, name)(torch_leaf * 1.0, inplace=True, **kwargs)
    with pytest.raises(RuntimeError, match="In-place"):
        torch_y.sum().backward()
    y = getattr(F, name)(leaf * 1.0, inplace=True, **kwargs)
    y.sum().backward()
    torch_leaf.grad = None
    getattr(TF, name)(torch_leaf, **kwargs).sum().backward()
    assert_matches(leaf.grad, torch_leaf.grad, rtol=1e-12, atol=1e-12)


def bits(a):
    """Values to compare bit for bit: nan equal to nan, -0 apart from 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    return [("nan" if np.isnan(v) else (float(v), bool(np.signbit(v)))) for v in a]


def torch_elementwise(name, kwargs, x, cotangent, dtype=None):
    """torch's value, gradient and second derivative element by element, on 0-d tensors: its
    kernels' scalar loops, which dydx follows (torch's vectorised loops differ at nan for hardtanh,
    hardswish and elu, and at 3 for hardswish; edge_cases.txt records the scalar loops too)."""
    out, grad, second = [], [], []
    for v in x:
        t = torch.tensor(v, dtype=dtype).requires_grad_()
        y = getattr(TF, name)(t, **kwargs)
        (g,) = torch.autograd.grad([y], [t], [torch.tensor(cotangent, dtype=t.dtype)], create_graph=name != "hardsigmoid")
        (s,) = torch.autograd.grad([g], [t], allow_unused=True) if g.requires_grad else (None,)
        out.append(y.item())
        grad.append(g.item())
        second.append(0.0 if s is None else s.item())
    return out, grad, second


KINKS = [-np.inf, -6.0, -3.0, -2.5, -1.0, -0.0, 0.0, 1.0, 2.5, 3.0, 6.0, 7.0, np.inf, np.nan, 1e-45, -1e-300]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", [
    ("hardtanh", {}), ("hardtanh", dict(min_val=-2.5, max_val=2.5)), ("hardtanh", dict(min_val=0.0, max_val=-0.0)),
    ("hardtanh", dict(min_val=2.0, max_val=-2.0)), ("hardtanh", dict(min_val=float("nan"), max_val=1.0)),
    ("hardtanh", dict(min_val=-1.0, max_val=float("nan"))), ("hardtanh", dict(min_val=-np.inf, max_val=np.inf)),
    ("relu6", {}), ("hardsigmoid", {}), ("hardswish", {}), ("selu", {}), ("mish", {}), ("logsigmoid", {}),
])
def test_activations_at_their_kinks_bit_for_bit(name, kwargs, dtype):
    """Values and gradients (also for an inf cotangent, which a blocked gradient must zero rather than
    multiply) at the kinks, nan, +-inf, -0 and subnormals, bit for bit with torch's (selu, mish and
    logsigmoid to rounding), over a tensor long enough for dydx's SIMD loops and their tail; double
    backward against torch's on the same tensor."""
    x = np.array(KINKS * 4 + KINKS[:5], dtype=dtype)
    exact = name in ("hardtanh", "relu6", "hardsigmoid", "hardswish")
    for cotangent in (1.0, np.inf):
        d = dydx.from_numpy(x.copy()).requires_grad_()
        out = getattr(F, name)(d, **kwargs)
        (grad,) = dydx.autograd.grad([out], [d], [dydx.from_numpy(np.full(x.shape, cotangent, dtype=dtype))])
        want_out, want_grad, _ = torch_elementwise(name, kwargs, x, cotangent)
        if exact:
            assert bits(out.detach().numpy()) == bits(want_out)
            assert bits(grad.numpy()) == bits(want_grad)
        else:
            np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-6, atol=1e-38)
            np.testing.assert_allclose(grad.numpy(), want_grad, rtol=1e-6, atol=1e-38)
    # Double backward: nan and inf where torch's are (mish's e^x overflows in its double backward, as
    # torch's), and elsewhere torch's values, or closer to the truth (torch's in float64): torch's
    # float32 logsigmoid double backward, (s - 1) s with s rounded, is 2e-5 off at x = 6, where dydx's
    # is within 1e-7. (Both follow mish's composed rule, whose 1 - t^2 loses float32 digits at x = 7.)
    d = dydx.from_numpy(x.copy()).requires_grad_()
    (grad,) = dydx.autograd.grad([getattr(F, name)(d, **kwargs).sum()], [d], create_graph=True)
    second = dydx.autograd.grad([grad.sum()], [d])[0].numpy() if grad.requires_grad else np.zeros(x.shape)
    torch_second = np.array(torch_elementwise(name, kwargs, x, 1.0)[2])
    np.testing.assert_array_equal(np.isfinite(second), np.isfinite(torch_second))
    finite = np.isfinite(torch_second) & np.isfinite(x)
    truth = np.array(torch_elementwise(name, kwargs, x.astype(np.float64), 1.0, dtype=torch.float64)[2])
    rtol = 1e-5 if dtype == "float32" else 1e-13
    close = np.isclose(second, torch_second, rtol=rtol, atol=1e-38) | np.isclose(second, truth, rtol=rtol, atol=1e-38)
    assert close[finite].all(), (x[finite & ~close], second[finite & ~close], torch_second[finite & ~close])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mish_and_logsigmoid_at_large_inputs(dtype):
    x = np.array([-1e30, -1000.0, -100.0, -20.0, 20.0, 100.0, 1000.0, 1e30] * 8, dtype=dtype)
    for name in ("mish", "logsigmoid"):
        d, t = dydx.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
        out, torch_out = getattr(F, name)(d), getattr(TF, name)(t)
        assert not np.isnan(out.detach().numpy()).any()
        # atol: a subnormal result (mish(-100) in float32) differs in its last units between libms.
        np.testing.assert_allclose(out.detach().numpy(), torch_out.detach().numpy(), rtol=1e-6, atol=1e-38)
        out.sum().backward()
        torch_out.sum().backward()
        assert not np.isnan(d.grad.numpy()).any()
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-38)
    assert F.logsigmoid(dydx.tensor([-1000.0])).item() == -1000.0
    m = F.mish(dydx.tensor([-1000.0])).item()
    assert m == 0.0 and np.signbit(m)


@pytest.mark.parametrize("name,kwargs", [
    ("hardtanh", dict(min_val=-0.5, max_val=2.0)), ("relu6", {}), ("hardsigmoid", {}), ("hardswish", {}), ("selu", {}),
    ("mish", {}), ("logsigmoid", {}),
])
def test_activations_of_empty_zero_dim_and_strided_tensors(name, kwargs):
    for array in (np.zeros((2, 0, 3)), np.array(2.5), floats(6, 8, low=-8.0, high=8.0).T, floats(6, 8, low=-8.0, high=8.0)[::2, 1::3]):
        d, t = dydx.from_numpy(array).requires_grad_(), torch.from_numpy(array.copy()).requires_grad_()
        out, torch_out = getattr(F, name)(d, **kwargs), getattr(TF, name)(t, **kwargs)
        assert_matches(out, torch_out, rtol=1e-14, atol=1e-300)
        out.sum().backward()
        torch_out.sum().backward()
        assert_matches(d.grad, t.grad, rtol=1e-14, atol=1e-300)


def test_hardtanh_bounds_as_torch_takes_them():
    i = dydx.from_numpy(np.array([-5, 0, 5, 2**53 + 1, 2**62, -2**63], dtype=np.int64))
    ti = torch.from_numpy(i.numpy().copy())
    for lo, hi in [(0, 2**53 + 1), (0, 2**53), (-2**63, 2**63 - 1), (-1.5, 2.5), (2, -2), (True, 3), (-9.223372036854775808e18, 0.0)]:
        assert F.hardtanh(i, lo, hi).tolist() == TF.hardtanh(ti, lo, hi).tolist(), (lo, hi)
    for bad in (1e20, -1e20, float("inf"), float("-inf"), float("nan")):
        with pytest.raises(RuntimeError, match="value cannot be converted to type int64_t without overflow"):
            TF.hardtanh(ti, bad, 1)
        with pytest.raises(RuntimeError, match="value cannot be converted to type int64_t without overflow"):
            F.hardtanh(i, bad, 1)
        with pytest.raises(RuntimeError, match="value cannot be converted to type int64_t without overflow"):
            F.hardtanh(i, -1, bad, inplace=True)
        assert i.tolist() == ti.tolist() and i._version == 0  # nothing written
    # torch lets 2.0**63 through its range test and gives INT64_MIN everywhere; dydx raises.
    with pytest.raises(RuntimeError, match="value cannot be converted to type int64_t without overflow"):
        F.hardtanh(i, 0.0, 2.0**63)
    f = dydx.tensor([-2.0, 0.5, 3.0])
    for bad in (1e300, -1e39):
        with pytest.raises(RuntimeError, match="value cannot be converted to type float without overflow"):
            TF.hardtanh(torch.tensor([-2.0, 0.5, 3.0]), bad, 1.0)
        with pytest.raises(RuntimeError, match="value cannot be converted to type float without overflow"):
            F.hardtanh(f, bad, 1.0)
    assert F.hardtanh(f.double(), -1e300, 1e300).tolist() == [-2.0, 0.5, 3.0]


def test_activations_reject_what_torch_rejects():
    i = dydx.from_numpy(np.array([-3, 0, 7], dtype=np.int64))
    assert F.hardtanh(i, -1.5, 2.5).tolist() == [-1, 0, 2]  # integers kept, bounds truncated, as torch
    assert F.relu6(i).tolist() == [0, 0, 6]
    for name in ("hardsigmoid", "hardswish", "selu", "mish", "logsigmoid"):
        with pytest.raises(RuntimeError):
            getattr(F, name)(i)


def test_linear_with_and_without_bias():
    check("linear", [floats(3, 4), floats(2, 4), floats(2)])
    check("linear", [floats(5, 3, 4), floats(2, 4)])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(name, reduction):
    check(name, [floats(4, 3), floats(4, 3)], dict(reduction=reduction))


def test_regression_loss_options():
    check("smooth_l1_loss", [floats(6), floats(6)], dict(beta=0.5))
    check("huber_loss", [floats(6), floats(6)], dict(delta=0.3))


@pytest.mark.parametrize("kwargs", [
    {}, dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2), dict(ignore_index=1),
])
def test_cross_entropy_with_class_indices(kwargs):
    check("cross_entropy", [floats(6, 4), classes(4, 6)], kwargs)


def test_cross_entropy_with_weights_probabilities_and_spatial_dims():
    check("cross_entropy", [floats(6, 4), classes(4, 6), Fixed(floats(4, low=0.1, high=2))], dict(label_smoothing=0.1))
    probabilities = rng.dirichlet(np.ones(4), size=5)
    check("cross_entropy", [floats(5, 4), probabilities])
    check("cross_entropy", [floats(2, 3, 4, 5), classes(3, 2, 4, 5)])


@pytest.mark.parametrize("kwargs", [{}, dict(reduction="sum"), dict(ignore_index=2), dict(reduction="none")])
def test_nll_loss(kwargs):
    check("nll_loss", [floats(5, 3), classes(3, 5)], kwargs)
    check("nll_loss", [floats(5, 3), classes(3, 5), Fixed(floats(3, low=0.1, high=1))], kwargs)


def test_binary_cross_entropies():
    check("binary_cross_entropy", [floats(4, 3, low=0.05, high=0.95), floats(4, 3, low=0, high=1)])
    check("binary_cross_entropy", [floats(4, 3, low=0.05, high=0.95), floats(4, 3, low=0, high=1), Fixed(floats(3))],
          dict(reduction="sum"))
    check("binary_cross_entropy_with_logits", [floats(4, 3), floats(4, 3, low=0, high=1)])
    check("binary_cross_entropy_with_logits", [floats(4, 3), floats(4, 3, low=0, high=1), Fixed(floats(4, 3))],
          dict(reduction="none"))


def test_binary_cross_entropy_with_logits_pos_weight():
    x, t, w = floats(4, 3), floats(4, 3, low=0, high=1), floats(3, low=0.5, high=2)
    dx, tx = both(x)
    out = F.binary_cross_entropy_with_logits(dx, dydx.from_numpy(t.copy()), pos_weight=dydx.from_numpy(w.copy()))
    expected = TF.binary_cross_entropy_with_logits(tx, torch.from_numpy(t), pos_weight=torch.from_numpy(w))
    assert_matches(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kwargs", [{}, dict(stride=2), dict(padding=1, dilation=2), dict(padding="same")])
def test_conv1d(kwargs):
    check("conv1d", [floats(2, 4, 9), floats(6, 4, 3), floats(6)], kwargs)


@pytest.mark.parametrize("kwargs", [
    {}, dict(stride=2), dict(padding=(1, 2)), dict(dilation=2, padding=2), dict(groups=2), dict(padding="valid"),
])
def test_conv2d(kwargs):
    check("conv2d", [floats(2, 4, 7, 8), floats(6, 4 // kwargs.get("groups", 1), 3, 3), floats(6)], kwargs)
    check("conv2d", [floats(4, 7, 8), floats(6, 4 // kwargs.get("groups", 1), 3, 3)], kwargs)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=(2, 3), ceil_mode=True)])
def test_pooling(kwargs):
    check("max_pool2d", [floats(2, 3, 7, 8)], kwargs)
    check("avg_pool2d", [floats(2, 3, 7, 8)], kwargs)


def test_avg_pool2d_options_and_max_pool2d_indices():
    check("avg_pool2d", [floats(1, 2, 6, 6)], dict(kernel_size=3, padding=1, count_include_pad=False))
    check("avg_pool2d", [floats(1, 2, 6, 6)], dict(kernel_size=2, divisor_override=3))
    dx, tx = both(floats(1, 2, 6, 6))
    values, indices = F.max_pool2d(dx, 2, return_indices=True)
    expected_values, expected_indices = TF.max_pool2d(tx, 2, return_indices=True)
    assert_matches(values, expected_values)
    assert_matches(indices, expected_indices)


def test_layer_norm():
    check("layer_norm", [floats(3, 4, 5)], dict(normalized_shape=(4, 5)))
    x, w, b = floats(3, 5), floats(5), floats(5)
    pairs = [both(a) for a in (x, w, b)]
    out = F.layer_norm(pairs[0][0], [5], pairs[1][0], pairs[2][0], eps=1e-3)
    expected = TF.layer_norm(pairs[0][1], [5], pairs[1][1], pairs[2][1], eps=1e-3)
    assert_matches(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_and_its_running_stats(training):
    x, w, b = floats(6, 3, 4), floats(3), floats(3)
    mean, var = floats(3), floats(3, low=0.5, high=2)
    dmean, dvar = dydx.from_numpy(mean.copy()), dydx.from_numpy(var.copy())
    tmean, tvar = torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())
    (dx, tx), (dw, tw), (db, tb) = both(x), both(w), both(b)
    out = F.batch_norm(dx, dmean, dvar, dw, db, training=training, momentum=0.3, eps=1e-4)
    expected = TF.batch_norm(tx, tmean, tvar, tw, tb, training=training, momentum=0.3, eps=1e-4)
    assert_matches(out, expected, rtol=1e-10, atol=1e-10)
    assert_matches(dmean, tmean, rtol=1e-12, atol=1e-12)
    assert_matches(dvar, tvar, rtol=1e-12, atol=1e-12)
    (out * out).sum().backward()
    (expected * expected).sum().backward()
    for d, t in ((dx, tx), (dw, tw), (db, tb)):
        assert_matches(d.grad, t.grad, rtol=1e-9, atol=1e-9)


def test_none_and_dtype_arguments_as_torch():
    x = floats(4, 3)
    dx, tx = both(x)
    assert_matches(dydx.norm(dx, p=None), torch.norm(tx, p=None), rtol=1e-12, atol=0)
    assert_matches(dx.norm(p="fro"), tx.norm(p="fro"), rtol=1e-12, atol=0)
    assert_matches(dx.norm(p="fro", dim=(0, 1)), tx.norm(p="fro", dim=(0, 1)), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="nuc"):
        dx.norm(p="nuc")
    for name in ("softmax", "log_softmax"):
        out = getattr(dydx, name)(dx, 1, dtype=dydx.float32)
        expected = getattr(torch, name)(tx, 1, dtype=torch.float32)
        assert out.dtype == dydx.float32
        assert_matches(out, expected, rtol=1e-6, atol=1e-6)
        assert_matches(getattr(dx, name)(1, dtype=None), getattr(tx, name)(1, dtype=None), rtol=1e-12, atol=1e-12)


def test_batch_norm_without_running_stats_takes_none():
    # F.batch_norm(x, None, None, w, b, True): batch statistics only, as PyTorch allows (the binding
    # rejected None for running_mean and running_var).
    x, w, b = floats(6, 3, 4), floats(3), floats(3)
    (dx, tx), (dw, tw), (db, tb) = both(x), both(w), both(b)
    out = F.batch_norm(dx, None, None, dw, db, True)
    expected = TF.batch_norm(tx, None, None, tw, tb, True)
    assert_matches(out, expected, rtol=1e-10, atol=1e-10)
    (out * out).sum().backward()
    (expected * expected).sum().backward()
    for d, t in ((dx, tx), (dw, tw), (db, tb)):
        assert_matches(d.grad, t.grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pad,kwargs", [
    ((1, 2), {}), ((1, 0, 2, 1), dict(value=3.5)), ((2, 1, 1, 2), dict(mode="reflect")),
    ((1, 1, 2, 0), dict(mode="replicate")), ((1, 2, 2, 1), dict(mode="circular")),
])
def test_pad(pad, kwargs):
    check("pad", [floats(2, 3, 4, 5)], dict(pad=pad, **kwargs))


def test_dropout_keeps_or_zeroes_and_rescales():
    x = dydx.ones(1000, dtype=dydx.float64)
    assert dydx.equal(F.dropout(x, 0.3, training=False), x)
    assert dydx.equal(F.dropout(x, 0.0), x)
    dydx.manual_seed(3)
    y = F.dropout(x, 0.25)
    kept = y.ne(0)
    assert dydx.allclose(y.masked_select(kept), dydx.full([int(kept.sum())], 1 / 0.75, dtype=dydx.float64))
    assert 650 < int(kept.sum()) < 850
    dydx.manual_seed(3)
    assert dydx.equal(F.dropout(x, 0.25), y), "the mask comes from dydx's generator"


def test_one_hot():
    t = classes(5, 7)
    assert_matches(F.one_hot(dydx.from_numpy(t.copy())), TF.one_hot(torch.from_numpy(t)))
    assert_matches(F.one_hot(dydx.from_numpy(t.copy()), 6), TF.one_hot(torch.from_numpy(t), 6))


def test_bad_arguments_raise_as_torch_does():
    x = dydx.randn(3, 4)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="average")
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="padding mode"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(TypeError, match="dim"):
        F.softmax(x)
    with pytest.raises(dydx.Error):
        F.mse_loss(x, dydx.randn(2, 4))
    with pytest.raises(dydx.Error):
        F.cross_entropy(x, dydx.tensor([0, 1, 7]))
    with pytest.raises(dydx.Error):
        F.conv2d(dydx.randn(1, 3, 5, 5), dydx.randn(2, 4, 3, 3))
