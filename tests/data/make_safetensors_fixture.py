# Writes fixture.safetensors with Python's safetensors (the reference writer), for
# test_serialize.cpp: dydx must load it with these names, dtypes, shapes and values.
# Run with a Python that has safetensors and numpy (e.g. a venv: pip install safetensors numpy):
#   python tests/data/make_safetensors_fixture.py
import os

import numpy as np
from safetensors.numpy import save_file


def tensors():
    return {
        "weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4 - 0.5,
        "bias": np.array([1.5, -2.25, 1e-300], dtype=np.float64),
        "step": np.array(7, dtype=np.int64),  # 0-d
        "index": np.array([[-1, 2**40], [3, -(2**62)]], dtype=np.int64),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "special": np.array([np.inf, -np.inf, np.nan, -0.0], dtype=np.float32),
        "mask": np.array([[True, False, True], [False, False, True]]),
    }


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture.safetensors")
    save_file(tensors(), path, metadata={"format": "np", "written_by": "make_safetensors_fixture.py"})


if __name__ == "__main__":
    main()
