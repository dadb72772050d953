"""Fused operations: bias + activation in one pass vs a NumPy bias add followed by fastact's own
in-place activation (two passes), and the cost of counting zeros in the same pass.

    pytest benchmarks/bench_fused.py --benchmark-only --benchmark-group-by=group

Groups are "<act> <shape> <dtype>"; compare within a group (same array, same thread count):

* ``act_``                 -- fastact's in-place activation alone (the floor for a fused pass);
* ``act_ zero_counts``     -- the same pass also counting zeros per feature (dying-ReLU monitoring);
* ``bias_act_``            -- bias + activation fused;
* ``numpy add + act_``     -- ``x += bias`` then ``act_``: the two-pass way;
* ``numpy add + numpy act``-- the pure-NumPy baseline (``fastact.reference``);
* ``torch add_ + act_``    -- PyTorch's in-place bias add and activation (when installed).
"""
from __future__ import annotations

import numpy as np
import pytest

import fastact as fa
from fastact import reference
from fastact.bench import implementations

# (batch, features): an MLP layer, large enough to leave the cache; a small one (overhead-bound);
# an NCHW feature map with the bias on axis 1.
SHAPES = [((4096, 2048), -1), ((64, 1024), -1), ((32, 64, 28, 28), 1)]
ACTS = ["relu", "gelu", "silu"]
VARIANTS = ["act_", "act_ zero_counts", "bias_act_", "numpy add + act_", "numpy add + numpy act",
            "torch add_ + act_"]


def _case(shape, axis, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[axis]).astype(dtype)
    return x, b


def _runner(variant, act, x, b, axis):
    """A no-argument callable doing `variant` on x, in place (x is restored before every round:
    gelu applied again and again drifts into subnormals, which would time something else)."""
    bshape = [1] * x.ndim
    bshape[axis] = -1
    bb = b.reshape(bshape)
    fa_act = getattr(fa, act + "_")
    if variant == "act_":
        return lambda: fa_act(x)
    if variant == "act_ zero_counts":
        if axis % x.ndim != x.ndim - 1:
            return None                    # act_ counts along the last axis only
        counts = np.zeros(x.shape[-1], np.int64)
        return lambda: fa_act(x, zero_counts=counts)
    if variant == "bias_act_":
        return lambda: fa.bias_act_(x, b, act, axis)
    if variant == "numpy add + act_":
        return lambda: (np.add(x, bb, out=x), fa_act(x))
    if variant == "numpy add + numpy act":
        ref = getattr(reference, act)
        return lambda: (np.add(x, bb, out=x), ref(x, out=x))
    if variant == "torch add_ + act_":
        if not implementations.torch_available():
            return None
        import torch
        t, tb = torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(bb))
        f = {"relu": torch.relu_, "gelu": torch.ops.aten.gelu_,
             "silu": lambda v: torch.nn.functional.silu(v, inplace=True)}[act]
        return lambda: f(t.add_(tb))
    raise ValueError(variant)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", ["float32"])
@pytest.mark.parametrize("shape,axis", SHAPES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else f"axis{v}")
@pytest.mark.parametrize("act", ACTS)
def bench_fused(benchmark, act, shape, axis, dtype, variant):
    x, b = _case(shape, axis, np.dtype(dtype))
    run = _runner(variant, act, x, b, axis)
    if run is None:
        pytest.skip(f"{variant} does not apply here")
    benchmark.group = f"{act} {'x'.join(map(str, shape))} {dtype}"
    benchmark.extra_info.update(variant=variant, threads=fa.get_num_threads())
    pristine = x.copy()
    rounds = max(10, min(500, int(2e8 // x.nbytes)))
    benchmark.pedantic(run, setup=lambda: np.copyto(x, pristine), rounds=rounds, warmup_rounds=2)
