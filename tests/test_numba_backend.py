"""Numba backend specifics: float32 stays float32, the hot loops vectorize, kernels are cached
on disk so a second process does not recompile."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastact import _backends, reference
from fastact.spec import FAMILIES
from helpers import assert_close, offset_view, sample, untouched_around

numba_backend = _backends.load("numba")
pytestmark = pytest.mark.skipif(numba_backend is None, reason="numba backend not available")


def _directions(family):
    return ["forward", "backward"] + (["backward_from_output"] if FAMILIES[family].from_output else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_scalar_math_keeps_the_dtype(family, dtype):
    """A float64 constant would silently promote float32 math (and halve the SIMD width)."""
    import numba
    from numba import types
    F = numba.from_dtype(np.dtype(dtype))
    nargs = len(FAMILIES[family].args)
    args = types.UniTuple(F, nargs) if nargs else types.Tuple(())
    for direction in _directions(family):
        fn = numba_backend.scalar_function(family, direction, dtype)
        sig = ((F,) if direction == "forward" else (F, F)) + (args,)
        fn.compile(sig)
        resolved = fn.overloads[sig].signature.return_type
        assert resolved == F, f"{family} {direction}: returns {resolved} for {F} input"


def _hot_loop_asm(family, direction, dtype):
    kernel = numba_backend.elementwise_kernel(family, direction, dtype, True, False, cache=False)
    n = 64
    args = tuple(np.dtype(dtype).type(0.5) for _ in FAMILIES[family].args)
    arrays = [np.ones(n, dtype) for _ in range(2 if direction == "forward" else 3)]
    kernel(*arrays, args, 1)
    return "\n".join(kernel.inspect_asm().values())


LIBM = re.compile(r"call\w*\s+.*\b(expf?|expm1f?|log1pf?|logf?|tanhf?|erff?|erfcf?|powf?)\b")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_relu_loop_is_vectorized(dtype):
    asm = _hot_loop_asm("relu", "forward", dtype)
    suffix = "ps" if dtype == np.float32 else "pd"
    packed = re.findall(rf"\bv\w+{suffix}\s+[^\n]*%[yz]mm", asm)
    assert len(packed) >= 4, "no packed ymm/zmm instructions in the relu loop"


@pytest.mark.parametrize("family", [f for f in FAMILIES if FAMILIES[f].cost == "compute"])
def test_transcendental_loops_are_vectorized_without_libm(family):
    for direction in ("forward", "backward"):
        asm = _hot_loop_asm(family, direction, np.float32)
        assert not LIBM.search(asm), f"{family} {direction} calls libm: {LIBM.search(asm).group(0)}"
        packed = re.findall(r"\bv\w+ps\s+[^\n]*%[yz]mm", asm)
        assert len(packed) >= 8, f"{family} {direction}: no packed ymm/zmm arithmetic"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_softmax_rows_prefetch_and_stay_vectorized(dtype):
    """The exp passes run in chunks that prefetch the next rows (fastact/spec.py, SOFTMAX_CHUNK),
    each over slices indexed from 0: indexed from the chunk's start instead, LLVM compiled them
    with gathers and scatters (9 and 3 in the float32 kernel), and the rows ran 2x slower."""
    kernel = numba_backend.softmax_kernel("forward", dtype, False, cache=False)
    x = np.ones((3, 300), dtype)
    for log in (False, True):
        kernel(x, np.empty_like(x), log, 1, False)
    asm = "\n".join(kernel.inspect_asm().values())
    suffix = "ps" if dtype == np.float32 else "pd"
    assert len(re.findall(r"\bprefetcht0\b", asm)) >= 2, "no prefetches in the softmax rows"
    # the exp polynomial's FMAs (the max, sum and scaling passes have none)
    fmas = re.findall(rf"\bvfn?m(add|sub)\w+{suffix}\s+[^\n]*%[yz]mm", asm)
    assert len(fmas) >= 8, "the softmax rows' exp passes have no packed ymm/zmm FMAs"
    # (one masked gather in a loop's tail is LLVM's own)
    assert not re.search(r"\bvscatter", asm) and len(re.findall(r"\bvgather", asm)) <= 2, \
        "the softmax rows gather or scatter"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", [15, 255, 257, 1029, 5_121])
def test_prefetching_chunks_cover_every_element_once(n, dtype):
    """Compute families run their contiguous loops in 1 KiB chunks that prefetch 4 KiB ahead
    (loops.chunking): serial and split, in place and not, every element is the reference's."""
    x = sample((n,), dtype, seed=n)
    g = sample((n,), dtype, seed=n + 1, special=False)
    want = reference.tanh(x.astype(np.float64))
    want_grad = reference.gelu_backward(g.astype(np.float64), x.astype(np.float64))
    for parallel, counts in ((False, (1,)), (True, (1, 2, 3))):
        forward = numba_backend.elementwise_kernel("tanh", "forward", dtype, True, parallel)
        forward_inplace = numba_backend.elementwise_kernel("tanh", "forward", dtype, True, parallel, True)
        backward = numba_backend.elementwise_kernel("gelu", "backward", dtype, True, parallel)
        for nchunks in counts:
            out = np.full_like(x, np.nan)
            forward(x, out, (), nchunks)
            assert_close(out, want, dtype, f"tanh parallel={parallel} nchunks={nchunks}")
            inplace = x.copy()
            forward_inplace(inplace, (), nchunks)
            assert_close(inplace, want, dtype, f"tanh_ parallel={parallel} nchunks={nchunks}")
            out = np.full_like(x, np.nan)
            backward(g, x, out, (), nchunks)
            assert_close(out, want_grad, dtype, f"gelu_backward parallel={parallel} nchunks={nchunks}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", [5, 17, 1037, 5_121])
