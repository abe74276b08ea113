"""Zero-copy sharing with NumPy and PyTorch (DLPack both ways): same memory, writes seen on both
sides, and either side keeping the memory alive after the other is gone."""

import gc

import numpy as np
import pytest
import torch

import dydx


def test_numpy_asarray_shares_memory_both_ways():
    t = dydx.arange(6.0).reshape(2, 3)
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 1] = 42
    assert t[0, 1].item() == 42
    t[1, 2] = -5
    assert a[1, 2] == -5
    assert np.shares_memory(a, t.numpy())


def test_array_with_a_dtype_or_copy_is_a_copy():
    t = dydx.arange(3.0)
    converted = t.__array__(np.float64)
    copied = t.__array__(copy=True)
    converted[0] = copied[1] = 7
    assert converted.dtype == np.float64 and t.tolist() == [0.0, 1.0, 2.0]


def test_numpy_view_of_a_strided_tensor_has_its_strides():
    t = dydx.arange(12.0, dtype=dydx.float64).reshape(3, 4).t()
    a = np.asarray(t)
    np.testing.assert_array_equal(a, np.arange(12.0).reshape(3, 4).T)
    assert a.strides == (8, 32)


@pytest.mark.parametrize("dtype,np_dtype", [(dydx.float32, np.float32), (dydx.float64, np.float64),
                                            (dydx.int64, np.int64), (dydx.bool, np.bool_)])
def test_every_dtype_round_trips_through_numpy(dtype, np_dtype):
    source = np.array([[1, 0], [0, 3]], dtype=np_dtype)
    t = dydx.from_numpy(source)
    assert t.dtype is dtype
    assert np.asarray(t).dtype == np_dtype
    np.testing.assert_array_equal(np.asarray(t), source)


def test_from_numpy_shares_memory():
    a = np.zeros((2, 3))
    t = dydx.from_numpy(a)
    t[0] = 1.5
    assert a[0].tolist() == [1.5, 1.5, 1.5]
    a[1, 1] = 9
    assert t[1, 1].item() == 9


def test_from_numpy_keeps_a_non_contiguous_view_zero_copy():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]
    t = dydx.from_numpy(a)
    assert t.stride() == (4, 2)
    t[2, 1] = -1
    assert a[2, 1] == -1


def test_a_numpy_array_keeps_the_tensors_storage_alive():
    t = dydx.arange(1000.0) * 2
    a = np.asarray(t)
    del t
    gc.collect()
    dydx.zeros(1000) + 1  # reuses freed memory if the storage were gone
    assert a[999] == 1998.0


def test_a_tensor_keeps_the_numpy_array_alive():
    a = np.arange(1000.0)
    t = dydx.from_numpy(a)[10:]
    del a
    gc.collect()
    np.zeros(1000) + 1
    assert t[989].item() == 999.0


def test_torch_from_dlpack_shares_dydx_memory():
    t = dydx.arange(4.0)
    tt = torch.from_dlpack(t)
    tt[2] = 100
    assert t.tolist() == [0.0, 1.0, 100.0, 3.0]
    del t
    gc.collect()
    assert tt.tolist() == [0.0, 1.0, 100.0, 3.0]


def test_dydx_from_dlpack_shares_torch_memory():
    tt = torch.arange(6, dtype=torch.float64).reshape(2, 3).t()
    t = dydx.from_dlpack(tt)
    assert t.dtype is dydx.float64 and t.shape == (3, 2)
    t[0, 1] = -7
    assert tt[0, 1].item() == -7
    del tt
    gc.collect()
    assert t.tolist() == [[0.0, -7.0], [1.0, 4.0], [2.0, 5.0]]


def test_dlpack_device_is_cpu():
    assert dydx.zeros(1).__dlpack_device__() == (1, 0)


def test_numpy_refuses_a_tensor_that_requires_grad_as_torch_does():
    with pytest.raises(RuntimeError) as theirs:
        torch.zeros(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError) as ours:
        dydx.zeros(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError):
        np.asarray(dydx.zeros(2, requires_grad=True))
    assert str(ours.value) == str(theirs.value)


