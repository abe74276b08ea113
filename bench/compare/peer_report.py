"""What peers_torch.py and peers_jax.py share: harness.hpp's timing rule, its memory mode, the taylor family's batch
sizes and the report of cases (standard library only, so that both interpreters can import it)."""
import ctypes
import gc
import os
import re
import sys
import time

# The taylor family's batch sizes, as harness.hpp's kTaylorLaplacianBatches and kTaylorBiharmonicBatches (subsets of
# the collapsed-Taylor paper's grids; DYDX_TAYLOR_BATCHES="1,228,2048" replaces both).
TAYLOR_LAPLACIAN_BATCHES = [1, 228, 455]
TAYLOR_BIHARMONIC_BATCHES = [1, 114, 228]


def taylor_batches(biharmonic):
    env = os.environ.get("DYDX_TAYLOR_BATCHES")
    if env is not None:
        return [int(b) for b in env.split(",") if b]
    return TAYLOR_BIHARMONIC_BATCHES if biharmonic else TAYLOR_LAPLACIAN_BATCHES


def proc_status_bytes(field):
    """A field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_memory(fn):
    """harness.hpp's memory mode: after the warm-up, Python's garbage and what glibc keeps are given back, VmHWM is
    reset to VmRSS (echo 5 > /proc/self/clear_refs), one call runs, and VmHWM is read."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = proc_status_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    t0 = time.perf_counter()
    fn(False)
    seconds = time.perf_counter() - t0
    peak = proc_status_bytes("VmHWM")
    return {"rss_before_bytes": before, "peak_rss_bytes": peak, "peak_over_before_bytes": peak - before,
            "call_s": seconds}


def measure(fn):
    """After the warm-up (the checked call, which also compiles under JAX), one timed call sizes the repetitions.
    Calls over 0.2 s get 3 repetitions of one call, the sizing call being the first (over 5 s, the only one);
    shorter ones get 5 repetitions of enough back-to-back calls to last 50 ms. Median per-call time."""
    t0 = time.perf_counter()
    fn(False)
    one = time.perf_counter() - t0
    reps, calls = (1 if one > 5 else 3, 1) if one > 0.2 else (5, max(1, int(0.05 / max(one, 1e-9))))
    per_call = [one] if one > 0.2 else []  # a long sizing call is the first repetition
    while len(per_call) < reps:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(False)
        per_call.append((time.perf_counter() - t0) / calls)
    per_call.sort()
    return {"median_s": per_call[len(per_call) // 2], "min_s": per_call[0], "max_s": per_call[-1],
            "reps": reps, "calls_per_rep": calls}


class Report:
    """With COMPARE_MEMORY_METHOD=NAME in the environment (harness.hpp's memory mode, for bench/taylor/memory.py),
    only the methods named NAME run, once as the warm-up and once measured by measure_memory(); a case function
    with a memory_extra attribute adds its fields (JAX's compiled memory analysis). COMPARE_MEMORY_METHOD=? lists
    the methods, running none."""
    def __init__(self, tool, only):
        self.tool = tool
        self.only = re.compile(only)
        self.cases = {}
        self.memory_method = os.environ.get("COMPARE_MEMORY_METHOD") or None

    def wants(self, key):
        return bool(self.only.search(key))

    def run(self, key, method, fn):
        """fn(check): one call; with check=True it returns a checksum of its result and raises if it is wrong."""
        if not self.wants(key):
            return
        if self.memory_method == "?":
            self.cases.setdefault(key, {})[method] = {"listed": True}
            return
        if self.memory_method is not None and method != self.memory_method:
            return
        print(f"  {'memory: ' if self.memory_method else ''}{self.tool} {key} {method} ... ", end="", file=sys.stderr,
              flush=True)
        try:
            check = float(fn(True))
            if self.memory_method:
                entry = measure_memory(fn)
                entry.update(getattr(fn, "memory_extra", dict)())
                mib = lambda name: entry[name] / 2**20
                print(f"{mib('peak_over_before_bytes'):.1f} MiB over {mib('rss_before_bytes'):.1f} MiB", file=sys.stderr)
            else:
                entry = measure(fn)
                print(f"{entry['median_s']:.4g} s", file=sys.stderr)
            entry["check"] = check
        except Exception as e:  # a workload a library cannot do is a result to report
            entry = {"failed": f"{type(e).__name__}: {e}".splitlines()[0]}
            print(f"FAILED: {entry['failed']}", file=sys.stderr)
        self.cases.setdefault(key, {})[method] = entry

    def skip(self, key, method, why):
        if self.wants(key):
            self.cases.setdefault(key, {})[method] = {"skipped": why}
