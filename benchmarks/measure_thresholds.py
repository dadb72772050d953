"""Measure where parallel kernels start to beat serial ones, per cost class of kernel family.

    python benchmarks/measure_thresholds.py [--backend numba] [--threads 2]

For sizes 2**10 .. 2**21, times the serial and the parallel contiguous kernel of a few families
in place (median of repeated runs), and prints the smallest size from which the parallel kernel
is at least 10% faster at every larger size. fastact/_policy.py's PARALLEL_THRESHOLD records the
result for this machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from fastact import _backends
from fastact.spec import FAMILIES

FAMILIES_BY_COST = {"memory": ["relu", "leaky_relu", "hardtanh"], "compute": ["sigmoid", "gelu", "tanh"]}


def _median_time(fn, min_time=0.02, repeats=7):
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= min_time / repeats or number >= 1 << 20:
            break
        number *= 2
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def measure(backend="numba", threads=2, dtype=np.float32):
    module = _backends.load(backend)
    if module is None:
        raise SystemExit(f"{backend} backend not available: {_backends.why_unavailable(backend)}")
    sizes = [1 << k for k in range(10, 22)]
    result = {}
    for cost, families in FAMILIES_BY_COST.items():
        crossovers = []
        for family in families:
            args = tuple(np.dtype(dtype).type(a) for a in (0.01, 1.0, 1.0)[: len(FAMILIES[family].args)])
            serial = module.elementwise_kernel(family, "forward", dtype, True, False)
            parallel = module.elementwise_kernel(family, "forward", dtype, True, True)
            module.set_threads(threads)
            ratios = []
            for n in sizes:
                x = np.random.default_rng(0).uniform(-3, 3, n).astype(dtype)
                ts = _median_time(lambda: serial(x, x, args, 1))
                tp = _median_time(lambda: parallel(x, x, args, threads))
                ratios.append(ts / tp)
                print(f"{cost:8s} {family:12s} n={n:>8d} serial {ts * 1e6:9.2f} us  parallel {tp * 1e6:9.2f} us"
                      f"  speedup {ts / tp:5.2f}")
            first = next((n for i, n in enumerate(sizes) if all(r >= 1.1 for r in ratios[i:])), None)
            crossovers.append(first or sizes[-1])
        result[cost] = int(np.median(crossovers))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    options = parser.parse_args()
    result = measure(options.backend, options.threads, np.dtype(options.dtype))
    print("\nparallel threshold (elements):", result)


if __name__ == "__main__":
    main()
