"""The activation-specific primitives (exp_bounded, log1p_unit, normal_cdf_pdf) and the accuracy
choices built on them.

* exp_bounded / log1p_unit / normal_cdf_pdf (Numba, fastact/_numba/mathfn.py): special values,
  accuracy against mpmath on sampled inputs, and vectorization of a loop that calls them.
  (Their Cython twins in mathfn.pxd.tp are covered through the activations below.)
* gelu keeps its *relative* accuracy deep in the left tail, in both backends: x * Phi(x) for
  x down to where it underflows.  PyTorch computes 0.5 x (1 + erf(x/sqrt 2)), which cancels
  there (its float32 gelu(-6) is 0); tests/semantics.json records PyTorch's float64 values, which
  agree with the true ones to ~1e-8 relative at x = -6 and are all this suite can hold PyTorch to.
"""
from __future__ import annotations

import math
import os
import sys

import mpmath as mp
import numba
import numpy as np
import pytest

import fastact as fa
from fastact import _coefficients as C
from fastact._numba.mathfn import JIT_OPTIONS, build_math
from helpers import BACKENDS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_mathfn import _check_vectorized  # noqa: E402

DTYPES = (np.float32, np.float64)
inf, nan = np.inf, np.nan
#: max error in ULP of the result (float32 / float64), as the primitives' targets
TARGET = {np.float32: 2.0, np.float64: 4.0}


def _ulp_err(y, ref, F):
    """|y - ref| in ULPs of ref (the ULP of ref's binade; subnormal ULP below the normal range)."""
    fi = np.finfo(F)
    ref = mp.mpf(ref)
    if ref == 0:
        return 0.0 if y == 0 else math.inf
    e = max(int(mp.floor(mp.log(abs(ref), 2))), int(np.log2(fi.tiny)))
    return float(abs(mp.mpf(float(y)) - ref) / mp.ldexp(1, e - fi.nmant))


def _max_ulp(f, xs, ref, F):
    worst, where = 0.0, None
    with mp.workdps(40):
        for x in xs:
            err = _ulp_err(f(F(x)), ref(mp.mpf(float(x))), F)
            if err > worst:
                worst, where = err, float(x)
    return worst, where


# --- exp_bounded -------------------------------------------------------------------------------

@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_exp_bounded(F):
    m = build_math(F)
    sfx = "_F32" if F is np.float32 else "_F64"
    lo, hi = getattr(C, "EXP_LO" + sfx), getattr(C, "EXP_BOUNDED_HI" + sfx)
    for x, want in [(nan, nan), (-inf, 0.0), (0.0, 1.0), (-0.0, 1.0), (-1e30, 0.0), (lo, 0.0),
                    (lo - 5, 0.0)]:
        y = F(m.exp_bounded(F(x)))
        assert (np.isnan(y) and np.isnan(want)) or y == want, (x, y, want)
    rng = np.random.default_rng(3)
    xs = np.concatenate([rng.uniform(lo, hi, 3000), rng.uniform(-3, 3, 1000),
                         rng.uniform(lo, lo + 30, 1000)]).astype(F)
    worst, where = _max_ulp(m.exp_bounded, xs, mp.exp, F)
    assert worst <= TARGET[F], (worst, where)


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_pow2_shifted(F):
    """pow2_shifted(v + SHIFT + BIAS + c) is 2**(round(v) + c) across the normal exponent range,
    for the offsets c the primitives use (exp_core/tanh 0, expm1 -1, exp_bounded/normal_cdf_pdf
    EXP_OFFSET); v need not be integral (the add rounds it, as in v*INV_LN2 + shifter)."""
    from fastact._numba.intrinsics import pow2_shifted
    f = numba.njit(lambda t: pow2_shifted(t))
    sfx = "_F32" if F is np.float32 else "_F64"
    fi = np.finfo(F)
    bias = fi.maxexp - 1
    shift = float(getattr(C, "SHIFT" + sfx))
    for c in (0, -1, int(getattr(C, "EXP_OFFSET" + sfx))):
        shifter = F(shift + bias + c)
        for e in range(fi.minexp, fi.maxexp):          # 2**e normal: e = k + c
            k = e - c
            for v in (F(k), F(k) + F(0.375), F(k) - F(0.375)):
                t = F(v + shifter)
                assert F(t - shifter) == k, (c, k, v)
                assert f(t) == F(2.0 ** e), (c, k, v, f(t))


# --- log1p_unit --------------------------------------------------------------------------------

@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_log1p_unit(F):
    m = build_math(F)
    for e, want in [(0.0, 0.0), (1.0, math.log(2.0))]:
        assert abs(float(m.log1p_unit(F(e))) - want) <= float(np.finfo(F).eps) * want
    assert np.isnan(m.log1p_unit(F(nan)))
    sub = float(np.finfo(F).smallest_subnormal)
    assert m.log1p_unit(F(sub)) == F(sub)
    rng = np.random.default_rng(4)
    xs = np.concatenate([rng.uniform(0, 1, 3000), 10.0 ** rng.uniform(-30, 0, 2000)]).astype(F)
    worst, where = _max_ulp(m.log1p_unit, xs, mp.log1p, F)
    assert worst <= TARGET[F], (worst, where)


# --- normal_cdf_pdf ----------------------------------------------------------------------------

