# cython: language_level=3, cdivision=True
"""Scalar math of every kernel family for Cython: forward and derivative, written once.

The twin of fastact/_numba/activations.py, transcribed formula for formula (the same selects,
comparisons, guards and accurate forms), so both backends give the same values.  Every function
is a fused-type ``cdef inline ... noexcept nogil`` function: it is instantiated for float and
double by the argument types, and inlines into the loops that call it (the loops in
``_kernels.pyx.tp`` vectorize with it).  For each family in ``fastact.spec.FAMILIES``:

* ``<family>_forward(x, *args)`` -> y
* ``<family>_backward(g, x, *args)`` -> g * dy/dx, a select where PyTorch selects (so an
  infinite or NaN g where the derivative is 0 gives 0, as in PyTorch)
* ``<family>_backward_from_output(g, y, *args)`` where the output determines the derivative.

Family arguments, in order: leaky_relu (negative_slope); elu (alpha, scale, input_scale) -- elu
is (alpha, 1, 1), selu (SELU_ALPHA, SELU_SCALE, 1), celu (alpha, 1, 1/alpha); hardtanh
(min_val, max_val) -- relu6 is (0, 6); threshold (threshold, value); softplus (beta, threshold);
hardshrink / softshrink (lambd).  gelu is the erf form, gelu_tanh the tanh approximation.

NaN handling follows PyTorch's vectorized CPU kernels: each formula is written with the comparison
of the spec table, and NaN fails every comparison.  At +-inf every function returns its
mathematical limit.

Use from your own Cython code (``fastact.get_include()`` gives the include path)::

    from fastact._cython.activations cimport gelu_forward, gelu_backward
    cdef double y = gelu_forward(x)           # double x: the double instance
"""
from libc.math cimport INFINITY, copysign, copysignf, fabs, fabsf
from cython cimport floating

from fastact._cython.mathfn cimport (exp, expm1, tanh, x_minus_tanh, exp_bounded, log1p_unit,
                                     normal_cdf_pdf, normal_cdf_zero_below, exp_zero_below, div_const,
                                     f32_bits, f32_from_bits, f64_bits, f64_from_bits)


# Constants: every one is cast to the argument's type, since a bare literal is a double and would
# promote float math to double (and halve the SIMD width).

cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _copysign(floating x, floating y) noexcept nogil:
    if floating is float:
        return copysignf(x, y)
    else:
        return copysign(x, y)


cdef inline floating _min_bits(floating c, floating hi) noexcept nogil:
    """min(c, hi) for a positive hi, as an integer min on the bits: positive floats order as their
    bits do, and negative c (or -NaN) has negative bits, so it stays; +NaN becomes hi.  (A float
    select lets gcc thread the clamped path: hardswish computed its division twice.)"""
    if floating is float:
        return f32_from_bits(min(f32_bits(c), f32_bits(hi)))
    else:
        return f64_from_bits(min(f64_bits(c), f64_bits(hi)))


# --- shared pieces ------------------------------------------------------------------------------

cdef inline floating sigmoid_parts(floating x, floating* sigmoid_neg) noexcept nogil:
    """sigmoid(x), and sigmoid(-x) in sigmoid_neg[0], without overflow: e = exp(-|x|) <= 1."""
    cdef floating e = exp_bounded(-_abs(x))
    cdef floating r = (<floating>1.0) / ((<floating>1.0) + e)
    cdef floating er = e * r
    cdef bint pos = x >= (<floating>0.0)
    sigmoid_neg[0] = er if pos else r
    return r if pos else er


# --- relu ---------------------------------------------------------------------------------------

cdef inline floating relu_forward(floating x) noexcept nogil:
    return (<floating>0.0) if x < (<floating>0.0) else x       # keeps NaN and -0.0, as PyTorch


cdef inline floating relu_backward(floating g, floating x) noexcept nogil:
    return (<floating>0.0) if x <= (<floating>0.0) else g      # threshold_backward: NaN passes g


cdef inline floating relu_backward_from_output(floating g, floating y) noexcept nogil:
    return (<floating>0.0) if y <= (<floating>0.0) else g


# --- leaky_relu (also prelu's per-channel slope and rrelu's eval slope) --------------------------

cdef inline floating leaky_relu_forward(floating x, floating negative_slope) noexcept nogil:
    return x if x > (<floating>0.0) else x * negative_slope


cdef inline floating leaky_relu_backward(floating g, floating x, floating negative_slope) noexcept nogil:
    return g if x > (<floating>0.0) else g * negative_slope


