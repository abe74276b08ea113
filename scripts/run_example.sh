#!/usr/bin/env bash
# Builds dydx and runs the main example: the seed document's computations, printed as PyTorch prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYDX_BUILD_TESTS=OFF -DDYDX_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build --target seed
build/examples/seed
