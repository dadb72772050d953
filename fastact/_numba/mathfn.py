"""Branch-free, vectorizable scalar math primitives for Numba kernels.

``build_math(F)`` (F = ``np.float32`` or ``np.float64``) returns a ``types.SimpleNamespace`` of
``numba.njit`` scalar functions, each taking and returning F (the argument is cast to F first).
Every constant is an F scalar, so a float32 computation never promotes to float64.  They contain
no libm calls and no branches that LLVM cannot turn into selects, so a Numba loop
``for i in range(n): out[i] = m.exp(x[i])`` (compiled with ``error_model='numpy'``) vectorizes to
packed AVX2/AVX-512 code.  They are compiled with ``fastmath={'contract'}`` only: FMA fusion, but
exact IEEE NaN/inf/signed-zero semantics.

Functions (all exact at the special values listed; NaN in -> NaN out):

``exp(x)``              e**x; subnormal results rounded once; overflow -> inf; exp(-inf) = 0.
``expm1(x)``            e**x - 1; keeps the sign of zero; expm1(-inf) = -1.
``log(x)``              natural log; log(0) = -inf, log(x < 0) = NaN, log(inf) = inf; subnormal x ok.
``log1p(x)``            log(1 + x); log1p(-1) = -inf, log1p(x < -1) = NaN, keeps the sign of zero.
``tanh(x)``             odd, keeps the sign of zero, tanh(+-inf) = +-1.
``erf(x)``              odd, keeps the sign of zero, erf(+-inf) = +-1.
``erfc(x)``             1 - erf(x) with relative accuracy down to the subnormal range;
                        erfc(-inf) = 2, erfc(inf) = 0.
``exp_neg_square(x)``   exp(-x*x), with x*x split into hi + lo (exact, by FMA), so the relative
                        error stays ~1 ULP also where x*x is large (e.g. ~80).
``exp_bounded(x)``      e**x for x <= EXP_BOUNDED_HI (64 / 640; NOT clamped above), cheaper than exp
                        (0 below EXP_LO by a select, one scaling by 2**k); subnormals computed.
``log1p_unit(e)``       log(1 + e) for 0 <= e <= 1 by one polynomial (no reduction, no division):
                        softplus/logsigmoid's log1p(exp(-|x|)).
``normal_cdf_pdf(x)``   (Phi(x), phi(x)) of the standard normal distribution (gelu): one exp and one
                        division; Phi relatively accurate in the left tail.
``div_const(t, d, z)``  t/d for a constant d, z = 1/d rounded to F, without a division: q = t*z,
                        then Markstein's correction q - (q*d - t)*z (q*d - t exact by FMA), which
                        is t/d correctly rounded wherever t/d is normal (checked for d = 3 and 6:
                        every float32, 6e8 random float64); a subnormal t/d may be one ulp off.
                        +-inf gives NaN and the sign of a zero result is not guaranteed: callers
                        that meet them handle them.  (A vector division holds its unit 10-16
                        cycles: float64 hardsigmoid_ ran at half the memory floor on it.)

Also on the namespace: ``fma``, ``copysign``, ``pow2``, ``ldexp_split`` and
``prefer_vector_width_512`` (see ``fastact._numba.intrinsics``), ``dtype`` (= F), and the
internal building blocks ``exp_core(x)`` (e**x without clamping, normal results only),
``exp_scaled(xh, xl, s)`` (s * e**(xh + xl) with one rounding) and ``erfc_core(a)``.

Calls: the primitives are ordinary ``@njit`` functions that LLVM inlines into the caller;
``erf`` and ``erfc`` are too big for LLVM's inliner, so they are compiled with
``inline="always"`` (Numba-IR inlining).  A loop over a contiguous array (``range(x.size)`` or a
slice) vectorizes to ymm code; ``intrinsics.prefer_vector_width_512()`` at the top of the kernel
makes it zmm (~25-35% faster here).

Algorithms (coefficients and constants: ``fastact._coefficients``, suffix _F32/_F64; every clamp
is written ``x = C if x > C else x`` so that NaN passes through):

* exp: clamp x to [EXP_LO, EXP_HI], k = rint(x/ln2) by the SHIFT trick,
  r = x - k*LN2_HI - k*LN2_LO (Cody-Waite; the first product is exact), e**r = 1 + p with
  p = fma(r, r*EXP(r), r) (not r + (r*r)*EXP(r): r*r is subnormal for tiny r, see the note on
  the exp family), scaled by ldexp_split (2**(k>>1) * 2**(k-(k>>1)): one rounding also for
  subnormal results, and overflow to inf).
* exp_scaled(xh, xl, s): the same with r = (xh - k*LN2_HI) + (xl - k*LN2_LO) (one rounding) and
  the result fma(s, p, s) * 2**k; exp_neg_square(x) = exp_scaled(-hi, -lo, 1) with
  hi = a*a, lo = fma(a, a, -hi), a = min(|x|, ENS_CLAMP).
* expm1: x clamped to [EXPM1_LO, EXPM1_HI]; k as for exp but k = 0 for |x| < EXPM1_SMALL (no
  reduction, no cancellation near 0); p = fma(r, r*EXPM1(r), r); t = 2**(k-1);
  result = fma(p, t, t - 1/2) * 2 (exact scaling); |x| < EXPM1_TINY returns x (keeps -0).
* log1p: u = 1 + x, c = (1 + x) - u exactly (Fast2Sum); u = 2**k * m, m in [sqrt(1/2), sqrt(2))
  (bit manipulation); f = (m - 1) + c*2**-k; fdlibm's kernel: s = f/(2+f), z = s*s,
  R = z*LOG1P(z), hfsq = f*f/2, result = k*LN2_HI - ((hfsq - (s*(hfsq + R) + k*LN2_LO)) - f);
  then selects for x = -1, x < -1, x = +-0 and inf.  log: the same kernel with f = m - 1,
  subnormal x scaled by 2**LOG_SUBNORMAL_SHIFT first.
* tanh: x itself below |x| = TANH_TINY (tanh rounds to x there; the floor keeps hl and u*q
  normal); a = min(max(|x|, TANH_TINY), TANH_CLAMP) = r + k*ln2/2 (|r| <= ln2/4; float32 reduces
  with one FMA by fl(ln2/2), float64 by Cody-Waite halves), h = expm1(2r)/2 = fma(r, r*TANH(r), r),
  u = expm1(2a)/2 = fma(h, 2**k, (2**k - 1)/2) (u = h for k = 0, below ln2/4; some cancellation
  only at k = 1, r < 0: 2h + 1/2 >= 0.207 with |2h| <= 0.293, h's error grows by at most 1.42x),
  q = u/(1 + u), refined below u = 1/2 to u + (hl - u*q) with hl = fma(r, r*TANH(r), r - h),
  h's rounding error (tanh = u - u*tanh: the roundings of 1 + u and of q are scaled by u, and
  for k = 0, where u = h, small x come out within ~0.5 ulp); copysign(q, x).  One path for every |x|.
* exp_bounded: as exp without the clamps (0 selected below EXP_LO), and
  fma(p, s, s) * 2**-EXP_OFFSET with s = 2**(k + EXP_OFFSET) instead of ldexp_split (s is normal
  for every k >= EXP_LO/ln2).
* "Scale shifters": where 2**(k + c) is normal, t = v*INV_LN2 + (SHIFT + BIAS + c) gives both k
  (t minus that constant) and, through ``pow2_shifted(t)`` (one integer shift of t's bits),
  2**(k + c); exp_core, exp_bounded, expm1, tanh and normal_cdf_pdf scale this way.
* log1p_unit: e + e*e*LOG1P_UNIT(e), a minimax fit on [0, 1].
* normal_cdf_pdf: t = min(|x|, GELU_XMAX), a = t/sqrt(2); erfc(a) = exp(-t*t/2) * P(q)/(a + C) with
  t also at least GELU_TINY (no subnormal product; Phi and phi round to their values at 0 below) and
  q = (a - C)/(a + C) for all a (GELU_ERFC, no small-a branch); exp(-t*t/2) with t*t/2 = hi + lo
  split exactly and kept normal by the 2**EXP_OFFSET offset, whose inverse (and the 1/2 of
  Phi = erfc/2) is folded into P's coefficients; Phi(x) = erfc/2 for x < 0, 1 - erfc/2 else;
  phi = exp(-t*t/2)/sqrt(2 pi).
* erf: a = |x|; a < 1: a + a*ERF_SMALL(a*a); else float32: 1 - exp_core(ERF_LARGE(t - 1)),
  t = min(a, ERF_CLAMP) (ERF_LARGE fits log(erfc)); float64: 1 - erfc_core(t); copysign.
* erfc: |x| < ERFC_SMALL: 1 - (x + x*ERF_SMALL(x*x)).  Else a = min(|x|, ERFC_CLAMP) and
  erfc_core(a): a + C = p + pl (2Sum), r0 = 1/p and e = 1 - r0*(p + pl) (FMA residual), so
  1/(a + C) ~= r0*(1 + e); q = (a - C)/(a + C) = 1 - w*(1 + e), w = 2C*r0, rounded once;
  h = (a + C)*exp(a*a)*erfc(a) ~= ERFC(q), the last Horner step (c0 + q*tail) in double-word;
  S = h/(a + C) = h*r0*(1 + e) as a double-word sh + sl; result = (sh + sl)*exp(-(hi + lo)),
  hi + lo = a*a exactly, with one final rounding (exp_scaled with a double-word scale).
  x < 0: 2 - erfc_core(a).  (After N. Juffa's erfcf, with a single division.)
"""
from __future__ import annotations