cdef inline floating leaky_relu_backward_from_output(floating g, floating y, floating negative_slope) noexcept nogil:
    return g if y > (<floating>0.0) else g * negative_slope


# --- elu family: elu (alpha, 1, 1), selu (alpha', scale, 1), celu (alpha, 1, 1/alpha) ----------

cdef inline floating elu_forward(floating x, floating alpha, floating scale, floating input_scale) noexcept nogil:
    return x * scale if x > (<floating>0.0) else (alpha * scale) * expm1(x * input_scale)


cdef inline floating elu_backward(floating g, floating x, floating alpha, floating scale, floating input_scale) noexcept nogil:
    return g * scale if x > (<floating>0.0) else g * (input_scale * alpha * scale) * exp(x * input_scale)


cdef inline floating elu_backward_from_output(floating g, floating y, floating alpha, floating scale, floating input_scale) noexcept nogil:
    return g * scale if y > (<floating>0.0) else g * input_scale * (y + alpha * scale)


# --- hardtanh (and relu6 = hardtanh(0, 6)) -------------------------------------------------------

cdef inline floating hardtanh_forward(floating x, floating min_val, floating max_val) noexcept nogil:
    return min_val if x < min_val else (max_val if x > max_val else x)


cdef inline floating hardtanh_backward(floating g, floating x, floating min_val, floating max_val) noexcept nogil:
    return g if (x > min_val) & (x < max_val) else (<floating>0.0)


cdef inline floating hardtanh_backward_from_output(floating g, floating y, floating min_val, floating max_val) noexcept nogil:
    return g if (y > min_val) & (y < max_val) else (<floating>0.0)


# --- threshold -----------------------------------------------------------------------------------

cdef inline floating threshold_forward(floating x, floating threshold, floating value) noexcept nogil:
    return value if x <= threshold else x


cdef inline floating threshold_backward(floating g, floating x, floating threshold, floating value) noexcept nogil:
    return (<floating>0.0) if x <= threshold else g


# --- sigmoid -------------------------------------------------------------------------------------

cdef inline floating sigmoid_forward(floating x) noexcept nogil:
    cdef floating sm = 0
    return sigmoid_parts(x, &sm)


cdef inline floating sigmoid_backward(floating g, floating x) noexcept nogil:
    cdef floating sm = 0
    cdef floating s = sigmoid_parts(x, &sm)                  # s * (1 - s) without cancellation
    return g * (s * sm)


cdef inline floating sigmoid_backward_from_output(floating g, floating y) noexcept nogil:
    return g * (y * ((<floating>1.0) - y))


# --- tanh ----------------------------------------------------------------------------------------

cdef inline floating tanh_forward(floating x) noexcept nogil:
    return tanh(x)


cdef inline floating tanh_backward(floating g, floating x) noexcept nogil:
    # 1 - tanh(x)**2 = 4e / (1 + e)**2 with e = exp(-2|x|): no cancellation for large |x|.
    cdef floating e = exp_bounded(-(<floating>2.0) * _abs(x))
    cdef floating d = (<floating>1.0) + e
    return g * (((<floating>4.0) * e) / (d * d))


cdef inline floating tanh_backward_from_output(floating g, floating y) noexcept nogil:
    return g * (((<floating>1.0) - y) * ((<floating>1.0) + y))


# --- logsigmoid ----------------------------------------------------------------------------------

cdef inline floating logsigmoid_forward(floating x) noexcept nogil:
    cdef floating lo = x if x < (<floating>0.0) else (<floating>0.0)
    return lo - log1p_unit(exp_bounded(-_abs(x)))


cdef inline floating logsigmoid_backward(floating g, floating x) noexcept nogil:
    cdef floating sm = 0
    sigmoid_parts(x, &sm)
    return g * sm


# --- softplus ------------------------------------------------------------------------------------

cdef inline floating softplus_forward(floating x, floating beta, floating threshold) noexcept nogil:
    cdef floating z = x * beta
    cdef floating pos = z if z > (<floating>0.0) else (<floating>0.0)
    cdef floating soft = (pos + log1p_unit(exp_bounded(-_abs(z)))) / beta
    return x if z > threshold else soft


cdef inline floating softplus_backward(floating g, floating x, floating beta, floating threshold) noexcept nogil:
    cdef floating sm = 0
    cdef floating z = x * beta
    cdef floating s = sigmoid_parts(z, &sm)
    return g if z > threshold else g * s


# --- softsign ------------------------------------------------------------------------------------

cdef inline floating softsign_forward(floating x) noexcept nogil:
    cdef floating a = _abs(x)
    cdef floating y = x / ((<floating>1.0) + a)
    if a == <floating>INFINITY:                              # inf / inf: return the limit
        return (<floating>1.0) if x > (<floating>0.0) else (<floating>-1.0)
    return y


