"""Measure the Cython kernels against the Numba ones and the NumPy baseline, for the "auto" policy.

    python benchmarks/measure_cython.py [--sizes 1000,100000,10000000] [--threads 2]
                                        [--dtypes float32,float64] [--families gelu,relu]
                                        [--json results.json]

For every kernel family of fastact.spec.FAMILIES (each represented by its first activation in
the spec), forward and backward, in place (forward: out is x; backward: out is grad), at each size
and dtype: the median time of

* cython serial (nchunks=1) and cython parallel (nchunks=threads),
* numba serial and numba parallel (the same ABI, through the backend modules),
* numpy: the fastact.reference function writing into the preallocated array.

Each timed call starts from the same data (restored, untimed, before every call: repeating an
in-place call would drift the data towards subnormals, which are slow on x86).  A row measured
while other processes kept a core busy says so: a parallel kernel then waits for its descheduled
thread (milliseconds), so such rows say nothing about parallel speed.  Kernels are called
directly, so dispatch overhead is excluded (measure that with the public functions).  Also prints
the per-call overhead of the Cython contiguous serial kernel, and the variant in use
(FASTACT_CYTHON_VARIANT=baseline|avx2|avx512 measures another one).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from fastact import _backends, reference
from fastact.spec import FAMILIES, SPECS


def representatives():
    """family -> (activation name, its parameter values, kernel args): the first activation of
    the spec that uses the family (with its defaults, or its first example for required ones)."""
    found = {}
    for spec in SPECS.values():
        if spec.kind != "elementwise":
            continue
        base = {p.name: p.default for p in spec.params if not p.required}
        sets = [{**base, **example} for example in spec.examples]
        if not any(p.required for p in spec.params):
            sets.insert(0, base)
        for params in sets:                     # gelu's tanh example is the gelu_tanh family
            family, kargs = spec.kernel(*(params[p.name] for p in spec.params))
            found.setdefault(family, (spec.name, params, kargs))
    return found


def _busy_jiffies():
    """Clock ticks the CPUs were busy or stolen by the hypervisor (a VM's vCPU not running is
    contention too), from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def median_time(call, restore, budget=0.25, min_samples=5, max_samples=2000):
    """Median seconds of call(), restore() run untimed before each; the timer's own cost is
    subtracted.  Records in CONTENTION how much CPU other processes used meanwhile."""
    timer = time.perf_counter_ns
    samples = []
    restore()
    call()                                  # warm up (and compile, for numba)
    busy0, own0, start = _busy_jiffies(), os.times(), time.perf_counter()
    while len(samples) < min_samples or (len(samples) < max_samples
                                         and time.perf_counter() - start < budget):
        restore()
        t0 = timer()
        call()
        samples.append(timer() - t0)
    busy1, own1, elapsed = _busy_jiffies(), os.times(), time.perf_counter() - start
    if busy0 is not None:
        tick = os.sysconf("SC_CLK_TCK")
        own = (own1.user + own1.system) - (own0.user + own0.system)
        CONTENTION.append(max(0.0, ((busy1 - busy0) / tick - own) / elapsed))   # cores not ours
    return max(statistics.median(samples) - _TIMER_NS, 1.0) * 1e-9


#: other processes' CPU use (in cores) during each measurement of the current row
CONTENTION: list = []


def _timer_cost():
    timer = time.perf_counter_ns
    costs = []
    for _ in range(20000):
        t0 = timer()
        costs.append(timer() - t0)
    return statistics.median(costs)


_TIMER_NS = _timer_cost()


