"""Fused operations for inference and training loops: bias + activation in one pass, and zero
counting (dying-ReLU monitoring) in the same pass as the activation.

* ``bias_act_(x, bias, act, axis=-1, **params)``: ``x = act(x + bias)`` in place, bias along
  `axis` (the feature axis: -1 for (batch, features), 1 for NCHW channels), one read and one
  write of x -- what oneDNN and ONNX Runtime fuse after a matmul or convolution;
* ``bias_act`` (into a new array or `out`), ``bias_act_backward`` -> ``(grad_x, grad_bias)``;
* ``zero_counts=``: the in-place forwards (``act_`` and ``bias_act_``) add, per feature, how
  many of the outputs they wrote are exactly zero; ``activation_stats`` summarises an output array.

The kernels (``fused_kernel`` of each backend) take C-contiguous arrays in two layouts: "rows"
(rows, features), when the feature axis is the last one, and "planes" (outer, features, inner)
otherwise; anything else (other strides, float16) runs on a contiguous compute copy that is
written back.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _backends
from ._dispatch import (_COMPUTE, _kernel_backend, _parallelism, _separate, as_input, as_writeable,
                        check_out, check_same, normalize_axis)
from .spec import FAMILIES, SPECS


_RESOLVED: dict = {}


def _op_and_values(act, params, where):
    """(elementwise Op, parameter tuple, Resolved) for the activation named `act`, memoised for
    hashable parameter values (only the checked ones are remembered)."""
    try:
        key = (act, tuple(sorted(params.items())), where)
        hit = _RESOLVED.get(key)
    except TypeError:                                      # unhashable: a name or value
        key, hit = None, None
    if hit is not None:
        return hit
    result = _resolve(act, params, where)
    if key is not None and len(_RESOLVED) < 1024:
        _RESOLVED[key] = result
    return result


def _resolve(act, params, where):
    from ._api import OPS
    from ._kernel import _bind
    if not isinstance(act, str):
        raise TypeError(f"{where}: act must be an activation name (a str), got {type(act).__name__}")
    if act not in SPECS:
        raise ValueError(f"{where}: unknown activation {act!r}; see fastact.ACTIVATIONS")
    spec = SPECS[act]
    if spec.kind not in ("elementwise", "rrelu"):
        raise ValueError(f"{where}: {act} is not elementwise (it needs {'a weight per channel' if spec.kind == 'prelu' else 'whole rows'}); "
                         "apply the bias and call it separately")
    values = _bind(spec, params, where, False)
    op = OPS[act]
    resolved = op.resolve(values, where)
    if spec.kind == "rrelu" and values[2]:
        raise ValueError(f"{where}: rrelu in training mode draws random slopes; it is not fused "
                         "(add the bias, then call fastact.rrelu_)")
    return op, values, resolved


def _bias_vector(bias, channels, dtype, where):
    if not isinstance(bias, np.ndarray):
        try:
            bias = np.asarray(bias)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: bias must be a 1-D array of real numbers, got {type(bias).__name__}") from None
    if bias.dtype.kind not in "fiu":
        raise TypeError(f"{where}: bias must hold real numbers, got dtype {bias.dtype}")
    if bias.ndim != 1 or bias.shape[0] != channels:
        raise ValueError(f"{where}: bias has shape {bias.shape}, expected ({channels},): one value per "
                         "feature along `axis`")
    return np.ascontiguousarray(bias, dtype=dtype)


def _check_counts(zero_counts, channels, where):
    if not isinstance(zero_counts, np.ndarray):
        raise TypeError(f"{where}: zero_counts must be a numpy.ndarray of integers, got "
                        f"{type(zero_counts).__name__}")
    if zero_counts.dtype.kind not in "iu":
        raise TypeError(f"{where}: zero_counts must have an integer dtype (int64 recommended), got "
                        f"{zero_counts.dtype}")
    if zero_counts.shape != (channels,):
        raise ValueError(f"{where}: zero_counts has shape {zero_counts.shape}, expected ({channels},): "
                         "one count per feature")
    if not zero_counts.flags.writeable:
        raise ValueError(f"{where}: zero_counts is read-only")


def _feature_axis(x, axis, where):
    if x.ndim == 0:
        raise ValueError(f"{where}: x is 0-d; a per-feature operation needs at least one axis")
    return normalize_axis(axis, x.ndim, where)


def _layout(shape, ax):
    """("rows", (rows, features)) when the feature axis is last, else ("planes", (outer,
    features, inner))."""
    outer = math.prod(shape[:ax])
    inner = math.prod(shape[ax + 1:])
    if inner == 1:
        return "rows", (outer, shape[ax])
    return "planes", (outer, shape[ax], inner)


def _chunks(layout, shape, family, size, module):
    """Blocks for the kernel: the dispatcher's serial/parallel rule, at most one per row."""
    _, threads = _parallelism(size, FAMILIES[family].cost, module)
    rows = shape[0] if layout == "rows" else shape[0] * shape[1]
    return max(1, min(threads, rows))