cdef inline floating softsign_backward(floating g, floating x) noexcept nogil:
    cdef floating d = (<floating>1.0) / ((<floating>1.0) + _abs(x))
    return g * (d * d)


# --- gelu (erf form): x * Phi(x); Phi and phi from one exp and one division (normal_cdf_pdf),
# --- Phi(x) relatively accurate in the left tail too ----------------------------------------------

cdef inline floating gelu_forward(floating x) noexcept nogil:
    cdef floating pdf = 0
    cdef floating cdf = normal_cdf_pdf(x, &pdf)
    # cdf is 0 below -GELU_XMAX: clamping x there gives the limit 0 at -inf (not -inf * 0)
    cdef floating lo = normal_cdf_zero_below(x)
    return (lo if x < lo else x) * cdf


cdef inline floating gelu_backward(floating g, floating x) noexcept nogil:
    cdef floating pdf = 0
    cdef floating cdf = normal_cdf_pdf(x, &pdf)
    # pdf is 0 beyond +-GELU_XMAX: x clamped there gives the limits (not inf * 0) and keeps NaN
    cdef floating lo = normal_cdf_zero_below(x)
    cdef floating xc = lo if x < lo else x
    xc = -lo if xc > -lo else xc
    return g * (cdf + xc * pdf)


# --- gelu (tanh form): 0.5 x (1 + tanh(u)) = x * sigmoid(2u) (no cancellation as u -> -inf) ------
# sqrt(2/pi) = 0.7978845608028654, 0.044715 and 3 * 0.044715 = 0.134145 (as fastact/_numba);
# 1/sqrt(2) = 0.7071067811865475 and 1/sqrt(2 pi) = 0.3989422804014327 above: the same doubles.

cdef inline floating gelu_tanh_forward(floating x) noexcept nogil:
    cdef floating sm = 0
    cdef floating u = (<floating>0.7978845608028654) * (x + (<floating>0.044715) * (x * x * x))
    cdef floating s = sigmoid_parts((<floating>2.0) * u, &sm)
    return (<floating>0.0) if s == (<floating>0.0) else x * s


cdef inline floating gelu_tanh_backward(floating g, floating x) noexcept nogil:
    cdef floating sm = 0
    cdef floating x2 = x * x
    cdef floating u = (<floating>0.7978845608028654) * (x + (<floating>0.044715) * (x2 * x))
    cdef floating s = sigmoid_parts((<floating>2.0) * u, &sm)
    cdef floating ss = s * sm
    cdef floating du = (<floating>0.7978845608028654) * ((<floating>1.0) + (<floating>0.134145) * x2)
    cdef floating tail = (<floating>0.0) if ss == (<floating>0.0) else x * ss * ((<floating>2.0) * du)
    return g * (s + tail)


# --- silu ----------------------------------------------------------------------------------------

cdef inline floating silu_forward(floating x) noexcept nogil:
    cdef floating sm = 0
    cdef floating s = sigmoid_parts(x, &sm)
    # s is 0 below EXP_LO: clamping x there gives the limit 0 at -inf (not -inf * 0)
    cdef floating lo = exp_zero_below(x)
    return (lo if x < lo else x) * s


cdef inline floating silu_backward(floating g, floating x) noexcept nogil:
    cdef floating sm = 0
    cdef floating s = sigmoid_parts(x, &sm)
    cdef floating t = s * sm
    cdef floating tail = (<floating>0.0) if t == (<floating>0.0) else x * t   # at +-inf: the limits 1 and 0, not inf * 0
    return g * (s + tail)


# --- mish: t = tanh(softplus(x)) = n / (n + 2), n = e (e + 2), e = exp(x) ------------------------

cdef inline floating _mish_clamp(floating x) noexcept nogil:
    """Above this, tanh(softplus(x)) == 1 in the type (and exp(2x) would overflow further on)."""
    if floating is float:
        return <float>20.0
    else:
        return <double>40.0


cdef inline floating mish_parts(floating x, floating* e, floating* n) noexcept nogil:
    cdef floating clamp = _mish_clamp(x)
    cdef floating xc = clamp if x > clamp else x
    e[0] = exp_bounded(xc)
    n[0] = e[0] * (e[0] + (<floating>2.0))
    return n[0] / (n[0] + (<floating>2.0))


cdef inline floating mish_forward(floating x) noexcept nogil:
    cdef floating e = 0, n = 0
    cdef floating t = mish_parts(x, &e, &n)
    return (<floating>0.0) if t == (<floating>0.0) else x * t


