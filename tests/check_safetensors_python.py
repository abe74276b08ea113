# Reads a file written by dydx (write_safetensors_sample) with Python's safetensors, the reference
# reader, and checks every name, dtype, shape, value and the metadata. Run by ctest when a Python
# with safetensors and numpy is found (tests/CMakeLists.txt).
#   python check_safetensors_python.py <path of write_safetensors_sample>
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def main():
    writer = sys.argv[1]
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "sample.safetensors")
        subprocess.run([writer, path], check=True)
        t = load_file(path)
        with safe_open(path, framework="np") as f:
            metadata = f.metadata()
    expected = {
        "f32": np.array([1.5, -0.25, 3e38], dtype=np.float32),
        "f64_transposed": np.arange(12, dtype=np.float64).reshape(3, 4).T / 3,
        "i64": np.array([-(2**63), -1, 2**63 - 1], dtype=np.int64),
        "scalar": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((2, 0), dtype=np.float32),
        "mask_transposed": np.arange(12, dtype=np.float64).reshape(3, 4).T > 4,
    }
    assert sorted(t) == sorted(expected), sorted(t)
    for name, want in expected.items():
        got = t[name]
        assert got.dtype == want.dtype, (name, got.dtype)
        assert got.shape == want.shape, (name, got.shape)
        assert np.array_equal(got, want), (name, got, want)
    assert metadata == {"written_by": "dydx"}, metadata
    print("dydx's file read by Python's safetensors: ok")


if __name__ == "__main__":
    main()