# --- forward ------------------------------------------------------------------------------------------

def forward(x, bias, act, axis, out, zero_counts, backend, params, where):
    """bias_act / bias_act_ (out is x) / act_ with zero_counts (bias None: features = last axis)."""
    op, values, r = _op_and_values(act, params, where)
    ax = _feature_axis(x, axis, where)
    channels = x.shape[ax]
    compute = _COMPUTE[x.dtype]
    b = None if bias is None else _bias_vector(bias, channels, compute, where)
    if zero_counts is not None:
        _check_counts(zero_counts, channels, where)
    if x.size == 0:
        return out
    name = _kernel_backend(backend, where)
    if name == "numpy":
        _forward_numpy(op, values, x, b, ax, out, zero_counts)
        return out
    module = _backends.load(name)
    inplace = out is x
    if not inplace:
        (x,) = _separate((x,), out)
    if x.dtype == compute and x.flags.c_contiguous and out.flags.c_contiguous:
        source, work = x, out                  # one pass, in place or not
    else:                                      # a contiguous compute copy, written back after
        work = np.array(x, dtype=compute, order="C")
        source = work
    layout, shape = _layout(x.shape, ax)
    nchunks = _chunks(layout, shape, r.family, x.size, module)
    count = zero_counts is not None
    count_dtype = _COUNT_DTYPE[compute]
    parts = np.zeros((nchunks, channels), count_dtype) if count else _dummy_parts(nchunks, count_dtype)
    kernel = _kernel(module, layout, r.family, "forward", compute, nchunks > 1, b is not None, count,
                     source is work)
    bias_arg = b if b is not None else _zeros(channels, compute)
    src, dst = source.reshape(shape), work.reshape(shape)
    # Partial counts are int32 for float32 data: slabs of < 2**31 elements cannot overflow them.
    if not count or x.size < _SLAB:
        kernel(src, bias_arg, dst, parts, r.args[compute], nchunks)
        if count:
            _add_counts(zero_counts, parts.sum(axis=0, dtype=np.int64))
    else:
        step = max(1, _SLAB // (x.size // shape[0]))
        for lo in range(0, shape[0], step):
            kernel(src[lo:lo + step], bias_arg, dst[lo:lo + step], parts, r.args[compute], nchunks)
            _add_counts(zero_counts, parts.sum(axis=0, dtype=np.int64))
            parts[...] = 0
    if work is not out:
        np.copyto(out, work, casting="same_kind")
    return out


_KERNELS: dict = {}


def _kernel(module, layout, family, direction, dtype, parallel, shift, count, inplace):
    key = (module.NAME, layout, family, direction, dtype, parallel, shift, count, inplace)
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = _KERNELS[key] = module.fused_kernel(layout, family, direction, dtype, parallel, shift=shift,
                                                     count=count, inplace=inplace)
    return kernel


_DUMMY_PARTS: dict = {}


#: The type of the kernels' partial zero counts: as wide as the data, so that the counting loop
#: vectorizes lane for lane (int64 counts beside float32 data kept Numba's gelu loop scalar).
_COUNT_DTYPE = {np.dtype(np.float32): np.dtype(np.int32), np.dtype(np.float64): np.dtype(np.int64)}
#: Elements per kernel call when counting (int32 partial counts).
_SLAB = 2 ** 31 - 1


def _dummy_parts(nchunks, dtype):
    """`parts` for a forward that counts nothing (the kernels then never touch it)."""
    parts = _DUMMY_PARTS.get((nchunks, dtype))
    if parts is None:
        parts = _DUMMY_PARTS[(nchunks, dtype)] = np.zeros((nchunks, 1), dtype)
    return parts


_ZEROS: dict = {}


def _zeros(n, dtype):
    """A zero bias to pass where the kernel does not add one (it never reads it)."""
    key = (n, dtype)
    z = _ZEROS.get(key)
    if z is None:
        z = np.zeros(n, dtype)
        if len(_ZEROS) < 64:
            _ZEROS[key] = z
    return z


def _add_counts(zero_counts, counts):
    np.add(zero_counts, counts, out=zero_counts, casting="unsafe")


def _forward_numpy(op, values, x, b, ax, out, zero_counts):
    """The reference path, in the computation dtype like the kernels (float16 rounds once)."""
    shape = [1] * x.ndim
    shape[ax] = x.shape[ax]
    z = x.astype(_COMPUTE[x.dtype])
    if b is not None:
        z += b.reshape(shape)
    op.forward_(z, values, "numpy")
    if zero_counts is not None:
        count_zeros(z, ax, zero_counts)
    np.copyto(out, z, casting="same_kind")


def count_zeros(y, ax, zero_counts):
    """zero_counts += per-feature count of y == 0 (a NumPy pass, for paths without a kernel)."""
    others = tuple(d for d in range(y.ndim) if d != ax)
    _add_counts(zero_counts, np.count_nonzero(y == 0, axis=others))


# --- backward -----------------------------------------------------------------------------------------

def backward(grad, saved, bias, act, axis, out, from_output, backend, params, where):
    op, values, r = _op_and_values(act, params, where)
    if from_output and r.from_output_error is not None:
        raise ValueError(f"{where}: from_output=True is not supported: {r.from_output_error}")
    grad = as_input(grad, where)
    saved = as_input(saved, where)
    check_same(grad, saved, where, ("grad", "y" if from_output else "x"))
    out = np.empty_like(grad) if out is None else check_out(out, grad, where)
    ax = _feature_axis(grad, axis, where)
    channels = grad.shape[ax]
    compute = _COMPUTE[grad.dtype]
    b = _bias_vector(bias, channels, compute, where)
    grad_bias = np.zeros(channels, grad.dtype)
    if grad.size == 0:
        return out, grad_bias
    name = _kernel_backend(backend, where)
    if name == "numpy":
        return out, _backward_numpy(op, values, grad, saved, b, ax, out, from_output)
    module = _backends.load(name)
    grad, saved = _separate((grad, saved), out)
    inplace = out is grad
    direct = (grad.dtype == compute and grad.flags.c_contiguous and saved.flags.c_contiguous
              and out.flags.c_contiguous)
    if direct:
        g, s, work = grad, saved, out
    else:
        g = np.ascontiguousarray(grad, dtype=compute)
        s = np.ascontiguousarray(saved, dtype=compute)
        work = g if (inplace or g is not grad) else np.empty_like(g)
    layout, shape = _layout(grad.shape, ax)
    nchunks = _chunks(layout, shape, r.family, grad.size, module)
    parts = np.zeros((nchunks, channels), np.float64)
    direction = "backward_from_output" if from_output else "backward"
    kernel = _kernel(module, layout, r.family, direction, compute, nchunks > 1, not from_output, False,
                     work is g)
    kernel(g.reshape(shape), s.reshape(shape), b, work.reshape(shape), parts, r.args[compute], nchunks)
    if work is not out:
        np.copyto(out, work, casting="same_kind")
    grad_bias[...] = parts.sum(axis=0)
    return out, grad_bias


def _backward_numpy(op, values, grad, saved, b, ax, out, from_output):
    shape = [1] * grad.ndim
    shape[ax] = grad.shape[ax]
    g = grad.astype(b.dtype)
    z = saved.astype(b.dtype)
    if not from_output:
        z += b.reshape(shape)
    gx = op.backward(g, z, values, np.empty_like(g), from_output, "numpy")
    np.copyto(out, gx, casting="same_kind")
    others = tuple(d for d in range(grad.ndim) if d != ax)
    return gx.sum(axis=others, dtype=np.float64).astype(grad.dtype)


# --- monitoring -----------------------------------------------------------------------------------------

class ActivationStats(NamedTuple):
    """Per-unit statistics of an activation's output (see ``fastact.activation_stats``)."""

    #: Fraction of the samples in which each unit output exactly zero (float64).
    zero_fraction: np.ndarray
    #: Units whose zero fraction is >= the threshold: "dead" (bool).
    dead: np.ndarray
    #: How many samples each fraction is over.
    samples: int


def activation_stats(y, axis=0, *, threshold=1.0) -> ActivationStats:
    """Per-unit zero fractions of an activation's output, and the mask of dead units.

    Parameters
    ----------
    y : array_like
        An activation's output, e.g. of shape (batch, units).
    axis : int, tuple of ints or None, default 0
        The sample axes the fractions are taken over (None: all, giving one fraction).
    threshold : float, default 1.0
        A unit is dead when its zero fraction is >= threshold (1.0: zero on every sample).

    Returns
    -------
    ActivationStats(zero_fraction, dead, samples)

    Notes
    -----
    NaN counts as non-zero.  To monitor without a second read of the data, pass
    ``zero_counts=counts`` to the in-place forward (``fastact.relu_(x, zero_counts=counts)``,
    ``fastact.bias_act_(...)``): ``counts / samples`` is then the same zero fraction, over every
    batch the counts have seen.
    """
    where = "activation_stats"
    y = np.asarray(y)
    if y.dtype.kind not in "fiu":
        raise TypeError(f"{where}: y must hold real numbers, got dtype {y.dtype}")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: threshold must be a real number, got {type(threshold).__name__}") from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{where}: threshold must be in [0, 1], got {threshold}")
    if axis is None:
        axes = tuple(range(y.ndim))
    else:
        axes = tuple(normalize_axis(a, y.ndim, where) for a in (axis if isinstance(axis, tuple) else (axis,)))
        if len(set(axes)) != len(axes):
            raise ValueError(f"{where}: axis {axis} repeats an axis")
    samples = int(np.prod([y.shape[a] for a in axes], dtype=np.int64))
    if samples == 0:
        raise ValueError(f"{where}: no samples along axis {axis} (shape {y.shape})")
    zeros = np.count_nonzero(y == 0, axis=axes)
    fraction = np.asarray(zeros, dtype=np.float64) / samples
    return ActivationStats(fraction, fraction >= threshold, samples)


