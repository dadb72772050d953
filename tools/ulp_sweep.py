#!/usr/bin/env python
"""Measure the maximum error, in ULP, of fastact's Numba math primitives.

float32: exhaustive by default -- every one of the 2**32 bit patterns that is a finite float32 is
evaluated (inputs outside the domain must give NaN, as the reference does), against the float64
libm function (correctly rounded enough for a float32 result), error = |y - ref| / ulp32(ref)
with ulp32(ref) = 2**(max(e, -126) - 23) (so 2**-149 in the subnormal range); a result that
overflows is right iff the reference rounds to the same infinity; NaN must match NaN; a zero
result must have the reference's sign.

float64: random inputs (10**8 by default, ``--samples N``): a third uniform over the primitive's
interesting interval, a third with uniform exponent (log-uniform magnitude, random sign, from the
subnormals to the interval's end), a third uniform on [-20, 20] (or [-1, 20] for log1p, [0, 20]
for log), plus the special values (+-0, +-inf, NaN, subnormals, min normal, max finite, the
overflow/underflow thresholds and their neighbours).  Reference: the float64 libm function (C's
exp/expm1/log/log1p/tanh/erf/erfc through Numba's ``math`` module; exp(-x*x) as
exp(-hi)*(1 - lo) with x*x = hi + lo by Dekker's product; gelu's normal cdf Phi(x) as
erfc(ah + al)/2 with -x/sqrt(2) = ah + al in double-double, its pdf from x*x = hi + lo).  The "max ULP" column is the error
against it, except that the points that land >= 3 ULP (``--refine``) from libm are re-measured
with mpmath and count with their true error: libm's own error reaches ~2 ULP (glibc's tanh,
Numba's erf/erfc helpers), so a raw libm comparison could show up to ~2 ULP more than the truth.
The "true ULP" column uses mpmath (40 digits) on a random subsample of 10**5 inputs plus the
specials, and says how many points were re-measured.

Usage::

    python tools/ulp_sweep.py                     # everything: exhaustive float32 + 1e8 float64
    python tools/ulp_sweep.py --sampled 1000000   # quick: N random inputs per primitive and dtype
    python tools/ulp_sweep.py --only erfc --dtype float32

From Python: ``sweep(name, dtype, sample=None) -> dict``.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba  # noqa: E402
from numba import prange  # noqa: E402

from fastact._numba.intrinsics import bits_float, float_bits  # noqa: E402
from fastact._numba.mathfn import build_math  # noqa: E402

NAMES = ("exp", "expm1", "log", "log1p", "tanh", "erf", "erfc", "exp_neg_square",
         "exp_bounded", "log1p_unit", "normal_cdf", "normal_pdf")

#: gelu's normal cdf and pdf come from one primitive that returns both: (primitive, index)
PAIRED = {"normal_cdf": ("normal_cdf_pdf", 0), "normal_pdf": ("normal_cdf_pdf", 1)}

#: primitives defined on part of the line only: (lo, hi) per dtype; outside it both the
#: primitive (wrapped) and the reference give NaN, so only the domain is measured.
DOMAIN = {
    "exp_bounded": {"float32": (-math.inf, 64.0), "float64": (-math.inf, 640.0)},
    "log1p_unit": {"float32": (0.0, 1.0), "float64": (0.0, 1.0)},
}

#: per primitive: interval of interest for float64 sampling (lo, hi)
INTERVAL = {
    "exp": (-750.0, 712.0),
    "expm1": (-50.0, 712.0),
    "log": (0.0, 1.8e308),
    "log1p": (-1.0, 1.8e308),
    "tanh": (-25.0, 25.0),
    "erf": (-7.0, 7.0),
    "erfc": (-7.0, 28.0),
    "exp_neg_square": (-28.0, 28.0),
    "exp_bounded": (-750.0, 640.0),
    "log1p_unit": (0.0, 1.0),
    "normal_cdf": (-40.0, 40.0),
    "normal_pdf": (-40.0, 40.0),
}

SIGN_ERR = 1e9   # reported error for a zero of the wrong sign
NAN_ERR = 1e12   # reported error for a NaN where a number was expected, or the reverse


# ---- references (float64 libm inside Numba) -------------------------------------------------
@numba.njit(error_model="numpy")
def _ref_exp(x):
    return math.exp(x)


@numba.njit(error_model="numpy")
def _ref_expm1(x):
    return math.expm1(x)


@numba.njit(error_model="numpy")
def _ref_log(x):
    if x < 0.0:
        return np.nan
    if x == 0.0:
        return -np.inf
    return math.log(x)


@numba.njit(error_model="numpy")
def _ref_log1p(x):
    if x < -1.0:
        return np.nan
    if x == -1.0:
        return -np.inf
    return math.log1p(x)


@numba.njit(error_model="numpy")
def _ref_tanh(x):
    return math.tanh(x)


@numba.njit(error_model="numpy")
def _ref_erf(x):
    return math.erf(x)


@numba.njit(error_model="numpy")
def _ref_erfc(x):
    return math.erfc(x)


@numba.njit(error_model="numpy")
def _ref_ens(x):
    # float32 x only (x*x is exact in float64); float64 has its own kernel below.
    return math.exp(-(x * x))


@numba.njit(error_model="numpy")
def _ref_ncdf(x):
    # float32 x only (float64 has its own kernel below)
    return 0.5 * math.erfc(-x * 0.7071067811865476)


@numba.njit(error_model="numpy")
def _ref_npdf(x):
    # float32 x only (x*x/2 is exact in float64); float64 has its own kernel below
    return math.exp(-0.5 * (x * x)) * 0.3989422804014327


REFS = {"exp": _ref_exp, "expm1": _ref_expm1, "log": _ref_log, "log1p": _ref_log1p,
        "tanh": _ref_tanh, "erf": _ref_erf, "erfc": _ref_erfc, "exp_neg_square": _ref_ens,
        "exp_bounded": _ref_exp, "log1p_unit": _ref_log1p, "normal_cdf": _ref_ncdf,
        "normal_pdf": _ref_npdf}


def _restrict(f, lo, hi, F=None):
    """f on [lo, hi] (NaN passes through), NaN outside: for the primitives in DOMAIN."""
    lo_, hi_ = (F(lo), F(hi)) if F is not None else (lo, hi)
    nan = F(math.nan) if F is not None else math.nan

    @numba.njit(error_model="numpy")
    def g(x):
        return nan if (x < lo_ or x > hi_) else f(x)
    return g


def primitive(name, dtype):
    """The jitted primitive `name` for dtype, restricted to its DOMAIN where it has one."""
    F = np.dtype(dtype).type
    if name in PAIRED:
        both, index = PAIRED[name]
        g = getattr(build_math(F), both)

        @numba.njit(error_model="numpy")
        def f(x):
            return g(x)[index]
    else:
        f = getattr(build_math(F), name)
    if name in DOMAIN:
        f = _restrict(f, *DOMAIN[name][np.dtype(dtype).name], F)
    return f


def reference(name, dtype):
    ref = REFS[name]
    if name in DOMAIN:
        ref = _restrict(ref, *DOMAIN[name][np.dtype(dtype).name])
    return ref


# ---- ULP error -----------------------------------------------------------------------------
@numba.njit(error_model="numpy")
def _pow2i(e):
    """2.0**e for an int -1022 <= e <= 1023, built from its bits."""
    return bits_float(np.int64(e + 1023) << 52)


@numba.njit(error_model="numpy")
def _expo(r):
    """floor(log2(|r|)) for a finite non-zero float64 r (subnormal r: <= -1023)."""
    return np.int64((float_bits(r) >> 52) & 0x7FF) - 1023


@numba.njit(error_model="numpy")
def _ulp_err(y, r, mant_bits, emin, big):
    """|y - r| in units of the last place of r in a format with mant_bits fraction bits, minimum
    normal exponent emin and overflow threshold big (values >= big round to inf).  y is a value
    of that format (held in a float64); r the float64 reference."""
    if r != r:
        return 0.0 if y != y else NAN_ERR
    if y != y:
        return NAN_ERR
    ar = abs(r)
    ebig = _expo(big)
    if ar >= big:                       # the reference rounds to +-inf
        if math.isinf(y) and (y > 0) == (r > 0):
            return 0.0
        if math.isinf(y):
            return NAN_ERR
        return abs(y - r) / _pow2i(ebig - mant_bits)
    if r == 0.0:
        if y == 0.0:
            return SIGN_ERR if math.copysign(1.0, y) != math.copysign(1.0, r) else 0.0
        return abs(y) / _pow2i(emin - mant_bits)
    u = _pow2i(max(_expo(r), emin) - mant_bits)
    if math.isinf(y):
        # as if y were 2**(emax+1); computed at half scale so that it stays finite
        return abs(math.copysign(_pow2i(ebig), y) - r * 0.5) / (u * 0.5)
    return abs(y - r) / u




@numba.njit(error_model="numpy")
def _ulp_err64(y, r):
    """float64 result y vs float64 reference r (both may be inf)."""
    if r != r:
        return 0.0 if y != y else NAN_ERR
    if y != y:
        return NAN_ERR
    if math.isinf(r) or math.isinf(y):
        if y == r:
            return 0.0
        if math.isinf(r) and not math.isinf(y):
            # the reference overflowed: measure y against 2**1024
            return abs(math.copysign(math.ldexp(1.0, 1023), r) - y * 0.5) / math.ldexp(1.0, 1023 - 53)
        return abs(math.copysign(math.ldexp(1.0, 1023), y) - r * 0.5) / math.ldexp(1.0, 1023 - 53)
    if r == 0.0:
        if y == 0.0:
            return SIGN_ERR if math.copysign(1.0, y) != math.copysign(1.0, r) else 0.0
        return abs(y) / math.ldexp(1.0, -1074)
    ue = max(_expo(r), -1022) - 52
    if ue < -1000:      # subnormal ulp: scale up first (_pow2i needs a normal power of 2)
        return abs(y - r) * 1.2676506002282294e30 / _pow2i(ue + 100)
    return abs(y - r) / _pow2i(ue)


_kernels: dict = {}


@numba.njit(error_model="numpy")
def _ulp_err32(y, r):
    return _ulp_err(y, r, 23, -126, F32_BIG)


F32_BIG = math.ldexp(1.0, 128) - math.ldexp(1.0, 103)


def _kernel(name, dtype):
    """A parallel kernel kern(xs, nchunks) -> (max error, its index, finite count) per chunk.

    Per chunk, the primitive is evaluated in its own loop (which vectorizes, like real kernels),
    then the reference and the error in a second loop."""
    key = (name, dtype)
    if key in _kernels:
        return _kernels[key]
    F = np.dtype(dtype).type
    f = primitive(name, dtype)
    ref = reference(name, dtype)
    if dtype == "float32":
        @numba.njit(error_model="numpy")
        def err_at(x, y):
            return _ulp_err32(np.float64(y), ref(np.float64(x)))
    elif name == "exp_neg_square":
        @numba.njit(error_model="numpy")
        def err_at(x, y):
            return _ulp_err64(y, _scaled_exp_neg_square(x, 1.0, 1.0))
    elif name == "normal_cdf":
        @numba.njit(error_model="numpy")
        def err_at(x, y):
            # reference: Phi(x) = erfc(a)/2 with a = -x/sqrt(2) = ah + al to ~2**-106 (the
            # rounding of -x/sqrt(2) alone would cost ~a*a ULP in the tail):
            # erfc(ah + al) = erfc(ah) - al * 2/sqrt(pi) * exp(-ah*ah)
            p = x * _INV_SQRT2_HI
            ah = -p
            if abs(x) > 1e300:             # Phi is 0 or 1 there (and the split would overflow)
                return _ulp_err64(y, 0.5 * math.erfc(ah))
            al = -(_two_prod_err(x, _INV_SQRT2_HI, p) + x * _INV_SQRT2_LO)
            r = 0.5 * math.erfc(ah)
            return _ulp_err64(y, r - al * 0.5641895835477563 * math.exp(-ah * ah))
    elif name == "normal_pdf":
        @numba.njit(error_model="numpy")
        def err_at(x, y):
            return _ulp_err64(y, _scaled_exp_neg_square(x, 0.5, 0.3989422804014327))
    else:
        @numba.njit(error_model="numpy")
        def err_at(x, y):
            return _ulp_err64(y, ref(x))

    def kern_py(xs, nchunks):
        n = xs.size
        errs = np.full(nchunks, -1.0)
        args = np.zeros(nchunks, np.int64)
        cnts = np.zeros(nchunks, np.int64)
        for c in prange(nchunks):
            lo = n * c // nchunks
            hi = n * (c + 1) // nchunks
            xv = xs[lo:hi]
            yv = np.empty(xv.size, xs.dtype)
            for i in range(xv.size):
                yv[i] = f(xv[i])
            best = -1.0
            barg = lo
            cnt = 0
            for i in range(xv.size):
                x = xv[i]
                if not np.isfinite(x):
                    continue
                cnt += 1
                e = err_at(x, yv[i])
                if e > best:
                    best = e
                    barg = lo + i
            errs[c] = best
            args[c] = barg
            cnts[c] = cnt
        return errs, args, cnts

    def elem_py(xs, out, nchunks):
        """Per-element errors into out (float64 inputs only: out holds y first)."""
        n = xs.size
        for c in prange(nchunks):
            lo = n * c // nchunks
            hi = n * (c + 1) // nchunks
            xv = xs[lo:hi]
            ov = out[lo:hi]
            for i in range(xv.size):
                ov[i] = f(xv[i])
            for i in range(xv.size):
                ov[i] = err_at(xv[i], ov[i])

    # parallel for the big runs; serial (compiles ~4x faster) for quick sampled runs
    kern = numba.njit(parallel=True, error_model="numpy")(kern_py)
    kern_serial = numba.njit(error_model="numpy")(kern_py)
    if dtype == "float64":
        _kernels[key + ("elem",)] = numba.njit(parallel=True, error_model="numpy")(elem_py)
        _kernels[key + ("elem", "serial")] = numba.njit(error_model="numpy")(elem_py)

    @numba.njit(parallel=True, error_model="numpy")
    def kern_bits(start, stop, nchunks):
        """float32 only: the inputs are the bit patterns start <= b < stop."""
        n = stop - start
        errs = np.full(nchunks, -1.0)
        args = np.zeros(nchunks, np.int64)
        cnts = np.zeros(nchunks, np.int64)
        for c in prange(nchunks):
            lo = start + n * c // nchunks
            hi = start + n * (c + 1) // nchunks
            xv = np.empty(hi - lo, np.float32)
            for i in range(xv.size):
                xv[i] = bits_float(np.int32(np.uint32(lo + i)))
            yv = np.empty(xv.size, np.float32)
            for i in range(xv.size):
                yv[i] = f(xv[i])
            best = -1.0
            barg = lo
            cnt = 0
            for i in range(xv.size):
                x = xv[i]
                if not np.isfinite(x):
                    continue
                cnt += 1
                e = err_at(x, yv[i])
                if e > best:
                    best = e
                    barg = lo + i
            errs[c] = best
            args[c] = barg
            cnts[c] = cnt
        return errs, args, cnts

    _kernels[key] = kern
    _kernels[key + ("serial",)] = kern_serial
    if dtype == "float32":
        _kernels[key + ("bits",)] = kern_bits
    return kern


_INV_SQRT2_HI = 0.7071067811865476       # 1/sqrt(2) = HI + LO
_INV_SQRT2_LO = -4.833646656726457e-17


@numba.njit(error_model="numpy")
def _split(a):
    """Veltkamp split of a float64 into two 26-bit halves."""
    c = 134217729.0 * a          # 2**27 + 1
    ah = c - (c - a)
    return ah, a - ah


@numba.njit(error_model="numpy")
def _two_prod_err(a, b, p):
    """a*b - p exactly for p = fl(a*b), by Dekker's product (no FMA needed)."""
    ah, al = _split(a)
    bh, bl = _split(b)
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


