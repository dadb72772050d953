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

* Streaming stores (out of place, contiguous).  ``benchmarks/measure_streaming.py`` (Cython, 2
  threads, each kernel called repeatedly on the same arrays, as a loop over one buffer would;
  ordinary / streaming time): from about 100 MB of traffic (inputs + output) the arrays no longer
  stay in the last-level cache between calls and skipping the write-allocate read pays --
  10**7 float64 forward relu 1.50x, sigmoid 1.23x, sigmoid's backward from the output 1.24x;
  2*10**7 float32 forward relu 1.54x, sigmoid 1.43x; 10**7 float32 backward (120 MB) 1.05-1.18x.
  Below, they lose (they also evict the output that the next call would find cached): 10**7
  float32 forward (80 MB) 0.93-1.00x, 3*10**6 elements 0.90-0.98x.  (The Numba kernels: 10**7
  float64 relu 1.29x, sigmoid backward from the output 1.36x; float32 forward 0.90-0.95x.)

Caveat: on a machine whose other cores are busy, every parallel region waits for a descheduled
thread (milliseconds); ``fa.set_num_threads(1)`` avoids that.
"""
from __future__ import annotations

import numpy as np

from . import _backends

#: Elements from which kernels of each cost class (``fastact.spec.Family.cost``) run in parallel.
PARALLEL_THRESHOLD = {"memory": 1 << 16, "compute": 1 << 14}

#: Bytes of memory traffic (inputs + output) from which out-of-place contiguous kernels write
#: their output with streaming stores.
STREAM_FROM_BYTES = 96 << 20

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


def stream_from(dtype, inputs: int) -> int:
    """Elements from which an out-of-place kernel over `inputs` arrays of `dtype` streams its
    output (STREAM_FROM_BYTES of traffic)."""
    return -(-STREAM_FROM_BYTES // ((inputs + 1) * np.dtype(dtype).itemsize))


def describe() -> str:
    return choose(None, None, 0) + " (the first available of " + ", ".join(PREFERENCE) + ", numpy)"
