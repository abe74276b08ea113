"""The type stubs editors read: installed beside the module, valid Python, naming the real API."""

import ast
import pathlib

import dydx


def test_stubs_are_installed_and_parse():
    stubs = pathlib.Path(dydx._core.__file__).parent / "_core"
    for name, expected in [("__init__.pyi", "class Tensor"), ("func.pyi", "def batch_jacobian"),
                           ("autograd.pyi", "def grad"), ("nn/functional.pyi", "def cross_entropy"),
                           ("nn/init.pyi", "def calculate_gain")]:
        text = (stubs / name).read_text()
        ast.parse(text)
        assert expected in text, name
