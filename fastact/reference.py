"""Pure-NumPy forward and backward of every activation in `fastact.spec`.

This module has three roles:

1. **The truth** the kernel tests compare against: PyTorch's semantics (kinks, NaN, signed zeros)
   with the mathematical limits at +-inf, and float64 values accurate to a few ulp (expm1/log1p,
   exp(-|x|) forms of the sigmoid, an erfc tail for gelu, a series for tanhshrink). Where PyTorch's
   own float64 arithmetic cancels (y (1 - y) for sigmoid', 1 - y^2 for tanh', 1 + erf and 1 + tanh
   in gelu, x - tanh x), the values here are the accurate ones, not PyTorch's.
2. **The NumPy baseline** of the benchmarks: ufuncs writing into `out=`, few temporaries, no Python
   loop over elements -- what a careful NumPy programmer writes. Piecewise functions are
   np.maximum / np.clip / products with 0-1 masks rather than np.where or masked assignment, which
   NumPy runs several times slower on mixed-sign data (branch mispredictions).
3. **The "numpy" backend**, the fallback the dispatcher uses when no compiled backend is there.

Conventions, shared by every function:

* ``act(x, *params, out=None)`` returns `out` (a new array when None); ``act_backward(grad, x,
  *params, out=None)`` returns grad * dy/dx; ``act_backward_from_output(grad, y, ...)`` takes the
  forward output instead of x (only where the spec allows it).
* float32 and float64 are computed in their own precision (parameters arrive as Python floats, which
  NumPy treats as weak scalars), except gelu's erf form, which is evaluated in float64 and rounded.
* In place works: `out` may be `x` (forward) or `grad` (backward), so every function reads all it
  needs from its inputs before it writes `out`.
* No RuntimeWarning for any x, +-inf and NaN included: formulations that cannot overflow, and clamps
  where the value is already decided (exp(-800) is 0 in every float type).
* A backward multiplies grad by dy/dx, so where dy/dx = 0 an infinite grad gives NaN (PyTorch's
  threshold-style kernels select 0 there); finite grads give PyTorch's values.
"""
from __future__ import annotations

import contextlib
import functools
import math
from fractions import Fraction

import numpy as np

from .spec import SELU_ALPHA, SELU_SCALE

# --- helpers -------------------------------------------------------------------------------------


def _out(x, out):
    return np.empty_like(x) if out is None else out


def _overflow_allowed(factor):
    """np.errstate(over="ignore") when multiplying by `factor` can overflow a finite x (|factor| > 1):
    the inf is then the true result, or lands in a branch whose answer it is (exp(-inf) = 0 ...)."""
    big = np.max(np.abs(factor)) > 1.0 if isinstance(factor, np.ndarray) else abs(factor) > 1.0
    return np.errstate(over="ignore") if big else contextlib.nullcontext()


def _times(x, factor):
    """x * factor as a new array, an overflow to inf allowed (see `_overflow_allowed`)."""
    with _overflow_allowed(factor):
        return np.multiply(x, factor)


def _negative_zeros(x):
    """Mask of the -0.0 entries of x, or None when x holds no zero (the usual case).

    np.maximum, np.minimum and np.clip may return either zero when they compare -0.0 with 0.0 (the
    SIMD and scalar loops differ), so the functions built on them put back PyTorch's signed zero."""
    zeros = np.equal(x, 0)
    if not zeros.any():
        return None
    return np.logical_and(zeros, np.signbit(x), out=zeros)


def _put(out, mask, value):
    """out[mask] = value for a sparse mask from `_negative_zeros` (None: nothing to do)."""
    if mask is not None:
        np.copyto(out, value, where=mask)
    return out


def _exp_neg_abs(z):
    """exp(-|z|) as a new array: at most 1, so nothing built from it overflows."""
    e = np.abs(z)
    np.negative(e, out=e)
    return np.exp(e, out=e)


def _sigmoid(z, out, negate=False):
    """out = sigmoid(z) (sigmoid(-z) when `negate`) = num / (1 + e) with e = exp(-|z|) <= 1 and
    num = 1 on the side where sigmoid >= 1/2, e on the other: nothing overflows and the small side
    keeps its digits. `out` may be `z`."""
    e = _exp_neg_abs(z)
    one = np.less_equal(z, 0) if negate else np.greater_equal(z, 0)    # before out (maybe z) is written
    np.add(e, 1.0, out=out)
    e *= np.logical_not(one)                            # NaN: not one, so e, which is NaN
    e += one
    return np.divide(e, out, out=out)


def _sigmoid_slope(z, out):
    """out = sigmoid(z) * sigmoid(-z) = e / (1 + e)**2, e = exp(-|z|): no 1 - s cancellation."""
    e = _exp_neg_abs(z)
    np.add(e, 1.0, out=out)
    np.square(out, out=out)
    return np.divide(e, out, out=out)


def _sigmoid_and_slope(z):
    """(sigmoid(z), sigmoid(z) * sigmoid(-z)) as new arrays, from one exp."""
    e = _exp_neg_abs(z)
    one = np.greater_equal(z, 0)
    d = e + 1.0
    s = np.multiply(e, np.logical_not(one))            # the numerator, as in _sigmoid
    s += one
    s /= d
    np.square(d, out=d)
    return s, np.divide(e, d, out=e)


