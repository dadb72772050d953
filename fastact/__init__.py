"""fastact: fast CPU kernels for neural-network activation functions and their gradients.

For every activation ``act`` in ``fastact.ACTIVATIONS``:

* ``fastact.act(x, *params, out=None, backend=None)``: out of place (or into `out`);
* ``fastact.act_(x, *params, backend=None)``: in place on `x`;
* ``fastact.act_backward(grad, x, *params, out=None, from_output=False, backend=None)``: dL/dx.

Backends: "cython" and "numba" kernels (SIMD-vectorized, multithreaded) and the "numpy" reference;
"auto" (the default) picks per call. See ``fastact.show_config()``.
"""
from __future__ import annotations

__version__ = "0.1.0"

import os as _os

# libgomp, the OpenMP runtime of the Cython kernels (and of Numba's "omp" threading layer), keeps
# its threads spinning for ~300,000 iterations after each parallel region; in an inference loop
# that steals the cores from the BLAS threads of the next matmul (examples/mlp_inference.py, 2
# threads: 66 -> 48 ms per forward pass).  A short spin keeps back-to-back kernels as fast
# (relu_/gelu_ at 1e5-1e7 unchanged; OMP_WAIT_POLICY=passive would make them 1.2-3x slower).
# It must be set before libgomp loads; a value the user set wins.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from . import spec as _spec
from ._api import make_all as _make_all
from ._config import get_backend, get_num_threads, set_backend, set_num_threads, use_backend
from ._info import config, show_config
from ._fused import ActivationStats, activation_stats, bias_act, bias_act_, bias_act_backward
from ._kernel import kernel

def get_include() -> str:
    """The include directory for Cython code that cimports fastact's nogil functions and
    in-place kernels (``from fastact.cy cimport gelu, gelu_inplace``; see fastact/cy.pxd and the
    README): pass it as ``include_path`` to ``cythonize``."""
    from ._cython import get_include as cython_include
    return cython_include()


#: The activation names, in table order.
ACTIVATIONS = _spec.ACTIVATIONS

globals().update(_make_all())

__all__ = (["ACTIVATIONS", "ActivationStats", "activation_stats", "bias_act", "bias_act_", "bias_act_backward",
            "config", "get_backend", "get_include", "get_num_threads", "kernel", "set_backend",
            "set_num_threads", "show_config", "use_backend"]
           + [f"{name}{suffix}" for name in ACTIVATIONS for suffix in ("", "_", "_backward")])


def __dir__():
    return sorted(set(globals()) | set(__all__))
