"""The Numba loop machinery, written once and specialised for every kernel family.

Each template below is an ordinary function whose free name ``scalar`` (and, for prelu,
``scalar_backward``) is bound per family and dtype by :func:`specialize`.  Specialising by cloning
the code object with new globals — rather than by a closure — keeps on-disk caching working:
Numba keys its cache on the function's qualified name, bytecode and closure contents, and a
closure holding a jitted function pickles differently in every process, so a closure would never
hit the cache.  Each clone gets a qualified name of its own (family, direction, dtype, layout,
serial/parallel, plus a fingerprint of the backend's sources so that editing the math invalidates
stale entries).

Kernel ABI (shared with the Cython backend, see ``fastact/_backends.py``):

* contiguous elementwise: 1-D C-contiguous arrays; ``forward(x, out, args, nchunks)``,
  ``backward(grad, saved, out, args, nchunks)``; in place (out is x, or out is grad):
  ``forward(x, args, nchunks)``, ``backward(grad, saved, args, nchunks)``; with streaming stores
  (large outputs, out of place): the two-array signatures;
* strided elementwise: the same with 2-D arrays of any strides;
* ``args``: a tuple of scalars of the array's dtype, in the family's argument order;
* ``nchunks``: how many contiguous blocks the work is split into; a parallel kernel runs one block
  per ``prange`` iteration, a serial kernel is the same template compiled with parallel=False
  (``prange`` then behaves as ``range``) and gets nchunks=1.

Every block starts with ``wide()`` (see the import).  Inner loops index slices from 0 so the index is provably non-negative: with ``range(lo, hi)``
Numba's negative-index wraparound makes LLVM emit gathers/scatters instead of packed loads.
"""
from __future__ import annotations

import hashlib
import math
import os
import types
from pathlib import Path

import numba
import numpy as np
from numba import prange

from ..spec import PREFETCH_AHEAD_BYTES, PREFETCH_CHUNK_BYTES, STREAM_CHUNK_BYTES
from .intrinsics import bits_float, float_bits, prefetch, store_fence, stream_store

# Called first in every parallel block (the block is its own LLVM function when parallel): asks
# LLVM for 512-bit vectors, which it does not use by default on Intel server CPUs; the
# transcendental loops run 1.1-1.5x faster with them here (ignored without AVX-512).
from .intrinsics import prefer_vector_width_512 as wide

# Blocks after the first start where the output is 64-byte aligned (`lead` elements from its
# start, then multiples of this many elements), so that two threads never write the same cache
# line; each block's first piece runs up to such a boundary, so the vector stores are aligned.
_ALIGN = 16

#: Numba options of every kernel: error_model="numpy" drops the ZeroDivisionError check that
#: blocks vectorization; "contract" lets LLVM fuse multiply-adds (no nnan/ninf: NaN and inf
#: semantics must stay exact); nogil lets several Python threads run kernels at once.
KERNEL_OPTIONS = dict(error_model="numpy", fastmath={"contract"}, nogil=True)
#: Row reductions (softmax) may also reassociate sums so that they vectorize.
REDUCTION_OPTIONS = dict(error_model="numpy", fastmath={"contract", "reassoc"}, nogil=True)


def _source_fingerprint() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(here.glob("*.py")) + [here.parent / "_coefficients.py", here.parent / "spec.py"]:
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


FINGERPRINT = _source_fingerprint()
#: FASTACT_NUMBA_CACHE=0 turns the on-disk cache off (kernels then compile in every process).
CACHE = os.environ.get("FASTACT_NUMBA_CACHE", "1") not in ("0", "false", "no", "off")


def _lead(a):
    """The number of elements before the first 64-byte boundary at or after a's data (0 when the
    address is not a multiple of the itemsize).  NumPy's large arrays start 16 bytes past one;
    a loop over two inputs and an output ran 5% slower at 10**7 float32 with every zmm access
    split across two cache lines.  (The Cython twin: _lead in _kernels.pyx.tp.)"""
    addr = a.ctypes.data
    size = a.itemsize
    if addr % size:
        return 0
    return ((64 - addr % 64) % 64) // size