cdef inline floating mish_backward(floating g, floating x) noexcept nogil:
    cdef floating clamp = _mish_clamp(x)
    cdef floating xc = clamp if x > clamp else x
    cdef floating e = exp_bounded(xc)
    cdef floating n = e * (e + (<floating>2.0))
    # one division for both 1/(n + 2) and 1/(1 + e): r = 1/((n + 2)(1 + e))
    cdef floating d2 = n + (<floating>2.0)
    cdef floating e1 = (<floating>1.0) + e
    cdef floating r = (<floating>1.0) / (d2 * e1)
    cdef floating rn = e1 * r                                    # 1/(n + 2)
    cdef floating t = n * rn
    # 1 - t**2 = (1 - t)(1 + t) with 1 - t = 2 / (n + 2): accurate as t -> 1.
    cdef floating sech2 = ((<floating>2.0) * rn) * ((<floating>1.0) + t)
    cdef floating s = e * (d2 * r)                               # e/(1 + e)
    cdef floating d = t + x * s * sech2
    d = (<floating>1.0) if x > _mish_clamp(x) else d           # the tail term is below resolution there
    return (<floating>0.0) if e == (<floating>0.0) else g * d


# --- hardsigmoid / hardswish: PyTorch's forms, (x + 3) clipped to [0, 6], divided by 6 ----------
# The divisions by 6 and 3 are div_const (a multiply and two FMAs, correctly rounded where the
# quotient is normal): a vector division held float64 hardsigmoid_ at half the memory floor.

cdef inline floating hardsigmoid_forward(floating x) noexcept nogil:
    cdef floating c = x + (<floating>3.0)
    c = (<floating>0.0) if c < (<floating>0.0) else ((<floating>6.0) if c > (<floating>6.0) else c)
    # c is +0, NaN or at least ulp(3): c/6 is normal, so div_const is exact
    return div_const(c, <floating>6.0, <floating>(1.0 / 6.0))


cdef inline floating hardsigmoid_backward(floating g, floating x) noexcept nogil:
    # PyTorch multiplies by 1/6 rounded to float32, in every dtype.
    return g * (<floating>(<float>(1.0 / 6.0))) if (x > (<floating>-3.0)) & (x < (<floating>3.0)) else (<floating>0.0)


cdef inline floating hardswish_forward(floating x) noexcept nogil:
    cdef floating c = _min_bits(x + (<floating>3.0), <floating>6.0)
    cdef floating t = x * c                 # NaN x: NaN (c = 6 when x + 3 is +NaN)
    cdef floating q = div_const(t, <floating>6.0, <floating>(1.0 / 6.0))
    # t = +-inf (x * 6 overflowed) or NaN gives a NaN q: t/6 is t there; the sign of a zero
    # (x = -0) is t's
    q = t if q != q else _copysign(q, t)
    # c <= 0 also catches x = -inf, where x * 0 would be NaN
    return (<floating>0.0) if c <= (<floating>0.0) else q


cdef inline floating hardswish_backward(floating g, floating x) noexcept nogil:
    if x <= (<floating>-3.0):
        return <floating>0.0
    # -3 < x < 3 where the product is used: x/3 normal or absorbed by + 0.5
    return g if x >= (<floating>3.0) else g * (div_const(x, <floating>3.0, <floating>(1.0 / 3.0)) + (<floating>0.5))


# --- hardshrink / softshrink ---------------------------------------------------------------------

cdef inline floating hardshrink_forward(floating x, floating lambd) noexcept nogil:
    return (<floating>0.0) if (x >= -lambd) & (x <= lambd) else x


cdef inline floating hardshrink_backward(floating g, floating x, floating lambd) noexcept nogil:
    return g if (x > lambd) | (x < -lambd) else (<floating>0.0)


cdef inline floating softshrink_forward(floating x, floating lambd) noexcept nogil:
    # x * 0 keeps NaN in the middle branch, as PyTorch.
    return x - lambd if x > lambd else (x + lambd if x < -lambd else x * (<floating>0.0))


cdef inline floating softshrink_backward(floating g, floating x, floating lambd) noexcept nogil:
    return g if (x > lambd) | (x < -lambd) else (<floating>0.0)


# --- tanhshrink ----------------------------------------------------------------------------------

cdef inline floating tanhshrink_forward(floating x) noexcept nogil:
    return x_minus_tanh(x)                 # x**3 P(x**2) near 0, where x - tanh(x) cancels


cdef inline floating tanhshrink_backward(floating g, floating x) noexcept nogil:
    cdef floating t = tanh(x)
    return g * (t * t)