def test_read_only_arrays_are_refused():
    a = np.arange(3.0)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        dydx.from_numpy(a)
    # Through DLPack too: a memory-mapped file opened read-only, the bytes under np.frombuffer.
    with pytest.raises(ValueError, match="read-only"):
        dydx.from_dlpack(a)
    with pytest.raises(ValueError, match="read-only"):
        dydx.from_dlpack(np.frombuffer(b"01234567", dtype=np.float64))


def test_from_dlpack_refuses_a_torch_tensor_that_requires_grad_as_torch_does():
    leaf = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="require gradient"):
        dydx.from_dlpack(leaf)
    assert dydx.from_dlpack(leaf.detach()).tolist() == [1.0, 1.0]


def test_from_dlpack_keeps_the_exported_memory_alive():
    # A producer whose __dlpack__ exports a temporary: only the export keeps its memory, not the producer.
    class Producer:
        def __dlpack__(self, **kwargs):
            return np.arange(1000, dtype=np.float64).__dlpack__()

        def __dlpack_device__(self):
            return (1, 0)

    t = dydx.from_dlpack(Producer())
    gc.collect()
    junk = [np.full(1000, 7.0) for _ in range(200)]
    assert t[:3].tolist() == [0.0, 1.0, 2.0]
    # A torch tensor whose storage is replaced after the export: the export still holds the old one.
    x = torch.arange(5.0)
    t = dydx.from_dlpack(x)
    x.set_(torch.full((3,), 9.0))
    gc.collect()
    junk = [torch.full((5,), 7.0) for _ in range(200)]
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    del junk


@pytest.mark.parametrize("np_dtype", [np.float16, np.int32, np.uint8, np.complex64])
def test_unsupported_dtypes_are_refused_with_the_dtype_named(np_dtype):
    with pytest.raises(TypeError, match="not supported"):
        dydx.from_numpy(np.zeros(3, dtype=np_dtype))


def test_negative_strides_are_refused():
    with pytest.raises(ValueError, match="negative strides"):
        dydx.from_numpy(np.arange(4.0)[::-1])


@pytest.mark.parametrize("bad", [[1.0, 2.0], "array", 3, None])
def test_from_numpy_takes_only_arrays(bad):
    with pytest.raises(TypeError):
        dydx.from_numpy(bad)


def test_tensor_from_an_array_copies():
    a = np.ones(3)
    t = dydx.tensor(a)
    t[0] = 5
    assert a[0] == 1 and t.dtype is dydx.float64


JAX_PROGRAM = """
import gc
import jax.numpy as jnp
import numpy as np
import dydx

# dydx -> JAX: a large tensor (its storage 64-byte aligned, as XLA requires to share rather than copy).
t = dydx.arange(100000.0)
j = jnp.from_dlpack(t)
assert j.unsafe_buffer_pointer() == np.asarray(t).ctypes.data, "JAX copied dydx's memory"
t[0] = 9.0
assert float(j[0]) == 9.0
del t
gc.collect()
assert float(j[-1]) == 99999.0

# JAX -> dydx.
j = jnp.arange(100000.0, dtype=jnp.float32).reshape(1000, 100)
t = dydx.from_dlpack(j)
assert np.asarray(t).ctypes.data == j.unsafe_buffer_pointer(), "dydx copied JAX's memory"
assert t.shape == (1000, 100) and t.dtype is dydx.float32
del j
gc.collect()
assert t[999, 99].item() == 99999.0
print("ok")
"""


def test_dlpack_with_jax_both_ways(tmp_path):
    # JAX needs NumPy 2 and torch 1.13 NumPy 1, so JAX lives in its own venv (scripts/test_python.sh makes it);
    # this installed dydx package is imported there by path.
    import os
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[2]
    jax_python = root / "build-python" / "jax-venv" / "bin" / "python"
    if subprocess.run([str(jax_python), "-c", "import jax"], capture_output=True).returncode != 0:
        pytest.skip(f"no JAX in {jax_python.parent.parent} (scripts/test_python.sh installs it)")
    (tmp_path / "dydx").symlink_to(pathlib.Path(dydx.__file__).parent)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = subprocess.run([str(jax_python), "-c", JAX_PROGRAM], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