@numba.njit(error_model="numpy")
def _scaled_exp_neg_square(x, k, s):
    """Reference s * exp(-k*x*x) for float64 x: x*x = hi + lo exactly, s*exp(-k*hi)*(1 - k*lo)
    (the rounding of x*x alone would cost ~k*x*x ULP)."""
    sq = x * x
    if sq > 1e300:
        return 0.0
    r = math.exp(-k * sq) * s
    return r - k * r * _two_prod_lo(x, sq)


@numba.njit(error_model="numpy")
def _two_prod_lo(x, p):
    """Rounding error of p = fl(x*x) by Dekker's split (no FMA needed)."""
    c = 134217729.0 * x          # 2**27 + 1
    xh = c - (c - x)
    xl = x - xh
    return ((xh * xh - p) + 2.0 * xh * xl) + xl * xl


def _run(kern, xs, nchunks=None):
    if nchunks is None:
        nchunks = max(1, min(4096, xs.size // 4096))
    errs, args, cnts = kern(xs, nchunks)
    j = int(np.argmax(errs))
    return float(errs[j]), xs[int(args[j])], int(cnts.sum())


# ---- inputs --------------------------------------------------------------------------------
def specials(dtype) -> np.ndarray:
    F = np.dtype(dtype).type
    fi = np.finfo(F)
    base = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0,
            float(fi.tiny), -float(fi.tiny), float(fi.smallest_subnormal),
            -float(fi.smallest_subnormal), float(fi.max), -float(fi.max),
            float(fi.tiny) / 3, -float(fi.tiny) / 7, float(fi.eps), -float(fi.eps)]
    if dtype == "float32":
        thr = [88.72283935546875, 88.7228, 88.75, 89.0, -87.33654, -103.27893, -103.97208,
               -104.0, -17.328680, 9.010913, 3.9192059, 10.0546875, 10.125, 0.17328680, 0.34657359, 1.0,
               -0.29289322, 0.41421356, 1e-8, -1e-8, 2.0 ** -25, -(2.0 ** -25), -14.625,
               -13.5, 14.625]
    else:
        thr = [709.782712893384, 709.78, 709.8, 710.0, -708.3964185322641, -744.4400719213812,
               -745.1332191019411, -746.0, -37.42994775023705, 19.061547465398498,
               5.9215871957945, 27.226017111108366, 27.25, 0.17328679513998632, 0.34657359027997264, 1.0,
               -0.2928932188134524, 0.41421356237309515, 1e-17, -1e-17,
               2.0 ** -54, -(2.0 ** -54), -38.75, -37.5, 38.75]
    with np.errstate(over="ignore"):
        vals = [F(v) for v in base + thr]
        out = []
        for v in vals:
            out.append(v)
            if np.isfinite(v):
                out.extend([np.nextafter(v, F(np.inf)), np.nextafter(v, F(-np.inf))])
    return np.array(out, dtype=F)


def _random_inputs(name, dtype, n, rng) -> np.ndarray:
    F = np.dtype(dtype).type
    lo, hi = INTERVAL[name]
    fi = np.finfo(F)
    hi = min(hi, float(fi.max))
    lo = max(lo, -float(fi.max))
    n1 = n // 3
    n2 = n // 3
    n3 = n - n1 - n2
    if np.isfinite(hi - lo):
        a = rng.uniform(lo, hi, n1)
    else:
        a = rng.uniform(lo, 1e6, n1)
    # log-uniform magnitude over the whole exponent range up to the interval's end
    emin = math.log2(float(fi.smallest_subnormal))
    emax = math.log2(max(abs(lo), abs(hi)))
    mag = np.exp2(rng.uniform(emin, emax, n2))
    sgn = np.where(rng.random(n2) < 0.5, -1.0, 1.0)
    if lo >= 0:
        sgn[:] = 1.0
    b = np.clip(mag * sgn, lo, hi)
    c = rng.uniform(max(lo, -20.0), 20.0, n3)
    x = np.concatenate([a, b, c]).astype(F)
    return x


def _true_errors(f, name, xs) -> np.ndarray:
    """Per-point error in ULP against mpmath (40 digits) for float64 inputs xs; NaN where not
    measured (non-finite input or result, outside the domain, or |x| > 1e6 for the saturating
    functions, where mpmath is slow and libm exact)."""
    import mpmath as mp
    fn = {"exp": mp.exp, "expm1": mp.expm1, "log": mp.log, "log1p": mp.log1p, "tanh": mp.tanh,
          "erf": mp.erf, "erfc": mp.erfc,
          "exp_neg_square": lambda v: mp.exp(-v * v),
          "exp_bounded": mp.exp, "log1p_unit": mp.log1p, "normal_cdf": mp.ncdf,
          "normal_pdf": mp.npdf}[name]
    dom = DOMAIN.get(name, {}).get("float64", (-math.inf, math.inf))
    out = np.full(len(xs), np.nan)
    with mp.workdps(40):
        for i, x in enumerate(xs):
            x = float(x)
            y = float(f(x))
            if not math.isfinite(x) or not math.isfinite(y):
                continue
            if abs(x) > 1e6 and name not in ("log", "log1p"):
                continue
            if (name == "log" and x <= 0) or (name == "log1p" and x <= -1):
                continue
            if not dom[0] <= x <= dom[1]:
                continue
            r = fn(mp.mpf(x))
            if r == 0 or not mp.isfinite(r):
                continue
            e = max(int(mp.floor(mp.log(abs(r), 2))), -1022)
            out[i] = float(abs(mp.mpf(y) - r) / mp.ldexp(1, e - 52))
    return out


def _true_error(f, name, xs) -> tuple[float, float]:
    errs = _true_errors(f, name, xs)
    if not np.any(np.isfinite(errs)):
        return 0.0, float("nan")
    j = int(np.nanargmax(errs))
    return float(errs[j]), float(xs[j])


def sweep(name: str, dtype: str, sample: int | None = None, true_samples: int | None = None,
          seed: int = 12345, refine: float = 3.0, max_refine: int = 200_000) -> dict:
    """Max ULP error of primitive `name` for `dtype` ('float32' or 'float64').

    sample=None: float32 exhaustive, float64 10**8 random inputs.  sample=N: N random inputs
    (float32: half uniform bit patterns, half uniform on [-20, 20]; float64: as the full run).
    Special values are always included.  Returns {name, dtype, max_ulp, x (where), points,
    seconds} and for float64 also {true_ulp, true_x, true_points} (mpmath subsample) and
    {refined, refine}: float64's max_ulp is against libm, except that the points at >= refine
    ULP from libm (`refined` of them, at most max_refine) count with their mpmath error.
    """
    dtype = np.dtype(dtype).name
    _kernel(name, dtype)
    serial = sample is not None and sample <= 2_000_000
    kern = _kernels[(name, dtype, "serial") if serial else (name, dtype)]  # float32
    t0 = time.time()
    rng = np.random.default_rng(seed)
    sp = specials(dtype)
    true_sub = np.empty(0)
    if dtype == "float32":
        worst, at, points = _run(kern, sp, 1)
        if sample is None:
            kb = _kernels[(name, dtype, "bits")]
            chunk = 1 << 28
            for start in range(0, 1 << 32, chunk):
                errs, args, cnts = kb(start, start + chunk, chunk >> 14)
                j = int(np.argmax(errs))
                points += int(cnts.sum())
                if errs[j] > worst:
                    worst, at = float(errs[j]), np.uint32(args[j]).view(np.float32)
        else:
            bits = rng.integers(0, 1 << 32, sample // 2, dtype=np.uint64).astype(np.uint32)
            xs = np.concatenate([bits.view(np.float32),
                                 rng.uniform(-20, 20, sample - sample // 2).astype(np.float32)])
            e, x, c = _run(kern, xs)
            points += c
            if e > worst:
                worst, at = e, x
    else:
        # errors against libm; points >= `refine` ULP from libm are re-measured with mpmath
        # (libm's own error is up to ~2 ULP: glibc tanh, Numba's erf/erfc helpers).
        ek = _kernels[(name, dtype, "elem", "serial") if serial else (name, dtype, "elem")]
        f = primitive(name, "float64")
        n = 10 ** 8 if sample is None else sample
        chunk = 10 ** 7
        done = 0
        flagged = []
        worst, at, points = -1.0, np.nan, 0
        first = True
        while first or done < n:
            if first:
                xs = sp
            else:
                k = min(chunk, n - done)
                xs = _random_inputs(name, dtype, k, rng)
                if done == 0:
                    nt = (100_000 if sample is None else min(1000, n)) if true_samples is None \
                        else true_samples
                    true_sub = xs[rng.permutation(k)[:nt]]
                done += k
            errs = np.empty(xs.size)
            ek(xs, errs, max(1, min(1024, xs.size // 8192)))
            fin = np.isfinite(xs)
            points += int(fin.sum())
            errs[~fin] = -1.0
            flag = errs >= refine
            if flag.any():
                flagged.append((xs[flag], errs[flag]))
                errs[flag] = -1.0
            j = int(np.argmax(errs))
            if errs[j] > worst:
                worst, at = float(errs[j]), xs[j]
            first = False
        n_ref = 0
        if flagged:
            fx = np.concatenate([a for a, _ in flagged])
            fe = np.concatenate([b for _, b in flagged])
            if fx.size > max_refine:       # keep the largest libm errors
                keep = np.argsort(fe)[-max_refine:]
                fx, fe = fx[keep], fe[keep]
            te = _true_errors(f, name, fx)
            n_ref = int(fx.size)
            te = np.where(np.isnan(te), fe, te)   # not measurable by mpmath: keep libm's
            j = int(np.argmax(te))
            if te[j] > worst:
                worst, at = float(te[j]), fx[j]
    res = dict(name=name, dtype=dtype, max_ulp=worst, x=float(at), points=points)
    if dtype == "float64":
        te, tx = _true_error(f, name, np.concatenate([sp, true_sub]))
        res.update(true_ulp=te, true_x=tx, true_points=int(true_sub.size + sp.size),
                   refined=n_ref, refine=refine)
    res["seconds"] = time.time() - t0
    return res


def _fmt_row(r):
    x = r["x"]
    xs = f"{x!r}" if r["dtype"] == "float64" else f"{np.float32(x)!r}".replace("np.float32(", "").rstrip(")")
    true = ""
    if "true_ulp" in r:
        true = (f"{r['true_ulp']:9.3f}  ({r['true_points']:,} pts; "
                f"{r['refined']:,} >= {r['refine']:g} ULP from libm re-measured)")
    return (f"{r['name']:<15} {r['dtype']:<8} {r['max_ulp']:9.3f}  {xs:<24} {r['points']:>14,}  "
            f"{true}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="max ULP error of fastact's math primitives")
    ap.add_argument("--only", action="append", choices=NAMES, help="primitive(s) to sweep")
    ap.add_argument("--dtype", choices=["float32", "float64"], action="append")
    ap.add_argument("--sampled", type=int, metavar="N",
                    help="N random inputs per primitive and dtype instead of the full run")
    ap.add_argument("--samples", type=int, metavar="N", default=None,
                    help="float64 random inputs in the full run (default 10**8)")
    ap.add_argument("--refine", type=float, default=3.0, metavar="U",
                    help="float64: re-measure with mpmath the points >= U ULP from libm")
    args = ap.parse_args(argv)
    names = args.only or NAMES
    dtypes = args.dtype or ["float32", "float64"]
    print(f"{'primitive':<15} {'dtype':<8} {'max ULP':>9}  {'at x':<24} {'points':>14}  "
          f"{'true ULP (mpmath)'}")
    rows = []
    for dt in dtypes:
        for name in names:
            sample = args.sampled
            if sample is None and dt == "float64" and args.samples:
                sample = args.samples
            true_n = 100_000 if args.sampled is None else None
            r = sweep(name, dt, sample=sample, true_samples=true_n, refine=args.refine)
            rows.append(r)
            print(_fmt_row(r), f"  [{r['seconds']:.0f}s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
