# Writes edge_cases.txt: every arithmetic op's value and first and second derivatives (VJP, JVP,
# double backward, forward over reverse) at 0, -0, +-1, +-2.5, +-100, 1e-40, +-inf and nan (pairs of
# them for binary ops and reductions), as PyTorch 1.13 computes them.
# PyTorch 2.5.1 gives the same file, line for line (checked when it was written).
# Run with a Python that has torch 1.13, e.g. after `pip install --target /tmp/torch113 torch==1.13.1`:
#   PYTHONPATH=/tmp/torch113 /usr/bin/python3 tests/data/make_edge_cases.py
# The cases of asin to frac, and later those of trace and cumsum, were generated with Debian 12's python3-torch
# (1.13.0a0) and appended to the
# file (a full run with it changes a few float lines of sin, cos, tan, gelu, addmm and log_softmax at +-2.5
# in the last place, libm's against the wheel's); a full run with the 1.13.1 wheel puts them in order.
# The cases of clamp_min and clamp_max were generated the same way and appended (their lines only), and later
# those of linalg_inv and linalg_solve, those of the selections (sort to nanmedian), those of prod, prod.dim_int and cumprod,
# and those of div.floor and div.trunc, and those of logaddexp to diff (the composed functions).
# test_op_table.cpp (EdgeValues) evaluates the same ops with dydx, keyed as edge_op() in op_table.cpp names them:
# the op's name, then after ":" its arguments where they are not the defaults.
#
# Line format, one case per line:
#   <key> <dtype> in <v,...> [<v,...>] out <v,...> vjp <v,...> [<v,...>] jvp <v,...> [<v,...>]
#     vjp2 <v,...> [<v,...>] fwr <v,...> [<v,...> <v,...> <v,...>]
# vjp: the gradient of each input for an all-ones cotangent; jvp: the output's tangent when input
# i alone has an all-ones tangent; vjp2: the gradient of each input of the sum of the vjp gradients
# (double backward, create_graph); fwr: forward over reverse, the tangent of gradient j when input i
# alone has an all-ones tangent, for (i, j) = (0, 0), (0, 1), (1, 0), (1, 1). A gradient or tangent
# that PyTorch leaves undefined is zeros. Where PyTorch 1.13 has no forward-mode rule for an op's backward
# (softmax, log_softmax, silu), fwr is the same Hessian-vector product by reverse over reverse.
import math
import sys

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F

VALUES = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 100.0, -100.0, 1e-40, math.inf, -math.inf, math.nan]


def unary(f):
    return (1, lambda xs: f(xs[0]))


def binary(f):
    return (2, lambda xs: f(xs[0], xs[1]))


def as_matrix(t):
    return t.reshape(1, 1)


