"""Out-of-place kernels with streaming (non-temporal) stores, in both backends, and the dispatch
that picks them for large outputs (fastact/_policy.py, STREAM_FROM_BYTES).

A streaming kernel computes each chunk into an L1 buffer and streams it to the output's 64-byte
aligned lines; the elements before the output's first boundary, a chunk's tail shorter than a
vector and any output not aligned to its itemsize get ordinary stores.
"""
from __future__ import annotations

import contextlib
import re
import shutil

import numpy as np
import pytest

import fastact as fa
from fastact import _backends, _dispatch, _policy, reference
from helpers import SENTINEL, assert_close, cython_disassembly, offset_view, sample, untouched_around

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(not _backends.available(name),
                                                       reason=f"the {name} backend is not available"))
            for name in ("cython", "numba")]
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])

#: (family, direction, kernel args, reference function and parameters): a memory family (4 KiB
#: chunks), a compute family (1 KiB chunks that prefetch), a compute loop over two inputs, a
#: memory loop over two inputs.
CASES = [("leaky_relu", "forward", (0.2,), reference.leaky_relu, (0.2,)),
         ("elu", "forward", (1.0, 1.0, 1.0), reference.elu, ()),
         ("tanh", "backward", (), reference.tanh_backward, ()),
         ("sigmoid", "backward_from_output", (), reference.sigmoid_backward_from_output, ())]


def _misaligned(n, dtype):
    """A byte buffer of 0xA5 and n elements of dtype in it, 1 byte past a 64-byte boundary (so
    not aligned to the itemsize: nothing may stream)."""
    itemsize = np.dtype(dtype).itemsize
    raw = np.full(n * itemsize + 192, 0xA5, np.uint8)
    start = (-raw.ctypes.data) % 64 + 65
    return raw, raw[start:start + n * itemsize].view(dtype)


def _bytes_untouched_around(raw, view):
    start = view.ctypes.data - raw.ctypes.data
    return bool(np.all(raw[:start] == 0xA5) and np.all(raw[start + view.nbytes:] == 0xA5))


@pytest.mark.parametrize("backend", BACKENDS)
@DTYPES
@pytest.mark.parametrize("n", [1, 5, 17, 1037, 5_121])
def test_streaming_kernels_write_every_element_once(backend, n, dtype):
    """Outputs (and inputs) at any offset from a 64-byte boundary and one not aligned to the
    itemsize, serial and split (more blocks than elements too), the output also one of the
    inputs: every element is the reference's and nothing outside the output is written."""
    module = _backends.load(backend)
    x0 = sample((n,), dtype, seed=n)
    g0 = sample((n,), dtype, seed=n + 1, special=False)
    y0 = reference.sigmoid(x0.astype(np.float64)).astype(dtype)
    for family, direction, args, truth, params in CASES:
        args = tuple(np.dtype(dtype).type(a) for a in args)
        inputs = (x0,) if direction == "forward" else (g0, y0 if direction == "backward_from_output" else x0)
        want = truth(*(a.astype(np.float64) for a in inputs), *params)
        for parallel, counts in ((False, (1,)), (True, (1, 2, 3, 5))):
            kernel = module.elementwise_kernel(family, direction, dtype, True, parallel, stream=True)
            for nchunks in counts:
                what = f"{backend} {family} {direction} nchunks={nchunks}"
                for off, in_off in ((0, 0), (1, 1), (3, 7), (7, 0), (13, 2)):
                    shifted = []
                    for a in inputs:
                        _, view = offset_view(n, dtype, in_off)
                        view[:] = a
                        shifted.append(view)
                    obuf, out = offset_view(n, dtype, off)
                    kernel(*shifted, out, args, nchunks)
                    assert_close(out, want, dtype, f"{what} offset {off}")
                    assert untouched_around(obuf, out), f"{what} offset {off}: wrote outside the output"
                    first = shifted[0]
                    kernel(*shifted, first, args, nchunks)               # the output is an input
                    assert_close(first, want, dtype, f"{what} onto its first input, offset {in_off}")
                raw, out = _misaligned(n, dtype)
                kernel(*inputs, out, args, nchunks)
                assert_close(out.copy(), want, dtype, f"{what} misaligned output")
                assert _bytes_untouched_around(raw, out), f"{what} misaligned: wrote outside the output"


def test_stream_from_counts_the_whole_traffic():
    for dtype, inputs in ((np.float32, 1), (np.float32, 2), (np.float64, 1), (np.float64, 2)):
        n = _policy.stream_from(dtype, inputs)
        per_element = (inputs + 1) * np.dtype(dtype).itemsize
        assert n * per_element >= _policy.STREAM_FROM_BYTES > (n - 1) * per_element


