"""The Numba backend: kernels compiled lazily on first use and cached on disk.

Implements the backend protocol of ``fastact._backends``: the dispatcher asks for a kernel by
(family, direction, dtype, layout, parallel) and calls it with the ABI described in `loops`.
"""
from __future__ import annotations

import ctypes
import os
import threading

import numba
import numpy as np

from ..spec import FAMILIES, PRELU_LAST_BLOCK, SOFTMAX_CHUNK, SOFTMAX_PREFETCH_MAX_BYTES, STREAM_ROW_MAX, prefetches
from . import loops
from .activations import build_families
from .mathfn import build_math

NAME = "numba"

_DTYPES = {np.dtype(np.float32): np.float32, np.dtype(np.float64): np.float64}
_SUFFIX = {np.float32: "f32", np.float64: "f64"}

#: (forward or backward loop, layout) -> template
_TEMPLATES = {
    ("forward", "contiguous"): loops.forward_contiguous,
    ("forward", "strided"): loops.forward_strided,
    ("backward", "contiguous"): loops.backward_contiguous,
    ("backward", "strided"): loops.backward_strided,
    ("forward", "inplace"): loops.forward_contiguous_inplace,
    ("backward", "inplace"): loops.backward_contiguous_inplace,
    ("forward", "stream"): loops.forward_contiguous_stream,
    ("backward", "stream"): loops.backward_contiguous_stream,
}

#: elementwise_kernel takes inplace=True (one-array kernels) for contiguous arrays.
INPLACE_KERNELS = True

_lock = threading.Lock()
_families: dict = {}      # F -> {family: SimpleNamespace}
_math: dict = {}          # F -> math namespace
_kernels: dict = {}       # key -> dispatcher


def _families_for(F):
    fams = _families.get(F)
    if fams is None:
        fams = _families[F] = build_families(F)
    return fams


def _math_for(F):
    ns = _math.get(F)
    if ns is None:
        ns = _math[F] = build_math(F)
    return ns


def _memo(key, make):
    kernel = _kernels.get(key)
    if kernel is None:
        with _lock:
            kernel = _kernels.get(key)
            if kernel is None:
                kernel = _kernels[key] = make()
    return kernel


def scalar_function(family: str, direction: str, dtype):
    """The jitted scalar function of a family: direction is "forward", "backward" or
    "backward_from_output"."""
    F = _DTYPES[np.dtype(dtype)]
    fn = getattr(_families_for(F)[family], direction)
    if fn is None:
        raise ValueError(f"kernel family {family!r} has no {direction}")
    return fn


def elementwise_kernel(family: str, direction: str, dtype, contiguous: bool, parallel: bool,
                       inplace: bool = False, *, stream: bool = False, cache=None):
    """Kernel for `family`; direction "forward" -> k(x, out, args, nchunks), "backward" or
    "backward_from_output" -> k(grad, saved, out, args, nchunks); with inplace=True (contiguous
    only) the output argument is dropped and the first array is overwritten; with stream=True
    (contiguous, out of place) the output is written with streaming stores."""
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}")
    if (inplace or stream) and not contiguous:
        raise ValueError("in-place and streaming kernels are contiguous only")
    if inplace and stream:
        raise ValueError("streaming kernels are out of place only")
    F = _DTYPES[np.dtype(dtype)]
    key = (family, direction, F, contiguous, parallel, inplace, stream, cache)
    layout = ("inplace" if inplace else "stream" if stream else "contiguous") if contiguous else "strided"

    def make():
        scalar = scalar_function(family, direction, F)
        loop = "forward" if direction == "forward" else "backward"
        template = _TEMPLATES[(loop, layout)]
        name = "_".join((family, direction, _SUFFIX[F], "contig" if contiguous else "strided",
                         "parallel" if parallel else "serial")
                        + (("inplace",) if inplace else ()) + (("stream",) if stream else ()))
        bindings = dict(scalar=scalar)
        if contiguous:
            bindings.update(loops.chunking(np.dtype(dtype).itemsize,
                                           prefetches(FAMILIES[family].cost, direction)))
        return loops.specialize(template, name, parallel=parallel, cache=cache, **bindings)

    return _memo(key, make)


_FUSED_TEMPLATES = {
    ("rows", "forward"): loops.bias_rows_forward,
    ("rows", "backward"): loops.bias_rows_backward,
    ("planes", "forward"): loops.bias_planes_forward,
    ("planes", "backward"): loops.bias_planes_backward,
}


