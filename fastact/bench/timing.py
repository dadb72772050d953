"""A calibrated, interleaved median timer (in the spirit of timeit, pytest-benchmark and
bottleneck's autotimeit).

`measure_group` times the implementations of one function on the same arrays:

1. **Warm-up**: each callable is called twice before any timing. The first call is timed on its
   own and reported as ``first_call``: it includes Numba compilation (or loading the on-disk
   cache), PyTorch's first dispatch, page faults of fresh output arrays... none of which reaches
   the measurements.
2. **Calibration**: the number of calls per batch grows until one batch takes at least
   ``target`` seconds, so that the clock's resolution and the loop overhead do not matter.
3. **Interleaved rounds**: round r times one batch of every implementation in turn, so a noisy
   neighbour slows all implementations of a group alike rather than whichever ran at that moment.
   Up to ``repeats`` rounds; an implementation stops after ``min_repeats`` rounds once it has used
   its ``budget`` of seconds (slow baselines at 10^7).
   Before every timed batch the implementation runs untimed for ``settle`` seconds (at least one
   call): implementations disturb whoever runs after them. ONNX Runtime's pool spins for ~30 ms
   of CPU after each run (measured: it made the next 5 ms batch of fastact's relu at 10^6 float32
   4.6x slower), and a core whose thread slept for 10 ms or more runs the next calls up to 4x
   slower on these VMs. The settle period makes each batch start on running threads of its own.
   After a long batch (the one-thread NumPy baseline at 10^7: 40-100 ms with one core idle) the
   next implementation settles for 3x that batch (at most MAX_SETTLE): measured, fastact's silu_
   at 10^7 float64 ran 15 ms instead of 7-8 right after it, recovering over ~300 ms.
4. **Statistics**: the median time per call over the rounds (also min and interquartile range).

In-place functions change their input, and with it what the next call computes (relu_ of a
relu_ output never takes a branch). With a ``reset`` (restore the input), every call starts from
the pristine input: for batches of one call the reset runs outside the clock; for longer batches
it runs before every call inside the batch, and its own time, measured in the same round, is
subtracted.

The garbage collector is off while a batch runs.
"""
from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

__all__ = ["Timing", "measure_group", "measure"]

_clock = time.perf_counter


@dataclass
class Timing:
    """Seconds per call of one implementation."""

    median: float
    min: float
    iqr: float
    number: int          # calls per batch
    repeats: int         # batches (rounds) measured
    first_call: float    # the first warm-up call, compilation included

    def to_dict(self) -> dict:
        return asdict(self)


def _batch(fn, number, reset=None) -> float:
    """Seconds for `number` calls (each after a reset, when given)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if reset is None:
            t0 = _clock()
            for _ in range(number):
                fn()
            return _clock() - t0
        if number == 1:
            reset()
            t0 = _clock()
            fn()
            return _clock() - t0
        t0 = _clock()
        for _ in range(number):
            reset()
            fn()
        return _clock() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


#: Upper bound of the settle period (seconds).
MAX_SETTLE = 0.5


def _settle(fn, reset, seconds) -> None:
    """Call `fn` untimed for `seconds` (at least once)."""
    end = _clock() + seconds
    while True:
        if reset is not None:
            reset()
        fn()
        if _clock() >= end:
            return


def _calibrate(fn, reset, target, seconds_one_call, max_number=1 << 22) -> int:
    if seconds_one_call >= target:
        return 1
    number = max(1, int(target / max(seconds_one_call, 1e-9)))
    while number < max_number:
        elapsed = _batch(fn, number, reset)
        if elapsed >= target:
            break
        number = min(max_number, max(number * 2, math.ceil(number * 1.2 * target / max(elapsed, 1e-9))))
    return number


def measure_group(fns: dict[str, Callable[[], object]], *, reset: Callable[[], object] | None = None,
                  repeats: int = 7, min_repeats: int = 3, target: float = 0.005,
                  budget: float = 1.0, settle: float = 0.03) -> dict[str, Timing]:
    """Time every callable of `fns` (name -> zero-argument callable) on interleaved rounds.

    reset: called before every call when the callables change their input (see the module doc).
    target: seconds per batch; budget: seconds after which an implementation stops at
    `min_repeats` rounds; settle: seconds of untimed calls before each timed batch (three times
    the previous batch when that was longer). Returns name -> `Timing` (seconds per call)."""
    first, number = {}, {}
    for name, fn in fns.items():
        if reset is not None:
            reset()
        t0 = _clock()
        fn()
        first[name] = _clock() - t0
        if reset is not None:
            reset()
        t0 = _clock()
        fn()
        number[name] = _calibrate(fn, reset, target, _clock() - t0)

    # the reset's own cost per call, for batches of more than one call
    reset_batch = max((n for n in number.values() if n > 1), default=0) if reset is not None else 0
    samples = {name: [] for name in fns}
    spent = dict.fromkeys(fns, 0.0)
    previous = 0.0                          # seconds of the batch timed last (any implementation)
    for round_ in range(repeats):
        active = [name for name in fns
                  if round_ < min_repeats or spent[name] < budget]
        if not active:
            break
        reset_cost = 0.0
        if reset_batch:
            reset_cost = _batch(reset, reset_batch) / reset_batch
        for name in active:
            n = number[name]
            # a long batch before (the one-thread NumPy baseline at 10^7) leaves a core idle for as
            # long; the multithreaded call after it then runs up to 2x slower for a few hundred ms
            _settle(fns[name], reset, min(max(settle, 3 * previous), MAX_SETTLE))
            elapsed = _batch(fns[name], n, reset)
            previous = elapsed
            spent[name] += elapsed
            per_call = elapsed / n
            if reset is not None and n > 1:
                per_call = max(per_call - reset_cost, 1e-10)
            samples[name].append(per_call)
    result = {}
    for name, values in samples.items():
        values.sort()
        q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
        result[name] = Timing(median=statistics.median(values), min=values[0], iqr=q[2] - q[0],
                              number=number[name], repeats=len(values), first_call=first[name])
    return result


def measure(fn: Callable[[], object], **options) -> Timing:
    """Time one callable (see `measure_group`)."""
    return measure_group({"fn": fn}, **options)["fn"]