import math
import types as _pytypes

import numba
import numpy as np

from .. import _coefficients as C
from .intrinsics import (copysign, fma, ldexp_split, logb_sqrt2, mant_sqrt2, pow2,
                         pow2_shifted, prefer_vector_width_512)

__all__ = ["build_math", "JIT_OPTIONS"]

#: Options every primitive (and every loop that should vectorize) is compiled with.
JIT_OPTIONS = dict(error_model="numpy", fastmath={"contract"})

_cache: dict = {}


def _horner(coefs, F, jit, name):
    """An njit function evaluating sum(coefs[i] * x**i) by Horner's rule, constants typed F."""
    names = [f"c{i}" for i in range(len(coefs))]
    expr = names[-1]
    for n in reversed(names[:-1]):
        expr = f"{n} + x * ({expr})"
    ns = {n: F(v) for n, v in zip(names, coefs)}
    exec(f"def {name}(x):\n    return {expr}\n", ns)
    return jit(ns[name])


def build_math(F):
    """Return the namespace of primitives for dtype F (np.float32 or np.float64); memoized."""
    F = np.dtype(F).type
    if F not in (np.float32, np.float64):
        raise TypeError(f"build_math: float32 or float64, not {F!r}")
    if F in _cache:
        return _cache[F]
    is32 = F is np.float32
    sfx = "_F32" if is32 else "_F64"

    def K(name):
        return F(getattr(C, name + sfx))

    jit = numba.njit(**JIT_OPTIONS)
    # Numba-IR inlining for helpers that LLVM's inliner judges too big (a call in the caller's
    # loop would stop its vectorization).
    jit_inline = numba.njit(inline="always", **JIT_OPTIONS)

    ZERO, HALF, ONE, TWO = F(0.0), F(0.5), F(1.0), F(2.0)
    INF, NAN = F(np.inf), F(np.nan)
    INV_LN2 = F(C.INV_LN2)
    SHIFT, LN2_HI, LN2_LO = K("SHIFT"), K("LN2_HI"), K("LN2_LO")
    EXP_LO, EXP_HI = K("EXP_LO"), K("EXP_HI")
    EXPM1_LO, EXPM1_HI, EXPM1_TINY = K("EXPM1_LO"), K("EXPM1_HI"), K("EXPM1_TINY")
    EXPM1_SMALL = K("EXPM1_SMALL")
    LOG1P_KMAX = K("LOG1P_KMAX")
    MIN_NORMAL = F(np.finfo(F).tiny)
    LOG_SUB_SHIFT = K("LOG_SUBNORMAL_SHIFT")
    LOG_SUB_SCALE = F(2.0 ** float(LOG_SUB_SHIFT))
    TANH_CLAMP, TANH_TINY = K("TANH_CLAMP"), K("TANH_TINY")
    TWO_INV_LN2 = F(2.0 * float(INV_LN2))
    HALF_LN2 = F(math.log(2.0) / 2)
    HALF_LN2_HI, HALF_LN2_LO = F(float(LN2_HI) / 2), F(float(LN2_LO) / 2)
    ERF_CLAMP = K("ERF_CLAMP")
    ERFC_C, ERFC_CLAMP, ERFC_SMALL = K("ERFC_C"), K("ERFC_CLAMP"), K("ERFC_SMALL")
    TWO_ERFC_C = F(2.0 * float(ERFC_C))
    ENS_CLAMP = K("ENS_CLAMP")
    EXP_OFFSET = K("EXP_OFFSET")
    EXP_DOWN = F(2.0 ** -float(EXP_OFFSET))
    # Scale shifters: t = v + SCALE_SHIFT* rounds v to an integer k as SHIFT does and leaves
    # BIAS + c + k in t's low bits, so pow2_shifted(t) = 2**(k + c) (c = 0, EXP_OFFSET, -1).
    BIAS = np.finfo(F).maxexp - 1
    SCALE_SHIFT = F(float(SHIFT) + BIAS)
    SCALE_SHIFT_UP = F(float(SHIFT) + BIAS + float(EXP_OFFSET))
    SCALE_SHIFT_HALF = F(float(SHIFT) + BIAS - 1)
    GELU_C, GELU_XMAX, GELU_TINY = K("GELU_C"), K("GELU_XMAX"), K("GELU_TINY")
    INV_SQRT2 = F(1.0 / math.sqrt(2.0))
    # Phi(-|x|) = erfc(a)/2 and the pdf, with the 2**-EXP_OFFSET of the scaled exp folded in
    GELU_PDF_DOWN = F(F(1.0 / math.sqrt(2.0 * math.pi)) * F(2.0 ** -float(EXP_OFFSET)))

    p_exp = _horner(getattr(C, "EXP" + sfx), F, jit, "p_exp")
    p_expm1 = _horner(getattr(C, "EXPM1" + sfx), F, jit, "p_expm1")
    p_log1p = _horner(getattr(C, "LOG1P" + sfx), F, jit, "p_log1p")
    p_tanh = _horner(getattr(C, "TANH" + sfx), F, jit, "p_tanh")
    p_erf_small = _horner(getattr(C, "ERF_SMALL" + sfx), F, jit, "p_erf_small")
    ERFC_C0 = F(getattr(C, "ERFC" + sfx)[0])
    p_erfc_tail = _horner(getattr(C, "ERFC" + sfx)[1:], F, jit, "p_erfc_tail")
    p_erf_large = _horner(C.ERF_LARGE_F32, F, jit, "p_erf_large") if is32 else None
    # GELU_ERFC scaled by 1/2 * 2**-EXP_OFFSET (exact): Phi(-t) = exp(-t*t/2) 2**EXP_OFFSET * P' * rc
    p_gelu = _horner([c * 0.5 * 2.0 ** -float(EXP_OFFSET) for c in getattr(C, "GELU_ERFC" + sfx)],
                     F, jit, "p_gelu")
    p_log1p_unit = _horner(getattr(C, "LOG1P_UNIT" + sfx), F, jit, "p_log1p_unit")

    # ---- exp family ---------------------------------------------------------------------------
    # expm1(r) ~ r + r*r*P(r) is evaluated as fma(r, r*P(r), r): for a tiny r (|x| ~ 1e-20 in
    # float32 gives r = x) r*r would be subnormal, and a multiply with a subnormal result or
    # operand takes a microcode assist (~100 cycles on these Xeons; 5% of such inputs made
    # sigmoid 11x and tanh 28x slower); r*P(r) stays normal, the outer product inside the FMA.
    @jit
    def exp_poly(r):
        """e**r - 1 for |r| <= ln2/2 (the reduced argument of the exp family)."""
        return fma(r, r * p_exp(r), r)

    @jit
    def expm1_poly(r):
        """expm1(r) for |r| <= EXPM1_SMALL."""
        return fma(r, r * p_expm1(r), r)

    @jit
    def exp_scaled(xh, xl, s):
        """s * exp(xh + xl), with one rounding before the (exact or subnormal) 2**k scaling.
        For EXP_LO <= xh <= EXP_HI (not clamped here), |xl| < ulp(xh), s > 0 of order 1.
        NaN -> NaN."""
        t = xh * INV_LN2 + SHIFT
        k = t - SHIFT
        r = (xh - k * LN2_HI) + (xl - k * LN2_LO)   # one rounding (the first part is exact)
        p = exp_poly(r)                          # expm1(r)
        return ldexp_split(fma(s, p, s), k)

    @jit
    def exp_core(x):
        """e**x for x in about [-86, 88] (float32) / [-707, 709] (float64): no clamping,
        a single normal power-of-two scale.  NaN -> NaN."""
        t = x * INV_LN2 + SCALE_SHIFT
        k = t - SCALE_SHIFT
        r = x - k * LN2_HI
        r = r - k * LN2_LO
        sc = pow2_shifted(t)
        return fma(exp_poly(r), sc, sc)                  # (1 + p) * 2**k, one rounding

    @jit
    def exp_scaled2(xh, xl, sh, sl):
        """(sh + sl) * exp(xh + xl) with |sl| <= ulp(sh), as exp_scaled."""
        t = xh * INV_LN2 + SHIFT
        k = t - SHIFT
        r = (xh - k * LN2_HI) + (xl - k * LN2_LO)   # one rounding (the first part is exact)
        p = exp_poly(r)                          # expm1(r)
        w = fma(sl, p, sl)
        return ldexp_split(sh + fma(sh, p, w), k)

    @jit
    def exp(x):
        x = F(x)
        x = EXP_HI if x > EXP_HI else x
        x = EXP_LO if x < EXP_LO else x
        t = x * INV_LN2 + SHIFT
        k = t - SHIFT
        r = x - k * LN2_HI
        r = r - k * LN2_LO
        return ldexp_split(ONE + exp_poly(r), k)

    @jit
    def expm1(x):
        x = F(x)
        xc = EXPM1_HI if x > EXPM1_HI else x
        xc = EXPM1_LO if xc < EXPM1_LO else xc
        t = xc * INV_LN2 + SCALE_SHIFT_HALF
        # k = 0 near 0: no reduction (and no cancellation)
        t = SCALE_SHIFT_HALF if abs(xc) < EXPM1_SMALL else t
        k = t - SCALE_SHIFT_HALF
        r = xc - k * LN2_HI
        r = r - k * LN2_LO
        p = expm1_poly(r)
        th = pow2_shifted(t)                      # 2**(k - 1)
        y = fma(p, th, th - HALF) * TWO
        return x if abs(x) < EXPM1_TINY else y

    @jit
    def exp_neg_square(x):
        x = F(x)
        a = abs(x)
        a = ENS_CLAMP if a > ENS_CLAMP else a
        hi = a * a
        lo = fma(a, a, -hi)
        return exp_scaled(-hi, -lo, ONE)

    @jit
    def exp_bounded(x):
        """e**x for x <= EXP_BOUNDED_HI (NOT clamped above: the caller bounds x), 0 below
        EXP_LO (where it rounds to 0): (1 + p) 2**(k + EXP_OFFSET) is normal down to
        exp(EXP_LO), and the final 2**-EXP_OFFSET rounds once (subnormal results computed).
        Cheaper than exp: one select and one scaling instead of two clamps and ldexp_split."""
        x = F(x)
        t = x * INV_LN2 + SCALE_SHIFT_UP
        k = t - SCALE_SHIFT_UP
        r = x - k * LN2_HI
        r = r - k * LN2_LO
        sc = pow2_shifted(t)                      # 2**(k + EXP_OFFSET)
        y = fma(exp_poly(r), sc, sc) * EXP_DOWN
        # a select on the result, not a clamp of x: y is garbage below EXP_LO (t leaves the
        # shift trick's range)
        return ZERO if x < EXP_LO else y

    @jit
    def log1p_unit(e):
        """log(1 + e) for 0 <= e <= 1 (e.g. e = exp(-|x|)): e + e*e*LOG1P_UNIT(e), no
        reduction and no division.  NaN -> NaN."""
        return e + e * (e * p_log1p_unit(e))

    @jit_inline
    def normal_cdf_pdf(x):
        """(Phi(x), phi(x)): the standard normal cdf and pdf, for gelu.  With t = |x| clamped
        at GELU_XMAX and a = t/sqrt(2): erfc(a) = exp(-t*t/2) P(q) / (a + C), q = (a - C)/(a + C)
        (one division, no small-a branch); exp(-t*t/2) with t*t split exactly
        (hi + lo) and scaled by 2**EXP_OFFSET so that it stays normal; Phi(-t) = erfc(a)/2 is
        relatively accurate down to the subnormal range, Phi(t) = 1 - Phi(-t);
        phi = exp(-t*t/2)/sqrt(2 pi).  Beyond GELU_XMAX both round to 0.  NaN -> NaN."""
        t = abs(x)
        t = GELU_XMAX if t > GELU_XMAX else t
        # ... and at least GELU_TINY, below which Phi and phi round to their values at 0
        # anyway: t*t/2 and its rounding error stay normal (see the note on the exp family)
        t = GELU_TINY if t < GELU_TINY else t
        h = HALF * t
        hi = -(t * h)                              # -t*t/2 = hi + lo exactly
        lo = -fma(t, h, -(t * h))
        tt = hi * INV_LN2 + SCALE_SHIFT_UP
        k = tt - SCALE_SHIFT_UP
        r = (hi - k * LN2_HI) + (lo - k * LN2_LO)   # the first part is exact
        sc = pow2_shifted(tt)                       # 2**(k + EXP_OFFSET)
        ex = fma(exp_poly(r), sc, sc)
        a = t * INV_SQRT2
        rc = ONE / (a + GELU_C)
        q = (a - GELU_C) * rc
        e = ex * (p_gelu(q) * rc)
        cdf = e if x < ZERO else ONE - e
        return cdf, ex * GELU_PDF_DOWN

    # ---- log family ---------------------------------------------------------------------------
    @jit
    def _log1p_f(f, k):
        """log(2**k * (1 + f)) for f in about [sqrt(1/2) - 1, sqrt(2) - 1] (fdlibm's kernel)."""
        s = f / (TWO + f)
        z = s * s
        R = z * p_log1p(z)
        hfsq = HALF * f * f
        return k * LN2_HI - ((hfsq - (s * (hfsq + R) + k * LN2_LO)) - f)

    @jit
    def log1p(x):
        x = F(x)
        u = ONE + x
        # c = (1 + x) - u exactly (Fast2Sum; x >= -1 in the domain)
        c = ((ONE - u) + x) if x < ONE else ((x - u) + ONE)
        k = logb_sqrt2(u)
        m = mant_sqrt2(u)
        kc = LOG1P_KMAX if k > LOG1P_KMAX else k
        f = (m - ONE) + c * pow2(-kc)
        res = _log1p_f(f, k)
        res = -INF if u == ZERO else res
        res = NAN if x < -ONE else res
        return x if (x == ZERO or x == INF) else res

    @jit
    def log(x):
        x = F(x)
        sub = x < MIN_NORMAL
        xs = x * LOG_SUB_SCALE if sub else x
        k = logb_sqrt2(xs)
        k = k - LOG_SUB_SHIFT if sub else k
        m = mant_sqrt2(xs)
        res = _log1p_f(m - ONE, k)
        res = -INF if x == ZERO else res
        res = NAN if x < ZERO else res
        return res if x < INF else x      # inf -> inf, NaN -> NaN

    # ---- tanh -----------------------------------------------------------------------------------
    @jit
    def tanh(x):
        x = F(x)
        a = abs(x)
        # floored at TANH_TINY, below which tanh(x) rounds to x (returned at the end): from a tiny
        # r, hl and u*q would be subnormal (a microcode assist, 25x slower with 5% tiny inputs)
        ac = TANH_TINY if a < TANH_TINY else a
        ac = TANH_CLAMP if ac > TANH_CLAMP else ac
        # a = r + k ln2/2, |r| <= ln2/4; u = expm1(2a)/2 = 2**k h + (2**k - 1)/2, h = expm1(2r)/2
        t = ac * TWO_INV_LN2 + SCALE_SHIFT
        k = t - SCALE_SHIFT
        if is32:
            r = fma(-k, HALF_LN2, ac)       # one step: k*fl(ln2/2) is off by < 2**-29 k
        else:
            r = ac - k * HALF_LN2_HI        # exact (Cody-Waite)
            r = r - k * HALF_LN2_LO
        sc = pow2_shifted(t)
        g = r * p_tanh(r)
        h = fma(r, g, r)
        hl = fma(r, g, r - h)               # h's rounding error (r - h is exact)
        u = fma(h, sc, fma(sc, HALF, -HALF))
        q = u / (u + ONE)
        # below u = 1/2 (k <= 1): tanh = u - u*tanh, so u + (hl - u*q) scales the roundings of
        # 1 + u and of q by u, and corrects h's rounding (exactly for k = 0, where u = h)
        q = u + fma(-u, q, hl) if u < HALF else q
        return copysign(q, x) if a >= TANH_TINY else x

    # ---- erfc / erf -----------------------------------------------------------------------------
    @jit_inline
    def erfc_core(a):
        """erfc(a) for ERFC_SMALL <= a <= ERFC_CLAMP (NaN -> NaN).

        q = (a - C)/(a + C) and 1/(a + C) to ~2**-2p relative, then (a + C)*exp(a*a)*erfc(a)
        ~= P(q) (last Horner step in double-word), divided by a + C and multiplied by exp(-a*a)
        as double-word values, so the large roundings are those of q, of the Horner tail, of
        exp's reduced argument and the final one."""
        p = a + ERFC_C
        bv = p - a
        pl = (a - (p - bv)) + (ERFC_C - bv)       # a + C = p + pl exactly (2Sum)
        r0 = ONE / p
        e = fma(-r0, p, ONE)                      # exact
        e = fma(-r0, pl, e)                       # 1 - r0*(a + C);  1/(a + C) ~= r0*(1 + e)
        # q = (a - C)/(a + C) = 1 - 2C/(a + C) = 1 - w*(1 + e), w = 2C*r0 (exact), one rounding
        w = TWO_ERFC_C * r0
        q = ONE - w
        q = q + (((ONE - q) - w) - w * e)
        # h = (a + C)*exp(a*a)*erfc(a) ~= c0 + q*tail(q) = hh + hl (last step in double-word)
        t = q * p_erfc_tail(q)
        tl = fma(q, p_erfc_tail(q), -t)
        hh = ERFC_C0 + t
        bv = hh - ERFC_C0
        hl = ((ERFC_C0 - (hh - bv)) + (t - bv)) + tl
        sh = hh * r0                              # h/(a + C) = sh + sl
        sl = fma(hh, r0, -sh)
        sl = fma(sh, e, fma(hl, r0, sl))
        hi = a * a
        lo = fma(a, a, -hi)
        return exp_scaled2(-hi, -lo, sh, sl)      # (sh + sl) * exp(-a*a), one rounding

    @jit_inline
    def erfc(x):
        x = F(x)
        a = abs(x)
        small = ONE - (x + x * p_erf_small(x * x))
        a = ERFC_CLAMP if a > ERFC_CLAMP else a
        E = erfc_core(a)
        E = TWO - E if x < ZERO else E
        return small if a < ERFC_SMALL else E

    if is32:
        @jit_inline
        def erf(x):
            x = F(x)
            a = abs(x)
            small = a + a * p_erf_small(a * a)
            t = ERF_CLAMP if a > ERF_CLAMP else a
            big = ONE - exp_core(p_erf_large(t - ONE))
            return copysign(small if a < ONE else big, x)
    else:
        @jit_inline
        def erf(x):
            x = F(x)
            a = abs(x)
            small = a + a * p_erf_small(a * a)
            t = ERF_CLAMP if a > ERF_CLAMP else a
            big = ONE - erfc_core(t)
            return copysign(small if a < ONE else big, x)

    @jit_inline
    def div_const(t, d, z):
        q = t * z
        return fma(-fma(q, d, -t), z, q)

    ns = _pytypes.SimpleNamespace(
        dtype=F, exp=exp, expm1=expm1, log=log, log1p=log1p, tanh=tanh, erf=erf, erfc=erfc,
        exp_neg_square=exp_neg_square, exp_core=exp_core,
        exp_bounded=exp_bounded,
        log1p_unit=log1p_unit, normal_cdf_pdf=normal_cdf_pdf, div_const=div_const, exp_scaled=exp_scaled,
        erfc_core=erfc_core,
        fma=fma, copysign=copysign, pow2=pow2, ldexp_split=ldexp_split,
        prefer_vector_width_512=prefer_vector_width_512,
    )
    _cache[F] = ns
    return ns