OPS = {
    "exp": unary(torch.exp),
    "log": unary(torch.log),
    "sqrt": unary(torch.sqrt),
    "sin": unary(torch.sin),
    "cos": unary(torch.cos),
    "tan": unary(torch.tan),
    "tanh": unary(torch.tanh),
    "sigmoid": unary(torch.sigmoid),
    "relu": unary(torch.relu),
    "abs": unary(torch.abs),
    "sign": unary(torch.sign),
    "neg": unary(torch.neg),
    "log1p": unary(torch.log1p),
    "expm1": unary(torch.expm1),
    "erf": unary(torch.erf),
    "asin": unary(torch.asin),
    "acos": unary(torch.acos),
    "atan": unary(torch.atan),
    "sinh": unary(torch.sinh),
    "cosh": unary(torch.cosh),
    "asinh": unary(torch.asinh),
    "acosh": unary(torch.acosh),
    "atanh": unary(torch.atanh),
    "reciprocal": unary(torch.reciprocal),
    "rsqrt": unary(torch.rsqrt),
    "log2": unary(torch.log2),
    "log10": unary(torch.log10),
    "exp2": unary(torch.exp2),
    "erfc": unary(torch.erfc),
    "floor": unary(torch.floor),
    "ceil": unary(torch.ceil),
    "round": unary(torch.round),
    "trunc": unary(torch.trunc),
    "frac": unary(torch.frac),
    "silu": unary(F.silu),
    "softplus": unary(F.softplus),
    "softplus:beta=2,threshold=1": unary(lambda x: F.softplus(x, beta=2, threshold=1)),
    "gelu": unary(F.gelu),
    "gelu:tanh": unary(lambda x: F.gelu(x, approximate="tanh")),
    "elu": unary(F.elu),
    "elu:alpha=0.5": unary(lambda x: F.elu(x, alpha=0.5)),
    "leaky_relu": unary(F.leaky_relu),
    "leaky_relu:negative_slope=0.2": unary(lambda x: F.leaky_relu(x, negative_slope=0.2)),
    "hardtanh": unary(F.hardtanh),
    "hardtanh:min_val=-2,max_val=3": unary(lambda x: F.hardtanh(x, -2.0, 3.0)),
    "relu6": unary(F.relu6),
    "hardsigmoid": unary(F.hardsigmoid),
    "hardswish": unary(F.hardswish),
    "selu": unary(F.selu),
    "mish": unary(F.mish),
    "log_sigmoid": unary(F.logsigmoid),
    # clamp's bounds at +-2.5, which are edge values too: the gradient passes at a bound.
    "clamp:-2.5,2.5": unary(lambda x: torch.clamp(x, -2.5, 2.5)),
    "clamp:-2.5,None": unary(lambda x: torch.clamp(x, min=-2.5)),
    "clamp:None,2.5": unary(lambda x: torch.clamp(x, max=2.5)),
    "clamp:1,-1": unary(lambda x: torch.clamp(x, 1, -1)),
    "clamp:nan,nan": unary(lambda x: torch.clamp(x, math.nan, math.nan)),
    "clamp:nan,None": unary(lambda x: torch.clamp(x, min=math.nan)),
    # clamp_min and clamp_max: as clamp with the one bound, but a nan bound fills the result with nan.
    "clamp_min:-2.5": unary(lambda x: torch.clamp_min(x, -2.5)),
    "clamp_max:2.5": unary(lambda x: torch.clamp_max(x, 2.5)),
    "clamp_min:nan": unary(lambda x: torch.clamp_min(x, math.nan)),
    "clamp_max:nan": unary(lambda x: torch.clamp_max(x, math.nan)),
    "rsub:1.5": unary(lambda x: 1.5 - x),
    "add": binary(lambda x, y: torch.add(x, y, alpha=2.0)),
    "sub": binary(torch.sub),
    "mul": binary(torch.mul),
    "div": binary(torch.div),
    "pow.Tensor": binary(torch.pow),
    "atan2": binary(torch.atan2),
    "hypot": binary(torch.hypot),
    "maximum": binary(torch.maximum),
    "minimum": binary(torch.minimum),
    "fmod": binary(torch.fmod),
    "remainder": binary(torch.remainder),
    "div.floor": binary(lambda x, y: torch.div(x, y, rounding_mode="floor")),
    "div.trunc": binary(lambda x, y: torch.div(x, y, rounding_mode="trunc")),
    "where": binary(lambda x, y: torch.where(x.detach() > y.detach(), x, y)),
    # Reductions see the pair as one 2-element tensor.
    "sum": unary(torch.sum),
    "mean": unary(torch.mean),
    "sum.dim": unary(lambda x: torch.sum(x, 0)),
    "mean.dim": unary(lambda x: torch.mean(x, 0)),
    "max": unary(torch.max),
    "min": unary(torch.min),
    "max.dim": unary(lambda x: torch.max(x, 0)[0]),
    "min.dim": unary(lambda x: torch.min(x, 0)[0]),
    "mm": binary(lambda x, y: torch.mm(as_matrix(x), as_matrix(y))),
    "bmm": binary(lambda x, y: torch.bmm(x.reshape(1, 1, 1), y.reshape(1, 1, 1))),
    "addmm": binary(lambda x, y: torch.addmm(as_matrix(x), as_matrix(y), torch.full((1, 1), 2.0, dtype=y.dtype))),
}
for p in [0.0, 0.5, 1.0, 2.0, 3.0, -1.0, -0.5, 2.5, -2.0, math.inf, -math.inf, math.nan]:
    OPS[f"pow.Scalar:{p:g}"] = unary(lambda x, p=p: torch.pow(x, p))
for b in [2.5, 0.0, -0.0, 1.0, 0.5, -2.0, math.inf, -math.inf, math.nan]:
    OPS[f"pow.ScalarBase:{b:g}"] = unary(lambda x, b=b: torch.pow(b, x))