@contextlib.contextmanager
def _threads(n):
    before = fa.get_num_threads()
    fa.set_num_threads(n)
    try:
        yield
    finally:
        fa.set_num_threads(before)


@pytest.fixture
def small_stream_threshold(monkeypatch):
    """Streaming from 4 KB of traffic, and the plans made under it forgotten afterwards; yields
    the list of (backend, family, direction, parallel) of every streaming kernel call."""
    monkeypatch.setattr(_policy, "STREAM_FROM_BYTES", 4096)
    _dispatch.reset_plans()
    calls = []
    real = _dispatch._elementwise_kernel

    def spy(module, family, direction, dtype, contiguous, parallel, stream=False):
        kernel = real(module, family, direction, dtype, contiguous, parallel, stream)
        if not stream:
            return kernel

        def recorded(*arrays):
            calls.append((module.NAME, family, direction, parallel))
            return kernel(*arrays)
        return recorded
    monkeypatch.setattr(_dispatch, "_elementwise_kernel", spy)
    # the Python plan path, whose kernels the spy sees: a Cython plan's BoundKernel makes the same
    # choice in C from the same numbers (test_plans_bound_kernels_take_the_policys_numbers)
    monkeypatch.setattr(_dispatch, "_plan_bound", lambda *how: None)
    yield calls
    monkeypatch.undo()
    _dispatch.reset_plans()


@pytest.mark.parametrize("backend", BACKENDS)
@DTYPES
def test_large_out_of_place_calls_stream_and_in_place_calls_do_not(small_stream_threshold, backend, dtype):
    calls = small_stream_threshold
    n = 2 * _policy.PARALLEL_THRESHOLD["compute"]       # parallel with 2 threads
    x = sample((n,), dtype, seed=3)
    g = sample((n,), dtype, seed=4, special=False)
    want = reference.sigmoid(x.astype(np.float64))
    for threads in (1, 2):
        parallel = threads > 1
        with _threads(threads):
            small = np.full(100, SENTINEL, dtype)
            fa.sigmoid(x[:100], out=small, backend=backend)       # 800 bytes of traffic: ordinary
            assert calls == []
            inplace = x.copy()
            fa.sigmoid_(inplace, backend=backend)                   # in place never streams
            assert calls == []
            assert_close(inplace, want, dtype, "sigmoid_")
            out = np.full_like(x, SENTINEL)
            fa.sigmoid(x, out=out, backend=backend)
            assert calls == [(backend, "sigmoid", "forward", parallel)]
            assert_close(out, want, dtype, f"sigmoid {threads} threads")
            grad = np.full_like(x, SENTINEL)
            fa.sigmoid_backward(g, out, out=grad, from_output=True, backend=backend)
            assert calls[-1] == (backend, "sigmoid", "backward_from_output", parallel)
            assert_close(grad, reference.sigmoid_backward_from_output(g.astype(np.float64),
                                                                      out.astype(np.float64)),
                         dtype, "sigmoid_backward from the output")
            calls.clear()


@DTYPES
def test_plans_bound_kernels_take_the_policys_numbers(dtype):
    """A Cython plan runs contiguous calls through a BoundKernel (fastact.kernel's C path), which
    streams from the policy's stream_from and goes parallel from the family's threshold: the
    numbers the Python plan path uses (test above).  The public functions use it."""
    if not _backends.available("cython"):
        pytest.skip("the cython backend is not available")
    from fastact._api import OPS
    dt = np.dtype(dtype)
    r = OPS["sigmoid"].resolve((), "test")
    for direction, inputs in (("forward", 1), ("backward_from_output", 2)):
        plan = _dispatch.make_plan(r, direction, dt, "cython", "test")
        assert plan.bound is not None
        assert plan.bound.stream_from == plan.stream_from == _policy.stream_from(dt, inputs)
        assert plan.bound.threshold == plan.threshold == _policy.PARALLEL_THRESHOLD["compute"]
    x = sample((1000,), dtype, seed=3)
    fa.sigmoid(x, backend="cython")
    assert OPS["sigmoid"]._plans[((), dt, "forward", "cython")].bound is not None


