"""Scalar math of every kernel family for the Numba backend, written once.

:func:`build_families` instantiates it for one dtype: every constant is captured as ``F(value)``
so that Numba types it as F (a float64 literal would silently promote float32 math to float64),
and the transcendental parts come from our own branch-free primitives (`mathfn`), so the loops
that call these functions still vectorize.

For each family (see ``fastact.spec.FAMILIES``):

* ``forward(x, args)`` -> y
* ``backward(g, x, args)`` -> g * dy/dx, written as a select where PyTorch selects (so that an
  infinite or NaN g where the derivative is 0 gives 0, as in PyTorch)
* ``backward_from_output(g, y, args)`` for the families whose output determines the derivative.

``args`` is the tuple of the family's arguments (``fastact.spec.FAMILIES``), passed whole rather
than unpacked with ``*args``, which Numba cannot inline.

NaN handling follows PyTorch's vectorized CPU kernels (which is what ``semantics.json`` records):
each formula is written with the comparison of the spec table, and NaN fails every comparison.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numba
import numpy as np

from .. import _coefficients
from .mathfn import _horner, build_math

# Numba-IR inlining: composite functions (gelu = x * erfc(...)) are too big for LLVM's inliner,
# and a call left in a loop stops it from vectorizing.
jit = numba.njit(inline="always", error_model="numpy", fastmath={"contract"})


def build_families(F) -> dict[str, SimpleNamespace]:
    """family name -> SimpleNamespace(forward, backward, backward_from_output or None) for dtype F."""
    m = build_math(F)
    exp, expm1, log1p, tanh, erfc = m.exp, m.expm1, m.log1p, m.tanh, m.erfc
    exp_bounded, log1p_unit, normal_cdf_pdf = m.exp_bounded, m.log1p_unit, m.normal_cdf_pdf
    div_const, copysign = m.div_const, m.copysign

    ZERO, ONE, TWO, THREE, SIX, HALF = F(0.0), F(1.0), F(2.0), F(3.0), F(6.0), F(0.5)
    INF = F(np.inf)
    NEG_THREE = F(-3.0)
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32, in every dtype.
    SIXTH_F32 = F(np.float32(1.0 / 6.0))
    SIXTH, THIRD = F(1.0 / 6.0), F(1.0 / 3.0)          # 1/6 and 1/3 rounded to F, for div_const
    INV_SQRT2 = F(1.0 / math.sqrt(2.0))
    NEG_GELU_XMAX = -F(_coefficients.GELU_XMAX_F32 if F is np.float32 else _coefficients.GELU_XMAX_F64)
    # silu: sigmoid(x) is exactly 0 below EXP_LO (exp(EXP_LO) rounds to 0)
    SILU_LO = F(_coefficients.EXP_LO_F32 if F is np.float32 else _coefficients.EXP_LO_F64)
    INV_SQRT2PI = F(1.0 / math.sqrt(2.0 * math.pi))
    GELU_TANH_K0 = F(math.sqrt(2.0 / math.pi))
    GELU_TANH_K1 = F(0.044715)
    GELU_TANH_K1x3 = F(3.0 * 0.044715)
    # mish: above this, tanh(softplus(x)) == 1 in F and exp(2x) would overflow further on.
    MISH_CLAMP = F(20.0) if F is np.float32 else F(40.0)
    # tanhshrink: below this |x|, x - tanh(x) cancels; a fitted polynomial in x**2 replaces it.
    TANHSHRINK_CUT = F(_coefficients.TANHSHRINK_CUTOFF)
    # Horner's rule written out with F constants (a loop over a tuple of 21 float64 coefficients
    # was left as a scalar loop: tanhshrink float64 ran ~7x slower than its Cython twin)
    p_tanhshrink = _horner(_coefficients.TANHSHRINK_F32 if F is np.float32
                           else _coefficients.TANHSHRINK_F64, F, jit, "p_tanhshrink")

    fams = {}

    def family(name, forward, backward, backward_from_output=None):
        fams[name] = SimpleNamespace(forward=forward, backward=backward,
                                     backward_from_output=backward_from_output)

    # Shared pieces ------------------------------------------------------------------------------
    @jit
    def sigmoid_parts(x):
        """(sigmoid(x), sigmoid(-x)) without overflow: e = exp(-|x|) <= 1."""
        e = exp_bounded(-abs(x))
        r = ONE / (ONE + e)
        er = e * r
        pos = x >= ZERO
        return (r if pos else er), (er if pos else r)

    # relu ---------------------------------------------------------------------------------------
    @jit
    def relu_forward(x, args):
        return ZERO if x < ZERO else x          # keeps NaN and -0.0, as PyTorch

    @jit
    def relu_backward(g, x, args):
        return ZERO if x <= ZERO else g         # threshold_backward: NaN passes g

    family("relu", relu_forward, relu_backward, relu_backward)

    # leaky_relu (also prelu's per-channel slope and rrelu's eval slope) -------------------------
    @jit
    def leaky_relu_forward(x, args):
        slope, = args
        return x if x > ZERO else x * slope

    @jit
    def leaky_relu_backward(g, x, args):
        slope, = args
        return g if x > ZERO else g * slope

    family("leaky_relu", leaky_relu_forward, leaky_relu_backward, leaky_relu_backward)

    # elu family: elu (alpha, 1, 1), selu (alpha', scale, 1), celu (alpha, 1, 1/alpha) -----------
    @jit
    def elu_forward(x, args):
        alpha, scale, input_scale = args
        return x * scale if x > ZERO else (alpha * scale) * expm1(x * input_scale)

    @jit
    def elu_backward(g, x, args):
        alpha, scale, input_scale = args
        if x > ZERO:
            return g * scale
        return g * (input_scale * alpha * scale) * exp(x * input_scale)

    @jit
    def elu_backward_from_output(g, y, args):
        alpha, scale, input_scale = args
        if y > ZERO:
            return g * scale
        return g * input_scale * (y + alpha * scale)

    family("elu", elu_forward, elu_backward, elu_backward_from_output)

    # hardtanh (and relu6 = hardtanh(0, 6)) ------------------------------------------------------
    @jit
    def hardtanh_forward(x, args):
        lo, hi = args
        return lo if x < lo else (hi if x > hi else x)

    @jit
    def hardtanh_backward(g, x, args):
        lo, hi = args
        return g if (x > lo) & (x < hi) else ZERO

    family("hardtanh", hardtanh_forward, hardtanh_backward, hardtanh_backward)

    # threshold ----------------------------------------------------------------------------------
    @jit
    def threshold_forward(x, args):
        threshold, value = args
        return value if x <= threshold else x

    @jit
    def threshold_backward(g, x, args):
        threshold, value = args
        return ZERO if x <= threshold else g

    family("threshold", threshold_forward, threshold_backward)

    # sigmoid ------------------------------------------------------------------------------------
    @jit
    def sigmoid_forward(x, args):
        return sigmoid_parts(x)[0]

    @jit
    def sigmoid_backward(g, x, args):
        s, sm = sigmoid_parts(x)            # s * (1 - s) without cancellation
        return g * (s * sm)

    @jit
    def sigmoid_backward_from_output(g, y, args):
        return g * (y * (ONE - y))

    family("sigmoid", sigmoid_forward, sigmoid_backward, sigmoid_backward_from_output)

    # tanh ---------------------------------------------------------------------------------------
    @jit
    def tanh_forward(x, args):
        return tanh(x)

    @jit
    def tanh_backward(g, x, args):
        # 1 - tanh(x)**2 = 4e / (1 + e)**2 with e = exp(-2|x|): no cancellation for large |x|.
        e = exp_bounded(-TWO * abs(x))
        d = ONE + e
        return g * ((F(4.0) * e) / (d * d))

    @jit
    def tanh_backward_from_output(g, y, args):
        return g * ((ONE - y) * (ONE + y))

    family("tanh", tanh_forward, tanh_backward, tanh_backward_from_output)

    # logsigmoid ---------------------------------------------------------------------------------
    @jit
    def logsigmoid_forward(x, args):
        lo = x if x < ZERO else ZERO
        return lo - log1p_unit(exp_bounded(-abs(x)))

    @jit
    def logsigmoid_backward(g, x, args):
        return g * sigmoid_parts(x)[1]

    family("logsigmoid", logsigmoid_forward, logsigmoid_backward)

    # softplus -----------------------------------------------------------------------------------
    @jit
    def softplus_forward(x, args):
        beta, threshold = args
        z = x * beta
        pos = z if z > ZERO else ZERO
        soft = (pos + log1p_unit(exp_bounded(-abs(z)))) / beta
        return x if z > threshold else soft

    @jit
    def softplus_backward(g, x, args):
        beta, threshold = args
        z = x * beta
        return g if z > threshold else g * sigmoid_parts(z)[0]

    family("softplus", softplus_forward, softplus_backward)

    # softsign -----------------------------------------------------------------------------------
    @jit
    def softsign_forward(x, args):
        a = abs(x)
        y = x / (ONE + a)
        if a == INF:                         # inf / inf: return the limit
            return ONE if x > ZERO else -ONE
        return y

    @jit
    def softsign_backward(g, x, args):
        d = ONE / (ONE + abs(x))
        return g * (d * d)

    family("softsign", softsign_forward, softsign_backward)

    # gelu (erf form): x * Phi(x); Phi and phi from one exp and one division (normal_cdf_pdf),
    # Phi(x) relatively accurate in the left tail too ----------------------------------------------
    @jit
    def gelu_forward(x, args):
        cdf = normal_cdf_pdf(x)[0]
        # cdf is 0 below -GELU_XMAX: clamping x there gives the limit 0 at -inf (not -inf * 0)
        xc = NEG_GELU_XMAX if x < NEG_GELU_XMAX else x
        return xc * cdf

    @jit
    def gelu_backward(g, x, args):
        cdf, pdf = normal_cdf_pdf(x)
        # pdf is 0 beyond +-GELU_XMAX: x clamped there gives the limits (not inf * 0), keeps NaN
        xc = NEG_GELU_XMAX if x < NEG_GELU_XMAX else x
        xc = -NEG_GELU_XMAX if xc > -NEG_GELU_XMAX else xc
        return g * (cdf + xc * pdf)

    family("gelu", gelu_forward, gelu_backward)

    # gelu (tanh form): 0.5 x (1 + tanh(u)) = x * sigmoid(2u) (no cancellation as u -> -inf) -----
    @jit
    def gelu_tanh_forward(x, args):
        u = GELU_TANH_K0 * (x + GELU_TANH_K1 * (x * x * x))
        s = sigmoid_parts(TWO * u)[0]
        return ZERO if s == ZERO else x * s

    @jit
    def gelu_tanh_backward(g, x, args):
        x2 = x * x
        u = GELU_TANH_K0 * (x + GELU_TANH_K1 * (x2 * x))
        s, sm = sigmoid_parts(TWO * u)
        ss = s * sm
        du = GELU_TANH_K0 * (ONE + GELU_TANH_K1x3 * x2)
        tail = ZERO if ss == ZERO else x * ss * (TWO * du)
        return g * (s + tail)

    family("gelu_tanh", gelu_tanh_forward, gelu_tanh_backward)

    # silu ---------------------------------------------------------------------------------------
    @jit
    def silu_forward(x, args):
        s = sigmoid_parts(x)[0]
        # s is 0 below SILU_LO: clamping x there gives the limit 0 at -inf (not -inf * 0)
        xc = SILU_LO if x < SILU_LO else x
        return xc * s

    @jit
    def silu_backward(g, x, args):
        s, sm = sigmoid_parts(x)
        t = s * sm
        tail = ZERO if t == ZERO else x * t      # at +-inf: the limits 1 and 0, not inf * 0
        return g * (s + tail)

    family("silu", silu_forward, silu_backward)

    # mish: t = tanh(softplus(x)) = n / (n + 2), n = e (e + 2), e = exp(x) -----------------------
    @jit
    def mish_parts(x):
        xc = MISH_CLAMP if x > MISH_CLAMP else x
        e = exp_bounded(xc)
        n = e * (e + TWO)
        return e, n, n / (n + TWO)

    @jit
    def mish_forward(x, args):
        e, n, t = mish_parts(x)
        return ZERO if t == ZERO else x * t

    @jit
    def mish_backward(g, x, args):
        xc = MISH_CLAMP if x > MISH_CLAMP else x
        e = exp_bounded(xc)
        n = e * (e + TWO)
        # one division for both 1/(n + 2) and 1/(1 + e): r = 1/((n + 2)(1 + e))
        d2, e1 = n + TWO, ONE + e
        r = ONE / (d2 * e1)
        rn = e1 * r                          # 1/(n + 2)
        t = n * rn
        # 1 - t**2 = (1 - t)(1 + t) with 1 - t = 2 / (n + 2): accurate as t -> 1.
        sech2 = (TWO * rn) * (ONE + t)
        s = e * (d2 * r)                     # e/(1 + e)
        d = t + x * s * sech2
        if x > MISH_CLAMP:                   # the tail term is below F's resolution there
            d = ONE
        return ZERO if e == ZERO else g * d

    family("mish", mish_forward, mish_backward)

    # hardsigmoid / hardswish: PyTorch's forms, (x + 3) clipped to [0, 6], divided by 6 -----------
    # The divisions by 6 and 3 are div_const (a multiply and two FMAs, correctly rounded where the
    # quotient is normal): a vector division held float64 hardsigmoid_ at half the memory floor.
    @jit
    def hardsigmoid_forward(x, args):
        c = x + THREE
        c = ZERO if c < ZERO else (SIX if c > SIX else c)
        # c is +0, NaN or at least ulp(3): c/6 is normal, so div_const is exact
        return div_const(c, SIX, SIXTH)

    @jit
    def hardsigmoid_backward(g, x, args):
        return g * SIXTH_F32 if (x > NEG_THREE) & (x < THREE) else ZERO

    family("hardsigmoid", hardsigmoid_forward, hardsigmoid_backward)

    @jit
    def hardswish_forward(x, args):
        c = x + THREE
        if c <= ZERO:                        # also x = -inf, where x * 0 would be NaN
            return ZERO
        c = SIX if c > SIX else c
        t = x * c
        q = div_const(t, SIX, SIXTH)
        # t = +-inf (x * 6 overflowed) or NaN gives a NaN q: t/6 is t there; the sign of a zero
        # (x = -0) is t's
        return t if q != q else copysign(q, t)

    @jit
    def hardswish_backward(g, x, args):
        if x <= NEG_THREE:
            return ZERO
        # -3 < x < 3 where the product is used: x/3 normal or absorbed by + 0.5
        return g if x >= THREE else g * (div_const(x, THREE, THIRD) + HALF)

    family("hardswish", hardswish_forward, hardswish_backward)

    # hardshrink / softshrink --------------------------------------------------------------------
    @jit
    def hardshrink_forward(x, args):
        lambd, = args
        return ZERO if (x >= -lambd) & (x <= lambd) else x

    @jit
    def shrink_backward(g, x, args):
        lambd, = args
        return g if (x > lambd) | (x < -lambd) else ZERO

    family("hardshrink", hardshrink_forward, shrink_backward)

    @jit
    def softshrink_forward(x, args):
        lambd, = args
        # x * 0 keeps NaN in the middle branch, as PyTorch.
        return x - lambd if x > lambd else (x + lambd if x < -lambd else x * ZERO)

    family("softshrink", softshrink_forward, shrink_backward)

    # tanhshrink ---------------------------------------------------------------------------------
    @jit
    def tanhshrink_forward(x, args):
        s = x * x
        p = p_tanhshrink(s)
        small = x * s * p                    # x**3 * P(x**2) ~ x - tanh(x) near 0
        return small if abs(x) < TANHSHRINK_CUT else x - tanh(x)

    @jit
    def tanhshrink_backward(g, x, args):
        t = tanh(x)
        return g * (t * t)

    family("tanhshrink", tanhshrink_forward, tanhshrink_backward)

    return fams
