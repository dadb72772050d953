"""Per-call overhead on small arrays: a pre-resolved ``fastact.kernel`` against the public
functions, NumPy's ufunc and PyTorch's in-place op, 1,000 float32 elements in place.

    pytest benchmarks/bench_overhead.py --benchmark-only --benchmark-group-by=group

At this size the arithmetic takes tens of nanoseconds; what is measured is the path from Python to
the loop (checks, dispatch, the call).  Target for ``fastact.kernel``: at most 0.5 us per call.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastact as fa
from fastact.bench import implementations

N = 1000
CASES = [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("gelu", {})]
VARIANTS = ["fa.kernel", "fa.kernel numba", "fa.act_", "fa.act_ numba", "fa.act(x, out=)", "numpy", "torch"]


def _runner(variant, name, params, x):
    if variant.startswith("fa.kernel"):
        backend = "numba" if variant.endswith("numba") else None
        k = fa.kernel(name, np.float32, backend=backend, **params)
        return lambda: k(x)
    if variant.startswith("fa.act_"):
        fn = getattr(fa, name + "_")
        backend = "numba" if variant.endswith("numba") else None
        return lambda: fn(x, backend=backend, **params)
    if variant == "fa.act(x, out=)":
        fn = getattr(fa, name)
        out = np.empty_like(x)
        return lambda: fn(x, out=out, **params)
    if variant == "numpy":
        if name == "relu":
            return lambda: np.maximum(x, 0, out=x)
        if name == "leaky_relu":
            slope = np.float32(params["negative_slope"])
            tmp = np.empty_like(x)
            return lambda: np.maximum(x, np.multiply(x, slope, out=tmp), out=x)
        return None
    if variant == "torch":
        if not implementations.torch_available():
            return None
        import torch
        t = torch.from_numpy(x)
        F = torch.nn.functional
        if name == "relu":
            return lambda: torch.relu_(t)
        if name == "leaky_relu":
            return lambda: F.leaky_relu_(t, params["negative_slope"])
        return lambda: torch.ops.aten.gelu_(t)
    raise ValueError(variant)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name,params", CASES, ids=[c[0] for c in CASES])
def bench_call_overhead(benchmark, name, params, variant):
    x = np.random.default_rng(0).uniform(0.5, 1.5, N).astype(np.float32)   # stays finite under repetition
    run = _runner(variant, name, params, x)
    if run is None:
        pytest.skip(f"no {variant} form of {name}")
    benchmark.group = f"{name} {N} float32 in place"
    benchmark.extra_info.update(variant=variant)
    benchmark(run)