def _times_mask(grad, keep, out, scale=None):
    """out = grad * keep (* scale): the backward of a function whose slope is 0 or `scale`."""
    np.multiply(grad, keep, out=out)
    if scale is not None:
        out *= scale
    return out


# --- relu, leaky_relu, prelu, rrelu ---------------------------------------------------------------


def relu(x, out=None):
    """max(x, 0); NaN stays NaN and relu(-0.0) = -0.0, as PyTorch."""
    out = _out(x, out)
    negative_zeros = _negative_zeros(x)
    np.maximum(x, 0.0, out=out)
    return _put(out, negative_zeros, -0.0)


def relu_backward(grad, x, out=None):
    """grad * (not x <= 0): a NaN x passes grad, as PyTorch."""
    return threshold_backward(grad, x, 0.0, 0.0, out=out)


def relu_backward_from_output(grad, y, out=None):
    """The same test on y: y <= 0 exactly where x <= 0."""
    return threshold_backward(grad, y, 0.0, 0.0, out=out)


def _slope_factor(x, slope):
    """1 where x > 0, else `slope` (also at NaN), exactly: (not x > 0) * slope + (x > 0)."""
    positive = np.greater(x, 0)
    factor = np.multiply(np.logical_not(positive), slope, dtype=x.dtype)
    factor += positive
    return factor


def _leaky(x, slope, out):
    """x > 0 ? x : slope * x; `slope` a scalar or an array broadcasting against x."""
    out = _out(x, out)
    if not isinstance(slope, np.ndarray) and 0.0 < slope <= 1.0:
        # the usual case: max(x, slope * x) picks the branch and returns it exactly
        return np.maximum(x, np.multiply(x, slope), out=out)
    factor = _slope_factor(x, slope)
    # slope 0: -inf * 0 is NaN here as in PyTorch; slope > 1: a true overflow
    with np.errstate(invalid="ignore"), _overflow_allowed(slope):
        return np.multiply(x, factor, out=out)


def _leaky_backward(grad, x, slope, out):
    """grad * (x > 0 ? 1 : slope); a NaN x takes the slope, as PyTorch."""
    factor = _slope_factor(x, slope)
    with _overflow_allowed(slope):
        return np.multiply(grad, factor, out=_out(grad, out))


def leaky_relu(x, negative_slope=0.01, out=None):
    """x > 0 ? x : negative_slope * x."""
    return _leaky(x, negative_slope, out)


def leaky_relu_backward(grad, x, negative_slope=0.01, out=None):
    """grad * (x > 0 ? 1 : negative_slope)."""
    return _leaky_backward(grad, x, negative_slope, out)


def leaky_relu_backward_from_output(grad, y, negative_slope=0.01, out=None):
    """With negative_slope >= 0, y > 0 exactly where x > 0."""
    return _leaky_backward(grad, y, negative_slope, out)


def _prelu_slope(x, weight, axis):
    """weight shaped to broadcast against x along `axis` (a 0-d array for a single slope)."""
    weight = np.asarray(weight)
    if weight.size == 1 or x.ndim == 0:
        return weight.reshape(())
    shape = [1] * x.ndim
    shape[axis % x.ndim] = weight.size
    return weight.reshape(shape)


def prelu(x, weight, axis=1, out=None):
    """x > 0 ? x : w[c] * x, c = the index along `axis`."""
    return _leaky(x, _prelu_slope(x, weight, axis), out)


def prelu_backward(grad, x, weight, axis=1, out=None):
    """(grad_x, grad_weight): grad_x = grad * (x > 0 ? 1 : w[c]); grad_weight[c] = the sum over
    channel c of (x > 0 ? 0 : x * grad), accumulated in float64. As in PyTorch, a NaN x is not
    x > 0, so it reaches its channel's sum."""
    weight = np.asarray(weight)
    slope = _prelu_slope(x, weight, axis)
    contrib = np.minimum(x, 0.0, dtype=np.float64)      # read before out is written: out may be grad
    with np.errstate(over="ignore"):                    # a float64 x * grad may overflow: the sum is inf
        contrib *= grad
    if slope.ndim == 0:
        grad_weight = np.sum(contrib)
    else:
        others = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        grad_weight = np.sum(contrib, axis=others)
    grad_x = _leaky_backward(grad, x, slope, out)
    return grad_x, np.reshape(grad_weight, weight.shape).astype(weight.dtype)


def rrelu_draw_noise(x, lower, upper, rng, noise):
    """Fill `noise` (x's shape and dtype) with 1 where x > 0 and a ~ U(lower, upper) elsewhere,
    drawn in x's dtype from `rng`, so a seeded Generator reproduces the slopes. One draw per
    element, whatever x holds."""
    if noise.flags.c_contiguous:
        rng.random(out=noise.reshape(-1), dtype=noise.dtype)
    else:                                               # Generator.random fills only C-contiguous
        np.copyto(noise, rng.random(noise.shape, dtype=noise.dtype))
    noise *= upper - lower
    noise += lower
    positive = np.greater(x, 0)
    noise *= np.logical_not(positive)
    noise += positive
    return noise


