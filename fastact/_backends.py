"""Which backends exist here, loaded lazily, and why a missing one is missing.

A kernel backend is a module with:

* ``NAME``;
* ``elementwise_kernel(family, direction, dtype, contiguous, parallel)`` -> callable; direction is
  "forward" (``k(x, out, args, nchunks)``), "backward" or "backward_from_output"
  (``k(grad, saved, out, args, nchunks)``).  contiguous=True: 1-D C-contiguous arrays;
  contiguous=False: 2-D arrays of any strides.  ``args`` is a tuple of scalars of the array's
  dtype in the family's argument order (``fastact.spec.FAMILIES``); ``nchunks`` is 1 for a serial
  kernel and the thread count for a parallel one; with ``stream=True`` (a keyword, contiguous
  only) the same kernel writing its output with streaming stores, for large outputs that are
  not an input;
* ``prelu_kernel(direction, dtype, parallel)``: forward ``k(x3, weight, out3, nchunks)`` and
  backward ``k(grad3, x3, weight, grad_x3, grad_weight_rows, nchunks)`` on (outer, channels, inner)
  views, grad_weight_rows a float64 (outer, channels) array of partial sums;
* ``softmax_kernel(direction, dtype, parallel)``: forward ``k(x2, out2, log, nchunks, stream)`` and
  backward ``k(grad2, y2, out2, log, nchunks, stream)`` over the rows of 2-D views (``stream``:
  the output with streaming stores; it is never an input then);
* ``set_threads(n)``: called before a parallel kernel with the thread count in force;
* ``info()`` -> dict for ``show_config``.

The "numpy" backend is `fastact.reference` and is always there.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading

from . import _config

KERNEL_BACKENDS = ("cython", "numba")
_MODULES = {"numba": "fastact._numba", "cython": "fastact._cython"}

_PROTOCOL = ("NAME", "elementwise_kernel", "prelu_kernel", "softmax_kernel", "set_threads", "info")

_lock = threading.Lock()
_loaded: dict[str, object] = {}
_errors: dict[str, str] = {}


def _prepare_numba():
    # Numba sizes its thread pool once, from NUMBA_NUM_THREADS, when it is imported.
    if "numba" not in sys.modules and "NUMBA_NUM_THREADS" not in os.environ:
        wanted = _config.state.num_threads
        if wanted > _config.usable_cores():
            os.environ["NUMBA_NUM_THREADS"] = str(wanted)


def load(name: str):
    """The backend module, or None when it cannot be used here (see `why_unavailable`)."""
    if name in _loaded:
        return _loaded[name]
    if name in _errors:
        return None
    with _lock:
        if name in _loaded or name in _errors:
            return _loaded.get(name)
        if os.environ.get(f"FASTACT_DISABLE_{name.upper()}", "") not in ("", "0"):
            _errors[name] = f"disabled by FASTACT_DISABLE_{name.upper()}"
            return None
        try:
            if name == "numba":
                _prepare_numba()
            module = importlib.import_module(_MODULES[name])
            missing = [f for f in _PROTOCOL if not hasattr(module, f)]
            check = getattr(module, "unavailable_reason", None)
            if missing:
                reason = f"{_MODULES[name]} is incomplete (no {', '.join(missing)})"
            else:
                reason = check() if check else None
        except Exception as exc:  # ImportError, or a broken install of numba / the extension
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            _errors[name] = reason
            return None
        _loaded[name] = module
        return module


def available(name: str) -> bool:
    if name == "numpy":
        return True
    return load(name) is not None


def why_unavailable(name: str) -> str | None:
    if name == "numpy" or available(name):
        return None
    return _errors.get(name)


def require(name: str, where: str):
    """The backend module for an explicit request; RuntimeError when it is not available."""
    if name == "numpy":
        return None
    module = load(name)
    if module is None:
        raise RuntimeError(f"{where}: the {name} backend is not available: {_errors.get(name)}")
    return module


def available_backends() -> tuple[str, ...]:
    return tuple(b for b in KERNEL_BACKENDS if available(b)) + ("numpy",)