def _block(c, nchunks, n, lead):
    """[lo, hi) of block c of n elements split into nchunks blocks, all but the first starting
    lead + a multiple of _ALIGN elements in."""
    lo = 0 if c == 0 else max(0, (c * n // nchunks - lead) // _ALIGN * _ALIGN + lead)
    hi = n if c == nchunks - 1 else max(0, ((c + 1) * n // nchunks - lead) // _ALIGN * _ALIGN + lead)
    return lo, hi


def _first_stop(lo, hi, lead, chunk):
    """The end of a block's first piece: the next aligned boundary (lead + a multiple of _ALIGN)
    if lo is not on one, else lo + chunk; at most hi."""
    h = (lead - lo) % _ALIGN
    return min(lo + h if h else lo + chunk, hi)


def _aligned_from(lo, hi, lead):
    """The first aligned boundary (lead + a multiple of _ALIGN) at or after lo; at most hi."""
    return min(lo + (lead - lo) % _ALIGN, hi)


lead_of = numba.njit(inline="always")(_lead)
aligned_from = numba.njit(inline="always")(_aligned_from)
block = numba.njit(inline="always")(_block)
first_stop = numba.njit(inline="always")(_first_stop)


# The contiguous elementwise loops of compute-bound families run in chunks that prefetch their
# inputs ahead (fastact/spec.py, PREFETCH_*: why and how much), like the Cython loops.
_NEVER = 1 << 40    # a chunk and a prefetch distance that no array reaches: the plain loop


def chunking(itemsize: int, prefetch: bool) -> dict:
    """The PREFETCH, CHUNK, AHEAD, LINE, SCHUNK and PAGE globals (in elements) of a contiguous
    elementwise template (`prefetch`: fastact.spec.prefetches; SCHUNK: the streaming templates'
    chunk, which prefetch only under PREFETCH; PAGE: 4096 bytes)."""
    if not prefetch:
        return dict(PREFETCH=False, CHUNK=_NEVER, AHEAD=_NEVER, LINE=1,
                    SCHUNK=STREAM_CHUNK_BYTES // itemsize, PAGE=4096 // itemsize)
    return dict(PREFETCH=True, CHUNK=PREFETCH_CHUNK_BYTES // itemsize,
                AHEAD=PREFETCH_AHEAD_BYTES // itemsize, LINE=64 // itemsize,
                SCHUNK=PREFETCH_CHUNK_BYTES // itemsize, PAGE=4096 // itemsize)


@numba.njit(inline="always")
def prefetch_lines(a, start, stop, step):
    for j in range(start, stop, step):
        prefetch(a, j)


@numba.njit(inline="always")
def stream_out(dest, buf):
    """dest[:] = buf[:dest.size] (dest contiguous): up to dest's first 64-byte boundary, and a
    last partial vector, with ordinary stores, the lines between with streaming ones."""
    n = dest.size
    h = min(lead_of(dest), n)
    for i in range(h):
        dest[i] = buf[i]
    rest = dest[h:]
    body = buf[h:n]
    stream_rest(rest, 0, body, n - h, stream_store(rest, 0, body, n - h))


@numba.njit(inline="always")
def stream_rest(out, start, buf, count, done):
    """out[start + done:start + count] = buf[done:count]: what stream_store left (fewer elements
    than a vector), with ordinary stores (slices indexed from 0: no wraparound, no gathers)."""
    os_ = out[start + done:start + count]
    bs = buf[done:count]
    for i in range(os_.size):
        os_[i] = bs[i]


# --- elementwise templates -------------------------------------------------------------------------

# PREFETCH, CHUNK, AHEAD, LINE, SCHUNK, PAGE: see chunking() (bound by specialize, like scalar).

def forward_contiguous(x, out, args, nchunks):
    n = x.size
    lead = lead_of(out)
    for c in prange(nchunks):
        wide()
        lo, hi = block(c, nchunks, n, lead)
        b = lo
        e = first_stop(lo, hi, lead, CHUNK)  # noqa: F821
        while b < hi:
            prefetch_lines(x, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            xs = x[b:e]
            os_ = out[b:e]
            for i in range(xs.size):
                os_[i] = scalar(xs[i], args)  # noqa: F821 (bound by specialize)
            b = e
            e = min(b + CHUNK, hi)  # noqa: F821


def backward_contiguous(grad, saved, out, args, nchunks):
    n = grad.size
    lead = lead_of(out)
    for c in prange(nchunks):
        wide()
        lo, hi = block(c, nchunks, n, lead)
        b = lo
        e = first_stop(lo, hi, lead, CHUNK)  # noqa: F821
        while b < hi:
            prefetch_lines(grad, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            prefetch_lines(saved, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            gs = grad[b:e]
            ss = saved[b:e]
            os_ = out[b:e]
            for i in range(gs.size):
                os_[i] = scalar(gs[i], ss[i], args)  # noqa: F821
            b = e
            e = min(b + CHUNK, hi)  # noqa: F821


# Out of place with streaming stores (fastact/_policy.py, STREAM_FROM_BYTES: large outputs): each
# block runs up to its first 64-byte boundary with ordinary stores, then computes chunks of SCHUNK
# elements into its own row of an L1 buffer and streams them out (stream_store).  The buffer is
# allocated before the prange (an allocation inside would be hoisted out of it and shared), its
# rows a page more than a chunk apart: rows 64 bytes apart ran 2*10**7 float32 relu on 2 threads
# in 4.2 ms, a page apart 3.3 ms (as the Cython loops, whose buffers are on the threads' stacks).

def forward_contiguous_stream(x, out, args, nchunks):
    n = x.size
    lead = lead_of(out)
    bufs = np.empty((nchunks, SCHUNK + PAGE), x.dtype)  # noqa: F821
    for c in prange(nchunks):
        wide()
        lo, hi = block(c, nchunks, n, lead)
        buf = bufs[c]
        b = aligned_from(lo, hi, lead)
        xs = x[lo:b]
        os_ = out[lo:b]
        for i in range(xs.size):
            os_[i] = scalar(xs[i], args)  # noqa: F821
        while b < hi:
            e = min(b + SCHUNK, hi)  # noqa: F821
            if PREFETCH:  # noqa: F821
                prefetch_lines(x, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            xs = x[b:e]
            for i in range(xs.size):
                buf[i] = scalar(xs[i], args)  # noqa: F821
            stream_rest(out, b, buf, e - b, stream_store(out, b, buf, e - b))
            b = e
        store_fence()


def backward_contiguous_stream(grad, saved, out, args, nchunks):
    n = grad.size
    lead = lead_of(out)
    bufs = np.empty((nchunks, SCHUNK + PAGE), grad.dtype)  # noqa: F821
    for c in prange(nchunks):
        wide()
        lo, hi = block(c, nchunks, n, lead)
        buf = bufs[c]
        b = aligned_from(lo, hi, lead)
        gs = grad[lo:b]
        ss = saved[lo:b]
        os_ = out[lo:b]
        for i in range(gs.size):
            os_[i] = scalar(gs[i], ss[i], args)  # noqa: F821
        while b < hi:
            e = min(b + SCHUNK, hi)  # noqa: F821
            if PREFETCH:  # noqa: F821
                prefetch_lines(grad, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
                prefetch_lines(saved, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            gs = grad[b:e]
            ss = saved[b:e]
            for i in range(gs.size):
                buf[i] = scalar(gs[i], ss[i], args)  # noqa: F821
            stream_rest(out, b, buf, e - b, stream_store(out, b, buf, e - b))
            b = e
        store_fence()


# In place, the output IS an input. The two-array templates above would still be correct, but
# LLVM guards their vector loop with a runtime check that the arrays do not overlap, which fails
# when they are the same array, and runs the scalar loop; these one-array forms avoid that.

def forward_contiguous_inplace(x, args, nchunks):
    n = x.size
    lead = lead_of(x)
    for c in prange(nchunks):
        wide()
        lo, hi = block(c, nchunks, n, lead)
        b = lo
        e = first_stop(lo, hi, lead, CHUNK)  # noqa: F821
        while b < hi:
            prefetch_lines(x, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            xs = x[b:e]
            for i in range(xs.size):
                xs[i] = scalar(xs[i], args)  # noqa: F821
            b = e
            e = min(b + CHUNK, hi)  # noqa: F821


def backward_contiguous_inplace(grad, saved, args, nchunks):
    n = grad.size
    lead = lead_of(grad)
    for c in prange(nchunks):
        wide()
        lo, hi = block(c, nchunks, n, lead)
        b = lo
        e = first_stop(lo, hi, lead, CHUNK)  # noqa: F821
        while b < hi:
            prefetch_lines(grad, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            prefetch_lines(saved, b + AHEAD, min(e + AHEAD, hi), LINE)  # noqa: F821
            gs = grad[b:e]
            ss = saved[b:e]
            for i in range(gs.size):
                gs[i] = scalar(gs[i], ss[i], args)  # noqa: F821
            b = e
            e = min(b + CHUNK, hi)  # noqa: F821


def forward_strided(x, out, args, nchunks):
    rows, cols = x.shape
    n = rows * cols
    for c in prange(nchunks):
        wide()
        lo = c * n // nchunks
        hi = (c + 1) * n // nchunks
        # Walk rows from the block's first element; a block may start and end mid-row.
        r = lo // cols
        j = lo - r * cols
        k = lo
        while k < hi:
            stop = min(cols, j + (hi - k))
            xs = x[r, j:stop]
            os_ = out[r, j:stop]
            for i in range(xs.size):
                os_[i] = scalar(xs[i], args)  # noqa: F821
            k += stop - j
            r += 1
            j = 0


def backward_strided(grad, saved, out, args, nchunks):
    rows, cols = grad.shape
    n = rows * cols
    for c in prange(nchunks):
        wide()
        lo = c * n // nchunks
        hi = (c + 1) * n // nchunks
        r = lo // cols
        j = lo - r * cols
        k = lo
        while k < hi:
            stop = min(cols, j + (hi - k))
            gs = grad[r, j:stop]
            ss = saved[r, j:stop]
            os_ = out[r, j:stop]
            for i in range(gs.size):
                os_[i] = scalar(gs[i], ss[i], args)  # noqa: F821
            k += stop - j
            r += 1
            j = 0


# --- prelu: a leaky ReLU whose slope is looked up per channel --------------------------------------
# x is viewed as (outer, channels, inner); row r of the (outer * channels, inner) iteration space
# belongs to channel r % channels.

def prelu_forward(x, weight, out, nchunks):
    outer, channels, inner = x.shape
    n = outer * channels * inner
    if n == 0:
        return
    # in place, the loops write through x's own views: through out's, LLVM's overlap check
    # fails and the scalar loop runs (1e6 float32: 215 us against 89 for Cython)
    inplace = out.ctypes.data == x.ctypes.data
    for c in prange(nchunks):
        wide()
        lo = c * n // nchunks
        hi = (c + 1) * n // nchunks
        # Walk rows from the block's first element; a block may start and end mid-row (one
        # channel, or fewer rows than threads, still splits evenly).
        if inner == 1:
            # channels last (e.g. (batch, features)): each outer row's channels in one loop with
            # the slopes as a vector (rows of one element each ran 20x slower than leaky_relu)
            o = lo // channels
            ch = lo - o * channels
            k = lo
            while k < hi:
                stop = min(channels, ch + (hi - k))
                xs = x[o, ch:stop, 0]
                ws = weight[ch:stop]
                if inplace:
                    for i in range(xs.size):
                        xs[i] = scalar(xs[i], (ws[i],))  # noqa: F821
                else:
                    os_ = out[o, ch:stop, 0]
                    for i in range(xs.size):
                        os_[i] = scalar(xs[i], (ws[i],))  # noqa: F821
                k += stop - ch
                o += 1
                ch = 0
            continue
        r = lo // inner
        j = lo - r * inner
        k = lo
        while k < hi:
            stop = min(inner, j + (hi - k))
            o = r // channels
            ch = r - o * channels
            w = weight[ch]
            xs = x[o, ch, j:stop]
            if inplace:
                for i in range(xs.size):
                    xs[i] = scalar(xs[i], (w,))  # noqa: F821
            else:
                os_ = out[o, ch, j:stop]
                for i in range(xs.size):
                    os_[i] = scalar(xs[i], (w,))  # noqa: F821
            k += stop - j
            r += 1
            j = 0


def prelu_backward(grad, x, weight, grad_x, grad_weight_rows, nchunks):
    """grad_x = leaky backward with the channel's slope; grad_weight_rows[o, ch] = the row's
    sum of g * x where x <= 0 (float64), which the caller reduces over `o`; with inner == 1
    (channels last), a row per block of LASTBLOCK outer rows instead (fastact/spec.py,
    PRELU_LAST_BLOCK)."""
    outer, channels, inner = x.shape
    rows = outer * channels
    if inner == 1:
        blocks = (outer + LASTBLOCK - 1) // LASTBLOCK  # noqa: F821
        for c in prange(nchunks):
            wide()
            for b in range(c * blocks // nchunks, (c + 1) * blocks // nchunks):
                acc = grad_weight_rows[b]
                acc[:] = 0.0
                for o in range(b * LASTBLOCK, min(outer, (b + 1) * LASTBLOCK)):  # noqa: F821
                    gs = grad[o, :, 0]
                    xs = x[o, :, 0]
                    os_ = grad_x[o, :, 0]
                    for ch in range(channels):
                        v = xs[ch]
                        g = gs[ch]
                        acc[ch] += 0.0 if v > 0 else float(v) * float(g)
                        os_[ch] = scalar(g, v, (weight[ch],))  # noqa: F821
        return
    for c in prange(nchunks):
        wide()
        r0 = c * rows // nchunks
        r1 = (c + 1) * rows // nchunks
        for r in range(r0, r1):
            o = r // channels
            ch = r - o * channels
            w = weight[ch]
            gs = grad[o, ch]
            xs = x[o, ch]
            os_ = grad_x[o, ch]
            acc = 0.0
            for i in range(inner):
                v = xs[i]
                g = gs[i]
                # Read both before writing: grad_x may be grad (in place).
                acc += 0.0 if v > 0 else float(v) * float(g)
                os_[i] = scalar(g, v, (w,))  # noqa: F821
            grad_weight_rows[o, ch] = acc


# --- fused: a per-feature bias before the activation, and per-feature zero counts after it ----------
# Bound per specialisation (compile-time constants, so LLVM drops the dead branches): SHIFT adds
# the bias (in a backward: to the saved input; a backward from the output does not), COUNT counts
# zero outputs per feature, INPLACE writes through the first array's own view (the output argument
# is then ignored), which keeps LLVM from guarding the vector loop with an overlap check that an
# in-place call would fail.
#
# "rows": (rows, features) C-contiguous, the bias varies along the contiguous axis (the last axis
# is the feature axis).  "planes": (outer, features, inner) C-contiguous, the bias is constant
# along each contiguous inner plane (e.g. the channels of NCHW).  Each parallel block c writes its
# partial counts / bias-gradient sums to row c of `parts`, which the caller reduces.

def bias_rows_forward(x, bias, out, parts, args, nchunks):
    rows, cols = x.shape
    for c in prange(nchunks):
        wide()
        r0 = c * rows // nchunks
        r1 = (c + 1) * rows // nchunks
        counts = parts[c]
        for r in range(r0, r1):
            xs = x[r]
            os_ = xs if INPLACE else out[r]  # noqa: F821
            for i in range(cols):
                y = scalar(xs[i] + bias[i], args) if SHIFT else scalar(xs[i], args)  # noqa: F821
                os_[i] = y
                if COUNT:  # noqa: F821
                    counts[i] += y == 0


def bias_rows_backward(grad, saved, bias, out, parts, args, nchunks):
    rows, cols = grad.shape
    for c in prange(nchunks):
        wide()
        r0 = c * rows // nchunks
        r1 = (c + 1) * rows // nchunks
        sums = parts[c]
        for r in range(r0, r1):
            gs = grad[r]
            ss = saved[r]
            os_ = gs if INPLACE else out[r]  # noqa: F821
            for i in range(cols):
                d = scalar(gs[i], ss[i] + bias[i], args) if SHIFT else scalar(gs[i], ss[i], args)  # noqa: F821
                os_[i] = d
                sums[i] += d


def bias_planes_forward(x, bias, out, parts, args, nchunks):
    outer, channels, inner = x.shape
    rows = outer * channels
    for c in prange(nchunks):
        wide()
        r0 = c * rows // nchunks
        r1 = (c + 1) * rows // nchunks
        for r in range(r0, r1):
            o = r // channels
            ch = r - o * channels
            b = bias[ch]
            xs = x[o, ch]
            os_ = xs if INPLACE else out[o, ch]  # noqa: F821
            zeros = 0
            for i in range(inner):
                y = scalar(xs[i] + b, args) if SHIFT else scalar(xs[i], args)  # noqa: F821
                os_[i] = y
                if COUNT:  # noqa: F821
                    zeros += y == 0
            if COUNT:  # noqa: F821
                parts[c, ch] += zeros


def bias_planes_backward(grad, saved, bias, out, parts, args, nchunks):
    outer, channels, inner = grad.shape
    rows = outer * channels
    for c in prange(nchunks):
        wide()
        r0 = c * rows // nchunks
        r1 = (c + 1) * rows // nchunks
        for r in range(r0, r1):
            o = r // channels
            ch = r - o * channels
            b = bias[ch]
            gs = grad[o, ch]
            ss = saved[o, ch]
            os_ = gs if INPLACE else out[o, ch]  # noqa: F821
            for i in range(inner):
                os_[i] = scalar(gs[i], ss[i] + b, args) if SHIFT else scalar(gs[i], ss[i], args)  # noqa: F821
            # Summed in a second, reassociating loop: a float sum in this loop would keep it
            # scalar, and reassociation must not reach the activation's own math.
            parts[c, ch] += row_sum(os_)  # noqa: F821


def _row_sum(a):
    s = 0.0
    for i in range(a.size):
        s += a[i]
    return s


row_sum = numba.njit(error_model="numpy", fastmath={"contract", "reassoc"}, nogil=True)(_row_sum)


def _row_sum_nonneg(a):
    """The sum of terms >= 0 (exp values), in float64: the four quarters of `a` are added in its
    own dtype first, ((a + b) + (c + d)) rounding by at most 2 ulp of a sum of non-negative
    terms, so that a quarter of the float32 -> float64 conversions remain (they, not the adds,
    bound the plain loop).  The twin of the Cython fastact_row_sum_nonneg."""
    n = a.size
    q = n // 4
    s = 0.0
    for i in range(q):
        s += (a[i] + a[q + i]) + (a[2 * q + i] + a[3 * q + i])
    for i in range(4 * q, n):
        s += a[i]
    return s


row_sum_nonneg = numba.njit(**REDUCTION_OPTIONS)(_row_sum_nonneg)


# --- softmax / log_softmax over the rows of a 2-D array --------------------------------------------

def max_key_constants(F) -> dict:
    """The bindings of softmax_forward's integer-key max for float dtype F: key(b) = b ^ ((b >>
    (bits - 1)) & magnitude mask) orders the bit patterns as the floats (and is its own inverse)."""
    I, shift, mag = (np.int32, 31, 0x7fffffff) if F is np.float32 else (np.int64, 63, 0x7fffffffffffffff)
    start = int(np.array(-np.inf, F).view(I))
    return dict(KEY_INT=I, KEY_SHIFT=shift, KEY_MAG=mag, KEY_START=I(start ^ ((start >> shift) & mag)))


# `stream`: the output with streaming stores (out is not an input), through each thread's row of
# `bufs` (ROWMAX elements: log_softmax and the backward go through it in blocks, softmax whole rows
# of up to ROWMAX elements, longer rows with ordinary stores).  The exp passes run in chunks of
# SMCHUNK elements, each first prefetching the same part (up to AHEAD_MAX elements) of the next
# row of x and, where the output neither streams nor is x, of out (fastact/spec.py,
# SOFTMAX_CHUNK: why).

@numba.njit(inline="always")
def prefetch_next_rows(xn, on, i0, i1, line):
    """Prefetch elements [i0, i1) of the next rows xn and (unless it has no elements) on, one
    per `line` elements."""
    prefetch_lines(xn, i0, i1, line)
    if on.size:
        prefetch_lines(on, i0, i1, line)


def softmax_forward(x, out, log, nchunks, stream):
    rows, cols = x.shape
    bufs = np.empty((nchunks, ROWMAX + PAGE if stream else 1), x.dtype)  # noqa: F821
    ahead = min(cols, AHEAD_MAX)  # noqa: F821
    # the output rows are prefetched unless they stream or are x's own
    inplace = out.ctypes.data == x.ctypes.data
    ocols = 0 if stream or inplace else cols
    for c in prange(nchunks):
        wide()
        buf = bufs[c]
        r0 = c * rows // nchunks
        r1 = (c + 1) * rows // nchunks
        for r in range(r0, r1):
            xs = x[r]
            os_ = out[r]
            # the next rows' first `pf` elements are prefetched (none after the block's last row)
            pf = ahead if r + 1 < r1 else 0
            xn = x[r + 1 if r + 1 < r1 else r]
            on = out[r + 1 if r + 1 < r1 else r, :ocols]
            # the max on integer keys (bits with the magnitude flipped for negatives: the same
            # order as the floats), which LLVM vectorizes; a float max reduction stays scalar even
            # with fast-math flags. A NaN may win here, and poisons the row as the sum would.
            kmax = KEY_START  # noqa: F821
            for i in range(cols):
                b = float_bits(xs[i])
                k = KEY_INT(b ^ ((b >> KEY_SHIFT) & KEY_MAG))  # noqa: F821
                kmax = k if k > kmax else kmax
            m = bits_float(KEY_INT(kmax ^ ((kmax >> KEY_SHIFT) & KEY_MAG)))  # noqa: F821
            if log:
                # (exp values in a block buffer summed by row_sum_nonneg, as softmax below does
                # with its output: 0.61 -> 0.75 ns per element, so a float64 sum in the loop)
                s = 0.0
                for i0 in range(0, cols, SMCHUNK):  # noqa: F821
                    i1 = min(i0 + SMCHUNK, cols)  # noqa: F821
                    prefetch_next_rows(xn, on, min(i0, pf), min(i1, pf), LINE)  # noqa: F821
                    xc = xs[i0:i1]      # (slices indexed from 0: no wraparound, no gathers)
                    for i in range(xc.size):
                        s += exp(xc[i] - m)  # noqa: F821
                lse = m + xs.dtype.type(math.log(s))
                b = 0
                e = lead_of(os_) + ROWMAX if stream else cols  # noqa: F821
                while b < cols:
                    e = min(e, cols)
                    xb = xs[b:e]
                    if inplace:
                        # (its own loop: through two views of one row, LLVM's overlap check fails
                        # and the scalar loop runs)
                        for i in range(xb.size):
                            xb[i] = xb[i] - lse
                        b = e
                        e += ROWMAX  # noqa: F821
                        continue
                    dst = buf if stream else os_[b:e]
                    for i in range(xb.size):
                        dst[i] = xb[i] - lse
                    if stream:
                        stream_out(os_[b:e], buf)
                    b = e
                    e += ROWMAX  # noqa: F821
            else:
                # exp(x - m) stored, then summed by row_sum_nonneg: a float64 sum inside this
                # loop costs a conversion per element (rows of 1024 float32, in cache, one
                # thread: 0.58 -> 0.44 ns per element)
                whole = stream and cols <= ROWMAX  # noqa: F821
                dst = buf[:cols] if whole else os_
                for i0 in range(0, cols, SMCHUNK):  # noqa: F821
                    i1 = min(i0 + SMCHUNK, cols)  # noqa: F821
                    prefetch_next_rows(xn, on, min(i0, pf), min(i1, pf), LINE)  # noqa: F821
                    xc = xs[i0:i1]
                    if inplace:
                        # (as above: in place through x's own view, or the loop runs scalar,
                        # 1e6 float32 in place 1.34 ms against 0.33 out of place)
                        for i in range(xc.size):
                            xc[i] = exp(xc[i] - m)  # noqa: F821
                        continue
                    dc = dst[i0:i1]
                    for i in range(xc.size):
                        dc[i] = exp(xc[i] - m)  # noqa: F821
                inv = xs.dtype.type(1.0 / row_sum_nonneg(dst))
                for i in range(cols):
                    dst[i] = dst[i] * inv
                if whole:
                    stream_out(os_, buf)
        if stream:
            store_fence()


def softmax_backward(grad, y, out, log, nchunks, stream):
    rows, cols = y.shape
    bufs = np.empty((nchunks, ROWMAX + PAGE if stream else 1), y.dtype)  # noqa: F821
    for c in prange(nchunks):
        wide()
        buf = bufs[c]
        r0 = c * rows // nchunks
        r1 = (c + 1) * rows // nchunks
        for r in range(r0, r1):
            gs = grad[r]
            ys = y[r]
            os_ = out[r]
            s = 0.0
            if log:
                for i in range(cols):
                    s += gs[i]
            else:
                for i in range(cols):
                    s += gs[i] * ys[i]
            t = ys.dtype.type(s)
            b = 0
            e = lead_of(os_) + ROWMAX if stream else cols  # noqa: F821
            while b < cols:
                e = min(e, cols)
                gb = gs[b:e]
                yb = ys[b:e]
                dst = buf if stream else os_[b:e]
                if log:
                    for i in range(gb.size):
                        dst[i] = gb[i] - exp(yb[i]) * t  # noqa: F821
                else:
                    for i in range(gb.size):
                        dst[i] = yb[i] * (gb[i] - t)
                if stream:
                    stream_out(os_[b:e], buf)
                b = e
                e += ROWMAX  # noqa: F821
        if stream:
            store_fence()


def specialize(template, name: str, *, parallel: bool, options=KERNEL_OPTIONS, cache=None, **bindings):
    """A Numba dispatcher for `template` with `bindings` as its globals, cached on disk under
    its own qualified name."""
    namespace = dict(template.__globals__)
    namespace.update(bindings)
    clone = types.FunctionType(template.__code__, namespace, name, template.__defaults__)
    clone.__qualname__ = f"{name}__{FINGERPRINT}"
    clone.__doc__ = template.__doc__
    return numba.njit(parallel=parallel, cache=CACHE if cache is None else cache, **options)(clone)
