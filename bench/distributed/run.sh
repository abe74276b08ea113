#!/usr/bin/env bash
# dydx::distributed's benchmarks (BENCHMARKS.md, "Distributed (MPI)"): all_reduce bandwidth against Open MPI's
# own MPI_Allreduce on 2 and 4 ranks, then a data-parallel training step of the physics-informed example on
# 1, 2 and 4 ranks with the same global batch. Builds in build-bench/ (Release). As root, Open MPI needs the
# two variables below; 4 ranks on a 2-core machine need --oversubscribe.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build-bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYDX_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target allreduce_bandwidth pinn_poisson_distributed
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
lscpu | grep -E "^Model name|^CPU\(s\)"
for np in 2 4; do
  mpirun -np "$np" --oversubscribe "$build/bench/allreduce_bandwidth" "$@"
done
# One thread per rank, so that 1, 2 and 4 ranks compare data parallelism alone; 64 x 64 interior points
# (4096) and 128 boundary points in all, 200 Adam steps, no L-BFGS.
for np in 1 2 4; do
  DYDX_NUM_THREADS=1 mpirun -np "$np" --oversubscribe "$build/examples/pinn_poisson_distributed" --adam 200 \
    --lbfgs 0 --interior 64 | grep -E "ms/step|PINN"
done
