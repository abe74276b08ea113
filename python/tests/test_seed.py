"""The seed golden: the seed's program with torch replaced by dydx prints exactly what PyTorch prints."""

import pathlib
import subprocess
import sys

PROGRAM = (pathlib.Path(__file__).parent / "seed_program.py").read_text(encoding="utf-8")


def run(source):
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_seed_prints_what_pytorch_prints():
    expected = run(PROGRAM)
    assert "grad_fn=<MmBackward0>" in expected and "tensor([[288.]," in expected  # the oracle really ran
    assert run(PROGRAM.replace("torch", "dydx")) == expected