def rrelu(x, lower=1.0 / 8.0, upper=1.0 / 3.0, training=False, rng=None, noise=None, out=None):
    """Eval: leaky_relu with slope (lower + upper) / 2. Training: x * noise, with the slopes drawn
    into `noise` by `rrelu_draw_noise` (allocated here when None)."""
    if not training:
        return _leaky(x, (lower + upper) / 2.0, out)
    out = _out(x, out)
    if noise is None:
        noise = np.empty_like(x)
    rrelu_draw_noise(x, lower, upper, np.random.default_rng() if rng is None else rng, noise)
    return np.multiply(x, noise, out=out)


def rrelu_backward(grad, x, lower=1.0 / 8.0, upper=1.0 / 3.0, training=False, noise=None, out=None):
    """Eval: the leaky backward with the mean slope. Training: grad * noise."""
    if not training:
        return _leaky_backward(grad, x, (lower + upper) / 2.0, out)
    if noise is None:
        raise ValueError("rrelu_backward: training=True needs the `noise` array filled by the forward")
    return np.multiply(grad, noise, out=_out(grad, out))


# --- the elu family: elu, selu, celu --------------------------------------------------------------


def _elu(x, alpha, scale, input_scale, out):
    """x > 0 ? scale * x : scale * alpha * expm1(input_scale * x) (PyTorch's elu kernel), as
    scale * max(x, 0) + scale * alpha * expm1(input_scale * min(x, 0)): one side is 0."""
    out = _out(x, out)
    negative_zeros = _negative_zeros(x)
    # overflow is true overflow here: x * scale for a huge x, and with input_scale < 0 (celu with
    # alpha < 0) expm1 of a large argument; inf is the answer
    with np.errstate(over="ignore"):
        t = np.minimum(x, 0.0)
        if input_scale != 1.0:
            t *= input_scale
        np.expm1(t, out=t)
        t *= alpha * scale
        np.maximum(x, 0.0, out=out)
        if scale != 1.0:
            out *= scale
    out += t
    return _put(out, negative_zeros, math.expm1(-0.0 * input_scale) * (alpha * scale))


def _elu_backward(grad, x, alpha, scale, input_scale, out):
    """grad * (x > 0 ? scale : scale * alpha * input_scale * exp(input_scale * x)); NaN gives NaN."""
    positive = np.greater(x, 0)
    with np.errstate(over="ignore"):                    # as in _elu
        d = np.minimum(x, 0.0)                          # keeps exp off the positive side
        if input_scale != 1.0:
            d *= input_scale
        np.exp(d, out=d)
        d *= alpha * scale * input_scale
        d *= np.logical_not(positive)                   # NaN: not positive, so NaN
        d += positive if scale == 1.0 else np.multiply(positive, scale, dtype=d.dtype)
        return np.multiply(grad, d, out=_out(grad, out))


def _elu_backward_from_output(grad, y, alpha, scale, input_scale, out):
    """From y (alpha >= 0): y > 0 ? scale : input_scale * (y + scale * alpha)."""
    positive = np.greater(y, 0)
    d = np.minimum(y, 0.0)                              # keeps y = inf from making inf * 0
    d += alpha * scale
    d *= input_scale
    d *= np.logical_not(positive)
    d += positive if scale == 1.0 else np.multiply(positive, scale, dtype=d.dtype)
    with _overflow_allowed(scale):
        return np.multiply(grad, d, out=_out(grad, out))


def elu(x, alpha=1.0, out=None):
    """x > 0 ? x : alpha * expm1(x)."""
    return _elu(x, alpha, 1.0, 1.0, out)


def elu_backward(grad, x, alpha=1.0, out=None):
    """grad * (x > 0 ? 1 : alpha * exp(x))."""
    return _elu_backward(grad, x, alpha, 1.0, 1.0, out)


def elu_backward_from_output(grad, y, alpha=1.0, out=None):
    """grad * (y > 0 ? 1 : y + alpha)."""
    return _elu_backward_from_output(grad, y, alpha, 1.0, 1.0, out)


def selu(x, out=None):
    """scale * elu(x, alpha) with PyTorch's constants."""
    return _elu(x, SELU_ALPHA, SELU_SCALE, 1.0, out)


def selu_backward(grad, x, out=None):
    """grad * (x > 0 ? scale : scale * alpha * exp(x))."""
    return _elu_backward(grad, x, SELU_ALPHA, SELU_SCALE, 1.0, out)


def selu_backward_from_output(grad, y, out=None):
    """grad * (y > 0 ? scale : y + scale * alpha)."""
    return _elu_backward_from_output(grad, y, SELU_ALPHA, SELU_SCALE, 1.0, out)


def celu(x, alpha=1.0, out=None):
    """max(0, x) + min(0, alpha * expm1(x / alpha)): elu with input_scale 1/alpha."""
    return _elu(x, alpha, 1.0, 1.0 / alpha, out)


def celu_backward(grad, x, alpha=1.0, out=None):
    """grad * (x > 0 ? 1 : exp(x / alpha))."""
    return _elu_backward(grad, x, alpha, 1.0, 1.0 / alpha, out)


