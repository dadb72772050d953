"""The memory floor: the plainest loops with a function's memory traffic, compiled by Numba.

Forward writes one array from another (``out[i] = x[i]``), in place reads and writes one array
(``x[i] = -x[i]``), backward reads two and writes one (``out[i] = grad[i] * x[i]``). No kernel
that moves the same bytes can be much faster; a kernel near the floor is memory-bound.

Each pass exists serial and parallel (``numba.prange`` over the thread count in force, the same
pool and count as fastact's Numba kernels). They are Numba loops rather than NumPy ufuncs because
NumPy runs on one thread, and a NumPy pass split over a Python thread pool pays for the pool on
every call: both come out slower than the kernels they are meant to bound. The report also times
the NumPy ufunc pass and keeps whichever is faster (`fastact.bench.implementations`).
"""
from __future__ import annotations

import numba

__all__ = ["copy", "negate", "multiply", "copy_parallel", "negate_parallel", "multiply_parallel",
           "with_threads"]

_options = {"cache": True, "nogil": True, "boundscheck": False}


@numba.njit(**_options)
def copy(x, out):
    for i in range(x.size):
        out[i] = x[i]


@numba.njit(**_options)
def negate(x):
    for i in range(x.size):
        x[i] = -x[i]


@numba.njit(**_options)
def multiply(grad, x, out):
    for i in range(x.size):
        out[i] = grad[i] * x[i]


@numba.njit(parallel=True, **_options)
def copy_parallel(x, out):
    for i in numba.prange(x.size):
        out[i] = x[i]


@numba.njit(parallel=True, **_options)
def negate_parallel(x):
    for i in numba.prange(x.size):
        x[i] = -x[i]


@numba.njit(parallel=True, **_options)
def multiply_parallel(grad, x, out):
    for i in numba.prange(x.size):
        out[i] = grad[i] * x[i]


def with_threads(kernel, threads: int):
    """kernel run with `threads` Numba threads (Numba's thread count is per calling thread)."""
    def run(*arrays):
        numba.set_num_threads(threads)
        return kernel(*arrays)
    return run