# Ops added later come last, so that the lines before them stay where they were.
OPS["softmax"] = unary(lambda x: torch.softmax(x, 0))
OPS["log_softmax"] = unary(lambda x: torch.log_softmax(x, 0))
OPS["logsumexp"] = unary(lambda x: torch.logsumexp(x, 0))
OPS["scatter_add"] = binary(lambda x, y: torch.scatter_add(x, 0, torch.tensor([0]), y))
OPS["convolution"] = binary(lambda x, w: F.conv2d(x.reshape(1, 1, 1, 1), w.reshape(1, 1, 1, 1)))
OPS["col2im"] = unary(lambda x: F.fold(x.reshape(1, 1, 1), (1, 1), (1, 1)))
OPS["max_pool2d"] = unary(lambda x: F.max_pool2d(x.reshape(1, 1, 1), 1))
OPS["avg_pool2d"] = unary(lambda x: F.avg_pool2d(x.reshape(1, 1, 1), 1))
OPS["adaptive_avg_pool2d"] = unary(lambda x: F.adaptive_avg_pool2d(x.reshape(1, 1, 1), 1))
OPS["index_put"] = binary(lambda x, y: torch.index_put(x, (torch.tensor([0]),), y, accumulate=True))


# avg_pool2d's VJP as an op: the gradient of a 1x1 pool's input for cotangent g, kept differentiable.
def avg_pool2d_backward(g):
    x = torch.zeros((1, 1, 1), dtype=g.dtype, requires_grad=True)
    return torch.autograd.grad(F.avg_pool2d(x, 1), x, g.reshape(1, 1, 1), create_graph=True)[0]


OPS["avg_pool2d_backward"] = unary(avg_pool2d_backward)
OPS["var"] = unary(torch.var)
OPS["std"] = unary(torch.std)
OPS["norm"] = unary(torch.norm)
OPS["linalg_vector_norm"] = unary(torch.linalg.vector_norm)
OPS["layer_norm"] = unary(lambda x: F.layer_norm(x, [2]))
# cross_entropy of one row of two logits, class 1, each row's loss.
OPS["cross_entropy"] = unary(lambda x: F.cross_entropy(x.reshape(1, 2), torch.tensor([1]), reduction="none"))
OPS["dot"] = binary(lambda x, y: torch.dot(x.reshape(1), y.reshape(1)))
OPS["mv"] = binary(lambda x, y: torch.mv(as_matrix(x), y.reshape(1)))
# trace of the pair on a diagonal: the sum of a matrix's diagonal, from zero (so -0 + -0 gives 0).
OPS["trace"] = unary(lambda x: torch.trace(torch.diag(x)))
OPS["cumsum"] = unary(lambda x: torch.cumsum(x, 0))
OPS["amax"] = unary(lambda x: torch.amax(x, 0))
OPS["amin"] = unary(lambda x: torch.amin(x, 0))
OPS["nan_to_num"] = unary(torch.nan_to_num)
OPS["nan_to_num:2,3,-4"] = unary(lambda x: torch.nan_to_num(x, nan=2.0, posinf=3.0, neginf=-4.0))
# Linear systems of one equation; a zero A is singular, which raises (tests of its own check that).
OPS["linalg_inv"] = unary(lambda x: torch.linalg.inv(as_matrix(x)))
OPS["linalg_solve"] = binary(lambda x, y: torch.linalg.solve(as_matrix(x), as_matrix(y)))
NONZERO_FIRST = {"linalg_inv", "linalg_solve"}
# Selections along a dim, of the pair as one row: a nan above every number, and of equal values
# (0 and -0 included) the first, where PyTorch's own order of ties allows it to be seen.
OPS["sort"] = unary(lambda x: torch.sort(x, stable=True)[0])
OPS["sort:descending"] = unary(lambda x: torch.sort(x, descending=True, stable=True)[0])
OPS["topk"] = unary(lambda x: torch.topk(x, 1)[0])
OPS["topk:smallest"] = unary(lambda x: torch.topk(x, 1, largest=False)[0])
OPS["kthvalue"] = unary(lambda x: torch.kthvalue(x, 2)[0])
OPS["median.dim"] = unary(lambda x: torch.median(x, 0)[0])
OPS["nanmedian.dim"] = unary(lambda x: torch.nanmedian(x, 0)[0])
OPS["median"] = unary(torch.median)
OPS["nanmedian"] = unary(torch.nanmedian)
SELECTIONS = {"sort", "sort:descending", "topk", "topk:smallest", "kthvalue", "median.dim", "nanmedian.dim", "median",
              "nanmedian"}

# PyTorch 1.13 has no derivative of hardsigmoid_backward (double backward raises "derivative for
# aten::hardsigmoid_backward is not implemented"); hardsigmoid is piecewise linear, so its second-order
# fields are zeros, which is what dydx gives.
WITHOUT_DOUBLE_BACKWARD = {"hardsigmoid"}

