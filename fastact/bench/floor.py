"""The memory floor: the fastest plain passes with a function's memory traffic, compiled by Numba.

Forward writes one array from another (``out[i] = x[i]``), in place reads and writes one array
(``x[i] = -x[i]``), backward reads two and writes one (``out[i] = grad[i] * x[i]``). No kernel
that moves the same bytes can be much faster; a kernel near the floor is memory-bound.

Each pass exists in two forms, each serial and parallel (``numba.prange`` over the thread count in
force, the same pool and count as fastact's Numba kernels):

* **plain**: the loop as written; LLVM vectorizes it with ordinary stores. A store to a line
  that is not in cache first reads the line (write-allocate, "read for ownership"), so a copy of
  n bytes moves 3n bytes.
* **streaming**: the same loop with 64-byte vector loads and **non-temporal (streaming) stores**
  (``store ... !nontemporal``: ``vmovntps``/``vmovntpd``), which write whole lines without reading
  them first -- what memcpy does for large copies and ONNX Runtime's MLAS kernels do. Measured
  here (one thread, 10^7 elements): float32 copy 3.1 -> 2.5 ms, float64 copy 11.7 -> 7.0 ms,
  float32 multiply (the backward pass) 6.7 -> 3.8 ms. In place they lose (float32 0.9 -> 5.1 ms):
  the line was just read, so there is no write-allocate to save, and the streaming store evicts
  it. A scalar head aligns the destination to 64 bytes, a scalar tail finishes; each thread
  streams one contiguous block of whole vectors.

They are Numba loops rather than NumPy ufuncs because NumPy runs on one thread, and a NumPy pass
split over a Python thread pool pays for the pool on every call: both come out slower than the
kernels they are meant to bound. The report times the NumPy ufunc pass, the plain and the
streaming loops, and keeps the fastest (`fastact.bench.implementations`): the floor is the best
honest pass over the same bytes, not an ordinary copy.
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["copy", "negate", "multiply", "copy_parallel", "negate_parallel", "multiply_parallel",
           "stream_copy", "stream_negate", "stream_multiply", "stream_copy_parallel",
           "stream_negate_parallel", "stream_multiply_parallel", "with_threads", "VECTOR_BYTES"]

_options = {"cache": True, "nogil": True, "boundscheck": False}
# Numba does not cache parallel functions that call an intrinsic inside prange: compiled per process.
_nocache = {**_options, "cache": False}
#: Bytes per streaming store (one cache line, one AVX-512 vector; LLVM splits it for AVX2).
VECTOR_BYTES = 64


# --- plain loops ----------------------------------------------------------------------------------

@numba.njit(**_options)
def copy(x, out):
    for i in range(x.size):
        out[i] = x[i]


@numba.njit(**_options)
def negate(x):
    for i in range(x.size):
        x[i] = -x[i]


@numba.njit(**_options)
def multiply(grad, x, out):
    for i in range(x.size):
        out[i] = grad[i] * x[i]


@numba.njit(parallel=True, **_options)
def copy_parallel(x, out):
    for i in numba.prange(x.size):
        out[i] = x[i]


@numba.njit(parallel=True, **_options)
def negate_parallel(x):
    for i in numba.prange(x.size):
        x[i] = -x[i]


@numba.njit(parallel=True, **_options)
def multiply_parallel(grad, x, out):
    for i in numba.prange(x.size):
        out[i] = grad[i] * x[i]


# --- streaming (non-temporal) stores ---------------------------------------------------------------

def _stream_codegen(n_sources, compute):
    """LLVM IR for ``dest[start:start+count] = compute(sources...)`` in 64-byte vectors with
    non-temporal stores (count a multiple of the vector's lanes, dest + start 64-byte aligned),
    then a store fence. The arguments are (*sources, dest, start, count); for in place, dest is
    also the source."""
    def codegen(context, builder, signature, args):
        arrays = [context.make_array(t)(context, builder, a) for t, a in zip(signature.args[:-2], args[:-2])]
        start, count = args[-2], args[-1]
        element = context.get_value_type(signature.args[0].dtype)
        size = context.get_abi_sizeof(element)
        lanes = VECTOR_BYTES // size
        vector = ir.VectorType(element, lanes)
        pointers = [builder.bitcast(builder.gep(a.data, [start]), vector.as_pointer())
                    for a in arrays[:n_sources + 1]]
        sources = pointers[:n_sources] if n_sources else pointers[-1:]
        dest = pointers[-1] if n_sources else pointers[0]
        vectors = builder.udiv(count, ir.Constant(count.type, lanes))
        function = builder.function
        entry = builder.block
        head = function.append_basic_block("stream.head")
        body = function.append_basic_block("stream.body")
        done = function.append_basic_block("stream.done")
        builder.branch(head)
        builder.position_at_end(head)
        i = builder.phi(count.type)
        i.add_incoming(ir.Constant(count.type, 0), entry)
        builder.cbranch(builder.icmp_signed("<", i, vectors), body, done)
        builder.position_at_end(body)
        loaded = [builder.load(builder.gep(p, [i]), align=size) for p in sources]
        store = builder.store(compute(builder, loaded), builder.gep(dest, [i]), align=VECTOR_BYTES)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        following = builder.add(i, ir.Constant(count.type, 1))
        i.add_incoming(following, body)
        builder.branch(head)
        builder.position_at_end(done)
        builder.fence("seq_cst")                # streaming stores are weakly ordered
        return context.get_dummy_value()
    return codegen


@intrinsic
def _stream_copy_block(typingctx, x, out, start, count):
    return types.void(x, out, types.intp, types.intp), _stream_codegen(1, lambda b, v: v[0])


@intrinsic
def _stream_negate_block(typingctx, x, start, count):
    return types.void(x, types.intp, types.intp), _stream_codegen(0, lambda b, v: b.fneg(v[0]))


@intrinsic
def _stream_multiply_block(typingctx, grad, x, out, start, count):
    return (types.void(grad, x, out, types.intp, types.intp),
            _stream_codegen(2, lambda b, v: b.fmul(v[0], v[1])))


@numba.njit(**_options)
def _plan(dest, blocks):
    """(head, vectors per block, end of the vector part): the scalar head aligns dest to 64 bytes,
    then `blocks` blocks of whole vectors, then the scalar tail from `end`."""
    n = dest.size
    lanes = VECTOR_BYTES // dest.itemsize
    head = ((VECTOR_BYTES - dest.ctypes.data % VECTOR_BYTES) % VECTOR_BYTES) // dest.itemsize
    head = min(head, n)
    vectors = (n - head) // lanes
    per_block = (vectors + blocks - 1) // blocks
    return head, per_block * lanes, head + vectors * lanes


@numba.njit(**_options)
def stream_copy(x, out):
    head, _, end = _plan(out, 1)
    for i in range(head):
        out[i] = x[i]
    _stream_copy_block(x, out, head, end - head)
    for i in range(end, x.size):
        out[i] = x[i]


@numba.njit(**_options)
def stream_negate(x):
    head, _, end = _plan(x, 1)
    for i in range(head):
        x[i] = -x[i]
    _stream_negate_block(x, head, end - head)
    for i in range(end, x.size):
        x[i] = -x[i]


@numba.njit(**_options)
def stream_multiply(grad, x, out):
    head, _, end = _plan(out, 1)
    for i in range(head):
        out[i] = grad[i] * x[i]
    _stream_multiply_block(grad, x, out, head, end - head)
    for i in range(end, x.size):
        out[i] = grad[i] * x[i]


@numba.njit(parallel=True, **_nocache)
def stream_copy_parallel(x, out):
    blocks = numba.get_num_threads()
    head, step, end = _plan(out, blocks)
    for b in numba.prange(blocks):
        start = head + b * step
        stop = min(end, start + step)
        if stop > start:
            _stream_copy_block(x, out, start, stop - start)
    for i in range(head):
        out[i] = x[i]
    for i in range(end, x.size):
        out[i] = x[i]


@numba.njit(parallel=True, **_nocache)
def stream_negate_parallel(x):
    blocks = numba.get_num_threads()
    head, step, end = _plan(x, blocks)
    for b in numba.prange(blocks):
        start = head + b * step
        stop = min(end, start + step)
        if stop > start:
            _stream_negate_block(x, start, stop - start)
    for i in range(head):
        x[i] = -x[i]
    for i in range(end, x.size):
        x[i] = -x[i]


@numba.njit(parallel=True, **_nocache)
def stream_multiply_parallel(grad, x, out):
    blocks = numba.get_num_threads()
    head, step, end = _plan(out, blocks)
    for b in numba.prange(blocks):
        start = head + b * step
        stop = min(end, start + step)
        if stop > start:
            _stream_multiply_block(grad, x, out, start, stop - start)
    for i in range(head):
        out[i] = grad[i] * x[i]
    for i in range(end, x.size):
        out[i] = grad[i] * x[i]


def with_threads(kernel, threads: int):
    """kernel run with `threads` Numba threads (Numba's thread count is per calling thread)."""
    def run(*arrays):
        numba.set_num_threads(threads)
        return kernel(*arrays)
    return run