# --- the public functions -------------------------------------------------------------------------------

def bias_act_(x, bias, act, axis=-1, *, zero_counts=None, backend=None, **params):
    """Add a per-feature bias and apply an activation, in place, in one pass over memory.

    ``x = act(x + bias)`` with `bias` broadcast along `axis`: what follows a matmul
    (``axis=-1``, x of shape (batch, features)) or a convolution (``axis=1``, NCHW).

    Parameters
    ----------
    x : ndarray
        Overwritten with the result: float16/32/64, any shape (at least 1-D) and strides, writeable.
        C-contiguous float32/float64 arrays are done in one pass; others through a contiguous copy.
    bias : array_like
        One value per feature: shape ``(x.shape[axis],)``; cast to x's computation dtype.
    act : str
        An elementwise activation of ``fastact.ACTIVATIONS`` (not prelu, softmax, log_softmax, or
        rrelu in training mode).
    axis : int, default -1
        The feature axis.
    zero_counts : ndarray of int, optional
        Shape ``(x.shape[axis],)``: each feature's count of outputs that are exactly zero is ADDED
        to it, in the same pass (dying-ReLU monitoring; zero it to start a new tally).
    backend : {"auto", "cython", "numba", "numpy"}, optional
    **params
        The activation's parameters by keyword, e.g. ``negative_slope=0.2``.

    Returns
    -------
    ndarray
        x.
    """
    where = "bias_act_"
    as_writeable(x, where, "x")
    return forward(x, bias, act, axis, x, zero_counts, backend, params, where)