# PyTorch 1.13's forward mode through linalg_solve's backward takes the saved LU factors as constants,
# so its forward over reverse misses A's part (at A = 2, B = 3 it gives 0.375 for d(grad_A)/dA, whose
# exact value, and its own reverse over reverse, are 0.75); those Hessian-vector products come from
# reverse over reverse.
FORWARD_OVER_REVERSE_WRONG = {"linalg_solve"}

# The products of a pair [x0, x1], x0 x1 (and cumprod's [x0, x0 x1]), whose derivatives are mul's
# (evaluate_product below): PyTorch's own rules for prod and cumprod divide out / x where x has no zero (nan at an
# infinity, 0 where out underflows), and dydx's, as mul's, divide by nothing (the products of the others;
# test_prod.cpp checks them against exact ones). The values are torch.prod's and torch.cumprod's all the same:
# one multiplication, rounded once.
OPS["prod"] = unary(torch.prod)
OPS["prod.dim_int"] = unary(lambda x: torch.prod(x, 0))
OPS["cumprod"] = unary(lambda x: torch.cumprod(x, 0))
PRODUCTS = {"prod": lambda a, b: a * b, "prod.dim_int": lambda a, b: a * b, "cumprod": lambda a, b: torch.stack([a, a * b])}

# Functions dydx composes from recorded ops (src/ops/composed_elementwise.cpp, differences.cpp, linalg.cpp's kron).
OPS["logaddexp"] = binary(torch.logaddexp)
OPS["logaddexp2"] = binary(torch.logaddexp2)
OPS["xlogy"] = binary(torch.xlogy)
OPS["logit"] = unary(torch.logit)
OPS["logit:0.25"] = unary(lambda x: torch.logit(x, eps=0.25))
OPS["lerp:0.25"] = binary(lambda x, y: torch.lerp(x, y, 0.25))
OPS["lerp:0.75"] = binary(lambda x, y: torch.lerp(x, y, 0.75))
OPS["clamp.Tensor:min"] = binary(lambda x, y: torch.clamp(x, min=y))
OPS["clamp.Tensor:max"] = binary(lambda x, y: torch.clamp(x, max=y))
OPS["round:decimals=1"] = unary(lambda x: torch.round(x, decimals=1))
OPS["kron"] = binary(torch.kron)
OPS["diff"] = unary(lambda x: torch.diff(x))
COMPOSED_PAIRED = {"diff"}

PAIRED = {"sum", "mean", "sum.dim", "mean.dim", "max", "min", "max.dim", "min.dim", "softmax", "log_softmax", "logsumexp", "var", "std", "norm",
          "linalg_vector_norm", "layer_norm", "cross_entropy", "trace", "cumsum", "amax", "amin"} | SELECTIONS | set(PRODUCTS) | COMPOSED_PAIRED


def fmt(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    return repr(v)


def fmt_tensor(t):
    if t._is_zerotensor():  # PyTorch's efficient zeros, which have no storage to read
        t = torch.zeros(t.shape, dtype=t.dtype)
    return ",".join(fmt(v) for v in t.detach().reshape(-1).double().tolist())


def cases(key):
    arity, _ = OPS[key]
    if key in PAIRED:
        return [[[a, b]] for a in VALUES for b in VALUES]
    firsts = [a for a in VALUES if a != 0] if key in NONZERO_FIRST else VALUES
    if arity == 1:
        return [[[a]] for a in firsts]
    return [[[a], [b]] for a in firsts for b in VALUES]


def evaluate(key, values, dtype):
    _, f = OPS[key]
    inputs = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in values]
    out = f(inputs)
    grads = torch.autograd.grad(out, inputs, torch.ones_like(out), allow_unused=True, create_graph=True)
    total = sum(g.sum() for g in grads if g is not None and g.requires_grad)
    second = [None] * len(inputs)
    if torch.is_tensor(total) and key not in WITHOUT_DOUBLE_BACKWARD:
        second = torch.autograd.grad(total, inputs, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]
    second = [torch.zeros_like(x) if g is None else g for g, x in zip(second, inputs)]
    tangents = []
    for i in range(len(inputs)):
        with fwAD.dual_level():
            plain = [torch.tensor(v, dtype=dtype) for v in values]
            plain[i] = fwAD.make_dual(plain[i], torch.ones_like(plain[i]))
            t = fwAD.unpack_dual(f(plain)).tangent
            tangents.append(torch.zeros_like(out) if t is None else t)
    # Forward over reverse: the tangent of each gradient when input i alone has an all-ones tangent
    # (a Hessian-vector product), for i = 0, 1, ...: grad 0's, grad 1's, ...
    hvp = []
    for i in range(len(inputs)):
        if key in WITHOUT_DOUBLE_BACKWARD:
            hvp += [torch.zeros_like(x) for x in inputs]
            continue
        try:
            if key in FORWARD_OVER_REVERSE_WRONG:
                raise NotImplementedError
            hvp += forward_over_reverse(f, values, dtype, i)
        except NotImplementedError:
            hvp += reverse_over_reverse(f, values, dtype, i)
    return out, grads, second, tangents, hvp