def celu_backward_from_output(grad, y, alpha=1.0, out=None):
    """grad * (y > 0 ? 1 : y / alpha + 1)."""
    return _elu_backward_from_output(grad, y, alpha, 1.0, 1.0 / alpha, out)


# --- hardtanh, relu6, threshold, shrinks ----------------------------------------------------------


def hardtanh(x, min_val=-1.0, max_val=1.0, out=None):
    """clip(x, min_val, max_val); NaN stays NaN and -0.0 stays -0.0 inside, as torch.clamp."""
    out = _out(x, out)
    negative_zeros = _negative_zeros(x) if 0.0 in (min_val, max_val) else None
    np.clip(x, min_val, max_val, out=out)
    return _put(out, negative_zeros, min_val if 0.0 < min_val else max_val if max_val < 0.0 else -0.0)


def _inside(x, low, high):
    """Mask of low < x < high; False at NaN."""
    inside = np.greater(x, low)
    inside &= np.less(x, high)
    return inside


def hardtanh_backward(grad, x, min_val=-1.0, max_val=1.0, out=None):
    """grad * (min_val < x < max_val); 0 at NaN, as PyTorch 2.x."""
    return _times_mask(grad, _inside(x, min_val, max_val), _out(grad, out))


def hardtanh_backward_from_output(grad, y, min_val=-1.0, max_val=1.0, out=None):
    """The same test on y = clip(x): min_val < y < max_val exactly where min_val < x < max_val."""
    return hardtanh_backward(grad, y, min_val, max_val, out=out)


def relu6(x, out=None):
    """hardtanh(x, 0, 6)."""
    return hardtanh(x, 0.0, 6.0, out=out)


def relu6_backward(grad, x, out=None):
    """grad * (0 < x < 6)."""
    return hardtanh_backward(grad, x, 0.0, 6.0, out=out)


def relu6_backward_from_output(grad, y, out=None):
    """grad * (0 < y < 6)."""
    return hardtanh_backward(grad, y, 0.0, 6.0, out=out)


def threshold(x, threshold, value, out=None):
    """x <= threshold ? value : x (so NaN stays NaN). A true selection: no ufunc does it."""
    out = _out(x, out)
    replace = np.less_equal(x, threshold)
    np.copyto(out, x)
    np.copyto(out, value, where=replace)
    return out


def threshold_backward(grad, x, threshold, value, out=None):
    """grad * (not x <= threshold): a NaN x passes grad, as PyTorch."""
    keep = np.less_equal(x, threshold)
    np.logical_not(keep, out=keep)
    return _times_mask(grad, keep, _out(grad, out))


def hardshrink(x, lambd=0.5, out=None):
    """x * (|x| > lambd), plus 0.0 so the band gives +0.0 as PyTorch; NaN stays NaN."""
    keep = np.abs(x)
    keep = np.greater(keep, lambd)
    out = np.multiply(x, keep, out=_out(x, out))
    out += 0.0
    return out


def _shrink_backward(grad, x, lambd, out):
    """grad * (|x| > lambd); 0 at NaN, as PyTorch 2.x."""
    keep = np.abs(x)
    keep = np.greater(keep, lambd)
    return _times_mask(grad, keep, _out(grad, out))


def hardshrink_backward(grad, x, lambd=0.5, out=None):
    """grad * (|x| > lambd)."""
    return _shrink_backward(grad, x, lambd, out)


def softshrink(x, lambd=0.5, out=None):
    """x - clip(x, -lambd, lambd): x - lambd above, x + lambd below, +0.0 in the band, NaN stays."""
    clipped = np.clip(x, -lambd, lambd)
    out = np.subtract(x, clipped, out=_out(x, out))
    if lambd == 0.0:                                    # clip(-0.0, -0.0, 0.0) may give either zero
        out += 0.0
    return out


def softshrink_backward(grad, x, lambd=0.5, out=None):
    """grad * (|x| > lambd)."""
    return _shrink_backward(grad, x, lambd, out)


