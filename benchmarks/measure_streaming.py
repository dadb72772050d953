"""Measure where streaming (non-temporal) stores start to pay, for out-of-place kernels.

    python benchmarks/measure_streaming.py [--backend cython] [--threads 2] [--sizes 1e6,1e7]

For each size and dtype, times a few families' contiguous out-of-place kernels with ordinary
stores and with streaming stores (``elementwise_kernel(..., stream=True)``), and softmax,
log_softmax and their backward in rows of SOFTMAX_ROW elements (``softmax_kernel``'s `stream`),
and prints the medians and their ratio, with the call's memory traffic (inputs + output).  Each
kernel is called repeatedly on the same arrays, in runs of 8 calls (the first 2 of each run discarded), the two
kinds of kernel alternating by run: a streaming store evicts the output that an ordinary kernel
called right after it would otherwise find in the cache, so interleaving single calls would bias
the comparison.  fastact/_policy.py's STREAM_FROM_BYTES records the result for this machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastact as fa
from fastact import _backends, reference

CASES = (("relu", "forward"), ("sigmoid", "forward"), ("tanh", "forward"), ("gelu", "forward"),
         ("sigmoid", "backward_from_output"), ("silu", "backward"))
SOFTMAX_CASES = (("softmax", "forward"), ("log_softmax", "forward"), ("softmax", "backward"),
                 ("log_softmax", "backward"))
SOFTMAX_ROW = 1000
RUNS, CALLS, WARM = 5, 8, 2


def _arrays(n, dtype, direction):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(dtype)
    out = np.empty_like(x)
    if direction == "forward":
        return (x, out)
    grad = rng.standard_normal(n).astype(dtype)
    saved = reference.sigmoid(x) if direction == "backward_from_output" else x
    return (grad, saved, out)


def _medians(kernels, arrays, nchunks):
    """{name: median seconds} of kernel(*arrays, nchunks) (arrays: every argument before nchunks)."""
    times = {name: [] for name in kernels}
    for _ in range(RUNS):
        for name, kernel in kernels.items():
            for call in range(CALLS):
                t0 = time.perf_counter()
                kernel(*arrays, nchunks)
                elapsed = time.perf_counter() - t0
                if call >= WARM:
                    times[name].append(elapsed)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cython", choices=("cython", "numba"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="1e6,3e6,1e7,2e7")
    parser.add_argument("--dtypes", default="float32,float64")
    ns = parser.parse_args()
    module = _backends.load(ns.backend)
    if module is None:
        raise SystemExit(f"the {ns.backend} backend is not available: {_backends.why_unavailable(ns.backend)}")
    fa.set_num_threads(ns.threads)
    module.set_threads(ns.threads)
    parallel = ns.threads > 1
    print(f"{ns.backend}, {ns.threads} threads; medians of {RUNS * (CALLS - WARM)} calls\n")
    print("| dtype | size | traffic MB | function | direction | ordinary ms | streaming ms | ordinary / streaming |")
    print("|---|---:|---:|---|---|---:|---:|---:|")
    for dtype in ns.dtypes.split(","):
        for size in ns.sizes.split(","):
            n = int(float(size))
            for family, direction in CASES:
                arrays = _arrays(n, np.dtype(dtype), direction)
                kernels = {stream: module.elementwise_kernel(family, direction, dtype, True, parallel, stream=stream)
                           for stream in (False, True)}
                t = _medians(kernels, arrays + ((),), ns.threads)
                _row(dtype, size, arrays, family, direction, t)
            rows = n // SOFTMAX_ROW
            for name, direction in SOFTMAX_CASES:
                log = name == "log_softmax"
                x = _arrays(rows * SOFTMAX_ROW, np.dtype(dtype), "forward")[0].reshape(rows, SOFTMAX_ROW)
                out = np.empty_like(x)
                kernel = module.softmax_kernel(direction, dtype, parallel)
                if direction == "forward":
                    arrays = (x, out)
                else:
                    y = np.empty_like(x)
                    module.softmax_kernel("forward", dtype, parallel)(x, y, log, ns.threads, False)
                    arrays = (x[::-1].copy(), y, out)                 # grad: any values
                # k(*arrays, log, nchunks, stream)
                kernels = {stream: (lambda *a, stream=stream: kernel(*a, stream)) for stream in (False, True)}
                t = _medians(kernels, arrays + (log,), ns.threads)
                _row(dtype, size, arrays, f"{name} (rows of {SOFTMAX_ROW})", direction, t)


def _row(dtype, size, arrays, family, direction, t):
    traffic = sum(a.nbytes for a in arrays) / 1e6
    print(f"| {dtype} | {size} | {traffic:.0f} | {family} | {direction} | {t[False] * 1e3:.3f} | "
          f"{t[True] * 1e3:.3f} | {t[False] / t[True]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