def fused_kernel(layout: str, family: str, direction: str, dtype, parallel: bool, *,
                 shift: bool, count: bool = False, inplace: bool = False):
    """Bias + activation (+ zero counts) kernel; layout "rows" (x2 of (rows, features)) or
    "planes" (x3 of (outer, features, inner)), all C-contiguous.

    forward: k(x, bias, out, parts, args, nchunks): out = f(x + bias) (x alone without `shift`);
    with `count`, parts[c, feature] += how many outputs of block c are zero (parts: int32 for
    float32 data, int64 for float64, so the counting vectorizes lane for lane).
    backward / backward_from_output: k(grad, saved, bias, out, parts, args, nchunks): out = grad *
    f'(saved + bias) (saved alone without `shift`), parts[c, feature] += block c's sum of out
    (float64), the bias gradient's partial sums.  With `inplace`, out is ignored and the result
    overwrites x (forward) or grad (backward)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}")
    F = _DTYPES[np.dtype(dtype)]
    key = ("fused", layout, family, direction, F, parallel, shift, count, inplace)

    def make():
        scalar = scalar_function(family, direction, F)
        template = _FUSED_TEMPLATES[(layout, "forward" if direction == "forward" else "backward")]
        flags = "".join(flag for flag, on in (("S", shift), ("C", count), ("I", inplace)) if on)
        name = f"bias_{layout}_{family}_{direction}_{_SUFFIX[F]}_{'parallel' if parallel else 'serial'}_{flags}"
        return loops.specialize(template, name, parallel=parallel, scalar=scalar,
                                SHIFT=shift, COUNT=count, INPLACE=inplace)

    return _memo(key, make)


def prelu_kernel(direction: str, dtype, parallel: bool):
    """forward: k(x3, weight, out3, nchunks); backward: k(g3, x3, weight, gx3, gw_rows, nchunks)."""
    F = _DTYPES[np.dtype(dtype)]

    def make():
        template = loops.prelu_forward if direction == "forward" else loops.prelu_backward
        scalar = scalar_function("leaky_relu", direction, F)
        name = f"prelu_{direction}_{_SUFFIX[F]}_{'parallel' if parallel else 'serial'}"
        return loops.specialize(template, name, parallel=parallel, scalar=scalar, LASTBLOCK=PRELU_LAST_BLOCK)

    return _memo(("prelu", direction, F, parallel), make)


def softmax_kernel(direction: str, dtype, parallel: bool, cache=None):
    """forward: k(x2, out2, log, nchunks, stream); backward: k(g2, y2, out2, log, nchunks, stream);
    rows = axis 1; `stream`: the output with streaming stores (it must not be an input); `cache`:
    None for the backend's setting, False to compile in memory only (whose machine code can be
    read: Numba does not keep it for code loaded from its cache)."""
    F = _DTYPES[np.dtype(dtype)]

    def make():
        template = loops.softmax_forward if direction == "forward" else loops.softmax_backward
        name = f"softmax_{direction}_{_SUFFIX[F]}_{'parallel' if parallel else 'serial'}"
        itemsize = np.dtype(F).itemsize
        return loops.specialize(template, name, parallel=parallel, options=loops.REDUCTION_OPTIONS, cache=cache,
                                exp=_math_for(F).exp_bounded,  # arguments <= 0: no upper clamp needed
                                ROWMAX=STREAM_ROW_MAX, PAGE=4096 // itemsize, LINE=64 // itemsize,
                                SMCHUNK=SOFTMAX_CHUNK, AHEAD_MAX=SOFTMAX_PREFETCH_MAX_BYTES // itemsize,
                                **loops.max_key_constants(F))

    return _memo(("softmax", direction, F, parallel, cache), make)


def set_threads(n: int) -> None:
    """Make the calling thread's Numba parallel region use up to n threads."""
    if not _pool_started:
        _start_pool()
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


_pool_started = False


def _start_pool() -> None:
    """Launch Numba's thread pool, then turn off the nested parallelism its OpenMP layer enabled.

    Numba's OpenMP threading layer enables nested parallelism when its pool starts
    (omp_set_nested(1): max-active-levels 255 with GCC 12's libgomp), and every library in the
    process shares that libgomp.  Where it is the system's (fastact's Cython extension loaded
    before PyTorch, which then uses it instead of its own copy), PyTorch's parallel ops ran up to
    2.7x slower from then on (tanh, 10**6 float32, 2 threads: 413 us against 158; 158 again with
    max-active-levels set back to 1).  fastact runs no nested parallel regions, so the first
    parallel call of this backend sets max-active-levels back to OpenMP's default of 1 (whoever
    started the pool: compiling a prange loop starts it too), unless OMP_MAX_ACTIVE_LEVELS or
    OMP_NESTED asks for nesting."""
    global _pool_started
    with _lock:
        if _pool_started:
            return
        numba.get_num_threads()                     # launches the pool, if nothing has yet
        _pool_started = True
        if numba.threading_layer() != "omp":
            return
        if "OMP_MAX_ACTIVE_LEVELS" in os.environ or "OMP_NESTED" in os.environ:
            return                                  # nesting asked for
        gomp = _loaded_libgomp()
        if gomp is not None and gomp.omp_get_max_active_levels() > 1:   # (None: Intel's runtime)
            gomp.omp_set_max_active_levels(1)


def _loaded_libgomp():
    """A ctypes handle on the GNU OpenMP runtime already loaded in the process, or None (this never
    loads one: which copy the process uses is decided by whoever loads it first)."""
    try:
        return ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except (OSError, AttributeError):               # not loaded; no RTLD_NOLOAD (Windows)
        return None


def info() -> dict:
    return {
        "version": numba.__version__,
        "threading_layer": _threading_layer(),
        "max_threads": numba.config.NUMBA_NUM_THREADS,
        "cache": loops.CACHE,
        "compiled_kernels": len(_kernels),
    }


def _threading_layer() -> str:
    try:
        return numba.threading_layer()
    except ValueError:            # no parallel region has run yet
        return f"not started (configured: {numba.config.THREADING_LAYER})"