@pytest.mark.parametrize("backend", BACKENDS)
@DTYPES
def test_pre_resolved_kernels_stream_large_outputs_correctly(small_stream_threshold, backend, dtype):
    x = sample((3000,), dtype, seed=5)
    g = sample((3000,), dtype, seed=6, special=False)
    forward = fa.kernel("silu", dtype, backend=backend)
    backward = fa.kernel("silu", dtype, backward=True, backend=backend)
    want = reference.silu(x.astype(np.float64))
    want_grad = reference.silu_backward(g.astype(np.float64), x.astype(np.float64))
    for threads in (1, 2):
        with _threads(threads):
            obuf, out = offset_view(x.size, dtype, 3)
            forward(x, out)
            assert_close(out, want, dtype, "silu kernel, out of place")
            assert untouched_around(obuf, out)
            gbuf, grad = offset_view(x.size, dtype, 5)
            backward(g, x, grad)
            assert_close(grad, want_grad, dtype, "silu backward kernel, out of place")
            assert untouched_around(gbuf, grad)
            inplace = x.copy()
            forward(inplace)
            assert_close(inplace, want, dtype, "silu kernel, in place")


# --- the stores, from the machine code -------------------------------------------------------------

@pytest.mark.skipif(not _backends.available("cython"), reason="the cython backend is not available")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump not installed")
@pytest.mark.parametrize("variant,register", [("avx2", "ymm"), ("avx512", "zmm")])
def test_cython_streaming_loops_compute_and_store_packed(variant, register):
    if variant not in _backends.load("cython").info()["variants_compiled"].split():
        pytest.skip(f"the {variant} variant was not compiled here")
    functions = cython_disassembly(variant)
    for key, suffix in (("_sigmoid_forward_f32_", "ps"), ("_relu_forward_f32_", "ps"),
                        ("_tanh_backward_f64_", "pd"), ("_gelu_forward_f64_", "pd")):
        body = "\n".join(code for name, code in functions.items()
                         if key in name and re.search(r"_(nt|contiguous_nogil)\b", name))
        assert body, f"no machine code found for {key}"
        assert re.search(rf"\bvmovnt{suffix}\s+%{register}", body), f"{variant} {key}: no streaming stores"
        packed = re.findall(rf"\bv\w+{suffix}\s+[^\n]*%{register}", body)
        assert len(packed) >= 8, f"{variant} {key}: no packed {register} arithmetic"


@pytest.mark.skipif(not _backends.available("numba"), reason="the numba backend is not available")
@pytest.mark.parametrize("family,direction,dtype", [("sigmoid", "forward", np.float32),
                                                    ("tanh", "backward", np.float64)])
def test_numba_streaming_loops_compute_and_store_packed(family, direction, dtype):
    module = _backends.load("numba")
    kernel = module.elementwise_kernel(family, direction, dtype, True, False, stream=True, cache=False)
    arrays = [np.ones(64, dtype) for _ in range(2 if direction == "forward" else 3)]
    kernel(*arrays, (), 1)
    asm = "\n".join(kernel.inspect_asm().values())
    suffix = "ps" if dtype == np.float32 else "pd"
    assert re.search(rf"\bvmovnt{suffix}\s+%[xyz]mm", asm), f"{family} {direction}: no streaming stores"
    packed = re.findall(rf"\bv\w+{suffix}\s+[^\n]*%[yz]mm", asm)
    assert len(packed) >= 8, f"{family} {direction}: no packed ymm/zmm arithmetic"


