#!/usr/bin/env bash
# Kept for the command BENCHMARKS.md names: the dydx-vs-libtorch comparison is now part of bench/compare/run.sh.
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/compare/run.sh" "$@"
