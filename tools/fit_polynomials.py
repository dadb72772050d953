#!/usr/bin/env python
"""Fit the polynomial coefficients of fastact's math primitives and write ``fastact/_coefficients.py``.

Usage::

    python tools/fit_polynomials.py            # fit everything, print the module to stdout
    python tools/fit_polynomials.py --write    # ... and write fastact/_coefficients.py
    python tools/fit_polynomials.py --check    # exit 1 if the file differs from a fresh fit
    python tools/fit_polynomials.py --only erfc --dtype float64   # one fit, with its error

Method (every set): a weighted minimax fit by the Remez exchange algorithm on a dense discrete grid
(Chebyshev nodes of the first kind on the interval), in mpmath at 256 bits.  The weight makes the
minimised quantity the *relative error of the final function* that the polynomial contributes to
(see each `Fit.weight`).  The coefficients are then rounded to the target dtype one at a time,
highest order first, re-fitting the still-free lower-order coefficients after each rounding (a
greedy stand-in for Sollya's fpminimax); on intervals [0, b] also with the constant term rounded
first; each candidate is then polished by coordinate descent (one coefficient +-1-2 ulps at a
time while the max error drops), and the best is kept.  The reported error is that of the rounded coefficients,
measured on the grid in exact arithmetic (so it excludes the rounding of the float evaluation).

Everything is deterministic: the same mpmath version gives the same table.
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
from dataclasses import dataclass
from typing import Callable

import mpmath as mp

mp.mp.prec = 256
GRID = 2000


def round_to(x, dtype: str) -> float:
    """Round an mpf to the nearest float32/float64 (once: no double rounding)."""
    if dtype == "float64":
        return float(mp.mpf(x))
    with mp.workprec(24):
        v = float(+mp.mpf(x))
    struct.pack("<f", v)  # OverflowError if out of float32 range
    return v


# Algorithm constants (per dtype), emitted into _coefficients.py and used by the fits below.
# name: (float32 value, float64 value, comment)
ALGO = {
    "EXP_LO": (-104.0, -746.0, "exp: clamp; exp(x) rounds to 0 below (-103.97 / -745.13)"),
    "EXP_HI": (89.0, 710.0, "exp: clamp; exp(x) overflows above (88.72 / 709.78)"),
    "EXPM1_LO": (-20.0, -40.0, "expm1: clamp; expm1(x) rounds to -1 below (-17.33 / -37.43)"),
    "EXPM1_HI": (88.75, 709.8, "expm1: clamp; overflows above (88.72 / 709.78), k stays <= emax+1"),
    "EXPM1_SMALL": (0.5, 0.5, "expm1: |x| below: no range reduction (k = 0), avoids cancellation"),
    "EXPM1_TINY": (2.0 ** -25, 2.0 ** -54, "expm1: |x| below: expm1(x) = x (also keeps -0)"),
    "LOG1P_KMAX": (100.0, 1000.0, "log1p: k clamp for the 2**-k scaling of the rounding error of 1+x"),
    "LOG_SUBNORMAL_SHIFT": (24.0, 54.0, "log: subnormal x is scaled by 2**this first"),
    "TANH_CLAMP": (10.0, 20.0, "tanh: |x| clamp; tanh rounds to 1 above (9.01 / 19.06)"),
    "TANH_TINY": (2.0 ** -13, 2.0 ** -27, "tanh: |x| below: tanh(x) = x (it rounds to x there); the argument is "
                                          "floored here so that no product or FMA result is subnormal"),
    "ERF_CLAMP": (3.9375, 6.0, "erf: |x| clamp; erf rounds to 1 above (3.92 / 5.93)"),
    "ERFC_SMALL": (0.46875, 0.46875, "erfc: |x| below: 1 - erf(x) with erf's small-|x| polynomial"),
    "ERFC_C": (1.0, 4.0, "erfc: centre of the q = (a - C)/(a + C) map (a power of 2)"),
    "ERFC_CLAMP": (10.125, 27.25, "erfc: |x| clamp; erfc rounds to 0 above (10.06 / 27.23)"),
    "ENS_CLAMP": (11.0, 28.0, "exp_neg_square: |x| clamp; exp(-x*x) is 0 above (10.2 / 27.3)"),
    "EXP_OFFSET": (32.0, 64.0, "exp_bounded: e**x is built as (1 + p) 2**(k + this), then times "
                               "2**-this: normal scales down to exp(EXP_LO)"),
    "EXP_BOUNDED_HI": (64.0, 640.0, "exp_bounded: the largest argument (k + EXP_OFFSET stays <= emax)"),
    "GELU_C": (3.0, 4.0, "normal_cdf_pdf: centre of the q = (a - C)/(a + C) map, a = |x|/sqrt(2)"),
    "GELU_XMAX": (14.625, 38.75, "normal_cdf_pdf: |x| clamp; Phi(-|x|)*|x| and the pdf are 0 above "
                                 "(exp(-x*x/2) k + EXP_OFFSET still normal)"),
    "GELU_TINY": (2.0 ** -26, 2.0 ** -55, "normal_cdf_pdf: |x| floor, so that no product is subnormal (Phi and "
                                          "the pdf round to 1/2 and 1/sqrt(2 pi) below)"),
}


# Constants with one value for both dtypes: name: (value, comment)
ALGO_SHARED = {
    "TANHSHRINK_CUTOFF": (1.5, "tanhshrink: x*s*TANHSHRINK(s) below |x| = this, x - tanh(x) above "
                               "(there x - tanh(x) >= 0.39*x: tanh's error grows <= ~1.5x)"),
}


def algo(name: str, dtype: str) -> float:
    return ALGO[name][0 if dtype == "float32" else 1]


@dataclass
class Fit:
    name: str            #: coefficient set name in _coefficients.py (suffixed _F32 / _F64)
    dtype: str
    lo: float            #: interval of the polynomial's variable
    hi: float
    degree: int          #: highest power; powers are 0..degree
    target: Callable     #: v -> value the polynomial approximates (mpf)
    weight: Callable     #: v -> weight, so |weight * (poly - target)| = rel. error of the function
    doc: str             #: how the polynomial is used


def _fits() -> list[Fit]:
    ln2 = mp.log(2)
    out: list[Fit] = []

    # ---- exp / expm1: r in [-ln2/2, ln2/2] (a little wider, for the rounding of k) -------------
    def em1_t(r):
        return (mp.expm1(r) - r) / (r * r)

    def em1_w(r):
        return r * r / abs(mp.expm1(r))

    R = float(ln2 / 2 * (1 + mp.mpf(2) ** -10))
    for dt, deg in (("float32", 4), ("float64", 10)):
        out.append(Fit("EXP", dt, -R, R, deg, em1_t, em1_w,
                       "exp(r) ~= 1 + (r + r*r*P(r)), |r| <= ln2/2. "
                       "Weight: relative error of expm1(r) (a bound for that of exp(r))."))
    for dt, deg in (("float32", 5), ("float64", 11)):
        T = algo("EXPM1_SMALL", dt)
        out.append(Fit("EXPM1", dt, -T, T, deg, em1_t, em1_w,
                       f"expm1(r) ~= r + r*r*P(r), |r| <= {T} (k = 0 for |x| < {T}, else |r| <= ln2/2). "
                       "Weight: relative error of expm1(r)."))

    # ---- log1p: fdlibm form.  m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f/(2+f), z = s*s,
    #      log(1+f) = 2 atanh(s) = 2s + s*z*L(z).   z <= ((sqrt2-1)/(sqrt2+1))^2
    Z = float(((mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)) ** 2 * (1 + mp.mpf(2) ** -10))

    def lg_t(z):
        s = mp.sqrt(z)
        return (2 * mp.atanh(s) - 2 * s) / (s * z)

    def lg_w(z):
        s = mp.sqrt(z)
        return s * z / (2 * mp.atanh(s))

    for dt, deg in (("float32", 2), ("float64", 6)):
        out.append(Fit("LOG1P", dt, 0.0, Z, deg, lg_t, lg_w,
                       "log(1+f) = 2s + s*z*L(z), s = f/(2+f), z = s*s, f in [sqrt(1/2)-1, sqrt(2)-1]. "
                       "Weight: relative error of log(1+f)."))

    # ---- tanh: h = expm1(2r)/2 = r + r*r*H(r), |r| <= ln2/4 (a = r + k ln2/2) -----------------
    def th_t(r):
        return (mp.expm1(2 * r) / 2 - r) / (r * r)

    def th_w(r):
        return r * r / abs(mp.expm1(2 * r) / 2)

    R4 = float(ln2 / 4 * (1 + mp.mpf(2) ** -10))
    for dt, deg in (("float32", 4), ("float64", 10)):
        out.append(Fit("TANH", dt, -R4, R4, deg, th_t, th_w,
                       "expm1(2r)/2 ~= r + r*r*H(r), |r| <= ln2/4 (tanh's reduced argument). "
                       "Weight: relative error of expm1(2r)."))

    # ---- erf, |x| < 1: erf(a) = a + a*P(s), s = a*a -------------------------------------------
    def es_t(s):
        a = mp.sqrt(s)
        return mp.erf(a) / a - 1

    def es_w(s):
        a = mp.sqrt(s)
        return a / mp.erf(a)

    for dt, deg in (("float32", 6), ("float64", 11)):
        out.append(Fit("ERF_SMALL", dt, 0.0, 1.0, deg, es_t, es_w,
                       "erf(a) ~= a + a*P(s), s = a*a, 0 <= a < 1. Weight: relative error of erf(a)."))

    # ---- erf, |x| >= 1: erf(a) = 1 - exp(G(a - ERF_T0)), G ~= log(erfc(a)) ----------------------
    # (float64 uses 1 - erfc(a) instead: log(erfc) needs degree > 18 on [1, 6].)
    for dt, deg in (("float32", 6),):
        t0 = 1.0
        tmax = algo("ERF_CLAMP", dt)

        def el_t(v, t0=t0):
            return mp.log(mp.erfc(v + t0))

        def el_w(v, t0=t0):
            return mp.erfc(v + t0) / mp.erf(v + t0)

        out.append(Fit("ERF_LARGE", dt, 0.0, tmax - t0, deg, el_t, el_w,
                       f"log(erfc(a)) ~= G(a - 1), 1 <= a <= {tmax} (clamped); erf(a) = 1 - exp(G). "
                       "Weight: relative error of erf(a) = 1 - exp(G)."))

    # ---- erfc, |x| >= ERFC_SMALL: q = (a - C)/(a + C), (a + C) * exp(a*a) * erfc(a) ~= P(q) ---------
    for dt, deg in (("float32", 10), ("float64", 20)):
        c, amax, a0 = algo("ERFC_C", dt), algo("ERFC_CLAMP", dt), algo("ERFC_SMALL", dt)

        def a_of(q, c=c):
            return c * (1 + q) / (1 - q)

        def ec_t(q, c=c):
            a = a_of(q, c)
            return (a + c) * mp.erfc(a) * mp.exp(a * a)

        def ec_w(q, c=c):
            return 1 / ec_t(q, c)

        out.append(Fit("ERFC", dt, (a0 - c) / (a0 + c), (amax - c) / (amax + c), deg, ec_t, ec_w,
                       f"(a + C)*exp(a*a)*erfc(a) ~= P(q), q = (a - C)/(a + C), C = {c:g}, "
                       f"{a0} <= a <= {amax}. Weight: relative error of erfc(a)."))
    # ---- normal cdf/pdf for gelu: erfc(a) = exp(-a*a) P(q) / (a + C), q = (a - C)/(a + C),
    #      for every a in [0, GELU_XMAX/sqrt(2)] (no small-a branch: q covers [-1, ...])
    for dt, deg in (("float32", 9), ("float64", 21)):
        c = algo("GELU_C", dt)
        amax = algo("GELU_XMAX", dt) / mp.sqrt(2) * (1 + mp.mpf(2) ** -10)

        def ge_t(q, c=c):
            a = c * (1 + q) / (1 - q)
            return (a + c) * mp.erfc(a) * mp.exp(a * a)

        def ge_w(q, c=c):
            return 1 / ge_t(q, c)

        out.append(Fit("GELU_ERFC", dt, -1.0, float((amax - c) / (amax + c)), deg, ge_t, ge_w,
                       f"(a + C)*exp(a*a)*erfc(a) ~= P(q), q = (a - C)/(a + C), C = {c:g}, "
                       f"0 <= a <= GELU_XMAX/sqrt(2) (gelu's normal cdf and pdf). "
                       "Weight: relative error of erfc(a)."))

    # ---- log1p on [0, 1] (softplus, logsigmoid: log1p(exp(-|x|))): e + e*e*P(e) -------------
    def lu_t(e):
        return (mp.log1p(e) - e) / (e * e)

    def lu_w(e):
        return e * e / mp.log1p(e)

    for dt, deg in (("float32", 9), ("float64", 20)):
        out.append(Fit("LOG1P_UNIT", dt, 0.0, 1.0, deg, lu_t, lu_w,
                       "log1p(e) ~= e + e*e*P(e), 0 <= e <= 1 (softplus and logsigmoid: e = exp(-|x|)). "
                       "Weight: relative error of log1p(e)."))

    # ---- tanhshrink (for the activation kernels), |x| < TANHSHRINK_CUTOFF:
    #      x - tanh(x) = x*s*P(s), s = x*x (no cancellation); above, x - tanh(x) loses at most ~1 bit
    def ts_t(s):
        a = mp.sqrt(s)
        return (a - mp.tanh(a)) / (a * s)

    def ts_w(s):
        a = mp.sqrt(s)
        return a * s / (a - mp.tanh(a))

    cut = ALGO_SHARED["TANHSHRINK_CUTOFF"][0]
    for dt, deg in (("float32", 10), ("float64", 20)):
        out.append(Fit("TANHSHRINK", dt, 0.0, cut * cut, deg, ts_t, ts_w,
                       f"x - tanh(x) ~= x*s*P(s), s = x*x, |x| < TANHSHRINK_CUTOFF = {cut}. "
                       "Weight: relative error of x - tanh(x)."))
    return out


# ---------------------------------------------------------------------------------------------
# Remez exchange on a discrete grid
# ---------------------------------------------------------------------------------------------

def _grid(lo, hi, n=GRID):
    lo, hi = mp.mpf(lo), mp.mpf(hi)
    return [(lo + hi) / 2 - (hi - lo) / 2 * mp.cos(mp.pi * (i + mp.mpf(0.5)) / n) for i in range(n)]


def _peaks(err, m):
    """Indices of alternating extrema of err: one per sign run, then trimmed to m."""
    peaks = []
    sign = 0
    for i, e in enumerate(err):
        s = 1 if e > 0 else (-1 if e < 0 else 0)
        if s == 0:
            continue
        if s != sign:
            peaks.append(i)
            sign = s
        elif abs(e) > abs(err[peaks[-1]]):
            peaks[-1] = i
    while len(peaks) > m:
        j = min(range(len(peaks)), key=lambda k: abs(err[peaks[k]]))
        if j == 0 or j == len(peaks) - 1:
            del peaks[j]
        else:
            # drop j and its smaller neighbour: alternation is kept
            nb = j - 1 if abs(err[peaks[j - 1]]) < abs(err[peaks[j + 1]]) else j + 1
            for k in sorted((j, nb), reverse=True):
                del peaks[k]
    return peaks


def _polyval(coefs, powers, v):
    return mp.fsum(c * v ** p for c, p in zip(coefs, powers))


def remez(xs, ys, ws, powers, maxiter=60, tol=mp.mpf("1e-4")):
    """min over c of max_i |ws[i] * (ys[i] - sum_j c_j xs[i]**powers[j])|.  Returns (c, maxerr)."""
    n = len(powers)
    m = n + 1
    N = len(xs)
    ref = [int(round((N - 1) * k / (m - 1))) for k in range(m)]
    best = None
    for _ in range(maxiter):
        A = mp.matrix(m, m)
        b = mp.matrix(m, 1)
        for i, k in enumerate(ref):
            for j, p in enumerate(powers):
                A[i, j] = xs[k] ** p
            A[i, n] = (-1) ** i / ws[k]
            b[i] = ys[k]
        sol = mp.lu_solve(A, b)
        c = [sol[j] for j in range(n)]
        E = abs(sol[n])
        err = [ws[k] * (ys[k] - _polyval(c, powers, xs[k])) for k in range(N)]
        emax = max(abs(e) for e in err)
        if best is None or emax < best[1]:
            best = (c, emax)
        if emax <= E * (1 + tol):
            break
        new = _peaks(err, m)
        if len(new) < m or new == ref:
            break
        ref = new
    return best


def _round_greedy(xs, ys, ws, degree, dtype, first=()):
    """Round the coefficients one at a time: those in `first` (in order), then the rest highest
    order first, re-fitting the still-free ones (lower orders) after each rounding."""
    fixed: dict[int, float] = {}
    order = list(first) + [p for p in reversed(range(degree + 1)) if p not in first]
    for p in order:
        free = [q for q in range(degree + 1) if q not in fixed]
        yr = [y - _polyval([mp.mpf(fixed[q]) for q in fixed], list(fixed), x) for x, y in zip(xs, ys)]
        c, _ = remez(xs, yr, ws, free)
        fixed[p] = round_to(c[free.index(p)], dtype)
    coefs = [fixed[p] for p in range(degree + 1)]
    err = max(abs(w * (y - _polyval([mp.mpf(v) for v in coefs], list(range(degree + 1)), x)))
              for x, y, w in zip(xs, ys, ws))
    return coefs, err


def fit(spec: Fit, verbose=False):
    """Minimax fit of spec, coefficients rounded to spec.dtype: (coefficients, max error).

    Rounding strategy: highest order first, each rounding absorbed by re-fitting the lower
    orders.  When the interval starts at 0 (v >= 0), the constant term alone decides the error
    near 0, so the variant that rounds it first is tried too, and the better one is kept (with
    0 inside the interval, the basis v, v**2, ... left after fixing c0 is not a Haar system and
    the Remez exchange would not converge)."""
    xs = _grid(spec.lo, spec.hi)
    ys = [spec.target(x) for x in xs]
    ws = [spec.weight(x) for x in xs]
    if verbose:
        _, e = remez(xs, ys, ws, list(range(spec.degree + 1)))
        print(f"  {spec.name} {spec.dtype}: exact-coefficient minimax error {mp.nstr(e, 5)}",
              file=sys.stderr)
    cands = [_round_greedy(xs, ys, ws, spec.degree, spec.dtype)]
    if spec.lo >= 0:
        cands.append(_round_greedy(xs, ys, ws, spec.degree, spec.dtype, first=(0,)))
    cands = [_polish(xs, ys, ws, c, spec.dtype) for c, _ in cands]
    return min(cands, key=lambda ce: ce[1])


def _polish(xs, ys, ws, coefs, dtype, rounds=20):
    """Coordinate descent on the rounded coefficients: move one coefficient by 1-2 ulps while
    that lowers the max weighted error.  (Residuals are ~u in size, so float64 arithmetic on them
    is exact enough.)"""
    import numpy as np
    n = len(coefs)
    V = np.array([[float(w * x ** j) for j in range(n)] for x, w in zip(xs, ws)])   # w * v**j
    res = np.array([float(w * (y - _polyval([mp.mpf(c) for c in coefs], list(range(n)), x)))
                    for x, y, w in zip(xs, ys, ws)])
    F = np.float32 if dtype == "float32" else np.float64
    coefs = list(coefs)
    best = np.abs(res).max()
    for _ in range(rounds):
        improved = False
        for j in range(n):
            for direction in (np.inf, -np.inf):
                c = F(coefs[j])
                for _step in range(2):
                    c = np.nextafter(c, F(direction))
                    delta = float(c) - coefs[j]
                    trial = res - delta * V[:, j]
                    m = np.abs(trial).max()
                    if m < best:
                        best, res, coefs[j] = m, trial, float(c)
                        improved = True
                        break
        if not improved:
            break
    err = max(abs(w * (y - _polyval([mp.mpf(v) for v in coefs], list(range(n)), x)))
              for x, y, w in zip(xs, ys, ws))
    return coefs, err


def _fmt(v: float, dtype: str) -> str:
    if dtype == "float32":
        s = repr(v)
        # shortest repr that round-trips through float32
        for digits in range(6, 18):
            t = f"{v:.{digits}g}"
            if struct.unpack("<f", struct.pack("<f", float(t)))[0] == v:
                s = t
                break
        if not any(ch in s for ch in ".en"):
            s += ".0"
        return s
    return repr(v)


HEADER = '''"""Polynomial coefficients of fastact's math primitives (generated: do not edit by hand).

