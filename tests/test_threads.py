"""Several Python threads calling kernels at once get correct results."""
import threading

import numpy as np
import pytest

import fastact as fa
from helpers import BACKENDS, assert_close, reference_forward


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_calls(backend):
    names = ["relu", "gelu", "tanh", "softplus", "mish", "sigmoid"]
    sizes = [1000, 70_000, 200_000]          # below and above the parallel thresholds
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for i in range(12):
                name = names[(seed + i) % len(names)]
                x = rng.uniform(-6, 6, sizes[(seed + i) % len(sizes)]).astype(np.float32)
                want = reference_forward(name, x, {})
                y = getattr(fa, name)(x, backend=backend)
                assert_close(y, want, np.float32, f"thread {seed} {name}")
                getattr(fa, name + "_")(x, backend=backend)
                assert_close(x, want, np.float32, f"thread {seed} {name}_")
        except Exception as exc:         # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


_NESTING_CHECK = """
import ctypes, os, sys
import numpy as np
import fastact, fastact._cython      # the system's libgomp first, as `python -m fastact bench` loads it
from fastact import _numba
import numba
_numba.set_threads(2)                # the backend's first parallel call starts Numba's pool
if numba.threading_layer() != "omp":
    sys.exit(77)
x = np.linspace(-3, 3, 10**6, dtype=np.float32)
fastact.tanh(x, out=x, backend="numba")
gomp = ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
print(gomp.omp_get_max_active_levels())
"""


def test_numba_pool_leaves_openmp_nesting_off():
    """Numba's OpenMP layer turns nested parallelism on for the whole process when its pool
    starts, which made PyTorch's parallel ops in the same process up to 2.7x slower; fastact's
    Numba backend turns it off again (OpenMP's default, max-active-levels 1)."""
    import os
    import subprocess
    import sys
    if "numba" not in BACKENDS or "cython" not in BACKENDS:
        pytest.skip("needs the Numba backend and the Cython extension (which loads libgomp)")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_MAX_ACTIVE_LEVELS", "OMP_NESTED")}
    proc = subprocess.run([sys.executable, "-c", _NESTING_CHECK], capture_output=True, text=True,
                          env=env, timeout=300)
    if proc.returncode == 77:
        pytest.skip("Numba's threading layer here is not OpenMP")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1"], proc.stdout
