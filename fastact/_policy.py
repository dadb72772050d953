"""Dispatch policy: which backend "auto" means, and where serial kernels give way to parallel ones.

Both were decided from measurements on the development machine (Intel Xeon, Emerald Rapids,
2 cores, AVX-512; gcc 12, Numba 0.68; 2026-11-23), float32 and float64, in place, median times:

* Backend. ``benchmarks/measure_cython.py`` timed every family's forward and backward at 1e3,
  1e5 and 1e7 elements: the Cython kernels (AVX-512 variant, 512-bit vectors) were faster than the
  Numba ones in every one of the 228 comparisons (median 3.5-6.8x; Numba's in-place kernels then
  fell back to scalar code, since fixed — out of place Numba was 1.2-1.4x behind, 256-bit vectors).
  So "auto" is Cython wherever it is built, then Numba, then the NumPy reference; the choice does
  not depend on op, dtype or size today, but `choose` takes them so that it can.
* Parallel thresholds. ``benchmarks/measure_thresholds.py --backend cython`` (2 threads, float32):
  the parallel kernel first beats the serial one by >= 10% at 65,536 elements for the select-only
  families (relu 1.27x, leaky_relu 1.32x, hardtanh 1.32x there; 0.7-0.8x at 16,384) and at
  16,384 for the exp/tanh families (sigmoid 1.52x, tanh 1.18x; 0.7-0.9x at 4,096). Below, the
  cost of waking the second thread (~2 us) exceeds the work.

Caveat: on a machine whose other cores are busy, every parallel region waits for a descheduled
thread (milliseconds); ``fa.set_num_threads(1)`` avoids that.
"""
from __future__ import annotations

from . import _backends

#: Elements from which kernels of each cost class (``fastact.spec.Family.cost``) run in parallel.
PARALLEL_THRESHOLD = {"memory": 1 << 16, "compute": 1 << 14}

#: Backends "auto" tries, best first.
PREFERENCE = ("cython", "numba")

#: A size above every threshold, to ask `choose` for the large-array backend.
LARGE = 1 << 62


def choose(family: str | None, dtype, size: int) -> str:
    """The backend "auto" picks for one call (see the module docstring for why)."""
    for name in PREFERENCE:
        if _backends.available(name):
            return name
    return "numpy"


def describe() -> str:
    return choose(None, None, 0) + " (the first available of " + ", ".join(PREFERENCE) + ", numpy)"
