"""Tests of fastact's vectorizable math primitives (fastact/_numba/mathfn.py).

Special values, a sampled ULP check through tools/ulp_sweep.py (the exhaustive float32 sweep and
the 10**8 float64 run are `python tools/ulp_sweep.py`), float32-in/float32-out typing, and that a
loop calling each primitive vectorizes to packed AVX code with no libm call.
"""
from __future__ import annotations

import os
import re
import sys

import numba
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

from fastact._numba.mathfn import JIT_OPTIONS, build_math  # noqa: E402

import ulp_sweep  # noqa: E402

NAMES = ("exp", "expm1", "log", "log1p", "tanh", "erf", "erfc", "exp_neg_square")
DTYPES = (np.float32, np.float64)
#: max ULP targets (float32: exhaustive sweep; float64: random inputs)
TARGET = {np.float32: 2.0, np.float64: 4.0}
#: gelu's normal cdf misses those targets, and its pdf float32's by a hair (README, "Accuracy": Phi's
#: worst points lie just below a power of 2, where its ~3 eps relative error counts ~6 ULP):
#: bounded here by their measured maxima, rounded up (tools/ulp_sweep.py, 2026-12-02: float32
#: exhaustive 5.94 / 2.09 ULP, float64 on 10**8 inputs 6.91 / 2.09), so that a regression fails
PAIRED_BOUND = {("normal_cdf", np.float32): 6.0, ("normal_cdf", np.float64): 7.5,
                ("normal_pdf", np.float32): 2.5, ("normal_pdf", np.float64): 2.5}

inf, nan = np.inf, np.nan


def _same(y, e):
    """Bitwise-equal up to NaN payload: NaN == NaN, and the sign of zero must match."""
    if np.isnan(e):
        return bool(np.isnan(y))
    return bool(y == e and np.signbit(y) == np.signbit(e))


# (name, x, expected) for both dtypes
COMMON = [
    ("exp", nan, nan), ("exp", inf, inf), ("exp", -inf, 0.0), ("exp", 0.0, 1.0), ("exp", -0.0, 1.0),
    ("exp", 1e30, inf), ("exp", -1e30, 0.0),
    ("expm1", nan, nan), ("expm1", inf, inf), ("expm1", -inf, -1.0), ("expm1", 0.0, 0.0),
    ("expm1", -0.0, -0.0), ("expm1", -1e30, -1.0), ("expm1", 1e30, inf),
    ("log", nan, nan), ("log", inf, inf), ("log", -inf, nan), ("log", 0.0, -inf),
    ("log", -0.0, -inf), ("log", -1.0, nan), ("log", 1.0, 0.0),
    ("log1p", nan, nan), ("log1p", inf, inf), ("log1p", -inf, nan), ("log1p", -1.0, -inf),
    ("log1p", -2.0, nan), ("log1p", -1.5, nan), ("log1p", 0.0, 0.0), ("log1p", -0.0, -0.0),
    ("tanh", nan, nan), ("tanh", inf, 1.0), ("tanh", -inf, -1.0), ("tanh", 0.0, 0.0),
    ("tanh", -0.0, -0.0), ("tanh", 1e30, 1.0), ("tanh", -1e30, -1.0), ("tanh", 30.0, 1.0),
    ("erf", nan, nan), ("erf", inf, 1.0), ("erf", -inf, -1.0), ("erf", 0.0, 0.0),
    ("erf", -0.0, -0.0), ("erf", 7.0, 1.0), ("erf", -1e30, -1.0),
    ("erfc", nan, nan), ("erfc", inf, 0.0), ("erfc", -inf, 2.0), ("erfc", 0.0, 1.0),
    ("erfc", -0.0, 1.0), ("erfc", 30.0, 0.0), ("erfc", -30.0, 2.0), ("erfc", 1e30, 0.0),
    ("exp_neg_square", nan, nan), ("exp_neg_square", inf, 0.0), ("exp_neg_square", -inf, 0.0),
    ("exp_neg_square", 0.0, 1.0), ("exp_neg_square", -0.0, 1.0), ("exp_neg_square", 1e20, 0.0),
    ("exp_neg_square", 30.0, 0.0),
]