# --- softmax rows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@DTYPES
@pytest.mark.parametrize("cols", [1, 17, 1000, 1037, 4096, 4097])
def test_streaming_softmax_rows_write_every_element_once(backend, cols, dtype):
    """softmax, log_softmax and their backward with streaming stores: rows of any length (the
    blocks of the output passes, softmax's whole-row buffer and rows longer than it, which get
    ordinary stores), outputs at any offset and one not aligned to the itemsize, serial and split:
    the reference's values and nothing written outside the output."""
    module = _backends.load(backend)
    rows = 5
    x = sample((rows, cols), dtype, seed=cols, special=False)
    g = sample((rows, cols), dtype, seed=cols + 1, special=False)
    for log in (False, True):
        name = "log_softmax" if log else "softmax"
        y = getattr(reference, name)(x.astype(np.float64)).astype(dtype)
        want = {"forward": getattr(reference, name)(x.astype(np.float64)),
                "backward": getattr(reference, f"{name}_backward_from_output")(g.astype(np.float64),
                                                                                y.astype(np.float64))}
        for parallel, counts in ((False, (1,)), (True, (1, 2, 7))):
            forward = module.softmax_kernel("forward", dtype, parallel)
            backward = module.softmax_kernel("backward", dtype, parallel)
            for nchunks in counts:
                for off in (0, 3, 13):
                    for direction, run in (("forward", lambda o: forward(x, o, log, nchunks, True)),
                                           ("backward", lambda o: backward(g, y, o, log, nchunks, True))):
                        what = f"{backend} {name} {direction} nchunks={nchunks} offset {off}"
                        obuf, flat = offset_view(rows * cols, dtype, off)
                        run(flat.reshape(rows, cols))
                        assert_close(flat.reshape(rows, cols), want[direction], dtype, what)
                        assert untouched_around(obuf, flat), f"{what}: wrote outside the output"
                raw, flat = _misaligned(rows * cols, dtype)
                forward(x, flat.reshape(rows, cols), log, nchunks, True)
                assert_close(flat.copy().reshape(rows, cols), want["forward"], dtype, f"{name} misaligned")
                assert _bytes_untouched_around(raw, flat), f"{name} misaligned: wrote outside the output"


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_softmax_calls_stream_and_in_place_ones_do_not(small_stream_threshold, monkeypatch, backend):
    module = _backends.load(backend)
    calls = []
    real = module.softmax_kernel

    def spy(direction, dtype, parallel):
        kernel = real(direction, dtype, parallel)

        def recorded(*arrays):
            calls.append((direction, arrays[-1]))
            return kernel(*arrays)
        return recorded
    monkeypatch.setattr(module, "softmax_kernel", spy)
    # the Python paths, whose kernels the spy sees: the Cython backend's BoundRows makes the same
    # choice in C (test_softmax_bound_rows_stream_large_calls_correctly)
    monkeypatch.delattr(module, "softmax_bound", raising=False)
    x = sample((40, 100), np.float32, seed=7, special=False)
    g = sample((40, 100), np.float32, seed=8, special=False)
    y = fa.softmax(x, backend=backend)
    assert calls == [("forward", True)]
    fa.softmax(x[:2], backend=backend)                              # 1.6 KB of traffic
    fa.softmax_(x.copy(), backend=backend)
    assert [stream for _, stream in calls[1:]] == [False, False]
    grad = fa.softmax_backward(g, y, from_output=True, backend=backend)
    assert calls[-1] == ("backward", True)
    fa.log_softmax_backward(g, np.log(y), from_output=True, backend=backend)
    assert calls[-1] == ("backward", False)                         # measured slower: see _dispatch
    assert_close(y, reference.softmax(x.astype(np.float64)), np.float32, "softmax")
    assert_close(grad, reference.softmax_backward_from_output(g.astype(np.float64), y.astype(np.float64)),
                 np.float32, "softmax backward")


@DTYPES
def test_softmax_bound_rows_stream_large_calls_correctly(small_stream_threshold, dtype):
    """The Cython backend's softmax calls on contiguous rows go through BoundRows (the checks and
    the call in C), which streams from the policy's stream_from (here 4 KB of traffic): the
    reference's values, nothing written around the output, in place and out of place, forward
    and backward, 1 and 2 threads."""
    if not _backends.available("cython"):
        pytest.skip("the cython backend is not available")
    from fastact._api import OPS
    dt = np.dtype(dtype)
    x = sample((40, 100), dtype, seed=7, special=False)
    g = sample((40, 100), dtype, seed=8, special=False)
    for name in ("softmax", "log_softmax"):
        fn, backward = getattr(fa, name), getattr(fa, name + "_backward")
        y = fn(x, backend="cython")                         # the general path makes the plan
        plan = OPS[name]._plans[(dt, "cython")]
        assert plan.bound_forward.stream_from == _policy.stream_from(dt, 1) < x.size     # so these calls stream
        assert plan.bound_backward.stream_from == _policy.stream_from(dt, 2) < x.size
        assert plan.bound_forward.threshold == _policy.PARALLEL_THRESHOLD["compute"]
        want = getattr(reference, name)(x.astype(np.float64))
        want_dx = getattr(reference, f"{name}_backward_from_output")(g.astype(np.float64), y.astype(np.float64))
        for threads in (1, 2):
            with _threads(threads):
                obuf, out = offset_view(x.size, dtype, 3)
                assert fn(x, out=out.reshape(x.shape), backend="cython") is not None
                assert_close(out.reshape(x.shape), want, dtype, f"{name}, {threads} thread(s)")
                assert untouched_around(obuf, out)
                xi = x.copy()
                fn(xi, out=xi, backend="cython")
                assert_close(xi, want, dtype, f"{name} in place")
                gbuf, gx = offset_view(x.size, dtype, 5)
                backward(g, y, out=gx.reshape(x.shape), from_output=True, backend="cython")
                assert_close(gx.reshape(x.shape), want_dx, dtype, f"{name} backward")
                assert untouched_around(gbuf, gx)
                g1 = g.copy()
                assert backward(g1, y, out=g1, from_output=True, backend="cython") is g1
                assert_close(g1, want_dx, dtype, f"{name} backward into grad")
                dx = backward(g, x, backend="cython")     # from x: the forward, then the backward
                assert_close(dx, want_dx, dtype, f"{name} backward from x")