def test_blocks_align_to_the_output_at_any_offset(n, dtype):
    """Each block's first piece runs up to the output's first 64-byte boundary and blocks split
    on such boundaries (loops._block, _first_stop): for outputs (and inputs) at any offset from
    one, serial and split, in place and not, every element is the reference's and nothing outside
    the arrays is written.  leaky_relu: a memory family (plain loop); tanh: prefetching chunks."""
    x0 = sample((n,), dtype, seed=n)
    want = {"leaky_relu": reference.leaky_relu(x0.astype(np.float64)),
            "tanh": reference.tanh(x0.astype(np.float64))}
    for family in want:
        for parallel, counts in ((False, (1,)), (True, (1, 2, 3))):
            kernel = numba_backend.elementwise_kernel(family, "forward", dtype, True, parallel)
            kernel_inplace = numba_backend.elementwise_kernel(family, "forward", dtype, True, parallel, True)
            args = (np.dtype(dtype).type(0.01),) if family == "leaky_relu" else ()
            for off, x_off in ((0, 0), (1, 1), (3, 7), (7, 0), (13, 2)):
                for nchunks in counts:
                    xbuf, x = offset_view(n, dtype, x_off)
                    x[:] = x0
                    obuf, out = offset_view(n, dtype, off)
                    kernel(x, out, args, nchunks)
                    assert_close(out, want[family], dtype, f"{family} offset {off} nchunks={nchunks}")
                    assert untouched_around(obuf, out)
                    kernel_inplace(x, args, nchunks)
                    assert_close(x, want[family], dtype, f"{family}_ offset {x_off} nchunks={nchunks}")
                    assert untouched_around(xbuf, x)


def test_second_process_loads_kernels_from_the_cache(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, fastact as fa
        from fastact import _dispatch
        fa.softsign(np.ones(8, np.float32), backend="numba")
        kernel = _dispatch._KERNELS[("numba", "softsign", "forward", np.dtype("float32"), True, False, False)]
        print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                 timeout=300)
    first, second = run(), run()
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.split() == ["0", "1"], f"first process (hits, misses): {first.stdout}"
    assert second.stdout.split() == ["1", "0"], f"second process (hits, misses): {second.stdout}"