# A product's fields from the same products of two 0-d leaves (mul's rules), read as one input [x0, x1]: the
# gradient of x0 x1 is [x1, x0] with the signs of its zeros (a select's backward would add them into +0s).
def evaluate_product(key, values, dtype):
    (pair,) = values
    f = PRODUCTS[key]
    a, b = (torch.tensor(v, dtype=dtype, requires_grad=True) for v in pair)
    out = f(a, b)
    assert torch.equal(torch.nan_to_num(out), torch.nan_to_num(OPS[key][1]([torch.tensor(pair, dtype=dtype)])))
    ga, gb = torch.autograd.grad(out, (a, b), torch.ones_like(out), create_graph=True)
    second = torch.autograd.grad(ga + gb, (a, b), allow_unused=True)
    second = [torch.zeros_like(a) if s is None else s for s in second]
    with fwAD.dual_level():
        da, db = (fwAD.make_dual(torch.tensor(v, dtype=dtype), torch.tensor(1.0, dtype=dtype)) for v in pair)
        tangent = fwAD.unpack_dual(f(da, db)).tangent
    with fwAD.dual_level():
        la, lb = (torch.tensor(v, dtype=dtype, requires_grad=True) for v in pair)
        da, db = fwAD.make_dual(la, torch.ones_like(la)), fwAD.make_dual(lb, torch.ones_like(lb))
        y = f(da, db)
        hvp = [fwAD.unpack_dual(g).tangent for g in torch.autograd.grad(y, (da, db), torch.ones_like(y))]
    return out, [torch.stack([ga, gb])], [torch.stack(second)], [tangent], [torch.stack(hvp)]


def forward_over_reverse(f, values, dtype, i):
    hvp = []
    with fwAD.dual_level():
        leaves = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in values]
        duals = list(leaves)
        duals[i] = fwAD.make_dual(leaves[i], torch.ones_like(leaves[i]))
        y = f(duals)
        gs = torch.autograd.grad(y, duals, torch.ones_like(y), allow_unused=True)
        for g, x in zip(gs, leaves):
            t = None if g is None else fwAD.unpack_dual(g).tangent
            hvp.append(torch.zeros_like(x) if t is None else t)
    return hvp


# PyTorch 1.13 has no forward-mode rule for some backward ops (softmax's, log_softmax's, silu's); there the same
# Hessian-vector product comes from reverse over reverse: the tangent of gradient j along input i
# (all ones) is the gradient with respect to input j of the sum of gradient i.
def reverse_over_reverse(f, values, dtype, i):
    leaves = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in values]
    y = f(leaves)
    gs = torch.autograd.grad(y, leaves, torch.ones_like(y), allow_unused=True, create_graph=True)
    if gs[i] is None or not gs[i].requires_grad:
        return [torch.zeros_like(x) for x in leaves]
    second = torch.autograd.grad(gs[i].sum(), leaves, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(second, leaves)]


def main():
    assert torch.__version__.startswith("1.13"), "the oracle is PyTorch 1.13, not " + torch.__version__
    lines = []
    for key in OPS:
        for dtype, name in [(torch.float32, "float32"), (torch.float64, "float64")]:
            for values in cases(key):
                oracle = evaluate_product if key in PRODUCTS else evaluate
                out, grads, second, tangents, hvp = oracle(key, values, dtype)
                fields = [key, name, "in"] + [fmt_tensor(torch.tensor(v, dtype=dtype)) for v in values]
                fields += ["out", fmt_tensor(out), "vjp"] + [fmt_tensor(g) for g in grads]
                fields += ["jvp"] + [fmt_tensor(t) for t in tangents]
                fields += ["vjp2"] + [fmt_tensor(g) for g in second]
                fields += ["fwr"] + [fmt_tensor(g) for g in hvp]
                lines.append(" ".join(fields))
    path = sys.argv[1] if len(sys.argv) > 1 else __file__.replace("make_edge_cases.py", "edge_cases.txt")
    with open(path, "w") as out:
        out.write("# Generated by make_edge_cases.py from PyTorch " + torch.__version__ + "; do not edit.\n")
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
