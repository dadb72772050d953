"""Shared test machinery: cases enumerated from the spec, inputs, layouts, comparisons."""
from __future__ import annotations

import contextlib
import re
import subprocess

import numpy as np

import fastact as fa
from fastact import _backends, _dispatch, _policy, reference
from fastact.spec import SPECS

BACKENDS = [b for b in ("cython", "numba", "numpy") if _backends.available(b)]
DTYPES = [np.float16, np.float32, np.float64]

# (rtol, atol) against the float64 reference evaluated on the same (exactly representable) inputs.
# float32: a few ULP of our polynomial kernels, plus cancellation in derivatives with a root
# (silu', gelu' ...), which atol covers; float16: results are float32 values rounded to half.
TOLERANCE = {
    np.dtype(np.float16): (2e-3, 2e-5),
    np.dtype(np.float32): (4e-6, 2e-6),
    np.dtype(np.float64): (1e-12, 1e-13),
}

ELEMENTWISE = [s for s in SPECS.values() if s.kind in ("elementwise", "rrelu")]


def _base_params(spec):
    params = {p.name: p.default for p in spec.params if not p.required}
    if any(p.required for p in spec.params):
        params.update(spec.examples[0])
    return params


def elementwise_cases():
    """(name, params) for every elementwise activation: its defaults, then each example set."""
    cases = []
    for spec in ELEMENTWISE:
        base = _base_params(spec)
        sets = [base] + [{**base, **ex} for ex in spec.examples]
        for params in sets:
            if params not in [c[1] for c in cases if c[0] == spec.name]:
                cases.append((spec.name, params))
    return cases


def case_id(case):
    name, params = case
    shown = ",".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return f"{name}({shown})"


def from_output_allowed(name, params):
    spec = SPECS[name]
    values = tuple(params.get(p.name, p.default) for p in spec.params)
    return spec.from_output_error(values) is None


def backward_params(name, params):
    spec = SPECS[name]
    return {k: v for k, v in params.items() if not next(p for p in spec.params if p.name == k).forward_only}


# --- inputs --------------------------------------------------------------------------------------

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 1e30, -1e30, 3.0, -3.0, 6.0, 0.5, -0.5,
           1.5, -1.5, 20.0, 21.0, -100.0, 100.0, 1e-6, -1e-6]


def sample(shape, dtype, seed=0, special=True):
    """Values across the interesting ranges, special values sprinkled in."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    x = np.concatenate([rng.uniform(-8, 8, n), rng.standard_normal(n) * 0.5])[:n]
    if special and n:
        picks = rng.choice(n, size=min(n, len(SPECIAL)), replace=False)
        x[picks] = np.array(SPECIAL)[: len(picks)]
    with np.errstate(over="ignore", under="ignore"):
        return x.reshape(shape).astype(dtype)


def layouts(dtype, seed=0):
    """(label, array) pairs covering the data model's layouts; views keep their bases alive."""
    base2 = sample((37, 29), dtype, seed)
    base3 = sample((5, 6, 7), dtype, seed + 1)
    yield "contiguous", sample((1037,), dtype, seed)
    yield "0-d", sample((), dtype, seed + 2, special=False)
    yield "empty", sample((0,), dtype, seed)
    yield "empty-2d", sample((3, 0), dtype, seed)
    yield "2-d C", base2.copy()
    yield "2-d F", np.asfortranarray(base2)
    yield "transposed", base2.T
    yield "negative stride", sample((301,), dtype, seed + 3)[::-1]
    yield "stepped", sample((900,), dtype, seed + 4)[::3]
    yield "2-d negative and stepped", base2[::-2, ::3]
    yield "3-d uncoalescable", base3[:, ::2, 1:]
    yield "broadcast-free size-1 axes", sample((1, 17, 1), dtype, seed + 5)


# --- comparisons -------------------------------------------------------------------------------------

def reference_forward(name, x, params):
    x64 = np.asarray(x, dtype=np.float64)
    if name == "rrelu":
        return reference.rrelu(x64, **params)
    return getattr(reference, name)(x64, **params)


