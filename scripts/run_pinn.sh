#!/usr/bin/env bash
# Builds dydx and runs the physics-informed network example (examples/pinn_poisson.cpp): trains an MLP on
# Poisson's equation, prints its progress and the error against the exact solution, and draws docs/pinn/*.png.
# Arguments go to the example (e.g. --adam 2000 --lbfgs 100 --out /tmp/pinn). With --torch, the same run in
# PyTorch 1.13 (examples/pinn_poisson_torch.py, Debian's python3-torch) follows, for comparison.
# Usage: scripts/run_pinn.sh [--adam N] [--lbfgs N] [--interior N] [--out DIR] [--torch]
set -euo pipefail
cd "$(dirname "$0")/.."
torch=0
args=() torch_args=()  # PyTorch's run takes the same --adam, --lbfgs and --interior
while (($#)); do
  case $1 in
    --torch) torch=1 ;;
    --adam | --lbfgs | --interior) args+=("$1" "$2") torch_args+=("$1" "$2"); shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYDX_BUILD_TESTS=OFF -DDYDX_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build --target pinn_poisson
build/examples/pinn_poisson "${args[@]}"
if ((torch)); then
  echo
  echo "The same run in PyTorch:"
  /usr/bin/python3 examples/pinn_poisson_torch.py "${torch_args[@]}"
fi
