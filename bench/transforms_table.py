"""Prints the medians of a bench_transforms JSON run and the transforms issue's ratios, all from that run."""
import json
import sys


def medians(path):
    with open(path) as f:
        data = json.load(f)
    out = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = b["run_name"].replace("/real_time", "").replace("/iterations:2", "")
            out[name] = b["real_time"]  # milliseconds, as every benchmark here reports
    return out


def main():
    m = medians(sys.argv[1])
    print("| workload | median (ms) |")
    print("|---|--:|")
    for name, t in m.items():
        print(f"| {name} | {t:.3f} |")
    print()
    print("| ratio | value | target |")
    print("|---|--:|---|")

    def ratio(label, num, den, target):
        if num in m and den in m:
            print(f"| {label} | {m[num] / m[den]:.1f}x | {target} |")

    for shape in ("m:1000/n:16", "m:100000/n:64", "m:1000000/n:64"):
        ratio(f"seed {shape}: grad loop / batch_jacobian", f"BM_SeedGradLoop/{shape}",
              f"BM_SeedBatchJacobian/{shape}", ">= 30x at m:100000/n:64")
        ratio(f"seed {shape}: expand trick / batch_jacobian", f"BM_SeedExpandTrick/{shape}",
              f"BM_SeedBatchJacobian/{shape}", "")
    for b in ("B:10000", "B:100000"):
        ratio(f"MLP {b}: batch_jacobian / forward", f"BM_MlpBatchJacobian/{b}", f"BM_MlpForward/{b}", "<= 3x")
        ratio(f"MLP {b}: laplacian / forward", f"BM_MlpLaplacian/{b}", f"BM_MlpForward/{b}", "<= 6x")


if __name__ == "__main__":
    main()
