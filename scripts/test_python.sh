#!/usr/bin/env bash
# Builds the Python package (python/) into build-python/venv and runs its pytest suite, with PyTorch
# 1.13 (Debian's python3-torch) as the oracle in the same process.
#
# The venv is made from Debian's /usr/bin/python3 (the `python3` on PATH may be another interpreter)
# with --system-site-packages, so that it sees python3-torch and python3-numpy; the package installs
# with --no-deps so that pip never swaps that NumPy 1.x (which torch 1.13 needs) for a 2.x.
# scikit-build-core keeps its build folder (python/build/) between runs, so a rerun recompiles only
# what changed; a fresh clone compiles the library once more, static and without tests or examples.
# --install-only stops after the install (bench/compare/run.sh uses it for its Python column).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=build-python/venv
if ! "$venv/bin/python" -c "import scikit_build_core, nanobind, pytest" 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q "scikit-build-core>=0.10" "nanobind>=2.4" pytest
fi
# JAX for the DLPack tests with JAX, in a venv of its own: it needs NumPy 2, which torch 1.13 cannot
# import. Without network the JAX test is skipped (it says so), so a failure here only warns.
jax_venv=build-python/jax-venv
if ! "$jax_venv/bin/python" -c "import jax" 2>/dev/null; then
  { /usr/bin/python3 -m venv "$jax_venv" && "$jax_venv/bin/pip" install -q "jax[cpu]"; } \
    || echo "warning: could not install jax into $jax_venv; the JAX DLPack test will be skipped" >&2
fi
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$venv/bin/pip" install -q --no-deps --no-build-isolation ./python
[[ ${1:-} == --install-only ]] && exit 0
# From the repository root, so that python/dydx (the sources, without the compiled module) is not
# what `import dydx` finds.
"$venv/bin/python" -m pytest -q python/tests