def _per_dtype(F):
    fi = np.finfo(F)
    tiny, sub = float(fi.tiny), float(fi.smallest_subnormal)
    if F is np.float32:
        ovf, last, zero_below = 88.72284, 88.72283, -103.98
    else:
        ovf, last, zero_below = 709.7828, 709.7827, -745.14
    return [
        # overflow threshold: just above -> inf, just below -> finite (= max-ish)
        ("exp", ovf, inf), ("expm1", ovf, inf),
        ("exp", zero_below, 0.0),
        # tiny arguments are returned as they are (x + O(x**2))
        ("expm1", sub, sub), ("expm1", -sub, -sub), ("expm1", tiny, tiny),
        ("log1p", sub, sub), ("log1p", -sub, -sub), ("log1p", -tiny, -tiny),
        ("tanh", sub, sub), ("tanh", -sub, -sub), ("erf", -tiny * 0, -0.0),
        ("log", float(fi.max), float(np.log(np.float64(fi.max)).astype(F))),
        ("exp", last, float(np.exp(np.float64(F(last))).astype(F))),
    ]


def _cases():
    for F in DTYPES:
        for name, x, e in COMMON + _per_dtype(F):
            yield pytest.param(F, name, x, e, id=f"{F.__name__}-{name}({x!r})")


@pytest.mark.parametrize("F,name,x,expected", list(_cases()))
def test_special_values(F, name, x, expected):
    f = getattr(build_math(F), name)
    y = f(F(x))   # (Numba boxes a float32 result as a Python float: exact)
    assert _same(F(y), F(expected)), f"{name}({x!r}) = {y!r}, expected {expected!r}"


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_exp_subnormal_results(F):
    """exp is within 1 subnormal ulp in the subnormal range and underflows to 0 where it should."""
    import mpmath as mp
    m = build_math(F)
    fi = np.finfo(F)
    emin = np.log(np.float64(fi.tiny))                 # results below tiny are subnormal
    ezero = np.log(np.float64(fi.smallest_subnormal))  # ~ smallest subnormal
    xs = np.linspace(ezero - 0.7, emin + 0.5, 4001).astype(F)
    for x in xs:
        y = m.exp(x)
        with mp.workdps(40):
            ref = mp.exp(mp.mpf(float(x)))
            # error in units of the smallest subnormal (the ulp there)
            err = float(abs(mp.mpf(float(y)) - ref) / mp.mpf(float(fi.smallest_subnormal)))
        if np.float64(y) < fi.tiny:
            assert err < 1.0, (x, y, ref)
    assert m.exp(F(ezero - 0.7)) == 0
    assert 0 < m.exp(F(ezero + 0.1)) < fi.tiny


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_exp_neg_square_large(F):
    """exp(-x*x) keeps ~1 ULP relative error where x*x ~ 80 (x*x split into hi + lo)."""
    import mpmath as mp
    m = build_math(F)
    rng = np.random.default_rng(1)
    xs = rng.uniform(8.5, 9.4, 2000).astype(F)
    u = 2.0 ** (-23 if F is np.float32 else -52)
    worst = 0.0
    with mp.workdps(40):
        for x in xs:
            r = mp.exp(-mp.mpf(float(x)) ** 2)
            y = m.exp_neg_square(x)
            e = max(int(mp.floor(mp.log(r, 2))), -126 if F is np.float32 else -1022)
            worst = max(worst, float(abs(mp.mpf(float(y)) - r) / mp.ldexp(1, e) / u))
    assert worst <= 2.0, worst


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_sampled(name, F):
    dt = np.dtype(F).name
    r = ulp_sweep.sweep(name, dt, sample=200_000, true_samples=200)
    assert r["points"] >= 150_000
    assert r["max_ulp"] <= TARGET[F], r
    if F is np.float64:
        assert r["true_ulp"] <= TARGET[F], r


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
@pytest.mark.parametrize("name", ("normal_cdf", "normal_pdf"))
def test_ulp_sampled_normal_cdf_pdf(name, F):
    r = ulp_sweep.sweep(name, np.dtype(F).name, sample=200_000, true_samples=200)
    assert r["points"] >= 150_000
    assert r["max_ulp"] <= PAIRED_BOUND[name, F], r
    if F is np.float64:
        assert r["true_ulp"] <= PAIRED_BOUND[name, F], r


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_types(name, F):
    """Each primitive is F -> F; called from jitted code, its result type is F."""
    f = getattr(build_math(F), name)

    @numba.njit
    def wrapper(x):
        return f(x)

    wrapper(F(0.5))
    nbF = numba.from_dtype(np.dtype(F))
    (sig,) = wrapper.nopython_signatures
    assert sig.return_type == nbF
    assert all(s.return_type == nbF for s in f.nopython_signatures)


