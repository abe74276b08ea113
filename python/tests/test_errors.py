"""Bad input from Python: dydx's errors as dydx.Error (a RuntimeError) with dydx's message, wrong
types as TypeError, and the module's own facts (BLAS kernels) as the C++ library reports them."""

import os
import pathlib
import subprocess

import pytest
import torch

import dydx


def test_dydx_error_is_a_runtime_error_with_dydxs_message():
    assert issubclass(dydx.Error, RuntimeError)
    with pytest.raises(dydx.Error, match=r"shapes \[2\] and \[3\] cannot be broadcast"):
        dydx.zeros(2) + dydx.zeros(3)
    with pytest.raises(RuntimeError):
        dydx.zeros(2, 3) @ dydx.zeros(2, 3)


def test_backward_twice_raises_dydxs_message_naming_the_node():
    x = dydx.tensor([1.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(dydx.Error, match="^MulBackward0: Trying to backward through the graph a second time"):
        y.backward()


@pytest.mark.parametrize("call", [
    lambda: dydx.zeros(2) + "a",
    lambda: dydx.zeros(2) * [1, 2],
    lambda: dydx.tensor([1, "a"]),
    lambda: dydx.tensor(object()),
    lambda: dydx.zeros(2)["a"],
    lambda: dydx.zeros(2, dtype="float32"),
    lambda: dydx.zeros(2.5),
    lambda: dydx.cat([dydx.zeros(2), 3]),
    lambda: dydx.zeros(2).register_hook(5),
    lambda: dydx.autograd.grad(dydx.zeros(1), 3),
])
def test_wrong_types_are_type_errors(call):
    with pytest.raises(TypeError):
        call()


def test_ragged_nested_lists_are_refused():
    with pytest.raises(dydx.Error, match="expected sequence of length 2"):
        dydx.tensor([[1, 2], [3]])


def test_int64_overflow_is_refused():
    with pytest.raises(ValueError, match="does not fit int64"):
        dydx.tensor([2 ** 70])


def test_blas_kernel_is_the_one_the_cpp_library_reports():
    # The module links the library statically: OpenBLAS's kernel choice, made by a static initialiser,
    # must still run. Compared with a C++ program linked to the Release build's shared library.
    root = pathlib.Path(__file__).resolve().parents[2]
    library = root / "build" / "libdydx.so"
    if not library.exists():
        pytest.skip("no C++ Release build in build/ to compare with")
    program = root / "build" / "print_blas_kernel"
    source = '#include <dydx/blas.hpp>\n#include <iostream>\nint main() { std::cout << dydx::blas_kernel(); }\n'
    subprocess.run(["g++", "-std=c++20", "-I", str(root / "include"), "-x", "c++", "-", "-x", "none", str(library),
                    f"-Wl,-rpath,{library.parent}", "-o", str(program)], input=source, text=True, check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DYDX_BLAS", "OPENBLAS_CORETYPE"))}
    cpp = subprocess.run([str(program)], capture_output=True, text=True, check=True, env=env).stdout
    python = subprocess.run([os.sys.executable, "-c", "import dydx; print(dydx.blas_kernel(), end='')"],
                            capture_output=True, text=True, check=True, env=env).stdout
    assert python == cpp and cpp.startswith("OpenBLAS")


def test_python_exception_types_as_torch():
    # The types Python's own protocols and torch's users rely on: IndexError for an index out of range,
    # ValueError for item() of several elements, TypeError for len() of a 0-d tensor or a .grad of
    # another type; comparing with None is False, not an error.
    for lib in (dydx, torch):
        t = lib.ones(3)
        with pytest.raises(IndexError, match="out of bounds"):
            t[5]
        with pytest.raises(IndexError, match="out of bounds"):
            t[-4] = 1.0
        with pytest.raises(ValueError, match="only one element tensors"):
            t.item()
        with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
            len(lib.tensor(1.0))
        with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None"):
            t.grad = 3
        with pytest.raises(TypeError):
            t + None
        assert (t == None) is False and (t != None) is True  # noqa: E711
        assert tuple(t[None].shape) == (1, 3)
