"""Run-time settings: the backend and the thread count, with their environment variables.

* ``FASTACT_BACKEND`` = auto | cython | numba | numpy  (default auto)
* ``FASTACT_NUM_THREADS`` = a positive count (default: the cores this process may use)

One thread count governs every backend: the Numba kernels split their work into that many blocks
(and Numba's pool is sized for it), the Cython kernels pass it to OpenMP.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import warnings

BACKENDS = ("auto", "cython", "numba", "numpy")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):       # not Linux
        return os.cpu_count() or 1


def _check_backend(name, where):
    if not isinstance(name, str):
        raise TypeError(f"{where}: backend must be a string, one of {', '.join(BACKENDS)}; got {type(name).__name__}")
    if name not in BACKENDS:
        raise ValueError(f"{where}: unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    return name


def _resolve_threads(n, where) -> int:
    """sklearn's rule: None = all usable cores, negative counts back from them (-1 = all), 0 is an error."""
    cores = usable_cores()
    if n is None:
        return cores
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{where}: the thread count must be an int or None, got {type(n).__name__}")
    if n == 0:
        raise ValueError(f"{where}: the thread count must not be 0 (use None or -1 for all {cores} cores)")
    if n < 0:
        return max(1, cores + 1 + n)
    return n


def _env_backend() -> str:
    name = os.environ.get("FASTACT_BACKEND", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        warnings.warn(f"FASTACT_BACKEND={name!r} is not one of {', '.join(BACKENDS)}; using 'auto'",
                      RuntimeWarning, stacklevel=3)
        return "auto"
    return name


def _env_threads() -> int:
    raw = os.environ.get("FASTACT_NUM_THREADS", "").strip()
    if not raw:
        return usable_cores()
    try:
        return _resolve_threads(int(raw), "FASTACT_NUM_THREADS")
    except (ValueError, TypeError):
        warnings.warn(f"FASTACT_NUM_THREADS={raw!r} is not a non-zero integer; using {usable_cores()}",
                      RuntimeWarning, stacklevel=3)
        return usable_cores()


class _State:
    backend: str = _env_backend()
    num_threads: int = _env_threads()


state = _State()
# `with use_backend(...)` overrides the global setting in the current thread / asyncio task only.
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("fastact_backend", default=None)


def current_backend() -> str:
    return _override.get() or state.backend


def set_backend(name: str) -> None:
    """Set the default backend: "auto" (default), "cython", "numba" or "numpy".

    Raises ValueError for an unknown name and RuntimeError for a backend that is not available
    here (``fastact.show_config()`` says why)."""
    from ._backends import require
    _check_backend(name, "set_backend")
    if name != "auto":
        require(name, "set_backend")
    state.backend = name


def get_backend() -> str:
    """The backend in force in this thread: set by ``use_backend``, else ``set_backend``, else
    ``FASTACT_BACKEND``, else "auto"."""
    return current_backend()


@contextlib.contextmanager
def use_backend(name: str):
    """Use `name` as the backend inside a ``with`` block (this thread / task only)."""
    from ._backends import require
    _check_backend(name, "use_backend")
    if name != "auto":
        require(name, "use_backend")
    token = _override.set(name)
    try:
        yield name
    finally:
        _override.reset(token)


def set_num_threads(n: int | None) -> None:
    """Set the thread count of every backend. None or -1 = all usable cores; -2 = all but one; 0 is
    an error."""
    state.num_threads = _resolve_threads(n, "set_num_threads")


def get_num_threads() -> int:
    """The thread count every backend uses for arrays above the parallel threshold."""
    return state.num_threads
