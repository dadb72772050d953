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