def reference_backward(name, grad, saved, params, from_output=False):
    suffix = "_backward_from_output" if from_output else "_backward"
    g64 = np.asarray(grad, dtype=np.float64)
    s64 = np.asarray(saved, dtype=np.float64)
    return getattr(reference, name + suffix)(g64, s64, **backward_params(name, params))


#: fills the buffers around offset_view's arrays: a kernel that wrote past them shows
SENTINEL = -7.25


def offset_view(n, dtype, off):
    """A buffer of SENTINEL and its n elements starting `off` elements past a 64-byte boundary
    (with at least 32 elements of the buffer on either side): for the loops that align their
    work to the output's 64-byte boundaries."""
    buf = np.full(n + 128, SENTINEL, dtype)
    start = (-buf.ctypes.data // buf.itemsize) % (64 // buf.itemsize) + 32
    return buf, buf[start + off:start + off + n]


def untouched_around(buf, view):
    """Every element of buf outside view is still SENTINEL."""
    start = (view.ctypes.data - buf.ctypes.data) // buf.itemsize
    return bool(np.all(buf[:start] == SENTINEL) and np.all(buf[start + view.size:] == SENTINEL))


def assert_close(got, want, dtype, what=""):
    """got (in `dtype`) against the float64 truth `want`: NaN where NaN, infinities exact,
    the rest within TOLERANCE[dtype]."""
    dtype = np.dtype(dtype)
    got = np.asarray(got)
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {dtype}"
    g = got.astype(np.float64)
    w = np.asarray(want, dtype=np.float64)
    assert g.shape == w.shape, f"{what}: shape {g.shape}, expected {w.shape}"
    with np.errstate(over="ignore"):
        w = w.astype(dtype).astype(np.float64) if dtype == np.float16 else w
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    bad = np.flatnonzero(nan_g != nan_w)
    assert bad.size == 0, f"{what}: NaN mismatch at {bad[:5]}: got {g.flat[bad[:5]]}, want {w.flat[bad[:5]]}"
    ok = ~nan_w
    inf = np.isinf(w) & ok
    bad = np.flatnonzero(inf & (g != w))
    assert bad.size == 0, f"{what}: infinity mismatch: got {g.flat[bad[:5]]}, want {w.flat[bad[:5]]}"
    fin = ok & ~inf
    rtol, atol = TOLERANCE[dtype]
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g - w)
        limit = atol + rtol * np.abs(w)
    bad = np.flatnonzero(fin & ~(err <= limit))
    if bad.size:
        i = bad[np.argmax((err / limit).flat[bad])]
        raise AssertionError(f"{what}: {bad.size} value(s) off; worst got {g.flat[i]!r}, want {w.flat[i]!r} "
                             f"(err {err.flat[i]:.3g} > {limit.flat[i]:.3g})")


@contextlib.contextmanager
def parallel_everywhere(threads=2):
    """Force the parallel kernels even for tiny arrays."""
    saved = dict(_policy.PARALLEL_THRESHOLD), fa.get_num_threads()
    _policy.PARALLEL_THRESHOLD.update({k: 1 for k in saved[0]})
    fa.set_num_threads(threads)
    _dispatch.reset_plans()
    try:
        yield
    finally:
        _policy.PARALLEL_THRESHOLD.update(saved[0])
        fa.set_num_threads(saved[1])
        _dispatch.reset_plans()


def disassembly(so_path):
    """{symbol: objdump -d text} of a shared object (for the vectorization tests)."""
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(so_path)], capture_output=True,
                          text=True, check=True).stdout
    functions = {}
    for chunk in re.split(r"\n(?=[0-9a-f]+ <)", text):
        m = re.match(r"[0-9a-f]+ <([^>]+)>:", chunk)
        if m:
            functions[m.group(1)] = chunk
    return functions


def cython_disassembly(variant):
    """disassembly() of the Cython backend's extension for one instruction-set variant."""
    from fastact._cython import _variants
    return disassembly(__import__(_variants.module_name(variant), fromlist=["_"]).__file__)
