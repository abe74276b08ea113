"""The timing rule of the side-by-side Python benchmarks (selections.py, linear_solve.py,
activations_backward.py): the best of `repeats` calls after one call to warm up. The minimum, since on a
shared VM other processes only ever add time."""

import time


def best_ms(f, repeats):
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3