def measure(sizes, dtypes, threads, families=None, budget=0.25):
    cy = _backends.load("cython")
    nb = _backends.load("numba")
    rows = []
    reps = representatives()
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        for n in sizes:
            rng = np.random.default_rng(0)
            x0 = rng.uniform(-6, 6, n).astype(dtype)
            g0 = rng.uniform(-1, 1, n).astype(dtype)
            x = x0.copy()
            g = g0.copy()

            def restore_x():
                np.copyto(x, x0)

            def restore_g():
                np.copyto(g, g0)

            for family in FAMILIES:
                if families and family not in families:
                    continue
                name, params, kargs = reps[family]
                args = tuple(dtype.type(a) for a in kargs)
                for direction in ("forward", "backward"):
                    row = {"family": family, "activation": name, "direction": direction,
                           "dtype": dtype.name, "n": n}
                    CONTENTION.clear()
                    if direction == "forward":
                        ref = getattr(reference, name)
                        row["numpy"] = median_time(lambda: ref(x, **params, out=x), restore_x, budget)
                        call_args = (x, x)
                        restore = restore_x
                    else:
                        ref = getattr(reference, name + "_backward")
                        row["numpy"] = median_time(lambda: ref(g, x, **params, out=g), restore_g, budget)
                        call_args = (g, x, g)
                        restore = restore_g
                    for label, module in (("cython", cy), ("numba", nb)):
                        if module is None:
                            continue
                        try:
                            serial = module.elementwise_kernel(family, direction, dtype, True, False)
                            parallel = module.elementwise_kernel(family, direction, dtype, True, True)
                        except Exception as exc:          # e.g. a backend still being written
                            row[f"{label}_error"] = f"{type(exc).__name__}: {exc}"
                            continue
                        row[f"{label}_serial"] = median_time(lambda: serial(*call_args, args, 1), restore, budget)
                        module.set_threads(threads)
                        row[f"{label}_parallel"] = median_time(lambda: parallel(*call_args, args, threads),
                                                               restore, budget)
                    row["other_processes_cores"] = max(CONTENTION, default=0.0)
                    rows.append(row)
                    print(_format_row(row), flush=True)
    return rows


def _us(seconds):
    return f"{seconds * 1e6:10.2f}" if seconds is not None else "       n/a"


def _format_row(row):
    best = {b: min(v for k, v in row.items() if k.startswith(b + "_") and isinstance(v, float))
            for b in ("cython", "numba") if any(k.startswith(b + "_") and isinstance(v, float) for k, v in row.items())}
    winner = min(best, key=best.get) if best else "-"
    return (f"{row['family']:12s} {row['direction']:8s} {row['dtype']:7s} {row['n']:>9,d} | "
            f"cy {_us(row.get('cython_serial'))} {_us(row.get('cython_parallel'))} | "
            f"nb {_us(row.get('numba_serial'))} {_us(row.get('numba_parallel'))} | "
            f"np {_us(row.get('numpy'))} | {winner}"
            + (f"  (other processes / the hypervisor took {row['other_processes_cores']:.1f} cores)"
               if row.get("other_processes_cores", 0) > 0.2 else ""))


def overhead(samples=200_000):
    """ns per call of the contiguous serial Cython relu kernel on 1 and on 1,000 float32."""
    cy = _backends.load("cython")
    kernel = cy.elementwise_kernel("relu", "forward", np.float32, True, False)
    result = {}
    for n in (1, 1000):
        x = np.ones(n, np.float32)
        best = float("inf")
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(samples // 10):
                kernel(x, x, (), 1)
            best = min(best, (time.perf_counter() - t0) / (samples // 10))
        result[n] = best * 1e9
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,10000000")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default="")
    parser.add_argument("--budget", type=float, default=0.25, help="seconds of samples per measurement")
    parser.add_argument("--json", default="")
    options = parser.parse_args()
    cy = _backends.load("cython")
    if cy is None:
        raise SystemExit(f"cython backend not available: {_backends.why_unavailable('cython')}")
    print("cython:", cy.info())
    print("numba:", "available" if _backends.load("numba") else _backends.why_unavailable("numba"))
    print(f"load average: {os.getloadavg()}; timer cost subtracted: {_TIMER_NS:.0f} ns")
    print("times in microseconds (median); cy/nb: serial, parallel; winner = faster compiled backend")
    rows = measure([int(s) for s in options.sizes.split(",")], options.dtypes.split(","), options.threads,
                   [f for f in options.families.split(",") if f], options.budget)
    ns = overhead()
    print(f"per-call overhead, cython contiguous serial relu float32: n=1 {ns[1]:.0f} ns, n=1000 {ns[1000]:.0f} ns")
    if options.json:
        with open(options.json, "w") as f:
            json.dump({"cython": cy.info(), "rows": rows, "overhead_ns": ns,
                       "loadavg": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
