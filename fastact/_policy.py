"""Dispatch policy: which backend "auto" means, and where serial kernels give way to parallel ones.

PARALLEL_THRESHOLD (elements) per cost class of ``fastact.spec.FAMILIES``: below it a kernel runs
on the calling thread, because starting a parallel region costs more than it saves.
"""
from __future__ import annotations

from . import _backends

# Placeholder until benchmarks/measure_thresholds.py has been run on this machine.
PARALLEL_THRESHOLD = {"memory": 1 << 16, "compute": 1 << 13}


def choose(family: str | None, dtype, size: int) -> str:
    """The backend "auto" picks for one call."""
    for name in _backends.KERNEL_BACKENDS:
        if _backends.available(name):
            return name
    return "numpy"


def describe() -> str:
    return choose(None, None, 0) + " (the first available of cython, numba, numpy)"

#: A size above every threshold, to ask `choose` for the large-array backend.
LARGE = 1 << 62
