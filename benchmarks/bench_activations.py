"""Every activation forward (into a preallocated out), in place and backward, for every
implementation (NumPy baseline, each available fastact backend, auto, PyTorch, ONNX Runtime
(forward only; skipped with the reason where it has no matching operator or fails the numerics
check, absent when onnxruntime is not installed), the memory floor),
size and dtype, from the one COMPARISONS map of `fastact.bench.implementations` (built from the
spec: a new activation is benchmarked without touching this file).

    pytest benchmarks --benchmark-only                         # everything (long: use -k)
    pytest benchmarks --benchmark-only -k "gelu and float32 and 1e7"
    pytest benchmarks --benchmark-only --benchmark-autosave    # saves .benchmarks/<machine>/0001_*.json
    pytest benchmarks --benchmark-only --benchmark-compare=0001 --benchmark-compare-fail=median:10%

Groups are "function|dtype|size", so each table puts the implementations of one function side by
side. Test ids are "function-dtype-size-implementation".

Warm-up: every callable runs once before pytest-benchmark times it, so Numba's compilation (or
cache loading) is not timed. In-place functions change their input, so they run in pedantic mode
with a setup that restores the input before every call (one call per round; at 10^3 elements the
clock's overhead, about 0.1 us, is in every implementation's number alike).
"""
from __future__ import annotations

import math
import time

import pytest

import fastact
from fastact.bench import implementations as impl

COMPARISONS = impl.comparisons()
_FUNCTIONS = {op.function(d): (op, d) for op in impl.ops() for d in impl.DIRECTIONS}


def _cases():
    for size in impl.SIZES + impl.SLOW_SIZES:
        marks = [pytest.mark.slow] if size in impl.SLOW_SIZES else []
        for dtype in impl.DTYPES:
            for function, implementations in COMPARISONS.items():
                for name in implementations:
                    yield pytest.param(size, dtype, function, name, marks=marks,
                                       id=f"{function}-{dtype}-{impl.size_label(size)}-{name}")


_workload = {}


def _get_workload(size, dtype) -> impl.Workload:
    """One workload alive at a time (cases are ordered by size, then dtype)."""
    if (size, dtype) not in _workload:
        _workload.clear()
        _workload[(size, dtype)] = impl.Workload(size, dtype)
        _workload[(size, dtype)].threads = fastact.get_num_threads()    # resets write in parallel too
    return _workload[(size, dtype)]


@pytest.mark.parametrize("size, dtype, function, implementation", list(_cases()))
def bench_activation(benchmark, request, size, dtype, function, implementation):
    op, direction = _FUNCTIONS[function]
    workload = _get_workload(size, dtype)
    bound = workload.bind(op)
    try:
        fn = COMPARISONS[function][implementation].make(bound)
    except LookupError as exc:                 # an op PyTorch or ONNX Runtime does not have
        pytest.skip(str(exc))
    benchmark.group = f"{function}|{dtype}|{impl.size_label(size)}"
    benchmark.extra_info.update({
        "function": function, "op": op.label, "direction": direction, "dtype": dtype, "size": size,
        "shape": list(bound.shape), "implementation": implementation,
        "call": getattr(fn, "note", COMPARISONS[function][implementation].note),
    })
    if direction == "inplace":
        workload.reset()
        fn()                                   # warm-up (compilation)
        workload.reset()
        t0 = time.perf_counter()
        fn()
        seconds = max(time.perf_counter() - t0, 1e-7)
        max_time = float(request.config.getoption("benchmark_max_time"))
        min_rounds = int(request.config.getoption("benchmark_min_rounds"))
        rounds = max(min_rounds, min(100_000, math.ceil(max_time / seconds)))
        benchmark.pedantic(fn, setup=workload.reset, rounds=rounds, warmup_rounds=1)
        workload.reset()
    else:
        fn()                                   # warm-up (compilation)
        benchmark(fn)