# --- sigmoid, tanh, logsigmoid, softplus, softsign ------------------------------------------------


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)), via exp(-|x|)."""
    return _sigmoid(x, _out(x, out))


def sigmoid_backward(grad, x, out=None):
    """grad * sigmoid(x) * sigmoid(-x) = grad * e / (1 + e)**2, e = exp(-|x|): accurate in the tails,
    where y * (1 - y) loses the digits of 1 - y."""
    d = _sigmoid_slope(x, np.empty_like(x))
    return np.multiply(grad, d, out=_out(grad, out))


def sigmoid_backward_from_output(grad, y, out=None):
    """grad * y * (1 - y)."""
    d = np.subtract(1.0, y)
    d *= y
    return np.multiply(grad, d, out=_out(grad, out))


def tanh(x, out=None):
    """tanh(x)."""
    return np.tanh(x, out=_out(x, out))


def tanh_backward(grad, x, out=None):
    """grad * (1 - tanh(x)**2) = grad * 4 e / (1 + e)**2, e = exp(-2|x|): accurate where 1 - y**2
    cancels."""
    d = _times(x, 2.0)
    _sigmoid_slope(d, d)
    d *= 4.0
    return np.multiply(grad, d, out=_out(grad, out))


def tanh_backward_from_output(grad, y, out=None):
    """grad * (1 - y) * (1 + y): exact differences where 1 - y * y would round."""
    d = np.subtract(1.0, y)
    d *= np.add(y, 1.0)
    return np.multiply(grad, d, out=_out(grad, out))


def logsigmoid(x, out=None):
    """min(x, 0) - log1p(exp(-|x|))."""
    out = _out(x, out)
    t = _exp_neg_abs(x)
    np.log1p(t, out=t)
    np.minimum(x, 0.0, out=out)
    return np.subtract(out, t, out=out)


def logsigmoid_backward(grad, x, out=None):
    """grad * sigmoid(-x)."""
    d = _sigmoid(x, np.empty_like(x), negate=True)
    return np.multiply(grad, d, out=_out(grad, out))


def softplus(x, beta=1.0, threshold=20.0, out=None):
    """beta * x > threshold ? x : (max(z, 0) + log1p(exp(-|z|))) / beta, z = beta * x."""
    z = _times(x, beta)
    linear = np.greater(z, threshold)
    t = _exp_neg_abs(z)
    np.log1p(t, out=t)
    np.maximum(z, 0.0, out=z)
    z += t
    if beta != 1.0:
        z /= beta
    np.copyto(z, x, where=linear)                       # a selection, but a rare one (x > 20)
    out = _out(x, out)
    np.copyto(out, z)
    return out


def softplus_backward(grad, x, beta=1.0, threshold=20.0, out=None):
    """grad * (beta * x > threshold ? 1 : sigmoid(beta * x))."""
    z = _times(x, beta)
    linear = np.greater(z, threshold)
    _sigmoid(z, z)
    np.copyto(z, 1.0, where=linear)
    return np.multiply(grad, z, out=_out(grad, out))


# softsign(x) rounds to +-1 for |x| > 2**53; clamping there keeps inf / inf out (the limit is +-1).
_SOFTSIGN_CLAMP = 1e30


def softsign(x, out=None):
    """x / (1 + |x|); +-1 at +-inf."""
    out = _out(x, out)
    np.clip(x, -_SOFTSIGN_CLAMP, _SOFTSIGN_CLAMP, out=out)
    d = np.abs(out)
    d += 1.0
    return np.divide(out, d, out=out)


def softsign_backward(grad, x, out=None):
    """grad / (1 + |x|)**2, as (1 / (1 + |x|))**2 so a huge |x| underflows instead of overflowing."""
    d = np.abs(x)
    d += 1.0
    np.reciprocal(d, out=d)
    np.square(d, out=d)
    return np.multiply(grad, d, out=_out(grad, out))


# --- erfc (for gelu) ------------------------------------------------------------------------------
# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
# 631-638, with the coefficients of his CALERF (netlib specfun): at least 18 significant digits in
# exact arithmetic; evaluated in float64 below, within 4 ulp of the true erfc.

_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERFC_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
           2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
           2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERFC_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
           1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
           3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
           1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERFC_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
           6.05183413124413191e-2, 2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1
_ERF_SMALL = 0.46875
_ERFC_TAIL = 4.0
_ERFC_UNDERFLOW = 27.5        # erfc(y) < 1e-330 beyond: 0 in float64 (Cody's XBIG is 26.543)


def _rational(t, num, den, num_lead):
    """(num_lead t^n + num[0] t^(n-1) + ... + num[-1]) / (t^n + den[0] t^(n-1) + ... + den[-1]),
    Horner in place on two new arrays (Cody's evaluation order)."""
    p = np.multiply(t, num_lead)
    q = t.copy()
    for a, b in zip(num[:-1], den[:-1]):
        p += a
        p *= t
        q += b
        q *= t
    p += num[-1]
    q += den[-1]
    return np.divide(p, q, out=p)


def _exp_neg_square(y, scale=1.0):
    """exp(-scale y^2) for 0 <= y <= 40 and scale a power of 2, without the rounding error of y^2
    (Cody's): with h = trunc(16 y)/16, h^2 is exact and y^2 = h^2 + (y - h)(y + h), so
    exp(-scale y^2) = exp(-scale h^2) exp(-scale (y - h)(y + h))."""
    h = np.multiply(y, 16.0)
    np.trunc(h, out=h)
    h /= 16.0
    r = np.subtract(y, h)
    r *= np.add(y, h)
    r *= -scale
    np.exp(r, out=r)
    np.square(h, out=h)
    h *= -scale
    np.exp(h, out=h)
    return np.multiply(h, r, out=h)


def _erfc(z):
    """erfc of a float64 array, as a new float64 array; NaN gives NaN.

    Cody's three ranges of |z| (<= 0.46875, <= 4, beyond) are each evaluated on the whole array
    (when any element falls in it), the argument clamped into the range, and blended with 0-1 masks:
    on mixed data that is faster than gathering each range's elements, and every discarded value is
    finite, so it blends to 0."""
    y = np.abs(z)
    np.minimum(y, _ERFC_UNDERFLOW, out=y)               # keeps inf out (NaN stays)
    small = np.less_equal(y, _ERF_SMALL)
    tail = np.greater(y, _ERFC_TAIL)
    middle = np.logical_not(small | tail)               # NaN lands here and stays NaN
    result = np.zeros_like(y)
    if small.any():                                     # erfc(z) = 1 - z A(z^2) / B(z^2), z signed
        zs = np.clip(z, -_ERF_SMALL, _ERF_SMALL)
        part = _rational(np.square(zs), _ERF_A[:4], _ERF_B, _ERF_A[4])
        part *= zs
        np.subtract(1.0, part, out=part)
        part *= small
        result += part
    if small.all():
        return result
    rest = np.zeros_like(y)
    if middle.any():                                    # erfc(y) = exp(-y^2) C(y) / D(y)
        part = _rational(np.clip(y, _ERF_SMALL, _ERFC_TAIL), _ERFC_C[:8], _ERFC_D, _ERFC_C[8])
        part *= middle
        rest += part
    if tail.any():                      # erfc(y) = exp(-y^2) (1/sqrt(pi) - P/Q(1/y^2) / y^2) / y
        yt = np.maximum(y, _ERFC_TAIL)
        s = np.square(yt)
        np.reciprocal(s, out=s)
        part = _rational(s, _ERFC_P[:5], _ERFC_Q, _ERFC_P[5])
        part *= s
        np.subtract(_INV_SQRT_PI, part, out=part)
        part /= yt
        part *= tail
        rest += part
    rest *= _exp_neg_square(y)
    # erfc(-y) = 2 - erfc(y) outside the small range
    flip = np.less(z, 0)
    flip &= np.logical_not(small)
    rest *= np.subtract(1.0, np.multiply(flip, 2.0))
    rest += np.multiply(flip, 2.0)
    result += rest
    return result


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _normal_cdf(c):
    """Phi(c) = erfc(-c / sqrt 2) / 2 for float64 c: the erfc form keeps the negative tail."""
    p = _erfc(np.multiply(c, -_SQRT_HALF))
    p *= 0.5
    return p


# gelu(x) and its derivative are 0 in float64 below -40 (Phi(-40) ~ 1e-350); clamping there keeps
# -inf * 0 out and gives the limit 0.
_GELU_CLAMP = 40.0


def _gelu_erf(x, out):
    """x * Phi(x), computed in float64 (float32 inputs included) and rounded into out."""
    c = np.maximum(x, -_GELU_CLAMP, dtype=np.float64)
    p = _normal_cdf(c)
    return np.multiply(c, p, out=_out(x, out))


def _gelu_erf_backward(grad, x, out):
    """grad * (Phi(x) + x * phi(x)), in float64 and rounded into out."""
    c = np.clip(x, -_GELU_CLAMP, _GELU_CLAMP, dtype=np.float64)
    d = _normal_cdf(c)
    pdf = _exp_neg_square(np.abs(c), 0.5)
    pdf *= _INV_SQRT_2PI
    pdf *= c
    d += pdf
    return np.multiply(grad, d, out=_out(grad, out))


_GELU_K0 = math.sqrt(2.0 / math.pi)
_GELU_K1 = 0.044715
# the tanh form is decided beyond |x| = 30 (sigmoid(2u) is 0 or 1 in every float type): clamping
# keeps x**3 finite and -inf * 0 out.
_GELU_TANH_CLAMP = 30.0


def _gelu_tanh_arg(c):
    """2u = 2 k0 (c + k1 c^3), the sigmoid argument: 0.5 (1 + tanh(u)) = sigmoid(2u) without the
    cancellation of 1 + tanh(u) for negative u."""
    t = np.square(c)
    t *= _GELU_K1
    t += 1.0
    t *= c
    t *= 2.0 * _GELU_K0
    return t


def _gelu_tanh(x, out):
    """x * sigmoid(2u), u = k0 (x + k1 x^3) (= 0.5 x (1 + tanh u))."""
    out = _out(x, out)
    t = _gelu_tanh_arg(np.clip(x, -_GELU_TANH_CLAMP, _GELU_TANH_CLAMP))
    _sigmoid(t, t)
    np.maximum(x, -_GELU_TANH_CLAMP, out=out)
    return np.multiply(out, t, out=out)


def _gelu_tanh_backward(grad, x, out):
    """grad * (s + x s (1 - s) 2u'), s = sigmoid(2u), 2u' = 2 k0 (1 + 3 k1 x^2)."""
    c = np.clip(x, -_GELU_TANH_CLAMP, _GELU_TANH_CLAMP)
    s, slope = _sigmoid_and_slope(_gelu_tanh_arg(c))
    du = np.square(c)
    du *= 3.0 * _GELU_K1
    du += 1.0
    du *= 2.0 * _GELU_K0
    du *= c
    slope *= du
    s += slope
    return np.multiply(grad, s, out=_out(grad, out))


def gelu(x, approximate="none", out=None):
    """x * Phi(x) (erf form), or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) for "tanh"."""
    return _gelu_tanh(x, out) if approximate == "tanh" else _gelu_erf(x, out)


def gelu_backward(grad, x, approximate="none", out=None):
    """grad times the exact derivative of the chosen form."""
    if approximate == "tanh":
        return _gelu_tanh_backward(grad, x, out)
    return _gelu_erf_backward(grad, x, out)


# --- silu, mish -----------------------------------------------------------------------------------

# exp(-800) is 0 in every float type: below it silu and mish and their derivatives are decided (0),
# and clamping keeps -inf * 0 out.
_EXP_CLAMP = 800.0


def silu(x, out=None):
    """x * sigmoid(x)."""
    out = _out(x, out)
    c = np.maximum(x, -_EXP_CLAMP)                     # a copy of x: out may be x
    _sigmoid(c, out)
    return np.multiply(out, c, out=out)


def silu_backward(grad, x, out=None):
    """grad * (s + x s (1 - s)), s = sigmoid(x), with s (1 - s) from exp(-|x|)."""
    c = np.clip(x, -_EXP_CLAMP, _EXP_CLAMP)
    s, slope = _sigmoid_and_slope(c)
    slope *= c
    s += slope
    return np.multiply(grad, s, out=_out(grad, out))


def _mish_parts(c):
    """(t, r, den) with t = tanh(softplus(c)) = num / den and 1 - t = r / den, cancellation-free:
    with e = exp(-|c|), c >= 0: num = 1 + 2e, r = 2e^2; c < 0: num = e^2 + 2e, r = 2."""
    e = _exp_neg_abs(c)
    positive = np.greater_equal(c, 0)
    negative = np.logical_not(positive)
    num = np.add(e, 2.0)
    num *= e
    num *= negative
    pos_num = np.multiply(e, 2.0)
    pos_num += 1.0
    pos_num *= positive
    num += pos_num
    r = np.square(e, out=e)
    r *= 2.0
    r *= positive
    r += np.multiply(negative, 2.0, out=pos_num)
    den = num + r
    return np.divide(num, den, out=num), r, den


def mish(x, out=None):
    """x * tanh(softplus(x))."""
    out = _out(x, out)
    c = np.maximum(x, -_EXP_CLAMP)
    t, _, _ = _mish_parts(c)
    return np.multiply(c, t, out=out)


def mish_backward(grad, x, out=None):
    """grad * (t + x sigmoid(x) (1 - t^2)), t = tanh(softplus(x)), 1 - t^2 = (1 - t)(1 + t)."""
    c = np.clip(x, -_EXP_CLAMP, _EXP_CLAMP)
    t, r, den = _mish_parts(c)
    np.divide(r, den, out=r)                            # 1 - t
    one_plus = np.add(t, 1.0, out=den)
    r *= one_plus                                       # 1 - t^2
    r *= _sigmoid(c, one_plus)
    r *= c
    t += r
    return np.multiply(grad, t, out=_out(grad, out))


# --- hardsigmoid, hardswish -----------------------------------------------------------------------

# PyTorch multiplies by 1/6 rounded to float32 in every dtype.
_HARDSIGMOID_SLOPE = float(np.float32(1.0 / 6.0))


def hardsigmoid(x, out=None):
    """min(max(x + 3, 0), 6) / 6 (PyTorch's order of operations)."""
    out = _out(x, out)
    np.add(x, 3.0, out=out)
    np.clip(out, 0.0, 6.0, out=out)
    return np.divide(out, 6.0, out=out)


def hardsigmoid_backward(grad, x, out=None):
    """grad * float32(1/6) * (-3 < x < 3)."""
    return _times_mask(grad, _inside(x, -3.0, 3.0), _out(grad, out), _HARDSIGMOID_SLOPE)


def hardswish(x, out=None):
    """x * hardsigmoid(x), with x clamped at -3 (where it is 0) so -inf gives 0, not NaN."""
    out = _out(x, out)
    c = np.maximum(x, -3.0)
    hardsigmoid(c, out=out)
    return np.multiply(out, c, out=out)


def hardswish_backward(grad, x, out=None):
    """grad * (x <= -3 ? 0 : x >= 3 ? 1 : x / 3 + 1/2); NaN gives NaN."""
    high = np.greater_equal(x, 3.0)
    middle = np.logical_not(high | np.less_equal(x, -3.0))     # NaN lands here and stays NaN
    d = np.clip(x, -3.0, 3.0)                           # finite, so the blend's zeros stay 0
    d /= 3.0
    d += 0.5
    d *= middle
    d += high
    return np.multiply(grad, d, out=_out(grad, out))


# --- tanhshrink -----------------------------------------------------------------------------------


def _tanh_series_tail(terms):
    """Coefficients c_k of x - tanh(x) = x^3 (c_0 + c_1 x^2 + ...), exact rationals rounded once:
    tanh = sum a_k x^(2k+1) with a_0 = 1 and (2k+1) a_k = -sum_{i+j=k-1} a_i a_j (from tanh' =
    1 - tanh^2)."""
    a = [Fraction(1)]
    for k in range(1, terms + 1):
        a.append(-sum(a[i] * a[k - 1 - i] for i in range(k)) / (2 * k + 1))
    return tuple(float(-ak) for ak in a[1:])


# x - tanh(x) cancels for small |x| (up to ~10 ulp lost at 0.6, all digits near 0). Below 1.2 it is
# computed from h = x/2 instead: with s = h - tanh(h) from the series and t = tanh(h) = h - s,
# tanh(x) = 2t / (1 + t^2) gives x - tanh(x) = (2s + x t^2) / (1 + t^2), a sum of like-signed terms.
# The series' terms shrink by ~(2h/pi)^2 <= 0.15, so 20 of them reach 1e-17 relative.
_TANHSHRINK_HALVING_BELOW = 1.2
_TANHSHRINK_SERIES = _tanh_series_tail(20)


def tanhshrink(x, out=None):
    """x - tanh(x); below |x| = 1.2 via the half-argument series (see above), blended in with 0-1
    masks (the series runs on every element, its argument clamped, so the discarded values are finite)."""
    small = np.less(np.abs(x), _TANHSHRINK_HALVING_BELOW)
    h = np.clip(x, -_TANHSHRINK_HALVING_BELOW, _TANHSHRINK_HALVING_BELOW)
    xs = h.copy()                                       # x where small: out may be x
    h *= 0.5
    h2 = np.square(h)
    s = np.full_like(h, _TANHSHRINK_SERIES[-1])
    for c in _TANHSHRINK_SERIES[-2::-1]:
        s *= h2
        s += c
    s *= h2
    s *= h                                              # s = h - tanh(h)
    t2 = np.subtract(h, s, out=h)                       # tanh(h)
    np.square(t2, out=t2)
    s *= 2.0
    s += np.multiply(xs, t2, out=h2)
    t2 += 1.0
    s /= t2
    s *= small
    out = np.subtract(x, np.tanh(x), out=_out(x, out))
    out *= np.logical_not(small)
    out += s
    return out


def tanhshrink_backward(grad, x, out=None):
    """grad * tanh(x)^2."""
    d = np.tanh(x)
    np.square(d, out=d)
    return np.multiply(grad, d, out=_out(grad, out))


# --- softmax, log_softmax -------------------------------------------------------------------------


def _row_max(x, axis):
    """max along axis (kept), NaN where it is +-inf: a row holding +inf, or only -inf, is NaN in
    PyTorch (inf - inf), and a NaN shift gives that without an 'invalid' warning."""
    m = np.max(x, axis=axis, keepdims=True)
    m += np.where(np.isinf(m), np.nan, 0.0).astype(m.dtype)    # m is one value per row: cheap
    return m


def softmax(x, axis=-1, out=None):
    """exp(x - max) / sum(exp(x - max)) along axis."""
    out = _out(x, out)
    if x.size == 0:
        return out
    m = _row_max(x, axis)
    np.subtract(x, m, out=out)
    np.exp(out, out=out)
    total = np.sum(out, axis=axis, keepdims=True)
    return np.divide(out, total, out=out)


def softmax_backward_from_output(grad, y, axis=-1, out=None):
    """y * (grad - sum(grad * y)) along axis."""
    out = _out(grad, out)
    if grad.size == 0:
        return out
    dot = np.multiply(grad, y)
    dot = np.sum(dot, axis=axis, keepdims=True)
    np.subtract(grad, dot, out=out)
    return np.multiply(out, y, out=out)


def softmax_backward(grad, x, axis=-1, out=None):
    """The backward from the output, with y = softmax(x) computed first."""
    return softmax_backward_from_output(grad, softmax(x, axis), axis, out=out)


def log_softmax(x, axis=-1, out=None):
    """x - max - log(sum(exp(x - max))) along axis."""
    out = _out(x, out)
    if x.size == 0:
        return out
    m = _row_max(x, axis)
    np.subtract(x, m, out=out)
    total = np.sum(np.exp(out), axis=axis, keepdims=True)
    np.log(total, out=total)
    return np.subtract(out, total, out=out)


def log_softmax_backward_from_output(grad, y, axis=-1, out=None):
    """grad - exp(y) * sum(grad) along axis."""
    out = _out(grad, out)
    if grad.size == 0:
        return out
    total = np.sum(grad, axis=axis, keepdims=True)
    t = np.exp(y)
    t *= total
    return np.subtract(grad, t, out=out)


def log_softmax_backward(grad, x, axis=-1, out=None):
    """The backward from the output, with y = log_softmax(x) computed first."""
    return log_softmax_backward_from_output(grad, log_softmax(x, axis), axis, out=out)


# --- 0-d arrays -----------------------------------------------------------------------------------


def _accept_0d(fn):
    """Run a call on 0-d arrays on 1-element views: for 0-d operands NumPy ufuncs return scalars,
    not arrays, and the functions above need array temporaries."""
    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        if args[0].ndim:                                # the common case: straight through
            return fn(*args, out=out, **kwargs)
        as_1d = lambda a: a.reshape(1) if isinstance(a, np.ndarray) and a.ndim == 0 else a  # noqa: E731
        result = fn(*map(as_1d, args), out=None if out is None else out.reshape(1),
                    **{k: as_1d(v) for k, v in kwargs.items()})
        if isinstance(result, tuple):                   # prelu_backward: (grad_x, grad_weight)
            return (result[0].reshape(()) if out is None else out,) + result[1:]
        return result.reshape(()) if out is None else out
    return wrapper


for _name, _fn in list(globals().items()):
    if (not _name.startswith("_") and callable(_fn) and getattr(_fn, "__module__", None) == __name__
            and _name != "rrelu_draw_noise"):
        globals()[_name] = _accept_0d(_fn)
del _name, _fn
