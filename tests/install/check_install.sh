#!/usr/bin/env bash
# Installs the built dydx into a scratch prefix, then builds and runs a consumer project against it.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir" -B "$scratch/build" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/build"
export LD_LIBRARY_PATH="$scratch/prefix/lib:$scratch/prefix/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
"$scratch/build/consumer"
# Built where the installed package has dydx::distributed (MPI was found when dydx was built).
if [[ -x "$scratch/build/consumer_distributed" ]]; then
  "$scratch/build/consumer_distributed"
elif grep -q "dydx::distributed" "$scratch"/prefix/lib*/cmake/dydx/dydxTargets.cmake "$scratch"/prefix/lib/*/cmake/dydx/dydxTargets.cmake 2>/dev/null; then
  echo "the installed package has dydx::distributed but the consumer did not build against it" >&2
  exit 1
fi
