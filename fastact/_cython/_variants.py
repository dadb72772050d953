"""The ISA variants the Cython kernels are compiled in: one table read by setup.py (which flags)
and by the runtime dispatcher (which CPU features a variant needs before it may be imported).

Standard library only: setup.py loads this file by path, before fastact is importable.

Every variant is the same generated source (``_kernels.pyx.tp``) compiled into its own extension
module, ``fastact._cython._kernels_<name>``.  The flags name instruction sets, never
``-march=native``: a wheel built here must run on any x86-64 machine, and the dispatcher imports
only the variants the running CPU supports (importing the AVX-512 module on a CPU without AVX-512
could die of SIGILL).
"""
from __future__ import annotations

from typing import NamedTuple


class Variant(NamedTuple):
    name: str
    #: compiler flags added to the common ones (see setup.py)
    flags: tuple[str, ...]
    #: CPU features (gcc's __builtin_cpu_supports names) the running CPU must have
    requires: tuple[str, ...]
    #: only built for x86-64 targets
    x86_only: bool


#: Best last.  "baseline" is plain x86-64 (SSE2) -- or whatever the compiler targets by default
#: on other machines, where it is the only variant.
VARIANTS: tuple[Variant, ...] = (
    Variant("baseline", (), (), False),
    Variant("avx2", ("-mavx2", "-mfma"), ("avx2", "fma"), True),
    # gcc's generic tuning already uses 512-bit vectors with -mavx512f; say so explicitly, as the
    # choice of 256-bit vectors belongs to -mtune=<cpu> settings we never pass.
    Variant("avx512", ("-mavx2", "-mfma", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl",
                       "-mprefer-vector-width=512"),
            ("avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl"), True),
)

NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)

#: Environment variable that forces a (lower) variant: baseline, avx2 or avx512; "auto" or
#: unset picks the best one the CPU supports.
ENV_VARIANT = "FASTACT_CYTHON_VARIANT"


def module_name(variant: str) -> str:
    return f"fastact._cython._kernels_{variant}"