_LIBM = re.compile(r"\b_*(exp|expm1|log|log1p|log2|tanh|erf|erfc|fma|pow|sin|cos)f?(_finite)?\b")
_FMA = {np.float32: re.compile(r"\bvf(n)?m(add|sub)\d{3}ps\b[^\n]*%[yz]mm"),
        np.float64: re.compile(r"\bvf(n)?m(add|sub)\d{3}pd\b[^\n]*%[yz]mm")}


def _check_vectorized(loop, F, what):
    asm = loop.inspect_asm(loop.signatures[0])
    llvm = loop.inspect_llvm(loop.signatures[0])
    symbols = set(re.findall(r"\$([A-Za-z_.][\w.]*)", asm)) | set(
        re.findall(r"call\w*\s+([A-Za-z_][\w.@]*)", asm))
    bad = sorted(s for s in symbols if _LIBM.search(s) or "fastact" in s)
    assert not bad, f"{what}: calls {bad}"
    # no call left to a (non-inlined) primitive, no libm intrinsic that lowers to a call
    assert not re.search(r"call [^\n]*@_ZN7fastact", llvm), f"{what}: primitive not inlined"
    assert not re.search(r"@llvm\.(exp|log|pow|sin|cos)", llvm), f"{what}: libm intrinsic"
    assert _FMA[F].search(asm), f"{what}: no packed FMA on ymm/zmm registers"
    if F is np.float32:
        body = [ln for ln in llvm.splitlines() if "double" in ln and "define" not in ln]
        assert not body, f"{what}: float64 arithmetic in a float32 loop: {body[:3]}"


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_vectorizes(name, F):
    f = getattr(build_math(F), name)

    @numba.njit(**JIT_OPTIONS)
    def loop(x, out):
        for i in range(x.size):
            out[i] = f(x[i])

    x = np.linspace(-3, 3, 1001).astype(F)
    out = np.empty_like(x)
    loop(x, out)
    _check_vectorized(loop, F, f"{np.dtype(F).name} {name}")


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_vectorizes_combined(F):
    """Several primitives in one loop body (as in gelu's backward), on a slice."""
    m = build_math(F)
    erf, ens, tanh, log1p = m.erf, m.exp_neg_square, m.tanh, m.log1p
    half = F(0.5)

    @numba.njit(**JIT_OPTIONS)
    def loop(x, out, lo, hi):
        xs = x[lo:hi]
        o = out[lo:hi]
        for i in range(xs.size):
            v = xs[i]
            o[i] = half * (erf(v) + v * ens(v)) + tanh(v) * log1p(v * v)

    x = np.linspace(-3, 3, 1001).astype(F)
    out = np.empty_like(x)
    loop(x, out, 1, 900)
    _check_vectorized(loop, F, f"{np.dtype(F).name} combined")


def test_prefer_vector_width_512():
    """The per-function attribute gives zmm code (this CPU has AVX-512)."""
    from fastact._numba.intrinsics import prefer_vector_width_512
    m = build_math(np.float32)
    exp = m.exp

    @numba.njit(**JIT_OPTIONS)
    def loop(x, out):
        prefer_vector_width_512()
        for i in range(x.size):
            out[i] = exp(x[i])

    x = np.linspace(-3, 3, 1001).astype(np.float32)
    out = np.empty_like(x)
    loop(x, out)
    np.testing.assert_array_equal(out, [exp(v) for v in x])
    asm = loop.inspect_asm(loop.signatures[0])
    import llvmlite.binding as llvm
    if llvm.get_host_cpu_features().get("avx512f"):
        assert re.search(r"\bvf(n)?m(add|sub)\d{3}ps\b[^\n]*%zmm", asm)
