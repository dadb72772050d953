"""Runs the benchmark matrix: dtypes x sizes x ops x directions x thread counts, every
implementation of a function timed on the same arrays with the same thread count.

The loops nest so that few big arrays are alive (one `Workload` per dtype and size) and so that
the thread counts of one function are measured one right after the other.  The run's first group
is measured twice and the first measurement dropped (`warm_up_first_group`): in a full run on
2026-12-02 it came out 2-4x slow for every implementation but ONNX Runtime and normal when run
again right after, with the cause unknown (the thread pools' first regions, the first touch of
the arrays and the clock ramping up are candidates).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import fastact

from . import implementations as impl
from .progress import Progress
from .timing import measure_group

__all__ = ["Options", "RunResult", "run", "set_threads"]


@dataclass
class Options:
    ops: list                                   # implementations.Op
    sizes: list
    dtypes: list
    directions: list
    implementations: list                       # names, "numpy" and "floor" included
    threads: list
    repeats: int = 7
    min_repeats: int = 3
    target: float = 0.005                       # seconds per timed batch
    budget: float = 1.0                         # seconds per implementation and function
    settle: float = 0.03                        # untimed seconds before each timed batch
    quick: bool = False
    warm_up_first_group: bool = True            # measure the first group once untimed first


@dataclass
class RunResult:
    records: list = field(default_factory=list)         # one per function x dtype x size x threads x implementation
    errors: list = field(default_factory=list)
    warmup: dict = field(default_factory=dict)          # implementation -> seconds of first calls beyond the timed median
    notes: dict = field(default_factory=dict)           # function -> implementation -> how it is called
    started: float = 0.0
    finished: float = 0.0
    loadavg: dict = field(default_factory=dict)


def set_threads(n: int, torch: bool) -> None:
    """One thread count for every fastact backend and for PyTorch."""
    fastact.set_num_threads(n)
    if torch:
        import torch as _torch
        _torch.set_num_threads(n)


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def run(options: Options, progress: Progress | None = None) -> RunResult:
    """Measure every function of `options` with every implementation; see the module doc."""
    result = RunResult(started=time.time())
    result.loadavg["start"] = _loadavg()
    result.warmup = dict.fromkeys(options.implementations, 0.0)
    steps = len(options.dtypes) * len(options.sizes) * len(options.ops) * len(options.directions) * len(options.threads)
    session = _Session(options, result, progress or Progress(steps, enabled=False))
    warm_up = options.warm_up_first_group
    for dtype in options.dtypes:
        for size in options.sizes:
            workload = impl.Workload(size, dtype)
            for op in options.ops:
                bound = workload.bind(op)
                for direction in options.directions:
                    for threads in options.threads:
                        if warm_up:
                            session.measure(workload, bound, direction, threads, record=False)
                            warm_up = False
                        session.measure(workload, bound, direction, threads)
                del bound
            del workload
    result.finished = time.time()
    result.loadavg["end"] = _loadavg()
    return result


class _Session:
    def __init__(self, options: Options, result: RunResult, progress: Progress):
        self.options, self.result, self.progress = options, result, progress
        self.use_torch = "torch" in options.implementations
        self.maps = {n: impl.comparisons(options.ops, options.directions, options.implementations, threads=n)
                     for n in options.threads}
        self.reported: set = set()
        self.warned_compile = False

    def _prepare(self, implementations, workload, bound, function, direction, threads, record=True):
        """name -> callable of the implementations that run, their first (compiling) call's time and
        how each is called; an implementation that fails is reported once and left out."""
        fns, first, calls = {}, {}, {}
        for name, implementation in implementations.items():
            try:
                fn = implementation.make(bound)
                calls[name] = getattr(fn, "note", implementation.note)
                if direction == "inplace":
                    workload.reset()
                t0 = time.perf_counter()
                fn()                                    # fails here rather than inside the timer
                first[name] = time.perf_counter() - t0
                fns[name] = fn
            except Exception as exc:                    # a backend being built, an op torch lacks...
                message = f"{type(exc).__name__}: {exc}"
                if not record:                          # the warm-up: the recorded run reports it
                    continue
                self.result.errors.append({"function": function, "implementation": name,
                                           "dtype": workload.dtype.name, "size": workload.size,
                                           "threads": threads, "error": message})
                if (name, message) not in self.reported:
                    self.reported.add((name, message))
                    self.progress.write(f"note: {name} cannot run {function}: {message}")
        return fns, first, calls

    def measure(self, workload, bound, direction, threads, record=True):
        """Time one function on every implementation; `record`: keep the timings (else only the
        first calls' warm-up is counted)."""
        op, options, result = bound.op, self.options, self.result
        function = op.function(direction)
        label = f"{function} {workload.dtype.name} {impl.size_label(workload.size)} x{threads}"
        self.progress.set_status(label)
        set_threads(threads, self.use_torch)
        implementations = self.maps[threads][function]
        fns, first, calls = self._prepare(implementations, workload, bound, function, direction, threads,
                                          record)
        for name, call in calls.items():
            result.notes.setdefault(function, {})[name] = call
        workload.threads = threads
        reset = workload.reset if direction == "inplace" else None
        # ONNX Runtime's pool spins for ~30 ms of CPU after a run: time it last in each round, so
        # that the single-threaded NumPy baseline (and its settle period) follows it, not a
        # multithreaded implementation that would share its cores with the spinning threads.
        if "ort" in fns:
            fns["ort"] = fns.pop("ort")
        timings = measure_group(fns, reset=reset, repeats=options.repeats, min_repeats=options.min_repeats,
                                target=options.target, budget=options.budget,
                                settle=options.settle)
        if reset is not None:
            reset()
        for name, timing in timings.items():
            timing.first_call = first[name]             # the very first call: compilation included
            self._count_warmup(name, function, timing)
            if not record:
                continue
            result.records.append({
                "function": function, "op": op.label, "activation": op.name, "direction": direction,
                "params": _jsonable(op.param_dict()), "dtype": workload.dtype.name, "size": workload.size,
                "shape": list(bound.shape), "threads": threads, "implementation": name,
                "kind": implementations[name].kind, "call": calls[name],
                "median_s": timing.median, "min_s": timing.min, "iqr_s": timing.iqr, "number": timing.number,
                "repeats": timing.repeats, "first_call_s": timing.first_call,
            })
        if not record:
            return
        warm = sum(v for v in result.warmup.values() if v > 0.05)
        self.progress.update(label + (f"  (warm-up so far {warm:.1f} s)" if warm > 1 else ""))

    def _count_warmup(self, name, function, timing):
        excess = max(0.0, timing.first_call - 2 * timing.median)
        if excess <= 0.01:
            return
        self.result.warmup[name] += excess
        if excess > 0.3 and not self.warned_compile:
            self.warned_compile = True
            self.progress.write(
                f"note: the first call of {name} {function} took {timing.first_call:.1f} s (Numba compiles "
                "kernels, or loads them from its on-disk cache, on first use; PyTorch initialises lazily): "
                "warm-up is excluded from the timings and totalled at the end")


def _jsonable(params: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)) for k, v in params.items()}