Produced by ``python tools/fit_polynomials.py --write``; ``--check`` verifies this file.  Imports only
the standard library, so that a C/Cython build (setup.py + Tempita) can read the same numbers.

Every polynomial is a plain tuple of coefficients, lowest order first, evaluated by Horner's rule
in the dtype named by the suffix (_F32: float32 values, written with enough digits to round-trip;
_F64: float64).  Method for every set: weighted minimax (Remez exchange on {grid} Chebyshev
nodes, mpmath 256-bit), the weight chosen so that the minimised quantity is the relative error
that the polynomial causes in the final function; then the coefficients are rounded to the dtype
highest order first, re-fitting the lower ones after each rounding.  "max error" is the weighted
(= relative) error with the rounded coefficients in exact arithmetic, as a multiple of the dtype's
unit roundoff u (2**-24 for float32, 2**-53 for float64); evaluation rounding comes on top.

The algorithms that use them are in fastact/_numba/mathfn.py (module docstring).
"""

'''


def generate(verbose=False, only=None, dtype=None) -> str:
    parts = [HEADER.format(grid=GRID)]
    consts = _constants()
    parts.append(consts + "\n")
    for spec in _fits():
        if only and spec.name.lower() != only.lower():
            continue
        if dtype and spec.dtype != dtype:
            continue
        coefs, err = fit(spec, verbose)
        u = mp.mpf(2) ** (-24 if spec.dtype == "float32" else -53)
        suffix = "_F32" if spec.dtype == "float32" else "_F64"
        if verbose:
            print(f"{spec.name}{suffix}: degree {spec.degree}, max error {mp.nstr(err / u, 4)} u",
                  file=sys.stderr)
        lines = [f"# {spec.doc}",
                 f"# Interval [{spec.lo!r}, {spec.hi!r}] of the polynomial variable, degree {spec.degree}, "
                 f"weighted minimax (Remez); max error {mp.nstr(err / u, 3)} u "
                 f"({mp.nstr(err, 3)}).",
                 f"{spec.name}{suffix} = ("]
        for c in coefs:
            lines.append(f"    {_fmt(c, spec.dtype)},")
        lines.append(")\n")
        parts.append("\n".join(lines) + "\n")
    return "".join(parts).rstrip() + "\n"


def _constants() -> str:
    """Range-reduction constants (not fitted, but kept here so that both backends share them)."""
    ln2 = mp.log(2)
    ln2_hi64 = float.fromhex("0x1.62e42fee00000p-1")  # fdlibm's ln2_hi: 32 significant bits
    ln2_lo64 = float(ln2 - mp.mpf(ln2_hi64))
    ln2_hi32 = float.fromhex("0x1.62e400p-1")   # 0.693145751953125: 16 significant bits
    with mp.workprec(24):
        ln2_lo32 = float(+(ln2 - mp.mpf(ln2_hi32)))
    return "\n".join([
        "# ---- constants ------------------------------------------------------------------------",
        "# Cody-Waite split of ln(2): LN2_HI has trailing zero bits so that k*LN2_HI is exact for",
        "# |k| < 2**11 (float64) / 2**8 (float32); LN2_LO = ln(2) - LN2_HI rounded to the dtype.",
        f"LN2_HI_F64 = {ln2_hi64!r}",
        f"LN2_LO_F64 = {ln2_lo64!r}",
        f"LN2_HI_F32 = {ln2_hi32!r}",
        f"LN2_LO_F32 = {_fmt(ln2_lo32, 'float32')}",
        f"INV_LN2 = {float(1 / ln2)!r}  # rounded to the dtype where used",
        "# Round-to-integer shifter: (t + SHIFT) - SHIFT rounds t to an integer for |t| < 2**22 / 2**51.",
        "SHIFT_F32 = 12582912.0  # 1.5 * 2**23",
        "SHIFT_F64 = 6755399441055744.0  # 1.5 * 2**52",
        "",
        "# ---- algorithm constants (clamps and thresholds; see fastact/_numba/mathfn.py) ----------",
    ] + [f"# {doc}\n{n}_F32 = {_fmt(v32, 'float32')}\n{n}_F64 = {v64!r}"
         for n, (v32, v64, doc) in ALGO.items()]
      + [f"# {doc}\n{n} = {v!r}" for n, (v, doc) in ALGO_SHARED.items()] + [""])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write fastact/_coefficients.py")
    ap.add_argument("--check", action="store_true", help="compare with fastact/_coefficients.py")
    ap.add_argument("--only", help="fit one set (by name, e.g. erfc)")
    ap.add_argument("--dtype", choices=["float32", "float64"])
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    text = generate(verbose=not args.quiet, only=args.only, dtype=args.dtype)
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fastact", "_coefficients.py")
    if args.check:
        with open(path) as f:
            same = f.read() == text
        print("fastact/_coefficients.py is " + ("up to date" if same else "OUT OF DATE"))
        return 0 if same else 1
    if args.write:
        if args.only or args.dtype:
            ap.error("--write needs the full table (no --only/--dtype)")
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