@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_normal_cdf_pdf_special_values(F):
    f = build_math(F).normal_cdf_pdf
    cdf, pdf = f(F(nan))
    assert np.isnan(cdf) and np.isnan(pdf)
    assert f(F(inf)) == (1.0, 0.0)
    assert f(F(-inf)) == (0.0, 0.0)
    assert f(F(-1e30)) == (0.0, 0.0)
    for z in (0.0, -0.0):
        cdf, pdf = f(F(z))
        assert cdf == 0.5 and abs(pdf - 1 / math.sqrt(2 * math.pi)) <= np.finfo(F).eps
    # beyond the clamp both round to 0 (so gelu's x * Phi and x * phi need no guard for +-inf)
    xmax = C.GELU_XMAX_F32 if F is np.float32 else C.GELU_XMAX_F64
    assert f(F(-xmax)) == (0.0, 0.0) and f(F(xmax))[1] == 0.0


@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_normal_cdf_pdf_accuracy(F):
    """Phi relatively accurate everywhere, the left tail included (down to the subnormals)."""
    f = build_math(F).normal_cdf_pdf
    xmax = C.GELU_XMAX_F32 if F is np.float32 else C.GELU_XMAX_F64
    rng = np.random.default_rng(5)
    xs = np.concatenate([rng.uniform(-xmax, 6, 3000), rng.standard_normal(1000)]).astype(F)
    worst_c = worst_p = 0.0
    with mp.workdps(40):
        for x in xs:
            c, p = f(x)
            worst_c = max(worst_c, _ulp_err(F(c), mp.ncdf(mp.mpf(float(x))), F))
            worst_p = max(worst_p, _ulp_err(F(p), mp.npdf(mp.mpf(float(x))), F))
    # Phi: a polynomial in q = (a - C)/(a + C) after one division; measured <= ~5 ULP
    assert worst_c <= 8.0, worst_c
    assert worst_p <= TARGET[F], worst_p


# --- vectorization -----------------------------------------------------------------------------

@pytest.mark.parametrize("F", DTYPES, ids=lambda F: F.__name__)
def test_vectorizes(F):
    m = build_math(F)
    eb, l1u, ncp = m.exp_bounded, m.log1p_unit, m.normal_cdf_pdf
    zero = F(0.0)

    @numba.njit(**JIT_OPTIONS)
    def loop(x, out):
        for i in range(x.size):
            v = x[i]
            c, p = ncp(v)
            a = v if v < zero else -v
            out[i] = c + v * p + l1u(eb(a))

    x = np.linspace(-3, 3, 1001).astype(F)
    out = np.empty_like(x)
    loop(x, out)
    _check_vectorized(loop, F, f"{np.dtype(F).name} exp_bounded/log1p_unit/normal_cdf_pdf")


# --- gelu's left tail, both backends ----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda F: F.__name__)
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
def test_gelu_left_tail_relative_accuracy(backend, dtype):
    F = dtype
    # down to where x * Phi(x) leaves the normal range
    lo = -12.9 if F is np.float32 else -37.4
    x = np.linspace(lo, -2.0, 997).astype(F)
    y = fa.gelu(x, backend=backend)
    d = fa.gelu_backward(np.ones_like(x), x, backend=backend)
    rtol = 2e-6 if F is np.float32 else 1e-14
    with mp.workdps(40):
        for xi, yi, di in zip(x, y, d):
            X = mp.mpf(float(xi))
            Y = X * mp.ncdf(X)
            D = mp.ncdf(X) + X * mp.npdf(X)
            assert abs(mp.mpf(float(yi)) - Y) <= rtol * abs(Y), (backend, float(xi), float(yi), float(Y))
            assert abs(mp.mpf(float(di)) - D) <= rtol * abs(D), (backend, float(xi), float(di), float(D))


# --- tiny arguments ------------------------------------------------------------------------------
# tanh and gelu's normal cdf/pdf floor their argument (TANH_TINY, GELU_TINY) so that no product
# turns subnormal (a microcode assist, ~100 cycles: benchmarks/bench_tiny_inputs.py).  The floors
# are where the functions already round to their first-order values: these identities must hold
# through them, in every binade down to the smallest subnormal.

def _tiny_values(F, top_exponent):
    fi = np.finfo(F)
    lowest = int(np.log2(float(fi.smallest_subnormal)))
    mags = [math.ldexp(1.0 + k / 7, e) for e in range(lowest, top_exponent) for k in (0, 3, 6)]
    x = np.array(mags, dtype=F)
    x = x[x > 0]
    return np.concatenate([x, -x])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda F: F.__name__)
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
def test_tiny_arguments_take_first_order_values(backend, dtype):
    F = dtype
    # tanh(x) = x - x**3/3 rounds to x below 2**-12 (float32) / 2**-27 (float64)
    x = _tiny_values(F, -12 if F is np.float32 else -27)
    assert np.array_equal(fa.tanh(x, backend=backend), x)
    # Phi(x) = 1/2 + x phi(0) and gelu'(x) = 1/2 + 2 x phi(0) round to 1/2 below 2**-26 / 2**-55
    x = _tiny_values(F, -26 if F is np.float32 else -55)
    assert np.array_equal(fa.gelu(x, backend=backend), x * F(0.5))
    assert np.array_equal(fa.gelu_backward(np.ones_like(x), x, backend=backend), np.full_like(x, 0.5))
    # the exp family, on the same values: sigmoid(x) rounds to 1/2, elu(x) = expm1(x) to x
    assert np.array_equal(fa.sigmoid(x, backend=backend), np.full_like(x, 0.5))
    assert np.array_equal(fa.elu(x, backend=backend), x)
