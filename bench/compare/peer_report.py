"""What peers_torch.py and peers_jax.py share: harness.hpp's timing rule and the report of cases (standard library
only, so that both interpreters can import it)."""
import re
import sys
import time


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
    def __init__(self, tool, only):
        self.tool = tool
        self.only = re.compile(only)
        self.cases = {}

    def wants(self, key):
        return bool(self.only.search(key))

    def run(self, key, method, fn):
        """fn(check): one call; with check=True it returns a checksum of its result and raises if it is wrong."""
        if not self.wants(key):
            return
        print(f"  {self.tool} {key} {method} ... ", end="", file=sys.stderr, flush=True)
        try:
            check = float(fn(True))
            entry = measure(fn)
            entry["check"] = check
            print(f"{entry['median_s']:.4g} s", file=sys.stderr)
        except Exception as e:  # a workload a library cannot do is a result to report
            entry = {"failed": f"{type(e).__name__}: {e}".splitlines()[0]}
            print(f"FAILED: {entry['failed']}", file=sys.stderr)
        self.cases.setdefault(key, {})[method] = entry

    def skip(self, key, method, why):
        if self.wants(key):
            self.cases.setdefault(key, {})[method] = {"skipped": why}