def bias_act(x, bias, act, axis=-1, *, out=None, zero_counts=None, backend=None, **params):
    """``act(x + bias)`` with a per-feature bias, out of place (one pass); see ``bias_act_``.

    Returns `out` (same shape and dtype as x), or a new array."""
    where = "bias_act"
    x = as_input(x, where)
    out = np.empty_like(x) if out is None else check_out(out, x, where)
    return forward(x, bias, act, axis, out, zero_counts, backend, params, where)


def bias_act_backward(grad, x, bias, act, axis=-1, *, from_output=False, out=None, backend=None, **params):
    """Gradients of ``y = act(x + bias)``: returns ``(grad_x, grad_bias)``.

    Parameters
    ----------
    grad : array_like
        dL/dy.
    x : array_like
        The forward's input (before the bias), or with ``from_output=True`` its output y (what
        ``bias_act_`` leaves) -- where the activation allows it (``fastact.<act>_backward``'s rule).
    bias, act, axis, **params
        As given to the forward.
    out : ndarray, optional
        Where grad_x goes (``out=grad`` works in place).

    Returns
    -------
    (grad_x, grad_bias) : (ndarray, ndarray)
        grad_x = grad * act'(x + bias); grad_bias = grad_x summed over every axis but `axis`
        (accumulated in float64), in grad's dtype.
    """
    return backward(grad, x, bias, act, axis, out, from_output, backend, params, "bias_act_backward")
