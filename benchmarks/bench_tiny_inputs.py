"""Tiny inputs: the transcendental activations on 10^6 elements of which 5% are tiny, against the
same array without them; fastact (the default backend) and PyTorch, same thread count.

    pytest benchmarks/bench_tiny_inputs.py --benchmark-only --benchmark-group-by=group

On x86 a multiply (or FMA) whose operand or result is subnormal takes a microcode assist of
~100 cycles (additions do not).  "tiny" values are normal numbers whose squares are subnormal
(|x| ~ 1e-20 in float32, 1e-160 in float64): the polynomial of a primitive that squares its
argument pays the assist on such inputs although its result is an ordinary number (before the
polynomials were rearranged, 5% of them made fastact's sigmoid 11x and tanh 28x slower).
"subnormal" values are subnormal themselves: every implementation that multiplies them pays.
Such values come out of silu, gelu and softplus' derivative for very negative inputs.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastact as fa
from fastact.bench import implementations

N = 10**6
OPS = ["sigmoid", "tanh", "gelu", "silu", "elu", "softplus", "mish"]
MIXES = {"plain": None, "5% tiny": {"float32": 1e-20, "float64": 1e-160},
         "5% subnormal": {"float32": 1e-40, "float64": 1e-310}}


def _input(dtype, mix):
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal(N)).astype(dtype)
    scale = MIXES[mix]
    if scale is not None:
        picked = rng.random(N) < 0.05
        x[picked] = (rng.standard_normal(int(picked.sum())) * scale[dtype]).astype(dtype)
    return x


@pytest.mark.parametrize("variant", ["fastact", "torch"])
@pytest.mark.parametrize("mix", list(MIXES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", OPS)
def bench_tiny_inputs(benchmark, op, dtype, mix, variant):
    x = _input(dtype, mix)
    out = np.empty_like(x)
    if variant == "fastact":
        fn = getattr(fa, op)
        run = lambda: fn(x, out=out)                        # noqa: E731
    else:
        if not implementations.torch_available():
            pytest.skip("PyTorch is not installed")
        import torch
        fn = getattr(torch.ops.aten, op).out
        tx, tout = torch.from_numpy(x), torch.from_numpy(out)
        run = lambda: fn(tx, out=tout)                      # noqa: E731
    run()                                                   # Numba compiles, PyTorch initialises
    benchmark.group = f"{op} {dtype} 1e6"
    benchmark.extra_info.update(op=op, dtype=dtype, mix=mix, variant=variant)
    benchmark(run)
